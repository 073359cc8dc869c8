//! The Elastic Beanstalk target's flags, and the settings they and the rollout make.

use std::ops::RangeInclusive;
use std::time::Duration;

use crate::rollout::{Amount, Rollout, Strategy};
use crate::target::DeployError;

/// EB's `EvaluationTime` (aws:elasticbeanstalk:trafficsplitting), in whole minutes.
pub const EVALUATION_MINUTES: RangeInclusive<u64> = 3..=600;

/// What a judged canary's `EvaluationTime` adds to its --bake: slipway starts its window
/// once it sees the new fleet healthy, up to a poll after EB started evaluating it, and EB
/// must not end the split before the window does.
const JUDGING_MARGIN_MINUTES: u64 = 1;

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

    /// Elastic Beanstalk, canary or blue-green judged by analysis: the base URL the
    /// analysis probes --check at, production as this runner reaches it. Default:
    /// http://<the environment's CNAME> (blue-green: the production CNAME, probed after the
    /// swap). EB has no URL for the canary alone: during the split this URL serves both
    /// versions, so the probes judge the environment's mixed traffic.
    #[arg(long, env = "SLIPWAY_ENVIRONMENT_URL", value_name = "URL")]
    pub environment_url: Option<String>,

    /// Elastic Beanstalk, blue-green judged by analysis: the base URL the analysis probes
    /// --check at before the swap, the idle environment (the new version alone) as this
    /// runner reaches it. Default: http://<the idle environment's CNAME>.
    #[arg(long, env = "SLIPWAY_IDLE_ENVIRONMENT_URL", value_name = "URL")]
    pub idle_environment_url: Option<String>,
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
    /// How long EB evaluates the canary's health (`EvaluationTime`): the rollout's bake,
    /// rounded up to whole minutes (EB's unit), at least EB's 3; a judged canary's adds a
    /// minute so that EB never ends the split before slipway's window does.
    pub canary_evaluation: Duration,
    pub green_environment: String,
    /// The production CNAME's prefix, when given.
    pub cname: Option<String>,
    pub terminate_old: bool,
    pub allow_yellow: bool,
    /// Between two looks at the environment (tests shorten it).
    pub poll_interval: Duration,
    /// A judged canary's probe base URL, and a judged blue-green's after the swap
    /// (`--environment-url`); `None`: the (production) CNAME.
    pub environment_url: Option<String>,
    /// A judged blue-green's probe base URL before the swap (`--idle-environment-url`);
    /// `None`: the idle environment's CNAME.
    pub idle_environment_url: Option<String>,
    /// How long resolvers may keep answering a CNAME's old target after a swap (EB's
    /// records carry a 60s TTL, as observed: EB does not document it). The old environment
    /// is terminated only after it, and it is in the watch after a swap (tests shorten it).
    pub cname_ttl: Duration,
    /// The path a judged run's analysis probes (deploy's --check), default `/`.
    pub check: String,
}

/// The TTL of an environment's CNAME record, as observed (see [`Settings::cname_ttl`]).
pub const CNAME_TTL: Duration = Duration::from_secs(60);

/// The default rolling batch: 30% of the instances.
pub const DEFAULT_BATCH: Amount = Amount::Percent(30);

impl Settings {
    /// `judged`: a canary judged by analysis flags, which slipway ends itself within EB's
    /// one traffic split (a judged blue-green needs no more of the settings than a phased one).
    pub fn new(flags: &ElasticBeanstalkFlags, rollout: &Rollout, judged: bool) -> Result<Self, DeployError> {
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
            let listed = steps.iter().map(ToString::to_string).collect::<Vec<_>>().join(",");
            return Err(DeployError::Usage(if judged {
                format!(
                    "analysis judges one Elastic Beanstalk canary step (--steps 10): traffic splitting shifts NewVersionPercent once, then all traffic, with no step between to judge; --steps {listed} has {}",
                    steps.len()
                )
            } else {
                format!(
                    "Elastic Beanstalk's traffic splitting has one canary step; --steps {listed} has {}",
                    steps.len()
                )
            }));
        };
        // Only a canary's --bake is EB's EvaluationTime; a blue-green's is slipway's alone.
        let canary_evaluation = if rollout.strategy == Strategy::Canary {
            evaluation_time(rollout.bake_or_default(), judged)?
        } else {
            Duration::from_secs(EVALUATION_MINUTES.start() * 60)
        };
        let url = |value: &Option<String>, flag: &str| {
            value
                .as_deref()
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .map(|text| crate::targets::base_url(flag, text))
                .transpose()
                .map_err(DeployError::Usage)
        };
        let environment_url = url(&flags.environment_url, "--environment-url")?;
        let idle_environment_url = url(&flags.idle_environment_url, "--idle-environment-url")?;
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
            canary_evaluation,
            green_environment,
            cname,
            terminate_old: flags.terminate_old,
            allow_yellow: flags.allow_yellow,
            poll_interval: Duration::from_secs(10),
            environment_url,
            idle_environment_url,
            cname_ttl: CNAME_TTL,
            check: "/".to_owned(),
        })
    }
}

/// EB's `EvaluationTime` for a canary baked `bake`: whole minutes, rounded up, plus the
/// judging margin when slipway judges it, raised to EB's least; beyond EB's most it is
/// refused (exit 2) before any change.
fn evaluation_time(bake: Duration, judged: bool) -> Result<Duration, DeployError> {
    let margin = if judged { JUDGING_MARGIN_MINUTES } else { 0 };
    let minutes = bake.as_secs().div_ceil(60) + margin;
    let (least, most) = (*EVALUATION_MINUTES.start(), *EVALUATION_MINUTES.end());
    if minutes > most {
        let judging = if judged {
            format!(" (the bake and {margin} minute for slipway to see the split begin)")
        } else {
            String::new()
        };
        return Err(DeployError::Usage(format!(
            "--bake {} needs an EvaluationTime of {minutes} minutes{judging}; Elastic Beanstalk's traffic splitting evaluates {least} to {most} minutes",
            humantime::format_duration(bake)
        )));
    }
    Ok(Duration::from_secs(minutes.max(least) * 60))
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
        let settings = Settings::new(&flags(), &Rollout::plain(Strategy::Direct), false).unwrap();
        assert_eq!(settings.environment, "shop-prod");
        assert_eq!(settings.green_environment, "shop-prod-green");
        assert_eq!((settings.batch_size, settings.canary_percent), (Amount::Percent(30), 10));
        let canary = RolloutArgs {
            steps: Some(Steps(vec![25])),
            bake: Some(Duration::from_secs(120)),
            ..RolloutArgs::default()
        };
        let settings = Settings::new(&flags(), &Rollout::new(Strategy::Canary, &canary).unwrap(), false).unwrap();
        assert_eq!((settings.canary_percent, settings.canary_evaluation), (25, Duration::from_secs(180)));
    }

    #[test]
    fn the_evaluation_time_covers_the_bake_in_whole_minutes_within_eb_s_range() {
        let minutes = |bake: u64, judged: bool| {
            evaluation_time(Duration::from_secs(bake), judged).map(|d| d.as_secs() / 60).map_err(|e| e.to_string())
        };
        // EB's least is 3 minutes; a phased canary's is its bake rounded up.
        assert_eq!(minutes(30, false), Ok(3));
        assert_eq!(minutes(300, false), Ok(5));
        assert_eq!(minutes(301, false), Ok(6));
        // Judged: a minute more, so EB never ends the split inside slipway's window.
        assert_eq!(minutes(120, true), Ok(3));
        assert_eq!(minutes(150, true), Ok(4));
        assert_eq!(minutes(300, true), Ok(6));
        assert_eq!(minutes(599 * 60, true), Ok(600));
        assert_eq!(minutes(600 * 60, false), Ok(600));
        let refused = minutes(600 * 60, true).unwrap_err();
        assert!(refused.contains("--bake 10h needs an EvaluationTime of 601 minutes"), "{refused}");
        assert!(refused.contains("evaluates 3 to 600 minutes"), "{refused}");
        assert!(minutes(601 * 60, false).is_err());
    }

    #[test]
    fn a_judged_canary_is_one_step_and_its_url_a_base_url() {
        let steps = RolloutArgs { steps: Some(Steps(vec![10, 50])), ..RolloutArgs::default() };
        let error = Settings::new(&flags(), &Rollout::new(Strategy::Canary, &steps).unwrap(), true).unwrap_err();
        assert!(
            error.to_string().contains("analysis judges one Elastic Beanstalk canary step (--steps 10)"),
            "{error}"
        );
        let url = ElasticBeanstalkFlags { environment_url: Some(" http://127.0.0.1:8080/ ".into()), ..flags() };
        let settings = Settings::new(&url, &Rollout::plain(Strategy::Canary), true).unwrap();
        assert_eq!(settings.environment_url.as_deref(), Some("http://127.0.0.1:8080"));
        let bad = ElasticBeanstalkFlags { environment_url: Some("shop.example.com".into()), ..flags() };
        assert!(Settings::new(&bad, &Rollout::plain(Strategy::Canary), true).is_err());
    }

    #[test]
    fn a_judged_blue_green_s_bake_is_not_eb_s_evaluation_time_and_it_takes_an_idle_url() {
        // Ten hours on each side of the swap: slipway's windows, nothing EB evaluates.
        let long = RolloutArgs { bake: Some(Duration::from_secs(600 * 60)), ..RolloutArgs::default() };
        let flags =
            ElasticBeanstalkFlags { idle_environment_url: Some("https://green.shop.example/".into()), ..flags() };
        let settings = Settings::new(&flags, &Rollout::new(Strategy::BlueGreen, &long).unwrap(), false).unwrap();
        assert_eq!(settings.idle_environment_url.as_deref(), Some("https://green.shop.example"));
        assert_eq!(settings.cname_ttl, CNAME_TTL);
        // The same bake on a canary is EB's EvaluationTime, beyond its 600 minutes when judged.
        let canary = Rollout::new(Strategy::Canary, &long).unwrap();
        assert!(Settings::new(&flags, &canary, true).is_err());
        let bad = ElasticBeanstalkFlags { idle_environment_url: Some("green".into()), ..flags };
        let error = Settings::new(&bad, &Rollout::plain(Strategy::BlueGreen), false).unwrap_err();
        assert!(error.to_string().contains("--idle-environment-url `green` is not an http://"), "{error}");
    }

    #[test]
    fn more_than_one_canary_step_and_missing_names_are_refused() {
        let steps = RolloutArgs { steps: Some(Steps(vec![10, 50])), ..RolloutArgs::default() };
        let error = Settings::new(&flags(), &Rollout::new(Strategy::Canary, &steps).unwrap(), false).unwrap_err();
        assert_eq!(
            error,
            DeployError::Usage("Elastic Beanstalk's traffic splitting has one canary step; --steps 10,50 has 2".into())
        );
        let none = ElasticBeanstalkFlags { application: None, ..flags() };
        assert!(Settings::new(&none, &Rollout::plain(Strategy::Direct), false).is_err());
        let same = ElasticBeanstalkFlags { green_environment: Some("shop-prod".into()), ..flags() };
        assert!(Settings::new(&same, &Rollout::plain(Strategy::Direct), false).is_err());
    }

    #[test]
    fn the_cname_is_kept_as_its_prefix() {
        let host = ElasticBeanstalkFlags { cname: Some("Shop-Live.eu-west-1.elasticbeanstalk.com".into()), ..flags() };
        assert_eq!(
            Settings::new(&host, &Rollout::plain(Strategy::Direct), false).unwrap().cname.as_deref(),
            Some("shop-live")
        );
    }
}
