//! Downloads from the upstream: the body of a `RETR`, either as a byte stream
//! or — when its data connection is plain TCP and the read runs to the end of
//! the file — as the data connection itself ([`SocketSource`]), which the FTP
//! data path relays to its client with `splice(2)`, without a copy through
//! user space. The copying consumers (HTTP, TLS or `TYPE A` clients) turn the
//! source into the same stream.
//!
//! Either way the upstream's completion reply decides whether the connection
//! goes back to the pool: a stream reads it in the background once the last
//! byte has arrived; a relay reads it before the client is told the transfer
//! succeeded ([`SocketSource::finish`]).

use std::io;
use std::time::Duration;

use bytes::Bytes;
use suppaftp::tokio::AsyncDataStream as DataStream;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use super::errors;
use super::pool::Lease;
use super::upload::Transfer;
use crate::storage::{ByteStream, ErrorKind, StorageError};

/// Bytes per read of a streamed download.
pub const READ_CHUNK: usize = 64 * 1024;

/// A download in progress.
pub struct Download {
    lease: Lease,
    stream: Option<Transfer>,
    left: u64,
    /// The range reaches the end of the file: the transfer is completed (226)
    /// and the connection reused; otherwise it is closed when the range is read.
    to_end: bool,
}

impl Download {
    /// The `RETR` on `lease` (marked out of step) whose data connection is
    /// `stream`, of which `left` bytes are wanted.
    pub fn new(lease: Lease, stream: Transfer, left: u64, to_end: bool) -> Download {
        Download {
            lease,
            stream: Some(stream),
            left,
            to_end,
        }
    }

    /// Whether a data path may relay the download without copying
    /// ([`SocketSource`]): only a plain data connection read to the end.
    pub fn relayable(&self) -> bool {
        let plain = matches!(self.stream.as_ref().map(Transfer::get_ref), Some(DataStream::Tcp(_)));
        plain && self.to_end
    }

    /// The download as a byte stream.
    pub fn into_stream(self) -> ByteStream {
        Box::pin(futures_util::stream::unfold(self, Download::next))
    }

    async fn next(mut self) -> Option<(Result<Bytes, StorageError>, Download)> {
        let stream = self.stream.as_mut()?;
        let limit = self.lease.timeout();
        if self.left == 0 {
            let stream = self.stream.take()?;
            if self.to_end {
                // Every byte asked for has arrived: the body ends now, and the
                // upstream's 226 is read in the background — it only decides
                // whether the connection goes back to the pool (a client should
                // not wait a round trip, or a TLS close, for that).
                let mut lease = self.lease;
                tokio::spawn(async move {
                    let r = tokio::time::timeout(limit, stream.finish()).await;
                    if lease.check("RETR (completion)", r).is_ok() {
                        lease.set_in_step(true);
                    }
                });
            }
            // Else dropped mid-transfer: the lease stays out of step and its
            // connection is closed with it.
            return None;
        }
        let want = usize::try_from(self.left).unwrap_or(READ_CHUNK).min(READ_CHUNK);
        // Read into spare capacity: zeroing a fresh chunk first cost 2.5 % of a
        // RETR's CPU in the upstream benchmark's profile.
        let mut buf = bytes::BytesMut::with_capacity(want);
        match tokio::time::timeout(limit, stream.read_buf(&mut buf)).await {
            Ok(Ok(0)) => {
                self.stream = None;
                Some((Err(ended_early()), self))
            }
            Ok(Ok(n)) => {
                self.left -= n as u64;
                Some((Ok(buf.freeze()), self))
            }
            Ok(Err(e)) => {
                self.stream = None;
                Some((Err(StorageError::with_source(ErrorKind::Unavailable, e)), self))
            }
            Err(_) => {
                self.stream = None;
                Some((Err(errors::timed_out("RETR (data)")), self))
            }
        }
    }
}

fn ended_early() -> StorageError {
    StorageError::with_source(
        ErrorKind::Unavailable,
        "the upstream file ended early (changed during the read?)",
    )
}

/// A download's plain data connection, read to the end of the file, for a data
/// path that moves its bytes itself (`splice(2)` into the client's data
/// connection). Whoever reads it calls [`SocketSource::finish`] with the count
/// it moved before telling its client the transfer succeeded. Dropped without
/// that (a failure, an abort), its control connection is closed, not reused.
pub struct SocketSource {
    download: Box<Download>,
}

impl std::fmt::Debug for SocketSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SocketSource({} bytes)", self.download.left)
    }
}

impl SocketSource {
    /// The source of a [`Download::relayable`] download.
    pub(super) fn new(download: Download) -> SocketSource {
        SocketSource {
            download: Box::new(download),
        }
    }

    /// The upstream's data connection: read at most [`SocketSource::len`]
    /// bytes from it.
    pub fn socket(&self) -> &TcpStream {
        // Present and plain from `SocketSource::new` until `finish`.
        match self.download.stream.as_ref().map(Transfer::get_ref) {
            Some(stream) => stream.get_ref(),
            None => unreachable!("a socket source holds its data connection until finished"),
        }
    }

    /// The bytes still to come.
    pub fn len(&self) -> u64 {
        self.download.left
    }

    /// True when nothing is to come.
    pub fn is_empty(&self) -> bool {
        self.download.left == 0
    }

    /// The longest wait for the upstream (its command timeout).
    pub fn timeout(&self) -> Duration {
        self.download.lease.timeout()
    }

    /// The failure `e` of the data connection (a stall is
    /// [`io::ErrorKind::TimedOut`]) as a storage error.
    pub fn failed(&self, e: io::Error) -> StorageError {
        errors::data_failed("RETR (data)", e)
    }

    /// Completes the download after `moved` bytes were read from the socket:
    /// fewer than [`SocketSource::len`] is a file that ended early; then the
    /// upstream's completion reply is read (within the command timeout), and
    /// anything but success fails the download. The connection goes back to
    /// the pool only after a success.
    pub async fn finish(self, moved: u64) -> Result<(), StorageError> {
        let Download {
            mut lease,
            stream,
            left,
            ..
        } = *self.download;
        if moved < left {
            return Err(ended_early());
        }
        let Some(stream) = stream else {
            return Err(StorageError::with_source(
                ErrorKind::Other,
                "the download already ended",
            ));
        };
        let r = tokio::time::timeout(lease.timeout(), stream.finish()).await;
        lease.check("RETR (completion)", r)?;
        lease.set_in_step(true);
        Ok(())
    }

    /// The download as a byte stream, for consumers that copy.
    pub fn into_stream(self) -> ByteStream {
        self.download.into_stream()
    }
}
