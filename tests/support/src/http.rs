//! A minimal HTTP/1.1 client for tests and benchmarks: one request per connection, with hard
//! timeouts, as a probe sends it.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::wait;

/// A free port on 127.0.0.1 (free when asked; the daemon binds it right after).
pub fn free_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

/// A minimal HTTP/1.1 client: enough for probes, with a hard timeout.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
) -> Option<(u16, String, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: 0\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).ok()?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).ok()?;
    let (head, body) = raw.split_once("\r\n\r\n")?;
    let code = head.split(' ').nth(1)?.parse().ok()?;
    Some((code, head.to_owned(), body.to_owned()))
}

/// Poll `path` until it answers `code`; panics after `bound` (one of the [`wait`] bounds: the
/// work the answer waits behind).
pub fn wait_for(addr: SocketAddr, path: &str, code: u16, bound: Duration) {
    wait::until(&format!("{path} answers {code}"), bound, || {
        match request(addr, "GET", path, None) {
            Some((got, _, _)) if got == code => Ok(()),
            Some((got, _, body)) => Err(format!("{got} {body}")),
            None => Err("no answer".to_owned()),
        }
    });
}

/// Serves `app` on a free port of 127.0.0.1 on the calling test's runtime, for the rest of the
/// test; returns `http://ADDR`.
pub async fn serve_local(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// Serves `router` on a thread with its own single-threaded runtime, as the daemon serves its
/// probes, so a busy test runtime cannot delay an answer; returns the address. The thread lives
/// until the process exits.
pub fn serve_on_thread(router: axum::Router) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, router).await.unwrap();
        });
    });
    addr
}
