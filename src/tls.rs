//! TLS for FTPS (explicit `AUTH TLS` and implicit) and HTTPS: rustls with the ring
//! provider only.
//!
//! A [`ReloadableCert`] holds the certificate and key in force and answers every
//! handshake through rustls' [`ResolvesServerCert`]: a reload swaps the key inside
//! the long-lived `ServerConfig`s, so their session caches — and FTPS data
//! connections that resume a control connection's session — survive it. Reloads
//! happen on SIGHUP and when the files' modification times change (Kubernetes
//! rotates mounted secrets by swapping a symlink); a pair that does not load is
//! logged and the one in force stays.
//!
//! With `tls.client_certificates` a listener asks for client certificates
//! (mutual TLS) and verifies them against its own CA file; what a verified
//! certificate logs in as is `crate::auth::certificate`'s business. Every
//! handshake is bounded by `limits.tls_handshake_timeout`: a client that stalls
//! or sends garbage loses only its own connection.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use rustls::ServerConfig;
use rustls::server::danger::ClientCertVerifier;
use rustls::server::{ClientHello, ResolvesServerCert, ServerSessionMemoryCache, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_util::sync::CancellationToken;

use crate::auth::ClientCertificate;
use crate::config::{ClientCertificateMode, ClientCertificatesConfig};

/// Sessions remembered for resumption per `ServerConfig`.
const SESSION_CACHE: usize = 4096;
/// How often the certificate files are checked for changes.
pub const WATCH_INTERVAL: Duration = Duration::from_secs(10);

/// Why a certificate pair could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read or holds no usable PEM.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The key does not belong to the certificate, or rustls refused the pair.
    #[error("{cert} / {key}: {reason}")]
    Pair {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// Why.
        reason: String,
    },
}

fn file_error(path: &Path, reason: impl ToString) -> TlsError {
    TlsError::File {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// The installed crypto provider: ring, and only ring.
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()))
}

/// Loads a PEM certificate chain and its private key into a checked pair.
pub fn load_pair(cert: &Path, key: &Path) -> Result<CertifiedKey, TlsError> {
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| file_error(cert, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(cert, e))?;
    if chain.is_empty() {
        return Err(file_error(cert, "no certificate in the file"));
    }
    let private = PrivateKeyDer::from_pem_file(key).map_err(|e| file_error(key, e))?;
    let pair_error = |reason: String| TlsError::Pair {
        cert: cert.to_path_buf(),
        key: key.to_path_buf(),
        reason,
    };
    let signing = provider()
        .key_provider
        .load_private_key(private)
        .map_err(|e| pair_error(e.to_string()))?;
    let pair = CertifiedKey::new(chain, signing);
    pair.keys_match()
        .map_err(|e| pair_error(format!("the key does not match the certificate ({e})")))?;
    Ok(pair)
}

fn modified(path: &Path) -> Option<SystemTime> {
    // Follows symlinks: a swapped link target counts as a change.
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The certificate in force for one listener family, reloadable in place.
#[derive(Debug)]
pub struct ReloadableCert {
    cert: PathBuf,
    key: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
    /// Modification times of the files that were last loaded.
    stamps: Mutex<(Option<SystemTime>, Option<SystemTime>)>,
}

impl ReloadableCert {
    /// Loads the pair; an error here stops the start-up.
    pub fn load(cert: &Path, key: &Path) -> Result<Self, TlsError> {
        let stamps = (modified(cert), modified(key));
        let pair = load_pair(cert, key)?;
        Ok(ReloadableCert {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            current: RwLock::new(Arc::new(pair)),
            stamps: Mutex::new(stamps),
        })
    }

    /// Loads the files again and puts the pair in force; on error the old pair stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let stamps = (modified(&self.cert), modified(&self.key));
        let pair = load_pair(&self.cert, &self.key)?;
        *self.current.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(pair);
        *self.stamps.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = stamps;
        Ok(())
    }

    /// Reloads when a file's modification time changed since the last load.
    /// `Ok(true)` when a new pair is in force.
    pub fn reload_if_changed(&self) -> Result<bool, TlsError> {
        let now = (modified(&self.cert), modified(&self.key));
        let last = *self.stamps.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if now == last {
            return Ok(false);
        }
        match self.reload() {
            Ok(()) => Ok(true),
            Err(e) => {
                // Not retried until the files change again (a half-written pair
                // usually does, once the writer finishes).
                *self.stamps.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = now;
                Err(e)
            }
        }
    }

    /// The certificate file, for logs.
    pub fn cert_path(&self) -> &Path {
        &self.cert
    }
}

impl ResolvesServerCert for ReloadableCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone(),
        )
    }
}

/// A server config answering with `cert`, offering `alpn` (most preferred first),
/// TLS 1.2 and 1.3, with a session cache for resumption; with `clients`, client
/// certificates are asked for and verified against its CA file.
pub fn server_config(
    cert: Arc<ReloadableCert>,
    alpn: &[&[u8]],
    clients: Option<&ClientCertificatesConfig>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let versions_error = |e: rustls::Error| TlsError::Pair {
        cert: cert.cert.clone(),
        key: cert.key.clone(),
        reason: e.to_string(),
    };
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(versions_error)?;
    let builder = match clients {
        None => builder.with_no_client_auth(),
        Some(c) => builder.with_client_cert_verifier(client_verifier(c)?),
    };
    let mut config = builder.with_cert_resolver(cert);
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    config.session_storage = ServerSessionMemoryCache::new(SESSION_CACHE);
    Ok(Arc::new(config))
}

/// The verifier of `tls.client_certificates`: chains to the CA file's
/// authorities (and only those: the system's are not trusted for clients).
fn client_verifier(c: &ClientCertificatesConfig) -> Result<Arc<dyn ClientCertVerifier>, TlsError> {
    let path = &c.ca_file;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path).map_err(|e| file_error(path, e))? {
        roots
            .add(cert.map_err(|e| file_error(path, e))?)
            .map_err(|e| file_error(path, e))?;
    }
    if roots.is_empty() {
        return Err(file_error(path, "no certificate authority in the file"));
    }
    let builder = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider());
    let builder = match c.mode {
        ClientCertificateMode::Required => builder,
        ClientCertificateMode::Optional => builder.allow_unauthenticated(),
    };
    builder.build().map_err(|e| file_error(path, e))
}

/// The verified certificate the client presented in `conn`'s handshake, if any.
pub fn client_certificate(conn: &rustls::ServerConnection) -> Option<Arc<ClientCertificate>> {
    let der = conn.peer_certificates()?.first()?;
    ClientCertificate::from_der(der).map(Arc::new)
}

/// The server handshake on `tcp` (a TCP stream, or one behind a read buffer)
/// under `config`, within `timeout`, counted in
/// `dualgate_tls_handshakes_total{protocol, resumed}`. The stream and whether it
/// resumed an earlier session; the reason when it failed.
pub async fn accept<IO>(
    config: Arc<ServerConfig>,
    tcp: IO,
    protocol: &'static str,
    timeout: Duration,
) -> Result<(tokio_rustls::server::TlsStream<IO>, bool), String>
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let stream = tokio::time::timeout(timeout, tokio_rustls::TlsAcceptor::from(config).accept(tcp))
        .await
        .map_err(|_| "timed out".to_owned())?
        .map_err(|e| e.to_string())?;
    let resumed = stream.get_ref().1.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
    crate::metrics::tls_handshake(protocol, resumed);
    Ok((stream, resumed))
}

/// Reloads `certs` on SIGHUP and when their files change, until `shutdown`.
pub async fn watch(certs: Vec<Arc<ReloadableCert>>, interval: Duration, shutdown: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangups = match signal(SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGHUP; certificates reload only when their files change");
            None
        }
    };
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let forced = tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => false,
            Some(()) = async { match hangups.as_mut() { Some(h) => h.recv().await, None => std::future::pending().await } } => true,
        };
        for cert in &certs {
            let result = if forced {
                cert.reload().map(|()| true)
            } else {
                cert.reload_if_changed()
            };
            match result {
                Ok(true) => tracing::info!(cert = %cert.cert_path().display(), "TLS certificate reloaded"),
                Ok(false) => {}
                Err(e) => {
                    tracing::error!(error = %e, "TLS certificate reload failed; the previous certificate stays in force")
                }
            }
        }
    }
}
