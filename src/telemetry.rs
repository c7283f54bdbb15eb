//! Logging set-up: tracing to stderr, human-readable or JSON lines, level from
//! `--log-level` / `DUALGATE_LOG_LEVEL` / `RUST_LOG` (default `info`).

use tracing_subscriber::EnvFilter;

/// Crates that log secrets below `info`; capped there (see [`init`]).
const SECRET_LOGGING_TARGETS: &[&str] = &["reqsign_core", "reqsign_aws_v4", "reqsign_aws_core", "reqsign"];

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Installs the global subscriber.
pub fn init(format: LogFormat, level: Option<&str>) {
    let filter = level
        .map(EnvFilter::new)
        .or_else(|| EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    // The S3 signer logs its credentials (the secret key included) at debug:
    // whatever level is asked for, it says no more than `info`.
    let filter = SECRET_LOGGING_TARGETS
        .iter()
        .filter_map(|t| format!("{t}=info").parse().ok())
        .fold(filter, EnvFilter::add_directive);
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).try_init(),
    };
}
