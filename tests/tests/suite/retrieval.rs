//! Retrieval quality of the knowledge base with the offline embedder: 62
//! short documents about MCP tools and platform features
//! (`tests/retrieval/documents.json`) and 51 queries phrased differently from
//! their text (`queries.json`), each naming the document that answers it.
//! Prints recall@5 and MRR for lexical-only, vector-only and hybrid ranking;
//! hybrid must reach recall@5 ≥ 0.9.

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
    expected: String,
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

#[tokio::test]
async fn hybrid_search_finds_the_expected_document_in_the_top_5_for_90_percent_of_queries() {
    let app = spawn_app().await;
    let ids = load_set(&app).await;
    let id_of = |name: &str| {
        ids.iter()
            .find(|(n, _)| n == name)
            .map(|(_, id)| *id)
            .expect("expected document is in the set")
    };
    let queries: Vec<Query> = load("queries.json");
    assert!(queries.len() >= 40 && ids.len() >= 60);
    let k = &app.state.knowledge;
    let all = VectorFilter::default();
    let (mut lexical, mut vector, mut hybrid) =
        (Score::default(), Score::default(), Score::default());
    let mut misses = Vec::new();
    for q in &queries {
        let expected = id_of(&q.expected);
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
        let ranked: Vec<Uuid> = k
            .search(DOCUMENTS, &q.query, &all, 10)
            .await
            .expect("hybrid")
            .iter()
            .map(|h| h.document_id)
            .collect();
        if !ranked.iter().take(5).any(|id| *id == expected) {
            misses.push(q.query.clone());
        }
        hybrid.add(&ranked, expected);
    }
    println!(
        "retrieval ({} documents, {} queries, offline embedder):\n  lexical: recall@5 {:.3}  MRR {:.3}\n  vector:  recall@5 {:.3}  MRR {:.3}\n  hybrid:  recall@5 {:.3}  MRR {:.3}\n  hybrid misses: {misses:?}",
        ids.len(),
        queries.len(),
        lexical.recall(),
        lexical.mrr(),
        vector.recall(),
        vector.mrr(),
        hybrid.recall(),
        hybrid.mrr(),
    );
    assert!(
        hybrid.recall() >= 0.9,
        "hybrid recall@5 {:.3} < 0.9; missed: {misses:?}",
        hybrid.recall()
    );
}
