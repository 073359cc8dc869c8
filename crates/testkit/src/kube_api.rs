//! A fake Kubernetes API server on loopback, for deploy's Kubernetes target: the REST
//! shapes of core/v1 and the named groups (GET of an object or a collection with a
//! label selector, server-side apply as a PATCH of `application/apply-patch+yaml`,
//! PUT conditioned on `resourceVersion`, DELETE of an object, pods' `log`), errors as
//! `Status` objects, and every request recorded for the test to assert on. Field
//! management is kept per field of `spec` (see [`field_owners`]): an apply that changes
//! a field another manager (or the same name updating) holds is a 409 conflict.
//!
//! No controller runs here: a test scripts one ([`FakeKube::start`]'s `controller`),
//! called with the store before each request is answered, and may answer a request
//! itself (a 401, a 403, a 409) through its `intercept`. One request per connection.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

/// One request as it arrived.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// The path without the query.
    pub path: String,
    /// The query's pairs, decoded.
    pub query: Vec<(String, String)>,
    pub content_type: String,
    pub body: String,
}

impl Recorded {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The body as JSON (kube sends apply patches as JSON, which is YAML).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// An answer: a status and a JSON body (or text for logs).
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    pub content_type: &'static str,
}

impl Reply {
    pub fn json(status: u16, body: &Value) -> Self {
        Self { status, body: body.to_string(), content_type: "application/json" }
    }

    /// A `Status` failure as the API server writes it.
    pub fn status(code: u16, reason: &str, message: &str, details: Value) -> Self {
        Self::json(
            code,
            &json!({
                "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": message, "reason": reason, "details": details, "code": code,
            }),
        )
    }
}

/// The objects, by their path (`/apis/apps/v1/namespaces/ns/deployments/name`), and the
/// requests so far.
#[derive(Debug, Default)]
pub struct Store {
    pub objects: BTreeMap<String, Value>,
    pub requests: Vec<Recorded>,
    /// Pods' logs by pod name.
    pub logs: BTreeMap<String, String>,
    next_version: u64,
}

impl Store {
    /// A fresh resourceVersion.
    pub fn version(&mut self) -> String {
        self.next_version += 1;
        self.next_version.to_string()
    }

    /// Stores `object` at `path`, stamping uid, resourceVersion and creationTimestamp.
    pub fn put(&mut self, path: &str, mut object: Value) {
        let version = self.version();
        let metadata = &mut object["metadata"];
        if metadata.get("uid").is_none() {
            metadata["uid"] = json!(format!("uid-{version}"));
        }
        if metadata.get("creationTimestamp").is_none() {
            metadata["creationTimestamp"] = json!("2026-01-01T00:00:00Z");
        }
        metadata["resourceVersion"] = json!(version);
        self.objects.insert(path.to_owned(), object);
    }

    /// The objects directly under `collection` whose labels match `selector` (k=v,...).
    pub fn list(&self, collection: &str, selector: Option<&str>) -> Vec<Value> {
        let prefix = format!("{collection}/");
        self.objects
            .iter()
            .filter(|(path, _)| path.strip_prefix(&prefix).is_some_and(|rest| !rest.contains('/')))
            .map(|(_, object)| object)
            .filter(|object| selector.is_none_or(|selector| matches_labels(object, selector)))
            .cloned()
            .collect()
    }

    /// The requests with `method` whose path ends with `suffix`.
    pub fn sent(&self, method: &str, suffix: &str) -> Vec<Recorded> {
        self.requests.iter().filter(|r| r.method == method && r.path.ends_with(suffix)).cloned().collect()
    }
}

fn matches_labels(object: &Value, selector: &str) -> bool {
    selector.split(',').filter(|term| !term.is_empty()).all(|term| match term.split_once('=') {
        Some((key, value)) => object["metadata"]["labels"][key].as_str() == Some(value),
        None => object["metadata"]["labels"].get(term).is_some(),
    })
}

/// Answers a request itself (`Some`) or lets the fake do it.
pub type Intercept = Box<dyn FnMut(&Recorded, &mut Store) -> Option<Reply> + Send>;
/// Runs before every request is answered: the scripted controller.
pub type Controller = Box<dyn FnMut(&Recorded, &mut Store) + Send>;

/// The fake API server; stops when dropped.
pub struct FakeKube {
    pub port: u16,
    pub store: Arc<Mutex<Store>>,
    stop: Arc<AtomicBool>,
}

impl std::fmt::Debug for FakeKube {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeKube").field("port", &self.port).finish_non_exhaustive()
    }
}

impl FakeKube {
    pub fn start(store: Store, intercept: Intercept, controller: Controller) -> Self {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let store = Arc::new(Mutex::new(store));
        let stop = Arc::new(AtomicBool::new(false));
        let handlers = Arc::new(Mutex::new((intercept, controller)));
        let (shared, stopping) = (Arc::clone(&store), Arc::clone(&stop));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let (store, handlers) = (Arc::clone(&shared), Arc::clone(&handlers));
                std::thread::spawn(move || {
                    let _ = serve(stream, &store, &handlers);
                });
            }
        });
        Self { port, store, stop }
    }

    /// A kubeconfig pointing at this server over plain HTTP, with a bearer token.
    pub fn kubeconfig(&self, namespace: Option<&str>) -> String {
        kubeconfig_for(&format!("http://127.0.0.1:{}", self.port), namespace)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.store.lock().unwrap().requests.clone()
    }
}

impl Drop for FakeKube {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port));
    }
}

/// A kubeconfig with one context, `test`, for `server`.
pub fn kubeconfig_for(server: &str, namespace: Option<&str>) -> String {
    let namespace = namespace.map(|n| format!("\n    namespace: {n}")).unwrap_or_default();
    let token = crate::secrets::KUBERNETES_TOKEN;
    format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: test\nclusters:\n- name: fake\n  cluster:\n    server: {server}\ncontexts:\n- name: test\n  context:\n    cluster: fake\n    user: deployer{namespace}\nusers:\n- name: deployer\n  user:\n    token: {token}\n"
    )
}

type Handlers = Arc<Mutex<(Intercept, Controller)>>;

fn serve(stream: TcpStream, store: &Mutex<Store>, handlers: &Handlers) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let target = parts.next().unwrap_or_default().to_owned();
    let mut content_type = String::new();
    let mut length = 0usize;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            match name.trim().to_ascii_lowercase().as_str() {
                "content-type" => content_type = value.trim().to_owned(),
                "content-length" => length = value.trim().parse().unwrap_or(0),
                _ => {}
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let query = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect();
    let request = Recorded {
        method,
        path: path.to_owned(),
        query,
        content_type,
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    let reply = {
        let mut store = store.lock().unwrap();
        store.requests.push(request.clone());
        let mut handlers = handlers.lock().unwrap();
        let (intercept, controller) = &mut *handlers;
        controller(&request, &mut store);
        intercept(&request, &mut store).unwrap_or_else(|| answer(&request, &mut store))
    };
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 {} X\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
        reply.status,
        reply.content_type,
        reply.body.len(),
        reply.body
    )?;
    stream.flush()
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz");
                match u8::from_str_radix(hex, 16) {
                    Ok(byte) => {
                        out.push(byte);
                        i += 3;
                    }
                    Err(_) => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            byte => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `(kind, plural, group/version)` of a path's resource, for lists and errors.
fn resource_of(path: &str) -> (String, String) {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let plural = segments
        .iter()
        .position(|s| *s == "namespaces")
        .and_then(|i| segments.get(i + 2).or(segments.get(i)))
        .copied()
        .unwrap_or_default()
        .to_owned();
    let group = if segments.first() == Some(&"apis") { segments.get(1).copied().unwrap_or_default() } else { "" };
    (plural, group.to_owned())
}

/// Whether `path` names a collection (`.../namespaces/ns/pods`), not an object.
fn is_collection(path: &str) -> bool {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segments.iter().position(|s| *s == "namespaces") {
        Some(i) => segments.len() == i + 3,
        None => false,
    }
}

fn not_found(path: &str) -> Reply {
    let (plural, group) = resource_of(path);
    let name = path.rsplit('/').next().unwrap_or_default();
    let resource = if group.is_empty() { plural.clone() } else { format!("{plural}.{group}") };
    Reply::status(
        404,
        "NotFound",
        &format!("{resource} \"{name}\" not found"),
        json!({ "name": name, "group": group, "kind": plural }),
    )
}

/// The fake's own REST semantics.
fn answer(request: &Recorded, store: &mut Store) -> Reply {
    let path = request.path.as_str();
    if let Some(pod) = path.strip_suffix("/log") {
        let name = pod.rsplit('/').next().unwrap_or_default();
        return match store.logs.get(name) {
            Some(text) => Reply { status: 200, body: text.clone(), content_type: "text/plain" },
            None => not_found(pod),
        };
    }
    match request.method.as_str() {
        "GET" if is_collection(path) => {
            let items = store.list(path, request.param("labelSelector"));
            let version = store.version();
            Reply::json(
                200,
                &json!({ "apiVersion": "v1", "kind": "List", "metadata": { "resourceVersion": version }, "items": items }),
            )
        }
        "GET" => match store.objects.get(path) {
            Some(object) => Reply::json(200, object),
            None => not_found(path),
        },
        "PATCH" if request.content_type.starts_with("application/apply-patch") => {
            let applied: Value = match serde_json::from_str(&request.body) {
                Ok(value) => value,
                Err(error) => return Reply::status(400, "BadRequest", &format!("not JSON: {error}"), json!({})),
            };
            if request.param("dryRun") == Some("All") {
                return Reply::json(200, &applied);
            }
            let manager = Manager::of(request, "Apply");
            if let Some(existing) = store.objects.get(path)
                && request.param("force") != Some("true")
            {
                let conflicts = conflicts(existing, &applied, &manager);
                if !conflicts.is_empty() {
                    return conflict_reply(&conflicts);
                }
            }
            let object = match store.objects.get(path) {
                None => {
                    let mut object = applied.clone();
                    object["metadata"]["generation"] = json!(1);
                    object
                }
                Some(existing) => {
                    let mut object = existing.clone();
                    let generation = existing["metadata"]["generation"].as_i64().unwrap_or(1);
                    let spec_changed = existing.get("spec") != applied.get("spec");
                    for (key, value) in applied.as_object().into_iter().flatten() {
                        if key == "metadata" {
                            for field in ["labels", "annotations"] {
                                if let Some(value) = value.get(field) {
                                    object["metadata"][field] = value.clone();
                                }
                            }
                        } else {
                            object[key] = value.clone();
                        }
                    }
                    object["metadata"]["generation"] = json!(generation + i64::from(spec_changed));
                    object
                }
            };
            let before = store.objects.get(path).cloned().unwrap_or(Value::Null);
            let mut object = object;
            take_fields(&before, &mut object, &manager, applied.get("spec"));
            store.put(path, object);
            Reply::json(200, &store.objects[path])
        }
        "PUT" => {
            let Some(existing) = store.objects.get(path).cloned() else {
                return not_found(path);
            };
            let replaced: Value = serde_json::from_str(&request.body).unwrap_or(Value::Null);
            if replaced["metadata"]["resourceVersion"] != existing["metadata"]["resourceVersion"] {
                return Reply::status(
                    409,
                    "Conflict",
                    "Operation cannot be fulfilled: the object has been modified; please apply your changes to the latest version and try again",
                    json!({}),
                );
            }
            let mut object = replaced;
            let generation = existing["metadata"]["generation"].as_i64().unwrap_or(1);
            let changed = existing.get("spec") != object.get("spec");
            object["metadata"]["generation"] = json!(generation + i64::from(changed));
            object["status"] = existing["status"].clone();
            object["metadata"]["uid"] = existing["metadata"]["uid"].clone();
            object["metadata"]["managedFields"] = existing["metadata"]["managedFields"].clone();
            take_fields(&existing, &mut object, &Manager::of(request, "Update"), None);
            store.put(path, object);
            Reply::json(200, &store.objects[path])
        }
        // The object goes at once (a test's controller removes what it owned); the answer
        // is the object, as the API server's to a foreground deletion.
        "DELETE" if !is_collection(path) => match store.objects.remove(path) {
            Some(object) => Reply::json(200, &object),
            None => not_found(path),
        },
        _ => {
            Reply::status(405, "MethodNotAllowed", &format!("{} {path} is not served here", request.method), json!({}))
        }
    }
}

// Field management, as server-side apply documents it, at the granularity of the
// fields of `spec` (`.spec.template`, `.spec.replicas`, ...), recorded in the object's
// `metadata.managedFields`: a manager is its name *and* its operation (`Apply` for a
// PATCH of `application/apply-patch+yaml`, `Update` for every other write), so
// `slipway` applying and `slipway` updating are two managers. A write takes the fields
// whose values it changes (an apply also those it names); an apply that changes a field
// another manager holds is refused with 409 and the conflicts, unless forced.

/// A field manager: its name and operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manager {
    pub name: String,
    pub operation: String,
}

impl Manager {
    fn of(request: &Recorded, operation: &str) -> Self {
        Self { name: request.param("fieldManager").unwrap_or("unknown").to_owned(), operation: operation.to_owned() }
    }
}

/// Who holds each field of `object`'s spec (by its key), from its `managedFields`.
pub fn field_owners(object: &Value) -> BTreeMap<String, Manager> {
    let mut owners = BTreeMap::new();
    for entry in object["metadata"]["managedFields"].as_array().into_iter().flatten() {
        let manager = Manager {
            name: entry["manager"].as_str().unwrap_or_default().to_owned(),
            operation: entry["operation"].as_str().unwrap_or_default().to_owned(),
        };
        for field in entry["fieldsV1"]["f:spec"].as_object().into_iter().flatten().map(|(key, _)| key) {
            owners.insert(field.trim_start_matches("f:").to_owned(), manager.clone());
        }
    }
    owners
}

/// The fields of `spec` an apply by `manager` would change while another manager holds them.
fn conflicts(existing: &Value, applied: &Value, manager: &Manager) -> Vec<(String, Manager)> {
    let owners = field_owners(existing);
    applied["spec"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(key, value)| existing["spec"].get(key.as_str()) != Some(value))
        .filter_map(|(key, _)| owners.get(key).filter(|owner| *owner != manager).map(|o| (key.clone(), o.clone())))
        .collect()
}

fn conflict_reply(conflicts: &[(String, Manager)]) -> Reply {
    let owner = |manager: &Manager| {
        if manager.operation == "Apply" {
            format!("conflict with \"{}\"", manager.name)
        } else {
            format!("conflict with \"{}\" using apps/v1", manager.name)
        }
    };
    let causes: Vec<Value> = conflicts
        .iter()
        .map(|(field, manager)| {
            json!({ "reason": "FieldManagerConflict", "message": owner(manager), "field": format!(".spec.{field}") })
        })
        .collect();
    let listed: Vec<String> =
        conflicts.iter().map(|(field, manager)| format!("{}: .spec.{field}", owner(manager))).collect();
    Reply::status(
        409,
        "Conflict",
        &format!("Apply failed with {} conflict(s): {}", conflicts.len(), listed.join(", ")),
        json!({ "causes": causes }),
    )
}

/// `manager` takes the fields of `object`'s spec whose values differ from `before`'s (and,
/// for an apply, those `applied` names), recorded in `object`'s `managedFields`.
fn take_fields(before: &Value, object: &mut Value, manager: &Manager, applied: Option<&Value>) {
    let mut owners = field_owners(before);
    for (key, value) in object["spec"].as_object().into_iter().flatten() {
        let named = applied.is_some_and(|spec| spec.get(key).is_some());
        if named || before["spec"].get(key) != Some(value) {
            owners.insert(key.clone(), manager.clone());
        }
    }
    let mut entries: Vec<Value> = Vec::new();
    for (field, owner) in &owners {
        let position =
            entries.iter().position(|e| e["manager"] == json!(owner.name) && e["operation"] == json!(owner.operation));
        let index = position.unwrap_or_else(|| {
            entries.push(json!({
                "manager": owner.name, "operation": owner.operation, "apiVersion": object["apiVersion"],
                "fieldsType": "FieldsV1", "fieldsV1": { "f:spec": {} },
            }));
            entries.len() - 1
        });
        entries[index]["fieldsV1"]["f:spec"][format!("f:{field}")] = json!({});
    }
    if !entries.is_empty() {
        object["metadata"]["managedFields"] = Value::Array(entries);
    }
}
