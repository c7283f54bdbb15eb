//! Incremental parser for server replies (for an upstream FTP client and
//! for tests).
//!
//! RFC 959 §4.2: "Thus the format for multi-line replies is that the first
//! line will begin with the exact required reply code, followed immediately
//! by a Hyphen, "-" (also known as Minus), followed by text. The last line
//! will begin with the same code, followed immediately by Space `<SP>`,
//! optionally some text, and the Telnet end-of-line code." Lines in between
//! may start with anything except that code followed by a space.
//!
//! The caller frames lines (for example with [`crate::LineFramer`]) and
//! feeds them one at a time; line length and line count are bounded.

/// One complete reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedReply {
    /// The reply code.
    pub code: u16,
    /// The text lines without the `ddd-`/`ddd ` prefix of the first and last
    /// line. Continuation lines are kept verbatim (including the leading
    /// space many servers write), except that a `ddd-` prefix carrying the
    /// reply's own code is removed.
    pub lines: Vec<String>,
}

impl ParsedReply {
    /// The text of the last line (for a single-line reply, its only line).
    #[must_use]
    pub fn last_line(&self) -> &str {
        self.lines.last().map_or("", String::as_str)
    }
}

/// Reply parsing errors. The parser resets itself after an error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyParseError {
    /// A line is longer than the configured limit.
    #[error("reply line too long (limit {max} bytes)")]
    LineTooLong {
        /// The configured limit.
        max: usize,
    },
    /// A multi-line reply has more lines than the configured limit.
    #[error("multi-line reply too long (limit {max} lines)")]
    TooManyLines {
        /// The configured limit.
        max: usize,
    },
    /// The first line of a reply does not start with a valid code followed
    /// by a space or a hyphen.
    #[error("malformed reply line")]
    Malformed,
}

/// Incremental reply parser: feed it lines, get complete replies.
#[derive(Debug, Clone)]
pub struct ReplyParser {
    max_line: usize,
    max_lines: usize,
    pending: Option<ParsedReply>,
}

impl ReplyParser {
    /// Creates a parser accepting lines of at most `max_line` bytes and
    /// replies of at most `max_lines` lines.
    #[must_use]
    pub fn new(max_line: usize, max_lines: usize) -> Self {
        Self {
            max_line,
            max_lines,
            pending: None,
        }
    }

    /// `true` while a multi-line reply is incomplete.
    #[must_use]
    pub fn in_progress(&self) -> bool {
        self.pending.is_some()
    }

    /// Forgets any incomplete reply.
    pub fn reset(&mut self) {
        self.pending = None;
    }

    /// Feeds one line (without its line end). Returns the reply once its
    /// last line has been fed, `Ok(None)` while a multi-line reply is still
    /// open.
    pub fn feed_line(&mut self, line: &str) -> Result<Option<ParsedReply>, ReplyParseError> {
        if line.len() > self.max_line {
            self.pending = None;
            return Err(ReplyParseError::LineTooLong { max: self.max_line });
        }
        let Some(mut reply) = self.pending.take() else {
            let (code, sep, text) = split_code(line).ok_or(ReplyParseError::Malformed)?;
            let reply = ParsedReply {
                code,
                lines: vec![text.to_owned()],
            };
            if sep == Some('-') {
                if self.max_lines < 2 {
                    return Err(ReplyParseError::TooManyLines { max: self.max_lines });
                }
                self.pending = Some(reply);
                return Ok(None);
            }
            return Ok(Some(reply));
        };
        if reply.lines.len() >= self.max_lines {
            return Err(ReplyParseError::TooManyLines { max: self.max_lines });
        }
        match split_code(line) {
            Some((code, Some(' ') | None, text)) if code == reply.code => {
                reply.lines.push(text.to_owned());
                Ok(Some(reply))
            }
            Some((code, Some('-'), text)) if code == reply.code => {
                reply.lines.push(text.to_owned());
                self.pending = Some(reply);
                Ok(None)
            }
            _ => {
                reply.lines.push(line.to_owned());
                self.pending = Some(reply);
                Ok(None)
            }
        }
    }
}

/// Splits `dddX text` into the code, the separator (`None` for a line that
/// is exactly three digits) and the text. The code must be 100..=599.
fn split_code(line: &str) -> Option<(u16, Option<char>, &str)> {
    let digits = line.get(..3)?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let code: u16 = digits.parse().ok().filter(|c| (100..=599).contains(c))?;
    let rest = &line[3..];
    let mut chars = rest.chars();
    match chars.next() {
        None => Some((code, None, "")),
        Some(sep @ (' ' | '-')) => Some((code, Some(sep), chars.as_str())),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected values")]

    use super::*;

    fn feed_all(p: &mut ReplyParser, lines: &[&str]) -> Vec<ParsedReply> {
        let mut out = Vec::new();
        for l in lines {
            if let Some(r) = p.feed_line(l).unwrap() {
                out.push(r);
            }
        }
        out
    }

    #[test]
    fn single_and_multi_line() {
        let mut p = ReplyParser::new(512, 100);
        let got = feed_all(
            &mut p,
            &["220 Welcome", "211-Features:", " EPSV", "211-UTF8", "211 End", "230"],
        );
        assert_eq!(
            got,
            vec![
                ParsedReply {
                    code: 220,
                    lines: vec!["Welcome".into()]
                },
                ParsedReply {
                    code: 211,
                    lines: vec!["Features:".into(), " EPSV".into(), "UTF8".into(), "End".into()]
                },
                ParsedReply {
                    code: 230,
                    lines: vec![String::new()]
                },
            ]
        );
        assert_eq!(got[1].last_line(), "End");
    }

    #[test]
    fn other_code_inside_multi_line_is_continuation() {
        let mut p = ReplyParser::new(512, 100);
        let got = feed_all(&mut p, &["150-a", "226 not mine", "150 done"]);
        assert_eq!(got[0].lines, vec!["a", "226 not mine", "done"]);
    }

    #[test]
    fn limits() {
        let mut p = ReplyParser::new(8, 3);
        assert_eq!(
            p.feed_line("200 123456789"),
            Err(ReplyParseError::LineTooLong { max: 8 })
        );
        assert_eq!(p.feed_line("200-a"), Ok(None));
        assert_eq!(p.feed_line(" b"), Ok(None));
        assert_eq!(p.feed_line(" c"), Ok(None));
        assert_eq!(p.feed_line("200 d"), Err(ReplyParseError::TooManyLines { max: 3 }));
        assert!(!p.in_progress());
        assert_eq!(p.feed_line("hello"), Err(ReplyParseError::Malformed));
        assert_eq!(p.feed_line("600 x"), Err(ReplyParseError::Malformed));
        assert_eq!(p.feed_line("20"), Err(ReplyParseError::Malformed));
        assert_eq!(p.feed_line("é00 x"), Err(ReplyParseError::Malformed));
    }
}
