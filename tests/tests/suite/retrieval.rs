//! Retrieval quality of the knowledge base: 62 short documents about MCP
//! tools and platform features (`tests/retrieval/documents.json`) and 59
//! queries (`queries.json`): 51 phrased differently from their text, each
//! naming the document that answers it, and 8 the set cannot answer
//! (`expected: null`). Prints recall@5 and MRR for lexical-only, vector-only
//! and hybrid ranking, and recall@5 and precision@5 of knowledge search at
//! relevance thresholds from 0 to 0.8 — the table the default thresholds
//! of each embedder were chosen from (docs/search.md). Runs with the offline
//! embedder always, with the local model under the `local-embedder` feature.
//!
//! recall@5: answerable queries whose document is among the first 5 results
//! at or above the threshold. precision@5: of all results (first 5 per
//! query, at or above the threshold, no-answer queries included), the share
//! that is the query's document. Each query has one right document, so a
//! query answered by 5 results is at most 0.2 precise.

use mcp_platform::knowledge::DOCUMENTS;
use mcp_platform::ports::{DocumentStatus, StoredDocument, VectorFilter};
use mcp_platform_tests::{spawn_app, TestApp};
use serde::Deserialize;
use uuid::Uuid;

#[derive(Deserialize)]
struct Doc {
    id: String,
    title: String,
    content: String,
}

#[derive(Deserialize)]
struct Query {
    query: String,
    /// `None`: nothing in the set answers it.
    expected: Option<String>,
}

fn load<T: serde::de::DeserializeOwned>(name: &str) -> T {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("retrieval")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).expect("read the retrieval set"))
        .expect("parse the retrieval set")
}

/// Loads the set into the app's knowledge base; document ids by name.
pub async fn load_set(app: &TestApp) -> Vec<(String, Uuid)> {
    let docs: Vec<Doc> = load("documents.json");
    let mut ids = Vec::new();
    for d in docs {
        let id = Uuid::new_v4();
        let now = chrono::Utc::now();
        let added = app
            .state
            .knowledge
            .add(
                app.state.jobs.as_ref(),
                StoredDocument {
                    id,
                    collection: DOCUMENTS.into(),
                    title: d.title,
                    chunks: mcp_platform::knowledge::chunk::chunk(&d.content),
                    content: d.content,
                    source: Some("retrieval-set".into()),
                    tags: vec![],
                    language: Some("en".into()),
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
            .expect("add a document");
        assert_eq!(added, mcp_platform::knowledge::Added::Indexed);
        ids.push((d.id, id));
    }
    ids
}

#[derive(Default)]
struct Score {
    hits_at_5: usize,
    reciprocal_ranks: f64,
    n: usize,
}

impl Score {
    fn add(&mut self, ranked: &[Uuid], expected: Uuid) {
        self.n += 1;
        if let Some(pos) = ranked.iter().position(|id| *id == expected) {
            if pos < 5 {
                self.hits_at_5 += 1;
            }
            self.reciprocal_ranks += 1.0 / (pos as f64 + 1.0);
        }
    }
    fn recall(&self) -> f64 {
        self.hits_at_5 as f64 / self.n as f64
    }
    fn mrr(&self) -> f64 {
        self.reciprocal_ranks / self.n as f64
    }
}

/// Recall@5 and precision@5 of results at or above one threshold.
struct AtThreshold {
    recall: f64,
    precision: f64,
    /// Results returned for the queries nothing answers.
    unanswerable_results: usize,
}

/// Per query: its expected document and its first 5 results (id,
/// relevance, whether it shares a word with the query).
type Ranked = Vec<(Option<Uuid>, Vec<(Uuid, f32, bool)>)>;

/// Which results a search keeps at `threshold`: knowledge search those
/// whose relevance reaches it; the catalog (`GET /mcps?q=`) also every one
/// sharing a word with the query.
#[derive(Clone, Copy)]
enum Mode {
    Knowledge,
    Catalog,
}

fn at_threshold(ranked: &Ranked, threshold: f32, mode: Mode) -> AtThreshold {
    let (mut answerable, mut found, mut returned, mut right, mut unanswerable_results) =
        (0usize, 0usize, 0usize, 0usize, 0usize);
    for (expected, results) in ranked {
        let kept: Vec<Uuid> = results
            .iter()
            .filter(|(_, score, lexical)| {
                *score >= threshold || (matches!(mode, Mode::Catalog) && *lexical)
            })
            .map(|(id, ..)| *id)
            .collect();
        returned += kept.len();
        match expected {
            Some(expected) => {
                answerable += 1;
                if kept.contains(expected) {
                    found += 1;
                    right += 1;
                }
            }
            None => unanswerable_results += kept.len(),
        }
    }
    AtThreshold {
        recall: found as f64 / answerable as f64,
        precision: if returned == 0 {
            1.0
        } else {
            right as f64 / returned as f64
        },
        unanswerable_results,
    }
}

/// Runs the set against `app` (whose embedder `name` describes) and checks
/// the hybrid ranking, and knowledge search and the catalog at the app's
/// default thresholds: knowledge search at least `min_recall` and
/// `min_precision` and nothing for the unanswerable queries, the catalog
/// at least 0.95 recall@5.
async fn evaluate(app: &TestApp, name: &str, min_recall: f64, min_precision: f64) {
    let ids = load_set(app).await;
    let id_of = |name: &str| {
        ids.iter()
            .find(|(n, _)| n == name)
            .map(|(_, id)| *id)
            .expect("expected document is in the set")
    };
    let queries: Vec<Query> = load("queries.json");
    assert!(queries.len() >= 50 && ids.len() >= 60);
    let k = &app.state.knowledge;
    let all = VectorFilter::default();
    let (mut lexical, mut vector, mut hybrid) =
        (Score::default(), Score::default(), Score::default());
    let mut misses = Vec::new();
    let mut ranked: Ranked = Vec::new();
    for q in &queries {
        let expected = q.expected.as_deref().map(id_of);
        let hits = k
            .search(DOCUMENTS, &q.query, &all, 10)
            .await
            .expect("hybrid");
        assert!(
            hits.windows(2).all(|w| w[0].score >= w[1].score)
                && hits.iter().all(|h| (0.0..=1.0).contains(&h.score)),
            "{:?}: relevance in [0, 1], descending",
            q.query
        );
        ranked.push((
            expected,
            hits.iter()
                .take(5)
                .map(|h| (h.document_id, h.score, h.lexical))
                .collect(),
        ));
        let Some(expected) = expected else {
            continue;
        };
        lexical.add(
            &k.search_lexical(DOCUMENTS, &q.query, &all, 10)
                .await
                .expect("lexical"),
            expected,
        );
        vector.add(
            &k.search_vector(DOCUMENTS, &q.query, &all, 10)
                .await
                .expect("vector"),
            expected,
        );
        let order: Vec<Uuid> = hits.iter().map(|h| h.document_id).collect();
        if !order.iter().take(5).any(|id| *id == expected) {
            misses.push(q.query.clone());
        }
        hybrid.add(&order, expected);
    }
    let settings = &app.state.settings.knowledge;
    let (default, catalog_default) = (settings.search_min_score, settings.catalog_min_similarity);
    let mut table = String::new();
    for step in 0..=16u8 {
        let threshold = f32::from(step) * 0.05;
        let k = at_threshold(&ranked, threshold, Mode::Knowledge);
        let c = at_threshold(&ranked, threshold, Mode::Catalog);
        table.push_str(&format!(
            "\n    {threshold:.2}      {:.3}  {:.3}  {:>2}       {:.3}  {:.3}  {:>2}",
            k.recall,
            k.precision,
            k.unanswerable_results,
            c.recall,
            c.precision,
            c.unanswerable_results
        ));
    }
    let chosen = at_threshold(&ranked, default, Mode::Knowledge);
    let catalog = at_threshold(&ranked, catalog_default, Mode::Catalog);
    println!(
        "retrieval ({} documents, {} queries, {name} embedder):\n  lexical: recall@5 {:.3}  MRR {:.3}\n  vector:  recall@5 {:.3}  MRR {:.3}\n  hybrid:  recall@5 {:.3}  MRR {:.3}\n  hybrid misses: {misses:?}\n  threshold  knowledge: R@5    P@5    U   catalog: R@5    P@5    U   (U: results for the 8 unanswerable queries){table}\n  default SEARCH_MIN_SCORE {default}: recall@5 {:.3} precision@5 {:.3}\n  default SEARCH_CATALOG_MIN_SIMILARITY {catalog_default}: recall@5 {:.3} precision@5 {:.3}",
        ids.len(),
        queries.len(),
        lexical.recall(),
        lexical.mrr(),
        vector.recall(),
        vector.mrr(),
        hybrid.recall(),
        hybrid.mrr(),
        chosen.recall,
        chosen.precision,
        catalog.recall,
        catalog.precision,
    );
    assert!(
        hybrid.recall() >= 0.9,
        "{name}: hybrid recall@5 {:.3} < 0.9; missed: {misses:?}",
        hybrid.recall()
    );
    assert!(
        chosen.recall >= min_recall && chosen.precision >= min_precision,
        "{name}: at the default threshold {default}, recall@5 {:.3} (≥ {min_recall}) and precision@5 {:.3} (≥ {min_precision})",
        chosen.recall,
        chosen.precision
    );
    assert_eq!(
        chosen.unanswerable_results, 0,
        "{name}: at the default threshold {default} no result answers a query nothing in the set answers"
    );
    assert!(
        catalog.recall >= 0.95,
        "{name}: the catalog at its default threshold {catalog_default}: recall@5 {:.3}",
        catalog.recall
    );
}

#[tokio::test]
async fn offline_search_finds_the_expected_document_and_its_default_threshold_keeps_it() {
    let app = spawn_app().await;
    evaluate(&app, "offline", 0.9, 0.4).await;
}

#[cfg(feature = "local-embedder")]
#[tokio::test]
async fn local_model_search_finds_the_expected_document_and_its_default_threshold_keeps_it() {
    let dir = crate::embedders::local::model_dir();
    let dir = dir.to_str().expect("a UTF-8 model path");
    let app = mcp_platform_tests::spawn_app_with(&[
        ("EMBEDDING_PROVIDER", "local"),
        ("EMBEDDING_MODEL_PATH", dir),
    ])
    .await;
    evaluate(&app, "local all-MiniLM-L6-v2", 0.88, 0.8).await;
}
