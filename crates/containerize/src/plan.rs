//! From flags to a [`Plan`]: every value checked before anything is read from a
//! registry or written to disk, so bad input exits 2 having changed nothing.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use slipway_artifact::{Artifact, ArtifactKind, Linkage};
use slipway_contract::{StepError, parse_list};
use slipway_registry::ImageReference;

use crate::ContainerizeArgs;
use crate::base::{BaseSource, Platform};
use crate::layers::Compression;

/// The JVM flags a container gets unless `--jvm-flag` replaces them: size the heap
/// from the container's memory limit, not the host's.
pub const DEFAULT_JVM_FLAGS: [&str; 1] = ["-XX:MaxRAMPercentage=75"];
/// A non-root user that exists in no base's /etc/passwd and needs none.
pub const DEFAULT_USER: &str = "65532:65532";
pub const APP_DIR: &str = "/app";
/// The default base of a dynamic native executable: glibc (and libssl, CA certificates,
/// tzdata), a non-root user, no shell; what GraalVM's "mostly static" executables target.
pub const DEFAULT_DYNAMIC_BASE: &str = "gcr.io/distroless/base-debian12";

/// Everything containerize will do, decided.
#[derive(Debug, Clone)]
pub struct Plan {
    /// `None`: an image of the base plus [`Plan::additions`], run as the base says.
    pub artifact: Option<Artifact>,
    pub additions: Vec<Addition>,
    pub base: BaseSource,
    pub platforms: Vec<Platform>,
    pub jvm_flags: Vec<String>,
    pub port: Option<u16>,
    pub env: Vec<(String, String)>,
    pub labels: Vec<(String, String)>,
    /// `None` keeps the base's user (a WAR's servlet container).
    pub user: Option<String>,
    pub workdir: Option<String>,
    pub webapps_dir: String,
    pub image: Option<ImageReference>,
    pub output: PathBuf,
    pub tarball: Option<PathBuf>,
    /// Seconds since the epoch for every mtime and `created`.
    pub creation_time: u64,
    pub insecure_registries: Vec<String>,
    /// How the app's and the added layers are stored.
    pub compression: Compression,
}

/// `--add SRC:DEST`: a file or a directory's contents, copied to DEST in the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addition {
    /// `--add` as given, for messages.
    pub entry: String,
    /// May name the platform with `{os}`, `{arch}` and `{variant}`: each platform's image then
    /// gets its own files (binaries built per architecture).
    pub source: PathBuf,
    /// Absolute, without a trailing slash (`/usr/local/bin`).
    pub destination: String,
}

/// The placeholders a per-platform `--add` source may hold.
const PLATFORM_PLACEHOLDERS: [&str; 3] = ["{os}", "{arch}", "{variant}"];

impl Addition {
    /// Whether the source names the platform, so that each platform adds its own files.
    pub fn is_per_platform(&self) -> bool {
        let text = self.source.to_string_lossy();
        PLATFORM_PLACEHOLDERS.iter().any(|placeholder| text.contains(placeholder))
    }

    /// The source for `platform`, its placeholders filled in (`{variant}` is empty without one).
    pub fn source_for(&self, platform: &Platform) -> PathBuf {
        let text = self.source.to_string_lossy();
        let filled = text
            .replace("{os}", &platform.os)
            .replace("{arch}", &platform.architecture)
            .replace("{variant}", platform.variant.as_deref().unwrap_or_default());
        PathBuf::from(filled)
    }

    /// Refuses a source that does not exist, a file added as `/`, or a directory holding no
    /// file (for a per-platform source: the one `platform` names).
    pub fn check_source(&self, platform: Option<&Platform>) -> Result<(), StepError> {
        let source = platform.map_or_else(|| self.source.clone(), |platform| self.source_for(platform));
        let entry = &self.entry;
        let for_platform = platform.map(|p| format!(" (for {p})")).unwrap_or_default();
        if !source.exists() {
            return Err(usage(format!("--add `{entry}`: {} does not exist{for_platform}", source.display())));
        }
        if source.is_file() && self.destination.is_empty() {
            return Err(usage(format!("--add `{entry}`: a file needs a destination path, not /")));
        }
        if source.is_dir() && !holds_a_file(&source) {
            return Err(usage(format!("--add `{entry}`: {} holds no file{for_platform}", source.display())));
        }
        Ok(())
    }
}

fn usage(message: String) -> StepError {
    StepError::usage(message)
}

/// `KEY=VALUE` pairs; `what` names the flag in errors.
fn pairs(values: &[String], flag: &str, valid_key: impl Fn(&str) -> bool) -> Result<Vec<(String, String)>, StepError> {
    parse_list(values)
        .iter()
        .map(|entry| {
            // Only the key is ever shown: a value may be a credential given by mistake.
            let (key, value) = entry.split_once('=').ok_or_else(|| {
                let shown: String = entry.chars().take(40).collect();
                usage(format!("{flag} `{shown}` has no `=`; write it as KEY=VALUE"))
            })?;
            if !valid_key(key) {
                return Err(usage(format!("{flag} `{key}=…`: `{key}` is not a valid name")));
            }
            Ok((key.to_owned(), value.to_owned()))
        })
        .collect()
}

fn is_env_name(key: &str) -> bool {
    let mut chars = key.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn is_label_key(key: &str) -> bool {
    !key.is_empty() && !key.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// `uid`, `uid:gid`, `name` or `name:group`.
fn check_user(user: &str) -> Result<(), StepError> {
    let valid_part = |part: &str| {
        !part.is_empty()
            && (part.chars().all(|c| c.is_ascii_digit())
                || (part.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
                    && part.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')))
    };
    let mut parts = user.split(':');
    let ok = match (parts.next(), parts.next(), parts.next()) {
        (Some(name), None, None) => valid_part(name),
        (Some(name), Some(group), None) => valid_part(name) && valid_part(group),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(usage(format!("--user `{user}` is not a user; write it as UID[:GID] or NAME[:GROUP], like 65532:65532")))
    }
}

/// The last second RFC 3339 (and the image config's `created`) can write: 9999-12-31T23:59:59Z.
const LAST_WRITABLE_SECOND: u64 = 253_402_300_799;

/// `--creation-time`: seconds since the epoch or an RFC 3339 time; else
/// `SOURCE_DATE_EPOCH`; else the epoch itself. A time after the year 9999 is refused.
pub fn creation_time(flag: Option<&str>, source_date_epoch: Option<&str>) -> Result<u64, StepError> {
    let parse = |text: &str, origin: &str| -> Result<u64, StepError> {
        let text = text.trim();
        if let Ok(seconds) = text.parse::<u64>() {
            if seconds > LAST_WRITABLE_SECOND {
                return Err(usage(format!(
                    "{origin} `{text}` is after the year 9999, which an image's creation time cannot hold"
                )));
            }
            return Ok(seconds);
        }
        humantime::parse_rfc3339_weak(text)
            .ok()
            .and_then(|time| time.duration_since(UNIX_EPOCH).ok())
            .map(|since| since.as_secs())
            .ok_or_else(|| {
                usage(format!("{origin} `{text}` is not a time; give seconds since the epoch or 2024-05-01T12:00:00Z"))
            })
    };
    match (flag.filter(|f| !f.trim().is_empty()), source_date_epoch.filter(|s| !s.trim().is_empty())) {
        (Some(flag), _) => parse(flag, "--creation-time"),
        (None, Some(epoch)) => parse(epoch, "SOURCE_DATE_EPOCH"),
        (None, None) => Ok(0),
    }
}

pub fn format_time(seconds: u64) -> String {
    humantime::format_rfc3339_seconds(SystemTime::UNIX_EPOCH + Duration::from_secs(seconds)).to_string()
}

/// Checks every flag and inspects the artifact.
pub fn plan(args: &ContainerizeArgs, env: &dyn Fn(&str) -> Option<String>) -> Result<Plan, StepError> {
    let additions = parse_list(&args.add).iter().map(|entry| addition(entry)).collect::<Result<Vec<_>, _>>()?;
    let artifact = match args.artifact.as_deref().filter(|path| !path.as_os_str().is_empty()) {
        Some(path) => Some(slipway_artifact::inspect(&absolute(path)).map_err(|error| usage(error.to_string()))?),
        None if additions.is_empty() => {
            return Err(usage(
                "give --artifact (the JAR, dist, WAR or native executable to run), or --add for an image of files"
                    .into(),
            ));
        }
        None => None,
    };
    if let Some(kind) = args.kind {
        match &artifact {
            Some(artifact) if kind != artifact.kind => {
                return Err(usage(format!(
                    "--kind {} but {} is a {}",
                    kind.as_str(),
                    artifact.path.display(),
                    artifact.kind.as_str()
                )));
            }
            Some(_) => {}
            None => return Err(usage("--kind needs --artifact".into())),
        }
    }
    let native = artifact.as_ref().and_then(|a| a.native.as_ref());
    if native.is_some() && !parse_list(&args.jvm_flag).is_empty() {
        return Err(usage(
            "--jvm-flag is for a JVM; a native executable takes its options as arguments of its own".into(),
        ));
    }
    let base_text = match (args.base.as_deref().map(str::trim).filter(|b| !b.is_empty()), &artifact) {
        (Some(base), _) => base.to_owned(),
        // A native executable needs no JVM: nothing for a static one, glibc for a dynamic one.
        (None, Some(_)) if native.is_some_and(|n| n.linkage == Linkage::Static) => "scratch".to_owned(),
        (None, Some(_)) if native.is_some() => DEFAULT_DYNAMIC_BASE.to_owned(),
        // A JRE of the release the code needs: Temurin publishes one per feature release.
        (None, Some(artifact)) => format!("eclipse-temurin:{}-jre", artifact.java_release.max(8)),
        (None, None) => return Err(usage("--base is required without --artifact".into())),
    };
    let base = BaseSource::parse(&base_text).map_err(|e| usage(format!("--base: {e}")))?;
    let platforms = parse_list(&args.platform)
        .iter()
        .flat_map(|value| {
            value.split(',').map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned).collect::<Vec<_>>()
        })
        .map(|text| Platform::parse(&text).map_err(|e| usage(format!("--platform {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    // A native executable runs on one architecture: the image is for that platform only.
    let platforms = match native {
        Some(native) => {
            let own = Platform { os: "linux".to_owned(), architecture: native.architecture.clone(), variant: None };
            if let Some(other) =
                platforms.iter().find(|wanted| wanted.os != own.os || wanted.architecture != own.architecture)
            {
                return Err(usage(format!(
                    "--platform {other}, but {} is a {own} executable",
                    artifact.as_ref().map(|a| a.path.display().to_string()).unwrap_or_default()
                )));
            }
            if platforms.is_empty() { vec![own] } else { platforms }
        }
        None => platforms,
    };
    let env_vars = pairs(&args.env, "--env", is_env_name)?;
    let mut labels = default_labels(artifact.as_ref(), args.image.as_deref(), env);
    for (key, value) in pairs(&args.label, "--label", is_label_key)? {
        labels.retain(|(existing, _)| existing != &key);
        labels.push((key, value));
    }
    let user = match args.user.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
        Some(user) => {
            check_user(user)?;
            Some(user.to_owned())
        }
        None if artifact.as_ref().is_none_or(|a| a.kind == ArtifactKind::War) => None,
        None => Some(DEFAULT_USER.to_owned()),
    };
    let workdir = match args.workdir.as_deref().map(str::trim).filter(|w| !w.is_empty()) {
        Some(dir) if !dir.starts_with('/') => {
            return Err(usage(format!("--workdir `{dir}` must be an absolute path, like /app")));
        }
        Some(dir) => Some(dir.to_owned()),
        None if artifact.as_ref().is_none_or(|a| a.kind == ArtifactKind::War) => None,
        None => Some(APP_DIR.to_owned()),
    };
    if !args.webapps_dir.starts_with('/') {
        return Err(usage(format!("--webapps-dir `{}` must be an absolute path", args.webapps_dir)));
    }
    let image = match args.image.as_deref().map(str::trim).filter(|i| !i.is_empty()) {
        Some(image) => Some(ImageReference::parse(image).map_err(|e| usage(format!("--image {e}")))?),
        None => None,
    };
    let jvm_flags = {
        let flags = parse_list(&args.jvm_flag);
        if flags.is_empty() { DEFAULT_JVM_FLAGS.iter().map(|f| (*f).to_owned()).collect() } else { flags }
    };
    let port = match args.port {
        0 => None,
        port => Some(port),
    };
    let creation_time = creation_time(args.creation_time.as_deref(), env("SOURCE_DATE_EPOCH").as_deref())?;
    let insecure_registries = parse_list(&args.insecure_registry);
    Ok(Plan {
        artifact,
        additions,
        base,
        platforms,
        jvm_flags,
        port,
        env: env_vars,
        labels,
        user,
        workdir,
        webapps_dir: args.webapps_dir.trim_end_matches('/').to_owned(),
        image,
        output: absolute(&args.output),
        tarball: args.tarball.as_deref().filter(|t| !t.as_os_str().is_empty()).map(absolute),
        creation_time,
        insecure_registries,
        compression: args.compression,
    })
}

fn addition(entry: &str) -> Result<Addition, StepError> {
    let (source, destination) = entry.rsplit_once(':').ok_or_else(|| {
        usage(format!("--add `{entry}` has no `:`; write it as SRC:DEST, like agent.jar:/opt/agent.jar"))
    })?;
    let destination = destination.trim_end_matches('/');
    if !destination.starts_with('/') && !destination.is_empty() || destination.split('/').any(|part| part == "..") {
        return Err(usage(format!("--add `{entry}`: `{destination}` must be an absolute path without `..`")));
    }
    let addition =
        Addition { entry: entry.to_owned(), source: absolute(Path::new(source)), destination: destination.to_owned() };
    // A per-platform source is checked once the base's platforms are known.
    if !addition.is_per_platform() {
        addition.check_source(None)?;
    }
    Ok(addition)
}

/// Whether a file is anywhere under `dir`, as `--add` walks it (links to directories not
/// followed; an unreadable directory counts as empty).
fn holds_a_file(dir: &Path) -> bool {
    std::fs::read_dir(dir).into_iter().flatten().filter_map(Result::ok).any(|entry| {
        entry.path().is_file() || (entry.file_type().is_ok_and(|t| t.is_dir()) && holds_a_file(&entry.path()))
    })
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}

/// OCI labels filled from the CI environment where it is known.
fn default_labels(
    artifact: Option<&Artifact>,
    image: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Vec<(String, String)> {
    let known = |name: &str| env(name).filter(|v| !v.is_empty());
    let mut labels = Vec::new();
    let source = match (known("GITHUB_SERVER_URL"), known("GITHUB_REPOSITORY")) {
        (Some(server), Some(repository)) => Some(format!("{server}/{repository}")),
        _ => known("CI_PROJECT_URL"),
    };
    if let Some(source) = source {
        labels.push(("org.opencontainers.image.source".to_owned(), source));
    }
    if let Some(revision) = known("GITHUB_SHA").or_else(|| known("CI_COMMIT_SHA")) {
        labels.push(("org.opencontainers.image.revision".to_owned(), revision));
    }
    if let Some(artifact) = artifact.filter(|a| !a.version.is_empty()) {
        labels.push(("org.opencontainers.image.version".to_owned(), artifact.version.clone()));
    }
    let title = image
        .and_then(|image| image.split(['@', ':']).next())
        .and_then(|name| name.rsplit('/').next())
        .map(str::to_owned)
        .or_else(|| artifact.and_then(|a| a.path.file_stem()).map(|s| s.to_string_lossy().into_owned()));
    if let Some(title) = title.filter(|t| !t.is_empty()) {
        labels.push(("org.opencontainers.image.title".to_owned(), title));
    }
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creation_time_sources_in_order() {
        assert_eq!(creation_time(Some("1700000000"), Some("5")).unwrap(), 1_700_000_000);
        assert_eq!(creation_time(Some("2024-01-01T00:00:00Z"), None).unwrap(), 1_704_067_200);
        assert_eq!(creation_time(None, Some("42")).unwrap(), 42);
        assert_eq!(creation_time(Some(""), None).unwrap(), 0);
        assert!(creation_time(Some("yesterday"), None).unwrap_err().message.contains("is not a time"));
        assert_eq!(format_time(1_704_067_200), "2024-01-01T00:00:00Z");
    }

    #[test]
    fn env_and_label_syntax() {
        let ok = pairs(&["A_B=1=2\nC=".into()], "--env", is_env_name).unwrap();
        assert_eq!(ok, vec![("A_B".into(), "1=2".into()), ("C".into(), String::new())]);
        assert!(pairs(&["NOEQUALS".into()], "--env", is_env_name).unwrap_err().message.contains("has no `=`"));
        assert!(pairs(&["1BAD=x".into()], "--env", is_env_name).unwrap_err().message.contains("not a valid name"));
        assert!(pairs(&["bad key=x".into()], "--label", is_label_key).is_err());
        assert!(pairs(&["org.example/x=y".into()], "--label", is_label_key).is_ok());
    }

    #[test]
    fn user_syntax() {
        for good in ["65532", "65532:65532", "app", "app:app", "_svc-1:0"] {
            assert!(check_user(good).is_ok(), "{good}");
        }
        for bad in ["", ":", "a:b:c", "App", "65532:", "ro ot"] {
            assert!(check_user(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn additions_need_an_existing_source_and_an_absolute_destination() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("agent.jar");
        std::fs::write(&file, "x").unwrap();
        let file = file.display().to_string();
        let dir_text = dir.path().display().to_string();
        let added = addition(&format!("{file}:/opt/agent/agent.jar")).unwrap();
        assert_eq!(added.destination, "/opt/agent/agent.jar");
        assert_eq!(addition(&format!("{dir_text}:/usr/local/bin/")).unwrap().destination, "/usr/local/bin");
        assert_eq!(addition(&format!("{dir_text}:/")).unwrap().destination, "");
        assert!(addition(&format!("{file}:/")).unwrap_err().message.contains("needs a destination path"));
        assert!(addition(&format!("{file}:opt/a.jar")).unwrap_err().message.contains("absolute path"));
        assert!(addition(&format!("{file}:/opt/../etc/a")).unwrap_err().message.contains("without `..`"));
        assert!(addition(&file.replace(':', "")).unwrap_err().message.contains("has no `:`"));
        assert!(addition(&format!("{dir_text}/nope:/opt")).unwrap_err().message.contains("does not exist"));
        let empty = dir.path().join("empty/nested");
        std::fs::create_dir_all(&empty).unwrap();
        let empty_text = dir.path().join("empty").display().to_string();
        assert!(addition(&format!("{empty_text}:/opt")).unwrap_err().message.contains("holds no file"));

        // {os}/{arch}/{variant}: checked per platform, once the platforms are known.
        std::fs::create_dir_all(dir.path().join("bin/arm64")).unwrap();
        std::fs::write(dir.path().join("bin/arm64/tool"), "x").unwrap();
        let per_platform = addition(&format!("{dir_text}/bin/{{arch}}:/usr/local/bin")).unwrap();
        assert!(per_platform.is_per_platform());
        let arm = Platform::parse("linux/arm64/v8").unwrap();
        let amd = Platform::parse("linux/amd64").unwrap();
        assert_eq!(per_platform.source_for(&arm), dir.path().join("bin/arm64"));
        per_platform.check_source(Some(&arm)).unwrap();
        let missing = per_platform.check_source(Some(&amd)).unwrap_err().message;
        assert!(missing.contains("bin/amd64 does not exist (for linux/amd64)"), "{missing}");
    }

    /// This test binary is itself a dynamically linked native executable: the plan for it.
    #[test]
    fn a_dynamic_native_executable_gets_the_glibc_base_its_own_platform_and_no_jvm_flags() {
        let exe = std::env::current_exe().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let no_env = |_: &str| None;
        let args = ContainerizeArgs::from_flags([
            std::ffi::OsStr::new("--artifact"),
            exe.as_os_str(),
            std::ffi::OsStr::new("--output"),
            dir.path().as_os_str(),
        ])
        .unwrap();
        let plan = plan(&args, &no_env).unwrap();
        let artifact = plan.artifact.as_ref().unwrap();
        assert_eq!(artifact.kind, ArtifactKind::Native);
        assert_eq!(artifact.native.as_ref().unwrap().linkage, Linkage::Dynamic);
        assert_eq!(plan.base, BaseSource::parse(DEFAULT_DYNAMIC_BASE).unwrap());
        assert_eq!(plan.platforms, [Platform::host()]);
        assert_eq!((plan.user.as_deref(), plan.workdir.as_deref()), (Some(DEFAULT_USER), Some(APP_DIR)));

        let with = |extra: &[&str]| {
            let mut flags = vec!["--artifact".to_owned(), exe.display().to_string()];
            flags.extend(extra.iter().map(|f| (*f).to_owned()));
            super::plan(&ContainerizeArgs::from_flags(flags).unwrap(), &no_env)
        };
        let jvm = with(&["--jvm-flag=-Xmx1g"]).unwrap_err();
        assert!(jvm.message.contains("--jvm-flag is for a JVM"), "{}", jvm.message);
        let other = if Platform::host().architecture == "arm64" { "linux/amd64" } else { "linux/arm64" };
        let platform = with(&["--platform", other]).unwrap_err();
        assert!(platform.message.contains(&format!("--platform {other}, but")), "{}", platform.message);
        let kind = with(&["--kind", "war"]).unwrap_err();
        assert!(kind.message.contains("is a native"), "{}", kind.message);
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn creation_times_round_trip_or_are_refused(seconds in prop_oneof![0u64..=LAST_WRITABLE_SECOND, any::<u64>()]) {
            match creation_time(Some(&seconds.to_string()), None) {
                Ok(time) => {
                    prop_assert_eq!(time, seconds);
                    let written = format_time(time);
                    prop_assert_eq!(creation_time(Some(&written), None).ok(), Some(seconds), "{}", written);
                }
                Err(error) => {
                    prop_assert!(seconds > LAST_WRITABLE_SECOND);
                    prop_assert!(error.message.starts_with("--creation-time `"));
                }
            }
        }

        #[test]
        fn any_creation_time_text_is_a_time_or_one_error(text in any::<String>(), epoch in any::<String>()) {
            if let Ok(time) = creation_time(Some(&text), Some(&epoch)) {
                let _ = format_time(time); // never panics for a time it accepted
            }
        }

        #[test]
        fn pairs_keep_values_exactly_and_never_show_them(
            entries in proptest::collection::vec(("[A-Za-z_][A-Za-z0-9_]{0,8}|[0-9][a-z]{0,4}|[a-z]{1,3}[ -][a-z]{1,3}", "Qz9[^\n\r]{6,12}"), 1..4),
        ) {
            let lines: Vec<String> = entries.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let valid = entries.iter().all(|(k, _)| is_env_name(k));
            match pairs(&[lines.join("\n")], "--env", is_env_name) {
                Ok(parsed) => {
                    prop_assert!(valid);
                    let expected: Vec<(String, String)> =
                        entries.iter().map(|(k, v)| (k.clone(), v.trim_end().to_owned())).collect();
                    prop_assert_eq!(parsed, expected);
                }
                Err(error) => {
                    prop_assert!(!valid);
                    for (_, value) in &entries {
                        let marker: String = value.chars().take(9).collect();
                        prop_assert!(!error.message.contains(&marker), "{}", error.message);
                    }
                }
            }
        }

        #[test]
        fn users_are_ids_or_names(user in "[a-z_][a-z0-9_-]{0,6}|[0-9]{1,6}", group in proptest::option::of("[a-z_][a-z0-9_-]{0,6}|[0-9]{1,6}"), junk in "[A-Z:@ ]") {
            let text = group.map_or(user.clone(), |g| format!("{user}:{g}"));
            prop_assert!(check_user(&text).is_ok(), "{}", text);
            let junked = format!("{text}{junk}");
            prop_assert!(check_user(&junked).is_err());
        }
    }

    #[test]
    fn a_creation_time_after_the_year_9999_is_refused() {
        // Found by `creation_times_round_trip_or_are_refused`: `--creation-time 253402300800`
        // was taken, and writing the config's `created` panicked.
        let error = creation_time(Some("253402300800"), None).unwrap_err();
        assert!(error.message.contains("after the year 9999"), "{}", error.message);
        assert_eq!(format_time(LAST_WRITABLE_SECOND), "9999-12-31T23:59:59Z");
    }
}
