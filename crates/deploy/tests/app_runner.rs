//! The App Runner target through aws-smithy-mocks: an update by digest keeping the rest of
//! the source configuration, StartDeployment for an unchanged identifier, App Runner's
//! rollback and a failed operation as failures, the deadline, `--rollback`, a service
//! found by name, AccessDenied.

#![allow(clippy::unwrap_used)] // Test helpers panic on broken fixtures, as tests do.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_apprunner::Client;
use aws_sdk_apprunner::error::ErrorMetadata;
use aws_sdk_apprunner::operation::describe_service::DescribeServiceOutput;
use aws_sdk_apprunner::operation::list_operations::ListOperationsOutput;
use aws_sdk_apprunner::operation::list_services::ListServicesOutput;
use aws_sdk_apprunner::operation::start_deployment::StartDeploymentOutput;
use aws_sdk_apprunner::operation::update_service::{UpdateServiceError, UpdateServiceOutput};
use aws_sdk_apprunner::primitives::DateTime;
use aws_sdk_apprunner::types::{
    ImageConfiguration, ImageRepository, ImageRepositoryType, OperationStatus, OperationSummary, Service,
    ServiceStatus, ServiceSummary, SourceConfiguration,
};
use aws_smithy_mocks::{MockResponse, RuleMode, mock, mock_client};
use slipway_contract::CiMode;
use slipway_contract::console::CapturedLog;
use slipway_deploy::execute::Deployment;
use slipway_deploy::targets::app_runner::{AppRunner, Settings};
use slipway_deploy::{DeployError, DeployOutcome, DeployRequest, Phase, Rollout, Status, Strategy};

const ARN: &str = "arn:aws:apprunner:eu-west-1:123456789012:service/shop/8fe1e10304f84fd2b0df550fe98a71fa";
const OLD: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop@sha256:1111111111111111111111111111111111111111111111111111111111111111";
const NEW: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop@sha256:3f2a9c1b7d4e3f2a9c1b7d4e3f2a9c1b7d4e3f2a9c1b7d4e3f2a9c1b7d4eabcd";

#[derive(Debug, Default)]
struct World {
    /// The image the service runs, and its status.
    image: String,
    status: Option<ServiceStatus>,
    /// The operation's statuses in turn (the last repeats).
    operation: VecDeque<OperationStatus>,
    /// The image the service runs once the operation succeeded.
    image_after: Option<String>,
    deny_update: bool,
    sources: Vec<SourceConfiguration>,
    calls: Vec<String>,
}

type Shared = Arc<Mutex<World>>;

fn source(image: &str) -> SourceConfiguration {
    SourceConfiguration::builder()
        .image_repository(
            ImageRepository::builder()
                .image_identifier(image)
                .image_repository_type(ImageRepositoryType::Ecr)
                .image_configuration(
                    ImageConfiguration::builder()
                        .port("8080")
                        .runtime_environment_variables("SHOP_REGION", "eu-west-1")
                        .runtime_environment_secrets("DB_PASSWORD", "arn:aws:ssm:eu-west-1:123456789012:parameter/db")
                        .start_command("java -jar /app/app.jar")
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .auto_deployments_enabled(false)
        .build()
}

fn service(world: &World) -> Service {
    Service::builder()
        .service_name("shop")
        .service_id("8fe1e10304f84fd2b0df550fe98a71fa")
        .service_arn(ARN)
        .service_url("8fe1e103.eu-west-1.awsapprunner.com")
        .created_at(DateTime::from_secs(1_800_000_000))
        .updated_at(DateTime::from_secs(1_800_000_000))
        .status(world.status.clone().unwrap_or(ServiceStatus::Running))
        .source_configuration(source(&world.image))
        .build()
        .unwrap()
}

fn client(world: &Shared) -> Client {
    let w = Arc::clone(world);
    let describe = mock!(Client::describe_service)
        .then_compute_output(move |_| DescribeServiceOutput::builder().service(service(&w.lock().unwrap())).build());
    let list_services = mock!(Client::list_services).then_output(|| {
        ListServicesOutput::builder()
            .service_summary_list(ServiceSummary::builder().service_name("blog").service_arn("arn:blog").build())
            .service_summary_list(ServiceSummary::builder().service_name("shop").service_arn(ARN).build())
            .build()
            .unwrap()
    });
    let w = Arc::clone(world);
    let update = mock!(Client::update_service).then_compute_response(move |input| {
        let mut state = w.lock().unwrap();
        if state.deny_update {
            return MockResponse::Error(UpdateServiceError::generic(
                ErrorMetadata::builder()
                    .code("AccessDeniedException")
                    .message("not authorized to perform: apprunner:UpdateService")
                    .build(),
            ));
        }
        let sent = input.source_configuration().unwrap().clone();
        state.calls.push(format!("UpdateService {}", sent.image_repository().unwrap().image_identifier()));
        state.sources.push(sent);
        state.status = Some(ServiceStatus::OperationInProgress);
        MockResponse::Output(
            UpdateServiceOutput::builder().service(service(&state)).operation_id("op-1").build().unwrap(),
        )
    });
    let w = Arc::clone(world);
    let start = mock!(Client::start_deployment).then_compute_output(move |_| {
        w.lock().unwrap().calls.push("StartDeployment".to_owned());
        StartDeploymentOutput::builder().operation_id("op-1").build().unwrap()
    });
    let w = Arc::clone(world);
    let operations = mock!(Client::list_operations).then_compute_output(move |_| {
        let mut state = w.lock().unwrap();
        let status =
            if state.operation.len() > 1 { state.operation.pop_front().unwrap() } else { state.operation[0].clone() };
        if status == OperationStatus::Succeeded {
            state.status = Some(ServiceStatus::Running);
            if let Some(image) = state.image_after.clone() {
                state.image = image;
            }
        }
        ListOperationsOutput::builder()
            .operation_summary_list(OperationSummary::builder().id("op-0").status(OperationStatus::Succeeded).build())
            .operation_summary_list(OperationSummary::builder().id("op-1").status(status).build())
            .build()
    });
    mock_client!(
        aws_sdk_apprunner,
        RuleMode::MatchAny,
        [&describe, &list_services, &update, &start, &operations],
        |config| config.retry_config(aws_sdk_apprunner::config::retry::RetryConfig::disabled())
    )
}

fn world(operation: &[OperationStatus], image_after: Option<&str>) -> Shared {
    Arc::new(Mutex::new(World {
        image: OLD.to_owned(),
        operation: operation.iter().cloned().collect(),
        image_after: image_after.map(str::to_owned),
        ..World::default()
    }))
}

fn request(phase: Phase) -> DeployRequest {
    DeployRequest {
        image: if phase == Phase::Deploy { NEW.to_owned() } else { String::new() },
        rollout: Rollout::plain(Strategy::Rolling),
        phase,
        version_label: String::new(),
        port: 8080,
        timeout: Duration::from_secs(5),
        dry_run: false,
        analysis: None,
    }
}

struct Run {
    result: Result<DeployOutcome, DeployError>,
    log: String,
}

fn run(world: &Shared, service: &str, request: &DeployRequest) -> Run {
    let settings = Settings { service: service.to_owned(), poll_interval: Duration::from_millis(2) };
    let target = AppRunner::with_client(settings, client(world));
    let log = CapturedLog::default();
    let console = log.console("deploy", CiMode::Plain);
    let env = |_: &str| None;
    let deployment = Deployment {
        request,
        deadline: request.deadline(),
        github: None,
        environment_name: "production",
        env: &env,
        console: &console,
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let result = runtime.block_on(deployment.run(&target));
    Run { result, log: log.text() }
}

fn failure(run: Run) -> (String, Status) {
    match run.result {
        Err(DeployError::Failed { message, status, .. }) => (message, status),
        other => panic!("expected a failed deployment, got {other:?}\n{}", run.log),
    }
}

#[test]
fn an_update_sends_the_digest_keeps_the_rest_and_waits_for_the_operation() {
    let world = world(&[OperationStatus::Pending, OperationStatus::InProgress, OperationStatus::Succeeded], Some(NEW));
    let run = run(&world, "shop", &request(Phase::Deploy));
    let done = run.result.unwrap_or_else(|e| panic!("{e:?}\n{}", run.log));
    assert_eq!(done.status, Status::Deployed);
    assert_eq!(done.url, "https://8fe1e103.eu-west-1.awsapprunner.com");
    assert_eq!((done.version_label.as_str(), done.previous_version.as_str()), (NEW, OLD));
    assert_eq!(done.deployment_id, "op-1");
    let state = world.lock().unwrap();
    assert_eq!(state.calls, [format!("UpdateService {NEW}")]);
    assert_eq!(state.sources, [source(NEW)], "port, environment, secrets, start command kept");
    assert!(run.log.contains("operation op-1: IN_PROGRESS"), "{}", run.log);
}

#[test]
fn the_same_identifier_starts_a_deployment_instead() {
    let world = world(&[OperationStatus::Succeeded], None);
    world.lock().unwrap().image = NEW.to_owned();
    let run = run(&world, ARN, &request(Phase::Deploy));
    assert_eq!(run.result.unwrap().status, Status::Deployed);
    assert_eq!(world.lock().unwrap().calls, ["StartDeployment"]);
}

#[test]
fn app_runners_rollback_and_a_failed_operation_are_failures() {
    let rolled_back = world(
        &[OperationStatus::InProgress, OperationStatus::RollbackInProgress, OperationStatus::RollbackSucceeded],
        None,
    );
    let (message, status) = failure(run(&rolled_back, "shop", &request(Phase::Deploy)));
    assert_eq!(status, Status::RolledBack);
    assert!(message.starts_with(&format!("App Runner rolled the deployment of {NEW} back")), "{message}");

    let failed = world(&[OperationStatus::Failed], None);
    let (message, status) = failure(run(&failed, "shop", &request(Phase::Deploy)));
    assert_eq!(status, Status::Failed);
    assert!(message.contains("ended FAILED"), "{message}");
}

#[test]
fn the_deadline_ends_the_wait_timed_out() {
    let world = world(&[OperationStatus::InProgress], None);
    let request = DeployRequest { timeout: Duration::from_millis(200), ..request(Phase::Deploy) };
    let (message, status) = failure(run(&world, "shop", &request));
    assert_eq!(status, Status::TimedOut);
    assert!(message.contains("cannot be stopped"), "{message}");
}

#[test]
fn rollback_needs_the_previous_image_and_deploys_it() {
    let world = world(&[OperationStatus::Succeeded], Some(OLD));
    world.lock().unwrap().image = NEW.to_owned();
    match run(&world, "shop", &request(Phase::Rollback)).result {
        Err(DeployError::Usage(message)) => assert!(message.contains("needs --version-label"), "{message}"),
        other => panic!("{other:?}"),
    }
    let back = DeployRequest { version_label: OLD.to_owned(), ..request(Phase::Rollback) };
    let run = run(&world, "shop", &back);
    let done = run.result.unwrap_or_else(|e| panic!("{e:?}\n{}", run.log));
    assert_eq!((done.status, done.version_label.as_str()), (Status::RolledBack, OLD));
    assert_eq!(world.lock().unwrap().calls, [format!("UpdateService {OLD}")]);
}

#[test]
fn a_rollback_to_the_live_image_is_refused_before_any_change() {
    // A GitLab rollback job inherits the deploy job's dotenv: SLIPWAY_VERSION_LABEL is the
    // version just deployed, which is the one live.
    let world = world(&[OperationStatus::Succeeded], None);
    world.lock().unwrap().image = NEW.to_owned();
    let again = DeployRequest { version_label: NEW.to_owned(), ..request(Phase::Rollback) };
    match run(&world, "shop", &again).result {
        Err(DeployError::Usage(message)) => {
            assert!(
                message.starts_with(&format!("--rollback would put back {NEW}, the version live now")),
                "{message}"
            );
            assert!(message.contains("leave it empty") && message.contains("SLIPWAY_VERSION_LABEL"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert!(world.lock().unwrap().calls.is_empty(), "nothing changed");
}

#[test]
fn an_unknown_service_and_access_denied_are_named() {
    let world = world(&[OperationStatus::Succeeded], None);
    match run(&world, "shoe", &request(Phase::Deploy)).result {
        Err(DeployError::Usage(message)) => {
            assert!(message.starts_with("App Runner has no service shoe here; it has: blog, shop"), "{message}");
            assert!(message.contains("--target ecs-express"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    world.lock().unwrap().deny_update = true;
    let (message, status) = failure(run(&world, "shop", &request(Phase::Deploy)));
    assert_eq!(status, Status::Unchanged);
    assert!(message.ends_with("the credentials need the IAM permission apprunner:UpdateService"), "{message}");
}
