//! HTTPS at the proxy: the certificate and key deploy gives Caddy (`--tls-cert`,
//! `--tls-key`), checked before anything changes, and the TLS client deploy's own probe
//! uses through the proxy, which trusts exactly the certificate the proxy was given.

use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};

/// A certificate chain and its key, read and checked.
#[derive(Clone, PartialEq, Eq)]
pub struct ServedCertificate {
    /// The PEM files as given: the certificate first, then its chain.
    pub chain_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
    /// The certificate itself (DER), which the probe pins.
    pub leaf: Vec<u8>,
    /// Its DNS names (subjectAltName).
    pub names: Vec<String>,
    /// When it expires (RFC 2822-ish, as x509-parser prints it).
    pub not_after: String,
    /// 12 hex digits of the SHA-256 of certificate and key: names the files in the proxy, so a
    /// new certificate is a new configuration (loaded atomically, undone with it).
    pub fingerprint: String,
}

// The key never reaches a log, even through Debug.
impl std::fmt::Debug for ServedCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServedCertificate")
            .field("names", &self.names)
            .field("not_after", &self.not_after)
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

impl ServedCertificate {
    /// Reads `--tls-cert` and `--tls-key` and checks them: PEM, a key that matches the
    /// certificate, valid now, and naming `host` when one is given.
    pub fn load(cert: &Path, key: &Path, host: &str) -> Result<Self, String> {
        let chain_pem = std::fs::read(cert).map_err(|e| format!("--tls-cert {}: {e}", cert.display()))?;
        let key_pem = std::fs::read(key).map_err(|e| format!("--tls-key {}: {e}", key.display()))?;
        Self::check(chain_pem, key_pem, host, SystemTime::now())
            .map_err(|why| format!("--tls-cert {} / --tls-key {}: {why}", cert.display(), key.display()))
    }

    fn check(chain_pem: Vec<u8>, key_pem: Vec<u8>, host: &str, now: SystemTime) -> Result<Self, String> {
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&chain_pem)
            .collect::<Result<_, _>>()
            .map_err(|e| format!("the certificate file is not PEM: {e}"))?;
        let leaf = chain.first().ok_or("the certificate file holds no CERTIFICATE block")?.to_vec();
        let key = PrivateKeyDer::from_pem_slice(&key_pem)
            .map_err(|e| format!("the key file holds no private key (PKCS#8, PKCS#1 or SEC1 PEM): {e}"))?;
        let signing_key = rustls::crypto::ring::sign::any_supported_type(&key)
            .map_err(|e| format!("the private key cannot sign (RSA, ECDSA P-256/P-384 or Ed25519): {e}"))?;
        let (_, certificate) =
            x509_parser::parse_x509_certificate(&leaf).map_err(|e| format!("the certificate cannot be read: {e}"))?;
        let public_key = signing_key.public_key().ok_or("the private key's public half cannot be derived")?;
        if public_key.as_ref() != certificate.public_key().raw {
            return Err("the private key does not belong to the certificate (the first one in the file)".into());
        }
        let validity = certificate.validity();
        let now_secs = now.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let now_secs = i64::try_from(now_secs).unwrap_or(i64::MAX);
        let not_after = validity.not_after.to_string();
        if validity.not_after.timestamp() <= now_secs {
            return Err(format!("the certificate expired on {not_after}"));
        }
        if validity.not_before.timestamp() > now_secs {
            return Err(format!("the certificate is not valid before {}", validity.not_before));
        }
        let names: Vec<String> = certificate
            .subject_alternative_name()
            .ok()
            .flatten()
            .into_iter()
            .flat_map(|san| san.value.general_names.iter())
            .filter_map(|name| match name {
                x509_parser::extensions::GeneralName::DNSName(dns) => Some(dns.to_ascii_lowercase()),
                _ => None,
            })
            .collect();
        if !host.is_empty() && !names.iter().any(|name| name_covers(name, host)) {
            return Err(format!("the certificate does not name --host {host} (it names {})", names.join(", ")));
        }
        let mut digest = Sha256::new();
        digest.update(&chain_pem);
        digest.update(&key_pem);
        let fingerprint = hex::encode(&digest.finalize()[..6]);
        Ok(Self { chain_pem, key_pem, leaf, names, not_after, fingerprint })
    }

    /// The name a client without SNI (one dialling an IP address) is answered for: the
    /// app's host, else the certificate's first DNS name.
    pub fn default_name(&self, host: &str) -> String {
        if host.is_empty() { self.names.first().cloned().unwrap_or_default() } else { host.to_owned() }
    }
}

/// Certificates for `--host` from an ACME CA, obtained and renewed by Caddy (`--acme`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcmeSettings {
    pub email: Option<String>,
    /// The CA's directory; `None` is Caddy's default (Let's Encrypt).
    pub ca: Option<String>,
    /// A root to trust for a private CA (PEM), and 12 hex digits of its SHA-256.
    pub root: Option<(Vec<u8>, String)>,
}

impl AcmeSettings {
    /// Checks the ACME flags against `host`, which the certificate will name.
    pub fn new(host: &str, email: Option<&str>, ca: Option<&str>, root: Option<&Path>) -> Result<Self, String> {
        if host.is_empty() {
            return Err("--acme needs --host: the name the CA certifies, whose DNS points at this proxy".into());
        }
        if host.contains('*') || host.parse::<std::net::IpAddr>().is_ok() {
            return Err(format!(
                "--acme cannot certify --host {host}: the HTTP and TLS-ALPN challenges prove one DNS name (no wildcard, no IP address)"
            ));
        }
        let email = email.map(str::trim).filter(|e| !e.is_empty());
        if let Some(email) = email
            && (!email.contains('@') || email.contains(char::is_whitespace))
        {
            return Err(format!("--acme-email `{email}` is not an email address"));
        }
        let ca = ca.map(str::trim).filter(|c| !c.is_empty());
        if let Some(ca) = ca
            && !ca.starts_with("https://")
        {
            return Err(format!("--acme-ca `{ca}` is not an https:// URL (ACME runs over HTTPS)"));
        }
        let root = match root {
            None => None,
            Some(path) => {
                let pem = std::fs::read(path).map_err(|e| format!("--acme-ca-root {}: {e}", path.display()))?;
                let certificates = CertificateDer::pem_slice_iter(&pem).collect::<Result<Vec<_>, _>>();
                if !certificates.is_ok_and(|c| !c.is_empty()) {
                    return Err(format!("--acme-ca-root {} holds no PEM certificate", path.display()));
                }
                let fingerprint = hex::encode(&Sha256::digest(&pem)[..6]);
                Some((pem, fingerprint))
            }
        };
        Ok(Self { email: email.map(str::to_owned), ca: ca.map(str::to_owned), root })
    }
}

/// The TLS client of deploy's probe for a certificate from a CA: the roots of `pem`, or
/// the machine's (a public CA).
pub fn client_trusting(pem: Option<&[u8]>) -> Result<Arc<rustls::ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?;
    let config = match pem {
        Some(pem) => {
            let mut roots = rustls::RootCertStore::empty();
            for certificate in CertificateDer::pem_slice_iter(pem) {
                let certificate = certificate.map_err(|e| format!("the ACME CA root is not PEM: {e}"))?;
                roots.add(certificate).map_err(|e| format!("the ACME CA root cannot be trusted: {e}"))?;
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        None => {
            let verifier = rustls_platform_verifier::Verifier::new(provider)
                .map_err(|e| format!("the machine's CA roots cannot be read: {e}"))?;
            builder.dangerous().with_custom_certificate_verifier(Arc::new(verifier)).with_no_client_auth()
        }
    };
    Ok(Arc::new(config))
}

/// Whether a certificate name (`shop.example.com`, `*.example.com`) covers `host`.
fn name_covers(name: &str, host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    match name.strip_prefix("*.") {
        Some(domain) => host.split_once('.').is_some_and(|(label, rest)| !label.is_empty() && rest == domain),
        None => name == host,
    }
}

/// The TLS client of deploy's probe: trusts the one certificate the proxy was given
/// (whatever CA issued it, a private one included) and nothing else.
pub fn pinned_client(leaf: Vec<u8>) -> Result<Arc<rustls::ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(PinnedCertificate { leaf, provider: provider.clone() });
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The SNI name the probe sends.
pub fn probe_server_name(name: &str) -> ServerName<'static> {
    ServerName::try_from(name.to_owned()).unwrap_or_else(|_| ServerName::from(std::net::Ipv4Addr::LOCALHOST))
}

#[derive(Debug)]
struct PinnedCertificate {
    leaf: Vec<u8>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedCertificate {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.leaf.as_slice() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General("the proxy answered with another certificate than the one it was given".into()))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn issued(names: &[&str], days: u64) -> (Vec<u8>, Vec<u8>) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params =
            rcgen::CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>()).unwrap();
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = params.not_before + Duration::from_secs(days * 86_400);
        let cert = params.self_signed(&key).unwrap();
        (cert.pem().into_bytes(), key.serialize_pem().into_bytes())
    }

    fn at(year_offset_days: u64) -> SystemTime {
        // 2020-01-01 plus some days.
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_577_836_800 + year_offset_days * 86_400)
    }

    #[test]
    fn a_matching_valid_pair_is_accepted_and_named() {
        let (cert, key) = issued(&["shop.example.com", "*.shop.example.com"], 90);
        let served = ServedCertificate::check(cert.clone(), key.clone(), "api.shop.example.com", at(10)).unwrap();
        assert_eq!(served.names, ["shop.example.com", "*.shop.example.com"]);
        assert_eq!(served.default_name(""), "shop.example.com");
        assert_eq!(served.default_name("api.shop.example.com"), "api.shop.example.com");
        assert_eq!(served.fingerprint.len(), 12);
        let debug = format!("{served:?}");
        assert!(!debug.contains("PRIVATE KEY"), "{debug}");
        // Another key or another certificate is another fingerprint.
        let (_, other_key) = issued(&["shop.example.com"], 90);
        assert!(ServedCertificate::check(cert, other_key, "", at(10)).unwrap_err().contains("does not belong"));
        let (other_cert, other_key) = issued(&["shop.example.com"], 90);
        let other = ServedCertificate::check(other_cert, other_key, "", at(10)).unwrap();
        assert_ne!(other.fingerprint, served.fingerprint);
        let _ = key;
    }

    #[test]
    fn expired_early_unnamed_and_malformed_are_refused() {
        let (cert, key) = issued(&["shop.example.com"], 30);
        let expired = ServedCertificate::check(cert.clone(), key.clone(), "", at(31)).unwrap_err();
        assert!(expired.contains("expired on"), "{expired}");
        let early = ServedCertificate::check(cert.clone(), key.clone(), "", SystemTime::UNIX_EPOCH).unwrap_err();
        assert!(early.contains("not valid before"), "{early}");
        let unnamed = ServedCertificate::check(cert.clone(), key.clone(), "blog.example.com", at(1)).unwrap_err();
        assert!(unnamed.contains("does not name --host blog.example.com"), "{unnamed}");
        let no_cert = ServedCertificate::check(key.clone(), key.clone(), "", at(1)).unwrap_err();
        assert!(no_cert.contains("no CERTIFICATE"), "{no_cert}");
        let no_key = ServedCertificate::check(cert.clone(), cert, "", at(1)).unwrap_err();
        assert!(no_key.contains("no private key"), "{no_key}");
    }

    #[test]
    fn acme_needs_one_dns_name_an_email_and_an_https_directory() {
        let ok = AcmeSettings::new("shop.example.com", Some("ops@example.com"), None, None).unwrap();
        assert_eq!(ok.email.as_deref(), Some("ops@example.com"));
        assert_eq!(ok.ca, None, "Caddy's default CA");
        let no_host = AcmeSettings::new("", None, None, None).unwrap_err();
        assert!(no_host.contains("needs --host"), "{no_host}");
        for host in ["*.example.com", "203.0.113.7"] {
            assert!(AcmeSettings::new(host, None, None, None).unwrap_err().contains("cannot certify"));
        }
        assert!(AcmeSettings::new("a.example", Some("ops"), None, None).unwrap_err().contains("not an email"));
        let plain = AcmeSettings::new("a.example", None, Some("http://ca.example/directory"), None).unwrap_err();
        assert!(plain.contains("not an https:// URL"), "{plain}");
        let dir = tempfile::tempdir().unwrap();
        let not_pem = dir.path().join("root.pem");
        std::fs::write(&not_pem, "nothing").unwrap();
        let bad_root = AcmeSettings::new("a.example", None, None, Some(&not_pem)).unwrap_err();
        assert!(bad_root.contains("holds no PEM certificate"), "{bad_root}");
    }

    #[test]
    fn wildcards_cover_one_label() {
        assert!(name_covers("*.example.com", "shop.example.com"));
        assert!(name_covers("*.example.com", "Shop.Example.com"));
        assert!(!name_covers("*.example.com", "example.com"));
        assert!(!name_covers("*.example.com", "a.b.example.com"));
        assert!(name_covers("example.com", "example.com"));
        assert!(!name_covers("example.com", "www.example.com"));
    }
}
