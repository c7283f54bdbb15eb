//! The upstream-FTP back-end: dualgate in front of an existing FTP(S) server.
//! Every command still goes through dualgate's pipeline and policy; this module
//! turns the storage calls into FTP commands on the upstream, over a bounded
//! pool of logged-in control connections ([`pool`]) with `suppaftp`.
//!
//! A volume is an upstream directory: `storage.root` joined with the user's
//! home. Paths are [`VirtualPath`]s (`..` already clamped) and every command
//! names an absolute upstream path, so nothing outside the volume can be named
//! (the upstream's own symbolic links are the upstream's business). The
//! semantics, as the README documents them:
//!
//! - **stat**: `MLST` where FEAT lists it; else `SIZE` + `MDTM` for files and,
//!   when `SIZE` refuses, `CWD` to tell a directory, whose time comes from its
//!   parent's listing. Without MLST, times are cut to what a `LIST` line shows
//!   (the minute, or the day for files older than six months) so that `stat`
//!   and listings agree. The upstream root itself shows the time the back-end
//!   was opened when it has no listable parent.
//! - **list**: `CWD`, then `MLSD` or `LIST -a` ([`listing`]; a plain `LIST`
//!   from the first time an upstream refuses `-a`, [`learned`]), streamed in
//!   batches. Temporary uploads are never shown; abandoned ones a listing meets
//!   are deleted in the background ([`sweep`]). `LIST` times have minute
//!   precision (older files: day precision; DOS-format listings always show
//!   minutes, so an old file's `stat` and listing times may differ there).
//! - **read** ([`download`]): `TYPE I` (set at login), `REST n`, `RETR`. A
//!   read to the end of the file over a plain data connection comes back as
//!   that connection ([`SocketSource`]), which the FTP data path relays with
//!   `splice(2)`; anything else is streamed. A read that ends before the file
//!   does (an HTTP range) closes its connection rather than sending ABOR, and
//!   the pool opens a fresh one when needed.
//! - **write** ([`upload`]): to a hidden temporary name, renamed over the
//!   target after the upstream's 226 (`atomic_uploads`); resume
//!   ([`Resume::Rewrite`]) and append: the kept bytes (for an append, the whole
//!   file) are read back from the upstream (`RETR`) into the temporary file,
//!   then the new ones, then the rename — atomic, at the cost of the whole
//!   file. With `atomic_uploads: false`, `STOR` and `APPE` write in place.
//! - **delete, mkdir, rmdir, rename**: `DELE`, `MKD`, `RMD`, `RNFR`/`RNTO`
//!   (directories too), each after the checks that give the right kind of
//!   error (an FTP 550 says little). **copy**: `RETR` streamed into an upload
//!   over a second connection, directories entry by entry (the gateway relays
//!   the bytes; the client sends nothing, so it counts as the back-end's own
//!   copy for WebDAV `COPY`).
//! - **modes**: `set_mode` is `SITE CHMOD <octal> <path>`. An upstream that
//!   answers it 500/502/504 has none: remembered ([`learned`]), and from then on
//!   refused up front (the volume's capabilities say so, SITE HELP leaves it
//!   out). Modes are shown where the upstream shows them: MLST/MLSD's
//!   `UNIX.mode` fact (in `stat` and listings: [`Capabilities::modes`]), a Unix
//!   `LIST` line's permission column (listings only: a SIZE + MDTM `stat` has none).
//! - **times**: `set_modified` is `MFMT <time> <path>` where the upstream's
//!   FEAT (read at its first login, before any volume is handed out) lists
//!   MFMT; elsewhere refused up front.
//! - No dead properties, no ETags.
//! - **names**: `encoding: utf8` reads them as UTF-8 (others lossily: shown but
//!   not openable); `encoding: latin1` gives suppaftp a Latin-1 encoding, so
//!   every command (paths included) is sent in it and MLST replies are decoded
//!   from it, and decodes listing lines with it
//!   ([`UpstreamSettings::decode`]); a name Latin-1 cannot spell fails as an
//!   invalid name before anything is sent.

mod download;
mod errors;
mod learned;
mod listing;
pub mod passthrough;
mod pool;
mod pools;
mod probe;
pub mod routing;
pub mod settings;
mod sweep;
mod upload;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use async_trait::async_trait;
use futures_util::StreamExt;

use super::{
    Backend, Capabilities, DirEntry, EntryKind, ErrorKind, ListStream, Metadata, ReadBody, ReadHandle, Resume, Storage,
    StorageError, TreeError, Upload, WriteMode, refuse_root,
};
use crate::auth::{BackendAccount, Password, User};
use crate::config::UpstreamFtpConfig;
use crate::path::VirtualPath;
pub use download::SocketSource;
use download::{Download, READ_CHUNK};
use learned::Lack;
use listing::{Lister, RawEntry};
use pool::{Lease, ftp};
use pools::Pools;
pub use settings::UpstreamSettings;
pub use upload::SocketSink;
use upload::{FtpUpload, TEMP_PREFIX, Transfer};

/// Entries per listing batch handed to the data paths.
const LIST_BATCH: usize = 256;

/// Most entries one directory may have when it is read whole (the parent
/// lookup of a directory's `stat`, a tree copy, `rmdir`'s leftover check).
const MAX_COLLECT: usize = 100_000;

/// What a volume on `upstream` can do, as far as known now: some of it is
/// learned from the upstream's FEAT at its first login (before it: what it may
/// do), some from its first refusal ([`learned`]).
fn capabilities(upstream: &UpstreamSettings) -> Capabilities {
    let features = upstream.features.get();
    Capabilities {
        append: true,
        // Resuming rewrites through a temporary file: without temporary files
        // there is no way to cut the file at the offset.
        resume: if upstream.atomic_uploads {
            Resume::Rewrite
        } else {
            Resume::None
        },
        atomic_rename: true,
        rename_dirs: true,
        empty_dirs: true,
        // The copy is the back-end's: relayed between two upstream connections,
        // the client sends nothing again.
        server_side_copy: true,
        // Shown in stat and listings alike only where MLST gives the UNIX.mode
        // fact; `LIST` lines show them in listings only (a SIZE + MDTM stat has none).
        modes: features.is_some_and(|f| f.mlsx && f.unix_mode),
        // SITE CHMOD passed through, until the upstream says it has none.
        set_modes: !upstream.learned.lacks(Lack::SiteChmod),
        dead_properties: false,
        modified_times: true,
        // MFMT passed through where FEAT lists it (not known yet: it may).
        set_modified_times: features.is_none_or(|f| f.mfmt),
        zero_copy: false,
    }
}

/// The back-end: its upstreams, and the connection pools of the accounts in
/// use on them ([`pools`]), shared by every volume.
pub struct UpstreamFtpBackend {
    /// By name; `default` is the section's own.
    upstreams: BTreeMap<String, Arc<UpstreamSettings>>,
    /// The service account (user, password), if configured.
    service: Option<(String, Password)>,
    /// Homes are made at start-up (`credentials: static` only: with per-user
    /// accounts a home lies in the user's own upstream tree, which the service
    /// account may not see).
    creates_homes: bool,
    pools: Arc<Pools>,
    probe: crate::storage::readiness::Readiness,
}

impl std::fmt::Debug for UpstreamFtpBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "UpstreamFtpBackend({})", self.describe())
    }
}

impl UpstreamFtpBackend {
    /// Prepares the back-end of a `storage: { kind: upstream_ftp }` section.
    /// Nothing is sent yet: an upstream that cannot be reached shows in
    /// [`Backend::probe`].
    pub fn open(config: &UpstreamFtpConfig) -> Result<Self, String> {
        let upstreams: BTreeMap<String, Arc<UpstreamSettings>> = UpstreamSettings::all_from_config(config)?
            .into_iter()
            .map(|s| (s.name.clone(), Arc::new(s)))
            .collect();
        let service = match &config.user {
            Some(user) => Some((
                user.clone(),
                settings::read_password(
                    "storage.password",
                    config.password.as_ref(),
                    config.password_file.as_deref(),
                )?,
            )),
            None => None,
        };
        let sweep_every = (config.idle_timeout.0 / 2).max(Duration::from_millis(500));
        let pools = Pools::new(config.max_pools as usize, sweep_every);
        Ok(UpstreamFtpBackend {
            probe: probe::readiness(upstreams.values().cloned().collect(), pools.clone(), service.clone()),
            upstreams,
            service,
            pools,
            creates_homes: config.credentials == crate::config::UpstreamCredentials::Static,
        })
    }

    /// The default upstream, `ftp://[user@]host:port/root`, and how many
    /// others there are, for the banner and logs.
    pub fn describe(&self) -> String {
        let default = self.default_upstream();
        let user = self.service.as_ref().map_or(String::new(), |(u, _)| format!("{u}@"));
        let mut text = default.describe.replacen("ftp://", &format!("ftp://{user}"), 1);
        if self.upstreams.len() > 1 {
            text.push_str(&format!(" (+{} more upstreams)", self.upstreams.len() - 1));
        }
        text
    }

    fn default_upstream(&self) -> &Arc<UpstreamSettings> {
        // `all_from_config` always makes the default one.
        &self.upstreams[routing::DEFAULT_UPSTREAM]
    }

    /// The upstream named `name`.
    fn upstream(&self, name: &str) -> Result<&Arc<UpstreamSettings>, StorageError> {
        self.upstreams
            .get(name)
            .ok_or_else(|| StorageError::with_source(ErrorKind::Other, format!("no upstream named `{name}`")))
    }

    /// The connection pools open now (one per upstream account in use).
    pub fn pools(&self) -> usize {
        self.pools.count()
    }

    /// Whether the upstream of `account` takes its password (a new
    /// connection logs in; the connection is then kept for the user's work).
    pub async fn check_login(&self, account: &BackendAccount) -> Result<bool, StorageError> {
        let upstream = self.upstream(&account.upstream)?;
        let pool = self.pools.pool(upstream, &account.user, &account.password)?;
        Ok(pool.check_login(&account.password).await? == pool::LoginCheck::Accepted)
    }

    /// The volume of `account` (`None`: the service account on the default
    /// upstream) rooted at `home`, which must exist as a directory.
    pub async fn volume(
        &self,
        home: &VirtualPath,
        account: Option<&BackendAccount>,
    ) -> Result<FtpVolume, StorageError> {
        let (upstream, user, password, root) = match account {
            Some(a) => {
                let upstream = self.upstream(&a.upstream)?;
                let root = a
                    .root
                    .as_deref()
                    .map_or_else(|| upstream.root.clone(), |r| r.trim_end_matches('/').to_owned());
                (upstream.clone(), a.user.clone(), a.password.clone(), root)
            }
            None => {
                let Some((user, password)) = &self.service else {
                    return Err(StorageError::with_source(
                        ErrorKind::PermissionDenied,
                        "no upstream account for this user (no storage.map entry, no service account)",
                    ));
                };
                let upstream = self.default_upstream().clone();
                let root = upstream.root.clone();
                (upstream, user.clone(), password.clone(), root)
            }
        };
        let vol = FtpVolume {
            pools: self.pools.clone(),
            upstream,
            user,
            password,
            base: format!("{root}{}", if home.is_root() { "" } else { home.as_str() }),
        };
        let check_home = !home.is_root() || account.is_some_and(|a| a.root.is_some());
        if check_home || vol.upstream.features.get().is_none() {
            // The first connection to an upstream reads its FEAT: from then on
            // the volume's capabilities are what the upstream can do.
            let mut lease = vol.lease().await?;
            if check_home && !vol.is_dir_with(&mut lease, &vol.base_dir()).await? {
                return Err(StorageError::with_source(
                    ErrorKind::NotFound,
                    "the home directory does not exist on the upstream",
                ));
            }
        }
        Ok(vol)
    }
}

#[async_trait]
impl Backend for UpstreamFtpBackend {
    fn name(&self) -> &'static str {
        "ftp"
    }

    /// What any volume may do: what one of the upstreams can (or, not known
    /// yet, may) do.
    fn capabilities(&self) -> Capabilities {
        let mut all = self.upstreams.values().map(|u| capabilities(u));
        let first = all.next().unwrap_or_else(|| capabilities(self.default_upstream()));
        all.fold(first, |c, u| Capabilities {
            modes: c.modes || u.modes,
            set_modes: c.set_modes || u.set_modes,
            set_modified_times: c.set_modified_times || u.set_modified_times,
            ..c
        })
    }

    async fn attach(&self, user: &User) -> Result<Arc<dyn Storage>, StorageError> {
        Ok(Arc::new(self.volume(&user.home, user.account.as_deref()).await?))
    }

    /// Made with the service account on the default upstream, with
    /// `credentials: static`; with per-user accounts nothing is made: homes
    /// must exist upstream.
    async fn create_home(&self, home: &VirtualPath) -> Result<bool, StorageError> {
        if !self.creates_homes {
            return Ok(false);
        }
        let root = self.volume(&VirtualPath::root(), None).await?;
        let mut lease = root.lease().await?;
        let mut created = false;
        let mut dir = VirtualPath::root();
        for name in home.components() {
            dir = dir
                .join_name(name)
                .map_err(|e| StorageError::with_source(ErrorKind::InvalidName, e.to_string()))?;
            let up = root.upath(&dir);
            if root.is_dir_with(&mut lease, &up).await? {
                continue;
            }
            if root.taken_with(&mut lease, &up).await? {
                return Err(StorageError::with_source(
                    ErrorKind::NotADirectory,
                    "a file is in the way of the home directory",
                ));
            }
            ftp!(lease, "MKD", lease.ftp().mkdir(up.as_str()))?;
            created = true;
        }
        Ok(created)
    }

    async fn probe(&self) -> Result<(), StorageError> {
        self.probe.check().await
    }
}

/// One user's view of an upstream: the tree beneath their home, as their
/// upstream account.
#[derive(Clone)]
pub struct FtpVolume {
    pools: Arc<Pools>,
    upstream: Arc<UpstreamSettings>,
    user: String,
    password: Password,
    /// Upstream path of the volume root, without a trailing `/` (empty for the
    /// upstream's `/`).
    base: String,
}

impl std::fmt::Debug for FtpVolume {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "FtpVolume(ftp://{}@{}:{}{})",
            self.user, self.upstream.host, self.upstream.port, self.base
        )
    }
}

/// Whether a listed name is one of the back-end's own temporary uploads.
fn is_temp(name: &str) -> bool {
    name.starts_with(TEMP_PREFIX)
}

/// An `MDTM` time cut to the precision a `LIST` line shows it with (`ls -l`:
/// to the minute within the last six months, else to the day), so that `stat`
/// and listings of an upstream without MLST agree — on sizes, times and so the
/// HTTP validators derived from them (a WebDAV client compares PROPFIND's with
/// GET's). Only upstreams without MLST get here.
fn listing_precision(t: std::time::SystemTime) -> std::time::SystemTime {
    const HALF_YEAR: Duration = Duration::from_secs(182 * 86_400);
    let secs = t.duration_since(UNIX_EPOCH).map_or(1, |d| d.as_secs());
    let recent = std::time::SystemTime::now()
        .checked_sub(HALF_YEAR)
        .is_some_and(|limit| t > limit);
    let unit = if recent { 60 } else { 86_400 };
    UNIX_EPOCH + Duration::from_secs((secs - secs % unit).max(1))
}

fn dir_meta(modified: std::time::SystemTime) -> Metadata {
    Metadata {
        kind: EntryKind::Dir,
        size: 0,
        modified: Some(modified),
        mode: None,
        etag: None,
    }
}

impl FtpVolume {
    /// A connection of this volume's account.
    async fn lease(&self) -> Result<Lease, StorageError> {
        self.pools.pool(&self.upstream, &self.user, &self.password)?.get().await
    }

    /// A second connection beside one this volume already holds, if one can be
    /// had without waiting ([`pool::Pool::spare`]).
    async fn spare_lease(&self, open_new: bool) -> Option<Lease> {
        self.pools
            .pool(&self.upstream, &self.user, &self.password)
            .ok()?
            .spare(open_new)
            .await
    }

    /// The upstream path of `path`.
    fn upath(&self, path: &VirtualPath) -> String {
        if path.is_root() {
            self.base_dir()
        } else {
            format!("{}/{}", self.base, path.relative())
        }
    }

    /// The upstream path of the volume root.
    fn base_dir(&self) -> String {
        if self.base.is_empty() {
            "/".to_owned()
        } else {
            self.base.clone()
        }
    }

    /// A listing batch of the upstream directory `dir` as shown: without the
    /// temporary uploads, the abandoned ones among them swept ([`sweep`]).
    fn shown(&self, dir: &str, batch: Vec<RawEntry>) -> Vec<DirEntry> {
        let now = std::time::SystemTime::now();
        let dir = dir.trim_end_matches('/');
        batch
            .into_iter()
            .filter(|(name, meta)| {
                if !is_temp(name) {
                    return true;
                }
                if sweep::is_stale(meta.modified, self.upstream.stale_uploads_after, now) {
                    self.sweep(format!("{dir}/{name}"));
                }
                false
            })
            .map(|(name, meta)| DirEntry {
                name: name.into(),
                meta,
            })
            .collect()
    }

    fn mlsx(&self) -> bool {
        self.upstream.features.get().is_some_and(|f| f.mlsx)
    }

    /// Whether the upstream path is a directory (`CWD` succeeds).
    async fn is_dir_with(&self, lease: &mut Lease, up: &str) -> Result<bool, StorageError> {
        match ftp!(lease, "CWD", lease.ftp().cwd(up)) {
            Ok(()) => Ok(true),
            Err(e) if e.kind == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Whether anything is at the upstream path.
    async fn taken_with(&self, lease: &mut Lease, up: &str) -> Result<bool, StorageError> {
        match self.stat_with(lease, up).await {
            Ok(_) => Ok(true),
            Err(e) if e.kind == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Metadata of an upstream path (see the module docs for the method).
    async fn stat_with(&self, lease: &mut Lease, up: &str) -> Result<Metadata, StorageError> {
        if self.mlsx() {
            let line = ftp!(lease, "MLST", lease.ftp().mlst(Some(up)))?;
            let file = suppaftp::list::ListParser::parse_mlst(&line)
                .map_err(|e| StorageError::with_source(ErrorKind::Other, format!("MLST reply not understood: {e}")))?;
            return Ok(listing::meta_of(&file, listing::has_unix_mode(&line)));
        }
        let features = self.upstream.features.get().copied();
        if features.is_some_and(|f| f.size && f.mdtm) {
            match ftp!(lease, "SIZE", lease.ftp().size(up)) {
                Ok(size) => {
                    if let Ok(t) = ftp!(lease, "MDTM", lease.ftp().mdtm(up)) {
                        let secs = u64::try_from(t.and_utc().timestamp()).unwrap_or(1).max(1);
                        return Ok(Metadata {
                            kind: EntryKind::File,
                            size: size as u64,
                            modified: Some(listing_precision(UNIX_EPOCH + Duration::from_secs(secs))),
                            mode: None,
                            etag: None,
                        });
                    }
                }
                Err(e) if e.kind == ErrorKind::NotFound => {
                    if !self.is_dir_with(lease, up).await? {
                        return Err(StorageError::new(ErrorKind::NotFound));
                    }
                }
                Err(e) => return Err(e),
            }
        }
        self.stat_from_parent(lease, up).await
    }

    /// Metadata from the parent directory's listing.
    async fn stat_from_parent(&self, lease: &mut Lease, up: &str) -> Result<Metadata, StorageError> {
        let trimmed = up.trim_end_matches('/');
        let Some(i) = trimmed.rfind('/') else {
            return Err(StorageError::new(ErrorKind::NotFound));
        };
        let (parent, name) = (&trimmed[..i], &trimmed[i + 1..]);
        if name.is_empty() {
            // The upstream's `/`: it has no parent to be listed in.
            return Ok(dir_meta(self.upstream.opened_at));
        }
        let parent = if parent.is_empty() { "/" } else { parent };
        let entries = match self.collect_with(lease, parent).await {
            Ok(entries) => entries,
            Err(e) if e.kind == ErrorKind::NotFound => return Err(e),
            Err(e) => {
                // A parent that cannot be listed (upstream root, no permission):
                // a directory still is one.
                if self.is_dir_with(lease, up).await? {
                    return Ok(dir_meta(self.upstream.opened_at));
                }
                return Err(e);
            }
        };
        entries
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, m)| m)
            .ok_or_else(|| StorageError::new(ErrorKind::NotFound))
    }

    /// A whole directory listing (bounded by [`MAX_COLLECT`]), temporary uploads included.
    async fn collect(&self, dir: &str) -> Result<Vec<RawEntry>, StorageError> {
        let mut lease = self.lease().await?;
        self.collect_with(&mut lease, dir).await
    }

    /// [`FtpVolume::collect`] on a connection the caller holds.
    async fn collect_with(&self, lease: &mut Lease, dir: &str) -> Result<Vec<RawEntry>, StorageError> {
        let mut lister = Lister::open(lease, dir, self.mlsx()).await?;
        let mut out = Vec::new();
        while let Some(batch) = lister.next_batch(LIST_BATCH).await? {
            out.extend(batch);
            if out.len() > MAX_COLLECT {
                return Err(StorageError::with_source(
                    ErrorKind::Other,
                    format!("more than {MAX_COLLECT} entries in one upstream directory"),
                ));
            }
        }
        Ok(out)
    }

    /// Metadata of a volume path.
    async fn stat_path(&self, lease: &mut Lease, path: &VirtualPath) -> Result<Metadata, StorageError> {
        self.stat_with(lease, &self.upath(path)).await
    }

    /// Fails unless the parent of `path` is a directory.
    async fn need_parent(&self, lease: &mut Lease, path: &VirtualPath) -> Result<(), StorageError> {
        let parent = path.parent();
        if parent.is_root() || self.is_dir_with(lease, &self.upath(&parent)).await? {
            Ok(())
        } else {
            Err(StorageError::new(ErrorKind::ParentMissing))
        }
    }

    /// Opens a download of `len` bytes from `offset` of the upstream file `up`,
    /// which is `size` bytes long.
    async fn download(&self, up: &str, offset: u64, len: u64, size: u64) -> Result<ReadBody, StorageError> {
        let mut lease = self.lease().await?;
        if offset > 0 {
            let offset = usize::try_from(offset).map_err(|e| StorageError::with_source(ErrorKind::InvalidOffset, e))?;
            ftp!(lease, "REST", lease.ftp().resume_transfer(offset))?;
        }
        lease.set_in_step(false);
        let stream: Transfer = ftp!(lease, "RETR", lease.ftp().retr_as_stream(up))?;
        let to_end = offset + len >= size;
        let download = Download::new(lease, stream, len, to_end);
        Ok(if download.relayable() {
            ReadBody::Socket(SocketSource::new(download))
        } else {
            ReadBody::Stream(download.into_stream())
        })
    }

    /// Copies one file through the gateway: a download into an upload.
    async fn copy_file(&self, from: &VirtualPath, to: &VirtualPath) -> Result<(), StorageError> {
        let handle = self.read(from, 0, None).await?;
        let mut up = self.write(to, WriteMode::Replace).await?;
        let mut body = handle.body.into_stream(READ_CHUNK);
        while let Some(chunk) = body.next().await {
            let written = match chunk {
                Ok(chunk) => up.write(chunk).await,
                Err(e) => Err(e),
            };
            if let Err(e) = written {
                let _ = up.abort().await;
                return Err(e);
            }
        }
        up.commit().await.map(|_| ())
    }

    /// Copies a directory entry by entry (depth first, explicit stack);
    /// the entries copied, or how far it got.
    async fn copy_tree(&self, from: &VirtualPath, to: &VirtualPath) -> Result<u64, TreeError> {
        let mut done = 0u64;
        let mut stack = vec![(from.clone(), to.clone())];
        while let Some((src, dst)) = stack.pop() {
            let fail = |error: StorageError, done: u64| TreeError {
                error,
                done,
                at: src.clone(),
            };
            self.mkdir(&dst).await.map_err(|e| fail(e, done))?;
            done += 1;
            let entries = self.collect(&self.upath(&src)).await.map_err(|e| fail(e, done))?;
            for (name, meta) in entries.into_iter().filter(|(n, _)| !is_temp(n)) {
                let bad = |_| fail(StorageError::new(ErrorKind::InvalidName), done);
                let (s, d) = (src.join_name(&name).map_err(bad)?, dst.join_name(&name).map_err(bad)?);
                if meta.is_dir() {
                    stack.push((s, d));
                } else {
                    self.copy_file(&s, &d).await.map_err(|e| TreeError {
                        error: e,
                        done,
                        at: s.clone(),
                    })?;
                    done += 1;
                }
            }
        }
        Ok(done)
    }
}

#[async_trait]
impl Storage for FtpVolume {
    fn name(&self) -> &'static str {
        "ftp"
    }

    fn capabilities(&self) -> Capabilities {
        capabilities(&self.upstream)
    }

    async fn stat(&self, path: &VirtualPath) -> Result<Metadata, StorageError> {
        if path.file_name().is_some_and(is_temp) {
            return Err(StorageError::new(ErrorKind::NotFound));
        }
        let mut lease = self.lease().await?;
        self.stat_path(&mut lease, path).await
    }

    async fn list(&self, path: &VirtualPath) -> Result<ListStream, StorageError> {
        let lease = self.lease().await?;
        let dir = self.upath(path);
        let lister = Lister::open(lease, &dir, self.mlsx()).await?;
        let vol = self.clone();
        let stream = futures_util::stream::unfold(Some(lister), move |lister| {
            let (vol, dir) = (vol.clone(), dir.clone());
            async move {
                let mut lister = lister?;
                match lister.next_batch(LIST_BATCH).await {
                    Ok(Some(batch)) => Some((Ok(vol.shown(&dir, batch)), Some(lister))),
                    Ok(None) => None,
                    // The error ends the listing.
                    Err(e) => Some((Err(e), None)),
                }
            }
        })
        .filter(|batch| std::future::ready(!matches!(batch, Ok(b) if b.is_empty())));
        Ok(Box::pin(stream))
    }

    async fn read(&self, path: &VirtualPath, offset: u64, len: Option<u64>) -> Result<ReadHandle, StorageError> {
        let meta = self.stat(path).await?;
        if meta.is_dir() {
            return Err(StorageError::new(ErrorKind::IsADirectory));
        }
        if offset > meta.size {
            return Err(StorageError::new(ErrorKind::InvalidOffset));
        }
        let len = len.map_or(meta.size - offset, |l| l.min(meta.size - offset));
        if len == 0 {
            return Ok(ReadHandle {
                meta,
                body: ReadBody::Stream(Box::pin(futures_util::stream::empty())),
            });
        }
        let body = self.download(&self.upath(path), offset, len, meta.size).await?;
        Ok(ReadHandle { meta, body })
    }

    async fn write(&self, path: &VirtualPath, mode: WriteMode) -> Result<Box<dyn Upload>, StorageError> {
        refuse_root(path)?;
        let settings = &self.upstream;
        if matches!(mode, WriteMode::At(_)) && !settings.atomic_uploads {
            return Err(StorageError::with_source(
                ErrorKind::Unsupported,
                "resumed uploads need storage.atomic_uploads",
            ));
        }
        let mut lease = self.lease().await?;
        self.need_parent(&mut lease, path).await?;
        let target = self.upath(path);
        let existing = match self.stat_with(&mut lease, &target).await {
            Ok(m) if m.is_dir() => return Err(StorageError::new(ErrorKind::IsADirectory)),
            Ok(m) => Some(m),
            Err(e) if e.kind == ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        let size = existing.as_ref().map_or(0, |m| m.size);
        let keep = match mode {
            WriteMode::CreateNew if existing.is_some() => return Err(StorageError::new(ErrorKind::AlreadyExists)),
            WriteMode::At(n) if n > size => return Err(StorageError::new(ErrorKind::InvalidOffset)),
            WriteMode::At(n) => n,
            // An append is a resume at the end: with atomic uploads the old
            // bytes are copied into the temporary file first. In place (APPE), a
            // cut data connection left the bytes that got through appended to
            // the real name (the faults campaign saw them, 100 B to 1 MiB).
            WriteMode::Append if settings.atomic_uploads => size,
            _ => 0,
        };
        let aside = settings.atomic_uploads;
        let temp = aside.then(|| upload::temp_path(&target));
        let name = temp.as_deref().unwrap_or(&target);
        lease.set_in_step(false);
        let started = if mode == WriteMode::Append && !aside {
            ftp!(lease, "APPE", lease.ftp().append_with_stream(name))
        } else {
            ftp!(lease, "STOR", lease.ftp().put_with_stream(name))
        };
        let mut stream = match started {
            Ok(stream) => stream,
            Err(e) => {
                // The upstream may have made the file before the data connection
                // failed (vsftpd creates it, then waits for the connection): the
                // faults campaign found such temporary files left behind.
                if let Some(temp) = &temp {
                    drop(lease);
                    upload::remove_file(self, self.lease().await, temp, true).await;
                }
                return Err(e);
            }
        };
        let mut upload = Box::new(FtpUpload {
            vol: self.clone(),
            lease: Some(lease),
            stream: None,
            temp: temp.clone(),
            target: target.clone(),
            mode,
            created: existing.is_none(),
            bytes: 0,
        });
        if keep > 0 {
            // A resumed upload starts with the bytes it keeps, read back from
            // the upstream into the temporary file.
            if let Err(e) = self.copy_prefix(&target, keep, &mut stream).await {
                upload.stream = Some(stream);
                let _ = upload.abort().await;
                return Err(e);
            }
        }
        upload.stream = Some(stream);
        Ok(upload)
    }

    async fn delete(&self, path: &VirtualPath) -> Result<(), StorageError> {
        refuse_root(path)?;
        let mut lease = self.lease().await?;
        if self.stat_path(&mut lease, path).await?.is_dir() {
            return Err(StorageError::new(ErrorKind::IsADirectory));
        }
        ftp!(lease, "DELE", lease.ftp().rm(self.upath(path).as_str()))
    }

    async fn mkdir(&self, path: &VirtualPath) -> Result<(), StorageError> {
        refuse_root(path)?;
        let mut lease = self.lease().await?;
        let up = self.upath(path);
        if self.taken_with(&mut lease, &up).await? {
            return Err(StorageError::new(ErrorKind::AlreadyExists));
        }
        self.need_parent(&mut lease, path).await?;
        ftp!(lease, "MKD", lease.ftp().mkdir(up.as_str()))
    }

    async fn rmdir(&self, path: &VirtualPath) -> Result<(), StorageError> {
        refuse_root(path)?;
        let mut lease = self.lease().await?;
        let up = self.upath(path);
        if !self.stat_with(&mut lease, &up).await?.is_dir() {
            return Err(StorageError::new(ErrorKind::NotADirectory));
        }
        let Err(refused) = ftp!(lease, "RMD", lease.ftp().rmdir(up.as_str())) else {
            return Ok(());
        };
        // Refused: not empty (vsftpd words it "Remove directory operation
        // failed"), unless only abandoned temporary uploads are left.
        let entries = self.collect_with(&mut lease, &up).await?;
        if entries.is_empty() {
            return Err(refused);
        }
        if entries.iter().any(|(name, _)| !is_temp(name)) {
            return Err(StorageError::new(ErrorKind::DirectoryNotEmpty));
        }
        for (name, _) in &entries {
            ftp!(lease, "DELE (abandoned upload)", lease.ftp().rm(format!("{up}/{name}")))?;
        }
        ftp!(lease, "RMD", lease.ftp().rmdir(up.as_str()))
    }

    async fn rename(&self, from: &VirtualPath, to: &VirtualPath) -> Result<(), StorageError> {
        refuse_root(from)?;
        refuse_root(to)?;
        if to.starts_with(from) && to != from {
            return Err(StorageError::new(ErrorKind::InvalidName));
        }
        let mut lease = self.lease().await?;
        let source = self.stat_path(&mut lease, from).await?;
        if from == to {
            return Ok(());
        }
        self.need_parent(&mut lease, to).await?;
        match self.stat_path(&mut lease, to).await {
            Ok(m) if m.is_dir() => {
                return Err(StorageError::new(if source.is_dir() {
                    ErrorKind::AlreadyExists
                } else {
                    ErrorKind::IsADirectory
                }));
            }
            Ok(_) if source.is_dir() => return Err(StorageError::new(ErrorKind::NotADirectory)),
            Ok(_) => {}
            Err(e) if e.kind == ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let (f, t) = (self.upath(from), self.upath(to));
        ftp!(lease, "RNFR/RNTO", lease.ftp().rename(f.as_str(), t.as_str()))
    }

    async fn copy(&self, from: &VirtualPath, to: &VirtualPath) -> Result<(), TreeError> {
        if to.starts_with(from) {
            // Into itself: it would never end.
            return Err(TreeError::at_start(StorageError::new(ErrorKind::InvalidName), to));
        }
        refuse_root(to).map_err(|e| TreeError::at_start(e, to))?;
        let source = {
            let mut lease = self.lease().await.map_err(|e| TreeError::at_start(e, from))?;
            let source = self
                .stat_path(&mut lease, from)
                .await
                .map_err(|e| TreeError::at_start(e, from))?;
            let taken = self
                .taken_with(&mut lease, &self.upath(to))
                .await
                .map_err(|e| TreeError::at_start(e, to))?;
            if taken {
                return Err(TreeError::at_start(StorageError::new(ErrorKind::AlreadyExists), to));
            }
            self.need_parent(&mut lease, to)
                .await
                .map_err(|e| TreeError::at_start(e, to))?;
            source
        };
        if source.is_dir() {
            self.copy_tree(from, to).await.map(|_| ())
        } else {
            self.copy_file(from, to).await.map_err(|e| TreeError::at_start(e, from))
        }
    }

    /// `MFMT <time> <path>` (draft-somers-ftp-mfxx), where the upstream's FEAT
    /// lists MFMT; elsewhere refused up front.
    async fn set_modified(&self, path: &VirtualPath, modified: std::time::SystemTime) -> Result<(), StorageError> {
        if !self.capabilities().set_modified_times {
            return Err(StorageError::with_source(
                ErrorKind::Unsupported,
                "the upstream's FEAT lists no MFMT",
            ));
        }
        refuse_root(path)?;
        if path.file_name().is_some_and(is_temp) {
            return Err(StorageError::new(ErrorKind::NotFound));
        }
        let command = format!("MFMT {} {}", proto_ftp::listing::mdtm_value(modified), self.upath(path));
        let mut lease = self.lease().await?;
        ftp!(
            lease,
            "MFMT",
            lease.ftp().custom_command(command, &[suppaftp::Status::File])
        )
        .map(|_| ())
    }

    /// `SITE CHMOD <octal> <path>`; an upstream that answers it with 500, 502
    /// or 504 lacks it, which is remembered: from then on it is refused here.
    async fn set_mode(&self, path: &VirtualPath, mode: u32) -> Result<(), StorageError> {
        if self.upstream.learned.lacks(Lack::SiteChmod) {
            return Err(StorageError::with_source(
                ErrorKind::Unsupported,
                "the upstream has no SITE CHMOD",
            ));
        }
        refuse_root(path)?;
        if mode & !0o777 != 0 {
            // No set-id or sticky bits through a file gateway (as on local disk).
            return Err(StorageError::new(ErrorKind::PermissionDenied));
        }
        if path.file_name().is_some_and(is_temp) {
            return Err(StorageError::new(ErrorKind::NotFound));
        }
        let command = format!("SITE CHMOD {mode:03o} {}", self.upath(path));
        let mut lease = self.lease().await?;
        let limit = lease.timeout();
        let r = tokio::time::timeout(
            limit,
            lease.ftp().custom_command(
                command,
                &[suppaftp::Status::CommandOk, suppaftp::Status::RequestedFileActionOk],
            ),
        )
        .await;
        if matches!(&r, Ok(Err(e)) if errors::not_implemented(e)) {
            self.upstream.learned.learn(Lack::SiteChmod, &self.upstream.describe);
        }
        lease.check("SITE CHMOD", r).map(|_| ())
    }
}

impl FtpVolume {
    /// Streams the first `keep` bytes of the upstream file `up` into `into`.
    async fn copy_prefix(&self, up: &str, keep: u64, into: &mut Transfer) -> Result<(), StorageError> {
        use tokio::io::AsyncWriteExt;
        let size = keep; // the range is the whole prefix; the file goes on
        let mut s = self
            .download(up, 0, keep, size.saturating_add(1))
            .await?
            .into_stream(READ_CHUNK);
        let limit = self.upstream.command_timeout;
        while let Some(chunk) = s.next().await {
            let chunk = chunk?;
            match tokio::time::timeout(limit, into.write_all(&chunk)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(StorageError::with_source(ErrorKind::Unavailable, e)),
                Err(_) => return Err(errors::timed_out("STOR (data)")),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
