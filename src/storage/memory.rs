//! An in-memory back-end with object-store semantics.
//!
//! What it is for: tests, first of all. The conformance suite
//! (`tests/conformance.rs`) runs against it next to the local disk, which pins
//! that the shared code — the files module, listings, uploads, tree operations —
//! relies on the promises of [`Storage`] and [`Capabilities`] and not on
//! local-disk habits (real directories, in-place appends, atomic renames, modes).
//! It is also the model of the S3 back-end to come: the same namespace rules in a
//! few hundred lines, without a network.
//!
//! The semantics are those of an object store:
//!
//! - **One flat map** from full key (`alice/dir/file.txt`) to an object (bytes,
//!   modification time, ETag), shared by all the volumes of one
//!   [`MemoryBackend`] behind one mutex, never held across an `await`.
//! - **Directories are not real.** A directory exists while a zero-byte marker
//!   `dir/` exists (what [`Storage::mkdir`] creates) or any key starts with
//!   `dir/`. Deleting the last file of a directory with a marker leaves the
//!   directory; an "implicit" directory (keys only, no marker) vanishes with its
//!   last file, as on S3. Since every directory this back-end creates has a
//!   marker, empty directories stay ([`Capabilities::empty_dirs`]).
//! - **A volume is a key prefix**: the home `/alice` is the prefix `alice/`, the
//!   home `/` the empty prefix. Paths are [`VirtualPath`]s (`..` already
//!   clamped), so no key outside the prefix can be named.
//! - **Uploads are buffered** in the upload and published on commit, in one
//!   step: nothing is visible before. Appends and resumed uploads assemble a new
//!   object from the old bytes and the new ones ([`Resume::Assembled`]); an
//!   upload is limited to [`MAX_UPLOAD`] bytes.
//! - **Renames are a copy and a delete** (under one lock here, but not an atomic
//!   rename on a real object store), of files only: a directory is a prefix of
//!   keys, and renaming one is refused ([`ErrorKind::Unsupported`]).
//! - **Copies run inside the store** — a file, or every key under a directory's
//!   prefix, markers included.
//! - **Tree removal** is the trait's generic one: list, delete, remove markers.
//! - The home itself is not written, removed or renamed through its volume
//!   ([`ErrorKind::PermissionDenied`]), as on the local disk.
//! - No modes, no dead properties: the trait's default refusals stand.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};

use super::{
    Backend, Capabilities, DirEntry, ETag, EntryKind, ErrorKind, ListStream, Metadata, ReadBody, ReadHandle, Resume,
    Storage, StorageError, TreeError, Upload, WriteMode, WriteOutcome, refuse_root,
};
use crate::auth::User;
use crate::path::VirtualPath;

/// Entries per listing batch.
const LIST_BATCH: usize = 256;

/// Largest chunk of a read stream.
const READ_CHUNK: usize = 64 * 1024;

/// The most bytes one upload may buffer (256 MiB); more is refused with
/// [`ErrorKind::NoSpace`].
pub const MAX_UPLOAD: u64 = 256 * 1024 * 1024;

/// What the in-memory back-end can do.
const CAPABILITIES: Capabilities = Capabilities {
    append: true,
    resume: Resume::Assembled,
    atomic_rename: false,
    rename_dirs: false,
    empty_dirs: true,
    server_side_copy: true,
    modes: false,
    set_modes: false,
    dead_properties: false,
    modified_times: true,
    set_modified_times: true,
    zero_copy: false,
};

/// One stored object: a file, or (key ending in `/`, no bytes) a directory marker.
#[derive(Debug, Clone)]
struct Object {
    bytes: Bytes,
    modified: SystemTime,
    etag: ETag,
}

/// The flat key space of one back-end.
#[derive(Debug)]
struct Store {
    objects: BTreeMap<String, Object>,
    /// Source of ETags: every write gets the next number.
    writes: u64,
    /// The time of an empty back-end root.
    created: SystemTime,
}

impl Store {
    /// A new object holding `bytes`, written now, with a fresh ETag.
    fn stamp(&mut self, bytes: Bytes) -> Object {
        self.writes += 1;
        Object {
            bytes,
            modified: SystemTime::now(),
            etag: ETag::from_parts(&[u128::from(self.writes)]),
        }
    }

    /// Every object whose key starts with `prefix`, in key order.
    fn under<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = (&'a String, &'a Object)> + 'a {
        self.objects
            .range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(move |(k, _)| k.starts_with(prefix))
    }

    /// The file stored under `key` (never a marker).
    fn file(&self, key: &str) -> Option<&Object> {
        if key.is_empty() || key.ends_with('/') {
            return None;
        }
        self.objects.get(key)
    }

    /// Whether the directory with key prefix `prefix` (`dir/`; empty: the
    /// back-end root) exists: its marker or anything beneath it.
    fn is_dir(&self, prefix: &str) -> bool {
        prefix.is_empty() || self.under(prefix).next().is_some()
    }

    /// A directory's time: its marker's, or (implicit directory) its newest object's.
    fn dir_modified(&self, prefix: &str) -> SystemTime {
        if !prefix.is_empty()
            && let Some(marker) = self.objects.get(prefix)
        {
            return marker.modified;
        }
        self.under(prefix)
            .map(|(_, o)| o.modified)
            .max()
            .unwrap_or(self.created)
    }
}

type Shared = Arc<Mutex<Store>>;

/// Locks the store; a poisoned lock still holds a consistent map (every change
/// is one insert or remove, or a batch of them that cannot panic half-way).
fn lock(store: &Shared) -> MutexGuard<'_, Store> {
    store.lock().unwrap_or_else(PoisonError::into_inner)
}

fn file_meta(o: &Object) -> Metadata {
    Metadata {
        kind: EntryKind::File,
        size: o.bytes.len() as u64,
        modified: Some(o.modified),
        mode: None,
        etag: Some(o.etag),
    }
}

fn dir_meta(modified: SystemTime) -> Metadata {
    Metadata {
        kind: EntryKind::Dir,
        size: 0,
        modified: Some(modified),
        mode: None,
        etag: None,
    }
}

/// The in-memory back-end: one key space, from which each user's volume (a key
/// prefix) is attached. Clones share the key space.
#[derive(Clone)]
pub struct MemoryBackend {
    store: Shared,
}

impl std::fmt::Debug for MemoryBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `try_lock`: formatting must not wait for (or deadlock on) the store.
        match self.store.try_lock() {
            Ok(store) => write!(f, "MemoryBackend({} objects)", store.objects.len()),
            Err(_) => f.write_str("MemoryBackend(..)"),
        }
    }
}

impl Default for MemoryBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryBackend {
    /// An empty back-end.
    pub fn new() -> Self {
        MemoryBackend {
            store: Arc::new(Mutex::new(Store {
                objects: BTreeMap::new(),
                writes: 0,
                created: SystemTime::now(),
            })),
        }
    }

    /// The volume rooted at `home`, which must exist as a directory (the root
    /// always does).
    pub fn volume(&self, home: &VirtualPath) -> Result<MemoryVolume, StorageError> {
        let prefix = if home.is_root() {
            String::new()
        } else {
            format!("{}/", home.relative())
        };
        if !lock(&self.store).is_dir(&prefix) {
            return Err(StorageError::with_source(
                ErrorKind::NotFound,
                "the home directory does not exist",
            ));
        }
        Ok(MemoryVolume {
            store: self.store.clone(),
            prefix,
            home: home.clone(),
        })
    }
}

#[async_trait]
impl Backend for MemoryBackend {
    fn name(&self) -> &'static str {
        "memory"
    }

    fn capabilities(&self) -> Capabilities {
        CAPABILITIES
    }

    async fn attach(&self, user: &User) -> Result<Arc<dyn Storage>, StorageError> {
        Ok(Arc::new(self.volume(&user.home)?))
    }

    /// Gives every component of `home` a marker, so the home outlives its last
    /// file; `true` when a directory that did not exist was created.
    async fn create_home(&self, home: &VirtualPath) -> Result<bool, StorageError> {
        let mut store = lock(&self.store);
        let mut created = false;
        let mut prefix = String::new();
        for name in home.components() {
            let key = format!("{prefix}{name}");
            if store.file(&key).is_some() {
                return Err(StorageError::with_source(
                    ErrorKind::NotADirectory,
                    "a file is in the way of the home directory",
                ));
            }
            prefix = key + "/";
            if !store.objects.contains_key(&prefix) {
                created |= !store.is_dir(&prefix);
                let marker = store.stamp(Bytes::new());
                store.objects.insert(prefix.clone(), marker);
            }
        }
        Ok(created)
    }

    async fn probe(&self) -> Result<(), StorageError> {
        Ok(())
    }
}

/// One user's view of a [`MemoryBackend`]: the keys beneath their home's prefix.
#[derive(Clone)]
pub struct MemoryVolume {
    store: Shared,
    /// `alice/` for the home `/alice`; empty for `/`.
    prefix: String,
    home: VirtualPath,
}

impl std::fmt::Debug for MemoryVolume {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MemoryVolume({})", self.home)
    }
}

impl MemoryVolume {
    fn lock(&self) -> MutexGuard<'_, Store> {
        lock(&self.store)
    }

    /// The key of the file `path` would be (meaningless for the root).
    fn key(&self, path: &VirtualPath) -> String {
        format!("{}{}", self.prefix, path.relative())
    }

    /// The key prefix of the directory `path` would be (its marker's key).
    fn dir_key(&self, path: &VirtualPath) -> String {
        if path.is_root() {
            self.prefix.clone()
        } else {
            format!("{}{}/", self.prefix, path.relative())
        }
    }

    /// Whether `path` is a directory; the volume root always is.
    fn is_dir(&self, store: &Store, path: &VirtualPath) -> bool {
        path.is_root() || store.is_dir(&self.dir_key(path))
    }

    /// The file at `path`, if there is one.
    fn file<'s>(&self, store: &'s Store, path: &VirtualPath) -> Option<&'s Object> {
        if path.is_root() {
            return None;
        }
        store.file(&self.key(path))
    }

    /// Why `path` (neither file nor directory) cannot be found: a file where a
    /// directory is needed on the way, or nothing at all.
    fn absent(&self, store: &Store, path: &VirtualPath) -> StorageError {
        let mut dir = path.parent();
        while !dir.is_root() {
            if self.file(store, &dir).is_some() {
                return StorageError::new(ErrorKind::NotADirectory);
            }
            dir = dir.parent();
        }
        StorageError::new(ErrorKind::NotFound)
    }

    /// Fails unless the parent of `path` is a directory.
    fn need_parent(&self, store: &Store, path: &VirtualPath) -> Result<(), StorageError> {
        if self.is_dir(store, &path.parent()) {
            Ok(())
        } else {
            Err(StorageError::new(ErrorKind::ParentMissing))
        }
    }

    fn meta(&self, store: &Store, path: &VirtualPath) -> Result<Metadata, StorageError> {
        if let Some(o) = self.file(store, path) {
            return Ok(file_meta(o));
        }
        if self.is_dir(store, path) {
            return Ok(dir_meta(store.dir_modified(&self.dir_key(path))));
        }
        Err(self.absent(store, path))
    }

    /// The entries one level beneath `path`, sorted by name.
    fn entries(&self, store: &Store, path: &VirtualPath) -> Result<Vec<DirEntry>, StorageError> {
        enum Child {
            File(Metadata),
            Dir {
                marker: Option<SystemTime>,
                newest: SystemTime,
            },
        }
        if self.file(store, path).is_some() {
            return Err(StorageError::new(ErrorKind::NotADirectory));
        }
        if !self.is_dir(store, path) {
            return Err(self.absent(store, path));
        }
        let prefix = self.dir_key(path);
        let mut children: BTreeMap<&str, Child> = BTreeMap::new();
        for (key, object) in store.under(&prefix) {
            let Some(rest) = key.strip_prefix(prefix.as_str()) else {
                continue;
            };
            match rest.split_once('/') {
                // The directory's own marker.
                None if rest.is_empty() => {}
                None => {
                    children.insert(rest, Child::File(file_meta(object)));
                }
                Some(("", _)) => {}
                Some((name, tail)) => {
                    let child = children.entry(name).or_insert(Child::Dir {
                        marker: None,
                        newest: object.modified,
                    });
                    if let Child::Dir { marker, newest } = child {
                        if tail.is_empty() {
                            *marker = Some(object.modified);
                        }
                        *newest = (*newest).max(object.modified);
                    }
                }
            }
        }
        Ok(children
            .into_iter()
            .map(|(name, child)| DirEntry {
                name: smol_str::SmolStr::new(name),
                meta: match child {
                    Child::File(meta) => meta,
                    Child::Dir { marker, newest } => dir_meta(marker.unwrap_or(newest)),
                },
            })
            .collect())
    }

    fn copy_locked(&self, store: &mut Store, from: &VirtualPath, to: &VirtualPath) -> Result<(), TreeError> {
        let source = self.file(store, from).map(|o| o.bytes.clone());
        if source.is_none() && !self.is_dir(store, from) {
            return Err(TreeError::at_start(self.absent(store, from), from));
        }
        refuse_root(to).map_err(|e| TreeError::at_start(e, to))?;
        if self.file(store, to).is_some() || self.is_dir(store, to) {
            return Err(TreeError::at_start(StorageError::new(ErrorKind::AlreadyExists), to));
        }
        self.need_parent(store, to).map_err(|e| TreeError::at_start(e, to))?;
        if let Some(bytes) = source {
            let object = store.stamp(bytes);
            store.objects.insert(self.key(to), object);
            return Ok(());
        }
        let (from_prefix, to_prefix) = (self.dir_key(from), self.dir_key(to));
        let mut copies: Vec<(String, Bytes)> = store
            .under(&from_prefix)
            .filter_map(|(key, o)| {
                let rest = key.strip_prefix(from_prefix.as_str())?;
                Some((format!("{to_prefix}{rest}"), o.bytes.clone()))
            })
            .collect();
        // The copy is a directory in its own right, even of an implicit one.
        if !copies.iter().any(|(key, _)| *key == to_prefix) {
            copies.push((to_prefix, Bytes::new()));
        }
        for (key, bytes) in copies {
            let object = store.stamp(bytes);
            store.objects.insert(key, object);
        }
        Ok(())
    }
}

#[async_trait]
impl Storage for MemoryVolume {
    fn name(&self) -> &'static str {
        "memory"
    }

    fn capabilities(&self) -> Capabilities {
        CAPABILITIES
    }

    async fn stat(&self, path: &VirtualPath) -> Result<Metadata, StorageError> {
        let store = self.lock();
        self.meta(&store, path)
    }

    async fn list(&self, path: &VirtualPath) -> Result<ListStream, StorageError> {
        // A snapshot, taken at once; sent batch by batch.
        let entries = self.entries(&self.lock(), path)?;
        let mut batches = Vec::with_capacity(entries.len().div_ceil(LIST_BATCH));
        let mut entries = entries.into_iter();
        loop {
            let batch: Vec<DirEntry> = entries.by_ref().take(LIST_BATCH).collect();
            if batch.is_empty() {
                break;
            }
            batches.push(Ok(batch));
        }
        Ok(Box::pin(futures_util::stream::iter(batches)))
    }

    async fn read(&self, path: &VirtualPath, offset: u64, len: Option<u64>) -> Result<ReadHandle, StorageError> {
        let (meta, bytes) = {
            let store = self.lock();
            match self.file(&store, path) {
                Some(o) => (file_meta(o), o.bytes.clone()),
                None if self.is_dir(&store, path) => return Err(StorageError::new(ErrorKind::IsADirectory)),
                None => return Err(self.absent(&store, path)),
            }
        };
        if offset > meta.size {
            return Err(StorageError::new(ErrorKind::InvalidOffset));
        }
        let avail = meta.size - offset;
        let len = len.map_or(avail, |l| l.min(avail));
        let too_big = |e| StorageError::with_source(ErrorKind::Other, e);
        let start = usize::try_from(offset).map_err(too_big)?;
        let end = start + usize::try_from(len).map_err(too_big)?;
        let range = bytes.slice(start..end);
        let chunks: Vec<Result<Bytes, StorageError>> = (0..range.len())
            .step_by(READ_CHUNK)
            .map(|at| Ok(range.slice(at..range.len().min(at + READ_CHUNK))))
            .collect();
        Ok(ReadHandle {
            meta,
            body: ReadBody::Stream(Box::pin(futures_util::stream::iter(chunks))),
        })
    }

    async fn write(&self, path: &VirtualPath, mode: WriteMode) -> Result<Box<dyn Upload>, StorageError> {
        refuse_root(path)?;
        let store = self.lock();
        self.need_parent(&store, path)?;
        if self.is_dir(&store, path) {
            return Err(StorageError::new(ErrorKind::IsADirectory));
        }
        let existing = self.file(&store, path);
        match mode {
            WriteMode::CreateNew if existing.is_some() => return Err(StorageError::new(ErrorKind::AlreadyExists)),
            WriteMode::At(n) if n > existing.map_or(0, |o| o.bytes.len() as u64) => {
                return Err(StorageError::new(ErrorKind::InvalidOffset));
            }
            _ => {}
        }
        let parent = path.parent();
        Ok(Box::new(MemoryUpload {
            store: self.store.clone(),
            key: self.key(path),
            dir_key: self.dir_key(path),
            parent_key: (!parent.is_root()).then(|| self.dir_key(&parent)),
            mode,
            chunks: Vec::new(),
            written: 0,
        }))
    }

    async fn set_modified(&self, path: &VirtualPath, modified: SystemTime) -> Result<(), StorageError> {
        refuse_root(path)?;
        let mut store = self.lock();
        let key = self.key(path);
        if let Some(file) = store.objects.get_mut(&key).filter(|_| !key.ends_with('/')) {
            file.modified = modified;
            return Ok(());
        }
        if !self.is_dir(&store, path) {
            return Err(self.absent(&store, path));
        }
        // A directory keeps its time in its marker (made here if it had none).
        let marker = format!("{key}/");
        let stamped = store.stamp(Bytes::new());
        let entry = store.objects.entry(marker).or_insert(stamped);
        entry.modified = modified;
        Ok(())
    }

    async fn delete(&self, path: &VirtualPath) -> Result<(), StorageError> {
        refuse_root(path)?;
        let mut store = self.lock();
        if self.file(&store, path).is_some() {
            store.objects.remove(&self.key(path));
            return Ok(());
        }
        if self.is_dir(&store, path) {
            return Err(StorageError::new(ErrorKind::IsADirectory));
        }
        Err(self.absent(&store, path))
    }

    async fn mkdir(&self, path: &VirtualPath) -> Result<(), StorageError> {
        refuse_root(path)?;
        let mut store = self.lock();
        if self.file(&store, path).is_some() || self.is_dir(&store, path) {
            return Err(StorageError::new(ErrorKind::AlreadyExists));
        }
        self.need_parent(&store, path)?;
        let marker = store.stamp(Bytes::new());
        store.objects.insert(self.dir_key(path), marker);
        Ok(())
    }

    async fn rmdir(&self, path: &VirtualPath) -> Result<(), StorageError> {
        refuse_root(path)?;
        let mut store = self.lock();
        if self.file(&store, path).is_some() {
            return Err(StorageError::new(ErrorKind::NotADirectory));
        }
        if !self.is_dir(&store, path) {
            return Err(self.absent(&store, path));
        }
        let marker = self.dir_key(path);
        if store.under(&marker).any(|(key, _)| *key != marker) {
            return Err(StorageError::new(ErrorKind::DirectoryNotEmpty));
        }
        store.objects.remove(&marker);
        Ok(())
    }

    async fn rename(&self, from: &VirtualPath, to: &VirtualPath) -> Result<(), StorageError> {
        refuse_root(from)?;
        refuse_root(to)?;
        if to.starts_with(from) && to != from {
            return Err(StorageError::new(ErrorKind::InvalidName));
        }
        let mut store = self.lock();
        if self.file(&store, from).is_none() {
            return Err(if self.is_dir(&store, from) {
                StorageError::with_source(
                    ErrorKind::Unsupported,
                    "directories cannot be renamed in an object store",
                )
            } else {
                self.absent(&store, from)
            });
        }
        if from == to {
            return Ok(());
        }
        self.need_parent(&store, to)?;
        if self.is_dir(&store, to) {
            return Err(StorageError::new(ErrorKind::IsADirectory));
        }
        // Copy and delete, as an object store does (one step here, under the lock).
        if let Some(object) = store.objects.remove(&self.key(from)) {
            store.objects.insert(self.key(to), object);
        }
        Ok(())
    }

    async fn copy(&self, from: &VirtualPath, to: &VirtualPath) -> Result<(), TreeError> {
        if to.starts_with(from) {
            // Into itself: it would never end.
            return Err(TreeError::at_start(StorageError::new(ErrorKind::InvalidName), to));
        }
        let mut store = self.lock();
        self.copy_locked(&mut store, from, to)
    }
}

/// A pending upload: the bytes, buffered until commit.
struct MemoryUpload {
    store: Shared,
    /// The target's key.
    key: String,
    /// The key of a directory at the target's name (which would refuse the commit).
    dir_key: String,
    /// The marker key of the target's parent; `None` when it is the volume root.
    parent_key: Option<String>,
    mode: WriteMode,
    chunks: Vec<Bytes>,
    written: u64,
}

/// `head` then `tail`, as one buffer.
fn concat(head: &[u8], tail: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(head.len() + tail.len());
    out.extend_from_slice(head);
    out.extend_from_slice(tail);
    out.freeze()
}

#[async_trait]
impl Upload for MemoryUpload {
    async fn write(&mut self, chunk: Bytes) -> Result<(), StorageError> {
        let total = self.written + chunk.len() as u64;
        if total > MAX_UPLOAD {
            return Err(StorageError::with_source(
                ErrorKind::NoSpace,
                "an in-memory upload is limited to 256 MiB",
            ));
        }
        self.written = total;
        if !chunk.is_empty() {
            self.chunks.push(chunk);
        }
        Ok(())
    }

    async fn commit(self: Box<Self>) -> Result<WriteOutcome, StorageError> {
        let MemoryUpload {
            store,
            key,
            dir_key,
            parent_key,
            mode,
            chunks,
            written,
        } = *self;
        let new = match chunks.len() {
            0 => Bytes::new(),
            1 => chunks.into_iter().next().unwrap_or_default(),
            _ => chunks.concat().into(),
        };
        let mut store = lock(&store);
        // The namespace may have changed since the upload opened.
        if parent_key.as_deref().is_some_and(|p| !store.is_dir(p)) {
            return Err(StorageError::new(ErrorKind::ParentMissing));
        }
        if store.is_dir(&dir_key) {
            return Err(StorageError::new(ErrorKind::IsADirectory));
        }
        let old = store.file(&key).map(|o| o.bytes.clone());
        let created = old.is_none();
        let bytes = match (mode, old) {
            (WriteMode::CreateNew, Some(_)) => return Err(StorageError::new(ErrorKind::AlreadyExists)),
            (WriteMode::Replace | WriteMode::CreateNew, _) | (WriteMode::Append, None) => new,
            (WriteMode::Append, Some(old)) => concat(&old, &new),
            (WriteMode::At(n), old) => {
                let old = old.unwrap_or_default();
                let Some(head) = usize::try_from(n).ok().and_then(|n| old.get(..n)) else {
                    // The file shrank since the upload opened.
                    return Err(StorageError::new(ErrorKind::InvalidOffset));
                };
                concat(head, &new)
            }
        };
        let object = store.stamp(bytes);
        store.objects.insert(key, object);
        Ok(WriteOutcome {
            created,
            bytes: written,
        })
    }

    async fn abort(self: Box<Self>) -> Result<(), StorageError> {
        // Nothing was stored: dropping the buffer is all there is.
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]
    use super::*;
    use futures_util::StreamExt;

    fn vp(s: &str) -> VirtualPath {
        VirtualPath::parse_absolute(s).unwrap()
    }

    fn seed(backend: &MemoryBackend, key: &str, data: &'static [u8]) {
        let mut store = lock(&backend.store);
        let object = store.stamp(Bytes::from_static(data));
        store.objects.insert(key.to_owned(), object);
    }

    #[tokio::test]
    async fn implicit_directories_exist_while_they_hold_keys() {
        let backend = MemoryBackend::new();
        seed(&backend, "alice/a/b/f.txt", b"xyz");
        let vol = backend.volume(&vp("/alice")).unwrap();
        assert!(vol.stat(&vp("/a")).await.unwrap().is_dir());
        assert!(vol.stat(&vp("/a/b")).await.unwrap().modified.is_some());
        let mut listing = vol.list(&vp("/a")).await.unwrap();
        let batch = listing.next().await.unwrap().unwrap();
        assert_eq!(batch.len(), 1);
        assert_eq!((batch[0].name.as_str(), batch[0].meta.kind), ("b", EntryKind::Dir));
        // An implicit directory holding something is not empty, and vanishes with its last file.
        assert_eq!(
            vol.rmdir(&vp("/a/b")).await.unwrap_err().kind,
            ErrorKind::DirectoryNotEmpty
        );
        vol.delete(&vp("/a/b/f.txt")).await.unwrap();
        assert_eq!(vol.stat(&vp("/a")).await.unwrap_err().kind, ErrorKind::NotFound);
        // The volume root always exists.
        assert!(vol.stat(&vp("/")).await.unwrap().is_dir());
    }

    #[tokio::test]
    async fn homes_are_prefixes_and_must_exist() {
        let backend = MemoryBackend::new();
        assert_eq!(backend.volume(&vp("/alice")).unwrap_err().kind, ErrorKind::NotFound);
        assert!(backend.create_home(&vp("/home/alice")).await.unwrap());
        assert!(!backend.create_home(&vp("/home/alice")).await.unwrap());
        let vol = backend.volume(&vp("/home/alice")).unwrap();
        let mut up = vol.write(&vp("/f"), WriteMode::Replace).await.unwrap();
        up.write(Bytes::from_static(b"data")).await.unwrap();
        assert!(up.commit().await.unwrap().created);
        assert!(lock(&backend.store).objects.contains_key("home/alice/f"));
        let root = backend.volume(&VirtualPath::root()).unwrap();
        assert_eq!(root.stat(&vp("/home/alice/f")).await.unwrap().size, 4);
        // A file in the way of a home.
        assert_eq!(
            backend.create_home(&vp("/home/alice/f/x")).await.unwrap_err().kind,
            ErrorKind::NotADirectory
        );
    }

    #[tokio::test]
    async fn reads_come_in_chunks_of_at_most_64_kib() {
        let backend = MemoryBackend::new();
        let vol = backend.volume(&VirtualPath::root()).unwrap();
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let mut up = vol.write(&vp("/big"), WriteMode::Replace).await.unwrap();
        up.write(Bytes::from(data.clone())).await.unwrap();
        up.commit().await.unwrap();
        let handle = vol.read(&vp("/big"), 10, None).await.unwrap();
        let ReadBody::Stream(mut stream) = handle.body else {
            panic!("memory reads are streams")
        };
        let mut got = Vec::new();
        let mut chunks = 0;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.unwrap();
            assert!(chunk.len() <= READ_CHUNK);
            got.extend_from_slice(&chunk);
            chunks += 1;
        }
        assert_eq!(got, data[10..]);
        assert_eq!(chunks, 4);
    }

    #[tokio::test]
    async fn uploads_are_bounded() {
        let backend = MemoryBackend::new();
        let vol = backend.volume(&VirtualPath::root()).unwrap();
        let mut up = vol.write(&vp("/huge"), WriteMode::Replace).await.unwrap();
        // One shared buffer, written four times: 256 MiB buffered, 64 MiB allocated.
        let quarter = Bytes::from(vec![0u8; (MAX_UPLOAD / 4) as usize]);
        for _ in 0..4 {
            up.write(quarter.clone()).await.unwrap();
        }
        assert_eq!(
            up.write(Bytes::from_static(b"x")).await.unwrap_err().kind,
            ErrorKind::NoSpace
        );
        up.abort().await.unwrap();
        assert_eq!(vol.stat(&vp("/huge")).await.unwrap_err().kind, ErrorKind::NotFound);
    }

    #[tokio::test]
    async fn commit_rechecks_the_namespace() {
        let backend = MemoryBackend::new();
        let vol = backend.volume(&VirtualPath::root()).unwrap();
        vol.mkdir(&vp("/d")).await.unwrap();
        let mut up = vol.write(&vp("/d/f"), WriteMode::Replace).await.unwrap();
        up.write(Bytes::from_static(b"x")).await.unwrap();
        vol.rmdir(&vp("/d")).await.unwrap();
        assert_eq!(up.commit().await.unwrap_err().kind, ErrorKind::ParentMissing);
        let mut up = vol.write(&vp("/e"), WriteMode::Replace).await.unwrap();
        up.write(Bytes::from_static(b"x")).await.unwrap();
        vol.mkdir(&vp("/e")).await.unwrap();
        assert_eq!(up.commit().await.unwrap_err().kind, ErrorKind::IsADirectory);
    }
}
