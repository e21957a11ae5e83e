//! Allocates and touches memory in `check`.
//!
//! Config `mib`: allocate exactly that many MiB and pass (the obeyed case). Without it, allocate
//! 1 MiB chunks forever: the host's memory cap must stop it.

use std::hint::black_box;

use vitals_guest::config::Key;
use vitals_guest::{CheckResult, Description, Plugin, config};

const MIB: usize = 1024 * 1024;

struct MemoryHog;

impl Plugin for MemoryHog {
    fn describe() -> Description {
        Description::new("memory-hog", env!("CARGO_PKG_VERSION"), "Allocates memory").config(
            Key::optional("mib", "MiB to allocate (default: until refused)"),
        )
    }

    fn check() -> Result<CheckResult, String> {
        let limit: Option<usize> = config::get_parsed("mib")?;
        let mut chunks: Vec<Vec<u8>> = Vec::new();
        while limit.is_none_or(|limit| chunks.len() < limit) {
            // Non-zero fill so every page is really written, not just reserved.
            chunks.push(black_box(vec![0xA5; MIB]));
        }
        let total = black_box(&chunks).iter().map(Vec::len).sum::<usize>() / MIB;
        Ok(CheckResult::pass(format!("allocated {total} MiB")).observed(total as f64, "MiB"))
    }
}

vitals_guest::export!(MemoryHog);
