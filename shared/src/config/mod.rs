//! Settings: every knob of the platform, read once at start.
//!
//! Defaults are the embedded shape: nothing set means SQLite under `./data`,
//! an in-process cache, and a JWT secret generated once and kept in the data
//! directory. Values come from the process environment, then from a `.env`
//! file in the working directory for names the environment does not set
//! (never in Lambda, where there is no such file). Every problem is reported
//! as one line naming the variable and what it expects.
//!
//! Names of the original deployment guide are accepted where they apply
//! (`SECRET_KEY`, `CORS_ORIGINS`, `DEBUG`, `ACCESS_TOKEN_EXPIRE_MINUTES`, …).
//!
//! Each group of settings is parsed in its own module; [`Settings::load`]
//! calls one function per group. Configuration is a leaf: it imports no
//! other module of the crate. `secretsmanager://` values are resolved by the
//! bootstrap (`adapters::secretsmanager::resolve`) before `load`, which only
//! refuses references left unresolved.

mod auth;
mod gateway;
mod jobs;
mod knowledge;
mod limits;
mod llm;
mod logging;
mod sandbox;
mod server;
mod source;
mod storage;

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub use auth::{AdminBootstrap, JwtSecretSource};
pub use gateway::GatewaySettings;
pub use jobs::{JobSettings, QueueBackend};
pub use knowledge::{EmbeddingProvider, KnowledgeSettings};
pub use limits::RateLimits;
pub use llm::LlmSettings;
pub use logging::LogFormat;
pub use sandbox::{Limits, NetworkMode, SandboxSettings, LIMIT_KEYS};
pub use server::AppEnv;
pub use source::{Source, SECRETS_MANAGER_PREFIX};

/// A secret string whose `Debug`/`Display` never show the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}
impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub app_env: AppEnv,
    pub bind: SocketAddr,
    pub data_dir: PathBuf,
    /// `sqlite://…`; unset means `sqlite://{data_dir}/mcp-platform.db`.
    /// A `Secret`: a MySQL URL carries the password.
    pub database_url: Secret,
    pub jwt_secret: JwtSecretSource,
    pub jwt_issuer: String,
    pub jwt_audience: String,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    pub cors_origins: Vec<String>,
    pub log_level: String,
    pub log_format: LogFormat,
    pub max_body_bytes: usize,
    pub allow_registration: bool,
    pub public_url: String,
    /// `CACHE_ENABLED=false` reads every tool from the database (benchmarks, debugging).
    pub cache_enabled: bool,
    pub cache_ttl: Duration,
    pub cache_max_bytes: u64,
    pub login_max_attempts_per_account: u32,
    pub login_max_attempts_per_ip: u32,
    pub login_window: Duration,
    /// Take the client IP from `X-Forwarded-For` (only behind a trusted proxy).
    pub trust_proxy_headers: bool,
    /// Remote MCP upstreams on loopback / private networks (RFC 1918, ULA,
    /// CGNAT) are refused unless these allow them (SSRF guard, `upstream::ssrf`).
    pub gateway_allow_loopback_upstreams: bool,
    pub gateway_allow_private_upstreams: bool,
    pub bootstrap_admin: Option<AdminBootstrap>,
    /// `redis://…`: cache, refresh tokens and rate limits in Redis; unset = in-process.
    pub redis_url: Option<Secret>,
    pub rate_limits: RateLimits,
    /// `mongodb://…`: version history (later documents, task results) in
    /// MongoDB; unset = the relational store.
    pub mongodb_url: Option<Secret>,
    /// Database name; unset = the URL's path, else `mcp_platform`.
    pub mongodb_database: Option<String>,
    pub mongodb_timeout: Duration,
    pub redis_key_prefix: String,
    /// Connect and per-command timeout: how fast requests fail when Redis is gone.
    pub redis_timeout: Duration,
    /// The job queue, workers and scheduler.
    pub jobs: JobSettings,
    /// Embeddings and search of the knowledge base.
    pub knowledge: KnowledgeSettings,
    /// `GATEWAY_HEALTH_INTERVAL_SECONDS`, `GATEWAY_REQUEST_TIMEOUT_SECONDS`.
    pub gateway: GatewaySettings,
    /// An OpenAI-compatible chat API for `/analyze/*`; `None` = the offline
    /// analyser only.
    pub llm: Option<LlmSettings>,
    /// The process runner's sandbox (`PROCESS_SANDBOX*`).
    pub sandbox: SandboxSettings,
}

/// A configuration problem: one line, naming the variable.
#[derive(Debug, thiserror::Error)]
#[error("configuration error: {variable}: {expected}")]
pub struct ConfigError {
    pub variable: String,
    pub expected: String,
}

fn bad(variable: &str, expected: impl Into<String>) -> ConfigError {
    ConfigError {
        variable: variable.to_owned(),
        expected: expected.into(),
    }
}

/// Command-line overrides, which win over the environment.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub bind: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
}

impl Settings {
    pub fn load(source: &Source, overrides: &Overrides) -> Result<Self, ConfigError> {
        source.refuse_unresolved_references()?;
        let server = server::Server::load(source, overrides)?;
        let storage = storage::Storage::load(source, &server.data_dir)?;
        let auth = auth::Auth::load(source, server.app_env, &server.data_dir)?;
        let logging = logging::Logging::load(source)?;
        let limits = limits::Limits::load(source)?;
        let gateway = gateway::Gateway::load(source)?;
        Ok(Self {
            app_env: server.app_env,
            bind: server.bind,
            data_dir: server.data_dir,
            public_url: server.public_url,
            cors_origins: server.cors_origins,
            trust_proxy_headers: server.trust_proxy_headers,
            database_url: storage.database_url,
            redis_url: storage.redis_url,
            redis_key_prefix: storage.redis_key_prefix,
            redis_timeout: storage.redis_timeout,
            mongodb_url: storage.mongodb_url,
            mongodb_database: storage.mongodb_database,
            mongodb_timeout: storage.mongodb_timeout,
            cache_enabled: storage.cache_enabled,
            cache_ttl: storage.cache_ttl,
            cache_max_bytes: storage.cache_max_bytes,
            jwt_secret: auth.jwt_secret,
            jwt_issuer: auth.jwt_issuer,
            jwt_audience: auth.jwt_audience,
            access_token_ttl: auth.access_token_ttl,
            refresh_token_ttl: auth.refresh_token_ttl,
            allow_registration: auth.allow_registration,
            bootstrap_admin: auth.bootstrap_admin,
            log_level: logging.log_level,
            log_format: logging.log_format,
            max_body_bytes: limits.max_body_bytes,
            login_max_attempts_per_account: limits.login_max_attempts_per_account,
            login_max_attempts_per_ip: limits.login_max_attempts_per_ip,
            login_window: limits.login_window,
            rate_limits: limits.rate_limits,
            gateway: gateway.settings,
            gateway_allow_loopback_upstreams: gateway.allow_loopback_upstreams,
            gateway_allow_private_upstreams: gateway.allow_private_upstreams,
            jobs: JobSettings::load(source)?,
            knowledge: KnowledgeSettings::load(source)?,
            llm: LlmSettings::load(source)?,
            sandbox: SandboxSettings::from_lookup(|name| source.get(name).map(str::to_owned))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The settings `vars` give, with no command-line overrides.
    pub(super) fn load(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        Settings::load(
            &Source::from_map(vars.iter().copied()),
            &Overrides::default(),
        )
    }

    #[test]
    #[cfg(all(feature = "mysql", feature = "redis", feature = "rabbitmq"))]
    fn debug_output_of_the_settings_holds_no_credential() {
        let s = load(&[
            ("DATABASE_URL", "mysql://app:db-pass-1@127.0.0.1:3306/mcp"),
            ("REDIS_URL", "redis://:redis-pass-2@127.0.0.1:6379"),
            ("JOB_QUEUE_URL", "amqp://app:amqp-pass-3@127.0.0.1:5672/%2f"),
            (
                "JWT_SECRET",
                "jwt-secret-4-long-enough-for-the-minimum-length-check",
            ),
        ])
        .expect("settings load");
        let printed = format!("{s:?}");
        for secret in ["db-pass-1", "redis-pass-2", "amqp-pass-3", "jwt-secret-4"] {
            assert!(!printed.contains(secret), "{secret} in {printed}");
        }
    }

    #[test]
    fn nothing_set_is_the_embedded_default() {
        let s = load(&[]).expect("defaults load");
        assert_eq!(s.bind.to_string(), "127.0.0.1:8000");
        assert_eq!(s.data_dir, PathBuf::from("data"));
        assert!(s.database_url.expose().starts_with("sqlite://"));
        assert!(matches!(s.jwt_secret, JwtSecretSource::File(_)));
        assert_eq!(s.access_token_ttl, Duration::from_secs(900));
    }

    #[test]
    fn malformed_values_name_their_variable() {
        for (var, value) in [
            ("PORT", "eighty"),
            ("DEBUG", "maybe"),
            ("MAX_BODY_BYTES", "0"),
            ("CORS_ORIGINS", "ftp://x"),
            ("DATABASE_URL", "postgres://x"),
            ("ACCESS_TOKEN_EXPIRE_MINUTES", "-5"),
            ("MCP_BIND", "localhost"),
            ("RATE_LIMIT_GROUPS", "auth=lots"),
            ("LOG_LEVEL", "loud[["),
            ("API_HOST", "localhost"),
            ("REDIS_URL", "http://localhost:6379"),
            ("WORKER_CONCURRENCY", "0"),
            ("WORKER_POLL_INTERVAL_MS", "often"),
            ("JOB_MAX_ATTEMPTS", "0"),
            ("JOB_LEASE_SECONDS", "-1"),
            ("JOB_BACKOFF_BASE_MS", "1.5"),
            ("SCHEDULER_TICK_SECONDS", "99999"),
            ("JOB_RETENTION_HOURS", "0"),
            ("JOB_QUEUE_URL", "kafka://broker:9092"),
            ("JOB_QUEUE_URL", "sqs://"),
            ("JOB_QUEUE_URL", "sqs://bad name"),
        ] {
            let err = load(&[(var, value)]).expect_err(var);
            assert_eq!(err.variable, var, "{err}");
            assert!(!err.to_string().contains('\n'));
        }
    }

    #[test]
    fn the_secret_never_prints() {
        let s = load(&[("SECRET_KEY", &"s3cr3t-".repeat(6))]).expect("loads");
        assert!(!format!("{s:?}").contains("s3cr3t"));
    }
}
