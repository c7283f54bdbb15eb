//! Hostile HTTP/1.x and WebDAV requests and HTTP/2 frames, generated from a seed and
//! written over raw TCP (no client library normalises them first).
//!
//! A request the generator frames completely (`Content-Length` bodies of their
//! length, chunked bodies ended, or no body) must get a valid status line
//! (`HTTP/1.x ddd`) within the step timeout, whatever else is wrong with it: bad
//! methods, targets, versions, headers, ranges, percent-encodings, chunk sizes,
//! XML that is huge, deeply nested or full of entity tricks. A request cut short on
//! purpose (a body shorter than announced) is sent and the connection dropped: the
//! server must simply let go of it. HTTP/2 connections send the preface, garbage
//! frames and then one valid request; the server must answer with frames of valid
//! framing and end with the response or a GOAWAY.

use std::net::SocketAddr;

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, RngCore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::STEP;
use crate::support::http::base64;

/// What the campaign counted over HTTP.
#[derive(Debug, Default, Clone)]
pub struct HttpTally {
    /// HTTP/1.x requests sent whole.
    pub requests: u64,
    /// Requests cut short on purpose and dropped.
    pub truncated: u64,
    /// HTTP/2 connections with garbage frames.
    pub h2_connections: u64,
    /// Requests whose sending failed because the server answered early and closed
    /// (a reset before the answer could be read).
    pub reset_while_sending: u64,
    /// Responses by class (1xx … 5xx at index 1 … 5).
    pub by_class: [u64; 6],
    /// Problems seen.
    pub findings: Vec<String>,
}

/// Methods no handler knows, malformed ones, and (from `dualgate::metrics::KNOWN_COMMANDS`)
/// every method and FTP verb the server does know.
const ODD_METHODS: &[&str] = &[
    "PATCH", "TRACE", "CONNECT", "get", "G\u{c9}T", "GET\0", "SEARCH", "REPORT", "ACL", "BIND", "X",
];

/// A generated HTTP/1.x request: its bytes and whether it is framed completely.
pub struct Generated {
    /// The bytes to send.
    pub bytes: Vec<u8>,
    /// False when the body is cut short on purpose (no answer is owed).
    pub complete: bool,
}

/// A request target: out-of-root tricks, bad encodings, long paths, the campaign's names.
pub(super) fn target(rng: &mut StdRng, token: &str) -> String {
    let n = rng.random_range(0..18u8);
    match n {
        0 => "/".to_owned(),
        1 => "*".to_owned(),
        2 => "/%2e%2e/%2e%2e/etc/passwd".to_owned(),
        3 => "/..%2f..%2f".to_owned(),
        4 => "/%00".to_owned(),
        5 => "/%ff%fe%c0%af".to_owned(),
        6 => "/%".to_owned(),
        7 => "/%zz".to_owned(),
        8 => format!("//{token}//x"),
        9 => format!("http://evil.example/{token}"),
        10 => format!("/{}", "a/".repeat(rng.random_range(1..3000))),
        11 => format!("/{token}?{}", "q".repeat(rng.random_range(0..9000))),
        12 => "/%2F%2F%2F".to_owned(),
        13 => format!("/{token}-{}/..;/x", rng.random_range(0..20u8)),
        14 => "/\u{e9}t\u{e9}".to_owned(),
        _ => format!("/{token}-{}", rng.random_range(0..20u8)),
    }
}

fn range_value(rng: &mut StdRng) -> String {
    match rng.random_range(0..12u8) {
        0 => "bytes=0-0".to_owned(),
        1 => "bytes=-1".to_owned(),
        2 => "bytes=5-1".to_owned(),
        3 => "bytes=99999999999999999999-".to_owned(),
        4 => "bytes=0-1,2-3,4-5".to_owned(),
        5 => format!(
            "bytes={}",
            (0..2000).map(|i| format!("{i}-{i}")).collect::<Vec<_>>().join(",")
        ),
        6 => "bytes=".to_owned(),
        7 => "items=0-1".to_owned(),
        8 => "bytes=-0".to_owned(),
        9 => format!("bytes={}", (0..500).map(|_| "0-,").collect::<String>()),
        10 => "bytes=18446744073709551615-18446744073709551615".to_owned(),
        _ => format!("bytes={}-{}", rng.random_range(0..100u32), rng.random_range(0..100u32)),
    }
}

/// A request header, most of them with odd or hostile values.
pub(super) fn header(rng: &mut StdRng, token: &str, auth: &str) -> (String, String) {
    match rng.random_range(0..20u8) {
        0 => ("Range".into(), range_value(rng)),
        1 => (
            "If-Match".into(),
            ["*", "\"x\"", "W/\"x\"", "\"", ",,,", "\"a\", W/"]
                .choose(rng)
                .copied()
                .unwrap_or("*")
                .into(),
        ),
        2 => (
            "If-None-Match".into(),
            ["*", "\"x\"", "garbage"].choose(rng).copied().unwrap_or("*").into(),
        ),
        3 => (
            "If-Modified-Since".into(),
            [
                "Sun, 06 Nov 1994 08:49:37 GMT",
                "yesterday",
                "Sun, 99 Nov 9999 99:99:99 GMT",
            ]
            .choose(rng)
            .copied()
            .unwrap_or("x")
            .into(),
        ),
        4 => (
            "If-Range".into(),
            ["\"x\"", "W/\"x\"", "Sun, 06 Nov 1994 08:49:37 GMT", ""]
                .choose(rng)
                .copied()
                .unwrap_or("")
                .into(),
        ),
        5 => (
            "Depth".into(),
            ["0", "1", "infinity", "2", "-1", ""]
                .choose(rng)
                .copied()
                .unwrap_or("0")
                .into(),
        ),
        6 => (
            "Destination".into(),
            [
                format!("/{token}-dst"),
                "/../../../tmp/x".to_owned(),
                format!("http://other.example/{token}"),
                "http://u:p@127.0.0.1/x".to_owned(),
                "%%%".to_owned(),
                "/%2e%2e/%2e%2e/escape".to_owned(),
                String::new(),
            ]
            .choose(rng)
            .cloned()
            .unwrap_or_default(),
        ),
        7 => (
            "Overwrite".into(),
            ["T", "F", "X", ""].choose(rng).copied().unwrap_or("T").into(),
        ),
        8 => (
            "Authorization".into(),
            [
                format!("Basic {}", base64(b"nobody:wrong")),
                "Basic !!!".to_owned(),
                "Bearer x".to_owned(),
                "Basic".to_owned(),
                format!("Basic {}", base64(&vec![b'a'; 3000])),
                auth.to_owned(),
            ]
            .choose(rng)
            .cloned()
            .unwrap_or_default(),
        ),
        9 => (
            "Content-Type".into(),
            [
                "application/xml",
                "text/xml; charset=\"utf-16\"",
                "multipart/form-data; boundary=",
                "\0",
            ]
            .choose(rng)
            .copied()
            .unwrap_or("")
            .into(),
        ),
        10 => ("X-Long".into(), "v".repeat(rng.random_range(1000..40_000))),
        11 => (
            "Expect".into(),
            ["100-continue", "200-ok"].choose(rng).copied().unwrap_or("").into(),
        ),
        12 => (
            "Accept".into(),
            ["application/json", "*/*", "text/html;q=x"]
                .choose(rng)
                .copied()
                .unwrap_or("")
                .into(),
        ),
        13 => (
            "Host".into(),
            ["", "a b", "[::1", "127.0.0.1:99999"]
                .choose(rng)
                .copied()
                .unwrap_or("")
                .into(),
        ),
        14 => ("Lock-Token".into(), "<opaquelocktoken:x>".into()),
        15 => ("If".into(), "(<opaquelocktoken:x> [\"e\"])".into()),
        16 => (
            "X-Bytes".into(),
            (0..32).map(|_| char::from(rng.random_range(0x20..0x7fu8))).collect(),
        ),
        17 => ("Timeout".into(), "Second-99999999999999".into()),
        18 => ("Accept-Encoding".into(), "gzip, br".into()),
        _ => ("Cookie".into(), "a=b; ".repeat(rng.random_range(1..200))),
    }
}

/// A WebDAV/XML body: huge, deeply nested, entity tricks, or plain garbage.
fn xml_body(rng: &mut StdRng) -> Vec<u8> {
    match rng.random_range(0..10u8) {
        0 => b"<?xml version=\"1.0\"?><D:propfind xmlns:D=\"DAV:\"><D:allprop/></D:propfind>".to_vec(),
        1 => {
            let depth = rng.random_range(33..20_000);
            let mut s = "<a xmlns=\"DAV:\">".repeat(depth);
            s.push_str(&"</a>".repeat(depth));
            s.into_bytes()
        }
        2 => {
            // Billion laughs.
            let mut s = String::from("<?xml version=\"1.0\"?><!DOCTYPE d [<!ENTITY a \"aaaaaaaaaa\">");
            for i in 1..10 {
                s.push_str(&format!("<!ENTITY a{i} \"{}\">", format!("&a{};", i - 1).replace("&a0;", "&a;").repeat(10)));
            }
            s.push_str("]><D:propfind xmlns:D=\"DAV:\"><D:prop><D:x>&a9;</D:x></D:prop></D:propfind>");
            s.into_bytes()
        }
        3 => b"<?xml version=\"1.0\"?><!DOCTYPE d [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><D:propertyupdate xmlns:D=\"DAV:\"><D:set><D:prop><x xmlns=\"u:\">&e;</x></D:prop></D:set></D:propertyupdate>".to_vec(),
        4 => {
            let n = rng.random_range(4000..40_000);
            let mut s = String::from("<D:propertyupdate xmlns:D=\"DAV:\"><D:set><D:prop>");
            for i in 0..n {
                s.push_str(&format!("<p{i} xmlns=\"u:\">v</p{i}>"));
            }
            s.push_str("</D:prop></D:set></D:propertyupdate>");
            s.into_bytes()
        }
        5 => {
            let mut s = String::from("<D:propertyupdate xmlns:D=\"DAV:\"><D:set><D:prop><x xmlns=\"u:\">");
            s.push_str(&"v".repeat(rng.random_range(100_000..2_000_000)));
            s.push_str("</x></D:prop></D:set></D:propertyupdate>");
            s.into_bytes()
        }
        6 => {
            let len = rng.random_range(1..4096);
            let mut v = vec![0u8; len];
            rng.fill_bytes(&mut v);
            v
        }
        7 => b"<D:propfind xmlns:D=\"DAV:\"><D:prop><D:getetag/><x:y xmlns:x=\"\"/></D:prop></D:propfind>".to_vec(),
        8 => b"<D:lockinfo xmlns:D=\"DAV:\"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>".to_vec(),
        _ => "<D:propfind xmlns:D=\"DAV:\"><D:prop>&#0;&#xD800;&lt;&amp;&unknown;</D:prop></D:propfind>".as_bytes().to_vec(),
    }
}

/// Frames `body` in chunks; sometimes with a framing error (still complete on
/// the wire: the server must answer, not wait).
fn chunked(rng: &mut StdRng, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for piece in body.chunks(rng.random_range(1..8192usize)) {
        out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        out.extend_from_slice(piece);
        out.extend_from_slice(b"\r\n");
    }
    match rng.random_range(0..8u8) {
        0 => out.extend_from_slice(b"zz\r\n\r\n"),
        1 => out.extend_from_slice(b"ffffffffffffffffffff\r\n"),
        2 => out.extend_from_slice(b"0;ext=\"\0\"\r\n\r\n"),
        3 => out.extend_from_slice(b"0\r\nX-Trailer: a\r\nbad trailer\r\n\r\n"),
        4 => out.extend_from_slice(b"-1\r\n\r\n"),
        _ => out.extend_from_slice(b"0\r\n\r\n"),
    }
    out
}

/// One generated HTTP/1.x request.
pub fn request(rng: &mut StdRng, token: &str, auth: &str) -> Generated {
    // The server's list holds the FTP verbs, then the HTTP methods from GET on.
    let known = dualgate::metrics::KNOWN_COMMANDS;
    let http_methods = &known[known.iter().position(|m| *m == "GET").unwrap_or(0)..];
    let method = match rng.random_range(0..20u8) {
        0..3 => ODD_METHODS,
        3..8 => known,
        _ => http_methods,
    }
    .choose(rng)
    .copied()
    .unwrap_or("GET");
    // A LOCK that succeeds is state the server must keep (for up to an hour): the
    // writes of the correct client after the campaign would then, rightly, be
    // refused as locked. LOCK bodies and `If` headers are covered by proto-http's
    // property tests and tests/e2e/webdav_locks.rs; here LOCK becomes an unknown method.
    let method = if method == "LOCK" { "LOCKX" } else { method };
    let method = if rng.random_bool(0.02) {
        "M".repeat(rng.random_range(100..20_000))
    } else {
        method.to_owned()
    };
    let version = match rng.random_range(0..20u8) {
        0 => "HTTP/1.0",
        1 => "HTTP/2.0",
        2 => "HTTP/1.2",
        3 => "HTTP/1",
        4 => "http/1.1",
        _ => "HTTP/1.1",
    };
    let mut head = format!("{method} {} {version}\r\n", target(rng, token));
    match rng.random_range(0..20u8) {
        0 => {}
        1 => head.push_str("Host: a\r\nHost: b\r\n"),
        _ => head.push_str("Host: 127.0.0.1\r\n"),
    }
    if rng.random_bool(0.7) {
        head.push_str(&format!("Authorization: {auth}\r\n"));
    }
    for _ in 0..rng.random_range(0..6u8) {
        let (k, v) = header(rng, token, auth);
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    match rng.random_range(0..40u8) {
        0 => head.push_str("X-Fold: a\r\n b\r\n"),
        1 => head.push_str("Bad Header: x\r\n"),
        2 => head.push_str(": empty name\r\n"),
        3 => head.push_str(&"X-Many: 1\r\n".repeat(rng.random_range(100..400))),
        4 => head.push_str("X-Nul: a\0b\r\n"),
        5 => head.push_str("X-Bare-CR: a\rb\r\n"),
        _ => {}
    }
    head.push_str("Connection: close\r\n");
    let body: Vec<u8> = match rng.random_range(0..10u8) {
        0..4 => Vec::new(),
        4..8 => xml_body(rng),
        _ => {
            let mut v = vec![0u8; rng.random_range(0..70_000usize)];
            rng.fill_bytes(&mut v);
            v
        }
    };
    let mut complete = true;
    let mut bytes = head.into_bytes();
    match rng.random_range(0..12u8) {
        0..6 => {
            bytes.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
            bytes.extend_from_slice(&body);
        }
        6..9 => {
            bytes.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
            bytes.extend(chunked(rng, &body));
        }
        9 => {
            // Conflicting framing headers: refused outright.
            let te = ["chunked", "gzip", "chunked, chunked", "identity", "gzip, chunked"]
                .choose(rng)
                .copied()
                .unwrap_or("gzip");
            bytes.extend_from_slice(
                format!("Transfer-Encoding: {te}\r\nContent-Length: {}\r\n\r\n", body.len()).as_bytes(),
            );
            bytes.extend_from_slice(&body);
        }
        10 => {
            let cl = ["-1", "1, 2", "99999999999999999999999", "0x10", ""]
                .choose(rng)
                .copied()
                .unwrap_or("-1");
            bytes.extend_from_slice(format!("Content-Length: {cl}\r\n\r\n").as_bytes());
        }
        _ => {
            // Announces more than it sends, then goes away.
            bytes.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len() + 1000).as_bytes());
            bytes.extend_from_slice(&body);
            complete = false;
        }
    }
    Generated { bytes, complete }
}

/// Sends one request and checks the answer; a finding on failure.
/// How one exchange ended.
pub enum Outcome {
    /// A response with this status.
    Status(u16),
    /// Cut short on purpose; nothing owed.
    Dropped,
    /// Sending failed (the server closed first) and nothing could be read.
    ResetWhileSending,
}

/// Sends one request and checks the answer; a finding on failure.
pub async fn exchange(addr: SocketAddr, req: &Generated) -> Result<Outcome, String> {
    let mut s = tokio::time::timeout(STEP, TcpStream::connect(addr))
        .await
        .map_err(|_| "HTTP connect timed out".to_owned())?
        .map_err(|e| format!("HTTP connect: {e}"))?;
    // The server may answer (400, 413, 431) and close before reading it all.
    let write = tokio::time::timeout(STEP, s.write_all(&req.bytes)).await;
    if !req.complete {
        return Ok(Outcome::Dropped);
    }
    let write_failed = match write {
        Err(_) => return Err("the server stopped reading a request without answering (10 s)".to_owned()),
        Ok(r) => r.is_err(),
    };
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let read = tokio::time::timeout(STEP, async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => {
                    raw.extend_from_slice(&buf[..n]);
                    if raw.len() > 64 << 20 {
                        break;
                    }
                }
                Err(_) => break, // a reset after the response
            }
        }
    })
    .await;
    if write_failed && raw.is_empty() {
        return Ok(Outcome::ResetWhileSending);
    }
    if read.is_err() && !raw.windows(4).any(|w| w == b"\r\n\r\n") {
        return Err(format!(
            "no complete response head within 10 s to {:?}",
            String::from_utf8_lossy(&req.bytes[..req.bytes.len().min(200)])
        ));
    }
    status_line(&raw).map(Outcome::Status).map_err(|e| {
        format!(
            "{e} for {:?}",
            String::from_utf8_lossy(&req.bytes[..req.bytes.len().min(200)])
        )
    })
}

/// The status code of a response that starts `HTTP/1.x ddd` and has a header end.
fn status_line(raw: &[u8]) -> Result<u16, String> {
    let end = raw.windows(2).position(|w| w == b"\r\n").ok_or_else(|| {
        format!(
            "no status line: {:?}",
            String::from_utf8_lossy(&raw[..raw.len().min(100)])
        )
    })?;
    let line = std::str::from_utf8(&raw[..end]).map_err(|_| "status line not UTF-8".to_owned())?;
    let rest = line
        .strip_prefix("HTTP/1.1 ")
        .or_else(|| line.strip_prefix("HTTP/1.0 "))
        .ok_or_else(|| format!("bad status line {line:?}"))?;
    let code = rest
        .get(..3)
        .and_then(|c| c.parse::<u16>().ok())
        .filter(|c| (100..600).contains(c));
    let code = code.ok_or_else(|| format!("bad status code in {line:?}"))?;
    if rest.len() > 3 && !rest[3..].starts_with(' ') {
        return Err(format!("bad status line {line:?}"));
    }
    if !raw.windows(4).any(|w| w == b"\r\n\r\n") {
        return Err(format!("response head never ends: {line:?}"));
    }
    Ok(code)
}

/// An HTTP/2 frame header and payload.
pub(super) fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    f.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// HPACK: a literal header field without indexing, new name, no Huffman.
pub(super) fn hpack_literal(out: &mut Vec<u8>, name: &str, value: &str) {
    out.push(0);
    out.push(u8::try_from(name.len()).unwrap_or(0x7f));
    out.extend_from_slice(name.as_bytes());
    out.push(u8::try_from(value.len()).unwrap_or(0x7f));
    out.extend_from_slice(value.as_bytes());
}

/// One HTTP/2 connection of random frames (see [`h2_exchange`]).
pub async fn h2_garbage(rng: &mut StdRng, addr: SocketAddr, auth: &str) -> Result<(), String> {
    let mut middle = Vec::new();
    for _ in 0..rng.random_range(0..8u8) {
        let kind = rng.random_range(0..12u8);
        let flags = rng.random::<u8>();
        let stream = rng.random_range(0..1000u32);
        let mut payload = vec![0u8; rng.random_range(0..64usize)];
        rng.fill_bytes(&mut payload);
        let mut f = frame(kind, flags, stream, &payload);
        if rng.random_bool(0.1) {
            f[0] = 0xff; // a length over the maximum frame size
        }
        middle.extend(f);
    }
    h2_exchange(addr, &middle, auth).await
}

/// One HTTP/2 connection: preface, SETTINGS, the frames `middle` (client stream
/// ids below `0x7fff_0001`), then a valid GET on stream `0x7fff_0001`. Every frame
/// the server sends must be framed validly; the connection must end with the GET's
/// response or a GOAWAY, within the step timeout.
pub async fn h2_exchange(addr: SocketAddr, middle: &[u8], auth: &str) -> Result<(), String> {
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    out.extend(frame(4, 0, 0, &[]));
    out.extend_from_slice(middle);
    let mut block = Vec::new();
    hpack_literal(&mut block, ":method", "GET");
    hpack_literal(&mut block, ":scheme", "http");
    hpack_literal(&mut block, ":path", "/");
    hpack_literal(&mut block, ":authority", "127.0.0.1");
    hpack_literal(&mut block, "authorization", auth);
    out.extend(frame(1, 0x4 | 0x1, 0x7fff_0001, &block));
    let mut s = tokio::time::timeout(STEP, TcpStream::connect(addr))
        .await
        .map_err(|_| "h2 connect timed out".to_owned())?
        .map_err(|e| format!("h2 connect: {e}"))?;
    let _ = tokio::time::timeout(STEP, s.write_all(&out)).await;
    let mut raw = Vec::new();
    let ended = tokio::time::timeout(STEP, async {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => raw.extend_from_slice(&buf[..n]),
            }
            if h2_done(&raw) {
                return;
            }
        }
    })
    .await;
    // Every complete frame must be well formed; the first one a SETTINGS frame.
    let mut rest = &raw[..];
    let mut first = true;
    while rest.len() >= 9 {
        let len = (usize::from(rest[0]) << 16) | (usize::from(rest[1]) << 8) | usize::from(rest[2]);
        if len > 16_384 {
            return Err(format!("h2 frame over 16 KiB from the server (type {})", rest[3]));
        }
        if first && rest[3] != 4 {
            return Err(format!("h2: first server frame is type {}, not SETTINGS", rest[3]));
        }
        first = false;
        if rest.len() < 9 + len {
            break;
        }
        rest = &rest[9 + len..];
    }
    if ended.is_err() {
        return Err("h2: neither a response nor GOAWAY nor a close within 10 s".to_owned());
    }
    Ok(())
}

/// True when the server's frames so far hold a GOAWAY or the response HEADERS
/// for the final stream.
fn h2_done(raw: &[u8]) -> bool {
    let mut rest = raw;
    while rest.len() >= 9 {
        let len = (usize::from(rest[0]) << 16) | (usize::from(rest[1]) << 8) | usize::from(rest[2]);
        if rest.len() < 9 + len {
            return false;
        }
        let stream = u32::from_be_bytes([rest[5], rest[6], rest[7], rest[8]]) & 0x7fff_ffff;
        if rest[3] == 7 || (stream == 0x7fff_0001 && (rest[3] == 1 || rest[3] == 3)) {
            return true;
        }
        rest = &rest[9 + len..];
    }
    false
}

#[cfg(test)]
mod self_tests {
    use super::*;

    #[test]
    fn status_lines_are_checked() {
        assert_eq!(status_line(b"HTTP/1.1 200 OK\r\n\r\n"), Ok(200));
        assert_eq!(status_line(b"HTTP/1.0 400 \r\nA: b\r\n\r\n"), Ok(400));
        assert!(status_line(b"HTTP/1.1 20 OK\r\n\r\n").is_err());
        assert!(status_line(b"HTTP/1.1 200 OK\r\n").is_err());
        assert!(status_line(b"garbage\r\n\r\n").is_err());
        assert!(status_line(b"").is_err());
    }

    #[test]
    fn h2_frames_are_framed() {
        let f = frame(7, 0, 0, &[0; 8]);
        assert_eq!(f.len(), 17);
        assert!(h2_done(&f));
        assert!(!h2_done(&frame(4, 0, 0, &[])));
    }
}
