//! # vitals
//!
//! Health checks, backpressure and sandboxed WebAssembly checks for tokio services.
//!
//! Checks run in the background ([`evaluator`]); every result lands in one immutable
//! [`HealthSnapshot`] published atomically ([`snapshot`]); a pure backpressure engine turns it into
//! an admission decision ([`backpressure`]); probes, status and metrics are served from the
//! snapshot's pre-rendered bytes ([`http`]), never touching a dependency on the request path.
//!
//! Use it as a library through [`Vitals::builder`] (see [`builder`] for a complete example), or as
//! the `vitals` daemon (`vitals serve --config vitals.toml`).

pub mod admission;
pub mod aggregate;
pub mod backpressure;
pub mod builder;
pub mod channel;
pub mod check;
pub mod check_table;
pub mod checks;
pub mod circuit;
pub mod cli;
pub mod config;
pub mod damping;
pub mod datasource;
mod document;
pub mod evaluator;
pub mod grpc;
pub mod heartbeat;
pub mod http;
pub mod metrics;
pub mod plugin;
pub mod secret;
pub mod serve;
pub mod snapshot;
pub mod tiers;

pub use admission::{AdmissionLayer, BackpressureChecker, Rejected};
pub use backpressure::{Admission, BackpressureConfig};
pub use builder::{Vitals, VitalsBuilder};
pub use channel::ChannelProbe;
pub use check::{
    Check, CheckKind, CheckResult, CheckSettings, CheckSpec, Details, Observed, Outcome, Pressure,
    Status,
};
pub use evaluator::{Evaluator, EvaluatorConfig, Registry};
pub use heartbeat::{HeartbeatHandle, Heartbeats};
pub use snapshot::HealthSnapshot;
