#!/usr/bin/env bash
# Benchmarks the local slipway pipeline against the equivalent Docker script, side by side in
# one run. Both start from the same fat JAR (the sample app, built once, untimed) and end when
# the new version answers on its port:
#
#   slipway  containerize (onto the test JRE base from the loopback registry, no daemon)
#            -> push-image (to the loopback registry) -> deploy --target docker (pull by digest;
#            BENCH_STRATEGY=rolling, the default: behind the Caddy proxy of scripts/test-services.sh,
#            the new container beside the old; direct: replace the running container)
#            -> verify --expect-version
#   docker   docker build (FROM the same base; COPY the JAR) -> docker push -> docker rm -f +
#            docker run -d -> curl --retry until /version answers the new version
#
# Every round gives the JAR new contents (a file added with zip, untimed), so both sides build,
# push and start a new image; the order of the two sides alternates every round. One untimed
# warm-up round runs first (docker pulls the base then). Wall time is measured with
# `date +%s%N` around each whole side, and around each phase for the breakdown printed after
# the ratio. Target: slipway's median <= 0.5 x docker's.
#
# The outage: during each timed round a client polls each side's /health every 20 ms (a new
# connection per request) from just before its deploy (docker: rm + run) until its new version
# answers; every request refused, reset, closed unanswered or answered non-200 counts as
# failed. Target for slipway's rolling deploy: 0. The deploy wall time (deploy's start until
# the new version serves: slipway's deploy phase, docker's rm+run plus curl) is printed beside.
#
# Prints a table on stdout (progress on stderr). Exits 0 whether or not the target is met
# (PASS/MISS is printed); 1 when a tool or a check fails.
#
# Environment:
#   BENCH_RUNS=5        timed rounds
#   BENCH_STRATEGY      rolling (default) or direct
#   SLIPWAY_BIN_DIR     prebuilt binaries; default ${CARGO_TARGET_DIR:-target}/release, built with
#                       `cargo build --release --workspace --bins` when missing
# Needs the packages of scripts/install-deps.sh, a running Docker Engine, and root for docker.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
runs=${BENCH_RUNS:-5}
strategy=${BENCH_STRATEGY:-rolling}
target=0.5
log() { echo "bench: $*" >&2; }
die() { echo "bench: error: $*" >&2; exit 1; }
[[ $runs =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS must be a positive integer, not '$runs'"
[[ $strategy == rolling || $strategy == direct ]] || die "BENCH_STRATEGY must be rolling or direct, not '$strategy'"
for tool in docker curl mvn zip python3 awk; do
  command -v "$tool" >/dev/null 2>&1 || die "missing $tool: run scripts/install-deps.sh first"
done
docker info >/dev/null 2>&1 || die "the Docker Engine does not answer (docker info)"
export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}" no_proxy="127.0.0.1,localhost${no_proxy:+,$no_proxy}"

services=$("$repo/scripts/test-services.sh" start)
registry=$(sed -n 's/^SLIPWAY_TEST_REGISTRY=//p' <<<"$services")
base=$(sed -n 's/^SLIPWAY_TEST_JRE_IMAGE=//p' <<<"$services")
proxy_image=$(sed -n 's/^SLIPWAY_TEST_CADDY_IMAGE=//p' <<<"$services")

bin=${SLIPWAY_BIN_DIR:-${CARGO_TARGET_DIR:-$repo/target}/release}
if [ -z "${SLIPWAY_BIN_DIR:-}" ]; then
  log "cargo build --release --workspace --bins"
  (cd "$repo" && cargo build --release --locked --workspace --bins --quiet)
fi
for step in containerize push-image deploy verify; do
  [ -x "$bin/$step" ] || die "no $step in $bin"
done

work=$(mktemp -d "${TMPDIR:-/tmp}/slipway-bench-pipeline.XXXXXX")
slipway_name=slipway-bench-slipway-$$
docker_name=slipway-bench-docker-$$
docker_repo=$registry/bench/docker-app
slipway_repo=$registry/bench/slipway-app
cleanup() {
  stop_poller slipway >/dev/null 2>&1 || true
  stop_poller docker >/dev/null 2>&1 || true
  docker ps --all --quiet --filter "label=dev.slipway.app=$slipway_name" | xargs -r docker rm --force >/dev/null 2>&1 || true
  docker rm --force "$slipway_name" "$slipway_name-previous" "$slipway_name-proxy" "$slipway_name-lock" "$docker_name" \
    >/dev/null 2>&1 || true
  docker network rm "$slipway_name-proxy-net" >/dev/null 2>&1 || true
  docker images --format '{{.Repository}}:{{.Tag}}' | grep -E "^($docker_repo|$slipway_repo)[:@]" |
    xargs -r docker rmi --force >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
slipway_port=$(free_port)
docker_port=$(free_port)

log "building the sample's fat JAR (untimed)"
project=$work/sample-app
mkdir -p "$project"
(cd "$repo/workflows-examples/sample-app" && tar --exclude=./target --exclude=./build --exclude=./.gradle -cf - .) |
  tar -xf - -C "$project"
(cd "$project" && mvn -o -q -B -Dmaven.repo.local=/usr/share/maven-repo -DskipTests package) >&2
jar=$(ls "$project"/target/sample-app-*.jar | grep -v original | head -n 1)
version=$(basename "$jar" .jar)
version=${version#sample-app-}

# The Docker side's build context: the JAR and a Dockerfile equivalent to containerize's image.
context=$work/docker-context
mkdir -p "$context"
cat >"$context/Dockerfile" <<EOF
FROM $base
COPY app.jar /app/app.jar
USER 65532:65532
WORKDIR /app
EXPOSE 8080
ENTRYPOINT ["java", "-XX:MaxRAMPercentage=75", "-jar", "/app/app.jar"]
EOF

# A new JAR for round $1: the same app with one more file, so every image is new.
new_jar() {
  echo "round $1" >"$work/round.txt"
  cp "$jar" "$work/app.jar"
  (cd "$work" && zip -q app.jar round.txt)
  cp "$work/app.jar" "$context/app.jar"
}

# A client polling http://127.0.0.1:PORT/health every 20 ms, a new connection per request,
# until its stop file exists; then prints how many requests failed and how many were answered.
cat >"$work/poll.py" <<'EOF'
import os, socket, sys, time
port, stop = int(sys.argv[1]), sys.argv[2]
ok = failed = 0
while not os.path.exists(stop):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
            answer = b""
            while chunk := s.recv(4096):
                answer += chunk
        if answer.split(b" ", 2)[1:2] == [b"200"]:
            ok += 1
        else:
            failed += 1
    except OSError:
        failed += 1
    time.sleep(0.02)
print(failed, ok)
EOF
# Starts the poller named $1 against port $2 (timed rounds only).
start_poller() {
  [ "${timing:-0}" = 1 ] || return 0
  rm -f "$work/stop-$1"
  python3 "$work/poll.py" "$2" "$work/stop-$1" >"$work/poll-$1.txt" &
  printf -v "poller_$1" '%s' "$!"
}
# Stops the poller $1 and records its counts for this round.
stop_poller() {
  local pid_var="poller_$1" failed ok
  [ -n "${!pid_var:-}" ] || return 0
  touch "$work/stop-$1"
  wait "${!pid_var}" || true
  printf -v "poller_$1" '%s' ""
  read -r failed ok <"$work/poll-$1.txt"
  echo "$1 $failed $ok" >>"$work/outages.txt"
}

now() { date +%s%N; }
# Records how long the phase $1 of this round took since $phase_start (for the breakdown).
phase_done() {
  local end
  end=$(now)
  [ "${timing:-0}" = 1 ] && echo "$1 $(((end - phase_start) / 1000000))" >>"$work/phases.txt"
  phase_start=$end
}

run_slipway() {
  local round=$1 report=$work/slipway.env
  : >"$report"
  phase_start=$(now)
  "$bin/containerize" --artifact "$work/app.jar" --base "$base" --image "$slipway_repo:r$round" \
    --output "$work/layout" --dotenv "$report" >/dev/null 2>>"$work/slipway.log"
  phase_done "slipway:containerize"
  "$bin/push-image" --layout "$work/layout" --image "$slipway_repo" --tag "r$round" --dotenv "$report" \
    >/dev/null 2>>"$work/slipway.log"
  phase_done "slipway:push-image"
  local image_ref
  image_ref=$(sed -n 's/^SLIPWAY_IMAGE_REF=//p' "$report" | tail -n 1)
  start_poller slipway "$slipway_port"
  "$bin/deploy" --target docker --strategy "$strategy" --proxy-image "$proxy_image" --check /health \
    --drain-timeout 5s --image "$image_ref" --name "$slipway_name" \
    --publish "127.0.0.1:$slipway_port:8080" --version-label "$version" --timeout 2m --dotenv "$report" \
    >/dev/null 2>>"$work/slipway.log"
  phase_done "slipway:deploy"
  "$bin/verify" --url "http://127.0.0.1:$slipway_port" --check /health --expect-version "$version" \
    --timeout 60s --dotenv "$report" >/dev/null 2>>"$work/slipway.log"
  phase_done "slipway:verify"
  stop_poller slipway
  grep -qx 'SLIPWAY_HEALTHY=true' "$report" || die "slipway round $round: verify did not report healthy"
}

run_docker() {
  local round=$1
  phase_start=$(now)
  docker build --quiet --tag "$docker_repo:r$round" "$context" >/dev/null 2>>"$work/docker.log"
  phase_done "docker:build"
  docker push --quiet "$docker_repo:r$round" >/dev/null 2>>"$work/docker.log"
  phase_done "docker:push"
  start_poller docker "$docker_port"
  docker rm --force "$docker_name" >/dev/null 2>&1 || true
  docker run --detach --name "$docker_name" --publish "127.0.0.1:$docker_port:8080" "$docker_repo:r$round" \
    >/dev/null 2>>"$work/docker.log"
  phase_done "docker:rm+run"
  curl -fsS --retry 60 --retry-delay 1 --retry-all-errors --retry-connrefused --max-time 5 \
    "http://127.0.0.1:$docker_port/version" 2>>"$work/docker.log" | grep -q "$version" ||
    die "docker round $round: /version did not answer $version"
  phase_done "docker:curl"
  stop_poller docker
}

timed() {
  local start end
  start=$(now)
  "$@" || die "$* failed (see $work/*.log)"
  end=$(now)
  echo $(((end - start) / 1000000))
}

log "warm-up round (untimed)"
new_jar 0
run_docker 0 || die "the docker side failed: $(cat "$work/docker.log")"
run_slipway 0 || die "the slipway side failed: $(cat "$work/slipway.log")"

slipway_ms=()
docker_ms=()
timing=1
for round in $(seq 1 "$runs"); do
  new_jar "$round"
  if [ $((round % 2)) -eq 1 ]; then
    slipway_ms+=("$(timed run_slipway "$round")")
    docker_ms+=("$(timed run_docker "$round")")
  else
    docker_ms+=("$(timed run_docker "$round")")
    slipway_ms+=("$(timed run_slipway "$round")")
  fi
  log "round $round: slipway ${slipway_ms[-1]} ms, docker ${docker_ms[-1]} ms"
done

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
slipway_median=$(median "${slipway_ms[@]}")
docker_median=$(median "${docker_ms[@]}")
ratio=$(awk -v a="$slipway_median" -v b="$docker_median" 'BEGIN {printf "%.2f", a / b}')
verdict=$(awk -v r="$ratio" -v t="$target" 'BEGIN {print (r <= t) ? "PASS" : "MISS"}')
printf '%-48s %12s %12s %8s %8s\n' "pipeline (JAR built; containerize..verify)" "slipway ms" "docker ms" "ratio" "target"
printf '%-48s %12s %12s %8s %8s  %s\n' "median of $runs rounds" "$slipway_median" "$docker_median" "$ratio" "<=$target" "$verdict"
printf '%-48s %12s %12s\n' "rounds" "${slipway_ms[*]}" "${docker_ms[*]}"
echo
printf '%-48s %12s\n' "phase (median of $runs rounds)" "ms"
for phase in slipway:containerize slipway:push-image slipway:deploy slipway:verify docker:build docker:push docker:rm+run docker:curl; do
  # shellcheck disable=SC2046 # one value per line, numbers only
  printf '%-48s %12s\n' "$phase" "$(median $(awk -v p="$phase" '$1 == p {print $2}' "$work/phases.txt"))"
done
echo
printf '%-48s %12s %12s %8s\n' "outage while deploying (a poller every 20 ms)" "slipway" "docker" "target"
total() { awk -v side="$1" -v field="$2" '$1 == side {n += $field} END {print n + 0}' "$work/outages.txt"; }
slipway_failed=$(total slipway 2)
outage_verdict=$([ "$slipway_failed" -eq 0 ] && echo PASS || echo MISS)
printf '%-48s %12s %12s %8s  %s\n' "failed requests, all $runs rounds ($strategy)" "$slipway_failed" \
  "$(total docker 2)" "0" "$outage_verdict"
printf '%-48s %12s %12s\n' "answered requests, all $runs rounds" "$(total slipway 3)" "$(total docker 3)"
# Deploy until the new version serves: slipway's deploy phase; docker's rm+run plus curl.
docker_deploy=$(paste -d' ' <(awk '$1 == "docker:rm+run" {print $2}' "$work/phases.txt") \
  <(awk '$1 == "docker:curl" {print $2}' "$work/phases.txt") | awk '{print $1 + $2}')
# shellcheck disable=SC2046 # one value per line, numbers only
printf '%-48s %12s %12s\n' "deploy until the new version serves, median ms" \
  "$(median $(awk '$1 == "slipway:deploy" {print $2}' "$work/phases.txt"))" "$(median $docker_deploy)"
