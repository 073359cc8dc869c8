//! Diagnostics on standard error: plain lines, GitHub workflow commands or GitLab
//! sections, depending on where the step runs. Standard output is kept for outputs.
//!
//! Every line goes through [`Console::redact`], so a secret registered with
//! [`Console::add_mask`] never reaches the log even when a child process echoes it, and
//! no URL keeps its user info, query or fragment ([`crate::redact`]) even when a step
//! forgot to redact it where it formatted the line.

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

/// Where the step runs, which decides how annotations and groups are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CiMode {
    /// `GITHUB_ACTIONS=true`: workflow commands (`::error::`, `::group::`, `::add-mask::`).
    GitHub,
    /// `GITLAB_CI=true`: collapsible sections; annotations as plain prefixed lines.
    GitLab,
    /// A terminal or any other CI.
    Plain,
}

impl CiMode {
    pub fn detect(env: impl Fn(&str) -> Option<String>) -> Self {
        let is_true = |name: &str| env(name).is_some_and(|v| v.eq_ignore_ascii_case("true"));
        if is_true("GITHUB_ACTIONS") {
            Self::GitHub
        } else if is_true("GITLAB_CI") {
            Self::GitLab
        } else {
            Self::Plain
        }
    }
}

type SharedWriter = Arc<Mutex<Box<dyn Write + Send>>>;

/// The step's log. Cheap to clone; clones share masks and the writer.
#[derive(Clone)]
pub struct Console {
    mode: CiMode,
    step: String,
    writer: SharedWriter,
    masks: Arc<Mutex<Vec<String>>>,
}

impl std::fmt::Debug for Console {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Console").field("mode", &self.mode).field("step", &self.step).finish()
    }
}

/// Escapes a workflow command's message as `@actions/core` does.
pub fn escape_data(text: &str) -> String {
    text.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// Escapes a workflow command's property value as `@actions/core` does.
pub fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

impl Console {
    /// A console for `step` writing to standard error, in the mode the environment says.
    pub fn from_env(step: &str) -> Self {
        Self::new(step, CiMode::detect(|name| std::env::var(name).ok()), Box::new(std::io::stderr()))
    }

    pub fn new(step: &str, mode: CiMode, writer: Box<dyn Write + Send>) -> Self {
        Self {
            mode,
            step: step.to_owned(),
            writer: Arc::new(Mutex::new(writer)),
            masks: Arc::new(Mutex::new(Vec::new())),
        }
    }

    pub fn mode(&self) -> CiMode {
        self.mode
    }

    pub fn step(&self) -> &str {
        &self.step
    }

    /// Registers a secret: announced to GitHub before anything else uses it, and
    /// replaced by `***` in every line this console writes from now on.
    pub fn add_mask(&self, secret: &str) {
        if secret.is_empty() {
            return;
        }
        {
            let mut masks = self.masks.lock().unwrap_or_else(PoisonError::into_inner);
            if masks.iter().any(|known| known == secret) {
                return;
            }
            masks.push(secret.to_owned());
            // Longest first, so a secret that contains another is masked whole.
            masks.sort_by_key(|known| std::cmp::Reverse(known.len()));
        }
        if self.mode == CiMode::GitHub {
            // Each line separately too: the runner matches masks line by line.
            let mut lines: Vec<&str> = vec![secret];
            if secret.contains('\n') {
                lines.extend(secret.lines().filter(|line| !line.trim().is_empty()));
            }
            for line in lines {
                self.write_raw(&format!("::add-mask::{}", escape_data(line)));
            }
        }
    }

    /// Whether `text` holds a registered secret.
    pub fn contains_secret(&self, text: &str) -> bool {
        let masks = self.masks.lock().unwrap_or_else(PoisonError::into_inner);
        masks.iter().any(|secret| text.contains(secret.as_str()))
    }

    /// `text` with every registered secret replaced by `***` and every URL's user info,
    /// query and fragment by `…` ([`crate::redact_urls`]).
    pub fn redact(&self, text: &str) -> String {
        let masks = self.masks.lock().unwrap_or_else(PoisonError::into_inner);
        let mut redacted = text.to_owned();
        for secret in masks.iter() {
            redacted = redacted.replace(secret.as_str(), "***");
        }
        crate::redact_urls(&redacted)
    }

    /// A plain log line.
    pub fn info(&self, message: &str) {
        self.write_line(message);
    }

    pub fn warning(&self, message: &str) {
        self.annotation("warning", None, message);
    }

    pub fn notice(&self, message: &str) {
        self.annotation("notice", None, message);
    }

    /// The step's one error line; titled with the step's name under GitHub Actions.
    pub fn error(&self, message: &str) {
        let title = self.step.clone();
        self.annotation("error", Some(&title), message);
    }

    fn annotation(&self, level: &str, title: Option<&str>, message: &str) {
        let message = self.redact(message);
        let line = match self.mode {
            CiMode::GitHub => match title {
                Some(title) => {
                    format!("::{level} title={}::{}", escape_property(title), escape_data(&message))
                }
                None => format!("::{level}::{}", escape_data(&message)),
            },
            CiMode::GitLab | CiMode::Plain => format!("{}: {level}: {message}", self.step),
        };
        self.write_raw(&line);
    }

    /// Opens a folded group that closes when the guard drops.
    pub fn group(&self, title: &str) -> Group {
        let title = self.redact(title);
        let section = format!("slipway_{}", SECTION_COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        match self.mode {
            CiMode::GitHub => self.write_raw(&format!("::group::{}", escape_data(&title))),
            CiMode::GitLab => self.write_raw(&format!(
                "\x1b[0Ksection_start:{}:{section}[collapsed=true]\r\x1b[0K{title}",
                unix_seconds()
            )),
            CiMode::Plain => self.write_raw(&format!("==> {title}")),
        }
        Group { console: self.clone(), section }
    }

    /// Writes one line after redacting secrets. Workflow-command look-alikes coming
    /// from child processes are left alone: GitHub's runner handles them as the child meant.
    pub fn write_line(&self, line: &str) {
        self.write_raw(&self.redact(line));
    }

    fn write_raw(&self, line: &str) {
        let mut writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        // A closed stderr must not turn into a panic halfway through a deployment.
        let _ = writeln!(writer, "{line}");
        let _ = writer.flush();
    }
}

static SECTION_COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

fn unix_seconds() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// An open log group; closing it is dropping it.
#[derive(Debug)]
pub struct Group {
    console: Console,
    section: String,
}

impl Drop for Group {
    fn drop(&mut self) {
        match self.console.mode {
            CiMode::GitHub => self.console.write_raw("::endgroup::"),
            CiMode::GitLab => {
                self.console.write_raw(&format!("\x1b[0Ksection_end:{}:{}\r\x1b[0K", unix_seconds(), self.section));
            }
            CiMode::Plain => {}
        }
    }
}

/// A writer that keeps what it is given, for tests that look at the log.
#[derive(Debug, Clone, Default)]
pub struct CapturedLog(Arc<Mutex<Vec<u8>>>);

impl CapturedLog {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(PoisonError::into_inner)).into_owned()
    }

    pub fn console(&self, step: &str, mode: CiMode) -> Console {
        Console::new(step, mode, Box::new(self.clone()))
    }
}

impl Write for CapturedLog {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_follows_actions_toolkit() {
        assert_eq!(escape_data("50% done\r\nnext"), "50%25 done%0D%0Anext");
        assert_eq!(escape_property("a:b,c%\n"), "a%3Ab%2Cc%25%0A");
    }

    #[test]
    fn mode_detection_prefers_github() {
        let env = |name: &str| match name {
            "GITHUB_ACTIONS" => Some("true".to_owned()),
            "GITLAB_CI" => Some("true".to_owned()),
            _ => None,
        };
        assert_eq!(CiMode::detect(env), CiMode::GitHub);
        assert_eq!(CiMode::detect(|n| (n == "GITLAB_CI").then(|| "true".into())), CiMode::GitLab);
        assert_eq!(CiMode::detect(|n| (n == "GITHUB_ACTIONS").then(|| "false".into())), CiMode::Plain);
    }

    #[test]
    fn github_annotations_groups_and_masks() {
        let log = CapturedLog::default();
        let console = log.console("build-jar", CiMode::GitHub);
        console.add_mask("s3cr%t");
        console.add_mask("s3cr%t");
        {
            let _group = console.group("mvn package");
            console.info("using s3cr%t here");
        }
        console.warning("disk: 90%\nfull");
        console.error("failed: token s3cr%t rejected");
        insta::assert_snapshot!(log.text(), @r"
        ::add-mask::s3cr%25t
        ::group::mvn package
        using *** here
        ::endgroup::
        ::warning::disk: 90%25%0Afull
        ::error title=build-jar::failed: token *** rejected
        ");
    }

    #[test]
    fn multiline_secret_is_masked_whole_and_per_line() {
        let log = CapturedLog::default();
        let console = log.console("push-image", CiMode::GitHub);
        console.add_mask("line-one\nline-two");
        insta::assert_snapshot!(log.text(), @r"
        ::add-mask::line-one%0Aline-two
        ::add-mask::line-one
        ::add-mask::line-two
        ");
    }

    #[test]
    fn plain_mode_prefixes_step_and_never_announces_masks() {
        let log = CapturedLog::default();
        let console = log.console("verify", CiMode::Plain);
        console.add_mask("hunter2");
        {
            let _group = console.group("checks");
            console.write_line("password=hunter2");
        }
        console.error("a:b, c");
        insta::assert_snapshot!(log.text(), @r"
        ==> checks
        password=***
        verify: error: a:b, c
        ");
    }

    #[test]
    fn urls_lose_credentials_in_every_kind_of_line() {
        let signed = "https://bucket.s3.amazonaws.com/blob?X-Amz-Signature=SECRETCANARY";
        let with_user = "http://user:SECRETCANARY@127.0.0.1:8080/health";
        for mode in [CiMode::GitHub, CiMode::GitLab, CiMode::Plain] {
            let log = CapturedLog::default();
            let console = log.console("push-image", mode);
            drop(console.group(&format!("fetch {signed}")));
            console.info(&format!("retry 1 in 0.2s: error sending request for url ({signed})"));
            console.write_line(&format!("child says: {with_user}"));
            console.warning(&format!("slow: {with_user}"));
            console.error(&format!("failed: {signed}"));
            let text = log.text();
            assert!(!text.contains("SECRETCANARY"), "{text}");
            assert!(text.contains("https://bucket.s3.amazonaws.com/blob?…"), "{text}");
            assert!(text.contains("http://…@127.0.0.1:8080/health"), "{text}");
        }
    }

    #[test]
    fn longer_secret_masked_before_its_prefix() {
        let log = CapturedLog::default();
        let console = log.console("x", CiMode::Plain);
        console.add_mask("abc");
        console.add_mask("abcdef");
        assert_eq!(console.redact("abcdef abc"), "*** ***");
    }

    #[test]
    fn gitlab_sections_open_and_close() {
        let log = CapturedLog::default();
        let console = log.console("x", CiMode::GitLab);
        drop(console.group("build"));
        let text = log.text();
        assert!(text.contains("section_start:") && text.contains("[collapsed=true]\r\x1b[0Kbuild"));
        assert!(text.contains("section_end:"));
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    /// The runner's reading of an escaped workflow command value (actions/runner's
    /// `ActionCommand.Unescape`): `%0D`, `%0A`, `%3A`, `%2C`, then `%25`.
    fn unescape(text: &str) -> String {
        text.replace("%0D", "\r").replace("%0A", "\n").replace("%3A", ":").replace("%2C", ",").replace("%25", "%")
    }

    fn secret() -> impl Strategy<Value = String> {
        // Secrets as tokens are: printable ASCII, no `*` (which masking writes in their place).
        "[!-)+-~]{4,24}"
    }

    proptest! {
        #[test]
        fn escaped_command_values_read_back(text in any::<String>()) {
            prop_assert_eq!(unescape(&escape_data(&text)), text.clone());
            prop_assert_eq!(unescape(&escape_property(&text)), text.clone());
            prop_assert!(!escape_data(&text).contains(['\r', '\n']));
        }

        #[test]
        fn no_line_keeps_a_registered_secret(
            secrets in proptest::collection::vec(secret(), 1..4),
            pieces in proptest::collection::vec(prop_oneof![any::<String>(), (0usize..4).prop_map(|i| format!("#{i}"))], 0..8),
            github in any::<bool>(),
        ) {
            let log = CapturedLog::default();
            let console = log.console("deploy", if github { CiMode::GitHub } else { CiMode::Plain });
            for secret in &secrets {
                console.add_mask(secret);
            }
            // Text that holds the secrets, whole and glued to anything.
            let text: String = pieces
                .iter()
                .map(|piece| match piece.strip_prefix('#').and_then(|i| i.parse::<usize>().ok()) {
                    Some(index) => secrets[index % secrets.len()].clone(),
                    None => piece.clone(),
                })
                .collect();
            console.info(&text);
            console.warning(&text);
            console.error(&text);
            let written = log.text();
            for line in written.lines().filter(|line| !line.starts_with("::add-mask::")) {
                for secret in &secrets {
                    prop_assert!(!line.contains(secret.as_str()), "{:?} in {:?}", secret, line);
                }
            }
            if github {
                // Each secret announced first, escaped so that the runner reads it back whole.
                for secret in &secrets {
                    let announced = format!("::add-mask::{}", escape_data(secret));
                    prop_assert!(written.lines().any(|line| line == announced));
                    prop_assert_eq!(unescape(&escape_data(secret)), secret.clone());
                }
            }
        }
    }
}
