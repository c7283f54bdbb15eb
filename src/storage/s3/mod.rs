//! The S3-compatible object-store back-end (AWS S3, MinIO, Ceph RGW, R2,
//! Wasabi…), on Apache OpenDAL's S3 service.
//!
//! A volume is a key prefix: everything lives under `storage.prefix` in the
//! bucket, and the home `/alice` is the prefix `alice/` below that. Paths are
//! [`VirtualPath`]s (`..` already clamped), so no key outside the prefix can be
//! named. The semantics, as the README documents them:
//!
//! - **stat**: HeadObject; a name with no object is a directory when anything
//!   lies under `name/` (its marker or other keys: one ListObjectsV2 of one key).
//! - **list**: ListObjectsV2 with a delimiter, page by page (`list_page_size`
//!   keys) into the listing batches, so a huge prefix is never held whole. The
//!   `dir/` marker itself is not an entry; a common prefix is a directory.
//! - **Directory times**: a store keeps no time for a prefix, and reading each
//!   marker's would cost a request per directory listed, so every directory
//!   shows the time the back-end was opened (start-up) — the same in listings
//!   and `stat`, stable between listings (mirroring clients see no change), and
//!   never the epoch (FileZilla hides entries dated 1970). Names a path cannot
//!   hold (empty, `.`, `..`, control characters, over 255 bytes) are not shown.
//! - **read**: one ranged GetObject, streamed. A read cut by the network is
//!   resumed by the retry layer at the offset reached, and every request of it
//!   is pinned to the ETag it started with (`If-Match`): an object replaced
//!   mid-read ends the read with an error, never a mix of two versions.
//! - **write**: OpenDAL's writer: one PutObject for a small file, a multipart
//!   upload of `part_size` parts for a large one, visible only when completed;
//!   one that fails or is given up is aborted explicitly ([`upload`]).
//!   Create-new (FTP STOU, WebDAV `Overwrite: F`) sends `If-None-Match: *`.
//! - **resume** (`REST n` + `STOR`, `APPE`): a new multipart upload whose first
//!   part(s) are UploadPartCopy of the object's bytes `0..n`, pinned to its ETag,
//!   then the new bytes, completed over the old object in one step
//!   ([`Resume::Assembled`]). A prefix smaller than a part is sent through the
//!   gateway (S3's parts but the last must be 5 MiB or more).
//! - **mkdir**: a zero-byte `name/` marker (`directory_markers: keep_file`: a
//!   `name/.dualgate-keep` object, for stores that never list `name/` keys;
//!   hidden, and its name refused). An implicit directory (keys below a
//!   prefix, no marker) is a directory everywhere; deleting or moving the last
//!   entry of a directory writes its marker first, so a directory the user sees
//!   does not vanish under them. **rmdir** is refused while anything is below.
//! - **rename**: a file is copied inside the store (CopyObject; multipart copy
//!   above 5 GiB), then the source deleted: not atomic. Directories per
//!   `rename_dirs` (refused by default; `recursive` copies and deletes every key
//!   and reports how far a failure got). **copy** runs inside the store.
//! - No modes, no dead properties: the trait's default refusals stand, and the
//!   capabilities say so up front (FEAT, `Allow`, SITE HELP, MLST facts).

mod errors;
mod memo;
mod probe;
pub mod settings;
mod sweep;
mod upload;

use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use futures_util::{StreamExt, TryStreamExt};
use opendal::Operator;
use opendal::options::ReadOptions;

use super::{
    Backend, Capabilities, DirEntry, ETag, EntryKind, ErrorKind, ListStream, Metadata, ReadBody, ReadHandle, Resume,
    Storage, StorageError, TreeError, Upload, WriteMode, refuse_root,
};
use crate::auth::User;
use crate::config::{DirectoryMarkers, RenameDirs, S3Config};
use crate::path::VirtualPath;
use errors::{storage_error, stream_error};
pub use settings::S3Settings;
use upload::S3Upload;

/// The marker object's name with `directory_markers: keep_file`.
pub const KEEP_FILE: &str = ".dualgate-keep";

/// Entries per listing batch handed to the data paths.
const LIST_BATCH: usize = 256;

/// Most bytes one `copy_from` may take (S3's limit of one UploadPartCopy).
const MAX_COPY_SLICE: u64 = 5 << 30;

/// Smallest kept prefix copied inside the store rather than sent again (S3's
/// smallest part but the last).
const MIN_COPY_PART: u64 = 5 << 20;

/// What an object store can do; `rename_dirs` follows the config.
fn capabilities(rename_dirs: RenameDirs) -> Capabilities {
    Capabilities {
        append: true,
        resume: Resume::Assembled,
        atomic_rename: false,
        rename_dirs: rename_dirs == RenameDirs::Recursive,
        empty_dirs: true,
        server_side_copy: true,
        modes: false,
        set_modes: false,
        dead_properties: false,
        modified_times: true,
        // A store keeps the time of the last write; it cannot be set.
        set_modified_times: false,
        zero_copy: false,
    }
}

/// The back-end: one operator on `bucket/prefix`, shared by every volume.
pub struct S3Backend {
    op: Operator,
    settings: Arc<S3Settings>,
    probe: crate::storage::readiness::Readiness,
    sweeper: sweep::Sweeper,
    /// Changes made through any volume (voids the volumes' stat memos).
    writes: Arc<memo::Writes>,
}

impl std::fmt::Debug for S3Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "S3Backend({})", self.settings.describe)
    }
}

impl S3Backend {
    /// Connects to the store of a `storage: { kind: s3 }` section. Nothing is
    /// sent yet: a store that cannot be reached shows in [`Backend::probe`].
    pub fn open(config: &S3Config) -> Result<Self, String> {
        let (op, settings, sweeper) = S3Settings::connect(config)?;
        if settings.sweep_uploads && config.prefix.trim_matches('/').is_empty() {
            tracing::warn!(
                "storage.prefix is empty: the sweeper aborts stale multipart uploads anywhere in the bucket, \
                 other applications' too; give dualgate a prefix of its own, or set sweep_uploads: false"
            );
        }
        Ok(S3Backend {
            probe: probe::readiness(op.clone()),
            sweeper,
            writes: Arc::default(),
            op,
            settings: Arc::new(settings),
        })
    }

    /// `endpoint/bucket/prefix`, for the banner and logs.
    pub fn describe(&self) -> &str {
        &self.settings.describe
    }

    /// The volume rooted at `home`, which must exist as a directory (the root
    /// always does).
    pub async fn volume(&self, home: &VirtualPath) -> Result<S3Volume, StorageError> {
        let root = S3Volume {
            op: self.op.clone(),
            settings: self.settings.clone(),
            prefix: String::new(),
            memo: Arc::new(memo::StatMemo::new(self.writes.clone())),
        };
        if !home.is_root() && root.dir_state(&root.dir_key(home)).await? == DirState::Absent {
            return Err(StorageError::with_source(
                ErrorKind::NotFound,
                "the home directory does not exist",
            ));
        }
        Ok(S3Volume {
            prefix: if home.is_root() {
                String::new()
            } else {
                format!("{}/", home.relative())
            },
            ..root
        })
    }
}

#[async_trait]
impl Backend for S3Backend {
    fn name(&self) -> &'static str {
        "s3"
    }

    fn capabilities(&self) -> Capabilities {
        capabilities(self.settings.rename_dirs)
    }

    async fn attach(&self, user: &User) -> Result<Arc<dyn Storage>, StorageError> {
        Ok(Arc::new(self.volume(&user.home).await?))
    }

    /// Gives every component of `home` a marker, so the home outlives its last file.
    async fn create_home(&self, home: &VirtualPath) -> Result<bool, StorageError> {
        let root = self.volume(&VirtualPath::root()).await?;
        let mut created = false;
        let mut dir = VirtualPath::root();
        for name in home.components() {
            dir = dir
                .join_name(name)
                .map_err(|e| StorageError::with_source(ErrorKind::InvalidName, e.to_string()))?;
            if root.file(&dir).await?.is_some() {
                return Err(StorageError::with_source(
                    ErrorKind::NotADirectory,
                    "a file is in the way of the home directory",
                ));
            }
            let key = root.dir_key(&dir);
            match root.dir_state(&key).await? {
                DirState::Marker => {}
                state => {
                    created |= state == DirState::Absent;
                    root.make_marker(&key).await?;
                }
            }
        }
        Ok(created)
    }

    async fn probe(&self) -> Result<(), StorageError> {
        self.probe.check().await
    }

    /// Aborts the multipart uploads silent for `stale_uploads_after` ([`sweep`]).
    async fn sweep_stale_uploads(&self) -> Result<u64, StorageError> {
        if !self.settings.sweep_uploads {
            return Ok(0);
        }
        self.sweeper.sweep().await
    }

    /// Every half of the stale age, at most hourly and at least every 2 s.
    fn sweep_every(&self) -> Option<std::time::Duration> {
        if !self.settings.sweep_uploads {
            return None;
        }
        Some(
            (self.sweeper.stale_after() / 2)
                .clamp(std::time::Duration::from_secs(2), std::time::Duration::from_secs(3600)),
        )
    }
}

/// Whether a key prefix is a directory, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DirState {
    /// Nothing lies under it.
    Absent,
    /// Keys lie under it, but it has no marker of its own.
    Implicit,
    /// Its `dir/` marker exists.
    Marker,
}

/// One user's view of the store: the keys beneath their home's prefix.
#[derive(Clone)]
pub struct S3Volume {
    op: Operator,
    settings: Arc<S3Settings>,
    /// `alice/` for the home `/alice`; empty for `/`.
    prefix: String,
    /// The last file `stat` found, for the read after it.
    memo: Arc<memo::StatMemo>,
}

impl std::fmt::Debug for S3Volume {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "S3Volume({}/{})", self.settings.describe, self.prefix)
    }
}

/// An S3 ETag as the gateway sends it: quoted (stores differ on whether they
/// quote it in listings).
fn etag(raw: Option<&str>) -> Option<ETag> {
    let raw = raw?;
    if raw.starts_with('"') {
        ETag::new(raw)
    } else {
        ETag::new(&format!("\"{raw}\""))
    }
}

fn file_meta(m: &opendal::Metadata) -> Metadata {
    Metadata {
        kind: EntryKind::File,
        size: m.content_length(),
        // Whole seconds: a HEAD's Last-Modified has no more, and a listing's
        // milliseconds would make the two disagree.
        modified: m.last_modified().map(SystemTime::from).map(whole_seconds),
        mode: None,
        etag: etag(m.etag()),
    }
}

fn whole_seconds(t: SystemTime) -> SystemTime {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(d.as_secs()),
        Err(_) => t,
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

/// Whether a read failed because its object is no longer the version it was
/// pinned to.
fn changed(e: &std::io::Error) -> bool {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<opendal::Error>())
        .is_some_and(|e| e.kind() == opendal::ErrorKind::ConditionNotMatch)
}

/// Whether a listed name can be a path component here.
fn showable(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && crate::path::validate_name(name).is_ok()
}

impl S3Volume {
    /// The key of the file `path` would be (relative to the operator's root).
    fn key(&self, path: &VirtualPath) -> String {
        format!("{}{}", self.prefix, path.relative())
    }

    /// The key prefix (marker key) of the directory `path` would be; `/` for
    /// the root of the whole store.
    fn dir_key(&self, path: &VirtualPath) -> String {
        let key = if path.is_root() {
            self.prefix.clone()
        } else {
            format!("{}{}/", self.prefix, path.relative())
        };
        if key.is_empty() { "/".to_owned() } else { key }
    }

    /// The marker object of the directory whose prefix is `dir_key`.
    fn marker_key(&self, dir_key: &str) -> String {
        match self.settings.markers {
            DirectoryMarkers::Slash => dir_key.to_owned(),
            DirectoryMarkers::KeepFile if dir_key == "/" => KEEP_FILE.to_owned(),
            DirectoryMarkers::KeepFile => format!("{dir_key}{KEEP_FILE}"),
        }
    }

    /// Whether a listed key is the marker of the directory `dir_key`.
    fn is_marker(&self, dir_key: &str, listed: &str) -> bool {
        listed == self.marker_key(dir_key) || (dir_key == "/" && listed.is_empty())
    }

    /// Writes the marker of the directory whose prefix is `dir_key`.
    async fn make_marker(&self, dir_key: &str) -> Result<(), StorageError> {
        let written = match self.settings.markers {
            DirectoryMarkers::Slash => self.op.create_dir(dir_key).await.map(|_| ()),
            DirectoryMarkers::KeepFile => self
                .op
                .write(&self.marker_key(dir_key), Vec::<u8>::new())
                .await
                .map(|_| ()),
        };
        written.map_err(storage_error)
    }

    /// Refuses a path through a keep file (`directory_markers: keep_file`): the
    /// markers are the gateway's, never a user's file or directory.
    fn check_name(&self, path: &VirtualPath) -> Result<(), StorageError> {
        if self.settings.markers == DirectoryMarkers::KeepFile && path.components().any(|c| c == KEEP_FILE) {
            return Err(StorageError::with_source(
                ErrorKind::InvalidName,
                "this name is reserved for directory markers",
            ));
        }
        Ok(())
    }

    /// The object at `path`, if there is one (HeadObject).
    async fn file(&self, path: &VirtualPath) -> Result<Option<opendal::Metadata>, StorageError> {
        if path.is_root() {
            return Ok(None);
        }
        let key = self.key(path);
        if self.settings.markers == DirectoryMarkers::KeepFile {
            // File-system–backed stores (s3s-fs, the reason for keep files)
            // answer a HEAD of a name that is a directory on their disk — even
            // one left empty — with a 500, which the retry layer repeats. A
            // listing of the key as a prefix names the object first if there
            // is one, so only a real object gets its HEAD.
            let mut lister = self.op.lister_with(&key).limit(1).await.map_err(storage_error)?;
            match lister.try_next().await.map_err(storage_error)? {
                Some(entry) if entry.path() == key && !entry.metadata().is_dir() => {}
                _ => return Ok(None),
            }
        }
        match self.op.stat(&key).await {
            Ok(m) if !m.is_dir() => Ok(Some(m)),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == opendal::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(storage_error(e)),
        }
    }

    /// What lies under the prefix `key` (one listing request of one key: the
    /// marker sorts before everything under it).
    async fn dir_state(&self, key: &str) -> Result<DirState, StorageError> {
        let mut lister = self.op.lister_with(key).limit(1).await.map_err(storage_error)?;
        match lister.try_next().await.map_err(storage_error)? {
            None => Ok(DirState::Absent),
            Some(entry) if self.is_marker(key, entry.path()) => Ok(DirState::Marker),
            // A keep file need not sort first (`dir/ a` comes before it): ask for it.
            Some(_) if self.settings.markers == DirectoryMarkers::KeepFile => {
                match self.op.stat(&self.marker_key(key)).await {
                    Ok(_) => Ok(DirState::Marker),
                    Err(e) if e.kind() == opendal::ErrorKind::NotFound => Ok(DirState::Implicit),
                    Err(e) => Err(storage_error(e)),
                }
            }
            Some(_) => Ok(DirState::Implicit),
        }
    }

    /// Whether `path` is a directory; the volume root always is.
    async fn is_dir(&self, path: &VirtualPath) -> Result<bool, StorageError> {
        Ok(path.is_root() || self.dir_state(&self.dir_key(path)).await? != DirState::Absent)
    }

    /// Fails unless the parent of `path` is a directory.
    async fn need_parent(&self, path: &VirtualPath) -> Result<(), StorageError> {
        if self.is_dir(&path.parent()).await? {
            Ok(())
        } else {
            Err(StorageError::new(ErrorKind::ParentMissing))
        }
    }

    /// Before the last entry of a directory may go: gives an implicit parent
    /// its marker, so the directory the user is in does not vanish with it.
    async fn keep_parent(&self, path: &VirtualPath) -> Result<(), StorageError> {
        let parent = path.parent();
        if parent.is_root() {
            return Ok(());
        }
        let key = self.dir_key(&parent);
        if self.dir_state(&key).await? == DirState::Implicit {
            self.make_marker(&key).await?;
        }
        Ok(())
    }

    /// The error for a path that is neither a file nor a directory.
    fn absent() -> StorageError {
        StorageError::new(ErrorKind::NotFound)
    }

    /// Copies one object inside the store.
    async fn copy_key(&self, from: &str, to: &str) -> Result<(), StorageError> {
        self.op.copy(from, to).await.map(|_| ()).map_err(storage_error)
    }

    /// Copies every key under `from_dir` to the same place under `to_dir`
    /// (markers included), then gives `to_dir` its own marker; the count of
    /// keys copied, or how far it got.
    async fn copy_tree(&self, from: &VirtualPath, to: &VirtualPath) -> Result<u64, TreeError> {
        let (from_key, to_key) = (self.dir_key(from), self.dir_key(to));
        let fail = |error: StorageError, done: u64| TreeError {
            error,
            done,
            at: from.clone(),
        };
        self.make_marker(&to_key).await.map_err(|e| fail(e, 0))?;
        let mut done = 1u64;
        let mut lister = self
            .op
            .lister_with(&from_key)
            .recursive(true)
            .limit(self.settings.list_page_size)
            .await
            .map_err(|e| fail(storage_error(e), done))?;
        while let Some(entry) = lister.try_next().await.map_err(|e| fail(storage_error(e), done))? {
            let Some(rest) = entry.path().strip_prefix(from_key.as_str()) else {
                continue;
            };
            if rest.is_empty() || self.is_marker(&from_key, entry.path()) {
                continue; // the source's own marker: the copy has its own
            }
            let target = format!("{to_key}{rest}");
            let copied = if rest.ends_with('/') {
                self.op.create_dir(&target).await.map_err(storage_error)
            } else {
                self.copy_key(entry.path(), &target).await
            };
            copied.map_err(|e| fail(e, done))?;
            done += 1;
        }
        Ok(done)
    }

    /// Renames a directory key by key: copies the tree, then deletes the
    /// source's keys. Not atomic; a failure says how far it got.
    async fn rename_tree(&self, from: &VirtualPath, to: &VirtualPath) -> Result<(), StorageError> {
        if self.file(to).await?.is_some() {
            return Err(StorageError::new(ErrorKind::NotADirectory));
        }
        if self.is_dir(to).await? {
            return Err(StorageError::new(ErrorKind::AlreadyExists));
        }
        self.need_parent(to).await?;
        self.keep_parent(from).await?;
        let copied = self.copy_tree(from, to).await.map_err(|e| {
            StorageError::with_source(
                e.error.kind,
                format!(
                    "directory rename stopped after copying {} keys (the source is complete): {e}",
                    e.done
                ),
            )
        })?;
        let from_key = self.dir_key(from);
        let keys: Vec<String> = self
            .op
            .lister_with(&from_key)
            .recursive(true)
            .await
            .map_err(storage_error)?
            .map_ok(|e| e.path().to_owned())
            .try_collect()
            .await
            .map_err(storage_error)?;
        let from_marker = self.marker_key(&from_key);
        for (deleted, key) in keys.iter().chain(std::iter::once(&from_marker)).enumerate() {
            if let Err(e) = self.op.delete(key).await {
                return Err(StorageError::with_source(
                    storage_error(e).kind,
                    format!(
                        "directory rename copied all {copied} keys but deleted only {deleted} of the {} source keys",
                        keys.len() + 1
                    ),
                ));
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Storage for S3Volume {
    fn name(&self) -> &'static str {
        "s3"
    }

    fn capabilities(&self) -> Capabilities {
        capabilities(self.settings.rename_dirs)
    }

    async fn stat(&self, path: &VirtualPath) -> Result<Metadata, StorageError> {
        self.check_name(path)?;
        let asked = self.memo.before_stat();
        if let Some(m) = self.file(path).await? {
            if m.etag().is_some() {
                // (Only what a read can be pinned to.)
                self.memo.put(&self.key(path), &m, asked);
            }
            return Ok(file_meta(&m));
        }
        if self.is_dir(path).await? {
            Ok(dir_meta(self.settings.dir_time))
        } else {
            Err(Self::absent())
        }
    }

    async fn list(&self, path: &VirtualPath) -> Result<ListStream, StorageError> {
        self.check_name(path)?;
        let dir_key = self.dir_key(path);
        let lister = self
            .op
            .lister_with(&dir_key)
            .limit(self.settings.list_page_size)
            .await
            .map_err(storage_error)?;
        // An empty first page means nothing lies below: not a directory, unless
        // it is the root.
        let mut lister = lister.peekable();
        if !path.is_root() && std::pin::Pin::new(&mut lister).peek().await.is_none() {
            return Err(if self.file(path).await?.is_some() {
                StorageError::new(ErrorKind::NotADirectory)
            } else {
                Self::absent()
            });
        }
        let dir_time = self.settings.dir_time;
        let marker = self.marker_key(&dir_key);
        let stream = lister
            .filter_map(move |entry| {
                let (dir_key, marker) = (dir_key.clone(), marker.clone());
                async move {
                    let entry = match entry {
                        Ok(entry) => entry,
                        Err(e) => return Some(Err(storage_error(e))),
                    };
                    let rest = entry.path().strip_prefix(dir_key.as_str()).unwrap_or(entry.path());
                    if rest.is_empty() || entry.path() == dir_key || entry.path() == marker {
                        return None; // the directory's own marker
                    }
                    let meta = entry.metadata();
                    let name = rest.trim_end_matches('/');
                    if !showable(name) {
                        tracing::debug!(key = entry.path(), "a key whose name a path cannot hold is not listed");
                        return None;
                    }
                    Some(Ok(DirEntry {
                        name: smol_str::SmolStr::new(name),
                        meta: if meta.is_dir() {
                            dir_meta(dir_time)
                        } else {
                            file_meta(meta)
                        },
                    }))
                }
            })
            .ready_chunks(LIST_BATCH)
            .map(|batch| batch.into_iter().collect::<Result<Vec<_>, _>>());
        Ok(Box::pin(stream))
    }

    async fn read(&self, path: &VirtualPath, offset: u64, len: Option<u64>) -> Result<ReadHandle, StorageError> {
        self.check_name(path)?;
        let key = self.key(path);
        // What a stat found a moment ago, if it did: the read is pinned to it,
        // and starts over from a HeadObject of its own if it no longer holds.
        let mut memo = self.memo.take(&key);
        loop {
            let from_memo = memo.is_some();
            let m = match memo.take() {
                Some(m) => m,
                None => match self.file(path).await? {
                    Some(m) => m,
                    None if self.is_dir(path).await? => return Err(StorageError::new(ErrorKind::IsADirectory)),
                    None => return Err(Self::absent()),
                },
            };
            let meta = file_meta(&m);
            if offset > meta.size {
                if from_memo {
                    continue;
                }
                return Err(StorageError::new(ErrorKind::InvalidOffset));
            }
            let len = len.map_or(meta.size - offset, |l| l.min(meta.size - offset));
            if len == 0 {
                return Ok(ReadHandle {
                    meta,
                    body: ReadBody::Stream(Box::pin(futures_util::stream::empty())),
                });
            }
            let mut reader = self.op.reader_with(&key);
            if let Some(tag) = m.etag() {
                // Pinned: every request of this read, retries included, must find
                // the version it started with.
                reader = reader.if_match(tag);
            }
            let mut stream = reader
                .await
                .map_err(storage_error)?
                .into_bytes_stream(offset..offset + len)
                .await
                .map_err(storage_error)?;
            // The first chunk now: an object changed since the memo shows here.
            let first = stream.next().await;
            if from_memo && first.as_ref().is_some_and(|r| r.as_ref().is_err_and(changed)) {
                continue;
            }
            let stream = futures_util::stream::iter(first).chain(stream).map_err(stream_error);
            return Ok(ReadHandle {
                meta,
                body: ReadBody::Stream(Box::pin(stream)),
            });
        }
    }

    async fn write(&self, path: &VirtualPath, mode: WriteMode) -> Result<Box<dyn Upload>, StorageError> {
        refuse_root(path)?;
        self.check_name(path)?;
        let _writing = self.memo.writing();
        // The three checks in one round trip: an upload's latency is mostly these.
        let (parent, existing, dir) = tokio::join!(self.need_parent(path), self.file(path), self.is_dir(path));
        parent?;
        let existing = existing?;
        if existing.is_none() && dir? {
            return Err(StorageError::new(ErrorKind::IsADirectory));
        }
        let size = existing.as_ref().map_or(0, opendal::Metadata::content_length);
        let keep = match mode {
            WriteMode::CreateNew if existing.is_some() => return Err(StorageError::new(ErrorKind::AlreadyExists)),
            WriteMode::At(n) if n > size => return Err(StorageError::new(ErrorKind::InvalidOffset)),
            WriteMode::At(n) => n,
            WriteMode::Append => size,
            WriteMode::Replace | WriteMode::CreateNew => 0,
        };
        let key = self.key(path);
        // A token of this upload in the object's metadata: when the answer to
        // its commit is lost, the object shows whether the commit was ours.
        let token = format!("{:032x}", rand::random::<u128>());
        let mut writer = self
            .op
            .writer_with(&key)
            .user_metadata([(upload::TOKEN_KEY.to_owned(), token.clone())])
            .concurrent(self.settings.upload_concurrency)
            .if_not_exists(mode == WriteMode::CreateNew);
        if keep < MIN_COPY_PART {
            writer = writer.chunk(self.settings.part_size);
        }
        // else: OpenDAL's writer cuts a copy into parts of its chunk size when
        // one is set — 64 UploadPartCopy requests for a 1 GiB prefix, each of
        // which a store may serve by reading the source again. Without one it
        // copies each slice with one request, and the upload cuts the new bytes
        // into parts itself (`S3Upload::parts_of`).
        let mut writer = writer.await.map_err(storage_error)?;
        // A resumed upload or an append starts with the bytes it keeps, copied
        // inside the store and pinned to the version that was measured.
        let mut at = 0;
        while at < keep {
            let slice = (keep - at).min(MAX_COPY_SLICE);
            let options = ReadOptions {
                range: (at..at + slice).into(),
                if_match: existing.as_ref().and_then(|m| m.etag()).map(str::to_owned),
                ..ReadOptions::default()
            };
            if let Err(e) = writer.copy_from_options(&key, options).await {
                upload::abort_or_hand_off(writer, key).await;
                return Err(storage_error(e));
            }
            at += slice;
        }
        let parts_of = (keep >= MIN_COPY_PART).then_some(self.settings.part_size);
        Ok(Box::new(S3Upload::new(
            writer,
            upload::Target {
                op: self.op.clone(),
                key,
                token,
                size: keep,
                memo: self.memo.clone(),
            },
            mode,
            existing.is_none(),
            parts_of,
        )))
    }

    async fn delete(&self, path: &VirtualPath) -> Result<(), StorageError> {
        refuse_root(path)?;
        self.check_name(path)?;
        let _writing = self.memo.writing();
        if self.file(path).await?.is_none() {
            return Err(if self.is_dir(path).await? {
                StorageError::new(ErrorKind::IsADirectory)
            } else {
                Self::absent()
            });
        }
        self.keep_parent(path).await?;
        self.op.delete(&self.key(path)).await.map_err(storage_error)
    }

    async fn mkdir(&self, path: &VirtualPath) -> Result<(), StorageError> {
        refuse_root(path)?;
        self.check_name(path)?;
        if self.file(path).await?.is_some() || self.is_dir(path).await? {
            return Err(StorageError::new(ErrorKind::AlreadyExists));
        }
        self.need_parent(path).await?;
        self.make_marker(&self.dir_key(path)).await
    }

    async fn rmdir(&self, path: &VirtualPath) -> Result<(), StorageError> {
        refuse_root(path)?;
        self.check_name(path)?;
        if self.file(path).await?.is_some() {
            return Err(StorageError::new(ErrorKind::NotADirectory));
        }
        let key = self.dir_key(path);
        let mut lister = self.op.lister_with(&key).limit(2).await.map_err(storage_error)?;
        let mut marker = false;
        while let Some(entry) = lister.try_next().await.map_err(storage_error)? {
            if self.is_marker(&key, entry.path()) {
                marker = true;
            } else {
                return Err(StorageError::new(ErrorKind::DirectoryNotEmpty));
            }
        }
        if !marker {
            return Err(Self::absent());
        }
        self.keep_parent(path).await?;
        self.op.delete(&self.marker_key(&key)).await.map_err(storage_error)
    }

    async fn rename(&self, from: &VirtualPath, to: &VirtualPath) -> Result<(), StorageError> {
        refuse_root(from)?;
        refuse_root(to)?;
        self.check_name(from)?;
        self.check_name(to)?;
        let _writing = self.memo.writing();
        if to.starts_with(from) && to != from {
            return Err(StorageError::new(ErrorKind::InvalidName));
        }
        if self.file(from).await?.is_none() {
            if !self.is_dir(from).await? {
                return Err(Self::absent());
            }
            if self.settings.rename_dirs == RenameDirs::Refuse {
                return Err(StorageError::with_source(
                    ErrorKind::Unsupported,
                    "directories are not renamed in an object store (storage.rename_dirs: refuse)",
                ));
            }
            if from == to {
                return Ok(());
            }
            return self.rename_tree(from, to).await;
        }
        if from == to {
            return Ok(());
        }
        self.need_parent(to).await?;
        if self.file(to).await?.is_none() && self.is_dir(to).await? {
            return Err(StorageError::new(ErrorKind::IsADirectory));
        }
        self.keep_parent(from).await?;
        // Copy then delete: between the two, both names exist; a failed delete
        // leaves both (reported, never a lost file).
        self.copy_key(&self.key(from), &self.key(to)).await?;
        self.op.delete(&self.key(from)).await.map_err(storage_error)
    }

    async fn copy(&self, from: &VirtualPath, to: &VirtualPath) -> Result<(), TreeError> {
        if to.starts_with(from) {
            // Into itself: it would never end.
            return Err(TreeError::at_start(StorageError::new(ErrorKind::InvalidName), to));
        }
        refuse_root(to).map_err(|e| TreeError::at_start(e, to))?;
        self.check_name(from).map_err(|e| TreeError::at_start(e, from))?;
        self.check_name(to).map_err(|e| TreeError::at_start(e, to))?;
        let _writing = self.memo.writing();
        let source = self.file(from).await.map_err(|e| TreeError::at_start(e, from))?;
        if source.is_none() && !self.is_dir(from).await.map_err(|e| TreeError::at_start(e, from))? {
            return Err(TreeError::at_start(Self::absent(), from));
        }
        let taken = self.file(to).await.map_err(|e| TreeError::at_start(e, to))?.is_some()
            || self.is_dir(to).await.map_err(|e| TreeError::at_start(e, to))?;
        if taken {
            return Err(TreeError::at_start(StorageError::new(ErrorKind::AlreadyExists), to));
        }
        self.need_parent(to).await.map_err(|e| TreeError::at_start(e, to))?;
        if source.is_some() {
            return self
                .copy_key(&self.key(from), &self.key(to))
                .await
                .map_err(|e| TreeError::at_start(e, from));
        }
        self.copy_tree(from, to).await.map(|_| ())
    }

    /// Removes a file, or every key under a directory's prefix (markers
    /// included) in batched deletes; the keys removed, or how far it got.
    async fn remove_tree(&self, path: &VirtualPath) -> Result<u64, TreeError> {
        let at_start = |e| TreeError::at_start(e, path);
        refuse_root(path).map_err(at_start)?;
        self.check_name(path).map_err(at_start)?;
        let _writing = self.memo.writing();
        if self.file(path).await.map_err(at_start)?.is_some() {
            self.delete(path).await.map_err(at_start)?;
            return Ok(1);
        }
        let key = self.dir_key(path);
        if self.dir_state(&key).await.map_err(at_start)? == DirState::Absent {
            return Err(at_start(Self::absent()));
        }
        self.keep_parent(path).await.map_err(at_start)?;
        let fail = |e: opendal::Error, done: u64| TreeError {
            error: storage_error(e),
            done,
            at: path.clone(),
        };
        let mut lister = self
            .op
            .lister_with(&key)
            .recursive(true)
            .limit(self.settings.list_page_size)
            .await
            .map_err(|e| fail(e, 0))?;
        let mut deleter = self.op.deleter().await.map_err(|e| fail(e, 0))?;
        let mut done = 0u64;
        while let Some(entry) = lister.try_next().await.map_err(|e| fail(e, done))? {
            deleter.delete(entry.path()).await.map_err(|e| fail(e, done))?;
            done += 1;
        }
        // The directory's own marker (listed or not: deleting a missing key is no error).
        deleter
            .delete(self.marker_key(&key).as_str())
            .await
            .map_err(|e| fail(e, done))?;
        deleter.close().await.map_err(|e| fail(e, done))?;
        Ok(done)
    }
}

#[cfg(test)]
mod tests;
