//! What the process logs and how: the level (or tracing directives) and the
//! output format.

use super::{bad, ConfigError, Source};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

/// The logging group of [`Settings`](super::Settings).
pub(super) struct Logging {
    pub log_level: String,
    pub log_format: LogFormat,
}

impl Logging {
    pub(super) fn load(source: &Source) -> Result<Self, ConfigError> {
        let debug = source.bool(&["DEBUG"], false)?;
        let log_level = match source.first(&["LOG_LEVEL", "RUST_LOG"]) {
            None => if debug { "debug" } else { "info" }.to_owned(),
            Some((name, value)) => {
                tracing_subscriber::EnvFilter::try_new(value).map_err(|_| {
                    bad(name, format!("a level (error, warn, info, debug, trace) or tracing directives, got {value:?}"))
                })?;
                value.to_owned()
            }
        };
        let log_format = source.parsed(
            &["LOG_FORMAT"],
            LogFormat::Json,
            "json or pretty",
            |s| match s.to_ascii_lowercase().as_str() {
                "json" => Some(LogFormat::Json),
                "pretty" | "text" => Some(LogFormat::Pretty),
                _ => None,
            },
        )?;
        Ok(Self {
            log_level,
            log_format,
        })
    }
}
