//! The gRPC health checking protocol v1 against a real `vitals serve` process, with tonic's
//! client: Check, Watch across a heartbeat's TTL, unknown services, drain on SIGTERM.

use std::process::Command;
use std::time::{Duration, Instant};

use tonic_health::pb::health_check_response::ServingStatus::{NotServing, ServiceUnknown, Serving};
use vitals_test_support::wait;

use crate::support::grpc;

/// The worker's heartbeat TTL.
const TTL: Duration = Duration::from_secs(1);

/// A critical worker whose heartbeat lapses after one second, checked every 100 ms.
const WORKER: &str = r#"
[checks.worker]
type = "heartbeat"
ttl = "1s"
interval = "100ms"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_and_watch_follow_a_heartbeat_through_its_ttl() {
    let d = grpc::start(WORKER);
    d.beat("worker");
    let mut client = grpc::client(d.grpc).await;
    grpc::wait_check(&mut client, "worker", Serving, wait::QUICK).await;
    grpc::wait_check(&mut client, "", Serving, wait::QUICK).await;

    // Each stream opens with the current status, then pushes only changes.
    let mut overall = grpc::watch(&mut client, "").await;
    let mut worker = grpc::watch(&mut client, "worker").await;
    assert_eq!(grpc::next(&mut overall, wait::QUICK).await, Serving);
    assert_eq!(grpc::next(&mut worker, wait::QUICK).await, Serving);

    // Silence past the TTL: both streams turn NOT_SERVING on their own.
    d.beat("worker");
    let silent = Instant::now();
    assert_eq!(grpc::next(&mut worker, TTL + wait::QUICK).await, NotServing);
    assert_eq!(grpc::next(&mut overall, wait::QUICK).await, NotServing);
    let took = silent.elapsed();
    assert!(
        took >= TTL - Duration::from_millis(200),
        "turned before the TTL: {took:?}"
    );
    assert_eq!(grpc::check(&mut client, "worker").await, Ok(NotServing));
    assert_eq!(grpc::check(&mut client, "").await, Ok(NotServing));

    // A beat brings both back, each announced once.
    d.beat("worker");
    assert_eq!(grpc::next(&mut worker, wait::QUICK).await, Serving);
    assert_eq!(grpc::next(&mut overall, wait::QUICK).await, Serving);
    let quiet = tokio::time::timeout(Duration::from_millis(500), worker.message()).await;
    assert!(quiet.is_err(), "a message without a change: {quiet:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_service_is_not_found_for_check_and_service_unknown_in_watch() {
    let d = grpc::start(WORKER);
    d.beat("worker");
    let mut client = grpc::client(d.grpc).await;
    assert_eq!(
        grpc::check(&mut client, "no-such-check").await,
        Err(tonic::Code::NotFound)
    );
    let mut unknown = grpc::watch(&mut client, "no-such-check").await;
    assert_eq!(
        grpc::next(&mut unknown, wait::QUICK).await,
        ServiceUnknown,
        "Watch keeps the stream open and says SERVICE_UNKNOWN"
    );
    // Known services still answer on the same connection.
    grpc::wait_check(&mut client, "worker", Serving, wait::QUICK).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_turns_every_service_not_serving_at_once_and_ends_watch_streams() {
    let mut d = grpc::start(WORKER);
    d.beat("worker");
    let mut client = grpc::client(d.grpc).await;
    grpc::wait_check(&mut client, "", Serving, wait::QUICK).await;
    let mut overall = grpc::watch(&mut client, "").await;
    let mut worker = grpc::watch(&mut client, "worker").await;
    assert_eq!(grpc::next(&mut overall, wait::QUICK).await, Serving);
    assert_eq!(grpc::next(&mut worker, wait::QUICK).await, Serving);

    let sent = Instant::now();
    let kill = Command::new("kill")
        .args(["-TERM", &d.pid().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    // Draining: NOT_SERVING pushed at once (the worker is still beating: only the drain does it).
    assert_eq!(
        grpc::next(&mut overall, Duration::from_millis(500)).await,
        NotServing
    );
    assert_eq!(
        grpc::next(&mut worker, Duration::from_millis(500)).await,
        NotServing
    );
    assert!(
        sent.elapsed() < Duration::from_millis(500),
        "{:?}",
        sent.elapsed()
    );
    assert_eq!(grpc::check(&mut client, "").await, Ok(NotServing));
    assert_eq!(grpc::check(&mut client, "worker").await, Ok(NotServing));

    // The drain window (3 s) still answers; then the streams end and the process exits 0.
    let drain = Duration::from_secs(3);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(grpc::check(&mut client, "").await, Ok(NotServing));
    let ended = tokio::time::timeout(drain + wait::QUICK, overall.message())
        .await
        .expect("the Watch stream outlived the drain");
    assert!(matches!(ended, Ok(None) | Err(_)), "{ended:?}");
    let exit = wait::until_async("the daemon exits", wait::QUICK, async || {
        d.daemon.0.try_wait().unwrap()
    })
    .await;
    assert!(exit.success(), "{exit:?}");
    assert!(
        sent.elapsed() >= drain - Duration::from_millis(100),
        "exited before the drain window"
    );
}
