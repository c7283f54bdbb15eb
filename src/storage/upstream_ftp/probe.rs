//! The upstream's readiness check, cached by [`Readiness`]: a pooled
//! connection (a new one logs in, so an upstream that refuses the service
//! account fails it) answering `NOOP`.

use std::sync::Arc;
use std::time::Duration;

use super::pool::{Pool, ftp};
use crate::storage::readiness::Readiness;

/// An upstream whose last check ended longer ago than this is not ready.
const SILENT_FOR: Duration = Duration::from_secs(60);

/// The readiness of the upstream behind `pool`.
pub fn readiness(pool: Arc<Pool>) -> Readiness {
    Readiness::new(
        "the upstream FTP server",
        SILENT_FOR,
        Arc::new(move || {
            let pool = pool.clone();
            Box::pin(async move {
                let mut lease = pool.get().await?;
                ftp!(lease, "NOOP", lease.ftp().noop())
            })
        }),
    )
}
