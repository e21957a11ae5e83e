//! Queue-depth checks: PGMQ, SQL counting queries on all three databases and Redis keys.
//! A failed measurement is `unknown` with the error and no pressure, never depth 0.

use std::sync::Arc;
use std::time::Duration;

use sqlx::{Connection, Executor};
use vitals::{Check, Outcome, Pressure, Status};
use vitals_sql::{Datasource, DatasourceConfig};
use vitals_sql::{
    PgmqQueueCheck, PgmqQueueCheckConfig, RedisQueueCheck, RedisQueueCheckConfig,
    SqlCountQueueCheck, SqlCountQueueCheckConfig, prepare_embedded_sqlite,
};
use vitals_test_support::servers;
use vitals_test_support::servers::{closed_port, require_mysql, require_pg, require_redis, unique};

fn ds(url: &str) -> Arc<Datasource> {
    Arc::new(Datasource::new("queue-db", DatasourceConfig::new(url)).unwrap())
}

fn assert_depth(o: &Outcome, depth: u64, min_age: Option<Duration>) {
    assert_eq!(o.status, Status::Pass, "{}", o.output);
    let observed = o.observed.as_ref().unwrap();
    assert_eq!(
        (observed.value, observed.unit.as_str()),
        (depth as f64, "messages")
    );
    let Some(Pressure::QueueDepth {
        depth: d,
        oldest_age,
    }) = &o.pressure
    else {
        panic!("no queue pressure: {o:?}");
    };
    assert_eq!(*d, depth);
    match min_age {
        Some(min) => assert!(oldest_age.unwrap() >= min, "{oldest_age:?} < {min:?}"),
        None => assert_eq!(*oldest_age, None),
    }
    assert!(
        o.output.starts_with(&format!("{depth} messages")),
        "{}",
        o.output
    );
}

fn assert_unknown(o: &Outcome, error_part: &str) {
    assert_eq!(o.status, Status::Unknown, "{}", o.output);
    assert!(
        o.output.starts_with("could not measure queue depth: "),
        "{}",
        o.output
    );
    assert!(
        o.output.contains(error_part),
        "{} lacks {error_part}",
        o.output
    );
    assert_eq!(o.pressure, None);
    assert_eq!(o.observed, None);
}

/// Install PGMQ's SQL (no extension needed) once per database; an advisory lock keeps
/// concurrent test processes from installing at the same time.
async fn install_pgmq(url: &str) {
    let mut lock = sqlx::PgConnection::connect(url).await.unwrap();
    lock.execute("SELECT pg_advisory_lock(727274)")
        .await
        .unwrap();
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    pgmq::install::install_sql_from_embedded(&pool)
        .await
        .unwrap();
    lock.execute("SELECT pg_advisory_unlock(727274)")
        .await
        .unwrap();
}

#[tokio::test]
async fn pgmq_depth_and_oldest_age_are_measured() {
    let url = require_pg().await;
    install_pgmq(&url).await;
    let queue = unique("q");
    let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
    c.execute(format!("SELECT pgmq.create('{queue}')").as_str())
        .await
        .unwrap();
    let cfg: PgmqQueueCheckConfig =
        toml::from_str(&format!("datasource = \"queue-db\"\nqueue = \"{queue}\"")).unwrap();
    let check = PgmqQueueCheck::new(ds(&url), &cfg);
    assert_eq!(check.kind().measurement, "depth");
    assert_depth(&check.run().await, 0, None);

    for _ in 0..3 {
        c.execute(format!("SELECT pgmq.send('{queue}', '{{}}'::jsonb)").as_str())
            .await
            .unwrap();
    }
    c.execute(
        format!(
            "UPDATE pgmq.q_{queue} SET enqueued_at = now() - interval '90 seconds' WHERE msg_id = 1"
        )
        .as_str(),
    )
    .await
    .unwrap();
    let o = check.run().await;
    assert_depth(&o, 3, Some(Duration::from_secs(90)));
    assert_eq!(o.details["queue"], queue.as_str());
    c.execute(format!("SELECT pgmq.drop_queue('{queue}')").as_str())
        .await
        .unwrap();

    let missing = PgmqQueueCheck::new(ds(&url), &cfg).run().await;
    assert_unknown(&missing, "does not exist");
}

async fn sql_count_queue_measures_ready_jobs(
    url: &str,
    create: &str,
    insert_old: &str,
    table: &str,
) {
    let ds = ds(url);
    let query = format!("SELECT COUNT(*), MAX(age) FROM {table} WHERE state = 'ready'");
    let cfg: SqlCountQueueCheckConfig =
        toml::from_str(&format!("datasource = \"queue-db\"\nquery = \"{query}\"")).unwrap();
    let check = SqlCountQueueCheck::new(ds.clone(), &cfg).unwrap();
    // The table does not exist yet: unknown, not depth 0.
    assert_unknown(&check.run().await, table);
    let exec = |sql: String| {
        let url = url.to_owned();
        async move {
            if url.starts_with("postgres") {
                sqlx::PgConnection::connect(&url)
                    .await
                    .unwrap()
                    .execute(sql.as_str())
                    .await
                    .unwrap();
            } else if url.starts_with("mysql") {
                sqlx::MySqlConnection::connect(&url)
                    .await
                    .unwrap()
                    .execute(sql.as_str())
                    .await
                    .unwrap();
            } else {
                sqlx::SqliteConnection::connect(&url)
                    .await
                    .unwrap()
                    .execute(sql.as_str())
                    .await
                    .unwrap();
            }
        }
    };
    exec(create.to_owned()).await;
    assert_depth(&check.run().await, 0, None);
    exec(insert_old.to_owned()).await;
    assert_depth(&check.run().await, 2, Some(Duration::from_secs(120)));
}

#[tokio::test]
async fn sql_count_queue_on_postgres() {
    let url = require_pg().await;
    let t = unique("jobs");
    sql_count_queue_measures_ready_jobs(
        &url,
        &format!("CREATE TABLE {t} (state TEXT, age INT)"),
        &format!("INSERT INTO {t} VALUES ('ready', 120), ('ready', 5), ('done', 999)"),
        &t,
    )
    .await;
}

#[tokio::test]
async fn sql_count_queue_on_mariadb() {
    let url = require_mysql().await;
    let t = unique("jobs");
    sql_count_queue_measures_ready_jobs(
        &url,
        &format!("CREATE TABLE {t} (state VARCHAR(10), age INT)"),
        &format!("INSERT INTO {t} VALUES ('ready', 120), ('ready', 5), ('done', 999)"),
        &t,
    )
    .await;
}

#[tokio::test]
async fn sql_count_queue_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("q.db").display());
    sql_count_queue_measures_ready_jobs(
        &url,
        "CREATE TABLE jobs (state TEXT, age INT)",
        "INSERT INTO jobs VALUES ('ready', 120), ('ready', 5), ('done', 999)",
        "jobs",
    )
    .await;
}

#[tokio::test]
async fn embedded_sqlite_queue_counts_ready_jobs_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let first = prepare_embedded_sqlite(&data).await.unwrap();
    let again = prepare_embedded_sqlite(&data).await.unwrap();
    assert_eq!(first, again);
    assert!(data.join("vitals.db").exists());
    let ds = ds(&first.url);
    let cfg: SqlCountQueueCheckConfig = toml::from_str(&format!(
        "datasource = \"local\"\nquery = \"{}\"",
        first.queue_query
    ))
    .unwrap();
    let check = SqlCountQueueCheck::new(ds, &cfg).unwrap();
    assert_depth(&check.run().await, 0, None);
    let mut c = sqlx::SqliteConnection::connect(&first.url).await.unwrap();
    c.execute("INSERT INTO jobs (state, enqueued_at) VALUES ('ready', strftime('%s','now') - 60), ('done', 0)")
        .await
        .unwrap();
    assert_depth(&check.run().await, 1, Some(Duration::from_secs(59)));
}

async fn redis_check(url: &str, key: &str, kind: &str) -> RedisQueueCheck {
    let cfg: RedisQueueCheckConfig = toml::from_str(&format!(
        "url = \"{url}\"\nkey = \"{key}\"\nkind = \"{kind}\"\ncommand_timeout = \"500ms\""
    ))
    .unwrap();
    RedisQueueCheck::new(&cfg).unwrap()
}

#[tokio::test]
async fn redis_list_stream_and_zset_depths_are_measured() {
    let url = require_redis().await;
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let (list, stream, zset) = (unique("list"), unique("stream"), unique("zset"));
    let _: () = redis::cmd("RPUSH")
        .arg(&list)
        .arg(&["a", "b", "c"][..])
        .query_async(&mut conn)
        .await
        .unwrap();
    for i in 0..4 {
        let _: String = redis::cmd("XADD")
            .arg(&stream)
            .arg("*")
            .arg("n")
            .arg(i)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
    let _: () = redis::cmd("ZADD")
        .arg(&zset)
        .arg(1)
        .arg("x")
        .arg(2)
        .arg("y")
        .query_async(&mut conn)
        .await
        .unwrap();

    assert_depth(&redis_check(&url, &list, "list").await.run().await, 3, None);
    assert_depth(
        &redis_check(&url, &stream, "stream").await.run().await,
        4,
        None,
    );
    assert_depth(&redis_check(&url, &zset, "zset").await.run().await, 2, None);
    for (key, depth) in [(&list, 3), (&stream, 4), (&zset, 2), (&unique("absent"), 0)] {
        assert_depth(
            &redis_check(&url, key, "auto").await.run().await,
            depth,
            None,
        );
    }
    // The wrong command for the key's type is an error, not depth 0.
    assert_unknown(
        &redis_check(&url, &stream, "list").await.run().await,
        "WRONGTYPE",
    );

    // One connection is reused across runs.
    let check = redis_check(&url, &list, "list").await;
    check.run().await;
    let before: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query_async(&mut conn)
        .await
        .unwrap();
    for _ in 0..5 {
        check.run().await;
    }
    let after: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        before.lines().count(),
        after.lines().count(),
        "no new connection per run"
    );
    let _: () = redis::cmd("DEL")
        .arg(&list)
        .arg(&stream)
        .arg(&zset)
        .query_async(&mut conn)
        .await
        .unwrap();
}

#[tokio::test]
async fn unreachable_redis_is_unknown_within_the_command_timeout() {
    let url = format!("redis://127.0.0.1:{}", closed_port());
    let started = std::time::Instant::now();
    let o = redis_check(&url, "q", "list").await.run().await;
    assert_unknown(&o, "refused");
    assert!(started.elapsed() < Duration::from_millis(600));
    let hole = servers::FaultServer::black_hole().await;
    let started = std::time::Instant::now();
    let o = redis_check(&format!("redis://{}", hole.addr), "q", "list")
        .await
        .run()
        .await;
    assert_unknown(&o, "redis did not answer within 500ms");
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(480) && elapsed < Duration::from_millis(900),
        "{elapsed:?}"
    );
}
