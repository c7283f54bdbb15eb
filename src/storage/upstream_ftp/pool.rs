//! A bounded pool of logged-in control connections to the upstream, for one
//! upstream account.
//!
//! - At most `max_connections` exist at once (a semaphore; waiting for one is
//!   limited by the command timeout, so a saturated upstream gives a clear
//!   "unavailable", never a hang).
//! - A connection is set up fully before use: TLS, login, `TYPE I` (suppaftp
//!   starts in ASCII, which would rewrite line endings), passive mode.
//! - A [`Lease`] goes back to the pool only if the last thing done on it ended
//!   in step: a refusal reply is fine, a timeout, broken socket or a transfer
//!   that was not finished (a ranged read stopped early, a dropped upload) drops
//!   it. Early-stopped transfers close their connection rather than send ABOR:
//!   suppaftp's `abort()` is not cancellation-safe and servers answer ABOR
//!   differently (426 then 226, or 226 alone), while a replacement costs one
//!   connect and login (a few round trips) when the next request needs it.
//! - Idle connections are closed after `idle_timeout` (by the reaper of
//!   [`Pools`](super::pools::Pools)), and one idle for more than [`CHECK_AFTER`]
//!   is checked with NOOP before reuse (the upstream may have closed it with a 421).
//! - A pool is one upstream account's: several pools (per-user credentials)
//!   each have their own bound.
//! - Every idle connection is also looked at, without a round trip, for a
//!   close or reset that already arrived ([`still_open`]): after a network
//!   failure or an upstream restart, the first requests would otherwise each
//!   take a dead connection and fail.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use suppaftp::Mode;
use suppaftp::tokio::AsyncRustlsFtpStream;
use suppaftp::types::FileType;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::errors::{connection_usable, ftp_error, timed_out};
use super::settings::UpstreamSettings;
use crate::auth::Password;
use crate::config::{DataMode, ListMode, UpstreamEncoding, UpstreamTls};
use crate::storage::{ErrorKind, StorageError};

/// One control connection (plain connections use the same type and never upgrade).
pub type Ftp = AsyncRustlsFtpStream;

/// An idle connection older than this is checked with NOOP before it is handed out.
const CHECK_AFTER: Duration = Duration::from_secs(5);

/// What the upstream's FEAT said, once per pool.
#[derive(Debug, Clone, Copy)]
pub struct Features {
    /// MLST/MLSD are used (FEAT or `list: mlsd`).
    pub mlsx: bool,
    /// SIZE is listed.
    pub size: bool,
    /// MDTM is listed.
    pub mdtm: bool,
    /// EPSV is used for data connections.
    pub epsv: bool,
    /// MFMT is listed: modification times can be set.
    pub mfmt: bool,
    /// The MLST line lists the `UNIX.mode` fact (Pure-FTPd, ProFTPD): MLST and
    /// MLSD show permission bits.
    pub unix_mode: bool,
}

struct Idle {
    ftp: Ftp,
    since: Instant,
}

/// The pool of one upstream account (host, port and user): what
/// [`Pools`](super::pools::Pools) keeps.
pub struct Pool {
    settings: Arc<UpstreamSettings>,
    user: String,
    /// The password new connections log in with: the last one the upstream
    /// accepted (a pass-through user's may change).
    password: Mutex<Password>,
    permits: Arc<Semaphore>,
    idle: Mutex<Vec<Idle>>,
    /// When the pool was last handed out or a connection came back to it.
    last_used: Mutex<Instant>,
}

/// How a login check ended ([`Pool::check_login`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginCheck {
    /// The upstream accepted the password.
    Accepted,
    /// It refused it (530).
    Refused,
}

impl Pool {
    /// An empty pool for `user` on the upstream of `settings`.
    pub fn new(settings: Arc<UpstreamSettings>, user: &str, password: Password) -> Arc<Pool> {
        Arc::new(Pool {
            permits: Arc::new(Semaphore::new(settings.max_connections)),
            settings,
            user: user.to_owned(),
            password: Mutex::new(password),
            idle: Mutex::new(Vec::new()),
            last_used: Mutex::new(Instant::now()),
        })
    }

    /// The settings.
    pub fn settings(&self) -> &UpstreamSettings {
        &self.settings
    }

    /// Marks the pool used now.
    pub fn touch(&self) {
        *self.last_used.lock().unwrap_or_else(PoisonError::into_inner) = Instant::now();
    }

    /// How long since the pool was last used, when no connection of it is open
    /// (idle or leased); `None` while one is.
    pub fn unused_for(&self) -> Option<Duration> {
        let none_open = self.permits.available_permits() == self.settings.max_connections
            && self.idle.lock().unwrap_or_else(PoisonError::into_inner).is_empty();
        none_open.then(|| self.last_used.lock().unwrap_or_else(PoisonError::into_inner).elapsed())
    }

    /// Closes the connections idle for longer than the idle timeout.
    pub fn reap(&self) {
        let limit = self.settings.idle_timeout;
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|i| i.since.elapsed() < limit);
    }

    async fn permit(&self) -> Result<OwnedSemaphorePermit, StorageError> {
        tokio::time::timeout(self.settings.command_timeout, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| {
                StorageError::with_source(
                    ErrorKind::Unavailable,
                    format!(
                        "all {} upstream connections stayed busy for the command timeout",
                        self.settings.max_connections
                    ),
                )
            })?
            .map_err(|e| StorageError::with_source(ErrorKind::Other, e))
    }

    /// A logged-in connection: an idle one that still answers, else a new one.
    pub async fn get(self: &Arc<Self>) -> Result<Lease, StorageError> {
        let permit = self.permit().await?;
        if let Some(ftp) = self.take_idle().await {
            return Ok(Lease::new(ftp, permit, self));
        }
        let ftp = self.connect_within(&self.current_password()).await?;
        Ok(Lease::new(ftp, permit, self))
    }

    /// A second connection beside one already leased, only if it can be had
    /// without waiting for another to come back: an idle one, else (with
    /// `open_new`) a new login. `None` when the pool is at its bound, or the
    /// login fails (the caller goes on with the connection it has).
    pub async fn spare(self: &Arc<Self>, open_new: bool) -> Option<Lease> {
        let permit = self.permits.clone().try_acquire_owned().ok()?;
        if let Some(ftp) = self.take_idle().await {
            return Some(Lease::new(ftp, permit, self));
        }
        if !open_new {
            return None;
        }
        let ftp = self.connect_within(&self.current_password()).await.ok()?;
        Some(Lease::new(ftp, permit, self))
    }

    /// The password new connections log in with.
    fn current_password(&self) -> Password {
        self.password.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// An idle connection that still answers (the idle ones that do not are closed).
    async fn take_idle(&self) -> Option<Ftp> {
        loop {
            let Idle { mut ftp, since } = self.idle.lock().unwrap_or_else(PoisonError::into_inner).pop()?;
            if since.elapsed() >= self.settings.idle_timeout {
                continue; // dropped: closed
            }
            if !still_open(&ftp, self.settings.tls != UpstreamTls::None).await {
                continue; // closed or reset by the upstream (or the network) while idle
            }
            if since.elapsed() >= CHECK_AFTER {
                match tokio::time::timeout(self.settings.command_timeout, ftp.noop()).await {
                    Ok(Ok(())) => {}
                    _ => continue,
                }
            }
            return Some(ftp);
        }
    }

    /// Whether the upstream takes `password` for this pool's user: a new
    /// connection logs in with it (within the pool's bound). Accepted, the
    /// password is the pool's from now on and the connection joins the idle
    /// ones; refused, nothing is kept.
    pub async fn check_login(self: &Arc<Self>, password: &Password) -> Result<LoginCheck, StorageError> {
        let permit = self.permit().await?;
        match self.connect_within(password).await {
            Ok(ftp) => {
                *self.password.lock().unwrap_or_else(PoisonError::into_inner) = password.clone();
                drop(Lease::new(ftp, permit, self));
                Ok(LoginCheck::Accepted)
            }
            Err(e) if e.kind == ErrorKind::PermissionDenied => Ok(LoginCheck::Refused),
            Err(e) => Err(e),
        }
    }

    /// [`Pool::connect`] within the connect and command timeouts.
    async fn connect_within(&self, password: &Password) -> Result<Ftp, StorageError> {
        tokio::time::timeout(
            self.settings.connect_timeout + self.settings.command_timeout,
            self.connect(password),
        )
        .await
        .map_err(|_| timed_out("connect and login"))?
    }

    /// Connects, logs in and sets the connection up. A refused login is
    /// `PermissionDenied`; nothing else is.
    async fn connect(&self, password: &Password) -> Result<Ftp, StorageError> {
        let s = &*self.settings;
        let mut ftp = open(s).await?;
        if s.encoding == UpstreamEncoding::Latin1 {
            // Before the login: the user name and password are spelt in it too.
            ftp.set_encoding(super::settings::Latin1).await;
        }
        if let Err(e) = ftp.login(self.user.as_str(), password.expose()).await {
            let e = ftp_error("login", e);
            return Err(if e.kind == ErrorKind::PermissionDenied {
                e
            } else {
                StorageError::with_source(ErrorKind::Unavailable, e)
            });
        }
        let setup = async {
            ftp.transfer_type(FileType::Binary)
                .await
                .map_err(|e| ftp_error("TYPE I", e))?;
            let features = match s.features.get() {
                Some(f) => *f,
                None => {
                    let feat = ftp.feat().await.unwrap_or_default();
                    let has = |name: &str| feat.keys().any(|k| k.eq_ignore_ascii_case(name));
                    let mlsx = match s.list {
                        ListMode::Auto => has("MLST"),
                        ListMode::Mlsd => true,
                        ListMode::List => false,
                    };
                    // `MLST type*;size*;modify*;UNIX.mode*;…`: the facts it can give.
                    let mlst_facts = feat
                        .iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case("MLST"))
                        .and_then(|(_, v)| v.as_deref())
                        .unwrap_or_default()
                        .to_ascii_lowercase();
                    let f = Features {
                        mlsx,
                        size: has("SIZE"),
                        mdtm: has("MDTM"),
                        epsv: match s.data_mode {
                            DataMode::Auto => has("EPSV"),
                            DataMode::Epsv => true,
                            DataMode::Pasv => false,
                        },
                        mfmt: has("MFMT"),
                        unix_mode: mlsx && mlst_facts.split(';').any(|f| f.trim_end_matches('*') == "unix.mode"),
                    };
                    tracing::info!(upstream = %s.describe, ?f, "upstream features");
                    *s.features.get_or_init(|| f)
                }
            };
            Ok::<_, StorageError>(features)
        };
        // A refusal after the login is not a refused password.
        let features = setup
            .await
            .map_err(|e| StorageError::with_source(ErrorKind::Unavailable, e))?;
        ftp.set_mode(if features.epsv {
            Mode::ExtendedPassive
        } else {
            Mode::Passive
        });
        ftp.set_passive_nat_workaround(s.nat_workaround);
        Ok(ftp)
    }

    /// Keeps a connection that ended in step for reuse — unless that would
    /// make more than `max_connections` open (idle and leased): a login check
    /// opens a new one even when idle ones exist.
    fn put_back(&self, ftp: Ftp) {
        self.touch();
        // Leased now, the returning one included (its permit is released after this).
        let leased = self.settings.max_connections - self.permits.available_permits();
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() + leased > self.settings.max_connections {
            return; // dropped: closed
        }
        idle.push(Idle {
            ftp,
            since: Instant::now(),
        });
    }
}

/// A control connection to the upstream of `s`, TLS set up as configured, not
/// logged in (its 220 greeting read).
pub async fn open(s: &UpstreamSettings) -> Result<Ftp, StorageError> {
    let addr = tokio::time::timeout(s.connect_timeout, tokio::net::lookup_host((s.host.as_str(), s.port)))
        .await
        .map_err(|_| timed_out("resolve"))?
        .map_err(|e| StorageError::with_source(ErrorKind::Unavailable, format!("resolve {}: {e}", s.host)))?
        .next()
        .ok_or_else(|| StorageError::with_source(ErrorKind::Unavailable, format!("{} has no address", s.host)))?;
    Ok(match (s.tls, s.suppaftp_connector()) {
        (UpstreamTls::Implicit, Some(tls)) => {
            let mut ftp = tokio::time::timeout(
                s.connect_timeout,
                Ftp::connect_secure_implicit(addr, tls, &s.server_name),
            )
            .await
            .map_err(|_| timed_out("connect (implicit TLS)"))?
            .map_err(|e| ftp_error("connect (implicit TLS)", e))?;
            // suppaftp sends these only after AUTH TLS; without PROT P an
            // implicit-TLS server refuses plain data connections (vsftpd: 522).
            for command in ["PBSZ 0", "PROT P"] {
                ftp.custom_command(command, &[suppaftp::Status::CommandOk])
                    .await
                    .map_err(|e| ftp_error(command, e))?;
            }
            ftp
        }
        (UpstreamTls::Explicit, Some(tls)) => Ftp::connect_timeout(addr, s.connect_timeout)
            .await
            .map_err(|e| ftp_error("connect", e))?
            .into_secure(tls, &s.server_name)
            .await
            .map_err(|e| ftp_error("AUTH TLS", e))?,
        _ => Ftp::connect_timeout(addr, s.connect_timeout)
            .await
            .map_err(|e| ftp_error("connect", e))?,
    })
}

/// Whether an idle control connection can still be used, seen without a round
/// trip: a peek that does not wait finds the upstream's FIN or a reset (the
/// faults campaign found every pooled connection dead after a network failure,
/// each failing one request). On plain FTP, bytes waiting there are words nobody
/// asked for (a 421 before a close): out of step too. Over TLS they may be a
/// session ticket, so only a close or an error counts there.
async fn still_open(ftp: &Ftp, tls: bool) -> bool {
    let socket = ftp.get_ref().await;
    let mut byte = [0u8; 1];
    // A zero timeout polls the peek once: pending means nothing arrived.
    match tokio::time::timeout(Duration::ZERO, socket.peek(&mut byte)).await {
        Err(_) => true,
        Ok(Ok(0) | Err(_)) => false,
        Ok(Ok(_)) => tls,
    }
}

/// A connection taken from the pool. Dropped, it goes back only while
/// [`Lease::in_step`] holds; otherwise it is closed.
pub struct Lease {
    ftp: Option<Ftp>,
    pool: Arc<Pool>,
    in_step: bool,
    _permit: OwnedSemaphorePermit,
}

impl Lease {
    fn new(ftp: Ftp, permit: OwnedSemaphorePermit, pool: &Arc<Pool>) -> Lease {
        Lease {
            ftp: Some(ftp),
            pool: pool.clone(),
            in_step: true,
            _permit: permit,
        }
    }

    /// The connection.
    pub fn ftp(&mut self) -> &mut Ftp {
        // Present from `new` until drop.
        self.ftp
            .as_mut()
            .unwrap_or_else(|| unreachable!("a lease holds its connection until dropped"))
    }

    /// The settings of the upstream the connection is to.
    pub fn settings(&self) -> &UpstreamSettings {
        &self.pool.settings
    }

    /// The per-command limit.
    pub fn timeout(&self) -> Duration {
        self.pool.settings.command_timeout
    }

    /// Marks the connection as out of step (a transfer under way) or back in step.
    pub fn set_in_step(&mut self, in_step: bool) {
        self.in_step = in_step;
    }

    /// The outcome of a timed command: maps errors, and drops the connection
    /// after any failure that leaves it out of step.
    pub fn check<T>(
        &mut self,
        what: &str,
        r: Result<suppaftp::FtpResult<T>, tokio::time::error::Elapsed>,
    ) -> Result<T, StorageError> {
        match r {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                if !connection_usable(&e) {
                    self.in_step = false;
                }
                Err(ftp_error(what, e))
            }
            Err(_) => {
                self.in_step = false;
                Err(timed_out(what))
            }
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(ftp) = self.ftp.take()
            && self.in_step
        {
            self.pool.put_back(ftp);
        }
    }
}

/// Runs one command on a lease with the command timeout: `ftp!(lease, "SIZE", lease.ftp().size(p))`.
macro_rules! ftp {
    ($lease:expr, $what:expr, $call:expr) => {{
        let limit = $lease.timeout();
        let r = tokio::time::timeout(limit, $call).await;
        $lease.check($what, r)
    }};
}
pub(crate) use ftp;
