//! Warm instances (opt-in per plugin): reused for up to N runs or T time, never after a trap, a
//! timeout or a limit hit, and every run keeps its own deadline and memory cap.

use std::time::Duration;

use vitals::{Check, Status};
use vitals_test_support::guests;
use vitals_wasm::{
    PluginCheck, PluginGrants, PluginRuntime, QuarantinePolicy, RunLimits, RuntimeConfig,
    WarmPolicy,
};

async fn counter(
    config: &[(&str, &str)],
    warm: Option<WarmPolicy>,
    limits: RunLimits,
) -> PluginCheck {
    let rt = PluginRuntime::new(RuntimeConfig::default()).unwrap();
    let grants = PluginGrants {
        config: config
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        ..PluginGrants::default()
    };
    let loaded = rt
        .load(&guests::component("counter"), grants)
        .await
        .unwrap();
    let quarantine = QuarantinePolicy {
        threshold: u32::MAX,
        ..QuarantinePolicy::default()
    };
    PluginCheck::new(&rt, "counter", loaded, limits, quarantine)
        .unwrap()
        .with_warm_instances(warm)
}

fn warm(max_runs: u32) -> Option<WarmPolicy> {
    Some(WarmPolicy {
        max_runs,
        max_age: Duration::from_secs(600),
    })
}

async fn outputs(check: &PluginCheck, runs: usize) -> Vec<String> {
    let mut out = Vec::new();
    for _ in 0..runs {
        out.push(check.run().await.output);
    }
    out
}

#[tokio::test]
async fn by_default_every_run_gets_a_fresh_instance() {
    let check = counter(&[], None, RunLimits::default()).await;
    assert_eq!(outputs(&check, 3).await, ["run 1", "run 1", "run 1"]);
    assert_eq!(check.run().await.details["instance"], "fresh");
}

#[tokio::test]
async fn a_warm_instance_serves_up_to_its_run_limit_then_a_fresh_one_takes_over() {
    let check = counter(&[], warm(3), RunLimits::default()).await;
    assert_eq!(
        outputs(&check, 7).await,
        [
            "run 1", "run 2", "run 3", "run 1", "run 2", "run 3", "run 1"
        ]
    );
    let second = check.run().await;
    assert_eq!(second.output, "run 2");
    assert_eq!(second.details["instance"], "warm");
}

#[tokio::test]
async fn a_warm_instance_retires_after_its_max_age() {
    let policy = Some(WarmPolicy {
        max_runs: 100,
        max_age: Duration::from_millis(200),
    });
    let check = counter(&[], policy, RunLimits::default()).await;
    assert_eq!(outputs(&check, 2).await, ["run 1", "run 2"]);
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(outputs(&check, 1).await, ["run 1"]);
}

#[tokio::test]
async fn a_trap_retires_the_warm_instance() {
    let check = counter(&[("panic_at", "2")], warm(10), RunLimits::default()).await;
    let runs = outputs(&check, 3).await;
    assert_eq!(runs[0], "run 1");
    assert!(runs[1].starts_with("trap: "), "{}", runs[1]);
    assert_eq!(runs[2], "run 1", "a fresh instance after the trap");
}

#[tokio::test]
async fn a_warm_run_still_has_its_own_deadline() {
    let limits = RunLimits {
        deadline: Duration::from_millis(300),
        ..RunLimits::default()
    };
    let check = counter(&[("spin_at", "3")], warm(10), limits).await;
    let started = std::time::Instant::now();
    let runs = outputs(&check, 4).await;
    assert_eq!(runs, ["run 1", "run 2", "deadline 300ms exceeded", "run 1"]);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn state_carried_by_a_warm_instance_still_meets_the_memory_cap() {
    let check = counter(&[("grow_mib", "25")], warm(10), RunLimits::default()).await;
    let first = check.run().await;
    let second = check.run().await;
    let third = check.run().await;
    assert_eq!(
        (first.output.as_str(), second.output.as_str()),
        ("run 1", "run 2")
    );
    assert_eq!(third.status, Status::Fail);
    assert_eq!(third.output, "memory limit 64 MiB exceeded");
    assert_eq!(
        check.run().await.output,
        "run 1",
        "replaced by a fresh instance"
    );
}

#[tokio::test]
async fn when_warm_instances_hold_every_pool_slot_the_next_run_names_the_setting_to_raise() {
    let rt = PluginRuntime::new(RuntimeConfig {
        max_instances: 2,
        ..RuntimeConfig::default()
    })
    .unwrap();
    let mut checks = Vec::new();
    for name in ["first", "second", "third"] {
        let loaded = rt
            .load(&guests::component("counter"), PluginGrants::default())
            .await
            .unwrap();
        let check = PluginCheck::new(
            &rt,
            name,
            loaded,
            RunLimits::default(),
            QuarantinePolicy::default(),
        )
        .unwrap()
        .with_warm_instances(warm(100));
        checks.push(check);
    }
    // Two warm instances keep their slots between runs: within the pool, both pass.
    for check in &checks[..2] {
        assert_eq!(check.run().await.status, Status::Pass);
    }
    let third = checks[2].run().await;
    assert_eq!(third.status, Status::Fail);
    assert!(
        third.output.contains("raise plugins.max_instances") && third.output.contains("limit of 2"),
        "{}",
        third.output
    );
    // A slot given back is usable again.
    drop(checks.remove(0));
    assert_eq!(checks[1].run().await.status, Status::Pass);
}
