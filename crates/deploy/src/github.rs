//! GitHub deployments: with `--github-deployment`, the run is recorded as a deployment
//! of `GITHUB_SHA` in the environment `--environment-name`, with an `in_progress`
//! status, then `success` (with the environment's URL) or `failure`, each linking the
//! workflow run. octocrab has no typed deployments API, so this uses its raw requests
//! against the REST endpoints GitHub documents:
//! `POST /repos/{owner}/{repo}/deployments` and `POST .../deployments/{id}/statuses`.

#[cfg(feature = "github")]
use std::time::Duration;

#[cfg(feature = "github")]
use octocrab::Octocrab;
#[cfg(feature = "github")]
use serde::Deserialize;
#[cfg(feature = "github")]
use serde_json::{Value, json};
use slipway_contract::{Console, Secret};

use crate::target::DeployError;
#[cfg(feature = "github")]
use crate::target::{DeployOutcome, DeployRequest};

/// GitHub's media type for the REST API.
pub const ACCEPT: &str = "application/vnd.github+json";
/// GitHub truncates longer status descriptions; this keeps the end readable.
pub const DESCRIPTION_LIMIT: usize = 140;

/// What recording a deployment needs, from the workflow's environment.
#[derive(Debug, Clone)]
pub struct GithubSettings {
    #[cfg_attr(not(feature = "github"), allow(dead_code))]
    token: Secret,
    /// `owner/repo`.
    pub repository: String,
    /// The commit deployed.
    pub sha: String,
    /// The REST API's root (`https://api.github.com`, or GHES's `https://host/api/v3`).
    pub api_url: String,
    /// The workflow run, for the statuses' `log_url`.
    pub log_url: Option<String>,
}

impl GithubSettings {
    /// Reads `GITHUB_TOKEN` (masked at once), `GITHUB_REPOSITORY`, `GITHUB_SHA`,
    /// `GITHUB_API_URL`, and `GITHUB_SERVER_URL` with `GITHUB_RUN_ID` for the log link.
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>, console: &Console) -> Result<Self, DeployError> {
        let known = |name: &str| env(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        // The token first, so it is masked before anything else is printed.
        let token =
            env("GITHUB_TOKEN").map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()).map(|v| Secret::new(v, console));
        let repository = known("GITHUB_REPOSITORY");
        let sha = known("GITHUB_SHA");
        let missing: Vec<&str> = [
            ("GITHUB_TOKEN", token.is_some()),
            ("GITHUB_REPOSITORY", repository.is_some()),
            ("GITHUB_SHA", sha.is_some()),
        ]
        .iter()
        .filter(|(_, present)| !present)
        .map(|(name, _)| *name)
        .collect();
        let (Some(token), Some(repository), Some(sha)) = (token, repository, sha) else {
            return Err(DeployError::Usage(format!(
                "--github-deployment needs {} in the environment (GitHub Actions sets GITHUB_REPOSITORY and GITHUB_SHA; pass `GITHUB_TOKEN: ${{{{ secrets.GITHUB_TOKEN }}}}` with `permissions: deployments: write`)",
                missing.join(", ")
            )));
        };
        if !token.expose().chars().all(|c| c.is_ascii_graphic()) {
            return Err(DeployError::Usage(
                "GITHUB_TOKEN holds characters no GitHub token has (spaces, line breaks, non-ASCII)".into(),
            ));
        }
        let repository_ok = repository.split_once('/').is_some_and(|(owner, name)| {
            let part_ok = |part: &str| {
                !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            };
            part_ok(owner) && part_ok(name)
        });
        if !repository_ok {
            return Err(DeployError::Usage(format!("GITHUB_REPOSITORY `{repository}` is not owner/repo")));
        }
        if sha.chars().any(char::is_whitespace) {
            return Err(DeployError::Usage(format!("GITHUB_SHA `{sha}` is not a commit")));
        }
        let api_url = known("GITHUB_API_URL").unwrap_or_else(|| "https://api.github.com".to_owned());
        let api_url = api_url.trim_end_matches('/').to_owned();
        let api_ok = api_url
            .parse::<http::Uri>()
            .is_ok_and(|uri| matches!(uri.scheme_str(), Some("https" | "http")) && uri.host().is_some());
        if !api_ok {
            return Err(DeployError::Usage(format!("GITHUB_API_URL `{api_url}` is not an http(s) URL")));
        }
        let server_url = known("GITHUB_SERVER_URL").unwrap_or_else(|| "https://github.com".to_owned());
        let log_url = known("GITHUB_RUN_ID").map(|run| {
            let mut url = format!("{}/{repository}/actions/runs/{run}", server_url.trim_end_matches('/'));
            if let Some(attempt) = known("GITHUB_RUN_ATTEMPT").filter(|a| a != "1") {
                url.push_str(&format!("/attempts/{attempt}"));
            }
            url
        });
        Ok(Self { token, repository, sha, api_url, log_url })
    }

    #[cfg(feature = "github")]
    fn client(&self) -> Result<Octocrab, String> {
        Octocrab::builder()
            .base_uri(self.api_url.as_str())
            .map_err(|error| format!("GITHUB_API_URL `{}`: {error}", self.api_url))?
            .personal_token(self.token.expose().to_owned())
            .add_header(http::header::ACCEPT, ACCEPT.to_owned())
            .set_connect_timeout(Some(Duration::from_secs(10)))
            .set_read_timeout(Some(Duration::from_secs(30)))
            .build()
            .map_err(|error| format!("cannot set up the GitHub client: {error}"))
    }
}

/// GitHub's answer to creating a deployment (the fields used).
#[cfg(feature = "github")]
#[derive(Debug, Deserialize)]
struct Created {
    id: u64,
}

/// A deployment recorded on GitHub, waiting for its final status.
#[cfg(feature = "github")]
#[derive(Debug)]
pub struct GithubDeployment {
    client: Octocrab,
    statuses_route: String,
    /// GitHub's id for the deployment.
    pub id: u64,
    log_url: Option<String>,
}

/// `text` cut to GitHub's description limit, on a character boundary.
pub fn truncate_description(text: &str) -> String {
    let single: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if single.chars().count() <= DESCRIPTION_LIMIT {
        return single;
    }
    let mut cut: String = single.chars().take(DESCRIPTION_LIMIT - 1).collect();
    cut.push('…');
    cut
}

/// What went wrong talking to GitHub, in one line, and whether it is the
/// configuration's fault (token, permissions, repository).
#[cfg(feature = "github")]
fn explain(error: &octocrab::Error) -> (String, bool) {
    match error {
        octocrab::Error::GitHub { source, .. } => {
            let status = source.status_code.as_u16();
            let hint = match status {
                401 => "; GITHUB_TOKEN is not accepted",
                403 | 404 => "; the token needs `permissions: deployments: write` on this repository",
                _ => "",
            };
            (format!("{status} {}{hint}", source.message.trim()), matches!(status, 401 | 403 | 404 | 422))
        }
        other => {
            let mut text = other.to_string();
            let mut source = std::error::Error::source(other);
            while let Some(cause) = source {
                text.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            (text.lines().next().unwrap_or_default().to_owned(), false)
        }
    }
}

#[cfg(feature = "github")]
impl GithubDeployment {
    /// Creates the deployment and sets it `in_progress`.
    pub async fn start(
        settings: &GithubSettings,
        environment: &str,
        request: &DeployRequest,
        console: &Console,
    ) -> Result<Self, DeployError> {
        let client = settings.client().map_err(DeployError::Usage)?;
        let route = format!("/repos/{}/deployments", settings.repository);
        let version = if request.version_label.is_empty() { "the previous version" } else { &request.version_label };
        let description = truncate_description(&format!("{} {version} with slipway", request.phase.as_str()));
        let mut body = json!({
            "ref": settings.sha,
            "environment": environment,
            "auto_merge": false,
            "required_contexts": [],
            "description": description,
        });
        let payload = json!({
            "image": request.image,
            "version_label": request.version_label,
            "strategy": request.strategy().as_str(),
            "phase": request.phase.as_str(),
        });
        body["payload"] = payload;
        let created: Created = client.post(&route, Some(&body)).await.map_err(|error| {
            let (reason, usage) = explain(&error);
            let message = format!("cannot record a GitHub deployment in {}: {reason}", settings.repository);
            if usage {
                DeployError::Usage(message)
            } else {
                DeployError::failed(message, crate::status::Status::Unchanged)
            }
        })?;
        let deployment = Self {
            client,
            statuses_route: format!("{route}/{}/statuses", created.id),
            id: created.id,
            log_url: settings.log_url.clone(),
        };
        console.info(&format!(
            "recorded GitHub deployment {} of {} in {environment}",
            created.id,
            settings.sha.chars().take(12).collect::<String>()
        ));
        if let Err(reason) = deployment.status("in_progress", None, &description).await {
            console.warning(&format!("cannot set GitHub deployment {} in progress: {reason}", deployment.id));
        }
        Ok(deployment)
    }

    /// Records how the deployment ended; a failure to do so is only a warning.
    pub async fn finish(&self, result: &Result<DeployOutcome, DeployError>, console: &Console) {
        self.finish_judged(result, None, console).await;
    }

    /// Records how the deployment ended, a judged rollout's timeline in a few words
    /// (`brief`, [`crate::analysis::record_brief`]) as the description.
    pub async fn finish_judged(
        &self,
        result: &Result<DeployOutcome, DeployError>,
        brief: Option<&str>,
        console: &Console,
    ) {
        let (state, url, description) = match (result, brief) {
            (Ok(outcome), Some(brief)) => {
                let url = Some(outcome.url.as_str()).filter(|u| !u.is_empty());
                ("success", url, format!("{} {brief}", outcome.version_label))
            }
            (Ok(outcome), None) => {
                let url = Some(outcome.url.as_str()).filter(|u| !u.is_empty());
                ("success", url, format!("{} is {}", outcome.version_label, outcome.status))
            }
            (Err(_), Some(brief)) => ("failure", None, console.redact(brief)),
            (Err(error), None) => ("failure", None, console.redact(&error.to_string())),
        };
        let description = truncate_description(&description);
        match self.status(state, url, &description).await {
            Ok(()) => console.info(&format!("GitHub deployment {}: {state}", self.id)),
            Err(reason) => {
                console.warning(&format!("cannot record {state} on GitHub deployment {}: {reason}", self.id));
            }
        }
    }

    async fn status(&self, state: &str, environment_url: Option<&str>, description: &str) -> Result<(), String> {
        let mut body = json!({ "state": state, "description": description });
        if let Some(log_url) = &self.log_url {
            body["log_url"] = Value::from(log_url.as_str());
        }
        if let Some(url) = environment_url {
            body["environment_url"] = Value::from(url);
        }
        self.client
            .post::<_, Value>(&self.statuses_route, Some(&body))
            .await
            .map(|_| ())
            .map_err(|error| explain(&error).0)
    }
}

#[cfg(all(test, feature = "github"))]
mod tests {
    use super::*;
    use slipway_contract::CiMode;
    use slipway_contract::console::CapturedLog;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
    }

    #[test]
    fn settings_name_what_is_missing_and_mask_the_token() {
        let log = CapturedLog::default();
        let console = log.console("deploy", CiMode::GitHub);
        let error = GithubSettings::from_env(&env(&[("GITHUB_REPOSITORY", "acme/shop")]), &console).unwrap_err();
        assert!(
            matches!(&error, DeployError::Usage(m) if m.contains("GITHUB_TOKEN, GITHUB_SHA") && !m.contains("GITHUB_REPOSITORY,"))
        );

        let settings = GithubSettings::from_env(
            &env(&[
                ("GITHUB_TOKEN", "ghs_abc"),
                ("GITHUB_REPOSITORY", "acme/shop"),
                ("GITHUB_SHA", "0123456789abcdef0123456789abcdef01234567"),
                ("GITHUB_API_URL", "https://ghe.example.com/api/v3/"),
                ("GITHUB_SERVER_URL", "https://ghe.example.com"),
                ("GITHUB_RUN_ID", "99"),
                ("GITHUB_RUN_ATTEMPT", "2"),
            ]),
            &console,
        )
        .unwrap();
        assert_eq!(settings.api_url, "https://ghe.example.com/api/v3");
        assert_eq!(settings.log_url.as_deref(), Some("https://ghe.example.com/acme/shop/actions/runs/99/attempts/2"));
        assert!(!format!("{settings:?}").contains("ghs_abc"));
        assert_eq!(log.text(), "::add-mask::ghs_abc\n");

        let bad = GithubSettings::from_env(
            &env(&[("GITHUB_TOKEN", "t"), ("GITHUB_REPOSITORY", "shop"), ("GITHUB_SHA", "abc")]),
            &console,
        );
        assert!(matches!(bad, Err(DeployError::Usage(m)) if m.contains("owner/repo")));
    }

    #[test]
    fn descriptions_fit_githubs_limit() {
        assert_eq!(truncate_description("short\nand  sweet"), "short and sweet");
        let long = "é".repeat(300);
        let cut = truncate_description(&long);
        assert_eq!(cut.chars().count(), DESCRIPTION_LIMIT);
        assert!(cut.ends_with('…'));
    }
}
