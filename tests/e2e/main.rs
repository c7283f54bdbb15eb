//! End-to-end tests of `dualgate serve`: the real binary, started once per test on
//! loopback ports chosen by the kernel, driven over FTP (raw control lines and the
//! `suppaftp` client), HTTP (`reqwest` and hand-written requests) and the admin port.
//!
//! One aggregated test binary (`cargo test --test e2e`):
//!
//! - [`support`]: the [`Gateway`](support::Gateway) process fixture, a raw FTP control
//!   client, a raw HTTP request helper and small parsers, one module per concept,
//!   each with self-tests of its own.
//! - [`ftp_session`]: control-connection behaviour with exact reply codes (login,
//!   FEAT, quoting, errors, PASV/EPSV/PORT rules, timeouts, connection limits).
//! - [`ftp_times`]: `MFMT` and `MFF modify` set modification times where the
//!   back-end can (FEAT says so), and are refused up front where it cannot.
//! - [`ftp_transfer`]: data transfers (round trips, listings, REST/APPE, TYPE A,
//!   interrupted uploads, foreign data connections, confinement).
//! - [`ftp_fixes`]: the FTP defects of issue #13 (STOU's 150 names the file, `OPTS
//!   MLST` fact selection, a REST marker kept until the transfer, passive ports
//!   bounded per client address, ABOR's 226 text, NUL and EPRT error texts, `SITE
//!   CHMOD 000 /` refused).
//! - [`http_api`]: the HTTP API (auth, PUT/GET/HEAD/DELETE, conditionals, ranges,
//!   listings, path escapes, unknown methods).
//! - [`http_fixes`]: issue #13's HTTP part: anonymous refusals that challenge,
//!   unusable credentials, sandboxed user files and the listing's own CSP,
//!   framing (`Transfer-Encoding`, `Host`, `OPTIONS *`), trickled bodies, and
//!   the anonymous login names in any case.
//! - [`http_sendfile`]: large GETs (sent with `sendfile` on local disk): exact
//!   bytes for files, ranges and several ranges, pipelined and keep-alive
//!   requests in order, a body cut by the client logged short, a body cut at the
//!   drain deadline, exact byte counts in the metrics and the transfer log.
//! - [`open_files`]: the open-file cache: every change through the server (PUT,
//!   STOR, APPE, rename, DELE, MOVE) is served by the next GET; a change on disk
//!   behind its back within a second.
//! - [`ftps`]: explicit and implicit FTPS, data-connection session resumption,
//!   HTTPS with ALPN, certificate reload.
//! - [`mtls`]: client certificates (mutual TLS) on FTPS and HTTPS — a
//!   certificate alone or with the password logs in its user, never without —
//!   and the TLS handshake timeout.
//! - [`security`]: one policy on both protocols: login throttling, homes,
//!   permissions, anonymous access, users reloaded on SIGHUP.
//! - [`proxy`]: PROXY protocol v1/v2 from a trusted proxy on FTP control, passive
//!   data and HTTP; refused without a header or from untrusted peers.
//! - [`ops_fixes`]: SIGHUP with an empty config file changes nothing; SIGHUP names
//!   the changed settings that need a restart while users are still reloaded.
//! - [`shutdown`]: SIGTERM drains a running upload, then the process exits 0.
//! - [`cross_protocol`]: the same files and listings through both protocols.
//! - [`big_transfer`]: 1 GiB transfers with flat server memory, and the admin port.
//! - [`upstream_creds`]: per-user upstream FTP credentials (passthrough, map),
//!   two upstreams routed per user, `user@host` logins on an allowlist (ignored:
//!   `tests/backends/run.sh` runs them against vsftpd and Pure-FTPd).
//! - [`upstream_quirks`]: what an upstream FTP server lacks (`LIST -a`, `SITE
//!   CHMOD`), learned from its first refusal and remembered (the run's upstream
//!   behind `tests/backends/faultproxy.py --ftp-refuse`).
//! - [`upstream_latin1`]: a Latin-1 upstream (`encoding: latin1`) end to end:
//!   FTP and HTTP/WebDAV clients list, read, upload, rename and delete accented
//!   names, stored upstream as ISO-8859-1 bytes; `€` refused on both protocols.
//! - [`webdav_edges`]: property values that are not well-formed XML, COPY/MOVE
//!   onto links the server cannot follow, `Destination` with another scheme or
//!   user information.
//! - [`webdav`]: WebDAV class 1 (OPTIONS, PROPFIND, PROPPATCH, MKCOL, COPY, MOVE,
//!   recursive DELETE), multi-range GETs, WebDAV permissions, and WebDAV with FTP.
//! - [`webdav_locks`]: WebDAV class 2 (LOCK, UNLOCK, refresh, lockdiscovery,
//!   the `If` header, 423 on every writing method, a lock's owner) and the same
//!   locks refusing FTP STOR, APPE, DELE, RNFR/RNTO, MFMT, MKD, RMD and SITE
//!   CHMOD with 450 while RETR still reads.
//! - [`volumes`]: each session confined to its home: links out of a home refused
//!   and not listed (also swapped in mid-session), trees deleted, copied and moved
//!   without following links, `STAT path` needs read, abandoned uploads swept, one
//!   appender per file, and the access log records the status sent.
//!
//! **Storage.** Every gateway serves local disk, or — with `DUALGATE_TEST_STORAGE`
//! naming a file that holds a `storage: { kind: s3, … }` fragment (what
//! `tests/backends/s3.sh start` prints) — a key prefix of its own in that object
//! store ([`support::storage`]). The tests seed and check what a gateway serves
//! through `gw.store()`, whatever the back-end. Tests about local disk itself
//! (symbolic links, modes and `SITE CHMOD`, extended attributes, temporary upload
//! files and their sweeping, names that are not UTF-8, directory renames) are
//! named `local_…`, so that a run on another back-end leaves them out:
//!
//! ```text
//! cargo test --test e2e                                   # local disk
//! DUALGATE_TEST_STORAGE=s3.yaml cargo test --test e2e -- --skip local_
//! ```
//!
//! Where a back-end legitimately differs (no modes, no dead properties, no
//! directory renames, no directory times), a test states both expectations
//! through [`support::storage_kind`].
//!
//! The contract these tests check is the project's behaviour contract (RFC 959 / 2389 /
//! 2428 / 3659, RFC 9110 and RFC 4918 where it defers to them).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod support;

mod big_transfer;
mod cross_protocol;
mod ftp_fixes;
mod ftp_session;
mod ftp_times;
mod ftp_transfer;
mod ftps;
mod hostile;
mod http_api;
mod http_fixes;
mod http_sendfile;
mod mtls;
mod open_files;
mod ops_fixes;
mod proxy;
mod security;
mod shutdown;
mod upstream_creds;
mod upstream_latin1;
mod upstream_quirks;
mod volumes;
mod webdav;
mod webdav_edges;
mod webdav_locks;
