//! Recurses in `check`.
//!
//! Config `depth`: recurse that deep and pass (the obeyed case). Without it, recurse without end:
//! the host's stack cap must stop it.

use std::hint::black_box;

use vitals_guest::config::Key;
use vitals_guest::{CheckResult, Description, Plugin, config};

struct DeepRecursion;

/// One wasm call frame per level; `black_box` keeps LLVM from turning it into a loop.
fn dive(depth: u64) -> u64 {
    if depth == 0 {
        0
    } else {
        black_box(dive(black_box(depth - 1))) + 1
    }
}

impl Plugin for DeepRecursion {
    fn describe() -> Description {
        Description::new(
            "deep-recursion",
            env!("CARGO_PKG_VERSION"),
            "Recurses deeply",
        )
        .config(Key::optional("depth", "Recursion depth").default(u64::MAX))
    }

    fn check() -> Result<CheckResult, String> {
        let depth: u64 = config::parsed_or("depth", u64::MAX)?;
        let reached = dive(depth);
        Ok(CheckResult::pass(format!("recursed {reached} levels"))
            .observed(reached as f64, "levels"))
    }
}

vitals_guest::export!(DeepRecursion);
