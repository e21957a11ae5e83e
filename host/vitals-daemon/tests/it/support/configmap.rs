//! A directory laid out and updated exactly as the kubelet's atomic writer does for a mounted
//! ConfigMap volume (pkg/volume/util/atomic_writer.go):
//!
//! ```text
//! ..2026_01_01_00_00_00.001/NAME.wasm   the payload, one timestamped directory per version
//! ..data -> ..2026_01_01_00_00_00.001   swapped atomically on update
//! NAME.wasm -> ..data/NAME.wasm         every visible file is a symlink through ..data
//! ```
//!
//! An update writes a new timestamped directory, points `..data_tmp` at it, renames that over
//! `..data`, then creates the visible symlinks of new files, removes those of dropped files and
//! removes the old timestamped directory, in that order.

use std::collections::BTreeMap;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

/// A ConfigMap volume mounted at `root`.
pub struct ConfigMapVolume {
    root: PathBuf,
    current: Option<String>,
    visible: Vec<String>,
    version: u32,
}

impl ConfigMapVolume {
    /// An empty volume at `root` (an existing directory), before the first payload.
    pub fn new(root: &Path) -> Self {
        ConfigMapVolume {
            root: root.to_owned(),
            current: None,
            visible: Vec::new(),
            version: 0,
        }
    }

    /// Project `payload` (file name → bytes) the way the kubelet does.
    pub fn write(&mut self, payload: &BTreeMap<String, Vec<u8>>) {
        self.version += 1;
        // (5) a new timestamped directory, (6) the payload written into it.
        let ts = format!("..2026_01_01_00_00_{:02}.{:03}", self.version, self.version);
        let ts_dir = self.root.join(&ts);
        std::fs::create_dir(&ts_dir).unwrap();
        for (name, bytes) in payload {
            std::fs::write(ts_dir.join(name), bytes).unwrap();
        }
        // (7) ..data_tmp -> the new directory, (8) renamed over ..data: the atomic swap.
        let tmp = self.root.join("..data_tmp");
        symlink(&ts, &tmp).unwrap();
        std::fs::rename(&tmp, self.root.join("..data")).unwrap();
        // (9) visible symlinks for files that are new in this payload.
        for name in payload.keys() {
            if !self.visible.contains(name) {
                symlink(format!("..data/{name}"), self.root.join(name)).unwrap();
            }
        }
        // (10) visible symlinks of files no longer in the payload are removed.
        for name in &self.visible {
            if !payload.contains_key(name) {
                std::fs::remove_file(self.root.join(name)).unwrap();
            }
        }
        // (11) the previous timestamped directory goes.
        if let Some(old) = self.current.replace(ts) {
            std::fs::remove_dir_all(self.root.join(old)).unwrap();
        }
        self.visible = payload.keys().cloned().collect();
    }
}
