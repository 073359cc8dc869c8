//! The canary step loop ([`slipway_deploy::analysis::run_canary`]) against a fake
//! traffic-shifting edge: a loopback HTTP server whose answers depend on the weight the
//! loop set, and a record of the loop's calls. Each decision: every step passes and the
//! canary is promoted; a gate crossed at a step aborts (traffic back, `aborted`); a gate
//! crossed in the final watch rolls back (`rolled-back`); a query that errors aborts as
//! inconclusive; a CloudWatch alarm (mocked at the SDK edge) going to ALARM aborts, and
//! one that does not exist is refused before any change; a blue-green switch judged before it (a failure removes the new version,
//! traffic never moved: `aborted`) and after it (switched back: `rolled-back`); and the
//! bad inputs refused before anything changes.

#![allow(clippy::unwrap_used)] // Tests panic on broken fixtures, as tests do.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_cloudwatch::operation::describe_alarms::DescribeAlarmsOutput;
use aws_sdk_cloudwatch::types::{MetricAlarm, StateValue};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use slipway_contract::CiMode;
use slipway_contract::console::CapturedLog;
use slipway_deploy::analysis::{
    AlarmClient, AnalysisFlags, ProbeTarget, TrafficShift, check_alarms, check_request, run_blue_green, run_canary,
    timeline_details,
};
use slipway_deploy::rollout::{RolloutArgs, Steps};
use slipway_deploy::{DeployError, DeployRequest, Phase, Rollout, Status, Strategy};
use slipway_verify::Alarms;

/// A loopback server answering `GET /health` 200, or 500 while `failing(weight)`.
struct Edge {
    server: slipway_testkit::http::StubServer,
    weight: Arc<AtomicU8>,
}

impl Edge {
    fn start(failing: fn(u8) -> bool) -> Self {
        let weight = Arc::new(AtomicU8::new(0));
        let seen = Arc::clone(&weight);
        let server = slipway_testkit::http::StubServer::start(move |_| {
            if failing(seen.load(Ordering::SeqCst)) {
                ("500 Internal Server Error", "boom".to_owned())
            } else {
                ("200 OK", "UP".to_owned())
            }
        });
        Self { server, weight }
    }
}

/// The fake target: it moves the edge's weight and records each call.
struct FakeShift {
    url: String,
    weight: Arc<AtomicU8>,
    calls: Arc<Mutex<Vec<String>>>,
}

impl TrafficShift for FakeShift {
    fn probe_target(&self) -> ProbeTarget {
        ProbeTarget {
            url: self.url.clone(),
            check: "/health".to_owned(),
            headers: vec!["X-Probe:1".to_owned()],
            tls: None,
        }
    }

    async fn set_weight(
        &mut self,
        percent: u8,
        _deadline: Instant,
        _console: &slipway_contract::Console,
    ) -> Result<(), String> {
        self.weight.store(percent, Ordering::SeqCst);
        self.calls.lock().unwrap().push(format!("weight {percent}"));
        Ok(())
    }

    async fn abort(&mut self, _deadline: Instant, _console: &slipway_contract::Console) -> Result<(), String> {
        self.weight.store(0, Ordering::SeqCst);
        self.calls.lock().unwrap().push("abort".to_owned());
        Ok(())
    }

    async fn promote(&mut self, _deadline: Instant, _console: &slipway_contract::Console) -> Result<(), DeployError> {
        self.calls.lock().unwrap().push("promote".to_owned());
        Ok(())
    }
}

fn request(steps: &[u8], bake: Option<Duration>, flags: &AnalysisFlags) -> DeployRequest {
    let args = RolloutArgs { steps: Some(Steps(steps.to_vec())), bake, ..RolloutArgs::default() };
    DeployRequest {
        image: "127.0.0.1:5555/app@sha256:0000".into(),
        rollout: Rollout::new(Strategy::Canary, &args).unwrap(),
        phase: Phase::Deploy,
        version_label: "v2".into(),
        port: 8080,
        timeout: Duration::from_secs(120),
        dry_run: false,
        analysis: flags.parse().unwrap(),
    }
}

fn gates(max_error_rate: &str) -> AnalysisFlags {
    AnalysisFlags { max_error_rate: Some(max_error_rate.to_owned()), ..AnalysisFlags::default() }
}

/// Runs the loop on a fresh edge; the calls it made, its result and the log.
fn judge(failing: fn(u8) -> bool, request: &DeployRequest) -> (Vec<String>, Result<Vec<String>, DeployError>, String) {
    let edge = Edge::start(failing);
    let calls = Arc::new(Mutex::new(Vec::new()));
    let mut shift = FakeShift { url: edge.server.url(), weight: Arc::clone(&edge.weight), calls: Arc::clone(&calls) };
    shift.weight.store(request.rollout.steps.first().copied().unwrap_or(0), Ordering::SeqCst);
    let log = CapturedLog::default();
    let console = log.console("deploy", CiMode::Plain);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let analysis = request.analysis.clone().unwrap();
    let deadline = Instant::now() + request.timeout;
    let result = if request.rollout.strategy == Strategy::BlueGreen {
        runtime.block_on(run_blue_green(&mut shift, request, &analysis, deadline, &console))
    } else {
        runtime.block_on(run_canary(&mut shift, request, &analysis, deadline, &console))
    };
    let result = result.map(|judged| {
        judged.records.iter().map(|record| format!("{}% {}", record.percent, record.window.decision)).collect()
    });
    let calls = calls.lock().unwrap().clone();
    (calls, result, log.text())
}

#[test]
fn every_step_passes_then_the_canary_is_promoted() {
    let request = request(&[10, 25, 50], Some(Duration::from_secs(1)), &gates("5%"));
    let (calls, result, log) = judge(|_| false, &request);
    let records = result.unwrap_or_else(|error| panic!("{error}\n{log}"));
    assert_eq!(
        records,
        ["10% every gate held", "25% every gate held", "50% every gate held", "100% every gate held"],
        "each step, then the final watch (--bake given)"
    );
    assert_eq!(calls, ["weight 10", "weight 25", "weight 50", "weight 100", "promote"]);
}

#[test]
fn a_gate_crossed_at_a_step_aborts_there() {
    // The canary breaks once it takes 25%: step 2 fails, step 3 never comes.
    let request = request(&[10, 25, 50], Some(Duration::from_secs(1)), &gates("5%"));
    let (calls, result, log) = judge(|weight| weight >= 25, &request);
    let Err(DeployError::Failed { message, status, detail }) = result else { panic!("{result:?}\n{log}") };
    assert_eq!(status, Status::Aborted);
    assert!(
        message.starts_with("the canary was aborted at step 2 of 3 at 25%: the gate error rate was crossed"),
        "{message}"
    );
    assert!(message.contains("threshold <= 5%"), "{message}");
    assert!(message.ends_with("all traffic is back on the old version and the canary was removed"), "{message}");
    assert_eq!(calls, ["weight 10", "weight 25", "abort"]);
    assert_eq!(detail.len(), 2, "the timeline: both steps judged: {detail:?}");
    assert!(detail[0].starts_with("step 1 of 3 at 10%: passed"), "{detail:?}");
    assert!(detail[1].starts_with("step 2 of 3 at 25%: failed: the gate error rate was crossed"), "{detail:?}");
}

#[test]
fn a_gate_crossed_in_the_final_watch_rolls_back() {
    let request = request(&[10, 50], Some(Duration::from_secs(1)), &gates("5%"));
    let (calls, result, log) = judge(|weight| weight == 100, &request);
    let Err(DeployError::Failed { message, status, .. }) = result else { panic!("{result:?}\n{log}") };
    assert_eq!(status, Status::RolledBack);
    assert!(message.starts_with("the promoted canary was rolled back at the final watch at 100%"), "{message}");
    assert_eq!(calls, ["weight 10", "weight 50", "weight 100", "abort"], "never promoted");
}

#[test]
fn a_query_that_errors_aborts_as_inconclusive() {
    let flags = AnalysisFlags {
        prometheus: Some(format!("http://127.0.0.1:{}", slipway_testkit::free_port())),
        metric: vec!["errors:sum(rate(errors_total[1m]))<=0.05".to_owned()],
        ..AnalysisFlags::default()
    };
    let request = request(&[10, 50], Some(Duration::from_secs(1)), &flags);
    let started = Instant::now();
    let (calls, result, log) = judge(|_| false, &request);
    let Err(DeployError::Failed { message, status, .. }) = result else { panic!("{result:?}\n{log}") };
    assert_eq!(status, Status::Aborted);
    assert!(message.contains("at step 1 of 2 at 10%: the gate errors is inconclusive"), "{message}");
    assert!(message.contains("cannot be queried"), "{message}");
    assert_eq!(calls, ["weight 10", "abort"]);
    assert!(started.elapsed() < Duration::from_secs(5), "the error ends the window at once");
}

fn blue_green(bake: Duration, flags: &AnalysisFlags) -> DeployRequest {
    let args = RolloutArgs { bake: Some(bake), ..RolloutArgs::default() };
    DeployRequest { rollout: Rollout::new(Strategy::BlueGreen, &args).unwrap(), ..request(&[10], None, flags) }
}

#[test]
fn a_blue_green_switch_judged_before_and_after_it_is_promoted() {
    let request = blue_green(Duration::from_secs(1), &gates("5%"));
    let edge = Edge::start(|_| false);
    let calls = Arc::new(Mutex::new(Vec::new()));
    let mut shift = FakeShift { url: edge.server.url(), weight: Arc::clone(&edge.weight), calls: Arc::clone(&calls) };
    let console = CapturedLog::default().console("deploy", CiMode::Plain);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let analysis = request.analysis.clone().unwrap();
    let deadline = Instant::now() + request.timeout;
    let judged = runtime.block_on(run_blue_green(&mut shift, &request, &analysis, deadline, &console)).unwrap();
    // Weight 0: the new version answers its probe route only; 100: the switch.
    assert_eq!(*calls.lock().unwrap(), ["weight 0", "weight 100", "promote"]);
    let rows = timeline_details(&judged.records, 0);
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].0, "before the switch");
    assert_eq!(rows[1].0, "after the switch");
    assert!(rows.iter().all(|(_, words)| words.starts_with("passed after")), "{rows:?}");
}

#[test]
fn a_blue_green_gate_crossed_before_the_switch_aborts_with_the_old_version_untouched() {
    let request = blue_green(Duration::from_secs(1), &gates("5%"));
    let (calls, result, log) = judge(|weight| weight == 0, &request);
    let Err(DeployError::Failed { message, status, detail }) = result else { panic!("{result:?}\n{log}") };
    assert_eq!(status, Status::Aborted);
    assert!(
        message.starts_with("the new version was aborted before the switch: the gate error rate was crossed"),
        "{message}"
    );
    assert!(message.ends_with("the new version was removed; the old version kept all traffic throughout"), "{message}");
    assert_eq!(calls, ["weight 0", "abort"], "never switched");
    assert_eq!(detail.len(), 1);
    assert!(detail[0].starts_with("before the switch: failed"), "{detail:?}");
}

#[test]
fn a_blue_green_gate_crossed_after_the_switch_switches_back() {
    let request = blue_green(Duration::from_secs(1), &gates("5%"));
    let (calls, result, log) = judge(|weight| weight == 100, &request);
    let Err(DeployError::Failed { message, status, detail }) = result else { panic!("{result:?}\n{log}") };
    assert_eq!(status, Status::RolledBack);
    assert!(
        message.starts_with("the switch to the new version was rolled back after the switch: the gate error rate"),
        "{message}"
    );
    assert!(message.ends_with("all traffic is back on the old version and the new version was removed"), "{message}");
    assert_eq!(calls, ["weight 0", "weight 100", "abort"], "never promoted");
    assert!(detail[0].starts_with("before the switch: passed"), "{detail:?}");
    assert!(detail[1].starts_with("after the switch: failed"), "{detail:?}");
}

#[test]
fn bad_analysis_input_is_refused_before_any_change() {
    let refused = |request: &DeployRequest, judged: &[Strategy]| match check_request("docker", judged, request) {
        Err(DeployError::Usage(message)) => message,
        other => panic!("{other:?}"),
    };
    // An analysis flag on a strategy that does not shift traffic.
    let mut rolling = request(&[10], None, &gates("5%"));
    rolling.rollout = Rollout::plain(Strategy::Rolling);
    assert!(
        refused(&rolling, &[Strategy::Canary]).contains("which --strategy rolling on the docker target does not do")
    );
    // Bakes that do not fit in --timeout: three steps and the final watch of 40s is 160s.
    let mut long = request(&[10, 25, 50], Some(Duration::from_secs(40)), &gates("5%"));
    assert!(refused(&long, &[Strategy::Canary]).contains("4 analysis window(s) of --bake 40s (2m40s in all"));
    long.timeout = Duration::from_secs(200);
    assert!(check_request("docker", &[Strategy::Canary], &long).is_ok());
    // A judged blue-green switch: a bake before it and one after it.
    let switch = blue_green(Duration::from_secs(60), &gates("5%"));
    assert!(
        refused(&switch, &[Strategy::Canary, Strategy::BlueGreen])
            .contains("2 analysis window(s) of --bake 1m (2m in all: before the switch and after it)")
    );
    assert!(
        refused(&switch, &[Strategy::Canary]).contains("which --strategy blue-green on the docker target does not do")
    );
    // On --promote.
    let mut promote = request(&[10], None, &gates("5%"));
    promote.phase = Phase::Promote;
    assert!(refused(&promote, &[Strategy::Canary]).contains("--promote takes none"));
    // A PromQL gate without a comparison.
    let no_comparison = AnalysisFlags {
        prometheus: Some("http://127.0.0.1:9090".into()),
        metric: vec!["errors:sum(rate(x[1m]))".into()],
        ..AnalysisFlags::default()
    };
    assert!(no_comparison.parse().unwrap_err().starts_with("--metric: the gate errors has no comparison"));
    assert_eq!(AnalysisFlags::default().parse(), Ok(None), "no flags: the phased canary of before");
}

fn alarm_state(name: &str, state: StateValue, reason: &str) -> DescribeAlarmsOutput {
    DescribeAlarmsOutput::builder()
        .metric_alarms(MetricAlarm::builder().alarm_name(name).state_value(state).state_reason(reason).build())
        .build()
}

#[test]
fn an_alarm_going_to_alarm_aborts_the_canary_naming_it() {
    // OK through step 1 (a 1s bake, a round every 200ms), ALARM soon into step 2.
    let rule = mock!(aws_sdk_cloudwatch::Client::describe_alarms)
        .sequence()
        .output(|| alarm_state("shop-5xx", StateValue::Ok, "fine"))
        .times(7)
        .output(|| {
            alarm_state("shop-5xx", StateValue::Alarm, "Threshold Crossed: 1 datapoint [9.0] was greater than 5.0")
        })
        .repeatedly()
        .build();
    let flags = AnalysisFlags { alarms: vec!["shop-5xx".into()], ..AnalysisFlags::default() };
    let mut request = request(&[10, 25, 50], Some(Duration::from_secs(1)), &flags);
    let cloudwatch = mock_client!(aws_sdk_cloudwatch, RuleMode::Sequential, [&rule]);
    request.analysis.as_mut().unwrap().alarm_client = AlarmClient(Some(Alarms::new(cloudwatch)));
    let (calls, result, log) = judge(|_| false, &request);
    let Err(DeployError::Failed { message, status, .. }) = result else { panic!("{result:?}\n{log}") };
    assert_eq!(status, Status::Aborted);
    assert!(message.contains("the gate alarm shop-5xx was crossed"), "{message}");
    assert!(
        message.contains("observed ALARM (Threshold Crossed: 1 datapoint [9.0] was greater than 5.0)"),
        "{message}"
    );
    assert_eq!(calls.last().map(String::as_str), Some("abort"), "{calls:?}");
    assert!(!calls.contains(&"promote".to_owned()), "{calls:?}");
}

#[test]
fn an_alarm_that_does_not_exist_is_refused_before_any_change() {
    let rule = mock!(aws_sdk_cloudwatch::Client::describe_alarms)
        .sequence()
        .output(|| alarm_state("shop-5xx", StateValue::Ok, "fine"))
        .repeatedly()
        .build();
    let flags = AnalysisFlags { alarms: vec!["shop-5xx".into(), "shop-typo".into()], ..AnalysisFlags::default() };
    let mut request = request(&[10], None, &flags);
    let cloudwatch = mock_client!(aws_sdk_cloudwatch, RuleMode::Sequential, [&rule]);
    request.analysis.as_mut().unwrap().alarm_client = AlarmClient(Some(Alarms::new(cloudwatch)));
    let log = CapturedLog::default();
    let console = log.console("deploy", CiMode::Plain);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    match runtime.block_on(check_alarms(&request, Instant::now() + Duration::from_secs(30), &console)) {
        Err(DeployError::Usage(message)) => {
            assert!(message.starts_with("--alarm: no CloudWatch alarm is named shop-typo"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    request.analysis.as_mut().unwrap().gates.alarms.pop();
    runtime.block_on(check_alarms(&request, Instant::now() + Duration::from_secs(30), &console)).unwrap();
    assert!(log.text().contains("alarm shop-5xx: OK (fine)"), "{}", log.text());
}
