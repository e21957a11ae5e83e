//! The `vitals` binary as a child process.

use std::io::Read;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

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

/// Send `sig` (`-TERM`, `-HUP`, ...) to process `pid` with `kill`.
pub fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap();
    assert!(ok.success(), "kill {sig} {pid}");
}
