//! Early writeback for files written as a stream.
//!
//! Left alone, the kernel keeps a downloaded set in dirty pages until the
//! background threshold (10 % of memory by default) is crossed, so the
//! `fsync` before the rename has gigabytes left to write and the download
//! waits for the disk at the very end. On a database host those dirty pages
//! also compete with the database's own writes, and the clean pages of a
//! set nobody reads again push the database's hot pages out of the cache.
//!
//! [`Writeback`] works in windows: when a window has been written it asks
//! the kernel to start writing it out (`sync_file_range(WRITE)`), waits for
//! the window before it to reach the disk, and drops that one from the page
//! cache (`posix_fadvise(DONTNEED)`). Dirty data stays under two windows,
//! the disk works while the network does, and the final `fsync` is short.
//! All of it is advice: a file system that does not support a call (some
//! network file systems) only loses the optimisation, never data, because
//! the commit still ends with `fsync`.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;

/// Bytes per window: large enough for few system calls, small enough that
/// two windows of dirty pages are nothing to a database host.
pub const WINDOW: u64 = 32 * 1024 * 1024;

/// Tracks which part of a file has been handed to the kernel's writeback.
#[derive(Debug, Clone)]
pub struct Writeback {
    /// Start of the window being written.
    window_start: u64,
    /// The window whose writeback was started and not yet waited for.
    in_flight: Option<(u64, u64)>,
}

impl Writeback {
    /// Early writeback for a file whose bytes before `offset` already exist.
    pub fn new(offset: u64) -> Self {
        Writeback {
            window_start: offset,
            in_flight: None,
        }
    }

    /// Records that `file` now holds the bytes up to `offset`. When that
    /// completes a window, waits for the previous window to reach the disk
    /// and starts writeback of this one. Errors are advice lost, not data
    /// lost, and are only logged.
    pub fn wrote(&mut self, file: &File, offset: u64) {
        if offset.saturating_sub(self.window_start) < WINDOW {
            return;
        }
        let window = (self.window_start, offset - self.window_start);
        let previous = self.in_flight.replace(window);
        self.window_start = offset;
        let done = previous
            .map_or(Ok(()), |previous| settle(file, previous))
            .and_then(|()| start(file, window));
        if let Err(e) = done {
            tracing::debug!(error = %e, "early writeback not available");
        }
    }
}

/// Asks the kernel to start writing `(start, len)` of `file` to disk.
fn start(file: &File, (start, len): (u64, u64)) -> io::Result<()> {
    sync_file_range(file, start, len, libc::SYNC_FILE_RANGE_WRITE)
}

/// Waits until `(start, len)` of `file` is on disk, then drops it from the
/// page cache.
fn settle(file: &File, (start, len): (u64, u64)) -> io::Result<()> {
    sync_file_range(
        file,
        start,
        len,
        libc::SYNC_FILE_RANGE_WAIT_BEFORE
            | libc::SYNC_FILE_RANGE_WRITE
            | libc::SYNC_FILE_RANGE_WAIT_AFTER,
    )?;
    rustix::fs::fadvise(
        file,
        start,
        std::num::NonZeroU64::new(len),
        rustix::fs::Advice::DontNeed,
    )?;
    Ok(())
}

fn sync_file_range(file: &File, start: u64, len: u64, flags: libc::c_uint) -> io::Result<()> {
    let (Ok(start), Ok(len)) = (i64::try_from(start), i64::try_from(len)) else {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    };
    // SAFETY: the descriptor is borrowed from an open `File` for the whole
    // call, and sync_file_range(2) reads no memory of this process.
    let rc = unsafe { libc::sync_file_range(file.as_raw_fd(), start, len, flags) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_counted_from_the_first_offset() {
        let file = tempfile::tempfile().unwrap();
        let mut wb = Writeback::new(100);
        wb.wrote(&file, 100 + WINDOW - 1);
        assert_eq!(wb.in_flight, None);
        wb.wrote(&file, 100 + WINDOW);
        assert_eq!(wb.in_flight, Some((100, WINDOW)));
        wb.wrote(&file, 100 + 2 * WINDOW + 5);
        assert_eq!(wb.in_flight, Some((100 + WINDOW, WINDOW + 5)));
        assert_eq!(wb.window_start, 100 + 2 * WINDOW + 5);
    }
}
