//! The push: blobs (HEAD, mount, upload, several at once, retried), then child manifests
//! by digest, then the top manifest with the tags, so a tag never points at something
//! incomplete.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::{StreamExt, TryStreamExt};
use slipway_contract::progress::{Unit, format_bytes};
use slipway_contract::{Console, Progress, StepError, StepReport};
use slipway_registry::media::MANIFEST_TYPES;
use slipway_registry::push::{Destination, Mount};
use slipway_registry::referrers::{
    Ahead, Descriptor, Indexed, Pushed, Referrer, attach_referrer, push_referrer_blobs, put_referrer_manifest_early,
    read_fallback_index, read_listing,
};
use slipway_registry::retry::{Failure, RetryPolicy, with_retries};
use slipway_registry::{ImageReference, Registry, RegistryError, RegistryOptions};

use crate::layout::{self, BlobSource, BlobToPush};
use crate::plan::Plan;

/// The artifact type of a CycloneDX JSON SBOM referrer.
const SBOM_MEDIA_TYPE: &str = "application/vnd.cyclonedx+json";
use crate::report::{Transfers, report};

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

pub(crate) async fn execute(plan: &Plan, console: &Console) -> Result<StepReport, StepError> {
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
    let provided =
        slipway_registry::ecr::provided_login(registry_host, login.is_some(), console).await.map_err(|error| {
            match error {
                slipway_registry::ecr::EcrError::Refused(message) => StepError::usage(message),
                slipway_registry::ecr::EcrError::Failed(message) => StepError::failed(message),
            }
        })?;
    let options = RegistryOptions { insecure_registries: plan.insecure_registries.clone(), login, provided };
    let registry = Arc::new(Registry::new(options, &references, console));
    // --timeout bounds the whole push, from the first request to the registry on.
    let policy = RetryPolicy::new(plan.timeout);
    let connect = Destination::connect(&registry, &plan.repository);
    let destination = tokio::time::timeout_at(policy.deadline.into(), connect)
        .await
        .map_err(|_| {
            StepError::failed(format!(
                "{} did not answer within --timeout ({}s)",
                plan.repository.registry(),
                plan.timeout.as_secs()
            ))
        })?
        .map_err(|error| match error {
            RegistryError::Unreachable { .. } => StepError::failed(error.to_string()),
            other => registry_error(other),
        })?;

    let referrer = plan.sbom.as_ref().map(|sbom| sbom_referrer(plan, sbom));
    let total: u64 = plan.image.blobs.iter().map(|b| b.size).sum();
    let progress = Arc::new(Progress::new(console, "push", Some(total), Unit::Bytes));
    let uploaded_bytes = Arc::new(AtomicU64::new(0));
    let group = console.group(&format!("push {} blob(s) to {}", plan.image.blobs.len(), plan.repository.name()));
    let retry = |attempt, failure: &Failure, delay| retry_line(console, attempt, failure, delay);

    // What the registry holds, in one round of requests: each blob (HEAD, several at once),
    // what each tag names now (HEAD), and whether the SBOM is attached already (its fallback
    // index: then nothing of it is written).
    let presence = futures_util::stream::iter(plan.image.blobs.iter().cloned())
        .map(|blob| {
            let destination = destination.clone();
            async move {
                let exists = with_retries(&policy, |_| destination.blob_exists(&blob.digest), retry).await?;
                Ok::<_, Failure>((blob, exists))
            }
        })
        .buffer_unordered(plan.concurrency)
        .try_collect::<Vec<(BlobToPush, bool)>>();
    let accept = MANIFEST_TYPES.join(", ");
    let tags_now = futures_util::future::try_join_all(plan.tags.iter().map(|tag| {
        let accept = &accept;
        let destination = &destination;
        async move { with_retries(&policy, |_| destination.manifest_digest(tag, accept), retry).await }
    }));
    let listing = async {
        match &referrer {
            Some(referrer) if !plan.dry_run => read_listing(&destination, referrer, &policy, retry).await.map(Some),
            _ => Ok(None),
        }
    };
    let (presence, tags_now, listing) = futures_util::future::try_join3(presence, tags_now, listing)
        .await
        .map_err(|failure| push_failure(&failure, &plan.repository))?;
    let top = plan.image.top();
    // A tag that names the image already is not written again (a re-push writes nothing).
    let tags_to_move: Vec<&String> = plan
        .tags
        .iter()
        .zip(&tags_now)
        .filter(|(_, now)| now.as_deref() != Some(top.digest.as_str()))
        .map(|(t, _)| t)
        .collect();
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

    let mut sbom = None;
    if plan.dry_run {
        for blob in &missing {
            let mountable = blob.base.as_ref().is_some_and(|base| base.registry() == plan.repository.registry());
            outcomes.push((blob.digest.clone(), BlobOutcome::Missing { mountable }));
        }
    } else {
        let image_blobs = futures_util::stream::iter(missing)
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
            .try_collect::<Vec<(String, BlobOutcome)>>();
        // The SBOM goes up beside the image: its blobs, then its manifest, which a registry
        // should take before its subject (`None`: this one would not). Its fallback index is
        // read again while the tags move, just before it is written.
        let tags_moving = tokio::sync::Notify::new();
        let sbom_side = async {
            let Some(referrer) = referrer.as_ref().filter(|_| listing.is_some_and(|l| !l.attached)) else {
                return Ok((None, None));
            };
            push_referrer_blobs(&destination, referrer, &policy, retry).await?;
            let early = put_referrer_manifest_early(&destination, referrer, &policy, retry).await?;
            if early.is_some_and(|stored| stored.by_api) {
                return Ok((early, None));
            }
            tags_moving.notified().await;
            let index_now = read_fallback_index(&destination, referrer, &policy, retry).await?;
            Ok((early, Some(index_now)))
        };
        // Children by digest, then the top manifest, then the tags: a tag is the last
        // thing to move, and only onto a complete image. The top manifest goes in with its
        // first tag (a PUT by tag stores it by digest too).
        let image_side = async {
            let transferred = image_blobs.await?;
            if !tags_to_move.is_empty() {
                let children = &plan.image.manifests[..plan.image.manifests.len() - 1];
                for manifest in children {
                    put_manifest(&destination, &manifest.digest, &manifest.media_type, &manifest.bytes, &policy, retry)
                        .await?;
                }
            }
            tags_moving.notify_one();
            for tag in &tags_to_move {
                let digest = put_manifest(&destination, tag, &top.media_type, &top.bytes, &policy, retry).await?;
                if let Some(digest) = digest
                    && digest != top.digest
                {
                    return Err(Failure::permanent(
                        format!(
                            "the registry stored tag {tag} as {digest}, not {}; it altered the manifest",
                            top.digest
                        ),
                        None,
                    ));
                }
            }
            Ok(transferred)
        };
        let (transferred, (early, index_now)) = futures_util::future::try_join(image_side, sbom_side)
            .await
            .map_err(|failure| push_failure(&failure, &plan.repository))?;
        outcomes.extend(transferred);
        let Transfers { bytes, uploaded, skipped, mounted } = transfers(&outcomes, &uploaded_bytes);
        progress.finish(&format!(
            "{} uploaded in {uploaded} blob(s), {mounted} mounted, {skipped} already there, in {:.1}s",
            format_bytes(bytes),
            started.elapsed().as_secs_f64(),
        ));
        // What is left of the SBOM, after the tags: its manifest where the registry refused
        // it before the image, and the fallback index.
        if let (Some(referrer), Some(listing)) = (&referrer, listing) {
            let ahead = Ahead { stored: early, index: index_now };
            let pushed = attach_referrer(&destination, referrer, listing, ahead, &policy, retry)
                .await
                .map_err(|failure| push_failure(&failure, &plan.repository))?;
            report_sbom(plan, referrer, &pushed, console);
            sbom = Some(pushed);
        }
    }
    drop(group);

    let transfers = transfers(&outcomes, &uploaded_bytes);
    if plan.dry_run {
        let missing: Vec<&(String, BlobOutcome)> =
            outcomes.iter().filter(|(_, o)| matches!(o, BlobOutcome::Missing { .. })).collect();
        for (digest, outcome) in &missing {
            let how = if matches!(outcome, BlobOutcome::Missing { mountable: true }) { "mount" } else { "upload" };
            console.info(&format!("plan: {how} {digest}"));
        }
        let tags: Vec<&str> = tags_to_move.iter().map(|t| t.as_str()).collect();
        let moved = if tags.is_empty() {
            "no tag to move: every tag names this image already".to_owned()
        } else {
            format!("then {} manifest(s) and tag(s) {}", plan.image.manifests.len(), tags.join(", "))
        };
        console.info(&format!(
            "plan: {} blob(s) present, {} to transfer; {moved} — dry run, nothing pushed",
            transfers.skipped,
            missing.len(),
        ));
        if let Some(sbom) = &plan.sbom {
            console.info(&format!("plan: then attach {} as an OCI referrer of the image", sbom.path.display()));
        }
    }
    Ok(report(plan, top.digest.as_str(), transfers, sbom.as_ref(), started.elapsed()))
}

/// What the blob transfers amounted to.
fn transfers(outcomes: &[(String, BlobOutcome)], uploaded_bytes: &AtomicU64) -> Transfers {
    let count = |wanted: fn(&BlobOutcome) -> bool| outcomes.iter().filter(|(_, o)| wanted(o)).count();
    Transfers {
        bytes: uploaded_bytes.load(Ordering::Relaxed),
        uploaded: count(|o| matches!(o, BlobOutcome::Uploaded(_))),
        skipped: count(|o| matches!(o, BlobOutcome::Skipped)),
        mounted: count(|o| matches!(o, BlobOutcome::Mounted)),
    }
}

/// The SBOM as an OCI referrer of the image's top manifest.
fn sbom_referrer(plan: &Plan, sbom: &crate::plan::Sbom) -> Referrer {
    let top = plan.image.top();
    Referrer {
        artifact_type: SBOM_MEDIA_TYPE.to_owned(),
        document: sbom.bytes.clone(),
        subject: Descriptor {
            media_type: top.media_type.clone(),
            digest: top.digest.clone(),
            size: top.bytes.len() as u64,
        },
        annotations: sbom
            .created
            .iter()
            .map(|created| ("org.opencontainers.image.created".to_owned(), created.clone()))
            .collect(),
    }
}

/// The SBOM's line in the log.
fn report_sbom(plan: &Plan, referrer: &Referrer, pushed: &Pushed, console: &Console) {
    let how = match &pushed.indexed {
        Indexed::ReferrersApi => "indexed by the registry's referrers API".to_owned(),
        Indexed::FallbackTag(tag) => {
            format!("listed under the referrers tag {tag} (the registry has no referrers API)")
        }
    };
    let attached = if pushed.already { "already attached" } else { "attached" };
    console.info(&format!(
        "sbom: {}@{} {attached} to {}, {how}",
        plan.repository.name(),
        pushed.digest,
        referrer.subject.digest
    ));
}

async fn put_manifest(
    destination: &Destination,
    reference: &str,
    media_type: &str,
    bytes: &[u8],
    policy: &RetryPolicy,
    retry: impl Fn(u32, &Failure, Duration),
) -> Result<Option<String>, Failure> {
    with_retries(policy, |_| destination.put_manifest(reference, media_type, bytes), retry).await
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
