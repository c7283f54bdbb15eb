//! Zero-copy data paths between a plain TCP data connection and a local file: the
//! bytes of a binary-mode transfer never enter user space.
//!
//! - Downloads: `sendfile(2)` from the confined file descriptor into the socket.
//! - Uploads: `splice(2)` from the socket into a pipe, then from the pipe into the
//!   upload's file at its position (socket → pipe moves buffer references; pipe →
//!   file is the one copy into the page cache that any write needs).
//!
//! Both run on the session's task: the socket side waits for readiness like any
//! async I/O, with the data timeout on every wait; the file side is a page-cache
//! operation, like the page-cache reads `sendfile` does. TLS data connections,
//! `TYPE A` and non-local back-ends use the buffered paths in `data.rs` instead.

use std::io;
use std::os::fd::OwnedFd;
use std::time::Duration;

use rustix::io::Errno;
use rustix::pipe::{PipeFlags, SpliceFlags};
use tokio::io::Interest;
use tokio::net::TcpStream;

use super::progress::Progress;
use crate::channel::TransferError;
use crate::response::Status;
use crate::storage::StorageError;
use crate::storage::local::{FileRegion, FileSink};

/// Capacity asked for the upload pipe (the default is 64 KiB; 1 MiB is the
/// unprivileged maximum by default and halves the number of system calls).
const PIPE_SIZE: usize = 1024 * 1024;
/// Largest single `sendfile` call.
const SENDFILE_MAX: usize = 1 << 30;

fn stalled() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "data connection stalled")
}

/// Waits until the socket is ready for `interest`, at most `timeout`.
async fn ready(stream: &TcpStream, interest: Interest, timeout: Duration) -> io::Result<()> {
    match tokio::time::timeout(timeout, stream.ready(interest)).await {
        Err(_) => Err(stalled()),
        Ok(r) => r.map(|_| ()),
    }
}

/// Sends a file region with `sendfile(2)`. On failure, also says how many bytes
/// had been sent.
pub async fn sendfile_all(
    stream: &TcpStream,
    region: &FileRegion,
    timeout: Duration,
    progress: &Progress,
) -> Result<u64, (io::Error, u64)> {
    let (file, offset) = (region.fd(), region.offset());
    let mut pos = offset;
    let end = offset + region.len();
    while pos < end {
        ready(stream, Interest::WRITABLE, timeout)
            .await
            .map_err(|e| (e, pos - offset))?;
        let count = usize::try_from(end - pos).unwrap_or(usize::MAX).min(SENDFILE_MAX);
        let res = stream.try_io(Interest::WRITABLE, || {
            rustix::fs::sendfile(stream, file, Some(&mut pos), count).map_err(io::Error::from)
        });
        match res {
            Ok(0) => {
                let shrank = io::Error::new(io::ErrorKind::UnexpectedEof, "file shrank during transfer");
                return Err((shrank, pos - offset));
            }
            Ok(_) => progress.set_bytes(pos - offset),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err((e, pos - offset)),
        }
    }
    Ok(pos - offset)
}

/// The pipe between socket and file, and a buffer for file systems that cannot
/// splice into files (allocated only if one is met).
struct Pipe {
    read: OwnedFd,
    write: OwnedFd,
    capacity: usize,
    fallback: Option<Vec<u8>>,
}

impl Pipe {
    fn new() -> io::Result<Self> {
        let (read, write) = rustix::pipe::pipe_with(PipeFlags::CLOEXEC)?;
        let capacity = rustix::pipe::fcntl_setpipe_size(&write, PIPE_SIZE)
            .or_else(|_| rustix::pipe::fcntl_getpipe_size(&write))
            .unwrap_or(64 * 1024);
        Ok(Pipe {
            read,
            write,
            capacity,
            fallback: None,
        })
    }

    /// Moves the `n` bytes now in the pipe into the file at the sink's position.
    fn drain_into(&mut self, sink: &mut FileSink<'_>, mut n: usize) -> io::Result<()> {
        while n > 0 {
            let moved = match &mut self.fallback {
                None => {
                    let mut at = sink.position();
                    match rustix::pipe::splice(&self.read, None, sink.fd(), Some(&mut at), n, SpliceFlags::MOVE) {
                        Ok(m) => m,
                        Err(Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP) => {
                            // This file system has no splice_write: copy through a buffer from now on.
                            self.fallback = Some(vec![0u8; 256 * 1024]);
                            continue;
                        }
                        Err(Errno::INTR) => continue,
                        Err(e) => return Err(e.into()),
                    }
                }
                Some(buf) => {
                    let want = n.min(buf.len());
                    let m = match rustix::io::read(&self.read, &mut buf[..want]) {
                        Ok(m) => m,
                        Err(Errno::INTR) => continue,
                        Err(e) => return Err(e.into()),
                    };
                    if m == 0 {
                        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the pipe ran dry"));
                    }
                    sink.write_all(&buf[..m])?;
                    n -= m;
                    continue;
                }
            };
            if moved == 0 {
                return Err(io::Error::new(io::ErrorKind::WriteZero, "could not write to the file"));
            }
            sink.wrote(moved as u64);
            n -= moved;
        }
        Ok(())
    }
}

/// Receives an upload with `splice(2)` until the client closes the connection
/// (a clean close is end-of-file). Socket failures and stalls are `426`; file
/// failures carry the storage error's status (`452` when the disk is full).
pub async fn splice_to_file(
    stream: &TcpStream,
    sink: &mut FileSink<'_>,
    timeout: Duration,
    progress: &Progress,
) -> Result<u64, TransferError> {
    let aborted = |e: &io::Error, bytes: u64| TransferError::new(Status::TransferAborted, bytes, e.to_string());
    let mut pipe = Pipe::new().map_err(|e| TransferError::new(Status::LocalError, 0, e.to_string()))?;
    let mut received = 0u64;
    loop {
        ready(stream, Interest::READABLE, timeout)
            .await
            .map_err(|e| aborted(&e, received))?;
        let res = stream.try_io(Interest::READABLE, || {
            let flags = SpliceFlags::MOVE | SpliceFlags::NONBLOCK;
            rustix::pipe::splice(stream, None, &pipe.write, None, pipe.capacity, flags).map_err(io::Error::from)
        });
        let n = match res {
            Ok(0) => return Ok(received),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(aborted(&e, received)),
        };
        received += n as u64;
        pipe.drain_into(sink, n).map_err(|e| {
            let err = StorageError::from(e);
            TransferError::new(Status::from_storage(err.kind), received, err.to_string())
        })?;
        progress.set_bytes(received);
    }
}
