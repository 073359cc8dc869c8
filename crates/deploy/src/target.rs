//! The one trait every deploy target implements, and what flows through it:
//! [`DeployRequest`] in, a read-only [`Plan`], then [`DeployOutcome`] or [`DeployError`].

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use slipway_contract::Console;

use crate::analysis::AnalysisRequest;
use crate::rollout::{Param, Rollout, Strategy};
use crate::status::Status;

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
    pub rollout: Rollout,
    pub phase: Phase,
    /// The label of the version this run makes live; empty when the run finds it
    /// (promote, reject, rollback without `--version-label`).
    pub version_label: String,
    /// The port the container listens on.
    pub port: u16,
    /// The longest the whole run may take.
    pub timeout: Duration,
    /// Check and print the plan; change nothing.
    pub dry_run: bool,
    /// The analysis that judges each step of a canary (`--max-error-rate`, `--metric`...);
    /// `None` keeps the phased behaviour (stop, then `--promote` or `--reject`).
    pub analysis: Option<AnalysisRequest>,
}

impl DeployRequest {
    pub fn strategy(&self) -> Strategy {
        self.rollout.strategy
    }

    /// The run's deadline, counted from now: every wait of the run ends by it.
    pub fn deadline(&self) -> Instant {
        Instant::now() + self.timeout
    }
}

/// What a run reports (the step's outputs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployOutcome {
    /// Where the new version answers (green's or the canary's URL during a phased deploy).
    pub url: String,
    pub version_label: String,
    /// The version that was live before, for rollback.
    pub previous_version: String,
    /// The target's id for what it deployed (EB environment id, container id).
    pub deployment_id: String,
    pub status: Status,
    /// The target's health word (Green, healthy, started...).
    pub health: String,
    /// What else the summary shows of where the target was left (the Docker proxy's
    /// version and what it routes to), name and value.
    pub details: Vec<(String, String)>,
}

impl DeployOutcome {
    /// What `--render` reports: the objects planned, nothing deployed.
    pub fn rendered(request: &DeployRequest) -> Self {
        Self {
            url: String::new(),
            version_label: request.version_label.clone(),
            previous_version: String::new(),
            deployment_id: String::new(),
            status: Status::Planned,
            health: "unknown".to_owned(),
            details: Vec::new(),
        }
    }
}

/// A target's failure: bad input (exit 2) or a failed deployment (exit 1), whose
/// `status` says where things were left, published as an output.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeployError {
    #[error("{0}")]
    Usage(String),
    #[error("{message}")]
    Failed { message: String, status: Status, detail: Vec<String> },
}

impl DeployError {
    pub fn failed(message: impl Into<String>, status: Status) -> Self {
        Self::Failed { message: message.into(), status, detail: Vec::new() }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Self::Usage(message.into())
    }
}

/// What a target read and what it will do: printed the same way for every target, as
/// the whole of a `--dry-run` and before a real run's changes.
#[derive(Debug, Clone)]
pub struct Plan<S> {
    /// What exists now, one fact a line.
    pub now: Vec<String>,
    /// The changes, in order.
    pub steps: Vec<String>,
    /// What a dry run reports (status `planned`).
    pub outcome: DeployOutcome,
    /// What the apply needs of what the plan read.
    pub state: S,
}

impl<S> Plan<S> {
    pub fn new(outcome: DeployOutcome, state: S) -> Self {
        Self { now: Vec::new(), steps: Vec::new(), outcome, state }
    }

    #[must_use]
    pub fn now(mut self, fact: impl Into<String>) -> Self {
        self.now.push(fact.into());
        self
    }

    #[must_use]
    pub fn step(mut self, step: impl Into<String>) -> Self {
        self.steps.push(step.into());
        self
    }

    /// The same plan carrying `state` (plans are built before what apply needs is known).
    pub fn with_state<T>(self, state: T) -> Plan<T> {
        Plan { now: self.now, steps: self.steps, outcome: self.outcome, state }
    }

    /// `plan:` then what exists and the numbered steps.
    pub fn render(&self) -> String {
        let mut text = String::from("plan:");
        for fact in &self.now {
            let _ = write!(text, "\n  now: {fact}");
        }
        if self.steps.is_empty() {
            text.push_str("\n  nothing to change");
        }
        for (index, step) in self.steps.iter().enumerate() {
            let _ = write!(text, "\n  {}. {step}", index + 1);
        }
        text
    }
}

/// A deploy target. `check` refuses, without I/O, what the target cannot do; `plan`
/// reads (never changes) the target; `apply` carries the plan out. Both end by the
/// run's deadline.
#[allow(async_fn_in_trait)] // Used through generics, never as `dyn`.
pub trait Target {
    /// What `plan` hands to `apply`.
    type State;

    /// The `--target` value.
    const NAME: &'static str;

    /// The strategies this target runs.
    const STRATEGIES: &'static [Strategy];

    /// The strategy without `--strategy`.
    const DEFAULT_STRATEGY: Strategy;

    /// The strategies whose steps this target judges by analysis ([`crate::analysis`]):
    /// those it can shift traffic for, step by step.
    const JUDGED: &'static [Strategy] = &[];

    /// The rollout parameters `strategy` reads on this target.
    fn reads(strategy: Strategy) -> &'static [Param];

    /// Refuses a phase, strategy or rollout parameter the target cannot honour (exit 2),
    /// before the target is even built (no credentials or connections needed).
    fn check(request: &DeployRequest) -> Result<(), DeployError> {
        if matches!(request.phase, Phase::Promote | Phase::Reject) && !Self::STRATEGIES.iter().any(|s| s.is_phased()) {
            return Err(DeployError::Usage(format!(
                "the {} target deploys directly; there is nothing to {}",
                Self::NAME,
                request.phase.as_str()
            )));
        }
        let strategy = request.strategy();
        if !Self::STRATEGIES.contains(&strategy) {
            let supported: Vec<&str> = Self::STRATEGIES.iter().map(|s| s.as_str()).collect();
            return Err(DeployError::Usage(format!(
                "the {} target cannot do --strategy {strategy}; it does {}",
                Self::NAME,
                supported.join(", ")
            )));
        }
        let mut reads = Self::reads(strategy).to_vec();
        // A blue-green switch judged by analysis is judged for --bake before and after it.
        if strategy == Strategy::BlueGreen && request.analysis.is_some() && Self::JUDGED.contains(&strategy) {
            reads.push(Param::Bake);
        }
        request.rollout.refuse_unread(Self::NAME, &reads).map_err(DeployError::Usage)?;
        crate::analysis::check_request(Self::NAME, Self::JUDGED, request)
    }

    /// Reads what is there and decides what `request.phase` will change, changing nothing.
    async fn plan(
        &self,
        request: &DeployRequest,
        deadline: Instant,
        console: &Console,
    ) -> Result<Plan<Self::State>, DeployError>;

    /// Carries the plan out, by `deadline`.
    async fn apply(
        &self,
        plan: Plan<Self::State>,
        request: &DeployRequest,
        deadline: Instant,
        console: &Console,
    ) -> Result<DeployOutcome, DeployError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_renders_what_is_there_then_numbered_steps() {
        let outcome = DeployOutcome {
            url: String::new(),
            version_label: "v2".into(),
            previous_version: "v1".into(),
            deployment_id: String::new(),
            status: Status::Planned,
            health: "unknown".into(),
            details: Vec::new(),
        };
        let plan = Plan::new(outcome.clone(), ()).now("app runs v1").step("pull it").step("start it");
        assert_eq!(plan.render(), "plan:\n  now: app runs v1\n  1. pull it\n  2. start it");
        assert_eq!(Plan::new(outcome, ()).render(), "plan:\n  nothing to change");
    }
}
