//! Transition logic, with tokio's clock paused so durations are exact.

use super::*;

fn fast() -> CircuitConfig {
    CircuitConfig {
        failure_threshold: 5,
        open_for: Duration::from_secs(30),
        success_threshold: 2,
        min_transition_interval: Duration::from_secs(1),
    }
}

fn fail(breaker: &CircuitBreaker, times: u32) {
    for _ in 0..times {
        breaker.record_failure();
    }
}

#[tokio::test(start_paused = true)]
async fn circuit_opens_after_five_consecutive_failures() {
    let b = CircuitBreaker::new(fast());
    fail(&b, 4);
    assert_eq!(b.state(), CircuitState::Closed);
    assert_eq!(b.allow(), Admission::Admit);
    fail(&b, 1);
    assert!(matches!(b.state(), CircuitState::Open { .. }));
    assert_eq!(
        b.allow(),
        Admission::Reject {
            retry_in: Duration::from_secs(30)
        }
    );
    assert_eq!(b.consecutive_failures(), 5);
}

#[tokio::test(start_paused = true)]
async fn a_success_resets_the_failure_count() {
    let b = CircuitBreaker::new(fast());
    fail(&b, 4);
    b.record_success();
    fail(&b, 4);
    assert_eq!(b.state(), CircuitState::Closed);
    assert_eq!(b.consecutive_failures(), 4);
}

#[tokio::test(start_paused = true)]
async fn open_circuit_half_opens_only_after_open_for() {
    let b = CircuitBreaker::new(fast());
    fail(&b, 5);
    tokio::time::advance(Duration::from_millis(29_900)).await;
    assert_eq!(
        b.allow(),
        Admission::Reject {
            retry_in: Duration::from_millis(100)
        }
    );
    tokio::time::advance(Duration::from_millis(100)).await;
    assert_eq!(b.allow(), Admission::Admit);
    assert_eq!(b.state(), CircuitState::HalfOpen);
}

#[tokio::test(start_paused = true)]
async fn half_open_closes_after_two_successes_and_reopens_on_failure() {
    let b = CircuitBreaker::new(fast());
    fail(&b, 5);
    tokio::time::advance(Duration::from_secs(30)).await;
    assert_eq!(b.allow(), Admission::Admit);
    b.record_success();
    assert_eq!(b.state(), CircuitState::HalfOpen);
    tokio::time::advance(Duration::from_secs(1)).await;
    b.record_success();
    assert_eq!(b.state(), CircuitState::Closed);

    tokio::time::advance(Duration::from_secs(1)).await;
    fail(&b, 5);
    tokio::time::advance(Duration::from_secs(30)).await;
    assert_eq!(b.allow(), Admission::Admit);
    b.record_failure();
    assert!(matches!(b.state(), CircuitState::Open { .. }));
    let names: Vec<_> = b.transitions().iter().map(|t| (t.from, t.to)).collect();
    assert_eq!(
        names,
        [
            ("closed", "open"),
            ("open", "half_open"),
            ("half_open", "closed"),
            ("closed", "open"),
            ("open", "half_open"),
            ("half_open", "open"),
        ]
    );
    assert_eq!(b.transitions_total(), 6);
}

#[tokio::test(start_paused = true)]
async fn transitions_closer_than_the_minimum_interval_are_deferred() {
    let b = CircuitBreaker::new(fast());
    fail(&b, 5);
    tokio::time::advance(Duration::from_secs(30)).await;
    assert_eq!(b.allow(), Admission::Admit);
    b.record_success();
    b.record_success();
    assert_eq!(
        b.state(),
        CircuitState::HalfOpen,
        "closing 0s after half-opening is too soon"
    );
    tokio::time::advance(Duration::from_millis(999)).await;
    b.record_success();
    assert_eq!(b.state(), CircuitState::HalfOpen);
    tokio::time::advance(Duration::from_millis(1)).await;
    b.record_success();
    assert_eq!(b.state(), CircuitState::Closed);
}

#[tokio::test(start_paused = true)]
async fn transition_history_keeps_the_last_fifty() {
    let mut cfg = fast();
    cfg.min_transition_interval = Duration::ZERO;
    cfg.open_for = Duration::ZERO;
    let b = CircuitBreaker::new(cfg);
    for _ in 0..30 {
        fail(&b, 5);
        assert_eq!(b.allow(), Admission::Admit);
    }
    assert_eq!(b.transitions_total(), 60);
    let kept = b.transitions();
    assert_eq!(kept.len(), 50);
    assert_eq!((kept[0].from, kept[0].to), ("half_open", "open"));
}

#[test]
fn config_defaults_and_unknown_keys() {
    let cfg: CircuitConfig = toml::from_str("open_for = \"300ms\"").expect("parses");
    assert_eq!(cfg.open_for, Duration::from_millis(300));
    assert_eq!(cfg.failure_threshold, 5);
    assert_eq!(cfg.success_threshold, 2);
    assert!(toml::from_str::<CircuitConfig>("open_fro = \"1s\"").is_err());
}
