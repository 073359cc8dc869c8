//! deploy: rolls a pushed image out to a target with a strategy, waits until it is
//! really live, and never reports success for a version that is not the one running.
//!
//! Flow, one way: [`DeployArgs`] -> [`plan()`] (the [`DeployRequest`]: image, phase,
//! rollout, version label; bad input refused) -> the target's own flags checked and its
//! [`Target::plan`] read (printed) -> [`Target::apply`], within one deadline
//! ([`execute`]) -> outputs and summary ([`report()`]), whose `status` is a [`Status`].

pub mod analysis;
pub mod args;
pub mod execute;
pub mod github;
pub mod plan;
pub mod report;
pub mod rollout;
pub mod status;
pub mod target;
pub mod targets;

use slipway_contract::interrupt::Cancel;
use slipway_contract::keys::deploy as keys;
#[cfg(feature = "kubernetes")]
use slipway_contract::runtime::block_on;
use slipway_contract::runtime::{Threads, block_on_with};
use slipway_contract::{Console, Outputs, StepError, StepReport};

pub use crate::args::DeployArgs;
use crate::execute::Deployment;
#[cfg(feature = "kubernetes")]
use crate::execute::Env;
use crate::github::GithubSettings;
pub use crate::plan::{default_version_label, plan};
pub use crate::report::report;
pub use crate::rollout::{Amount, Rollout, Strategy};
pub use crate::status::Status;
pub use crate::target::{DeployError, DeployOutcome, DeployRequest, Phase, Plan, Target};
pub use crate::targets::TargetKind;

slipway_contract::step_cli! {
    #[command(
        name = "deploy",
        version,
        about = "Rolls a pushed image out to a target (a Docker host, AWS Elastic Beanstalk, Kubernetes, Amazon ECS, ECS Express Mode, App Runner) with a strategy, waits until it is really live, and rolls back.",
        after_help = "Credentials: the registry's as push-image resolves them (Docker target); AWS's default chain (environment, profile, web identity for GitHub OIDC) for Elastic Beanstalk, ECS, ECS Express and App Runner; the kubeconfig (--kubeconfig, KUBECONFIG, ~/.kube/config, with its exec plugins) or the in-cluster service account for Kubernetes; GITHUB_TOKEN for --github-deployment.\nOutputs (to $GITHUB_OUTPUT, the dotenv report and standard output): url, version-label, previous-version, deployment-id, status, health, timeline (a judged rollout's record, JSON).\nExit codes: 0 live and healthy, 1 the deployment failed, was rolled back or (a canary judged by analysis) aborted, 2 bad input (an unknown target or strategy, a strategy the target cannot do, a missing environment, no credentials)."
    )]
    step: "deploy",
    args: DeployArgs,
    run: run,
}

/// Runs deploy.
pub fn run(args: &DeployArgs, console: &Console) -> Result<StepReport, StepError> {
    let env = |name: &str| std::env::var(name).ok();
    let request = plan(args, &env, console)?;
    #[cfg(feature = "kubernetes")]
    if let Some(to) = args.kubernetes.render.as_deref() {
        return render(args, &request, to, &env, console);
    }
    let github = if args.github.github_deployment && !request.dry_run {
        Some(GithubSettings::from_env(&env, console).map_err(to_step_error)?)
    } else {
        None
    };
    let deployment = Deployment {
        request: &request,
        deadline: request.deadline(),
        github: github.as_ref(),
        environment_name: &args.github.environment_name,
        env: &env,
        console,
    };
    // A deployment is a sequence of requests and waits: the step's own thread is enough.
    // A cancelled job ends its waits and takes the failure path a deadline takes, so the
    // target is left as the outputs say (never dropped between two changes).
    let outcome = block_on_with(Threads::Current, Cancel::AtWaitPoints, args.target.deploy(args, &deployment))?
        .map_err(|error| {
            // A judged run's failure publishes its record beside its status.
            let record = match &error {
                DeployError::Failed { message, status, .. } => {
                    analysis::run_record(args.target.name(), &request, *status, Some(message))
                }
                DeployError::Usage(_) => None,
            };
            let mut failure = to_step_error(error);
            if let Some(record) = record {
                let mut outputs = failure.outputs.take().unwrap_or_default();
                outputs.set(keys::TIMELINE, record.to_string());
                failure = failure.with_outputs(outputs);
            }
            failure
        })?;
    Ok(report(args.target.name(), &request, &outcome))
}

/// `--render`: a declarative target's objects written out, nothing contacted or changed.
/// With `-` the YAML is standard output, so no outputs are printed after it.
#[cfg(feature = "kubernetes")]
fn render(
    args: &DeployArgs,
    request: &DeployRequest,
    to: &str,
    env: &Env<'_>,
    console: &Console,
) -> Result<StepReport, StepError> {
    if args.target != TargetKind::Kubernetes {
        return Err(StepError::usage(format!(
            "--render writes Kubernetes objects; the {} target has none (use --dry-run to see its plan)",
            args.target.name()
        )));
    }
    let (yaml, count) =
        block_on(Threads::Current, targets::kubernetes::render(&args.app, &args.kubernetes, request, env, console))?
            .map_err(to_step_error)?;
    let mut report = report(args.target.name(), request, &DeployOutcome::rendered(request));
    if to == "-" {
        use std::io::Write as _;
        std::io::stdout()
            .write_all(yaml.as_bytes())
            .map_err(|error| StepError::failed(format!("cannot write the objects to standard output: {error}")))?;
        report.outputs = Outputs::new();
    } else {
        std::fs::write(to, &yaml).map_err(|error| StepError::usage(format!("cannot write --render {to}: {error}")))?;
    }
    console.info(&format!("rendered {count} objects to {}", if to == "-" { "standard output" } else { to }));
    Ok(report)
}

/// The one place a target's error becomes the step's: its kind decides the exit code,
/// and a failure publishes where it left the target (`status`).
fn to_step_error(error: DeployError) -> StepError {
    match error {
        DeployError::Usage(message) => StepError::usage(message),
        DeployError::Failed { message, status, detail } => {
            let mut outputs = Outputs::new();
            outputs.set(keys::STATUS, status.as_str());
            StepError::failed(message).with_detail(detail).with_outputs(outputs)
        }
    }
}
