//! Volumes: each session works beneath its user's home, confined by the kernel
//! (`openat2(RESOLVE_BENEATH)`), on both protocols — symbolic links that leave a
//! home (into another user's home, or above the anonymous root) are refused and
//! not listed, also when a directory is swapped for such a link mid-session;
//! recursive deletes, copies and moves never follow a link; `STAT path` needs
//! the read permission; abandoned upload files are swept at start-up and do not
//! keep a directory from being removed; appends claim their file alone (FTP 450,
//! HTTP 409 for a second writer); and the access log records the status sent.
//!
//! Links are placed on disk by the tests, as an administrator would: the tests
//! with links, and those with abandoned upload files, are about local disk
//! (`local_…`). Every check that something must not happen also looks at the
//! storage: nothing read, created, changed or deleted where it must not be.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use tokio::io::AsyncWriteExt;

use crate::support::dav::{Reply, call_as as http, send};
use crate::support::{
    Gateway, GatewayOptions, RawFtp, STEP, UPLOAD_TEMP_PREFIX, data_connect, hash_password, poll_until, random_bytes,
    raw_request, read_all, sha256_hex, within,
};

const ALICE: (&str, &str) = ("alice", "alice-pw");
const BOB: (&str, &str) = ("bob", "bob-pw");
/// Bob's secret: must never reach anyone else.
const SECRET: &[u8] = b"bob's secret bytes 7f3a9c";

/// An argon2 hash of `password`, made once per test process (hashing is slow).
fn hashed(password: &str) -> String {
    static CACHE: OnceLock<Mutex<HashMap<String, String>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Mutex::default);
    if let Some(h) = cache.lock().unwrap().get(password) {
        return h.clone();
    }
    let h = hash_password(password);
    cache.lock().unwrap().insert(password.to_owned(), h.clone());
    h
}

/// YAML for users `(name, password, home, permissions)`; `None`: all permissions.
fn users_yaml(users: &[(&str, &str, &str, Option<&str>)]) -> String {
    let mut yaml = String::from("users:\n");
    for (name, password, home, permissions) in users {
        let perms = permissions.map(|p| format!(", permissions: [{p}]")).unwrap_or_default();
        yaml.push_str(&format!(
            "  - {{ name: {name}, password_hash: \"{}\", home: {home}{perms} }}\n",
            hashed(password)
        ));
    }
    yaml
}

/// A gateway with alice (home /alice) and bob (home /bob), all permissions, plus
/// `extra` YAML; bob's home holds `secret.txt`.
async fn alice_and_bob(extra: &str) -> Gateway {
    let config = format!(
        "{}{extra}",
        users_yaml(&[("alice", ALICE.1, "/alice", None), ("bob", BOB.1, "/bob", None)])
    );
    let gw = Gateway::start(GatewayOptions::with_config(&config)).await;
    gw.store().put("bob/secret.txt", SECRET);
    gw
}

/// `root/link` becomes a symbolic link with the text `target`.
fn link(gw: &Gateway, target: impl AsRef<Path>, rel: &str) {
    std::os::unix::fs::symlink(target, gw.disk(rel)).unwrap_or_else(|e| panic!("symlink {rel}: {e}"));
}

/// What a directory holds on disk, links not followed: relative path → a file's
/// length and SHA-256, `dir`, or `-> target` for a link.
fn snapshot(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut pending = vec![(dir.to_path_buf(), String::new())];
    while let Some((path, rel)) = pending.pop() {
        for entry in std::fs::read_dir(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display())) {
            let entry = entry.unwrap();
            let name = format!("{rel}{}", entry.file_name().to_string_lossy());
            let kind = entry.file_type().unwrap();
            if kind.is_symlink() {
                let target = std::fs::read_link(entry.path()).unwrap();
                out.insert(name, format!("-> {}", target.display()));
            } else if kind.is_dir() {
                out.insert(format!("{name}/"), "dir".to_owned());
                pending.push((entry.path(), format!("{name}/")));
            } else {
                let data = std::fs::read(entry.path()).unwrap();
                out.insert(name, format!("{} bytes {}", data.len(), sha256_hex(&data)));
            }
        }
    }
    out
}

/// A raw control connection logged in as `who`, in binary mode.
async fn ftp_as(gw: &Gateway, (user, password): (&str, &str)) -> RawFtp {
    let mut c = gw.raw_ftp().await;
    assert_eq!(c.greeting.0, 220, "greeting: {}", c.greeting.1);
    c.login(user, password).await;
    c.expect("TYPE I", 200).await;
    c
}

/// An anonymous FTP session, in binary mode.
async fn ftp_anonymous(gw: &Gateway) -> RawFtp {
    let mut c = gw.raw_ftp().await;
    c.expect("USER anonymous", 331).await;
    c.expect("PASS guest@example.com", 230).await;
    c.expect("TYPE I", 200).await;
    c
}

/// `PASV`, the data connection, then `line` (RETR, LIST, NLST, …): the bytes
/// received and the final reply when it started (150), or the refusal.
async fn ftp_download(c: &mut RawFtp, line: &str) -> Result<Vec<u8>, (u16, String)> {
    let addr = c.pasv().await;
    let mut data = data_connect(addr).await;
    c.send(line).await;
    let (code, text) = c.reply().await;
    if code != 150 && code != 125 {
        return Err((code, text));
    }
    let bytes = read_all(&mut data, STEP).await;
    let (code, text) = c.reply().await;
    assert_eq!(code, 226, "{line:?} completion: {text:?}");
    Ok(bytes)
}

/// `PASV`, the data connection, then `line` (STOR, APPE, …); when it starts,
/// sends `content` and ends the upload. The final reply.
async fn ftp_upload(c: &mut RawFtp, line: &str, content: &[u8]) -> (u16, String) {
    ftp_upload_at(c, None, line, content).await
}

/// [`ftp_upload`], with `REST offset` right before `line` when given (after
/// `PASV`: the restart point belongs to the next command).
async fn ftp_upload_at(c: &mut RawFtp, rest: Option<u64>, line: &str, content: &[u8]) -> (u16, String) {
    let addr = c.pasv().await;
    let mut data = data_connect(addr).await;
    if let Some(offset) = rest {
        c.expect(&format!("REST {offset}"), 350).await;
    }
    c.send(line).await;
    let (code, text) = c.reply().await;
    if code != 150 && code != 125 {
        return (code, text);
    }
    within("sending an upload", STEP, data.write_all(content))
        .await
        .unwrap();
    within("ending an upload", STEP, data.shutdown()).await.unwrap();
    drop(data);
    c.reply().await
}

/// The names of an `NLST` (one per line).
fn names_of(listing: &[u8]) -> Vec<String> {
    let mut names: Vec<String> = String::from_utf8_lossy(listing)
        .lines()
        .map(|l| l.trim().trim_start_matches("./").trim_start_matches('/').to_owned())
        .filter(|l| !l.is_empty())
        .collect();
    names.sort();
    names
}

/// Asserts that a download was refused (never 200, never bob's bytes).
fn assert_refused_read(r: &Reply, what: &str) {
    assert!(
        r.status == 403 || r.status == 404,
        "{what}: {} {:?}",
        r.status,
        r.text()
    );
    assert!(
        !r.body.windows(SECRET.len()).any(|w| w == SECRET),
        "{what}: bob's bytes in the body"
    );
}

// ---------------------------------------------------------------------------
// 1. Symlinks across homes
// ---------------------------------------------------------------------------

#[tokio::test]
async fn local_links_out_of_a_home_are_refused_and_not_listed() {
    let gw = alice_and_bob("anonymous: { enabled: true, home: /pub }\n").await;
    let abs_root = gw.root().canonicalize().unwrap();
    gw.store().put("alice/a.txt", b"alice's own");
    gw.store().put("alice/sub/f.txt", b"inside alice");
    gw.store().put("pub/p.txt", b"public");
    link(&gw, "../bob", "alice/bobdir");
    link(&gw, abs_root.join("bob"), "alice/bobabs");
    link(&gw, "../bob/secret.txt", "alice/bobfile");
    link(&gw, "sub", "alice/inner");
    link(&gw, "..", "pub/up");
    let bob_before = snapshot(&gw.disk("bob"));
    let alice_before = snapshot(&gw.disk("alice"));

    // HTTP as alice: nothing of bob's can be read, written, listed or deleted.
    for path in [
        "/bobdir/secret.txt",
        "/bobabs/secret.txt",
        "/bobfile",
        "/bobdir/",
        "/bobabs/",
    ] {
        let r = http(&gw, Some(ALICE), "GET", path, &[], None).await;
        assert_refused_read(&r, &format!("alice GET {path}"));
    }
    for (method, path) in [
        ("PUT", "/bobdir/x"),
        ("PUT", "/bobabs/x"),
        ("DELETE", "/bobdir/secret.txt"),
        ("DELETE", "/bobabs/secret.txt"),
        ("MKCOL", "/bobdir/newdir"),
    ] {
        let body = (method == "PUT").then(|| b"written by alice".to_vec());
        let r = http(&gw, Some(ALICE), method, path, &[], body).await;
        assert!(
            !(200..300).contains(&r.status),
            "alice {method} {path}: {} {:?}",
            r.status,
            r.text()
        );
    }
    let r = http(&gw, Some(ALICE), "PROPFIND", "/bobdir/", &[("Depth", "1")], None).await;
    assert!(
        r.status == 403 || r.status == 404,
        "alice PROPFIND /bobdir/: {} {}",
        r.status,
        r.text()
    );
    assert!(!r.text().contains("secret"), "PROPFIND through a link named bob's file");

    // Alice's listings do not show the escaping links, but do show her own.
    let r = http(&gw, Some(ALICE), "GET", "/", &[("Accept", "application/json")], None).await;
    assert_eq!(r.status, 200, "alice's JSON listing: {}", r.text());
    let listing: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    let mut http_names: Vec<&str> = listing
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    http_names.sort_unstable();
    assert_eq!(http_names, ["a.txt", "inner", "sub"], "alice's HTTP listing");
    let r = http(&gw, Some(ALICE), "PROPFIND", "/", &[("Depth", "1")], None).await;
    let mut dav_paths: Vec<String> = r.multistatus("alice PROPFIND /").iter().map(|d| d.path()).collect();
    dav_paths.sort();
    let dav_paths: Vec<&str> = dav_paths.iter().map(|p| p.trim_end_matches('/')).collect();
    assert_eq!(dav_paths, ["", "/a.txt", "/inner", "/sub"], "alice's PROPFIND");

    // FTP as alice: the same refusals.
    let mut c = ftp_as(&gw, ALICE).await;
    for path in ["bobdir/secret.txt", "bobabs/secret.txt", "bobfile"] {
        match ftp_download(&mut c, &format!("RETR {path}")).await {
            Err((code, _)) => assert_eq!(code, 550, "RETR {path}"),
            Ok(bytes) => panic!("RETR {path} sent {} bytes", bytes.len()),
        }
    }
    for path in ["bobdir/y", "bobabs/y"] {
        let (code, text) = ftp_upload(&mut c, &format!("STOR {path}"), b"written by alice").await;
        assert!(code == 550 || code == 553, "STOR {path}: {text:?}");
    }
    // Writes that build on a file never follow a link to bob's file.
    for path in ["bobfile", "bobdir/secret.txt", "bobabs/secret.txt"] {
        let (code, text) = ftp_upload(&mut c, &format!("APPE {path}"), b"appended by alice").await;
        assert_eq!(code, 550, "APPE {path}: {text:?}");
        let (code, text) = ftp_upload_at(&mut c, Some(3), &format!("STOR {path}"), b"resumed by alice").await;
        assert_eq!(
            code,
            550,
            "REST 3 + STOR {path}: {text:?}; bob's secret now {:?}, alice/bobfile now {:?}",
            String::from_utf8_lossy(&std::fs::read(gw.disk("bob/secret.txt")).unwrap()),
            std::fs::symlink_metadata(gw.disk("alice/bobfile")).map(|m| (m.file_type(), m.len()))
        );
    }
    for line in [
        "CWD bobdir",
        "CWD bobabs",
        "SIZE bobdir/secret.txt",
        "MDTM bobabs/secret.txt",
        "DELE bobdir/secret.txt",
        "MKD bobdir/newdir",
        "RNFR bobdir/secret.txt",
    ] {
        c.expect(line, 550).await;
    }
    let (code, text) = c.cmd("STAT bobdir").await;
    assert_eq!(code, 550, "STAT bobdir: {text:?}");
    for line in ["NLST", "LIST"] {
        let listing = ftp_download(&mut c, line)
            .await
            .unwrap_or_else(|e| panic!("{line}: {e:?}"));
        let text = String::from_utf8_lossy(&listing);
        assert!(
            !text.contains("bobdir") && !text.contains("bobabs") && !text.contains("bobfile"),
            "{line} shows a link out of the home: {text:?}"
        );
        assert!(text.contains("inner") && text.contains("a.txt"), "{line}: {text:?}");
    }
    let listing = ftp_download(&mut c, "NLST").await.unwrap();
    assert_eq!(names_of(&listing), ["a.txt", "inner", "sub"], "alice's NLST");
    let nlst = ftp_download(&mut c, "NLST bobdir").await;
    assert!(matches!(nlst, Err((450 | 550, _))), "NLST bobdir: {nlst:?}");

    // A link inside her own home works on both protocols.
    assert_eq!(ftp_download(&mut c, "RETR inner/f.txt").await.unwrap(), b"inside alice");
    c.expect("CWD inner", 250).await;
    c.expect("CWD /", 250).await;
    let r = http(&gw, Some(ALICE), "GET", "/inner/f.txt", &[], None).await;
    assert_eq!((r.status, r.body.as_slice()), (200, &b"inside alice"[..]));

    // Anonymous (home /pub) cannot climb out through `up -> ..`.
    for path in ["/up/alice/a.txt", "/up/bob/secret.txt", "/up/", "/up/alice/"] {
        let r = http(&gw, None, "GET", path, &[], None).await;
        assert_refused_read(&r, &format!("anonymous GET {path}"));
        assert!(!r.text().contains("alice's own"), "anonymous GET {path}: {}", r.text());
    }
    let r = http(&gw, None, "GET", "/p.txt", &[], None).await;
    assert_eq!(r.status, 200, "anonymous GET /p.txt");
    let mut anon = ftp_anonymous(&gw).await;
    for path in ["up/alice/a.txt", "up/bob/secret.txt"] {
        match ftp_download(&mut anon, &format!("RETR {path}")).await {
            Err((code, _)) => assert_eq!(code, 550, "anonymous RETR {path}"),
            Ok(bytes) => panic!("anonymous RETR {path} sent {} bytes", bytes.len()),
        }
    }
    anon.expect("CWD up", 550).await;
    anon.expect("SIZE up/alice/a.txt", 550).await;
    let listing = ftp_download(&mut anon, "NLST").await.unwrap();
    assert_eq!(names_of(&listing), ["p.txt"], "anonymous NLST");

    // Nothing changed anywhere.
    assert_eq!(snapshot(&gw.disk("bob")), bob_before, "bob's home changed");
    assert_eq!(snapshot(&gw.disk("alice")), alice_before, "alice's home changed");

    // A whole-file replace of the name `bobfile` replaces the link in alice's
    // home (rename(2) over it), or is refused; bob's file is never written.
    let r = http(&gw, Some(ALICE), "PUT", "/bobfile", &[], Some(b"put by alice".to_vec())).await;
    let (code, text) = ftp_upload(&mut c, "STOR bobfile", b"stored by alice").await;
    assert_eq!(
        snapshot(&gw.disk("bob")),
        bob_before,
        "a replace of bobfile wrote bob's file"
    );
    let bobfile = std::fs::symlink_metadata(gw.disk("alice/bobfile")).unwrap();
    if (200..300).contains(&r.status) || code == 226 {
        assert!(bobfile.is_file(), "bobfile replaced, yet not a plain file: {bobfile:?}");
    }
    if code == 226 {
        assert_eq!(std::fs::read(gw.disk("alice/bobfile")).unwrap(), b"stored by alice");
    } else {
        assert_eq!(code, 550, "STOR bobfile: {text:?}");
    }
}

// ---------------------------------------------------------------------------
// 2. A directory swapped for a link mid-session
// ---------------------------------------------------------------------------

#[tokio::test]
async fn local_a_working_directory_swapped_for_a_link_is_refused() {
    let gw = alice_and_bob("").await;
    gw.store().put("alice/sub/mine.txt", b"alice's");
    let mut c = ftp_as(&gw, ALICE).await;
    c.expect("CWD sub", 250).await;
    assert_eq!(ftp_download(&mut c, "RETR mine.txt").await.unwrap(), b"alice's");

    // The administrator (or a race) swaps the directory for a link into bob's home.
    std::fs::rename(gw.disk("alice/sub"), gw.disk("alice/sub.old")).unwrap();
    link(&gw, "../bob", "alice/sub");
    let bob_before = snapshot(&gw.disk("bob"));

    let (code, text) = ftp_upload(&mut c, "STOR x.txt", b"through the swapped cwd").await;
    assert_eq!(code, 550, "STOR x.txt in the swapped cwd: {text:?}");
    let (code, text) = ftp_upload(&mut c, "APPE secret.txt", b"appended").await;
    assert_eq!(code, 550, "APPE secret.txt in the swapped cwd: {text:?}");
    match ftp_download(&mut c, "RETR secret.txt").await {
        Err((code, text)) => assert_eq!(code, 550, "RETR secret.txt: {text:?}"),
        Ok(bytes) => panic!("RETR through the swapped cwd sent {} bytes", bytes.len()),
    }
    c.expect("SIZE secret.txt", 550).await;
    c.expect("DELE secret.txt", 550).await;
    let nlst = ftp_download(&mut c, "NLST").await;
    assert!(matches!(nlst, Err((450 | 550, _))), "NLST of the swapped cwd: {nlst:?}");
    let r = http(&gw, Some(ALICE), "GET", "/sub/secret.txt", &[], None).await;
    assert_refused_read(&r, "alice GET /sub/secret.txt after the swap");

    assert_eq!(snapshot(&gw.disk("bob")), bob_before, "bob's home changed");
    assert!(!gw.disk("bob/x.txt").exists());
    assert_eq!(std::fs::read(gw.disk("alice/sub.old/mine.txt")).unwrap(), b"alice's");
    gw.store().assert_no_pending_uploads();
    c.expect("NOOP", 200).await;
}

// ---------------------------------------------------------------------------
// 3. Recursive DELETE, COPY, MOVE and RMD over links
// ---------------------------------------------------------------------------

/// Alice's `victim/`: two files and a subdirectory.
fn make_victim(gw: &Gateway, name: &str) -> BTreeMap<String, String> {
    gw.store().put(&format!("alice/{name}/v1.txt"), b"victim one");
    gw.store()
        .put(&format!("alice/{name}/deep/v2.bin"), random_bytes(5_000));
    snapshot(&gw.disk(&format!("alice/{name}")))
}

#[tokio::test]
async fn local_recursive_deletes_never_follow_links() {
    let gw = alice_and_bob("").await;
    let abs_root = gw.root().canonicalize().unwrap();
    let victim = make_victim(&gw, "victim");
    let bob_before = snapshot(&gw.disk("bob"));

    // t1: a link to a sibling directory of the home, one out to bob (relative and
    // absolute), and a link to a file, next to real content.
    gw.store().put("alice/t1/own.txt", b"own");
    gw.store().put("alice/t1/nested/n.txt", b"nested");
    link(&gw, "../victim", "alice/t1/lnk");
    link(&gw, "../../victim/v1.txt", "alice/t1/nested/filelnk");
    link(&gw, "../../bob", "alice/t1/tobob");
    link(&gw, abs_root.join("bob"), "alice/t1/tobobabs");
    let r = http(&gw, Some(ALICE), "DELETE", "/t1/", &[], None).await;
    assert_eq!(r.status, 204, "DELETE /t1/: {}", r.text());
    assert!(
        std::fs::symlink_metadata(gw.disk("alice/t1")).is_err(),
        "t1 is still there"
    );
    assert_eq!(
        snapshot(&gw.disk("alice/victim")),
        victim,
        "DELETE followed a link into victim"
    );
    assert_eq!(
        snapshot(&gw.disk("bob")),
        bob_before,
        "DELETE followed a link into bob's home"
    );

    // deltest/up -> .. (the home itself): only deltest goes.
    gw.store().put("alice/keep.txt", b"keep me");
    gw.store().put("alice/deltest/x.txt", b"x");
    link(&gw, "..", "alice/deltest/up");
    let mut before = snapshot(&gw.disk("alice"));
    let r = http(&gw, Some(ALICE), "DELETE", "/deltest/", &[], None).await;
    assert!(
        (200..300).contains(&r.status),
        "DELETE /deltest/: {} {}",
        r.status,
        r.text()
    );
    before.retain(|k, _| !k.starts_with("deltest"));
    assert_eq!(
        snapshot(&gw.disk("alice")),
        before,
        "DELETE /deltest/ reached other files"
    );
    assert_eq!(snapshot(&gw.disk("bob")), bob_before);

    // FTP RMD of a directory holding only a link: not empty, nothing followed.
    std::fs::create_dir(gw.disk("alice/onlylink")).unwrap();
    link(&gw, "../victim", "alice/onlylink/l");
    let mut c = ftp_as(&gw, ALICE).await;
    c.expect("RMD onlylink", 550).await;
    assert_eq!(
        std::fs::read_link(gw.disk("alice/onlylink/l")).unwrap(),
        Path::new("../victim")
    );
    assert_eq!(snapshot(&gw.disk("alice/victim")), victim, "RMD followed a link");
    // A link to a directory named by RMD is not a directory to remove.
    link(&gw, "victim", "alice/vlink");
    let (code, text) = c.cmd("RMD vlink").await;
    assert_eq!(code, 550, "RMD of a link to a directory: {text:?}");
    assert_eq!(snapshot(&gw.disk("alice/victim")), victim, "RMD vlink changed victim");
}

#[tokio::test]
async fn local_copy_and_move_replace_a_link_and_never_write_through_it() {
    let gw = alice_and_bob("").await;
    let victim = make_victim(&gw, "victim");
    gw.store().put("alice/src/a.txt", b"source a");
    gw.store().put("alice/src/sub/b.txt", b"source b");
    link(&gw, "../victim", "alice/src/lnk");
    let source = snapshot(&gw.disk("alice/src"));
    let to = |path: &str| gw.url(path);

    // COPY onto dst -> victim: the link is replaced by the copy, victim untouched.
    link(&gw, "victim", "alice/dst");
    let r = http(
        &gw,
        Some(ALICE),
        "COPY",
        "/src/",
        &[("Destination", &to("/dst/")), ("Overwrite", "T")],
        None,
    )
    .await;
    assert!(
        (200..300).contains(&r.status),
        "COPY /src/ onto the link: {} {}",
        r.status,
        r.text()
    );
    let meta = std::fs::symlink_metadata(gw.disk("alice/dst")).unwrap();
    assert!(
        meta.is_dir() && !meta.file_type().is_symlink(),
        "dst is not a real directory"
    );
    assert_eq!(snapshot(&gw.disk("alice/dst")), source, "the copy");
    assert_eq!(
        std::fs::read_link(gw.disk("alice/dst/lnk")).unwrap(),
        Path::new("../victim"),
        "a link in the tree is copied as a link"
    );
    assert_eq!(
        snapshot(&gw.disk("alice/victim")),
        victim,
        "COPY wrote through the link"
    );
    assert_eq!(snapshot(&gw.disk("alice/src")), source, "COPY changed its source");

    // A file copied onto a link to a directory: the link goes, victim stays.
    gw.store().put("alice/one.txt", b"one file");
    link(&gw, "victim", "alice/dst2");
    let r = http(
        &gw,
        Some(ALICE),
        "COPY",
        "/one.txt",
        &[("Destination", &to("/dst2")), ("Overwrite", "T")],
        None,
    )
    .await;
    assert!(
        (200..300).contains(&r.status),
        "COPY a file onto the link: {} {}",
        r.status,
        r.text()
    );
    let meta = std::fs::symlink_metadata(gw.disk("alice/dst2")).unwrap();
    assert!(meta.is_file(), "dst2 is not a plain file: {meta:?}");
    assert_eq!(std::fs::read(gw.disk("alice/dst2")).unwrap(), b"one file");
    assert_eq!(
        snapshot(&gw.disk("alice/victim")),
        victim,
        "COPY of a file wrote through the link"
    );

    // MOVE onto mdst -> victim: the link is replaced by the moved tree.
    link(&gw, "victim", "alice/mdst");
    let r = http(
        &gw,
        Some(ALICE),
        "MOVE",
        "/src/",
        &[("Destination", &to("/mdst/")), ("Overwrite", "T")],
        None,
    )
    .await;
    assert!(
        (200..300).contains(&r.status),
        "MOVE /src/ onto the link: {} {}",
        r.status,
        r.text()
    );
    assert!(
        std::fs::symlink_metadata(gw.disk("alice/src")).is_err(),
        "MOVE left its source"
    );
    let meta = std::fs::symlink_metadata(gw.disk("alice/mdst")).unwrap();
    assert!(
        meta.is_dir() && !meta.file_type().is_symlink(),
        "mdst is not a real directory"
    );
    assert_eq!(snapshot(&gw.disk("alice/mdst")), source, "the moved tree");
    assert_eq!(
        snapshot(&gw.disk("alice/victim")),
        victim,
        "MOVE wrote through the link"
    );
}

// ---------------------------------------------------------------------------
// 4. STAT path needs the read permission
// ---------------------------------------------------------------------------

#[tokio::test]
async fn stat_of_a_path_needs_the_read_permission() {
    let config = users_yaml(&[
        ("writer", "writer-pw", "/w", Some("write")),
        ("reader", "reader-pw", "/w", Some("read")),
    ]);
    let gw = Gateway::start(GatewayOptions::with_config(&config)).await;
    gw.store().put("w/dir/listed-name.txt", b"hidden from the writer");
    gw.store().put("w/file.txt", b"file");

    let mut w = ftp_as(&gw, ("writer", "writer-pw")).await;
    for line in ["STAT dir", "STAT file.txt", "STAT /", "STAT dir/listed-name.txt"] {
        let (code, text) = w.cmd(line).await;
        assert_eq!(code, 550, "writer {line}: {text:?}");
        assert!(!text.contains("listed-name"), "writer {line} listed: {text:?}");
    }
    for line in ["NLST", "NLST dir", "LIST dir", "MLSD dir"] {
        let r = ftp_download(&mut w, line).await;
        assert!(matches!(r, Err((550, _))), "writer {line}: {r:?}");
    }
    // The writer can still write.
    let (code, text) = ftp_upload(&mut w, "STOR dir/new.txt", b"new").await;
    assert_eq!(code, 226, "writer STOR: {text:?}");
    assert_eq!(gw.store().read("w/dir/new.txt"), b"new");
    // Nor over HTTP: no listing, no properties.
    for (method, path, headers) in [
        ("GET", "/dir/", vec![]),
        ("PROPFIND", "/dir/", vec![("Depth", "1")]),
        ("GET", "/file.txt", vec![]),
    ] {
        let r = http(&gw, Some(("writer", "writer-pw")), method, path, &headers, None).await;
        assert_eq!(r.status, 403, "writer {method} {path}: {}", r.text());
        assert!(!r.text().contains("listed-name"));
    }

    let mut r = ftp_as(&gw, ("reader", "reader-pw")).await;
    let text = r.expect("STAT dir", 213).await;
    assert!(
        text.contains("listed-name.txt") && text.contains("new.txt"),
        "reader STAT dir: {text:?}"
    );
    let text = r.expect("STAT file.txt", 213).await;
    assert!(text.contains("file.txt"), "reader STAT file.txt: {text:?}");
    let listing = ftp_download(&mut r, "NLST dir").await.unwrap();
    // Bare names or paths, whichever the server sends: compared by name.
    let names: Vec<String> = names_of(&listing)
        .iter()
        .map(|n| n.rsplit('/').next().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["listed-name.txt", "new.txt"], "reader NLST dir");
}

// ---------------------------------------------------------------------------
// 5. Abandoned upload files
// ---------------------------------------------------------------------------

/// The name of an upload's temporary file, as the server makes them.
const TEMP_NAME: &str = ".dualgate-upload-0123456789abcdef";

/// Sets the modification time of `path` to `ago` in the past.
fn age(path: &Path, ago: Duration) {
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_modified(SystemTime::now() - ago).unwrap();
}

/// Writes a temporary upload file `dir/TEMP_NAME` under the root, `ago` old.
fn temp_file(root: &Path, dir: &str, ago: Duration) -> PathBuf {
    assert!(TEMP_NAME.starts_with(UPLOAD_TEMP_PREFIX));
    let path = root.join(dir).join(TEMP_NAME);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, b"part of an upload").unwrap();
    age(&path, ago);
    path
}

const HOUR: Duration = Duration::from_secs(3600);
const MINUTE: Duration = Duration::from_secs(60);

#[tokio::test]
async fn local_abandoned_uploads_do_not_keep_a_directory_alive() {
    // storage.stale_uploads_after is 1 h by default.
    let gw = Gateway::start_default().await;
    let stale = temp_file(gw.root(), "stale", 2 * HOUR);
    let fresh = temp_file(gw.root(), "fresh", Duration::ZERO);
    let younger = temp_file(gw.root(), "younger", 30 * MINUTE);
    let mixed = temp_file(gw.root(), "mixed", 2 * HOUR);
    gw.store().put("mixed/real.txt", b"real");
    let hstale = temp_file(gw.root(), "hstale", 2 * HOUR);
    let mut c = gw.raw_login().await;

    // Only a stale upload in it: the directory counts as empty.
    c.expect("RMD stale", 250).await;
    assert!(!stale.exists() && !gw.disk("stale").exists(), "RMD left the directory");

    // A fresh (or merely younger than 1 h) upload belongs to someone: not empty.
    for (dir, file) in [("fresh", &fresh), ("younger", &younger)] {
        let (code, text) = c.cmd(&format!("RMD {dir}")).await;
        assert_eq!(code, 550, "RMD {dir}: {text:?}");
        assert!(file.exists(), "RMD {dir} removed a live upload");
    }
    // A stale upload next to a real file: not empty, and nothing removed.
    c.expect("RMD mixed", 550).await;
    assert!(
        mixed.exists() && gw.disk("mixed/real.txt").exists(),
        "RMD mixed removed something"
    );

    // HTTP DELETE of a directory holding a stale upload.
    let r = send(gw.dav("DELETE", "/hstale/")).await;
    assert!(
        (200..300).contains(&r.status),
        "DELETE /hstale/: {} {}",
        r.status,
        r.text()
    );
    assert!(!hstale.exists() && !gw.disk("hstale").exists());

    // The temporary files stay invisible.
    let listing = ftp_download(&mut c, "NLST").await.unwrap();
    assert_eq!(names_of(&listing), ["fresh", "mixed", "younger"]);
    let listing = ftp_download(&mut c, "NLST fresh").await.unwrap();
    assert_eq!(names_of(&listing), Vec::<String>::new(), "NLST fresh");
}

#[tokio::test]
async fn local_abandoned_uploads_are_swept_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    let outside = dir.path().join("outside");
    // 10 minutes instead of the default hour: kept when --root names the root.
    let stale = [
        temp_file(&root, "a", 30 * MINUTE),
        temp_file(&root, "a/b/c", 2 * HOUR),
        temp_file(&root, ".", 11 * MINUTE),
    ];
    let live = [
        temp_file(&root, "d", Duration::ZERO),
        temp_file(&root, "d/e", 5 * MINUTE),
    ];
    // Behind a link out of the root: never visited.
    let beyond = temp_file(&outside, "x", 2 * HOUR);
    std::os::unix::fs::symlink(&outside, root.join("out")).unwrap();
    std::fs::write(root.join("a/b/c/kept.txt"), b"an ordinary file").unwrap();
    let ordinary_old = root.join("a/old.txt");
    std::fs::write(&ordinary_old, b"old, but not an upload").unwrap();
    age(&ordinary_old, 5 * HOUR);

    let gw = Gateway::start(GatewayOptions {
        config: Some("storage: { kind: local, root: /nonexistent/overridden, stale_uploads_after: 10m }\nlimits: { data_timeout: 1m }\n".to_owned()),
        log_level: Some("info"),
        root: Some(root.clone()),
        ..GatewayOptions::default()
    })
    .await;
    poll_until("the stale uploads removed", STEP, || {
        let gone = stale.iter().all(|p| !p.exists());
        async move { gone }
    })
    .await;
    gw.wait_for_log("removed abandoned uploads").await;
    let log = gw.log();
    let line = log.lines().find(|l| l.contains("removed abandoned uploads")).unwrap();
    assert!(line.contains("removed=3"), "the sweep's log line: {line:?}");
    for path in &live {
        assert!(path.exists(), "a live upload was swept: {}", path.display());
    }
    assert!(beyond.exists(), "the sweep followed a link out of the root");
    assert!(root.join("out").symlink_metadata().unwrap().file_type().is_symlink());
    assert_eq!(std::fs::read(root.join("a/b/c/kept.txt")).unwrap(), b"an ordinary file");
    assert!(ordinary_old.exists(), "the sweep removed an ordinary old file");
    assert!(root.join("a/b/c").is_dir(), "the sweep removed a directory");
    drop(gw);
    drop(dir);
}

// ---------------------------------------------------------------------------
// 6. One appender at a time
// ---------------------------------------------------------------------------

#[tokio::test]
async fn appends_claim_their_file_and_replaces_share() {
    let gw = Gateway::start_default().await;
    let original = b"original|".to_vec();
    gw.store().put("f.txt", &original);
    let a_bytes = random_bytes(64 * 1024);
    let b_bytes = random_bytes(48 * 1024);

    // A appends and keeps its data connection open.
    let mut a = gw.raw_login().await;
    let mut a_data = a.start_transfer("APPE f.txt").await;
    within("A's first half", STEP, a_data.write_all(&a_bytes[..32 * 1024]))
        .await
        .unwrap();

    // B is refused at once, whatever it tries on that file.
    let mut b = gw.raw_login().await;
    let started = Instant::now();
    let (code, text) = ftp_upload(&mut b, "APPE f.txt", &b_bytes).await;
    assert_eq!(code, 450, "a second APPE: {text:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "refused after {:?}",
        started.elapsed()
    );
    let (code, text) = ftp_upload(&mut b, "STOR f.txt", b"replacement").await;
    assert_eq!(code, 450, "STOR during an APPE: {text:?}");
    let (code, text) = ftp_upload_at(&mut b, Some(3), "STOR f.txt", b"resumed").await;
    assert_eq!(code, 450, "REST + STOR during an APPE: {text:?}");
    assert_eq!(
        gw.put("/f.txt", b"put over it".to_vec()).await,
        409,
        "PUT during an APPE"
    );
    // Other files are not held.
    let (code, text) = ftp_upload(&mut b, "APPE other.txt", b"other").await;
    assert_eq!(code, 226, "APPE of another file: {text:?}");

    // A finishes; then B's append goes through, after A's bytes.
    within("A's second half", STEP, a_data.write_all(&a_bytes[32 * 1024..]))
        .await
        .unwrap();
    within("closing A's upload", STEP, a_data.shutdown()).await.unwrap();
    drop(a_data);
    let (code, text) = a.reply().await;
    assert_eq!(code, 226, "A's APPE: {text:?}");
    let (code, text) = ftp_upload(&mut b, "APPE f.txt", &b_bytes).await;
    assert_eq!(code, 226, "B's APPE after A: {text:?}");
    let expected = [original.as_slice(), &a_bytes, &b_bytes].concat();
    let got = gw.store().read("f.txt");
    assert_eq!(
        (got.len(), sha256_hex(&got)),
        (expected.len(), sha256_hex(&expected)),
        "f.txt is not original + A + B"
    );
    assert_eq!(gw.store().read("other.txt"), b"other");

    // A resumed upload (REST + STOR) holds its file alone too.
    let mut r = gw.raw_login().await;
    let addr = r.pasv().await;
    let mut r_data = data_connect(addr).await;
    r.expect("REST 9", 350).await;
    r.expect("STOR f.txt", 150).await;
    within("the resumed upload", STEP, r_data.write_all(b"resumed|"))
        .await
        .unwrap();
    let (code, text) = ftp_upload(&mut b, "APPE f.txt", b"late").await;
    assert_eq!(code, 450, "APPE during a resumed upload: {text:?}");
    assert_eq!(
        gw.put("/f.txt", b"put".to_vec()).await,
        409,
        "PUT during a resumed upload"
    );
    within("ending the resumed upload", STEP, r_data.shutdown())
        .await
        .unwrap();
    drop(r_data);
    assert_eq!(r.reply().await.0, 226, "the resumed upload");
    assert_eq!(gw.store().read("f.txt"), b"original|resumed|");
}

#[tokio::test]
async fn whole_file_replaces_run_together_and_last_complete_wins() {
    let gw = Gateway::start_default().await;
    gw.store().put("g.txt", b"old");
    let one = random_bytes(100_000);
    let two = random_bytes(90_000);

    let mut s1 = gw.raw_login().await;
    let mut d1 = s1.start_transfer("STOR g.txt").await;
    within("first upload", STEP, d1.write_all(&one)).await.unwrap();
    let mut s2 = gw.raw_login().await;
    let mut d2 = s2.start_transfer("STOR g.txt").await;
    within("second upload", STEP, d2.write_all(&two)).await.unwrap();

    // A replace does not share with an append, but does with another replace.
    let mut s3 = gw.raw_login().await;
    let (code, text) = ftp_upload(&mut s3, "APPE g.txt", b"append").await;
    assert_eq!(code, 450, "APPE during two STORs: {text:?}");
    let put = gw.put("/g.txt", b"put in between".to_vec()).await;
    assert!(put == 201 || put == 204, "PUT during two STORs: {put}");
    assert_eq!(gw.store().read("g.txt"), b"put in between");

    for (c, mut d, what) in [(&mut s1, d1, "first"), (&mut s2, d2, "second")] {
        within("ending an upload", STEP, d.shutdown()).await.unwrap();
        drop(d);
        let (code, text) = c.reply().await;
        assert_eq!(code, 226, "the {what} STOR: {text:?}");
    }
    let got = gw.store().read("g.txt");
    assert_eq!(
        sha256_hex(&got),
        sha256_hex(&two),
        "g.txt is not the last complete upload"
    );
    gw.store().assert_no_pending_uploads();
    // Free again for an append.
    let (code, text) = ftp_upload(&mut s3, "APPE g.txt", b"+tail").await;
    assert_eq!(code, 226, "APPE after the STORs: {text:?}");
    assert_eq!(gw.store().read("g.txt"), [two.as_slice(), b"+tail"].concat());
}

// ---------------------------------------------------------------------------
// 7. The status logged is the status sent
// ---------------------------------------------------------------------------

/// The value of `key=` in a text log line (quotes removed).
fn field<'l>(line: &'l str, key: &str) -> Option<&'l str> {
    let pattern = format!(" {key}=");
    let start = line.find(&pattern)? + pattern.len();
    let rest = &line[start..];
    let value = if let Some(quoted) = rest.strip_prefix('"') {
        &quoted[..quoted.find('"')?]
    } else {
        rest.split_whitespace().next()?
    };
    Some(value)
}

/// The access-log line of the request `verb path`, waited for (at most [`STEP`]).
async fn access_line(gw: &Gateway, verb: &str, path: &str) -> String {
    let find = || {
        gw.log()
            .lines()
            .filter(|l| l.contains("dualgate::access"))
            .find(|l| field(l, "verb") == Some(verb) && field(l, "path") == Some(path))
            .map(str::to_owned)
    };
    poll_until(&format!("the access-log line of {verb} {path}"), STEP, || {
        let found = find().is_some();
        async move { found }
    })
    .await;
    find().unwrap()
}

#[tokio::test]
async fn the_access_log_records_the_status_sent() {
    let gw = Gateway::start(GatewayOptions {
        config: Some("http: { max_header_bytes: 2048 }\n".to_owned()),
        log_level: Some("warn,dualgate::access=info"),
        ..GatewayOptions::default()
    })
    .await;
    let data = random_bytes(1000);
    gw.store().put("r.bin", &data);
    gw.store().put("p.bin", b"props");
    gw.store().put("dir/x.txt", b"x");

    let r = send(gw.dav("GET", "/r.bin").header("Range", "bytes=10-19")).await;
    assert_eq!(r.status, 206);
    assert_eq!(r.body, &data[10..20]);
    let r = send(gw.dav("OPTIONS", "/p.bin")).await;
    assert_eq!(r.status, 204, "OPTIONS");
    let r = send(gw.dav("PROPFIND", "/p.bin").header("Depth", "0")).await;
    assert_eq!(r.status, 207, "PROPFIND: {}", r.text());
    let r = send(gw.dav("GET", "/dir")).await;
    assert_eq!(r.status, 301, "GET /dir");
    assert_eq!(r.header("location"), Some("/dir/"));
    // A head over 2 KiB (below hyper's own 8 KiB buffer): 431, and the server
    // closes the connection (raw_request reads to the end, each read bounded).
    let filler = "a".repeat(4096);
    let request = format!(
        "GET /r.bin HTTP/1.1\r\nHost: {}\r\nAuthorization: {}\r\nX-Filler: {filler}\r\n\r\n",
        gw.http_addr,
        gw.basic_auth()
    );
    let big = raw_request(gw.http_addr, request.as_bytes()).await;
    assert_eq!(big.status, 431, "{}", big.text());
    // A plain GET for comparison.
    let r = send(gw.dav("GET", "/dir/x.txt")).await;
    assert_eq!(r.status, 200);

    for (verb, path, code) in [
        ("OPTIONS", "/p.bin", "204"),
        ("PROPFIND", "/p.bin", "207"),
        ("GET", "/dir", "301"),
        ("GET", "/dir/x.txt", "200"),
    ] {
        let line = access_line(&gw, verb, path).await;
        assert_eq!(field(&line, "code"), Some(code), "{verb} {path}: {line}");
    }
    let line = access_line(&gw, "GET", "/r.bin").await;
    assert_eq!(field(&line, "code"), Some("206"), "the range GET: {line}");
    // The over-large head is refused before its path and credentials are read:
    // its line carries the verb and the status, and it is the only 431.
    let log = gw.log();
    let refused: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("dualgate::access") && field(l, "code") == Some("431"))
        .collect();
    assert_eq!(refused.len(), 1, "431 lines in the access log:\n{log}");
    assert_eq!(field(refused[0], "verb"), Some("GET"), "{}", refused[0]);
    let codes: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("dualgate::access"))
        .filter_map(|l| field(l, "code"))
        .collect();
    assert_eq!(codes.len(), 6, "one access-log line per request:\n{log}");
}

/// `STAT` without a path describes the session (RFC 959: 211), not a resource,
/// and needs no permission; during a transfer it reports the progress.
#[tokio::test]
async fn a_bare_stat_needs_no_read_permission() {
    let config = users_yaml(&[("writer", "writer-pw", "/w", Some("write"))]);
    let gw = Gateway::start(GatewayOptions::with_config(&config)).await;
    gw.store().put("w/dir/listed-name.txt", b"hidden from the writer");
    let mut w = ftp_as(&gw, ("writer", "writer-pw")).await;
    let (code, text) = w.cmd("STAT").await;
    assert_eq!(code, 211, "a write-only user's bare STAT: {text:?}");
    assert!(!text.contains("listed-name"), "{text:?}");
}
