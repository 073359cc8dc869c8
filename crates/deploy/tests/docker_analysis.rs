//! A canary judged by analysis on the proxied Docker host: the real Docker Engine, the
//! real Caddy proxy (the caddy:2 stand-in of scripts/test-services.sh) and the sample
//! app's images. While a client polls the published address, a canary that answers
//! errors is aborted at its first step (it got about its weight's share of the
//! client's requests, none after the abort, and the old version answered throughout),
//! a healthy canary goes through every step and is promoted, and a gate whose query
//! errors aborts as inconclusive. A blue-green switch is judged before it: a failing
//! green is removed without one public request, a healthy one switched to and watched.
//! Bad analysis input exits 2 before anything changes. A CloudWatch alarm gate (`--alarm`,
//! CloudWatch mocked at the SDK's edge: its rpcv2-CBOR is not moto's) going to ALARM mid-window
//! aborts a healthy canary run in process through the same target, naming the alarm and
//! CloudWatch's reason; an alarm that does not exist is exit 2 before anything changes.
//! Skips without Docker, the registry, Maven or the proxy image unless SLIPWAY_REQUIRE_E2E=1.

#![allow(clippy::unwrap_used)] // Tests panic on broken fixtures, as tests do.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use aws_sdk_cloudwatch::operation::describe_alarms::DescribeAlarmsOutput;
use aws_sdk_cloudwatch::types::{MetricAlarm, StateValue};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use clap::Parser as _;
use common::{
    CLOSED_UNANSWERED, Containers, app_containers, deploy_command, error_line, images, proxy_image, run, version_served,
};
use slipway_contract::CiMode;
use slipway_contract::console::CapturedLog;
use slipway_contract::interrupt::Cancel;
use slipway_contract::runtime::{Threads, block_on_with};
use slipway_deploy::analysis::{AlarmClient, StepRecord};
use slipway_deploy::execute::Deployment;
use slipway_deploy::{DeployError, Status};
use slipway_testkit::{StepRun, free_port};
use slipway_verify::Alarms;

fn deploy(name: &str, port: u16, proxy: &str, args: &[&str]) -> StepRun {
    let mut command = deploy_command();
    command
        .args(["--target", "docker", "--name", name, "--timeout", "3m", "--proxy-image", proxy])
        .args(["--publish", &format!("127.0.0.1:{port}:8080"), "--check", "/", "--drain-timeout", "2s"])
        .args(args);
    run(command)
}

/// The run's `timeline` record, as $GITHUB_OUTPUT holds it (standard output's lines
/// escape backslashes).
fn timeline(run: &StepRun) -> serde_json::Value {
    let outputs = run.github_output.as_deref().unwrap_or_default();
    serde_json::from_str(slipway_testkit::output_value(outputs, "timeline").unwrap()).unwrap()
}

/// Each answer the poller got: when, and which version (or why none).
type Answers = Vec<(Instant, Result<String, String>)>;

/// Clients polling the published address back to back until stopped. Caddy's weighted
/// round robin sends blocks of requests (90 to the old version, then 10 to a 10% canary),
/// so several clients make enough requests for the canary's share to show.
struct Poller {
    stop: Arc<AtomicBool>,
    handles: Vec<JoinHandle<Answers>>,
}

impl Poller {
    fn start(port: u16) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let handles = (0..4)
            .map(|_| {
                let flag = Arc::clone(&stop);
                std::thread::spawn(move || {
                    let mut answers = Vec::new();
                    while !flag.load(Ordering::Relaxed) {
                        answers.push((Instant::now(), version_served(port)));
                    }
                    answers
                })
            })
            .collect();
        Self { stop, handles }
    }

    /// Every client's answers, in the order the requests started.
    fn finish(self) -> Answers {
        self.stop.store(true, Ordering::Relaxed);
        let mut answers: Answers = self.handles.into_iter().flat_map(|handle| handle.join().unwrap()).collect();
        answers.sort_by_key(|(at, _)| *at);
        answers
    }
}

/// Asserts every request was answered by a version, but for at most `closed` connections
/// a configuration load of Caddy closed before the request came (see docker_proxy.rs).
fn assert_answered(answers: &Answers, closed: usize) {
    let errors: Vec<&String> = answers.iter().filter_map(|(_, answer)| answer.as_ref().err()).collect();
    let failures: Vec<&&String> = errors.iter().filter(|error| error.as_str() != CLOSED_UNANSWERED).collect();
    assert!(failures.is_empty(), "{} failed requests: {failures:?}", failures.len());
    assert!(errors.len() <= closed, "{} connections closed unanswered", errors.len());
}

#[test]
fn a_failing_canary_is_aborted_at_its_first_step_and_a_healthy_one_is_promoted() {
    let Some(images) = images() else { return };
    let Some(proxy) = proxy_image() else { return };
    let name = common::unique_name("analysis");
    let _cleanup = Containers(name.clone());
    let port = free_port();

    let first = deploy(&name, port, &proxy, &["--image", &images.v1, "--version-label", "v1"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(version_served(port).as_deref(), Ok("1.0.0"));

    // A canary (2.0.0) that answers GET / with 500: the error rate is judged on its own
    // answers (the probe route), crossed within the first step's bake.
    let poller = Poller::start(port);
    // A 20s bake: a probe every second, so the 10 probes that judge the rate take 10s.
    let gated = ["--strategy", "canary", "--steps", "10,50", "--bake", "20s", "--max-error-rate", "5%"];
    let started = Instant::now();
    let failing =
        deploy(&name, port, &proxy, &[&gated[..], &["--image", &images.failing, "--version-label", "bad"]].concat());
    let aborted_at = Instant::now();
    std::thread::sleep(Duration::from_secs(2));
    let answers = poller.finish();
    assert_eq!(failing.code, 1, "{}", failing.stderr);
    assert_eq!(failing.output("status"), Some("aborted"));
    let line = error_line(&failing);
    assert!(line.contains("the canary was aborted at step 1 of 2 at 10%"), "{line}");
    assert!(line.contains("the gate error rate was crossed"), "{line}");
    assert!(line.contains("status 500"), "{line}");
    assert!(!failing.stderr.contains("takes 50%"), "never went past the first step: {}", failing.stderr);
    assert!(aborted_at - started < Duration::from_secs(60), "{:?}", aborted_at - started);
    // The run's record, published with the failure.
    let record: serde_json::Value = timeline(&failing);
    assert_eq!((record["target"].as_str(), record["status"].as_str()), (Some("docker"), Some("aborted")));
    assert_eq!(record["windows"].as_array().map(Vec::len), Some(1), "{record}");
    assert_eq!(record["windows"][0]["weight"], 10);
    assert_eq!(record["windows"][0]["decision"], "crossed");

    // The poller's view: the old version answered throughout; the canary got about its
    // 10% while it was in, and nothing once deploy had aborted it.
    assert_answered(&answers, 8);
    let canary: Vec<Instant> = answers.iter().filter(|(_, a)| a.as_deref() == Ok("2.0.0")).map(|(at, _)| *at).collect();
    assert!(!canary.is_empty(), "the canary took part of the traffic: {} answers; {}", answers.len(), failing.stderr);
    assert!(canary.iter().all(|at| *at < aborted_at), "a request reached the canary after the abort");
    let (first_hit, last_hit) = (canary[0], *canary.last().unwrap());
    let during = answers.iter().filter(|(at, a)| *at >= first_hit && *at <= last_hit && a.is_ok()).count();
    let share = canary.len() as f64 / during as f64;
    assert!(
        (0.04..=0.25).contains(&share),
        "{} of {during} requests on the 10% canary: {}",
        canary.len(),
        failing.stderr
    );
    let old = answers.iter().filter(|(_, a)| a.as_deref() == Ok("1.0.0")).count();
    assert!(old > 50, "{old} answers from the old version");
    assert_eq!(version_served(port).as_deref(), Ok("1.0.0"));
    let containers = app_containers(&name);
    assert_eq!(containers.len(), 1, "the canary was removed: {containers:?}");
    assert!(containers[0].ends_with(" running"), "{containers:?}");

    // A healthy canary: every step, the final watch at 100%, then promoted.
    let poller = Poller::start(port);
    let healthy = ["--strategy", "canary", "--steps", "10,50", "--bake", "3s", "--max-error-rate", "5%"];
    let promoted = deploy(
        &name,
        port,
        &proxy,
        &[
            &healthy[..],
            &["--expect-version", "2.0.0", "--latency-p95", "2s", "--image", &images.v2, "--version-label", "v2"],
        ]
        .concat(),
    );
    let answers = poller.finish();
    assert_eq!(promoted.code, 0, "{}", promoted.stderr);
    assert_eq!(promoted.output("status"), Some("promoted"));
    assert_eq!(promoted.output("version-label"), Some("v2"));
    assert_eq!(promoted.output("previous-version"), Some("v1"));
    assert_eq!(version_served(port).as_deref(), Ok("2.0.0"));
    assert_answered(&answers, 16);
    let summary = promoted.summary.as_deref().unwrap_or_default();
    for row in ["| step 1 of 2 at 10% | `passed", "| step 2 of 2 at 50% | `passed", "| final watch at 100% | `passed"] {
        assert!(summary.contains(row), "{row}: {summary}");
    }
    assert!(summary.contains("version 2.0.0 (== 2.0.0)"), "{summary}");
    // The summary's table of the record: a row per gate of each window.
    assert!(summary.contains("| window | weight | judged for | gate | observed | threshold | decision |"), "{summary}");
    let watch = summary.lines().find(|l| l.starts_with("| final watch at 100% | 100% |") && l.contains("| version |"));
    assert!(watch.is_some_and(|row| row.ends_with("| version | 2.0.0 | == 2.0.0 | passed |")), "{summary}");
    let record: serde_json::Value = timeline(&promoted);
    assert_eq!(record["status"], "promoted");
    let weights: Vec<&serde_json::Value> = record["windows"].as_array().unwrap().iter().map(|w| &w["weight"]).collect();
    assert_eq!(weights, [10, 50, 100]);
    let containers = app_containers(&name);
    assert_eq!(containers.iter().filter(|c| c.ends_with(" running")).count(), 1, "{containers:?}");

    // A gate whose query cannot run: inconclusive, aborted at once, 2.0.0 serves on.
    let unreachable = format!("http://127.0.0.1:{}", free_port());
    let inconclusive = deploy(
        &name,
        port,
        &proxy,
        &[&healthy[..], &["--prometheus", &unreachable, "--metric", "errors:sum(up)<=1"]]
            .concat()
            .into_iter()
            .chain(["--image", &images.v1, "--version-label", "v1-again"])
            .collect::<Vec<_>>(),
    );
    assert_eq!(inconclusive.code, 1, "{}", inconclusive.stderr);
    assert_eq!(inconclusive.output("status"), Some("aborted"));
    assert!(error_line(&inconclusive).contains("the gate errors is inconclusive"), "{}", error_line(&inconclusive));
    assert_eq!(version_served(port).as_deref(), Ok("2.0.0"));
}

#[test]
fn bad_analysis_input_exits_2_before_anything_changes() {
    let image = format!("127.0.0.1:5555/app@sha256:{}", "a".repeat(64));
    let name = common::unique_name("analysis-input");
    let refused = |args: &[&str]| {
        let mut command = deploy_command();
        command.args(["--target", "docker", "--name", &name, "--image", &image]).args(args);
        let result = run(command);
        assert_eq!(result.code, 2, "{args:?}: {}", result.stderr);
        error_line(&result).to_owned()
    };
    let line = refused(&["--strategy", "rolling", "--max-error-rate", "5%"]);
    assert!(line.contains("which --strategy rolling on the docker target does not do"), "{line}");
    let line = refused(&["--strategy", "canary", "--steps", "50,10", "--max-error-rate", "5%"]);
    assert!(line.contains("--steps must rise"), "{line}");
    let line = refused(&["--strategy", "canary", "--steps", "10,100", "--max-error-rate", "5%"]);
    assert!(line.contains("`100` is not a share of traffic from 1 to 99"), "{line}");
    let line = refused(&[
        "--strategy",
        "canary",
        "--steps",
        "10,50",
        "--bake",
        "5m",
        "--timeout",
        "10m",
        "--expect-version",
        "2",
    ]);
    assert!(line.contains("3 analysis window(s) of --bake 5m (15m in all"), "{line}");
    let line = refused(&[
        "--strategy",
        "canary",
        "--prometheus",
        "http://127.0.0.1:9090",
        "--metric",
        "errors:sum(rate(x[1m]))",
    ]);
    assert!(line.contains("--metric: the gate errors has no comparison"), "{line}");
    let line = refused(&["--strategy", "direct", "--latency-p95", "1s"]);
    assert!(line.contains("--strategy direct on the docker target does not do"), "{line}");
    // A judged blue-green switch: a bake before it and one after, both within --timeout.
    let line = refused(&[
        "--strategy",
        "blue-green",
        "--preview-port",
        "8081",
        "--bake",
        "2m",
        "--timeout",
        "3m",
        "--latency-p95",
        "1s",
    ]);
    assert!(line.contains("2 analysis window(s) of --bake 2m (4m in all: before the switch and after it)"), "{line}");
    let line = refused(&["--strategy", "blue-green", "--preview-port", "8081", "--steps", "10", "--latency-p95", "1s"]);
    assert!(line.contains("does not use --steps with --strategy blue-green"), "{line}");
}

#[test]
fn a_blue_green_switch_is_judged_before_it_and_a_failing_green_never_gets_a_request() {
    let Some(images) = images() else { return };
    let Some(proxy) = proxy_image() else { return };
    let name = common::unique_name("analysis-bg");
    let _cleanup = Containers(name.clone());
    let port = free_port();
    let preview = free_port().to_string();

    // The proxy publishes the preview port from its creation.
    let first =
        deploy(&name, port, &proxy, &["--image", &images.v1, "--version-label", "v1", "--preview-port", &preview]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(version_served(port).as_deref(), Ok("1.0.0"));

    // A green (2.0.0) answering GET / with 500: judged through the probe route before the
    // switch, crossed, removed; the public traffic never reached it.
    let poller = Poller::start(port);
    let gated = ["--strategy", "blue-green", "--preview-port", &preview, "--bake", "15s", "--max-error-rate", "5%"];
    let failing =
        deploy(&name, port, &proxy, &[&gated[..], &["--image", &images.failing, "--version-label", "bad"]].concat());
    std::thread::sleep(Duration::from_secs(1));
    let answers = poller.finish();
    assert_eq!(failing.code, 1, "{}", failing.stderr);
    assert_eq!(failing.output("status"), Some("aborted"));
    let line = error_line(&failing);
    assert!(line.contains("the new version was aborted before the switch"), "{line}");
    assert!(line.contains("the gate error rate was crossed"), "{line}");
    assert!(!failing.stderr.contains("takes 100%"), "never switched: {}", failing.stderr);
    assert_answered(&answers, 4);
    assert!(answers.iter().all(|(_, a)| a.as_deref() != Ok("2.0.0")), "a public request reached the failing green");
    assert!(answers.iter().filter(|(_, a)| a.is_ok()).count() > 50, "{} answers", answers.len());
    let containers = app_containers(&name);
    assert_eq!(containers.len(), 1, "the green was removed: {containers:?}");
    assert_eq!(version_served(port).as_deref(), Ok("1.0.0"));

    // A healthy green: judged before the switch, switched, watched, the blue retired.
    let poller = Poller::start(port);
    let healthy = ["--strategy", "blue-green", "--preview-port", &preview, "--bake", "3s", "--max-error-rate", "5%"];
    let promoted = deploy(
        &name,
        port,
        &proxy,
        &[&healthy[..], &["--expect-version", "2.0.0", "--image", &images.v2, "--version-label", "v2"]].concat(),
    );
    let answers = poller.finish();
    assert_eq!(promoted.code, 0, "{}", promoted.stderr);
    assert_eq!(promoted.output("status"), Some("promoted"));
    assert_eq!(promoted.output("previous-version"), Some("v1"));
    assert_eq!(promoted.output("url"), Some(format!("http://127.0.0.1:{port}").as_str()));
    assert_eq!(version_served(port).as_deref(), Ok("2.0.0"));
    assert_answered(&answers, 8);
    // The switch is one moment: 1.0.0 before it, 2.0.0 after, never mixed again.
    let first_new = answers.iter().position(|(_, a)| a.as_deref() == Ok("2.0.0")).unwrap();
    let last_old = answers.iter().rposition(|(_, a)| a.as_deref() == Ok("1.0.0")).unwrap();
    assert!(
        answers[last_old].0 < answers[first_new].0 + Duration::from_secs(1),
        "the old version answered after the switch"
    );
    let summary = promoted.summary.as_deref().unwrap_or_default();
    for row in ["| before the switch | `passed", "| after the switch | `passed"] {
        assert!(summary.contains(row), "{row}: {summary}");
    }
    let containers = app_containers(&name);
    assert_eq!(containers.iter().filter(|c| c.ends_with(" running")).count(), 1, "{containers:?}");
}

const ALARM: &str = "shop-5xx";
const ALARM_REASON: &str =
    "Threshold Crossed: 1 out of the last 1 datapoints [12.0 (01/12/26 00:10:00)] was greater than the threshold (5.0)";

fn alarm_state(state: StateValue, reason: &str) -> DescribeAlarmsOutput {
    DescribeAlarmsOutput::builder()
        .metric_alarms(MetricAlarm::builder().alarm_name(ALARM).state_value(state).state_reason(reason).build())
        .build()
}

/// deploy run in this process with `args` (the binary's flags and the same target code),
/// its `--alarm` gates reading CloudWatch through `cloudwatch`, the seam the analysis
/// request offers; the environment is the binary's, without CI variables.
/// What an in-process run gave: its result, its log, and the windows it judged.
type InProcess = (Result<slipway_deploy::DeployOutcome, DeployError>, String, Vec<StepRecord>);

fn deploy_in_process(args: &[&str], cloudwatch: &Rule) -> InProcess {
    let cli = slipway_deploy::Cli::try_parse_from([&["deploy"][..], args].concat()).unwrap();
    let log = CapturedLog::default();
    let console = log.console("deploy", CiMode::Plain);
    let env = |name: &str| {
        let ci = name.starts_with("SLIPWAY_") || name.starts_with("GITHUB_") || name == "CI" || name == "GITLAB_CI";
        if ci { None } else { std::env::var(name).ok() }
    };
    let mut request = slipway_deploy::plan(&cli.args, &env, &console).unwrap();
    let client = mock_client!(aws_sdk_cloudwatch, RuleMode::Sequential, [cloudwatch]);
    request.analysis.as_mut().unwrap().alarm_client = AlarmClient(Some(Alarms::new(client)));
    let deployment = Deployment {
        request: &request,
        deadline: request.deadline(),
        github: None,
        environment_name: "production",
        env: &env,
        console: &console,
    };
    let result =
        block_on_with(Threads::Current, Cancel::AtWaitPoints, cli.args.target.deploy(&cli.args, &deployment)).unwrap();
    let records = request.analysis.as_ref().map(|a| a.recorder.records()).unwrap_or_default();
    (result, log.text(), records)
}

#[test]
fn an_alarm_going_to_alarm_mid_window_aborts_the_canary_and_an_unknown_alarm_changes_nothing() {
    let Some(images) = images() else { return };
    let Some(proxy) = proxy_image() else { return };
    let name = common::unique_name("analysis-alarm");
    let _cleanup = Containers(name.clone());
    let port = free_port();
    let first = deploy(&name, port, &proxy, &["--image", &images.v1, "--version-label", "v1"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let publish = format!("127.0.0.1:{port}:8080");
    let canary = |image: &str, alarms: &[&str]| -> Vec<String> {
        let mut args: Vec<String> = ["--target", "docker", "--name", &name, "--timeout", "3m", "--proxy-image", &proxy]
            .into_iter()
            .chain(["--publish", &publish, "--check", "/", "--drain-timeout", "2s"])
            .chain(["--strategy", "canary", "--steps", "10,50", "--bake", "10s", "--max-error-rate", "5%"])
            .chain(["--image", image, "--version-label", "v2"])
            .map(str::to_owned)
            .collect();
        for alarm in alarms {
            args.extend(["--alarm".to_owned(), (*alarm).to_owned()]);
        }
        args
    };

    // An alarm that does not exist: exit 2 in the check phase, one DescribeAlarms call,
    // no container started, the proxy untouched.
    let known_only = mock!(aws_sdk_cloudwatch::Client::describe_alarms)
        .sequence()
        .output(|| alarm_state(StateValue::Ok, "fine"))
        .repeatedly()
        .build();
    let before = app_containers(&name);
    let args = canary(&images.v2, &[ALARM, "shop-typo"]);
    let (result, log, records) = deploy_in_process(&args.iter().map(String::as_str).collect::<Vec<_>>(), &known_only);
    match result {
        Err(DeployError::Usage(message)) => {
            assert!(message.starts_with("--alarm: no CloudWatch alarm is named shop-typo"), "{message}\n{log}");
        }
        other => panic!("{other:?}\n{log}"),
    }
    assert_eq!(known_only.num_calls(), 1, "{log}");
    assert!(records.is_empty(), "no window was judged");
    assert_eq!(app_containers(&name), before, "nothing changed");
    assert_eq!(version_served(port).as_deref(), Ok("1.0.0"));

    // A healthy canary (2.0.0) whose alarm goes to ALARM a few rounds into the first step
    // (a 10s bake: a round every 500ms): aborted at once, naming the alarm and CloudWatch's
    // reason, the old version serving all traffic again, the canary removed.
    let flips = mock!(aws_sdk_cloudwatch::Client::describe_alarms)
        .sequence()
        .output(|| alarm_state(StateValue::Ok, "Threshold Crossed: no datapoints were greater than the threshold"))
        .times(5)
        .output(|| alarm_state(StateValue::Alarm, ALARM_REASON))
        .repeatedly()
        .build();
    let args = canary(&images.v2, &[ALARM]);
    let (result, log, records) = deploy_in_process(&args.iter().map(String::as_str).collect::<Vec<_>>(), &flips);
    let Err(DeployError::Failed { message, status, detail }) = result else { panic!("{result:?}\n{log}") };
    assert_eq!(status, Status::Aborted, "{message}\n{log}");
    assert!(
        message.starts_with("the canary was aborted at step 1 of 2 at 10%: the gate alarm shop-5xx was crossed"),
        "{message}"
    );
    assert!(message.contains(&format!("observed ALARM ({ALARM_REASON})")), "{message}");
    assert!(message.ends_with("all traffic is back on the old version and the canary was removed"), "{message}");
    assert!(log.contains("alarm shop-5xx: OK"), "read in the check phase: {log}");
    assert!(!log.contains("takes 50%"), "never went past the first step: {log}");
    assert!(detail.iter().any(|line| line.starts_with("step 1 of 2 at 10%: failed")), "{detail:?}");
    // Mid-window: the 6th read came about 2s into the 10s bake, and the window ended there.
    let [window] = &records[..] else { panic!("one window: {records:?}") };
    assert_eq!(window.percent, 10);
    assert!(!window.window.decision.passed(), "{:?}", window.window.decision);
    assert!(window.window.elapsed < Duration::from_secs(6), "ended mid-window: {:?}", window.window.elapsed);
    assert!(flips.num_calls() >= 6, "{} DescribeAlarms calls", flips.num_calls());
    assert_eq!(version_served(port).as_deref(), Ok("1.0.0"));
    let containers = app_containers(&name);
    assert_eq!(
        containers.iter().filter(|c| c.ends_with(" running")).count(),
        1,
        "the canary was removed: {containers:?}"
    );
}
