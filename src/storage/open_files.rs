//! The open-file cache: a local file read again soon after is served from the
//! descriptor and metadata of its last open, not opened and `fstat`ed afresh
//! (nginx's `open_file_cache`, which its default configuration leaves off). On a
//! load of small downloads the open, the `fstat` and the close are three of a
//! request's handful of system calls. On by default for local disk;
//! `storage.open_file_cache: false` turns it off.
//!
//! **What is kept.** Per volume (a home), up to [`PER_VOLUME`] files opened for
//! reading by a path without symbolic links
//! ([`FileRegion::by_plain_path`]): such a descriptor is the file its path
//! names, so a change to that path is a change to the entry. At most
//! [`MAX_OPEN`] descriptors are kept by the whole process; past either bound a
//! file is simply not kept.
//!
//! **Changes made through this server** are seen at once: every write, commit,
//! abort, delete, rename, copy, mode or time change of a path (through any
//! volume, over FTP, HTTP or WebDAV) drops the entries at or beneath that path
//! in every volume ([`OpenFiles::changed`], called by
//! [`exclusive`](super::exclusive), the layer every volume's writes go
//! through) before it returns.
//!
//! **Changes made behind its back** (another process writing the disk) are seen
//! within [`VALID_FOR`]: an entry older than that is opened afresh. Until then
//! a file replaced on disk (a new inode under the name) is served as it was,
//! and one changed in place is served with its new bytes but its old size and
//! validators — a shorter read if it shrank, which ends the response short.
//! A hard link written by this server under another name is, for the names
//! it was not written by, such a change behind its back. Expired entries are
//! closed at the volume's next miss and by a sweep every [`VALID_FOR`]
//! ([`OpenFiles::sweep_expired`]): once reads stop, every descriptor is closed
//! within two seconds, and with it the space of files deleted on disk. That
//! last close frees the deleted file's pages (0.2 s of CPU for 1 GiB on tmpfs),
//! so it runs on the blocking pool, never on an async worker ([`Closing`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use super::local::FileRegion;
use super::{Metadata, ReadBody, ReadHandle, StorageError};
use crate::path::VirtualPath;

/// How long an entry is used before its file is opened afresh: the bound on
/// how stale a change made behind the server's back may be served.
pub const VALID_FOR: Duration = Duration::from_secs(1);
/// Most files kept per volume.
pub const PER_VOLUME: usize = 256;
/// Most descriptors kept by the whole process.
pub const MAX_OPEN: usize = 1024;

/// The cache of every volume, for changes that cross volumes (two homes, one
/// inside the other).
#[derive(Debug, Default)]
pub struct OpenFiles {
    volumes: Mutex<Vec<Weak<VolumeFiles>>>,
    shared: Arc<Shared>,
}

/// What every volume's cache shares.
#[derive(Debug, Default)]
struct Shared {
    /// Descriptors kept now, over all volumes.
    held: AtomicUsize,
    /// Changes so far: a file opened before a change is not kept after it
    /// (it may be the file as it was before).
    changes: AtomicU64,
}

impl OpenFiles {
    /// The cache of the volume rooted at `home`.
    pub fn volume(&self, home: &VirtualPath) -> Arc<VolumeFiles> {
        let files = Arc::new(VolumeFiles {
            home: home.clone(),
            entries: Mutex::default(),
            shared: self.shared.clone(),
        });
        let mut volumes = self.volumes.lock().unwrap_or_else(PoisonError::into_inner);
        volumes.retain(|v| v.strong_count() > 0);
        volumes.push(Arc::downgrade(&files));
        files
    }

    /// Drops what is kept at or beneath `path` (as the back-end names it: a
    /// home joined with a user's path), in every volume.
    pub fn changed(&self, path: &VirtualPath) {
        // Counted before any entry is dropped: a read that opened the file
        // before the change either sees the count moved and keeps nothing, or
        // kept its file before, which the drops below then find.
        self.shared.changes.fetch_add(1, Ordering::SeqCst);
        for v in self.live() {
            v.drop_beneath(path);
        }
    }

    /// Closes the entries of every volume older than [`VALID_FOR`], now and then
    /// every [`VALID_FOR`] on the current tokio runtime, for as long as `files`
    /// is in use (nothing is started outside a runtime: unit tests).
    pub fn sweep_expired(files: &Arc<OpenFiles>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let files = Arc::downgrade(files);
        runtime.spawn(async move {
            let mut every = tokio::time::interval(VALID_FOR);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                let Some(files) = files.upgrade() else { return };
                let now = Instant::now();
                for v in files.live() {
                    let mut closing = Closing::default();
                    let mut entries = v.entries.lock().unwrap_or_else(PoisonError::into_inner);
                    closing.take_expired(&mut entries, now);
                }
            }
        });
    }

    /// The caches of the volumes still in use.
    fn live(&self) -> Vec<Arc<VolumeFiles>> {
        self.volumes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter_map(Weak::upgrade)
            .collect()
    }

    /// Descriptors kept now.
    pub fn held(&self) -> usize {
        self.shared.held.load(Ordering::Relaxed)
    }
}

/// One volume's kept files, by the path its user names them with.
#[derive(Debug)]
pub struct VolumeFiles {
    home: VirtualPath,
    entries: Mutex<HashMap<VirtualPath, Entry>>,
    shared: Arc<Shared>,
}

/// A kept file.
#[derive(Debug)]
struct Entry {
    /// The whole file, open.
    region: FileRegion,
    meta: Metadata,
    opened: Instant,
    /// Counts in [`OpenFiles::held`] while it lives.
    _slot: Slot,
}

/// One of [`MAX_OPEN`].
#[derive(Debug)]
struct Slot(Arc<Shared>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.held.fetch_sub(1, Ordering::Relaxed);
    }
}

/// When a read that missed began, for [`VolumeFiles::keep`].
#[derive(Debug, Clone, Copy)]
pub struct Since(u64);

impl Drop for VolumeFiles {
    /// A volume dropped (its session ended, or the kept volumes were
    /// cleared) closes its entries as any drop does ([`Closing`]).
    fn drop(&mut self) {
        let mut closing = Closing::default();
        closing.extend(
            self.entries
                .get_mut()
                .unwrap_or_else(PoisonError::into_inner)
                .drain()
                .map(|(_, e)| e),
        );
    }
}

impl VolumeFiles {
    /// A read of `path` from the kept file, if there is one still valid (the
    /// same answer the back-end would give for the file as it was opened);
    /// else when the miss was found, for [`VolumeFiles::keep`].
    pub fn read(
        &self,
        path: &VirtualPath,
        offset: u64,
        len: Option<u64>,
    ) -> Result<Result<ReadHandle, StorageError>, Since> {
        let since = Since(self.shared.changes.load(Ordering::SeqCst));
        let mut closing = Closing::default();
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(entry) = entries.get(path) else {
            return Err(since);
        };
        if entry.opened.elapsed() >= VALID_FOR {
            closing.extend(entries.remove(path));
            return Err(since);
        }
        let handle = ReadHandle {
            meta: entry.meta.clone(),
            body: ReadBody::Local(entry.region.share(0, entry.meta.size)),
        };
        drop(entries);
        Ok(handle.narrow(offset, len))
    }

    /// Keeps the file a read of `path` opened after the miss of `since`, when
    /// it may be kept: nothing changed since, and the bounds leave room.
    pub fn keep(&self, path: &VirtualPath, handle: &ReadHandle, since: Since) {
        let ReadBody::Local(region) = &handle.body else {
            return;
        };
        if !region.by_plain_path() {
            return;
        }
        let mut closing = Closing::default();
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if self.shared.changes.load(Ordering::SeqCst) != since.0 {
            return;
        }
        // Expired entries go at each miss (a miss costs an open anyway), so their
        // descriptors do not hold files deleted since.
        let now = Instant::now();
        closing.take_expired(&mut entries, now);
        if entries.len() >= PER_VOLUME {
            return;
        }
        if self.shared.held.fetch_add(1, Ordering::Relaxed) >= MAX_OPEN {
            self.shared.held.fetch_sub(1, Ordering::Relaxed);
            return;
        }
        let entry = Entry {
            region: region.share(0, handle.meta.size),
            meta: handle.meta.clone(),
            opened: now,
            _slot: Slot(self.shared.clone()),
        };
        closing.extend(entries.insert(path.clone(), entry));
    }

    /// Drops what is kept at or beneath `changed` (a back-end path).
    fn drop_beneath(&self, changed: &VirtualPath) {
        let mut closing = Closing::default();
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.is_empty() {
            return;
        }
        if self.home.starts_with(changed) {
            closing.extend(entries.drain().map(|(_, e)| e));
            return;
        }
        closing.extend(
            entries
                .extract_if(|path, _| self.home.nest(path).starts_with(changed))
                .map(|(_, e)| e),
        );
    }
}

/// The files of entries just dropped, closed once the volume's lock is
/// released: inline, except those deleted or replaced on disk meanwhile, whose
/// last `close` frees their pages (0.2 s of CPU for 1 GiB on tmpfs, measured)
/// and so runs on the blocking pool, not on an async worker, where it would
/// hold up every connection of that worker. An entry's slot is given back at
/// once. (A deleted file still being sent closes where its response ends, as
/// it would without the cache; a runtime shutting down runs the close inline.)
#[derive(Default)]
struct Closing(Vec<FileRegion>);

impl Closing {
    fn extend(&mut self, entries: impl IntoIterator<Item = Entry>) {
        self.0.extend(entries.into_iter().map(|e| e.region));
    }

    /// Takes the entries that were opened [`VALID_FOR`] or longer before `now`.
    fn take_expired(&mut self, entries: &mut HashMap<VirtualPath, Entry>, now: Instant) {
        self.extend(
            entries
                .extract_if(|_, e| now.duration_since(e.opened) >= VALID_FOR)
                .map(|(_, e)| e),
        );
    }
}

impl Drop for Closing {
    fn drop(&mut self) {
        let (unlinked, _others): (Vec<FileRegion>, Vec<FileRegion>) = std::mem::take(&mut self.0)
            .into_iter()
            .partition(FileRegion::closes_unlinked);
        if unlinked.is_empty() {
            return;
        }
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn_blocking(move || drop(unlinked))),
            Err(_) => drop(unlinked),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    fn path(s: &str) -> VirtualPath {
        VirtualPath::parse_absolute(s).unwrap()
    }

    /// The whole of `p` opened by the local volume of `root` at `home` (its
    /// `stat` and open run inline: the first poll answers).
    fn open(root: &std::path::Path, home: &str, p: &str) -> ReadHandle {
        let v = crate::storage::local::LocalBackend::open(root)
            .unwrap()
            .volume(&path(home))
            .unwrap();
        futures_util::FutureExt::now_or_never(crate::storage::Storage::read(&v, &path(p), 0, None))
            .unwrap()
            .unwrap()
    }

    #[test]
    fn changes_drop_entries_at_or_beneath_them_in_every_volume() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("home/a")).unwrap();
        std::fs::write(dir.path().join("home/a/f"), b"0123456789").unwrap();
        std::fs::write(dir.path().join("home/g"), b"g").unwrap();
        let files = OpenFiles::default();
        let (root, home) = (files.volume(&path("/")), files.volume(&path("/home")));
        for (v, h, p) in [
            (&root, "/", "/home/a/f"),
            (&root, "/", "/home/g"),
            (&home, "/home", "/a/f"),
            (&home, "/home", "/g"),
        ] {
            let since = v.read(&path(p), 0, None).unwrap_err();
            v.keep(&path(p), &open(dir.path(), h, p), since);
        }
        assert_eq!(files.held(), 4);
        let hit = home.read(&path("/a/f"), 2, Some(3)).unwrap().unwrap();
        assert_eq!(hit.meta.size, 10);
        let ReadBody::Local(region) = &hit.body else {
            panic!("a local region")
        };
        assert_eq!((region.offset(), region.len()), (2, 3));
        // A change to /home/a (as the back-end names it) drops /home/a/f as both
        // volumes name it, and nothing else.
        files.changed(&path("/home/a"));
        assert!(root.read(&path("/home/a/f"), 0, None).is_err());
        assert!(home.read(&path("/a/f"), 0, None).is_err());
        assert!(root.read(&path("/home/g"), 0, None).is_ok());
        assert!(home.read(&path("/g"), 0, None).is_ok());
        assert_eq!(files.held(), 2);
        // A change above a home drops all of that volume.
        files.changed(&path("/home"));
        assert!(home.read(&path("/g"), 0, None).is_err());
        assert!(root.read(&path("/home/g"), 0, None).is_err());
        assert_eq!(files.held(), 0);
    }

    #[test]
    fn a_file_opened_before_a_change_is_not_kept_after_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), b"old").unwrap();
        let files = OpenFiles::default();
        let cache = files.volume(&path("/"));
        let since = cache.read(&path("/f"), 0, None).unwrap_err();
        let old = open(dir.path(), "/", "/f");
        // Another session replaces the file and says so before this read keeps it.
        files.changed(&path("/f"));
        cache.keep(&path("/f"), &old, since);
        assert!(cache.read(&path("/f"), 0, None).is_err());
        assert_eq!(files.held(), 0);
    }

    #[test]
    fn a_file_reached_through_a_symbolic_link_is_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), b"f").unwrap();
        std::os::unix::fs::symlink("f", dir.path().join("l")).unwrap();
        let files = OpenFiles::default();
        let cache = files.volume(&path("/"));
        for p in ["/f", "/l"] {
            let since = cache.read(&path(p), 0, None).unwrap_err();
            cache.keep(&path(p), &open(dir.path(), "/", p), since);
        }
        assert!(cache.read(&path("/f"), 0, None).is_ok());
        assert!(
            cache.read(&path("/l"), 0, None).is_err(),
            "the link's target may change under its name"
        );
    }

    /// Descriptors this process holds of `file` once it is deleted.
    fn held_deleted(file: &std::path::Path) -> usize {
        let deleted = format!("{} (deleted)", file.display());
        std::fs::read_dir("/proc/self/fd")
            .unwrap()
            .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
            .filter(|target| target.as_os_str() == deleted.as_str())
            .count()
    }

    #[test]
    fn a_kept_file_deleted_on_disk_is_closed_on_the_blocking_pool() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(1)
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, b"f").unwrap();
        let files = OpenFiles::default();
        let cache = files.volume(&path("/"));
        let since = cache.read(&path("/f"), 0, None).unwrap_err();
        cache.keep(&path("/f"), &open(dir.path(), "/", "/f"), since);
        std::fs::remove_file(&file).unwrap();
        assert_eq!(held_deleted(&file), 1, "the cache holds the deleted file");
        // The pool's one thread is kept busy: a close queued behind it waits.
        let (release, busy) = std::sync::mpsc::channel::<()>();
        let blocker = runtime.spawn_blocking(move || busy.recv());
        {
            let _in_runtime = runtime.enter();
            files.changed(&path("/f"));
        }
        assert_eq!(files.held(), 0, "its slot is given back at once");
        assert_eq!(held_deleted(&file), 1, "the last close did not run inline");
        release.send(()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while held_deleted(&file) > 0 {
            assert!(Instant::now() < deadline, "the deleted file is still open");
            std::thread::sleep(Duration::from_millis(5));
        }
        runtime.block_on(blocker).unwrap().unwrap();
    }
}
