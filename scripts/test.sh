#!/usr/bin/env bash
# The test command: formatting, unused dependencies, then every unit, integration and
# pipeline test, lints, and last the secret scan of everything the steps wrote during the tests.
# Tests that need Maven, Gradle or Java skip without them unless SLIPWAY_REQUIRE_E2E=1.
set -euo pipefail
cd "$(dirname "$0")/.."
export AWS_EC2_METADATA_DISABLED=true

cargo fmt --all -- --check
# No dependency a crate does not use (scripts/install-deps.sh installs cargo-machete).
cargo machete
cargo build --workspace --all-targets --locked

# Every step run of the tests records what it wrote here (slipway_testkit::secrets); the
# scan below fails on any of the suite's canary secrets found in it, plain or base64.
SLIPWAY_SECRET_SCAN_DIR="$(mktemp -d "${TMPDIR:-/tmp}/slipway-secret-scan.XXXXXX")"
export SLIPWAY_SECRET_SCAN_DIR
trap 'rm -rf "$SLIPWAY_SECRET_SCAN_DIR"' EXIT

# The scan runs whatever the tests' outcome (a failing test's leak is a leak too); any
# failure fails the run.
status=0
cargo test --workspace --locked --no-fail-fast || status=$?
cargo clippy --workspace --all-targets --locked -- -D warnings || status=$?
# scripts/pipeline.sh's lighter build (no cloud targets: --no-default-features) compiles clean.
cargo clippy --workspace --exclude xtask --bins --no-default-features --locked -- -D warnings || status=$?
"${CARGO_TARGET_DIR:-target}/debug/secret-scan" "$SLIPWAY_SECRET_SCAN_DIR" || status=$?
exit "$status"
