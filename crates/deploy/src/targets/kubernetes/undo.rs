//! `kubectl rollout undo`, as slipway does it: the previous revision's ReplicaSet
//! template (its `pod-template-hash` label removed) replaces the Deployment's.
//!
//! kubectl sends that as a JSON patch (an `Update` in the server's field management);
//! slipway sends it as a server-side apply under its own field manager, forced, of the
//! whole Deployment as it stands with the old template in it. Server-side apply counts
//! a manager as its name *and* its operation: had the rollback been an update (a PUT or
//! a PATCH) by `slipway`, the template's fields would belong to `slipway` updating, and
//! the next deployment (an apply by `slipway`) would conflict with them. As an apply by
//! the same manager, the fields stay with it, and the deployment after a rollback
//! applies as any other. Forced, as the documentation asks of controllers, because
//! putting the last good version back must not stop on a field another manager touched
//! (kubectl's undo overwrites just the same).

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

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

/// The server-side apply that puts `set`'s template back into `live`: the whole
/// Deployment as it stands (its labels, annotations and spec, so the apply drops none of
/// the fields slipway applied), the template `set`'s, the annotations saying what runs
/// now. The server's bookkeeping (status, managedFields, resourceVersion, the
/// controller's `deployment.kubernetes.io/` annotations) is left out: it belongs to others.
pub fn rollback_apply(live: &Deployment, set: &ReplicaSet, label: &str) -> Result<serde_json::Value, String> {
    let mut template = set
        .spec
        .template
        .clone()
        .ok_or_else(|| format!("ReplicaSet {} has no template", set.metadata.name.as_deref().unwrap_or("?")))?;
    if let Some(labels) = template.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
        labels.remove(TEMPLATE_HASH_LABEL);
    }
    let mut spec = live.spec.clone();
    spec.template = template;
    let image = image_of_set(set).unwrap_or_default();
    let mut annotations = live.metadata.annotations.clone().unwrap_or_default();
    annotations.retain(|key, _| !key.starts_with(CONTROLLER_ANNOTATIONS) && key != LAST_APPLIED_ANNOTATION);
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
    let metadata = ObjectMeta {
        name: live.metadata.name.clone(),
        namespace: live.metadata.namespace.clone(),
        labels: live.metadata.labels.clone(),
        annotations: Some(annotations),
        ..ObjectMeta::default()
    };
    let body = Deployment { metadata, spec, status: None };
    serde_json::to_value(&body).map_err(|error| format!("cannot write the rollback as JSON: {error}"))
}

/// The deployment controller's annotations (the revision and its history, the desired
/// and maximal replicas): its own, never sent back.
const CONTROLLER_ANNOTATIONS: &str = "deployment.kubernetes.io/";
const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

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
    fn the_template_goes_back_as_an_apply_of_the_whole_deployment_without_the_server_s_bookkeeping() {
        let mut live = live();
        let annotations = live.metadata.annotations.get_or_insert_with(Default::default);
        annotations.insert("deployment.kubernetes.io/desired-replicas".to_owned(), "2".to_owned());
        annotations.insert("team".to_owned(), "payments".to_owned());
        live.metadata.managed_fields = Some(vec![Default::default()]);
        let body = rollback_apply(&live, &set("2", "v2", "r/app@sha256:b"), "v2").unwrap();
        assert_eq!((body["apiVersion"].as_str(), body["kind"].as_str()), (Some("apps/v1"), Some("Deployment")));
        let template = &body["spec"]["template"];
        assert!(template["metadata"]["labels"].get(TEMPLATE_HASH_LABEL).is_none());
        assert_eq!(template["spec"]["containers"][0]["image"], "r/app@sha256:b");
        assert_eq!(body["spec"]["replicas"], 2, "the rest of the spec as it stands");
        let annotations = &body["metadata"]["annotations"];
        assert_eq!(annotations[VERSION_ANNOTATION], "v2");
        assert_eq!(annotations[DIGEST_ANNOTATION], "sha256:b");
        assert_eq!(annotations["team"], "payments", "another's annotation is kept");
        assert!(
            annotations.get(REVISION_ANNOTATION).is_none()
                && annotations.get("deployment.kubernetes.io/desired-replicas").is_none()
        );
        let metadata = body["metadata"].as_object().unwrap();
        for key in ["managedFields", "resourceVersion", "uid"] {
            assert!(!metadata.contains_key(key), "{key} is the server's");
        }
        assert!(body.get("status").is_none());
    }
}
