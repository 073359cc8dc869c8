//! The Docker target against the real Docker Engine and the loopback registry: deploy,
//! replace, a broken version restored, rollback, dry run, and the inputs refused with
//! exit 2. Skips without Docker, the registry or Maven unless SLIPWAY_REQUIRE_E2E=1.

#![allow(clippy::unwrap_used)] // Tests panic on broken fixtures, as tests do.

mod common;

use slipway_testkit::secrets::RecordedOutput;
use std::time::Duration;

use common::{Containers, deploy_command, images, inspect, run, unique_name};
use slipway_testkit::{StepRun, free_port, wait_for_http};

const DIGEST: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

fn deploy(name: &str, port: u16, args: &[&str]) -> StepRun {
    let mut command = deploy_command();
    command
        .args(["--target", "docker", "--strategy", "direct", "--name", name, "--timeout", "3m"])
        .args(["--publish", &format!("127.0.0.1:{port}:8080")])
        .args(args);
    run(command)
}

fn health(port: u16) -> String {
    wait_for_http(port, "/health", Duration::from_secs(30)).unwrap()
}

/// The verify step (its binary, built beside this test) proves `version` serves at `url`.
fn verified(url: &str, version: &str) {
    let Some(verify) = slipway_testkit::workspace_binary("verify") else {
        // Fails under SLIPWAY_REQUIRE_E2E=1; elsewhere the cycle is checked through /health.
        slipway_testkit::prerequisite("the verify binary (cargo build --workspace)", false);
        return;
    };
    let run = slipway_testkit::step_command(verify.to_str().unwrap())
        .args(["--url", url, "--check", "/health", "--expect-version", version, "--timeout", "30s"])
        .recorded_output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "verify {version}: {}", String::from_utf8_lossy(&run.stderr));
    assert!(stdout.contains(&format!("version-seen={version}\n")), "{stdout}");
}

/// The one `::error`/`error:` line a failed run ends with.
fn error_line(run: &StepRun) -> &str {
    run.stderr.lines().rfind(|line| line.contains("error")).unwrap_or_default()
}

#[test]
fn deploys_replaces_restores_after_a_broken_version_and_rolls_back() {
    let Some(images) = images() else { return };
    let name = unique_name("cycle");
    let _cleanup = Containers(name.clone());
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");

    // v1 on an empty host.
    let first = deploy(&name, port, &["--image", &images.v1, "--version-label", "v1", "--env", "GREETING=hello"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(first.output("url"), Some(url.as_str()));
    assert_eq!(first.output("version-label"), Some("v1"));
    assert_eq!(first.output("previous-version"), Some(""));
    assert_eq!(first.output("status"), Some("deployed"));
    assert_eq!(first.output("health"), Some("started"));
    assert_eq!(first.output("deployment-id").map(str::to_owned), inspect(&name, "{{.Id}}"));
    assert!(health(port).contains("UP"));
    verified(&url, "1.0.0");
    assert_eq!(inspect(&name, "{{.Config.Image}}").as_deref(), Some(images.v1.as_str()));
    assert_eq!(inspect(&name, "{{.HostConfig.RestartPolicy.Name}}").as_deref(), Some("unless-stopped"));
    assert_eq!(
        inspect(
            &name,
            r#"{{index .Config.Labels "dev.slipway.version"}} {{index .Config.Labels "dev.slipway.managed"}}"#
        )
        .as_deref(),
        Some("v1 true")
    );
    let env = inspect(&name, "{{json .Config.Env}}").unwrap();
    assert!(env.contains("GREETING=hello") && env.contains("APP_MARK=v1"), "{env}");
    let outputs = first.github_output.as_deref().unwrap();
    assert!(outputs.contains(&format!("url={url}\n")), "{outputs}");

    // v2 replaces it; v1 is kept stopped as the previous version.
    let second = deploy(&name, port, &["--image", &images.v2, "--version-label", "v2"]);
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert_eq!(second.output("previous-version"), Some("v1"));
    assert_eq!(second.output("version-label"), Some("v2"));
    verified(&url, "2.0.0");
    assert_eq!(inspect(&name, "{{.Config.Image}}").as_deref(), Some(images.v2.as_str()));
    let previous = format!("{name}-previous");
    assert_eq!(inspect(&previous, "{{.Config.Image}} {{.State.Status}}"), Some(format!("{} exited", images.v1)));

    // A version that exits at once fails the deployment and v2 comes back.
    let broken = deploy(&name, port, &["--image", &images.broken, "--version-label", "broken"]);
    assert_eq!(broken.code, 1, "{}", broken.stderr);
    let error = error_line(&broken);
    assert!(error.contains("exited with code 1"), "{}", broken.stderr);
    assert!(error.contains("restored the previous container (v2)"), "{error}");
    assert!(broken.stderr.contains("Unrecognized VM option"), "the container's log explains: {}", broken.stderr);
    assert_eq!(broken.output("status"), Some("restored"));
    verified(&url, "2.0.0");
    assert_eq!(inspect(&name, "{{.Config.Image}} {{.State.Status}}"), Some(format!("{} running", images.v2)));
    assert_eq!(inspect(&previous, "{{.Config.Image}}").as_deref(), Some(images.v1.as_str()), "v1 survives");
    assert_eq!(inspect(&format!("{name}-next"), "{{.Id}}"), None);
    assert_eq!(inspect(&format!("{name}-replaced"), "{{.Id}}"), None);

    // A dry run checks and plans, and changes nothing.
    let live_id = inspect(&name, "{{.Id}}");
    let dry = deploy(&name, port, &["--image", &images.v1, "--version-label", "v1-again", "--dry-run"]);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert_eq!(dry.output("status"), Some("planned"));
    assert_eq!(dry.output("previous-version"), Some("v2"));
    assert!(dry.stderr.contains(&format!("plan:\n  now: {name} runs v2 (running)")), "{}", dry.stderr);
    assert!(dry.stderr.contains(&format!("stop {name} (v2) and park it as {name}-replaced")), "{}", dry.stderr);
    assert_eq!(inspect(&name, "{{.Id}}"), live_id);

    // Rollback brings v1 back, and keeps v2 as the previous version.
    let mut command = deploy_command();
    // No --publish: the container comes back on the ports it was created with, and the
    // readiness probe and the URL follow them.
    command.args(["--target", "docker", "--strategy", "direct", "--name", &name, "--rollback"]);
    let rollback = run(command);
    assert_eq!(rollback.code, 0, "{}", rollback.stderr);
    assert_eq!(rollback.output("version-label"), Some("v1"));
    assert_eq!(rollback.output("previous-version"), Some("v2"));
    assert_eq!(rollback.output("url"), Some(url.as_str()));
    assert_eq!(rollback.output("status"), Some("rolled-back"));
    verified(&url, "1.0.0");
    assert_eq!(inspect(&name, "{{.Config.Image}} {{.State.Status}}"), Some(format!("{} running", images.v1)));
    assert_eq!(inspect(&previous, "{{.Config.Image}} {{.State.Status}}"), Some(format!("{} exited", images.v2)));
}

#[test]
fn a_broken_first_version_fails_with_nothing_to_restore() {
    let Some(images) = images() else { return };
    let name = unique_name("first-broken");
    let _cleanup = Containers(name.clone());
    let run = deploy(&name, free_port(), &["--image", &images.broken]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(error_line(&run).contains("exited with code 1"), "{}", run.stderr);
    assert_eq!(run.output("status"), Some("failed"));
    assert_eq!(inspect(&name, "{{.Id}}"), None, "the failed container is removed");
}

#[test]
fn an_image_the_registry_does_not_have_and_nothing_to_roll_back_exit_2() {
    if !slipway_testkit::docker_ready() {
        return;
    }
    let Some(registry) = slipway_testkit::test_registry() else { return };
    let name = unique_name("missing");
    let _cleanup = Containers(name.clone());
    let missing = deploy(&name, free_port(), &["--image", &format!("{registry}/deploy-test/missing@{DIGEST}")]);
    assert_eq!(missing.code, 2, "{}", missing.stderr);
    assert!(error_line(&missing).contains("cannot pull"), "{}", missing.stderr);
    assert_eq!(inspect(&name, "{{.Id}}"), None);

    let mut command = deploy_command();
    command.args(["--target", "docker", "--strategy", "direct", "--name", &name, "--rollback"]);
    let rollback = run(command);
    assert_eq!(rollback.code, 2, "{}", rollback.stderr);
    assert!(error_line(&rollback).contains(&format!("no container {name}-previous")), "{}", rollback.stderr);
}

#[test]
fn bad_publish_env_and_strategy_exit_2_before_touching_the_engine() {
    let image = format!("127.0.0.1:5555/deploy-test/app@{DIGEST}");
    let cases: [(&[&str], &str); 11] = [
        (&["--publish", "8080"], "--publish `8080` has no host port"),
        (&["--strategy", "blue-green"], "--strategy blue-green on the docker target needs --preview-port"),
        (&["--strategy", "canary", "--steps", "10,20,30", "--bake", "15m"], "do not fit in --timeout (1200s)"),
        (&["--check", "health"], "--check `health` is not a path"),
        (&["--proxy-name", "a b"], "--proxy-name `a b` is not a container name"),
        (&["--preview-port", "9000", "--publish", "127.0.0.1:9000:8080"], "--preview-port 9000 is already published"),
        (&["--publish", "127.0.0.1:70000:8080"], "host port `70000`"),
        (&["--env", "NOEQUALS"], "--env `NOEQUALS` has no `=`"),
        (&["--strategy", "immutable"], "cannot do --strategy immutable; it does rolling, blue-green, canary, direct"),
        (&["--bake", "1m"], "the docker target does not use --bake with --strategy rolling"),
        (
            &["--strategy", "direct", "--max-surge", "1"],
            "the docker target does not use --max-surge with --strategy direct",
        ),
    ];
    for (args, expected) in cases {
        let mut command = deploy_command();
        // An unreachable engine proves nothing was asked of it.
        command.env("DOCKER_HOST", "tcp://127.0.0.1:9").args(["--target", "docker", "--image", &image]).args(args);
        let run = run(command);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert_eq!(run.stderr.lines().count(), 1, "one clear line: {}", run.stderr);
        assert!(run.stderr.contains(expected), "{args:?}: {}", run.stderr);
        assert!(run.stdout.is_empty());
    }
}
