//! push-image on an OCI layout exactly as umoci writes it: its manifest names no
//! `mediaType` (OCI allows that; the descriptor in index.json carries it). Issue 12.

#![allow(clippy::unwrap_used)] // Test helpers panic on broken fixtures, as tests do.

use serde_json::Value;
use slipway_testkit::{oci_tools_ready, run_with_sinks, skopeo_raw_manifest, step_command, test_registry, umoci_image};

#[test]
fn a_layout_from_umoci_without_media_type_is_pushed_as_it_is() {
    let Some(registry) = test_registry() else { return };
    if !oci_tools_ready() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let layout = umoci_image(work.path(), "17");
    let index: Value = serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let digest = index["manifests"][0]["digest"].as_str().unwrap().to_owned();
    let manifest_path = layout.join("blobs/sha256").join(digest.trim_start_matches("sha256:"));
    let manifest: Value = serde_json::from_slice(&std::fs::read(manifest_path).unwrap()).unwrap();
    assert!(manifest.get("mediaType").is_none(), "umoci's manifest as it comes: {manifest}");

    let repository = format!("{registry}/push-test/umoci-{}-{}", std::process::id(), fastrand::u32(..));
    let mut command = step_command(env!("CARGO_BIN_EXE_push-image"));
    command.arg("--layout").arg(&layout).args(["--image", &repository, "--tag", "17"]);
    let run = run_with_sinks(command, work.path());
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.output("digest"), Some(digest.as_str()));
    let served = skopeo_raw_manifest(&format!("{repository}:17"));
    assert_eq!(serde_json::from_slice::<Value>(&served).unwrap(), manifest, "pushed byte for byte");
    use sha2::Digest;
    assert_eq!(format!("sha256:{}", hex::encode(sha2::Sha256::digest(&served))), digest);
}
