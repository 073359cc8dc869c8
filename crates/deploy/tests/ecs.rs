//! The ECS target through aws-smithy-mocks: one scenario per path of the proof
//! (a rich task definition round-tripped, success, the circuit breaker's rollback,
//! stopped tasks, the timeout's stop and restore, throttling, AccessDenied, rollback, bad
//! input), each asserting the requests sent and the outcome. The task definition round
//! trip also runs against moto's server when it is installed.

#![allow(clippy::unwrap_used)] // Test helpers panic on broken fixtures, as tests do.
#![allow(deprecated)] // Inference accelerators are retired, and still compared.

mod gates;

use slipway_testkit::http::ProbedService;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_ecs::Client;
use aws_sdk_ecs::error::ErrorMetadata;
use aws_sdk_ecs::operation::continue_service_deployment::ContinueServiceDeploymentOutput;
use aws_sdk_ecs::operation::create_express_gateway_service::CreateExpressGatewayServiceOutput;
use aws_sdk_ecs::operation::describe_express_gateway_service::DescribeExpressGatewayServiceOutput;
use aws_sdk_ecs::operation::describe_service_deployments::DescribeServiceDeploymentsOutput;
use aws_sdk_ecs::operation::describe_services::{DescribeServicesError, DescribeServicesOutput};
use aws_sdk_ecs::operation::describe_task_definition::DescribeTaskDefinitionOutput;
use aws_sdk_ecs::operation::describe_tasks::DescribeTasksOutput;
use aws_sdk_ecs::operation::list_task_definitions::ListTaskDefinitionsOutput;
use aws_sdk_ecs::operation::list_tasks::ListTasksOutput;
use aws_sdk_ecs::operation::register_task_definition::{RegisterTaskDefinitionInput, RegisterTaskDefinitionOutput};
use aws_sdk_ecs::operation::stop_service_deployment::{StopServiceDeploymentError, StopServiceDeploymentOutput};
use aws_sdk_ecs::operation::update_express_gateway_service::UpdateExpressGatewayServiceOutput;
use aws_sdk_ecs::operation::update_service::{UpdateServiceError, UpdateServiceOutput};
use aws_sdk_ecs::types::{
    AccessType, AdvancedConfiguration, Container, Deployment, DeploymentConfiguration, DeploymentLifecycleHookDetail,
    DeploymentLifecycleHookStage, DeploymentLifecycleHookStatus, DeploymentLifecycleHookTargetType,
    DeploymentRolloutState, DeploymentStrategy, DesiredStatus, EcsExpressGatewayService, ExpressGatewayContainer,
    ExpressGatewayServiceConfiguration, IngressPathSummary, KeyValuePair, LoadBalancer, Rollback, Secret, Service,
    ServiceDeployment, ServiceDeploymentLifecycleStage, ServiceDeploymentStatus, ServiceRevisionSummary,
    StopServiceDeploymentStopType, Task, TaskDefinition, TaskDefinitionField, TaskStopCode,
    UpdatedExpressGatewayService,
};
use aws_smithy_mocks::{MockResponse, RuleMode, mock, mock_client};
use slipway_contract::CiMode;
use slipway_contract::console::CapturedLog;
use slipway_deploy::execute::Deployment as Run;
use slipway_deploy::targets::ecs::express::{EcsExpress, Roles};
use slipway_deploy::targets::ecs::task_definition::{Source, choose_container, parse_file, register, with_image};
use slipway_deploy::targets::ecs::{Ecs, Native, Settings};
use slipway_deploy::{DeployError, DeployOutcome, DeployRequest, Phase, Rollout, Status, Strategy};

const DIGEST: &str = "sha256:3f2a9c1b7d4e3f2a9c1b7d4e3f2a9c1b7d4e3f2a9c1b7d4e3f2a9c1b7d4eabcd";
const REPOSITORY: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop";
const FIXTURE: &str = include_str!("fixtures/ecs/task-definition.json");

fn image() -> String {
    format!("{REPOSITORY}@{DIGEST}")
}

fn arn(revision: &str) -> String {
    format!("arn:aws:ecs:eu-west-1:123456789012:task-definition/{revision}")
}

fn deployment_arn(revision: &str) -> String {
    format!("arn:aws:ecs:eu-west-1:123456789012:service-deployment/prod/shop/{}", revision.replace(':', "-"))
}

/// One look at the service: its primary deployment's revision and rollout state, how
/// many deployments it has, and how many tasks run (on the primary's revision).
#[derive(Debug, Clone, Copy)]
struct Look(&'static str, &'static str, usize, i32);

const SETTLED_41: Look = Look("shop:41", "COMPLETED", 1, 2);
const ROLLING_42: Look = Look("shop:42", "IN_PROGRESS", 2, 1);
const SETTLED_42: Look = Look("shop:42", "COMPLETED", 1, 2);

/// What the fake ECS answers, and what it was asked.
#[derive(Debug, Default)]
struct World {
    /// The service's looks in turn (the last repeats).
    looks: VecDeque<Look>,
    /// The look DescribeServices gave last (what the tasks follow).
    seen: Option<Look>,
    /// The looks UpdateService to a revision turns the service into.
    after_update: Vec<(&'static str, Vec<Look>)>,
    /// The looks StopServiceDeployment turns the service into.
    after_stop: Vec<Look>,
    /// The service deployment's statuses in turn (the last repeats), with a reason.
    statuses: VecDeque<(ServiceDeploymentStatus, Option<&'static str>)>,
    /// Tasks of a revision that stopped: revision, stop code, reason, container reason.
    stopped: Vec<(&'static str, TaskStopCode, &'static str, &'static str)>,
    /// The digest running tasks report (default: the pushed one).
    running_digest: Option<&'static str>,
    /// DescribeServices answers ThrottlingException this many times first.
    throttle: usize,
    /// Operations answered with AccessDeniedException.
    denied: Vec<&'static str>,
    /// The service sits behind a load balancer with a test listener (canary, blue-green).
    test_listener: bool,
    /// The service deployment under way before this run (promote, reject).
    current: Option<String>,
    /// From this DescribeServiceDeployments call on, the deployment waits at a PAUSE hook.
    paused_from: Option<usize>,
    described_deployments: usize,
    /// What ContinueServiceDeployment with an action turns the service and its deployment into.
    after_continue: Vec<(&'static str, Vec<Look>, Vec<Step>)>,
    /// The service's deployment configuration, as DescribeServices reports it.
    service_configuration: Option<DeploymentConfiguration>,
    /// Where the service deployment is, look by look (the last repeats): its lifecycle
    /// stage, the new revision's share of production traffic, and whether it waits at a
    /// PAUSE hook (hook-N, N the CONTINUEs so far plus one). Empty: not reported.
    stages: VecDeque<StageLook>,
    /// The stage a look last reported.
    last_stage: Option<ServiceDeploymentLifecycleStage>,
    /// What each ContinueServiceDeployment CONTINUE in turn makes of the stages (and,
    /// when given, of the service's looks and the deployment's statuses).
    continue_scripts: VecDeque<ContinueScript>,
    continues: usize,
    /// DescribeServices finds no service (an Express service to create).
    missing: bool,
    /// The Express service DescribeExpressGatewayService answers.
    express: Option<EcsExpressGatewayService>,
    /// The primary containers UpdateExpressGatewayService was sent.
    express_containers: Vec<ExpressGatewayContainer>,
    source: Option<Source>,
    registered: Vec<RegisterTaskDefinitionInput>,
    configurations: Vec<Option<DeploymentConfiguration>>,
    calls: Vec<String>,
}

type Shared = Arc<Mutex<World>>;

/// One status of the service deployment, with its reason.
type Step = (ServiceDeploymentStatus, Option<&'static str>);

/// A service deployment's lifecycle stage, the new revision's production traffic share,
/// and whether it waits at a PAUSE hook.
type StageLook = (ServiceDeploymentLifecycleStage, f64, bool);

/// What a CONTINUE makes of the stages, and maybe of the service's looks and statuses.
type ContinueScript = (Vec<StageLook>, Option<(Vec<Look>, Vec<Step>)>);

fn look_now(world: &mut World) -> Look {
    if world.looks.len() > 1 { world.looks.pop_front().unwrap() } else { *world.looks.front().unwrap() }
}

fn service_of(look: Look, current_deployment: Option<String>, test_listener: bool) -> Service {
    let Look(revision, rollout, count, running) = look;
    let mut deployments = vec![
        Deployment::builder()
            .id(format!("ecs-svc/{}", revision.replace(':', "")))
            .status("PRIMARY")
            .task_definition(arn(revision))
            .rollout_state(DeploymentRolloutState::from(rollout))
            .running_count(running)
            .desired_count(2)
            .build(),
    ];
    if count > 1 {
        deployments.push(Deployment::builder().status("ACTIVE").task_definition(arn("shop:41")).build());
    }
    let load_balancers = test_listener.then(|| {
        vec![
            LoadBalancer::builder()
                .target_group_arn("arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/shop-blue/1")
                .container_name("app")
                .container_port(8080)
                .advanced_configuration(
                    AdvancedConfiguration::builder()
                        .alternate_target_group_arn(
                            "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/shop-green/2",
                        )
                        .production_listener_rule(
                            "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener-rule/app/shop/1/2/3",
                        )
                        .test_listener_rule(
                            "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener-rule/app/shop/1/4/5",
                        )
                        .role_arn("arn:aws:iam::123456789012:role/ecs-infrastructure")
                        .build(),
                )
                .build(),
        ]
    });
    Service::builder()
        .service_name("shop")
        .set_load_balancers(load_balancers)
        .status("ACTIVE")
        .task_definition(arn(revision))
        .desired_count(2)
        .running_count(running)
        .set_deployments(Some(deployments))
        .set_current_service_deployment(current_deployment)
        .build()
}

fn denied<E>(world: &Shared, operation: &str, wrap: impl Fn(ErrorMetadata) -> E) -> Option<E> {
    world.lock().unwrap().denied.contains(&operation).then(|| {
        wrap(
            ErrorMetadata::builder()
                .code("AccessDeniedException")
                .message(format!("User: arn:aws:sts::123456789012:assumed-role/deploy/ci is not authorized to perform: ecs:{operation}"))
                .build(),
        )
    })
}

fn ecs_client(world: &Shared) -> Client {
    let w = Arc::clone(world);
    let services = mock!(Client::describe_services).then_compute_response(move |_| {
        let mut state = w.lock().unwrap();
        if state.throttle > 0 {
            state.throttle -= 1;
            return MockResponse::Error(DescribeServicesError::generic(
                ErrorMetadata::builder().code("ThrottlingException").message("Rate exceeded").build(),
            ));
        }
        if state.missing {
            return MockResponse::Output(DescribeServicesOutput::builder().build());
        }
        let look = look_now(&mut state);
        state.seen = Some(look);
        let current = state.current.clone().or_else(|| state.configurations.last().map(|_| deployment_arn(look.0)));
        let mut service = service_of(look, current, state.test_listener);
        service.deployment_configuration = state.service_configuration.clone();
        MockResponse::Output(DescribeServicesOutput::builder().services(service).build())
    });
    let w = Arc::clone(world);
    let describe_definition = mock!(Client::describe_task_definition).then_compute_output(move |input| {
        let state = w.lock().unwrap();
        let source = state.source.clone().unwrap();
        let wanted = input.task_definition().unwrap_or_default().to_owned();
        let mut definition = source.definition.clone();
        definition.task_definition_arn = Some(if wanted.starts_with("arn:") { wanted.clone() } else { arn(&wanted) });
        definition.revision = wanted.rsplit(':').next().and_then(|r| r.parse().ok()).unwrap_or(41);
        DescribeTaskDefinitionOutput::builder().task_definition(definition).set_tags(Some(source.tags)).build()
    });
    let w = Arc::clone(world);
    let register = mock!(Client::register_task_definition).then_compute_output(move |input| {
        let mut state = w.lock().unwrap();
        state.calls.push(format!("RegisterTaskDefinition {}", input.family().unwrap_or_default()));
        state.registered.push(input.clone());
        let definition = TaskDefinition::builder()
            .family(input.family().unwrap_or_default())
            .revision(42)
            .task_definition_arn(arn("shop:42"))
            .set_container_definitions(Some(input.container_definitions().to_vec()))
            .build();
        RegisterTaskDefinitionOutput::builder().task_definition(definition).build()
    });
    let w = Arc::clone(world);
    let update = mock!(Client::update_service).then_compute_response(move |input| {
        if let Some(error) = denied(&w, "UpdateService", UpdateServiceError::generic) {
            return MockResponse::Error(error);
        }
        let mut state = w.lock().unwrap();
        let revision = input.task_definition().unwrap_or_default().rsplit('/').next().unwrap_or_default().to_owned();
        state.calls.push(format!("UpdateService {revision}"));
        state.configurations.push(input.deployment_configuration().cloned());
        if let Some((_, looks)) = state.after_update.iter().find(|(r, _)| *r == revision) {
            state.looks = looks.iter().copied().collect();
        }
        let look = *state.looks.front().unwrap();
        MockResponse::Output(
            UpdateServiceOutput::builder()
                .service(service_of(look, Some(deployment_arn(&revision)), state.test_listener))
                .build(),
        )
    });
    let w = Arc::clone(world);
    let deployments = mock!(Client::describe_service_deployments).then_compute_output(move |input| {
        let mut state = w.lock().unwrap();
        let (status, reason) = if state.statuses.len() > 1 {
            state.statuses.pop_front().unwrap()
        } else {
            state.statuses.front().cloned().unwrap()
        };
        let mut deployment = ServiceDeployment::builder()
            .service_deployment_arn(input.service_deployment_arns()[0].clone())
            .status(status);
        state.described_deployments += 1;
        let stage = if state.stages.len() > 1 { state.stages.pop_front() } else { state.stages.front().cloned() };
        if let Some((stage, weight, paused)) = stage {
            state.last_stage = Some(stage.clone());
            deployment = deployment.lifecycle_stage(stage).target_service_revision(
                ServiceRevisionSummary::builder().arn("rev-42").requested_production_traffic_weight(weight).build(),
            );
            if paused {
                deployment = deployment.lifecycle_hook_details(
                    DeploymentLifecycleHookDetail::builder()
                        .hook_id(format!("hook-{}", state.continues + 1))
                        .target_type(DeploymentLifecycleHookTargetType::Pause)
                        .status(DeploymentLifecycleHookStatus::AwaitingAction)
                        .build(),
                );
            }
        } else if state.paused_from.is_some_and(|from| state.described_deployments >= from) {
            deployment = deployment.lifecycle_hook_details(
                DeploymentLifecycleHookDetail::builder()
                    .hook_id("hook-1")
                    .target_type(DeploymentLifecycleHookTargetType::Pause)
                    .status(DeploymentLifecycleHookStatus::AwaitingAction)
                    .build(),
            );
        }
        if let Some(reason) = reason {
            deployment = deployment
                .status_reason(reason)
                .rollback(Rollback::builder().reason(reason).service_revision_arn("rev-41").build());
        }
        DescribeServiceDeploymentsOutput::builder().service_deployments(deployment.build()).build()
    });
    let w = Arc::clone(world);
    let stop = mock!(Client::stop_service_deployment).then_compute_response(move |input| {
        w.lock().unwrap().calls.push(format!(
            "StopServiceDeployment {} {}",
            input.service_deployment_arn().unwrap_or_default().rsplit('/').next().unwrap_or_default(),
            input.stop_type().map(|t| t.as_str()).unwrap_or_default()
        ));
        if let Some(error) = denied(&w, "StopServiceDeployment", StopServiceDeploymentError::generic) {
            return MockResponse::Error(error);
        }
        assert_eq!(input.stop_type(), Some(&StopServiceDeploymentStopType::Rollback));
        let mut state = w.lock().unwrap();
        state.looks = state.after_stop.iter().copied().collect();
        state.statuses =
            [(ServiceDeploymentStatus::RollbackInProgress, None), (ServiceDeploymentStatus::RollbackSuccessful, None)]
                .into_iter()
                .collect();
        MockResponse::Output(StopServiceDeploymentOutput::builder().build())
    });
    let w = Arc::clone(world);
    let list_tasks = mock!(Client::list_tasks).then_compute_output(move |input| {
        let state = w.lock().unwrap();
        let arns: Vec<String> = if input.desired_status() == Some(&DesiredStatus::Stopped) {
            (0..state.stopped.len())
                .map(|i| format!("arn:aws:ecs:eu-west-1:123456789012:task/prod/stopped{i}"))
                .collect()
        } else {
            let look = state.seen.unwrap();
            (0..look.3).map(|i| format!("arn:aws:ecs:eu-west-1:123456789012:task/prod/running{i}")).collect()
        };
        ListTasksOutput::builder().set_task_arns(Some(arns)).build()
    });
    let w = Arc::clone(world);
    let describe_tasks = mock!(Client::describe_tasks).then_compute_output(move |input| {
        let state = w.lock().unwrap();
        let look = state.seen.unwrap();
        let tasks: Vec<Task> = input
            .tasks()
            .iter()
            .map(|task_arn| {
                let id = task_arn.rsplit('/').next().unwrap();
                if let Some(index) = id.strip_prefix("stopped") {
                    let (revision, code, reason, container_reason) =
                        state.stopped[index.parse::<usize>().unwrap()].clone();
                    Task::builder()
                        .task_arn(task_arn)
                        .task_definition_arn(arn(revision))
                        .last_status("STOPPED")
                        .stop_code(code)
                        .stopped_reason(reason)
                        .containers(Container::builder().name("app").reason(container_reason).build())
                        .build()
                } else {
                    let digest = state.running_digest.unwrap_or(DIGEST);
                    Task::builder()
                        .task_arn(task_arn)
                        .task_definition_arn(arn(look.0))
                        .last_status("RUNNING")
                        .containers(Container::builder().name("app").image_digest(digest).build())
                        .containers(Container::builder().name("log-router").image_digest("sha256:fluent").build())
                        .build()
                }
            })
            .collect();
        DescribeTasksOutput::builder().set_tasks(Some(tasks)).build()
    });
    let w = Arc::clone(world);
    let continue_deployment = mock!(Client::continue_service_deployment).then_compute_output(move |input| {
        let mut state = w.lock().unwrap();
        let action = input.action().unwrap().as_str().to_owned();
        state.calls.push(format!(
            "ContinueServiceDeployment {} {} {action}",
            input.service_deployment_arn().unwrap_or_default().rsplit('/').next().unwrap_or_default(),
            input.hook_id().unwrap_or_default()
        ));
        state.paused_from = None;
        state.continues += 1;
        let script = if action == "CONTINUE" { state.continue_scripts.pop_front() } else { None };
        if let Some((stages, then)) = script {
            state.stages = stages.into_iter().collect();
            if let Some((looks, statuses)) = then {
                state.looks = looks.into_iter().collect();
                state.statuses = statuses.into_iter().collect();
            }
        } else if let Some((_, looks, statuses)) = state.after_continue.iter().find(|(a, _, _)| *a == action).cloned() {
            state.looks = looks.into_iter().collect();
            state.statuses = statuses.into_iter().collect();
            state.stages.clear();
        }
        ContinueServiceDeploymentOutput::builder().build()
    });
    let w = Arc::clone(world);
    let describe_express = mock!(Client::describe_express_gateway_service).then_compute_output(move |_| {
        DescribeExpressGatewayServiceOutput::builder().set_service(w.lock().unwrap().express.clone()).build()
    });
    let w = Arc::clone(world);
    let create_express = mock!(Client::create_express_gateway_service).then_compute_output(move |input| {
        let mut state = w.lock().unwrap();
        let container = input.primary_container().unwrap();
        state.calls.push(format!(
            "CreateExpressGatewayService {} {} {} {} {}",
            input.service_name().unwrap_or_default(),
            container.image(),
            container.container_port().unwrap_or_default(),
            input.execution_role_arn().unwrap_or_default(),
            input.infrastructure_role_arn().unwrap_or_default()
        ));
        state.missing = false;
        if let Some((_, looks)) = state.after_update.iter().find(|(r, _)| *r == "shop:42") {
            state.looks = looks.iter().copied().collect();
        }
        let service = express_service(container.clone(), "shop:42");
        state.express = Some(service.clone());
        CreateExpressGatewayServiceOutput::builder().service(service).build()
    });
    let w = Arc::clone(world);
    let update_express = mock!(Client::update_express_gateway_service).then_compute_output(move |input| {
        let mut state = w.lock().unwrap();
        let container = input.primary_container().unwrap().clone();
        state.calls.push(format!("UpdateExpressGatewayService {}", container.image()));
        state.express_containers.push(container.clone());
        if let Some((_, looks)) = state.after_update.iter().find(|(r, _)| *r == "shop:42") {
            state.looks = looks.iter().copied().collect();
        }
        let service = express_service(container, "shop:42");
        state.express = Some(service.clone());
        UpdateExpressGatewayServiceOutput::builder()
            .service(
                UpdatedExpressGatewayService::builder()
                    .service_arn(service.service_arn().unwrap_or_default())
                    .target_configuration(service.active_configurations()[0].clone())
                    .build(),
            )
            .build()
    });
    let list_definitions = mock!(Client::list_task_definitions).then_output(|| {
        ListTaskDefinitionsOutput::builder()
            .task_definition_arns(arn("shop:42"))
            .task_definition_arns(arn("shop:41"))
            .task_definition_arns(arn("shop-worker:40"))
            .task_definition_arns(arn("shop:39"))
            .build()
    });
    mock_client!(
        aws_sdk_ecs,
        RuleMode::MatchAny,
        [
            &services,
            &describe_definition,
            &register,
            &update,
            &deployments,
            &stop,
            &list_tasks,
            &describe_tasks,
            &list_definitions,
            &continue_deployment,
            &describe_express,
            &create_express,
            &update_express
        ],
        // The target's own loop copes with throttling, so the SDK's retries are off here.
        |config| config.retry_config(aws_sdk_ecs::config::retry::RetryConfig::disabled())
    )
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

fn fixture() -> Source {
    runtime().block_on(parse_file(FIXTURE)).unwrap()
}

fn settings() -> Settings {
    Settings {
        cluster: "prod".into(),
        service: "shop".into(),
        container: None,
        from_file: None,
        circuit_breaker: true,
        maximum_percent: None,
        minimum_healthy_percent: None,
        native: None,
        keep_strategy: false,
        test_listener_url: None,
        service_url: None,
        check: "/".into(),
        poll_interval: Duration::from_millis(2),
    }
}

fn request(phase: Phase) -> DeployRequest {
    DeployRequest {
        image: if phase == Phase::Deploy { image() } else { String::new() },
        rollout: Rollout::plain(Strategy::Rolling),
        phase,
        version_label: if phase == Phase::Deploy { "1.5.0-3f2a9c1b7d4e".into() } else { String::new() },
        port: 8080,
        timeout: Duration::from_secs(5),
        dry_run: false,
        analysis: None,
    }
}

/// A world where the service runs shop:41 and UpdateService to shop:42 makes `looks`.
fn world(looks: &[Look], statuses: &[(ServiceDeploymentStatus, Option<&'static str>)]) -> Shared {
    let world = World {
        looks: [SETTLED_41].into_iter().collect(),
        after_update: vec![("shop:42", looks.to_vec()), ("shop:41", vec![SETTLED_41])],
        after_stop: vec![Look("shop:41", "IN_PROGRESS", 2, 1), SETTLED_41],
        statuses: statuses.iter().cloned().collect(),
        source: Some(fixture()),
        ..World::default()
    };
    Arc::new(Mutex::new(world))
}

struct Outcome {
    result: Result<DeployOutcome, DeployError>,
    log: String,
}

fn run(world: &Shared, settings: Settings, request: &DeployRequest) -> Outcome {
    run_target(&Ecs::with_client(settings, ecs_client(world)), request)
}

fn run_target(target: &Ecs, request: &DeployRequest) -> Outcome {
    let log = CapturedLog::default();
    let console = log.console("deploy", CiMode::Plain);
    let env = |_: &str| None;
    let deployment = Run {
        request,
        deadline: request.deadline(),
        github: None,
        environment_name: "production",
        env: &env,
        console: &console,
    };
    let result = runtime().block_on(deployment.run(target));
    Outcome { result, log: log.text() }
}

fn failure(outcome: Outcome) -> (String, Status, Vec<String>, String) {
    match outcome.result {
        Err(DeployError::Failed { message, status, detail }) => (message, status, detail, outcome.log),
        other => panic!("expected a failed deployment, got {other:?}\n{}", outcome.log),
    }
}

fn calls(world: &Shared) -> Vec<String> {
    world.lock().unwrap().calls.clone()
}

const SUCCESS: [(ServiceDeploymentStatus, Option<&str>); 3] = [
    (ServiceDeploymentStatus::Pending, None),
    (ServiceDeploymentStatus::InProgress, None),
    (ServiceDeploymentStatus::Successful, None),
];

#[test]
fn a_rich_task_definition_round_trips_field_for_field_with_only_the_image_changed() {
    let world = world(&[ROLLING_42, ROLLING_42, SETTLED_42], &SUCCESS);
    let outcome = run(&world, settings(), &request(Phase::Deploy));
    let done = outcome.result.unwrap_or_else(|e| panic!("{e:?}\n{}", outcome.log));
    assert_eq!(done.status, Status::Deployed);

    let source = fixture();
    let described = &source.definition;
    // The fixture is rich, so the comparison below is not vacuous.
    let app = &described.container_definitions()[0];
    assert_eq!(app.secrets().len(), 2);
    assert_eq!(app.environment().len(), 2);
    assert!(app.log_configuration().is_some_and(|l| !l.secret_options().is_empty()));
    assert!(app.health_check().is_some());
    assert_eq!(described.volumes().len(), 1);
    assert!(described.task_role_arn().is_some() && described.execution_role_arn().is_some());

    let state = world.lock().unwrap();
    let [sent] = &state.registered[..] else { panic!("one RegisterTaskDefinition, got {}", state.registered.len()) };
    let mut expected = described.container_definitions().to_vec();
    expected[0].image = Some(image());
    assert_eq!(sent.container_definitions(), expected, "containers: only app's image changed");
    assert_eq!(sent.container_definitions()[1], described.container_definitions()[1], "the sidecar untouched");
    assert_eq!(sent.family(), described.family());
    assert_eq!(sent.task_role_arn(), described.task_role_arn());
    assert_eq!(sent.execution_role_arn(), described.execution_role_arn());
    assert_eq!(sent.network_mode(), described.network_mode());
    assert_eq!(sent.volumes(), described.volumes());
    assert_eq!(sent.placement_constraints(), described.placement_constraints());
    assert_eq!(sent.requires_compatibilities(), described.requires_compatibilities());
    assert_eq!((sent.cpu(), sent.memory()), (described.cpu(), described.memory()));
    assert_eq!(sent.pid_mode(), described.pid_mode());
    assert_eq!(sent.ipc_mode(), described.ipc_mode());
    assert_eq!(sent.proxy_configuration(), described.proxy_configuration());
    assert_eq!(sent.inference_accelerators(), described.inference_accelerators());
    assert_eq!(sent.ephemeral_storage(), described.ephemeral_storage());
    assert_eq!(sent.runtime_platform(), described.runtime_platform());
    assert_eq!(sent.enable_fault_injection(), described.enable_fault_injection());
    assert_eq!(sent.tags(), &source.tags[..]);
    assert_eq!(source.tags.len(), 2);
}

#[test]
fn a_rollout_is_done_when_the_deployment_succeeds_and_every_task_runs_the_digest() {
    let world = world(&[ROLLING_42, ROLLING_42, SETTLED_42], &SUCCESS);
    let outcome = run(&world, settings(), &request(Phase::Deploy));
    let done = outcome.result.unwrap_or_else(|e| panic!("{e:?}\n{}", outcome.log));
    assert_eq!(done.version_label, "shop:42");
    assert_eq!(done.previous_version, "shop:41");
    assert_eq!(done.deployment_id, deployment_arn("shop:42"));
    assert_eq!(done.health, "2/2 running");
    assert_eq!(calls(&world), ["RegisterTaskDefinition shop", "UpdateService shop:42"]);
    let configuration = world.lock().unwrap().configurations[0].clone().unwrap();
    let breaker = configuration.deployment_circuit_breaker().unwrap();
    assert!(breaker.enable() && breaker.rollback(), "the circuit breaker with rollback is on by default");
    assert!(outcome.log.contains("shop: service deployment IN_PROGRESS"), "{}", outcome.log);
    assert!(
        outcome.log.contains(
            "\n  3. wait until the service deployment is SUCCESSFUL and every running task reports sha256:3f2a"
        ),
        "{}",
        outcome.log
    );
}

#[test]
fn success_waits_for_the_running_tasks_to_report_the_pushed_digest() {
    // SUCCESSFUL at once, but the tasks report another digest: not done, and at the
    // deadline the deployment is stopped and the previous revision waited for.
    let world = world(&[SETTLED_42], &[(ServiceDeploymentStatus::Successful, None)]);
    world.lock().unwrap().running_digest = Some("sha256:0000");
    let request = DeployRequest { timeout: Duration::from_millis(300), ..request(Phase::Deploy) };
    let (message, status, _, _) = failure(run(&world, settings(), &request));
    assert!(message.contains("reports sha256:0000 for container app"), "{message}");
    assert_eq!(status, Status::RolledBack, "{message}");
}

#[test]
fn a_circuit_breaker_rollback_is_a_failure_never_success() {
    let world = world(
        &[ROLLING_42, Look("shop:41", "IN_PROGRESS", 2, 1), SETTLED_41],
        &[
            (ServiceDeploymentStatus::InProgress, None),
            (ServiceDeploymentStatus::RollbackInProgress, Some("circuit breaker: 3 tasks failed to start")),
            (ServiceDeploymentStatus::RollbackSuccessful, Some("circuit breaker: 3 tasks failed to start")),
        ],
    );
    let (message, status, _, log) = failure(run(&world, settings(), &request(Phase::Deploy)));
    assert_eq!(status, Status::RolledBack);
    assert!(
        message.contains("ECS rolled the deployment of shop:42 back (circuit breaker: 3 tasks failed to start)"),
        "{message}"
    );
    assert!(message.ends_with("service shop runs shop:41 again"), "{message}");
    assert_eq!(
        calls(&world),
        ["RegisterTaskDefinition shop", "UpdateService shop:42"],
        "ECS rolled back itself: {log}"
    );
}

#[test]
fn a_primary_deployment_that_is_no_longer_ours_is_a_rollback() {
    // No service deployment status says so (still IN_PROGRESS), but the primary runs shop:41.
    let world = world(&[ROLLING_42, SETTLED_41], &[(ServiceDeploymentStatus::InProgress, None)]);
    let (message, status, _, _) = failure(run(&world, settings(), &request(Phase::Deploy)));
    assert_eq!(status, Status::RolledBack);
    assert!(message.contains("the service's primary deployment runs shop:41"), "{message}");
}

#[test]
fn stopped_tasks_fail_fast_with_their_reasons_and_the_previous_revision_comes_back() {
    let world = world(&[ROLLING_42], &[(ServiceDeploymentStatus::InProgress, None)]);
    world.lock().unwrap().stopped = vec![(
        "shop:42",
        TaskStopCode::TaskFailedToStart,
        "CannotPullContainerError: pull image manifest has been retried 5 time(s)",
        "CannotPullContainerError: ref pull has been retried: not found",
    )];
    let request = DeployRequest { timeout: Duration::from_secs(60), ..request(Phase::Deploy) };
    let started = std::time::Instant::now();
    let (message, status, detail, log) = failure(run(&world, settings(), &request));
    assert!(started.elapsed() < Duration::from_secs(10), "failed fast, not at the deadline");
    assert_eq!(status, Status::RolledBack);
    assert!(
        message.contains(
            "1 task(s) of shop:42 stopped: task stopped0 stopped (TaskFailedToStart): CannotPullContainerError"
        ),
        "{message}"
    );
    assert!(message.ends_with("service shop is back on shop:41"), "{message}");
    assert_eq!(detail.len(), 1);
    assert!(detail[0].contains("container app: CannotPullContainerError: ref pull has been retried"), "{detail:?}");
    assert!(log.contains("CannotPullContainerError"), "{log}");
    assert_eq!(
        calls(&world),
        ["RegisterTaskDefinition shop", "UpdateService shop:42", "StopServiceDeployment shop-42 ROLLBACK"]
    );
}

#[test]
fn at_the_deadline_the_deployment_is_stopped_and_the_previous_revision_waited_for() {
    let world = world(&[ROLLING_42], &[(ServiceDeploymentStatus::InProgress, None)]);
    let request = DeployRequest { timeout: Duration::from_millis(300), ..request(Phase::Deploy) };
    let (message, status, _, _) = failure(run(&world, settings(), &request));
    assert_eq!(status, Status::RolledBack);
    assert!(
        message.starts_with("service shop was not done on shop:42 within 300ms (service deployment IN_PROGRESS"),
        "{message}"
    );
    assert!(message.ends_with("service shop is back on shop:41"), "{message}");
    assert_eq!(
        calls(&world),
        ["RegisterTaskDefinition shop", "UpdateService shop:42", "StopServiceDeployment shop-42 ROLLBACK"]
    );
}

#[test]
fn when_the_stop_is_refused_the_previous_revision_is_deployed_instead() {
    let world = world(&[ROLLING_42], &[(ServiceDeploymentStatus::InProgress, None)]);
    world.lock().unwrap().denied = vec!["StopServiceDeployment"];
    let request = DeployRequest { timeout: Duration::from_millis(300), ..request(Phase::Deploy) };
    let (message, status, _, log) = failure(run(&world, settings(), &request));
    assert_eq!(status, Status::RolledBack, "{message}");
    assert!(log.contains("StopServiceDeployment was denied (AccessDeniedException"), "{log}");
    assert_eq!(
        calls(&world),
        [
            "RegisterTaskDefinition shop",
            "UpdateService shop:42",
            "StopServiceDeployment shop-42 ROLLBACK",
            "UpdateService shop:41"
        ]
    );
}

#[test]
fn throttling_is_retried_within_the_deadline() {
    let world = world(&[ROLLING_42, SETTLED_42], &SUCCESS);
    world.lock().unwrap().throttle = 3;
    let outcome = run(&world, settings(), &request(Phase::Deploy));
    assert_eq!(outcome.result.unwrap().status, Status::Deployed);

    let world = self::world(&[SETTLED_42], &SUCCESS);
    world.lock().unwrap().throttle = usize::MAX;
    let request = DeployRequest { timeout: Duration::from_millis(200), ..request(Phase::Deploy) };
    let started = std::time::Instant::now();
    let (message, status, _, _) = failure(run(&world, settings(), &request));
    assert!(started.elapsed() < Duration::from_secs(3), "bounded by the deadline");
    assert_eq!(status, Status::Unchanged);
    assert_eq!(message, "DescribeServices failed: ThrottlingException: Rate exceeded until the deadline");
    assert!(calls(&world).is_empty());
}

#[test]
fn access_denied_names_the_missing_action() {
    let world = world(&[SETTLED_42], &SUCCESS);
    world.lock().unwrap().denied = vec!["UpdateService"];
    let (message, status, _, _) = failure(run(&world, settings(), &request(Phase::Deploy)));
    assert_eq!(status, Status::Unchanged);
    assert!(message.starts_with("UpdateService was denied (AccessDeniedException: User: arn:aws:sts::123456789012:assumed-role/deploy/ci is not authorized"), "{message}");
    assert!(message.ends_with("the credentials need the IAM permission ecs:UpdateService"), "{message}");
}

#[test]
fn rollback_returns_to_the_revision_before_or_the_one_named() {
    let world = world(&[], &SUCCESS);
    {
        let mut state = world.lock().unwrap();
        state.after_update =
            vec![("shop:39", vec![Look("shop:39", "IN_PROGRESS", 2, 1), Look("shop:39", "COMPLETED", 1, 2)])];
    }
    let outcome = run(&world, settings(), &request(Phase::Rollback));
    let done = outcome.result.unwrap_or_else(|e| panic!("{e:?}\n{}", outcome.log));
    assert_eq!(
        (done.status, done.version_label.as_str(), done.previous_version.as_str()),
        (Status::RolledBack, "shop:39", "shop:41")
    );
    assert_eq!(calls(&world), ["UpdateService shop:39"], "shop-worker:40 is another family");

    let world = self::world(&[], &SUCCESS);
    world.lock().unwrap().after_update = vec![("shop:40", vec![Look("shop:40", "COMPLETED", 1, 2)])];
    let named = DeployRequest { version_label: "shop:40".into(), ..request(Phase::Rollback) };
    let outcome = run(&world, settings(), &named);
    assert_eq!(outcome.result.unwrap().version_label, "shop:40");
    assert_eq!(calls(&world), ["UpdateService shop:40"]);
}

#[test]
fn a_dry_run_reads_and_changes_nothing() {
    let world = world(&[SETTLED_42], &SUCCESS);
    let request = DeployRequest { dry_run: true, ..request(Phase::Deploy) };
    let outcome = run(&world, settings(), &request);
    assert_eq!(outcome.result.unwrap().status, Status::Planned);
    assert!(calls(&world).is_empty());
    assert!(
        outcome.log.contains("now: service shop (cluster prod) runs shop:41: 2 of 2 tasks running"),
        "{}",
        outcome.log
    );
    assert!(outcome.log.contains("2. update service shop to it: rolling (minimum healthy ECS's default, maximum ECS's default), circuit breaker with rollback"), "{}", outcome.log);
}

#[test]
fn an_unknown_or_ambiguous_container_is_refused_before_any_change() {
    let world = world(&[SETTLED_42], &SUCCESS);
    let unknown = Settings { container: Some("web".into()), ..settings() };
    match run(&world, unknown, &request(Phase::Deploy)).result {
        Err(DeployError::Usage(message)) => {
            assert_eq!(message, "task definition shop has no container web; it has: app, log-router");
        }
        other => panic!("{other:?}"),
    }
    let other_image = DeployRequest { image: format!("ghcr.io/acme/other@{DIGEST}"), ..request(Phase::Deploy) };
    match run(&world, settings(), &other_image).result {
        Err(DeployError::Usage(message)) => assert!(message.contains("say which with --container"), "{message}"),
        other => panic!("{other:?}"),
    }
    assert!(calls(&world).is_empty());
}

/// An ECS client for moto's server at `endpoint`.
fn moto_client(endpoint: String) -> Client {
    let config = aws_sdk_ecs::Config::builder()
        .behavior_version_latest()
        .region(aws_sdk_ecs::config::Region::new("eu-west-1"))
        .endpoint_url(endpoint)
        .http_client(slipway_aws::http_client())
        .credentials_provider(aws_sdk_ecs::config::Credentials::new("testing", "testing", None, None, "test"))
        .build();
    Client::from_conf(config)
}

/// The task definition `name` as moto serves it, with its tags.
fn moto_definition(runtime: &tokio::runtime::Runtime, client: &Client, name: &str) -> Source {
    let output = runtime
        .block_on(client.describe_task_definition().task_definition(name).include(TaskDefinitionField::Tags).send())
        .unwrap();
    Source { definition: output.task_definition().unwrap().clone(), tags: output.tags().to_vec() }
}

/// The definition without what ECS sets on registering.
fn registered_fields(mut definition: TaskDefinition) -> TaskDefinition {
    definition.task_definition_arn = None;
    definition.revision = 0;
    definition.status = None;
    definition.requires_attributes = None;
    definition.compatibilities = None;
    definition.registered_at = None;
    definition.registered_by = None;
    definition
}

/// shop:1 as a team registered it on moto, run by the service `shop` of the cluster `prod`.
fn moto_service(client: &Client, runtime: &tokio::runtime::Runtime) -> Source {
    let source = fixture();
    runtime.block_on(register(client.register_task_definition(), &source.definition, &source.tags).send()).unwrap();
    runtime.block_on(client.create_cluster().cluster_name("prod").send()).unwrap();
    runtime
        .block_on(
            client
                .create_service()
                .cluster("prod")
                .service_name("shop")
                .task_definition("shop:1")
                .desired_count(0)
                .send(),
        )
        .unwrap();
    source
}

#[test]
fn moto_registers_the_new_revision_with_every_field_of_the_old() {
    let Some((_server, endpoint)) = slipway_testkit::moto_server() else { return };
    let client = moto_client(endpoint);
    let runtime = runtime();
    let source = moto_service(&client, &runtime);

    // The target reads what moto serves: the service, its task definition, the container.
    let target = Ecs::with_client(settings(), client.clone());
    let log = CapturedLog::default();
    let console = log.console("deploy", CiMode::Plain);
    let request = DeployRequest { dry_run: true, ..request(Phase::Deploy) };
    let env = |_: &str| None;
    let deployment = Run {
        request: &request,
        deadline: request.deadline(),
        github: None,
        environment_name: "production",
        env: &env,
        console: &console,
    };
    let planned = runtime.block_on(deployment.run(&target)).unwrap_or_else(|e| panic!("{e:?}\n{}", log.text()));
    assert_eq!((planned.status, planned.previous_version.as_str()), (Status::Planned, "shop:1"));
    assert!(
        log.text().contains("register a revision of shop from shop:1 with container app's image set to"),
        "{}",
        log.text()
    );

    // The new revision as apply makes it, registered with moto and read back by it.
    let current = moto_definition(&runtime, &client, "shop:1");
    let index = choose_container(&current, None, &image()).unwrap();
    let new = with_image(&current, index, &image());
    let registered = runtime.block_on(register(client.register_task_definition(), &new, &current.tags).send()).unwrap();
    assert_eq!(registered.task_definition().unwrap().revision(), 2);
    let second = moto_definition(&runtime, &client, "shop:2");
    assert_eq!(second.definition.container_definitions()[0].image(), Some(image().as_str()));
    let mut expected = registered_fields(current.definition.clone());
    expected.container_definitions.as_mut().unwrap()[0].image = Some(image());
    assert_eq!(registered_fields(second.definition.clone()), expected, "shop:2 is shop:1 but for app's image");
    assert_eq!(second.tags, current.tags);
    // And what moto kept is what the file said: the fields the render action once lost.
    let (kept, file) = (&second.definition.container_definitions()[0], &source.definition.container_definitions()[0]);
    assert_eq!(kept.secrets(), file.secrets());
    assert_eq!(kept.environment(), file.environment());
    assert_eq!(kept.log_configuration(), file.log_configuration());
    assert_eq!(kept.health_check(), file.health_check());
    assert_eq!(second.definition.volumes(), source.definition.volumes());
    assert_eq!(second.definition.task_role_arn(), source.definition.task_role_arn());
    assert_eq!(second.definition.execution_role_arn(), source.definition.execution_role_arn());
    assert_eq!(second.tags, source.tags);
}

fn phased(strategy: Strategy, phase: Phase) -> DeployRequest {
    DeployRequest { rollout: Rollout::plain(strategy), ..request(phase) }
}

#[test]
fn a_canary_stops_at_the_paused_hook_with_the_new_revision_on_the_test_listener() {
    let world = world(&[ROLLING_42], &[(ServiceDeploymentStatus::InProgress, None)]);
    {
        let mut state = world.lock().unwrap();
        state.test_listener = true;
        state.paused_from = Some(3);
    }
    let canary = Settings { native: Some(Native::Canary { percent: 10, bake_minutes: 5 }), ..settings() };
    let outcome = run(&world, canary, &phased(Strategy::Canary, Phase::Deploy));
    let done = outcome.result.unwrap_or_else(|e| panic!("{e:?}\n{}", outcome.log));
    assert_eq!((done.status, done.version_label.as_str()), (Status::Canary, "shop:42"));
    assert_eq!(done.deployment_id, deployment_arn("shop:42"));
    assert_eq!(calls(&world), ["RegisterTaskDefinition shop", "UpdateService shop:42"]);
    let configuration = world.lock().unwrap().configurations[0].clone().unwrap();
    assert_eq!(configuration.strategy(), Some(&DeploymentStrategy::Canary));
    let canary = configuration.canary_configuration().unwrap();
    assert_eq!((canary.canary_percent(), canary.canary_bake_time_in_minutes()), (Some(10.0), Some(5)));
    let [hook] = configuration.lifecycle_hooks() else { panic!("one hook: {configuration:?}") };
    assert_eq!(hook.target_type(), Some(&DeploymentLifecycleHookTargetType::Pause));
    assert_eq!(hook.lifecycle_stages(), [DeploymentLifecycleHookStage::PostTestTrafficShift]);
    let timeout = hook.timeout_configuration().unwrap();
    assert_eq!((timeout.timeout_in_minutes(), timeout.action().map(|a| a.as_str())), (Some(1440), Some("ROLLBACK")));
    assert!(outcome.log.contains("then --promote or --reject"), "{}", outcome.log);
}

#[test]
fn blue_green_needs_a_test_listener_and_is_refused_without_one() {
    let world = world(&[ROLLING_42], &SUCCESS);
    let blue_green = Settings { native: Some(Native::BlueGreen { bake_minutes: 5 }), ..settings() };
    match run(&world, blue_green.clone(), &phased(Strategy::BlueGreen, Phase::Deploy)).result {
        Err(DeployError::Usage(message)) => {
            assert!(message.contains("needs a service behind a load balancer"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert!(calls(&world).is_empty());

    let world = self::world(&[ROLLING_42], &[(ServiceDeploymentStatus::InProgress, None)]);
    {
        let mut state = world.lock().unwrap();
        state.test_listener = true;
        state.paused_from = Some(2);
    }
    let outcome = run(&world, blue_green, &phased(Strategy::BlueGreen, Phase::Deploy));
    assert_eq!(outcome.result.unwrap().status, Status::GreenReady);
    let configuration = world.lock().unwrap().configurations[0].clone().unwrap();
    assert_eq!(configuration.strategy(), Some(&DeploymentStrategy::BlueGreen));
    assert_eq!(configuration.bake_time_in_minutes(), Some(5));
}

/// A world where the service deployment to shop:42 waits at the PAUSE hook.
fn paused_world() -> Shared {
    let world = world(&[], &[(ServiceDeploymentStatus::InProgress, None)]);
    {
        let mut state = world.lock().unwrap();
        state.looks = [ROLLING_42].into_iter().collect();
        state.test_listener = true;
        state.current = Some(deployment_arn("shop:42"));
        state.paused_from = Some(0);
        state.after_continue = vec![
            (
                "CONTINUE",
                vec![ROLLING_42, SETTLED_42],
                vec![(ServiceDeploymentStatus::InProgress, None), (ServiceDeploymentStatus::Successful, None)],
            ),
            (
                "ROLLBACK",
                vec![Look("shop:41", "IN_PROGRESS", 2, 1), SETTLED_41],
                vec![
                    (ServiceDeploymentStatus::RollbackInProgress, None),
                    (ServiceDeploymentStatus::RollbackSuccessful, None),
                ],
            ),
        ];
    }
    world
}

#[test]
fn promote_continues_the_paused_deployment_and_waits_until_it_succeeds() {
    let world = paused_world();
    let outcome = run(&world, settings(), &phased(Strategy::Canary, Phase::Promote));
    let done = outcome.result.unwrap_or_else(|e| panic!("{e:?}\n{}", outcome.log));
    assert_eq!(
        (done.status, done.version_label.as_str(), done.previous_version.as_str()),
        (Status::Promoted, "shop:42", "shop:41")
    );
    assert_eq!(calls(&world), ["ContinueServiceDeployment shop-42 hook-1 CONTINUE"]);
}

#[test]
fn reject_rolls_the_paused_deployment_back_and_waits_for_the_old_revision() {
    let world = paused_world();
    let outcome = run(&world, settings(), &phased(Strategy::BlueGreen, Phase::Reject));
    let done = outcome.result.unwrap_or_else(|e| panic!("{e:?}\n{}", outcome.log));
    assert_eq!((done.status, done.version_label.as_str()), (Status::Rejected, "shop:41"));
    assert_eq!(calls(&world), ["ContinueServiceDeployment shop-42 hook-1 ROLLBACK"]);
}

#[test]
fn promote_without_a_paused_deployment_is_refused() {
    let world = paused_world();
    world.lock().unwrap().paused_from = None;
    match run(&world, settings(), &phased(Strategy::Canary, Phase::Promote)).result {
        Err(DeployError::Usage(message)) => {
            assert_eq!(
                message,
                "service shop's deployment is not paused at a lifecycle hook (it is IN_PROGRESS); nothing to promote"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(calls(&world).is_empty());
}

/// The Express service `shop` whose newest configuration runs `container` as `revision`.
fn express_service(container: ExpressGatewayContainer, revision: &str) -> EcsExpressGatewayService {
    EcsExpressGatewayService::builder()
        .service_name("shop")
        .cluster("default")
        .service_arn("arn:aws:ecs:eu-west-1:123456789012:service/default/shop")
        .current_deployment(deployment_arn(revision))
        .active_configurations(
            ExpressGatewayServiceConfiguration::builder()
                .task_definition_arn(arn(revision))
                .primary_container(container)
                .ingress_paths(
                    IngressPathSummary::builder()
                        .access_type(AccessType::Public)
                        .endpoint("sh-3f2a9c1b.ecs.eu-west-1.on.aws")
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .build()
}

fn run_express(world: &Shared, roles: Roles, request: &DeployRequest) -> Outcome {
    let settings = Settings { cluster: "default".into(), ..settings() };
    let target = EcsExpress::with_client(settings, roles, 8080, Some("/health".into()), ecs_client(world));
    let log = CapturedLog::default();
    let console = log.console("deploy", CiMode::Plain);
    let env = |_: &str| None;
    let deployment = Run {
        request,
        deadline: request.deadline(),
        github: None,
        environment_name: "production",
        env: &env,
        console: &console,
    };
    let result = runtime().block_on(deployment.run(&target));
    Outcome { result, log: log.text() }
}

const EXECUTION: &str = "arn:aws:iam::123456789012:role/shop-execution";
const INFRASTRUCTURE: &str = "arn:aws:iam::123456789012:role/ecs-infrastructure";

#[test]
fn express_creates_the_service_when_missing_only_with_both_roles_and_reports_its_https_endpoint() {
    let world = world(&[Look("shop:42", "IN_PROGRESS", 1, 0), SETTLED_42], &SUCCESS);
    world.lock().unwrap().missing = true;
    let one_role = Roles { execution: Some(EXECUTION.into()), infrastructure: None };
    match run_express(&world, one_role, &request(Phase::Deploy)).result {
        Err(DeployError::Usage(message)) => assert_eq!(
            message,
            "cluster default has no Express service shop; creating it needs --execution-role and --infrastructure-role"
        ),
        other => panic!("{other:?}"),
    }
    assert!(calls(&world).is_empty());

    let roles = Roles { execution: Some(EXECUTION.into()), infrastructure: Some(INFRASTRUCTURE.into()) };
    let outcome = run_express(&world, roles, &request(Phase::Deploy));
    let done = outcome.result.unwrap_or_else(|e| panic!("{e:?}\n{}", outcome.log));
    assert_eq!(done.status, Status::Deployed);
    assert_eq!(done.url, "https://sh-3f2a9c1b.ecs.eu-west-1.on.aws");
    assert_eq!(done.version_label, "shop:42");
    assert_eq!(
        calls(&world),
        [format!("CreateExpressGatewayService shop {} 8080 {EXECUTION} {INFRASTRUCTURE}", image())]
    );
}

/// A world where the Express service runs shop:41 with an environment and a secret.
fn express_world(
    statuses: &[(ServiceDeploymentStatus, Option<&'static str>)],
    looks: &[Look],
) -> (Shared, ExpressGatewayContainer) {
    let world = world(looks, statuses);
    let container = ExpressGatewayContainer::builder()
        .image(format!("{REPOSITORY}:1.4.0"))
        .container_port(8080)
        .environment(KeyValuePair::builder().name("SHOP_REGION").value("eu-west-1").build())
        .secrets(
            Secret::builder()
                .name("DB_PASSWORD")
                .value_from("arn:aws:ssm:eu-west-1:123456789012:parameter/db")
                .build()
                .unwrap(),
        )
        .command("java")
        .build()
        .unwrap();
    world.lock().unwrap().express = Some(express_service(container.clone(), "shop:41"));
    (world, container)
}

#[test]
fn express_updates_only_the_primary_containers_image() {
    let (world, before) = express_world(&SUCCESS, &[ROLLING_42, SETTLED_42]);
    let outcome = run_express(&world, Roles::default(), &request(Phase::Deploy));
    let done = outcome.result.unwrap_or_else(|e| panic!("{e:?}\n{}", outcome.log));
    assert_eq!((done.status, done.previous_version.as_str()), (Status::Deployed, "shop:41"));
    assert_eq!(done.url, "https://sh-3f2a9c1b.ecs.eu-west-1.on.aws");
    let sent = world.lock().unwrap().express_containers.clone();
    let mut expected = before;
    expected.image = image();
    assert_eq!(sent, [expected], "environment, secrets and command kept");
}

#[test]
fn an_express_rollback_is_a_failure() {
    let (world, _) = express_world(
        &[
            (ServiceDeploymentStatus::InProgress, None),
            (ServiceDeploymentStatus::RollbackSuccessful, Some("circuit breaker: tasks failed health checks")),
        ],
        &[ROLLING_42, Look("shop:41", "IN_PROGRESS", 2, 1), SETTLED_41],
    );
    let (message, status, _, _) = failure(run_express(&world, Roles::default(), &request(Phase::Deploy)));
    assert_eq!(status, Status::RolledBack);
    assert!(message.contains("circuit breaker: tasks failed health checks"), "{message}");
}

#[test]
fn the_binary_plans_a_deployment_against_moto() {
    let Some((_server, endpoint)) = slipway_testkit::moto_server() else { return };
    let client = moto_client(endpoint.clone());
    let runtime = runtime();
    moto_service(&client, &runtime);
    let dir = tempfile::tempdir().unwrap();
    let mut command = slipway_testkit::step_command(env!("CARGO_BIN_EXE_deploy"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("AWS_") {
            command.env_remove(name);
        }
    }
    command
        .args(["--target", "ecs", "--cluster", "prod", "--service", "shop", "--image", &image(), "--dry-run"])
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_REGION", "eu-west-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", slipway_testkit::secrets::AWS_SECRET_ACCESS_KEY)
        .env("AWS_ENDPOINT_URL", &endpoint)
        .env("AWS_CONFIG_FILE", dir.path().join("none"))
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.path().join("none"));
    let run = slipway_testkit::run_with_sinks(command, dir.path());
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.output("status"), Some("planned"));
    assert_eq!(run.output("previous-version"), Some("shop:1"));
    assert!(
        run.stderr.contains("now: service shop (cluster prod) runs shop:1: 0 of 0 tasks running"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&format!(
            "1. register a revision of shop from shop:1 with container app's image set to {}",
            image()
        )),
        "{}",
        run.stderr
    );
    // A dry run registers nothing.
    let families = runtime.block_on(client.list_task_definitions().send()).unwrap();
    assert_eq!(families.task_definition_arns().len(), 1, "{families:?}");
}

/// A service on ECS's own CANARY strategy, with its parameters, a Lambda hook, alarms,
/// and a PAUSE hook slipway left there.
fn native_canary_configuration() -> DeploymentConfiguration {
    DeploymentConfiguration::builder()
        .strategy(DeploymentStrategy::Canary)
        .canary_configuration(
            aws_sdk_ecs::types::CanaryConfiguration::builder()
                .canary_percent(5.0)
                .canary_bake_time_in_minutes(15)
                .build(),
        )
        .bake_time_in_minutes(10)
        .alarms(
            aws_sdk_ecs::types::DeploymentAlarms::builder()
                .alarm_names("shop-5xx")
                .enable(true)
                .rollback(true)
                .build()
                .unwrap(),
        )
        .lifecycle_hooks(
            aws_sdk_ecs::types::DeploymentLifecycleHook::builder()
                .target_type(DeploymentLifecycleHookTargetType::AwsLambda)
                .hook_target_arn("arn:aws:lambda:eu-west-1:123456789012:function:smoke")
                .role_arn("arn:aws:iam::123456789012:role/hooks")
                .lifecycle_stages(DeploymentLifecycleHookStage::PostTestTrafficShift)
                .build(),
        )
        .lifecycle_hooks(
            aws_sdk_ecs::types::DeploymentLifecycleHook::builder()
                .target_type(DeploymentLifecycleHookTargetType::Pause)
                .lifecycle_stages(DeploymentLifecycleHookStage::PostTestTrafficShift)
                .timeout_configuration(
                    aws_sdk_ecs::types::DeploymentLifecycleHookTimeoutConfiguration::builder()
                        .timeout_in_minutes(1440)
                        .action(aws_sdk_ecs::types::DeploymentLifecycleHookAction::Rollback)
                        .build(),
                )
                .build(),
        )
        .build()
}

#[test]
fn a_default_deploy_keeps_the_service_s_own_native_strategy_and_only_strategy_changes_it() {
    let world = world(&[ROLLING_42, SETTLED_42], &SUCCESS);
    world.lock().unwrap().service_configuration = Some(native_canary_configuration());
    let kept = Settings { keep_strategy: true, ..settings() };
    let outcome = run(&world, kept.clone(), &request(Phase::Deploy));
    assert_eq!(outcome.result.unwrap_or_else(|e| panic!("{e:?}\n{}", outcome.log)).status, Status::Deployed);
    assert!(
        outcome.log.contains("the service's own canary strategy, kept with its settings (no --strategy given)"),
        "{}",
        outcome.log
    );
    let sent = world.lock().unwrap().configurations[0].clone().unwrap();
    let mut expected = native_canary_configuration();
    expected.lifecycle_hooks.as_mut().unwrap().pop(); // slipway's PAUSE hook: no one would continue it
    expected.deployment_circuit_breaker =
        Some(aws_sdk_ecs::types::DeploymentCircuitBreaker::builder().enable(true).rollback(true).build());
    assert_eq!(sent, expected, "strategy, canary settings, bake, alarms and the Lambda hook kept");

    // An explicit --strategy rolling switches it.
    let world = self::world(&[ROLLING_42, SETTLED_42], &SUCCESS);
    world.lock().unwrap().service_configuration = Some(native_canary_configuration());
    let outcome = run(&world, settings(), &request(Phase::Deploy));
    assert_eq!(outcome.result.unwrap_or_else(|e| panic!("{e:?}\n{}", outcome.log)).status, Status::Deployed);
    let sent = world.lock().unwrap().configurations[0].clone().unwrap();
    assert_eq!(sent.strategy(), Some(&DeploymentStrategy::Rolling));

    // A rolling budget does not shape the kept strategy: refused before any change.
    let world = self::world(&[ROLLING_42, SETTLED_42], &SUCCESS);
    world.lock().unwrap().service_configuration = Some(native_canary_configuration());
    let budget = Settings { maximum_percent: Some(150), ..kept };
    match run(&world, budget, &request(Phase::Deploy)).result {
        Err(DeployError::Usage(message)) => assert_eq!(
            message,
            "service shop deploys with its own CANARY strategy, which --max-surge does not shape; give --strategy rolling to switch it to a rolling deployment"
        ),
        other => panic!("{other:?}"),
    }
    assert!(calls(&world).is_empty());
}

#[test]
fn promote_is_done_only_when_the_tasks_report_the_digest_the_revision_pins() {
    let world = paused_world();
    {
        let mut state = world.lock().unwrap();
        let source = state.source.as_mut().unwrap();
        source.definition.container_definitions.as_mut().unwrap()[0].image = Some(image());
        state.running_digest = Some("sha256:0000");
    }
    let request = DeployRequest { timeout: Duration::from_millis(300), ..phased(Strategy::Canary, Phase::Promote) };
    let (message, status, _, log) = failure(run(&world, settings(), &request));
    assert!(message.contains("reports sha256:0000 for container app, not sha256:3f2a"), "{message}\n{log}");
    assert_ne!(status, Status::Promoted, "{message}");
}

#[test]
fn express_is_done_only_when_the_tasks_report_the_pushed_digest() {
    let (world, _) = express_world(&SUCCESS, &[ROLLING_42, SETTLED_42]);
    world.lock().unwrap().running_digest = Some("sha256:0000");
    let request = DeployRequest { timeout: Duration::from_millis(300), ..request(Phase::Deploy) };
    let (message, status, _, _) = failure(run_express(&world, Roles::default(), &request));
    assert!(message.contains("reports sha256:0000, sha256:fluent for its containers, not sha256:3f2a"), "{message}");
    assert_eq!(status, Status::RolledBack, "{message}");
}

/// A loopback server playing the service's test listener for the analysis: `GET /health`
/// is 200, or 500 while `failing` says so of the fake ECS; it also answers Prometheus's
/// instant queries with `0.01`, or 500 when `prometheus_fails`.
fn test_listener(world: Shared, failing: fn(&World) -> bool, prometheus_fails: bool) -> ProbedService {
    ProbedService::start(move || failing(&world.lock().unwrap()), prometheus_fails)
}

const PAUSED_AT_TEST: StageLook = (ServiceDeploymentLifecycleStage::PostTestTrafficShift, 0.0, true);
const CANARY_PHASE: StageLook = (ServiceDeploymentLifecycleStage::ProductionTrafficShift, 25.0, false);
const PAUSED_AT_ALL: StageLook = (ServiceDeploymentLifecycleStage::PostProductionTrafficShift, 100.0, true);

/// A world where the canary of shop:42 pauses at the test traffic hook, moves to ECS's
/// canary phase on the first CONTINUE, then pauses with all production traffic, and
/// succeeds on the second CONTINUE; ROLLBACK at a hook puts shop:41 back.
fn judged_world() -> Shared {
    let world = world(&[ROLLING_42], &[(ServiceDeploymentStatus::InProgress, None)]);
    {
        let mut state = world.lock().unwrap();
        state.test_listener = true;
        state.stages = [PAUSED_AT_TEST].into_iter().collect();
        state.continue_scripts = [
            (vec![CANARY_PHASE, CANARY_PHASE, PAUSED_AT_ALL], None),
            (
                vec![(ServiceDeploymentLifecycleStage::BakeTime, 100.0, false)],
                Some((
                    vec![ROLLING_42, SETTLED_42],
                    vec![(ServiceDeploymentStatus::InProgress, None), (ServiceDeploymentStatus::Successful, None)],
                )),
            ),
        ]
        .into_iter()
        .collect();
        state.after_continue = vec![(
            "ROLLBACK",
            vec![Look("shop:41", "IN_PROGRESS", 2, 1), SETTLED_41],
            vec![
                (ServiceDeploymentStatus::RollbackInProgress, None),
                (ServiceDeploymentStatus::RollbackSuccessful, None),
            ],
        )];
    }
    world
}

/// A canary of one step at 25% with a bake of 1s, judged by `gates` against `listener`.
fn judged_run(world: &Shared, listener: &ProbedService, gates: &[&str]) -> Outcome {
    let args = slipway_deploy::rollout::RolloutArgs {
        steps: Some(slipway_deploy::rollout::Steps(vec![25])),
        bake: Some(Duration::from_secs(1)),
        ..Default::default()
    };
    let (request, settings) = judged_request(Strategy::Canary, &args, listener, None, gates);
    assert_eq!(settings.native, Some(Native::Canary { percent: 25, bake_minutes: 1 }));
    run(world, settings, &request)
}

/// A rollout of `strategy` judged by `gates` (`{url}`: the listener's URL), probing the
/// test listener `listener` and, when given, the production listener `service`.
fn judged_request(
    strategy: Strategy,
    args: &slipway_deploy::rollout::RolloutArgs,
    listener: &ProbedService,
    service: Option<&ProbedService>,
    gates: &[&str],
) -> (DeployRequest, Settings) {
    let flags = gates::analysis_flags(gates, &listener.url());
    let request = DeployRequest {
        rollout: Rollout::new(strategy, args).unwrap(),
        analysis: flags.parse().unwrap(),
        timeout: Duration::from_secs(20),
        ..request(Phase::Deploy)
    };
    let settings = Settings {
        native: Native::from(&request.rollout).unwrap(),
        test_listener_url: Some(listener.url()),
        service_url: service.map(ProbedService::url),
        check: "/health".into(),
        ..settings()
    };
    (request, settings)
}

#[test]
fn a_judged_canary_that_stays_healthy_is_promoted_through_ecs_s_hooks() {
    let world = judged_world();
    let listener = test_listener(Arc::clone(&world), |_| false, false);
    let outcome = judged_run(
        &world,
        &listener,
        &[
            "--max-error-rate",
            "5%",
            "--prometheus",
            "{url}",
            "--metric",
            "errors:sum(rate(http_errors_total[1m]))<=0.05",
        ],
    );
    let done = outcome.result.unwrap_or_else(|e| panic!("{e:?}\n{}", outcome.log));
    assert_eq!((done.status, done.version_label.as_str()), (Status::Promoted, "shop:42"));
    assert_eq!(
        calls(&world),
        [
            "RegisterTaskDefinition shop",
            "UpdateService shop:42",
            "ContinueServiceDeployment shop-42 hook-1 CONTINUE",
            "ContinueServiceDeployment shop-42 hook-2 CONTINUE"
        ]
    );
    let configuration = world.lock().unwrap().configurations[0].clone().unwrap();
    let canary = configuration.canary_configuration().unwrap();
    assert_eq!((canary.canary_percent(), canary.canary_bake_time_in_minutes()), (Some(25.0), Some(1)));
    let stages: Vec<_> = configuration.lifecycle_hooks().iter().map(|h| h.lifecycle_stages().to_vec()).collect();
    assert_eq!(
        stages,
        [
            vec![DeploymentLifecycleHookStage::PostTestTrafficShift],
            vec![DeploymentLifecycleHookStage::PostProductionTrafficShift]
        ],
        "paused before the canary phase and for the final watch"
    );
    let probes = listener.hits();
    assert!(probes >= 4, "the analysis probed the test listener ({probes} probes)");
    let timeline: Vec<&str> = done.details.iter().map(|(name, _)| name.as_str()).collect();
    assert!(timeline.contains(&"step 1 of 1 at 25%") && timeline.contains(&"final watch at 100%"), "{timeline:?}");
    assert!(done.details.iter().any(|(_, words)| words.contains("errors 0.01")), "{:?}", done.details);
    assert!(outcome.log.contains("25% of production traffic"), "{}", outcome.log);
}

/// Every window passed, but ECS itself rolled the deployment back after the last CONTINUE
/// (an alarm, the circuit breaker): the run fails as rolled back, never as promoted.
#[test]
fn a_judged_canary_that_ecs_rolls_back_after_its_last_hook_is_not_promoted() {
    let world = judged_world();
    world.lock().unwrap().continue_scripts[1].1 = Some((
        vec![Look("shop:41", "IN_PROGRESS", 2, 1), SETTLED_41],
        vec![(ServiceDeploymentStatus::RollbackInProgress, None), (ServiceDeploymentStatus::RollbackSuccessful, None)],
    ));
    let listener = test_listener(Arc::clone(&world), |_| false, false);
    let (message, status, _, log) = failure(judged_run(&world, &listener, &["--max-error-rate", "5%"]));
    assert_eq!(status, Status::RolledBack, "{message}\n{log}");
    assert!(message.contains("ECS rolled the deployment of shop:42 back"), "{message}");
    assert_eq!(
        calls(&world),
        [
            "RegisterTaskDefinition shop",
            "UpdateService shop:42",
            "ContinueServiceDeployment shop-42 hook-1 CONTINUE",
            "ContinueServiceDeployment shop-42 hook-2 CONTINUE"
        ]
    );
}

#[test]
fn a_judged_canary_serving_errors_is_aborted_at_its_step() {
    let world = judged_world();
    let listener = test_listener(Arc::clone(&world), |_| true, false);
    let (message, status, detail, log) = failure(judged_run(&world, &listener, &["--max-error-rate", "5%"]));
    assert_eq!(status, Status::Aborted, "{message}\n{log}");
    assert!(message.contains("the canary was aborted at step 1 of 1 at 25%: the gate error rate"), "{message}");
    assert_eq!(
        calls(&world),
        [
            "RegisterTaskDefinition shop",
            "UpdateService shop:42",
            "ContinueServiceDeployment shop-42 hook-1 CONTINUE",
            "StopServiceDeployment shop-42 ROLLBACK"
        ],
        "in ECS's canary phase no hook waits: the deployment is stopped with a rollback"
    );
    assert!(detail.iter().any(|line| line.starts_with("step 1 of 1 at 25%: failed")), "{detail:?}");
}

#[test]
fn a_gate_crossed_in_the_final_watch_rolls_the_canary_back_at_ecs_s_hook() {
    let world = judged_world();
    let listener = test_listener(
        Arc::clone(&world),
        |w| w.last_stage == Some(ServiceDeploymentLifecycleStage::PostProductionTrafficShift),
        false,
    );
    let (message, status, _, log) = failure(judged_run(&world, &listener, &["--max-error-rate", "5%"]));
    assert_eq!(status, Status::RolledBack, "{message}\n{log}");
    assert!(message.contains("the promoted canary was rolled back at the final watch at 100%"), "{message}");
    assert_eq!(
        calls(&world),
        [
            "RegisterTaskDefinition shop",
            "UpdateService shop:42",
            "ContinueServiceDeployment shop-42 hook-1 CONTINUE",
            "ContinueServiceDeployment shop-42 hook-2 ROLLBACK"
        ]
    );
}

#[test]
fn a_prometheus_query_that_errors_aborts_the_canary_as_inconclusive() {
    let world = judged_world();
    let listener = test_listener(Arc::clone(&world), |_| false, true);
    let (message, status, _, log) = failure(judged_run(
        &world,
        &listener,
        &["--prometheus", "{url}", "--metric", "errors:sum(rate(http_errors_total[1m]))<=0.05"],
    ));
    assert_eq!(status, Status::Aborted, "{message}\n{log}");
    assert!(message.contains("inconclusive"), "{message}");
    assert!(calls(&world).contains(&"StopServiceDeployment shop-42 ROLLBACK".to_owned()));
}

#[test]
fn the_url_is_the_service_url_once_deployed_and_the_test_listener_while_paused() {
    let world = world(&[ROLLING_42, SETTLED_42], &SUCCESS);
    let with_url = Settings { service_url: Some("https://shop.example.com".into()), ..settings() };
    let outcome = run(&world, with_url.clone(), &request(Phase::Deploy));
    assert_eq!(outcome.result.unwrap_or_else(|e| panic!("{e:?}\n{}", outcome.log)).url, "https://shop.example.com");

    let world = self::world(&[ROLLING_42, SETTLED_42], &SUCCESS);
    assert_eq!(run(&world, settings(), &request(Phase::Deploy)).result.unwrap().url, "", "no --service-url, no url");

    let world = self::world(&[ROLLING_42], &[(ServiceDeploymentStatus::InProgress, None)]);
    {
        let mut state = world.lock().unwrap();
        state.test_listener = true;
        state.paused_from = Some(2);
    }
    let canary = Settings {
        native: Some(Native::Canary { percent: 10, bake_minutes: 5 }),
        test_listener_url: Some("https://shop.example.com:8443".into()),
        ..with_url
    };
    let done = run(&world, canary, &phased(Strategy::Canary, Phase::Deploy)).result.unwrap();
    assert_eq!((done.status, done.url.as_str()), (Status::Canary, "https://shop.example.com:8443"));
}

const SWITCHING: StageLook = (ServiceDeploymentLifecycleStage::ProductionTrafficShift, 100.0, false);

/// A world where the blue/green deployment of shop:42 pauses at the test traffic hook,
/// moves all production traffic on the first CONTINUE and pauses after it, and succeeds
/// on the second CONTINUE; ROLLBACK at a hook puts shop:41 back.
fn blue_green_world() -> Shared {
    let world = judged_world();
    world.lock().unwrap().continue_scripts[0].0 = vec![SWITCHING, PAUSED_AT_ALL];
    world
}

/// A blue-green switch with a bake of 1s, judged by `gates` against the test listener
/// `listener` and, when given, the production listener `service` (--service-url).
fn blue_green_run(
    world: &Shared,
    listener: &ProbedService,
    service: Option<&ProbedService>,
    gates: &[&str],
) -> Outcome {
    let args = slipway_deploy::rollout::RolloutArgs { bake: Some(Duration::from_secs(1)), ..Default::default() };
    let (request, settings) = judged_request(Strategy::BlueGreen, &args, listener, service, gates);
    assert_eq!(settings.native, Some(Native::BlueGreen { bake_minutes: 1 }));
    run(world, settings, &request)
}

const SWITCH_CALLS: [&str; 3] =
    ["RegisterTaskDefinition shop", "UpdateService shop:42", "ContinueServiceDeployment shop-42 hook-1 CONTINUE"];

#[test]
fn a_judged_blue_green_that_stays_healthy_is_switched_through_ecs_s_hooks() {
    let world = blue_green_world();
    // Each place answers errors where the other window's probes belong: the test
    // listener once the switch was sent, the production listener before it. A pass
    // proves each window probed its own place.
    let listener = test_listener(Arc::clone(&world), |w| w.continues > 0, false);
    let service = test_listener(Arc::clone(&world), |w| w.continues == 0, false);
    let outcome = blue_green_run(
        &world,
        &listener,
        Some(&service),
        &[
            "--max-error-rate",
            "0%",
            "--prometheus",
            "{url}",
            "--metric",
            "errors:sum(rate(http_errors_total[1m]))<=0.05",
        ],
    );
    let done = outcome.result.unwrap_or_else(|e| panic!("{e:?}\n{}", outcome.log));
    assert_eq!((done.status, done.version_label.as_str()), (Status::Promoted, "shop:42"));
    assert_eq!(done.url, service.url(), "the url output is the production listener once promoted");
    assert_eq!(calls(&world), [&SWITCH_CALLS[..], &["ContinueServiceDeployment shop-42 hook-2 CONTINUE"]].concat());
    let configuration = world.lock().unwrap().configurations[0].clone().unwrap();
    assert_eq!(configuration.strategy(), Some(&DeploymentStrategy::BlueGreen));
    assert_eq!(configuration.bake_time_in_minutes(), Some(0), "slipway's watch after the switch is the bake");
    let stages: Vec<_> = configuration.lifecycle_hooks().iter().map(|h| h.lifecycle_stages().to_vec()).collect();
    assert_eq!(
        stages,
        [
            vec![DeploymentLifecycleHookStage::PostTestTrafficShift],
            vec![DeploymentLifecycleHookStage::PostProductionTrafficShift]
        ],
        "held before the switch and after it"
    );
    let (before, after) = (listener.hits(), service.hits());
    assert!(before >= 3 && after >= 3, "probed before the switch {before} time(s), after it {after}");
    let timeline: Vec<&str> = done.details.iter().map(|(name, _)| name.as_str()).skip(1).collect();
    assert_eq!(timeline, ["before the switch", "after the switch"], "{:?}", done.details);
    assert!(done.details.iter().all(|(name, words)| name.starts_with("task") || words.starts_with("passed")));
    assert!(
        outcome.log.contains(&format!("after the switch: the analysis probes {}/health", service.url())),
        "{}",
        outcome.log
    );
    assert!(outcome.log.contains("ECS moves all production traffic to the new revision"), "{}", outcome.log);
    assert!(!outcome.log.contains("--promote or --reject"), "a judged rollout goes on by itself: {}", outcome.log);
}

#[test]
fn a_judged_blue_green_failing_before_the_switch_is_rolled_back_at_the_first_hook() {
    let world = blue_green_world();
    let listener = test_listener(Arc::clone(&world), |_| true, false);
    let (message, status, detail, log) = failure(blue_green_run(&world, &listener, None, &["--max-error-rate", "5%"]));
    assert_eq!(status, Status::Aborted, "{message}\n{log}");
    assert!(message.starts_with("the new version was aborted before the switch: the gate error rate"), "{message}");
    assert!(message.ends_with("the old version kept all traffic throughout"), "{message}");
    assert_eq!(
        calls(&world),
        ["RegisterTaskDefinition shop", "UpdateService shop:42", "ContinueServiceDeployment shop-42 hook-1 ROLLBACK"],
        "production traffic never moved"
    );
    assert!(detail.iter().any(|line| line.starts_with("before the switch: failed")), "{detail:?}");
}

#[test]
fn a_gate_crossed_after_the_switch_switches_ecs_back_at_its_hook() {
    // Probed through --service-url after the switch: the production listener fails.
    let world = blue_green_world();
    let listener = test_listener(Arc::clone(&world), |_| false, false);
    let service = test_listener(Arc::clone(&world), |_| true, false);
    let (message, status, detail, log) =
        failure(blue_green_run(&world, &listener, Some(&service), &["--max-error-rate", "5%"]));
    assert_eq!(status, Status::RolledBack, "{message}\n{log}");
    assert!(
        message.starts_with("the switch to the new version was rolled back after the switch: the gate error rate"),
        "{message}"
    );
    assert_eq!(calls(&world), [&SWITCH_CALLS[..], &["ContinueServiceDeployment shop-42 hook-2 ROLLBACK"]].concat());
    assert!(detail.iter().any(|line| line.starts_with("before the switch: passed")), "{detail:?}");
    assert!(detail.iter().any(|line| line.starts_with("after the switch: failed")), "{detail:?}");

    // Without --service-url the test listener is watched after the switch as well.
    let world = blue_green_world();
    let listener = test_listener(
        Arc::clone(&world),
        |w| w.last_stage == Some(ServiceDeploymentLifecycleStage::PostProductionTrafficShift),
        false,
    );
    let (message, status, _, log) = failure(blue_green_run(&world, &listener, None, &["--max-error-rate", "5%"]));
    assert_eq!(status, Status::RolledBack, "{message}\n{log}");
    assert_eq!(calls(&world), [&SWITCH_CALLS[..], &["ContinueServiceDeployment shop-42 hook-2 ROLLBACK"]].concat());
}

#[test]
fn a_prometheus_query_that_errors_aborts_the_blue_green_as_inconclusive() {
    let world = blue_green_world();
    let listener = test_listener(Arc::clone(&world), |_| false, true);
    let (message, status, _, log) = failure(blue_green_run(
        &world,
        &listener,
        None,
        &["--prometheus", "{url}", "--metric", "errors:sum(rate(http_errors_total[1m]))<=0.05"],
    ));
    assert_eq!(status, Status::Aborted, "{message}\n{log}");
    assert!(message.starts_with("the new version was aborted before the switch"), "{message}");
    assert!(message.contains("inconclusive"), "{message}");
    assert_eq!(
        calls(&world),
        ["RegisterTaskDefinition shop", "UpdateService shop:42", "ContinueServiceDeployment shop-42 hook-1 ROLLBACK"]
    );
}

#[test]
fn bad_blue_green_analysis_input_exits_2_before_any_call() {
    // Two windows of --bake 1m (before and after the switch) do not fit in 90s.
    let world = blue_green_world();
    let listener = test_listener(Arc::clone(&world), |_| false, false);
    let args = slipway_deploy::rollout::RolloutArgs { bake: Some(Duration::from_secs(60)), ..Default::default() };
    let (mut request, settings) =
        judged_request(Strategy::BlueGreen, &args, &listener, None, &["--max-error-rate", "5%"]);
    request.timeout = Duration::from_secs(90);
    match run(&world, settings, &request).result {
        Err(DeployError::Usage(message)) => {
            assert!(message.contains("2 analysis window(s) of --bake 1m"), "{message}");
            assert!(message.contains("before the switch and after it"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert!(calls(&world).is_empty());
    assert_eq!(listener.hits(), 0);

    // The flags: no test listener to judge the new revision before the switch. The
    // settings refuse it before a client is even built.
    let args = slipway_deploy::rollout::RolloutArgs { bake: Some(Duration::from_secs(1)), ..Default::default() };
    let (request, _) = judged_request(Strategy::BlueGreen, &args, &listener, None, &["--max-error-rate", "5%"]);
    let flags = slipway_deploy::targets::ecs::EcsFlags {
        cluster: Some("prod".into()),
        service: Some("shop".into()),
        ..Default::default()
    };
    match runtime().block_on(Ecs::from_flags(&flags, true, Some("/health"), &request)) {
        Err(DeployError::Usage(message)) => {
            assert!(message.starts_with("--strategy blue-green judged by analysis on ECS"), "{message}");
            assert!(message.contains("give --test-listener-url"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}
