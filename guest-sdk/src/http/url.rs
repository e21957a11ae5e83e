//! Just enough URL parsing for `wasi:http`: scheme, authority and path-with-query.

use super::HttpError;

/// Where a request goes, split the way `wasi:http` wants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `https` rather than `http`.
    pub https: bool,
    /// `host` or `host:port`.
    pub authority: String,
    /// The path and query, at least `/`; the fragment is dropped.
    pub path_with_query: String,
}

impl Target {
    /// Splits an absolute `http://` or `https://` URL.
    pub fn parse(url: &str) -> Result<Self, HttpError> {
        let url = url.trim();
        let (https, rest) = if let Some(rest) = strip_prefix_ignore_case(url, "https://") {
            (true, rest)
        } else if let Some(rest) = strip_prefix_ignore_case(url, "http://") {
            (false, rest)
        } else {
            return Err(HttpError::InvalidUrl("expected http:// or https://"));
        };
        let rest = rest.split('#').next().unwrap_or_default();
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(split);
        if authority.is_empty() {
            return Err(HttpError::InvalidUrl("missing host"));
        }
        if authority.contains('@') {
            return Err(HttpError::InvalidUrl(
                "credentials in URLs are not supported",
            ));
        }
        if authority.contains(char::is_whitespace) || path.contains(char::is_whitespace) {
            return Err(HttpError::InvalidUrl("whitespace must be percent-encoded"));
        }
        let path_with_query = match path {
            "" => "/".to_string(),
            path if path.starts_with('?') => format!("/{path}"),
            path => path.to_string(),
        };
        Ok(Self {
            https,
            authority: authority.to_string(),
            path_with_query,
        })
    }
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> Result<(bool, String, String), HttpError> {
        Target::parse(url).map(|t| (t.https, t.authority, t.path_with_query))
    }

    #[test]
    fn splits_scheme_authority_path_and_query() {
        assert_eq!(
            parse("https://example.com:8443/a/b?x=1#frag"),
            Ok((true, "example.com:8443".into(), "/a/b?x=1".into()))
        );
    }

    #[test]
    fn empty_path_becomes_slash_and_bare_query_gets_one() {
        assert_eq!(
            parse("HTTP://127.0.0.1:9"),
            Ok((false, "127.0.0.1:9".into(), "/".into()))
        );
        assert_eq!(
            parse("http://h?q=1"),
            Ok((false, "h".into(), "/?q=1".into()))
        );
    }

    #[test]
    fn rejects_other_schemes_missing_hosts_and_credentials() {
        assert!(parse("ftp://h/").is_err());
        assert!(parse("http:///path").is_err());
        let error = parse("http://user:s3cret@h/").expect_err("credentials");
        assert!(!error.to_string().contains("s3cret"));
    }
}
