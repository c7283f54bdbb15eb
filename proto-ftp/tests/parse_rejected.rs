//! Golden transcripts for the command parser: lines that must be rejected,
//! with the exact [`ParseError`] and its reply code, plus checks that error
//! texts and secrets never echo client bytes.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail loudly on unexpected values"
)]

use proto_ftp::{ParseError, parse};

#[test]
fn rejected_lines() {
    use ParseError::*;
    let table: Vec<(&[u8], ParseError, u16)> = vec![
        (b"", Empty, 500),
        (b"RETR \xff", InvalidUtf8, 501),
        (b"\xc3", InvalidUtf8, 501),
        (b"ABCDEFGHI", InvalidVerb, 500),
        (b"US3R x", InvalidVerb, 500),
        (b" USER x", InvalidVerb, 500),
        (b"\xc3\x9cSER x", InvalidVerb, 500),
        (b"USER", MissingArgument { verb: "USER" }, 501),
        (b"USER ", MissingArgument { verb: "USER" }, 501),
        (b"ACCT", MissingArgument { verb: "ACCT" }, 501),
        (b"CWD", MissingArgument { verb: "CWD" }, 501),
        (b"XCWD", MissingArgument { verb: "CWD" }, 501),
        (b"RETR", MissingArgument { verb: "RETR" }, 501),
        (b"STOR ", MissingArgument { verb: "STOR" }, 501),
        (b"APPE", MissingArgument { verb: "APPE" }, 501),
        (b"SIZE", MissingArgument { verb: "SIZE" }, 501),
        (b"MDTM", MissingArgument { verb: "MDTM" }, 501),
        (b"MFMT", MissingArgument { verb: "MFMT" }, 501),
        (b"MFMT 20240102150405", MissingArgument { verb: "MFMT" }, 501),
        (b"MFF modify=20240102150405;", MissingArgument { verb: "MFF" }, 501),
        (
            b"MFMT 2024010215040 f",
            InvalidArgument {
                verb: "MFMT",
                reason: "the time must be YYYYMMDDHHMMSS[.sss], UTC",
            },
            501,
        ),
        (
            b"MFMT 20241302150405 f",
            InvalidArgument {
                verb: "MFMT",
                reason: "the time must be YYYYMMDDHHMMSS[.sss], UTC",
            },
            501,
        ),
        (
            b"MFMT 20240102150405. f",
            InvalidArgument {
                verb: "MFMT",
                reason: "the time must be YYYYMMDDHHMMSS[.sss], UTC",
            },
            501,
        ),
        (
            b"MFF modify; f",
            InvalidArgument {
                verb: "MFF",
                reason: "facts are name=value; pairs",
            },
            501,
        ),
        (b"DELE", MissingArgument { verb: "DELE" }, 501),
        (b"XMKD", MissingArgument { verb: "MKD" }, 501),
        (b"RMD", MissingArgument { verb: "RMD" }, 501),
        (b"RNFR", MissingArgument { verb: "RNFR" }, 501),
        (b"RNTO", MissingArgument { verb: "RNTO" }, 501),
        (b"REST", MissingArgument { verb: "REST" }, 501),
        (b"TYPE", MissingArgument { verb: "TYPE" }, 501),
        (b"MODE", MissingArgument { verb: "MODE" }, 501),
        (b"STRU  ", MissingArgument { verb: "STRU" }, 501),
        (b"PORT", MissingArgument { verb: "PORT" }, 501),
        (b"EPRT", MissingArgument { verb: "EPRT" }, 501),
        (b"SITE", MissingArgument { verb: "SITE" }, 501),
        (b"SITE  ", MissingArgument { verb: "SITE" }, 501),
        (b"OPTS", MissingArgument { verb: "OPTS" }, 501),
        (b"AUTH", MissingArgument { verb: "AUTH" }, 501),
        (b"PBSZ", MissingArgument { verb: "PBSZ" }, 501),
        (b"PROT", MissingArgument { verb: "PROT" }, 501),
        (b"HOST", MissingArgument { verb: "HOST" }, 501),
        (b"TYPE A T", UnsupportedParameter { verb: "TYPE" }, 504),
        (b"TYPE a c", UnsupportedParameter { verb: "TYPE" }, 504),
        (b"TYPE E", UnsupportedParameter { verb: "TYPE" }, 504),
        (b"TYPE L 7", UnsupportedParameter { verb: "TYPE" }, 504),
        (
            b"TYPE X",
            InvalidArgument {
                verb: "TYPE",
                reason: "unknown representation type",
            },
            501,
        ),
        (
            b"TYPE I N",
            InvalidArgument {
                verb: "TYPE",
                reason: "unknown representation type",
            },
            501,
        ),
        (
            b"TYPE L",
            InvalidArgument {
                verb: "TYPE",
                reason: "unknown representation type",
            },
            501,
        ),
        (
            b"TYPE A N X",
            InvalidArgument {
                verb: "TYPE",
                reason: "too many parameters",
            },
            501,
        ),
        (
            b"MODE SB",
            InvalidArgument {
                verb: "MODE",
                reason: "expected a single character",
            },
            501,
        ),
        (
            b"STRU FR",
            InvalidArgument {
                verb: "STRU",
                reason: "expected a single character",
            },
            501,
        ),
        (
            b"PORT 1,2,3,4,5",
            InvalidArgument {
                verb: "PORT",
                reason: "expected h1,h2,h3,h4,p1,p2",
            },
            501,
        ),
        (
            b"PORT 1,2,3,4,5,6,7",
            InvalidArgument {
                verb: "PORT",
                reason: "expected h1,h2,h3,h4,p1,p2",
            },
            501,
        ),
        (
            b"PORT 1,2,3,256,5,6",
            InvalidArgument {
                verb: "PORT",
                reason: "expected h1,h2,h3,h4,p1,p2",
            },
            501,
        ),
        (
            b"PORT 1,2,3,+4,5,6",
            InvalidArgument {
                verb: "PORT",
                reason: "expected h1,h2,h3,h4,p1,p2",
            },
            501,
        ),
        (
            b"PORT 1,2,3,4,0,0",
            InvalidArgument {
                verb: "PORT",
                reason: "port 0",
            },
            501,
        ),
        (b"EPRT |3|1.2.3.4|21|", UnsupportedParameter { verb: "EPRT" }, 522),
        (
            b"EPRT |1|::1|21|",
            InvalidArgument {
                verb: "EPRT",
                reason: "bad IPv4 address",
            },
            501,
        ),
        (
            b"EPRT |2|1.2.3.4|21|",
            InvalidArgument {
                verb: "EPRT",
                reason: "bad IPv6 address",
            },
            501,
        ),
        (
            b"EPRT |1|1.2.3.4|0|",
            InvalidArgument {
                verb: "EPRT",
                reason: "bad port",
            },
            501,
        ),
        (
            b"EPRT |1|1.2.3.4|65536|",
            InvalidArgument {
                verb: "EPRT",
                reason: "bad port",
            },
            501,
        ),
        (
            b"EPRT |1|1.2.3.4|21",
            InvalidArgument {
                verb: "EPRT",
                reason: "expected <d>proto<d>address<d>port<d>",
            },
            501,
        ),
        (b"EPSV 3", UnsupportedParameter { verb: "EPSV" }, 522),
        (b"EPSV 99999999", UnsupportedParameter { verb: "EPSV" }, 522),
        (
            b"EPSV foo",
            InvalidArgument {
                verb: "EPSV",
                reason: "expected ALL or a protocol number",
            },
            501,
        ),
        (
            b"REST -1",
            InvalidArgument {
                verb: "REST",
                reason: "expected a decimal number",
            },
            501,
        ),
        (
            b"REST 1k",
            InvalidArgument {
                verb: "REST",
                reason: "expected a decimal number",
            },
            501,
        ),
        (
            b"REST 18446744073709551616",
            InvalidArgument {
                verb: "REST",
                reason: "expected a decimal number",
            },
            501,
        ),
        (
            b"PBSZ x",
            InvalidArgument {
                verb: "PBSZ",
                reason: "expected a decimal number",
            },
            501,
        ),
        (
            b"PROT X",
            InvalidArgument {
                verb: "PROT",
                reason: "expected C, S, E or P",
            },
            501,
        ),
        (
            b"RETR a\0b",
            InvalidArgument {
                verb: "RETR",
                reason: "NUL in argument",
            },
            501,
        ),
        (
            b"XMKD \0",
            InvalidArgument {
                verb: "MKD",
                reason: "NUL in argument",
            },
            501,
        ),
        // An unknown verb is named as sent (upper-cased), never as "OTHER".
        (
            b"xfoo \0",
            NulInUnknownCommand {
                verb: "XFOO".to_owned(),
            },
            501,
        ),
        (b"US\0ER x", NulInVerb, 500),
        (b"RETR\0", NulInVerb, 500),
    ];
    for (line, want, code) in table {
        let got = parse(line);
        assert_eq!(got.as_ref(), Err(&want), "line {:?}", String::from_utf8_lossy(line));
        assert_eq!(want.reply_code(), code, "code for {want:?}");
    }
}

/// The texts a client sees name the command it sent, and RFC 2428's 522 text
/// lists the supported network protocols.
#[test]
fn error_texts_name_the_command() {
    let text = |line: &[u8]| parse(line).unwrap_err().to_string();
    assert_eq!(text(b"RETR a\0b"), "invalid RETR argument: NUL in argument");
    assert_eq!(text(b"XMKD a\0"), "invalid MKD argument: NUL in argument");
    assert_eq!(text(b"Xfoo a\0b"), "invalid XFOO argument: NUL in argument");
    assert_eq!(text(b"US\0ER x"), "syntax error, NUL in command verb");
    for line in [&b"EPRT |3|1.2.3.4|21|"[..], b"EPSV 3"] {
        let err = parse(line).unwrap_err();
        assert_eq!(err.reply_code(), 522);
        assert_eq!(err.to_string(), "Network protocol not supported, use (1,2)");
    }
    assert_eq!(text(b"TYPE E"), "TYPE parameter not supported");
    for line in [&b"XFOO a\0b"[..], b"RETR a\0b", b"US\0ER x"] {
        assert!(!text(line).contains("OTHER"), "{:?}", String::from_utf8_lossy(line));
    }
}

#[test]
fn secrets_do_not_print() {
    let cmd = parse(b"PASS hunter2").unwrap();
    assert!(!format!("{cmd:?}").contains("hunter2"));
    let cmd = parse(b"ACCT hunter2").unwrap();
    assert!(!format!("{cmd:?}").contains("hunter2"));
}

#[test]
fn error_texts_do_not_echo_client_bytes() {
    for line in [&b"RETR \xffEVIL"[..], b"EVILEVILEVIL x", b"PORT EVIL", b"RETR EVIL\0"] {
        let err = parse(line).unwrap_err();
        assert!(!err.to_string().contains("EVIL"), "{err}");
    }
}
