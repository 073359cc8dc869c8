#!/usr/bin/env bash
# The test command: formatting, unused dependencies, lints, then every unit, integration and
# pipeline test.
# Tests that need Maven, Gradle or Java skip without them unless SLIPWAY_REQUIRE_E2E=1.
set -euo pipefail
cd "$(dirname "$0")/.."
export AWS_EC2_METADATA_DISABLED=true

cargo fmt --all -- --check
# No dependency a crate does not use (scripts/install-deps.sh installs cargo-machete).
cargo machete
cargo build --workspace --all-targets --locked
cargo test --workspace --locked --no-fail-fast
cargo clippy --workspace --all-targets --locked -- -D warnings
