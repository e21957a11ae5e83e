//! The status page in a real headless Chromium against a live daemon: what an anonymous visitor
//! sees, what the token reveals, a check turning to fail without a reload, no console error, and
//! a screenshot (target/status-page.png; docs/status-page.png is a copy for the README).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use fantoccini::Locator;
use vitals_test_support::http::{free_port, request, wait_for};
use vitals_test_support::wait;

use crate::support::browser::{Driver, console_errors, screenshot, wait_until};
use crate::support::process::serve_config;

const TOKEN: &str = "page-secret";
const CHECKS: [&str; 5] = [
    "orders-db",
    "mailer-worker",
    "billing-worker",
    "cache-db",
    "outbox",
];
/// The page refreshes every 2 s.
const REFRESH: Duration = Duration::from_secs(2);

fn config(dir: &std::path::Path) -> String {
    format!(
        r#"
[service]
id = "orders-service"
data_dir = "{data}"

[http]
token = "${{PAGE_TOKEN}}"

[evaluator]
heartbeat = "200ms"

[datasources.orders]
url = "sqlite://{data}/orders.db?mode=rwc"

[checks.orders-db]
type = "database"
datasource = "orders"
interval = "500ms"

[checks.cache-db]
type = "database"
datasource = "orders"
interval = "500ms"
critical = false
warn_latency = "1ns"

[checks.mailer-worker]
type = "heartbeat"
ttl = "3s"
interval = "250ms"
critical = false

[checks.billing-worker]
type = "heartbeat"
ttl = "1h"
interval = "1s"

# The table does not exist: the depth cannot be measured, so the check is unknown.
[checks.outbox]
type = "sql_queue"
datasource = "orders"
query = "SELECT count(*) FROM outbox"
interval = "500ms"
"#,
        data = dir.join("data").display()
    )
}

/// Paste the token into the page's form and submit it, as a visitor does.
async fn enter_token(client: &fantoccini::Client) {
    client
        .find(Locator::Css("#token"))
        .await
        .unwrap()
        .send_keys(TOKEN)
        .await
        .unwrap();
    client
        .find(Locator::Css("#auth-form button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// Beat `worker` every 300 ms until the returned flag is cleared.
fn beat(
    addr: std::net::SocketAddr,
    worker: &str,
) -> (Arc<AtomicBool>, std::thread::JoinHandle<()>) {
    let beating = Arc::new(AtomicBool::new(true));
    let path = format!("/health/heartbeat/{worker}");
    let flag = beating.clone();
    let thread = std::thread::spawn(move || {
        while flag.load(Ordering::Relaxed) {
            request(addr, "POST", &path, Some(TOKEN));
            std::thread::sleep(Duration::from_millis(300));
        }
    });
    (beating, thread)
}

/// The page's check rows, by name, with their classes.
const ROWS: &str = "return [...document.querySelectorAll('[data-check]')]\
    .map(r => r.dataset.check + ' ' + r.className).sort().join('\\n');";

#[tokio::test(flavor = "multi_thread")]
async fn status_page_reveals_checks_with_the_token_and_shows_a_failing_check_without_reload() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    let file = dir.path().join("vitals.toml");
    std::fs::write(&file, config(dir.path())).unwrap();
    let addr = free_port();
    let _daemon = serve_config(&file, addr, ("PAGE_TOKEN", TOKEN));
    wait_for(addr, "/health/live", 200, wait::START);

    // The worker beats until the test stops it; then its 3 s ttl runs out.
    let (beating, beater) = beat(addr, "mailer-worker");

    let t_start = Instant::now();
    let driver = Driver::start();
    let client = driver.session(1280, 900).await;
    let url = format!("http://{addr}/status");
    client.goto(&url).await.unwrap();

    // Anonymous: the overall status and the token field, no check name, even after a refresh.
    wait_until(
        &client,
        "return document.getElementById('overall').textContent !== 'loading' \
            && !document.getElementById('auth').hidden;",
        wait::START,
        "the anonymous view (overall status and token field)",
    )
    .await;
    // A refresh later: the page's "updated" time changes once the next refresh has rendered.
    let updated = client
        .execute(
            "return document.getElementById('meta').textContent;",
            vec![],
        )
        .await
        .unwrap();
    wait_until(
        &client,
        &format!("return document.getElementById('meta').textContent !== {updated};"),
        REFRESH + wait::QUICK,
        "the anonymous view refreshes",
    )
    .await;
    let anonymous = client.source().await.unwrap();
    for name in CHECKS {
        assert!(
            !anonymous.contains(name),
            "the anonymous view shows check {name}"
        );
    }

    // Pasting the token reveals every configured check.
    enter_token(&client).await;
    wait_until(
        &client,
        "return document.querySelectorAll('[data-check]').length === 5 \
            && document.querySelector('[data-check=\"mailer-worker\"]').classList.contains('st-pass') \
            && document.querySelector('[data-check=\"cache-db\"]').classList.contains('st-warn') \
            && document.querySelector('[data-check=\"outbox\"]').classList.contains('st-unknown');",
        wait::QUICK,
        "every configured check listed, mailer-worker passing, cache-db warning, outbox unknown",
    )
    .await;
    // One word per check: the page shows and counts what the JSON's `state` says.
    let (_, _, status) = request(addr, "GET", "/health/status", Some(TOKEN)).unwrap();
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    let outbox = &status["checks"]["outbox:depth"][0];
    assert_eq!(outbox["state"], "unknown", "{outbox}");
    let counts = client
        .execute(
            "return document.getElementById('counts').textContent;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        counts.as_str().unwrap(),
        "5 checks \u{b7} 3 pass \u{b7} 1 warn \u{b7} 0 fail \u{b7} 1 unknown"
    );
    let rows = client.execute(ROWS, vec![]).await.unwrap();
    let rows = rows.as_str().unwrap();
    for name in CHECKS {
        assert!(
            rows.contains(name),
            "check {name} missing from the page:\n{rows}"
        );
    }
    let stored = client
        .execute("return sessionStorage.getItem('vitals.token');", vec![])
        .await
        .unwrap();
    assert_eq!(stored, TOKEN, "the token is kept in sessionStorage");
    assert!(
        !client.current_url().await.unwrap().as_str().contains(TOKEN),
        "the token never goes into the URL"
    );

    // Stop the beats: the daemon fails the check after its ttl; the page follows within two
    // refreshes, in the same document (the marker set now survives).
    client
        .execute("window.__sameDocument = true; return true;", vec![])
        .await
        .unwrap();
    beating.store(false, Ordering::Relaxed);
    beater.join().unwrap();
    wait::until(
        "the heartbeat expires",
        Duration::from_secs(3) + wait::QUICK,
        || {
            request(addr, "GET", "/health/checks/mailer-worker", Some(TOKEN)).map(|r| r.0)
                == Some(503)
        },
    );
    let followed = wait_until(
        &client,
        "return window.__sameDocument === true \
            && document.querySelector('[data-check=\"mailer-worker\"]').classList.contains('st-fail');",
        2 * REFRESH + Duration::from_millis(500),
        "mailer-worker in the fail style within two refreshes, without a reload",
    )
    .await;
    println!("the page showed the failing check {followed:?} after the daemon did");

    let target = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .to_path_buf();
    // Let the history strips and relative times settle for the picture.
    tokio::time::sleep(Duration::from_millis(600)).await;
    screenshot(&client, &target.join("status-page.png")).await;

    // A phone-sized window: nothing wider than the screen.
    client.set_window_size(390, 844).await.unwrap();
    let overflow = wait_until(
        &client,
        "return document.documentElement.scrollWidth <= window.innerWidth;",
        wait::QUICK,
        "the page fits a 390 px wide screen without horizontal scrolling",
    )
    .await;
    let _ = overflow;
    screenshot(&client, &target.join("status-page-phone.png")).await;

    let errors = console_errors(&client).await;
    assert!(errors.is_empty(), "browser console errors: {errors:#?}");
    client.close().await.unwrap();
    println!(
        "browser test took {:?}; screenshots in {}",
        t_start.elapsed(),
        target.display()
    );
}

/// 500 checks: the page lists every one, and still follows a change within two refreshes.
#[tokio::test(flavor = "multi_thread")]
async fn status_page_lists_500_checks_and_still_follows_a_change() {
    const N: usize = 500;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    let mut config = format!(
        "[service]\nid = \"fleet\"\ndata_dir = \"{}\"\n\n[http]\ntoken = \"${{PAGE_TOKEN}}\"\n\n[evaluator]\nheartbeat = \"200ms\"\n",
        dir.path().join("data").display()
    );
    for i in 0..N {
        // Each passes until its ttl; worker-250 beats until the page shows it, then runs out.
        let ttl = if i == 250 { "3s" } else { "1h" };
        config.push_str(&format!(
            "\n[checks.worker-{i:03}]\ntype = \"heartbeat\"\nttl = \"{ttl}\"\ninterval = \"500ms\"\ncritical = false\n"
        ));
    }
    let file = dir.path().join("vitals.toml");
    std::fs::write(&file, config).unwrap();
    let addr = free_port();
    let _daemon = serve_config(&file, addr, ("PAGE_TOKEN", TOKEN));
    wait_for(addr, "/health/live", 200, wait::START);
    let (beating, beater) = beat(addr, "worker-250");

    let driver = Driver::start();
    let client = driver.session(1280, 900).await;
    client.goto(&format!("http://{addr}/status")).await.unwrap();
    enter_token(&client).await;
    let listed = wait_until(
        &client,
        &format!(
            "return document.querySelectorAll('[data-check]').length === {N} \
                && document.querySelector('[data-check=\"worker-250\"]').classList.contains('st-pass');"
        ),
        wait::START,
        "all 500 checks listed, worker-250 passing",
    )
    .await;
    client
        .execute("window.__sameDocument = true; return true;", vec![])
        .await
        .unwrap();
    beating.store(false, Ordering::Relaxed);
    beater.join().unwrap();
    wait::until(
        "worker-250 runs out of its 3 s ttl",
        Duration::from_secs(3) + wait::QUICK,
        || request(addr, "GET", "/health/checks/worker-250", Some(TOKEN)).map(|r| r.0) == Some(503),
    );
    let followed = wait_until(
        &client,
        "return window.__sameDocument === true \
            && document.querySelector('[data-check=\"worker-250\"]').classList.contains('st-fail') \
            && document.querySelectorAll('[data-check]').length === 500;",
        2 * REFRESH + Duration::from_millis(500),
        "worker-250 in the fail style within two refreshes, 500 rows, without a reload",
    )
    .await;
    let errors = console_errors(&client).await;
    assert!(errors.is_empty(), "browser console errors: {errors:#?}");
    client.close().await.unwrap();
    println!(
        "500 checks: listed after {listed:?}; a failing check shown {followed:?} after the daemon"
    );
}
