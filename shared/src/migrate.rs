//! `mcp-platform migrate up|down|status` over the embedded migrations.
//! Each migration runs in its own transaction, so one that fails leaves the
//! schema as it was before it.

use sqlx::migrate::Migrator;
use sqlx::{Row, SqlitePool};

/// Applies every pending migration; returns the versions applied.
pub async fn up(migrator: &Migrator, pool: &SqlitePool) -> anyhow::Result<Vec<i64>> {
    let before = applied(pool).await?;
    migrator.run(pool).await?;
    let after = applied(pool).await?;
    Ok(after.into_iter().filter(|v| !before.contains(v)).collect())
}

/// Reverts the newest `steps` applied migrations; returns the versions reverted.
pub async fn down(
    migrator: &Migrator,
    pool: &SqlitePool,
    steps: usize,
) -> anyhow::Result<Vec<i64>> {
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
    pool: &SqlitePool,
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

async fn applied(pool: &SqlitePool) -> anyhow::Result<Vec<i64>> {
    let exists: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
    )
    .fetch_one(pool)
    .await?;
    if exists == 0 {
        return Ok(Vec::new());
    }
    let rows =
        sqlx::query("SELECT version FROM _sqlx_migrations WHERE success = 1 ORDER BY version")
            .fetch_all(pool)
            .await?;
    Ok(rows.iter().map(|r| r.get::<i64, _>(0)).collect())
}
