//! From the `storage: { kind: upstream_ftp }` section to what the connection
//! pool needs: the checks of the section ([`UpstreamSettings::problems`], run by
//! `check-config` and at start-up), the password from the config or its file,
//! and the TLS client configuration.
//!
//! Each control connection gets a TLS client of its own (the trusted roots are
//! shared), so its session cache holds only its own sessions: a data
//! connection's handshake resumes *that control connection's* session, which
//! servers such as vsftpd with `require_ssl_reuse=YES` demand — vsftpd runs a
//! process per session, and a ticket from another control connection (as a
//! shared cache would offer under concurrency) is not resumed there, so its
//! data connection was refused.

use std::sync::Arc;
use std::time::Duration;

use suppaftp::tokio::AsyncRustlsConnector;

use crate::auth::Password;
use crate::config::{DataMode, ListMode, UpstreamFtpConfig, UpstreamTls};

/// What the pool and the volumes need once the section is checked.
#[derive(Clone)]
pub struct UpstreamSettings {
    /// Host name or address.
    pub host: String,
    /// Control port.
    pub port: u16,
    /// The service account.
    pub user: String,
    /// Its password.
    pub password: Password,
    /// The upstream directory that is dualgate's `/`, without a trailing `/`
    /// (empty for the upstream's `/`).
    pub root: String,
    /// TLS mode.
    pub tls: UpstreamTls,
    /// The trusted roots, when `tls` is not `none`.
    pub roots: Option<Arc<rustls::RootCertStore>>,
    /// The name the certificate is checked against.
    pub server_name: String,
    /// Passive mode choice.
    pub data_mode: DataMode,
    /// Use the control connection's address for PASV data connections.
    pub nat_workaround: bool,
    /// Listing choice.
    pub list: ListMode,
    /// Uploads through a temporary name.
    pub atomic_uploads: bool,
    /// Pool size.
    pub max_connections: usize,
    /// Idle connections are closed after this.
    pub idle_timeout: Duration,
    /// Connect and login limit.
    pub connect_timeout: Duration,
    /// Per-command (and per-read/write) limit.
    pub command_timeout: Duration,
    /// `ftp://user@host:port/root`, for logs and the banner (no password).
    pub describe: String,
    /// The time shown for the upstream root when nothing better is known (see
    /// `storage::upstream_ftp` on times).
    pub opened_at: std::time::SystemTime,
}

impl std::fmt::Debug for UpstreamSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "UpstreamSettings({})", self.describe)
    }
}

impl UpstreamSettings {
    /// The problems of a section, as `(key, reason)`; empty when it is usable.
    pub fn problems(c: &UpstreamFtpConfig) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if c.host.trim().is_empty() || c.host.contains(['/', ' ']) {
            out.push(("storage.host", "must be a host name or address".to_owned()));
        }
        if c.port == 0 {
            out.push(("storage.port", "must be a port number (1-65535)".to_owned()));
        }
        if c.user.is_empty() || c.user.contains(['\r', '\n']) {
            out.push(("storage.user", "must be a non-empty user name on one line".to_owned()));
        }
        match (&c.password, &c.password_file) {
            (Some(_), Some(_)) => out.push((
                "storage.password_file",
                "give password or password_file, not both".to_owned(),
            )),
            (None, None) => out.push((
                "storage.password",
                "give password or password_file (the upstream account's)".to_owned(),
            )),
            (Some(p), None) if p.expose().contains(['\r', '\n']) => {
                out.push(("storage.password", "must be on one line".to_owned()));
            }
            _ => {}
        }
        if !c.root.starts_with('/') || c.root.split('/').any(|p| p == "." || p == "..") || c.root.contains(['\r', '\n'])
        {
            out.push((
                "storage.root",
                "must be an absolute upstream directory such as `/` or `/srv/drop` (no `.` or `..`)".to_owned(),
            ));
        }
        if !(1..=1000).contains(&c.max_connections) {
            out.push(("storage.max_connections", "must be between 1 and 1000".to_owned()));
        }
        for (key, d) in [
            ("storage.idle_timeout", c.idle_timeout),
            ("storage.connect_timeout", c.connect_timeout),
            ("storage.command_timeout", c.command_timeout),
        ] {
            if d.0.is_zero() {
                out.push((key, "must be longer than zero".to_owned()));
            }
        }
        if c.tls == UpstreamTls::None && (c.ca_file.is_some() || c.tls_server_name.is_some()) {
            out.push((
                "storage.tls",
                "ca_file and tls_server_name need tls: explicit or implicit".to_owned(),
            ));
        }
        out
    }

    /// Checks the section and reads what it points to (password file, CA file).
    pub fn from_config(c: &UpstreamFtpConfig) -> Result<UpstreamSettings, String> {
        if let Some((key, reason)) = Self::problems(c).first() {
            return Err(format!("{key}: {reason}"));
        }
        let password = match (&c.password, &c.password_file) {
            (Some(p), _) => p.clone(),
            (None, Some(path)) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("storage.password_file {}: {e}", path.display()))?;
                let v = text.trim();
                if v.is_empty() || v.contains(['\r', '\n']) {
                    return Err(format!(
                        "storage.password_file {}: must hold one non-empty line",
                        path.display()
                    ));
                }
                Password::new(v.to_owned())
            }
            (None, None) => return Err("storage.password: missing".to_owned()),
        };
        let roots = match c.tls {
            UpstreamTls::None => None,
            UpstreamTls::Explicit | UpstreamTls::Implicit => Some(Arc::new(trusted_roots(c.ca_file.as_deref())?)),
        };
        let root = c.root.trim_end_matches('/').to_owned();
        Ok(UpstreamSettings {
            host: c.host.trim().to_owned(),
            port: c.port,
            user: c.user.clone(),
            password,
            describe: format!("ftp://{}@{}:{}{}", c.user, c.host.trim(), c.port, c.root),
            root,
            tls: c.tls,
            roots,
            server_name: c.tls_server_name.clone().unwrap_or_else(|| c.host.trim().to_owned()),
            data_mode: c.data_mode,
            nat_workaround: c.passive_nat_workaround,
            list: c.list,
            atomic_uploads: c.atomic_uploads,
            max_connections: c.max_connections as usize,
            idle_timeout: c.idle_timeout.0,
            connect_timeout: c.connect_timeout.0,
            command_timeout: c.command_timeout.0,
            opened_at: std::time::SystemTime::now(),
        })
    }

    /// A TLS client for one control connection and its data connections: its
    /// own session cache (rustls' default, in memory), certificates verified.
    pub fn suppaftp_connector(&self) -> Option<AsyncRustlsConnector> {
        let roots = self.roots.as_ref()?;
        let config = rustls::ClientConfig::builder()
            .with_root_certificates(Arc::clone(roots))
            .with_no_client_auth();
        Some(AsyncRustlsConnector::from(tokio_rustls::TlsConnector::from(Arc::new(
            config,
        ))))
    }
}

/// The certificate authorities trusted for the upstream: the system's plus `ca_file`.
fn trusted_roots(ca_file: Option<&std::path::Path>) -> Result<rustls::RootCertStore, String> {
    // The process's one provider (ring); `main` installs it first thing, and a
    // library user (the tests) gets it here. A second install is a no-op.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        // A system certificate rustls cannot use is skipped, as browsers do.
        let _ = roots.add(cert);
    }
    if let Some(path) = ca_file {
        use rustls_pki_types::pem::PemObject;
        let certs: Vec<_> = rustls_pki_types::CertificateDer::pem_file_iter(path)
            .map_err(|e| format!("storage.ca_file {}: {e}", path.display()))?
            .collect::<Result<_, _>>()
            .map_err(|e| format!("storage.ca_file {}: {e}", path.display()))?;
        if certs.is_empty() {
            return Err(format!("storage.ca_file {}: no certificate in it", path.display()));
        }
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| format!("storage.ca_file {}: {e}", path.display()))?;
        }
    }
    if roots.is_empty() {
        return Err("storage.ca_file: no trusted certificate authority (none in the system, no ca_file)".to_owned());
    }
    Ok(roots)
}
