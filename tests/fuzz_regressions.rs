//! Replays every input kept for the fuzz targets through the checks the targets run
//! (`fuzz/src/lib.rs`, included here): the hand-written seeds in `fuzz/seeds/<target>/`
//! and every crash `scripts/fuzz.sh` found, kept in `fuzz/regressions/<target>/`. A crash
//! found once stays a test of the normal run, without libFuzzer or a nightly compiler.

#![allow(clippy::unwrap_used)]

#[path = "../fuzz/src/lib.rs"]
#[allow(dead_code, unreachable_pub)]
mod checks;

use std::path::Path;

use slipway_testkit::workspace_root;

/// A fuzz target's check of one input.
type Check = fn(&[u8]);

/// Every fuzz target's name and its check (the names of `fuzz/fuzz_targets/*.rs`).
const TARGETS: [(&str, Check); 9] = [
    ("image_reference", checks::image_reference),
    ("www_authenticate", checks::www_authenticate),
    ("docker_config", checks::docker_config),
    ("jar_manifest", checks::jar_manifest),
    ("step_outputs", checks::step_outputs),
    ("contract_values", checks::contract_values),
    ("deploy_flags", checks::deploy_flags),
    ("verify_gates", checks::verify_gates),
    ("containerize_flags", checks::containerize_flags),
];

fn inputs(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut inputs: Vec<(String, Vec<u8>)> = entries
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file())
        .map(|path| (path.display().to_string(), std::fs::read(&path).unwrap()))
        .collect();
    inputs.sort();
    inputs
}

#[test]
fn every_target_has_a_check_here_and_seeds() {
    let fuzz = workspace_root().join("fuzz");
    let mut declared: Vec<String> = std::fs::read_dir(fuzz.join("fuzz_targets"))
        .unwrap()
        .map(|entry| entry.unwrap().path().file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    declared.sort();
    let mut replayed: Vec<String> = TARGETS.iter().map(|(name, _)| (*name).to_owned()).collect();
    replayed.sort();
    assert_eq!(declared, replayed, "fuzz/fuzz_targets and this file's TARGETS differ");
    for (name, _) in TARGETS {
        assert!(!inputs(&fuzz.join("seeds").join(name)).is_empty(), "fuzz/seeds/{name} holds no seed");
    }
}

#[test]
fn kept_inputs_pass_their_checks() {
    let fuzz = workspace_root().join("fuzz");
    let mut replayed = 0;
    for (name, check) in TARGETS {
        for kind in ["seeds", "regressions"] {
            for (path, bytes) in inputs(&fuzz.join(kind).join(name)) {
                let outcome = std::panic::catch_unwind(|| check(&bytes));
                assert!(outcome.is_ok(), "{path} fails the {name} check");
                replayed += 1;
            }
        }
    }
    assert!(replayed >= TARGETS.len(), "{replayed} inputs");
}
