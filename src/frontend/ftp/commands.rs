//! Module `ftp`: the FTP-only verbs, as ordinary pipeline handlers in the same
//! table (ProFTPD's `mod_core`): they get the same PRE_CMD checks and the same
//! LOG_CMD metrics as every other command. They reach the session's data-channel
//! state through `Channel::Ftp`.

use std::sync::Arc;

use async_trait::async_trait;
use proto_ftp::{Command, EpsvArg, TransferType};

use super::data::{DataMode, FtpData, PassiveListener, check_active_target};
use crate::channel::Channel;
use crate::command::{CommandRecord, RawCommand, StatQuery, Verb};
use crate::pipeline::modules::Table;
use crate::pipeline::{Handler, HandlerResult, Phase};
use crate::response::Status;
use crate::storage::Storage;

/// Verbs handled here.
pub const VERBS: &[&str] = &[
    "SYST", "FEAT", "OPTS", "TYPE", "MODE", "STRU", "PASV", "EPSV", "PORT", "EPRT", "REST", "ALLO", "HELP", "ABOR",
];

/// The `FEAT` lines (RFC 2389): only what is implemented.
const FEATURES: &[&str] = &[
    "EPRT",
    "EPSV",
    "MDTM",
    "MLST type*;size*;modify*;perm*;unique*;",
    "PASV",
    "REST STREAM",
    "SIZE",
    "TVFS",
    "UTF8",
];

/// The FTP module.
pub struct FtpModule {
    storage: Arc<dyn Storage>,
}

impl std::fmt::Debug for FtpModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FtpModule")
    }
}

/// Registers the FTP module's rows.
pub fn table(storage: Arc<dyn Storage>) -> Table {
    let mut t = Table::default();
    let module = Arc::new(FtpModule { storage });
    for v in VERBS {
        t.row("ftp", Phase::Cmd, Some(&Verb::Protocol(v)), 0, module.clone());
    }
    for v in [Verb::PrintDir, Verb::Stat, Verb::Noop, Verb::Logout] {
        t.row("ftp", Phase::Cmd, Some(&v), 0, module.clone());
    }
    t
}

fn ok(cmd: &mut CommandRecord<'_>, code: u16, text: impl Into<std::borrow::Cow<'static, str>>) -> HandlerResult {
    match cmd.responses.add_raw(code, text) {
        Ok(()) => HandlerResult::Handled,
        Err(_) => HandlerResult::Error,
    }
}

impl FtpModule {
    async fn stat(&self, cmd: &mut CommandRecord<'_>) -> HandlerResult {
        let Some(spath) = cmd.storage_path() else {
            return cmd.fail(Status::BadArguments, "");
        };
        let meta = match self.storage.stat(&spath).await {
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
                let path = cmd.path.clone().unwrap_or_else(crate::path::VirtualPath::root);
                let perm = if meta.is_dir() { "el" } else { "r" };
                let unique = meta.unique.map(|u| format!("{u:x}"));
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
                    unique: unique.as_deref(),
                    perm,
                };
                let mut line = Vec::new();
                proto_ftp::listing::mlst_line(&entry, &mut line);
                let line = String::from_utf8_lossy(&line).trim_end().trim_start().to_owned();
                // RFC 3659 §7.2: "250-Listing path", the fact line (leading space), "250 End".
                let _ = cmd.responses.add_raw(250, format!("Listing {path}"));
                cmd.responses.dup(line);
                ok(cmd, 250, "End")
            }
        }
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
        data.mode = DataMode::Unset; // release a previous listener first
        let listener = match PassiveListener::bind(data.local.ip(), data.settings.passive_ports) {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "no passive port available");
                return Answer::Fail(Status::NoDataConnection, "No passive port available.");
            }
        };
        let port = listener.port();
        data.mode = DataMode::Passive(listener);
        if !is_pasv {
            return Answer::Ok(229, proto_ftp::address::epsv_reply_text(port).into());
        }
        let ip = match (data.settings.public_address, data.local.ip()) {
            (Some(ip), _) => ip,
            (None, std::net::IpAddr::V4(v4)) => v4,
            (None, std::net::IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
                Some(v4) => v4,
                None => return Answer::Fail(Status::ParameterNotImplemented, "PASV is IPv4 only; use EPSV."),
            },
        };
        Answer::Ok(
            227,
            proto_ftp::address::pasv_reply_text(std::net::SocketAddrV4::new(ip, port)).into(),
        )
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
                let _ = cmd.responses.add_raw(211, "Features:");
                for f in FEATURES {
                    cmd.responses.dup(*f);
                }
                ok(cmd, 211, "End")
            }
            Command::Opts { option, value } => match (option.as_str(), value.as_deref()) {
                ("UTF8", Some(v)) if v.eq_ignore_ascii_case("ON") => ok(cmd, 200, "UTF8 mode is always on."),
                ("MLST", _) => ok(cmd, 200, "MLST OPTS type;size;modify;perm;unique;"),
                _ => cmd.fail(Status::BadArguments, "Option not understood."),
            },
            Command::Allo => ok(cmd, 202, "ALLO command ignored."),
            // Between commands no transfer runs (a transfer's own ABOR is handled by the session loop).
            Command::Abor => ok(cmd, 226, "No transfer to abort."),
            Command::Help { .. } => {
                let _ = cmd.responses.add_raw(214, "The following commands are recognized:");
                cmd.responses.dup(
                    "USER PASS QUIT SYST FEAT OPTS TYPE MODE STRU PWD CWD CDUP PASV EPSV PORT EPRT REST LIST NLST \
                     MLSD MLST RETR STOR APPE DELE MKD RMD RNFR RNTO SIZE MDTM NOOP ALLO HELP SITE",
                );
                ok(cmd, 214, "Help OK.")
            }
            _ => match &mut cmd.channel {
                Channel::Ftp(data) => Self::data_setup(data, &raw).apply(cmd),
                _ => HandlerResult::Declined,
            },
        }
    }
}
