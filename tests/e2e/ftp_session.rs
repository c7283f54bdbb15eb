//! The FTP control connection, byte for byte: login rules, the informational
//! commands, 257 quoting, error codes for malformed input, passive and active
//! data-connection setup rules, file commands that need no data connection,
//! refused names, QUIT, the idle and login timeouts, and per-address connection
//! limits (per address and in total), data-connection timeouts, IPv6. Every assertion is on an exact reply code (RFC 959 and the contract).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

use crate::support::{
    Gateway, GatewayOptions, RawFtp, STEP, data_connect, parse_mdtm, poll_until, raw_http, read_all, storage_kind,
    within,
};

#[tokio::test]
async fn login_is_required_and_a_failed_login_keeps_the_session() {
    let gw = Gateway::start_default().await;
    let mut c = gw.raw_ftp().await;
    assert_eq!(c.greeting.0, 220, "greeting: {}", c.greeting.1);
    for line in ["PWD", "LIST", "RETR x", "CWD /", "MKD x"] {
        c.expect(line, 530).await;
    }
    c.expect(&format!("USER {}", gw.user), 331).await;
    c.expect("PASS definitely-not-the-password", 530).await;
    // Still connected, still logged out; a second attempt with the right password works.
    c.expect("PWD", 530).await;
    c.login(&gw.user, &gw.password).await;
    let pwd = c.expect("PWD", 257).await;
    assert!(pwd.starts_with("257 \"/\""), "{pwd:?}");
    assert!(!gw.store().exists("x"), "MKD before login created something");
}

#[tokio::test]
async fn unknown_user_and_wrong_password_get_the_same_replies() {
    let gw = Gateway::start_default().await;
    let mut known = gw.raw_ftp().await;
    let mut unknown = gw.raw_ftp().await;
    let user_known = known.expect(&format!("USER {}", gw.user), 331).await;
    let user_unknown = unknown.expect("USER nosuchuser", 331).await;
    assert_eq!(user_known, user_unknown, "USER replies tell users apart");
    let pass_known = known.expect("PASS wrong-password", 530).await;
    let pass_unknown = unknown.expect("PASS wrong-password", 530).await;
    assert_eq!(pass_known, pass_unknown, "PASS replies tell users apart");
}

#[tokio::test]
async fn pass_without_user_is_a_bad_sequence() {
    let gw = Gateway::start_default().await;
    let mut c = gw.raw_ftp().await;
    c.expect(&format!("PASS {}", gw.password), 503).await;
    c.expect("PWD", 530).await;
    c.login(&gw.user, &gw.password).await;
}

#[tokio::test]
async fn informational_and_transfer_parameter_commands() {
    let gw = Gateway::start_default().await;
    let mut c = gw.raw_login().await;
    c.expect("SYST", 215).await;

    let feat = c.expect("FEAT", 211).await;
    let lines: Vec<&str> = feat.lines().collect();
    assert!(lines.len() >= 3, "FEAT is not multi-line: {feat:?}");
    assert!(lines[0].starts_with("211-"), "{feat:?}");
    assert_eq!(*lines.last().unwrap(), "211 End", "{feat:?}");
    for middle in &lines[1..lines.len() - 1] {
        assert!(
            middle.starts_with(' '),
            "RFC 2389 feature lines start with a space: {middle:?}"
        );
    }
    for feature in [" EPSV", " UTF8", " SIZE", " MDTM", " REST STREAM"] {
        assert!(lines.contains(&feature), "FEAT lacks {feature:?}: {feat:?}");
    }

    c.expect("NOOP", 200).await;
    c.expect("TYPE I", 200).await;
    c.expect("TYPE A", 200).await;
    c.expect("TYPE E", 504).await;
    c.expect("MODE S", 200).await;
    c.expect("MODE B", 504).await;
    c.expect("STRU F", 200).await;
    c.expect("NOOP", 200).await;
}

#[tokio::test]
async fn working_directory_and_257_quote_doubling() {
    let gw = Gateway::start_default().await;
    let mut c = gw.raw_login().await;
    let pwd = c.expect("PWD", 257).await;
    assert!(pwd.starts_with("257 \"/\""), "{pwd:?}");

    let mkd = c.expect("MKD a\"b", 257).await;
    assert!(mkd.starts_with("257 \"/a\"\"b\""), "quote not doubled: {mkd:?}");
    assert!(
        gw.store().is_dir("a\"b"),
        "MKD did not create the directory in the storage"
    );

    c.expect("CWD a\"b", 250).await;
    let pwd = c.expect("PWD", 257).await;
    assert!(pwd.starts_with("257 \"/a\"\"b\""), "{pwd:?}");

    // `..` is clamped at the user's root, from any depth.
    c.expect("CWD ../../..", 250).await;
    let pwd = c.expect("PWD", 257).await;
    assert!(pwd.starts_with("257 \"/\""), "{pwd:?}");

    c.expect("CWD a\"b", 250).await;
    c.expect("CDUP", 250).await;
    let pwd = c.expect("PWD", 257).await;
    assert!(pwd.starts_with("257 \"/\""), "{pwd:?}");

    c.expect("CWD /nonexistent", 550).await;
    let pwd = c.expect("PWD", 257).await;
    assert!(pwd.starts_with("257 \"/\""), "a failed CWD moved: {pwd:?}");
}

#[tokio::test]
async fn malformed_and_unknown_commands_keep_the_session() {
    let gw = Gateway::start_default().await;
    let mut c = gw.raw_login().await;
    c.expect("XYZZY", 500).await;
    c.expect("NOOP", 200).await;
    c.expect("PORT 1,2,3", 501).await;
    c.expect("REST abc", 501).await;
    c.expect("NOOP", 200).await;

    // 5000 bytes, over the 4096-byte limit: one 500, the rest of the line discarded.
    let long = format!("NOOP {}", "a".repeat(4995));
    assert_eq!(long.len(), 5000);
    c.expect(&long, 500).await;
    c.expect("NOOP", 200).await;
    let pwd = c.expect("PWD", 257).await;
    assert!(pwd.starts_with("257 \"/\""), "{pwd:?}");
}

/// The RFC 959 core verbs the contract lists (and RFC 775 aliases, RFC 7151 HOST),
/// each with the codes its RFC allows for this situation. All mismatches are
/// collected so that one run reports every missing verb.
#[tokio::test]
async fn core_verbs_listed_by_the_contract_are_implemented() {
    let gw = Gateway::start_default().await;
    let mut c = gw.raw_ftp().await;
    let mut wrong = Vec::new();
    let mut check = async |c: &mut RawFtp, line: &str, allowed: &[u16]| {
        let (code, text) = c.cmd(line).await;
        if !allowed.contains(&code) {
            wrong.push(format!("{line:?} → {text:?} (expected one of {allowed:?})"));
        }
    };
    check(&mut c, "HOST 127.0.0.1", &[220]).await; // RFC 7151: before USER
    c.login(&gw.user, &gw.password).await;
    check(&mut c, "ACCT none", &[202, 230]).await;
    check(&mut c, "STAT", &[211]).await;
    check(&mut c, "HELP", &[214]).await;
    check(&mut c, "ALLO 1000", &[200, 202]).await;
    check(&mut c, "MLST", &[250]).await;
    check(&mut c, "ABOR", &[226]).await; // no transfer running
    check(&mut c, "XMKD x", &[257]).await;
    check(&mut c, "XCWD x", &[250]).await;
    check(&mut c, "XPWD", &[257]).await;
    check(&mut c, "XCUP", &[250]).await;
    check(&mut c, "XRMD x", &[250]).await;
    check(&mut c, "OPTS UTF8 ON", &[200]).await;
    check(&mut c, "SITE NOSUCH", &[502]).await; // a SITE subcommand nobody registered
    check(&mut c, "AUTH TLS", &[502, 504, 534]).await; // no TLS configured
    check(&mut c, "REIN", &[220]).await;
    check(&mut c, "PWD", &[530]).await; // REIN logged the user out
    assert!(wrong.is_empty(), "core verbs answered wrongly:\n{}", wrong.join("\n"));
}

/// The `perm` fact of `MLST` and `MLSD` (RFC 3659 §7.5.5) from the user's permissions.
#[tokio::test]
async fn mlst_and_mlsd_perm_facts_follow_the_users_permissions() {
    let gw = Gateway::start_default().await;
    gw.store().put("f.txt", b"x");
    gw.store().mkdir("d");
    let mut c = gw.raw_login().await;
    let fact = |text: &str| -> String {
        let line = text.lines().nth(1).unwrap_or_default();
        line.split(';')
            .find_map(|f| f.trim().strip_prefix("perm="))
            .unwrap_or_default()
            .to_owned()
    };
    // The generated user has every permission.
    assert_eq!(fact(&c.expect("MLST f.txt", 250).await), "rawdf");
    assert_eq!(fact(&c.expect("MLST d", 250).await), "elcdfm");
    let mut data = c.start_transfer("MLSD").await;
    let listing = String::from_utf8(read_all(&mut data, STEP).await).unwrap();
    assert_eq!(c.reply().await.0, 226);
    for (name, perm) in [("f.txt", "rawdf"), ("d", "elcdfm")] {
        let line = listing.lines().find(|l| l.ends_with(&format!(" {name}"))).unwrap();
        assert!(line.contains(&format!("perm={perm};")), "MLSD {name}: {line:?}");
    }
}

#[tokio::test]
async fn site_help_lists_its_subcommands() {
    let gw = Gateway::start_default().await;
    let mut c = gw.raw_login().await;
    let help = c.expect("SITE HELP", 214).await;
    let lines: Vec<&str> = help.lines().collect();
    assert!(lines.len() >= 3, "SITE HELP is not multi-line: {help:?}");
    assert!(lines[0].starts_with("214-"), "{help:?}");
    assert!(lines.last().unwrap().starts_with("214 "), "{help:?}");
    assert!(
        lines[1..lines.len() - 1]
            .iter()
            .any(|l| l.split_whitespace().any(|w| w == "HELP")),
        "SITE HELP does not list HELP: {help:?}"
    );
    // CHMOD only where modes can be changed (local disk, upstream FTP servers
    // with SITE CHMOD; not object stores).
    assert_eq!(
        help.contains("CHMOD"),
        storage_kind().sets_modes(),
        "SITE HELP lists CHMOD exactly when the storage can change modes ({:?}): {help:?}",
        storage_kind()
    );
}

/// `SITE CHMOD` where the storage can change modes (local disk; an upstream FTP
/// server passes it on as `SITE CHMOD`), and LIST's mode column shows the
/// result; elsewhere it is refused before anything happens.
#[tokio::test]
async fn site_chmod_changes_modes_where_the_storage_can() {
    let gw = Gateway::start_default().await;
    gw.store().put("a file.txt", b"x");
    gw.store().mkdir("dir");
    let mut c = gw.raw_login().await;
    if !storage_kind().sets_modes() {
        c.expect("SITE CHMOD 600 a file.txt", 502).await;
        return;
    }
    c.expect("SITE CHMOD 600 a file.txt", 200).await;
    c.expect("SITE CHMOD 0750 dir", 200).await;
    assert_eq!(gw.store().mode("a file.txt"), Some(0o600));
    assert_eq!(gw.store().mode("dir"), Some(0o750));
    let mut data = c.start_transfer("LIST").await;
    let body = read_all(&mut data, STEP).await;
    assert_eq!(c.reply().await.0, 226);
    let listing: Vec<&str> = std::str::from_utf8(&body).unwrap().lines().collect();
    for (start, name) in [("-rw------- ", "a file.txt"), ("drwxr-x--- ", "dir")] {
        assert!(
            listing
                .iter()
                .any(|l| l.starts_with(start) && l.ends_with(&format!(" {name}"))),
            "{name} is not listed as {start:?}: {listing:?}"
        );
    }
    c.expect("SITE CHMOD 4755 a file.txt", 501).await; // no set-id bits
    c.expect("SITE CHMOD 644 missing", 550).await;
    c.expect("SITE CHMOD 700 /", 550).await; // the root stays as deployed
    assert_eq!(
        gw.store().mode("a file.txt"),
        Some(0o600),
        "refused commands changed nothing"
    );
}

#[tokio::test]
async fn local_site_chmod_sets_permission_bits_inside_the_root_only() {
    use std::os::unix::fs::PermissionsExt;
    let gw = Gateway::start_default().await;
    std::fs::write(gw.disk("a file.txt"), b"x").unwrap();
    std::fs::create_dir(gw.disk("dir")).unwrap();
    let mode = |rel: &str| std::fs::metadata(gw.disk(rel)).unwrap().permissions().mode() & 0o7777;
    let mut c = gw.raw_login().await;

    c.expect("SITE CHMOD 600 a file.txt", 200).await;
    assert_eq!(mode("a file.txt"), 0o600);
    c.expect("SITE CHMOD 0750 /dir", 200).await;
    assert_eq!(mode("dir"), 0o750);
    // A mode-000 file can still be changed back (the server does not need to open it).
    c.expect("SITE CHMOD 000 a file.txt", 200).await;
    c.expect("SITE CHMOD 644 a file.txt", 200).await;
    assert_eq!(mode("a file.txt"), 0o644);

    c.expect("SITE CHMOD 4755 a file.txt", 501).await; // no set-id bits
    c.expect("SITE CHMOD 9 a file.txt", 501).await;
    c.expect("SITE CHMOD 644", 501).await;
    c.expect("SITE CHMOD 644 missing", 550).await;
    c.expect("SITE CHMOD 700 /", 550).await; // the root stays as deployed
    assert_eq!(mode("a file.txt"), 0o644, "refused commands changed nothing");

    // A symlink pointing outside the root is refused, its target untouched.
    let outside = tempfile::NamedTempFile::new().unwrap();
    std::fs::set_permissions(outside.path(), std::fs::Permissions::from_mode(0o644)).unwrap();
    std::os::unix::fs::symlink(outside.path(), gw.disk("escape")).unwrap();
    c.expect("SITE CHMOD 777 escape", 550).await;
    let outside_mode = std::fs::metadata(outside.path()).unwrap().permissions().mode() & 0o777;
    assert_eq!(outside_mode, 0o644, "chmod followed a symlink out of the root");
    c.expect("NOOP", 200).await;
}

#[tokio::test]
async fn passive_replies_and_epsv_all() {
    let gw = Gateway::start_default().await;
    let mut c = gw.raw_login().await;

    let addr = c.pasv().await;
    assert_eq!(addr.ip().to_string(), "127.0.0.1", "PASV address");
    assert!(
        gw.passive_ports.contains(&addr.port()),
        "PASV port {} outside {:?}",
        addr.port(),
        gw.passive_ports
    );

    let port = c.epsv_port().await;
    assert!(
        gw.passive_ports.contains(&port),
        "EPSV port {port} outside {:?}",
        gw.passive_ports
    );
    let text = c.expect("EPSV 1", 229).await;
    assert!(text.contains("(|||"), "{text:?}");
    c.expect("EPSV 2", 522).await; // RFC 2428: IPv6 asked on an IPv4 connection

    c.expect("EPSV ALL", 200).await;
    c.expect("PASV", 503).await;
    for line in ["PORT 127,0,0,1,156,64", "EPRT |1|127.0.0.1|40000|"] {
        let (code, text) = c.cmd(line).await;
        assert!(
            (500..600).contains(&code),
            "{line} after EPSV ALL was not refused: {text:?}"
        );
    }
    let port = c.epsv_port().await;
    assert!(gw.passive_ports.contains(&port));
}

#[tokio::test]
async fn active_mode_only_to_the_clients_own_unprivileged_port() {
    let gw = Gateway::start_default().await;
    gw.store().put("hello.txt", b"hi");
    let mut c = gw.raw_login().await;
    for line in [
        "PORT 10,0,0,1,4,1",
        "PORT 127,0,0,1,0,21",
        "EPRT |1|10.0.0.1|1025|",
        "EPRT |1|127.0.0.1|21|",
    ] {
        let (code, text) = c.cmd(line).await;
        assert!(
            (500..600).contains(&code),
            "{line} (FTP bounce) was not refused: {text:?}"
        );
    }

    // The legitimate case still works: our own address, a high port.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    assert!(port >= 1024);
    c.expect(&format!("PORT 127,0,0,1,{},{}", port / 256, port % 256), 200)
        .await;
    c.send("NLST").await;
    let (mut data, _) = within("active data connection", STEP, listener.accept()).await.unwrap();
    let (code, text) = c.reply().await;
    assert_eq!(code, 150, "{text:?}");
    let names = read_all(&mut data, STEP).await;
    assert_eq!(names, b"hello.txt\r\n");
    let (code, text) = c.reply().await;
    assert_eq!(code, 226, "{text:?}");
}

#[tokio::test]
async fn file_commands_without_data_connection() {
    let gw = Gateway::start_default().await;
    gw.store().put("f.txt", vec![b'x'; 1234]);
    gw.store().mkdir("full");
    gw.store().put("full/inner.txt", b"inner");
    gw.store().mkdir("empty");
    let mut c = gw.raw_login().await;

    assert_eq!(c.expect("SIZE f.txt", 213).await, "213 1234");
    let mdtm = c.expect("MDTM f.txt", 213).await;
    let value = mdtm.strip_prefix("213 ").unwrap();
    let step = storage_kind().listed_time_step();
    assert_eq!(
        parse_mdtm(value).map(|t| t / step),
        Some(gw.store().mtime_secs("f.txt") / step),
        "MDTM {value:?}"
    );
    c.expect("SIZE missing.txt", 550).await;
    c.expect("MDTM missing.txt", 550).await;

    c.expect("RMD full", 550).await;
    assert!(
        gw.store().exists("full/inner.txt"),
        "RMD of a non-empty directory removed files"
    );
    c.expect("RMD empty", 250).await;
    assert!(!gw.store().exists("empty"));
    c.expect("MKD full", 550).await;

    c.expect("RNTO g.txt", 503).await;
    c.expect("RNFR f.txt", 350).await;
    c.expect("RNTO g.txt", 250).await;
    assert!(!gw.store().exists("f.txt"));
    assert_eq!(gw.store().read("g.txt"), vec![b'x'; 1234]);
    c.expect("RNFR missing.txt", 550).await;

    c.expect("DELE g.txt", 250).await;
    assert!(!gw.store().exists("g.txt"));
    c.expect("DELE g.txt", 550).await;
}

#[tokio::test]
async fn names_with_control_characters_or_bad_utf8_are_refused() {
    let gw = Gateway::start_default().await;
    let mut c = gw.raw_login().await;
    for name in [&b"a\x01b"[..], b"a\x1fb", b"a\x7fb"] {
        let mut line = b"MKD ".to_vec();
        line.extend_from_slice(name);
        line.extend_from_slice(b"\r\n");
        c.send_raw(&line).await;
        let (code, text) = c.reply().await;
        assert_eq!(code, 553, "MKD {name:?}: {text:?}");
    }
    // NUL and invalid UTF-8 are malformed arguments: 553 or 501.
    for line in [&b"MKD a\x00b\r\n"[..], b"MKD a\xc3\x28b\r\n"] {
        c.send_raw(line).await;
        let (code, text) = c.reply().await;
        assert!(code == 553 || code == 501, "{line:?}: {text:?}");
    }
    c.expect("NOOP", 200).await;
    let created = gw.store().names("");
    assert!(created.is_empty(), "refused names were created: {created:?}");
}

#[tokio::test]
async fn quit_says_goodbye_and_closes() {
    let gw = Gateway::start_default().await;
    let mut c = gw.raw_login().await;
    c.expect("QUIT", 221).await;
    c.expect_closed().await;

    // Also before login.
    let mut c = gw.raw_ftp().await;
    c.expect("QUIT", 221).await;
    c.expect_closed().await;
}

/// Waits for the unsolicited `421` of a timeout and the close after it.
async fn expect_timeout_close(mut c: RawFtp, since: Instant) {
    let (code, text) = within("the idle/login timeout", Duration::from_secs(5), c.reply()).await;
    assert_eq!(code, 421, "{text:?}");
    let elapsed = since.elapsed();
    assert!(
        elapsed >= Duration::from_millis(1500),
        "closed after {elapsed:?}, before the 2 s timeout"
    );
    c.expect_closed().await;
}

#[tokio::test]
async fn idle_and_login_timeouts_close_with_421() {
    let gw = Gateway::start(GatewayOptions::with_config(
        "limits: { login_timeout: 2s, idle_timeout: 2s }\n",
    ))
    .await;
    let never_logs_in = gw.raw_ftp().await;
    let t0 = Instant::now();
    let mut idle = gw.raw_login().await;
    idle.expect("NOOP", 200).await;
    let t1 = Instant::now();
    tokio::join!(expect_timeout_close(never_logs_in, t0), expect_timeout_close(idle, t1));
}

#[tokio::test]
async fn connections_per_address_are_limited() {
    let gw = Gateway::start(GatewayOptions::with_config(
        "limits: { max_connections_per_address: 2 }\n",
    ))
    .await;
    let mut first = gw.raw_ftp().await;
    let second = gw.raw_ftp().await;
    assert_eq!(first.greeting.0, 220, "{:?}", first.greeting);
    assert_eq!(second.greeting.0, 220, "{:?}", second.greeting);

    let mut third = gw.raw_ftp().await;
    assert_eq!(
        third.greeting.0, 421,
        "third connection from one address: {:?}",
        third.greeting
    );
    third.expect_closed().await;

    first.expect("QUIT", 221).await;
    first.expect_closed().await;
    // The slot is released once the server has finished with the first session.
    poll_until("a new connection is welcomed after one closed", STEP, || async {
        gw.raw_ftp().await.greeting.0 == 220
    })
    .await;
    drop(second);
}

#[tokio::test]
async fn total_connections_are_limited_across_addresses_and_protocols() {
    let gw = Gateway::start(GatewayOptions::with_config("limits: { max_connections: 2 }\n")).await;
    let ip = |last: u8| std::net::IpAddr::from([127, 0, 0, last]);
    let mut first = RawFtp::connect_from(ip(2), gw.ftp_addr).await;
    let second = RawFtp::connect_from(ip(3), gw.ftp_addr).await;
    assert_eq!((first.greeting.0, second.greeting.0), (220, 220));
    let mut third = RawFtp::connect_from(ip(4), gw.ftp_addr).await;
    assert_eq!(
        third.greeting.0, 421,
        "a third client over the total: {:?}",
        third.greeting
    );
    third.expect_closed().await;
    let http = raw_http(gw.http_addr, "GET", "/", &[]).await;
    assert_eq!(http.status, 503, "HTTP over the total limit");

    first.expect("QUIT", 221).await;
    first.expect_closed().await;
    poll_until("a client is welcomed once a slot is free", STEP, || async {
        RawFtp::connect_from(ip(5), gw.ftp_addr).await.greeting.0 == 220
    })
    .await;
    drop(second);
}

#[tokio::test]
async fn data_connection_timeouts_answer_425_and_426_and_the_session_lives() {
    let gw = Gateway::start(GatewayOptions::with_config("limits: { data_timeout: 2s }\n")).await;
    gw.store().put("big.bin", vec![7u8; 32 << 20]);
    gw.store().put("keep.bin", b"previous");
    let mut c = gw.raw_login().await;

    // PASV, then the client never connects: 425 after the data timeout.
    c.pasv().await;
    let t0 = Instant::now();
    let (code, text) = within(
        "the passive accept timeout",
        Duration::from_secs(6),
        c.cmd("RETR big.bin"),
    )
    .await;
    assert_eq!(code, 425, "{text:?}");
    assert!(
        t0.elapsed() >= Duration::from_millis(1500),
        "gave up after {:?}",
        t0.elapsed()
    );

    // A download the client stops reading: 426 once the server has waited the timeout.
    let _stalled = c.start_transfer("RETR big.bin").await;
    let (code, text) = within("the stalled download timeout", Duration::from_secs(8), c.reply()).await;
    assert_eq!(code, 426, "{text:?}");

    // An upload that stops sending: 426, and the previous file stays.
    let mut up = c.start_transfer("STOR keep.bin").await;
    up.write_all(&[1u8; 100_000]).await.unwrap();
    let (code, text) = within("the stalled upload timeout", Duration::from_secs(8), c.reply()).await;
    assert_eq!(code, 426, "{text:?}");
    drop(up);
    gw.assert_upload_left_no_trace("keep.bin", b"previous", "an upload stalled past the data timeout");
    c.expect("NOOP", 200).await;
}

#[tokio::test]
async fn ipv6_control_and_data_connections() {
    let gw = Gateway::start(GatewayOptions {
        ftp_listen: Some("[::1]:0"),
        ..GatewayOptions::default()
    })
    .await;
    assert!(gw.ftp_addr.is_ipv6(), "listening on {}", gw.ftp_addr);
    gw.store().put("six.txt", b"over IPv6");
    let mut c = gw.raw_login().await;

    // Passive: EPSV on ::1; PASV cannot name an IPv6 address; EPSV 1 names the right protocol.
    let port = c.epsv_port().await;
    let mut data = data_connect(SocketAddr::new(gw.ftp_addr.ip(), port)).await;
    c.send("RETR six.txt").await;
    assert_eq!(c.reply().await.0, 150);
    assert_eq!(read_all(&mut data, STEP).await, b"over IPv6");
    assert_eq!(c.reply().await.0, 226);
    let (code, text) = c.cmd("PASV").await;
    assert!((500..600).contains(&code), "PASV on IPv6: {text:?}");
    let (code, text) = c.cmd("EPSV 1").await;
    assert_eq!(code, 522, "{text:?}");
    assert!(text.contains("(2)"), "522 names the supported protocol: {text:?}");

    // Active: EPRT with an IPv6 address, only the client's own one.
    c.expect("EPRT |1|127.0.0.1|2000|", 550).await;
    let listener = TcpListener::bind("[::1]:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    c.expect(&format!("EPRT |2|::1|{port}|"), 200).await;
    c.send("STOR up6.txt").await;
    let (mut data, _) = within("active IPv6 data connection", STEP, listener.accept())
        .await
        .unwrap();
    assert_eq!(c.reply().await.0, 150);
    data.write_all(b"uploaded over IPv6").await.unwrap();
    drop(data);
    assert_eq!(c.reply().await.0, 226);
    assert_eq!(gw.store().read("up6.txt"), b"uploaded over IPv6");
}

#[tokio::test]
async fn codes_left_open_by_the_rfcs_and_status_of_a_path() {
    let gw = Gateway::start_default().await;
    gw.store().put("f.txt", b"12345");
    gw.store().mkdir("dir");
    let mut c = gw.raw_login().await;
    // Refused before any data connection is needed.
    c.expect("MLSD f.txt", 501).await;
    c.expect("SIZE dir", 550).await;
    c.expect("STRU R", 504).await;
    c.expect("OPTS MLST type;size;", 200).await;
    // LIST of a missing path: 450 or 550 (the contract allows either).
    c.pasv().await;
    let (code, text) = c.cmd("LIST missing-dir").await;
    assert!(code == 450 || code == 550, "LIST of a missing path: {code} {text:?}");
    // HOST is only allowed before USER (RFC 7151).
    c.expect("HOST localhost", 503).await;
    // STAT of a path answers over the control connection, multi-line.
    let text = c.expect("STAT f.txt", 213).await;
    assert!(text.starts_with("213-"), "STAT f.txt is multi-line: {text:?}");
    assert!(
        text.contains("f.txt") && text.contains(" 5 "),
        "STAT f.txt lists the file: {text:?}"
    );
    c.expect("STAT missing.txt", 550).await;
}

#[tokio::test]
async fn transfer_commands_without_a_data_connection_get_425() {
    let gw = Gateway::start_default().await;
    gw.store().put("f.txt", b"12345");
    let mut c = gw.raw_login().await;
    for line in ["RETR f.txt", "LIST", "NLST", "MLSD", "STOR new.txt"] {
        c.expect(line, 425).await;
    }
    assert!(
        !gw.store().exists("new.txt"),
        "STOR without a data connection created the file"
    );
    // An active connection that cannot be made: 425 too, and the session lives.
    let closed_port = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap().port()
    };
    c.expect(
        &format!("PORT 127,0,0,1,{},{}", closed_port / 256, closed_port % 256),
        200,
    )
    .await;
    let (code, text) = within("RETR over a refused active connection", STEP, async {
        let (code, text) = c.cmd("RETR f.txt").await;
        // Some servers say 150 before connecting; the failure then follows.
        if code == 150 { c.reply().await } else { (code, text) }
    })
    .await;
    assert_eq!(code, 425, "{text:?}");
    c.expect("NOOP", 200).await;
}

#[tokio::test]
async fn rnto_must_follow_rnfr_at_once() {
    let gw = Gateway::start_default().await;
    gw.store().put("a.txt", b"a");
    let mut c = gw.raw_login().await;
    c.expect("RNFR a.txt", 350).await;
    c.expect("NOOP", 200).await;
    c.expect("RNTO b.txt", 503).await;
    assert!(gw.store().exists("a.txt") && !gw.store().exists("b.txt"));
    c.expect("RNFR a.txt", 350).await;
    c.expect("RNTO b.txt", 250).await;
    assert!(gw.store().exists("b.txt"));
}

#[tokio::test]
async fn commands_before_login_do_not_extend_the_login_timeout() {
    let gw = Gateway::start(GatewayOptions::with_config(
        "limits: { login_timeout: 2s, idle_timeout: 60s }\n",
    ))
    .await;
    let mut c = gw.raw_ftp().await;
    let t0 = Instant::now();
    let closed = within("the login timeout despite NOOPs", Duration::from_secs(6), async {
        loop {
            tokio::time::sleep(Duration::from_millis(400)).await;
            c.send("NOOP").await;
            let (code, _) = c.reply().await;
            if code == 421 {
                return t0.elapsed();
            }
        }
    })
    .await;
    assert!(
        closed >= Duration::from_millis(1500) && closed < Duration::from_millis(3500),
        "421 after {closed:?} with a 2 s login timeout"
    );
    c.expect_closed().await;
}

#[tokio::test]
async fn pasv_advertises_the_public_address() {
    let gw = Gateway::start(GatewayOptions::with_config("ftp: { public_address: 203.0.113.7 }\n")).await;
    let mut c = gw.raw_login().await;
    let addr = c.pasv().await;
    assert_eq!(addr.ip().to_string(), "203.0.113.7", "PASV behind NAT");
    assert!(gw.passive_ports.contains(&addr.port()));
    // EPSV carries no address; the client reuses the control connection's.
    assert!(gw.passive_ports.contains(&c.epsv_port().await));
}
