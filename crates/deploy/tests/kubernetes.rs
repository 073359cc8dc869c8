//! deploy --target kubernetes through the real binary, against testkit's fake API server
//! on loopback with a scripted deployment controller: each image behaves as the scenario
//! says (healthy, crash-looping, unpullable, making no progress, stuck), so a rollback
//! to the previous template comes back healthy by itself. The fake records every request
//! and the tests assert what slipway sent.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers panic on broken fixtures, as tests do.

use slipway_testkit::http::ProbedService;
use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use slipway_testkit::kube_api::{FakeKube, Recorded, Reply, Store};
use slipway_testkit::{StepRun, run_with_sinks, step_command};

const NS: &str = "shop-prod";
const NAME: &str = "shop";
const V1: &str = "registry.example:5000/shop@sha256:1111111111111111111111111111111111111111111111111111111111111111";
const V2: &str = "registry.example:5000/shop@sha256:2222222222222222222222222222222222222222222222222222222222222222";
const V3: &str = "registry.example:5000/shop@sha256:3333333333333333333333333333333333333333333333333333333333333333";

fn deployment_path() -> String {
    format!("/apis/apps/v1/namespaces/{NS}/deployments/{NAME}")
}

/// How the pods of an image behave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Behaviour {
    Healthy,
    CrashLoop,
    ImagePull,
    NoProgress,
    Stuck,
}

/// The scripted deployment controller and kubelet.
struct Controller {
    behaviours: HashMap<String, Behaviour>,
    /// Looks at the Deployment that still show the previous generation's status.
    stale_looks: u32,
}

fn hash(text: &str) -> String {
    // FNV-1a: a stable pod-template-hash for a template.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{:x}", hash & 0xff_ffff_ffff)
}

/// `value` with every object's keys sorted: the same template hashes the same whichever
/// order slipway's JSON wrote it in (an apply's or an update's).
fn canonical(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            Value::Object(keys.into_iter().map(|k| (k.clone(), canonical(&map[k]))).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

fn revision(object: &Value) -> i64 {
    object["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
        .as_str()
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

impl Controller {
    fn new(behaviours: &[(&str, Behaviour)]) -> Self {
        Self { behaviours: behaviours.iter().map(|(i, b)| ((*i).to_owned(), *b)).collect(), stale_looks: 0 }
    }

    /// One look at a Deployment moves its world on; deleting one deletes what it owns.
    fn tick(&mut self, request: &Recorded, store: &mut Store) {
        let prefix = format!("/apis/apps/v1/namespaces/{NS}/deployments/");
        let Some(name) = request.path.strip_prefix(&prefix).map(str::to_owned) else { return };
        if name.contains('/') {
            return;
        }
        let sets_path = format!("/apis/apps/v1/namespaces/{NS}/replicasets");
        let pods_path = format!("/api/v1/namespaces/{NS}/pods");
        let Some(mut deployment) = store.objects.get(&request.path).cloned() else { return };
        let uid = deployment["metadata"]["uid"].clone();
        // The ReplicaSets this Deployment owns, by name.
        let owned: Vec<String> = store
            .list(&sets_path, None)
            .iter()
            .filter(|set| set["metadata"]["ownerReferences"][0]["uid"] == uid)
            .map(|set| set["metadata"]["name"].as_str().unwrap().to_owned())
            .collect();
        let pods_of = |store: &Store, sets: &[String]| -> Vec<String> {
            store
                .list(&pods_path, None)
                .iter()
                .filter(|pod| sets.iter().any(|set| pod["metadata"]["ownerReferences"][0]["name"] == json!(set)))
                .map(|pod| pod["metadata"]["name"].as_str().unwrap().to_owned())
                .collect()
        };
        if request.method == "DELETE" {
            // Foreground deletion: the pods and ReplicaSets go with it.
            for pod in pods_of(store, &owned) {
                store.objects.remove(&format!("{pods_path}/{pod}"));
            }
            for set in &owned {
                store.objects.remove(&format!("{sets_path}/{set}"));
            }
            return;
        }
        if request.method != "GET" {
            return;
        }
        let generation = deployment["metadata"]["generation"].as_i64().unwrap_or(1);
        let observed = deployment["status"]["observedGeneration"].as_i64().unwrap_or(0);
        let template = deployment["spec"]["template"].clone();
        let template_hash = hash(&canonical(&template).to_string());
        let set_name = format!("{name}-{template_hash}");
        let set_path = format!("{sets_path}/{set_name}");
        if observed < generation {
            if self.stale_looks > 0 {
                self.stale_looks -= 1;
                return;
            }
            let newest = owned
                .iter()
                .filter_map(|set| store.objects.get(&format!("{sets_path}/{set}")))
                .map(revision)
                .max()
                .unwrap_or(0);
            let current = store.objects.get(&set_path).map(revision).unwrap_or(0);
            let revision = if current == newest && current > 0 { current } else { newest + 1 };
            let mut labels = template["metadata"]["labels"].clone();
            labels["pod-template-hash"] = json!(template_hash);
            let mut set_template = template.clone();
            set_template["metadata"]["labels"] = labels.clone();
            let mut annotations = deployment["metadata"]["annotations"].clone();
            annotations["deployment.kubernetes.io/revision"] = json!(revision.to_string());
            let set = json!({
                "apiVersion": "apps/v1", "kind": "ReplicaSet",
                "metadata": {
                    "name": set_name, "namespace": NS, "labels": labels, "annotations": annotations,
                    "ownerReferences": [{ "apiVersion": "apps/v1", "kind": "Deployment", "name": name,
                                          "uid": uid, "controller": true }],
                },
                "spec": { "replicas": deployment["spec"]["replicas"], "selector": deployment["spec"]["selector"], "template": set_template },
            });
            store.put(&set_path, set);
            deployment["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = json!(revision.to_string());
            deployment["status"]["observedGeneration"] = json!(generation);
        }
        let image = template["spec"]["containers"][0]["image"].as_str().unwrap_or_default().to_owned();
        let behaviour = self.behaviours.get(&image).copied().unwrap_or(Behaviour::Healthy);
        let replicas = deployment["spec"]["replicas"].as_i64().unwrap_or(1);
        let old_sets: Vec<String> = owned.into_iter().filter(|set| *set != set_name).collect();
        let old_pods = pods_of(store, &old_sets);
        let pod = |index: i64, ready: bool, waiting: Option<(&str, &str)>, restarts: i64| {
            let mut labels = template["metadata"]["labels"].clone();
            labels["pod-template-hash"] = json!(template_hash);
            let state = match waiting {
                Some((reason, message)) => json!({ "waiting": { "reason": reason, "message": message } }),
                None => json!({ "running": { "startedAt": "2026-01-01T00:00:00Z" } }),
            };
            json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": { "name": format!("{set_name}-{index}"), "namespace": NS, "labels": labels,
                              "ownerReferences": [{ "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": set_name,
                                                    "uid": format!("uid-{set_name}"), "controller": true }] },
                "spec": { "containers": [{ "name": NAME, "image": image }] },
                "status": {
                    "phase": if ready { "Running" } else { "Pending" },
                    "conditions": [{ "type": "Ready", "status": if ready { "True" } else { "False" } }],
                    "containerStatuses": [{
                        "name": NAME, "image": image, "imageID": if ready { image.clone() } else { String::new() },
                        "ready": ready, "restartCount": restarts, "state": state,
                    }],
                },
            })
        };
        let event = |store: &mut Store, pod: &str, reason: &str, message: &str| {
            let path = format!("/api/v1/namespaces/{NS}/events/{pod}.{reason}");
            store.put(
                &path,
                json!({
                    "apiVersion": "v1", "kind": "Event",
                    "metadata": { "name": format!("{pod}.{reason}"), "namespace": NS },
                    "involvedObject": { "kind": "Pod", "name": pod, "namespace": NS },
                    "reason": reason, "message": message, "type": "Warning",
                    "lastTimestamp": "2026-01-01T00:01:00Z",
                }),
            );
        };
        let new_pod_name = format!("{set_name}-0");
        let status = match behaviour {
            Behaviour::Healthy => {
                for name in old_pods {
                    store.objects.remove(&format!("{pods_path}/{name}"));
                }
                // Scaled down: the pods beyond the count go.
                for index in replicas..replicas + 20 {
                    store.objects.remove(&format!("{pods_path}/{set_name}-{index}"));
                }
                for index in 0..replicas {
                    store.put(&format!("{pods_path}/{set_name}-{index}"), pod(index, true, None, 0));
                }
                json!({ "replicas": replicas, "updatedReplicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas,
                        "conditions": [{ "type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable" }] })
            }
            Behaviour::CrashLoop => {
                store.put(
                    &format!("{pods_path}/{new_pod_name}"),
                    pod(0, false, Some(("CrashLoopBackOff", "back-off 40s restarting failed container")), 2),
                );
                store.logs.insert(new_pod_name.clone(), "Starting shop 2.0.0\nException in thread \"main\" java.lang.IllegalStateException: DB_URL is not set\n".to_owned());
                event(store, &new_pod_name, "BackOff", "Back-off restarting failed container shop");
                json!({ "replicas": replicas + 1, "updatedReplicas": 1, "readyReplicas": replicas, "availableReplicas": replicas })
            }
            Behaviour::ImagePull => {
                store.put(
                    &format!("{pods_path}/{new_pod_name}"),
                    pod(0, false, Some(("ImagePullBackOff", "Back-off pulling image")), 0),
                );
                event(store, &new_pod_name, "Failed", "Failed to pull image: 401 Unauthorized");
                json!({ "replicas": replicas + 1, "updatedReplicas": 1, "readyReplicas": replicas, "availableReplicas": replicas })
            }
            Behaviour::NoProgress => {
                store.put(&format!("{pods_path}/{new_pod_name}"), pod(0, false, None, 0));
                json!({ "replicas": replicas + 1, "updatedReplicas": 1, "readyReplicas": replicas, "availableReplicas": replicas,
                        "conditions": [{ "type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                                         "message": format!("ReplicaSet \"{set_name}\" has timed out progressing.") }] })
            }
            Behaviour::Stuck => {
                store.put(&format!("{pods_path}/{new_pod_name}"), pod(0, false, None, 0));
                json!({ "replicas": replicas + 1, "updatedReplicas": 1, "readyReplicas": replicas, "availableReplicas": replicas })
            }
        };
        let observed = deployment["status"]["observedGeneration"].clone();
        deployment["status"] = status;
        deployment["status"]["observedGeneration"] = observed;
        store.put(&request.path, deployment);
    }
}

/// A fake cluster with `controller`, and `intercept` answering some requests itself.
fn cluster(
    controller: Controller,
    intercept: impl FnMut(&Recorded, &mut Store) -> Option<Reply> + Send + 'static,
) -> FakeKube {
    cluster_with_controller(controller, intercept).0
}

/// The same, with a handle on the controller to change its script between runs.
fn cluster_with_controller(
    controller: Controller,
    intercept: impl FnMut(&Recorded, &mut Store) -> Option<Reply> + Send + 'static,
) -> (FakeKube, Arc<Mutex<Controller>>) {
    let controller = Arc::new(Mutex::new(controller));
    let ticking = Arc::clone(&controller);
    let fake = FakeKube::start(
        Store::default(),
        Box::new(intercept),
        Box::new(move |request, store| ticking.lock().unwrap().tick(request, store)),
    );
    (fake, controller)
}

fn no_intercept(_: &Recorded, _: &mut Store) -> Option<Reply> {
    None
}

/// The deploy binary pointed at `kubeconfig`, in a clean environment.
fn deploy(dir: &Path, kubeconfig: &str, args: &[&str]) -> Command {
    let path = dir.join("kubeconfig");
    std::fs::write(&path, kubeconfig).unwrap();
    let mut command = step_command(env!("CARGO_BIN_EXE_deploy"));
    command.env_remove("KUBECONFIG").env("HOME", dir).env("KUBECONFIG", &path);
    command.args(["--target", "kubernetes"]).args(args);
    command
}

fn run(fake: &FakeKube, args: &[&str]) -> StepRun {
    run_env(&fake.kubeconfig(None), args, &[])
}

fn run_env(kubeconfig: &str, args: &[&str], env: &[(&str, &str)]) -> StepRun {
    let dir = tempfile::tempdir().unwrap();
    let mut command = deploy(dir.path(), kubeconfig, args);
    for (name, value) in env {
        command.env(name, value);
    }
    run_with_sinks(command, dir.path())
}

fn deploy_args(image: &'static str, timeout: &'static str) -> Vec<&'static str> {
    // The images of these tests are in no registry: the pods' user is given (the image's
    // own is read from a registry in the tests of --run-as below).
    vec!["--name", NAME, "--namespace", NS, "--image", image, "--timeout", timeout, "--run-as", "65532:65532"]
}

/// The last template slipway sent for the Deployment: `apply`, `forced apply` (a
/// rollback), or another method.
fn sent_images(fake: &FakeKube) -> Vec<(String, String)> {
    fake.requests()
        .into_iter()
        .filter(|r| r.path == deployment_path() && matches!(r.method.as_str(), "PATCH" | "PUT"))
        .map(|r| {
            let how = match (r.method.as_str(), r.param("force")) {
                ("PATCH", Some("true")) if r.content_type.starts_with("application/apply-patch") => "forced apply",
                ("PATCH", _) if r.content_type.starts_with("application/apply-patch") => "apply",
                (method, _) => method,
            };
            (
                how.to_owned(),
                r.json()["spec"]["template"]["spec"]["containers"][0]["image"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[test]
fn a_healthy_rollout_is_applied_server_side_and_done_when_every_pod_runs_the_digest() {
    let fake = cluster(Controller::new(&[]), no_intercept);
    let run = run(&fake, &deploy_args(V1, "2m"));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.output("status"), Some("deployed"));
    assert_eq!(run.output("deployment-id"), Some("shop-prod/shop@1"));
    assert_eq!(run.output("health"), Some("2/2 ready"));
    assert_eq!(run.output("url"), Some("http://shop.shop-prod.svc.cluster.local"));
    assert_eq!(run.output("previous-version"), Some(""));

    let patches: Vec<Recorded> = fake.requests().into_iter().filter(|r| r.method == "PATCH").collect();
    let paths: Vec<&str> = patches.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/api/v1/namespaces/shop-prod/services/shop",
            "/apis/policy/v1/namespaces/shop-prod/poddisruptionbudgets/shop-pdb",
            "/apis/networking.k8s.io/v1/namespaces/shop-prod/networkpolicies/shop",
            "/apis/apps/v1/namespaces/shop-prod/deployments/shop",
        ],
        "Service, PodDisruptionBudget, NetworkPolicy, then the Deployment"
    );
    for patch in &patches {
        assert_eq!(patch.content_type, "application/apply-patch+yaml", "server-side apply");
        assert_eq!(patch.param("fieldManager"), Some("slipway"));
        assert_eq!(patch.param("force"), None, "no force without --force-conflicts");
    }
    let deployment = patches[3].json();
    assert_eq!(deployment["spec"]["template"]["spec"]["containers"][0]["image"], V1);
    assert_eq!(deployment["spec"]["replicas"], 2);
    assert_eq!(deployment["spec"]["strategy"]["rollingUpdate"], json!({ "maxSurge": "25%", "maxUnavailable": 0 }));
}

#[test]
fn a_stale_status_right_after_apply_never_passes() {
    let (fake, controller) = cluster_with_controller(Controller::new(&[(V2, Behaviour::CrashLoop)]), no_intercept);
    assert_eq!(run(&fake, &deploy_args(V1, "2m")).code, 0);
    // The next looks show generation 1's status (all updated and available): done by
    // kubectl's arithmetic, but about the previous template.
    fake.store.lock().unwrap().requests.clear();
    controller.lock().unwrap().stale_looks = 3;
    let run = run(&fake, &deploy_args(V2, "2m"));
    assert_eq!(run.code, 1, "a stale status reported the rollout done:\n{}", run.stderr);
    assert_eq!(run.output("status"), Some("rolled-back"), "{}", run.stderr);
    let looks = fake.requests().iter().filter(|r| r.method == "GET" && r.path == deployment_path()).count();
    assert!(looks > 4, "slipway waited for the controller to observe the new generation ({looks} looks)");
}

fn assert_rolled_back(fake: &FakeKube, run: &StepRun, reason: &str) {
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.output("status"), Some("rolled-back"), "{}", run.stderr);
    let error =
        run.stderr.lines().find(|l| l.starts_with("error:") || l.contains("::error")).unwrap_or_default().to_owned();
    assert!(run.stderr.contains(reason), "the reason `{reason}` is named:\n{}", run.stderr);
    let sent = sent_images(fake);
    assert_eq!(
        sent.last().map(|(method, image)| (method.as_str(), image.as_str())),
        Some(("forced apply", V1)),
        "the previous template was put back ({sent:?}); error: {error}"
    );
}

#[test]
fn crash_loop_back_off_fails_fast_explains_and_rolls_back() {
    let fake = cluster(Controller::new(&[(V2, Behaviour::CrashLoop)]), no_intercept);
    assert_eq!(run(&fake, &deploy_args(V1, "2m")).code, 0);
    let started = Instant::now();
    let run = run(&fake, &deploy_args(V2, "10m"));
    assert!(started.elapsed() < Duration::from_secs(60), "no wait for the deadline on a crash loop");
    assert_rolled_back(&fake, &run, "CrashLoopBackOff");
    assert!(
        run.stderr.contains("java.lang.IllegalStateException: DB_URL is not set"),
        "the last log lines:\n{}",
        run.stderr
    );
    assert!(run.stderr.contains("BackOff"), "recent events:\n{}", run.stderr);
    assert_eq!(run.output("deployment-id"), None, "a failure publishes its status only");
}

#[test]
fn image_pull_back_off_rolls_back() {
    let fake = cluster(Controller::new(&[(V2, Behaviour::ImagePull)]), no_intercept);
    assert_eq!(run(&fake, &deploy_args(V1, "2m")).code, 0);
    let run = run(&fake, &deploy_args(V2, "10m"));
    assert_rolled_back(&fake, &run, "ImagePullBackOff");
}

#[test]
fn progress_deadline_exceeded_rolls_back() {
    let fake = cluster(Controller::new(&[(V2, Behaviour::NoProgress)]), no_intercept);
    assert_eq!(run(&fake, &deploy_args(V1, "2m")).code, 0);
    let run = run(&fake, &deploy_args(V2, "10m"));
    assert_rolled_back(&fake, &run, "ProgressDeadlineExceeded");
}

#[test]
fn a_rollout_stuck_past_the_timeout_is_cut_off_and_rolled_back() {
    let fake = cluster(Controller::new(&[(V2, Behaviour::Stuck)]), no_intercept);
    assert_eq!(run(&fake, &deploy_args(V1, "2m")).code, 0);
    let started = Instant::now();
    let run = run(&fake, &deploy_args(V2, "3s"));
    assert!(started.elapsed() < Duration::from_secs(30), "the deadline bounds the wait");
    assert_rolled_back(&fake, &run, "did not finish within --timeout 3s");
}

#[test]
fn a_first_deployment_that_fails_has_nothing_to_roll_back_to() {
    let fake = cluster(Controller::new(&[(V2, Behaviour::CrashLoop)]), no_intercept);
    let run = run(&fake, &deploy_args(V2, "2m"));
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.output("status"), Some("failed"));
    assert!(run.stderr.contains("nothing to roll back to"), "{}", run.stderr);
    assert!(sent_images(&fake).iter().all(|(how, _)| how == "apply"), "no undo");
}

#[test]
fn rollback_puts_the_previous_revision_back() {
    let fake = cluster(Controller::new(&[]), no_intercept);
    assert_eq!(run(&fake, &deploy_args(V1, "2m")).code, 0);
    let second = run(&fake, &deploy_args(V2, "2m"));
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert_eq!(second.output("deployment-id"), Some("shop-prod/shop@2"));
    let run = run(&fake, &["--rollback", "--name", NAME, "--namespace", NS]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.output("status"), Some("rolled-back"));
    assert_eq!(run.output("deployment-id"), Some("shop-prod/shop@3"), "the old ReplicaSet comes back as revision 3");
    assert_eq!(
        sent_images(&fake).last().map(|(m, i)| (m.clone(), i.clone())),
        Some(("forced apply".to_owned(), V1.to_owned()))
    );
}

#[test]
fn an_apply_conflict_names_the_field_and_its_owner_unless_forced() {
    let conflict = |request: &Recorded, _: &mut Store| {
        (request.method == "PATCH" && request.path == deployment_path() && request.param("force") != Some("true")).then(|| {
            Reply::status(
                409,
                "Conflict",
                "Apply failed with 1 conflict: conflict with \"kubectl-edit\" using apps/v1: .spec.replicas",
                json!({ "causes": [{ "reason": "FieldManagerConflict", "message": "conflict with \"kubectl-edit\" using apps/v1", "field": ".spec.replicas" }] }),
            )
        })
    };
    let fake = cluster(Controller::new(&[]), conflict);
    let run = run(&fake, &deploy_args(V1, "2m"));
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.output("status"), Some("unchanged"));
    assert!(run.stderr.contains(".spec.replicas (owned by kubectl-edit)"), "{}", run.stderr);
    assert!(run.stderr.contains("--force-conflicts"), "{}", run.stderr);

    let mut forced = deploy_args(V1, "2m");
    forced.push("--force-conflicts");
    let run = self::run(&fake, &forced);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(fake.requests().iter().any(|r| r.method == "PATCH" && r.param("force") == Some("true")));
}

#[test]
fn forbidden_names_the_verb_and_resource_and_unauthorized_says_so() {
    let forbidden = |request: &Recorded, _: &mut Store| {
        (request.method == "PATCH" && request.path.ends_with("/services/shop")).then(|| {
            Reply::status(
                403,
                "Forbidden",
                "services \"shop\" is forbidden: User \"ci\" cannot patch resource \"services\" in API group \"\" in the namespace \"shop-prod\"",
                json!({ "name": "shop", "kind": "services" }),
            )
        })
    };
    let fake = cluster(Controller::new(&[]), forbidden);
    let run = run(&fake, &deploy_args(V1, "2m"));
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("forbids slipway to patch services shop in namespace shop-prod (403 Forbidden"),
        "{}",
        run.stderr
    );

    let unauthorized =
        |_: &Recorded, _: &mut Store| Some(Reply::status(401, "Unauthorized", "Unauthorized", json!({})));
    let fake = cluster(Controller::new(&[]), unauthorized);
    let run = self::run(&fake, &deploy_args(V1, "2m"));
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("refused the credentials (401 Unauthorized)"), "{}", run.stderr);
    assert_eq!(fake.requests().len(), 1, "nothing after the refusal");
}

#[test]
fn an_unreachable_api_server_is_one_line() {
    let port = slipway_testkit::free_port();
    let kubeconfig = slipway_testkit::kube_api::kubeconfig_for(&format!("http://127.0.0.1:{port}"), None);
    let run = run_env(&kubeconfig, &deploy_args(V1, "30s"), &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.output("status"), Some("unchanged"));
    assert!(
        run.stderr.contains(&format!("cannot reach the Kubernetes API at http://127.0.0.1:{port}")),
        "{}",
        run.stderr
    );
}

#[test]
fn secrets_reach_the_cluster_only_as_the_secret_s_data() {
    let fake = cluster(Controller::new(&[]), no_intercept);
    let secret = slipway_testkit::secrets::KUBERNETES_SECRET;
    let mut args = deploy_args(V1, "2m");
    args.extend(["--secret-env", "DB_PASSWORD"]);
    let run = run_env(&fake.kubeconfig(None), &args, &[("DB_PASSWORD", secret), ("GITHUB_ACTIONS", "true")]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // The mask announcement is the one line that names it, and it comes first.
    assert_eq!(run.stderr.lines().next(), Some(format!("::add-mask::{secret}").as_str()), "{}", run.stderr);
    let unmasked = StepRun { stderr: run.stderr.lines().skip(1).collect::<Vec<_>>().join("\n"), ..run };
    unmasked.assert_never_wrote(secret);
    let sent = fake.requests();
    let secret_patch = sent.iter().find(|r| r.path.ends_with("/secrets/shop-env")).expect("the Secret is applied");
    use base64::Engine as _;
    assert_eq!(secret_patch.json()["data"]["DB_PASSWORD"], base64::engine::general_purpose::STANDARD.encode(secret));
    let deployment = sent.iter().find(|r| r.method == "PATCH" && r.path == deployment_path()).unwrap();
    assert!(!deployment.body.contains(secret));
    assert_eq!(
        deployment.json()["spec"]["template"]["spec"]["containers"][0]["env"][0]["valueFrom"],
        json!({ "secretKeyRef": { "name": "shop-env", "key": "DB_PASSWORD" } })
    );
}

#[test]
fn bad_input_is_refused_before_any_request() {
    let fake = cluster(Controller::new(&[]), no_intercept);
    let valid = deploy_args(V1, "2m");
    let with = |extra: &[&'static str]| [&valid[..], extra].concat();
    let cases: [(Vec<&str>, &str); 8] = [
        (vec!["--name", "Shop_1", "--namespace", NS, "--image", V1], "--name `Shop_1` is not a DNS-1123 label"),
        (vec!["--name", NAME, "--namespace", "Prod", "--image", V1], "--namespace `Prod` is not a DNS-1123 label"),
        (with(&["--replicas", "0"]), "--replicas 0"),
        (with(&["--max-surge", "0", "--max-unavailable", "0"]), "cannot both be 0"),
        (with(&["--memory-limit", "lots"]), "--memory-limit `lots` is not a Kubernetes quantity"),
        (with(&["--context", "prod"]), "has no context `prod`; it has: test"),
        (with(&["--kubeconfig", "/nonexistent/kubeconfig"]), "the kubeconfig /nonexistent/kubeconfig does not exist"),
        (with(&["--secret-env", "UNSET_SECRET"]), "--secret-env UNSET_SECRET: UNSET_SECRET is not set"),
    ];
    for (args, message) in cases {
        let extra = &args;
        let run = run_env(&fake.kubeconfig(None), &args, &[("GITHUB_ACTIONS", "true")]);
        assert_eq!(run.code, 2, "{extra:?}: {}", run.stderr);
        let errors: Vec<&str> = run.stderr.lines().filter(|l| l.starts_with("::error")).collect();
        assert_eq!(errors.len(), 1, "{extra:?}: one line: {}", run.stderr);
        assert!(errors[0].contains(message), "{extra:?}: `{}` lacks `{message}`", errors[0]);
    }
    let no_namespace = run_env(&fake.kubeconfig(None), &["--name", NAME, "--image", V1], &[]);
    assert_eq!(no_namespace.code, 2, "the implicit default namespace is refused: {}", no_namespace.stderr);
    assert!(no_namespace.stderr.contains("no namespace: give --namespace"), "{}", no_namespace.stderr);
    assert!(fake.requests().is_empty(), "no request for bad input: {:?}", fake.requests());
}

#[test]
fn render_writes_what_apply_sends_without_a_cluster_or_a_secret_value() {
    let dir = tempfile::tempdir().unwrap();
    let secret = slipway_testkit::secrets::KUBERNETES_SECRET;
    let mut command = step_command(env!("CARGO_BIN_EXE_deploy"));
    command.env_remove("KUBECONFIG").env("HOME", dir.path()).env("DB_PASSWORD", secret).args([
        "--target",
        "kubernetes",
        "--name",
        NAME,
        "--namespace",
        NS,
        "--image",
        V1,
        "--version-label",
        "1.0.0",
        "--secret-env",
        "DB_PASSWORD",
        "--run-as",
        "65532:65532",
        "--render",
        "-",
    ]);
    let run = run_with_sinks(command, dir.path());
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.assert_never_wrote(secret);
    let documents: Vec<Value> = run
        .stdout
        .split("\n---\n")
        .map(|doc| serde_yaml_ng::from_str::<Value>(doc.trim_start_matches("---\n")).unwrap())
        .collect();
    let kinds: Vec<&str> = documents.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["Secret", "Service", "PodDisruptionBudget", "NetworkPolicy", "Deployment"]);
    assert!(documents[0].get("data").is_none() && documents[0].get("stringData").is_none());
    assert_eq!(documents[4]["spec"]["template"]["spec"]["containers"][0]["image"], V1);
    assert_eq!(run.github_output.as_deref().unwrap_or_default(), "", "standard output holds the YAML only");
}

#[test]
fn dry_run_is_the_server_s_dry_run_and_keeps_nothing() {
    let fake = cluster(Controller::new(&[]), no_intercept);
    let mut args = deploy_args(V1, "2m");
    args.push("--dry-run");
    let run = run(&fake, &args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.output("status"), Some("planned"));
    let patches: Vec<Recorded> = fake.requests().into_iter().filter(|r| r.method == "PATCH").collect();
    assert_eq!(patches.len(), 4, "every object checked by the server");
    assert!(patches.iter().all(|r| r.param("dryRun") == Some("All")), "{patches:?}");
    assert!(fake.store.lock().unwrap().objects.is_empty(), "nothing kept");
}

#[test]
fn rollback_to_a_named_version_and_the_namespace_from_the_context() {
    let fake = cluster(Controller::new(&[]), no_intercept);
    // The kubeconfig's context names the namespace: no --namespace needed.
    let kubeconfig = fake.kubeconfig(Some(NS));
    for (image, label) in [(V1, "1.0.0"), (V2, "2.0.0"), (V3, "3.0.0")] {
        let run = run_env(
            &kubeconfig,
            &["--name", NAME, "--image", image, "--version-label", label, "--run-as", "65532"],
            &[],
        );
        assert_eq!(run.code, 0, "{label}: {}", run.stderr);
    }
    let run = run_env(&kubeconfig, &["--name", NAME, "--rollback", "--version-label", "1.0.0"], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.output("status"), Some("rolled-back"));
    assert_eq!(run.output("version-label"), Some("1.0.0"));
    assert_eq!(run.output("previous-version"), Some("3.0.0"));
    assert_eq!(
        sent_images(&fake).last().map(|(m, i)| (m.clone(), i.clone())),
        Some(("forced apply".to_owned(), V1.to_owned()))
    );
    let missing = run_env(&kubeconfig, &["--name", NAME, "--rollback", "--version-label", "0.9.0"], &[]);
    assert_eq!(missing.code, 2, "{}", missing.stderr);
    assert!(missing.stderr.contains("no earlier revision labelled 0.9.0"), "{}", missing.stderr);
}

// Canary and blue-green: the same fake cluster, the Deployments `shop-canary`,
// `shop-blue` and `shop-green` run by the same scripted controller.

fn path_of(kind: &str, name: &str) -> String {
    match kind {
        "deployments" => format!("/apis/apps/v1/namespaces/{NS}/deployments/{name}"),
        _ => format!("/api/v1/namespaces/{NS}/{kind}/{name}"),
    }
}

/// The requests of `method` to `kind`/`name`.
fn sent_to(fake: &FakeKube, method: &str, kind: &str, name: &str) -> Vec<Recorded> {
    let path = path_of(kind, name);
    fake.requests().into_iter().filter(|r| r.method == method && r.path == path).collect()
}

fn stored(fake: &FakeKube, kind: &str, name: &str) -> Option<Value> {
    fake.store.lock().unwrap().objects.get(&path_of(kind, name)).cloned()
}

fn with(mut args: Vec<&'static str>, extra: &[&'static str]) -> Vec<&'static str> {
    args.extend_from_slice(extra);
    args
}

/// A cluster where `shop` runs V1 on 2 pods (a rolling deployment), the requests cleared.
fn running_v1(behaviours: &[(&str, Behaviour)]) -> FakeKube {
    let fake = cluster(Controller::new(behaviours), no_intercept);
    let first = run(&fake, &with(deploy_args(V1, "2m"), &["--version-label", "1.0.0"]));
    assert_eq!(first.code, 0, "{}", first.stderr);
    fake.store.lock().unwrap().requests.clear();
    fake
}

fn canary_args(image: &'static str) -> Vec<&'static str> {
    with(deploy_args(image, "2m"), &["--strategy", "canary", "--version-label", "2.0.0"])
}

#[test]
fn a_canary_runs_beside_the_main_deployment_then_is_promoted() {
    let fake = running_v1(&[]);
    let run = run(&fake, &canary_args(V2));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.output("status"), Some("canary"));
    assert_eq!(run.output("url"), Some("http://shop-canary.shop-prod.svc.cluster.local"), "the canary's own Service");
    assert_eq!(run.output("previous-version"), Some("1.0.0"));
    assert!(run.output("deployment-id").is_some_and(|id| id.starts_with("shop-prod/shop-canary@")), "{run:?}");
    // The main Deployment is not touched; the canary is a Deployment and a Service of its own.
    assert!(sent_images(&fake).is_empty(), "the main Deployment was changed: {:?}", sent_images(&fake));
    let canary = sent_to(&fake, "PATCH", "deployments", "shop-canary");
    assert_eq!(canary.len(), 1);
    let body = canary[0].json();
    assert_eq!(canary[0].content_type, "application/apply-patch+yaml");
    assert_eq!(body["spec"]["template"]["spec"]["containers"][0]["image"], V2);
    assert_eq!(body["spec"]["replicas"], 1, "10% beside 2 pods: 1 pod, at least one");
    let track = json!({ "app.kubernetes.io/name": NAME, "slipway.dev/track": "canary" });
    assert_eq!(body["spec"]["selector"]["matchLabels"], track);
    assert_eq!(
        body["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"], NAME,
        "the app's Service selects it"
    );
    let service = sent_to(&fake, "PATCH", "services", "shop-canary");
    assert_eq!(service[0].json()["spec"]["selector"], track, "the canary's Service selects it alone");
    assert_eq!(stored(&fake, "services", NAME).unwrap()["spec"]["selector"], json!({ "app.kubernetes.io/name": NAME }));

    fake.store.lock().unwrap().requests.clear();
    // Promoted by a job that names the app's secret but does not hold its value.
    let promoted = self::run(
        &fake,
        &["--strategy", "canary", "--promote", "--name", NAME, "--namespace", NS, "--secret-env", "DB_PASSWORD"],
    );
    assert_eq!(promoted.code, 0, "{}", promoted.stderr);
    assert!(
        sent_to(&fake, "PATCH", "secrets", "shop-env").is_empty(),
        "the Secret is never applied without its values"
    );
    assert_eq!(promoted.output("status"), Some("promoted"));
    assert_eq!(promoted.output("version-label"), Some("2.0.0"), "the canary's version");
    assert_eq!(promoted.output("previous-version"), Some("1.0.0"));
    assert_eq!(promoted.output("url"), Some("http://shop.shop-prod.svc.cluster.local"));
    assert_eq!(
        sent_images(&fake),
        [("apply".to_owned(), V2.to_owned())],
        "the main Deployment rolled to the canary's image"
    );
    let deleted = sent_to(&fake, "DELETE", "deployments", "shop-canary");
    assert_eq!(deleted.len(), 1, "the canary is deleted");
    assert_eq!(deleted[0].json()["propagationPolicy"], "Foreground", "its pods go first");
    assert_eq!(sent_to(&fake, "DELETE", "services", "shop-canary").len(), 1);
    assert!(
        stored(&fake, "deployments", "shop-canary").is_none() && stored(&fake, "services", "shop-canary").is_none()
    );
    let main = stored(&fake, "deployments", NAME).unwrap();
    assert_eq!(main["spec"]["template"]["spec"]["containers"][0]["image"], V2);
    let pods = fake.store.lock().unwrap().list(&format!("/api/v1/namespaces/{NS}/pods"), None);
    assert!(pods.iter().all(|pod| pod["spec"]["containers"][0]["image"] == V2), "every pod runs V2: {pods:?}");
    assert!(pods.iter().all(|pod| pod["metadata"]["labels"].get("slipway.dev/track").is_none()), "no canary pod left");
}

#[test]
fn a_rejected_canary_is_removed_and_the_main_deployment_never_changed() {
    let fake = running_v1(&[]);
    let mut args = canary_args(V2);
    args.extend(["--steps", "25,50", "--bake", "1s"]);
    let run = run(&fake, &args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.output("status"), Some("canary"));
    let replicas: Vec<Value> = sent_to(&fake, "PATCH", "deployments", "shop-canary")
        .iter()
        .map(|r| r.json()["spec"]["replicas"].clone())
        .collect();
    assert_eq!(replicas, [json!(1), json!(2)], "25% then 50% beside 2 main pods, pods weighing the traffic");

    let rejected = self::run(&fake, &["--strategy", "canary", "--reject", "--name", NAME, "--namespace", NS]);
    assert_eq!(rejected.code, 0, "{}", rejected.stderr);
    assert_eq!(rejected.output("status"), Some("rejected"));
    assert_eq!(rejected.output("version-label"), Some("1.0.0"), "the version that serves");
    assert_eq!(rejected.output("previous-version"), Some("2.0.0"), "the rejected one");
    assert!(
        stored(&fake, "deployments", "shop-canary").is_none() && stored(&fake, "services", "shop-canary").is_none()
    );
    assert!(sent_images(&fake).is_empty(), "the main Deployment never changed");
    let again = self::run(&fake, &["--strategy", "canary", "--reject", "--name", NAME, "--namespace", NS]);
    assert_eq!(again.code, 2, "no canary left to reject: {}", again.stderr);
    assert!(again.stderr.contains("there is no canary shop-canary"), "{}", again.stderr);
}

#[test]
fn a_crash_looping_canary_is_removed_with_the_main_deployment_untouched() {
    let fake = running_v1(&[(V2, Behaviour::CrashLoop)]);
    let started = Instant::now();
    let run = run(&fake, &with(deploy_args(V2, "10m"), &["--strategy", "canary", "--version-label", "2.0.0"]));
    assert!(started.elapsed() < Duration::from_secs(60), "no wait for the deadline on a crash loop");
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.output("status"), Some("unchanged"), "{}", run.stderr);
    assert!(run.stderr.contains("the canary shop-canary of 2.0.0 failed: pod shop-canary-"), "{}", run.stderr);
    assert!(run.stderr.contains("CrashLoopBackOff"), "{}", run.stderr);
    assert!(
        run.stderr.contains("java.lang.IllegalStateException: DB_URL is not set"),
        "its last log lines:\n{}",
        run.stderr
    );
    assert_eq!(sent_to(&fake, "DELETE", "deployments", "shop-canary").len(), 1, "the canary is removed");
    assert!(stored(&fake, "deployments", "shop-canary").is_none());
    assert!(sent_images(&fake).is_empty(), "the main Deployment is untouched");
    let main = stored(&fake, "deployments", NAME).unwrap();
    assert_eq!(main["spec"]["template"]["spec"]["containers"][0]["image"], V1);
}

#[test]
fn a_first_canary_is_simply_deployed_and_blue_green_needs_a_service_on_a_colour() {
    let fake = cluster(Controller::new(&[]), no_intercept);
    let run = run(&fake, &canary_args(V2));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.output("status"), Some("deployed"), "nothing to shift traffic from: {}", run.stderr);
    assert!(
        run.stderr.contains("nothing serves shop yet: the new version takes all traffic at once"),
        "{}",
        run.stderr
    );
    assert_eq!(sent_images(&fake), [("apply".to_owned(), V2.to_owned())]);
    assert!(stored(&fake, "deployments", "shop-canary").is_none());

    let fake = running_v1(&[]);
    let run = self::run(&fake, &with(deploy_args(V2, "2m"), &["--strategy", "blue-green"]));
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("the Service shop in namespace shop-prod selects every pod of the app"),
        "{}",
        run.stderr
    );
    assert!(fake.requests().iter().all(|r| r.method == "GET"), "nothing changed");

    let long = "a23456789-123456789-123456789-123456789-123456789-1234567";
    let run = self::run(&fake, &["--strategy", "canary", "--name", long, "--namespace", NS, "--image", V2]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("is longer than 56 characters (--strategy canary adds a suffix to it)"),
        "{}",
        run.stderr
    );
    let run = self::run(&fake, &with(deploy_args(V2, "2m"), &["--preview-url", "http://user:pw@canary.example"]));
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("--preview-url is where a canary or a blue-green preview answers"), "{}", run.stderr);
    let run = self::run(&fake, &with(canary_args(V2), &["--preview-url", "http://user:pw@canary.example"]));
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("is not an http:// or https:// base URL"), "{}", run.stderr);
    run.assert_never_wrote("user:pw");
    // Analysis judges a canary's steps and a blue-green switch only, and its bakes must
    // fit in --timeout.
    let run = self::run(&fake, &with(deploy_args(V2, "2m"), &["--strategy", "rolling", "--max-error-rate", "5%"]));
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("which --strategy rolling on the kubernetes target does not do"), "{}", run.stderr);
    let run = self::run(
        &fake,
        &with(deploy_args(V2, "2m"), &["--strategy", "blue-green", "--bake", "1m", "--max-error-rate", "5%"]),
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("before the switch and after it) do not fit in --timeout 2m"), "{}", run.stderr);
    let run = self::run(&fake, &with(deploy_args(V2, "2m"), &["--strategy", "blue-green", "--bake", "1m"]));
    assert_eq!(run.code, 2, "--bake without analysis: {}", run.stderr);
    let run = self::run(&fake, &with(canary_args(V2), &["--steps", "10,50", "--bake", "1m", "--max-error-rate", "5%"]));
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("do not fit in --timeout 2m"), "{}", run.stderr);
    assert!(fake.requests().iter().all(|r| r.method == "GET"), "nothing changed: {:?}", fake.requests());
}

#[test]
fn a_canary_dry_run_is_the_server_s_dry_run_and_keeps_nothing() {
    let fake = running_v1(&[]);
    let before = fake.store.lock().unwrap().objects.clone();
    let run = run(&fake, &with(canary_args(V2), &["--dry-run"]));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.output("status"), Some("planned"));
    assert!(run.stderr.contains("apply Deployment shop-canary"), "the plan names the canary:\n{}", run.stderr);
    let patches: Vec<Recorded> = fake.requests().into_iter().filter(|r| r.method != "GET").collect();
    assert!(!patches.is_empty() && patches.iter().all(|r| r.param("dryRun") == Some("All")), "{patches:?}");
    let after = fake.store.lock().unwrap().objects.clone();
    assert_eq!(before.keys().collect::<Vec<_>>(), after.keys().collect::<Vec<_>>(), "nothing kept");
}

/// A loopback server playing the canary's Service for the analysis: `GET /health` is 200,
/// or 500 while `failing` says so of the fake cluster; it also answers Prometheus's
/// instant queries (`/api/v1/query`) with `0.01`.
fn canary_service(store: Arc<Mutex<Store>>, failing: fn(&Store) -> bool) -> ProbedService {
    ProbedService::start(move || failing(&store.lock().unwrap()), false)
}

/// Whether the main Deployment runs V2 (the canary was rolled into it: the final watch).
fn main_runs_v2(store: &Store) -> bool {
    store.objects.get(&deployment_path()).is_some_and(|d| d["spec"]["template"]["spec"]["containers"][0]["image"] == V2)
}

/// A judged canary of V2 (steps 25,50; bake 1s) whose Service `failing` decides, with `gates`.
fn judged(fake: &FakeKube, failing: fn(&Store) -> bool, gates: &[&str]) -> (StepRun, usize) {
    let service = canary_service(Arc::clone(&fake.store), failing);
    let url = service.url();
    let mut args: Vec<String> = canary_args(V2).into_iter().map(str::to_owned).collect();
    args.extend(["--steps", "25,50", "--bake", "1s", "--preview-url"].map(str::to_owned));
    args.push(url.clone());
    args.extend(gates.iter().map(|g| g.replace("{url}", &url)));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = run(fake, &args);
    (run, service.hits())
}

#[test]
fn a_judged_canary_that_stays_healthy_goes_through_every_step_and_is_promoted() {
    let fake = running_v1(&[]);
    let (run, probes) = judged(
        &fake,
        |_| false,
        &[
            "--max-error-rate",
            "5%",
            "--prometheus",
            "{url}",
            "--metric",
            "errors:sum(rate(http_errors_total[1m]))<=0.05",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.output("status"), Some("promoted"));
    assert_eq!(run.output("url"), Some("http://shop.shop-prod.svc.cluster.local"));
    assert!(probes >= 6, "the analysis probed the canary's Service ({probes} probes)");
    let replicas: Vec<Value> = sent_to(&fake, "PATCH", "deployments", "shop-canary")
        .iter()
        .map(|r| r.json()["spec"]["replicas"].clone())
        .collect();
    assert_eq!(replicas, [json!(1), json!(2)], "each step scales the canary");
    assert_eq!(sent_images(&fake), [("apply".to_owned(), V2.to_owned())], "then the main Deployment rolls to it");
    assert!(stored(&fake, "deployments", "shop-canary").is_none(), "and the canary goes");
    let summary = run.summary.clone().unwrap_or_default();
    for step in ["step 1 of 2 at 25%", "step 2 of 2 at 50%", "final watch at 100%"] {
        assert!(summary.contains(step), "the timeline names {step}:\n{summary}");
    }
    assert!(summary.contains("errors 0.01"), "the gate's observed value:\n{summary}");
}

#[test]
fn a_judged_canary_serving_errors_is_aborted_at_its_first_step() {
    let fake = running_v1(&[]);
    let (run, _) = judged(&fake, |_| true, &["--max-error-rate", "5%"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.output("status"), Some("aborted"));
    assert!(
        run.stderr.contains("the canary was aborted at step 1 of 2 at 25%: the gate error rate was crossed"),
        "{}",
        run.stderr
    );
    assert_eq!(sent_to(&fake, "PATCH", "deployments", "shop-canary").len(), 1, "never scaled to step 2");
    assert_eq!(sent_to(&fake, "DELETE", "deployments", "shop-canary").len(), 1, "the canary is removed");
    assert!(sent_images(&fake).is_empty(), "the main Deployment is untouched");
}

#[test]
fn a_gate_crossed_during_the_final_bake_rolls_the_main_deployment_back() {
    let fake = running_v1(&[]);
    let (run, _) = judged(&fake, main_runs_v2, &["--max-error-rate", "5%"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.output("status"), Some("rolled-back"), "{}", run.stderr);
    assert!(run.stderr.contains("the promoted canary was rolled back at the final watch at 100%"), "{}", run.stderr);
    let sent = sent_images(&fake);
    assert_eq!(
        sent,
        [("apply".to_owned(), V2.to_owned()), ("forced apply".to_owned(), V1.to_owned())],
        "rolled to V2 for the final watch, then its previous revision put back"
    );
    assert!(stored(&fake, "deployments", "shop-canary").is_none(), "the canary is removed");
    let main = stored(&fake, "deployments", NAME).unwrap();
    assert_eq!(main["spec"]["template"]["spec"]["containers"][0]["image"], V1);
}

#[test]
fn a_judged_canary_whose_query_errors_is_aborted_as_inconclusive() {
    let fake = running_v1(&[]);
    let nowhere = format!("http://127.0.0.1:{}", slipway_testkit::free_port());
    let nowhere: &'static str = Box::leak(nowhere.into_boxed_str());
    let (run, _) = judged(
        &fake,
        |_| false,
        &["--prometheus", nowhere, "--metric", "errors:sum(rate(http_errors_total[1m]))<=0.05"],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.output("status"), Some("aborted"));
    assert!(run.stderr.contains("at step 1 of 2 at 25%: the gate errors is inconclusive"), "{}", run.stderr);
    assert!(stored(&fake, "deployments", "shop-canary").is_none(), "the canary is removed");
    assert!(sent_images(&fake).is_empty(), "the main Deployment is untouched");
}

fn blue_green(image: &'static str, label: &'static str) -> Vec<&'static str> {
    with(deploy_args(image, "2m"), &["--strategy", "blue-green", "--version-label", label])
}

fn finish(phase: &'static str) -> Vec<&'static str> {
    vec!["--strategy", "blue-green", phase, "--name", NAME, "--namespace", NS]
}

fn selector_colour(fake: &FakeKube, service: &str) -> Option<String> {
    stored(fake, "services", service)
        .and_then(|s| s["spec"]["selector"]["slipway.dev/color"].as_str().map(str::to_owned))
}

#[test]
fn blue_green_previews_the_new_colour_switches_the_service_on_promote_and_drops_it_on_reject() {
    let fake = cluster(Controller::new(&[]), no_intercept);
    // A first deployment: blue, previewed; the app's Service comes with its promotion.
    let run = run(&fake, &blue_green(V1, "1.0.0"));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.output("status"), Some("green-ready"));
    assert_eq!(run.output("url"), Some("http://shop-preview.shop-prod.svc.cluster.local"));
    assert_eq!(selector_colour(&fake, "shop-preview").as_deref(), Some("blue"));
    assert!(stored(&fake, "services", NAME).is_none(), "nothing serves it before --promote");
    let blue = sent_to(&fake, "PATCH", "deployments", "shop-blue");
    assert_eq!(blue[0].json()["spec"]["selector"]["matchLabels"]["slipway.dev/color"], "blue");
    let promoted = self::run(&fake, &finish("--promote"));
    assert_eq!(promoted.code, 0, "{}", promoted.stderr);
    assert_eq!(promoted.output("status"), Some("promoted"));
    assert_eq!(selector_colour(&fake, NAME).as_deref(), Some("blue"));
    assert!(stored(&fake, "services", "shop-preview").is_none(), "the preview goes");

    // The next version: green beside blue, the Service untouched until --promote.
    fake.store.lock().unwrap().requests.clear();
    let run = self::run(&fake, &blue_green(V2, "2.0.0"));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.output("status"), Some("green-ready"));
    assert_eq!(run.output("previous-version"), Some("1.0.0"));
    assert_eq!(selector_colour(&fake, "shop-preview").as_deref(), Some("green"));
    assert!(sent_to(&fake, "PATCH", "services", NAME).is_empty(), "the live Service is not touched");
    assert_eq!(selector_colour(&fake, NAME).as_deref(), Some("blue"));
    let green = stored(&fake, "deployments", "shop-green").unwrap();
    assert_eq!(green["spec"]["template"]["spec"]["containers"][0]["image"], V2);
    let promoted = self::run(&fake, &finish("--promote"));
    assert_eq!(promoted.code, 0, "{}", promoted.stderr);
    assert_eq!(promoted.output("status"), Some("promoted"));
    assert_eq!(promoted.output("version-label"), Some("2.0.0"));
    assert_eq!(promoted.output("previous-version"), Some("1.0.0"));
    let switch = sent_to(&fake, "PATCH", "services", NAME);
    assert_eq!(switch.len(), 1);
    assert_eq!(switch[0].content_type, "application/apply-patch+yaml", "server-side apply");
    assert_eq!(
        switch[0].json()["spec"]["selector"],
        json!({ "app.kubernetes.io/name": NAME, "slipway.dev/color": "green" })
    );
    let scaled = sent_to(&fake, "PATCH", "deployments", "shop-blue");
    assert_eq!(scaled.len(), 1, "the old colour scaled down");
    assert_eq!(scaled[0].json()["spec"]["replicas"], 0);
    assert_eq!(scaled[0].json()["spec"]["template"]["spec"]["containers"][0]["image"], V1, "at its own template");

    // A third version goes to blue, and is rejected: green keeps serving.
    fake.store.lock().unwrap().requests.clear();
    let run = self::run(&fake, &blue_green(V3, "3.0.0"));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(selector_colour(&fake, "shop-preview").as_deref(), Some("blue"));
    let rejected = self::run(&fake, &finish("--reject"));
    assert_eq!(rejected.code, 0, "{}", rejected.stderr);
    assert_eq!(rejected.output("status"), Some("rejected"));
    assert_eq!(rejected.output("version-label"), Some("2.0.0"));
    assert_eq!(rejected.output("previous-version"), Some("3.0.0"));
    assert!(stored(&fake, "deployments", "shop-blue").is_none() && stored(&fake, "services", "shop-preview").is_none());
    assert_eq!(selector_colour(&fake, NAME).as_deref(), Some("green"));
    assert!(sent_to(&fake, "PATCH", "services", NAME).is_empty());
    let again = self::run(&fake, &finish("--promote"));
    assert_eq!(again.code, 2, "nothing waits: {}", again.stderr);
    assert!(again.stderr.contains("there is no preview Service shop-preview"), "{}", again.stderr);
}

/// Whether the app's Service selects the green colour (the switch happened).
fn service_on_green(store: &Store) -> bool {
    store.objects.get(&path_of("services", NAME)).is_some_and(|s| s["spec"]["selector"]["slipway.dev/color"] == "green")
}

/// Blue (V1) live and promoted, then a judged blue-green of V2 (bake 1s) whose preview
/// Service `failing` decides: the run and how many probes the preview got.
fn judged_switch(failing: fn(&Store) -> bool, extra: &[&'static str]) -> (FakeKube, StepRun, usize) {
    let fake = cluster(Controller::new(&[]), no_intercept);
    assert_eq!(run(&fake, &blue_green(V1, "1.0.0")).code, 0);
    assert_eq!(run(&fake, &finish("--promote")).code, 0);
    fake.store.lock().unwrap().requests.clear();
    let service = canary_service(Arc::clone(&fake.store), failing);
    let url: &'static str = Box::leak(service.url().into_boxed_str());
    let args = with(blue_green(V2, "2.0.0"), &["--bake", "1s", "--max-error-rate", "5%", "--preview-url", url]);
    let args = with(args, extra);
    let run = run(&fake, &args);
    let probes = service.hits();
    (fake, run, probes)
}

#[test]
fn a_judged_blue_green_switch_is_watched_before_and_after_and_the_old_colour_scales_down() {
    let (fake, run, probes) = judged_switch(|_| false, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.output("status"), Some("promoted"));
    assert_eq!(run.output("version-label"), Some("2.0.0"));
    assert_eq!(run.output("previous-version"), Some("1.0.0"));
    assert!(probes >= 6, "both windows probed the preview ({probes} probes)");
    let switch = sent_to(&fake, "PATCH", "services", NAME);
    assert_eq!(switch.len(), 1, "one switch");
    assert_eq!(switch[0].json()["spec"]["selector"]["slipway.dev/color"], "green");
    let scaled = sent_to(&fake, "PATCH", "deployments", "shop-blue");
    assert_eq!(scaled.len(), 1, "the old colour scaled down once the watch passed");
    assert_eq!(scaled[0].json()["spec"]["replicas"], 0);
    assert!(stored(&fake, "services", "shop-preview").is_none(), "the preview goes");
    let summary = run.summary.clone().unwrap_or_default();
    for window in ["before the switch", "after the switch"] {
        assert!(summary.contains(window), "the timeline names {window}:\n{summary}");
    }
}

#[test]
fn a_judged_green_serving_errors_is_deleted_before_the_switch() {
    let (fake, run, _) = judged_switch(|_| true, &["--json"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    // --json: one object on standard output, the failure's status and the run's record.
    let outputs: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(outputs["status"], "aborted");
    let record: Value = serde_json::from_str(outputs["timeline"].as_str().unwrap()).unwrap();
    assert_eq!(record["target"], "kubernetes");
    assert_eq!(record["strategy"], "blue-green");
    assert_eq!(record["status"], "aborted");
    assert_eq!(record["bake"], "1s");
    let windows = record["windows"].as_array().unwrap();
    assert_eq!(windows.len(), 1, "never switched: {record}");
    assert_eq!(windows[0]["window"], "before the switch");
    assert_eq!(windows[0]["weight"], 0);
    assert_eq!(windows[0]["decision"], "crossed");
    assert_eq!(windows[0]["gates"][0]["gate"], "error rate");
    assert_eq!(windows[0]["gates"][0]["threshold"], "<= 5%");
    assert_eq!(windows[0]["gates"][0]["state"], "crossed");
    assert!(record["decision"].as_str().unwrap().starts_with("the new version was aborted before the switch"));
    assert!(
        run.stderr.contains("the new version was aborted before the switch: the gate error rate was crossed"),
        "{}",
        run.stderr
    );
    assert!(sent_to(&fake, "PATCH", "services", NAME).is_empty(), "the live Service is never touched");
    assert_eq!(selector_colour(&fake, NAME).as_deref(), Some("blue"));
    assert!(
        stored(&fake, "deployments", "shop-green").is_none() && stored(&fake, "services", "shop-preview").is_none()
    );
    assert!(sent_to(&fake, "PATCH", "deployments", "shop-blue").is_empty(), "blue untouched");
}

#[test]
fn a_gate_crossed_after_the_switch_switches_the_service_back() {
    let (fake, run, _) = judged_switch(service_on_green, &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.output("status"), Some("rolled-back"), "{}", run.stderr);
    assert!(run.stderr.contains("the switch to the new version was rolled back after the switch"), "{}", run.stderr);
    let colours: Vec<Value> = sent_to(&fake, "PATCH", "services", NAME)
        .iter()
        .map(|r| r.json()["spec"]["selector"]["slipway.dev/color"].clone())
        .collect();
    assert_eq!(colours, [json!("green"), json!("blue")], "switched, then back");
    assert_eq!(selector_colour(&fake, NAME).as_deref(), Some("blue"));
    assert!(stored(&fake, "deployments", "shop-green").is_none(), "the new colour is deleted");
    assert!(sent_to(&fake, "PATCH", "deployments", "shop-blue").is_empty(), "blue kept its pods throughout");
}

#[test]
fn a_failing_new_colour_is_deleted_and_the_live_one_serves_on() {
    let fake = cluster(Controller::new(&[(V2, Behaviour::ImagePull)]), no_intercept);
    assert_eq!(run(&fake, &blue_green(V1, "1.0.0")).code, 0);
    assert_eq!(run(&fake, &finish("--promote")).code, 0);
    let run = run(&fake, &blue_green(V2, "2.0.0"));
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.output("status"), Some("unchanged"));
    assert!(run.stderr.contains("the new colour shop-green of 2.0.0 failed"), "{}", run.stderr);
    assert!(run.stderr.contains("ImagePullBackOff"), "{}", run.stderr);
    assert!(
        stored(&fake, "deployments", "shop-green").is_none() && stored(&fake, "services", "shop-preview").is_none()
    );
    assert_eq!(selector_colour(&fake, NAME).as_deref(), Some("blue"));
}

#[test]
fn a_canary_step_that_fails_leaves_the_canary_where_it_was_for_promote_or_reject() {
    // The API refuses the canary's second apply (its step to 50%).
    let mut patches = 0;
    let refuse_second = move |request: &Recorded, _: &mut Store| {
        if request.method == "PATCH" && request.path == path_of("deployments", "shop-canary") {
            patches += 1;
            if patches == 2 {
                return Some(Reply::status(500, "InternalError", "etcdserver: request timed out", json!({})));
            }
        }
        None
    };
    let fake = cluster(Controller::new(&[]), refuse_second);
    assert_eq!(run(&fake, &with(deploy_args(V1, "2m"), &["--version-label", "1.0.0"])).code, 0);
    let run = run(&fake, &with(canary_args(V2), &["--steps", "25,50", "--bake", "1s"]));
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.output("status"), Some("canary"), "{}", run.stderr);
    assert!(run.stderr.contains("the canary's step to 50% failed"), "{}", run.stderr);
    assert!(run.stderr.contains("etcdserver: request timed out"), "{}", run.stderr);
    let canary = stored(&fake, "deployments", "shop-canary").expect("the canary stays for --promote or --reject");
    assert_eq!(canary["spec"]["replicas"], 1, "at its first step");
    assert!(sent_images(&fake).iter().all(|(_, image)| image == V1), "the main Deployment is untouched");
}

/// What kubectl's rollout undo or slipway's earlier rollback did: an update (here a PUT)
/// of the Deployment with `image` in its template, under the field manager `manager`.
fn update_as(fake: &FakeKube, manager: &str, image: &str) {
    use std::io::{Read, Write};
    let mut object = stored(fake, "deployments", NAME).unwrap();
    object["spec"]["template"]["spec"]["containers"][0]["image"] = json!(image);
    let body = object.to_string();
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", fake.port)).unwrap();
    write!(
        stream,
        "PUT {}?fieldManager={manager} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        deployment_path(),
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

/// Who holds the Deployment's `.spec.template` in the fake's managedFields.
fn template_owners(fake: &FakeKube) -> Vec<(String, String)> {
    let deployment = stored(fake, "deployments", NAME).unwrap();
    deployment["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| entry["fieldsV1"]["f:spec"].get("f:template").is_some())
        .map(|entry| (entry["manager"].as_str().unwrap().to_owned(), entry["operation"].as_str().unwrap().to_owned()))
        .collect()
}

#[test]
fn a_deployment_after_a_rollback_applies_without_a_conflict() {
    let fake = cluster(Controller::new(&[]), no_intercept);
    // The fake keeps field management as server-side apply does: `slipway` updating is
    // another manager than `slipway` applying, so an update of the template (what the
    // rollback was, a PUT) makes the next apply of it conflict.
    assert_eq!(run(&fake, &deploy_args(V1, "2m")).code, 0);
    update_as(&fake, "slipway", V2);
    assert_eq!(template_owners(&fake), [("slipway".to_owned(), "Update".to_owned())]);
    let conflicted = run(&fake, &deploy_args(V3, "2m"));
    assert_eq!(conflicted.code, 1, "{}", conflicted.stderr);
    assert!(conflicted.stderr.contains(".spec.template (owned by slipway)"), "{}", conflicted.stderr);

    // The rollback is an apply by slipway, forced, of the whole Deployment.
    let fake = cluster(Controller::new(&[]), no_intercept);
    for image in [V1, V2] {
        assert_eq!(run(&fake, &deploy_args(image, "2m")).code, 0);
    }
    fake.store.lock().unwrap().requests.clear();
    let rollback = run(&fake, &["--rollback", "--name", NAME, "--namespace", NS]);
    assert_eq!(rollback.code, 0, "{}", rollback.stderr);
    let writes: Vec<Recorded> =
        fake.requests().into_iter().filter(|r| r.method != "GET" && r.path == deployment_path()).collect();
    assert_eq!(writes.len(), 1, "one write: {writes:?}");
    let sent = &writes[0];
    assert_eq!((sent.method.as_str(), sent.content_type.as_str()), ("PATCH", "application/apply-patch+yaml"));
    assert_eq!((sent.param("fieldManager"), sent.param("force")), (Some("slipway"), Some("true")));
    let body = sent.json();
    assert_eq!((body["apiVersion"].as_str(), body["kind"].as_str()), (Some("apps/v1"), Some("Deployment")));
    assert_eq!(body["spec"]["template"]["spec"]["containers"][0]["image"], V1);
    assert!(body["spec"]["template"]["metadata"]["labels"].get("pod-template-hash").is_none());
    for field in ["replicas", "selector", "strategy", "progressDeadlineSeconds"] {
        assert!(body["spec"].get(field).is_some(), "the whole spec, so the apply drops none of it: {field}");
    }
    let metadata = body["metadata"].as_object().unwrap();
    for field in ["managedFields", "resourceVersion", "uid", "generation"] {
        assert!(!metadata.contains_key(field), "the server's own {field} is not sent");
    }
    assert!(body["metadata"]["annotations"].get("deployment.kubernetes.io/revision").is_none());
    assert_eq!(body["metadata"]["annotations"]["slipway.dev/image"], V1);
    assert!(body.get("status").is_none());
    assert_eq!(template_owners(&fake), [("slipway".to_owned(), "Apply".to_owned())]);

    // And the next deployment applies as any other, unforced.
    let next = run(&fake, &deploy_args(V3, "2m"));
    assert_eq!(next.code, 0, "{}", next.stderr);
    assert_eq!(next.output("status"), Some("deployed"));
    assert_eq!(sent_images(&fake).last().map(|(how, image)| (how.as_str(), image.as_str())), Some(("apply", V3)));
}

#[test]
fn mixing_strategies_on_one_app_is_refused_before_any_change() {
    let only_reads = |fake: &FakeKube| {
        let writes: Vec<Recorded> = fake.requests().into_iter().filter(|r| r.method != "GET").collect();
        assert!(writes.is_empty(), "nothing changed: {writes:?}");
    };
    // A blue-green app: neither a rolling deployment nor a canary reapplies its Service.
    let fake = cluster(Controller::new(&[]), no_intercept);
    assert_eq!(run(&fake, &blue_green(V1, "1.0.0")).code, 0);
    let waiting = run(&fake, &deploy_args(V2, "2m"));
    assert_eq!(waiting.code, 2, "{}", waiting.stderr);
    assert!(
        waiting.stderr.contains("its preview Service shop-preview waits for --promote or --reject"),
        "{}",
        waiting.stderr
    );
    assert_eq!(run(&fake, &finish("--promote")).code, 0);
    fake.store.lock().unwrap().requests.clear();
    for (args, what) in [
        (deploy_args(V2, "2m"), "a --strategy rolling deployment"),
        (with(deploy_args(V2, "2m"), &["--strategy", "direct"]), "a --strategy direct deployment"),
        (canary_args(V2), "a --strategy canary deployment"),
    ] {
        let refused = run(&fake, &args);
        assert_eq!(refused.code, 2, "{what}: {}", refused.stderr);
        assert!(
            refused.stderr.contains(&format!(
                "the app shop in namespace shop-prod runs blue-green (its Service shop selects the colour blue): {what} would apply the Service shop without the colour"
            )),
            "{}",
            refused.stderr
        );
        assert!(refused.stderr.contains("deploy it with --strategy blue-green"), "{}", refused.stderr);
    }
    only_reads(&fake);
    assert_eq!(selector_colour(&fake, NAME).as_deref(), Some("blue"));

    // An unfinished canary: a rolling deployment or a rollback would leave it serving.
    let fake = running_v1(&[]);
    let canary = run(&fake, &canary_args(V2));
    assert_eq!(canary.output("status"), Some("canary"), "{}", canary.stderr);
    fake.store.lock().unwrap().requests.clear();
    for (args, what) in [
        (deploy_args(V3, "2m"), "then a --strategy rolling deployment"),
        (vec!["--rollback", "--name", NAME, "--namespace", NS], "then --rollback"),
    ] {
        let refused = run(&fake, &args);
        assert_eq!(refused.code, 2, "{}", refused.stderr);
        assert!(
            refused.stderr.contains("a canary shop-canary runs 2.0.0 beside shop in namespace shop-prod, taking a share of its traffic: finish it first with --strategy canary --promote or --reject"),
            "{}",
            refused.stderr
        );
        assert!(refused.stderr.contains(what), "{}", refused.stderr);
    }
    // Blue-green over it was refused already (its Service selects every pod).
    let refused = run(&fake, &blue_green(V3, "3.0.0"));
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    only_reads(&fake);
    // A new canary replaces the unfinished one, as before.
    let replaced = run(&fake, &with(deploy_args(V3, "2m"), &["--strategy", "canary", "--version-label", "3.0.0"]));
    assert_eq!(replaced.code, 0, "{}", replaced.stderr);
    assert!(
        replaced.stderr.contains("an unfinished canary shop-canary runs 2.0.0; it is replaced"),
        "{}",
        replaced.stderr
    );
}

#[test]
fn a_blue_green_rollback_scales_the_previous_colour_up_switches_back_and_scales_the_other_down() {
    let (fake, controller) = cluster_with_controller(Controller::new(&[]), no_intercept);
    let rollback = || vec!["--rollback", "--name", NAME, "--namespace", NS];
    assert_eq!(run(&fake, &blue_green(V1, "1.0.0")).code, 0);
    assert_eq!(run(&fake, &finish("--promote")).code, 0);
    let first = run(&fake, &rollback());
    assert_eq!(first.code, 2, "{}", first.stderr);
    assert!(
        first.stderr.contains("there is no previous colour to roll back to: no Deployment shop-green"),
        "{}",
        first.stderr
    );
    assert_eq!(run(&fake, &blue_green(V2, "2.0.0")).code, 0);
    let waiting = run(&fake, &rollback());
    assert_eq!(waiting.code, 2, "{}", waiting.stderr);
    assert!(waiting.stderr.contains("finish it with --strategy blue-green --reject"), "{}", waiting.stderr);
    assert_eq!(run(&fake, &finish("--promote")).code, 0);
    assert_eq!(stored(&fake, "deployments", "shop-blue").unwrap()["spec"]["replicas"], 0);
    let named = run(&fake, &with(rollback(), &["--version-label", "0.9.0"]));
    assert_eq!(named.code, 2, "{}", named.stderr);
    assert!(named.stderr.contains("shop-blue keeps 1.0.0, not 0.9.0"), "{}", named.stderr);

    // The old colour cannot come back: it is scaled to 0 again and the Service stays.
    controller.lock().unwrap().behaviours.insert(V1.to_owned(), Behaviour::CrashLoop);
    fake.store.lock().unwrap().requests.clear();
    let failed = run(&fake, &with(rollback(), &["--timeout", "1m"]));
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    assert_eq!(failed.output("status"), Some("unchanged"), "{}", failed.stderr);
    assert!(failed.stderr.contains("shop-blue (1.0.0) did not come back"), "{}", failed.stderr);
    assert!(failed.stderr.contains("CrashLoopBackOff"), "{}", failed.stderr);
    assert_eq!(selector_colour(&fake, NAME).as_deref(), Some("green"));
    assert!(sent_to(&fake, "PATCH", "services", NAME).is_empty());
    assert_eq!(stored(&fake, "deployments", "shop-blue").unwrap()["spec"]["replicas"], 0);

    controller.lock().unwrap().behaviours.insert(V1.to_owned(), Behaviour::Healthy);
    fake.store.lock().unwrap().requests.clear();
    let back = run(&fake, &rollback());
    assert_eq!(back.code, 0, "{}", back.stderr);
    assert_eq!(back.output("status"), Some("rolled-back"));
    assert_eq!(back.output("version-label"), Some("1.0.0"));
    assert_eq!(back.output("previous-version"), Some("2.0.0"));
    assert!(
        back.output("deployment-id").is_some_and(|id| id.starts_with("shop-prod/shop-blue")),
        "{:?}",
        back.output("deployment-id")
    );
    assert_eq!(selector_colour(&fake, NAME).as_deref(), Some("blue"));
    // In order: blue up (at its own template), the switch, green down.
    let writes: Vec<(String, Value)> = fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH")
        .map(|r| (r.path.rsplit('/').next().unwrap().to_owned(), r.json()))
        .collect();
    let order: Vec<&str> = writes.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(order, ["shop-blue", NAME, "shop-green"]);
    assert_eq!(writes[0].1["spec"]["replicas"], 2);
    assert_eq!(writes[0].1["spec"]["template"]["spec"]["containers"][0]["image"], V1);
    assert_eq!(writes[1].1["spec"]["selector"]["slipway.dev/color"], "blue");
    assert_eq!(writes[2].1["spec"]["replicas"], 0);
    assert_eq!(writes[2].1["spec"]["template"]["spec"]["containers"][0]["image"], V2, "kept at its template");
    let pods_of_blue =
        fake.store.lock().unwrap().list(&format!("/api/v1/namespaces/{NS}/pods"), Some("slipway.dev/color=blue")).len();
    assert_eq!(pods_of_blue, 2);
}

const GATEWAY: [&str; 4] = ["--host", "shop.example.com", "--gateway", "public/infra"];

fn route_path() -> String {
    format!("/apis/gateway.networking.k8s.io/v1/namespaces/{NS}/httproutes/{NAME}")
}

/// The backends' (name, weight) of each HTTPRoute apply since the requests were cleared.
fn route_weights(fake: &FakeKube) -> Vec<Vec<(String, u64)>> {
    fake.requests()
        .into_iter()
        .filter(|r| r.method == "PATCH" && r.path == route_path())
        .map(|r| {
            r.json()["spec"]["rules"][0]["backendRefs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| (b["name"].as_str().unwrap().to_owned(), b["weight"].as_u64().unwrap()))
                .collect()
        })
        .collect()
}

fn position(fake: &FakeKube, method: &str, path: &str) -> usize {
    fake.requests().iter().position(|r| r.method == method && r.path == path).unwrap()
}

#[test]
fn behind_a_gateway_an_http_route_takes_the_host_and_carries_the_canary_s_exact_share() {
    let fake = cluster(Controller::new(&[]), no_intercept);
    let first = run(&fake, &with(with(deploy_args(V1, "2m"), &GATEWAY), &["--version-label", "1.0.0"]));
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(first.output("url"), Some("https://shop.example.com"), "TLS is the Gateway's");
    let route = fake.requests().into_iter().find(|r| r.path == route_path()).expect("the HTTPRoute is applied");
    assert_eq!((route.method.as_str(), route.content_type.as_str()), ("PATCH", "application/apply-patch+yaml"));
    assert_eq!(route.param("fieldManager"), Some("slipway"));
    assert_eq!(
        route.json()["spec"]["parentRefs"][0],
        json!({ "group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "public", "namespace": "infra" })
    );
    assert!(fake.requests().iter().all(|r| !r.path.contains("/ingresses/")), "no Ingress");
    assert_eq!(route_weights(&fake), [[(NAME.to_owned(), 1)]]);

    // A canary: its pods apart from the app's Service, the route's weights the steps'.
    fake.store.lock().unwrap().requests.clear();
    let canary = run(&fake, &with(with(canary_args(V2), &GATEWAY), &["--steps", "25,50", "--bake", "1s"]));
    assert_eq!(canary.code, 0, "{}", canary.stderr);
    assert_eq!(canary.output("status"), Some("canary"), "{}", canary.stderr);
    let shares = |a: u64, b: u64| vec![(NAME.to_owned(), a), ("shop-canary".to_owned(), b)];
    assert_eq!(route_weights(&fake), [shares(75, 25), shares(50, 50)]);
    assert!(
        position(&fake, "PATCH", &route_path()) > position(&fake, "PATCH", &path_of("deployments", "shop-canary")),
        "the route moves once the canary is there"
    );
    assert!(canary.stderr.contains("takes 50% of shop's traffic"), "{}", canary.stderr);
    let deployment = stored(&fake, "deployments", "shop-canary").unwrap();
    assert_eq!(deployment["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"], "shop-canary");
    let service = stored(&fake, "services", "shop-canary").unwrap();
    assert_eq!(service["spec"]["selector"]["app.kubernetes.io/name"], "shop-canary");
    assert_eq!(stored(&fake, "services", NAME).unwrap()["spec"]["selector"], json!({ "app.kubernetes.io/name": NAME }));
    assert!(sent_images(&fake).is_empty(), "the main Deployment is untouched");

    // --reject: every request back to the app's Service before the canary goes.
    fake.store.lock().unwrap().requests.clear();
    let rejected =
        run(&fake, &with(vec!["--strategy", "canary", "--reject", "--name", NAME, "--namespace", NS], &GATEWAY));
    assert_eq!(rejected.code, 0, "{}", rejected.stderr);
    assert_eq!(route_weights(&fake), [[(NAME.to_owned(), 1)]]);
    assert!(
        position(&fake, "PATCH", &route_path()) < position(&fake, "DELETE", &path_of("deployments", "shop-canary")),
        "no request is sent to a backend being deleted"
    );
    assert!(stored(&fake, "deployments", "shop-canary").is_none());

    // Bad input: TLS and the Ingress's class are the Ingress's.
    let tls = run(&fake, &with(with(deploy_args(V1, "2m"), &GATEWAY), &["--tls-secret", "shop-tls"]));
    assert_eq!(tls.code, 2, "{}", tls.stderr);
    assert!(
        tls.stderr.contains("with --gateway an HTTPRoute takes its place, and TLS is the Gateway listener's"),
        "{}",
        tls.stderr
    );
    let bad = run(&fake, &with(deploy_args(V1, "2m"), &["--host", "shop.example.com", "--gateway", "Public/infra"]));
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(bad.stderr.contains("--gateway"), "{}", bad.stderr);
}

/// GitLab's expansion of `$NAME` and `${NAME}` in a variable's value, from `known`.
fn gitlab_expand(text: &str, known: &HashMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let (name, tail) = match after.strip_prefix('{') {
            Some(braced) => braced.split_once('}').unwrap_or((braced, "")),
            None => {
                let end = after.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(after.len());
                (&after[..end], &after[end..])
            }
        };
        out.push_str(known.get(name).map_or("", String::as_str));
        rest = tail;
    }
    out.push_str(rest);
    out
}

/// Runs `lines` (a job's script) as a GitLab runner does, in one `sh` that stops at the
/// first failing command, with `variables` (expanded) and the deploy binary on PATH; the
/// dotenv report `report` the job's steps wrote.
fn gitlab_job(lines: &[String], variables: &[(String, String)], dir: &Path, report: &str) -> (i32, String, String) {
    let mut known: HashMap<String, String> = HashMap::new();
    for (name, value) in variables {
        let value = gitlab_expand(value, &known);
        known.insert(name.clone(), value);
    }
    let bin = Path::new(env!("CARGO_BIN_EXE_deploy")).parent().unwrap().to_owned();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let mut command = step_command("sh");
    command.current_dir(dir).env_remove("KUBECONFIG").env("HOME", dir).env("PATH", path);
    command.envs(&known).arg("-ec").arg(lines.join("\n"));
    let output = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let report = std::fs::read_to_string(dir.join(report)).unwrap_or_default();
    (output.status.code().unwrap_or(-1), stderr, report)
}

#[test]
fn the_gitlab_example_deploys_through_the_agent_s_context_and_rolls_back_when_verify_fails() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../workflows-examples/gitlab/kubernetes.gitlab-ci.yml");
    let pipeline: serde_yaml_ng::Value = serde_yaml_ng::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    let pairs = |value: &serde_yaml_ng::Value| -> Vec<(String, String)> {
        value
            .as_mapping()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.as_str().unwrap().to_owned(), v.as_str().map_or_else(|| format!("{v:?}"), str::to_owned)))
            .collect()
    };
    let lines = |value: &serde_yaml_ng::Value| -> Vec<String> {
        value.as_sequence().unwrap().iter().map(|l| l.as_str().unwrap().to_owned()).collect()
    };
    let global = pairs(&pipeline["variables"]);
    let (deploy_job, verify_job) = (&pipeline["deploy"], &pipeline["verify"]);

    // The KUBECONFIG the agent injects: a context per agent, none current; this project's
    // agent context gives the namespace.
    let fake = cluster(Controller::new(&[]), no_intercept);
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("agent-kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: gitlab\n  cluster:\n    server: http://127.0.0.1:{port}\n- name: elsewhere\n  cluster:\n    server: http://127.0.0.1:9\ncontexts:\n- name: acme/cluster-config:production\n  context:\n    cluster: gitlab\n    user: agent:1\n    namespace: {NS}\n- name: acme/cluster-config:staging\n  context:\n    cluster: elsewhere\n    user: agent:1\nusers:\n- name: agent:1\n  user:\n    token: ci:1:job-token\n",
            port = fake.port
        ),
    )
    .unwrap();
    let project = |image: &str, version: &str| -> Vec<(String, String)> {
        let mut variables: Vec<(String, String)> = [
            ("CI_PROJECT_NAME", NAME),
            ("CI_REGISTRY_IMAGE", "registry.example:5000/shop"),
            ("KUBECONFIG", kubeconfig.to_str().unwrap()),
            ("KUBE_CONTEXT", "acme/cluster-config:production"),
            ("KUBE_NAMESPACE", NS),
            ("APP_HOST", "shop.example.com"),
            ("DB_PASSWORD", "s3cret-db-password"),
            ("SLIPWAY_VERSION", version),
            ("SLIPWAY_IMAGE_REF", image),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        // GitLab's order: the predefined variables (the project's name, its registry), the
        // file's, then the project's settings and the dotenv reports of the needed jobs.
        variables.splice(2..2, global.clone());
        variables
    };
    let job_vars = |job: &serde_yaml_ng::Value, base: Vec<(String, String)>| {
        let mut all = base;
        all.extend(pairs(&job["variables"]));
        all
    };
    // The images in a registry: deploy reads their user (containerize's) from their configs.
    let registry = fake_registry(&["65532:65532", "65532:65532"]);
    let (v1, v2) = (registry.images[0].as_str(), registry.images[1].as_str());
    for (image, version) in [(v1, "1.0.0"), (v2, "2.0.0")] {
        let (code, stderr, report) = gitlab_job(
            &lines(&deploy_job["script"]),
            &job_vars(deploy_job, project(image, version)),
            dir.path(),
            "deploy.env",
        );
        assert_eq!(code, 0, "{stderr}");
        assert_eq!(slipway_testkit::output_value(&report, "SLIPWAY_STATUS"), Some("deployed"), "{report}");
        assert_eq!(slipway_testkit::output_value(&report, "SLIPWAY_URL"), Some("https://shop.example.com"));
        assert!(!stderr.contains("s3cret-db-password") && !report.contains("s3cret-db-password"));
    }
    let secret = stored(&fake, "secrets", "shop-env").expect("the Secret the pods read");
    assert!(secret["data"]["DB_PASSWORD"].is_string());
    let ingress = fake
        .store
        .lock()
        .unwrap()
        .objects
        .get(&format!("/apis/networking.k8s.io/v1/namespaces/{NS}/ingresses/{NAME}"))
        .cloned();
    assert_eq!(ingress.unwrap()["spec"]["tls"][0]["secretName"], "shop-tls");

    // verify failed: its after_script puts the previous revision back. Its variables hold
    // the reports of the jobs it needs (build's version, deploy's outputs), not package's.
    let verify_vars = |status: &str| {
        let mut variables: Vec<(String, String)> =
            job_vars(verify_job, project("", "2.0.0")).into_iter().filter(|(k, _)| k != "SLIPWAY_IMAGE_REF").collect();
        for line in std::fs::read_to_string(dir.path().join("deploy.env")).unwrap().lines() {
            let (key, value) = line.split_once('=').unwrap();
            variables.push((key.to_owned(), value.to_owned()));
        }
        variables.push(("CI_JOB_STATUS".to_owned(), status.to_owned()));
        variables
    };
    let failed = verify_vars("failed");
    assert!(failed.iter().any(|(k, v)| k == "SLIPWAY_VERSION_LABEL" && v == "2.0.0"), "deploy's report: {failed:?}");
    let (code, stderr, report) = gitlab_job(&lines(&verify_job["after_script"]), &failed, dir.path(), "rollback.env");
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(slipway_testkit::output_value(&report, "SLIPWAY_STATUS"), Some("rolled-back"), "{stderr}");
    assert_eq!(slipway_testkit::output_value(&report, "SLIPWAY_VERSION_LABEL"), Some("1.0.0"), "{report}");
    let main = stored(&fake, "deployments", NAME).unwrap();
    assert_eq!(main["spec"]["template"]["spec"]["containers"][0]["image"], v1);
    assert_eq!(main["spec"]["template"]["spec"]["securityContext"]["runAsUser"], 65532);
    // A passing verify leaves it alone.
    let passed = verify_vars("success");
    let before = fake.requests().len();
    let (code, _, _) = gitlab_job(&lines(&verify_job["after_script"]), &passed, dir.path(), "none.env");
    assert_eq!(code, 0);
    assert_eq!(fake.requests().len(), before, "no request");
}

/// A registry on loopback serving one image per entry of `users`, each with that `User` in
/// its config (OCI manifest and config, by digest, anonymous pulls): their references, and
/// the paths it was asked for.
struct FakeRegistry {
    images: Vec<String>,
    asked: Arc<Mutex<Vec<String>>>,
}

fn fake_registry(users: &[&str]) -> FakeRegistry {
    use sha2::Digest as _;
    use std::io::{BufRead, BufReader, Write};
    let digest = |bytes: &str| format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes.as_bytes())));
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut served: HashMap<String, (&'static str, String)> = HashMap::new();
    let mut images = Vec::new();
    for (index, user) in users.iter().enumerate() {
        let config = json!({
            "architecture": "amd64", "os": "linux",
            "config": { "User": user, "Labels": { "image": index.to_string() } },
            "rootfs": { "type": "layers", "diff_ids": [] },
        })
        .to_string();
        let manifest = json!({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest(&config), "size": config.len() },
            "layers": [],
        })
        .to_string();
        images.push(format!("127.0.0.1:{port}/shop@{}", digest(&manifest)));
        served.insert(
            format!("/v2/shop/blobs/{}", digest(&config)),
            ("application/vnd.oci.image.config.v1+json", config),
        );
        served.insert(
            format!("/v2/shop/manifests/{}", digest(&manifest)),
            ("application/vnd.oci.image.manifest.v1+json", manifest),
        );
    }
    let asked = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&asked);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).unwrap_or(0) == 0 || header.trim().is_empty() {
                    break;
                }
            }
            let mut parts = line.split_whitespace();
            let (method, path) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default().to_owned());
            log.lock().unwrap().push(path.clone());
            let (status, kind, body) = match served.get(&path) {
                _ if path == "/v2/" => ("200 OK", "application/json", "{}".to_owned()),
                Some((kind, body)) => ("200 OK", *kind, body.clone()),
                None => ("404 Not Found", "application/json", r#"{"errors":[{"code":"MANIFEST_UNKNOWN"}]}"#.to_owned()),
            };
            let digest_header = if status.starts_with("200") && path != "/v2/" {
                format!("Docker-Content-Digest: {}\r\n", digest(&body))
            } else {
                String::new()
            };
            let shown = if method == "HEAD" { "" } else { body.as_str() };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\n{digest_header}Content-Length: {}\r\nConnection: close\r\n\r\n{shown}",
                body.len()
            );
        }
    });
    FakeRegistry { images, asked }
}

fn image_args(image: &str) -> Vec<String> {
    ["--name", NAME, "--namespace", NS, "--image", image, "--timeout", "2m"].iter().map(|a| (*a).to_owned()).collect()
}

fn run_strings(fake: &FakeKube, args: &[String]) -> StepRun {
    run(fake, &args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// The pod's and the container's runAsUser and runAsGroup in the Deployment `name` applied.
fn applied_user(fake: &FakeKube, name: &str) -> Vec<(Value, Value)> {
    let deployment = stored(fake, "deployments", name).unwrap();
    let pod = &deployment["spec"]["template"]["spec"];
    let container = &pod["containers"][0]["securityContext"];
    vec![
        (pod["securityContext"]["runAsUser"].clone(), pod["securityContext"]["runAsGroup"].clone()),
        (container["runAsUser"].clone(), container["runAsGroup"].clone()),
    ]
}

#[test]
fn the_pods_run_as_the_image_s_numeric_user_and_a_name_or_root_is_refused_without_run_as() {
    let registry = fake_registry(&["1000:2000", "app", "", "0", "1001"]);
    let [numeric, named, unset, root, bare] = &registry.images[..] else { unreachable!() };
    let fake = cluster(Controller::new(&[]), no_intercept);
    let run = run_strings(&fake, &image_args(numeric));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(applied_user(&fake, NAME), [(json!(1000), json!(2000)), (json!(1000), json!(2000))]);
    assert!(run.stderr.contains("the image's user `1000:2000`: runAsUser 1000, runAsGroup 2000"), "{}", run.stderr);
    let asked = registry.asked.lock().unwrap().clone();
    assert!(
        asked.iter().any(|p| p.contains("/manifests/")) && asked.iter().any(|p| p.contains("/blobs/")),
        "{asked:?}"
    );

    for (image, why) in [
        (
            named,
            "runs as the user `app`, a name: Kubernetes can hold a container to runAsNonRoot by a numeric UID only",
        ),
        (unset, "names no User in its config, so it runs as root"),
        (root, "runs as root (its config's User is `0`)"),
    ] {
        let fresh = cluster(Controller::new(&[]), no_intercept);
        let refused = run_strings(&fresh, &image_args(image));
        assert_eq!(refused.code, 2, "{}", refused.stderr);
        assert!(
            refused.stderr.contains(&format!("the image {image} {why}; give --run-as UID[:GID]")),
            "{}",
            refused.stderr
        );
        assert!(fresh.requests().is_empty(), "refused before any request to the cluster: {:?}", fresh.requests());
    }
    // A user without a group runs with the same id as its group.
    let fresh = cluster(Controller::new(&[]), no_intercept);
    assert_eq!(run_strings(&fresh, &image_args(bare)).code, 0);
    assert_eq!(applied_user(&fresh, NAME)[0], (json!(1001), json!(1001)));

    // --run-as decides, and the registry is not asked.
    registry.asked.lock().unwrap().clear();
    let mut args = image_args(named);
    args.extend(["--run-as".to_owned(), "1500:1600".to_owned()]);
    let given = run_strings(&fake, &args);
    assert_eq!(given.code, 0, "{}", given.stderr);
    assert_eq!(applied_user(&fake, NAME)[0], (json!(1500), json!(1600)));
    assert!(registry.asked.lock().unwrap().is_empty());
    // A registry that cannot be read is bad input too, before any change.
    let fresh = cluster(Controller::new(&[]), no_intercept);
    let gone = "127.0.0.1:9/shop@sha256:1111111111111111111111111111111111111111111111111111111111111111";
    let unreadable = run_strings(&fresh, &image_args(gone));
    assert_eq!(unreadable.code, 2, "{}", unreadable.stderr);
    assert!(
        unreadable.stderr.contains(&format!("cannot read the user {gone} runs as from its config")),
        "{}",
        unreadable.stderr
    );
    assert!(fresh.requests().is_empty());
}

#[test]
fn a_registry_that_never_answers_the_user_read_holds_the_step_no_longer_than_its_timeout() {
    // A listener that takes connections and never answers: each read would wait out the
    // registry client's own 60-second limit; --timeout 3s ends it.
    let silent = std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).unwrap();
    let image = format!(
        "127.0.0.1:{}/shop@sha256:2222222222222222222222222222222222222222222222222222222222222222",
        silent.local_addr().unwrap().port()
    );
    let fresh = cluster(Controller::new(&[]), no_intercept);
    let began = Instant::now();
    let stalled = run(&fresh, &["--name", NAME, "--namespace", NS, "--image", &image, "--timeout", "3s"]);
    let took = began.elapsed();
    assert_eq!(stalled.code, 2, "{}", stalled.stderr);
    assert!(took < Duration::from_secs(8), "the read outlived --timeout 3s: {took:?}");
    assert!(stalled.stderr.contains("gave no complete answer within --timeout (3s)"), "{}", stalled.stderr);
    assert!(fresh.requests().is_empty(), "refused before any request to the cluster");
    drop(silent);
}

#[test]
fn a_promoted_canary_and_a_scaled_colour_keep_the_user_their_image_gave() {
    let registry = fake_registry(&["1000", "2000", "3000"]);
    let (one, two, three) = (&registry.images[0], &registry.images[1], &registry.images[2]);
    let fake = cluster(Controller::new(&[]), no_intercept);
    assert_eq!(run_strings(&fake, &image_args(one)).code, 0);
    let mut canary = image_args(two);
    canary.extend(["--strategy", "canary", "--version-label", "2.0.0"].map(str::to_owned));
    let started = run_strings(&fake, &canary);
    assert_eq!(started.output("status"), Some("canary"), "{}", started.stderr);
    assert_eq!(applied_user(&fake, "shop-canary")[0], (json!(2000), json!(2000)));
    // --promote has no image to read: the canary's pods' user goes to the main Deployment.
    let promoted = run(&fake, &["--strategy", "canary", "--promote", "--name", NAME, "--namespace", NS]);
    assert_eq!(promoted.code, 0, "{}", promoted.stderr);
    assert_eq!(applied_user(&fake, NAME)[0], (json!(2000), json!(2000)));

    // Blue-green: the old colour scaled to 0 keeps its own user.
    let fake = cluster(Controller::new(&[]), no_intercept);
    for image in [one, three] {
        let mut args = image_args(image);
        args.extend(["--strategy", "blue-green"].map(str::to_owned));
        assert_eq!(run_strings(&fake, &args).code, 0);
        assert_eq!(run(&fake, &finish("--promote")).code, 0);
    }
    assert_eq!(applied_user(&fake, "shop-blue")[0], (json!(1000), json!(1000)));
    assert_eq!(applied_user(&fake, "shop-green")[0], (json!(3000), json!(3000)));
    assert_eq!(stored(&fake, "deployments", "shop-blue").unwrap()["spec"]["replicas"], 0);
}
