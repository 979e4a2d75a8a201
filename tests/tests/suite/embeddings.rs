//! The embedder contract, for the offline embedder and for the
//! OpenAI-compatible client against a local HTTP double of `/v1/embeddings`
//! (request and response shapes as OpenAI documents them: `model`, `input`
//! list, `encoding_format`, optional `dimensions`; `data[{index, embedding}]`),
//! plus the client's retries, batching, auth and dimension checks.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use mcp_platform::adapters::embedded::OfflineEmbedder;
use mcp_platform::adapters::openai_embeddings::{OpenAiEmbedder, OpenAiEmbeddingsConfig};
use mcp_platform::config::Secret;
use mcp_platform::ports::Embedder;
use serde_json::{json, Value};

/// The contract every embedder keeps.
async fn embedder_contract(e: &dyn Embedder) {
    let texts: Vec<String> = [
        "weather forecast for Paris",
        "SQL queries on PostgreSQL",
        "weather forecast for Paris",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let vectors = e.embed(&texts).await.expect("embed");
    assert_eq!(vectors.len(), 3, "one vector per text, in order");
    for v in &vectors {
        assert_eq!(v.len(), e.dimension(), "every vector has the dimension");
        let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-3, "L2-normalised, got {norm}");
    }
    assert_eq!(vectors[0], vectors[2], "the same text, the same vector");
    assert_ne!(vectors[0], vectors[1]);
    assert!(e.embed(&[]).await.expect("empty batch").is_empty());
    assert!(!e.model_id().is_empty());
}

#[tokio::test]
async fn the_offline_embedder_keeps_the_contract() {
    embedder_contract(&OfflineEmbedder::new(384)).await;
    embedder_contract(&OfflineEmbedder::new(64)).await;
}

/// Scripted failures: (status, Retry-After).
type Script = Arc<parking_lot::Mutex<Vec<(u16, Option<&'static str>)>>>;

/// The double: a deterministic fake model behind the documented API, with
/// scripted failures first.
#[derive(Clone)]
struct Double {
    dimension: usize,
    /// Responses to give before answering normally: (status, Retry-After).
    failures: Script,
    requests: Arc<AtomicUsize>,
    bodies: Arc<parking_lot::Mutex<Vec<Value>>>,
    auth: Arc<parking_lot::Mutex<Vec<Option<String>>>>,
    delay: Duration,
}

async fn embeddings(
    State(d): State<Double>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    d.requests.fetch_add(1, Ordering::SeqCst);
    d.auth.lock().push(
        headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    );
    d.bodies.lock().push(body.clone());
    if !d.delay.is_zero() {
        tokio::time::sleep(d.delay).await;
    }
    let failure = {
        let mut f = d.failures.lock();
        (!f.is_empty()).then(|| f.remove(0))
    };
    if let Some((status, retry_after)) = failure {
        let mut response = (
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            Json(json!({"error": {"message": "scripted", "type": "rate_limit_exceeded"}})),
        )
            .into_response();
        if let Some(ra) = retry_after {
            response
                .headers_mut()
                .insert("retry-after", ra.parse().expect("header"));
        }
        return response;
    }
    let inputs: Vec<String> = body["input"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| v.as_str().unwrap_or_default().to_owned())
        .collect();
    let dimension = body["dimensions"]
        .as_u64()
        .map_or(d.dimension, |n| n as usize);
    // Reverse order on the wire: the client must sort by `index`.
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .rev()
        .map(|(i, text)| {
            let v: Vec<f32> = (0..dimension)
                .map(|k| ((text.len() * 31 + k * 7) % 13) as f32 + 0.5)
                .collect();
            json!({"object": "embedding", "index": i, "embedding": v})
        })
        .collect();
    Json(json!({"object": "list", "data": data, "model": body["model"], "usage": {"prompt_tokens": 5, "total_tokens": 5}})).into_response()
}

async fn start(double: Double) -> String {
    let app = Router::new()
        .route("/v1/embeddings", post(embeddings))
        .with_state(double);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/v1")
}

fn double(dimension: usize) -> Double {
    Double {
        dimension,
        failures: Arc::default(),
        requests: Arc::default(),
        bodies: Arc::default(),
        auth: Arc::default(),
        delay: Duration::ZERO,
    }
}

fn config(base_url: String, dimension: usize) -> OpenAiEmbeddingsConfig {
    OpenAiEmbeddingsConfig {
        base_url,
        model: "text-embedding-3-small".into(),
        dimension,
        send_dimensions: true,
        api_key: Some(Secret::new("sk-test-key")),
        timeout: Duration::from_secs(5),
        max_retries: 3,
        batch_size: 2,
        backoff_base: Duration::from_millis(10),
    }
}

#[tokio::test]
async fn the_openai_client_keeps_the_contract_batches_and_sends_the_documented_request() {
    let d = double(16);
    let url = start(d.clone()).await;
    let e = OpenAiEmbedder::new(config(url, 16)).expect("client");
    embedder_contract(&e).await;
    assert_eq!(e.model_id(), "openai:text-embedding-3-small:16");
    let before = d.requests.load(Ordering::SeqCst);
    let texts: Vec<String> = (0..5).map(|i| format!("text number {i}")).collect();
    let vectors = e.embed(&texts).await.expect("embed");
    assert_eq!(vectors.len(), 5);
    assert_eq!(
        d.requests.load(Ordering::SeqCst) - before,
        3,
        "5 texts in batches of 2"
    );
    let body = d.bodies.lock().last().cloned().expect("a request");
    assert_eq!(body["model"], "text-embedding-3-small");
    assert_eq!(body["encoding_format"], "float");
    assert_eq!(body["dimensions"], 16);
    assert_eq!(body["input"], json!(["text number 4"]));
    assert!(d
        .auth
        .lock()
        .iter()
        .all(|a| a.as_deref() == Some("Bearer sk-test-key")));
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_retried_honouring_retry_after() {
    let d = double(8);
    d.failures
        .lock()
        .extend([(429, Some("1")), (503, None), (500, None)]);
    let url = start(d.clone()).await;
    let e = OpenAiEmbedder::new(config(url, 8)).expect("client");
    let started = Instant::now();
    let v = e
        .embed(&["hello".to_owned()])
        .await
        .expect("succeeds on the 4th attempt");
    assert_eq!(v.len(), 1);
    assert_eq!(d.requests.load(Ordering::SeqCst), 4);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited for Retry-After: 1"
    );
}

#[tokio::test]
async fn retries_end_and_client_errors_are_not_retried() {
    let d = double(8);
    d.failures.lock().extend([(500, None); 10]);
    let url = start(d.clone()).await;
    let e = OpenAiEmbedder::new(config(url.clone(), 8)).expect("client");
    let err = e.embed(&["x".to_owned()]).await.expect_err("gives up");
    assert!(err.to_string().contains("500"), "{err}");
    assert_eq!(d.requests.load(Ordering::SeqCst), 4, "1 try + 3 retries");

    let d = double(8);
    d.failures.lock().push((400, None));
    let url = start(d.clone()).await;
    let e = OpenAiEmbedder::new(config(url, 8)).expect("client");
    assert!(e.embed(&["x".to_owned()]).await.is_err());
    assert_eq!(d.requests.load(Ordering::SeqCst), 1, "a 400 is not retried");
}

#[tokio::test]
async fn a_provider_returning_another_dimension_is_refused() {
    let d = double(12);
    let url = start(d.clone()).await;
    let mut c = config(url, 8);
    c.send_dimensions = false; // the double then answers with its own 12
    let e = OpenAiEmbedder::new(c).expect("client");
    let err = e.embed(&["x".to_owned()]).await.expect_err("12 ≠ 8");
    assert!(err.to_string().contains("dimensions"), "{err}");
}

#[tokio::test]
async fn a_slow_provider_times_out() {
    let mut d = double(8);
    d.delay = Duration::from_millis(800);
    let url = start(d.clone()).await;
    let mut c = config(url, 8);
    c.timeout = Duration::from_millis(100);
    c.max_retries = 1;
    let e = OpenAiEmbedder::new(c).expect("client");
    let started = Instant::now();
    assert!(e.embed(&["x".to_owned()]).await.is_err());
    assert!(
        started.elapsed() < Duration::from_millis(700),
        "gave up on time: {:?}",
        started.elapsed()
    );
    assert_eq!(d.requests.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn the_platform_uses_the_configured_openai_compatible_provider() {
    let d = double(32);
    let url = start(d.clone()).await;
    let app = mcp_platform_tests::spawn_app_with(&[
        ("EMBEDDING_PROVIDER", "openai"),
        ("EMBEDDING_BASE_URL", &url),
        ("EMBEDDING_DIMENSIONS", "32"),
        ("EMBEDDING_API_KEY", "sk-app"),
    ])
    .await;
    assert_eq!(app.state.knowledge.embedder.dimension(), 32);
    let dev = app.user("dev1", "developer").await;
    let created = app
        .post(
            "/api/v1/knowledge/documents",
            Some(&dev.access_token),
            json!({"title": "T", "content": "Some content."}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert!(d.requests.load(Ordering::SeqCst) >= 1);
    assert!(!created.text.contains("sk-app"));
}
