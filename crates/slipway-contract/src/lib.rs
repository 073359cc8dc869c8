//! The step contract shared by every slipway binary (see `shared/CONTRACT.md`).
//!
//! A step's library declares its command line with [`step_cli!`] (its flags, flattening
//! [`CommonArgs`]); its binary's `main` is [`step::main`], which hands control to
//! [`run_step`], which owns everything a step must do the same way as its siblings:
//! rendering one-line errors with the right exit code, GitHub/GitLab log annotations,
//! masking secrets, cutting credentials out of URLs ([`redact`]), and publishing outputs
//! to every sink that is present.

pub mod cli;
pub mod console;
pub mod error;
pub mod interrupt;
pub mod keys;
pub mod outputs;
pub mod progress;
pub mod redact;
pub mod runtime;
pub mod secret;
pub mod step;
pub mod summary;

pub use cli::{CommonArgs, parse_duration, parse_list};
pub use console::{CiMode, Console};
pub use error::{ErrorKind, StepError};
pub use outputs::{Outputs, Sinks};
pub use progress::Progress;
pub use redact::{redact_url, redact_urls};
pub use secret::Secret;
pub use step::{StepReport, run_step};
pub use summary::Summary;
