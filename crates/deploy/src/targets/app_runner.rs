//! AWS App Runner, for existing services (App Runner takes no new customers since
//! 2026-04-30; new services belong on ECS Express Mode, `--target ecs-express`).
//! `UpdateService` with the image by digest, the rest of the source configuration kept
//! (port, environment, secrets, start command, access role), or `StartDeployment` when the
//! identifier is unchanged; then a wait on that operation. `SUCCEEDED` with the service
//! RUNNING on our image is done; `ROLLBACK_SUCCEEDED` (App Runner put the previous image
//! back) and `FAILED` are failures. An operation cannot be stopped: at the deadline the run
//! ends `timed-out`, saying what still runs.

use std::time::{Duration, Instant};

use aws_sdk_apprunner::Client;
use aws_sdk_apprunner::types::{OperationStatus, Service, ServiceStatus, SourceConfiguration};
use slipway_contract::{Console, interrupt};

use super::aws::call;
use crate::rollout::{Param, Strategy};
use crate::status::Status;
use crate::target::{DeployError, DeployOutcome, DeployRequest, Phase, Plan, Target};

/// The App Runner target.
#[derive(Debug, Clone)]
pub struct AppRunner {
    pub settings: Settings,
    client: Client,
}

/// The target's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The service's name or ARN.
    pub service: String,
    /// Between two looks at the operation (tests shorten it); the first throttling backoff.
    pub poll_interval: Duration,
}

/// What the plan read, for the apply.
#[derive(Debug)]
pub struct AppRunnerState {
    arn: String,
    /// The image the service runs now.
    previous: String,
    /// The source configuration with the new image (unchanged for StartDeployment).
    source: SourceConfiguration,
    /// The image this run makes live.
    image: String,
}

fn failed(message: impl Into<String>, status: Status) -> DeployError {
    DeployError::failed(message, status)
}

fn image_of(service: &Service) -> &str {
    service.source_configuration().and_then(|s| s.image_repository()).map(|r| r.image_identifier()).unwrap_or_default()
}

fn url_of(service: &Service) -> String {
    match service.service_url() {
        None | Some("") => String::new(),
        Some(url) if url.contains("://") => url.to_owned(),
        Some(host) => format!("https://{host}"),
    }
}

impl AppRunner {
    /// The target from `--service` (a name or an ARN) and AWS's default chain.
    pub async fn from_flags(service: Option<&str>) -> Result<Self, DeployError> {
        let service = service.map(str::trim).filter(|s| !s.is_empty()).ok_or_else(|| {
            DeployError::Usage("--target app-runner needs --service (the service's name or ARN)".to_owned())
        })?;
        let config = slipway_aws::config_loader().load().await;
        if config.region().is_none() {
            return Err(DeployError::Usage(
                "no AWS region: set AWS_REGION (or a profile's region) for App Runner".to_owned(),
            ));
        }
        match config.credentials_provider() {
            Some(provider) => {
                use aws_sdk_apprunner::config::ProvideCredentials;
                if let Err(error) = provider.provide_credentials().await {
                    return Err(DeployError::Usage(format!(
                        "no AWS credentials: {error} (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a profile, or web identity for GitHub OIDC)"
                    )));
                }
            }
            None => return Err(DeployError::Usage("no AWS credentials provider is configured".to_owned())),
        }
        let settings = Settings { service: service.to_owned(), poll_interval: Duration::from_secs(10) };
        Ok(Self::with_client(settings, Client::new(&config)))
    }

    pub fn with_client(settings: Settings, client: Client) -> Self {
        Self { settings, client }
    }

    /// The service's ARN: `--service` itself, or the service of that name.
    async fn service_arn(&self, deadline: Instant) -> Result<String, DeployError> {
        let name = &self.settings.service;
        if name.starts_with("arn:") {
            return Ok(name.clone());
        }
        let mut token: Option<String> = None;
        let mut names = Vec::new();
        loop {
            let page = call("apprunner", "ListServices", self.settings.poll_interval, deadline, || {
                self.client.list_services().set_next_token(token.clone()).send()
            })
            .await
            .map_err(|e| failed(e, Status::Unchanged))?;
            for summary in page.service_summary_list() {
                if summary.service_name() == Some(name.as_str()) {
                    return Ok(summary.service_arn().unwrap_or_default().to_owned());
                }
                names.extend(summary.service_name().map(str::to_owned));
            }
            token = page.next_token().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
        Err(DeployError::Usage(format!(
            "App Runner has no service {name} here; it has: {} (App Runner takes no new customers: create new services with --target ecs-express)",
            if names.is_empty() { "none".to_owned() } else { names.join(", ") }
        )))
    }

    async fn describe(&self, arn: &str, deadline: Instant) -> Result<Service, String> {
        let output = call("apprunner", "DescribeService", self.settings.poll_interval, deadline, || {
            self.client.describe_service().service_arn(arn).send()
        })
        .await?;
        output.service().cloned().ok_or_else(|| format!("DescribeService returned nothing for {arn}"))
    }

    /// The service once RUNNING (an operation under way is waited for).
    async fn require_running(&self, arn: &str, deadline: Instant, console: &Console) -> Result<Service, DeployError> {
        let mut service = self.describe(arn, deadline).await.map_err(|e| failed(e, Status::Unchanged))?;
        if service.status() == &ServiceStatus::OperationInProgress {
            console.info(&format!("{}: an operation is under way; waiting for it to finish", service.service_name()));
        }
        while service.status() == &ServiceStatus::OperationInProgress {
            if Instant::now() >= deadline {
                return Err(failed(
                    format!("service {} was still busy at the timeout; nothing was deployed", service.service_name()),
                    Status::Busy,
                ));
            }
            tokio::time::sleep(self.settings.poll_interval).await;
            service = self.describe(arn, deadline).await.map_err(|e| failed(e, Status::Unchanged))?;
        }
        if service.status() != &ServiceStatus::Running {
            return Err(DeployError::Usage(format!(
                "service {} is {}; deploy needs it RUNNING",
                service.service_name(),
                service.status().as_str()
            )));
        }
        Ok(service)
    }

    /// Waits on operation `id` by `deadline`, then for the service to run `image`.
    async fn wait(
        &self,
        arn: &str,
        id: &str,
        image: &str,
        previous: &str,
        deadline: Instant,
        console: &Console,
    ) -> Result<Service, DeployError> {
        let mut said = String::new();
        loop {
            let operations = call("apprunner", "ListOperations", self.settings.poll_interval, deadline, || {
                self.client.list_operations().service_arn(arn).send()
            })
            .await
            .map_err(|e| failed(format!("lost sight of operation {id}: {e}"), Status::Unknown))?;
            let status = operations
                .operation_summary_list()
                .iter()
                .find(|o| o.id() == Some(id))
                .and_then(|o| o.status())
                .cloned();
            let word = status.as_ref().map_or("not listed yet", |s| s.as_str()).to_owned();
            if word != said {
                console.info(&format!("operation {id}: {word}"));
                said.clone_from(&word);
            }
            match status {
                Some(OperationStatus::Succeeded) => {
                    let service = self.describe(arn, deadline).await.map_err(|e| failed(e, Status::Unknown))?;
                    if service.status() == &ServiceStatus::Running && image_of(&service) == image {
                        return Ok(service);
                    }
                    if image_of(&service) != image {
                        return Err(failed(
                            format!(
                                "operation {id} succeeded but the service runs {}, not {image}",
                                image_of(&service)
                            ),
                            Status::Failed,
                        ));
                    }
                }
                Some(OperationStatus::RollbackSucceeded) => {
                    return Err(failed(
                        format!(
                            "App Runner rolled the deployment of {image} back (operation {id}); the service runs {previous} again"
                        ),
                        Status::RolledBack,
                    ));
                }
                Some(OperationStatus::Failed | OperationStatus::RollbackFailed) => {
                    return Err(failed(
                        format!(
                            "operation {id} ended {word}: the deployment of {image} failed; look at the service's event log"
                        ),
                        Status::Failed,
                    ));
                }
                _ => {}
            }
            if Instant::now() >= deadline {
                return Err(failed(
                    format!(
                        "operation {id} was still {word} at the deadline; App Runner operations cannot be stopped: it goes on, and App Runner rolls it back if it fails"
                    ),
                    Status::TimedOut,
                ));
            }
            let pause = self.settings.poll_interval.min(deadline.saturating_duration_since(Instant::now()));
            if let Err(interrupted) = interrupt::sleep(pause).await {
                return Err(failed(
                    format!(
                        "deploy was {interrupted} while operation {id} was {word}; App Runner operations cannot be stopped: it goes on, and App Runner rolls it back if it fails"
                    ),
                    Status::Unknown,
                ));
            }
        }
    }
}

impl Target for AppRunner {
    type State = AppRunnerState;

    const NAME: &'static str = "app-runner";
    const STRATEGIES: &'static [Strategy] = &[Strategy::Rolling];
    const DEFAULT_STRATEGY: Strategy = Strategy::Rolling;

    fn reads(_: Strategy) -> &'static [Param] {
        &[]
    }

    async fn plan(
        &self,
        request: &DeployRequest,
        deadline: Instant,
        console: &Console,
    ) -> Result<Plan<AppRunnerState>, DeployError> {
        let image = match request.phase {
            Phase::Deploy => request.image.clone(),
            Phase::Rollback if !request.version_label.is_empty() => request.version_label.clone(),
            Phase::Rollback => {
                return Err(DeployError::Usage(
                    "App Runner keeps no image history: --rollback needs --version-label with the image to return to (deploy's previous-version output)".to_owned(),
                ));
            }
            phase => {
                return Err(DeployError::Usage(format!("the app-runner target has no --{}", phase.as_str())));
            }
        };
        let arn = self.service_arn(deadline).await?;
        let service = self.require_running(&arn, deadline, console).await?;
        let name = service.service_name().to_owned();
        let mut source = service
            .source_configuration()
            .cloned()
            .ok_or_else(|| DeployError::Usage(format!("service {name} has no source configuration")))?;
        let Some(repository) = source.image_repository.as_mut() else {
            return Err(DeployError::Usage(format!(
                "service {name} builds from a code repository; slipway deploys images"
            )));
        };
        let previous = std::mem::replace(&mut repository.image_identifier, image.clone());
        let outcome = DeployOutcome {
            url: url_of(&service),
            version_label: image.clone(),
            previous_version: previous.clone(),
            deployment_id: String::new(),
            status: Status::Planned,
            health: service.status().as_str().to_owned(),
            details: Vec::new(),
        };
        let step = if previous == image {
            format!("start a deployment of {name} (StartDeployment: the image identifier is unchanged, {image})")
        } else {
            format!(
                "update {name}'s image from {previous} to {image} (UpdateService; port, environment, secrets and start command kept)"
            )
        };
        let plan = Plan::new(outcome, ())
            .now(format!("App Runner service {name} runs {previous} ({})", service.status().as_str()))
            .step(step)
            .step("wait until the operation SUCCEEDED and the service is RUNNING on it; ROLLBACK_SUCCEEDED and FAILED are failures");
        Ok(plan.with_state(AppRunnerState { arn, previous, source, image }))
    }

    async fn apply(
        &self,
        plan: Plan<AppRunnerState>,
        request: &DeployRequest,
        deadline: Instant,
        console: &Console,
    ) -> Result<DeployOutcome, DeployError> {
        let AppRunnerState { arn, previous, source, image } = plan.state;
        let id = if previous == image {
            call("apprunner", "StartDeployment", self.settings.poll_interval, deadline, || {
                self.client.start_deployment().service_arn(&arn).send()
            })
            .await
            .map_err(|e| failed(e, Status::Unchanged))?
            .operation_id()
            .to_owned()
        } else {
            call("apprunner", "UpdateService", self.settings.poll_interval, deadline, || {
                self.client.update_service().service_arn(&arn).source_configuration(source.clone()).send()
            })
            .await
            .map_err(|e| failed(e, Status::Unchanged))?
            .operation_id()
            .to_owned()
        };
        console.info(&format!("operation {id} started: {image}"));
        let service = self.wait(&arn, &id, &image, &previous, deadline, console).await?;
        Ok(DeployOutcome {
            url: url_of(&service),
            version_label: image,
            previous_version: previous,
            deployment_id: id,
            status: if request.phase == Phase::Rollback { Status::RolledBack } else { Status::Deployed },
            health: service.status().as_str().to_owned(),
            details: vec![("service".to_owned(), arn)],
        })
    }
}
