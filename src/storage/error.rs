//! Protocol-neutral storage errors.
//!
//! Back-ends report *what* went wrong as an [`ErrorKind`]; the response table in
//! `response::status` decides what each protocol says about it. Nothing here knows a
//! reply code.

use std::io;

/// What went wrong, in terms every back-end can express.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The path does not exist.
    NotFound,
    /// The parent directory of the target does not exist.
    ParentMissing,
    /// The back-end refused access (including a symlink pointing outside the root).
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

impl From<io::Error> for StorageError {
    fn from(e: io::Error) -> Self {
        let kind = match e.raw_os_error().map(rustix::io::Errno::from_raw_os_error) {
            Some(rustix::io::Errno::NOENT) => ErrorKind::NotFound,
            Some(rustix::io::Errno::ACCESS | rustix::io::Errno::PERM | rustix::io::Errno::ROFS) => {
                ErrorKind::PermissionDenied
            }
            // openat2(RESOLVE_BENEATH) answers EXDEV when resolution would leave the root,
            // O_NOFOLLOW answers ELOOP on a symlink: both are "you may not go there".
            Some(rustix::io::Errno::XDEV | rustix::io::Errno::LOOP) => ErrorKind::PermissionDenied,
            Some(rustix::io::Errno::EXIST) => ErrorKind::AlreadyExists,
            Some(rustix::io::Errno::NOTDIR) => ErrorKind::NotADirectory,
            Some(rustix::io::Errno::ISDIR) => ErrorKind::IsADirectory,
            Some(rustix::io::Errno::NOTEMPTY) => ErrorKind::DirectoryNotEmpty,
            // E2BIG: an extended attribute (WebDAV dead properties) larger than the file system allows.
            Some(
                rustix::io::Errno::NOSPC
                | rustix::io::Errno::DQUOT
                | rustix::io::Errno::FBIG
                | rustix::io::Errno::TOOBIG,
            ) => ErrorKind::NoSpace,
            Some(rustix::io::Errno::NOTSUP) => ErrorKind::Unsupported,
            Some(rustix::io::Errno::NAMETOOLONG | rustix::io::Errno::INVAL) => ErrorKind::InvalidName,
            _ => ErrorKind::Other,
        };
        StorageError::with_source(kind, e)
    }
}

impl From<rustix::io::Errno> for StorageError {
    fn from(e: rustix::io::Errno) -> Self {
        StorageError::from(io::Error::from(e))
    }
}
