//! Counting message bytes in a gRPC body from its length-prefixed framing.
//!
//! A gRPC body is a sequence of messages, each `compressed-flag (1 byte) | length (4 bytes, big
//! endian) | message`, split arbitrarily across HTTP/2 DATA frames (gRPC PROTOCOL-HTTP2.md). A66
//! sizes are the compressed message bytes, framing excluded: this counter skips the 5-byte prefixes
//! and counts payload bytes as they pass, so a truncated message counts what actually arrived.
//! It never buffers data and never fails: it only reads.

/// Incremental parser of the 5-byte message prefixes; counts payload bytes seen.
///
/// Kept small (24 bytes): every telemetry layer carries one inside its response body.
#[derive(Debug, Default, Clone)]
pub struct FrameCounter {
    /// Payload bytes counted so far.
    total: u64,
    /// Payload bytes of the current message still to come.
    remaining: u32,
    /// Length bytes of the next prefix read so far, big endian.
    length: u32,
    /// Complete prefixes seen (messages started), saturating.
    messages: u32,
    /// Prefix bytes read so far for the next message (0..5).
    prefix_len: u8,
}

impl FrameCounter {
    /// A counter at the start of a body.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next chunk of body bytes; returns the payload bytes this chunk contributed.
    /// Not inlined: one copy serves every body wrapper.
    #[inline(never)]
    pub fn feed(&mut self, mut chunk: &[u8]) -> u64 {
        let before = self.total;
        while !chunk.is_empty() {
            if self.remaining > 0 {
                let take = chunk
                    .len()
                    .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
                // `take <= remaining`, a u32.
                self.remaining -= u32::try_from(take).unwrap_or(self.remaining);
                self.total += take as u64;
                chunk = &chunk[take..];
                continue;
            }
            // Fast path: a whole prefix in this chunk (the usual case).
            if self.prefix_len == 0
                && let [_, a, b, c, d, rest @ ..] = chunk
            {
                self.start_message(u32::from_be_bytes([*a, *b, *c, *d]));
                chunk = rest;
                continue;
            }
            // Byte by byte across chunk boundaries; the flag byte (first) is skipped.
            if self.prefix_len > 0 {
                self.length = (self.length << 8) | u32::from(chunk[0]);
            }
            self.prefix_len += 1;
            chunk = &chunk[1..];
            if self.prefix_len == 5 {
                let length = self.length;
                self.start_message(length);
            }
        }
        self.total - before
    }

    fn start_message(&mut self, length: u32) {
        self.remaining = length;
        self.length = 0;
        self.prefix_len = 0;
        self.messages = self.messages.saturating_add(1);
    }

    /// Payload bytes counted so far.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Messages whose prefix has been seen.
    pub fn messages(&self) -> u64 {
        u64::from(self.messages)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(payload: &[u8]) -> Vec<u8> {
        let mut v = vec![0u8];
        v.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn counts_payload_and_skips_prefixes() {
        let mut body = frame(b"hello");
        body.extend(frame(&[7u8; 300]));
        body.extend(frame(b""));
        let mut c = FrameCounter::new();
        assert_eq!(c.feed(&body), 305);
        assert_eq!(c.total(), 305);
        assert_eq!(c.messages(), 3);
    }

    #[test]
    fn any_split_of_the_body_gives_the_same_count() {
        let mut body = frame(&[1u8; 40]);
        body.extend(frame(&[2u8; 3]));
        for split in 0..=body.len() {
            for step in 1..=7 {
                let mut c = FrameCounter::new();
                let (a, b) = body.split_at(split);
                c.feed(a);
                for piece in b.chunks(step) {
                    c.feed(piece);
                }
                assert_eq!(
                    (c.total(), c.messages()),
                    (43, 2),
                    "split {split} step {step}"
                );
            }
        }
    }

    #[test]
    fn truncated_message_counts_what_arrived() {
        let body = frame(&[9u8; 100]);
        let mut c = FrameCounter::new();
        assert_eq!(c.feed(&body[..30]), 25);
        assert_eq!(c.total(), 25);
    }

    #[test]
    fn compressed_flag_does_not_change_the_count() {
        let mut body = frame(b"abc");
        body[0] = 1;
        let mut c = FrameCounter::new();
        assert_eq!(c.feed(&body), 3);
    }
}
