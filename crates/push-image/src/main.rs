use std::process::ExitCode;

use clap::Parser;
use slipway_contract::CommonArgs;
use slipway_contract::step::StepCli;
use slipway_push_image::PushImageArgs;

/// Pushes an OCI image layout to any registry.
#[derive(Debug, Parser)]
#[command(
    name = "push-image",
    version,
    about = "Pushes the OCI image layout containerize wrote to any OCI registry (ECR, GHCR, Docker Hub, self-hosted): blobs first, tags last.",
    after_help = "Credentials, in order: --username with REGISTRY_PASSWORD or --password-stdin; docker's config.json and credential helpers (DOCKER_CONFIG); GITHUB_TOKEN for ghcr.io; anonymous.\nOutputs (to $GITHUB_OUTPUT, the dotenv report and standard output): image-ref, digest, tags, bytes-uploaded, blobs-uploaded, blobs-skipped, blobs-mounted.\nExit codes: 0 pushed, 1 the push failed (nothing tagged), 2 bad input (a malformed repository or tag, a missing or corrupt layout, rejected credentials)."
)]
struct Cli {
    #[command(flatten)]
    args: PushImageArgs,
    #[command(flatten)]
    common: CommonArgs,
}

impl StepCli for Cli {
    fn common(&self) -> &CommonArgs {
        &self.common
    }
}

fn main() -> ExitCode {
    slipway_contract::run_step("push-image", |cli: Cli, console| slipway_push_image::run(&cli.args, console))
}
