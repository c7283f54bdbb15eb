//! Uploads to the upstream.
//!
//! With `atomic_uploads` (the default), a replace, create-new or resumed upload
//! is `STOR`ed to a hidden temporary name in the target's directory
//! ([`TEMP_PREFIX`], never listed) and renamed over the target (`RNFR`/`RNTO`)
//! only after the upstream's `226`: the upstream never shows a half file under
//! the real name. A failed, aborted or dropped upload deletes its temporary file
//! (a dropped one in the background; a directory holding only such leftovers
//! counts as empty for `rmdir`). Create-new checks the name is still free just
//! before the rename, and the uploads of this process publish one at a time
//! (the check and the rename take milliseconds): two racing uploads through
//! one gateway cannot both win, but a writer on the upstream itself (or another
//! gateway instance) could slip in between the check and the rename.
//!
//! An append is written aside too: the old bytes are copied into the temporary
//! file first (two appends racing through one gateway: the last to finish
//! wins). With `atomic_uploads: false` every upload writes in place (`STOR`,
//! `APPE`): not atomic, and a failed one leaves what was sent.
//!
//! Over a plain data connection an upload offers that connection as a
//! [`SocketSink`] ([`Upload::socket_sink`]): the FTP data path then moves its
//! client's bytes into it with `splice(2)`, without a copy through user space,
//! instead of calling [`Upload::write`]. Either way the upload succeeds only
//! on the upstream's `226` (read by [`Upload::commit`]).

use std::io;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use suppaftp::tokio::{AsyncDataStream as DataStream, AsyncRustlsStream, TransferStream};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::FtpVolume;
use super::pool::{Lease, ftp};
use crate::storage::{ErrorKind, StorageError, Upload, WriteMode, WriteOutcome};

/// The start of every temporary upload name.
pub const TEMP_PREFIX: &str = ".dualgate-upload-";

/// A data connection of an upload or download.
pub type Transfer = TransferStream<AsyncRustlsStream>;

/// A temporary name next to `target` (an upstream path).
pub fn temp_path(target: &str) -> String {
    let dir = match target.rfind('/') {
        Some(i) => &target[..i],
        None => "",
    };
    format!("{dir}/{TEMP_PREFIX}{:016x}", rand::random::<u64>())
}

/// A pending upload.
pub struct FtpUpload {
    pub(super) vol: FtpVolume,
    pub(super) lease: Option<Lease>,
    pub(super) stream: Option<Transfer>,
    /// Upstream path of the temporary file, when written aside.
    pub(super) temp: Option<String>,
    /// Upstream path of the target.
    pub(super) target: String,
    pub(super) mode: WriteMode,
    pub(super) created: bool,
    pub(super) bytes: u64,
}

impl FtpUpload {
    /// Closes the data connection and reads the upstream's verdict on it.
    async fn finish_transfer(&mut self) -> Result<(), StorageError> {
        let (Some(lease), Some(stream)) = (self.lease.as_mut(), self.stream.take()) else {
            return Err(StorageError::with_source(ErrorKind::Other, "the upload already ended"));
        };
        let limit = lease.timeout();
        let r = tokio::time::timeout(limit, stream.finish()).await;
        lease.check("STOR (completion)", r)?;
        lease.set_in_step(true);
        Ok(())
    }

    /// Deletes the temporary file, on this upload's connection if it is still
    /// in step, else on another; a failure is logged (the file stays hidden).
    async fn remove_temp(&mut self) {
        let Some(temp) = self.temp.take() else { return };
        let lease = match self.lease.take() {
            Some(mut l) if self.stream.is_none() => {
                // Reusable only if the transfer was completed.
                match ftp!(l, "NOOP", l.ftp().noop()) {
                    Ok(()) => Ok(l),
                    Err(_) => self.vol.lease().await,
                }
            }
            _ => {
                self.stream = None;
                self.vol.lease().await
            }
        };
        remove_file(&self.vol, lease, &temp, false).await;
    }
}

/// Deletes an upstream file left by an upload that did not complete; with
/// `absent_ok` (a temporary file of an upload that never started: the upstream
/// may or may not have made it) its absence is no failure. Any other failure is
/// retried in the background on fresh connections, [`REMOVAL_RETRIES`] apart (a
/// fault that cut the upload often cuts the connection this delete runs on
/// too); the last failure is logged.
pub(super) async fn remove_file(vol: &FtpVolume, lease: Result<Lease, StorageError>, path: &str, absent_ok: bool) {
    match delete(lease, path).await {
        Ok(()) => {}
        Err(e) if e.kind == ErrorKind::NotFound => {
            if !absent_ok {
                tracing::warn!(path, error = %e, "{} was already gone from the upstream", left_by_upload(path));
            }
        }
        Err(e) => {
            let what = left_by_upload(path);
            tracing::info!(path, error = %e, "could not delete {what} on the upstream; trying again in the background");
            let (vol, path) = (vol.clone(), path.to_owned());
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move { retry_removal(vol, path).await });
            }
        }
    }
}

/// The waits before each background retry of [`remove_file`].
const REMOVAL_RETRIES: [Duration; 3] = [Duration::from_secs(1), Duration::from_secs(5), Duration::from_secs(25)];

/// What an upload leaves: its temporary file, or (written in place) a partial one.
fn left_by_upload(path: &str) -> &'static str {
    if path
        .rsplit('/')
        .next()
        .is_some_and(|name| name.starts_with(TEMP_PREFIX))
    {
        "a temporary upload"
    } else {
        "a partial upload"
    }
}

async fn delete(lease: Result<Lease, StorageError>, path: &str) -> Result<(), StorageError> {
    let mut lease = lease?;
    ftp!(lease, "DELE (left by an upload)", lease.ftp().rm(path))
}

async fn retry_removal(vol: FtpVolume, path: String) {
    let mut last = None;
    for wait in REMOVAL_RETRIES {
        tokio::time::sleep(wait).await;
        match delete(vol.lease().await, &path).await {
            Ok(()) => {
                tracing::info!(path, "deleted {} on the upstream, on a retry", left_by_upload(&path));
                return;
            }
            Err(e) if e.kind == ErrorKind::NotFound => return,
            Err(e) => last = Some(e),
        }
    }
    if let Some(e) = last {
        tracing::warn!(path, error = %e, "could not delete {} on the upstream (a temporary one stays hidden until a listing finds it stale)", left_by_upload(&path));
    }
}

#[async_trait]
impl Upload for FtpUpload {
    async fn write(&mut self, chunk: Bytes) -> Result<(), StorageError> {
        let (Some(stream), Some(lease)) = (self.stream.as_mut(), self.lease.as_ref()) else {
            return Err(StorageError::with_source(ErrorKind::Other, "the upload already ended"));
        };
        match tokio::time::timeout(lease.timeout(), stream.write_all(&chunk)).await {
            Ok(Ok(())) => {
                self.bytes += chunk.len() as u64;
                Ok(())
            }
            Ok(Err(e)) => Err(StorageError::with_source(ErrorKind::Unavailable, e)),
            Err(_) => Err(super::errors::timed_out("STOR (data)")),
        }
    }

    fn socket_sink(&mut self) -> Option<SocketSink<'_>> {
        let timeout = self.lease.as_ref()?.timeout();
        match self.stream.as_ref().map(Transfer::get_ref) {
            Some(DataStream::Tcp(socket)) => Some(SocketSink {
                socket,
                timeout,
                bytes: &mut self.bytes,
            }),
            _ => None,
        }
    }

    async fn commit(mut self: Box<Self>) -> Result<WriteOutcome, StorageError> {
        if let Err(e) = self.finish_transfer().await {
            self.remove_temp().await;
            return Err(e);
        }
        if let Some(temp) = self.temp.clone() {
            let published = self.publish(&temp).await;
            match published {
                Ok(()) => self.temp = None,
                Err(e) => {
                    self.remove_temp().await;
                    return Err(e);
                }
            }
        }
        self.lease = None;
        Ok(WriteOutcome {
            created: self.created,
            bytes: self.bytes,
        })
    }

    async fn abort(mut self: Box<Self>) -> Result<(), StorageError> {
        // Completing the transfer keeps the connection for the clean-up; what
        // the upstream says of the partial data does not matter.
        let _ = self.finish_transfer().await;
        if self.temp.is_some() {
            self.remove_temp().await;
        } else if self.created && self.mode != WriteMode::Append {
            // Written in place to a new name: take the partial file away again.
            let target = self.target.clone();
            let lease = match self.lease.take() {
                Some(l) => Ok(l),
                None => self.vol.lease().await,
            };
            remove_file(&self.vol, lease, &target, false).await;
        }
        Ok(())
    }
}

impl FtpUpload {
    /// Renames the complete temporary file over the target (create-new: only
    /// if the name is still free).
    ///
    /// Some upstreams send their 226 before they close the file, and the next
    /// command on that connection waits for the close: vsftpd truncates the
    /// file it opens for STOR, and ext4 then writes the whole file out on
    /// close (measured: 0.6 s after a 1 GiB upload). So the rename goes on
    /// another connection when one is idle, or, after a large upload, on a new
    /// login; if the upstream refuses it there (a server that cannot rename a
    /// file still open), it is tried again on the upload's own connection.
    async fn publish(&mut self, temp: &str) -> Result<(), StorageError> {
        let vol = self.vol.clone();
        let own = self
            .lease
            .as_mut()
            .ok_or_else(|| StorageError::with_source(ErrorKind::Other, "no connection"))?;
        let mut spare = vol.spare_lease(self.bytes >= NEW_LOGIN_TO_PUBLISH).await;
        // One publish at a time (a check and a rename: milliseconds), waited
        // for no longer than a command.
        let _turn = tokio::time::timeout(own.timeout(), vol.upstream.publish.lock())
            .await
            .map_err(|_| super::errors::timed_out("publishing an upload (waiting for its turn)"))?;
        if let Some(lease) = spare.as_mut() {
            match rename_into_place(&vol, lease, self.mode, temp, &self.target).await {
                Err(e) if e.kind != ErrorKind::AlreadyExists => {
                    tracing::debug!(error = %e, "publishing on a second upstream connection failed; trying the upload's own");
                }
                done => return done,
            }
        }
        rename_into_place(&vol, own, self.mode, temp, &self.target).await
    }
}

/// Uploads of at least this many bytes publish on a new login when no idle
/// connection is there: a login costs milliseconds, the upstream's close after
/// a large upload can cost a second.
const NEW_LOGIN_TO_PUBLISH: u64 = 128 << 20;

/// RNFR/RNTO of `temp` over `target` on `lease`; for create-new, only while
/// `target` is free.
async fn rename_into_place(
    vol: &FtpVolume,
    lease: &mut Lease,
    mode: WriteMode,
    temp: &str,
    target: &str,
) -> Result<(), StorageError> {
    if mode == WriteMode::CreateNew && vol.taken_with(lease, target).await? {
        return Err(StorageError::new(ErrorKind::AlreadyExists));
    }
    ftp!(lease, "RNFR/RNTO", lease.ftp().rename(temp, target))
}

impl Drop for FtpUpload {
    /// Neither committed nor aborted: the temporary file is deleted in the
    /// background (a direct write keeps what was sent).
    fn drop(&mut self) {
        let Some(temp) = self.temp.take() else { return };
        // The data connection and its control connection are closed; the
        // clean-up takes a fresh one.
        self.stream = None;
        self.lease = None;
        let vol = self.vol.clone();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                remove_file(&vol, vol.lease().await, &temp, false).await;
            });
        }
    }
}

/// The plain data connection of a pending upload, for a data path that writes
/// it directly (`splice(2)` from its client's data connection). Whoever writes
/// through it reports each write with [`SocketSink::wrote`], so the upload's
/// byte count stays true; the upload is then committed (or aborted) as usual.
#[derive(Debug)]
pub struct SocketSink<'a> {
    socket: &'a TcpStream,
    timeout: Duration,
    bytes: &'a mut u64,
}

impl SocketSink<'_> {
    /// The upstream's data connection.
    pub fn socket(&self) -> &TcpStream {
        self.socket
    }

    /// The longest wait for the upstream (its command timeout).
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Records `n` bytes written to the socket.
    pub fn wrote(&mut self, n: u64) {
        *self.bytes += n;
    }

    /// The failure `e` of the data connection (a stall is
    /// [`io::ErrorKind::TimedOut`]) as a storage error.
    pub fn failed(&self, e: io::Error) -> StorageError {
        super::errors::data_failed("STOR (data)", e)
    }
}
