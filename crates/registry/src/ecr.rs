//! Amazon ECR logins: a registry `<account>.dkr.ecr.<region>.amazonaws.com` gets a
//! token from `GetAuthorizationToken` through the AWS SDK's default credential chain
//! (environment, profile, web identity for GitHub OIDC), when docker's config.json has
//! nothing for it. push-image and deploy's pulls share it. A build without the `aws`
//! feature has no AWS SDK: there an ECR host needs a login from docker's config.json.

#[cfg(feature = "aws")]
use aws_sdk_ecr::error::ProvideErrorMetadata;
#[cfg(feature = "aws")]
use base64::Engine;
use slipway_contract::Console;
#[cfg(feature = "aws")]
use slipway_contract::Secret;

#[cfg(feature = "aws")]
use crate::auth::Login;
use crate::auth::{ProvidedLogin, from_docker_config};

/// Why no ECR login could be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EcrError {
    /// ECR refused (no credentials, no permission): the configuration's fault.
    #[error("{0}")]
    Refused(String),
    /// ECR answered something unusable.
    #[error("{0}")]
    Failed(String),
}

/// ECR's login for `registry` in the contract's order: only for an ECR host, and only
/// when there is no explicit login (`explicit`) and docker's config.json has nothing.
pub async fn provided_login(
    registry: &str,
    explicit: bool,
    console: &Console,
) -> Result<Option<ProvidedLogin>, EcrError> {
    match ecr_region(registry) {
        Some(region) if !explicit && from_docker_config(registry, console).is_none() => {
            #[cfg(feature = "aws")]
            return Ok(Some(login(&client(&region).await, registry, console).await?));
            #[cfg(not(feature = "aws"))]
            return Err(not_in_this_build(registry, &region));
        }
        _ => Ok(None),
    }
}

/// Why a build without the AWS SDK cannot log in to an ECR registry, and what will.
#[cfg_attr(feature = "aws", allow(dead_code))]
fn not_in_this_build(registry: &str, region: &str) -> EcrError {
    EcrError::Refused(format!(
        "{registry} is an ECR registry ({region}) and this build has no AWS SDK to get its login \
         (built without the `aws` feature): log in with `aws ecr get-login-password | docker login`, \
         or use a full build of slipway"
    ))
}

/// The region of an ECR registry host, or `None` for any other registry.
pub fn ecr_region(registry: &str) -> Option<String> {
    let host = registry.split(':').next().unwrap_or(registry);
    let parts: Vec<&str> = host.split('.').collect();
    let account_ok = parts.first().is_some_and(|a| a.len() == 12 && a.chars().all(|c| c.is_ascii_digit()));
    let suffix_ok = matches!(parts.get(4..), Some(["amazonaws", "com"]) | Some(["amazonaws", "com", "cn"]));
    let ecr_ok = parts.get(1) == Some(&"dkr") && parts.get(2).is_some_and(|e| *e == "ecr" || *e == "ecr-fips");
    (account_ok && ecr_ok && suffix_ok).then(|| parts[3].to_owned())
}

/// Asks ECR for a registry token and turns it into a masked login.
#[cfg(feature = "aws")]
pub async fn login(client: &aws_sdk_ecr::Client, registry: &str, console: &Console) -> Result<ProvidedLogin, EcrError> {
    let output = client.get_authorization_token().send().await.map_err(|error| {
        let detail = match (error.code(), error.message()) {
            (Some(code), Some(message)) => format!("{code}: {message}"),
            _ => aws_sdk_ecr::error::DisplayErrorContext(&error).to_string(),
        };
        EcrError::Refused(format!(
            "cannot get an ECR login for {registry}: {detail} (AWS credentials come from the environment, a profile, or web identity for GitHub OIDC)"
        ))
    })?;
    let token = output
        .authorization_data()
        .first()
        .and_then(|data| data.authorization_token())
        .ok_or_else(|| EcrError::Failed(format!("ECR returned no authorization token for {registry}")))?;
    console.add_mask(token);
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(token)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| EcrError::Failed("ECR's authorization token is not base64 text".to_owned()))?;
    let (username, password) = decoded
        .split_once(':')
        .ok_or_else(|| EcrError::Failed("ECR's authorization token is not USER:PASSWORD".to_owned()))?;
    Ok(ProvidedLogin {
        registry: registry.to_owned(),
        login: Login { username: username.to_owned(), password: Secret::new(password.to_owned(), console) },
        source: "ECR GetAuthorizationToken".to_owned(),
    })
}

/// An ECR client for `region`, credentials from the default chain.
#[cfg(feature = "aws")]
pub async fn client(region: &str) -> aws_sdk_ecr::Client {
    let config = slipway_aws::config_loader().region(aws_config::Region::new(region.to_owned())).load().await;
    aws_sdk_ecr::Client::new(&config)
}

#[cfg(all(test, feature = "aws"))]
mod tests {
    use super::*;
    use aws_sdk_ecr::operation::get_authorization_token::{GetAuthorizationTokenError, GetAuthorizationTokenOutput};
    use aws_sdk_ecr::types::AuthorizationData;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use slipway_contract::CiMode;
    use slipway_contract::console::CapturedLog;

    const REGISTRY: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";

    #[test]
    fn ecr_hosts_and_their_regions() {
        assert_eq!(ecr_region(REGISTRY).as_deref(), Some("eu-west-1"));
        assert_eq!(ecr_region("123456789012.dkr.ecr-fips.us-east-1.amazonaws.com").as_deref(), Some("us-east-1"));
        assert_eq!(ecr_region("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn").as_deref(), Some("cn-north-1"));
        for other in [
            "ghcr.io",
            "docker.io",
            "12345.dkr.ecr.eu-west-1.amazonaws.com",
            "123456789012.dkr.ecr.eu-west-1.example.com",
        ] {
            assert_eq!(ecr_region(other), None, "{other}");
        }
    }

    #[tokio::test]
    async fn the_token_becomes_a_masked_basic_login() {
        let token = base64::engine::general_purpose::STANDARD.encode("AWS:ecr-s3cret-password");
        let returned = token.clone();
        let rule = mock!(aws_sdk_ecr::Client::get_authorization_token).then_output(move || {
            GetAuthorizationTokenOutput::builder()
                .authorization_data(AuthorizationData::builder().authorization_token(returned.clone()).build())
                .build()
        });
        let client = mock_client!(aws_sdk_ecr, RuleMode::Sequential, [&rule]);
        let log = CapturedLog::default();
        let console = log.console("push-image", CiMode::GitHub);
        let provided = login(&client, REGISTRY, &console).await.unwrap();
        assert_eq!(provided.login.username, "AWS");
        assert_eq!(provided.login.password.expose(), "ecr-s3cret-password");
        assert_eq!(log.text(), format!("::add-mask::{token}\n::add-mask::ecr-s3cret-password\n"));
        assert_eq!(rule.num_calls(), 1);
    }

    #[tokio::test]
    async fn a_refusal_is_bad_configuration() {
        let rule = mock!(aws_sdk_ecr::Client::get_authorization_token).then_error(|| {
            GetAuthorizationTokenError::generic(
                aws_sdk_ecr::error::ErrorMetadata::builder()
                    .code("AccessDeniedException")
                    .message("not authorized")
                    .build(),
            )
        });
        let client = mock_client!(aws_sdk_ecr, RuleMode::Sequential, [&rule]);
        let log = CapturedLog::default();
        let error = login(&client, REGISTRY, &log.console("push-image", CiMode::Plain)).await.unwrap_err();
        assert!(
            matches!(&error, EcrError::Refused(message) if message.contains("AccessDeniedException: not authorized")),
            "{error:?}"
        );
    }

    #[test]
    fn a_build_without_the_sdk_refuses_an_ecr_host_and_names_the_login_that_works() {
        let EcrError::Refused(message) = not_in_this_build(REGISTRY, "eu-west-1") else { panic!("a refusal") };
        assert!(message.starts_with(&format!("{REGISTRY} is an ECR registry (eu-west-1)")), "{message}");
        assert!(message.contains("without the `aws` feature") && message.contains("docker login"), "{message}");
        assert!(!message.contains('\n'), "one line: {message}");
    }
}
