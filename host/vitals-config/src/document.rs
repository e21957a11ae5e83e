//! TOML documents (the config file, plugin manifests) and their errors, which point at the
//! file, line, column and key.

use std::path::{Path, PathBuf};

/// Why a config file was rejected.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{}: cannot read: {error}", file.display())]
    Io {
        /// The file.
        file: PathBuf,
        /// The OS error: in the message, not a `source()`, so a printed chain names it once.
        error: std::io::Error,
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
    #[error("{}:{line}:{column}: {key}: {message}", file.display())]
    Invalid {
        /// The file.
        file: PathBuf,
        /// 1-based line of the key (0 when it is not written in the file, e.g. a default).
        line: usize,
        /// 1-based column of the key (0 when unknown).
        column: usize,
        /// Dotted path of the key.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// Several values are not allowed: every one found, one per line.
    #[error("{}", one_per_line(errors))]
    Several {
        /// Each problem, in the order the rules found them (each an `Invalid`).
        errors: Vec<ConfigError>,
    },
}

impl ConfigError {
    /// `Ok` for no errors, the error itself for one, [`ConfigError::Several`] for more.
    pub fn all(mut errors: Vec<ConfigError>) -> Result<(), ConfigError> {
        match errors.len() {
            0 => Ok(()),
            1 => Err(errors.remove(0)),
            _ => Err(ConfigError::Several { errors }),
        }
    }
}

fn one_per_line(errors: &[ConfigError]) -> String {
    let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
    format!("{} problems:\n{}", errors.len(), lines.join("\n"))
}

fn key_prefix(key: &str) -> String {
    if key.is_empty() || key == "." {
        String::new()
    } else {
        format!("{key}: ")
    }
}

/// 1-based line and column of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..text.floor_char_boundary(offset)];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Where the dotted `key` (e.g. `checks.db.interval`) is written in `text`: the position of its
/// last segment that is present (so a missing key points at its table). Table names may contain
/// dots (check names do), so each level tries the longest matching run of segments first.
pub fn locate(text: &str, key: &str) -> (usize, usize) {
    let Ok(root) = toml::de::DeTable::parse(text) else {
        return (0, 0);
    };
    let segments: Vec<&str> = key.split('.').filter(|s| !s.is_empty()).collect();
    let mut table = root.get_ref();
    let mut rest = segments.as_slice();
    let mut found: Option<usize> = None;
    'levels: while !rest.is_empty() {
        for take in (1..=rest.len()).rev() {
            let name = rest[..take].join(".");
            let entry = table.iter().find(|(k, _)| k.get_ref().as_ref() == name);
            if let Some((k, v)) = entry {
                found = Some(k.span().start);
                rest = &rest[take..];
                match v.get_ref() {
                    toml::de::DeValue::Table(t) => {
                        table = t;
                        continue 'levels;
                    }
                    _ => break 'levels,
                }
            }
        }
        break;
    }
    found.map_or((0, 0), |offset| line_col(text, offset))
}

/// A [`ConfigError::Invalid`] for `key`, located in `text`.
pub fn invalid(text: &str, file: &Path, key: &str, message: String) -> ConfigError {
    let (line, column) = locate(text, key);
    ConfigError::Invalid {
        file: file.to_owned(),
        line,
        column,
        key: key.to_owned(),
        message,
    }
}

/// Deserialize a TOML document other than the config file (a plugin manifest), with the same
/// one-line `file:line:column: key: problem` errors.
pub fn parse<T: serde::de::DeserializeOwned>(text: &str, file: &Path) -> Result<T, ConfigError> {
    let de = toml::de::Deserializer::parse(text).map_err(|e| from_toml(e, "", text, file))?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        let key = e.path().to_string();
        from_toml(e.into_inner(), &key, text, file)
    })
}

/// A [`ConfigError`] for a TOML syntax or type error, located in `text` (at `key` when the
/// error itself has no position).
pub fn from_toml(e: toml::de::Error, key: &str, text: &str, file: &Path) -> ConfigError {
    let (line, column) = e.span().map_or((0, 0), |s| line_col(text, s.start));
    let mut key = key.to_owned();
    let mut message = e.message().trim().to_owned();
    // toml says only "duplicate key", pointing at the second one: name it and its table.
    if message == "duplicate key"
        && let Some(written) = e.span().and_then(|s| duplicate_key_path(text, s))
    {
        key = written;
        message = "duplicate key: it is set twice; keep one of them".to_owned();
    }
    if let Some((at, hint)) = unknown_field_hint(&message) {
        message.insert_str(at, &hint);
    }
    ConfigError::Parse {
        file: file.to_owned(),
        line,
        column,
        key,
        message,
    }
}

/// For serde's "unknown field `memry`, expected one of `memory_limit`, ...": where to insert
/// " (did you mean `memory_limit`?)" (after the field), and that hint.
fn unknown_field_hint(message: &str) -> Option<(usize, String)> {
    let rest = message.strip_prefix("unknown field `")?;
    let (field, expected) = rest.split_once('`')?;
    let at = "unknown field `".len() + field.len() + 1;
    let expected = expected
        .strip_prefix(", expected one of ")
        .or_else(|| expected.strip_prefix(", expected "))?;
    // serde lists them as "`a`", "`a` or `b`" or "one of `a`, `b`, `c`".
    let known = expected
        .split([',', ' '])
        .filter(|k| k.starts_with('`'))
        .map(|k| k.trim_matches('`'))
        .filter(|k| !k.is_empty());
    Some((at, crate::did_you_mean(field, known))).filter(|(_, h)| !h.is_empty())
}

/// The dotted path of the key at `span`, from the table header above it (or the header it is
/// in) and any dotted prefix on its line. Quotes are dropped, as in every other message.
fn duplicate_key_path(text: &str, span: std::ops::Range<usize>) -> Option<String> {
    let written = text.get(span.clone())?;
    let line_start = text[..span.start].rfind('\n').map_or(0, |i| i + 1);
    let before = text[line_start..span.start].trim_start();
    if before.starts_with('[') {
        return header_path(text[line_start..].lines().next()?);
    }
    let table = text[..line_start].lines().rev().find_map(header_path);
    // `a.b = 1` names `a.b`; inside an inline table (`x = { a = 1, a = 2 }`) only the key itself
    // is known.
    let dotted = before
        .chars()
        .all(|c| is_key_char(c) || c == '.' || c == ' ');
    let prefix = if dotted { before } else { "" };
    let path = [
        table.unwrap_or_default(),
        normalize(&format!("{prefix}{written}")),
    ]
    .into_iter()
    .filter(|p| !p.is_empty())
    .collect::<Vec<_>>()
    .join(".");
    Some(path)
}

/// The path of a `[table]` or `[[array]]` header line, or `None` if `line` is not one.
fn header_path(line: &str) -> Option<String> {
    let line = line.split('#').next()?.trim();
    let inner = line.strip_prefix('[')?.strip_suffix(']')?;
    let inner = inner.trim_start_matches('[').trim_end_matches(']');
    inner
        .chars()
        .all(|c| is_key_char(c) || c == '.' || c == ' ')
        .then(|| normalize(inner))
}

fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-_\"'".contains(c)
}

fn normalize(key: &str) -> String {
    key.split('.')
        .map(|s| s.trim().trim_matches(['"', '\'']))
        .collect::<Vec<_>>()
        .join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Manifest {
        memory_limit: Option<String>,
        timeout: Option<String>,
    }

    #[test]
    fn an_unknown_key_is_located_and_the_closest_known_one_suggested() {
        let error = parse::<Manifest>(
            "timeout = \"1s\"\nmemry_limit = \"4MiB\"\n",
            Path::new("p.toml"),
        )
        .expect_err("unknown key");
        let message = error.to_string();
        assert!(
            message.starts_with(
                "p.toml:2:1: memry_limit: unknown field `memry_limit` (did you mean `memory_limit`?), expected"
            ),
            "{message}"
        );
    }

    #[test]
    fn an_unknown_key_like_nothing_known_gets_no_suggestion() {
        let error = parse::<Manifest>("colour = 1\n", Path::new("p.toml")).expect_err("unknown");
        assert!(!error.to_string().contains("did you mean"), "{error}");
    }
}
