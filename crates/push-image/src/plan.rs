//! The flags, the credentials' shape and the layout, checked and decided: a [`Plan`], or
//! bad input refused before anything is pushed.

use std::path::{Path, PathBuf};
use std::time::Duration;

use slipway_contract::{Console, Secret, StepError, parse_list};
use slipway_registry::ImageReference;
use slipway_registry::auth::Login;

use crate::PushImageArgs;
use crate::layout::{self, LayoutImage};
use crate::tags;

/// The decided push.
#[derive(Debug, Clone)]
pub struct Plan {
    pub image: LayoutImage,
    pub repository: ImageReference,
    pub tags: Vec<String>,
    pub concurrency: usize,
    pub timeout: Duration,
    pub login: Option<Login>,
    pub insecure_registries: Vec<String>,
    pub dry_run: bool,
    /// The SBOM attached to the image once it is pushed.
    pub sbom: Option<Sbom>,
}

/// An SBOM to push as a referrer of the image.
#[derive(Debug, Clone)]
pub struct Sbom {
    pub path: PathBuf,
    pub bytes: Vec<u8>,
    /// Its `metadata.timestamp`, the referrer's `org.opencontainers.image.created`.
    pub created: Option<String>,
}

/// The file containerize writes its SBOM to, inside the layout.
pub const LAYOUT_SBOM: &str = "sbom.cdx.json";

/// `--sbom`, else the layout's own SBOM when there is one (`none`: no SBOM); refused unless
/// CycloneDX JSON.
fn sbom(flag: Option<&Path>, layout: &Path) -> Result<Option<Sbom>, StepError> {
    let path = match flag.filter(|p| !p.as_os_str().is_empty()) {
        Some(none) if none == Path::new("none") => return Ok(None),
        Some(path) => path.to_owned(),
        None if layout.join(LAYOUT_SBOM).is_file() => layout.join(LAYOUT_SBOM),
        None => return Ok(None),
    };
    let bytes = std::fs::read(&path)
        .map_err(|error| StepError::usage(format!("--sbom {}: cannot read it: {error}", path.display())))?;
    let document: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|error| StepError::usage(format!("--sbom {} is not JSON: {error}", path.display())))?;
    if document.get("bomFormat").and_then(|f| f.as_str()) != Some("CycloneDX") {
        return Err(StepError::usage(format!(
            "--sbom {} is not a CycloneDX JSON document (no \"bomFormat\": \"CycloneDX\")",
            path.display()
        )));
    }
    let created = document.pointer("/metadata/timestamp").and_then(|t| t.as_str()).map(str::to_owned);
    Ok(Some(Sbom { path, bytes, created }))
}

/// Checks the flags, the credentials' shape and the layout.
pub fn plan(args: &PushImageArgs, env: &dyn Fn(&str) -> Option<String>, console: &Console) -> Result<Plan, StepError> {
    let text = args.image.trim();
    let reference = ImageReference::parse(text).map_err(|e| StepError::usage(format!("--image {e}")))?;
    if reference.digest().is_some() {
        return Err(StepError::usage(format!(
            "--image `{text}` holds a digest; give the repository, and tags with --tag"
        )));
    }
    let mut tags: Vec<String> = parse_list(&args.tag);
    // `repo:tag` is accepted as a shorthand for `--image repo --tag tag`.
    if text.rsplit('/').next().is_some_and(|last| last.contains(':'))
        && let Some(tag) = reference.tag()
    {
        tags.insert(0, tag.to_owned());
    }
    if args.tags_from_ref {
        tags.extend(tags::tags_from_ref(env));
    }
    if tags.is_empty() {
        match tags::default_tag(env) {
            Some(tag) => tags.push(tag),
            None => {
                return Err(StepError::usage(
                    "no tag: give --tag, or run where GITHUB_SHA or CI_COMMIT_SHA is set for the default sha-<short sha>",
                ));
            }
        }
    }
    let mut unique = Vec::new();
    for tag in tags {
        if !tags::is_valid_tag(&tag) {
            return Err(StepError::usage(format!(
                "tag `{tag}` is not valid: letters, digits, _ . - only, not starting with . or -, at most 128"
            )));
        }
        if !unique.contains(&tag) {
            unique.push(tag);
        }
    }
    let login = match args.username.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
        Some(username) => {
            let password = if args.password_stdin {
                Secret::from_reader(&mut std::io::stdin(), "the registry password", console)?
            } else {
                Secret::from_env("REGISTRY_PASSWORD", console).ok_or_else(|| {
                    StepError::usage("--username needs a password: set REGISTRY_PASSWORD or pass --password-stdin")
                })?
            };
            Some(Login { username: username.to_owned(), password })
        }
        None if args.password_stdin => return Err(StepError::usage("--password-stdin needs --username")),
        None => None,
    };
    let image = layout::read(&args.layout).map_err(|error| StepError::usage(error.to_string()))?;
    let sbom = sbom(args.sbom.as_deref(), &args.layout)?;
    let repository = ImageReference::parse(&reference.name()).map_err(StepError::usage)?;
    Ok(Plan {
        image,
        repository,
        tags: unique,
        concurrency: usize::from(args.concurrency),
        timeout: args.timeout,
        login,
        insecure_registries: parse_list(&args.insecure_registry),
        dry_run: args.dry_run,
        sbom,
    })
}
