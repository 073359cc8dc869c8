//! deploy's flags: the common ones, then each target's.

use std::time::Duration;

use slipway_contract::cli::parse_positive_duration;

use crate::target::Strategy;

/// Where to deploy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TargetKind {
    /// A Docker Engine: the local one, or DOCKER_HOST (an EC2 instance running Docker).
    Docker,
    /// AWS Elastic Beanstalk, Docker platform.
    ElasticBeanstalk,
}

/// deploy's own flags (the contract's output flags are added by the binary).
#[derive(Debug, Clone, clap::Args)]
pub struct DeployArgs {
    /// The deploy target.
    #[arg(long, env = "SLIPWAY_TARGET", value_enum)]
    pub target: TargetKind,

    /// The image to deploy, pinned by digest (push-image's image-ref output).
    #[arg(long, env = "SLIPWAY_IMAGE_REF", value_name = "REF")]
    pub image: Option<String>,

    /// How the new version reaches traffic. canary and blue-green stop once the new
    /// version runs beside the old; finish them with --promote or --reject.
    #[arg(long, env = "SLIPWAY_STRATEGY", value_enum, default_value_t = Strategy::Direct)]
    pub strategy: Strategy,

    /// Finish a canary or blue-green deployment: the new version takes all traffic.
    #[arg(long, env = "SLIPWAY_PROMOTE", conflicts_with_all = ["reject", "rollback"])]
    pub promote: bool,

    /// Abandon a canary or blue-green deployment: the old version keeps all traffic.
    #[arg(long, env = "SLIPWAY_REJECT", conflicts_with_all = ["promote", "rollback"])]
    pub reject: bool,

    /// Put the previous version back.
    #[arg(long, env = "SLIPWAY_ROLLBACK", conflicts_with_all = ["promote", "reject"])]
    pub rollback: bool,

    /// The version's label. Default: the git tag or short SHA, then the digest's first 12 hex.
    #[arg(long, env = "SLIPWAY_VERSION_LABEL", value_name = "LABEL")]
    pub version_label: Option<String>,

    /// The port the container listens on.
    #[arg(long, env = "SLIPWAY_PORT", default_value_t = 8080)]
    pub port: u16,

    /// The longest the deployment may take before it is aborted and rolled back.
    #[arg(long, env = "SLIPWAY_TIMEOUT", default_value = "20m", value_parser = parse_positive_duration)]
    pub timeout: Duration,

    /// Refuse an image reference that is not pinned by digest (otherwise a warning).
    #[arg(long, env = "SLIPWAY_REQUIRE_DIGEST")]
    pub require_digest: bool,

    /// Check everything read-only and print the plan; change nothing.
    #[arg(long, env = "SLIPWAY_DRY_RUN")]
    pub dry_run: bool,

    /// Docker: the container's name; the one running under it is replaced.
    #[arg(
        long,
        env = "SLIPWAY_NAME",
        value_name = "NAME",
        default_value = "slipway-app",
        help_heading = "Docker target"
    )]
    pub name: String,

    /// Docker: a published port, [IP:]HOST_PORT:CONTAINER_PORT; repeatable. Default: 127.0.0.1:<port>:<port>.
    /// A rollback restarts the previous container on the ports it was created with.
    #[arg(
        long,
        env = "SLIPWAY_PUBLISH",
        value_name = "MAPPING",
        value_delimiter = '\n',
        help_heading = "Docker target"
    )]
    pub publish: Vec<String>,

    /// Docker: an environment variable for the container, KEY=VALUE; repeatable.
    #[arg(long, env = "SLIPWAY_ENV", value_name = "KEY=VALUE", value_delimiter = '\n', help_heading = "Docker target")]
    pub env: Vec<String>,

    /// Elastic Beanstalk: the application.
    #[arg(long, env = "SLIPWAY_APPLICATION", value_name = "NAME", help_heading = "Elastic Beanstalk target")]
    pub application: Option<String>,

    /// Elastic Beanstalk: the environment to deploy to (blue, for blue-green).
    #[arg(long, env = "SLIPWAY_ENVIRONMENT", value_name = "NAME", help_heading = "Elastic Beanstalk target")]
    pub environment: Option<String>,

    /// Elastic Beanstalk: the S3 bucket for bundles. Default: the one CreateStorageLocation returns.
    #[arg(long, env = "SLIPWAY_BUCKET", value_name = "BUCKET", help_heading = "Elastic Beanstalk target")]
    pub bucket: Option<String>,

    /// Elastic Beanstalk: rolling batch size, a percentage (30%) or an instance count (2).
    #[arg(
        long,
        env = "SLIPWAY_BATCH_SIZE",
        value_name = "SIZE",
        default_value = "30%",
        help_heading = "Elastic Beanstalk target"
    )]
    pub batch_size: String,

    /// Elastic Beanstalk: the share of traffic the canary gets, 1 to 99.
    #[arg(long, env = "SLIPWAY_CANARY_PERCENT", default_value_t = 10, value_parser = clap::value_parser!(u8).range(1..=99), help_heading = "Elastic Beanstalk target")]
    pub canary_percent: u8,

    /// Elastic Beanstalk: how long EB evaluates the canary's health before shifting traffic.
    #[arg(long, env = "SLIPWAY_CANARY_EVALUATION", default_value = "5m", value_parser = parse_positive_duration, help_heading = "Elastic Beanstalk target")]
    pub canary_evaluation: Duration,

    /// Elastic Beanstalk: the green environment of a blue-green deployment. Default: <environment>-green.
    #[arg(long, env = "SLIPWAY_GREEN_ENVIRONMENT", value_name = "NAME", help_heading = "Elastic Beanstalk target")]
    pub green_environment: Option<String>,

    /// Elastic Beanstalk: after a blue-green promote, terminate the old (blue) environment.
    #[arg(long, env = "SLIPWAY_TERMINATE_OLD", help_heading = "Elastic Beanstalk target")]
    pub terminate_old: bool,

    /// Elastic Beanstalk: accept Yellow health as done (default: only Green).
    #[arg(long, env = "SLIPWAY_ALLOW_YELLOW", help_heading = "Elastic Beanstalk target")]
    pub allow_yellow: bool,

    /// Record a GitHub deployment and its statuses for GITHUB_SHA (needs GITHUB_TOKEN).
    #[arg(long, env = "SLIPWAY_GITHUB_DEPLOYMENT", help_heading = "GitHub deployments")]
    pub github_deployment: bool,

    /// The GitHub environment the deployment is recorded in.
    #[arg(
        long,
        env = "SLIPWAY_ENVIRONMENT_NAME",
        value_name = "NAME",
        default_value = "production",
        help_heading = "GitHub deployments"
    )]
    pub environment_name: String,
}
