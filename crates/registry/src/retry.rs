//! Retries for registry requests: exponential backoff with jitter on connection errors,
//! 5xx and 429 (honouring `Retry-After`), within a deadline; permanent errors at once.

use std::future::Future;
use std::time::{Duration, Instant};

use slipway_contract::redact_urls;

/// Why a request failed, and whether trying again can help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub message: String,
    pub retryable: bool,
    /// What the server asked for (429/503 `Retry-After`).
    pub retry_after: Option<Duration>,
    /// The HTTP status, when there was a response.
    pub status: Option<u16>,
}

impl Failure {
    /// A failure retrying cannot help. Like [`Failure::transient`], its message is printed
    /// (retry lines, the error line), so URLs in it lose their credentials and queries:
    /// an upload `Location` can be a pre-signed URL.
    pub fn permanent(message: impl Into<String>, status: Option<u16>) -> Self {
        Self { message: redact_urls(&message.into()), retryable: false, retry_after: None, status }
    }

    pub fn transient(message: impl Into<String>, status: Option<u16>, retry_after: Option<Duration>) -> Self {
        Self { message: redact_urls(&message.into()), retryable: true, retry_after, status }
    }

    /// Classifies a response status: 5xx and 429 are worth another try, the rest is not.
    pub fn from_status(status: u16, retry_after: Option<Duration>, message: impl Into<String>) -> Self {
        if status == 429 || status >= 500 {
            Self::transient(message, Some(status), retry_after)
        } else {
            Self::permanent(message, Some(status))
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// How to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub first_delay: Duration,
    pub max_delay: Duration,
    pub deadline: Instant,
    /// The whole budget the deadline was set from, for messages.
    pub timeout: Duration,
}

impl RetryPolicy {
    pub fn new(timeout: Duration) -> Self {
        Self {
            first_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
            deadline: Instant::now() + timeout,
            timeout,
        }
    }

    /// The delay before try `attempt` (1 is the first retry): doubling, capped, with
    /// up to 50% jitter so parallel uploads do not retry in lockstep; a server's
    /// `Retry-After` wins when longer.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let exponent = attempt.saturating_sub(1).min(16);
        let base = self.first_delay.saturating_mul(1 << exponent).min(self.max_delay);
        let jitter = base.mul_f64(fastrand::f64() * 0.5);
        let backoff = base + jitter;
        retry_after.map_or(backoff, |asked| asked.max(backoff))
    }
}

/// `Retry-After` as seconds (the HTTP-date form is rare from registries and ignored).
pub fn parse_retry_after(value: Option<&str>) -> Option<Duration> {
    value.and_then(|v| v.trim().parse::<u64>().ok()).map(|seconds| Duration::from_secs(seconds.min(300)))
}

/// Runs `operation` until it succeeds, fails permanently, or the deadline would pass.
/// An attempt still running at the deadline (a stalled or very slow upload) is cut off
/// there: the deadline bounds the wall time of the whole, not only the waits between tries.
/// `on_retry` hears each retry (for the log).
pub async fn with_retries<T, F, Fut>(
    policy: &RetryPolicy,
    mut operation: F,
    mut on_retry: impl FnMut(u32, &Failure, Duration),
) -> Result<T, Failure>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, Failure>>,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        let remaining = policy.deadline.saturating_duration_since(Instant::now());
        let Ok(outcome) = tokio::time::timeout(remaining, operation(attempt)).await else {
            return Err(Failure::permanent(
                format!(
                    "attempt {attempt} was still waiting for the registry at the timeout ({:.0}s in all); give a longer --timeout for slow links",
                    policy.timeout.as_secs_f64()
                ),
                None,
            ));
        };
        match outcome {
            Ok(value) => return Ok(value),
            Err(failure) if !failure.retryable => return Err(failure),
            Err(failure) => {
                let delay = policy.delay(attempt, failure.retry_after);
                if Instant::now() + delay >= policy.deadline {
                    return Err(Failure {
                        message: format!("{} (gave up after {attempt} attempt(s), at the timeout)", failure.message),
                        retryable: false,
                        ..failure
                    });
                }
                on_retry(attempt, &failure, delay);
                tokio::time::sleep(delay).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_messages_never_carry_a_signed_url() {
        let url = "http://127.0.0.1:5/v2/a/blobs/uploads/u?_state=s&X-Amz-Signature=SECRETCANARY";
        let message = format!("upload sha256:1: error sending request for url ({url})");
        for failure in [
            Failure::transient(message.clone(), None, None),
            Failure::permanent(message.clone(), None),
            Failure::from_status(500, None, message.clone()),
        ] {
            assert_eq!(
                failure.to_string(),
                "upload sha256:1: error sending request for url (http://127.0.0.1:5/v2/a/blobs/uploads/u?…)"
            );
        }
    }

    #[test]
    fn statuses_are_classified() {
        assert!(Failure::from_status(500, None, "x").retryable);
        assert!(Failure::from_status(429, None, "x").retryable);
        assert!(!Failure::from_status(401, None, "x").retryable);
        assert!(!Failure::from_status(404, None, "x").retryable);
    }

    #[test]
    fn delays_double_with_bounded_jitter_and_honour_retry_after() {
        let policy = RetryPolicy::new(Duration::from_secs(60));
        for attempt in 1..=8 {
            let base = Duration::from_millis(200).saturating_mul(1 << (attempt - 1)).min(Duration::from_secs(10));
            let delay = policy.delay(attempt, None);
            assert!(delay >= base && delay <= base.mul_f64(1.5), "attempt {attempt}: {delay:?}");
        }
        assert_eq!(policy.delay(1, Some(Duration::from_secs(3))), Duration::from_secs(3));
        assert_eq!(parse_retry_after(Some(" 7 ")), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after(Some("Wed, 21 Oct 2015 07:28:00 GMT")), None);
    }

    #[tokio::test]
    async fn retries_transient_failures_and_stops_at_permanent_ones() {
        let policy = RetryPolicy {
            first_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
            deadline: Instant::now() + Duration::from_secs(5),
            timeout: Duration::from_secs(5),
        };
        let mut retries = 0;
        let result =
            with_retries(
                &policy,
                |attempt| async move {
                    if attempt < 3 { Err(Failure::transient("reset", None, None)) } else { Ok(attempt) }
                },
                |_, _, _| retries += 1,
            )
            .await;
        assert_eq!(result, Ok(3));
        assert_eq!(retries, 2);

        let permanent: Result<(), Failure> =
            with_retries(&policy, |_| async { Err(Failure::permanent("denied", Some(403))) }, |_, _, _| {}).await;
        assert_eq!(permanent.unwrap_err().status, Some(403));
    }

    #[tokio::test]
    async fn gives_up_at_the_deadline() {
        let policy = RetryPolicy {
            first_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(20),
            deadline: Instant::now() + Duration::from_millis(50),
            timeout: Duration::from_millis(50),
        };
        let result: Result<(), Failure> =
            with_retries(&policy, |_| async { Err(Failure::transient("503", Some(503), None)) }, |_, _, _| {}).await;
        let failure = result.unwrap_err();
        assert!(failure.message.contains("gave up after"), "{}", failure.message);
        assert!(!failure.retryable);
    }

    /// A stalled attempt ends at the deadline, not when the server gives up.
    #[tokio::test]
    async fn a_stalled_attempt_ends_at_the_deadline() {
        let policy = RetryPolicy::new(Duration::from_millis(300));
        let started = Instant::now();
        let result: Result<(), Failure> = with_retries(
            &policy,
            |_| async {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok(())
            },
            |_, _, _| {},
        )
        .await;
        let failure = result.unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
        assert!(failure.message.contains("still waiting for the registry at the timeout"), "{}", failure.message);
        assert!(!failure.retryable);
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn retry_after_seconds_are_capped(seconds in any::<u64>(), pad in "[ \t]{0,2}") {
            let expected = Duration::from_secs(seconds.min(300));
            prop_assert_eq!(parse_retry_after(Some(&format!("{pad}{seconds}{pad}"))), Some(expected));
        }

        #[test]
        fn anything_else_is_ignored(value in any::<String>()) {
            let parsed = parse_retry_after(Some(&value));
            prop_assert_eq!(parsed.is_some(), value.trim().parse::<u64>().is_ok());
            prop_assert!(parsed.is_none_or(|d| d <= Duration::from_secs(300)));
        }

        #[test]
        fn delays_stay_within_the_cap_and_honour_retry_after(attempt in 0u32..100, asked in proptest::option::of(0u64..400)) {
            let policy = RetryPolicy::new(Duration::from_secs(60));
            let delay = policy.delay(attempt, asked.map(Duration::from_secs));
            prop_assert!(delay <= Duration::from_secs(15).max(Duration::from_secs(asked.unwrap_or(0))));
            prop_assert!(delay >= Duration::from_secs(asked.unwrap_or(0)));
            prop_assert!(delay >= Duration::from_millis(200).min(policy.max_delay));
        }
    }
}
