//! The `vitals` binary as a child process, and a minimal HTTP client to probe it.
//!
//! Use it from a test file with `#[path = "../../../tests/support/daemon.rs"] mod daemon;` (it needs
//! `#[path = "../../../tests/support/wait.rs"] mod wait;` beside it).

#![allow(dead_code, clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::wait;

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

/// A running daemon, killed when dropped.
pub struct Daemon(pub Child);

impl Daemon {
    /// Everything the daemon wrote to stderr (its log): waits for the pipe to close, so call it
    /// once the process has exited.
    pub fn log(&mut self) -> String {
        let mut log = String::new();
        if let Some(mut stderr) = self.0.stderr.take() {
            stderr.read_to_string(&mut log).unwrap();
        }
        log
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `vitals serve --config FILE --listen ADDR` with one extra environment variable; stderr piped.
pub fn serve_config(config: &std::path::Path, addr: SocketAddr, env: (&str, &str)) -> Daemon {
    let child = Command::new(env!("CARGO_BIN_EXE_vitals"))
        .args(["serve", "--config"])
        .arg(config)
        .args(["--listen", &addr.to_string()])
        .env(env.0, env.1)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    Daemon(child)
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

/// A config with a heartbeat that passes at once and an empty plugin directory (returned
/// second), compiled into a private cache under `dir/data`. Its token is `$START_TOKEN`: start
/// it with `serve_config(&config, addr, ("START_TOKEN", token))`.
pub fn plugin_dir_config(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let plugins = dir.join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    let config = dir.join("vitals.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[service]
data_dir = "{data}"

[http]
token = "${{START_TOKEN}}"
drain = "1s"

[evaluator]
heartbeat = "100ms"

[plugins]
dir = "{plugins}"

[checks.worker]
type = "heartbeat"
ttl = "1h"
interval = "50ms"
"#,
            data = dir.join("data").display(),
            plugins = plugins.display()
        ),
    )
    .unwrap();
    (config, plugins)
}
