#!/usr/bin/env bash
# The main job: runs the slipway pipeline on the bundled sample app, on this machine.
#
#   build-jar  builds the sample's fat JAR offline with Maven (Debian's Maven repository)
#   (run)      starts it on a free loopback port (the stand-in for `deploy` until it lands)
#   verify     proves that the version serving is the one just built, and that it is healthy
#
# Steps chain through their outputs, read back from the GitLab-style dotenv report.
# Prints the URL of the running app at the end. Environment:
#   SLIPWAY_BIN_DIR   use the binaries there instead of building them with cargo
#   SLIPWAY_WORK_DIR  where reports go (default: a fresh temporary directory)
#   SLIPWAY_KEEP_RUNNING=0  stop the app when the pipeline ends (default: leave it serving)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

"$root/scripts/install-deps.sh" >&2

if [ -z "${SLIPWAY_BIN_DIR:-}" ]; then
  echo "==> cargo build" >&2
  (cd "$root" && cargo build --locked --workspace --bins --quiet)
  SLIPWAY_BIN_DIR="$(cd "$root" && cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/debug"
fi
work="${SLIPWAY_WORK_DIR:-$(mktemp -d)}"
mkdir -p "$work"
report="$work/pipeline.env"
: >"$report"
# An output of an earlier step, read from the dotenv report (never sourced: values are data).
output() { sed -n "s/^SLIPWAY_$1=//p" "$report" | tail -n 1; }

# A clean copy of the sample, so the checkout is never written to.
project="$work/sample-app"
rm -rf "$project"
mkdir -p "$project"
(cd "$root/workflows-examples/sample-app" && tar --exclude=./target --exclude=./build --exclude=./.gradle -cf - .) | tar -xf - -C "$project"

echo "==> build-jar" >&2
"$SLIPWAY_BIN_DIR/build-jar" --project-dir "$project" --offline --skip-tests \
  --build-arg=-Dmaven.repo.local=/usr/share/maven-repo --dotenv "$report" >&2
artifact="$(output ARTIFACT)"
version="$(output VERSION)"

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
echo "==> run $artifact on 127.0.0.1:$port" >&2
PORT="$port" java -jar "$artifact" >"$work/app.log" 2>&1 &
app_pid=$!
# A failed pipeline leaves nothing running.
trap 'kill "$app_pid" 2>/dev/null || true' EXIT

echo "==> verify" >&2
"$SLIPWAY_BIN_DIR/verify" --url "http://127.0.0.1:$port" --check /health \
  --expect-version "$version" --timeout 60s --dotenv "$report" >&2

if [ "${SLIPWAY_KEEP_RUNNING:-1}" = "1" ]; then
  trap - EXIT
  echo "pid=$app_pid"
fi
echo "url=http://127.0.0.1:$port"
echo "version=$version"
echo "healthy=$(output HEALTHY)"
