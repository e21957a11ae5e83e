//! # http-endpoint
//!
//! Sends `GET url` and checks the status code, optionally the body and the latency. Needs an
//! outgoing-HTTP grant for the URL's host. Observed value: the latency in milliseconds.
//!
//! | key | required | meaning |
//! |---|---|---|
//! | `url` | yes | absolute `http://` or `https://` URL |
//! | `expect_status` | no | accepted codes: `200`, `200-299`, or a list like `200,204,300-399` (default `200-299`) |
//! | `body_contains` | no | the body must contain this text, else `fail` |
//! | `max_latency_ms` | no | `warn` when the response took longer |
//! | `timeout_ms` | no | give up after this long and `fail` (default 5000) |
//!
//! An unreachable endpoint, a timeout, an unexpected status or a missing body text is `fail`;
//! a malformed config value is `unknown` with a message naming the key.

use std::time::Duration;

use vitals_guest::config::Key;
use vitals_guest::{CheckResult, Description, Plugin, config, http};

mod status_codes;

use status_codes::StatusCodes;

struct HttpEndpoint;

impl Plugin for HttpEndpoint {
    fn describe() -> Description {
        Description::new(
            "http-endpoint",
            env!("CARGO_PKG_VERSION"),
            "GETs a URL and checks its status code, body and latency",
        )
        .interval(Duration::from_secs(15))
        .timeout(Duration::from_secs(10))
        .config(Key::required("url", "URL to GET; granted with allow_http"))
        .config(Key::optional(
            "expect_status",
            "Accepted status codes, e.g. \"200,204\" or \"2xx\" (default: 2xx)",
        ))
        .config(Key::optional("body_contains", "Text the body must contain"))
        .config(Key::optional("max_latency_ms", "Warn above this latency"))
        .config(Key::optional("timeout_ms", "Request timeout").default(5000))
    }

    fn check() -> Result<CheckResult, String> {
        let url = config::require("url")?;
        let expected = match config::get("expect_status") {
            Some(spec) => StatusCodes::parse(&spec)
                .map_err(|reason| format!("config value `expect_status` is invalid: {reason}"))?,
            None => StatusCodes::success(),
        };
        let body_contains = config::get("body_contains");
        let max_latency_ms: Option<f64> = config::get_parsed("max_latency_ms")?;
        let timeout = Duration::from_millis(config::parsed_or("timeout_ms", 5_000)?);

        let response = match http::get(&url, timeout) {
            Ok(response) => response,
            Err(error) => return Ok(CheckResult::fail(error.to_string())),
        };
        let latency_ms = response.elapsed.as_secs_f64() * 1_000.0;
        let summary = format!("HTTP {} in {latency_ms:.0} ms", response.status);
        let result = if !expected.contains(response.status) {
            CheckResult::fail(format!("{summary}, expected {expected}"))
        } else if body_contains
            .as_deref()
            .is_some_and(|needle| !response.text().contains(needle))
        {
            CheckResult::fail(format!("{summary}, body lacks the expected text"))
        } else if max_latency_ms.is_some_and(|max| latency_ms > max) {
            CheckResult::warn(format!(
                "{summary}, slower than {} ms",
                max_latency_ms.unwrap_or_default()
            ))
        } else {
            CheckResult::pass(summary)
        };
        Ok(result
            .observed(latency_ms, "ms")
            .detail("status_code", response.status)
            .detail("body_bytes", response.body.len()))
    }
}

vitals_guest::export!(HttpEndpoint);
