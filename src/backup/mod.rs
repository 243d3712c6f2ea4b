//! Backups taken on this host: the database end of a backup stream.
//!
//! - [`logical`]: a MySQL / MariaDB logical backup through `mysql_async`,
//!   one consistent snapshot read by several connections at once, written
//!   as SQL that `mariadb` loads.
//! - [`physical`]: a MySQL / MariaDB physical backup by `mariadb-backup
//!   --stream=xbstream`, run on this host and streamed as it comes.
//! - [`precheck`]: what a plan checks on its gateway before it runs.
//! - [`source`]: a backup being taken as a source of the transfer
//!   pipeline, stored into any target like a download.
//! - [`cli`]: the one-shot `dbs-gateway backup` command.
//! - [`error`]: [`BackupError`] and its codes.
//!
//! A backup yields its bytes as chunks on a bounded channel, so memory stays
//! bounded whatever the size of the database, and the reader (the pipeline)
//! sets the pace.

pub mod cli;
pub mod error;
pub mod logical;
pub mod physical;
pub mod precheck;
pub mod source;

pub use error::BackupError;
