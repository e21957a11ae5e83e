//! The `sql` capability: read-only queries on the datasources granted to the plugin, within the
//! grant's statement timeout and row limit and never past the run's deadline. Linked for every
//! contract version; 0.1.0's calls are converted to the current types.

use std::time::Duration;

use wasmtime::component::{HasSelf, Linker};

use crate::capabilities::grants::PluginGrants;
use crate::runtime::bindings::v0_1::vitals::check as old;
use crate::runtime::bindings::vitals::check::sql::{self, Error, Rows, Value};
use crate::runtime::store::StoreData;
use vitals_sql::{DEFAULT_ROW_LIMIT, QueryError, QueryLimits, SqlValue};

/// Link `vitals:check/sql`, current and 0.1.0.
pub(crate) fn add_to_linker(linker: &mut Linker<StoreData>) -> wasmtime::Result<()> {
    sql::add_to_linker::<_, HasSelf<StoreData>>(linker, |s| s)?;
    old::sql::add_to_linker::<_, HasSelf<StoreData>>(linker, |s| s)
}

impl PluginGrants {
    /// The SQL statement timeout in effect (default 2 s).
    pub fn statement_timeout(&self) -> Duration {
        self.sql_statement_timeout.unwrap_or(Duration::from_secs(2))
    }

    /// The SQL row limit in effect (default 1000).
    pub fn row_limit(&self) -> u32 {
        self.sql_row_limit.unwrap_or(DEFAULT_ROW_LIMIT)
    }
}

fn to_sql(value: Value) -> SqlValue {
    match value {
        Value::Null => SqlValue::Null,
        Value::Boolean(b) => SqlValue::Bool(b),
        Value::Int(i) => SqlValue::Int(i),
        Value::Float(f) => SqlValue::Float(f),
        Value::Text(t) => SqlValue::Text(t),
    }
}

fn from_sql(value: SqlValue) -> Value {
    match value {
        SqlValue::Null => Value::Null,
        SqlValue::Bool(b) => Value::Boolean(b),
        SqlValue::Int(i) => Value::Int(i),
        SqlValue::Float(f) => Value::Float(f),
        SqlValue::Text(t) => Value::Text(t),
    }
}

fn from_query_error(error: QueryError) -> Error {
    match error {
        QueryError::Timeout {
            what: "statement", ..
        } => Error::Timeout,
        QueryError::TooManyRows(n) => Error::TooManyRows(n),
        QueryError::NotReadOnly(msg) => Error::NotReadOnly(msg),
        other => Error::Query(other.to_string()),
    }
}

impl sql::Host for StoreData {
    async fn query(
        &mut self,
        datasource: String,
        statement: String,
        params: Vec<Value>,
    ) -> Result<Rows, Error> {
        let plugin = &self.plugin;
        if !plugin.grants.datasources.contains(&datasource) {
            return Err(Error::NotGranted(format!(
                "datasource {datasource} is not granted to plugin {}",
                plugin.name
            )));
        }
        let Some(ds) = plugin.datasources.load().get(&datasource) else {
            return Err(Error::Query(format!(
                "datasource {datasource} is not configured"
            )));
        };
        // Never wait on the database past the run's deadline.
        let remaining = self
            .deadline
            .saturating_duration_since(std::time::Instant::now());
        let limits = QueryLimits {
            statement_timeout: plugin.grants.statement_timeout().min(remaining),
            row_limit: plugin.grants.row_limit(),
        };
        let params: Vec<SqlValue> = params.into_iter().map(to_sql).collect();
        match ds
            .query_read_only_unrecorded(&statement, &params, limits)
            .await
        {
            Ok(rows) => Ok(Rows {
                columns: rows.columns,
                rows: rows
                    .rows
                    .into_iter()
                    .map(|row| row.into_iter().map(from_sql).collect())
                    .collect(),
            }),
            Err(error) => Err(from_query_error(error)),
        }
    }
}

impl old::sql::Host for StoreData {
    async fn query(
        &mut self,
        datasource: String,
        statement: String,
        params: Vec<old::sql::Value>,
    ) -> Result<old::sql::Rows, old::sql::Error> {
        let params = params.into_iter().map(value_in).collect();
        match sql::Host::query(self, datasource, statement, params).await {
            Ok(rows) => Ok(old::sql::Rows {
                columns: rows.columns,
                rows: rows
                    .rows
                    .into_iter()
                    .map(|row| row.into_iter().map(value_out).collect())
                    .collect(),
            }),
            Err(error) => Err(error_out(error)),
        }
    }
}

fn value_in(value: old::sql::Value) -> sql::Value {
    use old::sql::Value as V;
    match value {
        V::Null => sql::Value::Null,
        V::Boolean(b) => sql::Value::Boolean(b),
        V::Int(i) => sql::Value::Int(i),
        V::Float(f) => sql::Value::Float(f),
        V::Text(t) => sql::Value::Text(t),
    }
}

fn value_out(value: sql::Value) -> old::sql::Value {
    use old::sql::Value as V;
    match value {
        sql::Value::Null => V::Null,
        sql::Value::Boolean(b) => V::Boolean(b),
        sql::Value::Int(i) => V::Int(i),
        sql::Value::Float(f) => V::Float(f),
        sql::Value::Text(t) => V::Text(t),
    }
}

fn error_out(error: sql::Error) -> old::sql::Error {
    use old::sql::Error as E;
    match error {
        sql::Error::NotGranted(m) => E::NotGranted(m),
        sql::Error::NotReadOnly(m) => E::NotReadOnly(m),
        sql::Error::Timeout => E::Timeout,
        sql::Error::TooManyRows(n) => E::TooManyRows(n),
        sql::Error::Query(m) => E::Query(m),
    }
}
