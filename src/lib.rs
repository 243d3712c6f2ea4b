//! dbs-gateway: a backup-gateway agent for a database backup service, and
//! dbs-control, the reference control plane it talks to.
//!
//! Modules and what each owns:
//! - [`api`]: the wire shared by both sides: actions, request/response shapes,
//!   signing (v1 HMAC-SHA1, v3 ACS3-HMAC-SHA256), error codes, and the
//!   path rules and set layout. No I/O.
//! - [`config`]: the agent's TOML file: schema, defaults, validation.
//! - [`secret`]: secrets that never print themselves, read inline or from a file.
//! - [`host`]: facts about this host (hostname, addresses, OS, memory, disks).
//! - [`agent`]: the agent runtime: heartbeat, task polling, reporting, shutdown.
//! - [`control`]: the reference control plane: HTTP server, store, actions,
//!   backup-set catalog and signed set URLs.
//! - [`discovery`]: the `[[databases]]` entries and the MySQL, MSSQL and
//!   Redis listers behind one trait.
//! - [`backup`]: backups taken on this host (MySQL/MariaDB physical and logical).
//! - [`transfer`]: backup-set downloads: HTTP range source, CRC64 checksum,
//!   throttle, progress, and the sinks (local, NAS, FTP, MinIO).
//! - [`logging`], [`shutdown`]: what both binaries share at startup.
//! - [`frames`]: bytes held as the frames they arrived in (uploads).
//! - [`writeback`]: early writeback of files written as a stream (the local
//!   sink's sets, dbs-control's uploads).
//!
//! `agent` and `control` never import each other; both speak through `api`.

pub mod agent;
pub mod api;
pub mod backup;
pub mod config;
pub mod control;
pub mod crc64;
pub mod discovery;
pub mod frames;
pub mod host;
pub mod logging;
pub mod secret;
pub mod shutdown;
pub mod transfer;
pub mod writeback;
