//! Hostile HTTP/2 (prior knowledge, cleartext), generated from a seed, two ways:
//!
//! - through the `h2` crate, which frames correctly but lets a client misbehave at
//!   the stream level: hundreds of concurrent streams of garbage requests, a burst
//!   of streams reset as soon as they are opened (the "rapid reset" attack), header
//!   lists far over `http.max_header_bytes`, a reader that never opens its flow
//!   control window and then vanishes, uploads whose body disagrees with their
//!   `content-length` or is cut by a reset or a dropped connection;
//! - as raw frames written after a valid preface ([`malformed`]): bad or missing
//!   pseudo-headers, connection-specific headers, broken HPACK, frames on the wrong
//!   stream or of the wrong length, bad SETTINGS, window overflows, CONTINUATION
//!   floods, PING and SETTINGS floods.
//!
//! Every wait is bounded by [`STEP`]: a stream neither answered nor reset, or a
//! connection that neither answers nor ends, within it is a hung session (a
//! finding). Whatever the `h2` client library itself rejects in the server's frames
//! (an error it raises as a GOAWAY or reset of its own) is a finding too. The
//! uploads that never completed are returned, so the campaign can check afterwards
//! that none of them appeared under its name.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use h2::Reason;
use h2::client::{self, SendRequest};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, RngCore};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

use super::http_requests::{self, frame, hpack_literal};
use crate::support::STEP;

/// Body bytes read from one response at most; the stream is reset after that.
const READ_CAP: usize = 256 * 1024;
/// `http.max_header_bytes` and `http.max_headers` as the campaign runs them (the
/// defaults).
const MAX_HEADER_BYTES: usize = 16 * 1024;
const MAX_HEADERS: usize = 100;

/// What the HTTP/2 part of the campaign counted.
#[derive(Debug, Default, Clone)]
pub struct H2Tally {
    /// Connections through the `h2` crate.
    pub connections: u64,
    /// Requests opened on them.
    pub streams: u64,
    /// Responses received (any status).
    pub answered: u64,
    /// Streams the server reset or refused, or cut by its GOAWAY.
    pub refused: u64,
    /// Streams the client reset itself.
    pub client_resets: u64,
    /// Connections of raw malformed frames.
    pub raw_connections: u64,
    /// Malformed frame sequences sent on them.
    pub malformed: u64,
    /// Uploads cut short (name, declared length): none may appear in the root.
    pub cut_uploads: Vec<String>,
    /// Problems seen.
    pub findings: Vec<String>,
}

/// The file every scenario may read (written by the campaign before it starts).
pub const BIG_FILE: &str = "/big.bin";
/// Its length.
pub const BIG_LEN: usize = 1 << 20;

/// Runs `budget` scenarios, one connection each, one after the other.
pub async fn run(rng: &mut StdRng, addr: SocketAddr, token: &str, auth: &str, budget: u64) -> H2Tally {
    let mut t = H2Tally::default();
    for i in 0..budget {
        if t.findings.len() >= 20 {
            break;
        }
        let r = match rng.random_range(0..12u8) {
            0..3 => streams(rng, addr, token, auth, &mut t).await,
            3 => rapid_reset(rng, addr, auth, &mut t).await,
            4 => huge_headers(rng, addr, auth, &mut t).await,
            5 => slow_reader(rng, addr, auth, &mut t).await,
            6..8 => cut_upload(rng, addr, token, auth, i, &mut t).await,
            _ => {
                t.raw_connections += 1;
                malformed(rng, addr, auth, &mut t).await
            }
        };
        if let Err(e) = r {
            t.findings.push(e);
        }
    }
    t
}

/// A correct client: GET `path` with `headers` on a connection of its own; the
/// status and the whole body.
pub async fn get(
    addr: SocketAddr,
    auth: &str,
    path: &str,
    headers: &[(String, String)],
) -> Result<(u16, Vec<u8>), String> {
    let conn = connect(addr, &client::Builder::new(), &mut H2Tally::default()).await?;
    let mut s = bounded("h2 stream slot", conn.send.clone().ready())
        .await?
        .map_err(|e| format!("h2 GET {path}: {e}"))?;
    let (fut, _) = s
        .send_request(request("GET", path, Some(auth), headers), true)
        .map_err(|e| format!("h2 GET {path}: {e}"))?;
    let got = answer_up_to(fut, "h2 GET of a correct client", 64 << 20)
        .await?
        .ok_or_else(|| format!("h2 GET {path}: the stream was reset"))?;
    drop(s);
    conn.close("h2 correct client").await?;
    Ok(got)
}

/// A finding when the client library itself rejected the server's frames (its
/// own GOAWAY or reset); `Ok(true)` when the server reset the stream or went
/// away (an acceptable answer to garbage), `Ok(false)` for our own doing.
fn judge(e: &h2::Error, what: &str) -> Result<bool, String> {
    if e.is_library() {
        return Err(format!("{what}: the h2 client found the server's frames invalid: {e}"));
    }
    Ok(e.is_remote() || e.is_io() || e.is_go_away() || e.reason().is_some())
}

/// Bounded wait; the error names what hung.
async fn bounded<F: std::future::Future>(what: &str, fut: F) -> Result<F::Output, String> {
    tokio::time::timeout(STEP, fut)
        .await
        .map_err(|_| format!("h2 hung session: {what} not done within 10 s"))
}

/// A connection through the `h2` crate and the task driving it.
struct Conn {
    send: SendRequest<Bytes>,
    driver: JoinHandle<Result<(), h2::Error>>,
}

async fn connect(addr: SocketAddr, builder: &client::Builder, t: &mut H2Tally) -> Result<Conn, String> {
    t.connections += 1;
    let tcp = bounded("h2 connect", TcpStream::connect(addr))
        .await?
        .map_err(|e| format!("h2 connect: {e}"))?;
    let (send, conn) = bounded("h2 handshake", builder.handshake::<_, Bytes>(tcp))
        .await?
        .map_err(|e| format!("h2 handshake: {e}"))?;
    Ok(Conn {
        send,
        driver: tokio::spawn(conn),
    })
}

impl Conn {
    /// Lets go of the connection gracefully: it must then end within the step.
    async fn close(self, what: &str) -> Result<(), String> {
        drop(self.send);
        finish(self.driver, what).await
    }

    /// Drops the TCP connection without a word (the driver owns the socket).
    fn abort(self) {
        self.driver.abort();
    }
}

/// Waits for a connection whose handles are all dropped to end.
async fn finish(driver: JoinHandle<Result<(), h2::Error>>, what: &str) -> Result<(), String> {
    match bounded(&format!("{what}: connection end"), driver).await? {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => judge(&e, what).map(|_| ()),
        Err(e) => Err(format!("{what}: h2 driver task: {e}")),
    }
}

/// A request the `http` crate accepts: `path` and headers that it refuses are
/// replaced (those bytes go out as raw frames in [`malformed`]).
fn request(method: &str, path: &str, auth: Option<&str>, headers: &[(String, String)]) -> http::Request<()> {
    let method = http::Method::from_bytes(method.as_bytes()).unwrap_or(http::Method::GET);
    let uri = format!("http://127.0.0.1{path}")
        .parse::<http::Uri>()
        .unwrap_or_else(|_| http::Uri::from_static("http://127.0.0.1/"));
    let mut req = http::Request::builder().method(method).uri(uri);
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    for (k, v) in headers {
        let (Ok(k), Ok(v)) = (
            http::HeaderName::from_bytes(k.as_bytes()),
            http::HeaderValue::from_bytes(v.as_bytes()),
        ) else {
            continue;
        };
        // Connection-specific headers are refused by the h2 client itself.
        if ["connection", "transfer-encoding", "keep-alive", "upgrade", "te", "host"].contains(&k.as_str()) {
            continue;
        }
        req = req.header(k, v);
    }
    req.body(()).unwrap_or_default()
}

/// Awaits a response and reads (at most [`READ_CAP`] of) its body, releasing flow
/// control as it goes. `Ok(Some((status, body)))`, `Ok(None)` when the stream was
/// reset or refused, a finding when it hung or the frames were invalid.
async fn answer(fut: client::ResponseFuture, what: &str) -> Result<Option<(u16, Vec<u8>)>, String> {
    answer_up_to(fut, what, READ_CAP).await
}

/// [`answer`] with a cap of `cap` bytes.
async fn answer_up_to(fut: client::ResponseFuture, what: &str, cap: usize) -> Result<Option<(u16, Vec<u8>)>, String> {
    let resp = match bounded(what, fut).await? {
        Ok(r) => r,
        Err(e) => return judge(&e, what).map(|_| None),
    };
    let status = resp.status().as_u16();
    let mut body = resp.into_body();
    let mut got = Vec::new();
    loop {
        match bounded(&format!("{what}: body"), body.data()).await? {
            None => break,
            Some(Ok(chunk)) => {
                let _ = body.flow_control().release_capacity(chunk.len());
                got.extend_from_slice(&chunk);
                if got.len() >= cap {
                    got.truncate(cap);
                    break; // dropping the body resets the stream
                }
            }
            Some(Err(e)) => return judge(&e, what).map(|_| None),
        }
    }
    Ok(Some((status, got)))
}

/// A tally of one stream's answer.
fn count(t: &mut H2Tally, r: &Result<Option<(u16, Vec<u8>)>, String>) {
    match r {
        Ok(Some(_)) => t.answered += 1,
        Ok(None) => t.refused += 1,
        Err(_) => {}
    }
}

/// Methods as in the HTTP/1.x generator (LOCK left out: see there), and odd ones.
fn method(rng: &mut StdRng) -> String {
    let known = dualgate::metrics::KNOWN_COMMANDS;
    let m = if rng.random_bool(0.2) {
        ["PATCH", "TRACE", "CONNECT", "get", "SEARCH", "X", "PRI"]
            .choose(rng)
            .copied()
            .unwrap_or("X")
    } else {
        known.choose(rng).copied().unwrap_or("GET")
    };
    if m == "LOCK" { "LOCKX".into() } else { m.into() }
}

/// Many concurrent streams of generated requests on one connection, some with
/// bodies that disagree with their `content-length`, some reset by the client
/// while in flight; and one correct GET among them, which must be answered with
/// the file's bytes unless the server refused the stream or went away.
async fn streams(rng: &mut StdRng, addr: SocketAddr, token: &str, auth: &str, t: &mut H2Tally) -> Result<(), String> {
    let mut builder = client::Builder::new();
    builder.max_concurrent_reset_streams(rng.random_range(0..2000));
    let Conn { send, driver } = connect(addr, &builder, t).await?;
    let n = rng.random_range(1..=300usize);
    let control_at = rng.random_range(0..n);
    let mut pending = Vec::new();
    let mut send = Some(send);
    for k in 0..n {
        let Some(s) = send.take() else { break };
        let mut s = match bounded("h2 stream slot", s.ready()).await? {
            Ok(s) => s,
            Err(e) => {
                judge(&e, "h2 ready")?;
                t.refused += 1;
                break;
            }
        };
        let (req, body, control) = if k == control_at {
            (request("GET", BIG_FILE, Some(auth), &[]), None, true)
        } else {
            let headers: Vec<_> = (0..rng.random_range(0..5))
                .map(|_| http_requests::header(rng, token, auth))
                .collect();
            let path = http_requests::target(rng, token);
            let auth = rng.random_bool(0.8).then_some(auth);
            let body = rng.random_bool(0.3).then(|| {
                let mut b = vec![0u8; rng.random_range(0..40_000)];
                rng.fill_bytes(&mut b);
                b
            });
            let mut req = request(&method(rng), &path, auth, &headers);
            if let Some(b) = &body {
                // Sometimes a content-length that the DATA frames contradict.
                let cl = match rng.random_range(0..4u8) {
                    0 => b.len() + rng.random_range(1..100),
                    1 => b.len().saturating_sub(rng.random_range(1..100)),
                    _ => b.len(),
                };
                if let Ok(v) = http::HeaderValue::from_str(&cl.to_string()) {
                    req.headers_mut().insert(http::header::CONTENT_LENGTH, v);
                }
            }
            (req, body, false)
        };
        t.streams += 1;
        let (fut, mut stream) = match s.send_request(req, body.is_none()) {
            Ok(x) => x,
            Err(e) => {
                judge(&e, "h2 send_request")?;
                t.refused += 1;
                send = Some(s);
                continue;
            }
        };
        if let Some(b) = body {
            let _ = stream.send_data(Bytes::from(b), true);
        }
        if !control && rng.random_bool(0.1) {
            stream.send_reset(Reason::CANCEL);
            t.client_resets += 1;
        } else {
            pending.push((control, tokio::spawn(answer(fut, "h2 stream"))));
        }
        send = Some(s);
    }
    for (control, task) in pending {
        let r = task.await.map_err(|e| format!("h2 stream task: {e}"))?;
        count(t, &r);
        if control
            && let Ok(Some((status, body))) = &r
            && (*status != 200 || body.len() != READ_CAP.min(BIG_LEN))
        {
            return Err(format!(
                "h2: GET {BIG_FILE} among garbage streams got {status}, {} bytes",
                body.len()
            ));
        }
        r?;
    }
    drop(send);
    finish(driver, "h2 streams").await
}

/// Opens streams and resets each at once, hundreds in a row (CVE-2023-44487);
/// then asks for a file on the same connection: answered, or the server has
/// gone away (GOAWAY with ENHANCE_YOUR_CALM is the expected defence). The reset
/// requests ask for the large file: a reset request's pipeline still runs, and
/// must not read the file for a body nobody takes (the campaign's memory bound).
async fn rapid_reset(rng: &mut StdRng, addr: SocketAddr, auth: &str, t: &mut H2Tally) -> Result<(), String> {
    let mut builder = client::Builder::new();
    builder.max_concurrent_reset_streams(4096);
    let Conn { send, driver } = connect(addr, &builder, t).await?;
    let mut s = send;
    for _ in 0..rng.random_range(100..=2000u32) {
        s = match bounded("h2 stream slot", s.ready()).await? {
            Ok(s) => s,
            Err(e) => {
                judge(&e, "h2 rapid reset")?;
                t.refused += 1;
                return finish(driver, "h2 rapid reset").await;
            }
        };
        t.streams += 1;
        match s.send_request(request("GET", BIG_FILE, Some(auth), &[]), true) {
            Ok((_, mut stream)) => {
                stream.send_reset(Reason::CANCEL);
                t.client_resets += 1;
            }
            Err(e) => {
                judge(&e, "h2 rapid reset")?;
                t.refused += 1;
                drop(s);
                return finish(driver, "h2 rapid reset").await;
            }
        }
    }
    t.streams += 1;
    let r = match bounded("h2 stream slot", s.ready()).await? {
        Ok(mut s) => match s.send_request(request("HEAD", BIG_FILE, Some(auth), &[]), true) {
            Ok((fut, _)) => answer(fut, "h2 request after a rapid reset").await,
            Err(e) => judge(&e, "h2 rapid reset").map(|_| None),
        },
        Err(e) => judge(&e, "h2 rapid reset").map(|_| None),
    };
    count(t, &r);
    if let Ok(Some((status, _))) = &r
        && *status != 200
    {
        return Err(format!("h2: HEAD {BIG_FILE} after a rapid reset got {status}"));
    }
    r?;
    finish(driver, "h2 rapid reset").await
}

/// One request with a header list around or far over the limits: up to thousands
/// of fields, one huge value, or thousands of cookie crumbs (sent in CONTINUATION
/// frames by the client). Over `http.max_header_bytes` (as HTTP/2 counts a list:
/// 32 bytes a field on top of name and value) or `http.max_headers` it must be
/// refused; well under both, served.
async fn huge_headers(rng: &mut StdRng, addr: SocketAddr, auth: &str, t: &mut H2Tally) -> Result<(), String> {
    let conn = connect(addr, &client::Builder::new(), t).await?;
    let headers: Vec<(String, String)> = match rng.random_range(0..3u8) {
        0 => (0..rng.random_range(10..3000))
            .map(|i| (format!("x-h{i}"), "v".repeat(rng.random_range(1..100))))
            .collect(),
        1 => vec![("x-big".into(), "v".repeat(rng.random_range(1_000..600_000)))],
        _ => (0..rng.random_range(10..3000))
            .map(|i| ("cookie".into(), format!("c{i}=1")))
            .collect(),
    };
    let list: usize = headers.iter().map(|(k, v)| k.len() + v.len() + 32).sum();
    let cookies = headers.iter().filter(|(k, _)| k == "cookie").count();
    // authorization is one more; cookie crumbs count as one field.
    let fields = headers.len() - cookies.saturating_sub(1) + 1;
    let over = list > MAX_HEADER_BYTES || fields > MAX_HEADERS;
    let under = list + 1024 < MAX_HEADER_BYTES && fields <= MAX_HEADERS;
    let mut s = match bounded("h2 stream slot", conn.send.clone().ready()).await? {
        Ok(s) => s,
        Err(e) => return judge(&e, "h2 huge headers").map(|_| ()),
    };
    t.streams += 1;
    let r = match s.send_request(request("GET", BIG_FILE, Some(auth), &headers), true) {
        Ok((fut, _)) => answer(fut, "h2 huge header list").await,
        Err(e) => judge(&e, "h2 huge headers").map(|_| None),
    };
    count(t, &r);
    match &r {
        Ok(Some((status, _))) if over && *status < 400 => {
            return Err(format!(
                "h2: a header list of {fields} fields, {list} bytes was accepted ({status})"
            ));
        }
        Ok(Some((status, _))) if under && *status != 200 => {
            return Err(format!(
                "h2: a header list of {fields} fields, {list} bytes was refused ({status})"
            ));
        }
        Ok(None) if under => {
            return Err(format!("h2: a header list of {fields} fields, {list} bytes was reset"));
        }
        _ => {}
    }
    r?;
    drop(s);
    conn.close("h2 huge headers").await
}

/// Streams for a large file with a flow-control window of at most 64 bytes that
/// the client never opens: the server must not wait on it for ever. Then the
/// client vanishes, resets the streams and asks for something else, or closes.
async fn slow_reader(rng: &mut StdRng, addr: SocketAddr, auth: &str, t: &mut H2Tally) -> Result<(), String> {
    let mut builder = client::Builder::new();
    builder.initial_window_size(rng.random_range(0..=64));
    let conn = connect(addr, &builder, t).await?;
    let mut bodies = Vec::new();
    for _ in 0..rng.random_range(1..=8u8) {
        let mut s = match bounded("h2 stream slot", conn.send.clone().ready()).await? {
            Ok(s) => s,
            Err(e) => {
                judge(&e, "h2 slow reader")?;
                break;
            }
        };
        t.streams += 1;
        let fut = match s.send_request(request("GET", BIG_FILE, Some(auth), &[]), true) {
            Ok((fut, _)) => fut,
            Err(e) => {
                judge(&e, "h2 slow reader")?;
                break;
            }
        };
        // The response head needs no window.
        match bounded("h2 response head with a closed window", fut).await? {
            Ok(resp) => {
                t.answered += 1;
                bodies.push(resp.into_body());
            }
            Err(e) => {
                judge(&e, "h2 slow reader")?;
                t.refused += 1;
            }
        }
    }
    for b in &mut bodies {
        // What fits in the window, without releasing it.
        let _ = tokio::time::timeout(Duration::from_millis(50), b.data()).await;
    }
    tokio::time::sleep(Duration::from_millis(rng.random_range(50..500))).await;
    match rng.random_range(0..3u8) {
        0 => {
            conn.abort();
            Ok(())
        }
        1 => {
            drop(bodies);
            t.client_resets += 1;
            t.streams += 1;
            let r = match bounded("h2 stream slot", conn.send.clone().ready()).await? {
                Ok(mut s) => match s.send_request(request("HEAD", BIG_FILE, Some(auth), &[]), true) {
                    Ok((fut, _)) => answer(fut, "h2 request after resetting stalled streams").await,
                    Err(e) => judge(&e, "h2 slow reader").map(|_| None),
                },
                Err(e) => judge(&e, "h2 slow reader").map(|_| None),
            };
            count(t, &r);
            r?;
            conn.close("h2 slow reader").await
        }
        _ => {
            drop(bodies);
            conn.close("h2 slow reader").await
        }
    }
}

/// A PUT whose body does not match its `content-length` (ended early, or longer),
/// or is cut by a reset or a dropped connection. None may be stored; the ones
/// answered must be refused.
async fn cut_upload(
    rng: &mut StdRng,
    addr: SocketAddr,
    token: &str,
    auth: &str,
    i: u64,
    t: &mut H2Tally,
) -> Result<(), String> {
    let conn = connect(addr, &client::Builder::new(), t).await?;
    let name = format!("/{token}-h2up-{i}.bin");
    let declared = rng.random_range(1..262_144usize);
    let mut req = request("PUT", &name, Some(auth), &[]);
    req.headers_mut()
        .insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(declared));
    let mut s = match bounded("h2 stream slot", conn.send.clone().ready()).await? {
        Ok(s) => s,
        Err(e) => return judge(&e, "h2 cut upload").map(|_| ()),
    };
    t.streams += 1;
    let (fut, mut stream) = match s.send_request(req, false) {
        Ok(x) => x,
        Err(e) => return judge(&e, "h2 cut upload").map(|_| ()),
    };
    t.cut_uploads.push(name.clone());
    let way = rng.random_range(0..4u8);
    let len = if way == 1 {
        declared + rng.random_range(1..10_000)
    } else {
        rng.random_range(0..declared)
    };
    let mut body = vec![0u8; len];
    rng.fill_bytes(&mut body);
    let _ = stream.send_data(Bytes::from(body), way < 2);
    match way {
        0 | 1 => {
            let r = answer(fut, "h2 PUT with a content-length its body contradicts").await;
            count(t, &r);
            if let Ok(Some((status, _))) = &r
                && *status < 300
            {
                return Err(format!(
                    "h2: PUT {name} with content-length {declared} and {len} body bytes got {status}"
                ));
            }
            r?;
            drop((s, stream));
            conn.close("h2 cut upload").await
        }
        2 => {
            tokio::time::sleep(Duration::from_millis(rng.random_range(0..100))).await;
            stream.send_reset(Reason::CANCEL);
            t.client_resets += 1;
            drop((s, stream, fut));
            conn.close("h2 cut upload").await
        }
        _ => {
            tokio::time::sleep(Duration::from_millis(rng.random_range(0..100))).await;
            conn.abort();
            Ok(())
        }
    }
}

/// One connection of raw frames: 1–3 malformed sequences after a valid preface,
/// then a valid GET (see [`http_requests::h2_exchange`]).
async fn malformed(rng: &mut StdRng, addr: SocketAddr, auth: &str, t: &mut H2Tally) -> Result<(), String> {
    let mut next = 1u32;
    let mut middle = Vec::new();
    let mut names = Vec::new();
    for _ in 0..rng.random_range(1..=3u8) {
        let (frames, name) = malformed_frames(rng, auth, &mut next);
        middle.extend(frames);
        names.push(name);
        t.malformed += 1;
    }
    http_requests::h2_exchange(addr, &middle, auth)
        .await
        .map_err(|e| format!("{e} (after {names:?})"))
}

/// HPACK block of literal fields (see [`hpack_literal`]); long values in a
/// form whose length prefix is right.
fn block(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut b = Vec::new();
    for (n, v) in fields {
        if n.len() < 127 && v.len() < 127 {
            hpack_literal(&mut b, n, v);
        } else {
            b.push(0);
            hpack_len(&mut b, n.len());
            b.extend_from_slice(n.as_bytes());
            hpack_len(&mut b, v.len());
            b.extend_from_slice(v.as_bytes());
        }
    }
    b
}

/// An HPACK string length (7-bit prefix integer, no Huffman).
fn hpack_len(out: &mut Vec<u8>, mut n: usize) {
    if n < 127 {
        out.push(n as u8);
        return;
    }
    out.push(127);
    n -= 127;
    while n >= 128 {
        out.push((n % 128) as u8 | 0x80);
        n /= 128;
    }
    out.push(n as u8);
}

const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY: u8 = 0x20;

/// One malformed frame sequence and its name. `next` is the next client stream id.
fn malformed_frames(rng: &mut StdRng, auth: &str, next: &mut u32) -> (Vec<u8>, &'static str) {
    let id = *next;
    *next += 2;
    let good = [
        (":method", "GET"),
        (":scheme", "http"),
        (":path", "/"),
        (":authority", "127.0.0.1"),
        ("authorization", auth),
    ];
    // The good request with field `i` replaced (None: removed) or a field added.
    let with = |i: usize, f: Option<(&str, &str)>| -> Vec<u8> {
        let mut v: Vec<(&str, &str)> = good.to_vec();
        match f {
            Some(f) if i < v.len() => v[i] = f,
            Some(f) => v.push(f),
            None => {
                v.remove(i);
            }
        }
        frame(1, END_HEADERS | END_STREAM, id, &block(&v))
    };
    let settings = |pairs: &[(u16, u32)]| -> Vec<u8> {
        let p: Vec<u8> = pairs
            .iter()
            .flat_map(|(k, v)| [k.to_be_bytes().to_vec(), v.to_be_bytes().to_vec()].concat())
            .collect();
        frame(4, 0, 0, &p)
    };
    let open = frame(1, END_HEADERS, id, &block(&good)); // a stream left open (no END_STREAM)
    let path = http_requests::target(rng, "h2raw");
    match rng.random_range(0..65u8) {
        0 => (with(0, None), "no :method"),
        1 => (with(2, None), "no :path"),
        2 => (with(2, Some((":path", ""))), "empty :path"),
        3 => (with(9, Some((":path", "/again"))), "two :path"),
        4 => (with(9, Some((":foo", "x"))), "unknown pseudo-header"),
        5 => (with(9, Some((":status", "200"))), ":status in a request"),
        6 => {
            let mut v: Vec<(&str, &str)> = good.to_vec();
            v.rotate_right(1); // authorization before the pseudo-headers
            (
                frame(1, END_HEADERS | END_STREAM, id, &block(&v)),
                "pseudo-header after a field",
            )
        }
        7 => (with(9, Some(("X-Upper", "x"))), "upper-case field name"),
        8 => (with(9, Some(("connection", "keep-alive"))), "connection header"),
        9 => (with(9, Some(("te", "gzip"))), "te other than trailers"),
        10 => (with(9, Some(("transfer-encoding", "chunked"))), "transfer-encoding"),
        11 => (with(9, Some(("bad name", "x"))), "space in a field name"),
        12 => (with(9, Some(("x-crlf", "a\r\nb: c"))), "CR LF in a value"),
        13 => (with(9, Some(("x-nul", "a\0b"))), "NUL in a value"),
        14 => (with(1, Some((":scheme", "ftp"))), ":scheme ftp"),
        15 => (with(0, Some((":method", "G ET"))), "space in :method"),
        16 => (
            frame(
                1,
                END_HEADERS,
                id,
                &block(&[(":method", "CONNECT"), ("authorization", auth)]),
            ),
            "CONNECT without :authority",
        ),
        17 => (with(9, Some((":protocol", "websocket"))), ":protocol without CONNECT"),
        18 => (with(2, Some((":path", path.as_str()))), "generated :path"),
        19 => (with(3, Some((":authority", "evil.example:1"))), "foreign :authority"),
        20 => (with(2, Some((":path", "x"))), ":path without a slash"),
        21 => (
            frame(1, END_HEADERS | END_STREAM, 0, &block(&good)),
            "HEADERS on stream 0",
        ),
        22 => (
            frame(1, END_HEADERS | END_STREAM, id + 1, &block(&good)),
            "HEADERS on an even stream",
        ),
        23 => {
            *next += 2;
            let mut f = frame(1, END_HEADERS | END_STREAM, id + 2, &block(&good));
            f.extend(frame(1, END_HEADERS | END_STREAM, id, &block(&good)));
            (f, "stream id going down")
        }
        24 => (frame(9, END_HEADERS, id, &block(&good)), "CONTINUATION without HEADERS"),
        25 => {
            let b = block(&good);
            let mut f = frame(1, 0, id, &b[..b.len() / 2]);
            f.extend(frame(0, 0, id, b"data"));
            f.extend(frame(9, END_HEADERS, id, &b[b.len() / 2..]));
            (f, "DATA inside a header block")
        }
        26 => {
            // CONTINUATION flood: thousands of small fragments, ended or not.
            let mut f = frame(1, END_STREAM, id, &block(&good));
            let n = rng.random_range(100..3000);
            for i in 0..n {
                let last = i + 1 == n && rng.random_bool(0.5);
                let field = format!("x-c{i}");
                f.extend(frame(
                    9,
                    if last { END_HEADERS } else { 0 },
                    id,
                    &block(&[(&field, "v")]),
                ));
            }
            (f, "CONTINUATION flood")
        }
        27 => (frame(0, END_STREAM, 0, b"x"), "DATA on stream 0"),
        28 => (frame(0, END_STREAM, id, b"x"), "DATA on an idle stream"),
        29 => {
            let mut p = vec![200u8];
            p.extend(block(&good));
            (
                frame(1, END_HEADERS | END_STREAM | PADDED, id, &p),
                "padding longer than the frame",
            )
        }
        30 => {
            let mut p = id.to_be_bytes().to_vec();
            p.push(16);
            (frame(2, 0, id, &p), "PRIORITY on itself")
        }
        31 => (frame(2, 0, id, &[0; 4]), "PRIORITY of 4 bytes"),
        32 => (frame(3, 0, 0, &[0, 0, 0, 8]), "RST_STREAM on stream 0"),
        33 => (frame(3, 0, id, &[0, 0, 0, 8]), "RST_STREAM on an idle stream"),
        34 => {
            let mut f = open;
            f.extend(frame(3, 0, id, &[0, 0, 8]));
            (f, "RST_STREAM of 3 bytes")
        }
        35 => (frame(4, 0, id, &[]), "SETTINGS on a stream"),
        36 => (frame(4, 0, 0, &[0, 3, 0, 0, 1]), "SETTINGS of 5 bytes"),
        37 => (settings(&[(2, 2)]), "ENABLE_PUSH 2"),
        38 => (settings(&[(4, 0x8000_0000)]), "INITIAL_WINDOW_SIZE over 2^31-1"),
        39 => (
            settings(&[(5, [100, 1 << 24].choose(rng).copied().unwrap_or(100))]),
            "MAX_FRAME_SIZE out of range",
        ),
        40 => {
            let mut f = settings(&[(0xfa, 1), (1, 0), (3, 0)]);
            f.extend(open);
            (f, "unknown setting, no streams, no HPACK table")
        }
        41 => (frame(4, 1, 0, &[0, 3, 0, 0, 0, 1]), "SETTINGS ACK with a payload"),
        42 => (frame(6, 0, 0, &[0; 7]), "PING of 7 bytes"),
        43 => (frame(6, 0, 1, &[0; 8]), "PING on a stream"),
        44 => (frame(7, 0, 1, &[0; 8]), "GOAWAY on a stream"),
        45 => (frame(8, 0, 0, &[0; 4]), "WINDOW_UPDATE of 0 on the connection"),
        46 => {
            let mut f = open;
            f.extend(frame(8, 0, id, &[0; 4]));
            (f, "WINDOW_UPDATE of 0 on a stream")
        }
        47 => {
            let mut f = frame(8, 0, 0, &[0x7f, 0xff, 0xff, 0xff]);
            f.extend(frame(8, 0, 0, &[0x7f, 0xff, 0xff, 0xff]));
            (f, "connection window over 2^31-1")
        }
        48 => {
            let mut f = open;
            f.extend(frame(8, 0, id, &[0x7f, 0xff, 0xff, 0xff]));
            f.extend(frame(8, 0, id, &[0x7f, 0xff, 0xff, 0xff]));
            (f, "stream window over 2^31-1")
        }
        49 => (frame(8, 0, 0, &[0; 3]), "WINDOW_UPDATE of 3 bytes"),
        50 => {
            let mut p = (id + 1).to_be_bytes().to_vec();
            p.extend(block(&good));
            (frame(5, END_HEADERS, id, &p), "PUSH_PROMISE from the client")
        }
        51 => (frame(0xfa, 0xff, id, b"ignore me"), "unknown frame type"),
        52 => {
            let n = rng.random_range(100..1000);
            (
                std::iter::repeat_n(frame(4, 0, 0, &[]), n).flatten().collect(),
                "SETTINGS flood",
            )
        }
        53 => {
            let n = rng.random_range(100..1000);
            (
                std::iter::repeat_n(frame(6, 0, 0, &[7; 8]), n).flatten().collect(),
                "PING flood",
            )
        }
        54 => (frame(1, END_HEADERS | END_STREAM, id, &[0x80]), "HPACK index 0"),
        55 => (
            frame(1, END_HEADERS | END_STREAM, id, &[0xbe]),
            "HPACK index past the tables",
        ),
        56 => (
            frame(1, END_HEADERS | END_STREAM, id, &[0x3f, 0xe1, 0xff, 0xff, 0x0f]),
            "HPACK table size over the limit",
        ),
        57 => (
            frame(
                1,
                END_HEADERS | END_STREAM,
                id,
                &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f],
            ),
            "HPACK integer overflow",
        ),
        58 => (
            frame(
                1,
                END_HEADERS | END_STREAM,
                id,
                &[0x00, 0x84, 0xff, 0xff, 0xff, 0xff, 0x01, b'x'],
            ),
            "HPACK bad Huffman",
        ),
        59 => (
            frame(1, END_HEADERS | END_STREAM, id, &[0x00, 0x7f, 0x20, b'x']),
            "HPACK string past the block",
        ),
        60 => {
            let mut b = block(&good);
            b.push(0x20); // a table size update after a field
            (
                frame(1, END_HEADERS | END_STREAM, id, &b),
                "HPACK size update after a field",
            )
        }
        61 => {
            let mut f = frame(1, END_HEADERS | END_STREAM, id, &block(&good));
            f.extend(frame(0, END_STREAM, id, b"late"));
            (f, "DATA after END_STREAM")
        }
        62 => (frame(1, END_HEADERS | END_STREAM, id, &[]), "empty header block"),
        63 => {
            let mut f = open;
            f.extend(frame(0, END_STREAM, id, &vec![b'x'; 17_000]));
            (f, "DATA over SETTINGS_MAX_FRAME_SIZE")
        }
        _ => {
            let mut p = id.to_be_bytes().to_vec();
            p.push(16);
            p.extend(block(&good));
            (
                frame(1, END_HEADERS | END_STREAM | PRIORITY, id, &p),
                "HEADERS depending on itself",
            )
        }
    }
}
