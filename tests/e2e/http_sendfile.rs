//! Large HTTP/1.1 GETs, which on local disk over plain HTTP go out with
//! `sendfile` (hyper frames the response, the file's bytes never enter user
//! space): every byte right for whole files, single ranges and several ranges,
//! pipelined requests answered in order on one keep-alive connection, a body
//! cut by the client (the server goes on, and logs what the socket took), a
//! body still going out at the drain deadline (cut, logged as interrupted), and
//! byte counts in the metrics and the transfer log equal to what was sent.
//!
//! The sizes cross the server's 4 MiB frames (`FRAME_MAX`) at odd offsets, so
//! an off-by-one between frames changes the bytes. On other back-ends the same
//! requests take the streamed path and must give the same answers.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::http::{multipart_boundary, parse_multipart};
use crate::support::tls::TestCert;
use crate::support::{
    Gateway, GatewayOptions, STALLING_LEN, STEP, TRANSFER, metric_value, put_stalling_file, random_bytes, within,
};

const MIB: usize = 1 << 20;
/// Three and a half 4 MiB frames and a few odd bytes.
const BIG: usize = 14 * MIB + 12_345;

/// One response read off a keep-alive connection: status, headers (lower-case
/// names) and exactly the body its `Content-Length` announces (none for HEAD).
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// Reads one response from `stream`, leaving whatever follows it in `pending`.
async fn read_answer(stream: &mut TcpStream, pending: &mut Vec<u8>, head_only: bool) -> Answer {
    let mut buf = vec![0u8; 256 * 1024];
    let end = loop {
        if let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        let n = within("a response head", STEP, stream.read(&mut buf)).await.unwrap();
        assert!(n > 0, "the connection closed before a response head");
        pending.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8(pending[..end].to_vec()).unwrap();
    pending.drain(..end + 4);
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut answer = Answer {
        status,
        headers,
        body: Vec::new(),
    };
    if head_only {
        return answer;
    }
    let len: usize = answer
        .header("content-length")
        .expect("Content-Length")
        .parse()
        .unwrap();
    while pending.len() < len {
        let n = within("a response body", TRANSFER, stream.read(&mut buf))
            .await
            .unwrap();
        assert!(
            n > 0,
            "the connection closed after {} of {len} body bytes",
            pending.len()
        );
        pending.extend_from_slice(&buf[..n]);
    }
    answer.body = pending.drain(..len).collect();
    answer
}

fn request(gw: &Gateway, method: &str, path: &str, extra: &str) -> String {
    format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: {}\r\n{extra}\r\n",
        gw.http_addr,
        gw.basic_auth()
    )
}

async fn connect(gw: &Gateway) -> TcpStream {
    within("HTTP connect", STEP, TcpStream::connect(gw.http_addr))
        .await
        .unwrap()
}

/// A gateway (logging at info, with `config`) serving the stalling file, and a
/// connection that has asked for it: the server is sending.
async fn stalling_get(config: &str) -> (Gateway, TcpStream) {
    let gw = Gateway::start(GatewayOptions {
        log_level: Some("info"),
        ..GatewayOptions::with_config(config)
    })
    .await;
    put_stalling_file(gw.store(), "stall.bin");
    let mut stream = connect(&gw).await;
    stream
        .write_all(request(&gw, "GET", "/stall.bin", "").as_bytes())
        .await
        .unwrap();
    (gw, stream)
}

/// `dualgate_transfer_bytes_total` of HTTP downloads so far.
async fn http_bytes_out(gw: &Gateway) -> u64 {
    let text = gw.metrics().await;
    metric_value(
        &text,
        "dualgate_transfer_bytes_total",
        &[("protocol", "http"), ("direction", "out")],
    )
    .unwrap_or(0.0) as u64
}

#[tokio::test]
async fn large_gets_and_ranges_send_the_exact_bytes() {
    let gw = Gateway::start_default().await;
    let data = random_bytes(BIG);
    gw.store().put("big.bin", &data);

    let resp = gw.get("/big.bin").await;
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.content_length(), Some(BIG as u64));
    let body = within("GET big.bin", TRANSFER, resp.bytes()).await.unwrap();
    assert!(body[..] == data[..], "whole file: bytes differ");

    // One range across two frame boundaries, from odd offsets.
    let (from, to) = (3 * MIB + 7, 9 * MIB + 4093);
    let resp = within(
        "ranged GET",
        STEP,
        gw.request(reqwest::Method::GET, "/big.bin")
            .header("Range", format!("bytes={from}-{to}"))
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(resp.status().as_u16(), 206);
    assert_eq!(
        resp.headers()["content-range"].to_str().unwrap(),
        format!("bytes {from}-{to}/{BIG}")
    );
    let body = within("ranged body", TRANSFER, resp.bytes()).await.unwrap();
    assert!(body[..] == data[from..=to], "single range: bytes differ");

    // The last bytes (a suffix range inside the last frame).
    let resp = within(
        "suffix GET",
        STEP,
        gw.request(reqwest::Method::GET, "/big.bin")
            .header("Range", "bytes=-5000")
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(resp.status().as_u16(), 206);
    let body = within("suffix body", TRANSFER, resp.bytes()).await.unwrap();
    assert!(body[..] == data[BIG - 5000..], "suffix range: bytes differ");

    // Several ranges: multipart/byteranges, each part right.
    let ranges = [(10usize, 20usize), (4 * MIB - 3, 4 * MIB + 2), (13 * MIB, BIG - 1)];
    let spec: Vec<String> = ranges.iter().map(|(a, b)| format!("{a}-{b}")).collect();
    let resp = within(
        "multi-range GET",
        STEP,
        gw.request(reqwest::Method::GET, "/big.bin")
            .header("Range", format!("bytes={}", spec.join(",")))
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(resp.status().as_u16(), 206);
    let boundary = multipart_boundary(resp.headers()["content-type"].to_str().unwrap()).unwrap();
    let declared = resp.content_length();
    let body = within("multipart body", TRANSFER, resp.bytes()).await.unwrap();
    assert_eq!(
        declared,
        Some(body.len() as u64),
        "Content-Length of the multipart body"
    );
    let parts = parse_multipart(&body, &boundary).expect("a well-formed multipart body");
    assert_eq!(parts.len(), ranges.len());
    for (part, (a, b)) in parts.iter().zip(ranges) {
        assert!(part.body[..] == data[a..=b], "part {a}-{b}: bytes differ");
    }
}

/// Pipelined requests on one connection (sent in one write before any answer)
/// are answered in order, each body where it belongs: file bodies sent from the
/// file between heads hyper writes, then a HEAD and a 304 on the same connection.
#[tokio::test]
async fn pipelined_and_keep_alive_requests_stay_in_order_around_file_bodies() {
    let gw = Gateway::start_default().await;
    let big = random_bytes(BIG);
    let small = random_bytes(3000);
    let medium = random_bytes(MIB + 1);
    gw.store().put("big.bin", &big);
    gw.store().put("small.bin", &small);
    gw.store().put("medium.bin", &medium);

    let mut stream = connect(&gw).await;
    let mut pending = Vec::new();
    let pipelined = [
        request(&gw, "GET", "/big.bin", ""),
        request(&gw, "GET", "/small.bin", ""),
        request(&gw, "GET", "/medium.bin", "Range: bytes=100-\r\n"),
        request(&gw, "GET", "/medium.bin", ""),
    ]
    .concat();
    within("pipelined requests", STEP, stream.write_all(pipelined.as_bytes()))
        .await
        .unwrap();
    let a = read_answer(&mut stream, &mut pending, false).await;
    assert_eq!(a.status, 200);
    assert!(a.body == big, "pipelined 1 (big): bytes differ");
    let b = read_answer(&mut stream, &mut pending, false).await;
    assert_eq!(b.status, 200);
    assert!(b.body == small, "pipelined 2 (small): bytes differ");
    let c = read_answer(&mut stream, &mut pending, false).await;
    assert_eq!(c.status, 206);
    assert!(c.body[..] == medium[100..], "pipelined 3 (range): bytes differ");
    let d = read_answer(&mut stream, &mut pending, false).await;
    assert_eq!(d.status, 200);
    assert!(d.body == medium, "pipelined 4 (medium): bytes differ");
    let etag = d.header("etag").expect("an ETag").to_owned();

    // The same connection after the file bodies: HEAD, a conditional GET, a GET.
    let more = [
        request(&gw, "HEAD", "/big.bin", ""),
        request(&gw, "GET", "/big.bin", &format!("If-None-Match: {etag}\r\n")),
        request(&gw, "GET", "/medium.bin", &format!("If-None-Match: {etag}\r\n")),
        request(&gw, "GET", "/big.bin", ""),
    ];
    within("HEAD", STEP, stream.write_all(more[0].as_bytes()))
        .await
        .unwrap();
    let head = read_answer(&mut stream, &mut pending, true).await;
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some(BIG.to_string().as_str()));
    within("If-None-Match", STEP, stream.write_all(more[1].as_bytes()))
        .await
        .unwrap();
    let changed = read_answer(&mut stream, &mut pending, false).await;
    assert_eq!(changed.status, 200, "another file's ETag does not match");
    assert!(changed.body == big, "conditional GET: bytes differ");
    within("If-None-Match", STEP, stream.write_all(more[2].as_bytes()))
        .await
        .unwrap();
    let same = read_answer(&mut stream, &mut pending, true).await;
    assert_eq!(same.status, 304);
    within("GET again", STEP, stream.write_all(more[3].as_bytes()))
        .await
        .unwrap();
    let again = read_answer(&mut stream, &mut pending, false).await;
    assert!(again.body == big, "GET after HEAD and 304: bytes differ");
    assert!(pending.is_empty(), "{} bytes beyond the last response", pending.len());
}

/// A client that reads part of a body and goes away: the server logs the
/// transfer as cut with the bytes it sent (fewer than the file, at least what
/// the client read), counts the same in its metrics, and serves on.
#[tokio::test]
async fn a_get_cut_by_the_client_is_logged_short_and_the_server_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let xferlog = dir.path().join("xferlog");
    let gw = Gateway::start(GatewayOptions {
        log_level: Some("info"),
        ..GatewayOptions::with_config(&format!("xferlog: \"{}\"\n", xferlog.display()))
    })
    .await;
    put_stalling_file(gw.store(), "stall.bin");
    let before = http_bytes_out(&gw).await;

    let mut stream = connect(&gw).await;
    stream
        .write_all(request(&gw, "GET", "/stall.bin", "").as_bytes())
        .await
        .unwrap();
    let mut got = 0usize;
    let mut buf = vec![0u8; 64 * 1024];
    while got < 2 * MIB {
        let n = within("the first bytes", STEP, stream.read(&mut buf)).await.unwrap();
        assert!(n > 0);
        got += n;
    }
    // A reset, as a client killed mid-download sends.
    stream.set_zero_linger().unwrap();
    drop(stream);

    let line = within("an xferlog line", STEP, async {
        loop {
            if let Some(line) = std::fs::read_to_string(&xferlog)
                .ok()
                .and_then(|t| t.lines().next().map(str::to_owned))
            {
                return line;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    let fields: Vec<&str> = line.split_whitespace().collect();
    let logged: u64 = fields[7].parse().unwrap();
    assert_eq!(fields[8], "/stall.bin", "{line}");
    // Incomplete, though its status (200) went out before the body was cut.
    assert_eq!(fields[17], "i", "{line}");
    let head_len = 400; // the response head the client read with the body
    assert!(
        logged + head_len >= got as u64 && logged < STALLING_LEN,
        "logged {logged} bytes; the client read {got} of {STALLING_LEN}: {line}"
    );
    let counted = http_bytes_out(&gw).await - before;
    assert_eq!(counted, logged, "the metric counts what the log says");
    // The access log line has the same count, and the transfer is logged as cut.
    gw.wait_for_log(&format!("bytes={logged}")).await;
    gw.wait_for_log("transfer failed session=1 status=TransferAborted detail=client went away")
        .await;

    // The server goes on, on a new connection.
    let small = random_bytes(5000);
    gw.store().put("after.bin", &small);
    let resp = gw.get("/after.bin").await;
    assert_eq!(resp.status().as_u16(), 200);
    assert!(resp.bytes().await.unwrap()[..] == small[..]);
}

/// What the metrics and the transfer log count for whole and ranged GETs is
/// exactly the body bytes sent: the file, the range, nothing for HEAD.
#[tokio::test]
async fn byte_counts_in_metrics_and_xferlog_are_exact() {
    let dir = tempfile::tempdir().unwrap();
    let xferlog = dir.path().join("xferlog");
    let gw = Gateway::start(GatewayOptions::with_config(&format!(
        "xferlog: \"{}\"\n",
        xferlog.display()
    )))
    .await;
    let data = random_bytes(BIG);
    gw.store().put("big.bin", &data);
    let before = http_bytes_out(&gw).await;

    let mut stream = connect(&gw).await;
    let mut pending = Vec::new();
    let (from, to) = (5 * MIB - 1, 11 * MIB);
    let requests = [
        request(&gw, "GET", "/big.bin", ""),
        request(&gw, "GET", "/big.bin", &format!("Range: bytes={from}-{to}\r\n")),
    ]
    .concat();
    stream.write_all(requests.as_bytes()).await.unwrap();
    assert_eq!(read_answer(&mut stream, &mut pending, false).await.body.len(), BIG);
    assert_eq!(
        read_answer(&mut stream, &mut pending, false).await.body.len(),
        to - from + 1
    );
    stream
        .write_all(request(&gw, "HEAD", "/big.bin", "").as_bytes())
        .await
        .unwrap();
    assert_eq!(read_answer(&mut stream, &mut pending, true).await.status, 200);

    let lines = within("two xferlog lines", STEP, async {
        loop {
            let text = std::fs::read_to_string(&xferlog).unwrap_or_default();
            if text.lines().count() >= 2 {
                return text.lines().map(str::to_owned).collect::<Vec<_>>();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    let bytes: Vec<(u64, String)> = lines
        .iter()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f[7].parse().unwrap(), f[17].to_owned())
        })
        .collect();
    let whole = BIG as u64;
    let range = (to - from + 1) as u64;
    assert_eq!(
        bytes[..2],
        [(whole, "c".to_owned()), (range, "c".to_owned())],
        "{lines:?}"
    );
    gw.wait_metrics("the bytes of both GETs", |text| {
        metric_value(
            text,
            "dualgate_transfer_bytes_total",
            &[("protocol", "http"), ("direction", "out")],
        )
        .is_some_and(|v| v as u64 == before + whole + range)
    })
    .await;
}

/// A body that goes out through the streamed path (HTTPS takes no
/// `sendfile`, on any back-end) is logged complete when all of it went out:
/// hyper, which counts the `Content-Length`, may drop the body as soon as it
/// has the last byte, before the sender would wait for room again (that race
/// once logged whole downloads as `i`, "client went away").
#[tokio::test]
async fn a_streamed_download_that_went_out_whole_is_logged_complete() {
    let dir = tempfile::tempdir().unwrap();
    let xferlog = dir.path().join("xferlog");
    let cert = TestCert::create(dir.path(), "server");
    let gw = Gateway::start(GatewayOptions::with_config(&format!(
        "xferlog: \"{}\"\nhttp:\n  tls: {{ cert: \"{}\", key: \"{}\" }}\n",
        xferlog.display(),
        cert.cert.display(),
        cert.key.display()
    )))
    .await;
    gw.store().put("big.bin", random_bytes(BIG));
    let https = reqwest::Client::builder()
        .no_proxy()
        .use_preconfigured_tls((*cert.client_config(true)).clone())
        .http1_only()
        .connect_timeout(STEP)
        .build()
        .unwrap();
    const GETS: usize = 4;
    for _ in 0..GETS {
        let get = https.get(gw.url("/big.bin")).basic_auth(&gw.user, Some(&gw.password));
        // Read slowly, so the server's body channel is full when its last
        // piece goes in: the race needs hyper to take that piece while the
        // sender waits.
        let got = within("an HTTPS GET", TRANSFER, async {
            let mut r = get.send().await.unwrap();
            assert_eq!(r.status(), 200);
            let mut got = 0;
            while let Some(piece) = r.chunk().await.unwrap() {
                got += piece.len();
                tokio::time::sleep(Duration::from_micros(500)).await;
            }
            got
        })
        .await;
        assert_eq!(got, BIG);
    }
    let lines = within("the xferlog lines", STEP, async {
        loop {
            let text = std::fs::read_to_string(&xferlog).unwrap_or_default();
            if text.lines().count() >= GETS {
                return text.lines().map(str::to_owned).collect::<Vec<_>>();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    for line in &lines {
        let f: Vec<&str> = line.split_whitespace().collect();
        assert_eq!((f[7], f[17]), (BIG.to_string().as_str(), "c"), "{lines:?}");
    }
}

/// A GET to a client that stopped reading, still running at the drain
/// deadline, is cut then: logged as interrupted with the bytes the socket took,
/// and the process exits 0 instead of waiting for the client.
#[tokio::test]
async fn a_get_still_running_at_the_drain_deadline_is_cut() {
    let (mut gw, mut stream) = stalling_get("shutdown: { drain_timeout: 1s }\n").await;
    let mut buf = vec![0u8; 64 * 1024];
    let n = within("the first bytes", STEP, stream.read(&mut buf)).await.unwrap();
    assert!(n > 0);
    // The client reads no more: the server's socket buffer fills and its writes wait.
    tokio::time::sleep(Duration::from_millis(300)).await;
    gw.sigterm();
    let status = gw.wait_exit(Duration::from_secs(15)).await;
    assert!(status.success(), "exit status {status:?}");
    let log = gw.log();
    let line = log
        .lines()
        .find(|l| l.contains("dualgate::access") && l.contains("/stall.bin"))
        .unwrap_or_else(|| panic!("no access log line for the GET:\n{log}"));
    let bytes: u64 = line
        .split("bytes=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|b| b.parse().ok())
        .unwrap_or_else(|| panic!("no byte count: {line}"));
    assert!(bytes > 0 && bytes < STALLING_LEN, "{line}");
    assert!(
        log.contains("status=ShuttingDown detail=interrupted: the server's drain deadline passed"),
        "the GET is logged as interrupted:\n{log}"
    );
    drop(stream);
}

/// hyper has no write timeout of its own: a client that asks for a large file
/// and then reads nothing is cut once it has taken nothing for
/// `limits.data_timeout`, the transfer is logged as cut, and the server goes
/// on. Without the cut, the client would get the whole file when it reads again.
#[tokio::test]
async fn a_client_that_stops_reading_is_cut_at_the_data_timeout() {
    let (gw, mut stream) = stalling_get("limits: { data_timeout: 2s }\n").await;
    // Read nothing for twice the timeout: the socket buffers fill, the server stalls.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let mut got = 0u64;
    let mut buf = vec![0u8; 256 * 1024];
    within("the rest of the cut response", TRANSFER, async {
        // Until the server closes, or the whole body came (the head aside).
        while let Ok(n) = stream.read(&mut buf).await {
            if n == 0 {
                break;
            }
            got += n as u64;
            if got >= STALLING_LEN {
                break;
            }
        }
    })
    .await;
    assert!(
        got < STALLING_LEN,
        "the client read {got} bytes of a {STALLING_LEN}-byte file it stopped reading for 4 s"
    );
    gw.wait_for_log("status=TransferAborted").await;
    // Counted as a stalled response, not as a slow request head.
    gw.wait_for_log("the client took nothing sent to it within the data timeout")
        .await;
    let text = gw.metrics().await;
    let stalled = &[("protocol", "http"), ("phase", "response")];
    assert_eq!(
        metric_value(&text, "dualgate_session_timeouts_total", stalled),
        Some(1.0),
        "{text}"
    );
    let heads = &[("protocol", "http"), ("phase", "request_head")];
    assert_eq!(
        metric_value(&text, "dualgate_session_timeouts_total", heads).unwrap_or(0.0),
        0.0
    );

    let small = random_bytes(5000);
    gw.store().put("after.bin", &small);
    let resp = gw.get("/after.bin").await;
    assert_eq!(resp.status().as_u16(), 200);
    assert!(resp.bytes().await.unwrap()[..] == small[..]);
}
