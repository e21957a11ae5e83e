//! Timing repeated runs for the benchmark harnesses.

use std::time::{Duration, Instant};

/// The durations of `runs` calls of `run` after `warmup` untimed ones, sorted ascending.
pub async fn run_times<T>(
    mut run: impl AsyncFnMut() -> T,
    warmup: usize,
    runs: usize,
) -> Vec<Duration> {
    for _ in 0..warmup {
        std::hint::black_box(run().await);
    }
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        std::hint::black_box(run().await);
        times.push(started.elapsed());
    }
    times.sort();
    times
}

/// The `p` quantile (0.0..=1.0) of ascending `sorted`.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}
