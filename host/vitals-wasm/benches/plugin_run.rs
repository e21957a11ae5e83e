//! One run of the `noop` plugin (fresh store + instance + check + drop, pooling allocator)
//! beside a native no-op check; plus compile and cached-load times.
//!
//! `cargo bench -p vitals-wasm --bench plugin_run`

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::{Duration, Instant};

use vitals::{Check, Outcome};
use vitals_test_support::{guests, timing};
use vitals_wasm::{
    PluginCheck, PluginGrants, PluginRuntime, QuarantinePolicy, RunLimits, RuntimeConfig,
};

const WARMUP: usize = 500;
const RUNS: usize = 5000;

struct NativeNoop;

#[async_trait::async_trait]
impl Check for NativeNoop {
    async fn run(&self) -> Outcome {
        Outcome::pass("ok")
    }
}

async fn sample(check: &dyn Check) -> Vec<Duration> {
    timing::run_times(async || check.run().await, WARMUP, RUNS).await
}

/// Each phase of a fresh run, over `RUNS` runs after `WARMUP`.
async fn breakdown(check: &PluginCheck) -> Vec<(&'static str, Vec<Duration>)> {
    let mut phases: Vec<(&'static str, Vec<Duration>)> = vec![
        ("store (WASI context, limiter, epoch callback)", Vec::new()),
        ("instantiate (pool slot, copy-on-write memory)", Vec::new()),
        ("call check() + lift result + post-return", Vec::new()),
        ("drop (instance back to the pool)", Vec::new()),
    ];
    for i in 0..WARMUP + RUNS {
        let p = check.profile_fresh_run().await.unwrap();
        if i >= WARMUP {
            for (slot, d) in phases
                .iter_mut()
                .zip([p.store, p.instantiate, p.call, p.drop])
            {
                slot.1.push(d);
            }
        }
    }
    for (_, times) in &mut phases {
        times.sort();
    }
    phases
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let noop = guests::component("noop");
    let cache = tempfile::tempdir().unwrap();
    let config = RuntimeConfig {
        cache_dir: Some(cache.path().to_owned()),
        ..RuntimeConfig::default()
    };

    let started = Instant::now();
    let rt = PluginRuntime::new(config.clone()).unwrap();
    let engine_time = started.elapsed();
    let started = Instant::now();
    rt.load(&noop, PluginGrants::default()).await.unwrap();
    let compile = started.elapsed();
    let rt = PluginRuntime::new(config).unwrap();
    let started = Instant::now();
    let loaded = rt.load(&noop, PluginGrants::default()).await.unwrap();
    let cached = started.elapsed();
    assert_eq!(rt.cache().hits(), 1);

    let check = PluginCheck::new(
        &rt,
        "noop",
        loaded,
        RunLimits::default(),
        QuarantinePolicy::default(),
    )
    .unwrap();
    let plugin = sample(&check).await;
    let native = sample(&NativeNoop).await;
    let phases = breakdown(&check).await;
    let (pm, pp) = (
        timing::percentile(&plugin, 0.5),
        timing::percentile(&plugin, 0.95),
    );
    let (nm, np) = (
        timing::percentile(&native, 0.5),
        timing::percentile(&native, 0.95),
    );
    println!("pooling allocator: {}", rt.is_pooling());
    println!(
        "engine creation:            {:>10.3} ms",
        engine_time.as_secs_f64() * 1e3
    );
    println!(
        "noop load, compile:         {:>10.3} ms (compile + describe)",
        compile.as_secs_f64() * 1e3
    );
    println!(
        "noop load, cached (mmap):   {:>10.3} ms (deserialize + describe)",
        cached.as_secs_f64() * 1e3
    );
    println!(
        "plugin noop run ({RUNS} runs): median {:>8.2} µs  p95 {:>8.2} µs",
        pm.as_secs_f64() * 1e6,
        pp.as_secs_f64() * 1e6
    );
    println!(
        "native noop run ({RUNS} runs): median {:>8.3} µs  p95 {:>8.3} µs",
        nm.as_secs_f64() * 1e6,
        np.as_secs_f64() * 1e6
    );
    println!("fresh run, median of each phase ({RUNS} runs, timed apart):");
    let mut sum = 0.0;
    for (name, times) in &phases {
        let m = timing::percentile(times, 0.5).as_secs_f64() * 1e6;
        sum += m;
        println!("  {name:<44} {m:>8.2} µs");
    }
    let host = pm.as_secs_f64() * 1e6 - sum;
    println!(
        "  {:<44} {host:>8.2} µs",
        "outside the sandbox (run median - phases)"
    );
    println!(
        "ratio plugin/native (median): {:.0}x",
        pm.as_secs_f64() / nm.as_secs_f64().max(1e-9)
    );
    println!(
        "target median <= 20 µs: {}",
        if pm <= Duration::from_micros(20) {
            "met"
        } else {
            "MISSED"
        }
    );
}
