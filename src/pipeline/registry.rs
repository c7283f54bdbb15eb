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
#[derive(Default)]
pub struct Registry {
    any: HashMap<Phase, Vec<Registration>>,
    by_verb: HashMap<(Phase, String), Vec<Registration>>,
    /// The merged, ordered handler lists, computed once at build time so that a
    /// command's dispatch allocates nothing: per verb key, one list per phase.
    merged: HashMap<String, PhaseLists>,
    /// The lists for a verb without specific handlers (catch-all only).
    catch_all: PhaseLists,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("any", &self.any)
            .field("by_verb", &self.by_verb)
            .finish_non_exhaustive()
    }
}

/// One ordered handler list per phase.
type PhaseLists = [Arc<[Arc<dyn Handler>]>; Phase::COUNT];

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
        let verbs: Vec<String> = reg.by_verb.keys().map(|(_, v)| v.clone()).collect();
        for verb in verbs {
            let lists = Phase::ALL.map(|phase| reg.merge(phase, Some(&verb)));
            reg.merged.insert(verb, lists);
        }
        reg.catch_all = Phase::ALL.map(|phase| reg.merge(phase, None));
        Ok(reg)
    }

    /// Verb-specific and catch-all handlers interleaved by priority; at equal
    /// priority the specific one runs first (the sort is stable).
    fn merge(&self, phase: Phase, verb_key: Option<&str>) -> Arc<[Arc<dyn Handler>]> {
        let any = self.any.get(&phase).map(Vec::as_slice).unwrap_or_default();
        let specific = verb_key
            .and_then(|v| self.by_verb.get(&(phase, v.to_owned())))
            .map(Vec::as_slice)
            .unwrap_or_default();
        let mut merged: Vec<&Registration> = specific.iter().chain(any.iter()).collect();
        merged.sort_by_key(|r| r.priority);
        merged.into_iter().map(|r| r.handler.clone()).collect()
    }

    /// The handlers for a phase and verb key, in priority order (verb-specific and
    /// catch-all handlers interleaved by priority; at equal priority the specific
    /// one runs first).
    ///
    /// Borrowed, not shared: a command's dispatch touches no reference count the
    /// other worker threads are touching too.
    pub fn handlers(&self, phase: Phase, verb_key: &str) -> &[Arc<dyn Handler>] {
        let lists = self.merged.get(verb_key).unwrap_or(&self.catch_all);
        &lists[phase.index()]
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
