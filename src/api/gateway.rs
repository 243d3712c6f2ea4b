//! The gateway actions: what the agent sends and what it gets back.
//!
//! These are this project's own actions (documented in docs/protocol.md),
//! carried like every other call: form parameters, signed, JSON answers.
//! Structured parameters (host facts, progress, results) travel as one JSON
//! string parameter each.

use serde::{Deserialize, Serialize};

/// Action: heartbeat and registration.
pub const HEARTBEAT: &str = "GatewayHeartbeat";
/// Action: long-poll for leased tasks.
pub const POLL_TASKS: &str = "GatewayPollTasks";
/// Action: progress, result or failure of a leased task.
pub const REPORT_TASK: &str = "GatewayReportTask";
/// Every gateway action: only gateway AccessKeys may call them.
pub const ACTIONS: [&str; 3] = [HEARTBEAT, POLL_TASKS, REPORT_TASK];

/// Longest long poll the control plane holds, in seconds.
pub const MAX_POLL_WAIT_SECS: u64 = 25;

/// Database types a gateway lists, as the API spells them.
pub const LISTABLE_DATABASE_TYPES: [&str; 3] = ["MySQL", "MSSQL", "Redis"];

/// Database types the API names but no gateway lists yet.
pub const UNLISTABLE_DATABASE_TYPES: [&str; 2] = ["Oracle", "MongoDB"];

/// The API spelling of a database type given in any case, if listable.
pub fn listable_database_type(given: &str) -> Option<&'static str> {
    LISTABLE_DATABASE_TYPES
        .into_iter()
        .find(|t| t.eq_ignore_ascii_case(given))
}

/// `State` of a heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AgentState {
    /// Working normally.
    Running,
    /// Shutting down: the goodbye heartbeat.
    Stopping,
}

impl AgentState {
    /// The parameter value.
    pub fn as_str(self) -> &'static str {
        match self {
            AgentState::Running => "running",
            AgentState::Stopping => "stopping",
        }
    }
}

/// Facts about the host, sent as the `HostFacts` JSON parameter.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HostFacts {
    /// Host name.
    pub hostname: String,
    /// First non-loopback IPv4 address.
    pub intranet_ip: String,
    /// Public address, when configured.
    pub internet_ip: String,
    /// OS name and version.
    pub os: String,
    /// Kernel version.
    pub kernel: String,
    /// Logical CPUs.
    pub cpus: usize,
    /// Total memory, bytes.
    pub memory_total_bytes: u64,
    /// Available memory, bytes.
    pub memory_available_bytes: u64,
    /// The agent's version.
    pub agent_version: String,
    /// Free space of each configured target root.
    pub target_roots: Vec<TargetRootSpace>,
}

/// Free space of one target root.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TargetRootSpace {
    /// Target kind (`local`, `nas`).
    pub location: String,
    /// The root directory.
    pub root: String,
    /// Bytes available to the agent, when the root exists.
    pub available_bytes: Option<u64>,
}

/// Answer to `GatewayHeartbeat`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HeartbeatResponse {
    /// Request id.
    pub request_id: String,
    /// The id the control plane knows this gateway by.
    pub backup_gateway_id: String,
    /// The gateway's status as users see it.
    pub backup_gateway_status: String,
    /// How often to heartbeat.
    pub heartbeat_interval_seconds: u64,
    /// How long to hold a long poll.
    pub poll_wait_seconds: u64,
}

/// A task leased to a gateway.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LeasedTask {
    /// The task id, unique per control plane.
    pub task_id: u64,
    /// How many times it was leased, this one included.
    pub attempt: u32,
    /// Seconds until the lease lapses unless a report renews it.
    pub lease_seconds: u64,
    /// What to do.
    pub spec: TaskSpec,
}

/// What a task asks the gateway to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "Kind")]
pub enum TaskSpec {
    /// List the databases of an endpoint on this host.
    #[serde(rename = "GetDBList", rename_all = "PascalCase")]
    GetDbList {
        /// MySQL, MSSQL or Redis.
        database_type: String,
        /// Address of the endpoint.
        #[serde(rename = "SourceEndpointIP")]
        source_endpoint_ip: String,
        /// Port of the endpoint.
        source_endpoint_port: u16,
    },
    /// Download a backup set into a target on this host.
    #[serde(rename = "DownloadBackupSet", rename_all = "PascalCase")]
    DownloadBackupSet(DownloadSpec),
}

/// Which kind of backup set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SetKind {
    /// A full backup set.
    Full,
    /// An incremental set (e.g. a binlog file).
    Increment,
}

impl SetKind {
    /// `full` or `increment`: the folder name in the target layout.
    pub fn as_str(self) -> &'static str {
        match self {
            SetKind::Full => "full",
            SetKind::Increment => "increment",
        }
    }
}

/// A backup-set download: where the bytes are and where they go. The target
/// path is `{target root}/{dir}/{backup_plan_id}/{kind}/{set_name}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DownloadSpec {
    /// The set's id.
    pub backup_set_id: String,
    /// The plan it belongs to.
    pub backup_plan_id: String,
    /// Full or increment. Named `SetKind` on the wire: `Kind` is the tag
    /// of [`TaskSpec`].
    #[serde(rename = "SetKind")]
    pub kind: SetKind,
    /// File name of the set on the target.
    pub set_name: String,
    /// Signed, expiring URL of the set's bytes (honours `Range`).
    #[serde(rename = "URL")]
    pub url: String,
    /// Size in bytes.
    pub size: u64,
    /// CRC-64/ECMA-182 of the bytes, an unsigned decimal (as OSS reports
    /// `x-oss-hash-crc64ecma`).
    #[serde(rename = "CRC64")]
    pub crc64: String,
    /// Target: `local`, `nas`, `ftp` or `minio`.
    pub location: String,
    /// `BackupSetDownloadDir`: folder under the target root.
    pub dir: String,
}

/// Answer to `GatewayPollTasks`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PollResponse {
    /// Request id.
    pub request_id: String,
    /// Tasks leased by this poll; empty when the wait ran out.
    pub tasks: Vec<LeasedTask>,
}

/// `Status` of a task report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReportStatus {
    /// Still working: progress, renews the lease.
    Running,
    /// Done; `Result` holds the outcome.
    Finish,
    /// Failed; `ErrCode` and `ErrMessage` say why.
    Failed,
}

impl ReportStatus {
    /// The parameter value.
    pub fn as_str(self) -> &'static str {
        match self {
            ReportStatus::Running => "running",
            ReportStatus::Finish => "finish",
            ReportStatus::Failed => "failed",
        }
    }
}

/// Answer to `GatewayReportTask`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReportResponse {
    /// Request id.
    pub request_id: String,
    /// Seconds the lease now runs.
    pub lease_seconds: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_spec_is_tagged_by_kind() {
        let spec = TaskSpec::GetDbList {
            database_type: "MySQL".into(),
            source_endpoint_ip: "127.0.0.1".into(),
            source_endpoint_port: 3306,
        };
        let json = serde_json::to_value(&spec).unwrap();
        assert_eq!(json["Kind"], "GetDBList");
        assert_eq!(json["SourceEndpointIP"], "127.0.0.1");
        assert_eq!(serde_json::from_value::<TaskSpec>(json).unwrap(), spec);
    }

    #[test]
    fn a_download_spec_round_trips() {
        let spec = TaskSpec::DownloadBackupSet(DownloadSpec {
            backup_set_id: "bs1".into(),
            backup_plan_id: "p1".into(),
            kind: SetKind::Increment,
            set_name: "mysql-bin.000054".into(),
            url: "http://h/sets/bs1?Expires=1&Signature=ab".into(),
            size: 5,
            crc64: "0".into(),
            location: "local".into(),
            dir: "d".into(),
        });
        let text = serde_json::to_string(&spec).unwrap();
        assert_eq!(text.matches("\"Kind\"").count(), 1, "{text}");
        assert!(text.contains("\"SetKind\":\"increment\""), "{text}");
        assert_eq!(serde_json::from_str::<TaskSpec>(&text).unwrap(), spec);
    }
}
