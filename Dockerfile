# slipway's suite image, built with Docker. It is the image scripts/suite-image.sh builds with
# slipway's own containerize (the release does that): the base, then the five binaries in
# /usr/local/bin, the base's shell, user and entrypoint kept. tests/suite_image.rs builds both
# and checks they hold the same files and run the same way.
#
# The build context is a directory holding only the five binaries (suite-image.sh prints it as
# `context=`), never the whole target directory:
#
#   docker build -f Dockerfile -t slipway:dev "$context"
#
# The base needs a shell, glibc, libgcc and CA certificates.
ARG BASE=gcr.io/distroless/cc-debian12:debug
FROM ${BASE}
COPY build-jar containerize push-image deploy verify /usr/local/bin/
LABEL org.opencontainers.image.title="slipway" \
      org.opencontainers.image.description="slipway's five pipeline steps: build-jar, containerize, push-image, deploy, verify"
