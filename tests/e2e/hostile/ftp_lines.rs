//! Hostile FTP control lines, generated from a seed: every verb the server knows
//! (and some it does not) with random and boundary arguments, over-long lines, every
//! byte 0x00–0xFF, Telnet IAC sequences, and the data connections a transfer needs.
//!
//! One [`FtpDriver`] plays one control connection at a time: it sends a line,
//! reads every reply it causes, checks RFC 959 framing (`ddd ` or a `ddd-` block
//! closed by `ddd `, each line ending in CRLF with no other CR or LF), opens the
//! passive data connection a transfer asks for, and sometimes sends a second line
//! while a transfer runs (ABOR with the Telnet Synch, STAT, anything). Each line
//! sent expects exactly one final (2xx–5xx) reply; `221`/`421` end the connection,
//! which the driver then checks is closed and opens again.

use std::net::SocketAddr;

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, RngCore};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use crate::support::STEP;
use crate::support::ftp::{parse_epsv, parse_pasv};

/// Every verb `proto_ftp::parse` knows (aliases included), then some it does not.
pub const VERBS: &[&str] = &[
    "USER", "PASS", "ACCT", "QUIT", "REIN", "HOST", "SYST", "NOOP", "FEAT", "OPTS", "TYPE", "MODE", "STRU", "PWD",
    "XPWD", "CWD", "XCWD", "CDUP", "XCUP", "PASV", "EPSV", "PORT", "EPRT", "LIST", "NLST", "MLSD", "MLST", "RETR",
    "STOR", "STOU", "APPE", "REST", "SIZE", "MDTM", "MFMT", "MFF", "DELE", "MKD", "XMKD", "RMD", "XRMD", "RNFR",
    "RNTO", "ABOR", "STAT", "HELP", "ALLO", "SITE", "AUTH", "PBSZ", "PROT", "CCC", // known
    "SMNT", "LPRT", "LPSV", "ADAT", "MIC", "CONF", "ENC", "LANG", "CLNT", "XCRC", "HASH", "AVBL", "XYZZY",
];

/// Verbs that open a data connection.
const TRANSFER_VERBS: &[&str] = &["LIST", "NLST", "MLSD", "RETR", "STOR", "STOU", "APPE"];

/// Longest reply line accepted (the server's own texts are far shorter; a path
/// echoed back is bounded by the command line limit).
const MAX_REPLY_LINE: usize = 16 * 1024;

/// What the campaign counted over FTP.
#[derive(Debug, Default, Clone)]
pub struct FtpTally {
    /// Command lines sent (each one a line ending in LF).
    pub lines: u64,
    /// Final replies received.
    pub replies: u64,
    /// Lines sent while a transfer ran.
    pub during_transfer: u64,
    /// Data connections opened.
    pub data_connections: u64,
    /// Control connections opened.
    pub connections: u64,
    /// Lines over the command line limit.
    pub overlong: u64,
    /// Malformed replies or broken promises: each a description (empty when all went well).
    pub findings: Vec<String>,
}

/// Random and boundary arguments. `token` names every file the campaign may create.
fn argument(rng: &mut StdRng, token: &str, max_line: usize) -> Vec<u8> {
    let n = rng.random_range(0..1000u32);
    let fixed: &[&str] = &[
        "",
        " ",
        "/",
        ".",
        "..",
        "../../../../etc/passwd",
        "/../../..",
        "%2e%2e/%2e%2e",
        "..\\..\\windows",
        "~",
        "~root",
        "*",
        "-la",
        "-R /",
        "0",
        "-1",
        "18446744073709551615",
        "18446744073709551616",
        "99999999999999999999999999",
        "A",
        "I",
        "E",
        "L 8",
        "L 0",
        "S",
        "B",
        "C",
        "F",
        "R",
        "P",
        "ALL",
        "1",
        "2",
        "3",
        "UTF8 ON",
        "UTF8 OFF",
        "MLST type;size;modify;perm;unique;",
        "MLST ;;;;",
        "TLS",
        "SSL",
        "TLS-C",
        "CHMOD 777 /",
        "CHMOD 0 .",
        "CHMOD",
        "HELP",
        "127,0,0,1,0,1",
        "10,0,0,1,4,1",
        "256,0,0,1,0,1",
        "127,0,0,1,300,1",
        "1,2,3",
        "|1|127.0.0.1|1|",
        "|2|::1|1|",
        "|1|10.0.0.1|21|",
        "|3|x|1|",
        "||||",
        "|1|127.0.0.1|99999|",
        "20260101000000",
        "20261301256161 x",
        "19700101000000.999 f",
        "modify=20260101000000; f",
        "modify=garbage; f",
        "anonymous",
        "ftp",
        "root",
        "\u{e9}\u{e8}\u{4e2d}\u{6587}",
        "\u{202e}txt.exe",
        "a\0b",
        "/dev/null",
        "/proc/self/environ",
        "AUX",
        "CON",
    ];
    match n {
        0..400 => fixed.choose(rng).copied().unwrap_or("").as_bytes().to_vec(),
        400..650 => {
            // A name the campaign owns: files it creates carry the token.
            let prefix = ["", "/", "sub/", "../", "/../", "./", "dir/../../"]
                .choose(rng)
                .copied()
                .unwrap_or("");
            format!("{prefix}{token}-{}", rng.random_range(0..40u32)).into_bytes()
        }
        650..800 => {
            // Any bytes but LF (which would end the line early).
            let len = rng.random_range(1..64usize);
            (0..len).map(|_| any_byte_but_lf(rng)).collect()
        }
        800..850 => {
            // Just under, at and just over the line limit (with the verb and space).
            let len = max_line.saturating_sub(rng.random_range(0..12usize)) + rng.random_range(0..8usize);
            vec![b'a'; len]
        }
        850..900 => {
            let depth = rng.random_range(1..200usize);
            let comp = ["a", "..", ".", "", token].choose(rng).copied().unwrap_or("a");
            vec![comp; depth].join("/").into_bytes()
        }
        900..950 => format!("{}", rng.random::<u64>()).into_bytes(),
        _ => {
            // Valid UTF-8 of random scalar values.
            let len = rng.random_range(1..16usize);
            (0..len)
                .filter_map(|_| char::from_u32(rng.random_range(1..0x11_0000u32)))
                .filter(|c| *c != '\n')
                .collect::<String>()
                .into_bytes()
        }
    }
}

fn any_byte_but_lf(rng: &mut StdRng) -> u8 {
    loop {
        let b: u8 = rng.random();
        if b != b'\n' {
            return b;
        }
    }
}

/// Sprinkles Telnet sequences into a line (never one that would swallow the LF).
fn with_telnet(rng: &mut StdRng, line: Vec<u8>) -> Vec<u8> {
    let mut out = Vec::with_capacity(line.len() + 8);
    let cut = rng.random_range(0..=line.len());
    out.extend_from_slice(&line[..cut]);
    match rng.random_range(0..6u8) {
        0 => out.extend_from_slice(&[255, 244, 255, 242]),   // IAC IP IAC DM
        1 => out.extend_from_slice(&[255, 255]),             // an escaped 0xFF
        2 => out.extend_from_slice(&[255, 251, 1]),          // IAC WILL ECHO
        3 => out.extend_from_slice(&[255, 250, 24, 0, 255]), // IAC SB … (no SE)
        4 => out.push(255),                                  // a lone IAC
        _ => out.extend_from_slice(&[255, rng.random_range(0..=255u8).max(11)]),
    }
    out.extend_from_slice(&line[cut..]);
    out
}

/// One generated line (without its line end), and whether it is over the limit.
pub fn line(rng: &mut StdRng, token: &str, max_line: usize) -> Vec<u8> {
    let kind = rng.random_range(0..100u32);
    let mut line = match kind {
        0..70 => {
            let verb = VERBS.choose(rng).copied().unwrap_or("NOOP");
            let verb = match rng.random_range(0..10u8) {
                0 => verb.to_ascii_lowercase(),
                1 => format!(" {verb}"),
                _ => verb.to_owned(),
            };
            let mut l = verb.into_bytes();
            if rng.random_bool(0.85) {
                l.extend_from_slice([&b" "[..], b"  ", b"\t"].choose(rng).copied().unwrap_or(b" "));
                l.extend(argument(rng, token, max_line));
            }
            l
        }
        70..80 => {
            // Every byte value once, in random order, except LF.
            let mut all: Vec<u8> = (0..=255u8).filter(|b| *b != b'\n').collect();
            for i in (1..all.len()).rev() {
                all.swap(i, rng.random_range(0..=i));
            }
            all.truncate(rng.random_range(1..all.len()));
            all
        }
        80..85 => vec![b'X'; max_line + rng.random_range(1..3 * max_line)],
        85..90 => Vec::new(),
        _ => {
            let len = rng.random_range(1..32usize);
            let mut l = b"NOOP ".to_vec();
            l.extend((0..len).map(|_| any_byte_but_lf(rng)));
            l
        }
    };
    if rng.random_bool(0.1) {
        line = with_telnet(rng, line);
    }
    // A CR alone at the end would make the framer keep it pending; that is still one line.
    line
}

/// One control connection, replies read line by line.
pub struct Control {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

/// One complete reply: its code and lines.
#[derive(Debug)]
pub struct Reply {
    /// The three-digit code.
    pub code: u16,
    /// The text of its lines.
    pub text: String,
}

impl Control {
    /// Connects and reads the greeting (must be 220).
    pub async fn connect(addr: SocketAddr) -> Result<Control, String> {
        let stream = tokio::time::timeout(STEP, TcpStream::connect(addr))
            .await
            .map_err(|_| "connect timed out".to_owned())?
            .map_err(|e| format!("connect: {e}"))?;
        let (r, w) = stream.into_split();
        let mut c = Control {
            reader: BufReader::new(r),
            writer: w,
        };
        let greeting = c.reply().await?;
        if greeting.code != 220 {
            return Err(format!("greeting {} {}", greeting.code, greeting.text));
        }
        Ok(c)
    }

    /// Sends `bytes` and a CRLF.
    pub async fn send(&mut self, bytes: &[u8]) -> Result<(), String> {
        let mut l = bytes.to_vec();
        l.extend_from_slice(b"\r\n");
        tokio::time::timeout(STEP, self.writer.write_all(&l))
            .await
            .map_err(|_| "send timed out (the server does not read)".to_owned())?
            .map_err(|e| format!("send: {e}"))
    }

    /// Reads one reply line (CRLF-terminated), checking its framing.
    async fn reply_line(&mut self) -> Result<Vec<u8>, String> {
        let mut line = Vec::new();
        let read = tokio::time::timeout(
            STEP,
            (&mut self.reader)
                .take(MAX_REPLY_LINE as u64)
                .read_until(b'\n', &mut line),
        )
        .await
        .map_err(|_| "no reply within 10 s (hung session)".to_owned())?
        .map_err(|e| format!("reading a reply: {e}"))?;
        if read == 0 {
            return Err("connection closed without a reply".to_owned());
        }
        if !line.ends_with(b"\r\n") {
            return Err(format!("reply line without CRLF: {:?}", String::from_utf8_lossy(&line)));
        }
        line.truncate(line.len() - 2);
        if line.iter().any(|b| *b == b'\r' || *b == b'\n') {
            return Err(format!(
                "CR or LF inside a reply line: {:?}",
                String::from_utf8_lossy(&line)
            ));
        }
        Ok(line)
    }

    /// Reads one whole reply (RFC 959 §4.2 framing).
    pub async fn reply(&mut self) -> Result<Reply, String> {
        let first = self.reply_line().await?;
        let code = reply_code(&first).ok_or_else(|| format!("bad reply line {:?}", String::from_utf8_lossy(&first)))?;
        let mut text = String::from_utf8_lossy(&first[4..]).into_owned();
        if first[3] == b'-' {
            let end = format!("{code} ");
            let mut lines = 1;
            loop {
                let l = self.reply_line().await?;
                lines += 1;
                if lines > 10_000 {
                    return Err("multi-line reply over 10,000 lines".to_owned());
                }
                text.push('\n');
                text.push_str(&String::from_utf8_lossy(&l));
                if l.starts_with(end.as_bytes()) || l == end.trim_end().as_bytes() {
                    break;
                }
            }
        } else if first[3] != b' ' {
            return Err(format!(
                "reply code not followed by space or '-': {:?}",
                String::from_utf8_lossy(&first)
            ));
        }
        Ok(Reply { code, text })
    }

    /// Waits (at most [`STEP`]) for the server to close the connection.
    pub async fn expect_closed(&mut self) -> Result<(), String> {
        let mut sink = Vec::new();
        match tokio::time::timeout(STEP, (&mut self.reader).take(1 << 20).read_to_end(&mut sink)).await {
            Ok(_) if sink.is_empty() => Ok(()),
            Ok(_) => Err(format!(
                "bytes after a closing reply: {:?}",
                String::from_utf8_lossy(&sink)
            )),
            Err(_) => Err("connection still open 10 s after a closing reply".to_owned()),
        }
    }
}

/// `ddd` followed by ' ' or '-' with a first digit 1–5.
fn reply_code(line: &[u8]) -> Option<u16> {
    if line.len() < 4 || !(b'1'..=b'5').contains(&line[0]) || !line[1..3].iter().all(u8::is_ascii_digit) {
        return None;
    }
    if line[3] != b' ' && line[3] != b'-' {
        return None;
    }
    std::str::from_utf8(&line[..3]).ok()?.parse().ok()
}

/// Plays generated lines against one server until `budget` lines are sent.
pub struct FtpDriver {
    /// The server's control address.
    pub addr: SocketAddr,
    /// Login name and password.
    pub user: String,
    /// Password.
    pub password: String,
    /// Names of created files contain this.
    pub token: String,
    /// The server's command line limit.
    pub max_line: usize,
}

impl FtpDriver {
    /// Sends `budget` lines (reconnecting as needed); what it counted.
    pub async fn run(&self, rng: &mut StdRng, budget: u64) -> FtpTally {
        let mut tally = FtpTally::default();
        while tally.lines < budget && tally.findings.len() < 20 {
            let mut control = match Control::connect(self.addr).await {
                Ok(c) => c,
                Err(e) => {
                    tally.findings.push(format!("FTP connect: {e}"));
                    break;
                }
            };
            tally.connections += 1;
            if let Err(e) = self.session(rng, &mut control, budget, &mut tally).await {
                tally.findings.push(e);
            }
        }
        tally
    }

    /// One control connection: log in (mostly), then lines until a closing reply.
    async fn session(
        &self,
        rng: &mut StdRng,
        c: &mut Control,
        budget: u64,
        tally: &mut FtpTally,
    ) -> Result<(), String> {
        // The data connection of the last PASV/EPSV, opened at once (as clients do,
        // before the transfer command): then it can only reach this session's port.
        let mut passive: Option<TcpStream> = None;
        let mut data_tasks = Vec::new();
        if rng.random_bool(0.9) {
            for l in [format!("USER {}", self.user), format!("PASS {}", self.password)] {
                tally.lines += 1;
                c.send(l.as_bytes()).await?;
                let r = c.reply().await?;
                tally.replies += 1;
                if r.code >= 400 {
                    return Err(format!("login refused: {} {}", r.code, r.text));
                }
            }
        }
        while tally.lines < budget {
            let mut sent = line(rng, &self.token, self.max_line);
            // Sometimes a sequence that needs a data connection, on purpose.
            if rng.random_bool(0.12) {
                sent = [&b"PASV"[..], b"EPSV", b"EPSV 1", b"EPSV 2"]
                    .choose(rng)
                    .copied()
                    .unwrap_or(b"PASV")
                    .to_vec();
            } else if passive.is_some() && rng.random_bool(0.5) {
                let verb = TRANSFER_VERBS.choose(rng).copied().unwrap_or("LIST");
                sent = if rng.random_bool(0.7) {
                    format!("{verb} {}-{}", self.token, rng.random_range(0..40u32)).into_bytes()
                } else {
                    let mut l = verb.as_bytes().to_vec();
                    l.push(b' ');
                    l.extend(argument(rng, &self.token, self.max_line));
                    l
                };
            }
            if upper_starts(&sent, b"PASS ") && rng.random_bool(0.9) {
                // Mostly the right password: a wrong one costs an argon2 check.
                sent = format!("PASS {}", self.password).into_bytes();
            }
            if sent.len() > self.max_line {
                tally.overlong += 1;
            }
            let upper = sent.iter().take(4).map(u8::to_ascii_uppercase).collect::<Vec<u8>>();
            let is_transfer = TRANSFER_VERBS.iter().any(|v| upper.starts_with(v.as_bytes()));
            tally.lines += 1;
            c.send(&sent).await?;
            // A passive port serves the very next command only.
            let data = passive.take();
            if is_transfer && let Some(stream) = data {
                tally.data_connections += 1;
                let upload = [&b"STOR"[..], b"STOU", b"APPE"].iter().any(|v| upper.starts_with(v));
                let mut payload = vec![0u8; rng.random_range(0..32 * 1024usize)];
                rng.fill_bytes(&mut payload);
                data_tasks.push(tokio::spawn(data_connection(stream, upload.then_some(payload))));
            }
            let mut finals_due = 1;
            let mut closing = false;
            while finals_due > 0 {
                let r = c
                    .reply()
                    .await
                    .map_err(|e| format!("after {:?}: {e}", String::from_utf8_lossy(&sent)))?;
                if r.code < 200 {
                    if rng.random_bool(0.3) && tally.lines < budget {
                        // A second line while the transfer runs.
                        let during: Vec<u8> = match rng.random_range(0..4u8) {
                            0 => [&[255u8, 244, 255, 242][..], b"ABOR"].concat(),
                            1 => b"STAT".to_vec(),
                            2 => b"NOOP".to_vec(),
                            _ => line(rng, &self.token, self.max_line),
                        };
                        tally.lines += 1;
                        tally.during_transfer += 1;
                        c.send(&during).await?;
                        finals_due += 1;
                    }
                    continue;
                }
                tally.replies += 1;
                finals_due -= 1;
                match r.code {
                    227 => passive = data_connect(parse_pasv(&r.text)).await,
                    229 => {
                        let addr = parse_epsv(&r.text).map(|p| SocketAddr::new(self.addr.ip(), p));
                        passive = data_connect(addr).await;
                    }
                    221 | 421 => closing = true,
                    _ => {}
                }
            }
            if closing {
                c.expect_closed().await?;
                break;
            }
        }
        for t in data_tasks {
            t.abort();
        }
        Ok(())
    }
}

fn upper_starts(line: &[u8], prefix: &[u8]) -> bool {
    line.len() >= prefix.len() && line[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// Connects to an advertised passive address (`None` when there is none or the
/// connect fails: the transfer then gets its 425).
async fn data_connect(addr: Option<SocketAddr>) -> Option<TcpStream> {
    tokio::time::timeout(STEP, TcpStream::connect(addr?)).await.ok()?.ok()
}

/// A passive data connection: uploads `payload` and closes, or reads to the end
/// (both bounded in time; errors are the server's right after an ABOR).
async fn data_connection(mut s: TcpStream, payload: Option<Vec<u8>>) {
    let _ = tokio::time::timeout(STEP, async {
        match payload {
            Some(p) => {
                let _ = s.write_all(&p).await;
                let _ = s.shutdown().await;
            }
            None => {
                let mut sink = [0u8; 16 * 1024];
                while let Ok(n) = s.read(&mut sink).await {
                    if n == 0 {
                        break;
                    }
                }
            }
        }
    })
    .await;
}

#[cfg(test)]
mod self_tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn reply_codes_are_framed() {
        assert_eq!(reply_code(b"220 ok"), Some(220));
        assert_eq!(reply_code(b"211-x"), Some(211));
        assert_eq!(reply_code(b"600 x"), None);
        assert_eq!(reply_code(b"22 x"), None);
        assert_eq!(reply_code(b"220x"), None);
    }

    #[test]
    fn lines_never_hold_lf_and_are_reproducible() {
        let (mut a, mut b) = (StdRng::seed_from_u64(7), StdRng::seed_from_u64(7));
        for _ in 0..2000 {
            let l = line(&mut a, "hxT", 64);
            assert!(!l.contains(&b'\n'), "{l:?}");
            assert_eq!(l, line(&mut b, "hxT", 64));
        }
    }
}
