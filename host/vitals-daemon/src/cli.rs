//! The `vitals` command line.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::authoring::cli::RunExit;
use crate::config::{self, Config};
use crate::serve::Daemon;

/// Health checks, backpressure and sandboxed WebAssembly checks.
#[derive(Debug, Parser)]
#[command(name = "vitals", version, about, propagate_version = true)]
pub(crate) struct Cli {
    /// Log format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "VITALS_LOG_FORMAT")]
    pub log_format: LogFormat,
    /// Log more: the plugin and config commands log only warnings unless asked (`-v`: info,
    /// `-vv`: debug); `serve` logs info. `RUST_LOG` overrides both.
    #[arg(long, short, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the daemon: evaluate checks in the background and serve probes.
    Serve {
        /// Config file. Without it, an embedded default runs on a fresh machine (SQLite in the
        /// data directory, the shipped plugins).
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Listen address, overriding `http.listen`.
        #[arg(long, short)]
        listen: Option<SocketAddr>,
    },
    /// Check a config file without starting anything.
    Validate {
        /// The config file.
        file: PathBuf,
    },
    /// Tools for plugin authors.
    #[command(subcommand)]
    Plugin(PluginCommand),
}

/// `vitals plugin ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum PluginCommand {
    /// Run a plugin once with config values and grants from the command line; print its result,
    /// wall time and peak memory. The exit code tells the result (below).
    #[command(after_help = RunExit::help())]
    Run(crate::authoring::cli::RunArgs),
    /// Print a plugin's description and the interfaces it imports and exports.
    Inspect(crate::authoring::cli::InspectArgs),
    /// Create a plugin project (Rust, JavaScript or Python) that builds and passes its own test.
    New(crate::authoring::template::NewArgs),
    /// Install a plugin into a daemon's plugin directory: validate its manifest, check that the
    /// component loads with it, copy both files atomically and, with `--daemon`, wait until the
    /// daemon has loaded this exact file and print its first result. Exit codes: 0 installed
    /// (and passing), 10 warn, 11 fail or unknown, 13 refused (it would not load, here or in
    /// the daemon), 1 anything else (bad manifest, no answer in time).
    Install(crate::authoring::install::InstallArgs),
    /// List the plugins in a plugin directory, or, with `--daemon`, what the daemon runs:
    /// version, state and last result.
    List(crate::authoring::manage::ListArgs),
    /// Remove a plugin (`NAME.wasm` and `NAME.toml`) from a plugin directory; with `--daemon`,
    /// wait until the daemon no longer runs it.
    Remove(crate::authoring::manage::RemoveArgs),
}

/// The embedded default config used by `vitals serve` without `--config`.
pub(crate) const DEFAULT_CONFIG: &str = include_str!("config/default.toml");

/// Logs go to stderr: `info` for `serve`, only warnings for the one-shot commands unless `-v`
/// (their answer is on stdout, and an INFO line per run is noise there). Colour only on a
/// terminal, and never with `NO_COLOR` set (<https://no-color.org>), so log files and pipes
/// get plain text.
fn init_logs(format: LogFormat, serving: bool, verbose: u8) {
    use std::io::IsTerminal;
    let level = match (serving, verbose) {
        (_, 2..) => "debug",
        (true, _) | (false, 1) => "info",
        (false, 0) => "warn",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let colour = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Run the command line; the binary's `main` calls this.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let serving = matches!(cli.command, Command::Serve { .. });
    init_logs(cli.log_format, serving, cli.verbose);
    let result = match cli.command {
        Command::Validate { file } => validate(&file),
        Command::Serve { config, listen } => serve(config.as_deref(), listen),
        Command::Plugin(PluginCommand::Run(args)) => return plugin_run(&args),
        Command::Plugin(PluginCommand::Inspect(args)) => print_from_runtime(async move {
            Ok(crate::authoring::cli::inspect(&args).await?.to_string())
        }),
        Command::Plugin(PluginCommand::New(args)) => plugin_new(&args),
        Command::Plugin(PluginCommand::Install(args)) => return plugin_install(&args),
        Command::Plugin(PluginCommand::List(args)) => print_from_runtime(async move {
            let rows = crate::authoring::manage::list(&args).await?;
            Ok(crate::authoring::manage::render(&rows, args.json))
        }),
        Command::Plugin(PluginCommand::Remove(args)) => print_from_runtime(async move {
            let removed = crate::authoring::manage::remove(&args).await?;
            let files: Vec<String> = removed.iter().map(|f| f.display().to_string()).collect();
            let daemon = if args.daemon.url.is_some() {
                "; the daemon no longer runs it"
            } else {
                ""
            };
            Ok(format!("removed {}{daemon}", files.join(" and ")))
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `vitals plugin run`: print the result and exit with its [`RunExit`] code; anything that keeps
/// the plugin from running is a load error.
fn plugin_run(args: &crate::authoring::cli::RunArgs) -> ExitCode {
    let summary = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|rt| {
            let run =
                crate::authoring::cli::run_once_with_progress(args, |line| eprintln!("{line}"));
            Ok(rt.block_on(run)?)
        });
    match summary {
        Ok(summary) => {
            println!("{summary}");
            ExitCode::from(summary.exit.code())
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(RunExit::LoadError.code())
        }
    }
}

/// `vitals plugin install`: progress on stderr, the outcome on stdout, the exit code of
/// [`crate::authoring::install::Installed::exit`] ([`RunExit::LoadError`] when the daemon rejected the
/// file, 1 for anything else that stopped it).
fn plugin_install(args: &crate::authoring::install::InstallArgs) -> ExitCode {
    use crate::authoring::install::{InstallError, install};
    let installed = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!(e))
        .and_then(|rt| Ok(rt.block_on(install(args, |line| eprintln!("{line}")))?));
    match installed {
        Ok(i) => {
            let manifest = i
                .manifest
                .as_ref()
                .map(|m| format!(" and {}", m.display()))
                .unwrap_or_default();
            println!(
                "installed {}{manifest} (sha256 {})",
                i.wasm.display(),
                &i.sha256
            );
            match (&i.first_result, &i.already_running) {
                (Some((state, output)), Some(version)) => println!(
                    "already running: the daemon runs these files (version {version}); last \
                     result: {state}: {output}"
                ),
                (Some((state, output)), None) => {
                    println!("loaded by the daemon; first result: {state}: {output}")
                }
                (None, _) => {}
            }
            ExitCode::from(i.exit().code())
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            // The plugin would not load, here or in the daemon: `plugin run`'s load error.
            let rejected = e
                .downcast_ref::<InstallError>()
                .is_some_and(|e| matches!(e, InstallError::Rejected(_) | InstallError::Refused(_)));
            ExitCode::from(if rejected {
                RunExit::LoadError.code()
            } else {
                1
            })
        }
    }
}

fn plugin_new(args: &crate::authoring::template::NewArgs) -> anyhow::Result<()> {
    let dir = crate::authoring::template::create(args)?;
    println!(
        "{}",
        crate::authoring::template::next_steps(args.lang, &dir)
    );
    Ok(())
}

/// Run `work` on a fresh tokio runtime and print what it returns.
fn print_from_runtime(
    work: impl std::future::Future<Output = anyhow::Result<String>>,
) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    println!("{}", rt.block_on(work)?);
    Ok(())
}

fn validate(file: &Path) -> anyhow::Result<()> {
    let cfg = config::load(file)?;
    println!("{}: ok ({} checks)", file.display(), cfg.checks.len());
    Ok(())
}

/// The embedded default's own address. `--listen` replaces it wherever the default names it: the
/// listen address, and the self-check's URL and HTTP grant, which probe the daemon itself.
const DEFAULT_LISTEN: &str = "127.0.0.1:9000";

fn load_or_default(file: Option<&Path>, listen: Option<SocketAddr>) -> anyhow::Result<Config> {
    Ok(match file {
        Some(f) => config::load(f)?,
        None => {
            let text = match listen {
                Some(addr) => DEFAULT_CONFIG.replace(DEFAULT_LISTEN, &addr.to_string()),
                None => DEFAULT_CONFIG.to_owned(),
            };
            // Its shipped plugins may not be built: `leave_out_unbuilt_plugins` drops those.
            let mut cfg = config::parse_allowing_missing_plugin_files(
                &text,
                Path::new("<embedded default>"),
            )?;
            leave_out_unbuilt_plugins(&mut cfg);
            cfg
        }
    })
}

/// The embedded default's shipped plugins are built by `cargo xtask guests` into
/// `target/plugins/`; outside a built checkout they are left out (with a warning) rather than
/// failing the start.
fn leave_out_unbuilt_plugins(cfg: &mut Config) {
    cfg.checks.retain(|name, check| match check {
        crate::config::CheckConfig::Plugin(p) => {
            let present = p.file.as_ref().is_some_and(|f| f.exists());
            if !present {
                tracing::warn!(check = %name, "shipped plugin not built (run `cargo xtask guests`); check left out");
            }
            present
        }
        _ => true,
    });
}

fn serve(file: Option<&Path>, listen: Option<SocketAddr>) -> anyhow::Result<()> {
    let cfg = load_or_default(file, listen)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let served = rt.block_on(async {
        if file.is_none() {
            // The embedded default's SQLite datasource lives in the data directory.
            let db = vitals_sql::prepare_embedded_sqlite(&cfg.service.data_dir).await?;
            tracing::info!(database = %db.url, "no --config: running the embedded default");
        }
        let daemon = Daemon::from_config(&cfg, file.map(Path::to_path_buf), listen).await?;
        daemon.run_until_signal().await?;
        Ok(())
    });
    // A compile in flight (Cranelift cannot be interrupted) or a run stuck in a blocking call is
    // abandoned: the process exits without waiting for it.
    rt.shutdown_timeout(std::time::Duration::from_millis(100));
    served
}
