//! Client certificates (mutual TLS) on FTPS and HTTPS, and the TLS handshake
//! timeout: a CA made here signs the clients' certificates; the gateway trusts
//! that CA (`tls.client_certificates`) and binds users to subjects.
//!
//! - `scanner` (subject `CN=scanner-01,O=Acme`, no password needed): FTP `USER`
//!   answers 232 and the session transfers; an HTTPS request without
//!   `Authorization` is `scanner`. Its password alone, without the certificate,
//!   does not log in.
//! - `clerk` (`CN=clerk`, password needed): certificate and password log in;
//!   either alone does not.
//! - A certificate from another CA fails the handshake; with `required`, so
//!   does a client without one. A client that connects and never handshakes is
//!   cut off after `limits.tls_handshake_timeout`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use suppaftp::tokio::{AsyncRustlsConnector, AsyncRustlsFtpStream};
use suppaftp::tokio_rustls::TlsConnector;
use tokio::io::AsyncReadExt;

use crate::support::tls::{TestCert, install_provider};
use crate::support::{Gateway, GatewayOptions, STEP, hash_password, within};

/// A client certificate and its key, issued by a test CA.
struct ClientCert {
    chain: Vec<CertificateDer<'static>>,
    key: PrivatePkcs8KeyDer<'static>,
}

/// A test CA: its PEM file and the issuer used to sign client certificates.
struct TestCa {
    pem_file: std::path::PathBuf,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

impl TestCa {
    fn create(dir: &std::path::Path, name: &str) -> TestCa {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.distinguished_name.push(rcgen::DnType::CommonName, name);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let pem_file = dir.join(format!("{name}.pem"));
        std::fs::write(&pem_file, cert.pem()).unwrap();
        TestCa {
            pem_file,
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    /// A client certificate with these subject attributes.
    fn issue(&self, subject: &[(rcgen::DnType, &str)]) -> ClientCert {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        for (kind, value) in subject {
            params.distinguished_name.push(kind.clone(), *value);
        }
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        ClientCert {
            chain: vec![cert.der().clone()],
            key: PrivatePkcs8KeyDer::from(key.serialize_der()),
        }
    }
}

/// A TLS client trusting the server's certificate, presenting `client` if any.
fn client_config(server: &TestCert, client: Option<&ClientCert>, alpn: bool) -> Arc<rustls::ClientConfig> {
    install_provider();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(server.der.clone()).unwrap();
    let builder = rustls::ClientConfig::builder().with_root_certificates(roots);
    let mut config = match client {
        Some(c) => builder
            .with_client_auth_cert(c.chain.clone(), PrivateKeyDer::Pkcs8(c.key.clone_key()))
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    if alpn {
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
    }
    Arc::new(config)
}

struct Setup {
    _dir: tempfile::TempDir,
    server: TestCert,
    scanner: ClientCert,
    clerk: ClientCert,
    stranger: ClientCert,
    gw: Gateway,
}

const SCANNER_PASSWORD: &str = "scanner-secret";
const CLERK_PASSWORD: &str = "clerk-secret";

async fn setup(mode: &str, extra: &str) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let server = TestCert::create(dir.path(), "server");
    let ca = TestCa::create(dir.path(), "clients-ca");
    let other_ca = TestCa::create(dir.path(), "other-ca");
    let scanner = ca.issue(&[
        (rcgen::DnType::CommonName, "scanner-01"),
        (rcgen::DnType::OrganizationName, "Acme"),
    ]);
    let clerk = ca.issue(&[(rcgen::DnType::CommonName, "clerk")]);
    // The same subject as the scanner's, from a CA the gateway does not trust.
    let stranger = other_ca.issue(&[
        (rcgen::DnType::CommonName, "scanner-01"),
        (rcgen::DnType::OrganizationName, "Acme"),
    ]);
    let clients = format!(
        "client_certificates: {{ mode: {mode}, ca_file: \"{}\" }}",
        ca.pem_file.display()
    );
    let (cert, key) = (server.cert.display(), server.key.display());
    let yaml = format!(
        "ftp:\n  tls: {{ cert: \"{cert}\", key: \"{key}\", {clients} }}\n\
http:\n  tls: {{ cert: \"{cert}\", key: \"{key}\", {clients} }}\n\
users:\n\
  - {{ name: scanner, password_hash: \"{}\", home: /scans, certificate: {{ subject: \"O=Acme, CN=scanner-01\" }} }}\n\
  - {{ name: clerk, password_hash: \"{}\", certificate: {{ subject: \"CN=clerk\", password: true }} }}\n{extra}",
        hash_password(SCANNER_PASSWORD),
        hash_password(CLERK_PASSWORD),
    );
    let gw = Gateway::start(GatewayOptions::with_config(&yaml)).await;
    Setup {
        _dir: dir,
        server,
        scanner,
        clerk,
        stranger,
        gw,
    }
}

async fn ftps(gw: &Gateway, config: Arc<rustls::ClientConfig>) -> Result<AsyncRustlsFtpStream, suppaftp::FtpError> {
    let plain = within("FTP connect", STEP, AsyncRustlsFtpStream::connect(gw.ftp_addr))
        .await
        .unwrap();
    within(
        "AUTH TLS",
        STEP,
        plain.into_secure(AsyncRustlsConnector::from(TlsConnector::from(config)), "localhost"),
    )
    .await
}

fn https(s: &Setup, client: Option<&ClientCert>) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .use_preconfigured_tls((*client_config(&s.server, client, true)).clone())
        .connect_timeout(STEP)
        .timeout(STEP)
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_certificate_logs_in_its_user_over_ftps_alone_or_with_the_password() {
    let s = setup("optional", "").await;

    // scanner: USER is enough (232), and the session works in its home.
    let mut ftp = ftps(&s.gw, client_config(&s.server, Some(&s.scanner), false))
        .await
        .expect("AUTH TLS with the scanner's certificate");
    let r = ftp
        .custom_command("USER scanner", &[suppaftp::Status::LogoutAck])
        .await
        .expect("USER scanner → 232");
    assert_eq!(r.status as u32, 232);
    ftp.transfer_type(suppaftp::types::FileType::Binary).await.unwrap();
    let mut body: &[u8] = b"scanned page";
    ftp.put_file("page.pdf", &mut body)
        .await
        .expect("STOR after a certificate login");
    assert_eq!(s.gw.store().read("scans/page.pdf"), b"scanned page");
    let _ = ftp.quit().await;

    // Its password without the certificate: refused, though right.
    let mut ftp = ftps(&s.gw, client_config(&s.server, None, false)).await.unwrap();
    let e = ftp
        .login("scanner", SCANNER_PASSWORD)
        .await
        .expect_err("no certificate");
    assert!(e.to_string().contains("530"), "{e}");
    let _ = ftp.quit().await;

    // clerk: needs both.
    let mut ftp = ftps(&s.gw, client_config(&s.server, Some(&s.clerk), false))
        .await
        .unwrap();
    ftp.login("clerk", "wrong")
        .await
        .expect_err("certificate with a wrong password");
    ftp.login("clerk", CLERK_PASSWORD)
        .await
        .expect("certificate and password");
    let _ = ftp.quit().await;
    let mut ftp = ftps(&s.gw, client_config(&s.server, None, false)).await.unwrap();
    ftp.login("clerk", CLERK_PASSWORD)
        .await
        .expect_err("password without certificate");
    let _ = ftp.quit().await;

    // Someone else's certificate does not log in as scanner, nor does the
    // scanner's certificate log in as clerk without clerk's password.
    let mut ftp = ftps(&s.gw, client_config(&s.server, Some(&s.clerk), false))
        .await
        .unwrap();
    ftp.login("scanner", SCANNER_PASSWORD)
        .await
        .expect_err("clerk's certificate is not scanner's");
    let _ = ftp.quit().await;

    // A certificate from another CA: the handshake fails.
    assert!(
        ftps(&s.gw, client_config(&s.server, Some(&s.stranger), false))
            .await
            .is_err(),
        "a certificate from an untrusted CA was accepted"
    );

    // Plain FTP still works for users without a certificate binding — none here,
    // and the bound users cannot log in without TLS.
    let mut raw = s.gw.raw_ftp().await;
    raw.expect("USER scanner", 331).await;
    raw.expect(&format!("PASS {SCANNER_PASSWORD}"), 530).await;
}

#[tokio::test]
async fn a_certificate_logs_in_its_user_over_https() {
    let s = setup("optional", "").await;
    s.gw.store().mkdir("scans");
    s.gw.store().put("scans/a.txt", b"from the scanner");
    s.gw.store().put("b.txt", b"for the clerk");
    let url = |p: &str| s.gw.url(p);

    let r = https(&s, Some(&s.scanner)).get(url("/a.txt")).send().await.unwrap();
    assert_eq!(r.status(), 200, "scanner by certificate");
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"from the scanner");

    let r = https(&s, None).get(url("/a.txt")).send().await.unwrap();
    assert_eq!(r.status(), 401, "no certificate, no credentials");
    let r = https(&s, None)
        .get(url("/a.txt"))
        .basic_auth("scanner", Some(SCANNER_PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "scanner's password without its certificate");

    let clerk = https(&s, Some(&s.clerk));
    let r = clerk.get(url("/b.txt")).send().await.unwrap();
    assert_eq!(r.status(), 401, "clerk's certificate alone");
    let r = clerk
        .get(url("/b.txt"))
        .basic_auth("clerk", Some(CLERK_PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "clerk's certificate and password");
    let r = https(&s, None)
        .get(url("/b.txt"))
        .basic_auth("clerk", Some(CLERK_PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "clerk's password without its certificate");

    assert!(
        https(&s, Some(&s.stranger)).get(url("/a.txt")).send().await.is_err(),
        "a certificate from an untrusted CA was accepted"
    );
}

#[tokio::test]
async fn required_client_certificates_and_the_handshake_timeout() {
    let s = setup("required", "limits: { tls_handshake_timeout: 1s }\n").await;
    assert!(
        https(&s, None).get(s.gw.url("/")).send().await.is_err(),
        "HTTPS without a client certificate was served"
    );
    let r = https(&s, Some(&s.scanner)).get(s.gw.url("/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        ftps(&s.gw, client_config(&s.server, None, false)).await.is_err(),
        "FTPS without a client certificate was accepted"
    );

    // Connect to the HTTPS port and send nothing: cut off after about a second.
    let mut silent = tokio::net::TcpStream::connect(s.gw.http_addr).await.unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 64];
    let n = within("the handshake timeout", Duration::from_secs(5), silent.read(&mut buf))
        .await
        .unwrap_or(0);
    assert_eq!(n, 0, "the server sent something to a client that never said hello");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(800) && waited < Duration::from_secs(4),
        "closed after {waited:?}, not after the 1 s handshake timeout"
    );
}
