//! The library entry point: build a [`Vitals`] for a tokio/axum service.
//!
//! ```no_run
//! # async fn demo() {
//! use std::time::Duration;
//! use vitals::{CheckSpec, Outcome, Vitals};
//!
//! let (jobs_tx, _jobs_rx) = tokio::sync::mpsc::channel::<u64>(1024);
//! let mut builder = Vitals::builder().service_id("orders");
//! let jobs = builder.channel("jobs", &jobs_tx);          // saturation feeds backpressure
//! let mailer = builder.heartbeat("mailer", Duration::from_secs(30));
//! let (vitals, evaluator) = builder.build();
//!
//! let shutdown = tokio_util::sync::CancellationToken::new();
//! tokio::spawn(evaluator.run(shutdown.clone()));
//!
//! let app = axum::Router::new()
//!     .route("/orders", axum::routing::post(|| async { "created" }))
//!     .layer(vitals.admission_layer())                   // 503 + Retry-After while shedding
//!     .merge(vitals.router());                           // /health/*, /metrics
//! # let _ = (app, jobs, mailer);
//! # }
//! ```

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::sync::mpsc;
use utoipa_axum::router::OpenApiRouter;

use crate::admission::{AdmissionLayer, BackpressureChecker};
use crate::backpressure::BackpressureConfig;
use crate::channel::{ChannelCheck, ChannelProbe};
use crate::check::{CheckSettings, CheckSpec};
use crate::evaluator::{Evaluator, EvaluatorConfig, Registry, initial_snapshot};
use crate::heartbeat::{HeartbeatHandle, Heartbeats};
use crate::http::{HttpState, Token, router_with};
use crate::metrics::MetricsSource;
use crate::snapshot::{
    DocumentSource, HealthSnapshot, NotesSource, PendingSource, RenderContext, Shared,
};

/// Settings of a channel check unless given: sampled every second, not gating readiness
/// (a full channel is load to shed, not a broken service).
pub fn channel_settings() -> CheckSettings {
    CheckSettings {
        interval: Duration::from_secs(1),
        timeout: Duration::from_secs(1),
        critical: false,
        ..CheckSettings::default()
    }
}

/// Settings of a heartbeat check unless given: sampled every 5 seconds, gating readiness.
pub fn heartbeat_settings() -> CheckSettings {
    CheckSettings {
        interval: Duration::from_secs(5),
        timeout: Duration::from_secs(1),
        ..CheckSettings::default()
    }
}

/// Collects checks, channels, workers and settings; [`VitalsBuilder::build`] makes the pieces.
pub struct VitalsBuilder {
    evaluator: EvaluatorConfig,
    backpressure: BackpressureConfig,
    token: Option<Token>,
    ctx: RenderContext,
    checks: Vec<CheckSpec>,
    heartbeats: Heartbeats,
    hold: bool,
    routes: OpenApiRouter<HttpState>,
}

impl Default for VitalsBuilder {
    fn default() -> Self {
        VitalsBuilder {
            evaluator: EvaluatorConfig::default(),
            backpressure: BackpressureConfig::default(),
            token: None,
            ctx: RenderContext {
                service_id: "vitals".to_owned(),
                release_id: env!("CARGO_PKG_VERSION").to_owned(),
                metrics_sources: Vec::new(),
                notes_sources: Vec::new(),
                pending_sources: Vec::new(),
                document: None,
            },
            checks: Vec::new(),
            heartbeats: Heartbeats::new(),
            hold: false,
            routes: OpenApiRouter::new(),
        }
    }
}

impl std::fmt::Debug for VitalsBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VitalsBuilder")
            .field("checks", &self.checks.len())
            .finish_non_exhaustive()
    }
}

impl VitalsBuilder {
    /// The `serviceId` shown in health+json.
    pub fn service_id(mut self, id: impl Into<String>) -> Self {
        self.ctx.service_id = id.into();
        self
    }

    /// The `releaseId` shown in health+json (defaults to this crate's version).
    pub fn release_id(mut self, id: impl Into<String>) -> Self {
        self.ctx.release_id = id.into();
        self
    }

    /// Evaluator settings.
    pub fn evaluator_config(mut self, cfg: EvaluatorConfig) -> Self {
        self.evaluator = cfg;
        self
    }

    /// Backpressure settings.
    pub fn backpressure_config(mut self, cfg: BackpressureConfig) -> Self {
        self.backpressure = cfg;
        self
    }

    /// Require this bearer token for detailed output and admin endpoints.
    pub fn token(mut self, token: Token) -> Self {
        self.token = Some(token);
        self
    }

    /// Keep the service "starting" (readiness 503) until [`Registry::startup_complete`], for
    /// an application that registers checks after [`VitalsBuilder::build`] (the daemon loads its
    /// config and plugin directory that way): readiness never passes on half of them.
    pub fn hold_until_started(mut self) -> Self {
        self.hold = true;
        self
    }

    /// Register a check.
    pub fn check(mut self, spec: CheckSpec) -> Self {
        self.checks.push(spec);
        self
    }

    /// Register a check (by reference, for use between other `&mut` registrations).
    pub fn add_check(&mut self, spec: CheckSpec) -> &mut Self {
        self.checks.push(spec);
        self
    }

    /// Add a metrics source rendered into `/metrics`.
    pub fn metrics_source(mut self, source: Arc<dyn MetricsSource>) -> Self {
        self.ctx.metrics_sources.push(source);
        self
    }

    /// Render this source's document with every snapshot, when first asked for
    /// ([`HealthSnapshot::document`]); a route added with [`routes`](Self::routes) serves it
    /// (the daemon's `GET /plugins` serves its plugin registry this way).
    pub fn document(mut self, source: Arc<dyn DocumentSource>) -> Self {
        self.ctx.document = Some(source);
        self
    }

    /// Serve `routes` with the probe router (see [`Vitals::router`]); `/openapi.json` lists
    /// them too. A daemon adds its admin routes this way.
    pub fn routes(mut self, routes: OpenApiRouter<HttpState>) -> Self {
        self.routes = self.routes.merge(routes);
        self
    }

    /// Add a source of `notes` for `/health/status`.
    pub fn notes_source(mut self, source: Arc<dyn NotesSource>) -> Self {
        self.ctx.notes_sources.push(source);
        self
    }

    /// Add a source that says why a check not in the snapshot has no result
    /// (`GET /health/checks/NAME` for a plugin being loaded or a rejected file).
    pub fn pending_source(mut self, source: Arc<dyn PendingSource>) -> Self {
        self.ctx.pending_sources.push(source);
        self
    }

    /// Watch a tokio mpsc channel's saturation under `name` (with [`channel_settings`]). Keep the
    /// returned probe to count overflow events.
    pub fn channel<T: Send + 'static>(
        &mut self,
        name: &str,
        sender: &mpsc::Sender<T>,
    ) -> ChannelProbe {
        let (check, probe) = ChannelCheck::new(name, sender);
        self.checks
            .push(CheckSpec::new(name, check).with_settings(channel_settings()));
        probe
    }

    /// Register a worker that must beat at least every `ttl` (with [`heartbeat_settings`]).
    pub fn heartbeat(&mut self, name: &str, ttl: Duration) -> HeartbeatHandle {
        let (handle, check) = self.heartbeats.register(name, ttl);
        self.checks
            .push(CheckSpec::new(name, check).with_settings(heartbeat_settings()));
        handle
    }

    /// The heartbeat registry (e.g. to register workers with custom check settings).
    pub fn heartbeats(&self) -> &Heartbeats {
        &self.heartbeats
    }

    /// Build the handle and the evaluator. Spawn `evaluator.run(shutdown)` to start checking.
    pub fn build(self) -> (Vitals, Evaluator) {
        let ctx = Arc::new(self.ctx);
        let initial = initial_snapshot(&ctx, &self.backpressure);
        let shared = Arc::new(Shared::new(
            initial,
            self.evaluator.stale_after,
            self.evaluator.dead_after,
        ));
        let (mut evaluator, registry) = Evaluator::new(
            shared.clone(),
            self.evaluator,
            self.backpressure.clone(),
            ctx,
        );
        if self.hold {
            evaluator.hold_until_started();
        }
        for spec in self.checks {
            registry.upsert(spec);
        }
        let http = HttpState::new(
            shared.clone(),
            self.token,
            self.heartbeats.clone(),
            self.backpressure.clone(),
        );
        let checker = BackpressureChecker::new(shared.clone(), self.backpressure);
        let vitals = Vitals {
            shared,
            registry,
            heartbeats: self.heartbeats,
            http,
            routes: self.routes,
            checker,
        };
        (vitals, evaluator)
    }
}

/// A running health engine's handle: probes, admission, and check registration.
#[derive(Clone)]
pub struct Vitals {
    shared: Arc<Shared>,
    registry: Registry,
    heartbeats: Heartbeats,
    http: HttpState,
    routes: OpenApiRouter<HttpState>,
    checker: BackpressureChecker,
}

impl std::fmt::Debug for Vitals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vitals")
            .field("registry", &self.registry)
            .field("heartbeats", &self.heartbeats)
            .field("http", &self.http)
            .finish_non_exhaustive()
    }
}

impl Vitals {
    /// Start building.
    pub fn builder() -> VitalsBuilder {
        VitalsBuilder::default()
    }

    /// The synchronous, lock-free admission check for handlers.
    pub fn backpressure(&self) -> BackpressureChecker {
        self.checker.clone()
    }

    /// A tower layer answering 503 + Retry-After while admission is closed.
    pub fn admission_layer(&self) -> AdmissionLayer {
        AdmissionLayer::new(self.checker.clone())
    }

    /// The probe router (`/health/*`, `/metrics`), to merge into an application's router.
    pub fn router(&self) -> Router {
        router_with(self.http.clone(), self.routes.clone())
    }

    /// Add, replace and remove checks at run time.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Worker heartbeats.
    pub fn heartbeats(&self) -> &Heartbeats {
        &self.heartbeats
    }

    /// The latest snapshot.
    pub fn snapshot(&self) -> Arc<HealthSnapshot> {
        self.shared.load_full()
    }

    /// The shared state (the daemon's gRPC server reads it).
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Turn readiness 503 "draining" at once (call on SIGTERM before stopping the server).
    pub fn start_draining(&self) {
        self.shared.start_draining();
    }
}
