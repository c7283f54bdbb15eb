//! Logging set-up: tracing to stderr, human-readable or JSON lines, level from
//! `--log-level` / `DUALGATE_LOG_LEVEL` / `RUST_LOG` (default `info`); and
//! [`WarnEvery`], the rate limit of warnings an attacker could otherwise repeat at
//! will (refused connections, passive ports, logins).

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use tracing_subscriber::EnvFilter;

/// A warning logged at most once a minute: each event is counted, and the line
/// that is due says how many happened since the previous one, so a flood costs one
/// log line a minute, not one per event.
#[derive(Debug, Default)]
pub struct WarnEvery {
    /// When the last line was logged, and the events since.
    state: Mutex<(Option<Instant>, u64)>,
}

impl WarnEvery {
    /// Shortest time between two lines.
    pub const PERIOD: Duration = Duration::from_secs(60);

    /// Counts one event; `Some(n)` when a line is due now, `n` the events since
    /// the last line (this one included).
    pub fn tick(&self) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let (last, unlogged) = &mut *state;
        *unlogged += 1;
        let now = Instant::now();
        if last.is_some_and(|t| now.duration_since(t) < Self::PERIOD) {
            return None;
        }
        *last = Some(now);
        Some(std::mem::take(unlogged))
    }
}

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

#[cfg(test)]
mod tests {
    use super::WarnEvery;

    #[test]
    fn one_line_per_period_counting_the_events_between() {
        let w = WarnEvery::default();
        assert_eq!(w.tick(), Some(1), "the first event is logged");
        assert_eq!(w.tick(), None);
        assert_eq!(w.tick(), None);
        // Pretend the period has passed.
        w.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner).0 =
            std::time::Instant::now().checked_sub(WarnEvery::PERIOD);
        assert_eq!(w.tick(), Some(3), "the two unlogged events and this one");
    }
}
