//! An image built, as the contract's outputs and summary section.

use slipway_contract::keys::containerize as keys;
use slipway_contract::progress::format_bytes;
use slipway_contract::{Outputs, StepReport, Summary};

use crate::base::Base;
use crate::image::{Blob, PlatformImage};
use crate::layers::LayerBlob;
use crate::plan::{Plan, format_time};

pub(crate) fn report(
    plan: &Plan,
    base: &Base,
    images: &[PlatformImage],
    top: &Blob,
    layout: &std::path::Path,
    sbom: Option<&std::path::Path>,
) -> StepReport {
    // Every layer containerize wrote, once, in image order (per-platform ones differ).
    let mut app_layers: Vec<&LayerBlob> = Vec::new();
    for layer in images.iter().flat_map(|image| &image.app_layers) {
        if !app_layers.iter().any(|known| known.digest == layer.digest) {
            app_layers.push(layer);
        }
    }
    let platforms: Vec<String> = images.iter().map(|image| image.base.platform.to_string()).collect();
    let configs: Vec<String> = images.iter().map(|image| image.config.digest.clone()).collect();
    let mut outputs = Outputs::new();
    outputs
        .set(keys::LAYOUT, layout.display())
        .set(keys::IMAGE_DIGEST, &top.digest)
        .set(keys::CONFIG_DIGEST, configs.join(","))
        .set(keys::PLATFORMS, platforms.join(","))
        .set(keys::BASE_DIGEST, &base.digest)
        .set(keys::TARBALL, plan.tarball.as_ref().map(|t| t.display().to_string()).unwrap_or_default())
        .set(keys::APP_LAYERS, app_layers.iter().map(|l| l.digest.clone()).collect::<Vec<_>>().join(","))
        .set(keys::SBOM, sbom.map(|path| path.display().to_string()).unwrap_or_default());

    let name = match (&plan.image, &plan.artifact) {
        (Some(image), _) => image.to_string(),
        (None, Some(artifact)) => artifact.path.display().to_string(),
        (None, None) => "image".to_owned(),
    };
    let mut summary = Summary::new(&format!("containerize: `{name}`"));
    summary.facts(&[
        ("image digest", top.digest.clone()),
        ("base", if base.name.is_empty() { "scratch".to_owned() } else { format!("{}@{}", base.name, base.digest) }),
        ("platforms", platforms.join(", ")),
        ("created", format_time(plan.creation_time)),
        (
            "sbom",
            sbom.map_or_else(
                || "none (no artifact)".to_owned(),
                |path| format!("`{}` (CycloneDX 1.6)", path.display()),
            ),
        ),
    ]);
    let rows: Vec<Vec<String>> = app_layers
        .iter()
        .map(|layer| vec![layer.name.clone(), format_bytes(layer.size), format!("`{}`", layer.digest)])
        .collect();
    summary.table(&["app layer", "size", "digest"], &rows);
    StepReport { outputs, summary }
}
