//! What the integration tests and benchmarks of the vitals crates share: bounded waits
//! ([`wait`]), the guest components the test command builds ([`guests`]), the real services and
//! fault servers ([`servers`]), a minimal HTTP client ([`http`]), a probe driver ([`probe`]),
//! captured logs ([`logs`]) and timing for benchmarks ([`timing`]).
//!
//! It depends on no vitals crate, so the core's tests build without the plugin runtime or the
//! database drivers; each crate's own helpers live in its test binary (`tests/it/`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod guests;
pub mod http;
pub mod logs;
pub mod probe;
pub mod servers;
pub mod timing;
pub mod wait;
