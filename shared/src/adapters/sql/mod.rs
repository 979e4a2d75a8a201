//! The relational store: users, API keys, refresh tokens, tools and their
//! history — one implementation over SQLite (embedded default) and MySQL 8 /
//! MariaDB 10.11, through sqlx's `Any` driver.
//!
//! The SQL is written to the subset both dialects share: CHAR(36) ids,
//! fixed-width UTC timestamp strings that sort chronologically, `?` binds,
//! no `RETURNING`, `!` as the LIKE escape (a backslash means different things
//! in MySQL and SQLite string literals). Where they differ, [`Dialect`] says so.

mod deployments;
mod job_keys;
mod knowledge;
mod queue;
mod sessions;
mod tasks;
mod tools;
mod users;

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::any::AnyPoolOptions;
use sqlx::any::AnyRow;
use sqlx::migrate::Migrator;
use sqlx::{Any, AnyPool, Executor, QueryBuilder};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::ports::{Page, PageRequest};

pub use job_keys::{JobKeys, Publication, ORPHAN_AFTER};
pub use queue::{JobRecord, JobStatus, SqlJobQueue};

/// Reversible migrations, embedded in the binary, one set per dialect.
pub static SQLITE_MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");
#[cfg(feature = "mysql")]
pub static MYSQL_MIGRATOR: Migrator = sqlx::migrate!("./migrations/mysql");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    MySql,
}

impl Dialect {
    pub fn of_url(url: &str) -> Option<Self> {
        if url.starts_with("sqlite:") {
            Some(Self::Sqlite)
        } else if url.starts_with("mysql:") || url.starts_with("mariadb:") {
            Some(Self::MySql)
        } else {
            None
        }
    }
}

#[derive(Clone)]
pub struct SqlStore {
    pool: AnyPool,
    dialect: Dialect,
    /// The database file, for SQLite on disk.
    file: Option<std::path::PathBuf>,
}

/// How long a request waits for a connection before it is a 503: a database
/// that went away fails requests fast instead of hanging them.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

impl SqlStore {
    /// Connects to `url`: `sqlite://path/file.db` (created if missing),
    /// `sqlite::memory:`, or `mysql://user:pass@host:port/db`.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        sqlx::any::install_default_drivers();
        let dialect = Dialect::of_url(url).ok_or_else(|| {
            anyhow::anyhow!("unsupported database URL scheme (expected sqlite:// or mysql://)")
        })?;
        let options = AnyPoolOptions::new().acquire_timeout(ACQUIRE_TIMEOUT);
        let file = match dialect {
            Dialect::Sqlite => sqlite_file(url),
            Dialect::MySql => None,
        };
        let pool = match dialect {
            Dialect::Sqlite => {
                if let Some(path) = &file {
                    private_database_files(path)?;
                }
                let url = sqlite_url_creating(url);
                options
                    .max_connections(8)
                    .min_connections(1)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            // WAL lets readers run beside the one writer; a busy
                            // timeout turns write contention into waiting, not errors.
                            conn.execute(
                                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                                 PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;",
                            )
                            .await?;
                            Ok(())
                        })
                    })
                    .connect(&url)
                    .await?
            }
            Dialect::MySql => {
                options
                    .max_connections(16)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            conn.execute("SET time_zone = '+00:00'").await?;
                            Ok(())
                        })
                    })
                    .connect(url)
                    .await?
            }
        };
        Ok(Self {
            pool,
            dialect,
            file,
        })
    }

    /// Runs `migrate` holding the database's migration lock, so processes
    /// that start together (api replicas, worker, scheduler, a migrate job)
    /// apply each migration once and never see one half-applied: a MySQL
    /// advisory lock (`GET_LOCK`, held by one connection for the duration),
    /// an exclusive `flock` on `{database}-migrate.lock` for SQLite (one host
    /// by nature). Waits up to [`MIGRATION_LOCK_WAIT`] for another holder.
    pub async fn with_migration_lock<T, F>(&self, migrate: F) -> anyhow::Result<T>
    where
        F: std::future::Future<Output = anyhow::Result<T>>,
    {
        match (self.dialect, &self.file) {
            (Dialect::MySql, _) => {
                let mut conn = self.pool.acquire().await?;
                let wait = MIGRATION_LOCK_WAIT.as_secs().to_string();
                let row = sqlx::query(&format!("SELECT GET_LOCK('{MIGRATION_LOCK}', {wait})"))
                    .fetch_one(&mut *conn)
                    .await?;
                let got: Option<i64> = sqlx::Row::try_get(&row, 0)?;
                anyhow::ensure!(
                    got == Some(1),
                    "another process held the migration lock for {wait} s; is a migration stuck?"
                );
                let result = migrate.await;
                sqlx::query(&format!("SELECT RELEASE_LOCK('{MIGRATION_LOCK}')"))
                    .execute(&mut *conn)
                    .await?;
                result
            }
            (Dialect::Sqlite, Some(file)) => {
                let lock = lock_file(file).await?;
                let result = migrate.await;
                drop(lock);
                result
            }
            // In memory: nobody else can see the database.
            (Dialect::Sqlite, None) => migrate.await,
        }
    }

    pub async fn connect_sqlite_file(path: &Path) -> anyhow::Result<Self> {
        Self::connect(&format!("sqlite://{}", path.display())).await
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The migrations of this store's dialect.
    pub fn migrator(&self) -> &'static Migrator {
        match self.dialect {
            Dialect::Sqlite => &SQLITE_MIGRATOR,
            #[cfg(feature = "mysql")]
            Dialect::MySql => &MYSQL_MIGRATOR,
            #[cfg(not(feature = "mysql"))]
            Dialect::MySql => &SQLITE_MIGRATOR,
        }
    }
}

/// The MySQL advisory lock migrations run under.
const MIGRATION_LOCK: &str = "mcp_platform_migrations";
/// How long a process waits for another one's migrations.
const MIGRATION_LOCK_WAIT: Duration = Duration::from_secs(120);

/// Takes an exclusive `flock` on the database's lock file (created 0600),
/// waiting on the blocking pool at most [`MIGRATION_LOCK_WAIT`]; the lock
/// goes with the returned file (and with the process, should it die).
async fn lock_file(database: &Path) -> anyhow::Result<std::fs::File> {
    let path = std::path::PathBuf::from(format!("{}-migrate.lock", database.display()));
    let deadline = std::time::Instant::now() + MIGRATION_LOCK_WAIT;
    let mut options = std::fs::OpenOptions::new();
    options.create(true).truncate(false).write(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options
        .open(&path)
        .map_err(|e| anyhow::anyhow!("opening the migration lock {}: {e}", path.display()))?;
    loop {
        match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => return Ok(file),
            Err(rustix::io::Errno::WOULDBLOCK) if std::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => {
                anyhow::bail!("taking the migration lock {}: {e}", path.display())
            }
        }
    }
}

/// The file of a `sqlite://` URL (`None` for an in-memory database).
fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && !path.contains(":memory:")).then(|| std::path::PathBuf::from(path))
}

/// Creates the database file 0600 before SQLite does (SQLite gives its
/// `-wal` and `-shm` files the database file's mode), and tightens an
/// existing one and its companions to 0600.
fn private_database_files(path: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let context = || format!("creating the database file {}", path.display());
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(anyhow::Error::new(e).context(context())),
        }
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let file = std::path::PathBuf::from(format!("{}{suffix}", path.display()));
            if file.exists() {
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
                    .map_err(|e| anyhow::Error::new(e).context(context()))?;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// `sqlite://file` opens read-write but does not create; add `mode=rwc`.
fn sqlite_url_creating(url: &str) -> String {
    if url.contains(":memory:") || url.contains("mode=") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    }
}

#[async_trait::async_trait]
impl crate::ports::Ping for SqlStore {
    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

/// One page of `FROM {from}` newest first: `SELECT COUNT(*)` and
/// `SELECT {columns}` with the same `WHERE` that `filters` pushes, ordered by
/// `created_column DESC, id DESC` (the id keeps pages apart when times tie).
pub(crate) async fn fetch_page<'q, T>(
    pool: &AnyPool,
    from: &str,
    columns: &str,
    created_column: &str,
    filters: impl Fn(&mut QueryBuilder<'q, Any>),
    page: PageRequest,
    from_row: impl Fn(&AnyRow) -> Result<T>,
) -> Result<Page<T>> {
    let mut count = QueryBuilder::<Any>::new(format!("SELECT COUNT(*) FROM {from}"));
    filters(&mut count);
    let total: i64 = count.build_query_scalar().fetch_one(pool).await?;
    let mut select = QueryBuilder::<Any>::new(format!("SELECT {columns} FROM {from}"));
    filters(&mut select);
    select
        .push(format!(" ORDER BY {created_column} DESC, id DESC LIMIT "))
        .push_bind(i64::from(page.page_size))
        .push(" OFFSET ")
        .push_bind(i64::try_from(page.offset()).unwrap_or(i64::MAX));
    let rows = select.build().fetch_all(pool).await?;
    Ok(Page {
        items: rows.iter().map(from_row).collect::<Result<_>>()?,
        total: u64::try_from(total).unwrap_or(0),
    })
}

/// Fixed-width UTC timestamp (`2026-11-25T18:00:00.123456Z`): sorts as text.
pub(crate) fn ts(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub(crate) fn parse_ts(s: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| Error::internal(format!("stored timestamp {s:?}: {e}")))
}

pub(crate) fn parse_opt_ts(s: Option<String>) -> Result<Option<DateTime<Utc>>> {
    s.as_deref().map(parse_ts).transpose()
}

pub(crate) fn parse_uuid(s: &str) -> Result<Uuid> {
    Uuid::parse_str(s).map_err(|e| Error::internal(format!("stored uuid {s:?}: {e}")))
}

/// A text column as a `String`. MySQL sends TEXT columns as BLOB on the
/// wire, which the `Any` driver hands over as bytes; SQLite hands over text.
pub(crate) fn text(row: &sqlx::any::AnyRow, column: &str) -> Result<String> {
    use sqlx::Row;
    match row.try_get::<String, _>(column) {
        Ok(s) => Ok(s),
        Err(sqlx::Error::ColumnDecode { .. }) => {
            let bytes: Vec<u8> = row.try_get(column)?;
            String::from_utf8(bytes)
                .map_err(|e| Error::internal(format!("column {column} is not UTF-8: {e}")))
        }
        Err(e) => Err(e.into()),
    }
}

pub(crate) fn opt_text(row: &sqlx::any::AnyRow, column: &str) -> Result<Option<String>> {
    use sqlx::Row;
    match row.try_get::<Option<String>, _>(column) {
        Ok(s) => Ok(s),
        Err(sqlx::Error::ColumnDecode { .. }) => {
            let bytes: Option<Vec<u8>> = row.try_get(column)?;
            bytes
                .map(|b| {
                    String::from_utf8(b)
                        .map_err(|e| Error::internal(format!("column {column}: {e}")))
                })
                .transpose()
        }
        Err(e) => Err(e.into()),
    }
}

/// The constraint a unique violation hit, when it was one.
pub(crate) fn unique_violation(err: &sqlx::Error) -> Option<String> {
    match err {
        sqlx::Error::Database(db) if db.is_unique_violation() => Some(db.message().to_owned()),
        _ => None,
    }
}
