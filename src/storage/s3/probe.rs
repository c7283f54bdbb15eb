//! The store's readiness check, cached by [`Readiness`]: one listing of one
//! key. A missing bucket or wrong credentials fail it, where a `stat` of the
//! root would not.

use std::sync::Arc;
use std::time::Duration;

use futures_util::TryStreamExt;
use opendal::Operator;

use super::errors::storage_error;
use crate::storage::readiness::Readiness;

/// A store whose last check ended longer ago than this is not ready.
const SILENT_FOR: Duration = Duration::from_secs(30);

/// The readiness of the store behind `op`.
pub fn readiness(op: Operator) -> Readiness {
    Readiness::new(
        "the bucket",
        SILENT_FOR,
        Arc::new(move || {
            let op = op.clone();
            Box::pin(async move {
                let mut lister = op.lister_with("/").limit(1).await.map_err(storage_error)?;
                lister.try_next().await.map_err(storage_error)?;
                Ok(())
            })
        }),
    )
}
