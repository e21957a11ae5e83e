//! Waiting for something the daemon or the evaluator does: poll what it publishes (`/plugins`,
//! `/health/checks/NAME`, a snapshot, a log line, a file), end as soon as it shows, and give up
//! only after a bound derived from the work the wait queues behind. The bound is not a
//! measurement: it only catches a daemon that never publishes. Assertions about how fast the
//! product is (a cadence, a timeout, a drain window) are made apart from these waits.
//!
//! The bounds assume the worst machine the suite runs on: 2 cores, busy with two tests at once
//! (the test harness runs as many as there are cores) and an unrelated CPU hog. Work that takes
//! a second there on an idle machine takes 5-10 s.

use std::time::{Duration, Instant};

/// Work that takes well under a second on an idle machine: a few check runs, a config reload, a
/// file refused by its size, a heartbeat's expiry noticed, a stream's next message, a page
/// refresh.
pub const QUICK: Duration = Duration::from_secs(30);

/// Starting a process until it answers: a debug `vitals serve` (about a second on an idle
/// machine), chromedriver, a headless Chromium page.
pub const START: Duration = Duration::from_secs(60);

/// A Cranelift compile of a component, the biggest being the 12 MB JavaScript (StarlingMonkey)
/// and Python ones: 10-30 s on a busy 2-core machine, possibly queued behind one compile of a
/// test running beside it. Also covers the smaller Rust components and the runs after the load.
pub const COMPILE: Duration = Duration::from_secs(90);

/// How often a wait looks again.
pub const POLL: Duration = Duration::from_millis(10);

/// What a probe returns: done (with a value), or not yet (with what it saw, for the panic).
pub trait Seen {
    /// What the wait returns once the thing has shown.
    type Value;
    /// `Ok` when it has shown; `Err` with a description of the last state seen, if any.
    fn seen(self) -> Result<Self::Value, Option<String>>;
}

impl Seen for bool {
    type Value = ();
    fn seen(self) -> Result<(), Option<String>> {
        if self { Ok(()) } else { Err(None) }
    }
}

impl<T> Seen for Option<T> {
    type Value = T;
    fn seen(self) -> Result<T, Option<String>> {
        self.ok_or(None)
    }
}

/// `Err(last)`: not yet, and `last` is what was seen instead.
impl<T> Seen for Result<T, String> {
    type Value = T;
    fn seen(self) -> Result<T, Option<String>> {
        self.map_err(Some)
    }
}

fn give_up(what: &str, bound: Duration, last: Option<String>) -> ! {
    match last {
        Some(last) => {
            panic!("timed out after {bound:?} waiting until {what}; last seen: {last}")
        }
        None => panic!("timed out after {bound:?} waiting until {what}"),
    }
}

/// Poll `probe` (blocking the thread between looks) until it reports `what` has happened;
/// returns its value. Panics naming `what` (and the last state seen) after `bound`.
pub fn until<R: Seen>(what: &str, bound: Duration, mut probe: impl FnMut() -> R) -> R::Value {
    let started = Instant::now();
    let mut last = None;
    loop {
        match probe().seen() {
            Ok(value) => return value,
            Err(seen) => last = seen.or(last),
        }
        if started.elapsed() >= bound {
            give_up(what, bound, last);
        }
        std::thread::sleep(POLL);
    }
}

/// [`until`] for async tests: the probe may await, and the wait sleeps on the tokio timer.
pub async fn until_async<R: Seen>(
    what: &str,
    bound: Duration,
    mut probe: impl AsyncFnMut() -> R,
) -> R::Value {
    let started = Instant::now();
    let mut last = None;
    loop {
        match probe().await.seen() {
            Ok(value) => return value,
            Err(seen) => last = seen.or(last),
        }
        if started.elapsed() >= bound {
            give_up(what, bound, last);
        }
        tokio::time::sleep(POLL).await;
    }
}
