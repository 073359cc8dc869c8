use std::process::ExitCode;

use clap::Parser;
use slipway_build_jar::BuildJarArgs;
use slipway_contract::CommonArgs;
use slipway_contract::step::StepCli;

/// Builds a runnable JVM artifact with the project's own Maven or Gradle and proves it runnable.
#[derive(Debug, Parser)]
#[command(
    name = "build-jar",
    version,
    about = "Builds a runnable JVM artifact (fat JAR, dist or WAR) with the project's own Maven or Gradle, finds it and proves it runnable.",
    after_help = "Outputs (to $GITHUB_OUTPUT, the dotenv report and standard output): artifact, kind, main-class, java-release, version, sha256, size-bytes, tool.\nExit codes: 0 done, 1 the build failed, 2 bad input or an artifact that cannot run."
)]
struct Cli {
    #[command(flatten)]
    args: BuildJarArgs,
    #[command(flatten)]
    common: CommonArgs,
}

impl StepCli for Cli {
    fn common(&self) -> &CommonArgs {
        &self.common
    }
}

fn main() -> ExitCode {
    slipway_contract::run_step("build-jar", |cli: Cli, console| slipway_build_jar::run(&cli.args, console))
}
