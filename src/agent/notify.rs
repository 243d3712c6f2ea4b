//! Service-manager notifications (systemd `Type=notify`): readiness, watchdog
//! pings and stopping, sent with the `sd-notify` crate.
//!
//! Every function is a no-op when `NOTIFY_SOCKET` is unset, so the agent runs
//! the same in a terminal, under systemd, or under a test's listener. This
//! module only sends; when to send (READY after the config is loaded and the
//! first heartbeat was attempted, a ping from each turn of the main loop,
//! STOPPING on shutdown) is the agent loop's business.

use std::ffi::OsString;
use std::time::Duration;

use sd_notify::NotifyState;

/// A notification could not be delivered to the service manager.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// Sending the datagram to `NOTIFY_SOCKET` failed.
    #[error("systemd notify socket {socket:?}: sending {state} failed: {source}")]
    Send {
        /// The socket path from `NOTIFY_SOCKET`.
        socket: OsString,
        /// What was being sent, e.g. `READY=1`.
        state: &'static str,
        /// The underlying I/O error.
        source: std::io::Error,
    },
}

impl NotifyError {
    /// Stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            NotifyError::Send { .. } => "Gateway.NotifyFailed",
        }
    }

    /// A failed datagram may go through on the next try (socket busy).
    pub fn is_retryable(&self) -> bool {
        match self {
            NotifyError::Send { .. } => true,
        }
    }
}

/// Tells the service manager the agent is up (`READY=1`).
pub fn ready() -> Result<(), NotifyError> {
    send(NotifyState::Ready, "READY=1")
}

/// Pings the service manager's watchdog (`WATCHDOG=1`).
pub fn watchdog() -> Result<(), NotifyError> {
    send(NotifyState::Watchdog, "WATCHDOG=1")
}

/// Tells the service manager the agent is shutting down (`STOPPING=1`).
pub fn stopping() -> Result<(), NotifyError> {
    send(NotifyState::Stopping, "STOPPING=1")
}

/// How often to call [`watchdog`]: half of `WATCHDOG_USEC`, as
/// sd_watchdog_enabled(3) advises. `None` when no watchdog is configured for
/// this process (no `NOTIFY_SOCKET`, no or bad `WATCHDOG_USEC`, or a
/// `WATCHDOG_PID` naming another process).
pub fn watchdog_interval() -> Option<Duration> {
    std::env::var_os("NOTIFY_SOCKET")?;
    ping_interval(
        std::env::var("WATCHDOG_USEC").ok().as_deref(),
        std::env::var("WATCHDOG_PID").ok().as_deref(),
        std::process::id(),
    )
}

fn send(state: NotifyState<'_>, label: &'static str) -> Result<(), NotifyError> {
    let Some(socket) = std::env::var_os("NOTIFY_SOCKET") else {
        return Ok(());
    };
    sd_notify::notify(false, &[state]).map_err(|source| NotifyError::Send {
        socket,
        state: label,
        source,
    })
}

/// The ping interval for a watchdog timeout of `usec` microseconds, if the
/// watchdog is meant for process `own_pid` (libsystemd's rules: a missing
/// `WATCHDOG_PID` means any process).
fn ping_interval(usec: Option<&str>, pid: Option<&str>, own_pid: u32) -> Option<Duration> {
    let usec: u64 = usec?.trim().parse().ok().filter(|&u| u > 0)?;
    if let Some(pid) = pid {
        if pid.trim().parse::<u32>().ok()? != own_pid {
            return None;
        }
    }
    Some(Duration::from_micros(usec / 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ping_interval_is_half_the_timeout() {
        assert_eq!(
            ping_interval(Some("30000000"), None, 7),
            Some(Duration::from_secs(15))
        );
        assert_eq!(
            ping_interval(Some("30000000"), Some("7"), 7),
            Some(Duration::from_secs(15))
        );
    }

    #[test]
    fn ping_interval_refuses_other_pid_and_bad_values() {
        assert_eq!(ping_interval(Some("30000000"), Some("8"), 7), None);
        assert_eq!(ping_interval(Some("30000000"), Some("x"), 7), None);
        assert_eq!(ping_interval(Some("0"), None, 7), None);
        assert_eq!(ping_interval(Some("-5"), None, 7), None);
        assert_eq!(ping_interval(Some("soon"), None, 7), None);
        assert_eq!(ping_interval(None, Some("7"), 7), None);
    }
}
