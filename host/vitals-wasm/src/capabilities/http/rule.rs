//! The `allow_http` grant: rules of `scheme://host:port` with `*` wildcards, parsed when the
//! config is read and matched against every outgoing request.

use std::fmt;

use serde::Deserialize;

/// One `allow_http` rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRule {
    scheme: String,
    /// Lowercase host; a leading `*.` matches any subdomain, `*` any host.
    host: String,
    /// `None` = any port.
    port: Option<u16>,
}

fn default_port(scheme: &str) -> u16 {
    if scheme == "https" { 443 } else { 80 }
}

impl std::str::FromStr for HttpRule {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let bad =
            |why: &str| format!("{raw:?}: {why} (expected e.g. \"https://api.example.com:443\")");
        if !raw.contains("://") {
            return Err(bad("missing scheme"));
        }
        // `:*` (any port) is not URL syntax: parse without it.
        let trimmed = raw.trim_end_matches('/');
        let (text, any_port) = match trimmed.strip_suffix(":*") {
            Some(rest) => (rest, true),
            None => (trimmed, false),
        };
        let url = url::Url::parse(text).map_err(|e| bad(&e.to_string()))?;
        let scheme = url.scheme().to_owned();
        if scheme != "http" && scheme != "https" {
            return Err(bad("scheme must be http or https"));
        }
        if !url.username().is_empty()
            || url.password().is_some()
            || url.path() != "/"
            || url.query().is_some()
            || url.fragment().is_some()
        {
            return Err(bad("a rule names scheme, host and port only"));
        }
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        let without_wildcard = host.strip_prefix("*.").unwrap_or(&host);
        if host.is_empty() || (host != "*" && without_wildcard.contains('*')) {
            return Err(bad("invalid host"));
        }
        let port = if any_port {
            None
        } else {
            Some(url.port().unwrap_or_else(|| default_port(&scheme)))
        };
        Ok(HttpRule { scheme, host, port })
    }
}

/// Deserialize an `allow_http` list, refusing a rule that does not parse, so a bad rule is
/// reported with its key when the config is read rather than when the plugin loads.
pub(crate) fn checked_http_rules<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Vec<String>, D::Error> {
    let rules = Vec::<String>::deserialize(d)?;
    for raw in &rules {
        raw.parse::<HttpRule>().map_err(serde::de::Error::custom)?;
    }
    Ok(rules)
}

/// [`checked_http_rules`] for a list that may be absent (`None`) or set, even empty.
pub(crate) fn checked_optional_http_rules<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Vec<String>>, D::Error> {
    checked_http_rules(d).map(Some)
}

impl fmt::Display for HttpRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(p) => write!(f, "{}://{}:{p}", self.scheme, self.host),
            None => write!(f, "{}://{}:*", self.scheme, self.host),
        }
    }
}

impl HttpRule {
    /// Whether a request to `scheme://host:port` is allowed by this rule.
    pub fn allows(&self, scheme: &str, host: &str, port: u16) -> bool {
        if !self.scheme.eq_ignore_ascii_case(scheme) || self.port.is_some_and(|p| p != port) {
            return false;
        }
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        let rule_host = self.host.trim_start_matches('[').trim_end_matches(']');
        match rule_host.strip_prefix("*.") {
            _ if rule_host == "*" => true,
            Some(suffix) => host.len() > suffix.len() + 1 && host.ends_with(&format!(".{suffix}")),
            None => host == rule_host,
        }
    }
}

/// Whether any rule allows `scheme://host:port`; `port` defaults from the scheme.
pub(crate) fn any_allows(rules: &[HttpRule], scheme: &str, host: &str, port: Option<u16>) -> bool {
    let port = port.unwrap_or_else(|| default_port(&scheme.to_ascii_lowercase()));
    rules.iter().any(|r| r.allows(scheme, host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(s: &str) -> HttpRule {
        s.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn exact_rule_allows_only_its_origin() {
        let r = rule("https://api.example.com:443");
        assert!(r.allows("https", "api.example.com", 443));
        assert!(r.allows("https", "API.example.com", 443));
        assert!(!r.allows("http", "api.example.com", 443));
        assert!(!r.allows("https", "api.example.com", 8443));
        assert!(!r.allows("https", "evil.com", 443));
    }

    #[test]
    fn port_defaults_from_the_scheme_and_star_matches_any_port() {
        assert!(rule("https://api.example.com").allows("https", "api.example.com", 443));
        assert!(!rule("https://api.example.com").allows("https", "api.example.com", 444));
        let any = rule("http://127.0.0.1:*");
        assert!(any.allows("http", "127.0.0.1", 8080));
        assert!(!any.allows("http", "127.0.0.2", 8080));
    }

    #[test]
    fn subdomain_wildcard_does_not_match_the_bare_domain_or_lookalikes() {
        let r = rule("https://*.example.com");
        assert!(r.allows("https", "a.example.com", 443));
        assert!(r.allows("https", "a.b.example.com", 443));
        assert!(!r.allows("https", "example.com", 443));
        assert!(!r.allows("https", "badexample.com", 443));
    }

    #[test]
    fn malformed_rules_are_rejected() {
        for bad in [
            "api.example.com",
            "ftp://x",
            "https://x:99999",
            "https://x/path",
            "https://a*b.com",
        ] {
            assert!(bad.parse::<HttpRule>().is_err(), "{bad}");
        }
    }

    #[test]
    fn rules_name_their_origin_however_they_are_written() {
        assert_eq!(
            rule("HTTPS://API.Example.com/").to_string(),
            "https://api.example.com:443"
        );
        assert_eq!(rule("http://[::1]:8080").to_string(), "http://[::1]:8080");
        assert_eq!(
            rule("https://*.example.com:*").to_string(),
            "https://*.example.com:*"
        );
        assert!(rule("http://[::1]:8080").allows("http", "[::1]", 8080));
    }
}
