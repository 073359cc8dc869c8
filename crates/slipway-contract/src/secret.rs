//! Secrets: read only from the environment or standard input, masked the moment they
//! are read, and never printable by accident.

use std::io::Read;

use crate::{Console, StepError};

/// A secret value. Its `Debug` shows `***`; reading it takes an explicit [`Secret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl Secret {
    /// Wraps a value that arrived some other way (a credential helper's answer) and masks it.
    pub fn new(value: String, console: &Console) -> Self {
        console.add_mask(&value);
        Self(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The environment variable `name`, masked, when it is set and not empty.
    pub fn from_env(name: &str, console: &Console) -> Option<Self> {
        std::env::var(name).ok().filter(|value| !value.is_empty()).map(|value| Self::new(value, console))
    }

    /// Everything on standard input, less one trailing line break (as `docker login
    /// --password-stdin` reads it).
    pub fn from_reader(reader: &mut dyn Read, what: &str, console: &Console) -> Result<Self, StepError> {
        let mut value = String::new();
        reader
            .read_to_string(&mut value)
            .map_err(|error| StepError::usage(format!("cannot read {what} from standard input: {error}")))?;
        let trimmed = value.strip_suffix('\n').unwrap_or(&value);
        let trimmed = trimmed.strip_suffix('\r').unwrap_or(trimmed);
        if trimmed.is_empty() {
            return Err(StepError::usage(format!("{what} on standard input is empty")));
        }
        Ok(Self::new(trimmed.to_owned(), console))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CiMode;
    use crate::console::CapturedLog;

    #[test]
    fn debug_never_shows_the_value() {
        let log = CapturedLog::default();
        let secret = Secret::new("p4ss".into(), &log.console("x", CiMode::Plain));
        assert_eq!(format!("{secret:?}"), "Secret(***)");
        assert_eq!(secret.expose(), "p4ss");
    }

    #[test]
    fn stdin_secret_is_trimmed_and_masked() {
        let log = CapturedLog::default();
        let console = log.console("push-image", CiMode::GitHub);
        let secret = Secret::from_reader(&mut "t0ken\r\n".as_bytes(), "the password", &console).unwrap();
        assert_eq!(secret.expose(), "t0ken");
        assert_eq!(log.text(), "::add-mask::t0ken\n");
        let empty = Secret::from_reader(&mut "\n".as_bytes(), "the password", &console).unwrap_err();
        assert_eq!(empty.message, "the password on standard input is empty");
    }
}
