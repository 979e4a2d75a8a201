//! BM25 over the knowledge base's chunks, in memory, one index per
//! collection. It is rebuilt from the document store at start and kept in
//! step with every write of this process; writes of other replicas reach it
//! through the store's stamp (see `Knowledge::refresh_lexical`). The same
//! tokenizer as the offline embedder (`text::terms`), and the same payload
//! filters as the vector index, so both rankings see the same chunks.

use std::collections::HashMap;

use uuid::Uuid;

use crate::ports::{ChunkPayload, VectorFilter};
use crate::text;

const K1: f32 = 1.2;
const B: f32 = 0.75;

pub struct LexicalChunk {
    pub id: Uuid,
    pub payload: ChunkPayload,
    pub text: String,
}

/// A posting: the chunk's slot and the term's count in it.
type Posting = (u32, u32);

#[derive(Default)]
pub struct Bm25 {
    slots: Vec<Option<LexicalChunk>>,
    /// Terms per slot, beside the slots so scoring reads no chunk.
    lengths: Vec<u32>,
    free: Vec<u32>,
    postings: HashMap<String, Vec<Posting>>,
    by_document: HashMap<Uuid, Vec<u32>>,
    by_id: HashMap<Uuid, u32>,
    total_terms: u64,
    live: usize,
}

/// One chunk's score.
pub struct LexicalHit<'a> {
    pub chunk: &'a LexicalChunk,
    /// BM25: ranks chunks within one query, unbounded.
    pub score: f32,
    /// The share of the query's terms, weighted by IDF, that the chunk
    /// contains: 1.0 when it has every term, 0.5 when the terms it has carry
    /// half the query's IDF weight.
    /// Unlike BM25 it is in [0, 1] and means the same in every query.
    pub coverage: f32,
}

/// The terms a chunk is indexed under: its document's title, then its text.
fn chunk_terms(payload: &ChunkPayload, chunk_text: &str) -> Vec<String> {
    text::terms(&format!("{}\n{chunk_text}", payload.title))
}

impl Bm25 {
    pub fn len(&self) -> usize {
        self.live
    }

    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    pub fn chunk(&self, id: Uuid) -> Option<&LexicalChunk> {
        self.by_id
            .get(&id)
            .and_then(|&s| self.slots[s as usize].as_ref())
    }

    /// Replaces the document's chunks with these.
    pub fn put_document(&mut self, document_id: Uuid, chunks: Vec<(Uuid, ChunkPayload, String)>) {
        self.remove_document(document_id);
        for (id, payload, chunk_text) in chunks {
            let terms = chunk_terms(&payload, &chunk_text);
            let slot = self.free.pop().unwrap_or_else(|| {
                self.slots.push(None);
                self.lengths.push(0);
                u32::try_from(self.slots.len() - 1).expect("fewer than 2^32 chunks in memory")
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
            let length = u32::try_from(terms.len()).unwrap_or(u32::MAX);
            self.total_terms += u64::from(length);
            self.lengths[slot as usize] = length;
            self.live += 1;
            self.by_document.entry(document_id).or_default().push(slot);
            self.by_id.insert(id, slot);
            self.slots[slot as usize] = Some(LexicalChunk {
                id,
                payload,
                text: chunk_text,
            });
        }
    }

    pub fn remove_document(&mut self, document_id: Uuid) {
        let Some(slots) = self.by_document.remove(&document_id) else {
            return;
        };
        for slot in slots {
            let Some(chunk) = self.slots[slot as usize].take() else {
                continue;
            };
            // The terms are derived again rather than kept per chunk: they
            // would cost more memory than the text itself.
            let mut distinct = chunk_terms(&chunk.payload, &chunk.text);
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
            self.total_terms -= u64::from(self.lengths[slot as usize]);
            self.live -= 1;
            self.by_id.remove(&chunk.id);
            self.free.push(slot);
        }
    }

    /// The `limit` best chunks for `query` that pass `filter`, best first.
    /// Only chunks sharing at least one term with the query score.
    #[allow(clippy::cast_precision_loss)]
    pub fn search(&self, query: &str, filter: &VectorFilter, limit: usize) -> Vec<LexicalHit<'_>> {
        if self.live == 0 || limit == 0 {
            return Vec::new();
        }
        let mut terms = text::terms(query);
        terms.sort_unstable();
        terms.dedup();
        let n = self.live as f32;
        let avg_len = (self.total_terms as f32 / n).max(1.0);
        // Dense accumulators: common terms touch most chunks, and a hash map
        // per posting cost more than the whole rest of a search.
        let mut scores = vec![0f32; self.slots.len()];
        let mut matched = vec![0f32; self.slots.len()];
        let mut touched: Vec<u32> = Vec::new();
        let idf = |df: f32| ((n - df + 0.5) / (df + 0.5) + 1.0).ln();
        // A term no chunk has weighs as much as the rarest: a query word the
        // corpus lacks lowers every chunk's coverage.
        let query_weight: f32 = terms
            .iter()
            .map(|t| idf(self.postings.get(t).map_or(0.0, |l| l.len() as f32)))
            .sum();
        for term in &terms {
            let Some(list) = self.postings.get(term) else {
                continue;
            };
            let idf = idf(list.len() as f32);
            for &(slot, tf) in list {
                matched[slot as usize] += idf;
                let tf = tf as f32;
                let len = self.lengths[slot as usize] as f32;
                let s = idf * tf * (K1 + 1.0) / (tf + K1 * (1.0 - B + B * len / avg_len));
                let score = &mut scores[slot as usize];
                // Every term's contribution is positive, so 0 means unseen.
                if *score == 0.0 {
                    touched.push(slot);
                }
                *score += s;
            }
        }
        let chunk = |slot: u32| self.slots[slot as usize].as_ref();
        let unfiltered = *filter == VectorFilter::default();
        let mut ranked: Vec<(f32, u32)> = touched
            .into_iter()
            .filter(|&slot| unfiltered || chunk(slot).is_some_and(|c| filter.matches(&c.payload)))
            .map(|slot| (scores[slot as usize], slot))
            .collect();
        // Ties (rare) go to the smaller chunk id, so the order is stable.
        let best_first = |a: &(f32, u32), b: &(f32, u32)| {
            b.0.total_cmp(&a.0).then_with(|| {
                let id = |slot| chunk(slot).map(|c| c.id);
                id(a.1).cmp(&id(b.1))
            })
        };
        if ranked.len() > limit {
            ranked.select_nth_unstable_by(limit - 1, best_first);
            ranked.truncate(limit);
        }
        ranked.sort_by(best_first);
        ranked
            .into_iter()
            .filter_map(|(score, slot)| {
                Some(LexicalHit {
                    chunk: chunk(slot)?,
                    score,
                    coverage: (matched[slot as usize] / query_weight).min(1.0),
                })
            })
            .collect()
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
    fn a_limited_search_is_the_head_of_the_full_ranking() {
        let mut index = Bm25::default();
        let words = ["alpha", "beta", "gamma", "delta", "omega"];
        for i in 0..200usize {
            let doc = Uuid::new_v4();
            // Varying counts and lengths give many distinct scores and some ties.
            let text: Vec<&str> = (0..(i % 7 + 1)).map(|k| words[(i + k) % 5]).collect();
            index.put_document(
                doc,
                vec![(Uuid::new_v4(), payload(doc, "Doc"), text.join(" "))],
            );
        }
        let all = VectorFilter::default();
        let full: Vec<Uuid> = index
            .search("alpha gamma", &all, usize::MAX)
            .iter()
            .map(|h| h.chunk.id)
            .collect();
        assert!(full.len() > 20);
        for limit in [1, 5, 20] {
            let head: Vec<Uuid> = index
                .search("alpha gamma", &all, limit)
                .iter()
                .map(|h| h.chunk.id)
                .collect();
            assert_eq!(head, full[..limit], "limit {limit}");
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
        assert!(
            (hits[0].coverage - 1.0).abs() < 1e-6,
            "every query term: {}",
            hits[0].coverage
        );
        assert!(
            hits[1].coverage > 0.0 && hits[1].coverage < 0.5,
            "only the commoner term: {}",
            hits[1].coverage
        );
        index.remove_document(a);
        let hits = index.search("forecast", &VectorFilter::default(), 10);
        assert!(hits.is_empty());
        assert_eq!(index.len(), 1);
    }
}
