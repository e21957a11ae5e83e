//! The plugin commands' view of a running daemon: `GET /plugins` and `GET /health/checks/NAME`
//! over one HTTP/1.1 connection per question (the daemon's port is usually local; no TLS).

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use serde_json::Value;

/// The daemon could not be asked, or answered something unexpected.
#[derive(Debug, thiserror::Error)]
#[error("daemon {url}: {message}")]
pub(crate) struct ClientError {
    /// The daemon's URL.
    url: String,
    /// What went wrong.
    message: String,
}

/// Which daemon the plugin commands ask, and its token.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct DaemonArgs {
    /// The daemon watching the plugin directory (`http://host:port`): `install` and `remove`
    /// wait until it has taken the change, `list` asks it what runs.
    #[arg(long = "daemon", id = "daemon", value_name = "URL")]
    pub url: Option<url::Url>,
    /// The daemon's `http.token`.
    #[arg(long, env = "VITALS_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

impl DaemonArgs {
    /// A client of the daemon, when one is given.
    pub(crate) fn client(&self) -> Option<DaemonClient> {
        let url = self.url.clone()?;
        Some(DaemonClient::new(url, self.token.clone()))
    }
}

/// A daemon at `url`, asked with its `http.token` when it has one.
#[derive(Debug, Clone)]
pub(crate) struct DaemonClient {
    url: url::Url,
    token: Option<String>,
}

/// The daemon's answers are small; a misdirected URL must not make a read go on forever.
const MAX_BODY: usize = 16 << 20;

impl DaemonClient {
    pub(crate) fn new(url: url::Url, token: Option<String>) -> Self {
        DaemonClient { url, token }
    }

    /// An error about this daemon.
    pub(crate) fn error(&self, message: impl Into<String>) -> ClientError {
        ClientError {
            url: self.url.to_string(),
            message: message.into(),
        }
    }

    /// The plugin checks the daemon lists (`GET /plugins`).
    pub(crate) async fn plugins(&self) -> Result<Vec<Value>, ClientError> {
        let (code, body) = self.get("/plugins").await?;
        if code != 200 {
            return Err(self.error(format!("GET /plugins answered {code}: {}", text(&body))));
        }
        serde_json::from_slice(&body)
            .map_err(|e| self.error(format!("GET /plugins is not a JSON list: {e}")))
    }

    /// The daemon's `/plugins` entry for check `name`, if it lists one.
    pub(crate) async fn entry(&self, name: &str) -> Result<Option<Value>, ClientError> {
        Ok(self
            .plugins()
            .await?
            .into_iter()
            .find(|p| p["name"] == name))
    }

    /// Check `name`'s latest result (`GET /health/checks/NAME`); `None` when it has none yet.
    pub(crate) async fn check(&self, name: &str) -> Result<Option<Value>, ClientError> {
        let path = format!("/health/checks/{name}");
        let (code, body) = self.get(&path).await?;
        if !matches!(code, 200 | 503) {
            return Err(self.error(format!("GET {path} answered {code}: {}", text(&body))));
        }
        Ok(serde_json::from_slice::<Value>(&body).ok())
    }

    /// One GET: status code and body.
    async fn get(&self, path: &str) -> Result<(u16, Bytes), ClientError> {
        if self.url.scheme() != "http" {
            return Err(self.error("only http:// is supported (the daemon's port, usually local)"));
        }
        let host = self.url.host_str().unwrap_or("127.0.0.1");
        let port = self.url.port_or_known_default().unwrap_or(80);
        let stream = tokio::net::TcpStream::connect((host, port))
            .await
            .map_err(|e| self.error(format!("cannot connect: {e}")))?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .map_err(|e| self.error(e.to_string()))?;
        tokio::spawn(conn);
        let base = self.url.path().trim_end_matches('/');
        let mut request =
            http::Request::get(format!("{base}{path}")).header(http::header::HOST, host);
        if let Some(token) = &self.token {
            request = request.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let request = request
            .body(Empty::<Bytes>::new())
            .map_err(|e| self.error(e.to_string()))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| self.error(format!("GET {path}: {e}")))?;
        let code = response.status().as_u16();
        let body = http_body_util::Limited::new(response.into_body(), MAX_BODY)
            .collect()
            .await
            .map_err(|e| self.error(format!("GET {path}: {e}")))?
            .to_bytes();
        Ok((code, body))
    }
}

/// The start of a body, for an error message.
fn text(body: &[u8]) -> String {
    String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned()
}
