//! The upload route of backup sets taken by gateways (see
//! [`crate::api::gateway::UPLOAD_ROUTE`] for the protocol).
//!
//! Each request is authenticated like an RPC call (v1 over the query, the
//! `Action` being [`UPLOAD_ACTION`]); only the gateway key of the run's own
//! gateway may upload, and only while the run's task is leased. The bytes
//! go to `{data dir}/uploads/{BackupSetId}.part` (owner-only modes), a
//! chunk streamed to disk in bounded batches ([`PartWriter`]) and hashed on
//! the way (the SHA-256 on a thread of its own, [`Hashing`]); a
//! refused chunk is cut off again. The digest of the bytes held is kept up
//! in memory as chunks arrive; the complete checks it (or, after a restart
//! of dbs-control, reads the part back once for CRC64 and SHA-256), moves the
//! part to `sets/{BackupSetId}` (fsync, rename) and records the set, so a half-uploaded set is never listed. Requests of
//! one set are served one at a time.
//!
//! A part whose task ended without its set is removed (see [`sweep`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex};

use axum::body::Body;
use axum::extract::{Path as UrlPath, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::StreamExt;
use tracing::Instrument;

use super::part_writer::{self, PartWriter};
use crate::api::gateway::{
    upload_param, UploadComplete, UploadState, MAX_UPLOAD_CHUNK_BYTES, UPLOAD_ACTION,
};
use crate::api::{gateway::SetKind, ApiError};
use crate::control::auth::{self, Caller, RawCall};
use crate::control::catalog::{names, plans, runs, sets};
use crate::control::keys::Role;
use crate::control::{files, gateways, limits, store, tasks, ControlPlane};
use crate::crc64::Crc64;
use crate::frames::Frames;
use crate::writeback::Writeback;

/// One lock per set being uploaded: its requests are served in turn.
static LOCKS: LazyLock<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>> =
    LazyLock::new(Default::default);

/// The digest of the bytes held of an upload, kept up as its chunks
/// arrive, so completing a set does not read it back. Kept in memory only:
/// after a restart of dbs-control the complete reads the part back.
/// It also starts the disk's writeback of each chunk early, so the fsync of
/// the complete has little left to write.
#[derive(Clone)]
struct Running {
    held: u64,
    crc: Crc64,
    sha256: sha2::Sha256,
    writeback: Writeback,
}

impl Running {
    fn new() -> Running {
        Running {
            held: 0,
            crc: Crc64::new(),
            sha256: sha2::Sha256::default(),
            writeback: Writeback::new(0),
        }
    }

    /// Adds `bytes` to the SHA-256; the CRC64 takes each chunk's whole
    /// once it is checked ([`Crc64::append`]), so no byte's is computed twice.
    fn hash(&mut self, bytes: &[u8]) {
        use sha2::Digest;
        self.sha256.update(bytes);
    }

    fn finish(self) -> sets::Digested {
        use sha2::Digest;
        sets::Digested {
            size: self.held,
            sha256: hex::encode(self.sha256.finalize()),
            crc64: self.crc.sum64().to_string(),
        }
    }
}

/// A chunk's bytes hashed into an upload's SHA-256 on a blocking thread
/// while the request goes on receiving and writing them: the hash, the
/// dearest work on the way, is off the chunk's path (at most a chunk's
/// frames wait for it, shared, not copied). Frames are handed over about
/// [`PartWriter`]'s batch at a time, so the thread wakes once per batch.
struct Hashing {
    batches: std::sync::mpsc::Sender<Frames>,
    batch: Frames,
    done: tokio::task::JoinHandle<Running>,
}

impl Hashing {
    fn start(mut running: Running) -> Hashing {
        let (batches, received) = std::sync::mpsc::channel::<Frames>();
        let done = tokio::task::spawn_blocking(move || {
            for batch in received {
                batch
                    .as_slice()
                    .iter()
                    .for_each(|frame| running.hash(frame));
            }
            running
        });
        Hashing {
            batches,
            batch: Frames::default(),
            done,
        }
    }

    fn add(&mut self, frame: &bytes::Bytes) {
        self.batch.push(frame.clone());
        if self.batch.len() >= part_writer::BATCH_BYTES {
            self.hand_over();
        }
    }

    fn hand_over(&mut self) {
        // The thread ends only once every sender is gone.
        let _ = self.batches.send(std::mem::take(&mut self.batch));
    }

    /// The digest with every frame added.
    async fn finish(mut self) -> Result<Running, tokio::task::JoinError> {
        self.hand_over();
        drop(self.batches);
        self.done.await
    }
}

/// The running digests of the uploads under way, by set id (each set's
/// requests are served in turn, under its lock in [`LOCKS`]).
static RUNNING: LazyLock<Mutex<HashMap<String, Running>>> = LazyLock::new(Default::default);

fn running() -> std::sync::MutexGuard<'static, HashMap<String, Running>> {
    RUNNING.lock().unwrap_or_else(|p| p.into_inner())
}

/// What a request needs to know of its run.
struct Upload {
    set_id: String,
    run: runs::Run,
    data_dir: PathBuf,
    part: PathBuf,
    recorded: Option<sets::BackupSet>,
}

/// A refusal, with the held offset when the caller needs it.
struct Refusal {
    error: ApiError,
    offset: Option<u64>,
}

impl From<ApiError> for Refusal {
    fn from(error: ApiError) -> Self {
        Refusal {
            error,
            offset: None,
        }
    }
}

fn internal(error: impl std::fmt::Display) -> Refusal {
    tracing::error!(%error, "upload failed");
    ApiError::internal().into()
}

/// A failed write to the part file: a full disk (or quota) is said as
/// such, and is not worth a retry until someone frees space.
fn storage_failed(part: &Path, error: std::io::Error, offset: u64) -> Refusal {
    if !crate::transfer::sinks::is_no_space(&error) {
        return internal(format!("{}: {error}", part.display()));
    }
    tracing::error!(part = %part.display(), %error, "the data dir is full; an upload was refused");
    refused(
        507,
        "Upload.StorageFull",
        "The control plane's data dir is full; free space there and take the backup again.",
        Some(offset),
    )
}

fn refused(status: u16, code: &str, message: impl Into<String>, offset: Option<u64>) -> Refusal {
    Refusal {
        error: ApiError::new(status, code, message),
        offset,
    }
}

/// `GET|PUT|POST /uploads/{set_id}`.
pub async fn serve_upload(
    State(plane): State<ControlPlane>,
    method: Method,
    UrlPath(set_id): UrlPath<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string().to_uppercase();
    let query: Vec<(String, String)> =
        form_urlencoded::parse(query.as_deref().unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let span =
        tracing::info_span!("upload", request_id = %request_id, set = %set_id, method = %method);
    let answer = handle(&plane, &method, set_id, &query, &headers, body)
        .instrument(span.clone())
        .await;
    match answer {
        Ok(body) => Json(body).into_response(),
        Err(Refusal { error, offset }) => {
            if error.status >= 500 {
                tracing::error!(parent: &span, code = %error.code, "upload request failed");
            } else {
                limits::refusal_log(|suppressed| {
                    tracing::info!(parent: &span, code = %error.code, suppressed, "upload request refused");
                });
            }
            let status = StatusCode::from_u16(error.status).unwrap_or(StatusCode::BAD_REQUEST);
            let mut body = serde_json::to_value(error.body(&request_id)).unwrap_or_default();
            if let (Some(map), Some(offset)) = (body.as_object_mut(), offset) {
                map.insert("Offset".into(), offset.into());
            }
            (status, Json(body)).into_response()
        }
    }
}

async fn handle(
    plane: &ControlPlane,
    method: &Method,
    set_id: String,
    query: &[(String, String)],
    headers: &HeaderMap,
    body: Body,
) -> Result<serde_json::Value, Refusal> {
    // The body is not signed, and a v3 signature names the path `/`: only
    // v1 over the query is taken.
    let raw = RawCall {
        method: method.as_str(),
        query,
        form: &[],
        headers: &HeaderMap::new(),
        body: b"",
    };
    let caller = auth::authenticate(&plane.store, &raw).await?;
    match param(query, "Action") {
        Some(UPLOAD_ACTION) => {}
        other => {
            return Err(ApiError::invalid(
                "Action",
                format!(
                    "{} is not the upload action {UPLOAD_ACTION}",
                    other.unwrap_or_default()
                ),
            )
            .into())
        }
    }
    let lock = {
        let mut locks = LOCKS.lock().unwrap_or_else(|p| p.into_inner());
        locks.entry(set_id.clone()).or_default().clone()
    };
    let answer = async {
        let _held = lock.lock().await;
        // Looked up under the lock: a request waiting for another (a
        // retried complete) sees what that one did.
        let upload = own_upload(plane, &caller, set_id.clone()).await?;
        match *method {
            Method::GET => match &upload.recorded {
                Some(set) => Ok(serde_json::to_value(UploadState {
                    offset: set.size,
                    completed: Some(completed(set)),
                })
                .expect("answers serialize")),
                None => held(&upload.part).await.map(state),
            },
            Method::PUT => put(&upload, query, headers, body).await.map(state),
            Method::POST => complete(plane, &upload, query).await,
            _ => Err(refused(
                405,
                "Upload.MethodNotAllowed",
                "The upload route takes GET, PUT and POST.",
                None,
            )),
        }
    }
    .await;
    let mut locks = LOCKS.lock().unwrap_or_else(|p| p.into_inner());
    if Arc::strong_count(&lock) == 2 {
        locks.remove(&set_id);
    }
    answer
}

fn state(offset: u64) -> serde_json::Value {
    serde_json::to_value(UploadState {
        offset,
        completed: None,
    })
    .expect("answers serialize")
}

/// What a complete answers of the recorded `set`.
fn completed(set: &sets::BackupSet) -> UploadComplete {
    UploadComplete {
        backup_set_id: set.id.clone(),
        backup_set_name: set.name.clone(),
        size: set.size,
        crc64: set.crc64.clone(),
    }
}

fn param<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn number(query: &[(String, String)], name: &str) -> Result<u64, Refusal> {
    let value = param(query, name).ok_or_else(|| ApiError::missing(name))?;
    value
        .parse()
        .map_err(|_| ApiError::invalid(name, format!("{value} is not an unsigned number")).into())
}

/// The run of `set_id`, if the caller is the gateway key of its gateway
/// and its task is leased.
async fn own_upload(
    plane: &ControlPlane,
    caller: &Caller,
    set_id: String,
) -> Result<Upload, Refusal> {
    if caller.role != Role::Gateway {
        return Err(refused(
            403,
            "Forbidden.UserKey",
            "Uploads need the gateway AccessKey of the gateway that takes the backup.",
            None,
        ));
    }
    names::set_id(&set_id).map_err(|e| Refusal::from(e.to_api()))?;
    let id = set_id.clone();
    let found = plane
        .store
        .call(move |c| {
            let Some(run) = runs::get(c, &id)? else {
                return Ok(None);
            };
            let gateway = gateways::get(c, run.gateway_id)?;
            let task = tasks::get(c, run.task_id)?;
            let recorded = sets::get(c, &id)?;
            Ok(Some((run, gateway, task, recorded, sets::data_dir_of(c))))
        })
        .await
        .map_err(internal)?;
    let Some((run, gateway, task, recorded, data_dir)) = found else {
        return Err(refused(
            404,
            "Upload.NotFound",
            format!("No backup run makes the set {set_id}."),
            None,
        ));
    };
    if gateway.map(|g| g.identifier) != caller.gateway || caller.gateway.is_none() {
        return Err(refused(
            403,
            "Forbidden.NotYourGateway",
            format!("Backup set {set_id} is taken by another gateway than this AccessKey's."),
            None,
        ));
    }
    if task.as_ref().map(|t| t.state.as_str()) != Some("running") {
        return Err(refused(
            409,
            "Upload.TaskNotRunning",
            format!(
                "The backup task {} of set {set_id} is not running; its upload is closed.",
                run.task_id
            ),
            None,
        ));
    }
    let data_dir = data_dir.ok_or_else(|| internal("the store has no data dir"))?;
    Ok(Upload {
        part: runs::part_file(&data_dir, &set_id),
        set_id,
        run,
        data_dir,
        recorded,
    })
}

/// Bytes held in the part file (0 when there is none). Anything but a
/// regular file there (a symbolic link) is refused, not followed.
async fn held(part: &Path) -> Result<u64, Refusal> {
    match tokio::fs::symlink_metadata(part).await {
        Ok(meta) if meta.is_file() => Ok(meta.len()),
        Ok(_) => Err(internal(format!(
            "{} is not a regular file",
            part.display()
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(internal(format!("{}: {e}", part.display()))),
    }
}

/// Appends one chunk; answers the new held size.
async fn put(
    upload: &Upload,
    query: &[(String, String)],
    headers: &HeaderMap,
    body: Body,
) -> Result<u64, Refusal> {
    let offset = number(query, upload_param::OFFSET)?;
    let expected = number(query, upload_param::CHUNK_CRC64)?;
    if upload.recorded.is_some() {
        return Err(refused(
            409,
            "Upload.Completed",
            format!("Backup set {} is complete already.", upload.set_id),
            None,
        ));
    }
    let too_large = || {
        refused(
            413,
            "Upload.ChunkTooLarge",
            format!("A chunk carries at most {MAX_UPLOAD_CHUNK_BYTES} bytes."),
            Some(offset),
        )
    };
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > MAX_UPLOAD_CHUNK_BYTES) {
        return Err(too_large());
    }
    let part = &upload.part;
    let io_failed = |e: std::io::Error| storage_failed(part, e, offset);
    let file = if offset == 0 {
        // A new upload: whatever an earlier attempt left is discarded.
        let dir = upload.data_dir.join(runs::UPLOADS_DIR);
        files::private_dir(&dir).map_err(io_failed)?;
        files::create_private(part).map_err(io_failed)?
    } else {
        let held = held(part).await?;
        if held != offset {
            return Err(refused(
                409,
                "Upload.OffsetMismatch",
                format!("The chunk starts at byte {offset}; {held} bytes are held."),
                Some(held),
            ));
        }
        files::append_private(part).map_err(io_failed)?
    };
    let digest = if offset == 0 {
        Some(Running::new())
    } else {
        running()
            .get(&upload.set_id)
            .filter(|r| r.held == offset)
            .cloned()
    };
    let mut hashing = digest.map(Hashing::start);
    let written_back = file.try_clone().map_err(io_failed)?;
    let mut out = PartWriter::new(file);
    let mut crc = Crc64::new();
    let mut written = 0u64;
    let mut stream = body.into_data_stream();
    let copied: Result<(), Refusal> = async {
        while let Some(frame) = stream.next().await {
            let frame = frame.map_err(|e| {
                refused(
                    400,
                    "Upload.BodyIncomplete",
                    format!("The chunk's body was cut: {e}"),
                    Some(offset),
                )
            })?;
            written += frame.len() as u64;
            if written > MAX_UPLOAD_CHUNK_BYTES {
                return Err(too_large());
            }
            crc.write(&frame);
            if let Some(hashing) = &mut hashing {
                hashing.add(&frame);
            }
            out.write(frame).await.map_err(io_failed)?;
        }
        if crc.sum64() != expected {
            return Err(refused(
                400,
                "Upload.ChunkChecksumMismatch",
                format!(
                    "The chunk's {written} bytes have CRC64 {}, not {expected}; it was not kept.",
                    crc.sum64()
                ),
                Some(offset),
            ));
        }
        Ok(())
    }
    .await;
    // Every batch is written (or failed) before the chunk is judged.
    let flushed = out.finish().await.map_err(io_failed);
    if let Err(refusal) = copied.and(flushed.map(drop)) {
        // Cut the part back to what it held before this chunk.
        if let Err(e) = written_back.set_len(offset) {
            tracing::error!(part = %part.display(), error = %e, "a refused chunk could not be cut off");
        }
        if offset == 0 {
            running().remove(&upload.set_id);
        }
        return Err(refusal);
    }
    let digest = match hashing {
        Some(hashing) => Some(hashing.finish().await.map_err(internal)?),
        None => None,
    };
    match digest {
        Some(mut digest) => {
            digest.crc.append(&crc);
            digest.held = offset + written;
            let digest = tokio::task::spawn_blocking(move || {
                digest.writeback.wrote(&written_back, digest.held);
                digest
            })
            .await
            .map_err(internal)?;
            running().insert(upload.set_id.clone(), digest);
        }
        None => {
            running().remove(&upload.set_id);
        }
    }
    Ok(offset + written)
}

/// Checks the whole part, moves it among the sets and records the set.
async fn complete(
    plane: &ControlPlane,
    upload: &Upload,
    query: &[(String, String)],
) -> Result<serde_json::Value, Refusal> {
    let size = number(query, upload_param::SIZE)?;
    let crc64 = number(query, upload_param::CRC64)?.to_string();
    let answer =
        |set: &sets::BackupSet| serde_json::to_value(completed(set)).expect("answers serialize");
    if let Some(set) = &upload.recorded {
        if set.size == size && set.crc64 == crc64 {
            return Ok(answer(set));
        }
        return Err(refused(
            409,
            "Upload.Completed",
            format!(
                "Backup set {} is complete already with {} bytes and CRC64 {}.",
                set.id, set.size, set.crc64
            ),
            None,
        ));
    }
    // A complete stopped between the move and the record (the control
    // plane was killed) left the whole among the sets: it is taken there.
    let moved = upload.data_dir.join(sets::SETS_DIR).join(&upload.set_id);
    let was_moved = !upload.part.exists() && moved.exists();
    let source = if was_moved { &moved } else { &upload.part };
    let held = held(source).await?;
    if held != size {
        return Err(refused(
            400,
            "Upload.SizeMismatch",
            format!("The set has {size} bytes; {held} bytes are held."),
            Some(held),
        ));
    }
    let kept = running()
        .remove(&upload.set_id)
        .filter(|r| r.held == size && !was_moved);
    let digest = match kept {
        Some(running) => running.finish(),
        None => {
            let file = source.clone();
            tokio::task::spawn_blocking(move || sets::digest_file(&file))
                .await
                .map_err(internal)?
                .map_err(|e| internal(format!("{}: {e}", source.display())))?
        }
    };
    if digest.crc64 != crc64 || digest.size != size {
        // The held bytes are not the set: the upload starts again from 0.
        let _ = tokio::fs::remove_file(source).await;
        return Err(refused(
            400,
            "Upload.ChecksumMismatch",
            format!(
                "The {} bytes held have CRC64 {}, not {crc64}; they were discarded.",
                digest.size, digest.crc64
            ),
            Some(0),
        ));
    }
    if !was_moved {
        let id = upload.set_id.clone();
        let (part, target) = (upload.part.clone(), upload.data_dir.join(sets::SETS_DIR));
        tokio::task::spawn_blocking(move || place(&part, &target, &id))
            .await
            .map_err(internal)?
            .map_err(|e| storage_failed(&upload.part, e, size))?;
    }
    let run = upload.run.clone();
    let public_url = plane.settings.public_url.clone();
    let now = store::now_ms();
    let recorded = plane
        .store
        .call(move |c| {
            let db_type = plans::get(c, &run.plan_id)?
                .map(|p| p.db_type)
                .unwrap_or_else(|| "MySQL".into());
            let extension = run
                .method
                .parse()
                .map_or("xb", crate::api::gateway::BackupMethod::extension);
            let stamp = chrono::DateTime::from_timestamp_millis(run.created_ms)
                .unwrap_or_default()
                .format("%Y%m%dT%H%M%SZ");
            let name = format!("{}-{stamp}.{extension}", run.method);
            let placed = sets::Placed {
                id: &run.set_id,
                plan_id: &run.plan_id,
                kind: SetKind::Full,
                name: &name,
                db_type: &db_type,
                size: digest.size,
                sha256: &digest.sha256,
                crc64: &digest.crc64,
                start_ms: run.created_ms,
                end_ms: now,
            };
            sets::record(c, &placed, public_url.as_deref())
        })
        .await;
    match recorded {
        Ok(added) => {
            tracing::info!(set = %added.set.id, plan = %added.set.plan_id, size = added.set.size,
                auto_download = added.download.is_some(), "uploaded set recorded");
            Ok(answer(&added.set))
        }
        // The set stays among the sets, unrecorded: a retried complete
        // takes it from there.
        Err(e) => Err(internal(e)),
    }
}

/// Makes `part` durable and moves it to `{sets}/{id}`, durably.
fn place(part: &Path, sets: &Path, id: &str) -> std::io::Result<()> {
    std::fs::File::open(part)?.sync_all()?;
    files::private_dir(sets)?;
    std::fs::rename(part, sets.join(id))?;
    std::fs::File::open(sets)?.sync_all()
}

/// Removes the part files of uploads whose task is no longer running (it
/// failed for good, or finished without its set): no half set is kept.
/// Returns how many were removed.
pub fn sweep(conn: &rusqlite::Connection, data_dir: &Path) -> rusqlite::Result<usize> {
    let Ok(entries) = std::fs::read_dir(data_dir.join(runs::UPLOADS_DIR)) else {
        return Ok(0);
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(set_id) = name.strip_suffix(".part") else {
            continue;
        };
        let running = match runs::get(conn, set_id)? {
            Some(run) => tasks::get(conn, run.task_id)?.is_some_and(|t| t.state == "running"),
            None => false,
        };
        if !running && std::fs::remove_file(entry.path()).is_ok() {
            self::running().remove(set_id);
            tracing::info!(set = set_id, "part of an ended upload removed");
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::catalog::runs::{test_spec, Trigger};
    use crate::control::gateways::register_for_test;

    #[test]
    fn the_sweep_removes_the_parts_of_ended_tasks_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = store::open(dir.path()).unwrap();
        store
            .call_now(|c| {
                let gateway = register_for_test(c, "g1")?;
                plans::get_or_create(c, "p1", "MySQL", 0)?;
                let leased = runs::start(c, &test_spec("bsleased"), gateway, Trigger::Manual, 0)?;
                let ended = runs::start(c, &test_spec("bsended"), gateway, Trigger::Manual, 0)?;
                assert_eq!(tasks::lease(c, gateway, 2, 60_000, 0)?.len(), 2);
                let failed = tasks::Report {
                    status: crate::api::gateway::ReportStatus::Failed,
                    progress: None,
                    result: None,
                    err_code: Some("Backup.Failed"),
                    err_message: None,
                };
                assert_eq!(
                    tasks::report(c, gateway, ended, &failed, 60_000, 1)?,
                    Ok(())
                );
                assert_ne!(leased, ended);
                Ok(())
            })
            .unwrap();
        files::private_dir(&dir.path().join(runs::UPLOADS_DIR)).unwrap();
        let parts = ["bsleased", "bsended", "bsnorun"].map(|id| runs::part_file(dir.path(), id));
        for part in &parts {
            std::fs::write(part, b"half").unwrap();
        }
        let removed = store.call_now(|c| sweep(c, dir.path())).unwrap();
        assert_eq!(removed, 2);
        let kept: Vec<bool> = parts.iter().map(|p| p.exists()).collect();
        assert_eq!(kept, [true, false, false]);
    }
}
