//! `Watch` costs nothing while nothing changes: the daemon's CPU time over 10 idle seconds, with
//! and without 1,000 open `Watch` streams (10 connections × 100 streams, as hyper serves at most
//! 200 streams per HTTP/2 connection). Prints both; fails if the streams add 1 % of a core.

use std::time::Duration;

use tonic_health::pb::health_check_response::ServingStatus::Serving;
use vitals_test_support::wait;

use crate::support::grpc;

const IDLE: Duration = Duration::from_secs(10);

/// utime + stime of `pid`, in clock ticks (fields 14 and 15 of /proc/PID/stat).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The command name (field 2) may hold spaces: count from the closing parenthesis.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

fn ticks_per_second() -> u64 {
    let out = std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

async fn idle_cpu(pid: u32) -> u64 {
    let before = cpu_ticks(pid);
    tokio::time::sleep(IDLE).await;
    cpu_ticks(pid) - before
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_idle_watch_streams_add_no_measurable_cpu() {
    // A check that runs (and publishes a snapshot) every second, its status steady.
    let d = grpc::start(
        r#"
[checks.worker]
type = "heartbeat"
ttl = "1h"
interval = "1s"
"#,
    );
    d.beat("worker");
    let mut client = grpc::client(d.grpc).await;
    grpc::wait_check(&mut client, "", Serving, wait::QUICK).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let hz = ticks_per_second();

    let without = idle_cpu(d.pid()).await;

    let mut streams = Vec::new();
    for connection in 0..10 {
        let mut client = grpc::client(d.grpc).await;
        for i in 0..100 {
            let service = if (connection + i) % 2 == 0 {
                ""
            } else {
                "worker"
            };
            let mut stream = grpc::watch(&mut client, service).await;
            assert_eq!(grpc::next(&mut stream, wait::QUICK).await, Serving);
            streams.push(stream);
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let with = idle_cpu(d.pid()).await;

    let ms = |ticks: u64| ticks * 1000 / hz;
    println!(
        "daemon CPU over {IDLE:?} idle: {} ms without streams, {} ms with {} Watch streams \
         ({} Hz ticks: {without} vs {with})",
        ms(without),
        ms(with),
        streams.len(),
        hz
    );
    assert!(
        ms(with) <= ms(without) + 100,
        "1,000 idle streams cost {} ms of CPU over {IDLE:?} (without: {} ms)",
        ms(with),
        ms(without)
    );
    // Every stream is still open and has nothing new to say.
    for stream in streams.iter_mut().take(10) {
        let quiet = tokio::time::timeout(Duration::from_millis(50), stream.message()).await;
        assert!(quiet.is_err(), "{quiet:?}");
    }
}
