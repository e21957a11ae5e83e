//! One run of a plugin: a fresh store, WASI context and instance, under hard limits.
//!
//! A trapped instance is never reused: every call gets its own store, so a plugin that
//! corrupted its memory or ran past its deadline starts clean next time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::{Instance, InstancePre};
use wasmtime::{Store, Trap};

use crate::capabilities::context::PluginContext;
use crate::runtime::capture::BoundedCapture;
use crate::runtime::contract::{self, Contract, Described};
use crate::runtime::failure::RunFailure;
use crate::runtime::lift::{CheckReturn, LiftCaps, with_caps};
use crate::runtime::limits::{MemoryLimitExceeded, RunLimits};
use crate::runtime::store::{DeadlineExceeded, StoreData, new_store};

/// Lines of the guest's own output put into the reason of a trap.
const REASON_LINES: usize = 20;

/// Slack for the tokio backstop after the epoch deadline: the epoch check fires first unless
/// the guest is stuck in a host call.
const BACKSTOP_SLACK: Duration = Duration::from_millis(100);

/// What one call returned, with what it cost.
#[derive(Debug)]
pub struct RunReport<T> {
    /// The call's return value, or why there is none.
    pub result: Result<T, RunFailure>,
    /// Most linear memory the instance held, in bytes.
    pub peak_memory: u64,
    /// Wall time of the whole run (store setup, instantiation, call).
    pub wall: Duration,
    /// Requests the host refused during the run (outgoing HTTP to an origin not granted).
    pub denied: Vec<String>,
}

/// Which export to call.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Call {
    Describe(Contract),
    Check,
}

/// What the export returned, lifted within the run's output caps.
pub(crate) enum Returned {
    Described(Described),
    Checked(CheckReturn),
}

/// An instance in its own store, with its captured output. Used for one call (a fresh run) or,
/// when the operator opts in, kept warm for several.
pub(crate) struct Sandbox {
    store: Store<StoreData>,
    instance: Instance,
    capture: BoundedCapture,
    created: Instant,
    calls: u32,
}

impl Sandbox {
    /// Instantiate `pre` in a fresh store; instantiation counts against `deadline`.
    async fn create(
        engine: &wasmtime::Engine,
        pre: &InstancePre<StoreData>,
        plugin: &Arc<PluginContext>,
        limits: &RunLimits,
        deadline: Instant,
    ) -> Result<Sandbox, (RunFailure, u64)> {
        let capture = capture_for(limits);
        let mut store =
            new_store(engine, plugin, limits, &capture, deadline).map_err(|f| (f, 0))?;
        let budget = deadline.saturating_duration_since(Instant::now()) + BACKSTOP_SLACK;
        let instantiated = tokio::time::timeout(budget, pre.instantiate_async(&mut store)).await;
        match instantiated {
            Ok(Ok(instance)) => Ok(Sandbox {
                store,
                instance,
                capture,
                created: Instant::now(),
                calls: 0,
            }),
            Ok(Err(error)) => {
                let peak = store.data().limiter.peak();
                Err((classify(&error, limits, &capture), peak))
            }
            Err(_elapsed) => Err((RunFailure::Deadline(limits.deadline), 0)),
        }
    }

    /// Call one export, under `deadline`.
    async fn call(
        &mut self,
        call: Call,
        limits: &RunLimits,
        deadline: Instant,
    ) -> Result<Returned, RunFailure> {
        if self.calls > 0 {
            // A warm instance: a new deadline, a new peak and a clean capture for this run.
            let state = self.store.data_mut();
            state.deadline = deadline;
            state.hooks.set_deadline(deadline);
            state.limiter.reset_peak();
            self.capture.clear();
            self.store.set_epoch_deadline(1);
        }
        self.calls += 1;
        let budget = deadline.saturating_duration_since(Instant::now()) + BACKSTOP_SLACK;
        let (instance, store) = (&self.instance, &mut self.store);
        let caps = match call {
            Call::Describe(_) => Described::CAPS,
            Call::Check => LiftCaps {
                text: usize::try_from(limits.output.bytes()).unwrap_or(usize::MAX),
                details: limits.max_details,
            },
        };
        let work = async {
            // Typed by hand (not through bindgen's `Plugin`) so the result is lifted within
            // the caps: see `lift`.
            match call {
                Call::Describe(version) => Ok(Returned::Described(
                    contract::describe(version, instance, &mut *store).await?,
                )),
                Call::Check => {
                    let func =
                        instance.get_typed_func::<(), (CheckReturn,)>(&mut *store, "check")?;
                    let (r,) = func.call_async(&mut *store, ()).await?;
                    Ok(Returned::Checked(r))
                }
            }
        };
        let outcome = tokio::time::timeout(budget, with_caps(caps, work)).await;
        self.store.data().plugin.report_dropped_logs();
        match outcome {
            Ok(Ok(returned)) => Ok(returned),
            Ok(Err(error)) => Err(classify(&error, limits, &self.capture)),
            Err(_elapsed) => Err(RunFailure::Deadline(limits.deadline)),
        }
    }

    fn peak(&self) -> u64 {
        self.store.data().limiter.peak()
    }

    fn take_denied(&mut self) -> Vec<String> {
        self.store.data_mut().hooks.take_denied()
    }

    /// Whether this instance may serve another run under `policy`.
    pub(crate) fn reusable(&self, policy: &WarmPolicy) -> bool {
        self.calls < policy.max_runs && self.created.elapsed() < policy.max_age
    }
}

/// When a warm instance is retired: after `max_runs` runs or `max_age`, whichever comes first
/// (and always after a trap, a timeout or any limit hit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WarmPolicy {
    /// Runs served by one instance.
    pub max_runs: u32,
    /// Age of one instance.
    pub max_age: Duration,
}

/// Instantiate `pre` in a fresh sandbox and call one export.
pub(crate) async fn run_call(
    engine: &wasmtime::Engine,
    pre: &InstancePre<StoreData>,
    plugin: &Arc<PluginContext>,
    limits: &RunLimits,
    call: Call,
) -> RunReport<Returned> {
    let (report, _) = run_in(None, engine, pre, plugin, limits, call).await;
    report
}

/// Call one export on `warm` if given, else on a fresh instance. Returns the report and the
/// instance when the run completed cleanly (the caller decides whether to keep it warm); an
/// instance whose run failed in any way is dropped here and never used again.
pub(crate) async fn run_in(
    warm: Option<Sandbox>,
    engine: &wasmtime::Engine,
    pre: &InstancePre<StoreData>,
    plugin: &Arc<PluginContext>,
    limits: &RunLimits,
    call: Call,
) -> (RunReport<Returned>, Option<Sandbox>) {
    let started = Instant::now();
    let deadline = started + limits.deadline;
    let mut sandbox = match warm {
        Some(sandbox) => sandbox,
        None => match Sandbox::create(engine, pre, plugin, limits, deadline).await {
            Ok(sandbox) => sandbox,
            Err((failure, peak_memory)) => {
                let report = RunReport {
                    result: Err(failure),
                    peak_memory,
                    wall: started.elapsed(),
                    denied: Vec::new(),
                };
                return (report, None);
            }
        },
    };
    let result = sandbox.call(call, limits, deadline).await;
    let report = RunReport {
        peak_memory: sandbox.peak(),
        wall: started.elapsed(),
        denied: sandbox.take_denied(),
        result,
    };
    let keep = report.result.is_ok().then_some(sandbox);
    (report, keep)
}

/// Where the time of one fresh run goes, phase by phase (see [`profile_fresh_run`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct FreshRunPhases {
    /// Store, WASI context, limiter and epoch callback.
    pub store: Duration,
    /// Instantiating the pre-linked component in the store (a pool slot, copy-on-write memory).
    pub instantiate: Duration,
    /// Looking up and calling `check`, lifting its result within the caps, post-return.
    pub call: Duration,
    /// Dropping the store and instance (the pool slot is reset for the next run).
    pub drop: Duration,
}

/// One fresh `check` run taken apart: the same steps as [`run_in`] with no warm instance, each
/// timed. For the `plugin_run` benchmark's breakdown.
pub(crate) async fn profile_fresh_run(
    engine: &wasmtime::Engine,
    pre: &InstancePre<StoreData>,
    plugin: &Arc<PluginContext>,
    limits: &RunLimits,
) -> Result<FreshRunPhases, RunFailure> {
    let t0 = Instant::now();
    let deadline = t0 + limits.deadline;
    let capture = capture_for(limits);
    let mut store = new_store(engine, plugin, limits, &capture, deadline)?;
    let t1 = Instant::now();
    let instance = pre
        .instantiate_async(&mut store)
        .await
        .map_err(|e| classify(&e, limits, &capture))?;
    let t2 = Instant::now();
    let mut sandbox = Sandbox {
        store,
        instance,
        capture,
        created: t2,
        calls: 0,
    };
    sandbox.call(Call::Check, limits, deadline).await?;
    let t3 = Instant::now();
    drop(sandbox);
    let t4 = Instant::now();
    Ok(FreshRunPhases {
        store: t1 - t0,
        instantiate: t2 - t1,
        call: t3 - t2,
        drop: t4 - t3,
    })
}

/// The guest's stdout and stderr of one run, kept up to the run's output cap.
fn capture_for(limits: &RunLimits) -> BoundedCapture {
    BoundedCapture::new(usize::try_from(limits.output.bytes()).unwrap_or(usize::MAX))
}

/// Map a wasmtime error to the reason the operator sees.
fn classify(error: &wasmtime::Error, limits: &RunLimits, capture: &BoundedCapture) -> RunFailure {
    if error.is::<DeadlineExceeded>() {
        return RunFailure::Deadline(limits.deadline);
    }
    if error.is::<MemoryLimitExceeded>() {
        return RunFailure::Memory(limits.memory);
    }
    if let Some(full) = error.downcast_ref::<wasmtime::PoolConcurrencyLimitError>() {
        // Every pool slot is taken (warm instances hold one each): the host's sizing, not the
        // guest's doing.
        return RunFailure::Setup(format!(
            "no free instance slot ({full}); raise plugins.max_instances"
        ));
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::StackOverflow) => RunFailure::StackOverflow,
        Some(Trap::Interrupt) => RunFailure::Deadline(limits.deadline),
        Some(trap) => {
            let trap = trap.to_string();
            let trap = trap.strip_prefix("wasm trap: ").unwrap_or(&trap);
            RunFailure::Trap(trap_reason(trap, &capture.text()))
        }
        None => RunFailure::Trap(trap_reason(&format!("{error:#}"), &capture.text())),
    }
}

/// A trap's reason with what the guest printed before it: a Rust panic's message on the first
/// line, then the last lines of anything else it wrote (a Python traceback, a JavaScript
/// exception with its stack), so that an author reads their own error, not only the trap.
fn trap_reason(trap: &str, output: &str) -> String {
    let lines: Vec<&str> = output.lines().collect();
    let panic_at = lines.iter().rposition(|l| l.contains("panicked at"));
    let mut reason = match panic_at.and_then(|i| panic_message(&lines[i..])) {
        Some(panic) => format!("{trap} ({panic})"),
        None => trap.to_owned(),
    };
    let before = &lines[..panic_at.unwrap_or(lines.len())];
    let shown = &before[before.len().saturating_sub(REASON_LINES)..];
    for line in shown.iter().filter(|l| !l.trim().is_empty()) {
        reason.push('\n');
        reason.push_str(line.trim_end());
    }
    reason
}

/// The panic line and message of a Rust panic, from its first line on:
/// "panicked at src/lib.rs:3:5: boom".
fn panic_message(lines: &[&str]) -> Option<String> {
    let (first, rest) = lines.split_first()?;
    let at = first.find("panicked at").map_or(*first, |i| &first[i..]);
    let message: Vec<&str> = rest
        .iter()
        .copied()
        .take_while(|l| !l.starts_with("note:"))
        .collect();
    Some(format!("{at} {}", message.join(" ")).trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ByteSize;

    #[test]
    fn a_rust_panic_reads_as_its_location_and_message_without_the_backtrace_note() {
        let stderr = "thread '<unnamed>' (1) panicked at src/lib.rs:11:24:\nboom\nnote: run with `RUST_BACKTRACE=1`";
        assert_eq!(
            trap_reason("wasm `unreachable` instruction executed", stderr),
            "wasm `unreachable` instruction executed (panicked at src/lib.rs:11:24: boom)"
        );
    }

    #[test]
    fn what_the_guest_printed_before_a_trap_follows_the_trap_line() {
        let stderr = "Traceback (most recent call last):\n  File \"app.py\", line 9, in check\nValueError: boom\n\
                      thread '<unnamed>' panicked at runtime/src/lib.rs:5:9:\nPython function threw\nnote: x";
        assert_eq!(
            trap_reason("unreachable", stderr),
            "unreachable (panicked at runtime/src/lib.rs:5:9: Python function threw)\n\
             Traceback (most recent call last):\n  File \"app.py\", line 9, in check\nValueError: boom"
        );
        let long: String = (1..=30).map(|i| format!("line {i}\n")).collect();
        let reason = trap_reason("unreachable", &long);
        assert!(reason.starts_with("unreachable\nline 11\n"), "{reason}");
        assert!(reason.ends_with("\nline 30"), "{reason}");
        assert_eq!(trap_reason("unreachable", ""), "unreachable");
    }

    #[test]
    fn failures_read_as_the_operator_expects() {
        assert_eq!(
            RunFailure::Deadline(Duration::from_millis(500)).to_string(),
            "deadline 500ms exceeded"
        );
        assert_eq!(
            RunFailure::Memory(ByteSize::mib(64)).to_string(),
            "memory limit 64 MiB exceeded"
        );
        assert_eq!(RunFailure::StackOverflow.to_string(), "stack overflow");
    }
}
