//! TLS: explicit FTPS (`AUTH TLS`, `PBSZ`, `PROT`, `CCC` refused, `require`),
//! implicit FTPS, data connections that must resume the control connection's TLS
//! session, HTTPS with ALPN, and certificate reload while sessions stay up —
//! with suppaftp (rustls) and reqwest as the clients.

use std::sync::Arc;
use std::time::Duration;

use suppaftp::tokio::{AsyncRustlsConnector, AsyncRustlsFtpStream};
use suppaftp::tokio_rustls::TlsConnector;

use crate::support::tls::{TestCert, connect, presented};
use crate::support::{Gateway, GatewayOptions, STALLING_LEN, metric_value, put_stalling_file, random_bytes, within};

/// A gateway with FTPS (and HTTPS) on `cert`, plus extra `ftp.tls` keys.
async fn tls_gateway(cert: &TestCert, ftp_tls_extra: &str) -> Gateway {
    Gateway::start(GatewayOptions::with_config(&format!(
        "ftp:\n  tls: {{ cert: \"{}\", key: \"{}\"{ftp_tls_extra} }}\nhttp:\n  tls: {{ cert: \"{}\", key: \"{}\" }}\n",
        cert.cert.display(),
        cert.key.display(),
        cert.cert.display(),
        cert.key.display(),
    )))
    .await
}

/// Logs in over explicit FTPS (AUTH TLS, PBSZ 0, PROT P) in binary mode.
async fn ftps_login(gw: &Gateway, config: Arc<rustls::ClientConfig>) -> AsyncRustlsFtpStream {
    let plain = within(
        "FTP connect",
        Duration::from_secs(10),
        AsyncRustlsFtpStream::connect(gw.ftp_addr),
    )
    .await
    .expect("FTP connect");
    let connector = AsyncRustlsConnector::from(TlsConnector::from(config));
    let mut ftp = within(
        "AUTH TLS",
        Duration::from_secs(10),
        plain.into_secure(connector, "localhost"),
    )
    .await
    .expect("AUTH TLS");
    ftp.login(&gw.user, &gw.password).await.expect("login over TLS");
    ftp.transfer_type(suppaftp::types::FileType::Binary)
        .await
        .expect("TYPE I");
    ftp
}

async fn put(ftp: &mut AsyncRustlsFtpStream, name: &str, data: &[u8]) -> Result<(), suppaftp::FtpError> {
    let mut reader = data;
    ftp.put_file(name, &mut reader).await.map(|_| ())
}

async fn get(ftp: &mut AsyncRustlsFtpStream, name: &str) -> Result<Vec<u8>, suppaftp::FtpError> {
    use tokio::io::AsyncReadExt as _;
    let mut stream = ftp.retr_as_stream(name).await?;
    let mut out = Vec::new();
    stream
        .read_to_end(&mut out)
        .await
        .map_err(suppaftp::FtpError::ConnectionError)?;
    stream.finish().await?;
    Ok(out)
}

#[tokio::test]
async fn explicit_ftps_transfers_with_protected_data_that_resumes_the_session() {
    let dir = tempfile::tempdir().unwrap();
    let cert = TestCert::create(dir.path(), "server");
    let gw = tls_gateway(&cert, ", data_session_reuse: require").await;

    // FEAT announces it; the RFC 4217 sequence rules hold before AUTH.
    let mut raw = gw.raw_ftp().await;
    let feat = raw.expect("FEAT", 211).await;
    for f in ["AUTH TLS", "PBSZ", "PROT"] {
        assert!(feat.lines().any(|l| l.trim() == f), "FEAT lacks {f}: {feat:?}");
    }
    raw.expect("PBSZ 0", 503).await;
    raw.expect("PROT P", 503).await;
    raw.expect("AUTH KERBEROS_V4", 504).await;
    raw.expect("CCC", 503).await; // before AUTH there is nothing to clear

    // suppaftp resumes the control session on its data connections (rustls keeps
    // a session cache per server name): upload, download and listing all work.
    let mut ftp = ftps_login(&gw, cert.client_config(true)).await;
    // Under TLS: CCC is refused (534), PROT S/E are not TLS levels (536), a second
    // AUTH is out of sequence (503); the session goes on.
    for (line, code) in [("CCC", "534"), ("PROT S", "536"), ("PROT E", "536")] {
        let reply = ftp
            .custom_command(line, &[suppaftp::Status::Unknown])
            .await
            .unwrap_or_else(|e| panic!("{line}: {e}"));
        let text = String::from_utf8_lossy(&reply.body).into_owned();
        assert!(text.starts_with(code), "{line} -> {text:?}");
    }
    ftp.custom_command("AUTH TLS", &[suppaftp::Status::BadSequence])
        .await
        .expect("a second AUTH TLS is a bad sequence");
    let data = random_bytes(3 << 20);
    put(&mut ftp, "secret.bin", &data).await.expect("STOR under PROT P");
    assert_eq!(gw.store().read("secret.bin"), data, "the stored file");
    assert_eq!(get(&mut ftp, "secret.bin").await.expect("RETR under PROT P"), data);
    let names = ftp.nlst(None).await.expect("NLST under PROT P");
    assert_eq!(names, vec!["secret.bin".to_owned()]);
    // More data connections than the control connection issued tickets (8): each
    // download hands the client a new one, each upload reuses one.
    for i in 0..6 {
        let name = format!("round-{i}.bin");
        put(&mut ftp, &name, &data[..1 << 16]).await.expect("STOR again");
        assert_eq!(get(&mut ftp, &name).await.expect("RETR again"), &data[..1 << 16]);
    }
    ftp.quit().await.unwrap();
    // Counted: one full handshake (control) and resumed ones (data).
    let text = gw.metrics().await;
    let handshakes = |resumed| {
        metric_value(
            &text,
            "dualgate_tls_handshakes_total",
            &[("protocol", "ftp"), ("resumed", resumed)],
        )
    };
    assert_eq!(handshakes("false"), Some(1.0), "{text}");
    assert!(handshakes("true").is_some_and(|n| n >= 15.0), "{text}");
}

/// A file cut short while it is sent under `PROT P` is a failed transfer: the
/// client gets fewer bytes, no `close_notify`, and a 451, never a clean end. Run
/// on a root on disk (reads on the blocking pool, one read ahead) and, where the
/// machine has one, on tmpfs (reads on the I/O thread): the two read paths of a
/// streamed local file.
#[tokio::test]
async fn local_a_file_that_shrinks_during_an_ftps_download_is_a_broken_transfer() {
    use tokio::io::AsyncReadExt as _;
    let dir = tempfile::tempdir().unwrap();
    let cert = TestCert::create(dir.path(), "server");
    let shm = std::path::Path::new("/dev/shm");
    let memory = shm.is_dir().then(|| tempfile::tempdir_in(shm).unwrap());
    let disk = dir.path().join("root");
    let roots = std::iter::once(disk).chain(memory.as_ref().map(|m| m.path().join("root")));
    for root in roots {
        std::fs::create_dir_all(&root).unwrap();
        let gw = Gateway::start(GatewayOptions {
            root: Some(root.clone()),
            ..GatewayOptions::with_config(&format!(
                "ftp:\n  tls: {{ cert: \"{}\", key: \"{}\" }}\n",
                cert.cert.display(),
                cert.key.display(),
            ))
        })
        .await;
        put_stalling_file(gw.store(), "big.bin");
        let mut ftp = ftps_login(&gw, cert.client_config(true)).await;
        let mut stream = ftp.retr_as_stream("big.bin").await.expect("RETR under PROT P");
        let mut head = vec![0u8; 256 << 10];
        stream.read_exact(&mut head).await.expect("the first bytes");
        // What is in flight (socket buffers, the chunks read) is far less than the
        // 63 MiB cut off: the server's reads reach the new end.
        std::fs::File::options()
            .write(true)
            .open(root.join("big.bin"))
            .and_then(|f| f.set_len(1 << 20))
            .unwrap();
        let mut rest = Vec::new();
        let read = within("the rest", Duration::from_secs(30), stream.read_to_end(&mut rest)).await;
        let got = (head.len() + rest.len()) as u64;
        assert!(got < STALLING_LEN, "{}: all {got} bytes arrived", root.display());
        assert!(
            read.is_err(),
            "{}: the cut looked like a clean end after {got} bytes",
            root.display()
        );
        match stream.finish().await {
            Err(suppaftp::FtpError::UnexpectedResponse(r)) => {
                assert_eq!(r.status.code(), 451, "{}: {r:?}", root.display());
            }
            other => panic!("{}: the transfer's reply: {other:?}", root.display()),
        }
        ftp.quit().await.unwrap();
    }
}

#[tokio::test]
async fn require_refuses_a_data_connection_that_does_not_resume_and_optional_accepts_it() {
    let dir = tempfile::tempdir().unwrap();
    let cert = TestCert::create(dir.path(), "server");

    let strict = tls_gateway(&cert, ", data_session_reuse: require").await;
    strict.store().put("f.txt", b"resume me");
    let mut ftp = ftps_login(&strict, cert.client_config(false)).await;
    match get(&mut ftp, "f.txt").await {
        Err(suppaftp::FtpError::UnexpectedResponse(r)) => assert_eq!(r.status.code(), 425, "{r:?}"),
        Err(suppaftp::FtpError::SecureError(_) | suppaftp::FtpError::ConnectionError(_)) => {}
        other => panic!("a data connection without resumption was accepted: {other:?}"),
    }
    let mut ftp = ftps_login(&strict, cert.client_config(false)).await;
    // The session itself goes on.
    ftp.noop().await.expect("NOOP after the refused data connection");

    let lenient = tls_gateway(&cert, "").await;
    lenient.store().put("f.txt", b"resume me");
    let mut ftp = ftps_login(&lenient, cert.client_config(false)).await;
    assert_eq!(
        get(&mut ftp, "f.txt").await.expect("optional: a new session is fine"),
        b"resume me"
    );
}

#[tokio::test]
async fn tls_require_refuses_user_before_auth_tls() {
    let dir = tempfile::tempdir().unwrap();
    let cert = TestCert::create(dir.path(), "server");
    let gw = tls_gateway(&cert, ", require: true").await;
    let mut raw = gw.raw_ftp().await;
    raw.expect(&format!("USER {}", gw.user), 530).await;
    raw.expect("PWD", 530).await;
    // After AUTH TLS the same login works.
    let mut ftp = ftps_login(&gw, cert.client_config(true)).await;
    assert_eq!(ftp.pwd().await.unwrap(), "/");
}

#[tokio::test]
async fn implicit_ftps_speaks_tls_from_the_first_byte() {
    let dir = tempfile::tempdir().unwrap();
    let cert = TestCert::create(dir.path(), "server");
    let gw = tls_gateway(&cert, ", implicit_listen: \"127.0.0.1:0\"").await;
    let addr = gw.ftps_addr.expect("the implicit listener is announced");
    gw.store().put("f.txt", b"implicit");
    let connector = AsyncRustlsConnector::from(TlsConnector::from(cert.client_config(true)));
    let mut ftp = within(
        "implicit FTPS connect",
        Duration::from_secs(10),
        AsyncRustlsFtpStream::connect_secure_implicit(addr, connector, "localhost"),
    )
    .await
    .expect("implicit FTPS connect");
    ftp.login(&gw.user, &gw.password).await.expect("login");
    ftp.transfer_type(suppaftp::types::FileType::Binary).await.unwrap();
    // Data is protected from the start (PROT P is the implicit default).
    assert_eq!(
        get(&mut ftp, "f.txt").await.expect("RETR over implicit FTPS"),
        b"implicit"
    );
    // A plain-text client on the implicit port gets no FTP greeting.
    let mut plain = tokio::net::TcpStream::connect(addr).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    plain.write_all(b"USER x\r\n").await.unwrap();
    let mut buf = [0u8; 64];
    let n = within(
        "a plain client is dropped",
        Duration::from_secs(15),
        plain.read(&mut buf),
    )
    .await
    .unwrap_or(0);
    assert!(!buf[..n].starts_with(b"220"), "a plain client got an FTP greeting");
}

#[tokio::test]
async fn https_serves_files_with_alpn_h2_and_http11() {
    let dir = tempfile::tempdir().unwrap();
    let cert = TestCert::create(dir.path(), "server");
    let gw = tls_gateway(&cert, "").await;
    assert!(gw.http_url.starts_with("https://"), "{}", gw.http_url);
    gw.store().put("f.txt", b"over https");
    for (alpn, version) in [
        (&b"h2"[..], reqwest::Version::HTTP_2),
        (b"http/1.1", reqwest::Version::HTTP_11),
    ] {
        let mut config = (*cert.client_config(true)).clone();
        config.alpn_protocols = vec![alpn.to_vec()];
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(config)
            .build()
            .unwrap();
        let url = format!("https://localhost:{}/f.txt", gw.http_addr.port());
        let resp = within(
            "HTTPS GET",
            Duration::from_secs(10),
            client.get(&url).basic_auth(&gw.user, Some(&gw.password)).send(),
        )
        .await
        .expect("HTTPS GET");
        assert_eq!(resp.status().as_u16(), 200);
        assert_eq!(resp.version(), version, "ALPN {}", String::from_utf8_lossy(alpn));
        assert_eq!(resp.bytes().await.unwrap().as_ref(), b"over https");
    }
    // Plain HTTP on the HTTPS port is not served.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut plain = tokio::net::TcpStream::connect(gw.http_addr).await.unwrap();
    plain
        .write_all(b"GET /f.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 64];
    let n = within(
        "a plain request is dropped",
        Duration::from_secs(15),
        plain.read(&mut buf),
    )
    .await
    .unwrap_or(0);
    assert!(
        !buf[..n].starts_with(b"HTTP/1.1 200"),
        "plain HTTP was served on the HTTPS port"
    );
}

/// Polls new TLS connections to `addr` until the server presents `cert`.
async fn wait_for_certificate(addr: std::net::SocketAddr, cert: &TestCert, what: &str, limit: Duration) {
    let trust = cert.client_config(false);
    within(what, limit, async {
        loop {
            if let Ok(tls) = connect(addr, trust.clone()).await
                && presented(&tls) == cert.der
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn certificates_reload_on_sighup_and_on_change_while_sessions_stay_up() {
    let dir = tempfile::tempdir().unwrap();
    let first = TestCert::create(dir.path(), "server");
    let second = TestCert::create(dir.path(), "next");
    let third = TestCert::create(dir.path(), "third");
    let gw = tls_gateway(
        &first,
        ", implicit_listen: \"127.0.0.1:0\", data_session_reuse: require",
    )
    .await;
    let implicit = gw.ftps_addr.unwrap();
    gw.store().put("f.txt", b"still here");

    // An FTPS session established under the first certificate.
    let mut ftp = ftps_login(&gw, first.client_config(true)).await;
    let tls = connect(implicit, first.client_config(false)).await.unwrap();
    assert_eq!(presented(&tls), first.der);

    // Rotation by SIGHUP: new handshakes get the second certificate.
    second.install_as(&first);
    gw.sighup();
    wait_for_certificate(
        implicit,
        &second,
        "the certificate reloaded by SIGHUP",
        Duration::from_secs(10),
    )
    .await;
    // The old session lives, and its data connections still resume its TLS session.
    assert_eq!(
        get(&mut ftp, "f.txt").await.expect("RETR after the reload"),
        b"still here"
    );

    // Rotation by file change alone (no signal), picked up by the watcher.
    third.install_as(&first);
    wait_for_certificate(implicit, &third, "the file watcher's reload", Duration::from_secs(30)).await;
    // A broken pair is refused; the third certificate stays in force.
    std::fs::write(&first.cert, "not a certificate").unwrap();
    gw.sighup();
    gw.wait_for_log("TLS certificate reload failed").await;
    let tls = connect(implicit, third.client_config(false))
        .await
        .expect("TLS after a failed reload");
    assert_eq!(presented(&tls), third.der);
    ftp.noop().await.expect("the first session is still up");
}

#[tokio::test]
async fn a_stalled_or_failed_handshake_ends_only_that_connection() {
    let dir = tempfile::tempdir().unwrap();
    let cert = TestCert::create(dir.path(), "server");
    let gw = tls_gateway(&cert, ", implicit_listen: \"127.0.0.1:0\"").await;
    let implicit = gw.ftps_addr.unwrap();
    // One client connects and says nothing; another sends a broken ClientHello.
    let mut stalled = tokio::net::TcpStream::connect(implicit).await.unwrap();
    let mut broken = tokio::net::TcpStream::connect(implicit).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    broken
        .write_all(&[0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5])
        .await
        .unwrap();
    // Meanwhile everyone else is served, over TLS and in the clear.
    let mut ftp = ftps_login(&gw, cert.client_config(true)).await;
    ftp.noop().await.unwrap();
    gw.raw_login().await.expect("NOOP", 200).await;
    let mut sink = Vec::new();
    within(
        "the broken handshake's connection closes",
        Duration::from_secs(5),
        broken.read_to_end(&mut sink),
    )
    .await
    .ok();
    // The silent one is closed by the 10 s handshake timeout.
    let t0 = std::time::Instant::now();
    let _ = within(
        "the stalled handshake times out",
        Duration::from_secs(20),
        stalled.read_to_end(&mut sink),
    )
    .await;
    assert!(
        t0.elapsed() >= Duration::from_secs(5),
        "closed after {:?}, not by the timeout",
        t0.elapsed()
    );
    ftp.noop().await.expect("the other session is unaffected");
}
