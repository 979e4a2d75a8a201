//! An OpenAI-compatible `/v1/embeddings` client (OpenAI, Azure OpenAI's v1
//! surface, Ollama, vLLM, TEI, LiteLLM…).
//!
//! Request: `POST {base_url}/embeddings` with
//! `{"model", "input": [texts], "encoding_format": "float", "dimensions"?}`
//! and `Authorization: Bearer {key}` when a key is set. Response:
//! `{"data": [{"index", "embedding": [f32…]}], "model", "usage"}`; items are
//! put back in input order by `index`.
//!
//! Texts go in batches of `batch_size`. A 429 or 5xx (or a transport error)
//! is retried up to `max_retries` times with exponential backoff, waiting at
//! least what `Retry-After` / `retry-after-ms` asks; every attempt has
//! `timeout`. Other 4xx are not retried. Every vector must have the
//! configured dimension (a provider that ignores `dimensions` would
//! otherwise poison the index) and is L2-normalised here, since not every
//! compatible server normalises.

use std::time::Duration;

use async_trait::async_trait;
use reqwest::StatusCode;
use serde::Deserialize;

use crate::adapters::embedded::normalize;
use crate::config::Secret;
use crate::error::{Error, Result};
use crate::ports::Embedder;

#[derive(Debug, Clone)]
pub struct OpenAiEmbeddingsConfig {
    /// e.g. `https://api.openai.com/v1` or `http://localhost:11434/v1`.
    pub base_url: String,
    pub model: String,
    pub dimension: usize,
    /// Send `dimensions` in the request (models that can shorten vectors).
    pub send_dimensions: bool,
    pub api_key: Option<Secret>,
    pub timeout: Duration,
    pub max_retries: u32,
    pub batch_size: usize,
    /// First backoff delay; doubled per retry.
    pub backoff_base: Duration,
}

pub struct OpenAiEmbedder {
    config: OpenAiEmbeddingsConfig,
    client: reqwest::Client,
    url: String,
    model_id: String,
}

#[derive(Deserialize)]
struct EmbeddingsResponse {
    data: Vec<EmbeddingItem>,
}

#[derive(Deserialize)]
struct EmbeddingItem {
    index: usize,
    embedding: Vec<f32>,
}

/// The longest we wait on one `Retry-After`, so a hostile or confused
/// server cannot park a request for hours.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(ms) = get("retry-after-ms").and_then(|v| v.trim().parse::<f64>().ok()) {
        return Some(Duration::from_secs_f64(ms.max(0.0) / 1000.0));
    }
    get("retry-after")
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|s| Duration::from_secs_f64(s.max(0.0)))
}

impl OpenAiEmbedder {
    pub fn new(config: OpenAiEmbeddingsConfig) -> anyhow::Result<Self> {
        anyhow::ensure!(
            config.dimension > 0,
            "EMBEDDING_DIMENSIONS must be positive"
        );
        anyhow::ensure!(
            config.batch_size > 0,
            "EMBEDDING_BATCH_SIZE must be positive"
        );
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .build()?;
        let url = format!("{}/embeddings", config.base_url.trim_end_matches('/'));
        let model_id = format!("openai:{}:{}", config.model, config.dimension);
        Ok(Self {
            config,
            client,
            url,
            model_id,
        })
    }

    async fn embed_batch(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        let mut body = serde_json::json!({
            "model": self.config.model,
            "input": texts,
            "encoding_format": "float",
        });
        if self.config.send_dimensions {
            body["dimensions"] = self.config.dimension.into();
        }
        let mut attempt = 0u32;
        loop {
            let mut request = self.client.post(&self.url).json(&body);
            if let Some(key) = &self.config.api_key {
                request = request.bearer_auth(key.expose());
            }
            let (retryable, wait, why) = match request.send().await {
                Ok(response) if response.status().is_success() => {
                    let parsed: EmbeddingsResponse = response.json().await.map_err(|e| {
                        Error::Unavailable(format!("embedding provider: malformed response: {e}"))
                    })?;
                    return self.check(parsed, texts.len());
                }
                Ok(response) => {
                    let status = response.status();
                    let wait = retry_after(response.headers());
                    let retryable =
                        status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error();
                    (retryable, wait, format!("HTTP {status}"))
                }
                Err(e) => (true, None, format!("{e}")),
            };
            if !retryable || attempt >= self.config.max_retries {
                return Err(Error::Unavailable(format!(
                    "embedding provider: {why} after {} attempt(s)",
                    attempt + 1
                )));
            }
            let backoff = self.config.backoff_base * 2u32.saturating_pow(attempt);
            let delay = wait.map_or(backoff, |w| w.min(MAX_RETRY_AFTER).max(backoff));
            tracing::warn!(attempt, ?delay, reason = %why, "embedding request retried");
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    fn check(&self, response: EmbeddingsResponse, expected: usize) -> Result<Vec<Vec<f32>>> {
        let mut slots: Vec<Option<Vec<f32>>> = vec![None; expected];
        for item in response.data {
            if item.embedding.len() != self.config.dimension {
                return Err(Error::Unavailable(format!(
                    "embedding provider returned {} dimensions, configured {}",
                    item.embedding.len(),
                    self.config.dimension
                )));
            }
            let slot = slots.get_mut(item.index).ok_or_else(|| {
                Error::Unavailable(format!(
                    "embedding provider returned index {} for {expected} inputs",
                    item.index
                ))
            })?;
            let mut v = item.embedding;
            normalize(&mut v);
            *slot = Some(v);
        }
        slots
            .into_iter()
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| Error::Unavailable("embedding provider skipped inputs".into()))
    }
}

#[async_trait]
impl Embedder for OpenAiEmbedder {
    fn model_id(&self) -> &str {
        &self.model_id
    }

    fn dimension(&self) -> usize {
        self.config.dimension
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        let mut out = Vec::with_capacity(texts.len());
        for batch in texts.chunks(self.config.batch_size) {
            // Empty strings are refused by OpenAI; a space embeds as "nothing".
            let batch: Vec<String> = batch
                .iter()
                .map(|t| {
                    if t.trim().is_empty() {
                        " ".to_owned()
                    } else {
                        t.clone()
                    }
                })
                .collect();
            out.extend(self.embed_batch(&batch).await?);
        }
        Ok(out)
    }
}
