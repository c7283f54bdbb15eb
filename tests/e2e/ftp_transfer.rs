//! FTP data transfers: STOR/RETR round trips and the three listing formats (with
//! the `suppaftp` client in passive mode), `REST` in both directions and `APPE`,
//! atomic uploads (a failed or interrupted STOR leaves the previous file and no
//! temporary file), the refusal of passive data connections from a foreign
//! address, `TYPE A` line-ending conversion, confinement of FTP paths, STAT during a
//! transfer, and 10,000-entry listings.

use std::time::Duration;

use suppaftp::FtpError;
use suppaftp::types::{FileType, FormatControl};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;

use crate::support::{
    Gateway, RawFtp, STALLING_LEN, STEP, TRANSFER, data_connect, ftp_get, ftp_put, put_stalling_file, random_bytes,
    read_all, sha256_hex, within,
};

/// The reply code inside a suppaftp "unexpected response" error.
fn refused_code(e: &FtpError) -> u32 {
    match e {
        FtpError::UnexpectedResponse(r) => r.status.code(),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn stor_retr_round_trip_and_listings() {
    let gw = Gateway::start_default().await;
    let mut ftp = gw.ftp().await;
    let data = random_bytes(1 << 20);
    ftp_put(&mut ftp, "random.bin", &data).await;
    let back = ftp_get(&mut ftp, "random.bin").await;
    assert_eq!(back.len(), data.len());
    assert_eq!(
        sha256_hex(&back),
        sha256_hex(&data),
        "RETR differs from what was stored"
    );
    assert_eq!(sha256_hex(&gw.store().read("random.bin")), sha256_hex(&data));
    within("MKD", STEP, ftp.mkdir("sub")).await.unwrap();

    let list = within("LIST", STEP, ftp.list(None)).await.unwrap();
    let line = list
        .iter()
        .find(|l| l.ends_with(" random.bin"))
        .unwrap_or_else(|| panic!("LIST lacks random.bin: {list:?}"));
    assert!(
        line.split_whitespace().any(|w| w == "1048576"),
        "LIST line lacks the size: {line:?}"
    );
    assert!(
        list.iter().any(|l| l.starts_with('d') && l.ends_with(" sub")),
        "{list:?}"
    );

    let mut names = within("NLST", STEP, ftp.nlst(None)).await.unwrap();
    names.sort();
    assert_eq!(names, ["random.bin", "sub"], "NLST lists names only");

    let mlsd = within("MLSD", STEP, ftp.mlsd(None)).await.unwrap();
    let file = mlsd
        .iter()
        .find(|l| l.ends_with(" random.bin"))
        .unwrap_or_else(|| panic!("MLSD lacks random.bin: {mlsd:?}"));
    let facts = file.split(' ').next().unwrap().to_ascii_lowercase();
    assert!(facts.contains("type=file;"), "{file:?}");
    assert!(facts.contains("size=1048576;"), "{file:?}");
    let dir = mlsd
        .iter()
        .find(|l| l.ends_with(" sub"))
        .unwrap_or_else(|| panic!("{mlsd:?}"));
    assert!(dir.to_ascii_lowercase().contains("type=dir;"), "{dir:?}");
    assert_eq!(mlsd.len(), 2, "MLSD lists only the two entries: {mlsd:?}");
}

#[tokio::test]
async fn rest_resumes_downloads_and_uploads_and_appe_appends() {
    let gw = Gateway::start_default().await;
    let mut ftp = gw.ftp().await;
    let data = random_bytes(1000);
    ftp_put(&mut ftp, "r.bin", &data).await;

    ftp.resume_transfer(100).await.unwrap();
    let tail = ftp_get(&mut ftp, "r.bin").await;
    assert_eq!(tail, &data[100..], "REST 100 + RETR");

    // REST 600 + STOR: the file is kept up to 600 and continued from there.
    let more = random_bytes(300);
    ftp.resume_transfer(600).await.unwrap();
    ftp_put(&mut ftp, "r.bin", &more).await;
    let mut expected = data[..600].to_vec();
    expected.extend_from_slice(&more);
    assert_eq!(gw.store().read("r.bin"), expected, "REST 600 + STOR");

    let extra = random_bytes(50);
    within("APPE", STEP, async {
        let mut up = ftp.append_with_stream("r.bin").await.unwrap();
        up.write_all(&extra).await.unwrap();
        up.finish().await.unwrap();
    })
    .await;
    expected.extend_from_slice(&extra);
    assert_eq!(gw.store().read("r.bin"), expected, "APPE");
    assert_eq!(within("SIZE", STEP, ftp.size("r.bin")).await.unwrap(), 950);

    // RFC 3659 §5.5: a restart point past the end is refused with 554.
    let mut c = gw.raw_login().await;
    let addr = c.pasv().await;
    let _data = data_connect(addr).await;
    c.expect("REST 5000", 350).await;
    c.expect("RETR r.bin", 554).await;
    c.expect("NOOP", 200).await;
}

#[tokio::test]
async fn stor_into_a_missing_directory_fails_and_creates_nothing() {
    let gw = Gateway::start_default().await;
    let mut ftp = gw.ftp().await;
    let err = within("STOR", STEP, ftp.put_with_stream("nodir/f.bin"))
        .await
        .unwrap_err();
    assert_eq!(refused_code(&err), 550, "{err}");
    assert!(!gw.store().exists("nodir"), "the missing directory was created");
    gw.store().assert_no_pending_uploads();
    // The session goes on.
    ftp_put(&mut ftp, "f.bin", b"ok").await;
    assert_eq!(gw.store().read("f.bin"), b"ok");
}

#[tokio::test]
async fn reset_upload_keeps_the_previous_file_and_leaves_no_temp_file() {
    let gw = Gateway::start_default().await;
    let (mut c, data, original) = gw.half_upload("keep.bin", 64 * 1024, 512 * 1024).await;
    // Abort the data connection with a reset (SO_LINGER 0), not a clean close.
    data.set_zero_linger().unwrap();
    drop(data);

    let (code, text) = c.reply().await;
    assert_eq!(code, 426, "a reset upload must end with 426: {text:?}");
    gw.assert_upload_left_no_trace("keep.bin", &original, "the interrupted upload");
    c.expect("NOOP", 200).await;
    let size = c.expect("SIZE keep.bin", 213).await;
    assert_eq!(size, format!("213 {}", original.len()));
}

#[tokio::test]
async fn upload_cut_off_by_losing_the_control_connection_keeps_the_previous_file() {
    let gw = Gateway::start_default().await;
    let (c, mut data, original) = gw.half_upload("keep.bin", 64 * 1024, 256 * 1024).await;
    // The client goes away: the control connection is lost first...
    drop(c);
    // ...a server that notices aborts the upload and drops the data connection; give
    // it the chance (up to 3 s) before the data connection also ends, cleanly.
    let mut sink = [0u8; 1024];
    let _ = tokio::time::timeout(Duration::from_secs(3), data.read(&mut sink)).await;
    let _ = data.shutdown().await;
    drop(data);

    gw.wait_ftp_sessions_closed().await;
    gw.assert_upload_left_no_trace(
        "keep.bin",
        &original,
        "an upload whose control connection was lost (contract: interrupted)",
    );
}

#[tokio::test]
async fn passive_connection_from_a_foreign_address_is_refused() {
    let gw = Gateway::start_default().await;
    let content = random_bytes(100 * 1024);
    gw.store().put("f.bin", &content);
    let mut c = gw.raw_login().await;
    let addr = c.pasv().await;

    // Another loopback address connects first.
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    let mut intruder = within("intruder connect", STEP, socket.connect(addr)).await.unwrap();
    c.send("RETR f.bin").await;
    let mut stolen = Vec::new();
    let outcome = within(
        "the intruder to be turned away",
        STEP,
        intruder.read_to_end(&mut stolen),
    )
    .await;
    assert!(
        stolen.is_empty(),
        "the foreign connection received {} bytes of the file",
        stolen.len()
    );
    if let Err(e) = outcome {
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}");
    }

    // The real client can still connect and the transfer completes.
    let mut data = data_connect(addr).await;
    let (code, text) = c.reply().await;
    assert_eq!(code, 150, "{text:?}");
    let got = read_all(&mut data, TRANSFER).await;
    assert_eq!(sha256_hex(&got), sha256_hex(&content));
    let (code, text) = c.reply().await;
    assert_eq!(code, 226, "{text:?}");
}

#[tokio::test]
async fn type_a_converts_line_endings_both_ways() {
    let gw = Gateway::start_default().await;
    let mut ftp = gw.ftp().await;
    within(
        "TYPE A",
        STEP,
        ftp.transfer_type(FileType::Ascii(FormatControl::Default)),
    )
    .await
    .unwrap();
    // put_with_stream sends the bytes unchanged: the server does the conversion.
    ftp_put(&mut ftp, "t.txt", b"a\r\nb\r\n").await;
    assert_eq!(gw.store().read("t.txt"), b"a\nb\n", "stored form");
    assert_eq!(ftp_get(&mut ftp, "t.txt").await, b"a\r\nb\r\n", "TYPE A download");
    within("TYPE I", STEP, ftp.transfer_type(FileType::Binary))
        .await
        .unwrap();
    assert_eq!(ftp_get(&mut ftp, "t.txt").await, b"a\nb\n", "TYPE I download");
}

/// A CRLF pair must be converted wherever the stream is cut. The text is
/// `x\r\n` repeated (3 MiB): every block size that is a power of two ends right
/// after a CR within its first two blocks, whatever the server's block size. It is
/// also sent in ~32 KiB pieces that each end right after a CR, with a short pause
/// after each so that the server's reads end there too (the only way to control
/// where its reads end; nothing on the client side shows it).
#[tokio::test]
async fn type_a_converts_crlf_split_between_reads() {
    let gw = Gateway::start_default().await;
    let mut c = gw.raw_login().await;
    c.expect("TYPE A", 200).await;
    let lines = 1 << 20; // 3 MiB of text
    let text: Vec<u8> = b"x\r\n".iter().copied().cycle().take(3 * lines).collect();
    let mut data = c.start_transfer("STOR split.txt").await;
    let mut start = 0;
    while start < text.len() {
        // Piece ends at an index ≡ 2 (mod 3): just after a CR, before its LF.
        let end = (start + 32 * 1024) / 3 * 3 + 2;
        let end = if end >= text.len() { text.len() } else { end };
        assert!(end == text.len() || text[end - 1] == b'\r');
        within("sending a piece", STEP, data.write_all(&text[start..end]))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(15)).await;
        start = end;
    }
    within("closing the upload", STEP, data.shutdown()).await.unwrap();
    drop(data);
    let (code, reply) = c.reply().await;
    assert_eq!(code, 226, "{reply:?}");

    let stored = gw.store().read("split.txt");
    let stray_cr = stored.iter().filter(|b| **b == b'\r').count();
    assert_eq!(
        stray_cr, 0,
        "{stray_cr} CR bytes were stored (a CRLF cut between two reads/blocks is not converted)"
    );
    let expected: Vec<u8> = b"x\n".iter().copied().cycle().take(2 * lines).collect();
    assert_eq!(stored.len(), expected.len());
    assert_eq!(stored, expected);
}

#[tokio::test]
async fn abor_stops_a_stalled_download_and_the_session_goes_on() {
    let gw = Gateway::start_default().await;
    put_stalling_file(gw.store(), "big.bin");
    let mut c = gw.raw_login().await;
    let mut data = c.start_transfer("RETR big.bin").await;
    // The client reads nothing: the server's sending stalls. Then it aborts.
    c.send("ABOR").await;
    let (code, text) = c.reply().await;
    assert_eq!(code, 426, "ABOR of a running transfer: first reply {text:?}");
    let (code, text) = c.reply().await;
    assert_eq!(code, 226, "ABOR of a running transfer: second reply {text:?}");
    // The server has closed the data connection.
    let mut sink = Vec::new();
    let _ = within("the data connection to close", STEP, data.read_to_end(&mut sink)).await;
    assert!(
        (sink.len() as u64) < STALLING_LEN,
        "the whole file was sent despite ABOR"
    );
    c.expect("NOOP", 200).await;
    c.expect("SIZE big.bin", 213).await;
}

#[tokio::test]
async fn abor_with_telnet_ip_and_synch_stops_a_download() {
    let gw = Gateway::start_default().await;
    put_stalling_file(gw.store(), "big.bin");
    let mut c = gw.raw_login().await;
    let _data = c.start_transfer("RETR big.bin").await;
    // Sent at once: the server's read stops at the urgent mark with "ABOR" queued
    // behind it, and must still see it (a short read is not an empty socket).
    c.send_abor_with_synch().await;
    assert_eq!(c.reply().await.0, 426, "first reply to ABOR after IP/Synch");
    assert_eq!(c.reply().await.0, 226, "second reply to ABOR after IP/Synch");
    c.expect("NOOP", 200).await; // the Telnet bytes left nothing behind on the control connection
}

#[tokio::test]
async fn abor_interrupts_an_upload_and_keeps_the_previous_file() {
    let gw = Gateway::start_default().await;
    let (mut c, data, original) = gw.half_upload("keep.bin", 64 * 1024, 256 * 1024).await;
    // The data connection stays open; the client aborts on the control connection.
    c.send("ABOR").await;
    let (code, text) = c.reply().await;
    assert_eq!(code, 426, "ABOR of a running upload: first reply {text:?}");
    let (code, text) = c.reply().await;
    assert_eq!(code, 226, "ABOR of a running upload: second reply {text:?}");
    drop(data);
    gw.assert_upload_left_no_trace("keep.bin", &original, "an aborted upload");
    c.expect("NOOP", 200).await;
}

#[tokio::test]
async fn stou_stores_under_a_unique_name() {
    let gw = Gateway::start_default().await;
    gw.store().put("existing.bin", b"old");
    let mut c = gw.raw_login().await;
    let addr = c.pasv().await;
    let mut data = data_connect(addr).await;
    c.send("STOU").await;
    let (code, text) = c.reply().await;
    assert!(code == 150 || code == 125, "STOU: {text:?}");
    within("STOU data", STEP, data.write_all(b"unique content"))
        .await
        .unwrap();
    within("closing the upload", STEP, data.shutdown()).await.unwrap();
    drop(data);
    let (code, text) = c.reply().await;
    assert!(code == 226 || code == 250, "STOU completion: {text:?}");
    let names = gw.store().names("");
    assert_eq!(names.len(), 2, "STOU must create exactly one new file: {names:?}");
    let new = names.iter().find(|n| *n != "existing.bin").unwrap();
    assert_eq!(gw.store().read(new), b"unique content");
    assert_eq!(gw.store().read("existing.bin"), b"old");
}

/// `RETR path` with a data connection ready is refused with 550.
async fn assert_retr_refused(c: &mut RawFtp, path: &str) {
    let addr = c.pasv().await;
    let mut data = data_connect(addr).await;
    c.send(&format!("RETR {path}")).await;
    let (code, text) = c.reply().await;
    assert_eq!(code, 550, "RETR {path}: {text:?}");
    let _ = data.shutdown().await;
}

#[tokio::test]
async fn ftp_paths_never_leave_the_root() {
    let gw = Gateway::start_default().await;
    gw.store().put("inside.txt", b"inside");
    let mut c = gw.raw_login().await;

    for line in ["SIZE ../../../../../../etc/passwd", "SIZE /etc/passwd"] {
        c.expect(line, 550).await;
    }
    // `\` is an ordinary character, not a separator.
    c.expect("SIZE ..\\..\\etc\\passwd", 550).await;
    let pwd = c.expect("PWD", 257).await;
    assert!(pwd.starts_with("257 \"/\""), "{pwd:?}");
    assert_retr_refused(&mut c, "../../../../../../etc/passwd").await;
    c.expect("SIZE inside.txt", 213).await;
}

/// Symbolic links out of the root (placed on disk, as an administrator would):
/// refused for every command, and not followed by listings.
#[tokio::test]
async fn local_ftp_paths_through_links_never_leave_the_root() {
    let gw = Gateway::start_default().await;
    std::os::unix::fs::symlink("/etc", gw.disk("etc-link")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", gw.disk("passwd-link")).unwrap();
    std::fs::write(gw.disk("inside.txt"), b"inside").unwrap();
    let mut c = gw.raw_login().await;

    for line in [
        "SIZE passwd-link",
        "SIZE etc-link/passwd",
        "MDTM etc-link/passwd",
        "CWD etc-link",
        "RNFR passwd-link/x",
    ] {
        c.expect(line, 550).await;
    }
    let pwd = c.expect("PWD", 257).await;
    assert!(pwd.starts_with("257 \"/\""), "{pwd:?}");
    for path in ["passwd-link", "etc-link/passwd"] {
        assert_retr_refused(&mut c, path).await;
    }

    // NLST of the symlinked directory shows nothing of the host's /etc.
    let addr = c.pasv().await;
    let mut data = data_connect(addr).await;
    c.send("NLST etc-link").await;
    let (code, text) = c.reply().await;
    if code == 150 {
        let listing = read_all(&mut data, STEP).await;
        let (code, text) = c.reply().await;
        assert_eq!(code, 226, "{text:?}");
        assert!(
            !String::from_utf8_lossy(&listing).contains("passwd"),
            "NLST through a symlink listed the host's /etc"
        );
    } else {
        assert!(code == 450 || code == 550, "NLST etc-link: {text:?}");
    }
    c.expect("SIZE inside.txt", 213).await;
}

/// The byte count in a `213 Transfer in progress: N …` reply.
fn progress_bytes(text: &str) -> u64 {
    text.split_whitespace()
        .skip(1) // the reply code
        .find_map(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("no byte count in STAT reply {text:?}"))
}

#[tokio::test]
async fn stat_during_a_download_reports_progress_and_other_commands_wait() {
    let gw = Gateway::start_default().await;
    put_stalling_file(gw.store(), "big.bin");
    let mut c = gw.raw_login().await;
    let mut data = c.start_transfer("RETR big.bin").await;
    let mut first = vec![0u8; 1 << 20];
    within("the first MiB", STEP, data.read_exact(&mut first))
        .await
        .unwrap();
    // NOOP must wait for the transfer; STAT is answered while it runs.
    c.send("NOOP").await;
    c.send("STAT").await;
    let (code, text) = c.reply().await;
    assert_eq!(code, 213, "STAT during a transfer: {text:?}");
    assert!(text.contains(&format!("of {STALLING_LEN} bytes sent")), "{text:?}");
    let sent = progress_bytes(&text);
    assert!(
        (1 << 20..=STALLING_LEN).contains(&sent),
        "progress {sent} out of range: {text:?}"
    );
    // The rest of the file arrives intact, then 226, then the queued NOOP's 200.
    let mut rest = Vec::new();
    within("the rest of the file", STEP * 4, data.read_to_end(&mut rest))
        .await
        .unwrap();
    assert_eq!((first.len() + rest.len()) as u64, STALLING_LEN);
    assert_eq!(c.reply().await.0, 226);
    assert_eq!(c.reply().await.0, 200, "the NOOP sent during the transfer");
    // Without a transfer STAT is the server status again.
    c.expect("STAT", 211).await;
}

#[tokio::test]
async fn stat_during_an_upload_reports_bytes_received() {
    let gw = Gateway::start_default().await;
    let (mut c, data, _) = gw.half_upload("up.bin", 1024, 256 * 1024).await;
    let (code, text) = c.cmd("STAT").await;
    assert_eq!(code, 213, "STAT during an upload: {text:?}");
    assert!(text.ends_with("bytes received."), "{text:?}");
    assert!(progress_bytes(&text) <= 256 * 1024, "{text:?}");
    drop(data); // a clean close: end of file
    assert_eq!(c.reply().await.0, 226);
    assert_eq!(gw.store().len("up.bin"), Some(256 * 1024));
}

#[tokio::test]
async fn listings_of_ten_thousand_entries_are_complete_in_every_format() {
    let gw = Gateway::start_default().await;
    gw.store().mkdir("many");
    gw.store().put_many(
        (0..10_000)
            .map(|i| (format!("many/file-{i:05}.txt"), Vec::new()))
            .collect(),
    );
    let mut c = gw.raw_login().await;
    for (cmd, check) in [
        (
            "LIST many",
            (|l: &str| l.starts_with("-rw") && l.contains(" file-")) as fn(&str) -> bool,
        ),
        ("NLST many", |l: &str| l.starts_with("file-") && l.ends_with(".txt")),
        ("MLSD many", |l: &str| l.contains("type=file;") && l.ends_with(".txt")),
    ] {
        let mut data = c.start_transfer(cmd).await;
        let body = read_all(&mut data, TRANSFER).await;
        assert_eq!(c.reply().await.0, 226, "{cmd}");
        let text = String::from_utf8(body).unwrap();
        let lines: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
        assert_eq!(lines.len(), 10_000, "{cmd}: entries");
        assert!(
            lines.iter().all(|l| check(l)),
            "{cmd}: unexpected line among {:?}",
            &lines[..3]
        );
        let mut names: Vec<&str> = lines.iter().map(|l| l.rsplit(' ').next().unwrap()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), 10_000, "{cmd}: every name once");
    }
}

#[tokio::test]
async fn an_interrupted_upload_to_a_new_name_leaves_nothing() {
    let gw = Gateway::start_default().await;
    let mut c = gw.raw_login().await;
    let mut data = c.start_transfer("STOR fresh.bin").await;
    within("half an upload", STEP, data.write_all(&random_bytes(256 * 1024)))
        .await
        .unwrap();
    data.set_zero_linger().unwrap();
    drop(data);
    let (code, text) = c.reply().await;
    assert_eq!(code, 426, "{text:?}");
    assert!(!gw.store().exists("fresh.bin"), "a cut-off upload became visible");
    gw.store().assert_no_pending_uploads();
    c.expect("SIZE fresh.bin", 550).await;
}

#[tokio::test]
async fn abor_while_the_server_waits_for_the_passive_connection() {
    let gw = Gateway::start(crate::support::GatewayOptions::with_config(
        "limits: { data_timeout: 30s }\n",
    ))
    .await;
    gw.store().put("f.txt", b"data");
    let mut c = gw.raw_login().await;
    c.pasv().await;
    c.send("RETR f.txt").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    c.send("ABOR").await;
    // Long before the 30 s data timeout: the transfer command fails (425 or 426,
    // after a 150 if one was sent), then ABOR answers 226.
    let codes = within("replies to ABOR while waiting", Duration::from_secs(5), async {
        let mut codes = Vec::new();
        loop {
            let (code, _) = c.reply().await;
            codes.push(code);
            if code == 226 || codes.len() > 3 {
                return codes;
            }
        }
    })
    .await;
    let failed = codes.iter().filter(|&&code| code == 425 || code == 426).count();
    assert!(failed == 1 && codes.last() == Some(&226), "replies {codes:?}");
    c.expect("NOOP", 200).await;
}
