//! `ToolRepo` and `HistoryStore` over SQL. A tool change and its history
//! record are written in one transaction.

use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::{Any, QueryBuilder, Row, Transaction};
use uuid::Uuid;

use super::{
    fetch_page, opt_text, parse_opt_ts, parse_ts, parse_uuid, text, ts, unique_violation, SqlStore,
};
use crate::domain::{
    ChangeType, HistoryRecord, SemVer, Slug, Tool, ToolConfig, ToolName, ToolSnapshot, ToolStatus,
};
use crate::error::{Error, Result};
use crate::ports::{
    HistoryOutbox, HistoryStore, Page, PageRequest, ToolFilter, ToolRepo, HISTORY_LIMIT,
};

const TOOL_COLUMNS: &str = "id, name, slug, description, version, config, status, tags, \
                            author_id, revision, created_at, updated_at, deleted_at";

/// What the `q` filter matches: name and description, lowercased with
/// Unicode rules here because SQLite's LOWER() folds ASCII only.
fn search_text(tool: &Tool) -> String {
    format!(
        "{}\n{}",
        tool.name,
        tool.description.as_deref().unwrap_or("")
    )
    .to_lowercase()
}

fn tool_from_row(row: &AnyRow) -> Result<Tool> {
    let corrupt = |what: &str, e: String| Error::internal(format!("stored tool {what}: {e}"));
    let config: serde_json::Value = serde_json::from_str(&text(row, "config")?)
        .map_err(|e| corrupt("config", e.to_string()))?;
    let tags: Vec<String> =
        serde_json::from_str(&text(row, "tags")?).map_err(|e| corrupt("tags", e.to_string()))?;
    Ok(Tool {
        id: parse_uuid(row.try_get("id")?)?,
        name: ToolName::parse(row.try_get("name")?).map_err(|e| corrupt("name", e))?,
        slug: Slug::parse(row.try_get("slug")?).map_err(|e| corrupt("slug", e))?,
        description: opt_text(row, "description")?,
        version: SemVer::parse(row.try_get("version")?).map_err(|e| corrupt("version", e))?,
        config: ToolConfig::from_stored(config),
        status: ToolStatus::parse(row.try_get("status")?).map_err(|e| corrupt("status", e))?,
        tags,
        author_id: parse_uuid(row.try_get("author_id")?)?,
        revision: row.try_get("revision")?,
        created_at: parse_ts(row.try_get("created_at")?)?,
        updated_at: parse_ts(row.try_get("updated_at")?)?,
        deleted_at: parse_opt_ts(row.try_get("deleted_at")?)?,
    })
}

fn json_text(value: &impl serde::Serialize) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::internal(format!("serialise: {e}")))
}

const HISTORY_COLUMNS: &str =
    "id, tool_id, sequence, version, change_type, changed_by, changed_at, snapshot, diff";

type AnyQuery<'q> = sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>;

/// Binds a record's values in [`HISTORY_COLUMNS`] order.
fn bind_history<'q>(query: AnyQuery<'q>, record: &HistoryRecord) -> Result<AnyQuery<'q>> {
    Ok(query
        .bind(record.id.to_string())
        .bind(record.tool_id.to_string())
        .bind(record.sequence)
        .bind(record.version.clone())
        .bind(record.change_type.as_str())
        .bind(record.changed_by.to_string())
        .bind(ts(record.changed_at))
        .bind(json_text(&record.snapshot)?)
        .bind(json_text(&record.diff)?))
}

async fn append_history(tx: &mut Transaction<'_, Any>, record: &HistoryRecord) -> Result<()> {
    let sql = format!(
        "INSERT INTO mcp_config_history ({HISTORY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    );
    bind_history(sqlx::query(&sql), record)?
        .execute(&mut **tx)
        .await
        .map_err(|e| match unique_violation(&e) {
            // Two writers raced past the revision check with the same sequence.
            Some(_) => Error::Conflict {
                detail: "the tool was changed concurrently; retry".into(),
                resource_type: "mcp_tool",
                resource_id: Some(record.tool_id.to_string()),
            },
            None => e.into(),
        })?;
    Ok(())
}

async fn replace_tags(tx: &mut Transaction<'_, Any>, tool: &Tool) -> Result<()> {
    sqlx::query("DELETE FROM mcp_tool_tags WHERE tool_id = ?")
        .bind(tool.id.to_string())
        .execute(&mut **tx)
        .await?;
    for tag in &tool.tags {
        sqlx::query("INSERT INTO mcp_tool_tags (tool_id, tag) VALUES (?, ?)")
            .bind(tool.id.to_string())
            .bind(tag)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

fn push_filters<'a>(qb: &mut QueryBuilder<'a, Any>, filter: &'a ToolFilter) {
    qb.push(" WHERE deleted_at IS NULL");
    if let Some(status) = filter.status {
        qb.push(" AND status = ").push_bind(status.as_str());
    }
    if let Some(author) = filter.author_id {
        qb.push(" AND author_id = ").push_bind(author.to_string());
    }
    if let Some(tag) = &filter.tag {
        qb.push(" AND EXISTS (SELECT 1 FROM mcp_tool_tags t WHERE t.tool_id = mcp_tools.id AND t.tag = ")
            .push_bind(tag.as_str())
            .push(")");
    }
    if let Some(q) = &filter.q {
        let pattern = format!("%{}%", escape_like(&q.to_lowercase()));
        qb.push(" AND search_text LIKE ")
            .push_bind(pattern)
            .push(" ESCAPE '!'");
    }
}

pub(super) fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '!') {
            out.push('!');
        }
        out.push(c);
    }
    out
}

#[async_trait]
impl ToolRepo for SqlStore {
    async fn insert(&self, tool: &Tool, record: &HistoryRecord) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(&format!(
            "INSERT INTO mcp_tools ({TOOL_COLUMNS}, search_text) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ))
        .bind(tool.id.to_string())
        .bind(tool.name.as_str())
        .bind(tool.slug.as_str())
        .bind(&tool.description)
        .bind(tool.version.to_string())
        .bind(json_text(&tool.config)?)
        .bind(tool.status.as_str())
        .bind(json_text(&tool.tags)?)
        .bind(tool.author_id.to_string())
        .bind(tool.revision)
        .bind(ts(tool.created_at))
        .bind(ts(tool.updated_at))
        .bind(tool.deleted_at.map(ts))
        .bind(search_text(tool))
        .execute(&mut *tx)
        .await
        .map_err(|e| match unique_violation(&e) {
            Some(_) => Error::Conflict {
                detail: format!("slug '{}' is already taken", tool.slug),
                resource_type: "mcp_tool",
                resource_id: Some(tool.slug.to_string()),
            },
            None => e.into(),
        })?;
        replace_tags(&mut tx, tool).await?;
        append_history(&mut tx, record).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn update(
        &self,
        tool: &Tool,
        expected_revision: i64,
        record: &HistoryRecord,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE mcp_tools SET name = ?, description = ?, version = ?, config = ?, status = ?, \
             tags = ?, revision = ?, updated_at = ?, deleted_at = ?, search_text = ? \
             WHERE id = ? AND revision = ? AND deleted_at IS NULL",
        )
        .bind(tool.name.as_str())
        .bind(&tool.description)
        .bind(tool.version.to_string())
        .bind(json_text(&tool.config)?)
        .bind(tool.status.as_str())
        .bind(json_text(&tool.tags)?)
        .bind(tool.revision)
        .bind(ts(tool.updated_at))
        .bind(tool.deleted_at.map(ts))
        .bind(search_text(tool))
        .bind(tool.id.to_string())
        .bind(expected_revision)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Err(Error::Conflict {
                detail: "the tool was changed concurrently; retry".into(),
                resource_type: "mcp_tool",
                resource_id: Some(tool.id.to_string()),
            });
        }
        replace_tags(&mut tx, tool).await?;
        append_history(&mut tx, record).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn find(&self, id: Uuid) -> Result<Option<Tool>> {
        let row = sqlx::query(&format!(
            "SELECT {TOOL_COLUMNS} FROM mcp_tools WHERE id = ? AND deleted_at IS NULL"
        ))
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(tool_from_row).transpose()
    }

    async fn find_by_slug(&self, slug: &str) -> Result<Option<Tool>> {
        let row = sqlx::query(&format!(
            "SELECT {TOOL_COLUMNS} FROM mcp_tools WHERE slug = ? AND deleted_at IS NULL"
        ))
        .bind(slug)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(tool_from_row).transpose()
    }

    async fn list(&self, filter: &ToolFilter, page: PageRequest) -> Result<Page<Tool>> {
        fetch_page(
            &self.pool,
            "mcp_tools",
            TOOL_COLUMNS,
            "created_at",
            |q| push_filters(q, filter),
            page,
            tool_from_row,
        )
        .await
    }
}

fn history_from_row(row: &AnyRow) -> Result<HistoryRecord> {
    let corrupt = |e: serde_json::Error| Error::internal(format!("stored history: {e}"));
    let snapshot: ToolSnapshot = serde_json::from_str(&text(row, "snapshot")?).map_err(corrupt)?;
    let change: &str = row.try_get("change_type")?;
    Ok(HistoryRecord {
        id: parse_uuid(row.try_get("id")?)?,
        tool_id: parse_uuid(row.try_get("tool_id")?)?,
        sequence: row.try_get("sequence")?,
        version: row.try_get("version")?,
        change_type: ChangeType::parse(change)
            .ok_or_else(|| Error::internal(format!("stored change_type {change:?}")))?,
        changed_by: parse_uuid(row.try_get("changed_by")?)?,
        changed_at: parse_ts(row.try_get("changed_at")?)?,
        snapshot,
        diff: serde_json::from_str(&text(row, "diff")?).map_err(corrupt)?,
    })
}

#[async_trait]
impl HistoryOutbox for SqlStore {
    async fn pending_history(&self, limit: i64) -> Result<Vec<HistoryRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {HISTORY_COLUMNS} FROM mcp_config_history ORDER BY changed_at, sequence LIMIT ?"
        ))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(history_from_row).collect()
    }

    async fn forget_history(&self, records: &[HistoryRecord]) -> Result<()> {
        for record in records {
            sqlx::query("DELETE FROM mcp_config_history WHERE id = ?")
                .bind(record.id.to_string())
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }
}

#[async_trait]
impl HistoryStore for SqlStore {
    async fn append(&self, records: &[HistoryRecord]) -> Result<()> {
        for record in records {
            // Portable insert-if-absent (no INSERT OR IGNORE / INSERT IGNORE split).
            let sql = format!(
                "INSERT INTO mcp_config_history ({HISTORY_COLUMNS}) \
                 SELECT ?, ?, ?, ?, ?, ?, ?, ?, ? FROM (SELECT 1 AS one) AS seed \
                 WHERE NOT EXISTS (SELECT 1 FROM mcp_config_history WHERE id = ?)"
            );
            bind_history(sqlx::query(&sql), record)?
                .bind(record.id.to_string())
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    async fn find_version(&self, tool_id: Uuid, version: &str) -> Result<Option<HistoryRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {HISTORY_COLUMNS} FROM mcp_config_history \
             WHERE tool_id = ? AND version = ? AND change_type <> 'delete' ORDER BY sequence DESC LIMIT 1"
        ))
        .bind(tool_id.to_string())
        .bind(version)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(history_from_row).transpose()
    }

    async fn list(&self, tool_id: Uuid) -> Result<Vec<HistoryRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {HISTORY_COLUMNS} FROM mcp_config_history WHERE tool_id = ? ORDER BY sequence DESC LIMIT ?"
        ))
        .bind(tool_id.to_string())
        .bind(HISTORY_LIMIT)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(history_from_row).collect()
    }
}
