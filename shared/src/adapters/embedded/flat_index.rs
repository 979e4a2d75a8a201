//! The embedded exact vector index: every point of a collection in one
//! contiguous `Vec<f32>` in memory, searched by brute force. Exact (no
//! approximate-recall trade-off) and fast enough at the sizes the embedded
//! shape serves (see `bench/RESULTS.md`): a dot product of normalised
//! vectors is their cosine, computed 8 lanes at a time (`chunks_exact`) so
//! the compiler vectorises it, and a bounded heap keeps the top k.
//!
//! Persistence: with a [`SqlStore`] every write goes to the
//! `vector_collections` / `vector_points` tables first (vectors as
//! little-endian f32 BLOBs, one transaction per call) and then to memory;
//! [`FlatIndex::open`] loads everything back at start. Without one (tests,
//! benchmarks) it is memory only.
//!
//! Several replicas over one MySQL database each hold their own copy loaded
//! at start; a deployment with more than one API replica should use Qdrant.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

use async_trait::async_trait;
use parking_lot::RwLock;
use sqlx::Row;
use uuid::Uuid;

use crate::adapters::sql::SqlStore;
use crate::error::{Error, FieldError, Result};
use crate::ports::{ChunkPayload, Ping, ScoredPoint, VectorFilter, VectorIndex, VectorPoint};

#[derive(Default)]
struct Collection {
    dimension: usize,
    ids: Vec<Uuid>,
    payloads: Vec<ChunkPayload>,
    /// Point `i` is `vectors[i * dimension..(i + 1) * dimension]`.
    vectors: Vec<f32>,
    position: HashMap<Uuid, usize>,
}

impl Collection {
    fn new(dimension: usize) -> Self {
        Self {
            dimension,
            ..Self::default()
        }
    }

    fn upsert(&mut self, point: VectorPoint) {
        if let Some(&i) = self.position.get(&point.id) {
            let d = self.dimension;
            self.vectors[i * d..(i + 1) * d].copy_from_slice(&point.vector);
            self.payloads[i] = point.payload;
            return;
        }
        self.position.insert(point.id, self.ids.len());
        self.ids.push(point.id);
        self.payloads.push(point.payload);
        self.vectors.extend_from_slice(&point.vector);
    }

    /// Swap-removes point `i`, moving the last point into its place.
    fn remove_at(&mut self, i: usize) {
        let d = self.dimension;
        let last = self.ids.len() - 1;
        self.position.remove(&self.ids[i]);
        if i != last {
            self.vectors.copy_within(last * d..(last + 1) * d, i * d);
            self.ids.swap(i, last);
            self.payloads.swap(i, last);
            self.position.insert(self.ids[i], i);
        }
        self.ids.pop();
        self.payloads.pop();
        self.vectors.truncate(last * d);
    }

    fn remove_document(&mut self, document_id: Uuid) {
        let mut i = 0;
        while i < self.ids.len() {
            if self.payloads[i].document_id == document_id {
                self.remove_at(i);
            } else {
                i += 1;
            }
        }
    }
}

/// The dot product, 8 independent accumulators so the loop vectorises.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    let mut sum: f32 = acc.iter().sum();
    for (x, y) in ra.iter().zip(rb) {
        sum += x * y;
    }
    sum
}

/// A heap entry ordered by score, reversed: the heap's top is the worst kept.
#[derive(PartialEq)]
struct Candidate(f32, usize);
impl Eq for Candidate {}
impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> Ordering {
        other.0.total_cmp(&self.0).then(self.1.cmp(&other.1))
    }
}

pub struct FlatIndex {
    store: Option<SqlStore>,
    collections: RwLock<HashMap<String, Collection>>,
}

fn dimension_error(expected: usize, got: usize) -> Error {
    Error::Validation(vec![FieldError::new(
        &["vector"],
        "value_error",
        format!("has {got} dimensions; the collection has {expected}"),
    )])
}

fn encode(vector: &[f32]) -> Vec<u8> {
    vector.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn decode(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

impl FlatIndex {
    /// Memory only.
    pub fn in_memory() -> Self {
        Self {
            store: None,
            collections: RwLock::new(HashMap::new()),
        }
    }

    /// Persisted in `store`; loads every stored collection.
    pub async fn open(store: SqlStore) -> Result<Self> {
        let mut collections = HashMap::new();
        for row in sqlx::query("SELECT name, dimension FROM vector_collections")
            .fetch_all(store.pool())
            .await?
        {
            let name: String = crate::adapters::sql::text(&row, "name")?;
            let dimension: i64 = row.try_get("dimension")?;
            collections.insert(
                name,
                Collection::new(usize::try_from(dimension).map_err(Error::internal)?),
            );
        }
        // Paged by id so a large index never needs one giant result set.
        for (name, collection) in &mut collections {
            let mut after = String::new();
            loop {
                let rows = sqlx::query(
                    "SELECT id, payload, vector FROM vector_points \
                     WHERE collection = ? AND id > ? ORDER BY id LIMIT 5000",
                )
                .bind(name.as_str())
                .bind(&after)
                .fetch_all(store.pool())
                .await?;
                let Some(last) = rows.last() else { break };
                after = crate::adapters::sql::text(last, "id")?;
                for row in &rows {
                    let id =
                        crate::adapters::sql::parse_uuid(&crate::adapters::sql::text(row, "id")?)?;
                    let payload: ChunkPayload =
                        serde_json::from_str(&crate::adapters::sql::text(row, "payload")?)
                            .map_err(|e| Error::internal(format!("stored vector payload: {e}")))?;
                    let bytes: Vec<u8> = row.try_get("vector")?;
                    let vector = decode(&bytes);
                    if vector.len() != collection.dimension {
                        return Err(Error::internal(format!(
                            "stored vector {id} of {name} has {} dimensions, not {}",
                            vector.len(),
                            collection.dimension
                        )));
                    }
                    collection.upsert(VectorPoint {
                        id,
                        vector,
                        payload,
                    });
                }
            }
        }
        Ok(Self {
            store: Some(store),
            collections: RwLock::new(collections),
        })
    }

    /// Points in a collection (for tests, metrics and benchmarks).
    pub fn len(&self, collection: &str) -> usize {
        self.collections
            .read()
            .get(collection)
            .map_or(0, |c| c.ids.len())
    }

    fn missing(collection: &str) -> Error {
        Error::not_found("vector_collection", collection)
    }
}

#[async_trait]
impl Ping for FlatIndex {
    async fn ping(&self) -> Result<()> {
        Ok(())
    }
}

#[async_trait]
impl VectorIndex for FlatIndex {
    async fn ensure_collection(&self, collection: &str, dimension: usize) -> Result<()> {
        if dimension == 0 {
            return Err(Error::invalid(
                &["dimension"],
                "value_error",
                "must be at least 1",
            ));
        }
        if let Some(existing) = self.collections.read().get(collection) {
            return if existing.dimension == dimension {
                Ok(())
            } else {
                Err(Error::Conflict {
                    detail: format!(
                        "collection {collection} has dimension {}, not {dimension}",
                        existing.dimension
                    ),
                    resource_type: "vector_collection",
                    resource_id: Some(collection.to_owned()),
                })
            };
        }
        if let Some(store) = &self.store {
            // Two creators racing: the primary key keeps one; re-read below.
            let inserted =
                sqlx::query("INSERT INTO vector_collections (name, dimension) VALUES (?, ?)")
                    .bind(collection)
                    .bind(i64::try_from(dimension).map_err(Error::internal)?)
                    .execute(store.pool())
                    .await;
            if let Err(e) = inserted {
                let row = sqlx::query("SELECT dimension FROM vector_collections WHERE name = ?")
                    .bind(collection)
                    .fetch_optional(store.pool())
                    .await?;
                match row {
                    Some(row)
                        if row.try_get::<i64, _>("dimension")?
                            == i64::try_from(dimension).unwrap_or(-1) => {}
                    Some(_) => {
                        return Err(Error::Conflict {
                            detail: format!("collection {collection} has another dimension"),
                            resource_type: "vector_collection",
                            resource_id: Some(collection.to_owned()),
                        })
                    }
                    None => return Err(e.into()),
                }
            }
        }
        self.collections
            .write()
            .entry(collection.to_owned())
            .or_insert_with(|| Collection::new(dimension));
        Ok(())
    }

    async fn upsert(&self, collection: &str, points: Vec<VectorPoint>) -> Result<()> {
        let dimension = self
            .collections
            .read()
            .get(collection)
            .map(|c| c.dimension)
            .ok_or_else(|| Self::missing(collection))?;
        if let Some(bad) = points.iter().find(|p| p.vector.len() != dimension) {
            return Err(dimension_error(dimension, bad.vector.len()));
        }
        if let Some(store) = &self.store {
            let mut tx = store.pool().begin().await?;
            for p in &points {
                let payload = serde_json::to_string(&p.payload)
                    .map_err(|e| Error::internal(format!("vector payload: {e}")))?;
                sqlx::query("DELETE FROM vector_points WHERE collection = ? AND id = ?")
                    .bind(collection)
                    .bind(p.id.to_string())
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO vector_points (collection, id, document_id, payload, vector) \
                     VALUES (?, ?, ?, ?, ?)",
                )
                .bind(collection)
                .bind(p.id.to_string())
                .bind(p.payload.document_id.to_string())
                .bind(payload)
                .bind(encode(&p.vector))
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        }
        let mut guard = self.collections.write();
        let c = guard
            .get_mut(collection)
            .ok_or_else(|| Self::missing(collection))?;
        for p in points {
            c.upsert(p);
        }
        Ok(())
    }

    async fn delete_document(&self, collection: &str, document_id: Uuid) -> Result<()> {
        if let Some(store) = &self.store {
            sqlx::query("DELETE FROM vector_points WHERE collection = ? AND document_id = ?")
                .bind(collection)
                .bind(document_id.to_string())
                .execute(store.pool())
                .await?;
        }
        if let Some(c) = self.collections.write().get_mut(collection) {
            c.remove_document(document_id);
        }
        Ok(())
    }

    async fn search(
        &self,
        collection: &str,
        vector: &[f32],
        filter: &VectorFilter,
        limit: usize,
    ) -> Result<Vec<ScoredPoint>> {
        let guard = self.collections.read();
        let c = guard
            .get(collection)
            .ok_or_else(|| Self::missing(collection))?;
        if vector.len() != c.dimension {
            return Err(dimension_error(c.dimension, vector.len()));
        }
        if limit == 0 {
            return Ok(Vec::new());
        }
        let unfiltered = *filter == VectorFilter::default();
        let mut heap: BinaryHeap<Candidate> = BinaryHeap::with_capacity(limit + 1);
        for (i, point) in c.vectors.chunks_exact(c.dimension).enumerate() {
            if !unfiltered && !filter.matches(&c.payloads[i]) {
                continue;
            }
            let score = dot(vector, point);
            if heap.len() < limit {
                heap.push(Candidate(score, i));
            } else if heap.peek().is_some_and(|worst| score > worst.0) {
                heap.pop();
                heap.push(Candidate(score, i));
            }
        }
        Ok(heap
            .into_sorted_vec()
            .into_iter()
            .map(|Candidate(score, i)| ScoredPoint {
                id: c.ids[i],
                score,
                payload: c.payloads[i].clone(),
            })
            .collect())
    }

    async fn drop_collection(&self, collection: &str) -> Result<()> {
        if let Some(store) = &self.store {
            let mut tx = store.pool().begin().await?;
            sqlx::query("DELETE FROM vector_points WHERE collection = ?")
                .bind(collection)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM vector_collections WHERE name = ?")
                .bind(collection)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        }
        self.collections.write().remove(collection);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_matches_the_naive_sum_for_every_remainder() {
        for n in [1usize, 7, 8, 9, 384, 385] {
            let a: Vec<f32> = (0..n).map(|i| (i as f32).sin()).collect();
            let b: Vec<f32> = (0..n).map(|i| (i as f32).cos()).collect();
            let naive: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            assert!((dot(&a, &b) - naive).abs() < 1e-3, "n={n}");
        }
    }

    #[test]
    fn vectors_round_trip_through_their_blob() {
        let v = vec![0.5f32, -1.25, f32::MIN_POSITIVE, 3.0];
        assert_eq!(decode(&encode(&v)), v);
    }
}
