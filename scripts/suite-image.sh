#!/usr/bin/env bash
# Builds slipway's suite image (all five binaries and CA certificates, for GitLab jobs and
# anyone without the actions) with slipway's own containerize, and pushes it with push-image.
# The Dockerfile at the top of the repository builds the same image with Docker.
#
#   SLIPWAY_SUITE_IMAGE=ghcr.io/OWNER/slipway scripts/suite-image.sh
#
# Environment:
#   SLIPWAY_SUITE_IMAGE   the repository to push to (required)
#   SLIPWAY_SUITE_TAG     the tag (default: the workspace version, e.g. 0.1.0)
#   SLIPWAY_SUITE_BASE    the base: a shell, glibc, libgcc and CA certificates
#                         (default: gcr.io/distroless/cc-debian12:debug)
#   SLIPWAY_BIN_DIR       the binaries to package (default: built here with cargo build --release);
#                         with several platforms it holds {arch}, each architecture's directory
#                         (dist/{arch} for dist/amd64 and dist/arm64)
#   SLIPWAY_SUITE_PLATFORM  the platforms, comma-separated, each taken from the multi-platform
#                         base (default: linux/<this machine's architecture>)
#   SLIPWAY_WORK_DIR      where the staged binaries, the layout and the report go (default: a temp dir)
#   SLIPWAY_SUITE_PUSH=0  stop after containerize (no push)
#   REGISTRY_USERNAME, REGISTRY_PASSWORD   a login for the push (else docker's config or GITHUB_TOKEN)
# Prints KEY=VALUE lines on stdout: context (the first platform's staged binaries, a Docker
# build context for the Dockerfile), layout, image-digest and, after a push, image-ref; everything else on stderr.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
steps=(build-jar containerize push-image deploy verify)

image="${SLIPWAY_SUITE_IMAGE:?set SLIPWAY_SUITE_IMAGE to the repository to push to, like ghcr.io/OWNER/slipway}"
tag="${SLIPWAY_SUITE_TAG:-$(sed -n 's/^version = "\(.*\)"$/\1/p' "$root/Cargo.toml" | head -n 1)}"
base="${SLIPWAY_SUITE_BASE:-gcr.io/distroless/cc-debian12:debug}"
case "$(uname -m)" in x86_64) host_arch=amd64 ;; aarch64 | arm64) host_arch=arm64 ;; *) host_arch="$(uname -m)" ;; esac
IFS=',' read -r -a platforms <<<"${SLIPWAY_SUITE_PLATFORM:-linux/$host_arch}"

if [ -z "${SLIPWAY_BIN_DIR:-}" ]; then
  echo "==> cargo build --release" >&2
  (cd "$root" && cargo build --release --locked --workspace --exclude xtask --bins --quiet)
  SLIPWAY_BIN_DIR="$(cd "$root" && cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release"
fi
if [ ${#platforms[@]} -gt 1 ] && [[ $SLIPWAY_BIN_DIR != *"{arch}"* ]]; then
  echo "suite-image: several platforms need SLIPWAY_BIN_DIR with {arch} (one directory of binaries per architecture)" >&2
  exit 2
fi
bin_dir() { echo "${SLIPWAY_BIN_DIR//\{arch\}/$1}"; }
# containerize and push-image run here: this machine's binaries.
tools="$(bin_dir "$host_arch")"
work="${SLIPWAY_WORK_DIR:-$(mktemp -d)}"
report="$work/suite.env"
rm -rf "$work/bin" "$work/layout"
: >"$report"
output() { sed -n "s/^SLIPWAY_$1=//p" "$report" | tail -n 1; }

# Only the five binaries, per architecture, so the image (and a Docker build context) holds
# nothing else.
for platform in "${platforms[@]}"; do
  arch="$(cut -d/ -f2 <<<"$platform")"
  mkdir -p "$work/bin/$arch"
  for step in "${steps[@]}"; do
    from="$(bin_dir "$arch")/$step"
    [ -x "$from" ] || { echo "suite-image: no $step for $platform at $from" >&2; exit 2; }
    install -m 0755 "$from" "$work/bin/$arch/$step"
  done
done
context="$work/bin/$(cut -d/ -f2 <<<"${platforms[0]}")"

echo "==> containerize $image:$tag on $base (${platforms[*]})" >&2
"$tools/containerize" --base "$base" --platform "$(IFS=,; echo "${platforms[*]}")" \
  --add "$work/bin/{arch}:/usr/local/bin" --port 0 \
  --image "$image:$tag" --label "org.opencontainers.image.title=slipway" \
  --label "org.opencontainers.image.version=$tag" \
  --label "org.opencontainers.image.description=slipway's five pipeline steps: build-jar, containerize, push-image, deploy, verify" \
  --output "$work/layout" --dotenv "$report" >&2
echo "context=$context"
echo "layout=$(output LAYOUT)"
echo "image-digest=$(output IMAGE_DIGEST)"

if [ "${SLIPWAY_SUITE_PUSH:-1}" = "0" ]; then
  exit 0
fi
echo "==> push-image $image:$tag" >&2
login=()
if [ -n "${REGISTRY_USERNAME:-}" ]; then login=(--username "$REGISTRY_USERNAME"); fi
"$tools/push-image" --layout "$(output LAYOUT)" --image "$image" --tag "$tag" "${login[@]}" \
  --dotenv "$report" >&2
echo "image-ref=$(output IMAGE_REF)"
