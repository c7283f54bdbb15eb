//! Unit tests of what needs no upstream: the reply-code table, listing-line
//! parsing (vsftpd, Pure-FTPd MLSD, DOS), temporary names, the section's
//! checks (credentials, upstreams, `login_hosts` against `users:`) and login
//! routing. The back-end against real servers is in `tests/conformance.rs`
//! (`upstream_ftp::`, run by `tests/backends/run.sh`).

#![allow(clippy::unwrap_used, reason = "tests")]

use super::errors::reply_kind;
use super::listing::parse_line;
use super::upload::{TEMP_PREFIX, temp_path};
use super::{UpstreamSettings, is_temp};
use crate::storage::{EntryKind, ErrorKind};

#[test]
fn reply_codes_map_to_kinds() {
    assert_eq!(reply_kind(550, "Failed to open file."), ErrorKind::NotFound);
    assert_eq!(reply_kind(550, "Can't check for file existence"), ErrorKind::NotFound);
    assert_eq!(reply_kind(550, "Permission denied."), ErrorKind::PermissionDenied);
    assert_eq!(
        reply_kind(550, "Can't remove directory: Directory not empty"),
        ErrorKind::DirectoryNotEmpty
    );
    assert_eq!(reply_kind(552, "Quota exceeded"), ErrorKind::NoSpace);
    assert_eq!(reply_kind(452, "Insufficient storage"), ErrorKind::NoSpace);
    assert_eq!(reply_kind(421, "Timeout."), ErrorKind::Unavailable);
    assert_eq!(
        reply_kind(426, "Failure writing network stream."),
        ErrorKind::Unavailable
    );
    assert_eq!(reply_kind(530, "Login incorrect."), ErrorKind::PermissionDenied);
    assert_eq!(reply_kind(553, "Could not create file."), ErrorKind::InvalidName);
    assert_eq!(reply_kind(500, "Unknown command."), ErrorKind::Unsupported);
    assert_eq!(reply_kind(599, "?"), ErrorKind::Other);
}

#[test]
fn listing_lines_parse_and_dots_are_dropped() {
    // vsftpd (numeric owner), a name with spaces.
    let (name, meta) = parse_line(
        "-rw-r--r--    1 1001     1001           11 Nov 22 03:13 app file.txt",
        false,
    )
    .unwrap();
    assert_eq!(
        (name.as_str(), meta.kind, meta.size, meta.mode),
        ("app file.txt", EntryKind::File, 11, Some(0o644))
    );
    let (name, meta) = parse_line("drwx--x---    2 1001     1001         4096 Nov 22 03:13 sub", false).unwrap();
    assert_eq!(
        (name.as_str(), meta.kind, meta.size, meta.mode),
        ("sub", EntryKind::Dir, 0, Some(0o710))
    );
    assert!(parse_line("drwxr-xr-x    2 1001     1001         4096 Nov 22 03:13 .", false).is_none());
    assert!(parse_line("drwxr-xr-x    2 1001     1001         4096 Nov 22 03:13 ..", false).is_none());
    assert!(parse_line("total 12", false).is_none());
    // DOS / IIS.
    let (name, meta) = parse_line("04-27-20  12:05PM                 1234 report.csv", false).unwrap();
    assert_eq!(
        (name.as_str(), meta.kind, meta.size, meta.mode),
        ("report.csv", EntryKind::File, 1234, None),
        "DOS lines show no mode"
    );
    // Pure-FTPd MLSD, with its cdir/pdir entries.
    let (name, meta) = parse_line(
        "type=file;size=5;modify=20261122031300;UNIX.mode=0644;unique=801g1; a b.txt",
        true,
    )
    .unwrap();
    assert_eq!(
        (name.as_str(), meta.kind, meta.size, meta.mode),
        ("a b.txt", EntryKind::File, 5, Some(0o644))
    );
    // Without the UNIX.mode fact, no mode (not suppaftp's stand-in 0777).
    let (_, meta) = parse_line("type=file;size=5;modify=20261122031300; plain", true).unwrap();
    assert_eq!(meta.mode, None);
    assert!(parse_line("type=cdir;sizd=4096;modify=20261122031300;UNIX.mode=0755; .", true).is_none());
    assert!(parse_line("type=pdir;sizd=4096;modify=20261122031300;UNIX.mode=0755; ..", true).is_none());
    assert!(parse_line("garbage", true).is_none());
}

#[test]
fn temporary_names_sit_next_to_the_target_and_are_hidden() {
    let t = temp_path("/alice/dir/file.txt");
    assert!(t.starts_with(&format!("/alice/dir/{TEMP_PREFIX}")), "{t}");
    assert!(is_temp(t.rsplit('/').next().unwrap()));
    assert_ne!(temp_path("/f"), temp_path("/f"));
    assert!(!is_temp("file.txt"));
}

#[test]
fn the_section_is_checked() {
    let parse = |yaml: &str| {
        let c = crate::config::load_str(yaml, "t").unwrap();
        let crate::config::StorageConfig::UpstreamFtp(ftp) = c.storage else {
            panic!("not upstream_ftp")
        };
        UpstreamSettings::problems(&ftp)
            .into_iter()
            .map(|(k, _)| k)
            .collect::<Vec<_>>()
    };
    assert!(parse("storage: { kind: upstream_ftp, host: h, user: u, password: p }\n").is_empty());
    assert_eq!(
        parse("storage: { kind: upstream_ftp, host: h, user: u }\n"),
        ["storage.password"]
    );
    assert_eq!(
        parse("storage: { kind: upstream_ftp, host: h, user: u, password: p, root: rel, max_connections: 0 }\n"),
        ["storage.root", "storage.max_connections"]
    );
    assert_eq!(
        parse("storage: { kind: upstream_ftp, host: h, user: u, password: p, ca_file: /x }\n"),
        ["storage.tls"]
    );
}

/// The keys `check-config` reports for a whole config (the section's own
/// checks and those against `users:`), in order.
fn bad_keys(yaml: &str) -> Vec<String> {
    let c = crate::config::load_str(yaml, "t").unwrap();
    c.validate("t")
        .into_iter()
        .map(|p| p.location.trim_start_matches("t: ").to_owned())
        .collect()
}

#[test]
fn per_user_credentials_are_checked_against_the_users() {
    let hash = crate::auth::hash_password("pw").unwrap();
    let users = format!(
        "users:\n  - {{ name: alice, password_hash: \"{hash}\" }}\n  - {{ name: bob, password_hash: \"{hash}\" }}\n"
    );
    // map: each user's entry, upstreams by name.
    let good = format!(
        "storage:\n  kind: upstream_ftp\n  host: a.example\n  credentials: map\n  upstreams: {{ erp: {{ host: b.example, root: /drop }} }}\n  \
         map:\n    alice: {{ upstream: erp, user: a1, password: x }}\n    bob: {{ user: b1, password_file: /run/b1, root: /b }}\n{users}"
    );
    assert_eq!(bad_keys(&good), Vec::<String>::new());
    // An unknown upstream, a map entry for nobody, no password, and a user
    // without an entry and no service account to fall back on.
    let bad = format!(
        "storage:\n  kind: upstream_ftp\n  host: a.example\n  credentials: map\n  \
         map:\n    alice: {{ upstream: nope, password: x }}\n    carol: {{ password: y }}\n    dave: {{ }}\n{users}"
    );
    assert_eq!(
        bad_keys(&bad),
        [
            "storage.map.alice.upstream",
            "storage.map.carol",
            "storage.map.dave",
            "storage.map.dave.password",
            "users[1]"
        ]
    );
    // passthrough: no local passwords, no upstream passwords in the map; the
    // users' entries may go without password_hash.
    let pass = format!(
        "storage:\n  kind: upstream_ftp\n  host: a.example\n  credentials: passthrough\n  \
         map: {{ alice: {{ password: x, root: /a }} }}\nusers:\n  - {{ name: alice, password_hash: \"{hash}\" }}\n  - {{ name: bob, home: /b }}\n"
    );
    assert_eq!(bad_keys(&pass), ["storage.map.alice", "users[0].password_hash"]);
    // ... while without passthrough a user needs one.
    assert_eq!(
        bad_keys("storage: { kind: local, root: /tmp/x }\nusers: [ { name: bob } ]\n"),
        ["users[0].password_hash"]
    );
    // static: a service account is needed, a map is not allowed.
    assert_eq!(
        bad_keys("storage: { kind: upstream_ftp, host: h, map: { alice: { password: x } } }\n"),
        ["storage.user", "storage.map"]
    );
    // passthrough without a service account: no anonymous access.
    assert_eq!(
        bad_keys("storage: { kind: upstream_ftp, host: h, credentials: passthrough }\nanonymous: { enabled: true }\n"),
        ["anonymous.enabled"]
    );
}

#[test]
fn upstreams_and_login_hosts_are_checked() {
    let keys = bad_keys(
        "storage:\n  kind: upstream_ftp\n  host: a.example\n  credentials: passthrough\n  \
         upstreams:\n    default: { host: c.example }\n    'bad name': { host: d.example }\n    erp: { host: a.example, port: 21, tls: explicit }\n    \
         ok: { host: b.example, port: 0 }\n  login_hosts: [ok, b.example, B.EXAMPLE:0, evil.example]\n",
    );
    assert_eq!(
        keys,
        [
            "storage.upstreams.bad name",
            "storage.upstreams.default",
            "storage.upstreams.ok.port",
            "storage.login_hosts[3]",
            "storage.upstreams.erp",
        ]
    );
    // user@host needs passthrough.
    assert_eq!(
        bad_keys("storage: { kind: upstream_ftp, host: h, user: u, password: p, login_hosts: [h] }\n"),
        ["storage.login_hosts"]
    );
}

#[test]
fn logins_are_routed_only_to_allowed_upstreams() {
    use super::routing::{Route, Routing};
    let c = crate::config::load_str(
        "storage:\n  kind: upstream_ftp\n  host: a.example\n  credentials: passthrough\n  \
         upstreams: { erp: { host: b.example, port: 2121 }, other: { host: c.example } }\n  \
         map: { carol: { upstream: other, root: /c } }\n  login_hosts: [erp]\n",
        "t",
    )
    .unwrap();
    let crate::config::StorageConfig::UpstreamFtp(ftp) = c.storage else {
        panic!("not upstream_ftp")
    };
    let r = Routing::new(&ftp);
    let route = |upstream: &str, user: &str, root: Option<&str>| Route {
        upstream: upstream.to_owned(),
        user: user.to_owned(),
        root: root.map(str::to_owned),
    };
    assert_eq!(r.route("bob").unwrap(), route("default", "bob", None));
    assert_eq!(r.route("carol").unwrap(), route("other", "carol", Some("/c")));
    // By its name, host or host:port, in any case.
    for login in ["bob@erp", "bob@ERP", "bob@b.example", "bob@b.example:2121"] {
        assert_eq!(r.route(login).unwrap(), route("erp", "bob", None), "{login}");
    }
    // Not on the list: neither a configured upstream nor any other host.
    for login in [
        "bob@other",
        "bob@c.example",
        "bob@a.example",
        "bob@evil.example",
        "bob@b.example:21",
        "@erp",
    ] {
        assert!(r.route(login).is_err(), "{login}");
    }
    // The last @ splits: the upstream user may hold one.
    assert_eq!(r.route("bob@corp@erp").unwrap(), route("erp", "bob@corp", None));
    // Without login_hosts, an @ is part of the name.
    let mut plain = ftp.clone();
    plain.login_hosts.clear();
    assert_eq!(
        Routing::new(&plain).route("bob@erp").unwrap(),
        route("default", "bob@erp", None)
    );
}

#[test]
fn stat_times_take_the_precision_of_a_listing() {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};
    let secs = |t: SystemTime| t.duration_since(UNIX_EPOCH).unwrap().as_secs();
    // Recent: to the minute, as `ls -l` shows `Nov 22 03:13`.
    let recent = SystemTime::now() - Duration::from_secs(3 * 3600 + 17);
    let cut = super::listing_precision(recent);
    assert_eq!(secs(cut) % 60, 0);
    assert!(recent.duration_since(cut).unwrap() < Duration::from_secs(60));
    // Older than six months: to the day, as `ls -l` shows `Nov 22  2024`.
    let old = SystemTime::now() - Duration::from_secs(400 * 86_400 + 5000);
    let cut = super::listing_precision(old);
    assert_eq!(secs(cut) % 86_400, 0);
    assert!(old.duration_since(cut).unwrap() < Duration::from_secs(86_400));
}

/// The section of a fake upstream at `port`, with one-second limits.
fn section_on(port: u16) -> crate::config::UpstreamFtpConfig {
    let yaml = format!(
        "storage: {{ kind: upstream_ftp, host: 127.0.0.1, port: {port}, user: u, password: p, \
         connect_timeout: 1s, command_timeout: 1s }}\n"
    );
    let c = crate::config::load_str(&yaml, "t").unwrap();
    let crate::config::StorageConfig::UpstreamFtp(ftp) = c.storage else {
        panic!("not upstream_ftp")
    };
    *ftp
}

/// A back-end on a fake upstream at `port` with one-second limits.
fn backend_on(port: u16) -> super::UpstreamFtpBackend {
    super::UpstreamFtpBackend::open(&section_on(port)).unwrap()
}

/// A fake upstream that sends `greeting` (nothing if empty) to each connection,
/// then reads and never answers: every wait on it must end by a timeout.
async fn silent_upstream(greeting: &'static [u8]) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = socket.write_all(greeting).await;
                let mut buf = [0u8; 512];
                while matches!(socket.read(&mut buf).await, Ok(n) if n > 0) {}
            });
        }
    });
    port
}

#[tokio::test]
async fn an_upstream_that_hangs_makes_the_backend_unavailable_not_stuck() {
    use crate::storage::Backend;
    for greeting in [&b""[..], b"220 hello\r\n", b"220-first line of a long banner\r\n"] {
        let backend = backend_on(silent_upstream(greeting).await);
        let started = std::time::Instant::now();
        let err = backend.probe().await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::Unavailable, "{greeting:?}: {err:?}");
        // connect_timeout + command_timeout bound the whole connect and login.
        assert!(
            started.elapsed() < std::time::Duration::from_secs(4),
            "{greeting:?}: {:?}",
            started.elapsed()
        );
    }
}

/// A fake upstream that refuses every login, after `delay`.
async fn refusing_upstream(delay: std::time::Duration) -> u16 {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (r, mut w) = socket.into_split();
                let mut lines = BufReader::new(r).lines();
                let _ = w.write_all(b"220 ready\r\n").await;
                while let Ok(Some(line)) = lines.next_line().await {
                    let reply: &[u8] = if line.starts_with("USER") {
                        b"331 password please\r\n"
                    } else {
                        tokio::time::sleep(delay).await;
                        b"530 Login incorrect.\r\n"
                    };
                    let _ = w.write_all(reply).await;
                }
            });
        }
    });
    port
}

#[tokio::test]
async fn a_readiness_check_outlives_a_caller_that_gives_up() {
    // The upstream takes 600 ms to refuse (vsftpd and PAM take seconds); the
    // caller gives up after 200 ms, as /readyz does after 2 s.
    let backend = backend_on(refusing_upstream(std::time::Duration::from_millis(600)).await);
    let first = tokio::time::timeout(
        std::time::Duration::from_millis(200),
        crate::storage::Backend::probe(&backend),
    )
    .await;
    assert!(first.is_err(), "the first probe cannot have an answer yet");
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    // The check went on without its caller: the next probe answers at once.
    let started = std::time::Instant::now();
    let err = crate::storage::Backend::probe(&backend).await.unwrap_err();
    assert!(
        started.elapsed() < std::time::Duration::from_millis(100),
        "{:?}",
        started.elapsed()
    );
    assert!(format!("{:?}", err.source).contains("PermissionDenied"), "{err:?}");
}

#[tokio::test]
async fn an_upstream_that_refuses_the_login_is_denied() {
    let port = refusing_upstream(std::time::Duration::ZERO).await;
    let backend = backend_on(port);
    let err = crate::storage::Backend::probe(&backend).await.unwrap_err();
    // The probe reports it as not ready; the reason says why.
    assert_eq!(err.kind, ErrorKind::Unavailable);
    assert!(format!("{:?}", err.source).contains("PermissionDenied"), "{err:?}");
}

#[tokio::test]
async fn pools_are_bounded_and_unused_ones_are_dropped() {
    use super::pools::Pools;
    use crate::auth::Password;
    let c = crate::config::load_str(
        "storage: { kind: upstream_ftp, host: 127.0.0.1, user: u, password: p, idle_timeout: 200ms }\n",
        "t",
    )
    .unwrap();
    let crate::config::StorageConfig::UpstreamFtp(ftp) = c.storage else {
        panic!("not upstream_ftp")
    };
    let settings = std::sync::Arc::new(UpstreamSettings::all_from_config(&ftp).unwrap().remove(0));
    let pw = Password::new("pw".into());
    // The reaper is not what this test measures: it sweeps by hand.
    let pools = Pools::new(2, std::time::Duration::from_secs(3600));
    let a = pools.pool(&settings, "a", &pw).unwrap();
    // One account, one pool, whoever asks.
    assert!(std::sync::Arc::ptr_eq(&a, &pools.pool(&settings, "a", &pw).unwrap()));
    drop(pools.pool(&settings, "b", &pw).unwrap());
    assert_eq!(pools.count(), 2);
    // Full: b (no connection open, held by nobody) makes room for c; a is held.
    let c = pools.pool(&settings, "c", &pw).unwrap();
    assert_eq!(pools.count(), 2);
    // Full of pools in use: a new account is refused, not added.
    let Err(err) = pools.pool(&settings, "d", &pw) else {
        panic!("a third pool was added to a set of two in use")
    };
    assert_eq!(err.kind, ErrorKind::Unavailable);
    // Unused for the idle timeout, and let go: swept away.
    drop((a, c));
    pools.sweep();
    assert_eq!(pools.count(), 2, "used just now");
    tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    pools.sweep();
    assert_eq!(pools.count(), 0);
}

/// A fake upstream that logs every connection in and answers NOOP, but closes
/// its first connection `close_after` after that connection's `TYPE I` — as an
/// upstream restart or a network failure leaves a pooled connection. Returns
/// the port and the count of connections accepted.
async fn closing_upstream(close_after: std::time::Duration) -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = std::sync::Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let number = count.fetch_add(1, Ordering::SeqCst) + 1;
            tokio::spawn(async move {
                let (r, mut w) = socket.into_split();
                let mut lines = BufReader::new(r).lines();
                let _ = w.write_all(b"220 ready\r\n").await;
                while let Ok(Some(line)) = lines.next_line().await {
                    let reply: &[u8] = match line.split(' ').next().unwrap_or("") {
                        "USER" => b"331 password please\r\n",
                        "PASS" => b"230 logged in\r\n",
                        "TYPE" => b"200 binary\r\n",
                        "NOOP" => b"200 ok\r\n",
                        _ => b"500 not here\r\n",
                    };
                    let _ = w.write_all(reply).await;
                    if number == 1 && line.starts_with("TYPE") {
                        tokio::time::sleep(close_after).await;
                        return; // both halves dropped: the connection is closed
                    }
                }
            });
        }
    });
    (port, accepted)
}

#[tokio::test]
async fn a_pooled_connection_the_upstream_closed_is_not_handed_out() {
    use std::sync::atomic::Ordering;
    let (port, accepted) = closing_upstream(std::time::Duration::from_millis(50)).await;
    let settings = UpstreamSettings::all_from_config(&section_on(port)).unwrap().remove(0);
    let pool = super::pool::Pool::new(
        std::sync::Arc::new(settings),
        "u",
        crate::auth::Password::new("p".into()),
    );
    drop(pool.get().await.unwrap()); // logged in, then idle in the pool
    tokio::time::sleep(std::time::Duration::from_millis(300)).await; // the upstream closed it
    // Idle for less than the NOOP check's 5 s: before the fix, handed out dead.
    let mut lease = pool.get().await.unwrap();
    let noop = tokio::time::timeout(std::time::Duration::from_secs(1), lease.ftp().noop()).await;
    assert!(matches!(noop, Ok(Ok(()))), "{noop:?}");
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        2,
        "a fresh connection replaced the closed one"
    );
}
