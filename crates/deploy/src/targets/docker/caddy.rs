//! The proxy's configuration as Caddy reads it (its native JSON), and the part of it
//! each app owns: a route whose `@id` names the app, dialling the app's live container,
//! and while a deployment runs, a probe route that reaches the new container alone.
//!
//! Routes of other apps sharing the proxy are kept as they are: deploy reads the
//! configuration Caddy last loaded (its autosave), changes its own routes, loads the
//! whole again.

use serde_json::{Value, json};

/// The header a probe route matches; its value is a token only this run knows.
pub const PROBE_HEADER: &str = "X-Slipway-Probe";

/// The server every app's routes live in.
const SERVER: &str = "slipway";
/// The server of blue-green previews, on its own published port.
const PREVIEW_SERVER: &str = "slipway-preview";

/// Caddy's whole configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct CaddyConfig(Value);

/// Where an app's traffic goes: `container:port` dial addresses, the live one first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppRoute {
    /// The `Host` it answers for; empty for every host.
    pub host: String,
    pub dial: Vec<String>,
    /// Each upstream's share, in the order of `dial`, when traffic is split (a canary).
    pub weights: Vec<u32>,
}

/// Where Caddy reads an app's certificate and key: files in the proxy container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub certificate: String,
    pub key: String,
}

/// Certificates for a host from an ACME CA, obtained and renewed by Caddy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcmeIssuer {
    pub host: String,
    pub email: Option<String>,
    /// The CA's directory; `None` is Caddy's default (Let's Encrypt).
    pub ca: Option<String>,
    /// A root the proxy trusts for a private CA (a file in the proxy container).
    pub root_file: Option<String>,
    /// Which challenges the proxy can answer: HTTP-01 needs container port 80,
    /// TLS-ALPN-01 container port 443, where the host's DNS points.
    pub http_challenge: bool,
    pub tls_alpn_challenge: bool,
}

/// Tags an app's certificate among those the proxy loads.
fn tls_tag(app: &str) -> String {
    format!("slipway:{app}")
}

/// Whether a `load_files` entry carries `tag`.
fn has_tag(entry: &Value, tag: &str) -> bool {
    entry.get("tags").and_then(Value::as_array).is_some_and(|tags| tags.iter().any(|t| t.as_str() == Some(tag)))
}

fn route_id(app: &str) -> String {
    format!("slipway:{app}")
}

fn probe_id(app: &str) -> String {
    format!("slipway:{app}:probe")
}

fn preview_id(app: &str) -> String {
    format!("slipway:{app}:preview")
}

/// A route for `host` (or every host) sending everything to `upstreams` by weight.
fn proxy_route(id: &str, host: &str, upstreams: &[(&str, u32)]) -> Value {
    let dials: Vec<Value> = upstreams.iter().map(|(dial, _)| json!({"dial": dial})).collect();
    let mut handler = json!({"handler": "reverse_proxy", "upstreams": dials});
    if upstreams.len() > 1 {
        let weights: Vec<u32> = upstreams.iter().map(|(_, weight)| *weight).collect();
        handler["load_balancing"] = json!({"selection_policy": {"policy": "weighted_round_robin", "weights": weights}});
    }
    let mut route = json!({"@id": id, "handle": [handler], "terminal": true});
    if !host.is_empty() {
        route["match"] = json!([{"host": [host]}]);
    }
    route
}

/// `object[key]` as a JSON object, made when missing; `what` names it in the error.
fn object_entry<'a>(
    object: &'a mut serde_json::Map<String, Value>,
    key: &str,
    what: &str,
) -> Result<&'a mut serde_json::Map<String, Value>, String> {
    object
        .entry(key)
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .ok_or_else(|| format!("the proxy's {what} is not a JSON object"))
}

impl CaddyConfig {
    /// A proxy listening on `ports` (inside its container) with no routes yet: the admin
    /// API on the container's own loopback only, automatic HTTPS off (plain HTTP).
    pub fn new(ports: &[u16]) -> Self {
        let listen: Vec<String> = ports.iter().map(|port| format!(":{port}")).collect();
        Self(json!({
            "admin": {"listen": "localhost:2019"},
            "apps": {"http": {"servers": {SERVER: {
                "listen": listen,
                "routes": [],
                "automatic_https": {"disable": true}
            }}}}
        }))
    }

    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let value: Value =
            serde_json::from_slice(bytes).map_err(|e| format!("the proxy's configuration is not JSON: {e}"))?;
        if !value.is_object() {
            return Err("the proxy's configuration is not a JSON object".into());
        }
        Ok(Self(value))
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(&self.0).unwrap_or_default()
    }

    /// How long Caddy lets requests in flight on a replaced configuration finish (its
    /// `grace_period`): a switch returns once they have, or this much has passed.
    pub fn set_grace_period(&mut self, grace: std::time::Duration) {
        if let Some(http) = self.0.pointer_mut("/apps/http").and_then(Value::as_object_mut) {
            http.insert("grace_period".to_owned(), json!(format!("{}ms", grace.as_millis())));
        }
    }

    fn server(&self) -> Option<&Value> {
        self.0.pointer(&format!("/apps/http/servers/{SERVER}"))
    }

    fn routes(&self) -> &[Value] {
        self.server().and_then(|s| s.get("routes")).and_then(Value::as_array).map_or(&[], Vec::as_slice)
    }

    fn routes_mut(&mut self) -> Result<&mut Vec<Value>, String> {
        let server = self
            .0
            .pointer_mut(&format!("/apps/http/servers/{SERVER}"))
            .ok_or_else(|| format!("the proxy's configuration has no server `{SERVER}`: it was not made by slipway"))?;
        let object = server.as_object_mut().ok_or("the proxy's server is not a JSON object")?;
        let routes = object.entry("routes").or_insert_with(|| json!([]));
        routes.as_array_mut().ok_or_else(|| "the proxy's routes are not a list".to_owned())
    }

    /// The app's route, if the proxy has one.
    pub fn app_route(&self, app: &str) -> Option<AppRoute> {
        let id = route_id(app);
        let route = self.routes().iter().find(|route| route.get("@id").and_then(Value::as_str) == Some(&id))?;
        let host = route.pointer("/match/0/host/0").and_then(Value::as_str).map(str::to_owned).unwrap_or_default();
        let dial = route
            .pointer("/handle/0/upstreams")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|upstream| upstream.get("dial").and_then(Value::as_str).map(str::to_owned))
            .collect();
        let weights = route
            .pointer("/handle/0/load_balancing/selection_policy/weights")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|weight| weight.as_u64().and_then(|w| u32::try_from(w).ok()))
            .collect();
        Some(AppRoute { host, dial, weights })
    }

    /// Where the app's preview route sends requests, if it has one.
    pub fn preview_dial(&self, app: &str) -> Option<String> {
        let id = preview_id(app);
        let routes = self.0.pointer(&format!("/apps/http/servers/{PREVIEW_SERVER}/routes"))?.as_array()?;
        let route = routes.iter().find(|route| route.get("@id").and_then(Value::as_str) == Some(&id))?;
        route.pointer("/handle/0/upstreams/0/dial").and_then(Value::as_str).map(str::to_owned)
    }

    /// Sends the app's requests on the preview port (`--preview-port`) to `dial`.
    pub fn set_preview_route(&mut self, app: &str, host: &str, port: u16, dial: &str) -> Result<(), String> {
        let servers = self
            .0
            .pointer_mut("/apps/http/servers")
            .and_then(Value::as_object_mut)
            .ok_or("the proxy's configuration has no HTTP servers: it was not made by slipway")?;
        let policies = servers.get(SERVER).and_then(|main| main.get("tls_connection_policies")).cloned();
        let server = servers.entry(PREVIEW_SERVER).or_insert_with(|| {
            let mut preview =
                json!({"listen": [format!(":{port}")], "routes": [], "automatic_https": {"disable": true}});
            if let Some(policies) = policies {
                preview["tls_connection_policies"] = policies;
            }
            preview
        });
        let listens = server.pointer("/listen/0").and_then(Value::as_str).unwrap_or_default().to_owned();
        if listens != format!(":{port}") {
            return Err(format!("the proxy's previews listen on {listens}, not :{port} (--preview-port)"));
        }
        let routes = server
            .as_object_mut()
            .and_then(|s| s.entry("routes").or_insert_with(|| json!([])).as_array_mut())
            .ok_or("the proxy's preview routes are not a list")?;
        let id = preview_id(app);
        routes.retain(|route| route.get("@id").and_then(Value::as_str) != Some(&id));
        routes.push(proxy_route(&id, host, &[(dial, 1)]));
        routes.sort_by_key(|route| route.get("match").is_none());
        Ok(())
    }

    pub fn remove_preview_route(&mut self, app: &str) {
        let id = preview_id(app);
        if let Some(routes) =
            self.0.pointer_mut(&format!("/apps/http/servers/{PREVIEW_SERVER}/routes")).and_then(Value::as_array_mut)
        {
            routes.retain(|route| route.get("@id").and_then(Value::as_str) != Some(&id));
        }
    }

    /// Whether the app servers terminate TLS (an app gave them a certificate).
    pub fn serves_tls(&self) -> bool {
        self.server()
            .and_then(|s| s.get("tls_connection_policies"))
            .and_then(Value::as_array)
            .is_some_and(|p| !p.is_empty())
    }

    /// The files of the app's certificate, if the proxy loads one.
    pub fn tls_files(&self, app: &str) -> Option<TlsFiles> {
        let tag = tls_tag(app);
        let files = self.0.pointer("/apps/tls/certificates/load_files")?.as_array()?;
        let entry = files.iter().find(|entry| has_tag(entry, &tag))?;
        Some(TlsFiles {
            certificate: entry.get("certificate")?.as_str()?.to_owned(),
            key: entry.get("key")?.as_str()?.to_owned(),
        })
    }

    /// Whether routes of apps other than `app` live on the proxy.
    pub fn routes_other_apps(&self, app: &str) -> bool {
        let ours = route_id(app);
        self.routes().iter().any(|route| {
            route.get("@id").and_then(Value::as_str).is_some_and(|id| id != ours && !id.ends_with(":probe"))
        })
    }

    /// The automation policy of `host` (a certificate from an ACME CA), if the proxy has one.
    fn acme_policy(&self, host: &str) -> Option<&Value> {
        let policies = self.0.pointer("/apps/tls/automation/policies")?.as_array()?;
        policies.iter().find(|policy| policy.get("subjects") == Some(&json!([host])))
    }

    /// Whether the proxy gets `host`'s certificate from an ACME CA.
    pub fn serves_acme_for(&self, host: &str) -> bool {
        !host.is_empty() && self.acme_policy(host).is_some()
    }

    /// The root the proxy trusts for `host`'s ACME CA (a file in the proxy), if one was given.
    pub fn acme_root_file(&self, host: &str) -> Option<String> {
        let policy = self.acme_policy(host)?;
        policy.pointer("/issuers/0/trusted_roots_pem_files/0").and_then(Value::as_str).map(str::to_owned)
    }

    /// Serves the app over HTTPS with a certificate for `issuer.host` that Caddy gets from
    /// an ACME CA and renews (replacing a certificate the app had from files).
    pub fn set_acme(&mut self, app: &str, issuer: &AcmeIssuer) -> Result<(), String> {
        let host = issuer.host.as_str();
        let mut acme = json!({"module": "acme"});
        if let Some(ca) = &issuer.ca {
            acme["ca"] = json!(ca);
        }
        if let Some(email) = &issuer.email {
            acme["email"] = json!(email);
        }
        if let Some(root) = &issuer.root_file {
            acme["trusted_roots_pem_files"] = json!([root]);
        }
        acme["challenges"] = json!({
            "http": {"disabled": !issuer.http_challenge},
            "tls-alpn": {"disabled": !issuer.tls_alpn_challenge}
        });
        let tls = self.tls_app()?;
        let automate = object_entry(tls, "certificates", "certificates")?
            .entry("automate")
            .or_insert_with(|| json!([]))
            .as_array_mut()
            .ok_or("the proxy's automated names are not a list")?;
        if !automate.iter().any(|name| name.as_str() == Some(host)) {
            automate.push(json!(host));
        }
        let policies = object_entry(tls, "automation", "certificate automation")?
            .entry("policies")
            .or_insert_with(|| json!([]))
            .as_array_mut()
            .ok_or("the proxy's automation policies are not a list")?;
        policies.retain(|policy| policy.get("subjects") != Some(&json!([host])));
        policies.push(json!({"subjects": [host], "issuers": [acme]}));
        self.remove_tls_files(app);
        // Caddy's own local CA is never needed: keep it away from the trust store.
        if let Some(apps) = self.0.pointer_mut("/apps").and_then(Value::as_object_mut) {
            apps.insert("pki".to_owned(), json!({"certificate_authorities": {"local": {"install_trust": false}}}));
        }
        self.terminate_tls(host, false);
        Ok(())
    }

    /// Serves the app over HTTPS with the certificate in `files` (replacing one it had):
    /// the app servers (main and preview) terminate TLS, choosing the certificate by the
    /// name a client asks for (SNI); a client that asks for none or for a name no
    /// certificate has gets `default_name`'s, which the app answering every host sets.
    pub fn set_tls(&mut self, app: &str, files: &TlsFiles, default_name: &str, every_host: bool) -> Result<(), String> {
        self.remove_tls_files(app);
        let tls = self.tls_app()?;
        let load_files = object_entry(tls, "certificates", "certificates")?
            .entry("load_files")
            .or_insert_with(|| json!([]))
            .as_array_mut()
            .ok_or("the proxy's certificate files are not a list")?;
        load_files.push(json!({"certificate": files.certificate, "key": files.key, "tags": [tls_tag(app)]}));
        self.terminate_tls(default_name, every_host);
        Ok(())
    }

    /// The TLS app's object, made when missing.
    fn tls_app(&mut self) -> Result<&mut serde_json::Map<String, Value>, String> {
        let apps = self
            .0
            .pointer_mut("/apps")
            .and_then(Value::as_object_mut)
            .ok_or("the proxy's configuration has no apps: it was not made by slipway")?;
        object_entry(apps, "tls", "TLS app")
    }

    fn remove_tls_files(&mut self, app: &str) {
        let tag = tls_tag(app);
        if let Some(load_files) = self.0.pointer_mut("/apps/tls/certificates/load_files").and_then(Value::as_array_mut)
        {
            load_files.retain(|entry| !has_tag(entry, &tag));
        }
    }

    /// Makes the app servers (main and preview) terminate TLS; a client that asks for no
    /// name or an unknown one gets `default_name`'s certificate, set by the app answering
    /// every host (`set_default`) or by the first app to turn TLS on.
    fn terminate_tls(&mut self, default_name: &str, set_default: bool) {
        let had_policy = self.serves_tls();
        let policy = json!([{"default_sni": default_name, "fallback_sni": default_name}]);
        for server in [SERVER, PREVIEW_SERVER] {
            if let Some(server) =
                self.0.pointer_mut(&format!("/apps/http/servers/{server}")).and_then(Value::as_object_mut)
                && (set_default || !had_policy)
            {
                server.insert("tls_connection_policies".to_owned(), policy.clone());
            }
        }
    }

    /// Another app's route answering for the same host (a shared proxy routes apps by
    /// `Host`; two apps for every host would shadow each other).
    pub fn host_taken_by(&self, app: &str, host: &str) -> Option<String> {
        self.routes().iter().find_map(|route| {
            let id = route.get("@id").and_then(Value::as_str)?.strip_prefix("slipway:")?;
            if id == app || id.ends_with(":probe") {
                return None;
            }
            let theirs = route.pointer("/match/0/host/0").and_then(Value::as_str).unwrap_or_default();
            (theirs.eq_ignore_ascii_case(host)).then(|| id.to_owned())
        })
    }

    /// Routes the app's traffic to `dial` (replacing its route), for `host` or every host.
    pub fn set_app_route(&mut self, app: &str, host: &str, dial: &str) -> Result<(), String> {
        self.replace_route(&route_id(app), proxy_route(&route_id(app), host, &[(dial, 1)]))
    }

    /// Splits the app's traffic: `percent` of it to `canary`, the rest to `live`.
    pub fn set_canary_route(
        &mut self,
        app: &str,
        host: &str,
        live: &str,
        canary: &str,
        percent: u8,
    ) -> Result<(), String> {
        let canary_weight = u32::from(percent.min(100));
        let upstreams = [(live, 100 - canary_weight), (canary, canary_weight)];
        self.replace_route(&route_id(app), proxy_route(&route_id(app), host, &upstreams))
    }

    /// A route that sends requests carrying the probe header with `token` to `dial` alone.
    pub fn set_probe_route(&mut self, app: &str, host: &str, token: &str, dial: &str) -> Result<(), String> {
        let mut route = proxy_route(&probe_id(app), host, &[(dial, 1)]);
        let mut matcher = json!({"header": {PROBE_HEADER: [token]}});
        if !host.is_empty() {
            matcher["host"] = json!([host]);
        }
        route["match"] = json!([matcher]);
        self.replace_route(&probe_id(app), route)
    }

    pub fn remove_probe_route(&mut self, app: &str) -> Result<(), String> {
        let id = probe_id(app);
        self.routes_mut()?.retain(|route| route.get("@id").and_then(Value::as_str) != Some(&id));
        Ok(())
    }

    pub fn has_probe_route(&self, app: &str) -> bool {
        let id = probe_id(app);
        self.routes().iter().any(|route| route.get("@id").and_then(Value::as_str) == Some(&id))
    }

    /// Puts `route` in place of the one with `id`, then orders the routes so that the
    /// first match is the right one: probes, then host routes, then catch-alls.
    fn replace_route(&mut self, id: &str, route: Value) -> Result<(), String> {
        let routes = self.routes_mut()?;
        routes.retain(|existing| existing.get("@id").and_then(Value::as_str) != Some(id));
        routes.push(route);
        routes.sort_by_key(|route| {
            let probe = route.get("@id").and_then(Value::as_str).is_some_and(|id| id.ends_with(":probe"));
            let has_match = route.get("match").is_some();
            match (probe, has_match) {
                (true, _) => 0,
                (false, true) => 1,
                (false, false) => 2,
            }
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_proxy_listens_and_routes_nothing() {
        let mut config = CaddyConfig::new(&[8080]);
        assert_eq!(config.0["apps"]["http"]["servers"]["slipway"]["listen"], json!([":8080"]));
        config.set_grace_period(std::time::Duration::from_secs(5));
        assert_eq!(config.0["apps"]["http"]["grace_period"], "5000ms");
        assert_eq!(config.app_route("shop"), None);
        let text = String::from_utf8(config.to_bytes()).unwrap();
        assert!(text.contains("\"localhost:2019\""), "admin only on the container's loopback: {text}");
    }

    #[test]
    fn routes_are_set_replaced_and_read_back_through_caddys_json() {
        let mut config = CaddyConfig::new(&[80]);
        config.set_app_route("shop", "", "shop-1a2b:8080").unwrap();
        config.set_app_route("blog", "blog.example.com", "blog-9f:3000").unwrap();
        config.set_probe_route("shop", "", "t0k3n", "shop-3c4d:8080").unwrap();
        let config = CaddyConfig::parse(&config.to_bytes()).unwrap();
        let shop = AppRoute { host: String::new(), dial: vec!["shop-1a2b:8080".into()], weights: Vec::new() };
        assert_eq!(config.app_route("shop"), Some(shop));
        assert_eq!(config.app_route("blog").unwrap().host, "blog.example.com");
        assert!(config.has_probe_route("shop"));
        let ids: Vec<&str> = config.routes().iter().filter_map(|r| r["@id"].as_str()).collect();
        assert_eq!(ids, ["slipway:shop:probe", "slipway:blog", "slipway:shop"], "probe, host, catch-all");
        assert_eq!(config.routes()[0]["match"][0]["header"][PROBE_HEADER][0], "t0k3n");

        let mut switched = config.clone();
        switched.set_app_route("shop", "", "shop-3c4d:8080").unwrap();
        switched.remove_probe_route("shop").unwrap();
        assert_eq!(switched.app_route("shop").unwrap().dial, vec!["shop-3c4d:8080".to_owned()]);
        assert!(!switched.has_probe_route("shop"));
        assert_eq!(switched.app_route("blog"), config.app_route("blog"), "another app's route is kept");
    }

    #[test]
    fn a_canary_splits_by_weight_and_a_preview_has_its_own_port() {
        let mut config = CaddyConfig::new(&[80]);
        config.set_canary_route("shop", "", "shop-1:8080", "shop-2:8080", 10).unwrap();
        let route = config.app_route("shop").unwrap();
        assert_eq!(route.dial, ["shop-1:8080", "shop-2:8080"]);
        assert_eq!(route.weights, [90, 10]);
        let handler = &config.routes()[0]["handle"][0];
        assert_eq!(handler["load_balancing"]["selection_policy"]["policy"], "weighted_round_robin");

        config.set_preview_route("shop", "", 8081, "shop-2:8080").unwrap();
        assert_eq!(config.preview_dial("shop").as_deref(), Some("shop-2:8080"));
        assert_eq!(config.0["apps"]["http"]["servers"][PREVIEW_SERVER]["listen"], json!([":8081"]));
        assert!(config.set_preview_route("shop", "", 9090, "shop-2:8080").unwrap_err().contains("not :9090"));
        config.remove_preview_route("shop");
        assert_eq!(config.preview_dial("shop"), None);
    }

    #[test]
    fn tls_loads_each_apps_certificate_and_turns_the_servers_to_https() {
        let mut config = CaddyConfig::new(&[443]);
        assert!(!config.serves_tls());
        let shop = TlsFiles {
            certificate: "/config/slipway/tls/shop-1.crt".into(),
            key: "/config/slipway/tls/shop-1.key".into(),
        };
        config.set_tls("shop", &shop, "shop.example.com", true).unwrap();
        config.set_preview_route("shop", "", 8443, "shop-2:8080").unwrap();
        let config = CaddyConfig::parse(&config.to_bytes()).unwrap();
        assert!(config.serves_tls());
        assert_eq!(config.tls_files("shop"), Some(shop));
        let policy = json!([{"default_sni": "shop.example.com", "fallback_sni": "shop.example.com"}]);
        assert_eq!(config.0["apps"]["http"]["servers"][SERVER]["tls_connection_policies"], policy);
        assert_eq!(
            config.0["apps"]["http"]["servers"][PREVIEW_SERVER]["tls_connection_policies"], policy,
            "previews too"
        );

        // A new certificate replaces the app's; another app's is kept, and the app
        // answering every host keeps the default name.
        let mut config = config;
        let rotated = TlsFiles { certificate: "/c/shop-2.crt".into(), key: "/c/shop-2.key".into() };
        config.set_tls("shop", &rotated, "shop.example.com", true).unwrap();
        let blog = TlsFiles { certificate: "/c/blog.crt".into(), key: "/c/blog.key".into() };
        config.set_tls("blog", &blog, "blog.example.com", false).unwrap();
        assert_eq!(config.tls_files("shop"), Some(rotated));
        assert_eq!(config.tls_files("blog"), Some(blog));
        assert_eq!(config.0["apps"]["tls"]["certificates"]["load_files"].as_array().unwrap().len(), 2);
        assert_eq!(config.0["apps"]["http"]["servers"][SERVER]["tls_connection_policies"], policy);
        assert_eq!(config.tls_files("cart"), None);
    }

    #[test]
    fn acme_automates_the_hosts_certificate_with_the_challenges_the_ports_allow() {
        let mut config = CaddyConfig::new(&[443]);
        let files = TlsFiles { certificate: "/c/shop.crt".into(), key: "/c/shop.key".into() };
        config.set_tls("shop", &files, "shop.example.com", false).unwrap();
        let issuer = AcmeIssuer {
            host: "shop.example.com".into(),
            email: Some("ops@example.com".into()),
            ca: Some("https://acme.example/directory".into()),
            root_file: Some("/config/slipway/tls/shop-acme-root.pem".into()),
            http_challenge: false,
            tls_alpn_challenge: true,
        };
        config.set_acme("shop", &issuer).unwrap();
        config.set_acme("shop", &issuer).unwrap();
        let config = CaddyConfig::parse(&config.to_bytes()).unwrap();
        assert!(config.serves_tls() && config.serves_acme_for("shop.example.com"));
        assert!(!config.serves_acme_for("blog.example.com") && !config.serves_acme_for(""));
        assert_eq!(config.tls_files("shop"), None, "ACME replaces the files");
        assert_eq!(config.0["apps"]["tls"]["certificates"]["automate"], json!(["shop.example.com"]));
        let policies = config.0["apps"]["tls"]["automation"]["policies"].as_array().unwrap();
        assert_eq!(policies.len(), 1, "one policy per host, replaced: {policies:?}");
        let acme = &policies[0]["issuers"][0];
        assert_eq!(acme["module"], "acme");
        assert_eq!(acme["ca"], "https://acme.example/directory");
        assert_eq!(acme["email"], "ops@example.com");
        assert_eq!(acme["challenges"], json!({"http": {"disabled": true}, "tls-alpn": {"disabled": false}}));
        let root = config.acme_root_file("shop.example.com");
        assert_eq!(root.as_deref(), Some("/config/slipway/tls/shop-acme-root.pem"));
        assert_eq!(config.0["apps"]["pki"]["certificate_authorities"]["local"]["install_trust"], false);
    }

    #[test]
    fn other_apps_routes_are_told_apart_from_the_apps_own() {
        let mut config = CaddyConfig::new(&[80]);
        config.set_app_route("shop", "", "shop-1:8080").unwrap();
        config.set_probe_route("shop", "", "t", "shop-2:8080").unwrap();
        assert!(!config.routes_other_apps("shop"));
        config.set_app_route("blog", "blog.example.com", "blog-1:3000").unwrap();
        assert!(config.routes_other_apps("shop"));
    }

    #[test]
    fn a_host_is_owned_by_one_app() {
        let mut config = CaddyConfig::new(&[80]);
        config.set_app_route("blog", "Blog.example.com", "blog-1:3000").unwrap();
        assert_eq!(config.host_taken_by("shop", "blog.example.com"), Some("blog".into()));
        assert_eq!(config.host_taken_by("blog", "blog.example.com"), None);
        assert_eq!(config.host_taken_by("shop", ""), None);
    }

    #[test]
    fn a_configuration_slipway_did_not_write_is_refused_not_overwritten() {
        let mut foreign = CaddyConfig::parse(br#"{"apps":{"http":{"servers":{"srv0":{"listen":[":80"]}}}}}"#).unwrap();
        assert!(foreign.set_app_route("shop", "", "shop-1:8080").unwrap_err().contains("not made by slipway"));
        assert!(CaddyConfig::parse(b"[1]").is_err());
        assert!(CaddyConfig::parse(b"not json").is_err());
    }
}
