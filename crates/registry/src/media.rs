//! Media types of manifests and layers, OCI and Docker.

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
/// The empty config of an artifact manifest (OCI 1.1): `{}`.
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
pub const DOCKER_FOREIGN_LAYER: &str = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";

/// Every manifest type a pull accepts.
pub const MANIFEST_TYPES: [&str; 4] = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST];

/// The media type of a manifest or index document. OCI lets a document leave out its
/// `mediaType` (umoci does), and then the registry's `Content-Type` or the descriptor
/// that points at it says what it is: `given`, used only when it names a manifest or an
/// index. Without either, the content decides: `manifests` makes an index, `config` or
/// `layers` a manifest. A document without `mediaType` is OCI: Docker's always have one.
/// `None` when the bytes are not a JSON object or none of these applies.
pub fn manifest_media_type(bytes: &[u8], given: Option<&str>) -> Option<String> {
    let document: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    let document = document.as_object()?;
    if let Some(declared) = document.get("mediaType").and_then(|m| m.as_str()).filter(|m| !m.is_empty()) {
        return Some(declared.to_owned());
    }
    // `application/vnd.oci.image.index.v1+json; charset=utf-8` names the index type too.
    let given = given.and_then(|g| g.split(';').next()).map(str::trim).filter(|g| MANIFEST_TYPES.contains(g));
    if let Some(given) = given {
        return Some(given.to_owned());
    }
    if document.contains_key("manifests") {
        Some(OCI_INDEX.to_owned())
    } else if document.contains_key("config") || document.contains_key("layers") {
        Some(OCI_MANIFEST.to_owned())
    } else {
        None
    }
}

pub fn is_index(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_MANIFEST_LIST
}

/// The OCI media type for a layer of `media_type`: Docker's gzip layers are the same
/// bytes as OCI's, so an OCI manifest may name them with the OCI type.
pub fn oci_layer_type(media_type: &str) -> Option<&'static str> {
    match media_type {
        OCI_LAYER_GZIP | DOCKER_LAYER_GZIP => Some(OCI_LAYER_GZIP),
        OCI_LAYER_TAR => Some(OCI_LAYER_TAR),
        OCI_LAYER_ZSTD => Some(OCI_LAYER_ZSTD),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_without_media_type_takes_it_from_its_server_or_descriptor_then_its_content() {
        let umoci = br#"{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:d3","size":1},"layers":[]}"#;
        let index = br#"{"schemaVersion":2,"manifests":[]}"#;
        let declared =
            br#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{}}"#;
        let cases: [(&[u8], Option<&str>, Option<&str>); 12] = [
            (declared, Some(OCI_MANIFEST), Some(DOCKER_MANIFEST)),
            (umoci, Some(OCI_MANIFEST), Some(OCI_MANIFEST)),
            (umoci, Some("application/vnd.oci.image.manifest.v1+json; charset=utf-8"), Some(OCI_MANIFEST)),
            (umoci, Some(DOCKER_MANIFEST), Some(DOCKER_MANIFEST)),
            (umoci, Some("application/json"), Some(OCI_MANIFEST)),
            (umoci, Some("application/octet-stream"), Some(OCI_MANIFEST)),
            (umoci, None, Some(OCI_MANIFEST)),
            (index, Some(OCI_INDEX), Some(OCI_INDEX)),
            (index, Some(""), Some(OCI_INDEX)),
            (index, None, Some(OCI_INDEX)),
            (br#"{"schemaVersion":2}"#, Some("text/plain"), None),
            (b"not json", Some(OCI_MANIFEST), None),
        ];
        for (bytes, given, expected) in cases {
            let text = String::from_utf8_lossy(bytes);
            assert_eq!(manifest_media_type(bytes, given).as_deref(), expected, "{text} given {given:?}");
        }
        assert_eq!(manifest_media_type(br#"{"layers":[]}"#, None).as_deref(), Some(OCI_MANIFEST));
        assert_eq!(manifest_media_type(b"[]", Some(OCI_INDEX)), None, "a manifest is an object");
    }

    #[test]
    fn docker_layers_map_to_oci() {
        assert_eq!(oci_layer_type(DOCKER_LAYER_GZIP), Some(OCI_LAYER_GZIP));
        assert_eq!(oci_layer_type(OCI_LAYER_ZSTD), Some(OCI_LAYER_ZSTD));
        assert_eq!(oci_layer_type(DOCKER_FOREIGN_LAYER), None);
        assert!(is_index(DOCKER_MANIFEST_LIST) && is_index(OCI_INDEX) && !is_index(OCI_MANIFEST));
    }
}
