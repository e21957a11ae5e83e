//! What only the daemon's suites need: the `vitals` binary as a child process, a gRPC client,
//! headless Chromium, and a ConfigMap volume as the kubelet lays it out.

pub mod browser;
pub mod configmap;
pub mod grpc;
pub mod process;
