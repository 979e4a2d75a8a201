//! Where data lives: the relational database, Redis, MongoDB and the tool
//! cache. Unset means the embedded shape (SQLite in the data directory, an
//! in-process cache).

use std::path::Path;
use std::time::Duration;

use super::{bad, ConfigError, Secret, Source};

/// The storage group of [`Settings`](super::Settings).
pub(super) struct Storage {
    pub database_url: Secret,
    pub redis_url: Option<Secret>,
    pub redis_key_prefix: String,
    pub redis_timeout: Duration,
    pub mongodb_url: Option<Secret>,
    pub mongodb_database: Option<String>,
    pub mongodb_timeout: Duration,
    pub cache_enabled: bool,
    pub cache_ttl: Duration,
    pub cache_max_bytes: u64,
}

impl Storage {
    pub(super) fn load(source: &Source, data_dir: &Path) -> Result<Self, ConfigError> {
        Ok(Self {
            database_url: Secret::new(database_url(source, data_dir)?),
            redis_url: service_url(
                source,
                &["REDIS_URL"],
                cfg!(feature = "redis"),
                &["redis://", "rediss://"],
                "a redis:// or rediss:// URL (needs the `redis` feature)",
            )?,
            redis_key_prefix: source.text_or(&["REDIS_KEY_PREFIX"], "mcp:"),
            redis_timeout: Duration::from_millis(source.positive(&["REDIS_TIMEOUT_MS"], 1000u64)?),
            mongodb_url: service_url(
                source,
                &["MONGODB_URL", "MONGO_URL"],
                cfg!(feature = "mongodb"),
                &["mongodb://", "mongodb+srv://"],
                "a mongodb:// or mongodb+srv:// URL (needs the `mongodb` feature)",
            )?,
            mongodb_database: source
                .first(&["MONGODB_DATABASE"])
                .map(|(_, v)| v.to_owned()),
            mongodb_timeout: Duration::from_millis(
                source.positive(&["MONGODB_TIMEOUT_MS"], 2000u64)?,
            ),
            cache_enabled: source.bool(&["CACHE_ENABLED"], true)?,
            cache_ttl: Duration::from_secs(source.positive(&["CACHE_TTL_SECONDS"], 300u64)?),
            cache_max_bytes: source.positive(&["CACHE_MAX_BYTES"], 64 * 1024 * 1024u64)?,
        })
    }
}

/// `DATABASE_URL`, or the SQLite file in the data directory.
fn database_url(source: &Source, data_dir: &Path) -> Result<String, ConfigError> {
    let Some((name, url)) = source.first(&["DATABASE_URL"]) else {
        return Ok(format!(
            "sqlite://{}",
            data_dir.join("mcp-platform.db").display()
        ));
    };
    let supported = url.starts_with("sqlite:")
        || (cfg!(feature = "mysql")
            && (url.starts_with("mysql://") || url.starts_with("mariadb://")));
    if !supported {
        return Err(bad(
            name,
            "a sqlite:// or mysql:// URL (mysql needs the `mysql` feature)",
        ));
    }
    Ok(url.to_owned())
}

/// The URL of an optional server: unset is `None`; set, it must use one of
/// `schemes` in a build where its adapter is `enabled`.
fn service_url(
    source: &Source,
    names: &[&str],
    enabled: bool,
    schemes: &[&str],
    expected: &str,
) -> Result<Option<Secret>, ConfigError> {
    match source.first(names) {
        None => Ok(None),
        Some((_, url)) if enabled && schemes.iter().any(|s| url.starts_with(s)) => {
            Ok(Some(Secret::new(url)))
        }
        Some((name, _)) => Err(bad(name, expected)),
    }
}
