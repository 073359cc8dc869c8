//! Image references (`registry/repository:tag@digest`) and which registries may be
//! reached over plain HTTP.

use std::net::IpAddr;

use oci_client::Reference;

/// The longest name (registry and repository) the distribution spec's grammar allows.
const NAME_MAX: usize = 255;

/// A path component: lowercase alphanumerics joined by one `.`, one `_`, `__` or a run of `-`.
fn is_path_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if !bytes.first().is_some_and(alnum) || !bytes.last().is_some_and(alnum) {
        return false;
    }
    let mut at = 0;
    while at < bytes.len() {
        if alnum(&bytes[at]) {
            at += 1;
            continue;
        }
        let start = at;
        while at < bytes.len() && !alnum(&bytes[at]) {
            at += 1;
        }
        let separator = &component[start..at];
        let dashes = separator.bytes().all(|b| b == b'-');
        if !(dashes || matches!(separator, "." | "_" | "__")) {
            return false;
        }
    }
    true
}

/// `host[:port]`: DNS labels (letters, digits, inner `-`) joined by `.`, or an IPv6
/// address in brackets; the port digits.
fn is_registry(registry: &str) -> bool {
    let label_ok = |label: &str| {
        !label.is_empty()
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    let (host_ok, port) = match registry.strip_prefix('[') {
        Some(bracketed) => {
            let Some((address, rest)) = bracketed.split_once(']') else { return false };
            let port = match rest {
                "" => None,
                rest => match rest.strip_prefix(':') {
                    Some(port) => Some(port),
                    None => return false,
                },
            };
            (!address.is_empty() && address.chars().all(|c| c.is_ascii_hexdigit() || c == ':'), port)
        }
        None => match registry.split_once(':') {
            Some((host, port)) => (host.split('.').all(label_ok), Some(port)),
            None => (registry.split('.').all(label_ok), None),
        },
    };
    host_ok && port.is_none_or(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

/// A parsed image reference, with Docker Hub's defaults applied
/// (`eclipse-temurin:21-jre` is `docker.io/library/eclipse-temurin:21-jre`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageReference {
    inner: Reference,
}

impl ImageReference {
    /// Parses a reference by the distribution spec's grammar (ASCII only), with Docker's
    /// rule for the registry: a first component holding `.` or `:`, or `localhost`.
    /// (Hand-written: oci-spec's parser compiles a Unicode regex that costs ~100 ms a run.)
    pub fn parse(text: &str) -> Result<Self, String> {
        let trimmed = text.trim();
        let invalid = |why: &str| format!("`{trimmed}` is not a valid image reference ({why})");
        if trimmed.is_empty() {
            return Err("an image reference is empty".to_owned());
        }
        let (rest, digest) = match trimmed.split_once('@') {
            Some((rest, digest)) => (rest, Some(digest)),
            None => (trimmed, None),
        };
        if let Some(digest) = digest {
            let valid = digest.split_once(':').is_some_and(|(algorithm, hex)| {
                algorithm == "sha256"
                    && hex.len() == 64
                    && hex.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
            });
            if !valid {
                return Err(invalid("the digest is not sha256: and 64 lowercase hex digits"));
            }
        }
        // A tag follows the last `:` that comes after the last `/` (a port's colon does not).
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(at) => (&rest[..last_slash + at], Some(&rest[last_slash + at + 1..])),
            None => (rest, None),
        };
        if let Some(tag) = tag {
            let mut chars = tag.chars();
            let valid = tag.len() <= 128
                && chars.next().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
            if !valid {
                return Err(invalid("a tag is letters, digits, _ . - and at most 128 long"));
            }
        }
        // Docker's rule: the first component names a registry when it holds `.` or `:`, or
        // is `localhost`. (Docker 25 also takes an upper-case one, `MyOrg/app`, for a host;
        // here it stays a repository and is refused, since it is a typo far more often.)
        let (registry, repository) = match name.split_once('/') {
            Some((first, path)) if first.contains(['.', ':']) || first == "localhost" => {
                (first.to_owned(), path.to_owned())
            }
            _ => ("docker.io".to_owned(), name.to_owned()),
        };
        if !is_registry(&registry) {
            return Err(invalid("the registry is not a host[:port]"));
        }
        if repository.is_empty() || !repository.split('/').all(is_path_component) {
            return Err(invalid(
                "repository names are lowercase letters and digits, joined by `.`, `_`, `__` or dashes, between slashes",
            ));
        }
        let repository = if registry == "docker.io" && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository
        };
        // As Docker counts it: the whole name, once Docker Hub's defaults are applied.
        if registry.len() + 1 + repository.len() > NAME_MAX {
            return Err(invalid(&format!("a name is at most {NAME_MAX} characters, registry included")));
        }
        let inner = match (tag, digest) {
            (Some(tag), Some(digest)) => {
                Reference::with_tag_and_digest(registry, repository, tag.to_owned(), digest.to_owned())
            }
            (None, Some(digest)) => Reference::with_digest(registry, repository, digest.to_owned()),
            (tag, None) => Reference::with_tag(registry, repository, tag.unwrap_or("latest").to_owned()),
        };
        Ok(Self { inner })
    }

    /// The registry as written (`docker.io`, `127.0.0.1:5000`).
    pub fn registry(&self) -> &str {
        self.inner.registry()
    }

    pub fn repository(&self) -> &str {
        self.inner.repository()
    }

    pub fn tag(&self) -> Option<&str> {
        self.inner.tag()
    }

    pub fn digest(&self) -> Option<&str> {
        self.inner.digest()
    }

    /// The same repository at `digest`.
    pub fn at_digest(&self, digest: &str) -> Self {
        Self { inner: self.inner.clone_with_digest(digest.to_owned()) }
    }

    /// `registry/repository` without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry(), self.repository())
    }

    pub fn as_oci(&self) -> &Reference {
        &self.inner
    }
}

impl std::fmt::Display for ImageReference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.inner.whole())
    }
}

/// Whether `registry` (`host[:port]`) is on the loopback interface, where plain HTTP
/// is allowed without `--insecure-registry`: `localhost`, `127.0.0.0/8`, `[::1]`.
pub fn is_loopback_registry(registry: &str) -> bool {
    let host = if let Some(bracketed) = registry.strip_prefix('[') {
        bracketed.split(']').next().unwrap_or("")
    } else {
        registry
            .rsplit_once(':')
            .map_or(registry, |(host, port)| if port.chars().all(|c| c.is_ascii_digit()) { host } else { registry })
    };
    host.eq_ignore_ascii_case("localhost") || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_defaults() {
        let reference = ImageReference::parse("eclipse-temurin:21-jre").unwrap();
        assert_eq!(reference.registry(), "docker.io");
        assert_eq!(reference.repository(), "library/eclipse-temurin");
        assert_eq!(reference.tag(), Some("21-jre"));
        assert_eq!(reference.name(), "docker.io/library/eclipse-temurin");
    }

    #[test]
    fn local_registry_with_digest() {
        let digest = format!("sha256:{}", "a".repeat(64));
        let reference = ImageReference::parse(&format!("127.0.0.1:5555/slipway/jre@{digest}")).unwrap();
        assert_eq!(reference.registry(), "127.0.0.1:5555");
        assert_eq!(reference.digest(), Some(digest.as_str()));
        let other = ImageReference::parse("127.0.0.1:5555/slipway/jre:17").unwrap().at_digest(&digest);
        assert_eq!(other.to_string(), format!("127.0.0.1:5555/slipway/jre@{digest}"));
    }

    #[test]
    fn malformed_references_are_refused() {
        assert!(ImageReference::parse("").is_err());
        assert!(ImageReference::parse("UPPER/case").unwrap_err().contains("not a valid image reference"));
        assert!(ImageReference::parse("repo:tag:extra").is_err());
        assert!(ImageReference::parse("registry.example.com/team/-app").is_err());
        assert!(ImageReference::parse("registry.example.com/team/my-app_2.x").is_ok());
    }

    #[test]
    fn parses_like_the_distribution_grammar() {
        let r = ImageReference::parse("localhost:5000/team/app:1.2.3").unwrap();
        assert_eq!((r.registry(), r.repository(), r.tag()), ("localhost:5000", "team/app", Some("1.2.3")));
        let r = ImageReference::parse("acme/app").unwrap();
        assert_eq!((r.registry(), r.repository(), r.tag()), ("docker.io", "acme/app", Some("latest")));
        let r = ImageReference::parse("ghcr.io/acme/app").unwrap();
        assert_eq!((r.registry(), r.repository()), ("ghcr.io", "acme/app"));
        assert!(ImageReference::parse("ghcr.io/acme/app@sha256:abc").is_err());
        assert!(ImageReference::parse("app:-bad").is_err());
        assert!(ImageReference::parse("ghcr.io/").is_err());
    }

    #[test]
    fn loopback_registries() {
        for registry in ["localhost", "localhost:5000", "127.0.0.1:5555", "127.8.9.10", "[::1]:5000", "[::1]"] {
            assert!(is_loopback_registry(registry), "{registry}");
        }
        for registry in ["docker.io", "10.0.0.1:5000", "ghcr.io", "localhost.example.com:5000", "[fe80::1]:5000"] {
            assert!(!is_loopback_registry(registry), "{registry}");
        }
    }
}

/// The parser against an oracle written from distribution's reference grammar
/// (`reference/regexp.go`) and Docker's `splitDomain` (`reference/normalize.go`, without
/// its newer upper-case clause, which the parser leaves out on purpose).
#[cfg(test)]
mod properties {
    use std::sync::LazyLock;

    use proptest::prelude::*;
    use regex::Regex;

    use super::*;

    type Parts = (String, String, Option<String>, Option<String>);

    static WHOLE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^(?P<name>[^@]*?)(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(?:@(?P<digest>[^@]*))?$")
            .unwrap()
    });
    static DOMAIN: LazyLock<Regex> = LazyLock::new(|| {
        let component = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
        Regex::new(&format!(r"^(?:{component}(?:\.{component})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?$")).unwrap()
    });
    static PATH: LazyLock<Regex> = LazyLock::new(|| {
        let component = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
        Regex::new(&format!(r"^{component}(?:/{component})*$")).unwrap()
    });
    static DIGEST: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^sha256:[a-f0-9]{64}$").unwrap());

    /// What the grammar makes of `text`: registry, repository, tag, digest; `None` when invalid.
    fn oracle(text: &str) -> Option<Parts> {
        let captures = WHOLE.captures(text.trim())?;
        let name = captures.name("name")?.as_str();
        let tag = captures.name("tag").map(|m| m.as_str().to_owned());
        let digest = captures.name("digest").map(|m| m.as_str().to_owned());
        if name.is_empty() || digest.as_deref().is_some_and(|d| !DIGEST.is_match(d)) {
            return None;
        }
        let (domain, remainder) = match name.split_once('/') {
            Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => (first, rest),
            _ => ("docker.io", name),
        };
        if !DOMAIN.is_match(domain) || !PATH.is_match(remainder) {
            return None;
        }
        let repository = if domain == "docker.io" && !remainder.contains('/') {
            format!("library/{remainder}")
        } else {
            remainder.to_owned()
        };
        let tag = if tag.is_none() && digest.is_none() { Some("latest".to_owned()) } else { tag };
        if domain.len() + 1 + repository.len() > 255 {
            return None;
        }
        Some((domain.to_owned(), repository, tag, digest))
    }

    fn parts(reference: &ImageReference) -> Parts {
        (
            reference.registry().to_owned(),
            reference.repository().to_owned(),
            reference.tag().map(str::to_owned),
            reference.digest().map(str::to_owned),
        )
    }

    /// References built from the grammar, with near misses mixed in: doubled and mixed
    /// separators, upper case, empty components, ports without digits, long names.
    fn near_reference() -> impl Strategy<Value = String> {
        let component = "[a-z0-9]{1,4}([._-]{0,3}[a-zA-Z0-9]{1,4}){0,2}|[._-][a-z0-9]{1,3}|[a-z0-9]{1,3}[._-]";
        let registry = prop_oneof![
            Just(String::new()),
            Just("localhost/".to_owned()),
            Just("LocalHost/".to_owned()),
            "[a-z0-9-]{1,6}(\\.[a-zA-Z0-9-]{0,6}){1,2}(:[0-9]{0,5})?/",
            "127\\.0\\.0\\.1:[0-9]{1,5}/",
            "\\[[0-9a-f:]{2,8}\\](:[0-9]{1,5})?/",
            "[A-Z][a-z]{1,5}/",
        ];
        let tag = prop_oneof![
            Just(String::new()),
            ":[A-Za-z0-9_][A-Za-z0-9_.-]{0,10}",
            ":[.-][a-z]{1,3}",
            Just(":".to_owned())
        ];
        let digest = prop_oneof![
            3 => Just(String::new()),
            1 => "@sha256:[a-f0-9]{64}",
            1 => "@sha256:[a-fA-F0-9]{60,66}",
            1 => "@sha512:[a-f0-9]{64}",
        ];
        (registry, proptest::collection::vec(component, 1..4), tag, digest, 0usize..3).prop_map(
            |(registry, path, tag, digest, padding)| {
                let long = "a".repeat(padding * 120);
                format!("{registry}{long}{}{tag}{digest}", path.join("/"))
            },
        )
    }

    proptest! {
        #[test]
        fn parses_exactly_what_the_grammar_accepts(text in near_reference()) {
            match (ImageReference::parse(&text), oracle(&text)) {
                (Ok(reference), Some(expected)) => prop_assert_eq!(parts(&reference), expected),
                (Err(message), None) => prop_assert!(message.contains("image reference"), "{}", message),
                (Ok(reference), None) => prop_assert!(false, "`{}` parsed as {} against the grammar", text, reference),
                (Err(message), Some(expected)) => prop_assert!(false, "`{}` refused ({}), the grammar says {:?}", text, message, expected),
            }
        }

        #[test]
        fn any_text_agrees_with_the_grammar(text in "[a-zA-Z0-9:/@._\\[\\] -]{0,40}") {
            prop_assert_eq!(ImageReference::parse(&text).ok().map(|r| parts(&r)), oracle(&text));
        }

        #[test]
        fn the_canonical_form_is_stable(text in near_reference()) {
            if let Ok(reference) = ImageReference::parse(&text) {
                let again = ImageReference::parse(&reference.to_string());
                prop_assert_eq!(again.as_ref(), Ok(&reference));
                let digest = format!("sha256:{}", "0".repeat(64));
                let pinned = reference.at_digest(&digest);
                prop_assert_eq!(ImageReference::parse(&pinned.to_string()), Ok(pinned));
            }
        }

        #[test]
        fn no_text_panics(text in any::<String>()) {
            let _ = ImageReference::parse(&text);
            let _ = is_loopback_registry(&text);
        }
    }

    #[test]
    fn separators_follow_the_grammar() {
        // Found by `parses_exactly_what_the_grammar_accepts`: any run of `.`, `_` and `-`
        // passed, which registries refuse (NAME_INVALID) after the step has started.
        for bad in ["team/a..b", "team/a._b", "team/a___b", "a.-b", "registry..example.com/app", "host:/app"] {
            assert!(ImageReference::parse(bad).is_err(), "{bad}");
        }
        for good in ["team/a.b", "team/a__b", "team/a---b", "team/a_b-c.d", "[::1]:5000/app", "Registry.io/app"] {
            assert!(ImageReference::parse(good).is_ok(), "{good}");
        }
        assert!(ImageReference::parse(&format!("r.io/{}", "a".repeat(251))).is_err(), "over 255 characters");
        // Found by `the_canonical_form_is_stable`: Docker counts the name with its defaults.
        assert!(ImageReference::parse(&"a".repeat(240)).is_err(), "docker.io/library/ makes it 258");
    }
}
