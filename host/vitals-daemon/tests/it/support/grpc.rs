//! A `vitals serve` child process with the gRPC health service on, and a tonic health client.

use std::net::SocketAddr;
use std::time::Duration;

use tonic::transport::Channel;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};
use vitals_test_support::http::{free_port, request, wait_for};
use vitals_test_support::wait;

use super::process::{Daemon, serve_config};

/// The bearer token of [`start`]'s daemons.
pub const TOKEN: &str = "grpc-test-token";

/// A daemon with the gRPC listener on, its addresses, and the directory holding its files.
pub struct GrpcDaemon {
    pub daemon: Daemon,
    pub http: SocketAddr,
    pub grpc: SocketAddr,
    /// Holds the daemon's config and data until the daemon is dropped.
    _dir: tempfile::TempDir,
}

impl GrpcDaemon {
    /// `POST /health/heartbeat/{worker}`. The daemon serves HTTP (liveness answers) a moment
    /// before it registers the configured checks, a moment that is longer on a busy machine:
    /// until the worker is registered, the answer is 404 and the beat is sent again.
    pub fn beat(&self, worker: &str) {
        let path = format!("/health/heartbeat/{worker}");
        let what = format!("worker {worker} is registered and takes a beat");
        wait::until(&what, wait::QUICK, || {
            match request(self.http, "POST", &path, Some(TOKEN)).map(|r| r.0) {
                Some(204) => Ok(()),
                Some(404) => Err("404".to_owned()),
                code => panic!("heartbeat {worker}: {code:?}, not 204"),
            }
        });
    }

    /// The daemon's process id.
    pub fn pid(&self) -> u32 {
        self.daemon.0.id()
    }
}

/// Start `vitals serve` with `[grpc] listen` on a free port, a token, no startup grace and a
/// 200 ms evaluator heartbeat, plus `extra` (check tables). Returns once liveness answers.
pub fn start(extra: &str) -> GrpcDaemon {
    let dir = tempfile::tempdir().unwrap();
    let grpc = free_port();
    let config = dir.path().join("vitals.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[service]
id = "grpc-test"
data_dir = "{data}"

[http]
token = "${{GRPC_TEST_TOKEN}}"
drain = "3s"

[grpc]
listen = "{grpc}"

[evaluator]
startup_grace = "0s"
heartbeat = "200ms"
{extra}
"#,
            data = dir.path().join("data").display(),
        ),
    )
    .unwrap();
    let http = free_port();
    let daemon = serve_config(&config, http, ("GRPC_TEST_TOKEN", TOKEN));
    wait_for(http, "/health/live", 200, wait::START);
    GrpcDaemon {
        daemon,
        http,
        grpc,
        _dir: dir,
    }
}

/// A health client connected to `addr` (retrying while the listener comes up).
pub async fn client(addr: SocketAddr) -> HealthClient<Channel> {
    let what = format!("the gRPC listener on {addr} accepts a connection");
    wait::until_async(&what, wait::START, async || {
        Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .map(HealthClient::new)
            .map_err(|e| e.to_string())
    })
    .await
}

/// `Check(service)`: the status, or the gRPC error code.
pub async fn check(
    client: &mut HealthClient<Channel>,
    service: &str,
) -> Result<ServingStatus, tonic::Code> {
    client
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await
        .map(|r| status_of(&r.into_inner()))
        .map_err(|s| s.code())
}

/// Poll `Check(service)` until it answers `want`; panics after `bound` (one of the [`wait`]
/// bounds: the work the answer waits behind).
pub async fn wait_check(
    client: &mut HealthClient<Channel>,
    service: &str,
    want: ServingStatus,
    bound: Duration,
) {
    let what = format!("Check({service:?}) answers {want:?}");
    wait::until_async(&what, bound, async || match check(client, service).await {
        Ok(got) if got == want => Ok(()),
        got => Err(format!("{got:?}")),
    })
    .await;
}

/// The status in a response.
pub fn status_of(r: &HealthCheckResponse) -> ServingStatus {
    ServingStatus::try_from(r.status).unwrap()
}

/// A `Watch(service)` stream.
pub async fn watch(
    client: &mut HealthClient<Channel>,
    service: &str,
) -> tonic::Streaming<HealthCheckResponse> {
    client
        .watch(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await
        .unwrap()
        .into_inner()
}

/// The next message of a `Watch` stream, within `within` (a [`wait`] bound, or the time the
/// product promises to take).
pub async fn next(
    stream: &mut tonic::Streaming<HealthCheckResponse>,
    within: Duration,
) -> ServingStatus {
    let msg = tokio::time::timeout(within, stream.message())
        .await
        .unwrap_or_else(|_| panic!("no Watch message within {within:?}"))
        .unwrap()
        .expect("the Watch stream ended");
    status_of(&msg)
}
