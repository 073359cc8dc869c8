//! The Elastic Beanstalk target through aws-smithy-mocks: one scenario per path, each
//! asserting the exact requests sent (option settings, labels, bundles) and the outcome.
//! The S3 upload is also run against moto's server when it is installed.

#![allow(clippy::unwrap_used)] // Test helpers panic on broken fixtures, as tests do.

mod gates;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_elasticbeanstalk::Client as EbClient;
use aws_sdk_elasticbeanstalk::error::ErrorMetadata;
use aws_sdk_elasticbeanstalk::operation::abort_environment_update::AbortEnvironmentUpdateOutput;
use aws_sdk_elasticbeanstalk::operation::create_application_version::CreateApplicationVersionOutput;
use aws_sdk_elasticbeanstalk::operation::create_configuration_template::CreateConfigurationTemplateOutput;
use aws_sdk_elasticbeanstalk::operation::create_environment::CreateEnvironmentOutput;
use aws_sdk_elasticbeanstalk::operation::create_storage_location::CreateStorageLocationOutput;
use aws_sdk_elasticbeanstalk::operation::describe_application_versions::DescribeApplicationVersionsOutput;
use aws_sdk_elasticbeanstalk::operation::describe_environments::{
    DescribeEnvironmentsError, DescribeEnvironmentsOutput,
};
use aws_sdk_elasticbeanstalk::operation::describe_events::DescribeEventsOutput;
use aws_sdk_elasticbeanstalk::operation::describe_instances_health::{
    DescribeInstancesHealthError, DescribeInstancesHealthOutput,
};
use aws_sdk_elasticbeanstalk::operation::swap_environment_cnames::SwapEnvironmentCnamEsOutput;
use aws_sdk_elasticbeanstalk::operation::terminate_environment::TerminateEnvironmentOutput;
use aws_sdk_elasticbeanstalk::operation::update_environment::UpdateEnvironmentOutput;
use aws_sdk_elasticbeanstalk::types::{
    ApplicationVersionDescription, ApplicationVersionStatus, Deployment as InstanceDeployment, EnvironmentDescription,
    EnvironmentHealth, EnvironmentStatus, EventDescription, EventSeverity, SingleInstanceHealth,
};
use aws_sdk_s3::operation::put_object::PutObjectOutput;
use aws_smithy_mocks::{MockResponse, RuleMode, mock, mock_client};
use slipway_contract::CiMode;
use slipway_contract::console::CapturedLog;
use slipway_deploy::analysis::AnalysisFlags;
use slipway_deploy::execute::Deployment;
use slipway_deploy::rollout::{RolloutArgs, Steps};
use slipway_deploy::targets::elastic_beanstalk::{ElasticBeanstalk, Settings};
use slipway_deploy::{Amount, DeployError, DeployOutcome, DeployRequest, Phase, Rollout, Status, Strategy};
use slipway_testkit::http::ProbedService;

const IMAGE: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop@sha256:3f2a9c1b7d4e3f2a9c1b7d4e3f2a9c1b7d4e3f2a9c1b7d4e3f2a9c1b7d4eabcd";

/// One look at an environment: status, health, version.
#[derive(Debug, Clone, Copy)]
struct Look(&'static str, &'static str, &'static str);

/// What the fake Elastic Beanstalk will answer, and what it was asked.
#[derive(Debug, Default)]
struct World {
    /// Per environment, the looks DescribeEnvironments gives in turn (the last repeats).
    looks: HashMap<String, VecDeque<Look>>,
    /// Environments that become visible only once created.
    created: Vec<String>,
    abortable: bool,
    throttle_first: usize,
    events: Vec<(EventSeverity, &'static str)>,
    /// CNAMEs that differ from `<name>.eu-west-1.elasticbeanstalk.com` (after a swap).
    cnames: HashMap<String, String>,
    /// Throttle every DescribeEnvironments call.
    throttle_always: bool,
    /// What UpdateEnvironment to a version turns the environment's looks into (else they
    /// go on as queued).
    looks_after_update: HashMap<String, VecDeque<Look>>,
    /// What AbortEnvironmentUpdate turns shop-prod's looks into.
    looks_after_abort: Option<VecDeque<Look>>,
    /// The status versions are described with (default Processed).
    version_status: Option<ApplicationVersionStatus>,
    /// Existing application versions: label -> description.
    versions: HashMap<String, String>,
    /// What DescribeInstancesHealth answers: (instance, version label, deployment status,
    /// colour); `None`: enhanced health is off (an InvalidRequest error).
    instances: Option<Vec<(&'static str, &'static str, &'static str, &'static str)>>,
    /// The look DescribeEnvironments gave last (the probed stand-in reads it).
    last_look: Option<Look>,
    /// What SwapEnvironmentCNAMEs turns an environment's looks into (taken by the first swap).
    looks_after_swap: HashMap<String, VecDeque<Look>>,
    calls: Vec<String>,
    /// When each swap and termination was asked for.
    stamps: Vec<(String, std::time::Instant)>,
    option_settings: Vec<(String, String, String)>,
    bundles: Vec<(String, String, String)>,
}

type Shared = Arc<Mutex<World>>;

fn status(text: &str) -> EnvironmentStatus {
    EnvironmentStatus::from(text)
}

fn describe(world: &Shared, name: &str) -> Option<EnvironmentDescription> {
    let mut world = world.lock().unwrap();
    let hidden = name.ends_with("-green") && !world.created.iter().any(|c| c == name);
    let looks = world.looks.get_mut(name)?;
    if hidden {
        return None;
    }
    let look = if looks.len() > 1 { looks.pop_front().unwrap() } else { *looks.front()? };
    world.last_look = Some(look);
    let abortable = world.abortable && look.0 == "Updating";
    let cname = world.cnames.get(name).cloned().unwrap_or_else(|| format!("{name}.eu-west-1.elasticbeanstalk.com"));
    Some(
        EnvironmentDescription::builder()
            .environment_name(name)
            .environment_id(format!("e-{name}"))
            .status(status(look.0))
            .health(EnvironmentHealth::from(look.1))
            .version_label(look.2)
            .cname(cname)
            .abortable_operation_in_progress(abortable)
            .build(),
    )
}

fn eb_client(world: &Shared) -> EbClient {
    let w = Arc::clone(world);
    let environments = mock!(EbClient::describe_environments).then_compute_response(move |input| {
        {
            let mut state = w.lock().unwrap();
            if state.throttle_always || state.throttle_first > 0 {
                state.throttle_first = state.throttle_first.saturating_sub(1);
                return MockResponse::Error(DescribeEnvironmentsError::generic(
                    ErrorMetadata::builder().code("Throttling").message("Rate exceeded").build(),
                ));
            }
        }
        let names: Vec<String> = match input.environment_names() {
            [] => w.lock().unwrap().looks.keys().cloned().collect(),
            names => names.to_vec(),
        };
        let mut found: Vec<EnvironmentDescription> = names.iter().filter_map(|n| describe(&w, n)).collect();
        found.sort_by(|a, b| a.environment_name().cmp(&b.environment_name()));
        MockResponse::Output(DescribeEnvironmentsOutput::builder().set_environments(Some(found)).build())
    });
    let w = Arc::clone(world);
    let versions = mock!(EbClient::describe_application_versions).then_compute_output(move |input| {
        let state = w.lock().unwrap();
        let wanted = input.version_labels();
        let found: Vec<ApplicationVersionDescription> = state
            .versions
            .iter()
            .filter(|(label, _)| wanted.is_empty() || wanted.contains(label))
            .map(|(label, description)| {
                ApplicationVersionDescription::builder()
                    .version_label(label)
                    .description(description)
                    .status(state.version_status.clone().unwrap_or(ApplicationVersionStatus::Processed))
                    .build()
            })
            .collect();
        DescribeApplicationVersionsOutput::builder().set_application_versions(Some(found)).build()
    });
    let w = Arc::clone(world);
    let create_version = mock!(EbClient::create_application_version).then_compute_output(move |input| {
        let mut state = w.lock().unwrap();
        assert_eq!(input.process(), Some(true), "versions are created with Process=true");
        let label = input.version_label().unwrap().to_owned();
        state.calls.push(format!("CreateApplicationVersion {label} {}", input.description().unwrap_or_default()));
        state.versions.insert(label, input.description().unwrap_or_default().to_owned());
        CreateApplicationVersionOutput::builder().build()
    });
    let storage = mock!(EbClient::create_storage_location).then_output(|| {
        CreateStorageLocationOutput::builder().s3_bucket("elasticbeanstalk-eu-west-1-123456789012").build()
    });
    let w = Arc::clone(world);
    let update = mock!(EbClient::update_environment).then_compute_output(move |input| {
        let mut state = w.lock().unwrap();
        state.calls.push(format!(
            "UpdateEnvironment {} {}",
            input.environment_name().unwrap_or_default(),
            input.version_label().unwrap_or_default()
        ));
        if let Some(looks) = state.looks_after_update.remove(input.version_label().unwrap_or_default()) {
            state.looks.insert(input.environment_name().unwrap_or_default().to_owned(), looks);
        }
        state.option_settings = input
            .option_settings()
            .iter()
            .map(|s| {
                (
                    s.namespace().unwrap_or_default().to_owned(),
                    s.option_name().unwrap_or_default().to_owned(),
                    s.value().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        UpdateEnvironmentOutput::builder().build()
    });
    let w = Arc::clone(world);
    let events = mock!(EbClient::describe_events).then_compute_output(move |_| {
        let state = w.lock().unwrap();
        let events: Vec<EventDescription> = state
            .events
            .iter()
            .enumerate()
            .map(|(i, (severity, message))| {
                EventDescription::builder()
                    .severity(severity.clone())
                    .message(*message)
                    .event_date(aws_sdk_elasticbeanstalk::primitives::DateTime::from_secs(1_800_000_000 + i as i64))
                    .build()
            })
            .collect();
        DescribeEventsOutput::builder().set_events(Some(events)).build()
    });
    let recorder = |name: &'static str| {
        let w = Arc::clone(world);
        move |detail: String| {
            let mut state = w.lock().unwrap();
            state.calls.push(format!("{name} {detail}"));
            state.stamps.push((format!("{name} {detail}"), std::time::Instant::now()));
        }
    };
    let w = Arc::clone(world);
    let abort = mock!(EbClient::abort_environment_update).then_compute_output(move |input| {
        let name = input.environment_name().unwrap_or_default().to_owned();
        let mut state = w.lock().unwrap();
        state.calls.push(format!("AbortEnvironmentUpdate {name}"));
        if let Some(looks) = state.looks_after_abort.take() {
            state.looks.insert(name, looks);
        }
        AbortEnvironmentUpdateOutput::builder().build()
    });
    let w = Arc::clone(world);
    let instances = mock!(EbClient::describe_instances_health).then_compute_response(move |input| {
        let state = w.lock().unwrap();
        let Some(instances) = &state.instances else {
            return MockResponse::Error(DescribeInstancesHealthError::generic(
                ErrorMetadata::builder()
                    .code("InvalidRequestException")
                    .message(format!(
                        "Enhanced health reporting is not enabled for environment {}",
                        input.environment_name().unwrap_or_default()
                    ))
                    .build(),
            ));
        };
        let list: Vec<SingleInstanceHealth> = instances
            .iter()
            .map(|(id, version, status, color)| {
                SingleInstanceHealth::builder()
                    .instance_id(*id)
                    .color(*color)
                    .deployment(InstanceDeployment::builder().version_label(*version).status(*status).build())
                    .build()
            })
            .collect();
        MockResponse::Output(DescribeInstancesHealthOutput::builder().set_instance_health_list(Some(list)).build())
    });
    let template_record = recorder("CreateConfigurationTemplate");
    let template = mock!(EbClient::create_configuration_template).then_compute_output(move |input| {
        template_record(format!(
            "{} from {}",
            input.template_name().unwrap_or_default(),
            input.environment_id().unwrap_or_default()
        ));
        CreateConfigurationTemplateOutput::builder().build()
    });
    let w = Arc::clone(world);
    let create_env = mock!(EbClient::create_environment).then_compute_output(move |input| {
        let mut state = w.lock().unwrap();
        let name = input.environment_name().unwrap_or_default().to_owned();
        state.calls.push(format!(
            "CreateEnvironment {name} {} {}",
            input.template_name().unwrap_or_default(),
            input.version_label().unwrap_or_default()
        ));
        state.created.push(name);
        CreateEnvironmentOutput::builder().build()
    });
    let w = Arc::clone(world);
    let swap = mock!(EbClient::swap_environment_cnames).then_compute_output(move |input| {
        let source = input.source_environment_name().unwrap_or_default().to_owned();
        let destination = input.destination_environment_name().unwrap_or_default().to_owned();
        let mut state = w.lock().unwrap();
        state.calls.push(format!("SwapEnvironmentCNAMEs {source} {destination}"));
        state.stamps.push((format!("SwapEnvironmentCNAMEs {source} {destination}"), std::time::Instant::now()));
        for name in [&source, &destination] {
            if let Some(looks) = state.looks_after_swap.remove(name) {
                state.looks.insert(name.clone(), looks);
            }
        }
        let cname = |state: &World, name: &str| {
            state.cnames.get(name).cloned().unwrap_or_else(|| format!("{name}.eu-west-1.elasticbeanstalk.com"))
        };
        let (a, b) = (cname(&state, &source), cname(&state, &destination));
        state.cnames.insert(source, b);
        state.cnames.insert(destination, a);
        SwapEnvironmentCnamEsOutput::builder().build()
    });
    let terminate_record = recorder("TerminateEnvironment");
    let terminate = mock!(EbClient::terminate_environment).then_compute_output(move |input| {
        terminate_record(input.environment_name().unwrap_or_default().to_owned());
        TerminateEnvironmentOutput::builder().build()
    });
    mock_client!(
        aws_sdk_elasticbeanstalk,
        RuleMode::MatchAny,
        [
            &environments,
            &versions,
            &create_version,
            &storage,
            &update,
            &events,
            &abort,
            &template,
            &create_env,
            &swap,
            &terminate,
            &instances
        ],
        // The target's own loop must cope with throttling, so the SDK's retries are off here.
        |config| config.retry_config(aws_sdk_elasticbeanstalk::config::retry::RetryConfig::disabled())
    )
}

fn s3_client(world: &Shared) -> aws_sdk_s3::Client {
    let w = Arc::clone(world);
    let put = mock!(aws_sdk_s3::Client::put_object).then_compute_output(move |input| {
        let body = input.body().bytes().map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default();
        w.lock().unwrap().bundles.push((
            input.bucket().unwrap_or_default().to_owned(),
            input.key().unwrap_or_default().to_owned(),
            body,
        ));
        PutObjectOutput::builder().build()
    });
    mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&put])
}

fn settings() -> Settings {
    Settings {
        application: "shop".into(),
        environment: "shop-prod".into(),
        bucket: None,
        batch_size: Amount::Percent(30),
        canary_percent: 10,
        canary_evaluation: Duration::from_secs(300),
        green_environment: "shop-prod-green".into(),
        cname: None,
        terminate_old: false,
        allow_yellow: false,
        poll_interval: Duration::from_millis(2),
        environment_url: None,
        idle_environment_url: None,
        cname_ttl: Duration::from_millis(20),
        check: "/".into(),
    }
}

fn request(strategy: Strategy, phase: Phase) -> DeployRequest {
    DeployRequest {
        image: IMAGE.into(),
        rollout: Rollout::plain(strategy),
        phase,
        version_label: "v2-3f2a9c1b7d4e".into(),
        port: 8080,
        timeout: Duration::from_secs(5),
        dry_run: false,
        analysis: None,
    }
}

/// A world where shop-prod runs v1, and answers the given looks in turn afterwards.
fn world_with(looks: &[Look]) -> Shared {
    world_from(&[&[Look("Ready", "Green", "v1")], looks].concat())
}

/// A world where shop-prod answers exactly these looks in turn (the last repeats).
fn world_from(looks: &[Look]) -> Shared {
    let mut world = World::default();
    world.looks.insert("shop-prod".into(), looks.iter().copied().collect());
    world.versions.insert("v1".into(), "slipway: old".into());
    Arc::new(Mutex::new(world))
}

struct Run {
    result: Result<DeployOutcome, DeployError>,
    log: String,
}

fn run(world: &Shared, settings: Settings, request: &DeployRequest) -> Run {
    run_with_s3(world, settings, request, s3_client(world))
}

fn run_with_s3(world: &Shared, settings: Settings, request: &DeployRequest, s3: aws_sdk_s3::Client) -> Run {
    let target = ElasticBeanstalk::with_clients(settings, eb_client(world), s3);
    let log = CapturedLog::default();
    let console = log.console("deploy", CiMode::Plain);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let env = |_: &str| None;
    let deployment = Deployment {
        request,
        deadline: request.deadline(),
        github: None,
        environment_name: "production",
        env: &env,
        console: &console,
    };
    let result = runtime.block_on(deployment.run(&target));
    Run { result, log: log.text() }
}

fn settings_sent(world: &Shared) -> Vec<(String, String, String)> {
    world.lock().unwrap().option_settings.clone()
}

fn setting(namespace: &str, name: &str, value: &str) -> (String, String, String) {
    (namespace.into(), name.into(), value.into())
}

fn failure(run: Run) -> (String, Status) {
    match run.result {
        Err(DeployError::Failed { message, status, .. }) => (message, status),
        other => panic!("expected a failed deployment, got {other:?}\n{}", run.log),
    }
}

#[test]
fn direct_deploy_bundles_the_image_creates_the_version_and_waits_for_green() {
    let world = world_with(&[Look("Updating", "Grey", "v2-3f2a9c1b7d4e"), Look("Ready", "Green", "v2-3f2a9c1b7d4e")]);
    world.lock().unwrap().events = vec![
        (EventSeverity::Info, "Environment update is starting."),
        (EventSeverity::Info, "Environment update completed successfully."),
    ];
    let run = run(&world, settings(), &request(Strategy::Direct, Phase::Deploy));
    let outcome = run.result.unwrap();
    assert_eq!(outcome.url, "http://shop-prod.eu-west-1.elasticbeanstalk.com");
    assert_eq!(outcome.version_label, "v2-3f2a9c1b7d4e");
    assert_eq!(outcome.previous_version, "v1");
    assert_eq!(outcome.deployment_id, "e-shop-prod");
    assert_eq!((outcome.status, outcome.health.as_str()), (Status::Deployed, "Green"));
    assert!(run.log.contains("shop-prod [INFO] Environment update completed successfully."), "{}", run.log);

    let state = world.lock().unwrap();
    let (bucket, key, body) = state.bundles.first().cloned().unwrap();
    assert_eq!(bucket, "elasticbeanstalk-eu-west-1-123456789012", "the bucket CreateStorageLocation returned");
    assert_eq!(key, "shop/v2-3f2a9c1b7d4e/Dockerrun.aws.json");
    let bundle: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        bundle,
        serde_json::json!({"AWSEBDockerrunVersion": "1", "Image": {"Name": IMAGE, "Update": "true"}, "Ports": [{"ContainerPort": 8080}]})
    );
    assert_eq!(
        state.calls,
        [
            format!("CreateApplicationVersion v2-3f2a9c1b7d4e slipway: {IMAGE}"),
            "UpdateEnvironment shop-prod v2-3f2a9c1b7d4e".to_owned()
        ]
    );
    drop(state);
    assert_eq!(settings_sent(&world), [setting("aws:elasticbeanstalk:command", "DeploymentPolicy", "AllAtOnce")]);
}

#[test]
fn each_strategy_sets_its_deployment_policy() {
    let command = "aws:elasticbeanstalk:command";
    let cases = [
        (
            Strategy::Rolling,
            Amount::Percent(30),
            vec![
                setting(command, "DeploymentPolicy", "Rolling"),
                setting(command, "BatchSizeType", "Percentage"),
                setting(command, "BatchSize", "30"),
            ],
        ),
        (
            Strategy::RollingWithBatch,
            Amount::Count(2),
            vec![
                setting(command, "DeploymentPolicy", "RollingWithAdditionalBatch"),
                setting(command, "BatchSizeType", "Fixed"),
                setting(command, "BatchSize", "2"),
            ],
        ),
        (Strategy::Immutable, Amount::Percent(30), vec![setting(command, "DeploymentPolicy", "Immutable")]),
    ];
    for (strategy, batch_size, expected) in cases {
        let world =
            world_with(&[Look("Updating", "Grey", "v2-3f2a9c1b7d4e"), Look("Ready", "Green", "v2-3f2a9c1b7d4e")]);
        let run = run(&world, Settings { batch_size, ..settings() }, &request(strategy, Phase::Deploy));
        assert_eq!(run.result.unwrap().status, Status::Deployed, "{strategy:?}");
        assert_eq!(settings_sent(&world), expected, "{strategy:?}");
    }
}

#[test]
fn canary_splits_traffic_then_promote_waits_and_reject_aborts() {
    let world = world_with(&[Look("Updating", "Green", "v2-3f2a9c1b7d4e")]);
    let started = run(&world, settings(), &request(Strategy::Canary, Phase::Deploy));
    let outcome = started.result.unwrap();
    assert_eq!((outcome.status, outcome.version_label.as_str()), (Status::Canary, "v2-3f2a9c1b7d4e"));
    let traffic = "aws:elasticbeanstalk:trafficsplitting";
    assert_eq!(
        settings_sent(&world),
        [
            setting("aws:elasticbeanstalk:command", "DeploymentPolicy", "TrafficSplitting"),
            setting(traffic, "NewVersionPercent", "10"),
            setting(traffic, "EvaluationTime", "5"),
        ]
    );

    let promoted =
        world_with(&[Look("Updating", "Green", "v2-3f2a9c1b7d4e"), Look("Ready", "Green", "v2-3f2a9c1b7d4e")]);
    let mut promote = request(Strategy::Canary, Phase::Promote);
    promote.image.clear();
    let outcome = run(&promoted, settings(), &promote).result.unwrap();
    assert_eq!((outcome.status, outcome.version_label.as_str()), (Status::Promoted, "v2-3f2a9c1b7d4e"));

    let rejected = world_from(&[
        Look("Updating", "Green", "v2-3f2a9c1b7d4e"),
        Look("Aborting", "Grey", "v2-3f2a9c1b7d4e"),
        Look("Ready", "Green", "v1"),
    ]);
    rejected.lock().unwrap().abortable = true;
    let mut reject = request(Strategy::Canary, Phase::Reject);
    reject.image.clear();
    let outcome = run(&rejected, settings(), &reject).result.unwrap();
    assert_eq!((outcome.status, outcome.version_label.as_str()), (Status::Rejected, "v1"));
    assert!(rejected.lock().unwrap().calls.contains(&"AbortEnvironmentUpdate shop-prod".to_owned()));
}

#[test]
fn an_error_event_fails_fast_and_the_previous_version_is_restored() {
    let world = world_with(&[
        Look("Updating", "Grey", "v2-3f2a9c1b7d4e"),
        Look("Updating", "Red", "v2-3f2a9c1b7d4e"),
        Look("Ready", "Green", "v1"),
    ]);
    {
        let mut state = world.lock().unwrap();
        state.abortable = true;
        state.events = vec![(EventSeverity::Error, "Failed to pull Docker image: manifest unknown")];
    }
    let (message, status) = failure(run(&world, settings(), &request(Strategy::Direct, Phase::Deploy)));
    assert!(message.contains("Failed to pull Docker image: manifest unknown"), "{message}");
    assert!(message.ends_with("shop-prod is back on v1"), "{message}");
    assert_eq!(status, Status::RolledBack);
    assert!(world.lock().unwrap().calls.contains(&"AbortEnvironmentUpdate shop-prod".to_owned()));
}

#[test]
fn red_health_on_the_new_version_fails_and_rolls_back() {
    let world = world_with(&[
        Look("Ready", "Red", "v2-3f2a9c1b7d4e"),
        Look("Ready", "Red", "v2-3f2a9c1b7d4e"),
        Look("Ready", "Red", "v2-3f2a9c1b7d4e"),
        Look("Updating", "Grey", "v1"),
        Look("Ready", "Green", "v1"),
    ]);
    let (message, status) = failure(run(&world, settings(), &request(Strategy::Direct, Phase::Deploy)));
    assert!(message.contains("its health is Red"), "{message}");
    assert_eq!(status, Status::RolledBack);
    let calls = world.lock().unwrap().calls.clone();
    assert_eq!(calls.last().unwrap(), "UpdateEnvironment shop-prod v1", "the previous version is put back: {calls:?}");
}

#[test]
fn ready_on_the_previous_version_is_elastic_beanstalks_own_rollback() {
    let world = world_with(&[Look("Updating", "Grey", "v2-3f2a9c1b7d4e"), Look("Ready", "Green", "v1")]);
    let (message, status) = failure(run(&world, settings(), &request(Strategy::Direct, Phase::Deploy)));
    assert!(
        message.starts_with("Elastic Beanstalk rolled back: shop-prod is Ready on v1, not v2-3f2a9c1b7d4e"),
        "{message}"
    );
    assert_eq!(status, Status::RolledBack);
    assert_eq!(world.lock().unwrap().calls.len(), 2, "no further update: EB already restored v1");
}

#[test]
fn a_timeout_aborts_the_update_then_rolls_back() {
    let world = world_with(&[Look("Updating", "Grey", "v2-3f2a9c1b7d4e")]);
    {
        let mut state = world.lock().unwrap();
        state.abortable = true;
        // The abort leaves the new version Ready (Yellow); slipway then puts v1 back.
        state.looks_after_abort = Some(VecDeque::from([
            Look("Aborting", "Grey", "v2-3f2a9c1b7d4e"),
            Look("Ready", "Yellow", "v2-3f2a9c1b7d4e"),
        ]));
        state
            .looks_after_update
            .insert("v1".into(), VecDeque::from([Look("Updating", "Grey", "v1"), Look("Ready", "Green", "v1")]));
    }
    let mut timed = request(Strategy::Rolling, Phase::Deploy);
    timed.timeout = Duration::from_millis(100);
    let (message, status) = failure(run(&world, settings(), &timed));
    assert!(message.contains("was not live on v2-3f2a9c1b7d4e within 100ms"), "{message}");
    assert!(message.ends_with("shop-prod is back on v1"), "{message}");
    assert_eq!(status, Status::RolledBack);
    let calls = world.lock().unwrap().calls.clone();
    assert!(calls.contains(&"AbortEnvironmentUpdate shop-prod".to_owned()), "{calls:?}");
    assert_eq!(calls.last().unwrap(), "UpdateEnvironment shop-prod v1");
}

#[test]
fn throttling_is_retried() {
    let world = world_with(&[Look("Ready", "Green", "v2-3f2a9c1b7d4e")]);
    world.lock().unwrap().throttle_first = 3;
    let outcome = run(&world, settings(), &request(Strategy::Direct, Phase::Deploy)).result.unwrap();
    assert_eq!(outcome.status, Status::Deployed);
}

#[test]
fn a_busy_environment_is_waited_for_before_deploying() {
    let world = Arc::new(Mutex::new(World::default()));
    {
        let mut state = world.lock().unwrap();
        state.looks.insert(
            "shop-prod".into(),
            VecDeque::from([
                Look("Updating", "Grey", "v0"),
                Look("Updating", "Grey", "v1"),
                Look("Ready", "Green", "v1"),
                Look("Ready", "Green", "v2-3f2a9c1b7d4e"),
            ]),
        );
    }
    let run = run(&world, settings(), &request(Strategy::Direct, Phase::Deploy));
    assert!(run.log.contains("shop-prod is Updating; waiting for it to be Ready"), "{}", run.log);
    let outcome = run.result.unwrap();
    assert_eq!((outcome.status, outcome.previous_version.as_str()), (Status::Deployed, "v1"));
}

#[test]
fn blue_green_creates_green_from_blue_then_promote_swaps_and_reject_terminates() {
    let world = world_with(&[]);
    world.lock().unwrap().looks.insert(
        "shop-prod-green".into(),
        VecDeque::from([Look("Launching", "Grey", "v2-3f2a9c1b7d4e"), Look("Ready", "Green", "v2-3f2a9c1b7d4e")]),
    );
    let outcome = run(&world, settings(), &request(Strategy::BlueGreen, Phase::Deploy)).result.unwrap();
    assert_eq!(outcome.url, "http://shop-prod-green.eu-west-1.elasticbeanstalk.com", "verify checks green first");
    assert_eq!((outcome.status, outcome.previous_version.as_str()), (Status::GreenReady, "v1"));
    let calls = world.lock().unwrap().calls.clone();
    assert_eq!(
        calls[1..],
        [
            "CreateConfigurationTemplate slipway-shop-prod-green-v2-3f2a9c1b7d4e from e-shop-prod".to_owned(),
            "CreateEnvironment shop-prod-green slipway-shop-prod-green-v2-3f2a9c1b7d4e v2-3f2a9c1b7d4e".to_owned(),
        ]
    );

    let mut promote = request(Strategy::BlueGreen, Phase::Promote);
    promote.image.clear();
    let promoted = world_with(&[]);
    {
        let mut state = promoted.lock().unwrap();
        state.looks.insert("shop-prod-green".into(), VecDeque::from([Look("Ready", "Green", "v2-3f2a9c1b7d4e")]));
        state.created.push("shop-prod-green".into());
    }
    let outcome = run(&promoted, Settings { terminate_old: true, ..settings() }, &promote).result.unwrap();
    assert_eq!(
        (outcome.status, outcome.version_label.as_str(), outcome.previous_version.as_str()),
        (Status::Promoted, "v2-3f2a9c1b7d4e", "v1")
    );
    assert_eq!(
        promoted.lock().unwrap().calls,
        ["SwapEnvironmentCNAMEs shop-prod shop-prod-green", "TerminateEnvironment shop-prod"]
    );

    let mut reject = request(Strategy::BlueGreen, Phase::Reject);
    reject.image.clear();
    let rejected = world_with(&[]);
    {
        let mut state = rejected.lock().unwrap();
        state.looks.insert("shop-prod-green".into(), VecDeque::from([Look("Ready", "Green", "v2-3f2a9c1b7d4e")]));
        state.created.push("shop-prod-green".into());
    }
    let outcome = run(&rejected, settings(), &reject).result.unwrap();
    assert_eq!((outcome.status, outcome.version_label.as_str()), (Status::Rejected, "v1"));
    assert_eq!(rejected.lock().unwrap().calls, ["TerminateEnvironment shop-prod-green"]);
}

/// After a promote the names have swapped roles: shop-prod-green holds the production
/// CNAME. The next blue-green deploy goes to shop-prod, and its reject terminates
/// shop-prod, never the environment that serves production.
#[test]
fn blue_green_finds_which_environment_holds_production() {
    let world = world_with(&[]);
    {
        let mut state = world.lock().unwrap();
        state.looks.insert("shop-prod-green".into(), VecDeque::from([Look("Ready", "Green", "v1")]));
        state.created.push("shop-prod-green".into());
        state.looks.insert(
            "shop-prod".into(),
            VecDeque::from([
                Look("Ready", "Green", "v0"),
                Look("Updating", "Grey", "v0"),
                Look("Ready", "Green", "v2-3f2a9c1b7d4e"),
            ]),
        );
        state.cnames.insert("shop-prod".into(), "shop-prod-green-x7a1.eu-west-1.elasticbeanstalk.com".into());
        state.cnames.insert("shop-prod-green".into(), "shop-prod.eu-west-1.elasticbeanstalk.com".into());
    }
    let outcome = run(&world, settings(), &request(Strategy::BlueGreen, Phase::Deploy)).result.unwrap();
    assert_eq!((outcome.status, outcome.previous_version.as_str()), (Status::GreenReady, "v1"));
    assert_eq!(outcome.url, "http://shop-prod-green-x7a1.eu-west-1.elasticbeanstalk.com", "the idle one's URL");
    let calls = world.lock().unwrap().calls.clone();
    assert_eq!(calls.last().unwrap(), "UpdateEnvironment shop-prod v2-3f2a9c1b7d4e", "the idle one: {calls:?}");

    let mut reject = request(Strategy::BlueGreen, Phase::Reject);
    reject.image.clear();
    let outcome = run(&world, settings(), &reject).result.unwrap();
    assert_eq!((outcome.status, outcome.version_label.as_str()), (Status::Rejected, "v1"));
    assert_eq!(world.lock().unwrap().calls.last().unwrap(), "TerminateEnvironment shop-prod");

    // --cname names production outright; one that neither holds is bad input.
    let named = Settings { cname: Some("shop-prod".into()), ..settings() };
    let outcome = run(&world, named, &reject).result.unwrap();
    assert_eq!(outcome.url, "http://shop-prod.eu-west-1.elasticbeanstalk.com");
    let unknown = Settings { cname: Some("shop-live".into()), ..settings() };
    match run(&world, unknown, &reject).result {
        Err(DeployError::Usage(message)) => assert!(
            message.starts_with("cannot tell which of shop-prod and shop-prod-green serves production"),
            "{message}"
        ),
        other => panic!("{other:?}"),
    }
}

/// A reject that comes after EB finished the traffic split (the new version serves
/// everything, nothing to abort) must put the previous version back and say so; it
/// reported `rejected` with the new version live before.
#[test]
fn a_canary_reject_after_the_split_completed_puts_the_previous_version_back() {
    let world = world_from(&[Look("Ready", "Green", "v2-3f2a9c1b7d4e")]);
    {
        let mut state = world.lock().unwrap();
        state.versions.insert("v2-3f2a9c1b7d4e".into(), format!("slipway: {IMAGE}"));
        state
            .looks_after_update
            .insert("v1".into(), VecDeque::from([Look("Updating", "Grey", "v1"), Look("Ready", "Green", "v1")]));
    }
    let mut reject = request(Strategy::Canary, Phase::Reject);
    reject.image.clear();
    let run = run(&world, settings(), &reject);
    let outcome = run.result.unwrap();
    assert_eq!(
        (outcome.status, outcome.version_label.as_str(), outcome.previous_version.as_str()),
        (Status::RolledBack, "v1", "v2-3f2a9c1b7d4e")
    );
    assert!(run.log.contains("the traffic split had already completed"), "{}", run.log);
    assert_eq!(world.lock().unwrap().calls, ["UpdateEnvironment shop-prod v1"]);
}

/// Runs `scenario` on another thread; a run that outlives `limit` fails the test
/// (instead of hanging it, as an unbounded wait would).
fn within<T: Send + 'static>(limit: Duration, scenario: impl FnOnce() -> T + Send + 'static) -> T {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = sender.send(scenario());
    });
    receiver.recv_timeout(limit).unwrap_or_else(|_| panic!("the run did not end within {limit:?}"))
}

#[test]
fn endless_throttling_ends_by_the_deadline() {
    let world = world_with(&[]);
    world.lock().unwrap().throttle_always = true;
    let mut short = request(Strategy::Direct, Phase::Deploy);
    short.timeout = Duration::from_millis(300);
    let started = std::time::Instant::now();
    let (message, status) = within(Duration::from_secs(20), move || failure(run(&world, settings(), &short)));
    assert!(message.contains("DescribeEnvironments failed: Throttling: Rate exceeded until the deadline"), "{message}");
    assert_eq!(status, Status::Unknown);
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
}

/// The wait for a version to be processed counts against the run's deadline, not a
/// fresh timeout of its own after the environment was waited for.
#[test]
fn an_unprocessed_version_ends_by_the_run_deadline() {
    let mut looks = vec![Look("Updating", "Grey", "v0"); 300];
    looks.push(Look("Ready", "Green", "v1"));
    let world = world_from(&looks);
    {
        let mut state = world.lock().unwrap();
        state.versions.insert("v2-3f2a9c1b7d4e".into(), format!("slipway: {IMAGE}"));
        state.version_status = Some(ApplicationVersionStatus::Processing);
    }
    let mut timed = request(Strategy::Direct, Phase::Deploy);
    timed.timeout = Duration::from_secs(1);
    let started = std::time::Instant::now();
    let (message, status) = within(Duration::from_secs(20), move || failure(run(&world, settings(), &timed)));
    let elapsed = started.elapsed();
    assert!(
        message
            == "application version v2-3f2a9c1b7d4e was not processed by the deadline (--timeout); nothing was deployed"
            || message.starts_with("environment shop-prod stayed Updating until the timeout"),
        "{message}"
    );
    assert!(matches!(status, Status::Unchanged | Status::Busy), "{status:?}");
    assert!(elapsed < Duration::from_millis(1600), "one deadline for the whole run, not one per wait: {elapsed:?}");
}

#[test]
fn a_missing_environment_is_bad_input_listing_the_applications_environments() {
    let world = world_with(&[]);
    let mut other = settings();
    other.environment = "shop-staging".into();
    match run(&world, other, &request(Strategy::Direct, Phase::Deploy)).result {
        Err(DeployError::Usage(message)) => {
            assert_eq!(
                message,
                "Elastic Beanstalk application shop has no environment shop-staging; it has: shop-prod"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_label_taken_by_another_image_is_refused() {
    let world = world_with(&[]);
    world.lock().unwrap().versions.insert("v2-3f2a9c1b7d4e".into(), "slipway: someone/else@sha256:0000".into());
    match run(&world, settings(), &request(Strategy::Direct, Phase::Deploy)).result {
        Err(DeployError::Usage(message)) => assert!(message.contains("already exists for another image"), "{message}"),
        other => panic!("{other:?}"),
    }
    assert!(world.lock().unwrap().calls.is_empty(), "nothing changed");
}

#[test]
fn the_same_label_and_image_is_reused() {
    let world = world_with(&[Look("Ready", "Green", "v2-3f2a9c1b7d4e")]);
    world.lock().unwrap().versions.insert("v2-3f2a9c1b7d4e".into(), format!("slipway: {IMAGE}"));
    let run = run(&world, settings(), &request(Strategy::Direct, Phase::Deploy));
    assert_eq!(run.result.unwrap().status, Status::Deployed);
    let state = world.lock().unwrap();
    assert!(state.bundles.is_empty() && !state.calls.iter().any(|c| c.starts_with("CreateApplicationVersion")));
}

#[test]
fn dry_run_changes_nothing() {
    let world = world_with(&[]);
    let mut dry = request(Strategy::Rolling, Phase::Deploy);
    dry.dry_run = true;
    let run = run(&world, settings(), &dry);
    assert_eq!(run.result.unwrap().status, Status::Planned);
    assert!(
        run.log.contains("plan:\n  now: shop-prod runs v1 (Ready, Green)\n  1. upload a Dockerrun.aws.json"),
        "{}",
        run.log
    );
    assert!(
        run.log.contains("\n  2. update shop-prod from v1 to v2-3f2a9c1b7d4e with Rolling (rolling)\n"),
        "{}",
        run.log
    );
    let state = world.lock().unwrap();
    assert!(state.calls.is_empty() && state.bundles.is_empty());
}

/// moto's S3 server on a loopback port, stopped when dropped.
fn moto_s3() -> Option<(slipway_testkit::ChildGuard, aws_sdk_s3::Client)> {
    let (server, endpoint) = slipway_testkit::moto_server()?;
    let config = aws_sdk_s3::Config::builder()
        .behavior_version_latest()
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .force_path_style(true)
        .http_client(slipway_aws::http_client())
        .credentials_provider(aws_sdk_s3::config::Credentials::new("testing", "testing", None, None, "test"))
        .build();
    Some((server, aws_sdk_s3::Client::from_conf(config)))
}

#[test]
fn the_bundle_lands_in_s3_as_moto_serves_it() {
    let Some((_server, s3)) = moto_s3() else { return };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(s3.create_bucket().bucket("shop-bundles").send()).unwrap();
    let world = world_with(&[Look("Ready", "Green", "v2-3f2a9c1b7d4e")]);
    let settings = Settings { bucket: Some("shop-bundles".into()), ..settings() };
    let run = run_with_s3(&world, settings, &request(Strategy::Direct, Phase::Deploy), s3.clone());
    assert_eq!(run.result.unwrap().status, Status::Deployed, "{}", run.log);
    let object = runtime
        .block_on(s3.get_object().bucket("shop-bundles").key("shop/v2-3f2a9c1b7d4e/Dockerrun.aws.json").send())
        .unwrap();
    assert_eq!(object.content_type(), Some("application/json"));
    let body = runtime.block_on(object.body.collect()).unwrap().into_bytes();
    let bundle: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(bundle["Image"]["Name"], IMAGE);
    assert_eq!(bundle["Ports"][0]["ContainerPort"], 8080);
}

// A canary judged by analysis: deploy itself judges EB's one traffic split, probing a
// loopback stand-in for the environment's URL (and Prometheus's query API).

const V2: &str = "v2-3f2a9c1b7d4e";

/// A world where shop-prod runs v1 with enhanced health. UpdateEnvironment to v2 starts the
/// split: shop-prod gives the `split` looks in turn, and the new fleet (i-2) is deployed
/// and Green beside the old one (i-1). AbortEnvironmentUpdate returns shop-prod to v1, and
/// so does an update back to v1.
fn judged_world(split: &[Look]) -> Shared {
    let world = world_with(&[]);
    {
        let mut state = world.lock().unwrap();
        state.abortable = true;
        state.instances = Some(vec![("i-1", "v1", "Deployed", "Green"), ("i-2", V2, "Deployed", "Green")]);
        state.looks_after_update.insert(V2.into(), split.iter().copied().collect());
        state
            .looks_after_update
            .insert("v1".into(), [Look("Updating", "Grey", "v1"), Look("Ready", "Green", "v1")].into());
        state.looks_after_abort = Some([Look("Aborting", "Grey", V2), Look("Ready", "Green", "v1")].into());
    }
    world
}

/// The split under way, then ended by EB on the new version.
const SPLIT_THEN_ALL: [Look; 2] = [Look("Updating", "Green", V2), Look("Ready", "Green", V2)];

/// The stand-in for the environment's URL: 200, or 500 while `failing` says so of the fake
/// EB; Prometheus's queries answered `0.01`, or an error when `prometheus_fails`.
fn environment_url(world: &Shared, failing: fn(&World) -> bool, prometheus_fails: bool) -> ProbedService {
    let world = Arc::clone(world);
    ProbedService::start(move || failing(&world.lock().unwrap()), prometheus_fails)
}

/// EB has ended the split with all traffic on the new version.
fn split_ended(world: &World) -> bool {
    world.last_look.is_some_and(|look| look.0 == "Ready" && look.2 == V2)
}

/// A canary of one step at 25% with a bake of 1s (so a final watch too), judged by `gates`
/// through `probed`; the request is returned for its record.
fn judged_run(world: &Shared, probed: &ProbedService, gates: &[&str]) -> (Run, DeployRequest) {
    let flags = gates::analysis_flags(gates, &probed.url());
    let args = RolloutArgs { steps: Some(Steps(vec![25])), bake: Some(Duration::from_secs(1)), ..Default::default() };
    let request = DeployRequest {
        rollout: Rollout::new(Strategy::Canary, &args).unwrap(),
        analysis: flags.parse().unwrap(),
        timeout: Duration::from_secs(20),
        ..request(Strategy::Canary, Phase::Deploy)
    };
    let settings = Settings {
        canary_percent: 25,
        canary_evaluation: Duration::from_secs(180),
        environment_url: Some(probed.url()),
        check: "/health".into(),
        ..settings()
    };
    (run(world, settings, &request), request)
}

fn calls(world: &Shared) -> Vec<String> {
    world.lock().unwrap().calls.clone()
}

fn created_and_split() -> [String; 2] {
    [format!("CreateApplicationVersion {V2} slipway: {IMAGE}"), format!("UpdateEnvironment shop-prod {V2}")]
}

#[test]
fn a_judged_canary_that_stays_healthy_is_promoted_once_eb_ends_the_split_on_it() {
    let world = judged_world(&SPLIT_THEN_ALL);
    let probed = environment_url(&world, |_| false, false);
    let (run, _) = judged_run(
        &world,
        &probed,
        &[
            "--max-error-rate",
            "5%",
            "--prometheus",
            "{url}",
            "--metric",
            "errors:sum(rate(http_errors_total[1m]))<=0.05",
        ],
    );
    let done = run.result.unwrap_or_else(|e| panic!("{e:?}\n{}", run.log));
    assert_eq!(
        (done.status, done.version_label.as_str(), done.previous_version.as_str()),
        (Status::Promoted, V2, "v1")
    );
    assert_eq!(done.health, "Green");
    assert_eq!(calls(&world), created_and_split(), "no abort, no put-back: EB ended the split itself");
    let traffic = "aws:elasticbeanstalk:trafficsplitting";
    assert_eq!(
        settings_sent(&world),
        [
            setting("aws:elasticbeanstalk:command", "DeploymentPolicy", "TrafficSplitting"),
            setting(traffic, "NewVersionPercent", "25"),
            setting(traffic, "EvaluationTime", "3"),
        ]
    );
    let probes = probed.hits();
    assert!(probes >= 4, "the analysis probed the environment's URL ({probes} probes)");
    let timeline: Vec<&str> = done.details.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(timeline, ["step 1 of 1 at 25%", "final watch at 100%"]);
    assert!(done.details.iter().all(|(_, words)| words.starts_with("passed")), "{:?}", done.details);
    assert!(done.details.iter().any(|(_, words)| words.contains("errors 0.01")), "{:?}", done.details);
    assert!(run.log.contains("the canary's fleet is healthy (1 instance(s) on v2-3f2a9c1b7d4e)"), "{}", run.log);
}

#[test]
fn a_judged_canary_serving_errors_is_aborted_at_its_step_through_abort_environment_update() {
    let world = judged_world(&[Look("Updating", "Green", V2)]);
    let probed = environment_url(&world, |_| true, false);
    let (run, request) = judged_run(&world, &probed, &["--max-error-rate", "5%"]);
    let log = run.log.clone();
    let (message, status, detail) = match run.result {
        Err(DeployError::Failed { message, status, detail }) => (message, status, detail),
        other => panic!("expected an aborted canary, got {other:?}\n{log}"),
    };
    assert_eq!(status, Status::Aborted, "{message}\n{log}");
    assert!(message.contains("the canary was aborted at step 1 of 1 at 25%: the gate error rate"), "{message}");
    assert!(message.contains("all traffic is back on the old version"), "{message}");
    // The split was aborted (for shop-prod), never replaced by an update back to v1.
    assert_eq!(calls(&world), [&created_and_split()[..], &["AbortEnvironmentUpdate shop-prod".to_owned()]].concat());
    assert!(detail.iter().any(|line| line.starts_with("step 1 of 1 at 25%: failed")), "{detail:?}");
    assert!(log.contains("shop-prod is Ready on v1 again"), "{log}");
    // The timeline output names the step and the gate.
    let record = slipway_deploy::analysis::run_record("elastic-beanstalk", &request, status, Some(&message)).unwrap();
    assert_eq!(record["status"], "aborted");
    assert_eq!(record["windows"][0]["window"], "step 1 of 1 at 25%");
    assert_eq!(record["windows"][0]["decision"], "crossed");
    assert_eq!(record["windows"][0]["gates"][0]["gate"], "error rate");
    assert_eq!(record["windows"][0]["gates"][0]["state"], "crossed");
}

#[test]
fn a_gate_crossed_in_the_final_watch_puts_the_previous_version_back() {
    let world = judged_world(&SPLIT_THEN_ALL);
    let probed = environment_url(&world, split_ended, false);
    let (run, _) = judged_run(&world, &probed, &["--max-error-rate", "5%"]);
    let (message, status) = failure(run);
    assert_eq!(status, Status::RolledBack, "{message}");
    assert!(message.contains("the promoted canary was rolled back at the final watch at 100%"), "{message}");
    // After the split there is nothing to abort: v1 goes back on all at once.
    assert_eq!(calls(&world), [&created_and_split()[..], &["UpdateEnvironment shop-prod v1".to_owned()]].concat());
    assert_eq!(settings_sent(&world), [setting("aws:elasticbeanstalk:command", "DeploymentPolicy", "AllAtOnce")]);
}

#[test]
fn a_prometheus_query_that_errors_aborts_the_canary_as_inconclusive() {
    let world = judged_world(&[Look("Updating", "Green", V2)]);
    let probed = environment_url(&world, |_| false, true);
    let (run, _) = judged_run(
        &world,
        &probed,
        &["--prometheus", "{url}", "--metric", "errors:sum(rate(http_errors_total[1m]))<=0.05"],
    );
    let (message, status) = failure(run);
    assert_eq!(status, Status::Aborted, "{message}");
    assert!(message.contains("at step 1 of 1 at 25%") && message.contains("inconclusive"), "{message}");
    assert!(calls(&world).contains(&"AbortEnvironmentUpdate shop-prod".to_owned()));
}

/// Every window passed, but EB ended the split on the old version by itself (the new
/// fleet failed its evaluation): the run is rolled back, never promoted.
#[test]
fn a_split_eb_rolls_back_by_itself_is_never_promoted() {
    let world = judged_world(&[Look("Updating", "Green", V2), Look("Ready", "Green", "v1")]);
    let probed = environment_url(&world, |_| false, false);
    let (run, _) = judged_run(&world, &probed, &["--max-error-rate", "5%"]);
    let (message, status) = failure(run);
    assert_eq!(status, Status::RolledBack, "{message}");
    assert!(message.contains("Elastic Beanstalk ended the split on v1, not v2-3f2a9c1b7d4e"), "{message}");
    assert_eq!(calls(&world), created_and_split(), "EB is back on v1 by itself: nothing to abort or put back");
}

#[test]
fn a_judged_canary_needs_enhanced_health_and_is_refused_before_any_change_without_it() {
    let world = judged_world(&SPLIT_THEN_ALL);
    world.lock().unwrap().instances = None;
    let probed = environment_url(&world, |_| false, false);
    let (run, _) = judged_run(&world, &probed, &["--max-error-rate", "5%"]);
    match run.result {
        Err(DeployError::Usage(message)) => {
            assert!(message.contains("Enhanced health reporting is not enabled"), "{message}");
            assert!(message.contains("enable enhanced health reporting on shop-prod"), "{message}");
        }
        other => panic!("expected bad input, got {other:?}"),
    }
    assert!(calls(&world).is_empty(), "nothing was created or updated");
    assert_eq!(probed.hits(), 0);
}

/// Every window passed and the split had ended on the new version, but at the end the
/// environment is on the old one again: the promotion looks, and it is not promoted.
#[test]
fn promoted_only_when_the_environment_serves_the_new_version_at_the_end() {
    let world =
        judged_world(&[Look("Updating", "Green", V2), Look("Ready", "Green", V2), Look("Ready", "Green", "v1")]);
    let probed = environment_url(&world, |_| false, false);
    let (run, _) = judged_run(&world, &probed, &["--max-error-rate", "5%"]);
    let (message, status) = failure(run);
    assert_eq!(status, Status::RolledBack, "{message}");
    assert!(message.contains("shop-prod is Ready on v1, not v2-3f2a9c1b7d4e"), "{message}");
}

// Blue-green judged by analysis: deploy itself judges the idle environment on its own URL,
// swaps the CNAMEs, and watches production, with loopback stand-ins for both URLs.

/// A pair where shop-prod serves production on v1 and shop-prod-green idles on v0; an
/// update of shop-prod-green to v2 brings it up (Updating, then Ready and Green), and the
/// swap puts it through Updating once more.
fn pair_world() -> Shared {
    let world = world_with(&[]);
    {
        let mut state = world.lock().unwrap();
        state.created.push("shop-prod-green".into());
        state.looks.insert("shop-prod-green".into(), [Look("Ready", "Green", "v0")].into());
        state.looks_after_update.insert(V2.into(), [Look("Updating", "Grey", V2), Look("Ready", "Green", V2)].into());
        state
            .looks_after_swap
            .insert("shop-prod-green".into(), [Look("Updating", "Green", V2), Look("Ready", "Green", V2)].into());
    }
    world
}

/// The two URLs a judged blue-green probes: the idle environment's and production's.
struct PairUrls {
    idle: ProbedService,
    production: ProbedService,
}

/// A blue-green judged by `gates` for a bake of 1s on each side of the swap, the idle
/// environment probed through `urls.idle`, production through `urls.production`.
fn judged_blue_green(world: &Shared, urls: &PairUrls, gates: &[&str], settings: Settings) -> (Run, DeployRequest) {
    let flags = gates::analysis_flags(gates, &urls.idle.url());
    let args = RolloutArgs { bake: Some(Duration::from_secs(1)), ..Default::default() };
    let request = DeployRequest {
        rollout: Rollout::new(Strategy::BlueGreen, &args).unwrap(),
        analysis: flags.parse().unwrap(),
        timeout: Duration::from_secs(20),
        ..request(Strategy::BlueGreen, Phase::Deploy)
    };
    let settings = Settings {
        idle_environment_url: Some(urls.idle.url()),
        environment_url: Some(urls.production.url()),
        check: "/health".into(),
        ..settings
    };
    (run(world, settings, &request), request)
}

fn pair_urls(idle_failing: bool, production_failing: bool) -> PairUrls {
    PairUrls {
        idle: ProbedService::start(move || idle_failing, false),
        production: ProbedService::start(move || production_failing, false),
    }
}

fn deployed_to_green() -> [String; 2] {
    [format!("CreateApplicationVersion {V2} slipway: {IMAGE}"), format!("UpdateEnvironment shop-prod-green {V2}")]
}

/// How long after `first` the call `then` was asked for.
fn between(world: &Shared, first: usize, then: usize) -> Duration {
    let stamps = world.lock().unwrap().stamps.clone();
    stamps[then].1.duration_since(stamps[first].1)
}

#[test]
fn a_judged_blue_green_that_stays_healthy_is_promoted_after_one_swap() {
    let world = pair_world();
    let urls = pair_urls(false, false);
    // The old environment goes once the TTL since the swap has passed, longer than the bake here.
    let ttl = Duration::from_millis(1600);
    let settings = Settings { terminate_old: true, cname_ttl: ttl, ..settings() };
    let (run, _) = judged_blue_green(&world, &urls, &["--max-error-rate", "5%"], settings);
    let done = run.result.unwrap_or_else(|e| panic!("{e:?}\n{}", run.log));
    assert_eq!(
        (done.status, done.version_label.as_str(), done.previous_version.as_str()),
        (Status::Promoted, V2, "v1")
    );
    assert_eq!(done.url, "http://shop-prod.eu-west-1.elasticbeanstalk.com", "production's CNAME, now on green");
    assert_eq!(done.health, "Green");
    let swap = "SwapEnvironmentCNAMEs shop-prod shop-prod-green".to_owned();
    let terminate = "TerminateEnvironment shop-prod".to_owned();
    assert_eq!(calls(&world), [&deployed_to_green()[..], &[swap, terminate]].concat(), "one swap");
    assert!(between(&world, 0, 1) >= ttl, "the old environment outlived the CNAME's TTL");
    // Each window probed its own URL: the idle environment before, production after.
    assert!(urls.idle.hits() >= 4 && urls.production.hits() >= 4, "{} {}", urls.idle.hits(), urls.production.hits());
    let timeline: Vec<&str> = done.details.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(timeline, ["before the switch", "after the switch"]);
    assert!(done.details.iter().all(|(_, words)| words.starts_with("passed")), "{:?}", done.details);
    assert!(
        run.log.contains("shop-prod-green is Updating at shop-prod.eu-west-1"),
        "the swap was waited for\n{}",
        run.log
    );
    assert!(run.log.contains("waiting") && run.log.contains("before terminating shop-prod:"), "{}", run.log);
    // The plan says where each window probes and what a crossed gate does.
    let plan = [
        format!("judge shop-prod-green at {}/health for 1s (error rate <= 5%); a crossed gate terminates shop-prod-green", urls.idle.url()),
        format!("watch production at {}/health for 1s more", urls.production.url()),
        "promoted only when shop-prod-green holds shop-prod.eu-west-1.elasticbeanstalk.com, Ready on v2-3f2a9c1b7d4e and Green; then terminate shop-prod".to_owned(),
    ];
    for step in plan {
        assert!(run.log.contains(&step), "the plan lacks `{step}`\n{}", run.log);
    }
}

#[test]
fn a_gate_crossed_before_the_swap_terminates_the_idle_environment_and_never_swaps() {
    let world = pair_world();
    let urls = pair_urls(true, false);
    let (run, request) = judged_blue_green(&world, &urls, &["--max-error-rate", "5%"], settings());
    let (message, status, detail) = match run.result {
        Err(DeployError::Failed { message, status, detail }) => (message, status, detail),
        other => panic!("expected an aborted blue-green, got {other:?}\n{}", run.log),
    };
    assert_eq!(status, Status::Aborted, "{message}");
    assert!(message.contains("the new version was aborted before the switch: the gate error rate"), "{message}");
    assert!(message.contains("the old version kept all traffic throughout"), "{message}");
    assert_eq!(
        calls(&world),
        [&deployed_to_green()[..], &["TerminateEnvironment shop-prod-green".to_owned()]].concat(),
        "no swap; the idle environment is terminated, never the live one"
    );
    assert_eq!(urls.production.hits(), 0, "production was never probed");
    assert!(detail.iter().any(|line| line.starts_with("before the switch: failed")), "{detail:?}");
    let record = slipway_deploy::analysis::run_record("elastic-beanstalk", &request, status, Some(&message)).unwrap();
    assert_eq!((record["status"].as_str(), record["strategy"].as_str()), (Some("aborted"), Some("blue-green")));
    assert_eq!(record["windows"][0]["window"], "before the switch");
    assert_eq!(record["windows"][0]["decision"], "crossed");
}

#[test]
fn a_gate_crossed_after_the_swap_swaps_back_then_terminates_the_new_environment() {
    let world = pair_world();
    let urls = pair_urls(false, true);
    let ttl = Duration::from_millis(400);
    let (run, _) =
        judged_blue_green(&world, &urls, &["--max-error-rate", "5%"], Settings { cname_ttl: ttl, ..settings() });
    let (message, status) = failure(run);
    assert_eq!(status, Status::RolledBack, "{message}");
    assert!(
        message.contains("the switch to the new version was rolled back after the switch: the gate error rate"),
        "{message}"
    );
    assert!(message.contains("all traffic is back on the old version"), "{message}");
    let back = [
        "SwapEnvironmentCNAMEs shop-prod shop-prod-green".to_owned(),
        "SwapEnvironmentCNAMEs shop-prod-green shop-prod".to_owned(),
        "TerminateEnvironment shop-prod-green".to_owned(),
    ];
    assert_eq!(calls(&world), [&deployed_to_green()[..], &back].concat());
    assert!(between(&world, 1, 2) >= ttl, "clients still resolving to the new environment got the TTL");
    // Production's CNAME is where it began.
    let cnames = world.lock().unwrap().cnames.clone();
    assert_eq!(cnames["shop-prod"], "shop-prod.eu-west-1.elasticbeanstalk.com");
    assert!(urls.idle.hits() > 0 && urls.production.hits() > 0);
}

#[test]
fn a_query_that_errors_before_the_swap_aborts_the_blue_green_as_inconclusive() {
    let world = pair_world();
    let urls =
        PairUrls { idle: ProbedService::start(|| false, true), production: ProbedService::start(|| false, false) };
    let gates = ["--prometheus", "{url}", "--metric", "errors:sum(rate(http_errors_total[1m]))<=0.05"];
    let (run, _) = judged_blue_green(&world, &urls, &gates, settings());
    let (message, status) = failure(run);
    assert_eq!(status, Status::Aborted, "{message}");
    assert!(message.contains("before the switch") && message.contains("inconclusive"), "{message}");
    assert_eq!(
        calls(&world),
        [&deployed_to_green()[..], &["TerminateEnvironment shop-prod-green".to_owned()]].concat()
    );
}

/// Every window passed, but at the end the new environment is not healthy: not promoted,
/// production swapped back.
#[test]
fn a_judged_blue_green_is_promoted_only_when_the_new_environment_is_healthy_at_the_end() {
    let world = pair_world();
    world.lock().unwrap().looks_after_swap.insert(
        "shop-prod-green".into(),
        // The swap's wait sees it Green; the promotion's look sees it Red.
        [Look("Ready", "Green", V2), Look("Ready", "Red", V2)].into(),
    );
    let urls = pair_urls(false, false);
    let (run, _) = judged_blue_green(&world, &urls, &["--max-error-rate", "5%"], settings());
    let (message, status) = failure(run);
    assert_eq!(status, Status::RolledBack, "{message}");
    assert!(message.contains("every window passed, but shop-prod-green is Ready with health Red"), "{message}");
    assert_eq!(
        calls(&world)[2..],
        [
            "SwapEnvironmentCNAMEs shop-prod shop-prod-green",
            "SwapEnvironmentCNAMEs shop-prod-green shop-prod",
            "TerminateEnvironment shop-prod-green"
        ]
    );
}

#[test]
fn a_judged_blue_green_s_bad_input_is_refused_before_any_aws_call() {
    let world = pair_world();
    let urls = pair_urls(false, false);
    let flags = AnalysisFlags { max_error_rate: Some("5%".into()), ..AnalysisFlags::default() };
    let refused = |args: RolloutArgs, timeout: Duration| {
        let request = DeployRequest {
            rollout: Rollout::new(Strategy::BlueGreen, &args).unwrap(),
            analysis: flags.parse().unwrap(),
            timeout,
            ..request(Strategy::BlueGreen, Phase::Deploy)
        };
        let settings = Settings { environment_url: Some(urls.production.url()), ..settings() };
        match run(&world, settings, &request).result {
            Err(DeployError::Usage(message)) => message,
            other => panic!("expected bad input, got {other:?}"),
        }
    };
    // Two windows of the bake, before the swap and after it, must fit in --timeout.
    let long_bake = RolloutArgs { bake: Some(Duration::from_secs(10)), ..Default::default() };
    assert_eq!(
        refused(long_bake, Duration::from_secs(15)),
        "2 analysis window(s) of --bake 10s (20s in all: before the switch and after it) do not fit in --timeout 15s; raise --timeout or shorten --bake"
    );
    let steps = RolloutArgs { steps: Some(Steps(vec![10])), ..Default::default() };
    let message = refused(steps, Duration::from_secs(60));
    assert!(message.contains("does not use --steps with --strategy blue-green"), "{message}");
    let state = world.lock().unwrap();
    assert!(state.calls.is_empty() && state.last_look.is_none(), "not even a DescribeEnvironments: {:?}", state.calls);
    assert_eq!(urls.production.hits() + urls.idle.hits(), 0);
}
