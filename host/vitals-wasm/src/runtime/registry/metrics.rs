//! The plugin metrics: per-plugin counters and gauges from the registry's statistics, in the
//! Prometheus text format through the core's [`MetricsWriter`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{PluginRegistry, PluginStats, lock};
use vitals::{MetricsSource, MetricsWriter};

impl MetricsSource for PluginRegistry {
    fn render(&self, out: &mut MetricsWriter) {
        let all: Vec<(String, Arc<PluginStats>)> = lock(&self.by_name)
            .iter()
            .map(|(n, s)| (n.clone(), s.clone()))
            .collect();
        let counter =
            |out: &mut MetricsWriter, name: &str, help: &str, get: &dyn Fn(&PluginStats) -> f64| {
                out.family(name, "counter", help);
                for (plugin, s) in &all {
                    out.sample(name, &[("plugin", plugin)], get(s));
                }
            };
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed) as f64;
        counter(
            out,
            "vitals_plugin_runs_total",
            "Plugin runs, trapped or not.",
            &|s| load(&s.runs),
        );
        counter(
            out,
            "vitals_plugin_traps_total",
            "Plugin runs that trapped (panic, deadline, out-of-memory, stack overflow).",
            &|s| load(&s.traps),
        );
        counter(
            out,
            "vitals_plugin_timeouts_total",
            "Plugin runs past their deadline.",
            &|s| load(&s.timeouts),
        );
        counter(
            out,
            "vitals_plugin_oom_total",
            "Plugin runs past their memory limit.",
            &|s| load(&s.oom),
        );
        counter(
            out,
            "vitals_plugin_loads_total",
            "Plugin versions loaded (first load and every reload).",
            &|s| load(&s.loads),
        );
        counter(
            out,
            "vitals_plugin_rejections_total",
            "Plugin files rejected at load or reload (the last good version kept running).",
            &|s| load(&s.rejections),
        );
        counter(
            out,
            "vitals_plugin_log_lines_dropped_total",
            "Plugin log lines dropped by the rate limit.",
            &|s| load(&s.logs_dropped),
        );
        let name = "vitals_plugin_run_duration_seconds";
        out.family(name, "summary", "Wall time of plugin runs.");
        for (plugin, s) in &all {
            let secs = load(&s.duration_nanos) / 1e9;
            out.sample(&format!("{name}_sum"), &[("plugin", plugin)], secs);
            out.sample(
                &format!("{name}_count"),
                &[("plugin", plugin)],
                load(&s.runs),
            );
        }
        let name = "vitals_plugin_memory_peak_bytes";
        out.family(
            name,
            "gauge",
            "Highest linear memory of any run of the plugin.",
        );
        for (plugin, s) in &all {
            out.sample(name, &[("plugin", plugin)], load(&s.memory_peak));
        }
        let name = "vitals_plugin_rejected";
        out.family(
            name,
            "gauge",
            "1 while the plugin's latest file is rejected (a good one, or the running one's files back, clears it).",
        );
        for (plugin, s) in &all {
            let rejected = if lock(&s.rejection).is_some() {
                1.0
            } else {
                0.0
            };
            out.sample(name, &[("plugin", plugin)], rejected);
        }
        let name = "vitals_plugin_quarantined";
        out.family(
            name,
            "gauge",
            "1 while the plugin is quarantined after repeated traps.",
        );
        for (plugin, s) in &all {
            let q = if s.quarantined.load(Ordering::Relaxed) {
                1.0
            } else {
                0.0
            };
            out.sample(name, &[("plugin", plugin)], q);
        }
    }
}
