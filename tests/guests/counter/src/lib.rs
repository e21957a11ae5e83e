//! Counts its runs in instance state: `run N` tells whether an instance was reused. Config
//! `panic_at` panics on that run, `spin_at` loops forever on that run, `grow_mib` keeps that
//! many more MiB alive on every run (state that a warm instance carries over).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use vitals_guest::config::Key;
use vitals_guest::{CheckResult, Description, Plugin, config};

static RUNS: AtomicU64 = AtomicU64::new(0);
static KEPT: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

struct Counter;

impl Plugin for Counter {
    fn describe() -> Description {
        Description::new("counter", env!("CARGO_PKG_VERSION"), "Counts its runs")
            .config(Key::optional("panic_at", "Panic on this run"))
            .config(Key::optional("spin_at", "Spin forever on this run"))
            .config(Key::optional("grow_mib", "MiB kept per run").default(0))
    }

    fn check() -> Result<CheckResult, String> {
        let run = RUNS.fetch_add(1, Ordering::Relaxed) + 1;
        if config::get_parsed::<u64>("panic_at")? == Some(run) {
            panic!("asked to panic on run {run}");
        }
        if config::get_parsed::<u64>("spin_at")? == Some(run) {
            let mut x: u64 = 0;
            loop {
                x = std::hint::black_box(x.wrapping_add(1));
            }
        }
        let grow: usize = config::parsed_or("grow_mib", 0)?;
        if grow > 0 {
            let mut kept = KEPT.lock().map_err(|e| e.to_string())?;
            kept.push(vec![1u8; grow << 20]);
        }
        Ok(CheckResult::pass(format!("run {run}")).observed(run as f64, "runs"))
    }
}

vitals_guest::export!(Counter);
