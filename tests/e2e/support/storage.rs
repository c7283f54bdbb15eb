//! The storage a gateway serves, seen from the test: local disk (the default), or
//! an S3-compatible object store when `DUALGATE_TEST_STORAGE` names a file holding
//! a `storage: { kind: s3, endpoint, region, bucket, access_key_id,
//! secret_access_key, path_style }` fragment (what `tests/backends/s3.sh start`
//! prints), or an upstream FTP server when it holds a `storage: { kind:
//! upstream_ftp, … }` fragment (what `tests/backends/upstream_ftp.sh start`
//! prints).
//!
//! - An upstream FTP server is one the script started on this machine: its
//!   fragment names the server's directory on disk (`# upstream_dir:`) and the
//!   account it writes as (`# upstream_owner:`). Each gateway gets a directory of
//!   its own there (`e2e-<pid>-<n>-<random>`, its `root:`), and the accessors
//!   read and write that directory on disk, as for local disk, giving what they
//!   create to the server's account. It is removed when the store is dropped
//!   (kept, and named, after a failure).
//!
//! - [`TestStore::new`] picks one per gateway: local disk at the given root, or a
//!   key prefix of its own in the bucket (`e2e-<pid>-<n>-<random>/`), so that
//!   tests running side by side never see each other's keys. The prefix is
//!   removed when the store is dropped (kept, and named, after a failure).
//! - [`TestStore::configure`] points `dualgate serve` at it: `--root` for local
//!   disk; for an object store the `DUALGATE_STORAGE` override, which replaces
//!   the `storage:` section of whatever config the test gives — at start-up and
//!   on every reload alike. [`TestStore::section`] is the same section as text,
//!   for a test that writes every setting into its config file.
//! - The accessors (`put`, `get`, `exists`, `mkdir`, `names`, `remove`, …) are
//!   synchronous, whatever the back-end: tests seed and check the storage with
//!   them instead of `std::fs`. The object store is reached through its own
//!   OpenDAL operator (independent of the server's), driven by a small tokio
//!   runtime on threads of its own, so the calls work inside `#[tokio::test]`
//!   functions without nesting runtimes. Every call is bounded in time.
//! - [`TestStore::assert_no_pending_uploads`]: no `.dualgate-upload-*` file
//!   under a local root; no multipart upload left open under an object-store
//!   prefix (ListMultipartUploads, signed by [`sigv4`](super::sigv4); a store
//!   that answers 501, as s3s-fs, is reported unchecked on stderr).
//! - The fragment is read as the server reads it (`dualgate::config::S3Config`:
//!   the same keys and defaults), so the test's client and the upload-buffer
//!   bound ([`TestStore::upload_buffer`]) follow the server's settings.
//! - [`storage_kind`] says which back-end this run uses, with the capabilities a
//!   test needs to state its per-storage expectations.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime};

use dualgate::config::S3Config;
use futures_util::StreamExt;
use opendal::Operator;
use rand::RngCore;
use serde::Deserialize;

use super::gateway::upload_temp_files;
use super::sha256_hex;

/// The environment variable naming the storage fragment.
pub const STORAGE_ENV: &str = "DUALGATE_TEST_STORAGE";
/// Longest wait for one call on the object store.
const STORE_CALL: Duration = Duration::from_secs(60);
/// Longest wait for a call that moves many objects or much data.
const STORE_BULK: Duration = Duration::from_secs(300);
/// Uploads in flight at once when seeding many objects.
const SEED_CONCURRENCY: usize = 32;
/// Part size of the big seeding uploads.
const SEED_PART: usize = 16 << 20;

/// Which back-end this test run serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageKind {
    /// Local disk.
    Local,
    /// An S3-compatible object store.
    S3,
    /// An upstream FTP server.
    UpstreamFtp,
}

impl StorageKind {
    /// Permission bits can be changed (`SITE CHMOD`): local disk, and the
    /// upstream servers the tests run (vsftpd and Pure-FTPd both pass it on).
    pub fn sets_modes(self) -> bool {
        self != StorageKind::S3
    }

    /// WebDAV dead properties can be stored (`PROPPATCH`).
    pub fn dead_properties(self) -> bool {
        self == StorageKind::Local
    }

    /// Directories can be renamed (FTP `RNFR`/`RNTO`, WebDAV `MOVE` of a
    /// collection); an object store refuses it up front (its default).
    pub fn renames_dirs(self) -> bool {
        self != StorageKind::S3
    }

    /// Modification times can be set (FTP `MFMT`; an object store keeps the
    /// time of the last write; an upstream FTP server where its FEAT lists
    /// MFMT: Pure-FTPd, not vsftpd).
    pub fn sets_modified_times(self) -> bool {
        match self {
            StorageKind::Local => true,
            StorageKind::S3 => false,
            StorageKind::UpstreamFtp => upstream_ftp().is_some_and(|u| u.server == "pure-ftpd"),
        }
    }

    /// A directory carries a modification time of its own (an object store
    /// keeps none for a prefix).
    pub fn dir_times(self) -> bool {
        self != StorageKind::S3
    }

    /// The precision, in seconds, of the times listings show: an upstream FTP
    /// server without MLST lists times to the minute (`LIST`), and `stat`
    /// follows its listings; every other back-end, to the second.
    pub fn listed_time_step(self) -> i64 {
        if self == StorageKind::UpstreamFtp { 60 } else { 1 }
    }

    /// The `backend` label of the back-end metrics.
    pub fn metrics_label(self) -> &'static str {
        match self {
            StorageKind::Local => "fs",
            StorageKind::S3 => "s3",
            StorageKind::UpstreamFtp => "ftp",
        }
    }
}

/// The back-end of this run: what `DUALGATE_TEST_STORAGE` names, else local disk.
pub fn storage_kind() -> StorageKind {
    if configured().is_some() {
        StorageKind::S3
    } else if upstream_ftp().is_some() {
        StorageKind::UpstreamFtp
    } else {
        StorageKind::Local
    }
}

/// The fragment file's text, if `DUALGATE_TEST_STORAGE` is set (read once).
fn fragment_text() -> Option<&'static str> {
    static TEXT: OnceLock<Option<String>> = OnceLock::new();
    TEXT.get_or_init(|| {
        let path = std::env::var_os(STORAGE_ENV).filter(|p| !p.is_empty())?;
        Some(
            std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{STORAGE_ENV}={}: {e}", Path::new(&path).display())),
        )
    })
    .as_deref()
}

/// An upstream FTP server started by `tests/backends/upstream_ftp.sh`: its
/// `storage:` section, its directory on disk, the uid and gid it writes as,
/// and its other accounts (`# upstream_account:` lines).
pub struct UpstreamFtp {
    /// The `storage:` section.
    pub section: serde_yaml::Mapping,
    /// The directory on disk that is the server's `/`.
    pub dir: PathBuf,
    /// The uid and gid of the main account.
    pub owner: (u32, u32),
    /// Which server it is: `vsftpd` or `pure-ftpd`.
    pub server: String,
    /// Other accounts: name, password, uid and gid.
    pub accounts: Vec<(String, String, (u32, u32))>,
}

fn uid_gid(text: &str) -> (u32, u32) {
    let (uid, gid) = text.split_once(':').expect("UID:GID");
    (uid.parse().expect("a uid"), gid.parse().expect("a gid"))
}

impl UpstreamFtp {
    /// The server of the fragment `text` (read from `source`); `None` if it is
    /// not an `upstream_ftp` section.
    pub fn parse(text: &str, source: &str) -> Option<UpstreamFtp> {
        let fragment: Fragment =
            serde_yaml::from_str(text).unwrap_or_else(|e| panic!("{source}: not a `storage:` fragment: {e}"));
        let kind = fragment.storage.get("kind").and_then(serde_yaml::Value::as_str);
        if kind != Some("upstream_ftp") {
            return None;
        }
        let comments = |key: &str| -> Vec<String> {
            text.lines()
                .filter_map(|l| l.strip_prefix(&format!("# {key}: ")))
                .map(|v| v.trim().to_owned())
                .collect()
        };
        let comment = |key: &str| {
            comments(key)
                .into_iter()
                .next()
                .unwrap_or_else(|| panic!("{source}: no `# {key}:` line (tests/backends/upstream_ftp.sh prints it)"))
        };
        let accounts = comments("upstream_account")
            .iter()
            .map(|line| {
                let parts: Vec<&str> = line.split(' ').collect();
                let [name, password, ids] = parts[..] else {
                    panic!("{source}: `# upstream_account: {line}` is not NAME PASSWORD UID:GID")
                };
                (name.to_owned(), password.to_owned(), uid_gid(ids))
            })
            .collect();
        Some(UpstreamFtp {
            section: fragment.storage,
            dir: PathBuf::from(comment("upstream_dir")),
            owner: uid_gid(&comment("upstream_owner")),
            server: comment("upstream_server"),
            accounts,
        })
    }

    /// A new directory of its own on the server, `<prefix>-<pid>-<n>-<random>`,
    /// owned by `owner`: its path on disk and its upstream path.
    pub fn new_dir(&self, prefix: &str, owner: (u32, u32)) -> (PathBuf, String) {
        let n = NEXT_PREFIX.fetch_add(1, Ordering::Relaxed);
        let mut random = [0u8; 4];
        rand::rng().fill_bytes(&mut random);
        let name = format!("{prefix}-{}-{n}-{:08x}", std::process::id(), u32::from_be_bytes(random));
        let dir = self.dir.join(&name);
        std::fs::create_dir(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
        std::os::unix::fs::chown(&dir, Some(owner.0), Some(owner.1))
            .unwrap_or_else(|e| panic!("chown {}: {e}", dir.display()));
        let root = self
            .section
            .get("root")
            .and_then(serde_yaml::Value::as_str)
            .unwrap_or("/")
            .trim_end_matches('/')
            .to_owned();
        (dir, format!("{root}/{name}"))
    }
}

fn upstream_ftp() -> Option<&'static UpstreamFtp> {
    static CONFIGURED: OnceLock<Option<UpstreamFtp>> = OnceLock::new();
    CONFIGURED
        .get_or_init(|| UpstreamFtp::parse(fragment_text()?, STORAGE_ENV))
        .as_ref()
}

/// The upstream FTP server of this run, if the run is on one.
pub fn upstream_server() -> Option<&'static UpstreamFtp> {
    upstream_ftp()
}

/// The `storage:` fragment file.
#[derive(Deserialize)]
struct Fragment {
    storage: serde_yaml::Mapping,
}

/// The object store named by `DUALGATE_TEST_STORAGE` (read once per process):
/// the section as given (passed on to the server), and the same section read
/// as the server reads it (its keys and defaults), for the test's own client.
fn configured() -> Option<&'static (serde_yaml::Mapping, S3Config)> {
    static CONFIGURED: OnceLock<Option<(serde_yaml::Mapping, S3Config)>> = OnceLock::new();
    CONFIGURED
        .get_or_init(|| {
            let text = fragment_text()?;
            let fragment: Fragment =
                serde_yaml::from_str(text).unwrap_or_else(|e| panic!("{STORAGE_ENV}: not a `storage:` fragment: {e}"));
            let mut section = fragment.storage.clone();
            let kind = section.remove("kind");
            if kind.as_ref().and_then(serde_yaml::Value::as_str) == Some("upstream_ftp") {
                return None;
            }
            assert_eq!(
                kind.as_ref().and_then(serde_yaml::Value::as_str),
                Some("s3"),
                "{STORAGE_ENV}: only `kind: s3` is supported"
            );
            assert!(
                !section.contains_key("prefix"),
                "{STORAGE_ENV}: the fragment must have no prefix (each gateway gets its own)"
            );
            let config: S3Config = serde_yaml::from_value(serde_yaml::Value::Mapping(section))
                .unwrap_or_else(|e| panic!("{STORAGE_ENV}: the storage section: {e}"));
            Some((fragment.storage, config))
        })
        .as_ref()
}

/// The storage of one gateway.
pub struct TestStore {
    inner: Inner,
    /// For an upstream FTP server: the gateway's section, and the account its
    /// files belong to (`inner` is then its directory on disk).
    upstream: Option<(serde_yaml::Mapping, (u32, u32))>,
}

enum Inner {
    /// Local disk, rooted here.
    Local(PathBuf),
    /// A prefix of an object store.
    S3(Box<S3Store>),
}

/// A key prefix of its own in the configured bucket.
struct S3Store {
    /// The operator on the whole bucket (keys are `prefix` + path).
    op: Operator,
    /// `e2e-<pid>-<n>-<random>/`.
    prefix: String,
    /// The most bytes the server buffers for one upload.
    upload_buffer: u64,
    /// The `storage:` section the server gets (the fragment plus the prefix).
    section: serde_yaml::Mapping,
    /// `directory_markers: keep_file`: a directory's marker is
    /// `dir/.dualgate-keep`, not `dir/` (stores such as s3s-fs).
    keep_file: bool,
    /// For the request OpenDAL does not make (ListMultipartUploads): where the
    /// bucket is, who signs, and the client.
    bucket_url: reqwest::Url,
    bucket: String,
    access_key_id: String,
    secret_access_key: String,
    region: String,
    client: reqwest::Client,
}

impl TestStore {
    /// The storage of a new gateway: local disk at `local_root` (not created
    /// here: the server makes it), or a fresh prefix of the configured object
    /// store.
    pub fn new(local_root: PathBuf) -> TestStore {
        if let Some(ftp) = upstream_ftp() {
            return TestStore::upstream(ftp);
        }
        match configured() {
            None => TestStore::local(local_root),
            Some((section, settings)) => TestStore {
                inner: Inner::S3(Box::new(S3Store::open(section, settings))),
                upstream: None,
            },
        }
    }

    /// A directory of its own on the upstream FTP server, made on disk.
    fn upstream(ftp: &UpstreamFtp) -> TestStore {
        let (dir, root) = ftp.new_dir("e2e", ftp.owner);
        let mut section = ftp.section.clone();
        section.insert("root".into(), root.into());
        TestStore {
            inner: Inner::Local(dir),
            upstream: Some((section, ftp.owner)),
        }
    }

    /// The `storage:` section of an upstream FTP server's store, changed by
    /// `change` (for tests of the section's own keys).
    pub fn change_upstream_section(&mut self, change: impl FnOnce(&mut serde_yaml::Mapping)) {
        let (section, _) = self.upstream.as_mut().expect("a store on an upstream FTP server");
        change(section);
    }

    /// Local disk at `root`, whatever the run's storage (for the `local_` tests).
    pub fn local(root: PathBuf) -> TestStore {
        TestStore {
            inner: Inner::Local(root),
            upstream: None,
        }
    }

    /// Gives a path made by the test to the upstream server's account, so that
    /// the server can change it (no-op for other stores).
    fn give(&self, path: &Path) {
        if let Some((_, (uid, gid))) = &self.upstream {
            std::os::unix::fs::chown(path, Some(*uid), Some(*gid))
                .unwrap_or_else(|e| panic!("chown {}: {e}", path.display()));
        }
    }

    /// Gives `rel` and the directories above it (below the root) to the server's account.
    fn give_path(&self, rel: &str) {
        let Inner::Local(root) = &self.inner else { return };
        if self.upstream.is_none() {
            return;
        }
        let mut path = root.clone();
        for part in rel.split('/').filter(|p| !p.is_empty()) {
            path.push(part);
            self.give(&path);
        }
    }

    /// The root on local disk; `None` for an object store or an upstream server
    /// (whose files the gateway reaches only through the server).
    pub fn local_root(&self) -> Option<&Path> {
        match &self.inner {
            Inner::Local(_) if self.upstream.is_some() => None,
            Inner::Local(root) => Some(root),
            Inner::S3(_) => None,
        }
    }

    /// The `storage:` section that serves this store, as one YAML line
    /// (`storage: {…}`), for a config file that names every setting.
    pub fn section(&self) -> String {
        if let Some((section, _)) = &self.upstream {
            return format!("storage: {}\n", json(section));
        }
        match &self.inner {
            Inner::Local(root) => format!("storage: {{ kind: local, root: \"{}\" }}\n", root.display()),
            Inner::S3(s3) => format!("storage: {}\n", s3.section_json()),
        }
    }

    /// Points a `dualgate serve` command at this store: `--root` for local disk,
    /// `DUALGATE_STORAGE` (the whole section, replacing the config file's) for
    /// an object store. Call it after clearing the inherited `DUALGATE_*` variables.
    pub fn configure(&self, cmd: &mut Command) {
        if let Some((section, _)) = &self.upstream {
            cmd.env("DUALGATE_STORAGE", json(section));
            return;
        }
        match &self.inner {
            Inner::Local(root) => {
                cmd.arg("--root").arg(root);
            }
            Inner::S3(s3) => {
                cmd.env("DUALGATE_STORAGE", s3.section_json());
            }
        }
    }

    /// The most bytes the server may hold for one upload by design: nothing
    /// beyond its copy buffers on local disk; (`upload_concurrency` + 1) ×
    /// `part_size` for an object store (its parts in flight, as documented).
    pub fn upload_buffer(&self) -> u64 {
        match &self.inner {
            Inner::Local(_) => 0,
            Inner::S3(s3) => s3.upload_buffer,
        }
    }

    /// Writes the file `rel` (local disk: parent directories made as needed).
    pub fn put(&self, rel: &str, content: impl AsRef<[u8]>) {
        let content = content.as_ref();
        match &self.inner {
            Inner::Local(root) => {
                let path = root.join(rel);
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("creating {}: {e}", parent.display()));
                }
                std::fs::write(&path, content).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
                self.give_path(rel);
            }
            Inner::S3(s3) => {
                let (op, key, data) = (s3.op.clone(), s3.key(rel), content.to_vec());
                s3.call(&format!("PUT {key}"), STORE_CALL, async move {
                    op.write(&key, data).await.map(drop)
                });
            }
        }
    }

    /// Writes many files at once (an object store gets several uploads in flight).
    pub fn put_many(&self, files: Vec<(String, Vec<u8>)>) {
        match &self.inner {
            Inner::Local(_) => files.iter().for_each(|(rel, content)| self.put(rel, content)),
            Inner::S3(s3) => {
                let op = s3.op.clone();
                let files: Vec<(String, Vec<u8>)> = files.into_iter().map(|(rel, c)| (s3.key(&rel), c)).collect();
                s3.call("seeding objects", STORE_BULK, async move {
                    let mut puts = futures_util::stream::iter(files)
                        .map(|(key, content)| {
                            let op = op.clone();
                            async move { op.write(&key, content).await.map(drop) }
                        })
                        .buffer_unordered(SEED_CONCURRENCY);
                    while let Some(done) = puts.next().await {
                        done?;
                    }
                    Ok(())
                });
            }
        }
    }

    /// Writes the file `rel` from `blocks`, streamed (for files too big to hold:
    /// an object store gets a multipart upload).
    pub fn put_blocks(&self, rel: &str, blocks: impl Iterator<Item = Vec<u8>> + Send + 'static) {
        match &self.inner {
            Inner::Local(root) => {
                use std::io::Write as _;
                let path = root.join(rel);
                let file = std::fs::File::create(&path).unwrap_or_else(|e| panic!("creating {}: {e}", path.display()));
                let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
                for block in blocks {
                    out.write_all(&block)
                        .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
                }
                let file = out
                    .into_inner()
                    .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
                file.sync_all()
                    .unwrap_or_else(|e| panic!("syncing {}: {e}", path.display()));
                self.give_path(rel);
            }
            Inner::S3(s3) => {
                let (op, key) = (s3.op.clone(), s3.key(rel));
                s3.call(&format!("streamed PUT {key}"), STORE_BULK, async move {
                    let mut writer = op.writer_with(&key).chunk(SEED_PART).concurrent(4).await?;
                    for block in blocks {
                        writer.write(block).await?;
                    }
                    writer.close().await.map(drop)
                });
            }
        }
    }

    /// The content of the file `rel`; `None` when there is no such file.
    pub fn get(&self, rel: &str) -> Option<Vec<u8>> {
        match &self.inner {
            Inner::Local(root) => {
                let path = root.join(rel);
                match std::fs::read(&path) {
                    Ok(data) => Some(data),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                    Err(e) if path.is_dir() => panic!("reading {}: a directory ({e})", path.display()),
                    Err(e) => panic!("reading {}: {e}", path.display()),
                }
            }
            Inner::S3(s3) => {
                let (op, key) = (s3.op.clone(), s3.key(rel));
                s3.call(&format!("GET {key}"), STORE_BULK, async move {
                    match op.read(&key).await {
                        Ok(buffer) => Ok(Some(buffer.to_vec())),
                        Err(e) if e.kind() == opendal::ErrorKind::NotFound => Ok(None),
                        Err(e) => Err(e),
                    }
                })
            }
        }
    }

    /// The content of the file `rel`, which must exist.
    pub fn read(&self, rel: &str) -> Vec<u8> {
        self.get(rel)
            .unwrap_or_else(|| panic!("{rel}: no such file in the storage ({:?})", self.names("")))
    }

    /// The length of the file `rel`; `None` when there is no such file.
    pub fn len(&self, rel: &str) -> Option<u64> {
        match &self.inner {
            Inner::Local(root) => std::fs::metadata(root.join(rel))
                .ok()
                .filter(|m| m.is_file())
                .map(|m| m.len()),
            Inner::S3(s3) => s3.file_meta(rel).map(|m| m.content_length()),
        }
    }

    /// The modification time of the file or directory `rel`, in whole Unix
    /// seconds. An object store keeps no time for a directory: only files there
    /// (see [`StorageKind::dir_times`]).
    pub fn mtime_secs(&self, rel: &str) -> i64 {
        super::dates::unix_secs(match &self.inner {
            Inner::Local(root) => std::fs::metadata(root.join(rel))
                .and_then(|m| m.modified())
                .unwrap_or_else(|e| panic!("mtime of {rel}: {e}")),
            Inner::S3(s3) => s3
                .file_meta(rel)
                .and_then(|m| m.last_modified())
                .map(SystemTime::from)
                .unwrap_or_else(|| panic!("mtime of {rel}: no such object, or no Last-Modified")),
        })
    }

    /// The permission bits of `rel` on disk (local disk and an upstream FTP
    /// server's directory); `None` on an object store, which has none.
    pub fn mode(&self, rel: &str) -> Option<u32> {
        use std::os::unix::fs::PermissionsExt;
        match &self.inner {
            Inner::Local(root) => Some(
                std::fs::symlink_metadata(root.join(rel))
                    .unwrap_or_else(|e| panic!("mode of {rel}: {e}"))
                    .permissions()
                    .mode()
                    & 0o7777,
            ),
            Inner::S3(_) => None,
        }
    }

    /// Whether `rel` is a file or a directory (local disk: links not followed).
    pub fn exists(&self, rel: &str) -> bool {
        match &self.inner {
            Inner::Local(root) => root.join(rel).symlink_metadata().is_ok(),
            Inner::S3(s3) => s3.file_meta(rel).is_some() || self.is_dir(rel),
        }
    }

    /// Whether `rel` is a directory (local disk: links not followed; an object
    /// store: a `rel/` marker or any key under `rel/`).
    pub fn is_dir(&self, rel: &str) -> bool {
        match &self.inner {
            Inner::Local(root) => root.join(rel).symlink_metadata().is_ok_and(|m| m.is_dir()),
            Inner::S3(s3) => {
                let (op, dir) = (s3.op.clone(), s3.dir_key(rel));
                s3.call(&format!("LIST {dir}"), STORE_CALL, async move {
                    Ok(!op.list_with(&dir).limit(1).await?.is_empty())
                })
            }
        }
    }

    /// Makes the directory `rel` (local disk: with its parents; an object store:
    /// a zero-byte `rel/` marker, as the server makes them).
    pub fn mkdir(&self, rel: &str) {
        match &self.inner {
            Inner::Local(root) => {
                let path = root.join(rel);
                std::fs::create_dir_all(&path).unwrap_or_else(|e| panic!("creating {}: {e}", path.display()));
                self.give_path(rel);
            }
            Inner::S3(s3) if s3.keep_file => {
                let (op, marker) = (s3.op.clone(), format!("{}{KEEP_FILE}", s3.dir_key(rel)));
                s3.call(&format!("PUT {marker}"), STORE_CALL, async move {
                    op.write(&marker, Vec::<u8>::new()).await.map(|_| ())
                });
            }
            Inner::S3(s3) => {
                let (op, dir) = (s3.op.clone(), s3.dir_key(rel));
                s3.call(
                    &format!("PUT {dir}"),
                    STORE_CALL,
                    async move { op.create_dir(&dir).await },
                );
            }
        }
    }

    /// The names in the directory `dir` (`""`: the root), files and directories,
    /// one level, sorted.
    pub fn names(&self, dir: &str) -> Vec<String> {
        let mut names: Vec<String> = self.entries(dir).into_iter().map(|(name, _)| name).collect();
        names.sort();
        names
    }

    /// Removes the file or the directory tree `rel` (an object store: every key
    /// under `rel/`, its marker included).
    pub fn remove(&self, rel: &str) {
        let is_dir = self.is_dir(rel);
        match &self.inner {
            Inner::Local(root) => {
                let path = root.join(rel);
                let removed = if is_dir {
                    std::fs::remove_dir_all(&path)
                } else {
                    std::fs::remove_file(&path)
                };
                removed.unwrap_or_else(|e| panic!("removing {}: {e}", path.display()));
            }
            Inner::S3(s3) => {
                let (op, key) = if is_dir {
                    (s3.op.clone(), s3.dir_key(rel))
                } else {
                    (s3.op.clone(), s3.key(rel))
                };
                s3.call(&format!("DELETE {key}"), STORE_BULK, async move {
                    op.delete_with(&key).recursive(is_dir).await
                });
            }
        }
    }

    /// What the directory `dir` holds, all levels: relative path → a file's
    /// length and SHA-256, or `None` for a directory (its path ends in `/`).
    pub fn tree(&self, dir: &str) -> Tree {
        let mut out = Tree::new();
        let mut pending = vec![String::new()];
        while let Some(rel) = pending.pop() {
            for (name, is_dir) in self.entries(&join(dir, &rel)) {
                let path = format!("{rel}{name}");
                if is_dir {
                    out.insert(format!("{path}/"), None);
                    pending.push(format!("{path}/"));
                } else {
                    out.insert(path.clone(), Some(digest(&self.read(&join(dir, &path)))));
                }
            }
        }
        out
    }

    /// The names next to the storage root, for checks that nothing is written
    /// beside it: local disk, the root's parent directory (an upstream server's
    /// directory, without other tests' directories); an object store, the
    /// top level of the bucket, without the prefixes of other test gateways (which
    /// come and go while tests run side by side).
    pub fn beside_root(&self) -> Vec<String> {
        let mut names: Vec<String> = match &self.inner {
            // An upstream server's directory: without the directories of other
            // test gateways and conformance tests (which come and go).
            Inner::Local(root) if self.upstream.is_some() => {
                let parent = root.parent().expect("the root has a parent");
                std::fs::read_dir(parent)
                    .unwrap_or_else(|e| panic!("reading {}: {e}", parent.display()))
                    .map(|e| e.expect("a directory entry").file_name().to_string_lossy().into_owned())
                    .filter(|n| !n.starts_with("e2e-") && !n.starts_with("conformance-"))
                    .collect()
            }
            Inner::Local(root) => {
                let parent = root.parent().expect("the root has a parent");
                std::fs::read_dir(parent)
                    .unwrap_or_else(|e| panic!("reading {}: {e}", parent.display()))
                    .map(|e| e.expect("a directory entry").file_name().to_string_lossy().into_owned())
                    .collect()
            }
            Inner::S3(s3) => s3
                .list("")
                .into_iter()
                .map(|(name, _)| name)
                .filter(|n| !n.starts_with("e2e-"))
                .collect(),
        };
        names.sort();
        names
    }

    /// The uploads left pending: `.dualgate-upload-*` files anywhere under a
    /// local root (their paths); multipart uploads open under an object store's
    /// prefix (their keys). `None` when the store cannot list its multipart
    /// uploads (501, as s3s-fs).
    pub fn pending_uploads(&self) -> Option<Vec<String>> {
        match &self.inner {
            Inner::Local(root) => Some(
                upload_temp_files(root)
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect(),
            ),
            Inner::S3(s3) => s3.pending_uploads(),
        }
    }

    /// Asserts that no upload is left pending (see [`TestStore::pending_uploads`]);
    /// a store that cannot tell is said to be unchecked, on stderr.
    pub fn assert_no_pending_uploads(&self) {
        match self.pending_uploads() {
            Some(pending) => assert_eq!(
                pending,
                Vec::<String>::new(),
                "uploads left pending (temporary files, or open multipart uploads)"
            ),
            None => {
                #[allow(clippy::print_stderr, reason = "a check that could not be made is said")]
                {
                    eprintln!("pending uploads NOT CHECKED: the store cannot list its multipart uploads (501)");
                }
            }
        }
    }

    /// The entries of `dir`: (name, is a directory).
    fn entries(&self, dir: &str) -> Vec<(String, bool)> {
        match &self.inner {
            Inner::Local(root) => {
                let path = root.join(dir);
                std::fs::read_dir(&path)
                    .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
                    .map(|entry| {
                        let entry = entry.expect("a directory entry");
                        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
                        (entry.file_name().to_string_lossy().into_owned(), is_dir)
                    })
                    .collect()
            }
            Inner::S3(s3) => s3.list(&s3.dir_key(dir)),
        }
    }
}

impl Drop for TestStore {
    fn drop(&mut self) {
        if let (Some(_), Inner::Local(dir)) = (&self.upstream, &self.inner) {
            if std::thread::panicking() {
                #[allow(clippy::print_stderr, reason = "diagnostics of a failed test")]
                {
                    eprintln!("--- the test's upstream files are kept in {}", dir.display());
                }
            } else {
                let _ = std::fs::remove_dir_all(dir);
            }
            return;
        }
        let Inner::S3(s3) = &self.inner else { return };
        if std::thread::panicking() {
            #[allow(clippy::print_stderr, reason = "diagnostics of a failed test")]
            {
                eprintln!("--- the test's objects are kept under {}/{}", s3.bucket, s3.prefix);
            }
            return;
        }
        let (op, prefix) = (s3.op.clone(), s3.prefix.clone());
        s3.call("removing the test's prefix", STORE_BULK, async move {
            op.delete_with(&prefix).recursive(true).await
        });
    }
}

/// What a directory holds (see [`TestStore::tree`]).
pub type Tree = BTreeMap<String, Option<String>>;

/// A file's content, short: its length and SHA-256.
pub fn digest(content: &[u8]) -> String {
    format!("{} bytes, sha256 {}", content.len(), sha256_hex(content))
}

/// `dir/rel` (either may be empty).
fn join(dir: &str, rel: &str) -> String {
    match (dir.trim_end_matches('/'), rel) {
        ("", rel) => rel.to_owned(),
        (dir, "") => format!("{dir}/"),
        (dir, rel) => format!("{dir}/{rel}"),
    }
}

/// The marker object's name with `directory_markers: keep_file`.
const KEEP_FILE: &str = dualgate::storage::s3::KEEP_FILE;
/// A `storage:` section as one line of JSON (valid YAML, for `DUALGATE_STORAGE`).
fn json(section: &serde_yaml::Mapping) -> String {
    serde_json::to_string(section).expect("the storage section as JSON")
}

/// Gateways started so far in this process (part of each prefix).
static NEXT_PREFIX: AtomicU32 = AtomicU32::new(0);

impl S3Store {
    fn open(section: &serde_yaml::Mapping, s: &S3Config) -> S3Store {
        super::tls::install_provider();
        let prefix = format!(
            "e2e-{}-{}-{:08x}/",
            std::process::id(),
            NEXT_PREFIX.fetch_add(1, Ordering::Relaxed),
            rand::rng().next_u32()
        );
        let (Some(key_id), Some(secret)) = (&s.access_key_id, &s.secret_access_key) else {
            panic!("{STORAGE_ENV}: the fragment must give access_key_id and secret_access_key");
        };
        let mut builder = opendal::services::S3::default()
            .endpoint(&s.endpoint)
            .region(&s.region)
            .bucket(&s.bucket)
            .root("/")
            .access_key_id(key_id)
            .secret_access_key(secret.expose())
            .disable_config_load()
            .disable_ec2_metadata();
        if !s.path_style {
            builder = builder.enable_virtual_host_style();
        }
        let client = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .expect("the store's HTTP client");
        // Retried like the gateway's own requests: a store's passing 500 (moto's
        // threaded server under load) is not what the test is about.
        let op = Operator::new(builder).expect("an S3 operator").layer(
            opendal::layers::RetryLayer::new()
                .with_max_times(3)
                .with_min_delay(Duration::from_millis(200)),
        );
        let context = op.context().with_http_transport(opendal::HttpTransporter::new(
            opendal_http_transport_reqwest::ReqwestTransport::new(client.clone()),
        ));
        let mut section = section.clone();
        section.insert("prefix".into(), prefix.clone().into());
        let mut bucket_url = reqwest::Url::parse(s.endpoint.trim())
            .unwrap_or_else(|e| panic!("{STORAGE_ENV}: endpoint {:?}: {e}", s.endpoint));
        if s.path_style {
            bucket_url
                .path_segments_mut()
                .expect("an http(s) endpoint")
                .pop_if_empty()
                .push(&s.bucket);
        } else {
            let host = format!("{}.{}", s.bucket, bucket_url.host_str().unwrap_or_default());
            bucket_url.set_host(Some(&host)).expect("the bucket's host name");
        }
        S3Store {
            op: op.with_context(context),
            prefix,
            upload_buffer: dualgate::storage::s3::S3Settings::upload_buffer(s),
            section,
            keep_file: s.directory_markers == dualgate::config::DirectoryMarkers::KeepFile,
            bucket_url,
            bucket: s.bucket.clone(),
            access_key_id: key_id.clone(),
            secret_access_key: secret.expose().to_owned(),
            region: s.region.clone(),
            client,
        }
    }

    /// The section as one JSON (so YAML) flow mapping.
    fn section_json(&self) -> String {
        serde_json::to_string(&self.section).expect("the storage section as JSON")
    }

    /// The key of the file `rel`.
    fn key(&self, rel: &str) -> String {
        format!("{}{}", self.prefix, rel.trim_matches('/'))
    }

    /// The key prefix of the directory `rel` (ends in `/`).
    fn dir_key(&self, rel: &str) -> String {
        match rel.trim_matches('/') {
            "" => self.prefix.clone(),
            rel => format!("{}{rel}/", self.prefix),
        }
    }

    /// The metadata of the object `rel` (`None`: none).
    fn file_meta(&self, rel: &str) -> Option<opendal::Metadata> {
        let (op, key, keep_file) = (self.op.clone(), self.key(rel), self.keep_file);
        self.call(&format!("HEAD {key}"), STORE_CALL, async move {
            if keep_file {
                // s3s-fs answers a HEAD of a name that is a directory on its
                // disk with a 500: ask a listing first, as the server does.
                let first = op.list_with(&key).limit(1).await?;
                if !first.first().is_some_and(|e| e.path() == key && !e.metadata().is_dir()) {
                    return Ok(None);
                }
            }
            match op.stat(&key).await {
                Ok(meta) => Ok(Some(meta).filter(|m| !m.is_dir())),
                Err(e) if e.kind() == opendal::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e),
            }
        })
    }

    /// One level under the key prefix `dir` (`""`: the bucket): (name, is a
    /// directory); the directory's own marker is not an entry.
    fn list(&self, dir: &str) -> Vec<(String, bool)> {
        let (op, dir, keep_file) = (self.op.clone(), dir.to_owned(), self.keep_file);
        self.call(&format!("LIST {dir}"), STORE_BULK, async move {
            let entries = op.list(if dir.is_empty() { "/" } else { &dir }).await?;
            Ok(entries
                .into_iter()
                .filter_map(|e| {
                    let rest = e.path().strip_prefix(dir.as_str()).unwrap_or(e.path());
                    let name = rest.trim_end_matches('/');
                    let marker = name.is_empty() || (keep_file && name == KEEP_FILE);
                    (!marker).then(|| (name.to_owned(), e.metadata().is_dir()))
                })
                .collect())
        })
    }

    /// The keys of the multipart uploads open under the prefix (a signed
    /// ListMultipartUploads); `None` when the store cannot list them (501).
    fn pending_uploads(&self) -> Option<Vec<String>> {
        let mut url = self.bucket_url.clone();
        url.query_pairs_mut()
            .append_pair("uploads", "")
            .append_pair("prefix", &self.prefix);
        let creds = super::sigv4::Credentials {
            access_key_id: &self.access_key_id,
            secret_access_key: &self.secret_access_key,
            region: &self.region,
        };
        let mut request = self.client.get(url.clone());
        for (name, value) in super::sigv4::sign_get(&url, &creds, time::OffsetDateTime::now_utc()) {
            request = request.header(name, value);
        }
        let prefix = self.prefix.clone();
        let (status, body) = block_on(&format!("GET {url}"), STORE_CALL, async move {
            let resp = request.send().await.map_err(|e| format!("{url}: {e}"))?;
            let status = resp.status().as_u16();
            let body = resp.bytes().await.map_err(|e| format!("{url}: {e}"))?;
            Ok::<_, String>((status, body.to_vec()))
        })
        .unwrap_or_else(|e| panic!("listing the multipart uploads: {e}"));
        if status == 501 {
            return None;
        }
        let text = String::from_utf8_lossy(&body);
        assert_eq!(status, 200, "ListMultipartUploads: {status} {text}");
        let root = super::dav::parse_xml(&body).unwrap_or_else(|e| panic!("ListMultipartUploads: {e}: {text}"));
        Some(
            root.children
                .iter()
                .filter(|c| c.local == "Upload")
                .map(|u| {
                    u.children
                        .iter()
                        .find(|c| c.local == "Key")
                        .map_or_else(|| format!("(an upload without a key: {u:?})"), |k| k.text.clone())
                })
                .filter(|key| key.starts_with(&prefix) || key.starts_with('('))
                .collect(),
        )
    }

    /// Runs an OpenDAL call on the store's runtime; panics with `what` on an error.
    fn call<T: Send + 'static>(
        &self,
        what: &str,
        limit: Duration,
        fut: impl Future<Output = opendal::Result<T>> + Send + 'static,
    ) -> T {
        block_on(what, limit, fut).unwrap_or_else(|e| panic!("{what}: {e}"))
    }
}

/// Runs `fut` on the store's own runtime (two threads, made once) and waits for
/// it, at most `limit`, from any thread — a tokio test's included.
fn block_on<T: Send + 'static>(what: &str, limit: Duration, fut: impl Future<Output = T> + Send + 'static) -> T {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    let runtime = RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("test-store")
            .enable_all()
            .build()
            .expect("the test store's runtime")
    });
    let (tx, rx) = std::sync::mpsc::channel();
    runtime.spawn(async move {
        let _ = tx.send(fut.await);
    });
    rx.recv_timeout(limit)
        .unwrap_or_else(|e| panic!("the storage did not answer within {limit:?} ({e}): {what}"))
}

#[cfg(test)]
mod self_tests {
    use super::*;

    #[test]
    fn paths_join_below_a_directory() {
        assert_eq!(join("", "a/b"), "a/b");
        assert_eq!(join("d", ""), "d/");
        assert_eq!(join("d/", "x"), "d/x");
        assert_eq!(join("d", "sub/x"), "d/sub/x");
    }

    #[test]
    fn a_store_on_disk_seeds_lists_and_removes() {
        let dir = tempfile::tempdir().unwrap();
        let store = TestStore::local(dir.path().join("data"));
        store.put("a/b/f.txt", b"abc");
        store.mkdir("a/empty");
        store.put("top.bin", [1u8, 2]);
        assert_eq!(store.names(""), ["a", "top.bin"]);
        assert_eq!(store.names("a"), ["b", "empty"]);
        assert!(store.is_dir("a/b") && !store.is_dir("top.bin"));
        assert!(store.exists("a/empty") && !store.exists("nothing"));
        assert_eq!(store.get("a/b/f.txt").as_deref(), Some(&b"abc"[..]));
        assert_eq!(store.get("missing"), None);
        assert_eq!(store.len("top.bin"), Some(2));
        let tree = store.tree("a");
        assert_eq!(
            tree.keys().map(String::as_str).collect::<Vec<_>>(),
            ["b/", "b/f.txt", "empty/"]
        );
        assert_eq!(tree["b/f.txt"], Some(digest(b"abc")));
        store.remove("a");
        store.remove("top.bin");
        assert!(store.names("").is_empty());
        store.assert_no_pending_uploads();
    }
}
