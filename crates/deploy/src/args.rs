//! deploy's flags: the common ones, the rollout's, then each target's own struct,
//! flattened under its heading.

use std::time::Duration;

use slipway_contract::cli::parse_positive_duration;

use crate::analysis::AnalysisFlags;
use crate::rollout::{RolloutArgs, Strategy};
use crate::targets::TargetKind;
use crate::targets::docker::DockerFlags;
#[cfg(feature = "aws")]
use crate::targets::ecs::EcsFlags;
#[cfg(feature = "aws")]
use crate::targets::elastic_beanstalk::ElasticBeanstalkFlags;
#[cfg(feature = "kubernetes")]
use crate::targets::kubernetes::KubernetesFlags;

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
    /// version runs beside the old; finish them with --promote or --reject. A canary given
    /// analysis flags (--max-error-rate, --metric...) is judged at each step and finished
    /// by deploy itself: promoted, or aborted (a blue-green on Docker, Kubernetes, ECS and
    /// Elastic Beanstalk: judged before its switch and after it). Default: the target's (docker: rolling,
    /// behind a proxy; elastic-beanstalk: direct; kubernetes: rolling, a RollingUpdate;
    /// direct is Recreate there, canary a Deployment <name>-canary beside the main one,
    /// weighted by pods, blue-green the Deployments <name>-blue and <name>-green behind
    /// the Service's selector; ecs: rolling, ECS's rolling update, with canary and
    /// blue-green by ECS's own strategies; ecs-express: Express Mode's own deployment).
    #[arg(long, env = "SLIPWAY_STRATEGY", value_enum)]
    pub strategy: Option<Strategy>,

    /// Finish a canary or blue-green deployment: the new version takes all traffic.
    #[arg(long, env = "SLIPWAY_PROMOTE", conflicts_with_all = ["reject", "rollback"])]
    pub promote: bool,

    /// Abandon a canary or blue-green deployment: the old version keeps all traffic.
    #[arg(long, env = "SLIPWAY_REJECT", conflicts_with_all = ["promote", "rollback"])]
    pub reject: bool,

    /// Put the previous version back (or the one --version-label names; a rollback to the
    /// version live now changes nothing and is refused).
    #[arg(long, env = "SLIPWAY_ROLLBACK", conflicts_with_all = ["promote", "reject"])]
    pub rollback: bool,

    /// The version's label. Default: the application's version (--app-version), else the
    /// git tag or short SHA, then the digest's first 12 hex: v1.2.0-3f2a9c1b7d4e.
    #[arg(long, env = "SLIPWAY_VERSION_LABEL", value_name = "LABEL")]
    pub version_label: Option<String>,

    /// The application's version (build-jar's version output), the default label's first part.
    #[arg(long, env = "SLIPWAY_VERSION", value_name = "VERSION")]
    pub app_version: Option<String>,

    /// The port the container listens on.
    #[arg(long, env = "SLIPWAY_PORT", default_value_t = 8080)]
    pub port: u16,

    /// The longest the run may take: every wait ends by then, and a rollout still
    /// unfinished is aborted and rolled back.
    #[arg(long, env = "SLIPWAY_TIMEOUT", default_value = "20m", value_parser = parse_positive_duration)]
    pub timeout: Duration,

    /// Refuse an image reference that is not pinned by digest (otherwise a warning).
    #[arg(long, env = "SLIPWAY_REQUIRE_DIGEST")]
    pub require_digest: bool,

    /// Check everything read-only and print the plan; change nothing.
    #[arg(long, env = "SLIPWAY_DRY_RUN")]
    pub dry_run: bool,

    #[command(flatten, next_help_heading = "Application")]
    pub app: AppFlags,

    #[command(flatten, next_help_heading = "Rollout")]
    pub rollout: RolloutArgs,

    #[command(flatten, next_help_heading = "Analysis (canary steps judged; verify's names)")]
    pub analysis: AnalysisFlags,

    #[command(flatten, next_help_heading = "Docker target")]
    pub docker: DockerFlags,

    // A build without a target's feature has no flags for it (clap refuses them, exit 2).
    #[cfg(feature = "aws")]
    #[command(flatten, next_help_heading = "Elastic Beanstalk target")]
    pub elastic_beanstalk: ElasticBeanstalkFlags,

    #[cfg(feature = "kubernetes")]
    #[command(flatten, next_help_heading = "Kubernetes target")]
    pub kubernetes: KubernetesFlags,

    #[cfg(feature = "aws")]
    #[command(flatten, next_help_heading = "ECS target")]
    pub ecs: EcsFlags,

    #[command(flatten, next_help_heading = "GitHub deployments")]
    pub github: GithubFlags,
}

/// What names the application and how it is reached, on the targets that read them.
#[derive(Debug, Clone, clap::Args)]
pub struct AppFlags {
    /// The application's name. Docker: the container's (the one running under it is
    /// replaced). Kubernetes: the Deployment's, the Service's and their
    /// `app.kubernetes.io/name` label.
    #[arg(long, env = "SLIPWAY_NAME", value_name = "NAME", default_value = "slipway-app")]
    pub name: String,

    /// The host name the application is served under. Docker, behind the proxy: the host
    /// the proxy routes to this app (default: every host). Kubernetes: an Ingress for it.
    #[arg(long, env = "SLIPWAY_HOST", value_name = "HOST")]
    pub host: Option<String>,

    /// The path that says the application is ready; of several lines (verify's list), the
    /// first. Docker, behind the proxy: a new container must answer it (any answer of its
    /// own, not a gateway error) before it takes traffic; default /. Kubernetes: the
    /// readiness, liveness and startup probes' path; default /health.
    #[arg(long = "check", env = "SLIPWAY_CHECK", value_name = "PATH")]
    pub check: Option<String>,
}

impl AppFlags {
    /// The first path of `--check` (verify's --check lists one per line and the chain
    /// shares the variable).
    pub fn first_check(&self) -> Option<&str> {
        self.check.as_deref()?.lines().map(str::trim).find(|line| !line.is_empty())
    }
}

/// Recording the run as a GitHub deployment.
#[derive(Debug, Clone, clap::Args)]
pub struct GithubFlags {
    /// Record a GitHub deployment and its statuses for GITHUB_SHA (needs GITHUB_TOKEN).
    #[arg(long, env = "SLIPWAY_GITHUB_DEPLOYMENT")]
    pub github_deployment: bool,

    /// The GitHub environment the deployment is recorded in.
    #[arg(long, env = "SLIPWAY_ENVIRONMENT_NAME", value_name = "NAME", default_value = "production")]
    pub environment_name: String,
}
