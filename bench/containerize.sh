#!/usr/bin/env bash
# Benchmarks containerize against `buildah bud` and `docker build`, side by side in one run:
#
#   1. cold build   the sample app's fat JAR on the same base, each tool BENCH_RUNS times,
#                   tools alternating per round (the order rotates every round): median wall
#                   time and the ratios containerize/buildah (target <= 0.25) and
#                   containerize/docker (target <= 0.1). buildah runs with --layers=false and
#                   docker with --no-cache, so every run really builds the COPY layer.
#   2. rebuild      after a one-line change (the greeting string in App.java, rebuilt with
#                   Maven before each round, untimed): docker and buildah (--layers) with their
#                   layer caches warm, containerize writing to the same output directory as the
#                   build before. Also checks that containerize rewrote only the app layers: for
#                   the fat JAR (app layer, base digest, base layer list) and for the Gradle dist
#                   (`app-layers=<deps>,<app>`: the dependencies layer must not change).
#   3. big JAR      containerize on a ~1 GiB fat JAR (the sample JAR plus an incompressible
#                   random entry stored with `zip -0`) with each --compression (gzip, none,
#                   zstd), BENCH_BIG_RUNS times each, under GNU time: median wall time as a
#                   multiple of one `sha256sum` pass over the same JAR (target for none: <= 1.5),
#                   and max RSS against 64 MiB.
#
# What is timed is the build, never the first pull of the base: buildah pulls the base into
# its own (temporary) storage and docker pulls it into the engine before any timing, buildah
# then builds with --pull=never and docker's legacy builder uses the local image; one untimed
# warm-up round of all three tools runs first. containerize has no local image store: every
# run of it reads the base's manifest and config from the loopback registry, and that is
# part of its time (it never downloads base layers for an OCI layout).
#
# Prints aligned tables on stdout (progress goes to stderr). Exits 0 whether or not the targets
# are met (PASS/MISS is printed); exits 1 when a tool or a build fails.
#
# Environment:
#   BENCH_RUNS=5              timed runs per tool, for the cold build and for the rebuild
#   BENCH_MARKDOWN=1          also print the tables as Markdown
#   BENCH_BIG_MIB=1024        size of the big JAR's random entry, in MiB (0 skips step 3)
#   BENCH_BIG_RUNS=3          timed runs per --compression (and of sha256sum) in step 3
#   BENCH_BUILDAH_DRIVER      buildah storage driver: overlay or vfs (default: overlay when it
#                             works here, else vfs)
#   SLIPWAY_BIN_DIR           directory holding a prebuilt containerize binary; default
#                             ${CARGO_TARGET_DIR:-target}/release, built with
#                             `cargo build --release -p slipway-containerize` when missing
#   TMPDIR                    where the work directory goes (needs ~2.5 GiB free for step 3)
#
# Needs the packages of scripts/install-deps.sh (buildah, zip, time, jq, maven, gradle, the
# JDK), a running Docker Engine, and root (buildah storage, docker). Starts the loopback test
# registry with scripts/test-services.sh. Everything it creates (work directory, buildah
# storage, docker images, and the docker base image when this run pulled it) is removed at exit.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
runs=${BENCH_RUNS:-5}
markdown=${BENCH_MARKDOWN:-0}
big_mib=${BENCH_BIG_MIB:-1024}
big_runs=${BENCH_BIG_RUNS:-3}
driver=${BENCH_BUILDAH_DRIVER:-auto}
sample=$repo/workflows-examples/sample-app
jar_name="sample-app-1.0.0.jar"
# The issue's targets: containerize's wall time as a fraction of the others', and its peak RSS.
target_buildah=0.25
target_docker=0.1
target_rss_mib=64
# containerize --compression none on the big JAR, as a multiple of one sha256sum pass over it.
target_big_none=1.5

log() { echo "bench: $*" >&2; }
die() { echo "bench: error: $*" >&2; exit 1; }

[[ $runs =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS must be a positive integer, not '$runs'"
[[ $big_mib =~ ^[0-9]+$ ]] || die "BENCH_BIG_MIB must be a whole number of MiB, not '$big_mib'"
[[ $big_runs =~ ^[1-9][0-9]*$ ]] || die "BENCH_BIG_RUNS must be a positive integer, not '$big_runs'"
case $driver in auto | overlay | vfs) ;; *) die "BENCH_BUILDAH_DRIVER must be overlay or vfs, not '$driver'" ;; esac

missing=()
for tool in buildah docker jq mvn gradle zip java awk; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
[ -x /usr/bin/time ] || missing+=("/usr/bin/time")
[ ${#missing[@]} -eq 0 ] || die "missing ${missing[*]}: run scripts/install-deps.sh first"
docker info >/dev/null 2>&1 || die "the Docker Engine does not answer (docker info)"

# ---------------------------------------------------------------- cleanup

work=$(mktemp -d "${TMPDIR:-/tmp}/slipway-bench.XXXXXX")
buildah_opts=(--root "$work/buildah/root" --runroot "$work/buildah/run")
docker_tags=()
docker_pulled_base=""

cleanup() {
  local status=$?
  set +e
  if [ ${#docker_tags[@]} -gt 0 ]; then
    docker rmi --force "${docker_tags[@]}" >/dev/null 2>&1
  fi
  [ -z "$docker_pulled_base" ] || docker rmi "$docker_pulled_base" >/dev/null 2>&1
  if [ -d "$work/buildah/root" ]; then
    buildah "${buildah_opts[@]}" rm --all >/dev/null 2>&1
    buildah "${buildah_opts[@]}" rmi --all --force >/dev/null 2>&1
    buildah "${buildah_opts[@]}" umount --all >/dev/null 2>&1
  fi
  rm -rf "$work" || log "warning: could not remove $work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- helpers

# Runs "$@" with its output in the log file $1; sets elapsed_us. A failure stops the bench.
elapsed_us=0
timed() {
  local logfile=$1 start end
  shift
  start=$(date +%s%N)
  if ! "$@" >"$logfile" 2>&1; then
    log "error: failed: $*"
    tail -n 25 "$logfile" >&2
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

median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ms() { awk -v us="$1" 'BEGIN { printf "%.1f ms", us / 1000 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
verdict() { awk -v r="$1" -v t="$2" 'BEGIN { print (r <= t) ? "PASS" : "MISS" }'; }
short() { local digest=${1#sha256:}; echo "${digest:0:12}"; }

# Prints tab-separated rows (the first is the header) as an aligned table, then as Markdown
# when BENCH_MARKDOWN=1.
print_table() {
  local title=$1 rows
  shift
  rows=$(printf '%s\n' "$@")
  echo
  echo "$title"
  awk -F'\t' '
    { for (i = 1; i <= NF; i++) { cell[NR, i] = $i; if (length($i) > width[i]) width[i] = length($i) }
      if (NF > cols) cols = NF }
    END {
      for (r = 1; r <= NR; r++) {
        line = ""
        for (i = 1; i <= cols; i++) line = line sprintf("%-" width[i] "s", cell[r, i]) (i < cols ? "  " : "")
        sub(/ +$/, "", line); print line
        if (r == 1) {
          line = ""
          for (i = 1; i <= cols; i++) { dash = sprintf("%" width[i] "s", ""); gsub(/ /, "-", dash); line = line dash (i < cols ? "  " : "") }
          print line
        }
      }
    }' <<<"$rows"
  if [ "$markdown" = 1 ]; then
    echo
    awk -F'\t' '
      { line = "|"; for (i = 1; i <= NF; i++) line = line " " $i " |"; print line
        if (NR == 1) { line = "|"; for (i = 1; i <= NF; i++) line = line " --- |"; print line } }' <<<"$rows"
  fi
}

# ---------------------------------------------------------------- setup

if [ -n "${SLIPWAY_BIN_DIR:-}" ]; then
  containerize=$SLIPWAY_BIN_DIR/containerize
  [ -x "$containerize" ] || die "SLIPWAY_BIN_DIR=$SLIPWAY_BIN_DIR holds no executable containerize"
else
  containerize=${CARGO_TARGET_DIR:-$repo/target}/release/containerize
  if [ ! -x "$containerize" ]; then
    log "building $containerize (cargo build --release -p slipway-containerize; minutes on 2 cores)"
    (cd "$repo" && cargo build --release -p slipway-containerize) >&2
  fi
fi

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
log "starting the loopback test registry"
registry=$("$repo/scripts/test-services.sh" start | sed -n 's/^SLIPWAY_TEST_REGISTRY=//p')
[ -n "$registry" ] || die "scripts/test-services.sh start printed no SLIPWAY_TEST_REGISTRY"
base=$registry/slipway/jre:17

# containerize reads many SLIPWAY_* variables and appends to $GITHUB_OUTPUT: give it none
# (env execs containerize, so GNU time still measures containerize itself).
clean_env=(env)
while IFS= read -r name; do clean_env+=(-u "$name"); done < <(compgen -e | grep -E '^(SLIPWAY_|GITHUB_OUTPUT$|GITHUB_STEP_SUMMARY$)' || true)
run_containerize() { "${clean_env[@]}" "$containerize" --artifact "$1" --base "$base" --output "$2"; }

# buildah: its own storage under the work directory, the base pulled there once.
unset BUILDAH_LAYERS
if [ "$driver" = auto ]; then
  if buildah "${buildah_opts[@]}" --storage-driver overlay pull --tls-verify=false -q "$base" >"$work/buildah-pull.log" 2>&1; then
    driver=overlay
  else
    log "buildah's overlay driver does not work here ($(tail -n 1 "$work/buildah-pull.log")): using vfs"
    buildah "${buildah_opts[@]}" rmi --all --force >/dev/null 2>&1 || true
    rm -rf "$work/buildah"
    driver=vfs
  fi
fi
buildah_opts+=(--storage-driver "$driver")
log "pulling the base into buildah's storage ($driver), untimed"
quiet "$work/buildah-pull.log" buildah "${buildah_opts[@]}" pull --tls-verify=false -q "$base"

log "pulling the base into the Docker Engine, untimed"
docker image inspect "$base" >/dev/null 2>&1 || docker_pulled_base=$base
quiet "$work/docker-pull.log" docker pull "$base"
if [ "${DOCKER_BUILDKIT:-}" != 0 ] && docker buildx version >/dev/null 2>&1; then docker_builder=BuildKit; else docker_builder=legacy; fi

# The sample app, copied (no build output), built with Maven (fat JAR) and Gradle (dist).
src=$work/sample-app
mkdir -p "$src"
tar -C "$sample" --exclude=./target --exclude=./build --exclude=./.gradle -cf - . | tar -C "$src" -xf -
app_java=$src/src/main/java/dev/slipway/sample/App.java
grep -q '"message", "hello from "' "$app_java" || die "no greeting line to change in $app_java"
in_dir() { (cd "$1" && shift && "$@"); }
build_jar() { quiet "$work/mvn.log" in_dir "$src" mvn -q -o -Dmaven.repo.local=/usr/share/maven-repo -DskipTests package; }
build_dist() {
  quiet "$work/gradle.log" in_dir "$src" gradle --offline --no-daemon -q -PslipwayRepo=file:///usr/share/maven-repo installDist
}
log "building the sample's fat JAR (Maven) and dist (Gradle), untimed"
build_jar
build_dist

ctx=$work/context
mkdir -p "$ctx"
cp "$src/target/$jar_name" "$ctx/$jar_name"
cat >"$ctx/Dockerfile" <<EOF
FROM $base
COPY $jar_name /app/app.jar
ENTRYPOINT ["java", "-jar", "/app/app.jar"]
EOF

# One build by tool: $1 the tool, $2 mode (cold or warm), $3 a label for tags and logs.
build_with() {
  local tool=$1 mode=$2 label=$3 tag
  case $tool in
    containerize)
      [ "$mode" = warm ] || rm -rf "$work/out-cold"
      if [ "$mode" = warm ]; then
        timed "$work/log-$label-$tool" run_containerize "$ctx/$jar_name" "$work/out-jar"
      else
        timed "$work/log-$label-$tool" run_containerize "$ctx/$jar_name" "$work/out-cold"
      fi
      ;;
    buildah)
      tag=localhost/slipway-bench:$label
      local layers=--layers=false
      [ "$mode" = cold ] || layers=--layers=true
      timed "$work/log-$label-$tool" buildah "${buildah_opts[@]}" bud --tls-verify=false --pull=never "$layers" \
        -q -t "$tag" -f "$ctx/Dockerfile" "$ctx"
      ;;
    docker)
      tag=slipway-bench-$$:$label
      docker_tags+=("$tag")
      local cache=()
      [ "$mode" = warm ] || cache=(--no-cache)
      timed "$work/log-$label-$tool" docker build -q "${cache[@]}" -t "$tag" "$ctx"
      ;;
  esac
}

tools=(containerize buildah docker)
# Runs every tool once in round $3 (the order rotates with it); when $4 is 1, appends the
# times to times_<tool>.
times_containerize=()
times_buildah=()
times_docker=()
round() {
  local mode=$1 label=$2 number=$3 timed_round=$4 k tool
  for k in 0 1 2; do
    tool=${tools[(number + k) % 3]}
    build_with "$tool" "$mode" "$label"
    if [ "$timed_round" = 1 ]; then
      case $tool in
        containerize) times_containerize+=("$elapsed_us") ;;
        buildah) times_buildah+=("$elapsed_us") ;;
        docker) times_docker+=("$elapsed_us") ;;
      esac
    fi
  done
}

# The layer digests of the image in an OCI layout (the first platform's, for an index).
layout_layers() {
  local dir=$1 digest manifest
  digest=$(jq -r '.manifests[0].digest' "$dir/index.json")
  manifest=$dir/blobs/sha256/${digest#sha256:}
  if jq -e '.manifests' "$manifest" >/dev/null 2>&1; then
    digest=$(jq -r '.manifests[0].digest' "$manifest")
    manifest=$dir/blobs/sha256/${digest#sha256:}
  fi
  jq -r '.layers[].digest' "$manifest"
}
output() { sed -n "s/^$2=//p" "$1" | tail -n 1; }

result_rows=("step"$'\t'"containerize"$'\t'"buildah"$'\t'"docker"$'\t'"c/buildah"$'\t'"c/docker"$'\t'"targets (<= $target_buildah, <= $target_docker)")
# Adds a result row from the times_* arrays, then empties them.
add_timing_row() {
  local name=$1 c b d rb rd
  c=$(median "${times_containerize[@]}")
  b=$(median "${times_buildah[@]}")
  d=$(median "${times_docker[@]}")
  rb=$(ratio "$c" "$b")
  rd=$(ratio "$c" "$d")
  result_rows+=("$name"$'\t'"$(ms "$c")"$'\t'"$(ms "$b")"$'\t'"$(ms "$d")"$'\t'"$rb"$'\t'"$rd"$'\t'"buildah $(verdict "$rb" "$target_buildah"), docker $(verdict "$rd" "$target_docker")")
  times_containerize=()
  times_buildah=()
  times_docker=()
}

# ---------------------------------------------------------------- 1. cold build

log "1/3 cold build: 1 warm-up round, then $runs timed rounds"
round cold warmup 0 0
for ((r = 1; r <= runs; r++)); do
  round cold "cold-$r" "$r" 1
done
add_timing_row "cold build, fat JAR (median of $runs)"

# ---------------------------------------------------------------- 2. rebuild after a change

log "2/3 rebuild after a one-line change: priming caches with the unchanged JAR, untimed"
round warm prime 0 0
cp "$work/log-prime-containerize" "$work/jar-v1.out"
layout_layers "$work/out-jar" >"$work/jar-v1.layers"
find "$work/out-jar/blobs/sha256" -type f -printf '%f\n' | sort >"$work/jar-v1.blobs"

log "containerize on the Gradle dist before the change, untimed"
quiet "$work/dist-v1.out" run_containerize "$src/build/install/sample-app" "$work/out-dist"
layout_layers "$work/out-dist" >"$work/dist-v1.layers"

for ((r = 1; r <= runs; r++)); do
  sed -i -E "s/\"message\", \"hello[^\"]*from \"/\"message\", \"hello (edit $r) from \"/" "$app_java"
  grep -q "hello (edit $r) from" "$app_java" || die "could not change the greeting line"
  log "rebuild round $r/$runs: Maven rebuilds the JAR (untimed)"
  build_jar
  cp "$src/target/$jar_name" "$ctx/$jar_name"
  round warm "rebuild-$r" "$r" 1
  if [ "$r" = 1 ]; then
    cp "$work/log-rebuild-1-containerize" "$work/jar-v2.out"
    layout_layers "$work/out-jar" >"$work/jar-v2.layers"
    find "$work/out-jar/blobs/sha256" -type f -printf '%f\n' | sort >"$work/jar-v2.blobs"
  fi
done
add_timing_row "rebuild after 1-line change (median of $runs)"

log "containerize on the Gradle dist after the change (Gradle rebuild untimed)"
build_dist
quiet "$work/dist-v2.out" run_containerize "$src/build/install/sample-app" "$work/out-dist"
layout_layers "$work/out-dist" >"$work/dist-v2.layers"

# Checks: $1 name, $2 before, $3 after, $4 expected (same or changed).
check_rows=("containerize rebuild"$'\t'"before"$'\t'"after"$'\t'"expected"$'\t'"result")
check() {
  local name=$1 before=$2 after=$3 expected=$4 got=changed
  [ "$before" != "$after" ] || got=same
  local result=OK
  [ "$got" = "$expected" ] || { result=UNEXPECTED; log "warning: $name: expected $expected, got $got"; }
  check_rows+=("$name"$'\t'"$before"$'\t'"$after"$'\t'"$expected"$'\t'"$result")
}
digest_list() { local d out=""; for d in "$@"; do out+="${out:+,}$(short "$d")"; done; echo "$out"; }
layer_summary() {
  # Base layers of a layout (all but the last $2 layers): their count and a hash of their list.
  local list
  list=$(head -n "-$2" "$1")
  echo "n=$(printf '%s\n' "$list" | grep -c .) list=$(printf '%s' "$list" | sha256sum | cut -c1-12)"
}

a1=$(output "$work/jar-v1.out" app-layers)
a2=$(output "$work/jar-v2.out" app-layers)
check "fat JAR: app layer" "$(short "$a1")" "$(short "$a2")" changed
check "fat JAR: base digest" "$(short "$(output "$work/jar-v1.out" base-digest)")" "$(short "$(output "$work/jar-v2.out" base-digest)")" same
check "fat JAR: base layers in manifest" "$(layer_summary "$work/jar-v1.layers" 1)" "$(layer_summary "$work/jar-v2.layers" 1)" same
new_blobs=$(comm -13 "$work/jar-v1.blobs" "$work/jar-v2.blobs" | grep -c . || true)
check_rows+=("fat JAR: layout blobs (base not copied)"$'\t'"$(grep -c . "$work/jar-v1.blobs") blobs"$'\t'"$new_blobs new of $(grep -c . "$work/jar-v2.blobs")"$'\t'"3 (app, config, manifest)"$'\t'"$([ "$new_blobs" = 3 ] && echo OK || echo UNEXPECTED)")
IFS=, read -r d1 p1 <<<"$(output "$work/dist-v1.out" app-layers)"
IFS=, read -r d2 p2 <<<"$(output "$work/dist-v2.out" app-layers)"
[ -n "$p1" ] && [ -n "$p2" ] || die "containerize gave no dependencies,app layer pair for the dist: $(output "$work/dist-v1.out" app-layers)"
check "dist: dependencies layer" "$(short "$d1")" "$(short "$d2")" same
check "dist: app layer" "$(short "$p1")" "$(short "$p2")" changed
check "dist: base digest" "$(short "$(output "$work/dist-v1.out" base-digest)")" "$(short "$(output "$work/dist-v2.out" base-digest)")" same
check "dist: base layers in manifest" "$(layer_summary "$work/dist-v1.layers" 2)" "$(layer_summary "$work/dist-v2.layers" 2)" same

# ---------------------------------------------------------------- 3. peak memory, big JAR

memory_rows=("containerize on a big fat JAR"$'\t'"value"$'\t'"target"$'\t'"result")
big_rows=("big fat JAR ($big_runs runs, medians)"$'\t'"wall time"$'\t'"app layer"$'\t'"x sha256sum"$'\t'"target"$'\t'"result")
if [ "$big_mib" -gt 0 ]; then
  log "3/3 big JAR: a fat JAR with a $big_mib MiB random stored entry"
  big=$work/big
  mkdir -p "$big"
  cp "$ctx/$jar_name" "$big/$jar_name"
  head -c "$((big_mib * 1024 * 1024))" /dev/urandom >"$big/filler.bin"
  quiet "$work/zip.log" in_dir "$big" zip -0 -q "$jar_name" filler.bin
  rm -f "$big/filler.bin"
  jar_mib=$(($(stat -c %s "$big/$jar_name") / 1024 / 1024))
  # The floor: one sha256sum pass over the JAR (page cache warm, as for containerize).
  quiet "$work/sha-warm.log" sha256sum "$big/$jar_name"
  sha_times=()
  for ((r = 1; r <= big_runs; r++)); do
    timed "$work/log-sha" sha256sum "$big/$jar_name"
    sha_times+=("$elapsed_us")
  done
  sha_us=$(median "${sha_times[@]}")
  big_rows+=("sha256sum of the JAR (the floor)"$'\t'"$(ms "$sha_us")"$'\t'"-"$'\t'"1.000"$'\t'"-"$'\t'"-")
  for compression in gzip none zstd; do
    big_times=()
    for ((r = 1; r <= big_runs; r++)); do
      rm -rf "$work/out-big"
      timed "$work/log-big" /usr/bin/time -v -o "$work/big-$compression.time" "${clean_env[@]}" \
        "$containerize" --artifact "$big/$jar_name" --base "$base" --output "$work/out-big" --compression "$compression"
      big_times+=("$elapsed_us")
    done
    big_us=$(median "${big_times[@]}")
    layer=$(output "$work/log-big" app-layers)
    layer_size=$(stat -c %s "$work/out-big/blobs/sha256/${layer#sha256:}")
    big_ratio=$(ratio "$big_us" "$sha_us")
    if [ "$compression" = none ]; then
      big_target="<= $target_big_none"
      big_result=$(verdict "$big_ratio" "$target_big_none")
    else
      big_target="-"
      big_result="-"
    fi
    big_rows+=("--compression $compression"$'\t'"$(ms "$big_us")"$'\t'"$((layer_size / 1024 / 1024)) MiB"$'\t'"$big_ratio"$'\t'"$big_target"$'\t'"$big_result")
    rss_kib=$(sed -n 's/^[[:space:]]*Maximum resident set size (kbytes): //p' "$work/big-$compression.time")
    [ -n "$rss_kib" ] || die "GNU time reported no maximum resident set size"
    rss_mib=$(awk -v k="$rss_kib" 'BEGIN { printf "%.1f", k / 1024 }')
    memory_rows+=("max RSS ($jar_mib MiB JAR, --compression $compression)"$'\t'"$rss_mib MiB"$'\t'"<= $target_rss_mib MiB"$'\t'"$(verdict "$rss_mib" "$target_rss_mib")")
  done
  rm -rf "$big" "$work/out-big"
fi

# ---------------------------------------------------------------- report

load=$(cut -d' ' -f1-3 /proc/loadavg)
echo "containerize benchmark: $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, load average $load_start at the start, $load at the end"
echo "base $base; containerize $containerize; buildah $(buildah --version | awk '{print $3}') ($driver storage);" \
  "docker $(docker version --format '{{.Server.Version}}' 2>/dev/null) ($docker_builder builder); $runs runs per tool"
print_table "Wall time (medians; the base is local to buildah and docker, pulled before timing)" "${result_rows[@]}"
print_table "Layers rewritten by containerize's rebuild (digests shortened)" "${check_rows[@]}"
if [ "$big_mib" -gt 0 ]; then
  print_table "A big fat JAR against one sha256sum pass over it" "${big_rows[@]}"
  print_table "Peak memory (GNU time)" "${memory_rows[@]}"
fi
