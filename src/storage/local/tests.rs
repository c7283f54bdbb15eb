//! Tests of the local back-end against a real temporary directory.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use super::*;
use bytes::Bytes;
use futures_util::StreamExt;

fn vp(s: &str) -> VirtualPath {
    VirtualPath::parse_absolute(s).unwrap()
}

/// A back-end and its root volume (the view of a user whose home is `/`).
struct Fx {
    backend: LocalBackend,
    vol: LocalVolume,
}

impl std::ops::Deref for Fx {
    type Target = LocalVolume;
    fn deref(&self) -> &LocalVolume {
        &self.vol
    }
}

impl Fx {
    fn new(backend: LocalBackend) -> Self {
        let vol = backend.volume(&VirtualPath::root()).unwrap();
        Fx { backend, vol }
    }
    fn root_path(&self) -> &Path {
        self.backend.root_path()
    }
    fn with_inline_metadata(self, inline: bool) -> Self {
        Fx::new(self.backend.with_inline_metadata(inline))
    }
    async fn probe(&self) -> Result<(), StorageError> {
        self.backend.probe().await
    }
}

fn setup() -> (tempfile::TempDir, Fx) {
    let dir = tempfile::tempdir().unwrap();
    let backend = LocalBackend::open(&dir.path().join("root")).unwrap();
    (dir, Fx::new(backend))
}

async fn names(s: &Fx, dir: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut stream = s.list(&vp(dir)).await.unwrap();
    while let Some(batch) = stream.next().await {
        out.extend(batch.unwrap().into_iter().map(|e| e.name.to_string()));
    }
    out.sort();
    out
}

async fn put(s: &Fx, path: &str, data: &[u8]) {
    let mut up = s.write(&vp(path), WriteMode::Replace).await.unwrap();
    up.write(Bytes::copy_from_slice(data)).await.unwrap();
    up.commit().await.unwrap();
}

fn read_disk(s: &Fx, rel: &str) -> Vec<u8> {
    std::fs::read(s.root_path().join(rel)).unwrap()
}

#[tokio::test]
async fn symlink_pointing_outside_is_refused_not_followed() {
    let (tmp, s) = setup();
    symlinks_out_of_the_root_are_refused(&tmp, &s).await;
}

#[tokio::test]
async fn metadata_calls_on_the_blocking_pool_confine_and_fail_alike() {
    let (tmp, s) = setup();
    let s = s.with_inline_metadata(false);
    symlinks_out_of_the_root_are_refused(&tmp, &s).await;
    ranged_reads_and_their_errors(&s).await;
}

async fn symlinks_out_of_the_root_are_refused(tmp: &tempfile::TempDir, s: &Fx) {
    std::fs::write(tmp.path().join("secret"), b"top secret").unwrap();
    std::os::unix::fs::symlink(tmp.path().join("secret"), s.root_path().join("abs")).unwrap();
    std::os::unix::fs::symlink("../secret", s.root_path().join("rel")).unwrap();
    std::os::unix::fs::symlink(tmp.path(), s.root_path().join("outdir")).unwrap();
    for p in ["/abs", "/rel", "/outdir/secret"] {
        let err = s.read(&vp(p), 0, None).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::PermissionDenied, "{p}");
    }
    assert_eq!(
        s.list(&vp("/outdir")).await.err().map(|e| e.kind),
        Some(ErrorKind::PermissionDenied)
    );
    // Writing through a symlink that leaves the root is refused too.
    let err = s.write(&vp("/outdir/new"), WriteMode::Replace).await.err().unwrap();
    assert_eq!(err.kind, ErrorKind::PermissionDenied);
    // Escaping links are not listed at all.
    assert!(names(s, "/").await.is_empty());
    assert_eq!(
        s.stat(&vp("/outdir/secret")).await.unwrap_err().kind,
        ErrorKind::PermissionDenied
    );
}

#[tokio::test]
async fn symlink_inside_the_root_is_followed() {
    let (_tmp, s) = setup();
    put(&s, "/real.txt", b"inside").await;
    std::os::unix::fs::symlink("real.txt", s.root_path().join("link.txt")).unwrap();
    let h = s.read(&vp("/link.txt"), 0, None).await.unwrap();
    assert_eq!(h.meta.size, 6);
    assert_eq!(names(&s, "/").await, vec!["link.txt", "real.txt"]);
}

/// `list_names` (FTP NLST) skips the `stat` of plain files and directories, and
/// shows exactly what `list` shows: links inside the volume as their targets'
/// kinds, no link leaving it, no fifo, no upload in progress.
#[tokio::test]
async fn names_only_listing_shows_what_the_full_one_shows() {
    let (tmp, s) = setup();
    put(&s, "/f.txt", b"data").await;
    s.mkdir(&vp("/d")).await.unwrap();
    std::os::unix::fs::symlink("f.txt", s.root_path().join("in-file")).unwrap();
    std::os::unix::fs::symlink("d", s.root_path().join("in-dir")).unwrap();
    std::os::unix::fs::symlink(tmp.path(), s.root_path().join("out")).unwrap();
    std::os::unix::fs::symlink("missing", s.root_path().join("dangling")).unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        s.root_path().join("fifo"),
        FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
    let mut pending = s.write(&vp("/pending.txt"), WriteMode::Replace).await.unwrap();
    pending.write(Bytes::from_static(b"half")).await.unwrap();
    let kinds = |stream: ListStream| async move {
        let mut out: Vec<(String, EntryKind)> = stream
            .flat_map(|b| futures_util::stream::iter(b.unwrap()))
            .map(|e| (e.name.to_string(), e.meta.kind))
            .collect()
            .await;
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    };
    let full = kinds(s.list(&vp("/")).await.unwrap()).await;
    let names_only = kinds(s.list_names(&vp("/")).await.unwrap()).await;
    assert_eq!(
        full,
        [
            ("d".to_owned(), EntryKind::Dir),
            ("f.txt".to_owned(), EntryKind::File),
            ("in-dir".to_owned(), EntryKind::Dir),
            ("in-file".to_owned(), EntryKind::File),
        ]
    );
    assert_eq!(names_only, full);
    drop(pending);
}

#[tokio::test]
async fn upload_is_invisible_until_commit_and_abort_leaves_nothing() {
    let (_tmp, s) = setup();
    put(&s, "/f.txt", b"old").await;
    let mut up = s.write(&vp("/f.txt"), WriteMode::Replace).await.unwrap();
    up.write(Bytes::from_static(b"new content")).await.unwrap();
    // Mid-upload: the old file is what is visible, and no temp name is listed.
    assert_eq!(read_disk(&s, "f.txt"), b"old");
    assert_eq!(names(&s, "/").await, vec!["f.txt"]);
    drop(up); // abort
    assert_eq!(read_disk(&s, "f.txt"), b"old");
    let on_disk: Vec<_> = std::fs::read_dir(s.root_path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(on_disk.len(), 1, "no temporary file may remain: {on_disk:?}");
    // A committed replace reports created=false, a new file created=true.
    let mut up = s.write(&vp("/f.txt"), WriteMode::Replace).await.unwrap();
    up.write(Bytes::from_static(b"new")).await.unwrap();
    assert!(!up.commit().await.unwrap().created);
    let mut up = s.write(&vp("/g.txt"), WriteMode::Replace).await.unwrap();
    up.write(Bytes::from_static(b"g")).await.unwrap();
    assert!(up.commit().await.unwrap().created);
}

#[tokio::test]
async fn temp_names_cannot_be_named_by_clients() {
    let (_tmp, s) = setup();
    let up = s.write(&vp("/f"), WriteMode::Replace).await.unwrap();
    let temp = std::fs::read_dir(s.root_path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .file_name();
    let temp = format!("/{}", temp.to_str().unwrap());
    assert_eq!(s.read(&vp(&temp), 0, None).await.unwrap_err().kind, ErrorKind::NotFound);
    assert_eq!(s.delete(&vp(&temp)).await.unwrap_err().kind, ErrorKind::InvalidName);
    drop(up);
}

#[tokio::test]
async fn write_modes_append_at_and_create_new() {
    let (_tmp, s) = setup();
    put(&s, "/f", b"0123456789").await;
    let mut up = s.write(&vp("/f"), WriteMode::Append).await.unwrap();
    up.write(Bytes::from_static(b"AB")).await.unwrap();
    up.commit().await.unwrap();
    assert_eq!(read_disk(&s, "f"), b"0123456789AB");
    let mut up = s.write(&vp("/f"), WriteMode::At(4)).await.unwrap();
    up.write(Bytes::from_static(b"xy")).await.unwrap();
    up.commit().await.unwrap();
    assert_eq!(read_disk(&s, "f"), b"0123xy");
    assert_eq!(
        s.write(&vp("/f"), WriteMode::At(7)).await.err().unwrap().kind,
        ErrorKind::InvalidOffset
    );
    assert_eq!(
        s.write(&vp("/f"), WriteMode::CreateNew).await.err().unwrap().kind,
        ErrorKind::AlreadyExists
    );
    assert_eq!(
        s.write(&vp("/nodir/f"), WriteMode::Replace).await.err().unwrap().kind,
        ErrorKind::ParentMissing
    );
    s.mkdir(&vp("/d")).await.unwrap();
    assert_eq!(
        s.write(&vp("/d"), WriteMode::Replace).await.err().unwrap().kind,
        ErrorKind::IsADirectory
    );
}

/// The region of `/f` from `offset` to its end.
async fn region(s: &Fx, offset: u64) -> FileRegion {
    match s.read(&vp("/f"), offset, None).await.unwrap().body {
        ReadBody::Local(region) => region,
        _ => panic!("local reads are file regions"),
    }
}

/// A streamed region reads in the ramp's sizes (64 KiB, doubling up to the
/// chunk), gives the file's bytes exactly, and fails, never ends early, when the
/// file shrinks under it: on disk (reads on the blocking pool) and on
/// tmpfs where the machine has one (reads on the calling thread).
#[tokio::test]
async fn a_streamed_region_ramps_up_and_fails_when_the_file_shrinks() {
    const CHUNK: usize = 256 << 10;
    let disk = tempfile::tempdir().unwrap();
    let shm = Path::new("/dev/shm");
    let memory = shm.is_dir().then(|| tempfile::tempdir_in(shm).unwrap());
    let data: Vec<u8> = (0..3u32 << 20).map(|i| (i % 251) as u8).collect();
    for dir in std::iter::once(&disk).chain(memory.as_ref()) {
        let s = Fx::new(LocalBackend::open(&dir.path().join("root")).unwrap());
        put(&s, "/f", &data).await;
        if dir.path().starts_with(shm) {
            let file = File::open(s.root_path().join("f")).unwrap();
            assert!(in_memory(&file), "a file on /dev/shm is in memory");
        }

        let chunks: Vec<Bytes> = region(&s, 100)
            .await
            .into_stream(CHUNK)
            .map(|b| b.unwrap())
            .collect()
            .await;
        let sizes: Vec<usize> = chunks.iter().map(Bytes::len).collect();
        assert_eq!(
            sizes[..4],
            [64 << 10, 128 << 10, CHUNK, CHUNK],
            "{}",
            dir.path().display()
        );
        assert_eq!(chunks.concat(), data[100..], "{}", dir.path().display());

        let mut stream = region(&s, 0).await.into_stream(CHUNK);
        let mut got = stream.next().await.unwrap().unwrap().len();
        std::fs::File::options()
            .write(true)
            .open(s.root_path().join("f"))
            .and_then(|f| f.set_len(1 << 20))
            .unwrap();
        let mut failed = false;
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(c) => got += c.len(),
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        assert!(
            failed,
            "{}: a shrunk file ended the stream cleanly",
            dir.path().display()
        );
        assert_eq!(got, 1 << 20, "{}: bytes before the error", dir.path().display());
    }
}

#[tokio::test]
async fn ranged_read_and_errors() {
    let (_tmp, s) = setup();
    ranged_reads_and_their_errors(&s).await;
}

async fn ranged_reads_and_their_errors(s: &Fx) {
    put(s, "/f", b"0123456789").await;
    assert_eq!(s.stat(&vp("/f")).await.unwrap().size, 10);
    let h = s.read(&vp("/f"), 3, Some(4)).await.unwrap();
    let ReadBody::Local(region) = h.body else {
        panic!("local reads are file regions")
    };
    assert_eq!((region.offset(), region.len()), (3, 4));
    let data: Vec<Bytes> = region.into_stream(2).map(|b| b.unwrap()).collect().await;
    assert_eq!(data.concat(), b"3456");
    assert_eq!(
        s.read(&vp("/f"), 11, None).await.unwrap_err().kind,
        ErrorKind::InvalidOffset
    );
    assert_eq!(
        s.read(&vp("/missing"), 0, None).await.unwrap_err().kind,
        ErrorKind::NotFound
    );
    assert_eq!(
        s.read(&vp("/"), 0, None).await.unwrap_err().kind,
        ErrorKind::IsADirectory
    );
}

#[tokio::test]
async fn directory_operations() {
    let (_tmp, s) = setup();
    s.mkdir(&vp("/a")).await.unwrap();
    assert_eq!(s.mkdir(&vp("/a")).await.unwrap_err().kind, ErrorKind::AlreadyExists);
    assert_eq!(s.mkdir(&vp("/x/y")).await.unwrap_err().kind, ErrorKind::ParentMissing);
    put(&s, "/a/f", b"data").await;
    assert_eq!(s.rmdir(&vp("/a")).await.unwrap_err().kind, ErrorKind::DirectoryNotEmpty);
    assert_eq!(s.delete(&vp("/a")).await.unwrap_err().kind, ErrorKind::IsADirectory);
    s.copy(&vp("/a"), &vp("/b")).await.unwrap();
    assert_eq!(read_disk(&s, "b/f"), b"data");
    assert_eq!(
        s.copy(&vp("/a"), &vp("/a/inner")).await.unwrap_err().error.kind,
        ErrorKind::InvalidName
    );
    s.rename(&vp("/b"), &vp("/c")).await.unwrap();
    assert_eq!(names(&s, "/").await, vec!["a", "c"]);
    assert_eq!(
        s.rename(&vp("/c"), &vp("/c/d")).await.unwrap_err().kind,
        ErrorKind::InvalidName
    );
    s.delete(&vp("/c/f")).await.unwrap();
    s.rmdir(&vp("/c")).await.unwrap();
    assert_eq!(s.stat(&vp("/c")).await.unwrap_err().kind, ErrorKind::NotFound);
    assert!(s.stat(&vp("/")).await.unwrap().is_dir());
    s.probe().await.unwrap();
}

#[tokio::test]
async fn large_listing_comes_in_batches() {
    let (_tmp, s) = setup();
    for i in 0..1000 {
        std::fs::write(s.root_path().join(format!("f{i:04}")), b"x").unwrap();
    }
    let mut stream = s.list(&vp("/")).await.unwrap();
    let mut batches = 0;
    let mut total = 0;
    while let Some(b) = stream.next().await {
        let b = b.unwrap();
        assert!(b.len() <= LIST_BATCH);
        total += b.len();
        batches += 1;
    }
    assert_eq!(total, 1000);
    assert!(batches >= 4);
}

/// A names-only listing has every entry exactly once, also across many
/// `getdents64` calls and with long names: read batch by batch as it is polled
/// (`inline_metadata`) or on the blocking pool.
#[tokio::test]
async fn a_large_names_only_listing_has_every_entry_once() {
    for inline in [true, false] {
        let tmp = tempfile::tempdir().unwrap();
        let backend = LocalBackend::open(&tmp.path().join("root"))
            .unwrap()
            .with_inline_metadata(inline);
        names_only_listing_has_every_entry_once(&Fx::new(backend)).await;
    }
}

async fn names_only_listing_has_every_entry_once(s: &Fx) {
    let mut expected = std::collections::BTreeSet::new();
    for i in 0..3000 {
        let name = if i % 3 == 0 {
            format!("{i}-{}", "n".repeat(200))
        } else {
            format!("f{i}")
        };
        std::fs::write(s.root_path().join(&name), b"x").unwrap();
        expected.insert(smol_str::SmolStr::new(&name));
    }
    std::fs::create_dir(s.root_path().join("sub")).unwrap();
    expected.insert(smol_str::SmolStr::new("sub"));
    let mut stream = s.list_names(&vp("/")).await.unwrap();
    let (mut seen, mut batches) = (std::collections::BTreeSet::new(), 0);
    while let Some(b) = stream.next().await {
        let b = b.unwrap();
        assert!(!b.is_empty() && b.len() <= NAMES_BATCH, "a batch of {}", b.len());
        for e in b {
            let kind = if e.name == "sub" {
                EntryKind::Dir
            } else {
                EntryKind::File
            };
            assert_eq!(e.meta.kind, kind, "{}", e.name);
            assert!(seen.insert(e.name.clone()), "{} listed twice", e.name);
        }
        batches += 1;
    }
    assert_eq!(seen, expected);
    assert!(batches >= 3, "{batches} batches");
}

#[tokio::test]
async fn dead_properties_are_stored_copied_and_moved_with_their_file() {
    let (_tmp, s) = setup();
    put(&s, "/f.txt", b"x").await;
    s.mkdir(&vp("/d")).await.unwrap();
    put(&s, "/d/inner", b"y").await;
    assert_eq!(s.dead_props(&vp("/f.txt")).await.unwrap(), b"");
    s.set_dead_props(&vp("/f.txt"), b"file-props".to_vec()).await.unwrap();
    s.set_dead_props(&vp("/d"), b"dir-props".to_vec()).await.unwrap();
    assert_eq!(s.dead_props(&vp("/f.txt")).await.unwrap(), b"file-props");
    // A copy carries them, for files and (recursively) directories.
    s.copy(&vp("/f.txt"), &vp("/g.txt")).await.unwrap();
    s.copy(&vp("/d"), &vp("/e")).await.unwrap();
    assert_eq!(s.dead_props(&vp("/g.txt")).await.unwrap(), b"file-props");
    assert_eq!(s.dead_props(&vp("/e")).await.unwrap(), b"dir-props");
    // Replacing the contents keeps them (the new contents are a new inode).
    put(&s, "/g.txt", b"new contents").await;
    assert_eq!(s.dead_props(&vp("/g.txt")).await.unwrap(), b"file-props");
    // A rename keeps them; an empty blob removes them (twice is fine).
    s.rename(&vp("/g.txt"), &vp("/h.txt")).await.unwrap();
    assert_eq!(s.dead_props(&vp("/h.txt")).await.unwrap(), b"file-props");
    s.set_dead_props(&vp("/h.txt"), Vec::new()).await.unwrap();
    s.set_dead_props(&vp("/h.txt"), Vec::new()).await.unwrap();
    assert_eq!(s.dead_props(&vp("/h.txt")).await.unwrap(), b"");
    // Confined like everything else.
    assert_eq!(
        s.dead_props(&vp("/missing")).await.unwrap_err().kind,
        ErrorKind::NotFound
    );
}

#[tokio::test]
async fn a_copy_that_reaches_its_destination_through_a_link_does_not_copy_itself() {
    let (_tmp, s) = setup();
    s.mkdir(&vp("/d")).await.unwrap();
    put(&s, "/d/f", b"data").await;
    std::os::unix::fs::symlink("d", s.root_path().join("l")).unwrap();
    // /l is /d: the copy lands inside its own source.
    s.copy(&vp("/l"), &vp("/d/c")).await.unwrap();
    assert_eq!(read_disk(&s, "d/c/f"), b"data");
    assert!(!s.root_path().join("d/c/c").exists(), "the copy copied itself");
}

#[tokio::test]
async fn a_resume_cuts_the_file_only_when_its_data_comes() {
    let (_tmp, s) = setup();
    put(&s, "/f", b"0123456789").await;
    // Given up before any byte: the file is whole.
    let up = s.write(&vp("/f"), WriteMode::At(4)).await.unwrap();
    up.abort().await.unwrap();
    assert_eq!(read_disk(&s, "f"), b"0123456789");
    // Committed without a byte: cut where the client asked.
    let up = s.write(&vp("/f"), WriteMode::At(4)).await.unwrap();
    up.commit().await.unwrap();
    assert_eq!(read_disk(&s, "f"), b"0123");
    // An offset into a missing file is past its end, and creates nothing.
    assert_eq!(
        s.write(&vp("/new"), WriteMode::At(5)).await.err().unwrap().kind,
        ErrorKind::InvalidOffset
    );
    assert!(!s.root_path().join("new").exists());
}
