//! Which upstream, account and root a dualgate user gets (`credentials:`,
//! `map`, `login_hosts`), and the checks of those keys against `users:`.
//!
//! - `static`: everyone uses the service account on the default upstream.
//! - `map`: dualgate checks the password (the user file); the user's `map`
//!   entry names the upstream (default: `default`), the upstream account and
//!   its password, and the root; a user without an entry uses the service
//!   account on the default upstream.
//! - `passthrough`: the upstream checks the password. The login name is the
//!   upstream user; a `map` entry of that name may route it to another upstream
//!   and root. With `login_hosts`, `user@host` picks the upstream — only one on
//!   the list (by its name, its host, or `host:port`); any other `@host` is
//!   refused like a wrong password (never a relay to a host the config does
//!   not name).

use std::collections::BTreeMap;

use super::settings::{password_problems, read_password, root_problem, valid_upstream_user};
use crate::auth::BackendAccount;
use crate::config::{Config, StorageConfig, UpstreamCredentials, UpstreamFtpConfig, UpstreamMapEntry};

/// The name of the section's own upstream.
pub const DEFAULT_UPSTREAM: &str = "default";

/// Where a pass-through login goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The upstream's name.
    pub upstream: String,
    /// The user name sent to it.
    pub user: String,
    /// The root there (`None`: the upstream's).
    pub root: Option<String>,
}

/// The routing of pass-through logins.
#[derive(Debug, Clone)]
pub struct Routing {
    map: BTreeMap<String, UpstreamMapEntry>,
    /// `login_hosts`: what may follow an `@` (lower case), and the upstream it means.
    hosts: Vec<(String, String)>,
}

impl Routing {
    /// The routing of a checked section.
    pub fn new(c: &UpstreamFtpConfig) -> Routing {
        let mut hosts = Vec::new();
        for entry in &c.login_hosts {
            if let Some((name, (host, port))) = servers(c).into_iter().find(|(n, (h, p))| entry_names(entry, n, h, *p))
            {
                // An upstream allowed is reachable by its name, host and host:port alike.
                let host = host.to_ascii_lowercase();
                for word in [name.to_ascii_lowercase(), format!("{host}:{port}"), host] {
                    hosts.push((word, name.to_owned()));
                }
            }
        }
        Routing {
            map: c.map.clone(),
            hosts,
        }
    }

    /// Whether `user@host` logins are taken at all.
    pub fn takes_hosts(&self) -> bool {
        !self.hosts.is_empty()
    }

    /// Where the pass-through login `login` goes; `Err` with the reason when it
    /// names an upstream that is not allowed.
    pub fn route(&self, login: &str) -> Result<Route, String> {
        if self.takes_hosts()
            && let Some((user, host)) = login.rsplit_once('@')
        {
            let word = host.to_ascii_lowercase();
            return match self.hosts.iter().find(|(w, _)| *w == word) {
                Some((_, upstream)) if !user.is_empty() => Ok(Route {
                    upstream: upstream.clone(),
                    user: user.to_owned(),
                    root: self.map.get(login).and_then(|e| e.root.clone()),
                }),
                Some(_) => Err("an empty user name before the @".to_owned()),
                None => Err(format!("`{host}` is not in storage.login_hosts")),
            };
        }
        let entry = self.map.get(login);
        Ok(Route {
            upstream: entry
                .and_then(|e| e.upstream.clone())
                .unwrap_or_else(|| DEFAULT_UPSTREAM.to_owned()),
            user: login.to_owned(),
            root: entry.and_then(|e| e.root.clone()),
        })
    }
}

/// Whether a `login_hosts` entry (or what follows an `@`) names the upstream
/// `name` at `host`:`port`.
fn entry_names(entry: &str, name: &str, host: &str, port: u16) -> bool {
    entry.eq_ignore_ascii_case(name)
        || entry.eq_ignore_ascii_case(host)
        || entry.eq_ignore_ascii_case(&format!("{host}:{port}"))
}

/// The upstreams of a section by name: (host, port).
fn servers(c: &UpstreamFtpConfig) -> Vec<(&str, (String, u16))> {
    let mut out = vec![(DEFAULT_UPSTREAM, (c.host.trim().to_owned(), c.port))];
    out.extend(
        c.upstreams
            .iter()
            .map(|(n, s)| (n.as_str(), (s.host.trim().to_owned(), s.port))),
    );
    out
}

/// The upstream account of the configured user `name` with `credentials: map`:
/// its `map` entry, its password read (a file is read again at every reload);
/// `None` without an entry (the service account serves it) or in another mode.
pub fn mapped_account(config: &Config, name: &str) -> Result<Option<BackendAccount>, String> {
    let StorageConfig::UpstreamFtp(c) = &config.storage else {
        return Ok(None);
    };
    if c.credentials != UpstreamCredentials::Map {
        return Ok(None);
    }
    let Some(entry) = c.map.get(name) else { return Ok(None) };
    let password = read_password(
        &format!("storage.map.{name}.password"),
        entry.password.as_ref(),
        entry.password_file.as_deref(),
    )?;
    Ok(Some(BackendAccount {
        upstream: entry.upstream.clone().unwrap_or_else(|| DEFAULT_UPSTREAM.to_owned()),
        user: entry.user.clone().unwrap_or_else(|| name.to_owned()),
        password,
        root: entry.root.clone(),
    }))
}

/// The problems of the credential keys, as `(key, reason)`: the section's
/// `map` and `login_hosts` against its upstreams and the `users:` and
/// `anonymous:` sections. (The section's own keys are checked by
/// [`UpstreamSettings::problems`](super::UpstreamSettings::problems).)
pub fn problems(config: &Config) -> Vec<(String, String)> {
    let StorageConfig::UpstreamFtp(c) = &config.storage else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let names: Vec<&str> = servers(c).into_iter().map(|(n, _)| n).collect();
    let service = c.user.is_some();
    let mode = c.credentials;
    if mode == UpstreamCredentials::Static && !c.map.is_empty() {
        out.push((
            "storage.map".to_owned(),
            "needs credentials: map or passthrough (with static, everyone uses the service account)".to_owned(),
        ));
    }
    for (name, e) in &c.map {
        let key = |k: &str| format!("storage.map.{name}.{k}");
        if let Some(up) = &e.upstream
            && !names.contains(&up.as_str())
        {
            out.push((
                key("upstream"),
                format!("no upstream named `{up}` (there are: {})", names.join(", ")),
            ));
        }
        if let Some(root) = &e.root
            && let Some(bad) = root_problem(root)
        {
            out.push((key("root"), bad));
        }
        match mode {
            UpstreamCredentials::Map => {
                if !config.users.iter().any(|u| &u.name == name) {
                    out.push((
                        format!("storage.map.{name}"),
                        "not a user in users: (with credentials: map, dualgate checks the password)".to_owned(),
                    ));
                }
                if e.user.as_deref().is_some_and(|u| !valid_upstream_user(u)) {
                    out.push((key("user"), "must be a non-empty user name on one line".to_owned()));
                }
                out.extend(password_problems(
                    &format!("storage.map.{name}"),
                    e.password.as_ref(),
                    e.password_file.as_deref(),
                    true,
                ));
            }
            UpstreamCredentials::Passthrough => {
                if e.user.is_some() || e.password.is_some() || e.password_file.is_some() {
                    out.push((
                        format!("storage.map.{name}"),
                        "with credentials: passthrough the client's own user and password are used: give only upstream and root"
                            .to_owned(),
                    ));
                }
            }
            UpstreamCredentials::Static => {}
        }
    }
    if mode == UpstreamCredentials::Map && !service {
        for (i, u) in config.users.iter().enumerate() {
            if !c.map.contains_key(&u.name) {
                out.push((
                    format!("users[{i}]"),
                    format!(
                        "`{}` has no storage.map entry and there is no service account (storage.user) to fall back on",
                        u.name
                    ),
                ));
            }
        }
    }
    if mode == UpstreamCredentials::Passthrough {
        for (i, u) in config.users.iter().enumerate() {
            if u.password_hash.is_some() {
                out.push((
                    format!("users[{i}].password_hash"),
                    "with storage.credentials: passthrough the upstream checks passwords: remove it (the entry gives home and permissions only)"
                        .to_owned(),
                ));
            }
        }
    }
    if mode != UpstreamCredentials::Static && config.anonymous.enabled && !service {
        out.push((
            "anonymous.enabled".to_owned(),
            "anonymous access on an upstream needs the service account (storage.user)".to_owned(),
        ));
    }
    if !c.login_hosts.is_empty() && mode != UpstreamCredentials::Passthrough {
        out.push((
            "storage.login_hosts".to_owned(),
            "user@host logins need credentials: passthrough".to_owned(),
        ));
    }
    for (i, entry) in c.login_hosts.iter().enumerate() {
        let known = servers(c)
            .iter()
            .any(|(n, (host, port))| entry_names(entry, n, host, *port));
        if !known {
            out.push((
                format!("storage.login_hosts[{i}]"),
                format!("`{entry}` is not the name, host or host:port of an upstream in this section (only those can be reached)"),
            ));
        }
    }
    // Pools are per host, port and user: upstreams sharing a host and port
    // share pools, so they must talk to it the same way.
    let servers_by_name: Vec<_> = std::iter::once((DEFAULT_UPSTREAM, c.default_server()))
        .chain(c.upstreams.iter().map(|(n, s)| (n.as_str(), s.clone())))
        .collect();
    for (i, (a, sa)) in servers_by_name.iter().enumerate() {
        for (b, sb) in &servers_by_name[i + 1..] {
            let same_place = sa.host.trim().eq_ignore_ascii_case(sb.host.trim()) && sa.port == sb.port;
            let same_way = sa.tls == sb.tls
                && sa.ca_file == sb.ca_file
                && sa.tls_server_name == sb.tls_server_name
                && sa.data_mode == sb.data_mode
                && sa.list == sb.list
                && sa.passive_nat_workaround == sb.passive_nat_workaround
                && sa.max_connections == sb.max_connections;
            if same_place && !same_way {
                out.push((
                    format!("storage.upstreams.{b}"),
                    format!("same host and port as `{a}` but other connection settings (only root may differ: they share connections)"),
                ));
            }
        }
    }
    out
}
