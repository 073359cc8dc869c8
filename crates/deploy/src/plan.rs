//! deploy's inputs -> the request every target reads: the image reference, the phase,
//! the rollout, the version label. Bad input is refused here, before any target is built.

use slipway_contract::{Console, StepError};
use slipway_registry::ImageReference;

use crate::args::DeployArgs;
use crate::execute::Env;
use crate::rollout::Rollout;
use crate::target::{DeployRequest, Phase};

/// The request, or the one line that says what is wrong with the input (exit 2).
pub fn plan(args: &DeployArgs, env: &Env<'_>, console: &Console) -> Result<DeployRequest, StepError> {
    args.target.check_built().map_err(StepError::usage)?;
    if args.github.github_deployment && !cfg!(feature = "github") {
        return Err(StepError::usage(crate::targets::not_built("--github-deployment", "github")));
    }
    let phase = match (args.promote, args.reject, args.rollback) {
        (true, _, _) => Phase::Promote,
        (_, true, _) => Phase::Reject,
        (_, _, true) => Phase::Rollback,
        _ => Phase::Deploy,
    };
    let strategy = args.strategy.unwrap_or_else(|| args.target.default_strategy());
    if matches!(phase, Phase::Promote | Phase::Reject) && !strategy.is_phased() {
        return Err(StepError::usage(format!(
            "--{} finishes a canary or blue-green deployment; say which with --strategy canary or --strategy blue-green",
            phase.as_str()
        )));
    }
    let rollout = Rollout::new(strategy, &args.rollout).map_err(StepError::usage)?;
    let analysis = args.analysis.parse().map_err(StepError::usage)?;
    let image = match args.image.as_deref().map(str::trim).filter(|i| !i.is_empty()) {
        Some(text) => Some(image_reference(text, args.require_digest, console)?),
        None if phase == Phase::Deploy => {
            return Err(StepError::usage("--image is required to deploy (push-image's image-ref output)"));
        }
        None => None,
    };
    let version_label = match args.version_label.as_deref().map(str::trim).filter(|l| !l.is_empty()) {
        Some(label) => label.to_owned(),
        None => image
            .as_ref()
            .map(|reference| default_version_label(reference, args.app_version.as_deref(), env))
            .unwrap_or_default(),
    };
    Ok(DeployRequest {
        image: image.map(|r| r.to_string()).unwrap_or_default(),
        rollout,
        phase,
        version_label,
        port: args.port,
        timeout: args.timeout,
        dry_run: args.dry_run,
        analysis,
    })
}

/// A full reference with its registry; one that is not pinned by digest warns (or is
/// refused with `--require-digest`).
fn image_reference(text: &str, require_digest: bool, console: &Console) -> Result<ImageReference, StepError> {
    let reference = ImageReference::parse(text).map_err(|e| StepError::usage(format!("--image {e}")))?;
    if !text.contains('/')
        || !text.split('/').next().is_some_and(|host| host.contains(['.', ':']) || host == "localhost")
    {
        return Err(StepError::usage(format!(
            "--image `{text}` names no registry; give the full reference push-image printed (registry/repository@sha256:...)"
        )));
    }
    if reference.digest().is_none() {
        if require_digest {
            return Err(StepError::usage(format!(
                "--image `{text}` is not pinned by digest and --require-digest is set; deploy push-image's image-ref"
            )));
        }
        console.warning(&format!(
            "--image `{text}` is a tag, which can move: the version deployed may not be the one built; deploy push-image's image-ref (repository@sha256:...)"
        ));
    }
    Ok(reference)
}

/// The application's version (else the git tag, else the short SHA, else the image's
/// tag), then the digest's first 12 hex: `1.2.0-3f2a9c1b7d4e`. A rebuilt image of the
/// same version gets a new label, which Elastic Beanstalk needs (it refuses a label
/// that exists with other contents).
pub fn default_version_label(image: &ImageReference, app_version: Option<&str>, env: &Env<'_>) -> String {
    let known = |name: &str| env(name).filter(|v| !v.is_empty());
    let prefix = app_version
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .or_else(|| known("GITHUB_REF").and_then(|r| r.strip_prefix("refs/tags/").map(str::to_owned)))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_labels_from_the_app_version_tag_sha_or_digest() {
        let digest = format!("sha256:{}", "3f2a9c1b7d4e".repeat(5) + "abcd");
        let image = ImageReference::parse(&format!("ghcr.io/acme/app@{digest}")).unwrap();
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
        };
        let tagged = env(&[("GITHUB_REF", "refs/tags/v1.2.0")]);
        assert_eq!(default_version_label(&image, None, &tagged), "v1.2.0-3f2a9c1b7d4e");
        assert_eq!(
            default_version_label(&image, Some("1.2.0"), &tagged),
            "1.2.0-3f2a9c1b7d4e",
            "the build's version first"
        );
        assert_eq!(default_version_label(&image, Some(" "), &tagged), "v1.2.0-3f2a9c1b7d4e");
        assert_eq!(default_version_label(&image, None, &env(&[("GITHUB_SHA", "abcdef0123")])), "abcdef0-3f2a9c1b7d4e");
        assert_eq!(default_version_label(&image, None, &env(&[])), "3f2a9c1b7d4e");
        let other = ImageReference::parse(&format!("ghcr.io/acme/app@sha256:{}", "0".repeat(64))).unwrap();
        assert_ne!(
            default_version_label(&image, Some("1.2.0"), &env(&[])),
            default_version_label(&other, Some("1.2.0"), &env(&[])),
            "a rebuilt image of the same version gets its own label"
        );
    }
}
