//! Readiness of the store, cached: `/readyz` may be scraped every second by
//! several probes, and each answer must not cost a request to the bucket. One
//! listing of one key (a missing bucket or wrong credentials fail it; a `stat`
//! of the root would not) at most every [`FRESH_FOR`], one at a time.

use std::time::{Duration, Instant};

use opendal::Operator;
use tokio::sync::Mutex;

use super::errors::storage_error;
use crate::storage::{ErrorKind, StorageError};

/// How long an answer is reused.
const FRESH_FOR: Duration = Duration::from_secs(5);

/// The last answer: when, and the failure as text (`None`: reachable).
pub struct Probe {
    op: Operator,
    last: Mutex<Option<(Instant, Option<String>)>>,
}

impl Probe {
    pub fn new(op: Operator) -> Self {
        Probe {
            op,
            last: Mutex::new(None),
        }
    }

    /// Whether the bucket can be listed, as of at most [`FRESH_FOR`] ago. A
    /// change of state is logged once, not at every probe.
    pub async fn check(&self) -> Result<(), StorageError> {
        // Held across the request on purpose: concurrent probes wait for one answer.
        let mut last = self.last.lock().await;
        if let Some((at, failure)) = last.as_ref()
            && at.elapsed() < FRESH_FOR
        {
            return failure.as_ref().map_or(Ok(()), |f| {
                Err(StorageError::with_source(ErrorKind::Unavailable, f.clone()))
            });
        }
        let failure = match self.list_one().await {
            Ok(()) => None,
            Err(e) => Some(match &e.source {
                Some(source) => format!("{:?}: {source}", e.kind),
                None => format!("{:?}", e.kind),
            }),
        };
        let was = last.as_ref().map(|(_, f)| f.clone());
        match (&was, &failure) {
            (Some(Some(_)) | None, None) if was.is_some() => tracing::info!("storage: the bucket is reachable again"),
            (Some(None) | None, Some(f)) => {
                tracing::error!(error = %f, "storage: the bucket cannot be listed; not ready until it can")
            }
            _ => {}
        }
        *last = Some((Instant::now(), failure.clone()));
        failure.map_or(Ok(()), |f| Err(StorageError::with_source(ErrorKind::Unavailable, f)))
    }

    async fn list_one(&self) -> Result<(), StorageError> {
        use futures_util::TryStreamExt;
        let mut lister = self.op.lister_with("/").limit(1).await.map_err(storage_error)?;
        lister.try_next().await.map_err(storage_error)?;
        Ok(())
    }
}
