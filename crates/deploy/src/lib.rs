//! deploy: rolls a pushed image out to a target with a strategy, waits until it is
//! really live, and never reports success for a version that is not the one running.
//!
//! Flow: [`DeployArgs`] -> [`plan`] (the image reference, the phase, the version label,
//! the target's own settings; bad input refused) -> the target's [`Target::run`]
//! (wrapped in a GitHub deployment when asked) -> outputs and summary.

pub mod args;
pub mod github;
pub mod target;
pub mod targets;

use slipway_contract::{Console, Outputs, StepError, StepReport, Summary};
use slipway_registry::ImageReference;

pub use crate::args::{DeployArgs, TargetKind};
use crate::github::{GithubDeployment, GithubSettings};
pub use crate::target::{DeployError, DeployOutcome, DeployRequest, Phase, Strategy, Target};
use crate::targets::docker::DockerHost;
use crate::targets::elastic_beanstalk::ElasticBeanstalk;

/// The common part of the plan: what to deploy and which phase.
pub fn plan(
    args: &DeployArgs,
    env: &dyn Fn(&str) -> Option<String>,
    console: &Console,
) -> Result<DeployRequest, StepError> {
    let phase = match (args.promote, args.reject, args.rollback) {
        (true, _, _) => Phase::Promote,
        (_, true, _) => Phase::Reject,
        (_, _, true) => Phase::Rollback,
        _ => Phase::Deploy,
    };
    if matches!(phase, Phase::Promote | Phase::Reject) && !args.strategy.is_phased() {
        return Err(StepError::usage(format!(
            "--{} finishes a canary or blue-green deployment; say which with --strategy canary or --strategy blue-green",
            phase.as_str()
        )));
    }
    let image = match args.image.as_deref().map(str::trim).filter(|i| !i.is_empty()) {
        Some(text) => {
            let reference = ImageReference::parse(text).map_err(|e| StepError::usage(format!("--image {e}")))?;
            if !text.contains('/')
                || !text.split('/').next().is_some_and(|host| host.contains(['.', ':']) || host == "localhost")
            {
                return Err(StepError::usage(format!(
                    "--image `{text}` names no registry; give the full reference push-image printed (registry/repository@sha256:...)"
                )));
            }
            if reference.digest().is_none() {
                if args.require_digest {
                    return Err(StepError::usage(format!(
                        "--image `{text}` is not pinned by digest and --require-digest is set; deploy push-image's image-ref"
                    )));
                }
                console.warning(&format!(
                    "--image `{text}` is a tag, which can move: the version deployed may not be the one built; deploy push-image's image-ref (repository@sha256:...)"
                ));
            }
            Some(reference)
        }
        None if phase == Phase::Deploy => {
            return Err(StepError::usage("--image is required to deploy (push-image's image-ref output)"));
        }
        None => None,
    };
    let version_label = match args.version_label.as_deref().map(str::trim).filter(|l| !l.is_empty()) {
        Some(label) => label.to_owned(),
        None => image.as_ref().map(|reference| default_version_label(reference, env)).unwrap_or_default(),
    };
    Ok(DeployRequest {
        image: image.map(|r| r.to_string()).unwrap_or_default(),
        strategy: args.strategy,
        phase,
        version_label,
        port: args.port,
        timeout: args.timeout,
        dry_run: args.dry_run,
    })
}

/// The git tag or short SHA, then the digest's first 12 hex: `v1.2.0-3f2a9c1b7d4e`.
pub fn default_version_label(image: &ImageReference, env: &dyn Fn(&str) -> Option<String>) -> String {
    let known = |name: &str| env(name).filter(|v| !v.is_empty());
    let prefix = known("GITHUB_REF")
        .and_then(|r| r.strip_prefix("refs/tags/").map(str::to_owned))
        .or_else(|| known("CI_COMMIT_TAG"))
        .or_else(|| known("GITHUB_SHA").or_else(|| known("CI_COMMIT_SHA")).map(|sha| sha.chars().take(7).collect()))
        .or_else(|| image.tag().filter(|t| *t != "latest").map(str::to_owned));
    let digest: String =
        image.digest().map(|d| d.trim_start_matches("sha256:").chars().take(12).collect()).unwrap_or_default();
    match (prefix, digest.is_empty()) {
        (Some(prefix), false) => format!("{prefix}-{digest}"),
        (Some(prefix), true) => prefix,
        (None, false) => digest,
        (None, true) => "unversioned".to_owned(),
    }
}

slipway_contract::step_cli! {
    #[command(
        name = "deploy",
        version,
        about = "Rolls a pushed image out to a target (a Docker host, AWS Elastic Beanstalk) with a strategy, waits until it is really live, and rolls back.",
        after_help = "Credentials: the registry's as push-image resolves them (Docker target); AWS's default chain (environment, profile, web identity for GitHub OIDC) for Elastic Beanstalk; GITHUB_TOKEN for --github-deployment.\nOutputs (to $GITHUB_OUTPUT, the dotenv report and standard output): url, version-label, previous-version, deployment-id, status, health.\nExit codes: 0 live and healthy, 1 the deployment failed or was rolled back, 2 bad input (an unknown target or strategy, a strategy the target cannot do, a missing environment, no credentials)."
    )]
    step: "deploy",
    args: DeployArgs,
    run: run,
}

/// Runs deploy.
pub fn run(args: &DeployArgs, console: &Console) -> Result<StepReport, StepError> {
    let env = |name: &str| std::env::var(name).ok();
    let request = plan(args, &env, console)?;
    let github = if args.github_deployment && !request.dry_run {
        Some(GithubSettings::from_env(&env, console).map_err(to_step_error)?)
    } else {
        None
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|error| StepError::failed(format!("cannot start the async runtime: {error}")))?;
    runtime.block_on(async {
        match args.target {
            TargetKind::Docker => {
                let target = DockerHost::from_args(args, &request).map_err(to_step_error)?;
                deploy_with(&target, &request, github.as_ref(), &args.environment_name, console).await
            }
            TargetKind::ElasticBeanstalk => {
                let target = ElasticBeanstalk::from_args(args, &request, &env).await.map_err(to_step_error)?;
                deploy_with(&target, &request, github.as_ref(), &args.environment_name, console).await
            }
        }
    })
}

fn to_step_error(error: DeployError) -> StepError {
    match error {
        DeployError::Usage(message) => StepError::usage(message),
        DeployError::Failed { message, status, detail } => {
            let mut outputs = Outputs::new();
            outputs.set("status", status);
            StepError::failed(message).with_detail(detail).with_outputs(outputs)
        }
    }
}

async fn deploy_with<T: Target>(
    target: &T,
    request: &DeployRequest,
    github: Option<&GithubSettings>,
    environment_name: &str,
    console: &Console,
) -> Result<StepReport, StepError> {
    target.check(request).map_err(to_step_error)?;
    console.info(&format!(
        "{} {} to {} with strategy {}{}",
        request.phase.as_str(),
        if request.image.is_empty() { "(what is there)" } else { &request.image },
        target.name(),
        request.strategy.as_str(),
        if request.dry_run { " (dry run)" } else { "" }
    ));
    let recorded = match github {
        Some(settings) if request.phase != Phase::Reject => {
            Some(GithubDeployment::start(settings, environment_name, request, console).await.map_err(to_step_error)?)
        }
        _ => None,
    };
    let result = target.run(request, console).await;
    if let Some(deployment) = &recorded {
        deployment.finish(&result, console).await;
    }
    let outcome = result.map_err(to_step_error)?;
    Ok(report(target.name(), request, &outcome))
}

fn report(target: &str, request: &DeployRequest, outcome: &DeployOutcome) -> StepReport {
    let mut outputs = Outputs::new();
    outputs
        .set("url", &outcome.url)
        .set("version-label", &outcome.version_label)
        .set("previous-version", &outcome.previous_version)
        .set("deployment-id", &outcome.deployment_id)
        .set("status", &outcome.status)
        .set("health", &outcome.health);
    let title = if request.dry_run { format!("deploy (dry run) to {target}") } else { format!("deploy to {target}") };
    let mut summary = Summary::new(&title);
    summary.facts(&[
        ("phase", request.phase.as_str().to_owned()),
        ("strategy", request.strategy.as_str().to_owned()),
        ("image", request.image.clone()),
        ("version", outcome.version_label.clone()),
        ("previous version", outcome.previous_version.clone()),
        ("status", outcome.status.clone()),
        ("health", outcome.health.clone()),
        ("url", outcome.url.clone()),
    ]);
    StepReport { outputs, summary }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_labels_from_tag_sha_or_digest() {
        let digest = format!("sha256:{}", "3f2a9c1b7d4e".repeat(5) + "abcd");
        let image = ImageReference::parse(&format!("ghcr.io/acme/app@{digest}")).unwrap();
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
        };
        assert_eq!(default_version_label(&image, &env(&[("GITHUB_REF", "refs/tags/v1.2.0")])), "v1.2.0-3f2a9c1b7d4e");
        assert_eq!(default_version_label(&image, &env(&[("GITHUB_SHA", "abcdef0123")])), "abcdef0-3f2a9c1b7d4e");
        assert_eq!(default_version_label(&image, &env(&[])), "3f2a9c1b7d4e");
    }
}
