//! The two ways a step can fail, and the exit codes they map to.

use std::fmt;

/// Why a step failed: decides the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Bad input or configuration, found before anything was changed: exit 2.
    Usage,
    /// The operation ran and failed (build failed, push rejected, unhealthy): exit 1.
    Failed,
}

impl ErrorKind {
    pub fn exit_code(self) -> u8 {
        match self {
            Self::Usage => 2,
            Self::Failed => 1,
        }
    }
}

/// The error every step returns to [`crate::run_step`].
///
/// `message` is the one line a user reads; `detail` holds the lines that explain it
/// (a compiler's errors, a list of candidates) and goes to the log and the summary.
/// `outputs` are the few that describe a failure (verify's `healthy=false`), published
/// so a workflow can branch on them; a failure never publishes success outputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepError {
    pub kind: ErrorKind,
    pub message: String,
    pub detail: Vec<String>,
    pub outputs: Option<crate::Outputs>,
}

impl StepError {
    pub fn usage(message: impl Into<String>) -> Self {
        Self { kind: ErrorKind::Usage, message: message.into(), detail: Vec::new(), outputs: None }
    }

    pub fn failed(message: impl Into<String>) -> Self {
        Self { kind: ErrorKind::Failed, message: message.into(), detail: Vec::new(), outputs: None }
    }

    #[must_use]
    pub fn with_detail(mut self, detail: Vec<String>) -> Self {
        self.detail = detail;
        self
    }

    /// Outputs that describe the failure, published despite it.
    #[must_use]
    pub fn with_outputs(mut self, outputs: crate::Outputs) -> Self {
        self.outputs = Some(outputs);
        self
    }

    pub fn exit_code(&self) -> u8 {
        self.kind.exit_code()
    }

    /// The message on one line, whatever the source error put in it.
    pub fn one_line(&self) -> String {
        let joined: Vec<&str> = self.message.lines().map(str::trim).filter(|line| !line.is_empty()).collect();
        joined.join(" ")
    }
}

impl fmt::Display for StepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StepError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_contract_exit_codes() {
        assert_eq!(StepError::usage("x").exit_code(), 2);
        assert_eq!(StepError::failed("x").exit_code(), 1);
    }

    #[test]
    fn one_line_folds_multiline_messages() {
        let error = StepError::failed("first\n\n  second  \r\nthird");
        assert_eq!(error.one_line(), "first second third");
    }
}
