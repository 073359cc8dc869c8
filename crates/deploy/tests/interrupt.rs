//! A cancelled job (SIGTERM, as GitHub Actions and GitLab send) in the middle of a
//! rolling deploy on the real Docker Engine behind the real Caddy proxy: deploy takes the
//! failure path its deadline takes, so the live version keeps serving, the new container
//! and the probe route are gone, the lock is released, and the outputs say
//! `status=unchanged`. Skips without Docker, the registry, Maven or the proxy image
//! unless SLIPWAY_REQUIRE_E2E=1.

#![allow(clippy::unwrap_used)] // Tests panic on broken fixtures, as tests do.

mod common;

use std::time::Duration;

use common::{
    Containers, app_containers, deploy_command, error_line, images, inspect, proxy_image, run, unique_name,
    version_served,
};
use slipway_testkit::free_port;
use slipway_testkit::interrupt::run_interrupted;

#[test]
fn a_rolling_deploy_cancelled_while_the_new_container_starts_leaves_the_old_version_serving_and_nothing_behind() {
    let Some(images) = images() else { return };
    let Some(proxy) = proxy_image() else { return };
    let name = unique_name("cancelled");
    let _cleanup = Containers(name.clone());
    let port = free_port();
    let deploy = |args: &[&str]| {
        let mut command = deploy_command();
        command
            .args(["--target", "docker", "--name", &name, "--timeout", "3m", "--proxy-image", &proxy])
            .args(["--publish", &format!("127.0.0.1:{port}:8080"), "--check", "/health", "--drain-timeout", "5s"])
            .args(args);
        command
    };
    let first = run(deploy(&["--image", &images.v1, "--version-label", "v1"]));
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(version_served(port).as_deref(), Ok("1.0.0"));

    // v2 listens on 8080 but is probed on 9999: it never answers, so deploy waits for it
    // (up to three minutes) until the job is cancelled.
    let sinks = tempfile::tempdir().unwrap();
    let cancelled = run_interrupted(
        deploy(&["--image", &images.v2, "--version-label", "v2", "--port", "9999"]),
        sinks.path(),
        "waiting up to",
        "TERM",
    );
    let cancelled_run = &cancelled.run;
    assert_eq!(cancelled_run.code, 1, "{}", cancelled_run.stderr);
    let ended_after = cancelled.ended_after.expect("the run reached its wait");
    assert!(ended_after < Duration::from_secs(10), "ended {ended_after:?} after SIGTERM: {}", cancelled_run.stderr);
    let error = error_line(cancelled_run);
    assert!(error.contains("interrupted by SIGTERM"), "{}", cancelled_run.stderr);
    assert!(error.contains("still routes to what it served before"), "{}", cancelled_run.stderr);
    assert_eq!(cancelled_run.output("status"), Some("unchanged"), "{}", cancelled_run.stdout);
    assert!(!cancelled_run.stderr.contains("panicked"), "{}", cancelled_run.stderr);

    // Nothing half done: v1 serves, the new container is gone, the lock is released.
    assert_eq!(version_served(port).as_deref(), Ok("1.0.0"));
    let containers = app_containers(&name);
    assert_eq!(containers.len(), 1, "only v1 is left: {containers:?}");
    assert!(containers[0].ends_with(" running"), "{containers:?}");
    assert_eq!(inspect(&format!("{name}-lock"), "{{.Name}}"), None, "the lock is released");

    // So the next run deploys at once, with no warning about what this one left.
    let next = run(deploy(&["--image", &images.v2, "--version-label", "v2"]));
    assert_eq!(next.code, 0, "{}", next.stderr);
    assert!(!next.stderr.contains("left by an earlier run"), "{}", next.stderr);
    assert_eq!(version_served(port).as_deref(), Ok("2.0.0"));
}
