//! What the AWS targets share about calling AWS: throttling retried with backoff, never
//! past the run's deadline, and an error in one line that names, for AccessDenied, the
//! IAM action the credentials lack.

use std::future::Future;
use std::time::{Duration, Instant};

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// The longest backoff between two throttled calls.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// An SDK error in one line: AccessDenied names the action to grant (`ecs:UpdateService`),
/// other errors their code and message.
pub fn aws_error<E, R>(service: &str, action: &str, error: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match (error.code(), error.message()) {
        (Some(code @ ("AccessDeniedException" | "AccessDenied")), message) => format!(
            "{action} was denied ({code}: {}): the credentials need the IAM permission {service}:{action}",
            message.unwrap_or("no message")
        ),
        (Some(code), Some(message)) => format!("{action} failed: {code}: {message}"),
        (Some(code), None) => format!("{action} failed: {code}"),
        _ => format!("{action} failed: {}", aws_smithy_types::error::display::DisplayErrorContext(error)),
    }
}

fn is_throttling<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> bool {
    matches!(
        error.code(),
        Some("ThrottlingException" | "Throttling" | "TooManyRequestsException" | "RequestLimitExceeded")
    )
}

/// Sends the request `send` builds, retrying throttling with backoff (from `backoff`,
/// doubling) until `deadline`; any other error is returned at once, in one line.
pub async fn call<T, E, R, Fut>(
    service: &str,
    action: &str,
    backoff: Duration,
    deadline: Instant,
    mut send: impl FnMut() -> Fut,
) -> Result<T, String>
where
    Fut: Future<Output = Result<T, SdkError<E, R>>>,
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let mut delay = backoff;
    loop {
        match send().await {
            Ok(output) => return Ok(output),
            Err(error) if is_throttling(&error) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(format!("{} until the deadline", aws_error(service, action, &error)));
                }
                tokio::time::sleep(delay.min(left)).await;
                delay = (delay * 2).min(MAX_BACKOFF);
            }
            Err(error) => return Err(aws_error(service, action, &error)),
        }
    }
}
