//! `credentials: passthrough`: the client's own user and password, checked by
//! logging in to the upstream — the [`Authenticator`] the login path (FTP
//! `USER`/`PASS` and HTTP Basic alike) uses in place of the user file.
//!
//! - The login name is routed ([`Routing`]): to the default upstream, the one
//!   its `map` entry names, or, with `login_hosts`, the one after its `@`. An
//!   `@host` not on the list is refused like a wrong password (the login path
//!   counts it in the throttle and answers 530 / 401), logged and counted in
//!   `dualgate_upstream_logins_refused_total{reason="host"}`.
//! - The check is a real login on a new connection of that account's pool
//!   (within its bound); accepted, the connection stays in the pool for the
//!   session's work, so a login costs no extra connection.
//! - A success is remembered for `login_cache`, keyed as local logins are (a
//!   keyed hash of name and password, [`VerifyCache`]): legacy clients log in
//!   once per file and HTTP once per request, and the upstream (vsftpd through
//!   PAM) may take a while per login. A refusal is never remembered, so a wrong
//!   password always goes to the upstream, and through the throttle.
//! - An upstream that cannot be reached fails the login as unavailable, not as
//!   a failed guess.
//! - `users:` entries (without `password_hash`) give a user's home and
//!   permissions; anyone else the upstream accepts gets home `/` and every
//!   permission (the upstream's own permissions still apply). The cache is
//!   cleared when the users are reloaded.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;

use super::UpstreamFtpBackend;
use super::routing::Routing;
use crate::auth::{
    Authenticator, BackendAccount, CheckUnavailable, Credentials, Permissions, User, UserDb, UserStore, VerifyCache,
    is_anonymous_name,
};
use crate::path::VirtualPath;

/// Logins remembered at once.
const CACHE_ENTRIES: usize = 4096;

/// The pass-through authenticator.
pub struct Passthrough {
    backend: Arc<UpstreamFtpBackend>,
    routing: Routing,
    users: Arc<UserStore>,
    cache: VerifyCache,
    /// The user database the cache was filled under.
    cached_for: Mutex<Option<Arc<UserDb>>>,
}

impl std::fmt::Debug for Passthrough {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Passthrough({:?})", self.backend)
    }
}

impl Passthrough {
    /// Logins checked by `backend`'s upstreams, routed by `routing`, with the
    /// homes and permissions of `users`, successes remembered for `remember`.
    pub fn new(backend: Arc<UpstreamFtpBackend>, routing: Routing, users: Arc<UserStore>, remember: Duration) -> Self {
        Passthrough {
            backend,
            routing,
            users,
            cache: VerifyCache::new(CACHE_ENTRIES, remember),
            cached_for: Mutex::new(None),
        }
    }

    /// The user database now, the cache cleared if it was replaced (SIGHUP).
    fn current_users(&self) -> Arc<UserDb> {
        let db = self.users.current();
        let mut cached_for = self.cached_for.lock().unwrap_or_else(PoisonError::into_inner);
        if !cached_for.as_ref().is_some_and(|c| Arc::ptr_eq(c, &db)) {
            self.cache.clear();
            *cached_for = Some(db.clone());
        }
        db
    }
}

#[async_trait]
impl Authenticator for Passthrough {
    async fn authenticate(&self, creds: &Credentials) -> Result<Option<Arc<User>>, CheckUnavailable> {
        let db = self.current_users();
        let local = db.user(&creds.user);
        if let Some(anon) = db.anonymous()
            && is_anonymous_name(&creds.user)
            && local.is_none()
        {
            return Ok(Some(anon));
        }
        let key = self.cache.key(&creds.user, creds.password.expose());
        if let Some(user) = self.cache.get(&key) {
            return Ok(Some(user));
        }
        let route = match self.routing.route(&creds.user) {
            Ok(route) => route,
            Err(reason) => {
                tracing::warn!(user = %creds.user, %reason, "pass-through login refused: not an allowed upstream");
                metrics::counter!(crate::metrics::UPSTREAM_LOGINS_REFUSED_TOTAL, "reason" => "host").increment(1);
                return Ok(None);
            }
        };
        // What cannot be sent as one FTP command is no account anywhere.
        if !super::settings::valid_upstream_user(&route.user) || creds.password.expose().contains(['\r', '\n']) {
            return Ok(None);
        }
        let account = BackendAccount {
            upstream: route.upstream,
            user: route.user,
            password: creds.password.clone(),
            root: route.root,
        };
        if !self
            .backend
            .check_login(&account)
            .await
            .map_err(|e| CheckUnavailable::Upstream(e.to_string()))?
        {
            return Ok(None);
        }
        let user = Arc::new(User {
            name: creds.user.clone(),
            home: local.as_ref().map_or_else(VirtualPath::root, |u| u.home.clone()),
            permissions: local.as_ref().map_or(Permissions::ALL, |u| u.permissions),
            anonymous: false,
            // A configured user bound to a client certificate stays bound to it.
            certificate: local.as_ref().and_then(|u| u.certificate.clone()),
            account: Some(Arc::new(account)),
        });
        self.cache.insert(key, user.clone());
        Ok(Some(user))
    }

    fn anonymous(&self) -> Option<Arc<User>> {
        self.users.current().anonymous()
    }
}
