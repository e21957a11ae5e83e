//! Outgoing HTTP through WASI (`wasi:http/outgoing-handler`), allowed only to the hosts the
//! operator granted.
//!
//! ```no_run
//! use std::time::Duration;
//! use vitals_guest::http;
//!
//! # fn f() -> Result<(), http::HttpError> {
//! let response = http::get("http://127.0.0.1:8080/health", Duration::from_secs(2))?;
//! println!("{} in {:?}: {}", response.status, response.elapsed, response.text());
//! # Ok(()) }
//! ```
//!
//! Errors never contain the URL, which may carry a token.

use std::borrow::Cow;
use std::time::{Duration, Instant};

use wasip2::clocks::monotonic_clock;
use wasip2::http::outgoing_handler;
use wasip2::http::types::{Fields, Method, OutgoingRequest, RequestOptions, Scheme};
use wasip2::io::poll;
use wasip2::io::streams::StreamError;

mod url;

pub use url::Target;

/// The most body bytes [`get`] keeps; the rest is discarded and [`Response::truncated`] is set.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A response to [`get`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The HTTP status code.
    pub status: u16,
    /// The body, at most [`MAX_BODY_BYTES`].
    pub body: Vec<u8>,
    /// Whether the body was longer than [`MAX_BODY_BYTES`] and cut.
    pub truncated: bool,
    /// Time from sending the request to the end of the body.
    pub elapsed: Duration,
}

impl Response {
    /// The body as text, with invalid UTF-8 replaced.
    pub fn text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }
}

/// Why a request did not produce a complete response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    /// The URL is not an absolute `http` or `https` URL this client supports.
    #[error("invalid URL: {0}")]
    InvalidUrl(&'static str),
    /// The request was refused or failed (not granted, DNS, connection refused, TLS, ...).
    #[error("request failed: {0}")]
    Request(String),
    /// No complete response arrived within the timeout.
    #[error("no complete response within {} ms", .0.as_millis())]
    Timeout(Duration),
    /// Reading the response body failed.
    #[error("reading the response body failed: {0}")]
    Body(String),
}

impl From<HttpError> for String {
    fn from(error: HttpError) -> Self {
        error.to_string()
    }
}

/// Sends `GET url` and reads the whole response (up to [`MAX_BODY_BYTES`]) within `timeout`.
pub fn get(url: &str, timeout: Duration) -> Result<Response, HttpError> {
    let target = Target::parse(url)?;
    let started = Instant::now();
    let deadline = monotonic_clock::subscribe_duration(nanos(timeout));
    let timed_out = || HttpError::Timeout(timeout);

    let request = OutgoingRequest::new(Fields::new());
    let invalid = |_| HttpError::InvalidUrl("rejected by the HTTP client");
    request.set_method(&Method::Get).map_err(invalid)?;
    request
        .set_scheme(Some(&if target.https {
            Scheme::Https
        } else {
            Scheme::Http
        }))
        .map_err(invalid)?;
    request
        .set_authority(Some(&target.authority))
        .map_err(invalid)?;
    request
        .set_path_with_query(Some(&target.path_with_query))
        .map_err(invalid)?;
    let options = RequestOptions::new();
    // Best effort: a host that does not support a transport timeout still has our deadline.
    let _ = options.set_connect_timeout(Some(nanos(timeout)));
    let _ = options.set_first_byte_timeout(Some(nanos(timeout)));
    let _ = options.set_between_bytes_timeout(Some(nanos(timeout)));

    let pending = outgoing_handler::handle(request, Some(options))
        .map_err(|error| HttpError::Request(format!("{error:?}")))?;
    let arrived = pending.subscribe();
    if !wait_for(&arrived, &deadline) {
        return Err(timed_out());
    }
    let response = match pending.get() {
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(error))) => return Err(HttpError::Request(format!("{error:?}"))),
        Some(Err(())) | None => return Err(HttpError::Request("no response".into())),
    };
    let status = response.status();

    let body = response
        .consume()
        .map_err(|()| HttpError::Body("body already consumed".into()))?;
    let stream = body
        .stream()
        .map_err(|()| HttpError::Body("body stream unavailable".into()))?;
    let mut bytes = Vec::new();
    let mut truncated = false;
    loop {
        let readable = stream.subscribe();
        if !wait_for(&readable, &deadline) {
            return Err(timed_out());
        }
        drop(readable);
        match stream.read(64 * 1024) {
            Ok(chunk) => {
                let room = MAX_BODY_BYTES - bytes.len();
                truncated |= chunk.len() > room;
                bytes.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(error)) => {
                return Err(HttpError::Body(error.to_debug_string()));
            }
        }
    }
    // Child resources must go before their parents, or the host traps.
    drop(stream);
    drop(body);
    drop(response);

    Ok(Response {
        status,
        body: bytes,
        truncated,
        elapsed: started.elapsed(),
    })
}

/// Blocks until `ready` or `deadline` fires; true when `ready` fired.
fn wait_for(ready: &poll::Pollable, deadline: &poll::Pollable) -> bool {
    if ready.ready() {
        return true;
    }
    poll::poll(&[ready, deadline]).contains(&0) || ready.ready()
}

/// Nanoseconds for WASI, saturating for absurd durations.
fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}
