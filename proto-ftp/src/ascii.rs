//! `TYPE A` line-ending conversion (RFC 959 §3.1.1.1: ASCII transfers use CRLF as
//! the end-of-line; stored text uses LF).
//!
//! [`to_crlf`] is stateless. [`CrlfDecoder`] is not: an upload arrives in blocks,
//! and a CR at the end of one block may belong to a CRLF whose LF starts the next;
//! the decoder holds such a CR back until it knows.

/// Converts stored text for sending: every LF becomes CRLF.
pub fn to_crlf(block: &[u8]) -> Vec<u8> {
    let extra = block.iter().filter(|&&b| b == b'\n').count();
    let mut out = Vec::with_capacity(block.len() + extra);
    for &b in block {
        if b == b'\n' {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

/// Converts received ASCII text for storing: CRLF becomes LF, across block
/// boundaries. A CR not followed by LF is kept.
#[derive(Debug, Default, Clone)]
pub struct CrlfDecoder {
    pending_cr: bool,
}

impl CrlfDecoder {
    /// A decoder at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Converts the next block. A trailing CR is held back until the next call
    /// (or [`CrlfDecoder::finish`]).
    pub fn decode(&mut self, block: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(block.len() + 1);
        let mut iter = block.iter().peekable();
        if std::mem::take(&mut self.pending_cr) && block.first() != Some(&b'\n') {
            out.push(b'\r');
        }
        while let Some(&b) = iter.next() {
            if b == b'\r' {
                match iter.peek() {
                    Some(b'\n') => continue, // CRLF → LF: drop the CR
                    Some(_) => out.push(b),
                    None => self.pending_cr = true,
                }
            } else {
                out.push(b);
            }
        }
        out
    }

    /// Ends the stream: a CR held back at the very end is kept.
    pub fn finish(&mut self) -> Option<u8> {
        std::mem::take(&mut self.pending_cr).then_some(b'\r')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_split(input: &[u8], at: usize) -> Vec<u8> {
        let mut d = CrlfDecoder::new();
        let mut out = d.decode(&input[..at]);
        out.extend(d.decode(&input[at..]));
        out.extend(d.finish());
        out
    }

    #[test]
    fn crlf_round_trip_at_every_split() {
        let text = b"a\r\nb\r\n\r\nc\rd\r";
        for at in 0..=text.len() {
            assert_eq!(decode_split(text, at), b"a\nb\n\nc\rd\r", "split at {at}");
        }
        assert_eq!(to_crlf(b"a\nb\n"), b"a\r\nb\r\n");
        assert_eq!(to_crlf(b"none"), b"none");
    }
}
