//! Incremental framing of the FTP control connection into lines.
//!
//! RFC 959 §4.1: "The commands begin with a command code followed by an
//! argument field. [...] The end of the argument field is marked by the
//! character sequence `<CRLF>`." and §2.2: the control connection follows the
//! Telnet protocol, so a client may embed Telnet (RFC 854) sequences in the
//! stream. RFC 959 §4.1.3 (ABOR): "the user-process [...] should send the
//! Telnet "Interrupt Process" (IP) signal and the Telnet "Synch" sequence";
//! the Synch is IAC DM sent as TCP urgent data.
//!
//! [`LineFramer`] takes bytes out of a [`BytesMut`] as they arrive, removes
//! the Telnet sequences, and yields one [`Line`] per LF. Lines are limited to
//! `max_len` bytes; an over-long line is reported once and then discarded as
//! it streams in, so memory stays bounded whatever the client sends.

use bytes::{Buf, BytesMut};

/// Telnet "Interpret As Command".
const IAC: u8 = 255;
/// Telnet "Interrupt Process".
const IP: u8 = 244;
/// Telnet "Data Mark" (the end of a Synch).
const DM: u8 = 242;
/// First option negotiation verb (WILL); WILL, WONT, DO, DONT are 251..=254.
const WILL: u8 = 251;
/// Last option negotiation verb (DONT).
const DONT: u8 = 254;
/// First Telnet command byte (SE). Commands 240..=250 are two bytes long.
const SE: u8 = 240;
/// Last two-byte Telnet command (SB).
const SB: u8 = 250;

/// One framed control line: the bytes between line ends, with the CR of a
/// CRLF and every Telnet sequence removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The line content, without the line end. May contain any byte except
    /// LF (NUL included: the parser rejects it).
    pub bytes: Vec<u8>,
    /// `true` if the line contained Telnet IAC IP or IAC DM, which clients
    /// send in front of `ABOR`.
    pub urgent: bool,
}

/// Framing errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// A line grew beyond the limit. Reported once per over-long line; the
    /// framer then discards bytes up to and including the next LF.
    #[error("command line too long (limit {max} bytes)")]
    LineTooLong {
        /// The configured limit.
        max: usize,
    },
}

/// What [`LineFramer::push_byte`] made of one decoded byte.
enum Step {
    /// Keep going.
    More,
    /// A line is complete.
    Done,
    /// The current line just exceeded the limit.
    TooLong,
}

/// Incremental control-line framer with a length limit and Telnet handling.
///
/// Rules:
/// - a line ends at LF; a CR immediately before the LF is stripped (a lone
///   LF also ends a line, as many clients send it);
/// - IAC IAC becomes one 0xFF byte; IAC WILL/WONT/DO/DONT `<opt>` is removed
///   (3 bytes); IAC followed by a Telnet command byte 240..=250 is removed
///   (2 bytes) and IAC IP / IAC DM mark the line [`Line::urgent`]; IAC
///   followed by any other byte drops only the IAC (so a lost DM cannot eat
///   the first letter of `ABOR`);
/// - an incomplete Telnet sequence at the end of the buffer waits for more
///   bytes;
/// - NUL bytes are kept.
///
/// The framer consumes bytes from the caller's buffer as soon as it has
/// decoded them and keeps the partial line internally (at most `max_len + 1`
/// bytes); at most two bytes of an incomplete Telnet sequence stay in the
/// caller's buffer. Call [`LineFramer::reset`] together with clearing the
/// buffer when the stream changes meaning (after `AUTH TLS`, so that no
/// plaintext pipelined before the handshake survives it).
#[derive(Debug, Clone)]
pub struct LineFramer {
    max_len: usize,
    line: Vec<u8>,
    urgent: bool,
    pending_cr: bool,
    discarding: bool,
}

impl LineFramer {
    /// Creates a framer that accepts lines of at most `max_len` bytes
    /// (counted after Telnet decoding, without the line end).
    #[must_use]
    pub fn new(max_len: usize) -> Self {
        Self {
            max_len,
            line: Vec::new(),
            urgent: false,
            pending_cr: false,
            discarding: false,
        }
    }

    /// The configured line limit.
    #[must_use]
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Number of bytes of an incomplete line held inside the framer (a
    /// pending CR included). Zero means the framer is between lines.
    #[must_use]
    pub fn partial_len(&self) -> usize {
        self.line.len() + usize::from(self.pending_cr)
    }

    /// `true` while the framer is discarding the rest of an over-long line.
    #[must_use]
    pub fn is_discarding(&self) -> bool {
        self.discarding
    }

    /// Forgets any partial line and the discarding state.
    pub fn reset(&mut self) {
        self.line.clear();
        self.urgent = false;
        self.pending_cr = false;
        self.discarding = false;
    }

    /// Takes the next complete line out of `buf`.
    ///
    /// Decoded bytes are consumed from `buf` as they are processed, even when
    /// no line is complete yet. Returns `Ok(None)` when no complete line is
    /// available (the caller reads more bytes into `buf` and calls again).
    /// Returns `Err(FrameError::LineTooLong)` once when a line exceeds the
    /// limit; the framer then silently discards bytes up to and including
    /// the next LF and resumes normally after it.
    pub fn next_line(&mut self, buf: &mut BytesMut) -> Result<Option<Line>, FrameError> {
        let mut i = 0;
        let outcome = loop {
            let Some(&b) = buf.get(i) else {
                break Ok(None);
            };
            let decoded = if b == IAC {
                let Some(&cmd) = buf.get(i + 1) else {
                    break Ok(None);
                };
                match cmd {
                    IAC => {
                        i += 2;
                        Some(IAC)
                    }
                    WILL..=DONT => {
                        if buf.len() < i + 3 {
                            break Ok(None);
                        }
                        i += 3;
                        None
                    }
                    SE..=SB => {
                        if cmd == IP || cmd == DM {
                            self.urgent = true;
                        }
                        i += 2;
                        None
                    }
                    _ => {
                        // Not a Telnet command: drop the IAC, keep the byte.
                        i += 1;
                        None
                    }
                }
            } else {
                i += 1;
                Some(b)
            };
            let Some(d) = decoded else { continue };
            match self.push_byte(d) {
                Step::More => {}
                Step::Done => {
                    let line = Line {
                        bytes: std::mem::take(&mut self.line),
                        urgent: std::mem::replace(&mut self.urgent, false),
                    };
                    break Ok(Some(line));
                }
                Step::TooLong => break Err(FrameError::LineTooLong { max: self.max_len }),
            }
        };
        buf.advance(i);
        outcome
    }

    /// Feeds one Telnet-decoded byte into the line state machine.
    fn push_byte(&mut self, d: u8) -> Step {
        if self.discarding {
            if d == b'\n' {
                self.reset();
            }
            return Step::More;
        }
        if d == b'\n' {
            self.pending_cr = false;
            return Step::Done;
        }
        if std::mem::replace(&mut self.pending_cr, false) && self.push_data(b'\r') {
            return Step::TooLong;
        }
        if d == b'\r' {
            // Held back: it is stripped if the next byte is LF.
            self.pending_cr = true;
            return Step::More;
        }
        if self.push_data(d) {
            return Step::TooLong;
        }
        Step::More
    }

    /// Appends a data byte; returns `true` (and enters the discarding state)
    /// if the line is now over the limit.
    fn push_data(&mut self, d: u8) -> bool {
        if self.line.len() >= self.max_len {
            self.reset();
            self.discarding = true;
            return true;
        }
        self.line.push(d);
        false
    }
}

#[cfg(test)]
mod tests;
