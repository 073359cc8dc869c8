//! push-image's flags.

use std::path::PathBuf;
use std::time::Duration;

/// push-image's own flags (the contract's output flags are added by the binary).
#[derive(Debug, Clone, clap::Args)]
pub struct PushImageArgs {
    /// The OCI image layout to push (containerize's `layout` output).
    #[arg(long, env = "SLIPWAY_LAYOUT", value_name = "DIR")]
    pub layout: PathBuf,

    /// The repository to push to: registry/name (ghcr.io/acme/app, 1234.dkr.ecr.eu-west-1.amazonaws.com/app).
    #[arg(long, env = "SLIPWAY_IMAGE", value_name = "REPOSITORY")]
    pub image: String,

    /// A tag to push; repeatable, one per line from the environment.
    /// Default: sha-<first 7 of GITHUB_SHA or CI_COMMIT_SHA>.
    #[arg(long, env = "SLIPWAY_TAG", value_name = "TAG", value_delimiter = '\n')]
    pub tag: Vec<String>,

    /// Also derive tags from the git ref: vX.Y.Z gives X.Y.Z, X.Y and X; a branch its name.
    #[arg(long, env = "SLIPWAY_TAGS_FROM_REF")]
    pub tags_from_ref: bool,

    /// How many blobs to transfer at once.
    #[arg(long, env = "SLIPWAY_CONCURRENCY", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=32))]
    pub concurrency: u16,

    /// The longest the whole push may take, retries included (e.g. 90s, 10m).
    #[arg(long, env = "SLIPWAY_TIMEOUT", default_value = "10m", value_parser = slipway_contract::cli::parse_positive_duration)]
    pub timeout: Duration,

    /// The user to log in as; the password comes from REGISTRY_PASSWORD or --password-stdin.
    #[arg(long, env = "SLIPWAY_USERNAME", value_name = "USER")]
    pub username: Option<String>,

    /// Read the password for --username from standard input.
    #[arg(long, env = "SLIPWAY_PASSWORD_STDIN")]
    pub password_stdin: bool,

    /// A registry (host[:port]) reached over plain HTTP; loopback registries always are.
    #[arg(long, env = "SLIPWAY_INSECURE_REGISTRY", value_name = "HOST", value_delimiter = '\n')]
    pub insecure_registry: Vec<String>,

    /// Authenticate, check which blobs exist, print the plan; push nothing.
    #[arg(long, env = "SLIPWAY_DRY_RUN")]
    pub dry_run: bool,

    /// A CycloneDX JSON SBOM to attach to the pushed image as an OCI 1.1 referrer (after the
    /// image itself): through the registry's referrers API, or the `sha256-<digest>` tag
    /// fallback where it has none. Default: the sbom.cdx.json containerize wrote in --layout;
    /// `none` attaches no SBOM (for a registry that refuses OCI 1.1 artifacts).
    #[arg(long, env = "SLIPWAY_SBOM", value_name = "FILE")]
    pub sbom: Option<PathBuf>,
}
