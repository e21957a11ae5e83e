//! # vitals
//!
//! Health checks and backpressure for tokio services: the core library.
//!
//! Checks run in the background (an [`Evaluator`]); every result lands in one immutable
//! [`HealthSnapshot`] published atomically; a pure backpressure engine turns it into an
//! [`Admission`] decision; probes, status and metrics are served from the snapshot's pre-rendered
//! bytes ([`http`]), never touching a dependency on the request path.
//!
//! Use it through [`Vitals::builder`]: a channel check ([`ChannelProbe`]), worker heartbeats
//! ([`Heartbeats`]), your own [`Check`]s, the probe router and an [`AdmissionLayer`].
//!
//! No plugin runtime, database driver, file watcher, CLI or TOML parser is in this crate's
//! dependency tree. The `vitals-daemon` crate (the `vitals` binary) adds those, and plugs its
//! documents and routes in through [`DocumentSource`] and [`VitalsBuilder::routes`].

#![deny(unreachable_pub)]

mod admission;
mod aggregate;
mod backpressure;
mod builder;
mod channel;
mod check;
mod damping;
mod evaluator;
mod heartbeat;
pub mod http;
mod metrics;
mod snapshot;
mod tiers;

pub use admission::{AdmissionLayer, AdmissionService, BackpressureChecker, Rejected};
pub use aggregate::{Overall, Phase, Progress};
pub use backpressure::{
    Admission, AgeThresholds, BackpressureConfig, RetryAfter, Shed, ShedSource, Signal,
};
pub use builder::{Vitals, VitalsBuilder, channel_settings, heartbeat_settings};
pub use channel::ChannelProbe;
pub use check::{
    Check, CheckKind, CheckResult, CheckSettings, CheckSpec, Details, Observed, Outcome, Pressure,
    Status, millis,
};
pub use damping::FlapPolicy;
pub use evaluator::{Evaluator, EvaluatorConfig, Registry, run_once};
pub use heartbeat::{HeartbeatHandle, Heartbeats};
pub use metrics::{MetricsSource, MetricsWriter};
pub use snapshot::{
    CheckState, DocumentSource, Freshness, HealthSnapshot, Lifecycle, NotesSource, PendingSource,
    Shared, Transition,
};
pub use tiers::{Thresholds, Tier};
