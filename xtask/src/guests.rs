//! `cargo xtask guests`: every guest under `plugins/` and `tests/guests/` as a component in
//! `target/components/NAME.wasm`.
//!
//! - Rust: the workspace members under those folders (found with `cargo metadata`), built in one
//!   `cargo build --profile guest --target wasm32-wasip2` into their own target dir
//!   (`target/guests`), so it never waits on, or blocks, a `cargo test` holding the main one.
//!   NAME is the package name.
//! - JavaScript: a folder with `package.json` builds with its own `npm run build`, as a project
//!   made by `vitals plugin new --lang js` does. Python: a folder with `build.sh` runs it, as the
//!   Python template does. NAME is the folder. Their toolchains are the pinned ones in `tools/js`
//!   and `tools/python` (installed by `scripts/toolchains.sh`), put first on `PATH`; the build
//!   writes the component where `VITALS_OUT` says. One is rebuilt only when a file in its folder,
//!   the WIT contract or its toolchain's pins are newer than its component.
//!
//! A component is copied into place atomically and only when it changed, so a reader never sees
//! half a file and a daemon watching `target/plugins` sees no change when there is none.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use anyhow::{Context, Result, bail};

const TARGET: &str = "wasm32-wasip2";

/// Which guests to build.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Selection {
    /// Every guest under `plugins/` and `tests/guests/`, in every language.
    All,
    /// The shipped plugins the daemon's embedded default loads.
    EmbeddedDefault,
}

/// The daemon's embedded default config, which names the shipped plugins it loads.
const EMBEDDED_DEFAULT: &str = "host/vitals-daemon/src/config/default.toml";

/// Build the guests of `selection`.
pub(crate) fn build(root: &Path, selection: Selection) -> Result<()> {
    let components = root.join("target/components");
    std::fs::create_dir_all(&components)
        .with_context(|| format!("creating {}", components.display()))?;
    let only = match selection {
        Selection::All => None,
        Selection::EmbeddedDefault => Some(embedded_default_plugins(root)?),
    };
    for (name, shipped) in build_rust(root, only.as_deref())? {
        let built = root
            .join("target/guests")
            .join(TARGET)
            .join("guest")
            .join(format!("{}.wasm", name.replace('-', "_")));
        place(root, &built, &name, shipped)?;
    }
    if only.is_some() {
        return Ok(());
    }
    run(Command::new("bash")
        .arg(root.join("scripts/toolchains.sh"))
        .current_dir(root))?;
    for dir in guest_dirs(root)? {
        let Some(kind) = Kind::of(&dir) else { continue };
        let name = file_name(&dir)?;
        let component = components.join(format!("{name}.wasm"));
        if stale(root, &dir, kind, &component)? {
            let tmp = components.join(format!(".{name}.{}.wasm", std::process::id()));
            build_other(root, &dir, kind, &tmp)?;
            std::fs::rename(&tmp, &component)
                .with_context(|| format!("moving {} into place", tmp.display()))?;
            println!("xtask: built {} ({})", component.display(), kind.label());
        }
        place(
            root,
            &component,
            &name,
            dir.starts_with(root.join("plugins")),
        )?;
    }
    Ok(())
}

/// The plugins the embedded default names as `file = "target/plugins/NAME.wasm"`.
fn embedded_default_plugins(root: &Path) -> Result<Vec<String>> {
    let path = root.join(EMBEDDED_DEFAULT);
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let names: Vec<String> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("file = \"target/plugins/"))
        .filter_map(|rest| rest.strip_suffix(".wasm\""))
        .map(str::to_owned)
        .collect();
    if names.is_empty() {
        bail!("{} names no target/plugins/NAME.wasm", path.display());
    }
    Ok(names)
}

/// The Rust guests (`only` these, when given), built; each with whether it is a shipped plugin.
fn build_rust(root: &Path, only: Option<&[String]>) -> Result<Vec<(String, bool)>> {
    let installed = output(Command::new("rustup").args(["target", "list", "--installed"]))?;
    if !installed.lines().any(|l| l.trim() == TARGET) {
        run(Command::new("rustup").args(["target", "add", TARGET]))?;
    }
    let metadata = output(
        cargo(root)
            .args(["metadata", "--format-version", "1", "--no-deps", "--locked"])
            .current_dir(root),
    )?;
    let metadata: serde_json::Value =
        serde_json::from_str(&metadata).context("reading cargo metadata")?;
    let mut guests = Vec::new();
    for package in metadata["packages"].as_array().into_iter().flatten() {
        let (Some(name), Some(manifest)) =
            (package["name"].as_str(), package["manifest_path"].as_str())
        else {
            continue;
        };
        let manifest = Path::new(manifest);
        let shipped = manifest.starts_with(root.join("plugins"));
        let wanted = only.is_none_or(|only| only.iter().any(|o| o == name));
        if wanted && (shipped || manifest.starts_with(root.join("tests/guests"))) {
            guests.push((name.to_owned(), shipped));
        }
    }
    if let Some(only) = only
        && let Some(missing) = only.iter().find(|o| !guests.iter().any(|(g, _)| g == *o))
    {
        bail!(
            "{EMBEDDED_DEFAULT} names plugin {missing}, which is not a Rust guest under plugins/"
        );
    }
    if guests.is_empty() {
        bail!("no Rust guests under plugins/ or tests/guests/ in the workspace");
    }
    let mut build = cargo(root);
    build
        .args([
            "build",
            "--locked",
            "--profile",
            "guest",
            "--target",
            TARGET,
        ])
        .env("CARGO_TARGET_DIR", root.join("target/guests"))
        .current_dir(root);
    for (name, _) in &guests {
        build.args(["-p", name]);
    }
    run(&mut build)?;
    Ok(guests)
}

/// `cargo`, as plain as a guest author's: the host's clippy wrapper (scripts/test.sh) and the
/// flags cargo sets for a build script or test must not reach the guest build.
fn cargo(root: &Path) -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(root)
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("CLIPPY_ARGS")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    cmd
}

/// A guest that is not a Cargo package.
#[derive(Clone, Copy)]
enum Kind {
    /// `package.json`: `npm run build`.
    JavaScript,
    /// `build.sh`.
    Python,
}

impl Kind {
    fn of(dir: &Path) -> Option<Kind> {
        if dir.join("package.json").is_file() {
            Some(Kind::JavaScript)
        } else if dir.join("build.sh").is_file() {
            Some(Kind::Python)
        } else {
            None
        }
    }

    fn label(self) -> &'static str {
        match self {
            Kind::JavaScript => "js",
            Kind::Python => "python",
        }
    }

    /// The toolchain's folder under `tools/`, and the file that pins its versions.
    fn toolchain(self) -> (&'static str, &'static str) {
        match self {
            Kind::JavaScript => ("tools/js", "package-lock.json"),
            Kind::Python => ("tools/python", "requirements.txt"),
        }
    }
}

/// Build the guest in `dir` through its own build script, writing the component to `out`.
fn build_other(root: &Path, dir: &Path, kind: Kind, out: &Path) -> Result<()> {
    let bin = match kind {
        Kind::JavaScript => root.join("tools/js/node_modules/.bin"),
        Kind::Python => root.join("tools/python/.venv/bin"),
    };
    let path = std::env::join_paths(std::iter::once(bin).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .context("building PATH")?;
    let mut cmd = match kind {
        Kind::JavaScript => {
            let mut c = Command::new("npm");
            c.args(["run", "--silent", "build"]);
            c
        }
        Kind::Python => {
            let mut c = Command::new("bash");
            c.arg("build.sh");
            c
        }
    };
    let result = run(cmd
        .current_dir(dir)
        .env("PATH", path)
        .env("VITALS_OUT", out));
    if result.is_err() {
        let _ = std::fs::remove_file(out);
    }
    result.with_context(|| format!("building {}", dir.display()))
}

/// Whether `component` is missing or older than anything it is built from.
fn stale(root: &Path, dir: &Path, kind: Kind, component: &Path) -> Result<bool> {
    let Ok(built) = std::fs::metadata(component).and_then(|m| m.modified()) else {
        return Ok(true);
    };
    let (tools, pins) = kind.toolchain();
    let mut newest = newest_in(dir)?;
    newest = newest.max(newest_in(&root.join("wit"))?);
    newest = newest.max(modified(&root.join(tools).join(pins)));
    Ok(newest > Some(built))
}

/// The newest modification time of a file under `dir`, leaving out installed dependencies and
/// caches.
fn newest_in(dir: &Path) -> Result<Option<SystemTime>> {
    let mut newest = None;
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let entries =
            std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?;
        for entry in entries {
            let entry = entry.with_context(|| format!("reading {}", dir.display()))?;
            let path = entry.path();
            let skip = matches!(
                path.file_name().and_then(|n| n.to_str()),
                Some("node_modules" | "__pycache__" | ".venv")
            );
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if skip {
                continue;
            } else if kind.is_dir() {
                dirs.push(path);
            } else {
                newest = newest.max(modified(&path));
            }
        }
    }
    Ok(newest)
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// `plugins/*` and `tests/guests/*`, in order.
fn guest_dirs(root: &Path) -> Result<Vec<PathBuf>> {
    let mut dirs = Vec::new();
    for parent in ["plugins", "tests/guests"] {
        let parent = root.join(parent);
        let entries =
            std::fs::read_dir(&parent).with_context(|| format!("reading {}", parent.display()))?;
        for entry in entries {
            let path = entry
                .with_context(|| format!("reading {}", parent.display()))?
                .path();
            if path.is_dir() {
                dirs.push(path);
            }
        }
    }
    dirs.sort();
    Ok(dirs)
}

fn file_name(dir: &Path) -> Result<String> {
    dir.file_name()
        .and_then(|n| n.to_str())
        .map(str::to_owned)
        .with_context(|| format!("{} has no UTF-8 name", dir.display()))
}

/// Put `built` in `target/components/NAME.wasm` and, for a shipped plugin, `target/plugins/`.
fn place(root: &Path, built: &Path, name: &str, shipped: bool) -> Result<()> {
    let file = format!("{name}.wasm");
    install(built, &root.join("target/components").join(&file))?;
    if shipped {
        let plugins = root.join("target/plugins");
        std::fs::create_dir_all(&plugins)
            .with_context(|| format!("creating {}", plugins.display()))?;
        install(built, &plugins.join(&file))?;
    }
    Ok(())
}

/// Copy `from` to `to` unless they are equal; atomically (a temporary file, then a rename).
fn install(from: &Path, to: &Path) -> Result<()> {
    if from == to {
        return Ok(());
    }
    let bytes = std::fs::read(from).with_context(|| format!("reading {}", from.display()))?;
    if std::fs::read(to).is_ok_and(|old| old == bytes) {
        return Ok(());
    }
    let tmp = to.with_extension(format!("wasm.{}.tmp", std::process::id()));
    std::fs::write(&tmp, &bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, to).with_context(|| format!("moving {} into place", tmp.display()))
}

/// Run `cmd`; fail with its exit status (its output went to ours).
fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd
        .status()
        .with_context(|| format!("could not start {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed ({status})");
    }
    Ok(())
}

/// Run `cmd` and return its standard output; fail with its standard error.
fn output(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .output()
        .with_context(|| format!("could not start {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    String::from_utf8(out.stdout).with_context(|| format!("{cmd:?} printed non-UTF-8"))
}
