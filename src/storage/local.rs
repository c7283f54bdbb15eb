//! The local-disk back-end: the default storage, confined beneath its root at the
//! syscall.
//!
//! Every path is opened relative to a directory descriptor of the root with
//! `openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)`, so the kernel itself refuses
//! any resolution — `..`, absolute symlinks, relative symlinks — that would leave
//! the root (`EXDEV` → `PermissionDenied`). Operations on a final name (`unlinkat`,
//! `mkdirat`, `renameat`, `openat` with `O_NOFOLLOW`) act on a confined parent
//! descriptor, so a symlink as the last component is never followed out.
//!
//! Uploads are written to a hidden temporary file in the target's directory,
//! fsynced, renamed over the target and the directory fsynced: the name shows the
//! old file or the complete new one, never a partial one. Temporary names are
//! hidden from listings and cannot be named by clients.
//!
//! Calls are blocking syscalls. Those that can take long — listings, uploads
//! (fsync), copies, renames, deletes — run on tokio's blocking pool. `stat` and the
//! `open` of a download run inline on the I/O thread by default (`inline_metadata`),
//! as nginx does: on a local disk they are answered from the dentry and inode caches
//! in microseconds, and the hand-off to a pool thread and back (two futex wake-ups)
//! cost more than the call itself — 40% of the server's CPU in a load of small
//! downloads (bench/RESULTS.md). On a network file system a `stat` can hang for
//! seconds; `inline_metadata: false` moves them to the pool too.

use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;
use rustix::fs::{AtFlags, FileType, Mode, OFlags, RenameFlags, ResolveFlags, Stat};
use rustix::io::Errno;

use super::{
    Capabilities, DirEntry, EntryKind, ErrorKind, FileRegion, FileSink, ListStream, Metadata, ReadBody, ReadHandle,
    Storage, StorageError, Upload, WriteMode, WriteOutcome,
};
use crate::path::VirtualPath;

/// Prefix of in-progress upload files; such names are invisible and unnameable.
const TEMP_PREFIX: &str = ".dualgate-upload-";
/// Entries per listing batch.
const LIST_BATCH: usize = 256;

/// Local-disk storage rooted at one directory.
#[derive(Debug, Clone)]
pub struct LocalStorage {
    root: Arc<OwnedFd>,
    root_path: Arc<Path>,
    inline_metadata: bool,
}

impl LocalStorage {
    /// Opens (creating it if missing) the root directory. Fails if the kernel lacks
    /// `openat2` (Linux < 5.6), because confinement could not be guaranteed.
    pub fn open(root: &Path) -> Result<Self, StorageError> {
        std::fs::create_dir_all(root)?;
        let fd = rustix::fs::open(root, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?;
        let storage = LocalStorage {
            root: Arc::new(fd),
            root_path: Arc::from(root),
            inline_metadata: true,
        };
        match storage.beneath(&VirtualPath::root(), OFlags::PATH | OFlags::DIRECTORY) {
            Err(Errno::NOSYS) => Err(StorageError::with_source(
                ErrorKind::Unsupported,
                "the kernel lacks openat2(2) (Linux 5.6 or later is required to confine paths)",
            )),
            Err(e) => Err(e.into()),
            Ok(_) => Ok(storage),
        }
    }

    /// Whether `stat` and the `open` of a download run inline (see the module docs).
    #[must_use]
    pub fn with_inline_metadata(mut self, inline: bool) -> Self {
        self.inline_metadata = inline;
        self
    }

    /// Runs a short metadata call inline, or on the blocking pool when
    /// `inline_metadata` is off.
    async fn metadata_call<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T, StorageError> + Send + 'static,
    ) -> Result<T, StorageError> {
        if self.inline_metadata { f() } else { blocking(f).await }
    }

    /// The root directory on disk.
    pub fn root_path(&self) -> &Path {
        &self.root_path
    }

    /// Opens `path` beneath the root, following symlinks only while they stay inside.
    fn beneath(&self, path: &VirtualPath, flags: OFlags) -> Result<OwnedFd, Errno> {
        let rel = if path.is_root() { "." } else { path.relative() };
        loop {
            match rustix::fs::openat2(
                &*self.root,
                rel,
                flags | OFlags::CLOEXEC,
                // openat2 refuses a mode unless it creates.
                if flags.contains(OFlags::CREATE) {
                    Mode::from_raw_mode(0o644)
                } else {
                    Mode::empty()
                },
                ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS,
            ) {
                Err(Errno::AGAIN | Errno::INTR) => continue,
                other => return other,
            }
        }
    }

    /// Opens the parent directory of `path` (readable, so it can be fsynced) and
    /// returns it with the final name. A missing parent is `ParentMissing`.
    fn parent_of<'p>(&self, path: &'p VirtualPath) -> Result<(OwnedFd, &'p str), StorageError> {
        let name = path
            .file_name()
            .ok_or_else(|| StorageError::new(ErrorKind::PermissionDenied))?;
        refuse_temp_name(path)?;
        let dir = self
            .beneath(&path.parent(), OFlags::RDONLY | OFlags::DIRECTORY)
            .map_err(|e| match StorageError::from(e) {
                StorageError {
                    kind: ErrorKind::NotFound | ErrorKind::NotADirectory,
                    source,
                } => StorageError {
                    kind: ErrorKind::ParentMissing,
                    source,
                },
                other => other,
            })?;
        Ok((dir, name))
    }

    fn stat_blocking(&self, path: &VirtualPath) -> Result<Metadata, StorageError> {
        refuse_temp_name(path).map_err(|_| StorageError::new(ErrorKind::NotFound))?;
        let fd = self.beneath(path, OFlags::PATH)?;
        metadata(&rustix::fs::fstat(&fd)?)
    }

    fn list_blocking(
        &self,
        dir: &VirtualPath,
        fd: OwnedFd,
        tx: &tokio::sync::mpsc::Sender<Result<Vec<DirEntry>, StorageError>>,
    ) {
        let mut reader = match rustix::fs::Dir::read_from(&fd) {
            Ok(r) => r,
            Err(e) => {
                let _ = tx.blocking_send(Err(e.into()));
                return;
            }
        };
        let mut batch = Vec::with_capacity(LIST_BATCH);
        while let Some(item) = reader.read() {
            let entry = match item {
                Ok(e) => e,
                Err(e) => {
                    let _ = tx.blocking_send(Err(e.into()));
                    return;
                }
            };
            let Ok(name) = entry.file_name().to_str() else {
                tracing::debug!(dir = %dir, "skipping a name that is not UTF-8");
                continue;
            };
            if name == "." || name == ".." || name.starts_with(TEMP_PREFIX) {
                continue;
            }
            let Ok(st) = rustix::fs::statat(&fd, name, AtFlags::SYMLINK_NOFOLLOW) else {
                continue; // vanished since readdir
            };
            let st = if FileType::from_raw_mode(st.st_mode) == FileType::Symlink {
                // Show a symlink as what it points to, but only while it stays inside the root.
                let Ok(target) = dir.join_name(name) else { continue };
                match self.beneath(&target, OFlags::PATH).and_then(|t| rustix::fs::fstat(&t)) {
                    Ok(st) => st,
                    Err(_) => continue,
                }
            } else {
                st
            };
            let Ok(meta) = metadata(&st) else { continue }; // devices, fifos, sockets: not served
            batch.push(DirEntry {
                name: name.to_owned(),
                meta,
            });
            if batch.len() == LIST_BATCH {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(LIST_BATCH));
                if tx.blocking_send(Ok(full)).is_err() {
                    return; // consumer went away
                }
            }
        }
        if !batch.is_empty() {
            let _ = tx.blocking_send(Ok(batch));
        }
    }

    fn read_blocking(&self, path: &VirtualPath, offset: u64, len: Option<u64>) -> Result<ReadHandle, StorageError> {
        refuse_temp_name(path).map_err(|_| StorageError::new(ErrorKind::NotFound))?;
        // O_NONBLOCK keeps a FIFO from blocking the open; it is refused just below.
        let fd = self.beneath(path, OFlags::RDONLY | OFlags::NONBLOCK)?;
        let meta = metadata(&rustix::fs::fstat(&fd)?)?;
        if meta.is_dir() {
            return Err(StorageError::new(ErrorKind::IsADirectory));
        }
        if offset > meta.size {
            return Err(StorageError::new(ErrorKind::InvalidOffset));
        }
        let avail = meta.size - offset;
        let len = len.map_or(avail, |l| l.min(avail));
        Ok(ReadHandle {
            meta,
            body: ReadBody::File(FileRegion {
                file: File::from(fd),
                offset,
                len,
                inline_reads: self.inline_metadata,
            }),
        })
    }

    fn write_blocking(&self, path: &VirtualPath, mode: WriteMode) -> Result<LocalUpload, StorageError> {
        let (parent, name) = self.parent_of(path)?;
        let existing = match rustix::fs::statat(&parent, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Directory => {
                return Err(StorageError::new(ErrorKind::IsADirectory));
            }
            Ok(st) => Some(st),
            Err(Errno::NOENT) => None,
            Err(e) => return Err(e.into()),
        };
        let name = name.to_owned();
        let existed = existing.is_some();
        match mode {
            WriteMode::Replace | WriteMode::CreateNew => {
                if mode == WriteMode::CreateNew && existed {
                    return Err(StorageError::new(ErrorKind::AlreadyExists));
                }
                let tmp = format!("{TEMP_PREFIX}{:016x}", rand::random::<u64>());
                let fd = rustix::fs::openat(
                    &parent,
                    tmp.as_str(),
                    OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o644),
                )?;
                Ok(LocalUpload {
                    file: Arc::new(File::from(fd)),
                    parent,
                    target: name,
                    temp: Some(tmp),
                    mode,
                    pos: 0,
                    written: 0,
                    existed,
                })
            }
            WriteMode::Append | WriteMode::At(_) => {
                let mut flags = OFlags::WRONLY | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::CLOEXEC;
                if mode == WriteMode::Append {
                    flags |= OFlags::APPEND;
                }
                let fd = rustix::fs::openat(&parent, name.as_str(), flags, Mode::from_raw_mode(0o644))?;
                let st = rustix::fs::fstat(&fd)?;
                if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
                    return Err(StorageError::new(ErrorKind::PermissionDenied));
                }
                let size = u64::try_from(st.st_size).unwrap_or(0);
                let pos = match mode {
                    WriteMode::At(off) if off > size => return Err(StorageError::new(ErrorKind::InvalidOffset)),
                    WriteMode::At(off) => {
                        rustix::fs::ftruncate(&fd, off)?;
                        off
                    }
                    _ => size,
                };
                Ok(LocalUpload {
                    file: Arc::new(File::from(fd)),
                    parent,
                    target: name,
                    temp: None,
                    mode,
                    pos,
                    written: 0,
                    existed,
                })
            }
        }
    }

    fn copy_file_blocking(&self, from: &VirtualPath, to: &VirtualPath) -> Result<(), StorageError> {
        let src = self.beneath(from, OFlags::RDONLY | OFlags::NONBLOCK)?;
        let upload = self.write_blocking(to, WriteMode::CreateNew)?;
        let size = u64::try_from(rustix::fs::fstat(&src)?.st_size).unwrap_or(0);
        let mut copied = 0u64;
        while copied < size {
            let want = usize::try_from(size - copied).unwrap_or(usize::MAX).min(1 << 30);
            let mut off_in = copied;
            let n = match rustix::fs::copy_file_range(&src, Some(&mut off_in), &*upload.file, None, want) {
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
                        upload.file.write_all_at(&buf[..n], pos)?;
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
        copy_dead_props(&src, &*upload.file)?;
        upload.commit_blocking().map(|_| ())
    }

    fn copy_blocking(&self, from: &VirtualPath, to: &VirtualPath) -> Result<(), StorageError> {
        if to.starts_with(from) {
            return Err(StorageError::new(ErrorKind::InvalidName)); // into itself: would never end
        }
        // Iterative walk: a deep tree cannot overflow the stack.
        let mut pending = vec![(from.clone(), to.clone())];
        while let Some((src, dst)) = pending.pop() {
            let meta = self.stat_blocking(&src)?;
            if !meta.is_dir() {
                self.copy_file_blocking(&src, &dst)?;
                continue;
            }
            let (parent, name) = self.parent_of(&dst)?;
            rustix::fs::mkdirat(&parent, name, Mode::from_raw_mode(0o755))?;
            let dir = self.beneath(&src, OFlags::RDONLY | OFlags::DIRECTORY)?;
            let made = self.beneath(&dst, OFlags::RDONLY | OFlags::DIRECTORY)?;
            copy_dead_props(&dir, &made)?;
            let mut reader = rustix::fs::Dir::read_from(&dir)?;
            while let Some(entry) = reader.read() {
                let entry = entry?;
                let Ok(name) = entry.file_name().to_str() else { continue };
                if name == "." || name == ".." || name.starts_with(TEMP_PREFIX) {
                    continue;
                }
                let (Ok(s), Ok(d)) = (src.join_name(name), dst.join_name(name)) else {
                    return Err(StorageError::new(ErrorKind::InvalidName));
                };
                pending.push((s, d));
            }
        }
        Ok(())
    }
}

/// Runs blocking storage work on tokio's blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StorageError> + Send + 'static,
) -> Result<T, StorageError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StorageError::with_source(ErrorKind::Other, e))?
}

fn refuse_temp_name(path: &VirtualPath) -> Result<(), StorageError> {
    if path.components().any(|c| c.starts_with(TEMP_PREFIX)) {
        return Err(StorageError::new(ErrorKind::InvalidName));
    }
    Ok(())
}

fn metadata(st: &Stat) -> Result<Metadata, StorageError> {
    let kind = match FileType::from_raw_mode(st.st_mode) {
        FileType::RegularFile => EntryKind::File,
        FileType::Directory => EntryKind::Dir,
        _ => return Err(StorageError::new(ErrorKind::PermissionDenied)),
    };
    let modified = u64::try_from(st.st_mtime)
        .ok()
        .map(|s| UNIX_EPOCH + Duration::new(s, u32::try_from(st.st_mtime_nsec).unwrap_or(0)));
    Ok(Metadata {
        kind,
        size: u64::try_from(st.st_size).unwrap_or(0),
        modified,
        mode: Some(st.st_mode & 0o7777),
        unique: Some(st.st_ino),
    })
}

/// An upload in progress on local disk.
struct LocalUpload {
    file: Arc<File>,
    parent: OwnedFd,
    target: String,
    /// The temporary name, for `Replace`/`CreateNew`; `None` once published or for in-place modes.
    temp: Option<String>,
    mode: WriteMode,
    pos: u64,
    written: u64,
    existed: bool,
}

impl LocalUpload {
    fn commit_blocking(mut self) -> Result<WriteOutcome, StorageError> {
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
}

impl Drop for LocalUpload {
    fn drop(&mut self) {
        if let Some(tmp) = self.temp.take() {
            // Abort: nothing of this upload may remain.
            if let Err(e) = rustix::fs::unlinkat(&self.parent, tmp.as_str(), AtFlags::empty()) {
                tracing::warn!(error = %e, "could not remove an aborted upload's temporary file");
            }
        }
    }
}

#[async_trait]
impl Upload for LocalUpload {
    async fn write(&mut self, chunk: Bytes) -> Result<(), StorageError> {
        let file = self.file.clone();
        let pos = self.pos;
        let append = self.mode == WriteMode::Append;
        let len = chunk.len() as u64;
        blocking(move || {
            if append {
                use std::io::Write;
                (&*file).write_all(&chunk)?;
            } else {
                file.write_all_at(&chunk, pos)?;
            }
            Ok(())
        })
        .await?;
        self.pos += len;
        self.written += len;
        Ok(())
    }

    fn file_sink(&mut self) -> Option<FileSink<'_>> {
        // splice(2) refuses files opened with O_APPEND; appends take the write path.
        if self.mode == WriteMode::Append {
            return None;
        }
        Some(FileSink::new(&self.file, &mut self.pos, &mut self.written))
    }

    async fn commit(self: Box<Self>) -> Result<WriteOutcome, StorageError> {
        blocking(move || (*self).commit_blocking()).await
    }
}

#[async_trait]
impl Storage for LocalStorage {
    fn name(&self) -> &'static str {
        "fs"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            append: true,
            write_at: true,
            atomic_rename: true,
            real_directories: true,
            modes: true,
            zero_copy: true,
            dead_properties: true,
        }
    }

    async fn stat(&self, path: &VirtualPath) -> Result<Metadata, StorageError> {
        let (this, path) = (self.clone(), path.clone());
        self.metadata_call(move || this.stat_blocking(&path)).await
    }

    async fn list(&self, path: &VirtualPath) -> Result<ListStream, StorageError> {
        let (this, dir) = (self.clone(), path.clone());
        let fd = blocking({
            let (this, dir) = (this.clone(), dir.clone());
            move || {
                refuse_temp_name(&dir).map_err(|_| StorageError::new(ErrorKind::NotFound))?;
                Ok(this.beneath(&dir, OFlags::RDONLY | OFlags::DIRECTORY)?)
            }
        })
        .await?;
        let (tx, rx) = tokio::sync::mpsc::channel(2);
        tokio::task::spawn_blocking(move || this.list_blocking(&dir, fd, &tx));
        Ok(Box::pin(futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        })))
    }

    async fn read(&self, path: &VirtualPath, offset: u64, len: Option<u64>) -> Result<ReadHandle, StorageError> {
        let (this, path) = (self.clone(), path.clone());
        self.metadata_call(move || this.read_blocking(&path, offset, len)).await
    }

    async fn write(&self, path: &VirtualPath, mode: WriteMode) -> Result<Box<dyn Upload>, StorageError> {
        let (this, path) = (self.clone(), path.clone());
        let upload = blocking(move || this.write_blocking(&path, mode)).await?;
        Ok(Box::new(upload))
    }

    async fn delete(&self, path: &VirtualPath) -> Result<(), StorageError> {
        let (this, path) = (self.clone(), path.clone());
        blocking(move || {
            let (parent, name) = this.parent_of(&path)?;
            let st = rustix::fs::statat(&parent, name, AtFlags::SYMLINK_NOFOLLOW)?;
            if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
                return Err(StorageError::new(ErrorKind::IsADirectory));
            }
            Ok(rustix::fs::unlinkat(&parent, name, AtFlags::empty())?)
        })
        .await
    }

    async fn set_mode(&self, path: &VirtualPath, mode: u32) -> Result<(), StorageError> {
        if mode & !0o777 != 0 || path.is_root() {
            // No set-id or sticky bits through a file gateway, and the root stays as deployed.
            return Err(StorageError::new(ErrorKind::PermissionDenied));
        }
        let (this, path) = (self.clone(), path.clone());
        blocking(move || {
            refuse_temp_name(&path)?;
            // A confined O_PATH descriptor of the object itself; chmod through its
            // /proc/self/fd entry acts on exactly that object (fchmod refuses O_PATH
            // descriptors, and opening for reading would fail on a mode-000 file).
            let fd = this.beneath(&path, OFlags::PATH)?;
            let proc_path = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&fd));
            Ok(rustix::fs::chmod(proc_path.as_str(), Mode::from_raw_mode(mode))?)
        })
        .await
    }

    async fn mkdir(&self, path: &VirtualPath) -> Result<(), StorageError> {
        let (this, path) = (self.clone(), path.clone());
        blocking(move || {
            let (parent, name) = this.parent_of(&path)?;
            Ok(rustix::fs::mkdirat(&parent, name, Mode::from_raw_mode(0o755))?)
        })
        .await
    }

    async fn rmdir(&self, path: &VirtualPath) -> Result<(), StorageError> {
        let (this, path) = (self.clone(), path.clone());
        blocking(move || {
            let (parent, name) = this.parent_of(&path)?;
            Ok(rustix::fs::unlinkat(&parent, name, AtFlags::REMOVEDIR)?)
        })
        .await
    }

    async fn rename(&self, from: &VirtualPath, to: &VirtualPath) -> Result<(), StorageError> {
        let (this, from, to) = (self.clone(), from.clone(), to.clone());
        blocking(move || {
            if to.starts_with(&from) && to != from {
                return Err(StorageError::new(ErrorKind::InvalidName));
            }
            let (pf, nf) = this.parent_of(&from)?;
            let (pt, nt) = this.parent_of(&to)?;
            Ok(rustix::fs::renameat(&pf, nf, &pt, nt)?)
        })
        .await
    }

    async fn copy(&self, from: &VirtualPath, to: &VirtualPath) -> Result<(), StorageError> {
        let (this, from, to) = (self.clone(), from.clone(), to.clone());
        blocking(move || this.copy_blocking(&from, &to)).await
    }

    async fn dead_props(&self, path: &VirtualPath) -> Result<Vec<u8>, StorageError> {
        let (this, path) = (self.clone(), path.clone());
        self.metadata_call(move || {
            refuse_temp_name(&path).map_err(|_| StorageError::new(ErrorKind::NotFound))?;
            let fd = this.beneath(&path, OFlags::RDONLY | OFlags::NONBLOCK)?;
            read_dead_props(&fd)
        })
        .await
    }

    async fn set_dead_props(&self, path: &VirtualPath, blob: Vec<u8>) -> Result<(), StorageError> {
        let (this, path) = (self.clone(), path.clone());
        blocking(move || {
            refuse_temp_name(&path).map_err(|_| StorageError::new(ErrorKind::NotFound))?;
            let fd = this.beneath(&path, OFlags::RDONLY | OFlags::NONBLOCK)?;
            write_dead_props(&fd, &blob)
        })
        .await
    }

    async fn probe(&self) -> Result<(), StorageError> {
        let this = self.clone();
        blocking(move || {
            rustix::fs::fstat(&*this.root)?;
            Ok(())
        })
        .await
    }
}

/// The extended attribute that holds a file's WebDAV dead properties.
const DEAD_PROPS_XATTR: &str = "user.dualgate.dav";

/// Reads the dead-property blob of an open file or directory (empty: none).
fn read_dead_props(fd: &impl AsFd) -> Result<Vec<u8>, StorageError> {
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
fn write_dead_props(fd: &impl AsFd, blob: &[u8]) -> Result<(), StorageError> {
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
fn copy_dead_props(from: &impl AsFd, to: &impl AsFd) -> Result<(), StorageError> {
    match read_dead_props(from) {
        Ok(blob) if blob.is_empty() => Ok(()),
        Ok(blob) => write_dead_props(to, &blob),
        Err(e) if e.kind == ErrorKind::Unsupported => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests;
