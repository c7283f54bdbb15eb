//! Golden transcripts for the command parser: input lines and the exact
//! [`Command`] they must produce (all verbs, both cases, X-variants, edge
//! cases). Rejected lines are in `parse_rejected.rs`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail loudly on unexpected values"
)]

use proto_ftp::{Command, EpsvArg, ProtLevel, Secret, TransferType, parse};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::{Duration, UNIX_EPOCH};

fn s(v: &str) -> String {
    v.to_owned()
}

fn some(v: &str) -> Option<String> {
    Some(v.to_owned())
}

#[test]
fn accepted_lines() {
    let v4 = |a, b, c, d, p| SocketAddrV4::new(Ipv4Addr::new(a, b, c, d), p);
    let table: Vec<(&[u8], Command)> = vec![
        (b"USER alice", Command::User { name: s("alice") }),
        (b"user alice smith", Command::User { name: s("alice smith") }),
        (
            b"PASS secret",
            Command::Pass {
                password: Secret::new(s("secret")),
            },
        ),
        (
            b"PASS",
            Command::Pass {
                password: Secret::new(String::new()),
            },
        ),
        (
            b"pass  two words ",
            Command::Pass {
                password: Secret::new(s(" two words ")),
            },
        ),
        (
            b"ACCT acc",
            Command::Acct {
                account: Secret::new(s("acc")),
            },
        ),
        (b"QUIT", Command::Quit),
        (b"quit now", Command::Quit),
        (b"REIN", Command::Rein),
        (b"SYST", Command::Syst),
        (b"NOOP", Command::Noop),
        (b"NOOP x", Command::Noop),
        (b"FEAT", Command::Feat),
        (
            b"OPTS UTF8 ON",
            Command::Opts {
                option: s("UTF8"),
                value: some("ON"),
            },
        ),
        (
            b"opts utf8",
            Command::Opts {
                option: s("UTF8"),
                value: None,
            },
        ),
        (
            b"OPTS MLST type;size;modify;",
            Command::Opts {
                option: s("MLST"),
                value: some("type;size;modify;"),
            },
        ),
        (b"TYPE A", Command::Type(TransferType::Ascii)),
        (b"type a n", Command::Type(TransferType::Ascii)),
        (b"TYPE I", Command::Type(TransferType::Image)),
        (b"type i", Command::Type(TransferType::Image)),
        (b"TYPE L 8", Command::Type(TransferType::Image)),
        (b"TYPE  I ", Command::Type(TransferType::Image)),
        (b"MODE S", Command::Mode { mode: 'S' }),
        (b"mode z", Command::Mode { mode: 'Z' }),
        (b"STRU F", Command::Stru { structure: 'F' }),
        (b"stru r", Command::Stru { structure: 'R' }),
        (b"PWD", Command::Pwd),
        (b"XPWD", Command::Pwd),
        (b"xpwd", Command::Pwd),
        (b"CWD /pub/my dir", Command::Cwd { path: s("/pub/my dir") }),
        (b"XCWD sub", Command::Cwd { path: s("sub") }),
        (b"CWD  lead", Command::Cwd { path: s(" lead") }),
        (b"CWD trail ", Command::Cwd { path: s("trail ") }),
        (b"CDUP", Command::Cdup),
        (b"XCUP", Command::Cdup),
        (b"PASV", Command::Pasv),
        (b"PASV foo", Command::Pasv),
        (b"EPSV", Command::Epsv(EpsvArg::Any)),
        (b"EPSV ", Command::Epsv(EpsvArg::Any)),
        (b"EPSV ALL", Command::Epsv(EpsvArg::All)),
        (b"epsv all", Command::Epsv(EpsvArg::All)),
        (b"EPSV 1", Command::Epsv(EpsvArg::Protocol(1))),
        (b"EPSV 2", Command::Epsv(EpsvArg::Protocol(2))),
        (b"PORT 192,168,1,2,19,137", Command::Port(v4(192, 168, 1, 2, 5001))),
        (b"port  10,0,0,1,0,21 ", Command::Port(v4(10, 0, 0, 1, 21))),
        (
            b"EPRT |1|132.235.1.2|6275|",
            Command::Eprt("132.235.1.2:6275".parse::<SocketAddr>().unwrap()),
        ),
        (
            b"EPRT |2|1080::8:800:200C:417A|5282|",
            Command::Eprt("[1080::8:800:200c:417a]:5282".parse().unwrap()),
        ),
        (b"LIST", Command::List { path: None }),
        (b"LIST -la", Command::List { path: None }),
        (b"LIST -l -a", Command::List { path: None }),
        (b"LIST -la /dir x", Command::List { path: some("/dir x") }),
        (b"LIST -R  /dir", Command::List { path: some("/dir") }),
        (b"LIST /pub", Command::List { path: some("/pub") }),
        (b"list my file", Command::List { path: some("my file") }),
        (b"NLST", Command::Nlst { path: None }),
        (b"NLST -a", Command::Nlst { path: None }),
        (b"NLST *.txt", Command::Nlst { path: some("*.txt") }),
        (b"MLSD", Command::Mlsd { path: None }),
        (b"MLSD /pub", Command::Mlsd { path: some("/pub") }),
        (b"MLST", Command::Mlst { path: None }),
        (b"MLST a b", Command::Mlst { path: some("a b") }),
        (
            b"RETR file name.txt",
            Command::Retr {
                path: s("file name.txt"),
            },
        ),
        (b"retr x", Command::Retr { path: s("x") }),
        (b"STOR up.bin", Command::Stor { path: s("up.bin") }),
        (b"STOU", Command::Stou { path: None }),
        (b"STOU base", Command::Stou { path: some("base") }),
        (b"APPE log", Command::Appe { path: s("log") }),
        (b"REST 0", Command::Rest { offset: 0 }),
        (b"REST 18446744073709551615", Command::Rest { offset: u64::MAX }),
        (b"SIZE f", Command::Size { path: s("f") }),
        (b"MDTM f", Command::Mdtm { path: s("f") }),
        (
            b"MFMT 20240102150405 a b.txt",
            Command::Mfmt {
                modified: UNIX_EPOCH + Duration::from_secs(1_704_207_845),
                path: s("a b.txt"),
            },
        ),
        (
            b"MFMT 20240102150405.25 f",
            Command::Mfmt {
                modified: UNIX_EPOCH + Duration::from_millis(1_704_207_845_250),
                path: s("f"),
            },
        ),
        (
            b"MFF Modify=20240102150405;UNIX.mode=0644; f",
            Command::Mff {
                modify: Some(UNIX_EPOCH + Duration::from_secs(1_704_207_845)),
                others: vec![s("unix.mode")],
                path: s("f"),
            },
        ),
        (b"DELE f", Command::Dele { path: s("f") }),
        (b"MKD d", Command::Mkd { path: s("d") }),
        (b"XMKD d", Command::Mkd { path: s("d") }),
        (b"RMD d", Command::Rmd { path: s("d") }),
        (b"XRMD d", Command::Rmd { path: s("d") }),
        (b"RNFR a", Command::Rnfr { path: s("a") }),
        (b"RNTO b", Command::Rnto { path: s("b") }),
        (b"ABOR", Command::Abor),
        (b"STAT", Command::Stat { path: None }),
        (b"STAT /pub", Command::Stat { path: some("/pub") }),
        (b"HELP", Command::Help { topic: None }),
        (b"HELP SITE", Command::Help { topic: some("SITE") }),
        (b"ALLO 1000", Command::Allo),
        (b"ALLO", Command::Allo),
        (
            b"SITE CHMOD 755 my file",
            Command::Site {
                sub: s("CHMOD"),
                args: s("755 my file"),
            },
        ),
        (
            b"site help",
            Command::Site {
                sub: s("HELP"),
                args: String::new(),
            },
        ),
        (b"AUTH TLS", Command::Auth { mechanism: s("TLS") }),
        (b"auth tls", Command::Auth { mechanism: s("TLS") }),
        (b"PBSZ 0", Command::Pbsz { size: 0 }),
        (b"PROT P", Command::Prot(ProtLevel::Private)),
        (b"prot c", Command::Prot(ProtLevel::Clear)),
        (b"PROT S", Command::Prot(ProtLevel::Safe)),
        (b"PROT E", Command::Prot(ProtLevel::Confidential)),
        (b"CCC", Command::Ccc),
        (
            b"HOST ftp.example.com",
            Command::Host {
                host: s("ftp.example.com"),
            },
        ),
        (
            b"XFOO bar baz",
            Command::Other {
                verb: s("XFOO"),
                args: s("bar baz"),
            },
        ),
        (
            b"smnt",
            Command::Other {
                verb: s("SMNT"),
                args: String::new(),
            },
        ),
        (
            b"ABCDEFGH",
            Command::Other {
                verb: s("ABCDEFGH"),
                args: String::new(),
            },
        ),
        // Control characters other than NUL are not the parser's business.
        (b"RETR a\tb\x01", Command::Retr { path: s("a\tb\x01") }),
        (b"STOR caf\xc3\xa9", Command::Stor { path: s("café") }),
    ];
    for (line, want) in table {
        let got = parse(line);
        assert_eq!(got.as_ref(), Ok(&want), "line {:?}", String::from_utf8_lossy(line));
    }
}

#[test]
fn verbs_are_canonical() {
    let cases: [(&[u8], &str); 8] = [
        (b"XPWD", "PWD"),
        (b"XCWD a", "CWD"),
        (b"XCUP", "CDUP"),
        (b"XMKD a", "MKD"),
        (b"XRMD a", "RMD"),
        (b"xfoo", "OTHER"),
        (b"ccc", "CCC"),
        (b"host h", "HOST"),
    ];
    for (line, verb) in cases {
        assert_eq!(parse(line).unwrap().verb(), verb);
    }
}
