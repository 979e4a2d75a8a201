//! The knowledge base: documents split into chunks, each chunk embedded into
//! the vector index and into an in-memory BM25 index, searched by both and
//! fused. The tool catalog is a second collection of the same machinery
//! (one document per live tool), so `GET /mcps?q=` ranks the same way.
//!
//! Consistency (SPEC §5.5): the document store is written first, with the
//! document `pending`; only after every chunk's vector is in the index is it
//! marked `indexed` (with the embedder that made the vectors). A failure in
//! between leaves it `pending`, and the `sync_knowledge` sweep (periodic, and
//! the `index_document` job queued at once) indexes it again — re-indexing
//! replaces the document's points, so a retry never duplicates. A delete
//! marks the document `deleting` (hidden from every read at once), removes
//! its points, then its row; the sweep finishes a delete cut short.
//!
//! Models: each embedder writes into its own collection, named from its
//! model id and dimension ([`Knowledge::collection`]), and a document records
//! the model key its vectors were made with. When the configured embedder
//! changes, documents of other models are re-embedded by the
//! `reindex_knowledge` job (queued at start) into the new collection, and
//! collections nothing refers to any more are dropped.
//!
//! `similarity_score` is [`relevance`]: the best chunk's cosine similarity,
//! raised by the share of the query's terms the document contains, in
//! [0, 1] and independent of how the other results score; results are
//! ranked by it.
//! What counts as relevant enough is a threshold per embedder
//! (`config::knowledge`; docs/search.md gives the figures).

pub mod chunk;
pub mod lexical;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use serde::Serialize;
use uuid::Uuid;

use crate::domain::Tool;
use crate::error::{Error, Result};
use crate::ports::{
    ChunkPayload, DocumentStatus, DocumentStore, Embedder, JobQueue, StoredDocument, VectorFilter,
    VectorIndex, VectorPoint,
};
use crate::state::AppState;
use lexical::Bm25;

/// Users' documents.
pub const DOCUMENTS: &str = "documents";
/// The tool catalog: one document per live tool, id = tool id.
pub const TOOLS: &str = "tools";
const COLLECTIONS: [&str; 2] = [DOCUMENTS, TOOLS];

/// How far sharing every query term moves a document's relevance from its
/// cosine towards 1 (see [`relevance`]).
pub const LEXICAL_WEIGHT: f32 = 0.5;
/// How many chunks each ranking contributes before fusion.
const CANDIDATES: usize = 200;
/// Texts per embedding call.
const EMBED_BATCH: usize = 64;
/// Another replica's writes reach this one's lexical index within this.
const LEXICAL_REFRESH: Duration = Duration::from_secs(2);

/// Walks every stored document once, in id order, a page at a time (for
/// rebuilds and sweeps, which must not hold the whole store in memory).
struct ScanCursor {
    after: Option<Uuid>,
    page_size: usize,
}

impl ScanCursor {
    fn new(page_size: usize) -> Self {
        Self {
            after: None,
            page_size,
        }
    }

    /// The next page, or `None` when every document has been seen.
    async fn next(&mut self, documents: &dyn DocumentStore) -> Result<Option<Vec<StoredDocument>>> {
        let page = documents.scan(self.after, self.page_size).await?;
        let Some(last) = page.last() else {
            return Ok(None);
        };
        self.after = Some(last.id);
        Ok(Some(page))
    }
}

pub struct Knowledge {
    pub embedder: Arc<dyn Embedder>,
    pub vectors: Arc<dyn VectorIndex>,
    pub documents: Arc<dyn DocumentStore>,
    lexical: HashMap<&'static str, RwLock<Bm25>>,
    /// Per collection: the store stamp the lexical index reflects, and when
    /// it was last compared.
    stamps: Mutex<HashMap<&'static str, (String, Instant)>>,
    /// Documents with more characters embed in a job (202, `pending`).
    pub inline_max_chars: usize,
}

/// One search result: a document and its best chunk.
#[derive(Debug, Clone, Serialize)]
pub struct Hit {
    pub document_id: Uuid,
    pub title: String,
    pub snippet: String,
    /// Its [`relevance`] to the query, in [0, 1].
    pub score: f32,
    pub payload: ChunkPayload,
    /// Whether the document shares a term with the query.
    pub lexical: bool,
    /// Its best chunk's cosine similarity to the query, if it was ranked.
    pub cosine: Option<f32>,
}

/// What [`Knowledge::add`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    Indexed,
    /// Stored; a job embeds it (large, or the inline attempt failed).
    Pending,
}

fn key_hash(s: &str) -> String {
    use sha2::Digest;
    hex::encode(&sha2::Sha256::digest(s.as_bytes())[..6])
}

/// A chunk's point id: stable for (document, chunk), so re-indexing replaces.
pub fn point_id(document_id: Uuid, chunk_index: usize) -> Uuid {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("{document_id}:{chunk_index}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_sha1_bytes(bytes).into_uuid()
}

fn payload_of(d: &StoredDocument, chunk_index: usize) -> ChunkPayload {
    ChunkPayload {
        document_id: d.id,
        chunk_index: u32::try_from(chunk_index).unwrap_or(u32::MAX),
        title: d.title.clone(),
        source: d.source.clone(),
        tags: d.tags.clone(),
        tool_id: d.tool_id,
        owner_id: d.owner_id,
        public: d.public,
        created_at: d.created_at,
    }
}

impl Knowledge {
    pub fn new(
        embedder: Arc<dyn Embedder>,
        vectors: Arc<dyn VectorIndex>,
        documents: Arc<dyn DocumentStore>,
        inline_max_chars: usize,
    ) -> Self {
        Self {
            embedder,
            vectors,
            documents,
            lexical: COLLECTIONS
                .iter()
                .map(|c| (*c, RwLock::new(Bm25::default())))
                .collect(),
            stamps: Mutex::new(HashMap::new()),
            inline_max_chars,
        }
    }

    /// What a document records as the model its vectors were made with.
    pub fn model_key(&self) -> String {
        format!("{}@{}", self.embedder.model_id(), self.embedder.dimension())
    }

    /// The vector collection of `base` for a model key: one per model, so
    /// vectors of two models never mix.
    pub fn collection_for(base: &str, model_key: &str) -> String {
        format!("{base}-{}", key_hash(model_key))
    }

    pub fn collection(&self, base: &str) -> String {
        Self::collection_for(base, &self.model_key())
    }

    fn lexical(&self, collection: &str) -> Result<&RwLock<Bm25>> {
        self.lexical
            .get(collection)
            .ok_or_else(|| Error::internal(format!("unknown knowledge collection {collection}")))
    }

    /// Creates the current model's collections and loads the lexical index
    /// from the store. Whether a reindex is due comes back.
    pub async fn start(&self) -> Result<bool> {
        for base in COLLECTIONS {
            self.vectors
                .ensure_collection(&self.collection(base), self.embedder.dimension())
                .await?;
        }
        let current = self.model_key();
        let (stale, _) = self
            .reload_lexical(|d| {
                d.status != DocumentStatus::Indexed
                    || d.embedding_model.as_deref() != Some(current.as_str())
            })
            .await?;
        Ok(stale)
    }

    /// Rebuilds every collection's lexical index from the store in one scan;
    /// also says whether any document matched `check`.
    async fn reload_lexical(
        &self,
        check: impl Fn(&StoredDocument) -> bool,
    ) -> Result<(bool, usize)> {
        let mut stamps = Vec::new();
        for base in COLLECTIONS {
            stamps.push((base, self.documents.stamp(base).await?));
        }
        let mut fresh: HashMap<&'static str, Bm25> =
            COLLECTIONS.iter().map(|c| (*c, Bm25::default())).collect();
        let (mut matched, mut seen) = (false, 0);
        let mut cursor = ScanCursor::new(1000);
        while let Some(page) = cursor.next(self.documents.as_ref()).await? {
            for d in page {
                seen += 1;
                matched |= check(&d);
                if d.status == DocumentStatus::Deleting {
                    continue;
                }
                if let Some(index) = fresh.get_mut(d.collection.as_str()) {
                    index.put_document(d.id, lexical_chunks(&d));
                }
            }
        }
        for (base, index) in fresh {
            *self.lexical(base)?.write() = index;
        }
        let now = Instant::now();
        let mut guard = self.stamps.lock();
        for (base, stamp) in stamps {
            guard.insert(base, (stamp, now));
        }
        Ok((matched, seen))
    }

    /// Reloads the lexical index when another replica changed the store.
    async fn refresh_lexical(&self, collection: &'static str) -> Result<()> {
        let due = self
            .stamps
            .lock()
            .get(collection)
            .is_none_or(|(_, at)| at.elapsed() >= LEXICAL_REFRESH);
        if !due {
            return Ok(());
        }
        let stamp = self.documents.stamp(collection).await?;
        let same = self
            .stamps
            .lock()
            .get(collection)
            .is_some_and(|(s, _)| *s == stamp);
        if same {
            self.stamps
                .lock()
                .insert(collection, (stamp, Instant::now()));
            return Ok(());
        }
        self.reload_lexical(|_| false).await.map(|_| ())
    }

    /// After this process's own write: the lexical index already has it, so
    /// the new stamp is not another replica's change.
    async fn note_own_write(&self, collection: &'static str) {
        if let Ok(stamp) = self.documents.stamp(collection).await {
            self.stamps
                .lock()
                .insert(collection, (stamp, Instant::now()));
        }
    }

    /// Embeds every chunk and puts the points in the current collection,
    /// then marks the document indexed. Idempotent.
    pub async fn index(&self, d: &StoredDocument) -> Result<()> {
        let base = static_collection(&d.collection)?;
        let collection = self.collection(base);
        let mut points = Vec::with_capacity(d.chunks.len());
        for (batch_no, batch) in d.chunks.chunks(EMBED_BATCH).enumerate() {
            let texts: Vec<String> = batch.iter().map(|c| format!("{}\n{c}", d.title)).collect();
            let vectors = self.embedder.embed(&texts).await?;
            if vectors.len() != texts.len() {
                return Err(Error::Unavailable(format!(
                    "embedder returned {} vectors for {} texts",
                    vectors.len(),
                    texts.len()
                )));
            }
            for (i, vector) in vectors.into_iter().enumerate() {
                let index = batch_no * EMBED_BATCH + i;
                points.push(VectorPoint {
                    id: point_id(d.id, index),
                    vector,
                    payload: payload_of(d, index),
                });
            }
        }
        // A shorter new version must not leave the old tail's points behind.
        self.vectors.delete_document(&collection, d.id).await?;
        self.vectors.upsert(&collection, points).await?;
        let model = self.model_key();
        if !self
            .documents
            .set_status(&d.collection, d.id, DocumentStatus::Indexed, Some(&model))
            .await?
        {
            // Deleted meanwhile: take back what this run added.
            self.vectors.delete_document(&collection, d.id).await?;
        }
        Ok(())
    }

    /// Stores a document (replacing one with the same id) and indexes it
    /// inline when it is small, otherwise (or when that fails) queues it.
    pub async fn add(&self, jobs: &dyn JobQueue, mut d: StoredDocument) -> Result<Added> {
        let base = static_collection(&d.collection)?;
        d.status = DocumentStatus::Pending;
        self.documents.put(&d).await?;
        self.lexical(base)?
            .write()
            .put_document(d.id, lexical_chunks(&d));
        self.note_own_write(base).await;
        if d.content.chars().count() > self.inline_max_chars {
            // Progress reporting through the tasks API hooks in here: the
            // job id comes back from `enqueue_index`.
            enqueue_index(jobs, base, d.id).await?;
            return Ok(Added::Pending);
        }
        match self.index(&d).await {
            Ok(()) => Ok(Added::Indexed),
            Err(e) => {
                tracing::warn!(error = %e, document_id = %d.id, "indexing deferred to a job");
                if let Err(e) = enqueue_index(jobs, base, d.id).await {
                    // The periodic sweep still finds it pending.
                    tracing::warn!(error = %e, "index job not queued; the sweep retries");
                }
                Ok(Added::Pending)
            }
        }
    }

    /// Removes a document from the index and the store. Once it is marked
    /// `deleting` it is gone for readers; what fails after that the sweep
    /// finishes. `false` when there was no such document.
    pub async fn remove(&self, collection: &str, id: Uuid) -> Result<bool> {
        let base = static_collection(collection)?;
        if self.documents.get(base, id).await?.is_none() {
            return Ok(false);
        }
        self.documents
            .set_status(base, id, DocumentStatus::Deleting, None)
            .await?;
        self.lexical(base)?.write().remove_document(id);
        if let Err(e) = self.finish_delete(base, id).await {
            tracing::warn!(error = %e, document_id = %id, "delete finished by the sweep");
        }
        self.note_own_write(base).await;
        Ok(true)
    }

    async fn finish_delete(&self, base: &str, id: Uuid) -> Result<()> {
        // Every model's collection: a reindex may be half-way.
        for name in self.known_collections(base) {
            self.vectors.delete_document(&name, id).await?;
        }
        self.documents.delete(base, id).await?;
        Ok(())
    }

    fn known_collections(&self, base: &str) -> Vec<String> {
        vec![self.collection(base)]
    }

    /// Hybrid search of one collection. `filter.visible_to` limits it to what
    /// that user may see.
    pub async fn search(
        &self,
        collection: &'static str,
        query: &str,
        filter: &VectorFilter,
        limit: usize,
    ) -> Result<Vec<Hit>> {
        self.refresh_lexical(collection).await?;
        let vector = self.embedder.embed(&[query.to_owned()]).await?;
        let vector = vector.into_iter().next().unwrap_or_default();
        let vector_hits = if vector.iter().any(|x| *x != 0.0) {
            self.vectors
                .search(&self.collection(collection), &vector, filter, CANDIDATES)
                .await?
        } else {
            Vec::new()
        };
        let lexical = self.lexical(collection)?.read();
        let lexical_hits = lexical.search(query, filter, CANDIDATES);

        // Per document (not chunk): its best chunk by cosine and its best
        // chunk by lexical coverage, each with its snippet.
        #[derive(Default)]
        struct Evidence {
            cosine: Option<(f32, String, ChunkPayload)>,
            coverage: Option<(f32, String, ChunkPayload)>,
        }
        let mut evidence: HashMap<Uuid, Evidence> = HashMap::new();
        for hit in &lexical_hits {
            let e = evidence.entry(hit.chunk.payload.document_id).or_default();
            if e.coverage.as_ref().is_none_or(|(c, ..)| hit.coverage > *c) {
                e.coverage = Some((
                    hit.coverage,
                    hit.chunk.text.clone(),
                    hit.chunk.payload.clone(),
                ));
            }
        }
        for hit in &vector_hits {
            let e = evidence.entry(hit.payload.document_id).or_default();
            // Ranked best first: the document's first chunk is its closest.
            if e.cosine.is_none() {
                let text = lexical
                    .chunk(hit.id)
                    .map_or_else(|| hit.payload.title.clone(), |c| c.text.clone());
                e.cosine = Some((hit.score, text, hit.payload.clone()));
            }
        }
        drop(lexical);
        let mut hits: Vec<Hit> = evidence
            .into_iter()
            .filter_map(|(document_id, e)| {
                let cosine = e.cosine.as_ref().map(|(c, ..)| *c);
                let coverage = e.coverage.as_ref().map_or(0.0, |(c, ..)| *c);
                let score = relevance(cosine.unwrap_or(0.0), coverage);
                // The snippet comes from whichever evidence weighs more.
                let from_vector = cosine.unwrap_or(0.0) >= LEXICAL_WEIGHT * coverage;
                let (_, snippet, payload) = match (e.cosine, e.coverage) {
                    (Some(v), Some(_)) if from_vector => v,
                    (_, Some(l)) => l,
                    (Some(v), None) => v,
                    (None, None) => return None,
                };
                Some(Hit {
                    document_id,
                    title: payload.title.clone(),
                    snippet,
                    score,
                    payload,
                    lexical: coverage > 0.0,
                    cosine,
                })
            })
            .collect();
        // Equal scores (rare): the title, then the id, so the order depends
        // on content and not on hash order.
        hits.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then_with(|| a.title.cmp(&b.title))
                .then(a.document_id.cmp(&b.document_id))
        });
        hits.truncate(limit);
        Ok(hits)
    }

    /// The lexical ranking alone (for the retrieval report).
    pub async fn search_lexical(
        &self,
        collection: &'static str,
        query: &str,
        filter: &VectorFilter,
        limit: usize,
    ) -> Result<Vec<Uuid>> {
        self.refresh_lexical(collection).await?;
        let lexical = self.lexical(collection)?.read();
        Ok(dedup_documents(
            lexical
                .search(query, filter, CANDIDATES)
                .iter()
                .map(|h| h.chunk.payload.document_id),
            limit,
        ))
    }

    /// The vector ranking alone (for the retrieval report).
    pub async fn search_vector(
        &self,
        collection: &'static str,
        query: &str,
        filter: &VectorFilter,
        limit: usize,
    ) -> Result<Vec<Uuid>> {
        let vector = self.embedder.embed(&[query.to_owned()]).await?;
        let vector = vector.into_iter().next().unwrap_or_default();
        let hits = self
            .vectors
            .search(&self.collection(collection), &vector, filter, CANDIDATES)
            .await?;
        Ok(dedup_documents(
            hits.iter().map(|h| h.payload.document_id),
            limit,
        ))
    }

    /// Brings every document to `indexed` under the current model: indexes
    /// pending ones and those of other models, finishes interrupted deletes,
    /// then drops collections of models nothing refers to. Idempotent.
    pub async fn sweep(&self) -> Result<SweepReport> {
        let current = self.model_key();
        let mut report = SweepReport::default();
        let mut other_models: HashSet<String> = HashSet::new();
        let mut cursor = ScanCursor::new(200);
        while let Some(page) = cursor.next(self.documents.as_ref()).await? {
            for d in page {
                let base = static_collection(&d.collection)?;
                if let Some(m) = d.embedding_model.as_deref().filter(|m| *m != current) {
                    other_models.insert(m.to_owned());
                }
                match d.status {
                    DocumentStatus::Deleting => {
                        for m in d.embedding_model.iter() {
                            self.vectors
                                .delete_document(&Self::collection_for(base, m), d.id)
                                .await
                                .or_else(ignore_missing)?;
                        }
                        self.finish_delete(base, d.id).await?;
                        report.deleted += 1;
                    }
                    _ if d.status == DocumentStatus::Pending
                        || d.embedding_model.as_deref() != Some(current.as_str()) =>
                    {
                        self.index(&d).await?;
                        report.indexed += 1;
                    }
                    _ => {}
                }
            }
        }
        for model in other_models {
            for base in COLLECTIONS {
                self.vectors
                    .drop_collection(&Self::collection_for(base, &model))
                    .await
                    .or_else(ignore_missing)?;
                report.dropped += 1;
            }
        }
        Ok(report)
    }

    /// Indexes one document now (the `index_document` job).
    pub async fn index_one(&self, collection: &str, id: Uuid) -> Result<()> {
        let base = static_collection(collection)?;
        match self.documents.get(base, id).await? {
            Some(d) if d.status == DocumentStatus::Deleting => self.finish_delete(base, id).await,
            Some(d) => self.index(&d).await,
            None => Ok(()),
        }
    }
}

/// A document's relevance to a query, in [0, 1]: its best chunk's cosine
/// similarity `c` (negative counts as 0) and the IDF-weighted share `l` of
/// the query's terms its best lexical chunk contains, combined as two
/// independent pieces of evidence, `c + (1 − c) · LEXICAL_WEIGHT · l`.
/// With no shared word it is the cosine itself; sharing every query term
/// moves it half-way from the cosine to 1. It does not depend on how the
/// other results score, so one threshold means the same in every query (per
/// embedder: cosines of different models are on different scales).
pub fn relevance(cosine: f32, coverage: f32) -> f32 {
    let c = cosine.clamp(0.0, 1.0);
    (c + (1.0 - c) * LEXICAL_WEIGHT * coverage.clamp(0.0, 1.0)).min(1.0)
}

fn ignore_missing(e: Error) -> Result<()> {
    match e {
        Error::NotFound { .. } => Ok(()),
        other => Err(other),
    }
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SweepReport {
    pub indexed: usize,
    pub deleted: usize,
    pub dropped: usize,
}

fn dedup_documents(ids: impl Iterator<Item = Uuid>, limit: usize) -> Vec<Uuid> {
    let mut seen = HashSet::new();
    ids.filter(|d| seen.insert(*d)).take(limit).collect()
}

fn static_collection(name: &str) -> Result<&'static str> {
    COLLECTIONS
        .into_iter()
        .find(|c| *c == name)
        .ok_or_else(|| Error::internal(format!("unknown knowledge collection {name}")))
}

fn lexical_chunks(d: &StoredDocument) -> Vec<(Uuid, ChunkPayload, String)> {
    d.chunks
        .iter()
        .enumerate()
        .map(|(i, c)| (point_id(d.id, i), payload_of(d, i), c.clone()))
        .collect()
}

async fn enqueue_index(jobs: &dyn JobQueue, collection: &str, id: Uuid) -> Result<Uuid> {
    let job = crate::jobs::IndexDocument {
        collection: collection.to_owned(),
        document_id: id,
    };
    let enqueued = jobs
        .enqueue(crate::jobs::NewJob::of(&job)?.idempotency_key(format!(
            "index_document:{collection}:{id}:{}",
            crate::domain::now().timestamp_millis()
        )))
        .await?;
    Ok(enqueued.id)
}

/// The searchable text of a tool: name, description, and the names and
/// descriptions of the MCP tools in its configuration.
pub fn tool_text(tool: &Tool) -> String {
    let mut parts = vec![tool.name.to_string()];
    if let Some(d) = &tool.description {
        parts.push(d.clone());
    }
    if let Some(tools) = tool
        .config
        .to_value()
        .get("tools")
        .and_then(|t| t.as_array())
    {
        for t in tools {
            let name = t.get("name").and_then(|v| v.as_str()).unwrap_or_default();
            let description = t
                .get("description")
                .and_then(|v| v.as_str())
                .unwrap_or_default();
            parts.push(format!("{name}: {description}"));
        }
    }
    parts.join("\n\n")
}

/// Puts a tool's current version in the catalog (after create, update,
/// restore). The tool change is committed whatever happens here: a failure
/// is logged and left to the sweep.
pub async fn catalog_put(state: &AppState, tool: &Tool) {
    let content = tool_text(tool);
    let d = StoredDocument {
        id: tool.id,
        collection: TOOLS.to_owned(),
        title: tool.name.to_string(),
        chunks: chunk::chunk(&content),
        content,
        source: Some("mcp_tool".into()),
        tags: tool.tags.clone(),
        language: None,
        tool_id: Some(tool.id),
        owner_id: Some(tool.author_id),
        public: true,
        status: DocumentStatus::Pending,
        embedding_model: None,
        created_at: tool.created_at,
        updated_at: tool.updated_at,
    };
    if let Err(e) = state.knowledge.add(state.jobs.as_ref(), d).await {
        tracing::warn!(error = %e, tool_id = %tool.id, "tool catalog entry not stored");
    }
}

/// Takes a deleted tool out of the catalog.
pub async fn catalog_remove(state: &AppState, id: Uuid) {
    if let Err(e) = state.knowledge.remove(TOOLS, id).await {
        tracing::warn!(error = %e, tool_id = %id, "tool catalog entry not removed");
    }
}

/// The most tools `GET /mcps?q=` ranks; past this the catalog needs a
/// real search server anyway.
const MAX_RANKED_TOOLS: u32 = 10_000;

/// `GET /mcps?q=`: live tools passing the other filters that match `q` —
/// as a substring of name or description (the listing's contract), by a
/// shared word, or by a relevance of at least
/// `SEARCH_CATALOG_MIN_SIMILARITY` — ranked by relevance (best first),
/// then newest first. Reading the live tools from the repository
/// means a deleted tool can never show, whatever the catalog still holds.
pub async fn rank_tools(
    state: &AppState,
    filter: &crate::ports::ToolFilter,
    page: crate::ports::PageRequest,
) -> Result<crate::ports::Page<Tool>> {
    let Some(q) = filter.q.as_deref() else {
        return state.tools.list(filter, page).await;
    };
    let base = crate::ports::ToolFilter {
        q: None,
        ..filter.clone()
    };
    let mut live = Vec::new();
    let mut request = crate::ports::PageRequest {
        page: 1,
        page_size: 1000,
    };
    loop {
        let batch = state.tools.list(&base, request).await?;
        let done = batch.items.len() < request.page_size as usize;
        live.extend(batch.items);
        if done || request.page * request.page_size >= MAX_RANKED_TOOLS {
            break;
        }
        request.page += 1;
    }
    let hits: HashMap<Uuid, Hit> = state
        .knowledge
        .search(TOOLS, q, &VectorFilter::default(), usize::MAX)
        .await?
        .into_iter()
        .map(|h| (h.document_id, h))
        .collect();
    let needle = q.to_lowercase();
    let min_relevance = state.settings.knowledge.catalog_min_similarity;
    let mut matched: Vec<(f32, Tool)> = live
        .into_iter()
        .filter_map(|tool| {
            let hit = hits.get(&tool.id);
            let text = format!(
                "{}\n{}",
                tool.name,
                tool.description.as_deref().unwrap_or_default()
            )
            .to_lowercase();
            let keep = text.contains(&needle)
                || hit.is_some_and(|h| h.lexical || h.score >= min_relevance);
            keep.then(|| (hit.map_or(0.0, |h| h.score), tool))
        })
        .collect();
    matched.sort_by(|(sa, a), (sb, b)| {
        sb.total_cmp(sa)
            .then(b.created_at.cmp(&a.created_at))
            .then(b.id.cmp(&a.id))
    });
    let total = matched.len() as u64;
    let items = matched
        .into_iter()
        .skip(usize::try_from(page.offset()).unwrap_or(usize::MAX))
        .take(page.page_size as usize)
        .map(|(_, t)| t)
        .collect();
    Ok(crate::ports::Page { items, total })
}

#[cfg(test)]
mod tests {
    use super::relevance;

    #[test]
    fn relevance_is_the_cosine_without_shared_words_and_rises_with_them_within_0_1() {
        assert_eq!(relevance(0.42, 0.0), 0.42);
        assert_eq!(relevance(-0.3, 0.0), 0.0, "a negative cosine counts as 0");
        assert!((relevance(0.0, 1.0) - 0.5).abs() < 1e-6);
        assert!((relevance(0.6, 1.0) - 0.8).abs() < 1e-6, "half-way to 1");
        let mut last = 0.0;
        for step in 0..=10u8 {
            let coverage = f32::from(step) / 10.0;
            let r = relevance(0.3, coverage);
            assert!((0.0..=1.0).contains(&r) && r >= last, "{coverage}: {r}");
            last = r;
        }
        assert_eq!(relevance(1.5, 2.0), 1.0);
    }
}
