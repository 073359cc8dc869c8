//! A canary judged by analysis on Elastic Beanstalk ([`TrafficShift`]), through EB's
//! `TrafficSplitting` deployment policy. EB takes one canary share: it launches a full new
//! fleet in a temporary Auto Scaling group, sends `NewVersionPercent` of the environment's
//! (Application Load Balancer's) traffic to it for `EvaluationTime`, then, the new instances
//! healthy, moves all traffic to them and terminates the old fleet; an abort
//! (`AbortEnvironmentUpdate`) during the evaluation returns to the old version. So one step
//! is judged (more `--steps` are refused with analysis flags, exit 2).
//!
//! - The step: `UpdateEnvironment` with the step as `NewVersionPercent` and the `--bake`
//!   rounded up to whole minutes, plus one, as `EvaluationTime` (EB's 3 to 600; a bake
//!   beyond is refused before any change), so EB never ends the split inside slipway's
//!   window. The window starts once every instance on the new version reports its
//!   deployment `Deployed` and its health Green (or Yellow with `--allow-yellow`):
//!   `DescribeInstancesHealth`, which needs enhanced health reporting (checked in the plan).
//! - The probes: EB has no URL for the canary alone. They go to the environment's URL
//!   (`--environment-url`, default its CNAME), which serves both versions during the split:
//!   the error-rate and latency gates judge the environment's mixed traffic, of which the
//!   canary is its share (a canary failing every request shows as about `NewVersionPercent`
//!   of errors: set `--max-error-rate` below it). A `--metric` or `--alarm` gate that selects
//!   the new version alone judges the canary itself. `--expect-version` is refused: the old
//!   version answers most probes during the split.
//! - All traffic: EB ends the split by itself after `EvaluationTime`; slipway waits until
//!   the environment is Ready on the new version and healthy, then, with `--bake`, watches
//!   it once more (the final watch).
//! - Abort: during the split `AbortEnvironmentUpdate`, then the wait until the environment
//!   is Ready on the old version (`aborted`); after it (the final watch) the previous version
//!   goes back on all at once (`rolled-back`). Both by deploy's rollback budget.
//! - Promote: nothing is left to ask EB; the environment must be Ready on the new version
//!   and healthy, else it is not promoted (EB's own rollback is `rolled-back`).

use std::collections::HashSet;
use std::time::{Instant, SystemTime};

use slipway_contract::{Console, interrupt};

use super::environment::{EnvState, InstanceState, WaitFailure, failed};
use super::{ElasticBeanstalk, ROLLBACK_BUDGET};
use crate::analysis::{ProbeTarget, TrafficShift};
use crate::status::Status;
use crate::target::{DeployError, DeployRequest};

/// Deployment and health of the instances on the new version.
const DEPLOYED: &str = "Deployed";

/// The traffic split slipway started, driven by the analysis loop.
pub(super) struct EbCanary<'a> {
    eb: &'a ElasticBeanstalk,
    request: &'a DeployRequest,
    /// The version the canary runs.
    label: String,
    /// The version the environment ran before (an abort's target).
    previous: String,
    /// Where the probes go: `--environment-url`, else the environment's CNAME.
    url: String,
    /// When the update was asked for: its events from then on are read.
    since: SystemTime,
    seen: HashSet<(i64, String)>,
    /// How the split ended when it did not end on the new version and no final watch
    /// follows: the promotion reports it.
    ended: Option<WaitFailure>,
    /// The environment as the promotion found it.
    pub promoted: Option<EnvState>,
}

impl<'a> EbCanary<'a> {
    pub fn new(
        eb: &'a ElasticBeanstalk,
        request: &'a DeployRequest,
        previous: String,
        url: String,
        since: SystemTime,
    ) -> Self {
        Self {
            eb,
            request,
            label: request.version_label.clone(),
            previous,
            url,
            since,
            seen: HashSet::new(),
            ended: None,
            promoted: None,
        }
    }

    /// Waits until every instance on the new version is deployed and healthy: the canary
    /// then takes its share. EB ending the update first, an ERROR event or a failed
    /// instance deployment end the wait with why.
    async fn wait_for_fleet(&mut self, deadline: Instant, console: &Console) -> Result<(), String> {
        let environment = self.eb.settings.environment.clone();
        let label = self.label.clone();
        let mut said = String::new();
        loop {
            if let Some(error) = self.eb.stream_events(&environment, self.since, &mut self.seen, console).await {
                return Err(format!("Elastic Beanstalk reported an error before the canary took its share: {error}"));
            }
            let state = self.eb.look(&environment, deadline).await?;
            if state.is_ready() {
                return Err(if state.version == label {
                    format!(
                        "Elastic Beanstalk ended the split on {label} before slipway saw its fleet healthy; nothing was judged"
                    )
                } else {
                    format!(
                        "Elastic Beanstalk ended the update on {} (health {}) before the canary's fleet was healthy",
                        state.version, state.health
                    )
                });
            }
            let instances = self.eb.instances(&environment).await?;
            let fleet: Vec<&InstanceState> = instances.iter().filter(|i| i.version == label).collect();
            if let Some(instance) = fleet.iter().find(|i| i.deployment == "Failed") {
                return Err(format!("the deployment of {label} failed on instance {}", instance.id));
            }
            let ready = fleet.iter().filter(|i| i.deployment == DEPLOYED && self.eb.healthy(&i.color)).count();
            if !fleet.is_empty() && ready == fleet.len() {
                console.info(&format!(
                    "the canary's fleet is healthy ({ready} instance(s) on {label}): Elastic Beanstalk sends it {}% of {environment}'s traffic for its evaluation time ({})",
                    self.eb.settings.canary_percent,
                    humantime::format_duration(self.eb.settings.canary_evaluation)
                ));
                return Ok(());
            }
            let now = format!(
                "{environment} is {}; {ready} of {} instance(s) on {label} deployed and healthy",
                state.status,
                fleet.len()
            );
            if now != said {
                console.info(&now);
                said.clone_from(&now);
            }
            if Instant::now() >= deadline {
                return Err(format!("the canary's fleet was not healthy by the deadline ({now})"));
            }
            let pause = self.eb.settings.poll_interval.min(deadline.saturating_duration_since(Instant::now()));
            if let Err(interrupted) = interrupt::sleep(pause).await {
                return Err(format!("deploy was {interrupted} while the canary's fleet started"));
            }
        }
    }
}

/// A failed wait for the split's end, in one line.
fn ended_words(failure: &WaitFailure, label: &str) -> String {
    match failure {
        WaitFailure::Failed { message, .. } => format!("the split of {label} failed: {message}"),
        WaitFailure::RolledBack { state } => {
            format!("Elastic Beanstalk ended the split on {}, not {label} (its own rollback)", state.version)
        }
        WaitFailure::Timeout { state } => format!(
            "the split had not ended on {label} by the deadline (status {}, health {})",
            state.status, state.health
        ),
    }
}

impl TrafficShift for EbCanary<'_> {
    fn probe_target(&self) -> ProbeTarget {
        ProbeTarget { url: self.url.clone(), check: self.eb.settings.check.clone(), headers: Vec::new(), tls: None }
    }

    async fn set_weight(&mut self, percent: u8, deadline: Instant, console: &Console) -> Result<(), String> {
        if percent < 100 {
            if percent != self.eb.settings.canary_percent {
                // The settings allow one step; another would be a bug.
                return Err(format!(
                    "Elastic Beanstalk holds one canary share ({}%), not {percent}%",
                    self.eb.settings.canary_percent
                ));
            }
            return self.wait_for_fleet(deadline, console).await;
        }
        let environment = &self.eb.settings.environment;
        console.info(&format!(
            "Elastic Beanstalk moves all of {environment}'s traffic to {} when its evaluation time ends; waiting",
            self.label
        ));
        match self.eb.wait_live(environment, &self.label, self.since, deadline, console).await {
            Ok(_) => Ok(()),
            // No final watch: the promotion says how EB ended it (and puts it right).
            Err(failure) if self.request.rollout.bake.is_none() => {
                self.ended = Some(failure);
                Ok(())
            }
            Err(failure) => Err(ended_words(&failure, &self.label)),
        }
    }

    /// During the split EB's abort (AbortEnvironmentUpdate) returns to the old version;
    /// after it the previous version goes back on. Done only when the environment is Ready
    /// on the previous version.
    async fn abort(&mut self, _deadline: Instant, console: &Console) -> Result<(), String> {
        let environment = &self.eb.settings.environment;
        // Its own budget: the window has usually used most of the run's.
        let deadline = Instant::now() + ROLLBACK_BUDGET.min(self.request.timeout);
        let state = self.eb.restore(environment, &self.previous, deadline, console).await?;
        if state.version != self.previous {
            return Err(format!("{environment} is Ready on {}, not {}", state.version, self.previous));
        }
        console.info(&format!("{environment} is Ready on {} again ({})", state.version, state.health));
        Ok(())
    }

    /// Elastic Beanstalk has ended the split: the environment must be Ready on the new
    /// version and healthy, whatever the analysis said; else the previous version is put
    /// back as after any failed update.
    async fn promote(&mut self, deadline: Instant, console: &Console) -> Result<(), DeployError> {
        let environment = self.eb.settings.environment.clone();
        let failure = match self.ended.take() {
            Some(failure) => failure,
            None => {
                let state = self
                    .eb
                    .describe(&environment, deadline)
                    .await?
                    .ok_or_else(|| failed(format!("environment {environment} disappeared"), Status::Unknown))?;
                let healthy = self.eb.healthy(&state.health);
                if state.is_ready() && state.version == self.label && healthy {
                    self.promoted = Some(state);
                    return Ok(());
                }
                if state.is_ready() && state.version != self.label {
                    WaitFailure::RolledBack { state }
                } else {
                    WaitFailure::Failed {
                        message: format!(
                            "every window passed, but {environment} is {} with health {} on {}",
                            state.status, state.health, state.version
                        ),
                        state,
                    }
                }
            }
        };
        Err(self.eb.fail(failure, &environment, &self.label, &self.previous, self.request, console).await)
    }
}
