//! DescribeJobErrorCode: the stable error code of a task, with its message
//! in English (`en`, the default) or Chinese (`cn`).
//!
//! [`CODES`] holds every code a task can end with: those of the agent's
//! error enums (downloads, targets, paths, database listers) and those the
//! control plane gives a task itself (`Task.LeaseExpired`). A code missing
//! from it (an agent newer than this table) is answered with the message
//! the agent reported.

use serde_json::{json, Value};

use crate::api::ApiError;
use crate::control::call::Call;
use crate::control::tasks;
use crate::control::ControlPlane;

/// A task error code and its messages.
pub struct JobErrorCode {
    /// The code, as reported in `ErrCode`.
    pub code: &'static str,
    /// English message.
    pub en: &'static str,
    /// Chinese message.
    pub cn: &'static str,
}

const fn code(code: &'static str, en: &'static str, cn: &'static str) -> JobErrorCode {
    JobErrorCode { code, en, cn }
}

/// Every stable task error code, with its messages.
pub const CODES: &[JobErrorCode] = &[
    // Given by the control plane.
    code("Task.LeaseExpired", "The gateway took the task several times in a row without reporting on it; the task was given up.", "备份网关多次领取该任务后均未汇报进度，任务已放弃。"),
    code("Task.Failed", "The task failed without an error code.", "任务失败，未提供错误码。"),
    // The task as received by the gateway.
    code("Task.UnknownLocation", "The download target location is not configured on the gateway.", "备份网关未配置该下载目标位置。"),
    code("Task.InvalidUrl", "The backup set URL is not a valid URL.", "备份集下载地址不是合法的URL。"),
    code("Task.UrlSchemeNotAllowed", "The backup set URL uses a scheme the gateway does not accept.", "备份集下载地址使用了备份网关不接受的协议。"),
    code("Task.UrlHostNotAllowed", "The backup set URL points to a host the gateway is not allowed to fetch from.", "备份集下载地址指向备份网关不允许访问的主机。"),
    code("Task.UrlHasCredentials", "The backup set URL carries user credentials, which the gateway refuses.", "备份集下载地址包含用户凭据，备份网关拒绝使用。"),
    code("Task.InvalidChecksum", "The task's CRC64 checksum is not an unsigned 64-bit decimal number.", "任务中的CRC64校验值不是合法的无符号64位十进制数。"),
    // Paths of the backup set on the target.
    code("InvalidPath.Empty", "A path of the backup set is empty or has an empty component.", "备份集路径为空或包含空的路径段。"),
    code("InvalidPath.Absolute", "A path of the backup set is absolute.", "备份集路径不能是绝对路径。"),
    code("InvalidPath.Traversal", "A path of the backup set contains '..' or '.'.", "备份集路径包含“..”或“.”。"),
    code("InvalidPath.BadCharacter", "A path of the backup set contains a control character or a backslash.", "备份集路径包含控制字符或反斜杠。"),
    code("InvalidPath.TooLong", "A name in the backup set's path is too long.", "备份集路径中的名称过长。"),
    code("InvalidPath.PathTooLong", "The backup set's path is too long.", "备份集路径过长。"),
    code("InvalidPath.Reserved", "A name in the backup set's path is reserved for partial files.", "备份集路径中的名称为未完成文件保留。"),
    // Reading the backup set.
    code("Source.NetworkError", "The backup set could not be fetched: network error.", "下载备份集时发生网络错误。"),
    code("Source.HttpError", "The server of the backup set answered with an HTTP error.", "备份集服务端返回了HTTP错误。"),
    code("Source.BadRange", "The server of the backup set answered a range request incorrectly.", "备份集服务端对分段请求的响应不正确。"),
    code("Source.RangeNotSatisfiable", "The server of the backup set cannot serve the requested range.", "备份集服务端无法提供所请求的数据范围。"),
    code("Source.SizeUnknown", "The server of the backup set did not give its size.", "备份集服务端未提供备份集大小。"),
    code("Source.Incomplete", "The backup set ended before all its bytes arrived.", "备份集数据未完整接收即中断。"),
    code("Source.SizeMismatch", "The backup set's size differs from the size in the task.", "备份集大小与任务中的大小不一致。"),
    // The transfer.
    code("Transfer.ChecksumMismatch", "The checksum of the received bytes differs from the backup set's checksum.", "接收数据的校验值与备份集校验值不一致。"),
    code("Transfer.Cancelled", "The download was cancelled.", "下载已取消。"),
    code("Transfer.Internal", "The gateway's HTTP client failed.", "备份网关的HTTP客户端出错。"),
    // Writing to the target.
    code("Target.Unavailable", "The download target cannot be used.", "下载目标不可用。"),
    code("Target.UnsafePath", "The path on the download target is unsafe (for example a symbolic link).", "下载目标上的路径不安全（例如符号链接）。"),
    code("Target.NotMounted", "The NAS target root is not a mount point.", "NAS下载目标的根目录不是挂载点。"),
    code("Target.NoSpace", "The download target has no space left or its quota is exceeded.", "下载目标空间不足或超出配额。"),
    code("Target.AccessDenied", "The gateway is not allowed to write to the download target.", "备份网关无权写入下载目标。"),
    code("Target.SizeMismatch", "The file on the download target has an unexpected size.", "下载目标上的文件大小不符合预期。"),
    code("Target.IoError", "Writing to the download target failed.", "写入下载目标失败。"),
    code("Target.RemoteError", "The remote download target (FTP or object storage) refused an operation.", "远程下载目标（FTP或对象存储）拒绝了操作。"),
    // The gateway's own configuration.
    code("Config.Secret", "A secret in the gateway's configuration cannot be read.", "无法读取备份网关配置中的密钥。"),
    code("Config.Invalid", "A value in the gateway's configuration is not valid.", "备份网关配置中的值不合法。"),
    code("Config.CaFile", "The CA file in the gateway's configuration cannot be used.", "备份网关配置中的CA文件不可用。"),
    code("Gateway.NotifyFailed", "The gateway could not notify its service manager.", "备份网关无法通知其服务管理器。"),
    // Listing databases.
    code("UnsupportedDatabaseType", "The gateway cannot list databases of this type.", "备份网关不支持列出该类型的数据库。"),
    code("InvalidDatabaseConfig", "A database entry of the gateway's configuration is not valid.", "备份网关配置中的数据库条目不合法。"),
    code("EndpointNotConfigured", "The database endpoint has no entry in the gateway's configuration.", "备份网关配置中没有该数据库地址的条目。"),
    code("DbAuthFailed", "The database refused the configured credentials.", "数据库拒绝了所配置的账号密码。"),
    code("DbConnectionRefused", "The database refused the connection.", "数据库拒绝连接。"),
    code("DbUnreachable", "The database cannot be reached.", "无法访问数据库。"),
    code("DbConnectTimeout", "Connecting to the database timed out.", "连接数据库超时。"),
    code("DbQueryTimeout", "The database did not answer in time.", "数据库查询超时。"),
    code("DbTlsMismatch", "The database's TLS support does not match the configuration.", "数据库的TLS支持与配置不一致。"),
    code("DbTlsFailed", "The TLS connection to the database failed.", "与数据库的TLS连接失败。"),
    code("UnsupportedEndpoint", "The database endpoint is not supported.", "不支持该数据库地址。"),
    code("DbQueryFailed", "The database refused the listing query.", "数据库拒绝了列表查询。"),
    code("DbProtocolError", "The database answered in a way the gateway does not understand.", "数据库的响应无法被备份网关解析。"),
    // Backups taken by the gateway.
    code("InvalidParameter.BackupObjects", "The backup objects are not a JSON array of {\"DBName\": …} objects within bounds.", "备份对象不是合法的JSON数组，或超出长度限制。"),
    code("Backup.AccessDenied", "The database user lacks a privilege the backup needs.", "数据库账号缺少备份所需的权限。"),
    code("Backup.ObjectNotFound", "A database or table named in the backup objects does not exist.", "备份对象中的数据库或表不存在。"),
    code("Backup.QueryFailed", "A statement of the backup failed on the database.", "备份过程中数据库语句执行失败。"),
    code("Backup.ToolMissing", "The backup tool (mariadb-backup) is not installed on the gateway host.", "备份网关主机未安装备份工具（mariadb-backup）。"),
    code("Backup.PhysicalNeedsMariaDb", "Physical backups are taken of MariaDB only; MySQL's need Percona XtraBackup, which the gateway does not run yet.", "物理备份仅支持MariaDB；MySQL的物理备份需要Percona XtraBackup，备份网关暂不支持。"),
    code("Backup.ToolVersionMismatch", "The backup tool's version does not match the database server's.", "备份工具版本与数据库版本不匹配。"),
    code("Backup.ToolFailed", "The backup tool exited with an error; the gateway log has its output.", "备份工具执行失败，详情见备份网关日志。"),
    code("Backup.WorkDir", "The gateway could not create its private work directory for the backup.", "备份网关无法创建备份所需的私有工作目录。"),
    code("Backup.DataDirUnreadable", "The gateway cannot read the database's data directory.", "备份网关无法读取数据库的数据目录。"),
    code("Backup.NotResumable", "A backup being taken is read once, from its start; it cannot be resumed.", "正在进行的备份只能从头读取一次，无法续传。"),
    code("Backup.Failed", "The backup stopped unexpectedly.", "备份意外终止。"),
    code("Backup.Cancelled", "The backup was stopped before it finished.", "备份在完成前被停止。"),
    code("Backup.UnsupportedDatabaseType", "The gateway does not back up this database type (only MySQL and MariaDB).", "备份网关不支持该数据库类型的备份（仅支持MySQL和MariaDB）。"),
    code("Backup.UploadFailed", "The backup could not be uploaded to the control plane.", "备份无法上传到管控服务。"),
    code("Backup.ControlStorageFull", "The control plane's data dir is full; the backup could not be uploaded.", "管控服务的数据目录已满，备份无法上传。"),
    code("Backup.SetNotRecorded", "The gateway reported a backup whose set was not uploaded whole.", "备份网关报告完成的备份，其备份集未完整上传。"),
];

/// The messages of a code, if it is a known one.
pub fn lookup(code: &str) -> Option<&'static JobErrorCode> {
    CODES.iter().find(|c| c.code == code)
}

/// `JobState`: the download status words, for any task.
fn job_state(state: &str) -> &'static str {
    match state {
        "queued" => "init",
        "running" => "running",
        "finish" => "finish",
        _ => "failed",
    }
}

/// DescribeJobErrorCode: `TaskId` (a gateway task: a GetDBList task, or an
/// auto download's `TaskId`), `Language` `en` (default) or `cn`. A task
/// that has not failed has no `ErrorCode`.
pub async fn describe_job_error_code(plane: &ControlPlane, call: &Call) -> Result<Value, ApiError> {
    let task_id: i64 = call.parse_required("TaskId")?;
    let language = match call.get("Language") {
        None => "en",
        Some(l) if l.eq_ignore_ascii_case("en") => "en",
        Some(l) if l.eq_ignore_ascii_case("cn") => "cn",
        Some(_) => return Err(ApiError::invalid("Language", "must be en or cn")),
    };
    let task = plane
        .store
        .call(move |c| tasks::get(c, task_id))
        .await
        .map_err(super::internal)?
        .ok_or_else(|| ApiError::not_found("Task.NotFound", format!("No task {task_id}.")))?;
    let mut item = json!({
        "JobId": task.id.to_string(),
        "JobState": job_state(&task.state),
        "JobType": task.spec.kind_name(),
        "Language": language,
    });
    if task.state == "failed" {
        let code = task.err_code.unwrap_or_else(|| "Task.Failed".into());
        let message = match (lookup(&code), language) {
            (Some(known), "cn") => known.cn.to_string(),
            (Some(known), _) => known.en.to_string(),
            (None, _) => task.err_message.unwrap_or_default(),
        };
        item["ErrorCode"] = code.into();
        item["ErrorMessage"] = message.into();
    }
    Ok(json!({ "Item": item }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every code returned by a `fn code` of the agent's error enums.
    fn agent_codes() -> Vec<String> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        let mut dirs: Vec<_> = ["agent", "api", "backup", "discovery", "transfer"]
            .iter()
            .map(|d| root.join(d))
            .collect();
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    files.push(path);
                }
            }
        }
        let mut codes = Vec::new();
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for (start, _) in text.match_indices("fn code(&self)") {
                let body = &text[start..];
                let open = body.find('{').unwrap();
                let mut depth = 0;
                let mut end = open;
                for (i, c) in body[open..].char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        _ => {}
                    }
                    if depth == 0 {
                        end = open + i;
                        break;
                    }
                }
                for literal in body[open..end].split('"').skip(1).step_by(2) {
                    codes.push(literal.to_string());
                }
            }
        }
        codes
    }

    #[test]
    fn every_agent_error_code_has_messages() {
        let codes = agent_codes();
        assert!(codes.len() > 30, "{codes:?}");
        let missing: Vec<_> = codes.iter().filter(|c| lookup(c).is_none()).collect();
        assert!(missing.is_empty(), "codes without messages: {missing:?}");
    }

    #[test]
    fn codes_are_distinct_and_each_has_both_messages() {
        for (i, c) in CODES.iter().enumerate() {
            assert!(!c.en.is_empty() && !c.cn.is_empty(), "{}", c.code);
            assert!(c.cn.chars().any(|ch| ch as u32 > 0x2E80), "{}", c.code);
            assert!(CODES[..i].iter().all(|o| o.code != c.code), "{}", c.code);
        }
    }
}
