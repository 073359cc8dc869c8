#!/usr/bin/env bash
# The main job: the whole slipway pipeline on the bundled sample app, on this machine.
#
#   build-jar     the sample's fat JAR, built offline with Maven (Debian's Maven repository)
#   containerize  an OCI image on the test JRE base from the loopback registry, no daemon
#   push-image    pushed to the loopback registry (127.0.0.1:5555)
#   deploy        run on the local Docker Engine behind a Caddy proxy (the caddy:2 stand-in on
#                 the loopback registry), rolled in beside the previous version with no outage
#   verify        the version serving is the one just built, and it is healthy
#
# Steps chain through their outputs, read back from one GitLab-style dotenv report.
# Prints the URL of the running app at the end. Environment:
#   SLIPWAY_BIN_DIR       use the binaries there instead of building them with cargo
#   SLIPWAY_WORK_DIR      where layouts and reports go (default: a fresh temporary directory)
#   SLIPWAY_SAMPLE_NAME   the app's name (default: slipway-sample; its proxy is <name>-proxy)
#   SLIPWAY_KEEP_RUNNING=0  remove the app and its proxy when the pipeline ends (default: leave
#                         them serving; the next run rolls the new build in on the same address)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

# On a fresh clone the suite's first build is most of the wait: it runs while the packages
# install and the loopback registry starts (downloads and dpkg, mostly waiting on I/O). It is
# the build for a Docker host: no cloud targets (--no-default-features: no AWS SDK, kube or
# octocrab), which halves the compile; `cargo build --workspace` builds every target.
build_pid=
if [ -z "${SLIPWAY_BIN_DIR:-}" ]; then
  echo "==> cargo build (beside install-deps and test-services)" >&2
  (cd "$root" && exec cargo build --locked --workspace --exclude xtask --bins --no-default-features --quiet) &
  build_pid=$!
  trap '[ -n "$build_pid" ] && kill "$build_pid" 2>/dev/null; true' EXIT
fi

"$root/scripts/install-deps.sh" --pipeline >&2
registry_lines="$("$root/scripts/test-services.sh" start)"
registry="$(sed -n 's/^SLIPWAY_TEST_REGISTRY=//p' <<<"$registry_lines")"
base="$(sed -n 's/^SLIPWAY_TEST_JRE_IMAGE=//p' <<<"$registry_lines")"
proxy_image="$(sed -n 's/^SLIPWAY_TEST_CADDY_IMAGE=//p' <<<"$registry_lines")"

if [ -n "$build_pid" ]; then
  wait "$build_pid" || { echo "pipeline: cargo build failed" >&2; exit 1; }
  build_pid=
  trap - EXIT
  SLIPWAY_BIN_DIR="$(cd "$root" && cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/debug"
fi
work="${SLIPWAY_WORK_DIR:-$(mktemp -d)}"
mkdir -p "$work"
report="$work/pipeline.env"
: >"$report"
# An output of an earlier step, read from the dotenv report (never sourced: values are data).
output() { sed -n "s/^SLIPWAY_$1=//p" "$report" | tail -n 1; }
name="${SLIPWAY_SAMPLE_NAME:-slipway-sample}"
repository="$registry/slipway-sample/app"

# A clean copy of the sample, so the checkout is never written to.
project="$work/sample-app"
rm -rf "$project"
mkdir -p "$project"
(cd "$root/workflows-examples/sample-app" && tar --exclude=./target --exclude=./build --exclude=./.gradle -cf - .) | tar -xf - -C "$project"

echo "==> build-jar" >&2
"$SLIPWAY_BIN_DIR/build-jar" --project-dir "$project" --offline --skip-tests \
  --build-arg=-Dmaven.repo.local=/usr/share/maven-repo --dotenv "$report" >&2
version="$(output VERSION)"

echo "==> containerize" >&2
"$SLIPWAY_BIN_DIR/containerize" --artifact "$(output ARTIFACT)" --base "$base" \
  --image "$repository:$version" --output "$work/layout" --dotenv "$report" >&2

echo "==> push-image" >&2
"$SLIPWAY_BIN_DIR/push-image" --layout "$(output LAYOUT)" --image "$repository" --tag "$version" \
  --dotenv "$report" >&2

# A proxy left serving by an earlier run keeps its address; else a free loopback port.
publish=()
if ! docker container inspect "$name-proxy" >/dev/null 2>&1; then
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  publish=(--publish "127.0.0.1:$port:8080")
fi
remove_app() {
  # shellcheck disable=SC2046 # one id per word
  docker rm --force "$name-proxy" "$name-lock" $(docker ps -aq --filter "label=dev.slipway.app=$name") >/dev/null 2>&1 || true
  docker network rm "$name-proxy-net" >/dev/null 2>&1 || true
}
if [ "${SLIPWAY_KEEP_RUNNING:-1}" != "1" ]; then
  trap remove_app EXIT
fi
echo "==> deploy to the Docker Engine as $name behind the proxy $name-proxy" >&2
"$SLIPWAY_BIN_DIR/deploy" --target docker --image "$(output IMAGE_REF)" --name "$name" "${publish[@]}" \
  --proxy-image "$proxy_image" --check /health --version-label "$version" --timeout 2m --dotenv "$report" >&2

echo "==> verify" >&2
"$SLIPWAY_BIN_DIR/verify" --url "$(output URL)" --check /health \
  --expect-version "$version" --timeout 60s --dotenv "$report" >&2

echo "url=$(output URL)"
echo "image-ref=$(output IMAGE_REF)"
echo "version=$version"
echo "healthy=$(output HEALTHY)"
