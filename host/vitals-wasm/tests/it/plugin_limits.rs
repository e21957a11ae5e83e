//! Sandbox limits with real guest components: each limit as an obeyed/violated pair.

use std::time::{Duration, Instant};

use vitals::{Check, Outcome, Status};
use vitals::{MetricsSource, MetricsWriter};
use vitals_test_support::{guests, http, probe, wait};
use vitals_wasm::{
    PluginCheck, PluginError, PluginGrants, PluginRuntime, QuarantinePolicy, RunLimits,
    RuntimeConfig,
};

use crate::support;

fn runtime() -> PluginRuntime {
    PluginRuntime::new(RuntimeConfig::default()).expect("plugin runtime")
}

/// Load guest `name` with `config` and run it once under `limits`.
async fn run(
    rt: &PluginRuntime,
    name: &str,
    config: &[(&str, &str)],
    limits: RunLimits,
) -> Outcome {
    let loaded = rt
        .load(&guests::component(name), support::grants(config))
        .await
        .expect("guest loads");
    let check =
        PluginCheck::new(rt, name, loaded, limits, QuarantinePolicy::default()).expect("check");
    check.run().await
}

fn deadline(ms: u64) -> RunLimits {
    RunLimits {
        deadline: Duration::from_millis(ms),
        ..RunLimits::default()
    }
}

#[tokio::test]
async fn a_quick_plugin_passes_within_its_deadline() {
    let rt = runtime();
    let outcome = run(&rt, "noop", &[], deadline(500)).await;
    assert_eq!(outcome.status, Status::Pass, "{outcome:?}");
}

#[tokio::test]
async fn a_spinning_plugin_fails_at_its_deadline() {
    let rt = runtime();
    let loaded = rt
        .load(&guests::component("spin-loop"), PluginGrants::default())
        .await
        .unwrap();
    let check = PluginCheck::new(
        &rt,
        "spin",
        loaded,
        deadline(500),
        QuarantinePolicy::default(),
    )
    .unwrap();
    let started = Instant::now();
    let outcome = check.run().await;
    let took = started.elapsed();
    assert_eq!(outcome.status, Status::Fail);
    assert_eq!(outcome.output, "deadline 500ms exceeded");
    assert!(
        took >= Duration::from_millis(500) && took < Duration::from_millis(1500),
        "{took:?}"
    );
}

#[tokio::test]
async fn memory_within_the_limit_is_allowed_and_its_peak_reported() {
    let rt = runtime();
    let outcome = run(&rt, "memory-hog", &[("mib", "8")], RunLimits::default()).await;
    assert_eq!(outcome.status, Status::Pass, "{outcome:?}");
    let peak = outcome.details["memory_peak_bytes"].as_u64().unwrap();
    assert!(((8 << 20)..=(64 << 20)).contains(&peak), "peak {peak}");
}

#[tokio::test]
async fn memory_past_the_limit_fails_with_the_limit_named() {
    let rt = runtime();
    let outcome = run(&rt, "memory-hog", &[("mib", "200")], RunLimits::default()).await;
    assert_eq!(outcome.status, Status::Fail);
    assert_eq!(outcome.output, "memory limit 64 MiB exceeded");
    let peak = outcome.details["memory_peak_bytes"].as_u64().unwrap();
    assert!(peak <= 64 << 20, "peak {peak} must stay under the cap");
}

#[tokio::test]
async fn shallow_recursion_passes() {
    let rt = runtime();
    let outcome = run(
        &rt,
        "deep-recursion",
        &[("depth", "100")],
        RunLimits::default(),
    )
    .await;
    assert_eq!(outcome.status, Status::Pass, "{outcome:?}");
}

#[tokio::test]
async fn unbounded_recursion_fails_with_stack_overflow() {
    let rt = runtime();
    let outcome = run(
        &rt,
        "deep-recursion",
        &[("depth", "100000000")],
        RunLimits::default(),
    )
    .await;
    assert_eq!(outcome.status, Status::Fail);
    assert_eq!(outcome.output, "stack overflow");
}

#[tokio::test]
async fn small_output_is_kept_whole() {
    let rt = runtime();
    let outcome = run(&rt, "big-output", &[("bytes", "100")], RunLimits::default()).await;
    assert_eq!(outcome.status, Status::Pass, "{outcome:?}");
    assert!(
        outcome.output.len() >= 100 && !outcome.output.contains("truncated"),
        "{}",
        outcome.output
    );
}

#[tokio::test]
async fn output_just_past_the_cap_is_truncated_with_a_marker_and_keeps_its_status() {
    let rt = runtime();
    let outcome = run(
        &rt,
        "big-output",
        &[("bytes", "5000")],
        RunLimits::default(),
    )
    .await;
    assert_eq!(outcome.status, Status::Pass, "{outcome:?}");
    assert!(
        outcome.output.ends_with("… (truncated 904 bytes)"),
        "{}",
        outcome.output
    );
    let details = run(
        &rt,
        "big-output",
        &[("bytes", "10"), ("details", "3"), ("detail_bytes", "5000")],
        RunLimits::default(),
    )
    .await;
    assert_eq!(details.status, Status::Pass, "{details:?}");
    for i in 0..3 {
        assert!(
            details.details.contains_key(&format!("detail_{i}")),
            "{details:?}"
        );
    }
    for (k, v) in &details.details {
        let v = v.as_str().unwrap_or_default();
        assert!(v.len() < 4096 + 64, "detail {k} not truncated");
    }
    assert!(
        details.details.values().any(|v| v
            .as_str()
            .is_some_and(|v| v.ends_with("(truncated 904 bytes)"))),
        "{details:?}"
    );
    // Together far over the cap: 32 details of 3,000 bytes are 96,000 bytes, 23 times it.
    let all = run(
        &rt,
        "big-output",
        &[("bytes", "10"), ("details", "32"), ("detail_bytes", "3000")],
        RunLimits::default(),
    )
    .await;
    assert_eq!(all.status, Status::Fail, "{all:?}");
    assert!(
        all.output
            .starts_with("output limit 4 KiB exceeded: the result is "),
        "{}",
        all.output
    );
}

#[tokio::test]
async fn output_far_past_the_cap_fails_the_run_and_says_how_much() {
    let rt = runtime();
    let outcome = run(
        &rt,
        "big-output",
        &[("bytes", "100000")],
        RunLimits::default(),
    )
    .await;
    assert_eq!(outcome.status, Status::Fail);
    assert_eq!(
        outcome.output,
        "output limit 4 KiB exceeded: output text is 100000 bytes"
    );
    for (k, v) in &outcome.details {
        assert!(v.to_string().len() < 4096 + 64, "detail {k} not capped");
    }
    let too_many = run(
        &rt,
        "big-output",
        &[("bytes", "10"), ("details", "100")],
        RunLimits::default(),
    )
    .await;
    assert_eq!(too_many.status, Status::Fail);
    assert_eq!(
        too_many.output,
        "output limit 4 KiB exceeded: 100 details, at most 32 allowed"
    );
}

#[tokio::test]
async fn a_few_log_lines_are_all_written() {
    let rt = runtime();
    let loaded = rt
        .load(
            &guests::component("log-flood"),
            support::grants(&[("lines", "10")]),
        )
        .await
        .unwrap();
    let check = PluginCheck::new(
        &rt,
        "quiet",
        loaded,
        RunLimits::default(),
        QuarantinePolicy::default(),
    )
    .unwrap();
    let outcome = check.run().await;
    assert_eq!(outcome.status, Status::Pass, "{outcome:?}");
    assert_eq!(check.stats().logs_emitted(), 10);
    assert_eq!(check.stats().logs_dropped(), 0);
}

/// Health is about the dependency, not about how chatty the check is: a passing check that logs
/// past the rate limit stays `pass`, and its drops are counted in its details, `/plugins` and the
/// metrics.
#[tokio::test]
async fn a_log_flood_is_rate_limited_and_the_passing_check_stays_pass_with_the_drops_counted() {
    let rt = runtime();
    let loaded = rt
        .load(
            &guests::component("log-flood"),
            support::grants(&[("lines", "1000")]),
        )
        .await
        .unwrap();
    let check = PluginCheck::new(
        &rt,
        "flood",
        loaded,
        RunLimits::default(),
        QuarantinePolicy::default(),
    )
    .unwrap();
    let outcome = check.run().await;
    assert_eq!(outcome.status, Status::Pass, "{outcome:?}");
    assert_eq!(outcome.output, "logged 1000 lines");
    let (emitted, dropped) = (check.stats().logs_emitted(), check.stats().logs_dropped());
    assert_eq!(emitted + dropped, 1000);
    assert!(
        (50..=70).contains(&emitted),
        "burst of 50 plus refill, got {emitted}"
    );
    assert_eq!(outcome.details["logs_dropped"], dropped, "{outcome:?}");
    let view = rt.registry().to_json();
    assert_eq!(view[0]["name"], "flood");
    assert_eq!(view[0]["logs_dropped"], dropped, "{view}");
    let mut metrics = MetricsWriter::new();
    rt.registry().render(&mut metrics);
    let metrics = metrics.finish();
    assert!(
        metrics.contains(&format!(
            "vitals_plugin_log_lines_dropped_total{{plugin=\"flood\"}} {dropped}\n"
        )),
        "{metrics}"
    );
    // Each run's detail counts that run's drops; the view and the metric keep the total.
    let second = check.run().await;
    assert_eq!(second.status, Status::Pass, "{second:?}");
    let total = check.stats().logs_dropped();
    assert!(total > dropped, "second run dropped lines too");
    assert_eq!(
        second.details["logs_dropped"],
        total - dropped,
        "{second:?}"
    );
}

#[tokio::test]
async fn a_panic_fails_the_run_with_the_trap_and_the_panic_message() {
    let rt = runtime();
    let outcome = run(&rt, "panicker", &[], RunLimits::default()).await;
    assert_eq!(outcome.status, Status::Fail);
    assert!(
        outcome
            .output
            .starts_with("trap: wasm `unreachable` instruction executed"),
        "{}",
        outcome.output
    );
    assert!(outcome.output.contains("panicked at"), "{}", outcome.output);
}

#[tokio::test]
async fn a_trapped_plugin_runs_cleanly_next_time_in_a_fresh_instance() {
    let rt = runtime();
    let loaded = rt
        .load(
            &guests::component("memory-hog"),
            support::grants(&[("mib", "200")]),
        )
        .await
        .unwrap();
    let hog = PluginCheck::new(
        &rt,
        "hog",
        loaded,
        RunLimits::default(),
        QuarantinePolicy::default(),
    )
    .unwrap();
    assert_eq!(hog.run().await.status, Status::Fail);
    // The same pre-instantiated component still runs other plugins and itself.
    assert_eq!(hog.run().await.output, "memory limit 64 MiB exceeded");
    assert_eq!(
        run(&rt, "noop", &[], RunLimits::default()).await.status,
        Status::Pass
    );
}

#[tokio::test]
async fn a_plugin_that_traps_in_describe_is_rejected_at_load_naming_the_file() {
    let rt = runtime();
    let file = guests::component("trap-describe");
    let err = rt.load(&file, PluginGrants::default()).await.unwrap_err();
    assert!(matches!(err, PluginError::Describe { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains(&file.display().to_string()) && msg.contains("describe() failed: trap:"),
        "{msg}"
    );
}

#[tokio::test]
async fn a_file_that_is_not_a_component_is_rejected_with_a_clear_error() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("junk.wasm");
    std::fs::write(&file, b"\0asm not really").unwrap();
    let err = rt.load(&file, PluginGrants::default()).await.unwrap_err();
    assert!(matches!(err, PluginError::Compile { .. }), "{err}");
    assert!(err.to_string().contains("junk.wasm"), "{err}");
}

#[tokio::test]
async fn a_component_of_another_world_is_rejected_naming_the_world_and_file() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in [
        ("empty.wasm", "(component)"),
        (
            "alien.wasm",
            "(component (import \"evil:net/raw-socket\" (func)))",
        ),
    ] {
        let file = dir.path().join(name);
        // The loader takes the binary format only.
        std::fs::write(&file, wat::parse_str(text).unwrap()).unwrap();
        let err = rt.load(&file, PluginGrants::default()).await.unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, PluginError::WrongWorld { .. }), "{msg}");
        assert!(
            msg.contains("does not implement vitals:check/plugin@0.2.0") && msg.contains(name),
            "{msg}"
        );
    }
}

#[tokio::test]
async fn a_component_using_a_proposal_that_is_off_is_rejected_naming_the_proposal() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    for (name, text, proposal) in [
        (
            "threads.wasm",
            "(component (core module (memory 1 1 shared)))",
            "`threads`",
        ),
        (
            "gc.wasm",
            "(component (core module (type (struct (field i32)))))",
            "`gc`",
        ),
        (
            "tail-call.wasm",
            "(component (core module (func $f return_call $f)))",
            "`tail-call`",
        ),
    ] {
        let file = dir.path().join(name);
        std::fs::write(&file, wat::parse_str(text).unwrap()).unwrap();
        let err = rt.load(&file, PluginGrants::default()).await.unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, PluginError::Compile { .. }), "{msg}");
        assert!(
            msg.contains(name)
                && msg.contains(&format!("uses the WebAssembly proposal {proposal}"))
                && !msg.contains('\n'),
            "{msg}"
        );
    }
    // The same engine compiles a component that uses only what is on.
    rt.load(&guests::component("noop"), PluginGrants::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_file_past_the_size_cap_is_rejected_before_compiling() {
    let rt = PluginRuntime::new(RuntimeConfig {
        max_file_size: vitals_wasm::ByteSize::kib(1),
        ..RuntimeConfig::default()
    })
    .unwrap();
    let err = rt
        .load(&guests::component("noop"), PluginGrants::default())
        .await
        .unwrap_err();
    assert!(matches!(err, PluginError::TooLarge { .. }), "{err}");
    assert_eq!(rt.cache().compiles(), 0);
}

/// Every hostile guest at once in a running engine, each misbehaving on every run, while
/// probes hit the server over real sockets: no probe fails or is slow, and each check ends with
/// its own status and reason (a log flood only loses its extra lines: it keeps passing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_stay_fast_while_every_hostile_plugin_misbehaves() {
    let _alone = support::HEAVY.write().await;
    let rt = runtime();
    /// Guest, its config, the status its runs must end with and the start of their output.
    type Hostile = (
        &'static str,
        &'static [(&'static str, &'static str)],
        Status,
        &'static str,
    );
    let hostile: [Hostile; 6] = [
        ("spin-loop", &[], Status::Fail, "deadline 300ms exceeded"),
        (
            "memory-hog",
            &[("mib", "200")],
            Status::Fail,
            "memory limit 64 MiB exceeded",
        ),
        (
            "deep-recursion",
            &[("depth", "100000000")],
            Status::Fail,
            "stack overflow",
        ),
        (
            "panicker",
            &[],
            Status::Fail,
            "trap: wasm `unreachable` instruction executed",
        ),
        (
            "big-output",
            &[("bytes", "100000")],
            Status::Fail,
            "output limit 4 KiB exceeded",
        ),
        (
            "log-flood",
            &[("lines", "100000")],
            Status::Pass,
            "logged 100000 lines",
        ),
    ];
    let mut builder = vitals::Vitals::builder().evaluator_config(vitals::EvaluatorConfig {
        heartbeat: Duration::from_millis(100),
        ..vitals::EvaluatorConfig::default()
    });
    for (guest, config, _, _) in hostile {
        let loaded = rt
            .load(&guests::component(guest), support::grants(config))
            .await
            .unwrap();
        // The spinner's deadline is what it tests. The others end at their own limit or finish
        // (100,000 logging host calls: 0.1 s idle, over 0.3 s on a busy 2-core machine): their
        // deadline only bounds that work.
        let deadline_ms = if guest == "spin-loop" { 300 } else { 10_000 };
        let check = PluginCheck::new(
            &rt,
            guest,
            loaded,
            deadline(deadline_ms),
            // Keep them running: quarantine would hide the misbehaviour this test wants.
            QuarantinePolicy {
                threshold: u32::MAX,
                ..QuarantinePolicy::default()
            },
        )
        .unwrap();
        builder.add_check(vitals::CheckSpec::new(guest, check).with_settings(
            vitals::CheckSettings {
                interval: Duration::from_millis(100),
                timeout: Duration::from_millis(deadline_ms) + Duration::from_secs(1),
                critical: false,
                ..vitals::CheckSettings::default()
            },
        ));
    }
    let (vitals, evaluator) = builder.build();
    let stop = tokio_util::sync::CancellationToken::new();
    tokio::spawn(evaluator.run(stop.clone()));
    // The probes are served as the daemon serves them: on a thread and runtime of their own.
    let addr = http::serve_on_thread(vitals.router());
    // Readiness is "starting" until the first results: probe the running service.
    wait::until_async("the service is ready", wait::QUICK, async || {
        vitals.snapshot().overall.status != vitals::Status::Unknown
    })
    .await;
    let live = probe::ProbeLoop::start(addr, "/health/live", 200, Duration::from_millis(5));
    let ready = probe::ProbeLoop::start(addr, "/health/ready", 200, Duration::from_millis(5));
    // Probe for 3 s at least, and until every guest has misbehaved twice.
    tokio::time::sleep(Duration::from_secs(3)).await;
    wait::until_async(
        "every hostile check has run twice",
        wait::QUICK,
        async || {
            let snap = vitals.snapshot();
            hostile
                .iter()
                .all(|(guest, ..)| snap.check(guest).is_some_and(|c| c.runs >= 2))
        },
    )
    .await;
    let (live, ready) = (live.stop(), ready.stop());
    for stats in [&live, &ready] {
        assert!(stats.sent > 100, "{stats:?}");
        probe::assert_fast(
            stats,
            Duration::from_millis(100),
            "while every hostile plugin misbehaved",
        );
    }
    let snap = vitals.snapshot();
    for (guest, _, status, output) in hostile {
        let c = snap.check(guest).unwrap();
        let last = c.last.as_ref().unwrap();
        assert_eq!(last.outcome.status, status, "{guest}: {:?}", last.outcome);
        assert!(
            last.outcome.output.starts_with(output),
            "{guest}: {}",
            last.outcome.output
        );
        assert!(c.runs >= 2, "{guest} ran {} times", c.runs);
    }
    stop.cancel();
}
