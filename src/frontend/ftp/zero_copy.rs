//! Zero-copy data paths between a plain TCP data connection and a local file or
//! an upstream FTP server's plain data connection: the bytes of a binary-mode
//! transfer never enter user space.
//!
//! - Local downloads: `sendfile(2)` from the confined file descriptor into the socket.
//! - Local uploads: `splice(2)` from the socket into a pipe, then from the pipe into
//!   the upload's file at its position (socket → pipe moves buffer references; pipe →
//!   file is the one copy into the page cache that any write needs).
//! - Upstream downloads and uploads: `splice(2)` from one socket into a pipe and
//!   from the pipe into the other socket (both moves of buffer references). A
//!   download reports success only after the upstream's own completion reply.
//!
//! All run on the session's task: the socket side waits for readiness like any
//! async I/O, with the data timeout on every wait for the client and the
//! upstream's command timeout on every wait for the upstream; the file side is a
//! page-cache operation, like the page-cache reads `sendfile` does. TLS data
//! connections (on either side), `TYPE A` and the other back-ends use the
//! buffered paths in `data.rs` instead.

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
use crate::storage::upstream_ftp::{SocketSink, SocketSource};

/// Capacity asked for the upload pipe (the default is 64 KiB; 1 MiB is the
/// unprivileged maximum by default and halves the number of system calls).
const PIPE_SIZE: usize = 1024 * 1024;
/// Largest single `sendfile` call.
const SENDFILE_MAX: usize = 1 << 30;

fn stalled() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "data connection stalled")
}

/// A non-blocking call that found nothing to do (or was interrupted): wait and try again.
fn retry(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted)
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

    /// Waits (at most `timeout`) until `stream` has bytes, then moves up to
    /// `max` of them into the (empty) pipe; `Ok(0)` at end-of-file.
    async fn fill(&self, stream: &TcpStream, max: usize, timeout: Duration) -> io::Result<usize> {
        let max = max.min(self.capacity);
        loop {
            ready(stream, Interest::READABLE, timeout).await?;
            let res = stream.try_io(Interest::READABLE, || {
                let flags = SpliceFlags::MOVE | SpliceFlags::NONBLOCK;
                rustix::pipe::splice(stream, None, &self.write, None, max, flags).map_err(io::Error::from)
            });
            match res {
                Err(e) if retry(&e) => continue,
                other => return other,
            }
        }
    }

    /// Moves the `n` bytes now in the pipe into `stream`, waiting (at most
    /// `timeout` each time) while it is full.
    async fn drain_into_socket(&self, stream: &TcpStream, mut n: usize, timeout: Duration) -> io::Result<()> {
        while n > 0 {
            ready(stream, Interest::WRITABLE, timeout).await?;
            let res = stream.try_io(Interest::WRITABLE, || {
                let flags = SpliceFlags::MOVE | SpliceFlags::NONBLOCK;
                rustix::pipe::splice(&self.read, None, stream, None, n, flags).map_err(io::Error::from)
            });
            match res {
                Ok(0) => return Err(io::Error::new(io::ErrorKind::WriteZero, "the connection took nothing")),
                Ok(m) => n -= m,
                Err(e) if retry(&e) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
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
        let n = match pipe.fill(stream, usize::MAX, timeout).await {
            Ok(0) => return Ok(received),
            Ok(n) => n,
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

/// One end of a relay between two sockets, each with its longest wait.
struct End<'a> {
    socket: &'a TcpStream,
    timeout: Duration,
}

/// Why a relay stopped: which end failed (or the pipe could not be made), how,
/// and the bytes moved by then.
enum RelayFailure {
    Pipe(io::Error),
    From(io::Error, u64),
    To(io::Error, u64),
}

impl RelayFailure {
    /// The bytes that reached the far end.
    fn moved(&self) -> u64 {
        match self {
            RelayFailure::Pipe(_) => 0,
            RelayFailure::From(_, n) | RelayFailure::To(_, n) => *n,
        }
    }
}

/// Moves bytes from one socket to the other through a pipe until `from` ends
/// or `limit` bytes have moved; returns the bytes moved.
async fn relay(from: End<'_>, to: End<'_>, limit: u64, progress: &Progress) -> Result<u64, RelayFailure> {
    let pipe = Pipe::new().map_err(RelayFailure::Pipe)?;
    let mut total = 0u64;
    while total < limit {
        let max = usize::try_from(limit - total).unwrap_or(usize::MAX);
        let n = match pipe.fill(from.socket, max, from.timeout).await {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => return Err(RelayFailure::From(e, total)),
        };
        pipe.drain_into_socket(to.socket, n, to.timeout)
            .await
            .map_err(|e| RelayFailure::To(e, total))?;
        total += n as u64;
        progress.set_bytes(total);
    }
    Ok(total)
}

/// Relays an upstream download to the client with `splice(2)`, then completes
/// it: the upstream's completion reply (and a full count) come before success.
/// The client's failures and stalls are `426`; the upstream's carry the storage
/// error's status (`451`).
pub async fn relay_download(
    source: SocketSource,
    client: &TcpStream,
    timeout: Duration,
    progress: &Progress,
) -> Result<u64, TransferError> {
    let from = End {
        socket: source.socket(),
        timeout: source.timeout(),
    };
    let to = End {
        socket: client,
        timeout,
    };
    let sent = match relay(from, to, source.len(), progress).await {
        Ok(n) => n,
        Err(RelayFailure::From(e, n)) => return Err(storage_failed(&source.failed(e), n)),
        Err(failure) => return Err(relay_failed(failure)),
    };
    source.finish(sent).await.map_err(|e| storage_failed(&e, sent))?;
    Ok(sent)
}

/// Relays the client's upload into the upstream's data connection with
/// `splice(2)` until the client closes its connection (a clean close is
/// end-of-file; the upload's commit then reads the upstream's verdict). The
/// client's failures and stalls are `426`; the upstream's carry the storage
/// error's status (`451`).
pub async fn relay_upload(
    client: &TcpStream,
    sink: &mut SocketSink<'_>,
    timeout: Duration,
    progress: &Progress,
) -> Result<u64, TransferError> {
    let from = End {
        socket: client,
        timeout,
    };
    let to = End {
        socket: sink.socket(),
        timeout: sink.timeout(),
    };
    let result = relay(from, to, u64::MAX, progress).await;
    sink.wrote(match &result {
        Ok(n) => *n,
        Err(failure) => failure.moved(),
    });
    match result {
        Ok(n) => Ok(n),
        Err(RelayFailure::To(e, n)) => Err(storage_failed(&sink.failed(e), n)),
        Err(failure) => Err(relay_failed(failure)),
    }
}

/// A relay's failure that is not the back-end's: the client's end (`426`) or
/// the pipe (a local error).
fn relay_failed(failure: RelayFailure) -> TransferError {
    let n = failure.moved();
    match failure {
        RelayFailure::Pipe(e) => TransferError::new(Status::LocalError, n, e.to_string()),
        RelayFailure::From(e, _) | RelayFailure::To(e, _) => {
            TransferError::new(Status::TransferAborted, n, e.to_string())
        }
    }
}

fn storage_failed(e: &StorageError, bytes: u64) -> TransferError {
    TransferError::new(Status::from_storage(e.kind), bytes, e.to_string())
}
