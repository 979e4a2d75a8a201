//! The `VectorIndex` contract (shared/src/ports.rs), one `async fn` per
//! behaviour taking `&dyn VectorIndex` and a fresh collection name, run
//! against every instance [`instances`] lists:
//! - `reference`: a brute-force index written here from the port's doc
//!   comments, so the suite itself is checked on every run;
//! - `qdrant`: when `MCP_TEST_QDRANT_URL` is set (gRPC, e.g.
//!   `http://127.0.0.1:6334`) and the `qdrant` feature is on:
//!   `cargo test -p mcp-platform-tests --features qdrant --test suite -- vector_index::`.
//!   The real Qdrant 1.16.3 is `../shared/tools/qdrant/start.sh GRPC HTTP DIR`
//!   (`.ci/run` starts it and sets the URL); without the URL the Qdrant
//!   instance is skipped with a message (the agreed exception).
//!
//! Adding an adapter is one entry in [`instances`].
//!
//! With the `qdrant` feature, [`qdrant_outage`] also runs the platform on a
//! Qdrant server of its own (`tests/qdrant.rs`), stops it and starts it again.

use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::Utc;
use futures::FutureExt;
use mcp_platform::error::{Error, FieldError, Result};
use mcp_platform::ports::{
    ChunkPayload, Ping, ScoredPoint, VectorFilter, VectorIndex, VectorPoint,
};
use uuid::Uuid;

// ------------------------------------------------------------ instances

struct Instance {
    name: &'static str,
    index: Arc<dyn VectorIndex>,
}

/// Every index the suite runs against. Add an adapter here.
fn instances() -> Vec<Instance> {
    let mut all = vec![
        Instance {
            name: "reference",
            index: Arc::new(ReferenceIndex::default()),
        },
        // The embedded exact index (its SQLite persistence is covered by
        // knowledge_contracts.rs; the contract is the same in memory).
        Instance {
            name: "embedded",
            index: Arc::new(mcp_platform::adapters::embedded::FlatIndex::in_memory()),
        },
    ];
    match std::env::var("MCP_TEST_QDRANT_URL")
        .ok()
        .filter(|u| !u.is_empty())
    {
        Some(url) => all.push(qdrant(&url)),
        None => eprintln!(
            "vector_index: Qdrant skipped: MCP_TEST_QDRANT_URL is not set \
             (e.g. http://127.0.0.1:6334, with --features qdrant)"
        ),
    }
    all
}

#[cfg(feature = "qdrant")]
fn qdrant(url: &str) -> Instance {
    let key = std::env::var("MCP_TEST_QDRANT_API_KEY").ok();
    Instance {
        name: "qdrant",
        index: Arc::new(
            mcp_platform::adapters::qdrant::QdrantIndex::connect(url, key)
                .expect("the Qdrant client builds"),
        ),
    }
}

#[cfg(not(feature = "qdrant"))]
fn qdrant(url: &str) -> Instance {
    panic!(
        "MCP_TEST_QDRANT_URL={url} is set but the Qdrant adapter is not built: \
         cargo test -p mcp-platform-tests --features qdrant --test suite -- vector_index::"
    )
}

type Behaviour = for<'a> fn(&'a dyn VectorIndex, &'a str) -> Pin<Box<dyn Future<Output = ()> + 'a>>;

/// Runs one behaviour on every instance, each in a collection of its own
/// that is dropped afterwards, also when the behaviour fails.
async fn run(behaviour: &str, check: Behaviour) {
    for instance in instances() {
        let collection = format!("contract_{behaviour}_{}", Uuid::new_v4().simple());
        let index = instance.index.as_ref();
        index
            .ping()
            .await
            .unwrap_or_else(|e| panic!("{}: ping: {e}", instance.name));
        let outcome = AssertUnwindSafe(check(index, &collection))
            .catch_unwind()
            .await;
        let dropped = index.drop_collection(&collection).await;
        if let Err(panic) = outcome {
            eprintln!("vector_index: {behaviour} failed on {}", instance.name);
            std::panic::resume_unwind(panic);
        }
        dropped.unwrap_or_else(|e| panic!("{}: drop_collection: {e}", instance.name));
    }
}

macro_rules! contract {
    ($($name:ident),* $(,)?) => {$(
        #[tokio::test]
        async fn $name() {
            run(stringify!($name), |index, collection| Box::pin(behaviours::$name(index, collection))).await;
        }
    )*};
}

contract!(
    dimension_is_enforced,
    ensure_collection_is_idempotent_and_refuses_another_dimension,
    upsert_replaces_by_id,
    scores_are_cosine_and_descending,
    tag_filter_matches_any_and_applies_before_ranking,
    source_and_tool_filters_apply_before_ranking,
    visible_to_keeps_public_and_own_points,
    delete_document_removes_all_its_points,
    drop_collection_removes_collection_and_points,
);

// ------------------------------------------------------------ fixtures

const DIM: usize = 8;

fn unit(v: &[f32]) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter().map(|x| x / n).collect()
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    dot / (a.iter().map(|x| x * x).sum::<f32>().sqrt()
        * b.iter().map(|x| x * x).sum::<f32>().sqrt())
}

/// A deterministic pseudo-random unit vector (no RNG state shared between
/// tests, so failures replay).
fn vector(seed: u64) -> Vec<f32> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let raw: Vec<f32> = (0..DIM)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % 2001) as f32 / 1000.0 - 1.0
        })
        .collect();
    unit(&raw)
}

/// `base` moved towards `towards` by `t` (0 = base, 1 = towards): lets a
/// test order points by closeness to a query on purpose.
fn blend(base: &[f32], towards: &[f32], t: f32) -> Vec<f32> {
    unit(
        &base
            .iter()
            .zip(towards)
            .map(|(a, b)| a * (1.0 - t) + b * t)
            .collect::<Vec<_>>(),
    )
}

fn payload(document_id: Uuid, chunk_index: u32) -> ChunkPayload {
    ChunkPayload {
        document_id,
        chunk_index,
        title: format!("doc {document_id} chunk {chunk_index}"),
        source: None,
        tags: Vec::new(),
        tool_id: None,
        owner_id: None,
        public: true,
        created_at: Utc::now(),
    }
}

fn point(vector: Vec<f32>, payload: ChunkPayload) -> VectorPoint {
    VectorPoint {
        id: Uuid::new_v4(),
        vector,
        payload,
    }
}

async fn search_all(
    index: &dyn VectorIndex,
    c: &str,
    q: &[f32],
    f: &VectorFilter,
) -> Vec<ScoredPoint> {
    index.search(c, q, f, 1000).await.expect("search")
}

// ------------------------------------------------------------ behaviours

mod behaviours {
    use super::*;

    pub async fn dimension_is_enforced(index: &dyn VectorIndex, c: &str) {
        index.ensure_collection(c, DIM).await.expect("ensure");
        let doc = Uuid::new_v4();
        let good = point(vector(1), payload(doc, 0));
        let mut short = vector(2);
        short.pop();
        let bad = point(short, payload(doc, 1));
        let refused = index.upsert(c, vec![good.clone(), bad]).await;
        assert!(
            matches!(refused, Err(Error::Validation(_))),
            "a wrong-dimension vector is a Validation error, got {refused:?}"
        );
        assert!(
            search_all(index, c, &vector(1), &VectorFilter::default())
                .await
                .is_empty(),
            "nothing of a refused batch is stored"
        );

        index
            .upsert(c, vec![good.clone()])
            .await
            .expect("a good batch");
        let found = search_all(index, c, &vector(1), &VectorFilter::default()).await;
        assert_eq!(
            found.iter().map(|p| p.id).collect::<Vec<_>>(),
            vec![good.id]
        );
    }

    pub async fn ensure_collection_is_idempotent_and_refuses_another_dimension(
        index: &dyn VectorIndex,
        c: &str,
    ) {
        index.ensure_collection(c, DIM).await.expect("create");
        let p = point(vector(3), payload(Uuid::new_v4(), 0));
        index.upsert(c, vec![p.clone()]).await.expect("upsert");
        index
            .ensure_collection(c, DIM)
            .await
            .expect("again, same dimension");
        let found = search_all(index, c, &vector(3), &VectorFilter::default()).await;
        assert_eq!(found.len(), 1, "ensuring again keeps the points");

        let other = index.ensure_collection(c, DIM + 1).await;
        assert!(
            matches!(other, Err(Error::Conflict { .. })),
            "another dimension is a Conflict, got {other:?}"
        );
        index
            .ensure_collection(c, DIM)
            .await
            .expect("still the old dimension");
    }

    pub async fn upsert_replaces_by_id(index: &dyn VectorIndex, c: &str) {
        index.ensure_collection(c, DIM).await.expect("ensure");
        let doc = Uuid::new_v4();
        let first = point(vector(10), payload(doc, 0));
        index.upsert(c, vec![first.clone()]).await.expect("first");
        let mut second = first.clone();
        second.vector = vector(11);
        second.payload.title = "replaced".into();
        second.payload.tags = vec!["new".into()];
        index.upsert(c, vec![second.clone()]).await.expect("second");

        let found = search_all(index, c, &vector(11), &VectorFilter::default()).await;
        assert_eq!(found.len(), 1, "one point per id");
        assert_eq!(found[0].id, first.id);
        assert_eq!(found[0].payload, second.payload, "the payload is replaced");
        assert!(
            (found[0].score - 1.0).abs() < 1e-4,
            "the vector is replaced: score against the new one is {}",
            found[0].score
        );
    }

    pub async fn scores_are_cosine_and_descending(index: &dyn VectorIndex, c: &str) {
        index.ensure_collection(c, DIM).await.expect("ensure");
        let points: Vec<VectorPoint> = (0..60)
            .map(|i| point(vector(100 + i), payload(Uuid::new_v4(), 0)))
            .collect();
        index.upsert(c, points.clone()).await.expect("upsert");
        let query = vector(7);
        let found = index
            .search(c, &query, &VectorFilter::default(), 10)
            .await
            .expect("search");
        assert_eq!(found.len(), 10, "limit results when more are stored");
        assert!(
            found.windows(2).all(|w| w[0].score >= w[1].score),
            "descending scores: {:?}",
            found.iter().map(|p| p.score).collect::<Vec<_>>()
        );
        let by_id: HashMap<Uuid, &VectorPoint> = points.iter().map(|p| (p.id, p)).collect();
        for p in &found {
            let expected = cosine(&by_id[&p.id].vector, &query);
            assert!(
                (p.score - expected).abs() < 1e-4,
                "score {} is the cosine similarity {expected}",
                p.score
            );
        }
        let mut exact: Vec<f32> = points.iter().map(|p| cosine(&p.vector, &query)).collect();
        exact.sort_by(|a, b| b.total_cmp(a));
        assert!(
            (found[9].score - exact[9]).abs() < 1e-4,
            "the 10 closest points, not 10 close ones"
        );
    }

    pub async fn tag_filter_matches_any_and_applies_before_ranking(
        index: &dyn VectorIndex,
        c: &str,
    ) {
        index.ensure_collection(c, DIM).await.expect("ensure");
        let query = vector(20);
        let far = vector(21);
        let mut points = Vec::new();
        // Twenty points close to the query without the wanted tags…
        for i in 0..20 {
            let mut p = payload(Uuid::new_v4(), 0);
            p.tags = vec!["common".into()];
            points.push(point(blend(&far, &query, 0.9 - i as f32 * 0.01), p));
        }
        // …and three far ones with either wanted tag.
        for (i, tag) in ["alpha", "beta", "alpha"].into_iter().enumerate() {
            let mut p = payload(Uuid::new_v4(), 0);
            p.tags = vec!["other".into(), tag.into()];
            points.push(point(blend(&far, &query, 0.1 + i as f32 * 0.01), p));
        }
        index.upsert(c, points).await.expect("upsert");

        let filter = VectorFilter {
            tags: vec!["alpha".into(), "beta".into()],
            ..VectorFilter::default()
        };
        let found = index.search(c, &query, &filter, 3).await.expect("search");
        assert_eq!(
            found.len(),
            3,
            "filtering before ranking still fills the limit"
        );
        assert!(found
            .iter()
            .all(|p| p.payload.tags.iter().any(|t| t == "alpha" || t == "beta")));
        let only_beta = VectorFilter {
            tags: vec!["beta".into()],
            ..VectorFilter::default()
        };
        assert_eq!(search_all(index, c, &query, &only_beta).await.len(), 1);
        let none = VectorFilter {
            tags: vec!["missing".into()],
            ..VectorFilter::default()
        };
        assert!(search_all(index, c, &query, &none).await.is_empty());
    }

    pub async fn source_and_tool_filters_apply_before_ranking(index: &dyn VectorIndex, c: &str) {
        index.ensure_collection(c, DIM).await.expect("ensure");
        let query = vector(30);
        let far = vector(31);
        let tool = Uuid::new_v4();
        let mut points = Vec::new();
        for i in 0..10 {
            let mut p = payload(Uuid::new_v4(), 0);
            p.source = Some("web".into());
            p.tool_id = Some(Uuid::new_v4());
            points.push(point(blend(&far, &query, 0.9 - i as f32 * 0.01), p));
        }
        for i in 0..4 {
            let mut p = payload(Uuid::new_v4(), i);
            p.source = Some("manual".into());
            p.tool_id = (i % 2 == 0).then_some(tool);
            points.push(point(blend(&far, &query, 0.1 + i as f32 * 0.01), p));
        }
        index.upsert(c, points).await.expect("upsert");

        let by_source = VectorFilter {
            source: Some("manual".into()),
            ..VectorFilter::default()
        };
        let found = index
            .search(c, &query, &by_source, 3)
            .await
            .expect("search");
        assert_eq!(found.len(), 3);
        assert!(found
            .iter()
            .all(|p| p.payload.source.as_deref() == Some("manual")));

        let by_tool = VectorFilter {
            tool_id: Some(tool),
            ..VectorFilter::default()
        };
        let found = index.search(c, &query, &by_tool, 5).await.expect("search");
        assert_eq!(found.len(), 2, "only the tool's points: {found:?}");
        assert!(found.iter().all(|p| p.payload.tool_id == Some(tool)));

        let both = VectorFilter {
            source: Some("web".into()),
            tool_id: Some(tool),
            ..VectorFilter::default()
        };
        assert!(
            search_all(index, c, &query, &both).await.is_empty(),
            "filters combine with AND"
        );
    }

    pub async fn visible_to_keeps_public_and_own_points(index: &dyn VectorIndex, c: &str) {
        index.ensure_collection(c, DIM).await.expect("ensure");
        let query = vector(40);
        let far = vector(41);
        let (me, other) = (Uuid::new_v4(), Uuid::new_v4());
        let mut points = Vec::new();
        // The closest points are someone else's private ones.
        for i in 0..10 {
            let mut p = payload(Uuid::new_v4(), 0);
            p.owner_id = Some(other);
            p.public = false;
            points.push(point(blend(&far, &query, 0.9 - i as f32 * 0.01), p));
        }
        let mut mine = payload(Uuid::new_v4(), 0);
        mine.owner_id = Some(me);
        mine.public = false;
        points.push(point(blend(&far, &query, 0.2), mine));
        let mut public = payload(Uuid::new_v4(), 0);
        public.owner_id = Some(other);
        public.public = true;
        points.push(point(blend(&far, &query, 0.1), public));
        index.upsert(c, points).await.expect("upsert");

        let filter = VectorFilter {
            visible_to: Some(me),
            ..VectorFilter::default()
        };
        let found = index.search(c, &query, &filter, 2).await.expect("search");
        assert_eq!(
            found.len(),
            2,
            "my private point and the public one: {found:?}"
        );
        assert!(found
            .iter()
            .all(|p| p.payload.public || p.payload.owner_id == Some(me)));

        let everything = search_all(index, c, &query, &VectorFilter::default()).await;
        assert_eq!(everything.len(), 12, "no visible_to sees everything");
    }

    pub async fn delete_document_removes_all_its_points(index: &dyn VectorIndex, c: &str) {
        index.ensure_collection(c, DIM).await.expect("ensure");
        let (gone, kept) = (Uuid::new_v4(), Uuid::new_v4());
        let mut points: Vec<VectorPoint> = (0..3)
            .map(|i| point(vector(50 + u64::from(i)), payload(gone, i)))
            .collect();
        points.extend((0..2).map(|i| point(vector(60 + u64::from(i)), payload(kept, i))));
        index.upsert(c, points).await.expect("upsert");

        index.delete_document(c, gone).await.expect("delete");
        let found = search_all(index, c, &vector(50), &VectorFilter::default()).await;
        assert_eq!(found.len(), 2);
        assert!(found.iter().all(|p| p.payload.document_id == kept));
        index
            .delete_document(c, gone)
            .await
            .expect("deleting again is a no-op");
        index
            .delete_document(c, Uuid::new_v4())
            .await
            .expect("a document without points is a no-op");
    }

    pub async fn drop_collection_removes_collection_and_points(index: &dyn VectorIndex, c: &str) {
        index.ensure_collection(c, DIM).await.expect("ensure");
        index
            .upsert(c, vec![point(vector(70), payload(Uuid::new_v4(), 0))])
            .await
            .expect("upsert");
        index.drop_collection(c).await.expect("drop");
        // Gone: the name is free for another dimension, and empty.
        index
            .ensure_collection(c, DIM * 2)
            .await
            .expect("a dropped collection's name takes any dimension");
        let q = unit(&[1.0; DIM * 2]);
        assert!(search_all(index, c, &q, &VectorFilter::default())
            .await
            .is_empty());
        index.drop_collection(c).await.expect("drop");
        index
            .drop_collection(c)
            .await
            .expect("dropping a missing collection is a no-op");
    }
}

// ------------------------------------------------------------ reference index

/// The port's contract in its plainest form: brute-force cosine over a
/// map. It checks the suite (every behaviour must pass here) and is the
/// baseline the real adapters are held to.
type Collections = HashMap<String, (usize, HashMap<Uuid, VectorPoint>)>;

#[derive(Default)]
struct ReferenceIndex {
    collections: Mutex<Collections>,
}

impl ReferenceIndex {
    fn lock(&self) -> MutexGuard<'_, Collections> {
        self.collections
            .lock()
            .expect("no test panics holding the lock")
    }
}

fn missing(c: &str) -> Error {
    Error::not_found("collection", c)
}

fn passes(p: &ChunkPayload, f: &VectorFilter) -> bool {
    (f.tags.is_empty() || p.tags.iter().any(|t| f.tags.contains(t)))
        && f.source
            .as_ref()
            .is_none_or(|s| p.source.as_ref() == Some(s))
        && f.tool_id.is_none_or(|t| p.tool_id == Some(t))
        && f.visible_to
            .is_none_or(|u| p.public || p.owner_id == Some(u))
}

#[async_trait]
impl Ping for ReferenceIndex {
    async fn ping(&self) -> Result<()> {
        Ok(())
    }
}

#[async_trait]
impl VectorIndex for ReferenceIndex {
    async fn ensure_collection(&self, collection: &str, dimension: usize) -> Result<()> {
        let mut all = self.lock();
        let (dim, _) = all
            .entry(collection.to_owned())
            .or_insert_with(|| (dimension, HashMap::new()));
        if *dim != dimension {
            return Err(Error::Conflict {
                detail: format!("{collection} has dimension {dim}"),
                resource_type: "collection",
                resource_id: Some(collection.to_owned()),
            });
        }
        Ok(())
    }

    async fn upsert(&self, collection: &str, points: Vec<VectorPoint>) -> Result<()> {
        let mut all = self.lock();
        let (dim, stored) = all.get_mut(collection).ok_or_else(|| missing(collection))?;
        if points.iter().any(|p| p.vector.len() != *dim) {
            return Err(Error::Validation(vec![FieldError::new(
                &["vector"],
                "value_error",
                "wrong dimension",
            )]));
        }
        stored.extend(points.into_iter().map(|p| (p.id, p)));
        Ok(())
    }

    async fn delete_document(&self, collection: &str, document_id: Uuid) -> Result<()> {
        if let Some((_, stored)) = self.lock().get_mut(collection) {
            stored.retain(|_, p| p.payload.document_id != document_id);
        }
        Ok(())
    }

    async fn search(
        &self,
        collection: &str,
        vector: &[f32],
        filter: &VectorFilter,
        limit: usize,
    ) -> Result<Vec<ScoredPoint>> {
        let all = self.lock();
        let (_, stored) = all.get(collection).ok_or_else(|| missing(collection))?;
        let mut found: Vec<ScoredPoint> = stored
            .values()
            .filter(|p| passes(&p.payload, filter))
            .map(|p| ScoredPoint {
                id: p.id,
                score: cosine(&p.vector, vector),
                payload: p.payload.clone(),
            })
            .collect();
        found.sort_by(|a, b| b.score.total_cmp(&a.score));
        found.truncate(limit);
        Ok(found)
    }

    async fn drop_collection(&self, collection: &str) -> Result<()> {
        self.lock().remove(collection);
        Ok(())
    }
}

// ------------------------------------------------------------ outage

/// The platform on a Qdrant it owns: with the server stopped, every route
/// that reads the index fails fast with 503 and `/health` names `qdrant`;
/// once the server is back on the same ports and storage, both recover.
#[cfg(feature = "qdrant")]
mod qdrant_outage {
    use std::time::{Duration, Instant};

    use mcp_platform_tests::qdrant::QdrantServer;
    use mcp_platform_tests::{poll_until, spawn_app_with, Reply, TestApp};
    use serde_json::json;

    /// How long a request may take while the index is down.
    const FAIL_FAST: Duration = Duration::from_secs(5);

    async fn search(app: &TestApp, token: &str) -> Reply {
        app.post(
            "/api/v1/knowledge/search",
            Some(token),
            json!({"query": "weather forecast for the coming days"}),
        )
        .await
    }

    fn assert_unavailable(what: &str, reply: &Reply, took: Duration) {
        assert_eq!(
            (reply.status, reply.body["error_code"].as_str()),
            (503, Some("SERVICE_UNAVAILABLE")),
            "{what} with Qdrant stopped: {}",
            reply.text
        );
        assert!(took < FAIL_FAST, "{what} took {took:?}");
        assert!(
            !reply.text.contains("127.0.0.1"),
            "{what}: no internals in the body: {}",
            reply.text
        );
    }

    #[tokio::test]
    async fn with_qdrant_stopped_search_is_503_and_health_names_it_until_it_returns() {
        let mut qdrant = QdrantServer::start().await;
        let url = qdrant.url();
        let app = spawn_app_with(&[("VECTOR_INDEX", "qdrant"), ("QDRANT_URL", url.as_str())]).await;
        let dev = app.user("dev1", "developer").await;
        let token = dev.access_token.as_str();
        let added = app
            .post(
                "/api/v1/knowledge/documents",
                Some(token),
                json!({"title": "Weather forecast", "content": "Hourly temperature, rain and wind for the next seven days."}),
            )
            .await;
        assert_eq!(added.status, 201, "indexed in Qdrant: {}", added.text);
        let document_id = added.body["document_id"].clone();
        app.create_tool(token, "weather").await;
        let found = search(&app, token).await;
        assert_eq!(found.status, 200, "{}", found.text);
        assert_eq!(found.body["results"][0]["document_id"], document_id);
        let health = app.get("/health", None).await;
        assert_eq!(
            (health.status, &health.body["checks"]["qdrant"]),
            (200, &json!(true)),
            "/health lists and probes qdrant: {}",
            health.text
        );

        qdrant.stop().await;

        let started = Instant::now();
        let down = search(&app, token).await;
        assert_unavailable("knowledge search", &down, started.elapsed());
        let started = Instant::now();
        let catalog = app.get("/api/v1/mcps?q=forecast", Some(token)).await;
        assert_unavailable("GET /mcps?q=", &catalog, started.elapsed());
        let started = Instant::now();
        let health = app.get("/health", None).await;
        assert!(
            started.elapsed() < FAIL_FAST,
            "/health took {:?}",
            started.elapsed()
        );
        assert_eq!(
            (health.status, &health.body["checks"]["qdrant"]),
            (503, &json!(false)),
            "/health reports qdrant down: {}",
            health.text
        );
        assert_ne!(health.body["status"], "healthy", "{}", health.text);
        let added_while_down = app
            .post(
                "/api/v1/knowledge/documents",
                Some(token),
                json!({"title": "Tide tables", "content": "High and low tide times for harbours along the coast."}),
            )
            .await;
        assert_eq!(
            (
                added_while_down.status,
                added_while_down.body["status"].as_str()
            ),
            (202, Some("pending")),
            "stored, indexed once Qdrant is back: {}",
            added_while_down.text
        );
        let deleted = app
            .delete(
                &format!(
                    "/api/v1/knowledge/documents/{}",
                    document_id.as_str().expect("id")
                ),
                Some(token),
            )
            .await;
        assert_eq!(
            deleted.status, 204,
            "gone for readers at once: {}",
            deleted.text
        );

        qdrant.restart().await;

        poll_until(
            "knowledge search answers again",
            Duration::from_secs(30),
            async || search(&app, token).await.status == 200,
        )
        .await;
        // What the outage left undone, the periodic sweep finishes.
        let swept = app.state.knowledge.sweep().await.expect("sweep");
        assert_eq!((swept.indexed, swept.deleted), (1, 1), "{swept:?}");
        let tides = app
            .post(
                "/api/v1/knowledge/search",
                Some(token),
                json!({"query": "tide times in the harbour"}),
            )
            .await;
        assert_eq!(
            tides.body["results"][0]["document_id"], added_while_down.body["document_id"],
            "{}",
            tides.text
        );
        let found = search(&app, token).await;
        assert!(
            !found.text.contains(document_id.as_str().expect("id")),
            "the document deleted during the outage is gone from the index: {}",
            found.text
        );
        let health = app.get("/health", None).await;
        assert_eq!(
            (health.status, &health.body["checks"]["qdrant"]),
            (200, &json!(true)),
            "{}",
            health.text
        );
    }
}
