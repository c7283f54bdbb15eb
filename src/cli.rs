//! The command line (clap derive): `serve`, `check-config`, `hash-password`, `healthcheck`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::telemetry::LogFormat;

/// dualgate — one server for the same files over FTP(S) and HTTP(S)/WebDAV.
///
/// Configuration comes from a YAML file (-c; without one, the embedded default
/// `configs/dualgate.yaml`), then DUALGATE_* environment variables
/// (DUALGATE_FTP__LISTEN=…, see configs/dualgate.example.yaml), then the flags below.
#[derive(Debug, Parser)]
#[command(name = "dualgate", version, about, long_about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway (FTP, HTTP and admin listeners).
    Serve(ServeArgs),
    /// Validate a config file; exits non-zero with FILE:LINE:COLUMN: reason per problem
    /// (an empty file, or one with only comments, is a problem: `{}` means all defaults).
    CheckConfig {
        /// Config file (default: the embedded default config).
        #[arg(short, long, env = "DUALGATE_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Read a password from standard input (no echo on a terminal) and print its
    /// argon2id PHC string for `users[].password_hash`.
    HashPassword,
    /// Ask a running gateway's admin port for /healthz (or /readyz); exit 0 when it
    /// answers 200, 1 otherwise. For container HEALTHCHECKs, which have no curl.
    Healthcheck {
        /// Config file, to find `admin.listen` (default: the embedded default config).
        #[arg(short, long, env = "DUALGATE_CONFIG")]
        config: Option<PathBuf>,
        /// The admin address, instead of the config's (an unspecified address such
        /// as 0.0.0.0 is asked on loopback).
        #[arg(long, value_name = "ADDR")]
        admin: Option<SocketAddr>,
        /// Ask /readyz instead of /healthz.
        #[arg(long)]
        ready: bool,
    },
}

/// Options of `serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Config file (default: the embedded default config).
    #[arg(short, long, env = "DUALGATE_CONFIG")]
    pub config: Option<PathBuf>,
    /// FTP listen address (overrides ftp.listen).
    #[arg(long, value_name = "ADDR")]
    pub ftp_listen: Option<SocketAddr>,
    /// Passive port range, e.g. 30000-30099 (overrides ftp.passive_ports).
    #[arg(long, value_name = "LOW-HIGH")]
    pub passive_ports: Option<String>,
    /// HTTP listen address (overrides http.listen).
    #[arg(long, value_name = "ADDR")]
    pub http_listen: Option<SocketAddr>,
    /// Admin listen address (overrides admin.listen).
    #[arg(long, value_name = "ADDR")]
    pub admin_listen: Option<SocketAddr>,
    /// Local storage root (sets storage to local with this root).
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Log format.
    #[arg(long, value_enum, default_value = "text", env = "DUALGATE_LOG_FORMAT")]
    pub log_format: LogFormat,
    /// Log level or filter (e.g. info, debug, dualgate=debug); default info or RUST_LOG.
    #[arg(long, env = "DUALGATE_LOG_LEVEL")]
    pub log_level: Option<String>,
}
