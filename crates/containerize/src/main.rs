//! `containerize`: the binary; flags are parsed here, the work is in the library.

slipway_contract::step_main! {
    #[command(
        name = "containerize",
        version,
        about = "Turns a JVM artifact (fat JAR, dist or WAR) into a reproducible, layered OCI image on a base image from a registry, without a Docker daemon.",
        after_help = "Outputs (to $GITHUB_OUTPUT, the dotenv report and standard output): layout, image-digest, config-digest, platforms, base-digest, tarball, app-layers.\nExit codes: 0 done, 1 a registry or disk failure, 2 bad input (an unknown base, a platform the base lacks, a Java release newer than the base's)."
    )]
    step: "containerize",
    args: slipway_containerize::ContainerizeArgs,
    run: slipway_containerize::run,
}
