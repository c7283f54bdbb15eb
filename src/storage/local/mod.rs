//! The local-disk back-end: the default storage, confined at the syscall.
//!
//! [`LocalBackend`] holds a directory descriptor of the storage root. At login,
//! [`Backend::attach`] opens the user's home beneath it and returns a
//! [`LocalVolume`] holding a descriptor of *that* directory: every path of the
//! session is then opened relative to the home with
//! `openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)`, so the kernel itself refuses
//! any resolution — `..`, absolute symlinks, relative symlinks, a directory
//! swapped for a link mid-session — that would leave the home (`EXDEV` →
//! `PermissionDenied`). A link from one user's home into another's is refused like
//! a link out of the storage root. Operations on a final name (`unlinkat`,
//! `mkdirat`, `renameat`, `openat` with `O_NOFOLLOW`) act on a confined parent
//! descriptor, so a symlink as the last component is never followed out; trees
//! are walked without following links at all (`tree.rs`).
//!
//! Uploads: `upload.rs`; abandoned ones: `sweep.rs`; dead properties: `xattr.rs`;
//! the zero-copy capability: `region.rs`; the errno table: `errno.rs`.
//!
//! Calls are blocking syscalls. Those that can take long — listings, uploads
//! (fsync), copies, renames, deletes — run on tokio's blocking pool. `stat` and the
//! `open` of a download run inline on the I/O thread by default (`inline_metadata`),
//! as nginx does: on a local disk they are answered from the dentry and inode caches
//! in microseconds, and the hand-off to a pool thread and back (two futex wake-ups)
//! cost more than the call itself — 40% of the server's CPU in a load of small
//! downloads (bench/RESULTS.md). On a network file system a `stat` can hang for
//! seconds; `inline_metadata: false` moves them to the pool too. With it on, reads
//! of up to 64 KiB, every read of a file on tmpfs (memory: a copy that never
//! waits for a device) and, elsewhere, what the page cache holds (`RWF_NOWAIT`)
//! run inline as well (`region.rs`).

mod errno;
mod region;
mod sweep;
mod tree;
mod upload;
mod xattr;

use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use async_trait::async_trait;
use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags, Stat};
use rustix::io::Errno;

pub use self::region::{FileRegion, FileSink, INLINE_READ_MAX};
use self::upload::{LocalUpload, temp_name};
pub use self::upload::{TEMP_PREFIX, is_temp_name};
use self::xattr::{copy_dead_props, read_dead_props, write_dead_props};
use super::{
    Backend, Capabilities, DirEntry, ETag, EntryKind, ErrorKind, ListStream, Metadata, ReadBody, ReadHandle, Resume,
    Storage, StorageError, TreeError, Upload, WriteMode,
};
use crate::auth::User;
use crate::path::VirtualPath;

/// Entries per listing batch, at most.
const LIST_BATCH: usize = 256;

/// Entries per batch of a names-only listing, at most: no `stat` per entry, so
/// each batch is quick to make.
const NAMES_BATCH: usize = 1024;

/// The smallest directory record `getdents64` returns (19 bytes of header, a
/// one-byte name and its NUL, aligned to 8): a batch is what one call returns
/// into a buffer of this many bytes per entry allowed.
const MIN_DIRENT: usize = 24;

/// The default age after which an untouched upload file is abandoned.
pub const DEFAULT_STALE_UPLOADS_AFTER: Duration = Duration::from_secs(3600);

/// What local disk can do.
const CAPABILITIES: Capabilities = Capabilities {
    append: true,
    resume: Resume::Native,
    atomic_rename: true,
    rename_dirs: true,
    empty_dirs: true,
    server_side_copy: true,
    modes: true,
    set_modes: true,
    dead_properties: true,
    modified_times: true,
    set_modified_times: true,
    zero_copy: true,
};

/// Opens `rel` beneath the directory `dir`, following symlinks only while they
/// stay beneath it.
fn beneath(dir: &OwnedFd, rel: &str, flags: OFlags) -> Result<OwnedFd, Errno> {
    beneath_resolving(dir, rel, flags, ResolveFlags::empty())
}

/// [`beneath`] with more resolution rules (`NO_SYMLINKS`).
fn beneath_resolving(dir: &OwnedFd, rel: &str, flags: OFlags, resolve: ResolveFlags) -> Result<OwnedFd, Errno> {
    let rel = if rel.is_empty() { "." } else { rel };
    loop {
        match rustix::fs::openat2(
            dir,
            rel,
            flags | OFlags::CLOEXEC,
            // openat2 refuses a mode unless it creates.
            if flags.contains(OFlags::CREATE) {
                Mode::from_raw_mode(0o644)
            } else {
                Mode::empty()
            },
            ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS | resolve,
        ) {
            Err(Errno::AGAIN | Errno::INTR) => continue,
            other => return other,
        }
    }
}

/// The local-disk back-end: the storage root, from which each user's volume is
/// attached.
#[derive(Debug, Clone)]
pub struct LocalBackend {
    root: Arc<OwnedFd>,
    root_path: Arc<Path>,
    inline_metadata: bool,
    stale_after: Duration,
}

impl LocalBackend {
    /// Opens (creating it if missing) the root directory. Fails if the kernel lacks
    /// `openat2` (Linux < 5.6), because confinement could not be guaranteed.
    pub fn open(root: &Path) -> Result<Self, StorageError> {
        std::fs::create_dir_all(root)?;
        let fd = rustix::fs::open(root, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?;
        match beneath(&fd, "", OFlags::PATH | OFlags::DIRECTORY) {
            Err(Errno::NOSYS) => Err(StorageError::with_source(
                ErrorKind::Unsupported,
                "the kernel lacks openat2(2) (Linux 5.6 or later is required to confine paths)",
            )),
            Err(e) => Err(e.into()),
            Ok(_) => Ok(LocalBackend {
                root: Arc::new(fd),
                root_path: Arc::from(root),
                inline_metadata: true,
                stale_after: DEFAULT_STALE_UPLOADS_AFTER,
            }),
        }
    }

    /// Whether `stat` and the `open` of a download run inline (see the module docs).
    #[must_use]
    pub fn with_inline_metadata(mut self, inline: bool) -> Self {
        self.inline_metadata = inline;
        self
    }

    /// After how long without a write an upload's temporary file is abandoned.
    #[must_use]
    pub fn with_stale_uploads_after(mut self, age: Duration) -> Self {
        self.stale_after = age;
        self
    }

    /// The root directory on disk.
    pub fn root_path(&self) -> &Path {
        &self.root_path
    }

    /// The volume rooted at `home` (a directory beneath the root).
    pub fn volume(&self, home: &VirtualPath) -> Result<LocalVolume, StorageError> {
        let dir = beneath(&self.root, home.relative(), OFlags::PATH | OFlags::DIRECTORY)?;
        Ok(LocalVolume {
            dir: Arc::new(dir),
            inline_metadata: self.inline_metadata,
            stale_after: self.stale_after,
        })
    }
}

#[async_trait]
impl Backend for LocalBackend {
    fn name(&self) -> &'static str {
        "fs"
    }

    fn capabilities(&self) -> Capabilities {
        CAPABILITIES
    }

    async fn attach(&self, user: &User) -> Result<Arc<dyn Storage>, StorageError> {
        let (this, home) = (self.clone(), user.home.clone());
        let volume = blocking(move || this.volume(&home)).await?;
        Ok(Arc::new(volume))
    }

    async fn create_home(&self, home: &VirtualPath) -> Result<bool, StorageError> {
        let root = self.volume(&VirtualPath::root())?;
        let mut dir = VirtualPath::root();
        let mut created = false;
        for name in home.components() {
            dir = dir
                .join_name(name)
                .map_err(|e| StorageError::with_source(ErrorKind::InvalidName, e))?;
            match root.mkdir(&dir).await {
                Ok(()) => created = true,
                Err(e) if e.kind == ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
        }
        Ok(created)
    }

    async fn probe(&self) -> Result<(), StorageError> {
        let this = self.clone();
        blocking(move || {
            rustix::fs::fstat(&*this.root)?;
            Ok(())
        })
        .await
    }

    async fn sweep_stale_uploads(&self) -> Result<u64, StorageError> {
        let this = self.clone();
        blocking(move || {
            let root = beneath(&this.root, "", OFlags::RDONLY | OFlags::DIRECTORY)?;
            Ok(sweep::sweep_tree(&root, this.stale_after))
        })
        .await
    }
}

/// One user's view of the local disk: everything beneath their home directory.
#[derive(Debug, Clone)]
pub struct LocalVolume {
    /// The home directory (an `O_PATH` descriptor).
    dir: Arc<OwnedFd>,
    inline_metadata: bool,
    stale_after: Duration,
}

impl LocalVolume {
    /// Runs a short metadata call inline, or on the blocking pool when
    /// `inline_metadata` is off.
    async fn metadata_call<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T, StorageError> + Send + 'static,
    ) -> Result<T, StorageError> {
        if self.inline_metadata { f() } else { blocking(f).await }
    }

    /// Opens `path` beneath the home, following symlinks only while they stay inside.
    fn beneath(&self, path: &VirtualPath, flags: OFlags) -> Result<OwnedFd, Errno> {
        beneath(&self.dir, path.relative(), flags)
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

    /// [`LocalVolume::parent_of`] for an operation on something that must exist
    /// (delete, rmdir, the source of a rename): a missing parent means the target
    /// is missing.
    fn existing_parent_of<'p>(&self, path: &'p VirtualPath) -> Result<(OwnedFd, &'p str), StorageError> {
        self.parent_of(path).map_err(|e| match e.kind {
            ErrorKind::ParentMissing => StorageError {
                kind: ErrorKind::NotFound,
                source: e.source,
            },
            _ => e,
        })
    }

    fn stat_blocking(&self, path: &VirtualPath) -> Result<Metadata, StorageError> {
        refuse_temp_name(path).map_err(|_| StorageError::new(ErrorKind::NotFound))?;
        let fd = self.beneath(path, OFlags::PATH)?;
        metadata(&rustix::fs::fstat(&fd)?)
    }

    /// The metadata a listing shows for `name` in `dir` (open as `fd`): a link
    /// as what it points to while that stays inside the volume; `None` for an
    /// entry not shown (vanished, a link leaving the volume, a device, fifo or
    /// socket).
    fn entry_metadata(&self, dir: &VirtualPath, fd: &OwnedFd, name: &str) -> Option<Metadata> {
        let st = rustix::fs::statat(fd, name, AtFlags::SYMLINK_NOFOLLOW).ok()?;
        let st = if FileType::from_raw_mode(st.st_mode) == FileType::Symlink {
            let target = dir.join_name(name).ok()?;
            self.beneath(&target, OFlags::PATH)
                .and_then(|t| rustix::fs::fstat(&t))
                .ok()?
        } else {
            st
        };
        metadata(&st).ok()
    }

    /// Reads the next batch of a listing: the entries of one `getdents64` call
    /// into `buffer` (so a batch never ends with entries read from the kernel
    /// and not yet taken). `None` at the end. With `names_only`, an entry the
    /// directory says is a file or a directory is not `stat`ed (its metadata is
    /// its kind alone); links and entries of unknown type are, as they decide
    /// whether the entry is shown at all.
    fn next_batch(
        &self,
        dir: &VirtualPath,
        fd: &OwnedFd,
        names_only: bool,
        buffer: &mut Vec<u8>,
    ) -> Option<Result<Vec<DirEntry>, StorageError>> {
        // The raw reader: no allocation per entry (`Dir` copies each name into a
        // `CString`). A new one per batch goes on where the last call left off.
        // Sized for the most entries one call can return: the batch never grows.
        let mut batch = Vec::with_capacity(buffer.capacity() / MIN_DIRENT);
        let mut reader = rustix::fs::RawDir::new(fd, buffer.spare_capacity_mut());
        loop {
            let entry = match reader.next()? {
                Ok(e) => e,
                Err(e) => return Some(Err(e.into())),
            };
            if let Some(entry) = self.listed(dir, fd, names_only, &entry) {
                batch.push(entry);
            }
            if reader.is_buffer_empty() && !batch.is_empty() {
                return Some(Ok(batch));
            }
        }
    }

    /// One directory record as the listing shows it, or `None` if it shows no entry.
    fn listed(
        &self,
        dir: &VirtualPath,
        fd: &OwnedFd,
        names_only: bool,
        entry: &rustix::fs::RawDirEntry<'_>,
    ) -> Option<DirEntry> {
        let Ok(name) = entry.file_name().to_str() else {
            tracing::debug!(dir = %dir, "skipping a name that is not UTF-8");
            return None;
        };
        if name == "." || name == ".." || is_temp_name(name) {
            return None;
        }
        let known = match entry.file_type() {
            FileType::RegularFile => Some(EntryKind::File),
            FileType::Directory => Some(EntryKind::Dir),
            _ => None,
        };
        let meta = match known {
            Some(kind) if names_only => Metadata {
                kind,
                size: 0,
                modified: None,
                mode: None,
                etag: None,
            },
            _ => self.entry_metadata(dir, fd, name)?,
        };
        Some(DirEntry {
            name: smol_str::SmolStr::new(name),
            meta,
        })
    }

    /// A listing's batches, read on the blocking pool and sent to `tx`.
    fn list_blocking(
        &self,
        dir: &VirtualPath,
        fd: &OwnedFd,
        names_only: bool,
        tx: &tokio::sync::mpsc::Sender<Result<Vec<DirEntry>, StorageError>>,
    ) {
        let mut buffer = Vec::with_capacity(LIST_BATCH * MIN_DIRENT);
        while let Some(batch) = self.next_batch(dir, fd, names_only, &mut buffer) {
            let failed = batch.is_err();
            if tx.blocking_send(batch).is_err() || failed {
                return; // the consumer went away, or the listing ends with its error
            }
        }
    }

    /// Opens `path` for listing and streams its entries from the blocking pool
    /// ([`Self::list_blocking`]), or, for names alone with `inline_metadata`,
    /// reads them batch by batch as the stream is polled.
    async fn listing(&self, path: &VirtualPath, names_only: bool) -> Result<ListStream, StorageError> {
        let (this, dir) = (self.clone(), path.clone());
        // Opening is as quick as a `stat` (inline, like the other metadata calls).
        let fd = self
            .metadata_call({
                let (this, dir) = (this.clone(), dir.clone());
                move || {
                    refuse_temp_name(&dir).map_err(|_| StorageError::new(ErrorKind::NotFound))?;
                    Ok(this.beneath(&dir, OFlags::RDONLY | OFlags::DIRECTORY)?)
                }
            })
            .await?;
        if names_only && self.inline_metadata {
            // Names alone: each batch is one `getdents64` call, read where the
            // listing is sent, as quick as the metadata calls run here (the
            // entries are also allocated and freed on one thread).
            let buffer = Vec::with_capacity(NAMES_BATCH * MIN_DIRENT);
            let state = (this, dir, fd, buffer, false);
            return Ok(Box::pin(futures_util::stream::unfold(
                state,
                |(this, dir, fd, mut buffer, failed)| async move {
                    if failed {
                        return None;
                    }
                    let batch = this.next_batch(&dir, &fd, true, &mut buffer)?;
                    let failed = batch.is_err();
                    Some((batch, (this, dir, fd, buffer, failed)))
                },
            )));
        }
        let (tx, rx) = tokio::sync::mpsc::channel(2);
        tokio::task::spawn_blocking(move || this.list_blocking(&dir, &fd, names_only, &tx));
        Ok(Box::pin(futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        })))
    }

    fn read_blocking(&self, path: &VirtualPath, offset: u64, len: Option<u64>) -> Result<ReadHandle, StorageError> {
        refuse_temp_name(path).map_err(|_| StorageError::new(ErrorKind::NotFound))?;
        // O_NONBLOCK keeps a FIFO from blocking the open; it is refused just below.
        let flags = OFlags::RDONLY | OFlags::NONBLOCK;
        // First without symbolic links (ELOOP at one): a file opened so is the one
        // its path names, which the open-file cache relies on.
        let (fd, by_plain_path) = match beneath_resolving(&self.dir, path.relative(), flags, ResolveFlags::NO_SYMLINKS)
        {
            Err(Errno::LOOP) => (self.beneath(path, flags)?, false),
            other => (other?, true),
        };
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
            body: ReadBody::Local(FileRegion::new(
                File::from(fd),
                offset,
                len,
                self.inline_metadata,
                by_plain_path,
            )),
        })
    }

    /// Opens an upload of `name` in the open directory `parent`.
    fn write_in(parent: OwnedFd, name: &str, mode: WriteMode) -> Result<LocalUpload, StorageError> {
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
                let tmp = temp_name();
                let fd = rustix::fs::openat(
                    &parent,
                    tmp.as_str(),
                    OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o644),
                )?;
                Ok(LocalUpload {
                    truncate_to: None,
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
                let mut flags = OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
                match mode {
                    WriteMode::Append => flags |= OFlags::APPEND | OFlags::CREATE,
                    // Resuming needs the file: an offset into a missing one is past its end
                    // (and a refused resume must not leave an empty file behind).
                    WriteMode::At(off) if off > 0 => {}
                    _ => flags |= OFlags::CREATE,
                }
                let fd = match rustix::fs::openat(&parent, name.as_str(), flags, Mode::from_raw_mode(0o644)) {
                    Err(Errno::NOENT) if matches!(mode, WriteMode::At(_)) => {
                        return Err(StorageError::new(ErrorKind::InvalidOffset));
                    }
                    other => other?,
                };
                let st = rustix::fs::fstat(&fd)?;
                if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
                    return Err(StorageError::new(ErrorKind::PermissionDenied));
                }
                let size = u64::try_from(st.st_size).unwrap_or(0);
                let (pos, truncate_to) = match mode {
                    WriteMode::At(off) if off > size => return Err(StorageError::new(ErrorKind::InvalidOffset)),
                    // Cut at the first write (or the commit), not now: a resume whose
                    // data never comes (no data connection, ABOR) leaves the file whole.
                    WriteMode::At(off) => (off, Some(off)),
                    _ => (size, None),
                };
                Ok(LocalUpload {
                    truncate_to,
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

    fn write_blocking(&self, path: &VirtualPath, mode: WriteMode) -> Result<LocalUpload, StorageError> {
        let (parent, name) = self.parent_of(path)?;
        Self::write_in(parent, name, mode)
    }

    /// Copies an open source file into a new file `name` of `dir`, published
    /// atomically like an upload, with its dead properties.
    fn copy_file_into(src: &OwnedFd, dir: &OwnedFd, name: &str) -> Result<(), StorageError> {
        let upload = Self::write_in(dir.try_clone()?, name, WriteMode::CreateNew)?;
        tree::copy_contents(src, &upload.file)?;
        copy_dead_props(src, &*upload.file)?;
        upload.commit_blocking().map(|_| ())
    }

    fn copy_blocking(&self, from: &VirtualPath, to: &VirtualPath) -> Result<(), TreeError> {
        if to.starts_with(from) {
            // Into itself: it would never end.
            return Err(TreeError::at_start(StorageError::new(ErrorKind::InvalidName), to));
        }
        let start = |e: StorageError| TreeError::at_start(e, from);
        // The source itself may be a link inside the volume (it is what the client
        // named); nothing beneath it is followed.
        let src = self
            .beneath(from, OFlags::RDONLY | OFlags::NONBLOCK)
            .map_err(|e| start(e.into()))?;
        let is_dir = metadata(&rustix::fs::fstat(&src).map_err(|e| start(e.into()))?)
            .map_err(start)?
            .is_dir();
        let (parent, name) = self.parent_of(to).map_err(|e| TreeError::at_start(e, to))?;
        if !is_dir {
            return Self::copy_file_into(&src, &parent, name).map_err(|e| TreeError::at_start(e, to));
        }
        tree::copy_dir(src, parent, name, to, &mut |file, dir, member| {
            Self::copy_file_into(&file, dir, member)
        })
        .map(|_| ())
    }

    fn rmdir_blocking(&self, path: &VirtualPath) -> Result<(), StorageError> {
        let (parent, name) = self.existing_parent_of(path)?;
        match rustix::fs::unlinkat(&parent, name, AtFlags::REMOVEDIR) {
            // Uploads abandoned by a killed process must not keep a directory alive.
            Err(Errno::NOTEMPTY) => {
                let dir = tree_dir(&parent, name)?;
                if !sweep::clear_stale_in(&dir, self.stale_after)? {
                    return Err(StorageError::new(ErrorKind::DirectoryNotEmpty));
                }
                Ok(rustix::fs::unlinkat(&parent, name, AtFlags::REMOVEDIR)?)
            }
            other => Ok(other?),
        }
    }
}

/// Opens the real directory `name` of `parent` without following a link.
fn tree_dir(parent: &OwnedFd, name: &str) -> Result<OwnedFd, StorageError> {
    Ok(rustix::fs::openat(
        parent,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// Runs blocking storage work on tokio's blocking pool.
async fn blocking<T: Send + 'static, E: From<StorageError> + Send + 'static>(
    f: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, E> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| E::from(StorageError::with_source(ErrorKind::Other, e)))?
}

fn refuse_temp_name(path: &VirtualPath) -> Result<(), StorageError> {
    if path.components().any(is_temp_name) {
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
    let secs = u64::try_from(st.st_mtime).ok();
    let nanos = u32::try_from(st.st_mtime_nsec).unwrap_or(0);
    let modified = secs.map(|s| UNIX_EPOCH + Duration::new(s, nanos));
    let size = u64::try_from(st.st_size).unwrap_or(0);
    // Size, time to the nanosecond and inode: a replaced file (new inode) gets a
    // new tag even within one clock tick.
    let mtime_ns = secs.map_or(0, |s| u128::from(s) * 1_000_000_000 + u128::from(nanos));
    Ok(Metadata {
        kind,
        size,
        modified,
        mode: Some(st.st_mode & 0o7777),
        etag: Some(ETag::from_parts(&[u128::from(size), mtime_ns, u128::from(st.st_ino)])),
    })
}

#[async_trait]
impl Storage for LocalVolume {
    fn name(&self) -> &'static str {
        "fs"
    }

    fn capabilities(&self) -> Capabilities {
        CAPABILITIES
    }

    async fn stat(&self, path: &VirtualPath) -> Result<Metadata, StorageError> {
        let (this, path) = (self.clone(), path.clone());
        self.metadata_call(move || this.stat_blocking(&path)).await
    }

    async fn name_taken(&self, path: &VirtualPath) -> Result<bool, StorageError> {
        if path.is_root() {
            return Ok(true);
        }
        let (this, path) = (self.clone(), path.clone());
        self.metadata_call(move || {
            let (parent, name) = match this.existing_parent_of(&path) {
                Ok(p) => p,
                Err(e) if e.kind == ErrorKind::NotFound => return Ok(false),
                Err(e) => return Err(e),
            };
            match rustix::fs::statat(&parent, name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(_) => Ok(true),
                Err(Errno::NOENT) => Ok(false),
                Err(e) => Err(e.into()),
            }
        })
        .await
    }

    async fn list(&self, path: &VirtualPath) -> Result<ListStream, StorageError> {
        self.listing(path, false).await
    }

    async fn list_names(&self, path: &VirtualPath) -> Result<ListStream, StorageError> {
        self.listing(path, true).await
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
            let (parent, name) = this.existing_parent_of(&path)?;
            let st = rustix::fs::statat(&parent, name, AtFlags::SYMLINK_NOFOLLOW)?;
            if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
                return Err(StorageError::new(ErrorKind::IsADirectory));
            }
            // A link is removed itself, whatever it points to.
            Ok(rustix::fs::unlinkat(&parent, name, AtFlags::empty())?)
        })
        .await
    }

    async fn set_mode(&self, path: &VirtualPath, mode: u32) -> Result<(), StorageError> {
        if mode & !0o777 != 0 || path.is_root() {
            // No set-id or sticky bits through a file gateway, and the home stays as deployed.
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

    async fn set_modified(&self, path: &VirtualPath, modified: std::time::SystemTime) -> Result<(), StorageError> {
        if path.is_root() {
            // The home stays as deployed.
            return Err(StorageError::new(ErrorKind::PermissionDenied));
        }
        let since_epoch = match modified.duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => d,
            Err(_) => return Err(StorageError::with_source(ErrorKind::InvalidName, "a time before 1970")),
        };
        let (this, path) = (self.clone(), path.clone());
        blocking(move || {
            refuse_temp_name(&path)?;
            // As for set_mode: the confined object itself, through its descriptor.
            let fd = this.beneath(&path, OFlags::PATH)?;
            let proc_path = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&fd));
            let times = rustix::fs::Timestamps {
                last_access: rustix::fs::Timespec {
                    tv_sec: 0,
                    tv_nsec: rustix::fs::UTIME_OMIT,
                },
                last_modification: rustix::fs::Timespec {
                    tv_sec: i64::try_from(since_epoch.as_secs()).unwrap_or(i64::MAX),
                    tv_nsec: i64::from(since_epoch.subsec_nanos()),
                },
            };
            Ok(rustix::fs::utimensat(
                rustix::fs::CWD,
                proc_path.as_str(),
                &times,
                rustix::fs::AtFlags::empty(),
            )?)
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
        blocking(move || this.rmdir_blocking(&path)).await
    }

    async fn rename(&self, from: &VirtualPath, to: &VirtualPath) -> Result<(), StorageError> {
        let (this, from, to) = (self.clone(), from.clone(), to.clone());
        blocking(move || {
            if to.starts_with(&from) && to != from {
                return Err(StorageError::new(ErrorKind::InvalidName));
            }
            let (pf, nf) = this.existing_parent_of(&from)?;
            let (pt, nt) = this.parent_of(&to)?;
            Ok(rustix::fs::renameat(&pf, nf, &pt, nt)?)
        })
        .await
    }

    async fn copy(&self, from: &VirtualPath, to: &VirtualPath) -> Result<(), TreeError> {
        let (this, from, to) = (self.clone(), from.clone(), to.clone());
        blocking(move || this.copy_blocking(&from, &to)).await
    }

    async fn remove_tree(&self, path: &VirtualPath) -> Result<u64, TreeError> {
        let (this, path) = (self.clone(), path.clone());
        blocking(move || {
            let (parent, name) = this
                .existing_parent_of(&path)
                .map_err(|e| TreeError::at_start(e, &path))?;
            tree::remove(parent, name, &path)
        })
        .await
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
}

#[cfg(test)]
use self::region::in_memory;
#[cfg(test)]
mod tests;
