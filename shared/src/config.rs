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

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppEnv {
    Development,
    Production,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

/// Where the JWT signing secret comes from.
#[derive(Debug, Clone)]
pub enum JwtSecretSource {
    Given(Secret),
    /// Generated on first start and kept in this file (embedded default).
    File(PathBuf),
}

#[derive(Debug, Clone)]
pub struct AdminBootstrap {
    pub username: String,
    pub email: String,
    pub password: Secret,
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
    pub rate_limits: crate::ratelimit::RateLimits,
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
    pub gateway: crate::gateway::GatewaySettings,
    /// An OpenAI-compatible chat API for `/analyze/*`; `None` = the offline
    /// analyser only.
    pub llm: Option<LlmSettings>,
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

/// Reads variables from a map (tests, Lambda) or the real environment.
#[derive(Clone)]
pub struct Source {
    vars: HashMap<String, String>,
    /// Variables whose value came from a secret store: errors never echo them.
    secret: HashSet<String>,
}

/// The prefix of a configuration value that names a Secrets Manager secret:
/// `secretsmanager://<name-or-arn>[#json-key]`.
pub const SECRETS_MANAGER_PREFIX: &str = "secretsmanager://";

impl Source {
    /// The process environment, then `.env` in the working directory for names
    /// the environment leaves unset.
    pub fn from_env_and_dotenv() -> Result<Self, ConfigError> {
        let mut vars: HashMap<String, String> = std::env::vars().collect();
        if Path::new(".env").is_file() {
            let iter = dotenvy::from_filename_iter(".env")
                .map_err(|e| bad(".env", format!("a readable KEY=VALUE file ({e})")))?;
            for item in iter {
                let (key, value) =
                    item.map_err(|e| bad(".env", format!("KEY=VALUE lines ({e})")))?;
                vars.entry(key).or_insert(value);
            }
        }
        Ok(Self {
            vars,
            secret: HashSet::new(),
        })
    }

    /// The process environment only (Lambda: there is no `.env`).
    pub fn from_env() -> Self {
        Self {
            vars: std::env::vars().collect(),
            secret: HashSet::new(),
        }
    }

    pub fn from_map<K: Into<String>, V: Into<String>>(
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self {
            vars: vars
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            secret: HashSet::new(),
        }
    }

    /// The value of `name`, when set and not blank (for settings read
    /// outside [`Settings`], such as API keys of external services).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.first(&[name]).map(|(_, v)| v)
    }

    /// Variables whose value is a `secretsmanager://` reference, sorted by name.
    pub fn secret_references(&self) -> Vec<(String, String)> {
        let mut refs: Vec<_> = self
            .vars
            .iter()
            .filter(|(_, v)| v.trim().starts_with(SECRETS_MANAGER_PREFIX))
            .map(|(k, v)| (k.clone(), v.trim().to_owned()))
            .collect();
        refs.sort();
        refs
    }

    /// Sets `name` to a value read from a secret store; errors about it
    /// will name the variable but never show the value.
    pub fn set_secret(&mut self, name: &str, value: String) {
        self.vars.insert(name.to_owned(), value);
        self.secret.insert(name.to_owned());
    }

    /// A copy with every `secretsmanager://` value replaced by the secret it
    /// names, each secret read once. Called once at start, before
    /// [`Settings::load`]; without the `secretsmanager` feature the copy is
    /// unchanged and `load` refuses the references.
    pub async fn resolve_secrets(&self) -> Result<Self, ConfigError> {
        #[cfg_attr(not(feature = "secretsmanager"), allow(unused_mut))]
        let mut resolved = self.clone();
        #[cfg(feature = "secretsmanager")]
        crate::adapters::secretsmanager::resolve(&mut resolved).await?;
        Ok(resolved)
    }

    /// The first of `names` that is set to a non-empty value, with its name.
    fn first<'a>(&self, names: &[&'a str]) -> Option<(&'a str, &str)> {
        names.iter().find_map(|n| {
            self.vars
                .get(*n)
                .map(|v| v.trim())
                .filter(|v| !v.is_empty())
                .map(|v| (*n, v))
        })
    }

    fn parsed<T>(
        &self,
        names: &[&str],
        default: T,
        expected: &str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<T, ConfigError> {
        match self.first(names) {
            None => Ok(default),
            Some((name, raw)) if self.secret.contains(name) => {
                parse(raw).ok_or_else(|| bad(name, format!("{expected} (from its secret)")))
            }
            Some((name, raw)) => {
                parse(raw).ok_or_else(|| bad(name, format!("{expected}, got {raw:?}")))
            }
        }
    }

    fn bool(&self, names: &[&str], default: bool) -> Result<bool, ConfigError> {
        self.parsed(names, default, "true or false", |s| {
            match s.to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => Some(true),
                "0" | "false" | "no" | "off" => Some(false),
                _ => None,
            }
        })
    }

    fn positive<T: std::str::FromStr + PartialOrd + Default>(
        &self,
        names: &[&str],
        default: T,
    ) -> Result<T, ConfigError> {
        self.parsed(names, default, "a positive whole number", |s| {
            s.parse::<T>().ok().filter(|v| *v > T::default())
        })
    }
}

impl Settings {
    pub fn load(source: &Source, overrides: &Overrides) -> Result<Self, ConfigError> {
        // A reference taken for the value itself would be a secret that is
        // not the secret (a signing key anyone can guess).
        if let Some((name, _)) = source.secret_references().first() {
            return Err(bad(
                name,
                "a secretsmanager:// reference, resolved at start (needs the `secretsmanager` feature)",
            ));
        }
        let app_env = source.parsed(
            &["APP_ENV", "ENVIRONMENT"],
            AppEnv::Development,
            "development or production",
            |s| match s.to_ascii_lowercase().as_str() {
                "development" | "dev" | "local" | "test" => Some(AppEnv::Development),
                "production" | "prod" => Some(AppEnv::Production),
                _ => None,
            },
        )?;

        let bind = match overrides.bind {
            Some(addr) => addr,
            None => match source.first(&["MCP_BIND", "BIND_ADDR"]) {
                Some((name, raw)) => raw.parse().map_err(|_| {
                    bad(
                        name,
                        format!("ADDRESS:PORT such as 127.0.0.1:8000, got {raw:?}"),
                    )
                })?,
                None => {
                    let host = source.parsed(
                        &["HOST", "API_HOST"],
                        std::net::IpAddr::from([127, 0, 0, 1]),
                        "an IP address such as 127.0.0.1",
                        |s| s.parse().ok(),
                    )?;
                    let port = source.parsed(
                        &["PORT", "API_PORT"],
                        8000u16,
                        "a port number 0-65535",
                        |s| s.parse().ok(),
                    )?;
                    SocketAddr::new(host, port)
                }
            },
        };

        let data_dir = match &overrides.data_dir {
            Some(dir) => dir.clone(),
            None => source
                .first(&["MCP_DATA_DIR", "DATA_DIR"])
                .map_or_else(|| PathBuf::from("data"), |(_, v)| PathBuf::from(v)),
        };

        let database_url = match source.first(&["DATABASE_URL"]) {
            None => format!("sqlite://{}", data_dir.join("mcp-platform.db").display()),
            Some((name, url)) => {
                let supported = url.starts_with("sqlite:")
                    || (cfg!(feature = "mysql")
                        && (url.starts_with("mysql://") || url.starts_with("mariadb://")));
                if !supported {
                    return Err(bad(
                        name,
                        "a sqlite:// or mysql:// URL (mysql needs the `mysql` feature)",
                    ));
                }
                url.to_owned()
            }
        };

        let jwt_secret = match source.first(&["SECRET_KEY", "JWT_SECRET_KEY", "JWT_SECRET"]) {
            Some((name, value)) => {
                if value.len() < 32 {
                    return Err(bad(
                        name,
                        "at least 32 bytes of random text (e.g. `openssl rand -hex 32`)",
                    ));
                }
                JwtSecretSource::Given(Secret::new(value))
            }
            None if app_env == AppEnv::Production => {
                return Err(bad(
                    "SECRET_KEY",
                    "required when APP_ENV=production: at least 32 bytes of random text",
                ))
            }
            None => JwtSecretSource::File(data_dir.join("jwt-secret")),
        };

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

        let cors_origins = match source.first(&["CORS_ORIGINS", "ALLOWED_ORIGINS"]) {
            None => Vec::new(),
            Some((name, raw)) => parse_origins(raw).ok_or_else(|| {
                bad(
                    name,
                    "a comma-separated or JSON list of origins such as https://app.example.com",
                )
            })?,
        };

        let public_url = source.first(&["PUBLIC_URL"]).map_or_else(
            || format!("http://{bind}"),
            |(_, v)| v.trim_end_matches('/').to_owned(),
        );

        let bootstrap_admin = match (
            source.first(&["ADMIN_USERNAME"]),
            source.first(&["ADMIN_PASSWORD"]),
        ) {
            (None, None) => None,
            (Some((_, username)), Some((_, password))) => Some(AdminBootstrap {
                username: username.to_owned(),
                email: source.first(&["ADMIN_EMAIL"]).map_or_else(
                    || format!("{username}@localhost.localdomain"),
                    |(_, v)| v.to_owned(),
                ),
                password: Secret::new(password),
            }),
            (Some(_), None) => {
                return Err(bad("ADMIN_PASSWORD", "set together with ADMIN_USERNAME"))
            }
            (None, Some(_)) => {
                return Err(bad("ADMIN_USERNAME", "set together with ADMIN_PASSWORD"))
            }
        };

        Ok(Self {
            app_env,
            bind,
            database_url: Secret::new(database_url),
            jwt_secret,
            jwt_issuer: source
                .first(&["JWT_ISSUER"])
                .map_or("mcp-platform", |(_, v)| v)
                .to_owned(),
            jwt_audience: source
                .first(&["JWT_AUDIENCE"])
                .map_or("mcp-platform-api", |(_, v)| v)
                .to_owned(),
            access_token_ttl: Duration::from_secs(
                60 * source.positive(&["ACCESS_TOKEN_EXPIRE_MINUTES"], 15u64)?,
            ),
            refresh_token_ttl: Duration::from_secs(
                86_400 * source.positive(&["REFRESH_TOKEN_EXPIRE_DAYS"], 7u64)?,
            ),
            cors_origins,
            log_level,
            log_format,
            max_body_bytes: source.positive(&["MAX_BODY_BYTES"], 1_048_576usize)?,
            allow_registration: source.bool(&["ALLOW_REGISTRATION"], true)?,
            public_url,
            cache_enabled: source.bool(&["CACHE_ENABLED"], true)?,
            cache_ttl: Duration::from_secs(source.positive(&["CACHE_TTL_SECONDS"], 300u64)?),
            cache_max_bytes: source.positive(&["CACHE_MAX_BYTES"], 64 * 1024 * 1024u64)?,
            login_max_attempts_per_account: source
                .positive(&["LOGIN_MAX_ATTEMPTS_PER_ACCOUNT"], 10u32)?,
            login_max_attempts_per_ip: source.positive(&["LOGIN_MAX_ATTEMPTS_PER_IP"], 50u32)?,
            login_window: Duration::from_secs(source.positive(&["LOGIN_WINDOW_SECONDS"], 300u64)?),
            trust_proxy_headers: source.bool(&["TRUST_PROXY_HEADERS"], false)?,
            gateway_allow_loopback_upstreams: source
                .bool(&["GATEWAY_ALLOW_LOOPBACK_UPSTREAMS"], false)?,
            gateway_allow_private_upstreams: source
                .bool(&["GATEWAY_ALLOW_PRIVATE_UPSTREAMS"], false)?,
            bootstrap_admin,
            redis_url: match source.first(&["REDIS_URL"]) {
                None => None,
                Some((_, url))
                    if cfg!(feature = "redis")
                        && (url.starts_with("redis://") || url.starts_with("rediss://")) =>
                {
                    Some(Secret::new(url))
                }
                Some((name, _)) => {
                    return Err(bad(
                        name,
                        "a redis:// or rediss:// URL (needs the `redis` feature)",
                    ))
                }
            },
            rate_limits: crate::ratelimit::RateLimits {
                enabled: source.bool(&["RATE_LIMIT_ENABLED"], true)?,
                per_window: source.positive(&["RATE_LIMIT_REQUESTS"], 1200u32)?,
                window: Duration::from_secs(
                    source.positive(&["RATE_LIMIT_WINDOW_SECONDS"], 60u64)?,
                ),
                overrides: match source.first(&["RATE_LIMIT_GROUPS"]) {
                    None => Vec::new(),
                    Some((name, raw)) => parse_group_limits(raw).ok_or_else(|| {
                        bad(
                            name,
                            "comma-separated GROUP=LIMIT pairs such as auth=60,mcps=1200",
                        )
                    })?,
                },
            },
            mongodb_url: match source.first(&["MONGODB_URL", "MONGO_URL"]) {
                None => None,
                Some((_, url))
                    if cfg!(feature = "mongodb")
                        && (url.starts_with("mongodb://") || url.starts_with("mongodb+srv://")) =>
                {
                    Some(Secret::new(url))
                }
                Some((name, _)) => {
                    return Err(bad(
                        name,
                        "a mongodb:// or mongodb+srv:// URL (needs the `mongodb` feature)",
                    ))
                }
            },
            mongodb_database: source
                .first(&["MONGODB_DATABASE"])
                .map(|(_, v)| v.to_owned()),
            mongodb_timeout: Duration::from_millis(
                source.positive(&["MONGODB_TIMEOUT_MS"], 2000u64)?,
            ),
            redis_key_prefix: source
                .first(&["REDIS_KEY_PREFIX"])
                .map_or("mcp:", |(_, v)| v)
                .to_owned(),
            redis_timeout: Duration::from_millis(source.positive(&["REDIS_TIMEOUT_MS"], 1000u64)?),
            jobs: JobSettings::load(source)?,
            knowledge: KnowledgeSettings::load(source)?,
            gateway: crate::gateway::GatewaySettings {
                health_interval: Duration::from_secs(
                    source.positive(&["GATEWAY_HEALTH_INTERVAL_SECONDS"], 30u64)?,
                ),
                request_timeout: Duration::from_secs(
                    source.positive(&["GATEWAY_REQUEST_TIMEOUT_SECONDS"], 300u64)?,
                ),
            },
            llm: LlmSettings::load(source)?,
            data_dir,
        })
    }
}

/// The chat-completions API behind `/analyze/*` (OpenAI, or anything that
/// speaks its `/v1/chat/completions`: Ollama, vLLM, LiteLLM…). Configured
/// when `LLM_BASE_URL` or `LLM_API_KEY` is set; failures fall back to the
/// offline analyser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LlmSettings {
    /// Up to and including `/v1` (`LLM_BASE_URL`, default OpenAI's).
    pub base_url: String,
    pub model: String,
    /// Sent as `Authorization: Bearer`; local servers may need none.
    pub api_key: Option<Secret>,
    /// Per request (`LLM_TIMEOUT_SECONDS`).
    pub timeout: Duration,
    /// Further attempts after a timeout, 429 or 5xx (`LLM_MAX_RETRIES`).
    pub max_retries: u32,
    /// First retry delay, doubled each attempt (`LLM_RETRY_BASE_MS`).
    pub retry_base: Duration,
}

impl LlmSettings {
    fn load(source: &Source) -> Result<Option<Self>, ConfigError> {
        let base_url = source.first(&["LLM_BASE_URL", "OPENAI_BASE_URL"]);
        let api_key = source.first(&["LLM_API_KEY", "OPENAI_API_KEY"]);
        if base_url.is_none() && api_key.is_none() {
            return Ok(None);
        }
        let base_url = match base_url {
            None => "https://api.openai.com/v1".to_owned(),
            Some((name, url)) => {
                if !(url.starts_with("https://") || url.starts_with("http://")) {
                    return Err(bad(
                        name,
                        "an http(s) URL such as https://api.openai.com/v1",
                    ));
                }
                url.trim_end_matches('/').to_owned()
            }
        };
        Ok(Some(Self {
            base_url,
            model: source
                .first(&["LLM_MODEL", "OPENAI_MODEL"])
                .map_or("gpt-4o-mini", |(_, v)| v)
                .to_owned(),
            api_key: api_key
                .map(|(_, v)| Secret::new(v))
                .filter(|k| !k.expose().is_empty()),
            timeout: Duration::from_secs(source.within(&["LLM_TIMEOUT_SECONDS"], 30, 1, 600)?),
            max_retries: source.within(&["LLM_MAX_RETRIES"], 2, 0, 10)?,
            retry_base: Duration::from_millis(source.within(
                &["LLM_RETRY_BASE_MS"],
                250,
                1,
                60_000,
            )?),
        }))
    }
}

/// Settings of the job queue, the workers and the scheduler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobSettings {
    /// Jobs one worker process runs at once (`WORKER_CONCURRENCY`).
    pub worker_concurrency: usize,
    /// How often an idle worker looks for work (`WORKER_POLL_INTERVAL_MS`).
    pub worker_poll_interval: Duration,
    /// Deliveries of one job before it is dead-lettered (`JOB_MAX_ATTEMPTS`).
    pub max_attempts: u32,
    /// How long a claimed job is hidden from other workers; also the most a
    /// handler may run (`JOB_LEASE_SECONDS`).
    pub lease: Duration,
    /// First retry delay; doubled each attempt, with jitter (`JOB_BACKOFF_BASE_MS`).
    pub backoff_base: Duration,
    /// How often the scheduler looks for due periodic jobs (`SCHEDULER_TICK_SECONDS`).
    pub scheduler_tick: Duration,
    /// How long done and dead jobs are kept (`JOB_RETENTION_HOURS`).
    pub retention: Duration,
    /// How long a task record lives after its last change (`TASK_RESULT_TTL_HOURS`).
    pub task_result_ttl: Duration,
    /// Which queue carries the jobs (`JOB_QUEUE_URL`).
    pub queue: QueueBackend,
}

/// The transport of the job queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueBackend {
    /// `JOB_QUEUE_URL` unset: the table queue of `DATABASE_URL`.
    Sql,
    /// `amqp://…`: RabbitMQ, work queue `JOB_QUEUE_NAME`.
    RabbitMq { url: Secret, queue: String },
    /// `sqs://NAME` or an `https://` SQS queue URL.
    Sqs {
        queue: String,
        /// `AWS_REGION`; unset = the AWS SDK's chain.
        region: Option<String>,
        /// `SQS_ENDPOINT_URL`: moto or LocalStack instead of AWS.
        endpoint_url: Option<String>,
        /// Long polling of one claim (`SQS_WAIT_SECONDS`).
        wait: Duration,
        /// `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` when both are
        /// set; otherwise the AWS SDK's chain (profile, instance role).
        credentials: Option<(String, Secret)>,
    },
}

impl QueueBackend {
    /// The name `/health` reports.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Sql => "sql",
            Self::RabbitMq { .. } => "rabbitmq",
            Self::Sqs { .. } => "sqs",
        }
    }
}

impl QueueBackend {
    fn load(source: &Source) -> Result<Self, ConfigError> {
        let Some((name, url)) = source.first(&["JOB_QUEUE_URL"]) else {
            return Ok(Self::Sql);
        };
        if url.starts_with("amqp://") || url.starts_with("amqps://") {
            if !cfg!(feature = "rabbitmq") {
                return Err(bad(name, "amqp:// needs the `rabbitmq` feature"));
            }
            let queue = source
                .first(&["JOB_QUEUE_NAME"])
                .map_or("mcp-jobs", |(_, v)| v)
                .to_owned();
            let valid = !queue.is_empty()
                && queue.len() <= 200
                && queue
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'));
            if !valid {
                return Err(bad(
                    "JOB_QUEUE_NAME",
                    "1 to 200 characters of letters, digits, - _ . :",
                ));
            }
            return Ok(Self::RabbitMq {
                url: Secret::new(url),
                queue,
            });
        }
        let sqs_name = url.strip_prefix("sqs://").map(|n| n.trim_end_matches('/'));
        let is_sqs = match sqs_name {
            Some(n) => {
                !n.is_empty()
                    && n.len() <= 75
                    && n.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            }
            None => {
                url.starts_with("https://") && url.contains("sqs") && url.matches('/').count() >= 4
            }
        };
        if !is_sqs {
            return Err(bad(
                name,
                "unset (the SQL queue of DATABASE_URL), amqp://user:pass@host:5672/vhost, \
                 sqs://QUEUE-NAME (1-75 letters, digits, - _) or an https:// SQS queue URL",
            ));
        }
        if !cfg!(feature = "sqs") {
            return Err(bad(name, "an SQS queue needs the `sqs` feature"));
        }
        let endpoint_url = match source.first(&["SQS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SQS"]) {
            None => None,
            Some((n, v)) if v.starts_with("http://") || v.starts_with("https://") => {
                let _ = n;
                Some(v.trim_end_matches('/').to_owned())
            }
            Some((n, _)) => return Err(bad(n, "an http:// or https:// endpoint URL")),
        };
        Ok(Self::Sqs {
            queue: url.to_owned(),
            region: source
                .first(&["AWS_REGION", "AWS_DEFAULT_REGION"])
                .map(|(_, v)| v.to_owned()),
            endpoint_url,
            wait: Duration::from_secs(source.within(&["SQS_WAIT_SECONDS"], 1, 0, 20)?),
            credentials: match (
                source.first(&["AWS_ACCESS_KEY_ID"]),
                source.first(&["AWS_SECRET_ACCESS_KEY"]),
            ) {
                (Some((_, key)), Some((_, secret))) => Some((key.to_owned(), Secret::new(secret))),
                _ => None,
            },
        })
    }
}

impl JobSettings {
    fn load(source: &Source) -> Result<Self, ConfigError> {
        Ok(Self {
            worker_concurrency: source.within(&["WORKER_CONCURRENCY"], 4, 1, 1024)?,
            worker_poll_interval: Duration::from_millis(source.within(
                &["WORKER_POLL_INTERVAL_MS"],
                500,
                1,
                60_000,
            )?),
            max_attempts: source.within(&["JOB_MAX_ATTEMPTS"], 5, 1, 1000)?,
            lease: Duration::from_secs(source.within(&["JOB_LEASE_SECONDS"], 300, 1, 86_400)?),
            backoff_base: Duration::from_millis(source.within(
                &["JOB_BACKOFF_BASE_MS"],
                1000,
                1,
                3_600_000,
            )?),
            scheduler_tick: Duration::from_secs(source.within(
                &["SCHEDULER_TICK_SECONDS"],
                15,
                1,
                3600,
            )?),
            // At least the longest scheduler period (an hour): a purged job
            // frees its idempotency key.
            retention: Duration::from_secs(
                3600 * source.within(&["JOB_RETENTION_HOURS"], 168, 1, 87_600)?,
            ),
            queue: QueueBackend::load(source)?,
            task_result_ttl: Duration::from_secs(
                3600 * source.within(&["TASK_RESULT_TTL_HOURS"], 24, 1, 8760)?,
            ),
        })
    }
}

impl Source {
    /// A whole number in `min..=max`.
    fn within<T>(&self, names: &[&str], default: T, min: T, max: T) -> Result<T, ConfigError>
    where
        T: std::str::FromStr + PartialOrd + fmt::Display + Copy,
    {
        self.parsed(
            names,
            default,
            &format!("a whole number from {min} to {max}"),
            |s| s.parse::<T>().ok().filter(|v| *v >= min && *v <= max),
        )
    }
}

fn parse_group_limits(raw: &str) -> Option<Vec<(String, u32)>> {
    raw.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (group, limit) = pair.split_once('=')?;
            let limit = limit.trim().parse::<u32>().ok().filter(|n| *n > 0)?;
            let group = group.trim();
            (!group.is_empty()).then(|| (group.to_owned(), limit))
        })
        .collect()
}

fn parse_origins(raw: &str) -> Option<Vec<String>> {
    let list: Vec<String> = if raw.starts_with('[') {
        serde_json::from_str(raw).ok()?
    } else {
        raw.split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect()
    };
    let valid = list
        .iter()
        .all(|o| o == "*" || o.starts_with("http://") || o.starts_with("https://"));
    valid.then_some(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
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
    fn production_requires_a_long_secret() {
        let err = load(&[("APP_ENV", "production")]).expect_err("must refuse");
        assert_eq!(err.variable, "SECRET_KEY");
        let err = load(&[("APP_ENV", "production"), ("SECRET_KEY", "short")]).expect_err("short");
        assert_eq!(err.variable, "SECRET_KEY");
        let ok = load(&[("APP_ENV", "production"), ("SECRET_KEY", &"x".repeat(32))]);
        assert!(ok.is_ok());
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
    fn job_settings_have_defaults_and_take_values() {
        let defaults = load(&[]).expect("defaults load").jobs;
        assert_eq!(defaults.worker_concurrency, 4);
        assert_eq!(defaults.max_attempts, 5);
        assert_eq!(defaults.lease, Duration::from_secs(300));
        assert_eq!(defaults.retention, Duration::from_secs(168 * 3600));
        let set = load(&[
            ("WORKER_CONCURRENCY", "16"),
            ("JOB_MAX_ATTEMPTS", "3"),
            ("JOB_BACKOFF_BASE_MS", "250"),
        ])
        .expect("loads")
        .jobs;
        assert_eq!(set.worker_concurrency, 16);
        assert_eq!(set.max_attempts, 3);
        assert_eq!(set.backoff_base, Duration::from_millis(250));
    }

    #[test]
    fn the_job_queue_is_chosen_by_its_url() {
        assert_eq!(load(&[]).expect("loads").jobs.queue, QueueBackend::Sql);
        let rabbit = load(&[("JOB_QUEUE_URL", "amqp://guest:guest@127.0.0.1:5672/%2f")])
            .expect("loads")
            .jobs
            .queue;
        assert_eq!(rabbit.name(), "rabbitmq");
        assert!(matches!(rabbit, QueueBackend::RabbitMq { ref queue, .. } if queue == "mcp-jobs"));
        assert!(
            !format!("{rabbit:?}").contains("guest:guest"),
            "the URL is a secret"
        );
        let sqs = load(&[
            ("JOB_QUEUE_URL", "sqs://mcp-jobs"),
            ("SQS_ENDPOINT_URL", "http://127.0.0.1:5000"),
            ("AWS_REGION", "eu-west-1"),
        ])
        .expect("loads")
        .jobs
        .queue;
        assert_eq!(
            sqs,
            QueueBackend::Sqs {
                queue: "sqs://mcp-jobs".into(),
                region: Some("eu-west-1".into()),
                endpoint_url: Some("http://127.0.0.1:5000".into()),
                wait: Duration::from_secs(1),
                credentials: None,
            }
        );
        let aws = load(&[(
            "JOB_QUEUE_URL",
            "https://sqs.us-east-1.amazonaws.com/123456789012/mcp-jobs",
        )])
        .expect("loads");
        assert_eq!(aws.jobs.queue.name(), "sqs");
        for (var, value) in [
            ("JOB_QUEUE_NAME", "has space"),
            ("SQS_ENDPOINT_URL", "localhost:5000"),
            ("SQS_WAIT_SECONDS", "21"),
        ] {
            let url = if var == "JOB_QUEUE_NAME" {
                "amqp://h"
            } else {
                "sqs://q"
            };
            let err = load(&[("JOB_QUEUE_URL", url), (var, value)]).expect_err(var);
            assert_eq!(err.variable, var, "{err}");
        }
    }

    #[test]
    fn the_secret_never_prints() {
        let s = load(&[("SECRET_KEY", &"s3cr3t-".repeat(6))]).expect("loads");
        assert!(!format!("{s:?}").contains("s3cr3t"));
    }
}

/// Which embedder turns text into vectors (`EMBEDDING_PROVIDER`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmbeddingProvider {
    /// Built in, no network (default).
    Offline,
    /// An OpenAI-compatible `/v1/embeddings` server.
    OpenAi,
    /// A sentence-transformers model from `EMBEDDING_MODEL_PATH`.
    Local,
}

/// Settings of the knowledge base: the embedder and search.
#[derive(Debug, Clone)]
pub struct KnowledgeSettings {
    pub provider: EmbeddingProvider,
    /// `EMBEDDING_BASE_URL` (OpenAI-compatible), default `https://api.openai.com/v1`.
    pub base_url: String,
    /// `EMBEDDING_MODEL`, default `text-embedding-3-small`.
    pub model: String,
    /// `EMBEDDING_DIMENSIONS`: the vector length (offline default 384,
    /// OpenAI default 1536). When set for OpenAI it is also sent as
    /// `dimensions`.
    pub dimensions: usize,
    pub dimensions_given: bool,
    pub api_key: Option<Secret>,
    /// `EMBEDDING_TIMEOUT_MS`, per request attempt.
    pub timeout: Duration,
    /// `EMBEDDING_MAX_RETRIES` on 429/5xx.
    pub max_retries: u32,
    /// `EMBEDDING_BATCH_SIZE`: texts per request.
    pub batch_size: usize,
    /// `EMBEDDING_MODEL_PATH`: the local model's directory.
    pub model_path: Option<PathBuf>,
    /// `KNOWLEDGE_INLINE_MAX_CHARS`: larger documents embed in a job.
    pub inline_max_chars: usize,
    /// `SEARCH_CATALOG_MIN_SIMILARITY`: `GET /mcps?q=` also lists tools
    /// with no shared word whose cosine similarity reaches this (0 to 1).
    pub catalog_min_similarity: f32,
    /// `VECTOR_INDEX=qdrant` with `QDRANT_URL` (gRPC, e.g.
    /// `http://127.0.0.1:6334`): Qdrant; unset or `embedded`: the embedded index.
    pub qdrant_url: Option<String>,
    pub qdrant_api_key: Option<Secret>,
}

impl KnowledgeSettings {
    fn load(source: &Source) -> Result<Self, ConfigError> {
        let provider = source.parsed(
            &["EMBEDDING_PROVIDER"],
            EmbeddingProvider::Offline,
            "one of offline, openai, local",
            |s| match s.to_ascii_lowercase().as_str() {
                "offline" => Some(EmbeddingProvider::Offline),
                "openai" => Some(EmbeddingProvider::OpenAi),
                "local" => Some(EmbeddingProvider::Local),
                _ => None,
            },
        )?;
        let default_dimensions = match provider {
            EmbeddingProvider::OpenAi => 1536,
            _ => 384,
        };
        let model_path = source
            .first(&["EMBEDDING_MODEL_PATH"])
            .map(|(_, v)| PathBuf::from(v));
        if provider == EmbeddingProvider::Local && model_path.is_none() {
            return Err(bad(
                "EMBEDDING_MODEL_PATH",
                "the model directory (config.json, tokenizer.json, model.safetensors) when EMBEDDING_PROVIDER=local",
            ));
        }
        let base_url = source
            .first(&["EMBEDDING_BASE_URL"])
            .map_or("https://api.openai.com/v1", |(_, v)| v)
            .to_owned();
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(bad(
                "EMBEDDING_BASE_URL",
                format!("an http(s) URL, got {base_url:?}"),
            ));
        }
        let qdrant_url = match source
            .first(&["VECTOR_INDEX"])
            .map(|(_, v)| v.to_ascii_lowercase())
        {
            None => None,
            Some(kind) if kind == "embedded" => None,
            Some(kind) if kind == "qdrant" => match source.first(&["QDRANT_URL"]) {
                Some((_, url)) if url.starts_with("http://") || url.starts_with("https://") => {
                    Some(url.to_owned())
                }
                _ => {
                    return Err(bad(
                        "QDRANT_URL",
                        "the Qdrant gRPC URL (http://host:6334) when VECTOR_INDEX=qdrant",
                    ))
                }
            },
            Some(other) => {
                return Err(bad(
                    "VECTOR_INDEX",
                    format!("embedded or qdrant, got {other:?}"),
                ))
            }
        };
        Ok(Self {
            qdrant_url,
            qdrant_api_key: source
                .first(&["QDRANT_API_KEY"])
                .map(|(_, v)| Secret::new(v)),
            provider,
            base_url,
            model: source
                .first(&["EMBEDDING_MODEL"])
                .map_or("text-embedding-3-small", |(_, v)| v)
                .to_owned(),
            dimensions: source.within(&["EMBEDDING_DIMENSIONS"], default_dimensions, 1, 65_536)?,
            dimensions_given: source.first(&["EMBEDDING_DIMENSIONS"]).is_some(),
            api_key: source
                .first(&["EMBEDDING_API_KEY", "OPENAI_API_KEY"])
                .map(|(_, v)| Secret::new(v)),
            timeout: Duration::from_millis(source.within(
                &["EMBEDDING_TIMEOUT_MS"],
                30_000,
                1,
                600_000,
            )?),
            max_retries: source.within(&["EMBEDDING_MAX_RETRIES"], 4, 0, 20)?,
            batch_size: source.within(&["EMBEDDING_BATCH_SIZE"], 64, 1, 2048)?,
            model_path,
            inline_max_chars: source.within(
                &["KNOWLEDGE_INLINE_MAX_CHARS"],
                20_000,
                1,
                100_000_000,
            )?,
            catalog_min_similarity: source.parsed(
                &["SEARCH_CATALOG_MIN_SIMILARITY"],
                0.5,
                "a number from 0 to 1",
                |s| s.parse::<f32>().ok().filter(|v| (0.0..=1.0).contains(v)),
            )?,
        })
    }
}
