//! FTP rendering: a selected reply chain → RFC 959 reply bytes.
//!
//! Neutral statuses become FTP codes through the table; the wire rules (multi-line
//! merging of same-code and `Dup` replies, CR/LF stripping) live in
//! `proto_ftp::encode_chain`, which is the only writer of reply bytes.

use proto_ftp::ReplyChainEntry;

use super::{Code, Reply, Status};

/// The FTP code a reply code renders as (`None` for `Dup`).
pub fn ftp_code(code: Code) -> Option<u16> {
    match code {
        Code::Status(s) => Some(s.mapping().ftp),
        Code::Raw(c) => Some(c),
        Code::Dup => None,
    }
}

/// Renders a chain into `out`.
///
/// FTP's own phrasing of neutral replies lives here: `DirCreated` carries the new
/// directory's path, which RFC 959 wants quoted in the 257 reply (`"a ""b"""`).
pub fn render(replies: &[Reply], out: &mut Vec<u8>) {
    let quoted: Vec<Option<String>> = replies
        .iter()
        .map(|r| match r.code {
            Code::Status(Status::DirCreated) if !r.text.is_empty() => {
                Some(format!("{} directory created.", proto_ftp::quote_path(&r.text)))
            }
            _ => None,
        })
        .collect();
    let entries: Vec<ReplyChainEntry<'_>> = replies
        .iter()
        .zip(&quoted)
        .map(|(r, quoted)| match r.code {
            Code::Status(_) if quoted.is_some() => ReplyChainEntry::Coded {
                code: 257,
                text: quoted.as_deref().unwrap_or_default(),
            },
            Code::Status(s) => ReplyChainEntry::Coded {
                code: s.mapping().ftp,
                text: if r.text.is_empty() { s.mapping().text } else { &r.text },
            },
            Code::Raw(code) => ReplyChainEntry::Coded { code, text: &r.text },
            Code::Dup => ReplyChainEntry::Dup { text: &r.text },
        })
        .collect();
    proto_ftp::encode_chain(&entries, out);
}

/// Renders a direct send (preliminary `150`, closing `421`, the `220` greeting):
/// one reply outside any chain.
pub fn render_direct(status: Status, text: &str, out: &mut Vec<u8>) {
    let text = if text.is_empty() { status.mapping().text } else { text };
    proto_ftp::encode_reply(status.mapping().ftp, text, out);
}

/// True when the chain's replies require closing the control connection (`421`, `221`).
pub fn closes_connection(replies: &[Reply]) -> bool {
    replies.iter().any(|r| match r.code {
        Code::Status(s) => s.mapping().close,
        Code::Raw(c) => c == 421 || c == 221,
        Code::Dup => false,
    })
}
