//! BM25 over the knowledge base's chunks, in memory, one index per
//! collection. It is rebuilt from the document store at start and kept in
//! step with every write of this process; writes of other replicas reach it
//! through the store's stamp (see `Knowledge::refresh_lexical`). The same
//! tokenizer as the offline embedder (`text::terms`), and the same payload
//! filters as the vector index, so both rankings see the same chunks.

use std::collections::HashMap;

use uuid::Uuid;

use super::text;
use crate::adapters::embedded::filter_matches;
use crate::ports::{ChunkPayload, VectorFilter};

const K1: f32 = 1.2;
const B: f32 = 0.75;

pub struct LexicalChunk {
    pub id: Uuid,
    pub payload: ChunkPayload,
    pub text: String,
    terms: Vec<String>,
}

#[derive(Default)]
pub struct Bm25 {
    slots: Vec<Option<LexicalChunk>>,
    free: Vec<usize>,
    postings: HashMap<String, Vec<(usize, u32)>>,
    by_document: HashMap<Uuid, Vec<usize>>,
    by_id: HashMap<Uuid, usize>,
    total_terms: u64,
    live: usize,
}

/// One chunk's score.
pub struct LexicalHit<'a> {
    pub chunk: &'a LexicalChunk,
    pub score: f32,
}

impl Bm25 {
    pub fn len(&self) -> usize {
        self.live
    }

    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    pub fn chunk(&self, id: Uuid) -> Option<&LexicalChunk> {
        self.by_id.get(&id).and_then(|&s| self.slots[s].as_ref())
    }

    /// Replaces the document's chunks with these.
    pub fn put_document(&mut self, document_id: Uuid, chunks: Vec<(Uuid, ChunkPayload, String)>) {
        self.remove_document(document_id);
        for (id, payload, chunk_text) in chunks {
            let terms = text::terms(&format!("{}\n{chunk_text}", payload.title));
            let slot = self.free.pop().unwrap_or_else(|| {
                self.slots.push(None);
                self.slots.len() - 1
            });
            let mut tf: HashMap<&str, u32> = HashMap::new();
            for t in &terms {
                *tf.entry(t.as_str()).or_default() += 1;
            }
            for (term, n) in tf {
                self.postings
                    .entry(term.to_owned())
                    .or_default()
                    .push((slot, n));
            }
            self.total_terms += terms.len() as u64;
            self.live += 1;
            self.by_document.entry(document_id).or_default().push(slot);
            self.by_id.insert(id, slot);
            self.slots[slot] = Some(LexicalChunk {
                id,
                payload,
                text: chunk_text,
                terms,
            });
        }
    }

    pub fn remove_document(&mut self, document_id: Uuid) {
        let Some(slots) = self.by_document.remove(&document_id) else {
            return;
        };
        for slot in slots {
            let Some(chunk) = self.slots[slot].take() else {
                continue;
            };
            let mut distinct = chunk.terms.clone();
            distinct.sort_unstable();
            distinct.dedup();
            for term in distinct {
                if let Some(list) = self.postings.get_mut(&term) {
                    list.retain(|(s, _)| *s != slot);
                    if list.is_empty() {
                        self.postings.remove(&term);
                    }
                }
            }
            self.total_terms -= chunk.terms.len() as u64;
            self.live -= 1;
            self.by_id.remove(&chunk.id);
            self.free.push(slot);
        }
    }

    /// The `limit` best chunks for `query` that pass `filter`, best first.
    /// Only chunks sharing at least one term with the query score.
    #[allow(clippy::cast_precision_loss)]
    pub fn search(&self, query: &str, filter: &VectorFilter, limit: usize) -> Vec<LexicalHit<'_>> {
        if self.live == 0 {
            return Vec::new();
        }
        let mut terms = text::terms(query);
        terms.sort_unstable();
        terms.dedup();
        let n = self.live as f32;
        let avg_len = (self.total_terms as f32 / n).max(1.0);
        let mut scores: HashMap<usize, f32> = HashMap::new();
        for term in &terms {
            let Some(list) = self.postings.get(term) else {
                continue;
            };
            let df = list.len() as f32;
            let idf = ((n - df + 0.5) / (df + 0.5) + 1.0).ln();
            for &(slot, tf) in list {
                let Some(chunk) = &self.slots[slot] else {
                    continue;
                };
                let tf = tf as f32;
                let len = chunk.terms.len() as f32;
                let s = idf * tf * (K1 + 1.0) / (tf + K1 * (1.0 - B + B * len / avg_len));
                *scores.entry(slot).or_default() += s;
            }
        }
        let mut hits: Vec<LexicalHit<'_>> = scores
            .into_iter()
            .filter_map(|(slot, score)| {
                let chunk = self.slots[slot].as_ref()?;
                filter_matches(filter, &chunk.payload).then_some(LexicalHit { chunk, score })
            })
            .collect();
        hits.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then(a.chunk.id.cmp(&b.chunk.id))
        });
        hits.truncate(limit);
        hits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(document_id: Uuid, title: &str) -> ChunkPayload {
        ChunkPayload {
            document_id,
            chunk_index: 0,
            title: title.into(),
            source: None,
            tags: vec![],
            tool_id: None,
            owner_id: None,
            public: true,
            created_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn rarer_terms_weigh_more_and_removal_forgets() {
        let mut index = Bm25::default();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        index.put_document(
            a,
            vec![(
                Uuid::new_v4(),
                payload(a, "Weather"),
                "forecast of rain and wind".into(),
            )],
        );
        index.put_document(
            b,
            vec![(
                Uuid::new_v4(),
                payload(b, "Files"),
                "read files and wind them up".into(),
            )],
        );
        let hits = index.search("forecasting wind", &VectorFilter::default(), 10);
        assert_eq!(hits.len(), 2);
        assert_eq!(hits[0].chunk.payload.document_id, a);
        index.remove_document(a);
        let hits = index.search("forecast", &VectorFilter::default(), 10);
        assert!(hits.is_empty());
        assert_eq!(index.len(), 1);
    }
}
