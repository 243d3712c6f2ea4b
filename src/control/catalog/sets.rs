//! Backup sets: their bytes copied under `{data dir}/sets/{BackupSetId}`
//! (size, SHA-256 and CRC64 computed on the way in; written to a temporary name,
//! fsynced, renamed), their records, and the listing behind
//! DescribeFullBackupList and DescribeIncrementBackupList.
//!
//! Adding a set to a plan whose auto download is on queues a download task
//! for the plan's gateway in the same transaction (see [`super::downloads`]).

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, Row};
use sha2::{Digest, Sha256};

use crate::api::gateway::SetKind;
use crate::crc64::Crc64;

use super::{downloads, names, plans};

/// Folder of set files inside the data dir.
pub const SETS_DIR: &str = "sets";

/// Copy buffer: the memory a copy uses, whatever the set's size.
const COPY_BUFFER: usize = 1 << 20;

/// A registered backup set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupSet {
    /// `BackupSetId`.
    pub id: String,
    /// The plan.
    pub plan_id: String,
    /// Full or increment.
    pub kind: SetKind,
    /// File name (e.g. `mysql-bin.000054`).
    pub name: String,
    /// Database type.
    pub db_type: String,
    /// File path relative to the data dir.
    pub file: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256, hex (shown to operators, and the strong ETag).
    pub sha256: String,
    /// CRC-64/ECMA-182, decimal (what agents verify).
    pub crc64: String,
    /// When the copy began, ms since the epoch.
    pub start_ms: i64,
    /// When the copy ended, ms since the epoch.
    pub end_ms: i64,
    /// When the record was made, ms since the epoch.
    pub created_ms: i64,
}

impl BackupSet {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Self::from_columns(row, "id", "created_ms")
    }

    /// Reads a set from a row whose id and creation time columns are named
    /// `id_column` and `created_column` (a join renames them).
    pub(crate) fn from_columns(
        row: &Row<'_>,
        id_column: &str,
        created_column: &str,
    ) -> rusqlite::Result<Self> {
        let kind: String = row.get("kind")?;
        Ok(BackupSet {
            id: row.get(id_column)?,
            plan_id: row.get("plan_id")?,
            kind: if kind == "full" {
                SetKind::Full
            } else {
                SetKind::Increment
            },
            name: row.get("name")?,
            db_type: row.get("db_type")?,
            file: row.get("file")?,
            size: row.get::<_, i64>("size")? as u64,
            sha256: row.get("sha256")?,
            crc64: row.get("crc64")?,
            start_ms: row.get("start_ms")?,
            end_ms: row.get("end_ms")?,
            created_ms: row.get(created_column)?,
        })
    }

    /// The job id shown for incremental sets (`BackupSetJobId`): the set id.
    pub fn job_id(&self) -> &str {
        &self.id
    }
}

/// Why a set could not be added. Nothing is kept when adding fails.
#[derive(Debug, thiserror::Error)]
pub enum AddError {
    /// A plan id, set name or type is not acceptable.
    #[error(transparent)]
    Name(#[from] names::NameError),
    /// The source file cannot be read.
    #[error("reading {path}: {source}")]
    Source {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The copy under the data dir failed (disk full, permissions).
    #[error("writing {path}: {source}")]
    Copy {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The plan's database type differs from the one given.
    #[error("plan {plan} holds {existing} sets, not {given}")]
    DbTypeMismatch {
        plan: String,
        existing: String,
        given: String,
    },
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] rusqlite::Error),
}

impl AddError {
    /// Stable error code.
    pub fn code(&self) -> String {
        match self {
            AddError::Name(e) => e.code(),
            AddError::Source { .. } => "BackupSet.SourceUnreadable".into(),
            AddError::Copy { .. } => "BackupSet.CopyFailed".into(),
            AddError::DbTypeMismatch { .. } => "InvalidParameter.DbType".into(),
            AddError::Store(_) => "InternalError".into(),
        }
    }

    /// Whether trying again may help.
    pub fn is_retryable(&self) -> bool {
        matches!(self, AddError::Copy { .. } | AddError::Store(_))
    }
}

/// What to add.
#[derive(Debug, Clone)]
pub struct NewSet<'a> {
    /// The plan (created if missing).
    pub plan_id: &'a str,
    /// Full or increment.
    pub kind: SetKind,
    /// File name on targets; the source's file name when `None`.
    pub name: Option<&'a str>,
    /// Database type; the plan's (or MySQL for a new plan) when `None`.
    pub db_type: Option<&'a str>,
    /// The file to copy.
    pub source: &'a Path,
}

/// A set just added, and the download queued for it if any.
#[derive(Debug, Clone)]
pub struct Added {
    /// The set.
    pub set: BackupSet,
    /// The auto download queued, if the plan's rules asked for one.
    pub download: Option<downloads::Queued>,
}

/// Copies `new.source` under `data_dir`, records the set and, if the plan's
/// auto download is on, queues a task for its gateway with a URL on
/// `public_url` (see [`crate::control::set_url`]).
pub fn add(
    conn: &mut Connection,
    data_dir: &Path,
    new: &NewSet<'_>,
    public_url: Option<&str>,
    now_ms: impl Fn() -> i64,
) -> Result<Added, AddError> {
    names::plan_id(new.plan_id)?;
    let name = match new.name {
        Some(name) => name.to_string(),
        None => new
            .source
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    names::set_name(&name)?;
    if let Some(t) = new.db_type {
        names::db_type(t)?;
    }
    let existing = plans::get(conn, new.plan_id)?;
    if let (Some(plan), Some(given)) = (&existing, new.db_type) {
        if !plan.db_type.eq_ignore_ascii_case(given) {
            return Err(AddError::DbTypeMismatch {
                plan: plan.id.clone(),
                existing: plan.db_type.clone(),
                given: given.into(),
            });
        }
    }
    let id = new_set_id();
    let start_ms = now_ms();
    let Digested {
        size,
        sha256,
        crc64,
    } = copy_in(new.source, &data_dir.join(SETS_DIR), &id)?;
    let placed = Placed {
        id: &id,
        plan_id: new.plan_id,
        kind: new.kind,
        name: &name,
        db_type: new.db_type.unwrap_or("MySQL"),
        size,
        sha256: &sha256,
        crc64: &crc64,
        start_ms,
        end_ms: now_ms(),
    };
    let recorded = record(conn, &placed, public_url);
    if recorded.is_err() {
        let _ = std::fs::remove_file(data_dir.join(placed.file()));
    }
    recorded.map_err(AddError::from)
}

/// A set whose bytes are already at `{data dir}/sets/{id}` (copied in, or
/// uploaded and moved there), to be recorded.
#[derive(Debug, Clone)]
pub struct Placed<'a> {
    /// `BackupSetId`: the file's name.
    pub id: &'a str,
    /// The plan (created with `db_type` if missing).
    pub plan_id: &'a str,
    /// Full or increment.
    pub kind: SetKind,
    /// File name on targets.
    pub name: &'a str,
    /// Database type of a plan made here.
    pub db_type: &'a str,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256, hex.
    pub sha256: &'a str,
    /// CRC-64/ECMA-182, decimal.
    pub crc64: &'a str,
    /// When the bytes began to arrive, ms since the epoch.
    pub start_ms: i64,
    /// When they were all there, ms since the epoch.
    pub end_ms: i64,
}

impl Placed<'_> {
    /// The file's path relative to the data dir.
    pub fn file(&self) -> String {
        format!("{SETS_DIR}/{}", self.id)
    }
}

/// Records a set already placed under the data dir and, if its plan's auto
/// download is on, queues a task for the plan's gateway with a URL on
/// `public_url`, in one transaction. The file is left as it is either way.
pub fn record(
    conn: &mut Connection,
    placed: &Placed<'_>,
    public_url: Option<&str>,
) -> rusqlite::Result<Added> {
    let tx = conn.transaction()?;
    let plan = plans::get_or_create(&tx, placed.plan_id, placed.db_type, placed.end_ms)?;
    tx.execute(
        "INSERT INTO backup_sets (id, plan_id, kind, name, db_type, file, size, sha256,
             crc64, start_ms, end_ms, created_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11)",
        rusqlite::params![
            placed.id,
            plan.id,
            placed.kind.as_str(),
            placed.name,
            plan.db_type,
            placed.file(),
            placed.size as i64,
            placed.sha256,
            placed.crc64,
            placed.start_ms,
            placed.end_ms
        ],
    )?;
    let set = get(&tx, placed.id)?.expect("the set just inserted");
    let download = downloads::queue_auto(&tx, &plan, &set, public_url, placed.end_ms)?;
    tx.commit()?;
    Ok(Added { set, download })
}

/// A fresh `BackupSetId`.
pub fn new_set_id() -> String {
    use rand::distr::{Alphanumeric, SampleString};
    format!(
        "bs{}",
        Alphanumeric
            .sample_string(&mut rand::rng(), 10)
            .to_ascii_lowercase()
    )
}

/// Streams `source` into `{dir}/{id}` through a temporary name, returning
/// its size and checksums. On any failure no file is left behind.
fn copy_in(source: &Path, dir: &Path, id: &str) -> Result<Digested, AddError> {
    let source_err = |e| AddError::Source {
        path: source.to_path_buf(),
        source: e,
    };
    let mut input = File::open(source).map_err(source_err)?;
    if !input.metadata().map_err(source_err)?.is_file() {
        return Err(source_err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        )));
    }
    crate::control::files::private_dir(dir).map_err(|e| AddError::Copy {
        path: dir.to_path_buf(),
        source: e,
    })?;
    let part = dir.join(format!(".{id}.part"));
    let target = dir.join(id);
    let copied = (|| -> Result<Digested, AddError> {
        let copy_err = |e| AddError::Copy {
            path: part.clone(),
            source: e,
        };
        let mut output = crate::control::files::create_private(&part).map_err(copy_err)?;
        let mut hasher = Sha256::new();
        let mut crc = Crc64::new();
        let mut buffer = vec![0u8; COPY_BUFFER];
        let mut size = 0u64;
        loop {
            let n = match input.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(source_err(e)),
            };
            hasher.update(&buffer[..n]);
            crc.write(&buffer[..n]);
            output.write_all(&buffer[..n]).map_err(copy_err)?;
            size += n as u64;
        }
        output.sync_all().map_err(copy_err)?;
        drop(output);
        std::fs::rename(&part, &target).map_err(copy_err)?;
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(copy_err)?;
        Ok(Digested {
            size,
            sha256: hex::encode(hasher.finalize()),
            crc64: crc.sum64().to_string(),
        })
    })();
    if copied.is_err() {
        let _ = std::fs::remove_file(&part);
    }
    copied
}

/// The CRC-64/ECMA-182 of a file, decimal (for sets recorded before
/// sets carried one).
pub(crate) fn crc64_of_file(path: &Path) -> std::io::Result<String> {
    Ok(digest_file(path)?.crc64)
}

/// Size, SHA-256 and CRC64 of a file, read once in constant memory.
pub(crate) fn digest_file(path: &Path) -> std::io::Result<Digested> {
    let mut input = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut crc = Crc64::new();
    let mut buffer = vec![0u8; COPY_BUFFER];
    let mut size = 0u64;
    loop {
        match input.read(&mut buffer) {
            Ok(0) => {
                return Ok(Digested {
                    size,
                    sha256: hex::encode(hasher.finalize()),
                    crc64: crc.sum64().to_string(),
                })
            }
            Ok(n) => {
                hasher.update(&buffer[..n]);
                crc.write(&buffer[..n]);
                size += n as u64;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// What [`digest_file`] learnt of a file.
pub(crate) struct Digested {
    /// Bytes.
    pub size: u64,
    /// Hex.
    pub sha256: String,
    /// Decimal.
    pub crc64: String,
}

/// A set by id.
pub fn get(conn: &Connection, id: &str) -> rusqlite::Result<Option<BackupSet>> {
    conn.query_row(
        "SELECT * FROM backup_sets WHERE id = ?1",
        [id],
        BackupSet::from_row,
    )
    .optional()
}

/// Which sets of a plan to list.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only this set.
    pub set_id: Option<String>,
    /// Only sets that started at or after this time, ms.
    pub start_from_ms: Option<i64>,
    /// Only sets that ended at or before this time, ms.
    pub end_until_ms: Option<i64>,
}

/// A plan's sets of one kind, newest first: `limit` of them from
/// `offset`, and how many there are.
pub fn list(
    conn: &Connection,
    plan_id: &str,
    kind: SetKind,
    filter: &Filter,
    offset: usize,
    limit: usize,
) -> rusqlite::Result<(Vec<BackupSet>, usize)> {
    const WHERE: &str = "WHERE plan_id = ?1 AND kind = ?2
        AND (?3 IS NULL OR id = ?3)
        AND (?4 IS NULL OR start_ms >= ?4)
        AND (?5 IS NULL OR end_ms <= ?5)";
    let args = rusqlite::params![
        plan_id,
        kind.as_str(),
        filter.set_id,
        filter.start_from_ms,
        filter.end_until_ms
    ];
    let total: i64 = conn.query_row(
        &format!("SELECT COUNT(*) FROM backup_sets {WHERE}"),
        args,
        |r| r.get(0),
    )?;
    let mut stmt = conn.prepare(&format!(
        "SELECT * FROM backup_sets {WHERE} ORDER BY seq DESC LIMIT ?6 OFFSET ?7"
    ))?;
    let rows = stmt.query_map(
        rusqlite::params![
            plan_id,
            kind.as_str(),
            filter.set_id,
            filter.start_from_ms,
            filter.end_until_ms,
            limit.min(i64::MAX as usize) as i64,
            offset.min(i64::MAX as usize) as i64
        ],
        BackupSet::from_row,
    )?;
    Ok((rows.collect::<rusqlite::Result<_>>()?, total as usize))
}

/// The data dir of an open store: the folder of its database file.
pub fn data_dir_of(conn: &Connection) -> Option<PathBuf> {
    conn.path()
        .filter(|p| !p.is_empty())
        .and_then(|p| Path::new(p).parent().map(Path::to_path_buf))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::store;

    #[test]
    fn a_set_is_copied_hashed_and_listed() {
        let dir = tempfile::tempdir().unwrap();
        let store = store::open(&dir.path().join("data")).unwrap();
        let source = dir.path().join("mysql-bin.000054");
        std::fs::write(&source, b"abc").unwrap();
        let added = store
            .call_now(|c| {
                let data_dir = data_dir_of(c).unwrap();
                let new = NewSet {
                    plan_id: "p1",
                    kind: SetKind::Increment,
                    name: None,
                    db_type: None,
                    source: &source,
                };
                Ok(add(c, &data_dir, &new, None, store::now_ms).unwrap())
            })
            .unwrap();
        assert_eq!(added.set.name, "mysql-bin.000054");
        assert_eq!(added.set.size, 3);
        assert_eq!(
            added.set.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        // CRC-64/XZ of "abc" (as `crc64ecma` object stores report it).
        assert_eq!(added.set.crc64, 0x2CD8_094A_1A27_7627u64.to_string());
        assert!(added.download.is_none());
        let stored = dir.path().join("data").join(&added.set.file);
        assert_eq!(std::fs::read(stored).unwrap(), b"abc");
        let (page, total) = store
            .call_now(|c| list(c, "p1", SetKind::Increment, &Filter::default(), 0, 30))
            .unwrap();
        assert_eq!((page.len(), total), (1, 1));
        let (full, _) = store
            .call_now(|c| list(c, "p1", SetKind::Full, &Filter::default(), 0, 30))
            .unwrap();
        assert!(full.is_empty());
    }

    #[test]
    fn a_data_dir_from_before_crc64_gets_it_from_the_set_files() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let source = dir.path().join("full.xb");
        std::fs::write(&source, b"123456789").unwrap();
        let store = store::open(&data).unwrap();
        let id = store
            .call_now(|c| {
                let new = NewSet {
                    plan_id: "p1",
                    kind: SetKind::Full,
                    name: None,
                    db_type: None,
                    source: &source,
                };
                let added = add(c, &data_dir_of(c).unwrap(), &new, None, store::now_ms).unwrap();
                // As the table was before sets carried a CRC64.
                c.execute_batch("ALTER TABLE backup_sets DROP COLUMN crc64")?;
                Ok(added.set.id)
            })
            .unwrap();
        drop(store);

        let store = store::open(&data).unwrap();
        let set = store.call_now(move |c| get(c, &id)).unwrap().unwrap();
        // The catalogued CRC-64/XZ check value.
        assert_eq!(set.crc64, 0x995D_C9BB_DF19_39FAu64.to_string());
    }

    #[test]
    fn a_missing_source_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = store::open(dir.path()).unwrap();
        let err = store
            .call_now(|c| {
                let new = NewSet {
                    plan_id: "p1",
                    kind: SetKind::Full,
                    name: Some("x"),
                    db_type: None,
                    source: &dir.path().join("absent"),
                };
                Ok(add(c, dir.path(), &new, None, store::now_ms).unwrap_err())
            })
            .unwrap();
        assert_eq!(err.code(), "BackupSet.SourceUnreadable");
        let sets = dir.path().join(SETS_DIR);
        assert!(!sets.exists() || std::fs::read_dir(sets).unwrap().next().is_none());
        assert!(store.call_now(|c| plans::get(c, "p1")).unwrap().is_none());
    }
}
