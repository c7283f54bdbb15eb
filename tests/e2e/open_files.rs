//! The open-file cache (local disk: a file read again within a second is served
//! from its last open): every change made through the server — HTTP `PUT`,
//! FTP `STOR`, `APPE`, a rename onto the name, `DELE`, WebDAV `MOVE` of its
//! directory — is served by the very next GET, over either protocol; a change
//! made on disk behind the server's back is served within the documented bound
//! (one second). Both are `local_` tests: the cache is local disk's, and the
//! directory MOVE needs a back-end that renames directories.

use crate::support::{Gateway, STEP, ftp_put, within};

/// Status and body of a GET.
async fn get(gw: &Gateway, path: &str) -> (u16, Vec<u8>) {
    let resp = gw.get(path).await;
    let status = resp.status().as_u16();
    let body = within("a GET's body", STEP, resp.bytes())
        .await
        .expect("reading the body");
    (status, body.to_vec())
}

/// Reads `path` twice (the second is served from what the first opened) and
/// checks both are `want`.
async fn read_twice(gw: &Gateway, path: &str, want: &[u8], what: &str) {
    for i in 0..2 {
        assert_eq!(get(gw, path).await, (200, want.to_vec()), "{what} (read {i})");
    }
}

#[tokio::test]
async fn local_every_change_through_the_server_is_served_by_the_next_get() {
    let gw = Gateway::start_default().await;
    assert_eq!(gw.put("/f.txt", b"one".to_vec()).await, 201);
    read_twice(&gw, "/f.txt", b"one", "after the first PUT").await;

    assert_eq!(
        gw.put("/f.txt", b"second version".to_vec()).await,
        204,
        "a PUT over a file"
    );
    read_twice(&gw, "/f.txt", b"second version", "after a PUT over it").await;

    let mut ftp = gw.ftp().await;
    ftp_put(&mut ftp, "f.txt", b"third, by FTP").await;
    read_twice(&gw, "/f.txt", b"third, by FTP", "after STOR").await;

    within("APPE", STEP, async {
        let mut up = ftp.append_with_stream("f.txt").await.unwrap();
        tokio::io::AsyncWriteExt::write_all(&mut up, b" and more")
            .await
            .unwrap();
        up.finish().await.unwrap();
    })
    .await;
    read_twice(&gw, "/f.txt", b"third, by FTP and more", "after APPE").await;

    ftp_put(&mut ftp, "g.txt", b"from g").await;
    read_twice(&gw, "/g.txt", b"from g", "g").await;
    let mut raw = gw.raw_login().await;
    raw.expect("RNFR g.txt", 350).await;
    raw.expect("RNTO f.txt", 250).await;
    read_twice(&gw, "/f.txt", b"from g", "after a rename onto the name").await;
    assert_eq!(get(&gw, "/g.txt").await.0, 404, "the renamed name");

    raw.expect("DELE f.txt", 250).await;
    assert_eq!(get(&gw, "/f.txt").await.0, 404, "after DELE");

    // A file kept under a directory that moves (WebDAV MOVE).
    raw.expect("MKD d", 257).await;
    ftp_put(&mut ftp, "d/h.txt", b"in d").await;
    read_twice(&gw, "/d/h.txt", b"in d", "d/h").await;
    let moved = within(
        "MOVE",
        STEP,
        gw.request(reqwest::Method::from_bytes(b"MOVE").unwrap(), "/d/")
            .header("Destination", gw.url("/e/"))
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(moved.status().as_u16(), 201, "MOVE");
    assert_eq!(get(&gw, "/d/h.txt").await.0, 404, "under the moved directory");
    read_twice(&gw, "/e/h.txt", b"in d", "at the new place").await;
}

#[tokio::test]
async fn local_a_file_replaced_on_disk_is_served_within_a_second() {
    let gw = Gateway::start_default().await;
    std::fs::write(gw.disk("k.txt"), b"before").unwrap();
    read_twice(&gw, "/k.txt", b"before", "before the change").await;
    // Replaced behind the server's back, as an editor or rsync does it.
    std::fs::write(gw.disk("k.new"), b"after the change").unwrap();
    std::fs::rename(gw.disk("k.new"), gw.disk("k.txt")).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    read_twice(&gw, "/k.txt", b"after the change", "a second after the change").await;
}
