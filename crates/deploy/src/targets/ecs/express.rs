//! ECS Express Mode (`--target ecs-express`): `CreateExpressGatewayService` the first
//! time (an image, the two roles, and ECS builds the Fargate service, its HTTPS load
//! balancer and scaling), `UpdateExpressGatewayService` with the new image after, the
//! primary container otherwise kept as it is (environment, secrets, logs, command). The
//! wait is the ECS target's on the service deployment under the Express service: done
//! when it is SUCCESSFUL and every task runs the new revision; ECS's rollback is a
//! failure (`rolled-back`), and so is the deadline (the deployment is stopped with a
//! rollback first). `url` is the service's HTTPS endpoint.

use std::time::Instant;

use aws_sdk_ecs::types::{AccessType, EcsExpressGatewayService, ExpressGatewayContainer};
use slipway_contract::Console;

use super::service::{Expect, WaitFailure};
use super::task_definition::short_name;
use super::{Ecs, EcsFlags, Settings};
use crate::rollout::{Param, Strategy};
use crate::status::Status;
use crate::target::{DeployError, DeployOutcome, DeployRequest, Phase, Plan, Target};

/// The ECS Express target: the ECS target's client and waits, and the Express calls.
#[derive(Debug, Clone)]
pub struct EcsExpress {
    pub roles: Roles,
    /// The container's port and health check path.
    pub port: u16,
    pub health_check_path: Option<String>,
    inner: Ecs,
}

/// The roles a new Express service needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Roles {
    pub execution: Option<String>,
    pub infrastructure: Option<String>,
}

/// What the plan read, for the apply.
#[derive(Debug)]
pub enum ExpressState {
    /// No such service: create it.
    Create { execution: String, infrastructure: String },
    /// Update the service's primary container to the new image.
    Update { service_arn: String, previous: String, container: ExpressGatewayContainer },
}

fn failed(message: impl Into<String>, status: Status) -> DeployError {
    DeployError::failed(message, status)
}

fn role(value: Option<&str>, flag: &str) -> Result<Option<String>, DeployError> {
    match value.map(str::trim).filter(|r| !r.is_empty()) {
        None => Ok(None),
        Some(arn) if arn.starts_with("arn:") && arn.contains(":role/") => Ok(Some(arn.to_owned())),
        Some(other) => {
            Err(DeployError::Usage(format!("{flag} `{other}` is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)")))
        }
    }
}

/// The service's HTTPS endpoint: the public ingress path of its newest configuration.
pub fn endpoint(service: &EcsExpressGatewayService) -> String {
    let paths: Vec<_> = service.active_configurations().iter().rev().flat_map(|c| c.ingress_paths()).collect();
    let chosen = paths.iter().find(|p| p.access_type() == &AccessType::Public).or_else(|| paths.first());
    match chosen.map(|p| p.endpoint().trim_end_matches('/')) {
        None | Some("") => String::new(),
        Some(url) if url.contains("://") => url.to_owned(),
        Some(host) => format!("https://{host}"),
    }
}

impl EcsExpress {
    /// The settings from the flags: `--service` names it, `--cluster` defaults to
    /// `default`, and roles must be role ARNs.
    pub fn settings(flags: &EcsFlags) -> Result<(Settings, Roles), DeployError> {
        let service = flags.service.as_deref().map(str::trim).filter(|s| !s.is_empty()).ok_or_else(|| {
            DeployError::Usage("--target ecs-express needs --service (the Express service's name)".to_owned())
        })?;
        let cluster = flags.cluster.as_deref().map(str::trim).filter(|c| !c.is_empty()).unwrap_or("default");
        let roles = Roles {
            execution: role(flags.execution_role.as_deref(), "--execution-role")?,
            infrastructure: role(flags.infrastructure_role.as_deref(), "--infrastructure-role")?,
        };
        let settings = Settings {
            cluster: cluster.to_owned(),
            service: service.to_owned(),
            container: None,
            from_file: None,
            circuit_breaker: true,
            maximum_percent: None,
            minimum_healthy_percent: None,
            native: None,
            keep_strategy: false,
            test_listener_url: None,
            service_url: None,
            check: "/".to_owned(),
            poll_interval: std::time::Duration::from_secs(10),
        };
        Ok((settings, roles))
    }

    /// Builds the target from the flags and AWS's default chain.
    pub async fn from_flags(
        flags: &EcsFlags,
        check: Option<&str>,
        request: &DeployRequest,
    ) -> Result<Self, DeployError> {
        let (settings, roles) = Self::settings(flags)?;
        let client = Ecs::client_from_env().await?;
        Ok(Self::with_client(settings, roles, request.port, check.map(str::to_owned), client))
    }

    pub fn with_client(
        settings: Settings,
        roles: Roles,
        port: u16,
        health_check_path: Option<String>,
        client: aws_sdk_ecs::Client,
    ) -> Self {
        Self { roles, port, health_check_path, inner: Ecs::with_client(settings, client) }
    }

    async fn describe(&self, arn: &str, deadline: Instant) -> Result<EcsExpressGatewayService, String> {
        let output = self
            .inner
            .call("DescribeExpressGatewayService", deadline, || {
                self.inner.client.describe_express_gateway_service().service_arn(arn).send()
            })
            .await?;
        output.service().cloned().ok_or_else(|| format!("DescribeExpressGatewayService returned nothing for {arn}"))
    }

    async fn plan_deploy(&self, request: &DeployRequest, deadline: Instant) -> Result<Plan<ExpressState>, DeployError> {
        let settings = &self.inner.settings;
        let name = &settings.service;
        let existing = self.inner.look_service(deadline).await.map_err(|e| failed(e, Status::Unchanged))?;
        let outcome = DeployOutcome {
            url: String::new(),
            version_label: request.version_label.clone(),
            previous_version: String::new(),
            deployment_id: String::new(),
            status: Status::Planned,
            health: "unknown".to_owned(),
            details: Vec::new(),
        };
        let Some(service) = existing else {
            let (Some(execution), Some(infrastructure)) = (&self.roles.execution, &self.roles.infrastructure) else {
                return Err(DeployError::Usage(format!(
                    "cluster {} has no Express service {name}; creating it needs --execution-role and --infrastructure-role",
                    settings.cluster
                )));
            };
            let plan = Plan::new(outcome, ())
                .now(format!("cluster {} has no service {name}", settings.cluster))
                .step(format!(
                    "create Express service {name} running {} on port {} (execution role {execution}, infrastructure role {infrastructure})",
                    request.image, self.port
                ))
                .step("wait until its service deployment is SUCCESSFUL and every task runs it; url: its HTTPS endpoint");
            return Ok(plan.with_state(ExpressState::Create {
                execution: execution.clone(),
                infrastructure: infrastructure.clone(),
            }));
        };
        let service_arn = service.service_arn().unwrap_or_default().to_owned();
        let express = self.describe(&service_arn, deadline).await.map_err(|e| {
            DeployError::Usage(format!(
                "service {name} is not an ECS Express service ({e}); deploy it with --target ecs"
            ))
        })?;
        let current = express
            .active_configurations()
            .iter()
            .max_by_key(|c| c.created_at().map(|d| (d.secs(), d.subsec_nanos())))
            .ok_or_else(|| failed(format!("Express service {name} has no active configuration"), Status::Unchanged))?;
        let mut container = current
            .primary_container()
            .cloned()
            .ok_or_else(|| failed(format!("Express service {name} has no primary container"), Status::Unchanged))?;
        let previous = current.task_definition_arn().unwrap_or_default().to_owned();
        let mut planned = outcome;
        planned.previous_version = short_name(&previous).to_owned();
        planned.url = endpoint(&express);
        let old_image = std::mem::replace(&mut container.image, request.image.clone());
        let plan = Plan::new(planned, ())
            .now(format!("Express service {name} runs {old_image} ({})", short_name(&previous)))
            .step(format!(
                "update its primary container's image to {} (environment, secrets, logs and command kept)",
                request.image
            ))
            .step(format!(
                "wait until the service deployment is SUCCESSFUL and every task runs the new revision; else stop it and put {} back",
                short_name(&previous)
            ));
        Ok(plan.with_state(ExpressState::Update { service_arn, previous, container }))
    }

    /// Waits on the deployment the create or update started, as the ECS target does.
    async fn wait(
        &self,
        express: &EcsExpressGatewayService,
        task_definition: String,
        previous: &str,
        request: &DeployRequest,
        deadline: Instant,
        console: &Console,
    ) -> Result<DeployOutcome, DeployError> {
        let arn = express.service_arn().unwrap_or_default().to_owned();
        let deployment = match express.current_deployment() {
            Some(deployment) => Some(deployment.to_owned()),
            None => self.describe(&arn, deadline).await.ok().and_then(|s| s.current_deployment().map(str::to_owned)),
        };
        let version = short_name(&task_definition).to_owned();
        console.info(&format!(
            "Express service {} is moving to {version} (service deployment {})",
            self.inner.settings.service,
            deployment.as_deref().unwrap_or("not reported")
        ));
        // The primary container is ECS's to name: any container of each task must report the
        // pushed digest.
        let digests = super::digest_of(&request.image).map(|d| (None, d)).into_iter().collect();
        let expect = Expect { deployment_arn: deployment.clone(), task_definition, digests, pause: false };
        match self.inner.wait_done(&expect, deadline, console).await {
            Ok(service) => {
                let url = self.describe(&arn, deadline).await.map(|s| endpoint(&s)).unwrap_or_default();
                Ok(DeployOutcome {
                    url,
                    version_label: version,
                    previous_version: short_name(previous).to_owned(),
                    deployment_id: deployment.unwrap_or_default(),
                    status: Status::Deployed,
                    health: format!("{}/{} running", service.running_count(), service.desired_count()),
                    details: vec![("express service".to_owned(), arn)],
                })
            }
            Err(WaitFailure::RolledBack(reason)) if previous.is_empty() => {
                Err(failed(format!("ECS rolled the new Express service back ({reason}); nothing runs"), Status::Failed))
            }
            Err(failure) if previous.is_empty() => {
                let why = match failure {
                    WaitFailure::RolledBack(why) | WaitFailure::Timeout(why) | WaitFailure::Lost(why) => why,
                    WaitFailure::Failed { message, .. } => message,
                };
                Err(failed(format!("the new Express service did not come up: {why}"), Status::Failed))
            }
            Err(failure) => Err(self.inner.fail(failure, &expect, &version, previous, request, console).await),
        }
    }
}

impl Target for EcsExpress {
    type State = ExpressState;

    const NAME: &'static str = "ecs-express";
    const STRATEGIES: &'static [Strategy] = &[Strategy::Rolling];
    const DEFAULT_STRATEGY: Strategy = Strategy::Rolling;

    fn reads(_: Strategy) -> &'static [Param] {
        &[]
    }

    async fn plan(
        &self,
        request: &DeployRequest,
        deadline: Instant,
        _console: &Console,
    ) -> Result<Plan<ExpressState>, DeployError> {
        match request.phase {
            Phase::Deploy => self.plan_deploy(request, deadline).await,
            phase => Err(DeployError::Usage(format!(
                "the ecs-express target deploys an image; there is no --{} (deploy the previous image-ref instead)",
                phase.as_str()
            ))),
        }
    }

    async fn apply(
        &self,
        plan: Plan<ExpressState>,
        request: &DeployRequest,
        deadline: Instant,
        console: &Console,
    ) -> Result<DeployOutcome, DeployError> {
        let client = &self.inner.client;
        let settings = &self.inner.settings;
        match plan.state {
            ExpressState::Create { execution, infrastructure } => {
                let container = ExpressGatewayContainer::builder()
                    .image(&request.image)
                    .container_port(i32::from(self.port))
                    .build()
                    .map_err(|e| failed(e.to_string(), Status::Unchanged))?;
                let created = self
                    .inner
                    .call("CreateExpressGatewayService", deadline, || {
                        client
                            .create_express_gateway_service()
                            .cluster(&settings.cluster)
                            .service_name(&settings.service)
                            .execution_role_arn(&execution)
                            .infrastructure_role_arn(&infrastructure)
                            .primary_container(container.clone())
                            .set_health_check_path(self.health_check_path.clone())
                            .send()
                    })
                    .await
                    .map_err(|e| failed(e, Status::Unchanged))?;
                let service = created
                    .service()
                    .cloned()
                    .ok_or_else(|| failed("CreateExpressGatewayService returned no service", Status::Unknown))?;
                let task_definition = service
                    .active_configurations()
                    .first()
                    .and_then(|c| c.task_definition_arn())
                    .unwrap_or_default()
                    .to_owned();
                self.wait(&service, task_definition, "", request, deadline, console).await
            }
            ExpressState::Update { service_arn, previous, container } => {
                let updated = self
                    .inner
                    .call("UpdateExpressGatewayService", deadline, || {
                        client
                            .update_express_gateway_service()
                            .service_arn(&service_arn)
                            .primary_container(container.clone())
                            .send()
                    })
                    .await
                    .map_err(|e| failed(e, Status::Unchanged))?;
                let task_definition = updated
                    .service()
                    .and_then(|s| s.target_configuration())
                    .and_then(|c| c.task_definition_arn())
                    .unwrap_or_default()
                    .to_owned();
                let service = self.describe(&service_arn, deadline).await.map_err(|e| failed(e, Status::Unknown))?;
                self.wait(&service, task_definition, &previous, request, deadline, console).await
            }
        }
    }
}
