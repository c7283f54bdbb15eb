//! Reading a config: YAML text → [`Config`], environment overrides, validation, and
//! errors that say where and why without repeating the file's text or a secret; and,
//! for a reload, which changed settings the running server cannot take.
//!
//! Before the typed parse, one walk over the document refuses what serde would accept
//! quietly or place badly: a document without settings (empty, blank or only
//! comments — a truncated file must not become "all defaults") and a key repeated in
//! one mapping (reported at its second occurrence, not at the enclosing mapping):
//! `load/document.rs`. What a reload cannot apply: `load/restart.rs`.

use std::path::{Path, PathBuf};

use super::Config;
use crate::path::VirtualPath;

/// The config's top-level sections: `DUALGATE_<SECTION>` may replace one whole.
const SECTIONS: &[&str] = &[
    "ftp",
    "http",
    "admin",
    "storage",
    "users",
    "anonymous",
    "limits",
    "shutdown",
];

/// Whether an environment variable is a config override: `DUALGATE_` followed by a
/// key path with `__` between levels, or by a top-level section name. Anything
/// else (`DUALGATE_PASSWORD`, `DUALGATE_LOG_LEVEL`, a deployment's own
/// `DUALGATE_BIN`) is not config and is left alone; a path with `__` that names no
/// key is an error, so typos in real overrides are still caught.
fn is_override(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("DUALGATE_") else {
        return false;
    };
    rest.contains("__") || SECTIONS.contains(&rest.to_ascii_lowercase().as_str())
}

/// One problem in a config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where: `FILE:LINE:COLUMN`, `FILE: key.path`, or `environment DUALGATE_X`.
    pub location: String,
    /// A plain reason.
    pub reason: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.location, self.reason)
    }
}

/// A config that could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The config has problems.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<Problem>),
}

/// Removes quoted values from a serde_yaml message: the message must not repeat
/// the file's content (a value there may be a secret). Key names (in backticks)
/// and the expectation stay.
fn redact(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut in_quotes = false;
    for c in message.chars() {
        match (c, in_quotes) {
            ('"', false) => {
                in_quotes = true;
                out.push_str("a value");
            }
            ('"', true) => in_quotes = false,
            (_, true) => {}
            (c, false) => out.push(c),
        }
    }
    // serde_yaml appends " at line L column C"; the location is reported separately.
    match out.find(" at line ") {
        Some(i) => out[..i].to_owned(),
        None => out,
    }
}

fn yaml_problem(source: &str, err: &serde_yaml::Error) -> Problem {
    let location = match err.location() {
        Some(l) => format!("{source}:{}:{}", l.line(), l.column()),
        None => source.to_owned(),
    };
    Problem {
        location,
        reason: redact(&err.to_string()),
    }
}

/// Why a document without settings is refused.
const EMPTY: &str = "the file is empty (no settings, only blank lines or comments); write `{}` for all the defaults";

/// Parses config text; `source` names it in errors (a file path or `<embedded default>`).
///
/// A text without settings (empty, blank, only comments: YAML null) is an error at
/// `1:1`, not all defaults: a file truncated, or read while being rewritten, must not
/// replace a working config. A key given twice in one mapping is an error at its
/// second occurrence.
pub fn load_str(text: &str, source: &str) -> Result<Config, ConfigError> {
    let invalid = |e: &serde_yaml::Error| ConfigError::Invalid(vec![yaml_problem(source, e)]);
    match serde_yaml::from_str::<document::Node>(text) {
        Ok(document::Node::Null) => Err(ConfigError::Invalid(vec![Problem {
            location: format!("{source}:1:1"),
            reason: EMPTY.to_owned(),
        }])),
        Ok(document::Node::Value) => serde_yaml::from_str(text).map_err(|e| invalid(&e)),
        Err(e) => Err(invalid(&e)),
    }
}

/// Reads and parses a config file, applies `DUALGATE_*` overrides from `env`, and
/// validates the result.
pub fn load(path: Option<&Path>, env: impl IntoIterator<Item = (String, String)>) -> Result<Config, ConfigError> {
    let (text, source) = match path {
        Some(p) => (
            std::fs::read_to_string(p).map_err(|e| ConfigError::Read {
                path: p.to_path_buf(),
                source: e,
            })?,
            p.display().to_string(),
        ),
        None => (super::DEFAULT_CONFIG.to_owned(), "<embedded default config>".to_owned()),
    };
    let config = load_str(&text, &source)?;
    let config = apply_env(config, &text, env)?;
    let problems = config.validate(&source);
    if problems.is_empty() {
        Ok(config)
    } else {
        Err(ConfigError::Invalid(problems))
    }
}

/// Applies `DUALGATE_SECTION__KEY=value` overrides (path segments joined by `__`,
/// values parsed as YAML scalars or flow collections), e.g.
/// `DUALGATE_FTP__LISTEN=0.0.0.0:21`, `DUALGATE_LIMITS__LOGIN_FAILURES__BAN_AFTER=5`.
pub fn apply_env(
    config: Config,
    text: &str,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Config, ConfigError> {
    let overrides: Vec<(String, String)> = env.into_iter().filter(|(k, _)| is_override(k)).collect();
    if overrides.is_empty() {
        return Ok(config);
    }
    let mut root: serde_yaml::Value = if text.trim().is_empty() {
        serde_yaml::Value::Mapping(Default::default())
    } else {
        serde_yaml::from_str(text).map_err(|e| ConfigError::Invalid(vec![yaml_problem("config", &e)]))?
    };
    let mut problems = Vec::new();
    for (key, value) in &overrides {
        let path: Vec<String> = key["DUALGATE_".len()..]
            .split("__")
            .map(str::to_ascii_lowercase)
            .collect();
        let parsed: serde_yaml::Value = match serde_yaml::from_str(value) {
            Ok(v) => v,
            Err(_) => serde_yaml::Value::String(value.clone()),
        };
        if let Err(reason) = set_path(&mut root, &path, parsed) {
            problems.push(Problem {
                location: format!("environment {key}"),
                reason,
            });
        }
    }
    if !problems.is_empty() {
        return Err(ConfigError::Invalid(problems));
    }
    serde_yaml::from_value(root).map_err(|e| {
        ConfigError::Invalid(vec![Problem {
            location: format!(
                "environment overrides ({})",
                overrides.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>().join(", ")
            ),
            reason: redact(&e.to_string()),
        }])
    })
}

fn set_path(root: &mut serde_yaml::Value, path: &[String], value: serde_yaml::Value) -> Result<(), String> {
    let Some((last, parents)) = path.split_last() else {
        return Err("empty key".into());
    };
    if path.iter().any(String::is_empty) {
        return Err("empty key segment (use __ between keys)".into());
    }
    let mut node = root;
    for seg in parents {
        let map = node
            .as_mapping_mut()
            .ok_or_else(|| format!("`{seg}` is not a section"))?;
        let key = serde_yaml::Value::String(seg.clone());
        if !map.contains_key(&key) || map.get(&key).is_some_and(serde_yaml::Value::is_null) {
            map.insert(key.clone(), serde_yaml::Value::Mapping(Default::default()));
        }
        node = map.get_mut(&key).ok_or_else(|| "internal error".to_owned())?;
    }
    let map = node
        .as_mapping_mut()
        .ok_or_else(|| "the parent is not a section".to_owned())?;
    map.insert(serde_yaml::Value::String(last.clone()), value);
    Ok(())
}

impl Config {
    /// Cross-field checks; each problem names the key path.
    pub fn validate(&self, source: &str) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut problem = |key: &str, reason: &str| {
            problems.push(Problem {
                location: format!("{source}: {key}"),
                reason: reason.to_owned(),
            });
        };
        let mut names = std::collections::HashSet::new();
        let mut subjects = std::collections::HashSet::new();
        for (i, u) in self.users.iter().enumerate() {
            if u.name.is_empty() || u.name.chars().any(|c| c.is_control() || c == ':') {
                problem(
                    &format!("users[{i}].name"),
                    "a user name must be non-empty, without ':' or control characters",
                );
            }
            if !names.insert(u.name.as_str()) {
                problem(&format!("users[{i}].name"), "duplicate user name");
            }
            match &u.password_hash {
                Some(hash) if !crate::auth::is_valid_hash(hash) => problem(
                    &format!("users[{i}].password_hash"),
                    "not an argon2 PHC string; make one with `dualgate hash-password`",
                ),
                // With pass-through credentials the upstream checks passwords
                // (a hash given there is reported by the storage's checks).
                None if !self.upstream_checks_passwords() => problem(
                    &format!("users[{i}].password_hash"),
                    "missing; make one with `dualgate hash-password`",
                ),
                _ => {}
            }
            if VirtualPath::parse_absolute(&u.home).is_err() {
                problem(&format!("users[{i}].home"), "not a valid path");
            }
            if let Some(c) = &u.certificate {
                match crate::auth::SubjectName::parse(&c.subject) {
                    Err(e) => problem(
                        &format!("users[{i}].certificate.subject"),
                        &format!("{e} (e.g. CN=scanner-01,O=Acme)"),
                    ),
                    // Without a password, the subject alone names the user: it must name one.
                    Ok(subject) if !c.password && !subjects.insert(subject.clone()) => problem(
                        &format!("users[{i}].certificate.subject"),
                        "another user logs in with the same subject and no password",
                    ),
                    Ok(_) => {}
                }
                if !c.password && self.upstream_checks_passwords() {
                    problem(
                        &format!("users[{i}].certificate.password"),
                        "with credentials: passthrough the upstream needs the client's password: set password: true",
                    );
                }
                let asked = self.ftp.tls.as_ref().is_some_and(|t| t.client_certificates.is_some())
                    || self.http.tls.as_ref().is_some_and(|t| t.client_certificates.is_some());
                if !asked {
                    problem(
                        &format!("users[{i}].certificate"),
                        "no listener asks for client certificates (ftp.tls.client_certificates, http.tls.client_certificates): this user could never log in",
                    );
                }
            }
        }
        if VirtualPath::parse_absolute(&self.anonymous.home).is_err() {
            problem("anonymous.home", "not a valid path");
        }
        let l = &self.limits;
        if l.max_connections == 0 || l.max_connections_per_address == 0 {
            problem("limits", "connection limits must be at least 1");
        }
        if l.max_blocking_threads == 0 {
            problem("limits.max_blocking_threads", "must be at least 1");
        }
        if l.max_command_line < 512 {
            problem(
                "limits.max_command_line",
                "must be at least 512 bytes (RFC 959 paths need room)",
            );
        }
        for (key, d) in [
            ("limits.idle_timeout", l.idle_timeout),
            ("limits.login_timeout", l.login_timeout),
            ("limits.data_timeout", l.data_timeout),
            ("limits.tls_handshake_timeout", l.tls_handshake_timeout),
        ] {
            if d.0.is_zero() {
                problem(key, "must be longer than zero");
            }
        }
        if self.http.threads > 1024 {
            problem("http.threads", "must be at most 1024 (0: one per core)");
        }
        if !(8..=1000).contains(&self.http.max_headers) {
            problem("http.max_headers", "must be between 8 and 1000");
        }
        if self.http.max_header_bytes < 1024 {
            problem("http.max_header_bytes", "must be at least 1024");
        }
        let stale_uploads_after = match &self.storage {
            super::StorageConfig::Local {
                stale_uploads_after, ..
            } => Some(stale_uploads_after),
            super::StorageConfig::S3(s3) => Some(&s3.stale_uploads_after),
            super::StorageConfig::UpstreamFtp(ftp) => Some(&ftp.stale_uploads_after),
        };
        if stale_uploads_after.is_some_and(|after| after.0 <= l.data_timeout.0 * 3) {
            problem(
                "storage.stale_uploads_after",
                "must be more than three times limits.data_timeout (a live FTP upload may wait that long for its data connection, then between writes)",
            );
        }
        match &self.storage {
            super::StorageConfig::Local { .. } => {}
            super::StorageConfig::S3(s3) => {
                for (key, bad) in crate::storage::s3::S3Settings::problems(s3) {
                    problem(key, &bad);
                }
            }
            super::StorageConfig::UpstreamFtp(ftp) => {
                let section = crate::storage::upstream_ftp::UpstreamSettings::problems(ftp);
                for (key, bad) in section
                    .into_iter()
                    .chain(crate::storage::upstream_ftp::routing::problems(self))
                {
                    problem(&key, &bad);
                }
            }
        }
        problems
    }

    /// Whether an upstream FTP server checks the passwords (`credentials:
    /// passthrough`), not the user file.
    pub fn upstream_checks_passwords(&self) -> bool {
        matches!(&self.storage, super::StorageConfig::UpstreamFtp(f)
            if f.credentials == super::UpstreamCredentials::Passthrough)
    }
}

mod document;
mod restart;

#[cfg(test)]
mod tests;
