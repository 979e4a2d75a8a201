//! The built-in embedder: no network, no model file, deterministic.
//!
//! A text becomes a bag of hashed features (the "hashing trick"), each
//! feature hashed with FNV-1a into one of `dimension` buckets with a hashed
//! sign (so collisions cancel out on average instead of piling up):
//! - each term (stemmed word, see `knowledge::text`) — weight 1;
//! - each pair of adjacent terms — weight 0.5 (word order, phrases);
//! - each character 3- and 4-gram of each word with boundary marks
//!   (`<forecast>` → `<fo`, `for`, …) — together weight 0.6 per word, so
//!   unseen inflections, compounds and typos still share most features.
//!
//! Term frequency is sublinear (1 + ln tf), so a word repeated ten times does
//! not drown the rest. IDF comes from a **built-in prior**, not from the
//! corpus: words in [`COMMON`] (frequent across English technical text) get a
//! lower weight than the rest. A corpus-learned IDF would change every stored
//! vector whenever a document is added; the prior never changes, so a stored
//! vector stays valid for as long as `model_id` stays the same. Changing any
//! of this means a new `model_id` (the version in it), which triggers a
//! reindex.
//!
//! The result is L2-normalised; a text with no features (only punctuation)
//! is the zero vector, which matches nothing.

use async_trait::async_trait;

use crate::error::Result;
use crate::ports::Embedder;
use crate::text;

/// The dimension the offline embedder uses unless configured otherwise.
pub const DEFAULT_DIMENSION: usize = 384;

/// Frequent words of English technical prose: weighted down (IDF prior).
const COMMON: &[&str] = &[
    "add",
    "allow",
    "api",
    "app",
    "application",
    "base",
    "call",
    "change",
    "check",
    "client",
    "config",
    "configuration",
    "connect",
    "contain",
    "create",
    "data",
    "default",
    "define",
    "different",
    "example",
    "first",
    "follow",
    "function",
    "give",
    "help",
    "include",
    "information",
    "list",
    "mcp",
    "name",
    "new",
    "number",
    "one",
    "option",
    "platform",
    "provide",
    "read",
    "request",
    "require",
    "response",
    "result",
    "return",
    "run",
    "server",
    "service",
    "set",
    "show",
    "support",
    "system",
    "take",
    "time",
    "tool",
    "two",
    "type",
    "user",
    "value",
    "work",
    "write",
];

/// [`COMMON`] as the stemmer spells them.
static COMMON_STEMS: std::sync::LazyLock<std::collections::HashSet<String>> =
    std::sync::LazyLock::new(|| COMMON.iter().map(|w| text::stem(w)).collect());

const COMMON_IDF: f32 = 0.45;
const TERM_WEIGHT: f32 = 1.0;
const BIGRAM_WEIGHT: f32 = 0.5;
const NGRAM_WEIGHT_PER_WORD: f32 = 0.6;

#[derive(Debug, Clone)]
pub struct OfflineEmbedder {
    dimension: usize,
    model_id: String,
}

impl OfflineEmbedder {
    /// # Panics
    /// When `dimension` is 0 (configuration refuses it before this).
    pub fn new(dimension: usize) -> Self {
        assert!(dimension > 0, "the offline embedder needs a dimension");
        Self {
            dimension,
            model_id: format!("offline-ngram-v1-{dimension}"),
        }
    }

    /// One text's vector (what [`Embedder::embed`] does per text).
    pub fn embed_one(&self, text: &str) -> Vec<f32> {
        // Ordered by key, so the float sums into each bucket happen in the
        // same order on every call: bit-for-bit the same vector (a HashMap's
        // random iteration order changed the last bit between runs).
        let mut features: std::collections::BTreeMap<u64, f32> = std::collections::BTreeMap::new();
        let mut add = |key: u64, weight: f32| *features.entry(key).or_insert(0.0) += weight;
        let terms = text::terms(text);
        for term in &terms {
            let idf = idf(term);
            add(fnv1a(&[b"w:", term.as_bytes()]), TERM_WEIGHT * idf);
            let padded: Vec<char> = std::iter::once('<')
                .chain(term.chars())
                .chain(std::iter::once('>'))
                .collect();
            let mut grams: Vec<u64> = Vec::new();
            for n in [3usize, 4] {
                for window in padded.windows(n) {
                    let gram: String = window.iter().collect();
                    grams.push(fnv1a(&[b"c:", gram.as_bytes()]));
                }
            }
            if !grams.is_empty() {
                #[allow(clippy::cast_precision_loss)]
                let each = NGRAM_WEIGHT_PER_WORD * idf / grams.len() as f32;
                for g in grams {
                    add(g, each);
                }
            }
        }
        for pair in terms.windows(2) {
            let weight = BIGRAM_WEIGHT * idf(&pair[0]).min(idf(&pair[1]));
            add(
                fnv1a(&[b"b:", pair[0].as_bytes(), b" ", pair[1].as_bytes()]),
                weight,
            );
        }
        let mut vector = vec![0f32; self.dimension];
        for (key, tf) in features {
            // Sublinear term frequency on the accumulated weight.
            let value = if tf > 1.0 { 1.0 + tf.ln() } else { tf };
            #[allow(clippy::cast_possible_truncation)]
            let bucket = (key % self.dimension as u64) as usize;
            let sign = if (key >> 63) == 0 { 1.0 } else { -1.0 };
            vector[bucket] += sign * value;
        }
        normalize(&mut vector);
        vector
    }
}

impl Default for OfflineEmbedder {
    fn default() -> Self {
        Self::new(DEFAULT_DIMENSION)
    }
}

fn idf(term: &str) -> f32 {
    if COMMON_STEMS.contains(term) {
        COMMON_IDF
    } else {
        1.0
    }
}

/// FNV-1a 64 over the concatenated parts: fixed by its definition, unlike
/// `std`'s hasher, so vectors are the same on every build and platform.
fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for &b in *part {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

/// Scales to unit length; the zero vector stays zero.
pub fn normalize(vector: &mut [f32]) {
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        for x in vector.iter_mut() {
            *x /= norm;
        }
    }
}

#[async_trait]
impl Embedder for OfflineEmbedder {
    fn model_id(&self) -> &str {
        &self.model_id
    }

    fn dimension(&self) -> usize {
        self.dimension
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        // Microseconds per short text: cheap enough to run on the caller's
        // task; long batches go to the blocking pool.
        if texts.iter().map(String::len).sum::<usize>() < 64 * 1024 {
            return Ok(texts.iter().map(|t| self.embed_one(t)).collect());
        }
        let this = self.clone();
        let texts = texts.to_vec();
        tokio::task::spawn_blocking(move || texts.iter().map(|t| this.embed_one(t)).collect())
            .await
            .map_err(|e| crate::error::Error::internal(format!("embedding task: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cos(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn vectors_are_unit_length_deterministic_and_of_the_dimension() {
        let e = OfflineEmbedder::new(384);
        let a = e.embed_one("Fetches the weather forecast for a city");
        assert_eq!(a.len(), 384);
        assert!((cos(&a, &a) - 1.0).abs() < 1e-5);
        assert_eq!(
            a,
            OfflineEmbedder::new(384).embed_one("Fetches the weather forecast for a city")
        );
        assert!(e.embed_one("?!").iter().all(|x| *x == 0.0));
        assert_eq!(e.model_id(), "offline-ngram-v1-384");
    }

    #[test]
    fn related_texts_are_closer_than_unrelated_ones() {
        let e = OfflineEmbedder::default();
        let doc = e.embed_one("Weather forecasts: temperature and precipitation for the next days");
        let near = e.embed_one("forecasting temperatures");
        let far = e.embed_one("Query a PostgreSQL database with SQL");
        assert!(
            cos(&doc, &near) > cos(&doc, &far) + 0.1,
            "{} vs {}",
            cos(&doc, &near),
            cos(&doc, &far)
        );
    }
}
