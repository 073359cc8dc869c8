//! Finishing a canary (Elastic Beanstalk's traffic splitting): `--promote` waits for the
//! split to end on the new version; `--reject` aborts it while it runs, and once it has
//! completed puts the previous version back. A reject never ends with the new version live.

use std::time::{Instant, SystemTime};

use slipway_contract::Console;

use super::environment::{EnvState, failed};
use super::{EbState, ElasticBeanstalk};
use crate::rollout::Strategy;
use crate::status::Status;
use crate::target::{DeployError, DeployOutcome, DeployRequest, Phase, Plan};

/// How a canary is finished.
#[derive(Debug)]
pub enum Finish {
    /// Wait until the split ends with `version` serving everything.
    Promote { state: EnvState, version: String },
    /// The split is under way: abort it, and EB returns to the old version.
    Abort { state: EnvState, canary: String },
    /// The split already ended with `canary` serving everything: put `previous` back.
    PutBack { state: EnvState, canary: String, previous: String },
    /// The environment no longer runs the canary: nothing to do.
    AlreadyOff { state: EnvState, canary: String },
}

impl ElasticBeanstalk {
    pub(super) async fn plan_canary(
        &self,
        request: &DeployRequest,
        deadline: Instant,
        console: &Console,
    ) -> Result<Plan<EbState>, DeployError> {
        let environment = &self.settings.environment;
        let mut state = self.require(environment, deadline).await?;
        let canary =
            if request.version_label.is_empty() { state.version.clone() } else { request.version_label.clone() };
        let now = state.describe();
        if request.phase == Phase::Promote {
            let plan = Plan::new(ElasticBeanstalk::planned(&state, &canary, ""), ())
                .now(now)
                .step(format!("wait until the traffic split ends with {canary} serving all of {environment}"));
            return Ok(plan.with_state(EbState::Canary(Finish::Promote { state, version: canary })));
        }
        if !state.abortable && !state.is_ready() {
            state = self.require_ready(environment, deadline, console).await?;
        }
        let plan = Plan::new(ElasticBeanstalk::planned(&state, "", &canary), ()).now(now);
        let (plan, finish) = if state.abortable {
            let plan = plan.step(format!(
                "abort {environment}'s traffic split: Elastic Beanstalk takes the canary's instances back to the old version"
            ));
            (plan, Finish::Abort { state, canary })
        } else if state.version == canary {
            let previous = self.version_before(&canary).await?;
            let plan = plan
                .now(format!("the traffic split has completed: {canary} serves all traffic"))
                .step(format!("put {previous} back on {environment} all at once"))
                .step(format!("wait until {environment} is Ready on {previous} and {}", self.healthy_words()));
            (plan, Finish::PutBack { state, canary, previous })
        } else {
            let plan = plan.now(format!("{environment} no longer runs {canary}"));
            (plan, Finish::AlreadyOff { state, canary })
        };
        Ok(plan.with_state(EbState::Canary(finish)))
    }

    pub(super) async fn apply_canary(
        &self,
        finish: Finish,
        request: &DeployRequest,
        deadline: Instant,
        console: &Console,
    ) -> Result<DeployOutcome, DeployError> {
        let environment = &self.settings.environment;
        match finish {
            Finish::Promote { version, .. } => {
                let since = SystemTime::now();
                match self.wait_live(environment, &version, since, deadline, console).await {
                    Ok(state) => Ok(Self::outcome(&state, "", Status::Promoted)),
                    Err(failure) => Err(self.fail(failure, environment, &version, "", request, console).await),
                }
            }
            Finish::Abort { canary, .. } => {
                self.abort_update(environment, console).await;
                let state =
                    self.restore(environment, "", deadline, console).await.map_err(|e| failed(e, Status::Unknown))?;
                if state.version != canary {
                    return Ok(Self::outcome(&state, &canary, Status::Rejected));
                }
                // The split completed while we aborted: the canary serves everything.
                let previous = self.version_before(&canary).await?;
                self.put_back(&state, &canary, &previous, request, deadline, console).await
            }
            Finish::PutBack { state, canary, previous } => {
                self.put_back(&state, &canary, &previous, request, deadline, console).await
            }
            Finish::AlreadyOff { state, canary } => {
                console.info(&format!("{environment} runs {}, not {canary}: nothing to reject", state.version));
                Ok(Self::outcome(&state, &canary, Status::Rejected))
            }
        }
    }

    /// A reject that came after the split completed: the previous version goes back on,
    /// and the run says so (`rolled-back`, not `rejected`).
    async fn put_back(
        &self,
        state: &EnvState,
        canary: &str,
        previous: &str,
        request: &DeployRequest,
        deadline: Instant,
        console: &Console,
    ) -> Result<DeployOutcome, DeployError> {
        let environment = &self.settings.environment;
        console.warning(&format!(
            "the traffic split had already completed: {canary} served all of {environment}; putting {previous} back"
        ));
        let since = SystemTime::now();
        self.update(environment, previous, Strategy::Direct).await?;
        match self.wait_live(environment, previous, since, deadline, console).await {
            Ok(back) => Ok(Self::outcome(&back, canary, Status::RolledBack)),
            Err(failure) => Err(self.fail(failure, environment, previous, &state.version, request, console).await),
        }
    }
}
