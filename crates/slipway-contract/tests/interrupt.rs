//! The interruption is process-wide, so its tests run in their own test binary.

use std::time::Duration;

use slipway_contract::interrupt::{Interrupted, interrupted, request, requested, sleep};
use slipway_contract::runtime::{Threads, block_on};

#[test]
fn an_interruption_ends_sleeps_waits_and_dropped_work_and_the_first_signal_is_the_one_named() {
    assert_eq!(requested(), None);
    assert_eq!(Interrupted::check(), Ok(()));
    let started = std::time::Instant::now();
    let outcome = block_on(Threads::Current, async {
        let sleeper = tokio::spawn(sleep(Duration::from_secs(60)));
        let waiter = tokio::spawn(interrupted());
        tokio::time::sleep(Duration::from_millis(50)).await;
        request("SIGINT");
        request("SIGTERM");
        assert_eq!(sleeper.await.unwrap(), Err(Interrupted("SIGINT")));
        assert_eq!(waiter.await.unwrap(), "SIGINT");
        // Work that would run for a minute more is dropped at its next await.
        tokio::time::sleep(Duration::from_secs(60)).await;
    });
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    let error = outcome.unwrap_err();
    assert_eq!(error.exit_code(), 1);
    assert!(error.one_line().contains("interrupted by SIGINT"), "{}", error.one_line());
    assert_eq!(Interrupted::check(), Err(Interrupted("SIGINT")));
}
