//! TLS for the registry clients: certificates verified against the platform's roots, as
//! reqwest does by default, but the roots are read on the first HTTPS handshake rather than
//! when a client is built. Reading and parsing the system's CA bundle is most of a
//! client's set-up, and a push to a plain-HTTP (loopback) registry never needs it.

use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

/// The TLS configuration of the registry clients: the process's default crypto provider
/// (ring when none is installed), HTTP/2 and HTTP/1.1 offered, the platform's roots loaded
/// on first use.
pub(crate) fn client_config() -> Result<rustls::ClientConfig, rustls::Error> {
    let provider =
        CryptoProvider::get_default().cloned().unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()));
    let verifier = Arc::new(LazyPlatformVerifier::new(Arc::clone(&provider)));
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// rustls-platform-verifier's verifier, built (which reads the system's roots) the first
/// time a certificate is to be verified.
#[derive(Debug)]
pub(crate) struct LazyPlatformVerifier {
    provider: Arc<CryptoProvider>,
    platform: OnceLock<Result<rustls_platform_verifier::Verifier, rustls::Error>>,
}

impl LazyPlatformVerifier {
    pub(crate) fn new(provider: Arc<CryptoProvider>) -> Self {
        Self { provider, platform: OnceLock::new() }
    }

    fn platform(&self) -> Result<&rustls_platform_verifier::Verifier, rustls::Error> {
        self.platform
            .get_or_init(|| rustls_platform_verifier::Verifier::new(Arc::clone(&self.provider)))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Whether the roots have been read.
    #[cfg(test)]
    fn loaded(&self) -> bool {
        self.platform.get().is_some()
    }
}

impl ServerCertVerifier for LazyPlatformVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.platform()?.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verifier() -> LazyPlatformVerifier {
        LazyPlatformVerifier::new(Arc::new(rustls::crypto::ring::default_provider()))
    }

    #[test]
    fn the_roots_are_read_at_the_first_verification_only() {
        let verifier = verifier();
        assert!(!verifier.loaded());
        assert!(!verifier.supported_verify_schemes().is_empty());
        assert!(!verifier.loaded(), "offering schemes needs no roots");
        // A certificate no root signed is refused: verification is on.
        let key = rcgen::generate_simple_self_signed(vec!["registry.example".to_owned()]).unwrap();
        let name = ServerName::try_from("registry.example").unwrap();
        let refused = verifier.verify_server_cert(key.cert.der(), &[], &name, &[], UnixTime::now());
        assert!(verifier.loaded());
        let error = refused.unwrap_err();
        assert!(
            matches!(
                error,
                rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer) | rustls::Error::General(_)
            ),
            "{error:?}"
        );
    }
}
