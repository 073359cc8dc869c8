//! The `verify` step: waits until a deployed service answers its checks, proves it
//! serves the expected version, measures its latency and checks its TLS certificate.
//!
//! Data flows one way: [`VerifyArgs`] -> [`Plan`] (pure; every bad input is rejected
//! there, before any request) -> [`execute`] -> [`Verification`] -> outputs and summary.

pub mod alarms;
pub mod analysis;
mod args;
mod error;
mod execute;
mod expect;
pub mod gates;
mod latency;
mod plan;
mod probe;
pub mod prometheus;
mod report;

use slipway_contract::runtime::{Threads, block_on};
use slipway_contract::{Console, StepError, StepReport};

pub use alarms::{AlarmCheckError, Alarms};
pub use analysis::{Analysis, Decision, WindowReport};
pub use args::VerifyArgs;
pub use error::{PlanError, VerifyError};
pub use execute::{CheckRecord, Verification, backoff_delay, execute};
pub use expect::{
    Expectations, HeaderExpectation, JsonExpectation, StatusSet, Verdict, VersionExpectation, evaluate, served_version,
};
pub use gates::{GateInputs, Gates};
pub use latency::{LatencyStats, percentile};
pub use plan::{Check, LatencyPolicy, Plan, RequestHeader, TlsPolicy, WaitPolicy, WatchPolicy};
pub use probe::{CertInfo, Client, Response, cert_info, humanize};
pub use report::{outputs, summary};

slipway_contract::step_cli! {
    #[command(
        name = "verify",
        version,
        about = "Wait until a deployed service is healthy, prove its version, measure its latency",
        long_about = "Wait until a deployed service is healthy, prove its version, measure its latency.\n\n\
            Every --check path is requested under --url, all in one attempt, until an attempt \
            passes (--consecutive times in a row) or --timeout runs out; failures (connection \
            refused, DNS, TLS, 5xx, a wrong version, an unmet expectation) are retried with \
            exponential backoff and jitter. Then the TLS certificate lifetime and the latency \
            budget are checked.\n\n\
            With --watch DURATION, the healthy service is then watched for that long (a bake \
            window): the checks every --interval, judged by --max-error-rate, --latency-p95, \
            --latency-p99, --expect-version, --metric gates on --prometheus and --alarm gates \
            (CloudWatch alarms out of ALARM); the step exits 1 \
            the moment a gate is crossed, naming it, the value observed and the threshold.\n\n\
            Outputs: healthy, attempts, http-status, version-seen, p50-ms, p95-ms, p99-ms, \
            tls-days-left. Exit codes: 0 healthy, 1 unhealthy (with the last reason), 2 bad input."
    )]
    step: "verify",
    args: VerifyArgs,
    run: run,
}

/// Runs the step: plans, waits for the service, and reports. Builds its own runtime.
pub fn run(args: &VerifyArgs, console: &Console) -> Result<StepReport, StepError> {
    let env = |name: &str| std::env::var(name).ok();
    let plan = Plan::from_args(args, &env, console)?;
    if plan.tls.insecure {
        console.warning(
            "--insecure: TLS certificates are NOT verified, so anyone on the network path can \
             impersonate this service; trust a private CA with --ca-cert FILE instead",
        );
    }
    let client = Client::new(&plan)?;
    let work = async {
        // The alarms are read before the first probe: a name no alarm has is bad input.
        let alarms = match &plan.watch {
            Some(watch) if !watch.gates.alarms.is_empty() => {
                let alarms = Alarms::from_env().await;
                match alarms.check_exist(&watch.gates.alarms, plan.wait.request_timeout.min(plan.wait.timeout)).await {
                    Ok(states) => {
                        for alarm in states {
                            console.info(&format!("alarm {}: {} ({})", alarm.name, alarm.state, alarm.reason));
                        }
                    }
                    Err(error @ AlarmCheckError::Missing(_)) => return Err(StepError::usage(error.to_string())),
                    Err(error) => return Err(VerifyError::Alarms(error.to_string()).into()),
                }
                Some(alarms)
            }
            _ => None,
        };
        let verification = execute(&plan, &client, console).await?;
        let Some(watch) = &plan.watch else { return Ok((verification, None)) };
        let mut analysis = Analysis::new(&plan, watch.gates.clone()).map_err(VerifyError::Client)?;
        if let Some(alarms) = alarms {
            analysis = analysis.with_alarms(alarms);
        }
        let window = analysis.run(&client, watch.window, console).await;
        if !window.decision.passed() {
            return Err(VerifyError::GateCrossed {
                url: plan.base_url.to_string(),
                decision: window.decision.to_string(),
                detail: report::timeline_lines(&window),
            }
            .into());
        }
        Ok::<_, StepError>((verification, Some(window)))
    };
    let (verification, window) = block_on(Threads::Current, work)??;
    Ok(StepReport {
        outputs: outputs(&verification, window.as_ref()),
        summary: summary(&plan, &verification, window.as_ref()),
    })
}
