//! Login throttling per client address, the same for FTP and HTTP.
//!
//! Each failed login from an address counts against it. Past `delay_after`
//! failures the reply to each further failure is held back, 1 s, 2 s, 4 s … (at
//! most [`MAX_DELAY`]); at `ban_after` failures the address is banned for
//! `ban_for`: its logins are refused before any password is checked (FTP `421` and
//! the connection closes, HTTP `429`), and new FTP connections from it get `421`.
//! A success clears the count; so does a quiet `ban_for` without failures.
//!
//! IPv6 clients are counted per /64, the block one host usually holds, so that
//! rotating through a host's addresses does not reset the count. The table is
//! bounded ([`MAX_ADDRESSES`]); when it is full, entries with nothing to remember
//! go first, then the ones that are neither banned nor delayed, so a flood from
//! many addresses cannot grow memory or lift a ban.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Longest delay before a failed login is answered.
pub const MAX_DELAY: Duration = Duration::from_secs(16);
/// Most addresses remembered at once (about 40 bytes each).
pub const MAX_ADDRESSES: usize = 65_536;

/// Throttling settings (`limits.login_failures`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Failures answered at once; later ones are delayed.
    pub delay_after: u32,
    /// Failures that ban the address (0: never).
    pub ban_after: u32,
    /// Length of a ban, and how long failures are remembered.
    pub ban_for: Duration,
}

/// What happens after a failed login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Penalty {
    /// Answer after this long (zero: at once).
    Delay(Duration),
    /// The address has just been banned.
    Banned,
}

#[derive(Debug, Clone, Copy)]
struct Record {
    failures: u32,
    last_failure: Instant,
    banned_until: Option<Instant>,
}

/// The per-address failure table.
#[derive(Debug)]
pub struct LoginThrottle {
    policy: ThrottlePolicy,
    capacity: usize,
    records: Mutex<HashMap<IpAddr, Record>>,
}

/// The key an address is counted under: itself for IPv4 (and IPv4-mapped IPv6),
/// its /64 for IPv6.
fn bucket(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
    }
}

impl LoginThrottle {
    /// A throttle with the default capacity.
    pub fn new(policy: ThrottlePolicy) -> Self {
        Self::with_capacity(policy, MAX_ADDRESSES)
    }

    /// A throttle remembering at most `capacity` addresses.
    pub fn with_capacity(policy: ThrottlePolicy, capacity: usize) -> Self {
        LoginThrottle {
            policy,
            capacity: capacity.max(1),
            records: Mutex::new(HashMap::new()),
        }
    }

    /// How long `ip` stays banned, if it is.
    pub fn banned(&self, ip: IpAddr) -> Option<Duration> {
        self.banned_at(ip, Instant::now())
    }

    fn banned_at(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let records = self.records.lock().ok()?;
        let until = records.get(&bucket(ip))?.banned_until?;
        until.checked_duration_since(now).filter(|d| !d.is_zero())
    }

    /// Counts a failed login from `ip` and says what to do about it.
    pub fn failure(&self, ip: IpAddr) -> Penalty {
        self.failure_at(ip, Instant::now())
    }

    fn failure_at(&self, ip: IpAddr, now: Instant) -> Penalty {
        let Ok(mut records) = self.records.lock() else {
            return Penalty::Delay(Duration::ZERO);
        };
        let key = bucket(ip);
        if !records.contains_key(&key) && records.len() >= self.capacity {
            self.make_room(&mut records, now);
        }
        let policy = self.policy;
        let record = records.entry(key).or_insert(Record {
            failures: 0,
            last_failure: now,
            banned_until: None,
        });
        // Failures older than a ban's length are forgotten; so is an ended ban.
        if now.saturating_duration_since(record.last_failure) >= policy.ban_for
            || record.banned_until.is_some_and(|until| until <= now)
        {
            record.failures = 0;
            record.banned_until = None;
        }
        record.failures = record.failures.saturating_add(1);
        record.last_failure = now;
        if policy.ban_after > 0 && record.failures >= policy.ban_after {
            record.banned_until = Some(now + policy.ban_for);
            return Penalty::Banned;
        }
        Penalty::Delay(delay_for(record.failures, policy.delay_after))
    }

    /// A successful login from `ip` clears its failures (not a ban: a banned
    /// address gets no password checked).
    pub fn success(&self, ip: IpAddr) {
        if let Ok(mut records) = self.records.lock() {
            let key = bucket(ip);
            if records.get(&key).is_some_and(|r| r.banned_until.is_none()) {
                records.remove(&key);
            }
        }
    }

    /// Addresses remembered now.
    pub fn len(&self) -> usize {
        self.records.lock().map_or(0, |r| r.len())
    }

    /// True when no address is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Frees at least one slot: first what has expired, then entries that are
    /// neither banned nor past `delay_after`, then (only if everything left is a
    /// penalty) the entry whose last failure is oldest.
    fn make_room(&self, records: &mut HashMap<IpAddr, Record>, now: Instant) {
        let policy = self.policy;
        let expired = |r: &Record| match r.banned_until {
            Some(until) => until <= now,
            None => now.saturating_duration_since(r.last_failure) >= policy.ban_for,
        };
        records.retain(|_, r| !expired(r));
        if records.len() < self.capacity {
            return;
        }
        // Keep a tenth free so that a flood does not rescan the table every time.
        let target = self.capacity - self.capacity / 10 - 1;
        let mild: Vec<IpAddr> = records
            .iter()
            .filter(|(_, r)| r.banned_until.is_none() && r.failures <= policy.delay_after)
            .map(|(k, _)| *k)
            .take(records.len().saturating_sub(target))
            .collect();
        for k in mild {
            records.remove(&k);
        }
        while records.len() >= self.capacity {
            let Some(oldest) = records.iter().min_by_key(|(_, r)| r.last_failure).map(|(k, _)| *k) else {
                break;
            };
            records.remove(&oldest);
        }
    }
}

/// The delay after the `failures`-th failure: none up to `delay_after`, then 1 s
/// doubling up to [`MAX_DELAY`].
fn delay_for(failures: u32, delay_after: u32) -> Duration {
    match failures.checked_sub(delay_after) {
        None | Some(0) => Duration::ZERO,
        Some(n) => Duration::from_secs(1u64 << (n - 1).min(4)).min(MAX_DELAY),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    const POLICY: ThrottlePolicy = ThrottlePolicy {
        delay_after: 3,
        ban_after: 10,
        ban_for: Duration::from_secs(900),
    };

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn delays_grow_then_the_address_is_banned_and_others_are_not() {
        let t = LoginThrottle::new(POLICY);
        let now = Instant::now();
        let a = ip("127.0.0.2");
        let penalties: Vec<Penalty> = (0..10).map(|_| t.failure_at(a, now)).collect();
        let secs = |n| Penalty::Delay(Duration::from_secs(n));
        assert_eq!(
            penalties,
            vec![
                secs(0),
                secs(0),
                secs(0),
                secs(1),
                secs(2),
                secs(4),
                secs(8),
                secs(16),
                secs(16),
                Penalty::Banned
            ]
        );
        assert_eq!(t.banned_at(a, now), Some(Duration::from_secs(900)));
        assert_eq!(t.banned_at(ip("127.0.0.3"), now), None);
        // A success does not lift a ban; its end does, and the count starts over.
        t.success(a);
        assert!(t.banned_at(a, now + Duration::from_secs(899)).is_some());
        let later = now + Duration::from_secs(900);
        assert_eq!(t.banned_at(a, later), None);
        assert_eq!(t.failure_at(a, later), secs(0));
    }

    #[test]
    fn success_and_quiet_time_clear_failures() {
        let t = LoginThrottle::new(POLICY);
        let now = Instant::now();
        let a = ip("10.0.0.1");
        for _ in 0..3 {
            t.failure_at(a, now);
        }
        assert_eq!(t.failure_at(a, now), Penalty::Delay(Duration::from_secs(1)));
        t.success(a);
        assert!(t.is_empty());
        for _ in 0..4 {
            t.failure_at(a, now);
        }
        let quiet = now + POLICY.ban_for;
        assert_eq!(t.failure_at(a, quiet), Penalty::Delay(Duration::ZERO));
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() {
        let t = LoginThrottle::new(ThrottlePolicy { ban_after: 2, ..POLICY });
        let now = Instant::now();
        t.failure_at(ip("2001:db8:1:2::1"), now);
        assert_eq!(t.failure_at(ip("2001:db8:1:2:ffff::9"), now), Penalty::Banned);
        assert!(t.banned_at(ip("2001:db8:1:2::abcd"), now).is_some());
        assert!(t.banned_at(ip("2001:db8:1:3::1"), now).is_none());
        t.failure_at(ip("::ffff:192.0.2.7"), now);
        assert_eq!(t.failure_at(ip("192.0.2.7"), now), Penalty::Banned);
    }

    #[test]
    fn the_table_is_bounded_and_a_flood_does_not_lift_bans() {
        let t = LoginThrottle::with_capacity(ThrottlePolicy { ban_after: 2, ..POLICY }, 100);
        let now = Instant::now();
        let banned = ip("198.51.100.1");
        t.failure_at(banned, now);
        assert_eq!(t.failure_at(banned, now), Penalty::Banned);
        for i in 0..10_000u32 {
            t.failure_at(IpAddr::V4(i.into()), now);
            assert!(t.len() <= 100);
        }
        assert!(t.banned_at(banned, now).is_some());
    }

    #[test]
    fn ban_after_zero_never_bans() {
        let t = LoginThrottle::new(ThrottlePolicy { ban_after: 0, ..POLICY });
        let now = Instant::now();
        let a = ip("127.0.0.9");
        for _ in 0..50 {
            assert_ne!(t.failure_at(a, now), Penalty::Banned);
        }
        assert_eq!(t.failure_at(a, now), Penalty::Delay(MAX_DELAY));
    }
}
