//! Reads the OCI layout containerize wrote: the image (or index) to push, its
//! manifests in push order, and every blob with where it comes from. Manifests and
//! configs are checked against their digests here; layers by [`check_file`] once the
//! registry says which it lacks, still before any upload.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest, Sha256};
use slipway_registry::ImageReference;
use slipway_registry::media::{self, is_index};

/// Where a blob's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobSource {
    /// A file in the layout.
    Local(PathBuf),
    /// Absent from a sparse layout: the base image it came from has it.
    Base(ImageReference),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobToPush {
    pub digest: String,
    pub size: u64,
    pub source: BlobSource,
    /// The base repository it can be mounted from: set for the base's own layers.
    pub base: Option<ImageReference>,
}

/// A manifest or index, with the bytes that give its digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestToPush {
    pub digest: String,
    pub media_type: String,
    pub bytes: Vec<u8>,
}

/// The image in a layout, in push order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayoutImage {
    pub blobs: Vec<BlobToPush>,
    /// Child manifests first, the top one (what tags point at) last.
    pub manifests: Vec<ManifestToPush>,
    pub ref_name: Option<String>,
}

impl LayoutImage {
    pub fn top(&self) -> &ManifestToPush {
        self.manifests.last().unwrap_or_else(|| unreachable!("a layout image has a manifest"))
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LayoutError {
    #[error("{0} does not exist")]
    Missing(PathBuf),
    #[error("{0} is not an OCI image layout (no oci-layout and index.json)")]
    NotALayout(PathBuf),
    #[error("{path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error("{path} holds {count} images ({names}); keep one per layout")]
    SeveralImages { path: PathBuf, count: usize, names: String },
    #[error(
        "blob {digest} in {path} does not match its digest (it hashes to {actual}); the layout is corrupt, rebuild it"
    )]
    Corrupt { path: PathBuf, digest: String, actual: String },
    #[error("the layout lacks blob {digest} and names no base image to fetch it from; rebuild it with containerize")]
    Incomplete { digest: String },
}

fn invalid(path: &Path, reason: impl Into<String>) -> LayoutError {
    LayoutError::Invalid { path: path.to_owned(), reason: reason.into() }
}

fn blob_path(layout: &Path, digest: &str) -> PathBuf {
    layout.join("blobs").join(digest.replacen(':', "/", 1))
}

fn read_json(layout: &Path, digest: &str) -> Result<(Vec<u8>, Value), LayoutError> {
    let path = blob_path(layout, digest);
    let bytes = std::fs::read(&path).map_err(|e| invalid(&path, format!("cannot read: {e}")))?;
    check(&path, digest, &bytes)?;
    let value = serde_json::from_slice(&bytes).map_err(|e| invalid(&path, format!("not JSON: {e}")))?;
    Ok((bytes, value))
}

fn check(path: &Path, digest: &str, bytes: &[u8]) -> Result<(), LayoutError> {
    let actual = format!("sha256:{}", hex::encode(Sha256::digest(bytes)));
    if actual == digest {
        Ok(())
    } else {
        Err(LayoutError::Corrupt { path: path.to_owned(), digest: digest.to_owned(), actual })
    }
}

/// Hashes a local blob file (streamed: layers may be large). push-image checks each
/// blob it is about to upload, before the first upload; blobs the registry already has
/// are not read at all.
pub fn check_file(path: &Path, digest: &str, size: u64) -> Result<(), LayoutError> {
    let mut file = File::open(path).map_err(|e| invalid(path, format!("cannot read: {e}")))?;
    let mut hasher = Sha256::new();
    let read = std::io::copy(&mut file, &mut hasher).map_err(|e| invalid(path, format!("cannot read: {e}")))?;
    let actual = format!("sha256:{}", hex::encode(hasher.finalize()));
    if actual != digest || read != size {
        return Err(LayoutError::Corrupt { path: path.to_owned(), digest: digest.to_owned(), actual });
    }
    Ok(())
}

fn descriptor_fields(value: &Value) -> Option<(String, String, u64)> {
    Some((
        value.get("digest")?.as_str()?.to_owned(),
        value.get("mediaType").and_then(Value::as_str).unwrap_or_default().to_owned(),
        value.get("size")?.as_u64()?,
    ))
}

/// How many layers at the top containerize added, from the config's history (its
/// entries say `slipway containerize: ... layer`); the layers below are the base's.
fn app_layer_count(config: &Value) -> usize {
    config
        .get("history")
        .and_then(Value::as_array)
        .map(|history| {
            history
                .iter()
                .filter(|entry| {
                    entry
                        .get("created_by")
                        .and_then(Value::as_str)
                        .is_some_and(|by| by.starts_with("slipway containerize:"))
                })
                .count()
        })
        .unwrap_or(0)
}

/// Reads `layout` and checks every local blob.
pub fn read(layout: &Path) -> Result<LayoutImage, LayoutError> {
    if !layout.exists() {
        return Err(LayoutError::Missing(layout.to_owned()));
    }
    let index_path = layout.join("index.json");
    if !layout.join("oci-layout").is_file() || !index_path.is_file() {
        return Err(LayoutError::NotALayout(layout.to_owned()));
    }
    let index: Value = serde_json::from_slice(
        &std::fs::read(&index_path).map_err(|e| invalid(&index_path, format!("cannot read: {e}")))?,
    )
    .map_err(|e| invalid(&index_path, format!("not JSON: {e}")))?;
    let entries = index.get("manifests").and_then(Value::as_array).cloned().unwrap_or_default();
    let ref_name = |entry: &Value| {
        entry.pointer("/annotations/org.opencontainers.image.ref.name").and_then(Value::as_str).map(str::to_owned)
    };
    let entry = match entries.as_slice() {
        [one] => one.clone(),
        [] => return Err(invalid(&index_path, "names no image")),
        many => {
            let names: Vec<String> = many.iter().map(|e| ref_name(e).unwrap_or_else(|| "unnamed".into())).collect();
            return Err(LayoutError::SeveralImages {
                path: layout.to_owned(),
                count: many.len(),
                names: names.join(", "),
            });
        }
    };
    let (top_digest, top_type, _) =
        descriptor_fields(&entry).ok_or_else(|| invalid(&index_path, "invalid descriptor"))?;

    let mut blobs: BTreeMap<String, BlobToPush> = BTreeMap::new();
    let mut manifests = Vec::new();
    let (top_bytes, top_value) = read_json(layout, &top_digest)?;
    // The document's own mediaType, else its descriptor's (umoci leaves it out), else its content.
    let top_type = media::manifest_media_type(&top_bytes, Some(&top_type)).unwrap_or(top_type);
    let children: Vec<(String, String)> = if is_index(&top_type) {
        top_value
            .get("manifests")
            .and_then(Value::as_array)
            .map(|m| m.iter().filter_map(descriptor_fields).map(|(d, t, _)| (d, t)).collect())
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let mut image_manifests: Vec<(String, String, Vec<u8>, Value)> = Vec::new();
    for (child, child_type) in &children {
        let (bytes, value) = read_json(layout, child)?;
        image_manifests.push((child.clone(), child_type.clone(), bytes, value));
    }
    if children.is_empty() {
        image_manifests.push((top_digest.clone(), top_type.clone(), top_bytes.clone(), top_value.clone()));
    }
    for (digest, given_type, bytes, manifest) in &image_manifests {
        let base = manifest
            .pointer("/annotations/org.opencontainers.image.base.name")
            .and_then(Value::as_str)
            .filter(|name| !name.is_empty() && !name.starts_with("oci:"))
            .and_then(|name| ImageReference::parse(name).ok());
        let config = manifest
            .get("config")
            .and_then(descriptor_fields)
            .ok_or_else(|| invalid(&blob_path(layout, digest), "a manifest without config"))?;
        let layers: Vec<(String, String, u64)> = manifest
            .get("layers")
            .and_then(Value::as_array)
            .map(|l| l.iter().filter_map(descriptor_fields).collect())
            .unwrap_or_default();
        let (_, config_value) = read_json(layout, &config.0)?;
        let base_layers = layers.len().saturating_sub(app_layer_count(&config_value));
        let described = std::iter::once((config, false))
            .chain(layers.into_iter().enumerate().map(|(position, layer)| (layer, position < base_layers)));
        for ((blob_digest, _, size), is_base_layer) in described {
            if blobs.contains_key(&blob_digest) {
                continue;
            }
            let path = blob_path(layout, &blob_digest);
            let source = if path.is_file() {
                BlobSource::Local(path)
            } else {
                BlobSource::Base(base.clone().ok_or(LayoutError::Incomplete { digest: blob_digest.clone() })?)
            };
            let mountable_from =
                if is_base_layer || matches!(source, BlobSource::Base(_)) { base.clone() } else { None };
            blobs.insert(blob_digest.clone(), BlobToPush { digest: blob_digest, size, source, base: mountable_from });
        }
        if !children.is_empty() {
            let media_type = media::manifest_media_type(bytes, Some(given_type)).unwrap_or_default();
            manifests.push(ManifestToPush { digest: digest.clone(), media_type, bytes: bytes.clone() });
        }
    }
    manifests.push(ManifestToPush { digest: top_digest, media_type: top_type, bytes: top_bytes });
    Ok(LayoutImage { blobs: blobs.into_values().collect(), manifests, ref_name: ref_name(&entry) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn digest(bytes: &[u8]) -> String {
        format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
    }

    fn put(layout: &Path, bytes: &[u8]) -> String {
        let d = digest(bytes);
        std::fs::write(blob_path(layout, &d), bytes).unwrap();
        d
    }

    fn layout_with(base_layer_present: bool) -> (tempfile::TempDir, String, String) {
        let dir = tempfile::tempdir().unwrap();
        let layout = dir.path();
        std::fs::create_dir_all(layout.join("blobs/sha256")).unwrap();
        std::fs::write(layout.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        let config_bytes: &[u8] =
            br#"{"history":[{"created_by":"base"},{"created_by":"slipway containerize: app layer"}]}"#;
        let config = put(layout, config_bytes);
        let app = put(layout, b"app layer");
        let base_layer = digest(b"base layer");
        if base_layer_present {
            put(layout, b"base layer");
        }
        let manifest = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": config_bytes.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": base_layer, "size": 10},
                       {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": app, "size": 9}],
            "annotations": {"org.opencontainers.image.base.name": "127.0.0.1:5555/slipway/jre:17"}});
        let manifest_digest = put(layout, &serde_json::to_vec(&manifest).unwrap());
        let index = json!({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest, "size": serde_json::to_vec(&manifest).unwrap().len(),
            "annotations": {"org.opencontainers.image.ref.name": "1.0"}}]});
        std::fs::write(layout.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
        (dir, base_layer, manifest_digest)
    }

    #[test]
    fn a_sparse_layout_names_the_base_for_missing_blobs() {
        let (dir, base_layer, manifest) = layout_with(false);
        let image = read(dir.path()).unwrap();
        assert_eq!(image.ref_name.as_deref(), Some("1.0"));
        assert_eq!(image.top().digest, manifest);
        assert_eq!(image.blobs.len(), 3);
        let base = ImageReference::parse("127.0.0.1:5555/slipway/jre:17").unwrap();
        let missing = image.blobs.iter().find(|b| b.digest == base_layer).unwrap();
        assert_eq!(missing.source, BlobSource::Base(base.clone()));
        assert_eq!(missing.base, Some(base));
        let mountable = image.blobs.iter().filter(|b| b.base.is_some()).count();
        assert_eq!(mountable, 1, "only the base layer is mounted; config and app layer are uploaded");
    }

    #[test]
    fn a_corrupt_blob_is_refused() {
        let (dir, base_layer, manifest) = layout_with(true);
        std::fs::write(blob_path(dir.path(), &base_layer), b"tampered!!").unwrap();
        let image = read(dir.path()).unwrap();
        let blob = image.blobs.iter().find(|b| b.digest == base_layer).unwrap();
        let BlobSource::Local(path) = &blob.source else { panic!("local") };
        assert!(matches!(check_file(path, &blob.digest, blob.size), Err(LayoutError::Corrupt { .. })));
        std::fs::write(blob_path(dir.path(), &manifest), b"{}").unwrap();
        assert!(matches!(read(dir.path()), Err(LayoutError::Corrupt { .. })), "manifests are checked on read");
    }

    /// umoci leaves mediaType out of manifests (OCI allows it): the descriptor names it.
    #[test]
    fn manifests_and_indexes_without_media_type_take_their_descriptors() {
        let dir = tempfile::tempdir().unwrap();
        let layout = dir.path();
        std::fs::create_dir_all(layout.join("blobs/sha256")).unwrap();
        std::fs::write(layout.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        let config_bytes: &[u8] = br#"{"architecture":"amd64","os":"linux"}"#;
        let config = put(layout, config_bytes);
        let layer = put(layout, b"layer");
        let manifest = serde_json::to_vec(&json!({"schemaVersion": 2,
            "config": {"mediaType": media::OCI_CONFIG, "digest": config, "size": config_bytes.len()},
            "layers": [{"mediaType": media::OCI_LAYER_GZIP, "digest": layer, "size": 5}]}))
        .unwrap();
        let manifest_digest = put(layout, &manifest);
        let index = serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": [{"mediaType": media::OCI_MANIFEST,
            "digest": manifest_digest, "size": manifest.len(), "platform": {"os": "linux", "architecture": "amd64"}}]}))
        .unwrap();
        let index_digest = put(layout, &index);
        let top = json!({"schemaVersion": 2, "manifests": [{"mediaType": media::OCI_INDEX, "digest": index_digest,
            "size": index.len()}]});
        std::fs::write(layout.join("index.json"), serde_json::to_vec(&top).unwrap()).unwrap();
        let image = read(layout).unwrap();
        let types: Vec<(&str, &str)> =
            image.manifests.iter().map(|m| (m.digest.as_str(), m.media_type.as_str())).collect();
        assert_eq!(types, [(manifest_digest.as_str(), media::OCI_MANIFEST), (index_digest.as_str(), media::OCI_INDEX)]);
    }

    #[test]
    fn not_a_layout() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(&dir.path().join("nope")), Err(LayoutError::Missing(dir.path().join("nope"))));
        assert_eq!(read(dir.path()), Err(LayoutError::NotALayout(dir.path().to_owned())));
    }
}
