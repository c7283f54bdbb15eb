//! Module `ftp`: the FTP-only verbs, as ordinary pipeline handlers in the same
//! table (ProFTPD's `mod_core`): they get the same PRE_CMD checks and the same
//! LOG_CMD metrics as every other command. They reach the session's data-channel
//! state through [`Channel::get_mut`](crate::channel::Channel::get_mut). What they
//! announce (FEAT, the MLST facts) follows the capabilities: once logged in, those
//! of the session's volume (an upstream FTP server's MFMT is learned per upstream),
//! before that the back-end's as known now.

use std::borrow::Cow;
use std::sync::Arc;

use async_trait::async_trait;
use proto_ftp::listing::Facts;
use proto_ftp::{Command, EpsvArg, ProtLevel, TransferType};

use super::data::{DataMode, FtpData, PassiveListener, check_active_target};
use crate::command::{CommandRecord, RawCommand, StatQuery, Verb};
use crate::pipeline::modules::Table;
use crate::pipeline::{Handler, HandlerResult, Phase};
use crate::response::Status;
use crate::storage::{Capabilities, Volumes};

/// Verbs handled here.
pub const VERBS: &[&str] = &[
    "SYST", "FEAT", "OPTS", "TYPE", "MODE", "STRU", "PASV", "EPSV", "PORT", "EPRT", "REST", "ALLO", "HELP", "ABOR",
    "HOST", "ACCT", "REIN", "STAT", "AUTH", "PBSZ", "PROT", "CCC",
];

/// Most entries `STAT path` lists over the control connection.
const STAT_MAX_ENTRIES: usize = 10_000;

/// `FEAT` lines added when FTPS is configured (RFC 4217 §6).
const TLS_FEATURES: &[&str] = &["AUTH TLS", "PBSZ", "PROT"];

/// The `FEAT` lines (RFC 2389) of what is implemented whatever the back-end.
const FEATURES: &[&str] = &["EPRT", "EPSV", "HOST", "PASV", "SIZE", "TVFS", "UTF8"];

/// The FTP module.
#[derive(Debug)]
pub struct FtpModule {
    /// What the back-end can do: FEAT and MLST announce only that.
    volumes: Arc<Volumes>,
}

impl FtpModule {
    /// What the session can do now: its volume's capabilities once logged in,
    /// else the back-end's.
    fn capabilities(&self, cmd: &CommandRecord<'_>) -> Capabilities {
        cmd.volume()
            .map_or_else(|| self.volumes.capabilities(), |v| v.capabilities())
    }

    /// The `FEAT` lines for `caps`, sorted; the MLST line stars the facts the
    /// session has selected (RFC 3659 §7.8).
    fn features(caps: Capabilities, tls: bool, selected: Facts) -> Vec<Cow<'static, str>> {
        let mut lines: Vec<Cow<'static, str>> = FEATURES.iter().map(|f| Cow::Borrowed(*f)).collect();
        if caps.modified_times {
            lines.push("MDTM".into());
        }
        if caps.set_modified_times {
            // draft-somers-ftp-mfxx: MFMT, and MFF with the facts it can set.
            lines.push("MFMT".into());
            lines.push("MFF modify;".into());
        }
        lines.push(format!("MLST {}", Self::facts(caps).feat_list(selected)).into());
        if caps.resumes() {
            lines.push("REST STREAM".into());
        }
        if tls {
            lines.extend(TLS_FEATURES.iter().map(|f| Cow::Borrowed(*f)));
        }
        lines.sort_unstable();
        lines
    }

    /// The MLSx facts a back-end with `caps` can give: `modify` only with
    /// modification times.
    fn facts(caps: Capabilities) -> Facts {
        let facts = Facts::TYPE.union(Facts::SIZE).union(Facts::PERM);
        if caps.modified_times {
            facts.union(Facts::MODIFY)
        } else {
            facts
        }
    }
}

/// Registers the FTP module's rows for the back-end behind `volumes`.
pub fn table(volumes: Arc<Volumes>) -> Table {
    let mut t = Table::default();
    let module = Arc::new(FtpModule { volumes });
    for v in VERBS {
        t.row("ftp", Phase::Cmd, Some(&Verb::Protocol(v)), 0, module.clone());
    }
    for v in [Verb::PrintDir, Verb::Stat, Verb::Noop, Verb::Logout] {
        t.row("ftp", Phase::Cmd, Some(&v), 0, module.clone());
    }
    t.row("ftp-tls", Phase::PreCmd, Some(&Verb::User), 0, Arc::new(RequireTls));
    t
}

/// PRE_CMD of `USER`: with `ftp.tls.require`, no login before `AUTH TLS`
/// (RFC 4217 §10: a server may insist on protection before the password is sent).
#[derive(Debug)]
struct RequireTls;

#[async_trait]
impl Handler for RequireTls {
    async fn handle(&self, cmd: &mut CommandRecord<'_>) -> HandlerResult {
        let Some(data) = cmd.channel.get::<FtpData>() else {
            return HandlerResult::Declined;
        };
        let required = data.settings.tls.as_ref().is_some_and(|t| t.require);
        if required && !cmd.session.tls {
            return cmd.fail(Status::NotLoggedIn, "TLS required: use AUTH TLS before logging in.");
        }
        HandlerResult::Declined
    }
}

/// `AUTH`, `PBSZ`, `PROT` and `CCC` (RFC 2228, RFC 4217).
fn security(cmd: &mut CommandRecord<'_>, raw: &Command) -> HandlerResult {
    let Some(data) = cmd.channel.get_mut::<FtpData>() else {
        return HandlerResult::Declined;
    };
    let Some(tls) = data.settings.tls.clone() else {
        return cmd.fail(Status::NotImplemented, "TLS is not configured.");
    };
    match raw {
        Command::Auth { mechanism } if !matches!(mechanism.as_str(), "TLS" | "TLS-C" | "SSL") => {
            ok(cmd, 504, "Only AUTH TLS is supported.")
        }
        Command::Auth { .. } if data.tls.is_some() => cmd.fail(Status::BadSequence, "Already using TLS."),
        Command::Auth { .. } => {
            // RFC 4217 §4: a new AUTH resets the session as REIN would.
            cmd.session.logout();
            data.reset();
            data.tls = Some(super::tls::SessionTls::new(&tls, false));
            data.upgrade_requested = true;
            ok(cmd, 234, "AUTH TLS successful; start the handshake.")
        }
        _ if data.tls.is_none() => cmd.fail(Status::BadSequence, "Use AUTH TLS first."),
        Command::Pbsz { .. } => {
            if let Some(state) = data.tls.as_mut() {
                state.pbsz = true;
            }
            // RFC 4217 §9: the only buffer size for TLS is 0.
            ok(cmd, 200, "PBSZ=0")
        }
        Command::Prot(level) => {
            let Some(state) = data.tls.as_mut() else {
                return HandlerResult::Declined;
            };
            if !state.pbsz {
                return cmd.fail(Status::BadSequence, "PBSZ must come before PROT.");
            }
            match level {
                ProtLevel::Clear => {
                    state.protect_data = false;
                    ok(cmd, 200, "Data connections in the clear.")
                }
                ProtLevel::Private => {
                    state.protect_data = true;
                    ok(cmd, 200, "Data connections protected by TLS.")
                }
                // RFC 2228: 536 "Requested PROT level not supported by mechanism."
                ProtLevel::Safe | ProtLevel::Confidential => ok(cmd, 536, "Only PROT C and PROT P are supported."),
            }
        }
        // RFC 4217 §12.3: the server may refuse to clear the command channel.
        Command::Ccc => ok(cmd, 534, "CCC is not allowed: the control connection stays protected."),
        _ => HandlerResult::Declined,
    }
}

fn ok(cmd: &mut CommandRecord<'_>, code: u16, text: impl Into<Cow<'static, str>>) -> HandlerResult {
    match cmd.responses.add_raw(code, text) {
        Ok(()) => HandlerResult::Handled,
        Err(_) => HandlerResult::Error,
    }
}

impl FtpModule {
    async fn stat(&self, cmd: &mut CommandRecord<'_>) -> HandlerResult {
        let (Some(path), Some(volume)) = (cmd.path.clone(), cmd.volume()) else {
            return cmd.fail(Status::BadArguments, "");
        };
        let meta = match volume.stat(&path).await {
            Ok(m) => m,
            Err(e) => return cmd.fail_storage(&e),
        };
        match cmd.args.stat_query {
            // RFC 3659 §4: SIZE of a file; a directory has no transfer size.
            StatQuery::Size if meta.is_dir() => cmd.fail(Status::NotFound, "Not a plain file."),
            StatQuery::Size => ok(cmd, 213, meta.size.to_string()),
            StatQuery::ModifyTime => match meta.modified {
                Some(t) => ok(cmd, 213, proto_ftp::listing::mdtm_value(t)),
                None => cmd.fail(Status::NotFound, "Modification time unknown."),
            },
            StatQuery::Facts => {
                let granted = cmd.session.user.as_ref().map(|u| u.permissions).unwrap_or_default();
                let perm = super::data::mlsx_perm(meta.kind, granted);
                let entry = proto_ftp::listing::ListEntry {
                    name: path.as_str(),
                    kind: if meta.is_dir() {
                        proto_ftp::listing::EntryKind::Dir
                    } else {
                        proto_ftp::listing::EntryKind::File
                    },
                    size: meta.size,
                    modified: meta.modified,
                    mode: meta.mode,
                    unique: None,
                    perm: &perm,
                };
                let facts = cmd.channel.get::<FtpData>().map_or(Facts::ALL, |d| d.mlst_facts);
                let mut line = Vec::new();
                proto_ftp::listing::mlst_line(&entry, facts, &mut line);
                // RFC 3659 §7.2: "250-Listing path", then `SP entry` where `entry = [facts] SP
                // path` (the renderer writes the leading space of a continuation), "250 End".
                let line = String::from_utf8_lossy(&line);
                let entry = line
                    .strip_prefix(' ')
                    .unwrap_or(&*line)
                    .trim_end_matches(['\r', '\n'])
                    .to_owned();
                let _ = cmd.responses.add_raw(250, format!("Listing {path}"));
                cmd.responses.dup(entry);
                ok(cmd, 250, "End")
            }
        }
    }

    /// `STAT` without an argument (RFC 959): a 211 multi-line status of the session.
    fn server_status(&self, cmd: &mut CommandRecord<'_>) -> HandlerResult {
        let user = cmd
            .session
            .user
            .as_ref()
            .map_or_else(|| "not logged in".to_owned(), |u| format!("logged in as {}", u.name));
        let (ttype, mode) = match cmd.channel.get::<FtpData>() {
            Some(d) => (
                match d.transfer_type {
                    TransferType::Ascii => "ASCII",
                    TransferType::Image => "BINARY",
                },
                match d.mode {
                    DataMode::Unset => "no data connection set up",
                    DataMode::Passive(_) => "passive data connection waiting",
                    DataMode::Active(_) => "active data connection target set",
                },
            ),
            None => ("?", "?"),
        };
        let _ = cmd.responses.add_raw(211, "dualgate FTP server status:");
        cmd.responses.dup(format!("Connected from {}", cmd.session.peer));
        cmd.responses.dup(user);
        cmd.responses
            .dup(format!("TYPE: {ttype}, STRUcture: File, MODE: Stream; {mode}"));
        ok(cmd, 211, "End of status")
    }

    /// `STAT path` (RFC 959): the listing of a path over the control connection
    /// (213), at most [`STAT_MAX_ENTRIES`] lines.
    async fn path_status(&self, cmd: &mut CommandRecord<'_>) -> HandlerResult {
        use futures_util::StreamExt;
        let (Some(path), Some(volume)) = (cmd.path.clone(), cmd.volume()) else {
            return cmd.fail(Status::BadArguments, "");
        };
        let meta = match volume.stat(&path).await {
            Ok(m) => m,
            Err(e) => return cmd.fail_storage(&e),
        };
        let now = std::time::SystemTime::now();
        let mut lines: Vec<String> = Vec::new();
        let line_for = |name: &str, meta: &crate::storage::Metadata| {
            let entry = proto_ftp::listing::ListEntry {
                name,
                kind: if meta.is_dir() {
                    proto_ftp::listing::EntryKind::Dir
                } else {
                    proto_ftp::listing::EntryKind::File
                },
                size: meta.size,
                modified: meta.modified,
                mode: meta.mode,
                unique: None,
                perm: "",
            };
            let mut line = Vec::new();
            proto_ftp::listing::list_line(&entry, now, &mut line);
            String::from_utf8_lossy(&line).trim_end().to_owned()
        };
        if meta.is_dir() {
            let mut stream = match volume.list(&path).await {
                Ok(s) => s,
                Err(e) => return cmd.fail_storage(&e),
            };
            'outer: while let Some(batch) = stream.next().await {
                let Ok(batch) = batch else { break };
                for e in &batch {
                    if lines.len() >= STAT_MAX_ENTRIES {
                        break 'outer;
                    }
                    lines.push(line_for(&e.name, &e.meta));
                }
            }
        } else {
            lines.push(line_for(path.file_name().unwrap_or_default(), &meta));
        }
        let _ = cmd.responses.add_raw(213, format!("Status of {path}:"));
        let truncated = lines.len() >= STAT_MAX_ENTRIES;
        for line in lines {
            cmd.responses.dup(line);
        }
        if truncated {
            cmd.responses
                .dup(format!("(listing cut at {STAT_MAX_ENTRIES} entries; use LIST or MLSD)"));
        }
        ok(cmd, 213, "End of status")
    }

    fn data_setup(data: &mut FtpData, raw: &Command) -> Answer {
        match raw {
            Command::Type(t) => {
                data.transfer_type = *t;
                Answer::Ok(
                    200,
                    match t {
                        TransferType::Ascii => "Switching to ASCII mode.".into(),
                        TransferType::Image => "Switching to Binary mode.".into(),
                    },
                )
            }
            Command::Mode { mode: 'S' } => Answer::Ok(200, "Mode set to S.".into()),
            Command::Stru { structure: 'F' } => Answer::Ok(200, "Structure set to F.".into()),
            Command::Mode { .. } | Command::Stru { .. } => Answer::Fail(Status::ParameterNotImplemented, ""),
            Command::Rest { offset } => {
                data.rest = *offset;
                Answer::Ok(350, format!("Restarting at {offset}. Send STORE or RETRIEVE.").into())
            }
            Command::Pasv | Command::Epsv(EpsvArg::Any | EpsvArg::Protocol(_)) => Self::passive(data, raw),
            Command::Epsv(EpsvArg::All) => {
                data.epsv_all = true;
                Answer::Ok(200, "EPSV ALL ok.".into())
            }
            Command::Port(_) | Command::Eprt(_) if data.epsv_all => {
                Answer::Fail(Status::BadSequence, "EPSV ALL in effect.")
            }
            Command::Port(addr) => Self::active(data, std::net::SocketAddr::V4(*addr)),
            Command::Eprt(addr) => Self::active(data, *addr),
            _ => Answer::Declined,
        }
    }

    fn passive(data: &mut FtpData, raw: &Command) -> Answer {
        let is_pasv = matches!(raw, Command::Pasv);
        if is_pasv && data.epsv_all {
            return Answer::Fail(Status::BadSequence, "EPSV ALL in effect.");
        }
        if let Command::Epsv(EpsvArg::Protocol(p)) = raw {
            let ours = if data.local.is_ipv4() { 1 } else { 2 };
            if *p != ours {
                // RFC 2428 §3: 522 names the protocols the server supports.
                return Answer::FailRaw(
                    522,
                    if ours == 1 {
                        "Network protocol not supported, use (1)"
                    } else {
                        "Network protocol not supported, use (2)"
                    },
                );
            }
        }
        // The address PASV advertises, decided before a port is taken: a PASV that
        // cannot be answered must not hold a port (or a place in the quota).
        let pasv_ip = if is_pasv {
            match (data.settings.public_address_for(data.peer.ip()), data.local.ip()) {
                (Some(ip), _) => Some(ip),
                (None, std::net::IpAddr::V4(v4)) => Some(v4),
                (None, std::net::IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
                    Some(v4) => Some(v4),
                    None => return Answer::Fail(Status::ParameterNotImplemented, "PASV is IPv4 only; use EPSV."),
                },
            }
        } else {
            None
        };
        data.mode = DataMode::Unset; // release a previous listener first (and its place in the quota)
        let settings = data.settings.clone();
        let bound = PassiveListener::bind(
            data.local.ip(),
            settings.passive_ports,
            &settings.passive_quota,
            data.peer.ip(),
        );
        let listener = match bound {
            Ok(l) => l,
            // Counted and logged (rate-limited) by the pool; the client hears 425.
            Err(refusal) => return Answer::Fail(Status::NoDataConnection, refusal.reply_text()),
        };
        let port = listener.port();
        data.mode = DataMode::Passive(listener);
        match pasv_ip {
            Some(ip) => Answer::Ok(
                227,
                proto_ftp::address::pasv_reply_text(std::net::SocketAddrV4::new(ip, port)).into(),
            ),
            None => Answer::Ok(229, proto_ftp::address::epsv_reply_text(port).into()),
        }
    }

    fn active(data: &mut FtpData, target: std::net::SocketAddr) -> Answer {
        if !check_active_target(data.peer, target) {
            return Answer::Fail(
                Status::PermissionDenied,
                "Active mode must target your own address and a port >= 1024.",
            );
        }
        data.mode = DataMode::Active(target);
        Answer::Ok(200, "Active data connection target accepted.".into())
    }
}

/// What a data-setup command answers; applied to the record by the handler.
enum Answer {
    Ok(u16, std::borrow::Cow<'static, str>),
    Fail(Status, &'static str),
    FailRaw(u16, &'static str),
    Declined,
}

impl Answer {
    fn apply(self, cmd: &mut CommandRecord<'_>) -> HandlerResult {
        match self {
            Answer::Ok(code, text) => ok(cmd, code, text),
            Answer::Fail(status, text) => cmd.fail(status, text),
            Answer::FailRaw(code, text) => {
                let _ = cmd.responses.add_raw_err(code, text);
                HandlerResult::Error
            }
            Answer::Declined => HandlerResult::Declined,
        }
    }
}

#[async_trait]
impl Handler for FtpModule {
    async fn handle(&self, cmd: &mut CommandRecord<'_>) -> HandlerResult {
        match cmd.verb {
            Verb::PrintDir => {
                let text = format!(
                    "{} is the current directory.",
                    proto_ftp::quote_path(cmd.session.cwd.as_str())
                );
                return ok(cmd, 257, text);
            }
            Verb::Stat => return self.stat(cmd).await,
            Verb::Noop => return ok(cmd, 200, "NOOP ok."),
            Verb::Logout => {
                cmd.responses.add(Status::Goodbye, "Goodbye.");
                return HandlerResult::Handled;
            }
            _ => {}
        }
        let RawCommand::Ftp(raw) = cmd.raw.clone() else {
            return HandlerResult::Declined;
        };
        match &raw {
            Command::Syst => ok(cmd, 215, "UNIX Type: L8"),
            Command::Feat => {
                let (tls, selected) = cmd
                    .channel
                    .get::<FtpData>()
                    .map_or((false, Facts::ALL), |d| (d.settings.tls.is_some(), d.mlst_facts));
                let caps = self.capabilities(cmd);
                let _ = cmd.responses.add_raw(211, "Features:");
                for f in Self::features(caps, tls, selected) {
                    cmd.responses.dup(f);
                }
                ok(cmd, 211, "End")
            }
            Command::Auth { .. } | Command::Pbsz { .. } | Command::Prot(_) | Command::Ccc => security(cmd, &raw),
            Command::Opts { option, value } => match (option.as_str(), value.as_deref()) {
                ("UTF8", Some(v)) if v.eq_ignore_ascii_case("ON") => ok(cmd, 200, "UTF8 mode is always on."),
                // RFC 3659 §7.9: the facts named (unknown ones ignored, none selects
                // none) are what MLST and MLSD give from now on; the reply lists them.
                ("MLST", list) => {
                    let selected =
                        Facts::parse_list(list.unwrap_or_default()).intersection(Self::facts(self.capabilities(cmd)));
                    if let Some(data) = cmd.channel.get_mut::<FtpData>() {
                        data.mlst_facts = selected;
                    }
                    let text = if selected.is_empty() {
                        "MLST OPTS".to_owned()
                    } else {
                        format!("MLST OPTS {selected}")
                    };
                    ok(cmd, 200, text)
                }
                _ => cmd.fail(Status::BadArguments, "Option not understood."),
            },
            Command::Allo => ok(cmd, 202, "ALLO command ignored."),
            // RFC 7151 §3.1: HOST comes before USER; one virtual host serves every name.
            Command::Host { .. } if cmd.session.user.is_some() || cmd.session.pending_user.is_some() => {
                cmd.fail(Status::BadSequence, "HOST must come before USER.")
            }
            Command::Host { .. } => ok(cmd, 220, "Host accepted."),
            // RFC 959: 202 "Command not implemented, superfluous at this site".
            Command::Acct { .. } => ok(cmd, 202, "ACCT not needed."),
            Command::Stat { path: None } => self.server_status(cmd),
            Command::Stat { path: Some(_) } => self.path_status(cmd).await,
            Command::Rein => {
                cmd.session.logout();
                if let Some(data) = cmd.channel.get_mut::<FtpData>() {
                    data.reset();
                }
                ok(cmd, 220, "Service ready for new user.")
            }
            // The session loop cancels a running transfer when ABOR arrives (the transfer
            // answers 426) and runs the ABOR after it: its 226 then says the abort worked.
            // Between commands there is nothing to abort.
            Command::Abor => {
                let aborted = cmd
                    .channel
                    .get_mut::<FtpData>()
                    .is_some_and(|d| std::mem::take(&mut d.transfer_aborted));
                let text = if aborted {
                    "ABOR successful; transfer aborted."
                } else {
                    "No transfer to abort."
                };
                ok(cmd, 226, text)
            }
            Command::Help { .. } => {
                let _ = cmd.responses.add_raw(214, "The following commands are recognized:");
                cmd.responses.dup(
                    "USER PASS ACCT QUIT REIN HOST SYST FEAT OPTS TYPE MODE STRU PWD CWD CDUP PASV EPSV PORT EPRT REST \
                     LIST NLST MLSD MLST STAT RETR STOR STOU APPE DELE MKD RMD RNFR RNTO SIZE MDTM NOOP ALLO ABOR HELP SITE",
                );
                ok(cmd, 214, "Help OK.")
            }
            _ => match cmd.channel.get_mut::<FtpData>() {
                Some(data) => Self::data_setup(data, &raw).apply(cmd),
                None => HandlerResult::Declined,
            },
        }
    }
}
