//! `DocumentStore` over SQL: `knowledge_documents` and `knowledge_chunks`.

use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::{Any, QueryBuilder, Row};
use uuid::Uuid;

use super::tools::escape_like;
use super::{fetch_page, opt_text, parse_ts, parse_uuid, text, ts, SqlStore};
use crate::error::{Error, Result};
use crate::ports::{
    DocumentFilter, DocumentStatus, DocumentStore, Page, PageRequest, StoredDocument,
};

const COLUMNS: &str = "id, collection, title, content, source, tags, language, tool_id, \
                       owner_id, public, status, embedding_model, created_at, updated_at";

fn document_from_row(row: &AnyRow) -> Result<StoredDocument> {
    let tags: Vec<String> = serde_json::from_str(&text(row, "tags")?)
        .map_err(|e| Error::internal(format!("stored document tags: {e}")))?;
    let uuid = |column: &str| -> Result<Option<Uuid>> {
        opt_text(row, column)?
            .as_deref()
            .map(parse_uuid)
            .transpose()
    };
    let public: i64 = row.try_get("public")?;
    Ok(StoredDocument {
        id: parse_uuid(&text(row, "id")?)?,
        collection: text(row, "collection")?,
        title: text(row, "title")?,
        content: text(row, "content")?,
        source: opt_text(row, "source")?,
        tags,
        language: opt_text(row, "language")?,
        tool_id: uuid("tool_id")?,
        owner_id: uuid("owner_id")?,
        public: public != 0,
        status: DocumentStatus::parse(&text(row, "status")?).map_err(Error::internal)?,
        embedding_model: opt_text(row, "embedding_model")?,
        chunks: Vec::new(),
        created_at: parse_ts(&text(row, "created_at")?)?,
        updated_at: parse_ts(&text(row, "updated_at")?)?,
    })
}

/// Bumps the collection's revision, in the caller's transaction.
async fn bump(conn: &mut sqlx::AnyConnection, collection: &str) -> Result<()> {
    sqlx::query("UPDATE knowledge_stamps SET revision = revision + 1 WHERE collection = ?")
        .bind(collection)
        .execute(conn)
        .await?;
    Ok(())
}

impl SqlStore {
    async fn chunks_of(&self, collection: &str, id: Uuid) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT content FROM knowledge_chunks WHERE collection = ? AND document_id = ? \
             ORDER BY chunk_index",
        )
        .bind(collection)
        .bind(id.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| text(r, "content")).collect()
    }
}

fn push_filters<'a>(
    qb: &mut QueryBuilder<'a, Any>,
    collection: &'a str,
    filter: &'a DocumentFilter,
) {
    qb.push(" WHERE collection = ")
        .push_bind(collection)
        .push(" AND status <> 'deleting'");
    if let Some(tag) = &filter.tag {
        // Tags are stored as a JSON list of `[a-z0-9-_.]` strings: the quoted
        // tag is an exact element match.
        qb.push(" AND tags LIKE ")
            .push_bind(format!("%{}%", escape_like(&format!("\"{tag}\""))))
            .push(" ESCAPE '!'");
    }
    if let Some(source) = &filter.source {
        qb.push(" AND source = ").push_bind(source.as_str());
    }
    if let Some(tool_id) = filter.tool_id {
        qb.push(" AND tool_id = ").push_bind(tool_id.to_string());
    }
    if let Some(viewer) = filter.visible_to {
        qb.push(" AND (public = 1 OR owner_id = ")
            .push_bind(viewer.to_string())
            .push(")");
    }
    if let Some(status) = filter.status {
        qb.push(" AND status = ").push_bind(status.as_str());
    }
}

#[async_trait]
impl DocumentStore for SqlStore {
    async fn put(&self, d: &StoredDocument) -> Result<()> {
        let tags = serde_json::to_string(&d.tags).map_err(Error::internal)?;
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM knowledge_chunks WHERE collection = ? AND document_id = ?")
            .bind(&d.collection)
            .bind(d.id.to_string())
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM knowledge_documents WHERE collection = ? AND id = ?")
            .bind(&d.collection)
            .bind(d.id.to_string())
            .execute(&mut *tx)
            .await?;
        sqlx::query(&format!(
            "INSERT INTO knowledge_documents ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ))
        .bind(d.id.to_string())
        .bind(&d.collection)
        .bind(&d.title)
        .bind(&d.content)
        .bind(d.source.clone())
        .bind(tags)
        .bind(d.language.clone())
        .bind(d.tool_id.map(|u| u.to_string()))
        .bind(d.owner_id.map(|u| u.to_string()))
        .bind(i64::from(d.public))
        .bind(d.status.as_str())
        .bind(d.embedding_model.clone())
        .bind(ts(d.created_at))
        .bind(ts(d.updated_at))
        .execute(&mut *tx)
        .await?;
        for (i, chunk) in d.chunks.iter().enumerate() {
            sqlx::query(
                "INSERT INTO knowledge_chunks (collection, document_id, chunk_index, content) \
                 VALUES (?, ?, ?, ?)",
            )
            .bind(&d.collection)
            .bind(d.id.to_string())
            .bind(i64::try_from(i).map_err(Error::internal)?)
            .bind(chunk)
            .execute(&mut *tx)
            .await?;
        }
        bump(&mut tx, &d.collection).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn get(&self, collection: &str, id: Uuid) -> Result<Option<StoredDocument>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM knowledge_documents WHERE collection = ? AND id = ?"
        ))
        .bind(collection)
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let mut document = document_from_row(&row)?;
        document.chunks = self.chunks_of(collection, id).await?;
        Ok(Some(document))
    }

    async fn list(
        &self,
        collection: &str,
        filter: &DocumentFilter,
        page: PageRequest,
    ) -> Result<Page<StoredDocument>> {
        fetch_page(
            &self.pool,
            "knowledge_documents",
            COLUMNS,
            "created_at",
            |q| push_filters(q, collection, filter),
            page,
            document_from_row,
        )
        .await
    }

    async fn set_status(
        &self,
        collection: &str,
        id: Uuid,
        status: DocumentStatus,
        embedding_model: Option<&str>,
    ) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE knowledge_documents SET status = ?, \
             embedding_model = COALESCE(?, embedding_model), updated_at = ? \
             WHERE collection = ? AND id = ? AND status <> 'deleting'",
        )
        .bind(status.as_str())
        .bind(embedding_model.map(str::to_owned))
        .bind(ts(crate::domain::now()))
        .bind(collection)
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
        bump(&mut tx, collection).await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete(&self, collection: &str, id: Uuid) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM knowledge_chunks WHERE collection = ? AND document_id = ?")
            .bind(collection)
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query("DELETE FROM knowledge_documents WHERE collection = ? AND id = ?")
            .bind(collection)
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        bump(&mut tx, collection).await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    async fn scan(&self, after: Option<Uuid>, limit: usize) -> Result<Vec<StoredDocument>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM knowledge_documents WHERE id > ? ORDER BY id LIMIT ?"
        ))
        .bind(after.map(|u| u.to_string()).unwrap_or_default())
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        let mut out: Vec<StoredDocument> =
            rows.iter().map(document_from_row).collect::<Result<_>>()?;
        if out.is_empty() {
            return Ok(out);
        }
        // The page's chunks in one query, not one per document.
        let mut qb = QueryBuilder::<Any>::new(
            "SELECT collection, document_id, content FROM knowledge_chunks WHERE document_id IN (",
        );
        let mut ids = qb.separated(", ");
        for d in &out {
            ids.push_bind(d.id.to_string());
        }
        qb.push(") ORDER BY document_id, chunk_index");
        let chunk_rows = qb.build().fetch_all(&self.pool).await?;
        let mut by_key: std::collections::HashMap<(String, String), Vec<String>> =
            std::collections::HashMap::new();
        for r in &chunk_rows {
            by_key
                .entry((text(r, "collection")?, text(r, "document_id")?))
                .or_default()
                .push(text(r, "content")?);
        }
        for d in &mut out {
            d.chunks = by_key
                .remove(&(d.collection.clone(), d.id.to_string()))
                .unwrap_or_default();
        }
        Ok(out)
    }

    async fn stamp(&self, collection: &str) -> Result<String> {
        let revision: Option<i64> =
            sqlx::query_scalar("SELECT revision FROM knowledge_stamps WHERE collection = ?")
                .bind(collection)
                .fetch_optional(&self.pool)
                .await?;
        Ok(revision.unwrap_or(0).to_string())
    }
}
