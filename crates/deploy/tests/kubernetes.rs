//! deploy --target kubernetes through the real binary, against testkit's fake API server
//! on loopback with a scripted deployment controller: each image behaves as the scenario
//! says (healthy, crash-looping, unpullable, making no progress, stuck), so a rollback
//! to the previous template comes back healthy by itself. The fake records every request
//! and the tests assert what slipway sent.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers panic on broken fixtures, as tests do.

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

    /// One look at the Deployment moves the world on.
    fn tick(&mut self, request: &Recorded, store: &mut Store) {
        if request.method != "GET" || request.path != deployment_path() {
            return;
        }
        let Some(mut deployment) = store.objects.get(&deployment_path()).cloned() else { return };
        let generation = deployment["metadata"]["generation"].as_i64().unwrap_or(1);
        let observed = deployment["status"]["observedGeneration"].as_i64().unwrap_or(0);
        let sets_path = format!("/apis/apps/v1/namespaces/{NS}/replicasets");
        let template = deployment["spec"]["template"].clone();
        let template_hash = hash(&canonical(&template).to_string());
        let set_name = format!("{NAME}-{template_hash}");
        let set_path = format!("{sets_path}/{set_name}");
        if observed < generation {
            if self.stale_looks > 0 {
                self.stale_looks -= 1;
                return;
            }
            let newest = store.list(&sets_path, None).iter().map(revision).max().unwrap_or(0);
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
                    "ownerReferences": [{ "apiVersion": "apps/v1", "kind": "Deployment", "name": NAME,
                                          "uid": deployment["metadata"]["uid"], "controller": true }],
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
        let pods_path = format!("/api/v1/namespaces/{NS}/pods");
        let old_pods: Vec<String> = store
            .list(&pods_path, None)
            .iter()
            .filter(|pod| pod["metadata"]["labels"]["pod-template-hash"] != json!(template_hash))
            .map(|pod| pod["metadata"]["name"].as_str().unwrap().to_owned())
            .collect();
        let pod = |index: i64, ready: bool, waiting: Option<(&str, &str)>, restarts: i64| {
            let mut labels = template["metadata"]["labels"].clone();
            labels["pod-template-hash"] = json!(template_hash);
            let state = match waiting {
                Some((reason, message)) => json!({ "waiting": { "reason": reason, "message": message } }),
                None => json!({ "running": { "startedAt": "2026-01-01T00:00:00Z" } }),
            };
            json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": { "name": format!("{set_name}-{index}"), "namespace": NS, "labels": labels },
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
        store.put(&deployment_path(), deployment);
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
    vec!["--name", NAME, "--namespace", NS, "--image", image, "--timeout", timeout]
}

/// The last template slipway sent for the Deployment (apply or update).
fn sent_images(fake: &FakeKube) -> Vec<(String, String)> {
    fake.requests()
        .into_iter()
        .filter(|r| r.path == deployment_path() && matches!(r.method.as_str(), "PATCH" | "PUT"))
        .map(|r| {
            (
                r.method.clone(),
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
        Some(("PUT", V1)),
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
    assert!(sent_images(&fake).iter().all(|(method, _)| method == "PATCH"), "no undo");
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
    assert_eq!(sent_images(&fake).last().map(|(m, i)| (m.clone(), i.clone())), Some(("PUT".to_owned(), V1.to_owned())));
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
        let run = run_env(&kubeconfig, &["--name", NAME, "--image", image, "--version-label", label], &[]);
        assert_eq!(run.code, 0, "{label}: {}", run.stderr);
    }
    let run = run_env(&kubeconfig, &["--name", NAME, "--rollback", "--version-label", "1.0.0"], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.output("status"), Some("rolled-back"));
    assert_eq!(run.output("version-label"), Some("1.0.0"));
    assert_eq!(run.output("previous-version"), Some("3.0.0"));
    assert_eq!(sent_images(&fake).last().map(|(m, i)| (m.clone(), i.clone())), Some(("PUT".to_owned(), V1.to_owned())));
    let missing = run_env(&kubeconfig, &["--name", NAME, "--rollback", "--version-label", "0.9.0"], &[]);
    assert_eq!(missing.code, 2, "{}", missing.stderr);
    assert!(missing.stderr.contains("no earlier revision labelled 0.9.0"), "{}", missing.stderr);
}
