//! `mcp-platform migrate up|down|status` over the embedded migrations.
//! Each migration runs in its own transaction, so on SQLite one that fails
//! leaves the schema as it was before it. MySQL commits DDL implicitly; its
//! migrations are written `IF NOT EXISTS` so a half-applied one completes
//! when it is run again.

use sqlx::migrate::Migrate;
use sqlx::migrate::Migrator;
use sqlx::AnyPool;

/// Applies every pending migration; returns the versions applied.
pub async fn up(migrator: &Migrator, pool: &AnyPool) -> anyhow::Result<Vec<i64>> {
    let before = applied(pool).await?;
    migrator.run(pool).await?;
    let after = applied(pool).await?;
    Ok(after.into_iter().filter(|v| !before.contains(v)).collect())
}

/// Reverts the newest `steps` applied migrations; returns the versions reverted.
pub async fn down(migrator: &Migrator, pool: &AnyPool, steps: usize) -> anyhow::Result<Vec<i64>> {
    let mut applied = applied(pool).await?;
    applied.sort_unstable();
    let keep = applied.len().saturating_sub(steps);
    let target = if keep == 0 { 0 } else { applied[keep - 1] };
    let reverted: Vec<i64> = applied[keep..].iter().rev().copied().collect();
    if !reverted.is_empty() {
        migrator.undo(pool, target).await?;
    }
    Ok(reverted)
}

/// Every known migration with whether it is applied.
pub async fn status(
    migrator: &Migrator,
    pool: &AnyPool,
) -> anyhow::Result<Vec<(i64, String, bool)>> {
    let applied = applied(pool).await?;
    Ok(migrator
        .iter()
        .filter(|m| m.migration_type.is_up_migration())
        .map(|m| {
            (
                m.version,
                m.description.to_string(),
                applied.contains(&m.version),
            )
        })
        .collect())
}

async fn applied(pool: &AnyPool) -> anyhow::Result<Vec<i64>> {
    let mut conn = pool.acquire().await?;
    conn.ensure_migrations_table().await?;
    let mut versions: Vec<i64> = conn
        .list_applied_migrations()
        .await?
        .into_iter()
        .map(|m| m.version)
        .collect();
    versions.sort_unstable();
    Ok(versions)
}
