//! # sql-threshold
//!
//! Runs one read-only query on a granted datasource and compares the single number it returns
//! with thresholds, e.g. failed tasks in the last five minutes. Observed value: that number.
//!
//! | key | required | meaning |
//! |---|---|---|
//! | `datasource` | yes | a datasource the operator granted to this plugin |
//! | `query` | yes | a read-only query returning one row with one numeric column |
//! | `fail_above` / `warn_above` | no | `fail` / `warn` when the value is greater |
//! | `fail_below` / `warn_below` | no | `fail` / `warn` when the value is smaller |
//! | `unit` | no | unit of the observed value (default `rows`) |
//!
//! A query error or a result that is not one number is `unknown`: the value could not be measured.

use std::time::Duration;

use vitals_guest::config::Key;
use vitals_guest::{CheckResult, Description, Plugin, config, sql};

mod thresholds;

use thresholds::Thresholds;

struct SqlThreshold;

impl Plugin for SqlThreshold {
    fn describe() -> Description {
        Description::new(
            "sql-threshold",
            env!("CARGO_PKG_VERSION"),
            "Compares one number from a read-only SQL query with thresholds",
        )
        .interval(Duration::from_secs(30))
        .config(Key::required("datasource", "Granted datasource to query"))
        .config(Key::required(
            "query",
            "Read-only query returning one number",
        ))
        .config(Key::optional("fail_above", "Fail above this number"))
        .config(Key::optional("warn_above", "Warn above this number"))
        .config(Key::optional("warn_below", "Warn below this number"))
        .config(Key::optional("fail_below", "Fail below this number"))
        .config(Key::optional("unit", "Unit of the number").default("rows"))
    }

    fn check() -> Result<CheckResult, String> {
        let datasource = config::require("datasource")?;
        let query = config::require("query")?;
        let thresholds = Thresholds {
            fail_above: config::get_parsed("fail_above")?,
            warn_above: config::get_parsed("warn_above")?,
            warn_below: config::get_parsed("warn_below")?,
            fail_below: config::get_parsed("fail_below")?,
        };
        let unit = config::get("unit").unwrap_or_else(|| "rows".into());

        let value = sql::query(&datasource, &query, &[])?.single_f64()?;
        let (status, reason) = thresholds.classify(value);
        let output = match reason {
            Some(reason) => format!("{value} {unit} ({reason})"),
            None => format!("{value} {unit}"),
        };
        Ok(CheckResult::new(status, output)
            .observed(value, unit)
            .detail("datasource", datasource))
    }
}

vitals_guest::export!(SqlThreshold);
