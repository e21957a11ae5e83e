//! The `wasi:http` capability: outgoing HTTP only to origins in `allow_http` (the grant, parsed
//! in `rule`), and never past the run deadline (the `send_request` hook below).

pub(crate) mod rule;

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::Linker;
use wasmtime_wasi_http::{
    Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks, WasiHttpView,
};

use crate::PluginError;
use crate::capabilities::context::PluginContext;
use crate::capabilities::grants::PluginGrants;
use rule::{HttpRule, any_allows};

type IoFuture = Box<dyn Future<Output = Result<(), HttpError>> + Send>;
type SendFuture =
    Box<dyn Future<Output = Result<(http::Response<WasiBody>, IoFuture), HttpError>> + Send>;

/// Denials kept per run for the check's result; more are only counted in the log.
const DENIALS_KEPT: usize = 3;

/// Link `wasi:http` (its types and outgoing handler; the hook below decides each request).
/// Generic over the store's data, which holds an [`HttpGuard`] as its hooks.
pub(crate) fn add_to_linker<T: WasiHttpView + 'static>(
    linker: &mut Linker<T>,
) -> wasmtime::Result<()> {
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)
}

impl PluginGrants {
    /// Parse the `allow_http` rules; `plugin` names the plugin in errors.
    pub fn http_rules(&self, plugin: &str) -> Result<Vec<HttpRule>, PluginError> {
        self.allow_http
            .iter()
            .map(|raw| {
                raw.parse().map_err(|message| PluginError::InvalidGrant {
                    plugin: plugin.to_owned(),
                    field: "allow_http",
                    message,
                })
            })
            .collect()
    }
}

/// The `send_request` hook of one run.
pub(crate) struct HttpGuard {
    plugin: Arc<PluginContext>,
    deadline: Instant,
    denied: Vec<String>,
}

impl HttpGuard {
    pub(crate) fn new(plugin: Arc<PluginContext>, deadline: Instant) -> Self {
        HttpGuard {
            plugin,
            deadline,
            denied: Vec::new(),
        }
    }

    /// The requests refused since the last call, first few: the guest's language may only
    /// see a generic error (JavaScript's fetch says "NetworkError"), the operator sees why.
    pub(crate) fn take_denied(&mut self) -> Vec<String> {
        std::mem::take(&mut self.denied)
    }

    /// The deadline of the next run on a warm instance.
    pub(crate) fn set_deadline(&mut self, deadline: Instant) {
        self.deadline = deadline;
    }

    /// `Err(message)` when the request's origin is not granted.
    fn check(&self, uri: &http::Uri) -> Result<(), String> {
        let scheme = uri.scheme_str().unwrap_or("https");
        let host = uri.host().unwrap_or("");
        if any_allows(&self.plugin.http_rules, scheme, host, uri.port_u16()) {
            return Ok(());
        }
        let port = uri
            .port_u16()
            .unwrap_or(if scheme.eq_ignore_ascii_case("https") {
                443
            } else {
                80
            });
        Err(format!(
            "{scheme}://{host}:{port} is not granted to plugin {} (allow_http)",
            self.plugin.name
        ))
    }
}

fn bounded(limit: Option<Duration>, remaining: Duration) -> Option<Duration> {
    Some(limit.map_or(remaining, |l| l.min(remaining)))
}

impl WasiHttpHooks for HttpGuard {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: IoFuture,
    ) -> SendFuture {
        drop(fut);
        if let Err(message) = self.check(request.uri()) {
            // Through the plugin's own rate-limited log: a plugin retrying in a loop must not be
            // able to flood the host's log with denials.
            self.plugin.log(
                crate::runtime::bindings::vitals::check::host::Level::Warn,
                &format!("host denied outgoing HTTP: {message}"),
            );
            if self.denied.len() < DENIALS_KEPT && !self.denied.contains(&message) {
                self.denied.push(message.clone());
            }
            return Box::new(async move { Err(HttpError::InternalError(Some(message))) });
        }
        let remaining = self.deadline.saturating_duration_since(Instant::now());
        let options = options.unwrap_or_default();
        let options = RequestOptions {
            connect_timeout: bounded(options.connect_timeout, remaining),
            first_byte_timeout: bounded(options.first_byte_timeout, remaining),
            between_bytes_timeout: bounded(options.between_bytes_timeout, remaining),
        };
        Box::new(async move {
            use http_body_util::BodyExt;
            let sent = tokio::time::timeout(
                remaining,
                wasmtime_wasi_http::default_send_request(request, Some(options)),
            )
            .await;
            let (response, io) = sent.map_err(|_| HttpError::ConnectionTimeout)??;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as IoFuture,
            ))
        })
    }
}
