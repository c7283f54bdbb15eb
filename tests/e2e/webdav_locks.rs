//! WebDAV class 2 (RFC 4918 §6, §7, §9.10, §9.11, §10.4) against the real
//! binary: `LOCK` (exclusive and shared, depth 0 and infinity, unmapped URLs,
//! timeouts and refresh), `UNLOCK`, lockdiscovery and supportedlock in
//! `PROPFIND`, the `If` header (tagged and untagged lists, `Not`, entity
//! tags), 423 with its precondition on every writing method, the lock's owner
//! — and the same locks refusing FTP `STOR`, `APPE`, `DELE`, `RNFR`/`RNTO`,
//! `MFMT` and `SITE CHMOD` with 450 while `RETR` still reads.

use crate::support::dav::{DAV, Element, Reply, call_as, parse_xml};
use crate::support::metrics::metric_value;
use crate::support::{Gateway, GatewayOptions, ftp_get, ftp_put, hash_password};

/// An exclusive write lock request with an owner.
const EXCLUSIVE: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner><D:href>mailto:ann@example.com</D:href></D:owner></D:lockinfo>"#;

/// A shared write lock request.
const SHARED: &str = r#"<?xml version="1.0"?><lockinfo xmlns="DAV:"><lockscope><shared/></lockscope><locktype><write/></locktype><owner>shared one</owner></lockinfo>"#;

async fn call(gw: &Gateway, method: &str, path: &str, headers: &[(&str, &str)], body: Option<&str>) -> Reply {
    call_as(
        gw,
        Some((&gw.user, &gw.password)),
        method,
        path,
        headers,
        body.map(|b| b.as_bytes().to_vec()),
    )
    .await
}

/// `LOCK path` with `body` and headers; asserts `expected` and, for a new
/// lock, returns its token (from `Lock-Token`, checked against the body).
async fn lock(gw: &Gateway, path: &str, body: &str, headers: &[(&str, &str)], expected: u16) -> String {
    let r = call(gw, "LOCK", path, headers, Some(body)).await;
    assert_eq!(r.status, expected, "LOCK {path}: {}", r.text());
    let header = r
        .header("lock-token")
        .unwrap_or_else(|| panic!("LOCK {path}: no Lock-Token: {:?}", r.headers));
    let token = header.trim_start_matches('<').trim_end_matches('>').to_owned();
    assert!(token.starts_with("opaquelocktoken:") && token.len() > 40, "{token}");
    let active = active_locks(&r);
    assert_eq!(active.len(), 1, "{}", r.text());
    assert_eq!(text_of(&active[0], &["locktoken", "href"]), token);
    token
}

/// The `DAV:activelock`s of a `LOCK` answer (`DAV:prop/DAV:lockdiscovery`).
fn active_locks(r: &Reply) -> Vec<Element> {
    let root = parse_xml(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.text()));
    assert!(root.is(DAV, "prop"), "{}", r.text());
    root.one(DAV, "lockdiscovery")
        .unwrap()
        .all(DAV, "activelock")
        .cloned()
        .collect()
}

/// The text of the element at `path` (local names in `DAV:`) below `e`.
fn text_of(e: &Element, path: &[&str]) -> String {
    let mut at = e;
    for local in path {
        at = at.one(DAV, local).unwrap_or_else(|err| panic!("{err}: {e:?}"));
    }
    at.text.clone()
}

/// The tokens in a resource's `DAV:lockdiscovery` (named in a PROPFIND).
async fn discovered(gw: &Gateway, path: &str) -> Vec<String> {
    let body = r#"<D:propfind xmlns:D="DAV:"><D:prop><D:lockdiscovery/></D:prop></D:propfind>"#;
    let responses = gw.propfind(path, "0", body).await;
    let (status, prop) = responses[0].find(DAV, "lockdiscovery").unwrap();
    assert_eq!(status, 200);
    prop.all(DAV, "activelock")
        .map(|a| text_of(a, &["locktoken", "href"]))
        .collect()
}

/// Asserts a 423 naming `root` under `precondition`.
fn assert_locked(r: &Reply, precondition: &str, root: &str, what: &str) {
    assert_eq!(r.status, 423, "{what}: {}", r.text());
    let e = parse_xml(&r.body).unwrap_or_else(|err| panic!("{what}: {err}: {}", r.text()));
    assert!(e.is(DAV, "error"), "{what}: {}", r.text());
    let hrefs: Vec<String> = e
        .one(DAV, precondition)
        .unwrap_or_else(|err| panic!("{what}: {err}: {}", r.text()))
        .all(DAV, "href")
        .map(|h| h.text.clone())
        .collect();
    assert_eq!(hrefs, [root], "{what}: {}", r.text());
}

#[tokio::test]
async fn lock_discover_refresh_unlock() {
    let gw = Gateway::start_default().await;
    gw.store().put("f.txt", b"content");

    let r = call(&gw, "OPTIONS", "/f.txt", &[], None).await;
    assert_eq!(r.header("dav"), Some("1, 2"));

    // Infinite is capped (at one hour); Depth 0.
    let r = call(
        &gw,
        "LOCK",
        "/f.txt",
        &[("Depth", "0"), ("Timeout", "Infinite, Second-4100000000")],
        Some(EXCLUSIVE),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let token = r.header("lock-token").unwrap().trim_matches(['<', '>']).to_owned();
    let active = &active_locks(&r)[0];
    assert!(active.one(DAV, "lockscope").unwrap().one(DAV, "exclusive").is_ok());
    assert!(active.one(DAV, "locktype").unwrap().one(DAV, "write").is_ok());
    assert_eq!(text_of(active, &["depth"]), "0");
    assert_eq!(text_of(active, &["owner", "href"]), "mailto:ann@example.com");
    assert_eq!(text_of(active, &["lockroot", "href"]), "/f.txt");
    let secs: u64 = text_of(active, &["timeout"])
        .strip_prefix("Second-")
        .unwrap()
        .parse()
        .unwrap();
    assert!((3590..=3600).contains(&secs), "{secs}");

    // Discovered by PROPFIND, named or in allprop (with supportedlock).
    assert_eq!(discovered(&gw, "/f.txt").await, std::slice::from_ref(&token));
    let all = gw.propfind("/f.txt", "0", "").await;
    let (_, supported) = all[0].find(DAV, "supportedlock").unwrap();
    let scopes: Vec<&str> = supported
        .all(DAV, "lockentry")
        .flat_map(|e| {
            e.one(DAV, "lockscope")
                .unwrap()
                .children
                .iter()
                .map(|c| c.local.as_str())
        })
        .collect();
    assert_eq!(scopes, ["exclusive", "shared"]);
    let metrics = gw.metrics().await;
    assert_eq!(metric_value(&metrics, "dualgate_webdav_locks_held", &[]), Some(1.0));

    // Refresh: no body, the token in If; no new token.
    let if_token = format!("(<{token}>)");
    let r = call(
        &gw,
        "LOCK",
        "/f.txt",
        &[("If", &if_token), ("Timeout", "Second-120")],
        None,
    )
    .await;
    assert_eq!(r.status, 200, "refresh: {}", r.text());
    assert_eq!(r.header("lock-token"), None);
    assert_eq!(text_of(&active_locks(&r)[0], &["timeout"]), "Second-120");
    let r = call(&gw, "LOCK", "/f.txt", &[("If", "(<opaquelocktoken:nope>)")], None).await;
    assert_eq!(r.status, 412, "refresh with an unknown token: {}", r.text());
    let r = call(&gw, "LOCK", "/f.txt", &[], None).await;
    assert_eq!(r.status, 400, "refresh without If: {}", r.text());

    // UNLOCK: 400 without a token, 409 for one that does not apply, 204.
    assert_eq!(call(&gw, "UNLOCK", "/f.txt", &[], None).await.status, 400);
    let r = call(
        &gw,
        "UNLOCK",
        "/f.txt",
        &[("Lock-Token", "<opaquelocktoken:bogus>")],
        None,
    )
    .await;
    assert_eq!(r.status, 409, "{}", r.text());
    assert!(
        parse_xml(&r.body)
            .unwrap()
            .one(DAV, "lock-token-matches-request-uri")
            .is_ok()
    );
    let lock_header = format!("<{token}>");
    let r = call(&gw, "UNLOCK", "/other.txt", &[("Lock-Token", &lock_header)], None).await;
    assert_eq!(r.status, 409, "UNLOCK of another resource: {}", r.text());
    let r = call(&gw, "UNLOCK", "/f.txt", &[("Lock-Token", &lock_header)], None).await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert!(discovered(&gw, "/f.txt").await.is_empty());
    let metrics = gw.metrics().await;
    assert_eq!(metric_value(&metrics, "dualgate_webdav_locks_held", &[]), Some(0.0));
    // Depth 1 is no lock depth.
    let r = call(&gw, "LOCK", "/f.txt", &[("Depth", "1")], Some(EXCLUSIVE)).await;
    assert_eq!(r.status, 400, "{}", r.text());
    let r = call(&gw, "LOCK", "/f.txt", &[], Some("<D:lockinfo xmlns:D=\"DAV:\"/>")).await;
    assert_eq!(r.status, 400, "{}", r.text());
}

#[tokio::test]
async fn every_write_needs_the_token() {
    let gw = Gateway::start_default().await;
    gw.store().put("f.txt", b"old");
    gw.store().put("other.txt", b"other");
    let token = lock(&gw, "/f.txt", EXCLUSIVE, &[("Depth", "0")], 200).await;
    let if_token = format!("(<{token}>)");

    // Without the token: 423 lock-token-submitted naming the lock root.
    let dest = gw.url("/moved.txt");
    let onto = gw.url("/f.txt");
    let patch = r#"<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><x:c xmlns:x="urn:x">1</x:c></D:prop></D:set></D:propertyupdate>"#;
    for (method, path, headers, body) in [
        ("PUT", "/f.txt", vec![], Some("new")),
        ("DELETE", "/f.txt", vec![], None),
        ("MOVE", "/f.txt", vec![("Destination", dest.as_str())], None),
        ("MOVE", "/other.txt", vec![("Destination", onto.as_str())], None),
        ("COPY", "/other.txt", vec![("Destination", onto.as_str())], None),
        ("PROPPATCH", "/f.txt", vec![], Some(patch)),
    ] {
        let r = call(&gw, method, path, &headers, body).await;
        assert_locked(&r, "lock-token-submitted", "/f.txt", &format!("{method} {path}"));
    }
    assert_eq!(gw.store().read("f.txt"), b"old");
    assert_eq!(gw.store().read("other.txt"), b"other");
    // A conflicting LOCK: 423 no-conflicting-lock; shared too.
    for body in [EXCLUSIVE, SHARED] {
        let r = call(&gw, "LOCK", "/f.txt", &[("Depth", "0")], Some(body)).await;
        assert_locked(&r, "no-conflicting-lock", "/f.txt", "second LOCK");
    }

    // The If header: untagged, tagged, with entity tags, negated.
    let etag = call(&gw, "HEAD", "/f.txt", &[], None)
        .await
        .header("etag")
        .unwrap()
        .to_owned();
    let tagged = format!("<{}> (<{token}>)", gw.url("/f.txt"));
    let with_etag = format!("(<{token}> [{etag}])");
    let complex = format!("(<{token}> [{etag}]) (Not <DAV:no-lock> [{etag}])");
    let with_not = format!("(<{token}>) (Not <DAV:no-lock>)");
    let corrupt = format!("(<{token}x>) (Not <DAV:no-lock>)");
    let wrong_etag = format!("(<{token}> [\"nope\"]) (Not <DAV:no-lock> [\"nope\"])");
    let no_lock = format!("(<DAV:no-lock> [{etag}])");
    let elsewhere = format!("<http://elsewhere.example/f.txt> (<{token}>)");
    for (header, expected) in [
        (with_etag.as_str(), 204),
        (tagged.as_str(), 204),
        (with_not.as_str(), 204),
        (if_token.as_str(), 204),
        (corrupt.as_str(), 423),
        (complex.as_str(), 412), // the ETag changed with the PUT before
        (wrong_etag.as_str(), 412),
        (no_lock.as_str(), 412),
        (elsewhere.as_str(), 412),
        ("(<unterminated", 400),
        ("<http://h/x>", 400),
    ] {
        let r = call(&gw, "PUT", "/f.txt", &[("If", header)], Some("by owner")).await;
        assert_eq!(r.status, expected, "PUT with If: {header}: {}", r.text());
    }
    let etag = call(&gw, "HEAD", "/f.txt", &[], None)
        .await
        .header("etag")
        .unwrap()
        .to_owned();
    let complex = format!("(<{token}> [{etag}]) (Not <DAV:no-lock> [{etag}])");
    let r = call(&gw, "PUT", "/f.txt", &[("If", &complex)], Some("complex")).await;
    assert_eq!(r.status, 204, "{}", r.text());
    // The lock survives the writes; PROPPATCH with the token.
    assert_eq!(discovered(&gw, "/f.txt").await, std::slice::from_ref(&token));
    let r = call(&gw, "PROPPATCH", "/f.txt", &[("If", &if_token)], Some(patch)).await;
    assert_eq!(r.status, 207, "{}", r.text());
    assert_eq!(gw.store().read("f.txt"), b"complex");

    // COPY of a locked file: the copy is not locked.
    let copy = gw.url("/copy.txt");
    let r = call(&gw, "COPY", "/f.txt", &[("Destination", &copy)], None).await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert!(discovered(&gw, "/copy.txt").await.is_empty());
    // MOVE with the token: the lock does not move, and goes with the source.
    let r = call(
        &gw,
        "MOVE",
        "/f.txt",
        &[("Destination", &dest), ("If", &if_token)],
        None,
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert!(discovered(&gw, "/moved.txt").await.is_empty());
    gw.store().put("f.txt", b"again");
    let again = lock(&gw, "/f.txt", EXCLUSIVE, &[("Depth", "0")], 200).await;
    // DELETE with the token releases the lock.
    let r = call(&gw, "DELETE", "/f.txt", &[("If", &format!("(<{again}>)"))], None).await;
    assert_eq!(r.status, 204, "{}", r.text());
    let r = call(&gw, "UNLOCK", "/f.txt", &[("Lock-Token", &format!("<{again}>"))], None).await;
    assert_eq!(r.status, 409, "the lock outlived DELETE: {}", r.text());
}

#[tokio::test]
async fn shared_locks_collections_and_unmapped_urls() {
    let gw = Gateway::start_default().await;
    gw.store().put("s.txt", b"s");
    let one = lock(&gw, "/s.txt", SHARED, &[], 200).await;
    let two = lock(&gw, "/s.txt", SHARED, &[], 200).await;
    assert_ne!(one, two);
    let mut both = discovered(&gw, "/s.txt").await;
    both.sort();
    let mut expected = vec![one.clone(), two.clone()];
    expected.sort();
    assert_eq!(both, expected);
    let r = call(&gw, "LOCK", "/s.txt", &[], Some(EXCLUSIVE)).await;
    assert_eq!(r.status, 423, "{}", r.text());
    // A write must show every lock that applies.
    let r = call(&gw, "PUT", "/s.txt", &[("If", &format!("(<{one}>)"))], Some("x")).await;
    assert_eq!(r.status, 423, "{}", r.text());
    let r = call(
        &gw,
        "PUT",
        "/s.txt",
        &[("If", &format!("(<{one}>) (<{two}>)"))],
        Some("x"),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text());

    // A depth-infinity lock on a collection (no Depth header: infinity) covers
    // its members and their creation; refreshed through a member.
    assert_eq!(call(&gw, "MKCOL", "/c/", &[], None).await.status, 201);
    let coll = lock(&gw, "/c/", EXCLUSIVE, &[], 200).await;
    let if_coll = format!("(<{coll}>)");
    let r = call(&gw, "PUT", "/c/new.txt", &[], Some("n")).await;
    assert_locked(&r, "lock-token-submitted", "/c/", "PUT into a locked collection");
    let r = call(&gw, "MKCOL", "/c/sub/", &[], None).await;
    assert_locked(&r, "lock-token-submitted", "/c/", "MKCOL in a locked collection");
    assert_eq!(
        call(&gw, "PUT", "/c/new.txt", &[("If", &if_coll)], Some("n"))
            .await
            .status,
        201
    );
    let r = call(&gw, "LOCK", "/c/new.txt", &[("If", &if_coll)], None).await;
    assert_eq!(r.status, 200, "indirect refresh: {}", r.text());
    assert_eq!(text_of(&active_locks(&r)[0], &["lockroot", "href"]), "/c/");
    assert_eq!(discovered(&gw, "/c/new.txt").await, std::slice::from_ref(&coll));
    // A lock inside it conflicts.
    let r = call(&gw, "LOCK", "/c/new.txt", &[("Depth", "0")], Some(SHARED)).await;
    assert_eq!(r.status, 423, "{}", r.text());
    let r = call(&gw, "DELETE", "/c/", &[("If", &if_coll)], None).await;
    assert_eq!(r.status, 204, "{}", r.text());

    // An unmapped URL: 201 and an empty file, which stays after UNLOCK.
    let token = lock(&gw, "/fresh.txt", EXCLUSIVE, &[("Depth", "0")], 201).await;
    assert_eq!(gw.store().read("fresh.txt"), b"");
    let r = call(
        &gw,
        "UNLOCK",
        "/fresh.txt",
        &[("Lock-Token", &format!("<{token}>"))],
        None,
    )
    .await;
    assert_eq!(r.status, 204);
    assert_eq!(call(&gw, "GET", "/fresh.txt", &[], None).await.status, 200);
    // davfs2 creates files with LOCK and If-None-Match: * — an existing one fails it.
    let r = call(&gw, "LOCK", "/fresh.txt", &[("If-None-Match", "*")], Some(EXCLUSIVE)).await;
    assert_eq!(r.status, 412, "{}", r.text());
    // No parent: 409, and no lock is left behind.
    let r = call(&gw, "LOCK", "/nodir/x.txt", &[], Some(EXCLUSIVE)).await;
    assert_eq!(r.status, 409, "{}", r.text());
    assert_eq!(call(&gw, "MKCOL", "/nodir/", &[], None).await.status, 201);
    lock(&gw, "/nodir/x.txt", EXCLUSIVE, &[], 201).await;
}

#[tokio::test]
async fn a_lock_belongs_to_the_user_who_took_it() {
    let config = format!(
        "users:\n  - {{ name: ann, password_hash: \"{}\", home: /shared, permissions: [read, write, delete, mkdir, rename] }}\n  - {{ name: bob, password_hash: \"{}\", home: /shared, permissions: [read, write, delete, mkdir, rename] }}\n",
        hash_password("ann-pw"),
        hash_password("bob-pw")
    );
    let gw = Gateway::start(GatewayOptions::with_config(&config)).await;
    gw.store().put("shared/doc.txt", b"doc");
    let ann = Some(("ann", "ann-pw"));
    let bob = Some(("bob", "bob-pw"));
    let r = call_as(&gw, ann, "LOCK", "/doc.txt", &[], Some(EXCLUSIVE.as_bytes().to_vec())).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let token = r.header("lock-token").unwrap().trim_matches(['<', '>']).to_owned();
    let if_token = format!("(<{token}>)");
    // Bob holding Ann's token can neither write nor unlock nor refresh.
    let r = call_as(&gw, bob, "PUT", "/doc.txt", &[("If", &if_token)], Some(b"bob".to_vec())).await;
    assert_eq!(r.status, 423, "{}", r.text());
    let lock_header = format!("<{token}>");
    let r = call_as(&gw, bob, "UNLOCK", "/doc.txt", &[("Lock-Token", &lock_header)], None).await;
    assert_eq!(r.status, 403, "{}", r.text());
    let r = call_as(&gw, bob, "LOCK", "/doc.txt", &[("If", &if_token)], None).await;
    assert_eq!(r.status, 403, "{}", r.text());
    let r = call_as(&gw, ann, "PUT", "/doc.txt", &[("If", &if_token)], Some(b"ann".to_vec())).await;
    assert_eq!(r.status, 204, "{}", r.text());
    let r = call_as(&gw, ann, "UNLOCK", "/doc.txt", &[("Lock-Token", &lock_header)], None).await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(gw.store().read("shared/doc.txt"), b"ann");
}

#[tokio::test]
async fn ftp_refuses_to_change_a_webdav_locked_file() {
    let gw = Gateway::start_default().await;
    gw.store().put("locked.txt", b"locked content");
    gw.store().put("free.txt", b"free");
    gw.store().put("dir/in.txt", b"in");
    let token = lock(&gw, "/locked.txt", EXCLUSIVE, &[("Depth", "0")], 200).await;
    let dir_token = lock(&gw, "/dir/", EXCLUSIVE, &[], 200).await;

    let mut ftp = gw.raw_login().await;
    let refused = [
        ("STOR", "STOR locked.txt"),
        ("APPE", "APPE locked.txt"),
        ("STOR into a locked directory", "STOR dir/new.txt"),
        ("DELE", "DELE locked.txt"),
        ("RNFR", "RNFR locked.txt"),
        ("MFMT", "MFMT 20200101000000 locked.txt"),
        ("MKD in a locked directory", "MKD dir/sub"),
        ("RMD of a locked directory", "RMD dir"),
    ];
    for (what, line) in refused {
        ftp.pasv().await;
        let (code, text) = ftp.cmd(line).await;
        assert_eq!(code, 450, "{what}: {line} → {code} {text}");
        assert!(text.to_ascii_lowercase().contains("locked"), "{what}: {text}");
    }
    // RNTO onto a locked file: the rename is refused at RNTO.
    ftp.expect("RNFR free.txt", 350).await;
    let (code, text) = ftp.cmd("RNTO locked.txt").await;
    assert_eq!(code, 450, "RNTO onto a locked file: {text}");
    assert!(text.contains("locked"), "{text}");
    drop(ftp);
    assert_eq!(gw.store().read("locked.txt"), b"locked content");
    assert_eq!(gw.store().read("free.txt"), b"free");
    assert_eq!(gw.store().read("dir/in.txt"), b"in");

    // Still readable, and the lock still held; once unlocked, FTP writes again.
    let mut client = gw.ftp().await;
    assert_eq!(ftp_get(&mut client, "locked.txt").await, b"locked content");
    ftp_put(&mut client, "free.txt", b"changed").await;
    assert_eq!(discovered(&gw, "/locked.txt").await, std::slice::from_ref(&token));
    for (path, t) in [("/locked.txt", &token), ("/dir/", &dir_token)] {
        let r = call(&gw, "UNLOCK", path, &[("Lock-Token", &format!("<{t}>"))], None).await;
        assert_eq!(r.status, 204, "{}", r.text());
    }
    ftp_put(&mut client, "locked.txt", b"written over FTP").await;
    assert_eq!(gw.store().read("locked.txt"), b"written over FTP");
    let _ = client.quit().await;
}

#[tokio::test]
async fn local_ftp_site_chmod_of_a_locked_file_is_refused() {
    let gw = Gateway::start_default().await;
    gw.store().put("m.txt", b"m");
    let token = lock(&gw, "/m.txt", EXCLUSIVE, &[("Depth", "0")], 200).await;
    let mut ftp = gw.raw_login().await;
    let (code, text) = ftp.cmd("SITE CHMOD 600 m.txt").await;
    assert_eq!(code, 450, "{text}");
    assert!(text.contains("locked"), "{text}");
    let r = call(&gw, "UNLOCK", "/m.txt", &[("Lock-Token", &format!("<{token}>"))], None).await;
    assert_eq!(r.status, 204);
    ftp.expect("SITE CHMOD 600 m.txt", 200).await;
}

/// The requests desktop clients send, in their order (see the README's
/// "Mounting from a desktop"): the Windows redirector's copy-in, Finder's
/// new file with its AppleDouble companion, and Office's save through a
/// temporary file.
#[tokio::test]
async fn desktop_client_sequences() {
    let gw = Gateway::start_default().await;

    // Windows: OPTIONS / without credentials first (a 401 ends the mount).
    let r = call_as(&gw, None, "OPTIONS", "/", &[], None).await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(r.header("dav"), Some("1, 2"));
    // Copy-in: PROPFIND (404), 0-byte PUT, LOCK (no Depth), PROPPATCH Win32*,
    // HEAD, PUT, PROPPATCH, UNLOCK.
    let r = call(&gw, "PROPFIND", "/report.docx", &[("Depth", "0")], None).await;
    assert_eq!(r.status, 404);
    assert_eq!(call(&gw, "PUT", "/report.docx", &[], Some("")).await.status, 201);
    let token = lock(
        &gw,
        "/report.docx",
        EXCLUSIVE,
        &[("Timeout", "Second-3600"), ("translate", "f")],
        200,
    )
    .await;
    let if_token = format!("(<{token}>)");
    let win32 = r#"<?xml version="1.0" encoding="utf-8" ?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:schemas-microsoft-com:"><D:set><D:prop><Z:Win32CreationTime>Sat, 05 Dec 2026 10:00:00 GMT</Z:Win32CreationTime><Z:Win32LastAccessTime>Sat, 05 Dec 2026 10:00:00 GMT</Z:Win32LastAccessTime><Z:Win32LastModifiedTime>Sat, 05 Dec 2026 10:00:00 GMT</Z:Win32LastModifiedTime><Z:Win32FileAttributes>00000020</Z:Win32FileAttributes></D:prop></D:set></D:propertyupdate>"#;
    let r = call(&gw, "PROPPATCH", "/report.docx", &[("If", &if_token)], Some(win32)).await;
    assert_eq!(r.status, 207, "{}", r.text());
    let r = call(&gw, "PROPPATCH", "/report.docx", &[], Some(win32)).await;
    assert_eq!(r.status, 423, "PROPPATCH without the token: {}", r.text());
    assert_eq!(call(&gw, "HEAD", "/report.docx", &[], None).await.status, 200);
    let r = call(&gw, "PUT", "/report.docx", &[("If", &if_token)], Some("the report")).await;
    assert_eq!(r.status, 204, "{}", r.text());
    let r = call(&gw, "PROPPATCH", "/report.docx", &[("If", &if_token)], Some(win32)).await;
    assert_eq!(r.status, 207, "{}", r.text());
    let r = call(
        &gw,
        "UNLOCK",
        "/report.docx",
        &[("Lock-Token", &format!("<{token}>"))],
        None,
    )
    .await;
    assert_eq!(r.status, 204);
    assert_eq!(gw.store().read("report.docx"), b"the report");

    // Finder: a missing .DS_Store is a plain 404; an empty PUT, LOCK depth 0 for
    // 600 s, refreshed, PUTs with the token, the `._` AppleDouble file beside it.
    let r = call(&gw, "PROPFIND", "/.DS_Store", &[("Depth", "0")], None).await;
    assert_eq!(r.status, 404);
    assert_eq!(call(&gw, "PUT", "/photo.jpg", &[], Some("")).await.status, 201);
    let token = lock(
        &gw,
        "/photo.jpg",
        EXCLUSIVE,
        &[("Depth", "0"), ("Timeout", "Second-600")],
        200,
    )
    .await;
    let if_token = format!("(<{token}>)");
    let r = call(
        &gw,
        "LOCK",
        "/photo.jpg",
        &[("If", &if_token), ("Timeout", "Second-600")],
        None,
    )
    .await;
    assert_eq!(r.status, 200, "refresh: {}", r.text());
    let r = call(
        &gw,
        "PUT",
        "/photo.jpg",
        &[("If", &if_token), ("X-Expected-Entity-Length", "5")],
        Some("JFIF!"),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(
        call(&gw, "PUT", "/._photo.jpg", &[], Some("AppleDouble")).await.status,
        201
    );
    let r = call(
        &gw,
        "UNLOCK",
        "/photo.jpg",
        &[("Lock-Token", &format!("<{token}>"))],
        None,
    )
    .await;
    assert_eq!(r.status, 204);
    assert_eq!(gw.store().read("photo.jpg"), b"JFIF!");
    assert_eq!(gw.store().read("._photo.jpg"), b"AppleDouble");

    // Office's save: lock the original; lock and write a temporary file; unlock
    // both; lock the temporary file; MOVE it over the original with only its token.
    gw.store().put("doc.docx", b"version 1");
    let original = lock(&gw, "/doc.docx", EXCLUSIVE, &[], 200).await;
    let tmp = lock(&gw, "/~tmp1234.TMP", EXCLUSIVE, &[], 201).await;
    let r = call(
        &gw,
        "PUT",
        "/~tmp1234.TMP",
        &[("If", &format!("(<{tmp}>)"))],
        Some("version 2"),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text());
    for (path, t) in [("/doc.docx", &original), ("/~tmp1234.TMP", &tmp)] {
        let r = call(&gw, "UNLOCK", path, &[("Lock-Token", &format!("<{t}>"))], None).await;
        assert_eq!(r.status, 204);
    }
    let tmp = lock(&gw, "/~tmp1234.TMP", EXCLUSIVE, &[], 200).await;
    let dest = gw.url("/doc.docx");
    let r = call(
        &gw,
        "MOVE",
        "/~tmp1234.TMP",
        &[
            ("Destination", &dest),
            ("Overwrite", "T"),
            ("If", &format!("(<{tmp}>)")),
        ],
        None,
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(gw.store().read("doc.docx"), b"version 2");
    assert!(!gw.store().exists("~tmp1234.TMP"));
    assert!(discovered(&gw, "/doc.docx").await.is_empty());
}
