//! Deployments (the gateway's desired state) and the gateway's usage rows.

use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::{Any, QueryBuilder, Row};
use uuid::Uuid;

use super::{
    fetch_page, opt_text, parse_opt_ts, parse_ts, parse_uuid, text, ts, unique_violation, SqlStore,
};
use crate::domain::{Deployment, DeploymentStatus, HealthStatus, UsageRow, UsageTotals};
use crate::error::{Error, Result};
use crate::ports::{DeploymentFilter, DeploymentStore, Page, PageRequest};

const COLUMNS: &str = "id, tool_id, tool_slug, tool_version, owner_id, status, health_status, \
                       last_health_check, public, config, endpoint_url, last_error, deployed_at, \
                       stopped_at, updated_at";

/// The unique key on `active_tool_id` as the port's `Conflict`.
fn one_active_per_tool(e: sqlx::Error, resource_id: Uuid) -> Error {
    match unique_violation(&e) {
        Some(_) => Error::Conflict {
            detail: "the tool already has an active deployment".into(),
            resource_type: "deployment",
            resource_id: Some(resource_id.to_string()),
        },
        None => e.into(),
    }
}

fn from_row(row: &AnyRow) -> Result<Deployment> {
    let corrupt = |what: &str, e: String| Error::internal(format!("stored deployment {what}: {e}"));
    let public: i64 = row.try_get("public")?;
    Ok(Deployment {
        id: parse_uuid(row.try_get("id")?)?,
        tool_id: parse_uuid(row.try_get("tool_id")?)?,
        tool_slug: row.try_get("tool_slug")?,
        tool_version: row.try_get("tool_version")?,
        owner_id: parse_uuid(row.try_get("owner_id")?)?,
        status: DeploymentStatus::parse(row.try_get("status")?)
            .map_err(|e| corrupt("status", e))?,
        health_status: HealthStatus::parse(row.try_get("health_status")?)
            .map_err(|e| corrupt("health_status", e))?,
        last_health_check: parse_opt_ts(row.try_get("last_health_check")?)?,
        public: public != 0,
        config: serde_json::from_str(&text(row, "config")?)
            .map_err(|e| corrupt("config", e.to_string()))?,
        endpoint_url: row.try_get("endpoint_url")?,
        last_error: opt_text(row, "last_error")?,
        deployed_at: parse_ts(row.try_get("deployed_at")?)?,
        stopped_at: parse_opt_ts(row.try_get("stopped_at")?)?,
        updated_at: parse_ts(row.try_get("updated_at")?)?,
    })
}

#[async_trait]
impl DeploymentStore for SqlStore {
    /// Stores a new deployment. `Conflict` when its tool already has one
    /// that is not stopped.
    async fn insert_deployment(&self, d: &Deployment) -> Result<()> {
        let active = (d.status != DeploymentStatus::Stopped).then(|| d.tool_id.to_string());
        sqlx::query(&format!(
            "INSERT INTO mcp_deployments ({COLUMNS}, active_tool_id) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ))
        .bind(d.id.to_string())
        .bind(d.tool_id.to_string())
        .bind(&d.tool_slug)
        .bind(&d.tool_version)
        .bind(d.owner_id.to_string())
        .bind(d.status.as_str())
        .bind(d.health_status.as_str())
        .bind(d.last_health_check.map(ts))
        .bind(i64::from(d.public))
        .bind(d.config.to_string())
        .bind(&d.endpoint_url)
        .bind(&d.last_error)
        .bind(ts(d.deployed_at))
        .bind(d.stopped_at.map(ts))
        .bind(ts(d.updated_at))
        .bind(active)
        .execute(&self.pool)
        .await
        .map_err(|e| one_active_per_tool(e, d.tool_id))?;
        Ok(())
    }

    async fn find_deployment(&self, id: Uuid) -> Result<Option<Deployment>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM mcp_deployments WHERE id = ?"
        ))
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// The deployment of this slug that is not stopped, if any.
    async fn find_active_deployment_by_slug(&self, slug: &str) -> Result<Option<Deployment>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM mcp_deployments WHERE tool_slug = ? AND active_tool_id IS NOT NULL"
        ))
        .bind(slug)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(from_row).transpose()
    }

    async fn latest_deployment_by_slug(&self, slug: &str) -> Result<Option<Deployment>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM mcp_deployments WHERE tool_slug = ? \
             ORDER BY deployed_at DESC, id DESC LIMIT 1"
        ))
        .bind(slug)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Deployments newest first, optionally of one status and/or owner.
    async fn list_deployments(
        &self,
        filter: DeploymentFilter,
        page: PageRequest,
    ) -> Result<Page<Deployment>> {
        fetch_page(
            &self.pool,
            "mcp_deployments",
            COLUMNS,
            "deployed_at",
            |q| {
                q.push(" WHERE 1 = 1");
                if let Some(s) = filter.status {
                    q.push(" AND status = ").push_bind(s.as_str());
                }
                if let Some(o) = filter.owner_id {
                    q.push(" AND owner_id = ").push_bind(o.to_string());
                }
            },
            page,
            from_row,
        )
        .await
    }

    /// Every deployment that should be running (desired state).
    async fn active_deployments(&self) -> Result<Vec<Deployment>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM mcp_deployments WHERE active_tool_id IS NOT NULL"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// Sets the status (and error) of a deployment that is not stopped;
    /// `false` when it is stopped (a stop always wins over a late report).
    async fn set_deployment_status(
        &self,
        id: Uuid,
        status: DeploymentStatus,
        last_error: Option<&str>,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE mcp_deployments SET status = ?, last_error = ?, updated_at = ? \
             WHERE id = ? AND status <> 'stopped'",
        )
        .bind(status.as_str())
        .bind(last_error)
        .bind(ts(crate::domain::now()))
        .bind(id.to_string())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn set_deployment_health(&self, id: Uuid, health: HealthStatus) -> Result<()> {
        sqlx::query(
            "UPDATE mcp_deployments SET health_status = ?, last_health_check = ? WHERE id = ?",
        )
        .bind(health.as_str())
        .bind(ts(crate::domain::now()))
        .bind(id.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Marks a deployment stopped and frees its tool for a new one; `false`
    /// when it was already stopped.
    async fn stop_deployment(&self, id: Uuid) -> Result<bool> {
        let now = ts(crate::domain::now());
        let done = sqlx::query(
            "UPDATE mcp_deployments SET status = 'stopped', active_tool_id = NULL, \
             stopped_at = ?, updated_at = ? WHERE id = ? AND status <> 'stopped'",
        )
        .bind(&now)
        .bind(&now)
        .bind(id.to_string())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn restart_deployment(&self, id: Uuid) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE mcp_deployments SET status = 'starting', health_status = 'unknown', \
             active_tool_id = tool_id, last_error = NULL, stopped_at = NULL, updated_at = ? \
             WHERE id = ? AND status IN ('failed', 'stopped')",
        )
        .bind(ts(crate::domain::now()))
        .bind(id.to_string())
        .execute(&self.pool)
        .await
        .map_err(|e| one_active_per_tool(e, id))?;
        Ok(done.rows_affected() == 1)
    }

    async fn set_deployment_version(&self, id: Uuid, version: &str) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE mcp_deployments SET tool_version = ?, updated_at = ? \
             WHERE id = ? AND status <> 'stopped'",
        )
        .bind(version)
        .bind(ts(crate::domain::now()))
        .bind(id.to_string())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Stores usage rows in one statement. Their ids are UUIDv7 (time first),
    /// so each batch lands at the end of the primary-key index instead of at
    /// random places in it: far fewer pages to write, in SQLite and in
    /// InnoDB, whose table is that index.
    async fn insert_usage(&self, rows: &[UsageRow]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut insert = QueryBuilder::<Any>::new(
            "INSERT INTO mcp_usage_stats \
             (id, tool_id, deployment_id, user_id, method, status, latency_us, created_at) ",
        );
        insert.push_values(rows, |mut b, r| {
            b.push_bind(Uuid::now_v7().to_string())
                .push_bind(r.tool_id.to_string())
                .push_bind(r.deployment_id.to_string())
                .push_bind(r.user_id.map(|u| u.to_string()))
                .push_bind(r.method.clone())
                .push_bind(if r.ok { "ok" } else { "error" })
                .push_bind(i64::try_from(r.latency.as_micros()).unwrap_or(i64::MAX))
                .push_bind(ts(r.at));
        });
        insert.build().execute(&self.pool).await?;
        Ok(())
    }

    async fn usage_totals(&self, deployment_id: Uuid) -> Result<UsageTotals> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, \
             CAST(COALESCE(SUM(CASE WHEN status = 'error' THEN 1 ELSE 0 END), 0) AS SIGNED) AS errors, \
             CAST(COALESCE(SUM(latency_us), 0) AS SIGNED) AS latency \
             FROM mcp_usage_stats WHERE deployment_id = ?",
        )
        .bind(deployment_id.to_string())
        .fetch_one(&self.pool)
        .await?;
        // MySQL's SUM is DECIMAL (cast above); read what each dialect gives.
        let n: i64 = row.try_get("n")?;
        let errors = int_or_text(&row, "errors")?;
        let latency = int_or_text(&row, "latency")?;
        let requests = u64::try_from(n).unwrap_or(0);
        #[allow(clippy::cast_precision_loss)]
        let avg = if requests == 0 {
            0.0
        } else {
            latency as f64 / requests as f64
        };
        Ok(UsageTotals {
            requests,
            errors: u64::try_from(errors).unwrap_or(0),
            avg_latency_us: avg,
        })
    }
}

fn int_or_text(row: &AnyRow, column: &str) -> Result<i64> {
    if let Ok(n) = row.try_get::<i64, _>(column) {
        return Ok(n);
    }
    let s = text(row, column)?;
    s.split('.')
        .next()
        .unwrap_or("0")
        .parse()
        .map_err(|e| Error::internal(format!("{column}: {e}")))
}
