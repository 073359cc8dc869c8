//! Manifest and blob transfer over `oci-client`, with errors a user can act on.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Mutex, OnceLock};

use futures_util::StreamExt;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::manifest::OciDescriptor;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use sha2::{Digest, Sha256};
use slipway_contract::Console;
use tokio::io::AsyncWriteExt;

use crate::auth::{self, Credentials, Login};
use crate::media::{self, MANIFEST_TYPES};
use crate::reference::{ImageReference, is_loopback_registry};
use crate::token::{self, Authorizer};

/// A registry problem, worded for the user. `is_usage` tells bad input (exit 2) from a
/// failed operation (exit 1).
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{reference} does not exist in its registry (404); check the repository and tag")]
    NotFound { reference: String },
    #[error("{registry} refused the credentials from {source_name} for {reference} (401/403)")]
    Unauthorized { registry: String, reference: String, source_name: String },
    #[error("cannot reach the registry {registry}: {reason}")]
    Unreachable { registry: String, reason: String },
    #[error("{registry} answered unexpectedly for {reference}: {reason}")]
    Protocol { registry: String, reference: String, reason: String },
    #[error("blob {digest} from {reference} does not match its digest (got {actual})")]
    DigestMismatch { reference: String, digest: String, actual: String },
    #[error("cannot write {path}: {reason}")]
    Io { path: String, reason: String },
    /// HTTPS cannot be checked on this machine (no CA certificates): its configuration.
    #[error(
        "cannot talk to {registry}: this machine has no usable CA certificates ({reason}); install the CA bundle (ca-certificates) or point SSL_CERT_FILE at one"
    )]
    Tls { registry: String, reason: String },
}

impl RegistryError {
    pub fn is_usage(&self) -> bool {
        matches!(self, Self::NotFound { .. } | Self::Unauthorized { .. } | Self::Tls { .. })
    }
}

/// How to reach registries.
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// Hosts reached over plain HTTP besides loopback ones (`--insecure-registry`).
    pub insecure_registries: Vec<String>,
    /// The explicit login, for the registry it is meant for.
    pub login: Option<(String, Login)>,
    /// A login from another provider (ECR), used after docker's config.json.
    pub provided: Option<auth::ProvidedLogin>,
}

/// A manifest or index as the registry served it.
#[derive(Debug, Clone)]
pub struct PulledManifest {
    pub bytes: Vec<u8>,
    pub digest: String,
    pub media_type: String,
}

/// A registry client shared by the steps; credentials are resolved once per registry.
pub struct Registry {
    /// Our own HTTP client (pushes, tokens), built on first use; its TLS setup reads the
    /// system's CA roots at the first HTTPS handshake, so a plain-HTTP push never does.
    http: OnceLock<Result<reqwest::Client, String>>,
    /// oci-client (pulls), built on first use, unless the machine has no CA certificates:
    /// it cannot be built then without a panic (it makes a default reqwest client).
    oci: OnceLock<Result<oci_client::Client, String>>,
    /// Why HTTPS cannot be used (no CA certificates on the machine), checked once, when
    /// HTTPS or oci-client is first needed.
    tls_problem: OnceLock<Option<String>>,
    plain_http: Vec<String>,
    options: RegistryOptions,
    console: Console,
    credentials: Mutex<HashMap<String, Credentials>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").field("options", &self.options.insecure_registries).finish_non_exhaustive()
    }
}

impl Registry {
    /// A client for the registries of `references`: plain HTTP for loopback ones and
    /// those named insecure, HTTPS with verified certificates for every other.
    pub fn new(options: RegistryOptions, references: &[&ImageReference], console: &Console) -> Self {
        install_crypto_provider();
        let mut plain: Vec<String> = references
            .iter()
            .map(|r| r.registry().to_owned())
            .filter(|registry| is_loopback_registry(registry))
            .collect();
        plain.extend(options.insecure_registries.iter().cloned());
        plain.sort();
        plain.dedup();
        Self {
            http: OnceLock::new(),
            oci: OnceLock::new(),
            tls_problem: OnceLock::new(),
            plain_http: plain,
            options,
            console: console.clone(),
            credentials: Mutex::new(HashMap::new()),
        }
    }

    fn oci_config(&self) -> ClientConfig {
        ClientConfig {
            protocol: ClientProtocol::HttpsExcept(self.plain_http.clone()),
            platform_resolver: None,
            user_agent: concat!("slipway/", env!("CARGO_PKG_VERSION")),
            connect_timeout: Some(std::time::Duration::from_secs(10)),
            read_timeout: Some(std::time::Duration::from_secs(60)),
            ..ClientConfig::default()
        }
    }

    fn http_builder() -> reqwest::ClientBuilder {
        reqwest::Client::builder()
            .user_agent(concat!("slipway/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(std::time::Duration::from_secs(10))
            .read_timeout(std::time::Duration::from_secs(120))
    }

    /// Why HTTPS cannot be used: a client with the default TLS setup cannot be built
    /// without CA certificates (an empty bundle, `SSL_CERT_FILE=/dev/null` with no
    /// certificate directory). Reads the system's roots, so only asked when needed.
    fn tls_problem(&self) -> Option<&str> {
        self.tls_problem.get_or_init(|| Self::http_builder().build().err().map(|error| error_chain(&error))).as_deref()
    }

    fn tls_refused(registry: &str, reason: &str) -> RegistryError {
        RegistryError::Tls { registry: registry.to_owned(), reason: reason.to_owned() }
    }

    /// oci-client, for `reference`'s registry; refused (never a panic) without CA certificates.
    pub(crate) fn oci(&self, reference: &ImageReference) -> Result<&oci_client::Client, RegistryError> {
        if let Some(reason) = self.tls_problem() {
            return Err(Self::tls_refused(reference.registry(), reason));
        }
        self.oci
            .get_or_init(|| oci_client::Client::try_from(self.oci_config()).map_err(|error| error_chain(&error)))
            .as_ref()
            .map_err(|reason| Self::tls_refused(reference.registry(), reason))
    }

    /// Our own HTTP client, for requests to `url`: HTTPS is refused with the reason when
    /// the machine has no CA certificates; plain HTTP (loopback) works regardless.
    pub(crate) fn http(&self, url: &str) -> Result<&reqwest::Client, RegistryError> {
        let (https, host) = match url.split_once("://") {
            Some((scheme, rest)) => (scheme.eq_ignore_ascii_case("https"), rest.split('/').next().unwrap_or(rest)),
            None => (true, url),
        };
        if https && let Some(reason) = self.tls_problem() {
            return Err(Self::tls_refused(host, reason));
        }
        self.http
            .get_or_init(|| {
                let tls = crate::tls::client_config().map_err(|error| error.to_string())?;
                Self::http_builder().tls_backend_preconfigured(tls).build().map_err(|error| error_chain(&error))
            })
            .as_ref()
            .map_err(|reason| Self::tls_refused(host, reason))
    }

    /// Where messages (and masks) go.
    pub(crate) fn console(&self) -> &Console {
        &self.console
    }

    /// `http` for loopback and `--insecure-registry` hosts, else `https`.
    pub fn scheme_for(&self, host: &str) -> &'static str {
        if self.plain_http.iter().any(|plain| plain == host) { "http" } else { "https" }
    }

    /// The credentials for `registry`, resolved on first use.
    pub fn credentials(&self, registry: &str) -> Credentials {
        let mut known = self.credentials.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        known
            .entry(registry.to_owned())
            .or_insert_with(|| {
                let explicit = self.options.login.as_ref().filter(|(host, _)| host == registry).map(|(_, login)| login);
                let credentials = auth::resolve(registry, explicit, self.options.provided.as_ref(), &self.console);
                self.console.info(&format!("{registry}: using {}", credentials.source));
                credentials
            })
            .clone()
    }

    /// Pulls a manifest or an index by tag or digest. Its media type is the document's
    /// `mediaType`; OCI lets a document leave it out (umoci's do), and then it is the
    /// registry's `Content-Type`, else what the content says ([`media::manifest_media_type`]).
    pub async fn pull_manifest(&self, reference: &ImageReference) -> Result<PulledManifest, RegistryError> {
        let credentials = self.credentials(reference.registry());
        let (bytes, digest) = self
            .oci(reference)?
            .pull_manifest_raw(reference.as_oci(), &credentials.auth, &MANIFEST_TYPES)
            .await
            .map_err(|error| self.explain(reference, &credentials, error))?;
        // oci-client keeps the response's headers to itself: ask again, only when needed.
        let served = match media_type_of(&bytes) {
            Some(_) => None,
            None => self.served_media_type(reference, &digest, &credentials).await,
        };
        let media_type =
            media::manifest_media_type(&bytes, served.as_deref()).ok_or_else(|| RegistryError::Protocol {
                registry: reference.registry().to_owned(),
                reference: reference.to_string(),
                reason:
                    "the manifest is neither an image manifest nor an index (no mediaType, no manifests, no layers)"
                        .to_owned(),
            })?;
        Ok(PulledManifest { bytes: bytes.to_vec(), digest, media_type })
    }

    /// The `Content-Type` the registry serves manifest `digest` of `reference`'s repository
    /// with (a HEAD request), or `None` when it will not say.
    async fn served_media_type(
        &self,
        reference: &ImageReference,
        digest: &str,
        credentials: &Credentials,
    ) -> Option<String> {
        let scope = format!("repository:{}:pull", reference.repository());
        let (base_url, authorizer) = self.authorizer(reference, credentials, vec![scope]).await.ok()?;
        let url = format!("{base_url}/v2/{}/manifests/{digest}", reference.repository());
        let mut request = self.http(&url).ok()?.head(url).header(ACCEPT, MANIFEST_TYPES.join(", "));
        if let (_, Some(value)) = authorizer.header().await.ok()? {
            request = request.header(AUTHORIZATION, value);
        }
        let response = request.send().await.ok()?;
        if !response.status().is_success() {
            return None;
        }
        response.headers().get(CONTENT_TYPE)?.to_str().ok().map(str::to_owned)
    }

    /// The base URL of `reference`'s registry and how our own requests to it are
    /// authorized: its `/v2/` challenge says how ([`Authorizer`]). With the token flow, the
    /// first token (for `scopes`) is fetched here, so refused credentials show at once.
    pub(crate) async fn authorizer(
        &self,
        reference: &ImageReference,
        credentials: &Credentials,
        scopes: Vec<String>,
    ) -> Result<(String, Authorizer), RegistryError> {
        let host = reference.as_oci().resolve_registry();
        let base_url = format!("{}://{host}", self.scheme_for(host));
        let http = self.http(&base_url)?;
        let unreachable =
            |reason: String| RegistryError::Unreachable { registry: reference.registry().to_owned(), reason };
        let probe =
            http.get(format!("{base_url}/v2/")).send().await.map_err(|error| unreachable(error_chain(&error)))?;
        let challenges: Vec<_> = probe
            .headers()
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(token::parse_challenges)
            .collect();
        let realm_http = challenges
            .iter()
            .find(|c| c.is("bearer"))
            .and_then(|c| c.param("realm"))
            .map_or(Ok(http), |realm| self.http(realm))?;
        let source = credentials.source.to_string();
        let authorizer =
            Authorizer::new(realm_http.clone(), &challenges, &credentials.auth, &source, scopes, &self.console);
        if authorizer.uses_tokens() {
            authorizer.header().await.map_err(|failure| match failure.status {
                Some(401 | 403) => RegistryError::Unauthorized {
                    registry: reference.registry().to_owned(),
                    reference: reference.to_string(),
                    source_name: source.clone(),
                },
                _ if failure.retryable => unreachable(failure.message),
                _ => RegistryError::Protocol {
                    registry: reference.registry().to_owned(),
                    reference: reference.to_string(),
                    reason: failure.message,
                },
            })?;
        }
        Ok((base_url, authorizer))
    }

    /// A blob as a stream of bytes (its digest is checked by the caller or the receiver).
    pub async fn blob_stream(
        &self,
        reference: &ImageReference,
        descriptor: &OciDescriptor,
    ) -> Result<impl futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send + 'static, RegistryError>
    {
        let credentials = self.credentials(reference.registry());
        let stream = self
            .oci(reference)?
            .pull_blob_stream(reference.as_oci(), descriptor)
            .await
            .map_err(|error| self.explain(reference, &credentials, error))?;
        Ok(stream.stream.map(|chunk| chunk.map_err(std::io::Error::other)))
    }

    /// Pulls a small blob (a config) into memory, checking its digest.
    pub async fn pull_blob_bytes(
        &self,
        reference: &ImageReference,
        descriptor: &OciDescriptor,
    ) -> Result<Vec<u8>, RegistryError> {
        let credentials = self.credentials(reference.registry());
        let mut bytes = Vec::with_capacity(usize::try_from(descriptor.size).unwrap_or(0));
        self.oci(reference)?
            .pull_blob(reference.as_oci(), descriptor, &mut bytes)
            .await
            .map_err(|error| self.explain(reference, &credentials, error))?;
        check_digest(reference, &descriptor.digest, &bytes)?;
        Ok(bytes)
    }

    /// Streams a blob to `path` (via a temporary file), checking its digest on the way.
    pub async fn pull_blob_to_file(
        &self,
        reference: &ImageReference,
        descriptor: &OciDescriptor,
        path: &Path,
    ) -> Result<(), RegistryError> {
        let credentials = self.credentials(reference.registry());
        let io =
            |error: std::io::Error| RegistryError::Io { path: path.display().to_string(), reason: error.to_string() };
        let temporary = path.with_extension("partial");
        let mut file = tokio::fs::File::create(&temporary).await.map_err(io)?;
        let mut stream = self
            .oci(reference)?
            .pull_blob_stream(reference.as_oci(), descriptor)
            .await
            .map_err(|error| self.explain(reference, &credentials, error))?;
        let mut hasher = Sha256::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|error| RegistryError::Unreachable {
                registry: reference.registry().to_owned(),
                reason: format!("the download of {} broke off: {}", descriptor.digest, error_chain(&error)),
            })?;
            hasher.update(&chunk);
            file.write_all(&chunk).await.map_err(io)?;
        }
        file.flush().await.map_err(io)?;
        drop(file);
        let actual = format!("sha256:{}", hex::encode(hasher.finalize()));
        if actual != descriptor.digest {
            let _ = tokio::fs::remove_file(&temporary).await;
            return Err(RegistryError::DigestMismatch {
                reference: reference.to_string(),
                digest: descriptor.digest.clone(),
                actual,
            });
        }
        tokio::fs::rename(&temporary, path).await.map_err(io)
    }

    pub(crate) fn explain(
        &self,
        reference: &ImageReference,
        credentials: &Credentials,
        error: OciDistributionError,
    ) -> RegistryError {
        let registry = reference.registry().to_owned();
        let unauthorized = || RegistryError::Unauthorized {
            registry: registry.clone(),
            reference: reference.to_string(),
            source_name: credentials.source.to_string(),
        };
        match error {
            OciDistributionError::ImageManifestNotFoundError(_) => {
                RegistryError::NotFound { reference: reference.to_string() }
            }
            OciDistributionError::UnauthorizedError { .. } | OciDistributionError::AuthenticationFailure(_) => {
                unauthorized()
            }
            OciDistributionError::ServerError { code: 404, .. } => {
                RegistryError::NotFound { reference: reference.to_string() }
            }
            OciDistributionError::ServerError { code: 401 | 403, .. } => unauthorized(),
            OciDistributionError::RegistryError { ref envelope, .. }
                if envelope.errors.iter().any(|e| {
                    let code = format!("{:?}", e.code).to_ascii_uppercase();
                    code.contains("UNKNOWN")
                }) =>
            {
                RegistryError::NotFound { reference: reference.to_string() }
            }
            OciDistributionError::RegistryError { ref envelope, .. }
                if envelope.errors.iter().any(|e| {
                    let code = format!("{:?}", e.code).to_ascii_uppercase();
                    code.contains("UNAUTHORIZED") || code.contains("DENIED")
                }) =>
            {
                unauthorized()
            }
            OciDistributionError::RequestError(request) => {
                RegistryError::Unreachable { registry, reason: self.console.redact(&error_chain(&request)) }
            }
            other => RegistryError::Protocol {
                registry,
                reference: reference.to_string(),
                reason: self.console.redact(&other.to_string()),
            },
        }
    }
}

/// An error with its causes, which hold the useful part ("connection refused"), with
/// the URL reqwest names cut down to what is safe to print ([`slipway_contract::redact_urls`]).
/// Makes ring the process's rustls crypto provider (the suite's reqwest is built without one,
/// so that AWS-LC is not compiled), unless one is installed already. Every HTTP client of the
/// registry crate is built after this.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    slipway_contract::redact_urls(&text)
}

fn media_type_of(bytes: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    value.get("mediaType").and_then(|m| m.as_str()).map(str::to_owned)
}

fn check_digest(reference: &ImageReference, digest: &str, bytes: &[u8]) -> Result<(), RegistryError> {
    let actual = format!("sha256:{}", hex::encode(Sha256::digest(bytes)));
    if actual == digest {
        Ok(())
    } else {
        Err(RegistryError::DigestMismatch { reference: reference.to_string(), digest: digest.to_owned(), actual })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// reqwest names the URL in its errors: what reaches a message keeps the host and path.
    #[tokio::test]
    async fn error_chains_name_the_url_without_its_query_or_user_info() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let url =
            format!("http://user:SECRETCANARY@127.0.0.1:{closed}/v2/a/blobs/uploads/u?X-Amz-Signature=SECRETCANARY");
        install_crypto_provider();
        let error = reqwest::Client::new().get(&url).send().await.unwrap_err();
        assert!(error.to_string().contains("SECRETCANARY"), "reqwest itself prints the URL: {error}");
        let chain = error_chain(&error);
        assert!(!chain.contains("SECRETCANARY"), "{chain}");
        assert!(chain.contains(&format!("127.0.0.1:{closed}/v2/a/blobs/uploads/u?…")), "{chain}");
    }

    #[test]
    fn media_type_comes_from_the_document() {
        assert_eq!(
            media_type_of(br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json"}"#).as_deref(),
            Some("application/vnd.oci.image.index.v1+json")
        );
        assert_eq!(media_type_of(b"{}"), None);
        assert_eq!(media_type_of(b"not json"), None);
    }
}
