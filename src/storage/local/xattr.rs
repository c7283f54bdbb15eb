//! WebDAV dead properties on local disk: one `user.` extended attribute per file
//! or directory, holding the opaque blob the WebDAV module encodes.

use std::os::fd::AsFd;

use rustix::io::Errno;

use crate::storage::{ErrorKind, StorageError};

/// The extended attribute that holds a file's WebDAV dead properties.
const DEAD_PROPS_XATTR: &str = "user.dualgate.dav";

/// Reads the dead-property blob of an open file or directory (empty: none).
pub fn read_dead_props(fd: &impl AsFd) -> Result<Vec<u8>, StorageError> {
    let size = match rustix::fs::fgetxattr_query(fd, DEAD_PROPS_XATTR) {
        Ok(n) => n,
        Err(Errno::NODATA) => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let mut buf = vec![0u8; size];
    let n = rustix::fs::fgetxattr(fd, DEAD_PROPS_XATTR, &mut buf[..])?;
    buf.truncate(n);
    Ok(buf)
}

/// Stores (or, for an empty blob, removes) the dead-property blob.
pub fn write_dead_props(fd: &impl AsFd, blob: &[u8]) -> Result<(), StorageError> {
    if blob.is_empty() {
        return match rustix::fs::fremovexattr(fd, DEAD_PROPS_XATTR) {
            Ok(()) | Err(Errno::NODATA) => Ok(()),
            Err(e) => Err(e.into()),
        };
    }
    Ok(rustix::fs::fsetxattr(
        fd,
        DEAD_PROPS_XATTR,
        blob,
        rustix::fs::XattrFlags::empty(),
    )?)
}

/// Carries dead properties along with a copy (a file system without user
/// extended attributes has none to carry).
pub fn copy_dead_props(from: &impl AsFd, to: &impl AsFd) -> Result<(), StorageError> {
    match read_dead_props(from) {
        Ok(blob) if blob.is_empty() => Ok(()),
        Ok(blob) => write_dead_props(to, &blob),
        Err(e) if e.kind == ErrorKind::Unsupported => Ok(()),
        Err(e) => Err(e),
    }
}
