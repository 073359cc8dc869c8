//! push-image (and containerize's base pull) against the distribution registry with
//! `auth: token`: a token service of the test's own signs the JWTs, and the registry
//! checks each itself ([`slipway_testkit::registries`]). Covers pull, push and
//! cross-repository mount scopes, refused credentials, and tokens that expire mid-push,
//! announced or not. Skips without `docker-registry` unless SLIPWAY_REQUIRE_E2E=1.

#![allow(clippy::unwrap_used)] // Test helpers panic on broken fixtures, as tests do.

mod common;

use common::{Sizes, layout, push_image, top_digest};
use std::path::Path;
use std::time::Duration;

use slipway_testkit::faults::{FaultPlan, FaultProxy};
use slipway_testkit::http::verify_image;
use slipway_testkit::registries::{TokenPolicy, TokenRegistry, registry_ready};
use slipway_testkit::{StepRun, run_with_sinks};

const USER: &str = "token-user";
const PASSWORD: &str = slipway_testkit::secrets::TOKEN_SERVICE_PASSWORD;

/// The layer sizes this test pushes.
const SIZES: Sizes = Sizes { app_kib: 32, extra_kib: 16 };

fn push(layout: &Path, image: &str, password: &str, extra: &[&str], sinks: &Path) -> StepRun {
    let mut command = push_image();
    command
        .arg("--layout")
        .arg(layout)
        .args(["--image", image, "--tag", "1", "--username", USER])
        .args(extra)
        .env("REGISTRY_PASSWORD", password);
    run_with_sinks(command, sinks)
}

/// A token is a JWT, and every JWT starts with `eyJ` (`{"` in base64url).
fn assert_no_token_written(run: &StepRun) {
    run.assert_never_wrote("eyJ");
    run.assert_never_wrote(PASSWORD);
}

fn anonymous_pull_policy() -> TokenPolicy {
    let mut policy = TokenPolicy::user(USER, PASSWORD);
    policy.anonymous_pull = true;
    policy
}

#[test]
fn pull_push_and_mount_scopes_are_asked_for_and_honoured() {
    let Some(registry) = TokenRegistry::start(anonymous_pull_policy()) else { return };
    let work = tempfile::tempdir().unwrap();
    let host = registry.host();

    // Push: a base image, with a token scoped for push.
    let base_layout = layout(work.path(), "scratch", 1, SIZES);
    let base = push(&base_layout, &format!("{host}/base/app"), PASSWORD, &[], work.path());
    assert_eq!(base.code, 0, "{}\n{}", base.stderr, registry.log());
    assert_no_token_written(&base);
    let digest = verify_image(registry.port, "base/app", "1", Some(&registry.pull_authorization("base/app"))).unwrap();
    assert_eq!(digest, top_digest(&base_layout));

    // Pull: containerize reads that base anonymously, with a token scoped for pull.
    let app_layout = layout(work.path(), &format!("{host}/base/app:1"), 0, SIZES);

    // Mount: the app's base layers come across from base/app, which needs pull there.
    let app = push(&app_layout, &format!("{host}/team/app"), PASSWORD, &[], work.path());
    assert_eq!(app.code, 0, "{}\n{}", app.stderr, registry.log());
    assert_no_token_written(&app);
    assert_eq!(app.output("blobs-mounted"), Some("2"), "the base's two layers are mounted: {}", app.stderr);
    let digest = verify_image(registry.port, "team/app", "1", Some(&registry.pull_authorization("team/app"))).unwrap();
    assert_eq!(digest, top_digest(&app_layout));

    let requests = registry.tokens.requests();
    let asked = |account: Option<&str>, scopes: &[&str]| {
        requests.iter().any(|r| {
            r.status == 200 && r.account.as_deref() == account && scopes.iter().all(|s| r.scopes.iter().any(|x| x == s))
        })
    };
    assert!(asked(Some(USER), &["repository:base/app:pull,push"]), "{requests:?}");
    assert!(asked(None, &["repository:base/app:pull"]), "containerize's anonymous pull: {requests:?}");
    assert!(
        asked(Some(USER), &["repository:team/app:pull,push", "repository:base/app:pull"]),
        "one token for the push and the mount's source: {requests:?}"
    );
}

#[test]
fn refused_credentials_end_with_one_line_and_exit_2() {
    let Some(registry) = TokenRegistry::start(TokenPolicy::user(USER, PASSWORD)) else { return };
    let work = tempfile::tempdir().unwrap();
    let layout = layout(work.path(), "scratch", 0, SIZES);
    let run = push(
        &layout,
        &format!("{}/refused/app", registry.host()),
        slipway_testkit::secrets::WRONG_REGISTRY_PASSWORD,
        &[],
        work.path(),
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    let errors: Vec<&str> = run.stderr.lines().filter(|l| l.starts_with("push-image: error: ")).collect();
    assert_eq!(errors.len(), 1, "{}", run.stderr);
    assert!(errors[0].contains("refused the credentials from the explicit login"), "{}", errors[0]);
    assert!(run.stdout.is_empty());
    let status = verify_image(registry.port, "refused/app", "1", Some(&registry.pull_authorization("refused/app")));
    assert!(status.is_err(), "nothing was pushed");
}

/// Pushes a six-blob image one blob at a time through a proxy that holds every answer
/// back 250 ms, so that the push outlives tokens that live 3 seconds.
fn push_outliving_tokens(policy: TokenPolicy) -> (StepRun, TokenRegistry) {
    let registry = TokenRegistry::start(policy).unwrap();
    let proxy = FaultProxy::start(
        registry.port,
        FaultPlan { stall: 1000, stall_for: Duration::from_millis(250), ..FaultPlan::calm(7) },
    )
    .unwrap();
    let work = tempfile::tempdir().unwrap();
    let layout = layout(work.path(), "scratch", 4, SIZES);
    let started = std::time::Instant::now();
    let run = push(
        &layout,
        &format!("127.0.0.1:{}/slow/app", proxy.port),
        PASSWORD,
        &["--concurrency", "1", "--timeout", "2m"],
        work.path(),
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stderr, registry.log());
    assert!(started.elapsed() > Duration::from_secs(4), "the push outlived a token: {:?}", started.elapsed());
    assert_no_token_written(&run);
    let digest = verify_image(registry.port, "slow/app", "1", Some(&registry.pull_authorization("slow/app"))).unwrap();
    assert_eq!(digest, top_digest(&layout));
    (run, registry)
}

#[test]
fn a_token_announced_to_expire_mid_push_is_renewed_before_it_does() {
    if !registry_ready() {
        return;
    }
    let mut policy = TokenPolicy::user(USER, PASSWORD);
    policy.lifetime = Duration::from_secs(3);
    let (run, registry) = push_outliving_tokens(policy);
    let issued = registry.tokens.requests().iter().filter(|r| r.account.as_deref() == Some(USER)).count();
    assert!(issued >= 2, "the token was renewed: {issued} issued\n{}", run.stderr);
    assert!(!run.stderr.contains("refused its token"), "renewed before the registry refused it:\n{}", run.stderr);
}

#[test]
fn a_token_that_expires_unannounced_mid_push_is_renewed_when_refused() {
    if !registry_ready() {
        return;
    }
    let mut policy = TokenPolicy::user(USER, PASSWORD);
    policy.lifetime = Duration::from_secs(3);
    policy.announced = Some(Duration::from_secs(3600));
    let (run, registry) = push_outliving_tokens(policy);
    let issued = registry.tokens.requests().iter().filter(|r| r.account.as_deref() == Some(USER)).count();
    assert!(issued >= 2, "the token was renewed: {issued} issued\n{}", run.stderr);
    assert!(run.stderr.contains("refused its token; asking for a new one"), "{}", run.stderr);
}

/// No credentials for a plain-HTTP registry: the push starts without asking `/v2/` how to
/// authorize, and learns it from the registry's first challenge: it asks the token service
/// for an anonymous token with the push's scopes. That token grants pull only here, so the
/// push is refused (exit 2, one line) with nothing written.
#[test]
fn an_anonymous_push_learns_the_token_flow_from_the_first_challenge() {
    let Some(registry) = TokenRegistry::start(anonymous_pull_policy()) else { return };
    let work = tempfile::tempdir().unwrap();
    let layout = layout(work.path(), "scratch", 0, SIZES);
    let mut command = push_image();
    command.arg("--layout").arg(&layout).args(["--image", &format!("{}/anonymous/app", registry.host()), "--tag", "1"]);
    let run = run_with_sinks(command, work.path());
    assert_eq!(run.code, 2, "{}\n{}", run.stderr, registry.log());
    let errors: Vec<&str> = run.stderr.lines().filter(|l| l.starts_with("push-image: error: ")).collect();
    assert_eq!(errors.len(), 1, "{}", run.stderr);
    assert!(errors[0].contains("refused to let these credentials push"), "{}", errors[0]);
    let requests = registry.tokens.requests();
    assert!(
        requests.iter().any(|r| r.account.is_none()
            && r.status == 200
            && r.scopes.iter().any(|s| s == "repository:anonymous/app:pull,push")),
        "an anonymous token was asked for the push's scopes after the first challenge: {requests:?}"
    );
    let status = verify_image(registry.port, "anonymous/app", "1", Some(&registry.pull_authorization("anonymous/app")));
    assert!(status.is_err(), "nothing was pushed");
}
