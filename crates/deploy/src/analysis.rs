//! Progressive delivery, written once: the step loop of a canary judged by analysis.
//! A target that can shift traffic implements [`TrafficShift`] ("set the new version's
//! weight to N", "abort", "promote", and where its new version can be probed); the
//! loop sets each step's weight, runs verify's analysis ([`slipway_verify::Analysis`])
//! for the bake, and goes on or aborts. After the last step the new version takes all
//! traffic and, with `--bake`, is watched once more before the old one is retired.
//!
//! Bad input is refused before any change ([`check_request`]): analysis flags on a
//! strategy that does not shift traffic, or bakes that do not fit in `--timeout`.

use std::time::{Duration, Instant};

use slipway_contract::{Console, interrupt};
use slipway_verify::analysis::WindowReport;
use slipway_verify::{Analysis, Client, Decision, GateInputs, Gates, Plan as VerifyPlan, VerifyArgs, humanize};

use crate::rollout::Strategy;
use crate::status::Status;
use crate::target::{DeployError, DeployRequest, Phase};

/// The analysis flags, under verify's names (and variables), so a workflow moves a gate
/// from one step to the other without renaming it.
#[derive(Debug, Clone, Default, PartialEq, Eq, clap::Args)]
pub struct AnalysisFlags {
    /// Canary: judge each step by analysis of the new version for the --bake, abort on a
    /// crossed gate (traffic back to the old version, the canary removed, exit 1,
    /// status=aborted), promote after the last step. The largest share of failed probes
    /// of --check, `5%` or `0.05`. Default with other gates: 0, every probe passes.
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
}

impl AnalysisFlags {
    fn gate_inputs(&self) -> GateInputs<'_> {
        GateInputs {
            max_error_rate: self.max_error_rate.as_deref(),
            latency_p95: self.latency_p95.as_deref(),
            latency_p99: self.latency_p99.as_deref(),
            prometheus: self.prometheus.as_deref(),
            metrics: &self.metric,
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
        Ok(Some(AnalysisRequest { gates, expect_version: self.expected_version().map(str::to_owned) }))
    }
}

/// What judges each step of a canary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnalysisRequest {
    pub gates: Gates,
    pub expect_version: Option<String>,
}

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
    let steps = request.rollout.steps_or_default();
    let bake = request.rollout.bake_or_default();
    // One bake per step, and the final watch when --bake is given.
    let windows = steps.len() + usize::from(request.rollout.bake.is_some());
    let total = bake.saturating_mul(u32::try_from(windows).unwrap_or(u32::MAX));
    if total >= request.timeout {
        return Err(DeployError::usage(format!(
            "{windows} analysis window(s) of --bake {} ({} in all: each of the {} step(s){}) do not fit in --timeout {}; raise --timeout or shorten --bake",
            humanize(bake),
            humanize(total),
            steps.len(),
            if request.rollout.bake.is_some() { " and the final watch" } else { "" },
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
    pub tls: Option<std::sync::Arc<rustls::ClientConfig>>,
}

/// A target that shifts traffic between the live version and a new one.
#[allow(async_fn_in_trait)] // Used through generics, never as `dyn`.
pub trait TrafficShift {
    /// Where the new version answers for the analysis.
    fn probe_target(&self) -> ProbeTarget;

    /// Gives the new version `percent` of the traffic (100: all of it, the old version
    /// kept running for an abort).
    async fn set_weight(&mut self, percent: u8, deadline: Instant, console: &Console) -> Result<(), String>;

    /// Gives all traffic back to the old version and removes the new one.
    async fn abort(&mut self, deadline: Instant, console: &Console) -> Result<(), String>;

    /// The new version keeps all traffic; the old one is retired.
    async fn promote(&mut self, deadline: Instant, console: &Console) -> Result<(), String>;
}

/// One analysis window of a canary: the weight it judged and what it saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepRecord {
    /// 1-based; the final watch is numbered after the steps.
    pub number: usize,
    pub percent: u8,
    pub window: WindowReport,
}

impl StepRecord {
    fn name(&self, steps: usize) -> String {
        if self.number > steps {
            format!("final watch at {}%", self.percent)
        } else {
            format!("step {} of {steps} at {}%", self.number, self.percent)
        }
    }

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

/// The timeline of a canary: the summary's rows, one per window.
pub fn timeline_details(records: &[StepRecord], steps: usize) -> Vec<(String, String)> {
    records.iter().map(|record| (record.name(steps), record.words())).collect()
}

/// A judged canary's end.
#[derive(Debug)]
pub struct Judged {
    pub records: Vec<StepRecord>,
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
    let bake = request.rollout.bake_or_default();
    let probe = shift.probe_target();
    let (checks_plan, client) = probe_plan(&probe, analysis, bake, console)?;
    let judge = Analysis::new(&checks_plan, analysis.gates.clone())
        .map_err(|error| DeployError::failed(error, Status::Unknown))?;
    let mut windows: Vec<(usize, u8)> = steps.iter().copied().enumerate().map(|(i, p)| (i + 1, p)).collect();
    if request.rollout.bake.is_some() {
        windows.push((steps.len() + 1, 100));
    }
    let mut records: Vec<StepRecord> = Vec::new();
    for (number, percent) in windows {
        let final_watch = number > steps.len();
        let name = if final_watch {
            "the final watch at 100%".to_owned()
        } else {
            format!("step {number} of {} at {percent}%", steps.len())
        };
        if Instant::now() + bake >= deadline {
            let reason = format!("--timeout ends before {name} could be judged for {}", humanize(bake));
            return Err(back_out(shift, &records, steps.len(), &name, final_watch, &reason, deadline, console).await);
        }
        let moved = if final_watch {
            shift.set_weight(100, deadline, console).await
        } else {
            shift.set_weight(percent, deadline, console).await
        };
        if let Err(error) = moved {
            let reason = format!("the traffic could not be shifted: {error}");
            return Err(back_out(shift, &records, steps.len(), &name, final_watch, &reason, deadline, console).await);
        }
        let group = console.group(&format!("analysis of {name} for {}", humanize(bake)));
        // An interruption ends the window at once: the step is not judged, so it is
        // backed out like a crossed gate.
        let window = tokio::select! {
            window = judge.run(&client, bake, console) => window,
            signal = interrupt::interrupted() => {
                drop(group);
                let reason = format!("deploy was interrupted by {signal} before the window ended");
                return Err(back_out(shift, &records, steps.len(), &name, final_watch, &reason, deadline, console).await);
            }
        };
        drop(group);
        let decision = window.decision.clone();
        records.push(StepRecord { number, percent, window });
        if !decision.passed() {
            let reason = decision.to_string();
            return Err(back_out(shift, &records, steps.len(), &name, final_watch, &reason, deadline, console).await);
        }
        console.info(&format!("{name}: every gate held ({})", analysis.describe()));
    }
    if request.rollout.bake.is_none() {
        shift.set_weight(100, deadline, console).await.map_err(|error| {
            DeployError::failed(
                format!("every step passed, but the new version could not take all traffic: {error}"),
                Status::Unknown,
            )
        })?;
    }
    shift.promote(deadline, console).await.map_err(|error| {
        DeployError::failed(
            format!(
                "every step passed and the new version takes all traffic, but retiring the old one failed: {error}"
            ),
            Status::Promoted,
        )
    })?;
    Ok(Judged { records })
}

/// Traffic back to the old version, the new one removed; the error that says so.
#[allow(clippy::too_many_arguments)]
async fn back_out<T: TrafficShift>(
    shift: &mut T,
    records: &[StepRecord],
    steps: usize,
    name: &str,
    final_watch: bool,
    reason: &str,
    deadline: Instant,
    console: &Console,
) -> DeployError {
    console.warning(&format!("{name}: {reason}; giving all traffic back to the old version"));
    let detail: Vec<String> =
        timeline_details(records, steps).into_iter().map(|(step, words)| format!("{step}: {words}")).collect();
    let (status, tail) = match shift.abort(deadline, console).await {
        Ok(()) if final_watch => (Status::RolledBack, "all traffic is back on the old version".to_owned()),
        Ok(()) => (Status::Aborted, "all traffic is back on the old version and the canary was removed".to_owned()),
        Err(error) => (Status::Unknown, format!("and giving traffic back to the old version failed: {error}")),
    };
    let what = if final_watch { "the promoted canary was rolled back" } else { "the canary was aborted" };
    DeployError::Failed { message: format!("{what} at {name}: {reason}; {tail}"), status, detail }
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
