//! The core's integration tests, one binary with one module per suite: the engine on paused
//! tokio time, and the HTTP surface through the library router.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod engine;
mod http_api;
