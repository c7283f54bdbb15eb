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
//! hands the abort to a task. An abort the store does not answer is tried again
//! in the background for about two minutes; one the store no longer knows (an
//! earlier attempt's answer was lost) counts as done.
//!
//! The other way round, a commit whose answer is lost may have worked: the
//! retry of a CompleteMultipartUpload then finds no such upload, the retry of
//! a create-only PutObject finds the name taken — by itself. Every upload puts
//! a random token in its object's metadata (`x-amz-meta-dualgate-upload`), so
//! a failed commit looks at the object: if it is this upload's (token and
//! size), the upload succeeded and says so.

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};

use super::errors::storage_error;
use crate::storage::{ErrorKind, StorageError, Upload, WriteMode, WriteOutcome};

/// The user-metadata key (`x-amz-meta-dualgate-upload`) of an upload's token.
pub(super) const TOKEN_KEY: &str = "dualgate-upload";

/// Where an upload goes, and how to tell its object from another's.
pub(super) struct Target {
    pub op: opendal::Operator,
    pub key: String,
    /// A random token stored in the object's metadata (`TOKEN_KEY`).
    pub token: String,
    /// Bytes the object starts with (copied from the old one on a resume).
    pub size: u64,
    /// Told when the commit has changed the store.
    pub memo: std::sync::Arc<super::memo::StatMemo>,
}

/// A pending write to one key.
pub struct S3Upload {
    /// `None` once committed or aborted.
    writer: Option<opendal::Writer>,
    target: Target,
    mode: WriteMode,
    /// The key did not exist when the upload opened.
    created: bool,
    /// Bytes written through [`Upload::write`] (not the copied prefix).
    written: u64,
    /// When the writer has no part size of its own (a resumed upload, whose
    /// copied prefix must go as one UploadPartCopy): the part size, and the
    /// bytes gathered towards the next part.
    parts_of: Option<(usize, BytesMut)>,
}

impl S3Upload {
    pub(super) fn new(
        writer: opendal::Writer,
        target: Target,
        mode: WriteMode,
        created: bool,
        parts_of: Option<usize>,
    ) -> Self {
        S3Upload {
            writer: Some(writer),
            target,
            mode,
            created,
            written: 0,
            parts_of: parts_of.map(|size| (size, BytesMut::new())),
        }
    }

    /// Whether the object now at the key is this upload's: its token, and the
    /// size it was to have. A failed lookup counts as no.
    async fn committed_after_all(&self) -> bool {
        let t = &self.target;
        match t.op.stat(&t.key).await {
            Ok(m) => {
                m.content_length() == t.size + self.written
                    && m.user_metadata().and_then(|u| u.get(TOKEN_KEY)) == Some(t.token.as_str())
            }
            Err(_) => false,
        }
    }

    fn writer(&mut self) -> Result<&mut opendal::Writer, StorageError> {
        self.writer
            .as_mut()
            .ok_or_else(|| StorageError::with_source(ErrorKind::Other, "the upload is already finished"))
    }
}

/// How often, and how long apart, an abort is tried again in the background
/// (about two minutes in all): a store that is down for a while still gets
/// its pending upload aborted when it is back.
const ABORT_RETRIES: u32 = 7;
const ABORT_FIRST_DELAY: std::time::Duration = std::time::Duration::from_secs(1);

/// One abort attempt: `Ok` also when the store no longer knows the upload (an
/// earlier attempt whose answer was lost already aborted it).
async fn try_abort(writer: &mut opendal::Writer) -> Result<(), opendal::Error> {
    match writer.abort().await {
        Err(e) if e.kind() == opendal::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Aborts a writer now, or — if the store does not answer — in the background,
/// with growing delays; a failure is logged, never returned: the caller is on
/// a failure path already, and what it reports is the first error.
pub(super) async fn abort_or_hand_off(mut writer: opendal::Writer, key: String) {
    if try_abort(&mut writer).await.is_ok() {
        return;
    }
    retry_abort_in_background(writer, key);
}

fn retry_abort_in_background(mut writer: opendal::Writer, key: String) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        tracing::warn!(
            key,
            "an upload was dropped outside the runtime and could not be aborted"
        );
        return;
    };
    runtime.spawn(async move {
        let mut delay = ABORT_FIRST_DELAY;
        for _ in 0..ABORT_RETRIES {
            tokio::time::sleep(delay).await;
            match try_abort(&mut writer).await {
                Ok(()) => return,
                Err(e) => tracing::debug!(key, error = %e, "aborting a multipart upload failed; trying again"),
            }
            delay *= 2;
        }
        tracing::warn!(
            key,
            "could not abort a multipart upload; a bucket lifecycle rule for incomplete uploads removes it"
        );
    });
}

#[async_trait]
impl Upload for S3Upload {
    async fn write(&mut self, chunk: Bytes) -> Result<(), StorageError> {
        let len = chunk.len() as u64;
        let mut parts = Vec::new();
        match &mut self.parts_of {
            None => parts.push(chunk),
            Some((size, pending)) => {
                // Whole parts only: the writer sends each write of at least
                // 5 MiB as one part.
                pending.extend_from_slice(&chunk);
                while pending.len() >= *size {
                    parts.push(pending.split_to(*size).freeze());
                }
            }
        }
        for part in parts {
            self.writer()?.write(part).await.map_err(storage_error)?;
        }
        self.written += len;
        Ok(())
    }

    async fn commit(mut self: Box<Self>) -> Result<WriteOutcome, StorageError> {
        let mut writer = self
            .writer
            .take()
            .ok_or_else(|| StorageError::with_source(ErrorKind::Other, "the upload is already finished"))?;
        let rest = self.parts_of.take().map(|(_, pending)| pending.freeze());
        let closed = match rest {
            Some(rest) if !rest.is_empty() => match writer.write(rest).await {
                Ok(()) => writer.close().await,
                Err(e) => Err(e),
            },
            _ => writer.close().await,
        };
        // Whatever the answer, the object may have changed.
        self.target.memo.wrote();
        let outcome = WriteOutcome {
            created: self.created,
            bytes: self.written,
        };
        match closed {
            Ok(_) => Ok(outcome),
            Err(e) => {
                // A failed CompleteMultipartUpload leaves the upload open.
                abort_or_hand_off(writer, self.target.key.clone()).await;
                if self.committed_after_all().await {
                    // The store did it; only its answer was lost (and a retry
                    // then found the upload gone, or the name taken by itself).
                    tracing::debug!(key = %self.target.key, error = %e, "the commit's answer was lost, but the object is this upload's");
                    return Ok(outcome);
                }
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
        if let Some(writer) = self.writer.take() {
            abort_or_hand_off(writer, std::mem::take(&mut self.target.key)).await;
        }
        Ok(())
    }
}

impl Drop for S3Upload {
    fn drop(&mut self) {
        if let Some(writer) = self.writer.take() {
            let key = std::mem::take(&mut self.target.key);
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(abort_or_hand_off(writer, key));
            } else {
                tracing::warn!(
                    key,
                    "an upload was dropped outside the runtime and could not be aborted"
                );
            }
        }
    }
}
