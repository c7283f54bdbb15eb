//! Protocol-neutral storage errors.
//!
//! Back-ends report *what* went wrong as an [`ErrorKind`]; the response table in
//! `response::status` decides what each protocol says about it. Nothing here knows a
//! reply code, and nothing here knows a back-end's own error codes: each back-end
//! maps its own (the local disk's errno table lives in `local/errno.rs`).

/// What went wrong, in terms every back-end can express.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The path does not exist.
    NotFound,
    /// The parent directory of the target does not exist.
    ParentMissing,
    /// The back-end refused access (including a symlink pointing outside the volume).
    PermissionDenied,
    /// The target already exists and the operation may not replace it.
    AlreadyExists,
    /// A path component that must be a directory is not.
    NotADirectory,
    /// The target is a directory where a file is needed.
    IsADirectory,
    /// The directory is not empty.
    DirectoryNotEmpty,
    /// The name is not acceptable to the back-end.
    InvalidName,
    /// An offset lies beyond the end of the file.
    InvalidOffset,
    /// Out of space or quota.
    NoSpace,
    /// The back-end cannot do this at all.
    Unsupported,
    /// Another writer holds the file (an append or resumed upload in progress).
    Busy,
    /// The back-end is unreachable or failing for now; retrying may work.
    Unavailable,
    /// Any other failure of the back-end.
    Other,
}

/// A storage failure: a kind, and the underlying cause for logs.
#[derive(Debug, thiserror::Error)]
#[error("{kind:?}")]
pub struct StorageError {
    /// What went wrong.
    pub kind: ErrorKind,
    /// The underlying cause, logged but never shown to clients.
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl StorageError {
    /// An error of `kind` without a further cause.
    pub fn new(kind: ErrorKind) -> Self {
        StorageError { kind, source: None }
    }

    /// An error of `kind` caused by `source`.
    pub fn with_source(kind: ErrorKind, source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        StorageError {
            kind,
            source: Some(source.into()),
        }
    }
}

/// A tree operation (recursive delete or copy) that stopped part-way: what had
/// been done, and where and why it stopped. Reported to the client as it is —
/// a partial result is never presented as a success or as nothing done.
#[derive(Debug, thiserror::Error)]
#[error("stopped at {at} after {done} entries: {error}")]
pub struct TreeError {
    /// Why it stopped.
    #[source]
    pub error: StorageError,
    /// Entries removed (or copied) before it stopped.
    pub done: u64,
    /// The entry it stopped at.
    pub at: crate::path::VirtualPath,
}

impl TreeError {
    /// A failure at `at` before anything was done.
    pub fn at_start(error: StorageError, at: &crate::path::VirtualPath) -> Self {
        TreeError {
            error,
            done: 0,
            at: at.clone(),
        }
    }
}

impl From<StorageError> for TreeError {
    /// A failure before a tree operation could start.
    fn from(error: StorageError) -> Self {
        TreeError {
            error,
            done: 0,
            at: crate::path::VirtualPath::root(),
        }
    }
}
