//! `build-jar`: the binary; flags are parsed here, the work is in the library.

slipway_contract::step_main! {
    #[command(
        name = "build-jar",
        version,
        about = "Builds a runnable JVM artifact (fat JAR, dist or WAR) with the project's own Maven or Gradle, finds it and proves it runnable.",
        after_help = "Outputs (to $GITHUB_OUTPUT, the dotenv report and standard output): artifact, kind, main-class, java-release, version, sha256, size-bytes, tool.\nExit codes: 0 done, 1 the build failed, 2 bad input or an artifact that cannot run."
    )]
    step: "build-jar",
    args: slipway_build_jar::BuildJarArgs,
    run: slipway_build_jar::run,
}
