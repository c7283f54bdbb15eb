//! Volumes: attaching a logged-in identity to the back-end, once per home.
//!
//! [`Volumes::attach`] gives a session its volume: the back-end's own (measured
//! by [`metered`](super::metered)) wrapped so that writers claim their file
//! ([`exclusive`](super::exclusive)). Volumes are kept per home, so the logins of
//! a busy user — or HTTP's login with every request — do not open the home again
//! each time. The kept volumes are forgotten when the users are reloaded
//! (SIGHUP): a home the administrator moved or replaced is then opened afresh;
//! until then sessions keep the directory they were attached to.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use super::exclusive::{Exclusive, WriterTable};
use super::metered::Metered;
use super::{Backend, Capabilities, Storage, StorageError};
use crate::auth::User;
use crate::path::VirtualPath;

/// Most volumes kept at once (one per distinct home); past it, the oldest set is
/// dropped whole rather than tracked one by one.
const MAX_KEPT: usize = 4096;

/// The back-end in force and the volumes attached to it.
pub struct Volumes {
    backend: Arc<dyn Backend>,
    kept: RwLock<HashMap<VirtualPath, Arc<dyn Storage>>>,
    writers: Arc<WriterTable>,
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
            kept: RwLock::new(HashMap::new()),
            writers: Arc::new(WriterTable::default()),
        }
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
        if let Some(v) = self
            .kept
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&user.home)
        {
            return Ok(v.clone());
        }
        let inner = self.backend.attach(user).await?;
        let volume: Arc<dyn Storage> = Arc::new(Exclusive::new(inner, user.home.clone(), self.writers.clone()));
        let mut kept = self.kept.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        if kept.len() >= MAX_KEPT {
            kept.clear();
        }
        Ok(kept.entry(user.home.clone()).or_insert(volume).clone())
    }

    /// Forgets the kept volumes (the users were reloaded).
    pub fn forget(&self) {
        self.kept
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
    }
}
