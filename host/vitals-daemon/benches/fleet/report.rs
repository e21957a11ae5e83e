//! The fleet benchmark's measurement window (CPU, memory and each check's cadence over a
//! running daemon) and its results table.

use std::time::{Duration, Instant};

use crate::fleet::{self, Daemon, Mem};

pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

pub fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// The results table: each figure, its target and whether it was met.
#[derive(Default)]
pub struct Table(Vec<[String; 5]>);

impl Table {
    /// A figure with a target.
    pub fn check(&mut self, phase: &str, figure: &str, value: String, target: &str, met: bool) {
        let verdict = if met { "met" } else { "MISSED" };
        self.push(phase, figure, value, target, verdict);
    }

    /// A figure to report, without a target.
    pub fn report(&mut self, phase: &str, figure: &str, value: String) {
        self.push(phase, figure, value, "-", "report");
    }

    fn push(&mut self, phase: &str, figure: &str, value: String, target: &str, verdict: &str) {
        println!("  [{phase}] {figure}: {value} (target {target}: {verdict})");
        let row = [phase, figure, &value, target, verdict].map(str::to_owned);
        self.0.push(row);
    }

    pub fn print(&self) {
        let head = ["", "figure", "value", "target", "verdict"].map(str::to_owned);
        for [p, f, v, t, m] in std::iter::once(&head).chain(&self.0) {
            println!("{p:<2} {f:<44} {v:<72} {t:<10} {m}");
        }
    }
}

/// One measurement window over a running daemon.
pub struct Window {
    pub secs: f64,
    /// The daemon's CPU, % of one core.
    pub cpu: f64,
    /// The whole machine's busy time, % of all cores (the daemon, wrk and anything else).
    pub machine: f64,
    pub mem: Mem,
    /// Runs per check in the window over the runs a 1 s interval asks for, by check name.
    pub cadence: Vec<(String, f64)>,
}

impl Window {
    /// Measure while `during` runs (sleeping the window, or driving load).
    pub fn over<T>(d: &Daemon, during: impl FnOnce() -> T) -> (Window, T) {
        let ticks = fleet::clock_ticks_per_sec();
        let runs0 = fleet::runs(d.addr);
        let (cpu0, machine0, t0) = (
            fleet::cpu_ticks(d.pid()),
            fleet::machine_ticks(),
            Instant::now(),
        );
        let out = during();
        let (cpu1, machine1, secs) = (
            fleet::cpu_ticks(d.pid()),
            fleet::machine_ticks(),
            t0.elapsed().as_secs_f64(),
        );
        let runs1 = fleet::runs(d.addr);
        let mut cadence: Vec<(String, f64)> = runs1
            .iter()
            .map(|(name, r)| {
                let before = runs0.get(name).copied().unwrap_or(0);
                (name.clone(), (r - before) as f64 / secs)
            })
            .collect();
        cadence.sort_by(|a, b| a.1.total_cmp(&b.1));
        let window = Window {
            secs,
            cpu: (cpu1 - cpu0) as f64 / ticks / secs * 100.0,
            machine: (machine1.0 - machine0.0) as f64 / (machine1.1 - machine0.1).max(1) as f64
                * 100.0,
            mem: d.mem(),
            cadence,
        };
        println!(
            "  window {:.1} s: daemon CPU {:.1} % of one core; machine busy {:.0} % of {} cores; \
             RSS {:.1} MiB (anon {:.1}, file {:.1})",
            window.secs,
            window.cpu,
            window.machine,
            fleet::cores(),
            mib(window.mem.rss),
            mib(window.mem.anon),
            mib(window.mem.file)
        );
        (window, out)
    }

    pub fn sleep(d: &Daemon, secs: u64) -> Window {
        Window::over(d, || std::thread::sleep(Duration::from_secs(secs))).0
    }

    /// The lowest cadence, and a summary: min and median overall and the min per plugin kind.
    pub fn cadence(&self) -> (f64, String) {
        let all: Vec<f64> = self.cadence.iter().map(|c| c.1).collect();
        let kinds: Vec<String> = ["rust", "qjs", "py"]
            .iter()
            .filter_map(|k| {
                let min = self
                    .cadence
                    .iter()
                    .find(|c| c.0.starts_with(&format!("{k}-")))?;
                Some(format!("{k} {:.0}", min.1 * 100.0))
            })
            .collect();
        let below = all.iter().filter(|c| **c < 0.9).count();
        let min = all.first().copied().unwrap_or(0.0);
        let summary = format!(
            "min {:.0} % ({}), median {:.0} %, {below} below 90 %",
            min * 100.0,
            kinds.join(", "),
            median(all) * 100.0
        );
        (min, summary)
    }
}
