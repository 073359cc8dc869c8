//! The chain as data: every step's output keys, and which later step's input consumes
//! which output (see CONTRACT.md, "The chain").
//!
//! Output keys are unique across the chain, so that one dotenv report can hold every
//! step's outputs; an input that consumes an output has the output's dotenv key as its
//! environment twin, so steps chain by themselves in a GitLab pipeline or a shell.

/// One output of a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputKey {
    /// The kebab-case key (`$GITHUB_OUTPUT`, standard output, an action's output).
    pub key: &'static str,
    /// Its name in a dotenv report: `SLIPWAY_UPPER_SNAKE` (see [`crate::outputs::dotenv_key`]).
    pub dotenv: &'static str,
    /// What it holds, in a line (an action.yml's output description).
    pub description: &'static str,
}

impl OutputKey {
    const fn new(key: &'static str, dotenv: &'static str, description: &'static str) -> Self {
        Self { key, dotenv, description }
    }
}

impl AsRef<str> for OutputKey {
    fn as_ref(&self) -> &str {
        self.key
    }
}

/// A step of the chain and the outputs it publishes, in the order it sets them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepOutputs {
    pub step: &'static str,
    pub outputs: &'static [OutputKey],
}

/// An output that a later step takes as an input: `flag` of step `to` has the output's
/// dotenv key as its environment twin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    pub from: &'static str,
    pub output: OutputKey,
    pub to: &'static str,
    /// The consuming flag's long name, without `--`.
    pub flag: &'static str,
}

pub mod build_jar {
    use super::OutputKey;

    pub const STEP: &str = "build-jar";
    pub const ARTIFACT: OutputKey = OutputKey::new(
        "artifact",
        "SLIPWAY_ARTIFACT",
        "The built artifact: a fat JAR, a dist directory, a WAR or a native executable",
    );
    pub const KIND: OutputKey =
        OutputKey::new("kind", "SLIPWAY_KIND", "The artifact's kind: fat-jar, dist, war or native");
    pub const MAIN_CLASS: OutputKey = OutputKey::new("main-class", "SLIPWAY_MAIN_CLASS", "The artifact's main class");
    pub const JAVA_RELEASE: OutputKey =
        OutputKey::new("java-release", "SLIPWAY_JAVA_RELEASE", "The Java release the artifact's classes need");
    pub const VERSION: OutputKey =
        OutputKey::new("version", "SLIPWAY_VERSION", "The project's version, from its build file");
    pub const SHA256: OutputKey = OutputKey::new("sha256", "SLIPWAY_SHA256", "The artifact's SHA-256");
    pub const SIZE_BYTES: OutputKey =
        OutputKey::new("size-bytes", "SLIPWAY_SIZE_BYTES", "The artifact's size in bytes");
    pub const TOOL: OutputKey =
        OutputKey::new("tool", "SLIPWAY_TOOL", "The build tool that ran: maven or gradle (none with --jar)");
    pub const LINKAGE: OutputKey = OutputKey::new(
        "linkage",
        "SLIPWAY_LINKAGE",
        "A native executable's linkage: static or dynamic (empty for a JVM artifact)",
    );
    pub const NEEDS: OutputKey = OutputKey::new(
        "needs",
        "SLIPWAY_NEEDS",
        "The shared libraries a dynamic native executable needs (DT_NEEDED), comma-separated",
    );
    pub const ALL: &[OutputKey] =
        &[ARTIFACT, KIND, MAIN_CLASS, JAVA_RELEASE, VERSION, SHA256, SIZE_BYTES, TOOL, LINKAGE, NEEDS];
}

pub mod containerize {
    use super::OutputKey;

    pub const STEP: &str = "containerize";
    pub const LAYOUT: OutputKey = OutputKey::new("layout", "SLIPWAY_LAYOUT", "The OCI image layout directory written");
    pub const IMAGE_DIGEST: OutputKey =
        OutputKey::new("image-digest", "SLIPWAY_IMAGE_DIGEST", "The image's digest (the index for several platforms)");
    pub const CONFIG_DIGEST: OutputKey = OutputKey::new(
        "config-digest",
        "SLIPWAY_CONFIG_DIGEST",
        "The image configs' digests, one per platform, comma-separated",
    );
    pub const PLATFORMS: OutputKey =
        OutputKey::new("platforms", "SLIPWAY_PLATFORMS", "The platforms built, comma-separated");
    pub const BASE_DIGEST: OutputKey = OutputKey::new("base-digest", "SLIPWAY_BASE_DIGEST", "The base image's digest");
    pub const TARBALL: OutputKey =
        OutputKey::new("tarball", "SLIPWAY_TARBALL", "The docker-loadable tarball, when --tarball was given");
    pub const APP_LAYERS: OutputKey =
        OutputKey::new("app-layers", "SLIPWAY_APP_LAYERS", "The layers added on the base: the app's, then one per add");
    pub const SBOM: OutputKey = OutputKey::new(
        "sbom",
        "SLIPWAY_SBOM",
        "The CycloneDX 1.6 JSON SBOM written into the layout (empty without an artifact)",
    );
    pub const ALL: &[OutputKey] =
        &[LAYOUT, IMAGE_DIGEST, CONFIG_DIGEST, PLATFORMS, BASE_DIGEST, TARBALL, APP_LAYERS, SBOM];
}

pub mod push_image {
    use super::OutputKey;

    pub const STEP: &str = "push-image";
    pub const IMAGE_REF: OutputKey =
        OutputKey::new("image-ref", "SLIPWAY_IMAGE_REF", "The pushed image, pinned by digest (repository@sha256:...)");
    pub const DIGEST: OutputKey = OutputKey::new("digest", "SLIPWAY_DIGEST", "The pushed manifest's digest");
    pub const TAGS: OutputKey = OutputKey::new("tags", "SLIPWAY_TAGS", "The tags pushed, comma-separated");
    pub const BYTES_UPLOADED: OutputKey = OutputKey::new("bytes-uploaded", "SLIPWAY_BYTES_UPLOADED", "Bytes uploaded");
    pub const BLOBS_UPLOADED: OutputKey = OutputKey::new("blobs-uploaded", "SLIPWAY_BLOBS_UPLOADED", "Blobs uploaded");
    pub const BLOBS_SKIPPED: OutputKey =
        OutputKey::new("blobs-skipped", "SLIPWAY_BLOBS_SKIPPED", "Blobs the registry already had");
    pub const BLOBS_MOUNTED: OutputKey =
        OutputKey::new("blobs-mounted", "SLIPWAY_BLOBS_MOUNTED", "Blobs mounted from another repository");
    pub const SBOM_REF: OutputKey = OutputKey::new(
        "sbom-ref",
        "SLIPWAY_SBOM_REF",
        "The SBOM pushed as an OCI referrer of the image (repository@sha256:...), empty without one",
    );
    pub const ALL: &[OutputKey] =
        &[IMAGE_REF, DIGEST, TAGS, BYTES_UPLOADED, BLOBS_UPLOADED, BLOBS_SKIPPED, BLOBS_MOUNTED, SBOM_REF];
}

pub mod deploy {
    use super::OutputKey;

    pub const STEP: &str = "deploy";
    pub const URL: OutputKey = OutputKey::new("url", "SLIPWAY_URL", "The URL the deployed service answers on");
    pub const VERSION_LABEL: OutputKey =
        OutputKey::new("version-label", "SLIPWAY_VERSION_LABEL", "The deployed version's label");
    pub const PREVIOUS_VERSION: OutputKey = OutputKey::new(
        "previous-version",
        "SLIPWAY_PREVIOUS_VERSION",
        "The version that served before this deployment (what a rollback returns to)",
    );
    pub const DEPLOYMENT_ID: OutputKey =
        OutputKey::new("deployment-id", "SLIPWAY_DEPLOYMENT_ID", "The deployment's id");
    /// The deployment's end state (published on a failure too).
    pub const STATUS: OutputKey = OutputKey::new("status", "SLIPWAY_STATUS", "The deployment's status");
    pub const HEALTH: OutputKey =
        OutputKey::new("health", "SLIPWAY_HEALTH", "The target's health after the deployment");
    /// A judged rollout's record, one line of JSON (published on a failure too).
    pub const TIMELINE: OutputKey = OutputKey::new(
        "timeline",
        "SLIPWAY_TIMELINE",
        "A rollout judged by analysis: its record as one line of JSON (target, strategy, status, bake, each window's weight and each gate's observed value against its threshold, the decision); empty otherwise",
    );
    pub const ALL: &[OutputKey] = &[URL, VERSION_LABEL, PREVIOUS_VERSION, DEPLOYMENT_ID, STATUS, HEALTH, TIMELINE];
}

pub mod verify {
    use super::OutputKey;

    pub const STEP: &str = "verify";
    /// `true`, or `false` on a failure (published then too).
    pub const HEALTHY: OutputKey =
        OutputKey::new("healthy", "SLIPWAY_HEALTHY", "true when the service passed every check");
    pub const ATTEMPTS: OutputKey = OutputKey::new("attempts", "SLIPWAY_ATTEMPTS", "Attempts made");
    /// The last HTTP status: `http-status`, as deploy's `status` is the deployment's end state.
    pub const HTTP_STATUS: OutputKey =
        OutputKey::new("http-status", "SLIPWAY_HTTP_STATUS", "The last HTTP status seen");
    pub const VERSION_SEEN: OutputKey =
        OutputKey::new("version-seen", "SLIPWAY_VERSION_SEEN", "The version the service served");
    pub const P50_MS: OutputKey = OutputKey::new("p50-ms", "SLIPWAY_P50_MS", "Median latency of the samples, ms");
    pub const P95_MS: OutputKey =
        OutputKey::new("p95-ms", "SLIPWAY_P95_MS", "95th percentile latency of the samples, ms");
    pub const P99_MS: OutputKey =
        OutputKey::new("p99-ms", "SLIPWAY_P99_MS", "99th percentile latency of the samples, ms");
    pub const TLS_DAYS_LEFT: OutputKey =
        OutputKey::new("tls-days-left", "SLIPWAY_TLS_DAYS_LEFT", "Days until the TLS certificate expires");
    pub const ALL: &[OutputKey] =
        &[HEALTHY, ATTEMPTS, HTTP_STATUS, VERSION_SEEN, P50_MS, P95_MS, P99_MS, TLS_DAYS_LEFT];
}

/// The steps in chain order, each with its outputs.
pub const CHAIN: [StepOutputs; 5] = [
    StepOutputs { step: build_jar::STEP, outputs: build_jar::ALL },
    StepOutputs { step: containerize::STEP, outputs: containerize::ALL },
    StepOutputs { step: push_image::STEP, outputs: push_image::ALL },
    StepOutputs { step: deploy::STEP, outputs: deploy::ALL },
    StepOutputs { step: verify::STEP, outputs: verify::ALL },
];

/// Every output a later step consumes as an input (its flag's environment twin is the
/// output's dotenv key). No other output's dotenv key is a later step's environment twin.
pub const LINKS: [Link; 7] = [
    Link { from: build_jar::STEP, output: build_jar::ARTIFACT, to: containerize::STEP, flag: "artifact" },
    Link { from: build_jar::STEP, output: build_jar::KIND, to: containerize::STEP, flag: "kind" },
    // The default version label leads with the build's version.
    Link { from: build_jar::STEP, output: build_jar::VERSION, to: deploy::STEP, flag: "app-version" },
    Link { from: containerize::STEP, output: containerize::LAYOUT, to: push_image::STEP, flag: "layout" },
    Link { from: containerize::STEP, output: containerize::SBOM, to: push_image::STEP, flag: "sbom" },
    Link { from: push_image::STEP, output: push_image::IMAGE_REF, to: deploy::STEP, flag: "image" },
    Link { from: deploy::STEP, output: deploy::URL, to: verify::STEP, flag: "url" },
];

/// The outputs of `step`, or `None` for a step not in the chain.
pub fn outputs_of(step: &str) -> Option<&'static [OutputKey]> {
    CHAIN.iter().find(|entry| entry.step == step).map(|entry| entry.outputs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outputs::dotenv_key;

    fn every_key() -> impl Iterator<Item = (&'static str, &'static OutputKey)> {
        CHAIN.iter().flat_map(|entry| entry.outputs.iter().map(move |key| (entry.step, key)))
    }

    #[test]
    fn each_dotenv_name_is_its_key_in_upper_snake() {
        for (step, key) in every_key() {
            assert_eq!(key.dotenv, dotenv_key(key.key), "{step}'s {}", key.key);
        }
    }

    #[test]
    fn keys_are_unique_across_the_chain() {
        let mut seen: Vec<(&str, &str)> = Vec::new();
        for (step, key) in every_key() {
            if let Some((other, _)) = seen.iter().find(|(_, k)| *k == key.key) {
                panic!("output `{}` of {step} is also {other}'s: one dotenv report cannot hold both", key.key);
            }
            seen.push((step, key.key));
        }
        assert_eq!(seen.len(), 41);
    }

    #[test]
    fn links_go_forward_from_a_step_that_has_the_output() {
        let position = |step: &str| CHAIN.iter().position(|entry| entry.step == step).unwrap();
        for link in LINKS {
            assert!(outputs_of(link.from).unwrap().contains(&link.output), "{link:?}");
            assert!(position(link.from) < position(link.to), "{link:?} goes backwards");
        }
    }
}
