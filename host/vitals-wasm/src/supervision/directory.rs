//! The plugin directory: which files are plugins, and a cheap stamp telling whether a file
//! changed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Size, modification time and inode of a file: a change in any means "look again". Reading and
/// hashing a 12 MB component on every pass would be wasteful; comparing stamps is not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileStamp {
    len: u64,
    modified: Option<SystemTime>,
    inode: u64,
}

impl FileStamp {
    /// The stamp of `path` (following symlinks, as Kubernetes ConfigMap volumes need), or `None`
    /// if it is not a readable regular file.
    pub(crate) fn of(path: &Path) -> Option<FileStamp> {
        let meta = std::fs::metadata(path).ok()?;
        if !meta.is_file() {
            return None;
        }
        Some(FileStamp {
            len: meta.len(),
            modified: meta.modified().ok(),
            inode: inode(&meta),
        })
    }

    /// The stamp of a file that does not exist.
    pub(crate) fn missing() -> FileStamp {
        FileStamp {
            len: 0,
            modified: None,
            inode: 0,
        }
    }

    /// How long ago the file was last modified (zero if unknown or in the future).
    pub(crate) fn age(&self) -> Duration {
        self.modified
            .and_then(|m| SystemTime::now().duration_since(m).ok())
            .unwrap_or(Duration::ZERO)
    }
}

#[cfg(unix)]
fn inode(meta: &std::fs::Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::ino(meta)
}

#[cfg(not(unix))]
fn inode(_meta: &std::fs::Metadata) -> u64 {
    0
}

/// The file a plugin path stands for right now: a symlink is resolved to its target, so that the
/// `.wasm` and the `.toml` beside it are read from one version. A mounted Kubernetes ConfigMap
/// makes every visible file a symlink through `..data`, which the kubelet swaps to publish a new
/// version: reading `NAME.wasm` before a swap and `NAME.toml` after it would load a mix of two
/// versions; reading both beside the resolved target (the version's own directory) cannot.
/// A plain file, or a link that cannot be resolved, stays as it is.
pub(crate) fn resolve(path: &Path) -> PathBuf {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => {
            std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned())
        }
        _ => path.to_owned(),
    }
}

/// Whether a directory entry named `file_name` is a plugin, and its check name. Only `NAME.wasm`
/// counts: hidden files (`.NAME.wasm.tmp`, editor swap files) and partial downloads
/// (`NAME.wasm.part`) are ignored, so writing elsewhere and renaming in is always safe.
pub fn plugin_name(file_name: &str) -> Option<&str> {
    if file_name.starts_with('.') {
        return None;
    }
    let name = file_name.strip_suffix(".wasm")?;
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    valid.then_some(name)
}

/// Every plugin in `dir`, by check name. An unreadable directory has none (and says so in the
/// log).
pub(crate) fn scan(dir: &Path) -> BTreeMap<String, PathBuf> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            tracing::warn!(dir = %dir.display(), "cannot read the plugin directory: {e}");
            return BTreeMap::new();
        }
    };
    let mut found = BTreeMap::new();
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(file_name) = file_name.to_str() else {
            continue;
        };
        match plugin_name(file_name) {
            Some(name) => {
                found.insert(name.to_owned(), entry.path());
            }
            None if file_name.ends_with(".wasm") && !file_name.starts_with('.') => {
                tracing::warn!(file = %entry.path().display(), "ignored: a plugin file name may use letters, digits, '-', '_' and '.' only");
            }
            None => {}
        }
    }
    found
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn only_plain_wasm_files_are_plugins() {
        assert_eq!(plugin_name("http-check.wasm"), Some("http-check"));
        assert_eq!(plugin_name("v1.2_db.wasm"), Some("v1.2_db"));
        assert_eq!(plugin_name(".http-check.wasm.tmp"), None);
        assert_eq!(plugin_name(".hidden.wasm"), None);
        assert_eq!(plugin_name("http-check.wasm.part"), None);
        assert_eq!(plugin_name("http-check.toml"), None);
        assert_eq!(plugin_name("has space.wasm"), None);
        assert_eq!(plugin_name(".wasm"), None);
    }

    #[test]
    fn a_rewritten_file_gets_a_new_stamp() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.wasm");
        std::fs::write(&file, b"one").unwrap();
        let first = FileStamp::of(&file).unwrap();
        assert_eq!(FileStamp::of(&file), Some(first.clone()));
        std::fs::write(&file, b"three").unwrap();
        assert_ne!(FileStamp::of(&file), Some(first));
        assert_eq!(FileStamp::of(&dir.path().join("nope.wasm")), None);
        assert_eq!(
            FileStamp::of(dir.path()),
            None,
            "a directory is not a plugin file"
        );
        let found = scan(dir.path());
        assert_eq!(found.keys().collect::<Vec<_>>(), ["a"]);
    }

    #[test]
    fn a_symlinked_plugin_resolves_to_the_version_directory_it_points_into() {
        let dir = tempfile::tempdir().unwrap();
        let version = dir.path().join("..2026_01_01_00_00_00.001");
        std::fs::create_dir(&version).unwrap();
        std::fs::write(version.join("a.wasm"), b"v1").unwrap();
        std::os::unix::fs::symlink("..2026_01_01_00_00_00.001", dir.path().join("..data")).unwrap();
        std::os::unix::fs::symlink("..data/a.wasm", dir.path().join("a.wasm")).unwrap();
        let real = std::fs::canonicalize(version.join("a.wasm")).unwrap();
        assert_eq!(resolve(&dir.path().join("a.wasm")), real);
        assert_eq!(resolve(&real), real, "a plain file stays");
        let dangling = dir.path().join("gone.wasm");
        std::os::unix::fs::symlink("..data/gone.wasm", &dangling).unwrap();
        assert_eq!(resolve(&dangling), dangling);
        assert_eq!(scan(dir.path()).keys().collect::<Vec<_>>(), ["a", "gone"]);
    }
}
