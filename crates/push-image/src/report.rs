//! A push as the contract's outputs and summary section.

use std::time::Duration;

use slipway_contract::keys::push_image as keys;
use slipway_contract::progress::format_bytes;
use slipway_contract::{Outputs, StepReport, Summary};

use slipway_registry::referrers::{Indexed, Pushed};

use crate::plan::Plan;

/// What the blob transfers amounted to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Transfers {
    pub bytes: u64,
    pub uploaded: usize,
    pub skipped: usize,
    pub mounted: usize,
}

pub(crate) fn report(
    plan: &Plan,
    digest: &str,
    transfers: Transfers,
    sbom: Option<&Pushed>,
    took: Duration,
) -> StepReport {
    let Transfers { bytes, uploaded, skipped, mounted } = transfers;
    let image_ref = format!("{}@{digest}", plan.repository.name());
    let mut outputs = Outputs::new();
    outputs
        .set(keys::IMAGE_REF, &image_ref)
        .set(keys::DIGEST, digest)
        .set(keys::TAGS, plan.tags.join(","))
        .set(keys::BYTES_UPLOADED, bytes)
        .set(keys::BLOBS_UPLOADED, uploaded)
        .set(keys::BLOBS_SKIPPED, skipped)
        .set(keys::BLOBS_MOUNTED, mounted)
        .set(keys::SBOM_REF, sbom.map(|s| format!("{}@{}", plan.repository.name(), s.digest)).unwrap_or_default());
    let title = if plan.dry_run { "push-image (dry run)" } else { "push-image" };
    let mut summary = Summary::new(&format!("{title}: `{}`", plan.repository.name()));
    summary.facts(&[
        ("image", image_ref),
        ("tags", plan.tags.join(", ")),
        ("uploaded", format!("{} in {uploaded} blob(s)", format_bytes(bytes))),
        ("mounted", mounted.to_string()),
        ("already there", skipped.to_string()),
        ("took", format!("{:.1}s", took.as_secs_f64())),
        (
            "sbom",
            match sbom.map(|s| &s.indexed) {
                Some(Indexed::ReferrersApi) => "attached (referrers API)".to_owned(),
                Some(Indexed::FallbackTag(tag)) => format!("attached (referrers tag `{tag}`)"),
                None => "none".to_owned(),
            },
        ),
    ]);
    StepReport { outputs, summary }
}
