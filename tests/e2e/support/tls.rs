//! Test certificates (self-signed, made with rcgen for `localhost` and 127.0.0.1)
//! and TLS client configs that trust them: with TLS session resumption (as
//! FileZilla, curl and lftp do on FTPS data connections) or without (as Python's
//! ftplib).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::CertificateDer;

/// A certificate and key written as PEM files.
pub struct TestCert {
    /// The certificate file.
    pub cert: PathBuf,
    /// The key file.
    pub key: PathBuf,
    /// The certificate, DER.
    pub der: CertificateDer<'static>,
}

impl TestCert {
    /// Makes a new self-signed pair in `dir` as `NAME.crt` and `NAME.key`.
    pub fn create(dir: &Path, name: &str) -> TestCert {
        let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("generating a test certificate");
        let cert = dir.join(format!("{name}.crt"));
        let key = dir.join(format!("{name}.key"));
        std::fs::write(&cert, made.cert.pem()).expect("writing the certificate");
        std::fs::write(&key, made.signing_key.serialize_pem()).expect("writing the key");
        TestCert {
            cert,
            key,
            der: made.cert.der().clone(),
        }
    }

    /// Overwrites `other`'s files with this pair (a certificate rotation).
    pub fn install_as(&self, other: &TestCert) {
        // Written aside and renamed, as a deployment tool would: never half a file.
        for (from, to) in [(&self.cert, &other.cert), (&self.key, &other.key)] {
            let tmp = to.with_extension("tmp");
            std::fs::copy(from, &tmp).expect("copying the new pair");
            std::fs::rename(&tmp, to).expect("installing the new pair");
        }
    }

    /// A client config trusting this certificate (and nothing else).
    pub fn client_config(&self, resume: bool) -> Arc<rustls::ClientConfig> {
        install_provider();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.der.clone()).expect("trusting the test certificate");
        let mut config = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        if !resume {
            config.resumption = rustls::client::Resumption::disabled();
        }
        Arc::new(config)
    }
}

/// The ring provider, as the server uses (once per test process).
pub fn install_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A TLS connection to `addr` as `localhost`, for raw checks (which certificate
/// the server presents).
pub async fn connect(
    addr: std::net::SocketAddr,
    config: Arc<rustls::ClientConfig>,
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("a valid name");
    tokio_rustls::TlsConnector::from(config).connect(name, tcp).await
}

/// The certificate the server presented on `stream`.
pub fn presented(stream: &tokio_rustls::client::TlsStream<tokio::net::TcpStream>) -> CertificateDer<'static> {
    stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first().cloned())
        .expect("the server presented a certificate")
}
