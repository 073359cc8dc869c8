//! push-image: pushes the OCI layout containerize wrote to any registry.
//!
//! Flow: [`PushImageArgs`] -> [`plan`] (the layout read and checked, tags and
//! credentials decided; bad input refused) -> [`execute`]: blobs (HEAD, mount, upload,
//! several at once, retried), then child manifests by digest, then the top manifest,
//! then the tags, so a tag never points at something incomplete -> outputs.

pub mod ecr;
pub mod layout;
pub mod tags;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::{StreamExt, TryStreamExt};
use slipway_contract::keys::push_image as keys;
use slipway_contract::progress::{Unit, format_bytes};
use slipway_contract::{Console, Outputs, Progress, Secret, StepError, StepReport, Summary, parse_list};
use slipway_registry::auth::Login;
use slipway_registry::push::{Destination, Mount};
use slipway_registry::retry::{Failure, RetryPolicy, with_retries};
use slipway_registry::{ImageReference, Registry, RegistryError, RegistryOptions};

use crate::layout::{BlobSource, BlobToPush, LayoutImage};

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
}

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
    })
}

/// What happened to one blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BlobOutcome {
    Skipped,
    Mounted,
    Uploaded(u64),
    /// Dry run: it would be uploaded (or mounted, when `true`).
    Missing {
        mountable: bool,
    },
}

slipway_contract::step_cli! {
    #[command(
        name = "push-image",
        version,
        about = "Pushes the OCI image layout containerize wrote to any OCI registry (ECR, GHCR, Docker Hub, self-hosted): blobs first, tags last.",
        after_help = "Credentials, in order: --username with REGISTRY_PASSWORD or --password-stdin; docker's config.json and credential helpers (DOCKER_CONFIG); GITHUB_TOKEN for ghcr.io; anonymous.\nOutputs (to $GITHUB_OUTPUT, the dotenv report and standard output): image-ref, digest, tags, bytes-uploaded, blobs-uploaded, blobs-skipped, blobs-mounted.\nExit codes: 0 pushed, 1 the push failed (nothing tagged), 2 bad input (a malformed repository or tag, a missing or corrupt layout, rejected credentials)."
    )]
    step: "push-image",
    args: PushImageArgs,
    run: run,
}

/// Runs push-image.
pub fn run(args: &PushImageArgs, console: &Console) -> Result<StepReport, StepError> {
    let env = |name: &str| std::env::var(name).ok();
    let plan = plan(args, &env, console)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|error| StepError::failed(format!("cannot start the async runtime: {error}")))?;
    runtime.block_on(execute(&plan, console))
}

fn registry_error(error: RegistryError) -> StepError {
    if error.is_usage() { StepError::usage(error.to_string()) } else { StepError::failed(error.to_string()) }
}

/// A failure during the push, explained: permanent errors say what to do.
fn push_failure(failure: &Failure, repository: &ImageReference) -> StepError {
    let registry = repository.registry();
    let hint = match failure.status {
        Some(401 | 403) => {
            // Refused credentials are bad input, and nothing was tagged: exit 2.
            return StepError::usage(format!(
                "{registry} refused to let these credentials push to {}: {} (log in with --username and REGISTRY_PASSWORD, docker login, or GITHUB_TOKEN for ghcr.io)",
                repository.name(),
                failure.message
            ));
        }
        Some(404) if registry.contains(".dkr.ecr.") => {
            format!(" (ECR creates no repository on push: create {} first)", repository.repository())
        }
        Some(404) if registry == "docker.io" => {
            " (on Docker Hub the namespace must be your user or an organisation you belong to)".to_owned()
        }
        Some(404) => format!(" (the registry has no repository {}; create it first)", repository.repository()),
        _ => String::new(),
    };
    StepError::failed(format!("push to {} failed: {}{hint}", repository.name(), failure.message))
}

async fn execute(plan: &Plan, console: &Console) -> Result<StepReport, StepError> {
    let started = Instant::now();
    let bases: Vec<ImageReference> =
        plan.image.blobs.iter().filter_map(|b| b.base.clone()).fold(Vec::new(), |mut all, base| {
            if !all.contains(&base) {
                all.push(base);
            }
            all
        });
    let mut references: Vec<&ImageReference> = vec![&plan.repository];
    references.extend(bases.iter());
    let registry_host = plan.repository.registry();
    let login = plan.login.clone().map(|login| (registry_host.to_owned(), login));
    // ECR, in the contract's order: after an explicit login and docker's config.json.
    let provided = match ecr::ecr_region(registry_host) {
        Some(region)
            if login.is_none() && slipway_registry::auth::from_docker_config(registry_host, console).is_none() =>
        {
            Some(ecr::login(&ecr::client(&region).await, registry_host, console).await?)
        }
        _ => None,
    };
    let options = RegistryOptions { insecure_registries: plan.insecure_registries.clone(), login, provided };
    let registry = Arc::new(Registry::new(options, &references, console));
    let destination = Destination::connect(&registry, &plan.repository).await.map_err(|error| match error {
        RegistryError::Unreachable { .. } => StepError::failed(error.to_string()),
        other => registry_error(other),
    })?;
    let policy = RetryPolicy::new(plan.timeout);

    let total: u64 = plan.image.blobs.iter().map(|b| b.size).sum();
    let progress = Arc::new(Progress::new(console, "push", Some(total), Unit::Bytes));
    let uploaded_bytes = Arc::new(AtomicU64::new(0));
    let group = console.group(&format!("push {} blob(s) to {}", plan.image.blobs.len(), plan.repository.name()));
    let retry = |attempt, failure: &Failure, delay| retry_line(console, attempt, failure, delay);

    // Which blobs does the registry lack? (HEAD, several at once.)
    let presence: Vec<(BlobToPush, bool)> = futures_util::stream::iter(plan.image.blobs.iter().cloned())
        .map(|blob| {
            let destination = destination.clone();
            async move {
                let exists = with_retries(&policy, |_| destination.blob_exists(&blob.digest), retry).await?;
                Ok::<_, Failure>((blob, exists))
            }
        })
        .buffer_unordered(plan.concurrency)
        .try_collect()
        .await
        .map_err(|failure| push_failure(&failure, &plan.repository))?;
    let mut outcomes: Vec<(String, BlobOutcome)> = Vec::new();
    let mut missing: Vec<BlobToPush> = Vec::new();
    for (blob, exists) in presence {
        if exists {
            progress.inc(blob.size);
            outcomes.push((blob.digest, BlobOutcome::Skipped));
        } else {
            missing.push(blob);
        }
    }

    // Every blob about to leave the disk is checked against its digest before the first
    // upload: a corrupt layout is refused with nothing pushed.
    let to_check: Vec<(PathBuf, String, u64)> = missing
        .iter()
        .filter_map(|blob| match &blob.source {
            BlobSource::Local(path) => Some((path.clone(), blob.digest.clone(), blob.size)),
            BlobSource::Base(_) => None,
        })
        .collect();
    tokio::task::spawn_blocking(move || {
        to_check.iter().try_for_each(|(path, digest, size)| layout::check_file(path, digest, *size))
    })
    .await
    .map_err(|error| StepError::failed(format!("the digest check stopped: {error}")))?
    .map_err(|error| StepError::usage(error.to_string()))?;

    if plan.dry_run {
        for blob in &missing {
            let mountable = blob.base.as_ref().is_some_and(|base| base.registry() == plan.repository.registry());
            outcomes.push((blob.digest.clone(), BlobOutcome::Missing { mountable }));
        }
    } else {
        let transferred: Vec<(String, BlobOutcome)> = futures_util::stream::iter(missing)
            .map(|blob| {
                let destination = destination.clone();
                let registry = Arc::clone(&registry);
                let progress = Arc::clone(&progress);
                let uploaded_bytes = Arc::clone(&uploaded_bytes);
                let console = console.clone();
                async move {
                    let outcome =
                        transfer_blob(&blob, &destination, &registry, &policy, &console, &progress, &uploaded_bytes)
                            .await?;
                    Ok::<_, Failure>((blob.digest, outcome))
                }
            })
            .buffer_unordered(plan.concurrency)
            .try_collect()
            .await
            .map_err(|failure| push_failure(&failure, &plan.repository))?;
        outcomes.extend(transferred);
    }
    drop(group);

    let count = |wanted: fn(&BlobOutcome) -> bool| outcomes.iter().filter(|(_, o)| wanted(o)).count();
    let skipped = count(|o| matches!(o, BlobOutcome::Skipped));
    let mounted = count(|o| matches!(o, BlobOutcome::Mounted));
    let uploaded = count(|o| matches!(o, BlobOutcome::Uploaded(_)));
    let bytes = uploaded_bytes.load(Ordering::Relaxed);
    let top = plan.image.top();

    if plan.dry_run {
        let missing: Vec<&(String, BlobOutcome)> =
            outcomes.iter().filter(|(_, o)| matches!(o, BlobOutcome::Missing { .. })).collect();
        for (digest, outcome) in &missing {
            let how = if matches!(outcome, BlobOutcome::Missing { mountable: true }) { "mount" } else { "upload" };
            console.info(&format!("plan: {how} {digest}"));
        }
        console.info(&format!(
            "plan: {} blob(s) present, {} to transfer; then {} manifest(s) and tag(s) {} — dry run, nothing pushed",
            skipped,
            missing.len(),
            plan.image.manifests.len(),
            plan.tags.join(", ")
        ));
    } else {
        // Children by digest, then the top manifest, then the tags: a tag is the last
        // thing to move, and only onto a complete image.
        // The top manifest goes in with its first tag (a PUT by tag stores it by digest too).
        let children = &plan.image.manifests[..plan.image.manifests.len() - 1];
        for manifest in children {
            put_manifest(&destination, &manifest.digest, &manifest.media_type, &manifest.bytes, &policy, console, plan)
                .await?;
        }
        for tag in &plan.tags {
            let digest = put_manifest(&destination, tag, &top.media_type, &top.bytes, &policy, console, plan).await?;
            if let Some(digest) = digest
                && digest != top.digest
            {
                return Err(StepError::failed(format!(
                    "the registry stored tag {tag} as {digest}, not {}; it altered the manifest",
                    top.digest
                )));
            }
        }
        progress.finish(&format!(
            "{} uploaded in {uploaded} blob(s), {mounted} mounted, {skipped} already there, in {:.1}s",
            format_bytes(bytes),
            started.elapsed().as_secs_f64()
        ));
    }
    Ok(report(plan, top.digest.as_str(), bytes, uploaded, skipped, mounted, started.elapsed()))
}

async fn put_manifest(
    destination: &Destination,
    reference: &str,
    media_type: &str,
    bytes: &[u8],
    policy: &RetryPolicy,
    console: &Console,
    plan: &Plan,
) -> Result<Option<String>, StepError> {
    with_retries(
        policy,
        |_| destination.put_manifest(reference, media_type, bytes),
        |attempt, failure, delay| retry_line(console, attempt, failure, delay),
    )
    .await
    .map_err(|failure| push_failure(&failure, &plan.repository))
}

fn retry_line(console: &Console, attempt: u32, failure: &Failure, delay: Duration) {
    console.info(&format!("retry {attempt} in {:.1}s: {}", delay.as_secs_f64(), failure.message));
}

/// Mounts or uploads one blob the registry lacks.
async fn transfer_blob(
    blob: &BlobToPush,
    destination: &Destination,
    registry: &Registry,
    policy: &RetryPolicy,
    console: &Console,
    progress: &Arc<Progress>,
    uploaded_bytes: &Arc<AtomicU64>,
) -> Result<BlobOutcome, Failure> {
    let retry = |attempt, failure: &Failure, delay| retry_line(console, attempt, failure, delay);
    // A base layer on the same registry is mounted, not copied.
    let mount_from = blob.base.as_ref().filter(|base| base.registry() == destination.reference.registry());
    if let Some(base) = mount_from
        && with_retries(policy, |_| destination.mount(&blob.digest, base.repository()), retry).await? == Mount::Mounted
    {
        progress.inc(blob.size);
        return Ok(BlobOutcome::Mounted);
    }
    // Each attempt is a fresh upload session: a broken upload starts over.
    let attempt_bytes = Arc::new(AtomicU64::new(0));
    let counter = {
        let attempt_bytes = Arc::clone(&attempt_bytes);
        let progress = Arc::clone(progress);
        Arc::new(move |n: u64| {
            attempt_bytes.fetch_add(n, Ordering::Relaxed);
            progress.inc(n);
        }) as slipway_registry::push::OnBytes
    };
    with_retries(
        policy,
        |_| {
            attempt_bytes.store(0, Ordering::Relaxed);
            let counter = Arc::clone(&counter);
            async move {
                match &blob.source {
                    BlobSource::Local(path) => destination.upload_file(&blob.digest, path, Some(counter)).await,
                    BlobSource::Base(base) => {
                        let descriptor = oci_client::manifest::OciDescriptor {
                            digest: blob.digest.clone(),
                            size: i64::try_from(blob.size).unwrap_or(i64::MAX),
                            ..Default::default()
                        };
                        let stream = registry.blob_stream(base, &descriptor).await.map_err(|e| {
                            Failure::transient(format!("fetch {} from {base}: {e}", blob.digest), None, None)
                        })?;
                        destination.upload_stream(&blob.digest, blob.size, stream, Some(counter)).await
                    }
                }
            }
        },
        retry,
    )
    .await?;
    uploaded_bytes.fetch_add(blob.size, Ordering::Relaxed);
    Ok(BlobOutcome::Uploaded(blob.size))
}

fn report(
    plan: &Plan,
    digest: &str,
    bytes: u64,
    uploaded: usize,
    skipped: usize,
    mounted: usize,
    took: Duration,
) -> StepReport {
    let image_ref = format!("{}@{digest}", plan.repository.name());
    let mut outputs = Outputs::new();
    outputs
        .set(keys::IMAGE_REF, &image_ref)
        .set(keys::DIGEST, digest)
        .set(keys::TAGS, plan.tags.join(","))
        .set(keys::BYTES_UPLOADED, bytes)
        .set(keys::BLOBS_UPLOADED, uploaded)
        .set(keys::BLOBS_SKIPPED, skipped)
        .set(keys::BLOBS_MOUNTED, mounted);
    let title = if plan.dry_run { "push-image (dry run)" } else { "push-image" };
    let mut summary = Summary::new(&format!("{title}: `{}`", plan.repository.name()));
    summary.facts(&[
        ("image", image_ref),
        ("tags", plan.tags.join(", ")),
        ("uploaded", format!("{} in {uploaded} blob(s)", format_bytes(bytes))),
        ("mounted", mounted.to_string()),
        ("already there", skipped.to_string()),
        ("took", format!("{:.1}s", took.as_secs_f64())),
    ]);
    StepReport { outputs, summary }
}
