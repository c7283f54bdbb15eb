//! Module `log`: the LOG_CMD phase — metrics and one access-log event per command,
//! recorded in one place for both protocols. It runs for every command, handled,
//! failed or unsupported, and reads the outcome from the record.

use async_trait::async_trait;

use super::auth::LoginAttempt;
use crate::command::{CommandRecord, Protocol, RawCommand, Verb};
use crate::metrics as m;
use crate::pipeline::{Handler, HandlerResult};
use crate::response::{Code, Outcome, ResultClass, class_of_ftp, class_of_http, ftp::ftp_code, http::http_code};

/// The command name as the protocol knows it (FTP verb, HTTP method).
pub fn command_name<'c>(cmd: &'c CommandRecord<'_>) -> &'c str {
    match &cmd.raw {
        RawCommand::Ftp(c) => c.verb(),
        RawCommand::Http { method, .. } => method.as_str(),
        RawCommand::FtpUnparsed => "other",
    }
}

/// The reply code the client gets (or got) and its class: the one on the wire
/// (an HTTP status as sent or as it will be rendered — 206, 204, 207, 301), so
/// what is logged and counted is what the client saw.
pub fn final_code(cmd: &CommandRecord<'_>) -> (u16, ResultClass) {
    let outcome = cmd.outcome.unwrap_or(Outcome::Failed);
    let replies = cmd.responses.selected(outcome, cmd.unsupported_status());
    if let Some(code) = cmd.channel.wire_code(&replies) {
        let class = match cmd.protocol {
            Protocol::Ftp => class_of_ftp(code),
            Protocol::Http => class_of_http(code),
        };
        return (code, class);
    }
    let code = replies
        .iter()
        .map(|r| r.code)
        .find(|c| *c != Code::Dup)
        .unwrap_or(Code::Dup);
    match cmd.protocol {
        Protocol::Ftp => {
            let c = ftp_code(code).unwrap_or(451);
            (c, class_of_ftp(c))
        }
        Protocol::Http => {
            let c = http_code(code).unwrap_or(500);
            (c, class_of_http(c))
        }
    }
}

/// Records metrics, the access log and, when configured, the transfer log.
#[derive(Debug)]
pub struct LogCommand {
    /// The xferlog, if configured.
    pub transfer_log: Option<std::sync::Arc<crate::xferlog::TransferLog>>,
    /// Cached command counters by (protocol, command, result).
    counters: m::HandleSlots<metrics::Counter>,
    /// Cached command duration histograms by (protocol, command).
    durations: m::HandleSlots<metrics::Histogram>,
    /// Cached transfer byte counters by (protocol, direction).
    transferred: m::HandleSlots<metrics::Counter>,
}

/// Label combinations of the command metrics.
const PROTOCOLS: usize = 2;
const COMMANDS: usize = m::KNOWN_COMMANDS.len() + 1;
const RESULTS: usize = 3;

impl LogCommand {
    /// The module, writing transfers to `transfer_log` if there is one.
    pub fn new(transfer_log: Option<std::sync::Arc<crate::xferlog::TransferLog>>) -> Self {
        LogCommand {
            transfer_log,
            counters: m::HandleSlots::new(PROTOCOLS * COMMANDS * RESULTS),
            durations: m::HandleSlots::new(PROTOCOLS * COMMANDS),
            transferred: m::HandleSlots::new(PROTOCOLS * 2),
        }
    }
}

impl LogCommand {
    /// One xferlog line for a file transfer (not for listings).
    fn log_transfer(&self, cmd: &CommandRecord<'_>, class: ResultClass, elapsed: std::time::Duration) {
        let (Some(log), Some(t)) = (&self.transfer_log, cmd.transfer) else {
            return;
        };
        if !matches!(cmd.verb, Verb::Read | Verb::Write) {
            return;
        }
        let Some(user) = &cmd.session.user else { return };
        let path = cmd.path.as_ref().map(|p| cmd.session.backend_path(p));
        let ascii = cmd.channel.text_mode();
        log.record(&crate::xferlog::TransferRecord {
            finished: std::time::SystemTime::now(),
            duration: elapsed,
            client: cmd.session.peer.ip(),
            bytes: t.bytes,
            path: path.as_ref().map_or("-", |p| p.as_str()),
            ascii,
            inbound: t.inbound,
            anonymous: user.anonymous,
            user: &user.name,
            service: cmd.protocol.label(),
            // An HTTP response's status goes out before its body: a download cut
            // midway was answered 200, yet its transfer failed.
            complete: class == ResultClass::Ok && cmd.outcome == Some(Outcome::Handled),
        });
    }
}

#[async_trait]
impl Handler for LogCommand {
    async fn handle(&self, cmd: &mut CommandRecord<'_>) -> HandlerResult {
        let protocol = cmd.protocol.label();
        let name = command_name(cmd);
        let command = m::command_label(name);
        let (code, class) = final_code(cmd);
        let elapsed = cmd.started.elapsed();
        let slot = (cmd.protocol as usize) * COMMANDS + m::command_index(command);
        let result = class as usize;
        let count = || metrics::counter!(m::COMMANDS_TOTAL, "protocol" => protocol, "command" => command, "result" => class.label());
        match self.counters.get(slot * RESULTS + result, count) {
            Some(c) => c.increment(1),
            None => count().increment(1),
        }
        let duration = || metrics::histogram!(m::COMMAND_DURATION, "protocol" => protocol, "command" => command);
        match self.durations.get(slot, duration) {
            Some(h) => h.record(elapsed.as_secs_f64()),
            None => duration().record(elapsed.as_secs_f64()),
        }
        if let Some(t) = cmd.transfer {
            let direction = if t.inbound { "in" } else { "out" };
            let bytes = || metrics::counter!(m::TRANSFER_BYTES_TOTAL, "protocol" => protocol, "direction" => direction);
            match self
                .transferred
                .get((cmd.protocol as usize) * 2 + usize::from(t.inbound), bytes)
            {
                Some(c) => c.increment(t.bytes),
                None => bytes().increment(t.bytes),
            }
        }
        self.log_transfer(cmd, class, elapsed);
        if let Some(login) = cmd.notes.get::<LoginAttempt>() {
            metrics::counter!(m::LOGINS_TOTAL, "protocol" => protocol, "result" => login.label()).increment(1);
        }
        tracing::info!(
            target: "dualgate::access",
            session = cmd.session.id,
            cmd = cmd.id,
            protocol,
            verb = name,
            path = cmd.path.as_ref().map(|p| p.as_str()),
            user = cmd.session.user.as_ref().map(|u| u.name.as_str()),
            code,
            result = class.label(),
            bytes = cmd.transfer.map(|t| t.bytes),
            duration_ms = elapsed.as_secs_f64() * 1000.0,
        );
        HandlerResult::Handled
    }
}
