//! Runs config `query` on config `datasource`: pass with the row count and the first row's cells
//! as details `col_<name>`, fail with the error and its kind in detail `error_kind`
//! ("not-granted", "not-read-only", "timeout", "too-many-rows", "query").

use vitals_guest::config::Key;
use vitals_guest::sql::{self, Value};
use vitals_guest::{CheckResult, Description, Plugin, config};

struct SqlQuery;

impl Plugin for SqlQuery {
    fn describe() -> Description {
        Description::new("sql-query", env!("CARGO_PKG_VERSION"), "Runs one SQL query")
            .config(Key::required("datasource", "Granted datasource"))
            .config(Key::required("query", "Read-only query"))
    }

    fn check() -> Result<CheckResult, String> {
        let datasource = config::require("datasource")?;
        let query = config::require("query")?;
        Ok(match sql::query(&datasource, &query, &[]) {
            Ok(rows) => {
                let mut result = CheckResult::pass(format!("{} rows", rows.len()))
                    .observed(rows.len() as f64, "rows");
                if let Some(first) = rows.rows.first() {
                    for (column, value) in rows.columns.iter().zip(first) {
                        result = result.detail(format!("col_{column}"), cell(value));
                    }
                }
                result
            }
            Err(error) => CheckResult::fail(error.to_string()).detail("error_kind", error.kind()),
        })
    }
}

fn cell(value: &Value) -> String {
    match value {
        Value::Null => "NULL".into(),
        Value::Bool(value) => value.to_string(),
        Value::Int(value) => value.to_string(),
        Value::Float(value) => value.to_string(),
        Value::Text(value) => value.clone(),
    }
}

vitals_guest::export!(SqlQuery);
