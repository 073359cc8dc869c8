//! `deploy`: the binary; flags are parsed here, the work is in the library.

slipway_contract::step_main! {
    #[command(
        name = "deploy",
        version,
        about = "Rolls a pushed image out to a target (a Docker host, AWS Elastic Beanstalk) with a strategy, waits until it is really live, and rolls back.",
        after_help = "Credentials: the registry's as push-image resolves them (Docker target); AWS's default chain (environment, profile, web identity for GitHub OIDC) for Elastic Beanstalk; GITHUB_TOKEN for --github-deployment.\nOutputs (to $GITHUB_OUTPUT, the dotenv report and standard output): url, version-label, previous-version, deployment-id, status, health.\nExit codes: 0 live and healthy, 1 the deployment failed or was rolled back, 2 bad input (an unknown target or strategy, a strategy the target cannot do, a missing environment, no credentials)."
    )]
    step: "deploy",
    args: slipway_deploy::DeployArgs,
    run: slipway_deploy::run,
}
