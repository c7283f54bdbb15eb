//! The only FTP → neutral mapping: a parsed `proto_ftp::Command` becomes a command
//! record (canonical verb, resolved paths, typed arguments, whether a login is
//! needed). Nothing here talks to storage or decides policy.

use std::borrow::Cow;

use proto_ftp::{Command, ParseError};

use super::data::FtpData;
use crate::auth::{Credentials, Password};
use crate::channel::Channel;
use crate::command::{CommandRecord, ListFormat, Protocol, RawCommand, StatQuery, Verb};
use crate::path::VirtualPath;
use crate::response::{Code, Reply};
use crate::session::Session;
use crate::storage::WriteMode;

/// Lifts a parse result into a record borrowing the session and data state.
pub fn lift<'a>(
    parsed: Result<Command, ParseError>,
    session: &'a mut Session,
    data: &'a mut FtpData,
) -> CommandRecord<'a> {
    // RNTO must follow RNFR at once (RFC 959 §4.1.3): any other line in between,
    // even a malformed one, forgets the pending rename, and RNTO then answers 503.
    let rename_from = session.rename_from.take();
    let cmd = match parsed {
        Ok(cmd) => cmd,
        Err(e) => {
            let mut rec = CommandRecord::new(
                Protocol::Ftp,
                Verb::Custom(String::new()),
                RawCommand::FtpUnparsed,
                session,
                Channel::new(data),
            );
            rec.requires_login = false;
            rec.rejected = Some(Reply {
                code: Code::Raw(e.reply_code()),
                text: Cow::Owned(e.to_string()),
            });
            return rec;
        }
    };
    // A REST marker waits for the next transfer command, which uses it up whatever
    // its outcome (as vsftpd and ProFTPD keep it); RNFR forgets it. RETR and STOR
    // honour it; APPE and STOU cannot, and refuse it rather than write elsewhere
    // than asked; listings have no offset and ignore it.
    let rest = if cmd.uses_data_connection() {
        std::mem::take(&mut data.rest)
    } else {
        data.rest
    };
    if matches!(cmd, Command::Rnfr { .. }) {
        data.rest = 0;
    }
    data.stou_name = None; // announced by the one STOU that chose it, never by a later upload
    let (verb, requires_login) = verb_of(&cmd);
    let raw = RawCommand::Ftp(cmd.clone());
    let cwd = session.cwd.clone();
    let mut rec = CommandRecord::new(Protocol::Ftp, verb, raw, session, Channel::new(data));
    rec.requires_login = requires_login;
    let resolve = |p: &str| VirtualPath::resolve(&cwd, p);
    let dir_or_cwd = |p: &Option<String>| match p {
        Some(p) => VirtualPath::resolve(&cwd, p),
        None => Ok(cwd.clone()),
    };
    match cmd {
        Command::User { name } => rec.args.text = Some(name),
        Command::Pass { password } => {
            rec.args.credentials = Some(Credentials {
                user: String::new(), // the name comes from USER, kept on the session
                password: Password::new(password.into_inner()),
            });
        }
        Command::Cwd { path } => rec.set_path(resolve(&path)),
        Command::Cdup => rec.set_path(Ok(cwd.parent())),
        Command::List { path } | Command::Nlst { path } | Command::Mlsd { path } => {
            rec.set_path(dir_or_cwd(&path));
        }
        Command::Mlst { path } => rec.set_path(dir_or_cwd(&path)),
        Command::Retr { path } => {
            rec.set_path(resolve(&path));
            rec.args.offset = rest;
        }
        Command::Stor { path } => {
            rec.set_path(resolve(&path));
            rec.args.write_mode = if rest > 0 {
                WriteMode::At(rest)
            } else {
                WriteMode::Replace
            };
        }
        Command::Appe { .. } | Command::Stou { .. } if rest > 0 => {
            let text = format!("REST {rest} cannot be used with {}: use REST with STOR.", cmd.verb());
            rec.rejected = Some(Reply {
                code: Code::Raw(503),
                text: Cow::Owned(text),
            });
        }
        Command::Stou { path } => {
            // RFC 1123 §4.1.2.9: the server picks a name that does not exist yet and
            // announces it in the 150 reply; publishing refuses to replace anything.
            let base = path
                .as_deref()
                .and_then(|p| p.rsplit('/').next())
                .filter(|b| !b.is_empty())
                .unwrap_or("stou");
            let name = format!("{base}.{:08x}", rand::random::<u32>());
            rec.set_path(resolve(&name));
            rec.args.write_mode = WriteMode::CreateNew;
            if let Some(d) = rec.channel.get_mut::<FtpData>() {
                d.stou_name = Some(name);
            }
        }
        Command::Stat { path: Some(path) } => rec.set_path(resolve(&path)),
        Command::Appe { path } => {
            rec.set_path(resolve(&path));
            rec.args.write_mode = WriteMode::Append;
        }
        Command::Size { path }
        | Command::Mdtm { path }
        | Command::Dele { path }
        | Command::Mkd { path }
        | Command::Rmd { path }
        | Command::Rnfr { path } => {
            rec.set_path(resolve(&path));
        }
        Command::Rnto { path } => {
            rec.path = rename_from;
            rec.set_target(resolve(&path));
        }
        Command::Mfmt { modified, path } => {
            rec.args.modified = Some(modified);
            rec.set_path(resolve(&path));
        }
        Command::Mff { modify, others, path } => match modify {
            // Only `modify` can be set; the reply names what was changed.
            Some(modified) => {
                rec.args.modified = Some(modified);
                rec.set_path(resolve(&path));
            }
            None => {
                rec.rejected = Some(Reply {
                    code: Code::Raw(504),
                    text: Cow::Owned(format!(
                        "MFF can set only the modify fact here (not {}).",
                        others.join(", ")
                    )),
                });
            }
        },
        Command::Site { sub, args } if sub == "CHMOD" => match proto_ftp::parse_site_chmod(&args) {
            Ok((mode, path)) => {
                rec.args.mode = Some(mode);
                rec.set_path(resolve(path));
            }
            Err(e) => {
                rec.rejected = Some(Reply {
                    code: Code::Raw(e.reply_code()),
                    text: Cow::Owned(e.to_string()),
                });
            }
        },
        Command::Site { args, .. } => rec.args.text = Some(args),
        _ => {}
    }
    match &rec.raw {
        RawCommand::Ftp(Command::Nlst { .. }) => rec.args.list_format = ListFormat::FtpNames,
        RawCommand::Ftp(Command::Mlsd { .. }) => rec.args.list_format = ListFormat::FtpMachine,
        RawCommand::Ftp(Command::Size { .. }) => rec.args.stat_query = StatQuery::Size,
        RawCommand::Ftp(Command::Mdtm { .. }) => rec.args.stat_query = StatQuery::ModifyTime,
        _ => {}
    }
    rec
}

/// The canonical verb of an FTP command and whether it needs a login.
fn verb_of(cmd: &Command) -> (Verb, bool) {
    match cmd {
        Command::User { .. } => (Verb::User, false),
        Command::Pass { .. } => (Verb::Login, false),
        Command::Quit => (Verb::Logout, false),
        Command::Rein | Command::Acct { .. } => (Verb::Protocol(cmd.verb()), false),
        Command::Noop => (Verb::Noop, false),
        Command::Pwd => (Verb::PrintDir, true),
        Command::Cwd { .. } | Command::Cdup => (Verb::ChangeDir, true),
        Command::List { .. } | Command::Nlst { .. } | Command::Mlsd { .. } => (Verb::List, true),
        Command::Retr { .. } => (Verb::Read, true),
        Command::Stor { .. } | Command::Appe { .. } | Command::Stou { .. } => (Verb::Write, true),
        Command::Size { .. } | Command::Mdtm { .. } | Command::Mlst { .. } => (Verb::Stat, true),
        Command::Mfmt { .. } | Command::Mff { .. } => (Verb::SetModified, true),
        Command::Dele { .. } => (Verb::Delete, true),
        Command::Mkd { .. } => (Verb::MakeDir, true),
        Command::Rmd { .. } => (Verb::RemoveDir, true),
        Command::Rnfr { .. } => (Verb::RenameFrom, true),
        Command::Rnto { .. } => (Verb::Rename, true),
        Command::Site { sub, .. } => (Verb::Site(sub.clone()), true),
        Command::Other { verb, .. } => (Verb::Custom(verb.clone()), false),
        // Usable before login (RFC 2389 FEAT, RFC 4217 AUTH/PBSZ/PROT, RFC 7151 HOST).
        Command::Syst
        | Command::Feat
        | Command::Help { .. }
        | Command::Opts { .. }
        | Command::Auth { .. }
        | Command::Pbsz { .. }
        | Command::Prot(_)
        | Command::Ccc
        | Command::Host { .. } => (Verb::Protocol(cmd.verb()), false),
        _ => (Verb::Protocol(cmd.verb()), true),
    }
}
