//! dualgate: one server for the same files over FTP(S) and HTTP(S)/WebDAV, under
//! one policy (users, permissions, limits, logs, metrics) and one storage back-end.
//!
//! # Layout
//!
//! | module | concept |
//! |---|---|
//! | [`frontend::ftp`], [`frontend::http`] | sockets and protocol state; lift wire input into command records |
//! | [`command`] | the command record (ProFTPD's `cmd_rec`) |
//! | [`pipeline`] | the phase engine, its table, and the shared modules |
//! | [`response`] | reply chains, the status table, FTP and HTTP renderers |
//! | [`channel`] | the data-channel trait the front-ends implement (FTP data connection, HTTP body) |
//! | [`storage`] | the storage boundary: back-ends, per-user volumes, capabilities; local disk and an in-memory model |
//! | [`path`] | typed virtual paths confined to the user's root |
//! | [`locks`] | WebDAV write locks: the lock store interface and its in-memory implementation |
//! | [`auth`], [`session`] | users, permissions, password checks, login throttling; per-connection state |
//! | [`tls`] | certificates (reloadable) and rustls server configs for FTPS and HTTPS |
//! | [`xferlog`] | the optional transfer log in xferlog(5) format |
//! | [`config`], [`cli`], [`server`], [`admin`], [`metrics`], [`telemetry`], [`shutdown`] | running it |
//!
//! The protocol codecs live in the sans-IO crates `proto_ftp` and `proto_http`.
//!
//! # Phases
//!
//! Every command of both protocols goes PRE_CMD → CMD → POST_CMD / POST_CMD_ERR →
//! LOG_CMD; see [`pipeline`] for the chart and the rules.

pub mod admin;
pub mod auth;
pub mod channel;
pub mod cli;
pub mod command;
pub mod config;
pub mod frontend;
pub mod locks;
pub mod metrics;
pub mod path;
pub mod pipeline;
pub mod response;
pub mod server;
pub mod session;
pub mod shutdown;
pub mod storage;
pub mod telemetry;
pub mod tls;
pub mod xferlog;
