//! The `secret-scan` binary that ends `scripts/test.sh`: it fails on a canary planted in a
//! recorded run, plain or base64, passes a clean recording, and fails a recording that
//! holds no step run at all.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

use base64::Engine;
use slipway_testkit::secrets::{GITHUB_TOKEN, REGISTRY_PASSWORD};

fn scan(dir: &Path) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_secret-scan")).arg(dir).output().unwrap();
    (output.status.code().unwrap_or(-1), String::from_utf8_lossy(&output.stdout).into_owned())
}

fn run_dir(root: &Path, files: &[(&str, String)]) {
    let dir = root.join(format!("deploy-{}-0-deploy", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
}

#[test]
fn a_clean_recording_passes_and_says_what_it_scanned() {
    let root = tempfile::tempdir().unwrap();
    run_dir(
        root.path(),
        &[
            ("stderr", format!("::add-mask::{REGISTRY_PASSWORD}\nlogged in as slipway (***)\n")),
            ("stdout", "url=http://127.0.0.1:8080/\n".to_owned()),
        ],
    );
    let (code, report) = scan(root.path());
    assert_eq!(code, 0, "{report}");
    assert!(report.starts_with("secret scan: 1 step runs, 2 files, "), "{report}");
    assert!(report.contains(": 0 hits"), "{report}");
}

#[test]
fn a_planted_canary_fails_the_scan() {
    for planted in [
        format!("error: token {GITHUB_TOKEN} refused\n"),
        format!(
            "Authorization: Basic {}\n",
            base64::engine::general_purpose::STANDARD.encode(format!("slipway:{REGISTRY_PASSWORD}"))
        ),
    ] {
        let root = tempfile::tempdir().unwrap();
        run_dir(root.path(), &[("stdout", "ok\n".to_owned()), ("summary", planted.clone())]);
        let (code, report) = scan(root.path());
        assert_eq!(code, 1, "{planted} passed: {report}");
        assert!(report.contains("summary:1: "), "{report}");
    }
}

#[test]
fn a_recording_of_no_run_fails_and_bad_usage_is_exit_2() {
    let root = tempfile::tempdir().unwrap();
    let (code, report) = scan(root.path());
    assert_eq!(code, 1, "{report}");
    assert!(report.contains("no step run was recorded"), "{report}");
    let none = Command::new(env!("CARGO_BIN_EXE_secret-scan")).output().unwrap();
    assert_eq!(none.status.code(), Some(2));
}
