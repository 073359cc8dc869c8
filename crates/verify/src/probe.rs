//! One request of a check: the HTTP client, the response as read, and why a request
//! failed, said the way an operator needs it (DNS, refused, TLS, timeout).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reqwest::header::HeaderMap;
use reqwest::tls::TlsInfo;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::error::{PlanError, VerifyError};
use crate::plan::{Check, Plan};

/// Bodies are read up to this size: enough for any health or version answer.
const MAX_BODY_BYTES: usize = 1 << 20;
const SECONDS_PER_DAY: i64 = 86_400;

/// The certificate a https server presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// Whole days until notAfter (negative once expired, seen only with --insecure).
    pub days_left: i64,
    /// notAfter as `YYYY-MM-DD`.
    pub not_after: String,
}

/// A response, read whole (up to [`MAX_BODY_BYTES`]).
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
    /// From sending the request to the end of the body.
    pub latency: Duration,
    pub cert: Option<CertInfo>,
}

/// The system resolver, except for names RFC 6761 reserves as never resolving
/// (`.invalid`): those fail at once, as the RFC asks of resolver libraries, without a
/// query leaving the machine.
#[derive(Debug, Clone, Copy)]
struct ReservedNamesResolver;

impl reqwest::dns::Resolve for ReservedNamesResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().trim_end_matches('.').to_ascii_lowercase();
        Box::pin(async move {
            if host == "invalid" || host.ends_with(".invalid") {
                let error = std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("{host} is under the reserved .invalid domain (RFC 6761) and never resolves"),
                );
                return Err(Box::new(error) as Box<dyn std::error::Error + Send + Sync>);
            }
            let addresses = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let addresses: reqwest::dns::Addrs = Box::new(addresses.collect::<Vec<_>>().into_iter());
            Ok(addresses)
        })
    }
}

/// The HTTP client every check shares (connections are reused between attempts).
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
}

impl Client {
    /// Builds the client; a --ca-cert that cannot be used is bad input (exit 2).
    pub fn new(plan: &Plan) -> Result<Self, slipway_contract::StepError> {
        Self::with_tls(plan, None)
    }

    /// [`Client::new`] with TLS settings of the caller's instead of the plan's (deploy's
    /// analysis pins the certificate its proxy serves).
    pub fn with_tls(plan: &Plan, tls: Option<rustls::ClientConfig>) -> Result<Self, slipway_contract::StepError> {
        // reqwest is built without its default crypto (aws-lc, a long C build): use ring.
        // An error only means a provider is already installed, which is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();

        let mut headers = HeaderMap::new();
        for header in &plan.headers {
            headers.append(header.name.clone(), header.value.clone());
        }
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("slipway-verify/", env!("CARGO_PKG_VERSION")))
            .default_headers(headers)
            // A check sees what its URL answers: a redirect is a status to expect or fix.
            .redirect(reqwest::redirect::Policy::none())
            .tls_info(true)
            .dns_resolver(std::sync::Arc::new(ReservedNamesResolver))
            .tls_danger_accept_invalid_certs(plan.tls.insecure);
        if let Some(path) = &plan.tls.ca_cert {
            for certificate in load_ca_certs(path)? {
                builder = builder.add_root_certificate(certificate);
            }
        }
        if let Some(tls) = tls {
            builder = builder.tls_backend_preconfigured(tls);
        }
        let http = builder.build().map_err(|error| VerifyError::Client(error_chain(&error)))?;
        Ok(Self { http })
    }

    /// Sends `check`'s request once, within `timeout`, which messages name as `limit` says
    /// (what set it: `--request-timeout`, or the time left of a deadline); `Err` says why no
    /// response came.
    pub async fn probe_within(&self, check: &Check, timeout: Duration, limit: &str) -> Result<Response, String> {
        let started = Instant::now();
        let exchange = async {
            let mut response = self.http.request(check.method.clone(), check.url.clone()).send().await?;
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let cert = response.extensions().get::<TlsInfo>().and_then(TlsInfo::peer_certificate).and_then(cert_info);
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await? {
                let room = MAX_BODY_BYTES - body.len();
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if body.len() == MAX_BODY_BYTES {
                    break;
                }
            }
            Ok::<_, reqwest::Error>((status, headers, cert, body))
        };
        match tokio::time::timeout(timeout, exchange).await {
            Err(_) => Err(format!("no complete answer within {} ({limit})", humanize(timeout))),
            Ok(Err(error)) => Err(describe(&error, &check.url)),
            Ok(Ok((status, headers, cert, body))) => Ok(Response {
                status,
                headers,
                body: String::from_utf8_lossy(&body).into_owned(),
                latency: started.elapsed(),
                cert,
            }),
        }
    }
}

/// Reads the PEM bundle of --ca-cert, checking each certificate parses.
fn load_ca_certs(path: &std::path::Path) -> Result<Vec<reqwest::Certificate>, PlanError> {
    let fail = |reason: String| PlanError::CaCert { path: path.display().to_string(), reason };
    let pem = std::fs::read(path).map_err(|error| fail(format!("cannot read it: {error}")))?;
    let mut certificates = Vec::new();
    for der in CertificateDer::pem_slice_iter(&pem) {
        let der = der.map_err(|error| fail(format!("is not valid PEM: {error}")))?;
        x509_parser::parse_x509_certificate(&der)
            .map_err(|error| fail(format!("holds a certificate that does not parse: {error}")))?;
        let certificate = reqwest::Certificate::from_der(&der)
            .map_err(|error| fail(format!("holds an unusable certificate: {error}")))?;
        certificates.push(certificate);
    }
    if certificates.is_empty() {
        return Err(fail("holds no PEM certificate (-----BEGIN CERTIFICATE-----)".to_owned()));
    }
    Ok(certificates)
}

/// Days left and expiry date of a DER certificate, or `None` when it does not parse.
pub fn cert_info(der: &[u8]) -> Option<CertInfo> {
    let (_, certificate) = x509_parser::parse_x509_certificate(der).ok()?;
    let not_after = certificate.validity().not_after.timestamp();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX));
    Some(CertInfo { days_left: (not_after - now).div_euclid(SECONDS_PER_DAY), not_after: civil_date(not_after) })
}

/// `YYYY-MM-DD` of a Unix timestamp (Howard Hinnant's days-to-civil algorithm).
fn civil_date(timestamp: i64) -> String {
    let days = timestamp.div_euclid(SECONDS_PER_DAY) + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 { month_index + 3 } else { month_index - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// An error's causes, outermost first. io::Error::source skips its payload (and reqwest
/// nests io errors), so payloads are walked into here.
fn causes<'a>(error: &'a (dyn std::error::Error + 'static)) -> Vec<&'a (dyn std::error::Error + 'static)> {
    let mut found = Vec::new();
    let mut next = Some(error);
    while let Some(cause) = next {
        found.push(cause);
        next = match cause.downcast_ref::<std::io::Error>() {
            Some(io) => io.get_ref().map(|payload| payload as &(dyn std::error::Error + 'static)),
            None => cause.source(),
        };
    }
    found
}

/// Why a request got no response, with the category first.
fn describe(error: &reqwest::Error, url: &reqwest::Url) -> String {
    let host = url.host_str().unwrap_or_default();
    let endpoint = format!("{host}:{}", url.port_or_known_default().unwrap_or(0));
    let chain = causes(error);
    let root = chain.last().map_or_else(String::new, ToString::to_string);
    for cause in &chain {
        if let Some(tls) = cause.downcast_ref::<rustls::Error>() {
            return format!("TLS handshake with {endpoint} failed: {tls} (a private CA needs --ca-cert)");
        }
        if cause.to_string() == "dns error" {
            // The innermost cause is the resolver's own words (e.g. "Name or service not known").
            return format!("DNS lookup of {host} failed: {root}");
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => {
                    return format!("connection refused by {endpoint} (nothing listens there yet)");
                }
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted => {
                    return format!("connection to {endpoint} was reset ({root})");
                }
                _ => {}
            }
        }
    }
    let detail = error_chain(error);
    if error.is_timeout() {
        return format!("timed out talking to {endpoint}: {detail}");
    }
    if error.is_connect() {
        return format!("cannot connect to {endpoint}: {detail}");
    }
    format!("request to {endpoint} failed: {detail}")
}

/// An error and its causes on one line, leaving out reqwest's own line (it repeats the
/// URL) and causes that only repeat their parent.
fn error_chain(error: &reqwest::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in causes(error).into_iter().skip(1) {
        let text = cause.to_string();
        if !parts.iter().any(|part| part.contains(&text)) {
            parts.push(text);
        }
    }
    if parts.is_empty() {
        parts.push(error.to_string());
    }
    parts.join(": ")
}

/// `1.5s`, `250ms`, `2m`: a duration as a person writes it.
pub fn humanize(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis < 1000 {
        format!("{millis}ms")
    } else if millis < 60_000 {
        let tenths = millis / 100;
        if tenths.is_multiple_of(10) {
            format!("{}s", tenths / 10)
        } else {
            format!("{}.{}s", tenths / 10, tenths % 10)
        }
    } else {
        let seconds = duration.as_secs();
        match (seconds / 60, seconds % 60) {
            (minutes, 0) => format!("{minutes}m"),
            (minutes, rest) => format!("{minutes}m{rest}s"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_from_timestamps() {
        assert_eq!(civil_date(0), "1970-01-01");
        assert_eq!(civil_date(951_782_400), "2000-02-29");
        assert_eq!(civil_date(1_767_225_599), "2025-12-31");
        assert_eq!(civil_date(-86_400), "1969-12-31");
    }

    #[test]
    fn durations_read_like_flags() {
        assert_eq!(humanize(Duration::from_millis(250)), "250ms");
        assert_eq!(humanize(Duration::from_millis(1500)), "1.5s");
        assert_eq!(humanize(Duration::from_secs(2)), "2s");
        assert_eq!(humanize(Duration::from_secs(120)), "2m");
        assert_eq!(humanize(Duration::from_secs(95)), "1m35s");
    }

    #[test]
    fn a_ca_file_without_certificates_is_bad_input() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a certificate\n").unwrap();
        let error = load_ca_certs(&path).unwrap_err().to_string();
        assert!(error.ends_with("holds no PEM certificate (-----BEGIN CERTIFICATE-----)"));
        let missing = load_ca_certs(&dir.path().join("absent.pem")).unwrap_err().to_string();
        assert!(missing.contains("cannot read it"));
    }
}
