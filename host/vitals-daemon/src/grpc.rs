//! The gRPC health checking protocol v1 (`grpc.health.v1.Health`), for Kubernetes `grpc` probes,
//! Envoy and load balancers.
//!
//! Service `""` is readiness; every check name is that check. pass and warn are SERVING;
//! fail, unknown, starting, draining and a stale evaluator are NOT_SERVING. Draining and
//! staleness apply to every service, as gRPC servers do on shutdown: nothing reads as healthy
//! once the process is going away or its evaluator has stopped.
//!
//! `Watch` streams follow one `tokio::sync::watch` channel per watched service. A single follower
//! task recomputes the statuses after each snapshot publication (and when the evaluator turns
//! stale), and only the streams whose service changed wake: idle streams cost nothing.
//! Like the HTTP readiness probe, health status is public: no token applies.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::Stream;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_server::{Health, HealthServer};
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};

use vitals::{Freshness, HealthSnapshot, Lifecycle, Shared};

/// The service name that stands for the whole server: readiness.
pub(crate) const OVERALL: &str = "";

/// While the evaluator is stale, how often the follower looks for its recovery (a recovered
/// evaluator marks cycles without necessarily publishing).
const STALE_POLL: Duration = Duration::from_millis(250);

/// How long stopping waits for open `Watch` streams and connections to close.
const STOP_GRACE: Duration = Duration::from_secs(1);

/// Why the gRPC server could not start.
#[derive(Debug, thiserror::Error)]
pub enum GrpcError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr} (grpc.listen): {error}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error (in the message, not a `source()`, so a printed chain names it once).
        error: std::io::Error,
    },
    /// The server thread or its runtime could not be started.
    #[error("gRPC server: {0}")]
    Server(String),
}

/// The serving status of `service` in `snap`; `ServiceUnknown` for a name that is neither `""`
/// nor a check.
pub(crate) fn serving_status(
    shared: &Shared,
    snap: &HealthSnapshot,
    service: &str,
) -> ServingStatus {
    let healthy = if service == OVERALL {
        snap.overall.status.is_serving()
    } else {
        match snap.check(service) {
            Some(check) => check.status().is_serving(),
            None => return ServingStatus::ServiceUnknown,
        }
    };
    let trusted =
        shared.lifecycle() == Lifecycle::Serving && shared.freshness() == Freshness::Fresh;
    if healthy && trusted {
        ServingStatus::Serving
    } else {
        ServingStatus::NotServing
    }
}

/// The statuses of the services someone watches, one channel each.
#[derive(Debug)]
struct Statuses {
    shared: Arc<Shared>,
    services: Mutex<HashMap<String, watch::Sender<ServingStatus>>>,
}

impl Statuses {
    fn subscribe(&self, service: &str) -> watch::Receiver<ServingStatus> {
        let mut services = self.services.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(tx) = services.get(service) {
            return tx.subscribe();
        }
        let now = serving_status(&self.shared, &self.shared.load(), service);
        let (tx, rx) = watch::channel(now);
        services.insert(service.to_owned(), tx);
        rx
    }

    /// Bring every watched service up to date; wakes only the streams whose service changed.
    /// Channels nobody watches any more are dropped.
    fn refresh(&self) {
        let snap = self.shared.load();
        let mut services = self.services.lock().unwrap_or_else(PoisonError::into_inner);
        services.retain(|service, tx| {
            let now = serving_status(&self.shared, &snap, service);
            tx.send_if_modified(|s| std::mem::replace(s, now) != now);
            tx.receiver_count() > 0
        });
    }

    /// End every `Watch` stream (their channels close), so a graceful shutdown can finish.
    fn close(&self) {
        self.services
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

/// Recompute the statuses after every publication, and when the evaluator may have turned stale
/// or recovered. When healthy it wakes once per publication plus once per `stale_after`.
async fn follow(statuses: Arc<Statuses>, stop: CancellationToken) {
    let mut changes = statuses.shared.subscribe();
    loop {
        statuses.refresh();
        let shared = &statuses.shared;
        let wait = match shared.freshness() {
            Freshness::Fresh => shared
                .stale_after()
                .saturating_sub(shared.cycle_age())
                .max(Duration::from_millis(10)),
            Freshness::Stale | Freshness::Dead => STALE_POLL,
        };
        tokio::select! {
            _ = stop.cancelled() => return,
            changed = changes.changed() => if changed.is_err() { return },
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// `grpc.health.v1.Health` over the daemon's snapshot.
#[derive(Debug, Clone)]
pub(crate) struct HealthService {
    statuses: Arc<Statuses>,
}

impl HealthService {
    /// A service answering from `shared`. Spawn [`HealthService::follow`] for `Watch` to push.
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        HealthService {
            statuses: Arc::new(Statuses {
                shared,
                services: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The follower that pushes changes to `Watch` streams, until `stop`; then every stream
    /// ends.
    pub(crate) fn follow(
        &self,
        stop: CancellationToken,
    ) -> impl Future<Output = ()> + Send + 'static {
        let statuses = self.statuses.clone();
        async move {
            follow(statuses.clone(), stop).await;
            statuses.close();
        }
    }
}

fn response(status: ServingStatus) -> HealthCheckResponse {
    HealthCheckResponse {
        status: status as i32,
    }
}

type WatchStream = Pin<Box<dyn Stream<Item = Result<HealthCheckResponse, Status>> + Send>>;

#[tonic::async_trait]
impl Health for HealthService {
    async fn check(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        let service = &request.get_ref().service;
        let shared = &self.statuses.shared;
        match serving_status(shared, &shared.load(), service) {
            ServingStatus::ServiceUnknown => Err(Status::not_found(format!(
                "unknown service {service:?}: not a check name (\"\" is readiness)"
            ))),
            status => Ok(Response::new(response(status))),
        }
    }

    type WatchStream = WatchStream;

    async fn watch(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<WatchStream>, Status> {
        let rx = self.statuses.subscribe(&request.get_ref().service);
        // The current status at once, then one message per change; duplicates are skipped.
        let stream = futures_util::stream::unfold((rx, None), |(mut rx, sent)| async move {
            loop {
                let now = *rx.borrow_and_update();
                if sent != Some(now) {
                    return Some((Ok(response(now)), (rx, Some(now))));
                }
                rx.changed().await.ok()?;
            }
        });
        Ok(Response::new(Box::pin(stream)))
    }
}

/// Bind the gRPC listen address (before anything else starts, so a taken port fails the start).
pub(crate) fn bind(addr: SocketAddr) -> Result<std::net::TcpListener, GrpcError> {
    let bind = |error| GrpcError::Bind { addr, error };
    let listener = std::net::TcpListener::bind(addr).map_err(bind)?;
    listener.set_nonblocking(true).map_err(bind)?;
    Ok(listener)
}

/// A running gRPC health server.
#[derive(Debug)]
pub(crate) struct GrpcServer {
    addr: SocketAddr,
    thread: std::thread::JoinHandle<Result<(), String>>,
}

impl GrpcServer {
    /// Serve the health service on `listener` (see [`bind`]) on a thread of its own (a
    /// single-threaded runtime, like the HTTP probes, so busy checks cannot starve it) until
    /// `stop`.
    pub(crate) fn start(
        listener: std::net::TcpListener,
        shared: Arc<Shared>,
        stop: CancellationToken,
    ) -> Result<GrpcServer, GrpcError> {
        let addr = listener
            .local_addr()
            .map_err(|e| GrpcError::Server(e.to_string()))?;
        let service = HealthService::new(shared);
        let thread = std::thread::Builder::new()
            .name("vitals-grpc".to_owned())
            .spawn(move || -> Result<(), String> {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| e.to_string())?;
                rt.block_on(serve(listener, service, stop))
            })
            .map_err(|e| GrpcError::Server(e.to_string()))?;
        tracing::info!(%addr, "serving gRPC health");
        Ok(GrpcServer { addr, thread })
    }

    /// The address it listens on.
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Wait for the server thread to end (after its `stop` token was cancelled).
    pub(crate) fn join(self) -> Result<(), String> {
        self.thread
            .join()
            .map_err(|_| "the gRPC thread panicked".to_owned())?
    }
}

async fn serve(
    listener: std::net::TcpListener,
    service: HealthService,
    stop: CancellationToken,
) -> Result<(), String> {
    let listener = tokio::net::TcpListener::from_std(listener).map_err(|e| e.to_string())?;
    let follower = tokio::spawn(service.follow(stop.clone()));
    let server = tonic::transport::Server::builder()
        // Probers and load balancers keep connections open for long: find dead peers.
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .add_service(HealthServer::new(service))
        .serve_with_incoming_shutdown(
            tonic::transport::server::TcpIncoming::from(listener),
            stop.clone().cancelled_owned(),
        );
    tokio::pin!(server);
    let result = tokio::select! {
        r = &mut server => r.map_err(|e| e.to_string()),
        // Once stopped, the follower closes every Watch stream; a client that keeps its
        // connection open anyway does not hold the process.
        () = async { stop.cancelled().await; tokio::time::sleep(STOP_GRACE).await } => Ok(()),
    };
    let _ = follower.await;
    result
}
