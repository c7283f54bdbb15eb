//! The upstreams' readiness check, cached by [`Readiness`]. Every configured
//! upstream is checked, side by side, and all must pass:
//!
//! - the default upstream, when there is a service account: a pooled
//!   connection of that account (a new one logs in, so an upstream that
//!   refuses the service account fails it) answering `NOOP`;
//! - any other upstream (and the default one without a service account, as
//!   with `credentials: passthrough` alone): a new connection that gets the
//!   upstream's greeting (and the TLS handshake, if configured) — reachable and
//!   answering, though no login is tried (there is no account to try).

use std::sync::Arc;
use std::time::Duration;

use super::pool::{ftp, open};
use super::pools::Pools;
use super::routing::DEFAULT_UPSTREAM;
use super::settings::UpstreamSettings;
use crate::auth::Password;
use crate::storage::readiness::Readiness;
use crate::storage::{ErrorKind, StorageError};

/// An upstream whose last check ended longer ago than this is not ready.
const SILENT_FOR: Duration = Duration::from_secs(60);

/// The readiness of `upstreams`, the default one checked with `service`.
pub fn readiness(
    upstreams: Vec<Arc<UpstreamSettings>>,
    pools: Arc<Pools>,
    service: Option<(String, Password)>,
) -> Readiness {
    let what = if upstreams.len() > 1 {
        "the upstream FTP servers"
    } else {
        "the upstream FTP server"
    };
    Readiness::new(
        what,
        SILENT_FOR,
        Arc::new(move || {
            let checks: Vec<_> = upstreams
                .iter()
                .map(|u| check(u.clone(), pools.clone(), service.clone()))
                .collect();
            Box::pin(async move {
                for result in futures_util::future::join_all(checks).await {
                    result?;
                }
                Ok(())
            })
        }),
    )
}

/// One upstream's check; a failure names the upstream.
async fn check(
    upstream: Arc<UpstreamSettings>,
    pools: Arc<Pools>,
    service: Option<(String, Password)>,
) -> Result<(), StorageError> {
    let named = |e: StorageError| {
        StorageError::with_source(
            if e.kind == ErrorKind::PermissionDenied {
                ErrorKind::PermissionDenied
            } else {
                ErrorKind::Unavailable
            },
            format!("upstream `{}` ({}): {e}", upstream.name, upstream.describe),
        )
    };
    match service.filter(|_| upstream.name == DEFAULT_UPSTREAM) {
        Some((user, password)) => {
            let mut lease = pools
                .pool(&upstream, &user, &password)
                .map_err(named)?
                .get()
                .await
                .map_err(named)?;
            ftp!(lease, "NOOP", lease.ftp().noop()).map_err(named)
        }
        None => {
            let mut ftp = tokio::time::timeout(upstream.connect_timeout + upstream.command_timeout, open(&upstream))
                .await
                .map_err(|_| named(super::errors::timed_out("connect")))?
                .map_err(named)?;
            // A polite goodbye; its answer does not matter.
            let _ = tokio::time::timeout(upstream.command_timeout, ftp.quit()).await;
            Ok(())
        }
    }
}
