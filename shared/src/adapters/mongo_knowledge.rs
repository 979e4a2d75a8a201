//! `DocumentStore` over MongoDB: the `knowledge_base` collection (its
//! indexes are made in `mongo.rs`), one MongoDB document per knowledge
//! document with its chunks embedded, so a put is one atomic replace.
//! `_id` is `{collection}:{id}`; timestamps are the SQL store's fixed-width
//! RFC 3339 strings, so they sort as text and read back equal.

use async_trait::async_trait;
use futures::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};
use mongodb::Collection;
use uuid::Uuid;

use super::mongo::MongoStore;
use crate::adapters::sql::{parse_ts, ts};
use crate::error::{Error, Result};
use crate::ports::{
    DocumentFilter, DocumentStatus, DocumentStore, Page, PageRequest, StoredDocument,
};

fn unavailable(e: impl std::fmt::Display) -> Error {
    Error::Unavailable(format!("mongodb: {e}"))
}

fn corrupt(e: impl std::fmt::Display) -> Error {
    Error::internal(format!("stored knowledge document: {e}"))
}

fn key(collection: &str, id: Uuid) -> String {
    format!("{collection}:{id}")
}

fn opt_string(v: Option<&String>) -> Bson {
    v.map_or(Bson::Null, |s| Bson::String(s.clone()))
}

fn opt_uuid(v: Option<Uuid>) -> Bson {
    v.map_or(Bson::Null, |u| Bson::String(u.to_string()))
}

fn to_document(d: &StoredDocument) -> Document {
    doc! {
        "_id": key(&d.collection, d.id),
        "document_id": d.id.to_string(),
        "collection": &d.collection,
        "title": &d.title,
        "content": &d.content,
        "source": opt_string(d.source.as_ref()),
        "tags": d.tags.clone(),
        "language": opt_string(d.language.as_ref()),
        "tool_id": opt_uuid(d.tool_id),
        "owner_id": opt_uuid(d.owner_id),
        "public": d.public,
        "status": d.status.as_str(),
        "embedding_model": opt_string(d.embedding_model.as_ref()),
        "chunks": d.chunks.clone(),
        "created_at": ts(d.created_at),
        "updated_at": ts(d.updated_at),
    }
}

fn from_document(doc: &Document, with_chunks: bool) -> Result<StoredDocument> {
    let s = |k: &str| doc.get_str(k).map(str::to_owned).map_err(corrupt);
    let opt = |k: &str| match doc.get(k) {
        None | Some(Bson::Null) => Ok(None),
        Some(Bson::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(corrupt(format!("{k}: {other}"))),
    };
    let opt_id = |k: &str| -> Result<Option<Uuid>> {
        opt(k)?
            .map(|s| Uuid::parse_str(&s).map_err(corrupt))
            .transpose()
    };
    let strings = |k: &str| -> Result<Vec<String>> {
        doc.get_array(k)
            .map_err(corrupt)?
            .iter()
            .map(|b| b.as_str().map(str::to_owned).ok_or_else(|| corrupt(k)))
            .collect()
    };
    Ok(StoredDocument {
        id: Uuid::parse_str(&s("document_id")?).map_err(corrupt)?,
        collection: s("collection")?,
        title: s("title")?,
        content: if with_chunks {
            s("content")?
        } else {
            String::new()
        },
        source: opt("source")?,
        tags: strings("tags")?,
        language: opt("language")?,
        tool_id: opt_id("tool_id")?,
        owner_id: opt_id("owner_id")?,
        public: doc.get_bool("public").map_err(corrupt)?,
        status: DocumentStatus::parse(&s("status")?).map_err(corrupt)?,
        embedding_model: opt("embedding_model")?,
        chunks: if with_chunks {
            strings("chunks")?
        } else {
            Vec::new()
        },
        created_at: parse_ts(&s("created_at")?)?,
        updated_at: parse_ts(&s("updated_at")?)?,
    })
}

impl MongoStore {
    fn knowledge(&self) -> Collection<Document> {
        self.database().collection("knowledge_base")
    }

    /// The indexes listings and stamps use (beside `mongo.rs`'s); safe to repeat.
    pub async fn ensure_knowledge_indexes(&self) -> Result<()> {
        for keys in [
            doc! {"collection": 1, "updated_at": -1},
            doc! {"collection": 1, "created_at": -1, "document_id": -1},
        ] {
            self.knowledge()
                .create_index(mongodb::IndexModel::builder().keys(keys).build())
                .await
                .map_err(unavailable)?;
        }
        Ok(())
    }
}

fn list_filter(collection: &str, f: &DocumentFilter) -> Document {
    let mut q = doc! {"collection": collection, "status": {"$ne": "deleting"}};
    if let Some(tag) = &f.tag {
        q.insert("tags", tag.as_str());
    }
    if let Some(source) = &f.source {
        q.insert("source", source.as_str());
    }
    if let Some(tool_id) = f.tool_id {
        q.insert("tool_id", tool_id.to_string());
    }
    if let Some(status) = f.status {
        q.insert("status", status.as_str());
    }
    if let Some(viewer) = f.visible_to {
        q.insert(
            "$or",
            vec![doc! {"public": true}, doc! {"owner_id": viewer.to_string()}],
        );
    }
    q
}

#[async_trait]
impl DocumentStore for MongoStore {
    async fn put(&self, d: &StoredDocument) -> Result<()> {
        self.knowledge()
            .replace_one(doc! {"_id": key(&d.collection, d.id)}, to_document(d))
            .upsert(true)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn get(&self, collection: &str, id: Uuid) -> Result<Option<StoredDocument>> {
        let found = self
            .knowledge()
            .find_one(doc! {"_id": key(collection, id)})
            .await
            .map_err(unavailable)?;
        found.as_ref().map(|d| from_document(d, true)).transpose()
    }

    async fn list(
        &self,
        collection: &str,
        filter: &DocumentFilter,
        page: PageRequest,
    ) -> Result<Page<StoredDocument>> {
        let query = list_filter(collection, filter);
        let total = self
            .knowledge()
            .count_documents(query.clone())
            .await
            .map_err(unavailable)?;
        let cursor = self
            .knowledge()
            .find(query)
            .projection(doc! {"content": 0, "chunks": 0})
            .sort(doc! {"created_at": -1, "document_id": -1})
            .skip(page.offset())
            .limit(i64::from(page.page_size))
            .await
            .map_err(unavailable)?;
        let docs: Vec<Document> = cursor.try_collect().await.map_err(unavailable)?;
        Ok(Page {
            items: docs
                .iter()
                .map(|d| from_document(d, false))
                .collect::<Result<_>>()?,
            total,
        })
    }

    async fn set_status(
        &self,
        collection: &str,
        id: Uuid,
        status: DocumentStatus,
        embedding_model: Option<&str>,
    ) -> Result<bool> {
        let mut set = doc! {"status": status.as_str(), "updated_at": ts(crate::domain::now())};
        if let Some(model) = embedding_model {
            set.insert("embedding_model", model);
        }
        let done = self
            .knowledge()
            .update_one(
                doc! {"_id": key(collection, id), "status": {"$ne": "deleting"}},
                doc! {"$set": set},
            )
            .await
            .map_err(unavailable)?;
        Ok(done.matched_count == 1)
    }

    async fn delete(&self, collection: &str, id: Uuid) -> Result<bool> {
        let done = self
            .knowledge()
            .delete_one(doc! {"_id": key(collection, id)})
            .await
            .map_err(unavailable)?;
        Ok(done.deleted_count == 1)
    }

    async fn scan(&self, after: Option<Uuid>, limit: usize) -> Result<Vec<StoredDocument>> {
        let after = after.map(|u| u.to_string()).unwrap_or_default();
        let cursor = self
            .knowledge()
            .find(doc! {"document_id": {"$gt": after}})
            .sort(doc! {"document_id": 1})
            .limit(i64::try_from(limit).unwrap_or(i64::MAX))
            .await
            .map_err(unavailable)?;
        let docs: Vec<Document> = cursor.try_collect().await.map_err(unavailable)?;
        docs.iter().map(|d| from_document(d, true)).collect()
    }

    async fn stamp(&self, collection: &str) -> Result<String> {
        let n = self
            .knowledge()
            .count_documents(doc! {"collection": collection})
            .await
            .map_err(unavailable)?;
        let last = self
            .knowledge()
            .find_one(doc! {"collection": collection})
            .projection(doc! {"updated_at": 1})
            .sort(doc! {"updated_at": -1})
            .await
            .map_err(unavailable)?;
        let last = last
            .and_then(|d| d.get_str("updated_at").ok().map(str::to_owned))
            .unwrap_or_default();
        Ok(format!("{n}:{last}"))
    }
}
