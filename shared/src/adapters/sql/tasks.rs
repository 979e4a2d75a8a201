//! `TaskStore` over SQL, for when MongoDB is not configured. Expired rows
//! are hidden from reads at once and deleted by the `expire_task_results`
//! periodic job.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;
use sqlx::{Any, QueryBuilder, Row};
use uuid::Uuid;

use super::{fetch_page, opt_text, parse_opt_ts, parse_ts, parse_uuid, text, ts, SqlStore};
use crate::domain::{Task, TaskStatus};
use crate::error::{Error, Result};
use crate::ports::{Page, PageRequest, TaskFilter, TaskStore};

const TASK_COLUMNS: &str = "id, task_type, owner_id, status, progress, message, result, error, \
     created_at, started_at, completed_at, expires_at";

fn task_from_row(row: &AnyRow) -> Result<Task> {
    let status = text(row, "status")?;
    let progress: i64 = row.try_get("progress")?;
    let result = opt_text(row, "result")?
        .map(|r| serde_json::from_str(&r))
        .transpose()
        .map_err(|e| Error::internal(format!("stored task result: {e}")))?;
    Ok(Task {
        id: parse_uuid(&text(row, "id")?)?,
        task_type: text(row, "task_type")?,
        owner_id: parse_uuid(&text(row, "owner_id")?)?,
        status: TaskStatus::parse(&status)
            .map_err(|_| Error::internal(format!("stored task status {status:?}")))?,
        progress: u8::try_from(progress.clamp(0, 100)).unwrap_or(0),
        message: opt_text(row, "message")?,
        result,
        error: opt_text(row, "error")?,
        created_at: parse_ts(&text(row, "created_at")?)?,
        started_at: parse_opt_ts(opt_text(row, "started_at")?)?,
        completed_at: parse_opt_ts(opt_text(row, "completed_at")?)?,
        expires_at: parse_ts(&text(row, "expires_at")?)?,
    })
}

fn result_text(task: &Task) -> Result<Option<String>> {
    task.result
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| Error::internal(format!("task result: {e}")))
}

fn push_filters(q: &mut QueryBuilder<'_, Any>, filter: &TaskFilter, now: &str) {
    q.push(" WHERE expires_at > ").push_bind(now.to_owned());
    if let Some(owner) = filter.owner_id {
        q.push(" AND owner_id = ").push_bind(owner.to_string());
    }
    if let Some(status) = filter.status {
        q.push(" AND status = ").push_bind(status.as_str());
    }
    if let Some(task_type) = &filter.task_type {
        q.push(" AND task_type = ").push_bind(task_type.clone());
    }
}

#[async_trait]
impl TaskStore for SqlStore {
    async fn create(&self, task: &Task) -> Result<()> {
        sqlx::query(&format!(
            "INSERT INTO tasks ({TASK_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ))
        .bind(task.id.to_string())
        .bind(task.task_type.clone())
        .bind(task.owner_id.to_string())
        .bind(task.status.as_str())
        .bind(i64::from(task.progress))
        .bind(task.message.clone())
        .bind(result_text(task)?)
        .bind(task.error.clone())
        .bind(ts(task.created_at))
        .bind(task.started_at.map(ts))
        .bind(task.completed_at.map(ts))
        .bind(ts(task.expires_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn find(&self, id: Uuid) -> Result<Option<Task>> {
        let row = sqlx::query(&format!(
            "SELECT {TASK_COLUMNS} FROM tasks WHERE id = ? AND expires_at > ?"
        ))
        .bind(id.to_string())
        .bind(ts(Utc::now()))
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(task_from_row).transpose()
    }

    async fn list(&self, filter: &TaskFilter, page: PageRequest) -> Result<Page<Task>> {
        let now = ts(Utc::now());
        fetch_page(
            &self.pool,
            "tasks",
            TASK_COLUMNS,
            "created_at",
            |q| push_filters(q, filter, &now),
            page,
            task_from_row,
        )
        .await
    }

    async fn update(&self, task: &Task, from: &[TaskStatus]) -> Result<bool> {
        if from.is_empty() {
            return Ok(false);
        }
        let mut q = QueryBuilder::<Any>::new("UPDATE tasks SET status = ");
        q.push_bind(task.status.as_str())
            .push(", progress = ")
            .push_bind(i64::from(task.progress))
            .push(", message = ")
            .push_bind(task.message.clone())
            .push(", result = ")
            .push_bind(result_text(task)?)
            .push(", error = ")
            .push_bind(task.error.clone())
            .push(", started_at = ")
            .push_bind(task.started_at.map(ts))
            .push(", completed_at = ")
            .push_bind(task.completed_at.map(ts))
            .push(", expires_at = ")
            .push_bind(ts(task.expires_at))
            .push(" WHERE id = ")
            .push_bind(task.id.to_string())
            .push(" AND status IN (");
        let mut list = q.separated(", ");
        for status in from {
            list.push_bind(status.as_str());
        }
        q.push(")");
        let done = q.build().execute(&self.pool).await?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete(&self, id: Uuid) -> Result<()> {
        sqlx::query("DELETE FROM tasks WHERE id = ?")
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64> {
        let done = sqlx::query("DELETE FROM tasks WHERE expires_at <= ?")
            .bind(ts(now))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
