//! GitHub deployments against a local fake of GitHub's two endpoints (request and
//! response shapes as GitHub documents them): the exact bodies sent, the headers, the
//! token kept out of the logs, and the failures that only warn or that refuse to start.

#![allow(clippy::unwrap_used)] // Tests panic on broken fixtures, as tests do.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Containers, deploy_command, images, run, unique_name};
use serde_json::{Value, json};
use slipway_contract::CiMode;
use slipway_contract::console::CapturedLog;
use slipway_deploy::github::{GithubDeployment, GithubSettings};
use slipway_deploy::{DeployError, DeployOutcome, DeployRequest, Phase, Rollout, Status, Strategy};
use slipway_testkit::{StepRun, free_port};

const TOKEN: &str = slipway_testkit::secrets::GITHUB_TOKEN;
const REPOSITORY: &str = "acme/shop";
const SHA: &str = "3f2a9c1b7d4e0123456789abcdef0123456789ab";
const RUN_LOG: &str = "https://github.com/acme/shop/actions/runs/4242";

/// One request the fake received.
#[derive(Debug, Clone)]
struct Recorded {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Value,
}

impl Recorded {
    fn header(&self, name: &str) -> Vec<&str> {
        self.headers.iter().filter(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str()).collect()
    }
}

/// A fake of `POST /repos/{owner}/{repo}/deployments` and `.../deployments/{id}/statuses`
/// on 127.0.0.1, answering 201 with GitHub's documented shapes, or the status given.
struct FakeGithub {
    port: u16,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

impl FakeGithub {
    fn start(deployments_status: u16, statuses_status: u16) -> Self {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let recorded = Arc::clone(&requests);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { break };
                let recorded = Arc::clone(&recorded);
                std::thread::spawn(move || serve(stream, port, &recorded, deployments_status, statuses_status));
            }
        });
        Self { port, requests }
    }

    fn api_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }
}

fn serve(stream: TcpStream, port: u16, recorded: &Mutex<Vec<Recorded>>, deployments_status: u16, statuses_status: u16) {
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = request_line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_owned();
        let path = parts.next().unwrap_or_default().to_owned();
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').unwrap();
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
        let length: usize = headers.iter().find(|(k, _)| k == "content-length").map_or(0, |(_, v)| v.parse().unwrap());
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        let body: Value = if body.is_empty() { Value::Null } else { serde_json::from_slice(&body).unwrap() };
        recorded.lock().unwrap().push(Recorded { method, path: path.clone(), headers, body: body.clone() });

        let base = format!("http://127.0.0.1:{port}/repos/{REPOSITORY}");
        let (status, answer) = if path.ends_with("/deployments") && deployments_status == 201 {
            // https://docs.github.com/en/rest/deployments/deployments#create-a-deployment
            (
                201,
                json!({
                    "url": format!("{base}/deployments/42"), "id": 42, "node_id": "MDEwOkRlcGxveW1lbnQx",
                    "sha": body["ref"], "ref": body["ref"], "task": "deploy", "payload": body["payload"],
                    "original_environment": body["environment"], "environment": body["environment"],
                    "description": body["description"], "creator": {"login": "github-actions[bot]", "id": 41898282},
                    "created_at": "2024-05-01T10:00:00Z", "updated_at": "2024-05-01T10:00:00Z",
                    "statuses_url": format!("{base}/deployments/42/statuses"), "repository_url": base,
                    "transient_environment": false, "production_environment": false
                }),
            )
        } else if path.ends_with("/statuses") && statuses_status == 201 {
            // https://docs.github.com/en/rest/deployments/statuses#create-a-deployment-status
            (
                201,
                json!({
                    "url": format!("{base}/deployments/42/statuses/1"), "id": 1, "node_id": "MDE2OkRlcGxveW1lbnRTdGF0dXMx",
                    "state": body["state"], "creator": {"login": "github-actions[bot]", "id": 41898282},
                    "description": body["description"], "environment": "staging",
                    "target_url": body["log_url"], "log_url": body["log_url"], "environment_url": body["environment_url"],
                    "created_at": "2024-05-01T10:00:01Z", "updated_at": "2024-05-01T10:00:01Z",
                    "deployment_url": format!("{base}/deployments/42"), "repository_url": base
                }),
            )
        } else {
            let status = if path.ends_with("/deployments") { deployments_status } else { statuses_status };
            (
                status,
                json!({
                    "message": "Resource not accessible by integration",
                    "documentation_url": "https://docs.github.com/rest/deployments/deployments#create-a-deployment"
                }),
            )
        };
        let text = answer.to_string();
        let reason = if status == 201 { "Created" } else { "Error" };
        let response = format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\nX-GitHub-Media-Type: github.v3; format=json\r\n\r\n{text}",
            text.len()
        );
        if writer.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

fn settings(api_url: &str, console: &slipway_contract::Console) -> GithubSettings {
    let api_url = api_url.to_owned();
    let env = move |name: &str| -> Option<String> {
        match name {
            "GITHUB_TOKEN" => Some(TOKEN.to_owned()),
            "GITHUB_REPOSITORY" => Some(REPOSITORY.to_owned()),
            "GITHUB_SHA" => Some(SHA.to_owned()),
            "GITHUB_API_URL" => Some(api_url.clone()),
            "GITHUB_SERVER_URL" => Some("https://github.com".to_owned()),
            "GITHUB_RUN_ID" => Some("4242".to_owned()),
            _ => None,
        }
    };
    GithubSettings::from_env(&env, console).unwrap()
}

fn request() -> DeployRequest {
    DeployRequest {
        image: format!("127.0.0.1:5555/acme/shop@sha256:{}", "ab".repeat(32)),
        rollout: Rollout::plain(Strategy::Direct),
        phase: Phase::Deploy,
        version_label: "v1.2.0-abababababab".into(),
        port: 8080,
        timeout: Duration::from_secs(60),
        dry_run: false,
        analysis: None,
    }
}

fn assert_github_headers(request: &Recorded) {
    assert_eq!(request.method, "POST");
    assert_eq!(request.header("authorization"), vec![format!("Bearer {TOKEN}").as_str()]);
    assert_eq!(request.header("accept"), vec!["application/vnd.github+json"]);
    assert_eq!(request.header("x-github-api-version"), vec!["2022-11-28"]);
    assert_eq!(request.header("content-type"), vec!["application/json"]);
    assert!(!request.header("user-agent").is_empty(), "GitHub refuses requests without a User-Agent");
}

/// Every line holding the token is the mask announcement.
fn assert_token_only_masked(text: &str) {
    for line in text.lines().filter(|line| line.contains(TOKEN)) {
        assert_eq!(line, format!("::add-mask::{TOKEN}"), "the token leaked: {text}");
    }
}

#[tokio::test]
async fn records_the_deployment_its_progress_and_its_success() {
    let fake = FakeGithub::start(201, 201);
    let log = CapturedLog::default();
    let console = log.console("deploy", CiMode::GitHub);
    let deployment =
        GithubDeployment::start(&settings(&fake.api_url(), &console), "staging", &request(), &console).await.unwrap();
    assert_eq!(deployment.id, 42);
    let outcome = DeployOutcome {
        url: "http://127.0.0.1:18080".into(),
        version_label: "v1.2.0-abababababab".into(),
        previous_version: "v1.1.0-cdcdcdcdcdcd".into(),
        deployment_id: "c0ffee".into(),
        status: Status::Deployed,
        health: "healthy".into(),
        details: Vec::new(),
    };
    deployment.finish(&Ok(outcome), &console).await;

    let requests = fake.requests();
    assert_eq!(requests.len(), 3, "{requests:#?}");
    assert_eq!(requests[0].path, "/repos/acme/shop/deployments");
    assert_eq!(
        requests[0].body,
        json!({
            "ref": SHA,
            "environment": "staging",
            "auto_merge": false,
            "required_contexts": [],
            "description": "deploy v1.2.0-abababababab with slipway",
            "payload": {
                "image": request().image,
                "version_label": "v1.2.0-abababababab",
                "strategy": "direct",
                "phase": "deploy"
            }
        })
    );
    assert_eq!(requests[1].path, "/repos/acme/shop/deployments/42/statuses");
    assert_eq!(
        requests[1].body,
        json!({"state": "in_progress", "description": "deploy v1.2.0-abababababab with slipway", "log_url": RUN_LOG})
    );
    assert_eq!(requests[2].path, "/repos/acme/shop/deployments/42/statuses");
    assert_eq!(
        requests[2].body,
        json!({
            "state": "success",
            "description": "v1.2.0-abababababab is deployed",
            "log_url": RUN_LOG,
            "environment_url": "http://127.0.0.1:18080"
        })
    );
    for request in &requests {
        assert_github_headers(request);
    }
    let text = log.text();
    assert!(text.starts_with(&format!("::add-mask::{TOKEN}\n")), "{text}");
    assert_token_only_masked(&text);
    assert!(text.contains("recorded GitHub deployment 42") && text.contains("GitHub deployment 42: success"), "{text}");
}

#[tokio::test]
async fn a_failed_deployment_is_recorded_as_failure_with_a_short_redacted_description() {
    let fake = FakeGithub::start(201, 201);
    let log = CapturedLog::default();
    let console = log.console("deploy", CiMode::GitHub);
    let deployment = GithubDeployment::start(&settings(&fake.api_url(), &console), "production", &request(), &console)
        .await
        .unwrap();
    let message = format!("the new container (v1.2.0) exited with code 1 after 0s; token {TOKEN} {}", "x".repeat(200));
    let failure = DeployError::Failed { message, status: Status::Restored, detail: Vec::new() };
    deployment.finish(&Err(failure), &console).await;

    let requests = fake.requests();
    assert_eq!(requests.len(), 3);
    let last = &requests[2].body;
    assert_eq!(last["state"], "failure");
    assert_eq!(last["log_url"], RUN_LOG);
    assert!(last.get("environment_url").is_none());
    let description = last["description"].as_str().unwrap();
    assert_eq!(description.chars().count(), 140);
    assert!(
        description.starts_with("the new container (v1.2.0) exited with code 1 after 0s; token *** x"),
        "{description}"
    );
    assert!(!requests.iter().any(|r| r.body.to_string().contains(TOKEN)), "the token is sent only as a header");
    assert_token_only_masked(&log.text());
}

#[tokio::test]
async fn a_judged_rollout_s_statuses_carry_its_timeline_in_brief() {
    let fake = FakeGithub::start(201, 201);
    let log = CapturedLog::default();
    let console = log.console("deploy", CiMode::GitHub);
    let settings = settings(&fake.api_url(), &console);
    let outcome = DeployOutcome {
        url: "http://127.0.0.1:18080".into(),
        version_label: "v1.2.0".into(),
        previous_version: "v1.1.0".into(),
        deployment_id: "c0ffee".into(),
        status: Status::Promoted,
        health: "started".into(),
        details: Vec::new(),
    };
    let promoted = GithubDeployment::start(&settings, "staging", &request(), &console).await.unwrap();
    promoted.finish_judged(&Ok(outcome), Some("promoted; 10% ok; 50% ok; watch 100% ok"), &console).await;
    // The failure's status: the brief, not the long message; cut to GitHub's limit.
    let aborted = GithubDeployment::start(&settings, "staging", &request(), &console).await.unwrap();
    let message = format!("the canary was aborted at step 2 of 2 at 25%: {}", "y".repeat(300));
    let failure = DeployError::Failed { message, status: Status::Aborted, detail: Vec::new() };
    let long = format!("aborted; 10% ok; 25% error rate 33.3% (4 of 12) vs <= 5%; {}", "z".repeat(200));
    aborted.finish_judged(&Err(failure), Some(&long), &console).await;

    let requests = fake.requests();
    assert_eq!(requests.len(), 6, "{requests:#?}");
    assert_eq!(
        requests[2].body,
        json!({
            "state": "success",
            "description": "v1.2.0 promoted; 10% ok; 50% ok; watch 100% ok",
            "log_url": RUN_LOG,
            "environment_url": "http://127.0.0.1:18080"
        })
    );
    assert_eq!(requests[5].body["state"], "failure");
    assert_eq!(requests[5].body["log_url"], RUN_LOG);
    let description = requests[5].body["description"].as_str().unwrap();
    assert_eq!(description.chars().count(), 140);
    assert!(description.starts_with("aborted; 10% ok; 25% error rate 33.3% (4 of 12) vs <= 5%; zzz"), "{description}");
}

#[tokio::test]
async fn a_refused_deployment_is_a_usage_error_and_a_lost_status_only_a_warning() {
    let refusing = FakeGithub::start(403, 201);
    let log = CapturedLog::default();
    let console = log.console("deploy", CiMode::GitHub);
    let error = GithubDeployment::start(&settings(&refusing.api_url(), &console), "staging", &request(), &console)
        .await
        .unwrap_err();
    match error {
        DeployError::Usage(message) => {
            assert!(message.contains("403 Resource not accessible by integration"), "{message}");
            assert!(message.contains("deployments: write"), "{message}");
        }
        other => panic!("expected a usage error, got {other:?}"),
    }

    let flaky = FakeGithub::start(201, 500);
    let log = CapturedLog::default();
    let console = log.console("deploy", CiMode::GitHub);
    let deployment =
        GithubDeployment::start(&settings(&flaky.api_url(), &console), "staging", &request(), &console).await.unwrap();
    let outcome = DeployOutcome {
        url: String::new(),
        version_label: "v1.2.0-abababababab".into(),
        previous_version: String::new(),
        deployment_id: String::new(),
        status: Status::Deployed,
        health: String::new(),
        details: Vec::new(),
    };
    deployment.finish(&Ok(outcome), &console).await;
    let text = log.text();
    assert!(text.contains("::warning::cannot set GitHub deployment 42 in progress: 500"), "{text}");
    assert!(text.contains("::warning::cannot record success on GitHub deployment 42: 500"), "{text}");
    assert_token_only_masked(&text);
}

fn deploy_with_github(fake: &FakeGithub, args: &[&str], token: Option<&str>) -> StepRun {
    let mut command = deploy_command();
    command
        .args(["--target", "docker", "--strategy", "direct", "--github-deployment", "--environment-name", "staging"])
        .args(["--timeout", "3m"])
        .args(args)
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_REPOSITORY", REPOSITORY)
        .env("GITHUB_SHA", SHA)
        .env("GITHUB_API_URL", fake.api_url())
        .env("GITHUB_SERVER_URL", "https://github.com")
        .env("GITHUB_RUN_ID", "4242");
    if let Some(token) = token {
        command.env("GITHUB_TOKEN", token);
    }
    run(command)
}

#[test]
fn without_a_token_github_deployment_exits_2_and_records_nothing() {
    let fake = FakeGithub::start(201, 201);
    let image = format!("127.0.0.1:5555/deploy-test/app@sha256:{}", "0".repeat(64));
    let run = deploy_with_github(&fake, &["--image", &image], None);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.starts_with("::error title=deploy::--github-deployment needs GITHUB_TOKEN in the environment"),
        "{}",
        run.stderr
    );
    assert!(fake.requests().is_empty());
}

#[test]
fn the_deploy_binary_records_a_docker_deployment_and_a_failed_one() {
    let Some(images) = images() else { return };
    let fake = FakeGithub::start(201, 201);
    let name = unique_name("github");
    let _cleanup = Containers(name.clone());
    let port = free_port();
    let publish = format!("127.0.0.1:{port}:8080");

    let good = deploy_with_github(&fake, &["--name", &name, "--publish", &publish, "--image", &images.v1], Some(TOKEN));
    assert_eq!(good.code, 0, "{}", good.stderr);
    assert!(good.stderr.starts_with(&format!("::add-mask::{TOKEN}\n")), "masked before anything else: {}", good.stderr);
    assert_token_only_masked(&good.stderr);
    assert!(!good.stdout.contains(TOKEN));
    let url = format!("http://127.0.0.1:{port}");
    assert_eq!(good.output("url"), Some(url.as_str()));
    let label = good.output("version-label").unwrap().to_owned();
    assert!(label.starts_with("3f2a9c1-"), "GITHUB_SHA's short form, then the digest: {label}");

    let bad =
        deploy_with_github(&fake, &["--name", &name, "--publish", &publish, "--image", &images.broken], Some(TOKEN));
    assert_eq!(bad.code, 1, "{}", bad.stderr);
    assert_token_only_masked(&bad.stderr);

    let requests = fake.requests();
    assert_eq!(requests.len(), 6, "{requests:#?}");
    assert_eq!(requests[0].body["environment"], "staging");
    assert_eq!(requests[0].body["ref"], SHA);
    assert_eq!(requests[0].body["payload"]["image"], images.v1.as_str());
    assert_eq!(requests[1].body["state"], "in_progress");
    assert_eq!(requests[2].body["state"], "success");
    assert_eq!(requests[2].body["environment_url"], url.as_str());
    assert_eq!(requests[2].body["description"], format!("{label} is deployed").as_str());
    assert_eq!(requests[3].body["payload"]["image"], images.broken.as_str());
    assert_eq!(requests[4].body["state"], "in_progress");
    assert_eq!(requests[5].body["state"], "failure");
    assert!(requests[5].body["description"].as_str().unwrap().contains("exited with code 1"), "{:?}", requests[5].body);
    for request in &requests {
        assert_github_headers(request);
    }
}
