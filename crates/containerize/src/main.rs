use std::process::ExitCode;

use clap::Parser;
use slipway_containerize::ContainerizeArgs;
use slipway_contract::CommonArgs;
use slipway_contract::step::StepCli;

/// Turns a JVM artifact into a reproducible, layered OCI image, without a Docker daemon.
#[derive(Debug, Parser)]
#[command(
    name = "containerize",
    version,
    about = "Turns a JVM artifact (fat JAR, dist or WAR) into a reproducible, layered OCI image on a base image from a registry, without a Docker daemon.",
    after_help = "Outputs (to $GITHUB_OUTPUT, the dotenv report and standard output): layout, image-digest, config-digest, platforms, base-digest, tarball, app-layers.\nExit codes: 0 done, 1 a registry or disk failure, 2 bad input (an unknown base, a platform the base lacks, a Java release newer than the base's)."
)]
struct Cli {
    #[command(flatten)]
    args: ContainerizeArgs,
    #[command(flatten)]
    common: CommonArgs,
}

impl StepCli for Cli {
    fn common(&self) -> &CommonArgs {
        &self.common
    }
}

fn main() -> ExitCode {
    slipway_contract::run_step("containerize", |cli: Cli, console| slipway_containerize::run(&cli.args, console))
}
