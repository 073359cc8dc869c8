//! The suite-wide secret scan.
//!
//! Every secret the tests hand a step (a registry password, a token, a cloud key, a
//! Kubernetes secret's value, a credential in a URL) is one of the canaries below, and every
//! run of a step binary goes through [`crate::run_with_sinks`], [`RecordedOutput`] or
//! [`record_output`], which copy what the step wrote (standard output and error,
//! `$GITHUB_OUTPUT`, the step summary, the dotenv report) into `$SLIPWAY_SECRET_SCAN_DIR`
//! when it is set; [`record_file`] adds a file a step rendered. `scripts/test.sh` sets that
//! directory for the whole run and ends with `secret-scan DIR` ([`scan`]), which fails when
//! any canary is found there, plain or base64-encoded at any alignment.
//!
//! `::add-mask::` lines are the one place a secret may stand: the GitHub runner takes them
//! out of the log before anyone sees it (the contract announces every secret that way).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine;

/// The password of the loopback registry with htpasswd (`scripts/test-services.sh`), also
/// given as GitLab's `CI_REGISTRY_PASSWORD` and in docker configs and credential helpers.
pub const REGISTRY_PASSWORD: &str = "slipway-test-password";
/// A wrong registry password, which a step must not print either.
pub const WRONG_REGISTRY_PASSWORD: &str = "slipway-canary-wrong-password-J7dQ";
/// The password of the tests' token service (`registries::TokenRegistry`).
pub const TOKEN_SERVICE_PASSWORD: &str = "slipway-canary-token-password-Q2wX";
/// `GITHUB_TOKEN`.
pub const GITHUB_TOKEN: &str = "ghs_SlipwayCanary0123456789abcdefABCD";
/// `AWS_SECRET_ACCESS_KEY`.
pub const AWS_SECRET_ACCESS_KEY: &str = "slipway-canary-aws-secret-access-key-V8cN";
/// The value of a Kubernetes `--secret-env` variable.
pub const KUBERNETES_SECRET: &str = "slipway-canary-kubernetes-secret-H4pL";
/// The bearer token of the fake Kubernetes API's kubeconfig.
pub const KUBERNETES_TOKEN: &str = "slipway-canary-kube-token-Z6mW";
/// A password in a URL's user info or a token in its query (DOCKER_HOST, endpoints).
pub const URL_CREDENTIAL: &str = "SlipwayCanaryUrlCredentialR5tY";
/// A token verify sends in a header from the environment, and a wrong one.
pub const API_TOKEN: &str = "slipway-canary-api-token-B3vK";
pub const WRONG_API_TOKEN: &str = "slipway-canary-wrong-api-token-N8sE";

/// Every canary, with what it stands for.
pub const CANARIES: [(&str, &str); 10] = [
    ("REGISTRY_PASSWORD", REGISTRY_PASSWORD),
    ("a wrong REGISTRY_PASSWORD", WRONG_REGISTRY_PASSWORD),
    ("the token service's password", TOKEN_SERVICE_PASSWORD),
    ("GITHUB_TOKEN", GITHUB_TOKEN),
    ("AWS_SECRET_ACCESS_KEY", AWS_SECRET_ACCESS_KEY),
    ("a Kubernetes --secret-env value", KUBERNETES_SECRET),
    ("the kubeconfig's token", KUBERNETES_TOKEN),
    ("a credential in a URL", URL_CREDENTIAL),
    ("verify's header token", API_TOKEN),
    ("a wrong header token", WRONG_API_TOKEN),
];

/// The environment variable naming the directory step runs are recorded into.
pub const SCAN_DIR_VAR: &str = "SLIPWAY_SECRET_SCAN_DIR";

fn scan_dir() -> Option<PathBuf> {
    std::env::var_os(SCAN_DIR_VAR).filter(|dir| !dir.is_empty()).map(PathBuf::from)
}

/// A fresh directory for one recorded run: `<test binary>-<pid>-<n>-<label>`.
fn run_dir(root: &Path, label: &str) -> PathBuf {
    static RUNS: AtomicU64 = AtomicU64::new(0);
    let test = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let label: String = label.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
    let n = RUNS.fetch_add(1, Ordering::Relaxed);
    root.join(format!("{test}-{}-{n}-{label}", std::process::id()))
}

/// Records what one step run wrote, each sink by name, when a scan directory is set.
pub fn record(label: &str, sinks: &[(&str, &[u8])]) {
    let Some(root) = scan_dir() else { return };
    let dir = run_dir(&root, label);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for (sink, bytes) in sinks {
        std::fs::write(dir.join(sink), bytes).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    }
}

/// Records the standard output and error of a step run that went through `Command::output`.
pub fn record_output(label: &str, output: &Output) {
    record(label, &[("stdout", &output.stdout), ("stderr", &output.stderr)]);
}

/// Records a file a step wrote (a rendered manifest), when a scan directory is set.
pub fn record_file(label: &str, path: &Path) {
    if scan_dir().is_none() {
        return;
    }
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let name = path.file_name().map_or_else(|| "file".to_owned(), |n| n.to_string_lossy().into_owned());
    record(label, &[(&format!("file-{name}"), &bytes)]);
}

/// `Command::output` for a step binary, recording what it wrote.
pub trait RecordedOutput {
    fn recorded_output(&mut self) -> std::io::Result<Output>;
}

impl RecordedOutput for Command {
    fn recorded_output(&mut self) -> std::io::Result<Output> {
        let output = self.output()?;
        let label = Path::new(self.get_program()).file_name().map(|n| n.to_string_lossy().into_owned());
        record_output(&label.unwrap_or_default(), &output);
        Ok(output)
    }
}

/// One canary found: where, and in which form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub file: PathBuf,
    pub line: usize,
    pub canary: &'static str,
    pub form: &'static str,
}

/// What a scan looked at and found.
#[derive(Debug, Default)]
pub struct Scan {
    pub runs: usize,
    pub files: usize,
    pub bytes: u64,
    pub hits: Vec<Hit>,
}

/// The strings that betray `secret`: itself, and the part of its base64 (standard and URL
/// alphabets) that any encoding holding it shows, whatever its offset in the encoded bytes
/// (`Basic dXNlcjpw...` holds the password two bytes in).
pub fn forms(secret: &str) -> Vec<(&'static str, String)> {
    let mut forms = vec![("plain", secret.to_owned())];
    for (name, engine) in [
        ("base64", base64::engine::general_purpose::STANDARD_NO_PAD),
        ("base64url", base64::engine::general_purpose::URL_SAFE_NO_PAD),
    ] {
        for offset in 0..3 {
            let mut bytes = vec![0u8; offset];
            bytes.extend_from_slice(secret.as_bytes());
            let encoded = engine.encode(&bytes);
            // Characters that depend on the bytes before (a first group shared with the
            // prefix) or after (a last, partial group) are left out.
            let start = if offset == 0 { 0 } else { 4 };
            let end = bytes.len() / 3 * 4;
            if end > start + 8 {
                forms.push((name, encoded[start..end].to_owned()));
            }
        }
    }
    forms.dedup_by(|a, b| a.1 == b.1);
    forms
}

/// Scans every file under `dir` (recursively) for every canary in every form, skipping
/// `::add-mask::` lines. Runs are the directories directly under `dir`.
pub fn scan(dir: &Path) -> std::io::Result<Scan> {
    let patterns: Vec<(&'static str, &'static str, String)> = CANARIES
        .iter()
        .flat_map(|(what, value)| forms(value).into_iter().map(move |(form, text)| (*what, form, text)))
        .collect();
    let mut result = Scan::default();
    let mut pending = vec![dir.to_owned()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current)? {
            let path = entry?.path();
            if path.is_dir() {
                if current == dir {
                    result.runs += 1;
                }
                pending.push(path);
                continue;
            }
            let bytes = std::fs::read(&path)?;
            result.files += 1;
            result.bytes += bytes.len() as u64;
            let text = String::from_utf8_lossy(&bytes);
            for (number, line) in text.lines().enumerate() {
                if line.starts_with("::add-mask::") {
                    continue;
                }
                for (what, form, pattern) in &patterns {
                    if line.contains(pattern.as_str()) {
                        result.hits.push(Hit { file: path.clone(), line: number + 1, canary: what, form });
                    }
                }
            }
        }
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn planted(files: &[(&str, String)]) -> (tempfile::TempDir, Scan) {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            let path = dir.path().join("run-1").join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        let scan = scan(dir.path()).unwrap();
        (dir, scan)
    }

    #[test]
    fn a_clean_run_has_no_hits() {
        let (_dir, scan) = planted(&[
            ("stderr", format!("::add-mask::{REGISTRY_PASSWORD}\npushed with ***\n")),
            ("stdout", "image-ref=127.0.0.1:5555/app@sha256:ab\n".to_owned()),
        ]);
        assert_eq!((scan.runs, scan.files), (1, 2));
        assert!(scan.hits.is_empty(), "{:?}", scan.hits);
    }

    #[test]
    fn a_planted_canary_is_found_plain_and_base64_at_any_offset() {
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("slipway:{REGISTRY_PASSWORD}"));
        let (_dir, scan) = planted(&[
            ("stderr", format!("error: login {GITHUB_TOKEN} refused\n")),
            ("github_output", format!("auth=Basic {basic}\n")),
            ("summary", format!("x{}\n", base64::engine::general_purpose::URL_SAFE.encode(KUBERNETES_SECRET))),
            (
                "file-shop.yaml",
                format!(
                    "data:\n  DB_PASSWORD: \"ab{}\"\n",
                    base64::engine::general_purpose::STANDARD.encode(format!("12{AWS_SECRET_ACCESS_KEY}"))
                ),
            ),
        ]);
        let found: Vec<(&str, &str)> = scan.hits.iter().map(|hit| (hit.canary, hit.form)).collect();
        assert!(found.contains(&("GITHUB_TOKEN", "plain")), "{found:?}");
        assert!(found.contains(&("REGISTRY_PASSWORD", "base64")), "{found:?}");
        assert!(
            found.contains(&("a Kubernetes --secret-env value", "base64url"))
                || found.contains(&("a Kubernetes --secret-env value", "base64")),
            "{found:?}"
        );
        assert!(found.contains(&("AWS_SECRET_ACCESS_KEY", "base64")), "{found:?}");
    }

    #[test]
    fn every_canary_is_long_and_distinct_enough_to_scan_for() {
        for (what, value) in CANARIES {
            assert!(value.len() >= 20, "{what}");
            assert!(forms(value).len() >= 4, "{what}: {:?}", forms(value));
        }
    }
}
