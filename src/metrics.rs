//! Metric names, their descriptions, and the Prometheus recorder.
//!
//! Every name is declared once here and described at start-up, so `/metrics`
//! carries HELP and TYPE lines for all of them. Labels are bounded: protocol,
//! command (from a fixed list, else `other`), result, direction — never a path,
//! a user or an address. Histograms have explicit buckets (never summaries).

use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Commands by protocol, command and result.
pub const COMMANDS_TOTAL: &str = "dualgate_commands_total";
/// Command latency by protocol and command.
pub const COMMAND_DURATION: &str = "dualgate_command_duration_seconds";
/// Payload bytes by protocol and direction.
pub const TRANSFER_BYTES_TOTAL: &str = "dualgate_transfer_bytes_total";
/// Open sessions by protocol.
pub const SESSIONS_ACTIVE: &str = "dualgate_sessions_active";
/// Accepted connections by protocol.
pub const CONNECTIONS_TOTAL: &str = "dualgate_connections_total";
/// Connections turned away at once by protocol and reason (`max_connections`, `per_address`).
pub const CONNECTION_REFUSALS_TOTAL: &str = "dualgate_connection_refusals_total";
/// Sessions closed for silence by protocol and phase (`login`, `idle`, `request_head`, `response`).
pub const SESSION_TIMEOUTS_TOTAL: &str = "dualgate_session_timeouts_total";
/// Login attempts by protocol and result.
pub const LOGINS_TOTAL: &str = "dualgate_logins_total";
/// Back-end operations by back-end, operation and result.
pub const BACKEND_OPERATIONS_TOTAL: &str = "dualgate_backend_operations_total";
/// Back-end latency by back-end and operation.
pub const BACKEND_DURATION: &str = "dualgate_backend_operation_duration_seconds";
/// Passive data ports held.
pub const PASSIVE_PORTS_IN_USE: &str = "dualgate_passive_ports_in_use";
/// PASV/EPSV refused by reason (`per_address`, `exhausted`, `error`).
pub const PASSIVE_REFUSALS_TOTAL: &str = "dualgate_passive_refusals_total";
/// TLS handshakes by protocol and resumption.
pub const TLS_HANDSHAKES_TOTAL: &str = "dualgate_tls_handshakes_total";
/// Build information (value 1).
pub const BUILD_INFO: &str = "dualgate_build_info";
/// Transfer-log lines dropped because the writer fell behind.
pub const XFERLOG_DROPPED_TOTAL: &str = "dualgate_xferlog_dropped_total";
/// WebDAV locks held now (in this instance's lock store).
pub const WEBDAV_LOCKS_HELD: &str = "dualgate_webdav_locks_held";
/// Pass-through logins refused before the upstream was asked, by reason (`host`:
/// a `user@host` login naming an upstream not in `storage.login_hosts`).
pub const UPSTREAM_LOGINS_REFUSED_TOTAL: &str = "dualgate_upstream_logins_refused_total";

/// Buckets for command latency: 100 µs … 60 s.
const COMMAND_BUCKETS: &[f64] = &[
    0.0001, 0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// FTP verbs and HTTP methods that get their own `command` label; anything else is `other`.
pub const KNOWN_COMMANDS: &[&str] = &[
    "USER",
    "PASS",
    "ACCT",
    "QUIT",
    "REIN",
    "SYST",
    "TYPE",
    "MODE",
    "STRU",
    "PWD",
    "CWD",
    "CDUP",
    "NOOP",
    "LIST",
    "NLST",
    "RETR",
    "STOR",
    "STOU",
    "APPE",
    "DELE",
    "MKD",
    "RMD",
    "RNFR",
    "RNTO",
    "PASV",
    "PORT",
    "EPSV",
    "EPRT",
    "ABOR",
    "REST",
    "STAT",
    "HELP",
    "ALLO",
    "SITE",
    "FEAT",
    "OPTS",
    "SIZE",
    "MDTM",
    "MFMT",
    "MFF",
    "MLSD",
    "MLST",
    "AUTH",
    "PBSZ",
    "PROT",
    "CCC",
    "HOST",
    "GET",
    "HEAD",
    "PUT",
    "DELETE",
    "OPTIONS",
    "PROPFIND",
    "PROPPATCH",
    "MKCOL",
    "COPY",
    "MOVE",
    "LOCK",
    "UNLOCK",
    "POST",
];

/// The bounded label for a command name.
pub fn command_label(name: &str) -> &'static str {
    KNOWN_COMMANDS.iter().find(|k| **k == name).copied().unwrap_or("other")
}

/// The position of a command name in [`KNOWN_COMMANDS`], or its length for "other".
pub fn command_index(name: &str) -> usize {
    KNOWN_COMMANDS
        .iter()
        .position(|k| *k == name)
        .unwrap_or(KNOWN_COMMANDS.len())
}

/// Metric handles registered on first use and kept, one slot per label
/// combination: a hot path (a command, a back-end call) then costs an atomic
/// update instead of a registry lookup that hashes and clones its labels. A slot
/// registers lazily, so series appear in `/metrics` exactly as they would without
/// the cache — when first used.
#[derive(Debug)]
pub struct HandleSlots<T> {
    slots: Box<[std::sync::OnceLock<T>]>,
}

impl<T> HandleSlots<T> {
    /// `n` empty slots.
    pub fn new(n: usize) -> Self {
        HandleSlots {
            slots: (0..n).map(|_| std::sync::OnceLock::new()).collect(),
        }
    }

    /// The handle in slot `i`, registered by `register` on first use; `None` when
    /// `i` is out of range (the caller then registers directly).
    pub fn get(&self, i: usize, register: impl FnOnce() -> T) -> Option<&T> {
        self.slots.get(i).map(|slot| slot.get_or_init(register))
    }
}

/// Installs the global recorder and describes every metric. Call once.
pub fn install() -> Result<PrometheusHandle, metrics_exporter_prometheus::BuildError> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(COMMAND_DURATION.into()), COMMAND_BUCKETS)?
        .set_buckets_for_metric(Matcher::Full(BACKEND_DURATION.into()), COMMAND_BUCKETS)?
        .install_recorder()?;
    describe();
    metrics::gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    Ok(handle)
}

fn describe() {
    describe_counter!(
        COMMANDS_TOTAL,
        "Commands and requests handled, by protocol, command and result."
    );
    describe_histogram!(
        COMMAND_DURATION,
        Unit::Seconds,
        "Time from command receipt to its final reply."
    );
    describe_counter!(
        TRANSFER_BYTES_TOTAL,
        Unit::Bytes,
        "File and listing payload bytes moved, by direction."
    );
    describe_gauge!(
        SESSIONS_ACTIVE,
        "Sessions open now (FTP control connections, HTTP connections)."
    );
    describe_counter!(CONNECTIONS_TOTAL, "Connections accepted.");
    describe_counter!(
        CONNECTION_REFUSALS_TOTAL,
        "Connections turned away at once (FTP 421, HTTP 503), by reason: max_connections \
         (limits.max_connections), per_address (limits.max_connections_per_address)."
    );
    describe_counter!(
        SESSION_TIMEOUTS_TOTAL,
        "Connections closed because the client fell silent, by phase: login (FTP, \
         limits.login_timeout), idle (FTP, limits.idle_timeout), request_head (HTTP: no complete \
         request head within limits.idle_timeout: an idle keep-alive connection, or headers sent too slowly), \
         response (HTTP: the client took nothing sent to it within limits.data_timeout)."
    );
    describe_counter!(
        LOGINS_TOTAL,
        "Login attempts by result: success, failure, banned (refused unchecked: too many failures from the address)."
    );
    describe_counter!(BACKEND_OPERATIONS_TOTAL, "Storage back-end operations by result.");
    describe_histogram!(BACKEND_DURATION, Unit::Seconds, "Storage back-end operation latency.");
    describe_gauge!(PASSIVE_PORTS_IN_USE, "FTP passive data ports currently held.");
    describe_counter!(
        PASSIVE_REFUSALS_TOTAL,
        "FTP PASV/EPSV refused (425), by reason: per_address (the client address holds its share, \
         ftp.passive_ports_per_address), exhausted (every port of the range in use), error."
    );
    describe_counter!(
        TLS_HANDSHAKES_TOTAL,
        "TLS handshakes completed, by whether the session was resumed."
    );
    describe_gauge!(BUILD_INFO, "Build information; the value is always 1.");
    describe_counter!(
        UPSTREAM_LOGINS_REFUSED_TOTAL,
        "Pass-through logins refused without asking an upstream, by reason: host (a user@host login naming \
         an upstream not in storage.login_hosts)."
    );
    describe_counter!(
        XFERLOG_DROPPED_TOTAL,
        "Transfer-log (xferlog) lines dropped because the disk writer fell behind."
    );
    describe_gauge!(
        WEBDAV_LOCKS_HELD,
        "WebDAV locks held now by this instance (LOCK; expired ones are removed when the store is next used)."
    );
}

/// Counts a completed TLS handshake (`protocol` is `ftp` or `http`).
pub fn tls_handshake(protocol: &'static str, resumed: bool) {
    let resumed = if resumed { "true" } else { "false" };
    metrics::counter!(TLS_HANDSHAKES_TOTAL, "protocol" => protocol, "resumed" => resumed).increment(1);
}
