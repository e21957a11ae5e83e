//! A small closed-loop HTTP load generator for the benchmark harness: `connections` keep-alive
//! clients each send GET requests back to back for `duration` (bounded), recording latencies.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// Throughput and latency of one load run.
#[derive(Debug, Clone, Copy)]
pub struct LoadResult {
    pub requests: u64,
    pub errors: u64,
    pub req_per_sec: f64,
    pub p50: Duration,
    pub p99: Duration,
}

/// Drive `GET http://addr{path}` with `connections` concurrent keep-alive clients for `duration`.
pub async fn drive(
    addr: SocketAddr,
    path: &str,
    connections: usize,
    duration: Duration,
) -> LoadResult {
    let client: Client<_, Empty<bytes::Bytes>> = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(connections)
        .build_http();
    let uri: http::Uri = format!("http://{addr}{path}").parse().expect("valid uri");
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let client = client.clone();
        let uri = uri.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(100_000);
            let mut errors = 0u64;
            // Bounded: stops at the deadline, and never sends more than 5M requests.
            while Instant::now() < deadline && lat.len() < 5_000_000 {
                let t = Instant::now();
                match client.get(uri.clone()).await {
                    Ok(res) => {
                        let ok = res.status().is_success();
                        let _ = res.into_body().collect().await;
                        if ok {
                            lat.push(t.elapsed());
                        } else {
                            errors += 1;
                        }
                    }
                    Err(_) => errors += 1,
                }
            }
            (lat, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (lat, e) = t.await.expect("load task");
        all.extend(lat);
        errors += e;
    }
    let elapsed = start.elapsed();
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    LoadResult {
        requests: all.len() as u64,
        errors,
        req_per_sec: all.len() as f64 / elapsed.as_secs_f64(),
        p50: pct(0.50),
        p99: pct(0.99),
    }
}
