//! A rollout judged by analysis on ECS ([`TrafficShift`]): ECS's native CANARY or
//! BLUE_GREEN strategy with two of slipway's PAUSE hooks, driven by the analysis loop
//! ([`crate::analysis::run_canary`], [`crate::analysis::run_blue_green`]). ECS cannot be
//! given arbitrary weights: a canary shifts its share, bakes, then shifts the rest, so
//! one step is judged (linear steps move on by ECS's clock and are refused with analysis
//! flags); blue-green moves all production traffic at once.
//!
//! - Paused at POST_TEST_TRAFFIC_SHIFT: the new revision takes the test listener's
//!   traffic, none of production's. A canary's step and blue-green's "before the switch"
//!   are probed through the test listener (`--test-listener-url`).
//! - Canary, the step: `ContinueServiceDeployment CONTINUE` and ECS shifts the canary
//!   share of production traffic; ECS's canary bake (the --bake rounded up to minutes)
//!   holds it there while the analysis runs for the --bake; then ECS shifts the rest.
//! - Blue-green, the switch: `CONTINUE` and ECS moves all production traffic at once.
//! - All traffic: ECS pauses at POST_PRODUCTION_TRAFFIC_SHIFT with the old revision still
//!   running: the final watch, or "after the switch". It probes `--service-url` when given
//!   (the production listener, which now serves the new revision alone: what users get,
//!   the switched listener rule included), else the test listener.
//! - Abort: `ContinueServiceDeployment ROLLBACK` at a hook, else `StopServiceDeployment`
//!   with a rollback; then the wait until the service runs the old revision alone.
//! - Promote: CONTINUE at the last hook, then the wait until the service deployment is
//!   SUCCESSFUL and every running task reports the pushed digest.

use std::time::Instant;

use aws_sdk_ecs::types::{
    DeploymentLifecycleHookAction, ServiceDeployment, ServiceDeploymentLifecycleStage, ServiceDeploymentStatus,
    StopServiceDeploymentStopType,
};
use slipway_contract::Console;

use super::service::{Expect, awaiting_hook};
use super::task_definition::short_name;
use super::{Ecs, WATCH_STAGE};
use crate::analysis::{ProbeTarget, TrafficShift};
use crate::status::Status;
use crate::target::{DeployError, DeployRequest};

/// What ECS shifts between the hooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Shape {
    /// CANARY: its share of production traffic (the one step ECS holds), then the rest.
    Canary { percent: u8 },
    /// BLUE_GREEN: all production traffic at once.
    BlueGreen,
}

/// Where slipway holds the service deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Held {
    /// At the PAUSE hook after the test traffic shift: no production traffic.
    TestTraffic,
    /// In ECS's canary phase: the canary share of production traffic (never blue-green).
    Canary,
    /// At the PAUSE hook after the production traffic shift: all of it.
    AllTraffic,
    /// ECS finished the deployment without pausing (no hook left to continue).
    Finished,
}

/// The service deployment slipway started, driven by the analysis loop.
pub(super) struct EcsJudged<'a> {
    pub ecs: &'a Ecs,
    request: &'a DeployRequest,
    /// The version deployed, as failures name it.
    version: String,
    /// What the promoted deployment must reach (its ARN, revision and digests).
    pub expect: Expect,
    /// The revision the service ran before (an abort's target).
    pub previous: String,
    pub shape: Shape,
    held: Held,
}

impl<'a> EcsJudged<'a> {
    pub fn new(
        ecs: &'a Ecs,
        request: &'a DeployRequest,
        expect: Expect,
        version: String,
        previous: String,
        shape: Shape,
    ) -> Self {
        Self { ecs, request, expect, version, previous, shape, held: Held::TestTraffic }
    }

    fn arn(&self) -> &str {
        self.expect.deployment_arn.as_deref().unwrap_or_default()
    }

    async fn look(&self, deadline: Instant) -> Result<ServiceDeployment, String> {
        self.ecs
            .look_deployment(self.arn(), deadline)
            .await?
            .ok_or_else(|| format!("service deployment {} is not found", self.arn()))
    }

    /// Sends `action` to the hook the deployment waits at.
    async fn continue_hook(
        &self,
        action: DeploymentLifecycleHookAction,
        deadline: Instant,
        console: &Console,
    ) -> Result<(), String> {
        let deployment = self.look(deadline).await?;
        let hook = awaiting_hook(&deployment).ok_or_else(|| {
            format!("service deployment {} waits at no hook (it is {})", self.arn(), words(&deployment))
        })?;
        self.ecs
            .call("ContinueServiceDeployment", deadline, || {
                self.ecs
                    .client
                    .continue_service_deployment()
                    .service_deployment_arn(self.arn())
                    .hook_id(&hook)
                    .action(action.clone())
                    .send()
            })
            .await?;
        console.info(&format!("service deployment {}: {} sent at hook {hook}", self.arn(), action.as_str()));
        Ok(())
    }

    /// Looks at the deployment until `reached` says it is where it should be; ECS
    /// rolling it back or failing it on its own ends the wait with why.
    async fn wait_for(
        &self,
        what: &str,
        reached: impl Fn(&ServiceDeployment) -> bool,
        deadline: Instant,
        console: &Console,
    ) -> Result<ServiceDeployment, String> {
        let mut said = String::new();
        loop {
            let deployment = self.look(deadline).await?;
            let now = words(&deployment);
            if now != said {
                console.info(&format!("{}: {now}", self.ecs.settings.service));
                said.clone_from(&now);
            }
            if let Some(status) = deployment.status()
                && !matches!(
                    status,
                    ServiceDeploymentStatus::Pending
                        | ServiceDeploymentStatus::InProgress
                        | ServiceDeploymentStatus::Successful
                )
            {
                return Err(format!("ECS ended the deployment before {what}: {now}"));
            }
            if reached(&deployment) {
                return Ok(deployment);
            }
            if Instant::now() >= deadline {
                return Err(format!("not {what} by the deadline: {now}"));
            }
            tokio::time::sleep(self.ecs.settings.poll_interval.min(deadline.saturating_duration_since(Instant::now())))
                .await;
        }
    }

    /// Waits until ECS holds all production traffic on the new revision at the last hook
    /// (or finished the deployment without pausing there).
    async fn wait_all_traffic(&self, deadline: Instant, console: &Console) -> Result<Held, String> {
        let deployment = self
            .wait_for(
                "paused with all production traffic on the new revision",
                |d| held_at_watch(d) || d.status() == Some(&ServiceDeploymentStatus::Successful),
                deadline,
                console,
            )
            .await?;
        Ok(if held_at_watch(&deployment) { Held::AllTraffic } else { Held::Finished })
    }
}

/// The target revision's share of production traffic, as ECS reports it.
fn production_weight(deployment: &ServiceDeployment) -> Option<f64> {
    deployment.target_service_revision().and_then(|r| r.requested_production_traffic_weight())
}

/// `IN_PROGRESS at PRODUCTION_TRAFFIC_SHIFT, 10% of production traffic`.
fn words(deployment: &ServiceDeployment) -> String {
    format!(
        "service deployment {}{}{}{}",
        deployment.status().map_or("?", |s| s.as_str()),
        deployment.lifecycle_stage().map(|s| format!(" at {}", s.as_str())).unwrap_or_default(),
        production_weight(deployment).map(|w| format!(", {w}% of production traffic")).unwrap_or_default(),
        deployment.status_reason().map(|r| format!(": {r}")).unwrap_or_default()
    )
}

fn past_test_traffic(deployment: &ServiceDeployment) -> bool {
    matches!(
        deployment.lifecycle_stage(),
        Some(
            ServiceDeploymentLifecycleStage::ProductionTrafficShift
                | ServiceDeploymentLifecycleStage::PostProductionTrafficShift
                | ServiceDeploymentLifecycleStage::BakeTime
                | ServiceDeploymentLifecycleStage::CleanUp
        )
    ) || production_weight(deployment).is_some_and(|w| w > 0.0)
        || deployment.status() == Some(&ServiceDeploymentStatus::Successful)
}

fn held_at_watch(deployment: &ServiceDeployment) -> bool {
    deployment.lifecycle_stage().map(|s| s.as_str()) == Some(WATCH_STAGE.as_str())
        && awaiting_hook(deployment).is_some()
}

impl TrafficShift for EcsJudged<'_> {
    fn probe_target(&self) -> ProbeTarget {
        let settings = &self.ecs.settings;
        // Once all production traffic is on the new revision the production listener
        // serves it alone: what users get is judged there when it is known.
        let url = match (&settings.service_url, self.held) {
            (Some(service_url), Held::AllTraffic | Held::Finished) => service_url.clone(),
            _ => settings.test_listener_url.clone().unwrap_or_default(),
        };
        ProbeTarget { url, check: settings.check.clone(), headers: Vec::new(), tls: None }
    }

    async fn set_weight(&mut self, percent: u8, deadline: Instant, console: &Console) -> Result<(), String> {
        match self.shape {
            // check_request and the settings allow one step; a second would be a bug.
            Shape::Canary { percent: share } if percent < 100 && percent != share => {
                return Err(format!("ECS holds one canary share ({share}%), not {percent}%"));
            }
            Shape::BlueGreen if percent > 0 && percent < 100 => {
                return Err(format!("ECS's blue/green moves all production traffic at once, not {percent}%"));
            }
            // Before the switch: the deployment already waits at the test traffic hook.
            _ if percent == 0 => return Ok(()),
            _ => {}
        }
        if self.held == Held::TestTraffic {
            self.continue_hook(DeploymentLifecycleHookAction::Continue, deadline, console).await?;
            self.held = match self.shape {
                Shape::Canary { percent: share } => {
                    let deployment = self
                        .wait_for(
                            &format!("shifting {share}% of production traffic"),
                            past_test_traffic,
                            deadline,
                            console,
                        )
                        .await?;
                    if deployment.status() == Some(&ServiceDeploymentStatus::Successful) {
                        Held::Finished
                    } else {
                        Held::Canary
                    }
                }
                Shape::BlueGreen => {
                    console.info("ECS moves all production traffic to the new revision");
                    self.wait_all_traffic(deadline, console).await?
                }
            };
        }
        if percent >= 100 && self.held == Held::Canary {
            console.info("ECS shifts the rest of production traffic after its canary bake");
            self.held = self.wait_all_traffic(deadline, console).await?;
        }
        Ok(())
    }

    async fn abort(&mut self, deadline: Instant, console: &Console) -> Result<(), String> {
        let paused = self.look(deadline).await.ok().as_ref().and_then(awaiting_hook).is_some();
        if paused {
            self.continue_hook(DeploymentLifecycleHookAction::Rollback, deadline, console).await?;
        } else {
            console.info(&format!(
                "stopping service deployment {} with a rollback to {}",
                self.arn(),
                short_name(&self.previous)
            ));
            self.ecs
                .call("StopServiceDeployment", deadline, || {
                    self.ecs
                        .client
                        .stop_service_deployment()
                        .service_deployment_arn(self.arn())
                        .stop_type(StopServiceDeploymentStopType::Rollback)
                        .send()
                })
                .await?;
        }
        self.ecs.wait_back(&self.previous, deadline).await
    }

    /// CONTINUE at the last hook, then ECS's own finish: a deployment that does not end
    /// SUCCESSFUL with the tasks on the pushed digest is not promoted, whatever the analysis
    /// said; it is undone as any failed ECS rollout is.
    async fn promote(&mut self, deadline: Instant, console: &Console) -> Result<(), DeployError> {
        if self.held == Held::AllTraffic {
            self.continue_hook(DeploymentLifecycleHookAction::Continue, deadline, console).await.map_err(|error| {
                DeployError::failed(
                    format!(
                        "every window passed, but the deployment could not be continued past its hook: {error}; it holds all traffic on the new revision, the old one still running"
                    ),
                    Status::Unknown,
                )
            })?;
        }
        match self.ecs.wait_done(&self.expect, deadline, console).await {
            Ok(_) => Ok(()),
            Err(failure) => {
                Err(self.ecs.fail(failure, &self.expect, &self.version, &self.previous, self.request, console).await)
            }
        }
    }
}
