//! Graceful shutdown: on SIGTERM `/readyz` fails first (the admin port keeps
//! answering through the drain), the listeners stop accepting, idle sessions get
//! `421`, a running upload completes intact within the drain deadline, and the
//! process exits 0.

use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;

use crate::support::{Gateway, GatewayOptions, random_bytes, sha256_hex, upload_temp_files, within};

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

    let stored = std::fs::read(gw.disk("big.bin")).unwrap();
    assert_eq!(stored.len(), 200 << 20);
    assert_eq!(sha256_hex(&stored), format!("{:x}", expected.finalize()));
    assert!(gw.root_names().contains(&"big.bin".to_owned()), "listed in the root");
    assert!(upload_temp_files(&gw.root).is_empty(), "no temporary file left");
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
