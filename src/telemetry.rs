//! Process-wide logging: a `tracing` subscriber writing text or JSON lines to stderr.
//!
//! The access log is the `haetae::access` target, one event per request, emitted by the proxy.
//! OpenTelemetry traces/metrics and `/metrics` will hang off the same subscriber.
//!
//! Must never: put request or response content in an event field or span attribute.

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

/// Keeps the background log writer alive; dropping it flushes every pending line.
pub type LogGuard = tracing_appender::non_blocking::WorkerGuard;

/// Install the global subscriber. `RUST_LOG`, when set, overrides `log.level`. Calling it twice is harmless.
///
/// Lines are written by a background thread (request tasks never block on stderr); when its queue is full, writers
/// wait rather than drop lines, so the access log stays complete. Keep the guard until exit.
pub fn init(settings: &LogSettings, rust_log: Option<&str>) -> Result<LogGuard, TelemetryError> {
    let level = rust_log.unwrap_or(&settings.level);
    let filter = EnvFilter::try_new(level).map_err(|e| TelemetryError::BadFilter {
        level: level.to_owned(),
        reason: e.to_string(),
    })?;
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .finish(std::io::stderr());
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
