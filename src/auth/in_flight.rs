//! Password checks under way, by cache key: a login whose credentials are being
//! checked for another login waits for that check's outcome instead of queueing
//! a check of its own.
//!
//! 200 scanners with one account reconnecting after a restart all miss the
//! empty cache at once. Each used to take a place in the queue of checks (and
//! the ones past its end were refused with "try again later"), to find the
//! cache filled when its turn came. Now one argon2 check runs and the others
//! take its outcome — a wrong password's too: the same user and password give
//! the same answer, so a burst of one wrong guess costs one check.
//!
//! A leader whose login is abandoned before its check ends drops its
//! [`Leading`]: the waiters see the check gone and start again, one of them
//! leading.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use super::cache::CacheKey;
use super::{CheckUnavailable, User};

/// What a check found: the user, `None` for wrong credentials, or why there was
/// no check (a full queue: the waiters are refused with it, not queued one by one).
type Outcome = Result<Option<Arc<User>>, CheckUnavailable>;

/// The checks under way.
#[derive(Debug, Default)]
pub(super) struct InFlightChecks {
    checks: Mutex<HashMap<CacheKey, watch::Sender<Option<Outcome>>>>,
}

/// Whether a login checks its credentials itself or waits for another's check.
pub(super) enum Turn<'a> {
    /// No check of these credentials is under way: this login runs it.
    Lead(Leading<'a>),
    /// One is: its outcome comes through here.
    Follow(Waiting),
}

impl InFlightChecks {
    /// This login's turn for `key`.
    pub(super) fn turn(&self, key: CacheKey) -> Turn<'_> {
        let mut checks = self.checks.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match checks.entry(key) {
            Entry::Occupied(check) => Turn::Follow(Waiting(check.get().subscribe())),
            Entry::Vacant(place) => {
                place.insert(watch::channel(None).0);
                Turn::Lead(Leading {
                    checks: Some(self),
                    key,
                })
            }
        }
    }

    /// How many checks are under way (tests).
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.checks.lock().map_or(0, |c| c.len())
    }

    fn end(&self, key: &CacheKey) -> Option<watch::Sender<Option<Outcome>>> {
        self.checks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(key)
    }
}

/// The login that runs the check of its credentials; ending it (or dropping it
/// unfinished) takes the check off the list.
pub(super) struct Leading<'a> {
    /// `None` once finished: the entry may then be another leader's.
    checks: Option<&'a InFlightChecks>,
    key: CacheKey,
}

impl Leading<'_> {
    /// Hands `outcome` to the logins waiting for it.
    pub(super) fn finish(mut self, outcome: &Outcome) {
        if let Some(sender) = self.checks.take().and_then(|checks| checks.end(&self.key)) {
            sender.send_replace(Some(outcome.clone()));
        }
    }
}

impl Drop for Leading<'_> {
    fn drop(&mut self) {
        // Unfinished: the sender goes, and the waiters start again.
        if let Some(checks) = self.checks.take() {
            checks.end(&self.key);
        }
    }
}

/// A login waiting for another's check of the same credentials.
pub(super) struct Waiting(watch::Receiver<Option<Outcome>>);

impl Waiting {
    /// The check's outcome; `None` when it was abandoned before it ended.
    pub(super) async fn outcome(mut self) -> Option<Outcome> {
        self.0.wait_for(Option::is_some).await.ok().and_then(|o| o.clone())
    }
}
