//! Config errors that point at the file, line, column and key.

use std::path::{Path, PathBuf};

/// Why a config file was rejected.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{}: cannot read: {source}", file.display())]
    Io {
        /// The file.
        file: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not valid TOML, or a value has the wrong type, or a key is unknown.
    #[error("{}:{line}:{column}: {}{message}", file.display(), key_prefix(key))]
    Parse {
        /// The file.
        file: PathBuf,
        /// 1-based line (0 when unknown).
        line: usize,
        /// 1-based column (0 when unknown).
        column: usize,
        /// Dotted path of the key, e.g. `checks.db.interval` (empty when unknown).
        key: String,
        /// What is wrong.
        message: String,
    },
    /// The file parses but a value is not allowed.
    #[error("{}: {key}: {message}", file.display())]
    Invalid {
        /// The file.
        file: PathBuf,
        /// Dotted path of the key.
        key: String,
        /// What is wrong.
        message: String,
    },
}

fn key_prefix(key: &str) -> String {
    if key.is_empty() || key == "." {
        String::new()
    } else {
        format!("{key}: ")
    }
}

/// 1-based line and column of a byte offset.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..text.floor_char_boundary(offset)];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

pub(crate) fn from_toml(e: toml::de::Error, key: &str, text: &str, file: &Path) -> ConfigError {
    let (line, column) = e.span().map_or((0, 0), |s| line_col(text, s.start));
    ConfigError::Parse {
        file: file.to_owned(),
        line,
        column,
        key: key.to_owned(),
        message: e.message().trim().to_owned(),
    }
}
