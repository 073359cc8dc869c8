//! A base image as umoci writes it (its manifest names no `mediaType`, as OCI allows),
//! copied to the loopback registry by `skopeo copy` with nothing rewritten: containerize
//! builds on it from the registry and from the layout (issue 12).

#![allow(clippy::unwrap_used)] // Test helpers panic on broken fixtures, as tests do.

use std::path::Path;

use serde_json::Value;
use slipway_testkit::{
    class_bytes, oci_tools_ready, run_with_sinks, skopeo_copy_to_registry, skopeo_raw_manifest, step_command,
    test_registry, umoci_image, write_zip,
};

fn jar(dir: &Path) -> std::path::PathBuf {
    let jar = dir.join("app.jar");
    write_zip(
        &jar,
        &[
            ("META-INF/MANIFEST.MF", b"Manifest-Version: 1.0\r\nMain-Class: a.App\r\n\r\n".to_vec()),
            ("a/App.class", class_bytes(17)),
        ],
    );
    jar
}

/// A name no other run uses.
fn unique() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("{}-{nanos}", std::process::id())
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

#[test]
fn a_base_without_media_type_from_umoci_and_skopeo_is_accepted() {
    let Some(registry) = test_registry() else { return };
    if !oci_tools_ready() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let layout = umoci_image(work.path(), "17");
    let reference = format!("{registry}/containerize-test/umoci-{}:17", unique());
    skopeo_copy_to_registry(&layout, "17", &reference);
    let served = skopeo_raw_manifest(&reference);
    let manifest: Value = serde_json::from_slice(&served).unwrap();
    assert!(manifest.get("mediaType").is_none(), "umoci's manifest as it comes: {manifest}");
    assert!(manifest.get("layers").is_some());

    let jar = jar(work.path());
    for (base, expected_digest) in
        [(reference.clone(), sha256(&served)), (format!("oci:{}:17", layout.display()), sha256(&served))]
    {
        let output = work.path().join(format!("out-{}", unique()));
        let mut command = step_command(env!("CARGO_BIN_EXE_containerize"));
        command.arg("--artifact").arg(&jar).args(["--base", &base]).arg("--output").arg(&output);
        let run = run_with_sinks(command, work.path());
        assert_eq!(run.code, 0, "--base {base}: {}", run.stderr);
        assert_eq!(run.output("base-digest"), Some(expected_digest.as_str()), "--base {base}");
        // The image keeps the base layer umoci made, under containerize's own OCI manifest.
        let index: Value = serde_json::from_slice(&std::fs::read(output.join("index.json")).unwrap()).unwrap();
        let top = index["manifests"][0]["digest"].as_str().unwrap().trim_start_matches("sha256:").to_owned();
        let built: Value =
            serde_json::from_slice(&std::fs::read(output.join("blobs/sha256").join(top)).unwrap()).unwrap();
        assert_eq!(built["mediaType"], "application/vnd.oci.image.manifest.v1+json");
        assert_eq!(built["layers"][0]["digest"], manifest["layers"][0]["digest"], "--base {base}");
    }
}

/// The suite's own base images (scripts/test-services.sh) are umoci's as it writes them too:
/// every test that builds on them (containerize, push-image, deploy, the pipeline) reads
/// manifests without `mediaType`.
#[test]
fn the_suites_base_images_keep_umocis_manifests_as_they_come() {
    let Some(registry) = test_registry() else { return };
    for (variable, repository) in [
        ("SLIPWAY_TEST_JRE_IMAGE", "slipway/jre:17"),
        ("SLIPWAY_TEST_SHELL_IMAGE", "slipway/shell-base:1"),
        ("SLIPWAY_TEST_CADDY_IMAGE", "slipway/caddy:2"),
        ("SLIPWAY_TEST_TOMCAT_IMAGE", "slipway/tomcat:10-jre17"),
        ("SLIPWAY_TEST_GLIBC_IMAGE", "slipway/glibc:12"),
    ] {
        let reference = std::env::var(variable).unwrap_or_else(|_| format!("{registry}/{repository}"));
        let manifest: Value = serde_json::from_slice(&skopeo_raw_manifest(&reference)).unwrap();
        assert!(manifest.get("mediaType").is_none(), "{reference} was rewritten: {manifest}");
        assert_eq!(manifest["config"]["mediaType"], "application/vnd.oci.image.config.v1+json", "{reference}");
    }
    // The index of two platforms points at the same manifests, unchanged.
    let multi = format!("{registry}/slipway/jre-multi:17");
    let index: Value = serde_json::from_slice(&skopeo_raw_manifest(&multi)).unwrap();
    for entry in index["manifests"].as_array().unwrap() {
        let digest = entry["digest"].as_str().unwrap();
        let manifest: Value =
            serde_json::from_slice(&skopeo_raw_manifest(&format!("{registry}/slipway/jre-multi@{digest}"))).unwrap();
        assert!(manifest.get("mediaType").is_none(), "{multi} {digest} was rewritten: {manifest}");
    }
}
