//! Builds the configured adapters once per process (or Lambda cold start)
//! and hands them to every handler as [`AppState`].

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;

use crate::adapters::embedded::{MemoryCache, MemoryEventBus, MemoryRateLimiter};
use crate::adapters::sql::{Dialect, SqlJobQueue, SqlStore};
use crate::auth::{hash_password, random_token, Authenticator, TokenKeys};
use crate::config::{AdminBootstrap, JwtSecretSource, QueueBackend, Secret, Settings};
use crate::domain::{Email, Password, Role, User, Username};
use crate::metrics::Metrics;
use crate::ports::{
    Cache, DeploymentStore, EventBus, HistoryOutbox, HistoryStore, JobQueue, Ping, RateLimiter,
    SessionStore, TaskStore, ToolRepo, UserRepo,
};

/// A backend `/health` probes, by the name it reports.
pub type HealthCheck = (&'static str, Arc<dyn Ping>);

/// What every handler and job gets: the process's adapters behind one `Arc`.
/// It is cloned for each extractor and middleware of every request, so that
/// clone is one reference count, not one per adapter (it was ~6 % of the
/// gateway's CPU time with the adapters held directly). Fields are reached
/// through `Deref`: `state.sql`.
#[derive(Clone)]
pub struct AppState(Arc<Services>);

impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}

impl From<Services> for AppState {
    fn from(services: Services) -> Self {
        Self(Arc::new(services))
    }
}

/// The adapters an [`AppState`] holds, built once by [`AppState::build`].
/// Tests change one (`AppState::services`, then `AppState::from`).
#[derive(Clone)]
pub struct Services {
    pub settings: Arc<Settings>,
    pub tools: Arc<dyn ToolRepo>,
    pub history: Arc<dyn HistoryStore>,
    /// Set when history lives outside the relational store: the SQL table
    /// whose rows are delivered to `history` (see `registry::deliver_history`).
    pub history_outbox: Option<Arc<dyn HistoryOutbox>>,
    pub users: Arc<dyn UserRepo>,
    pub sessions: Arc<dyn SessionStore>,
    pub cache: Arc<dyn Cache>,
    pub limiter: Arc<dyn RateLimiter>,
    pub auth: Arc<Authenticator>,
    pub metrics: Arc<Metrics>,
    pub health_checks: Arc<Vec<HealthCheck>>,
    /// The relational store itself, for what no port covers (maintenance jobs).
    pub sql: Arc<SqlStore>,
    /// The job queue: the SQL table queue of the configured database, or a
    /// broker (`JOB_QUEUE_URL`); `settings.jobs.queue.name()` says which.
    pub jobs: Arc<dyn JobQueue>,
    /// Real-time events (task updates, deployment status) for `/ws` and `/events`.
    pub events: Arc<dyn EventBus>,
    /// Documents, embeddings, the vector index and search (the tool catalog too).
    pub knowledge: Arc<crate::knowledge::Knowledge>,
    /// Deployments (desired state) and the gateway's usage rows.
    pub deployments: Arc<dyn DeploymentStore>,
    /// Deployed tools' runners on this replica, and `/mcp/{slug}` sessions.
    pub gateway: Arc<crate::gateway::Gateway>,
    /// Task records (`/tasks`): MongoDB when configured, else SQL.
    pub tasks: Arc<dyn TaskStore>,
    /// What `/analyze/*` jobs run: the offline analyser (a remote provider
    /// can take its place here).
    pub analyser: Arc<dyn crate::ports::LlmProvider>,
}

impl AppState {
    /// A copy of the adapters, to change one and wrap them again with
    /// `AppState::from`.
    pub fn services(&self) -> Services {
        Services::clone(&self.0)
    }

    /// Connects every backend, migrates the embedded database, loads the JWT
    /// secret and creates the configured bootstrap admin.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        crate::sandbox::log_at_start(&settings.sandbox);
        // Only the embedded pieces keep files; a Lambda with MySQL and a given
        // secret must not need a writable directory (only /tmp is writable there).
        let needs_data_dir = Dialect::of_url(settings.database_url.expose())
            == Some(Dialect::Sqlite)
            || matches!(settings.jwt_secret, JwtSecretSource::File(_));
        if needs_data_dir {
            create_data_dir(&settings.data_dir)?;
        }
        let store = SqlStore::connect(settings.database_url.expose())
            .await
            .context("opening the database")?;
        store
            .with_migration_lock(async {
                store
                    .migrator()
                    .run(store.pool())
                    .await
                    .context("applying database migrations")
            })
            .await?;

        let secret = match &settings.jwt_secret {
            JwtSecretSource::Given(secret) => secret.clone(),
            JwtSecretSource::File(path) => load_or_create_secret(path)?,
        };

        let sql = Arc::new(store);
        let sql_name = match sql.dialect() {
            Dialect::Sqlite => "sqlite",
            Dialect::MySql => "mysql",
        };
        let mut health_checks: Vec<HealthCheck> = vec![(sql_name, sql.clone())];
        let shared = shared_state_adapters(&settings, &sql, &mut health_checks)?;
        let users: Arc<dyn UserRepo> = sql.clone();
        let (history, history_outbox) = history_store(&settings, &sql, &mut health_checks).await?;
        let tasks = task_store(&settings, &sql).await?;
        let jobs = job_queue(&settings, &sql).await?;
        health_checks.push(("queue", jobs.clone()));
        let knowledge = knowledge(&settings, &sql, &mut health_checks).await?;

        let analyser = llm_provider(settings.llm.as_ref())
            .map_err(|e| anyhow::anyhow!("LLM_BASE_URL: {e}"))?;
        let state = Self::from(Services {
            auth: Arc::new(Authenticator {
                keys: TokenKeys::new(&secret, &settings),
                users: users.clone(),
            }),
            jobs,
            events: shared.events,
            tasks,
            analyser,
            knowledge,
            deployments: sql.clone(),
            gateway: Arc::new(crate::gateway::Gateway::new(
                secret.expose().as_bytes(),
                sql.clone(),
            )),
            sql: sql.clone(),
            tools: sql,
            history,
            history_outbox,
            sessions: shared.sessions,
            users,
            cache: shared.cache,
            limiter: shared.limiter,
            metrics: Arc::new(Metrics::default()),
            health_checks: Arc::new(health_checks),
            settings: Arc::new(settings),
        });
        if let Some(admin) = &state.settings.bootstrap_admin {
            ensure_admin(&state, admin).await?;
        }
        // Records a crash left in the outbox go out before the first request.
        if let Err(e) = crate::registry::deliver_history(&state).await {
            tracing::warn!(error = %e, "history outbox not delivered at start; retried on the next change");
        }
        start_knowledge(&state).await?;
        Ok(state)
    }
}

/// The configured database and its dialect's migrations, opened without
/// migrating: what `mcp-platform migrate` works on.
pub async fn migration_target(settings: &Settings) -> anyhow::Result<MigrationTarget> {
    let store = SqlStore::connect(settings.database_url.expose())
        .await
        .context("opening the database")?;
    Ok(MigrationTarget(store))
}

/// The database `migrate` works on: its migrations, its pool, its lock.
pub struct MigrationTarget(SqlStore);

impl MigrationTarget {
    pub fn migrator(&self) -> &'static sqlx::migrate::Migrator {
        self.0.migrator()
    }

    pub fn pool(&self) -> &sqlx::AnyPool {
        self.0.pool()
    }

    /// Runs `work` under the database's migration lock (see
    /// `SqlStore::with_migration_lock`).
    pub async fn locked<T>(
        &self,
        work: impl std::future::Future<Output = anyhow::Result<T>>,
    ) -> anyhow::Result<T> {
        self.0.with_migration_lock(work).await
    }
}

/// The provider `/analyze/*` jobs use: the chat API when one is configured
/// (grounded on the offline analyser, which it falls back to by itself),
/// else the offline analyser.
fn llm_provider(
    settings: Option<&crate::config::LlmSettings>,
) -> crate::error::Result<Arc<dyn crate::ports::LlmProvider>> {
    let offline = Arc::new(crate::analysis::OfflineAnalyser::new());
    match settings {
        Some(s) => Ok(Arc::new(
            crate::adapters::openai_chat::OpenAiChatProvider::new(s.clone(), offline)?,
        )),
        None => Ok(offline),
    }
}

/// The queue `JOB_QUEUE_URL` names; unset, the table queue of the database.
async fn job_queue(settings: &Settings, sql: &Arc<SqlStore>) -> anyhow::Result<Arc<dyn JobQueue>> {
    let jobs = &settings.jobs;
    match &jobs.queue {
        QueueBackend::Sql => Ok(Arc::new(SqlJobQueue::new(
            sql.as_ref().clone(),
            jobs.max_attempts,
        ))),
        #[cfg(feature = "rabbitmq")]
        QueueBackend::RabbitMq { url, queue } => {
            // Twice the concurrency: the next jobs are already here when a slot frees.
            let prefetch =
                u16::try_from(jobs.worker_concurrency.saturating_mul(2)).unwrap_or(u16::MAX);
            let queue = crate::adapters::rabbitmq::RabbitMqJobQueue::connect(
                url.expose(),
                queue,
                crate::adapters::sql::JobKeys::new(sql.as_ref().clone()),
                jobs.max_attempts,
                prefetch,
            )
            .await
            .context("JOB_QUEUE_URL")?;
            Ok(Arc::new(queue))
        }
        #[cfg(feature = "sqs")]
        QueueBackend::Sqs {
            queue,
            region,
            endpoint_url,
            wait,
            credentials,
        } => {
            use crate::adapters::sqs::{client, SqsClientOptions, SqsJobQueue};
            let client = client(&SqsClientOptions {
                region: region.clone(),
                endpoint_url: endpoint_url.clone(),
                credentials: credentials.clone(),
            })
            .await;
            let queue = SqsJobQueue::connect(
                client,
                queue,
                crate::adapters::sql::JobKeys::new(sql.as_ref().clone()),
                jobs.max_attempts,
                *wait,
            )
            .await
            .context("JOB_QUEUE_URL")?;
            Ok(Arc::new(queue))
        }
        #[allow(unreachable_patterns)]
        other => anyhow::bail!(
            "JOB_QUEUE_URL: the {} queue is not built into this binary",
            other.name()
        ),
    }
}

/// The configured embedder, the vector index (embedded, or Qdrant, which
/// `/health` then probes) and the relational document store.
async fn knowledge(
    settings: &Settings,
    sql: &Arc<SqlStore>,
    health_checks: &mut Vec<HealthCheck>,
) -> anyhow::Result<Arc<crate::knowledge::Knowledge>> {
    use crate::config::EmbeddingProvider;
    use crate::ports::{Embedder, VectorIndex};
    let k = &settings.knowledge;
    let embedder: Arc<dyn Embedder> = match k.provider {
        EmbeddingProvider::Offline => Arc::new(crate::adapters::embedded::OfflineEmbedder::new(
            k.dimensions,
        )),
        EmbeddingProvider::OpenAi => Arc::new(
            crate::adapters::openai_embeddings::OpenAiEmbedder::new(
                crate::adapters::openai_embeddings::OpenAiEmbeddingsConfig {
                    base_url: k.base_url.clone(),
                    model: k.model.clone(),
                    dimension: k.dimensions,
                    send_dimensions: k.dimensions_given,
                    api_key: k.api_key.clone(),
                    timeout: k.timeout,
                    max_retries: k.max_retries,
                    batch_size: k.batch_size,
                    backoff_base: std::time::Duration::from_millis(500),
                },
            )
            .context("EMBEDDING_PROVIDER=openai")?,
        ),
        #[cfg(feature = "local-embedder")]
        EmbeddingProvider::Local => {
            let dir = k.model_path.clone().unwrap_or_default();
            Arc::new(
                crate::adapters::local_embedder::LocalEmbedder::open(dir)
                    .await
                    .map_err(|e| anyhow::anyhow!("EMBEDDING_MODEL_PATH: {e}"))?,
            )
        }
        #[cfg(not(feature = "local-embedder"))]
        EmbeddingProvider::Local => anyhow::bail!(
            "configuration error: EMBEDDING_PROVIDER: local needs a build with the `local-embedder` cargo feature"
        ),
    };
    let vectors: Arc<dyn VectorIndex> = match &k.qdrant_url {
        #[cfg(feature = "qdrant")]
        Some(url) => {
            let qdrant = Arc::new(
                crate::adapters::qdrant::QdrantIndex::connect(
                    url,
                    k.qdrant_api_key.as_ref().map(|s| s.expose().to_owned()),
                )
                .map_err(|e| anyhow::anyhow!("QDRANT_URL: {e}"))?,
            );
            health_checks.push(("qdrant", qdrant.clone()));
            qdrant
        }
        #[cfg(not(feature = "qdrant"))]
        Some(_) => {
            let _ = health_checks;
            anyhow::bail!(
                "configuration error: VECTOR_INDEX: qdrant needs a build with the `qdrant` cargo feature"
            )
        }
        None => Arc::new(
            crate::adapters::embedded::FlatIndex::open(sql.as_ref().clone())
                .await
                .context("loading the vector index")?,
        ),
    };
    let documents = document_store(settings, sql).await?;
    Ok(Arc::new(crate::knowledge::Knowledge::new(
        embedder,
        vectors,
        documents,
        k.inline_max_chars,
    )))
}

/// A client of `MONGODB_URL`'s database. History, knowledge documents and
/// task results each hold one; they could share one pool (noted for later).
#[cfg(feature = "mongodb")]
async fn connect_mongo(
    settings: &Settings,
    url: &Secret,
) -> anyhow::Result<crate::adapters::mongo::MongoStore> {
    crate::adapters::mongo::MongoStore::connect(
        url.expose(),
        settings.mongodb_database.as_deref(),
        settings.mongodb_timeout,
    )
    .await
    .context("MONGODB_URL")
}

/// MongoDB's `knowledge_base` when `MONGODB_URL` is set, otherwise the
/// relational store.
async fn document_store(
    settings: &Settings,
    sql: &Arc<SqlStore>,
) -> anyhow::Result<Arc<dyn crate::ports::DocumentStore>> {
    #[cfg(feature = "mongodb")]
    if let Some(url) = &settings.mongodb_url {
        let mongo = connect_mongo(settings, url).await?;
        mongo
            .ensure_knowledge_indexes()
            .await
            .context("creating MongoDB knowledge indexes")?;
        return Ok(Arc::new(mongo));
    }
    let _ = settings;
    Ok(sql.clone())
}

/// Loads the lexical index and queues a reindex when stored vectors were
/// made by another model (or some documents are still pending).
async fn start_knowledge(state: &AppState) -> anyhow::Result<()> {
    let stale = state
        .knowledge
        .start()
        .await
        .context("starting the knowledge base")?;
    if stale {
        let key = format!(
            "reindex_knowledge:{}:{}",
            state.knowledge.model_key(),
            crate::domain::now().format("%Y%m%d%H%M")
        );
        let job = crate::jobs::NewJob::of(&crate::jobs::ReindexKnowledge::default())?
            .idempotency_key(key);
        if let Err(e) = state.jobs.enqueue(job).await {
            tracing::warn!(error = %e, "reindex not queued; the periodic sweep does it");
        }
    }
    Ok(())
}

/// MongoDB when `MONGODB_URL` is set (the SQL history table becomes its
/// outbox), otherwise the relational store itself.
async fn history_store(
    settings: &Settings,
    sql: &Arc<SqlStore>,
    health_checks: &mut Vec<HealthCheck>,
) -> anyhow::Result<(Arc<dyn HistoryStore>, Option<Arc<dyn HistoryOutbox>>)> {
    #[cfg(feature = "mongodb")]
    if let Some(url) = &settings.mongodb_url {
        let mongo = connect_mongo(settings, url).await?;
        mongo
            .ensure_indexes()
            .await
            .context("creating MongoDB indexes")?;
        let mongo = Arc::new(mongo);
        health_checks.push(("mongodb", mongo.clone()));
        return Ok((mongo, Some(sql.clone())));
    }
    let _ = (settings, health_checks);
    Ok((sql.clone(), None))
}

/// MongoDB `task_results` (TTL index) when `MONGODB_URL` is set, otherwise
/// the relational store.
async fn task_store(
    settings: &Settings,
    sql: &Arc<SqlStore>,
) -> anyhow::Result<Arc<dyn TaskStore>> {
    #[cfg(feature = "mongodb")]
    if let Some(url) = &settings.mongodb_url {
        // Its own client: `history_store` has connected and indexed the
        // database already (health is reported there).
        let mongo = connect_mongo(settings, url).await?;
        return Ok(Arc::new(crate::adapters::mongo_tasks::MongoTaskStore::new(
            &mongo,
        )));
    }
    let _ = settings;
    Ok(sql.clone())
}

/// The ports whose state replicas must share: Redis when `REDIS_URL` is
/// set, otherwise in-process (cache, limits) and SQL (refresh tokens).
struct SharedStateAdapters {
    cache: Arc<dyn Cache>,
    sessions: Arc<dyn SessionStore>,
    limiter: Arc<dyn RateLimiter>,
    events: Arc<dyn EventBus>,
}

fn shared_state_adapters(
    settings: &Settings,
    sql: &Arc<SqlStore>,
    health_checks: &mut Vec<HealthCheck>,
) -> anyhow::Result<SharedStateAdapters> {
    #[cfg(feature = "redis")]
    if let Some(url) = &settings.redis_url {
        use crate::adapters::redis::{RedisCache, RedisConn, RedisRateLimiter, RedisSessionStore};
        let redis = Arc::new(
            RedisConn::new(
                url.expose(),
                &settings.redis_key_prefix,
                settings.redis_timeout,
            )
            .context("REDIS_URL")?,
        );
        health_checks.push(("redis", redis.clone()));
        return Ok(SharedStateAdapters {
            cache: Arc::new(RedisCache::new(redis.clone())),
            sessions: Arc::new(RedisSessionStore::new(
                redis.clone(),
                settings.refresh_token_ttl,
            )),
            events: Arc::new(crate::adapters::redis_event_bus::RedisEventBus::start(
                redis.clone(),
            )),
            limiter: Arc::new(RedisRateLimiter::new(redis)),
        });
    }
    let cache: Arc<dyn Cache> = Arc::new(MemoryCache::new(settings.cache_max_bytes));
    health_checks.push(("cache", cache.clone()));
    Ok(SharedStateAdapters {
        cache,
        sessions: sql.clone(),
        limiter: Arc::new(MemoryRateLimiter::default()),
        events: Arc::new(MemoryEventBus::default()),
    })
}

/// Creates the data directory (and missing parents) 0700, and makes an
/// existing one 0700: it holds the database and the signing secret, which
/// no other local user has any business reading.
pub fn create_data_dir(dir: &Path) -> anyhow::Result<()> {
    let context = || format!("creating data directory {}", dir.display());
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        builder.mode(0o700);
        builder.create(dir).with_context(context)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .with_context(context)?;
    }
    #[cfg(not(unix))]
    builder.create(dir).with_context(context)?;
    Ok(())
}

/// The embedded default keeps a generated secret so tokens survive restarts.
fn load_or_create_secret(path: &Path) -> anyhow::Result<Secret> {
    if let Ok(existing) = std::fs::read_to_string(path) {
        let existing = existing.trim();
        anyhow::ensure!(
            existing.len() >= 32,
            "the JWT secret in {} is shorter than 32 bytes; delete it to generate a new one",
            path.display()
        );
        return Ok(Secret::new(existing));
    }
    let secret = random_token();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("creating the JWT secret file {}", path.display()))?;
    std::io::Write::write_all(&mut file, secret.as_bytes())?;
    Ok(Secret::new(secret))
}

/// Creates the bootstrap admin from configuration when that user does not exist yet.
async fn ensure_admin(state: &AppState, admin: &AdminBootstrap) -> anyhow::Result<()> {
    if state
        .users
        .find_by_username(&admin.username)
        .await?
        .is_some()
    {
        return Ok(());
    }
    create_user(
        state.users.as_ref(),
        &admin.username,
        &admin.email,
        admin.password.expose(),
        Role::Admin,
    )
    .await
    .map_err(|e| anyhow::anyhow!("ADMIN_USERNAME/ADMIN_PASSWORD: {e}"))?;
    Ok(())
}

/// Validates and stores a new user; shared by registration, the admin API,
/// the CLI and the bootstrap admin.
pub async fn create_user(
    users: &dyn UserRepo,
    username: &str,
    email: &str,
    password: &str,
    role: Role,
) -> crate::error::Result<User> {
    use crate::error::{Error, FieldError};
    let mut errors = Vec::new();
    let username = Username::parse(username)
        .map_err(|m| errors.push(FieldError::new(&["body", "username"], "value_error", m)))
        .ok();
    let email = Email::parse(email)
        .map_err(|m| errors.push(FieldError::new(&["body", "email"], "value_error", m)))
        .ok();
    let password = Password::parse(password)
        .map_err(|m| errors.push(FieldError::new(&["body", "password"], "value_error", m)))
        .ok();
    let (Some(username), Some(email), Some(password)) = (username, email, password) else {
        return Err(Error::Validation(errors));
    };
    let now = crate::domain::now();
    let user = User {
        id: uuid::Uuid::new_v4(),
        username: username.to_string(),
        email: email.to_string(),
        password_hash: hash_password(password.expose()).await?,
        role,
        is_active: true,
        created_at: now,
        updated_at: now,
    };
    users.create(&user).await?;
    Ok(user)
}
