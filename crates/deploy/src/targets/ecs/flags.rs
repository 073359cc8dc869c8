//! The ECS target's flags, and the [`Settings`] they and the rollout make once checked:
//! names present, the rolling budget expressible as ECS's percentages, the task
//! definition file parsed. All of it before any request.

use std::path::PathBuf;
use std::time::Duration;

use aws_sdk_ecs::types::TaskDefinition;

use super::task_definition;
use crate::rollout::{Amount, Rollout, Strategy};
use crate::target::DeployError;

/// The ECS target's flags.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct EcsFlags {
    /// ECS: the cluster (its name or ARN). ECS Express: default `default`.
    #[arg(long, env = "SLIPWAY_CLUSTER", value_name = "NAME")]
    pub cluster: Option<String>,

    /// ECS: the service to deploy to (its deployment controller must be ECS). ECS Express:
    /// the Express service's name (created when missing). App Runner: the service's name
    /// or ARN.
    #[arg(long, env = "SLIPWAY_SERVICE", value_name = "NAME")]
    pub service: Option<String>,

    /// ECS: the container of the task definition that gets the image. Default: the one
    /// whose image is in the same repository, else the only one.
    #[arg(long, env = "SLIPWAY_CONTAINER", value_name = "NAME")]
    pub container: Option<String>,

    /// ECS: start the new revision from this task definition (JSON, as `aws ecs
    /// describe-task-definition` prints it, whole or its taskDefinition) instead of the
    /// service's current one.
    #[arg(long, env = "SLIPWAY_TASK_DEFINITION", value_name = "FILE")]
    pub task_definition: Option<PathBuf>,

    /// ECS: leave the deployment circuit breaker as the service has it (default: on, with
    /// rollback, so that ECS stops a rollout whose tasks keep failing).
    #[arg(long, env = "SLIPWAY_NO_CIRCUIT_BREAKER")]
    pub no_circuit_breaker: bool,

    /// ECS, canary or blue-green judged by analysis: the base URL of the service's test
    /// listener, where the new revision alone answers (its test listener rule's port on
    /// the load balancer, as this runner reaches it). The analysis probes --check there
    /// (and, without --service-url, after all production traffic moved too).
    #[arg(long, env = "SLIPWAY_TEST_LISTENER_URL", value_name = "URL")]
    pub test_listener_url: Option<String>,

    /// ECS: the URL users reach the service at (its load balancer's production listener, or
    /// the name you route to it), published as the url output once deployed. A rollout
    /// judged by analysis probes --check there once all production traffic is on the new
    /// revision (a canary's final watch, blue-green after the switch). Default: no url
    /// (slipway does not read load balancers).
    #[arg(long, env = "SLIPWAY_SERVICE_URL", value_name = "URL")]
    pub service_url: Option<String>,

    /// ECS Express: the task execution role's ARN, needed to create the service (pulls
    /// the image, writes logs, reads secrets).
    #[arg(long, env = "SLIPWAY_EXECUTION_ROLE", value_name = "ARN")]
    pub execution_role: Option<String>,

    /// ECS Express: the infrastructure role's ARN, needed to create the service (ECS
    /// builds the load balancer, target groups and scaling with it).
    #[arg(long, env = "SLIPWAY_INFRASTRUCTURE_ROLE", value_name = "ARN")]
    pub infrastructure_role: Option<String>,
}

/// The target's settings, from its flags and the rollout.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub cluster: String,
    pub service: String,
    pub container: Option<String>,
    /// The task definition `--task-definition` holds, parsed (tags apart).
    pub from_file: Option<task_definition::Source>,
    pub circuit_breaker: bool,
    /// ECS's maximumPercent, from --max-surge (100 + surge).
    pub maximum_percent: Option<i32>,
    /// ECS's minimumHealthyPercent, from --max-unavailable (100 - unavailable).
    pub minimum_healthy_percent: Option<i32>,
    /// Canary, linear or blue-green: ECS's native strategy and its parameters.
    pub native: Option<Native>,
    /// No --strategy given: a service on ECS's BLUE_GREEN, CANARY or LINEAR strategy
    /// keeps it (with its parameters, hooks and alarms); only --strategy changes it.
    pub keep_strategy: bool,
    /// `--test-listener-url`: where a judged rollout's analysis probes the new revision
    /// before it takes all production traffic.
    pub test_listener_url: Option<String>,
    /// `--service-url`: where users reach the service (the url output); a judged rollout's
    /// analysis probes it once all production traffic is on the new revision.
    pub service_url: Option<String>,
    /// The path the analysis probes (deploy's --check), default `/`.
    pub check: String,
    /// Between two looks at the deployment (tests shorten it); also the first backoff
    /// after throttling.
    pub poll_interval: Duration,
}

/// ECS's native traffic-shifting strategies, from the rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Native {
    /// BLUE_GREEN: all production traffic at once, the old revision kept for the bake.
    BlueGreen { bake_minutes: i32 },
    /// CANARY: `percent` of production traffic for `bake_minutes`, then the rest.
    Canary { percent: u8, bake_minutes: i32 },
    /// LINEAR: `step` percent more every `bake_minutes`.
    Linear { step: u8, bake_minutes: i32 },
}

impl Native {
    /// The strategy's parameters from the rollout: one canary step is CANARY; steps of
    /// equal size from the first (10,20,30) are LINEAR; other steps ECS cannot do.
    pub fn from(rollout: &Rollout) -> Result<Option<Self>, DeployError> {
        let bake_minutes = i32::try_from(rollout.bake_or_default().as_secs().div_ceil(60).max(1)).unwrap_or(i32::MAX);
        match rollout.strategy {
            Strategy::BlueGreen => Ok(Some(Self::BlueGreen { bake_minutes })),
            Strategy::Canary => {
                let steps = rollout.steps_or_default();
                let first = steps[0];
                if steps.len() == 1 {
                    return Ok(Some(Self::Canary { percent: first, bake_minutes }));
                }
                if steps.iter().enumerate().all(|(i, s)| usize::from(*s) == usize::from(first) * (i + 1)) {
                    return Ok(Some(Self::Linear { step: first, bake_minutes }));
                }
                Err(DeployError::Usage(format!(
                    "ECS shifts traffic in one canary step (--steps 10) or in equal linear steps (--steps 10,20,30); --steps {} is neither",
                    steps.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")
                )))
            }
            _ => Ok(None),
        }
    }

    pub fn describe(self) -> String {
        match self {
            Self::BlueGreen { bake_minutes } => {
                format!("blue/green, old revision kept {bake_minutes}m after the shift")
            }
            Self::Canary { percent, bake_minutes } => {
                format!("canary, {percent}% of production traffic for {bake_minutes}m, then the rest")
            }
            Self::Linear { step, bake_minutes } => {
                format!("linear, {step}% more production traffic every {bake_minutes}m")
            }
        }
    }
}

/// A URL flag's value, when given: see [`crate::targets::base_url`].
fn url(value: Option<&str>, flag: &str) -> Result<Option<String>, DeployError> {
    let Some(text) = value.map(str::trim).filter(|u| !u.is_empty()) else { return Ok(None) };
    crate::targets::base_url(flag, text).map(Some).map_err(DeployError::Usage)
}

impl Settings {
    /// `analysis`: the rollout is judged by analysis flags, which need the test listener's
    /// URL and, for a canary, one step ECS holds (its canary phase).
    pub async fn new(flags: &EcsFlags, rollout: &Rollout, analysis: bool) -> Result<Self, DeployError> {
        let named = |value: &Option<String>, flag: &str| {
            value
                .as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
                .ok_or_else(|| DeployError::Usage(format!("--target ecs needs {flag}")))
        };
        let cluster = named(&flags.cluster, "--cluster")?;
        let service = named(&flags.service, "--service")?;
        let percent = |flag: &str, amount: Option<Amount>| match amount {
            None => Ok(None),
            Some(Amount::Percent(p)) => Ok(Some(i32::from(p))),
            Some(Amount::Count(n)) => Err(DeployError::Usage(format!(
                "ECS's rolling budget is a percentage of the desired count; {flag} {n} is a task count (write {flag} 50%)"
            ))),
        };
        let surge = percent("--max-surge", rollout.max_surge)?;
        let unavailable = percent("--max-unavailable", rollout.max_unavailable)?;
        let from_file = match &flags.task_definition {
            None => None,
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|error| {
                    DeployError::Usage(format!("cannot read --task-definition {}: {error}", path.display()))
                })?;
                Some(task_definition::parse_file(&text).await.map_err(|error| {
                    DeployError::Usage(format!("--task-definition {} does not parse: {error}", path.display()))
                })?)
            }
        };
        let native = Native::from(rollout)?;
        let test_listener_url = url(flags.test_listener_url.as_deref(), "--test-listener-url")?;
        let service_url = url(flags.service_url.as_deref(), "--service-url")?;
        if analysis {
            if let Some(Native::Linear { .. }) = native {
                return Err(DeployError::Usage(format!(
                    "analysis judges one ECS canary step (--steps 10): ECS moves LINEAR steps on by its own clock, with no pause between them to judge; --steps {} is linear (drop the analysis flags for ECS's own linear rollout, or give one step)",
                    rollout.steps_or_default().iter().map(ToString::to_string).collect::<Vec<_>>().join(",")
                )));
            }
            if test_listener_url.is_none() {
                return Err(DeployError::Usage(format!(
                    "--strategy {} judged by analysis on ECS probes the new revision through the test listener: give --test-listener-url (the load balancer's test listener as this runner reaches it)",
                    rollout.strategy
                )));
            }
        }
        Ok(Self {
            cluster,
            service,
            container: flags.container.as_deref().map(str::trim).filter(|c| !c.is_empty()).map(str::to_owned),
            from_file,
            circuit_breaker: !flags.no_circuit_breaker,
            maximum_percent: surge.map(|s| 100 + s),
            minimum_healthy_percent: unavailable.map(|u| 100 - u),
            native,
            keep_strategy: false,
            test_listener_url,
            service_url,
            check: "/".to_owned(),
            poll_interval: Duration::from_secs(10),
        })
    }

    /// The task definition from the file, when there is one.
    pub fn file_definition(&self) -> Option<&TaskDefinition> {
        self.from_file.as_ref().map(|source| &source.definition)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::{RolloutArgs, Strategy};

    fn settings(flags: &EcsFlags, rollout: &Rollout) -> Result<Settings, DeployError> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(Settings::new(flags, rollout, false))
    }

    fn flags() -> EcsFlags {
        EcsFlags { cluster: Some("prod".into()), service: Some(" shop ".into()), ..EcsFlags::default() }
    }

    #[test]
    fn names_are_required_and_the_budget_becomes_ecs_percentages() {
        let s = settings(&flags(), &Rollout::plain(Strategy::Rolling)).unwrap();
        assert_eq!((s.cluster.as_str(), s.service.as_str()), ("prod", "shop"));
        assert!(s.circuit_breaker);
        assert_eq!((s.maximum_percent, s.minimum_healthy_percent), (None, None));
        let budget = RolloutArgs {
            max_surge: Some(Amount::Percent(50)),
            max_unavailable: Some(Amount::Percent(25)),
            ..RolloutArgs::default()
        };
        let s = settings(&flags(), &Rollout::new(Strategy::Rolling, &budget).unwrap()).unwrap();
        assert_eq!((s.maximum_percent, s.minimum_healthy_percent), (Some(150), Some(75)));

        let missing = EcsFlags { cluster: None, ..flags() };
        let error = settings(&missing, &Rollout::plain(Strategy::Rolling)).unwrap_err();
        assert_eq!(error, DeployError::Usage("--target ecs needs --cluster".into()));
        let blank = EcsFlags { service: Some("  ".into()), ..flags() };
        let error = settings(&blank, &Rollout::plain(Strategy::Rolling)).unwrap_err();
        assert_eq!(error, DeployError::Usage("--target ecs needs --service".into()));
    }

    #[test]
    fn canary_steps_become_ecs_canary_or_linear_and_other_steps_are_refused() {
        let canary = |steps: &[u8]| {
            let args = RolloutArgs {
                steps: Some(crate::rollout::Steps(steps.to_vec())),
                bake: Some(Duration::from_secs(90)),
                ..RolloutArgs::default()
            };
            Native::from(&Rollout::new(Strategy::Canary, &args).unwrap())
        };
        assert_eq!(canary(&[10]), Ok(Some(Native::Canary { percent: 10, bake_minutes: 2 })));
        assert_eq!(canary(&[20, 40, 60, 80]), Ok(Some(Native::Linear { step: 20, bake_minutes: 2 })));
        let error = canary(&[10, 25, 50]).unwrap_err();
        assert!(matches!(&error, DeployError::Usage(m) if m.ends_with("--steps 10,25,50 is neither")), "{error}");
        assert_eq!(
            Native::from(&Rollout::plain(Strategy::BlueGreen)),
            Ok(Some(Native::BlueGreen { bake_minutes: 5 })),
            "the default bake"
        );
        assert_eq!(Native::from(&Rollout::plain(Strategy::Rolling)), Ok(None));
    }

    #[test]
    fn url_flags_are_http_base_urls_without_user_info_and_analysis_needs_the_test_listener() {
        let with = |test: &str, service: &str| EcsFlags {
            test_listener_url: Some(test.into()),
            service_url: Some(service.into()),
            ..flags()
        };
        let s = settings(
            &with("http://shop.example.com:8080/", " https://shop.example.com "),
            &Rollout::plain(Strategy::Rolling),
        )
        .unwrap();
        assert_eq!(s.test_listener_url.as_deref(), Some("http://shop.example.com:8080"));
        assert_eq!(s.service_url.as_deref(), Some("https://shop.example.com"));
        for bad in [
            "shop.example.com",
            "ftp://shop.example.com",
            "https://ci:token@shop.example.com",
            "https://shop.example.com/?a=1",
        ] {
            let error = settings(&with("http://t.example.com", bad), &Rollout::plain(Strategy::Rolling)).unwrap_err();
            assert_eq!(
                error,
                DeployError::Usage(format!("--service-url `{bad}` is not an http:// or https:// base URL with a host"))
            );
        }
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let canary = Rollout::plain(Strategy::Canary);
        let error = runtime.block_on(Settings::new(&flags(), &canary, true)).unwrap_err();
        assert!(matches!(&error, DeployError::Usage(m) if m.contains("give --test-listener-url")), "{error}");
        let blue_green = Rollout::plain(Strategy::BlueGreen);
        let error = runtime.block_on(Settings::new(&flags(), &blue_green, true)).unwrap_err();
        assert!(
            matches!(&error, DeployError::Usage(m) if m.starts_with("--strategy blue-green judged by analysis on ECS")),
            "{error}"
        );
        let judged =
            runtime.block_on(Settings::new(&with("http://t.example.com", "http://s.example.com"), &canary, true));
        assert_eq!(judged.unwrap().native, Some(Native::Canary { percent: 10, bake_minutes: 5 }));
    }

    #[test]
    fn a_task_count_budget_and_a_broken_file_are_refused() {
        let count = RolloutArgs { max_surge: Some(Amount::Count(2)), ..RolloutArgs::default() };
        let error = settings(&flags(), &Rollout::new(Strategy::Rolling, &count).unwrap()).unwrap_err();
        assert!(matches!(&error, DeployError::Usage(m) if m.contains("--max-surge 2 is a task count")), "{error}");

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("td.json");
        std::fs::write(&path, "{\"family\": \"shop\", \"containerDefinitions\": [").unwrap();
        let file = EcsFlags { task_definition: Some(path.clone()), ..flags() };
        let error = settings(&file, &Rollout::plain(Strategy::Rolling)).unwrap_err();
        assert!(
            matches!(&error, DeployError::Usage(m) if m.starts_with(&format!("--task-definition {} does not parse", path.display()))),
            "{error}"
        );
    }
}
