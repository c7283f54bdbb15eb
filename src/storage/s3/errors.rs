//! The object store's errors as [`ErrorKind`]s: the one table from OpenDAL's
//! error kinds to the gateway's. The response table then decides what FTP and
//! HTTP say (missing → 550/404, denied → 550/403, unavailable → 451/503).

use crate::storage::{ErrorKind, StorageError};

/// Maps an OpenDAL error; the original stays attached as the source (for logs).
pub fn storage_error(e: opendal::Error) -> StorageError {
    use opendal::ErrorKind as O;
    let kind = match e.kind() {
        O::NotFound => ErrorKind::NotFound,
        O::PermissionDenied => ErrorKind::PermissionDenied,
        O::AlreadyExists => ErrorKind::AlreadyExists,
        O::IsADirectory => ErrorKind::IsADirectory,
        O::NotADirectory => ErrorKind::NotADirectory,
        O::RangeNotSatisfied => ErrorKind::InvalidOffset,
        O::Unsupported => ErrorKind::Unsupported,
        // A pinned read or copy whose object was replaced meanwhile: another
        // writer got there first.
        O::ConditionNotMatch | O::Conflict => ErrorKind::Busy,
        O::ConfigInvalid => ErrorKind::Other,
        // Throttling, timeouts, resets, 5xx after the retries: the store is
        // failing for now.
        _ => ErrorKind::Unavailable,
    };
    StorageError::with_source(kind, e)
}

/// Maps an error of a byte stream (a read cut after its retries).
pub fn stream_error(e: std::io::Error) -> StorageError {
    StorageError::with_source(ErrorKind::Unavailable, e)
}
