//! The calls to ECS and the looks at a service, its service deployment and its tasks.
//! Throttling is retried with backoff, never past the run's deadline; AccessDenied names
//! the IAM action the credentials lack; every wait ends by its deadline.

use std::future::Future;
use std::time::Instant;

use aws_sdk_ecs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ecs::types::{
    DeploymentLifecycleHookStatus, DeploymentLifecycleHookTargetType, DeploymentRolloutState, DesiredStatus, Service,
    ServiceDeployment, ServiceDeploymentStatus, StopServiceDeploymentStopType, Task,
};
use slipway_contract::{Console, interrupt};

use super::Ecs;
use super::task_definition::short_name;

/// How a wait for a deployment ended badly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum WaitFailure {
    /// ECS put the previous revision back (circuit breaker, alarm, a stop with rollback):
    /// the service's primary deployment is no longer ours.
    RolledBack(String),
    /// The service deployment failed, or tasks of the new revision stopped (their reasons).
    Failed { message: String, reasons: Vec<String> },
    /// The deadline came first; what was last seen.
    Timeout(String),
    /// ECS could not be asked (an error that is not throttling).
    Lost(String),
}

impl std::fmt::Display for WaitFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::RolledBack(reason) => write!(f, "ECS rolled the deployment back ({reason})"),
            Self::Failed { message, .. } => f.write_str(message),
            Self::Timeout(last) => write!(f, "not done by the deadline ({last})"),
            Self::Lost(error) => write!(f, "lost sight of the deployment: {error}"),
        }
    }
}

/// What "done" means for one deployment.
#[derive(Debug, Clone)]
pub(super) struct Expect {
    /// The service deployment slipway started (Service.currentServiceDeployment).
    pub deployment_arn: Option<String>,
    /// The task definition every running task must run.
    pub task_definition: String,
    /// The image digests every running task must report: a container's name and its
    /// digest (no name: any container of the task), so that a tag that moved or a stale
    /// task is not success.
    pub digests: Vec<(Option<String>, String)>,
    /// Canary and blue-green: done once the deployment waits at slipway's paused hook.
    pub pause: bool,
}

/// The hook the service deployment waits at (PAUSE, AWAITING_ACTION), if any.
pub(super) fn awaiting_hook(deployment: &ServiceDeployment) -> Option<String> {
    deployment
        .lifecycle_hook_details()
        .iter()
        .find(|h| {
            h.target_type() == Some(&DeploymentLifecycleHookTargetType::Pause)
                && h.status() == Some(&DeploymentLifecycleHookStatus::AwaitingAction)
        })
        .and_then(|h| h.hook_id())
        .map(str::to_owned)
}

/// The service's PRIMARY deployment (the one ECS is moving to).
pub(super) fn primary(service: &Service) -> Option<&aws_sdk_ecs::types::Deployment> {
    service.deployments().iter().find(|d| d.status() == Some("PRIMARY"))
}

/// `shop (cluster prod) runs shop:41: 2 of 2 tasks running`.
pub(super) fn describe_service(service: &Service, cluster: &str) -> String {
    format!(
        "service {} (cluster {cluster}) runs {}: {} of {} tasks running{}",
        service.service_name().unwrap_or_default(),
        short_name(service.task_definition().unwrap_or_default()),
        service.running_count(),
        service.desired_count(),
        if service.deployments().len() > 1 {
            format!(", {} deployments under way", service.deployments().len())
        } else {
            String::new()
        }
    )
}

/// Why a task stopped, in one line: the task's reason and its containers'.
fn stop_reason(task: &Task) -> String {
    let id = task.task_arn().unwrap_or_default().rsplit('/').next().unwrap_or_default();
    let mut text = format!(
        "task {id} stopped ({}): {}",
        task.stop_code().map(|c| c.as_str()).unwrap_or("no stop code"),
        task.stopped_reason().unwrap_or("no reason given")
    );
    for container in task.containers() {
        if let Some(reason) = container.reason() {
            text.push_str(&format!("; container {}: {reason}", container.name().unwrap_or_default()));
        } else if let Some(code) = container.exit_code()
            && code != 0
        {
            text.push_str(&format!("; container {} exited with {code}", container.name().unwrap_or_default()));
        }
    }
    text
}

impl Ecs {
    /// Sends a request built by `send`, retrying throttling with backoff until `deadline`.
    pub(super) async fn call<T, E, R, Fut>(
        &self,
        action: &str,
        deadline: Instant,
        send: impl FnMut() -> Fut,
    ) -> Result<T, String>
    where
        Fut: Future<Output = Result<T, SdkError<E, R>>>,
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        crate::targets::aws::call("ecs", action, self.settings.poll_interval, deadline, send).await
    }

    /// The service, or `None` when the cluster has no such active service.
    pub(super) async fn look_service(&self, deadline: Instant) -> Result<Option<Service>, String> {
        let (cluster, name) = (&self.settings.cluster, &self.settings.service);
        let output = self
            .call("DescribeServices", deadline, || {
                self.client.describe_services().cluster(cluster).services(name).send()
            })
            .await?;
        Ok(output.services().iter().find(|s| s.status() != Some("INACTIVE")).cloned())
    }

    /// The service deployment `arn`.
    pub(super) async fn look_deployment(
        &self,
        arn: &str,
        deadline: Instant,
    ) -> Result<Option<ServiceDeployment>, String> {
        let output = self
            .call("DescribeServiceDeployments", deadline, || {
                self.client.describe_service_deployments().service_deployment_arns(arn).send()
            })
            .await?;
        Ok(output.service_deployments().first().cloned())
    }

    /// The service's tasks with this desired status, described.
    pub(super) async fn tasks(&self, desired: DesiredStatus, deadline: Instant) -> Result<Vec<Task>, String> {
        let cluster = &self.settings.cluster;
        let listed = self
            .call("ListTasks", deadline, || {
                self.client
                    .list_tasks()
                    .cluster(cluster)
                    .service_name(&self.settings.service)
                    .desired_status(desired.clone())
                    .send()
            })
            .await?;
        let mut tasks = Vec::new();
        for chunk in listed.task_arns().chunks(100) {
            let output = self
                .call("DescribeTasks", deadline, || {
                    self.client.describe_tasks().cluster(cluster).set_tasks(Some(chunk.to_vec())).send()
                })
                .await?;
            tasks.extend(output.tasks().iter().cloned());
        }
        Ok(tasks)
    }

    /// Why the running tasks are not all the expected revision with the pushed digest yet
    /// (`None`: they are).
    async fn tasks_not_done(
        &self,
        service: &Service,
        expect: &Expect,
        deadline: Instant,
    ) -> Result<Option<String>, String> {
        let running = self.tasks(DesiredStatus::Running, deadline).await?;
        let desired = usize::try_from(service.desired_count()).unwrap_or(0);
        let ours: Vec<&Task> = running
            .iter()
            .filter(|t| {
                t.task_definition_arn() == Some(expect.task_definition.as_str()) && t.last_status() == Some("RUNNING")
            })
            .collect();
        if ours.len() < desired || ours.len() < running.len() {
            return Ok(Some(format!(
                "{} of {} running tasks run {} (desired {desired})",
                ours.len(),
                running.len(),
                short_name(&expect.task_definition)
            )));
        }
        for (container, digest) in &expect.digests {
            for task in &ours {
                let reported: Vec<&str> = task
                    .containers()
                    .iter()
                    .filter(|c| container.as_deref().is_none_or(|name| c.name() == Some(name)))
                    .filter_map(|c| c.image_digest())
                    .collect();
                if !reported.contains(&digest.as_str()) {
                    return Ok(Some(format!(
                        "task {} reports {} for {}, not {digest}",
                        task.task_arn().unwrap_or_default().rsplit('/').next().unwrap_or_default(),
                        if reported.is_empty() { "no digest".to_owned() } else { reported.join(", ") },
                        container.as_deref().map_or("its containers".to_owned(), |name| format!("container {name}"))
                    )));
                }
            }
        }
        Ok(None)
    }

    /// The reasons tasks of the expected revision stopped, if any did.
    async fn stopped_reasons(&self, expect: &Expect, deadline: Instant) -> Result<Vec<String>, String> {
        let stopped = self.tasks(DesiredStatus::Stopped, deadline).await?;
        Ok(stopped
            .iter()
            .filter(|t| t.task_definition_arn() == Some(expect.task_definition.as_str()))
            .map(stop_reason)
            .collect())
    }

    /// Waits until the deployment is done: its service deployment SUCCESSFUL (or, without
    /// one, the primary deployment COMPLETED), the service on the expected revision alone,
    /// and every running task on it reporting the pushed digest. Tasks of the new revision
    /// that stop end the wait at once, with their reasons.
    pub(super) async fn wait_done(
        &self,
        expect: &Expect,
        deadline: Instant,
        console: &Console,
    ) -> Result<Service, WaitFailure> {
        let mut last;
        let mut said = String::new();
        loop {
            let service = match self.look_service(deadline).await {
                Ok(Some(service)) => service,
                Ok(None) => return Err(WaitFailure::Lost(format!("service {} disappeared", self.settings.service))),
                Err(error) => return Err(WaitFailure::Lost(error)),
            };
            let deployment = match &expect.deployment_arn {
                Some(arn) => self.look_deployment(arn, deadline).await.map_err(WaitFailure::Lost)?,
                None => None,
            };
            let ours = primary(&service).and_then(|p| p.task_definition()) == Some(expect.task_definition.as_str());
            let status = deployment.as_ref().and_then(|d| d.status()).cloned();
            let now = match (&deployment, primary(&service)) {
                (Some(d), _) => format!(
                    "service deployment {}{}{}",
                    d.status().map(|s| s.as_str()).unwrap_or("?"),
                    d.lifecycle_stage().map(|s| format!(" at {}", s.as_str())).unwrap_or_default(),
                    d.status_reason().map(|r| format!(": {r}")).unwrap_or_default()
                ),
                (None, Some(p)) => format!(
                    "primary deployment {} {}",
                    short_name(p.task_definition().unwrap_or_default()),
                    p.rollout_state().map(|s| s.as_str()).unwrap_or("?")
                ),
                (None, None) => "no primary deployment".to_owned(),
            };
            if now != said {
                console.info(&format!("{}: {now}", self.settings.service));
                said.clone_from(&now);
            }
            last = format!("{now}; {}", describe_service(&service, &self.settings.cluster));
            let rollback_reason = || {
                deployment
                    .as_ref()
                    .and_then(|d| d.rollback().and_then(|r| r.reason()).or(d.status_reason()))
                    .map(str::to_owned)
                    .or_else(|| primary(&service).and_then(|p| p.rollout_state_reason()).map(str::to_owned))
                    .unwrap_or_else(|| "no reason given".to_owned())
            };
            match status {
                Some(ServiceDeploymentStatus::RollbackSuccessful) => {
                    return Err(WaitFailure::RolledBack(rollback_reason()));
                }
                Some(ServiceDeploymentStatus::RollbackFailed) => {
                    return Err(WaitFailure::Failed {
                        message: format!("ECS's rollback failed too: {}", rollback_reason()),
                        reasons: Vec::new(),
                    });
                }
                Some(ServiceDeploymentStatus::Stopped) if !ours => {
                    return Err(WaitFailure::RolledBack(rollback_reason()));
                }
                Some(ServiceDeploymentStatus::Stopped) => {
                    return Err(WaitFailure::Failed {
                        message: format!("the service deployment was stopped: {}", rollback_reason()),
                        reasons: Vec::new(),
                    });
                }
                _ => {}
            }
            let rolling_back = matches!(
                status,
                Some(
                    ServiceDeploymentStatus::RollbackRequested
                        | ServiceDeploymentStatus::RollbackInProgress
                        | ServiceDeploymentStatus::StopRequested
                )
            );
            if !ours && !rolling_back {
                // The circuit breaker or an alarm put another revision back as primary.
                let settled =
                    primary(&service).and_then(|p| p.rollout_state()) == Some(&DeploymentRolloutState::Completed);
                if settled || deployment.is_none() {
                    return Err(WaitFailure::RolledBack(format!(
                        "{}; the service's primary deployment runs {}",
                        rollback_reason(),
                        short_name(primary(&service).and_then(|p| p.task_definition()).unwrap_or("nothing"))
                    )));
                }
            }
            if ours && !rolling_back {
                let reasons = self.stopped_reasons(expect, deadline).await.map_err(WaitFailure::Lost)?;
                if !reasons.is_empty() {
                    for reason in &reasons {
                        console.warning(reason);
                    }
                    return Err(WaitFailure::Failed {
                        message: format!(
                            "{} task(s) of {} stopped: {}",
                            reasons.len(),
                            short_name(&expect.task_definition),
                            reasons[0]
                        ),
                        reasons,
                    });
                }
                if expect.pause && deployment.as_ref().and_then(awaiting_hook).is_some() {
                    return Ok(service);
                }
                let primary_done =
                    primary(&service).and_then(|p| p.rollout_state()) == Some(&DeploymentRolloutState::Completed);
                let finished = match &status {
                    Some(status) => *status == ServiceDeploymentStatus::Successful,
                    None => primary_done,
                };
                if finished && service.deployments().len() == 1 {
                    match self.tasks_not_done(&service, expect, deadline).await.map_err(WaitFailure::Lost)? {
                        None => return Ok(service),
                        Some(why) => last = format!("{now}; {why}"),
                    }
                }
            }
            if Instant::now() >= deadline {
                return Err(WaitFailure::Timeout(last));
            }
            // A cancelled job fails the wait; the failure path puts the previous revision back.
            let pause = self.settings.poll_interval.min(deadline.saturating_duration_since(Instant::now()));
            if let Err(interrupted) = interrupt::sleep(pause).await {
                return Err(WaitFailure::Failed {
                    message: format!("deploy was {interrupted} ({last})"),
                    reasons: Vec::new(),
                });
            }
        }
    }

    /// After a failure or the deadline: stops the service deployment with a rollback (else
    /// updates the service to `previous`), then waits by `deadline` until the service runs
    /// `previous` alone. Returns what it saw when it could not.
    pub(super) async fn restore(
        &self,
        expect: &Expect,
        previous: &str,
        deadline: Instant,
        console: &Console,
    ) -> Result<(), String> {
        let mut stopped = false;
        if let Some(arn) = &expect.deployment_arn {
            console.info(&format!("stopping service deployment {arn} with a rollback to {}", short_name(previous)));
            let sent = self
                .call("StopServiceDeployment", deadline, || {
                    self.client
                        .stop_service_deployment()
                        .service_deployment_arn(arn)
                        .stop_type(StopServiceDeploymentStopType::Rollback)
                        .send()
                })
                .await;
            match sent {
                Ok(_) => stopped = true,
                Err(error) => {
                    console.warning(&error);
                    // ECS may be rolling back on its own already.
                    if let Ok(Some(deployment)) = self.look_deployment(arn, deadline).await {
                        stopped = matches!(
                            deployment.status(),
                            Some(
                                ServiceDeploymentStatus::RollbackRequested
                                    | ServiceDeploymentStatus::RollbackInProgress
                                    | ServiceDeploymentStatus::RollbackSuccessful
                                    | ServiceDeploymentStatus::StopRequested
                                    | ServiceDeploymentStatus::Stopped
                            )
                        );
                    }
                }
            }
        }
        if !stopped {
            console.info(&format!("updating {} back to {}", self.settings.service, short_name(previous)));
            self.call("UpdateService", deadline, || {
                self.client
                    .update_service()
                    .cluster(&self.settings.cluster)
                    .service(&self.settings.service)
                    .task_definition(previous)
                    .send()
            })
            .await?;
        }
        self.wait_back(previous, deadline).await
    }

    /// Waits by `deadline` until the service runs `previous` alone.
    pub(super) async fn wait_back(&self, previous: &str, deadline: Instant) -> Result<(), String> {
        let mut last = String::new();
        loop {
            if let Some(service) = self.look_service(deadline).await? {
                let back = primary(&service).is_some_and(|p| {
                    p.task_definition() == Some(previous)
                        && p.rollout_state().is_none_or(|s| *s == DeploymentRolloutState::Completed)
                });
                if back && service.deployments().len() == 1 {
                    return Ok(());
                }
                last = describe_service(&service, &self.settings.cluster);
            }
            if Instant::now() >= deadline {
                return Err(format!("not back on {} by the deadline: {last}", short_name(previous)));
            }
            tokio::time::sleep(self.settings.poll_interval.min(deadline.saturating_duration_since(Instant::now())))
                .await;
        }
    }
}
