//! Real servers for the suites: each test gets its own MySQL database, Redis
//! key prefix and MongoDB database, made fresh and removed afterwards, so
//! runs never see each other's data.
//!
//! - `MCP_TEST_MYSQL_URL`, `MCP_TEST_REDIS_URL`, `MCP_TEST_MONGODB_URL` name
//!   the servers; a contract suite runs against each one that is set.
//! - `MCP_TEST_BACKENDS=services` makes every black-box app use all of the
//!   set ones instead of the embedded defaults (`.ci/run`'s second pass).

use std::sync::Arc;
use std::time::Duration;

use mcp_platform::adapters::mongo::MongoStore;
use mcp_platform::adapters::redis::RedisConn;
use mcp_platform::adapters::sql::SqlStore;
use sqlx::Executor;

pub fn mysql_url() -> Option<String> {
    std::env::var("MCP_TEST_MYSQL_URL")
        .ok()
        .filter(|v| !v.is_empty())
}

pub fn redis_url() -> Option<String> {
    std::env::var("MCP_TEST_REDIS_URL")
        .ok()
        .filter(|v| !v.is_empty())
}

pub fn mongodb_url() -> Option<String> {
    std::env::var("MCP_TEST_MONGODB_URL")
        .ok()
        .filter(|v| !v.is_empty())
}

/// Whether black-box apps should run on the real servers.
pub fn services_mode() -> bool {
    std::env::var("MCP_TEST_BACKENDS").is_ok_and(|v| v == "services")
}

pub fn unique_name() -> String {
    format!("mcp_t_{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

/// `mysql://user@host:port/db` → `mysql://user@host:port/{name}`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let server = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{server}/{name}?{q}"),
        None => format!("{server}/{name}"),
    }
}

fn unreachable_hint(service: &str, url: &str, start: &str, e: impl std::fmt::Display) -> String {
    format!("{service} at {url} is not reachable ({e}); start it with: {start}")
}

/// A fresh, empty MySQL database; dropped with the guard.
pub struct MysqlDatabase {
    pub url: String,
    server_url: String,
    name: String,
}

impl MysqlDatabase {
    pub async fn create(server_url: &str) -> Self {
        let name = unique_name();
        let admin = SqlStore::connect(server_url).await.unwrap_or_else(|e| {
            panic!(
                "{}",
                unreachable_hint(
                    "MariaDB/MySQL",
                    server_url,
                    "start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd",
                    e
                )
            )
        });
        admin
            .pool()
            .execute(format!("CREATE DATABASE {name} CHARACTER SET utf8mb4").as_str())
            .await
            .expect("create test database");
        admin.pool().close().await;
        Self {
            url: with_database(server_url, &name),
            server_url: server_url.to_owned(),
            name,
        }
    }
}

impl Drop for MysqlDatabase {
    fn drop(&mut self) {
        let (url, name) = (self.server_url.clone(), self.name.clone());
        run_cleanup(async move {
            if let Ok(admin) = SqlStore::connect(&url).await {
                let _ = admin
                    .pool()
                    .execute(format!("DROP DATABASE IF EXISTS {name}").as_str())
                    .await;
                admin.pool().close().await;
            }
        });
    }
}

/// A Redis connection under a fresh key prefix; its keys are deleted with the guard.
pub struct RedisPrefix {
    pub url: String,
    pub prefix: String,
}

impl RedisPrefix {
    pub async fn create(url: &str) -> Self {
        let prefix = format!("{}:", unique_name());
        let conn = RedisConn::new(url, &prefix, Duration::from_secs(2)).expect("redis url parses");
        if let Err(e) = mcp_platform::ports::Ping::ping(&conn).await {
            panic!(
                "{}",
                unreachable_hint(
                    "Redis",
                    url,
                    "redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save \"\" --appendonly no",
                    e
                )
            );
        }
        Self {
            url: url.to_owned(),
            prefix,
        }
    }

    pub fn conn(&self) -> Arc<RedisConn> {
        Arc::new(
            RedisConn::new(&self.url, &self.prefix, Duration::from_secs(2))
                .expect("redis url parses"),
        )
    }
}

impl Drop for RedisPrefix {
    fn drop(&mut self) {
        let (url, prefix) = (self.url.clone(), self.prefix.clone());
        run_cleanup(async move {
            let Ok(client) = redis::Client::open(url.as_str()) else {
                return;
            };
            let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
                return;
            };
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg(format!("{prefix}*"))
                .query_async(&mut conn)
                .await
                .unwrap_or_default();
            if !keys.is_empty() {
                let _: Result<(), _> = redis::cmd("DEL").arg(keys).query_async(&mut conn).await;
            }
        });
    }
}

/// A fresh MongoDB database; dropped with the guard.
pub struct MongoDatabase {
    pub url: String,
    pub name: String,
}

impl MongoDatabase {
    pub async fn create(url: &str) -> Self {
        let name = unique_name();
        let store = MongoStore::connect(url, Some(&name), Duration::from_secs(3))
            .await
            .expect("mongodb url parses");
        if let Err(e) = mcp_platform::ports::Ping::ping(&store).await {
            panic!(
                "{}",
                unreachable_hint(
                    "MongoDB",
                    url,
                    "secantusd-py --host 127.0.0.1 --port 27017 --storage-path :memory: &",
                    e
                )
            );
        }
        Self {
            url: url.to_owned(),
            name,
        }
    }

    pub async fn store(&self) -> MongoStore {
        let store = MongoStore::connect(&self.url, Some(&self.name), Duration::from_secs(3))
            .await
            .expect("mongodb connects");
        store.ensure_indexes().await.expect("mongodb indexes");
        store
    }
}

impl Drop for MongoDatabase {
    fn drop(&mut self) {
        let (url, name) = (self.url.clone(), self.name.clone());
        run_cleanup(async move {
            if let Ok(store) = MongoStore::connect(&url, Some(&name), Duration::from_secs(3)).await
            {
                let _ = store.database().drop().await;
            }
        });
    }
}

/// Runs async cleanup from `Drop`, on its own thread and runtime (the test's
/// runtime may be shutting down).
pub fn run_cleanup(cleanup: impl std::future::Future<Output = ()> + Send + 'static) {
    let handle = std::thread::spawn(move || {
        if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            rt.block_on(async {
                let _ = tokio::time::timeout(Duration::from_secs(10), cleanup).await;
            });
        }
    });
    let _ = handle.join();
}

/// The real servers one black-box app uses in services mode, and the
/// settings that point it at them.
#[derive(Default)]
pub struct ServiceBackends {
    pub vars: Vec<(String, String)>,
    _mysql: Option<MysqlDatabase>,
    _redis: Option<RedisPrefix>,
    _mongo: Option<MongoDatabase>,
}

impl ServiceBackends {
    /// Empty unless `MCP_TEST_BACKENDS=services`.
    pub async fn for_app() -> Self {
        let mut backends = Self::default();
        if !services_mode() {
            return backends;
        }
        if let Some(url) = mysql_url() {
            let db = MysqlDatabase::create(&url).await;
            backends.vars.push(("DATABASE_URL".into(), db.url.clone()));
            backends._mysql = Some(db);
        }
        if let Some(url) = redis_url() {
            let prefix = RedisPrefix::create(&url).await;
            backends.vars.push(("REDIS_URL".into(), url));
            backends
                .vars
                .push(("REDIS_KEY_PREFIX".into(), prefix.prefix.clone()));
            backends._redis = Some(prefix);
        }
        if let Some(url) = mongodb_url() {
            let db = MongoDatabase::create(&url).await;
            backends.vars.push(("MONGODB_URL".into(), url));
            backends
                .vars
                .push(("MONGODB_DATABASE".into(), db.name.clone()));
            backends._mongo = Some(db);
        }
        backends
    }
}

/// The names `/health` reports for an app of the harness: the embedded
/// backends, or the real servers in services mode.
pub fn expected_health_checks() -> Vec<&'static str> {
    let services = services_mode();
    let mut names = vec![
        if services && mysql_url().is_some() {
            "mysql"
        } else {
            "sqlite"
        },
        if services && redis_url().is_some() {
            "redis"
        } else {
            "cache"
        },
        "queue",
    ];
    if services && mongodb_url().is_some() {
        names.push("mongodb");
    }
    names.sort_unstable();
    names
}

/// A text column of a row read through sqlx's `Any` driver (MySQL hands
/// some text over as bytes).
pub fn text_column(row: &sqlx::any::AnyRow, column: &str) -> String {
    use sqlx::Row;
    row.try_get::<String, _>(column)
        .or_else(|_| {
            row.try_get::<Vec<u8>, _>(column)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
        })
        .unwrap_or_else(|e| panic!("column {column}: {e}"))
}

/// What two platform instances need to act as replicas of one platform:
/// one SQLite file, one Redis key prefix (the event bus between them), one
/// JWT secret, and in services mode one MongoDB database (the harness
/// would give each instance its own).
pub struct Replicas {
    pub vars: Vec<(String, String)>,
    _dir: crate::tempdir::TempDir,
    _redis: RedisPrefix,
    _mongo: Option<MongoDatabase>,
}

impl Replicas {
    /// `None` without `MCP_TEST_REDIS_URL`: replicas need a shared bus.
    pub async fn prepare() -> Option<Self> {
        let redis_url = redis_url()?;
        let redis = RedisPrefix::create(&redis_url).await;
        let dir = crate::tempdir::TempDir::new();
        let mut vars = vec![
            ("RATE_LIMIT_ENABLED".into(), "false".into()),
            (
                "DATABASE_URL".into(),
                format!("sqlite://{}", dir.0.join("shared.db").display()),
            ),
            ("REDIS_URL".into(), redis_url),
            ("REDIS_KEY_PREFIX".into(), redis.prefix.clone()),
            (
                "JWT_SECRET".into(),
                "a-shared-secret-for-both-instances-0123456789".into(),
            ),
        ];
        let mongo = match mongodb_url() {
            Some(url) if services_mode() => {
                let db = MongoDatabase::create(&url).await;
                vars.push(("MONGODB_URL".into(), db.url.clone()));
                vars.push(("MONGODB_DATABASE".into(), db.name.clone()));
                Some(db)
            }
            _ => None,
        };
        Some(Self {
            vars,
            _dir: dir,
            _redis: redis,
            _mongo: mongo,
        })
    }

    /// The variables as `spawn_app_with` takes them.
    pub fn vars(&self) -> Vec<(&str, &str)> {
        self.vars
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn database_names_replace_the_url_path() {
        assert_eq!(
            with_database("mysql://root@127.0.0.1:3306/test", "x"),
            "mysql://root@127.0.0.1:3306/x"
        );
        assert_eq!(with_database("mysql://root@h:1", "x"), "mysql://root@h:1/x");
        assert_eq!(
            with_database("mysql://u:p@h/db?ssl-mode=disabled", "x"),
            "mysql://u:p@h/x?ssl-mode=disabled"
        );
    }
}
