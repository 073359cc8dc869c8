//! Writing to a registry: blob existence, cross-repository mounts (with the 202
//! fallback), monolithic uploads streamed from disk or from another registry, and
//! manifests. Each call is one attempt; callers retry with [`crate::retry`].
//!
//! These are our own requests, because oci-client holds a blob in memory to push it,
//! treats a 202 mount as an error, and asks for one scope per token: a mount needs `pull`
//! on its source besides `push` on the destination ([`crate::token`]).

use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use futures_util::{Stream, StreamExt, TryStreamExt};
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, LOCATION, WWW_AUTHENTICATE};

use crate::auth::Credentials;
use crate::client::{Registry, RegistryError};
use crate::reference::ImageReference;
use crate::retry::{Failure, parse_retry_after};
use crate::token::{Authorizer, Challenge, parse_challenges};

/// Counts bytes as they leave, for progress.
pub type OnBytes = Arc<dyn Fn(u64) + Send + Sync>;

/// What a mount request achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mount {
    Mounted,
    /// The registry does not mount from there (or answered 202): upload instead.
    NotMounted,
}

/// One repository on one registry, authenticated for push.
#[derive(Clone)]
pub struct Destination {
    http: reqwest::Client,
    base_url: String,
    repository: String,
    auth: Arc<Auth>,
    pub reference: ImageReference,
}

/// How a destination's requests are authorized: the [`Authorizer`] its `/v2/` challenge
/// gave, or, for an anonymous push to a plain-HTTP registry, none until a request is
/// challenged (most such registries never do): the push saves the `/v2/` round trip.
struct Auth {
    known: OnceLock<Authorizer>,
    /// What an [`Authorizer`] is built from when a challenge comes; `None`: it is known.
    unprobed: Option<Unprobed>,
}

struct Unprobed {
    http: reqwest::Client,
    credentials: Credentials,
    /// The token flow's scopes asked for so far; locked while the authorizer is built.
    scopes: Mutex<Vec<String>>,
    console: slipway_contract::Console,
}

impl Auth {
    fn known(authorizer: Authorizer) -> Self {
        let known = OnceLock::new();
        let _ = known.set(authorizer);
        Self { known, unprobed: None }
    }

    fn authorizer(&self) -> Option<&Authorizer> {
        self.known.get()
    }

    async fn header(&self) -> Result<(u64, Option<String>), Failure> {
        match self.authorizer() {
            Some(authorizer) => authorizer.header().await,
            None => Ok((0, None)),
        }
    }

    async fn refused(&self, generation: u64) -> bool {
        match self.authorizer() {
            Some(authorizer) => authorizer.refused(generation).await,
            None => false,
        }
    }

    async fn accepted(&self) {
        if let Some(authorizer) = self.authorizer() {
            authorizer.accepted().await;
        }
    }

    async fn add_scope(&self, scope: &str) {
        if let Some(unprobed) = &self.unprobed {
            let mut scopes = unprobed.scopes.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if self.known.get().is_none() {
                scopes.push(scope.to_owned());
                return;
            }
        }
        if let Some(authorizer) = self.authorizer() {
            authorizer.add_scope(scope).await;
        }
    }

    /// A request sent unauthorized was challenged: builds the authorizer from `challenges`
    /// (once, whichever request comes first). Whether sending it again can help: the
    /// registry's challenge gives a way to authorize it.
    fn learn(&self, challenges: &[Challenge]) -> bool {
        let Some(unprobed) = &self.unprobed else { return false };
        let scopes = unprobed.scopes.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        self.known
            .get_or_init(|| {
                let source = unprobed.credentials.source.to_string();
                Authorizer::new(
                    unprobed.http.clone(),
                    challenges,
                    &unprobed.credentials.auth,
                    &source,
                    scopes.clone(),
                    &unprobed.console,
                )
            })
            .authorizes()
    }
}

impl std::fmt::Debug for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Destination")
            .field("base_url", &self.base_url)
            .field("repository", &self.repository)
            .finish_non_exhaustive()
    }
}

fn transport_failure(context: &str, error: &reqwest::Error) -> Failure {
    Failure::transient(format!("{context}: {}", crate::client::error_chain(error)), None, None)
}

/// The registry's error codes from an error body (`{"errors":[{"code":...}]}`).
fn error_codes(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("errors").and_then(|e| e.as_array()).cloned())
        .map(|errors| {
            errors
                .iter()
                .map(|e| {
                    let code = e.get("code").and_then(|c| c.as_str()).unwrap_or("");
                    let message = e.get("message").and_then(|c| c.as_str()).unwrap_or("");
                    format!("{code}: {message}").trim_matches([' ', ':']).to_owned()
                })
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_else(|| body.chars().take(200).collect())
}

async fn failure_from(context: &str, response: reqwest::Response) -> Failure {
    let status = response.status().as_u16();
    let retry_after = parse_retry_after(response.headers().get("retry-after").and_then(|v| v.to_str().ok()));
    let body = response.text().await.unwrap_or_default();
    let codes = error_codes(&body);
    let detail = if codes.is_empty() { String::new() } else { format!(" ({codes})") };
    Failure::from_status(status, retry_after, format!("{context}: HTTP {status}{detail}"))
}

impl Destination {
    /// Authenticates for push to `reference`'s repository: the registry's `/v2/` challenge
    /// says how ([`Authorizer`]); with the token flow, tokens are scoped for pull and push.
    /// With no credentials for a plain-HTTP registry, only a TCP connection is made, to
    /// tell at once a registry that is not there; how to authorize is learnt from the first
    /// request the registry challenges, if one is.
    pub async fn connect(registry: &Registry, reference: &ImageReference) -> Result<Self, RegistryError> {
        let credentials = registry.credentials(reference.registry());
        let scope = format!("repository:{}:pull,push", reference.repository());
        let host = reference.as_oci().resolve_registry().to_owned();
        let plain_http = registry.scheme_for(&host) == "http";
        let (base_url, auth) = if plain_http && matches!(credentials.auth, oci_client::secrets::RegistryAuth::Anonymous)
        {
            reachable(&host)
                .await
                .map_err(|reason| RegistryError::Unreachable { registry: reference.registry().to_owned(), reason })?;
            let base_url = format!("http://{host}");
            let unprobed = Unprobed {
                http: registry.http(&base_url)?.clone(),
                credentials,
                scopes: Mutex::new(vec![scope]),
                console: registry.console().clone(),
            };
            (base_url, Auth { known: OnceLock::new(), unprobed: Some(unprobed) })
        } else {
            let (base_url, authorizer) = registry.authorizer(reference, &credentials, vec![scope]).await?;
            (base_url, Auth::known(authorizer))
        };
        Ok(Self {
            http: registry.http(&base_url)?.clone(),
            base_url,
            repository: reference.repository().to_owned(),
            auth: Arc::new(auth),
            reference: reference.clone(),
        })
    }

    fn request(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        self.http.request(method, url)
    }

    /// Sends `request` with the current authorization. A 401 to a token is the token's
    /// end (it expired mid-push, or lacks a scope): the token is dropped and the failure
    /// is transient, so the retry asks for a new one (a few times in a row at most).
    ///
    /// A request sent before the registry said how to authorize ([`Auth`]) and challenged
    /// is sent again with what the challenge asks for: at once when it can be copied (no
    /// streamed body), else as a transient failure, which the caller's retry repeats.
    async fn send(&self, context: &str, request: reqwest::RequestBuilder) -> Result<reqwest::Response, Failure> {
        let mut request = request;
        loop {
            let unprobed = self.auth.authorizer().is_none();
            let again = if unprobed { request.try_clone() } else { None };
            let response = self.send_once(context, request).await?;
            if response.status() == StatusCode::UNAUTHORIZED && unprobed && self.auth.learn(&challenges(&response)) {
                match again {
                    Some(copy) => {
                        request = copy;
                        continue;
                    }
                    None => {
                        return Err(Failure::transient(
                            format!("{context}: HTTP 401, the registry asks for credentials; asking again with them"),
                            Some(401),
                            None,
                        ));
                    }
                }
            }
            return Ok(response);
        }
    }

    async fn send_once(&self, context: &str, request: reqwest::RequestBuilder) -> Result<reqwest::Response, Failure> {
        let (generation, authorization) = self
            .auth
            .header()
            .await
            .map_err(|failure| Failure { message: format!("{context}: {}", failure.message), ..failure })?;
        let request = match authorization {
            Some(value) => request.header(AUTHORIZATION, value),
            None => request,
        };
        let response = request.send().await.map_err(|e| transport_failure(context, &e))?;
        if response.status() == StatusCode::UNAUTHORIZED {
            // A token that lacks a scope stays refused however often it is renewed.
            let insufficient_scope =
                challenges(&response).iter().any(|challenge| challenge.param("error") == Some("insufficient_scope"));
            if !insufficient_scope && self.auth.refused(generation).await {
                return Err(Failure::transient(
                    format!("{context}: HTTP 401, the registry refused its token; asking for a new one"),
                    Some(401),
                    None,
                ));
            }
        } else {
            self.auth.accepted().await;
        }
        Ok(response)
    }

    fn blob_url(&self, digest: &str) -> String {
        format!("{}/v2/{}/blobs/{digest}", self.base_url, self.repository)
    }

    /// Absolute form of an upload `Location` (registries may answer a path).
    fn absolute(&self, location: &str) -> String {
        if location.starts_with("http://") || location.starts_with("https://") {
            location.to_owned()
        } else {
            format!("{}{location}", self.base_url)
        }
    }

    pub async fn blob_exists(&self, digest: &str) -> Result<bool, Failure> {
        let context = format!("HEAD blob {digest}");
        let response = self.send(&context, self.request(reqwest::Method::HEAD, &self.blob_url(digest))).await?;
        match response.status() {
            StatusCode::OK => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(failure_from(&context, response).await),
        }
    }

    /// Asks the registry to mount `digest` from `from_repository` (same registry).
    pub async fn mount(&self, digest: &str, from_repository: &str) -> Result<Mount, Failure> {
        let url = format!("{}/v2/{}/blobs/uploads/", self.base_url, self.repository);
        let context = format!("mount {digest} from {from_repository}");
        // A mount needs pull on its source as well as push here.
        self.auth.add_scope(&format!("repository:{from_repository}:pull")).await;
        let request = self
            .request(reqwest::Method::POST, &url)
            .query(&[("mount", digest), ("from", from_repository)])
            .header(CONTENT_LENGTH, 0);
        let response = self.send(&context, request).await?;
        match response.status() {
            StatusCode::CREATED => Ok(Mount::Mounted),
            StatusCode::ACCEPTED => {
                // A plain upload session was opened instead: close it, the caller uploads.
                if let Some(location) = location(response.headers()) {
                    let close = self.request(reqwest::Method::DELETE, &self.absolute(&location));
                    let _ = self.send(&context, close).await;
                }
                Ok(Mount::NotMounted)
            }
            StatusCode::NOT_FOUND | StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Ok(Mount::NotMounted),
            _ => Err(failure_from(&context, response).await),
        }
    }

    async fn start_upload(&self, context: &str) -> Result<String, Failure> {
        let url = format!("{}/v2/{}/blobs/uploads/", self.base_url, self.repository);
        let response = self.send(context, self.request(reqwest::Method::POST, &url).header(CONTENT_LENGTH, 0)).await?;
        if response.status() != StatusCode::ACCEPTED {
            return Err(failure_from(context, response).await);
        }
        location(response.headers()).map(|l| self.absolute(&l)).ok_or_else(|| {
            Failure::transient(format!("{context}: the registry gave no upload Location"), Some(202), None)
        })
    }

    /// Uploads `size` bytes from `body` as blob `digest` in one PUT of a fresh session
    /// (every registry supports this; chunked PATCH is optional in the spec).
    async fn upload_body(&self, digest: &str, size: u64, body: reqwest::Body) -> Result<(), Failure> {
        let context = format!("upload {digest}");
        let location = self.start_upload(&context).await?;
        let request = self
            .request(reqwest::Method::PUT, &location)
            .query(&[("digest", digest)])
            .header(CONTENT_TYPE, "application/octet-stream")
            .header(CONTENT_LENGTH, size)
            .body(body);
        let response = self.send(&context, request).await?;
        if response.status() == StatusCode::CREATED { Ok(()) } else { Err(failure_from(&context, response).await) }
    }

    /// Uploads a file, streamed from disk.
    pub async fn upload_file(&self, digest: &str, path: &Path, on_bytes: Option<OnBytes>) -> Result<(), Failure> {
        let file = tokio::fs::File::open(path)
            .await
            .map_err(|e| Failure::permanent(format!("cannot open {}: {e}", path.display()), None))?;
        let size = file.metadata().await.map_err(|e| Failure::permanent(e.to_string(), None))?.len();
        let stream = tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024);
        self.upload_body(digest, size, counted(stream, on_bytes)).await
    }

    /// Uploads a blob streamed straight from another registry (never staged on disk).
    pub async fn upload_stream<S>(
        &self,
        digest: &str,
        size: u64,
        stream: S,
        on_bytes: Option<OnBytes>,
    ) -> Result<(), Failure>
    where
        S: Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send + 'static,
    {
        self.upload_body(digest, size, counted(stream, on_bytes)).await
    }

    /// Puts a manifest under `reference` (a digest or a tag); returns the digest the
    /// registry computed.
    pub async fn put_manifest(
        &self,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<Option<String>, Failure> {
        Ok(self.put_manifest_reporting(reference, media_type, bytes).await?.digest)
    }
}

/// What the registry said to a manifest PUT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutManifest {
    /// `Docker-Content-Digest`: the digest the registry computed.
    pub digest: Option<String>,
    /// `OCI-Subject`: a registry with the referrers API names the subject it indexed.
    pub oci_subject: Option<String>,
}

impl Destination {
    /// Uploads a small blob held in memory.
    pub async fn upload_bytes(&self, digest: &str, bytes: &[u8]) -> Result<(), Failure> {
        self.upload_body(digest, bytes.len() as u64, reqwest::Body::from(bytes.to_vec())).await
    }

    /// Puts a manifest under `reference`, reporting the headers that tell whether the
    /// registry indexed its `subject` (OCI distribution 1.1).
    pub async fn put_manifest_reporting(
        &self,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<PutManifest, Failure> {
        let url = format!("{}/v2/{}/manifests/{reference}", self.base_url, self.repository);
        let context = format!("PUT manifest {reference}");
        let request = self.request(reqwest::Method::PUT, &url).header(CONTENT_TYPE, media_type).body(bytes.to_vec());
        let response = self.send(&context, request).await?;
        if !response.status().is_success() {
            return Err(failure_from(&context, response).await);
        }
        Ok(PutManifest {
            digest: header(&response, "docker-content-digest"),
            oci_subject: header(&response, "oci-subject"),
        })
    }

    /// The digest of the manifest under `reference` (a HEAD; `accept`: the media types
    /// asked for), or `None` when the registry has none (404) or does not say
    /// (`Docker-Content-Digest` is optional).
    pub async fn manifest_digest(&self, reference: &str, accept: &str) -> Result<Option<String>, Failure> {
        let url = format!("{}/v2/{}/manifests/{reference}", self.base_url, self.repository);
        let context = format!("HEAD manifest {reference}");
        let response = self.send(&context, self.request(reqwest::Method::HEAD, &url).header("accept", accept)).await?;
        match response.status() {
            StatusCode::NOT_FOUND => Ok(None),
            status if status.is_success() => Ok(header(&response, "docker-content-digest")),
            _ => Err(failure_from(&context, response).await),
        }
    }

    /// The manifest or index under `reference` and its media type, or `None` when the
    /// registry has none (404).
    pub async fn get_manifest(&self, reference: &str, accept: &str) -> Result<Option<(Vec<u8>, String)>, Failure> {
        let url = format!("{}/v2/{}/manifests/{reference}", self.base_url, self.repository);
        let context = format!("GET manifest {reference}");
        let response = self.send(&context, self.request(reqwest::Method::GET, &url).header("accept", accept)).await?;
        match response.status() {
            StatusCode::NOT_FOUND => Ok(None),
            status if status.is_success() => {
                let media_type =
                    response.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
                let bytes = response.bytes().await.map_err(|e| transport_failure(&context, &e))?;
                Ok(Some((bytes.to_vec(), media_type)))
            }
            _ => Err(failure_from(&context, response).await),
        }
    }
}

/// A response header's value, when it is there and text.
fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// The challenges of a response's `WWW-Authenticate` headers.
fn challenges(response: &reqwest::Response) -> Vec<Challenge> {
    response
        .headers()
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(parse_challenges)
        .collect()
}

/// Whether a TCP connection to `host` (`name[:port]`, port 80 by default) opens, within
/// 10 seconds: the reason when it does not.
async fn reachable(host: &str) -> Result<(), String> {
    let has_port =
        host.rsplit_once(':').is_some_and(|(name, port)| !name.ends_with(':') && port.parse::<u16>().is_ok());
    let address = if has_port { host.to_owned() } else { format!("{host}:80") };
    match tokio::time::timeout(std::time::Duration::from_secs(10), tokio::net::TcpStream::connect(&address)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(error)) => Err(format!("{address}: {error}")),
        Err(_) => Err(format!("{address}: no connection within 10s")),
    }
}

fn location(headers: &HeaderMap) -> Option<String> {
    headers.get(LOCATION).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

fn counted<S>(stream: S, on_bytes: Option<OnBytes>) -> reqwest::Body
where
    S: Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send + 'static,
{
    let stream = stream.inspect_ok(move |chunk| {
        if let Some(on_bytes) = &on_bytes {
            on_bytes(chunk.len() as u64);
        }
    });
    reqwest::Body::wrap_stream(stream.map(|item| item))
}
