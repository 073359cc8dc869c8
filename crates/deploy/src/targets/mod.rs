//! The deploy targets, one module each behind [`crate::Target`]. Adding a target is a
//! module, a [`TargetKind`] variant, and its arm in [`TargetKind::deploy`]. The cloud
//! targets are cargo features (`aws`, `kubernetes`); a build without them knows their
//! names and refuses them ([`TargetKind::missing_feature`]).

#[cfg(feature = "aws")]
pub mod app_runner;
#[cfg(feature = "aws")]
mod aws;
pub mod docker;
#[cfg(feature = "aws")]
pub mod ecs;
#[cfg(feature = "aws")]
pub mod elastic_beanstalk;
#[cfg(feature = "kubernetes")]
pub mod kubernetes;

use crate::args::DeployArgs;
use crate::execute::Deployment;
use crate::rollout::Strategy;
use crate::target::{DeployError, DeployOutcome, Target};

/// Where to deploy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TargetKind {
    /// A Docker Engine: the local one, or DOCKER_HOST (an EC2 instance running Docker).
    Docker,
    /// AWS Elastic Beanstalk, Docker platform.
    ElasticBeanstalk,
    /// A Kubernetes cluster: a Deployment, its Service and companions, server-side applied.
    Kubernetes,
    /// Amazon ECS: a new task definition revision for an existing service, rolled out by ECS.
    Ecs,
    /// Amazon ECS Express Mode: a service ECS builds and runs from an image (created the first time).
    EcsExpress,
    /// AWS App Runner, an existing service (App Runner takes no new customers: use ecs-express).
    AppRunner,
}

impl TargetKind {
    /// The `--target` value (each target's [`Target::NAME`], known to a build without it).
    pub fn name(self) -> &'static str {
        match self {
            Self::Docker => "docker",
            Self::ElasticBeanstalk => "elastic-beanstalk",
            Self::Kubernetes => "kubernetes",
            Self::Ecs => "ecs",
            Self::EcsExpress => "ecs-express",
            Self::AppRunner => "app-runner",
        }
    }

    /// The strategy a run uses without `--strategy` (each target's
    /// [`Target::DEFAULT_STRATEGY`]).
    pub fn default_strategy(self) -> Strategy {
        match self {
            Self::ElasticBeanstalk => Strategy::Direct,
            Self::Docker | Self::Kubernetes | Self::Ecs | Self::EcsExpress | Self::AppRunner => Strategy::Rolling,
        }
    }

    /// The cargo feature this build lacks for the target, if it lacks one.
    pub fn missing_feature(self) -> Option<&'static str> {
        let (feature, built) = match self {
            Self::Docker => return None,
            Self::ElasticBeanstalk | Self::Ecs | Self::EcsExpress | Self::AppRunner => ("aws", cfg!(feature = "aws")),
            Self::Kubernetes => ("kubernetes", cfg!(feature = "kubernetes")),
        };
        (!built).then_some(feature)
    }

    /// Refuses (exit 2, the message) a target this build was made without.
    pub fn check_built(self) -> Result<(), String> {
        match self.missing_feature() {
            Some(feature) => Err(not_built(&format!("the {} target", self.name()), feature)),
            None => Ok(()),
        }
    }

    /// Builds the target from its own flags (bad ones refused) and runs the deployment on it.
    pub async fn deploy(self, args: &DeployArgs, deployment: &Deployment<'_>) -> Result<DeployOutcome, DeployError> {
        match self {
            Self::Docker => {
                docker::DockerHost::check(deployment.request)?;
                let target = docker::DockerHost::from_flags(&args.app, &args.docker, deployment.request)?;
                deployment.run(&target).await
            }
            #[cfg(feature = "aws")]
            Self::ElasticBeanstalk => {
                elastic_beanstalk::ElasticBeanstalk::check(deployment.request)?;
                let target = elastic_beanstalk::ElasticBeanstalk::from_flags(
                    &args.elastic_beanstalk,
                    args.app.first_check(),
                    deployment.request,
                    deployment.env,
                )
                .await?;
                deployment.run(&target).await
            }
            #[cfg(feature = "kubernetes")]
            Self::Kubernetes => {
                kubernetes::Kubernetes::check(deployment.request)?;
                let target = kubernetes::Kubernetes::from_flags(
                    &args.app,
                    &args.kubernetes,
                    deployment.request,
                    deployment.env,
                    deployment.console,
                )
                .await?;
                deployment.run(&target).await
            }
            #[cfg(feature = "aws")]
            Self::Ecs => {
                ecs::Ecs::check(deployment.request)?;
                let target = ecs::Ecs::from_flags(
                    &args.ecs,
                    args.strategy.is_some(),
                    args.app.first_check(),
                    deployment.request,
                )
                .await?;
                deployment.run(&target).await
            }
            #[cfg(feature = "aws")]
            Self::EcsExpress => {
                ecs::express::EcsExpress::check(deployment.request)?;
                let target =
                    ecs::express::EcsExpress::from_flags(&args.ecs, args.app.first_check(), deployment.request).await?;
                deployment.run(&target).await
            }
            #[cfg(feature = "aws")]
            Self::AppRunner => {
                app_runner::AppRunner::check(deployment.request)?;
                let target = app_runner::AppRunner::from_flags(args.ecs.service.as_deref()).await?;
                deployment.run(&target).await
            }
            // A target this build was made without (plan() refused it already).
            #[allow(unreachable_patterns)]
            other => Err(DeployError::Usage(other.check_built().err().unwrap_or_default())),
        }
    }
}

/// What a build without a cargo feature says of `what` it lacks: one line, exit 2.
pub fn not_built(what: &str, feature: &str) -> String {
    format!(
        "{what} is not in this build of slipway (built with --no-default-features, without the `{feature}` feature, as scripts/pipeline.sh builds for a Docker host); build it with its default features: cargo build --workspace"
    )
}

/// A URL flag's value: an http(s) base URL with a host, without its trailing slash
/// (Kubernetes' `--preview-url`, ECS's `--test-listener-url` and `--service-url`, Elastic
/// Beanstalk's `--environment-url` and `--idle-environment-url`).
#[cfg(any(feature = "aws", feature = "kubernetes"))]
pub(crate) fn base_url(flag: &str, text: &str) -> Result<String, String> {
    let bad = || format!("{flag} `{text}` is not an http:// or https:// base URL with a host");
    let uri: http::Uri = text.parse().map_err(|_| bad())?;
    match (uri.scheme_str(), uri.host()) {
        // No user info (a credential in a flag) and no query: an output carries this URL.
        (Some("http" | "https"), Some(host))
            if !host.is_empty()
                && uri.query().is_none()
                && !uri.authority().is_some_and(|a| a.as_str().contains('@')) =>
        {
            Ok(text.trim_end_matches('/').to_owned())
        }
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use clap::ValueEnum as _;

    use super::*;

    #[test]
    fn each_kind_names_its_target_and_its_default_strategy() {
        #[cfg(feature = "aws")]
        {
            assert_eq!(TargetKind::ElasticBeanstalk.name(), elastic_beanstalk::ElasticBeanstalk::NAME);
            assert_eq!(TargetKind::Ecs.name(), ecs::Ecs::NAME);
            assert_eq!(TargetKind::EcsExpress.name(), ecs::express::EcsExpress::NAME);
            assert_eq!(TargetKind::AppRunner.name(), app_runner::AppRunner::NAME);
            let strategy = TargetKind::default_strategy;
            assert_eq!(strategy(TargetKind::ElasticBeanstalk), elastic_beanstalk::ElasticBeanstalk::DEFAULT_STRATEGY);
            assert_eq!(strategy(TargetKind::Ecs), ecs::Ecs::DEFAULT_STRATEGY);
            assert_eq!(strategy(TargetKind::EcsExpress), ecs::express::EcsExpress::DEFAULT_STRATEGY);
            assert_eq!(strategy(TargetKind::AppRunner), app_runner::AppRunner::DEFAULT_STRATEGY);
        }
        #[cfg(feature = "kubernetes")]
        {
            assert_eq!(TargetKind::Kubernetes.name(), kubernetes::Kubernetes::NAME);
            assert_eq!(TargetKind::Kubernetes.default_strategy(), kubernetes::Kubernetes::DEFAULT_STRATEGY);
        }
        assert_eq!(TargetKind::Docker.name(), docker::DockerHost::NAME);
        assert_eq!(TargetKind::Docker.default_strategy(), docker::DockerHost::DEFAULT_STRATEGY);
        // The name is the --target value clap parses.
        for kind in TargetKind::value_variants() {
            assert_eq!(TargetKind::from_str(kind.name(), false), Ok(*kind));
        }
    }

    #[test]
    fn a_build_with_every_feature_has_every_target_and_says_what_a_lighter_one_lacks() {
        for kind in TargetKind::value_variants() {
            let built = kind.missing_feature().is_none();
            assert_eq!(
                built,
                cfg!(all(feature = "aws", feature = "kubernetes")) || *kind == TargetKind::Docker,
                "{kind:?}"
            );
            assert_eq!(kind.check_built().is_ok(), built);
        }
        let message = not_built("the ecs target", "aws");
        assert!(message.starts_with("the ecs target is not in this build of slipway"), "{message}");
        assert!(message.contains("`aws` feature") && message.contains("cargo build --workspace"), "{message}");
    }
}
