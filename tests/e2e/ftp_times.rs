//! `MFMT` and `MFF modify` (draft-somers-ftp-mfxx): mirroring clients set the
//! modification time of what they upload. Where the back-end can keep it, FEAT
//! lists both, the time is set to the second and shows in MDTM, MLST, MLSD and
//! HTTP `Last-Modified`; where it cannot (an object store), FEAT lists neither
//! and both are refused before anything happens.

use crate::support::{Gateway, GatewayOptions, hash_password, parse_imf_fixdate, parse_mdtm, storage_kind};

#[tokio::test]
async fn mfmt_and_mff_set_modification_times_where_the_backend_can() {
    let gw = Gateway::start_default().await;
    gw.store().put("a file.txt", b"12345");
    gw.store().mkdir("d");
    let mut c = gw.raw_login().await;
    let feat = c.expect("FEAT", 211).await;
    if !storage_kind().sets_modified_times() {
        assert!(!feat.contains("MFMT") && !feat.contains("MFF"), "{feat}");
        let (code, _) = c.cmd("MFMT 20010203040506 a file.txt").await;
        assert_eq!(code, 502);
        return;
    }
    assert!(feat.lines().any(|l| l == " MFMT"), "{feat}");
    assert!(feat.lines().any(|l| l == " MFF modify;"), "{feat}");

    // draft-somers-ftp-mfxx §3.2: 213 Modify=<time>; <path as sent>.
    assert_eq!(
        c.expect("MFMT 20010203040506 a file.txt", 213).await,
        "213 Modify=20010203040506; a file.txt"
    );
    let mdtm = c.expect("MDTM a file.txt", 213).await;
    assert_eq!(parse_mdtm(&mdtm), parse_mdtm("213 20010203040506"), "{mdtm}");
    let mlst = c.expect("MLST a file.txt", 250).await;
    assert!(mlst.contains("modify=20010203040506;"), "{mlst}");
    // The contents are untouched, and HTTP says the same time.
    let response = gw.get("/a%20file.txt").await;
    assert_eq!(response.status(), 200);
    let last_modified = response.headers()["last-modified"].to_str().unwrap().to_owned();
    assert_eq!(parse_imf_fixdate(&last_modified), Some(981_173_106), "{last_modified}");
    assert_eq!(response.bytes().await.unwrap().as_ref(), b"12345");

    // MFF: only `modify`; the reply names what was changed.
    assert_eq!(
        c.expect("MFF modify=19990101000000;UNIX.mode=0644; d", 213).await,
        "213 modify=19990101000000; d"
    );
    let dir = c.expect("MLST d", 250).await;
    assert!(dir.contains("modify=19990101000000;"), "{dir}");
    let (code, text) = c.cmd("MFF UNIX.mode=0644; d").await;
    assert_eq!(code, 504, "{text}");

    // Bad input and missing paths change nothing.
    assert_eq!(c.cmd("MFMT 2001020304050 a file.txt").await.0, 501);
    assert_eq!(c.cmd("MFMT 20011302040506 a file.txt").await.0, 501);
    assert_eq!(c.cmd("MFMT 20010203040506").await.0, 501);
    assert_eq!(c.cmd("MFMT 20010203040506 missing.txt").await.0, 550);
    let mdtm = c.expect("MDTM a file.txt", 213).await;
    assert_eq!(mdtm, "213 20010203040506");
}

#[tokio::test]
async fn mfmt_needs_the_write_permission() {
    let gw = Gateway::start(GatewayOptions::with_config(&format!(
        "users:\n  - {{ name: reader, password_hash: \"{}\", home: /, permissions: [read] }}\n",
        hash_password("pw")
    )))
    .await;
    gw.store().put("f.txt", b"x");
    let mut c = gw.raw_ftp().await;
    c.login("reader", "pw").await;
    // Permissions are checked before the command runs: 550 whether or not the
    // back-end can set times at all.
    let (code, text) = c.cmd("MFMT 20010203040506 f.txt").await;
    assert_eq!(code, 550, "{text}");
}
