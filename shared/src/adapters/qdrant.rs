//! [`VectorIndex`] on Qdrant over gRPC (`qdrant-client`).
//!
//! One Qdrant collection per index collection, one unnamed dense vector per
//! point with Cosine distance (Qdrant normalises on insert, so scores are
//! cosine similarities). The collection's vector size is its recorded
//! dimension. Payload fields that filters use are indexed, so a filtered
//! search is filtered inside the HNSW walk, before ranking, not after.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::anyhow;
use async_trait::async_trait;
use parking_lot::RwLock;
use qdrant_client::qdrant::point_id::PointIdOptions;
use qdrant_client::qdrant::vectors_config::Config as VectorsConfigKind;
use qdrant_client::qdrant::{
    Condition, CreateCollectionBuilder, CreateFieldIndexCollectionBuilder, DeletePointsBuilder,
    Distance, FieldType, Filter, PointStruct, Query, QueryPointsBuilder, UpsertPointsBuilder,
    VectorParamsBuilder,
};
use qdrant_client::{Payload, Qdrant, QdrantError};
use uuid::Uuid;

use crate::error::{Error, FieldError, Result};
use crate::ports::{ChunkPayload, Ping, ScoredPoint, VectorFilter, VectorIndex, VectorPoint};

/// Points per upsert request: keeps each gRPC message well under Qdrant's
/// default 32 MB limit with 1536-dimension vectors.
const UPSERT_BATCH: usize = 256;

/// Payload fields the filters use, with the index type of each.
const INDEXED_FIELDS: [(&str, FieldType); 6] = [
    ("tags", FieldType::Keyword),
    ("source", FieldType::Keyword),
    ("tool_id", FieldType::Keyword),
    ("document_id", FieldType::Keyword),
    ("owner_id", FieldType::Keyword),
    ("public", FieldType::Bool),
];

pub struct QdrantIndex {
    client: Qdrant,
    /// Dimension of each collection seen, so an upsert checks every vector
    /// before sending anything without asking the server each time.
    dimensions: RwLock<HashMap<String, usize>>,
}

impl QdrantIndex {
    /// A client for the gRPC endpoint (`http://host:6334`). Connects lazily:
    /// an unreachable server shows up on the first call (and on `ping`).
    pub fn connect(url: &str, api_key: Option<String>) -> Result<Self> {
        let client = Qdrant::from_url(url)
            .api_key(api_key)
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(5))
            // The version check would call the server from the constructor;
            // `ping` (health check) is where reachability is reported.
            .skip_compatibility_check()
            .build()
            .map_err(|e| Error::Internal(anyhow!("QDRANT_URL {url}: {e}")))?;
        Ok(Self {
            client,
            dimensions: RwLock::new(HashMap::new()),
        })
    }

    /// The collection's vector size, `None` when it does not exist.
    async fn collection_dimension(&self, collection: &str) -> Result<Option<usize>> {
        if let Some(d) = self.dimensions.read().get(collection) {
            return Ok(Some(*d));
        }
        if !self
            .client
            .collection_exists(collection)
            .await
            .map_err(|e| translate(e, collection))?
        {
            return Ok(None);
        }
        let info = self
            .client
            .collection_info(collection)
            .await
            .map_err(|e| translate(e, collection))?;
        let size = info
            .result
            .and_then(|i| i.config)
            .and_then(|c| c.params)
            .and_then(|p| p.vectors_config)
            .and_then(|v| v.config)
            .and_then(|c| match c {
                VectorsConfigKind::Params(p) => Some(p.size),
                // Named vectors: not a collection this adapter made.
                VectorsConfigKind::ParamsMap(_) => None,
            })
            .ok_or_else(|| Error::Conflict {
                detail: format!("collection {collection} has no single unnamed vector"),
                resource_type: "collection",
                resource_id: Some(collection.to_owned()),
            })?;
        let size = usize::try_from(size).map_err(|e| Error::Internal(anyhow!(e)))?;
        self.dimensions.write().insert(collection.to_owned(), size);
        Ok(Some(size))
    }

    async fn create(&self, collection: &str, dimension: usize) -> Result<()> {
        let created = self
            .client
            .create_collection(
                CreateCollectionBuilder::new(collection)
                    .vectors_config(VectorParamsBuilder::new(dimension as u64, Distance::Cosine)),
            )
            .await;
        match created {
            Ok(_) => {}
            // Another replica created it meanwhile: check its size below.
            Err(e) if status_code(&e) == Some(tonic_code::ALREADY_EXISTS) => {}
            Err(e) => return Err(translate(e, collection)),
        }
        for (field, kind) in INDEXED_FIELDS {
            // Creating an index that exists is accepted by Qdrant, so a
            // retry after a partial failure completes the set.
            self.client
                .create_field_index(
                    CreateFieldIndexCollectionBuilder::new(collection, field, kind).wait(true),
                )
                .await
                .map_err(|e| translate(e, collection))?;
        }
        Ok(())
    }
}

/// gRPC status codes compared as numbers, so this module needs no direct
/// dependency on tonic.
mod tonic_code {
    pub const CANCELLED: i32 = 1;
    pub const UNKNOWN: i32 = 2;
    pub const DEADLINE_EXCEEDED: i32 = 4;
    pub const NOT_FOUND: i32 = 5;
    pub const ALREADY_EXISTS: i32 = 6;
    pub const RESOURCE_EXHAUSTED: i32 = 8;
    pub const INTERNAL: i32 = 13;
    pub const UNAVAILABLE: i32 = 14;
}

fn status_code(e: &QdrantError) -> Option<i32> {
    match e {
        QdrantError::ResponseError { status } => Some(status.code() as i32),
        QdrantError::ResourceExhaustedError { .. } => Some(tonic_code::RESOURCE_EXHAUSTED),
        _ => None,
    }
}

/// Whether the server never answered: refused, reset or timed out. The
/// client reports a connection it could not open as `Internal` ("Failed to
/// connect to …", qdrant-client's channel pool) and a broken one as
/// `Unknown` ("transport error"), so the code alone cannot tell an outage
/// from a fault of a server that did answer; the message can.
fn unreachable(e: &QdrantError) -> bool {
    let QdrantError::ResponseError { status } = e else {
        return matches!(e, QdrantError::Io(_));
    };
    match status.code() as i32 {
        tonic_code::UNAVAILABLE | tonic_code::DEADLINE_EXCEEDED | tonic_code::CANCELLED => true,
        tonic_code::INTERNAL | tonic_code::UNKNOWN => {
            let message = status.message();
            message.starts_with("Failed to connect") || message.contains("transport error")
        }
        _ => false,
    }
}

/// Driver errors become the platform's: an unreachable or overloaded
/// server is `Unavailable` (503, retryable; the message names Qdrant for
/// the log), a missing collection `NotFound`.
fn translate(e: QdrantError, collection: &str) -> Error {
    if unreachable(&e) || status_code(&e) == Some(tonic_code::RESOURCE_EXHAUSTED) {
        return Error::Unavailable(format!("qdrant: {e}"));
    }
    match status_code(&e) {
        Some(tonic_code::NOT_FOUND) => missing(collection),
        _ => Error::Internal(anyhow!("qdrant: {e}")),
    }
}

fn missing(collection: &str) -> Error {
    Error::not_found("collection", collection)
}

fn to_point(p: VectorPoint) -> Result<PointStruct> {
    let payload = serde_json::to_value(&p.payload).map_err(|e| Error::Internal(anyhow!(e)))?;
    let payload = Payload::try_from(payload).map_err(|e| Error::Internal(anyhow!(e)))?;
    Ok(PointStruct::new(p.id.to_string(), p.vector, payload))
}

fn from_scored(p: qdrant_client::qdrant::ScoredPoint) -> Result<ScoredPoint> {
    let id = match p.id.and_then(|id| id.point_id_options) {
        Some(PointIdOptions::Uuid(s)) => {
            Uuid::parse_str(&s).map_err(|e| Error::Internal(anyhow!("qdrant point id {s}: {e}")))?
        }
        other => {
            return Err(Error::Internal(anyhow!(
                "unexpected qdrant point id {other:?}"
            )))
        }
    };
    let payload: serde_json::Value = Payload::from(p.payload).into();
    let payload: ChunkPayload = serde_json::from_value(payload)
        .map_err(|e| Error::Internal(anyhow!("qdrant payload of point {id}: {e}")))?;
    Ok(ScoredPoint {
        id,
        score: p.score,
        payload,
    })
}

/// The port's filter as Qdrant conditions; `None` when nothing filters.
fn to_filter(f: &VectorFilter) -> Option<Filter> {
    let mut must = Vec::new();
    if !f.tags.is_empty() {
        must.push(Condition::matches("tags", f.tags.clone()));
    }
    if let Some(source) = &f.source {
        must.push(Condition::matches("source", source.clone()));
    }
    if let Some(tool_id) = f.tool_id {
        must.push(Condition::matches("tool_id", tool_id.to_string()));
    }
    if let Some(user) = f.visible_to {
        must.push(
            Filter::should([
                Condition::matches("public", true),
                Condition::matches("owner_id", user.to_string()),
            ])
            .into(),
        );
    }
    (!must.is_empty()).then(|| Filter::must(must))
}

#[async_trait]
impl Ping for QdrantIndex {
    async fn ping(&self) -> Result<()> {
        self.client
            .health_check()
            .await
            .map(|_| ())
            .map_err(|e| Error::Unavailable(format!("qdrant: {e}")))
    }
}

#[async_trait]
impl VectorIndex for QdrantIndex {
    async fn ensure_collection(&self, collection: &str, dimension: usize) -> Result<()> {
        if dimension == 0 {
            return Err(Error::Validation(vec![FieldError::new(
                &["dimension"],
                "value_error",
                "a collection needs at least one dimension",
            )]));
        }
        let existing = match self.collection_dimension(collection).await? {
            Some(d) => d,
            None => {
                self.create(collection, dimension).await?;
                self.dimensions.write().remove(collection);
                self.collection_dimension(collection)
                    .await?
                    .ok_or_else(|| missing(collection))?
            }
        };
        if existing != dimension {
            return Err(Error::Conflict {
                detail: format!(
                    "collection {collection} holds {existing}-dimension vectors, not {dimension}"
                ),
                resource_type: "collection",
                resource_id: Some(collection.to_owned()),
            });
        }
        Ok(())
    }

    async fn upsert(&self, collection: &str, points: Vec<VectorPoint>) -> Result<()> {
        if points.is_empty() {
            return Ok(());
        }
        let dimension = self
            .collection_dimension(collection)
            .await?
            .ok_or_else(|| missing(collection))?;
        // Every vector is checked before the first request, so a bad one
        // stores nothing of the batch.
        if let Some((i, p)) = points
            .iter()
            .enumerate()
            .find(|(_, p)| p.vector.len() != dimension)
        {
            return Err(Error::Validation(vec![FieldError::new(
                &["points", &i.to_string(), "vector"],
                "value_error",
                format!(
                    "expected {dimension} dimensions, got {} (point {})",
                    p.vector.len(),
                    p.id
                ),
            )]));
        }
        let points = points
            .into_iter()
            .map(to_point)
            .collect::<Result<Vec<_>>>()?;
        // Several requests for a large batch: each is applied (wait=true)
        // before the next is sent. A failure midway leaves earlier chunks
        // stored; upserting by stable ids makes the caller's retry complete it.
        for chunk in points.chunks(UPSERT_BATCH) {
            self.client
                .upsert_points(UpsertPointsBuilder::new(collection, chunk.to_vec()).wait(true))
                .await
                .map_err(|e| translate(e, collection))?;
        }
        Ok(())
    }

    async fn delete_document(&self, collection: &str, document_id: Uuid) -> Result<()> {
        let deleted = self
            .client
            .delete_points(
                DeletePointsBuilder::new(collection)
                    .points(Filter::must([Condition::matches(
                        "document_id",
                        document_id.to_string(),
                    )]))
                    .wait(true),
            )
            .await;
        match deleted {
            Ok(_) => Ok(()),
            // No collection, no points of the document: already done.
            Err(e) if status_code(&e) == Some(tonic_code::NOT_FOUND) => Ok(()),
            Err(e) => Err(translate(e, collection)),
        }
    }

    async fn search(
        &self,
        collection: &str,
        vector: &[f32],
        filter: &VectorFilter,
        limit: usize,
    ) -> Result<Vec<ScoredPoint>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let dimension = self
            .collection_dimension(collection)
            .await?
            .ok_or_else(|| missing(collection))?;
        if vector.len() != dimension {
            return Err(Error::Validation(vec![FieldError::new(
                &["vector"],
                "value_error",
                format!("expected {dimension} dimensions, got {}", vector.len()),
            )]));
        }
        let mut query = QueryPointsBuilder::new(collection)
            .query(Query::new_nearest(vector.to_vec()))
            .limit(limit as u64)
            .with_payload(true);
        if let Some(f) = to_filter(filter) {
            query = query.filter(f);
        }
        let found = self
            .client
            .query(query)
            .await
            .map_err(|e| translate(e, collection))?;
        let mut points = found
            .result
            .into_iter()
            .map(from_scored)
            .collect::<Result<Vec<_>>>()?;
        // Qdrant returns them ranked already; sorting keeps the port's
        // promise even if a future server breaks ties differently.
        points.sort_by(|a, b| b.score.total_cmp(&a.score));
        Ok(points)
    }

    async fn drop_collection(&self, collection: &str) -> Result<()> {
        self.dimensions.write().remove(collection);
        match self.client.delete_collection(collection).await {
            Ok(_) => Ok(()),
            Err(e) if status_code(&e) == Some(tonic_code::NOT_FOUND) => Ok(()),
            Err(e) => Err(translate(e, collection)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A port nothing listens on: what a stopped Qdrant looks like.
    fn closed_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port")
    }

    #[tokio::test]
    async fn a_server_that_does_not_answer_is_unavailable_not_internal() {
        let index = QdrantIndex::connect(&format!("http://127.0.0.1:{}", closed_port()), None)
            .expect("the client builds without connecting");
        let searched = index
            .search("documents", &[1.0, 0.0], &VectorFilter::default(), 5)
            .await;
        assert!(
            matches!(&searched, Err(Error::Unavailable(m)) if m.starts_with("qdrant")),
            "search: {searched:?}"
        );
        let upserted = index.ensure_collection("documents", 2).await;
        assert!(
            matches!(&upserted, Err(Error::Unavailable(_))),
            "{upserted:?}"
        );
        assert!(matches!(index.ping().await, Err(Error::Unavailable(_))));
    }

    #[test]
    fn an_empty_filter_filters_nothing() {
        assert!(to_filter(&VectorFilter::default()).is_none());
    }

    #[test]
    fn every_filter_field_becomes_a_required_condition() {
        let user = Uuid::new_v4();
        let f = to_filter(&VectorFilter {
            tags: vec!["a".into(), "b".into()],
            source: Some("docs".into()),
            tool_id: Some(Uuid::new_v4()),
            visible_to: Some(user),
        })
        .expect("a filter");
        assert_eq!(f.must.len(), 4);
        assert!(f.should.is_empty());
    }

    #[test]
    fn a_payload_survives_the_round_trip_through_qdrant_values() {
        let payload = ChunkPayload {
            document_id: Uuid::new_v4(),
            chunk_index: 3,
            title: "t".into(),
            source: None,
            tags: vec!["x".into()],
            tool_id: Some(Uuid::new_v4()),
            owner_id: None,
            public: true,
            created_at: chrono::Utc::now(),
        };
        let id = Uuid::new_v4();
        let point = to_point(VectorPoint {
            id,
            vector: vec![1.0, 0.0],
            payload: payload.clone(),
        })
        .expect("converts");
        let back = from_scored(qdrant_client::qdrant::ScoredPoint {
            id: point.id,
            payload: point.payload,
            score: 0.5,
            ..Default::default()
        })
        .expect("converts back");
        assert_eq!(back.id, id);
        assert_eq!(back.payload, payload);
    }
}
