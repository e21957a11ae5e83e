//! Benchmark: `GET /health/ready` with 20 registered checks against a bare static-200 axum
//! handler, driven by the same load generator in the same run.
//!
//! Run: `cargo bench -p vitals --bench probe` (env `VITALS_BENCH_SECS`, default 3 s per
//! round, `VITALS_BENCH_CONNECTIONS`, default 32). Prints req/s, p50/p99 and the ratio.
#![allow(missing_docs, clippy::unwrap_used)]

mod load;

use std::time::Duration;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;
use vitals::{Check, CheckSettings, CheckSpec, Outcome, Vitals};
use vitals_test_support::http::serve_on_thread;

struct Noop(usize);

#[async_trait]
impl Check for Noop {
    async fn run(&self) -> Outcome {
        Outcome::pass("ok").observed(self.0 as f64, "ms")
    }
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let secs = env_or("VITALS_BENCH_SECS", 3);
    let conns = env_or("VITALS_BENCH_CONNECTIONS", 32) as usize;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let mut b = Vitals::builder();
        for i in 0..20 {
            let settings = CheckSettings { interval: Duration::from_secs(1), ..CheckSettings::default() };
            b = b.check(CheckSpec::new(format!("check-{i:02}"), Noop(i)).with_settings(settings));
        }
        let (vitals, evaluator) = b.build();
        tokio::spawn(evaluator.run(CancellationToken::new()));
        while vitals.snapshot().checks.iter().any(|c| c.last.is_none()) || vitals.snapshot().checks.len() < 20 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let probe = serve_on_thread(vitals.router());
        let bare = serve_on_thread(axum::Router::new().route("/static", axum::routing::get(|| async { "ok\n" })));

        // Warm up both.
        load::drive(bare, "/static", conns, Duration::from_millis(500)).await;
        load::drive(probe, "/health/ready", conns, Duration::from_millis(500)).await;

        let (mut bare_rps, mut probe_rps) = (Vec::new(), Vec::new());
        let (mut bare_p50, mut probe_p50) = (Vec::new(), Vec::new());
        let (mut bare_p99, mut probe_p99) = (Vec::new(), Vec::new());
        let dur = Duration::from_secs(secs);
        println!("probe benchmark: {conns} connections, {secs}s per round, 3 alternating rounds, 20 checks");
        for round in 1..=3 {
            let b = load::drive(bare, "/static", conns, dur).await;
            let p = load::drive(probe, "/health/ready", conns, dur).await;
            for (name, r) in [("bare static 200", b), ("GET /health/ready", p)] {
                println!(
                    "  round {round} {name:<18} {:>9.0} req/s  p50 {:>7.1?}  p99 {:>7.1?}  requests {} errors {}",
                    r.req_per_sec, r.p50, r.p99, r.requests, r.errors
                );
                assert_eq!(r.errors, 0, "{name} had errors");
            }
            bare_rps.push(b.req_per_sec);
            probe_rps.push(p.req_per_sec);
            bare_p50.push(b.p50.as_secs_f64());
            probe_p50.push(p.p50.as_secs_f64());
            bare_p99.push(b.p99.as_secs_f64());
            probe_p99.push(p.p99.as_secs_f64());
        }
        let (b, p) = (median(bare_rps), median(probe_rps));
        println!("median: bare {b:.0} req/s, probe {p:.0} req/s, ratio probe/bare = {:.3} (target >= 0.95)", p / b);
        let (b50, p50) = (median(bare_p50), median(probe_p50));
        let (b99, p99) = (median(bare_p99), median(probe_p99));
        println!(
            "latency: p50 bare {:.2} ms, probe {:.2} ms (ratio {:.2}); p99 bare {:.2} ms, probe {:.2} ms (ratio {:.2})",
            b50 * 1e3, p50 * 1e3, p50 / b50, b99 * 1e3, p99 * 1e3, p99 / b99
        );
        println!("target throughput ratio >= 0.95: {}", if p / b >= 0.95 { "met" } else { "MISSED" });
    });
}
