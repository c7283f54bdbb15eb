//! The HTTP API: Basic auth, PUT (201/204/409), GET and HEAD with their headers,
//! conditional requests (304), ranges (206/416), HTML and JSON directory listings
//! and the trailing-slash redirect, DELETE, unknown methods, and paths that try to
//! leave the root (sent byte for byte with [`raw_http`], since an URL library would
//! normalise `%2e%2e` before sending).

use reqwest::Method;
use serde_json::Value;

use crate::support::{Gateway, STEP, mtime_secs, now_secs, parse_imf_fixdate, parse_rfc3339_utc, raw_http, within};

/// A header's value as text (panics when missing).
fn header<'r>(resp: &'r reqwest::Response, name: &str) -> &'r str {
    resp.headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header: {:?}", resp.headers()))
        .to_str()
        .unwrap()
}

async fn body(resp: reqwest::Response) -> Vec<u8> {
    within("response body", STEP, resp.bytes()).await.unwrap().to_vec()
}

#[tokio::test]
async fn credentials_are_required() {
    let gw = Gateway::start_default().await;
    let resp = within("GET /", STEP, gw.anonymous(Method::GET, "/").send())
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let challenge = header(&resp, "www-authenticate");
    assert!(
        challenge.to_ascii_lowercase().starts_with("basic realm="),
        "{challenge:?}"
    );

    let resp = within(
        "GET / with a wrong password",
        STEP,
        gw.anonymous(Method::GET, "/")
            .basic_auth(&gw.user, Some("wrong"))
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    assert!(
        header(&resp, "www-authenticate")
            .to_ascii_lowercase()
            .starts_with("basic realm=")
    );

    let resp = within(
        "PUT without credentials",
        STEP,
        gw.anonymous(Method::PUT, "/x.txt").body("x").send(),
    )
    .await
    .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    assert!(!gw.disk("x.txt").exists(), "an unauthenticated PUT wrote a file");

    assert_eq!(gw.get("/").await.status().as_u16(), 200);
}

#[tokio::test]
async fn put_get_head_conditionals_and_ranges() {
    let gw = Gateway::start_default().await;
    assert_eq!(
        gw.put("/note.txt", b"first version\n".to_vec()).await,
        201,
        "PUT of a new file"
    );
    let content = b"0123456789abcdef".to_vec();
    let replaced = gw.put("/note.txt", content.clone()).await;
    assert!(
        replaced == 204 || replaced == 200,
        "PUT replacing a file: {replaced} (contract: 204, 200 tolerated)"
    );
    assert_eq!(std::fs::read(gw.disk("note.txt")).unwrap(), content);
    assert_eq!(
        gw.put("/missing/x.txt", b"x".to_vec()).await,
        409,
        "PUT into a missing parent"
    );
    assert!(!gw.disk("missing").exists());

    let resp = gw.get("/note.txt").await;
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(header(&resp, "content-length"), "16");
    assert_eq!(header(&resp, "content-type"), "text/plain; charset=utf-8");
    let last_modified = header(&resp, "last-modified").to_owned();
    assert_eq!(
        parse_imf_fixdate(&last_modified),
        Some(mtime_secs(&gw.disk("note.txt"))),
        "Last-Modified {last_modified:?} is not the file's mtime as an IMF-fixdate"
    );
    let etag = header(&resp, "etag").to_owned();
    assert!(
        etag.len() >= 3 && etag.ends_with('"') && (etag.starts_with('"') || etag.starts_with("W/\"")),
        "ETag is not an entity-tag: {etag:?}"
    );
    assert_eq!(body(resp).await, content);

    let resp = within("HEAD", STEP, gw.request(Method::HEAD, "/note.txt").send())
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(header(&resp, "content-length"), "16");
    assert_eq!(header(&resp, "content-type"), "text/plain; charset=utf-8");
    assert_eq!(header(&resp, "last-modified"), last_modified);
    assert_eq!(header(&resp, "etag"), etag);
    assert!(body(resp).await.is_empty(), "HEAD sent a body");

    let resp = within(
        "If-None-Match",
        STEP,
        gw.request(Method::GET, "/note.txt")
            .header("If-None-Match", &etag)
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(resp.status().as_u16(), 304, "If-None-Match with the current ETag");
    assert!(body(resp).await.is_empty());

    let resp = within(
        "If-Modified-Since",
        STEP,
        gw.request(Method::GET, "/note.txt")
            .header("If-Modified-Since", &last_modified)
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(
        resp.status().as_u16(),
        304,
        "If-Modified-Since with the current Last-Modified"
    );

    let resp = within(
        "Range",
        STEP,
        gw.request(Method::GET, "/note.txt").header("Range", "bytes=2-5").send(),
    )
    .await
    .unwrap();
    assert_eq!(resp.status().as_u16(), 206);
    assert_eq!(header(&resp, "content-range"), "bytes 2-5/16");
    assert_eq!(header(&resp, "content-length"), "4");
    assert_eq!(body(resp).await, b"2345");

    let resp = within(
        "unsatisfiable Range",
        STEP,
        gw.request(Method::GET, "/note.txt")
            .header("Range", "bytes=999999-")
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(resp.status().as_u16(), 416);
    assert_eq!(header(&resp, "content-range"), "bytes */16");
}

#[tokio::test]
async fn directory_listings_in_html_and_json() {
    let gw = Gateway::start_default().await;
    std::fs::create_dir_all(gw.disk("d/sub")).unwrap();
    assert_eq!(gw.put("/d/a.txt", b"12345".to_vec()).await, 201);
    assert_eq!(gw.put("/d/%3Cb%3E.txt", b"bold".to_vec()).await, 201);
    assert!(
        gw.disk("d/<b>.txt").is_file(),
        "the percent-decoded name was not stored as <b>.txt"
    );

    let resp = gw.get("/d/").await;
    assert_eq!(resp.status().as_u16(), 200);
    assert!(
        header(&resp, "content-type").starts_with("text/html"),
        "{:?}",
        resp.headers()
    );
    let html = String::from_utf8(body(resp).await).unwrap();
    assert!(html.contains("a.txt"), "{html}");
    assert!(html.contains("sub"), "{html}");
    assert!(
        html.contains("&lt;b&gt;.txt"),
        "the name <b>.txt is not escaped: {html}"
    );
    assert!(!html.contains("<b>.txt"), "raw <b>.txt in the HTML listing: {html}");

    let listing = gw.json_listing("/d/").await;
    let entries = listing
        .as_array()
        .unwrap_or_else(|| panic!("not a JSON array: {listing:?}"));
    assert_eq!(entries.len(), 3, "{listing:?}");
    let entry = |name: &str| -> &Value {
        entries
            .iter()
            .find(|e| e.get("name").and_then(Value::as_str) == Some(name))
            .unwrap_or_else(|| panic!("no {name:?} in {listing:?}"))
    };
    for e in entries {
        for key in ["name", "size", "modified", "is_dir"] {
            assert!(e.get(key).is_some(), "entry lacks {key}: {e:?}");
        }
        let modified = e.get("modified").unwrap().as_str().unwrap_or_else(|| panic!("{e:?}"));
        assert!(modified.ends_with('Z'), "modified is not UTC: {modified:?}");
        let secs = parse_rfc3339_utc(modified).unwrap_or_else(|| panic!("not RFC 3339: {modified:?}"));
        assert!(
            (secs - now_secs()).abs() < 3600,
            "modified is far from now: {modified:?}"
        );
    }
    let a = entry("a.txt");
    assert_eq!(a.get("size").unwrap().as_u64(), Some(5));
    assert_eq!(a.get("is_dir").unwrap().as_bool(), Some(false));
    assert_eq!(
        parse_rfc3339_utc(a.get("modified").unwrap().as_str().unwrap()),
        Some(mtime_secs(&gw.disk("d/a.txt"))),
        "modified is not the file's mtime"
    );
    assert_eq!(entry("<b>.txt").get("size").unwrap().as_u64(), Some(4));
    assert_eq!(entry("sub").get("is_dir").unwrap().as_bool(), Some(true));

    let resp = gw.get("/d").await;
    assert_eq!(resp.status().as_u16(), 301, "a directory without its slash");
    assert_eq!(header(&resp, "location"), "/d/");
}

#[tokio::test]
async fn paths_never_leave_the_root() {
    let gw = Gateway::start_default().await;
    std::os::unix::fs::symlink("/etc", gw.disk("etc-link")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", gw.disk("passwd-link")).unwrap();
    let auth = gw.basic_auth();
    let auth = [("Authorization", auth.as_str())];

    for target in [
        "/%2e%2e/%2e%2e/etc/passwd",
        "/../../etc/passwd",
        "/..%2f..%2f..%2fetc%2fpasswd",
        "/x/..%2f..%2f..%2f..%2fetc/passwd",
        "/%2e%2e%5c%2e%2e%5cetc%5cpasswd",
        "/%252e%252e/etc/passwd",
    ] {
        let resp = raw_http(gw.http_addr, "GET", target, &auth).await;
        assert_eq!(resp.status, 404, "GET {target}: {}", resp.text());
        assert!(
            !resp.text().contains("root:"),
            "GET {target} served the host's /etc/passwd"
        );
    }
    for target in ["/etc-link/passwd", "/passwd-link", "/etc-link/"] {
        let resp = raw_http(gw.http_addr, "GET", target, &auth).await;
        assert!(
            resp.status == 403 || resp.status == 404,
            "GET {target}: {} {}",
            resp.status,
            resp.text()
        );
        assert!(
            !resp.text().contains("root:"),
            "GET {target} served the host's /etc/passwd"
        );
        assert!(!resp.text().contains("passwd"), "GET {target} listed the host's /etc");
    }

    for target in ["/a%00b", "/a%0ab.txt", "/a%7fb"] {
        let resp = raw_http(gw.http_addr, "GET", target, &auth).await;
        assert_eq!(resp.status, 400, "GET {target}: {}", resp.text());
        let ctype = resp.header("content-type").unwrap_or_default();
        assert!(
            ctype.starts_with("text/plain"),
            "errors carry a plain-text body: {ctype:?}"
        );
    }
    let put = gw.put("/bad%01name.txt", b"x".to_vec()).await;
    assert_eq!(put, 400, "PUT of a name with a control character");
    let created: Vec<String> = gw
        .root_names()
        .into_iter()
        .filter(|n| n != "etc-link" && n != "passwd-link")
        .collect();
    assert!(created.is_empty(), "{created:?}");
}

#[tokio::test]
async fn delete_then_not_found() {
    let gw = Gateway::start_default().await;
    assert_eq!(gw.put("/gone.txt", b"bye".to_vec()).await, 201);
    let delete = || async {
        within("DELETE", STEP, gw.request(Method::DELETE, "/gone.txt").send())
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(delete().await, 204);
    assert!(!gw.disk("gone.txt").exists());
    assert_eq!(delete().await, 404);

    let resp = gw.get("/gone.txt").await;
    assert_eq!(resp.status().as_u16(), 404);
    assert!(
        header(&resp, "content-type").starts_with("text/plain"),
        "errors carry a plain-text body"
    );
    assert!(!body(resp).await.is_empty(), "errors carry a plain-text body");
}

#[tokio::test]
async fn unsupported_methods_are_refused_and_the_server_lives() {
    let gw = Gateway::start_default().await;
    assert_eq!(gw.put("/x.txt", b"x".to_vec()).await, 201);
    let resp = within("PATCH", STEP, gw.request(Method::PATCH, "/x.txt").body("y").send())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    assert!(status == 405 || status == 501, "PATCH: {status}");
    let auth = gw.basic_auth();
    let resp = raw_http(gw.http_addr, "BREW", "/x.txt", &[("Authorization", auth.as_str())]).await;
    assert!(
        resp.status == 405 || resp.status == 501,
        "BREW: {} {}",
        resp.status,
        resp.text()
    );

    assert_eq!(std::fs::read(gw.disk("x.txt")).unwrap(), b"x");
    let resp = gw.get("/x.txt").await;
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(body(resp).await, b"x");
}
