//! URLs in what a step prints: the one place where user info, query strings and
//! fragments are cut out, so that a pre-signed URL (`X-Amz-Signature=…`), a token in a
//! query or a `user:password@` never reaches a log, an annotation, a summary or an output.
//!
//! The scheme, host, port and path stay, so a line still says what failed:
//! `https://user:pw@bucket.s3.amazonaws.com/blob?X-Amz-Signature=ab` becomes
//! `https://…@bucket.s3.amazonaws.com/blob?…`.

/// What stands in for a removed part.
pub const REDACTED: &str = "…";

/// `url` with its user info, query and fragment replaced by `…`. The scheme is optional
/// (`user:pw@host/path?q` and `/path?q` are redacted the same way).
pub fn redact_url(url: &str) -> String {
    let scheme_len = scheme_prefix_len(url).unwrap_or(0);
    let (scheme, rest) = url.split_at(scheme_len);
    let mut out = String::with_capacity(url.len());
    out.push_str(scheme);

    // The authority, when there is one: a scheme says so; without one, anything not
    // starting with a slash is read as `[userinfo@]host[:port]`.
    let has_authority = scheme_len > 0 || !rest.starts_with('/');
    let rest = if has_authority {
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = &rest[..end];
        if let Some(at) = authority.rfind('@') {
            out.push_str(REDACTED);
            out.push_str(&authority[at..]);
            &rest[end..]
        } else if !is_host_port(authority)
            && let Some(at) = rest.rfind('@')
        {
            // Not a host[:port]: a password with a `/`, `?` or `#` left unencoded. Cut up
            // to the last `@` rather than print any of it.
            out.push_str(REDACTED);
            let after = &rest[at..];
            let end = after.find(['/', '?', '#']).unwrap_or(after.len());
            out.push_str(&after[..end]);
            &after[end..]
        } else {
            out.push_str(authority);
            &rest[end..]
        }
    } else {
        rest
    };

    let (before_fragment, fragment) = match rest.find('#') {
        Some(hash) => (&rest[..hash], Some(&rest[hash + 1..])),
        None => (rest, None),
    };
    match before_fragment.find('?') {
        Some(question) => {
            out.push_str(&before_fragment[..=question]);
            if question + 1 < before_fragment.len() {
                out.push_str(REDACTED);
            }
        }
        None => out.push_str(before_fragment),
    }
    if let Some(fragment) = fragment {
        out.push('#');
        if !fragment.is_empty() {
            out.push_str(REDACTED);
        }
    }
    out
}

/// `text` with every URL in it (anything written `scheme://…`) passed through
/// [`redact_url`]; the rest of the text is left as it is. For error messages of HTTP
/// clients, which name the URL they failed on, and any line a child process prints.
pub fn redact_urls(text: &str) -> String {
    if !text.contains("://") {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut search = 0;
    while let Some(found) = text[search..].find("://") {
        let marker = search + found;
        let start = scheme_start(text, marker);
        if start == marker || start < copied {
            search = marker + 3;
            continue;
        }
        let end = url_end(text, start, marker + 3);
        out.push_str(&text[copied..start]);
        out.push_str(&redact_url(&text[start..end]));
        copied = end;
        search = end.max(marker + 3);
    }
    out.push_str(&text[copied..]);
    out
}

/// The length of `scheme://` at the start of `text`, when it starts with one.
fn scheme_prefix_len(text: &str) -> Option<usize> {
    let marker = text.find("://")?;
    let scheme = &text[..marker];
    let mut chars = scheme.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    (first_ok && chars.all(is_scheme_char)).then_some(marker + 3)
}

fn is_scheme_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')
}

/// Where the scheme before the `://` at `marker` starts (`marker` itself when there is none).
fn scheme_start(text: &str, marker: usize) -> usize {
    let before = &text[..marker];
    let mut start = marker;
    for (index, c) in before.char_indices().rev() {
        if is_scheme_char(c) {
            start = index;
        } else {
            break;
        }
    }
    // A scheme starts with a letter: skip digits and signs glued in front of it.
    while start < marker && !text[start..].starts_with(|c: char| c.is_ascii_alphabetic()) {
        start += 1;
    }
    start
}

/// Where the URL that starts at `start` (its authority at `from`) ends: at white space, a
/// quote (a single one only where it closes) or an angle bracket, less trailing punctuation
/// of the sentence around it (a `)` or `]` only when it closes nothing inside the URL).
fn url_end(text: &str, start: usize, from: usize) -> usize {
    let rest = &text[from..];
    // A `'` is a URL character (a password or a query may hold one). Before the query or
    // fragment, and outside the user info, it ends the URL where it reads as a closing
    // quote (before the end, white space or punctuation); elsewhere never: what follows
    // would be printed unredacted.
    let run = rest.find(char::is_whitespace).unwrap_or(rest.len());
    let closing_quote = |at: usize| {
        let in_user_info = !rest[..at].contains('/') && rest[at..run].contains('@');
        !rest[..at].contains(['?', '#'])
            && !in_user_info
            && rest[at + 1..].chars().next().is_none_or(|next| {
                next.is_whitespace()
                    || matches!(next, '.' | ',' | ';' | ':' | '!' | '?' | ')' | ']' | '}' | '>' | '"' | '\'')
            })
    };
    let stop = rest
        .char_indices()
        .find(|&(at, c)| {
            c.is_whitespace()
                || matches!(c, '"' | '<' | '>' | '`' | '{' | '}' | '|' | '\\' | '^')
                || (c == '\'' && closing_quote(at))
        })
        .map_or(rest.len(), |(at, _)| at);
    let mut end = from + stop;
    loop {
        let url = &text[from..end];
        let Some(last) = url.chars().next_back() else { break };
        // A bracket closes one inside the URL only if it does in what stays once the URL is
        // redacted (user info, query and fragment go): redacting the redacted text again
        // must change nothing.
        let unbalanced = |open: char, close: char| {
            let kept = redact_url(&text[start..end - last.len_utf8()]);
            kept.matches(close).count() + 1 > kept.matches(open).count()
        };
        let trim = match last {
            '.' | ',' | ';' | ':' | '!' | '?' | '\'' => true,
            ')' => unbalanced('(', ')'),
            ']' => unbalanced('[', ']'),
            _ => false,
        };
        if !trim {
            break;
        }
        end -= last.len_utf8();
    }
    end
}

/// Whether `authority` is a plain `host[:port]` (an IPv6 host in brackets).
fn is_host_port(authority: &str) -> bool {
    let port_ok = |port: &str| port.chars().all(|c| c.is_ascii_digit());
    if let Some(bracketed) = authority.strip_prefix('[') {
        return match bracketed.split_once(']') {
            Some((_, "")) => true,
            Some((_, after)) => after.strip_prefix(':').is_some_and(port_ok),
            None => false,
        };
    }
    match authority.split_once(':') {
        Some((_, port)) => port_ok(port),
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "SECRETCANARY";

    #[test]
    fn urls_lose_user_info_query_and_fragment_and_keep_the_rest() {
        let cases = [
            ("https://example.com/health", "https://example.com/health"),
            ("https://user:pw@example.com/x", "https://…@example.com/x"),
            ("https://token@example.com", "https://…@example.com"),
            (
                "http://127.0.0.1:5555/v2/a/blobs/uploads/1-2?_state=abc&digest=sha256%3A1",
                "http://127.0.0.1:5555/v2/a/blobs/uploads/1-2?…",
            ),
            ("https://b.s3.amazonaws.com/k?X-Amz-Signature=ab&X-Amz-Credential=cd", "https://b.s3.amazonaws.com/k?…"),
            ("https://example.com/p#access_token=x", "https://example.com/p#…"),
            ("https://u:p@example.com/p?q=1#f", "https://…@example.com/p?…#…"),
            ("https://example.com/p?", "https://example.com/p?"),
            ("https://example.com/p#", "https://example.com/p#"),
            ("http://[::1]:8080/p?t=1", "http://[::1]:8080/p?…"),
            ("http://u:p@[2001:db8::1]/p", "http://…@[2001:db8::1]/p"),
            ("http://[fe80::1%25eth0]/", "http://[fe80::1%25eth0]/"),
            ("tcp://user:pw@docker.example.com:2376", "tcp://…@docker.example.com:2376"),
            ("user:pw@registry.example.com/v2/?x=1", "…@registry.example.com/v2/?…"),
            ("registry.example.com:5000/v2/x?y", "registry.example.com:5000/v2/x?…"),
            ("/health?token=abc", "/health?…"),
            ("/health", "/health"),
            ("http://user:p@ss@example.com/", "http://…@example.com/"),
            ("http://user:pa/ss@example.com/p", "http://…@example.com/p"),
            ("http://user:pa?ss@example.com/p", "http://…@example.com/p"),
            ("http://user:pa#ss@example.com/p?x", "http://…@example.com/p?…"),
            ("https://registry.npmjs.org/@scope/pkg", "https://registry.npmjs.org/@scope/pkg"),
            ("http://host:8080/@me?x", "http://host:8080/@me?…"),
        ];
        for (url, expected) in cases {
            assert_eq!(redact_url(url), expected, "{url}");
            assert_eq!(redact_url(expected), expected, "redacting twice changes nothing: {expected}");
        }
    }

    /// Every combination of the parts a URL can have: the secret never survives, the
    /// host and path always do, and redacting is idempotent.
    #[test]
    fn no_shape_of_url_keeps_its_secret() {
        let schemes = ["", "http://", "https://", "tcp://", "s3://", "git+ssh://"];
        let users = ["", "user@", &format!("user:{SECRET}@"), &format!("{SECRET}@"), &format!("u:{SECRET}:x@")];
        let hosts = ["example.com", "example.com:8443", "127.0.0.1:5555", "[::1]", "[2001:db8::1]:5000"];
        let paths = ["", "/", "/v2/app/blobs/uploads/3f1c-77", "/a%20b/c.d"];
        let queries = ["", "?", &format!("?X-Amz-Signature={SECRET}"), &format!("?a=1&token={SECRET}&b=/x@y")];
        let fragments = ["", "#", &format!("#{SECRET}"), &format!("#access_token={SECRET}")];
        let mut seen = 0;
        for scheme in schemes {
            for user in &users {
                for host in hosts {
                    for path in paths {
                        for query in &queries {
                            for fragment in &fragments {
                                if scheme.is_empty() && path.is_empty() && (!query.is_empty() || !fragment.is_empty()) {
                                    continue; // `host?q` with no scheme or path is not a URL anyone prints
                                }
                                let url = format!("{scheme}{user}{host}{path}{query}{fragment}");
                                let redacted = redact_url(&url);
                                assert!(!redacted.contains(SECRET), "{url} -> {redacted}");
                                assert!(redacted.starts_with(scheme), "{url} -> {redacted}");
                                assert!(redacted.contains(&format!("{host}{path}")), "{url} -> {redacted}");
                                assert_eq!(redact_url(&redacted), redacted, "{url}");
                                for wrap in
                                    ["{}", "error sending request for url ({}): reset", "at <{}>.", "\"{}\", then"]
                                {
                                    if scheme.is_empty() {
                                        continue;
                                    }
                                    let text = wrap.replace("{}", &url);
                                    let redacted_text = redact_urls(&text);
                                    assert!(!redacted_text.contains(SECRET), "{text} -> {redacted_text}");
                                    assert_eq!(redacted_text, wrap.replace("{}", &redacted), "{text}");
                                    assert_eq!(redact_urls(&redacted_text), redacted_text);
                                }
                                seen += 1;
                            }
                        }
                    }
                }
            }
        }
        assert!(seen > 9_000, "{seen} shapes");
    }

    #[test]
    fn urls_in_text_are_redacted_where_they_stand() {
        let cases = [
            (
                "upload sha256:1: error sending request for url (http://127.0.0.1:5/v2/a/blobs/uploads/u?_state=s&digest=sha256%3A1): connection reset",
                "upload sha256:1: error sending request for url (http://127.0.0.1:5/v2/a/blobs/uploads/u?…): connection reset",
            ),
            (
                "Get \"https://r.example.com/v2/?x=1\": dial tcp: lookup r.example.com: no such host",
                "Get \"https://r.example.com/v2/?…\": dial tcp: lookup r.example.com: no such host",
            ),
            (
                "see https://a.example.com/x?y=1, then https://b.example.com/?z.",
                "see https://a.example.com/x?…, then https://b.example.com/?….",
            ),
            ("[link](https://u:p@example.com/docs?x=1)", "[link](https://…@example.com/docs?…)"),
            ("DOCKER_HOST `tcp://me:pw@10.0.0.1:2376` unreachable", "DOCKER_HOST `tcp://…@10.0.0.1:2376` unreachable"),
            ("(http://[::1]:80/a?b)", "(http://[::1]:80/a?…)"),
            ("two:http://a/?1 and ftp://u@b/c", "two:http://a/?… and ftp://…@b/c"),
            ("5http://a/?x", "5http://a/?…"),
        ];
        for (text, expected) in cases {
            assert_eq!(redact_urls(text), expected, "{text}");
            assert_eq!(redact_urls(expected), expected);
        }
    }

    #[test]
    fn a_single_quote_inside_a_url_does_not_end_it() {
        // Found by `properties::no_url_keeps_its_credentials`: the URL ended at the `'` of
        // `token=a'b`, and the rest of the query and the fragment were printed.
        assert_eq!(redact_urls("GET http://h/p?token=Qz9A'_~#frag failed"), "GET http://h/p?…#… failed");
        assert_eq!(redact_urls("GET http://h/p?token=Qz9';$$ failed"), "GET http://h/p?… failed");
        assert_eq!(redact_urls("at http://u:pa'ss@h/p: refused"), "at http://…@h/p: refused");
        assert_eq!(redact_urls("at http://u:pa'),s@h/p"), "at http://…@h/p");
        assert_eq!(redact_urls("url 'http://h/p?x=1', then"), "url 'http://h/p?…', then");
        assert_eq!(redact_urls("'http://h/p?x=1'"), "'http://h/p?…'");
    }

    #[test]
    fn a_bracket_closing_inside_a_redacted_query_is_stable() {
        // Found by fuzz/ (contract_values, kept in fuzz/regressions): the `)` after a
        // fragment holding `(…)` was trimmed as the sentence's, then, once the fragment was
        // redacted, taken into the URL on a second pass.
        for text in ["\0\0\0\0errrequest for Urttp://z:pK@127e=(#f):2Mis#f): s/u:p@et", "44444u://)p@e712(=s222#4f)"] {
            let once = redact_urls(text);
            assert_eq!(redact_urls(&once), once);
            assert!(!once.contains("pK") && !once.contains(")p"), "{once}");
        }
        // Brackets after the kept part close the sentence's: shown, never part of a secret.
        assert_eq!(redact_urls("(see http://a/?x=(1))."), "(see http://a/?…)).");
        assert_eq!(redact_urls("(see http://a/?…))."), "(see http://a/?…)).");
        assert_eq!(redact_urls("(see http://a/b_(c))."), "(see http://a/b_(c)).");
    }

    #[test]
    fn text_without_urls_is_untouched() {
        for text in [
            "",
            "plain words",
            "what? really#1 me@example.com user:pw",
            "127.0.0.1:5555/slipway/jre@sha256:abc (a reference, not a URL)",
            "a lonely :// marker, and ://x, -://y",
            "/health?token=abc is a path: only redact_url cuts it",
            "… already redacted https://…@host/p?…#…",
            "naïve ünïcödé — “quotes” ✅",
        ] {
            assert_eq!(redact_urls(text), text);
        }
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    /// A secret as a URL may carry it: RFC 3986's unreserved and sub-delimiter characters
    /// and percent escapes, marked so it cannot be mistaken for the rest of the URL.
    fn secret() -> impl Strategy<Value = String> {
        "[A-Za-z0-9._~!$&'()*+,;=%-]{4,16}".prop_map(|body| format!("Qz9{body}"))
    }

    proptest! {
        #[test]
        fn no_url_keeps_its_credentials(
            scheme in "(https?|tcp|s3|git\\+ssh)",
            user in "[a-z0-9._-]{0,8}",
            password in secret(),
            host in "([a-z][a-z0-9-]{0,8}\\.)?[a-z]{2,6}(:[0-9]{1,5})?",
            path in "(/[A-Za-z0-9._~%@-]{0,8}){0,3}",
            query_secret in secret(),
            fragment_secret in secret(),
            prefix in "[A-Za-z ,:(]{0,12}",
            suffix in "([ ,.:)]{1,3}[A-Za-z ]{0,8})?",
        ) {
            let url = format!("{scheme}://{user}:{password}@{host}{path}?token={query_secret}#{fragment_secret}");
            let line = format!("{prefix} {url}{suffix}");
            let redacted = redact_urls(&line);
            for secret in [&password, &query_secret, &fragment_secret] {
                prop_assert!(!redacted.contains(secret.as_str()), "{line} -> {redacted}");
            }
            prop_assert!(redacted.contains(&format!("{scheme}://…@{host}{path}?…#…")), "{line} -> {redacted}");
        }

        #[test]
        fn redacting_any_text_is_idempotent(text in any::<String>()) {
            let once = redact_urls(&text);
            prop_assert_eq!(redact_urls(&once), once.clone());
            let url = redact_url(&text);
            prop_assert_eq!(redact_url(&url), url);
        }

        /// Text built of URL parts (what the fuzzer found bracket bugs with): redacting it
        /// again changes nothing. (A `'` is left out: where it ends a URL depends on a
        /// later `@` that redaction removes.)
        #[test]
        fn redacting_url_like_text_is_idempotent(pieces in proptest::collection::vec(prop_oneof![
            Just("http://"), Just("u://"), Just("u:p@"), Just("@"), Just("("), Just(")"), Just("["), Just("]"),
            Just("#"), Just("?"), Just("/"), Just("a"), Just("1"), Just(" "), Just("."), Just(":"), Just("="),
        ], 0..24)) {
            let text = pieces.concat();
            let once = redact_urls(&text);
            prop_assert_eq!(redact_urls(&once), once);
        }

        #[test]
        fn text_without_a_scheme_marker_is_untouched(text in "[^:]*") {
            prop_assert_eq!(redact_urls(&text), text);
        }
    }
}
