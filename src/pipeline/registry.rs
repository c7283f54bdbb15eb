//! The handler table: which module's handler runs in which phase, for which verb,
//! in which order. Built once at start-up; a duplicate registration (same phase,
//! same verb match, same priority) is a start-up error, not a silent override.

use std::collections::HashMap;
use std::sync::Arc;

use super::handler::{Handler, Phase};

/// Which commands a handler is for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum VerbMatch {
    /// Every command.
    Any,
    /// Commands whose verb key (`Verb::key`) is this.
    Verb(String),
}

/// One row of the table.
#[derive(Clone)]
pub struct Registration {
    /// The module it belongs to (for logs and errors).
    pub module: &'static str,
    /// The phase.
    pub phase: Phase,
    /// The commands.
    pub verb: VerbMatch,
    /// Order within the phase: lower runs first.
    pub priority: i32,
    /// The handler.
    pub handler: Arc<dyn Handler>,
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{:?}:{:?}:{}", self.module, self.phase, self.verb, self.priority)
    }
}

/// A duplicate registration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "duplicate handler: module {new} registers {phase:?} {verb:?} at priority {priority}, already taken by module {existing}"
)]
pub struct DuplicateHandler {
    /// The phase.
    pub phase: Phase,
    /// The verb match.
    pub verb: VerbMatch,
    /// The priority.
    pub priority: i32,
    /// The module that registered first.
    pub existing: &'static str,
    /// The module that tried again.
    pub new: &'static str,
}

/// The built table.
#[derive(Debug, Default)]
pub struct Registry {
    any: HashMap<Phase, Vec<Registration>>,
    by_verb: HashMap<(Phase, String), Vec<Registration>>,
}

impl Registry {
    /// Builds the table from registrations, refusing duplicates.
    pub fn build(rows: impl IntoIterator<Item = Registration>) -> Result<Self, DuplicateHandler> {
        let mut reg = Registry::default();
        for row in rows {
            let list = match &row.verb {
                VerbMatch::Any => reg.any.entry(row.phase).or_default(),
                VerbMatch::Verb(v) => reg.by_verb.entry((row.phase, v.clone())).or_default(),
            };
            if let Some(existing) = list.iter().find(|r| r.priority == row.priority) {
                return Err(DuplicateHandler {
                    phase: row.phase,
                    verb: row.verb.clone(),
                    priority: row.priority,
                    existing: existing.module,
                    new: row.module,
                });
            }
            list.push(row);
            list.sort_by_key(|r| r.priority);
        }
        Ok(reg)
    }

    /// The handlers for a phase and verb key, in priority order (verb-specific and
    /// catch-all handlers interleaved by priority; at equal priority the specific
    /// one runs first).
    pub fn handlers(&self, phase: Phase, verb_key: &str) -> Vec<Arc<dyn Handler>> {
        let any = self.any.get(&phase).map(Vec::as_slice).unwrap_or_default();
        let specific = self
            .by_verb
            .get(&(phase, verb_key.to_owned()))
            .map(Vec::as_slice)
            .unwrap_or_default();
        let mut merged: Vec<&Registration> = specific.iter().chain(any.iter()).collect();
        merged.sort_by_key(|r| r.priority); // stable: specific before catch-all at equal priority
        merged.into_iter().map(|r| r.handler.clone()).collect()
    }

    /// Verb keys that have a `Cmd` handler and start with `prefix` (e.g. `"SITE "`),
    /// sorted; used by `SITE HELP` and `HELP`.
    pub fn cmd_verbs_with_prefix(&self, prefix: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .by_verb
            .keys()
            .filter(|(p, k)| *p == Phase::Cmd && k.starts_with(prefix))
            .map(|(_, k)| k.clone())
            .collect();
        v.sort();
        v
    }
}
