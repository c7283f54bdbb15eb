//! Issue #13, HTTP part: each test fails on the server before the fix.
//!
//! - Clients that send credentials only when challenged can log in while
//!   anonymous access is on: what anonymous may not do is 401 with the
//!   challenge (403 stays for a logged-in user without the permission; FTP
//!   says 550 to anonymous as before).
//! - Unusable `Authorization` headers are 401 (two of them 400), never
//!   anonymous, and they do not count as failed logins.
//! - User files are served so that they cannot act as the site (`nosniff`,
//!   `Content-Security-Policy: sandbox`); the listing page has a policy of
//!   its own that allows exactly its inline style sheet and script.
//! - Framing: a transfer coding other than chunked is 501 and nothing is
//!   stored; `Host` missing (HTTP/1.1) or doubled is 400; HTTP/1.0 without
//!   `Host` and HTTP/2 still work; `OPTIONS *` is 204 with `Allow` and `DAV`.
//! - A request body trickled slower than the pace rule allows is answered
//!   408 (or cut) within a bounded time, and nothing is stored.
//! - `USER ANONYMOUS`, `USER Ftp` (any case) are anonymous logins over FTP,
//!   never counted as failures; an account of exactly such a name comes first.

use std::time::{Duration, Instant};

use reqwest::Method;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::dav::{Reply, send};
use crate::support::http::base64;
use crate::support::{
    Gateway, GatewayOptions, STEP, hash_password, metric_value, poll_until, raw_http, raw_request, within,
};

fn basic(user: &str, password: &str) -> String {
    basic_bytes(format!("{user}:{password}").as_bytes())
}

fn basic_bytes(user_colon_password: &[u8]) -> String {
    format!("Basic {}", base64(user_colon_password))
}

/// The embedded user `dualgate`, a read-only user `reader` at home in /shared,
/// and anonymous read access to /pub, which holds `p.txt`.
async fn anonymous_gateway(extra: &str) -> Gateway {
    let config = format!(
        "users:\n  - {{ name: dualgate, password_hash: \"{}\" }}\n  - {{ name: reader, password_hash: \"{}\", home: /shared, permissions: [read] }}\nanonymous: {{ enabled: true, home: /pub }}\n{extra}",
        hash_password("dualgate-pw"),
        hash_password("reader-pw"),
    );
    let mut gw = Gateway::start(GatewayOptions::with_config(&config)).await;
    gw.password = "dualgate-pw".to_owned();
    gw.store().put("pub/p.txt", b"public");
    gw.store().put("shared/s.txt", b"shared");
    gw
}

/// A request to make: method, path, headers and body.
type Request<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>, Option<&'a str>);

fn challenge_of(r: &Reply) -> String {
    r.header("www-authenticate").unwrap_or_default().to_ascii_lowercase()
}

/// Item 1: a request without credentials that anonymous may not do is 401 with
/// the challenge; the same request with credentials then succeeds (what litmus,
/// cadaver, `curl --anyauth` and browsers do). Reads anonymous may do stay
/// anonymous; a logged-in user without the permission still gets 403.
#[tokio::test]
async fn anonymous_refusals_challenge_so_that_clients_can_log_in() {
    let gw = anonymous_gateway("").await;
    let dest = gw.url("/copy.txt");
    let proppatch = r#"<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><x:c xmlns:x="urn:x">v</x:c></D:prop></D:set></D:propertyupdate>"#;
    let writes: Vec<Request<'_>> = vec![
        ("PUT", "/new.txt", vec![], Some("x")),
        ("MKCOL", "/newdir", vec![], None),
        ("DELETE", "/p.txt", vec![], None),
        ("COPY", "/p.txt", vec![("Destination", dest.as_str())], None),
        ("MOVE", "/p.txt", vec![("Destination", dest.as_str())], None),
        ("PROPPATCH", "/p.txt", vec![], Some(proppatch)),
    ];
    for (method, path, headers, body) in &writes {
        let mut req = gw.anonymous(crate::support::dav::method_of(method), path);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(body) = body {
            req = req.body(body.to_string());
        }
        let r = send(req).await;
        assert_eq!(r.status, 401, "anonymous {method} {path}: {}", r.text());
        assert!(
            challenge_of(&r).starts_with("basic realm="),
            "anonymous {method} {path}: no challenge in {:?}",
            r.headers
        );
    }
    assert_eq!(gw.store().read("pub/p.txt"), b"public");
    assert!(!gw.store().exists("pub/new.txt") && !gw.store().exists("pub/newdir"));

    // What anonymous may do needs no login, and a missing file in /pub is just missing.
    assert_eq!(send(gw.anonymous(Method::GET, "/p.txt")).await.status, 200);
    assert_eq!(send(gw.anonymous(Method::OPTIONS, "/")).await.status, 204);
    let r = send(
        gw.anonymous(crate::support::dav::method_of("PROPFIND"), "/")
            .header("Depth", "1"),
    )
    .await;
    assert_eq!(r.status, 207, "{}", r.text());
    let r = send(gw.anonymous(Method::GET, "/missing.txt")).await;
    assert_eq!(r.status, 404, "{}", r.text());

    // The client answers the challenge: the same requests now succeed.
    let r = send(gw.request(Method::PUT, "/new.txt").body("x")).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let r = send(gw.dav("MKCOL", "/newdir")).await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert!(gw.store().exists("new.txt") && gw.store().is_dir("newdir"));

    // A logged-in user without the permission: 403, and no challenge.
    let reader = basic("reader", "reader-pw");
    for (method, path) in [("PUT", "/w.txt"), ("DELETE", "/s.txt"), ("MKCOL", "/d")] {
        let r = raw_http(
            gw.http_addr,
            method,
            path,
            &[("Authorization", &reader), ("Content-Length", "0")],
        )
        .await;
        assert_eq!(r.status, 403, "reader {method} {path}: {}", r.text());
        assert_eq!(r.header("www-authenticate"), None, "reader {method} {path}");
    }

    // FTP: anonymous write attempts stay 550.
    let mut anon = gw.raw_ftp().await;
    anon.expect("USER anonymous", 331).await;
    anon.expect("PASS guest@example.com", 230).await;
    anon.expect("DELE p.txt", 550).await;
    anon.expect("MKD d", 550).await;
    anon.expect("RNFR p.txt", 550).await;
}

/// Item 2: an `Authorization` header that cannot be used is 401 (two of them
/// 400) — even for a file anonymous could read — and none of them counts as a
/// failed login: far more of them than `ban_after` leave the address free.
#[tokio::test]
async fn unusable_credentials_are_refused_and_not_taken_as_anonymous() {
    let gw = anonymous_gateway("limits: { login_failures: { delay_after: 1, ban_after: 3, ban_for: 15m } }\n").await;
    let long_password = format!("dualgate:{}", "a".repeat(4096));
    let long_user = format!("{}:pw", "u".repeat(300));
    let unusable = [
        "Bearer x".to_owned(),
        "Basic !!!!".to_owned(),
        "Basic".to_owned(),
        "Digest username=\"dualgate\"".to_owned(),
        basic_bytes(b"\0dualgate:dualgate-pw"),
        basic_bytes(b"\xffdualgate:dualgate-pw"),
        basic_bytes(b"no colon"),
        basic_bytes(long_password.as_bytes()),
        basic_bytes(long_user.as_bytes()),
    ];
    for value in &unusable {
        let r = raw_http(gw.http_addr, "GET", "/p.txt", &[("Authorization", value)]).await;
        let shown: String = value.chars().take(40).collect();
        assert_eq!(r.status, 401, "Authorization: {shown}: {}", r.text());
        assert!(
            r.header("www-authenticate")
                .is_some_and(|c| c.to_ascii_lowercase().starts_with("basic realm=")),
            "Authorization: {shown}: no challenge: {:?}",
            r.headers
        );
        assert_ne!(r.text(), "public", "Authorization: {shown}: served as anonymous");
    }
    // Two headers, even two good ones: which would count? 400.
    let good = basic("dualgate", "dualgate-pw");
    let r = raw_http(
        gw.http_addr,
        "GET",
        "/p.txt",
        &[("Authorization", &good), ("Authorization", &good)],
    )
    .await;
    assert_eq!(r.status, 400, "two Authorization headers: {}", r.text());

    // Not one of them was a failed login: no ban, no failure counted.
    let r = raw_http(gw.http_addr, "GET", "/pub/p.txt", &[("Authorization", &good)]).await;
    assert_eq!(
        r.status,
        200,
        "the right password after the unusable headers: {}",
        r.text()
    );
    let metrics = gw.metrics().await;
    assert_eq!(
        metric_value(&metrics, "dualgate_logins_total", &[("result", "failure")]).unwrap_or(0.0),
        0.0,
        "{metrics}"
    );
    assert_eq!(
        metric_value(&metrics, "dualgate_logins_total", &[("result", "banned")]).unwrap_or(0.0),
        0.0,
        "{metrics}"
    );
}

fn csp_of(r: &Reply) -> &str {
    r.header("content-security-policy").unwrap_or_default()
}

fn assert_user_content(r: &Reply, what: &str) {
    assert_eq!(
        r.header("x-content-type-options"),
        Some("nosniff"),
        "{what}: {:?}",
        r.headers
    );
    let sandboxed = csp_of(r).split(';').any(|d| d.trim().eq_ignore_ascii_case("sandbox"));
    assert!(sandboxed, "{what}: not sandboxed: {:?}", r.headers);
}

/// The `'sha256-…'` source of an inline element's text.
fn csp_hash(text: &str) -> String {
    format!("'sha256-{}'", base64(&Sha256::digest(text.as_bytes())))
}

/// The text between `open` and `close` in `page`.
fn between<'p>(page: &'p str, open: &str, close: &str) -> &'p str {
    let start = page.find(open).unwrap_or_else(|| panic!("no {open} in the page")) + open.len();
    let len = page[start..]
        .find(close)
        .unwrap_or_else(|| panic!("no {close} in the page"));
    &page[start..start + len]
}

/// The sources a CSP directive allows.
fn directive<'c>(csp: &'c str, name: &str) -> Vec<&'c str> {
    csp.split(';')
        .map(str::trim)
        .find_map(|d| d.strip_prefix(name).filter(|rest| rest.starts_with(' ')))
        .map(|rest| rest.split_whitespace().collect())
        .unwrap_or_default()
}

/// Item 3: an uploaded HTML page is served sandboxed and never sniffed, in
/// every form a file is served; the listing page has a policy of its own that
/// allows its own inline style sheet and script (by hash) and nothing else.
#[tokio::test]
async fn user_files_are_sandboxed_and_the_listing_has_its_own_policy() {
    let gw = Gateway::start_default().await;
    let page = b"<!DOCTYPE html><script>fetch('/secret.txt').then(r=>r.text()).then(alert)</script>";
    assert_eq!(gw.put("/x.html", page.to_vec()).await, 201);

    let r = send(gw.request(Method::GET, "/x.html")).await;
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap_or_default().starts_with("text/html"));
    assert_user_content(&r, "GET x.html");
    let r = send(gw.request(Method::HEAD, "/x.html")).await;
    assert_user_content(&r, "HEAD x.html");
    let r = send(gw.request(Method::GET, "/x.html").header("Range", "bytes=0-9")).await;
    assert_eq!(r.status, 206);
    assert_user_content(&r, "GET x.html, one range");
    let r = send(gw.request(Method::GET, "/x.html").header("Range", "bytes=0-1,5-6")).await;
    assert_eq!(r.status, 206);
    assert!(
        r.header("content-type")
            .unwrap_or_default()
            .starts_with("multipart/byteranges")
    );
    assert_user_content(&r, "GET x.html, two ranges");
    let etag = send(gw.request(Method::HEAD, "/x.html"))
        .await
        .header("etag")
        .unwrap()
        .to_owned();
    let r = send(gw.request(Method::GET, "/x.html").header("If-None-Match", etag)).await;
    assert_eq!(r.status, 304);
    assert_user_content(&r, "GET x.html, not modified");

    // The listing runs its own script and style, and nothing else.
    let r = send(gw.request(Method::GET, "/")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    let csp = csp_of(&r).to_owned();
    let html = r.text();
    assert!(html.contains("x.html"), "{html}");
    assert_eq!(directive(&csp, "default-src"), ["'none'"], "{csp}");
    assert_eq!(
        directive(&csp, "style-src"),
        [csp_hash(between(&html, "<style>", "</style>")).as_str()],
        "{csp}"
    );
    assert_eq!(
        directive(&csp, "script-src"),
        [csp_hash(between(&html, "<script>", "</script>")).as_str()],
        "{csp}"
    );
    assert!(!csp.contains("sandbox") && !csp.contains("unsafe"), "{csp}");

    // Every other response says nosniff too: JSON, XML, errors, challenges.
    let json = send(gw.request(Method::GET, "/").header("Accept", "application/json")).await;
    let xml = send(gw.dav("PROPFIND", "/").header("Depth", "0")).await;
    let missing = send(gw.request(Method::GET, "/missing")).await;
    let challenge = send(gw.anonymous(Method::GET, "/x.html")).await;
    let options = send(gw.dav("OPTIONS", "/")).await;
    for (r, what) in [
        (&json, "JSON listing"),
        (&xml, "PROPFIND"),
        (&missing, "404"),
        (&challenge, "401"),
        (&options, "OPTIONS"),
    ] {
        assert_eq!(
            r.header("x-content-type-options"),
            Some("nosniff"),
            "{what}: {:?}",
            r.headers
        );
    }
    assert_eq!((missing.status, challenge.status), (404, 401));
}

/// HTTP requests counted by the metrics so far, whatever their result.
async fn http_commands(gw: &Gateway) -> f64 {
    metric_value(&gw.metrics().await, "dualgate_commands_total", &[("protocol", "http")]).unwrap_or(0.0)
}

/// Item 4: framing the server does not serve is refused through the pipeline
/// (counted like any request), nothing undecoded is stored, and what the RFCs
/// allow still works: HTTP/1.0 without `Host`, HTTP/2, `OPTIONS *`.
#[tokio::test]
async fn framing_is_checked_and_options_asterisk_describes_the_server() {
    let gw = Gateway::start_default().await;
    let (addr, auth) = (gw.http_addr, gw.basic_auth());
    let before = http_commands(&gw).await;

    let put = |te: &str, name: &str| {
        format!(
            "PUT /{name} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {auth}\r\nTransfer-Encoding: {te}\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
        )
    };
    let r = raw_request(addr, put("gzip, chunked", "gz.txt").as_bytes()).await;
    assert_eq!(r.status, 501, "Transfer-Encoding: gzip, chunked: {}", r.text());
    let r = raw_request(addr, put("chunked", "plain.txt").as_bytes()).await;
    assert_eq!(r.status, 201, "Transfer-Encoding: chunked: {}", r.text());
    assert_eq!(gw.store().read("plain.txt"), b"hello");
    assert!(!gw.store().exists("gz.txt"), "a body in an unknown coding was stored");
    gw.store().assert_no_pending_uploads();

    // RFC 9112 §3.2: Host is required on HTTP/1.1, at most once, and valid.
    for (what, hosts) in [
        ("no Host", String::new()),
        ("two Host headers", format!("Host: {addr}\r\nHost: {addr}\r\n")),
        ("an invalid Host", "Host: exa mple.com\r\n".to_owned()),
    ] {
        let request = format!("GET / HTTP/1.1\r\n{hosts}Authorization: {auth}\r\nConnection: close\r\n\r\n");
        let r = raw_request(addr, request.as_bytes()).await;
        assert_eq!(r.status, 400, "{what}: {}", r.text());
    }
    // HTTP/1.0 may leave Host out.
    let r = raw_request(
        addr,
        format!("GET /plain.txt HTTP/1.0\r\nAuthorization: {auth}\r\n\r\n").as_bytes(),
    )
    .await;
    assert_eq!(
        (r.status, r.body.as_slice()),
        (200, b"hello".as_slice()),
        "HTTP/1.0 without Host"
    );

    // `OPTIONS *` describes the server, and needs no login.
    let r = raw_request(
        addr,
        format!("OPTIONS * HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await;
    assert_eq!(r.status, 204, "OPTIONS *: {}", r.text());
    assert!(
        r.header("allow").is_some_and(|a| a.contains("PROPFIND")),
        "{:?}",
        r.headers
    );
    assert_eq!(r.header("dav"), Some("1, 2"), "{:?}", r.headers);

    // Every one of these seven requests went through the pipeline, the refused
    // ones (501, 3 × 400) included: each was counted.
    let after = http_commands(&gw).await;
    assert_eq!(after - before, 7.0, "HTTP requests counted: {before} → {after}");

    // HTTP/2 names the server in :authority, not Host: still served.
    let h2 = reqwest::Client::builder()
        .no_proxy()
        .http2_prior_knowledge()
        .connect_timeout(STEP)
        .read_timeout(STEP)
        .build()
        .unwrap();
    let r = send(h2.get(gw.url("/plain.txt")).basic_auth(&gw.user, Some(&gw.password))).await;
    assert_eq!((r.version, r.status), (reqwest::Version::HTTP_2, 200));
    let r = send(
        h2.put(gw.url("/h2.txt"))
            .basic_auth(&gw.user, Some(&gw.password))
            .body("over h2"),
    )
    .await;
    assert_eq!(r.status, 201, "PUT over HTTP/2: {}", r.text());
}

/// Item 5: with `data_timeout: 2s`, a body trickled a byte every 300 ms (never
/// idle for 2 s, so a per-read timeout would let it run for ever) is answered
/// 408 or cut within a bounded time, and nothing of it is stored. A body at a
/// normal pace is not affected.
#[tokio::test]
async fn a_trickled_body_is_cut_off_and_nothing_is_stored() {
    let gw = Gateway::start(GatewayOptions::with_config("limits: { data_timeout: 2s }\n")).await;
    let data = crate::support::random_bytes(1 << 20);
    assert_eq!(gw.put("/fast.bin", data.clone()).await, 201);
    assert_eq!(gw.store().read("fast.bin"), data);

    let mut stream = within("HTTP connect", STEP, tokio::net::TcpStream::connect(gw.http_addr))
        .await
        .unwrap();
    let head = format!(
        "PUT /slow.bin HTTP/1.1\r\nHost: {}\r\nAuthorization: {}\r\nContent-Length: 100000\r\n\r\n",
        gw.http_addr,
        gw.basic_auth()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let trickle = tokio::spawn(async move {
        for _ in 0..200 {
            if writer.write_all(b"x").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    });
    let started = Instant::now();
    let mut answer = Vec::new();
    within(
        "the server to answer or close a trickled body (data_timeout 2s)",
        Duration::from_secs(15),
        async {
            let mut buf = [0u8; 4096];
            while let Ok(n) = reader.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                answer.extend_from_slice(&buf[..n]);
            }
        },
    )
    .await;
    trickle.abort();
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408 "),
        "after {:?}: {answer}",
        started.elapsed()
    );
    poll_until(
        "the aborted upload to leave nothing",
        Duration::from_secs(5),
        || async { !gw.store().exists("slow.bin") && gw.store().pending_uploads().is_none_or(|p| p.is_empty()) },
    )
    .await;
    gw.store().assert_no_pending_uploads();
}

/// Item 6: `USER ANONYMOUS`, `USER Ftp` and other cases of the anonymous names
/// log in anonymously, and are no failed logins (more of them than `ban_after`
/// leave the address free); an account named exactly `Anonymous` is that
/// account, with its own password.
#[tokio::test]
async fn anonymous_names_log_in_in_any_case() {
    let config = format!(
        "users:\n  - {{ name: Anonymous, password_hash: \"{}\" }}\nanonymous: {{ enabled: true, home: /pub }}\nlimits: {{ login_failures: {{ delay_after: 5, ban_after: 3, ban_for: 15m }} }}\n",
        hash_password("account-pw")
    );
    let gw = Gateway::start(GatewayOptions::with_config(&config)).await;
    gw.store().put("pub/p.txt", b"public");
    for name in ["ANONYMOUS", "anonymous", "aNoNyMoUs", "FTP", "Ftp", "ftp"] {
        let mut c = gw.raw_ftp().await;
        let text = c.expect(&format!("USER {name}"), 331).await;
        assert!(text.contains("Guest"), "USER {name}: {text}");
        c.expect("PASS guest@example.com", 230).await;
        assert_eq!(c.expect("SIZE p.txt", 213).await, "213 6", "USER {name}");
        c.expect("DELE p.txt", 550).await;
    }
    // The account "Anonymous": its password, not anonymous.
    let mut c = gw.raw_ftp().await;
    c.expect("USER Anonymous", 331).await;
    c.expect("PASS guest@example.com", 530).await;
    c.expect("USER Anonymous", 331).await;
    c.expect("PASS account-pw", 230).await;
    c.expect("SIZE pub/p.txt", 213).await;
    // Over HTTP the same names are anonymous too.
    let r = raw_http(
        gw.http_addr,
        "GET",
        "/p.txt",
        &[("Authorization", &basic("FTP", "guest"))],
    )
    .await;
    assert_eq!((r.status, r.text().as_str()), (200, "public"));
    let metrics = gw.metrics().await;
    assert_eq!(
        metric_value(&metrics, "dualgate_logins_total", &[("result", "failure")]).unwrap_or(0.0),
        1.0,
        "only the wrong password of the account counts: {metrics}"
    );
}

/// `PUT` with `If-None-Match: *` creates and never replaces, also when two
/// clients race for one new name: exactly one gets 201 and its bytes are
/// stored; the other gets 412 — whether it lost at the up-front check or at the
/// commit, where the back-end enforces it (an object store's conditional write).
#[tokio::test]
async fn racing_create_only_puts_have_exactly_one_winner() {
    let gw = Gateway::start_default().await;
    for round in 0..3 {
        let name = format!("/race-{round}.bin");
        let bodies = [vec![b'a'; 6 << 20], vec![b'b'; 6 << 20]];
        let put = |body: Vec<u8>| send(gw.request(Method::PUT, &name).header("If-None-Match", "*").body(body));
        let (first, second) = tokio::join!(put(bodies[0].clone()), put(bodies[1].clone()));
        let mut statuses = [first.status, second.status];
        statuses.sort_unstable();
        assert_eq!(statuses, [201, 412], "round {round}");
        let winner = if first.status == 201 { &bodies[0] } else { &bodies[1] };
        assert_eq!(
            &gw.store().read(&name[1..]),
            winner,
            "round {round}: the winner's bytes"
        );
        // And a later create-only PUT of the name fails its precondition.
        let late = send(gw.request(Method::PUT, &name).header("If-None-Match", "*").body("late")).await;
        assert_eq!(late.status, 412, "round {round}");
    }
}

/// A request refused before its body is read (here a failed `If-Match` on a
/// file that does not exist) ends its connection with a lingering close: the
/// server sends its answer and FIN, then reads and drops what the client still
/// sends for a moment. Closing with the body unread made the kernel reset the
/// connection: a client still sending failed with a broken pipe (reqwest then
/// reports "error sending request", not the `412`), and the reset can reach
/// the client before it has read the answer.
#[tokio::test]
async fn a_refusal_before_the_body_reaches_a_client_still_sending_it() {
    let gw = Gateway::start_default().await;
    let (addr, auth) = (gw.http_addr, gw.basic_auth());
    let length = 64 << 20;
    for round in 0..3 {
        let mut stream = within("HTTP connect", STEP, tokio::net::TcpStream::connect(addr))
            .await
            .unwrap();
        let head = format!(
            "PUT /refused-{round}.bin HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {auth}\r\nIf-Match: \"no-such-tag\"\r\nContent-Length: {length}\r\n\r\n"
        );
        within("request head", STEP, stream.write_all(head.as_bytes()))
            .await
            .unwrap();
        // Time for the answer to be sent and the connection closed before most of
        // the body arrives.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let piece = vec![b'x'; 64 << 10];
        for sent in (0..8 << 20).step_by(piece.len()) {
            within("request body", STEP, stream.write_all(&piece))
                .await
                .unwrap_or_else(|e| panic!("round {round}: sending the body after {sent} bytes: {e}"));
        }
        let mut answer = vec![0u8; 4096];
        let n = within("answer", STEP, stream.read(&mut answer)).await.unwrap();
        let text = String::from_utf8_lossy(&answer[..n]);
        assert!(text.starts_with("HTTP/1.1 412 "), "round {round}: {text}");
        assert!(
            !gw.store().exists(&format!("refused-{round}.bin")),
            "round {round}: nothing stored"
        );
    }
}

/// Issue #16 item 6: a request target carrying `#` is refused with 400 before
/// any handler runs — hyper would otherwise hand the handlers the target with
/// the fragment cut off, and `DELETE /dir/#x` would delete `/dir/`. A `#` in a
/// header or a body (plain or chunked, pipelined before the next request) is
/// data and passes untouched.
#[tokio::test]
async fn a_request_target_with_a_hash_is_refused_and_bodies_keep_theirs() {
    let gw = Gateway::start_default().await;
    let (addr, auth) = (gw.http_addr, gw.basic_auth());
    gw.store().mkdir("dir");
    gw.store().put("dir/keep.txt", b"kept");

    for target in ["/dir/#x", "/dir/%23x#", "/dir?a=1#frag"] {
        let r = raw_request(
            addr,
            format!("DELETE {target} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {auth}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await;
        assert_eq!(r.status, 400, "DELETE {target}: {}", r.text());
        assert_eq!(
            gw.store().read("dir/keep.txt"),
            b"kept",
            "DELETE {target} reached a handler"
        );
    }

    // One connection: a PUT whose body is a request line with `#`, a chunked PUT
    // with `#` in its data and trailer, then the refused DELETE.
    let body = format!("DELETE /dir/#x HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    let pipelined = format!(
        "PUT /dir/plain.txt HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {auth}\r\nX-Note: #1\r\nContent-Length: {}\r\n\r\n{body}\
PUT /dir/chunked.txt HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {auth}\r\nTransfer-Encoding: chunked\r\n\r\n3;x=#\r\n#a#\r\n0\r\nX-T: #\r\n\r\n\
DELETE /dir/#x HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {auth}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let mut stream = within("HTTP connect", STEP, tokio::net::TcpStream::connect(addr))
        .await
        .unwrap();
    within("HTTP send", STEP, stream.write_all(pipelined.as_bytes()))
        .await
        .unwrap();
    let mut raw = Vec::new();
    within("HTTP responses", STEP, stream.read_to_end(&mut raw))
        .await
        .unwrap();
    let raw = String::from_utf8_lossy(&raw);
    let statuses: Vec<&str> = raw
        .lines()
        .filter(|l| l.starts_with("HTTP/1.1 "))
        .map(|l| &l[9..12])
        .collect();
    assert_eq!(statuses, ["201", "201", "400"], "{raw}");
    assert_eq!(gw.store().read("dir/plain.txt"), body.as_bytes());
    assert_eq!(gw.store().read("dir/chunked.txt"), b"#a#");
    assert_eq!(gw.store().read("dir/keep.txt"), b"kept");
}
