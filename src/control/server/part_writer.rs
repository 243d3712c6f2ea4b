//! The writer of an upload's part file: a chunk's frames are written on a
//! blocking thread, a batch of about [`BATCH_BYTES`] at a time, while the
//! request goes on receiving the next batch. The frames are written as they
//! arrived (shared, never copied in memory), and at most two batches are
//! held: the one being written and the one being filled.

use std::fs::File;
use std::io::{self, Write};

use bytes::Bytes;
use tokio::task::JoinHandle;

use crate::frames::Frames;

/// Bytes gathered before they are handed to the writing thread.
pub const BATCH_BYTES: usize = 1 << 20;

/// Appends frames to a part file.
pub struct PartWriter {
    /// The file, while no batch is being written.
    file: Option<File>,
    /// The frames of the batch being filled.
    batch: Frames,
    /// The batch being written: it gives the file back.
    writing: Option<JoinHandle<(File, io::Result<()>)>>,
}

impl PartWriter {
    /// Appends to `file` at its current position.
    pub fn new(file: File) -> Self {
        PartWriter {
            file: Some(file),
            batch: Frames::default(),
            writing: None,
        }
    }

    /// Adds `frame`; a full batch is handed to the writing thread once the
    /// one before it is written.
    pub async fn write(&mut self, frame: Bytes) -> io::Result<()> {
        self.batch.push(frame);
        if self.batch.len() >= BATCH_BYTES {
            self.hand_over().await?;
        }
        Ok(())
    }

    /// Writes what is left and gives the file back.
    pub async fn finish(mut self) -> io::Result<File> {
        self.hand_over().await?;
        self.settle().await?;
        self.file.take().ok_or_else(lost)
    }

    /// Waits for the batch being written, if any, and takes the file back.
    async fn settle(&mut self) -> io::Result<()> {
        if let Some(writing) = self.writing.take() {
            let (file, written) = writing.await.map_err(io::Error::other)?;
            self.file = Some(file);
            written?;
        }
        Ok(())
    }

    /// Starts writing the batch being filled, after the one before it.
    async fn hand_over(&mut self) -> io::Result<()> {
        self.settle().await?;
        if self.batch.is_empty() {
            return Ok(());
        }
        let Some(mut file) = self.file.take() else {
            return Err(lost());
        };
        let batch = std::mem::take(&mut self.batch);
        self.writing = Some(tokio::task::spawn_blocking(move || {
            let written = write_all_vectored(&mut file, batch.as_slice());
            (file, written)
        }));
        Ok(())
    }
}

/// Writes every frame of `batch`, in as few system calls as the kernel
/// takes (it caps the slices of one call at IOV_MAX).
fn write_all_vectored(file: &mut File, batch: &[Bytes]) -> io::Result<()> {
    // The first frame not wholly written, and how much of it is.
    let (mut next, mut done) = (0, 0);
    while next < batch.len() {
        let rest =
            std::iter::once(&batch[next][done..]).chain(batch[next + 1..].iter().map(|f| &f[..]));
        let slices: Vec<io::IoSlice> = rest.map(io::IoSlice::new).collect();
        let mut written = match file.write_vectored(&slices) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        while next < batch.len() && written >= batch[next].len() - done {
            written -= batch[next].len() - done;
            (next, done) = (next + 1, 0);
        }
        done += written;
    }
    Ok(())
}

/// The file went with a writing thread that did not come back (it
/// panicked or the runtime is shutting down).
fn lost() -> io::Error {
    io::Error::other("the part file was lost with its writing thread")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_are_appended_in_order_across_batches() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("part");
        std::fs::write(&path, b"held:").unwrap();
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        let mut writer = PartWriter::new(file);
        let mut expected = b"held:".to_vec();
        for i in 0..40u8 {
            let frame = vec![i; 100_000];
            expected.extend_from_slice(&frame);
            writer.write(Bytes::from(frame)).await.unwrap();
        }
        writer.finish().await.unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), expected);
    }

    #[tokio::test]
    async fn a_batch_of_more_frames_than_one_system_call_takes_is_written_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("part");
        let mut writer = PartWriter::new(std::fs::File::create(&path).unwrap());
        let mut expected = Vec::new();
        // 5000 frames of 7 bytes: one batch, more slices than IOV_MAX (1024).
        for i in 0..5000u32 {
            let frame = format!("{i:07}");
            expected.extend_from_slice(frame.as_bytes());
            writer.write(Bytes::from(frame)).await.unwrap();
        }
        writer.finish().await.unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), expected);
    }
}
