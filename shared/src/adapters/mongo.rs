//! MongoDB: version history now; documents and task results next (their
//! collections and indexes are created here so the schema is in one place).
//!
//! Collections (SPEC §2):
//! - `mcp_config_history`: `_id` = record id, unique `(tool_id, sequence)`.
//! - `knowledge_base`: indexes on `document_id`, `tool_id`, `tags`.
//! - `task_results`: a TTL index on `expires_at` (expireAfterSeconds 0), so
//!   results vanish when they expire without a sweeper.
//!
//! Every query is bounded (a `limit`), and the client gives up on an
//! unreachable server after `MONGODB_TIMEOUT_MS`, which becomes a 503.

use std::time::Duration;

use async_trait::async_trait;
use futures::TryStreamExt;
use mongodb::bson::{self, doc, Document};
use mongodb::options::{ClientOptions, IndexOptions};
use mongodb::{Client, Collection, Database, IndexModel};
use uuid::Uuid;

use crate::domain::{ChangeType, HistoryRecord};
use crate::error::{Error, Result};
use crate::ports::{HistoryStore, Ping, HISTORY_LIMIT};

pub struct MongoStore {
    db: Database,
}

fn unavailable(e: impl std::fmt::Display) -> Error {
    Error::Unavailable(format!("mongodb: {e}"))
}

fn corrupt(e: impl std::fmt::Display) -> Error {
    Error::internal(format!("stored history document: {e}"))
}

impl MongoStore {
    /// Connects lazily (the driver connects on first use) and names the
    /// database from `database`, else the URL's path, else `mcp_platform`.
    pub async fn connect(
        url: &str,
        database: Option<&str>,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let mut options = ClientOptions::parse(url).await?;
        options.server_selection_timeout = Some(timeout);
        options.connect_timeout = Some(timeout);
        options.app_name = Some("mcp-platform".into());
        let name = database
            .map(str::to_owned)
            .or_else(|| options.default_database.clone())
            .unwrap_or_else(|| "mcp_platform".into());
        let client = Client::with_options(options)?;
        Ok(Self {
            db: client.database(&name),
        })
    }

    pub fn database(&self) -> &Database {
        &self.db
    }

    fn history(&self) -> Collection<Document> {
        self.db.collection("mcp_config_history")
    }

    /// Creates the collections' indexes; safe to repeat.
    pub async fn ensure_indexes(&self) -> Result<()> {
        let unique = IndexOptions::builder().unique(true).build();
        self.history()
            .create_index(
                IndexModel::builder()
                    .keys(doc! {"tool_id": 1, "sequence": -1})
                    .options(unique)
                    .build(),
            )
            .await
            .map_err(unavailable)?;
        let knowledge: Collection<Document> = self.db.collection("knowledge_base");
        for keys in [
            doc! {"document_id": 1},
            doc! {"tool_id": 1},
            doc! {"tags": 1},
        ] {
            knowledge
                .create_index(IndexModel::builder().keys(keys).build())
                .await
                .map_err(unavailable)?;
        }
        let ttl = IndexOptions::builder().expire_after(Duration::ZERO).build();
        let tasks: Collection<Document> = self.db.collection("task_results");
        tasks
            .create_index(
                IndexModel::builder()
                    .keys(doc! {"expires_at": 1})
                    .options(ttl)
                    .build(),
            )
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

#[async_trait]
impl Ping for MongoStore {
    async fn ping(&self) -> Result<()> {
        self.db
            .run_command(doc! {"ping": 1})
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

fn to_document(record: &HistoryRecord) -> Result<Document> {
    let bson_of = |v: &serde_json::Value| {
        bson::to_bson(v).map_err(|e| Error::internal(format!("to bson: {e}")))
    };
    let snapshot = serde_json::to_value(&record.snapshot)
        .map_err(|e| Error::internal(format!("snapshot: {e}")))?;
    Ok(doc! {
        "_id": record.id.to_string(),
        "tool_id": record.tool_id.to_string(),
        "sequence": record.sequence,
        "version": &record.version,
        "change_type": record.change_type.as_str(),
        "changed_by": record.changed_by.to_string(),
        // RFC 3339 with microseconds, as the SQL store keeps it: reads back equal.
        "changed_at": crate::adapters::sql::ts(record.changed_at),
        "snapshot": bson_of(&snapshot)?,
        "diff": bson_of(&record.diff)?,
    })
}

fn from_document(doc: Document) -> Result<HistoryRecord> {
    let str_of = |key: &str| doc.get_str(key).map_err(corrupt);
    let uuid_of = |key: &str| Uuid::parse_str(str_of(key)?).map_err(corrupt);
    let json_of = |key: &str| -> Result<serde_json::Value> {
        let value = doc
            .get(key)
            .ok_or_else(|| corrupt(format!("missing {key}")))?;
        Ok(value.clone().into_relaxed_extjson())
    };
    let change = str_of("change_type")?;
    Ok(HistoryRecord {
        id: uuid_of("_id")?,
        tool_id: uuid_of("tool_id")?,
        sequence: doc.get_i64("sequence").map_err(corrupt)?,
        version: str_of("version")?.to_owned(),
        change_type: ChangeType::parse(change)
            .ok_or_else(|| corrupt(format!("change_type {change:?}")))?,
        changed_by: uuid_of("changed_by")?,
        changed_at: crate::adapters::sql::parse_ts(str_of("changed_at")?)?,
        snapshot: serde_json::from_value(json_of("snapshot")?).map_err(corrupt)?,
        diff: json_of("diff")?,
    })
}

#[async_trait]
impl HistoryStore for MongoStore {
    async fn append(&self, records: &[HistoryRecord]) -> Result<()> {
        for record in records {
            // Upsert by id: delivering the same record twice stores it once.
            self.history()
                .replace_one(doc! {"_id": record.id.to_string()}, to_document(record)?)
                .upsert(true)
                .await
                .map_err(unavailable)?;
        }
        Ok(())
    }

    async fn find_version(&self, tool_id: Uuid, version: &str) -> Result<Option<HistoryRecord>> {
        let found = self
            .history()
            .find_one(doc! {
                "tool_id": tool_id.to_string(),
                "version": version,
                "change_type": {"$ne": ChangeType::Delete.as_str()},
            })
            .sort(doc! {"sequence": -1})
            .await
            .map_err(unavailable)?;
        found.map(from_document).transpose()
    }

    async fn list(&self, tool_id: Uuid) -> Result<Vec<HistoryRecord>> {
        let cursor = self
            .history()
            .find(doc! {"tool_id": tool_id.to_string()})
            .sort(doc! {"sequence": -1})
            .limit(HISTORY_LIMIT)
            .await
            .map_err(unavailable)?;
        let docs: Vec<Document> = cursor.try_collect().await.map_err(unavailable)?;
        docs.into_iter().map(from_document).collect()
    }
}
