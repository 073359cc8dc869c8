//! The image's software bill of materials: CycloneDX 1.6 JSON of what the image carries of
//! the app (its own package, the packages it bundles) and the base it stands on, by digest.
//!
//! Written with serde structs rather than the `cyclonedx-bom` crate: that crate writes
//! CycloneDX 1.3 to 1.5 only, and this document needs a dozen fields of 1.6.
//!
//! Byte-reproducible: the timestamp is the image's creation time (SOURCE_DATE_EPOCH or
//! --creation-time), components are sorted, and the serial number is derived from the
//! document's own content rather than drawn at random.

use serde::Serialize;
use sha2::{Digest, Sha256};
use slipway_artifact::{Artifact, ArtifactKind, Evidence, Inventory, Package};

use crate::base::{Base, BaseSource};
use crate::plan::{APP_DIR, Plan, format_time};

/// The SBOM's file name inside the OCI layout containerize writes.
pub const SBOM_FILE: &str = "sbom.cdx.json";
/// The media type of a CycloneDX JSON document (the OCI referrer's artifactType).
pub const MEDIA_TYPE: &str = "application/vnd.cyclonedx+json";

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Bom {
    #[serde(rename = "$schema")]
    schema: &'static str,
    bom_format: &'static str,
    spec_version: &'static str,
    #[serde(skip_serializing_if = "String::is_empty")]
    serial_number: String,
    version: u32,
    metadata: Metadata,
    components: Vec<Component>,
    dependencies: Vec<Dependency>,
}

#[derive(Debug, Serialize)]
struct Metadata {
    timestamp: String,
    tools: Tools,
    component: Component,
}

#[derive(Debug, Serialize)]
struct Tools {
    components: Vec<Component>,
}

#[derive(Debug, Clone, Serialize)]
struct Component {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(rename = "bom-ref")]
    bom_ref: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    group: Option<String>,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    purl: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    hashes: Vec<Hash>,
    #[serde(skip_serializing_if = "Option::is_none")]
    evidence: Option<ComponentEvidence>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    properties: Vec<Property>,
}

#[derive(Debug, Clone, Serialize)]
struct Hash {
    alg: &'static str,
    content: String,
}

#[derive(Debug, Clone, Serialize)]
struct ComponentEvidence {
    occurrences: Vec<Occurrence>,
}

#[derive(Debug, Clone, Serialize)]
struct Occurrence {
    location: String,
}

#[derive(Debug, Clone, Serialize)]
struct Property {
    name: &'static str,
    value: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Dependency {
    #[serde(rename = "ref")]
    reference: String,
    depends_on: Vec<String>,
}

/// Where the artifact lies in the image, as the SBOM's occurrences name it.
fn artifact_location(plan: &Plan, artifact: &Artifact) -> String {
    let file_name = artifact.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    match artifact.kind {
        ArtifactKind::FatJar | ArtifactKind::Native => format!("{APP_DIR}/{file_name}"),
        ArtifactKind::Dist => APP_DIR.to_owned(),
        ArtifactKind::War => format!("{}/ROOT.war", plan.webapps_dir),
    }
}

/// A package's location in the image: a path, or `archive!/entry` inside the jar or war.
fn package_location(plan: &Plan, artifact: &Artifact, package: &Package) -> String {
    match artifact.kind {
        ArtifactKind::Dist => format!("{APP_DIR}/{}", package.location),
        ArtifactKind::FatJar | ArtifactKind::War | ArtifactKind::Native => {
            format!("{}!/{}", artifact_location(plan, artifact), package.location)
        }
    }
}

fn component(kind: &'static str, package: &Package, location: String) -> Component {
    let purl = package.purl();
    let version = Some(package.version.clone()).filter(|v| !v.is_empty());
    let bom_ref = purl.clone().unwrap_or_else(|| format!("{}@{}:{location}", package.name, package.version));
    let evidence = match package.evidence {
        Evidence::PomProperties => "pom.properties",
        Evidence::Manifest => "manifest",
        Evidence::FileName => "file-name",
    };
    let mut properties = vec![Property { name: "slipway:identified-by", value: evidence.to_owned() }];
    if package.sha256.is_none() {
        // Shaded into the fat JAR: the package's own jar is not in the image to be hashed.
        properties.push(Property { name: "slipway:hash", value: "none: shaded into the application jar".to_owned() });
    }
    Component {
        kind,
        bom_ref,
        group: Some(package.group.clone()).filter(|g| !g.is_empty()),
        name: package.name.clone(),
        version,
        purl,
        hashes: package.sha256.iter().map(|hex| Hash { alg: "SHA-256", content: hex.clone() }).collect(),
        evidence: Some(ComponentEvidence { occurrences: vec![Occurrence { location }] }),
        properties,
    }
}

/// The base image as a component: `pkg:oci` by digest, with its repository.
fn base_component(base: &Base) -> Option<Component> {
    let (name, repository_url) = match &base.source {
        BaseSource::Scratch => return None,
        BaseSource::Registry(reference) => {
            let repository = reference.repository().to_owned();
            let name = repository.rsplit('/').next().unwrap_or(&repository).to_owned();
            (name, Some(format!("{}/{repository}", reference.registry())))
        }
        BaseSource::Layout { dir, .. } => {
            (dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "base".to_owned()), None)
        }
    };
    let hex = base.digest.strip_prefix("sha256:").unwrap_or(&base.digest).to_owned();
    let mut purl = format!("pkg:oci/{}@sha256%3A{hex}", name.to_ascii_lowercase());
    if let Some(url) = &repository_url {
        purl.push_str(&format!("?repository_url={}", url.replace(':', "%3A")));
    }
    Some(Component {
        kind: "container",
        bom_ref: purl.clone(),
        group: None,
        name: base.name.clone(),
        version: Some(base.digest.clone()),
        purl: Some(purl),
        hashes: vec![Hash { alg: "SHA-256", content: hex }],
        evidence: None,
        properties: vec![Property { name: "slipway:role", value: "base image".to_owned() }],
    })
}

/// The SBOM of the image `plan` builds on `base`, as the bytes written to the layout.
pub fn sbom(plan: &Plan, artifact: &Artifact, inventory: &Inventory, base: &Base) -> Vec<u8> {
    let app_location = match artifact.kind {
        ArtifactKind::Dist => package_location(plan, artifact, &inventory.app),
        ArtifactKind::FatJar | ArtifactKind::War | ArtifactKind::Native => artifact_location(plan, artifact),
    };
    let mut app = component("application", &inventory.app, app_location);
    if let Some(native) = &artifact.native {
        // What is known of a native executable: its hash (above), and from its ELF headers
        // how it links; the Java packages compiled into it are not listed (no jar names them).
        app.properties.push(Property { name: "slipway:native-architecture", value: native.architecture.clone() });
        app.properties.push(Property { name: "slipway:native-linkage", value: native.linkage.as_str().to_owned() });
        if let Some(interpreter) = &native.interpreter {
            app.properties.push(Property { name: "slipway:native-interpreter", value: interpreter.clone() });
        }
        for library in &native.needs {
            app.properties.push(Property { name: "slipway:native-needs", value: library.clone() });
        }
    }
    let mut components: Vec<Component> = Vec::new();
    for package in &inventory.packages {
        let library = component("library", package, package_location(plan, artifact, package));
        if library.bom_ref != app.bom_ref && !components.iter().any(|c| c.bom_ref == library.bom_ref) {
            components.push(library);
        }
    }
    components.sort_by(|a, b| a.bom_ref.cmp(&b.bom_ref));
    let libraries: Vec<String> = components.iter().map(|c| c.bom_ref.clone()).collect();
    let base_component = base_component(base);
    let image_name =
        plan.image.as_ref().map(|image| image.name()).unwrap_or_else(|| format!("{}-image", inventory.app.name));
    let image = Component {
        kind: "container",
        bom_ref: "image".to_owned(),
        group: None,
        name: image_name,
        version: app.version.clone(),
        purl: None,
        hashes: Vec::new(),
        evidence: None,
        properties: Vec::new(),
    };
    let mut image_parts = vec![app.bom_ref.clone()];
    image_parts.extend(base_component.iter().map(|b| b.bom_ref.clone()));
    let dependencies = vec![
        Dependency { reference: image.bom_ref.clone(), depends_on: image_parts },
        Dependency { reference: app.bom_ref.clone(), depends_on: libraries },
    ];
    let mut all = vec![app];
    all.extend(base_component);
    all.extend(components);
    let tool = Component {
        kind: "application",
        bom_ref: "tool:slipway-containerize".to_owned(),
        group: Some("dev.slipway".to_owned()),
        name: "containerize".to_owned(),
        version: Some(env!("CARGO_PKG_VERSION").to_owned()),
        purl: None,
        hashes: Vec::new(),
        evidence: None,
        properties: Vec::new(),
    };
    let mut bom = Bom {
        schema: "http://cyclonedx.org/schema/bom-1.6.schema.json",
        bom_format: "CycloneDX",
        spec_version: "1.6",
        serial_number: String::new(),
        version: 1,
        metadata: Metadata {
            timestamp: format_time(plan.creation_time),
            tools: Tools { components: vec![tool] },
            component: image,
        },
        components: all,
        dependencies,
    };
    // The serial number names this content: the same inputs give the same document.
    let content = serde_json::to_vec(&bom).unwrap_or_default();
    bom.serial_number = format!("urn:uuid:{}", name_based_uuid(&content));
    let mut bytes = serde_json::to_vec_pretty(&bom).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

/// A version 5 (name-based) UUID from the SHA-256 of `name`, formatted.
fn name_based_uuid(name: &[u8]) -> String {
    let hash = Sha256::digest(name);
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&hash[..16]);
    bytes[6] = (bytes[6] & 0x0f) | 0x50;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = hex::encode(bytes);
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_based_uuids_are_version_5_and_stable() {
        let uuid = name_based_uuid(b"slipway");
        assert_eq!(uuid, name_based_uuid(b"slipway"));
        assert_ne!(uuid, name_based_uuid(b"slipway!"));
        let parts: Vec<&str> = uuid.split('-').collect();
        assert_eq!(parts.iter().map(|p| p.len()).collect::<Vec<_>>(), [8, 4, 4, 4, 12]);
        assert!(parts[2].starts_with('5'));
        assert!(matches!(parts[3].chars().next(), Some('8' | '9' | 'a' | 'b')));
    }
}
