//! The daemon's integration tests, one binary with one module per suite: the `vitals` binary end
//! to end (serve, reload through files, admin, the status page in Chromium, OpenAPI and
//! schemathesis, gRPC, /metrics through promtool, systemd, the CLI and plugin authoring), the
//! deployment files, and the architecture of the whole workspace.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

mod api_fuzz;
mod architecture;
mod daemon;
mod datasources_faults;
mod deploy_files;
mod engine_config;
mod grpc_health;
mod grpc_idle_cost;
mod grpc_python;
mod host_memory;
mod metrics_promtool;
mod openapi;
mod plugin_cli;
mod plugin_configmap;
mod plugin_install;
mod plugin_templates;
mod status_page;
mod systemd_notify;
mod validate_cli;
