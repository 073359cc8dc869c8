//! Image references (`registry/repository:tag@digest`) and which registries may be
//! reached over plain HTTP.

use std::net::IpAddr;

use oci_client::Reference;

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
        let (registry, repository) = match name.split_once('/') {
            Some((first, path)) if first.contains(['.', ':']) || first == "localhost" => {
                (first.to_owned(), path.to_owned())
            }
            _ => ("docker.io".to_owned(), name.to_owned()),
        };
        let registry_ok = !registry.is_empty()
            && registry.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
        if !registry_ok {
            return Err(invalid("the registry is not a host[:port]"));
        }
        // Path components: lowercase alphanumerics joined by `.`, `_`, `__` or `-` runs.
        let component_ok = |component: &str| {
            !component.is_empty()
                && component
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
                && component.starts_with(|c: char| c.is_ascii_alphanumeric())
                && component.ends_with(|c: char| c.is_ascii_alphanumeric())
        };
        if repository.is_empty() || !repository.split('/').all(component_ok) {
            return Err(invalid("repository names are lowercase letters, digits and . _ - separators"));
        }
        let repository = if registry == "docker.io" && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository
        };
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
