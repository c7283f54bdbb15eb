//! Operations: graceful shutdown (on SIGTERM `/readyz` fails first while the admin
//! port keeps answering, the listeners stop accepting, idle sessions get `421`, a
//! running upload completes intact within the drain deadline, the process exits 0),
//! the `healthcheck` subcommand, and the xferlog transfer log (reopened on SIGHUP).

use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;

use crate::support::{Gateway, GatewayOptions, random_bytes, sha256_hex, within};

#[tokio::test]
async fn sigterm_drains_a_200_mib_upload_then_exits_0() {
    let mut gw = Gateway::start(GatewayOptions::with_config("shutdown: { drain_timeout: 60s }\n")).await;
    assert_eq!(gw.admin_get("/readyz").await.0, 200);
    let mut idle = gw.raw_login().await;
    let mut not_logged_in = gw.raw_ftp().await;

    // 200 MiB in 8 MiB pieces; SIGTERM arrives after the first quarter.
    let piece = random_bytes(8 << 20);
    let mut c = gw.raw_login().await;
    c.expect("TYPE I", 200).await;
    let mut data = c.start_transfer("STOR big.bin").await;
    let mut expected = sha2::Sha256::default();
    use sha2::Digest;
    for i in 0..25 {
        if i == 6 {
            gw.sigterm();
            // Not ready, while the admin port still answers.
            let t0 = Instant::now();
            while gw.admin_get("/readyz").await.0 != 503 {
                assert!(
                    t0.elapsed() < Duration::from_secs(5),
                    "/readyz still ready after SIGTERM"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            // Idle sessions are told, logged in or not; new connections are refused.
            assert_eq!(idle.reply().await.0, 421, "an idle session on SIGTERM");
            assert_eq!(not_logged_in.reply().await.0, 421, "a session not logged in on SIGTERM");
            let refused = within(
                "a new connection during the drain",
                Duration::from_secs(5),
                tokio::net::TcpStream::connect(gw.ftp_addr),
            )
            .await;
            assert!(refused.is_err(), "the FTP listener still accepts during the drain");
        }
        within("writing the upload", Duration::from_secs(30), data.write_all(&piece))
            .await
            .unwrap();
        expected.update(&piece);
    }
    data.shutdown().await.unwrap();
    drop(data);
    let (code, text) = within("the end of the upload", Duration::from_secs(30), c.reply()).await;
    assert_eq!(code, 226, "the upload that was running at SIGTERM: {text:?}");
    // Then this session is closed too, and the process exits 0 well before the deadline.
    assert_eq!(c.reply().await.0, 421);
    let status = gw.wait_exit(Duration::from_secs(30)).await;
    assert!(status.success(), "exit status {status:?}");

    let stored = gw.store().read("big.bin");
    assert_eq!(stored.len(), 200 << 20);
    assert_eq!(sha256_hex(&stored), format!("{:x}", expected.finalize()));
    assert!(
        gw.store().names("").contains(&"big.bin".to_owned()),
        "listed in the root"
    );
    gw.store().assert_no_pending_uploads();
}

#[tokio::test]
async fn the_healthcheck_subcommand_follows_healthz_and_readyz() {
    let mut gw = Gateway::start_default().await;
    let admin = gw.admin_url.trim_start_matches("http://").to_owned();
    let check = |extra: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_dualgate"))
            .args(["healthcheck", "--admin", &admin])
            .args(extra)
            .output()
            .unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    assert_eq!(check(&[]), (true, String::new()));
    assert_eq!(check(&["--ready"]), (true, String::new()));
    // Draining: alive, not ready.
    let mut busy = gw.raw_login().await;
    let upload = busy.start_transfer("STOR slow.bin").await;
    gw.sigterm();
    let t0 = Instant::now();
    while check(&["--ready"]).0 {
        assert!(t0.elapsed() < Duration::from_secs(5), "still ready after SIGTERM");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (ok, err) = check(&["--ready"]);
    assert!(!ok && err.contains("503"), "{err}");
    assert!(check(&[]).0, "alive while draining");
    drop((upload, busy));
    let status = gw.wait_exit(Duration::from_secs(30)).await;
    assert!(status.success());
    // Nobody listening: unhealthy, with the reason.
    let (ok, err) = check(&[]);
    assert!(!ok && err.contains(&admin), "{err}");
}

#[tokio::test]
async fn the_transfer_log_has_an_xferlog_line_per_file_transfer() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("xferlog");
    let mut gw = Gateway::start(GatewayOptions::with_config(&format!(
        "xferlog: \"{}\"\n",
        log.display()
    )))
    .await;
    let mut ftp = gw.ftp().await;
    crate::support::ftp_put(&mut ftp, "up load.bin", &random_bytes(4096)).await;
    ftp.transfer_type(suppaftp::types::FileType::Ascii(
        suppaftp::types::FormatControl::Default,
    ))
    .await
    .unwrap();
    let _ = crate::support::ftp_get(&mut ftp, "up load.bin").await;
    let _ = ftp.list(None).await.unwrap(); // a listing is not a file transfer
    let resp = gw.get("/up%20load.bin").await;
    assert_eq!(resp.status().as_u16(), 200);
    let _ = resp.bytes().await.unwrap();
    // An upload cut off half-way: incomplete.
    let (mut c, data, _) = gw.half_upload("cut.bin", 10, 65536).await;
    data.set_zero_linger().unwrap();
    drop(data);
    assert_eq!(c.reply().await.0, 426);

    let lines = within("four xferlog lines", Duration::from_secs(5), async {
        loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if text.lines().count() >= 4 {
                return text.lines().map(str::to_owned).collect::<Vec<_>>();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    // Fields (split on blanks): 0-4 time, 5 seconds, 6 client, 7 bytes, 8 file, 9 type,
    // 10 action flag, 11 direction, 12 access mode, 13 user, 14 service, 15 auth method,
    // 16 auth user id, 17 status.
    let fields: Vec<Vec<&str>> = lines.iter().map(|l| l.split_whitespace().collect()).collect();
    for f in &fields {
        assert_eq!(f.len(), 18, "five time words and thirteen fields: {f:?}");
        assert_eq!(
            (f[6], f[10], f[12], f[13], f[15], f[16]),
            ("127.0.0.1", "_", "r", "dualgate", "0", "*")
        );
    }
    let pick = |f: &Vec<&str>| {
        (
            f[8].to_owned(),
            f[9].to_owned(),
            f[11].to_owned(),
            f[14].to_owned(),
            f[17].to_owned(),
        )
    };
    let own = |a: &str, b: &str, c: &str, d: &str, e: &str| {
        (a.to_owned(), b.to_owned(), c.to_owned(), d.to_owned(), e.to_owned())
    };
    assert_eq!(
        pick(&fields[0]),
        own("/up_load.bin", "b", "i", "ftp", "c"),
        "FTP upload: {}",
        lines[0]
    );
    assert_eq!(fields[0][7], "4096");
    assert_eq!(
        pick(&fields[1]),
        own("/up_load.bin", "a", "o", "ftp", "c"),
        "FTP download, TYPE A: {}",
        lines[1]
    );
    assert_eq!(
        pick(&fields[2]),
        own("/up_load.bin", "b", "o", "http", "c"),
        "HTTP GET: {}",
        lines[2]
    );
    assert_eq!(fields[2][7], "4096");
    let cut = pick(&fields[3]);
    assert_eq!(
        (cut.0.as_str(), cut.2.as_str(), cut.4.as_str()),
        ("/cut.bin", "i", "i"),
        "cut upload: {}",
        lines[3]
    );

    // logrotate: the file is moved away, SIGHUP reopens the path.
    std::fs::rename(&log, dir.path().join("xferlog.1")).unwrap();
    gw.sighup();
    // Reopening creates the file again; only then is the next line meant for it.
    within("the reopened transfer log", Duration::from_secs(5), async {
        while !log.exists() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let _ = gw.get("/up%20load.bin").await.bytes().await;
    within("a line in the reopened transfer log", Duration::from_secs(5), async {
        while !std::fs::read_to_string(&log).is_ok_and(|t| t.contains(" http 0 * c")) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let rotated = std::fs::read_to_string(dir.path().join("xferlog.1")).unwrap();
    assert_eq!(
        rotated.lines().count(),
        4,
        "written to the moved file after SIGHUP: {rotated}"
    );
    gw.sigterm();
    assert!(gw.wait_exit(Duration::from_secs(30)).await.success());
}

/// Transfers still running when the drain deadline passes are not dropped with
/// the process: the FTP client gets `426` (then `421`), the HTTP upload `503`,
/// nothing of either becomes visible, and both are logged with those codes.
#[tokio::test]
async fn transfers_cut_at_the_drain_deadline_are_answered_and_logged() {
    use tokio::io::AsyncReadExt;
    let mut gw = Gateway::start(GatewayOptions {
        log_level: Some("info"),
        ..GatewayOptions::with_config("shutdown: { drain_timeout: 1s }\n")
    })
    .await;
    let mut c = gw.raw_login().await;
    c.expect("TYPE I", 200).await;
    let mut data = c.start_transfer("STOR cut.bin").await;
    within("the first bytes", Duration::from_secs(10), data.write_all(b"partial"))
        .await
        .unwrap();
    // An HTTP upload that promises 1 MiB and sends 1 KiB.
    let mut put = within(
        "HTTP connect",
        Duration::from_secs(10),
        tokio::net::TcpStream::connect(gw.http_addr),
    )
    .await
    .unwrap();
    let head = format!(
        "PUT /cut-put.bin HTTP/1.1\r\nHost: {}\r\nAuthorization: {}\r\nContent-Length: 1048576\r\n\r\n",
        gw.http_addr,
        gw.basic_auth()
    );
    put.write_all(head.as_bytes()).await.unwrap();
    put.write_all(&[b'x'; 1024]).await.unwrap();
    // Let both uploads reach the server before the signal.
    tokio::time::sleep(Duration::from_millis(300)).await;

    gw.sigterm();
    let (code, text) = within("the FTP reply at the deadline", Duration::from_secs(15), c.reply()).await;
    assert_eq!(code, 426, "an upload cut at the drain deadline: {text:?}");
    assert_eq!(c.reply().await.0, 421, "then the session is closed");
    let mut answer = Vec::new();
    let _ = within(
        "the HTTP answer at the deadline",
        Duration::from_secs(15),
        put.read_to_end(&mut answer),
    )
    .await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 503"),
        "an HTTP upload cut at the deadline: {answer:?}"
    );
    drop(data);
    let status = gw.wait_exit(Duration::from_secs(15)).await;
    assert!(status.success(), "exit status {status:?}");

    assert!(!gw.store().exists("cut.bin") && !gw.store().exists("cut-put.bin"));
    gw.store().assert_no_pending_uploads();
    let log = gw.log();
    let cut_ftp = log
        .lines()
        .any(|l| l.contains("dualgate::access") && l.contains("STOR") && l.contains("code=426"));
    let cut_http = log
        .lines()
        .any(|l| l.contains("dualgate::access") && l.contains("PUT") && l.contains("code=503"));
    assert!(
        cut_ftp && cut_http,
        "the cut transfers are logged with their codes:\n{log}"
    );
}
