#!/usr/bin/env bash
# The full fault campaign (issue 12): SLIPWAY_FAULT_PUSHES pushes (default 50) of a
# multi-layer image through fault proxies (connection resets, 500s, 429 with Retry-After,
# stalled answers and uploads, truncated bodies), each complete and digest-verified, then the
# check that a stalled upload never outlives --timeout. The normal test run does 10 pushes.
#
#   scripts/fault-campaign.sh            50 pushes
#   SLIPWAY_FAULT_PUSHES=200 scripts/fault-campaign.sh
#
# Needs docker-registry (scripts/install-deps.sh); the test starts its own registry on a
# free loopback port. Prints the proxies' counts and the campaign's wall time.
set -euo pipefail
cd "$(dirname "$0")/.."
export AWS_EC2_METADATA_DISABLED=true
export SLIPWAY_FAULT_PUSHES="${SLIPWAY_FAULT_PUSHES:-50}"
# A missing docker-registry fails the campaign instead of skipping it.
export SLIPWAY_REQUIRE_E2E=1

# --workspace (not --package): the same feature set as the suite, so nothing is rebuilt.
cargo test --locked --workspace --test faults -- --nocapture --test-threads=1
