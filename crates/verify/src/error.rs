//! The step's two kinds of failure: bad input (exit 2) and an unhealthy service (exit 1).

use slipway_contract::StepError;
use slipway_contract::keys::verify as keys;

/// Bad input, found while planning, before any request: exit 2.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// A flag's value is wrong; `message` names the value and says how to write it.
    #[error("{flag}: {message}")]
    Invalid { flag: &'static str, message: String },
    /// A header refers to an environment variable that is not set.
    #[error(
        "--header {name}: the environment variable {variable} is not set or empty; export it before running verify"
    )]
    MissingSecret { name: String, variable: String },
    /// The --ca-cert file cannot be used.
    #[error("--ca-cert {path}: {reason}")]
    CaCert { path: String, reason: String },
}

impl PlanError {
    pub(crate) fn invalid(flag: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid { flag, message: message.into() }
    }
}

impl From<PlanError> for StepError {
    fn from(error: PlanError) -> Self {
        StepError::usage(error.to_string())
    }
}

/// The service was reached (or tried until the timeout) and did not pass: exit 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("unhealthy after {attempts} attempt(s) in {elapsed}: {reason}")]
    Unhealthy {
        attempts: u32,
        elapsed: String,
        reason: String,
        /// One line per check: what it saw, for the log and the summary.
        detail: Vec<String>,
    },
    #[error(
        "latency p95 is {p95_ms} ms, over the --latency-p95 budget of {budget} ({samples} samples; p50 {p50_ms} ms, p99 {p99_ms} ms)"
    )]
    LatencyBudget { p50_ms: u64, p95_ms: u64, p99_ms: u64, budget: String, samples: usize },
    #[error("{failed} of {samples} latency sample(s) failed; the last: {reason}")]
    SamplesFailed { failed: usize, samples: usize, reason: String },
    #[error(
        "the TLS certificate of {host} expires in {days_left} day(s) (not after {not_after}), sooner than --tls-min-days {min_days}; renew it"
    )]
    TlsExpiresSoon { host: String, days_left: i64, not_after: String, min_days: i64 },
    #[error("could not read the TLS certificate of {host}, so --tls-min-days cannot be checked")]
    CertificateUnreadable { host: String },
    /// `--watch`: a gate was crossed, or could not be judged.
    #[error("watching {url}: {decision}")]
    GateCrossed {
        url: String,
        decision: String,
        /// The window's timeline, a line per checkpoint.
        detail: Vec<String>,
    },
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    /// The --alarm gates could not be read before the window.
    #[error("{0}")]
    Alarms(String),
}

impl From<VerifyError> for StepError {
    fn from(error: VerifyError) -> Self {
        let detail = match &error {
            VerifyError::Unhealthy { detail, .. } | VerifyError::GateCrossed { detail, .. } => detail.clone(),
            _ => Vec::new(),
        };
        // A workflow may branch on `healthy` (with continue-on-error): say it was not.
        let mut outputs = slipway_contract::Outputs::new();
        outputs.set(keys::HEALTHY, "false");
        if let VerifyError::Unhealthy { attempts, .. } = &error {
            outputs.set(keys::ATTEMPTS, attempts);
        }
        StepError::failed(error.to_string()).with_detail(detail).with_outputs(outputs)
    }
}
