//! The agent runtime: registers and heartbeats, long-polls for tasks, runs
//! them within a concurrency limit, reports their progress and results, and
//! stops cleanly on SIGTERM (finishing at a resumable point and saying
//! goodbye).
//!
//! Never imports `control`; it speaks to the control plane through `api`.

pub mod backoff;
pub mod backup;
pub mod check;
pub mod client;
pub mod identity;
pub mod journal;
pub mod listing;
pub mod notify;
pub mod precheck;
pub mod runtime;
pub mod tasks;
pub mod upload;

pub use runtime::run;
