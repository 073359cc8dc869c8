//! Manifests and indexes without `mediaType` (OCI allows it; umoci writes them) on the
//! loopback registries, open and with basic auth: their media type comes from the
//! registry's `Content-Type` (issue 12). Skips without them unless SLIPWAY_REQUIRE_E2E=1.

#![allow(clippy::unwrap_used)] // Test helpers panic on broken fixtures, as tests do.

use serde_json::json;
use sha2::Digest;
use slipway_contract::console::CapturedLog;
use slipway_contract::{CiMode, Secret};
use slipway_registry::auth::Login;
use slipway_registry::media::{OCI_CONFIG, OCI_INDEX, OCI_MANIFEST};
use slipway_registry::push::Destination;
use slipway_registry::{ImageReference, Registry, RegistryOptions};

const AUTH_REGISTRY: &str = "127.0.0.1:5556";

fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

/// Pushes a manifest and an index that name no mediaType to `host`, then reads them back.
async fn round_trip(host: &str, login: Option<Login>) {
    let log = CapturedLog::default();
    let console = log.console("registry-test", CiMode::Plain);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    let repository = format!("{host}/registry-test/no-media-type-{}-{nanos}", std::process::id());
    let at = |tag: &str| ImageReference::parse(&format!("{repository}:{tag}")).unwrap();
    let options = RegistryOptions { login: login.map(|login| (host.to_owned(), login)), ..RegistryOptions::default() };
    let registry = Registry::new(options, &[&at("manifest")], &console);
    let destination = Destination::connect(&registry, &at("manifest")).await.unwrap();

    let config = br#"{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":[]}}"#;
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("config"), config).unwrap();
    destination.upload_file(&digest(config), &work.path().join("config"), None).await.unwrap();
    let manifest = serde_json::to_vec(&json!({"schemaVersion": 2,
        "config": {"mediaType": OCI_CONFIG, "digest": digest(config), "size": config.len()}, "layers": []}))
    .unwrap();
    destination.put_manifest("manifest", OCI_MANIFEST, &manifest).await.unwrap();
    let index = serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": [{"mediaType": OCI_MANIFEST,
        "digest": digest(&manifest), "size": manifest.len(), "platform": {"os": "linux", "architecture": "amd64"}}]}))
    .unwrap();
    destination.put_manifest("index", OCI_INDEX, &index).await.unwrap();

    let by_digest = at("manifest").at_digest(&digest(&manifest));
    for (reference, bytes, expected) in [
        (at("manifest"), &manifest, OCI_MANIFEST),
        (at("index"), &index, OCI_INDEX),
        (by_digest, &manifest, OCI_MANIFEST),
    ] {
        let pulled = registry.pull_manifest(&reference).await.unwrap_or_else(|e| panic!("{reference}: {e}"));
        assert_eq!(pulled.media_type, expected, "{reference}");
        assert_eq!(&pulled.bytes, bytes, "{reference}: served as pushed, without mediaType");
        assert_eq!(pulled.digest, digest(bytes));
    }
}

#[tokio::test]
async fn documents_without_media_type_take_the_registrys_content_type() {
    let Some(open) = slipway_testkit::test_registry() else { return };
    round_trip(&open, None).await;
    let console = CapturedLog::default().console("registry-test", CiMode::Plain);
    let password = Secret::new("slipway-test-password".to_owned(), &console);
    round_trip(AUTH_REGISTRY, Some(Login { username: "slipway".to_owned(), password })).await;
}
