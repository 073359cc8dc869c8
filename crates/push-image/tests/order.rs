//! What a push writes and in which order, as a proxy in front of the real registry
//! (`docker-registry`, no auth) records it: the SBOM's manifest goes up beside the image
//! (the proxy holds the tag's PUT, so "beside" is certain), the image's tag moves after
//! every blob and manifest of the image, the SBOM's fallback index after the tag, and a
//! re-push writes nothing at all. A registry that refuses a referrer before its subject
//! (as GitLab's did) gets it after the tag instead. Skips without `docker-registry` unless
//! SLIPWAY_REQUIRE_E2E=1.

#![allow(clippy::unwrap_used)] // Test helpers panic on broken fixtures, as tests do.

mod common;

use std::path::Path;
use std::sync::atomic::Ordering;

use common::{Sizes, layout, push_image, top_digest};
use slipway_registry::referrers::fallback_tag;
use slipway_testkit::faults::{FaultPlan, FaultProxy};
use slipway_testkit::http::verify_image;
use slipway_testkit::registries::OpenRegistry;
use slipway_testkit::{StepRun, run_with_sinks};

const SIZES: Sizes = Sizes { app_kib: 64, extra_kib: 32 };

fn push(layout: &Path, image: &str, sinks: &Path) -> StepRun {
    push_with(layout, image, &[], sinks)
}

fn push_with(layout: &Path, image: &str, extra: &[&str], sinks: &Path) -> StepRun {
    let mut command = push_image();
    command.arg("--layout").arg(layout).args(["--image", image, "--tag", "1"]).args(extra);
    run_with_sinks(command, sinks)
}

/// Where the first request matching `wanted` came, in `seen`.
fn position(seen: &[String], wanted: impl Fn(&str) -> bool, what: &str) -> usize {
    seen.iter().position(|request| wanted(request)).unwrap_or_else(|| panic!("no {what} in {seen:#?}"))
}

/// The digests of the image's config and layers.
fn image_blobs(layout: &Path) -> Vec<String> {
    let top = top_digest(layout);
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(layout.join("blobs/sha256").join(top.trim_start_matches("sha256:"))).unwrap(),
    )
    .unwrap();
    std::iter::once(&manifest["config"])
        .chain(manifest["layers"].as_array().unwrap())
        .map(|descriptor| descriptor["digest"].as_str().unwrap().to_owned())
        .collect()
}

/// When the image's tag PUT was answered, the (last) SBOM manifest PUT arrived and the
/// subject's fallback index PUT arrived, as positions in `seen`.
fn write_order(seen: &[String], repository: &str, sbom_digest: &str, subject: &str) -> (usize, usize, usize) {
    let put = |reference: String| move |request: &str| request == format!("PUT /v2/{repository}/manifests/{reference}");
    let tag = position(seen, |r| r == format!("done PUT /v2/{repository}/manifests/1"), "tag PUT answered");
    let sbom = seen
        .iter()
        .rposition(|request| request == &format!("PUT /v2/{repository}/manifests/{sbom_digest}"))
        .unwrap_or_else(|| panic!("no SBOM manifest PUT in {seen:#?}"));
    let index = position(seen, put(fallback_tag(subject)), "fallback index PUT");
    (tag, sbom, index)
}

#[test]
fn the_sbom_goes_up_beside_the_image_its_index_after_the_tag_and_a_repush_writes_nothing() {
    let Some(registry) = OpenRegistry::start() else { return };
    let work = tempfile::tempdir().unwrap();
    let layout = layout(work.path(), "scratch", 1, SIZES);
    assert!(layout.join("sbom.cdx.json").is_file(), "containerize writes the SBOM into the layout");
    let proxy = FaultProxy::start(registry.port, FaultPlan::calm(1)).unwrap();
    proxy.hold_tag_puts(std::time::Duration::from_millis(500));
    let repository = "order/app";
    let image = format!("127.0.0.1:{}/{repository}", proxy.port);

    let first = push(&layout, &image, work.path());
    assert_eq!(first.code, 0, "{}", first.stderr);
    let subject = top_digest(&layout);
    assert_eq!(verify_image(registry.port, repository, "1", None).unwrap(), subject);
    let sbom_digest = first.output("sbom-ref").unwrap().rsplit_once('@').unwrap().1.to_owned();
    let seen = proxy.stats.requests_seen();
    let (tag, sbom, index) = write_order(&seen, repository, &sbom_digest, &subject);
    // The SBOM's manifest went up while the tag's PUT was held: beside the image.
    assert!(sbom < tag, "the SBOM's manifest waited for the tag: {seen:#?}");
    // The tag moved after every blob upload, and the fallback index after the tag.
    let tag_sent = position(&seen, |r| r == format!("PUT /v2/{repository}/manifests/1"), "tag PUT");
    for blob in image_blobs(&layout) {
        let uploaded = position(
            &seen,
            |r| r.starts_with("done PUT ") && r.ends_with(&format!("digest={}", blob.replace(':', "%3A"))),
            "image blob upload",
        );
        assert!(uploaded < tag_sent, "the tag moved before {blob} was in: {seen:#?}");
    }
    assert!(tag < index, "the fallback index was written before the image's tag: {seen:#?}");
    assert!(first.stderr.contains(&format!("listed under the referrers tag {}", fallback_tag(&subject))));

    // The same image again: only reads.
    let before = proxy.stats.requests_seen().len();
    let again = push(&layout, &image, work.path());
    assert_eq!(again.code, 0, "{}", again.stderr);
    let repush: Vec<String> = proxy.stats.requests_seen()[before..].to_vec();
    assert!(
        repush.iter().all(|r| ["GET ", "HEAD ", "done GET ", "done HEAD "].iter().any(|read| r.starts_with(read))),
        "a re-push wrote something: {repush:#?}"
    );
    assert!(again.stderr.contains("already attached"), "{}", again.stderr);
    assert_eq!(again.output("bytes-uploaded"), Some("0"));
    assert_eq!(again.output("sbom-ref"), first.output("sbom-ref"));
}

#[test]
fn a_registry_refusing_a_referrer_before_its_subject_gets_it_after_the_tag() {
    let Some(registry) = OpenRegistry::start() else { return };
    let work = tempfile::tempdir().unwrap();
    let layout = layout(work.path(), "scratch", 1, SIZES);
    let proxy = FaultProxy::start(registry.port, FaultPlan::calm(1)).unwrap();
    proxy.refuse_absent_subjects();
    proxy.hold_tag_puts(std::time::Duration::from_millis(500));
    let repository = "order/strict";

    let run = push(&layout, &format!("127.0.0.1:{}/{repository}", proxy.port), work.path());
    assert_eq!(run.code, 0, "{}", run.stderr);
    let subject = top_digest(&layout);
    assert_eq!(verify_image(registry.port, repository, "1", None).unwrap(), subject);
    assert_eq!(proxy.stats.refused_subjects.load(Ordering::Relaxed), 1, "{:#?}", proxy.stats.requests_seen());
    let sbom_digest = run.output("sbom-ref").unwrap().rsplit_once('@').unwrap().1.to_owned();
    let seen = proxy.stats.requests_seen();
    let (tag, sbom, index) = write_order(&seen, repository, &sbom_digest, &subject);
    assert!(tag < sbom && sbom < index, "refused early, the SBOM went after the tag: {seen:#?}");
    // The fallback index the registry holds lists the SBOM.
    let (status, _, body) = slipway_testkit::http::request(
        registry.port,
        "GET",
        &format!("/v2/{repository}/manifests/{}", fallback_tag(&subject)),
        &[("Accept", "application/vnd.oci.image.index.v1+json")],
    )
    .unwrap();
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains(&sbom_digest), "{}", String::from_utf8_lossy(&body));
}

#[test]
fn sbom_none_pushes_the_image_alone() {
    let Some(registry) = OpenRegistry::start() else { return };
    let work = tempfile::tempdir().unwrap();
    let layout = layout(work.path(), "scratch", 0, SIZES);
    let proxy = FaultProxy::start(registry.port, FaultPlan::calm(1)).unwrap();
    let repository = "order/no-sbom";

    let run = push_with(&layout, &format!("127.0.0.1:{}/{repository}", proxy.port), &["--sbom", "none"], work.path());
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.output("sbom-ref"), Some(""));
    let seen = proxy.stats.requests_seen();
    let manifest_writes: Vec<&String> =
        seen.iter().filter(|r| r.starts_with("PUT ") && r.contains("/manifests/")).collect();
    assert_eq!(manifest_writes, [&format!("PUT /v2/{repository}/manifests/1")], "{seen:#?}");
    let fallback = fallback_tag(&top_digest(&layout));
    assert!(!seen.iter().any(|r| r.contains(&fallback)), "the SBOM's index was looked for: {seen:#?}");
}
