//! deploy's outputs and summary section.

use slipway_contract::keys::deploy as keys;
use slipway_contract::{Outputs, StepReport, Summary};

use crate::target::{DeployOutcome, DeployRequest};

/// The outputs and summary of a run that ended in `outcome` on `target`.
pub fn report(target: &str, request: &DeployRequest, outcome: &DeployOutcome) -> StepReport {
    let mut outputs = Outputs::new();
    outputs
        .set(keys::URL, &outcome.url)
        .set(keys::VERSION_LABEL, &outcome.version_label)
        .set(keys::PREVIOUS_VERSION, &outcome.previous_version)
        .set(keys::DEPLOYMENT_ID, &outcome.deployment_id)
        .set(keys::STATUS, outcome.status.as_str())
        .set(keys::HEALTH, &outcome.health);
    let record = crate::analysis::run_record(target, request, outcome.status, None);
    outputs.set(keys::TIMELINE, record.as_ref().map(ToString::to_string).unwrap_or_default());
    let title = if request.dry_run { format!("deploy (dry run) to {target}") } else { format!("deploy to {target}") };
    let mut summary = Summary::new(&title);
    let mut facts = vec![
        ("phase", request.phase.as_str().to_owned()),
        ("strategy", request.rollout.describe()),
        ("image", request.image.clone()),
        ("version", outcome.version_label.clone()),
        ("previous version", outcome.previous_version.clone()),
        ("status", outcome.status.as_str().to_owned()),
        ("health", outcome.health.clone()),
        ("url", outcome.url.clone()),
    ];
    facts.extend(outcome.details.iter().map(|(name, value)| (name.as_str(), value.clone())));
    summary.facts(&facts);
    if let Some(record) = &record {
        let (headers, rows) = crate::analysis::record_table(record);
        summary.table(&headers, &rows);
    }
    StepReport { outputs, summary }
}
