//! Spins forever in `check`: the host's deadline (epoch interruption) must stop it.

use std::hint::black_box;

use vitals_guest::{CheckResult, Description, Plugin};

struct SpinLoop;

impl Plugin for SpinLoop {
    fn describe() -> Description {
        Description::new(
            "spin-loop",
            env!("CARGO_PKG_VERSION"),
            "Never returns from check",
        )
    }

    fn check() -> Result<CheckResult, String> {
        let mut spins: u64 = 0;
        loop {
            spins = black_box(spins.wrapping_add(1));
        }
    }
}

vitals_guest::export!(SpinLoop);
