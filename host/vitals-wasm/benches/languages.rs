//! A trivial check in Rust, JavaScript (StarlingMonkey and QuickJS) and Python, side by side:
//! compile time; cached load time (memory-mapped artifact, describe call included) for an
//! unchanged file after a restart ("cached") and for a new file with known bytes, which is read
//! and hashed first ("cached+hash"); per-run cost with a fresh instance and with a warm one;
//! then resident memory with many JavaScript plugins loaded.
//!
//! `cargo bench -p vitals-wasm --bench languages`
//!
//! The guests: `noop` (Rust), `misbehave-js` and `misbehave-py` in mode `pass` (one config read,
//! one result), `noop-qjs` (QuickJS). Targets on the reference machine: cached load under 5 ms
//! for every language; per warm run under 100 µs for JavaScript and under 50 µs for Python.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::Path;
use std::time::{Duration, Instant};

use vitals::{Check, Status};
use vitals_test_support::{guests, timing};
use vitals_wasm::{
    LoadedPlugin, PluginCheck, PluginGrants, PluginRuntime, QuarantinePolicy, RunLimits,
    RuntimeConfig, WarmPolicy,
};

const WARMUP: usize = 50;
const FRESH_RUNS: usize = 300;
const WARM_RUNS: usize = 3000;
/// JavaScript plugins loaded at once for the memory measurement.
const MANY: usize = 20;

struct Guest {
    label: &'static str,
    component: &'static str,
    config: &'static [(&'static str, &'static str)],
    target_warm: Option<Duration>,
}

const GUESTS: &[Guest] = &[
    Guest {
        label: "Rust",
        component: "noop",
        config: &[],
        target_warm: None,
    },
    Guest {
        label: "JS (StarlingMonkey)",
        component: "misbehave-js",
        config: &[("mode", "pass")],
        target_warm: Some(Duration::from_micros(100)),
    },
    Guest {
        label: "JS (QuickJS)",
        component: "noop-qjs",
        config: &[],
        target_warm: Some(Duration::from_micros(100)),
    },
    Guest {
        label: "Python",
        component: "misbehave-py",
        config: &[("mode", "pass")],
        target_warm: Some(Duration::from_micros(50)),
    },
];

struct Row {
    label: &'static str,
    size_mib: f64,
    compile: Duration,
    cached: Duration,
    cached_hashed: Duration,
    fresh: Duration,
    warm: Duration,
    target_warm: Option<Duration>,
}

fn runtime(cache: &Path) -> PluginRuntime {
    PluginRuntime::new(RuntimeConfig {
        cache_dir: Some(cache.to_owned()),
        ..RuntimeConfig::default()
    })
    .unwrap()
}

fn check(rt: &PluginRuntime, name: &str, loaded: LoadedPlugin, warm: bool) -> PluginCheck {
    let policy = warm.then_some(WarmPolicy {
        max_runs: u32::MAX,
        max_age: Duration::from_secs(3600),
    });
    PluginCheck::new(
        rt,
        name,
        loaded,
        RunLimits::default(),
        QuarantinePolicy::default(),
    )
    .unwrap()
    .with_warm_instances(policy)
}

/// Median of `runs` runs after a warm-up; the check must pass.
async fn median_run(check: &PluginCheck, runs: usize) -> Duration {
    let outcome = check.run().await;
    assert_eq!(outcome.status, Status::Pass, "{}", outcome.output);
    timing::percentile(
        &timing::run_times(async || check.run().await, WARMUP, runs).await,
        0.5,
    )
}

async fn measure(guest: &Guest) -> Row {
    let path = guests::component(guest.component);
    let size_mib = std::fs::metadata(&path).unwrap().len() as f64 / (1 << 20) as f64;
    let cache = tempfile::tempdir().unwrap();

    let rt = runtime(cache.path());
    let started = Instant::now();
    rt.load(&path, grants(guest.config)).await.unwrap();
    let compile = started.elapsed();

    // A new file with the same bytes (a reinstall, a rollback): read and hashed to find its
    // artifact in the disk cache.
    let copy = tempfile::tempdir().unwrap();
    let copied = copy.path().join("copy.wasm");
    std::fs::copy(&path, &copied).unwrap();
    let rt = runtime(cache.path());
    let started = Instant::now();
    rt.load(&copied, grants(guest.config)).await.unwrap();
    let cached_hashed = started.elapsed();
    assert_eq!((rt.cache().hits(), rt.cache().files_hashed()), (1, 1));

    // A restart with the file unchanged: found by its identity, artifact mapped, not read.
    let rt = runtime(cache.path());
    let started = Instant::now();
    let loaded = rt.load(&path, grants(guest.config)).await.unwrap();
    let cached = started.elapsed();
    assert_eq!(
        rt.cache().hits(),
        1,
        "{}: cached load compiled",
        guest.label
    );
    assert_eq!(
        rt.cache().files_hashed(),
        0,
        "{}: the file was read again (built less than a second ago?)",
        guest.label
    );

    let fresh = median_run(
        &check(&rt, guest.component, loaded.clone(), false),
        FRESH_RUNS,
    )
    .await;
    let warm = median_run(&check(&rt, guest.component, loaded, true), WARM_RUNS).await;
    Row {
        label: guest.label,
        size_mib,
        compile,
        cached,
        cached_hashed,
        fresh,
        warm,
        target_warm: guest.target_warm,
    }
}

/// Resident set size of this process, from /proc (Linux).
fn rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn fmt_rss(rss: Option<f64>) -> String {
    rss.map_or_else(|| "n/a".to_owned(), |m| format!("{m:.1} MiB"))
}

/// `MANY` StarlingMonkey plugins (copies of one component under different names, as operators
/// deploy one check per endpoint), each run once with fresh instances, then with warm ones.
async fn many_js_plugins() {
    let source = guests::component("misbehave-js");
    let files = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let rt = runtime(cache.path());
    let before = rss_mib();
    let mut checks = Vec::new();
    for i in 0..MANY {
        let file = files.path().join(format!("js-{i}.wasm"));
        std::fs::copy(&source, &file).unwrap();
        let loaded = rt.load(&file, grants(&[("mode", "pass")])).await.unwrap();
        checks.push(check(&rt, &format!("js-{i}"), loaded.clone(), false));
        checks.push(check(&rt, &format!("js-{i}-warm"), loaded, true));
    }
    let loaded = rss_mib();
    for check in checks.iter().step_by(2) {
        assert_eq!(check.run().await.status, Status::Pass);
    }
    let fresh = rss_mib();
    for check in checks.iter().skip(1).step_by(2) {
        assert_eq!(check.run().await.status, Status::Pass);
    }
    let warm = rss_mib();
    println!();
    println!(
        "memory, {MANY} JavaScript (StarlingMonkey) plugins, pooling: {}",
        rt.is_pooling()
    );
    println!(
        "  before loading:                       {}",
        fmt_rss(before)
    );
    println!(
        "  {MANY} loaded (one shared component):     {}",
        fmt_rss(loaded)
    );
    println!("  after one fresh-instance run each:    {}", fmt_rss(fresh));
    println!(
        "  with {MANY} warm instances kept:         {}",
        fmt_rss(warm)
    );
    if let (Some(a), Some(b)) = (fresh, warm) {
        println!(
            "  per warm instance:                    {:.2} MiB",
            (b - a) / MANY as f64
        );
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut rows = Vec::new();
    for guest in GUESTS {
        rows.push(measure(guest).await);
    }
    println!(
        "{:<20} {:>8} {:>11} {:>11} {:>12} {:>12} {:>11} {:>8}",
        "trivial check", "size", "compile", "cached", "cached+hash", "fresh/run", "warm/run", "f/w"
    );
    for r in &rows {
        println!(
            "{:<20} {:>5.1} MB {:>8.0} ms {:>8.2} ms {:>9.2} ms {:>9.1} µs {:>8.1} µs {:>7.0}x",
            r.label,
            r.size_mib,
            ms(r.compile),
            ms(r.cached),
            ms(r.cached_hashed),
            us(r.fresh),
            us(r.warm),
            r.fresh.as_secs_f64() / r.warm.as_secs_f64().max(1e-9)
        );
    }
    println!();
    for r in &rows {
        let load = if r.cached < Duration::from_millis(5) {
            "met"
        } else {
            "MISSED"
        };
        print!("{}: cached load < 5 ms {load}", r.label);
        if let Some(target) = r.target_warm {
            let warm = if r.warm < target { "met" } else { "MISSED" };
            print!("; warm run < {} µs {warm}", target.as_micros());
        }
        println!();
    }
    many_js_plugins().await;
}

/// Grants with config values and nothing else.
fn grants(pairs: &[(&str, &str)]) -> PluginGrants {
    PluginGrants {
        config: pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        ..PluginGrants::default()
    }
}
