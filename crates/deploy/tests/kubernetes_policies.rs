//! deploy --target kubernetes --render judged by third parties: kubernetes-validate
//! --strict (the official schemas, unknown fields refused) and checkov's Kubernetes
//! policies, with zero failed checks. A deliberate exception lives on the object as a
//! `checkov.io/skip` annotation with its reason. Both from PyPI (scripts/install-deps.sh);
//! missing, they skip, except under SLIPWAY_REQUIRE_E2E=1.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers panic on broken fixtures, as tests do.

use std::path::Path;
use std::process::Command;

use slipway_testkit::{command_works, prerequisite, run_with_sinks, step_command};

const IMAGE: &str =
    "registry.example:5000/shop@sha256:1111111111111111111111111111111111111111111111111111111111111111";

/// Renders the objects of a deployment using every optional object into `dir`.
fn render(dir: &Path, extra: &[&str]) -> std::path::PathBuf {
    let file = dir.join("shop.yaml");
    let mut command = step_command(env!("CARGO_BIN_EXE_deploy"));
    command.env_remove("KUBECONFIG").env("HOME", dir).args([
        "--target",
        "kubernetes",
        "--name",
        "shop",
        "--namespace",
        "shop-prod",
        "--image",
        IMAGE,
        "--version-label",
        "1.0.0-111111111111",
        "--run-as",
        "65532:65532",
        "--render",
    ]);
    command.arg(&file).args(extra);
    let run = run_with_sinks(command, dir);
    assert_eq!(run.code, 0, "{}", run.stderr);
    slipway_testkit::secrets::record_file("deploy --render", &file);
    file
}

/// Every optional object: namespace, secret, ingress with TLS, a claim for configuration,
/// metrics, a service account.
const FULL: [&str; 16] = [
    "--create-namespace",
    "--secret-env",
    "DB_PASSWORD",
    "--host",
    "shop.example.com",
    "--tls-secret",
    "shop-tls",
    "--config-volume",
    "/config",
    "--config-claim",
    "shop-config",
    "--metrics-path",
    "/metrics",
    "--service-account",
    "shop",
    "--replicas=3",
];

/// A canary beside 3 main pods at its first step, and blue-green's first colour with its
/// preview and the Service --promote applies.
const CANARY: [&str; 6] = ["--strategy", "canary", "--steps", "25,50", "--replicas", "3"];
const BLUE_GREEN: [&str; 5] = ["--strategy", "blue-green", "--host", "shop.example.com", "--replicas=3"];
/// A canary behind a Gateway: the HTTPRoute's weights, the canary's pods apart.
const GATEWAY_CANARY: [&str; 10] = [
    "--strategy",
    "canary",
    "--steps",
    "25,50",
    "--host",
    "shop.example.com",
    "--gateway",
    "public/infra",
    "--replicas",
    "3",
];

/// Every render the policy tests judge, named.
fn renders() -> [(&'static str, &'static [&'static str]); 5] {
    [
        ("plain", &[]),
        ("full", &FULL),
        ("canary", &CANARY),
        ("blue-green", &BLUE_GREEN),
        ("gateway-canary", &GATEWAY_CANARY),
    ]
}

/// kubernetes-validate bundles the official schemas only, no Gateway API CRD: its one
/// warning for an HTTPRoute says so (the unit test `http_route_shape` in manifests.rs
/// checks its documented v1 fields instead). Any other warning counts.
fn warnings(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|line| line.contains("WARN") || line.contains("ERROR"))
        .filter(|line| {
            !line.contains("Couldn't find schema for kind HTTPRoute with api version gateway.networking.k8s.io/v1")
        })
        .collect()
}

fn output(command: &mut Command) -> (bool, String) {
    let output = command.output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

#[test]
fn rendered_objects_pass_kubernetes_validate_strict() {
    if !prerequisite(
        "kubernetes-validate (pip install kubernetes-validate; scripts/install-deps.sh)",
        command_works("kubernetes-validate", &["--version"]),
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (name, extra) in renders() {
        let file = render(dir.path(), extra);
        let (ok, text) = output(Command::new("kubernetes-validate").arg("--strict").arg(&file));
        assert!(
            ok,
            "{name}: kubernetes-validate --strict refused the render:\n{text}\n{}",
            std::fs::read_to_string(&file).unwrap()
        );
        assert!(warnings(&text).is_empty(), "{name}:\n{text}");
        if name == "gateway-canary" {
            assert!(text.contains("HTTPRoute"), "the route was rendered and seen: {text}");
        }
    }
}

#[test]
fn rendered_objects_pass_checkov_with_zero_failed_checks() {
    if !prerequisite(
        "checkov (scripts/install-deps.sh puts it in /opt/checkov-venv)",
        command_works("checkov", &["--version"]),
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (name, extra) in renders() {
        let file = render(dir.path(), extra);
        let (ok, text) = output(
            Command::new("checkov")
                .args(["--framework", "kubernetes", "--skip-download", "--compact", "--quiet", "--file"])
                .arg(&file)
                .env("HOME", dir.path()),
        );
        assert!(ok, "{name}: checkov failed checks:\n{text}");
        assert!(!text.contains("FAILED for resource"), "{name}:\n{text}");
    }
}
