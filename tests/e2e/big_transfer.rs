//! Big transfers with flat server memory, and the admin port.
//!
//! The 1 GiB payload is 1024 blocks of 1 MiB: one random block with the block
//! number stamped into its first 8 bytes, so every block differs and an offset
//! error changes the hash. Nothing is sparse: the file the server sends is real
//! data in the storage, and the upload comes from a generator (no file on the client).
//! Both sides hash while the bytes flow; the server's `VmRSS` is sampled every
//! 100 ms and its peak may exceed the pre-transfer value by less than 64 MiB —
//! plus, for an upload, twice what the storage buffers by design (an object
//! store's parts: [`TestStore::upload_buffer`](crate::support::TestStore::upload_buffer)):
//! once for the parts, once for what the allocator keeps of parts already sent
//! (glibc's heap grows to hold them and does not give all of it back; measured
//! on moto with the defaults, 16 MiB parts and 2 in flight: +113 to +131 MiB
//! for a 1 GiB upload, where the parts themselves are at most 64 MiB). The bound
//! still proves the point: memory follows the part size, not the file size.
//! All three legs (FTP RETR, FTP STOR, HTTP GET) move the full 1 GiB: in a debug
//! build on 2 cores each takes a few seconds, so no leg needed shrinking.

use std::time::Duration;

use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{Gateway, RssSampler, STEP, hex, metric_value, parse_metrics, random_bytes, storage_kind, within};

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;
/// Allowed growth of the server's RSS during a transfer.
const RSS_BOUND: u64 = 64 * MIB;
/// Upper bound for one 1 GiB leg (a failure, not a hang, if the server stalls).
const BIG_LIMIT: Duration = Duration::from_secs(120);

/// The 1 GiB payload, block by block.
#[derive(Clone)]
struct Payload {
    base: Vec<u8>,
}

impl Payload {
    fn new() -> Payload {
        Payload {
            base: random_bytes(MIB as usize),
        }
    }

    /// Block `i` into `buf` (1 MiB).
    fn block(&self, i: u64, buf: &mut Vec<u8>) {
        buf.clear();
        buf.extend_from_slice(&self.base);
        buf[..8].copy_from_slice(&i.to_le_bytes());
    }

    /// The first `len` bytes, block by block.
    fn blocks(self, len: u64) -> impl Iterator<Item = Vec<u8>> + Send + 'static {
        (0..len / MIB).map(move |i| {
            let mut buf = Vec::with_capacity(MIB as usize);
            self.block(i, &mut buf);
            buf
        })
    }

    /// The SHA-256 of the first `len` bytes.
    fn sha256(&self, len: u64) -> String {
        let mut hasher = Sha256::new();
        self.clone().blocks(len).for_each(|b| hasher.update(&b));
        hex(&hasher.finalize())
    }
}

/// Asserts the RSS bound, plus `buffered` bytes the storage holds by design,
/// with a readable message.
fn assert_flat(what: &str, before: u64, peak: u64, buffered: u64) {
    println!(
        "{what}: server RSS {} KiB before, peak {} KiB",
        before / 1024,
        peak / 1024
    );
    let bound = RSS_BOUND + 2 * buffered;
    assert!(
        peak < before + bound,
        "{what}: server RSS grew from {} MiB to a peak of {} MiB (bound: +{} MiB, {} MiB of it upload buffer)",
        before / MIB,
        peak / MIB,
        bound / MIB,
        buffered / MIB
    );
}

/// RETR of a 1 GiB file written into the storage.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ftp_retr_of_1_gib_keeps_server_memory_flat() {
    let gw = Gateway::start_default().await;
    let payload = Payload::new();
    let expected = payload.sha256(GIB);
    gw.store().put_blocks("big.bin", payload.blocks(GIB));
    let mut ftp = gw.ftp().await;

    let before = gw.rss_bytes();
    let sampler = RssSampler::start(gw.pid());
    let (len, hash) = within("1 GiB RETR", BIG_LIMIT, async {
        let mut down = ftp.retr_as_stream("big.bin").await.unwrap();
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; MIB as usize];
        let mut len = 0u64;
        loop {
            let n = within("RETR data", STEP, down.read(&mut buf)).await.unwrap();
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            len += n as u64;
        }
        down.finish().await.unwrap();
        (len, hex(&hasher.finalize()))
    })
    .await;
    let peak = sampler.stop();
    assert_eq!(len, GIB, "RETR length");
    assert_eq!(hash, expected, "RETR content");
    assert_flat("FTP RETR of 1 GiB", before, peak, 0);

    let text = gw.metrics().await;
    let out = metric_value(
        &text,
        "dualgate_transfer_bytes_total",
        &[("protocol", "ftp"), ("direction", "out")],
    );
    assert!(out.unwrap_or(0.0) >= GIB as f64, "transfer bytes out: {out:?}");
}

/// STOR of 1 GiB from a generator, then the same file over HTTP, streamed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ftp_stor_and_http_get_of_1_gib_keep_server_memory_flat() {
    let gw = Gateway::start_default().await;
    let payload = Payload::new();
    let mut ftp = gw.ftp().await;

    let before = gw.rss_bytes();
    let sampler = RssSampler::start(gw.pid());
    let sent_hash = within("1 GiB STOR", BIG_LIMIT, async {
        let mut up = ftp.put_with_stream("up.bin").await.unwrap();
        let mut hasher = Sha256::new();
        let mut buf = Vec::with_capacity(MIB as usize);
        for i in 0..GIB / MIB {
            payload.block(i, &mut buf);
            hasher.update(&buf);
            within("STOR data", STEP, up.write_all(&buf)).await.unwrap();
        }
        up.finish().await.unwrap();
        hex(&hasher.finalize())
    })
    .await;
    let peak = sampler.stop();
    assert_flat("FTP STOR of 1 GiB", before, peak, gw.store().upload_buffer());
    assert_eq!(gw.store().len("up.bin"), Some(GIB), "stored size");

    let before = gw.rss_bytes();
    let sampler = RssSampler::start(gw.pid());
    let (len, hash) = within("1 GiB HTTP GET", BIG_LIMIT, async {
        let resp = gw.get("/up.bin").await;
        assert_eq!(resp.status().as_u16(), 200);
        assert_eq!(resp.content_length(), Some(GIB));
        let mut body = resp.bytes_stream();
        let mut hasher = Sha256::new();
        let mut len = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.unwrap();
            hasher.update(&chunk);
            len += chunk.len() as u64;
        }
        (len, hex(&hasher.finalize()))
    })
    .await;
    let peak = sampler.stop();
    assert_eq!(len, GIB, "GET length");
    assert_eq!(hash, sent_hash, "GET content");
    assert_flat("HTTP GET of 1 GiB", before, peak, 0);
}

#[tokio::test]
async fn admin_health_readiness_and_metrics() {
    let gw = Gateway::start_default().await;
    assert_eq!(gw.admin_get("/healthz").await.0, 200);
    assert_eq!(gw.admin_get("/readyz").await.0, 200);

    let mut c = gw.raw_login().await;
    c.expect("NOOP", 200).await;
    c.expect("SIZE no-such-secret-file.txt", 550).await;
    // Bodies are read to the end: a response dropped half-way is a transfer cut
    // short, which the server may count differently.
    for (path, status) in [("/", 200), ("/no-such-secret-file.txt", 404)] {
        let resp = gw.get(path).await;
        assert_eq!(resp.status().as_u16(), status, "GET {path}");
        within("body", STEP, resp.bytes()).await.unwrap();
    }

    // LOG_CMD runs once a request is fully done, so wait for the samples to appear.
    let has = |text: &str, labels: &[(&str, &str)]| {
        metric_value(text, "dualgate_commands_total", labels).is_some_and(|v| v >= 1.0)
    };
    let text = gw
        .wait_metrics("command counters for both protocols", |text| {
            has(text, &[("protocol", "ftp"), ("command", "NOOP"), ("result", "ok")])
                && has(
                    text,
                    &[("protocol", "ftp"), ("command", "SIZE"), ("result", "client_error")],
                )
                && has(text, &[("protocol", "http"), ("command", "GET"), ("result", "ok")])
                && has(
                    text,
                    &[("protocol", "http"), ("command", "GET"), ("result", "client_error")],
                )
        })
        .await;
    assert!(text.contains("dualgate_commands_total{"), "{text}");
    assert_eq!(
        metric_value(&text, "dualgate_build_info", &[("version", env!("CARGO_PKG_VERSION"))]),
        Some(1.0),
        "dualgate_build_info: {text}"
    );
    assert!(
        metric_value(
            &text,
            "dualgate_logins_total",
            &[("protocol", "ftp"), ("result", "success")]
        )
        .is_some_and(|v| v >= 1.0),
        "{text}"
    );
    // Back-end operations, measured for whichever back-end runs: SIZE of a missing
    // file is a stat that found nothing (a client error), GET / a listing.
    let label = storage_kind().metrics_label();
    let backend = |operation: &str, result: &str| {
        metric_value(
            &text,
            "dualgate_backend_operations_total",
            &[("backend", label), ("operation", operation), ("result", result)],
        )
        .is_some_and(|v| v >= 1.0)
    };
    assert!(backend("stat", "client_error") && backend("list", "ok"), "{text}");
    assert!(
        metric_value(
            &text,
            "dualgate_backend_operation_duration_seconds_count",
            &[("backend", label), ("operation", "stat")]
        )
        .is_some_and(|v| v >= 1.0),
        "{text}"
    );
    // Bounded labels only: never a path or a user name.
    for sample in parse_metrics(&text) {
        assert!(
            sample.name.starts_with("dualgate_"),
            "unprefixed metric {}",
            sample.name
        );
        for value in sample.labels.values() {
            assert!(
                !value.contains("no-such-secret-file") && !value.contains('/') && value != &gw.user,
                "unbounded label value in {sample:?}"
            );
        }
    }
}
