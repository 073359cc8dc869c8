//! Registry credentials, in the contract's order: an explicit login, docker's
//! config.json and its credential helpers (`DOCKER_CONFIG`), `GITHUB_TOKEN` for GHCR,
//! GitLab's job credentials (`CI_REGISTRY_USER`/`CI_REGISTRY_PASSWORD`) for `$CI_REGISTRY`,
//! else anonymous. (ECR's token comes from [`crate::ecr`] as a [`ProvidedLogin`].)
//! Every secret is masked the moment it is read.

use oci_client::secrets::RegistryAuth;
use slipway_contract::{Console, Secret};

/// Where a registry's credentials came from, for the log (never the secret itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthSource {
    Explicit,
    DockerConfig,
    GithubToken,
    /// GitLab's `CI_REGISTRY_USER`/`CI_REGISTRY_PASSWORD`, for the project's `$CI_REGISTRY`.
    GitlabJob,
    /// A token another provider handed in (ECR's GetAuthorizationToken).
    Provided(String),
    Anonymous,
}

impl std::fmt::Display for AuthSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Explicit => f.write_str("the explicit login"),
            Self::DockerConfig => f.write_str("docker's config.json"),
            Self::GithubToken => f.write_str("GITHUB_TOKEN"),
            Self::GitlabJob => f.write_str("CI_REGISTRY_USER/CI_REGISTRY_PASSWORD"),
            Self::Provided(source) => f.write_str(source),
            Self::Anonymous => f.write_str("no credentials (anonymous)"),
        }
    }
}

/// A username and password given on purpose (`--username` with `REGISTRY_PASSWORD` or
/// `--password-stdin`).
#[derive(Debug, Clone)]
pub struct Login {
    pub username: String,
    pub password: Secret,
}

/// Resolved credentials for one registry.
#[derive(Clone)]
pub struct Credentials {
    pub auth: RegistryAuth,
    pub source: AuthSource,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("source", &self.source).finish_non_exhaustive()
    }
}

impl Credentials {
    pub fn anonymous() -> Self {
        Self { auth: RegistryAuth::Anonymous, source: AuthSource::Anonymous }
    }

    pub fn basic(username: &str, password: &Secret, source: AuthSource) -> Self {
        Self { auth: RegistryAuth::Basic(username.to_owned(), password.expose().to_owned()), source }
    }
}

/// The key docker's config.json uses for `registry`.
fn docker_config_key(registry: &str) -> &str {
    match registry {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => "https://index.docker.io/v1/",
        other => other,
    }
}

/// A login another provider hands in for one registry (ECR's GetAuthorizationToken),
/// used when docker's config.json has nothing for it.
#[derive(Debug, Clone)]
pub struct ProvidedLogin {
    pub registry: String,
    pub login: Login,
    /// Where it came from, for the log.
    pub source: String,
}

/// Credentials for `registry`, trying each source in the contract's order: explicit,
/// docker's config.json and helpers, a provided login (ECR), GITHUB_TOKEN for GHCR, GitLab's
/// job credentials for `$CI_REGISTRY`.
pub fn resolve(
    registry: &str,
    explicit: Option<&Login>,
    provided: Option<&ProvidedLogin>,
    console: &Console,
) -> Credentials {
    if let Some(login) = explicit {
        return Credentials::basic(&login.username, &login.password, AuthSource::Explicit);
    }
    if let Some(credentials) = from_docker_config(registry, console) {
        return credentials;
    }
    if let Some(provided) = provided.filter(|p| p.registry == registry) {
        return Credentials::basic(
            &provided.login.username,
            &provided.login.password,
            AuthSource::Provided(provided.source.clone()),
        );
    }
    if registry == "ghcr.io"
        && let Some(token) = Secret::from_env("GITHUB_TOKEN", console)
    {
        let user = std::env::var("GITHUB_ACTOR").ok().filter(|u| !u.is_empty());
        return Credentials::basic(user.as_deref().unwrap_or("x-access-token"), &token, AuthSource::GithubToken);
    }
    // A GitLab job's registry login, valid for the job's lifetime, for the project's own registry.
    if std::env::var("CI_REGISTRY").is_ok_and(|gitlab| !gitlab.is_empty() && gitlab == registry)
        && let Some(user) = std::env::var("CI_REGISTRY_USER").ok().filter(|u| !u.is_empty())
        && let Some(password) = Secret::from_env("CI_REGISTRY_PASSWORD", console)
    {
        return Credentials::basic(&user, &password, AuthSource::GitlabJob);
    }
    Credentials::anonymous()
}

/// Credentials from docker's config.json (`auths`, `credsStore`, `credHelpers`), if any.
pub fn from_docker_config(registry: &str, console: &Console) -> Option<Credentials> {
    let present = || {
        std::env::var_os("DOCKER_CONFIG")
            .map(std::path::PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|home| std::path::Path::new(&home).join(".docker")))
            .is_some_and(|dir| dir.join("config.json").exists())
    };
    interpret(docker_credential::get_credential(docker_config_key(registry)), registry, present, console)
}

/// Credentials for `registry` from the text of a docker config.json (`config`), its
/// credential helpers run as [`from_docker_config`] runs them.
pub fn from_docker_config_text(config: &[u8], registry: &str, console: &Console) -> Option<Credentials> {
    let answer = docker_credential::get_credential_from_reader(config, docker_config_key(registry));
    interpret(answer, registry, || true, console)
}

/// What docker_credential's answer means: credentials, or a warning and nothing.
/// `config_present` says whether a config.json exists (a missing one is normal).
fn interpret(
    answer: Result<docker_credential::DockerCredential, docker_credential::CredentialRetrievalError>,
    registry: &str,
    config_present: impl FnOnce() -> bool,
    console: &Console,
) -> Option<Credentials> {
    use docker_credential::{CredentialRetrievalError as E, DockerCredential};
    match answer {
        Ok(DockerCredential::UsernamePassword(username, password)) => {
            let password = Secret::new(password, console);
            Some(Credentials::basic(&username, &password, AuthSource::DockerConfig))
        }
        Ok(DockerCredential::IdentityToken(token)) => {
            console.add_mask(&token);
            console.warning(&format!(
                "docker's config.json holds an identity token for {registry}, which slipway cannot exchange; log in with a password or token instead"
            ));
            None
        }
        Err(E::NoCredentialConfigured | E::ConfigNotFound) => None,
        Err(E::ConfigReadError) => {
            // A missing file is normal; a present but unreadable one deserves a word.
            if config_present() {
                console.warning("docker's config.json cannot be read as JSON; ignoring it");
            }
            None
        }
        Err(E::HelperFailure { helper, .. }) => {
            // The helper's own output may hold secrets: name it, never echo it.
            console.warning(&format!(
                "the docker credential helper `{helper}` found no credentials for {registry}; continuing without"
            ));
            None
        }
        Err(error) => {
            console.warning(&format!("docker credentials for {registry} unusable: {error}; continuing without"));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_uses_dockers_legacy_key() {
        assert_eq!(docker_config_key("docker.io"), "https://index.docker.io/v1/");
        assert_eq!(docker_config_key("127.0.0.1:5000"), "127.0.0.1:5000");
    }

    #[test]
    fn credentials_debug_hides_the_secret() {
        let log = slipway_contract::console::CapturedLog::default();
        let console = log.console("x", slipway_contract::CiMode::Plain);
        let creds = Credentials::basic("me", &Secret::new("pa55".into(), &console), AuthSource::Explicit);
        assert!(!format!("{creds:?}").contains("pa55"));
    }
}

/// docker's config.json and credential helper answers, as docker and the helpers write them.
#[cfg(test)]
mod properties {
    use base64::Engine;
    use proptest::prelude::*;
    use slipway_contract::CiMode;
    use slipway_contract::console::CapturedLog;

    use super::*;

    const REGISTRY: &str = "registry.example.com:5000";

    fn basic(credentials: Option<Credentials>) -> Option<(String, String)> {
        match credentials?.auth {
            RegistryAuth::Basic(user, password) => Some((user, password)),
            _ => None,
        }
    }

    fn config(entry: &serde_json::Value) -> Vec<u8> {
        serde_json::json!({ "auths": { REGISTRY: entry, "other.example.com": {"auth": "b3RoZXI6b3RoZXI="} } })
            .to_string()
            .into_bytes()
    }

    proptest! {
        #[test]
        fn auth_entries_give_their_login_masked(user in "[^:]{0,12}", password in any::<String>(), fields in any::<bool>()) {
            let log = CapturedLog::default();
            let console = log.console("push-image", CiMode::Plain);
            let entry = if fields {
                serde_json::json!({ "username": user, "password": password })
            } else {
                serde_json::json!({ "auth": base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")) })
            };
            let credentials = from_docker_config_text(&config(&entry), REGISTRY, &console);
            prop_assert_eq!(credentials.as_ref().map(|c| c.source.clone()), Some(AuthSource::DockerConfig));
            prop_assert_eq!(basic(credentials), Some((user, password.clone())));
            if !password.is_empty() {
                prop_assert!(console.contains_secret(&password));
            }
        }

        #[test]
        fn identity_tokens_are_masked_and_refused(token in "[A-Za-z0-9._-]{8,40}") {
            let log = CapturedLog::default();
            let console = log.console("push-image", CiMode::Plain);
            let answer = from_docker_config_text(&config(&serde_json::json!({ "identitytoken": token })), REGISTRY, &console);
            prop_assert!(answer.is_none());
            prop_assert!(console.contains_secret(&token));
            prop_assert!(!log.text().contains(&token));
        }

        #[test]
        fn any_config_text_gives_credentials_or_nothing(bytes in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..200),
            "\\{\"auths\":\\{\"registry.example.com:5000\":\\{\"auth\":\"[A-Za-z0-9+/=:]{0,16}\"\\}\\}\\}".prop_map(String::into_bytes),
        ]) {
            let log = CapturedLog::default();
            let console = log.console("push-image", CiMode::Plain);
            let _ = from_docker_config_text(&bytes, REGISTRY, &console);
            prop_assert!(log.text().lines().count() <= 1);
        }
    }

    /// A credential helper's answers (`docker-credential-NAME get`): its JSON on success, its
    /// failure (whose output may hold secrets) otherwise. The helper must be on PATH, which a
    /// running test cannot change for itself: the test runs itself again in a child with it.
    #[test]
    fn credential_helper_answers() {
        let Some(dir) = std::env::var_os("SLIPWAY_TEST_HELPER_DIR").map(std::path::PathBuf::from) else {
            let dir = tempfile::tempdir().unwrap();
            let helper = dir.path().join("docker-credential-slipwaytest");
            std::fs::write(&helper, "#!/bin/sh\ncat >/dev/null\ncat \"$SLIPWAY_TEST_HELPER_DIR/stdout\"\nexit \"$(cat \"$SLIPWAY_TEST_HELPER_DIR/status\")\"\n").unwrap();
            std::fs::set_permissions(&helper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
            let path = format!("{}:{}", dir.path().display(), std::env::var("PATH").unwrap_or_default());
            let child = std::process::Command::new(std::env::current_exe().unwrap())
                .args(["--exact", "auth::properties::credential_helper_answers", "--test-threads=1"])
                .env("PATH", path)
                .env("SLIPWAY_TEST_HELPER_DIR", dir.path())
                .output()
                .unwrap();
            let report =
                format!("{}{}", String::from_utf8_lossy(&child.stdout), String::from_utf8_lossy(&child.stderr));
            assert!(child.status.success() && report.contains("1 passed"), "{report}");
            return;
        };
        let config = serde_json::json!({ "credHelpers": { REGISTRY: "slipwaytest" } }).to_string();
        let answer = |stdout: &str, status: i32| {
            std::fs::write(dir.join("stdout"), stdout).unwrap();
            std::fs::write(dir.join("status"), status.to_string()).unwrap();
            let log = CapturedLog::default();
            let console = log.console("push-image", CiMode::Plain);
            let credentials = from_docker_config_text(config.as_bytes(), REGISTRY, &console);
            (credentials, log.text(), console)
        };
        // Each case runs the helper, a process: an eighth of the configured cases.
        let config = ProptestConfig {
            cases: (ProptestConfig::default().cases / 8).max(8),
            failure_persistence: None,
            ..ProptestConfig::default()
        };
        let mut runner = proptest::test_runner::TestRunner::new(config.clone());
        runner
            .run(&(any::<String>(), any::<String>()), |(user, secret)| {
                let json = serde_json::json!({ "ServerURL": REGISTRY, "Username": user, "Secret": secret }).to_string();
                let (credentials, _, console) = answer(&json, 0);
                if user == "<token>" {
                    prop_assert!(credentials.is_none());
                } else {
                    prop_assert_eq!(basic(credentials), Some((user, secret.clone())));
                }
                if !secret.is_empty() {
                    prop_assert!(console.contains_secret(&secret));
                }
                Ok(())
            })
            .unwrap();
        let mut runner = proptest::test_runner::TestRunner::new(config);
        runner
            .run(&("Qz9[A-Za-z0-9+/]{8,24}", 1i32..126, any::<bool>()), |(secret, status, garbage)| {
                // A failing helper, or one answering something that is not its JSON, and
                // printing a secret: a warning names the helper, never what it printed.
                let stdout = format!("credentials not found: {secret}\n");
                let (credentials, log, _) = answer(&stdout, if garbage { 0 } else { status });
                prop_assert!(credentials.is_none());
                prop_assert!(log.contains("slipwaytest") || log.contains("unusable"), "{}", log);
                prop_assert!(!log.contains(&secret), "{}", log);
                Ok(())
            })
            .unwrap();
    }
}
