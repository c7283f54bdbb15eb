//! Fixtures shared by every end-to-end test, one concept per module:
//!
//! - [`gateway`]: the real `dualgate serve` binary in a child process ([`Gateway`]),
//!   on loopback ports chosen by the kernel, with storage of its own and a passive
//!   port window of its own. Killed (and reaped) on drop.
//! - [`storage`]: what a gateway serves ([`TestStore`], `gw.store()`): local disk
//!   in a temporary directory, or — with `DUALGATE_TEST_STORAGE` naming a
//!   `storage: { kind: s3, … }` fragment — a key prefix of its own in an object
//!   store; a synchronous accessor the tests seed and check the storage with, and
//!   [`storage_kind`] for the few per-storage expectations.
//! - [`sigv4`]: AWS Signature V4 for the one request the object-store accessor
//!   makes by hand (ListMultipartUploads).
//! - [`ftp`]: a byte-exact FTP control connection ([`RawFtp`]), data connections,
//!   and `suppaftp` transfers.
//! - [`http`]: `reqwest` requests with the gateway's credentials, and one HTTP/1.1
//!   request written byte for byte ([`raw_http`]) for paths that an URL library
//!   would normalise before sending, such as `/%2e%2e/`.
//! - [`dav`]: requests with any method (`PROPFIND`, `COPY`, …) and a
//!   namespace-aware reader of the `207 Multi-Status` XML they get back.
//! - [`metrics`]: the admin port and the Prometheus text it serves.
//! - [`tls`]: self-signed test certificates and rustls client configs (with and
//!   without session resumption).
//! - [`memory`]: the server's resident set size, sampled.
//! - [`dates`]: RFC 3339, IMF-fixdate and MDTM timestamps, and now.
//!
//! This module holds what they all share: timeouts ([`STEP`], [`TRANSFER`]),
//! [`within`] and [`poll_until`], test data and hashing. Every network wait is
//! bounded: [`STEP`] for one reply or one read, [`within`] for longer operations.

pub mod dates;
pub mod dav;
pub mod ftp;
pub mod gateway;
pub mod http;
pub mod memory;
pub mod metrics;
pub mod sigv4;
pub mod storage;
pub mod tls;

use std::future::Future;
use std::time::Duration;

use rand::RngCore;
use sha2::{Digest, Sha256};

pub use dates::{now_secs, parse_imf_fixdate, parse_mdtm, parse_rfc3339_utc};
pub use ftp::{RawFtp, connect_from, data_connect, ftp_get, ftp_put, read_all};
pub use gateway::{Gateway, GatewayOptions, UPLOAD_TEMP_PREFIX, hash_password, users_yaml};
pub use http::{raw_http, raw_http_from, raw_request};
pub use memory::RssSampler;
pub use metrics::{metric_value, parse_metrics};
pub use storage::{TestStore, Tree, UpstreamFtp, storage_kind, upstream_server};

/// Longest wait for one FTP reply, one read, one connect.
pub const STEP: Duration = Duration::from_secs(10);
/// Longest wait for one whole transfer of a few MiB.
pub const TRANSFER: Duration = Duration::from_secs(60);

/// Awaits `fut` for at most `limit`, panicking with `what` when the time is up.
pub async fn within<T>(what: &str, limit: Duration, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(limit, fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {limit:?}: {what}"),
    }
}

/// Polls `check` every 50 ms until it returns true; panics after `limit`.
pub async fn poll_until<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if check().await {
            return;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("condition not reached within {limit:?}: {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The length of [`put_stalling_file`]'s file: 64 MiB, far more than socket
/// buffers hold.
pub const STALLING_LEN: u64 = 64 << 20;

/// Stores `rel`: a file big enough that sending it stalls on full socket buffers
/// (one random MiB, 64 times), for transfers a client stops reading.
pub fn put_stalling_file(store: &TestStore, rel: &str) {
    let block = random_bytes(1 << 20);
    store.put_blocks(rel, std::iter::repeat_n(block, (STALLING_LEN >> 20) as usize));
}

/// `n` random bytes.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    rand::rng().fill_bytes(&mut v);
    v
}

/// SHA-256 as lower-case hex.
pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod self_tests {
    use super::*;

    #[test]
    fn hex_and_sha256_are_lower_case_hex() {
        assert_eq!(hex(&[0x00, 0x0f, 0xab]), "000fab");
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(random_bytes(17).len(), 17);
    }
}
