//! Users, permissions and password verification — one implementation for both
//! protocols.
//!
//! Passwords are argon2id PHC strings (from `dualgate hash-password`). Checking one
//! costs tens of milliseconds of CPU, and legacy clients often log in once per file,
//! so successful checks are remembered in a [`VerifyCache`]: keyed by a keyed hash of
//! user and password (never the password), bounded, expiring, cleared when the user
//! list changes. A wrong password always pays the full check; an unknown user is
//! checked against a dummy hash so that both take the same time and get the same
//! reply.
//!
//! An argon2id check also takes 19 MiB of memory, so at most one check per core
//! runs at a time ([`UserDb::verify`] queues the rest): a burst of logins (200
//! scanners reconnecting after a restart, or a password-guessing flood) costs a
//! queue, not gigabytes. Logins with the same credentials as a check under way
//! wait for its outcome ([`in_flight`]), so a burst with one account pays for
//! one check and takes one place in the queue, not hundreds.
//! The checks' memory is allocated once per slot and reused: freed and allocated
//! again for every check, the allocator kept it in per-thread arenas and a flood
//! of wrong passwords grew the server to 840 MiB.

mod cache;
pub mod certificate;
mod credentials;
mod in_flight;
pub mod throttle;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use argon2::password_hash::phc::{Output, PasswordHash};
use argon2::password_hash::{PasswordHasher, phc};
use argon2::{Algorithm, Argon2, Block, Params, Version};

use crate::path::VirtualPath;
use cache::CacheKey;
pub use cache::VerifyCache;
pub use certificate::{CertificateLogin, ClientCertificate, SubjectName};
pub use credentials::{Credentials, Password};
pub use throttle::{LoginThrottle, Penalty, ThrottlePolicy};

/// One permission a user can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Permission {
    /// Read files and list directories.
    Read,
    /// Create and overwrite files.
    Write,
    /// Delete files and remove directories.
    Delete,
    /// Create directories.
    Mkdir,
    /// Rename and move.
    Rename,
}

/// A set of permissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Permissions(u8);

impl Permissions {
    /// Every permission.
    pub const ALL: Permissions = Permissions(0b11111);
    /// Read only.
    pub const READ_ONLY: Permissions = Permissions(0b00001);

    fn bit(p: Permission) -> u8 {
        match p {
            Permission::Read => 1,
            Permission::Write => 2,
            Permission::Delete => 4,
            Permission::Mkdir => 8,
            Permission::Rename => 16,
        }
    }

    /// True when `p` is held.
    pub fn allows(self, p: Permission) -> bool {
        self.0 & Self::bit(p) != 0
    }
}

impl FromIterator<Permission> for Permissions {
    fn from_iter<I: IntoIterator<Item = Permission>>(iter: I) -> Self {
        Permissions(iter.into_iter().fold(0, |acc, p| acc | Self::bit(p)))
    }
}

/// A user as the pipeline sees it once logged in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The login name.
    pub name: String,
    /// The user's root inside the storage root.
    pub home: VirtualPath,
    /// What the user may do.
    pub permissions: Permissions,
    /// True for the anonymous user.
    pub anonymous: bool,
    /// The client certificate this user must present, if bound to one.
    pub certificate: Option<CertificateLogin>,
    /// The account a pass-through back-end logs in with for this user; `None`:
    /// the back-end's own (local disk, S3, an upstream's service account).
    pub account: Option<Arc<BackendAccount>>,
}

/// A user's own account on an upstream server (`credentials: passthrough` or
/// `map`): the identity its storage connections log in as.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BackendAccount {
    /// The upstream's name.
    pub upstream: String,
    /// The upstream user.
    pub user: String,
    /// Its password (the client's, or the configured one).
    pub password: Password,
    /// The upstream directory that is this user's `/`; `None`: the upstream's root.
    pub root: Option<String>,
}

/// The login could not be checked: not the client's fault, and not a failed guess.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CheckUnavailable {
    /// An upstream that checks passwords did not answer.
    #[error("the login could not be checked: {0}")]
    Upstream(String),
    /// [`MAX_QUEUED_CHECKS`] password checks are already waiting.
    #[error("too many password checks waiting")]
    Busy,
}

/// Password checks that may wait for a slot at once, per core: a flood of
/// first-time logins beyond it is refused at once ("try again later") instead of
/// making every later login, a legitimate first one included, wait behind it. At
/// about 50 ms per check, a full queue is a few seconds of work.
pub const MAX_QUEUED_CHECKS: usize = 64;

/// A configured account: the user and the PHC string of its password.
#[derive(Debug, Clone)]
pub struct Account {
    /// The user.
    pub user: Arc<User>,
    /// argon2id PHC string.
    pub password_hash: String,
}

/// The user database: accounts by name plus the optional anonymous user.
#[derive(Debug)]
pub struct UserDb {
    accounts: HashMap<String, Account>,
    anonymous: Option<Arc<User>>,
    dummy_hash: String,
    cache: VerifyCache,
    /// One permit per concurrent argon2 check.
    hash_slots: tokio::sync::Semaphore,
    /// Checks waiting for a slot or running; at most [`MAX_QUEUED_CHECKS`] per slot.
    queued: std::sync::atomic::AtomicUsize,
    /// The checks under way, which logins with the same credentials wait for.
    in_flight: in_flight::InFlightChecks,
    /// argon2 working memory, one set per slot, reused between checks.
    hash_memory: Mutex<Vec<Vec<Block>>>,
    /// argon2 checks run so far (cache misses).
    hash_checks: AtomicU64,
}

/// The user database in force, replaced whole when the configuration is reloaded
/// (SIGHUP). A replacement starts with an empty verification cache; sessions
/// logged in before it keep their user until they log out.
#[derive(Debug)]
pub struct UserStore(RwLock<Arc<UserDb>>);

impl UserStore {
    /// A store holding `db`.
    pub fn new(db: UserDb) -> Self {
        UserStore(RwLock::new(Arc::new(db)))
    }

    /// The database in force now.
    pub fn current(&self) -> Arc<UserDb> {
        // A poisoned lock still holds a complete Arc: replacing it cannot half-fail.
        self.0.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Puts `db` in force for every login from now on.
    pub fn replace(&self, db: UserDb) {
        *self.0.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(db);
    }
}

/// Who may log in: the one interface the login path uses, whatever checks the
/// credentials (the local argon2 user file today; an upstream server's own login
/// for pass-through back-ends).
#[async_trait::async_trait]
pub trait Authenticator: Send + Sync + 'static {
    /// The user these credentials log in as, or `None` (an unknown user and a wrong
    /// password alike); an error when they could not be checked.
    async fn authenticate(&self, creds: &Credentials) -> Result<Option<Arc<User>>, CheckUnavailable>;
    /// The anonymous user, if anonymous access is enabled.
    fn anonymous(&self) -> Option<Arc<User>>;
    /// The user a verified client certificate logs in without a password: the
    /// one named `name` (FTP `USER`), or for `None` the one bound to its subject
    /// (an HTTP request without `Authorization`).
    fn by_certificate(&self, _name: Option<&str>, _cert: &ClientCertificate) -> Option<Arc<User>> {
        None
    }
}

#[async_trait::async_trait]
impl Authenticator for UserStore {
    async fn authenticate(&self, creds: &Credentials) -> Result<Option<Arc<User>>, CheckUnavailable> {
        self.current().check(creds).await
    }

    fn anonymous(&self) -> Option<Arc<User>> {
        self.current().anonymous()
    }

    fn by_certificate(&self, name: Option<&str>, cert: &ClientCertificate) -> Option<Arc<User>> {
        self.current().by_certificate(name, cert)
    }
}

/// Names that log in anonymously when anonymous access is enabled, in any case
/// (`USER ANONYMOUS`, `USER Ftp`), as vsftpd and ProFTPD take them.
pub const ANONYMOUS_NAMES: [&str; 2] = ["anonymous", "ftp"];

/// Whether `name` is one of the [`ANONYMOUS_NAMES`], compared without regard to
/// ASCII case. A configured account of exactly that name still comes first
/// (see [`UserDb::verify`]).
pub fn is_anonymous_name(name: &str) -> bool {
    ANONYMOUS_NAMES.iter().any(|a| a.eq_ignore_ascii_case(name))
}

impl UserDb {
    /// Builds the database. `anonymous` is the read-only anonymous user, if enabled.
    pub fn new(accounts: Vec<Account>, anonymous: Option<User>) -> Self {
        UserDb {
            accounts: accounts.into_iter().map(|a| (a.user.name.clone(), a)).collect(),
            anonymous: anonymous.map(Arc::new),
            // Verified against when the user is unknown, so that both cases cost the same.
            dummy_hash: hash_password("dualgate-dummy-password").unwrap_or_default(),
            cache: VerifyCache::new(4096, std::time::Duration::from_secs(300)),
            hash_slots: tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(1, |n| n.get())),
            queued: std::sync::atomic::AtomicUsize::new(0),
            in_flight: in_flight::InFlightChecks::default(),
            hash_checks: AtomicU64::new(0),
            hash_memory: Mutex::new(Vec::new()),
        }
    }

    /// How many argon2 checks have run (logins the cache did not answer).
    pub fn hash_checks(&self) -> u64 {
        self.hash_checks.load(Ordering::Relaxed)
    }

    /// How many accounts there are (the generated one included).
    pub fn len(&self) -> usize {
        self.accounts.len()
    }

    /// True when there are no accounts.
    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
    }

    /// The anonymous user, if enabled.
    pub fn anonymous(&self) -> Option<Arc<User>> {
        self.anonymous.clone()
    }

    /// See [`Authenticator::by_certificate`]: an account bound to the
    /// certificate's subject without `password`.
    pub fn by_certificate(&self, name: Option<&str>, cert: &ClientCertificate) -> Option<Arc<User>> {
        let password_free = |a: &&Account| {
            a.user
                .certificate
                .as_ref()
                .is_some_and(|c| !c.password && c.accepts(Some(cert)))
        };
        match name {
            Some(name) => self.accounts.get(name).filter(password_free),
            // Subjects are unique among accounts (checked when the config loads).
            None => self.accounts.values().find(password_free),
        }
        .map(|a| a.user.clone())
    }

    /// The configured user of this name, unchecked (for back-ends that check
    /// passwords themselves and take only the home and permissions from here).
    pub fn user(&self, name: &str) -> Option<Arc<User>> {
        self.accounts.get(name).map(|a| a.user.clone())
    }

    /// Checks credentials; `None` for an unknown user or a wrong password alike.
    /// Runs the hash on the blocking pool, at most one per core at a time.
    pub async fn verify(self: &Arc<Self>, creds: &Credentials) -> Option<Arc<User>> {
        self.check(creds).await.ok().flatten()
    }

    /// [`UserDb::verify`], or `Busy` when the queue of checks is full (a
    /// cached login is answered even then).
    pub async fn check(self: &Arc<Self>, creds: &Credentials) -> Result<Option<Arc<User>>, CheckUnavailable> {
        // An account named exactly so is a real user, not the anonymous one.
        if let Some(anon) = &self.anonymous
            && is_anonymous_name(&creds.user)
            && !self.accounts.contains_key(&creds.user)
        {
            return Ok(Some(anon.clone()));
        }
        let key = self.cache.key(&creds.user, creds.password.expose());
        loop {
            if let Some(user) = self.cache.get(&key) {
                return Ok(Some(user));
            }
            match self.in_flight.turn(key) {
                in_flight::Turn::Lead(leading) => {
                    let outcome = self.check_uncached(creds, key).await;
                    leading.finish(&outcome);
                    return outcome;
                }
                in_flight::Turn::Follow(waiting) => {
                    if let Some(outcome) = waiting.outcome().await {
                        return outcome;
                    }
                    // That check was abandoned: again.
                }
            }
        }
    }

    /// The argon2 check of `creds`, queued for a slot.
    async fn check_uncached(
        self: &Arc<Self>,
        creds: &Credentials,
        key: CacheKey,
    ) -> Result<Option<Arc<User>>, CheckUnavailable> {
        let _queued = QueuedCheck::enter(&self.queued, MAX_QUEUED_CHECKS * self.hash_slots_total())
            .ok_or(CheckUnavailable::Busy)?;
        // The semaphore is never closed; an error would only mean "no queue".
        let _slot = self.hash_slots.acquire().await.ok();
        // A login with the same credentials may have been verified while this one
        // waited for its turn.
        if let Some(user) = self.cache.get(&key) {
            return Ok(Some(user));
        }
        self.hash_checks.fetch_add(1, Ordering::Relaxed);
        let this = self.clone();
        let creds = creds.clone();
        let user = tokio::task::spawn_blocking(move || this.verify_blocking(&creds))
            .await
            .ok()
            .flatten();
        if let Some(user) = &user {
            self.cache.insert(key, user.clone());
        }
        Ok(user)
    }

    fn hash_slots_total(&self) -> usize {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }

    fn verify_blocking(&self, creds: &Credentials) -> Option<Arc<User>> {
        let account = self.accounts.get(&creds.user);
        let hash = account.map_or(self.dummy_hash.as_str(), |a| a.password_hash.as_str());
        // A slot's memory (at most one set per semaphore permit exists).
        let mut memory = self
            .hash_memory
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop()
            .unwrap_or_default();
        let ok = verify_password_in(creds.password.expose(), hash, &mut memory);
        self.hash_memory
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(memory);
        match (account, ok) {
            (Some(a), true) => Some(a.user.clone()),
            _ => None,
        }
    }
}

/// Hashes a password into an argon2id PHC string with a random salt and the
/// crate's default (OWASP) parameters.
pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    Ok(argon2::Argon2::default()
        .hash_password(password.as_bytes())?
        .to_string())
}

/// Checks a PHC string's syntax (for config validation).
pub fn is_valid_hash(phc: &str) -> bool {
    PasswordHash::new(phc).is_ok() && phc.starts_with("$argon2")
}

/// Verifies `password` against a PHC string with `memory` as argon2's working
/// memory (grown to the hash's cost if needed, and left allocated for the next
/// check). The comparison of the outputs is constant-time.
pub fn verify_password_in(password: &str, phc: &str, memory: &mut Vec<Block>) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return false;
    };
    let (Ok(params), Ok(algorithm)) = (Params::try_from(&parsed), Algorithm::new(parsed.algorithm.as_str())) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from).transpose() {
        Ok(v) => v.unwrap_or_default(),
        Err(_) => return false,
    };
    let blocks = params.block_count();
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    let mut buffer = [0u8; phc::Output::MAX_LENGTH];
    let Some(out) = buffer.get_mut(..expected.len()) else {
        return false;
    };
    let hashed = Argon2::new(algorithm, version, params).hash_password_into_with_memory(
        password.as_bytes(),
        salt,
        out,
        &mut memory[..blocks],
    );
    // `Output`'s equality is constant-time.
    hashed.is_ok() && Output::new(out).is_ok_and(|computed| computed == *expected)
}

/// A place in the queue of password checks, given back when dropped.
struct QueuedCheck<'a>(&'a std::sync::atomic::AtomicUsize);

impl<'a> QueuedCheck<'a> {
    /// A place, unless `limit` are taken.
    fn enter(count: &'a std::sync::atomic::AtomicUsize, limit: usize) -> Option<QueuedCheck<'a>> {
        count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < limit).then_some(n + 1))
            .ok()
            .map(|_| QueuedCheck(count))
    }
}

impl Drop for QueuedCheck<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    fn db() -> Arc<UserDb> {
        let alice = Account {
            user: Arc::new(User {
                name: "alice".into(),
                home: VirtualPath::parse_absolute("/alice").unwrap(),
                permissions: Permissions::ALL,
                anonymous: false,
                certificate: None,
                account: None,
            }),
            password_hash: hash_password("s3cret").unwrap(),
        };
        Arc::new(UserDb::new(vec![alice], None))
    }

    fn creds(u: &str, p: &str) -> Credentials {
        Credentials {
            user: u.into(),
            password: Password::new(p.into()),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_burst_with_one_account_runs_one_check_and_refuses_none() {
        let db = db();
        // More logins at once than the queue of checks has places.
        let burst = MAX_QUEUED_CHECKS * db.hash_slots_total() + 100;
        for (password, expected) in [("s3cret", true), ("wrong", false)] {
            let checks = db.hash_checks();
            let logins: Vec<_> = (0..burst)
                .map(|_| {
                    let db = db.clone();
                    tokio::spawn(async move { db.check(&creds("alice", password)).await })
                })
                .collect();
            for login in logins {
                let outcome = login.await.unwrap();
                assert!(
                    matches!(&outcome, Ok(user) if user.is_some() == expected),
                    "{password}: {:?}",
                    outcome.map(|u| u.is_some())
                );
            }
            assert_eq!(
                db.hash_checks() - checks,
                1,
                "{password}: one argon2 check for the burst"
            );
            assert_eq!(db.in_flight.len(), 0);
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_login_waiting_for_an_abandoned_check_checks_itself() {
        let db = db();
        // Every slot taken: the leader's check waits.
        let slots = db.hash_slots.acquire_many(db.hash_slots_total() as u32).await.unwrap();
        let leader = tokio::spawn({
            let db = db.clone();
            async move { db.check(&creds("alice", "s3cret")).await }
        });
        while db.in_flight.len() == 0 {
            tokio::task::yield_now().await;
        }
        let follower = tokio::spawn({
            let db = db.clone();
            async move { db.check(&creds("alice", "s3cret")).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        leader.abort();
        assert!(leader.await.unwrap_err().is_cancelled());
        drop(slots);
        let user = tokio::time::timeout(std::time::Duration::from_secs(30), follower)
            .await
            .unwrap() // the follower ends
            .unwrap()
            .unwrap();
        assert_eq!(user.unwrap().name, "alice");
        assert_eq!(db.hash_checks(), 1, "the abandoned check never ran");
        assert_eq!(db.in_flight.len(), 0);
    }

    #[tokio::test]
    async fn a_full_queue_of_checks_refuses_at_once_but_answers_cached_logins() {
        let db = db();
        assert!(db.verify(&creds("alice", "s3cret")).await.is_some()); // cached now
        let limit = MAX_QUEUED_CHECKS * db.hash_slots_total();
        db.queued.store(limit, Ordering::SeqCst);
        let checks = db.hash_checks();
        assert!(matches!(
            db.check(&creds("alice", "other")).await,
            Err(CheckUnavailable::Busy)
        ));
        assert!(matches!(
            db.check(&creds("nobody", "x")).await,
            Err(CheckUnavailable::Busy)
        ));
        assert_eq!(db.hash_checks(), checks, "a refused login ran no check");
        assert_eq!(
            db.check(&creds("alice", "s3cret")).await.unwrap().unwrap().name,
            "alice"
        );
        db.queued.store(limit - 1, Ordering::SeqCst);
        assert!(
            db.check(&creds("alice", "other")).await.unwrap().is_none(),
            "a place freed: checked"
        );
        assert_eq!(db.queued.load(Ordering::SeqCst), limit - 1, "its place given back");
    }

    #[tokio::test]
    async fn verifies_and_caches_only_successes() {
        let db = db();
        assert!(db.verify(&creds("alice", "wrong")).await.is_none());
        assert!(db.verify(&creds("bob", "s3cret")).await.is_none());
        assert_eq!(db.cache.len(), 0);
        assert_eq!(db.verify(&creds("alice", "s3cret")).await.unwrap().name, "alice");
        assert_eq!(db.cache.len(), 1);
        // Cached now; a wrong password still fails.
        assert!(db.verify(&creds("alice", "s3cret")).await.is_some());
        assert!(db.verify(&creds("alice", "s3cret ")).await.is_none());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_burst_of_logins_with_the_same_credentials_pays_for_one_check() {
        let db = db();
        let logins: Vec<_> = (0..32)
            .map(|_| {
                let db = db.clone();
                tokio::spawn(async move { db.verify(&creds("alice", "s3cret")).await.is_some() })
            })
            .collect();
        for login in logins {
            assert!(login.await.unwrap());
        }
        let slots = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
        // At most the checks that started together before the first one finished.
        assert!(db.hash_checks() <= slots, "{} checks for 32 logins", db.hash_checks());
        // Wrong passwords are never answered from the cache.
        let before = db.hash_checks();
        for _ in 0..3 {
            assert!(db.verify(&creds("alice", "guess")).await.is_none());
        }
        assert_eq!(db.hash_checks(), before + 3);
    }

    #[test]
    fn reused_memory_verifies_like_the_crate() {
        let phc = hash_password("correct horse").unwrap();
        let mut memory = Vec::new();
        for _ in 0..2 {
            assert!(verify_password_in("correct horse", &phc, &mut memory));
            assert!(!verify_password_in("correct horse!", &phc, &mut memory));
        }
        assert_eq!(
            memory.len(),
            Params::DEFAULT_M_COST as usize,
            "one KiB block per KiB of m_cost"
        );
        // Other parameters in the PHC string are honoured.
        let light = argon2::Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(1024, 1, 1, None).unwrap(),
        )
        .hash_password(b"pw")
        .unwrap()
        .to_string();
        assert!(verify_password_in("pw", &light, &mut memory));
        assert!(!verify_password_in(
            "pw",
            "$argon2id$v=19$m=1024,t=1,p=1$bad",
            &mut memory
        ));
        assert!(!verify_password_in("pw", "not a phc string", &mut memory));
    }

    #[tokio::test]
    async fn anonymous_names_in_any_case_but_an_account_of_that_name_comes_first() {
        let account = |name: &str| Account {
            user: Arc::new(User {
                name: name.into(),
                home: VirtualPath::root(),
                permissions: Permissions::ALL,
                anonymous: false,
                certificate: None,
                account: None,
            }),
            password_hash: hash_password("pw").unwrap(),
        };
        let anon = User {
            name: "anonymous".into(),
            home: VirtualPath::parse_absolute("/pub").unwrap(),
            permissions: Permissions::READ_ONLY,
            anonymous: true,
            certificate: None,
            account: None,
        };
        let db = Arc::new(UserDb::new(vec![account("Ftp")], Some(anon)));
        for name in ["anonymous", "ANONYMOUS", "Anonymous", "ftp", "FTP", "fTp"] {
            let user = db.verify(&creds(name, "guest@example.com")).await;
            assert!(user.is_some_and(|u| u.anonymous), "{name}");
        }
        // "Ftp" is an account: its own password, and nothing else, logs it in.
        assert!(db.verify(&creds("Ftp", "guest@example.com")).await.is_none());
        assert!(db.verify(&creds("Ftp", "pw")).await.is_some_and(|u| !u.anonymous));
        assert!(!is_anonymous_name("anonymous1") && !is_anonymous_name("ftpx") && !is_anonymous_name(""));
        // Without anonymous access, the names are nobody.
        let closed = Arc::new(UserDb::new(Vec::new(), None));
        assert!(closed.verify(&creds("ANONYMOUS", "x")).await.is_none());
    }

    #[test]
    fn permissions_and_hash_syntax() {
        let p: Permissions = [Permission::Read, Permission::Mkdir].into_iter().collect();
        assert!(p.allows(Permission::Read) && p.allows(Permission::Mkdir));
        assert!(!p.allows(Permission::Write));
        assert!(is_valid_hash(&hash_password("x").unwrap()));
        assert!(!is_valid_hash("plaintext"));
    }
}
