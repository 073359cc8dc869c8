#!/usr/bin/env bash
# Finds or fetches one slipway binary for an action and prints its path (nothing else on
# standard output; progress goes to standard error). Usage: setup.sh STEP
#
# In order:
#   1. $SLIPWAY_BIN_DIR/STEP, when SLIPWAY_BIN_DIR is set and holds it;
#   2. STEP on PATH, when it is slipway's (its --version starts with "STEP ");
#   3. the release asset slipway-STEP-<os>-<arch> of the action's version (SLIPWAY_ACTION_REF,
#      a tag) from GitHub releases of SLIPWAY_ACTION_REPOSITORY, checked against its .sha256
#      (SLIPWAY_RELEASE_BASE_URL replaces https://github.com, for a mirror or GitHub Enterprise);
#   4. cargo install --locked --path <the action's checkout>/crates/STEP.
# Environment: RUNNER_OS, RUNNER_ARCH (any case), RUNNER_TOOL_CACHE or RUNNER_TEMP (where
# fetched binaries go).
set -euo pipefail

step="${1:?usage: setup.sh STEP}"
case "$step" in
  build-jar | containerize | push-image | deploy | verify) ;;
  *) echo "setup.sh: unknown step '$step'" >&2; exit 2 ;;
esac
log() { echo "slipway setup: $*" >&2; }
is_slipway() { [ -x "$1" ] && "$1" --version 2>/dev/null | grep -q "^$step "; }

# 1. An explicit directory.
if [ -n "${SLIPWAY_BIN_DIR:-}" ]; then
  if is_slipway "$SLIPWAY_BIN_DIR/$step"; then
    echo "$SLIPWAY_BIN_DIR/$step"
    exit 0
  fi
  log "SLIPWAY_BIN_DIR=$SLIPWAY_BIN_DIR holds no working $step; looking further"
fi

# 2. PATH.
if found="$(command -v "$step" 2>/dev/null)" && is_slipway "$found"; then
  echo "$found"
  exit 0
fi

# The action's own checkout: this script is its actions/setup/setup.sh (for a step's action
# that is $GITHUB_ACTION_PATH/../..; for the top-level action, $GITHUB_ACTION_PATH).
checkout="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
version="${SLIPWAY_ACTION_REF:-}"
cache="${RUNNER_TOOL_CACHE:-${RUNNER_TEMP:-${TMPDIR:-/tmp}}}/slipway/${version:-source}"
mkdir -p "$cache/bin"
if is_slipway "$cache/bin/$step"; then
  echo "$cache/bin/$step"
  exit 0
fi

# 3. The release asset of the action's version (only for a tag-like ref: not a branch or SHA).
os="$(tr '[:upper:]' '[:lower:]' <<<"${RUNNER_OS:-$(uname -s)}")"
arch="$(tr '[:upper:]' '[:lower:]' <<<"${RUNNER_ARCH:-$(uname -m)}")"
case "$arch" in x86_64 | amd64) arch=x64 ;; aarch64) arch=arm64 ;; esac
repository="${SLIPWAY_ACTION_REPOSITORY:-slipway-dev/slipway}"
if [[ "$version" =~ ^v[0-9]+(\.[0-9]+)*([-+].*)?$ ]] && command -v curl >/dev/null; then
  asset="slipway-$step-$os-$arch"
  url="${SLIPWAY_RELEASE_BASE_URL:-https://github.com}/$repository/releases/download/$version/$asset"
  log "downloading $url"
  tmp="$(mktemp -d)"
  if curl -fsSL --retry 3 -o "$tmp/$asset" "$url" && curl -fsSL --retry 3 -o "$tmp/$asset.sha256" "$url.sha256"; then
    expected="$(awk '{print $1; exit}' "$tmp/$asset.sha256")"
    if [ "$(sha256sum "$tmp/$asset" | awk '{print $1}')" != "$expected" ]; then
      log "checksum mismatch for $asset (expected $expected): refusing it"
      rm -rf "$tmp"
      exit 1
    fi
    chmod +x "$tmp/$asset"
    mv "$tmp/$asset" "$cache/bin/$step"
    rm -rf "$tmp"
    echo "$cache/bin/$step"
    exit 0
  fi
  rm -rf "$tmp"
  log "no release asset $asset for $version; building from source"
fi

# 4. From the action's own checkout.
if [ -f "$checkout/crates/$step/Cargo.toml" ] && command -v cargo >/dev/null; then
  log "cargo install --locked --path $checkout/crates/$step"
  cargo install --quiet --locked --path "$checkout/crates/$step" --root "$cache" --bin "$step" >&2
  echo "$cache/bin/$step"
  exit 0
fi
log "cannot find or build $step: set SLIPWAY_BIN_DIR, put it on PATH, or install Rust (cargo)"
exit 1
