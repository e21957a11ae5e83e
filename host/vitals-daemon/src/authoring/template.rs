//! `vitals plugin new`: a buildable plugin project per language, with its own passing test.
//!
//! The templates live in `templates/<lang>/` at the repository root and are embedded in the
//! binary; `{{name}}`, `{{crate}}` and `{{sdk_patch}}` are filled in. JavaScript and Python
//! projects get a copy of the WIT contract, which their toolchains read. A Rust project depends
//! on `vitals-guest = "0.1"` from crates.io, patched to a local SDK only when one is given
//! (`--sdk`) or found (the checkout that built this binary).

use std::fmt;
use std::path::{Path, PathBuf};

/// The plugin contract, written into projects whose toolchain reads WIT.
const WIT: &str = include_str!("../../../../wit/check.wit");

/// A plugin language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Lang {
    /// Rust with the `vitals-guest` crate.
    Rust,
    /// JavaScript (ES module) built with componentize-js.
    Js,
    /// Python built with componentize-py.
    Python,
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Lang::Rust => "rust",
            Lang::Js => "js",
            Lang::Python => "python",
        })
    }
}

/// `vitals plugin new --lang LANG NAME`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct NewArgs {
    /// The language of the plugin.
    #[arg(long, value_enum)]
    pub lang: Lang,
    /// The plugin's name (letters, digits, '-', '_'): its directory and its check name.
    pub name: String,
    /// Create the project in this directory (default: `./NAME`).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Rust only: a local `vitals-guest` crate to build against instead of crates.io (default:
    /// the one this binary was built from, when it is still there).
    #[arg(long)]
    pub sdk: Option<PathBuf>,
}

/// Why a project could not be created.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TemplateError {
    /// The name cannot be a check name or a package name.
    #[error("invalid plugin name {0:?}: use letters, digits, '-' and '_', starting with a letter")]
    InvalidName(String),
    /// The target directory exists already.
    #[error("{} already exists; choose another name or --dir", .0.display())]
    Exists(PathBuf),
    /// No guest SDK to point a Rust project at.
    #[error(
        "cannot find the vitals-guest crate (looked at {}); pass --sdk PATH/TO/guest-sdk",
        .0.display()
    )]
    NoSdk(PathBuf),
    /// Writing a file failed.
    #[error("cannot write {}: {error}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The OS error (in the message, not a `source()`, so a printed chain names it once).
        error: std::io::Error,
    },
}

/// One file of a template: its path in the project and its text.
type TemplateFile = (&'static str, &'static str);

fn files(lang: Lang) -> &'static [TemplateFile] {
    match lang {
        Lang::Rust => &[
            (
                "Cargo.toml",
                include_str!("../../../../templates/rust/Cargo.toml.tmpl"),
            ),
            (
                "src/lib.rs",
                include_str!("../../../../templates/rust/src/lib.rs.tmpl"),
            ),
            (
                "{{name}}.toml",
                include_str!("../../../../templates/rust/plugin.toml.tmpl"),
            ),
            (
                "README.md",
                include_str!("../../../../templates/rust/README.md.tmpl"),
            ),
        ],
        Lang::Js => &[
            (
                "package.json",
                include_str!("../../../../templates/js/package.json.tmpl"),
            ),
            (
                "plugin.js",
                include_str!("../../../../templates/js/plugin.js.tmpl"),
            ),
            (
                "check.js",
                include_str!("../../../../templates/js/check.js.tmpl"),
            ),
            (
                "check.test.js",
                include_str!("../../../../templates/js/check.test.js.tmpl"),
            ),
            (
                "plugin.test.js",
                include_str!("../../../../templates/js/plugin.test.js.tmpl"),
            ),
            (
                "test-support/fake-host.js",
                include_str!("../../../../templates/js/test-support/fake-host.js.tmpl"),
            ),
            (
                "test-support/hooks.js",
                include_str!("../../../../templates/js/test-support/hooks.js.tmpl"),
            ),
            (
                "{{name}}.toml",
                include_str!("../../../../templates/js/plugin.toml.tmpl"),
            ),
            (
                "README.md",
                include_str!("../../../../templates/js/README.md.tmpl"),
            ),
            ("wit/check.wit", WIT),
        ],
        Lang::Python => &[
            (
                "app.py",
                include_str!("../../../../templates/python/app.py.tmpl"),
            ),
            (
                "check.py",
                include_str!("../../../../templates/python/check.py.tmpl"),
            ),
            (
                "test_check.py",
                include_str!("../../../../templates/python/test_check.py.tmpl"),
            ),
            (
                "test_app.py",
                include_str!("../../../../templates/python/test_app.py.tmpl"),
            ),
            (
                "requirements.txt",
                include_str!("../../../../templates/python/requirements.txt.tmpl"),
            ),
            (
                "build.sh",
                include_str!("../../../../templates/python/build.sh.tmpl"),
            ),
            (
                "{{name}}.toml",
                include_str!("../../../../templates/python/plugin.toml.tmpl"),
            ),
            (
                "README.md",
                include_str!("../../../../templates/python/README.md.tmpl"),
            ),
            ("wit/check.wit", WIT),
        ],
    }
}

fn valid_name(name: &str) -> bool {
    name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The guest SDK this binary was built with, if it is still there.
fn default_sdk() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../guest-sdk")
}

/// The local SDK a Rust project is patched to: `given` (which must be a crate), else `default`
/// when it is one; `None` builds against crates.io.
fn local_sdk(
    lang: Lang,
    given: Option<&Path>,
    default: &Path,
) -> Result<Option<PathBuf>, TemplateError> {
    let is_crate = |dir: &Path| dir.join("Cargo.toml").is_file();
    Ok(match (lang, given) {
        (Lang::Rust, Some(given)) if !is_crate(given) => {
            return Err(TemplateError::NoSdk(given.to_owned()));
        }
        (Lang::Rust, Some(given)) => Some(given.to_owned()),
        (Lang::Rust, None) => Some(default.to_owned()).filter(|d| is_crate(d)),
        (Lang::Js | Lang::Python, _) => None,
    })
}

/// Create the project; returns its directory.
pub(crate) fn create(args: &NewArgs) -> Result<PathBuf, TemplateError> {
    if !valid_name(&args.name) {
        return Err(TemplateError::InvalidName(args.name.clone()));
    }
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(&args.name));
    if dir.exists() {
        return Err(TemplateError::Exists(dir));
    }
    let sdk_patch = local_sdk(args.lang, args.sdk.as_deref(), &default_sdk())?
        .map_or_else(String::new, |sdk| {
        let sdk = std::fs::canonicalize(&sdk).unwrap_or(sdk);
        format!(
            "# A local vitals-guest instead of the one on crates.io (`vitals plugin new --sdk`, or\n\
             # the checkout that built your `vitals`). Delete these lines to use crates.io.\n\
             [patch.crates-io]\n\
             vitals-guest = {{ path = {:?} }}\n",
            sdk.display().to_string()
        )
    });
    let fill = |text: &str| {
        text.replace("{{name}}", &args.name)
            .replace("{{crate}}", &args.name.replace('-', "_"))
            .replace("{{sdk_patch}}", &sdk_patch)
    };
    for (path, text) in files(args.lang) {
        let path = dir.join(fill(path));
        let write_err = |error| TemplateError::Write {
            path: path.clone(),
            error,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(write_err)?;
        }
        std::fs::write(&path, fill(text)).map_err(write_err)?;
    }
    make_executable(&dir.join("build.sh"));
    Ok(dir)
}

#[cfg(unix)]
fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path) {
        let mut perms = meta.permissions();
        perms.set_mode(0o755);
        let _ = std::fs::set_permissions(path, perms);
    }
}

#[cfg(not(unix))]
fn make_executable(_path: &Path) {}

/// What to do next, printed after creating a project.
pub(crate) fn next_steps(lang: Lang, dir: &Path) -> String {
    let dir = dir.display();
    let steps = match lang {
        Lang::Rust => {
            "cargo test\n  rustup target add wasm32-wasip2\n  cargo build --release --target wasm32-wasip2"
        }
        Lang::Js => "npm install\n  npm test\n  npm run build",
        Lang::Python => {
            "python3 -m venv .venv && .venv/bin/pip install -r requirements.txt\n  .venv/bin/python -m unittest\n  ./build.sh"
        }
    };
    format!("created {dir} ({lang}); next:\n  cd {dir}\n  {steps}\nthen see {dir}/README.md")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn names_are_checked_and_existing_directories_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let args = |name: &str| NewArgs {
            lang: Lang::Js,
            name: name.to_owned(),
            dir: Some(tmp.path().join(name)),
            sdk: None,
        };
        assert!(matches!(
            create(&args("9lives")),
            Err(TemplateError::InvalidName(_))
        ));
        assert!(matches!(
            create(&args("a b")),
            Err(TemplateError::InvalidName(_))
        ));
        let dir = create(&args("disk-space")).unwrap();
        let manifest = std::fs::read_to_string(dir.join("disk-space.toml")).unwrap();
        assert!(!manifest.contains("{{"), "{manifest}");
        assert!(dir.join("wit/check.wit").is_file());
        assert!(matches!(
            create(&args("disk-space")),
            Err(TemplateError::Exists(_))
        ));
    }

    #[test]
    fn a_rust_project_depends_on_crates_io_and_is_patched_only_to_a_local_sdk() {
        let tmp = tempfile::tempdir().unwrap();
        let nowhere = tmp.path().join("no-sdk-here");
        assert!(matches!(
            local_sdk(Lang::Rust, Some(&nowhere), &default_sdk()),
            Err(TemplateError::NoSdk(_))
        ));
        assert_eq!(local_sdk(Lang::Rust, None, &nowhere).unwrap(), None);
        assert_eq!(
            local_sdk(Lang::Rust, None, &default_sdk()).unwrap(),
            Some(default_sdk())
        );

        let dir = create(&NewArgs {
            lang: Lang::Rust,
            name: "disk-space".to_owned(),
            dir: Some(tmp.path().join("disk-space")),
            sdk: None,
        })
        .unwrap();
        let cargo = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        assert!(cargo.contains("vitals-guest = \"0.1\"\n"), "{cargo}");
        assert!(
            cargo.contains("[patch.crates-io]\nvitals-guest = { path = "),
            "{cargo}"
        );
        assert!(!cargo.contains("{{"), "{cargo}");
        let parsed: toml::Table = cargo.parse().unwrap();
        assert!(parsed["workspace"].as_table().is_some(), "{cargo}");
    }
}
