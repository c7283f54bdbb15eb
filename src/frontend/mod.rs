//! Front-ends: the FTP and HTTP servers. They own sockets and protocol state,
//! lift wire input into command records, and render the replies the pipeline
//! leaves; they never touch storage, users or metrics policy themselves.
//!
//! Shared here: the connection limiter that applies to all protocols together;
//! the PROXY protocol ([`proxy`]) on every listener.

pub mod ftp;
pub mod http;
pub mod proxy;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// Waits for the next connection, or `None` once `shutdown` fires. Counts it in
/// `connections_total`; on accept errors (EMFILE and friends) backs off briefly
/// instead of spinning.
pub async fn accept(
    listener: &TcpListener,
    shutdown: &CancellationToken,
    protocol: &'static str,
) -> Option<(TcpStream, SocketAddr)> {
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => return None,
            a = listener.accept() => a,
        };
        match accepted {
            Ok(a) => {
                metrics::counter!(crate::metrics::CONNECTIONS_TOTAL, "protocol" => protocol).increment(1);
                return Some(a);
            }
            Err(e) => {
                tracing::warn!(error = %e, protocol, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The server-wide limit is reached.
    TooManyConnections,
    /// This client address has too many connections.
    TooManyFromAddress,
}

impl Refusal {
    /// The `reason` label of `dualgate_connection_refusals_total`.
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::TooManyConnections => "max_connections",
            Refusal::TooManyFromAddress => "per_address",
        }
    }
}

/// Counts open connections, in total and per client address, across protocols.
#[derive(Debug)]
pub struct ConnectionLimiter {
    max_total: usize,
    max_per_address: usize,
    state: Mutex<(usize, HashMap<IpAddr, usize>)>,
    /// Rate limit of the refusal warning.
    warnings: crate::telemetry::WarnEvery,
}

/// Held while a connection is open; releases its slot when dropped.
#[derive(Debug)]
pub struct ConnectionSlot {
    limiter: Arc<ConnectionLimiter>,
    ip: IpAddr,
}

impl ConnectionLimiter {
    /// A limiter with these maxima.
    pub fn new(max_total: usize, max_per_address: usize) -> Arc<Self> {
        Arc::new(ConnectionLimiter {
            max_total,
            max_per_address,
            state: Mutex::new((0, HashMap::new())),
            warnings: crate::telemetry::WarnEvery::default(),
        })
    }

    /// Counts a refused connection and, at most once a minute, tells the operator.
    pub fn refused(&self, protocol: &'static str, refusal: Refusal, client: IpAddr) {
        metrics::counter!(crate::metrics::CONNECTION_REFUSALS_TOTAL, "protocol" => protocol, "reason" => refusal.reason())
            .increment(1);
        if let Some(refusals) = self.warnings.tick() {
            tracing::warn!(
                %client,
                protocol,
                reason = refusal.reason(),
                max_connections = self.max_total,
                max_connections_per_address = self.max_per_address,
                refusals,
                "connection refused: connection limit reached (limits.max_connections, \
                 limits.max_connections_per_address); refusals since the last warning counted"
            );
        }
    }

    /// Takes a slot for `ip`, or says why not.
    pub fn acquire(self: &Arc<Self>, ip: IpAddr) -> Result<ConnectionSlot, Refusal> {
        let mut guard = self.state.lock().map_err(|_| Refusal::TooManyConnections)?;
        let (total, per) = &mut *guard;
        if *total >= self.max_total {
            return Err(Refusal::TooManyConnections);
        }
        let n = per.entry(ip).or_insert(0);
        if *n >= self.max_per_address {
            return Err(Refusal::TooManyFromAddress);
        }
        *n += 1;
        *total += 1;
        Ok(ConnectionSlot {
            limiter: self.clone(),
            ip,
        })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.state.lock().map_or(0, |g| g.0)
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        if let Ok(mut guard) = self.limiter.state.lock() {
            let (total, per) = &mut *guard;
            *total = total.saturating_sub(1);
            if let Some(n) = per.get_mut(&self.ip) {
                *n -= 1;
                if *n == 0 {
                    per.remove(&self.ip);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn limits_total_and_per_address() {
        let l = ConnectionLimiter::new(3, 2);
        let a: IpAddr = "127.0.0.2".parse().unwrap();
        let b: IpAddr = "127.0.0.3".parse().unwrap();
        let s1 = l.acquire(a).unwrap();
        let _s2 = l.acquire(a).unwrap();
        assert_eq!(l.acquire(a).unwrap_err(), Refusal::TooManyFromAddress);
        let _s3 = l.acquire(b).unwrap();
        assert_eq!(l.acquire(b).unwrap_err(), Refusal::TooManyConnections);
        drop(s1);
        let _s4 = l.acquire(a).unwrap();
        assert_eq!(l.open(), 3);
        drop(_s4);
        assert_eq!(l.open(), 2);
    }
}
