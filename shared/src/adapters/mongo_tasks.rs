//! `TaskStore` over MongoDB's `task_results` collection. Its TTL index on
//! `expires_at` (a BSON date, created in `mongo.rs`) removes records without
//! a sweeper; reads also skip records past it, since the TTL monitor runs
//! only about once a minute.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use mongodb::bson::{self, doc, Bson, Document};
use mongodb::Collection;
use uuid::Uuid;

use super::mongo::MongoStore;
use crate::adapters::sql::{parse_ts, ts};
use crate::domain::{Task, TaskStatus};
use crate::error::{Error, Result};
use crate::ports::{Page, PageRequest, Ping, TaskFilter, TaskStore};

pub struct MongoTaskStore {
    tasks: Collection<Document>,
}

fn unavailable(e: impl std::fmt::Display) -> Error {
    Error::Unavailable(format!("mongodb: {e}"))
}

fn corrupt(e: impl std::fmt::Display) -> Error {
    Error::internal(format!("stored task document: {e}"))
}

impl MongoTaskStore {
    pub fn new(mongo: &MongoStore) -> Self {
        Self {
            tasks: mongo.database().collection("task_results"),
        }
    }
}

fn opt_ts(at: Option<DateTime<Utc>>) -> Bson {
    at.map_or(Bson::Null, |t| Bson::String(ts(t)))
}

fn to_document(task: &Task) -> Result<Document> {
    let result = match &task.result {
        Some(v) => bson::to_bson(v).map_err(|e| Error::internal(format!("to bson: {e}")))?,
        None => Bson::Null,
    };
    Ok(doc! {
        "_id": task.id.to_string(),
        "task_type": &task.task_type,
        "owner_id": task.owner_id.to_string(),
        "status": task.status.as_str(),
        "progress": i32::from(task.progress),
        "message": task.message.clone().map_or(Bson::Null, Bson::String),
        "result": result,
        "error": task.error.clone().map_or(Bson::Null, Bson::String),
        // RFC 3339 with microseconds, as the SQL store keeps them: reads back equal.
        "created_at": ts(task.created_at),
        "started_at": opt_ts(task.started_at),
        "completed_at": opt_ts(task.completed_at),
        // A BSON date: what the TTL index works on.
        "expires_at": bson::DateTime::from_millis(task.expires_at.timestamp_millis()),
    })
}

fn from_document(doc: &Document) -> Result<Task> {
    let str_of = |key: &str| doc.get_str(key).map_err(corrupt);
    let opt_str = |key: &str| match doc.get(key) {
        Some(Bson::String(s)) => Some(s.clone()),
        _ => None,
    };
    let opt_time = |key: &str| opt_str(key).as_deref().map(parse_ts).transpose();
    let status = str_of("status")?;
    // BSON dates keep milliseconds: expiry needs no more.
    let expires_ms = doc
        .get_datetime("expires_at")
        .map_err(corrupt)?
        .timestamp_millis();
    let expires_at = DateTime::<Utc>::from_timestamp_millis(expires_ms)
        .ok_or_else(|| corrupt(format!("expires_at {expires_ms}")))?;
    let progress = doc.get_i32("progress").map_err(corrupt)?;
    Ok(Task {
        id: Uuid::parse_str(str_of("_id")?).map_err(corrupt)?,
        task_type: str_of("task_type")?.to_owned(),
        owner_id: Uuid::parse_str(str_of("owner_id")?).map_err(corrupt)?,
        status: TaskStatus::parse(status).map_err(corrupt)?,
        progress: u8::try_from(progress.clamp(0, 100)).unwrap_or(0),
        message: opt_str("message"),
        result: match doc.get("result") {
            None | Some(Bson::Null) => None,
            Some(v) => Some(v.clone().into_relaxed_extjson()),
        },
        error: opt_str("error"),
        created_at: parse_ts(str_of("created_at")?)?,
        started_at: opt_time("started_at")?,
        completed_at: opt_time("completed_at")?,
        expires_at,
    })
}

fn live_filter(filter: &TaskFilter) -> Document {
    let mut query = doc! {"expires_at": {"$gt": bson::DateTime::now()}};
    if let Some(owner) = filter.owner_id {
        query.insert("owner_id", owner.to_string());
    }
    if let Some(status) = filter.status {
        query.insert("status", status.as_str());
    }
    if let Some(task_type) = &filter.task_type {
        query.insert("task_type", task_type.clone());
    }
    query
}

#[async_trait]
impl Ping for MongoTaskStore {
    async fn ping(&self) -> Result<()> {
        self.tasks
            .count_documents(doc! {"_id": ""})
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

#[async_trait]
impl TaskStore for MongoTaskStore {
    async fn create(&self, task: &Task) -> Result<()> {
        self.tasks
            .insert_one(to_document(task)?)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn find(&self, id: Uuid) -> Result<Option<Task>> {
        let found = self
            .tasks
            .find_one(doc! {"_id": id.to_string(), "expires_at": {"$gt": bson::DateTime::now()}})
            .await
            .map_err(unavailable)?;
        found.as_ref().map(from_document).transpose()
    }

    async fn list(&self, filter: &TaskFilter, page: PageRequest) -> Result<Page<Task>> {
        let query = live_filter(filter);
        let total = self
            .tasks
            .count_documents(query.clone())
            .await
            .map_err(unavailable)?;
        let cursor = self
            .tasks
            .find(query)
            .sort(doc! {"created_at": -1, "_id": -1})
            .skip(page.offset())
            .limit(i64::from(page.page_size))
            .await
            .map_err(unavailable)?;
        let docs: Vec<Document> = cursor.try_collect().await.map_err(unavailable)?;
        Ok(Page {
            items: docs.iter().map(from_document).collect::<Result<_>>()?,
            total,
        })
    }

    async fn update(&self, task: &Task, from: &[TaskStatus]) -> Result<bool> {
        let from: Vec<&str> = from.iter().map(|s| s.as_str()).collect();
        let done = self
            .tasks
            .replace_one(
                doc! {"_id": task.id.to_string(), "status": {"$in": from}},
                to_document(task)?,
            )
            .await
            .map_err(unavailable)?;
        Ok(done.matched_count == 1)
    }

    async fn delete(&self, id: Uuid) -> Result<()> {
        self.tasks
            .delete_one(doc! {"_id": id.to_string()})
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64> {
        let done = self
            .tasks
            .delete_many(
                doc! {"expires_at": {"$lte": bson::DateTime::from_millis(now.timestamp_millis())}},
            )
            .await
            .map_err(unavailable)?;
        Ok(done.deleted_count)
    }
}
