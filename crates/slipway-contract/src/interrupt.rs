//! A CI runner's cancel (SIGINT, then SIGTERM: GitHub Actions sends both, 7.5 s apart,
//! and SIGKILL 2.5 s later; GitLab sends SIGTERM) turned into a failure the step can
//! clean up after, instead of a process killed halfway through a change.
//!
//! [`crate::runtime::block_on`] listens for both signals while a step runs. A step whose
//! work can be dropped at any await without leaving a half state (verify's probes,
//! push-image's uploads: a tag moves only with its manifest) is dropped at once
//! ([`Cancel::Drop`]). A step that changes a target ([`Cancel::AtWaitPoints`]: deploy)
//! keeps running: its waits end early through [`sleep`] and [`requested`], and it
//! takes the failure path it takes at its deadline (traffic back, the new version
//! removed), so the target is left in a state the step can name.

use std::sync::OnceLock;
use std::time::Duration;

use tokio::sync::watch;

/// How a step's work meets an interruption.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cancel {
    /// The work is dropped at its next await; nothing it leaves is half done.
    Drop,
    /// The work goes on; its waits end early and it fails the way a deadline makes it.
    AtWaitPoints,
}

/// The signal that interrupted the step, once one did.
type Signalled = Option<&'static str>;

fn channel() -> &'static (watch::Sender<Signalled>, watch::Receiver<Signalled>) {
    static CHANNEL: OnceLock<(watch::Sender<Signalled>, watch::Receiver<Signalled>)> = OnceLock::new();
    CHANNEL.get_or_init(|| watch::channel(None))
}

/// The signal that interrupted the step (`SIGINT`, `SIGTERM`), if one has.
pub fn requested() -> Option<&'static str> {
    *channel().1.borrow()
}

/// Records an interruption (the signal listener's, and tests').
pub fn request(signal: &'static str) {
    channel().0.send_if_modified(|current| {
        if current.is_none() {
            *current = Some(signal);
            true
        } else {
            false
        }
    });
}

/// Resolves once the step is interrupted (at once if it already is).
pub async fn interrupted() -> &'static str {
    let mut receiver = channel().1.clone();
    let seen = receiver.wait_for(Option::is_some).await.map(|signal| *signal);
    match seen {
        Ok(signal) => signal.unwrap_or("a signal"),
        // The sender lives in a static: it is never dropped.
        Err(_) => std::future::pending().await,
    }
}

/// Sleeps `duration`, or less when the step is interrupted: `Err` with the signal then.
pub async fn sleep(duration: Duration) -> Result<(), Interrupted> {
    tokio::select! {
        () = tokio::time::sleep(duration) => Ok(()),
        signal = interrupted() => Err(Interrupted(signal)),
    }
}

/// The step was interrupted by this signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("interrupted by {0}")]
pub struct Interrupted(pub &'static str);

impl Interrupted {
    /// `Err` once the step is interrupted: for the wait loops that poll rather than sleep.
    pub fn check() -> Result<(), Self> {
        requested().map_or(Ok(()), |signal| Err(Self(signal)))
    }
}

/// Listens for SIGINT and SIGTERM on the current runtime, recording the first. After
/// this, neither signal ends the process by itself: the step decides when to stop.
pub(crate) fn listen() -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    tokio::spawn(async move {
        loop {
            let name = tokio::select! {
                Some(()) = interrupt.recv() => "SIGINT",
                Some(()) = terminate.recv() => "SIGTERM",
                else => return,
            };
            request(name);
        }
    });
    Ok(())
}
