//! From a datasource URL to the driver's connect options. Config validation runs the same code,
//! so `vitals validate` refuses exactly the URLs the daemon could not use.

use std::str::FromStr;
use std::time::Duration;

use sqlx::mysql::MySqlConnectOptions;
use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::SqliteConnectOptions;

use super::{DatasourceKind, sqlite};
use vitals_config::Scrubber;

/// The driver options a URL describes.
pub(super) enum ConnectOptions {
    Postgres(PgConnectOptions),
    MySql(MySqlConnectOptions),
    Sqlite(SqliteConnectOptions),
}

/// Whether `url` names a database the daemon can connect to: a known scheme, a URL that parses,
/// a port from 1 to 65535, and options the driver accepts. The reason never contains the
/// password.
pub fn check_url(url: &str) -> Result<DatasourceKind, String> {
    connect_options(url, Duration::from_secs(2)).map(|(kind, _)| kind)
}

/// The kind and driver options of `url`; `busy` is SQLite's busy timeout.
pub(super) fn connect_options(
    url: &str,
    busy: Duration,
) -> Result<(DatasourceKind, ConnectOptions), String> {
    let kind = kind_of(url)?;
    let scrubber = Scrubber::for_dsn(url);
    let driver = |e: sqlx::Error| scrubber.scrub(&e.to_string());
    if kind != DatasourceKind::Sqlite {
        server_address(url, kind)?;
    }
    let options = match kind {
        DatasourceKind::Postgres => {
            ConnectOptions::Postgres(PgConnectOptions::from_str(url).map_err(driver)?)
        }
        DatasourceKind::MySql => {
            ConnectOptions::MySql(MySqlConnectOptions::from_str(url).map_err(driver)?)
        }
        DatasourceKind::Sqlite => {
            ConnectOptions::Sqlite(sqlite::connect_options(url, busy).map_err(driver)?)
        }
    };
    Ok((kind, options))
}

/// The kind a URL names; a plain path (no `scheme://`) is a SQLite file. An unknown scheme is an
/// error rather than a SQLite file of that name: `postgress://` is a typo.
fn kind_of(url: &str) -> Result<DatasourceKind, String> {
    let Some((scheme, _)) = url.split_once("://") else {
        return Ok(DatasourceKind::Sqlite);
    };
    match scheme.to_ascii_lowercase().as_str() {
        "postgres" | "postgresql" => Ok(DatasourceKind::Postgres),
        "mysql" | "mariadb" => Ok(DatasourceKind::MySql),
        "sqlite" => Ok(DatasourceKind::Sqlite),
        other => Err(format!(
            "unknown scheme '{other}': use postgres://, mysql://, mariadb://, sqlite:// or a file \
             path"
        )),
    }
}

/// A server URL must parse and name a port that can be connected to. The `url` crate's errors
/// never quote the input, so the password stays out of the message.
fn server_address(url: &str, kind: DatasourceKind) -> Result<(), String> {
    let example = match kind {
        DatasourceKind::MySql => "mysql://user:password@host:3306/database",
        _ => "postgres://user:password@host:5432/database",
    };
    let parsed = url::Url::parse(url).map_err(|e| {
        let why = match e {
            url::ParseError::InvalidPort => "invalid port number (ports run from 1 to 65535)",
            other => return format!("not a valid URL ({other}): write it as {example}"),
        };
        format!("{why}: write it as {example}")
    })?;
    if parsed.port() == Some(0) {
        return Err(format!(
            "port 0 cannot be connected to (ports run from 1 to 65535): write it as {example}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_misspelt_scheme_is_refused_with_the_known_ones() {
        let err = check_url("postgress://app:hunter2@db:5432/orders").unwrap_err();
        assert!(err.contains("unknown scheme 'postgress'"), "{err}");
        assert!(err.contains("postgres://"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn an_impossible_port_is_refused_without_the_password() {
        for url in [
            "postgres://app:hunter2@db:99999/orders",
            "mysql://app:hunter2@db:70000/orders",
            "postgres://app:hunter2@db:0/orders",
        ] {
            let err = check_url(url).unwrap_err();
            assert!(err.contains("port"), "{url}: {err}");
            assert!(err.contains("65535"), "{url}: {err}");
            assert!(!err.contains("hunter2"), "{url}: {err}");
        }
    }

    #[test]
    fn server_urls_and_sqlite_paths_are_accepted() {
        for (url, kind) in [
            (
                "postgres://app@127.0.0.1:5432/test",
                DatasourceKind::Postgres,
            ),
            ("postgresql://db/test", DatasourceKind::Postgres),
            ("mariadb://root@127.0.0.1:3306/test", DatasourceKind::MySql),
            ("sqlite://data/vitals.db", DatasourceKind::Sqlite),
            ("sqlite::memory:", DatasourceKind::Sqlite),
            ("data/local.db", DatasourceKind::Sqlite),
        ] {
            assert_eq!(check_url(url), Ok(kind), "{url}");
        }
    }
}
