//! A real headless Chromium driven over WebDriver: Debian's `chromedriver` (package
//! `chromium-driver`) as a child process, `fantoccini` as the client. Missing tools fail the test
//! with the command that installs them (scripts/test.sh runs it).

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder};
use serde_json::{Value, json};
use vitals_test_support::wait;

const INSTALL: &str = "apt-get update && apt-get install -y chromium chromium-driver \
    (scripts/test.sh does this when they are missing)";

/// `name` on the PATH, or a panic naming the package that provides it.
pub fn require_tool(name: &str, package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("`{name}` (Debian package `{package}`) is not installed; install it: {INSTALL}")
        })
}

/// A chromedriver child process, killed when dropped.
pub struct Driver {
    child: Child,
    pub addr: SocketAddr,
    _profile: tempfile::TempDir,
    profile: PathBuf,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    /// Start chromedriver on a free port and wait until it accepts connections.
    pub fn start() -> Driver {
        let chromedriver = require_tool("chromedriver", "chromium-driver");
        require_tool("chromium", "chromium");
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let child = Command::new(chromedriver)
            .arg(format!("--port={}", addr.port()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait::until(
            &format!("chromedriver listens on {addr}"),
            wait::START,
            || TcpStream::connect(addr).is_ok(),
        );
        let profile = tempfile::tempdir().unwrap();
        Driver {
            child,
            addr,
            profile: profile.path().to_path_buf(),
            _profile: profile,
        }
    }

    /// A new headless Chromium session with the browser console log enabled.
    pub async fn session(&self, width: u32, height: u32) -> Client {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".to_owned(),
            json!({
                "binary": require_tool("chromium", "chromium"),
                // No internet here: without these Chromium stalls on update and sync requests.
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage",
                    format!("--window-size={width},{height}"),
                    format!("--user-data-dir={}", self.profile.display()),
                ],
            }),
        );
        caps.insert("goog:loggingPrefs".to_owned(), json!({ "browser": "ALL" }));
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&format!("http://{}", self.addr))
            .await
            .expect("a WebDriver session with headless Chromium")
    }
}

/// chromedriver's browser console log (`goog:loggingPrefs`): entries since the last read.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(r#"{"type":"browser"}"#.to_owned()))
    }
}

/// The console entries of level SEVERE (errors, uncaught exceptions, failed loads) since the
/// last call.
pub async fn console_errors(client: &Client) -> Vec<String> {
    let log = client.issue_cmd(BrowserLog).await.unwrap();
    log.as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["level"] == "SEVERE")
        .map(|e| format!("{} {}", e["source"], e["message"]))
        .collect()
}

/// Evaluate `script` (a function body returning a value) until it returns true; panic with
/// `what` after `within` (a [`wait`] bound, or the time the page promises to take). Returns how
/// long it took.
pub async fn wait_until(client: &Client, script: &str, within: Duration, what: &str) -> Duration {
    let t0 = Instant::now();
    loop {
        let v = client.execute(script, vec![]).await.unwrap();
        if v == Value::Bool(true) {
            return t0.elapsed();
        }
        assert!(t0.elapsed() < within, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Write a PNG screenshot of the viewport to `path`.
pub async fn screenshot(client: &Client, path: &Path) {
    let png = client.screenshot().await.unwrap();
    std::fs::write(path, png).unwrap();
}
