use std::process::ExitCode;

use clap::Parser;
use slipway_contract::CommonArgs;
use slipway_contract::step::StepCli;
use slipway_deploy::DeployArgs;

/// Rolls a pushed image out to a target with a strategy, and rolls back.
#[derive(Debug, Parser)]
#[command(
    name = "deploy",
    version,
    about = "Rolls a pushed image out to a target (a Docker host, AWS Elastic Beanstalk) with a strategy, waits until it is really live, and rolls back.",
    after_help = "Credentials: the registry's as push-image resolves them (Docker target); AWS's default chain (environment, profile, web identity for GitHub OIDC) for Elastic Beanstalk; GITHUB_TOKEN for --github-deployment.\nOutputs (to $GITHUB_OUTPUT, the dotenv report and standard output): url, version-label, previous-version, deployment-id, status, health.\nExit codes: 0 live and healthy, 1 the deployment failed or was rolled back, 2 bad input (an unknown target or strategy, a strategy the target cannot do, a missing environment, no credentials)."
)]
struct Cli {
    #[command(flatten)]
    args: DeployArgs,
    #[command(flatten)]
    common: CommonArgs,
}

impl StepCli for Cli {
    fn common(&self) -> &CommonArgs {
        &self.common
    }
}

fn main() -> ExitCode {
    slipway_contract::run_step("deploy", |cli: Cli, console| slipway_deploy::run(&cli.args, console))
}
