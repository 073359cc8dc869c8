//! build-jar against Debian's real Gradle: the sample's executable distribution.
//! Skips without Gradle unless SLIPWAY_REQUIRE_E2E=1.

#![allow(clippy::unwrap_used)] // Test helpers panic on broken fixtures, as tests do.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{build_jar, output, run_with_sinks};
use slipway_testkit::{
    ChildGuard, DEBIAN_MAVEN_REPO, copy_project, free_port, gradle_ready, sample_app_dir, wait_for_http,
};

#[test]
fn sample_dist_builds_offline_and_its_start_script_serves_version() {
    if !gradle_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("app");
    copy_project(&sample_app_dir(), &project);
    let mut command = build_jar();
    command
        .arg("--project-dir")
        .arg(&project)
        .args(["--tool", "gradle", "--offline"])
        .arg(format!("--build-arg=-PslipwayRepo=file://{DEBIAN_MAVEN_REPO}"))
        // CI: no Gradle daemon outlives the test.
        .env("CI", "true");
    let run = run_with_sinks(command, dir.path());
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("==> gradle build: "), "plain group header: {}", run.stderr);
    assert!(run.stderr.contains("--no-daemon"));

    let dist = project.join("build/install/sample-app");
    let outputs = run.github_output.unwrap();
    assert_eq!(output(&outputs, "artifact"), Some(dist.to_str().unwrap()));
    assert_eq!(output(&outputs, "kind"), Some("dist"));
    assert_eq!(output(&outputs, "main-class"), Some("dev.slipway.sample.App"));
    assert_eq!(output(&outputs, "java-release"), Some("17"));
    assert_eq!(output(&outputs, "version"), Some("1.0.0"));
    assert_eq!(output(&outputs, "tool"), Some("gradle"));

    // The dist's digest is reproducible with coreutils.
    let listing = Command::new("sh")
        .arg("-c")
        .arg("find . -type f | LC_ALL=C sort | xargs sha256sum | sha256sum")
        .current_dir(&dist)
        .output()
        .unwrap();
    assert_eq!(output(&outputs, "sha256"), String::from_utf8(listing.stdout).unwrap().split_whitespace().next());

    let port = free_port();
    let _app = ChildGuard(
        Command::new(dist.join("bin/sample-app"))
            .env("PORT", port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let version = wait_for_http(port, "/version", Duration::from_secs(30)).unwrap();
    assert!(version.contains("\"1.0.0\""), "{version}");
}
