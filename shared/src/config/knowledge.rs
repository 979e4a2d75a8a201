//! The knowledge base: which embedder turns text into vectors, its API or
//! model, the vector index and search thresholds.

use std::path::PathBuf;
use std::time::Duration;

use super::{bad, ConfigError, Secret, Source};

/// Which embedder turns text into vectors (`EMBEDDING_PROVIDER`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmbeddingProvider {
    /// Built in, no network (default).
    Offline,
    /// An OpenAI-compatible `/v1/embeddings` server.
    OpenAi,
    /// A sentence-transformers model from `EMBEDDING_MODEL_PATH`.
    Local,
}

impl EmbeddingProvider {
    /// The default relevance thresholds of this embedder: (`GET /mcps?q=`,
    /// knowledge search). Relevance builds on the cosine, whose scale is the
    /// model's, so each embedder has its own; they were chosen on the
    /// retrieval set in tests/retrieval/ (figures in docs/search.md).
    pub fn default_thresholds(self) -> (f32, f32) {
        match self {
            Self::Offline => (0.25, 0.25),
            Self::Local => (0.35, 0.45),
            // A guess, not a measurement (no embedding server is reachable
            // here): MiniLM's, a little lower for the knowledge base, as
            // OpenAI's text-embedding-3 models tend to give related text
            // lower cosines than MiniLM does.
            Self::OpenAi => (0.35, 0.4),
        }
    }
}

/// Settings of the knowledge base: the embedder and search.
#[derive(Debug, Clone)]
pub struct KnowledgeSettings {
    pub provider: EmbeddingProvider,
    /// `EMBEDDING_BASE_URL` (OpenAI-compatible), default `https://api.openai.com/v1`.
    pub base_url: String,
    /// `EMBEDDING_MODEL`, default `text-embedding-3-small`.
    pub model: String,
    /// `EMBEDDING_DIMENSIONS`: the vector length (offline default 384,
    /// OpenAI default 1536). When set for OpenAI it is also sent as
    /// `dimensions`.
    pub dimensions: usize,
    pub dimensions_given: bool,
    pub api_key: Option<Secret>,
    /// `EMBEDDING_TIMEOUT_MS`, per request attempt.
    pub timeout: Duration,
    /// `EMBEDDING_MAX_RETRIES` on 429/5xx.
    pub max_retries: u32,
    /// `EMBEDDING_BATCH_SIZE`: texts per request.
    pub batch_size: usize,
    /// `EMBEDDING_MODEL_PATH`: the local model's directory.
    pub model_path: Option<PathBuf>,
    /// `KNOWLEDGE_INLINE_MAX_CHARS`: larger documents embed in a job.
    pub inline_max_chars: usize,
    /// `SEARCH_CATALOG_MIN_SIMILARITY`: `GET /mcps?q=` also lists tools
    /// with no shared word whose relevance reaches this (0 to 1; default
    /// per embedder, [`EmbeddingProvider::default_thresholds`]).
    pub catalog_min_similarity: f32,
    /// `SEARCH_MIN_SCORE`: knowledge search leaves out results below this
    /// relevance unless the request gives `min_score` (0 to 1; default per
    /// embedder).
    pub search_min_score: f32,
    /// `VECTOR_INDEX=qdrant` with `QDRANT_URL` (gRPC, e.g.
    /// `http://127.0.0.1:6334`): Qdrant; unset or `embedded`: the embedded index.
    pub qdrant_url: Option<String>,
    pub qdrant_api_key: Option<Secret>,
}

impl KnowledgeSettings {
    pub(super) fn load(source: &Source) -> Result<Self, ConfigError> {
        let provider = source.parsed(
            &["EMBEDDING_PROVIDER"],
            EmbeddingProvider::Offline,
            "one of offline, openai, local",
            |s| match s.to_ascii_lowercase().as_str() {
                "offline" => Some(EmbeddingProvider::Offline),
                "openai" => Some(EmbeddingProvider::OpenAi),
                "local" => Some(EmbeddingProvider::Local),
                _ => None,
            },
        )?;
        let default_dimensions = match provider {
            EmbeddingProvider::OpenAi => 1536,
            _ => 384,
        };
        let model_path = source
            .first(&["EMBEDDING_MODEL_PATH"])
            .map(|(_, v)| PathBuf::from(v));
        if provider == EmbeddingProvider::Local && model_path.is_none() {
            return Err(bad(
                "EMBEDDING_MODEL_PATH",
                "the model directory (config.json, tokenizer.json, model.safetensors) when EMBEDDING_PROVIDER=local",
            ));
        }
        let base_url = source.text_or(&["EMBEDDING_BASE_URL"], "https://api.openai.com/v1");
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(bad(
                "EMBEDDING_BASE_URL",
                format!("an http(s) URL, got {base_url:?}"),
            ));
        }
        let qdrant_url = qdrant_url(source)?;
        let (catalog_default, search_default) = provider.default_thresholds();
        Ok(Self {
            qdrant_url,
            qdrant_api_key: source
                .first(&["QDRANT_API_KEY"])
                .map(|(_, v)| Secret::new(v)),
            provider,
            base_url,
            model: source.text_or(&["EMBEDDING_MODEL"], "text-embedding-3-small"),
            dimensions: source.within(&["EMBEDDING_DIMENSIONS"], default_dimensions, 1, 65_536)?,
            dimensions_given: source.first(&["EMBEDDING_DIMENSIONS"]).is_some(),
            api_key: source
                .first(&["EMBEDDING_API_KEY", "OPENAI_API_KEY"])
                .map(|(_, v)| Secret::new(v)),
            timeout: Duration::from_millis(source.within(
                &["EMBEDDING_TIMEOUT_MS"],
                30_000,
                1,
                600_000,
            )?),
            max_retries: source.within(&["EMBEDDING_MAX_RETRIES"], 4, 0, 20)?,
            batch_size: source.within(&["EMBEDDING_BATCH_SIZE"], 64, 1, 2048)?,
            model_path,
            inline_max_chars: source.within(
                &["KNOWLEDGE_INLINE_MAX_CHARS"],
                20_000,
                1,
                100_000_000,
            )?,
            catalog_min_similarity: source.parsed(
                &["SEARCH_CATALOG_MIN_SIMILARITY"],
                catalog_default,
                "a number from 0 to 1",
                unit_interval,
            )?,
            search_min_score: source.parsed(
                &["SEARCH_MIN_SCORE"],
                search_default,
                "a number from 0 to 1",
                unit_interval,
            )?,
        })
    }
}

fn unit_interval(s: &str) -> Option<f32> {
    s.parse::<f32>().ok().filter(|v| (0.0..=1.0).contains(v))
}

/// `VECTOR_INDEX=qdrant` with its `QDRANT_URL`; unset or `embedded` is the
/// embedded index (`None`).
fn qdrant_url(source: &Source) -> Result<Option<String>, ConfigError> {
    match source
        .first(&["VECTOR_INDEX"])
        .map(|(_, v)| v.to_ascii_lowercase())
    {
        None => Ok(None),
        Some(kind) if kind == "embedded" => Ok(None),
        Some(kind) if kind == "qdrant" => match source.first(&["QDRANT_URL"]) {
            Some((_, url)) if url.starts_with("http://") || url.starts_with("https://") => {
                Ok(Some(url.to_owned()))
            }
            _ => Err(bad(
                "QDRANT_URL",
                "the Qdrant gRPC URL (http://host:6334) when VECTOR_INDEX=qdrant",
            )),
        },
        Some(other) => Err(bad(
            "VECTOR_INDEX",
            format!("embedded or qdrant, got {other:?}"),
        )),
    }
}
