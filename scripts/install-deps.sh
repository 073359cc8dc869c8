#!/usr/bin/env bash
# Installs what slipway's tests and pipeline need on a Debian machine (bookworm):
# a JDK, Maven and Gradle that build offline against Debian's Maven repository.
# Idempotent: installs only what is missing. Needs root (or sudo).
set -euo pipefail

packages=(
  # JDK and build tools.
  openjdk-17-jdk-headless maven gradle
  # The Maven plugins and libraries the sample app's pom pins (offline, from /usr/share/maven-repo).
  libmaven-compiler-plugin-java libmaven-resources-plugin-java libmaven-jar-plugin-java
  libmaven-shade-plugin-java libsurefire-java libgoogle-gson-java
  # Tools the tests call.
  coreutils curl
  # Local test services and base images (scripts/test-services.sh): the CNCF distribution
  # registry, OCI image tools, a container runtime for the self-check, htpasswd, jq.
  docker-registry skopeo umoci runc apache2-utils jq
)

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} Debian packages present"
  exit 0
fi

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "install-deps: installing ${missing[*]}"
$sudo apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${missing[@]}"
