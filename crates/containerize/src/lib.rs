//! containerize: turns a JVM artifact or a native executable into an OCI image on top of a
//! base image, with no Docker daemon and no Dockerfile: reproducible, layered, multi-platform.
//!
//! Flow: [`ContainerizeArgs`] (`args`) -> [`plan::plan`] (refuses bad input) -> `execute`:
//! [`base::resolve`] (manifests and configs only) -> [`layers::write_layer`] -> [`image`]
//! (configs, manifests, index) -> [`layout::StagedLayout`] (moved into place when
//! complete) -> `report`: outputs and summary.

mod args;
pub mod base;
mod execute;
pub mod image;
pub mod layers;
pub mod layout;
pub mod native;
pub mod plan;
mod report;
pub mod sbom;

use slipway_contract::runtime::{Threads, block_on};
use slipway_contract::{Console, StepError, StepReport};

pub use crate::args::ContainerizeArgs;

slipway_contract::step_cli! {
    #[command(
        name = "containerize",
        version,
        about = "Turns a JVM artifact (fat JAR, dist or WAR) or a native executable into a reproducible, layered OCI image on a base image from a registry, without a Docker daemon.",
        after_help = "Outputs (to $GITHUB_OUTPUT, the dotenv report and standard output): layout, image-digest, config-digest, platforms, base-digest, tarball, app-layers, sbom (a CycloneDX 1.6 JSON SBOM of the app's packages and the base, in the layout).\nExit codes: 0 done, 1 a registry or disk failure, 2 bad input (an unknown base, a platform the base lacks, a Java release newer than the base's, a base that lacks a library a dynamic native executable needs)."
    )]
    step: "containerize",
    args: ContainerizeArgs,
    run: run,
}

/// Runs containerize.
pub fn run(args: &ContainerizeArgs, console: &Console) -> Result<StepReport, StepError> {
    let env = |name: &str| std::env::var(name).ok();
    let plan = plan::plan(args, &env)?;
    block_on(Threads::Current, execute::execute(&plan, console))?
}
