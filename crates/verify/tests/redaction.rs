//! Credentials in verify's URLs never reach what it writes: a `--url` with user info or
//! a query is refused without being echoed whole, and a check whose query carries a
//! token is sent as given but printed without its query.

mod common;

use std::process::Command;

use common::{Reply, TestServer};
use slipway_testkit::{StepRun, run_with_sinks, step_command};

const CANARY: &str = slipway_testkit::secrets::URL_CREDENTIAL;

/// The verify binary under GitHub Actions, with no proxy of the machine.
fn verify_in_ci() -> Command {
    let mut command = step_command(env!("CARGO_BIN_EXE_verify"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().to_ascii_uppercase().ends_with("_PROXY") {
            command.env_remove(name);
        }
    }
    command.env("GITHUB_ACTIONS", "true");
    command
}

fn run(args: &[&str]) -> StepRun {
    let sinks = tempfile::tempdir().expect("a temporary directory");
    let mut command = verify_in_ci();
    command.args(args);
    run_with_sinks(command, sinks.path())
}

fn error_line(run: &StepRun) -> &str {
    run.stderr.lines().find(|l| l.starts_with("::error title=verify::")).unwrap_or_else(|| panic!("{}", run.stderr))
}

#[test]
fn a_url_with_credentials_or_a_token_is_refused_without_echoing_them() {
    let server = TestServer::http(|_| Reply::ok("up"));
    let port = server.port;
    let cases = [
        (format!("http://user:{CANARY}@127.0.0.1:{port}/"), "holds credentials".to_owned()),
        (format!("http://127.0.0.1:{port}/?token={CANARY}"), format!("`http://127.0.0.1:{port}/?…` has a query")),
        (
            format!("http://127.0.0.1:{port}/#access_token={CANARY}"),
            format!("`http://127.0.0.1:{port}/#…` has a query"),
        ),
        (format!("ftp://user:{CANARY}@127.0.0.1/"), "`ftp://…@127.0.0.1/` uses the scheme `ftp`".to_owned()),
        (format!("http://user:{CANARY}@127.0.0.1:port/"), "`http://…@127.0.0.1:port/` is not a URL".to_owned()),
    ];
    for (url, message) in cases {
        let refused = run(&["--url", &url, "--timeout", "3s"]);
        assert_eq!(refused.code, 2, "{url}: {}", refused.stderr);
        assert!(error_line(&refused).contains(&message), "{url}: {}", refused.stderr);
        refused.assert_never_wrote(CANARY);
    }
    assert_eq!(server.hits(), 0, "no request on bad input");
}

#[test]
fn a_token_in_a_check_query_is_sent_but_never_printed() {
    let server = TestServer::http(|request| match request.path.as_str() {
        path if path.starts_with("/health?") && path.contains(CANARY) => Reply::json(r#"{"status":"UP"}"#),
        _ => Reply::new(503, "down"),
    });
    let healthy = run(&["--url", &server.url(), "--check", &format!("/health?token={CANARY}"), "--timeout", "5s"]);
    assert_eq!(healthy.code, 0, "the token reached the service: {}", healthy.stderr);
    healthy.assert_never_wrote(CANARY);
    assert!(healthy.summary.as_deref().unwrap_or_default().contains("GET /health?…"), "{:?}", healthy.summary);

    let unhealthy = run(&["--url", &server.url(), "--check", &format!("/down?token={CANARY}"), "--timeout", "2s"]);
    assert_eq!(unhealthy.code, 1, "{}", unhealthy.stderr);
    unhealthy.assert_never_wrote(CANARY);
    assert!(error_line(&unhealthy).contains("GET /down?…"), "{}", unhealthy.stderr);
}
