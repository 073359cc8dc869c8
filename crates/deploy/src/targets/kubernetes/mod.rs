//! Kubernetes: server-side apply (field manager `slipway`) of the objects in
//! [`manifests`], then a rollout watched until it is done by [`rollout`]'s definition, or
//! failed fast, explained (pods, events, logs) and undone to the previous ReplicaSet's
//! template as `kubectl rollout undo` does ([`undo`]).
//!
//! - `flags`: the flags and the checked [`Settings`].
//! - `client`: the kubeconfig, and API errors as one line each.
//! - `manifests`: the objects, and `--render`.
//! - `rollout`: done and failed, as functions of what the API shows.
//! - `undo`: the previous revision's template put back.

mod blue_green;
mod canary;
mod client;
pub mod flags;
mod image_user;
pub mod manifests;
pub mod rollout;
mod undo;

use std::time::{Duration, Instant};

use base64::Engine as _;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Event, Namespace, Pod, Secret, Service};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, LogParams, Patch, PatchParams,
};
use kube::{Client, Resource};
use serde::de::DeserializeOwned;
use slipway_contract::{Console, interrupt};

use self::client::{Call, Stage, api_error, by};
pub use self::flags::{KubernetesFlags, Settings};
use self::manifests::{Colour, FIELD_MANAGER, Kind, Manifests, Object, Trace, VERSION_ANNOTATION, digest_of};
use self::rollout::{Verdict, deployment_verdict, new_replica_set, pods_verdict, template_hash};
use crate::args::AppFlags;
use crate::rollout::{Param, Strategy};
use crate::status::Status;
use crate::target::{DeployError, DeployOutcome, DeployRequest, Phase, Plan, Target};

/// Between two looks at a rollout.
const POLL: Duration = Duration::from_millis(500);
/// Putting the previous version back gets its own time after a failed rollout (whose
/// own deadline may be what ended it): at most this, and at most --timeout.
const ROLLBACK_BUDGET: Duration = Duration::from_secs(5 * 60);
/// How much of a failure's story is printed.
const EVENTS_SHOWN: usize = 10;
const LOG_LINES: i64 = 20;

/// The Kubernetes target: a namespace of a cluster.
pub struct Kubernetes {
    settings: Settings,
    client: Client,
    server: String,
    /// `--secret-env`'s values, read at apply time (masked in logs).
    secret_values: Vec<(String, String)>,
    trace: Trace,
}

impl std::fmt::Debug for Kubernetes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the secrets' values, nor the client.
        f.debug_struct("Kubernetes")
            .field("settings", &self.settings)
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

/// What the plan read.
#[derive(Debug)]
pub enum KubeState {
    /// Apply these objects; `live` is the Deployment as it was.
    Deploy { manifests: Manifests, live: Option<Box<Deployment>> },
    /// Put `to` (a ReplicaSet of the Deployment) back.
    Rollback { live: Box<Deployment>, to: Box<ReplicaSet> },
    /// Start a canary (`manifests`, at its first step) beside `live`.
    Canary { manifests: Manifests, live: Box<Deployment> },
    /// Roll the main Deployment (`live`) to the canary's image (`manifests`), then remove it.
    PromoteCanary { manifests: Manifests, live: Option<Box<Deployment>>, canary: Box<Deployment> },
    /// Remove the canary.
    RejectCanary { live: Option<Box<Deployment>>, canary: Box<Deployment> },
    /// Blue-green: bring up the `new` colour and its preview beside `live`'s.
    BlueGreen { manifests: Manifests, new: Colour, live: Option<(Colour, Box<Deployment>)> },
    /// Switch the app's Service to `new`'s Deployment; scale `old` down.
    PromoteColour { new: (Colour, Box<Deployment>), old: Option<(Colour, Box<Deployment>)> },
    /// Drop `new`'s Deployment and the preview.
    RejectColour { new: (Colour, Box<Deployment>), live: Option<(Colour, Box<Deployment>)> },
    /// `--rollback` of blue-green: scale `to` (the previous colour) up, switch the
    /// Service to it, scale `from` (the live one) down.
    RollbackColour { to: (Colour, Box<Deployment>), from: Option<(Colour, Box<Deployment>)> },
}

/// What the cluster has of the app besides its main Deployment, read by a plan so that
/// one strategy does not run over another's objects.
#[derive(Debug, Default)]
pub struct Others {
    /// The colour the app's Service selects (the app runs blue-green).
    pub colour: Option<String>,
    /// Blue-green's preview Service is there: a colour waits for --promote or --reject.
    pub preview: bool,
    /// An unfinished canary runs this version.
    pub canary: Option<String>,
}

impl Kubernetes {
    /// Checks the flags, reads the kubeconfig and the secrets' values: everything that
    /// can be wrong with the input is found here, before any request.
    pub async fn from_flags(
        app: &AppFlags,
        flags: &KubernetesFlags,
        request: &DeployRequest,
        env: &dyn Fn(&str) -> Option<String>,
        console: &Console,
    ) -> Result<Self, DeployError> {
        let mut settings = Settings::new(app, flags, &request.rollout, request.port, request.timeout)?;
        let connection = client::connect(flags, env).await?;
        settings.namespace_from_context(connection.context_namespace.as_deref())?;
        if settings.run_as_from_image && !request.image.is_empty() {
            resolve_user(&mut settings, &request.image, request.timeout, console).await?;
        }
        let mut secret_values = Vec::new();
        if request.phase == Phase::Deploy {
            for variable in &settings.secret_env {
                let value = env(variable).filter(|v| !v.is_empty()).ok_or_else(|| {
                    DeployError::Usage(format!(
                        "--secret-env {variable}: {variable} is not set in this run's environment (set it from the CI's secrets)"
                    ))
                })?;
                console.add_mask(&value);
                secret_values.push((variable.clone(), value));
            }
        }
        Ok(Self {
            client: connection.client()?,
            server: connection.server(),
            settings,
            secret_values,
            trace: Trace::from_env(env),
        })
    }

    fn call<'a>(&'a self, verb: &'static str, resource: &'static str, name: &'a str) -> Call<'a> {
        Call { verb, resource, name, namespace: self.settings.ns() }
    }

    fn api<K>(&self) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), self.settings.ns())
    }

    async fn get_deployment(&self, deadline: Instant, stage: Stage) -> Result<Option<Deployment>, DeployError> {
        self.get_deployment_named(&self.settings.name, deadline, stage).await
    }

    async fn get_deployment_named(
        &self,
        name: &str,
        deadline: Instant,
        stage: Stage,
    ) -> Result<Option<Deployment>, DeployError> {
        let call = self.call("get", "deployments.apps", name);
        by(deadline, call, self.api::<Deployment>().get_opt(name))
            .await?
            .map_err(|e| api_error(&e, call, &self.server, stage))
    }

    async fn get_service(&self, name: &str, deadline: Instant, stage: Stage) -> Result<Option<Service>, DeployError> {
        let call = self.call("get", "services", name);
        by(deadline, call, self.api::<Service>().get_opt(name))
            .await?
            .map_err(|e| api_error(&e, call, &self.server, stage))
    }

    /// Deletes a Deployment (foreground: its ReplicaSets and pods first) or a Service;
    /// a Deployment is waited for until it is gone. `false` when it was not there.
    async fn delete(&self, kind: Kind, name: &str, deadline: Instant) -> Result<bool, DeployError> {
        let gone = |result: Result<(), kube::Error>, call: Call<'_>| match result {
            Ok(()) => Ok(true),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(false),
            Err(error) => Err(api_error(&error, call, &self.server, Stage::AfterChange)),
        };
        match kind {
            Kind::Deployment => {
                let call = self.call("delete", "deployments.apps", name);
                let result = by(deadline, call, self.api::<Deployment>().delete(name, &DeleteParams::foreground()))
                    .await?
                    .map(|_| ());
                if !gone(result, call)? {
                    return Ok(false);
                }
                // Foreground: the object stays until its pods are gone, then disappears.
                while self.get_deployment_named(name, deadline, Stage::AfterChange).await?.is_some() {
                    if Instant::now() + POLL >= deadline {
                        return Err(DeployError::failed(
                            format!("the Deployment {name} was still being deleted when --timeout ran out"),
                            Status::Unknown,
                        ));
                    }
                    tokio::time::sleep(POLL).await;
                }
                Ok(true)
            }
            _ => {
                let call = self.call("delete", "services", name);
                let result =
                    by(deadline, call, self.api::<Service>().delete(name, &DeleteParams::default())).await?.map(|_| ());
                gone(result, call)
            }
        }
    }

    async fn list<K>(
        &self,
        resource: &'static str,
        params: &ListParams,
        deadline: Instant,
    ) -> Result<Vec<K>, DeployError>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope> + Clone + DeserializeOwned + std::fmt::Debug,
        <K as Resource>::DynamicType: Default,
    {
        let call = self.call("list", resource, "");
        let list = by(deadline, call, self.api::<K>().list(params))
            .await?
            .map_err(|e| api_error(&e, call, &self.server, Stage::AfterChange))?;
        Ok(list.items)
    }

    /// The app's Service, blue-green's preview Service and the canary's Deployment.
    async fn others(&self, deadline: Instant) -> Result<Others, DeployError> {
        let service = self.get_service(&self.settings.name, deadline, Stage::BeforeChange).await?;
        let colour = service
            .as_ref()
            .and_then(|s| s.spec.as_ref())
            .and_then(|spec| spec.selector.as_ref())
            .and_then(|selector| selector.get(manifests::COLOR_LABEL).cloned());
        let preview =
            self.get_service(&manifests::preview_name(&self.settings), deadline, Stage::BeforeChange).await?.is_some();
        let canary = self
            .get_deployment_named(&manifests::canary_name(&self.settings), deadline, Stage::BeforeChange)
            .await?
            .map(|d| version_of(&d));
        Ok(Others { colour, preview, canary })
    }

    /// Refuses (exit 2, before any change) what `what` (`--strategy rolling`, `--rollback`)
    /// would do wrong over another strategy's objects: reapply a blue-green app's Service
    /// without its colour, or leave an unfinished canary taking traffic (`canary_ok`: it
    /// is replaced, as a new canary does).
    fn refuse_over(&self, others: &Others, what: &str, canary_ok: bool) -> Result<(), DeployError> {
        let (name, ns) = (&self.settings.name, self.settings.ns());
        if others.colour.is_some() || others.preview {
            let preview = manifests::preview_name(&self.settings);
            let runs = match &others.colour {
                Some(colour) => format!("its Service {name} selects the colour {colour}"),
                None => format!("its preview Service {preview} waits for --promote or --reject"),
            };
            return Err(DeployError::Usage(format!(
                "the app {name} in namespace {ns} runs blue-green ({runs}): {what} would apply the Service {name} without the colour, sending traffic to every pod of the app; deploy it with --strategy blue-green (--rollback switches back to the previous colour), or delete the Deployments {blue} and {green} and the Services {name} and {preview} first to change its strategy",
                blue = Colour::Blue.deployment_name(&self.settings),
                green = Colour::Green.deployment_name(&self.settings),
            )));
        }
        if let Some(version) = &others.canary
            && !canary_ok
        {
            let canary = manifests::canary_name(&self.settings);
            return Err(DeployError::Usage(format!(
                "a canary {canary} runs {version} beside {name} in namespace {ns}, taking a share of its traffic: finish it first with --strategy canary --promote or --reject, then {what}"
            )));
        }
        Ok(())
    }

    fn selector(&self) -> String {
        format!("{}={}", manifests::NAME_LABEL, self.settings.name)
    }

    /// Server-side apply of one object (`dry_run`: the server checks it, keeps nothing).
    async fn apply_object(
        &self,
        object: &Object,
        dry_run: bool,
        deadline: Instant,
    ) -> Result<Option<Deployment>, DeployError> {
        let mut params = PatchParams::apply(FIELD_MANAGER);
        params.force = self.settings.force_conflicts;
        params.dry_run = dry_run;
        let mut body = object.body.clone();
        if object.kind == Kind::Secret {
            let data: serde_json::Map<String, serde_json::Value> = self
                .secret_values
                .iter()
                .map(|(key, value)| {
                    (key.clone(), serde_json::json!(base64::engine::general_purpose::STANDARD.encode(value)))
                })
                .collect();
            body["data"] = serde_json::Value::Object(data);
        }
        let patch = Patch::Apply(&body);
        let name = object.name.as_str();
        let (call, result) = match object.kind {
            Kind::Namespace => {
                let call = Call { verb: "patch", resource: "namespaces", name, namespace: name };
                let api: Api<Namespace> = Api::all(self.client.clone());
                (call, by(deadline, call, api.patch(name, &params, &patch)).await?.map(|_| None))
            }
            Kind::Secret => {
                let call = self.call("patch", "secrets", name);
                (call, by(deadline, call, self.api::<Secret>().patch(name, &params, &patch)).await?.map(|_| None))
            }
            Kind::Service => {
                let call = self.call("patch", "services", name);
                (call, by(deadline, call, self.api::<Service>().patch(name, &params, &patch)).await?.map(|_| None))
            }
            Kind::PodDisruptionBudget => {
                let call = self.call("patch", "poddisruptionbudgets.policy", name);
                let api = self.api::<PodDisruptionBudget>();
                (call, by(deadline, call, api.patch(name, &params, &patch)).await?.map(|_| None))
            }
            Kind::NetworkPolicy => {
                let call = self.call("patch", "networkpolicies.networking.k8s.io", name);
                let api = self.api::<NetworkPolicy>();
                (call, by(deadline, call, api.patch(name, &params, &patch)).await?.map(|_| None))
            }
            Kind::Ingress => {
                let call = self.call("patch", "ingresses.networking.k8s.io", name);
                (call, by(deadline, call, self.api::<Ingress>().patch(name, &params, &patch)).await?.map(|_| None))
            }
            Kind::HttpRoute => {
                let call = self.call("patch", "httproutes.gateway.networking.k8s.io", name);
                let resource = ApiResource::from_gvk_with_plural(
                    &GroupVersionKind::gvk("gateway.networking.k8s.io", "v1", "HTTPRoute"),
                    "httproutes",
                );
                let api: Api<DynamicObject> = Api::namespaced_with(self.client.clone(), self.settings.ns(), &resource);
                (call, by(deadline, call, api.patch(name, &params, &patch)).await?.map(|_| None))
            }
            Kind::Deployment => {
                let call = self.call("patch", "deployments.apps", name);
                (call, by(deadline, call, self.api::<Deployment>().patch(name, &params, &patch)).await?.map(Some))
            }
        };
        result.map_err(|error| match &error {
            kube::Error::Api(status) if status.code == 409 => {
                DeployError::failed(conflict_line(object, status), Status::Unchanged)
            }
            _ => api_error(&error, call, &self.server, Stage::BeforeChange),
        })
    }

    /// Watches the rollout of `generation` until it is done, fails, or `deadline` passes.
    async fn wait_rollout(
        &self,
        generation: i64,
        digest: Option<&str>,
        deadline: Instant,
        console: &Console,
    ) -> Result<Deployment, WaitEnd> {
        self.wait_rollout_of(&self.settings.name, generation, digest, deadline, console).await
    }

    /// The same for the Deployment `name` (a canary, a colour).
    async fn wait_rollout_of(
        &self,
        name: &str,
        generation: i64,
        digest: Option<&str>,
        deadline: Instant,
        console: &Console,
    ) -> Result<Deployment, WaitEnd> {
        let mut said = String::new();
        loop {
            let deployment = match self.get_deployment_named(name, deadline, Stage::AfterChange).await {
                Ok(Some(deployment)) => deployment,
                Ok(None) => return Err(WaitEnd::Failed("the Deployment disappeared during the rollout".to_owned())),
                Err(error) => return Err(WaitEnd::Lost(error)),
            };
            let verdict = match deployment_verdict(&deployment, generation) {
                Verdict::Failed(why) => return Err(WaitEnd::Failed(why)),
                unobserved if !rollout::observed(&deployment, generation) => unobserved,
                deployment_says => {
                    // The generation is observed: the new ReplicaSet's pods can be judged.
                    let pods = match self.new_pods(&deployment, deadline).await {
                        Ok(pods) => pods,
                        Err(error) => return Err(WaitEnd::Lost(error)),
                    };
                    match (deployment_says, pods.map(|pods| pods_verdict(&pods, &self.settings.name, digest))) {
                        (_, Some(Verdict::Failed(why))) => return Err(WaitEnd::Failed(why)),
                        (Verdict::Done, Some(Verdict::Done)) => return Ok(deployment),
                        (Verdict::Done, Some(waiting)) => waiting,
                        (Verdict::Done, None) => Verdict::Waiting("the new ReplicaSet is not there yet".to_owned()),
                        (waiting, _) => waiting,
                    }
                }
            };
            if let Verdict::Waiting(why) = verdict
                && why != said
            {
                console.info(&format!("rollout of {name}: {why}"));
                said = why;
            }
            if Instant::now() + POLL >= deadline {
                return Err(WaitEnd::TimedOut(said));
            }
            if let Err(interrupted) = interrupt::sleep(POLL).await {
                return Err(WaitEnd::Failed(format!("deploy was {interrupted} while it waited ({said})")));
            }
        }
    }

    /// The pods of the Deployment's current ReplicaSet; `None` while it has none. Listed
    /// by the Deployment's own selector (a canary behind a Gateway has its own name).
    async fn new_pods(&self, deployment: &Deployment, deadline: Instant) -> Result<Option<Vec<Pod>>, DeployError> {
        let own = deployment
            .spec
            .selector
            .match_labels
            .as_ref()
            .map(|labels| labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","))
            .filter(|selector| !selector.is_empty())
            .unwrap_or_else(|| self.selector());
        let sets: Vec<ReplicaSet> =
            self.list("replicasets.apps", &ListParams::default().labels(&own), deadline).await?;
        let Some(hash) = new_replica_set(deployment, &sets).and_then(template_hash) else {
            return Ok(None);
        };
        let selector = format!("{own},{}={hash}", rollout::TEMPLATE_HASH_LABEL);
        Ok(Some(self.list("pods", &ListParams::default().labels(&selector), deadline).await?))
    }

    /// The failure's story: the pods' states, recent events and the last log lines.
    async fn explain(&self, deadline: Instant) -> Vec<String> {
        let mut lines = Vec::new();
        let mut pods: Vec<Pod> =
            self.list("pods", &ListParams::default().labels(&self.selector()), deadline).await.unwrap_or_default();
        if self.settings.gateway.is_some() {
            // A canary's pods behind a Gateway carry the canary's name.
            let canary = format!("{}={}", manifests::NAME_LABEL, manifests::canary_name(&self.settings));
            pods.extend(self.list("pods", &ListParams::default().labels(&canary), deadline).await.unwrap_or_default());
        }
        lines.extend(pods.iter().map(rollout::describe_pod));
        let mut events: Vec<Event> = self.list("events", &ListParams::default(), deadline).await.unwrap_or_default();
        events
            .retain(|event| event.involved_object.name.as_deref().is_some_and(|n| n.starts_with(&self.settings.name)));
        events.sort_by_key(|event| {
            event.last_timestamp.as_ref().map(|t| t.0).or_else(|| event.event_time.as_ref().map(|t| t.0))
        });
        let skip = events.len().saturating_sub(EVENTS_SHOWN);
        for event in events.iter().skip(skip) {
            lines.push(format!(
                "event {} {} {}/{}: {}",
                event.type_.as_deref().unwrap_or("Normal"),
                event.reason.as_deref().unwrap_or("?"),
                event.involved_object.kind.as_deref().unwrap_or("?"),
                event.involved_object.name.as_deref().unwrap_or("?"),
                event.message.as_deref().unwrap_or_default().trim()
            ));
        }
        let failing = pods.iter().filter(|pod| !rollout::is_ready(pod)).take(2);
        for pod in failing {
            let Some(name) = pod.metadata.name.as_deref() else { continue };
            let restarted = pod
                .status
                .as_ref()
                .and_then(|s| s.container_statuses.as_ref())
                .is_some_and(|statuses| statuses.iter().any(|c| c.restart_count > 0));
            let params = LogParams {
                container: Some(self.settings.name.clone()),
                tail_lines: Some(LOG_LINES),
                previous: restarted,
                ..LogParams::default()
            };
            let call = self.call("get", "pods/log", name);
            if let Ok(Ok(text)) = by(deadline, call, self.api::<Pod>().logs(name, &params)).await {
                lines.extend(text.lines().map(|line| format!("log {name}: {line}")));
            }
        }
        lines
    }

    fn outcome(&self, deployment: &Deployment, version_label: &str, previous: &str, status: Status) -> DeployOutcome {
        let revision = rollout::revision(&deployment.metadata).map(|r| format!("@{r}")).unwrap_or_default();
        let ready = deployment.status.as_ref().and_then(|s| s.ready_replicas).unwrap_or(0);
        let wanted = deployment.spec.replicas.unwrap_or(0);
        DeployOutcome {
            url: self.url(),
            version_label: version_label.to_owned(),
            previous_version: previous.to_owned(),
            deployment_id: format!("{}/{}{revision}", self.settings.ns(), self.settings.name),
            status,
            health: if status == Status::Planned { "unknown".to_owned() } else { format!("{ready}/{wanted} ready") },
            details: vec![
                ("namespace".to_owned(), self.settings.ns().to_owned()),
                ("api server".to_owned(), self.server.clone()),
            ],
        }
    }

    fn url(&self) -> String {
        url(&self.settings)
    }

    /// The settings to re-render `live`'s objects with (a promotion, a colour scaled):
    /// without `--run-as`, its pods' user as slipway applied it.
    fn settings_of(&self, live: &Deployment) -> Settings {
        let mut settings = self.settings.clone();
        if settings.run_as_from_image {
            let context = live.spec.template.spec.as_ref().and_then(|spec| spec.security_context.as_ref());
            if let Some(context) = context {
                settings.run_as_user = context.run_as_user.unwrap_or(settings.run_as_user);
                settings.run_as_group = context.run_as_group.unwrap_or(settings.run_as_group);
            }
        }
        settings
    }

    async fn plan_deploy(&self, request: &DeployRequest, deadline: Instant) -> Result<Plan<KubeState>, DeployError> {
        let others = self.others(deadline).await?;
        let strategy = request.strategy();
        self.refuse_over(&others, &format!("a --strategy {strategy} deployment"), strategy == Strategy::Canary)?;
        let live = self.get_deployment(deadline, Stage::BeforeChange).await?;
        let previous = live.as_ref().map(version_of).unwrap_or_default();
        let manifests = Manifests::build(&self.settings, &request.image, &request.version_label, &self.trace);
        let mut outcome = self.outcome(
            live.as_ref().unwrap_or(&Deployment::default()),
            &request.version_label,
            &previous,
            Status::Planned,
        );
        outcome.health = "unknown".to_owned();
        let mut plan = Plan::new(outcome, ());
        plan = match &live {
            Some(deployment) => plan.now(format!(
                "Deployment {}/{} runs {previous} (revision {})",
                self.settings.ns(),
                self.settings.name,
                rollout::revision(&deployment.metadata).unwrap_or(0)
            )),
            None => plan.now(format!(
                "no Deployment {} in namespace {} (a first deployment)",
                self.settings.name,
                self.settings.ns()
            )),
        };
        for object in &manifests.objects {
            plan = plan.step(format!(
                "apply {} {} (server-side, field manager {FIELD_MANAGER})",
                object.kind.as_str(),
                object.name
            ));
        }
        plan = plan.step(format!(
            "wait until every pod runs {} and is available; else explain, {}",
            digest_of(&request.image).unwrap_or(&request.image),
            if previous.is_empty() {
                "and fail (nothing to roll back to)".to_owned()
            } else {
                format!("and roll back to {previous}")
            }
        ));
        if request.dry_run {
            // The server checks every object against its schemas and admission, keeping nothing.
            for object in &manifests.objects {
                if object.kind != Kind::Namespace && self.settings.create_namespace {
                    continue;
                }
                self.apply_object(object, true, deadline).await?;
            }
        }
        Ok(plan.with_state(KubeState::Deploy { manifests, live: live.map(Box::new) }))
    }

    async fn apply_deploy(
        &self,
        manifests: &Manifests,
        live: Option<Deployment>,
        request: &DeployRequest,
        deadline: Instant,
        console: &Console,
    ) -> Result<DeployOutcome, DeployError> {
        let previous = live.as_ref().map(version_of).unwrap_or_default();
        let mut applied = None;
        for object in &manifests.objects {
            console.info(&format!("applying {} {}", object.kind.as_str(), object.name));
            if let Some(deployment) = self.apply_object(object, false, deadline).await? {
                applied = Some(deployment);
            }
        }
        let generation = applied.and_then(|d| d.metadata.generation).unwrap_or(0);
        let digest = digest_of(&request.image);
        let failure = match self.wait_rollout(generation, digest, deadline, console).await {
            Ok(deployment) => {
                return Ok(self.outcome(&deployment, &request.version_label, &previous, Status::Deployed));
            }
            Err(end) => end,
        };
        let why = match failure {
            WaitEnd::Failed(why) => format!("the rollout of {} failed: {why}", request.version_label),
            WaitEnd::TimedOut(last) => format!(
                "the rollout of {} did not finish within --timeout {} ({last})",
                request.version_label,
                humantime::format_duration(request.timeout)
            ),
            WaitEnd::Lost(error) => return Err(error),
        };
        let rollback_deadline = Instant::now() + ROLLBACK_BUDGET.min(request.timeout);
        let mut detail = self.explain(rollback_deadline).await;
        if live.is_none() {
            return Err(DeployError::Failed {
                message: format!(
                    "{why}; nothing to roll back to (a first deployment): look at the pods in namespace {}",
                    self.settings.ns()
                ),
                status: Status::Failed,
                detail,
            });
        }
        console.warning(&format!("{why}; rolling back to {previous}"));
        // What ran before this apply: its revision's ReplicaSet, not "the one before the
        // newest" (the controller may never have made a new one).
        let before = live.as_ref().and_then(|d| rollout::revision(&d.metadata));
        let undone = match self.set_of_revision(before, rollback_deadline).await {
            Ok(set) => self.undo_to_previous(set, rollback_deadline, console).await,
            Err(error) => Err(error),
        };
        let (status, message) = match undone {
            Ok(_) => (Status::RolledBack, format!("{why}; rolled back to {previous}")),
            Err(error) => (Status::Unknown, format!("{why}; the rollback to {previous} did not complete: {error}")),
        };
        if status == Status::Unknown {
            detail.extend(self.explain(Instant::now() + Duration::from_secs(30)).await);
        }
        Err(DeployError::Failed { message, status, detail })
    }

    /// Puts a previous ReplicaSet's template back and waits for it; its version label.
    async fn undo_to_previous(
        &self,
        to: Option<ReplicaSet>,
        deadline: Instant,
        console: &Console,
    ) -> Result<Deployment, DeployError> {
        let live = self.get_deployment(deadline, Stage::AfterChange).await?.ok_or_else(|| {
            DeployError::failed(format!("there is no Deployment {} to roll back", self.settings.name), Status::Unknown)
        })?;
        let target = match to {
            Some(set) => set,
            None => {
                let sets: Vec<ReplicaSet> =
                    self.list("replicasets.apps", &ListParams::default().labels(&self.selector()), deadline).await?;
                undo::previous_set(&live, &sets, None).map_err(|why| DeployError::failed(why, Status::Unknown))?.clone()
            }
        };
        let label = undo::version_of_set(&target);
        console.info(&format!("putting back revision {} ({label})", rollout::revision_of(&target).unwrap_or(0)));
        // A forced server-side apply under slipway's own manager, not an update: see undo.
        let call = self.call("patch", "deployments.apps", &self.settings.name);
        let undone =
            undo::rollback_apply(&live, &target, &label).map_err(|why| DeployError::failed(why, Status::Unknown))?;
        let params = PatchParams::apply(FIELD_MANAGER).force();
        let replaced =
            by(deadline, call, self.api::<Deployment>().patch(&self.settings.name, &params, &Patch::Apply(&undone)))
                .await?
                .map_err(|e| api_error(&e, call, &self.server, Stage::AfterChange))?;
        let generation = replaced.metadata.generation.unwrap_or(0);
        let digest = undo::digest_of_set(&target);
        self.wait_rollout(generation, digest.as_deref(), deadline, console).await.map_err(|end| {
            let why = match end {
                WaitEnd::Failed(why) => why,
                WaitEnd::TimedOut(last) => format!("it did not finish in time ({last})"),
                WaitEnd::Lost(error) => error.to_string(),
            };
            DeployError::failed(why, Status::Unknown)
        })
    }

    /// The Deployment's ReplicaSet of `revision`, if it still has it.
    async fn set_of_revision(
        &self,
        revision: Option<i64>,
        deadline: Instant,
    ) -> Result<Option<ReplicaSet>, DeployError> {
        let sets: Vec<ReplicaSet> =
            self.list("replicasets.apps", &ListParams::default().labels(&self.selector()), deadline).await?;
        Ok(revision.and_then(|revision| sets.into_iter().find(|set| rollout::revision_of(set) == Some(revision))))
    }

    async fn plan_rollback(&self, request: &DeployRequest, deadline: Instant) -> Result<Plan<KubeState>, DeployError> {
        let others = self.others(deadline).await?;
        if let Some(colour) = &others.colour {
            let live = Colour::parse(colour).ok_or_else(|| {
                DeployError::Usage(format!(
                    "the Service {} selects the colour `{colour}`, neither blue nor green",
                    self.settings.name
                ))
            })?;
            return self.plan_rollback_colour(request, live, &others, deadline).await;
        }
        self.refuse_over(&others, "--rollback", false)?;
        let live = self.get_deployment(deadline, Stage::BeforeChange).await?.ok_or_else(|| {
            DeployError::Usage(format!(
                "there is no Deployment {} in namespace {} to roll back",
                self.settings.name,
                self.settings.ns()
            ))
        })?;
        let call = self.call("list", "replicasets.apps", "");
        let sets = by(deadline, call, self.api::<ReplicaSet>().list(&ListParams::default().labels(&self.selector())))
            .await?
            .map_err(|e| api_error(&e, call, &self.server, Stage::BeforeChange))?
            .items;
        let wanted = Some(request.version_label.as_str()).filter(|l| !l.is_empty());
        let to = undo::previous_set(&live, &sets, wanted).map_err(DeployError::Usage)?.clone();
        let current = version_of(&live);
        let label = undo::version_of_set(&to);
        let plan = Plan::new(self.outcome(&live, &label, &current, Status::Planned), ())
            .now(format!("Deployment {}/{} runs {current}", self.settings.ns(), self.settings.name))
            .step(format!(
                "put revision {} ({label}) back, as kubectl rollout undo does",
                rollout::revision_of(&to).unwrap_or(0)
            ))
            .step("wait until every pod runs it and is available");
        Ok(plan.with_state(KubeState::Rollback { live: Box::new(live), to: Box::new(to) }))
    }
}

/// How a wait ended without the rollout done.
#[derive(Debug)]
enum WaitEnd {
    /// The rollout cannot succeed (a reason the cluster gave).
    Failed(String),
    /// The deadline came first; the last thing waited for.
    TimedOut(String),
    /// The API could not be read.
    Lost(DeployError),
}

/// The version a Deployment runs: slipway's label, else its image.
fn version_of(deployment: &Deployment) -> String {
    let annotations = deployment.metadata.annotations.as_ref();
    annotations
        .and_then(|a| a.get(VERSION_ANNOTATION).cloned())
        .or_else(|| {
            let spec = deployment.spec.template.spec.as_ref()?;
            spec.containers.first()?.image.clone()
        })
        .unwrap_or_default()
}

/// The URL the app is reached at.
fn url(settings: &Settings) -> String {
    if let Some(url) = &settings.public_url {
        return url.clone();
    }
    match (&settings.host, &settings.tls_secret) {
        (Some(host), _) if settings.gateway.is_some() => format!("https://{host}"),
        (Some(host), Some(_)) => format!("https://{host}"),
        (Some(host), None) => format!("http://{host}"),
        _ => format!("http://{}.{}.svc.cluster.local", settings.name, settings.ns()),
    }
}

/// `Apply failed with 1 conflict: conflict with "kubectl-edit" using apps/v1: .spec.replicas`
/// as one line naming each field and its owner.
fn conflict_line(object: &Object, status: &kube::core::Status) -> String {
    let causes: Vec<String> = status
        .details
        .as_ref()
        .map(|details| {
            details
                .causes
                .iter()
                .map(|cause| {
                    let owner = cause.message.split('"').nth(1).unwrap_or("another field manager");
                    format!("{} (owned by {owner})", cause.field)
                })
                .collect()
        })
        .unwrap_or_default();
    let what = if causes.is_empty() { status.message.trim().to_owned() } else { causes.join(", ") };
    format!(
        "server-side apply of {} {} conflicts with another field manager: {what}; run with --force-conflicts to take these fields, or stop the other manager from setting them",
        object.kind.as_str(),
        object.name
    )
}

impl Target for Kubernetes {
    type State = KubeState;

    const NAME: &'static str = "kubernetes";
    const STRATEGIES: &'static [Strategy] =
        &[Strategy::Rolling, Strategy::Direct, Strategy::Canary, Strategy::BlueGreen];
    const DEFAULT_STRATEGY: Strategy = Strategy::Rolling;
    const JUDGED: &'static [Strategy] = &[Strategy::Canary, Strategy::BlueGreen];

    fn reads(strategy: Strategy) -> &'static [Param] {
        match strategy {
            // The canary's and the colours' Deployments roll with the same budget.
            Strategy::Rolling | Strategy::BlueGreen => &[Param::MaxSurge, Param::MaxUnavailable],
            Strategy::Canary => &[Param::Steps, Param::Bake, Param::MaxSurge, Param::MaxUnavailable],
            _ => &[],
        }
    }

    async fn plan(
        &self,
        request: &DeployRequest,
        deadline: Instant,
        _console: &Console,
    ) -> Result<Plan<KubeState>, DeployError> {
        match (request.phase, request.strategy()) {
            (Phase::Rollback, _) => self.plan_rollback(request, deadline).await,
            (Phase::Deploy, Strategy::Canary) => self.plan_canary(request, deadline).await,
            (Phase::Promote | Phase::Reject, Strategy::Canary) => self.plan_finish_canary(request, deadline).await,
            (Phase::Deploy, Strategy::BlueGreen) => self.plan_blue_green(request, deadline).await,
            (Phase::Promote | Phase::Reject, Strategy::BlueGreen) => {
                self.plan_finish_blue_green(request, deadline).await
            }
            (Phase::Deploy, _) => self.plan_deploy(request, deadline).await,
            (phase, strategy) => Err(DeployError::Usage(format!(
                "--{} finishes a canary or blue-green deployment, not --strategy {strategy}",
                phase.as_str()
            ))),
        }
    }

    async fn apply(
        &self,
        plan: Plan<KubeState>,
        request: &DeployRequest,
        deadline: Instant,
        console: &Console,
    ) -> Result<DeployOutcome, DeployError> {
        match plan.state {
            KubeState::Deploy { manifests, live } => {
                self.apply_deploy(&manifests, live.map(|d| *d), request, deadline, console).await
            }
            KubeState::Rollback { live, to } => {
                let current = version_of(&live);
                let label = undo::version_of_set(&to);
                match self.undo_to_previous(Some(*to), deadline, console).await {
                    Ok(deployment) => Ok(self.outcome(&deployment, &label, &current, Status::RolledBack)),
                    Err(DeployError::Failed { message, detail, .. }) => {
                        let mut more = self.explain(Instant::now() + Duration::from_secs(30)).await;
                        more.splice(0..0, detail);
                        Err(DeployError::Failed {
                            message: format!("the rollback to {label} did not complete: {message}"),
                            status: Status::Unknown,
                            detail: more,
                        })
                    }
                    Err(usage) => Err(usage),
                }
            }
            KubeState::Canary { manifests, live } => {
                self.apply_canary(&manifests, &live, request, deadline, console).await
            }
            KubeState::PromoteCanary { manifests, live, canary } => {
                self.promote_canary(&manifests, live.map(|d| *d), &canary, request, deadline, console).await
            }
            KubeState::RejectCanary { live, canary } => {
                self.reject_canary(live.as_deref(), &canary, deadline, console).await
            }
            KubeState::BlueGreen { manifests, new, live } => {
                self.apply_blue_green(&manifests, new, live, request, deadline, console).await
            }
            KubeState::PromoteColour { new, old } => self.promote_colour(new, old, deadline, console).await,
            KubeState::RejectColour { new, live } => self.reject_colour(new, live, deadline, console).await,
            KubeState::RollbackColour { to, from } => self.rollback_colour(to, from, request, deadline, console).await,
        }
    }
}

/// Without `--run-as`: the user of `image`'s config, read from its registry within
/// `timeout` (--timeout: a registry that stalls cannot hold the step longer); bad input,
/// exit 2, when it cannot be read or cannot run under runAsNonRoot.
async fn resolve_user(
    settings: &mut Settings,
    image: &str,
    timeout: Duration,
    console: &Console,
) -> Result<(), DeployError> {
    let read = tokio::time::timeout(timeout, image_user::user_of(image, console)).await.unwrap_or_else(|_| {
        Err(format!("its registry gave no complete answer within --timeout ({})", humantime::format_duration(timeout)))
    });
    let user = read.map_err(|why| {
        DeployError::Usage(format!(
            "cannot read the user {image} runs as from its config ({why}); give --run-as UID[:GID]"
        ))
    })?;
    settings.use_image_user(image, &user)?;
    console.info(&format!(
        "the image's user `{user}`: runAsUser {}, runAsGroup {}",
        settings.run_as_user, settings.run_as_group
    ));
    Ok(())
}

/// `--render`: the objects apply would send, written to `to` (`-`: standard output),
/// with no cluster contacted; the namespace from `--namespace` (or the kubeconfig's context).
pub async fn render(
    app: &AppFlags,
    flags: &KubernetesFlags,
    request: &DeployRequest,
    env: &dyn Fn(&str) -> Option<String>,
    console: &Console,
) -> Result<(String, usize), DeployError> {
    if request.phase != Phase::Deploy {
        return Err(DeployError::Usage(format!(
            "--render writes a deployment's objects; it does not {}",
            request.phase.as_str()
        )));
    }
    Kubernetes::check(request)?;
    let mut settings = Settings::new(app, flags, &request.rollout, request.port, request.timeout)?;
    if settings.namespace.is_none() {
        let context = client::connect(flags, env).await.ok().and_then(|c| c.context_namespace);
        settings.namespace_from_context(context.as_deref())?;
    }
    if settings.run_as_from_image {
        resolve_user(&mut settings, &request.image, request.timeout, console).await?;
    }
    let first_step = request.rollout.steps_or_default().first().copied().unwrap_or(10);
    let manifests =
        Manifests::for_render(&settings, &request.image, &request.version_label, &Trace::from_env(env), first_step);
    let yaml = manifests.render().map_err(|error| {
        DeployError::failed(format!("cannot write the objects as YAML: {error}"), Status::Unchanged)
    })?;
    Ok((yaml, manifests.objects.len()))
}
