//! The sha256 of plugin files, remembered by file identity (length, inode, device, mtime and
//! ctime in nanoseconds) in `file-hashes.json` beside the artifacts. A restart or reload of an
//! unchanged 12-18 MB JavaScript or Python component then maps its artifact (about 2 ms)
//! without first reading and hashing the whole file (about 20 ms).
//!
//! A hash is remembered only once the file has been left alone for [`SETTLED`]: file times
//! have a granularity of a clock tick, so two writes in the same tick could otherwise leave
//! a changed file with its old identity (git's "racy clean" problem). ctime cannot be set
//! by a writer, so a file copied with an old mtime still counts as fresh.

use std::collections::HashMap;
use std::fs::Metadata;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

/// How long a file must have been unchanged before its hash is remembered.
const SETTLED: Duration = Duration::from_secs(1);

/// The name of the file in the cache directory.
const FILE_NAME: &str = "file-hashes.json";

/// What identifies a file's bytes without reading them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Identity {
    len: u64,
    inode: u64,
    device: u64,
    mtime_ns: i128,
    ctime_ns: i128,
}

impl Identity {
    #[cfg(unix)]
    fn of(meta: &Metadata) -> Option<Identity> {
        use std::os::unix::fs::MetadataExt;
        let ns = |secs: i64, nanos: i64| i128::from(secs) * 1_000_000_000 + i128::from(nanos);
        Some(Identity {
            len: meta.len(),
            inode: meta.ino(),
            device: meta.dev(),
            mtime_ns: ns(meta.mtime(), meta.mtime_nsec()),
            ctime_ns: ns(meta.ctime(), meta.ctime_nsec()),
        })
    }

    /// Without inode and ctime a file's identity is too weak to stand for its bytes.
    #[cfg(not(unix))]
    fn of(_meta: &Metadata) -> Option<Identity> {
        None
    }

    /// The later of the two file times.
    fn changed_at(&self) -> SystemTime {
        let ns = self.mtime_ns.max(self.ctime_ns);
        let since_epoch = Duration::from_nanos(u64::try_from(ns).unwrap_or(0));
        SystemTime::UNIX_EPOCH + since_epoch
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    identity: Identity,
    sha256: String,
}

/// File hashes by path, persisted when a cache directory is configured.
#[derive(Debug, Default)]
pub(crate) struct KnownHashes {
    file: Option<PathBuf>,
    entries: Mutex<HashMap<PathBuf, Entry>>,
}

impl KnownHashes {
    /// The hashes remembered in `dir`, if any; an unreadable or corrupt file is a cache miss.
    pub(crate) fn open(dir: Option<&Path>) -> KnownHashes {
        let file = dir.map(|d| d.join(FILE_NAME));
        let entries = file
            .as_ref()
            .and_then(|f| std::fs::read(f).ok())
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        KnownHashes {
            file,
            entries: Mutex::new(entries),
        }
    }

    /// The sha256 of the file at `path` with metadata `meta`, if it is known.
    pub(crate) fn get(&self, path: &Path, meta: &Metadata) -> Option<String> {
        let identity = Identity::of(meta)?;
        let entries = self.entries.lock().ok()?;
        let entry = entries.get(path)?;
        (entry.identity == identity).then(|| entry.sha256.clone())
    }

    /// Remember that the file at `path` hashed to `sha256`, if `before` and `after` (its
    /// metadata from before and after reading it) agree and it had settled at `now`.
    pub(crate) fn remember(
        &self,
        path: &Path,
        before: &Metadata,
        after: &Metadata,
        sha256: &str,
        now: SystemTime,
    ) {
        let (Some(identity), Some(again)) = (Identity::of(before), Identity::of(after)) else {
            return;
        };
        let settled = now
            .duration_since(identity.changed_at())
            .is_ok_and(|age| age >= SETTLED);
        if identity != again || !settled {
            return;
        }
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        let entry = Entry {
            identity,
            sha256: sha256.to_owned(),
        };
        if entries
            .insert(path.to_owned(), entry)
            .is_none_or(|old| old.identity != identity)
        {
            self.save(&entries);
        }
    }

    /// Forget the files whose hash is not in `keep`.
    pub(crate) fn retain(&self, keep: &[String]) {
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        let before = entries.len();
        entries.retain(|_, e| keep.contains(&e.sha256));
        if entries.len() != before {
            self.save(&entries);
        }
    }

    /// Best effort: the file only saves work, so failing to write it costs a re-hash later.
    fn save(&self, entries: &HashMap<PathBuf, Entry>) {
        let Some(file) = &self.file else { return };
        let Ok(json) = serde_json::to_vec(entries) else {
            return;
        };
        if let Err(e) = super::write_atomically(file, &json) {
            tracing::debug!("plugin cache: cannot write {}: {e}", file.display());
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn later() -> SystemTime {
        SystemTime::now() + SETTLED * 2
    }

    /// `p.wasm` in `dir` with `bytes`, and its metadata.
    fn written(dir: &tempfile::TempDir, bytes: &[u8]) -> (PathBuf, Metadata) {
        let file = dir.path().join("p.wasm");
        std::fs::write(&file, bytes).unwrap();
        let meta = std::fs::metadata(&file).unwrap();
        (file, meta)
    }

    #[test]
    fn a_settled_file_is_known_until_it_changes_and_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let (file, meta) = written(&dir, b"version one");
        let hashes = KnownHashes::open(Some(dir.path()));
        hashes.remember(&file, &meta, &meta, "aaa", later());
        assert_eq!(hashes.get(&file, &meta).as_deref(), Some("aaa"));
        let reopened = KnownHashes::open(Some(dir.path()));
        assert_eq!(reopened.get(&file, &meta).as_deref(), Some("aaa"));

        // Same length, same inode: rewritten in place, it is no longer known.
        std::thread::sleep(Duration::from_millis(20));
        std::fs::write(&file, b"version two").unwrap();
        let changed = std::fs::metadata(&file).unwrap();
        assert_eq!(reopened.get(&file, &changed), None);
    }

    #[test]
    fn a_fresh_file_or_one_that_changed_while_read_is_not_remembered() {
        let dir = tempfile::tempdir().unwrap();
        let (file, before) = written(&dir, b"version one");
        let hashes = KnownHashes::open(Some(dir.path()));
        hashes.remember(&file, &before, &before, "aaa", SystemTime::now());
        assert_eq!(hashes.get(&file, &before), None, "fresh");

        std::thread::sleep(Duration::from_millis(20));
        std::fs::write(&file, b"version two!").unwrap();
        let after = std::fs::metadata(&file).unwrap();
        hashes.remember(&file, &before, &after, "aaa", later());
        assert_eq!(hashes.get(&file, &before), None, "changed while read");
        assert_eq!(hashes.get(&file, &after), None, "changed while read");
    }

    #[test]
    fn retain_forgets_hashes_no_longer_kept() {
        let dir = tempfile::tempdir().unwrap();
        let (file, meta) = written(&dir, b"x");
        let hashes = KnownHashes::open(Some(dir.path()));
        hashes.remember(&file, &meta, &meta, "aaa", later());
        hashes.retain(&["bbb".to_owned()]);
        assert_eq!(hashes.get(&file, &meta), None);
        assert_eq!(KnownHashes::open(Some(dir.path())).get(&file, &meta), None);
    }
}
