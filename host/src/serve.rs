//! The daemon: build the engine from a config, serve the probes on their own thread, drain on
//! SIGTERM/SIGINT.
//!
//! The HTTP server runs on a dedicated single-threaded runtime, so probes keep answering even when
//! the main runtime is saturated by checks. On a shutdown signal readiness turns 503 "draining"
//! at once; the server keeps answering for the drain window, then everything stops.

use std::net::SocketAddr;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use std::sync::Arc;

use crate::builder::{Vitals, VitalsBuilder, heartbeat_settings};
use crate::check::{CheckSettings, CheckSpec};
use crate::checks::build_check;
use crate::config::{CheckConfig, Config};
use crate::datasource::Datasources;
use crate::http::Token;
use crate::plugin::{PluginCheck, PluginRuntime};

/// Why the daemon could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The HTTP thread or its runtime failed.
    #[error("HTTP server failed: {0}")]
    Server(String),
    /// A check in the config could not be built.
    #[error("check '{check}': {message}")]
    Check {
        /// The check's name.
        check: String,
        /// What is wrong.
        message: String,
    },
    /// A datasource could not be set up.
    #[error("datasource: {0}")]
    Datasource(String),
    /// Installing a signal handler failed.
    #[error("cannot install signal handler: {0}")]
    Signal(std::io::Error),
}

/// Settings a check type gets unless its table says otherwise. Queue checks measure load, which
/// is shed through backpressure rather than failing readiness, so they are not critical.
fn base_settings(check: &CheckConfig) -> CheckSettings {
    match check {
        CheckConfig::Heartbeat(_) => heartbeat_settings(),
        CheckConfig::Database(_) | CheckConfig::Plugin(_) => CheckSettings::default(),
        CheckConfig::Pgmq(_) | CheckConfig::SqlQueue(_) | CheckConfig::RedisQueue(_) => {
            CheckSettings {
                interval: Duration::from_secs(5),
                critical: false,
                ..CheckSettings::default()
            }
        }
    }
}

/// Build the engine's pieces from a config. Must run inside a tokio runtime (datasource pools
/// are created there, lazily: nothing connects yet).
pub async fn builder_from_config(cfg: &Config) -> Result<VitalsBuilder, ServeError> {
    let mut b = Vitals::builder()
        .service_id(cfg.service.id.clone())
        .evaluator_config(cfg.evaluator.clone())
        .backpressure_config(cfg.backpressure.clone());
    if let Some(token) = &cfg.http.token {
        b = b.token(Token::new(token.expose()));
    }
    let datasources =
        Datasources::new(&cfg.datasources).map_err(|e| ServeError::Datasource(e.to_string()))?;
    if !datasources.is_empty() {
        b = b.metrics_source(Arc::new(datasources.clone()));
    }
    let mut runtime: Option<PluginRuntime> = None;
    for (name, check) in &cfg.checks {
        let failed = |message: String| ServeError::Check {
            check: name.clone(),
            message,
        };
        let spec = match check {
            CheckConfig::Heartbeat(hb) => {
                let (_, beat) = b.heartbeats().register(name, hb.ttl);
                CheckSpec::new(name, beat).with_settings(check_settings(check, cfg))
            }
            CheckConfig::Plugin(p) => {
                let rt = match &runtime {
                    Some(rt) => rt.clone(),
                    None => {
                        // Created only when a plugin is configured: the pooling engine reserves
                        // address space and starts the epoch ticker.
                        let rt = PluginRuntime::new(cfg.runtime_config())
                            .map_err(|e| failed(e.to_string()))?;
                        rt.set_datasources(datasources.clone());
                        b = b.metrics_source(rt.registry()).plugins(rt.registry());
                        runtime = Some(rt.clone());
                        rt
                    }
                };
                // The plugin's own suggested defaults apply under the operator's settings.
                PluginCheck::from_config(&rt, name, p)
                    .await
                    .map_err(|e| failed(e.to_string()))?
            }
            other => {
                let builtin = other
                    .builtin()
                    .ok_or_else(|| failed("unsupported check type".to_owned()))?;
                let check =
                    build_check(name, &builtin, &datasources).map_err(|e| failed(e.to_string()))?;
                CheckSpec {
                    name: name.clone(),
                    check,
                    settings: check_settings(other, cfg),
                }
            }
        };
        b.add_check(spec);
    }
    Ok(b)
}

/// A check's settings: its table over the defaults of its type. A check on a datasource gets a
/// default timeout longer than the datasource's own connect and statement limits, so that its
/// own, more precise reason ("statement timeout after 2s") is the one reported.
fn check_settings(check: &CheckConfig, cfg: &Config) -> CheckSettings {
    let mut base = base_settings(check);
    if let Some(ds) = check
        .builtin()
        .and_then(|b| b.datasource().and_then(|d| cfg.datasources.get(d)).cloned())
    {
        let own = ds
            .connect_timeout
            .max(ds.acquire_timeout)
            .max(ds.statement_timeout);
        base.timeout = base.timeout.max(own + Duration::from_secs(1));
    }
    check.common().apply(&base)
}

/// A running daemon.
#[derive(Debug)]
pub struct Daemon {
    vitals: Vitals,
    addr: SocketAddr,
    drain: Duration,
    stop_server: CancellationToken,
    stop_evaluator: CancellationToken,
    server: std::thread::JoinHandle<Result<(), String>>,
    evaluator: tokio::task::JoinHandle<()>,
}

impl Daemon {
    /// Start the evaluator and the HTTP server. `listen` overrides `http.listen`.
    pub async fn start(
        cfg: &Config,
        builder: VitalsBuilder,
        listen: Option<SocketAddr>,
    ) -> Result<Daemon, ServeError> {
        let addr = listen.unwrap_or(cfg.http.listen);
        let listener = std::net::TcpListener::bind(addr)
            .map_err(|source| ServeError::Bind { addr, source })?;
        listener
            .set_nonblocking(true)
            .map_err(|source| ServeError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| ServeError::Bind { addr, source })?;

        let (vitals, evaluator) = builder.build();
        let stop_evaluator = CancellationToken::new();
        let evaluator = tokio::spawn(evaluator.run(stop_evaluator.clone()));

        let stop_server = CancellationToken::new();
        let router = vitals.router();
        let stop = stop_server.clone();
        let server = std::thread::Builder::new()
            .name("vitals-http".to_owned())
            .spawn(move || -> Result<(), String> {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| e.to_string())?;
                rt.block_on(async move {
                    let listener =
                        tokio::net::TcpListener::from_std(listener).map_err(|e| e.to_string())?;
                    axum::serve(listener, router)
                        .with_graceful_shutdown(stop.cancelled_owned())
                        .await
                        .map_err(|e| e.to_string())
                })
            })
            .map_err(|e| ServeError::Server(e.to_string()))?;
        tracing::info!(%addr, "serving probes");
        Ok(Daemon {
            vitals,
            addr,
            drain: cfg.http.drain,
            stop_server,
            stop_evaluator,
            server,
            evaluator,
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The engine handle.
    pub fn vitals(&self) -> &Vitals {
        &self.vitals
    }

    /// Serve until SIGTERM or SIGINT, then drain and stop. A second signal during the drain
    /// window stops at once.
    pub async fn run_until_signal(self) -> Result<(), ServeError> {
        let mut signals = Signals::new()?;
        signals.next().await;
        tracing::info!(drain = ?self.drain, "shutdown signal: draining");
        self.vitals.start_draining();
        tokio::select! {
            _ = tokio::time::sleep(self.drain) => {}
            _ = signals.next() => tracing::warn!("second signal: stopping without waiting"),
        }
        self.stop().await
    }

    /// Stop the server and the evaluator now.
    pub async fn stop(self) -> Result<(), ServeError> {
        self.stop_evaluator.cancel();
        self.stop_server.cancel();
        let _ = self.evaluator.await;
        let server = self.server;
        let joined = tokio::task::spawn_blocking(move || server.join())
            .await
            .map_err(|e| ServeError::Server(e.to_string()))?;
        match joined {
            Ok(Ok(())) => {
                tracing::info!("stopped");
                Ok(())
            }
            Ok(Err(e)) => Err(ServeError::Server(e)),
            Err(_) => Err(ServeError::Server("the HTTP thread panicked".to_owned())),
        }
    }
}

struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> Result<Self, ServeError> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            term: signal(SignalKind::terminate()).map_err(ServeError::Signal)?,
            int: signal(SignalKind::interrupt()).map_err(ServeError::Signal)?,
        })
    }

    async fn next(&mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
    }
}
