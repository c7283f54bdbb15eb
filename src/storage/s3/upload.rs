//! An upload to the object store: OpenDAL's writer, which sends one PutObject
//! for a small file and a multipart upload (parts of `part_size`, at most
//! `upload_concurrency` in flight) for a large one. Nothing is visible before
//! [`Upload::commit`] (CompleteMultipartUpload or the PutObject).
//!
//! OpenDAL does **not** abort a multipart upload when its writer is dropped, and
//! an open upload keeps its parts stored (and billed) until a lifecycle rule
//! removes it. So every way out of an upload that is not a commit aborts it
//! explicitly: [`Upload::abort`], a failed commit, and — for a caller that
//! drops the upload without either (a panic, a cancelled task) — `Drop`, which
//! hands the abort to a task.

use async_trait::async_trait;
use bytes::Bytes;

use super::errors::storage_error;
use crate::storage::{ErrorKind, StorageError, Upload, WriteMode, WriteOutcome};

/// A pending write to one key.
pub struct S3Upload {
    /// `None` once committed or aborted.
    writer: Option<opendal::Writer>,
    mode: WriteMode,
    /// The key did not exist when the upload opened.
    created: bool,
    /// Bytes written through [`Upload::write`] (not the copied prefix).
    written: u64,
    /// For logs.
    key: String,
}

impl S3Upload {
    pub(super) fn new(writer: opendal::Writer, mode: WriteMode, created: bool, key: String) -> Self {
        S3Upload {
            writer: Some(writer),
            mode,
            created,
            written: 0,
            key,
        }
    }

    fn writer(&mut self) -> Result<&mut opendal::Writer, StorageError> {
        self.writer
            .as_mut()
            .ok_or_else(|| StorageError::with_source(ErrorKind::Other, "the upload is already finished"))
    }
}

/// Aborts a writer, logging (not returning) a failure: the caller is already
/// on a failure path, and what it reports is the first error.
async fn abort_quietly(mut writer: opendal::Writer, key: &str) {
    if let Err(e) = writer.abort().await {
        tracing::warn!(key, error = %e, "could not abort a multipart upload; a bucket lifecycle rule for incomplete uploads removes it");
    }
}

#[async_trait]
impl Upload for S3Upload {
    async fn write(&mut self, chunk: Bytes) -> Result<(), StorageError> {
        let len = chunk.len() as u64;
        self.writer()?.write(chunk).await.map_err(storage_error)?;
        self.written += len;
        Ok(())
    }

    async fn commit(mut self: Box<Self>) -> Result<WriteOutcome, StorageError> {
        let mut writer = self
            .writer
            .take()
            .ok_or_else(|| StorageError::with_source(ErrorKind::Other, "the upload is already finished"))?;
        match writer.close().await {
            Ok(_) => Ok(WriteOutcome {
                created: self.created,
                bytes: self.written,
            }),
            Err(e) => {
                // A failed CompleteMultipartUpload leaves the upload open.
                abort_quietly(writer, &self.key).await;
                let mut err = storage_error(e);
                if self.mode == WriteMode::CreateNew && err.kind == ErrorKind::Busy {
                    // `If-None-Match: *` lost the race: the name was taken meanwhile.
                    err.kind = ErrorKind::AlreadyExists;
                }
                Err(err)
            }
        }
    }

    async fn abort(mut self: Box<Self>) -> Result<(), StorageError> {
        let Some(mut writer) = self.writer.take() else {
            return Ok(());
        };
        writer.abort().await.map_err(storage_error)
    }
}

impl Drop for S3Upload {
    fn drop(&mut self) {
        let Some(writer) = self.writer.take() else {
            return;
        };
        let key = std::mem::take(&mut self.key);
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn(async move { abort_quietly(writer, &key).await });
            }
            Err(_) => tracing::warn!(
                key,
                "an upload was dropped outside the runtime and could not be aborted"
            ),
        }
    }
}
