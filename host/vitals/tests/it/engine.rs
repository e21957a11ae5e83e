//! The evaluator, snapshot, aggregation and admission working together, on paused tokio time.
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;
use vitals::{Check, CheckSettings, CheckSpec, EvaluatorConfig, Outcome, Status, Vitals};

/// A check that returns what its closure says.
struct FnCheck<F>(F);

#[async_trait]
impl<F: Fn() -> Outcome + Send + Sync + 'static> Check for FnCheck<F> {
    async fn run(&self) -> Outcome {
        (self.0)()
    }
}

/// A check that never answers.
struct Hang;

#[async_trait]
impl Check for Hang {
    async fn run(&self) -> Outcome {
        std::future::pending().await
    }
}

/// A check that sleeps, counting how many of its runs overlap.
struct Slow {
    sleep: Duration,
    running: Arc<AtomicUsize>,
    max_seen: Arc<AtomicUsize>,
}

#[async_trait]
impl Check for Slow {
    async fn run(&self) -> Outcome {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_seen.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(self.sleep).await;
        self.running.fetch_sub(1, Ordering::SeqCst);
        Outcome::pass("slept")
    }
}

fn every(interval_ms: u64, timeout_ms: u64) -> CheckSettings {
    CheckSettings {
        interval: Duration::from_millis(interval_ms),
        timeout: Duration::from_millis(timeout_ms),
        ..CheckSettings::default()
    }
}

fn fast_evaluator() -> EvaluatorConfig {
    EvaluatorConfig {
        jitter: 0.0,
        heartbeat: Duration::from_millis(100),
        stale_after: Duration::from_secs(2),
        dead_after: Duration::from_secs(6),
        startup_grace: Duration::from_secs(5),
        ..EvaluatorConfig::default()
    }
}

async fn wait_until(vitals: &Vitals, what: &str, cond: impl Fn(&vitals::HealthSnapshot) -> bool) {
    for _ in 0..2_000 {
        if cond(&vitals.snapshot()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting until {what}");
}

fn runs(s: &vitals::HealthSnapshot, name: &str) -> u64 {
    s.check(name).map_or(0, |c| c.runs)
}

fn start(
    builder: vitals::VitalsBuilder,
) -> (Vitals, CancellationToken, tokio::task::JoinHandle<()>) {
    let (vitals, evaluator) = builder.evaluator_config(fast_evaluator()).build();
    let stop = CancellationToken::new();
    let task = tokio::spawn(evaluator.run(stop.clone()));
    (vitals, stop, task)
}

#[tokio::test(start_paused = true)]
async fn hanging_check_never_delays_another_check() {
    let b = Vitals::builder()
        .check(CheckSpec::new("stuck", Hang).with_settings(every(1_000, 5_000)))
        .check(
            CheckSpec::new("quick", FnCheck(|| Outcome::pass("ok")))
                .with_settings(every(100, 1_000)),
        );
    let (vitals, _stop, _task) = start(b);
    let t0 = tokio::time::Instant::now();
    wait_until(&vitals, "quick has run 10 times", |s| {
        runs(s, "quick") >= 10
    })
    .await;
    assert!(
        t0.elapsed() < Duration::from_secs(2),
        "quick ran on its own schedule"
    );
    let snap = vitals.snapshot();
    assert!(
        snap.check("stuck").unwrap().last.is_none(),
        "stuck is still running"
    );
}

#[tokio::test(start_paused = true)]
async fn timeout_becomes_a_fail_that_says_so() {
    let b = Vitals::builder().check(CheckSpec::new("stuck", Hang).with_settings(every(1_000, 500)));
    let (vitals, _stop, _task) = start(b);
    let t0 = tokio::time::Instant::now();
    wait_until(&vitals, "stuck has a result", |s| {
        s.check("stuck").is_some_and(|c| c.last.is_some())
    })
    .await;
    let elapsed = t0.elapsed();
    assert!(
        elapsed >= Duration::from_millis(500) && elapsed < Duration::from_millis(700),
        "{elapsed:?}"
    );
    let snap = vitals.snapshot();
    let c = snap.check("stuck").unwrap();
    assert_eq!(c.status(), Status::Fail);
    let out = &c.last.as_ref().unwrap().outcome.output;
    assert!(out.contains("timed out after 500ms"), "{out}");
    assert_eq!(c.timeouts, 1);
}

#[tokio::test(start_paused = true)]
async fn runs_of_one_check_never_overlap() {
    let running = Arc::new(AtomicUsize::new(0));
    let max_seen = Arc::new(AtomicUsize::new(0));
    let slow = Slow {
        sleep: Duration::from_millis(300),
        running: running.clone(),
        max_seen: max_seen.clone(),
    };
    let b = Vitals::builder().check(CheckSpec::new("slow", slow).with_settings(every(10, 1_000)));
    let (vitals, _stop, _task) = start(b);
    wait_until(&vitals, "slow ran 5 times", |s| runs(s, "slow") >= 5).await;
    assert_eq!(max_seen.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn concurrency_is_bounded_across_checks() {
    let running = Arc::new(AtomicUsize::new(0));
    let max_seen = Arc::new(AtomicUsize::new(0));
    let mut b = Vitals::builder();
    for i in 0..6 {
        let slow = Slow {
            sleep: Duration::from_millis(200),
            running: running.clone(),
            max_seen: max_seen.clone(),
        };
        b = b.check(CheckSpec::new(format!("slow{i}"), slow).with_settings(every(10, 1_000)));
    }
    let (vitals, evaluator) = b
        .evaluator_config(EvaluatorConfig {
            max_concurrency: 2,
            ..fast_evaluator()
        })
        .build();
    tokio::spawn(evaluator.run(CancellationToken::new()));
    wait_until(&vitals, "every check ran twice", |s| {
        s.checks.len() == 6 && s.checks.iter().all(|c| c.runs >= 2)
    })
    .await;
    assert_eq!(max_seen.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn stopped_evaluator_fails_readiness_after_stale_threshold_and_liveness_later() {
    use tower::ServiceExt;
    let b = Vitals::builder().check(
        CheckSpec::new("ok", FnCheck(|| Outcome::pass("fine"))).with_settings(every(100, 1_000)),
    );
    let (vitals, stop, task) = start(b);
    wait_until(&vitals, "ok passes", |s| {
        runs(s, "ok") > 0 && s.overall.status == Status::Pass
    })
    .await;
    let get = |path: &'static str| {
        let router = vitals.router();
        async move {
            let res = router
                .oneshot(
                    http::Request::get(path)
                        .body(axum::body::Body::empty())
                        .unwrap(),
                )
                .await
                .unwrap();
            let code = res.status().as_u16();
            let body = axum::body::to_bytes(res.into_body(), 1 << 20)
                .await
                .unwrap();
            (code, String::from_utf8_lossy(&body).into_owned())
        }
    };
    assert_eq!(get("/health/ready").await.0, 200);
    assert!(vitals.backpressure().try_check().is_ok());

    stop.cancel();
    task.await.unwrap(); // the evaluator stops cleanly on the shutdown signal
    tokio::time::advance(Duration::from_millis(1_500)).await;
    let (code, body) = get("/health/ready").await;
    assert_eq!(code, 200, "within the stale threshold: {body}");

    tokio::time::advance(Duration::from_millis(1_000)).await;
    let (code, body) = get("/health/ready").await;
    assert_eq!(code, 503);
    assert!(body.starts_with("stale:"), "{body}");
    let rejected = vitals.backpressure().try_check().unwrap_err();
    assert_eq!(rejected.kind, vitals::ShedSource::Stale);
    assert_eq!(
        get("/health/live").await.0,
        200,
        "liveness has a longer threshold"
    );

    tokio::time::advance(Duration::from_secs(4)).await;
    let (code, body) = get("/health/live").await;
    assert_eq!(code, 503);
    assert!(body.contains("evaluator stalled"), "{body}");
}

#[tokio::test(start_paused = true)]
async fn a_stale_backpressure_answer_says_the_same_jittered_retry_in_header_and_body() {
    use tower::ServiceExt;
    let config = vitals::BackpressureConfig {
        retry_jitter: 1.0,
        ..vitals::BackpressureConfig::default()
    };
    let b = Vitals::builder().backpressure_config(config).check(
        CheckSpec::new("ok", FnCheck(|| Outcome::pass("fine"))).with_settings(every(100, 1_000)),
    );
    let (vitals, stop, task) = start(b);
    wait_until(&vitals, "ok passes", |s| runs(s, "ok") > 0).await;
    stop.cancel();
    task.await.unwrap();
    tokio::time::advance(Duration::from_secs(3)).await;

    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..40 {
        let res = vitals
            .router()
            .oneshot(
                http::Request::get("/health/backpressure")
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 503);
        let header: u64 = res.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        let body = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["source"], "stale", "{body}");
        assert_eq!(body["retryAfterSeconds"], header, "{body}");
        seen.insert(header);
    }
    // 5 s with up to 100 % jitter: 40 answers are not all the same (a chance of 5^-39).
    assert!(seen.len() > 1, "no jitter: {seen:?}");
    assert!(seen.iter().all(|s| (5..=10).contains(s)), "{seen:?}");
}

#[tokio::test(start_paused = true)]
async fn engine_is_not_ready_before_its_first_evaluation() {
    use tower::ServiceExt;
    let (vitals, _evaluator) = Vitals::builder().build(); // never run
    let res = vitals
        .router()
        .oneshot(
            http::Request::get("/health/ready")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
}

#[tokio::test(start_paused = true)]
async fn readiness_is_starting_until_critical_checks_report_then_follows_them() {
    let b = Vitals::builder()
        .check(CheckSpec::new("slow-start", Hang).with_settings(every(1_000, 10_000)));
    let (vitals, _stop, _task) = start(b);
    wait_until(&vitals, "registered", |s| !s.checks.is_empty()).await;
    let snap = vitals.snapshot();
    assert_eq!(snap.overall.status, Status::Unknown);
    assert!(String::from_utf8_lossy(&snap.bodies.ready).starts_with("starting"));
    assert_eq!(snap.overall.culprits, vec!["slow-start"]);
    // After the grace period an unevaluated critical check fails readiness.
    wait_until(&vitals, "grace over", |s| s.phase == vitals::Phase::Running).await;
    assert_eq!(vitals.snapshot().overall.status, Status::Fail);
}

#[tokio::test(start_paused = true)]
async fn flap_damping_holds_state_until_consecutive_failures() {
    let n = Arc::new(AtomicUsize::new(0));
    let counter = n.clone();
    // pass, then fail forever
    let check = FnCheck(move || {
        if counter.fetch_add(1, Ordering::SeqCst) == 0 {
            Outcome::pass("up")
        } else {
            Outcome::fail("down")
        }
    });
    let settings = CheckSettings {
        failures_before_fail: 3,
        ..every(100, 1_000)
    };
    let (vitals, _stop, _task) =
        start(Vitals::builder().check(CheckSpec::new("db", check).with_settings(settings)));
    wait_until(&vitals, "two failures", |s| runs(s, "db") == 3).await;
    assert_eq!(
        vitals.snapshot().check("db").unwrap().status(),
        Status::Pass
    );
    wait_until(&vitals, "third failure", |s| runs(s, "db") >= 4).await;
    let snap = vitals.snapshot();
    let db = snap.check("db").unwrap();
    assert_eq!(db.status(), Status::Fail);
    assert_eq!(db.history.back().unwrap().to, Status::Fail);
}

#[tokio::test(start_paused = true)]
async fn checks_are_added_replaced_and_removed_at_run_time() {
    let (vitals, _stop, _task) = start(Vitals::builder());
    vitals.registry().upsert(
        CheckSpec::new("late", FnCheck(|| Outcome::fail("v1"))).with_settings(every(100, 1_000)),
    );
    wait_until(&vitals, "v1 result", |s| {
        s.check("late").is_some_and(|c| c.last.is_some())
    })
    .await;
    vitals.registry().upsert(
        CheckSpec::new("late", FnCheck(|| Outcome::pass("v2"))).with_settings(every(100, 1_000)),
    );
    wait_until(&vitals, "v2 result", |s| {
        s.check("late")
            .and_then(|c| c.last.as_ref())
            .is_some_and(|r| r.outcome.output == "v2")
    })
    .await;
    assert!(
        vitals
            .snapshot()
            .check("late")
            .unwrap()
            .history
            .iter()
            .any(|t| t.output == "replaced")
    );
    vitals.registry().remove("late");
    wait_until(&vitals, "removed", |s| s.check("late").is_none()).await;
    assert_eq!(vitals.snapshot().overall.status, Status::Pass);
}

#[tokio::test(start_paused = true)]
async fn panicking_check_fails_and_keeps_being_scheduled() {
    let check = FnCheck(|| -> Outcome { panic!("boom") });
    let (vitals, _stop, _task) =
        start(Vitals::builder().check(CheckSpec::new("p", check).with_settings(every(100, 1_000))));
    wait_until(&vitals, "two runs", |s| runs(s, "p") >= 2).await;
    let snap = vitals.snapshot();
    let out = &snap
        .check("p")
        .unwrap()
        .last
        .as_ref()
        .unwrap()
        .outcome
        .output;
    assert!(out.contains("check panicked: boom"), "{out}");
}

#[tokio::test(start_paused = true)]
async fn saturated_channel_closes_admission_and_the_layer_answers_503_with_retry_after() {
    use tower::ServiceExt;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<u32>(10);
    let mut b = Vitals::builder();
    let _probe = b.channel("jobs", &tx);
    let (vitals, _stop, _task) = start(b);
    let app = || {
        axum::Router::new()
            .route("/work", axum::routing::post(|| async { "done" }))
            .layer(vitals.admission_layer())
    };
    let post = |app: axum::Router| async move {
        app.oneshot(
            http::Request::post("/work")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap()
    };
    wait_until(&vitals, "jobs measured", |s| {
        s.check("jobs").is_some_and(|c| c.last.is_some())
    })
    .await;
    assert_eq!(post(app()).await.status(), 200);

    for i in 0..9 {
        tx.send(i).await.unwrap();
    }
    wait_until(&vitals, "shedding", |s| !s.admission.is_open()).await;
    let res = post(app()).await;
    assert_eq!(res.status(), 503);
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (5..=6).contains(&retry),
        "channel_critical retry-after 5s + jitter, got {retry}"
    );

    // Drain: admission reopens only after the minimum dwell (10 s by default).
    while rx.try_recv().is_ok() {}
    let drained_at = tokio::time::Instant::now();
    wait_until(&vitals, "open again", |s| s.admission.is_open()).await;
    assert!(
        drained_at.elapsed() >= Duration::from_secs(9),
        "{:?}",
        drained_at.elapsed()
    );
    assert_eq!(post(app()).await.status(), 200);
}

/// A check that records when each of its runs starts, then works for `work`.
struct Recorded {
    name: String,
    work: Duration,
    starts: Arc<std::sync::Mutex<Vec<(String, tokio::time::Instant)>>>,
}

#[async_trait]
impl Check for Recorded {
    async fn run(&self) -> Outcome {
        let now = tokio::time::Instant::now();
        self.starts.lock().unwrap().push((self.name.clone(), now));
        tokio::time::sleep(self.work).await;
        Outcome::pass("worked")
    }
}

#[tokio::test(start_paused = true)]
async fn checks_loaded_while_others_repeat_all_run_once_before_any_runs_twice() {
    // 300 checks of 10 ms on 2 slots, every second: 3 s of work per second, so the pool is
    // overloaded. They arrive in three waves while the earlier ones already repeat.
    let starts = Arc::new(std::sync::Mutex::new(Vec::new()));
    let cfg = EvaluatorConfig {
        max_concurrency: 2,
        ..fast_evaluator()
    };
    let (vitals, evaluator) = Vitals::builder().evaluator_config(cfg).build();
    let stop = CancellationToken::new();
    let _task = tokio::spawn(evaluator.run(stop.clone()));
    let t0 = tokio::time::Instant::now();
    let mut registered = std::collections::HashMap::new();
    for wave in 0..3 {
        for i in 0..100 {
            let name = format!("w{wave}-{i:03}");
            let check = Recorded {
                name: name.clone(),
                work: Duration::from_millis(10),
                starts: starts.clone(),
            };
            vitals
                .registry()
                .upsert(CheckSpec::new(&name, check).with_settings(every(1_000, 500)));
            registered.insert(name, tokio::time::Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(600)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.cancel();

    let starts = starts.lock().unwrap().clone();
    let mut first = std::collections::HashMap::new();
    for (name, at) in &starts {
        first.entry(name.clone()).or_insert(*at);
    }
    assert_eq!(first.len(), 300, "every check ran");
    for (name, at) in &first {
        let waited = *at - registered[name];
        assert!(
            waited <= Duration::from_secs(1),
            "{name} first ran {waited:?} after it was loaded (interval 1 s)"
        );
    }
    // A second run starts only when every check loaded before it has started its first.
    let mut seen = std::collections::HashSet::new();
    for (name, at) in &starts {
        if !seen.insert(name.clone()) {
            for (other, loaded) in &registered {
                assert!(
                    *loaded >= *at || first[other] <= *at,
                    "{name} ran again at {:?} before {other} (loaded at {:?}) ran once",
                    *at - t0,
                    *loaded - t0
                );
            }
        }
    }
}
