//! Trees on local disk, walked by directory descriptor and never through a
//! symbolic link (`O_NOFOLLOW` on every step, `statat(AT_SYMLINK_NOFOLLOW)` for
//! every entry) — so a link placed inside a tree, or a directory swapped for one
//! while the walk runs, is handled as the link it is:
//!
//! - remove (`rm -r`): a link is unlinked, never followed;
//! - copy (`cp -r`): a link is copied as a link (its target text unchanged; it is
//!   resolved beneath the volume, like every path, whenever it is used).
//!
//! Both are iterative, so a deep tree cannot overflow the stack, and both report
//! how far they got when they stop part-way.

use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use super::upload::is_temp_name;
use super::xattr::copy_dead_props;
use crate::path::VirtualPath;
use crate::storage::{ErrorKind, StorageError, TreeError};

fn open_dir_nofollow(parent: &impl AsFd, name: &str) -> Result<OwnedFd, Errno> {
    rustix::fs::openat(
        parent,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

/// The type of entry `name` of `dir`, without following a link.
fn type_of(dir: &impl AsFd, name: &str) -> Result<FileType, Errno> {
    rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW).map(|st| FileType::from_raw_mode(st.st_mode))
}

/// Directory entries except `.` and `..` (names that are not UTF-8 included as
/// raw bytes would be unnameable; they are reported as an error).
fn entries(dir: &OwnedFd) -> Result<Vec<String>, Errno> {
    let mut names = Vec::new();
    let mut reader = rustix::fs::Dir::read_from(dir)?;
    while let Some(entry) = reader.read() {
        let entry = entry?;
        let bytes = entry.file_name().to_bytes();
        if bytes == b"." || bytes == b".." {
            continue;
        }
        match std::str::from_utf8(bytes) {
            Ok(name) => names.push(name.to_owned()),
            Err(_) => return Err(Errno::ILSEQ),
        }
    }
    Ok(names)
}

/// Removes entry `name` of `parent` (the directory `path` names), and everything
/// beneath it if it is a real directory. Returns the entries removed.
pub fn remove(parent: OwnedFd, name: &str, path: &VirtualPath) -> Result<u64, TreeError> {
    struct Frame {
        parent: Arc<OwnedFd>,
        name: String,
        path: VirtualPath,
        emptied: bool,
    }
    let mut done = 0u64;
    let fail = |e: Errno, at: &VirtualPath, done: u64| TreeError {
        error: StorageError::from(e),
        done,
        at: at.clone(),
    };
    let mut stack = vec![Frame {
        parent: Arc::new(parent),
        name: name.to_owned(),
        path: path.clone(),
        emptied: false,
    }];
    while let Some(frame) = stack.pop() {
        if frame.emptied {
            rustix::fs::unlinkat(&*frame.parent, frame.name.as_str(), AtFlags::REMOVEDIR)
                .map_err(|e| fail(e, &frame.path, done))?;
            done += 1;
            continue;
        }
        let dir = match open_dir_nofollow(&*frame.parent, &frame.name) {
            Ok(dir) => Arc::new(dir),
            // A file, or a link (to anything): removed as itself.
            Err(Errno::NOTDIR | Errno::LOOP) => {
                rustix::fs::unlinkat(&*frame.parent, frame.name.as_str(), AtFlags::empty())
                    .map_err(|e| fail(e, &frame.path, done))?;
                done += 1;
                continue;
            }
            Err(e) => return Err(fail(e, &frame.path, done)),
        };
        let names = entries(&dir).map_err(|e| fail(e, &frame.path, done))?;
        let dir_path = frame.path.clone();
        stack.push(Frame { emptied: true, ..frame });
        for name in names {
            let child = dir_path.join_name(&name).unwrap_or_else(|_| dir_path.clone());
            match type_of(&*dir, &name) {
                Ok(FileType::Directory) => stack.push(Frame {
                    parent: dir.clone(),
                    name,
                    path: child,
                    emptied: false,
                }),
                Ok(_) => {
                    rustix::fs::unlinkat(&*dir, name.as_str(), AtFlags::empty()).map_err(|e| fail(e, &child, done))?;
                    done += 1;
                }
                Err(Errno::NOENT) => {} // gone meanwhile
                Err(e) => return Err(fail(e, &child, done)),
            }
        }
    }
    Ok(done)
}

/// Copies the contents of one open file into another (`copy_file_range`, or
/// reads and writes where the file system cannot).
pub fn copy_contents(src: &OwnedFd, dst: &File) -> Result<(), StorageError> {
    let size = u64::try_from(rustix::fs::fstat(src)?.st_size).unwrap_or(0);
    let mut copied = 0u64;
    while copied < size {
        let want = usize::try_from(size - copied).unwrap_or(usize::MAX).min(1 << 30);
        let mut off_in = copied;
        let mut off_out = copied;
        let n = match rustix::fs::copy_file_range(src, Some(&mut off_in), dst, Some(&mut off_out), want) {
            Ok(n) => n,
            Err(Errno::XDEV | Errno::NOSYS | Errno::INVAL | Errno::OPNOTSUPP) => {
                let src_file = File::from(src.try_clone()?);
                let mut buf = vec![0u8; 256 * 1024];
                let mut pos = copied;
                loop {
                    let n = src_file.read_at(&mut buf, pos)?;
                    if n == 0 {
                        break;
                    }
                    dst.write_all_at(&buf[..n], pos)?;
                    pos += n as u64;
                }
                break;
            }
            Err(e) => return Err(e.into()),
        };
        if n == 0 {
            break;
        }
        copied += n as u64;
    }
    Ok(())
}

/// Where a directory to copy is: the one the caller opened, or a member of a
/// directory being copied (opened when its turn comes, so the descriptors held
/// at once grow with the depth of the tree, not with its width).
enum Source {
    Open(OwnedFd),
    Member(Arc<OwnedFd>, String),
}

/// Copies directory `src_dir` (already open) into the new directory `dst_name`
/// of `dst_parent`, member by member; `copy_file(src, dst_dir, name)` copies one
/// file. Never follows a link: links are copied as links.
pub fn copy_dir(
    src_dir: OwnedFd,
    dst_parent: OwnedFd,
    dst_name: &str,
    dst_path: &VirtualPath,
    copy_file: &mut dyn FnMut(OwnedFd, &OwnedFd, &str) -> Result<(), StorageError>,
) -> Result<u64, TreeError> {
    let mut done = 0u64;
    let fail = |error: StorageError, at: &VirtualPath, done: u64| TreeError {
        error,
        done,
        at: at.clone(),
    };
    // The directories this copy made (device, inode): when the source reaches the
    // destination through a link (`COPY /link-to-d` to `/d/c`), the copy must not
    // copy itself, and would otherwise never end.
    let mut made_here: std::collections::HashSet<(u64, u64)> = std::collections::HashSet::new();
    let id = |st: &rustix::fs::Stat| (st.st_dev, st.st_ino);
    // (source, destination parent, destination name, destination path)
    let mut pending = vec![(
        Source::Open(src_dir),
        Arc::new(dst_parent),
        dst_name.to_owned(),
        dst_path.clone(),
    )];
    while let Some((source, parent, name, path)) = pending.pop() {
        let src = Arc::new(match source {
            Source::Open(fd) => fd,
            Source::Member(dir, member) => {
                open_dir_nofollow(&*dir, &member).map_err(|e| fail(e.into(), &path, done))?
            }
        });
        rustix::fs::mkdirat(&*parent, name.as_str(), Mode::from_raw_mode(0o755))
            .map_err(|e| fail(e.into(), &path, done))?;
        let made = Arc::new(open_dir_nofollow(&*parent, &name).map_err(|e| fail(e.into(), &path, done))?);
        made_here.insert(id(&rustix::fs::fstat(&*made).map_err(|e| fail(e.into(), &path, done))?));
        copy_dead_props(&*src, &*made).map_err(|e| fail(e, &path, done))?;
        done += 1;
        for member in entries(&src).map_err(|e| fail(e.into(), &path, done))? {
            if is_temp_name(&member) {
                continue; // someone's upload in progress: not part of the tree yet
            }
            let child = path
                .join_name(&member)
                .map_err(|_| fail(StorageError::new(ErrorKind::InvalidName), &path, done))?;
            let at = |e: Errno| fail(e.into(), &child, done);
            match type_of(&*src, &member).map_err(at)? {
                FileType::Directory
                    if rustix::fs::statat(&*src, member.as_str(), AtFlags::SYMLINK_NOFOLLOW)
                        .is_ok_and(|st| made_here.contains(&id(&st))) =>
                {
                    // The copy itself, met inside its source: not copied into itself.
                }
                FileType::Directory => {
                    pending.push((Source::Member(src.clone(), member.clone()), made.clone(), member, child));
                }
                FileType::Symlink => {
                    let target = rustix::fs::readlinkat(&*src, member.as_str(), Vec::new()).map_err(at)?;
                    rustix::fs::symlinkat(target.as_c_str(), &*made, member.as_str()).map_err(at)?;
                    done += 1;
                }
                FileType::RegularFile => {
                    let file = rustix::fs::openat(
                        &*src,
                        member.as_str(),
                        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
                        Mode::empty(),
                    )
                    .map_err(at)?;
                    copy_file(file, &made, &member).map_err(|e| fail(e, &child, done))?;
                    done += 1;
                }
                // Devices, fifos, sockets: not served, not copied.
                _ => {}
            }
        }
    }
    Ok(done)
}
