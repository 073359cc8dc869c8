//! Progressive delivery, written once: the step loop of a canary judged by analysis.
//! A target that can shift traffic implements [`TrafficShift`] ("set the new version's
//! weight to N", "abort", "promote", and where its new version can be probed); the
//! loop sets each step's weight, runs verify's analysis ([`slipway_verify::Analysis`])
//! for the bake, and goes on or aborts. After the last step the new version takes all
//! traffic and, with `--bake`, is watched once more before the old one is retired.
//!
//! Bad input is refused before any change ([`check_request`]): analysis flags on a
//! strategy that does not shift traffic, or bakes that do not fit in `--timeout`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use slipway_contract::{Console, interrupt};
use slipway_verify::analysis::WindowReport;
use slipway_verify::{
    AlarmCheckError, Alarms, Analysis, Client, Decision, GateInputs, Gates, Plan as VerifyPlan, VerifyArgs, humanize,
};

use crate::rollout::Strategy;
use crate::status::Status;
use crate::target::{DeployError, DeployRequest, Phase};

/// The analysis flags, under verify's names (and variables), so a workflow moves a gate
/// from one step to the other without renaming it.
#[derive(Debug, Clone, Default, PartialEq, Eq, clap::Args)]
pub struct AnalysisFlags {
    /// Canary: judge each step by analysis of the new version for the --bake, abort on a
    /// crossed gate (traffic back to the old version, the canary removed, exit 1,
    /// status=aborted), promote after the last step. Blue-green: judge the new version
    /// before the switch and after it (switched back on a crossed gate). The largest
    /// share of failed probes of --check, `5%` or `0.05`. Default with other gates: 0,
    /// every probe passes.
    #[arg(long, env = "SLIPWAY_MAX_ERROR_RATE", value_name = "RATIO")]
    pub max_error_rate: Option<String>,

    /// Canary analysis: the largest p95 latency of the probes (`250ms`).
    #[arg(long, env = "SLIPWAY_LATENCY_P95", value_name = "DURATION", allow_hyphen_values = true)]
    pub latency_p95: Option<String>,

    /// Canary analysis: the largest p99 latency of the probes (`500ms`).
    #[arg(long, env = "SLIPWAY_LATENCY_P99", value_name = "DURATION", allow_hyphen_values = true)]
    pub latency_p99: Option<String>,

    /// Canary analysis: the new version must serve exactly this version at /version
    /// (a JSON object's `version` field, or the whole body).
    #[arg(long, env = "SLIPWAY_EXPECT_VERSION", value_name = "VALUE")]
    pub expect_version: Option<String>,

    /// Canary analysis: the Prometheus server the --metric gates query.
    #[arg(long, env = "SLIPWAY_PROMETHEUS", value_name = "URL")]
    pub prometheus: Option<String>,

    /// Canary analysis: a Prometheus gate NAME:PROMQL<=THRESHOLD (<, <=, >, >=, ==),
    /// queried every round; a query error or no data is a failure. Repeatable.
    #[arg(long, env = "SLIPWAY_METRIC", value_name = "NAME:PROMQL<=THRESHOLD")]
    pub metric: Vec<String>,

    /// Canary analysis: a CloudWatch alarm that must stay out of ALARM, read every round
    /// (cloudwatch:DescribeAlarms); INSUFFICIENT_DATA at a window's end or an AWS error is
    /// a failure. An alarm that does not exist is refused before any change. Repeatable.
    #[arg(long = "alarm", env = "SLIPWAY_ALARM", value_name = "NAME")]
    pub alarms: Vec<String>,
}

impl AnalysisFlags {
    fn gate_inputs(&self) -> GateInputs<'_> {
        GateInputs {
            max_error_rate: self.max_error_rate.as_deref(),
            latency_p95: self.latency_p95.as_deref(),
            latency_p99: self.latency_p99.as_deref(),
            prometheus: self.prometheus.as_deref(),
            metrics: &self.metric,
            alarms: &self.alarms,
        }
    }

    fn expected_version(&self) -> Option<&str> {
        self.expect_version.as_deref().map(str::trim).filter(|v| !v.is_empty())
    }

    /// The flags given, for messages.
    fn given(&self) -> Vec<&'static str> {
        let mut flags = self.gate_inputs().given_flags();
        if self.expected_version().is_some() {
            flags.push("--expect-version");
        }
        flags
    }

    /// The analysis a deployment runs, or `None` without analysis flags; bad gates
    /// are refused (exit 2).
    pub fn parse(&self) -> Result<Option<AnalysisRequest>, String> {
        if self.given().is_empty() {
            return Ok(None);
        }
        let gates = Gates::parse(&self.gate_inputs()).map_err(|error| error.to_string())?;
        Ok(Some(AnalysisRequest {
            gates,
            expect_version: self.expected_version().map(str::to_owned),
            recorder: Recorder::default(),
            alarm_client: AlarmClient::default(),
        }))
    }
}

/// What judges each step of a canary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnalysisRequest {
    pub gates: Gates,
    pub expect_version: Option<String>,
    /// Where the loop records each window, for the run's record (`timeline`).
    pub recorder: Recorder,
    /// The CloudWatch client of the `--alarm` gates; by default one from the environment.
    pub alarm_client: AlarmClient,
}

/// The client the alarm gates read through: `None` builds one from the default AWS
/// configuration when needed (tests give a mocked one).
#[derive(Debug, Clone, Default)]
pub struct AlarmClient(pub Option<Alarms>);

impl AlarmClient {
    async fn get(&self) -> Alarms {
        match &self.0 {
            Some(alarms) => alarms.clone(),
            None => Alarms::from_env().await,
        }
    }
}

/// A connection, not part of what was asked: two requests asking the same are equal.
impl PartialEq for AlarmClient {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for AlarmClient {}

/// How long the check phase waits for CloudWatch (its SDK retries included).
const ALARM_CHECK_TIMEOUT: Duration = Duration::from_secs(30);

/// Refuses, before any change (exit 2), `--alarm` names no CloudWatch alarm has; an AWS
/// error reading them fails the run, also before any change.
pub async fn check_alarms(request: &DeployRequest, deadline: Instant, console: &Console) -> Result<(), DeployError> {
    let Some(analysis) = &request.analysis else { return Ok(()) };
    if analysis.gates.alarms.is_empty() || request.phase != Phase::Deploy {
        return Ok(());
    }
    let alarms = analysis.alarm_client.get().await;
    let within = deadline.saturating_duration_since(Instant::now()).min(ALARM_CHECK_TIMEOUT);
    match alarms.check_exist(&analysis.gates.alarms, within).await {
        Ok(states) => {
            for alarm in states {
                console.info(&format!("alarm {}: {} ({})", alarm.name, alarm.state, alarm.reason));
            }
            Ok(())
        }
        Err(error @ AlarmCheckError::Missing(_)) => Err(DeployError::usage(error.to_string())),
        Err(error) => Err(DeployError::failed(error.to_string(), Status::Unchanged)),
    }
}

/// The windows a run judged so far, shared by every clone of its request: the step
/// loop writes them, the report, the failure's outputs and the GitHub status read them.
#[derive(Debug, Clone, Default)]
pub struct Recorder(Arc<Mutex<Vec<StepRecord>>>);

impl Recorder {
    fn push(&self, record: StepRecord) {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(record);
    }

    pub fn records(&self) -> Vec<StepRecord> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }
}

/// A sink, not part of what was asked: two requests asking the same are equal.
impl PartialEq for Recorder {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Recorder {}

impl AnalysisRequest {
    /// The gates on one line: `error rate <= 5%, p95 <= 250ms, errors <= 0.05`.
    pub fn describe(&self) -> String {
        let gates = &self.gates;
        let mut parts = vec![format!("error rate <= {}%", slipway_verify::gates::number(gates.max_error_rate * 100.0))];
        if let Some(p95) = gates.latency_p95 {
            parts.push(format!("p95 <= {}", humanize(p95)));
        }
        if let Some(p99) = gates.latency_p99 {
            parts.push(format!("p99 <= {}", humanize(p99)));
        }
        if let Some(version) = &self.expect_version {
            parts.push(format!("version == {version}"));
        }
        parts.extend(gates.metrics.iter().map(|m| format!("{} {}", m.name, m.threshold_words())));
        parts.extend(gates.alarms.iter().map(|name| format!("alarm {name} not ALARM")));
        parts.join(", ")
    }
}

/// Refuses, before anything changes (exit 2), analysis that cannot run: on a phase other
/// than a deployment, on a strategy `target` does not judge (`judged`), or with bakes
/// that do not fit in `--timeout`.
pub fn check_request(target: &str, judged: &[Strategy], request: &DeployRequest) -> Result<(), DeployError> {
    let Some(analysis) = &request.analysis else { return Ok(()) };
    if request.phase != Phase::Deploy {
        return Err(DeployError::usage(format!(
            "analysis flags ({}) judge a deployment's steps; --{} takes none",
            analysis.describe(),
            request.phase.as_str()
        )));
    }
    let strategy = request.strategy();
    if !judged.contains(&strategy) {
        let shifting: Vec<&str> = judged.iter().map(|s| s.as_str()).collect();
        let does = if shifting.is_empty() {
            "no strategy that shifts traffic step by step".to_owned()
        } else {
            format!("--strategy {}", shifting.join(", "))
        };
        return Err(DeployError::usage(format!(
            "analysis flags ({}) judge traffic shifted step by step, which --strategy {strategy} on the {target} target does not do; it judges {does} (or run verify --watch after the deployment)",
            analysis.describe()
        )));
    }
    let bake = request.rollout.bake_or_default();
    let (windows, each) = if strategy == Strategy::BlueGreen {
        // Before the switch and after it.
        (2, "before the switch and after it".to_owned())
    } else {
        let steps = request.rollout.steps_or_default().len();
        // One bake per step, and the final watch when --bake is given.
        let watch = request.rollout.bake.is_some();
        (
            steps + usize::from(watch),
            format!("each of the {steps} step(s){}", if watch { " and the final watch" } else { "" }),
        )
    };
    let total = bake.saturating_mul(u32::try_from(windows).unwrap_or(u32::MAX));
    if total >= request.timeout {
        return Err(DeployError::usage(format!(
            "{windows} analysis window(s) of --bake {} ({} in all: {each}) do not fit in --timeout {}; raise --timeout or shorten --bake",
            humanize(bake),
            humanize(total),
            humanize(request.timeout)
        )));
    }
    Ok(())
}

/// Where the analysis probes the new version.
#[derive(Debug, Clone)]
pub struct ProbeTarget {
    /// The base URL the check path is appended to.
    pub url: String,
    /// The path probed (deploy's --check).
    pub check: String,
    /// Request headers, `NAME:VALUE` (a probe route's header that reaches the new version alone).
    pub headers: Vec<String>,
    /// The TLS client settings for an https `url` the machine's roots cannot judge (the
    /// proxy's certificate, pinned); `None`: verify's own.
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

impl ProbeTarget {
    /// Whether `other` probes the same place (the TLS settings go with the URL).
    fn same_place(&self, other: &Self) -> bool {
        (&self.url, &self.check, &self.headers) == (&other.url, &other.check, &other.headers)
    }
}

/// A target that shifts traffic between the live version and a new one.
#[allow(async_fn_in_trait)] // Used through generics, never as `dyn`.
pub trait TrafficShift {
    /// Where the new version answers for the analysis; read again after each weight is
    /// set (a target may judge the new version elsewhere once it takes all traffic).
    fn probe_target(&self) -> ProbeTarget;

    /// Gives the new version `percent` of the traffic (100: all of it, the old version
    /// kept running for an abort).
    async fn set_weight(&mut self, percent: u8, deadline: Instant, console: &Console) -> Result<(), String>;

    /// Gives all traffic back to the old version and removes the new one.
    async fn abort(&mut self, deadline: Instant, console: &Console) -> Result<(), String>;

    /// The new version keeps all traffic; the old one is retired. The error says where a
    /// failure left the target: where the new version already takes all traffic and only
    /// retiring the old one failed, [`retiring_failed`]; a target whose promotion is a
    /// rollout of its own (ECS) names its own end state.
    async fn promote(&mut self, deadline: Instant, console: &Console) -> Result<(), DeployError>;
}

/// One analysis window: the weight it judged and what it saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepRecord {
    /// 1-based; a canary's final watch is numbered after the steps.
    pub number: usize,
    pub percent: u8,
    /// `step 2 of 3 at 25%`, `final watch at 100%`, `before the switch`, `after the switch`.
    pub name: String,
    pub window: WindowReport,
}

impl StepRecord {
    /// `passed: error rate 0% (0 of 20) (<= 5%), ...`, or the decision.
    fn words(&self) -> String {
        let readings: Vec<String> = self.window.final_readings().iter().map(ToString::to_string).collect();
        let verdict = match &self.window.decision {
            Decision::Passed => "passed".to_owned(),
            other => format!("failed: {other}"),
        };
        format!("{verdict} after {}; {}", humanize(self.window.elapsed), readings.join(", "))
    }
}

/// The timeline of a judged rollout: the summary's rows, one per window. (`_steps` is
/// kept for the callers written before each record carried its name.)
pub fn timeline_details(records: &[StepRecord], _steps: usize) -> Vec<(String, String)> {
    records.iter().map(|record| (record.name.clone(), record.words())).collect()
}

/// A judged rollout's end.
#[derive(Debug)]
pub struct Judged {
    pub records: Vec<StepRecord>,
}

/// What the loop judges, for its windows and its messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Judging {
    Canary,
    BlueGreen,
}

/// One window to judge: the weight set before it, its name, and whether traffic had
/// already moved to the new version for good (a failure then is a rollback).
struct Window {
    number: usize,
    percent: u8,
    name: String,
    switched: bool,
}

/// Runs the canary's steps on `shift`, judging each by `analysis` for the bake. The new
/// version must already take the first step's share or less. Ok once promoted; on a
/// crossed gate traffic goes back and the error's status is `aborted` (a step) or
/// `rolled-back` (the final watch), with the timeline as its detail.
pub async fn run_canary<T: TrafficShift>(
    shift: &mut T,
    request: &DeployRequest,
    analysis: &AnalysisRequest,
    deadline: Instant,
    console: &Console,
) -> Result<Judged, DeployError> {
    let steps = request.rollout.steps_or_default();
    let count = steps.len();
    let mut windows: Vec<Window> = steps
        .iter()
        .copied()
        .enumerate()
        .map(|(i, percent)| Window {
            number: i + 1,
            percent,
            name: format!("step {} of {count} at {percent}%", i + 1),
            switched: false,
        })
        .collect();
    if request.rollout.bake.is_some() {
        windows.push(Window {
            number: count + 1,
            percent: 100,
            name: "final watch at 100%".to_owned(),
            switched: true,
        });
    }
    let records = run_windows(shift, Judging::Canary, windows, request, analysis, deadline, console).await?;
    if request.rollout.bake.is_none() {
        shift.set_weight(100, deadline, console).await.map_err(|error| {
            DeployError::failed(
                format!("every step passed, but the new version could not take all traffic: {error}"),
                Status::Unknown,
            )
        })?;
    }
    promote(shift, deadline, console).await?;
    Ok(Judged { records })
}

/// Runs a blue-green switch on `shift` judged by `analysis`: the new version, serving
/// nothing yet (weight 0) but answering its probe route, is judged for the bake; on a
/// crossed gate it is removed and the old version never lost a request (`aborted`).
/// Then all traffic switches to it (weight 100) and it is watched for the bake again;
/// a crossed gate switches back (`rolled-back`). Ok once the old version is retired.
pub async fn run_blue_green<T: TrafficShift>(
    shift: &mut T,
    request: &DeployRequest,
    analysis: &AnalysisRequest,
    deadline: Instant,
    console: &Console,
) -> Result<Judged, DeployError> {
    let windows = vec![
        Window { number: 1, percent: 0, name: "before the switch".to_owned(), switched: false },
        Window { number: 2, percent: 100, name: "after the switch".to_owned(), switched: true },
    ];
    let records = run_windows(shift, Judging::BlueGreen, windows, request, analysis, deadline, console).await?;
    promote(shift, deadline, console).await?;
    Ok(Judged { records })
}

async fn promote<T: TrafficShift>(shift: &mut T, deadline: Instant, console: &Console) -> Result<(), DeployError> {
    shift.promote(deadline, console).await
}

/// A promotion that moved all traffic to the new version but could not retire the old one.
pub fn retiring_failed(error: impl std::fmt::Display) -> DeployError {
    DeployError::failed(
        format!("every window passed and the new version takes all traffic, but retiring the old one failed: {error}"),
        Status::Promoted,
    )
}

/// Sets each window's weight and judges it for the bake; the first failure backs out.
async fn run_windows<T: TrafficShift>(
    shift: &mut T,
    judging: Judging,
    windows: Vec<Window>,
    request: &DeployRequest,
    analysis: &AnalysisRequest,
    deadline: Instant,
    console: &Console,
) -> Result<Vec<StepRecord>, DeployError> {
    let bake = request.rollout.bake_or_default();
    let mut probe = shift.probe_target();
    let mut judge = Judge::new(&probe, analysis, bake, console).await?;
    let mut records: Vec<StepRecord> = Vec::new();
    for Window { number, percent, name, switched } in windows {
        let failed = Failed { judging, name: &name, switched };
        if Instant::now() + bake >= deadline {
            let reason = format!("--timeout ends before {name} could be judged for {}", humanize(bake));
            return Err(back_out(shift, &records, failed, &reason, deadline, console).await);
        }
        if let Err(error) = shift.set_weight(percent, deadline, console).await {
            let reason = format!("the traffic could not be shifted: {error}");
            return Err(back_out(shift, &records, failed, &reason, deadline, console).await);
        }
        // Where the new version answers may move with the traffic (ECS: the production
        // listener once it serves the new revision alone).
        let moved = shift.probe_target();
        if !moved.same_place(&probe) {
            console.info(&format!("{name}: the analysis probes {}{}", moved.url, moved.check));
            judge = match Judge::new(&moved, analysis, bake, console).await {
                Ok(judge) => judge,
                Err(error) => {
                    let reason = error.to_string();
                    return Err(back_out(shift, &records, failed, &reason, deadline, console).await);
                }
            };
            probe = moved;
        }
        let group = console.group(&format!("analysis of {name} for {}", humanize(bake)));
        // An interruption ends the window at once: the window is not judged, so it is
        // backed out like a crossed gate.
        let window = tokio::select! {
            window = judge.analysis.run(&judge.client, bake, console) => window,
            signal = interrupt::interrupted() => {
                drop(group);
                let reason = format!("deploy was interrupted by {signal} before the window ended");
                return Err(back_out(shift, &records, failed, &reason, deadline, console).await);
            }
        };
        drop(group);
        let decision = window.decision.clone();
        let record = StepRecord { number, percent, name: name.clone(), window };
        analysis.recorder.push(record.clone());
        records.push(record);
        if !decision.passed() {
            let reason = decision.to_string();
            return Err(back_out(shift, &records, failed, &reason, deadline, console).await);
        }
        console.info(&format!("{name}: every gate held ({})", analysis.describe()));
    }
    Ok(records)
}

/// The window that failed, for the message.
struct Failed<'a> {
    judging: Judging,
    name: &'a str,
    switched: bool,
}

/// Traffic back to the old version, the new one removed; the error that says so.
async fn back_out<T: TrafficShift>(
    shift: &mut T,
    records: &[StepRecord],
    failed: Failed<'_>,
    reason: &str,
    deadline: Instant,
    console: &Console,
) -> DeployError {
    let Failed { judging, name, switched } = failed;
    console.warning(&format!("{name}: {reason}; giving all traffic back to the old version"));
    let detail: Vec<String> =
        timeline_details(records, 0).into_iter().map(|(step, words)| format!("{step}: {words}")).collect();
    let removed = match judging {
        Judging::Canary => "the canary was removed",
        Judging::BlueGreen => "the new version was removed",
    };
    let (status, tail) = match shift.abort(deadline, console).await {
        Ok(()) if switched => (Status::RolledBack, format!("all traffic is back on the old version and {removed}")),
        Ok(()) if judging == Judging::BlueGreen => {
            (Status::Aborted, format!("{removed}; the old version kept all traffic throughout"))
        }
        Ok(()) => (Status::Aborted, format!("all traffic is back on the old version and {removed}")),
        Err(error) => (Status::Unknown, format!("and giving traffic back to the old version failed: {error}")),
    };
    let what = match (judging, switched) {
        (Judging::Canary, true) => "the promoted canary was rolled back",
        (Judging::Canary, false) => "the canary was aborted",
        (Judging::BlueGreen, true) => "the switch to the new version was rolled back",
        (Judging::BlueGreen, false) => "the new version was aborted",
    };
    let at = match (judging, switched) {
        (Judging::BlueGreen, _) => name.to_owned(),
        (Judging::Canary, true) => format!("at the {name}"),
        (Judging::Canary, false) => format!("at {name}"),
    };
    DeployError::Failed { message: format!("{what} {at}: {reason}; {tail}"), status, detail }
}

/// The analysis of one probe target and the client its probes go through.
struct Judge {
    analysis: Analysis,
    client: Client,
}

impl Judge {
    async fn new(
        probe: &ProbeTarget,
        analysis: &AnalysisRequest,
        bake: Duration,
        console: &Console,
    ) -> Result<Self, DeployError> {
        let (checks_plan, client) = probe_plan(probe, analysis, bake, console)?;
        let mut judge = Analysis::new(&checks_plan, analysis.gates.clone())
            .map_err(|error| DeployError::failed(error, Status::Unknown))?;
        if !analysis.gates.alarms.is_empty() {
            judge = judge.with_alarms(analysis.alarm_client.get().await);
        }
        Ok(Self { analysis: judge, client })
    }
}

/// verify's plan of the probes (one round: the check path, and /version when a version
/// is expected) and its client, with a round every bake/20 (200ms to 5s).
fn probe_plan(
    probe: &ProbeTarget,
    analysis: &AnalysisRequest,
    bake: Duration,
    console: &Console,
) -> Result<(VerifyPlan, Client), DeployError> {
    let interval = (bake / 20).clamp(Duration::from_millis(200), Duration::from_secs(5));
    let args = VerifyArgs {
        url: probe.url.clone(),
        checks: vec![probe.check.clone()],
        method: "GET".to_owned(),
        headers: probe.headers.clone(),
        expect_status: "2xx".to_owned(),
        expect_version: analysis.expect_version.clone(),
        version_path: "/version".to_owned(),
        version_pointer: "/version".to_owned(),
        timeout: "1m".to_owned(),
        interval: format!("{}ms", interval.as_millis()),
        consecutive: "1".to_owned(),
        request_timeout: "5s".to_owned(),
        ..VerifyArgs::default()
    };
    let plan = VerifyPlan::from_args(&args, &|_| None, console).map_err(|error| {
        DeployError::failed(format!("the analysis cannot probe {}: {error}", probe.url), Status::Unknown)
    })?;
    let client = Client::with_tls(&plan, probe.tls.as_deref().cloned())
        .map_err(|error| DeployError::failed(error.to_string(), Status::Unknown))?;
    Ok((plan, client))
}

/// The record of a judged run (`None` without analysis, or before a window was judged):
/// the target, the strategy, the end state, the bake, each window's weight, its readings
/// (each gate's observed value against its threshold) and decision, and the run's
/// decision (`message`: the failure's line, else what the end state means). The
/// `timeline` output carries it, the summary's table renders it.
pub fn run_record(target: &str, request: &DeployRequest, status: Status, message: Option<&str>) -> Option<Value> {
    let analysis = request.analysis.as_ref()?;
    let records = analysis.recorder.records();
    if records.is_empty() {
        return None;
    }
    let windows: Vec<Value> = records
        .iter()
        .map(|record| {
            let window = &record.window;
            let (decision, reason) = match &window.decision {
                Decision::Passed => ("passed", None),
                Decision::Crossed { .. } => ("crossed", Some(window.decision.to_string())),
                Decision::Inconclusive { .. } => ("inconclusive", Some(window.decision.to_string())),
            };
            let gates: Vec<Value> = window
                .final_readings()
                .iter()
                .map(|reading| {
                    json!({
                        "gate": reading.gate,
                        "observed": reading.observed,
                        "threshold": reading.threshold,
                        "state": reading.state.as_str(),
                    })
                })
                .collect();
            let mut value = json!({
                "window": record.name,
                "weight": record.percent,
                "bake": humanize(window.window),
                "judged-for": humanize(window.elapsed),
                "probes": window.probes,
                "failed-probes": window.failed,
                "gates": gates,
                "decision": decision,
            });
            if let Some(reason) = reason {
                value["reason"] = Value::from(reason);
            }
            value
        })
        .collect();
    let decision = message
        .map_or_else(|| format!("every window passed: the new version takes all traffic ({status})"), str::to_owned);
    Some(json!({
        "target": target,
        "strategy": request.strategy().as_str(),
        "status": status.as_str(),
        "bake": humanize(request.rollout.bake_or_default()),
        "gates": analysis.describe(),
        "windows": windows,
        "decision": decision,
    }))
}

/// The summary's table of a run's record: one row per gate of each window.
pub fn record_table(record: &Value) -> (Vec<&'static str>, Vec<Vec<String>>) {
    let headers = vec!["window", "weight", "judged for", "gate", "observed", "threshold", "decision"];
    let text = |value: &Value| value.as_str().map_or_else(|| value.to_string(), str::to_owned);
    let mut rows = Vec::new();
    for window in record["windows"].as_array().into_iter().flatten() {
        let decision = window.get("reason").map_or_else(|| text(&window["decision"]), text);
        for gate in window["gates"].as_array().into_iter().flatten() {
            rows.push(vec![
                text(&window["window"]),
                format!("{}%", window["weight"]),
                format!("{} of {}", text(&window["judged-for"]), text(&window["bake"])),
                text(&gate["gate"]),
                text(&gate["observed"]),
                text(&gate["threshold"]),
                match (window["decision"].as_str(), gate["state"].as_str()) {
                    (Some("passed"), _) => "passed".to_owned(),
                    (_, Some("ok")) => "ok".to_owned(),
                    (_, state) => format!("{}: {decision}", state.unwrap_or_default()),
                },
            ]);
        }
    }
    (headers, rows)
}

/// The record in a few words for a GitHub deployment status (140 characters):
/// `aborted; 10% ok; 25% error rate 40% (4 of 10) vs <= 5%`.
pub fn record_brief(record: &Value) -> String {
    let mut parts = vec![record["status"].as_str().unwrap_or_default().to_owned()];
    for window in record["windows"].as_array().into_iter().flatten() {
        let name = match window["window"].as_str().unwrap_or_default() {
            name if name.starts_with("step ") => format!("{}%", window["weight"]),
            "final watch at 100%" => "watch 100%".to_owned(),
            name => name.trim_start_matches("the ").replace(" the ", " "),
        };
        let failed: Vec<String> = window["gates"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|gate| gate["state"] != "ok")
            .map(|gate| {
                format!(
                    "{} {} vs {}",
                    gate["gate"].as_str().unwrap_or_default(),
                    gate["observed"].as_str().unwrap_or_default(),
                    gate["threshold"].as_str().unwrap_or_default()
                )
            })
            .collect();
        parts.push(match (window["decision"].as_str(), failed.is_empty()) {
            (Some("passed"), _) => format!("{name} ok"),
            (_, false) => format!("{name} {}", failed.join(", ")),
            (decision, true) => format!("{name} {}", decision.unwrap_or_default()),
        });
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use slipway_verify::analysis::{Checkpoint, GateState, Reading};

    use super::*;
    use crate::rollout::{Rollout, RolloutArgs, Steps};
    use crate::target::Phase;

    fn reading(gate: &str, observed: &str, threshold: &str, state: GateState) -> Reading {
        Reading { gate: gate.into(), observed: observed.into(), threshold: threshold.into(), state }
    }

    fn window(number: usize, percent: u8, name: &str, readings: Vec<Reading>, decision: Decision) -> StepRecord {
        let window = WindowReport {
            window: Duration::from_secs(20),
            elapsed: if decision.passed() { Duration::from_secs(20) } else { Duration::from_secs(11) },
            probes: 12,
            failed: if decision.passed() { 0 } else { 4 },
            latency: None,
            version_seen: Some("2.0.0".into()),
            last_status: Some(200),
            last_failure: None,
            timeline: vec![Checkpoint { at: Duration::from_secs(11), readings }],
            decision,
        };
        StepRecord { number, percent, name: name.into(), window }
    }

    /// A canary of steps 10,25 judged for 20s: step 1 passed, step 2 crossed its error rate.
    fn aborted_run() -> DeployRequest {
        let flags = AnalysisFlags {
            max_error_rate: Some("5%".into()),
            latency_p95: Some("250ms".into()),
            ..AnalysisFlags::default()
        };
        let args = RolloutArgs {
            steps: Some(Steps(vec![10, 25])),
            bake: Some(Duration::from_secs(20)),
            ..RolloutArgs::default()
        };
        let request = DeployRequest {
            image: "127.0.0.1:5555/app@sha256:0000".into(),
            rollout: Rollout::new(Strategy::Canary, &args).unwrap_or_else(|e| panic!("{e}")),
            phase: Phase::Deploy,
            version_label: "v2".into(),
            port: 8080,
            timeout: Duration::from_secs(600),
            dry_run: false,
            analysis: flags.parse().unwrap_or_else(|e| panic!("{e}")),
        };
        let recorder = request.analysis.as_ref().map(|a| a.recorder.clone()).unwrap_or_default();
        recorder.push(window(
            1,
            10,
            "step 1 of 2 at 10%",
            vec![
                reading("error rate", "0% (0 of 12)", "<= 5%", GateState::Holding),
                reading("p95", "14ms", "<= 250ms", GateState::Holding),
            ],
            Decision::Passed,
        ));
        recorder.push(window(
            2,
            25,
            "step 2 of 2 at 25%",
            vec![
                reading("error rate", "33.3% (4 of 12)", "<= 5%", GateState::Crossed),
                reading("p95", "15ms", "<= 250ms", GateState::Holding),
            ],
            Decision::Crossed {
                gate: "error rate".into(),
                observed: "33.3% (4 of 12)".into(),
                threshold: "<= 5%".into(),
                at: Duration::from_secs(11),
            },
        ));
        request
    }

    #[test]
    fn a_judged_run_s_record_its_table_and_its_brief() {
        let request = aborted_run();
        // Clones of the request share the recorder: what the loop wrote, the report reads.
        let clone = request.clone();
        let record =
            run_record("docker", &clone, Status::Aborted, Some("the canary was aborted at step 2 of 2 at 25%"))
                .unwrap_or_else(|| panic!("no record"));
        insta::assert_snapshot!(serde_json::to_string_pretty(&record).unwrap_or_default());
        let (headers, rows) = record_table(&record);
        let mut summary = slipway_contract::Summary::new("deploy to docker");
        summary.table(&headers, &rows);
        insta::assert_snapshot!(summary.markdown());
        let brief = record_brief(&record);
        assert_eq!(brief, "aborted; 10% ok; 25% error rate 33.3% (4 of 12) vs <= 5%");
        assert!(brief.chars().count() <= crate::github::DESCRIPTION_LIMIT);
    }

    #[test]
    fn a_run_without_analysis_or_before_a_window_has_no_record() {
        let mut request = aborted_run();
        let fresh = AnalysisFlags { max_error_rate: Some("5%".into()), ..AnalysisFlags::default() };
        request.analysis = fresh.parse().unwrap_or_else(|e| panic!("{e}"));
        assert!(run_record("docker", &request, Status::Unchanged, Some("failed")).is_none());
        request.analysis = None;
        assert!(run_record("docker", &request, Status::Deployed, None).is_none());
    }
}
