//! Passive data ports: the listener a session binds in the configured range for
//! its next data connection (PASV, EPSV), and the quota that keeps one client
//! address from holding the whole range.
//!
//! A session holds at most one passive port, from its PASV/EPSV until the data
//! connection is accepted, or until it asks for another data connection (PASV,
//! EPSV, PORT, EPRT), ends a transfer command whatever its outcome, resets
//! (REIN, AUTH) or goes away. Without a bound per address, a few dozen sessions
//! from one address that each send PASV and then idle take every port, and
//! everyone else waits out the data timeout for a `425`. So every port is
//! leased from [`PassiveQuota`]: at most `ftp.passive_ports_per_address` at
//! once per client address (IPv4-mapped addresses count as their IPv4 form, an
//! IPv6 client by its /64, which one host usually holds whole). A refusal is a
//! `425` to PASV/EPSV, counted in `dualgate_passive_refusals_total{reason}`
//! and logged as a warning at most once a minute.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::net::TcpListener;

/// The passive ports held per client address, shared by every FTP session.
#[derive(Debug, Default)]
pub struct PassiveQuota {
    /// Most ports one address may hold at once; 0 is no bound.
    per_address: usize,
    /// Ports held now, per address key (entries at zero are removed).
    held: Mutex<HashMap<IpAddr, usize>>,
    /// Rate limit of the warning log line.
    warnings: crate::telemetry::WarnEvery,
}

impl PassiveQuota {
    /// The quota for a passive range (`low`, `high`, inclusive) and the
    /// configured `ftp.passive_ports_per_address`: `None` is the default, a
    /// quarter of the range rounded up but at least 4 (a few parallel
    /// transfers of one client), never more than the range; `Some(0)` is no
    /// bound.
    pub fn new(per_address: Option<u16>, (low, high): (u16, u16)) -> Self {
        let range = usize::from(high.saturating_sub(low)) + 1;
        let per_address = match per_address {
            Some(n) => usize::from(n),
            None => range.div_ceil(4).max(range.min(4)),
        };
        PassiveQuota {
            per_address,
            ..PassiveQuota::default()
        }
    }

    /// The quota of `ftp.passive_ports_per_address` over `ftp.passive_ports`.
    pub fn from_config(ftp: &crate::config::FtpConfig) -> Self {
        Self::new(
            ftp.passive_ports_per_address,
            (ftp.passive_ports.low, ftp.passive_ports.high),
        )
    }

    /// Most ports one address may hold at once (0: no bound).
    pub fn per_address(&self) -> usize {
        self.per_address
    }

    /// A lease on one more port for `client`, unless it holds its share.
    fn lease(self: &Arc<Self>, client: IpAddr) -> Result<Lease, Refusal> {
        let key = address_key(client);
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        let count = held.entry(key).or_insert(0);
        if self.per_address > 0 && *count >= self.per_address {
            return Err(Refusal::PerAddress);
        }
        *count += 1;
        Ok(Lease {
            quota: self.clone(),
            key,
        })
    }

    /// Counts a refusal and, at most once a minute, tells the operator.
    fn refused(&self, refusal: &Refusal, client: IpAddr) {
        metrics::counter!(crate::metrics::PASSIVE_REFUSALS_TOTAL, "reason" => refusal.reason()).increment(1);
        let Some(refusals) = self.warnings.tick() else {
            return;
        };
        match refusal {
            Refusal::PerAddress => tracing::warn!(
                %client,
                per_address = self.per_address,
                refusals,
                "PASV/EPSV refused: this client address holds its share of the passive ports \
                 (ftp.passive_ports_per_address); refusals since the last warning counted"
            ),
            Refusal::Exhausted => tracing::warn!(
                %client,
                refusals,
                "PASV/EPSV refused: every port of ftp.passive_ports is in use; widen the range"
            ),
            Refusal::Io(e) => {
                tracing::warn!(%client, error = %e, refusals, "PASV/EPSV refused: cannot bind a passive port")
            }
        }
    }
}

/// One port counted against an address; given back on drop.
#[derive(Debug)]
struct Lease {
    quota: Arc<PassiveQuota>,
    key: IpAddr,
}

impl Drop for Lease {
    fn drop(&mut self) {
        let mut held = self.quota.held.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = held.get_mut(&self.key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                held.remove(&self.key);
            }
        }
    }
}

/// What a client's addresses count as: IPv4 (mapped or not) whole, IPv6 by /64.
fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
        },
    }
}

/// Why no passive port was given.
#[derive(Debug)]
pub enum Refusal {
    /// The client's address holds its share of the range.
    PerAddress,
    /// Every port of the range is taken.
    Exhausted,
    /// Binding failed otherwise.
    Io(io::Error),
}

impl Refusal {
    /// The `reason` label of `dualgate_passive_refusals_total`.
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::PerAddress => "per_address",
            Refusal::Exhausted => "exhausted",
            Refusal::Io(_) => "error",
        }
    }

    /// The text of the `425` reply.
    pub fn reply_text(&self) -> &'static str {
        match self {
            Refusal::PerAddress => "Too many passive ports held from your address; finish a transfer first.",
            Refusal::Exhausted | Refusal::Io(_) => "No passive port available; try again later.",
        }
    }
}

/// A bound passive port; counted in the `passive_ports_in_use` gauge and
/// against its client's quota while held.
#[derive(Debug)]
pub struct PassiveListener {
    /// The listening socket.
    pub(super) listener: TcpListener,
    _lease: Lease,
}

impl PassiveListener {
    /// Binds a free port of `range` on `ip` for `client`, starting at a random
    /// one, if `client` has not used up its quota. A refusal is counted and
    /// logged (rate-limited) here.
    pub fn bind(ip: IpAddr, range: (u16, u16), quota: &Arc<PassiveQuota>, client: IpAddr) -> Result<Self, Refusal> {
        let bound = quota.lease(client).and_then(|lease| {
            Ok(PassiveListener {
                listener: bind_in(ip, range)?,
                _lease: lease,
            })
        });
        if let Err(refusal) = &bound {
            quota.refused(refusal, client);
        }
        bound
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map_or(0, |a| a.port())
    }
}

/// Binds a free port of the range on `ip`, starting at a random one; counts it in the gauge.
fn bind_in(ip: IpAddr, (lo, hi): (u16, u16)) -> Result<TcpListener, Refusal> {
    let span = u32::from(hi.saturating_sub(lo)) + 1;
    let start = rand::random::<u32>() % span;
    for i in 0..span {
        let port = lo + u16::try_from((start + i) % span).unwrap_or(0);
        let std_listener = match std::net::TcpListener::bind(SocketAddr::new(ip, port)) {
            Ok(l) => l,
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => continue,
            Err(e) => return Err(Refusal::Io(e)),
        };
        std_listener.set_nonblocking(true).map_err(Refusal::Io)?;
        let listener = TcpListener::from_std(std_listener).map_err(Refusal::Io)?;
        metrics::gauge!(crate::metrics::PASSIVE_PORTS_IN_USE).increment(1.0);
        return Ok(listener);
    }
    Err(Refusal::Exhausted)
}

impl Drop for PassiveListener {
    fn drop(&mut self) {
        metrics::gauge!(crate::metrics::PASSIVE_PORTS_IN_USE).decrement(1.0);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    #[test]
    fn the_default_share_is_a_quarter_of_the_range_but_at_least_four() {
        assert_eq!(PassiveQuota::new(None, (30000, 30099)).per_address(), 25);
        assert_eq!(PassiveQuota::new(None, (30000, 30009)).per_address(), 4);
        assert_eq!(PassiveQuota::new(None, (30000, 30001)).per_address(), 2);
        assert_eq!(PassiveQuota::new(None, (30000, 30000)).per_address(), 1);
        assert_eq!(PassiveQuota::new(None, (40000, 40199)).per_address(), 50);
        assert_eq!(PassiveQuota::new(Some(3), (30000, 30099)).per_address(), 3);
        assert_eq!(PassiveQuota::new(Some(0), (30000, 30099)).per_address(), 0);
    }

    #[test]
    fn leases_are_counted_per_address_and_given_back() {
        let quota = Arc::new(PassiveQuota::new(Some(2), (1, 100)));
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let one = quota.lease(a).unwrap();
        let two = quota.lease(mapped).unwrap(); // the same client
        assert!(matches!(quota.lease(a), Err(Refusal::PerAddress)));
        let other = quota.lease(b).unwrap();
        drop(one);
        let again = quota.lease(a).unwrap();
        drop((two, other, again));
        assert!(quota.held.lock().unwrap().is_empty(), "entries at zero are removed");
    }

    #[test]
    fn an_ipv6_client_counts_by_its_64() {
        let quota = Arc::new(PassiveQuota::new(Some(1), (1, 100)));
        let _held = quota.lease("2001:db8:1:2::10".parse().unwrap()).unwrap();
        assert!(quota.lease("2001:db8:1:2:ffff::1".parse().unwrap()).is_err());
        assert!(quota.lease("2001:db8:1:3::10".parse().unwrap()).is_ok());
    }

    #[test]
    fn no_bound_with_zero() {
        let quota = Arc::new(PassiveQuota::new(Some(0), (1, 100)));
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let leases: Vec<_> = (0..1000).map(|_| quota.lease(ip).unwrap()).collect();
        assert_eq!(leases.len(), 1000);
    }
}
