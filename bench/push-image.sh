#!/usr/bin/env bash
# Benchmarks push-image against `skopeo copy` and `docker push`, side by side in one run.
# push-image runs twice per step, each on its own registry: `push-image` pushes the image
# alone (`--sbom none`: the same blobs and manifest skopeo and docker push, so the ratios
# compare like with like), `push-image+sbom` as a pipeline runs it, attaching containerize's
# SBOM as an OCI referrer too (two blobs, its manifest and, on this registry without the
# referrers API, the fallback index: the column shows what that costs).
#
#   1. first push   the sample image (the sample app's fat JAR on the test JRE base) to an
#                   EMPTY registry: a throwaway `docker-registry` per tool and round, on a free
#                   loopback port with fresh storage. push-image pushes a COMPLETE layout
#                   (containerize --tarball: every blob on disk, no base registry involved),
#                   skopeo copies the same layout (oci:LAYOUT:1), docker pushes the same image
#                   (the tarball, docker-loaded and docker-tagged untimed). Target:
#                   push-image <= 0.8 x skopeo (median wall time).
#   2. re-push      the unchanged image to the registry that step 1 populated. Targets:
#                   push-image <= 0.5 x skopeo, and push-image's bytes-uploaded = 0.
#   3. new app      an image whose JAR changed (a file added with `zip`, rebuilt with
#                   containerize, untimed) pushed over the image of step 1: push-image must
#                   upload only the app layer(s) and the config (checked against its
#                   blobs-uploaded / bytes-uploaded outputs). Target: push-image <= 0.5 x skopeo.
#   floor           what the registry itself takes to receive the image's largest blob from one
#                   client: curl's POST and monolithic PUT of it to an empty registry, every
#                   round. No client pushes the image faster than that blob is taken in, so
#                   step 1's ratio is set beside push-image/floor.
#   new-app floor   the writes any client must make for step 3, sent by a minimal client (Python's
#                   http.client, its start-up not timed, no ping, no HEAD): the new app layer's
#                   and the config's POST + PUT, the two at once, then the manifest PUT, to a
#                   registry holding image 1. Step 3's ratio is set beside push-image/this floor.
#   4. start-up     the instructions push-image executes for one re-push (step 2), counted by
#                   `valgrind --tool=callgrind` (stable where wall time is noisy, and where
#                   `perf stat -e instructions` has no counters), beside those of the push-image
#                   in BENCH_BASELINE_PUSH_IMAGE (one built before a change) when given. Skipped
#                   without valgrind.
#
# Every round runs steps 1-3 for every tool, each tool on its own registry; the tools' order
# rotates every round. One untimed warm-up round runs first. Wall time is measured with
# `date +%s%N` around the tool alone; the HTTP requests each push made are counted in its
# registry's access log. After every push, the tag is checked on the registry (for push-image
# and skopeo: that it is the layout's manifest digest; docker recompresses layers, so its
# digest differs).
#
# Prints aligned tables on stdout (progress goes to stderr). Exits 0 whether or not the targets
# are met (PASS/MISS is printed); exits 1 when a tool, a build or a check fails.
#
# Environment:
#   BENCH_RUNS=5              timed rounds
#   BENCH_MARKDOWN=1          also print the tables as Markdown
#   BENCH_CONCURRENCY         push-image --concurrency (default: push-image's own, 4)
#   BENCH_BASELINE_PUSH_IMAGE a push-image binary built before a change (e.g. from the commit
#                             before it): its re-push instructions are counted too, side by side
#   SLIPWAY_BIN_DIR           directory holding prebuilt push-image and containerize binaries;
#                             default ${CARGO_TARGET_DIR:-target}/release, built with
#                             `cargo build --release -p slipway-push-image -p slipway-containerize`
#                             when missing (cargo waits for another cargo's lock by itself)
#   TMPDIR                    where the work directory goes (~250 MiB)
#
# Needs the packages of scripts/install-deps.sh (docker-registry, skopeo, jq, curl, maven, zip,
# the JDK), python3, a running Docker Engine (it treats 127.0.0.0/8 as insecure registries),
# and root for docker. Starts the loopback test registry (the base image) with
# scripts/test-services.sh. Everything it creates (work directory, throwaway registries and
# their storage, docker tags and loaded images) is removed at exit.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
runs=${BENCH_RUNS:-5}
markdown=${BENCH_MARKDOWN:-0}
concurrency=${BENCH_CONCURRENCY:-}
sample=$repo/workflows-examples/sample-app
jar_name="sample-app-1.0.0.jar"
tools=(push-image push-image+sbom skopeo docker)
# The issue's targets: push-image's median wall time as a fraction of skopeo's.
target_first=0.7
target_repush=0.5
target_new_app=0.5
# A push-image built before a change, whose re-push instructions are counted beside this one's.
baseline=${BENCH_BASELINE_PUSH_IMAGE:-}

log() { echo "bench: $*" >&2; }
die() { echo "bench: error: $*" >&2; exit 1; }

[[ $runs =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS must be a positive integer, not '$runs'"
[ -z "$concurrency" ] || [[ $concurrency =~ ^[1-9][0-9]*$ ]] || die "BENCH_CONCURRENCY must be a positive integer, not '$concurrency'"
[ -z "$baseline" ] || [ -x "$baseline" ] || die "BENCH_BASELINE_PUSH_IMAGE=$baseline is not an executable"

missing=()
for tool in skopeo docker jq curl mvn zip java python3 awk; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
registry_bin=$(command -v docker-registry 2>/dev/null || true)
[ -n "$registry_bin" ] || { [ -x /usr/bin/docker-registry ] && registry_bin=/usr/bin/docker-registry; } || missing+=(docker-registry)
[ ${#missing[@]} -eq 0 ] || die "missing ${missing[*]}: run scripts/install-deps.sh first"
docker info >/dev/null 2>&1 || die "the Docker Engine does not answer (docker info)"

# Never send loopback traffic through a proxy.
export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}" no_proxy="127.0.0.1,localhost${no_proxy:+,$no_proxy}"

# ---------------------------------------------------------------- cleanup

work=$(mktemp -d "${TMPDIR:-/tmp}/slipway-bench-push.XXXXXX")
declare -A registry_pids=() # pid -> storage directory, for every registry still running
docker_refs=()              # tags this run created (docker load and docker tag)

stop_registry() {
  local pid=$1
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -rf "${registry_pids[$pid]}"
  unset "registry_pids[$pid]"
}

cleanup() {
  local status=$? pid
  set +e
  for pid in "${!registry_pids[@]}"; do stop_registry "$pid"; done
  if [ ${#docker_refs[@]} -gt 0 ]; then
    # By name, without --force: an image another tag still names stays.
    docker image rm "${docker_refs[@]}" >/dev/null 2>&1
  fi
  rm -rf "$work" || log "warning: could not remove $work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- helpers

# Runs "$@" with stdout in $1 and stderr in $2; sets elapsed_us. A failure stops the bench.
elapsed_us=0
timed() {
  local out=$1 err=$2 start end
  shift 2
  start=$(date +%s%N)
  if ! "$@" >"$out" 2>"$err"; then
    log "error: failed: $*"
    tail -n 25 "$out" "$err" >&2
    exit 1
  fi
  end=$(date +%s%N)
  elapsed_us=$(((end - start) / 1000))
}

# Runs "$@" untimed, output in the log file $1.
quiet() {
  local logfile=$1
  shift
  if ! "$@" >"$logfile" 2>&1; then
    log "error: failed: $*"
    tail -n 25 "$logfile" >&2
    exit 1
  fi
}

# The value of key $2 in a file of key=value lines $1.
output() { sed -n "s/^$2=//p" "$1" | head -n 1; }

blob_size() { stat -c %s "$1/blobs/sha256/${2#sha256:}"; }

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Requests a registry has answered so far (its access log: one line per request).
requests() { grep -cE '"(GET|HEAD|POST|PUT|PATCH|DELETE) /v2/' "$1" || true; }

# Starts a registry with empty storage under $work/registries/$1; sets reg_port, reg_pid, reg_log.
reg_port="" reg_pid="" reg_log=""
start_registry() {
  local name=$1 dir=$work/registries/$1 attempt code
  for attempt in 1 2 3; do
    rm -rf "$dir"
    mkdir -p "$dir/storage"
    reg_port=$(free_port)
    reg_log=$dir/registry.log
    # Like scripts/test-services.sh's registries; info logging gives the access log.
    cat >"$dir/config.yml" <<EOF
version: 0.1
log:
  level: info
  fields:
    service: slipway-bench-registry-$name
storage:
  filesystem:
    rootdirectory: $dir/storage
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$reg_port
  secret: slipway-bench-registry-$name-$$
  headers:
    X-Content-Type-Options: [nosniff]
EOF
    "$registry_bin" serve "$dir/config.yml" </dev/null >"$reg_log" 2>&1 &
    reg_pid=$!
    registry_pids[$reg_pid]=$dir
    for _ in $(seq 1 150); do
      code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$reg_port/v2/" 2>/dev/null || true)
      [ "$code" = 200 ] && return 0
      kill -0 "$reg_pid" 2>/dev/null || break
      sleep 0.1
    done
    log "registry $name on 127.0.0.1:$reg_port did not start (attempt $attempt); last lines of its log:"
    tail -n 5 "$reg_log" >&2 || true
    stop_registry "$reg_pid"
  done
  die "could not start a registry with docker-registry serve"
}

# Checks that repository bench/app on 127.0.0.1:$1 has tag $2 (with manifest digest $3 unless empty).
check_tag() {
  local port=$1 tag=$2 want=$3 got
  got=$(curl -sf -I --max-time 10 \
    -H 'Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' \
    "http://127.0.0.1:$port/v2/bench/app/manifests/$tag" | tr -d '\r' | sed -n 's/^[Dd]ocker-[Cc]ontent-[Dd]igest: //p') ||
    die "127.0.0.1:$port/bench/app:$tag is missing after the push"
  [ -n "$got" ] || die "127.0.0.1:$port/bench/app:$tag: no Docker-Content-Digest"
  [ -z "$want" ] || [ "$got" = "$want" ] || die "127.0.0.1:$port/bench/app:$tag is $got, expected the layout's $want"
}

# ---------------------------------------------------------------- setup

if [ -n "${SLIPWAY_BIN_DIR:-}" ]; then
  bin_dir=$SLIPWAY_BIN_DIR
  for bin in push-image containerize; do
    [ -x "$bin_dir/$bin" ] || die "SLIPWAY_BIN_DIR=$bin_dir holds no executable $bin"
  done
else
  bin_dir=${CARGO_TARGET_DIR:-$repo/target}/release
  if [ ! -x "$bin_dir/push-image" ] || [ ! -x "$bin_dir/containerize" ]; then
    log "building push-image and containerize in $bin_dir (cargo build --release; minutes on 2 cores)"
    (cd "$repo" && cargo build --release -p slipway-push-image -p slipway-containerize) >&2
  fi
fi
push_image=$bin_dir/push-image
containerize=$bin_dir/containerize
log "push-image: $push_image ($(date -r "$push_image" '+%F %T'))"

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
log "starting the loopback test registry (the base image)"
base=$("$repo/scripts/test-services.sh" start | sed -n 's/^SLIPWAY_TEST_JRE_IMAGE=//p')
[ -n "$base" ] || die "scripts/test-services.sh start printed no SLIPWAY_TEST_JRE_IMAGE"

# Both binaries read SLIPWAY_* variables and append to $GITHUB_OUTPUT: give them none.
clean_env=(env)
while IFS= read -r name; do clean_env+=(-u "$name"); done < <(compgen -e | grep -E '^(SLIPWAY_|GITHUB_OUTPUT$|GITHUB_STEP_SUMMARY$)' || true)
push_args=()
[ -z "$concurrency" ] || push_args+=(--concurrency "$concurrency")

log "building the sample app with Maven (offline)"
mkdir -p "$work/app"
cp -r "$sample/." "$work/app/"
rm -rf "$work/app/target" "$work/app/build"
quiet "$work/mvn.log" mvn -q -o -f "$work/app/pom.xml" -Dmaven.repo.local=/usr/share/maven-repo -DskipTests package
jar1=$work/app/target/$jar_name
[ -f "$jar1" ] || die "Maven wrote no $jar1"
# The changed JAR: the same plus one file.
jar2=$work/$jar_name
cp "$jar1" "$jar2"
mkdir -p "$work/change"
echo "slipway bench/push-image.sh: a changed app layer ($(date -u +%FT%TZ))" >"$work/change/BENCH-CHANGE.txt"
(cd "$work/change" && zip -q "$jar2" BENCH-CHANGE.txt)

# The two complete layouts and their docker tarballs. The docker name is unique to this run.
docker_name=slipway-bench/push-image-$$
for version in 1 2; do
  jar=$jar1
  [ "$version" = 1 ] || jar=$jar2
  log "containerize image $version (complete layout + tarball)"
  quiet "$work/containerize-$version.log" "${clean_env[@]}" "$containerize" --artifact "$jar" --base "$base" \
    --output "$work/layout-$version" --tarball "$work/image-$version.tar" --image "$docker_name:$version"
  # containerize prints its outputs on stdout, its log on stderr: the outputs are the key=value lines.
  grep -E '^[a-z-]+=' "$work/containerize-$version.log" >"$work/containerize-$version.out"
  docker_refs+=("$docker_name:$version")
  quiet "$work/docker-load-$version.log" docker load -i "$work/image-$version.tar"
  grep -qF "$docker_name:$version" "$work/docker-load-$version.log" || die "docker load did not name the image $docker_name:$version"
done
digest1=$(output "$work/containerize-1.out" image-digest)
digest2=$(output "$work/containerize-2.out" image-digest)
[ -n "$digest1" ] && [ -n "$digest2" ] || die "containerize printed no image-digest"

# What step 3 must upload: image 2's app layer(s) and config, nothing of the base.
app_layers=$(output "$work/containerize-2.out" app-layers)
config2=$(output "$work/containerize-2.out" config-digest)
[ -n "$app_layers" ] && [ -n "$config2" ] || die "containerize printed no app-layers or config-digest"
expect_blobs=1
expect_bytes=$(blob_size "$work/layout-2" "$config2")
IFS=, read -r -a app_layer_list <<<"$app_layers"
for layer in "${app_layer_list[@]}"; do
  expect_blobs=$((expect_blobs + 1))
  expect_bytes=$((expect_bytes + $(blob_size "$work/layout-2" "$layer")))
done
layout_blobs() { # DIR DIGEST -> "count bytes" of the manifest's config and layers
  jq -r '[.config] + .layers | "\(length) \(map(.size) | add)"' "$1/blobs/sha256/${2#sha256:}"
}
read -r total_blobs total_bytes < <(layout_blobs "$work/layout-1" "$digest1")
read -r total_blobs2 total_bytes2 < <(layout_blobs "$work/layout-2" "$digest2")
log "image 1: $total_blobs blobs, $total_bytes bytes ($digest1)"
log "image 2: $total_blobs2 blobs, $total_bytes2 bytes ($digest2); new: $expect_blobs blob(s), $expect_bytes bytes"

# ---------------------------------------------------------------- one push

results=$work/results.tsv   # step tool round elapsed_us requests
outputs=$work/outputs.tsv   # step round bytes-uploaded blobs-uploaded blobs-skipped blobs-mounted
: >"$results"
: >"$outputs"
declare -A port_of=() log_of=() pid_of=()

# push STEP TOOL ROUND: one timed push of image 1 (steps 1, 2) or 2 (step 3) to TOOL's registry.
push() {
  local step=$1 tool=$2 round=$3 version=1 port=${port_of[$2]} out err before after tag digest
  [ "$step" != 3 ] || version=2
  tag=$version
  digest=$digest1
  [ "$version" = 1 ] || digest=$digest2
  out=$work/$tool-$step-$round.out
  err=$work/$tool-$step-$round.err
  before=$(requests "${log_of[$tool]}")
  case $tool in
    push-image)
      timed "$out" "$err" "${clean_env[@]}" "$push_image" --layout "$work/layout-$version" \
        --image "127.0.0.1:$port/bench/app" --tag "$tag" --sbom none "${push_args[@]}" ;;
    push-image+sbom)
      timed "$out" "$err" "${clean_env[@]}" "$push_image" --layout "$work/layout-$version" \
        --image "127.0.0.1:$port/bench/app" --tag "$tag" "${push_args[@]}"
      grep -q '^sbom-ref=.' "$out" || die "push-image+sbom attached no SBOM" ;;
    skopeo)
      timed "$out" "$err" skopeo copy --quiet --dest-tls-verify=false \
        "oci:$work/layout-$version:$version" "docker://127.0.0.1:$port/bench/app:$tag" ;;
    docker)
      timed "$out" "$err" docker push -q "127.0.0.1:$port/bench/app:$tag"
      digest="" ;;
  esac
  sleep 0.05 # let the registry write its access log lines
  after=$(requests "${log_of[$tool]}")
  check_tag "$port" "$tag" "$digest"
  if [ "$round" -gt 0 ]; then
    printf '%s\t%s\t%s\t%s\t%s\n' "$step" "$tool" "$round" "$elapsed_us" "$((after - before))" >>"$results"
    if [ "$tool" = push-image ]; then
      printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$step" "$round" "$(output "$out" bytes-uploaded)" "$(output "$out" blobs-uploaded)" \
        "$(output "$out" blobs-skipped)" "$(output "$out" blobs-mounted)" >>"$outputs"
    fi
  fi
  summary+=" $tool $((elapsed_us / 1000))ms"
}

# floor_push ROUND: curl's POST and monolithic PUT of layout 1's largest blob to an empty
# registry, timed like the tools (one client, no HEAD, no manifest: less than any push does).
floors=$work/floors.tsv
: >"$floors"
floor_push() {
  local round=$1 digest location start end code
  digest=$(cd "$work/layout-1/blobs/sha256" && ls -S | head -n 1)
  start_registry "floor-$round"
  start=$(date +%s%N)
  location=$(curl -s -i -X POST --max-time 30 "http://127.0.0.1:$reg_port/v2/bench/floor/blobs/uploads/" |
    tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
  case $location in http*) ;; *) location="http://127.0.0.1:$reg_port$location" ;; esac
  case $location in *\?*) location="$location&digest=sha256:$digest" ;; *) location="$location?digest=sha256:$digest" ;; esac
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 30 -X PUT -H 'Content-Type: application/octet-stream' \
    --data-binary "@$work/layout-1/blobs/sha256/$digest" "$location")
  end=$(date +%s%N)
  [ "$code" = 201 ] || die "the floor's upload got HTTP $code"
  stop_registry "$reg_pid"
  [ "$round" -eq 0 ] || printf '%s\t%s\n' "$(((end - start) / 1000))" "$(blob_size "$work/layout-1" "sha256:$digest")" >>"$floors"
}

# floor_new_app ROUND: the new-app floor (above) on a registry that image 1 was pushed to.
new_app_floors=$work/new-app-floors.tsv
: >"$new_app_floors"
floor_new_app() {
  local round=$1 us
  start_registry "floor-new-$round"
  quiet "$work/floor-new-setup.log" "${clean_env[@]}" "$push_image" --layout "$work/layout-1" \
    --image "127.0.0.1:$reg_port/bench/app" --tag 1 --sbom none
  us=$(python3 - "$reg_port" "$work/layout-2" "$digest2" "$work/layout-1" "$digest1" <<'PY'
import http.client
import json
import sys
import threading
import time
from urllib.parse import urlsplit

port, layout, digest, old_layout, old_digest = sys.argv[1:6]


def blob(directory, digest):
    with open(f"{directory}/blobs/sha256/{digest.split(':', 1)[1]}", "rb") as f:
        return f.read()


manifest_bytes = blob(layout, digest)
manifest = json.loads(manifest_bytes)
old = json.loads(blob(old_layout, old_digest))
held = {d["digest"] for d in [old["config"], *old["layers"]]}
new = [d for d in [manifest["config"], *manifest["layers"]] if d["digest"] not in held]
bodies = {d["digest"]: blob(layout, d["digest"]) for d in new}
failures = []

def upload(digest):
    connection = http.client.HTTPConnection("127.0.0.1", int(port))
    connection.request("POST", "/v2/bench/app/blobs/uploads/", headers={"Content-Length": "0"})
    answer = connection.getresponse()
    answer.read()
    location = urlsplit(answer.getheader("Location"))
    target = f"{location.path}?{location.query}&digest={digest}" if location.query else f"{location.path}?digest={digest}"
    connection.request("PUT", target, body=bodies[digest], headers={"Content-Type": "application/octet-stream"})
    answer = connection.getresponse()
    answer.read()
    if answer.status != 201:
        failures.append(f"upload {digest}: HTTP {answer.status}")

start = time.perf_counter()
threads = [threading.Thread(target=upload, args=(d,)) for d in bodies]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
connection = http.client.HTTPConnection("127.0.0.1", int(port))
connection.request("PUT", "/v2/bench/app/manifests/2", body=manifest_bytes,
                   headers={"Content-Type": manifest.get("mediaType", "application/vnd.oci.image.manifest.v1+json")})
answer = connection.getresponse()
answer.read()
elapsed = time.perf_counter() - start
if answer.status != 201 or failures:
    sys.exit(f"the new-app floor failed: manifest HTTP {answer.status}; {failures}")
print(int(elapsed * 1e6))
PY
) || die "the new-app floor failed"
  stop_registry "$reg_pid"
  [ "$round" -eq 0 ] || printf '%s\n' "$us" >>"$new_app_floors"
}

# ---------------------------------------------------------------- rounds

log "$runs timed round(s) after one warm-up round; tools alternate: ${tools[*]}"
summary=""
for round in $(seq 0 "$runs"); do
  # Rotate the order every round.
  order=()
  for i in "${!tools[@]}"; do order+=("${tools[$(((i + round) % ${#tools[@]}))]}"); done
  for tool in "${order[@]}"; do
    start_registry "$tool-$round"
    port_of[$tool]=$reg_port
    log_of[$tool]=$reg_log
    pid_of[$tool]=$reg_pid
    if [ "$tool" = docker ]; then
      for version in 1 2; do
        quiet "$work/docker-tag.log" docker tag "$docker_name:$version" "127.0.0.1:$reg_port/bench/app:$version"
        docker_refs+=("127.0.0.1:$reg_port/bench/app:$version")
      done
    fi
  done
  label="round $round/$runs"
  [ "$round" -gt 0 ] || label="warm-up"
  for step in 1 2 3; do
    summary=""
    for tool in "${order[@]}"; do push "$step" "$tool" "$round"; done
    log "$label step $step:$summary"
  done
  for tool in "${order[@]}"; do stop_registry "${pid_of[$tool]}"; done
  floor_push "$round"
  floor_new_app "$round"
  # Untag this round's docker tags (the loaded images stay for the next round).
  keep=()
  for ref in "${docker_refs[@]}"; do
    case $ref in
      127.0.0.1:"${port_of[docker]}"/*) docker image rm "$ref" >/dev/null 2>&1 || log "warning: could not untag $ref" ;;
      *) keep+=("$ref") ;;
    esac
  done
  docker_refs=("${keep[@]}")
done

# ---------------------------------------------------------------- instructions

instructions_now=""
instructions_before=""
# instructions BINARY: the instructions BINARY executes for a re-push of image 1.
instructions() {
  local bin=$1 label=$2
  start_registry "callgrind-$label"
  quiet "$work/callgrind-first-$label.log" "${clean_env[@]}" "$bin" --layout "$work/layout-1" \
    --image "127.0.0.1:$reg_port/bench/app" --tag 1 "${push_args[@]}"
  quiet "$work/callgrind-$label.log" "${clean_env[@]}" valgrind --tool=callgrind \
    --callgrind-out-file="$work/callgrind-$label.out" "$bin" --layout "$work/layout-1" --image "127.0.0.1:$reg_port/bench/app" --tag 1 "${push_args[@]}"
  stop_registry "$reg_pid"
  [ "$(output "$work/callgrind-$label.log" bytes-uploaded)" = 0 ] || die "the re-push under callgrind uploaded something"
  count=$(sed -n 's/^==[0-9]*== Collected : //p' "$work/callgrind-$label.log" | tr -d ' ')
  [ -n "$count" ] || die "callgrind reported no instruction count"
}
if command -v valgrind >/dev/null 2>&1; then
  log "instructions of one re-push under valgrind --tool=callgrind"
  instructions "$push_image" now
  instructions_now=$count
  if [ -n "$baseline" ]; then
    instructions "$baseline" before
    instructions_before=$count
  fi
else
  log "no valgrind: the instruction count is skipped"
fi

# ---------------------------------------------------------------- report

load_end=$(cut -d' ' -f1-3 /proc/loadavg)
python3 - "$results" "$outputs" "$runs" "$markdown" "$target_first" "$target_repush" "$target_new_app" \
  "$total_blobs" "$total_bytes" "$expect_blobs" "$expect_bytes" "${concurrency:-4 (default)}" \
  "$load_start" "$load_end" "$(nproc)" "$instructions_before" "$instructions_now" "$floors" "$new_app_floors" <<'PY'
import statistics
import sys

(results_path, outputs_path, runs, markdown, target_first, target_repush, target_new_app,
 total_blobs, total_bytes, expect_blobs, expect_bytes, concurrency,
 load_start, load_end, cpus, instructions_before, instructions_now, floors_path, new_app_path) = sys.argv[1:]
markdown = markdown == "1"
target_first, target_repush, target_new_app = float(target_first), float(target_repush), float(target_new_app)
total_blobs, total_bytes = int(total_blobs), int(total_bytes)
expect_blobs, expect_bytes = int(expect_blobs), int(expect_bytes)
tools = ["push-image", "push-image+sbom", "skopeo", "docker"]
steps = {"1": "1 first push (empty registry)", "2": "2 re-push (unchanged)", "3": "3 new app layer"}

times, reqs = {}, {}
with open(results_path) as f:
    for line in f:
        step, tool, _round, us, n = line.rstrip("\n").split("\t")
        times.setdefault((step, tool), []).append(int(us) / 1000)
        reqs.setdefault((step, tool), []).append(int(n))
outs = {}
with open(outputs_path) as f:
    for line in f:
        step, _round, *values = line.rstrip("\n").split("\t")
        outs.setdefault(step, []).append(values)


def med(values):
    return statistics.median(values)


def table(title, rows):
    print()
    print(title)
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    for n, row in enumerate(rows):
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))
    if markdown:
        print()
        for n, row in enumerate(rows):
            print("| " + " | ".join(str(c) for c in row) + " |")
            if n == 0:
                print("|" + " --- |" * len(row))


def ms(values):
    return f"{med(values):.0f} ms ({min(values):.0f}-{max(values):.0f})"


rows = [["step", *[f"{t} ms (min-max)" for t in tools], "push-image/skopeo", "push-image/docker",
         "push-image+sbom/skopeo"]]
ratios = {}
for step, name in steps.items():
    m = {t: med(times[(step, t)]) for t in tools}
    ratios[step] = m["push-image"] / m["skopeo"]
    rows.append([name, *[ms(times[(step, t)]) for t in tools],
                 f"{ratios[step]:.2f}", f"{m['push-image'] / m['docker']:.2f}",
                 f"{m['push-image+sbom'] / m['skopeo']:.2f}"])
print(f"push-image vs skopeo copy vs docker push: {total_blobs} blobs, {total_bytes} B; {runs} run(s); "
      f"{cpus} CPUs, load average {load_start} at start, {load_end} at end")
table(f"median wall time, push-image --concurrency {concurrency}", rows)

rows = [["step", *tools]]
for step, name in steps.items():
    rows.append([name, *[f"{med(reqs[(step, t)]):g}" for t in tools]])
table("HTTP requests per push (median, from the registry's access log)", rows)


def values(step, i):
    seen = sorted({v[i] for v in outs[step]}, key=lambda s: (len(s), s))
    return ",".join(seen)


rows = [["step", "bytes-uploaded", "blobs-uploaded", "blobs-skipped", "blobs-mounted", "expected upload"]]
expected = {"1": f"{total_blobs} blobs, {total_bytes} B", "2": "0 blobs, 0 B",
            "3": f"{expect_blobs} blobs, {expect_bytes} B (app layer + config)"}
for step, name in steps.items():
    rows.append([name, values(step, 0), values(step, 1), values(step, 2), values(step, 3), expected[step]])
table("push-image outputs (every distinct value over the runs)", rows)


def every(step, bytes_, blobs):
    return all(v[0] == str(bytes_) and v[1] == str(blobs) for v in outs[step])


checks = [
    (steps["1"], f"push-image/skopeo {ratios['1']:.2f} <= {target_first}", ratios["1"] <= target_first),
    (steps["2"], f"push-image/skopeo {ratios['2']:.2f} <= {target_repush}", ratios["2"] <= target_repush),
    (steps["2"], "bytes-uploaded = 0 in every run", every("2", 0, 0)),
    (steps["3"], f"push-image/skopeo {ratios['3']:.2f} <= {target_new_app}", ratios["3"] <= target_new_app),
    (steps["3"], f"only app layer + config uploaded ({expect_blobs} blobs, {expect_bytes} B) in every run",
     every("3", expect_bytes, expect_blobs)),
]
rows = [["step", "target", "result"]] + [[s, t, "PASS" if ok else "MISS"] for s, t, ok in checks]
table("targets", rows)

floors = []
with open(floors_path) as f:
    for line in f:
        us, size = line.split()
        floors.append(int(us) / 1000)
        floor_bytes = int(size)
if floors:
    first = med(times[("1", "push-image")])
    rows = [["what", "ms (min-max)", "push-image first push / it", "0.7 x skopeo's first push"],
            [f"curl POST + PUT of the largest blob ({floor_bytes} B) to an empty registry", ms(floors),
             f"{first / med(floors):.2f}", f"{target_first * med(times[('1', 'skopeo')]):.0f} ms"]]
    table("the registry's floor (what it takes to receive the image's largest blob from one client)", rows)

new_app_floors = []
with open(new_app_path) as f:
    new_app_floors = [int(line) / 1000 for line in f if line.strip()]
if new_app_floors:
    new_app = med(times[("3", "push-image")])
    rows = [["what", "ms (min-max)", "push-image new app / it", "0.5 x skopeo's new app"],
            ["the new blobs' POST + PUT (at once), then the manifest PUT, from Python's http.client",
             ms(new_app_floors), f"{new_app / med(new_app_floors):.2f}",
             f"{target_new_app * med(times[('3', 'skopeo')]):.0f} ms"]]
    table("the registry's floor for step 3 (the writes any client must make, nothing else)", rows)

if instructions_now:
    now = int(instructions_now)
    rows = [["push-image", "instructions for one re-push", "/ baseline"]]
    if instructions_before:
        before = int(instructions_before)
        rows.append(["baseline (BENCH_BASELINE_PUSH_IMAGE)", f"{before:,}", "1.00"])
        rows.append(["this build", f"{now:,}", f"{now / before:.2f}"])
    else:
        rows.append(["this build", f"{now:,}", "-"])
    table("instructions executed (valgrind --tool=callgrind)", rows)
PY
