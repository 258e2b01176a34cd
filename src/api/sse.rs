//! Server-sent-event framing that keeps each event's raw bytes.
//!
//! [`SseFramer`] takes arbitrary byte chunks and yields complete events ([`SseEvent`]): the exact raw bytes of the
//! event including its terminating blank line, plus the fields parsed per the WHATWG HTML rules (LF, CRLF and CR
//! line endings; `:` comments; a field without a colon has an empty value; one leading space after the colon is
//! stripped; `data` lines joined with `\n`; a leading UTF-8 BOM ignored). Concatenating the raw bytes of every
//! event and the [`Tail`] returned by [`SseFramer::finish`] gives back the input byte for byte, whatever the chunk
//! boundaries (a CR at the end of a chunk is held until the next byte shows whether it starts a CRLF). Buffering is
//! bounded: an event larger than the configured limit is an error, never unbounded memory.
//!
//! Why hand-written: the maintained crates (`eventsource-stream`, `sse-stream`, `reqwest-eventsource`) decode to
//! `{event, data, id, retry}` and drop the raw bytes, keep no size bound, and are built on `Stream` adapters; a
//! proxy that forwards untouched events verbatim and rewrites only some needs event-level raw access, a byte cap,
//! and a synchronous core it can drive from a body wrapper and fuzz.
//!
//! Seam for stream rehydration (built later in `redact`): the rehydrator drives a framer per response body. For each
//! event it either forwards [`SseEvent::raw`] unchanged, or parses [`SseEvent::data`] as JSON, restores pseudonyms in
//! the text deltas (OpenAI `choices[].delta.content`, Anthropic `content_block_delta.delta.text`, Gemini
//! `candidates[].content.parts[].text`), and re-encodes the event with [`encode_event`]. A pseudonym split across
//! two events is handled by holding back, per content stream, the suffix of a delta that could be the start of a
//! pseudonym and prepending it to the next delta of the same stream (flushed at the stream's last event). The framer
//! itself never buffers more than one event. This module must never interpret event content beyond the fields.

use std::collections::VecDeque;

use bytes::Bytes;

/// Default bound on the size of one event (raw bytes): 16 MiB, room for inline media in Gemini responses.
pub const DEFAULT_MAX_EVENT_SIZE: usize = 16 << 20;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Errors of the framer.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum SseError {
    /// An event (complete or still incomplete) exceeds the configured limit. The framer stays failed.
    #[error("server-sent event larger than the {limit}-byte limit")]
    EventTooLarge {
        /// The configured limit.
        limit: usize,
    },
}

/// One complete event.
///
/// `Debug` shows sizes and the event name only, never the data.
#[derive(Clone, PartialEq, Eq)]
pub struct SseEvent {
    raw: Bytes,
    event: Option<String>,
    data: Option<String>,
    id: Option<String>,
    retry: Option<u64>,
}

impl std::fmt::Debug for SseEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SseEvent")
            .field("raw_len", &self.raw.len())
            .field("event", &self.event)
            .field("data_len", &self.data.as_ref().map(String::len))
            .finish_non_exhaustive()
    }
}

impl SseEvent {
    /// The exact bytes of this event, including the blank line that ended it.
    pub fn raw(&self) -> &Bytes {
        &self.raw
    }

    /// The `event` field, if the event set one.
    pub fn event(&self) -> Option<&str> {
        self.event.as_deref()
    }

    /// The event type a browser would dispatch: the `event` field, or `message`.
    pub fn event_type(&self) -> &str {
        match self.event.as_deref() {
            Some(e) if !e.is_empty() => e,
            _ => "message",
        }
    }

    /// The joined `data` lines (`None` when the block had no `data` field: comments, keep-alives, blank lines;
    /// browsers dispatch nothing for those, a proxy still forwards their raw bytes).
    pub fn data(&self) -> Option<&str> {
        self.data.as_deref()
    }

    /// The `id` field set in this event (unlike a browser, not carried over from earlier events).
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// The `retry` field, if it was all ASCII digits.
    pub fn retry(&self) -> Option<u64> {
        self.retry
    }

    /// Whether this is OpenAI's end-of-stream sentinel `data: [DONE]`.
    pub fn is_done(&self) -> bool {
        self.data.as_deref() == Some("[DONE]")
    }
}

/// What remains in the framer at end of stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tail {
    /// Nothing: the stream ended on an event boundary.
    Empty,
    /// A complete last event whose final line ended with a lone CR (only end-of-stream proves it was not CRLF).
    Event(SseEvent),
    /// Bytes of an unterminated event (browsers discard these; a proxy may still forward them).
    Incomplete(Bytes),
}

#[derive(Default)]
struct Fields {
    event: Option<String>,
    data: Option<String>,
    id: Option<String>,
    retry: Option<u64>,
}

/// Incremental, raw-preserving SSE framer. See the module doc.
pub struct SseFramer {
    buf: Vec<u8>,
    /// Start of the current (incomplete) event in `buf`.
    start: usize,
    /// Start of the current line.
    line_start: usize,
    /// Where scanning resumes.
    pos: usize,
    max_event: usize,
    fields: Fields,
    ready: VecDeque<SseEvent>,
    first_line: bool,
    failed: bool,
}

impl Default for SseFramer {
    fn default() -> Self {
        SseFramer::new(DEFAULT_MAX_EVENT_SIZE)
    }
}

impl std::fmt::Debug for SseFramer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SseFramer")
            .field("buffered", &(self.buf.len() - self.start))
            .field("ready", &self.ready.len())
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl SseFramer {
    /// A framer refusing events larger than `max_event_size` raw bytes (at least 1).
    pub fn new(max_event_size: usize) -> Self {
        SseFramer {
            buf: Vec::new(),
            start: 0,
            line_start: 0,
            pos: 0,
            max_event: max_event_size.max(1),
            fields: Fields::default(),
            ready: VecDeque::new(),
            first_line: true,
            failed: false,
        }
    }

    /// Feed the next chunk. Complete events become available through [`SseFramer::next_event`]. Fails (and stays
    /// failed) once an event exceeds the size limit; events completed before it remain available.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), SseError> {
        if self.failed {
            return Err(SseError::EventTooLarge {
                limit: self.max_event,
            });
        }
        self.buf.extend_from_slice(chunk);
        let result = self.scan();
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.pos -= self.start;
            self.line_start -= self.start;
            self.start = 0;
        }
        if result.is_err() {
            self.failed = true;
            self.buf = Vec::new();
            self.pos = 0;
            self.line_start = 0;
        }
        result
    }

    /// The next complete event, in stream order.
    pub fn next_event(&mut self) -> Option<SseEvent> {
        self.ready.pop_front()
    }

    /// Bytes held for the event in progress.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// End of stream: queued events must have been drained with [`SseFramer::next_event`] first (any left are
    /// dropped). Returns what remains so that no byte is lost.
    pub fn finish(mut self) -> Tail {
        self.ready.clear();
        if self.failed || self.start == self.buf.len() {
            return Tail::Empty;
        }
        // A CR at the very end: the line is complete after all.
        if self.pos + 1 == self.buf.len() && self.buf.get(self.pos) == Some(&b'\r') {
            let i = self.pos;
            if self.end_line(i, i + 1).is_ok() {
                if let Some(ev) = self.ready.pop_back() {
                    return Tail::Event(ev);
                }
            }
        }
        Tail::Incomplete(Bytes::copy_from_slice(&self.buf[self.start..]))
    }

    fn scan(&mut self) -> Result<(), SseError> {
        loop {
            let Some(off) = memchr::memchr2(b'\n', b'\r', &self.buf[self.pos..]) else {
                self.pos = self.buf.len();
                break;
            };
            let i = self.pos + off;
            let next = if self.buf[i] == b'\n' {
                i + 1
            } else if i + 1 < self.buf.len() {
                if self.buf[i + 1] == b'\n' {
                    i + 2
                } else {
                    i + 1
                }
            } else {
                // Lone CR at the end of what we have: wait for the next byte.
                self.pos = i;
                break;
            };
            self.end_line(i, next)?;
        }
        if self.buf.len() - self.start > self.max_event {
            return Err(SseError::EventTooLarge {
                limit: self.max_event,
            });
        }
        Ok(())
    }

    /// The line `line_start..i` ended; the next line starts at `next`.
    fn end_line(&mut self, i: usize, next: usize) -> Result<(), SseError> {
        let mut from = self.line_start;
        if self.first_line {
            self.first_line = false;
            if self.buf[from..i].starts_with(BOM) {
                from += BOM.len();
            }
        }
        if from == i {
            // Blank line: dispatch.
            if next - self.start > self.max_event {
                return Err(SseError::EventTooLarge {
                    limit: self.max_event,
                });
            }
            let f = std::mem::take(&mut self.fields);
            let data = f.data.map(|mut d| {
                d.pop();
                d
            });
            self.ready.push_back(SseEvent {
                raw: Bytes::copy_from_slice(&self.buf[self.start..next]),
                event: f.event,
                data,
                id: f.id,
                retry: f.retry,
            });
            self.start = next;
        } else {
            let line = &self.buf[from..i];
            parse_field(line, &mut self.fields);
        }
        self.line_start = next;
        self.pos = next;
        Ok(())
    }
}

fn parse_field(line: &[u8], f: &mut Fields) {
    if line.first() == Some(&b':') {
        return;
    }
    let (name, value) = match memchr::memchr(b':', line) {
        Some(c) => {
            let v = &line[c + 1..];
            (&line[..c], v.strip_prefix(b" ").unwrap_or(v))
        }
        None => (line, &[][..]),
    };
    match name {
        b"event" => f.event = Some(String::from_utf8_lossy(value).into_owned()),
        b"data" => {
            let d = f.data.get_or_insert_with(String::new);
            d.push_str(&String::from_utf8_lossy(value));
            d.push('\n');
        }
        b"id" if !value.contains(&0) => f.id = Some(String::from_utf8_lossy(value).into_owned()),
        b"retry" if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
            if let Some(n) = std::str::from_utf8(value).ok().and_then(|s| s.parse().ok()) {
                f.retry = Some(n);
            }
        }
        _ => {}
    }
}

/// Encode one event: an optional `event:` line, one `data:` line per line of `data` (CR, LF and CRLF all split),
/// and the blank line. Line breaks in `event` are removed.
pub fn encode_event(event: Option<&str>, data: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 32);
    if let Some(e) = event {
        out.extend_from_slice(b"event: ");
        out.extend(e.bytes().filter(|b| *b != b'\r' && *b != b'\n'));
        out.push(b'\n');
    }
    let bytes = data.as_bytes();
    let mut line_start = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' | b'\r' => {
                out.extend_from_slice(b"data: ");
                out.extend_from_slice(&bytes[line_start..i]);
                out.push(b'\n');
                if bytes[i] == b'\r' && bytes.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
                line_start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(&bytes[line_start..]);
    out.extend_from_slice(b"\n\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame_all(chunks: &[&[u8]]) -> (Vec<SseEvent>, Tail) {
        let mut f = SseFramer::default();
        let mut out = Vec::new();
        for c in chunks {
            f.push(c).unwrap();
            while let Some(e) = f.next_event() {
                out.push(e);
            }
        }
        (out, f.finish())
    }

    #[test]
    fn whatwg_fields() {
        let input = b"\xEF\xBB\xBFevent: add\ndata:  two spaces\ndata\n: comment\nid: 7\nretry: 1500\nbogus: x\n\n";
        let (ev, tail) = frame_all(&[input]);
        assert_eq!(tail, Tail::Empty);
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].event(), Some("add"));
        assert_eq!(ev[0].data(), Some(" two spaces\n"));
        assert_eq!(ev[0].id(), Some("7"));
        assert_eq!(ev[0].retry(), Some(1500));
        assert_eq!(&ev[0].raw()[..], &input[..]);
    }

    #[test]
    fn line_endings_and_comments() {
        let input = b"data: a\r\n\r\ndata: b\r\rdata: c\n\n: keepalive\n\nevent: x\r\ndata: d\r\ndata: e\r\n\r\n";
        let (ev, tail) = frame_all(&[input]);
        let data: Vec<_> = ev.iter().map(|e| e.data()).collect();
        assert_eq!(
            data,
            vec![Some("a"), Some("b"), Some("c"), None, Some("d\ne")]
        );
        assert_eq!(ev[4].event_type(), "x");
        assert_eq!(ev[0].event_type(), "message");
        assert_eq!(tail, Tail::Empty);
        let joined: Vec<u8> = ev.iter().flat_map(|e| e.raw().to_vec()).collect();
        assert_eq!(joined, input.to_vec());
    }

    #[test]
    fn cr_at_chunk_end_waits_for_next_byte() {
        let (ev, _) = frame_all(&[b"data: a\r\n\r", b"\ndata: b\n\n"]);
        assert_eq!(ev.len(), 2);
        assert_eq!(&ev[0].raw()[..], b"data: a\r\n\r\n");
        // A trailing lone CR completes the event only at end of stream.
        let (ev, tail) = frame_all(&[b"data: z\r\r"]);
        assert!(ev.is_empty());
        match tail {
            Tail::Event(e) => {
                assert_eq!(e.data(), Some("z"));
                assert_eq!(&e.raw()[..], b"data: z\r\r");
            }
            other => panic!("{other:?}"),
        }
        let (_, tail) = frame_all(&[b"data: z\r"]);
        assert_eq!(tail, Tail::Incomplete(Bytes::from_static(b"data: z\r")));
    }

    #[test]
    fn size_limit_is_enforced_and_sticky() {
        let mut f = SseFramer::new(16);
        f.push(b"data: ok\n\n").unwrap();
        assert!(matches!(
            f.push(b"data: 0123456789abcdef"),
            Err(SseError::EventTooLarge { limit: 16 })
        ));
        assert!(f.next_event().is_some());
        assert!(f.push(b"\n\n").is_err());
        let mut f = SseFramer::new(16);
        assert!(f.push(b"data: 0123456789\n\n").is_err());
    }

    #[test]
    fn debug_never_shows_data() {
        let (ev, _) = frame_all(&[b"event: delta\ndata: 900101-1234567\n\n"]);
        let dbg = format!("{:?}", ev[0]);
        assert!(!dbg.contains("900101"), "{dbg}");
        assert!(dbg.contains("delta"));
        let mut f = SseFramer::default();
        f.push(b"data: 900101-1234567").unwrap();
        assert!(!format!("{f:?}").contains("900101"));
    }

    #[test]
    fn encode_round_trips() {
        let bytes = encode_event(Some("delta"), "l1\nl2\r\nl3\rl4");
        let (ev, _) = frame_all(&[&bytes]);
        assert_eq!(ev[0].event(), Some("delta"));
        assert_eq!(ev[0].data(), Some("l1\nl2\nl3\nl4"));
        assert_eq!(encode_event(None, "[DONE]"), b"data: [DONE]\n\n");
    }
}
