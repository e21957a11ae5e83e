//! Bearer-token authorization for detailed output and admin endpoints.

use http::HeaderMap;
use http::header::AUTHORIZATION;
use subtle::ConstantTimeEq;

/// A bearer token. Its value never appears in `Debug` output.
#[derive(Clone)]
pub struct Token(String);

impl Token {
    /// A token with this value.
    pub fn new(value: impl Into<String>) -> Self {
        Token(value.into())
    }

    /// Whether `presented` equals this token, in time independent of where they differ.
    pub fn matches(&self, presented: &str) -> bool {
        let a = self.0.as_bytes();
        let b = presented.as_bytes();
        // Lengths are compared in constant time too; `ct_eq` on slices of different length is
        // false without leaking which byte differs.
        a.ct_eq(b).into()
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(***)")
    }
}

/// The bearer token in the request, if any.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
}

/// Whether the request may see details: no token configured, or the right one presented.
pub(crate) fn may_see_details(token: Option<&Token>, headers: &HeaderMap) -> bool {
    match token {
        None => true,
        Some(t) => bearer(headers).is_some_and(|p| t.matches(p)),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn token_matches_only_the_exact_value() {
        let t = Token::new("s3cret");
        assert!(t.matches("s3cret"));
        assert!(!t.matches("s3cre"));
        assert!(!t.matches("s3cret!"));
        assert!(!t.matches(""));
        assert_eq!(format!("{t:?}"), "Token(***)");
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, "bearer abc".parse().expect("header"));
        assert_eq!(bearer(&h), Some("abc"));
        h.insert(AUTHORIZATION, "Basic abc".parse().expect("header"));
        assert_eq!(bearer(&h), None);
    }
}
