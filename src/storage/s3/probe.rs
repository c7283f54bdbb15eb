//! Readiness of the store, cached and never waited for: `/readyz` may be
//! scraped every second by several probes, and a load balancer's health check
//! gives up after a second or so. So an answer comes from the last check, and a
//! check older than [`FRESH_FOR`] is refreshed in the background (one at a
//! time) while the last answer is given. Only the very first probe waits for
//! the store. A check is one listing of one key: a missing bucket or wrong
//! credentials fail it, where a `stat` of the root would not.
//!
//! Measured on the scale-out test: with the refresh inline, a store slowed by
//! 200 clients made `/readyz` take over a second, haproxy took both instances
//! out, and the clients' connections were closed.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures_util::TryStreamExt;
use opendal::Operator;

use super::errors::storage_error;
use crate::storage::{ErrorKind, StorageError};

/// How long an answer is fresh.
const FRESH_FOR: Duration = Duration::from_secs(5);

/// A store whose last check ended longer ago than this (the refresh hangs) is
/// not ready, whatever that check said.
const SILENT_FOR: Duration = Duration::from_secs(30);

/// The last check: when it ended and its failure (`None`: reachable).
#[derive(Default)]
struct State {
    last: Option<(Instant, Option<String>)>,
    refreshing: bool,
}

/// The store's readiness, as of the last check.
pub struct Probe {
    op: Operator,
    state: Arc<Mutex<State>>,
}

impl Probe {
    pub fn new(op: Operator) -> Self {
        Probe {
            op,
            state: Arc::new(Mutex::new(State::default())),
        }
    }

    /// Whether the bucket could be listed at the last check; starts a new check
    /// in the background when that one is stale.
    pub async fn check(&self) -> Result<(), StorageError> {
        let last = {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            let stale = state.last.as_ref().is_none_or(|(at, _)| at.elapsed() >= FRESH_FOR);
            if stale && state.last.is_some() && !state.refreshing {
                state.refreshing = true;
                tokio::spawn(refresh(self.op.clone(), self.state.clone()));
            }
            state.last.as_ref().map(|(at, failure)| {
                if at.elapsed() >= SILENT_FOR {
                    Some("the store has not answered a readiness check for 30 s".to_owned())
                } else {
                    failure.clone()
                }
            })
        };
        let failure = match last {
            Some(failure) => failure,
            // The first probe of the process: nothing to answer from yet.
            None => {
                refresh(self.op.clone(), self.state.clone()).await;
                let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
                state.last.as_ref().and_then(|(_, failure)| failure.clone())
            }
        };
        failure.map_or(Ok(()), |f| Err(StorageError::with_source(ErrorKind::Unavailable, f)))
    }
}

/// Runs one check and records it; a change of state is logged once.
async fn refresh(op: Operator, state: Arc<Mutex<State>>) {
    let failure = match list_one(&op).await {
        Ok(()) => None,
        Err(e) => Some(match &e.source {
            Some(source) => format!("{:?}: {source}", e.kind),
            None => format!("{:?}", e.kind),
        }),
    };
    let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
    match (state.last.as_ref().map(|(_, f)| f.is_some()), &failure) {
        (Some(true), None) => tracing::info!("storage: the bucket is reachable again"),
        (Some(false) | None, Some(f)) => {
            tracing::error!(error = %f, "storage: the bucket cannot be listed; not ready until it can");
        }
        _ => {}
    }
    state.last = Some((Instant::now(), failure));
    state.refreshing = false;
}

async fn list_one(op: &Operator) -> Result<(), StorageError> {
    let mut lister = op.lister_with("/").limit(1).await.map_err(storage_error)?;
    lister.try_next().await.map_err(storage_error)?;
    Ok(())
}
