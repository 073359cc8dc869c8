//! OCI 1.1 referrers: an artifact (an SBOM) attached to an image already in the registry.
//!
//! The artifact is an image manifest with an `artifactType`, the empty config, the document
//! as its one layer and the image as its `subject`. It is pushed by digest after its blobs;
//! a registry with the referrers API answers `OCI-Subject` and indexes it itself. Without
//! that header (distribution 2.8, most registries before 2023) the distribution spec's tag
//! fallback applies: the index tagged `sha256-<subject hex>` lists the subject's referrers,
//! and the artifact's descriptor is added to it (read, merged, put back).

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::media::{OCI_EMPTY, OCI_INDEX, OCI_MANIFEST};
use crate::push::Destination;
use crate::retry::{Failure, RetryPolicy, with_retries};

/// The empty config's bytes, `{}`, and their digest.
pub const EMPTY_CONFIG: &[u8] = b"{}";
pub const EMPTY_CONFIG_DIGEST: &str = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

/// What a manifest or blob is: media type, digest, size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
}

impl Descriptor {
    /// The descriptor of `bytes` as `media_type`.
    pub fn of(media_type: &str, bytes: &[u8]) -> Self {
        Self { media_type: media_type.to_owned(), digest: sha256_digest(bytes), size: bytes.len() as u64 }
    }

    fn json(&self) -> Value {
        json!({ "mediaType": self.media_type, "digest": self.digest, "size": self.size })
    }
}

fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// An artifact to attach to `subject`.
#[derive(Debug, Clone)]
pub struct Referrer {
    /// `application/vnd.cyclonedx+json`: the artifact's type and its layer's media type.
    pub artifact_type: String,
    pub document: Vec<u8>,
    pub subject: Descriptor,
    /// The manifest's annotations (`org.opencontainers.image.created`), in order.
    pub annotations: Vec<(String, String)>,
}

impl Referrer {
    /// The artifact manifest's bytes: the same inputs give the same digest.
    pub fn manifest(&self) -> Vec<u8> {
        let layer = Descriptor::of(&self.artifact_type, &self.document);
        let mut manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": self.artifact_type,
            "config": { "mediaType": OCI_EMPTY, "digest": EMPTY_CONFIG_DIGEST, "size": EMPTY_CONFIG.len(), "data": "e30=" },
            "layers": [layer.json()],
            "subject": self.subject.json(),
        });
        if !self.annotations.is_empty() {
            let annotations: serde_json::Map<String, Value> =
                self.annotations.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
            manifest["annotations"] = Value::Object(annotations);
        }
        serde_json::to_vec(&manifest).unwrap_or_default()
    }

    /// The blobs its manifest names: the empty config and the document, with their digests.
    pub fn blobs(&self) -> [(String, &[u8]); 2] {
        [(EMPTY_CONFIG_DIGEST.to_owned(), EMPTY_CONFIG), (sha256_digest(&self.document), self.document.as_slice())]
    }

    /// The digest of its manifest.
    pub fn digest(&self) -> String {
        sha256_digest(&self.manifest())
    }

    /// What attaching it came to.
    pub fn pushed(&self, indexed: Indexed, already: bool) -> Pushed {
        Pushed { digest: self.digest(), indexed, already }
    }

    /// The entry the referrers list (API or fallback index) holds for this artifact.
    fn index_entry(&self, manifest: &[u8]) -> Value {
        let mut entry = Descriptor::of(OCI_MANIFEST, manifest).json();
        entry["artifactType"] = Value::String(self.artifact_type.clone());
        if !self.annotations.is_empty() {
            let annotations: serde_json::Map<String, Value> =
                self.annotations.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
            entry["annotations"] = Value::Object(annotations);
        }
        entry
    }
}

/// The distribution spec's fallback tag of a subject: `sha256-<hex>`.
pub fn fallback_tag(subject_digest: &str) -> String {
    subject_digest.replacen(':', "-", 1)
}

/// The fallback index with `entry` in it: `existing` (when the tag exists) keeps its
/// other entries; an entry of the same digest is replaced, not repeated.
pub fn merge_into_index(existing: Option<&[u8]>, entry: &Value) -> Result<Vec<u8>, String> {
    let mut index = match existing {
        Some(bytes) => {
            let index: Value =
                serde_json::from_slice(bytes).map_err(|e| format!("the referrers tag holds no JSON index: {e}"))?;
            if !index.get("manifests").is_some_and(Value::is_array) {
                return Err("the referrers tag holds something that is not an image index".to_owned());
            }
            index
        }
        None => json!({ "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [] }),
    };
    let manifests = index["manifests"].as_array_mut().ok_or("the referrers index has no manifests")?;
    manifests.retain(|known| known.get("digest") != entry.get("digest"));
    manifests.push(entry.clone());
    serde_json::to_vec(&index).map_err(|e| e.to_string())
}

/// How a referrer was made findable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Indexed {
    /// The registry's referrers API indexed it (it answered `OCI-Subject`).
    ReferrersApi,
    /// Listed in the index under this fallback tag.
    FallbackTag(String),
}

/// A referrer pushed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    pub digest: String,
    pub indexed: Indexed,
    /// It was attached already (a re-push): nothing was written.
    pub already: bool,
}

/// Pushes `referrer`: its blobs ([`push_referrer_blobs`]), then attaches it
/// ([`attach_referrer`]). Each request is retried under `policy`.
pub async fn push_referrer(
    destination: &Destination,
    referrer: &Referrer,
    policy: &RetryPolicy,
    on_retry: impl Fn(u32, &Failure, std::time::Duration),
) -> Result<Pushed, Failure> {
    let listing = read_listing(destination, referrer, policy, &on_retry).await?;
    if !listing.attached {
        push_referrer_blobs(destination, referrer, policy, &on_retry).await?;
    }
    attach_referrer(destination, referrer, listing, Ahead::default(), policy, &on_retry).await
}

/// Whether the subject's fallback index already lists this very referrer (a re-push: the
/// registry accepted the index, so the manifest and its blobs are there, and nothing
/// needs writing).
#[derive(Debug, Clone, Copy)]
pub struct Listing {
    pub attached: bool,
}

/// Reads the subject's fallback index (`sha256-<hex>`), which may be read before the
/// subject is pushed, beside its blobs.
pub async fn read_listing(
    destination: &Destination,
    referrer: &Referrer,
    policy: &RetryPolicy,
    on_retry: impl Fn(u32, &Failure, std::time::Duration),
) -> Result<Listing, Failure> {
    let tag = fallback_tag(&referrer.subject.digest);
    let index = with_retries(policy, |_| destination.get_manifest(&tag, OCI_INDEX), &on_retry).await?;
    let entry = referrer.index_entry(&referrer.manifest());
    Ok(Listing { attached: index.is_some_and(|(bytes, _)| lists(&bytes, &entry)) })
}

/// Uploads the referrer's two blobs (the empty config and the document) unless present,
/// together. They may go up beside the subject's own blobs: only the manifest needs the
/// subject pushed first.
pub async fn push_referrer_blobs(
    destination: &Destination,
    referrer: &Referrer,
    policy: &RetryPolicy,
    on_retry: impl Fn(u32, &Failure, std::time::Duration),
) -> Result<(), Failure> {
    let on_retry = &on_retry;
    futures_util::future::try_join_all(referrer.blobs().into_iter().map(|(digest, bytes)| async move {
        if !with_retries(policy, |_| destination.blob_exists(&digest), on_retry).await? {
            with_retries(policy, |_| destination.upload_bytes(&digest, bytes), on_retry).await?;
        }
        Ok::<(), Failure>(())
    }))
    .await?;
    Ok(())
}

/// The referrer's manifest, stored by digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stored {
    /// The registry answered `OCI-Subject`: its referrers API indexed the referrer, and no
    /// fallback index is written.
    pub by_api: bool,
}

/// Puts the referrer's manifest by digest (its blobs pushed), checking the digest the
/// registry computed.
pub async fn put_referrer_manifest(
    destination: &Destination,
    referrer: &Referrer,
    policy: &RetryPolicy,
    on_retry: impl Fn(u32, &Failure, std::time::Duration),
) -> Result<Stored, Failure> {
    let manifest = referrer.manifest();
    let digest = sha256_digest(&manifest);
    let put = with_retries(policy, |_| destination.put_manifest_reporting(&digest, OCI_MANIFEST, &manifest), &on_retry)
        .await?;
    if let Some(stored) = put.digest.as_deref().filter(|stored| *stored != digest) {
        return Err(Failure::permanent(format!("the registry stored the referrer as {stored}, not {digest}"), None));
    }
    Ok(Stored { by_api: put.oci_subject.is_some() })
}

/// [`put_referrer_manifest`] before the subject is pushed, so that it goes up beside the
/// subject's blobs. The distribution spec says a registry MUST accept a subject it does not
/// hold yet, but some refuse it (GitLab's registry answered `MANIFEST_BLOB_UNKNOWN` until
/// 2026): `None` then, and the manifest is put again once the subject is there. Refused
/// credentials (401/403) stay an error.
pub async fn put_referrer_manifest_early(
    destination: &Destination,
    referrer: &Referrer,
    policy: &RetryPolicy,
    on_retry: impl Fn(u32, &Failure, std::time::Duration),
) -> Result<Option<Stored>, Failure> {
    match put_referrer_manifest(destination, referrer, policy, on_retry).await {
        Ok(stored) => Ok(Some(stored)),
        Err(failure) if is_refused_subject(&failure) => Ok(None),
        Err(failure) => Err(failure),
    }
}

/// A refusal a registry may give a referrer whose subject it does not hold yet: a 4xx
/// other than the credentials' (401/403) and the rate limit's (429).
fn is_refused_subject(failure: &Failure) -> bool {
    !failure.retryable
        && failure.status.is_some_and(|status| (400..500).contains(&status) && ![401, 403, 429].contains(&status))
}

/// The subject's fallback index as the registry holds it now (`None`: no such tag yet).
pub async fn read_fallback_index(
    destination: &Destination,
    referrer: &Referrer,
    policy: &RetryPolicy,
    on_retry: impl Fn(u32, &Failure, std::time::Duration),
) -> Result<Option<Vec<u8>>, Failure> {
    let tag = fallback_tag(&referrer.subject.digest);
    Ok(with_retries(policy, |_| destination.get_manifest(&tag, OCI_INDEX), &on_retry).await?.map(|(bytes, _)| bytes))
}

/// Puts the subject's fallback index: `existing` (read just before, so another client's
/// referrers are kept) with this referrer added. Its manifest must be stored: a registry
/// checks that an index's manifests exist.
pub async fn put_fallback_index(
    destination: &Destination,
    referrer: &Referrer,
    existing: Option<&[u8]>,
    policy: &RetryPolicy,
    on_retry: impl Fn(u32, &Failure, std::time::Duration),
) -> Result<(), Failure> {
    let tag = fallback_tag(&referrer.subject.digest);
    let index = merge_into_index(existing, &referrer.index_entry(&referrer.manifest()))
        .map_err(|message| Failure::permanent(format!("{tag}: {message}"), None))?;
    with_retries(policy, |_| destination.put_manifest_reporting(&tag, OCI_INDEX, &index), &on_retry).await?;
    Ok(())
}

/// What was done for a referrer beside its subject's push, before [`attach_referrer`].
#[derive(Debug, Clone, Default)]
pub struct Ahead {
    /// Its manifest, put before the subject ([`put_referrer_manifest_early`]) and taken.
    pub stored: Option<Stored>,
    /// The fallback index as read while the subject's tags moved (`Some(None)`: no such tag).
    pub index: Option<Option<Vec<u8>>>,
}

/// Attaches `referrer` to its subject, which must be pushed, as must the referrer's blobs
/// unless `listing` found it attached (then nothing is written): its manifest by digest
/// (unless `ahead` stored it), then, when the registry did not index it (no referrers API),
/// the subject's fallback index with it added (read again first, unless `ahead` read it).
pub async fn attach_referrer(
    destination: &Destination,
    referrer: &Referrer,
    listing: Listing,
    ahead: Ahead,
    policy: &RetryPolicy,
    on_retry: impl Fn(u32, &Failure, std::time::Duration),
) -> Result<Pushed, Failure> {
    let tag = fallback_tag(&referrer.subject.digest);
    if listing.attached {
        return Ok(referrer.pushed(Indexed::FallbackTag(tag), true));
    }
    let stored = match ahead.stored {
        Some(stored) => stored,
        None => put_referrer_manifest(destination, referrer, policy, &on_retry).await?,
    };
    if stored.by_api {
        return Ok(referrer.pushed(Indexed::ReferrersApi, false));
    }
    // Read just before it is written: another client may have listed its own referrer
    // since the listing was read (the whole push ago).
    let existing = match ahead.index {
        Some(existing) => existing,
        None => read_fallback_index(destination, referrer, policy, &on_retry).await?,
    };
    put_fallback_index(destination, referrer, existing.as_deref(), policy, &on_retry).await?;
    Ok(referrer.pushed(Indexed::FallbackTag(tag), false))
}

/// Whether the index `bytes` holds `entry` as it is (same digest, type and annotations).
fn lists(bytes: &[u8], entry: &Value) -> bool {
    serde_json::from_slice::<Value>(bytes)
        .ok()
        .and_then(|index| index.get("manifests").and_then(Value::as_array).map(|m| m.contains(entry)))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn referrer() -> Referrer {
        Referrer {
            artifact_type: "application/vnd.cyclonedx+json".to_owned(),
            document: br#"{"bomFormat":"CycloneDX"}"#.to_vec(),
            subject: Descriptor::of(OCI_MANIFEST, b"{\"schemaVersion\":2}"),
            annotations: vec![("org.opencontainers.image.created".to_owned(), "2024-01-01T00:00:00Z".to_owned())],
        }
    }

    #[test]
    fn the_empty_config_digest_is_that_of_braces() {
        assert_eq!(sha256_digest(EMPTY_CONFIG), EMPTY_CONFIG_DIGEST);
    }

    #[test]
    fn an_artifact_manifest_names_its_type_layer_and_subject() {
        let referrer = referrer();
        let manifest: Value = serde_json::from_slice(&referrer.manifest()).unwrap();
        assert_eq!(manifest["artifactType"], "application/vnd.cyclonedx+json");
        assert_eq!(manifest["config"]["mediaType"], OCI_EMPTY);
        assert_eq!(manifest["layers"][0]["mediaType"], "application/vnd.cyclonedx+json");
        assert_eq!(manifest["layers"][0]["digest"], sha256_digest(&referrer.document));
        assert_eq!(manifest["subject"]["digest"], referrer.subject.digest);
        assert_eq!(manifest["annotations"]["org.opencontainers.image.created"], "2024-01-01T00:00:00Z");
        assert_eq!(referrer.manifest(), referrer.manifest(), "reproducible");
    }

    #[test]
    fn the_fallback_index_keeps_other_referrers_and_replaces_its_own() {
        assert_eq!(fallback_tag("sha256:abcd"), "sha256-abcd");
        let referrer = referrer();
        let entry = referrer.index_entry(&referrer.manifest());
        let fresh: Value = serde_json::from_slice(&merge_into_index(None, &entry).unwrap()).unwrap();
        assert_eq!(fresh["mediaType"], OCI_INDEX);
        assert_eq!(fresh["manifests"].as_array().unwrap().len(), 1);
        let other = json!({"mediaType": OCI_MANIFEST, "digest": "sha256:other", "size": 1, "artifactType": "x/y"});
        let with_other = merge_into_index(None, &other).unwrap();
        let merged = merge_into_index(Some(&with_other), &entry).unwrap();
        let again: Value = serde_json::from_slice(&merge_into_index(Some(&merged), &entry).unwrap()).unwrap();
        let digests: Vec<&str> =
            again["manifests"].as_array().unwrap().iter().map(|m| m["digest"].as_str().unwrap()).collect();
        assert_eq!(digests, ["sha256:other", entry["digest"].as_str().unwrap()]);
        assert_eq!(again["manifests"][1]["artifactType"], "application/vnd.cyclonedx+json");
        assert!(merge_into_index(Some(b"{\"config\":{}}"), &entry).is_err());
    }

    #[test]
    fn an_index_lists_an_entry_only_as_it_is() {
        let referrer = referrer();
        let entry = referrer.index_entry(&referrer.manifest());
        let index = merge_into_index(None, &entry).unwrap();
        assert!(lists(&index, &entry));
        let mut other_annotations = entry.clone();
        other_annotations["annotations"]["org.opencontainers.image.created"] = json!("2025-01-01T00:00:00Z");
        assert!(!lists(&index, &other_annotations), "a changed entry is written again");
        assert!(!lists(b"not json", &entry));
        assert!(!lists(&merge_into_index(None, &json!({"digest": "sha256:other"})).unwrap(), &entry));
    }
}
