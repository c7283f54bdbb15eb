//! A legacy upstream FTP server whose names are ISO-8859-1 bytes
//! (`storage.encoding: latin1`), end to end: FTP clients (UTF-8 on dualgate's
//! side) and HTTP/WebDAV clients list, download, upload, rename and delete
//! accented names, and the upstream's disk holds them as Latin-1 bytes. A name
//! Latin-1 cannot spell (`€`) is refused on both protocols, and nothing of it
//! reaches the server.
//!
//! The names are made and checked on the server's disk (the fragment's
//! `# upstream_dir:`), never through FTP. On other storage there is nothing to
//! check: the test says so and returns. `tests/backends/run.sh` runs it on
//! vsftpd and Pure-FTPd (neither converts names: both store the bytes they get).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::dav::send;
use crate::support::{
    Gateway, GatewayOptions, RawFtp, STEP, data_connect, ftp_get, ftp_put, read_all, upstream_server, within,
};

/// `dir`/`name` with `name` as raw bytes (Latin-1 on the server's disk).
fn on_disk(dir: &Path, name: &[u8]) -> PathBuf {
    dir.join(OsStr::from_bytes(name))
}

/// The names in `dir` on the server's disk, as bytes, sorted.
fn disk_names(dir: &Path) -> Vec<Vec<u8>> {
    let mut names: Vec<Vec<u8>> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().as_bytes().to_vec())
        .collect();
    names.sort();
    names
}

/// The raw bytes of an `NLST` of `dir` through the gateway, and its names.
async fn nlst(c: &mut RawFtp, dir: &str) -> (Vec<u8>, Vec<String>) {
    let mut data = c.start_transfer(&format!("NLST {dir}")).await;
    let body = read_all(&mut data, STEP).await;
    let (code, text) = c.reply().await;
    assert_eq!(code, 226, "NLST {dir}: {text}");
    let text = String::from_utf8(body.clone()).unwrap_or_else(|_| panic!("NLST is not UTF-8: {body:?}"));
    let mut names: Vec<String> = text
        .lines()
        .map(|l| l.rsplit('/').next().unwrap_or(l).to_owned())
        .collect();
    names.sort();
    (body, names)
}

/// The names of a JSON listing of `dir` over HTTP, sorted.
async fn http_names(gw: &Gateway, dir: &str) -> Vec<String> {
    let listing = gw.json_listing(dir).await;
    let mut names: Vec<String> = listing
        .as_array()
        .unwrap_or_else(|| panic!("JSON listing of {dir}: {listing}"))
        .iter()
        .map(|e| e.get("name").and_then(Value::as_str).unwrap().to_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn upstream_latin1_names_through_ftp_and_http() {
    let Some(server) = upstream_server() else {
        #[allow(clippy::print_stderr, reason = "a check that could not be made is said")]
        {
            eprintln!("skip: the run's storage is not an upstream FTP server");
        }
        return;
    };
    let (dir, root) = server.new_dir("latin1", server.owner);
    let give = |path: &Path| {
        std::os::unix::fs::chown(path, Some(server.owner.0), Some(server.owner.1)).unwrap();
    };
    // On the legacy server: `café.txt` and `Größe/` with `Übersicht.csv`, in Latin-1.
    std::fs::write(on_disk(&dir, b"caf\xe9.txt"), b"latin-1 bytes").unwrap();
    give(&on_disk(&dir, b"caf\xe9.txt"));
    std::fs::create_dir(on_disk(&dir, b"Gr\xf6\xdfe")).unwrap();
    give(&on_disk(&dir, b"Gr\xf6\xdfe"));
    std::fs::write(on_disk(&dir, b"Gr\xf6\xdfe/\xdcbersicht.csv"), b"a;b\n").unwrap();
    give(&on_disk(&dir, b"Gr\xf6\xdfe/\xdcbersicht.csv"));

    let gw = Gateway::start(GatewayOptions {
        storage_keys: Some(format!("{{ root: \"{root}\", encoding: latin1 }}")),
        ..GatewayOptions::default()
    })
    .await;

    // FTP: the names in UTF-8, byte for byte, in NLST and MLSD; the files read.
    let mut c = gw.raw_login().await;
    let (raw, names) = nlst(&mut c, "/").await;
    assert_eq!(names, ["Größe", "café.txt"]);
    assert!(
        raw.windows(9).any(|w| w == b"caf\xc3\xa9.txt"),
        "NLST sends UTF-8: {raw:?}"
    );
    assert_eq!(nlst(&mut c, "Größe").await.1, ["Übersicht.csv"]);
    let mlst = c.expect("MLST café.txt", 250).await;
    assert!(mlst.contains("size=13;") && mlst.contains("café.txt"), "{mlst}");
    let mut ftp = gw.ftp().await;
    assert_eq!(ftp_get(&mut ftp, "café.txt").await, b"latin-1 bytes");
    assert_eq!(ftp_get(&mut ftp, "Größe/Übersicht.csv").await, b"a;b\n");
    let mlsd = within("MLSD", STEP, ftp.mlsd(Some("Größe"))).await.unwrap();
    assert!(
        mlsd.iter().any(|l| l.ends_with("; Übersicht.csv")),
        "MLSD Größe: {mlsd:?}"
    );

    // FTP writes: STOR, MKD, RNFR/RNTO into the new directory; Latin-1 on disk.
    ftp_put(&mut ftp, "naïve.txt", b"from ftp").await;
    assert_eq!(std::fs::read(on_disk(&dir, b"na\xefve.txt")).unwrap(), b"from ftp");
    c.expect("MKD déjà", 257).await;
    assert!(on_disk(&dir, b"d\xe9j\xe0").is_dir());
    c.expect("RNFR naïve.txt", 350).await;
    c.expect("RNTO déjà/über.txt", 250).await;
    assert_eq!(
        std::fs::read(on_disk(&dir, b"d\xe9j\xe0/\xfcber.txt")).unwrap(),
        b"from ftp"
    );
    assert!(!on_disk(&dir, b"na\xefve.txt").exists());

    // HTTP and WebDAV see the same names, FTP's upload included.
    assert_eq!(http_names(&gw, "/").await, ["Größe", "café.txt", "déjà"]);
    assert_eq!(http_names(&gw, "/d%C3%A9j%C3%A0/").await, ["über.txt"]);
    let got = gw.get("/caf%C3%A9.txt").await;
    assert_eq!(got.status().as_u16(), 200);
    assert_eq!(&got.bytes().await.unwrap()[..], b"latin-1 bytes");
    let got = gw.get("/d%C3%A9j%C3%A0/%C3%BCber.txt").await;
    assert_eq!(got.status().as_u16(), 200);
    assert_eq!(&got.bytes().await.unwrap()[..], b"from ftp");
    let hrefs: Vec<String> = gw
        .propfind("/Gr%C3%B6%C3%9Fe/", "1", "")
        .await
        .into_iter()
        .map(|r| r.href.to_ascii_lowercase())
        .collect();
    assert!(
        hrefs.iter().any(|h| h.ends_with("/gr%c3%b6%c3%9fe/%c3%9cbersicht.csv")),
        "PROPFIND hrefs: {hrefs:?}"
    );

    // HTTP writes: PUT, MOVE, DELETE; FTP sees them.
    assert_eq!(gw.put("/r%C3%A9sum%C3%A9.txt", b"from http".to_vec()).await, 201);
    assert_eq!(std::fs::read(on_disk(&dir, b"r\xe9sum\xe9.txt")).unwrap(), b"from http");
    assert_eq!(ftp_get(&mut ftp, "résumé.txt").await, b"from http");
    let moved = send(
        gw.dav("MOVE", "/r%C3%A9sum%C3%A9.txt")
            .header("Destination", gw.url("/Gr%C3%B6%C3%9Fe/s%C3%BC%C3%9F.txt")),
    )
    .await;
    assert_eq!(moved.status, 201, "MOVE: {}", moved.text());
    assert_eq!(
        std::fs::read(on_disk(&dir, b"Gr\xf6\xdfe/s\xfc\xdf.txt")).unwrap(),
        b"from http"
    );
    assert_eq!(nlst(&mut c, "Größe").await.1, ["süß.txt", "Übersicht.csv"]);
    let deleted = send(gw.dav("DELETE", "/Gr%C3%B6%C3%9Fe/s%C3%BC%C3%9F.txt")).await;
    assert_eq!(deleted.status, 204);
    assert!(!on_disk(&dir, b"Gr\xf6\xdfe/s\xfc\xdf.txt").exists());

    // FTP deletes what it made.
    c.expect("DELE déjà/über.txt", 250).await;
    c.expect("RMD déjà", 250).await;
    assert!(!on_disk(&dir, b"d\xe9j\xe0").exists());

    // Beyond Latin-1: refused on both protocols before anything reaches the server.
    let (code, text) = c.cmd("MKD €uro").await;
    assert_eq!(code, 553, "MKD €uro: {text}");
    let addr = c.pasv().await;
    let _data = data_connect(addr).await;
    let (mut code, mut text) = c.cmd("STOR €uro.txt").await;
    if code == 150 {
        (code, text) = c.reply().await;
    }
    assert_eq!(code, 553, "STOR €uro.txt: {text}");
    assert_eq!(gw.put("/%E2%82%ACuro.txt", b"x".to_vec()).await, 400);

    // The sessions still work, and the server's disk holds exactly the Latin-1 names.
    assert_eq!(nlst(&mut c, "/").await.1, ["Größe", "café.txt"]);
    assert_eq!(http_names(&gw, "/").await, ["Größe", "café.txt"]);
    // (No temporary upload file is left either.)
    assert_eq!(disk_names(&dir), [b"Gr\xf6\xdfe".to_vec(), b"caf\xe9.txt".to_vec()]);
    assert_eq!(
        disk_names(&on_disk(&dir, b"Gr\xf6\xdfe")),
        [b"\xdcbersicht.csv".to_vec()]
    );
}
