//! Properties of the knowledge base (SPEC §5.5), over generated inputs:
//! search results are sorted by descending score and respect filters and
//! limits; every stored vector has its collection's dimension; after a
//! delete no result names the document; after a reindex (the embedding
//! model changed) the same queries return the same documents.

use std::sync::Arc;

use mcp_platform::adapters::embedded::{dot, FlatIndex, OfflineEmbedder};
use mcp_platform::adapters::sql::{SqlJobQueue, SqlStore};
use mcp_platform::knowledge::{chunk, Knowledge, DOCUMENTS};
use mcp_platform::ports::{
    ChunkPayload, DocumentStatus, DocumentStore, StoredDocument, VectorFilter, VectorIndex,
    VectorPoint,
};
use mcp_platform_tests::tempdir::TempDir;
use proptest::prelude::*;
use sqlx::Row;
use uuid::Uuid;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

async fn sqlite(dir: &TempDir) -> SqlStore {
    let s = SqlStore::connect_sqlite_file(&dir.0.join("props.db"))
        .await
        .expect("sqlite opens");
    s.migrator().run(s.pool()).await.expect("migrates");
    s
}

fn unit(v: Vec<f32>) -> Vec<f32> {
    let mut v = v;
    mcp_platform::adapters::embedded::normalize(&mut v);
    v
}

fn payload(document_id: Uuid, i: u32, tag: u8, public: bool, owner: Uuid) -> ChunkPayload {
    ChunkPayload {
        document_id,
        chunk_index: i,
        title: format!("doc {document_id}"),
        source: Some(format!("s{}", tag % 2)),
        tags: vec![format!("t{tag}")],
        tool_id: None,
        owner_id: Some(owner),
        public,
        created_at: chrono::Utc::now(),
    }
}

const WORDS: &[&str] = &[
    "weather",
    "forecast",
    "rain",
    "database",
    "query",
    "postgres",
    "file",
    "directory",
    "email",
    "slack",
    "message",
    "deploy",
    "kubernetes",
    "pod",
    "token",
    "refresh",
    "search",
    "vector",
    "index",
    "chunk",
    "calendar",
    "meeting",
    "invoice",
    "refund",
    "translate",
    "german",
];

fn text_strategy() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(WORDS), 3..25).prop_map(|w| w.join(" "))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// The flat index returns exactly the brute-force top k of the points
    /// passing the filter, by descending score.
    #[test]
    fn index_results_are_the_filtered_top_k_in_descending_order(
        vectors in prop::collection::vec((prop::collection::vec(-1.0f32..1.0, 12), 0u8..4, any::<bool>()), 1..60),
        query in prop::collection::vec(-1.0f32..1.0, 12),
        limit in 1usize..20,
        tag in prop::option::of(0u8..4),
        as_stranger in any::<bool>(),
    ) {
        runtime().block_on(async {
            let index = FlatIndex::in_memory();
            index.ensure_collection("p", 12).await.expect("create");
            let owner = Uuid::new_v4();
            let points: Vec<VectorPoint> = vectors.iter().map(|(v, t, public)| {
                let doc = Uuid::new_v4();
                VectorPoint { id: doc, vector: unit(v.clone()), payload: payload(doc, 0, *t, *public, owner) }
            }).collect();
            index.upsert("p", points.clone()).await.expect("upsert");
            let filter = VectorFilter {
                tags: tag.map(|t| vec![format!("t{t}")]).unwrap_or_default(),
                visible_to: as_stranger.then(Uuid::new_v4),
                ..Default::default()
            };
            let q = unit(query.clone());
            let hits = index.search("p", &q, &filter, limit).await.expect("search");
            prop_assert!(hits.windows(2).all(|w| w[0].score >= w[1].score), "descending");
            let mut expected: Vec<(f32, Uuid)> = points.iter()
                .filter(|p| tag.is_none_or(|t| p.payload.tags == [format!("t{t}")]))
                .filter(|p| !as_stranger || p.payload.public)
                .map(|p| (dot(&q, &p.vector), p.id))
                .collect();
            expected.sort_by(|a, b| b.0.total_cmp(&a.0));
            expected.truncate(limit);
            prop_assert_eq!(hits.len(), expected.len());
            for (hit, (score, _)) in hits.iter().zip(&expected) {
                prop_assert!((hit.score - score).abs() < 1e-4, "{} vs {}", hit.score, score);
            }
            Ok(())
        })?;
    }

    /// Whatever mix of dimensions is offered, only the collection's is stored.
    #[test]
    fn every_stored_vector_has_the_collections_dimension(
        batches in prop::collection::vec(prop::collection::vec(1usize..12, 1..5), 1..8),
    ) {
        runtime().block_on(async {
            let dir = TempDir::new();
            let store = sqlite(&dir).await;
            let index = FlatIndex::open(store.clone()).await.expect("open");
            index.ensure_collection("d", 8).await.expect("create");
            let mut accepted = 0;
            for dims in &batches {
                let points: Vec<VectorPoint> = dims.iter().map(|d| {
                    let doc = Uuid::new_v4();
                    VectorPoint { id: doc, vector: unit(vec![1.0; *d]), payload: payload(doc, 0, 0, true, doc) }
                }).collect();
                let all_right = dims.iter().all(|d| *d == 8);
                let result = index.upsert("d", points).await;
                prop_assert_eq!(result.is_ok(), all_right, "a batch with a wrong dimension stores nothing");
                if all_right { accepted += dims.len(); }
            }
            prop_assert_eq!(index.len("d"), accepted);
            let rows = sqlx::query("SELECT vector FROM vector_points").fetch_all(store.pool()).await.expect("rows");
            prop_assert_eq!(rows.len(), accepted);
            for row in rows {
                let bytes: Vec<u8> = row.try_get("vector").expect("blob");
                prop_assert_eq!(bytes.len(), 8 * 4);
            }
            Ok(())
        })?;
    }

    /// Deleted documents never come back from search, by any query.
    #[test]
    fn after_delete_no_result_names_the_document(
        texts in prop::collection::vec(text_strategy(), 2..10),
        delete_mask in prop::collection::vec(any::<bool>(), 10),
        queries in prop::collection::vec(text_strategy(), 1..5),
    ) {
        runtime().block_on(async {
            let dir = TempDir::new();
            let (k, jobs, _) = knowledge(&dir, 64).await;
            let mut ids = Vec::new();
            for t in &texts {
                ids.push(add(&k, &jobs, t).await);
            }
            let mut deleted = Vec::new();
            for (id, del) in ids.iter().zip(&delete_mask) {
                if *del {
                    prop_assert!(k.remove(DOCUMENTS, *id).await.expect("remove"));
                    deleted.push(*id);
                }
            }
            for q in queries.iter().chain(texts.iter()) {
                let hits = k.search(DOCUMENTS, q, &VectorFilter::default(), 50).await.expect("search");
                prop_assert!(hits.windows(2).all(|w| w[0].score >= w[1].score), "descending");
                prop_assert!(hits.iter().all(|h| !deleted.contains(&h.document_id)), "a deleted document was found");
                let mut seen = std::collections::HashSet::new();
                prop_assert!(hits.iter().all(|h| seen.insert(h.document_id)), "one result per document");
            }
            Ok(())
        })?;
    }
}

async fn knowledge(dir: &TempDir, dimension: usize) -> (Knowledge, SqlJobQueue, SqlStore) {
    let store = sqlite(dir).await;
    let k = Knowledge::new(
        Arc::new(OfflineEmbedder::new(dimension)),
        Arc::new(FlatIndex::open(store.clone()).await.expect("open")),
        Arc::new(store.clone()),
        1_000_000,
    );
    k.start().await.expect("start");
    (k, SqlJobQueue::new(store.clone(), 5), store)
}

async fn add(k: &Knowledge, jobs: &SqlJobQueue, text: &str) -> Uuid {
    let now = mcp_platform::domain::now();
    let id = Uuid::new_v4();
    k.add(
        jobs,
        StoredDocument {
            id,
            collection: DOCUMENTS.into(),
            title: text.split(' ').take(3).collect::<Vec<_>>().join(" "),
            chunks: chunk::chunk(text),
            content: text.to_owned(),
            source: None,
            tags: vec![],
            language: None,
            tool_id: None,
            owner_id: None,
            public: true,
            status: DocumentStatus::Pending,
            embedding_model: None,
            created_at: now,
            updated_at: now,
        },
    )
    .await
    .expect("add");
    id
}

/// A knowledge base built under one model, then opened with another: the
/// start notices, the sweep (what `reindex_knowledge` runs) re-embeds every
/// document into the new model's collection and drops the old one, and
/// queries then answer exactly as a base built under the new model from
/// scratch does.
#[tokio::test]
async fn after_a_reindex_the_same_queries_return_the_same_documents() {
    let texts: Vec<String> = serde_json::from_str::<Vec<serde_json::Value>>(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("retrieval/documents.json"),
        )
        .expect("set"),
    )
    .expect("json")
    .iter()
    .map(|d| {
        format!(
            "{}. {}",
            d["title"].as_str().unwrap_or_default(),
            d["content"].as_str().unwrap_or_default()
        )
    })
    .collect();
    let queries = [
        "weather forecast rain",
        "restart a pod",
        "refresh token reuse",
        "upload to s3",
        "embedding model",
    ];

    let old_dir = TempDir::new();
    let (old, jobs, store) = knowledge(&old_dir, 128).await;
    let mut ids = Vec::new();
    for t in &texts {
        ids.push(add(&old, &jobs, t).await);
    }
    let old_collection = old.collection(DOCUMENTS);
    drop(old);

    // The same data, the default model: stale at start, then swept.
    let reopened = Knowledge::new(
        Arc::new(OfflineEmbedder::new(384)),
        Arc::new(FlatIndex::open(store.clone()).await.expect("open")),
        Arc::new(store.clone()),
        1_000_000,
    );
    assert!(
        reopened.start().await.expect("start"),
        "a model change is noticed at start"
    );
    let report = reopened.sweep().await.expect("sweep");
    assert_eq!(report.indexed, texts.len());
    assert!(
        !reopened.start().await.expect("start again"),
        "nothing stale after the reindex"
    );
    let model = reopened.model_key();
    for id in &ids {
        let d = store.get(DOCUMENTS, *id).await.expect("get").expect("kept");
        assert_eq!(
            (d.status, d.embedding_model.as_deref()),
            (DocumentStatus::Indexed, Some(model.as_str()))
        );
    }
    let index_after = FlatIndex::open(store.clone()).await.expect("open");
    assert_eq!(
        index_after.len(&old_collection),
        0,
        "the old model's collection is dropped"
    );

    let fresh_dir = TempDir::new();
    let (fresh, fresh_jobs, _) = knowledge(&fresh_dir, 384).await;
    let mut fresh_ids = Vec::new();
    for t in &texts {
        fresh_ids.push(add(&fresh, &fresh_jobs, t).await);
    }
    for q in queries {
        let position = |hits: Vec<mcp_platform::knowledge::Hit>, ids: &[Uuid]| -> Vec<usize> {
            hits.iter()
                .filter_map(|h| ids.iter().position(|id| *id == h.document_id))
                .collect()
        };
        let a = position(
            reopened
                .search(DOCUMENTS, q, &VectorFilter::default(), 10)
                .await
                .expect("search"),
            &ids,
        );
        let b = position(
            fresh
                .search(DOCUMENTS, q, &VectorFilter::default(), 10)
                .await
                .expect("search"),
            &fresh_ids,
        );
        assert_eq!(a, b, "{q}: the reindexed base answers like a fresh one");
        assert!(!a.is_empty());
    }
}
