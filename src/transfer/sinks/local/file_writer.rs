//! Writes a file on a blocking thread of its own, so the network and the
//! disk work at the same time.
//!
//! [`FileWriter::write`] copies chunks into a buffer of [`BATCH`] bytes and
//! hands full buffers to the thread through a bounded queue; it waits only
//! when [`QUEUE`] buffers are still waiting for the disk, so memory stays
//! bounded and a slow disk slows the download. The thread wakes once per
//! buffer rather than once per socket read, and gives each buffer back
//! once written: the same few buffers serve the whole file, and the HTTP
//! client gets its read buffer back at once. (Holding the client's chunks
//! instead costs a fresh, page-faulted allocation per socket read, which
//! is dearer than the copy.)
//!
//! The thread also starts the kernel's writeback early (see `crate::writeback`),
//! so the `fsync` before the rename has little left to do.
//!
//! The first write error ends the thread: the next call on the writer
//! returns that error.

use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::writeback::Writeback;

/// Size of one buffer.
pub const BATCH: usize = 1024 * 1024;
/// Full buffers waiting for the disk at most; with the one being filled and
/// the one being written, `QUEUE + 2` buffers exist at most.
pub const QUEUE: usize = 4;

/// What the thread is asked to do, in order.
enum Op {
    Write(Vec<u8>),
    /// Truncate to zero and write from the start again.
    Truncate,
    /// Answer once every earlier operation is done.
    Barrier(oneshot::Sender<()>),
}

/// A file being written by its own thread.
pub struct FileWriter {
    ops: mpsc::Sender<Op>,
    /// The buffer being filled.
    batch: Vec<u8>,
    /// Written buffers, given back by the thread.
    spare: mpsc::UnboundedReceiver<Vec<u8>>,
    thread: JoinHandle<io::Result<File>>,
}

impl FileWriter {
    /// Starts the thread; `file` is positioned at `offset`, the bytes it
    /// already holds.
    pub fn new(file: File, offset: u64) -> Self {
        let (ops, queue) = mpsc::channel(QUEUE);
        let (give_back, spare) = mpsc::unbounded_channel();
        let thread = tokio::task::spawn_blocking(move || run(file, offset, queue, give_back));
        FileWriter {
            ops,
            batch: Vec::with_capacity(BATCH),
            spare,
            thread,
        }
    }

    /// Queues `chunk` after the bytes queued before.
    pub async fn write(&mut self, chunk: Bytes) -> io::Result<()> {
        let mut rest = &chunk[..];
        while !rest.is_empty() {
            let room = BATCH - self.batch.len();
            let (now, later) = rest.split_at(room.min(rest.len()));
            self.batch.extend_from_slice(now);
            rest = later;
            if self.batch.len() == BATCH {
                self.send_batch().await?;
            }
        }
        Ok(())
    }

    /// Discards the file's bytes; later writes start at offset 0.
    pub async fn truncate(&mut self) -> io::Result<()> {
        self.batch.clear();
        self.send(Op::Truncate).await?;
        self.flush().await
    }

    /// Waits until everything queued is written.
    pub async fn flush(&mut self) -> io::Result<()> {
        self.send_batch().await?;
        let (done, written) = oneshot::channel();
        self.send(Op::Barrier(done)).await?;
        match written.await {
            Ok(()) => Ok(()),
            Err(_) => Err(self.failure().await),
        }
    }

    /// Writes everything queued and gives the file back.
    pub async fn close(mut self) -> io::Result<File> {
        self.send_batch().await?;
        drop(self.ops);
        self.thread.await.map_err(io::Error::other)?
    }

    async fn send_batch(&mut self) -> io::Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let next = self
            .spare
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(BATCH));
        let batch = std::mem::replace(&mut self.batch, next);
        self.send(Op::Write(batch)).await
    }

    async fn send(&mut self, op: Op) -> io::Result<()> {
        match self.ops.send(op).await {
            Ok(()) => Ok(()),
            Err(_) => Err(self.failure().await),
        }
    }

    /// The error that ended the thread.
    async fn failure(&mut self) -> io::Error {
        let thread = std::mem::replace(&mut self.thread, tokio::spawn(async { stopped() }));
        match thread.await {
            Ok(Err(e)) => e,
            Ok(Ok(_)) => stopped().unwrap_err(),
            Err(e) => io::Error::other(e),
        }
    }
}

fn stopped() -> io::Result<File> {
    Err(io::Error::other("the file writer has stopped"))
}

/// The thread: performs the operations in order until the queue closes or
/// a write fails.
fn run(
    mut file: File,
    offset: u64,
    mut queue: mpsc::Receiver<Op>,
    give_back: mpsc::UnboundedSender<Vec<u8>>,
) -> io::Result<File> {
    let mut offset = offset;
    let mut writeback = Writeback::new(offset);
    while let Some(op) = queue.blocking_recv() {
        match op {
            Op::Write(mut batch) => {
                file.write_all(&batch)?;
                offset += batch.len() as u64;
                writeback.wrote(&file, offset);
                batch.clear();
                let _ = give_back.send(batch);
            }
            Op::Truncate => {
                file.set_len(0)?;
                file.seek(SeekFrom::Start(0))?;
                offset = 0;
                writeback = Writeback::new(0);
            }
            Op::Barrier(done) => {
                let _ = done.send(());
            }
        }
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(path: &std::path::Path) -> File {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .unwrap()
    }

    #[tokio::test]
    async fn chunks_land_in_order_and_truncate_starts_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let mut writer = FileWriter::new(open(&path), 0);
        for i in 0..100u8 {
            writer.write(Bytes::from(vec![i; 1000])).await.unwrap();
        }
        writer.flush().await.unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len(), 100_000);
        assert!(bytes
            .chunks(1000)
            .enumerate()
            .all(|(i, c)| c == vec![i as u8; 1000]));

        writer.truncate().await.unwrap();
        writer.write(Bytes::from_static(b"again")).await.unwrap();
        writer.close().await.unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"again");
    }

    #[tokio::test]
    async fn a_write_error_is_returned_by_a_later_call() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"").unwrap();
        // A read-only handle: every write fails with EBADF.
        let mut writer = FileWriter::new(File::open(&path).unwrap(), 0);
        let first = writer.write(Bytes::from_static(b"x")).await;
        let later = match first {
            Err(e) => e,
            Ok(()) => writer.flush().await.unwrap_err(),
        };
        assert_eq!(later.raw_os_error(), Some(libc::EBADF));
        assert!(writer.close().await.is_err());
    }
}
