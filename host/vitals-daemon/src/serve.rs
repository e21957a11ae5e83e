//! The daemon: build the engine from a config, serve the probes on their own thread, drain on
//! SIGTERM/SIGINT.
//!
//! The HTTP server runs on a dedicated single-threaded runtime, so probes keep answering even when
//! the main runtime is saturated by checks. On a shutdown signal readiness turns 503 "draining"
//! at once; the server keeps answering for the drain window, then everything stops.

mod admin;
mod notify;
mod reload;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::grpc::GrpcServer;
use vitals::http::Token;
use vitals::{Vitals, VitalsBuilder};
use vitals_sql::{Datasources, SharedDatasources};
use vitals_wasm::{PluginRuntime, PluginSupervisor, PluginWatcher};

pub use admin::openapi_json;
pub(crate) use reload::{ReloadLog, ReloadSummary, Reloader};

/// Asks the reload task to re-read the config file; the answer comes back on the oneshot.
pub(crate) type ReloadRequest = oneshot::Sender<Result<ReloadSummary, String>>;

/// Why the daemon could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {error}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error (in the message, not a `source()`, so a printed chain names it once).
        error: std::io::Error,
    },
    /// The HTTP thread or its runtime failed.
    #[error("HTTP server failed: {0}")]
    Server(String),
    /// The plugin runtime or the plugin directory's watcher could not start.
    #[error(transparent)]
    Plugin(#[from] vitals_wasm::PluginError),
    /// The plugin directory could not be created.
    #[error("cannot create plugin directory {}: {error}", dir.display())]
    PluginDir {
        /// The directory.
        dir: PathBuf,
        /// The OS error.
        error: std::io::Error,
    },
    /// A check in the config could not be built.
    #[error("check '{check}': {message}")]
    Check {
        /// The check's name.
        check: String,
        /// What is wrong.
        message: String,
    },
    /// Several checks in the config could not be built: each, one per line.
    #[error("{}", one_per_line(.0))]
    Checks(Vec<ServeError>),
    /// A datasource could not be set up.
    #[error("datasource: {0}")]
    Datasource(String),
    /// The gRPC health server could not start.
    #[error(transparent)]
    Grpc(#[from] crate::grpc::GrpcError),
    /// Installing a signal handler failed.
    #[error("cannot install signal handler: {0}")]
    Signal(std::io::Error),
}

fn one_per_line(errors: &[ServeError]) -> String {
    let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
    format!("{} problems:\n{}", errors.len(), lines.join("\n"))
}

/// A builder with the engine settings of `cfg` (service id, evaluator, backpressure, token) and
/// no checks: [`Daemon::from_config`] registers those, and keeps them in line with reloads.
pub fn builder_from_config(cfg: &Config) -> VitalsBuilder {
    let b = Vitals::builder()
        .service_id(cfg.service.id.clone())
        .evaluator_config(cfg.evaluator.clone())
        .backpressure_config(cfg.backpressure.clone());
    match &cfg.http.token {
        Some(token) => b.token(Token::new(token.expose())),
        None => b,
    }
}

/// The plugin side of a daemon started from a config.
#[derive(Debug)]
struct Plugins {
    supervisor: Arc<PluginSupervisor>,
    /// Shared with the reload task, which adds the directories a new config names.
    _watcher: Arc<std::sync::Mutex<PluginWatcher>>,
    stop: CancellationToken,
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
    grpc: Option<GrpcServer>,
    evaluator: tokio::task::JoinHandle<()>,
    plugins: Option<Plugins>,
    reload: Option<mpsc::Sender<ReloadRequest>>,
    /// Installed when start-up began, for [`Daemon::from_config`].
    signals: Option<Signals>,
    /// A stop signal came during start-up: drain at once.
    stop_requested: bool,
}

impl Daemon {
    /// Start the daemon a config describes: datasources, checks, the plugin runtime, the watched
    /// plugin directory, the HTTP server with `POST /admin/reload`. `file` is where the config
    /// came from (re-read on reload); `listen` overrides `http.listen`.
    pub async fn from_config(
        cfg: &Config,
        file: Option<PathBuf>,
        listen: Option<SocketAddr>,
    ) -> Result<Daemon, ServeError> {
        // Before anything slow: a SIGTERM during start-up (plugins compiling) is kept for
        // `run_until_signal`, which drains and stops, instead of killing the process.
        let signals = Signals::new()?;
        let runtime = PluginRuntime::new(cfg.runtime_config())?;
        if let Some(dir) = &cfg.plugins.dir {
            std::fs::create_dir_all(dir).map_err(|error| ServeError::PluginDir {
                dir: dir.clone(),
                error,
            })?;
        }
        let datasources = Arc::new(SharedDatasources::new(Datasources::default()));
        let log = Arc::new(ReloadLog::default());
        let registry = runtime.registry();
        let builder = builder_from_config(cfg)
            .metrics_source(datasources.clone())
            .metrics_source(Arc::new(runtime.clone()))
            .metrics_source(log.clone())
            .document(registry.clone())
            .pending_source(registry.clone())
            .notes_source(registry)
            .notes_source(log.clone())
            // Readiness says "starting" until the config's checks and the plugin directory are
            // loaded below, never "ok" on the few registered first.
            .hold_until_started();
        let (reload_tx, mut reload_rx) = mpsc::channel::<ReloadRequest>(4);
        let builder = builder.routes(admin::routes(reload_tx.clone()));
        let mut daemon = Self::serve(cfg, builder, listen).await?;
        let supervisor = Arc::new(PluginSupervisor::new(
            runtime.clone(),
            daemon.vitals.registry().clone(),
            cfg.supervisor_config(),
        ));
        let reloader = Reloader::new(
            file,
            cfg,
            daemon.vitals.clone(),
            runtime,
            supervisor.clone(),
            log,
            datasources,
        );
        let mut signals = signals;
        let applied = {
            let apply = reloader.apply(cfg.clone());
            tokio::pin!(apply);
            loop {
                tokio::select! {
                    applied = &mut apply => break Some(applied),
                    signal = signals.next() => match signal {
                        Signal::Stop => break None,
                        Signal::Reload => tracing::warn!(
                            "SIGHUP during start-up ignored: the config being loaded was read at start"
                        ),
                    },
                }
            }
        };
        daemon.signals = Some(signals);
        match applied {
            Some(Ok(_)) => daemon.vitals.registry().startup_complete(),
            Some(Err(e)) => {
                let _ = daemon.stop().await;
                return Err(e);
            }
            None => {
                // Loads still running are abandoned; the daemon drains and stops.
                tracing::info!("shutdown signal during start-up: not loading the rest");
                daemon.stop_requested = true;
                return Ok(daemon);
            }
        }
        let stop = CancellationToken::new();
        // The server and evaluator run already: a failure from here on stops them, as one of
        // `apply` does above.
        let watcher =
            match PluginWatcher::start(supervisor.clone(), cfg.watch_config(), stop.clone()) {
                Ok(watcher) => watcher,
                Err(e) => {
                    let _ = daemon.stop().await;
                    return Err(e.into());
                }
            };
        let watcher = Arc::new(std::sync::Mutex::new(watcher));
        let (task_watcher, task_supervisor) = (watcher.clone(), supervisor.clone());
        tokio::spawn(async move {
            while let Some(reply) = reload_rx.recv().await {
                let outcome = reloader.reload_file().await;
                let dirs = task_supervisor.watched_dirs();
                task_watcher
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .watch(&dirs);
                let _ = reply.send(outcome);
            }
        });
        daemon.plugins = Some(Plugins {
            supervisor,
            _watcher: watcher,
            stop,
        });
        daemon.reload = Some(reload_tx);
        Ok(daemon)
    }

    /// Start the evaluator and the HTTP server for checks registered on `builder`. `listen`
    /// overrides `http.listen`.
    pub async fn start(
        cfg: &Config,
        builder: VitalsBuilder,
        listen: Option<SocketAddr>,
    ) -> Result<Daemon, ServeError> {
        Self::serve(cfg, builder, listen).await
    }

    async fn serve(
        cfg: &Config,
        builder: VitalsBuilder,
        listen: Option<SocketAddr>,
    ) -> Result<Daemon, ServeError> {
        let addr = listen.unwrap_or(cfg.http.listen);
        let listener =
            std::net::TcpListener::bind(addr).map_err(|error| ServeError::Bind { addr, error })?;
        listener
            .set_nonblocking(true)
            .map_err(|error| ServeError::Bind { addr, error })?;
        let addr = listener
            .local_addr()
            .map_err(|error| ServeError::Bind { addr, error })?;
        let grpc_listener = cfg.grpc.listen.map(crate::grpc::bind).transpose()?;

        let (vitals, evaluator) = builder.build();
        let stop_evaluator = CancellationToken::new();
        let evaluator = tokio::spawn(evaluator.run(stop_evaluator.clone()));

        let stop_server = CancellationToken::new();
        let grpc = match grpc_listener {
            Some(l) => {
                let started = GrpcServer::start(l, vitals.shared().clone(), stop_server.clone());
                if started.is_err() {
                    stop_evaluator.cancel();
                }
                Some(started?)
            }
            None => None,
        };
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
            grpc,
            evaluator,
            plugins: None,
            reload: None,
            signals: None,
            stop_requested: false,
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address the gRPC health service listens on, when `[grpc] listen` is set.
    pub fn grpc_addr(&self) -> Option<SocketAddr> {
        self.grpc.as_ref().map(GrpcServer::local_addr)
    }

    /// The engine handle.
    pub fn vitals(&self) -> &Vitals {
        &self.vitals
    }

    /// The plugin supervisor, for a daemon started with [`Daemon::from_config`].
    pub fn plugin_supervisor(&self) -> Option<&Arc<PluginSupervisor>> {
        self.plugins.as_ref().map(|p| &p.supervisor)
    }

    /// Re-read the config file and apply it (what SIGHUP and `POST /admin/reload` do).
    pub async fn reload(&self) -> Result<ReloadSummary, String> {
        let Some(tx) = &self.reload else {
            return Err("this daemon was not started from a config".to_owned());
        };
        let (reply, answer) = oneshot::channel();
        tx.send(reply)
            .await
            .map_err(|_| "the reload task has stopped".to_owned())?;
        answer
            .await
            .map_err(|_| "the reload task has stopped".to_owned())?
    }

    /// Serve until SIGTERM or SIGINT, then drain and stop; SIGHUP reloads the config file. A
    /// second SIGTERM/SIGINT during the drain window stops at once, and so does a signal during
    /// start-up: a daemon that was never ready has no traffic to drain.
    pub async fn run_until_signal(mut self) -> Result<(), ServeError> {
        let mut signals = match self.signals.take() {
            Some(signals) => signals,
            None => Signals::new()?,
        };
        if self.stop_requested {
            tracing::info!("stopping: the signal came during start-up, nothing to drain");
            return self.stop_now().await;
        }
        // Signal handlers are installed and the probe server is listening: serving.
        notify::ready();
        loop {
            match signals.next().await {
                Signal::Stop => break,
                Signal::Reload => {
                    tracing::info!("SIGHUP: reloading the config");
                    notify::reloading();
                    // The outcome is logged and shown in the status notes by the reload task; a
                    // rejected config leaves the old one serving, so READY=1 either way.
                    let _ = self.reload().await;
                    notify::ready();
                }
            }
        }
        tracing::info!(drain = ?self.drain, "shutdown signal: draining");
        self.vitals.start_draining();
        notify::stopping();
        let drain = tokio::time::sleep(self.drain);
        tokio::pin!(drain);
        loop {
            tokio::select! {
                _ = &mut drain => break,
                signal = signals.next() => if signal == Signal::Stop {
                    tracing::warn!("second signal: stopping without waiting");
                    return self.stop_now().await;
                },
            }
        }
        self.stop().await
    }

    /// Stop without waiting for anything that could take long: open connections, runs in
    /// flight and compiles are left to the process's exit.
    async fn stop_now(self) -> Result<(), ServeError> {
        match tokio::time::timeout(STOP_NOW_WITHIN, self.stop()).await {
            Ok(stopped) => stopped,
            Err(_) => {
                tracing::info!("stopped (work in flight abandoned)");
                Ok(())
            }
        }
    }

    /// Stop the server and the evaluator now.
    pub async fn stop(self) -> Result<(), ServeError> {
        if let Some(p) = &self.plugins {
            p.stop.cancel();
        }
        self.stop_evaluator.cancel();
        self.stop_server.cancel();
        let _ = self.evaluator.await;
        let server = self.server;
        let grpc = self.grpc;
        let (joined, grpc_joined) =
            tokio::task::spawn_blocking(move || (server.join(), grpc.map(GrpcServer::join)))
                .await
                .map_err(|e| ServeError::Server(e.to_string()))?;
        if let Some(Err(e)) = grpc_joined {
            tracing::warn!("gRPC server: {e}");
        }
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

/// How long a stop "at once" may wait for the server and the evaluator to wind down.
const STOP_NOW_WITHIN: Duration = Duration::from_millis(200);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Signal {
    Stop,
    Reload,
}

#[derive(Debug)]
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> Result<Self, ServeError> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            term: signal(SignalKind::terminate()).map_err(ServeError::Signal)?,
            int: signal(SignalKind::interrupt()).map_err(ServeError::Signal)?,
            hup: signal(SignalKind::hangup()).map_err(ServeError::Signal)?,
        })
    }

    async fn next(&mut self) -> Signal {
        tokio::select! {
            _ = self.term.recv() => Signal::Stop,
            _ = self.int.recv() => Signal::Stop,
            _ = self.hup.recv() => Signal::Reload,
        }
    }
}
