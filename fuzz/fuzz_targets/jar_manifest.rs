#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| slipway_fuzz::jar_manifest(data));
