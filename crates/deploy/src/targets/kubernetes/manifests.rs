//! The objects a deployment applies, built from the image (pinned by digest) and the
//! settings: what `--render` writes is what apply sends, Secrets without their values.

use std::fmt::Write as _;

use serde_json::{Map, Value, json};

use super::flags::{CANARY_SUFFIX, PREVIEW_SUFFIX, Settings, Update};
use crate::rollout::{Amount, Strategy};

/// The field manager slipway applies as (server-side apply).
pub const FIELD_MANAGER: &str = "slipway";

/// The label that selects the app's pods (immutable once the Deployment exists).
pub const NAME_LABEL: &str = "app.kubernetes.io/name";
pub const VERSION_LABEL: &str = "app.kubernetes.io/version";
/// The version label as given (a label value cannot hold every label).
pub const VERSION_ANNOTATION: &str = "slipway.dev/version-label";
pub const IMAGE_ANNOTATION: &str = "slipway.dev/image";
pub const DIGEST_ANNOTATION: &str = "slipway.dev/image-digest";
pub const GIT_SHA_ANNOTATION: &str = "slipway.dev/git-sha";
pub const CI_RUN_ANNOTATION: &str = "slipway.dev/ci-run-url";
pub const CHANGE_CAUSE_ANNOTATION: &str = "kubernetes.io/change-cause";
/// A canary's pods carry `slipway.dev/track: canary` beside the app's name label: the
/// app's Service selects them with the main Deployment's, `<name>-canary` alone.
pub const TRACK_LABEL: &str = "slipway.dev/track";
pub const CANARY_TRACK: &str = "canary";
/// Blue-green's pods carry their colour; the app's Service selects the live one.
pub const COLOR_LABEL: &str = "slipway.dev/color";

/// A JVM can take minutes to start: the startup probe allows 5 minutes (60 x 5 s)
/// before liveness takes over.
const STARTUP_PERIOD_SECONDS: i64 = 5;
const STARTUP_FAILURES: i64 = 60;

/// The kinds slipway applies, in the order it applies them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Namespace,
    Secret,
    Service,
    PodDisruptionBudget,
    NetworkPolicy,
    Ingress,
    HttpRoute,
    Deployment,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Namespace => "Namespace",
            Self::Secret => "Secret",
            Self::Service => "Service",
            Self::PodDisruptionBudget => "PodDisruptionBudget",
            Self::NetworkPolicy => "NetworkPolicy",
            Self::Ingress => "Ingress",
            Self::HttpRoute => "HTTPRoute",
            Self::Deployment => "Deployment",
        }
    }
}

/// One object as apply sends it.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    pub kind: Kind,
    pub name: String,
    pub body: Value,
}

/// What the pipeline knows of the run, for the traceability annotations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trace {
    pub git_sha: Option<String>,
    pub ci_run_url: Option<String>,
}

impl Trace {
    /// GitHub Actions' or GitLab CI's variables.
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Self {
        let known = |name: &str| env(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let github_run = match (known("GITHUB_SERVER_URL"), known("GITHUB_REPOSITORY"), known("GITHUB_RUN_ID")) {
            (Some(server), Some(repository), Some(run)) => Some(format!("{server}/{repository}/actions/runs/{run}")),
            _ => None,
        };
        Self {
            git_sha: known("GITHUB_SHA").or_else(|| known("CI_COMMIT_SHA")),
            ci_run_url: github_run.or_else(|| known("CI_JOB_URL")).or_else(|| known("CI_PIPELINE_URL")),
        }
    }
}

/// One of blue-green's two Deployments, `<name>-blue` and `<name>-green`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Colour {
    Blue,
    Green,
}

impl Colour {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Blue => "blue",
            Self::Green => "green",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "blue" => Some(Self::Blue),
            "green" => Some(Self::Green),
            _ => None,
        }
    }

    pub fn other(self) -> Self {
        match self {
            Self::Blue => Self::Green,
            Self::Green => Self::Blue,
        }
    }

    /// The Deployment of this colour.
    pub fn deployment_name(self, settings: &Settings) -> String {
        format!("{}-{}", settings.name, self.as_str())
    }
}

/// Which of the app's Deployments an object is: the main one (rolling, direct), a
/// canary beside it, or a colour of blue-green.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    Main,
    Canary { replicas: u32 },
    Colour(Colour),
}

impl Workload {
    pub fn deployment_name(self, settings: &Settings) -> String {
        match self {
            Self::Main => settings.name.clone(),
            Self::Canary { .. } => canary_name(settings),
            Self::Colour(colour) => colour.deployment_name(settings),
        }
    }

    /// The label its pods carry beside the app's name, which its selector adds.
    fn label(self) -> Option<(&'static str, &'static str)> {
        match self {
            Self::Main => None,
            Self::Canary { .. } => Some((TRACK_LABEL, CANARY_TRACK)),
            Self::Colour(colour) => Some((COLOR_LABEL, colour.as_str())),
        }
    }

    /// The app's name label its pods carry: the app's, except a canary's behind a
    /// Gateway, whose pods the app's Service must not select (the route weighs the two).
    fn name_label(self, settings: &Settings) -> String {
        match self {
            Self::Canary { .. } if settings.gateway.is_some() => canary_name(settings),
            _ => settings.name.clone(),
        }
    }

    fn replicas(self, settings: &Settings) -> u32 {
        match self {
            Self::Canary { replicas } => replicas,
            Self::Main | Self::Colour(_) => settings.replicas,
        }
    }
}

/// The canary's Deployment and Service: `<name>-canary`.
pub fn canary_name(settings: &Settings) -> String {
    format!("{}{CANARY_SUFFIX}", settings.name)
}

/// Blue-green's preview Service: `<name>-preview`.
pub fn preview_name(settings: &Settings) -> String {
    format!("{}{PREVIEW_SUFFIX}", settings.name)
}

/// The canary's pods at a step of `percent`: its share of all the app's pods, beside the
/// main Deployment's `main` (untouched): round(main x p / (100 - p)), at least 1.
pub fn canary_replicas(main: u32, percent: u8) -> u32 {
    let percent = u32::from(percent.clamp(1, 99));
    ((main * percent + (100 - percent) / 2) / (100 - percent)).max(1)
}

/// The share of traffic (percent, rounded) `canary` pods take beside `main` pods.
pub fn canary_share(main: u32, canary: u32) -> u32 {
    let total = main + canary;
    (canary * 100 + total / 2).checked_div(total).unwrap_or(0)
}

/// The objects of one deployment of `image` labelled `version_label`.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifests {
    pub objects: Vec<Object>,
    /// A comment `--render` writes first (what a phased strategy's objects are).
    pub header: Option<String>,
}

impl Manifests {
    /// The objects for the settings' strategy, as `--render` writes them: rolling and
    /// direct the app's; a canary's at its first step beside `settings.replicas` main
    /// pods; blue-green's for a first deployment (blue), with the Service `--promote`
    /// switches to it.
    pub fn for_render(settings: &Settings, image: &str, version_label: &str, trace: &Trace, first_step: u8) -> Self {
        match settings.strategy {
            Strategy::Canary => {
                let replicas = canary_replicas(settings.replicas, first_step);
                let mut manifests = Self::canary(settings, image, version_label, trace, replicas, first_step);
                manifests.header = Some(if settings.gateway.is_some() {
                    format!(
                        "# canary: {replicas} pod(s) of {} beside the {} of Deployment {}; the Service {} selects the app's pods, {} the canary's, and the HTTPRoute {} sends {first_step}% of the requests to the canary by its backends' weights.",
                        canary_name(settings),
                        settings.replicas,
                        settings.name,
                        settings.name,
                        canary_name(settings),
                        settings.name
                    )
                } else {
                    format!(
                        "# canary: {replicas} pod(s) of {} beside the {} of Deployment {} (about {}% of the traffic); the Service {} selects both, {} the canary alone.",
                        canary_name(settings),
                        settings.replicas,
                        settings.name,
                        canary_share(settings.replicas, replicas),
                        settings.name,
                        canary_name(settings)
                    )
                });
                manifests
            }
            Strategy::BlueGreen => {
                let mut manifests = Self::blue_green(settings, image, version_label, trace, Colour::Blue);
                let live = live_service(settings, Colour::Blue);
                manifests.objects.push(live);
                manifests.header = Some(format!(
                    "# blue-green: the new colour (blue for a first deployment; else the one the Service {} does not select) and its preview Service {}; --promote applies the Service {} selecting it.",
                    settings.name,
                    preview_name(settings),
                    settings.name
                ));
                manifests
            }
            _ => Self::build(settings, image, version_label, trace),
        }
    }

    /// A canary of `image` with `replicas` pods: the Secret its pods read, the Service
    /// `<name>-canary` selecting it alone, the app's NetworkPolicy (which selects its pods
    /// too; applied again as it is, so the canary's objects stand on their own), and its
    /// Deployment.
    /// Behind a Gateway (`--gateway`), the canary's pods carry its own name label, so the
    /// app's Service does not select them, and the HTTPRoute sends exactly `percent` of the
    /// requests to the canary's Service (applied last, once the canary is ready).
    pub fn canary(
        settings: &Settings,
        image: &str,
        version_label: &str,
        trace: &Trace,
        replicas: u32,
        percent: u8,
    ) -> Self {
        let mut objects = Vec::new();
        if !settings.secret_env.is_empty() {
            objects.push(secret(settings));
        }
        let name = canary_name(settings);
        let mut canary_service = service(settings, &name, Some((TRACK_LABEL, CANARY_TRACK)));
        canary_service.body["spec"]["selector"][NAME_LABEL] = json!(Workload::Canary { replicas }.name_label(settings));
        objects.push(canary_service);
        objects.push(network_policy(settings));
        objects.push(deployment(settings, image, version_label, trace, Workload::Canary { replicas }));
        if settings.gateway.is_some() {
            objects.push(route(settings, Some(percent)));
        }
        Self { objects, header: None }
    }

    /// Blue-green's new colour: the app's companions, the colour's Deployment and the
    /// preview Service selecting it alone (the app's Service is switched on promote).
    pub fn blue_green(settings: &Settings, image: &str, version_label: &str, trace: &Trace, colour: Colour) -> Self {
        let mut objects = Vec::new();
        if settings.create_namespace {
            objects.push(namespace(settings));
        }
        if !settings.secret_env.is_empty() {
            objects.push(secret(settings));
        }
        objects.push(service(settings, &preview_name(settings), Some((COLOR_LABEL, colour.as_str()))));
        if settings.replicas >= 2 {
            objects.push(disruption_budget(settings));
        }
        objects.push(network_policy(settings));
        if settings.host.is_some() {
            objects.push(front(settings));
        }
        objects.push(deployment(settings, image, version_label, trace, Workload::Colour(colour)));
        Self { objects, header: None }
    }

    pub fn build(settings: &Settings, image: &str, version_label: &str, trace: &Trace) -> Self {
        let mut objects = Vec::new();
        if settings.create_namespace {
            objects.push(namespace(settings));
        }
        if !settings.secret_env.is_empty() {
            objects.push(secret(settings));
        }
        objects.push(service(settings, &settings.name, None));
        if settings.replicas >= 2 {
            objects.push(disruption_budget(settings));
        }
        objects.push(network_policy(settings));
        if settings.host.is_some() {
            objects.push(front(settings));
        }
        objects.push(deployment(settings, image, version_label, trace, Workload::Main));
        Self { objects, header: None }
    }

    pub fn deployment(&self) -> Option<&Object> {
        self.objects.iter().find(|o| o.kind == Kind::Deployment)
    }

    /// Multi-document YAML of every object, Secrets by name only.
    pub fn render(&self) -> Result<String, serde_yaml_ng::Error> {
        let mut text = String::new();
        if let Some(header) = &self.header {
            let _ = writeln!(text, "{header}");
        }
        for object in &self.objects {
            text.push_str("---\n");
            if object.kind == Kind::Secret {
                let _ = writeln!(
                    text,
                    "# Secret {}: its values come from the deploying job's environment at apply time and are never rendered.",
                    object.name
                );
            }
            text.push_str(&serde_yaml_ng::to_string(&object.body)?);
        }
        Ok(text)
    }
}

fn labels(settings: &Settings) -> Value {
    json!({ NAME_LABEL: settings.name, "app.kubernetes.io/managed-by": FIELD_MANAGER })
}

fn metadata(settings: &Settings, name: &str) -> Value {
    json!({ "name": name, "namespace": settings.ns(), "labels": labels(settings) })
}

fn namespace(settings: &Settings) -> Object {
    let body = json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": { "name": settings.ns(), "labels": { "app.kubernetes.io/managed-by": FIELD_MANAGER } },
    });
    Object { kind: Kind::Namespace, name: settings.ns().to_owned(), body }
}

/// The Secret without its values; apply adds `data` from the environment.
fn secret(settings: &Settings) -> Object {
    let name = settings.secret_name();
    let body = json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata(settings, &name),
        "type": "Opaque",
    });
    Object { kind: Kind::Secret, name, body }
}

/// The app's Service under blue-green: it selects the `live` colour's pods.
pub fn live_service(settings: &Settings, live: Colour) -> Object {
    service(settings, &settings.name, Some((COLOR_LABEL, live.as_str())))
}

/// A Service `name` selecting the app's pods, or those of them that also carry `extra`.
fn service(settings: &Settings, name: &str, extra: Option<(&str, &str)>) -> Object {
    let mut selector = json!({ NAME_LABEL: settings.name });
    if let Some((key, value)) = extra {
        selector[key] = json!(value);
    }
    let body = json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(settings, name),
        "spec": {
            "type": "ClusterIP",
            "selector": selector,
            "ports": [{ "name": "http", "port": 80, "targetPort": "http", "protocol": "TCP" }],
        },
    });
    Object { kind: Kind::Service, name: name.to_owned(), body }
}

fn disruption_budget(settings: &Settings) -> Object {
    let name = format!("{}-pdb", settings.name);
    let body = json!({
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata(settings, &name),
        "spec": {
            "maxUnavailable": 1,
            "selector": { "matchLabels": { NAME_LABEL: settings.name } },
        },
    });
    Object { kind: Kind::PodDisruptionBudget, name, body }
}

/// The pods take traffic on their HTTP port only (from anywhere: the Service, the
/// ingress controller, Prometheus); their own connections out are not restricted.
fn network_policy(settings: &Settings) -> Object {
    // Behind a Gateway a canary's pods carry the canary's name: the policy covers them too.
    let pod_selector = if settings.gateway.is_some() {
        json!({ "matchExpressions": [{ "key": NAME_LABEL, "operator": "In", "values": [settings.name, canary_name(settings)] }] })
    } else {
        json!({ "matchLabels": { NAME_LABEL: settings.name } })
    };
    let body = json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata(settings, &settings.name),
        "spec": {
            "podSelector": pod_selector,
            "policyTypes": ["Ingress"],
            "ingress": [{ "ports": [{ "port": "http", "protocol": "TCP" }] }],
        },
    });
    Object { kind: Kind::NetworkPolicy, name: settings.name.clone(), body }
}

/// What takes `--host`'s requests to the app's Service: an HTTPRoute with `--gateway`,
/// else an Ingress.
fn front(settings: &Settings) -> Object {
    if settings.gateway.is_some() { route(settings, None) } else { ingress(settings) }
}

/// The HTTPRoute `<name>` (gateway.networking.k8s.io/v1) attaching `--host` to the
/// `--gateway`'s listeners: every path to the app's Service, or, with a canary at
/// `canary` percent, that share of the requests to `<name>-canary` by the backends'
/// weights. TLS is the Gateway's.
pub fn route(settings: &Settings, canary: Option<u8>) -> Object {
    let host = settings.host.clone().unwrap_or_default();
    let mut parent = json!({ "group": "gateway.networking.k8s.io", "kind": "Gateway" });
    if let Some(gateway) = &settings.gateway {
        parent["name"] = json!(gateway.name);
        if let Some(namespace) = &gateway.namespace {
            parent["namespace"] = json!(namespace);
        }
    }
    let backend =
        |name: &str, weight: u8| json!({ "group": "", "kind": "Service", "name": name, "port": 80, "weight": weight });
    let backends = match canary {
        Some(percent) => {
            let percent = percent.min(100);
            vec![backend(&settings.name, 100 - percent), backend(&canary_name(settings), percent)]
        }
        None => vec![backend(&settings.name, 1)],
    };
    let body = json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": metadata(settings, &settings.name),
        "spec": {
            "parentRefs": [parent],
            "hostnames": [host],
            "rules": [{
                "matches": [{ "path": { "type": "PathPrefix", "value": "/" } }],
                "backendRefs": backends,
            }],
        },
    });
    Object { kind: Kind::HttpRoute, name: settings.name.clone(), body }
}

fn ingress(settings: &Settings) -> Object {
    let host = settings.host.clone().unwrap_or_default();
    let mut spec = json!({
        "rules": [{
            "host": host,
            "http": { "paths": [{
                "path": "/",
                "pathType": "Prefix",
                "backend": { "service": { "name": settings.name, "port": { "name": "http" } } },
            }] },
        }],
    });
    if let Some(class) = &settings.ingress_class {
        spec["ingressClassName"] = json!(class);
    }
    if let Some(tls) = &settings.tls_secret {
        spec["tls"] = json!([{ "hosts": [host], "secretName": tls }]);
    }
    let body = json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": metadata(settings, &settings.name),
        "spec": spec,
    });
    Object { kind: Kind::Ingress, name: settings.name.clone(), body }
}

/// A label value from any version label: at most 63 of `[A-Za-z0-9-_.]`, alphanumeric
/// at both ends (the annotation keeps the label as given).
pub fn label_value(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '-' })
        .take(63)
        .collect();
    cleaned.trim_matches(|c: char| !c.is_ascii_alphanumeric()).to_owned()
}

/// The digest of a pinned reference (`sha256:...`).
pub fn digest_of(image: &str) -> Option<&str> {
    image.rsplit_once('@').map(|(_, digest)| digest)
}

fn amount(value: Amount) -> Value {
    match value {
        Amount::Percent(percent) => json!(format!("{percent}%")),
        Amount::Count(count) => json!(count),
    }
}

/// The Deployment of `workload` running `image`.
pub fn deployment(settings: &Settings, image: &str, version_label: &str, trace: &Trace, workload: Workload) -> Object {
    // The container keeps the app's name whichever Deployment runs it.
    let name = &settings.name;
    let deployment_name = workload.deployment_name(settings);
    let mut annotations = Map::new();
    annotations.insert(VERSION_ANNOTATION.into(), json!(version_label));
    annotations.insert(IMAGE_ANNOTATION.into(), json!(image));
    if let Some(digest) = digest_of(image) {
        annotations.insert(DIGEST_ANNOTATION.into(), json!(digest));
    }
    if let Some(sha) = &trace.git_sha {
        annotations.insert(GIT_SHA_ANNOTATION.into(), json!(sha));
    }
    if let Some(url) = &trace.ci_run_url {
        annotations.insert(CI_RUN_ANNOTATION.into(), json!(url));
    }
    let mut cause = format!("slipway deploy {version_label} ({image})");
    if let Some(url) = &trace.ci_run_url {
        let _ = write!(cause, " from {url}");
    }
    annotations.insert(CHANGE_CAUSE_ANNOTATION.into(), json!(cause));
    // checkov reads its exceptions from these annotations: each a deliberate choice.
    let mut skips = Vec::new();
    if settings.cpu_limit.is_none() {
        skips.push("CKV_K8S_11=No CPU limit by design: a limit throttles the JVM's JIT and GC threads; the request reserves CPU (--cpu-limit sets one)");
    }
    if !settings.secret_env.is_empty() {
        skips.push("CKV_K8S_35=--secret-env hands the app its secrets as environment variables through secretKeyRef, as the app reads them");
    }
    if settings.service_account.is_some() {
        skips.push(
            "CKV_K8S_38=--service-account: the app calls the Kubernetes API as this account, so its token is mounted",
        );
    }
    for (index, skip) in skips.into_iter().enumerate() {
        annotations.insert(format!("checkov.io/skip{}", index + 1), json!(skip));
    }

    let mut deployment_labels = labels(settings);
    deployment_labels[VERSION_LABEL] = json!(label_value(version_label));
    let pod_name = workload.name_label(settings);
    let mut pod_labels = json!({ NAME_LABEL: pod_name, VERSION_LABEL: label_value(version_label) });
    let mut selector = json!({ NAME_LABEL: pod_name });
    if let Some((key, value)) = workload.label() {
        deployment_labels[key] = json!(value);
        pod_labels[key] = json!(value);
        selector[key] = json!(value);
    }
    if label_value(version_label).is_empty() {
        if let Some(map) = deployment_labels.as_object_mut() {
            map.remove(VERSION_LABEL);
        }
        if let Some(map) = pod_labels.as_object_mut() {
            map.remove(VERSION_LABEL);
        }
    }
    let mut pod_annotations = Map::new();
    pod_annotations.insert(VERSION_ANNOTATION.into(), json!(version_label));
    if let Some(path) = &settings.metrics_path {
        pod_annotations.insert("prometheus.io/scrape".into(), json!("true"));
        pod_annotations.insert("prometheus.io/path".into(), json!(path));
        pod_annotations.insert("prometheus.io/port".into(), json!(settings.port.to_string()));
    }

    let strategy = match settings.update {
        Update::Rolling { max_surge, max_unavailable } => json!({
            "type": "RollingUpdate",
            "rollingUpdate": { "maxSurge": amount(max_surge), "maxUnavailable": amount(max_unavailable) },
        }),
        Update::Recreate => json!({ "type": "Recreate" }),
    };

    let mut requests = json!({ "cpu": settings.cpu_request.text, "memory": settings.memory_request.text });
    let mut limits = json!({ "memory": settings.memory_limit.text });
    if let Some(cpu) = &settings.cpu_limit {
        limits["cpu"] = json!(cpu.text);
    }
    // Ephemeral storage is bounded too: /tmp is the only writable place.
    requests["ephemeral-storage"] = json!("64Mi");
    limits["ephemeral-storage"] = json!("1Gi");

    let probe = |period: i64, failures: i64| {
        json!({
            "httpGet": { "path": settings.check, "port": "http" },
            "periodSeconds": period,
            "timeoutSeconds": 2,
            "failureThreshold": failures,
        })
    };
    let env: Vec<Value> = settings
        .secret_env
        .iter()
        .map(|variable| {
            json!({
                "name": variable,
                "valueFrom": { "secretKeyRef": { "name": settings.secret_name(), "key": variable } },
            })
        })
        .collect();
    let mut mounts = vec![json!({ "name": "tmp", "mountPath": "/tmp" })];
    let mut volumes = vec![json!({ "name": "tmp", "emptyDir": { "sizeLimit": "512Mi" } })];
    if let Some(config) = &settings.config_volume {
        mounts.push(json!({ "name": "config", "mountPath": config.mount_path }));
        volumes.push(match &config.claim {
            Some(claim) => json!({ "name": "config", "persistentVolumeClaim": { "claimName": claim } }),
            None => json!({ "name": "config", "emptyDir": {} }),
        });
    }
    let mut container = json!({
        "name": name,
        "image": image,
        // Pinned by digest, so Always costs a manifest check and proves the pull is allowed.
        "imagePullPolicy": "Always",
        "ports": [{ "name": "http", "containerPort": settings.port, "protocol": "TCP" }],
        "resources": { "requests": requests, "limits": limits },
        "startupProbe": probe(STARTUP_PERIOD_SECONDS, STARTUP_FAILURES),
        "readinessProbe": probe(5, 3),
        "livenessProbe": probe(10, 3),
        "securityContext": {
            "runAsNonRoot": true,
            "runAsUser": settings.run_as_user,
            "runAsGroup": settings.run_as_group,
            "allowPrivilegeEscalation": false,
            "readOnlyRootFilesystem": true,
            "privileged": false,
            "capabilities": { "drop": ["ALL"] },
            "seccompProfile": { "type": "RuntimeDefault" },
        },
        "volumeMounts": mounts,
    });
    if !env.is_empty() {
        container["env"] = json!(env);
    }
    let mut pod_spec = json!({
        "automountServiceAccountToken": settings.service_account.is_some(),
        "enableServiceLinks": false,
        "dnsPolicy": settings.dns_policy.as_str(),
        "securityContext": {
            "runAsNonRoot": true,
            "runAsUser": settings.run_as_user,
            "runAsGroup": settings.run_as_group,
            "fsGroup": settings.run_as_group,
            "seccompProfile": { "type": "RuntimeDefault" },
        },
        "topologySpreadConstraints": [{
            "maxSkew": 1,
            "topologyKey": "kubernetes.io/hostname",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": { "matchLabels": { NAME_LABEL: name } },
        }],
        "containers": [container],
        "volumes": volumes,
    });
    if let Some(account) = &settings.service_account {
        pod_spec["serviceAccountName"] = json!(account);
    }
    let body = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": deployment_name,
            "namespace": settings.ns(),
            "labels": deployment_labels,
            "annotations": annotations,
        },
        "spec": {
            "replicas": workload.replicas(settings),
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": settings.progress_deadline_seconds,
            "selector": { "matchLabels": selector },
            "strategy": strategy,
            "template": {
                "metadata": { "labels": pod_labels, "annotations": pod_annotations },
                "spec": pod_spec,
            },
        },
    });
    Object { kind: Kind::Deployment, name: deployment_name, body }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::{Namespace, Secret, Service};
    use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
    use k8s_openapi::api::policy::v1::PodDisruptionBudget;

    use super::*;
    use crate::args::AppFlags;
    use crate::rollout::{Rollout, Strategy};
    use crate::targets::kubernetes::flags::{KubernetesFlags, dns_1123_label, dns_1123_subdomain};
    use crate::targets::kubernetes::url;

    pub(crate) const IMAGE: &str =
        "ghcr.io/acme/shop@sha256:3f2a9c1b7d4e3f2a9c1b7d4e3f2a9c1b7d4e3f2a9c1b7d4e3f2a9c1b7d4eabcd";

    fn settings(flags: KubernetesFlags, host: Option<&str>) -> Settings {
        settings_for(flags, host, Strategy::Rolling)
    }

    fn settings_for(flags: KubernetesFlags, host: Option<&str>, strategy: Strategy) -> Settings {
        let app = AppFlags { name: "shop".into(), host: host.map(str::to_owned), check: None };
        let flags = KubernetesFlags {
            namespace: Some("shop-prod".into()),
            // Unset (0) in a test's flags: the flag's default.
            replicas: if flags.replicas == 0 { 2 } else { flags.replicas },
            cpu_request: if flags.cpu_request.is_empty() { "500m".into() } else { flags.cpu_request.clone() },
            memory_limit: if flags.memory_limit.is_empty() { "768Mi".into() } else { flags.memory_limit.clone() },
            run_as: Some("65532:65532".into()),
            ..flags
        };
        Settings::new(&app, &flags, &Rollout::plain(strategy), 8080, Duration::from_secs(1200)).unwrap()
    }

    /// Every object read back as its Kubernetes type and written again is the same: no
    /// field is misspelt or misplaced (the typed model drops what it does not know).
    fn round_trips<T: serde::de::DeserializeOwned + serde::Serialize>(body: &Value) {
        let typed: T = serde_json::from_value(body.clone()).unwrap();
        assert_eq!(&serde_json::to_value(typed).unwrap(), body);
    }

    #[test]
    fn every_object_has_the_shape_of_its_kubernetes_type() {
        let full = KubernetesFlags {
            replicas: 3,
            create_namespace: true,
            secret_env: vec!["DB_PASSWORD".into()],
            tls_secret: Some("shop-tls".into()),
            config_volume: Some("/config".into()),
            metrics_path: Some("/metrics".into()),
            service_account: Some("shop".into()),
            ..KubernetesFlags::default()
        };
        let manifests =
            Manifests::build(&settings(full, Some("shop.example.com")), IMAGE, "1.2.0-3f2a9c1b7d4e", &Trace::default());
        let kinds: Vec<Kind> = manifests.objects.iter().map(|o| o.kind).collect();
        assert_eq!(
            kinds,
            [
                Kind::Namespace,
                Kind::Secret,
                Kind::Service,
                Kind::PodDisruptionBudget,
                Kind::NetworkPolicy,
                Kind::Ingress,
                Kind::Deployment
            ]
        );
        for object in &manifests.objects {
            match object.kind {
                Kind::Namespace => round_trips::<Namespace>(&object.body),
                Kind::Secret => round_trips::<Secret>(&object.body),
                Kind::Service => round_trips::<Service>(&object.body),
                Kind::PodDisruptionBudget => round_trips::<PodDisruptionBudget>(&object.body),
                Kind::NetworkPolicy => round_trips::<NetworkPolicy>(&object.body),
                Kind::Ingress => round_trips::<Ingress>(&object.body),
                Kind::HttpRoute => http_route_shape(&object.body),
                Kind::Deployment => round_trips::<Deployment>(&object.body),
            }
        }
    }

    /// Only the fields Gateway API v1 documents for an HTTPRoute (standard channel,
    /// gateway.networking.k8s.io/v1: spec.parentRefs, hostnames, rules; a rule's matches,
    /// filters, backendRefs, timeouts; a backendRef's group, kind, name, namespace, port,
    /// weight 0..=1000000), with their types: kubernetes-validate bundles no Gateway API
    /// schema, so this is the check of the render's shape.
    fn http_route_shape(route: &Value) {
        let keys = |value: &Value, allowed: &[&str], what: &str| {
            let object = value.as_object().unwrap_or_else(|| panic!("{what} is an object: {value}"));
            for key in object.keys() {
                assert!(allowed.contains(&key.as_str()), "{what}.{key} is not an HTTPRoute v1 field");
            }
        };
        assert_eq!(route["apiVersion"], "gateway.networking.k8s.io/v1");
        assert_eq!(route["kind"], "HTTPRoute");
        keys(route, &["apiVersion", "kind", "metadata", "spec"], "HTTPRoute");
        let spec = &route["spec"];
        keys(spec, &["parentRefs", "hostnames", "rules"], "spec");
        for parent in spec["parentRefs"].as_array().unwrap() {
            keys(parent, &["group", "kind", "namespace", "name", "sectionName", "port"], "parentRefs[]");
            assert!(parent["name"].as_str().is_some_and(|n| dns_1123_subdomain("name", n).is_ok()));
            assert_eq!(
                (parent["group"].as_str(), parent["kind"].as_str()),
                (Some("gateway.networking.k8s.io"), Some("Gateway"))
            );
        }
        let hostnames = spec["hostnames"].as_array().unwrap();
        assert!(!hostnames.is_empty() && hostnames.len() <= 16);
        for host in hostnames {
            let host = host.as_str().unwrap();
            assert!(dns_1123_subdomain("host", host.strip_prefix("*.").unwrap_or(host)).is_ok(), "{host}");
        }
        let rules = spec["rules"].as_array().unwrap();
        assert!(!rules.is_empty() && rules.len() <= 16);
        for rule in rules {
            keys(
                rule,
                &["name", "matches", "filters", "backendRefs", "timeouts", "retry", "sessionPersistence"],
                "rules[]",
            );
            for matching in rule["matches"].as_array().unwrap() {
                keys(matching, &["path", "headers", "queryParams", "method"], "matches[]");
                keys(&matching["path"], &["type", "value"], "matches[].path");
                assert!(
                    ["Exact", "PathPrefix", "RegularExpression"].contains(&matching["path"]["type"].as_str().unwrap())
                );
                assert!(matching["path"]["value"].as_str().unwrap().starts_with('/'));
            }
            for backend in rule["backendRefs"].as_array().unwrap() {
                keys(backend, &["group", "kind", "name", "namespace", "port", "weight", "filters"], "backendRefs[]");
                assert_eq!((backend["group"].as_str(), backend["kind"].as_str()), (Some(""), Some("Service")));
                assert!(backend["name"].as_str().is_some_and(|n| dns_1123_label("name", n).is_ok()));
                assert!(backend["port"].as_u64().is_some_and(|p| (1..=65535).contains(&p)), "a Service backend's port");
                assert!(backend["weight"].as_u64().is_some_and(|w| w <= 1_000_000));
            }
        }
    }

    #[test]
    fn with_a_gateway_an_http_route_replaces_the_ingress_and_weighs_the_canary_exactly() {
        let flags = KubernetesFlags { gateway: Some("public/infra".into()), ..KubernetesFlags::default() };
        let rolling = settings(flags.clone(), Some("shop.example.com"));
        let manifests = Manifests::build(&rolling, IMAGE, "v1", &Trace::default());
        assert!(manifests.objects.iter().all(|o| o.kind != Kind::Ingress));
        let route = manifests.objects.iter().find(|o| o.kind == Kind::HttpRoute).expect("an HTTPRoute");
        http_route_shape(&route.body);
        assert_eq!(route.body["spec"]["parentRefs"][0]["name"], "public");
        assert_eq!(route.body["spec"]["parentRefs"][0]["namespace"], "infra");
        assert_eq!(route.body["spec"]["hostnames"], json!(["shop.example.com"]));
        assert_eq!(
            route.body["spec"]["rules"][0]["backendRefs"],
            json!([{ "group": "", "kind": "Service", "name": "shop", "port": 80, "weight": 1 }])
        );
        assert!(
            route.body["spec"].get("tls").is_none() && route.body.to_string().find("tls").is_none(),
            "TLS is the Gateway's"
        );
        assert_eq!(url(&rolling), "https://shop.example.com");

        let canary = settings_for(flags, Some("shop.example.com"), Strategy::Canary);
        let manifests = Manifests::canary(&canary, IMAGE, "v2", &Trace::default(), 1, 25);
        let route = manifests.objects.last().unwrap();
        assert_eq!(route.kind, Kind::HttpRoute, "the route moves last");
        http_route_shape(&route.body);
        let weights: Vec<(&str, u64)> = route.body["spec"]["rules"][0]["backendRefs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| (b["name"].as_str().unwrap(), b["weight"].as_u64().unwrap()))
            .collect();
        assert_eq!(weights, [("shop", 75), ("shop-canary", 25)], "the step's percentage, not the pods'");
        // The app's Service must not select the canary's pods, or the weights would lie.
        let deployment = manifests.deployment().unwrap();
        assert_eq!(deployment.body["spec"]["template"]["metadata"]["labels"][NAME_LABEL], "shop-canary");
        assert_eq!(deployment.body["spec"]["selector"]["matchLabels"][NAME_LABEL], "shop-canary");
        let service = manifests.objects.iter().find(|o| o.kind == Kind::Service).unwrap();
        assert_eq!(service.body["spec"]["selector"][NAME_LABEL], "shop-canary");
        let policy = manifests.objects.iter().find(|o| o.kind == Kind::NetworkPolicy).unwrap();
        assert_eq!(policy.body["spec"]["podSelector"]["matchExpressions"][0]["values"], json!(["shop", "shop-canary"]));
        round_trips::<NetworkPolicy>(&policy.body);
        round_trips::<Deployment>(&deployment.body);
    }

    #[test]
    fn a_canary_is_its_share_of_all_the_app_s_pods() {
        // round(main x p / (100 - p)), at least one pod.
        assert_eq!(canary_replicas(2, 10), 1);
        assert_eq!(canary_replicas(2, 25), 1);
        assert_eq!(canary_replicas(2, 50), 2);
        assert_eq!(canary_replicas(9, 10), 1);
        assert_eq!(canary_replicas(10, 25), 3);
        assert_eq!(canary_replicas(3, 75), 9);
        assert_eq!(canary_share(2, 1), 33);
        assert_eq!(canary_share(9, 1), 10);
        assert_eq!(canary_share(3, 9), 75);
    }

    #[test]
    fn canary_and_blue_green_objects_have_their_kubernetes_types_and_selectors() {
        let canary = settings_for(KubernetesFlags::default(), None, Strategy::Canary);
        let manifests = Manifests::canary(&canary, IMAGE, "v2", &Trace::default(), 3, 25);
        let kinds: Vec<(Kind, &str)> = manifests.objects.iter().map(|o| (o.kind, o.name.as_str())).collect();
        assert_eq!(
            kinds,
            [(Kind::Service, "shop-canary"), (Kind::NetworkPolicy, "shop"), (Kind::Deployment, "shop-canary")]
        );
        round_trips::<Service>(&manifests.objects[0].body);
        round_trips::<Deployment>(&manifests.objects[2].body);
        let track = json!({ NAME_LABEL: "shop", TRACK_LABEL: CANARY_TRACK });
        assert_eq!(manifests.objects[0].body["spec"]["selector"], track);
        let deployment = &manifests.objects[2].body;
        assert_eq!(deployment["spec"]["selector"]["matchLabels"], track);
        assert_eq!(deployment["spec"]["replicas"], 3);
        assert_eq!(deployment["spec"]["template"]["metadata"]["labels"][NAME_LABEL], "shop");
        assert_eq!(deployment["spec"]["template"]["spec"]["containers"][0]["name"], "shop", "the app's container name");

        let colours = settings_for(KubernetesFlags::default(), None, Strategy::BlueGreen);
        let manifests = Manifests::blue_green(&colours, IMAGE, "v2", &Trace::default(), Colour::Green);
        let kinds: Vec<(Kind, &str)> = manifests.objects.iter().map(|o| (o.kind, o.name.as_str())).collect();
        assert_eq!(
            kinds,
            [
                (Kind::Service, "shop-preview"),
                (Kind::PodDisruptionBudget, "shop-pdb"),
                (Kind::NetworkPolicy, "shop"),
                (Kind::Deployment, "shop-green")
            ],
            "the app's Service is switched by --promote, not here"
        );
        let green = json!({ NAME_LABEL: "shop", COLOR_LABEL: "green" });
        assert_eq!(manifests.objects[0].body["spec"]["selector"], green);
        assert_eq!(manifests.objects[3].body["spec"]["selector"]["matchLabels"], green);
        round_trips::<Deployment>(&manifests.objects[3].body);
        assert_eq!(live_service(&colours, Colour::Blue).body["spec"]["selector"][COLOR_LABEL], "blue");
    }

    #[test]
    fn canary_and_blue_green_renders_are_stable() {
        let trace = Trace { git_sha: Some("0123456789abcdef0123456789abcdef01234567".into()), ci_run_url: None };
        let canary = settings_for(KubernetesFlags::default(), None, Strategy::Canary);
        let yaml = Manifests::for_render(&canary, IMAGE, "1.2.0-3f2a9c1b7d4e", &trace, 25).render().unwrap();
        insta::assert_snapshot!("kubernetes_render_canary", yaml);
        let colours = settings_for(KubernetesFlags::default(), Some("shop.example.com"), Strategy::BlueGreen);
        let yaml = Manifests::for_render(&colours, IMAGE, "1.2.0-3f2a9c1b7d4e", &trace, 10).render().unwrap();
        insta::assert_snapshot!("kubernetes_render_blue_green", yaml);
    }

    #[test]
    fn one_replica_has_no_disruption_budget_and_no_host_no_ingress() {
        let single = KubernetesFlags { replicas: 1, ..KubernetesFlags::default() };
        let manifests = Manifests::build(&settings(single, None), IMAGE, "v1", &Trace::default());
        let kinds: Vec<Kind> = manifests.objects.iter().map(|o| o.kind).collect();
        assert_eq!(kinds, [Kind::Service, Kind::NetworkPolicy, Kind::Deployment]);
    }

    #[test]
    fn traceability_from_github_or_gitlab() {
        let github = |name: &str| {
            [
                ("GITHUB_SHA", "0123456789abcdef"),
                ("GITHUB_SERVER_URL", "https://github.com"),
                ("GITHUB_REPOSITORY", "acme/shop"),
                ("GITHUB_RUN_ID", "42"),
            ]
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
        };
        let trace = Trace::from_env(&github);
        assert_eq!(trace.ci_run_url.as_deref(), Some("https://github.com/acme/shop/actions/runs/42"));
        let gitlab = |name: &str| match name {
            "CI_COMMIT_SHA" => Some("feedface".to_owned()),
            "CI_JOB_URL" => Some("https://gitlab.com/acme/shop/-/jobs/7".to_owned()),
            _ => None,
        };
        assert_eq!(
            Trace::from_env(&gitlab),
            Trace {
                git_sha: Some("feedface".into()),
                ci_run_url: Some("https://gitlab.com/acme/shop/-/jobs/7".into())
            }
        );
        let manifests = Manifests::build(&settings(KubernetesFlags::default(), None), IMAGE, "v1.2.0", &trace);
        let annotations = &manifests.deployment().unwrap().body["metadata"]["annotations"];
        assert_eq!(annotations[GIT_SHA_ANNOTATION], "0123456789abcdef");
        assert_eq!(annotations[DIGEST_ANNOTATION], IMAGE.rsplit_once('@').unwrap().1);
        assert_eq!(
            annotations[CHANGE_CAUSE_ANNOTATION],
            format!("slipway deploy v1.2.0 ({IMAGE}) from https://github.com/acme/shop/actions/runs/42")
        );
    }

    #[test]
    fn label_values_are_valid_whatever_the_version_label() {
        assert_eq!(label_value("1.2.0-3f2a9c1b7d4e"), "1.2.0-3f2a9c1b7d4e");
        assert_eq!(label_value("release/1.2+build"), "release-1.2-build");
        assert_eq!(label_value("-x-"), "x");
        assert_eq!(label_value(&"a".repeat(80)).len(), 63);
    }

    #[test]
    fn the_render_is_stable_and_secret_free() {
        let flags = KubernetesFlags {
            secret_env: vec!["DB_PASSWORD".into()],
            tls_secret: Some("shop-tls".into()),
            config_volume: Some("/config".into()),
            metrics_path: Some("/metrics".into()),
            ..KubernetesFlags::default()
        };
        let trace = Trace {
            git_sha: Some("0123456789abcdef0123456789abcdef01234567".into()),
            ci_run_url: Some("https://github.com/acme/shop/actions/runs/42".into()),
        };
        let manifests =
            Manifests::build(&settings(flags, Some("shop.example.com")), IMAGE, "1.2.0-3f2a9c1b7d4e", &trace);
        let yaml = manifests.render().unwrap();
        assert!(!yaml.contains("\ndata:") && !yaml.contains("stringData"), "a rendered Secret has no values:\n{yaml}");
        insta::assert_snapshot!("kubernetes_render", yaml);
    }
}
