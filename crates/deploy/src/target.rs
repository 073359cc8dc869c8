//! The one trait every deploy target implements, and what flows through it.

use std::time::Duration;

use slipway_contract::Console;

/// How a new version reaches traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Strategy {
    /// Replace everything at once.
    Direct,
    /// Replace instances in batches.
    Rolling,
    /// Batches, with an extra batch launched first so capacity never drops.
    RollingWithBatch,
    /// A fresh set of instances, swapped in when healthy.
    Immutable,
    /// A share of traffic to the new version, then promote or reject.
    Canary,
    /// A second environment with the new version, then swap (promote) or drop (reject).
    BlueGreen,
}

impl Strategy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Direct => "direct",
            Self::Rolling => "rolling",
            Self::RollingWithBatch => "rolling-with-batch",
            Self::Immutable => "immutable",
            Self::Canary => "canary",
            Self::BlueGreen => "blue-green",
        }
    }

    /// Canary and blue-green stop after starting the new version, so that verify can
    /// judge it before `--promote` or `--reject` finishes them.
    pub fn is_phased(self) -> bool {
        matches!(self, Self::Canary | Self::BlueGreen)
    }
}

/// Which part of a deployment this run does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Roll the new version out (for a phased strategy: start it beside the old one).
    Deploy,
    /// Finish a canary or blue-green deployment: the new version takes all traffic.
    Promote,
    /// Abandon a canary or blue-green deployment: the old version keeps all traffic.
    Reject,
    /// Put the previous version back.
    Rollback,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deploy => "deploy",
            Self::Promote => "promote",
            Self::Reject => "reject",
            Self::Rollback => "rollback",
        }
    }
}

/// What to deploy and how; the target-specific settings live in the target itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployRequest {
    /// The image, pinned by digest (`registry/repo@sha256:...`); empty for promote,
    /// reject and rollback, which act on what is already there.
    pub image: String,
    pub strategy: Strategy,
    pub phase: Phase,
    pub version_label: String,
    /// The port the container listens on.
    pub port: u16,
    /// The longest the whole run may take.
    pub timeout: Duration,
    /// Check and print the plan; change nothing.
    pub dry_run: bool,
}

/// What a finished run reports (the step's outputs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeployOutcome {
    /// Where the new version answers (green's or the canary's URL during a phased deploy).
    pub url: String,
    pub version_label: String,
    /// The version that was live before, for rollback.
    pub previous_version: String,
    /// The target's id for what it deployed (EB environment id, container id).
    pub deployment_id: String,
    /// The target's word for the end state (Ready, running, canary, green-ready...).
    pub status: String,
    /// The target's health (Green, healthy...).
    pub health: String,
}

/// A target's failure: bad input (exit 2) or a failed deployment (exit 1). `status`
/// says where things were left (rolled-back, restored, failed), published as an output.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeployError {
    #[error("{0}")]
    Usage(String),
    #[error("{message}")]
    Failed { message: String, status: String, detail: Vec<String> },
}

impl DeployError {
    pub fn failed(message: impl Into<String>, status: &str) -> Self {
        Self::Failed { message: message.into(), status: status.to_owned(), detail: Vec::new() }
    }
}

/// A deploy target: refuses what it cannot do in [`Target::check`], before any change.
#[allow(async_fn_in_trait)] // Used through generics, never as `dyn`.
pub trait Target {
    /// The `--target` value.
    fn name(&self) -> &'static str;

    /// The strategies this target runs.
    fn strategies(&self) -> &'static [Strategy];

    /// Refuses a strategy or phase the target cannot do, and bad target settings.
    fn check(&self, request: &DeployRequest) -> Result<(), DeployError> {
        if self.strategies().contains(&request.strategy) {
            Ok(())
        } else {
            let supported: Vec<&str> = self.strategies().iter().map(|s| s.as_str()).collect();
            Err(DeployError::Usage(format!(
                "the {} target cannot do --strategy {}; it does {}",
                self.name(),
                request.strategy.as_str(),
                supported.join(", ")
            )))
        }
    }

    /// Runs `request.phase` (or, with `request.dry_run`, prints what it would do).
    async fn run(&self, request: &DeployRequest, console: &Console) -> Result<DeployOutcome, DeployError>;
}
