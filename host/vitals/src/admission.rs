//! Admission for an application's own routes: a synchronous checker and a tower layer.
//!
//! [`BackpressureChecker::try_check`] is lock-free and does no I/O: it loads the latest snapshot
//! pointer, reads one atomic for staleness and returns. [`AdmissionLayer`] wraps any service and
//! answers `503 Service Unavailable` + `Retry-After` while admission is closed.

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::future::Either;
use http::{HeaderValue, Request, StatusCode, header};
use tower_layer::Layer;
use tower_service::Service;

use crate::backpressure::{Admission, BackpressureConfig, ShedSource, retry_after_secs};
use crate::snapshot::{Freshness, Shared};

/// Why work was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("service is shedding load ({}): {reason}; retry after {retry_after_secs}s", kind.as_str())]
pub struct Rejected {
    /// What closed admission.
    pub kind: ShedSource,
    /// A sentence for humans.
    pub reason: String,
    /// Retry-After in seconds, jitter included.
    pub retry_after_secs: u64,
}

impl IntoResponse for Rejected {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "status": "fail",
            "admission": "shedding",
            "source": self.kind.as_str(),
            "output": self.reason,
            "retryAfterSeconds": self.retry_after_secs,
        });
        let mut res = (
            StatusCode::SERVICE_UNAVAILABLE,
            Bytes::from(body.to_string()),
        )
            .into_response();
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(crate::http::HEALTH_JSON),
        );
        res.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(self.retry_after_secs),
        );
        res
    }
}

/// Answers "may I take this work?" from the latest snapshot. Cheap to clone.
#[derive(Clone, Debug)]
pub struct BackpressureChecker {
    shared: Arc<Shared>,
    cfg: Arc<BackpressureConfig>,
}

impl BackpressureChecker {
    /// A checker reading `shared`.
    pub fn new(shared: Arc<Shared>, cfg: BackpressureConfig) -> Self {
        BackpressureChecker {
            shared,
            cfg: Arc::new(cfg),
        }
    }

    /// `Ok(())` if work is admitted; otherwise why not and when to retry. Fails closed when the
    /// evaluator has stopped publishing.
    pub fn try_check(&self) -> Result<(), Rejected> {
        if self.shared.freshness() != Freshness::Fresh {
            return Err(self.reject(
                ShedSource::Stale,
                "health state is stale: the evaluator has stopped publishing".to_owned(),
                self.cfg.retry_after.stale,
            ));
        }
        match &self.shared.load().admission {
            Admission::Open => Ok(()),
            Admission::Shedding(s) => Err(self.reject(s.source, s.reason.clone(), s.retry_after)),
        }
    }

    fn reject(&self, source: ShedSource, reason: String, base: Duration) -> Rejected {
        Rejected {
            kind: source,
            reason,
            retry_after_secs: retry_after_secs(base, self.cfg.retry_jitter, fastrand::f64()),
        }
    }
}

/// A tower layer refusing requests with 503 + Retry-After while admission is closed.
#[derive(Clone, Debug)]
pub struct AdmissionLayer {
    checker: BackpressureChecker,
}

impl AdmissionLayer {
    /// A layer consulting `checker` for every request.
    pub fn new(checker: BackpressureChecker) -> Self {
        AdmissionLayer { checker }
    }
}

impl<S> Layer<S> for AdmissionLayer {
    type Service = AdmissionService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AdmissionService {
            inner,
            checker: self.checker.clone(),
        }
    }
}

/// The service produced by [`AdmissionLayer`].
#[derive(Clone, Debug)]
pub struct AdmissionService<S> {
    inner: S,
    checker: BackpressureChecker,
}

impl<S, B> Service<Request<B>> for AdmissionService<S>
where
    S: Service<Request<B>, Response = Response> + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Either<S::Future, std::future::Ready<Result<Response, S::Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        match self.checker.try_check() {
            Ok(()) => Either::Left(self.inner.call(req)),
            Err(rejected) => Either::Right(std::future::ready(Ok(rejected.into_response()))),
        }
    }
}
