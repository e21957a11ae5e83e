//! systemd readiness notification (`Type=notify`): READY=1 once the daemon serves, RELOADING=1
//! and READY=1 around a SIGHUP reload, STOPPING=1 when it starts draining.
//!
//! Only acts when systemd set `NOTIFY_SOCKET`; elsewhere every call does nothing. A failed send
//! is logged, never fatal: the service manager is told, not asked.

use sd_notify::NotifyState;

/// Tell the service manager the daemon serves its probes.
pub(super) fn ready() {
    send(&[NotifyState::Ready], "READY=1");
}

/// Tell the service manager a reload started. systemd requires MONOTONIC_USEC with RELOADING=1
/// (`Type=notify-reload`) to tell this reload from an earlier one.
pub(super) fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[NotifyState::Reloading, now], "RELOADING=1"),
        Err(e) => {
            tracing::warn!("cannot read the monotonic clock for MONOTONIC_USEC: {e}");
            send(&[NotifyState::Reloading], "RELOADING=1");
        }
    }
}

/// Tell the service manager the daemon is shutting down (draining).
pub(super) fn stopping() {
    send(&[NotifyState::Stopping], "STOPPING=1");
}

fn send(states: &[NotifyState<'_>], what: &str) {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!("cannot notify the service manager ({what}): {e}");
    }
}
