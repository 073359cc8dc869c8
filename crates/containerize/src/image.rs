//! Assembles each platform's config and manifest, and the index over them, as JSON
//! that serialises the same bytes for the same inputs.

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use slipway_registry::media;

use crate::base::{Base, PlatformBase};
use crate::layers::LayerBlob;

pub const ANNOTATION_BASE_NAME: &str = "org.opencontainers.image.base.name";
pub const ANNOTATION_BASE_DIGEST: &str = "org.opencontainers.image.base.digest";
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
pub const ANNOTATION_CREATED: &str = "org.opencontainers.image.created";

/// How the container runs, on top of what the base says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSettings {
    /// `None` keeps the base's entrypoint and command (a WAR in a servlet container).
    pub entrypoint: Option<Vec<String>>,
    pub env: Vec<(String, String)>,
    pub labels: Vec<(String, String)>,
    pub exposed_port: Option<u16>,
    /// `None` keeps the base's user.
    pub user: Option<String>,
    /// `None` keeps the base's working directory.
    pub workdir: Option<String>,
    /// RFC 3339, the image's creation time.
    pub created: String,
}

/// A JSON document as it will be stored: its bytes and descriptor fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    pub media_type: String,
    pub bytes: Vec<u8>,
    pub digest: String,
}

impl Blob {
    pub fn json(media_type: &str, value: &Value) -> Self {
        let bytes = serde_json::to_vec(value).unwrap_or_default();
        let digest = format!("sha256:{}", hex::encode(Sha256::digest(&bytes)));
        Self { media_type: media_type.to_owned(), bytes, digest }
    }

    pub fn descriptor(&self) -> Value {
        json!({"mediaType": self.media_type, "digest": self.digest, "size": self.bytes.len()})
    }
}

/// One built platform image.
#[derive(Debug, Clone)]
pub struct PlatformImage {
    pub base: PlatformBase,
    pub config: Blob,
    pub manifest: Blob,
    /// The layers containerize put on this platform's base, in order.
    pub app_layers: Vec<LayerBlob>,
}

fn object<'a>(value: &'a mut Value, key: &str) -> &'a mut Map<String, Value> {
    if !value.get(key).is_some_and(Value::is_object) {
        value[key] = Value::Object(Map::new());
    }
    value[key].as_object_mut().unwrap_or_else(|| unreachable!("just made an object"))
}

/// The base config with the app on top; every field of the base that slipway does
/// not set is kept as it was.
pub fn build_config(base: &Value, settings: &RunSettings, app_layers: &[LayerBlob]) -> Value {
    let mut config = base.clone();
    config["created"] = settings.created.clone().into();
    {
        let run = object(&mut config, "config");
        let mut env: Vec<String> = run
            .get("Env")
            .and_then(Value::as_array)
            .map(|e| e.iter().filter_map(Value::as_str).map(str::to_owned).collect())
            .unwrap_or_default();
        for (key, value) in &settings.env {
            let prefix = format!("{key}=");
            let entry = format!("{key}={value}");
            match env.iter_mut().find(|existing| existing.starts_with(&prefix)) {
                Some(existing) => *existing = entry,
                None => env.push(entry),
            }
        }
        run.insert("Env".into(), env.into_iter().map(Value::from).collect());
        if let Some(entrypoint) = &settings.entrypoint {
            run.insert("Entrypoint".into(), entrypoint.iter().cloned().map(Value::from).collect());
            // The base's Cmd would become arguments to our entrypoint.
            run.shift_remove("Cmd");
        }
        if let Some(port) = settings.exposed_port {
            let ports = run.entry("ExposedPorts").or_insert_with(|| Value::Object(Map::new()));
            if let Some(ports) = ports.as_object_mut() {
                ports.insert(format!("{port}/tcp"), json!({}));
            }
        }
        if !settings.labels.is_empty() {
            let labels = run.entry("Labels").or_insert_with(|| Value::Object(Map::new()));
            if !labels.is_object() {
                *labels = Value::Object(Map::new());
            }
            if let Some(labels) = labels.as_object_mut() {
                for (key, value) in &settings.labels {
                    labels.insert(key.clone(), value.clone().into());
                }
            }
        }
        if let Some(user) = &settings.user {
            run.insert("User".into(), user.clone().into());
        }
        if let Some(workdir) = &settings.workdir {
            run.insert("WorkingDir".into(), workdir.clone().into());
        }
    }
    {
        let rootfs = object(&mut config, "rootfs");
        rootfs.insert("type".into(), "layers".into());
        let mut diff_ids: Vec<Value> = rootfs.get("diff_ids").and_then(Value::as_array).cloned().unwrap_or_default();
        diff_ids.extend(app_layers.iter().map(|layer| Value::from(layer.diff_id.clone())));
        rootfs.insert("diff_ids".into(), diff_ids.into());
    }
    let mut history: Vec<Value> = config.get("history").and_then(Value::as_array).cloned().unwrap_or_default();
    history.extend(app_layers.iter().map(|layer| {
        json!({"created": settings.created, "created_by": format!("slipway containerize: {} layer", layer.name)})
    }));
    config["history"] = history.into();
    config
}

/// A platform's manifest: the base layers as they are (named with OCI media types),
/// then the app layers.
pub fn build_manifest(base: &Base, platform: &PlatformBase, config: &Blob, app_layers: &[LayerBlob]) -> Blob {
    let mut layers: Vec<Value> = platform
        .layers
        .iter()
        .map(|layer| {
            let mut descriptor = json!({
                "mediaType": media::oci_layer_type(&layer.media_type).unwrap_or(media::OCI_LAYER_GZIP),
                "digest": layer.digest,
                "size": layer.size,
            });
            if let Some(annotations) = &layer.annotations {
                descriptor["annotations"] = json!(annotations);
            }
            descriptor
        })
        .collect();
    layers.extend(
        app_layers
            .iter()
            .map(|layer| json!({"mediaType": layer.media_type, "digest": layer.digest, "size": layer.size})),
    );
    let mut manifest = json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_MANIFEST,
        "config": {"mediaType": media::OCI_CONFIG, "digest": config.digest, "size": config.bytes.len()},
        "layers": layers,
    });
    if !platform.manifest_digest.is_empty() {
        manifest["annotations"] = json!({
            ANNOTATION_BASE_DIGEST: platform.manifest_digest,
            ANNOTATION_BASE_NAME: base.name,
        });
    }
    Blob::json(media::OCI_MANIFEST, &manifest)
}

/// An index over the platform images.
pub fn build_index(base: &Base, images: &[PlatformImage]) -> Blob {
    let manifests: Vec<Value> = images
        .iter()
        .map(|image| {
            let mut descriptor = image.manifest.descriptor();
            descriptor["platform"] = image.base.platform.to_json();
            descriptor
        })
        .collect();
    let mut index = json!({"schemaVersion": 2, "mediaType": media::OCI_INDEX, "manifests": manifests});
    if !base.digest.is_empty() {
        index["annotations"] = json!({ANNOTATION_BASE_DIGEST: base.digest, ANNOTATION_BASE_NAME: base.name});
    }
    Blob::json(media::OCI_INDEX, &index)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> RunSettings {
        RunSettings {
            entrypoint: Some(vec!["java".into(), "-jar".into(), "/app/app.jar".into()]),
            env: vec![("JAVA_HOME".into(), "/opt/jdk".into()), ("APP_ENV".into(), "prod".into())],
            labels: vec![("org.opencontainers.image.version".into(), "1.0.0".into())],
            exposed_port: Some(8080),
            user: Some("65532:65532".into()),
            workdir: Some("/app".into()),
            created: "1970-01-01T00:00:00Z".into(),
        }
    }

    fn layer() -> LayerBlob {
        LayerBlob {
            digest: "sha256:aa".into(),
            diff_id: "sha256:bb".into(),
            size: 10,
            name: "app".into(),
            media_type: media::OCI_LAYER_GZIP,
        }
    }

    #[test]
    fn config_keeps_the_base_and_adds_the_app() {
        let base = json!({
            "architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
            "config": {"Env": ["PATH=/opt/java/bin", "JAVA_HOME=/opt/java"], "Cmd": ["jshell"], "Healthcheck": {"Test": ["NONE"]}},
            "rootfs": {"type": "layers", "diff_ids": ["sha256:base"]},
            "history": [{"created_by": "base"}],
        });
        let config = build_config(&base, &settings(), &[layer()]);
        insta::assert_snapshot!(serde_json::to_string_pretty(&config).unwrap(), @r#"
        {
          "architecture": "amd64",
          "os": "linux",
          "created": "1970-01-01T00:00:00Z",
          "config": {
            "Env": [
              "PATH=/opt/java/bin",
              "JAVA_HOME=/opt/jdk",
              "APP_ENV=prod"
            ],
            "Healthcheck": {
              "Test": [
                "NONE"
              ]
            },
            "Entrypoint": [
              "java",
              "-jar",
              "/app/app.jar"
            ],
            "ExposedPorts": {
              "8080/tcp": {}
            },
            "Labels": {
              "org.opencontainers.image.version": "1.0.0"
            },
            "User": "65532:65532",
            "WorkingDir": "/app"
          },
          "rootfs": {
            "type": "layers",
            "diff_ids": [
              "sha256:base",
              "sha256:bb"
            ]
          },
          "history": [
            {
              "created_by": "base"
            },
            {
              "created": "1970-01-01T00:00:00Z",
              "created_by": "slipway containerize: app layer"
            }
          ]
        }
        "#);
    }

    #[test]
    fn a_war_keeps_the_base_entrypoint_and_user() {
        let base = json!({"config": {"Entrypoint": ["catalina.sh"], "Cmd": ["run"], "User": "tomcat"}});
        let mut war = settings();
        war.entrypoint = None;
        war.user = None;
        war.workdir = None;
        let config = build_config(&base, &war, &[layer()]);
        assert_eq!(config["config"]["Entrypoint"], json!(["catalina.sh"]));
        assert_eq!(config["config"]["Cmd"], json!(["run"]));
        assert_eq!(config["config"]["User"], "tomcat");
    }

    #[test]
    fn blobs_digest_their_bytes() {
        let blob = Blob::json(media::OCI_CONFIG, &json!({"a": 1}));
        assert_eq!(blob.bytes, b"{\"a\":1}");
        assert_eq!(blob.digest, format!("sha256:{}", hex::encode(Sha256::digest(b"{\"a\":1}"))));
        assert_eq!(blob.descriptor()["size"], 7);
    }

    #[test]
    fn the_manifest_names_each_app_layer_with_its_compression() {
        use oci_client::manifest::OciDescriptor;
        let base_layer = OciDescriptor {
            media_type: media::DOCKER_LAYER_GZIP.into(),
            digest: "sha256:base".into(),
            size: 5,
            ..OciDescriptor::default()
        };
        let platform = PlatformBase {
            platform: crate::base::Platform::parse("linux/amd64").unwrap(),
            manifest_digest: String::new(),
            config: json!({}),
            layers: vec![base_layer],
        };
        let base = Base {
            source: crate::base::BaseSource::Scratch,
            name: String::new(),
            digest: String::new(),
            is_index: false,
            platforms: vec![platform.clone()],
        };
        let zstd = LayerBlob { media_type: media::OCI_LAYER_ZSTD, ..layer() };
        let plain = LayerBlob { media_type: media::OCI_LAYER_TAR, digest: "sha256:cc".into(), ..layer() };
        let config = Blob::json(media::OCI_CONFIG, &json!({}));
        let manifest = build_manifest(&base, &platform, &config, &[zstd, plain]);
        let manifest: Value = serde_json::from_slice(&manifest.bytes).unwrap();
        let types: Vec<&str> =
            manifest["layers"].as_array().unwrap().iter().map(|l| l["mediaType"].as_str().unwrap()).collect();
        assert_eq!(types, [media::OCI_LAYER_GZIP, media::OCI_LAYER_ZSTD, media::OCI_LAYER_TAR]);
    }
}
