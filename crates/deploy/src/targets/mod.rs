//! The deploy targets, one module each behind [`crate::Target`]. Adding a target is a
//! module, a [`TargetKind`] variant, and its arm in [`TargetKind::deploy`].

pub mod app_runner;
mod aws;
pub mod docker;
pub mod ecs;
pub mod elastic_beanstalk;
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
    /// The `--target` value.
    pub fn name(self) -> &'static str {
        match self {
            Self::Docker => docker::DockerHost::NAME,
            Self::ElasticBeanstalk => elastic_beanstalk::ElasticBeanstalk::NAME,
            Self::Kubernetes => kubernetes::Kubernetes::NAME,
            Self::Ecs => ecs::Ecs::NAME,
            Self::EcsExpress => ecs::express::EcsExpress::NAME,
            Self::AppRunner => app_runner::AppRunner::NAME,
        }
    }

    /// The strategy a run uses without `--strategy`.
    pub fn default_strategy(self) -> Strategy {
        match self {
            Self::Docker => docker::DockerHost::DEFAULT_STRATEGY,
            Self::ElasticBeanstalk => elastic_beanstalk::ElasticBeanstalk::DEFAULT_STRATEGY,
            Self::Kubernetes => kubernetes::Kubernetes::DEFAULT_STRATEGY,
            Self::Ecs => ecs::Ecs::DEFAULT_STRATEGY,
            Self::EcsExpress => ecs::express::EcsExpress::DEFAULT_STRATEGY,
            Self::AppRunner => app_runner::AppRunner::DEFAULT_STRATEGY,
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
            Self::EcsExpress => {
                ecs::express::EcsExpress::check(deployment.request)?;
                let target =
                    ecs::express::EcsExpress::from_flags(&args.ecs, args.app.first_check(), deployment.request).await?;
                deployment.run(&target).await
            }
            Self::AppRunner => {
                app_runner::AppRunner::check(deployment.request)?;
                let target = app_runner::AppRunner::from_flags(args.ecs.service.as_deref()).await?;
                deployment.run(&target).await
            }
        }
    }
}

/// A URL flag's value: an http(s) base URL with a host, without its trailing slash
/// (Kubernetes' `--preview-url`, ECS's `--test-listener-url` and `--service-url`, Elastic
/// Beanstalk's `--environment-url`).
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
