//! A backup being taken, as a [`Source`] of the transfer pipeline: the
//! backup runs in its own task and hands its chunks over a bounded channel,
//! so the pipeline's pace (throttle, a slow sink) holds the backup back and
//! memory stays bounded.
//!
//! The stream has no size until it ends and cannot be read twice: it is
//! stored with `transfer::pipeline::store`. A backup that fails ends the
//! stream with its error (never a clean end), so a cut backup is never
//! committed; a stream dropped early (the sink failed, a shutdown) stops the
//! backup, and the backup tool with it.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::mpsc;

use super::logical::{self, LogicalOptions, LogicalSummary};
use super::physical::{self, Tool};
use super::BackupError;
use crate::api::backup_objects::BackupObject;
use crate::api::gateway::BackupMethod;
use crate::discovery::Login;
use crate::transfer::sources::{ByteStream, Source, SourceBody, SourceError};

/// Chunks in flight between the backup and the pipeline.
const CHANNEL_CHUNKS: usize = 4;

/// What to take.
#[derive(Debug, Clone)]
pub enum BackupJob {
    /// `mariadb-backup --stream=xbstream`; `work_dir` holds its scratch dir.
    Physical {
        tool: Tool,
        work_dir: std::path::PathBuf,
    },
    /// SQL of `objects` (every user database when empty).
    Logical {
        objects: Vec<BackupObject>,
        options: LogicalOptions,
    },
}

impl BackupJob {
    /// The job of `method`: a physical one finds the backup tool and keeps
    /// its scratch dir in `work_dir`; a logical one takes `objects` (every
    /// user database when empty) with `threads` tables read at once.
    pub async fn new(
        method: BackupMethod,
        objects: Vec<BackupObject>,
        threads: usize,
        work_dir: &std::path::Path,
    ) -> Result<BackupJob, BackupError> {
        Ok(match method {
            BackupMethod::Physical => BackupJob::Physical {
                tool: physical::find_tool().await?,
                work_dir: work_dir.to_path_buf(),
            },
            BackupMethod::Logical => BackupJob::Logical {
                objects,
                options: LogicalOptions {
                    threads: threads.max(1),
                    ..LogicalOptions::default()
                },
            },
        })
    }
}

/// What a finished backup reports beside its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackupSummary {
    /// A physical backup (its size is the stored set's).
    Physical,
    /// A logical backup: what it took and its binlog position.
    Logical(LogicalSummary),
}

/// A backup started in the background, read once as a stream.
pub struct BackupSource {
    shown: String,
    body: Mutex<Option<ByteStream>>,
    summary: Arc<Mutex<Option<BackupSummary>>>,
}

impl BackupSource {
    /// Starts `job` on the server of `login`, run by `runtime` (the
    /// reader's own, or one of its own so that producing the bytes does not
    /// share a thread with sending them); the backup waits for its reader
    /// once the channel is full.
    pub fn start(login: Login, job: BackupJob, runtime: &tokio::runtime::Handle) -> BackupSource {
        let kind = match &job {
            BackupJob::Physical { .. } => "physical",
            BackupJob::Logical { .. } => "logical",
        };
        let shown = format!("{kind} backup of {}", login.endpoint());
        let (tx, rx) = mpsc::channel::<Bytes>(CHANNEL_CHUNKS);
        let producer = runtime.spawn(async move {
            match job {
                BackupJob::Physical { tool, work_dir } => {
                    physical::backup(&login, &tool, &work_dir, tx)
                        .await
                        .map(|_| BackupSummary::Physical)
                }
                BackupJob::Logical { objects, options } => {
                    logical::backup(&login, &objects, &options, tx)
                        .await
                        .map(BackupSummary::Logical)
                }
            }
        });
        let summary = Arc::new(Mutex::new(None));
        let (slot, name) = (summary.clone(), shown.clone());
        let chunks = futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|chunk| (Ok(chunk), rx))
        });
        // After the last chunk, the backup's own verdict.
        let verdict = futures::stream::once(async move {
            let failed = |code, message| {
                Some(Err(SourceError::Producer {
                    source_name: name,
                    code,
                    message,
                }))
            };
            match producer.await {
                Ok(Ok(done)) => {
                    *slot.lock().expect("summary slot") = Some(done);
                    None
                }
                Ok(Err(e)) => failed(e.code(), e.to_string()),
                Err(e) => failed("Backup.Failed", e.to_string()),
            }
        })
        .filter_map(futures::future::ready);
        BackupSource {
            shown,
            body: Mutex::new(Some(chunks.chain(verdict).boxed())),
            summary,
        }
    }

    /// What the backup reported, once its stream has ended cleanly.
    pub fn summary(&self) -> Option<BackupSummary> {
        self.summary.lock().expect("summary slot").clone()
    }
}

#[async_trait]
impl Source for BackupSource {
    fn shown(&self) -> &str {
        &self.shown
    }

    async fn size(&self) -> Result<u64, SourceError> {
        Err(SourceError::SizeUnknown {
            url: self.shown.clone(),
        })
    }

    async fn open(&self, offset: u64, _validator: Option<&str>) -> Result<SourceBody, SourceError> {
        let taken = self.body.lock().expect("backup body").take();
        match taken {
            Some(bytes) if offset == 0 => Ok(SourceBody {
                start: 0,
                total: None,
                validator: None,
                bytes,
            }),
            _ => Err(SourceError::Producer {
                source_name: self.shown.clone(),
                code: "Backup.NotResumable",
                message: "a backup being taken is read once, from its start".into(),
            }),
        }
    }
}
