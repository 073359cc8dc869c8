//! Base images of every shape a registry serves (issue 12's interop matrix), pushed to
//! the loopback registry byte for byte by this test (blob uploads and manifest PUTs of
//! the distribution API): an OCI index with a BuildKit attestation manifest, a Docker
//! schema 2 manifest list, gzip, uncompressed and zstd layers, a manifest with
//! annotations, and a non-distributable layer. containerize must build on each, keep
//! every base layer as it is (digest and compression), skip what is not an image, and
//! refuse what it cannot carry with one line and exit 2.

#![allow(clippy::unwrap_used)] // Test helpers panic on broken fixtures, as tests do.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use slipway_testkit::{class_bytes, run_with_sinks, step_command, test_registry, write_zip};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

/// One HTTP/1.1 exchange with the loopback registry; the status and the head.
fn exchange(port: u16, method: &str, path: &str, content_type: &str, body: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, answer)
}

/// The registry under test, as host:port and port.
struct Registry {
    host: String,
    port: u16,
    repository: String,
}

impl Registry {
    fn new(name: &str) -> Option<Self> {
        let host = test_registry()?;
        let port = host.rsplit(':').next()?.parse().ok()?;
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
        let repository = format!("containerize-test/interop-{name}-{}-{nanos}", std::process::id());
        Some(Self { host, port, repository })
    }

    /// Uploads a blob (an upload session, then one PUT of the whole); its descriptor
    /// with `media_type`.
    fn blob(&self, media_type: &str, bytes: &[u8]) -> Value {
        let digest = sha256(bytes);
        let path = format!("/v2/{}/blobs/uploads/", self.repository);
        let (status, answer) = exchange(self.port, "POST", &path, "application/octet-stream", b"");
        assert_eq!(status, 202, "upload session: {answer}");
        let location = answer
            .lines()
            .find_map(|line| line.split_once(':').filter(|(name, _)| name.eq_ignore_ascii_case("location")))
            .map(|(_, value)| value.trim().to_owned())
            .unwrap();
        // The registry answers with an absolute URL or a path; the path is what we send.
        let location = location
            .split_once("://")
            .map_or(location.as_str(), |(_, rest)| &rest[rest.find('/').unwrap()..])
            .to_owned();
        let separator = if location.contains('?') { '&' } else { '?' };
        let put = format!("{location}{separator}digest={digest}");
        let (status, answer) = exchange(self.port, "PUT", &put, "application/octet-stream", bytes);
        assert_eq!(status, 201, "blob upload: {answer}");
        json!({"mediaType": media_type, "digest": digest, "size": bytes.len()})
    }

    /// PUTs a manifest or index under `reference`; its descriptor.
    fn manifest(&self, reference: &str, media_type: &str, document: &Value) -> Value {
        let bytes = serde_json::to_vec(document).unwrap();
        let path = format!("/v2/{}/manifests/{reference}", self.repository);
        let (status, answer) = exchange(self.port, "PUT", &path, media_type, &bytes);
        assert_eq!(status, 201, "manifest PUT: {answer}");
        json!({"mediaType": media_type, "digest": sha256(&bytes), "size": bytes.len()})
    }

    fn reference(&self, tag: &str) -> String {
        format!("{}/{}:{tag}", self.host, self.repository)
    }
}

/// A tar holding one file.
fn tar_of(path: &str, contents: &[u8]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(contents.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_cksum();
    builder.append_data(&mut header, path, contents).unwrap();
    builder.into_inner().unwrap()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// A config for linux/<host arch> whose diff_ids are the layers' uncompressed digests.
fn config(diff_ids: &[&[u8]]) -> Vec<u8> {
    let diff_ids: Vec<String> = diff_ids.iter().map(|tar| sha256(tar)).collect();
    serde_json::to_vec(&json!({
        "architecture": slipway_testkit::host_oci_arch(),
        "os": "linux",
        "config": {"Env": ["PATH=/usr/bin:/bin"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids}
    }))
    .unwrap()
}

fn jar(dir: &Path) -> PathBuf {
    let jar = dir.join("app.jar");
    write_zip(
        &jar,
        &[
            ("META-INF/MANIFEST.MF", b"Manifest-Version: 1.0\r\nMain-Class: a.App\r\n\r\n".to_vec()),
            ("a/App.class", class_bytes(17)),
        ],
    );
    jar
}

/// containerize `--base`; the run and, when it succeeded, its image manifest.
fn containerize(base: &str) -> (slipway_testkit::StepRun, Option<Value>) {
    let work = tempfile::tempdir().unwrap();
    let output = work.path().join("image");
    let mut command = step_command(env!("CARGO_BIN_EXE_containerize"));
    command.arg("--artifact").arg(jar(work.path())).args(["--base", base]).arg("--output").arg(&output);
    let run = run_with_sinks(command, work.path());
    if run.code != 0 {
        return (run, None);
    }
    let blob = |digest: &str| std::fs::read(output.join("blobs/sha256").join(digest.trim_start_matches("sha256:")));
    let index: Value = serde_json::from_slice(&std::fs::read(output.join("index.json")).unwrap()).unwrap();
    let mut top: Value =
        serde_json::from_slice(&blob(index["manifests"][0]["digest"].as_str().unwrap()).unwrap()).unwrap();
    if top.get("manifests").is_some() {
        let platforms = top["manifests"].as_array().unwrap().clone();
        assert_eq!(platforms.len(), 1, "one platform built: {top}");
        top = serde_json::from_slice(&blob(platforms[0]["digest"].as_str().unwrap()).unwrap()).unwrap();
    }
    (run, Some(top))
}

#[test]
fn an_oci_index_with_an_attestation_and_gzip_tar_and_zstd_layers() {
    let Some(registry) = Registry::new("oci") else { return };
    let (gzip_tar, plain_tar, zstd_tar) =
        (tar_of("etc/one", b"gzip layer\n"), tar_of("etc/two", b"plain layer\n"), tar_of("etc/three", b"zstd\n"));
    let layers = [
        registry.blob("application/vnd.oci.image.layer.v1.tar+gzip", &gzip(&gzip_tar)),
        registry.blob("application/vnd.oci.image.layer.v1.tar", &plain_tar),
        registry
            .blob("application/vnd.oci.image.layer.v1.tar+zstd", &zstd::encode_all(zstd_tar.as_slice(), 3).unwrap()),
    ];
    let config = registry.blob(OCI_CONFIG, &config(&[&gzip_tar, &plain_tar, &zstd_tar]));
    let image = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config,
        "layers": layers,
        "annotations": {"org.opencontainers.image.source": "https://example.com/base"}
    });
    let mut image_descriptor = registry.manifest("image", OCI_MANIFEST, &image);
    image_descriptor["platform"] = json!({"architecture": slipway_testkit::host_oci_arch(), "os": "linux"});
    // What BuildKit writes beside each image: an in-toto attestation under platform
    // unknown/unknown, pointing at the image.
    let statement = registry.blob("application/vnd.in-toto+json", br#"{"_type":"https://in-toto.io/Statement/v0.1"}"#);
    let attestation_config = registry
        .blob(OCI_CONFIG, br#"{"architecture":"unknown","os":"unknown","rootfs":{"type":"layers","diff_ids":[]}}"#);
    let attestation = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": attestation_config,
        "layers": [statement],
    });
    let mut attestation_descriptor = registry.manifest("attestation", OCI_MANIFEST, &attestation);
    attestation_descriptor["platform"] = json!({"architecture": "unknown", "os": "unknown"});
    attestation_descriptor["annotations"] = json!({
        "vnd.docker.reference.type": "attestation-manifest",
        "vnd.docker.reference.digest": image_descriptor["digest"]
    });
    let index =
        json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [image_descriptor, attestation_descriptor]});
    registry.manifest("17", OCI_INDEX, &index);

    let (run, built) = containerize(&registry.reference("17"));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let built = built.unwrap();
    // The base layers come through untouched: same digests, same compression, in order.
    for (index, layer) in layers.iter().enumerate() {
        assert_eq!(built["layers"][index]["digest"], layer["digest"], "{built}");
        assert_eq!(built["layers"][index]["mediaType"], layer["mediaType"], "{built}");
    }
    assert_eq!(built["layers"].as_array().unwrap().len(), layers.len() + 1, "the base's and the app's: {built}");
}

#[test]
fn a_docker_manifest_list_and_a_docker_manifest() {
    let Some(registry) = Registry::new("docker") else { return };
    let layer_tar = tar_of("etc/docker", b"docker schema 2\n");
    let layer = registry.blob("application/vnd.docker.image.rootfs.diff.tar.gzip", &gzip(&layer_tar));
    let config = registry.blob(DOCKER_CONFIG, &config(&[&layer_tar]));
    let manifest = json!({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST, "config": config, "layers": [layer]});
    let mut descriptor = registry.manifest("amd", DOCKER_MANIFEST, &manifest);
    descriptor["platform"] = json!({"architecture": slipway_testkit::host_oci_arch(), "os": "linux"});
    registry.manifest(
        "17",
        DOCKER_LIST,
        &json!({"schemaVersion": 2, "mediaType": DOCKER_LIST, "manifests": [descriptor]}),
    );

    for tag in ["17", "amd"] {
        let (run, built) = containerize(&registry.reference(tag));
        assert_eq!(run.code, 0, "{tag}: {}", run.stderr);
        let built = built.unwrap();
        assert_eq!(built["mediaType"], OCI_MANIFEST, "containerize writes OCI");
        // The same bytes: Docker's gzip layer named with OCI's type.
        assert_eq!(built["layers"][0]["digest"], layer["digest"], "{tag}: {built}");
        assert_eq!(built["layers"][0]["mediaType"], "application/vnd.oci.image.layer.v1.tar+gzip", "{tag}");
    }
}

#[test]
fn a_non_distributable_layer_is_refused_with_one_line() {
    let Some(registry) = Registry::new("foreign") else { return };
    let layer_tar = tar_of("Windows/System32/x", b"licensed\n");
    let nondistributable = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
    let layer = registry.blob(nondistributable, &gzip(&layer_tar));
    let config = registry.blob(OCI_CONFIG, &config(&[&layer_tar]));
    registry.manifest(
        "17",
        OCI_MANIFEST,
        &json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config, "layers": [layer]}),
    );

    let (run, built) = containerize(&registry.reference("17"));
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(built.is_none());
    let errors: Vec<&str> = run.stderr.lines().filter(|line| line.contains("error")).collect();
    assert_eq!(errors.len(), 1, "one line: {}", run.stderr);
    assert!(errors[0].contains("non-distributable"), "{}", errors[0]);
    assert!(errors[0].contains(nondistributable), "{}", errors[0]);
}
