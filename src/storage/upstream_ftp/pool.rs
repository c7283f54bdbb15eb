//! A bounded pool of logged-in control connections to the upstream.
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
//! - Idle connections are closed after `idle_timeout` by a reaper task, and one
//!   idle for more than [`CHECK_AFTER`] is checked with NOOP before reuse (the
//!   upstream may have closed it with a 421). Every idle connection is also
//!   looked at, without a round trip, for a close or reset that already arrived
//!   ([`still_open`]): after a network failure or an upstream restart, the
//!   first requests would otherwise each take a dead connection and fail.

use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};
use std::time::{Duration, Instant};

use suppaftp::Mode;
use suppaftp::tokio::AsyncRustlsFtpStream;
use suppaftp::types::FileType;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::errors::{connection_usable, ftp_error, timed_out};
use super::settings::UpstreamSettings;
use crate::config::{DataMode, ListMode, UpstreamTls};
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
}

struct Idle {
    ftp: Ftp,
    since: Instant,
}

/// The pool.
pub struct Pool {
    settings: Arc<UpstreamSettings>,
    permits: Arc<Semaphore>,
    idle: Mutex<Vec<Idle>>,
    features: OnceLock<Features>,
    /// Held while an upload is published (name check, then rename): FTP has no
    /// "rename unless the target exists", so create-new is made atomic against
    /// the other uploads of this process by taking turns.
    pub publish: tokio::sync::Mutex<()>,
}

impl Pool {
    /// An empty pool; a reaper task closes idle connections while it lives
    /// (when there is a runtime to run it).
    pub fn new(settings: Arc<UpstreamSettings>) -> Arc<Pool> {
        let pool = Arc::new(Pool {
            permits: Arc::new(Semaphore::new(settings.max_connections)),
            settings,
            idle: Mutex::new(Vec::new()),
            features: OnceLock::new(),
            publish: tokio::sync::Mutex::new(()),
        });
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(reap(Arc::downgrade(&pool)));
        }
        pool
    }

    /// The settings.
    pub fn settings(&self) -> &UpstreamSettings {
        &self.settings
    }

    /// The upstream's features (after the first login).
    pub fn features(&self) -> Option<Features> {
        self.features.get().copied()
    }

    /// A logged-in connection: an idle one that still answers, else a new one.
    pub async fn get(self: &Arc<Self>) -> Result<Lease, StorageError> {
        let permit = tokio::time::timeout(self.settings.command_timeout, self.permits.clone().acquire_owned())
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
            .map_err(|e| StorageError::with_source(ErrorKind::Other, e))?;
        loop {
            let popped = self.idle.lock().unwrap_or_else(PoisonError::into_inner).pop();
            let Some(Idle { mut ftp, since }) = popped else { break };
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
            return Ok(Lease::new(ftp, permit, self));
        }
        let ftp = tokio::time::timeout(
            self.settings.connect_timeout + self.settings.command_timeout,
            self.connect(),
        )
        .await
        .map_err(|_| timed_out("connect and login"))??;
        Ok(Lease::new(ftp, permit, self))
    }

    /// Connects, logs in and sets the connection up.
    async fn connect(&self) -> Result<Ftp, StorageError> {
        let s = &*self.settings;
        let addr = tokio::time::timeout(s.connect_timeout, tokio::net::lookup_host((s.host.as_str(), s.port)))
            .await
            .map_err(|_| timed_out("resolve"))?
            .map_err(|e| StorageError::with_source(ErrorKind::Unavailable, format!("resolve {}: {e}", s.host)))?
            .next()
            .ok_or_else(|| StorageError::with_source(ErrorKind::Unavailable, format!("{} has no address", s.host)))?;
        let mut ftp = match (s.tls, s.suppaftp_connector()) {
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
        };
        ftp.login(s.user.as_str(), s.password.expose())
            .await
            .map_err(|e| ftp_error("login", e))?;
        ftp.transfer_type(FileType::Binary)
            .await
            .map_err(|e| ftp_error("TYPE I", e))?;
        let features = match self.features.get() {
            Some(f) => *f,
            None => {
                let feat = ftp.feat().await.unwrap_or_default();
                let has = |name: &str| feat.keys().any(|k| k.eq_ignore_ascii_case(name));
                let f = Features {
                    mlsx: match s.list {
                        ListMode::Auto => has("MLST"),
                        ListMode::Mlsd => true,
                        ListMode::List => false,
                    },
                    size: has("SIZE"),
                    mdtm: has("MDTM"),
                    epsv: match s.data_mode {
                        DataMode::Auto => has("EPSV"),
                        DataMode::Epsv => true,
                        DataMode::Pasv => false,
                    },
                };
                tracing::info!(upstream = %s.describe, ?f, "upstream features");
                *self.features.get_or_init(|| f)
            }
        };
        ftp.set_mode(if features.epsv {
            Mode::ExtendedPassive
        } else {
            Mode::Passive
        });
        ftp.set_passive_nat_workaround(s.nat_workaround);
        Ok(ftp)
    }

    fn put_back(&self, ftp: Ftp) {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner).push(Idle {
            ftp,
            since: Instant::now(),
        });
    }
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

/// Closes connections idle for longer than the idle timeout, while the pool lives.
async fn reap(pool: Weak<Pool>) {
    loop {
        let every = match pool.upgrade() {
            Some(p) => (p.settings.idle_timeout / 2).max(Duration::from_millis(500)),
            None => return,
        };
        tokio::time::sleep(every).await;
        let Some(p) = pool.upgrade() else { return };
        let limit = p.settings.idle_timeout;
        p.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|i| i.since.elapsed() < limit);
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
