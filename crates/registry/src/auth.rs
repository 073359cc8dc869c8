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
    use docker_credential::{CredentialRetrievalError as E, DockerCredential};
    match docker_credential::get_credential(docker_config_key(registry)) {
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
            let dir = std::env::var_os("DOCKER_CONFIG")
                .map(std::path::PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|home| std::path::Path::new(&home).join(".docker")));
            if dir.is_some_and(|dir| dir.join("config.json").exists()) {
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
