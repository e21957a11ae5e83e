//! Test servers: addresses of the real services (from env vars) and fault servers started by the
//! test itself. Only 127.0.0.1 is used.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// `VITALS_TEST_PG_URL`, default `postgres://postgres@127.0.0.1:5432/test`.
pub fn pg_url() -> String {
    std::env::var("VITALS_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// `VITALS_TEST_MYSQL_URL`, default `mysql://root@127.0.0.1:3306/test`.
pub fn mysql_url() -> String {
    std::env::var("VITALS_TEST_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".to_owned())
}

/// `VITALS_TEST_REDIS_URL`, default `redis://127.0.0.1:6379`.
pub fn redis_url() -> String {
    std::env::var("VITALS_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// `host:port` of a URL.
pub fn host_port(url: &str) -> String {
    let parsed = url::Url::parse(url).expect("test url parses");
    let host = parsed.host_str().expect("test url has a host").to_owned();
    format!("{host}:{}", parsed.port_or_known_default().unwrap_or(0))
}

/// Fail the test with a clear message when a service is not answering.
pub async fn require(service: &str, env_var: &str, url: &str) {
    let addr = host_port(url);
    let reachable = tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(&addr)).await;
    assert!(
        matches!(reachable, Ok(Ok(_))),
        "{service} is not answering at {addr} (set {env_var} to override); start it with scripts/services.sh"
    );
}

/// The real PostgreSQL, required.
pub async fn require_pg() -> String {
    let url = pg_url();
    require("PostgreSQL", "VITALS_TEST_PG_URL", &url).await;
    url
}

/// The real MariaDB/MySQL, required.
pub async fn require_mysql() -> String {
    let url = mysql_url();
    require("MariaDB/MySQL", "VITALS_TEST_MYSQL_URL", &url).await;
    url
}

/// The real Redis, required.
pub async fn require_redis() -> String {
    let url = redis_url();
    require("Redis", "VITALS_TEST_REDIS_URL", &url).await;
    url
}

/// A name no other test (or test run) uses.
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{prefix}_{}_{}_{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A 127.0.0.1 port nothing listens on (bound, then released).
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A TCP server that accepts connections and, while `forward_to` is unset, never answers
/// (a "black hole"); once set, it relays new connections to that address. Counts accepts.
/// [`freeze`](Self::freeze) stops relaying bytes on every connection, established ones
/// included: a server that hangs in the middle of a session.
pub struct FaultServer {
    /// Where it listens.
    pub addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    forwarding: Arc<AtomicBool>,
    frozen: Arc<AtomicBool>,
    task: JoinHandle<()>,
}

/// Copy `from` to `to` until either closes; while `frozen` is set, hold the bytes.
async fn relay(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    frozen: Arc<AtomicBool>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        while frozen.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

impl FaultServer {
    /// Start a black hole; `upstream` is where to relay once [`forward`](Self::forward) is called.
    pub async fn start(upstream: Option<String>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let forwarding = Arc::new(AtomicBool::new(false));
        let frozen = Arc::new(AtomicBool::new(false));
        let (count, fwd, frz) = (accepted.clone(), forwarding.clone(), frozen.clone());
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                match (&upstream, fwd.load(Ordering::SeqCst)) {
                    (Some(up), true) => {
                        let (up, frz) = (up.clone(), frz.clone());
                        tokio::spawn(async move {
                            if let Ok(server) = TcpStream::connect(up).await {
                                let (client_r, client_w) = socket.into_split();
                                let (server_r, server_w) = server.into_split();
                                tokio::join!(
                                    relay(client_r, server_w, frz.clone()),
                                    relay(server_r, client_w, frz),
                                );
                            }
                        });
                    }
                    // Hold the socket open and never write: the client waits forever.
                    _ => held.push(socket),
                }
            }
        });
        FaultServer {
            addr,
            accepted,
            forwarding,
            frozen,
            task,
        }
    }

    /// A black hole that never relays.
    pub async fn black_hole() -> Self {
        Self::start(None).await
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Relay new connections to the upstream ("the server is back").
    pub fn forward(&self) {
        self.forwarding.store(true, Ordering::SeqCst);
    }

    /// A relaying server that forwards from the start.
    pub async fn relay_to(upstream: String) -> Self {
        let server = Self::start(Some(upstream)).await;
        server.forward();
        server
    }

    /// Stop relaying bytes, on established connections too: the server hangs mid-session.
    pub fn freeze(&self) {
        self.frozen.store(true, Ordering::SeqCst);
    }
}

impl Drop for FaultServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
