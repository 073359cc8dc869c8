//! What "done" and "failed" mean for a rollout, as small functions over what the API
//! shows (kube-runtime's conditions, kubectl's `rollout status`), and more: the status
//! must have observed the applied generation before anything else is read, and every
//! ready pod of the new ReplicaSet must run the pushed digest.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;

/// The Deployment's and ReplicaSets' revision annotation (the deployment controller's).
pub const REVISION_ANNOTATION: &str = "deployment.kubernetes.io/revision";
/// The label the controller puts on a ReplicaSet's pods.
pub const TEMPLATE_HASH_LABEL: &str = "pod-template-hash";

/// A pod may restart this many times while the rollout runs; more is a crash loop the
/// kubelet has not named yet.
pub const RESTART_BOUND: i32 = 3;

/// Waiting reasons that never heal by waiting (fail fast, not at the deadline).
const FATAL_WAITING: [&str; 6] = [
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "ErrImagePull",
    "CreateContainerConfigError",
    "CreateContainerError",
    "InvalidImageName",
];

/// One look at the rollout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Done,
    /// Not yet, and why (printed as progress).
    Waiting(String),
    /// It will not get there, and why.
    Failed(String),
}

/// The Deployment's own view, kubectl's `rollout status` plus the generation guard:
/// `applied` is the generation the apply returned; a status that has not observed it
/// says nothing about this rollout.
pub fn deployment_verdict(deployment: &Deployment, applied: i64) -> Verdict {
    let generation = deployment.metadata.generation.unwrap_or(applied).max(applied);
    let Some(status) = &deployment.status else {
        return Verdict::Waiting("the controller has not reported a status yet".to_owned());
    };
    if !observed(deployment, applied) {
        return Verdict::Waiting(format!(
            "the controller has not observed generation {generation} yet (observed {})",
            status.observed_generation.unwrap_or(0)
        ));
    }
    if let Some(condition) = status.conditions.iter().flatten().find(|c| c.type_.as_deref() == Some("Progressing"))
        && condition.reason.as_deref() == Some("ProgressDeadlineExceeded")
    {
        return Verdict::Failed(format!(
            "the rollout made no progress within progressDeadlineSeconds (ProgressDeadlineExceeded: {})",
            condition.message.as_deref().unwrap_or("no message")
        ));
    }
    let wanted = deployment.spec.replicas.unwrap_or(1);
    let updated = status.updated_replicas.unwrap_or(0);
    let total = status.replicas.unwrap_or(0);
    let available = status.available_replicas.unwrap_or(0);
    if updated < wanted {
        return Verdict::Waiting(format!("{updated} of {wanted} pods updated"));
    }
    if total > updated {
        return Verdict::Waiting(format!("{} old pods still running", total - updated));
    }
    if available < updated {
        return Verdict::Waiting(format!("{available} of {updated} updated pods available"));
    }
    Verdict::Done
}

/// Whether the status speaks of the applied generation (or a later one): nothing else
/// it says counts before.
pub fn observed(deployment: &Deployment, applied: i64) -> bool {
    let generation = deployment.metadata.generation.unwrap_or(applied).max(applied);
    deployment.status.as_ref().and_then(|s| s.observed_generation).is_some_and(|observed| observed >= generation)
}

/// The ReplicaSet of the Deployment's current revision.
pub fn new_replica_set<'a>(deployment: &Deployment, sets: &'a [ReplicaSet]) -> Option<&'a ReplicaSet> {
    let revision = revision(&deployment.metadata)?;
    let uid = deployment.metadata.uid.as_deref();
    sets.iter().filter(|set| owned_by(set, uid)).find(|set| revision_of(set) == Some(revision))
}

/// The ReplicaSets a Deployment owns, newest revision first.
pub fn owned_sets<'a>(deployment: &Deployment, sets: &'a [ReplicaSet]) -> Vec<&'a ReplicaSet> {
    let uid = deployment.metadata.uid.as_deref();
    let mut owned: Vec<&ReplicaSet> = sets.iter().filter(|set| owned_by(set, uid)).collect();
    owned.sort_by_key(|set| std::cmp::Reverse(revision_of(set).unwrap_or(0)));
    owned
}

fn owned_by(set: &ReplicaSet, uid: Option<&str>) -> bool {
    match uid {
        // Without a uid (an object not read from the server) the selector's match is all there is.
        None => true,
        Some(uid) => set.metadata.owner_references.iter().flatten().any(|owner| owner.uid == uid),
    }
}

pub fn revision(metadata: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> Option<i64> {
    metadata.annotations.as_ref()?.get(REVISION_ANNOTATION)?.parse().ok()
}

pub fn revision_of(set: &ReplicaSet) -> Option<i64> {
    revision(&set.metadata)
}

/// The `pod-template-hash` of a ReplicaSet, which its pods carry.
pub fn template_hash(set: &ReplicaSet) -> Option<&str> {
    set.metadata.labels.as_ref()?.get(TEMPLATE_HASH_LABEL).map(String::as_str)
}

/// The pods of the new ReplicaSet: a failure that waiting will not heal, or how many
/// are ready on `digest` (every ready pod must run it).
pub fn pods_verdict(pods: &[Pod], container: &str, digest: Option<&str>) -> Verdict {
    let mut ready_on_digest = 0;
    for pod in pods {
        let name = pod.metadata.name.as_deref().unwrap_or("?");
        let status = pod.status.as_ref();
        for container_status in status.and_then(|s| s.container_statuses.as_ref()).into_iter().flatten() {
            let waiting = container_status.state.as_ref().and_then(|s| s.waiting.as_ref());
            if let Some(reason) = waiting.and_then(|w| w.reason.as_deref())
                && FATAL_WAITING.contains(&reason)
            {
                let message = waiting.and_then(|w| w.message.as_deref()).unwrap_or_default();
                return Verdict::Failed(format!(
                    "pod {name}: container {} is {reason}{}",
                    container_status.name,
                    if message.is_empty() { String::new() } else { format!(": {message}") }
                ));
            }
            if container_status.restart_count > RESTART_BOUND {
                return Verdict::Failed(format!(
                    "pod {name}: container {} restarted {} times (more than {RESTART_BOUND})",
                    container_status.name, container_status.restart_count
                ));
            }
        }
        if !is_ready(pod) {
            continue;
        }
        let runs = status
            .and_then(|s| s.container_statuses.as_ref())
            .into_iter()
            .flatten()
            .find(|c| c.name == container)
            .map(|c| c.image_id.as_str());
        match (digest, runs) {
            (None, _) => ready_on_digest += 1,
            (Some(digest), Some(image_id)) if image_id.ends_with(digest) => ready_on_digest += 1,
            (Some(digest), runs) => {
                return Verdict::Failed(format!(
                    "pod {name} is ready but runs {} instead of {digest}",
                    runs.filter(|r| !r.is_empty()).unwrap_or("an unknown image")
                ));
            }
        }
    }
    if ready_on_digest == 0 && !pods.is_empty() {
        return Verdict::Waiting("no pod of the new ReplicaSet is ready yet".to_owned());
    }
    Verdict::Done
}

pub fn is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .any(|c| c.type_ == "Ready" && c.status == "True")
}

/// One line a pod: its phase and each container's state, for a failure's detail.
pub fn describe_pod(pod: &Pod) -> String {
    let name = pod.metadata.name.as_deref().unwrap_or("?");
    let status = pod.status.as_ref();
    let phase = status.and_then(|s| s.phase.as_deref()).unwrap_or("Unknown");
    let mut line = format!("pod {name}: {phase}{}", if is_ready(pod) { ", ready" } else { "" });
    for container in status.and_then(|s| s.container_statuses.as_ref()).into_iter().flatten() {
        let state = container.state.as_ref();
        let what = if let Some(waiting) = state.and_then(|s| s.waiting.as_ref()) {
            format!(
                "waiting: {}{}",
                waiting.reason.as_deref().unwrap_or("?"),
                waiting.message.as_deref().map(|m| format!(" ({m})")).unwrap_or_default()
            )
        } else if let Some(terminated) = state.and_then(|s| s.terminated.as_ref()) {
            format!("terminated: {} (exit {})", terminated.reason.as_deref().unwrap_or("?"), terminated.exit_code)
        } else {
            "running".to_owned()
        };
        line.push_str(&format!("; {} {what}, {} restarts", container.name, container.restart_count));
    }
    line
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn deployment(status: serde_json::Value) -> Deployment {
        serde_json::from_value(json!({
            "metadata": { "name": "shop", "generation": 4, "uid": "d-1", "annotations": { REVISION_ANNOTATION: "3" } },
            "spec": { "replicas": 2, "selector": {}, "template": {} },
            "status": status,
        }))
        .unwrap()
    }

    #[test]
    fn a_stale_status_never_passes() {
        let stale = deployment(json!({
            "observedGeneration": 3, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2,
        }));
        assert!(matches!(deployment_verdict(&stale, 4), Verdict::Waiting(why) if why.contains("generation 4")));
        // The apply's generation counts even when the object read is older.
        let observed = deployment(json!({
            "observedGeneration": 4, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2,
        }));
        assert_eq!(deployment_verdict(&observed, 4), Verdict::Done);
        assert!(matches!(deployment_verdict(&observed, 5), Verdict::Waiting(_)));
    }

    #[test]
    fn done_means_all_updated_no_old_and_all_available() {
        let judge = |status| deployment_verdict(&deployment(status), 4);
        let base = |replicas: i32, updated: i32, available: i32| json!({ "observedGeneration": 4, "replicas": replicas, "updatedReplicas": updated, "availableReplicas": available });
        assert_eq!(judge(base(2, 1, 2)), Verdict::Waiting("1 of 2 pods updated".into()));
        assert_eq!(judge(base(3, 2, 2)), Verdict::Waiting("1 old pods still running".into()));
        assert_eq!(judge(base(2, 2, 1)), Verdict::Waiting("1 of 2 updated pods available".into()));
        assert_eq!(judge(base(2, 2, 2)), Verdict::Done);
    }

    #[test]
    fn progress_deadline_exceeded_fails() {
        let status = json!({
            "observedGeneration": 4, "replicas": 3, "updatedReplicas": 1,
            "conditions": [{ "type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                             "message": "ReplicaSet \"shop-7d\" has timed out progressing." }],
        });
        assert!(
            matches!(deployment_verdict(&deployment(status), 4), Verdict::Failed(why) if why.contains("ProgressDeadlineExceeded"))
        );
    }

    fn pod(ready: bool, image_id: &str, waiting: Option<&str>, restarts: i32) -> Pod {
        let state = match waiting {
            Some(reason) => json!({ "waiting": { "reason": reason, "message": "back-off 5m0s" } }),
            None => json!({ "running": {} }),
        };
        serde_json::from_value(json!({
            "metadata": { "name": "shop-abc" },
            "status": {
                "phase": "Running",
                "conditions": [{ "type": "Ready", "status": if ready { "True" } else { "False" } }],
                "containerStatuses": [{
                    "name": "shop", "image": "x", "imageID": image_id, "ready": ready,
                    "restartCount": restarts, "state": state,
                }],
            },
        }))
        .unwrap()
    }

    #[test]
    fn pods_fail_fast_on_reasons_that_do_not_heal() {
        let digest = Some("sha256:aaa");
        for reason in ["CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "CreateContainerConfigError"] {
            let verdict = pods_verdict(&[pod(false, "", Some(reason), 0)], "shop", digest);
            assert!(matches!(&verdict, Verdict::Failed(why) if why.contains(reason)), "{verdict:?}");
        }
        assert_eq!(
            pods_verdict(&[pod(false, "", Some("ContainerCreating"), 0)], "shop", digest),
            Verdict::Waiting("no pod of the new ReplicaSet is ready yet".into())
        );
        assert!(
            matches!(pods_verdict(&[pod(true, "r@sha256:aaa", None, 4)], "shop", digest), Verdict::Failed(why) if why.contains("restarted 4 times"))
        );
    }

    #[test]
    fn every_ready_pod_runs_the_pushed_digest() {
        let digest = Some("sha256:aaa");
        assert_eq!(
            pods_verdict(&[pod(true, "docker-pullable://r/app@sha256:aaa", None, 0)], "shop", digest),
            Verdict::Done
        );
        let other = pods_verdict(
            &[pod(true, "r/app@sha256:aaa", None, 0), pod(true, "r/app@sha256:bbb", None, 0)],
            "shop",
            digest,
        );
        assert!(matches!(other, Verdict::Failed(why) if why.contains("sha256:bbb")));
    }

    #[test]
    fn the_new_replica_set_is_the_current_revision_owned_by_the_deployment() {
        let set = |revision: &str, owner: &str| -> ReplicaSet {
            serde_json::from_value(json!({ "metadata": {
                "name": format!("shop-{revision}"),
                "annotations": { REVISION_ANNOTATION: revision },
                "labels": { TEMPLATE_HASH_LABEL: format!("h{revision}") },
                "ownerReferences": [{ "apiVersion": "apps/v1", "kind": "Deployment", "name": "shop", "uid": owner }],
            } }))
            .unwrap()
        };
        let sets = [set("2", "d-1"), set("3", "other"), set("3", "d-1"), set("1", "d-1")];
        let current = deployment(json!({}));
        assert_eq!(template_hash(new_replica_set(&current, &sets).unwrap()), Some("h3"));
        let order: Vec<Option<i64>> = owned_sets(&current, &sets).into_iter().map(revision_of).collect();
        assert_eq!(order, [Some(3), Some(2), Some(1)]);
    }
}
