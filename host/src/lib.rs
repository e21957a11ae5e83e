//! # vitals
//!
//! Health checks, backpressure and sandboxed WebAssembly checks for tokio services.

pub mod check;
pub mod config;
pub mod metrics;
pub mod plugin;

pub use check::{Check, CheckKind, CheckResult, CheckSettings, CheckSpec, Details, Observed, Outcome, Pressure, Status};
