//! The modules of the pipeline and THE registration table that orders them.
//!
//! | phase    | verb          | prio | module        | does                                   |
//! |----------|---------------|------|---------------|----------------------------------------|
//! | PRE_CMD  | any           | 0    | auth          | login required? check HTTP credentials |
//! | PRE_CMD  | any           | 10   | permissions   | refused names; user permissions (default deny) |
//! | PRE_CMD  | changing verbs| 40   | locks         | WebDAV locks: the tokens submitted cover what changes |
//! | CMD      | USER, LOGIN   | 0    | auth          | FTP login                              |
//! | CMD      | storage verbs | 0    | files         | storage operations and transfers       |
//! | CMD      | SITE CHMOD    | 0    | site          | permission bits (back-ends with modes) |
//! | CMD      | SITE HELP     | 0    | site          | lists SITE subcommands                 |
//! | CMD      | MFMT, MFF     | 0    | times         | modification times (back-ends that set them) |
//! | CMD      | protocol verbs| 0    | ftp / http    | front-end specific verbs               |
//! | POST_CMD | DELETE, RMD, rename | 0 | locks        | a removed or moved resource loses its locks |
//! | LOG_CMD  | any           | 0    | log           | metrics and access log                 |
//!
//! Front-ends add their protocol-verb rows through [`Table::extend`]; a custom
//! module adds its rows the same way (see the pipeline tests for one).

pub mod auth;
pub mod files;
pub mod locks;
pub mod log;
pub mod permissions;
pub mod site;
pub mod times;

use std::sync::Arc;

use crate::auth::{Authenticator, LoginThrottle};
use crate::command::Verb;
use crate::pipeline::{Handler, Phase, Registration, VerbMatch};
use crate::storage::Volumes;

/// A registration table under construction.
#[derive(Debug, Default)]
pub struct Table(pub Vec<Registration>);

impl Table {
    /// Adds one row.
    pub fn row(
        &mut self,
        module: &'static str,
        phase: Phase,
        verb: Option<&Verb>,
        priority: i32,
        handler: Arc<dyn Handler>,
    ) {
        self.0.push(Registration {
            module,
            phase,
            verb: verb.map_or(VerbMatch::Any, |v| VerbMatch::Verb(v.key().into_owned())),
            priority,
            handler,
        });
    }

    /// Adds another table's rows.
    pub fn extend(&mut self, other: Table) {
        self.0.extend(other.0);
    }

    /// The SITE subcommands registered so far.
    pub fn site_commands(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .0
            .iter()
            .filter_map(|r| match &r.verb {
                VerbMatch::Verb(k) if r.phase == Phase::Cmd => k.strip_prefix("SITE ").map(str::to_owned),
                _ => None,
            })
            .collect();
        v.push("HELP".into());
        v.sort();
        v.dedup();
        v
    }
}

/// The shared modules' rows. Storage handlers work on the session's volume;
/// what they register depends on what the back-end's volumes may do (no `SITE
/// CHMOD` where modes cannot be changed); a volume that cannot refuses up front.
pub fn core_table(
    volumes: Arc<Volumes>,
    users: Arc<dyn Authenticator>,
    throttle: Arc<LoginThrottle>,
    transfer_log: Option<Arc<crate::xferlog::TransferLog>>,
) -> Table {
    let mut t = Table::default();
    let capabilities = volumes.capabilities();
    let auth = Arc::new(auth::Auth::new(users, throttle, volumes));
    t.row(
        "auth",
        Phase::PreCmd,
        None,
        0,
        Arc::new(auth::RequireLogin(auth.clone())),
    );
    t.row("auth", Phase::Cmd, Some(&Verb::User), 0, auth.clone());
    t.row("auth", Phase::Cmd, Some(&Verb::Login), 0, auth);
    if capabilities.set_modes {
        t.row(
            "site",
            Phase::Cmd,
            Some(&Verb::Site("CHMOD".into())),
            0,
            Arc::new(site::SiteChmod),
        );
    }
    if capabilities.set_modified_times {
        t.row(
            "times",
            Phase::Cmd,
            Some(&Verb::SetModified),
            0,
            Arc::new(times::SetModified),
        );
    }
    let files = Arc::new(files::Files);
    for verb in &files::VERBS {
        t.row("files", Phase::Cmd, Some(verb), 0, files.clone());
    }
    t.row(
        "log",
        Phase::LogCmd,
        None,
        0,
        Arc::new(log::LogCommand::new(transfer_log)),
    );
    t
}

/// Adds what needs the whole table: `SITE HELP` (it lists every SITE
/// subcommand registered before it) and the permission check (it refuses a
/// handled command that names a path but has no rule).
pub fn finish(mut t: Table) -> Table {
    let subcommands = t.site_commands();
    t.row(
        "site",
        Phase::Cmd,
        Some(&Verb::Site("HELP".into())),
        0,
        Arc::new(site::SiteHelp { subcommands }),
    );
    let handled: Vec<String> =
        t.0.iter()
            .filter_map(|r| match &r.verb {
                VerbMatch::Verb(k) if r.phase == Phase::Cmd => Some(k.clone()),
                _ => None,
            })
            .collect();
    t.row(
        "permissions",
        Phase::PreCmd,
        None,
        10,
        Arc::new(permissions::Permissions::new(handled)),
    );
    t
}
