//! Process-wide logging: a `tracing` subscriber writing text or JSON lines to stderr.
//!
//! The access log is the `haetae::access` target, one event per request, emitted by the proxy.
//! OpenTelemetry traces/metrics and `/metrics` will hang off the same subscriber.
//!
//! Must never: put request or response content in an event field or span attribute.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, LogSettings};

/// Errors installing the subscriber.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The `log.level` filter does not parse.
    #[error("log.level `{level}` is not a valid filter: {reason}")]
    BadFilter {
        /// The filter text.
        level: String,
        /// Why.
        reason: String,
    },
}

/// How long the writer thread lets lines gather after the first one before writing them out together.
const LINGER: Duration = Duration::from_millis(20);
/// Buffered bytes that make the writer thread write at once instead of waiting out [`LINGER`].
const FLUSH_BYTES: usize = 64 * 1024;
/// Buffered bytes at which log calls wait for the writer (lossless back-pressure) instead of growing the buffer.
const MAX_BUFFERED_BYTES: usize = 8 * 1024 * 1024;

struct BufState {
    buf: Vec<u8>,
    closed: bool,
}

struct BufShared {
    state: Mutex<BufState>,
    /// Wakes the writer thread: the buffer became non-empty, crossed [`FLUSH_BYTES`], or the guard dropped.
    has_data: Condvar,
    /// Wakes log calls waiting for room.
    has_room: Condvar,
}

impl BufShared {
    fn lock(&self) -> MutexGuard<'_, BufState> {
        // a panic while holding the lock leaves only a byte buffer behind: keep logging
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A `MakeWriter` that appends formatted lines to a shared buffer written to stderr by one background thread.
///
/// Request tasks never block on stderr, and a burst of lines costs one wake-up and one `write` instead of one each
/// (`tracing_appender::non_blocking` wakes its thread for every line: measurable context switches per request on a
/// busy proxy). When the buffer is full, callers wait: lines are never dropped.
#[derive(Clone)]
pub struct BatchedStderr {
    shared: Arc<BufShared>,
}

impl<'a> MakeWriter<'a> for BatchedStderr {
    type Writer = BatchedStderr;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl Write for BatchedStderr {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let mut state = self.shared.lock();
        while state.buf.len() >= MAX_BUFFERED_BYTES && !state.closed {
            state = self
                .shared
                .has_room
                .wait(state)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        if state.closed {
            // after shutdown (a late event from another thread): write through rather than lose it
            drop(state);
            return std::io::stderr().write(bytes);
        }
        let was_empty = state.buf.is_empty();
        state.buf.extend_from_slice(bytes);
        let crossed = state.buf.len() >= FLUSH_BYTES && state.buf.len() - bytes.len() < FLUSH_BYTES;
        drop(state);
        if was_empty || crossed {
            self.shared.has_data.notify_one();
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Keeps the background log writer alive; dropping it writes every pending line and stops the thread.
pub struct LogGuard {
    shared: Arc<BufShared>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.has_data.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl std::fmt::Debug for LogGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogGuard").finish_non_exhaustive()
    }
}

/// The writer thread: wait for a first line, let more gather for [`LINGER`] (or until [`FLUSH_BYTES`]), write them
/// in one call, repeat; on close, write what is left and stop.
fn write_loop(shared: &BufShared, out: &mut dyn Write) {
    let mut spare = Vec::new();
    loop {
        let mut state = shared.lock();
        while state.buf.is_empty() && !state.closed {
            state = shared
                .has_data
                .wait(state)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        if !state.closed && state.buf.len() < FLUSH_BYTES {
            state = shared
                .has_data
                .wait_timeout_while(state, LINGER, |s| s.buf.len() < FLUSH_BYTES && !s.closed)
                .map_or_else(|e| e.into_inner().0, |(s, _)| s);
        }
        let closed = state.closed;
        std::mem::swap(&mut state.buf, &mut spare);
        drop(state);
        shared.has_room.notify_all();
        if !spare.is_empty() {
            // stderr gone (closed pipe): nothing sensible to report it to; keep draining so callers never block
            let _ = out.write_all(&spare).and_then(|()| out.flush());
            spare.clear();
            if spare.capacity() > MAX_BUFFERED_BYTES {
                spare = Vec::new();
            }
        }
        if closed && shared.lock().buf.is_empty() {
            return;
        }
    }
}

/// A [`BatchedStderr`] writer (for the subscriber) and its guard (keep it until exit).
pub fn batched_stderr() -> (BatchedStderr, LogGuard) {
    batched(Box::new(std::io::stderr()))
}

fn batched(mut out: Box<dyn Write + Send>) -> (BatchedStderr, LogGuard) {
    let shared = Arc::new(BufShared {
        state: Mutex::new(BufState {
            buf: Vec::with_capacity(FLUSH_BYTES),
            closed: false,
        }),
        has_data: Condvar::new(),
        has_room: Condvar::new(),
    });
    let worker = Arc::clone(&shared);
    let thread = std::thread::Builder::new()
        .name("haetae-log".into())
        .spawn(move || write_loop(&worker, &mut *out))
        .ok();
    if thread.is_none() {
        // no thread: write through on every call instead
        shared.lock().closed = true;
    }
    (
        BatchedStderr {
            shared: Arc::clone(&shared),
        },
        LogGuard { shared, thread },
    )
}

/// Level names a bare directive may be.
const LEVELS: &[&str] = &["off", "error", "warn", "info", "debug", "trace"];

/// Parse a `log.level` / `RUST_LOG` filter, refusing two that `tracing` accepts but that would silence the gateway
/// unnoticed: a bare word that is not a level (`inof` reads as "every level of the target `inof`", and nothing
/// else), and a filter that leaves the gateway's own ERROR lines out (`hyper=debug` alone; a residency-log failure
/// is reported at ERROR).
fn filter(level: &str) -> Result<EnvFilter, String> {
    let filter = EnvFilter::try_new(level).map_err(|e| e.to_string())?;
    // Whether events of the target `haetae` (and so its modules, unless one is named) pass: its own directive, else
    // the default level.
    let (mut default_on, mut haetae_on) = (None, None);
    for directive in level.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        let (target, lvl) = match directive.rsplit_once('=') {
            Some((target, lvl)) => (Some(target), lvl.trim()),
            None if directive.contains('[') => (Some(directive), "trace"),
            None if LEVELS.iter().any(|l| l.eq_ignore_ascii_case(directive)) => (None, directive),
            None => {
                return Err(format!(
                    "`{directive}` is neither a level ({}) nor `target=level`; to log every level of a target \
                     named `{directive}`, write `{directive}=trace`",
                    LEVELS.join(", ")
                ))
            }
        };
        let on = !lvl.eq_ignore_ascii_case("off");
        match target {
            None => default_on = Some(on),
            Some("haetae") => haetae_on = Some(on),
            Some(_) => {}
        }
    }
    if !haetae_on.or(default_on).unwrap_or(false) {
        return Err(
            "it would hide the gateway's own errors (a failing residency log is reported at ERROR); give a \
             level for everything else too, e.g. `warn,hyper=debug`"
                .to_owned(),
        );
    }
    Ok(filter)
}

/// Install the global subscriber. `RUST_LOG`, when set, overrides `log.level`. Calling it twice is harmless.
///
/// Lines are written by a background thread in batches (request tasks never block on stderr); when its buffer is
/// full, writers wait rather than drop lines, so the access log stays complete. Keep the guard until exit.
pub fn init(settings: &LogSettings, rust_log: Option<&str>) -> Result<LogGuard, TelemetryError> {
    let level = rust_log.unwrap_or(&settings.level);
    let filter = filter(level).map_err(|reason| TelemetryError::BadFilter {
        level: level.to_owned(),
        reason,
    })?;
    let (writer, guard) = batched_stderr();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    let _ = match settings.format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
        LogFormat::Text => builder.with_ansi(false).try_init(),
    };
    Ok(guard)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_that_would_silence_the_gateway_are_refused() {
        for ok in [
            "info",
            "WARN",
            "warn,hyper=debug",
            "haetae=debug",
            "info,haetae::access=off",
            "debug,h2=info,hyper_util[conn]=trace",
            "haetae::proxy=error,info",
        ] {
            assert!(filter(ok).is_ok(), "{ok}: {:?}", filter(ok).err());
        }
        for (bad, why) in [
            ("inof", "neither a level"),
            ("info,debgu", "neither a level"),
            ("hyper=debug", "hide the gateway's own errors"),
            ("off", "hide the gateway's own errors"),
            ("info,off", "hide the gateway's own errors"),
            ("haetae=off", "hide the gateway's own errors"),
            ("info,haetae=off", "hide the gateway's own errors"),
            ("haetae::audit=debug", "hide the gateway's own errors"),
            ("", "hide the gateway's own errors"),
            ("info=", ""),
        ] {
            let err = filter(bad)
                .err()
                .unwrap_or_else(|| panic!("{bad} accepted"));
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    /// A sink that records every `write_all` call separately.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<Vec<u8>>>>);

    impl Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| std::io::ErrorKind::Other)?
                .push(b.to_vec());
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_line_arrives_in_order_and_batched() {
        let sink = Sink::default();
        let (w, guard) = batched(Box::new(sink.clone()));
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let mut w = w.clone();
                std::thread::spawn(move || {
                    for i in 0..5000 {
                        w.write_all(format!("t{t} line {i}\n").as_bytes()).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        drop(guard);
        let writes = sink.0.lock().unwrap().clone();
        let all: Vec<u8> = writes.concat();
        let text = String::from_utf8(all).unwrap();
        for t in 0..4 {
            let ours: Vec<&str> = text
                .lines()
                .filter(|l| l.starts_with(&format!("t{t} ")))
                .collect();
            assert_eq!(ours.len(), 5000, "thread {t} lost lines");
            for (i, l) in ours.iter().enumerate() {
                assert_eq!(*l, format!("t{t} line {i}"));
            }
        }
        assert!(
            writes.len() < 20_000,
            "lines were not batched: {} writes",
            writes.len()
        );
    }

    #[test]
    fn a_full_buffer_makes_writers_wait_not_drop() {
        let sink = Sink::default();
        let (mut w, guard) = batched(Box::new(sink.clone()));
        let line = vec![b'x'; 1024 * 1024];
        for _ in 0..(MAX_BUFFERED_BYTES / line.len()) * 3 {
            w.write_all(&line).unwrap();
        }
        drop(guard);
        let total: usize = sink.0.lock().unwrap().iter().map(Vec::len).sum();
        assert_eq!(total, (MAX_BUFFERED_BYTES / line.len()) * 3 * line.len());
    }

    #[test]
    fn writes_after_close_go_straight_through() {
        let sink = Sink::default();
        let (mut w, guard) = batched(Box::new(sink.clone()));
        w.write_all(b"before\n").unwrap();
        drop(guard);
        // the sink saw the buffered line; a late line goes to the process's stderr and must not hang or panic
        w.write_all(b"late line from the telemetry test\n").unwrap();
        assert_eq!(sink.0.lock().unwrap().concat(), b"before\n");
    }
}
