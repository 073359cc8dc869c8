//! The async runtime a step runs its network work on, built one way for every step.

use std::future::Future;

use crate::StepError;
use crate::interrupt::{self, Cancel};

/// The threads of a step's runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Threads {
    /// The step's own thread: the work is a sequence of requests.
    Current,
    /// A pool of this many worker threads: the work runs several transfers at once.
    Workers(usize),
}

/// Runs `future` to completion on a fresh tokio runtime with every driver (I/O, time)
/// enabled; a runtime that cannot start is the step's failure (exit 1). SIGINT and
/// SIGTERM drop the work at its next await: the step fails (exit 1) saying so
/// ([`crate::interrupt`]; [`block_on_with`] for work that must clean up first).
pub fn block_on<F: Future>(threads: Threads, future: F) -> Result<F::Output, StepError> {
    block_on_with(threads, Cancel::Drop, future)
}

/// [`block_on`], meeting an interruption as `cancel` says.
pub fn block_on_with<F: Future>(threads: Threads, cancel: Cancel, future: F) -> Result<F::Output, StepError> {
    let mut builder = match threads {
        Threads::Current => tokio::runtime::Builder::new_current_thread(),
        Threads::Workers(count) => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(count.max(1));
            builder
        }
    };
    let runtime = builder
        .enable_all()
        .build()
        .map_err(|error| StepError::failed(format!("cannot start the async runtime: {error}")))?;
    runtime.block_on(async {
        interrupt::listen()
            .map_err(|error| StepError::failed(format!("cannot listen for SIGINT and SIGTERM: {error}")))?;
        match cancel {
            Cancel::AtWaitPoints => Ok(future.await),
            Cancel::Drop => tokio::select! {
                output = future => Ok(output),
                signal = interrupt::interrupted() => Err(StepError::failed(format!(
                    "interrupted by {signal} (the job was cancelled); the step stopped before it finished"
                ))),
            },
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_a_future_with_timers_on_either_runtime() {
        for threads in [Threads::Current, Threads::Workers(2)] {
            let value = block_on(threads, async {
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                tokio::task::spawn(async { 7 }).await.unwrap()
            });
            assert_eq!(value.unwrap(), 7);
        }
    }
}
