//! The wire shared by the agent and the control plane: RPC-style calls
//! (`Action`, `Version=2019-03-06` and the common parameters), their
//! signatures (`sign`), the error answers (`error`), reading a call's
//! parameters by name (`params`), the requests and answers of the gateway
//! actions (`gateway`: the agent builds its calls from them, the control
//! plane parses calls into them), the bounds on stored strings (`bounds`),
//! and the path rules and set layout both sides check names by (`layout`).
//!
//! This module does no I/O: the agent's HTTP client and the control plane's
//! server both build on it.

pub mod backup_objects;
pub mod bounds;
pub mod error;
pub mod gateway;
pub mod layout;
pub mod params;
pub mod sign;

pub use error::ApiError;

/// The API version every call carries.
pub const API_VERSION: &str = "2019-03-06";

/// Timestamps further than this from the server's clock are refused.
pub const MAX_CLOCK_SKEW_SECS: i64 = 15 * 60;

/// The format of the `Timestamp` parameter and the `x-acs-date` header.
pub const TIMESTAMP_FORMAT: &str = "%Y-%m-%dT%H:%M:%SZ";

/// Gateway status values of `DescribeBackupGatewayList`.
pub mod gateway_status {
    /// Heartbeats arrive.
    pub const ONLINE: &str = "ONLINE";
    /// Heartbeats stopped without a goodbye.
    pub const OFFLINE: &str = "OFFLINE";
    /// The agent said goodbye on shutdown.
    pub const STOPPED: &str = "STOPPED";
}
