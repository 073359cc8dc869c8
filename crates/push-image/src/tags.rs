//! Which tags an image gets: explicit ones, `sha-<short SHA>` by default, and semver
//! or branch tags derived from the git ref like docker/metadata-action does.

/// Whether `tag` is a valid OCI tag: `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
pub fn is_valid_tag(tag: &str) -> bool {
    let mut chars = tag.chars();
    tag.len() <= 128
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// `sha-<first 7 of GITHUB_SHA or CI_COMMIT_SHA>`, when either is known.
pub fn default_tag(env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    let sha = env("GITHUB_SHA").or_else(|| env("CI_COMMIT_SHA")).filter(|s| s.len() >= 7)?;
    Some(format!("sha-{}", &sha[..7]).to_ascii_lowercase())
}

/// Tags from the git ref: a `vX.Y.Z` tag gives `X.Y.Z`, `X.Y` and `X` (only `X.Y.Z`
/// for a pre-release, and no `X` while X is 0); a branch gives its name made safe for
/// a tag (`feature/login` -> `feature-login`). Reads GitHub's and GitLab's variables.
pub fn tags_from_ref(env: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
    let git_tag = env("GITHUB_REF")
        .and_then(|r| r.strip_prefix("refs/tags/").map(str::to_owned))
        .or_else(|| env("CI_COMMIT_TAG").filter(|t| !t.is_empty()));
    if let Some(tag) = git_tag {
        return semver_tags(&tag).unwrap_or_else(|| vec![sanitize(&tag)]);
    }
    let branch = env("GITHUB_REF")
        .and_then(|r| r.strip_prefix("refs/heads/").map(str::to_owned))
        .or_else(|| env("CI_COMMIT_BRANCH").filter(|b| !b.is_empty()));
    branch.map(|b| vec![sanitize(&b)]).unwrap_or_default()
}

fn semver_tags(tag: &str) -> Option<Vec<String>> {
    let version = tag.strip_prefix('v').unwrap_or(tag);
    let (core, pre_release) = match version.split_once(['-', '+']) {
        Some((core, rest)) => (core, Some(rest)),
        None => (version, None),
    };
    let numbers: Vec<&str> = core.split('.').collect();
    if numbers.len() != 3 || numbers.iter().any(|n| n.is_empty() || !n.chars().all(|c| c.is_ascii_digit())) {
        return None;
    }
    let full = sanitize(version);
    if pre_release.is_some() {
        return Some(vec![full]);
    }
    let mut tags = vec![full, format!("{}.{}", numbers[0], numbers[1])];
    if numbers[0] != "0" {
        tags.push(numbers[0].to_owned());
    }
    Some(tags)
}

/// A git ref name as a valid tag: other characters become `-`, at most 128.
fn sanitize(name: &str) -> String {
    let mut tag: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') { c } else { '-' }).collect();
    while tag.starts_with(['.', '-']) {
        tag.remove(0);
    }
    tag.truncate(128);
    tag
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
    }

    #[test]
    fn tag_syntax() {
        for good in ["latest", "1.2.3", "sha-abc1234", "_x", "a-b_c.d"] {
            assert!(is_valid_tag(good), "{good}");
        }
        for bad in ["", "-x", ".x", "a/b", "a:b", &"x".repeat(129)] {
            assert!(!is_valid_tag(bad), "{bad}");
        }
    }

    #[test]
    fn default_tag_from_either_ci() {
        assert_eq!(default_tag(&env(&[("GITHUB_SHA", "ABCDEF0123456789")])), Some("sha-abcdef0".into()));
        assert_eq!(default_tag(&env(&[("CI_COMMIT_SHA", "1234567890")])), Some("sha-1234567".into()));
        assert_eq!(default_tag(&env(&[])), None);
    }

    #[test]
    fn semver_tags_like_metadata_action() {
        assert_eq!(tags_from_ref(&env(&[("GITHUB_REF", "refs/tags/v1.2.3")])), ["1.2.3", "1.2", "1"]);
        assert_eq!(tags_from_ref(&env(&[("GITHUB_REF", "refs/tags/v0.4.1")])), ["0.4.1", "0.4"]);
        assert_eq!(tags_from_ref(&env(&[("GITHUB_REF", "refs/tags/v2.0.0-rc.1")])), ["2.0.0-rc.1"]);
        assert_eq!(tags_from_ref(&env(&[("CI_COMMIT_TAG", "3.1.4")])), ["3.1.4", "3.1", "3"]);
        assert_eq!(tags_from_ref(&env(&[("GITHUB_REF", "refs/tags/release-7")])), ["release-7"]);
    }

    #[test]
    fn branch_tags_are_sanitised() {
        assert_eq!(tags_from_ref(&env(&[("GITHUB_REF", "refs/heads/feature/login")])), ["feature-login"]);
        assert_eq!(tags_from_ref(&env(&[("CI_COMMIT_BRANCH", "main")])), ["main"]);
        assert!(tags_from_ref(&env(&[("GITHUB_REF", "refs/pull/4/merge")])).is_empty());
    }
}
