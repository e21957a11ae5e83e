//! The `sql` interface: read-only queries on datasources granted to the plugin.

use crate::datasource::{QueryError, QueryLimits, SqlValue};

use super::bindings::vitals::check::sql::{self, Error, Rows, Value};
use super::store::StoreData;

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
