//! Hot reload cost: latency from renaming a new version into the watched plugin directory to the
//! first snapshot holding that version's result (compile cached and uncached), and resident
//! memory over hundreds of reloads.
//!
//! `cargo bench -p vitals-wasm --bench reload` (env `VITALS_BENCH_RELOADS`, default 40 per
//! latency series; `VITALS_BENCH_RSS_RELOADS`, default 500).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use vitals::Vitals;
use vitals_test_support::guests;
use vitals_wasm::{
    PluginRuntime, PluginSupervisor, PluginWatcher, RuntimeConfig, SupervisorConfig, WatchConfig,
};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Resident set size of this process, in MiB.
fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

struct Bench {
    dir: tempfile::TempDir,
    _cache: tempfile::TempDir,
    vitals: Vitals,
    runtime: PluginRuntime,
    supervisor: Arc<PluginSupervisor>,
    stop: CancellationToken,
}

impl Bench {
    async fn start() -> Bench {
        let dir = tempfile::tempdir().unwrap();
        let cache = tempfile::tempdir().unwrap();
        let runtime = PluginRuntime::new(RuntimeConfig {
            cache_dir: Some(cache.path().to_owned()),
            ..RuntimeConfig::default()
        })
        .unwrap();
        let (vitals, evaluator) = Vitals::builder()
            .evaluator_config(vitals::EvaluatorConfig {
                startup_grace: Duration::ZERO,
                ..vitals::EvaluatorConfig::default()
            })
            .build();
        let stop = CancellationToken::new();
        tokio::spawn(evaluator.run(stop.clone()));
        let supervisor = Arc::new(PluginSupervisor::new(
            runtime.clone(),
            vitals.registry().clone(),
            SupervisorConfig {
                dir: Some(dir.path().to_owned()),
                ..SupervisorConfig::default()
            },
        ));
        Bench {
            dir,
            _cache: cache,
            vitals,
            runtime,
            supervisor,
            stop,
        }
    }

    fn output(&self) -> Option<String> {
        let snap = self.vitals.snapshot();
        let last = snap.check("bench")?.last.as_ref()?;
        Some(last.outcome.output.clone())
    }

    /// Rename `bytes` in as `bench.wasm`; the time until a snapshot shows `expected`.
    async fn reload(&self, bytes: &[u8], expected: &str) -> Duration {
        let tmp = self.dir.path().join(".bench.wasm.tmp");
        std::fs::write(&tmp, bytes).unwrap();
        let renamed = Instant::now();
        std::fs::rename(&tmp, self.dir.path().join("bench.wasm")).unwrap();
        loop {
            if self.output().as_deref() == Some(expected) {
                return renamed.elapsed();
            }
            assert!(
                renamed.elapsed() < Duration::from_secs(30),
                "reload never landed"
            );
            tokio::time::sleep(Duration::from_micros(500)).await;
        }
    }
}

/// The two versions alternate, so every reload changes what the check reports.
fn version(i: usize) -> (&'static str, &'static str) {
    if i.is_multiple_of(2) {
        ("versioned-a", "versioned v1")
    } else {
        ("versioned-b", "versioned v2")
    }
}

async fn latency_series(bench: &Bench, reloads: usize, cached: bool, label: &str) {
    let a = guests::variant("versioned-a", "cached", 0);
    let b = guests::variant("versioned-b", "cached", 0);
    let mut times = Vec::with_capacity(reloads);
    for i in 0..reloads {
        let (guest, expected) = version(i + 1);
        let bytes = if cached {
            if guest == "versioned-a" {
                a.clone()
            } else {
                b.clone()
            }
        } else {
            guests::variant(guest, &format!("{label}-{i}"), 0)
        };
        times.push(bench.reload(&bytes, expected).await);
    }
    times.sort();
    println!(
        "reload latency, {label:<9} ({reloads} reloads): p50 {:>7.1} ms  p95 {:>7.1} ms  max {:>7.1} ms",
        ms(pct(&times, 0.5)),
        ms(pct(&times, 0.95)),
        ms(*times.last().unwrap())
    );
    if cached {
        println!(
            "target p50 < 250 ms (cached, small Rust plugin): {}",
            if pct(&times, 0.5) < Duration::from_millis(250) {
                "met"
            } else {
                "MISSED"
            }
        );
    }
}

async fn rss_series(bench: &Bench, reloads: usize) {
    let mut marks = vec![10, 100, reloads / 2, reloads];
    marks.dedup();
    let mut at = Vec::new();
    for i in 1..=reloads {
        let (guest, expected) = version(i);
        let bytes = guests::variant(guest, &format!("rss-{i}"), 0);
        install(bench.dir.path(), &bytes);
        bench.supervisor.reconcile().await;
        // Wait for the new version's first result, as a real reload would.
        while bench.output().as_deref() != Some(expected) {
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        if marks.contains(&i) {
            // Let replaced versions finish their runs and be released.
            tokio::time::sleep(Duration::from_millis(200)).await;
            at.push((i, rss_mib(), bench.runtime.loaded_versions()));
        }
    }
    for (i, rss, versions) in &at {
        println!(
            "RSS after {i:>4} reloads: {rss:>7.1} MiB  (plugin versions in memory: {versions})"
        );
    }
    let first = at.first().map_or(0.0, |a| a.1);
    let last = at.last().map_or(0.0, |a| a.1);
    println!(
        "RSS growth from {} to {} reloads: {:+.1} MiB ({:.2}x)",
        at.first().map_or(0, |a| a.0),
        at.last().map_or(0, |a| a.0),
        last - first,
        last / first.max(1e-9)
    );
}

fn install(dir: &Path, bytes: &[u8]) {
    let tmp = dir.join(".bench.wasm.tmp");
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, dir.join("bench.wasm")).unwrap();
}

fn main() {
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    tokio.block_on(async {
        let reloads = env_or("VITALS_BENCH_RELOADS", 40);
        let rss_reloads = env_or("VITALS_BENCH_RSS_RELOADS", 500);
        let bench = Bench::start().await;
        let watch = WatchConfig::default();
        let _watcher =
            PluginWatcher::start(bench.supervisor.clone(), watch, bench.stop.clone()).unwrap();
        println!(
            "watcher debounce {} ms (every latency includes it); pooling allocator: {}",
            watch.debounce.as_millis(),
            bench.runtime.is_pooling()
        );
        // First load (compiles both cached variants once).
        bench
            .reload(&guests::variant("versioned-a", "cached", 0), "versioned v1")
            .await;
        bench
            .reload(&guests::variant("versioned-b", "cached", 0), "versioned v2")
            .await;
        latency_series(&bench, reloads, true, "cached").await;
        latency_series(&bench, reloads, false, "uncached").await;
        println!(
            "compiles {}, cache hits {}",
            bench.runtime.cache().compiles(),
            bench.runtime.cache().hits()
        );
        drop(_watcher);
        rss_series(&bench, rss_reloads).await;
        bench.stop.cancel();
    });
}
