//! The response body on its way back to the client: streamed frame by frame (SSE: event by event, each complete
//! event flushed as soon as it is framed), an idle timeout between upstream chunks, and a typed end — complete,
//! upstream error, idle timeout, or the client went away — reported exactly once to an [`ExchangeObserver`].
//!
//! This is the seam for response-side work: pseudonym rehydration plugs in per SSE event (an event is the unit a
//! placeholder can be split across, so the rehydrator holds back only the tail of the current event).
//!
//! Must never: buffer a whole response (only an incomplete SSE event is held, capped by `limits.max_sse_event_bytes`),
//! or end a stream silently: a failing SSE stream gets an error event in the API's own shape.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use tokio::sync::futures::OwnedNotified;
use tokio::sync::Notify;
use tokio::time::{Instant, Sleep};

use crate::api::sse::{SseEvent, SseFramer, Tail};
use crate::api::{ErrorKind, WireFormat};

/// How a response body ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEnd {
    /// The upstream finished and every byte was handed to the client connection.
    Complete,
    /// The upstream connection failed mid-body.
    UpstreamError(String),
    /// The upstream was silent longer than `timeouts.upstream_idle_ms`.
    IdleTimeout,
    /// The client went away before the end.
    ClientGone,
    /// The gateway's shutdown grace period ended first.
    Shutdown,
}

impl StreamEnd {
    /// Short label for logs and records.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Complete => "complete",
            Self::UpstreamError(_) => "upstream_error",
            Self::IdleTimeout => "idle_timeout",
            Self::ClientGone => "client_gone",
            Self::Shutdown => "shutdown",
        }
    }

    /// The residency record's outcome for an exchange that ended this way.
    pub fn outcome(&self) -> &'static str {
        match self {
            Self::Complete => "forwarded",
            Self::UpstreamError(_) => "upstream_error",
            Self::IdleTimeout => "upstream_idle_timeout",
            Self::ClientGone => "client_cancelled",
            Self::Shutdown => "gateway_shutdown",
        }
    }
}

/// What was sent to the client.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamStats {
    /// Body bytes handed to the client connection.
    pub bytes: u64,
    /// SSE events forwarded (0 for non-SSE bodies).
    pub events: u64,
}

/// Sees the response bytes as they go out and learns once how the body ended.
pub trait ExchangeObserver: Send + 'static {
    /// Bytes about to be sent to the client.
    fn on_data(&mut self, data: &[u8]);
    /// One complete SSE event, before its bytes go out (SSE bodies only).
    fn on_event(&mut self, event: &SseEvent);
    /// Called exactly once.
    fn on_end(&mut self, end: StreamEnd, stats: StreamStats);
}

/// Error type of the body (only non-SSE bodies surface errors; the connection is then aborted).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

enum Mode {
    Passthrough,
    Sse {
        framer: SseFramer,
        format: WireFormat,
    },
}

/// A streaming response body wrapper; see the module docs.
pub struct ResponseBody<B, O: ExchangeObserver> {
    inner: B,
    mode: Mode,
    idle: Duration,
    sleep: Pin<Box<Sleep>>,
    stats: StreamStats,
    observer: Option<O>,
    done: bool,
    /// Notified at the end of the shutdown grace period ([`ResponseBody::cut_on`]).
    cut: Option<Pin<Box<OwnedNotified>>>,
}

impl<B, O: ExchangeObserver> ResponseBody<B, O> {
    /// Pass bytes through unchanged.
    pub fn passthrough(inner: B, idle: Duration, observer: O) -> Self {
        Self::new(inner, Mode::Passthrough, idle, observer)
    }

    /// Frame an SSE stream and forward complete events.
    pub fn sse(
        inner: B,
        format: WireFormat,
        max_event_bytes: usize,
        idle: Duration,
        observer: O,
    ) -> Self {
        let framer = SseFramer::new(max_event_bytes);
        Self::new(inner, Mode::Sse { framer, format }, idle, observer)
    }

    fn new(inner: B, mode: Mode, idle: Duration, observer: O) -> Self {
        Self {
            inner,
            mode,
            idle,
            sleep: Box::pin(tokio::time::sleep(idle)),
            stats: StreamStats::default(),
            observer: Some(observer),
            done: false,
            cut: None,
        }
    }

    /// End the response with an error event (outcome [`StreamEnd::Shutdown`]) when `cut` is notified (the
    /// shutdown grace period is over), instead of being dropped with the connection.
    pub fn cut_on(mut self, cut: Arc<Notify>) -> Self {
        self.cut = Some(Box::pin(cut.notified_owned()));
        self
    }

    fn finish(&mut self, end: StreamEnd) {
        self.done = true;
        if let Some(mut o) = self.observer.take() {
            o.on_end(end, self.stats);
        }
    }

    fn emit(&mut self, data: Bytes) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.stats.bytes += data.len() as u64;
        if let Some(o) = self.observer.as_mut() {
            o.on_data(&data);
        }
        Poll::Ready(Some(Ok(Frame::data(data))))
    }

    /// The upstream failed: SSE streams get what was framed plus an error event and end cleanly (the SDK raises
    /// the error); other bodies are aborted so the client sees a truncated response, never a "complete" one.
    fn fail(
        &mut self,
        end: StreamEnd,
        kind: ErrorKind,
        message: &str,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match &mut self.mode {
            Mode::Sse { framer, format } => {
                // An incomplete event cannot be delivered as an event; the error event replaces it.
                let _ = std::mem::replace(framer, SseFramer::new(1)).finish();
                let out = Bytes::from(crate::api::errors::sse_error_event(*format, kind, message));
                self.stats.events += 1;
                let poll = self.emit(out);
                self.finish(end);
                poll
            }
            Mode::Passthrough => {
                self.finish(end);
                Poll::Ready(Some(Err(message.to_owned().into())))
            }
        }
    }
}

impl<B, O> Body for ResponseBody<B, O>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
    O: ExchangeObserver + Unpin,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if !this.done
            && this
                .cut
                .as_mut()
                .is_some_and(|c| c.as_mut().poll(cx).is_ready())
        {
            return this.fail(
                StreamEnd::Shutdown,
                ErrorKind::Overloaded,
                "the gateway is shutting down and its grace period (timeouts.shutdown_grace_ms) ended before this \
                 response did; retry the request",
            );
        }
        loop {
            if this.done {
                return Poll::Ready(None);
            }
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    let deadline = Instant::now() + this.idle;
                    this.sleep.as_mut().reset(deadline);
                    let data = match frame.into_data() {
                        Ok(data) => data,
                        Err(frame) => return Poll::Ready(Some(Ok(frame))),
                    };
                    match &mut this.mode {
                        Mode::Passthrough => {
                            if data.is_empty() {
                                continue;
                            }
                            let poll = this.emit(data);
                            // With a Content-Length, hyper stops polling once it has written that many bytes:
                            // the end must be recognised here, not only from a final `None`.
                            if this.inner.is_end_stream() {
                                this.finish(StreamEnd::Complete);
                            }
                            return poll;
                        }
                        Mode::Sse { framer, .. } => {
                            if let Err(e) = framer.push(&data) {
                                let msg = format!("upstream stream error: {e}");
                                return this.fail(
                                    StreamEnd::UpstreamError(e.to_string()),
                                    ErrorKind::Upstream,
                                    &msg,
                                );
                            }
                            let mut out = BytesMut::new();
                            while let Some(event) = framer.next_event() {
                                this.stats.events += 1;
                                if let Some(o) = this.observer.as_mut() {
                                    o.on_event(&event);
                                }
                                out.extend_from_slice(event.raw());
                            }
                            if out.is_empty() {
                                continue;
                            }
                            return this.emit(out.freeze());
                        }
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    let reason = e.to_string();
                    return this.fail(
                        StreamEnd::UpstreamError(reason.clone()),
                        ErrorKind::Upstream,
                        &format!("the upstream connection failed mid-response: {reason}"),
                    );
                }
                Poll::Ready(None) => {
                    let rest = match &mut this.mode {
                        Mode::Sse { framer, .. } => {
                            match std::mem::replace(framer, SseFramer::new(1)).finish() {
                                Tail::Empty => Bytes::new(),
                                Tail::Event(event) => {
                                    this.stats.events += 1;
                                    event.raw().clone()
                                }
                                // Whole lines without the closing blank line: the event is complete, only its
                                // terminator is missing. Delivered with one, so the client dispatches it.
                                Tail::Incomplete(bytes)
                                    if bytes.ends_with(b"\n") || bytes.ends_with(b"\r") =>
                                {
                                    this.stats.events += 1;
                                    let mut event = bytes.to_vec();
                                    event.push(b'\n');
                                    Bytes::from(event)
                                }
                                // The upstream closed in the middle of a line: the response is truncated. The cut
                                // event is not delivered; an error event says so (SDKs raise it), and the exchange
                                // is not logged as complete.
                                Tail::Incomplete(_) => {
                                    return this.fail(
                                        StreamEnd::UpstreamError("stream ended mid-event".to_owned()),
                                        ErrorKind::Upstream,
                                        "the upstream ended the stream in the middle of an event; the response \
                                         is truncated",
                                    );
                                }
                            }
                        }
                        Mode::Passthrough => Bytes::new(),
                    };
                    if rest.is_empty() {
                        this.finish(StreamEnd::Complete);
                        return Poll::Ready(None);
                    }
                    let poll = this.emit(rest);
                    this.finish(StreamEnd::Complete);
                    return poll;
                }
                Poll::Pending => {
                    if this.sleep.as_mut().poll(cx).is_ready() {
                        let secs = this.idle.as_secs_f64();
                        return this.fail(
                            StreamEnd::IdleTimeout,
                            ErrorKind::Timeout,
                            &format!("the upstream sent nothing for {secs:.1}s (timeouts.upstream_idle_ms)"),
                        );
                    }
                    return Poll::Pending;
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }

    fn size_hint(&self) -> SizeHint {
        match self.mode {
            Mode::Passthrough => self.inner.size_hint(),
            Mode::Sse { .. } => SizeHint::default(),
        }
    }
}

impl<B, O: ExchangeObserver> Drop for ResponseBody<B, O> {
    fn drop(&mut self) {
        if !self.done {
            self.finish(StreamEnd::ClientGone);
        }
    }
}
