//! The per-connection session: who is logged in, where they are, where they came
//! from. Owned by the connection task and lent to each command record (`&mut`), so
//! no lock is ever taken on it.
//!
//! An FTP session lives as long as its control connection; an HTTP "session" lives
//! for one request (HTTP is stateless; credentials come with every request).

use std::net::SocketAddr;
use std::sync::Arc;

use crate::auth::{ClientCertificate, User};
use crate::command::Protocol;
use crate::path::VirtualPath;
use crate::storage::Storage;

/// One client session.
pub struct Session {
    /// Unique within the process, for logs.
    pub id: u64,
    /// The protocol.
    pub protocol: Protocol,
    /// The client's address.
    pub peer: SocketAddr,
    /// The local address the client connected to.
    pub local: SocketAddr,
    /// Whether the control connection (FTP) or request (HTTP) is under TLS.
    pub tls: bool,
    /// The verified certificate the client presented in that TLS handshake.
    pub client_certificate: Option<Arc<ClientCertificate>>,
    /// The logged-in user.
    pub user: Option<Arc<User>>,
    /// The user's volume: the back-end rooted at their home. Every path of the
    /// session is resolved beneath it.
    pub volume: Option<Arc<dyn Storage>>,
    /// The name given with FTP `USER`, until `PASS` settles it.
    pub pending_user: Option<String>,
    /// The working directory, relative to the user's root.
    pub cwd: VirtualPath,
    /// The source named by FTP `RNFR`, until `RNTO`.
    pub rename_from: Option<VirtualPath>,
    /// Commands seen so far (the id of the latest).
    pub commands: u64,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id)
            .field("protocol", &self.protocol)
            .field("peer", &self.peer)
            .field("user", &self.user.as_ref().map(|u| &u.name))
            .field("volume", &self.volume.as_ref().map(|v| v.name()))
            .field("cwd", &self.cwd)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// A fresh, anonymous-until-login session.
    pub fn new(protocol: Protocol, peer: SocketAddr, local: SocketAddr) -> Self {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        Session {
            id: NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            protocol,
            peer,
            local,
            tls: false,
            client_certificate: None,
            user: None,
            volume: None,
            pending_user: None,
            cwd: VirtualPath::root(),
            rename_from: None,
            commands: 0,
        }
    }

    /// A path in the user's view as the back-end names it from its root (for the
    /// transfer log, which names files as the server stores them).
    pub fn backend_path(&self, path: &VirtualPath) -> VirtualPath {
        match &self.user {
            Some(u) => u.home.nest(path),
            None => path.clone(),
        }
    }

    /// Drops the login (FTP `REIN`, a failed `PASS`).
    pub fn logout(&mut self) {
        self.user = None;
        self.volume = None;
        self.pending_user = None;
        self.cwd = VirtualPath::root();
        self.rename_from = None;
    }
}
