//! The base image: a registry reference, a local OCI layout (`oci:DIR[:TAG]`) or
//! `scratch`, resolved to one manifest and config per platform, recorded by digest.
//! Base layers are not downloaded here; only manifests and configs are.

use std::path::{Path, PathBuf};

use oci_client::manifest::OciDescriptor;
use serde_json::Value;
use slipway_registry::media::{self, is_index};
use slipway_registry::{ImageReference, Registry, RegistryError};

/// `os/architecture[/variant]`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    pub fn parse(text: &str) -> Result<Self, String> {
        let parts: Vec<&str> = text.trim().split('/').collect();
        let valid = |part: &&str| !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        match parts.as_slice() {
            [os, architecture] if valid(os) && valid(architecture) => {
                Ok(Self { os: (*os).to_owned(), architecture: (*architecture).to_owned(), variant: None })
            }
            [os, architecture, variant] if valid(os) && valid(architecture) && valid(variant) => Ok(Self {
                os: (*os).to_owned(),
                architecture: (*architecture).to_owned(),
                variant: Some((*variant).to_owned()),
            }),
            _ => Err(format!("`{text}` is not a platform; write it like linux/amd64 or linux/arm64/v8")),
        }
    }

    /// The machine's own platform, in OCI's names.
    pub fn host() -> Self {
        let architecture = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "powerpc64" => "ppc64le",
            other => other,
        };
        Self { os: "linux".to_owned(), architecture: architecture.to_owned(), variant: None }
    }

    /// Whether a requested platform selects this one (`linux/arm64` selects `linux/arm64/v8`).
    pub fn selected_by(&self, wanted: &Platform) -> bool {
        self.os == wanted.os
            && self.architecture == wanted.architecture
            && (wanted.variant.is_none() || wanted.variant == self.variant)
    }

    fn from_json(value: &Value) -> Option<Self> {
        Some(Self {
            os: value.get("os")?.as_str()?.to_owned(),
            architecture: value.get("architecture")?.as_str()?.to_owned(),
            variant: value.get("variant").and_then(Value::as_str).filter(|v| !v.is_empty()).map(str::to_owned),
        })
    }

    pub fn to_json(&self) -> Value {
        let mut object = serde_json::Map::new();
        object.insert("architecture".into(), self.architecture.clone().into());
        object.insert("os".into(), self.os.clone().into());
        if let Some(variant) = &self.variant {
            object.insert("variant".into(), variant.clone().into());
        }
        Value::Object(object)
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

/// Where the base comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BaseSource {
    Registry(ImageReference),
    Layout { dir: PathBuf, tag: Option<String> },
    Scratch,
}

impl BaseSource {
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text == "scratch" {
            return Ok(Self::Scratch);
        }
        if let Some(rest) = text.strip_prefix("oci:") {
            // `oci:DIR:TAG`; a DIR may itself hold a colon only when a tag follows.
            let (dir, tag) = match rest.rsplit_once(':') {
                Some((dir, tag)) if !tag.contains('/') && !dir.is_empty() => (dir, Some(tag.to_owned())),
                _ => (rest, None),
            };
            if dir.is_empty() {
                return Err("`oci:` needs a directory: oci:DIR or oci:DIR:TAG".to_owned());
            }
            return Ok(Self::Layout { dir: PathBuf::from(dir), tag });
        }
        ImageReference::parse(text).map(Self::Registry)
    }
}

/// One platform's base image.
#[derive(Debug, Clone)]
pub struct PlatformBase {
    pub platform: Platform,
    /// The platform manifest's digest (`org.opencontainers.image.base.digest`).
    pub manifest_digest: String,
    /// The base config as served, every field kept.
    pub config: Value,
    pub layers: Vec<OciDescriptor>,
}

/// The resolved base.
#[derive(Debug, Clone)]
pub struct Base {
    pub source: BaseSource,
    /// How the base is named in annotations (`docker.io/library/eclipse-temurin:21-jre`).
    pub name: String,
    /// The digest `--base` resolved to: the index's when it is an index.
    pub digest: String,
    pub is_index: bool,
    pub platforms: Vec<PlatformBase>,
}

#[derive(Debug, thiserror::Error)]
pub enum BaseError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("the base {base} has no image for {wanted}; it has {available}")]
    NoPlatform { base: String, wanted: String, available: String },
    #[error("{0}")]
    Invalid(String),
}

impl BaseError {
    pub fn is_usage(&self) -> bool {
        match self {
            Self::Registry(error) => error.is_usage(),
            Self::NoPlatform { .. } | Self::Invalid(_) => true,
        }
    }
}

/// Reads a manifest or blob from a local OCI layout.
fn layout_blob(dir: &Path, digest: &str) -> Result<Vec<u8>, BaseError> {
    let path = dir.join("blobs").join(digest.replace(':', "/"));
    std::fs::read(&path)
        .map_err(|e| BaseError::Invalid(format!("the base layout {} lacks blob {digest}: {e}", dir.display())))
}

fn parse_json(bytes: &[u8], what: &str) -> Result<Value, BaseError> {
    serde_json::from_slice(bytes).map_err(|e| BaseError::Invalid(format!("{what} is not valid JSON: {e}")))
}

fn descriptor(value: &Value) -> Option<OciDescriptor> {
    serde_json::from_value(value.clone()).ok()
}

/// Resolves `source` to manifests and configs for the `wanted` platforms (every linux
/// platform of an index when empty).
pub async fn resolve(source: &BaseSource, wanted: &[Platform], registry: &Registry) -> Result<Base, BaseError> {
    match source {
        BaseSource::Scratch => {
            let platforms = if wanted.is_empty() { vec![Platform::host()] } else { wanted.to_vec() };
            let platforms = platforms
                .into_iter()
                .map(|platform| {
                    let mut config = serde_json::json!({"architecture": platform.architecture, "os": platform.os,
                        "config": {}, "rootfs": {"type": "layers", "diff_ids": []}});
                    if let Some(variant) = &platform.variant {
                        config["variant"] = variant.clone().into();
                    }
                    PlatformBase { platform, manifest_digest: String::new(), config, layers: Vec::new() }
                })
                .collect();
            Ok(Base {
                source: source.clone(),
                name: String::new(),
                digest: String::new(),
                is_index: wanted.len() > 1,
                platforms,
            })
        }
        BaseSource::Layout { dir, tag } => resolve_layout(source, dir, tag.as_deref(), wanted),
        BaseSource::Registry(reference) => resolve_registry(source, reference, wanted, registry).await,
    }
}

fn resolve_layout(source: &BaseSource, dir: &Path, tag: Option<&str>, wanted: &[Platform]) -> Result<Base, BaseError> {
    let index_path = dir.join("index.json");
    let index = parse_json(
        &std::fs::read(&index_path)
            .map_err(|e| BaseError::Invalid(format!("{} is not an OCI layout: {e}", dir.display())))?,
        "index.json",
    )?;
    let manifests = index.get("manifests").and_then(Value::as_array).cloned().unwrap_or_default();
    let ref_name = |m: &Value| {
        m.pointer("/annotations/org.opencontainers.image.ref.name").and_then(Value::as_str).map(str::to_owned)
    };
    let chosen = match tag {
        Some(tag) => manifests.iter().find(|m| ref_name(m).as_deref() == Some(tag)),
        None if manifests.len() == 1 => manifests.first(),
        None => None,
    }
    .ok_or_else(|| {
        let names: Vec<String> = manifests.iter().filter_map(ref_name).collect();
        BaseError::Invalid(format!(
            "the base layout {} has no image {}; it has: {}",
            dir.display(),
            tag.map_or_else(|| "without a tag (name one: oci:DIR:TAG)".to_owned(), |t| format!("tagged {t}")),
            if names.is_empty() { "none named".to_owned() } else { names.join(", ") }
        ))
    })?;
    let top = descriptor(chosen).ok_or_else(|| BaseError::Invalid("index.json holds an invalid descriptor".into()))?;
    let name = format!("oci:{}{}", dir.display(), tag.map(|t| format!(":{t}")).unwrap_or_default());
    let fetch = |digest: &str| layout_blob(dir, digest);
    let (is_index, platforms) =
        read_platforms(&top.media_type, &top.digest, &fetch(&top.digest)?, wanted, &name, |d| fetch(d))?;
    Ok(Base { source: source.clone(), name, digest: top.digest, is_index, platforms })
}

/// Reads the platforms of a manifest or index whose children come from `fetch`.
fn read_platforms(
    media_type: &str,
    digest: &str,
    bytes: &[u8],
    wanted: &[Platform],
    name: &str,
    fetch: impl Fn(&str) -> Result<Vec<u8>, BaseError>,
) -> Result<(bool, Vec<PlatformBase>), BaseError> {
    let document = parse_json(bytes, "the base manifest")?;
    // The document's own mediaType, else its descriptor's (umoci leaves it out), else its content.
    let media_type = media::manifest_media_type(bytes, Some(media_type)).unwrap_or_default();
    if is_index(&media_type) {
        let entries = choose_platforms(&document, wanted, name)?;
        let mut platforms = Vec::new();
        for (platform, child) in entries {
            let manifest = parse_json(&fetch(&child.digest)?, "a base platform manifest")?;
            platforms.push(platform_base(platform, &child.digest, &manifest, &fetch)?);
        }
        Ok((true, platforms))
    } else {
        let config_descriptor = document
            .get("config")
            .and_then(descriptor)
            .ok_or_else(|| BaseError::Invalid(format!("the base {name} has a manifest without config")))?;
        let config = parse_json(&fetch(&config_descriptor.digest)?, "the base config")?;
        let platform = Platform::from_json(&config).unwrap_or_else(Platform::host);
        if !wanted.is_empty() && !wanted.iter().any(|w| platform.selected_by(w)) {
            return Err(BaseError::NoPlatform {
                base: name.to_owned(),
                wanted: join(wanted),
                available: platform.to_string(),
            });
        }
        Ok((false, vec![platform_base(platform, digest, &document, &fetch)?]))
    }
}

fn join(platforms: &[Platform]) -> String {
    platforms.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

fn platform_base(
    platform: Platform,
    digest: &str,
    manifest: &Value,
    fetch: &impl Fn(&str) -> Result<Vec<u8>, BaseError>,
) -> Result<PlatformBase, BaseError> {
    let config_descriptor = manifest
        .get("config")
        .and_then(descriptor)
        .ok_or_else(|| BaseError::Invalid(format!("the base manifest {digest} has no config")))?;
    let config = parse_json(&fetch(&config_descriptor.digest)?, "the base config")?;
    let layers: Vec<OciDescriptor> = manifest
        .get("layers")
        .and_then(Value::as_array)
        .map(|layers| layers.iter().filter_map(descriptor).collect())
        .unwrap_or_default();
    for layer in &layers {
        if media::oci_layer_type(&layer.media_type).is_none() {
            let non_distributable =
                layer.media_type.contains("nondistributable") || layer.media_type.contains("foreign");
            return Err(BaseError::Invalid(if non_distributable {
                format!(
                    "the base has a non-distributable layer ({}, {}): its licence keeps it out of other registries, so containerize cannot copy it; build on a base without one",
                    layer.media_type, layer.digest
                )
            } else {
                format!("the base has a layer of type {} that an OCI image cannot carry", layer.media_type)
            }));
        }
    }
    Ok(PlatformBase { platform, manifest_digest: digest.to_owned(), config, layers })
}

/// The index entries to build on: linux platforms, filtered by `wanted`.
fn choose_platforms(
    index: &Value,
    wanted: &[Platform],
    name: &str,
) -> Result<Vec<(Platform, OciDescriptor)>, BaseError> {
    let mut available: Vec<(Platform, OciDescriptor)> = index
        .get("manifests")
        .and_then(Value::as_array)
        .map(|entries| {
            entries
                .iter()
                .filter_map(|entry| Some((Platform::from_json(entry.get("platform")?)?, descriptor(entry)?)))
                // Attestation manifests carry platform unknown/unknown.
                .filter(|(platform, _)| platform.os == "linux")
                .collect()
        })
        .unwrap_or_default();
    available.sort_by(|a, b| a.0.cmp(&b.0));
    if wanted.is_empty() {
        if available.is_empty() {
            return Err(BaseError::Invalid(format!("the base {name} is an index without linux images")));
        }
        return Ok(available);
    }
    let mut chosen = Vec::new();
    for want in wanted {
        let found =
            available.iter().find(|(platform, _)| platform.selected_by(want)).ok_or_else(|| BaseError::NoPlatform {
                base: name.to_owned(),
                wanted: want.to_string(),
                available: available.iter().map(|(p, _)| p.to_string()).collect::<Vec<_>>().join(", "),
            })?;
        if !chosen.iter().any(|(p, _): &(Platform, OciDescriptor)| p == &found.0) {
            chosen.push(found.clone());
        }
    }
    Ok(chosen)
}

async fn resolve_registry(
    source: &BaseSource,
    reference: &ImageReference,
    wanted: &[Platform],
    registry: &Registry,
) -> Result<Base, BaseError> {
    let top = registry.pull_manifest(reference).await?;
    let name = reference.to_string();
    let document = parse_json(&top.bytes, "the base manifest")?;
    let mut platforms = Vec::new();
    let is_index = is_index(&top.media_type);
    let blob = |digest: &str| OciDescriptor { digest: digest.to_owned(), ..OciDescriptor::default() };
    if is_index {
        for (platform, child) in choose_platforms(&document, wanted, &name)? {
            let child_manifest = registry.pull_manifest(&reference.at_digest(&child.digest)).await?;
            let manifest = parse_json(&child_manifest.bytes, "a base platform manifest")?;
            platforms.push(fetch_platform(registry, reference, platform, &child.digest, &manifest).await?);
        }
    } else {
        let config_descriptor = document
            .get("config")
            .and_then(descriptor)
            .ok_or_else(|| BaseError::Invalid(format!("the base {name} has a manifest without config")))?;
        let config_bytes = registry.pull_blob_bytes(reference, &blob(&config_descriptor.digest)).await?;
        let config = parse_json(&config_bytes, "the base config")?;
        let platform = Platform::from_json(&config).unwrap_or_else(Platform::host);
        if !wanted.is_empty() && !wanted.iter().any(|w| platform.selected_by(w)) {
            return Err(BaseError::NoPlatform { base: name, wanted: join(wanted), available: platform.to_string() });
        }
        let fetched = read_platforms(&top.media_type, &top.digest, &top.bytes, &[], &name, |digest| {
            if digest == config_descriptor.digest {
                Ok(config_bytes.clone())
            } else {
                Err(BaseError::Invalid(format!("unexpected blob {digest}")))
            }
        })?;
        platforms = fetched.1;
    }
    Ok(Base { source: source.clone(), name, digest: top.digest, is_index, platforms })
}

async fn fetch_platform(
    registry: &Registry,
    reference: &ImageReference,
    platform: Platform,
    digest: &str,
    manifest: &Value,
) -> Result<PlatformBase, BaseError> {
    let config_descriptor = manifest
        .get("config")
        .and_then(descriptor)
        .ok_or_else(|| BaseError::Invalid(format!("the base manifest {digest} has no config")))?;
    let config_bytes = registry.pull_blob_bytes(reference, &config_descriptor).await?;
    platform_base(platform, digest, manifest, &|wanted: &str| {
        if wanted == config_descriptor.digest {
            Ok(config_bytes.clone())
        } else {
            Err(BaseError::Invalid(format!("unexpected blob {wanted}")))
        }
    })
}

/// The Java feature release a base provides, from its `JAVA_VERSION` environment
/// variable (`17.0.15`, `jdk-21.0.5+11`, `1.8.0_412`), when it has one.
pub fn base_java_release(config: &Value) -> Option<u16> {
    let env = config.pointer("/config/Env")?.as_array()?;
    let value = env.iter().filter_map(Value::as_str).find_map(|entry| entry.strip_prefix("JAVA_VERSION="))?;
    let version = value.trim_start_matches("jdk-").trim_start_matches("jdk").trim_start_matches('-');
    let mut numbers = version.split(|c: char| !c.is_ascii_digit()).filter(|part| !part.is_empty());
    let first: u16 = numbers.next()?.parse().ok()?;
    if first == 1 { numbers.next()?.parse().ok() } else { Some(first) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_parse_and_select() {
        let arm = Platform::parse("linux/arm64/v8").unwrap();
        assert_eq!(arm.to_string(), "linux/arm64/v8");
        assert!(arm.selected_by(&Platform::parse("linux/arm64").unwrap()));
        assert!(!Platform::parse("linux/arm64").unwrap().selected_by(&arm));
        assert!(Platform::parse("linux").is_err());
        assert!(Platform::parse("linux/amd64/v2/x").is_err());
        assert!(Platform::parse("linux//v2").is_err());
    }

    #[test]
    fn base_sources() {
        assert_eq!(BaseSource::parse("scratch").unwrap(), BaseSource::Scratch);
        assert_eq!(
            BaseSource::parse("oci:/tmp/base:17").unwrap(),
            BaseSource::Layout { dir: "/tmp/base".into(), tag: Some("17".into()) }
        );
        assert_eq!(
            BaseSource::parse("oci:./layout").unwrap(),
            BaseSource::Layout { dir: "./layout".into(), tag: None }
        );
        assert!(matches!(BaseSource::parse("eclipse-temurin:21-jre").unwrap(), BaseSource::Registry(_)));
        assert!(BaseSource::parse("Bad Ref").is_err());
        assert!(BaseSource::parse("oci:").is_err());
    }

    #[test]
    fn java_versions_of_bases() {
        let config = |v: &str| serde_json::json!({"config": {"Env": ["PATH=/bin", format!("JAVA_VERSION={v}")]}});
        assert_eq!(base_java_release(&config("17.0.15")), Some(17));
        assert_eq!(base_java_release(&config("jdk-21.0.5+11")), Some(21));
        assert_eq!(base_java_release(&config("1.8.0_412")), Some(8));
        assert_eq!(base_java_release(&serde_json::json!({"config": {"Env": ["PATH=/bin"]}})), None);
    }

    #[test]
    fn index_platforms_skip_attestations_and_honour_the_request() {
        let index = serde_json::json!({"manifests": [
            {"mediaType": media::OCI_MANIFEST, "digest": format!("sha256:{}", "1".repeat(64)), "size": 1, "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
            {"mediaType": media::OCI_MANIFEST, "digest": format!("sha256:{}", "2".repeat(64)), "size": 1, "platform": {"os": "linux", "architecture": "amd64"}},
            {"mediaType": media::OCI_MANIFEST, "digest": format!("sha256:{}", "3".repeat(64)), "size": 1, "platform": {"os": "unknown", "architecture": "unknown"}},
        ]});
        let all = choose_platforms(&index, &[], "base").unwrap();
        let names: Vec<String> = all.iter().map(|(p, _)| p.to_string()).collect();
        assert_eq!(names, ["linux/amd64", "linux/arm64/v8"]);
        let arm = choose_platforms(&index, &[Platform::parse("linux/arm64").unwrap()], "base").unwrap();
        assert_eq!(arm.len(), 1);
        let error = choose_platforms(&index, &[Platform::parse("linux/s390x").unwrap()], "base").unwrap_err();
        assert_eq!(error.to_string(), "the base base has no image for linux/s390x; it has linux/amd64, linux/arm64/v8");
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn platforms_round_trip(os in "[a-z0-9_]{1,8}", architecture in "[a-zA-Z0-9_]{1,8}", variant in proptest::option::of("[a-z0-9]{1,4}")) {
            let platform = Platform { os, architecture, variant };
            prop_assert_eq!(Platform::parse(&platform.to_string()), Ok(platform.clone()));
            prop_assert_eq!(Platform::from_json(&platform.to_json()), Some(platform));
        }

        #[test]
        fn any_platform_text_is_a_platform_or_one_error(text in "[a-z0-9/_ .-]{0,20}|.{0,10}") {
            match Platform::parse(&text) {
                Ok(platform) => prop_assert_eq!(Platform::parse(&platform.to_string()), Ok(platform)),
                Err(message) => prop_assert!(message.contains("is not a platform")),
            }
        }

        #[test]
        fn layout_bases_keep_their_directory_and_tag(dir in "/[a-z0-9_./-]{1,20}", tag in proptest::option::of("[A-Za-z0-9_][A-Za-z0-9_.-]{0,10}")) {
            let text = match &tag { Some(tag) => format!("oci:{dir}:{tag}"), None => format!("oci:{dir}") };
            prop_assert_eq!(BaseSource::parse(&text), Ok(BaseSource::Layout { dir: PathBuf::from(&dir), tag }));
        }

        #[test]
        fn any_base_text_is_a_base_or_one_error(text in any::<String>()) {
            let _ = BaseSource::parse(&text);
        }
    }
}
