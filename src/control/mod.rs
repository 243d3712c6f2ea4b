//! dbs-control, the reference control plane: an HTTP server that speaks the
//! public API to users and SDKs and the gateway actions to agents, with its
//! state in SQLite under a data dir.
//!
//! Never imports `agent` or `transfer`; both sides meet in `api`, whose
//! request types the gateway actions parse calls into.
//!
//! Modules, leaves first (each imports only those above it, no loops):
//! - `files` (private modes), `limits`, `notify`, `tls`, `client_token`
//!   (idempotent creation), `set_url` (signing and checking set URLs; pure),
//!   `schedule` (weekly windows; pure),
//!   `keys` (AccessKeys), `gateways` (registrations);
//! - `tasks` (the gateway task queue and leases);
//! - `catalog` (plans, sets, download records, the URL signing key; queues
//!   auto downloads as tasks);
//! - `store` (the SQLite handle; applies the schemas of `keys` and
//!   `catalog`), then this module's [`ControlPlane`], then `scheduler`
//!   (fires plans' backups, deletes expired sets);
//! - `auth` (signatures, nonces), `call` (an authenticated call);
//! - `actions` (one handler per action), `listener` (connection bounds),
//!   `server` (the RPC route and the set-bytes route).

pub mod actions;
pub mod auth;
pub mod call;
pub mod catalog;
pub mod client_token;
pub mod files;
pub mod gateways;
pub mod keys;
pub mod limits;
pub mod listener;
pub mod notify;
pub mod schedule;
pub mod scheduler;
pub mod server;
pub mod set_url;
pub mod store;
pub mod tasks;
pub mod tls;

use std::time::Duration;

/// How the control plane runs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Heartbeat interval told to agents.
    pub heartbeat_interval: Duration,
    /// A gateway with no heartbeat for this long is OFFLINE.
    pub offline_after: Duration,
    /// Lease of a task between two reports.
    pub task_lease: Duration,
    /// Longest long poll.
    pub poll_wait: Duration,
    /// Regions answered by DescribeRegions and accepted from gateways.
    pub regions: Vec<String>,
    /// Base URL of signed set URLs (`--public-url`, else the listen address).
    pub public_url: Option<String>,
    /// Connection, timeout and body bounds of the HTTP server.
    pub limits: limits::Limits,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            heartbeat_interval: Duration::from_secs(10),
            offline_after: Duration::from_secs(30),
            task_lease: Duration::from_secs(60),
            poll_wait: Duration::from_secs(crate::api::gateway::MAX_POLL_WAIT_SECS),
            regions: DEFAULT_REGIONS.iter().map(|r| r.to_string()).collect(),
            public_url: None,
            limits: limits::Limits::default(),
        }
    }
}

/// Regions of the source documents.
pub const DEFAULT_REGIONS: &[&str] = &[
    "cn-hangzhou",
    "cn-shanghai",
    "cn-qingdao",
    "cn-beijing",
    "cn-shenzhen",
    "cn-hongkong",
    "ap-southeast-1",
    "cn-hangzhou-finance",
    "cn-shanghai-finance",
    "cn-shenzhen-finance",
];

/// Everything a handler needs, shared by all requests.
#[derive(Clone)]
pub struct ControlPlane {
    /// The database.
    pub store: store::Store,
    /// Settings.
    pub settings: std::sync::Arc<Settings>,
    /// Wakes long polls when tasks are queued.
    pub notifier: notify::Notifier,
    /// Cancelled on shutdown: waiting long polls answer at once, so a stop
    /// does not wait for them.
    pub shutdown: tokio_util::sync::CancellationToken,
}
