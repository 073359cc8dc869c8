//! The whole pipeline on the bundled sample app, exactly as the README's main command
//! runs it (`scripts/pipeline.sh`), with the binaries `cargo build --workspace` made.

#![allow(clippy::unwrap_used)] // A test panics on a broken fixture.

use std::path::PathBuf;
use std::process::Command;

use slipway_testkit::{java_ready, maven_ready, prerequisite, workspace_root};

/// target/<profile>/, where this test binary's sibling binaries are.
fn binaries_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(|deps| deps.parent()).unwrap().to_owned()
}

#[test]
fn readme_pipeline_builds_runs_and_verifies_the_sample() {
    let bins = binaries_dir();
    let built = ["build-jar", "verify"].iter().all(|name| bins.join(name).is_file());
    if !(prerequisite("the suite's binaries (cargo build --workspace)", built) && maven_ready() && java_ready()) {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let run = Command::new(workspace_root().join("scripts/pipeline.sh"))
        .env("SLIPWAY_BIN_DIR", &bins)
        .env("SLIPWAY_WORK_DIR", work.path())
        .env("SLIPWAY_KEEP_RUNNING", "0")
        .env_remove("GITHUB_OUTPUT")
        .env_remove("GITHUB_ACTIONS")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "pipeline failed:\n{stderr}\n{stdout}");

    let value = |key: &str| stdout.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix('=')).map(str::to_owned);
    assert!(value("url").unwrap().starts_with("http://127.0.0.1:"), "{stdout}");
    assert_eq!(value("version").as_deref(), Some("1.0.0"));
    assert_eq!(value("healthy").as_deref(), Some("true"));
    assert_eq!(value("pid"), None, "SLIPWAY_KEEP_RUNNING=0 stops the app");

    // The steps chained through one dotenv report.
    let report = std::fs::read_to_string(work.path().join("pipeline.env")).unwrap();
    assert!(report.contains("SLIPWAY_KIND=fat-jar\n"), "{report}");
    assert!(report.contains("SLIPWAY_VERSION_SEEN=1.0.0\n"), "{report}");
}
