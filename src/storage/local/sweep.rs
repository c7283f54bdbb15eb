//! Abandoned uploads: temporary files (see `upload.rs`) left by a process that
//! was killed mid-transfer. A live upload's file exists from before its data
//! connection is accepted (at most one data timeout) and is then written at least
//! once per data timeout (a stalled transfer is aborted and its file removed), so
//! a temporary file whose modification time is older than the back-end's
//! stale-upload age (`storage.stale_uploads_after`, 1 hour by default, and always
//! more than three data timeouts) belongs to nobody. Such files are removed by the start-up
//! sweep of the whole tree, and by `rmdir` of a directory that holds nothing else.

use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};

use super::upload::is_temp_name;
use crate::storage::StorageError;

/// True when the entry `name` of `dir` is an upload's temporary file not written
/// to for `stale_after`.
fn is_stale(dir: &impl AsFd, name: &str, stale_after: Duration, now: SystemTime) -> bool {
    if !is_temp_name(name) {
        return false;
    }
    let Ok(st) = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) else {
        return false;
    };
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return false;
    }
    let modified = UNIX_EPOCH + Duration::from_secs(u64::try_from(st.st_mtime).unwrap_or(0));
    now.duration_since(modified).is_ok_and(|age| age >= stale_after)
}

/// Removes the stale uploads directly in `dir`. `Ok(true)` when nothing else is
/// left in it (it can be removed as empty).
pub fn clear_stale_in(dir: &OwnedFd, stale_after: Duration) -> Result<bool, StorageError> {
    let now = SystemTime::now();
    let mut only_stale = true;
    let mut stale = Vec::new();
    let mut reader = rustix::fs::Dir::read_from(dir)?;
    while let Some(entry) = reader.read() {
        let entry = entry?;
        let Ok(name) = entry.file_name().to_str() else {
            only_stale = false;
            continue;
        };
        if name == "." || name == ".." {
            continue;
        }
        if is_stale(dir, name, stale_after, now) {
            stale.push(name.to_owned());
        } else {
            only_stale = false;
        }
    }
    if !only_stale {
        return Ok(false);
    }
    for name in stale {
        rustix::fs::unlinkat(dir, name.as_str(), AtFlags::empty())?;
        tracing::info!(name, "removed an abandoned upload");
    }
    Ok(true)
}

/// Removes every stale upload beneath `root`, never following a symbolic link;
/// returns how many. Unreadable directories are skipped. Directories waiting
/// their turn are kept as (parent, name), so the descriptors held at once grow
/// with the depth of the tree, not with its width.
pub fn sweep_tree(root: &OwnedFd, stale_after: Duration) -> u64 {
    use std::sync::Arc;
    let now = SystemTime::now();
    let mut removed = 0u64;
    let open = |parent: &OwnedFd, name: &str| {
        rustix::fs::openat(
            parent,
            name,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
    };
    let Ok(start) = open(root, ".") else { return 0 };
    let mut pending: Vec<(Arc<OwnedFd>, String)> = Vec::new();
    let mut current = Some(start);
    loop {
        let dir = match current.take() {
            Some(dir) => Arc::new(dir),
            None => match pending.pop() {
                Some((parent, name)) => match open(&parent, &name) {
                    Ok(dir) => Arc::new(dir),
                    Err(_) => continue,
                },
                None => break,
            },
        };
        let Ok(mut reader) = rustix::fs::Dir::read_from(&*dir) else {
            continue;
        };
        let mut stale = Vec::new();
        while let Some(Ok(entry)) = reader.read() {
            let Ok(name) = entry.file_name().to_str() else { continue };
            if name == "." || name == ".." {
                continue;
            }
            let file_type = match entry.file_type() {
                FileType::Unknown => match rustix::fs::statat(&*dir, name, AtFlags::SYMLINK_NOFOLLOW) {
                    Ok(st) => FileType::from_raw_mode(st.st_mode),
                    Err(_) => continue,
                },
                known => known,
            };
            if file_type == FileType::Directory {
                pending.push((dir.clone(), name.to_owned()));
            } else if is_stale(&*dir, name, stale_after, now) {
                stale.push(name.to_owned());
            }
        }
        for name in stale {
            if rustix::fs::unlinkat(&*dir, name.as_str(), AtFlags::empty()).is_ok() {
                removed += 1;
            }
        }
    }
    removed
}
