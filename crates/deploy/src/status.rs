//! The end states a deploy run reports as its `status` output: one enum, one word each.
//! README's "deploy's end states" table lists the same words (a test keeps them equal).

use std::fmt;

/// Where a run left the target. A success ends in one of the first five; a failure
/// names how far things got, so that a workflow can tell "nothing happened" from
/// "put back" from "look at it yourself".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// `--dry-run`: checked and planned, nothing changed.
    Planned,
    /// The new version serves all traffic and is healthy.
    Deployed,
    /// A canary serves its share of traffic beside the old version; finish it with
    /// `--promote` or `--reject`.
    Canary,
    /// Blue-green: the new version is healthy in the idle environment; nothing serves
    /// it yet. Finish with `--promote` (swap) or `--reject` (drop it).
    GreenReady,
    /// `--promote`: the new version took all traffic.
    Promoted,
    /// `--reject`: the new version was dropped before it took all traffic; the old one serves.
    Rejected,
    /// A canary judged by analysis crossed a gate (or could not be judged) at one of its
    /// steps, or a blue-green's new version did before the switch: traffic went back to
    /// (or stayed on) the old version and the new one was removed.
    Aborted,
    /// The previous version serves again: after a failed rollout (the target's own
    /// rollback or slipway's), after `--rollback`, or after a `--reject` that came too
    /// late to be a reject.
    RolledBack,
    /// Docker: the new container failed and the replaced one was started again.
    Restored,
    /// Failed before anything was changed: the old version serves as before.
    Unchanged,
    /// The target was busy with another operation until the deadline; nothing was deployed.
    Busy,
    /// The rollout ran out of time and could not be put back to the previous version.
    TimedOut,
    /// Failed, and there was nothing to put back (a first deployment), or putting it
    /// back failed too: the message says what runs.
    Failed,
    /// slipway lost sight of the target (an API error mid-rollout): look before acting.
    Unknown,
}

impl Status {
    /// Every end state, in the order the README lists them.
    pub const ALL: [Self; 14] = [
        Self::Planned,
        Self::Deployed,
        Self::Canary,
        Self::GreenReady,
        Self::Promoted,
        Self::Rejected,
        Self::Aborted,
        Self::RolledBack,
        Self::Restored,
        Self::Unchanged,
        Self::Busy,
        Self::TimedOut,
        Self::Failed,
        Self::Unknown,
    ];

    /// The `status` output's word.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Planned => "planned",
            Self::Deployed => "deployed",
            Self::Canary => "canary",
            Self::GreenReady => "green-ready",
            Self::Promoted => "promoted",
            Self::Rejected => "rejected",
            Self::Aborted => "aborted",
            Self::RolledBack => "rolled-back",
            Self::Restored => "restored",
            Self::Unchanged => "unchanged",
            Self::Busy => "busy",
            Self::TimedOut => "timed-out",
            Self::Failed => "failed",
            Self::Unknown => "unknown",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_unique_kebab_case() {
        let words: std::collections::HashSet<&str> = Status::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(words.len(), Status::ALL.len());
        assert!(words.iter().all(|w| w.chars().all(|c| c.is_ascii_lowercase() || c == '-')));
    }

    #[test]
    fn the_readme_documents_every_end_state() {
        let readme = include_str!("../../../README.md");
        let table: Vec<&str> = readme
            .lines()
            .skip_while(|line| !line.starts_with("### deploy's end states"))
            .take_while(|line| !line.starts_with("## "))
            .skip_while(|line| !line.starts_with("| ---"))
            .filter_map(|line| line.strip_prefix("| `"))
            .filter_map(|line| line.split('`').next())
            .collect();
        let words: Vec<&str> = Status::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(table, words, "README's end-state table and Status::ALL differ");
    }
}
