//! Readiness of the upstream, cached and never waited for (the same scheme as
//! the S3 back-end's probe, for the same reason: `/readyz` is scraped often and
//! a load balancer's health check gives up after about a second). An answer
//! comes from the last check; a check older than [`FRESH_FOR`] is refreshed in
//! the background, one at a time. Only the very first probe waits, and even
//! its check runs as a task of its own: the caller (`/readyz`) gives up after
//! 2 s, and an upstream that takes longer to refuse a login (vsftpd and PAM
//! delay failed logins by seconds) would otherwise never get its check
//! finished, recorded or logged.
//!
//! A check is a pooled connection (a new one logs in: an upstream that refuses
//! the service account fails it) answering `NOOP`.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::pool::{Pool, ftp};
use crate::storage::{ErrorKind, StorageError};

/// How long an answer is fresh.
const FRESH_FOR: Duration = Duration::from_secs(5);

/// An upstream whose last check ended longer ago than this (the refresh hangs)
/// is not ready, whatever that check said.
const SILENT_FOR: Duration = Duration::from_secs(60);

#[derive(Default)]
struct State {
    last: Option<(Instant, Option<String>)>,
    refreshing: bool,
}

/// The upstream's readiness, as of the last check.
pub struct Probe {
    pool: Arc<Pool>,
    state: Arc<Mutex<State>>,
}

impl Probe {
    pub fn new(pool: Arc<Pool>) -> Self {
        Probe {
            pool,
            state: Arc::new(Mutex::new(State::default())),
        }
    }

    /// Whether the upstream answered at the last check; starts a new check in
    /// the background when that one is stale.
    pub async fn check(&self) -> Result<(), StorageError> {
        let last = {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            let stale = state.last.as_ref().is_none_or(|(at, _)| at.elapsed() >= FRESH_FOR);
            if stale && state.last.is_some() && !state.refreshing {
                state.refreshing = true;
                tokio::spawn(refresh(self.pool.clone(), self.state.clone()));
            }
            state.last.as_ref().map(|(at, failure)| {
                if at.elapsed() >= SILENT_FOR {
                    Some("the upstream has not answered a readiness check for 60 s".to_owned())
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
}

impl Probe {
    /// The first check of the process: started once (whoever asks first), and
    /// waited for here — polled, so that a caller that gives up leaves it running.
    async fn first_check(&self) -> Option<String> {
        {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            if !state.refreshing {
                state.refreshing = true;
                tokio::spawn(refresh(self.pool.clone(), self.state.clone()));
            }
        }
        loop {
            {
                let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
                if let Some((_, failure)) = &state.last {
                    return failure.clone();
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Runs one check and records it; a change of state is logged once.
async fn refresh(pool: Arc<Pool>, state: Arc<Mutex<State>>) {
    let failure = match noop(&pool).await {
        Ok(()) => None,
        Err(e) => Some(match &e.source {
            Some(source) => format!("{:?}: {source}", e.kind),
            None => format!("{:?}", e.kind),
        }),
    };
    let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
    match (state.last.as_ref().map(|(_, f)| f.is_some()), &failure) {
        (Some(true), None) => tracing::info!("storage: the upstream FTP server answers again"),
        (Some(false) | None, Some(f)) => {
            tracing::error!(error = %f, "storage: the upstream FTP server cannot be reached or logged in to; not ready until it can");
        }
        _ => {}
    }
    state.last = Some((Instant::now(), failure));
    state.refreshing = false;
}

async fn noop(pool: &Arc<Pool>) -> Result<(), StorageError> {
    let mut lease = pool.get().await?;
    ftp!(lease, "NOOP", lease.ftp().noop())
}
