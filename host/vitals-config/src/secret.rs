//! Secrets in config: `${ENV}` interpolation and redaction.
//!
//! A [`Secret`] is deserialized from a string in which `${NAME}` and `${NAME:-default}` are
//! replaced from the environment (`$$` is a literal `$`). Its `Debug` and `Display` print `***`,
//! so a secret cannot leak through a log line or an error message by accident.
//!
//! [`redact_url`] masks the password of a DSN for display, and [`Scrubber`] removes a DSN's
//! password from error text that a driver may have built from the raw URL.

use std::fmt;

use serde::{Deserialize, Deserializer};

/// Why a string could not be interpolated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InterpolateError {
    /// `${NAME}` names a variable that is not set and has no default.
    #[error("environment variable {0} is not set (use ${{{0}:-default}} for a default)")]
    Unset(String),
    /// A `${` without its closing `}`.
    #[error("unterminated ${{...}} in value")]
    Unterminated,
}

/// Replace `${NAME}` and `${NAME:-default}` with values from the environment.
pub fn interpolate(raw: &str) -> Result<String, InterpolateError> {
    interpolate_with(raw, |name| std::env::var(name).ok())
}

/// [`interpolate`] with a custom lookup (for tests).
pub fn interpolate_with(
    raw: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<String, InterpolateError> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(tail) = after.strip_prefix('{') {
            let end = tail.find('}').ok_or(InterpolateError::Unterminated)?;
            let expr = &tail[..end];
            let (name, default) = match expr.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (expr, None),
            };
            match (lookup(name), default) {
                (Some(v), _) => out.push_str(&v),
                (None, Some(d)) => out.push_str(d),
                (None, None) => return Err(InterpolateError::Unset(name.to_owned())),
            }
            rest = &tail[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// A secret string from config. Prints as `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wrap a value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret value. Never log or return it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        interpolate(&raw)
            .map(Secret)
            .map_err(serde::de::Error::custom)
    }
}

/// Query parameters whose values are masked by [`redact_url`].
fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["pass", "pwd", "secret", "token", "key"]
        .iter()
        .any(|needle| key.contains(needle))
}

/// Mask `key=value` pairs whose key looks secret, separated by any of `separators`.
fn redact_pairs(text: &str, separators: &[char]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    loop {
        let end = rest.find(separators).unwrap_or(rest.len());
        let pair = &rest[..end];
        match pair.split_once('=') {
            Some((k, _)) if is_secret_key(k) => {
                out.push_str(k);
                out.push_str("=***");
            }
            _ => out.push_str(pair),
        }
        if end == rest.len() {
            return out;
        }
        out.push_str(&rest[end..end + 1]);
        rest = &rest[end + 1..];
    }
}

/// The DSN with its password (and secret-looking query parameters) replaced by `***`, for
/// display: `postgres://user:pw@host/db?password=x` → `postgres://user:***@host/db?password=***`.
///
/// Strings that are not URLs (`host=db password=x`, a file path) get their secret-looking
/// `key=value` pairs masked; a stray `user:pw@host` is masked too.
pub fn redact_url(dsn: &str) -> String {
    let Some(scheme_end) = dsn.find("://") else {
        let masked = redact_pairs(dsn, &[' ', ';', '&', '?']);
        return match masked.rfind('@') {
            Some(at) if masked[..at].contains(':') => {
                let colon = masked[..at].find(':').unwrap_or(at);
                format!("{}:***{}", &masked[..colon], &masked[at..])
            }
            _ => masked,
        };
    };
    let after = scheme_end + 3;
    let authority_end = dsn[after..]
        .find(['/', '?', '#'])
        .map_or(dsn.len(), |i| after + i);
    let authority = &dsn[after..authority_end];
    let mut out = String::with_capacity(dsn.len());
    out.push_str(&dsn[..after]);
    match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            match userinfo.split_once(':') {
                Some((user, _)) => {
                    out.push_str(user);
                    out.push_str(":***");
                }
                None => out.push_str(userinfo),
            }
            out.push_str(&authority[at..]);
        }
        None => out.push_str(authority),
    }
    let tail = &dsn[authority_end..];
    match tail.split_once('?') {
        Some((path, query)) => {
            out.push_str(path);
            out.push('?');
            out.push_str(&redact_pairs(query, &['&', ';']));
        }
        None => out.push_str(tail),
    }
    out
}

/// Removes the secret parts of one DSN from arbitrary text (driver error messages may echo the
/// URL or the password).
#[derive(Clone, Default)]
pub struct Scrubber {
    needles: Vec<String>,
}

impl Scrubber {
    /// A scrubber for the password and secret query values in `dsn`, both as written and
    /// percent-decoded.
    pub fn for_dsn(dsn: &str) -> Self {
        let mut needles = Vec::new();
        if let Ok(url) = url::Url::parse(dsn) {
            if let Some(pw) = url.password() {
                needles.push(pw.to_owned());
            }
            for (k, v) in url.query_pairs() {
                if is_secret_key(&k) {
                    needles.push(v.into_owned());
                }
            }
        } else if let Some(at) = dsn.rfind('@') {
            let userinfo = dsn[..at].rsplit("://").next().unwrap_or_default();
            if let Some((_, pw)) = userinfo.split_once(':') {
                needles.push(pw.to_owned());
            }
        }
        for pair in dsn.split([' ', ';', '&', '?']) {
            if let Some((k, v)) = pair.split_once('=')
                && is_secret_key(k)
            {
                needles.push(v.to_owned());
            }
        }
        let decoded: Vec<String> = needles
            .iter()
            .filter_map(|n| {
                let d: String = form_urlencoded::parse(format!("x={n}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())?;
                (d != *n).then_some(d)
            })
            .collect();
        needles.extend(decoded);
        needles.retain(|n| !n.is_empty());
        // Longest first, so a password that contains another one is masked whole.
        needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
        needles.dedup();
        Scrubber { needles }
    }

    /// `text` with every secret replaced by `***`.
    pub fn scrub(&self, text: &str) -> String {
        self.needles.iter().fold(text.to_owned(), |acc, needle| {
            acc.replace(needle.as_str(), "***")
        })
    }
}

impl fmt::Debug for Scrubber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Scrubber({} secrets)", self.needles.len())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "PW").then(|| "hunter2".to_owned())
    }

    #[test]
    fn variables_defaults_and_escapes_are_expanded() {
        assert_eq!(interpolate_with("a${PW}b", env).as_deref(), Ok("ahunter2b"));
        assert_eq!(interpolate_with("${NOPE:-x}", env).as_deref(), Ok("x"));
        assert_eq!(interpolate_with("$$5 $x", env).as_deref(), Ok("$5 $x"));
    }

    #[test]
    fn unset_variable_is_named_in_the_error() {
        let e = interpolate_with("${NOPE}", env).expect_err("NOPE is unset");
        assert!(e.to_string().contains("NOPE"));
        assert_eq!(
            interpolate_with("${PW", env),
            Err(InterpolateError::Unterminated)
        );
    }

    #[test]
    fn secret_never_prints_its_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s} {s:?}"), "*** ***");
    }

    #[test]
    fn urls_keep_user_host_and_path_but_not_passwords() {
        assert_eq!(
            redact_url("postgres://user:pw@host:5432/db?password=x&sslmode=require"),
            "postgres://user:***@host:5432/db?password=***&sslmode=require"
        );
        assert_eq!(
            redact_url("mysql://root:s3cr%40t@127.0.0.1/test"),
            "mysql://root:***@127.0.0.1/test"
        );
        assert_eq!(
            redact_url("redis://:pw@host:6379/0"),
            "redis://:***@host:6379/0"
        );
        assert_eq!(
            redact_url("postgres://postgres@localhost/test"),
            "postgres://postgres@localhost/test"
        );
        assert_eq!(
            redact_url("sqlite://data/vitals.db"),
            "sqlite://data/vitals.db"
        );
        assert_eq!(redact_url("data/vitals.db"), "data/vitals.db");
    }

    #[test]
    fn non_url_dsns_are_redacted_conservatively() {
        assert_eq!(
            redact_url("host=db user=app password=hunter2 dbname=x"),
            "host=db user=app password=*** dbname=x"
        );
        assert_eq!(redact_url("app:hunter2@db:5432"), "app:***@db:5432");
    }

    #[test]
    fn scrubber_removes_raw_and_decoded_passwords() {
        let s = Scrubber::for_dsn("postgres://u:p%40ss@h/db?sslpassword=zzz9");
        let text = "error connecting to postgres://u:p%40ss@h/db (pw p@ss, key zzz9)";
        let clean = s.scrub(text);
        assert!(
            !clean.contains("p%40ss") && !clean.contains("p@ss") && !clean.contains("zzz9"),
            "{clean}"
        );
        assert!(clean.contains("postgres://u:***@h/db"), "{clean}");
    }
}
