//! Pool and circuit-breaker metrics for `/metrics`.

use super::Datasources;
use vitals::{MetricsSource, MetricsWriter};

const BREAKER_STATES: [&str; 3] = ["closed", "open", "half_open"];

impl MetricsSource for Datasources {
    fn render(&self, out: &mut MetricsWriter) {
        if self.is_empty() {
            return;
        }
        out.family(
            "vitals_datasource_pool_connections",
            "gauge",
            "Open pool connections by state (idle, in_use).",
        );
        for (name, ds) in self.iter() {
            let stats = ds.pool_stats();
            let labels = |state| [("datasource", name), ("state", state)];
            out.sample(
                "vitals_datasource_pool_connections",
                &labels("idle"),
                stats.idle.into(),
            );
            out.sample(
                "vitals_datasource_pool_connections",
                &labels("in_use"),
                stats.in_use.into(),
            );
        }
        out.family(
            "vitals_datasource_pool_max_connections",
            "gauge",
            "The pool's connection limit.",
        );
        for (name, ds) in self.iter() {
            let max = ds.pool_stats().max;
            out.sample(
                "vitals_datasource_pool_max_connections",
                &[("datasource", name)],
                max.into(),
            );
        }
        out.family(
            "vitals_circuit_breaker_state",
            "gauge",
            "1 for the circuit breaker's current state (closed, open, half_open), else 0.",
        );
        for (name, ds) in self.iter() {
            let current = ds.breaker().state().name();
            for state in BREAKER_STATES {
                let value = if state == current { 1.0 } else { 0.0 };
                out.sample(
                    "vitals_circuit_breaker_state",
                    &[("datasource", name), ("state", state)],
                    value,
                );
            }
        }
        out.family(
            "vitals_circuit_breaker_transitions_total",
            "counter",
            "Circuit breaker state changes since start.",
        );
        for (name, ds) in self.iter() {
            let total = ds.breaker().transitions_total() as f64;
            out.sample(
                "vitals_circuit_breaker_transitions_total",
                &[("datasource", name)],
                total,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::datasource::DatasourceConfig;

    #[tokio::test]
    async fn pools_and_breakers_are_rendered_per_datasource() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("m.db");
        let configs = BTreeMap::from([(
            "local".to_owned(),
            DatasourceConfig::new(path.display().to_string()),
        )]);
        let ds = Datasources::new(&configs).expect("builds");
        let mut w = MetricsWriter::new();
        ds.render(&mut w);
        let text = w.finish();
        assert!(
            text.contains(
                "vitals_datasource_pool_connections{datasource=\"local\",state=\"idle\"} 0\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("vitals_datasource_pool_max_connections{datasource=\"local\"} 5\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "vitals_circuit_breaker_state{datasource=\"local\",state=\"closed\"} 1\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("vitals_circuit_breaker_state{datasource=\"local\",state=\"open\"} 0\n"),
            "{text}"
        );
        assert!(
            text.contains("vitals_circuit_breaker_transitions_total{datasource=\"local\"} 0\n"),
            "{text}"
        );
    }
}
