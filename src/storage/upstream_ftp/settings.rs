//! From the `storage: { kind: upstream_ftp }` section to what the connection
//! pools need, per upstream (the section's own, named `default`, and each of
//! `upstreams`): the checks of the section ([`UpstreamSettings::problems`], run
//! by `check-config` and at start-up), passwords from the config or their
//! files, and the TLS client configuration.
//!
//! Each control connection gets a TLS client of its own (the trusted roots are
//! shared), so its session cache holds only its own sessions: a data
//! connection's handshake resumes *that control connection's* session, which
//! servers such as vsftpd with `require_ssl_reuse=YES` demand — vsftpd runs a
//! process per session, and a ticket from another control connection (as a
//! shared cache would offer under concurrency) is not resumed there, so its
//! data connection was refused.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use suppaftp::Encoding as _;
use suppaftp::tokio::AsyncRustlsConnector;

use super::learned::Learned;
use super::pool::Features;
use crate::auth::Password;
use crate::config::{
    DataMode, ListMode, UpstreamCredentials, UpstreamEncoding, UpstreamFtpConfig, UpstreamServerConfig, UpstreamTls,
};

/// One upstream, as the pools need it once the section is checked: where it
/// is, how to talk to it, and the section's shared limits.
#[derive(Clone)]
pub struct UpstreamSettings {
    /// Its name (`default` for the section's own).
    pub name: String,
    /// Host name or address.
    pub host: String,
    /// Control port.
    pub port: u16,
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
    /// How names are spelt on the wire.
    pub encoding: UpstreamEncoding,
    /// Uploads through a temporary name.
    pub atomic_uploads: bool,
    /// A temporary upload listed as older than this is deleted (see `sweep`).
    pub stale_uploads_after: Duration,
    /// Pool size (per upstream account).
    pub max_connections: usize,
    /// Idle connections are closed after this.
    pub idle_timeout: Duration,
    /// Connect and login limit.
    pub connect_timeout: Duration,
    /// Per-command (and per-read/write) limit.
    pub command_timeout: Duration,
    /// `ftp://host:port/root`, for logs and the banner (no user, no password).
    pub describe: String,
    /// The time shown for the upstream root when nothing better is known (see
    /// `storage::upstream_ftp` on times).
    pub opened_at: std::time::SystemTime,
    /// What the upstream's FEAT said (at the first login of any of its pools).
    pub features: Arc<OnceLock<Features>>,
    /// What it was found to lack by trying.
    pub learned: Arc<Learned>,
    /// The abandoned temporary uploads being deleted now.
    pub sweeping: Arc<super::sweep::Sweeping>,
    /// Held while an upload is published (name check, then rename): FTP has no
    /// "rename unless the target exists", so create-new is made atomic against
    /// the other uploads of this process to this upstream by taking turns.
    pub publish: Arc<tokio::sync::Mutex<()>>,
}

impl std::fmt::Debug for UpstreamSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "UpstreamSettings({}: {})", self.name, self.describe)
    }
}

/// The problems of one upstream's keys under `prefix` (`storage` or
/// `storage.upstreams.NAME`), as `(key, reason)`.
fn server_problems(prefix: &str, c: &UpstreamServerConfig) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let key = |k: &str| format!("{prefix}.{k}");
    if c.host.trim().is_empty() || c.host.contains(['/', ' ', '@']) {
        out.push((key("host"), "must be a host name or address".to_owned()));
    }
    if c.port == 0 {
        out.push((key("port"), "must be a port number (1-65535)".to_owned()));
    }
    if let Some(bad) = root_problem(&c.root) {
        out.push((key("root"), bad));
    }
    if !(1..=1000).contains(&c.max_connections) {
        out.push((key("max_connections"), "must be between 1 and 1000".to_owned()));
    }
    if c.tls == UpstreamTls::None && (c.ca_file.is_some() || c.tls_server_name.is_some()) {
        out.push((
            key("tls"),
            "ca_file and tls_server_name need tls: explicit or implicit".to_owned(),
        ));
    }
    out
}

/// What is wrong with an upstream root directory, if anything.
pub(super) fn root_problem(root: &str) -> Option<String> {
    (!root.starts_with('/') || root.split('/').any(|p| p == "." || p == "..") || root.contains(['\r', '\n']))
        .then(|| "must be an absolute upstream directory such as `/` or `/srv/drop` (no `.` or `..`)".to_owned())
}

/// What is wrong with an upstream account's password keys (`password` and
/// `password_file` under `prefix`), if `required`.
pub(super) fn password_problems(
    prefix: &str,
    password: Option<&Password>,
    password_file: Option<&std::path::Path>,
    required: bool,
) -> Vec<(String, String)> {
    match (password, password_file) {
        (Some(_), Some(_)) => vec![(
            format!("{prefix}.password_file"),
            "give password or password_file, not both".to_owned(),
        )],
        (None, None) if required => vec![(
            format!("{prefix}.password"),
            "give password or password_file (the upstream account's)".to_owned(),
        )],
        (Some(p), None) if p.expose().contains(['\r', '\n']) => {
            vec![(format!("{prefix}.password"), "must be on one line".to_owned())]
        }
        _ => Vec::new(),
    }
}

/// Whether `user` can be sent as an upstream user name.
pub(super) fn valid_upstream_user(user: &str) -> bool {
    !user.is_empty() && !user.chars().any(char::is_control)
}

impl UpstreamSettings {
    /// The problems of a section, as `(key, reason)`; empty when it is usable.
    /// (What needs the `users:` too is in [`super::routing::problems`].)
    pub fn problems(c: &UpstreamFtpConfig) -> Vec<(String, String)> {
        let mut out = server_problems("storage", &c.default_server());
        for (name, server) in &c.upstreams {
            if name == super::routing::DEFAULT_UPSTREAM
                || name.is_empty()
                || !name.chars().all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch))
            {
                out.push((
                    format!("storage.upstreams.{name}"),
                    "an upstream's name is letters, digits, `-`, `_` and `.`, and not `default` (the section's own)"
                        .to_owned(),
                ));
            }
            out.extend(server_problems(&format!("storage.upstreams.{name}"), server));
        }
        let service = c.credentials == UpstreamCredentials::Static;
        match &c.user {
            Some(u) if !valid_upstream_user(u) => {
                out.push((
                    "storage.user".to_owned(),
                    "must be a non-empty user name on one line".to_owned(),
                ));
            }
            None if service => out.push((
                "storage.user".to_owned(),
                "credentials: static needs the service account (user and password)".to_owned(),
            )),
            None if c.password.is_some() || c.password_file.is_some() => out.push((
                "storage.password".to_owned(),
                "a service account password without storage.user".to_owned(),
            )),
            _ => {}
        }
        out.extend(password_problems(
            "storage",
            c.password.as_ref(),
            c.password_file.as_deref(),
            c.user.is_some(),
        ));
        for (key, d) in [
            ("storage.idle_timeout", c.idle_timeout),
            ("storage.connect_timeout", c.connect_timeout),
            ("storage.command_timeout", c.command_timeout),
            ("storage.login_cache", c.login_cache),
        ] {
            if d.0.is_zero() {
                out.push((key.to_owned(), "must be longer than zero".to_owned()));
            }
        }
        if !(1..=100_000).contains(&c.max_pools) {
            out.push((
                "storage.max_pools".to_owned(),
                "must be between 1 and 100000".to_owned(),
            ));
        }
        out
    }

    /// Every upstream of a checked section, by name, with what it points to
    /// read (CA files).
    pub fn all_from_config(c: &UpstreamFtpConfig) -> Result<Vec<UpstreamSettings>, String> {
        if let Some((key, reason)) = Self::problems(c).first() {
            return Err(format!("{key}: {reason}"));
        }
        let opened_at = std::time::SystemTime::now();
        let mut out = vec![Self::from_server(
            c,
            super::routing::DEFAULT_UPSTREAM,
            &c.default_server(),
            opened_at,
        )?];
        for (name, server) in &c.upstreams {
            out.push(Self::from_server(c, name, server, opened_at)?);
        }
        Ok(out)
    }

    fn from_server(
        c: &UpstreamFtpConfig,
        name: &str,
        s: &UpstreamServerConfig,
        opened_at: std::time::SystemTime,
    ) -> Result<UpstreamSettings, String> {
        let roots = match s.tls {
            UpstreamTls::None => None,
            UpstreamTls::Explicit | UpstreamTls::Implicit => Some(Arc::new(trusted_roots(s.ca_file.as_deref())?)),
        };
        let host = s.host.trim().to_owned();
        Ok(UpstreamSettings {
            name: name.to_owned(),
            describe: format!("ftp://{host}:{}{}", s.port, s.root),
            port: s.port,
            root: s.root.trim_end_matches('/').to_owned(),
            tls: s.tls,
            roots,
            server_name: s.tls_server_name.clone().unwrap_or_else(|| host.clone()),
            host,
            data_mode: s.data_mode,
            nat_workaround: s.passive_nat_workaround,
            list: s.list,
            encoding: s.encoding,
            atomic_uploads: c.atomic_uploads,
            stale_uploads_after: c.stale_uploads_after.0,
            max_connections: s.max_connections as usize,
            idle_timeout: c.idle_timeout.0,
            connect_timeout: c.connect_timeout.0,
            command_timeout: c.command_timeout.0,
            opened_at,
            features: Arc::default(),
            learned: Arc::default(),
            sweeping: Arc::default(),
            publish: Arc::default(),
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

impl UpstreamSettings {
    /// A name (or listing line) as the upstream sent it, decoded per `encoding`.
    pub fn decode<'a>(&self, bytes: &'a [u8]) -> std::borrow::Cow<'a, str> {
        match self.encoding {
            UpstreamEncoding::Utf8 => String::from_utf8_lossy(bytes),
            UpstreamEncoding::Latin1 => Latin1.decode(bytes).into(),
        }
    }
}

/// ISO-8859-1 for suppaftp, which then encodes every command line (paths
/// included) and decodes the MLST and PWD replies with it: each byte is the
/// character of the same value. A character beyond U+00FF fails the command
/// before anything is sent ([`std::io::ErrorKind::InvalidInput`]).
#[derive(Debug, Clone, Copy)]
pub struct Latin1;

impl suppaftp::Encoding for Latin1 {
    fn decode(&self, bytes: &[u8]) -> String {
        bytes.iter().map(|&b| char::from(b)).collect()
    }

    fn encode(&self, text: &str) -> std::io::Result<Vec<u8>> {
        text.chars()
            .map(|c| {
                u8::try_from(u32::from(c)).map_err(|_| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidInput,
                        format!("{c:?} cannot be spelt in Latin-1 (storage encoding: latin1)"),
                    )
                })
            })
            .collect()
    }
}

/// Reads an account's password from the config or its file.
pub(super) fn read_password(
    key: &str,
    password: Option<&Password>,
    password_file: Option<&std::path::Path>,
) -> Result<Password, String> {
    match (password, password_file) {
        (Some(p), _) => Ok(p.clone()),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path).map_err(|e| format!("{key}_file {}: {e}", path.display()))?;
            let v = text.trim();
            if v.is_empty() || v.contains(['\r', '\n']) {
                return Err(format!("{key}_file {}: must hold one non-empty line", path.display()));
            }
            Ok(Password::new(v.to_owned()))
        }
        (None, None) => Err(format!("{key}: missing")),
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
