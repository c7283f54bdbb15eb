//! The FTP defects of issue #13, each checked on the wire: STOU names its file in
//! the 150 reply; `OPTS MLST` selects the facts of MLST, MLSD and the FEAT line;
//! a REST marker waits for the transfer command; passive ports are bounded per
//! client address (with a metric and a rate-limited warning) and given back when a
//! transfer command ends; the 226 after an ABOR that aborted a transfer says so;
//! NUL errors name the command; EPRT's 522 lists the protocols; and `SITE CHMOD
//! 000 /` cannot lock a user out of their home.

use std::net::IpAddr;

use tokio::io::AsyncWriteExt;

use crate::support::{
    Gateway, GatewayOptions, RawFtp, STEP, TRANSFER, connect_from, data_connect, hash_password, metric_value,
    put_stalling_file, random_bytes, read_all, within,
};

fn ip(last: u8) -> IpAddr {
    IpAddr::from([127, 0, 0, last])
}

/// The lines of a listing read from a data connection.
fn lines(body: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(body)
        .split("\r\n")
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// RFC 1123 §4.1.2.9: "150 FILE: pppp", and that name then holds the upload.
#[tokio::test]
async fn stou_names_in_its_150_reply_the_file_that_gets_the_bytes() {
    let gw = Gateway::start_default().await;
    gw.store().mkdir("sub");
    gw.store().put("sub/existing.bin", b"old");
    let mut c = gw.raw_login().await;
    c.expect("CWD sub", 250).await;
    let content = random_bytes(100_000);
    for line in ["STOU", "STOU report.txt"] {
        let addr = c.pasv().await;
        let mut data = data_connect(addr).await;
        c.send(line).await;
        let (code, text) = c.reply().await;
        assert_eq!(code, 150, "{line}: {text:?}");
        let name = text
            .strip_prefix("150 FILE: ")
            .unwrap_or_else(|| panic!("{line}: the 150 reply does not name the file: {text:?}"))
            .to_owned();
        assert!(!name.is_empty() && !name.contains('/'), "{line}: {name:?}");
        within("the STOU upload", STEP, data.write_all(&content)).await.unwrap();
        within("closing the upload", STEP, data.shutdown()).await.unwrap();
        drop(data);
        let (code, text) = c.reply().await;
        assert_eq!(code, 226, "{line} completion: {text:?}");
        // The name is relative to the working directory, where the file now is.
        let stored = gw
            .store()
            .get(&format!("sub/{name}"))
            .unwrap_or_else(|| panic!("{line}: the file named in the 150 reply, sub/{name}, is not in the storage"));
        assert!(stored == content, "{line}: sub/{name} does not hold the uploaded bytes");
        c.expect(&format!("SIZE {name}"), 213).await;
    }
    assert_eq!(gw.store().read("sub/existing.bin"), b"old");
    assert_eq!(gw.store().names("sub").len(), 3, "two STOUs, two new files");
}

/// The MLST line of a FEAT reply.
async fn feat_mlst(c: &mut RawFtp) -> String {
    let feat = c.expect("FEAT", 211).await;
    feat.lines()
        .find(|l| l.starts_with(" MLST "))
        .unwrap_or_else(|| panic!("FEAT has no MLST line: {feat:?}"))
        .to_owned()
}

/// The entry line of `MLST path` (the second line of its 250 reply).
async fn mlst_entry(c: &mut RawFtp, path: &str) -> String {
    let text = c.expect(&format!("MLST {path}"), 250).await;
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "MLST is 250-, one entry, 250: {text:?}");
    assert_eq!(lines[2], "250 End", "{text:?}");
    lines[1].to_owned()
}

/// The lines of `MLSD` of the working directory, sorted.
async fn mlsd_lines(c: &mut RawFtp) -> Vec<String> {
    let mut data = c.start_transfer("MLSD").await;
    let body = read_all(&mut data, STEP).await;
    assert_eq!(c.reply().await.0, 226, "MLSD completion");
    let mut lines = lines(&body);
    lines.sort();
    lines
}

/// RFC 3659 §7.9: `OPTS MLST` selects the facts; the reply lists them, unknown
/// ones are ignored, none selects none; FEAT stars the selected ones; MLST and
/// MLSD give only those. REIN brings back every fact.
#[tokio::test]
async fn opts_mlst_selects_the_facts_of_mlst_mlsd_and_feat() {
    let gw = Gateway::start_default().await;
    gw.store().put("f.txt", b"12345");
    gw.store().mkdir("d");
    let mut c = gw.raw_login().await;
    assert_eq!(feat_mlst(&mut c).await, " MLST type*;size*;modify*;perm*;");
    let all = mlst_entry(&mut c, "f.txt").await;
    assert!(
        all.starts_with(" type=file;size=5;modify=") && all.ends_with(";perm=rawdf; /f.txt"),
        "{all:?}"
    );

    assert_eq!(c.expect("OPTS MLST type;size;", 200).await, "200 MLST OPTS type;size;");
    assert_eq!(feat_mlst(&mut c).await, " MLST type*;size*;modify;perm;");
    assert_eq!(mlst_entry(&mut c, "f.txt").await, " type=file;size=5; /f.txt");
    assert_eq!(mlsd_lines(&mut c).await, ["type=dir; d", "type=file;size=5; f.txt"]);

    // Unknown facts are ignored, names are case-insensitive, the reply keeps line order.
    assert_eq!(
        c.expect("OPTS MLST Size;UNIX.mode;no-such-fact;perm;", 200).await,
        "200 MLST OPTS size;perm;"
    );
    assert_eq!(feat_mlst(&mut c).await, " MLST type;size*;modify;perm*;");
    assert_eq!(mlst_entry(&mut c, "d").await, " perm=elcdfm; /d");
    assert_eq!(mlsd_lines(&mut c).await, ["perm=elcdfm; d", "size=5;perm=rawdf; f.txt"]);

    // An empty selection: no facts, each entry is `SP pathname` (RFC 3659 §7.2).
    assert_eq!(c.expect("OPTS MLST", 200).await, "200 MLST OPTS");
    assert_eq!(c.expect("OPTS MLST nothing-known;", 200).await, "200 MLST OPTS");
    assert_eq!(feat_mlst(&mut c).await, " MLST type;size;modify;perm;");
    assert_eq!(mlst_entry(&mut c, "f.txt").await, "  /f.txt");
    assert_eq!(mlsd_lines(&mut c).await, [" d", " f.txt"]);

    // REIN resets the session's parameters, the fact selection included.
    c.expect("REIN", 220).await;
    c.login(&gw.user, &gw.password).await;
    assert_eq!(feat_mlst(&mut c).await, " MLST type*;size*;modify*;perm*;");
    assert!(
        mlst_entry(&mut c, "f.txt")
            .await
            .starts_with(" type=file;size=5;modify=")
    );
}

/// A REST marker waits for the next transfer command (vsftpd, ProFTPD): other
/// commands in between keep it; RETR and STOR use it; every transfer command uses
/// it up, whatever its outcome; APPE and STOU refuse it; RNFR forgets it.
#[tokio::test]
async fn a_rest_marker_waits_for_the_transfer_command() {
    let gw = Gateway::start_default().await;
    let original = b"0123456789abcdef".to_vec();
    gw.store().put("r.bin", &original);
    let mut c = gw.raw_login().await;
    let retr = async |c: &mut RawFtp, name: &str| -> Vec<u8> {
        let mut data = c.start_transfer(&format!("RETR {name}")).await;
        let body = read_all(&mut data, TRANSFER).await;
        let (code, text) = c.reply().await;
        assert_eq!(code, 226, "RETR {name}: {text:?}");
        body
    };

    // The case: REST 6, TYPE I, then PASV and RETR: the file from byte 6.
    c.expect("REST 6", 350).await;
    c.expect("TYPE I", 200).await;
    c.expect("NOOP", 200).await;
    assert_eq!(
        retr(&mut c, "r.bin").await,
        &original[6..],
        "REST 6; TYPE I; PASV; RETR"
    );
    // Used up: the next RETR sends the whole file.
    assert_eq!(retr(&mut c, "r.bin").await, original, "the marker outlived its RETR");

    // REST n; PASV; STOR resumes at n instead of replacing the file.
    c.expect("REST 4", 350).await;
    let mut data = c.start_transfer("STOR r.bin").await;
    data.write_all(b"XYZ").await.unwrap();
    drop(data);
    assert_eq!(c.reply().await.0, 226);
    let resumed = [&original[..4], &b"XYZ"[..]].concat();
    assert_eq!(gw.store().read("r.bin"), resumed, "REST 4; PASV; STOR");

    // A transfer command that fails uses the marker up too.
    c.expect("REST 2", 350).await;
    c.pasv().await;
    c.expect("RETR missing.bin", 550).await;
    assert_eq!(retr(&mut c, "r.bin").await, resumed, "a failed RETR left the marker");

    // So does a listing, which has no offset and sends the whole listing.
    c.expect("REST 3", 350).await;
    let mut data = c.start_transfer("NLST").await;
    assert_eq!(lines(&read_all(&mut data, STEP).await), ["r.bin"]);
    assert_eq!(c.reply().await.0, 226);
    assert_eq!(retr(&mut c, "r.bin").await, resumed, "a listing left the marker");

    // APPE and STOU cannot honour a marker: refused (503) rather than writing
    // elsewhere than asked, and the marker is gone.
    for line in ["APPE r.bin", "STOU"] {
        c.expect("REST 2", 350).await;
        c.pasv().await;
        let text = c.expect(line, 503).await;
        assert!(text.contains("REST"), "{line}: {text:?}");
        assert_eq!(retr(&mut c, "r.bin").await, resumed, "{line} left the marker");
    }
    assert_eq!(gw.store().read("r.bin"), resumed, "a refused APPE wrote");
    assert_eq!(gw.store().names(""), ["r.bin"], "a refused STOU created a file");

    // RNFR forgets a marker; a new REST replaces it.
    c.expect("REST 5", 350).await;
    c.expect("RNFR r.bin", 350).await;
    c.expect("RNTO s.bin", 250).await;
    assert_eq!(retr(&mut c, "s.bin").await, resumed, "RNFR kept the marker");
    c.expect("REST 1", 350).await;
    c.expect("REST 5", 350).await;
    assert_eq!(retr(&mut c, "s.bin").await, &resumed[5..], "REST 1 then REST 5");
}

/// One client address cannot hold the passive range: over its share PASV and
/// EPSV get 425 (counted by reason, logged once), other addresses still get ports,
/// and a transfer command that ends — failed or not — gives its port back.
#[tokio::test]
async fn passive_ports_are_bounded_per_client_address() {
    let gw = Gateway::start(GatewayOptions {
        config: Some("ftp: { passive_ports_per_address: 2 }\n".to_owned()),
        passive_port_count: Some(4),
        ..GatewayOptions::default()
    })
    .await;
    gw.store().put("f.txt", b"payload");
    let login_from = async |last: u8| {
        let mut c = RawFtp::connect_from(ip(last), gw.ftp_addr).await;
        c.login(&gw.user, &gw.password).await;
        c
    };
    let (mut a0, mut a1, mut a2) = (login_from(2).await, login_from(2).await, login_from(2).await);
    a0.pasv().await;
    a1.pasv().await;
    // 127.0.0.2 holds its two ports: a third session from it is refused, PASV and EPSV.
    let text = a2.expect("PASV", 425).await;
    assert!(text.contains("your address"), "{text:?}");
    a2.expect("EPSV", 425).await;
    // A session that asks again gives its own port back first.
    let a0_addr = a0.pasv().await;
    assert!(gw.passive_ports.contains(&a0_addr.port()), "{a0_addr}");

    // Another client still gets ports: 127.0.0.3 takes the last two of the four.
    let (mut b0, mut b1) = (login_from(3).await, login_from(3).await);
    b0.pasv().await;
    b1.epsv_port().await;
    // Now the range itself is full: 127.0.0.4 gets 425 too, for another reason.
    let mut c0 = login_from(4).await;
    c0.expect("PASV", 425).await;

    let text = gw
        .wait_metrics("the passive refusals", |t| {
            metric_value(t, "dualgate_passive_refusals_total", &[("reason", "exhausted")]).is_some()
        })
        .await;
    let refusals = |reason: &str| metric_value(&text, "dualgate_passive_refusals_total", &[("reason", reason)]);
    assert_eq!(refusals("per_address"), Some(2.0), "{text}");
    assert_eq!(refusals("exhausted"), Some(1.0), "{text}");
    assert_eq!(
        metric_value(&text, "dualgate_passive_ports_in_use", &[]),
        Some(4.0),
        "{text}"
    );

    // A failed transfer command gives its port back: 127.0.0.2 may have one more.
    a1.expect("RETR missing.txt", 550).await;
    a2.pasv().await;
    // So does a completed transfer: the range has room for 127.0.0.4 again.
    let mut data = connect_from(ip(2), a0_addr).await; // from the control connection's address
    a0.send("RETR f.txt").await;
    assert_eq!(a0.reply().await.0, 150);
    assert_eq!(read_all(&mut data, STEP).await, b"payload");
    assert_eq!(a0.reply().await.0, 226);
    c0.pasv().await;

    // The operator hears of it, but not once per refused command.
    gw.wait_for_log("PASV/EPSV refused").await;
    let warnings = gw.log().matches("PASV/EPSV refused").count();
    assert_eq!(
        warnings,
        1,
        "three refusals within a minute, one warning:\n{}",
        gw.log()
    );
}

/// RFC 959 §4.1.3: ABOR of a running transfer gets 426, then a 226 that says the
/// transfer was aborted; an ABOR with nothing to abort says that.
#[tokio::test]
async fn abor_says_whether_it_aborted_a_transfer() {
    let gw = Gateway::start_default().await;
    put_stalling_file(gw.store(), "big.bin");
    let mut c = gw.raw_login().await;
    assert_eq!(c.expect("ABOR", 226).await, "226 No transfer to abort.");

    let _stalled = c.start_transfer("RETR big.bin").await; // never read: the sending stalls
    c.send("ABOR").await;
    let (code, text) = c.reply().await;
    assert_eq!(code, 426, "{text:?}");
    let (code, text) = c.reply().await;
    assert_eq!(code, 226, "{text:?}");
    assert_eq!(text, "226 ABOR successful; transfer aborted.");

    // The news is told once: the next ABOR has nothing to abort.
    assert_eq!(c.expect("ABOR", 226).await, "226 No transfer to abort.");
    // Nor does an ABOR after a transfer that completed.
    let mut data = c.start_transfer("NLST").await;
    read_all(&mut data, STEP).await;
    assert_eq!(c.reply().await.0, 226);
    assert_eq!(c.expect("ABOR", 226).await, "226 No transfer to abort.");
}

/// Small reply texts: a NUL names the command (never "OTHER"); EPRT and EPSV with
/// an unknown network protocol list the supported ones (RFC 2428 §2).
#[tokio::test]
async fn error_texts_name_the_command_and_the_supported_protocols() {
    let gw = Gateway::start_default().await;
    let mut c = gw.raw_login().await;
    for (line, code, want) in [
        (
            &b"XFOO a\x00b\r\n"[..],
            501,
            "501 invalid XFOO argument: NUL in argument",
        ),
        (&b"mkd a\x00b\r\n"[..], 501, "501 invalid MKD argument: NUL in argument"),
        (&b"US\x00ER x\r\n"[..], 500, "500 syntax error, NUL in command verb"),
    ] {
        c.send_raw(line).await;
        let (got, text) = c.reply().await;
        assert_eq!(
            (got, text.as_str()),
            (code, want),
            "{:?}",
            String::from_utf8_lossy(line)
        );
    }
    for line in ["EPRT |3|127.0.0.1|40000|", "EPSV 3"] {
        assert_eq!(
            c.expect(line, 522).await,
            "522 Network protocol not supported, use (1,2)",
            "{line}"
        );
    }
    c.expect("NOOP", 200).await;
    assert!(gw.store().names("").is_empty(), "{:?}", gw.store().names(""));
}

/// `SITE CHMOD 000 /` (or any spelling of the home) is refused: a user cannot lock
/// themselves out of their home, which keeps its mode and stays listable. Local
/// disk only: modes and SITE CHMOD exist only there.
#[tokio::test]
async fn local_site_chmod_cannot_lock_a_user_out_of_their_home() {
    use std::os::unix::fs::PermissionsExt;
    let config = format!(
        "users:\n  - {{ name: alice, password_hash: \"{}\", home: /alice }}\n",
        hash_password("alice-pw")
    );
    let gw = Gateway::start(GatewayOptions::with_config(&config)).await;
    std::fs::write(gw.disk("alice/a.txt"), b"alice's").unwrap();
    let mode = || std::fs::metadata(gw.disk("alice")).unwrap().permissions().mode() & 0o7777;
    let before = mode();
    let mut alice = gw.raw_ftp().await;
    alice.login("alice", "alice-pw").await;
    for line in [
        "SITE CHMOD 000 /",
        "SITE CHMOD 000 .",
        "SITE CHMOD 0 /..",
        "SITE CHMOD 000 ../..",
    ] {
        alice.expect(line, 550).await;
        assert_eq!(mode(), before, "{line} changed the home's mode");
    }
    let mut data = alice.start_transfer("LIST").await;
    let listing = lines(&read_all(&mut data, STEP).await);
    assert_eq!(alice.reply().await.0, 226);
    assert!(
        listing.len() == 1 && listing[0].ends_with(" a.txt"),
        "LIST of the home after SITE CHMOD 000 /: {listing:?}"
    );
    // The files inside remain hers to change.
    alice.expect("SITE CHMOD 600 a.txt", 200).await;
    assert_eq!(
        std::fs::metadata(gw.disk("alice/a.txt")).unwrap().permissions().mode() & 0o777,
        0o600
    );
}
