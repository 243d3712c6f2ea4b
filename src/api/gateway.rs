//! The gateway actions: what the agent sends and what it gets back.
//!
//! These are this project's own actions (documented in docs/protocol.md),
//! carried like every other call: form parameters, signed, JSON answers.
//! Structured parameters (host facts, progress, results) travel as one JSON
//! string parameter each.
//!
//! Each action has a request type here whose `to_params` is how the agent
//! calls it and whose `from_params` is how the control plane reads it, so a
//! parameter's name is written once, in [`param`].

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::params::Params;
use super::{bounds, ApiError};

/// Action: heartbeat and registration.
pub const HEARTBEAT: &str = "GatewayHeartbeat";
/// Action: long-poll for leased tasks.
pub const POLL_TASKS: &str = "GatewayPollTasks";
/// Action: progress, result or failure of a leased task.
pub const REPORT_TASK: &str = "GatewayReportTask";
/// Every gateway action: only gateway AccessKeys may call them.
pub const ACTIONS: [&str; 3] = [HEARTBEAT, POLL_TASKS, REPORT_TASK];

/// The parameter names of the gateway actions.
pub mod param {
    /// `GatewayHeartbeat`: the gateway's identifier.
    pub const IDENTIFIER: &str = "Identifier";
    /// `GatewayHeartbeat`: the name users see (the identifier when absent).
    pub const DISPLAY_NAME: &str = "DisplayName";
    /// `GatewayHeartbeat`: the gateway's region.
    pub const REGION: &str = "Region";
    /// `GatewayHeartbeat`: `running` or `stopping`.
    pub const STATE: &str = "State";
    /// `GatewayHeartbeat`: [`super::HostFacts`] as JSON.
    pub const HOST_FACTS: &str = "HostFacts";
    /// `GatewayHeartbeat`: JSON array of the task ids the agent holds.
    pub const RUNNING_TASKS: &str = "RunningTasks";
    /// `GatewayPollTasks`, `GatewayReportTask`: the id the heartbeat gave.
    pub const BACKUP_GATEWAY_ID: &str = "BackupGatewayId";
    /// `GatewayPollTasks`: longest wait, in seconds.
    pub const WAIT_SECONDS: &str = "WaitSeconds";
    /// `GatewayPollTasks`: most tasks to lease.
    pub const MAX_TASKS: &str = "MaxTasks";
    /// `GatewayReportTask`: the task.
    pub const TASK_ID: &str = "TaskId";
    /// `GatewayReportTask`: `running`, `finish` or `failed`.
    pub const STATUS: &str = "Status";
    /// `GatewayReportTask`: progress JSON of a running task.
    pub const PROGRESS: &str = "Progress";
    /// `GatewayReportTask`: result JSON of a finished task.
    pub const RESULT: &str = "Result";
    /// `GatewayReportTask`: error code of a failed task.
    pub const ERR_CODE: &str = "ErrCode";
    /// `GatewayReportTask`: error message of a failed task.
    pub const ERR_MESSAGE: &str = "ErrMessage";
}

/// A call of a gateway action: its name, its parameters and its answer.
pub trait Request {
    /// The action.
    const ACTION: &'static str;
    /// The answer.
    type Response: DeserializeOwned;
    /// The form parameters that carry this request.
    fn to_params(&self) -> Vec<(&'static str, String)>;
}

/// Longest long poll the control plane holds, in seconds.
pub const MAX_POLL_WAIT_SECS: u64 = 25;

/// Target locations a download may name (`BackupSetDownloadTargetTypeLocation`):
/// the agent's sink registry has exactly these (a unit test there says so).
pub const TARGET_LOCATIONS: [&str; 4] = ["local", "nas", "ftp", "minio"];

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

    /// The state a parameter value names.
    pub fn from_param(value: &str) -> Option<Self> {
        [AgentState::Running, AgentState::Stopping]
            .into_iter()
            .find(|s| s.as_str() == value)
    }
}

/// `GatewayHeartbeat`: registers the gateway, keeps it ONLINE and renews
/// the leases of the tasks it holds.
#[derive(Debug, Clone, PartialEq)]
pub struct HeartbeatRequest {
    /// The gateway's identifier (see [`bounds::identifier`]).
    pub identifier: String,
    /// The name users see.
    pub display_name: String,
    /// The gateway's region.
    pub region: String,
    /// Running, or the goodbye of a stopping agent.
    pub state: AgentState,
    /// Facts about the host.
    pub host_facts: HostFacts,
    /// Ids of the tasks the agent runs or holds for a slot.
    pub running_tasks: Vec<i64>,
}

impl Request for HeartbeatRequest {
    const ACTION: &'static str = HEARTBEAT;
    type Response = HeartbeatResponse;

    fn to_params(&self) -> Vec<(&'static str, String)> {
        vec![
            (param::IDENTIFIER, self.identifier.clone()),
            (param::DISPLAY_NAME, self.display_name.clone()),
            (param::REGION, self.region.clone()),
            (param::STATE, self.state.as_str().to_string()),
            (
                param::HOST_FACTS,
                serde_json::to_string(&self.host_facts).unwrap_or_default(),
            ),
            (
                param::RUNNING_TASKS,
                serde_json::to_string(&self.running_tasks).unwrap_or_default(),
            ),
        ]
    }
}

impl HeartbeatRequest {
    /// Reads a heartbeat; `regions` are those the control plane accepts.
    /// An absent `DisplayName` is the identifier, absent `HostFacts` are
    /// empty, an absent `State` is running.
    pub fn from_params(params: &Params<'_>, regions: &[String]) -> Result<Self, ApiError> {
        let identifier = params.require(param::IDENTIFIER)?.to_string();
        bounds::identifier(&identifier).map_err(|e| ApiError::invalid(param::IDENTIFIER, e))?;
        let region = params.require(param::REGION)?.to_string();
        if !regions.contains(&region) {
            return Err(ApiError::invalid(
                param::REGION,
                format!("unknown region {region}"),
            ));
        }
        let display_name = params
            .get(param::DISPLAY_NAME)
            .unwrap_or(&identifier)
            .to_string();
        bounds::display_name(&display_name)
            .map_err(|e| ApiError::invalid(param::DISPLAY_NAME, e))?;
        let host_facts = params
            .json(param::HOST_FACTS, bounds::MAX_HOST_FACTS_BYTES)?
            .unwrap_or_default();
        let state = match params.get(param::STATE) {
            None => AgentState::Running,
            Some(given) => AgentState::from_param(given)
                .ok_or_else(|| ApiError::invalid(param::STATE, format!("unknown state {given}")))?,
        };
        let running_tasks: Vec<i64> = match params.get(param::RUNNING_TASKS) {
            Some(text) => serde_json::from_str(text)
                .map_err(|e| ApiError::invalid(param::RUNNING_TASKS, e))?,
            None => Vec::new(),
        };
        if running_tasks.len() > bounds::MAX_RUNNING_TASKS {
            return Err(ApiError::invalid(
                param::RUNNING_TASKS,
                format!("at most {} task ids", bounds::MAX_RUNNING_TASKS),
            ));
        }
        Ok(HeartbeatRequest {
            identifier,
            display_name,
            region,
            state,
            host_facts,
            running_tasks,
        })
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
    /// Take a full backup of a database on this host and upload it.
    #[serde(rename = "BackupDatabase")]
    Backup(BackupSpec),
    /// Run a plan's pre-checks against a database on this host.
    #[serde(rename = "PreCheck")]
    PreCheck(PreCheckSpec),
}

impl TaskSpec {
    /// The task kind's name, as the wire tags it (logs, `JobType`).
    pub fn kind_name(&self) -> &'static str {
        match self {
            TaskSpec::GetDbList { .. } => "GetDBList",
            TaskSpec::DownloadBackupSet(_) => "DownloadBackupSet",
            TaskSpec::Backup(_) => "BackupDatabase",
            TaskSpec::PreCheck(_) => "PreCheck",
        }
    }
}

/// How a full backup takes its data (`BackupMethod`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackupMethod {
    /// Files copied by `mariadb-backup --stream=xbstream`.
    Physical,
    /// SQL read through the driver.
    Logical,
}

impl BackupMethod {
    /// `physical` or `logical`, as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            BackupMethod::Physical => "physical",
            BackupMethod::Logical => "logical",
        }
    }

    /// File extension of its sets: `xb` (xbstream) or `sql`.
    pub fn extension(self) -> &'static str {
        match self {
            BackupMethod::Physical => "xb",
            BackupMethod::Logical => "sql",
        }
    }
}

impl std::str::FromStr for BackupMethod {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "physical" => Ok(BackupMethod::Physical),
            "logical" => Ok(BackupMethod::Logical),
            _ => Err(()),
        }
    }
}

/// The database a backup or pre-check task runs against: matched to the
/// gateway's `[[databases]]` entry by IP and port, whose credentials are
/// used (none travel in a task).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SourceEndpoint {
    /// MySQL (the one type backed up today).
    pub database_type: String,
    /// Address of the endpoint.
    #[serde(rename = "SourceEndpointIP")]
    pub source_endpoint_ip: String,
    /// Port of the endpoint.
    pub source_endpoint_port: u16,
}

/// A full backup to take and upload to the control plane as the set
/// `backup_set_id` (see [`UPLOAD_ROUTE`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BackupSpec {
    /// The plan the set belongs to.
    pub backup_plan_id: String,
    /// The set this backup becomes (`CreatedFullBackupsetId`).
    pub backup_set_id: String,
    /// The database.
    #[serde(flatten)]
    pub source: SourceEndpoint,
    /// Physical or logical.
    pub backup_method: BackupMethod,
    /// `BackupObjects` JSON of a logical backup; every user database when
    /// absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_objects: Option<String>,
    /// `BackupSpeedLimit`: most KiB per second read from the database, or
    /// no limit when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speed_limit_kib: Option<u64>,
}

/// A plan's pre-checks to run against a database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PreCheckSpec {
    /// The plan checked.
    pub backup_plan_id: String,
    /// The database.
    #[serde(flatten)]
    pub source: SourceEndpoint,
    /// What the plan's backups need.
    pub backup_method: BackupMethod,
}

/// The `Result` of a finished pre-check task: one item per check.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PreCheckResult {
    /// The checks, in the order they ran.
    pub items: Vec<PreCheckItem>,
}

/// One pre-check and how it went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PreCheckItem {
    /// What was checked: `Connectivity`, `Privileges`, `BackupTool`, …
    pub name: String,
    /// `Success` or `Failed`.
    pub state: String,
    /// The failure's code; absent when it passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// What was found.
    pub message: String,
}

/// The `Result` of a finished backup task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BackupResult {
    /// Bytes uploaded.
    pub size: u64,
    /// CRC-64/ECMA-182 of the set, decimal.
    #[serde(rename = "CRC64")]
    pub crc64: String,
    /// Binlog file and position of a logical backup's snapshot, when the
    /// server logs binlogs (`mysql-bin.000003:1234`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binlog_position: Option<String>,
}

/// The route sets are uploaded on, `{set_id}` being the `BackupSetId` of a
/// running (leased) backup task of the calling gateway:
///
/// - `GET` answers how many bytes the control plane holds ([`UploadState`],
///   JSON `{"Offset": n}`), so a retried or restarted upload knows where to
///   go on, and for a set completed already the set as recorded too
///   (`"Completed": {…}`): an agent that stopped between its complete and
///   its report reports that set instead of taking another backup;
/// - `PUT ?Offset=n&ChunkCRC64=c` appends a chunk (its body, at most
///   [`MAX_UPLOAD_CHUNK_BYTES`]) at byte `n`, which must be the held size
///   (else 409 `Upload.OffsetMismatch`, answering the held `Offset`); a
///   chunk whose CRC64 is not `c` is cut off again and refused (400
///   `Upload.ChunkChecksumMismatch`). `Offset=0` starts a new upload:
///   whatever was held is discarded first (a backup stream cannot be
///   resumed, so a new attempt uploads a new backup from its start). The
///   answer is the new held size;
/// - `POST ?Size=s&CRC64=c` completes the set: the size and the CRC64 of
///   the whole are checked, then the set enters the catalog (and the plan's
///   auto-download rules fire). A complete of a set already recorded with
///   the same size and CRC64 answers as the first did.
///
/// Each request is signed like an RPC call (v1, the gateway's AccessKey)
/// over its query parameters, `Action` being [`UPLOAD_ACTION`]; the body is
/// not signed (each chunk carries its CRC64, the whole is checked at
/// complete). Nonces and timestamps are checked as for RPC calls.
pub const UPLOAD_ROUTE: &str = "/uploads/{set_id}";
/// The `Action` an upload request signs.
pub const UPLOAD_ACTION: &str = "GatewayUploadBackupSet";
/// Largest chunk one upload `PUT` carries.
pub const MAX_UPLOAD_CHUNK_BYTES: u64 = 16 * 1024 * 1024;

/// The query parameters of the upload route.
pub mod upload_param {
    /// `PUT`: the byte the chunk starts at.
    pub const OFFSET: &str = "Offset";
    /// `PUT`: CRC-64/ECMA-182 of the chunk, decimal.
    pub const CHUNK_CRC64: &str = "ChunkCRC64";
    /// `POST`: the set's size.
    pub const SIZE: &str = "Size";
    /// `POST`: CRC-64/ECMA-182 of the whole set, decimal.
    pub const CRC64: &str = "CRC64";
}

/// The path of the upload route for a set.
pub fn upload_path(set_id: &str) -> String {
    UPLOAD_ROUTE.replace("{set_id}", set_id)
}

/// The answer of the upload route's `GET` and `PUT` (and, with the error's
/// code, of a refused `PUT` whose offset is not the held one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UploadState {
    /// Bytes held.
    pub offset: u64,
    /// The set as recorded, when its upload was completed already.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed: Option<UploadComplete>,
}

/// The answer of the upload route's `POST`: the set as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UploadComplete {
    /// The set's id.
    pub backup_set_id: String,
    /// Its file name (`{method}-{UTC time}.{xb|sql}`).
    pub backup_set_name: String,
    /// Bytes.
    pub size: u64,
    /// CRC-64/ECMA-182, decimal.
    #[serde(rename = "CRC64")]
    pub crc64: String,
}

/// The `Result` of a finished GetDBList task, which GetDBListFromAgent
/// answers from. A listing too large for one report keeps the names alone
/// (`DetailsOmitted`), or the first names that fit (`Truncated`, with the
/// host's `DatabaseCount`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DbListResult {
    /// One object per database: its `Name` and the details its server reports.
    #[serde(default)]
    pub databases: Vec<serde_json::Value>,
    /// Only the names are given.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub details_omitted: bool,
    /// Not every database is given.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
    /// How many databases the host has, when truncated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_count: Option<usize>,
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

/// `GatewayPollTasks`: leases queued tasks, waiting for one to arrive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollRequest {
    /// The polling gateway.
    pub backup_gateway_id: i64,
    /// Longest wait, in seconds (0 when absent; the control plane holds
    /// at most its own limit).
    pub wait_seconds: u64,
    /// Most tasks to lease (1 when absent; the control plane caps it).
    pub max_tasks: usize,
}

impl Request for PollRequest {
    const ACTION: &'static str = POLL_TASKS;
    type Response = PollResponse;

    fn to_params(&self) -> Vec<(&'static str, String)> {
        vec![
            (param::BACKUP_GATEWAY_ID, self.backup_gateway_id.to_string()),
            (param::WAIT_SECONDS, self.wait_seconds.to_string()),
            (param::MAX_TASKS, self.max_tasks.to_string()),
        ]
    }
}

impl PollRequest {
    /// Reads a poll.
    pub fn from_params(params: &Params<'_>) -> Result<Self, ApiError> {
        Ok(PollRequest {
            backup_gateway_id: params.parse_required(param::BACKUP_GATEWAY_ID)?,
            wait_seconds: params.parse(param::WAIT_SECONDS)?.unwrap_or(0),
            max_tasks: params.parse(param::MAX_TASKS)?.unwrap_or(1),
        })
    }
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

    /// The status a parameter value names.
    pub fn from_param(value: &str) -> Option<Self> {
        [
            ReportStatus::Running,
            ReportStatus::Finish,
            ReportStatus::Failed,
        ]
        .into_iter()
        .find(|s| s.as_str() == value)
    }
}

/// `GatewayReportTask`: progress, result or failure of a leased task.
/// Progress and result are JSON text, kept as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRequest {
    /// The reporting gateway.
    pub backup_gateway_id: i64,
    /// The task.
    pub task_id: i64,
    /// Running, finish or failed.
    pub status: ReportStatus,
    /// Progress JSON.
    pub progress: Option<String>,
    /// Result JSON.
    pub result: Option<String>,
    /// Error code; required when failed.
    pub err_code: Option<String>,
    /// Error message, cut to [`bounds::MAX_ERR_MESSAGE_BYTES`] when read.
    pub err_message: Option<String>,
}

impl Request for ReportRequest {
    const ACTION: &'static str = REPORT_TASK;
    type Response = ReportResponse;

    fn to_params(&self) -> Vec<(&'static str, String)> {
        let mut params = vec![
            (param::BACKUP_GATEWAY_ID, self.backup_gateway_id.to_string()),
            (param::TASK_ID, self.task_id.to_string()),
            (param::STATUS, self.status.as_str().to_string()),
        ];
        for (name, value) in [
            (param::PROGRESS, &self.progress),
            (param::RESULT, &self.result),
            (param::ERR_CODE, &self.err_code),
            (param::ERR_MESSAGE, &self.err_message),
        ] {
            if let Some(value) = value {
                params.push((name, value.clone()));
            }
        }
        params
    }
}

impl ReportRequest {
    /// A report of `status` with nothing else; fill in what it carries.
    pub fn new(backup_gateway_id: i64, task_id: i64, status: ReportStatus) -> Self {
        ReportRequest {
            backup_gateway_id,
            task_id,
            status,
            progress: None,
            result: None,
            err_code: None,
            err_message: None,
        }
    }

    /// Reads a report: `ErrCode` is required when failed and bounded,
    /// `Progress` and `Result` must be JSON within their bounds, and
    /// `ErrMessage` is cut to its bound.
    pub fn from_params(params: &Params<'_>) -> Result<Self, ApiError> {
        let backup_gateway_id = params.parse_required(param::BACKUP_GATEWAY_ID)?;
        let task_id = params.parse_required(param::TASK_ID)?;
        let given = params.require(param::STATUS)?;
        let status = ReportStatus::from_param(given)
            .ok_or_else(|| ApiError::invalid(param::STATUS, format!("unknown status {given}")))?;
        let err_code = params.get(param::ERR_CODE);
        if status == ReportStatus::Failed && err_code.is_none() {
            return Err(ApiError::missing(param::ERR_CODE));
        }
        if let Some(code) = err_code {
            bounds::err_code(code).map_err(|e| ApiError::invalid(param::ERR_CODE, e))?;
        }
        let json_text = |name: &str, max: usize| -> Result<Option<String>, ApiError> {
            params.json::<serde_json::Value>(name, max)?;
            Ok(params.get(name).map(str::to_string))
        };
        let progress = json_text(param::PROGRESS, bounds::MAX_PROGRESS_BYTES)?;
        let result = json_text(param::RESULT, bounds::MAX_RESULT_BYTES)?;
        Ok(ReportRequest {
            backup_gateway_id,
            task_id,
            status,
            progress,
            result,
            err_code: err_code.map(str::to_string),
            err_message: params
                .get(param::ERR_MESSAGE)
                .map(|m| bounds::cut_text(m, bounds::MAX_ERR_MESSAGE_BYTES)),
        })
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
    use crate::api::params::pairs;

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

    #[test]
    fn a_db_list_result_names_its_flags_only_when_set() {
        let whole = DbListResult {
            databases: vec![serde_json::json!({ "Name": "shop", "Tables": 1 })],
            ..DbListResult::default()
        };
        assert_eq!(
            serde_json::to_value(&whole).unwrap(),
            serde_json::json!({ "Databases": [{ "Name": "shop", "Tables": 1 }] })
        );
        let cut = DbListResult {
            databases: Vec::new(),
            details_omitted: true,
            truncated: true,
            database_count: Some(9),
        };
        let value = serde_json::to_value(&cut).unwrap();
        assert_eq!(
            value,
            serde_json::json!({
                "Databases": [], "DetailsOmitted": true, "Truncated": true, "DatabaseCount": 9
            })
        );
        assert_eq!(serde_json::from_value::<DbListResult>(value).unwrap(), cut);
    }

    /// The parameters `to_params` sends, as the control plane receives them.
    fn sent<R: Request>(request: &R) -> Vec<(String, String)> {
        request
            .to_params()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect()
    }

    #[test]
    fn requests_read_back_what_they_send() {
        let regions = vec!["cn-hangzhou".to_string()];
        let heartbeat = HeartbeatRequest {
            identifier: "db-host-1".into(),
            display_name: "DB host".into(),
            region: "cn-hangzhou".into(),
            state: AgentState::Stopping,
            host_facts: HostFacts {
                hostname: "h".into(),
                cpus: 4,
                ..HostFacts::default()
            },
            running_tasks: vec![3, 9],
        };
        let params = sent(&heartbeat);
        assert_eq!(
            HeartbeatRequest::from_params(&Params::new(&params), &regions),
            Ok(heartbeat)
        );
        let poll = PollRequest {
            backup_gateway_id: 7,
            wait_seconds: 25,
            max_tasks: 3,
        };
        assert_eq!(
            PollRequest::from_params(&Params::new(&sent(&poll))),
            Ok(poll)
        );
        let mut report = ReportRequest::new(7, 12, ReportStatus::Failed);
        report.err_code = Some("Task.Broken".into());
        report.err_message = Some("it broke".into());
        let params = sent(&report);
        assert!(!params.iter().any(|(k, _)| k == param::PROGRESS));
        assert_eq!(
            ReportRequest::from_params(&Params::new(&params)),
            Ok(report)
        );
    }

    #[test]
    fn absent_optional_parameters_take_their_defaults() {
        let given = pairs(&[("Identifier", "db-host-1"), ("Region", "cn-hangzhou")]);
        let heartbeat =
            HeartbeatRequest::from_params(&Params::new(&given), &["cn-hangzhou".into()]).unwrap();
        assert_eq!(heartbeat.display_name, "db-host-1");
        assert_eq!(heartbeat.state, AgentState::Running);
        assert_eq!(heartbeat.host_facts, HostFacts::default());
        assert!(heartbeat.running_tasks.is_empty());
        let given = pairs(&[("BackupGatewayId", "4")]);
        let poll = PollRequest::from_params(&Params::new(&given)).unwrap();
        assert_eq!((poll.wait_seconds, poll.max_tasks), (0, 1));
    }

    #[test]
    fn bad_gateway_calls_are_refused_by_parameter() {
        let regions = ["cn-hangzhou".to_string()];
        let code = |list: &[(&str, &str)]| {
            HeartbeatRequest::from_params(&Params::new(&pairs(list)), &regions)
                .unwrap_err()
                .code
        };
        let base = [("Identifier", "db-host-1"), ("Region", "cn-hangzhou")];
        assert_eq!(code(&base[..1]), "MissingParameter.Region");
        assert_eq!(
            code(&[base[0], ("Region", "mars-1")]),
            "InvalidParameter.Region"
        );
        assert_eq!(
            code(&[base[0], base[1], ("State", "dozing")]),
            "InvalidParameter.State"
        );
        let many = format!("[{}]", vec!["1"; bounds::MAX_RUNNING_TASKS + 1].join(","));
        assert_eq!(
            code(&[base[0], base[1], ("RunningTasks", &many)]),
            "InvalidParameter.RunningTasks"
        );
        let report = |list: &[(&str, &str)]| {
            ReportRequest::from_params(&Params::new(&pairs(list)))
                .unwrap_err()
                .code
        };
        let ids = [("BackupGatewayId", "1"), ("TaskId", "2")];
        assert_eq!(
            report(&[ids[0], ids[1], ("Status", "failed")]),
            "MissingParameter.ErrCode"
        );
        assert_eq!(
            report(&[ids[0], ids[1], ("Status", "done")]),
            "InvalidParameter.Status"
        );
        assert_eq!(
            report(&[ids[0], ids[1], ("Status", "running"), ("Progress", "{")]),
            "InvalidParameter.Progress"
        );
        assert_eq!(
            report(&[ids[0], ("Status", "running")]),
            "MissingParameter.TaskId"
        );
    }

    #[test]
    fn a_long_error_message_is_cut_not_refused() {
        let long = "m".repeat(bounds::MAX_ERR_MESSAGE_BYTES + 10);
        let given = pairs(&[
            ("BackupGatewayId", "1"),
            ("TaskId", "2"),
            ("Status", "failed"),
            ("ErrCode", "X"),
            ("ErrMessage", &long),
        ]);
        let report = ReportRequest::from_params(&Params::new(&given)).unwrap();
        assert_eq!(
            report.err_message.map(|m| m.len()),
            Some(bounds::MAX_ERR_MESSAGE_BYTES)
        );
    }
}
