//! What a reload cannot apply: the settings, other than users and anonymous
//! access, that changed since start-up (they need a restart, and a reload says so).

use std::fmt;

use crate::config::Config;

impl Config {
    /// The settings that `reloaded` changes but the running server reads only at
    /// start-up, by key (`ftp.listen`, `storage`, …): everything except `users` and
    /// `anonymous`, which a reload (SIGHUP) puts in force. A change in a key not
    /// named below is reported by its section (or as `other settings` outside every
    /// section), so that a key added later is not silently ignored either.
    pub fn changes_needing_restart(&self, reloaded: &Config) -> Vec<&'static str> {
        let mut changed: Vec<&'static str> = start_up_keys(self)
            .into_iter()
            .zip(start_up_keys(reloaded))
            .filter(|((_, a), (_, b))| a != b)
            .map(|((key, _), _)| key)
            .collect();
        for ((section, a), (_, b)) in start_up_sections(self).into_iter().zip(start_up_sections(reloaded)) {
            if a != b && !changed.iter().any(|k| k.split('.').next() == Some(section)) {
                changed.push(section);
            }
        }
        let mut rest = reloaded.clone();
        rest.users.clone_from(&self.users);
        rest.anonymous.clone_from(&self.anonymous);
        if changed.is_empty() && debug(&rest) != debug(self) {
            changed.push("other settings");
        }
        changed
    }
}

/// A value's `Debug` text, to compare config values: every config type derives
/// `Debug` (not all derive `PartialEq`), and it shows every field except secrets
/// (`***`), so a changed secret alone is not noticed.
fn debug(value: &dyn fmt::Debug) -> String {
    format!("{value:?}")
}

/// The keys read only at start-up, each with its value.
fn start_up_keys(c: &Config) -> Vec<(&'static str, String)> {
    let (ftp, http, l) = (&c.ftp, &c.http, &c.limits);
    vec![
        ("ftp.listen", debug(&ftp.listen)),
        ("ftp.passive_ports", debug(&ftp.passive_ports)),
        ("ftp.passive_ports_per_address", debug(&ftp.passive_ports_per_address)),
        ("ftp.public_address", debug(&ftp.public_address)),
        ("ftp.public_address_by_network", debug(&ftp.public_address_by_network)),
        ("ftp.tls", debug(&ftp.tls)),
        ("http.listen", debug(&http.listen)),
        ("http.tls", debug(&http.tls)),
        ("http.realm", debug(&http.realm)),
        ("http.max_header_bytes", debug(&http.max_header_bytes)),
        ("http.max_headers", debug(&http.max_headers)),
        ("http.threads", debug(&http.threads)),
        ("admin.listen", debug(&c.admin.listen)),
        ("storage", debug(&c.storage)),
        ("xferlog", debug(&c.xferlog)),
        (
            "proxy_protocol.trusted_networks",
            debug(&c.proxy_protocol.trusted_networks),
        ),
        ("limits.max_connections", debug(&l.max_connections)),
        (
            "limits.max_connections_per_address",
            debug(&l.max_connections_per_address),
        ),
        ("limits.idle_timeout", debug(&l.idle_timeout)),
        ("limits.login_timeout", debug(&l.login_timeout)),
        ("limits.data_timeout", debug(&l.data_timeout)),
        ("limits.max_command_line", debug(&l.max_command_line)),
        ("limits.login_failures", debug(&l.login_failures)),
        ("limits.max_blocking_threads", debug(&l.max_blocking_threads)),
        ("shutdown.drain_timeout", debug(&c.shutdown.drain_timeout)),
    ]
}

/// The sections read only at start-up, each with its value.
fn start_up_sections(c: &Config) -> Vec<(&'static str, String)> {
    vec![
        ("ftp", debug(&c.ftp)),
        ("http", debug(&c.http)),
        ("admin", debug(&c.admin)),
        ("storage", debug(&c.storage)),
        ("xferlog", debug(&c.xferlog)),
        ("proxy_protocol", debug(&c.proxy_protocol)),
        ("limits", debug(&c.limits)),
        ("shutdown", debug(&c.shutdown)),
    ]
}
