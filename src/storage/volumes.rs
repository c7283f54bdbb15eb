//! Volumes: attaching a logged-in identity to the back-end, once per home (and
//! upstream account, for the upstream back-end's per-user credentials).
//!
//! [`Volumes::attach`] gives a session its volume: the back-end's own (measured
//! by [`metered`](super::metered)) wrapped so that writers claim their file
//! ([`exclusive`](super::exclusive)). Volumes are kept per home, so the logins of
//! a busy user — or HTTP's login with every request — do not open the home again
//! each time. A kept volume is forgotten when a user of this server renames or
//! removes its home (or a directory above it), and all are forgotten when the
//! users are reloaded (SIGHUP). A home moved or replaced behind the server's back
//! (on disk, by another process) is noticed at the next reload: until then new
//! logins get the directory that was attached, wherever it now is.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use super::exclusive::{Exclusive, WriterTable};
use super::metered::Metered;
use super::open_files::OpenFiles;
use super::{Backend, Capabilities, Storage, StorageError};
use crate::auth::{BackendAccount, User};
use crate::path::VirtualPath;

/// Most volumes kept at once (one per distinct home); past it, the oldest set is
/// dropped whole rather than tracked one by one.
const MAX_KEPT: usize = 4096;

/// The back-end in force and the volumes attached to it.
pub struct Volumes {
    backend: Arc<dyn Backend>,
    kept: Arc<Kept>,
    writers: Arc<WriterTable>,
    /// The open-file cache of zero-copy (local) volumes; `None`: off.
    open_files: Option<Arc<OpenFiles>>,
}

/// What a kept volume is for: a home, and the account a pass-through back-end
/// logs in with for it (`None`: the back-end's own).
type KeptKey = (VirtualPath, Option<Arc<BackendAccount>>);

/// The volumes kept, by home and account.
#[derive(Default)]
pub struct Kept(RwLock<HashMap<KeptKey, Arc<dyn Storage>>>);

impl Kept {
    /// Forgets the volumes whose home is `dir` or lies beneath it (a directory
    /// that was renamed or removed).
    pub fn forget_beneath(&self, dir: &VirtualPath) {
        let mut kept = self.0.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        kept.retain(|(home, _), _| !home.starts_with(dir));
    }
}

impl std::fmt::Debug for Volumes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Volumes({})", self.backend.name())
    }
}

impl Volumes {
    /// Volumes of `backend`, measured.
    pub fn new(backend: Arc<dyn Backend>) -> Self {
        Volumes {
            backend: Arc::new(Metered::new(backend)),
            kept: Arc::new(Kept::default()),
            writers: Arc::new(WriterTable::default()),
            open_files: Some({
                let files = Arc::new(OpenFiles::default());
                OpenFiles::sweep_expired(&files);
                files
            }),
        }
    }

    /// The same with no open-file cache (`storage.open_file_cache: false`).
    #[must_use]
    pub fn without_open_files(mut self) -> Self {
        self.open_files = None;
        self
    }

    /// The back-end (measured).
    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }

    /// What the back-end can do.
    pub fn capabilities(&self) -> Capabilities {
        self.backend.capabilities()
    }

    /// The volume of `user`.
    pub async fn attach(&self, user: &User) -> Result<Arc<dyn Storage>, StorageError> {
        let key = (user.home.clone(), user.account.clone());
        if let Some(v) = self
            .kept
            .0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&key)
        {
            return Ok(v.clone());
        }
        let inner = self.backend.attach(user).await?;
        let volume: Arc<dyn Storage> = Arc::new(Exclusive::new(
            inner,
            user.home.clone(),
            self.writers.clone(),
            self.kept.clone(),
            self.open_files.clone(),
        ));
        let mut kept = self.kept.0.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        if kept.len() >= MAX_KEPT {
            kept.clear();
        }
        Ok(kept.entry(key).or_insert(volume).clone())
    }

    /// Forgets the kept volumes (the users were reloaded).
    pub fn forget(&self) {
        self.kept
            .0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;
    use crate::auth::Permissions;

    fn user(home: &str) -> User {
        User {
            name: home.trim_start_matches('/').to_owned(),
            home: VirtualPath::parse_absolute(home).unwrap(),
            permissions: Permissions::ALL,
            anonymous: false,
            certificate: None,
            account: None,
        }
    }

    #[tokio::test]
    async fn a_home_renamed_through_the_server_is_opened_afresh() {
        let dir = tempfile::tempdir().unwrap();
        let backend = Arc::new(super::super::local::LocalBackend::open(dir.path()).unwrap());
        backend
            .create_home(&VirtualPath::parse_absolute("/alice").unwrap())
            .await
            .unwrap();
        let volumes = Volumes::new(backend);
        let alice = user("/alice");
        let first = volumes.attach(&alice).await.unwrap();
        assert!(Arc::ptr_eq(&first, &volumes.attach(&alice).await.unwrap()), "kept");
        // An administrator (home /) moves alice's home away.
        let admin = volumes.attach(&user("/")).await.unwrap();
        let moved = VirtualPath::parse_absolute("/moved").unwrap();
        admin
            .rename(&VirtualPath::parse_absolute("/alice").unwrap(), &moved)
            .await
            .unwrap();
        // Her next login does not land in the moved directory.
        let again = volumes.attach(&alice).await;
        assert!(again.is_err(), "a login attached to the moved home");
    }
}
