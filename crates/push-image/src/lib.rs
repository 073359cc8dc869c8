//! push-image: pushes the OCI layout containerize wrote to any registry.
//!
//! Flow: [`PushImageArgs`] (`args`) -> [`plan`] (the layout read and checked, tags and
//! credentials decided; bad input refused) -> `execute`: blobs (HEAD, mount, upload,
//! several at once, retried), then child manifests by digest, then the top manifest,
//! then the tags, so a tag never points at something incomplete -> `report`: outputs and
//! summary.

mod args;
mod execute;
pub mod layout;
mod plan;
mod report;
pub mod tags;

use slipway_contract::runtime::{Threads, block_on};
use slipway_contract::{Console, StepError, StepReport};

pub use crate::args::PushImageArgs;
pub use crate::plan::{Plan, plan};

slipway_contract::step_cli! {
    #[command(
        name = "push-image",
        version,
        about = "Pushes the OCI image layout containerize wrote to any OCI registry (ECR, GHCR, Docker Hub, self-hosted): blobs first, tags last.",
        after_help = "Credentials, in order: --username with REGISTRY_PASSWORD or --password-stdin; docker's config.json and credential helpers (DOCKER_CONFIG); GITHUB_TOKEN for ghcr.io; anonymous.\nOutputs (to $GITHUB_OUTPUT, the dotenv report and standard output): image-ref, digest, tags, bytes-uploaded, blobs-uploaded, blobs-skipped, blobs-mounted, sbom-ref (the SBOM attached as an OCI referrer: sbom.cdx.json in the layout, or --sbom).\nExit codes: 0 pushed, 1 the push failed (nothing tagged), 2 bad input (a malformed repository or tag, a missing or corrupt layout, an --sbom that is not CycloneDX JSON, rejected credentials)."
    )]
    step: "push-image",
    args: PushImageArgs,
    run: run,
}

/// Runs push-image.
pub fn run(args: &PushImageArgs, console: &Console) -> Result<StepReport, StepError> {
    let env = |name: &str| std::env::var(name).ok();
    let plan = plan(args, &env, console)?;
    block_on(Threads::Workers(2), execute::execute(&plan, console))?
}
