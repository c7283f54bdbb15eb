//! Reply values and their RFC 959 rendering: the only place that writes
//! reply bytes to the control connection.
//!
//! RFC 959 §4.2: "A reply is defined to contain the 3-digit code, followed
//! by Space `<SP>`, followed by one line of text (where some maximum line
//! length has been specified), and terminated by the Telnet end-of-line
//! code." and for multi-line replies: "the first line will have the exact
//! required reply code, followed immediately by a Hyphen, "-" (also known as
//! Minus), followed by text. The last line will begin with the same code,
//! followed immediately by Space `<SP>`, optionally some text, and the Telnet
//! end-of-line code."
//!
//! Continuation lines are written with one leading space (as ProFTPD does),
//! so a continuation whose text starts with digits can never be mistaken
//! for the last line. Any CR or LF inside a text is replaced by a space, so
//! no text (client-supplied path names included) can inject a reply line.

/// A single reply: code and one line of text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The three-digit reply code (100..=599).
    pub code: u16,
    /// The text; CR and LF are replaced by spaces when rendered.
    pub text: String,
}

impl Reply {
    /// Creates a reply.
    #[must_use]
    pub fn new(code: u16, text: impl Into<String>) -> Self {
        Self {
            code,
            text: text.into(),
        }
    }

    /// Renders this reply into `out` (see [`encode_reply`]).
    pub fn encode(&self, out: &mut Vec<u8>) {
        encode_reply(self.code, &self.text, out);
    }
}

/// One entry of a response chain: a coded reply, or a continuation
/// (ProFTPD's `R_DUP`) that joins the multi-line reply started by the
/// previous entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyChainEntry<'a> {
    /// A line with its own code. Consecutive entries with the same code
    /// form one multi-line reply.
    Coded {
        /// The three-digit reply code.
        code: u16,
        /// One line of text.
        text: &'a str,
    },
    /// A line that continues the reply of the previous entry.
    Dup {
        /// One line of text.
        text: &'a str,
    },
}

/// Renders a response chain into `out` per RFC 959 §4.2 and ProFTPD's
/// rules.
///
/// Consecutive entries with the same code, and `Dup` entries, form ONE
/// multi-line reply: `200-first\r\n`, continuation lines ` middle\r\n` (one
/// leading space), last line `200 last\r\n`. A single entry renders as
/// `200 text\r\n`. A new code starts a new reply. An empty chain renders
/// nothing.
///
/// A `Dup` at the start of the chain has no reply to continue: it is
/// dropped (and trips a `debug_assert!`, since the server never builds such
/// a chain). Any CR or LF inside a text is replaced by a space.
pub fn encode_chain(entries: &[ReplyChainEntry<'_>], out: &mut Vec<u8>) {
    let mut i = 0;
    while let Some(entry) = entries.get(i) {
        let ReplyChainEntry::Coded { code, text: first } = *entry else {
            debug_assert!(i != 0, "response chain starts with a Dup entry");
            i += 1;
            continue;
        };
        // The group is this entry plus every following Dup or same-code entry.
        let group_len = 1 + entries[i + 1..]
            .iter()
            .take_while(|e| match e {
                ReplyChainEntry::Dup { .. } => true,
                ReplyChainEntry::Coded { code: c, .. } => *c == code,
            })
            .count();
        if group_len == 1 {
            write_line(Some((code, b' ')), first, out);
        } else {
            write_line(Some((code, b'-')), first, out);
            let last = i + group_len - 1;
            for middle in &entries[i + 1..last] {
                write_line(None, entry_text(middle), out);
            }
            write_line(Some((code, b' ')), entry_text(&entries[last]), out);
        }
        i += group_len;
    }
}

/// Renders one single reply, `code text\r\n` (used for direct sends such as
/// 150 and 421). CR and LF in `text` are replaced by spaces.
pub fn encode_reply(code: u16, text: &str, out: &mut Vec<u8>) {
    write_line(Some((code, b' ')), text, out);
}

/// Quotes a path for a 257 reply (`257 "PATHNAME" ...`). RFC 959 Appendix
/// II: "The directory name can contain any character; embedded
/// double-quotes should be escaped by double-quotes (the "quote-doubling"
/// convention)." Returns the quoted name including the quotes.
#[must_use]
pub fn quote_path(path: &str) -> String {
    let mut quoted = String::with_capacity(path.len() + 2);
    quoted.push('"');
    for c in path.chars() {
        if c == '"' {
            quoted.push('"');
        }
        quoted.push(c);
    }
    quoted.push('"');
    quoted
}

fn entry_text<'a>(entry: &ReplyChainEntry<'a>) -> &'a str {
    match *entry {
        ReplyChainEntry::Coded { text, .. } | ReplyChainEntry::Dup { text } => text,
    }
}

/// Writes one line: `ddd<sep>text\r\n`, or ` text\r\n` without a code.
fn write_line(prefix: Option<(u16, u8)>, text: &str, out: &mut Vec<u8>) {
    match prefix {
        Some((code, sep)) => {
            debug_assert!((100..=599).contains(&code), "reply code out of range");
            out.extend_from_slice(format!("{code:03}").as_bytes());
            out.push(sep);
        }
        None => out.push(b' '),
    }
    out.extend(text.bytes().map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }));
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use ReplyChainEntry::{Coded, Dup};

    fn chain(entries: &[ReplyChainEntry<'_>]) -> String {
        let mut out = Vec::new();
        encode_chain(entries, &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn proftpd_example() {
        assert_eq!(
            chain(&[
                Coded {
                    code: 200,
                    text: "Command successfully completed."
                },
                Dup {
                    text: "Statistics for command 'XFOO': none."
                },
                Dup {
                    text: "XFOO post_cmd handler ran."
                },
            ]),
            "200-Command successfully completed.\r\n Statistics for command 'XFOO': none.\r\n200 XFOO post_cmd handler ran.\r\n"
        );
    }

    #[test]
    fn feat() {
        assert_eq!(
            chain(&[
                Coded {
                    code: 211,
                    text: "Features:"
                },
                Dup { text: "EPSV" },
                Dup { text: "UTF8" },
                Dup { text: "End" },
            ]),
            "211-Features:\r\n EPSV\r\n UTF8\r\n211 End\r\n"
        );
    }

    #[test]
    fn single_same_code_and_new_code() {
        assert_eq!(chain(&[Coded { code: 200, text: "ok" }]), "200 ok\r\n");
        assert_eq!(
            chain(&[Coded { code: 200, text: "a" }, Coded { code: 200, text: "b" }]),
            "200-a\r\n200 b\r\n"
        );
        assert_eq!(
            chain(&[
                Coded { code: 200, text: "a" },
                Coded { code: 200, text: "b" },
                Coded { code: 200, text: "c" }
            ]),
            "200-a\r\n b\r\n200 c\r\n"
        );
        assert_eq!(
            chain(&[
                Coded {
                    code: 150,
                    text: "Opening"
                },
                Coded {
                    code: 226,
                    text: "Done"
                }
            ]),
            "150 Opening\r\n226 Done\r\n"
        );
        assert_eq!(
            chain(&[
                Coded {
                    code: 150,
                    text: "Opening"
                },
                Coded {
                    code: 226,
                    text: "Done"
                },
                Dup { text: "bye" }
            ]),
            "150 Opening\r\n226-Done\r\n226 bye\r\n"
        );
        assert_eq!(chain(&[]), "");
    }

    #[test]
    fn continuation_starting_with_digits_is_unambiguous() {
        assert_eq!(
            chain(&[
                Coded {
                    code: 211,
                    text: "Status"
                },
                Dup {
                    text: "211 not the end"
                },
                Dup { text: "End" }
            ]),
            "211-Status\r\n 211 not the end\r\n211 End\r\n"
        );
    }

    #[test]
    fn cr_lf_cannot_inject_lines() {
        let mut out = Vec::new();
        encode_reply(550, "a\r\n230 Logged in\rb\nc", &mut out);
        assert_eq!(out, b"550 a  230 Logged in b c\r\n");
        assert_eq!(
            chain(&[Coded { code: 200, text: "x\n" }, Dup { text: "\r\n200 y" }]),
            "200-x \r\n200   200 y\r\n"
        );
    }

    #[test]
    fn reply_struct() {
        let mut out = Vec::new();
        Reply::new(421, "Service not available").encode(&mut out);
        assert_eq!(out, b"421 Service not available\r\n");
    }

    #[test]
    fn quoting() {
        assert_eq!(quote_path("/"), "\"/\"");
        assert_eq!(quote_path("/a \"b\""), "\"/a \"\"b\"\"\"");
        assert_eq!(quote_path(""), "\"\"");
    }
}
