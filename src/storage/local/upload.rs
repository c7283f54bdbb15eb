//! Uploads on local disk, and the names of uploads in progress.
//!
//! `Replace` and `CreateNew` write a hidden temporary file in the target's
//! directory, fsync it, rename it over the target (`RENAME_NOREPLACE` for
//! `CreateNew`) and fsync the directory: the name shows the old file or the
//! complete new one, never a partial one. `Append` and `At` write in place
//! ([`Resume::Native`](crate::storage::Resume::Native)).
//!
//! Temporary names start with [`TEMP_PREFIX`]: listings hide them and clients
//! cannot name them. An upload whose process was killed leaves its file behind;
//! every write refreshes the file's modification time, so one untouched for the
//! back-end's stale-upload age is abandoned and is removed by the start-up sweep
//! or by removing its directory (`sweep.rs`).

use std::fs::File;
use std::os::fd::OwnedFd;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use rustix::fs::{AtFlags, Mode, OFlags, RenameFlags};

use super::region::FileSink;
use super::xattr::copy_dead_props;
use crate::storage::{StorageError, Upload, WriteMode, WriteOutcome};

/// Prefix of in-progress upload files; such names are invisible and unnameable.
pub const TEMP_PREFIX: &str = ".dualgate-upload-";

/// A fresh temporary name.
pub fn temp_name() -> String {
    format!("{TEMP_PREFIX}{:016x}", rand::random::<u64>())
}

/// True for the name of an upload in progress (or abandoned).
pub fn is_temp_name(name: &str) -> bool {
    name.starts_with(TEMP_PREFIX)
}

/// An upload in progress on local disk.
pub(super) struct LocalUpload {
    pub(super) file: Arc<File>,
    pub(super) parent: OwnedFd,
    pub(super) target: String,
    /// The temporary name, for `Replace`/`CreateNew`; `None` once published or for in-place modes.
    pub(super) temp: Option<String>,
    pub(super) mode: WriteMode,
    pub(super) pos: u64,
    pub(super) written: u64,
    pub(super) existed: bool,
    /// A resumed upload cuts the file here before its first byte lands (or at its
    /// commit, if it brings none): never at open, so a resume that fails before
    /// any data leaves the file as it was.
    pub(super) truncate_to: Option<u64>,
}

impl LocalUpload {
    /// Applies a resume's pending cut (once).
    fn truncate_now(&mut self) -> Result<(), StorageError> {
        if let Some(at) = self.truncate_to {
            rustix::fs::ftruncate(&*self.file, at)?;
            self.truncate_to = None;
        }
        Ok(())
    }

    pub(super) fn commit_blocking(mut self) -> Result<WriteOutcome, StorageError> {
        self.truncate_now()?;
        rustix::fs::fsync(&*self.file)?;
        if let Some(tmp) = &self.temp {
            if self.mode == WriteMode::Replace {
                // New contents, same resource: the WebDAV dead properties of the file
                // being replaced carry over (the new inode would otherwise lose them).
                let old = rustix::fs::openat(
                    &self.parent,
                    self.target.as_str(),
                    OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
                    Mode::empty(),
                );
                if let Ok(old) = old {
                    copy_dead_props(&old, &*self.file)?;
                }
            }
            let flags = if self.mode == WriteMode::CreateNew {
                RenameFlags::NOREPLACE
            } else {
                RenameFlags::empty()
            };
            rustix::fs::renameat_with(&self.parent, tmp.as_str(), &self.parent, self.target.as_str(), flags)?;
            self.temp = None;
            // The rename is durable only once the directory is.
            rustix::fs::fsync(&self.parent)?;
        }
        Ok(WriteOutcome {
            created: !self.existed,
            bytes: self.written,
        })
    }

    /// Removes the temporary file (in-place writes keep what was written, as
    /// `REST`/`APPE` promise: the client resumes from there).
    fn discard(&mut self) -> Result<(), StorageError> {
        if let Some(tmp) = self.temp.take() {
            rustix::fs::unlinkat(&self.parent, tmp.as_str(), AtFlags::empty())?;
        }
        Ok(())
    }
}

impl Drop for LocalUpload {
    fn drop(&mut self) {
        // The fallback when an upload is neither committed nor aborted.
        if let Err(e) = self.discard() {
            tracing::warn!(error = %e, "could not remove an aborted upload's temporary file");
        }
    }
}

#[async_trait]
impl Upload for LocalUpload {
    async fn write(&mut self, chunk: Bytes) -> Result<(), StorageError> {
        // One ftruncate, the first time only: not worth a trip to the pool of its own.
        self.truncate_now()?;
        let file = self.file.clone();
        let pos = self.pos;
        let append = self.mode == WriteMode::Append;
        let len = chunk.len() as u64;
        super::blocking(move || {
            if append {
                use std::io::Write;
                (&*file).write_all(&chunk)?;
            } else {
                file.write_all_at(&chunk, pos)?;
            }
            Ok::<(), StorageError>(())
        })
        .await?;
        self.pos += len;
        self.written += len;
        Ok(())
    }

    fn local_sink(&mut self) -> Option<FileSink<'_>> {
        // splice(2) refuses files opened with O_APPEND; appends take the write path.
        if self.mode == WriteMode::Append {
            return None;
        }
        // The sink's first byte lands at the resume offset: the cut goes first.
        // (Should it fail, the buffered path reports the error at its first write.)
        self.truncate_now().ok()?;
        Some(FileSink::new(&self.file, &mut self.pos, &mut self.written))
    }

    async fn commit(self: Box<Self>) -> Result<WriteOutcome, StorageError> {
        super::blocking(move || (*self).commit_blocking()).await
    }

    async fn abort(mut self: Box<Self>) -> Result<(), StorageError> {
        super::blocking(move || self.discard()).await
    }
}
