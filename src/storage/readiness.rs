//! Readiness of a remote back-end (an object store, an upstream FTP server),
//! cached and never waited for.
//!
//! `/readyz` may be scraped every second by several probes, and a load
//! balancer's health check gives up after a second or so. So an answer comes
//! from the last check, and a check older than [`FRESH_FOR`] is refreshed in
//! the background (one at a time) while the last answer is given. Only the
//! very first probe of the process waits, and even its check runs as a task of
//! its own, polled: the caller (`/readyz`) gives up after 2 s, and a back-end
//! slower than that to refuse (vsftpd and PAM delay a failed login by seconds)
//! would otherwise never get its check finished, recorded or logged. A change
//! of state is logged once.
//!
//! Measured on the S3 scale-out test: with the refresh inline, a store slowed
//! by 200 clients made `/readyz` take over a second, haproxy took both
//! instances out, and the clients' connections were closed.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;

use super::{ErrorKind, StorageError};

/// How long an answer is fresh.
const FRESH_FOR: Duration = Duration::from_secs(5);

/// How often the first probe looks whether its check has ended.
const FIRST_POLL: Duration = Duration::from_millis(20);

/// One check of the back-end.
pub type Check = Arc<dyn Fn() -> BoxFuture<'static, Result<(), StorageError>> + Send + Sync>;

/// The last check: when it ended and its failure (`None`: ready).
#[derive(Default)]
struct State {
    last: Option<(Instant, Option<String>)>,
    refreshing: bool,
}

/// A back-end's readiness, as of the last check.
pub struct Readiness {
    /// What is checked, for the log and the failure: "the bucket".
    what: &'static str,
    /// A back-end whose last check ended longer ago than this (the refresh
    /// hangs) is not ready, whatever that check said.
    silent_for: Duration,
    check: Check,
    state: Arc<Mutex<State>>,
}

impl Readiness {
    /// Readiness by `check`; nothing runs until the first [`Readiness::check`].
    pub fn new(what: &'static str, silent_for: Duration, check: Check) -> Self {
        Readiness {
            what,
            silent_for,
            check,
            state: Arc::default(),
        }
    }

    /// Whether the back-end answered at the last check; starts a new check in
    /// the background when that one is stale.
    pub async fn check(&self) -> Result<(), StorageError> {
        let last = {
            let mut state = self.lock();
            let stale = state.last.as_ref().is_none_or(|(at, _)| at.elapsed() >= FRESH_FOR);
            if stale && state.last.is_some() {
                self.start_refresh(&mut state);
            }
            state.last.as_ref().map(|(at, failure)| {
                if at.elapsed() >= self.silent_for {
                    Some(format!(
                        "{} has not answered a readiness check for {} s",
                        self.what,
                        self.silent_for.as_secs()
                    ))
                } else {
                    failure.clone()
                }
            })
        };
        let failure = match last {
            Some(failure) => failure,
            None => self.first_check().await,
        };
        failure.map_or(Ok(()), |f| Err(StorageError::with_source(ErrorKind::Unavailable, f)))
    }

    /// The first check of the process: started once (whoever asks first), and
    /// waited for here — polled, so that a caller that gives up leaves it running.
    async fn first_check(&self) -> Option<String> {
        self.start_refresh(&mut self.lock());
        loop {
            if let Some((_, failure)) = &self.lock().last {
                return failure.clone();
            }
            tokio::time::sleep(FIRST_POLL).await;
        }
    }

    /// Starts a check in the background unless one is running.
    fn start_refresh(&self, state: &mut State) {
        if state.refreshing {
            return;
        }
        state.refreshing = true;
        let (what, check, shared) = (self.what, self.check.clone(), self.state.clone());
        tokio::spawn(async move {
            // A check that panics must not leave `refreshing` set for good.
            let _unstick = Unstick(shared.clone());
            let failure = match check().await {
                Ok(()) => None,
                Err(e) => Some(match &e.source {
                    Some(source) => format!("{:?}: {source}", e.kind),
                    None => format!("{:?}", e.kind),
                }),
            };
            let mut state = shared.lock().unwrap_or_else(PoisonError::into_inner);
            match (state.last.as_ref().map(|(_, f)| f.is_some()), &failure) {
                (Some(true), None) => tracing::info!("storage: {what} answers again"),
                (Some(false) | None, Some(f)) => {
                    tracing::error!(error = %f, "storage: {what} does not answer its readiness check; not ready until it does");
                }
                _ => {}
            }
            state.last = Some((Instant::now(), failure));
            state.refreshing = false;
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Clears `refreshing` when a check's task ends, however it ends; a check
/// that panicked is recorded as a failure.
struct Unstick(Arc<Mutex<State>>);

impl Drop for Unstick {
    fn drop(&mut self) {
        let mut state = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if state.refreshing {
            state.refreshing = false;
            state.last = Some((Instant::now(), Some("the readiness check panicked".to_owned())));
        }
    }
}
