//! Amazon ECS: a new task definition revision from the service's current one (or
//! `--task-definition`'s file) with only the chosen container's image changed to the
//! pushed digest, then `UpdateService` with the deployment circuit breaker on, and a wait
//! on the service deployment slipway started. Done only when that deployment is
//! SUCCESSFUL, the service runs the new revision alone and every running task reports the
//! pushed digest. ECS rolling back (the circuit breaker, an alarm) is a failure
//! (`rolled-back`), never success; tasks that stop end the wait at once with their
//! reasons; at the deadline the deployment is stopped with a rollback and waited for.
//!
//! - `flags`: the flags, checked into [`Settings`].
//! - `task_definition`: the container, the new revision, the file parser.
//! - `service`: the calls (throttling, AccessDenied), the looks and the waits.

pub mod express;
mod flags;
mod judged;
mod service;
pub mod task_definition;

use std::time::{Duration, Instant};

use aws_sdk_ecs::Client;
use aws_sdk_ecs::types::{
    CanaryConfiguration, DeploymentCircuitBreaker, DeploymentConfiguration, DeploymentControllerType,
    DeploymentLifecycleHook, DeploymentLifecycleHookAction, DeploymentLifecycleHookStage,
    DeploymentLifecycleHookTargetType, DeploymentLifecycleHookTimeoutConfiguration, DeploymentStrategy,
    LinearConfiguration, Service, SortOrder, TaskDefinitionField, TaskDefinitionStatus,
};
use slipway_contract::Console;
use slipway_registry::ImageReference;

pub use self::flags::{EcsFlags, Native, Settings};
use self::service::{Expect, WaitFailure, awaiting_hook, describe_service, primary};
use self::task_definition::{Source, family_revision, short_name};
use crate::analysis::{run_blue_green, run_canary, timeline_details};
use crate::rollout::{Param, Strategy};
use crate::status::Status;
use crate::target::{DeployError, DeployOutcome, DeployRequest, Phase, Plan, Target};

/// The longest putting the previous revision back may take after a failed rollout (at
/// most `--timeout` again: the rollout's own deadline has usually passed by then).
const ROLLBACK_BUDGET: Duration = Duration::from_secs(15 * 60);

/// The ECS target.
#[derive(Debug, Clone)]
pub struct Ecs {
    pub settings: Settings,
    client: Client,
}

/// What the plan read, for the apply.
#[derive(Debug)]
pub enum EcsState {
    /// Register `definition` (a new revision) and move the service to it.
    Deploy {
        /// The task definition ARN the service runs now.
        previous: String,
        source: Box<Source>,
        /// The container that gets the image.
        container: String,
        configuration: Option<DeploymentConfiguration>,
    },
    /// Move the service back to `target` (a task definition ARN).
    /// `digests`: the images `target` pins, which its running tasks must report.
    Rollback {
        previous: String,
        target: String,
        configuration: Option<DeploymentConfiguration>,
        digests: Vec<(Option<String>, String)>,
    },
    /// Continue (promote) or roll back (reject) the service deployment `arn`, paused at
    /// hook `hook`; it moves the service from `previous` to `target`, whose pinned images
    /// (`digests`) the running tasks must report once promoted.
    Finish { arn: String, hook: String, target: String, previous: String, digests: Vec<(Option<String>, String)> },
}

/// How long ECS keeps a deployment paused at slipway's hook before rolling it back.
const PAUSE_MINUTES: i32 = 24 * 60;

/// Where slipway's PAUSE hook stops a canary or blue-green deployment: the new revision
/// takes all the test listener's traffic, none of production's.
const PAUSE_STAGE: DeploymentLifecycleHookStage = DeploymentLifecycleHookStage::PostTestTrafficShift;

/// Where slipway's second PAUSE hook holds a rollout judged by analysis: all production
/// traffic on the new revision, the old one still running (a canary's final watch,
/// blue-green's "after the switch").
const WATCH_STAGE: DeploymentLifecycleHookStage = DeploymentLifecycleHookStage::PostProductionTrafficShift;

/// One of slipway's PAUSE hooks: at its stages only, rolled back by ECS after a day.
fn is_pause_hook(hook: &DeploymentLifecycleHook) -> bool {
    hook.target_type() == Some(&DeploymentLifecycleHookTargetType::Pause)
        && !hook.lifecycle_stages().is_empty()
        && hook.lifecycle_stages().iter().all(|stage| *stage == PAUSE_STAGE || *stage == WATCH_STAGE)
}

fn pause_hook(stage: DeploymentLifecycleHookStage) -> DeploymentLifecycleHook {
    DeploymentLifecycleHook::builder()
        .target_type(DeploymentLifecycleHookTargetType::Pause)
        .lifecycle_stages(stage)
        .timeout_configuration(
            DeploymentLifecycleHookTimeoutConfiguration::builder()
                .timeout_in_minutes(PAUSE_MINUTES)
                .action(DeploymentLifecycleHookAction::Rollback)
                .build(),
        )
        .build()
}

/// The digest an image reference pins (`repo@sha256:...`), if it does.
pub(crate) fn digest_of(image: &str) -> Option<String> {
    ImageReference::parse(image).ok().and_then(|r| r.digest().map(str::to_owned))
}

fn failed(message: impl Into<String>, status: Status) -> DeployError {
    DeployError::failed(message, status)
}

impl Ecs {
    /// Builds the client from AWS's default chain (environment, profile, web identity),
    /// refusing a missing region or missing credentials before anything is called.
    /// `strategy_given`: --strategy was given (else the service's own native strategy is
    /// kept); `check`: the path a judged rollout's analysis probes.
    pub async fn from_flags(
        flags: &EcsFlags,
        strategy_given: bool,
        check: Option<&str>,
        request: &DeployRequest,
    ) -> Result<Self, DeployError> {
        let judged = request.analysis.is_some() && request.phase == Phase::Deploy;
        let mut settings = Settings::new(flags, &request.rollout, judged).await?;
        settings.keep_strategy = !strategy_given;
        if let Some(check) = check {
            settings.check = check.to_owned();
        }
        if let Some(source) = &settings.from_file
            && request.phase == Phase::Deploy
        {
            task_definition::choose_container(source, settings.container.as_deref(), &request.image)?;
        }
        Ok(Self::with_client(settings, Self::client_from_env().await?))
    }

    /// An ECS client from AWS's default chain (environment, profile, web identity),
    /// refusing a missing region or missing credentials before anything is called.
    pub async fn client_from_env() -> Result<Client, DeployError> {
        Ok(Client::new(&Self::config_from_env().await?))
    }

    async fn config_from_env() -> Result<aws_config::SdkConfig, DeployError> {
        let config = slipway_aws::config_loader().load().await;
        if config.region().is_none() {
            return Err(DeployError::Usage("no AWS region: set AWS_REGION (or a profile's region) for ECS".to_owned()));
        }
        match config.credentials_provider() {
            Some(provider) => {
                use aws_sdk_ecs::config::ProvideCredentials;
                if let Err(error) = provider.provide_credentials().await {
                    return Err(DeployError::Usage(format!(
                        "no AWS credentials: {error} (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a profile, or web identity for GitHub OIDC)"
                    )));
                }
            }
            None => return Err(DeployError::Usage("no AWS credentials provider is configured".to_owned())),
        }
        Ok(config)
    }

    pub fn with_client(settings: Settings, client: Client) -> Self {
        Self { settings, client }
    }

    /// Where users reach the service (the `url` output): `--service-url` once it runs the
    /// revision; while a canary or blue-green deployment waits at its hook, the new
    /// revision answers on the test listener (`--test-listener-url`).
    fn url(&self, status: Status) -> String {
        let url = if matches!(status, Status::Canary | Status::GreenReady) {
            &self.settings.test_listener_url
        } else {
            &self.settings.service_url
        };
        url.clone().unwrap_or_default()
    }

    /// The service, which must exist, be active and be deployed by ECS itself.
    async fn require_service(&self, deadline: Instant) -> Result<Service, DeployError> {
        let (cluster, name) = (&self.settings.cluster, &self.settings.service);
        let service = self
            .look_service(deadline)
            .await
            .map_err(|e| failed(e, Status::Unchanged))?
            .ok_or_else(|| DeployError::Usage(format!("cluster {cluster} has no active service {name}")))?;
        if service.status() != Some("ACTIVE") {
            return Err(DeployError::Usage(format!(
                "service {name} is {}, not ACTIVE",
                service.status().unwrap_or("in no state")
            )));
        }
        let controller = service.deployment_controller().map(|c| c.r#type());
        if let Some(kind) = controller
            && *kind != DeploymentControllerType::Ecs
        {
            return Err(DeployError::Usage(format!(
                "service {name} is deployed by {}, not by ECS; slipway drives ECS's own deployments",
                kind.as_str()
            )));
        }
        Ok(service)
    }

    /// The service once one deployment alone runs (a deployment under way is waited for).
    async fn require_settled(&self, deadline: Instant, console: &Console) -> Result<Service, DeployError> {
        let mut service = self.require_service(deadline).await?;
        if service.deployments().len() > 1 {
            console.info(&format!(
                "{}: a deployment is under way; waiting for it to finish before deploying",
                self.settings.service
            ));
        }
        while service.deployments().len() > 1 {
            if Instant::now() >= deadline {
                return Err(failed(
                    format!(
                        "service {} was still deploying at the timeout ({}); nothing was deployed",
                        self.settings.service,
                        describe_service(&service, &self.settings.cluster)
                    ),
                    Status::Busy,
                ));
            }
            tokio::time::sleep(self.settings.poll_interval).await;
            service = self.require_service(deadline).await?;
        }
        Ok(service)
    }

    /// The native strategy the service keeps: with no --strategy, a service on ECS's
    /// BLUE_GREEN, CANARY or LINEAR strategy stays on it (a default deploy is no request
    /// to switch it to ROLLING).
    fn kept_strategy(&self, current: Option<&DeploymentConfiguration>) -> Option<DeploymentStrategy> {
        let strategy = current.and_then(|c| c.strategy())?;
        (self.settings.keep_strategy && self.settings.native.is_none() && *strategy != DeploymentStrategy::Rolling)
            .then(|| strategy.clone())
    }

    /// Refuses (exit 2) a rolling budget on a service that keeps its native strategy.
    fn refuse_budget_on_kept(&self, current: Option<&DeploymentConfiguration>) -> Result<(), DeployError> {
        let Some(kept) = self.kept_strategy(current) else { return Ok(()) };
        let budget = [
            (self.settings.maximum_percent.is_some(), "--max-surge"),
            (self.settings.minimum_healthy_percent.is_some(), "--max-unavailable"),
        ];
        match budget.iter().find(|(given, _)| *given) {
            Some((_, flag)) => Err(DeployError::Usage(format!(
                "service {} deploys with its own {} strategy, which {flag} does not shape; give --strategy rolling to switch it to a rolling deployment",
                self.settings.service,
                kept.as_str()
            ))),
            None => Ok(()),
        }
    }

    /// The service's deployment configuration with the circuit breaker and the rolling
    /// budget this run sets; everything else (alarms, hooks) as the service has it. Without
    /// --strategy a native strategy the service has is kept with its parameters; only an
    /// explicit --strategy changes it. `judged`: a rollout judged by analysis, paused once
    /// more after the production traffic shift (the final watch, or after the switch).
    fn configuration(&self, current: Option<&DeploymentConfiguration>, judged: bool) -> DeploymentConfiguration {
        let kept = self.kept_strategy(current);
        let mut configuration = current.cloned().unwrap_or_else(|| DeploymentConfiguration::builder().build());
        if self.settings.circuit_breaker {
            configuration.deployment_circuit_breaker =
                Some(DeploymentCircuitBreaker::builder().enable(true).rollback(true).build());
        }
        if let Some(maximum) = self.settings.maximum_percent {
            configuration.maximum_percent = Some(maximum);
        }
        if let Some(minimum) = self.settings.minimum_healthy_percent {
            configuration.minimum_healthy_percent = Some(minimum);
        }
        // slipway's PAUSE hooks are dropped (a deployment it does not pause would wait at
        // them until ECS's timeout), then added again for canary and blue-green.
        let mut hooks: Vec<DeploymentLifecycleHook> =
            configuration.lifecycle_hooks().iter().filter(|h| !is_pause_hook(h)).cloned().collect();
        if kept.is_none() {
            configuration.strategy = Some(match self.settings.native {
                None => DeploymentStrategy::Rolling,
                Some(Native::BlueGreen { bake_minutes }) => {
                    // Judged, slipway's watch at the hook after the switch is the bake (the
                    // old revision still running); ECS's own would only hold the run longer.
                    configuration.bake_time_in_minutes = Some(if judged { 0 } else { bake_minutes });
                    DeploymentStrategy::BlueGreen
                }
                Some(Native::Canary { percent, bake_minutes }) => {
                    configuration.canary_configuration = Some(
                        CanaryConfiguration::builder()
                            .canary_percent(f64::from(percent))
                            .canary_bake_time_in_minutes(bake_minutes)
                            .build(),
                    );
                    DeploymentStrategy::Canary
                }
                Some(Native::Linear { step, bake_minutes }) => {
                    configuration.linear_configuration = Some(
                        LinearConfiguration::builder()
                            .step_percent(f64::from(step))
                            .step_bake_time_in_minutes(bake_minutes)
                            .build(),
                    );
                    DeploymentStrategy::Linear
                }
            });
        }
        if self.settings.native.is_some() {
            hooks.push(pause_hook(PAUSE_STAGE));
            if judged {
                hooks.push(pause_hook(WATCH_STAGE));
            }
        }
        configuration.lifecycle_hooks = if hooks.is_empty() { None } else { Some(hooks) };
        configuration
    }

    /// `rolling (minimum healthy 100%, maximum 200%), circuit breaker with rollback`.
    /// `kept`: the service's own native strategy stays; `judged`: analysis judges the rollout.
    fn describe_configuration(&self, configuration: &DeploymentConfiguration, kept: bool, judged: bool) -> String {
        let breaker = match configuration.deployment_circuit_breaker() {
            Some(b) if b.enable() && b.rollback() => "circuit breaker with rollback",
            Some(b) if b.enable() => "circuit breaker without rollback",
            _ => "no circuit breaker",
        };
        if let Some(native) = self.settings.native {
            if judged {
                let test = format!(
                    "{}{} (the test listener)",
                    self.settings.test_listener_url.as_deref().unwrap_or_default().trim_end_matches('/'),
                    self.settings.check
                );
                let all = match &self.settings.service_url {
                    Some(url) => format!("{}{} (--service-url)", url.trim_end_matches('/'), self.settings.check),
                    None => "the test listener".to_owned(),
                };
                if let Native::BlueGreen { .. } = native {
                    return format!(
                        "blue/green, judged by analysis: paused at {} (judged at {test} before the switch) and at {} (judged at {all} after the switch, the old revision still running; no ECS bake after it)",
                        PAUSE_STAGE.as_str(),
                        WATCH_STAGE.as_str()
                    );
                }
                return format!(
                    "{}, each phase judged by analysis: paused at {} before the canary phase (judged at {test} through it) and at {} for the final watch (judged at {all})",
                    native.describe(),
                    PAUSE_STAGE.as_str(),
                    WATCH_STAGE.as_str()
                );
            }
            return format!(
                "{}, paused at {} (the new revision on the test listener) for --promote or --reject",
                native.describe(),
                PAUSE_STAGE.as_str()
            );
        }
        let strategy = configuration.strategy().map_or("ROLLING", |s| s.as_str()).to_ascii_lowercase();
        if kept {
            return format!(
                "the service's own {strategy} strategy, kept with its settings (no --strategy given), {breaker}"
            );
        }
        format!(
            "{strategy} (minimum healthy {}, maximum {}), {breaker}",
            configuration.minimum_healthy_percent().map_or("ECS's default".to_owned(), |p| format!("{p}%")),
            configuration.maximum_percent().map_or("ECS's default".to_owned(), |p| format!("{p}%")),
        )
    }

    /// The images task definition `arn` pins by digest, by container: what its running
    /// tasks must report.
    async fn pinned_digests(&self, arn: &str, deadline: Instant) -> Result<Vec<(Option<String>, String)>, DeployError> {
        if arn.is_empty() {
            return Ok(Vec::new());
        }
        let source = self.current_definition(arn, deadline).await?;
        Ok(source
            .definition
            .container_definitions()
            .iter()
            .filter_map(|c| Some((c.name().map(str::to_owned), digest_of(c.image()?)?)))
            .collect())
    }

    /// The task definition the service runs, with its tags.
    async fn current_definition(&self, arn: &str, deadline: Instant) -> Result<Source, DeployError> {
        let output = self
            .call("DescribeTaskDefinition", deadline, || {
                self.client.describe_task_definition().task_definition(arn).include(TaskDefinitionField::Tags).send()
            })
            .await
            .map_err(|e| failed(e, Status::Unchanged))?;
        let definition = output
            .task_definition()
            .cloned()
            .ok_or_else(|| failed(format!("DescribeTaskDefinition returned nothing for {arn}"), Status::Unchanged))?;
        Ok(Source { definition, tags: output.tags().to_vec() })
    }

    fn outcome(service: &Service, version: &str, previous: &str, deployment_id: &str, status: Status) -> DeployOutcome {
        DeployOutcome {
            url: String::new(),
            version_label: version.to_owned(),
            previous_version: previous.to_owned(),
            deployment_id: deployment_id.to_owned(),
            status,
            health: format!("{}/{} running", service.running_count(), service.desired_count()),
            details: vec![("task definition".to_owned(), service.task_definition().unwrap_or_default().to_owned())],
        }
    }

    async fn plan_deploy(
        &self,
        request: &DeployRequest,
        deadline: Instant,
        console: &Console,
    ) -> Result<Plan<EcsState>, DeployError> {
        let service = self.require_settled(deadline, console).await?;
        if self.settings.native.is_some()
            && !service
                .load_balancers()
                .iter()
                .any(|lb| lb.advanced_configuration().is_some_and(|a| a.test_listener_rule().is_some()))
        {
            return Err(DeployError::Usage(format!(
                "--strategy {} on ECS needs a service behind a load balancer with an alternate target group and a test listener rule (advancedConfiguration); service {} has none",
                request.strategy(),
                self.settings.service
            )));
        }
        let previous = service.task_definition().unwrap_or_default().to_owned();
        let source = match &self.settings.from_file {
            Some(source) => source.clone(),
            None => self.current_definition(&previous, deadline).await?,
        };
        let index = task_definition::choose_container(&source, self.settings.container.as_deref(), &request.image)?;
        let container = source.container_names().get(index).map(|n| (*n).to_owned()).unwrap_or_default();
        self.refuse_budget_on_kept(service.deployment_configuration())?;
        let kept = self.kept_strategy(service.deployment_configuration()).is_some();
        let judged = request.analysis.is_some();
        let configuration = self.configuration(service.deployment_configuration(), judged);
        let family = source.definition.family().unwrap_or_default();
        let from = if self.settings.from_file.is_some() {
            "the --task-definition file".to_owned()
        } else {
            short_name(&previous).to_owned()
        };
        let mut outcome =
            Self::outcome(&service, &format!("{family}:(next)"), short_name(&previous), "", Status::Planned);
        outcome.health = "unknown".to_owned();
        let plan = Plan::new(outcome, ())
            .now(describe_service(&service, &self.settings.cluster))
            .step(format!(
                "register a revision of {family} from {from} with container {container}'s image set to {}",
                request.image
            ))
            .step(format!(
                "update service {} to it: {}",
                self.settings.service,
                self.describe_configuration(&configuration, kept, judged)
            ))
            .step(match (judged, self.settings.native) {
                (true, Some(Native::BlueGreen { .. })) => format!(
                    "judge the new revision for --bake before the switch, CONTINUE (all production traffic moves at once), judge it for --bake after the switch; a crossed gate sends ROLLBACK at the hook (back to {}); passed, CONTINUE and wait until the service deployment is SUCCESSFUL and every running task reports the pushed digest",
                    short_name(&previous)
                ),
                (true, _) => format!(
                    "at each phase judge the new revision for --bake; CONTINUE while every gate holds, else ROLLBACK to {}; once promoted wait until the service deployment is SUCCESSFUL and every running task reports the pushed digest",
                    short_name(&previous)
                ),
                (false, _) if self.settings.native.is_some() => format!(
                    "wait until the deployment pauses at {} with the new revision on the test listener; else stop it and put {} back",
                    PAUSE_STAGE.as_str(),
                    short_name(&previous)
                ),
                (false, _) => format!(
                    "wait until the service deployment is SUCCESSFUL and every running task reports {}; else stop it and put {} back",
                    ImageReference::parse(&request.image)
                        .ok()
                        .and_then(|r| r.digest().map(str::to_owned))
                        .unwrap_or_else(|| request.image.clone()),
                    short_name(&previous)
                ),
            });
        Ok(plan.with_state(EcsState::Deploy {
            previous,
            source: Box::new(source),
            container,
            configuration: Some(configuration),
        }))
    }

    async fn apply_deploy(
        &self,
        state: EcsState,
        request: &DeployRequest,
        deadline: Instant,
        console: &Console,
    ) -> Result<DeployOutcome, DeployError> {
        let EcsState::Deploy { previous, source, container, configuration } = state else {
            return Err(failed("internal: a rollback plan reached the deploy", Status::Unknown));
        };
        let index = source.container_names().iter().position(|n| *n == container).unwrap_or(0);
        let definition = task_definition::with_image(&source, index, &request.image);
        let registered = self
            .call("RegisterTaskDefinition", deadline, || {
                task_definition::register(self.client.register_task_definition(), &definition, &source.tags).send()
            })
            .await
            .map_err(|e| failed(e, Status::Unchanged))?;
        let registered = registered
            .task_definition()
            .ok_or_else(|| failed("RegisterTaskDefinition returned no task definition", Status::Unchanged))?;
        let arn = registered.task_definition_arn().unwrap_or_default().to_owned();
        let version = family_revision(registered);
        console.info(&format!("registered {version} (container {container}: {})", request.image));
        let expect = Expect {
            deployment_arn: None,
            task_definition: arn.clone(),
            digests: digest_of(&request.image).map(|d| (Some(container), d)).into_iter().collect(),
            pause: self.settings.native.is_some(),
        };
        // A judged rollout goes on from the hook the deployment pauses at (`paused`).
        let gated = match (&request.analysis, self.settings.native) {
            (Some(analysis), Some(Native::Canary { percent, .. })) => {
                Some((analysis, judged::Shape::Canary { percent }, Status::Canary))
            }
            (Some(analysis), Some(Native::BlueGreen { .. })) => {
                Some((analysis, judged::Shape::BlueGreen, Status::GreenReady))
            }
            _ => None,
        };
        let paused = self
            .move_to(expect.clone(), &version, &previous, configuration, Status::Deployed, request, deadline, console)
            .await?;
        let Some((analysis, shape, _)) = gated.filter(|(_, _, paused_as)| paused.status == *paused_as) else {
            return Ok(paused);
        };
        let expect = Expect { deployment_arn: Some(paused.deployment_id.clone()), pause: false, ..expect };
        let mut shift = judged::EcsJudged::new(self, request, expect, version.clone(), previous.clone(), shape);
        let verdict = match shape {
            judged::Shape::Canary { .. } => run_canary(&mut shift, request, analysis, deadline, console).await?,
            judged::Shape::BlueGreen => run_blue_green(&mut shift, request, analysis, deadline, console).await?,
        };
        let service = self.require_service(deadline).await?;
        let mut outcome =
            Self::outcome(&service, &version, short_name(&previous), &paused.deployment_id, Status::Promoted);
        outcome.details.extend(timeline_details(&verdict.records, request.rollout.steps_or_default().len()));
        Ok(outcome)
    }

    /// UpdateService to `expect`'s task definition, then the wait; a failure is undone.
    #[allow(clippy::too_many_arguments)] // The one place deploy and rollback meet.
    async fn move_to(
        &self,
        mut expect: Expect,
        version: &str,
        previous: &str,
        configuration: Option<DeploymentConfiguration>,
        done: Status,
        request: &DeployRequest,
        deadline: Instant,
        console: &Console,
    ) -> Result<DeployOutcome, DeployError> {
        let updated = self
            .call("UpdateService", deadline, || {
                self.client
                    .update_service()
                    .cluster(&self.settings.cluster)
                    .service(&self.settings.service)
                    .task_definition(&expect.task_definition)
                    .set_deployment_configuration(configuration.clone())
                    .send()
            })
            .await
            .map_err(|e| failed(e, Status::Unchanged))?;
        expect.deployment_arn = updated.service().and_then(|s| s.current_service_deployment()).map(str::to_owned);
        let deployment_id = expect
            .deployment_arn
            .clone()
            .unwrap_or_else(|| updated.service().and_then(primary).and_then(|p| p.id()).unwrap_or_default().to_owned());
        console.info(&format!(
            "service {} is moving to {version} (service deployment {deployment_id})",
            self.settings.service
        ));
        match self.wait_done(&expect, deadline, console).await {
            Ok(service) if expect.pause => {
                let paused = match &expect.deployment_arn {
                    Some(arn) => {
                        self.look_deployment(arn, deadline).await.ok().flatten().and_then(|d| awaiting_hook(&d))
                    }
                    None => None,
                };
                let status = match (paused, request.strategy()) {
                    (None, _) => {
                        console.warning("the deployment did not pause at slipway's hook: ECS finished it");
                        Status::Deployed
                    }
                    (Some(_), Strategy::BlueGreen) => Status::GreenReady,
                    (Some(_), _) => Status::Canary,
                };
                // A judged rollout goes on by itself; a phased one waits for the workflow.
                if status != Status::Deployed && request.analysis.is_none() {
                    console.info(&format!(
                        "{version} takes the test listener's traffic, none of production's; judge it, then --promote or --reject (ECS rolls it back by itself after {}h)",
                        PAUSE_MINUTES / 60
                    ));
                }
                Ok(Self::outcome(&service, version, short_name(previous), &deployment_id, status))
            }
            Ok(service) => Ok(Self::outcome(&service, version, short_name(previous), &deployment_id, done)),
            Err(failure) => Err(self.fail(failure, &expect, version, previous, request, console).await),
        }
    }

    /// Turns a failed wait into the step's failure, putting `previous` back when ECS has
    /// not (by its own deadline: the rollout's has usually passed).
    async fn fail(
        &self,
        failure: WaitFailure,
        expect: &Expect,
        version: &str,
        previous: &str,
        request: &DeployRequest,
        console: &Console,
    ) -> DeployError {
        let service = &self.settings.service;
        let (why, reasons, status) = match failure {
            WaitFailure::RolledBack(reason) => {
                return failed(
                    format!(
                        "ECS rolled the deployment of {version} back ({reason}); service {service} runs {} again",
                        short_name(previous)
                    ),
                    Status::RolledBack,
                );
            }
            WaitFailure::Failed { message, reasons } => {
                (format!("the deployment of {version} failed: {message}"), reasons, Status::Failed)
            }
            WaitFailure::Timeout(last) => (
                format!(
                    "service {service} was not done on {version} within {} ({last})",
                    humantime::format_duration(request.timeout)
                ),
                Vec::new(),
                Status::TimedOut,
            ),
            WaitFailure::Lost(error) => {
                (format!("lost sight of the deployment of {version}: {error}"), Vec::new(), Status::Unknown)
            }
        };
        let restore_deadline = Instant::now() + ROLLBACK_BUDGET.min(request.timeout);
        let (message, status) = match self.restore(expect, previous, restore_deadline, console).await {
            Ok(()) => (format!("{why}; service {service} is back on {}", short_name(previous)), Status::RolledBack),
            Err(error) => (format!("{why}; putting {} back failed too: {error}", short_name(previous)), status),
        };
        DeployError::Failed { message, status, detail: reasons }
    }

    async fn plan_rollback(
        &self,
        request: &DeployRequest,
        deadline: Instant,
        console: &Console,
    ) -> Result<Plan<EcsState>, DeployError> {
        let service = self.require_settled(deadline, console).await?;
        let current = service.task_definition().unwrap_or_default().to_owned();
        let target = if request.version_label.is_empty() {
            self.revision_before(&current, deadline).await?
        } else {
            let wanted = &request.version_label;
            self.call("DescribeTaskDefinition", deadline, || {
                self.client.describe_task_definition().task_definition(wanted).send()
            })
            .await
            .map_err(|e| DeployError::Usage(format!("--version-label {wanted} names no task definition: {e}")))?
            .task_definition()
            .and_then(|d| d.task_definition_arn())
            .map(str::to_owned)
            .ok_or_else(|| DeployError::Usage(format!("--version-label {wanted} names no task definition")))?
        };
        self.refuse_budget_on_kept(service.deployment_configuration())?;
        let kept = self.kept_strategy(service.deployment_configuration()).is_some();
        let configuration = self.configuration(service.deployment_configuration(), false);
        let mut outcome = Self::outcome(&service, short_name(&target), short_name(&current), "", Status::Planned);
        outcome.health = "unknown".to_owned();
        let plan = Plan::new(outcome, ())
            .now(describe_service(&service, &self.settings.cluster))
            .step(format!(
                "update service {} from {} back to {}: {}",
                self.settings.service,
                short_name(&current),
                short_name(&target),
                self.describe_configuration(&configuration, kept, false)
            ))
            .step(format!(
                "wait until the service deployment is SUCCESSFUL and every running task runs {}",
                short_name(&target)
            ));
        let digests = self.pinned_digests(&target, deadline).await?;
        Ok(plan.with_state(EcsState::Rollback {
            previous: current,
            target,
            configuration: Some(configuration),
            digests,
        }))
    }

    /// `--promote` and `--reject`: the service deployment paused at slipway's hook.
    async fn plan_finish(&self, request: &DeployRequest, deadline: Instant) -> Result<Plan<EcsState>, DeployError> {
        let service = self.require_service(deadline).await?;
        let name = &self.settings.service;
        let verb = request.phase.as_str();
        let arn = service.current_service_deployment().map(str::to_owned).ok_or_else(|| {
            DeployError::Usage(format!("service {name} has no service deployment under way; nothing to {verb}"))
        })?;
        let deployment =
            self.look_deployment(&arn, deadline).await.map_err(|e| failed(e, Status::Unchanged))?.ok_or_else(|| {
                DeployError::Usage(format!("service deployment {arn} is not found; nothing to {verb}"))
            })?;
        let hook = awaiting_hook(&deployment).ok_or_else(|| {
            DeployError::Usage(format!(
                "service {name}'s deployment is not paused at a lifecycle hook (it is {}); nothing to {verb}",
                deployment.status().map_or("in no state", |s| s.as_str())
            ))
        })?;
        let target = primary(&service).and_then(|p| p.task_definition()).unwrap_or_default().to_owned();
        let previous = service
            .deployments()
            .iter()
            .filter(|d| d.status() != Some("PRIMARY"))
            .find_map(|d| d.task_definition())
            .unwrap_or_default()
            .to_owned();
        let mut outcome = Self::outcome(&service, short_name(&target), short_name(&previous), &arn, Status::Planned);
        outcome.health = "unknown".to_owned();
        let step = if request.phase == Phase::Promote {
            format!(
                "continue service deployment {arn} (ContinueServiceDeployment CONTINUE): production traffic moves to {}; wait until it is SUCCESSFUL",
                short_name(&target)
            )
        } else {
            format!(
                "roll service deployment {arn} back (ContinueServiceDeployment ROLLBACK); wait until the service runs {} alone",
                short_name(&previous)
            )
        };
        let plan = Plan::new(outcome, ())
            .now(describe_service(&service, &self.settings.cluster))
            .now(format!("service deployment {arn} waits at hook {hook}"));
        let digests = self.pinned_digests(&target, deadline).await?;
        Ok(plan.step(step).with_state(EcsState::Finish { arn, hook, target, previous, digests }))
    }

    #[allow(clippy::too_many_arguments)] // What the plan found, and the run's own.
    async fn apply_finish(
        &self,
        arn: &str,
        hook: &str,
        target: &str,
        previous: &str,
        digests: &[(Option<String>, String)],
        request: &DeployRequest,
        deadline: Instant,
        console: &Console,
    ) -> Result<DeployOutcome, DeployError> {
        let promote = request.phase == Phase::Promote;
        let action =
            if promote { DeploymentLifecycleHookAction::Continue } else { DeploymentLifecycleHookAction::Rollback };
        self.call("ContinueServiceDeployment", deadline, || {
            self.client
                .continue_service_deployment()
                .service_deployment_arn(arn)
                .hook_id(hook)
                .action(action.clone())
                .send()
        })
        .await
        .map_err(|e| failed(e, Status::Unchanged))?;
        console.info(&format!("service deployment {arn}: {} sent", action.as_str()));
        if promote {
            let expect = Expect {
                deployment_arn: Some(arn.to_owned()),
                task_definition: target.to_owned(),
                digests: digests.to_vec(),
                pause: false,
            };
            return match self.wait_done(&expect, deadline, console).await {
                Ok(service) => {
                    Ok(Self::outcome(&service, short_name(target), short_name(previous), arn, Status::Promoted))
                }
                Err(failure) => Err(self.fail(failure, &expect, short_name(target), previous, request, console).await),
            };
        }
        match self.wait_back(previous, deadline).await {
            Ok(()) => {
                let service = self.require_service(deadline).await?;
                Ok(Self::outcome(&service, short_name(previous), short_name(target), arn, Status::Rejected))
            }
            Err(error) => {
                Err(failed(format!("the rollback of {} did not finish: {error}", short_name(target)), Status::Unknown))
            }
        }
    }

    /// The active revision of the current one's family just before it.
    async fn revision_before(&self, current: &str, deadline: Instant) -> Result<String, DeployError> {
        let name = short_name(current);
        let (family, revision) =
            name.rsplit_once(':').and_then(|(f, r)| Some((f, r.parse::<i32>().ok()?))).ok_or_else(|| {
                failed(format!("the service's task definition {current} has no revision"), Status::Unchanged)
            })?;
        let listed = self
            .call("ListTaskDefinitions", deadline, || {
                self.client
                    .list_task_definitions()
                    .family_prefix(family)
                    .status(TaskDefinitionStatus::Active)
                    .sort(SortOrder::Desc)
                    .send()
            })
            .await
            .map_err(|e| failed(e, Status::Unchanged))?;
        listed
            .task_definition_arns()
            .iter()
            .find(|arn| {
                short_name(arn)
                    .rsplit_once(':')
                    .is_some_and(|(f, r)| f == family && r.parse::<i32>().is_ok_and(|r| r < revision))
            })
            .cloned()
            .ok_or_else(|| {
                DeployError::Usage(format!(
                    "{family} has no active revision before {name} to roll back to; name one with --version-label"
                ))
            })
    }
}

impl Target for Ecs {
    type State = EcsState;

    const NAME: &'static str = "ecs";
    const STRATEGIES: &'static [Strategy] = &[Strategy::Rolling, Strategy::Canary, Strategy::BlueGreen];
    const DEFAULT_STRATEGY: Strategy = Strategy::Rolling;
    const JUDGED: &'static [Strategy] = &[Strategy::Canary, Strategy::BlueGreen];

    fn reads(strategy: Strategy) -> &'static [Param] {
        match strategy {
            Strategy::Rolling => &[Param::MaxSurge, Param::MaxUnavailable],
            Strategy::Canary => &[Param::Steps, Param::Bake],
            Strategy::BlueGreen => &[Param::Bake],
            _ => &[],
        }
    }

    async fn plan(
        &self,
        request: &DeployRequest,
        deadline: Instant,
        console: &Console,
    ) -> Result<Plan<EcsState>, DeployError> {
        match request.phase {
            Phase::Rollback => self.plan_rollback(request, deadline, console).await,
            Phase::Deploy => self.plan_deploy(request, deadline, console).await,
            Phase::Promote | Phase::Reject => self.plan_finish(request, deadline).await,
        }
    }

    async fn apply(
        &self,
        plan: Plan<EcsState>,
        request: &DeployRequest,
        deadline: Instant,
        console: &Console,
    ) -> Result<DeployOutcome, DeployError> {
        let mut outcome = match plan.state {
            state @ EcsState::Deploy { .. } => self.apply_deploy(state, request, deadline, console).await?,
            EcsState::Rollback { previous, target, configuration, digests } => {
                let expect = Expect { deployment_arn: None, task_definition: target.clone(), digests, pause: false };
                self.move_to(
                    expect,
                    short_name(&target),
                    &previous,
                    configuration,
                    Status::RolledBack,
                    request,
                    deadline,
                    console,
                )
                .await?
            }
            EcsState::Finish { arn, hook, target, previous, digests } => {
                self.apply_finish(&arn, &hook, &target, &previous, &digests, request, deadline, console).await?
            }
        };
        if outcome.url.is_empty() {
            outcome.url = self.url(outcome.status);
        }
        Ok(outcome)
    }
}
