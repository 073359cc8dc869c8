//! A push as the contract's outputs and summary section.

use std::time::Duration;

use slipway_contract::keys::push_image as keys;
use slipway_contract::progress::format_bytes;
use slipway_contract::{Outputs, StepReport, Summary};

use crate::plan::Plan;

pub(crate) fn report(
    plan: &Plan,
    digest: &str,
    bytes: u64,
    uploaded: usize,
    skipped: usize,
    mounted: usize,
    took: Duration,
) -> StepReport {
    let image_ref = format!("{}@{digest}", plan.repository.name());
    let mut outputs = Outputs::new();
    outputs
        .set(keys::IMAGE_REF, &image_ref)
        .set(keys::DIGEST, digest)
        .set(keys::TAGS, plan.tags.join(","))
        .set(keys::BYTES_UPLOADED, bytes)
        .set(keys::BLOBS_UPLOADED, uploaded)
        .set(keys::BLOBS_SKIPPED, skipped)
        .set(keys::BLOBS_MOUNTED, mounted);
    let title = if plan.dry_run { "push-image (dry run)" } else { "push-image" };
    let mut summary = Summary::new(&format!("{title}: `{}`", plan.repository.name()));
    summary.facts(&[
        ("image", image_ref),
        ("tags", plan.tags.join(", ")),
        ("uploaded", format!("{} in {uploaded} blob(s)", format_bytes(bytes))),
        ("mounted", mounted.to_string()),
        ("already there", skipped.to_string()),
        ("took", format!("{:.1}s", took.as_secs_f64())),
    ]);
    StepReport { outputs, summary }
}
