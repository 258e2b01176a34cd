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

/// Install the global subscriber. `RUST_LOG`, when set, overrides `log.level`. Calling it twice is harmless.
pub fn init(settings: &LogSettings, rust_log: Option<&str>) -> Result<(), TelemetryError> {
    let level = rust_log.unwrap_or(&settings.level);
    let filter = EnvFilter::try_new(level).map_err(|e| TelemetryError::BadFilter {
        level: level.to_owned(),
        reason: e.to_string(),
    })?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match settings.format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
        LogFormat::Text => builder.with_ansi(false).try_init(),
    };
    Ok(())
}
