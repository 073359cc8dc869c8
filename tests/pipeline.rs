//! The whole pipeline on the bundled sample app, exactly as the README's main command
//! runs it (`scripts/pipeline.sh`): build-jar, containerize, push-image to the loopback
//! registry, deploy to the local Docker Engine, verify; with the binaries that
//! `cargo build --workspace` made.

#![allow(clippy::unwrap_used)] // A test panics on a broken fixture.

use std::process::Command;

use slipway_testkit::{
    docker_ready, java_ready, maven_ready, prerequisite, test_registry, workspace_binary, workspace_root,
};

#[test]
fn readme_pipeline_builds_pushes_deploys_and_verifies_the_sample() {
    let steps = ["build-jar", "containerize", "push-image", "deploy", "verify"];
    let built = steps.iter().all(|name| workspace_binary(name).is_some());
    let ready = prerequisite("the suite's binaries (cargo build --workspace)", built)
        && maven_ready()
        && java_ready()
        && docker_ready()
        && test_registry().is_some();
    if !ready {
        return;
    }
    let bins = workspace_binary("verify").and_then(|verify| verify.parent().map(std::path::Path::to_path_buf)).unwrap();
    let work = tempfile::tempdir().unwrap();
    let name = format!("slipway-pipeline-test-{}", std::process::id());
    let run = Command::new(workspace_root().join("scripts/pipeline.sh"))
        .env("SLIPWAY_BIN_DIR", &bins)
        .env("SLIPWAY_WORK_DIR", work.path())
        .env("SLIPWAY_SAMPLE_NAME", &name)
        .env("SLIPWAY_KEEP_RUNNING", "0")
        .env_remove("GITHUB_OUTPUT")
        .env_remove("GITHUB_ACTIONS")
        .env_remove("SLIPWAY_DOTENV")
        .output()
        .unwrap();
    slipway_testkit::secrets::record_output("pipeline.sh", &run);
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "pipeline failed:\n{stderr}\n{stdout}");

    let value = |key: &str| stdout.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix('=')).map(str::to_owned);
    assert!(value("url").unwrap().starts_with("http://127.0.0.1:"), "{stdout}");
    assert!(value("image-ref").unwrap().contains("/slipway-sample/app@sha256:"), "{stdout}");
    assert_eq!(value("version").as_deref(), Some("1.0.0"));
    assert_eq!(value("healthy").as_deref(), Some("true"));

    // The steps chained through one dotenv report.
    let report = std::fs::read_to_string(work.path().join("pipeline.env")).unwrap();
    for expected in ["SLIPWAY_KIND=fat-jar", "SLIPWAY_TAGS=1.0.0", "SLIPWAY_HEALTHY=true", "SLIPWAY_VERSION_SEEN=1.0.0"]
    {
        assert!(report.lines().any(|l| l == expected), "{expected} missing from {report}");
    }
    // SLIPWAY_KEEP_RUNNING=0: the app's containers and its proxy are gone once the pipeline ends.
    for filter in [format!("label=dev.slipway.app={name}"), format!("name=^{name}-proxy$")] {
        let left = Command::new("docker").args(["ps", "-aq", "--filter", &filter]).output().unwrap();
        assert!(left.stdout.is_empty(), "{filter}: removed");
    }
}
