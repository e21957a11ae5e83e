//! The engine configured from a TOML file: the backpressure thresholds, dwell and Retry-After
//! the file sets are the ones the running engine uses (paused tokio time).

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use vitals::{HealthSnapshot, Vitals};

async fn wait_until(vitals: &Vitals, what: &str, cond: impl Fn(&HealthSnapshot) -> bool) {
    for _ in 0..2_000 {
        if cond(&vitals.snapshot()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting until {what}");
}

#[tokio::test(start_paused = true)]
async fn thresholds_dwell_and_retry_after_from_config_are_the_ones_used() {
    let text = r#"
[evaluator]
jitter = 0.0
[backpressure]
min_dwell = "3s"
retry_jitter = 0.0
[backpressure.channel]
warning = 30.0
critical = 50.0
overflow = 90.0
exit_ratio = 0.5
[backpressure.retry_after]
channel_critical = "42s"
"#;
    let cfg = vitals_daemon::parse_config(text, std::path::Path::new("t.toml")).unwrap();
    let mut b = vitals_daemon::builder_from_config(&cfg);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<u32>(10);
    let _probe = b.channel("jobs", &tx);
    let (vitals, evaluator) = b.build();
    tokio::spawn(evaluator.run(CancellationToken::new()));
    for i in 0..6 {
        tx.send(i).await.unwrap(); // 60 %: critical under these thresholds, normal by default
    }
    wait_until(&vitals, "shedding at 60 %", |s| !s.admission.is_open()).await;
    let rejected = vitals.backpressure().try_check().unwrap_err();
    assert_eq!(rejected.retry_after_secs, 42);
    // 40 % is below critical's entry (50) but above its exit (25): still shedding after the dwell.
    rx.try_recv().unwrap();
    rx.try_recv().unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(!vitals.snapshot().admission.is_open());
    // 20 % is below the exit: open once the 3 s dwell has passed.
    rx.try_recv().unwrap();
    rx.try_recv().unwrap();
    wait_until(&vitals, "open", |s| s.admission.is_open()).await;
}
