//! Credentials in the URLs deploy is given (a `DOCKER_HOST` with user info, an AWS
//! endpoint with a signed query) never reach what it writes, whichever error it ends
//! on. Nothing here reaches a real engine or AWS: the addresses are closed loopback ports.

#![allow(clippy::unwrap_used)] // Test helpers panic on broken fixtures, as tests do.

use std::process::Command;

use slipway_testkit::{StepRun, free_port, run_with_sinks, step_command};

const CANARY: &str = slipway_testkit::secrets::URL_CREDENTIAL;
const IMAGE: &str = "127.0.0.1:5555/shop@sha256:3f2a9c1b7d4e3f2a9c1b7d4e3f2a9c1b7d4e3f2a9c1b7d4e3f2a9c1b7d4eabcd";

/// deploy under GitHub Actions with none of the machine's AWS or Docker settings.
fn deploy(home: &std::path::Path) -> Command {
    let mut command = step_command(env!("CARGO_BIN_EXE_deploy"));
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy().into_owned();
        if name.starts_with("AWS_") || name.starts_with("DOCKER_") {
            command.env_remove(name);
        }
    }
    command
        .env("GITHUB_ACTIONS", "true")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("HOME", home)
        .env("AWS_CONFIG_FILE", home.join("none"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("none"));
    command
}

fn error_line(run: &StepRun) -> &str {
    run.stderr.lines().find(|l| l.starts_with("::error title=deploy::")).unwrap_or_else(|| panic!("{}", run.stderr))
}

#[test]
fn a_docker_host_with_user_info_is_never_echoed() {
    let port = free_port();
    for dry_run in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let mut command = deploy(dir.path());
        command.env("DOCKER_HOST", format!("tcp://deployer:{CANARY}@127.0.0.1:{port}"));
        command.args(["--target", "docker", "--name", "shop", "--image", IMAGE]);
        if dry_run {
            command.arg("--dry-run");
        }
        let run = run_with_sinks(command, dir.path());
        assert_ne!(run.code, 0, "{}", run.stderr);
        assert!(error_line(&run).contains(&format!("tcp://…@127.0.0.1:{port}")), "{}", run.stderr);
        run.assert_never_wrote(CANARY);
    }
}

#[test]
fn an_aws_endpoint_with_a_signed_query_is_never_echoed() {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let mut command = deploy(dir.path());
    command
        .env("AWS_REGION", "eu-west-1")
        .env("AWS_ACCESS_KEY_ID", "AKIATESTONLY")
        .env("AWS_SECRET_ACCESS_KEY", slipway_testkit::secrets::AWS_SECRET_ACCESS_KEY)
        .env("AWS_MAX_ATTEMPTS", "1")
        .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}/?X-Amz-Signature={CANARY}"));
    command.args(["--target", "elastic-beanstalk", "--application", "shop", "--environment", "shop-prod"]);
    command.args(["--image", IMAGE, "--timeout", "20s"]);
    let run = run_with_sinks(command, dir.path());
    assert_ne!(run.code, 0, "{}", run.stderr);
    error_line(&run);
    run.assert_never_wrote(CANARY);
}
