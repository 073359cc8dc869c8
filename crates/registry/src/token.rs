//! How requests to a registry are authorized, as its `/v2/` challenge says: nothing,
//! Basic credentials on every request, or distribution's token flow, where a
//! `WWW-Authenticate: Bearer realm=…,service=…` challenge is answered by asking the realm
//! for a token for the scopes the requests need (the credentials go to the realm as Basic).
//!
//! A token is renewed before it expires (its `expires_in`), when the registry refuses it
//! (an expired or revoked token mid-push), and when a push needs a scope it lacks (a
//! cross-repository mount needs `pull` on the source repository). Every token is masked
//! the moment it arrives.

use std::time::{Duration, Instant};

use oci_client::secrets::RegistryAuth;
use reqwest::StatusCode;
use slipway_contract::Console;

use crate::retry::{Failure, parse_retry_after};

/// One challenge of a `WWW-Authenticate` header: its scheme and its parameters
/// (names lowercased, values unquoted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub scheme: String,
    pub params: Vec<(String, String)>,
}

impl Challenge {
    /// The value of parameter `name` (case-insensitive).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
    }

    pub fn is(&self, scheme: &str) -> bool {
        self.scheme.eq_ignore_ascii_case(scheme)
    }
}

fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

/// Parses a `WWW-Authenticate` value (RFC 9110 §11.6.1): challenges separated by commas,
/// each a scheme, then either a token68 or `name=value` parameters (a token or a quoted
/// string with `\` escapes) separated by commas. Never fails: malformed parts are
/// skipped, and whatever parsed is returned.
pub fn parse_challenges(header: &str) -> Vec<Challenge> {
    let chars: Vec<char> = header.chars().collect();
    let mut at = 0;
    let mut challenges: Vec<Challenge> = Vec::new();
    let skip_space = |at: &mut usize| {
        while *at < chars.len() && (chars[*at] == ' ' || chars[*at] == '\t') {
            *at += 1;
        }
    };
    let token = |at: &mut usize| {
        let start = *at;
        while *at < chars.len() && is_tchar(chars[*at]) {
            *at += 1;
        }
        chars[start..*at].iter().collect::<String>()
    };
    while at < chars.len() {
        skip_space(&mut at);
        if at < chars.len() && chars[at] == ',' {
            at += 1;
            continue;
        }
        let scheme = token(&mut at);
        if scheme.is_empty() {
            at += 1; // not a scheme: skip the character
            continue;
        }
        let mut challenge = Challenge { scheme, params: Vec::new() };
        // A token68 (`Negotiate abc==`) or parameters, until a token not followed by `=`
        // after a comma: the next challenge's scheme.
        let mut first = true;
        loop {
            let before = at;
            skip_space(&mut at);
            while at < chars.len() && chars[at] == ',' {
                at += 1;
                skip_space(&mut at);
            }
            let saw_comma = chars[before..at].contains(&',');
            if at >= chars.len() {
                break;
            }
            // A token68 (`Negotiate abc/d+e==`) right after the scheme, up to a comma or
            // the end: it may hold `/`, which is no token character.
            if first && !saw_comma {
                let is_token68 = |c: char| c.is_ascii_alphanumeric() || "-._~+/".contains(c);
                let end = (at..chars.len()).find(|&i| !is_token68(chars[i])).unwrap_or(chars.len());
                let padded = (end..chars.len()).find(|&i| chars[i] != '=').unwrap_or(chars.len());
                let after = (padded..chars.len()).find(|&i| chars[i] != ' ' && chars[i] != '\t');
                if end > at && after.is_none_or(|i| chars[i] == ',') {
                    at = padded;
                    break;
                }
            }
            let start = at;
            let name = token(&mut at);
            if name.is_empty() {
                at += 1; // junk
                first = false;
                continue;
            }
            let token68_allowed = first && !saw_comma;
            first = false;
            skip_space(&mut at);
            if at >= chars.len() || chars[at] != '=' {
                if !token68_allowed {
                    at = start; // the next challenge's scheme
                }
                break;
            }
            // `=` padding right after the name, up to a comma or the end: a token68.
            let mut padding = at;
            while padding < chars.len() && chars[padding] == '=' {
                padding += 1;
            }
            let padded_end = chars[padding..].iter().find(|c| **c != ' ' && **c != '\t').is_none_or(|c| *c == ',');
            if token68_allowed && (padding > at + 1 || padded_end) {
                at = padding;
                break;
            }
            at += 1; // '='
            skip_space(&mut at);
            let value = if at < chars.len() && chars[at] == '"' {
                at += 1;
                let mut value = String::new();
                while at < chars.len() && chars[at] != '"' {
                    if chars[at] == '\\' && at + 1 < chars.len() {
                        at += 1;
                    }
                    value.push(chars[at]);
                    at += 1;
                }
                at = (at + 1).min(chars.len()); // the closing quote
                value
            } else {
                let start = at;
                while at < chars.len() && chars[at] != ',' && chars[at] != ' ' && chars[at] != '\t' {
                    at += 1;
                }
                chars[start..at].iter().collect()
            };
            challenge.params.push((name.to_ascii_lowercase(), value));
        }
        challenges.push(challenge);
    }
    challenges
}

/// A registry token and when to ask for the next one.
struct Token {
    header: String,
    renew_at: Instant,
}

/// The token flow's state: the scopes asked for, the current token, and how many times
/// in a row the registry refused a fresh one.
struct TokenState {
    scopes: Vec<String>,
    token: Option<Token>,
    generation: u64,
    refusals: u32,
}

/// A realm to ask for tokens.
struct Realm {
    url: String,
    service: Option<String>,
    /// Basic credentials for the realm (`None`: anonymous).
    login: Option<(String, String)>,
    source: String,
    state: tokio::sync::Mutex<TokenState>,
}

enum Scheme {
    None,
    /// A header sent as is (Basic credentials, or a registry token given directly).
    Fixed(String),
    Token(Box<Realm>),
}

/// How requests to one registry are authorized (see the module's documentation).
pub struct Authorizer {
    http: reqwest::Client,
    scheme: Scheme,
    console: Console,
}

impl std::fmt::Debug for Authorizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.scheme {
            Scheme::None => "none",
            Scheme::Fixed(_) => "fixed",
            Scheme::Token(_) => "token",
        };
        f.debug_struct("Authorizer").field("scheme", &kind).finish_non_exhaustive()
    }
}

/// How many times in a row a fresh token may be refused before the refusal is final.
const MAX_REFUSALS: u32 = 2;

impl Authorizer {
    /// From the registry's `/v2/` challenge (`challenge`, the `WWW-Authenticate` values) and
    /// the credentials; `scopes` are the token flow's first scopes.
    pub(crate) fn new(
        http: reqwest::Client,
        challenges: &[Challenge],
        auth: &RegistryAuth,
        source: &str,
        scopes: Vec<String>,
        console: &Console,
    ) -> Self {
        let bearer = challenges.iter().find(|c| c.is("bearer") && c.param("realm").is_some_and(|r| !r.is_empty()));
        let scheme = match (bearer, auth) {
            (_, RegistryAuth::Bearer(token)) => Scheme::Fixed(format!("Bearer {token}")),
            (Some(challenge), _) => Scheme::Token(Box::new(Realm {
                url: challenge.param("realm").unwrap_or_default().to_owned(),
                service: challenge.param("service").map(str::to_owned),
                login: match auth {
                    RegistryAuth::Basic(user, password) => Some((user.clone(), password.clone())),
                    _ => None,
                },
                source: source.to_owned(),
                state: tokio::sync::Mutex::new(TokenState { scopes, token: None, generation: 0, refusals: 0 }),
            })),
            (None, RegistryAuth::Basic(user, password)) => {
                use base64::Engine;
                let pair = format!("{user}:{password}");
                Scheme::Fixed(format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair)))
            }
            (None, RegistryAuth::Anonymous) => Scheme::None,
        };
        Self { http, scheme, console: console.clone() }
    }

    /// Whether requests carry an `Authorization` header at all.
    pub fn authorizes(&self) -> bool {
        !matches!(self.scheme, Scheme::None)
    }

    /// Whether the registry uses the token flow.
    pub fn uses_tokens(&self) -> bool {
        matches!(self.scheme, Scheme::Token(_))
    }

    /// The `Authorization` value for the next request, and the token's generation (to tell
    /// [`Authorizer::refused`] which token was refused). Fetches a token when there is none
    /// or the current one is about to expire.
    pub async fn header(&self) -> Result<(u64, Option<String>), Failure> {
        match &self.scheme {
            Scheme::None => Ok((0, None)),
            Scheme::Fixed(header) => Ok((0, Some(header.clone()))),
            Scheme::Token(realm) => {
                let mut state = realm.state.lock().await;
                if let Some(token) = state.token.as_ref().filter(|token| Instant::now() < token.renew_at) {
                    return Ok((state.generation, Some(token.header.clone())));
                }
                let token = self.fetch(realm, &state.scopes).await?;
                let header = token.header.clone();
                state.token = Some(token);
                state.generation += 1;
                Ok((state.generation, Some(header)))
            }
        }
    }

    /// Adds `scope` (`repository:acme/base:pull`) to what tokens are asked for; the next
    /// request gets a new token when it is new.
    pub async fn add_scope(&self, scope: &str) {
        if let Scheme::Token(realm) = &self.scheme {
            let mut state = realm.state.lock().await;
            if !state.scopes.iter().any(|known| known == scope) {
                state.scopes.push(scope.to_owned());
                state.token = None;
            }
        }
    }

    /// The registry answered 401 to a request sent with token `generation`: drops that
    /// token so the next request gets a new one, and says whether trying again can help.
    /// Not without the token flow, and not after [`MAX_REFUSALS`] fresh tokens in a row were
    /// refused (requests refused with a token already dropped count once between them).
    pub async fn refused(&self, generation: u64) -> bool {
        let Scheme::Token(realm) = &self.scheme else { return false };
        let mut state = realm.state.lock().await;
        if generation != state.generation || state.token.is_none() {
            return true; // another request already had this token dropped
        }
        if state.refusals >= MAX_REFUSALS {
            return false;
        }
        state.refusals += 1;
        state.token = None;
        true
    }

    /// The registry accepted a request: refusals are counted afresh.
    pub async fn accepted(&self) {
        if let Scheme::Token(realm) = &self.scheme {
            let mut state = realm.state.lock().await;
            state.refusals = 0;
        }
    }

    /// Asks the realm for a token for `scopes`.
    async fn fetch(&self, realm: &Realm, scopes: &[String]) -> Result<Token, Failure> {
        let mut query: Vec<(&str, &str)> = Vec::new();
        if let Some(service) = &realm.service {
            query.push(("service", service));
        }
        if let Some((user, _)) = &realm.login {
            query.push(("account", user));
        }
        query.extend(scopes.iter().map(|scope| ("scope", scope.as_str())));
        let mut request = self.http.get(&realm.url).query(&query);
        if let Some((user, password)) = &realm.login {
            request = request.basic_auth(user, Some(password));
        }
        let context = format!("token from {}", realm.url);
        let asked = Instant::now();
        let response = request.send().await.map_err(|error| {
            Failure::transient(format!("{context}: {}", crate::client::error_chain(&error)), None, None)
        })?;
        let status = response.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(Failure::permanent(
                format!(
                    "the token service {} refused the credentials from {} (HTTP {})",
                    realm.url,
                    realm.source,
                    status.as_u16()
                ),
                Some(status.as_u16()),
            ));
        }
        if !status.is_success() {
            let retry_after = parse_retry_after(response.headers().get("retry-after").and_then(|v| v.to_str().ok()));
            return Err(Failure::from_status(
                status.as_u16(),
                retry_after,
                format!("{context}: HTTP {}", status.as_u16()),
            ));
        }
        let body = response.bytes().await.map_err(|error| {
            Failure::transient(format!("{context}: {}", crate::client::error_chain(&error)), None, None)
        })?;
        let answer: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|_| Failure::transient(format!("{context}: the answer is not JSON"), None, None))?;
        let token = ["token", "access_token"]
            .iter()
            .find_map(|key| answer.get(key).and_then(|v| v.as_str()).filter(|t| !t.is_empty()))
            .ok_or_else(|| Failure::permanent(format!("{context}: the answer holds no token"), None))?;
        self.console.add_mask(token);
        // The spec's default lifetime is 60 seconds; a shorter one is renewed early enough
        // for clocks that differ a little (a quarter of it, at most 30 seconds, before).
        let lifetime = Duration::from_secs(answer.get("expires_in").and_then(serde_json::Value::as_u64).unwrap_or(60));
        let margin = (lifetime / 4).min(Duration::from_secs(30));
        Ok(Token { header: format!("Bearer {token}"), renew_at: asked + lifetime - margin })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(challenge: &Challenge) -> Vec<(&str, &str)> {
        challenge.params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
    }

    #[test]
    fn parses_a_distribution_challenge() {
        let challenges = parse_challenges(
            r#"Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull,push""#,
        );
        assert_eq!(challenges.len(), 1);
        assert!(challenges[0].is("bearer"));
        assert_eq!(
            params(&challenges[0]),
            [
                ("realm", "https://auth.example.com/token"),
                ("service", "registry.example.com"),
                ("scope", "repository:a/b:pull,push")
            ]
        );
    }

    #[test]
    fn parses_several_challenges_tokens_escapes_and_token68() {
        let challenges = parse_challenges(
            r#"Basic realm="a \"quoted\" realm", Bearer realm=https://x/t , error=insufficient_scope"#,
        );
        assert_eq!(challenges.len(), 2, "{challenges:?}");
        assert_eq!(params(&challenges[0]), [("realm", r#"a "quoted" realm"#)]);
        assert_eq!(params(&challenges[1]), [("realm", "https://x/t"), ("error", "insufficient_scope")]);

        let token68 = parse_challenges("Negotiate abc123==, Basic realm=\"r\"");
        assert_eq!(token68.len(), 2, "{token68:?}");
        assert!(token68[0].params.is_empty());
        assert_eq!(params(&token68[1]), [("realm", "r")]);
        assert_eq!(parse_challenges("Basic").len(), 1);
        assert!(parse_challenges("").is_empty());
        assert_eq!(parse_challenges("  ,, Bearer realm=\"unterminated")[0].param("realm"), Some("unterminated"));
    }

    #[test]
    fn a_token68_with_a_slash_is_one_challenge() {
        // Found by `properties::written_challenges_read_back`: `Bearer /a` gave a second
        // challenge `a`, since `/` is no token character.
        let challenges = parse_challenges("Negotiate ab/c+d==, Basic realm=\"r\"");
        assert_eq!(challenges.len(), 2, "{challenges:?}");
        assert!(challenges[0].is("negotiate") && challenges[0].params.is_empty());
        assert_eq!(params(&challenges[1]), [("realm", "r")]);
    }

    #[test]
    fn basic_credentials_go_with_every_request_without_a_token_challenge() {
        let log = slipway_contract::console::CapturedLog::default();
        let console = log.console("x", slipway_contract::CiMode::Plain);
        crate::client::install_crypto_provider();
        let http = reqwest::Client::new();
        let challenges = parse_challenges("Basic realm=\"r\"");
        let basic = RegistryAuth::Basic("me".into(), "pw".into());
        let authorizer = Authorizer::new(http.clone(), &challenges, &basic, "x", Vec::new(), &console);
        let header = tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(authorizer.header());
        assert_eq!(header.unwrap(), (0, Some("Basic bWU6cHc=".to_owned())));
        assert!(!authorizer.uses_tokens());
        let anonymous = Authorizer::new(http, &[], &RegistryAuth::Anonymous, "x", Vec::new(), &console);
        assert!(!anonymous.uses_tokens());
    }
}

/// `WWW-Authenticate` as RFC 9110 writes it, read back.
#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    #[derive(Debug, Clone)]
    enum Value {
        Token(String),
        Quoted(String),
    }

    fn scheme() -> impl Strategy<Value = String> {
        prop_oneof![Just("Bearer".to_owned()), Just("Basic".to_owned()), "[A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]{0,8}"]
    }

    fn value() -> impl Strategy<Value = Value> {
        prop_oneof![
            "[A-Za-z0-9!#$%&'*+.^_`|~/:-]{1,12}".prop_map(Value::Token),
            any::<String>().prop_map(Value::Quoted),
            "[a-z:/,\"\\\\= ]{0,12}".prop_map(Value::Quoted),
        ]
    }

    /// One challenge with parameters, or a token68 one (`Negotiate abc==`), which keeps none.
    fn challenge() -> impl Strategy<Value = (String, Vec<(String, Value)>, Option<String>)> {
        prop_oneof![
            3 => (scheme(), proptest::collection::vec(("[A-Za-z][A-Za-z0-9_-]{0,8}", value()), 0..4))
                .prop_map(|(scheme, params)| (scheme, params, None)),
            1 => (scheme(), "[A-Za-z0-9._~+/-]{1,12}={0,2}").prop_map(|(scheme, token68)| (scheme, Vec::new(), Some(token68))),
        ]
    }

    fn space() -> impl Strategy<Value = &'static str> {
        prop_oneof![Just(""), Just(" "), Just("\t "), Just("  ")]
    }

    proptest! {
        #[test]
        fn written_challenges_read_back(
            challenges in proptest::collection::vec(challenge(), 1..4),
            spaces in proptest::collection::vec(space(), 24),
        ) {
            let mut gap = spaces.iter().cycle();
            let rendered: Vec<String> = challenges
                .iter()
                .map(|(scheme, params, token68)| {
                    let params: Vec<String> = params
                        .iter()
                        .map(|(name, value)| {
                            let value = match value {
                                Value::Token(token) => token.clone(),
                                Value::Quoted(text) => format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\"")),
                            };
                            format!("{name}{}={}{value}", gap.next().unwrap_or(&""), gap.next().unwrap_or(&""))
                        })
                        .collect();
                    let separator = format!("{},{}", gap.next().unwrap_or(&""), gap.next().unwrap_or(&""));
                    match token68 {
                        Some(token68) => format!("{scheme} {token68}"),
                        None if params.is_empty() => scheme.clone(),
                        None => format!("{scheme} {}", params.join(&separator)),
                    }
                })
                .collect();
            let header = rendered.join(&format!("{}, ", gap.next().unwrap_or(&"")));
            let parsed = parse_challenges(&header);
            let expected: Vec<Challenge> = challenges
                .iter()
                .map(|(scheme, params, _)| Challenge {
                    scheme: scheme.clone(),
                    params: params
                        .iter()
                        .map(|(name, value)| {
                            let value = match value {
                                Value::Token(text) | Value::Quoted(text) => text.clone(),
                            };
                            (name.to_ascii_lowercase(), value)
                        })
                        .collect(),
                })
                .collect();
            prop_assert_eq!(parsed, expected, "{}", header);
        }

        #[test]
        fn any_header_parses_without_panic(header in any::<String>()) {
            for challenge in parse_challenges(&header) {
                prop_assert!(!challenge.scheme.is_empty());
                prop_assert!(challenge.scheme.chars().all(is_tchar));
            }
        }
    }
}
