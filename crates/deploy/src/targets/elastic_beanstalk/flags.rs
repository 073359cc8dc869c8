//! The Elastic Beanstalk target's flags, and the settings they and the rollout make.

use std::time::Duration;

use crate::rollout::{Amount, Rollout};
use crate::target::DeployError;

/// The Elastic Beanstalk target's flags.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ElasticBeanstalkFlags {
    /// Elastic Beanstalk: the application.
    #[arg(long, env = "SLIPWAY_APPLICATION", value_name = "NAME")]
    pub application: Option<String>,

    /// Elastic Beanstalk: the environment to deploy to (for blue-green: one of the pair).
    #[arg(long, env = "SLIPWAY_ENVIRONMENT", value_name = "NAME")]
    pub environment: Option<String>,

    /// Elastic Beanstalk: the S3 bucket for bundles. Default: the one CreateStorageLocation returns.
    #[arg(long, env = "SLIPWAY_BUCKET", value_name = "BUCKET")]
    pub bucket: Option<String>,

    /// Elastic Beanstalk: the other environment of a blue-green pair. Default: <environment>-green.
    #[arg(long, env = "SLIPWAY_GREEN_ENVIRONMENT", value_name = "NAME")]
    pub green_environment: Option<String>,

    /// Elastic Beanstalk blue-green: the production CNAME (its prefix, or the whole host);
    /// whichever environment of the pair holds it is live. Default: the CNAME that starts
    /// with --environment's name and not with the green environment's.
    #[arg(long, env = "SLIPWAY_CNAME", value_name = "PREFIX")]
    pub cname: Option<String>,

    /// Elastic Beanstalk: after a blue-green promote, terminate the old environment.
    #[arg(long, env = "SLIPWAY_TERMINATE_OLD")]
    pub terminate_old: bool,

    /// Elastic Beanstalk: accept Yellow health as done (default: only Green).
    #[arg(long, env = "SLIPWAY_ALLOW_YELLOW")]
    pub allow_yellow: bool,
}

/// The target's settings, from its flags and the rollout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub application: String,
    pub environment: String,
    pub bucket: Option<String>,
    /// Rolling batches (default 30%).
    pub batch_size: Amount,
    /// The canary's share of traffic (the rollout's one step).
    pub canary_percent: u8,
    /// How long EB evaluates the canary's health (the rollout's bake).
    pub canary_evaluation: Duration,
    pub green_environment: String,
    /// The production CNAME's prefix, when given.
    pub cname: Option<String>,
    pub terminate_old: bool,
    pub allow_yellow: bool,
    /// Between two looks at the environment (tests shorten it).
    pub poll_interval: Duration,
}

/// The default rolling batch: 30% of the instances.
pub const DEFAULT_BATCH: Amount = Amount::Percent(30);

impl Settings {
    pub fn new(flags: &ElasticBeanstalkFlags, rollout: &Rollout) -> Result<Self, DeployError> {
        let named = |value: &Option<String>, flag: &str| {
            value
                .as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
                .ok_or_else(|| DeployError::Usage(format!("--target elastic-beanstalk needs {flag}")))
        };
        let application = named(&flags.application, "--application")?;
        let environment = named(&flags.environment, "--environment")?;
        let green_environment = flags
            .green_environment
            .as_deref()
            .map(str::trim)
            .filter(|g| !g.is_empty())
            .map_or_else(|| format!("{environment}-green"), str::to_owned);
        if green_environment == environment {
            return Err(DeployError::Usage("--green-environment must differ from --environment".to_owned()));
        }
        let steps = rollout.steps_or_default();
        let [canary_percent] = steps[..] else {
            return Err(DeployError::Usage(format!(
                "Elastic Beanstalk's traffic splitting has one canary step; --steps {} has {}",
                steps.iter().map(ToString::to_string).collect::<Vec<_>>().join(","),
                steps.len()
            )));
        };
        let cname = flags
            .cname
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(|c| c.split('.').next().unwrap_or(c).to_ascii_lowercase());
        Ok(Self {
            application,
            environment,
            bucket: flags.bucket.as_deref().map(str::trim).filter(|b| !b.is_empty()).map(str::to_owned),
            batch_size: rollout.batch_size.unwrap_or(DEFAULT_BATCH),
            canary_percent,
            canary_evaluation: rollout.bake_or_default(),
            green_environment,
            cname,
            terminate_old: flags.terminate_old,
            allow_yellow: flags.allow_yellow,
            poll_interval: Duration::from_secs(10),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::{RolloutArgs, Steps, Strategy};

    fn flags() -> ElasticBeanstalkFlags {
        ElasticBeanstalkFlags {
            application: Some("shop".into()),
            environment: Some(" shop-prod ".into()),
            ..ElasticBeanstalkFlags::default()
        }
    }

    #[test]
    fn defaults_and_the_canary_from_the_rollout() {
        let settings = Settings::new(&flags(), &Rollout::plain(Strategy::Direct)).unwrap();
        assert_eq!(settings.environment, "shop-prod");
        assert_eq!(settings.green_environment, "shop-prod-green");
        assert_eq!((settings.batch_size, settings.canary_percent), (Amount::Percent(30), 10));
        let canary = RolloutArgs {
            steps: Some(Steps(vec![25])),
            bake: Some(Duration::from_secs(120)),
            ..RolloutArgs::default()
        };
        let settings = Settings::new(&flags(), &Rollout::new(Strategy::Canary, &canary).unwrap()).unwrap();
        assert_eq!((settings.canary_percent, settings.canary_evaluation), (25, Duration::from_secs(120)));
    }

    #[test]
    fn more_than_one_canary_step_and_missing_names_are_refused() {
        let steps = RolloutArgs { steps: Some(Steps(vec![10, 50])), ..RolloutArgs::default() };
        let error = Settings::new(&flags(), &Rollout::new(Strategy::Canary, &steps).unwrap()).unwrap_err();
        assert_eq!(
            error,
            DeployError::Usage("Elastic Beanstalk's traffic splitting has one canary step; --steps 10,50 has 2".into())
        );
        let none = ElasticBeanstalkFlags { application: None, ..flags() };
        assert!(Settings::new(&none, &Rollout::plain(Strategy::Direct)).is_err());
        let same = ElasticBeanstalkFlags { green_environment: Some("shop-prod".into()), ..flags() };
        assert!(Settings::new(&same, &Rollout::plain(Strategy::Direct)).is_err());
    }

    #[test]
    fn the_cname_is_kept_as_its_prefix() {
        let host = ElasticBeanstalkFlags { cname: Some("Shop-Live.eu-west-1.elasticbeanstalk.com".into()), ..flags() };
        assert_eq!(
            Settings::new(&host, &Rollout::plain(Strategy::Direct)).unwrap().cname.as_deref(),
            Some("shop-live")
        );
    }
}
