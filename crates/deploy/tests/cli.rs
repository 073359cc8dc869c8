//! deploy's bad input through the real binary: each refused with one line and exit 2,
//! before anything is called. No test reaches AWS: no credentials or endpoints exist
//! here, and the instance metadata address is disabled.

#![allow(clippy::unwrap_used)] // Test helpers panic on broken fixtures, as tests do.

use std::process::Command;

use slipway_testkit::{StepRun, run_with_sinks, step_command};

const IMAGE: &str = "127.0.0.1:5555/shop@sha256:3f2a9c1b7d4e3f2a9c1b7d4e3f2a9c1b7d4e3f2a9c1b7d4e3f2a9c1b7d4eabcd";

/// The binary with no AWS settings of the machine running the tests.
fn deploy(home: &std::path::Path) -> Command {
    let mut command = step_command(env!("CARGO_BIN_EXE_deploy"));
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy().into_owned();
        if name.starts_with("AWS_") || name == "DOCKER_HOST" {
            command.env_remove(name);
        }
    }
    command
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("HOME", home)
        .env("AWS_CONFIG_FILE", home.join("none"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("none"));
    command
}

fn refused(args: &[&str], env: &[(&str, &str)]) -> (StepRun, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut command = deploy(dir.path());
    command.args(args).env("GITHUB_ACTIONS", "true");
    for (name, value) in env {
        command.env(name, value);
    }
    let run = run_with_sinks(command, dir.path());
    let errors: Vec<String> =
        run.stderr.lines().filter(|l| l.starts_with("::error title=deploy::")).map(str::to_owned).collect();
    assert_eq!(errors.len(), 1, "one error line: {}", run.stderr);
    let error = errors[0].clone();
    (run, error)
}

fn assert_refused(args: &[&str], env: &[(&str, &str)], message: &str) {
    let (run, error) = refused(args, env);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(error.contains(message), "`{error}` lacks `{message}`");
    assert_eq!(run.github_output, None, "no outputs for bad input");
}

const EB: [&str; 6] = ["--target", "elastic-beanstalk", "--application", "shop", "--environment", "shop-prod"];

#[test]
fn unknown_target_and_strategy() {
    assert_refused(&["--target", "heroku", "--image", IMAGE], &[], "invalid value 'heroku' for '--target <TARGET>'");
    assert_refused(
        &["--target", "docker", "--image", IMAGE, "--strategy", "yolo"],
        &[],
        "invalid value 'yolo' for '--strategy <STRATEGY>'",
    );
}

#[test]
fn promote_needs_a_phased_strategy_and_phases_exclude_each_other() {
    assert_refused(&[&EB[..], &["--promote"]].concat(), &[], "--promote finishes a canary or blue-green deployment");
    assert_refused(&[&EB[..], &["--promote", "--rollback"]].concat(), &[], "cannot be used with");
}

#[test]
fn image_references_need_a_registry_and_optionally_a_digest() {
    assert_refused(&[&EB[..], &["--image", "shop:1.0"]].concat(), &[], "names no registry");
    assert_refused(
        &[&EB[..], &["--image", "127.0.0.1:5555/shop:1.0", "--require-digest"]].concat(),
        &[],
        "is not pinned by digest and --require-digest is set",
    );
    assert_refused(&EB, &[], "--image is required to deploy");
}

#[test]
fn elastic_beanstalk_needs_its_names_a_region_and_credentials() {
    assert_refused(
        &["--target", "elastic-beanstalk", "--image", IMAGE, "--environment", "e"],
        &[("AWS_REGION", "eu-west-1")],
        "--target elastic-beanstalk needs --application",
    );
    assert_refused(
        &[&EB[..], &["--image", IMAGE, "--batch-size", "150%"]].concat(),
        &[("AWS_REGION", "eu-west-1")],
        "--batch-size `150%25`",
    );
    assert_refused(&[&EB[..], &["--image", IMAGE]].concat(), &[], "no AWS region");
    assert_refused(&[&EB[..], &["--image", IMAGE]].concat(), &[("AWS_REGION", "eu-west-1")], "no AWS credentials");
}

#[test]
fn rollout_parameters_a_target_does_not_read_are_refused_before_any_credentials() {
    // No AWS region or credentials here: the rollout is judged before the target is built.
    assert_refused(
        &[&EB[..], &["--image", IMAGE, "--batch-size", "2"]].concat(),
        &[],
        "the elastic-beanstalk target does not use --batch-size with --strategy direct; it reads none of the rollout flags there",
    );
    assert_refused(
        &[&EB[..], &["--image", IMAGE, "--strategy", "rolling", "--max-unavailable", "1"]].concat(),
        &[],
        "does not use --max-unavailable with --strategy rolling; it reads --batch-size there",
    );
    assert_refused(
        &[&EB[..], &["--image", IMAGE, "--strategy", "canary", "--steps", "10,50"]].concat(),
        &[],
        "Elastic Beanstalk's traffic splitting has one canary step; --steps 10,50 has 2",
    );
    assert_refused(
        &[&EB[..], &["--image", IMAGE, "--strategy", "canary", "--steps", "50,10"]].concat(),
        &[],
        "--steps must rise: 10 comes after 50",
    );
    assert_refused(
        &[&EB[..], &["--image", IMAGE, "--strategy", "canary", "--steps", "100"]].concat(),
        &[],
        "`100` is not a share of traffic from 1 to 99",
    );
}

#[test]
fn a_tag_only_reference_is_a_warning_not_an_error() {
    // The deploy still stops later (no credentials), but the tag itself only warns.
    let (run, error) =
        refused(&[&EB[..], &["--image", "127.0.0.1:5555/shop:1.0"]].concat(), &[("AWS_REGION", "eu-west-1")]);
    assert!(
        run.stderr.contains("::warning::--image `127.0.0.1:5555/shop:1.0` is a tag, which can move"),
        "{}",
        run.stderr
    );
    assert!(error.contains("no AWS credentials"), "{error}");
}

/// AWS settings that would work, with every endpoint on a loopback listener that counts the
/// connections it gets: bad input must be refused with none.
struct Listener(std::net::TcpListener, String);

impl Listener {
    fn new() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        Self(listener, endpoint)
    }

    fn env(&self) -> [(&str, &str); 4] {
        [
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", slipway_testkit::secrets::AWS_SECRET_ACCESS_KEY),
            ("AWS_ENDPOINT_URL", self.1.as_str()),
        ]
    }

    fn assert_untouched(&self) {
        match self.0.accept() {
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
            other => panic!("bad input reached the AWS endpoint: {other:?}"),
        }
    }
}

#[test]
fn ecs_bad_input_is_refused_before_any_call() {
    let aws = Listener::new();
    let env = aws.env();
    let ecs = ["--target", "ecs", "--image", IMAGE, "--cluster", "prod", "--service", "shop"];
    assert_refused(&["--target", "ecs", "--image", IMAGE, "--service", "shop"], &env, "--target ecs needs --cluster");
    assert_refused(&["--target", "ecs", "--image", IMAGE, "--cluster", "prod"], &env, "--target ecs needs --service");
    assert_refused(
        &[&ecs[..], &["--max-surge", "2"]].concat(),
        &env,
        "ECS's rolling budget is a percentage of the desired count; --max-surge 2 is a task count",
    );
    assert_refused(
        &[&ecs[..], &["--batch-size", "2"]].concat(),
        &env,
        "the ecs target does not use --batch-size with --strategy rolling; it reads --max-surge, --max-unavailable there",
    );
    assert_refused(
        &[&ecs[..], &["--strategy", "canary", "--steps", "10,25,50"]].concat(),
        &env,
        "ECS shifts traffic in one canary step (--steps 10) or in equal linear steps (--steps 10,20,30); --steps 10,25,50 is neither",
    );
    assert_refused(
        &[&ecs[..], &["--strategy", "immutable"]].concat(),
        &env,
        "the ecs target cannot do --strategy immutable; it does rolling, canary, blue-green",
    );
    // Analysis judges one ECS canary step, through the test listener.
    assert_refused(
        &[&ecs[..], &["--strategy", "canary", "--steps", "20,40", "--bake", "1m", "--max-error-rate", "5%"]].concat(),
        &env,
        "analysis judges one ECS canary step (--steps 10): ECS moves LINEAR steps on by its own clock",
    );
    assert_refused(
        &[&ecs[..], &["--strategy", "canary", "--bake", "1m", "--max-error-rate", "5%"]].concat(),
        &env,
        "--strategy canary judged by analysis on ECS probes the new revision through the test listener: give --test-listener-url",
    );
    assert_refused(
        &[&ecs[..], &["--strategy", "blue-green", "--bake", "1m", "--max-error-rate", "5%"]].concat(),
        &env,
        "--strategy blue-green judged by analysis on ECS probes the new revision through the test listener: give --test-listener-url",
    );
    assert_refused(
        &[
            &ecs[..],
            &["--strategy", "blue-green", "--bake", "10m", "--timeout", "15m", "--max-error-rate", "5%"],
            &["--test-listener-url", "http://127.0.0.1:9"],
        ]
        .concat(),
        &env,
        "2 analysis window(s) of --bake 10m (20m in all: before the switch and after it) do not fit in --timeout 15m",
    );
    assert_refused(
        &[&ecs[..], &["--strategy", "rolling", "--max-error-rate", "5%", "--test-listener-url", "http://127.0.0.1:9"]]
            .concat(),
        &env,
        "which --strategy rolling on the ecs target does not do; it judges --strategy canary, blue-green",
    );
    assert_refused(
        &[
            "--target",
            "ecs",
            "--image",
            "127.0.0.1:5555/shop:1.0",
            "--require-digest",
            "--cluster",
            "prod",
            "--service",
            "shop",
        ],
        &env,
        "is not pinned by digest and --require-digest is set",
    );

    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, r#"{"family": "shop", "containerDefinitions": [{"name": "app", "cpu": "lots"}]}"#).unwrap();
    let broken = broken.to_str().unwrap();
    assert_refused(
        &[&ecs[..], &["--task-definition", broken]].concat(),
        &env,
        &format!("--task-definition {broken} does not parse"),
    );
    let two = dir.path().join("two.json");
    std::fs::write(
        &two,
        r#"{"family": "shop", "containerDefinitions": [{"name": "app", "image": "ghcr.io/acme/shop:1"}, {"name": "envoy", "image": "envoyproxy/envoy:v1"}]}"#,
    )
    .unwrap();
    let two = two.to_str().unwrap();
    assert_refused(
        &[&ecs[..], &["--task-definition", two, "--container", "web"]].concat(),
        &env,
        "task definition shop has no container web; it has: app, envoy",
    );
    assert_refused(
        &[&ecs[..], &["--task-definition", two]].concat(),
        &env,
        "task definition shop has containers app, envoy and none runs an image of 127.0.0.1:5555/shop; say which with --container",
    );
    aws.assert_untouched();
}

#[test]
fn an_elastic_beanstalk_canary_judged_by_analysis_refuses_bad_input_before_any_call() {
    let aws = Listener::new();
    let env = aws.env();
    let canary = [&EB[..], &["--image", IMAGE, "--strategy", "canary"]].concat();
    // EB's traffic splitting takes one canary share: one step is judged.
    assert_refused(
        &[&canary[..], &["--steps", "10,50", "--bake", "1m", "--max-error-rate", "5%"]].concat(),
        &env,
        "analysis judges one Elastic Beanstalk canary step (--steps 10): traffic splitting shifts NewVersionPercent once, then all traffic, with no step between to judge; --steps 10,50 has 2",
    );
    // EvaluationTime covers the bake and a minute, within EB's 3 to 600 minutes.
    assert_refused(
        &[&canary[..], &["--steps", "10", "--bake", "600m", "--timeout", "1300m", "--max-error-rate", "5%"]].concat(),
        &env,
        "--bake 10h needs an EvaluationTime of 601 minutes (the bake and 1 minute for slipway to see the split begin); Elastic Beanstalk's traffic splitting evaluates 3 to 600 minutes",
    );
    assert_refused(
        &[&canary[..], &["--bake", "1m", "--max-error-rate", "5%", "--expect-version", "1.2.0"]].concat(),
        &env,
        "--expect-version 1.2.0 cannot judge an Elastic Beanstalk canary: the environment's URL serves both versions during the traffic split",
    );
    assert_refused(
        &[&canary[..], &["--bake", "1m", "--max-error-rate", "5%", "--environment-url", "shop.example.com"]].concat(),
        &env,
        "--environment-url `shop.example.com` is not an http:// or https:// base URL with a host",
    );
    assert_refused(
        &[&canary[..], &["--bake", "15m", "--timeout", "20m", "--max-error-rate", "5%"]].concat(),
        &env,
        "do not fit in --timeout 20m",
    );
    assert_refused(
        &[&EB[..], &["--image", IMAGE, "--strategy", "immutable", "--max-error-rate", "5%"]].concat(),
        &env,
        "which --strategy immutable on the elastic-beanstalk target does not do; it judges --strategy canary, blue-green",
    );
    aws.assert_untouched();
}

#[test]
fn an_elastic_beanstalk_blue_green_judged_by_analysis_refuses_bad_input_before_any_call() {
    let aws = Listener::new();
    let env = aws.env();
    let blue_green = [&EB[..], &["--image", IMAGE, "--strategy", "blue-green", "--max-error-rate", "5%"]].concat();
    // Judged on each side of the swap: two windows of the bake.
    assert_refused(
        &[&blue_green[..], &["--bake", "10m", "--timeout", "15m"]].concat(),
        &env,
        "2 analysis window(s) of --bake 10m (20m in all: before the switch and after it) do not fit in --timeout 15m",
    );
    // A CNAME swap moves all traffic at once: no steps.
    assert_refused(
        &[&blue_green[..], &["--steps", "10"]].concat(),
        &env,
        "the elastic-beanstalk target does not use --steps with --strategy blue-green; it reads --bake there",
    );
    assert_refused(
        &[&blue_green[..], &["--idle-environment-url", "shop-green.example.com"]].concat(),
        &env,
        "--idle-environment-url `shop-green.example.com` is not an http:// or https:// base URL with a host",
    );
    assert_refused(
        &[&EB[..], &["--image", IMAGE, "--strategy", "blue-green", "--promote", "--max-error-rate", "5%"]].concat(),
        &env,
        "judge a deployment's steps; --promote takes none",
    );
    aws.assert_untouched();
}

#[test]
fn ecs_express_and_app_runner_bad_input_is_refused_before_any_call() {
    let aws = Listener::new();
    let env = aws.env();
    assert_refused(
        &["--target", "ecs-express", "--image", IMAGE],
        &env,
        "--target ecs-express needs --service (the Express service's name)",
    );
    assert_refused(
        &["--target", "ecs-express", "--image", IMAGE, "--service", "shop", "--execution-role", "shop-execution"],
        &env,
        "--execution-role `shop-execution` is not an IAM role ARN",
    );
    assert_refused(
        &["--target", "ecs-express", "--image", IMAGE, "--service", "shop", "--strategy", "canary"],
        &env,
        "the ecs-express target cannot do --strategy canary",
    );
    assert_refused(&["--target", "app-runner", "--image", IMAGE], &env, "--target app-runner needs --service");
    aws.assert_untouched();
}
