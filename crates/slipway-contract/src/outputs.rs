//! A step's outputs and the sinks they are published to: `$GITHUB_OUTPUT`, a GitLab
//! dotenv file, and standard output (`key=value` lines or one JSON object).
//!
//! Every sink is rendered before any is written, so an output one sink cannot carry
//! (a newline in a dotenv value, say) fails the step without half-published outputs.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// A GitLab dotenv report larger than this is refused by GitLab's default limits.
const GITLAB_DOTENV_LIMIT_BYTES: usize = 5 * 1024;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OutputError {
    #[error("output `{key}` holds the heredoc delimiter `{delimiter}`; refusing to write a corrupt $GITHUB_OUTPUT")]
    DelimiterInValue { key: String, delimiter: String },
    #[error(
        "output `{key}` spans several lines, which a GitLab dotenv file cannot hold; use --json or $GITHUB_OUTPUT for it"
    )]
    MultilineDotenvValue { key: String },
    #[error("output `{key}` starts or ends with white space, which GitLab's dotenv parser would strip")]
    PaddedDotenvValue { key: String },
    #[error(
        "output `{key}` ends with a carriage return, which $GITHUB_OUTPUT's heredoc form cannot carry (the runner reads it as part of the line break)"
    )]
    TrailingCarriageReturn { key: String },
    #[error("cannot write {sink} at {path}: {reason}")]
    Write { sink: &'static str, path: PathBuf, reason: String },
}

/// Ordered key/value outputs with kebab-case keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outputs {
    entries: Vec<(String, String)>,
}

impl Outputs {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` (kebab-case, checked in debug builds; a [`crate::keys::OutputKey`] or
    /// text) to `value`, replacing an earlier value.
    ///
    /// A URL in `value` loses its user info, query and fragment ([`crate::redact_urls`]):
    /// an output that carries a URL (deploy's `url`) carries scheme, host, port and path,
    /// never a credential or a signature.
    pub fn set(&mut self, key: impl AsRef<str>, value: impl ToString) -> &mut Self {
        let key = key.as_ref();
        debug_assert!(is_kebab_case(key), "output key `{key}` is not kebab-case");
        let value = crate::redact_urls(&value.to_string());
        match self.entries.iter_mut().find(|(existing, _)| existing == key) {
            Some(entry) => entry.1 = value,
            None => self.entries.push((key.to_owned(), value)),
        }
        self
    }

    pub fn get(&self, key: impl AsRef<str>) -> Option<&str> {
        let key = key.as_ref();
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

fn is_kebab_case(key: &str) -> bool {
    !key.is_empty()
        && !key.starts_with('-')
        && !key.ends_with('-')
        && key.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// A fresh random heredoc delimiter, as `@actions/core` makes them.
pub fn random_delimiter() -> String {
    format!("ghadelimiter_{}", uuid::Uuid::new_v4())
}

/// The lines to append to `$GITHUB_OUTPUT`: `key=value`, or the heredoc form with
/// `delimiter` when the value holds a line break.
pub fn render_github_output(outputs: &Outputs, delimiter: &str) -> Result<String, OutputError> {
    let mut text = String::new();
    for (key, value) in outputs.iter() {
        if value.contains('\n') || value.contains('\r') {
            if value.contains(delimiter) || key.contains(delimiter) {
                return Err(OutputError::DelimiterInValue { key: key.to_owned(), delimiter: delimiter.to_owned() });
            }
            // The runner ends the value at the `\r\n` or `\n` before the delimiter's line, so
            // a value ending in `\r` would come back without it.
            if value.ends_with('\r') {
                return Err(OutputError::TrailingCarriageReturn { key: key.to_owned() });
            }
            text.push_str(&format!("{key}<<{delimiter}\n{value}\n{delimiter}\n"));
        } else {
            text.push_str(&format!("{key}={value}\n"));
        }
    }
    Ok(text)
}

/// `artifact-sha` becomes `SLIPWAY_ARTIFACT_SHA`.
pub fn dotenv_key(key: &str) -> String {
    format!("SLIPWAY_{}", key.replace('-', "_").to_ascii_uppercase())
}

/// The lines of a GitLab dotenv report: `SLIPWAY_KEY=value`, values written raw because
/// GitLab keeps quotes as they are and supports no escapes. GitLab reads each line as
/// `/^(.*?)=(.*)$/` (the key ends at the first `=`) and strips both parts.
pub fn render_dotenv(outputs: &Outputs) -> Result<String, OutputError> {
    let mut text = String::new();
    for (key, value) in outputs.iter() {
        if value.contains('\n') || value.contains('\r') {
            return Err(OutputError::MultilineDotenvValue { key: key.to_owned() });
        }
        // GitLab strips each value with Ruby's `strip`, whose white space includes NUL.
        if value.trim_matches(|c: char| c.is_whitespace() || c == '\0') != value {
            return Err(OutputError::PaddedDotenvValue { key: key.to_owned() });
        }
        text.push_str(&format!("{}={value}\n", dotenv_key(key)));
    }
    Ok(text)
}

/// Standard output as `key=value` lines. Line breaks and backslashes are escaped
/// (`\n`, `\r`, `\\`) so that one line is always one output; `--json` gives exact values.
pub fn render_stdout_text(outputs: &Outputs) -> String {
    outputs
        .iter()
        .map(|(key, value)| {
            let escaped = value.replace('\\', "\\\\").replace('\n', "\\n").replace('\r', "\\r");
            format!("{key}={escaped}\n")
        })
        .collect()
}

/// Standard output as one JSON object, keys in the order they were set.
pub fn render_stdout_json(outputs: &Outputs) -> String {
    let object: serde_json::Map<String, serde_json::Value> =
        outputs.iter().map(|(key, value)| (key.to_owned(), serde_json::Value::String(value.to_owned()))).collect();
    format!("{}\n", serde_json::Value::Object(object))
}

/// Merges `new_lines` into an existing dotenv report: a key set again replaces its
/// earlier line (steps of one GitLab job may share a report), other lines stay.
fn merge_dotenv(existing: &str, new_lines: &str) -> String {
    let new_keys: Vec<&str> = new_lines.lines().filter_map(|line| line.split_once('=').map(|(k, _)| k)).collect();
    let mut merged = String::new();
    for line in existing.lines().filter(|line| !line.trim().is_empty()) {
        let key = line.split_once('=').map_or(line, |(k, _)| k);
        if !new_keys.contains(&key) {
            merged.push_str(line);
            merged.push('\n');
        }
    }
    merged.push_str(new_lines);
    merged
}

/// Which sinks are present for this run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sinks {
    pub github_output: Option<PathBuf>,
    pub dotenv: Option<PathBuf>,
    pub json: bool,
}

impl Sinks {
    /// Renders every sink, then writes them: `$GITHUB_OUTPUT` appended, the dotenv report
    /// merged, standard output last. Returns a warning to log, if any.
    pub fn publish(&self, outputs: &Outputs, stdout: &mut dyn Write) -> Result<Option<String>, OutputError> {
        self.publish_with_delimiter(outputs, stdout, &random_delimiter())
    }

    pub fn publish_with_delimiter(
        &self,
        outputs: &Outputs,
        stdout: &mut dyn Write,
        delimiter: &str,
    ) -> Result<Option<String>, OutputError> {
        let github = match &self.github_output {
            Some(path) => Some((path, render_github_output(outputs, delimiter)?)),
            None => None,
        };
        let dotenv = match &self.dotenv {
            Some(path) => {
                let existing = match fs::read_to_string(path) {
                    Ok(text) => text,
                    Err(error) if error.kind() == std::io::ErrorKind::NotFound => String::new(),
                    Err(error) => return Err(write_error("the dotenv report", path, &error)),
                };
                Some((path, merge_dotenv(&existing, &render_dotenv(outputs)?)))
            }
            None => None,
        };
        let standard = if self.json { render_stdout_json(outputs) } else { render_stdout_text(outputs) };

        let mut warning = None;
        if let Some((path, text)) = github {
            append(path, &text).map_err(|e| write_error("$GITHUB_OUTPUT", path, &e))?;
        }
        if let Some((path, text)) = dotenv {
            if text.len() > GITLAB_DOTENV_LIMIT_BYTES {
                warning = Some(format!(
                    "the dotenv report {} is {} bytes, over GitLab's default limit of {GITLAB_DOTENV_LIMIT_BYTES}",
                    path.display(),
                    text.len()
                ));
            }
            replace(path, &text).map_err(|e| write_error("the dotenv report", path, &e))?;
        }
        stdout
            .write_all(standard.as_bytes())
            .and_then(|()| stdout.flush())
            .map_err(|e| write_error("standard output", Path::new("-"), &e))?;
        Ok(warning)
    }
}

fn write_error(sink: &'static str, path: &Path, error: &std::io::Error) -> OutputError {
    OutputError::Write { sink, path: path.to_owned(), reason: error.to_string() }
}

fn append(path: &Path, text: &str) -> std::io::Result<()> {
    let mut file = OpenOptions::new().create(true).append(true).open(path)?;
    file.write_all(text.as_bytes())?;
    file.flush()
}

/// Writes through a temporary file and a rename, so a reader never sees half a report.
fn replace(path: &Path, text: &str) -> std::io::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent)?;
    }
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temporary = path.with_file_name(format!(".{file_name}.{}.tmp", std::process::id()));
    fs::write(&temporary, text)?;
    fs::rename(&temporary, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tricky() -> Outputs {
        let mut outputs = Outputs::new();
        outputs
            .set("artifact", "/work/app/target/app-1.0.jar")
            .set("equation", "a=b==c")
            .set("quoted", r#"say "hi" and 'bye'"#)
            .set("unicode", "Grüße, 世界 ✓")
            .set("empty", "");
        outputs
    }

    #[test]
    fn set_replaces_and_keeps_order() {
        let mut outputs = Outputs::new();
        outputs.set("a", 1).set("b", 2).set("a", 3);
        assert_eq!(outputs.iter().collect::<Vec<_>>(), vec![("a", "3"), ("b", "2")]);
    }

    #[test]
    fn url_outputs_keep_host_and_path_but_no_credentials() {
        let mut outputs = Outputs::new();
        outputs
            .set("url", "http://app.example.com:8080/")
            .set("signed", "https://b.s3.amazonaws.com/k?X-Amz-Signature=SECRETCANARY")
            .set("login", "http://user:SECRETCANARY@127.0.0.1:9/");
        assert_eq!(outputs.get("url"), Some("http://app.example.com:8080/"));
        assert_eq!(outputs.get("signed"), Some("https://b.s3.amazonaws.com/k?…"));
        assert_eq!(outputs.get("login"), Some("http://…@127.0.0.1:9/"));
    }

    #[test]
    fn github_output_single_line_values() {
        let text = render_github_output(&tricky(), "ghadelimiter_X").unwrap();
        insta::assert_snapshot!(text, @r#"
        artifact=/work/app/target/app-1.0.jar
        equation=a=b==c
        quoted=say "hi" and 'bye'
        unicode=Grüße, 世界 ✓
        empty=
        "#);
    }

    #[test]
    fn github_output_multiline_uses_heredoc() {
        let mut outputs = Outputs::new();
        outputs.set("tags", "v1\nv1.2\r\nlatest").set("digest", "sha256:ab");
        let text = render_github_output(&outputs, "ghadelimiter_1234").unwrap();
        assert_eq!(text, "tags<<ghadelimiter_1234\nv1\nv1.2\r\nlatest\nghadelimiter_1234\ndigest=sha256:ab\n");
    }

    #[test]
    fn github_output_refuses_value_holding_delimiter() {
        let mut outputs = Outputs::new();
        outputs.set("evil", "line\nghadelimiter_1234\ninjected=1");
        let error = render_github_output(&outputs, "ghadelimiter_1234").unwrap_err();
        assert_eq!(error, OutputError::DelimiterInValue { key: "evil".into(), delimiter: "ghadelimiter_1234".into() });
    }

    #[test]
    fn random_delimiters_differ() {
        assert_ne!(random_delimiter(), random_delimiter());
        assert!(random_delimiter().starts_with("ghadelimiter_"));
    }

    #[test]
    fn dotenv_keys_are_upper_snake() {
        let text = render_dotenv(&tricky()).unwrap();
        insta::assert_snapshot!(text, @r#"
        SLIPWAY_ARTIFACT=/work/app/target/app-1.0.jar
        SLIPWAY_EQUATION=a=b==c
        SLIPWAY_QUOTED=say "hi" and 'bye'
        SLIPWAY_UNICODE=Grüße, 世界 ✓
        SLIPWAY_EMPTY=
        "#);
    }

    #[test]
    fn dotenv_refuses_multiline_and_padded_values() {
        let mut outputs = Outputs::new();
        outputs.set("tags", "a\nb");
        assert_eq!(render_dotenv(&outputs), Err(OutputError::MultilineDotenvValue { key: "tags".into() }));
        let mut outputs = Outputs::new();
        outputs.set("name", " padded");
        assert_eq!(render_dotenv(&outputs), Err(OutputError::PaddedDotenvValue { key: "name".into() }));
    }

    #[test]
    fn stdout_text_escapes_line_breaks() {
        let mut outputs = tricky();
        outputs.set("tags", "v1\nv2\\x\r");
        insta::assert_snapshot!(render_stdout_text(&outputs), @r#"
        artifact=/work/app/target/app-1.0.jar
        equation=a=b==c
        quoted=say "hi" and 'bye'
        unicode=Grüße, 世界 ✓
        empty=
        tags=v1\nv2\\x\r
        "#);
    }

    #[test]
    fn stdout_json_is_one_ordered_object() {
        let mut outputs = tricky();
        outputs.set("tags", "v1\nv2");
        insta::assert_snapshot!(render_stdout_json(&outputs), @r#"{"artifact":"/work/app/target/app-1.0.jar","equation":"a=b==c","quoted":"say \"hi\" and 'bye'","unicode":"Grüße, 世界 ✓","empty":"","tags":"v1\nv2"}"#);
    }

    #[test]
    fn dotenv_merge_replaces_own_keys_and_keeps_others() {
        let merged = merge_dotenv("SLIPWAY_ARTIFACT=old\nOTHER=1\n\n", "SLIPWAY_ARTIFACT=new\nSLIPWAY_KIND=fat-jar\n");
        assert_eq!(merged, "OTHER=1\nSLIPWAY_ARTIFACT=new\nSLIPWAY_KIND=fat-jar\n");
    }

    #[test]
    fn publish_writes_nothing_when_one_sink_refuses() {
        let dir = tempfile::tempdir().unwrap();
        let sinks = Sinks {
            github_output: Some(dir.path().join("github_output")),
            dotenv: Some(dir.path().join("slipway.env")),
            json: false,
        };
        let mut outputs = Outputs::new();
        outputs.set("ok", "1").set("tags", "a\nb");
        let mut stdout = Vec::new();
        let error = sinks.publish_with_delimiter(&outputs, &mut stdout, "D").unwrap_err();
        assert_eq!(error, OutputError::MultilineDotenvValue { key: "tags".into() });
        assert!(!dir.path().join("github_output").exists());
        assert!(!dir.path().join("slipway.env").exists());
        assert!(stdout.is_empty());
    }

    #[test]
    fn publish_appends_github_output_and_merges_dotenv() {
        let dir = tempfile::tempdir().unwrap();
        let github = dir.path().join("github_output");
        let dotenv = dir.path().join("nested/slipway.env");
        fs::write(&github, "earlier=step\n").unwrap();
        let sinks = Sinks { github_output: Some(github.clone()), dotenv: Some(dotenv.clone()), json: true };
        let mut outputs = Outputs::new();
        outputs.set("kind", "fat-jar");
        let mut stdout = Vec::new();
        assert_eq!(sinks.publish_with_delimiter(&outputs, &mut stdout, "D").unwrap(), None);
        sinks.publish_with_delimiter(&outputs, &mut stdout, "D").unwrap();
        assert_eq!(fs::read_to_string(&github).unwrap(), "earlier=step\nkind=fat-jar\nkind=fat-jar\n");
        assert_eq!(fs::read_to_string(&dotenv).unwrap(), "SLIPWAY_KIND=fat-jar\n");
        assert_eq!(String::from_utf8(stdout).unwrap(), "{\"kind\":\"fat-jar\"}\n{\"kind\":\"fat-jar\"}\n");
    }

    #[test]
    fn oversized_dotenv_is_written_with_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let sinks = Sinks { dotenv: Some(dir.path().join("big.env")), ..Sinks::default() };
        let mut outputs = Outputs::new();
        outputs.set("big", "x".repeat(6000));
        let warning = sinks.publish_with_delimiter(&outputs, &mut Vec::new(), "D").unwrap();
        assert!(warning.unwrap().contains("over GitLab's default limit"));
    }
}

/// Properties of the writers against readers that follow each format's documented reader:
/// any value either comes back exactly or is refused with a reason true of it.
#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    const DELIMITER: &str = "ghadelimiter_0f3c";

    /// `$GITHUB_OUTPUT` as the runner reads it (actions/runner's `FileCommandManager`):
    /// lines end at `\n` or `\r\n`; `key=value` when `=` comes before any `<<`, else
    /// `key<<DELIMITER` and the text up to the line that is exactly the delimiter, less the
    /// line break before it.
    fn read_github_output(text: &str) -> Result<Vec<(String, String)>, String> {
        fn read_line<'a>(text: &'a str, at: &mut usize) -> Option<(&'a str, Option<&'static str>)> {
            if *at >= text.len() {
                return None;
            }
            let start = *at;
            let Some(lf) = text[start..].find('\n').map(|i| start + i) else {
                *at = text.len();
                return Some((&text[start..], None));
            };
            if lf > start && text.as_bytes()[lf - 1] == b'\r' {
                *at = lf + 1;
                return Some((&text[start..lf - 1], Some("\r\n")));
            }
            *at = lf + 1;
            Some((&text[start..lf], Some("\n")))
        }
        let mut outputs = Vec::new();
        let mut at = 0;
        while let Some((line, _)) = read_line(text, &mut at) {
            if line.is_empty() {
                continue;
            }
            let equals = line.find('=');
            let heredoc = line.find("<<");
            match (equals, heredoc) {
                (Some(e), h) if h.is_none_or(|h| e < h) => {
                    outputs.push((line[..e].to_owned(), line[e + 1..].to_owned()));
                }
                (_, Some(h)) => {
                    let (key, delimiter) = (&line[..h], &line[h + 2..]);
                    let start = at;
                    let mut end = at;
                    loop {
                        let Some((next, newline)) = read_line(text, &mut at) else {
                            return Err(format!("no delimiter `{delimiter}` closes `{key}`"));
                        };
                        if next == delimiter {
                            break;
                        }
                        let Some(newline) = newline else { return Err("EOF marker missing new line".into()) };
                        end = at - newline.len();
                    }
                    outputs
                        .push((key.to_owned(), if end > start { text[start..end].to_owned() } else { String::new() }));
                }
                _ => return Err(format!("invalid line `{line}`")),
            }
        }
        Ok(outputs)
    }

    /// A GitLab dotenv report as GitLab reads it (`Ci::ParseDotenvArtifactService`): every
    /// line `/^(.*?)=(.*)$/`, both parts stripped as Ruby's `strip` does (ASCII white space
    /// and NUL); an empty line is an error.
    fn read_dotenv(text: &str) -> Result<Vec<(String, String)>, String> {
        fn strip(part: &str) -> &str {
            part.trim_matches(|c: char| c.is_ascii_whitespace() || c == '\u{b}' || c == '\0')
        }
        text.lines()
            .map(|line| {
                let (key, value) = line.split_once('=').ok_or_else(|| format!("invalid format: `{line}`"))?;
                let key = strip(key);
                if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return Err(format!("invalid key `{key}`"));
                }
                Ok((key.to_owned(), strip(value).to_owned()))
            })
            .collect()
    }

    /// The `key=value` lines of standard output, unescaped.
    fn read_stdout_text(text: &str) -> Vec<(String, String)> {
        text.lines()
            .map(|line| {
                let (key, escaped) = line.split_once('=').unwrap_or((line, ""));
                let mut value = String::new();
                let mut chars = escaped.chars();
                while let Some(c) = chars.next() {
                    match (c, c == '\\') {
                        (_, true) => match chars.next() {
                            Some('n') => value.push('\n'),
                            Some('r') => value.push('\r'),
                            Some(other) => value.push(other),
                            None => value.push('\\'),
                        },
                        (c, false) => value.push(c),
                    }
                }
                (key.to_owned(), value)
            })
            .collect()
    }

    fn key() -> impl Strategy<Value = String> {
        "[a-z][a-z0-9]{0,6}(-[a-z0-9]{1,5}){0,2}"
    }

    /// Values that reach the edges of the formats: line breaks of each kind, the
    /// delimiter, `=`, `<<`, white space, NUL, quotes, non-ASCII, and any text at all.
    fn value() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("\n".to_owned()),
            Just("\r".to_owned()),
            Just("\r\n".to_owned()),
            Just(DELIMITER.to_owned()),
            Just("=".to_owned()),
            Just("<<".to_owned()),
            Just(" ".to_owned()),
            Just("\t".to_owned()),
            Just("\0".to_owned()),
            Just("\"'\\".to_owned()),
            Just("\u{a0}ü世".to_owned()),
            "[a-zA-Z0-9./:@-]{1,12}",
        ];
        prop_oneof![any::<String>(), proptest::collection::vec(piece, 0..8).prop_map(|pieces| pieces.concat())]
    }

    fn outputs() -> impl Strategy<Value = Outputs> {
        proptest::collection::vec((key(), value()), 0..6).prop_map(|pairs| {
            let mut outputs = Outputs::new();
            for (key, value) in pairs {
                outputs.set(key, value);
            }
            outputs
        })
    }

    fn owned(outputs: &Outputs) -> Vec<(String, String)> {
        outputs.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
    }

    proptest! {
        #[test]
        fn github_output_round_trips_or_refuses(outputs in outputs()) {
            match render_github_output(&outputs, DELIMITER) {
                Ok(text) => prop_assert_eq!(read_github_output(&text), Ok(owned(&outputs))),
                Err(OutputError::DelimiterInValue { key, .. }) => {
                    prop_assert!(outputs.get(&key).is_some_and(|v| v.contains(DELIMITER)));
                }
                Err(OutputError::TrailingCarriageReturn { key }) => {
                    prop_assert!(outputs.get(&key).is_some_and(|v| v.ends_with('\r')));
                }
                Err(other) => prop_assert!(false, "unexpected refusal {other}"),
            }
        }

        #[test]
        fn dotenv_round_trips_or_refuses(outputs in outputs()) {
            match render_dotenv(&outputs) {
                Ok(text) => {
                    let expected: Vec<(String, String)> =
                        outputs.iter().map(|(k, v)| (dotenv_key(k), v.to_owned())).collect();
                    prop_assert_eq!(read_dotenv(&text), Ok(expected));
                }
                Err(OutputError::MultilineDotenvValue { key }) => {
                    prop_assert!(outputs.get(&key).is_some_and(|v| v.contains(['\n', '\r'])));
                }
                Err(OutputError::PaddedDotenvValue { key }) => {
                    let value = outputs.get(&key).unwrap_or_default();
                    let padded = |c: Option<char>| c.is_some_and(|c| c.is_whitespace() || c == '\0');
                    prop_assert!(padded(value.chars().next()) || padded(value.chars().next_back()));
                }
                Err(other) => prop_assert!(false, "unexpected refusal {other}"),
            }
        }

        #[test]
        fn dotenv_merge_keeps_other_lines_and_replaces_its_own(
            earlier in outputs(), later in outputs(), foreign in "[A-Z][A-Z0-9_]{0,8}=[a-z0-9]{0,8}",
        ) {
            let (Ok(first), Ok(second)) = (render_dotenv(&earlier), render_dotenv(&later)) else {
                return Ok(());
            };
            let merged = merge_dotenv(&merge_dotenv(&format!("{foreign}\n"), &first), &second);
            let read = read_dotenv(&merged).map_err(TestCaseError::fail)?;
            // The last value of every key is the later step's, else the earlier one's.
            for (key, value) in earlier.iter().chain(later.iter()) {
                let expected = later.get(key).unwrap_or(value);
                let found: Vec<&str> =
                    read.iter().filter(|(k, _)| *k == dotenv_key(key)).map(|(_, v)| v.as_str()).collect();
                prop_assert_eq!(found, vec![expected]);
            }
            prop_assert!(merged.lines().any(|line| line == foreign) || foreign.starts_with("SLIPWAY_"));
        }

        #[test]
        fn stdout_lines_round_trip(outputs in outputs()) {
            let text = render_stdout_text(&outputs);
            prop_assert_eq!(text.lines().count(), outputs.iter().count());
            prop_assert_eq!(read_stdout_text(&text), owned(&outputs));
        }

        #[test]
        fn stdout_json_round_trips(outputs in outputs()) {
            let parsed: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(&render_stdout_json(&outputs)).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let read: Vec<(String, String)> =
                parsed.into_iter().map(|(k, v)| (k, v.as_str().unwrap_or("<not a string>").to_owned())).collect();
            prop_assert_eq!(read, owned(&outputs));
        }
    }

    #[test]
    fn a_trailing_carriage_return_is_refused_not_lost() {
        // Found by `github_output_round_trips_or_refuses`: `a\r` came back as `a`.
        let mut outputs = Outputs::new();
        outputs.set("tags", "v1\r");
        let refused = render_github_output(&outputs, DELIMITER).unwrap_err();
        assert_eq!(refused, OutputError::TrailingCarriageReturn { key: "tags".into() });
        outputs.set("tags", "v1\r\nv2");
        let text = render_github_output(&outputs, DELIMITER).unwrap();
        assert_eq!(read_github_output(&text).unwrap(), vec![("tags".to_owned(), "v1\r\nv2".to_owned())]);
    }

    #[test]
    fn a_value_padded_with_nul_is_refused() {
        // Found by `dotenv_round_trips_or_refuses`: GitLab strips NUL as white space.
        let mut outputs = Outputs::new();
        outputs.set("version", "1.0\0");
        assert_eq!(render_dotenv(&outputs), Err(OutputError::PaddedDotenvValue { key: "version".into() }));
    }
}
