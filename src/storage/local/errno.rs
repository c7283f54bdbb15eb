//! The local disk's errno → [`ErrorKind`] table: the one place a system error
//! becomes a storage error kind.

use std::io;

use rustix::io::Errno;

use crate::storage::{ErrorKind, StorageError};

/// The kind of a system error.
pub fn kind_of(errno: Option<Errno>) -> ErrorKind {
    match errno {
        Some(Errno::NOENT) => ErrorKind::NotFound,
        Some(Errno::ACCESS | Errno::PERM | Errno::ROFS) => ErrorKind::PermissionDenied,
        // openat2(RESOLVE_BENEATH) answers EXDEV when resolution would leave the volume,
        // O_NOFOLLOW answers ELOOP on a symlink: both are "you may not go there".
        Some(Errno::XDEV | Errno::LOOP) => ErrorKind::PermissionDenied,
        Some(Errno::EXIST) => ErrorKind::AlreadyExists,
        Some(Errno::NOTDIR) => ErrorKind::NotADirectory,
        Some(Errno::ISDIR) => ErrorKind::IsADirectory,
        Some(Errno::NOTEMPTY) => ErrorKind::DirectoryNotEmpty,
        // E2BIG: an extended attribute (WebDAV dead properties) larger than the file system allows.
        Some(Errno::NOSPC | Errno::DQUOT | Errno::FBIG | Errno::TOOBIG) => ErrorKind::NoSpace,
        Some(Errno::NOTSUP) => ErrorKind::Unsupported,
        Some(Errno::NAMETOOLONG | Errno::INVAL) => ErrorKind::InvalidName,
        _ => ErrorKind::Other,
    }
}

impl From<io::Error> for StorageError {
    fn from(e: io::Error) -> Self {
        let kind = kind_of(e.raw_os_error().map(Errno::from_raw_os_error));
        StorageError::with_source(kind, e)
    }
}

impl From<Errno> for StorageError {
    fn from(e: Errno) -> Self {
        StorageError::from(io::Error::from(e))
    }
}
