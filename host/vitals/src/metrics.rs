//! Prometheus text exposition: helpers and the hook other components use to add their metrics.
//!
//! Metrics are rendered when a snapshot is built, never per request: `/metrics` serves the bytes
//! of the latest snapshot.

use std::fmt::Write;

/// Something that contributes metrics to `/metrics` (the plugin runtime, datasources, ...).
///
/// `render` is called from the snapshot builder, off the request path; it must not block.
pub trait MetricsSource: Send + Sync + 'static {
    /// Append metric families in Prometheus text format to `out`.
    fn render(&self, out: &mut MetricsWriter);
}

/// Writes Prometheus text format with correct escaping.
#[derive(Debug, Default)]
pub struct MetricsWriter {
    out: String,
}

impl MetricsWriter {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Write the `# HELP` and `# TYPE` lines of a family (`kind` is "gauge" or "counter").
    pub fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    /// Write one sample with labels.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{}\"", escape_label(v));
            }
            self.out.push('}');
        }
        let _ = if value.is_nan() {
            writeln!(self.out, " NaN")
        } else if value.is_infinite() {
            writeln!(self.out, " {}", if value > 0.0 { "+Inf" } else { "-Inf" })
        } else {
            writeln!(self.out, " {value}")
        };
    }

    /// The text written so far.
    pub fn finish(self) -> String {
        self.out
    }
}

fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        let mut w = MetricsWriter::new();
        w.family("vitals_x", "gauge", "An x.");
        w.sample("vitals_x", &[("check", "a\"b\\c\nd")], 1.0);
        let text = w.finish();
        assert!(
            text.contains("vitals_x{check=\"a\\\"b\\\\c\\nd\"} 1\n"),
            "{text}"
        );
        assert!(text.starts_with("# HELP vitals_x An x.\n# TYPE vitals_x gauge\n"));
    }
}
