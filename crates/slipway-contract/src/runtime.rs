//! The async runtime a step runs its network work on, built one way for every step.

use std::future::Future;

use crate::StepError;

/// The threads of a step's runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Threads {
    /// The step's own thread: the work is a sequence of requests.
    Current,
    /// A pool of this many worker threads: the work runs several transfers at once.
    Workers(usize),
}

/// Runs `future` to completion on a fresh tokio runtime with every driver (I/O, time)
/// enabled; a runtime that cannot start is the step's failure (exit 1).
pub fn block_on<F: Future>(threads: Threads, future: F) -> Result<F::Output, StepError> {
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
    Ok(runtime.block_on(future))
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
