//! A test CA and a server certificate it signed, as PEM files a step reads
//! (`--ca-cert`, `--tls-cert`, `--tls-key`), made fresh for each test.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A CA and a server certificate for `names`, valid from a day ago for `days_left` days
/// (and a few hours, so a days-left count reads exactly `days_left`).
#[derive(Debug)]
pub struct TestCertificates {
    pub ca_pem: String,
    pub server_pem: String,
    pub server_key_pem: String,
}

impl TestCertificates {
    pub fn new(names: &[&str], days_left: u32) -> Self {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};

        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let epoch = rcgen::date_time_ymd(1970, 1, 1);
        let day = Duration::from_secs(86_400);

        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(DnType::CommonName, "slipway test CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        ca_params.not_before = epoch + (now - day);
        ca_params.not_after = epoch + (now + day * 365);
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();

        let server_key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>()).unwrap();
        params.distinguished_name.push(DnType::CommonName, names.first().copied().unwrap_or("localhost"));
        params.not_before = epoch + (now - day);
        params.not_after = epoch + (now + day * days_left + Duration::from_secs(3 * 3600));
        let server = params.signed_by(&server_key, &*ca).unwrap();
        Self { ca_pem: ca.pem(), server_pem: server.pem(), server_key_pem: server_key.serialize_pem() }
    }

    /// Writes `ca.pem`, `server.pem` and `server.key` into `dir`; their paths in that order.
    pub fn write(&self, dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
        let paths = (dir.join("ca.pem"), dir.join("server.pem"), dir.join("server.key"));
        std::fs::write(&paths.0, &self.ca_pem).unwrap();
        std::fs::write(&paths.1, &self.server_pem).unwrap();
        std::fs::write(&paths.2, &self.server_key_pem).unwrap();
        paths
    }
}
