//! vitals inside an axum service: the app's own channel, worker and check, the probe router
//! merged into the app's router, and the admission layer guarding the work routes.
//!
//! Run: `cargo run -p vitals --example embedded`, then
//! `curl -s localhost:3000/health/ready?verbose`, `curl -s -XPOST localhost:3000/jobs` (repeat it
//! quickly: once the job channel is 80 % full, admission closes with 503 + Retry-After), and
//! `curl -s localhost:3000/health/backpressure`; `POST /imports` asks the checker itself. Ctrl-C drains for 2 seconds, then exits.
#![allow(missing_docs)]

use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use axum::extract::State;
use axum::routing::post;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use vitals::{
    BackpressureChecker, ChannelProbe, Check, CheckKind, CheckSettings, CheckSpec, Outcome, Vitals,
};

/// The app's own check: is the local disk writable?
struct ScratchDir;

#[async_trait]
impl Check for ScratchDir {
    fn kind(&self) -> CheckKind {
        CheckKind {
            component_type: "system",
            measurement: "writable",
        }
    }

    async fn run(&self) -> Outcome {
        let path = std::env::temp_dir().join("vitals-example-probe");
        match tokio::fs::write(&path, b"ok").await {
            Ok(()) => Outcome::pass(format!("{} is writable", path.display())),
            Err(e) => Outcome::fail(format!("cannot write {}: {e}", path.display())),
        }
    }
}

#[derive(Clone)]
struct AppState {
    jobs: mpsc::Sender<u64>,
    probe: ChannelProbe,
    admission: BackpressureChecker,
}

async fn enqueue(State(app): State<AppState>) -> (http::StatusCode, &'static str) {
    match app.probe.try_send(&app.jobs, 1) {
        Ok(()) => (http::StatusCode::ACCEPTED, "queued\n"),
        Err(_) => (http::StatusCode::SERVICE_UNAVAILABLE, "queue full\n"),
    }
}

/// A handler that decides for itself, without the layer: synchronous, lock-free, no I/O.
async fn import(State(app): State<AppState>) -> (http::StatusCode, String) {
    match app.admission.try_check() {
        Ok(()) => (http::StatusCode::ACCEPTED, "import started\n".to_owned()),
        Err(rejected) => (
            http::StatusCode::SERVICE_UNAVAILABLE,
            format!("busy, retry in {}s\n", rejected.retry_after_secs),
        ),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_env_filter("info").init();

    // A small job channel drained slowly by a worker that heartbeats.
    let (jobs_tx, mut jobs_rx) = mpsc::channel::<u64>(20);
    let mut builder = Vitals::builder().service_id("example-shop");
    let probe = builder.channel("jobs", &jobs_tx);
    let heartbeat = builder.heartbeat("job-worker", Duration::from_secs(10));
    builder.add_check(
        CheckSpec::new("scratch-dir", ScratchDir).with_settings(CheckSettings {
            interval: Duration::from_secs(5),
            critical: false,
            ..CheckSettings::default()
        }),
    );
    let (vitals, evaluator) = builder.build();
    let shutdown = CancellationToken::new();
    tokio::spawn(evaluator.run(shutdown.clone()));

    // The worker beats on every turn of its loop, busy or idle: waiting for a job is bounded
    // by 2 s, well inside its 10 s TTL, so an idle worker stays healthy and a stuck one does not.
    tokio::spawn(async move {
        loop {
            heartbeat.beat();
            match tokio::time::timeout(Duration::from_secs(2), jobs_rx.recv()).await {
                Ok(Some(_job)) => tokio::time::sleep(Duration::from_millis(500)).await,
                Ok(None) => break,
                Err(_idle) => {}
            }
        }
    });

    let state = AppState {
        jobs: jobs_tx,
        probe,
        admission: vitals.backpressure(),
    };
    let app = Router::new()
        .route("/jobs", post(enqueue))
        .layer(vitals.admission_layer())
        .route("/imports", post(import))
        .with_state(state)
        .merge(vitals.router());

    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("listening on http://{}", listener.local_addr()?);
    let drain = vitals.clone();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = tokio::signal::ctrl_c().await;
            drain.start_draining(); // readiness 503 at once
            tokio::time::sleep(Duration::from_secs(2)).await;
        })
        .await?;
    shutdown.cancel();
    Ok(())
}
