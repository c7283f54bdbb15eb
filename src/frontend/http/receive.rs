//! A request body written straight into a local file.
//!
//! hyper hands a body over in pieces no larger than its read buffer (8 KiB
//! growing to 256 KiB while reads fill it): sent one by one through the
//! storage interface, each piece cost a hand-off to the blocking pool — most
//! of a 1 GiB PUT's CPU, in wake-ups.
//! Here the pieces are gathered (without copying) and written with one
//! `pwritev(2)` per batch at the upload's position, on this thread: a
//! page-cache write, as the FTP data path's `splice(2)` into the file is.
//! Whatever has arrived is written before waiting for more, so the file keeps
//! up with the client (a slow one's bytes are not held back) and is written
//! at least as often as the pace rule demands data.

use std::future::Future;
use std::task::Poll;

use bytes::Bytes;
use hyper::body::Incoming;

use super::exchange::{BodyPace, INTERRUPTED, next_data};
use crate::channel::TransferError;
use crate::response::Status;
use crate::storage::StorageError;
use crate::storage::local::FileSink;

/// Bytes gathered before a write.
const BATCH_BYTES: usize = 256 * 1024;
/// Pieces gathered before a write (well under the kernel's `IOV_MAX`).
const BATCH_PIECES: usize = 64;

/// Receives `body` into `sink` at the pace `pace` requires; returns the bytes
/// received. Cancelled by `interrupt` (the drain deadline).
pub(super) async fn into_file(
    body: &mut Incoming,
    pace: &mut BodyPace,
    interrupt: &tokio_util::sync::CancellationToken,
    sink: &mut FileSink<'_>,
) -> Result<u64, TransferError> {
    let mut batch = Batch::default();
    let mut received = 0u64;
    loop {
        if interrupt.is_cancelled() {
            return Err(TransferError::new(Status::ShuttingDown, received, INTERRUPTED));
        }
        let mut next = std::pin::pin!(next_data(body, pace, received));
        let now = std::future::poll_fn(|cx| Poll::Ready(next.as_mut().poll(cx))).await;
        let piece = match now {
            Poll::Ready(piece) => piece?,
            Poll::Pending => {
                batch.write(sink, received)?;
                tokio::select! {
                    () = interrupt.cancelled() => {
                        return Err(TransferError::new(Status::ShuttingDown, received, INTERRUPTED));
                    }
                    piece = next => piece?,
                }
            }
        };
        let Some(data) = piece else { break };
        received += data.len() as u64;
        batch.add(data);
        if batch.full() {
            batch.write(sink, received)?;
        }
    }
    batch.write(sink, received)?;
    Ok(received)
}

/// Pieces of a body not yet written.
#[derive(Default)]
struct Batch {
    pieces: Vec<Bytes>,
    bytes: usize,
}

impl Batch {
    fn add(&mut self, piece: Bytes) {
        self.bytes += piece.len();
        self.pieces.push(piece);
    }

    fn full(&self) -> bool {
        self.bytes >= BATCH_BYTES || self.pieces.len() >= BATCH_PIECES
    }

    /// Writes the pieces (if any) at the sink's position; a failure carries
    /// the storage error's status (`452` when the disk is full).
    fn write(&mut self, sink: &mut FileSink<'_>, received: u64) -> Result<(), TransferError> {
        if self.pieces.is_empty() {
            return Ok(());
        }
        let written = sink.write_pieces(&self.pieces);
        self.pieces.clear();
        self.bytes = 0;
        written.map_err(|e| {
            let err = StorageError::from(e);
            TransferError::new(Status::from_storage(err.kind), received, err.to_string())
        })
    }
}
