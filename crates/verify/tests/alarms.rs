//! `--alarm` gates: the analysis reading CloudWatch alarms at the SDK edge
//! (`aws-smithy-mocks`; CloudWatch speaks rpcv2-CBOR, which the local moto does not),
//! probing a scripted HTTP server on 127.0.0.1. An alarm in OK passes; one that flips to
//! ALARM mid-window ends it at once, naming the alarm and CloudWatch's reason;
//! INSUFFICIENT_DATA to the end is inconclusive; an AWS error mid-window is inconclusive,
//! naming cloudwatch:DescribeAlarms; an unknown alarm is refused before any probe, also
//! through the binary against a loopback CloudWatch endpoint answering rpcv2-CBOR.

#![allow(clippy::unwrap_used)] // Tests panic on broken fixtures, as tests do.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::error::ErrorMetadata;
use aws_sdk_cloudwatch::operation::describe_alarms::{DescribeAlarmsError, DescribeAlarmsOutput};
use aws_sdk_cloudwatch::types::{AlarmType, MetricAlarm, StateValue};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use common::{Reply, TestServer, stderr, verify};
use slipway_contract::CiMode;
use slipway_contract::console::CapturedLog;
use slipway_verify::{AlarmCheckError, Alarms, Analysis, Client as Probe, Decision, Plan, VerifyArgs};

const ALARM: &str = "shop-5xx";

fn answer(state: StateValue, reason: &str) -> DescribeAlarmsOutput {
    DescribeAlarmsOutput::builder()
        .metric_alarms(MetricAlarm::builder().alarm_name(ALARM).state_value(state).state_reason(reason).build())
        .build()
}

fn alarms(rule: &Rule) -> Alarms {
    Alarms::new(mock_client!(aws_sdk_cloudwatch, RuleMode::Sequential, [rule]))
}

/// A window of `window` over a healthy /health, judged by the --alarm gate through `alarms`.
fn watch(alarms: Alarms, window: Duration) -> (Decision, Duration, usize, String) {
    let server = TestServer::http(|_| Reply::ok("UP"));
    let args = VerifyArgs {
        url: server.url(),
        checks: vec!["/health".into()],
        interval: "100ms".into(),
        watch: Some("1s".into()),
        alarms: vec![ALARM.into()],
        ..VerifyArgs::default()
    };
    let log = CapturedLog::default();
    let console = log.console("verify", CiMode::Plain);
    let plan = Plan::from_args(&args, &|_| None, &console).unwrap();
    let gates = plan.watch.as_ref().unwrap().gates.clone();
    assert_eq!(gates.alarms, [ALARM]);
    let client = Probe::new(&plan).unwrap();
    let analysis = Analysis::new(&plan, gates).unwrap().with_alarms(alarms);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let started = Instant::now();
    let report = runtime.block_on(analysis.run(&client, window, &console));
    (report.decision, started.elapsed(), server.hits(), log.text())
}

#[test]
fn an_alarm_in_ok_holds_for_the_whole_window() {
    let rule = mock!(Client::describe_alarms)
        .match_requests(|input| {
            input.alarm_names() == [ALARM]
                && input.alarm_types().contains(&AlarmType::MetricAlarm)
                && input.alarm_types().contains(&AlarmType::CompositeAlarm)
        })
        .sequence()
        .output(|| answer(StateValue::Ok, "Threshold Crossed: no datapoints were above 5"))
        .repeatedly()
        .build();
    let (decision, took, hits, log) = watch(alarms(&rule), Duration::from_secs(2));
    assert_eq!(decision, Decision::Passed, "{log}");
    assert!(took >= Duration::from_secs(2), "the whole window was watched: {took:?}");
    assert!(rule.num_calls() >= 5, "read every round, not once: {} call(s)", rule.num_calls());
    assert!(hits >= 5, "probed too: {hits}");
    assert!(log.contains("alarm shop-5xx OK (Threshold Crossed: no datapoints"), "{log}");
}

#[test]
fn an_alarm_flipping_to_alarm_ends_the_window_at_once_naming_it() {
    let rule = mock!(Client::describe_alarms)
        .sequence()
        .output(|| answer(StateValue::Ok, "fine"))
        .times(3)
        .output(|| answer(StateValue::Alarm, "Threshold Crossed: 1 datapoint [12.0] was greater than 5.0"))
        .repeatedly()
        .build();
    let (decision, took, _, log) = watch(alarms(&rule), Duration::from_secs(60));
    assert!(took < Duration::from_secs(10), "ended at the crossing, not after the window: {took:?}");
    assert_eq!(rule.num_calls(), 4, "the fourth read saw ALARM and ended the window");
    let Decision::Crossed { gate, observed, threshold, .. } = &decision else { panic!("{decision:?}\n{log}") };
    assert_eq!(gate, "alarm shop-5xx");
    assert_eq!(observed, "ALARM (Threshold Crossed: 1 datapoint [12.0] was greater than 5.0)");
    assert_eq!(threshold, "not ALARM");
    assert!(decision.to_string().starts_with("the gate alarm shop-5xx was crossed after"), "{decision}");
}

#[test]
fn insufficient_data_to_the_end_of_the_window_is_inconclusive() {
    let rule = mock!(Client::describe_alarms)
        .sequence()
        .output(|| answer(StateValue::InsufficientData, "Insufficient Data: 1 datapoint was unknown"))
        .repeatedly()
        .build();
    let (decision, took, _, log) = watch(alarms(&rule), Duration::from_secs(1));
    assert!(took >= Duration::from_secs(1), "waited for data until the end: {took:?}");
    let Decision::Inconclusive { gate, reason, .. } = &decision else { panic!("{decision:?}\n{log}") };
    assert_eq!(gate, "alarm shop-5xx");
    assert!(reason.starts_with("INSUFFICIENT_DATA (Insufficient Data"), "{reason}");
    assert!(
        log.contains("INSUFFICIENT_DATA (Insufficient Data: 1 datapoint was unknown) (not ALARM) waiting"),
        "{log}"
    );
}

#[test]
fn an_aws_error_mid_window_is_inconclusive_naming_the_action() {
    let rule = mock!(Client::describe_alarms)
        .sequence()
        .output(|| answer(StateValue::Ok, "fine"))
        .times(2)
        .error(|| {
            DescribeAlarmsError::generic(
                ErrorMetadata::builder()
                    .code("AccessDenied")
                    .message("User: arn:aws:iam::123456789012:user/ci is not authorized to perform: cloudwatch:DescribeAlarms")
                    .build(),
            )
        })
        .repeatedly()
        .build();
    let (decision, took, _, log) = watch(alarms(&rule), Duration::from_secs(60));
    assert!(took < Duration::from_secs(10), "failed at the error: {took:?}");
    let Decision::Inconclusive { gate, reason, .. } = &decision else { panic!("{decision:?}\n{log}") };
    assert_eq!(gate, "alarm shop-5xx");
    assert!(reason.starts_with("cloudwatch:DescribeAlarms failed"), "{reason}");
    assert!(reason.contains("AccessDenied"), "{reason}");
    assert!(decision.to_string().contains("which counts as a failure"), "{decision}");
}

#[test]
fn an_alarm_that_does_not_exist_is_refused_naming_it() {
    let rule = mock!(Client::describe_alarms).sequence().output(|| answer(StateValue::Ok, "fine")).repeatedly().build();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let alarms = alarms(&rule);
    let names = vec![ALARM.to_owned(), "shop-latency".to_owned()];
    let error = runtime.block_on(alarms.check_exist(&names, Duration::from_secs(5))).unwrap_err();
    assert_eq!(error, AlarmCheckError::Missing(vec!["shop-latency".into()]));
    assert!(error.to_string().starts_with("--alarm: no CloudWatch alarm is named shop-latency"), "{error}");
    let states = runtime.block_on(alarms.check_exist(&names[..1], Duration::from_secs(5))).unwrap();
    assert_eq!(states[0].state, "OK");
}

#[test]
fn alarm_flags_are_checked_before_any_request() {
    let server = TestServer::http(|_| Reply::ok("UP"));
    for (args, expected) in [
        (vec!["--alarm", ALARM], "--alarm: judges a window of observations: give --watch DURATION"),
        (vec!["--watch", "1s", "--alarm", ALARM, "--alarm", ALARM], "--alarm: the alarm shop-5xx is given twice"),
    ] {
        let output = verify().args(["--url", &server.url()]).args(&args).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", stderr(&output));
        assert!(stderr(&output).contains(expected), "{args:?}: {}", stderr(&output));
    }
    assert_eq!(server.hits(), 0, "nothing was probed");
}

/// A loopback CloudWatch endpoint answering every request with DescribeAlarms' output in
/// rpcv2-CBOR holding no alarm (an empty map); the request heads it received.
fn empty_cloudwatch(stall: bool) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let heads = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&heads);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            stream.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            let mut request = Vec::new();
            let mut buffer = [0u8; 4096];
            // The head, then the body its content-length announces.
            while let Ok(n) = stream.read(&mut buffer) {
                if n == 0 {
                    break;
                }
                request.extend_from_slice(&buffer[..n]);
                let text = String::from_utf8_lossy(&request).to_ascii_lowercase();
                if let Some(end) = text.find("\r\n\r\n") {
                    let length = text[..end]
                        .lines()
                        .find_map(|line| line.strip_prefix("content-length:").map(|v| v.trim().parse().unwrap_or(0)))
                        .unwrap_or(0usize);
                    if request.len() >= end + 4 + length {
                        break;
                    }
                }
            }
            let text = String::from_utf8_lossy(&request).into_owned();
            seen.lock().unwrap().push(text.split("\r\n\r\n").next().unwrap_or_default().to_owned());
            if stall {
                // Never answers; the connection stays open.
                std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_secs(60));
                    drop(stream);
                });
                continue;
            }
            let head = "HTTP/1.1 200 OK\r\nsmithy-protocol: rpc-v2-cbor\r\ncontent-type: application/cbor\r\ncontent-length: 1\r\nconnection: close\r\n\r\n";
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&[0xa0]);
        }
    });
    (url, heads)
}

#[test]
fn the_binary_refuses_an_unknown_alarm_before_any_probe() {
    let app = TestServer::http(|_| Reply::ok("UP"));
    let (cloudwatch, heads) = empty_cloudwatch(false);
    let output = with_cloudwatch(&cloudwatch)
        .args(["--url", &app.url(), "--watch", "5s", "--alarm", "shop-typo"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("--alarm: no CloudWatch alarm is named shop-typo"), "{}", stderr(&output));
    assert_eq!(app.hits(), 0, "nothing was probed");
    let heads = heads.lock().unwrap();
    assert_eq!(heads.len(), 1, "{heads:?}");
    assert!(heads[0].contains("/operation/DescribeAlarms"), "{}", heads[0]);
    assert!(!stderr(&output).contains(slipway_testkit::secrets::AWS_SECRET_ACCESS_KEY));
}

#[test]
fn a_stalled_cloudwatch_fails_within_the_request_timeout() {
    let app = TestServer::http(|_| Reply::ok("UP"));
    let (cloudwatch, _) = empty_cloudwatch(true);
    let started = Instant::now();
    let output = with_cloudwatch(&cloudwatch)
        .args(["--url", &app.url(), "--watch", "5s", "--alarm", ALARM, "--request-timeout", "1s"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(started.elapsed() < Duration::from_secs(8), "bounded: {:?}", started.elapsed());
    assert!(stderr(&output).contains("cloudwatch:DescribeAlarms gave no answer within 1s"), "{}", stderr(&output));
    assert_eq!(app.hits(), 0, "nothing was probed");
}

/// verify with static canary credentials and every CloudWatch call sent to `endpoint`.
fn with_cloudwatch(endpoint: &str) -> common::Verify {
    let dir = std::env::temp_dir().join("slipway-verify-alarms-no-profile");
    let mut command = verify();
    command
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_REGION", "eu-west-1")
        .env("AWS_ACCESS_KEY_ID", "AKIASLIPWAYCANARY000")
        .env("AWS_SECRET_ACCESS_KEY", slipway_testkit::secrets::AWS_SECRET_ACCESS_KEY)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", dir.join("config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.join("credentials"));
    command
}
