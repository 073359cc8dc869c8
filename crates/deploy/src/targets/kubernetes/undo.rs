//! `kubectl rollout undo`, as slipway does it: the previous revision's ReplicaSet
//! template (its `pod-template-hash` label removed) replaces the Deployment's, in an
//! update conditioned on the Deployment's resourceVersion.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};

use super::manifests::{CHANGE_CAUSE_ANNOTATION, DIGEST_ANNOTATION, IMAGE_ANNOTATION, VERSION_ANNOTATION, digest_of};
use super::rollout::{TEMPLATE_HASH_LABEL, owned_sets, revision, revision_of};

/// The ReplicaSet to put back: the one labelled `version` (slipway's annotation on its
/// template), else the newest revision before the Deployment's current one.
pub fn previous_set<'a>(
    deployment: &Deployment,
    sets: &'a [ReplicaSet],
    version: Option<&str>,
) -> Result<&'a ReplicaSet, String> {
    let current = revision(&deployment.metadata).unwrap_or(i64::MAX);
    let owned = owned_sets(deployment, sets);
    let name = deployment.metadata.name.as_deref().unwrap_or("the Deployment");
    match version {
        Some(version) => owned
            .into_iter()
            .find(|set| version_of_set(set) == version && revision_of(set) != Some(current))
            .ok_or_else(|| format!("{name} has no earlier revision labelled {version} (its ReplicaSets keep the last revisionHistoryLimit)")),
        None => owned
            .into_iter()
            .find(|set| revision_of(set).is_some_and(|r| r < current))
            .ok_or_else(|| format!("{name} has no previous revision to roll back to")),
    }
}

/// The version a ReplicaSet's pods run: slipway's label on the template, else its image.
pub fn version_of_set(set: &ReplicaSet) -> String {
    let template = set.spec.template.as_ref();
    template
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.annotations.as_ref())
        .and_then(|a| a.get(VERSION_ANNOTATION).cloned())
        .or_else(|| image_of_set(set))
        .unwrap_or_default()
}

fn image_of_set(set: &ReplicaSet) -> Option<String> {
    let template = set.spec.template.as_ref()?;
    template.spec.as_ref()?.containers.first()?.image.clone()
}

/// The digest the put-back pods must run, when the image is pinned.
pub fn digest_of_set(set: &ReplicaSet) -> Option<String> {
    image_of_set(set).and_then(|image| digest_of(&image).map(str::to_owned))
}

/// `live` with `set`'s template and annotations saying what runs now.
pub fn deployment_with_template(mut live: Deployment, set: &ReplicaSet, label: &str) -> Result<Deployment, String> {
    let mut template = set
        .spec
        .template
        .clone()
        .ok_or_else(|| format!("ReplicaSet {} has no template", set.metadata.name.as_deref().unwrap_or("?")))?;
    if let Some(labels) = template.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
        labels.remove(TEMPLATE_HASH_LABEL);
    }
    live.spec.template = template;
    let image = image_of_set(set).unwrap_or_default();
    let annotations = live.metadata.annotations.get_or_insert_with(Default::default);
    annotations.insert(VERSION_ANNOTATION.to_owned(), label.to_owned());
    annotations.insert(IMAGE_ANNOTATION.to_owned(), image.clone());
    match digest_of(&image) {
        Some(digest) => annotations.insert(DIGEST_ANNOTATION.to_owned(), digest.to_owned()),
        None => annotations.remove(DIGEST_ANNOTATION),
    };
    annotations.insert(
        CHANGE_CAUSE_ANNOTATION.to_owned(),
        format!("slipway rollback to {label} (revision {})", revision_of(set).unwrap_or(0)),
    );
    // The server keeps its own bookkeeping; sending it back would only be refused.
    live.metadata.managed_fields = None;
    live.status = None;
    Ok(live)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::targets::kubernetes::rollout::REVISION_ANNOTATION;

    fn set(revision: &str, label: &str, image: &str) -> ReplicaSet {
        serde_json::from_value(json!({
            "metadata": {
                "name": format!("shop-{revision}"),
                "annotations": { REVISION_ANNOTATION: revision },
                "labels": { TEMPLATE_HASH_LABEL: format!("h{revision}") },
                "ownerReferences": [{ "apiVersion": "apps/v1", "kind": "Deployment", "name": "shop", "uid": "d-1" }],
            },
            "spec": { "selector": {}, "template": {
                "metadata": { "labels": { "app.kubernetes.io/name": "shop", TEMPLATE_HASH_LABEL: format!("h{revision}") },
                              "annotations": { VERSION_ANNOTATION: label } },
                "spec": { "containers": [{ "name": "shop", "image": image }] },
            } },
        }))
        .unwrap()
    }

    fn live() -> Deployment {
        serde_json::from_value(json!({
            "metadata": { "name": "shop", "uid": "d-1", "resourceVersion": "77",
                          "annotations": { REVISION_ANNOTATION: "3", VERSION_ANNOTATION: "v3" } },
            "spec": { "replicas": 2, "selector": {}, "template": { "spec": { "containers": [{ "name": "shop", "image": "r/app@sha256:c" }] } } },
            "status": { "observedGeneration": 5 },
        }))
        .unwrap()
    }

    #[test]
    fn the_previous_revision_or_the_named_one() {
        let sets =
            [set("3", "v3", "r/app@sha256:c"), set("1", "v1", "r/app@sha256:a"), set("2", "v2", "r/app@sha256:b")];
        assert_eq!(version_of_set(previous_set(&live(), &sets, None).unwrap()), "v2");
        assert_eq!(version_of_set(previous_set(&live(), &sets, Some("v1")).unwrap()), "v1");
        assert!(previous_set(&live(), &sets, Some("v3")).is_err(), "the current revision is not a rollback");
        assert!(previous_set(&live(), &sets[..1], None).unwrap_err().contains("no previous revision"));
    }

    #[test]
    fn the_template_goes_back_without_its_hash_and_the_annotations_follow() {
        let undone = deployment_with_template(live(), &set("2", "v2", "r/app@sha256:b"), "v2").unwrap();
        let template = &undone.spec.template;
        assert!(!template.metadata.as_ref().unwrap().labels.as_ref().unwrap().contains_key(TEMPLATE_HASH_LABEL));
        assert_eq!(template.spec.as_ref().unwrap().containers[0].image.as_deref(), Some("r/app@sha256:b"));
        let annotations = undone.metadata.annotations.as_ref().unwrap();
        assert_eq!(annotations[VERSION_ANNOTATION], "v2");
        assert_eq!(annotations[DIGEST_ANNOTATION], "sha256:b");
        assert_eq!(undone.metadata.resource_version.as_deref(), Some("77"), "the update is conditioned on it");
        assert!(undone.status.is_none());
    }
}
