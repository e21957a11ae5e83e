//! `vitals plugin install`: validate a plugin's manifest, put the component and the manifest into
//! a plugin directory atomically, and, given the daemon's URL, wait until that daemon has loaded
//! this exact file (by sha256) and print its first result or why it was rejected.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::cli::RunExit;
use vitals_wasm::PluginError;
use vitals_wasm::PluginManifest;
use vitals_wasm::plugin_name;

/// `vitals plugin install FILE.wasm`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct InstallArgs {
    /// The component file.
    pub file: PathBuf,
    /// The plugin's manifest (`NAME.toml`): validated as the daemon does, installed beside the
    /// component. Without it, a manifest already in the directory stays.
    #[arg(long, value_name = "NAME.toml")]
    pub manifest: Option<PathBuf>,
    /// The check name [default: the manifest's file name, else the component's, `_` read as `-`].
    #[arg(long)]
    pub name: Option<String>,
    /// The daemon's plugin directory (`plugins.dir`).
    #[arg(long, env = "VITALS_PLUGIN_DIR", value_name = "PLUGIN_DIR")]
    pub dir: PathBuf,
    /// Wait until the daemon at this URL (`http://host:port`) has loaded this exact file, then
    /// print its first result (or the reason it was rejected).
    #[arg(long, value_name = "URL")]
    pub daemon: Option<url::Url>,
    /// The daemon's `http.token`.
    #[arg(long, env = "VITALS_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// How long to wait for the daemon to load the file and run it once.
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    pub wait: Duration,
}

/// Why `vitals plugin install` stopped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum InstallError {
    /// The check name cannot be a plugin file's name.
    #[error("check name {0:?}: use letters, digits, '-', '_' and '.' only (it becomes NAME.wasm)")]
    Name(String),
    /// A file could not be read or written.
    #[error("{file}: {error}")]
    Io {
        /// The file.
        file: PathBuf,
        /// What went wrong (in the message, not a `source()`, so a printed chain says it once).
        error: std::io::Error,
    },
    /// The component file is not WebAssembly at all.
    #[error("{0}: not a WebAssembly file (it does not start with \\0asm)")]
    NotWasm(PathBuf),
    /// The manifest is not valid.
    #[error(transparent)]
    Manifest(#[from] PluginError),
    /// The daemon could not be asked, or answered something unexpected.
    #[error("daemon {url}: {message}")]
    Daemon {
        /// The daemon's URL.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// The daemon rejected the file.
    #[error("rejected by the daemon: {0}")]
    Rejected(String),
    /// The daemon did not load and run the file in time.
    #[error(
        "the daemon did not load and run {name} (sha256 {sha256}) within {waited}; last seen: {last}"
    )]
    TimedOut {
        /// The check name.
        name: String,
        /// The installed file's sha256.
        sha256: String,
        /// How long was waited.
        waited: String,
        /// What the daemon said last.
        last: String,
    },
}

/// What was installed, and the daemon's first result when it was waited for.
#[derive(Debug, Clone)]
pub(crate) struct Installed {
    /// The check name.
    pub name: String,
    /// The component's path in the plugin directory.
    pub wasm: PathBuf,
    /// The manifest's path in the plugin directory, when one was installed.
    pub manifest: Option<PathBuf>,
    /// sha256 of the component.
    pub sha256: String,
    /// The first result: its state (pass, warn, fail, unknown) and output.
    pub first_result: Option<(String, String)>,
}

impl Installed {
    /// How `vitals plugin install` exits, with `vitals plugin run`'s codes: pass without a daemon
    /// or when the first result passes, else warn or fail as that result says.
    pub(crate) fn exit(&self) -> RunExit {
        match self.first_result.as_ref().map(|(state, _)| state.as_str()) {
            None | Some("pass") => RunExit::Pass,
            Some("warn") => RunExit::Warn,
            Some(_) => RunExit::Fail,
        }
    }
}

/// The check name from `--name`, the manifest's file name or the component's.
fn check_name(args: &InstallArgs) -> Result<String, InstallError> {
    let stem = |p: &Path| {
        p.file_stem()
            .map(|s| s.to_string_lossy().replace('_', "-"))
            .unwrap_or_default()
    };
    let name = match (&args.name, &args.manifest) {
        (Some(name), _) => name.clone(),
        (None, Some(manifest)) => stem(manifest),
        (None, None) => stem(&args.file),
    };
    match plugin_name(&format!("{name}.wasm")) {
        Some(_) => Ok(name),
        None => Err(InstallError::Name(name)),
    }
}

/// Write `bytes` to `dir/final_name` through a hidden temporary file, so that the daemon's
/// watcher never reads half a file.
fn write_atomically(dir: &Path, final_name: &str, bytes: &[u8]) -> Result<PathBuf, InstallError> {
    let tmp = dir.join(format!(".{final_name}.{}.tmp", std::process::id()));
    let target = dir.join(final_name);
    let io = |file: &Path| {
        let file = file.to_owned();
        move |error| InstallError::Io { file, error }
    };
    std::fs::write(&tmp, bytes).map_err(io(&tmp))?;
    std::fs::rename(&tmp, &target).map_err(io(&target))?;
    Ok(target)
}

/// Validate and copy; then, given a daemon, wait for it (reporting progress through
/// `progress`).
pub(crate) async fn install(
    args: &InstallArgs,
    mut progress: impl FnMut(&str),
) -> Result<Installed, InstallError> {
    let name = check_name(args)?;
    let read = |file: &Path| {
        std::fs::read(file).map_err(|error| InstallError::Io {
            file: file.to_owned(),
            error,
        })
    };
    let wasm = read(&args.file)?;
    if !wasm.starts_with(b"\0asm") {
        return Err(InstallError::NotWasm(args.file.clone()));
    }
    let sha256 = hex::encode(Sha256::digest(&wasm));
    let manifest = match &args.manifest {
        Some(path) => {
            PluginManifest::read(path)?;
            Some(read(path)?)
        }
        None => None,
    };
    if !args.dir.is_dir() {
        return Err(InstallError::Io {
            file: args.dir.clone(),
            error: std::io::Error::new(std::io::ErrorKind::NotFound, "no such directory"),
        });
    }
    let wasm_target = args.dir.join(format!("{name}.wasm"));
    let manifest_target = args.dir.join(format!("{name}.toml"));
    // The same bytes again: the daemon keeps what it runs and loads nothing new.
    let unchanged = std::fs::read(&wasm_target).ok().as_ref() == Some(&wasm)
        && manifest
            .as_ref()
            .is_none_or(|m| std::fs::read(&manifest_target).ok().as_ref() == Some(m));
    let daemon = args.daemon.as_ref().map(|url| Daemon {
        url: url.clone(),
        token: args.token.clone(),
    });
    // Counted before the copy, so that only a load (or rejection) after it counts.
    let before = match &daemon {
        Some(d) => Some(d.counts(&name).await?),
        None => None,
    };
    // The manifest first: the component's arrival is what makes the daemon load both.
    let manifest = manifest
        .map(|bytes| write_atomically(&args.dir, &format!("{name}.toml"), &bytes))
        .transpose()?;
    let wasm_path = write_atomically(&args.dir, &format!("{name}.wasm"), &wasm)?;
    let mut installed = Installed {
        name,
        wasm: wasm_path,
        manifest,
        sha256,
        first_result: None,
    };
    if let (Some(daemon), Some(before)) = (daemon, before) {
        let wanted = Wanted { before, unchanged };
        installed.first_result = Some(
            wait_for_first_result(&daemon, &installed, wanted, args.wait, &mut progress).await?,
        );
    }
    Ok(installed)
}

/// What counts as the daemon having taken the installed file.
#[derive(Debug, Clone, Copy)]
struct Wanted {
    /// The plugin's loads and rejections before the copy.
    before: Counts,
    /// The directory held these exact files already: the version running is the one wanted.
    unchanged: bool,
}

/// A plugin's loads and rejections so far, from `/plugins` (zero for a plugin it does not list).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Counts {
    loads: u64,
    rejections: u64,
}

/// Poll the daemon until it has loaded `installed` and run it once.
async fn wait_for_first_result(
    daemon: &Daemon,
    installed: &Installed,
    wanted: Wanted,
    wait: Duration,
    progress: &mut impl FnMut(&str),
) -> Result<(String, String), InstallError> {
    let started = Instant::now();
    let mut last = "nothing yet".to_owned();
    let mut last_progress: Option<Instant> = None;
    let mut loaded_at: Option<SystemTime> = None;
    while started.elapsed() < wait {
        match loaded_at {
            None => match daemon.plugin_state(installed, wanted).await? {
                Seen::Loaded(at) => loaded_at = Some(at),
                Seen::Rejected(reason) => return Err(InstallError::Rejected(reason)),
                Seen::Waiting(what) => last = what,
            },
            Some(at) => match daemon.check_result(&installed.name, at).await? {
                Some(result) => return Ok(result),
                None => last = "loaded; waiting for its first run".to_owned(),
            },
        }
        if last_progress.is_none_or(|t| t.elapsed() >= Duration::from_secs(2)) {
            let secs = started.elapsed().as_secs();
            progress(&format!("{}: {last} ({secs} s)", installed.name));
            last_progress = Some(Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(InstallError::TimedOut {
        name: installed.name.clone(),
        sha256: installed.sha256.clone(),
        waited: humantime::format_duration(wait).to_string(),
        last,
    })
}

/// What the daemon's `/plugins` says of the installed file.
enum Seen {
    Loaded(SystemTime),
    Rejected(String),
    Waiting(String),
}

struct Daemon {
    url: url::Url,
    token: Option<String>,
}

impl Daemon {
    fn error(&self, message: impl Into<String>) -> InstallError {
        InstallError::Daemon {
            url: self.url.to_string(),
            message: message.into(),
        }
    }

    /// The plugins the daemon lists.
    async fn plugins(&self) -> Result<Vec<Value>, InstallError> {
        let (code, body) = self.get("/plugins").await?;
        if code != 200 {
            return Err(self.error(format!("GET /plugins answered {code}: {}", text(&body))));
        }
        serde_json::from_slice(&body)
            .map_err(|e| self.error(format!("GET /plugins is not a JSON list: {e}")))
    }

    async fn counts(&self, name: &str) -> Result<Counts, InstallError> {
        let list = self.plugins().await?;
        Ok(list
            .iter()
            .find(|p| p["name"] == name)
            .map(|p| Counts {
                loads: p["loads"].as_u64().unwrap_or(0),
                rejections: p["rejections"].as_u64().unwrap_or(0),
            })
            .unwrap_or_default())
    }

    async fn plugin_state(
        &self,
        installed: &Installed,
        wanted: Wanted,
    ) -> Result<Seen, InstallError> {
        let list = self.plugins().await?;
        let Some(entry) = list.iter().find(|p| p["name"] == installed.name.as_str()) else {
            return Ok(Seen::Waiting(
                "the daemon has not seen the file yet".to_owned(),
            ));
        };
        let ours = |v: &Value| v["sha256"] == installed.sha256.as_str();
        let count = |key: &str| entry[key].as_u64().unwrap_or(0);
        let reloaded = wanted.unchanged || count("loads") > wanted.before.loads;
        if ours(entry)
            && reloaded
            && let Some(at) = entry["loaded_at"].as_str()
        {
            let at = humantime::parse_rfc3339_weak(at)
                .map_err(|e| self.error(format!("loaded_at {at:?}: {e}")))?;
            return Ok(Seen::Loaded(at));
        }
        let rejected = &entry["rejected"];
        if ours(rejected) && count("rejections") > wanted.before.rejections {
            let reason = rejected["reason"].as_str().unwrap_or("no reason given");
            return Ok(Seen::Rejected(reason.to_owned()));
        }
        Ok(Seen::Waiting(match entry["loading"]["since"].as_str() {
            Some(since) => format!("compiling since {since}"),
            None => "waiting for the daemon to load it".to_owned(),
        }))
    }

    /// The check's state and output once it has a result from at or after `loaded_at`.
    async fn check_result(
        &self,
        name: &str,
        loaded_at: SystemTime,
    ) -> Result<Option<(String, String)>, InstallError> {
        let (code, body) = self.get(&format!("/health/checks/{name}")).await?;
        if !matches!(code, 200 | 503) {
            return Err(self.error(format!("GET /health/checks/{name} answered {code}")));
        }
        let Ok(doc) = serde_json::from_slice::<Value>(&body) else {
            return Ok(None);
        };
        // Both times are the daemon's, in milliseconds: a run of the replaced version that ended
        // before the load is not taken for the new one's.
        let fresh = doc["time"]
            .as_str()
            .and_then(|t| humantime::parse_rfc3339_weak(t).ok())
            .is_some_and(|t| t >= loaded_at);
        let state = doc["state"].as_str();
        Ok(match (fresh, state) {
            (true, Some(state)) => {
                let output = doc["output"].as_str().unwrap_or_default().to_owned();
                Some((state.to_owned(), output))
            }
            _ => None,
        })
    }

    /// One GET over HTTP/1.1: status code and body.
    async fn get(&self, path: &str) -> Result<(u16, Bytes), InstallError> {
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
        // The daemon's answers are small; a misdirected URL must not make this read forever.
        let body = http_body_util::Limited::new(response.into_body(), 16 << 20)
            .collect()
            .await
            .map_err(|e| self.error(format!("GET {path}: {e}")))?
            .to_bytes();
        Ok((code, body))
    }
}

fn text(body: &[u8]) -> String {
    String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned()
}
