//! The AWS SDK configuration every AWS client of the suite starts from (the registry crate's
//! ECR logins, deploy's Elastic Beanstalk, ECS and App Runner targets, verify's CloudWatch
//! alarm gates): the default credential chain and region, with one HTTP client.
//!
//! The AWS crates are built without their default features, which would bring a second,
//! legacy HTTP and TLS stack (hyper 0.14, rustls 0.21) and AWS-LC (C, built with cmake) into
//! every cold build; so they have no default HTTP client, and a client configured otherwise
//! has none. The client below is what the SDK's own default builds (hyper 1, rustls, proxies
//! from the environment) on ring, the crypto the rest of the suite uses.

use aws_config::{BehaviorVersion, ConfigLoader};
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use aws_smithy_http_client::{Builder, ConnectorBuilder};
use aws_smithy_runtime_api::client::http::SharedHttpClient;

/// The SDK's default configuration loader (environment, profile, web identity, SSO, process
/// credentials; region from the environment or profile) with [`http_client`].
pub fn config_loader() -> ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest()).http_client(http_client())
}

/// An HTTPS client for AWS APIs: the SDK's default (`aws-smithy-runtime`'s
/// `default_https_client`) with ring in place of AWS-LC. Connectors are cached per timeout
/// settings by the builder, so connections are pooled across calls as with the default.
pub fn http_client() -> SharedHttpClient {
    Builder::new().build_with_connector_fn(|settings, runtime_components| {
        let mut connector = ConnectorBuilder::default().tls_provider(Provider::Rustls(CryptoMode::Ring));
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = runtime_components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    })
}
