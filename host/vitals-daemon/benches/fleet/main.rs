//! A fleet of plugin checks in a real `vitals serve` process, measured from outside:
//!
//! - A: 900 copies of the trivial Rust check on a 1 s interval: the daemon's CPU (utime+stime
//!   from `/proc/PID/stat`) as a percentage of one core. Target ≤ 10 %.
//! - B: 900 Rust + 90 QuickJS + 10 Python (warm instances) on 1 s: RSS (≤ 256 MiB), each check's
//!   achieved cadence (runs from `/health/status`; none below 90 %), and `/health/ready` p99
//!   under `wrk` (≤ 3 ms). A quiet window, then one under wrk; cadence is judged in both.
//! - C: cold start, `exec` to the first answer in which every check has a result: 50 Rust
//!   plugins (target ≤ 300 ms from a warm compile cache; median of several starts) and the
//!   1,000 of B, each with a cold and a warm compile cache (`<data_dir>/plugin-cache`).
//! - D: resident memory added per loaded Rust plugin (copies of one component; distinct
//!   components, made unique by a custom section) and per warm Rust instance (target ≤ 64 KiB).
//! - P (not in the default set): `perf record -g` of a daemon with 100 Rust checks.
//!
//! `cargo bench -p vitals-daemon --bench fleet`. Env: `VITALS_BENCH_SECS` (window, default 60),
//! `VITALS_BENCH_SETTLE` (s after the last first result before a window, default 5),
//! `VITALS_BENCH_STARTS` (cold starts per median, default 5), `VITALS_BENCH_PHASES` (default
//! `ABCD`; add `P` for the profile, `VITALS_BENCH_PERF_SECS` default 20),
//! `VITALS_BENCH_CONNECTIONS` (wrk, default 32), `VITALS_BENCH_MEM_N` (plugins in D, default
//! 1000), `VITALS_BENCH_BIN` (the daemon binary, default the one cargo built). Needs `wrk`
//! (`apt-get install wrk`) for B.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod fleet;
mod report;

use std::path::{Path, PathBuf};
use std::time::Duration;

use fleet::{Daemon, Mem};
use report::{Table, Window, median, mib};
use vitals_test_support::guests;

const RUST: &str = "interval = \"1s\"\n";
const QJS: &str = "interval = \"1s\"\n";
const PYTHON: &str = "interval = \"1s\"\nwarm_runs = 1000000\n\n[config]\nmode = \"pass\"\n";
const RUST_WARM: &str = "interval = \"1s\"\nwarm_runs = 1000000\n";
/// Waiting for every first result: generous, for cold compiles on a busy machine.
const LOAD_WITHIN: Duration = Duration::from_secs(600);

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn load_note() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Start a daemon and wait for every one of its `n` checks' first result.
fn start_loaded(plugins: &Path, data: &Path, extra: &str, n: usize) -> (Daemon, Duration) {
    let mut d = Daemon::start(plugins, data, extra);
    let took = d.wait_all_results(n, LOAD_WITHIN);
    (d, took)
}

/// Steady-state memory of a daemon with `n` plugins from `plugins`, `settle` after every check
/// has had its first result.
fn steady_mem(plugins: &Path, data: &Path, extra: &str, n: usize, settle: u64) -> Mem {
    let (d, took) = start_loaded(plugins, data, extra, n);
    std::thread::sleep(Duration::from_secs(settle));
    let mem = d.mem();
    println!(
        "  {:<28} {n:>5} checks: all results in {:>6.2} s, RSS {:>6.1} MiB (anon {:.1}, file {:.1})",
        plugins.file_name().unwrap().to_string_lossy(),
        took.as_secs_f64(),
        mib(mem.rss),
        mib(mem.anon),
        mib(mem.file)
    );
    mem
}

/// Times from `exec` to every check's first result over `starts` starts; `cold` wipes the
/// data dir (and so the compile cache) before each.
fn cold_starts(plugins: &Path, data: &Path, n: usize, starts: u64, cold: bool) -> Vec<f64> {
    (0..starts)
        .map(|_| {
            if cold {
                let _ = std::fs::remove_dir_all(data);
            }
            start_loaded(plugins, data, "", n).1.as_secs_f64() * 1e3
        })
        .collect()
}

fn fmt_ms(times: &[f64]) -> String {
    let list: Vec<String> = times.iter().map(|t| format!("{t:.0}")).collect();
    format!("{:.0} ms [{}]", median(times.to_vec()), list.join(" "))
}

/// The settings and plugin directories shared by the phases.
struct Bench {
    root: PathBuf,
    secs: u64,
    settle: u64,
    starts: u64,
    noop: Vec<u8>,
    /// 900 Rust + 90 QuickJS + 10 Python (warm), for B and C.
    mix: PathBuf,
}

impl Bench {
    fn dir(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// `n` copies of the trivial Rust check (as operators deploy them: one file each).
    fn rust(&self, dir: &str, n: usize, manifest: &str) -> PathBuf {
        let dir = self.dir(dir);
        fleet::add_plugins(&dir, "rust", n, manifest, |_| self.noop.clone());
        dir
    }
}

fn phase_a(b: &Bench, t: &mut Table) {
    println!(
        "\nA: 900 Rust checks, 1 s interval (load avg {})",
        load_note()
    );
    let (d, took) = start_loaded(&b.rust("rust-900", 900, RUST), &b.dir("data-a"), "", 900);
    println!("  all first results {:.2} s after exec", took.as_secs_f64());
    std::thread::sleep(Duration::from_secs(b.settle));
    let w = Window::sleep(&d, b.secs);
    let cpu = format!("{:.1} % (machine busy {:.0} %)", w.cpu, w.machine);
    t.check(
        "A",
        "CPU, 900 Rust, % of one core",
        cpu,
        "≤ 10 %",
        w.cpu <= 10.0,
    );
    let (min, summary) = w.cadence();
    t.check("A", "cadence, 900 Rust", summary, "≥ 90 %", min >= 0.9);
    t.report("A", "RSS, 900 Rust", format!("{:.1} MiB", mib(w.mem.rss)));
}

fn phase_b(b: &Bench, t: &mut Table, conns: usize) {
    println!(
        "\nB: 900 Rust + 90 QuickJS + 10 Python (warm), 1 s (load avg {})",
        load_note()
    );
    let (d, took) = start_loaded(&b.mix, &b.dir("data-b"), "", 1000);
    println!("  all first results {:.2} s after exec", took.as_secs_f64());
    std::thread::sleep(Duration::from_secs(b.settle));
    let quiet = Window::sleep(&d, b.secs);
    println!(
        "  wrk -t1 -c{conns} -d{}s --latency /health/ready ...",
        b.secs
    );
    let (busy, wrk) = Window::over(&d, || fleet::wrk(d.addr, "/health/ready", conns, b.secs));
    println!("{}", wrk.latency);
    let rss = mib(quiet.mem.rss.max(busy.mem.rss));
    let value = format!(
        "{rss:.1} MiB (anonymous {:.1}, file-backed {:.1}; peak VmHWM {:.1})",
        mib(busy.mem.anon),
        mib(busy.mem.file),
        mib(busy.mem.hwm)
    );
    t.check("B", "RSS, 1,000 checks", value, "≤ 256 MiB", rss <= 256.0);
    println!("  where the resident memory is (/proc/PID/smaps):");
    for (group, kib) in fleet::rss_by_mapping(d.pid()) {
        println!("    {:>8.1} MiB  {group}", mib(kib));
    }
    let (min, summary) = quiet.cadence();
    t.check("B", "cadence, quiet", summary, "≥ 90 %", min >= 0.9);
    let (min, summary) = busy.cadence();
    t.check("B", "cadence, under wrk", summary, "≥ 90 %", min >= 0.9);
    let problems = match wrk.problems.as_str() {
        "" => "no errors",
        p => p,
    };
    let value = format!(
        "{:.2} ms (p50 {:.2} ms, {:.0} req/s, {} requests, {problems})",
        wrk.p99_ms, wrk.p50_ms, wrk.rps, wrk.requests
    );
    t.check(
        "B",
        "/health/ready p99 under wrk",
        value,
        "≤ 3 ms",
        wrk.p99_ms <= 3.0,
    );
    let cpu = format!("{:.1} % quiet, {:.1} % under wrk", quiet.cpu, busy.cpu);
    t.report("B", "CPU, 1,000 checks, % of one core", cpu);
}

fn phase_c(b: &Bench, t: &mut Table) {
    println!(
        "\nC: exec to every check's first result (load avg {})",
        load_note()
    );
    let rust50 = b.rust("rust-50", 50, RUST);
    let data = b.dir("data-c50");
    let cold = cold_starts(&rust50, &data, 50, b.starts, true);
    t.report("C", "cold start, 50 Rust, cold cache", fmt_ms(&cold));
    let warm = cold_starts(&rust50, &data, 50, b.starts, false);
    let met = median(warm.clone()) <= 300.0;
    t.check(
        "C",
        "cold start, 50 Rust, cached",
        fmt_ms(&warm),
        "≤ 300 ms",
        met,
    );
    let data = b.dir("data-c1000");
    let cold = cold_starts(&b.mix, &data, 1000, 1, true);
    t.report("C", "cold start, 1,000 mixed, cold cache", fmt_ms(&cold));
    let warm = cold_starts(&b.mix, &data, 1000, b.starts.min(3), false);
    t.report("C", "cold start, 1,000 mixed, cached", fmt_ms(&warm));
}

fn phase_d(b: &Bench, t: &mut Table, n: usize) {
    println!(
        "\nD: memory per plugin, {n} Rust plugins (load avg {})",
        load_note()
    );
    let empty = b.dir("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let same = b.rust(&format!("rust-copies-{n}"), n, RUST);
    let warm = b.rust(&format!("rust-warm-{n}"), n, RUST_WARM);
    let distinct = b.dir(&format!("rust-distinct-{n}"));
    fleet::add_plugins(&distinct, "rust", n, RUST, |i| {
        guests::variant("noop", &format!("fleet-{i}"), 0)
    });
    let data = b.dir("data-d");
    let per = |with: Mem, without: Mem| (with.rss as f64 - without.rss as f64) / n as f64;
    let anon = |with: Mem, without: Mem| (with.anon as f64 - without.anon as f64) / n as f64;
    let base = steady_mem(&empty, &data, "", 0, b.settle);
    let copies = steady_mem(&same, &data, "", n, b.settle);
    let value = format!(
        "{:.1} KiB (anon {:.1})",
        per(copies, base),
        anon(copies, base)
    );
    t.report("D", "RSS per Rust plugin, copies of one component", value);
    let compiled = steady_mem(&distinct, &data, "", n, b.settle);
    let cached = steady_mem(&distinct, &data, "", n, b.settle);
    let (a, c) = (per(cached, base), per(compiled, base));
    let value = format!(
        "{a:.1} KiB (anon {:.1}; first start, compiling them: {c:.1})",
        anon(cached, base)
    );
    t.report("D", "RSS per Rust plugin, distinct components", value);
    // Each warm instance keeps a pool slot, and the default pool has `max_instances = 100`.
    let pool = format!("max_instances = {}", n + 100);
    let fresh = steady_mem(&same, &data, &pool, n, b.settle);
    let kept = steady_mem(&warm, &data, &pool, n, b.settle);
    let value = format!(
        "{:.1} KiB (anon {:.1}; {pool})",
        per(kept, fresh),
        anon(kept, fresh)
    );
    t.check(
        "D",
        "RSS per warm Rust instance",
        value,
        "≤ 64 KiB",
        per(kept, fresh) <= 64.0,
    );
    let mut d = Daemon::start(&warm, &data, "");
    let waited = d.wait_results(n, Duration::from_secs(120));
    std::thread::sleep(Duration::from_secs(b.settle));
    let failing = fleet::not_serving(d.addr);
    let note = fleet::status(d.addr)["notes"][0]
        .as_str()
        .map(str::to_owned);
    let name = failing
        .first()
        .and_then(|l| l.strip_prefix("[-]")?.split(' ').next());
    let why = name.and_then(|name| fleet::first_failure(d.addr, name));
    let waited = match waited {
        Ok(took) => format!("all have a result after {:.1} s", took.as_secs_f64()),
        Err(counts) => format!("after 120 s (listed, without a result) = {counts:?}"),
    };
    let value = format!(
        "{waited}; {} of {n} not serving; {}'s first failure: {why:?}; first note: {note:?}",
        failing.len(),
        name.unwrap_or("-"),
    );
    t.report("D", "warm Rust at the default max_instances", value);
}

fn phase_p(b: &Bench, t: &mut Table) {
    let secs = env_or("VITALS_BENCH_PERF_SECS", 20);
    println!(
        "\nP: perf profile, 100 Rust checks, {secs} s (load avg {})",
        load_note()
    );
    let rust100 = b.rust("rust-100", 100, RUST);
    let (d, _) = start_loaded(&rust100, &b.dir("data-p"), "", 100);
    std::thread::sleep(Duration::from_secs(b.settle));
    let cpu0 = fleet::cpu_ticks(d.pid());
    match fleet::perf_profile(d.pid(), secs, &b.dir("perf.data")) {
        Ok(report) => println!("{report}"),
        Err(e) => println!("  no profile: {e}"),
    }
    let ticks = (fleet::cpu_ticks(d.pid()) - cpu0) as f64;
    let cpu = ticks / fleet::clock_ticks_per_sec() / secs as f64 * 100.0;
    t.report(
        "P",
        "CPU, 100 Rust, % of one core (profiled)",
        format!("{cpu:.1} %"),
    );
}

fn main() {
    let phases = std::env::var("VITALS_BENCH_PHASES").unwrap_or_else(|_| "ABCD".to_owned());
    if phases.contains('B') {
        fleet::require_wrk();
    }
    let root = tempfile::tempdir().unwrap();
    let mut b = Bench {
        root: root.path().to_owned(),
        secs: env_or("VITALS_BENCH_SECS", 60),
        settle: env_or("VITALS_BENCH_SETTLE", 5),
        starts: env_or("VITALS_BENCH_STARTS", 5).max(1),
        noop: std::fs::read(guests::component("noop")).unwrap(),
        mix: PathBuf::new(),
    };
    if phases.contains('B') || phases.contains('C') {
        b.mix = b.rust("mix-1000", 900, RUST);
        let qjs = std::fs::read(guests::component("noop-qjs")).unwrap();
        let py = std::fs::read(guests::component("misbehave-py")).unwrap();
        fleet::add_plugins(&b.mix, "qjs", 90, QJS, |_| qjs.clone());
        fleet::add_plugins(&b.mix, "py", 10, PYTHON, |_| py.clone());
    }
    let commit = std::process::Command::new("git")
        .args(["log", "-1", "--format=%h %s"])
        .current_dir(guests::workspace_root())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    println!(
        "fleet bench: {} cores, window {} s, settle {} s, phases {phases}; {} built at {commit}",
        fleet::cores(),
        b.secs,
        b.settle,
        fleet::binary().display()
    );
    let mut t = Table::default();
    if phases.contains('A') {
        phase_a(&b, &mut t);
    }
    if phases.contains('B') {
        phase_b(&b, &mut t, env_or("VITALS_BENCH_CONNECTIONS", 32) as usize);
    }
    if phases.contains('C') {
        phase_c(&b, &mut t);
    }
    if phases.contains('D') {
        phase_d(&b, &mut t, env_or("VITALS_BENCH_MEM_N", 1000) as usize);
    }
    if phases.contains('P') {
        phase_p(&b, &mut t);
    }
    t.print();
}
