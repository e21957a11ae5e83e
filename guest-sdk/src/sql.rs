//! Read-only SQL against datasources the operator granted to this plugin.
//!
//! ```no_run
//! use vitals_guest::sql;
//!
//! # fn f() -> Result<(), sql::SqlError> {
//! let rows = sql::query(
//!     "orders",
//!     "SELECT count(*) FROM tasks WHERE state = $1 AND failed_at > now() - interval '5 minutes'",
//!     &["failed".into()],
//! )?;
//! let failed = rows.single_i64()?;
//! # Ok(()) }
//! ```
//!
//! Parameters are positional (`$1` or `?`, as the database uses). The host rejects anything that is
//! not a read-only query, enforces a statement timeout and a row limit.

use crate::__private::bindings::vitals::check::sql as wit;

/// A query parameter or a result cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// Text (also how the host returns types without a closer match, e.g. decimals, timestamps).
    Text(String),
}

impl Value {
    /// The value as an integer: integers as is, text if it parses as one.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(value) => Some(*value),
            Value::Text(text) => text.trim().parse().ok(),
            _ => None,
        }
    }

    /// The value as a number: integers and floats, text if it parses as one.
    #[allow(clippy::cast_precision_loss)] // counts beyond 2^53 are not a health measurement
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(value) => Some(*value as f64),
            Value::Float(value) => Some(*value),
            Value::Text(text) => text.trim().parse().ok(),
            _ => None,
        }
    }

    /// The value as text, if it is text.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Text(text) => Some(text),
            _ => None,
        }
    }

    /// Whether the value is SQL NULL.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// A short name of the value's type for error messages.
    fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "NULL",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a float",
            Value::Text(_) => "text",
        }
    }
}

macro_rules! value_from {
    ($($source:ty => $variant:ident),* $(,)?) => {$(
        impl From<$source> for Value {
            fn from(value: $source) -> Self {
                Value::$variant(value.into())
            }
        }
    )*};
}

value_from!(bool => Bool, i32 => Int, i64 => Int, u32 => Int, f32 => Float, f64 => Float,
    String => Text, &str => Text);

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(value: Option<T>) -> Self {
        value.map_or(Value::Null, Into::into)
    }
}

/// Rows returned by a query.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rows {
    /// Column names, in order.
    pub columns: Vec<String>,
    /// The rows; each has one value per column.
    pub rows: Vec<Vec<Value>>,
}

impl Rows {
    /// The number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The position of the column named `name`.
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|column| column == name)
    }

    /// The value in row `row` of the column named `column`.
    pub fn get(&self, row: usize, column: &str) -> Option<&Value> {
        self.rows.get(row)?.get(self.column_index(column)?)
    }

    /// The only value of a one-row, one-column result.
    pub fn single(&self) -> Result<&Value, SqlError> {
        match self.rows.as_slice() {
            [row] if row.len() == 1 => Ok(&row[0]),
            [row] => Err(SqlError::Shape(format!(
                "expected one column, got {}",
                row.len()
            ))),
            rows => Err(SqlError::Shape(format!(
                "expected one row, got {}",
                rows.len()
            ))),
        }
    }

    /// The only value of a one-row, one-column result, as an integer.
    pub fn single_i64(&self) -> Result<i64, SqlError> {
        let value = self.single()?;
        value.as_i64().ok_or_else(|| {
            SqlError::Shape(format!("expected an integer, got {}", value.type_name()))
        })
    }

    /// The only value of a one-row, one-column result, as a number.
    pub fn single_f64(&self) -> Result<f64, SqlError> {
        let value = self.single()?;
        value
            .as_f64()
            .ok_or_else(|| SqlError::Shape(format!("expected a number, got {}", value.type_name())))
    }
}

/// Why a query did not run, did not finish, or did not return what the plugin expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SqlError {
    /// The operator did not grant this datasource to this plugin.
    #[error("datasource not granted: {0}")]
    NotGranted(String),
    /// The statement is not a read-only query.
    #[error("statement is not read-only: {0}")]
    NotReadOnly(String),
    /// The statement ran past its statement timeout.
    #[error("query timed out")]
    Timeout,
    /// The result had more rows than the granted row limit.
    #[error("query returned more than {0} rows")]
    TooManyRows(u32),
    /// The database reported an error.
    #[error("query failed: {0}")]
    Query(String),
    /// The result does not have the shape the plugin asked for (e.g. `single_i64` on two rows).
    #[error("unexpected result: {0}")]
    Shape(String),
}

impl SqlError {
    /// A stable kebab-case name of the error kind, e.g. "not-granted", for details and tests.
    pub fn kind(&self) -> &'static str {
        match self {
            SqlError::NotGranted(_) => "not-granted",
            SqlError::NotReadOnly(_) => "not-read-only",
            SqlError::Timeout => "timeout",
            SqlError::TooManyRows(_) => "too-many-rows",
            SqlError::Query(_) => "query",
            SqlError::Shape(_) => "shape",
        }
    }
}

impl From<SqlError> for String {
    fn from(error: SqlError) -> Self {
        error.to_string()
    }
}

/// Runs one read-only statement on `datasource` with positional `params`.
pub fn query(datasource: &str, statement: &str, params: &[Value]) -> Result<Rows, SqlError> {
    let params: Vec<wit::Value> = params.iter().cloned().map(to_wire).collect();
    match wit::query(datasource, statement, &params) {
        Ok(rows) => Ok(Rows {
            columns: rows.columns,
            rows: rows
                .rows
                .into_iter()
                .map(|row| row.into_iter().map(from_wire).collect())
                .collect(),
        }),
        Err(error) => Err(match error {
            wit::Error::NotGranted(message) => SqlError::NotGranted(message),
            wit::Error::NotReadOnly(message) => SqlError::NotReadOnly(message),
            wit::Error::Timeout => SqlError::Timeout,
            wit::Error::TooManyRows(limit) => SqlError::TooManyRows(limit),
            wit::Error::Query(message) => SqlError::Query(message),
        }),
    }
}

fn to_wire(value: Value) -> wit::Value {
    match value {
        Value::Null => wit::Value::Null,
        Value::Bool(value) => wit::Value::Boolean(value),
        Value::Int(value) => wit::Value::Int(value),
        Value::Float(value) => wit::Value::Float(value),
        Value::Text(value) => wit::Value::Text(value),
    }
}

fn from_wire(value: wit::Value) -> Value {
    match value {
        wit::Value::Null => Value::Null,
        wit::Value::Boolean(value) => Value::Bool(value),
        wit::Value::Int(value) => Value::Int(value),
        wit::Value::Float(value) => Value::Float(value),
        wit::Value::Text(value) => Value::Text(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(value: Value) -> Rows {
        Rows {
            columns: vec!["n".into()],
            rows: vec![vec![value]],
        }
    }

    #[test]
    fn single_i64_reads_integers_and_numeric_text() {
        assert_eq!(one(Value::Int(7)).single_i64(), Ok(7));
        assert_eq!(one(Value::Text("12".into())).single_i64(), Ok(12));
    }

    #[test]
    fn single_f64_reads_integers_floats_and_decimal_text() {
        assert_eq!(one(Value::Int(3)).single_f64(), Ok(3.0));
        assert_eq!(one(Value::Float(2.5)).single_f64(), Ok(2.5));
        assert_eq!(one(Value::Text("0.25".into())).single_f64(), Ok(0.25));
    }

    #[test]
    fn single_rejects_null_with_a_clear_message() {
        let error = one(Value::Null)
            .single_i64()
            .expect_err("null is not a number");
        assert_eq!(
            error.to_string(),
            "unexpected result: expected an integer, got NULL"
        );
    }

    #[test]
    fn single_rejects_zero_or_several_rows_and_columns() {
        let empty = Rows {
            columns: vec!["n".into()],
            rows: vec![],
        };
        assert_eq!(empty.single_i64().map_err(|e| e.kind()), Err("shape"));
        let wide = Rows {
            columns: vec!["a".into(), "b".into()],
            rows: vec![vec![Value::Int(1), Value::Int(2)]],
        };
        assert_eq!(
            wide.single().map_err(|e| e.to_string()),
            Err("unexpected result: expected one column, got 2".to_string())
        );
    }

    #[test]
    fn get_finds_a_cell_by_column_name() {
        let rows = Rows {
            columns: vec!["a".into(), "b".into()],
            rows: vec![vec![Value::Int(1), Value::Text("x".into())]],
        };
        assert_eq!(rows.get(0, "b").and_then(Value::as_str), Some("x"));
        assert_eq!(rows.get(0, "c"), None);
        assert_eq!(rows.get(1, "a"), None);
    }

    #[test]
    fn options_convert_to_null_or_the_value() {
        assert_eq!(Value::from(None::<i64>), Value::Null);
        assert_eq!(Value::from(Some("a")), Value::Text("a".into()));
    }
}
