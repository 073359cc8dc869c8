//! End to end against the real sample app (workflows-examples/sample-app), built here
//! with Maven and run with java. Without them the test says so and passes, unless
//! SLIPWAY_REQUIRE_E2E=1 asks for the real thing (as CI does).

#![allow(clippy::unwrap_used)] // Test helpers panic on broken fixtures, as tests do.

mod common;

use std::process::{Command, Stdio};

use common::{stderr, stdout, verify};
use slipway_testkit::{ChildGuard, build_sample_fat_jar, free_port, java_ready, maven_ready};

#[test]
fn proves_the_sample_apps_version() {
    if !(maven_ready() && java_ready()) {
        return;
    }
    let build = tempfile::tempdir().unwrap();
    let jar = build_sample_fat_jar(build.path());
    let port = free_port();
    let _app = ChildGuard(
        Command::new("java")
            .arg("-jar")
            .arg(&jar)
            .env("PORT", port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the sample app"),
    );
    let url = format!("http://127.0.0.1:{port}");

    // verify itself waits for the JVM to start listening.
    let pass = verify()
        .args(["--url", &url, "--check", "/health", "--expect-json", "/status=UP"])
        .args(["--expect-version", "1.0.0", "--timeout", "30s", "--interval", "200ms"])
        .output()
        .unwrap();
    assert_eq!(pass.status.code(), Some(0), "{}", stderr(&pass));
    assert!(stdout(&pass).contains("version-seen=1.0.0\n"), "{}", stdout(&pass));

    let fail = verify()
        .args(["--url", &url, "--expect-version", "9.9.9", "--timeout", "1s"])
        .args(["--interval", "200ms"])
        .output()
        .unwrap();
    let log = stderr(&fail);
    assert_eq!(fail.status.code(), Some(1), "{log}");
    assert!(
        log.lines().last().unwrap().ends_with("version mismatch: expected 9.9.9, the service serves 1.0.0"),
        "{log}"
    );
}
