//! `push-image`: the binary; flags are parsed here, the work is in the library.

slipway_contract::step_main! {
    #[command(
        name = "push-image",
        version,
        about = "Pushes the OCI image layout containerize wrote to any OCI registry (ECR, GHCR, Docker Hub, self-hosted): blobs first, tags last.",
        after_help = "Credentials, in order: --username with REGISTRY_PASSWORD or --password-stdin; docker's config.json and credential helpers (DOCKER_CONFIG); GITHUB_TOKEN for ghcr.io; anonymous.\nOutputs (to $GITHUB_OUTPUT, the dotenv report and standard output): image-ref, digest, tags, bytes-uploaded, blobs-uploaded, blobs-skipped, blobs-mounted.\nExit codes: 0 pushed, 1 the push failed (nothing tagged), 2 bad input (a malformed repository or tag, a missing or corrupt layout, rejected credentials)."
    )]
    step: "push-image",
    args: slipway_push_image::PushImageArgs,
    run: slipway_push_image::run,
}
