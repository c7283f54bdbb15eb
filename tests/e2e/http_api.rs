//! The HTTP API: Basic auth, PUT (201/204/409), GET and HEAD with their headers,
//! conditional requests (304), ranges (206/416), HTML and JSON directory listings
//! and the trailing-slash redirect, DELETE, unknown methods, and paths that try to
//! leave the root (sent byte for byte with [`raw_http`], since an URL library would
//! normalise `%2e%2e` before sending); undecodable paths with any method, request
//! head limits (431), header and keep-alive timeouts, and HTTP/2 by prior knowledge.

use reqwest::Method;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::dav::send;
use crate::support::{
    Gateway, GatewayOptions, STEP, now_secs, parse_imf_fixdate, parse_rfc3339_utc, poll_until, raw_http, raw_request,
    storage_kind, within,
};

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
    assert!(!gw.store().exists("x.txt"), "an unauthenticated PUT wrote a file");

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
    assert_eq!(gw.store().read("note.txt"), content);
    assert_eq!(
        gw.put("/missing/x.txt", b"x".to_vec()).await,
        409,
        "PUT into a missing parent"
    );
    assert!(!gw.store().exists("missing"));

    let resp = gw.get("/note.txt").await;
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(header(&resp, "content-length"), "16");
    assert_eq!(header(&resp, "content-type"), "text/plain; charset=utf-8");
    let last_modified = header(&resp, "last-modified").to_owned();
    let step = storage_kind().listed_time_step();
    assert_eq!(
        parse_imf_fixdate(&last_modified).map(|t| t / step),
        Some(gw.store().mtime_secs("note.txt") / step),
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
    gw.store().mkdir("d/sub");
    assert_eq!(gw.put("/d/a.txt", b"12345".to_vec()).await, 201);
    assert_eq!(gw.put("/d/%3Cb%3E.txt", b"bold".to_vec()).await, 201);
    assert!(
        gw.store().len("d/<b>.txt").is_some(),
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
    let step = storage_kind().listed_time_step();
    assert_eq!(
        parse_rfc3339_utc(a.get("modified").unwrap().as_str().unwrap()).map(|t| t / step),
        Some(gw.store().mtime_secs("d/a.txt") / step),
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
    let created = gw.store().names("");
    assert!(created.is_empty(), "{created:?}");
}

/// Symbolic links out of the root (placed on disk, as an administrator would)
/// are refused or not found, and never followed.
#[tokio::test]
async fn local_paths_through_links_never_leave_the_root() {
    let gw = Gateway::start_default().await;
    std::os::unix::fs::symlink("/etc", gw.disk("etc-link")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", gw.disk("passwd-link")).unwrap();
    let auth = gw.basic_auth();
    let auth = [("Authorization", auth.as_str())];
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
    assert!(!gw.store().exists("gone.txt"));
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

    assert_eq!(gw.store().read("x.txt"), b"x");
    let resp = gw.get("/x.txt").await;
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(body(resp).await, b"x");
}

#[tokio::test]
async fn undecodable_paths_are_refused_by_every_method() {
    let gw = Gateway::start_default().await;
    let auth = gw.basic_auth();
    // Invalid UTF-8 (a lone byte, a cut sequence, overlong `..`), encoded NUL and
    // controls: 400 whatever the method, and nothing is created.
    for target in [
        "/a%ffb",
        "/caf%C3",
        "/%c0%ae%c0%ae/etc/passwd",
        "/%e0%80%ae%e0%80%ae/x",
        "/a%00b",
        "/a%1bb",
    ] {
        for method in [
            "GET",
            "HEAD",
            "PUT",
            "DELETE",
            "MKCOL",
            "PROPFIND",
            "PROPPATCH",
            "OPTIONS",
        ] {
            let resp = raw_http(
                gw.http_addr,
                method,
                target,
                &[("Authorization", auth.as_str()), ("Depth", "0")],
            )
            .await;
            assert_eq!(resp.status, 400, "{method} {target}: {}", resp.text());
        }
    }
    // Raw control bytes in the request line are not HTTP at all.
    for target in ["/a\x01b", "/a\x7fb", "/a\tb"] {
        let request = format!(
            "GET {target} HTTP/1.1\r\nHost: {}\r\nAuthorization: {auth}\r\nConnection: close\r\n\r\n",
            gw.http_addr
        );
        let resp = raw_request(gw.http_addr, request.as_bytes()).await;
        assert_eq!(resp.status, 400, "GET {target:?}: {}", resp.text());
    }
    assert!(gw.store().names("").is_empty(), "{:?}", gw.store().names(""));
    assert_eq!(gw.get("/").await.status().as_u16(), 200);
}

/// A request head with `extra` added to its headers, as raw bytes.
fn request_with(gw: &Gateway, extra: &str) -> Vec<u8> {
    format!(
        "GET / HTTP/1.1\r\nHost: {}\r\nAuthorization: {}\r\n{extra}Connection: close\r\n\r\n",
        gw.http_addr,
        gw.basic_auth()
    )
    .into_bytes()
}

#[tokio::test]
async fn oversized_request_heads_are_refused_with_431() {
    let gw = Gateway::start_default().await;
    // The default limit is 16 KiB: 10 KiB of header passes, 32 KiB does not, nor
    // do 200 small headers.
    let ok = raw_request(
        gw.http_addr,
        &request_with(&gw, &format!("X-Pad: {}\r\n", "a".repeat(10 * 1024))),
    )
    .await;
    assert_eq!(ok.status, 200, "a 10 KiB header: {}", ok.text());
    let big = raw_request(
        gw.http_addr,
        &request_with(&gw, &format!("X-Big: {}\r\n", "a".repeat(32 * 1024))),
    )
    .await;
    assert_eq!(big.status, 431, "a 32 KiB header: {}", big.text());
    let many: String = (0..200).map(|i| format!("X-H{i}: v\r\n")).collect();
    let many = raw_request(gw.http_addr, &request_with(&gw, &many)).await;
    assert_eq!(many.status, 431, "200 headers: {}", many.text());
    // The head's bytes count as sent: blanks the parser drops around a value too
    // (connections read up to 256 KiB at a time, far over the limit).
    let padded = raw_request(
        gw.http_addr,
        &request_with(&gw, &format!("X-Pad: {}a\r\n", " ".repeat(32 * 1024))),
    )
    .await;
    assert_eq!(
        padded.status,
        431,
        "a header padded with 32 KiB of blanks: {}",
        padded.text()
    );

    // HTTP/2 has the same bound.
    let h2 = http2_client();
    let resp = within(
        "HTTP/2 GET with a 32 KiB header",
        STEP,
        h2.get(gw.url("/"))
            .basic_auth(&gw.user, Some(&gw.password))
            .header("X-Big", "a".repeat(32 * 1024))
            .send(),
    )
    .await;
    if let Ok(resp) = resp {
        assert_eq!(resp.status().as_u16(), 431, "HTTP/2 with a 32 KiB header");
    } // else: the stream or connection was reset, which refuses it too
    assert_eq!(gw.get("/").await.status().as_u16(), 200, "the server lives");
}

/// `http.max_headers` and `http.max_header_bytes` bound the request head,
/// whatever their values (here 20 fields and 2 KiB), on HTTP/1.1 and HTTP/2.
#[tokio::test]
async fn the_configured_head_limits_are_enforced() {
    let gw = Gateway::start(GatewayOptions::with_config(
        "http: { max_header_bytes: 2048, max_headers: 20 }\n",
    ))
    .await;
    let fields = |n: usize| -> String { (0..n).map(|i| format!("X-H{i}: v\r\n")).collect() };
    let ok = raw_request(gw.http_addr, &request_with(&gw, &fields(10))).await;
    assert_eq!(ok.status, 200, "13 header fields: {}", ok.text());
    let many = raw_request(gw.http_addr, &request_with(&gw, &fields(30))).await;
    assert_eq!(
        many.status,
        431,
        "33 header fields with max_headers: 20: {}",
        many.text()
    );

    let h2 = within(
        "HTTP/2 GET with a 5 KiB header",
        STEP,
        http2_client()
            .get(gw.url("/"))
            .basic_auth(&gw.user, Some(&gw.password))
            .header("X-Big", "a".repeat(5 * 1024))
            .send(),
    )
    .await;
    if let Ok(resp) = h2 {
        assert_eq!(
            resp.status().as_u16(),
            431,
            "HTTP/2, a 5 KiB header, max_header_bytes: 2048"
        );
    }

    let ok = raw_request(
        gw.http_addr,
        &request_with(&gw, &format!("X-Pad: {}\r\n", "a".repeat(512))),
    )
    .await;
    assert_eq!(ok.status, 200, "a head of about 1 KiB: {}", ok.text());
    let big = raw_request(
        gw.http_addr,
        &request_with(&gw, &format!("X-Big: {}\r\n", "a".repeat(5 * 1024))),
    )
    .await;
    assert_eq!(big.status, 431, "HTTP/1.1, a 5 KiB head with max_header_bytes: 2048");
}

/// Idle and header timeouts: 2 s in these tests.
const SHORT_IDLE: &str = "limits: { idle_timeout: 2s }\n";

/// Reads until the server closes the connection (EOF or reset); what it sent.
/// Panics when it is still open after [`STEP`].
async fn until_closed(stream: &mut tokio::net::TcpStream, what: &str) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    within(what, STEP, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    got
}

/// Sends `first`, then `each` every `every_ms` until the server closes the
/// connection (which must happen within [`STEP`]): what the server sent, and how
/// long after `first` it closed.
async fn dribble_until_closed(
    stream: tokio::net::TcpStream,
    first: &'static [u8],
    each: &'static [u8],
    every_ms: u64,
    what: &str,
) -> (Vec<u8>, std::time::Duration) {
    let start = std::time::Instant::now();
    let (mut reader, mut writer) = stream.into_split();
    let drip = tokio::spawn(async move {
        if writer.write_all(first).await.is_err() {
            return;
        }
        while writer.write_all(each).await.is_ok() {
            tokio::time::sleep(std::time::Duration::from_millis(every_ms)).await;
        }
    });
    let mut got = Vec::new();
    within(what, STEP, reader.read_to_end(&mut got)).await.ok();
    drip.abort();
    (got, start.elapsed())
}

#[tokio::test]
async fn a_silent_connection_is_closed_after_the_idle_timeout() {
    let gw = Gateway::start(GatewayOptions::with_config(SHORT_IDLE)).await;
    let mut stream = within("connect", STEP, tokio::net::TcpStream::connect(gw.http_addr))
        .await
        .unwrap();
    let got = until_closed(
        &mut stream,
        "the server to close a connection that sends nothing (idle_timeout 2s)",
    )
    .await;
    assert!(
        got.is_empty() || got.starts_with(b"HTTP/1.1 408"),
        "{:?}",
        String::from_utf8_lossy(&got)
    );
}

#[tokio::test]
async fn a_request_head_sent_slowly_is_cut_off() {
    let gw = Gateway::start(GatewayOptions::with_config(SHORT_IDLE)).await;
    let stream = within("connect", STEP, tokio::net::TcpStream::connect(gw.http_addr))
        .await
        .unwrap();
    // One byte of a never-ending header every 200 ms: the head is never complete,
    // but bytes keep coming, so only a bound on the whole head ends it.
    let (got, _) = dribble_until_closed(
        stream,
        b"GET / HTTP/1.1\r\nX-Slow: ",
        b"a",
        200,
        "the server to cut off a head sent one byte every 200 ms (idle_timeout 2s)",
    )
    .await;
    assert!(
        got.is_empty() || got.starts_with(b"HTTP/1.1 408") || got.starts_with(b"HTTP/1.1 400"),
        "{:?}",
        String::from_utf8_lossy(&got)
    );
}

/// Reads one response with a `Content-Length` body from a kept-alive connection.
async fn read_response(stream: &mut tokio::net::TcpStream) -> (u16, Vec<u8>) {
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    within("a response on a kept-alive connection", STEP, async {
        loop {
            if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .map_or(0, |v| v.trim().parse().unwrap());
                if raw.len() >= end + 4 + len {
                    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
                    return (status, raw[end + 4..end + 4 + len].to_vec());
                }
            }
            let n = stream.read(&mut buf).await.expect("reading a response");
            assert!(n > 0, "the connection closed before the response was complete");
            raw.extend_from_slice(&buf[..n]);
        }
    })
    .await
}

/// A connection to `gw` and a request for its `k.txt` (which holds `kept`).
async fn kept_alive(gw: &Gateway) -> (tokio::net::TcpStream, String) {
    gw.store().put("k.txt", b"kept");
    let stream = within("connect", STEP, tokio::net::TcpStream::connect(gw.http_addr))
        .await
        .unwrap();
    let request = format!(
        "GET /k.txt HTTP/1.1\r\nHost: {}\r\nAuthorization: {}\r\n\r\n",
        gw.http_addr,
        gw.basic_auth()
    );
    (stream, request)
}

#[tokio::test]
async fn keep_alive_connections_serve_requests_then_close_when_idle() {
    let gw = Gateway::start(GatewayOptions::with_config(SHORT_IDLE)).await;
    let (mut stream, request) = kept_alive(&gw).await;
    for i in 0..3 {
        within("request", STEP, stream.write_all(request.as_bytes()))
            .await
            .unwrap();
        assert_eq!(read_response(&mut stream).await, (200, b"kept".to_vec()), "request {i}");
    }
    let rest = until_closed(
        &mut stream,
        "the server to close an idle keep-alive connection (idle_timeout 2s)",
    )
    .await;
    assert!(rest.is_empty(), "{:?}", String::from_utf8_lossy(&rest));
}

/// Between requests an idle HTTP/1.1 connection is taken out of hyper and waits
/// with no buffer: pipelined requests, a request arriving in pieces and requests
/// after idle pauses are all served on the one connection, the idle timeout runs
/// from the last response, and empty lines (no request) do not extend it.
#[tokio::test]
async fn idle_keep_alive_connections_resume_and_still_time_out() {
    let gw = Gateway::start(GatewayOptions::with_config(SHORT_IDLE)).await;
    let (mut stream, request) = kept_alive(&gw).await;
    // Two requests in one write: two responses.
    within(
        "pipelined requests",
        STEP,
        stream.write_all(format!("{request}{request}").as_bytes()),
    )
    .await
    .unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    within("two pipelined responses", STEP, async {
        while raw.windows(8).filter(|w| w == b"\r\n\r\nkept").count() < 2 {
            let n = stream.read(&mut buf).await.expect("reading the responses");
            assert!(n > 0, "closed after {:?}", String::from_utf8_lossy(&raw));
            raw.extend_from_slice(&buf[..n]);
        }
    })
    .await;
    assert_eq!(raw.windows(15).filter(|w| w == b"HTTP/1.1 200 OK").count(), 2);
    // One request in three pieces, 300 ms apart.
    for piece in request.as_bytes().chunks(request.len() / 3 + 1) {
        within("a piece of a request", STEP, stream.write_all(piece))
            .await
            .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    assert_eq!(
        read_response(&mut stream).await,
        (200, b"kept".to_vec()),
        "request in pieces"
    );
    // Pauses under the idle timeout (2 s), longer than it all together.
    for i in 0..3 {
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        within("request", STEP, stream.write_all(request.as_bytes()))
            .await
            .unwrap();
        assert_eq!(
            read_response(&mut stream).await,
            (200, b"kept".to_vec()),
            "after pause {i}"
        );
    }
    // Empty lines every 300 ms: the connection still closes at the idle timeout.
    let (got, held) = dribble_until_closed(
        stream,
        b"",
        b"\r\n",
        300,
        "the server to close a connection sending only empty lines (idle_timeout 2s)",
    )
    .await;
    assert!(
        held < std::time::Duration::from_secs(6),
        "empty lines held an idle connection {held:?}"
    );
    assert!(
        got.is_empty() || got.starts_with(b"HTTP/1.1 408"),
        "{:?}",
        String::from_utf8_lossy(&got)
    );
}

/// A client that speaks HTTP/2 without upgrade or ALPN (prior knowledge).
fn http2_client() -> reqwest::Client {
    crate::support::tls::install_provider();
    reqwest::Client::builder()
        .no_proxy()
        .http2_prior_knowledge()
        .connect_timeout(STEP)
        .read_timeout(STEP)
        .build()
        .unwrap()
}

#[tokio::test]
async fn http2_with_prior_knowledge() {
    let gw = Gateway::start_default().await;
    let data = crate::support::random_bytes(100_000);
    gw.store().put("h2.bin", &data);
    let h2 = http2_client();
    let req = |method: &str, path: &str| {
        h2.request(crate::support::dav::method_of(method), gw.url(path))
            .basic_auth(&gw.user, Some(&gw.password))
    };

    let r = send(req("GET", "/h2.bin")).await;
    assert_eq!(r.version, reqwest::Version::HTTP_2);
    assert_eq!(r.status, 200);
    assert!(r.body == data, "GET over HTTP/2 differs from the file");
    let r = send(req("GET", "/h2.bin").header("Range", "bytes=10-19")).await;
    assert_eq!((r.status, r.header("content-range")), (206, Some("bytes 10-19/100000")));
    assert_eq!(r.body, &data[10..20]);

    // PUT, then WebDAV: PROPFIND, and a COPY whose absolute Destination names
    // this server by its :authority (HTTP/2 has no Host header).
    let r = send(req("PUT", "/up.txt").body("over h2")).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let r = send(req("PROPFIND", "/").header("Depth", "1")).await;
    let listed: Vec<String> = r.multistatus("PROPFIND over HTTP/2").iter().map(|r| r.path()).collect();
    assert!(listed.contains(&"/up.txt".to_owned()), "{listed:?}");
    let r = send(req("COPY", "/up.txt").header("Destination", gw.url("/copied.txt"))).await;
    assert_eq!(r.status, 201, "COPY over HTTP/2: {}", r.text());
    assert_eq!(gw.store().read("copied.txt"), b"over h2");
    let r = send(req("COPY", "/up.txt").header("Destination", "http://example.com/x.txt")).await;
    assert_eq!(r.status, 502, "COPY to another server over HTTP/2: {}", r.text());
}

/// A PUT body on local disk is written as it arrives, in batches, not held
/// back: after the client pauses, what it sent is already in the upload's
/// temporary file (which the stale-upload sweep judges by its writes); and a
/// body sent in many odd-sized pieces is stored byte for byte.
#[tokio::test]
async fn local_a_put_body_is_in_the_file_as_it_arrives() {
    let gw = Gateway::start(GatewayOptions::default()).await;
    let data = crate::support::random_bytes(3 * 1024 * 1024 + 777);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let body = reqwest::Body::wrap_stream(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)));
    let put = gw.request(Method::PUT, "/pieces.bin").body(body).send();
    let put = tokio::spawn(put);

    // The first 100,000 bytes in pieces of 1 to 3,000 bytes, then a pause.
    let (first, rest) = data.split_at(100_000);
    let mut sizes = (1..3000usize).cycle();
    let mut feed = |part: &[u8]| {
        let mut pieces = Vec::new();
        let mut at = 0;
        while at < part.len() {
            let n = sizes.next().unwrap().min(part.len() - at);
            pieces.push(part[at..at + n].to_vec());
            at += n;
        }
        pieces
    };
    for piece in feed(first) {
        tx.send(Ok(piece)).await.unwrap();
    }
    let root = gw.root().to_owned();
    poll_until("the first bytes in the temporary file", STEP, || {
        let written = std::fs::read_dir(&root).unwrap().flatten().any(|e| {
            e.file_name().to_string_lossy().starts_with(".dualgate-upload-")
                && e.metadata().is_ok_and(|m| m.len() == first.len() as u64)
        });
        async move { written }
    })
    .await;
    for piece in feed(rest) {
        tx.send(Ok(piece)).await.unwrap();
    }
    drop(tx);
    let status = within("the PUT's answer", STEP, put).await.unwrap().unwrap().status();
    assert_eq!(status, 201);
    assert!(
        std::fs::read(gw.disk("pieces.bin")).unwrap() == data,
        "the stored bytes differ"
    );
}
