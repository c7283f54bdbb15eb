//! Parses one framed control line into a [`Command`].
//!
//! RFC 959 §4.1: "The commands begin with a command code followed by an
//! argument field. The command codes are four or fewer alphabetic
//! characters. Upper and lower case alphabetic characters are to be treated
//! identically." The syntax in §5.3.1 is `RETR <SP> <pathname> <CRLF>`:
//! the argument starts after one space, so path names keep any further
//! spaces verbatim.
//!
//! Verbs are matched case-insensitively and may have up to 8 letters (some
//! extensions are longer than four). The RFC 775 aliases XPWD, XCWD, XCUP,
//! XMKD and XRMD map to PWD, CWD, CDUP, MKD and RMD. Unknown verbs are not an
//! error: they come back as [`Command::Other`] so the server can answer 500.
//! Error texts never echo client bytes, with one exception: a NUL in the line
//! of an unknown verb names that verb, which is then at most 8 ASCII letters
//! (upper-cased), so nothing else a client sent can reach a reply.

use crate::address::{EprtError, is_decimal, parse_eprt, parse_port_tuple};
use crate::command::{Command, EpsvArg, ProtLevel, TransferType};
use crate::secret::Secret;

/// Why a line could not be parsed. Every variant maps to a reply code via
/// [`ParseError::reply_code`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The line is empty.
    #[error("empty command line")]
    Empty,
    /// The line is not valid UTF-8.
    #[error("command line is not valid UTF-8")]
    InvalidUtf8,
    /// The verb is longer than 8 characters or not purely alphabetic.
    #[error("syntax error, command unrecognized")]
    InvalidVerb,
    /// A command that needs an argument got none (or an empty one).
    #[error("{verb} requires an argument")]
    MissingArgument {
        /// Canonical verb.
        verb: &'static str,
    },
    /// The argument is malformed.
    #[error("invalid {verb} argument: {reason}")]
    InvalidArgument {
        /// Canonical verb.
        verb: &'static str,
        /// Fixed explanation (never client bytes).
        reason: &'static str,
    },
    /// A NUL byte in the argument of a verb that is not a known command
    /// (RFC 959 §4.1: arguments are Telnet strings, which hold no NUL).
    #[error("invalid {verb} argument: NUL in argument")]
    NulInUnknownCommand {
        /// The verb as sent, upper-cased: at most 8 ASCII letters.
        verb: String,
    },
    /// A NUL byte inside the verb itself (`US\0ER`, `RETR\0`).
    #[error("syntax error, NUL in command verb")]
    NulInVerb,
    /// The argument is well-formed but names something not supported
    /// (`TYPE E`, `EPSV 3`, an EPRT protocol other than 1 or 2). For EPRT
    /// and EPSV the text is RFC 2428's, naming the protocols supported:
    /// `Network protocol not supported, use (1,2)`.
    #[error("{}", unsupported_text(.verb))]
    UnsupportedParameter {
        /// Canonical verb.
        verb: &'static str,
    },
}

/// The text of [`ParseError::UnsupportedParameter`].
fn unsupported_text(verb: &str) -> String {
    match verb {
        // RFC 2428 §2: "522 Network protocol not supported, use (1,2)".
        "EPRT" | "EPSV" => "Network protocol not supported, use (1,2)".to_owned(),
        _ => format!("{verb} parameter not supported"),
    }
}

impl ParseError {
    /// The reply code the server should answer with: 500 for `Empty`,
    /// `InvalidVerb` and `NulInVerb`; 501 for `InvalidUtf8`,
    /// `MissingArgument`, `InvalidArgument` and `NulInUnknownCommand`; 504
    /// for `UnsupportedParameter`, except 522 for EPRT and EPSV (RFC 2428:
    /// "522 Network protocol not supported").
    #[must_use]
    pub fn reply_code(&self) -> u16 {
        match self {
            Self::Empty | Self::InvalidVerb | Self::NulInVerb => 500,
            Self::InvalidUtf8
            | Self::MissingArgument { .. }
            | Self::InvalidArgument { .. }
            | Self::NulInUnknownCommand { .. } => 501,
            Self::UnsupportedParameter { verb: "EPRT" | "EPSV" } => 522,
            Self::UnsupportedParameter { .. } => 504,
        }
    }

    /// The canonical verb the error is about, if known.
    #[must_use]
    pub fn verb(&self) -> Option<&'static str> {
        match self {
            Self::Empty
            | Self::InvalidUtf8
            | Self::InvalidVerb
            | Self::NulInUnknownCommand { .. }
            | Self::NulInVerb => None,
            Self::MissingArgument { verb }
            | Self::InvalidArgument { verb, .. }
            | Self::UnsupportedParameter { verb } => Some(verb),
        }
    }
}

/// Longest verb accepted.
const MAX_VERB_LEN: usize = 8;

/// Known verbs (upper case) and the canonical verb each maps to.
#[rustfmt::skip]
const VERBS: &[(&str, &str)] = &[
    ("USER", "USER"), ("PASS", "PASS"), ("ACCT", "ACCT"), ("QUIT", "QUIT"), ("REIN", "REIN"),
    ("SYST", "SYST"), ("NOOP", "NOOP"), ("FEAT", "FEAT"), ("OPTS", "OPTS"), ("TYPE", "TYPE"),
    ("MODE", "MODE"), ("STRU", "STRU"), ("PWD", "PWD"), ("XPWD", "PWD"), ("CWD", "CWD"),
    ("XCWD", "CWD"), ("CDUP", "CDUP"), ("XCUP", "CDUP"), ("PASV", "PASV"), ("EPSV", "EPSV"),
    ("PORT", "PORT"), ("EPRT", "EPRT"), ("LIST", "LIST"), ("NLST", "NLST"), ("MLSD", "MLSD"),
    ("MLST", "MLST"), ("RETR", "RETR"), ("STOR", "STOR"), ("STOU", "STOU"), ("APPE", "APPE"),
    ("REST", "REST"), ("SIZE", "SIZE"), ("MDTM", "MDTM"), ("DELE", "DELE"), ("MKD", "MKD"),
    ("XMKD", "MKD"), ("RMD", "RMD"), ("XRMD", "RMD"), ("RNFR", "RNFR"), ("RNTO", "RNTO"),
    ("ABOR", "ABOR"), ("STAT", "STAT"), ("HELP", "HELP"), ("ALLO", "ALLO"), ("SITE", "SITE"),
    ("AUTH", "AUTH"), ("PBSZ", "PBSZ"), ("PROT", "PROT"), ("CCC", "CCC"), ("HOST", "HOST"),
    ("MFMT", "MFMT"), ("MFF", "MFF"),
];

/// Maps an upper-case verb (or alias) to its canonical verb.
fn canonical(upper: &str) -> Option<&'static str> {
    VERBS.iter().find(|(v, _)| *v == upper).map(|(_, c)| *c)
}

/// Parses one framed line (without the line end) into a [`Command`].
///
/// The verb is everything up to the first space; the argument is everything
/// after that first space, verbatim. See the module docs for the rules and
/// [`ParseError`] for the failures.
pub fn parse(line: &[u8]) -> Result<Command, ParseError> {
    if line.is_empty() {
        return Err(ParseError::Empty);
    }
    let line = std::str::from_utf8(line).map_err(|_| ParseError::InvalidUtf8)?;
    let (raw_verb, args) = match line.split_once(' ') {
        Some((verb, args)) => (verb, Some(args)),
        None => (line, None),
    };
    let upper =
        (!raw_verb.is_empty() && raw_verb.len() <= MAX_VERB_LEN && raw_verb.bytes().all(|b| b.is_ascii_alphabetic()))
            .then(|| raw_verb.to_ascii_uppercase());
    if line.contains('\0') {
        // Named by its canonical verb when known, else as sent (a well-formed
        // verb is only letters); a NUL inside the verb leaves nothing to name.
        return Err(match upper {
            None => ParseError::NulInVerb,
            Some(upper) => match canonical(&upper) {
                Some(verb) => ParseError::InvalidArgument {
                    verb,
                    reason: "NUL in argument",
                },
                None => ParseError::NulInUnknownCommand { verb: upper },
            },
        });
    }
    let upper = upper.ok_or(ParseError::InvalidVerb)?;
    let Some(verb) = canonical(&upper) else {
        return Ok(Command::Other {
            verb: upper,
            args: args.unwrap_or_default().to_owned(),
        });
    };
    dispatch(verb, args)
}

/// Builds the command for a known canonical verb.
fn dispatch(verb: &'static str, args: Option<&str>) -> Result<Command, ParseError> {
    let path = || required(verb, args).map(str::to_owned);
    Ok(match verb {
        "USER" => Command::User { name: path()? },
        "PASS" => Command::Pass {
            password: Secret::new(args.unwrap_or_default().to_owned()),
        },
        "ACCT" => Command::Acct {
            account: Secret::new(path()?),
        },
        "QUIT" => Command::Quit,
        "REIN" => Command::Rein,
        "SYST" => Command::Syst,
        "NOOP" => Command::Noop,
        "FEAT" => Command::Feat,
        "OPTS" => {
            let (option, value) = first_word(verb, args)?;
            Command::Opts {
                option,
                value: (!value.is_empty()).then(|| value.to_owned()),
            }
        }
        "TYPE" => Command::Type(parse_type(token(verb, args)?)?),
        "MODE" => Command::Mode {
            mode: single_char(verb, args)?,
        },
        "STRU" => Command::Stru {
            structure: single_char(verb, args)?,
        },
        "PWD" => Command::Pwd,
        "CWD" => Command::Cwd { path: path()? },
        "CDUP" => Command::Cdup,
        "PASV" => Command::Pasv,
        "EPSV" => Command::Epsv(parse_epsv(args)?),
        "PORT" => Command::Port(parse_port(token(verb, args)?)?),
        "EPRT" => Command::Eprt(parse_eprt(token(verb, args)?).map_err(|e| match e {
            EprtError::UnsupportedProtocol => ParseError::UnsupportedParameter { verb },
            EprtError::Malformed(reason) => ParseError::InvalidArgument { verb, reason },
        })?),
        "LIST" => Command::List { path: list_path(args) },
        "NLST" => Command::Nlst { path: list_path(args) },
        "MLSD" => Command::Mlsd { path: optional(args) },
        "MLST" => Command::Mlst { path: optional(args) },
        "RETR" => Command::Retr { path: path()? },
        "STOR" => Command::Stor { path: path()? },
        "STOU" => Command::Stou { path: optional(args) },
        "APPE" => Command::Appe { path: path()? },
        "REST" => Command::Rest {
            offset: decimal(verb, token(verb, args)?)?,
        },
        "SIZE" => Command::Size { path: path()? },
        "MDTM" => Command::Mdtm { path: path()? },
        "MFMT" => {
            // draft-somers-ftp-mfxx §3: MFMT <time-val> SP <pathname>
            let arg = required(verb, args)?.trim_start_matches(' ');
            let (time, path) = arg.split_once(' ').ok_or(ParseError::MissingArgument { verb })?;
            if path.is_empty() {
                return Err(ParseError::MissingArgument { verb });
            }
            Command::Mfmt {
                modified: time_val(verb, time)?,
                path: path.to_owned(),
            }
        }
        "MFF" => parse_mff(args)?,
        "DELE" => Command::Dele { path: path()? },
        "MKD" => Command::Mkd { path: path()? },
        "RMD" => Command::Rmd { path: path()? },
        "RNFR" => Command::Rnfr { path: path()? },
        "RNTO" => Command::Rnto { path: path()? },
        "ABOR" => Command::Abor,
        "STAT" => Command::Stat { path: optional(args) },
        "HELP" => Command::Help { topic: optional(args) },
        "ALLO" => Command::Allo,
        "SITE" => {
            let (sub, rest) = first_word(verb, args)?;
            Command::Site {
                sub,
                args: rest.to_owned(),
            }
        }
        "AUTH" => Command::Auth {
            mechanism: token(verb, args)?.to_ascii_uppercase(),
        },
        "PBSZ" => Command::Pbsz {
            size: decimal(verb, token(verb, args)?)?,
        },
        "PROT" => Command::Prot(parse_prot(token(verb, args)?)?),
        "CCC" => Command::Ccc,
        "HOST" => Command::Host { host: path()? },
        // Every entry of VERBS is handled above; stay total anyway.
        other => Command::Other {
            verb: other.to_owned(),
            args: args.unwrap_or_default().to_owned(),
        },
    })
}

/// The argument, verbatim; missing or empty is an error.
fn required<'a>(verb: &'static str, args: Option<&'a str>) -> Result<&'a str, ParseError> {
    args.filter(|a| !a.is_empty())
        .ok_or(ParseError::MissingArgument { verb })
}

/// The argument with surrounding whitespace trimmed; empty is an error.
/// An RFC 3659 `time-val` (`YYYYMMDDHHMMSS[.sss]`, UTC).
fn time_val(verb: &'static str, text: &str) -> Result<std::time::SystemTime, ParseError> {
    crate::listing::parse_time_val(text).ok_or(ParseError::InvalidArgument {
        verb,
        reason: "the time must be YYYYMMDDHHMMSS[.sss], UTC",
    })
}

/// draft-somers-ftp-mfxx §4: `MFF <fact>=<value>;[<fact>=<value>;…] SP <pathname>`.
/// `modify` is read; other facts are named for the refusal.
fn parse_mff(args: Option<&str>) -> Result<Command, ParseError> {
    const VERB: &str = "MFF";
    let arg = required(VERB, args)?.trim_start_matches(' ');
    let (facts, path) = arg.split_once(' ').ok_or(ParseError::MissingArgument { verb: VERB })?;
    if path.is_empty() {
        return Err(ParseError::MissingArgument { verb: VERB });
    }
    let (mut modify, mut others) = (None, Vec::new());
    for fact in facts.split(';').filter(|f| !f.is_empty()) {
        let (name, value) = fact.split_once('=').ok_or(ParseError::InvalidArgument {
            verb: VERB,
            reason: "facts are name=value; pairs",
        })?;
        if name.eq_ignore_ascii_case("modify") {
            modify = Some(time_val(VERB, value)?);
        } else {
            others.push(name.to_ascii_lowercase());
        }
    }
    Ok(Command::Mff {
        modify,
        others,
        path: path.to_owned(),
    })
}

fn token<'a>(verb: &'static str, args: Option<&'a str>) -> Result<&'a str, ParseError> {
    args.map(str::trim)
        .filter(|a| !a.is_empty())
        .ok_or(ParseError::MissingArgument { verb })
}

/// An optional verbatim argument; empty counts as absent.
fn optional(args: Option<&str>) -> Option<String> {
    args.filter(|a| !a.is_empty()).map(str::to_owned)
}

/// Splits `WORD rest` (leading spaces skipped) into the upper-cased word and
/// the verbatim rest after one space. Used by SITE and OPTS.
fn first_word<'a>(verb: &'static str, args: Option<&'a str>) -> Result<(String, &'a str), ParseError> {
    let arg = required(verb, args)?.trim_start_matches(' ');
    let (word, rest) = arg.split_once(' ').unwrap_or((arg, ""));
    if word.is_empty() {
        return Err(ParseError::MissingArgument { verb });
    }
    Ok((word.to_ascii_uppercase(), rest))
}

/// The arguments of `SITE CHMOD` (`<octal mode> <path>`, as ProFTPD and vsftpd take
/// them): the permission bits and the path. Only `000`–`777` is accepted; set-id and
/// sticky bits are refused like any other malformed mode.
pub fn parse_site_chmod(args: &str) -> Result<(u32, &str), ParseError> {
    const VERB: &str = "SITE CHMOD";
    let args = args.trim_start_matches(' ');
    let (mode, path) = args.split_once(' ').ok_or(ParseError::MissingArgument { verb: VERB })?;
    let path = path.trim_start_matches(' ');
    if path.is_empty() {
        return Err(ParseError::MissingArgument { verb: VERB });
    }
    let bad = ParseError::InvalidArgument {
        verb: VERB,
        reason: "mode must be octal permission bits, 000 to 777",
    };
    if mode.is_empty() || mode.len() > 4 || !mode.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return Err(bad);
    }
    match u32::from_str_radix(mode, 8) {
        Ok(bits) if bits <= 0o777 => Ok((bits, path)),
        _ => Err(bad),
    }
}

/// LIST/NLST: strips leading ls-style option tokens (`-l`, `-la`, `-R`);
/// what remains, if non-empty, is the path.
fn list_path(args: Option<&str>) -> Option<String> {
    let mut rest = args?;
    while rest.starts_with('-') {
        rest = rest
            .split_once(' ')
            .map_or("", |(_, after)| after.trim_start_matches(' '));
    }
    optional(Some(rest))
}

/// MODE and STRU: exactly one character, upper-cased.
fn single_char(verb: &'static str, args: Option<&str>) -> Result<char, ParseError> {
    let arg = token(verb, args)?;
    let mut chars = arg.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => Ok(c.to_ascii_uppercase()),
        _ => Err(ParseError::InvalidArgument {
            verb,
            reason: "expected a single character",
        }),
    }
}

/// A decimal `u64` (no sign).
fn decimal(verb: &'static str, s: &str) -> Result<u64, ParseError> {
    let invalid = ParseError::InvalidArgument {
        verb,
        reason: "expected a decimal number",
    };
    if !is_decimal(s) {
        return Err(invalid);
    }
    s.parse().map_err(|_| invalid)
}

/// RFC 959 §4.1.2 TYPE: `A [N]`, `I`, `L 8` are supported; `A T`, `A C`,
/// `E [N|T|C]` and `L n` (n ≠ 8) are valid but unsupported (504).
fn parse_type(arg: &str) -> Result<TransferType, ParseError> {
    const VERB: &str = "TYPE";
    let mut words = arg.split_ascii_whitespace().map(str::to_ascii_uppercase);
    let (first, second, extra) = (words.next(), words.next(), words.next());
    if extra.is_some() {
        return Err(ParseError::InvalidArgument {
            verb: VERB,
            reason: "too many parameters",
        });
    }
    match (first.as_deref(), second.as_deref()) {
        (Some("A"), None | Some("N")) => Ok(TransferType::Ascii),
        (Some("I"), None) | (Some("L"), Some("8")) => Ok(TransferType::Image),
        (Some("A"), Some("T" | "C")) | (Some("E"), None | Some("N" | "T" | "C")) => {
            Err(ParseError::UnsupportedParameter { verb: VERB })
        }
        (Some("L"), Some(n)) if is_decimal(n) => Err(ParseError::UnsupportedParameter { verb: VERB }),
        _ => Err(ParseError::InvalidArgument {
            verb: VERB,
            reason: "unknown representation type",
        }),
    }
}

/// RFC 2428 EPSV: no argument, `ALL`, or a network protocol number.
fn parse_epsv(args: Option<&str>) -> Result<EpsvArg, ParseError> {
    const VERB: &str = "EPSV";
    let arg = args.map(str::trim).unwrap_or_default();
    if arg.is_empty() {
        Ok(EpsvArg::Any)
    } else if arg.eq_ignore_ascii_case("ALL") {
        Ok(EpsvArg::All)
    } else if is_decimal(arg) {
        match arg.parse::<u16>() {
            Ok(n @ (1 | 2)) => Ok(EpsvArg::Protocol(n)),
            _ => Err(ParseError::UnsupportedParameter { verb: VERB }),
        }
    } else {
        Err(ParseError::InvalidArgument {
            verb: VERB,
            reason: "expected ALL or a protocol number",
        })
    }
}

/// RFC 959 PORT `h1,h2,h3,h4,p1,p2`; port 0 is rejected (nothing can
/// listen there).
fn parse_port(arg: &str) -> Result<std::net::SocketAddrV4, ParseError> {
    const VERB: &str = "PORT";
    let addr = parse_port_tuple(arg).ok_or(ParseError::InvalidArgument {
        verb: VERB,
        reason: "expected h1,h2,h3,h4,p1,p2",
    })?;
    if addr.port() == 0 {
        return Err(ParseError::InvalidArgument {
            verb: VERB,
            reason: "port 0",
        });
    }
    Ok(addr)
}

/// RFC 2228 PROT: one of `C`, `S`, `E`, `P`.
fn parse_prot(arg: &str) -> Result<ProtLevel, ParseError> {
    match arg.to_ascii_uppercase().as_str() {
        "C" => Ok(ProtLevel::Clear),
        "S" => Ok(ProtLevel::Safe),
        "E" => Ok(ProtLevel::Confidential),
        "P" => Ok(ProtLevel::Private),
        _ => Err(ParseError::InvalidArgument {
            verb: "PROT",
            reason: "expected C, S, E or P",
        }),
    }
}

#[cfg(test)]
mod tests;
