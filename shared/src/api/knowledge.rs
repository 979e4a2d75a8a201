//! `/api/v1/knowledge/*`: documents and hybrid search. The rules live in
//! [`crate::knowledge`]; this module parses, checks ownership and shapes.
//!
//! Visibility: a document is private to its owner (and admins) unless its
//! metadata says `public: true`. Someone else's private document is a 404
//! to every read, exactly like a missing one, so ids leak nothing.

use std::time::Instant;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::extract::{parse, path_uuid, FieldReader, FromJson, Paging, QueryFields, ValidJson};
use crate::credentials::AuthUser;
use crate::domain::{Permission, Principal, Role};
use crate::error::{Error, ErrorBody, FieldError, Result};
use crate::knowledge::{chunk, point_id, Added, DOCUMENTS};
use crate::ports::{DocumentFilter, DocumentStatus, StoredDocument, VectorFilter};
use crate::registry::require;
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_document, list_documents))
        .routes(routes!(get_document, delete_document))
        .routes(routes!(search))
}

const MAX_TITLE_CHARS: usize = 500;
const MAX_CONTENT_CHARS: usize = 2_000_000;
const MAX_QUERY_CHARS: usize = 1000;
const MAX_SEARCH_LIMIT: u32 = 50;

/// The caller's view filter: admins see everything.
fn viewer(principal: &Principal) -> Option<Uuid> {
    (principal.role != Role::Admin).then_some(principal.user_id)
}

fn visible(principal: &Principal, d: &StoredDocument) -> bool {
    d.status != DocumentStatus::Deleting
        && (d.public || principal.role == Role::Admin || d.owner_id == Some(principal.user_id))
}

/// Reads the fields of a nested object (`metadata`, `filters`), naming bad
/// ones by their full path.
struct Nested {
    loc: Vec<String>,
    fields: Map<String, Value>,
    errors: Vec<FieldError>,
}

impl Nested {
    fn new(value: &Value, loc: &[&str]) -> std::result::Result<Self, Vec<FieldError>> {
        match value.as_object() {
            Some(map) => Ok(Self {
                loc: loc.iter().map(|s| (*s).to_owned()).collect(),
                fields: map.clone(),
                errors: Vec::new(),
            }),
            None => Err(vec![FieldError::new(
                loc,
                "object_type",
                "must be a JSON object",
            )]),
        }
    }

    fn optional<T>(
        &mut self,
        field: &'static str,
        parse: impl FnOnce(&Value) -> std::result::Result<T, String>,
    ) -> Option<T> {
        match self.fields.remove(field) {
            None | Some(Value::Null) => None,
            Some(v) => match parse(&v) {
                Ok(t) => Some(t),
                Err(msg) => {
                    self.errors.push(self.error_at(field, "value_error", msg));
                    None
                }
            },
        }
    }

    fn error_at(&self, field: &str, kind: &str, msg: String) -> FieldError {
        let mut loc: Vec<&str> = self.loc.iter().map(String::as_str).collect();
        loc.push(field);
        FieldError::new(&loc, kind, msg)
    }

    fn finish<T>(mut self, value: T) -> std::result::Result<T, Vec<FieldError>> {
        let unknown: Vec<FieldError> = self
            .fields
            .keys()
            .map(|key| self.error_at(key, "extra_forbidden", "unknown field".into()))
            .collect();
        self.errors.extend(unknown);
        if self.errors.is_empty() {
            Ok(value)
        } else {
            Err(self.errors)
        }
    }
}

fn uuid_value(v: &Value) -> std::result::Result<Uuid, String> {
    parse::string(v).and_then(|s| Uuid::parse_str(s).map_err(|_| "must be a UUID".to_owned()))
}

fn short_string(max: usize) -> impl Fn(&Value) -> std::result::Result<String, String> {
    move |v| {
        let s = parse::bounded_string(max)(v)?;
        if s.trim().is_empty() {
            return Err("must not be blank".into());
        }
        if s.chars().any(char::is_control) {
            return Err("must not contain control characters".into());
        }
        Ok(s.trim().to_owned())
    }
}

#[derive(Debug, Default, Clone, Serialize, ToSchema)]
pub struct DocumentMetadata {
    /// Where the text comes from (`docs`, `readme`, a URL…), up to 255 characters.
    source: Option<String>,
    tags: Vec<String>,
    /// e.g. `en`.
    language: Option<String>,
    tool_id: Option<Uuid>,
    /// Visible to every user when true; otherwise only to its owner and admins.
    public: bool,
}

impl DocumentMetadata {
    fn parse(value: &Value, loc: &[&str]) -> std::result::Result<Self, Vec<FieldError>> {
        let mut r = Nested::new(value, loc)?;
        let source = r.optional("source", short_string(255));
        let tags = r.optional("tags", parse::tags);
        let language = r.optional("language", short_string(32));
        let tool_id = r.optional("tool_id", uuid_value);
        let public = r.optional("public", parse::boolean);
        r.finish(Self {
            source,
            tags: tags.unwrap_or_default(),
            language,
            tool_id,
            public: public.unwrap_or(false),
        })
    }
}

#[derive(ToSchema)]
pub struct CreateDocumentRequest {
    #[schema(min_length = 1, max_length = 500)]
    title: String,
    /// The text; split into chunks for embedding.
    content: String,
    metadata: Option<DocumentMetadata>,
}

impl FromJson for CreateDocumentRequest {
    fn from_json(r: &mut FieldReader) -> Option<Self> {
        let title = r.required("title", short_string(MAX_TITLE_CHARS));
        let content = r.required("content", |v| {
            let s = parse::bounded_string(MAX_CONTENT_CHARS)(v)?;
            if s.trim().is_empty() {
                return Err("must not be blank".into());
            }
            Ok(s)
        });
        let metadata = r.nested("metadata", false, DocumentMetadata::parse);
        Some(Self {
            title: title?,
            content: content?,
            metadata: metadata?,
        })
    }
}

#[derive(Serialize, ToSchema)]
pub struct CreatedDocument {
    document_id: Uuid,
    title: String,
    created_at: DateTime<Utc>,
    /// The id of the document's first vector point.
    embedding_id: Uuid,
    /// How many chunks the content was split into.
    chunks: usize,
    /// `indexed`, or `pending` while a job embeds it (202).
    status: DocumentStatus,
}

#[utoipa::path(post, path = "/api/v1/knowledge/documents", tag = "knowledge", request_body = CreateDocumentRequest,
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 201, body = CreatedDocument), (status = 202, body = CreatedDocument, description = "stored; embedding runs as a job"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_document(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    body: Result<ValidJson<CreateDocumentRequest>>,
) -> Result<impl IntoResponse> {
    require(&principal, Permission::KnowledgeWrite)?;
    let ValidJson(req) = body?;
    let metadata = req.metadata.unwrap_or_default();
    let now = crate::domain::now();
    let document = StoredDocument {
        id: Uuid::new_v4(),
        collection: DOCUMENTS.to_owned(),
        title: req.title,
        chunks: chunk::chunk(&req.content),
        content: req.content,
        source: metadata.source,
        tags: metadata.tags,
        language: metadata.language,
        tool_id: metadata.tool_id,
        owner_id: Some(principal.user_id),
        public: metadata.public,
        status: DocumentStatus::Pending,
        embedding_model: None,
        created_at: now,
        updated_at: now,
    };
    let created = CreatedDocument {
        document_id: document.id,
        title: document.title.clone(),
        created_at: document.created_at,
        embedding_id: point_id(document.id, 0),
        chunks: document.chunks.len(),
        status: DocumentStatus::Pending,
    };
    let added = state.knowledge.add(state.jobs.as_ref(), document).await?;
    let (status, code) = match added {
        Added::Indexed => (DocumentStatus::Indexed, StatusCode::CREATED),
        Added::Pending => (DocumentStatus::Pending, StatusCode::ACCEPTED),
    };
    Ok((code, Json(CreatedDocument { status, ..created })))
}

#[derive(Serialize, ToSchema)]
pub struct DocumentView {
    document_id: Uuid,
    title: String,
    content: String,
    metadata: DocumentMetadata,
    owner_id: Option<Uuid>,
    status: DocumentStatus,
    chunks: usize,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct DocumentSummary {
    document_id: Uuid,
    title: String,
    metadata: DocumentMetadata,
    owner_id: Option<Uuid>,
    status: DocumentStatus,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

fn metadata_of(d: &StoredDocument) -> DocumentMetadata {
    DocumentMetadata {
        source: d.source.clone(),
        tags: d.tags.clone(),
        language: d.language.clone(),
        tool_id: d.tool_id,
        public: d.public,
    }
}

/// A document the caller may see, or 404.
async fn find_visible(state: &AppState, principal: &Principal, id: Uuid) -> Result<StoredDocument> {
    match state.knowledge.documents.get(DOCUMENTS, id).await? {
        Some(d) if visible(principal, &d) => Ok(d),
        _ => Err(Error::not_found("document", id)),
    }
}

#[utoipa::path(get, path = "/api/v1/knowledge/documents/{id}", tag = "knowledge", params(("id" = Uuid, Path)),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = DocumentView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn get_document(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Path(id): Path<String>,
) -> Result<Json<DocumentView>> {
    require(&principal, Permission::KnowledgeRead)?;
    let id = path_uuid("id", &id)?;
    let d = find_visible(&state, &principal, id).await?;
    Ok(Json(DocumentView {
        document_id: d.id,
        metadata: metadata_of(&d),
        chunks: d.chunks.len(),
        title: d.title,
        content: d.content,
        owner_id: d.owner_id,
        status: d.status,
        created_at: d.created_at,
        updated_at: d.updated_at,
    }))
}

#[utoipa::path(delete, path = "/api/v1/knowledge/documents/{id}", tag = "knowledge", params(("id" = Uuid, Path)),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete_document(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    require(&principal, Permission::KnowledgeWrite)?;
    let id = path_uuid("id", &id)?;
    let d = find_visible(&state, &principal, id).await?;
    if principal.role != Role::Admin && d.owner_id != Some(principal.user_id) {
        return Err(Error::Forbidden {
            required_permission: "knowledge:write:any",
        });
    }
    if !state.knowledge.remove(DOCUMENTS, id).await? {
        return Err(Error::not_found("document", id));
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct DocumentPage {
    items: Vec<DocumentSummary>,
    total: u64,
    page: u32,
    page_size: u32,
    pages: u64,
}

#[utoipa::path(get, path = "/api/v1/knowledge/documents", tag = "knowledge",
    params(("page" = Option<u32>, Query), ("page_size" = Option<u32>, Query, description = "1 to 100, default 20"),
        ("tag" = Option<String>, Query), ("source" = Option<String>, Query), ("tool_id" = Option<Uuid>, Query),
        ("status" = Option<DocumentStatus>, Query)),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = DocumentPage), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn list_documents(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    QueryFields(mut query): QueryFields,
) -> Result<Json<DocumentPage>> {
    require(&principal, Permission::KnowledgeRead)?;
    let paging = Paging::read(&mut query);
    let tag = query.optional("tag", parse::with(parse::tag));
    let source = query.optional("source", short_string(255));
    let tool_id = query.optional("tool_id", uuid_value);
    let status = query.optional(
        "status",
        parse::with(|s| match DocumentStatus::parse(s) {
            Ok(DocumentStatus::Deleting) | Err(_) => Err("must be one of: pending, indexed".into()),
            Ok(s) => Ok(s),
        }),
    );
    query.finish()?;
    let (Some(paging), Some(tag), Some(source), Some(tool_id), Some(status)) =
        (paging, tag, source, tool_id, status)
    else {
        return Err(Error::internal(
            "query reader returned nothing without an error",
        ));
    };
    let filter = DocumentFilter {
        tag,
        source,
        tool_id,
        visible_to: viewer(&principal),
        status,
    };
    let page = state
        .knowledge
        .documents
        .list(DOCUMENTS, &filter, paging.request())
        .await?;
    Ok(Json(DocumentPage {
        items: page
            .items
            .iter()
            .map(|d| DocumentSummary {
                document_id: d.id,
                title: d.title.clone(),
                metadata: metadata_of(d),
                owner_id: d.owner_id,
                status: d.status,
                created_at: d.created_at,
                updated_at: d.updated_at,
            })
            .collect(),
        total: page.total,
        page: paging.page,
        page_size: paging.page_size,
        pages: paging.pages(page.total),
    }))
}

#[derive(Debug, Default, ToSchema)]
pub struct SearchFilters {
    /// Documents with any of these tags.
    tags: Vec<String>,
    source: Option<String>,
    tool_id: Option<Uuid>,
}

impl SearchFilters {
    fn parse(value: &Value, loc: &[&str]) -> std::result::Result<Self, Vec<FieldError>> {
        let mut r = Nested::new(value, loc)?;
        let tags = r.optional("tags", parse::tags);
        let source = r.optional("source", short_string(255));
        let tool_id = r.optional("tool_id", uuid_value);
        r.finish(Self {
            tags: tags.unwrap_or_default(),
            source,
            tool_id,
        })
    }
}

#[derive(ToSchema)]
pub struct SearchRequest {
    #[schema(min_length = 1, max_length = 1000)]
    query: String,
    /// 1 to 50, default 10.
    limit: Option<u32>,
    filters: Option<SearchFilters>,
    /// 0 to 1: results whose `similarity_score` is lower are left out.
    /// Default: `SEARCH_MIN_SCORE`, whose own default is chosen per embedder
    /// (docs/search.md).
    min_score: Option<f32>,
}

impl FromJson for SearchRequest {
    fn from_json(r: &mut FieldReader) -> Option<Self> {
        let query = r.required("query", short_string(MAX_QUERY_CHARS));
        let limit = r.optional("limit", |v| {
            v.as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .filter(|n| (1..=MAX_SEARCH_LIMIT).contains(n))
                .ok_or_else(|| format!("must be a whole number from 1 to {MAX_SEARCH_LIMIT}"))
        });
        let filters = r.nested("filters", false, SearchFilters::parse);
        let min_score = r.optional("min_score", |v| {
            #[allow(clippy::cast_possible_truncation)]
            v.as_f64()
                .filter(|n| (0.0..=1.0).contains(n))
                .map(|n| n as f32)
                .ok_or_else(|| "must be a number from 0 to 1".to_owned())
        });
        Some(Self {
            query: query?,
            limit: limit?,
            filters: filters?,
            min_score: min_score?,
        })
    }
}

#[derive(Serialize, ToSchema)]
pub struct SearchResult {
    document_id: Uuid,
    title: String,
    /// The document's best-matching chunk.
    content_snippet: String,
    /// Relevance in [0, 1]: the cosine similarity of the document's closest
    /// chunk to the query (0 when negative), raised by the IDF-weighted share
    /// of the query's words the document contains: `c + (1 − c) · 0.5 · l`.
    /// It does not depend on how the other results score, so a threshold
    /// means the same in every query; its scale is the embedder's
    /// (docs/search.md).
    similarity_score: f32,
    #[schema(value_type = Object)]
    metadata: Value,
}

#[derive(Serialize, ToSchema)]
pub struct SearchResponse {
    results: Vec<SearchResult>,
    /// Matches at or above `min_score` (before `limit`).
    total: usize,
    query_time_ms: f64,
}

#[utoipa::path(post, path = "/api/v1/knowledge/search", tag = "knowledge", request_body = SearchRequest,
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = SearchResponse), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn search(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    body: Result<ValidJson<SearchRequest>>,
) -> Result<Json<SearchResponse>> {
    require(&principal, Permission::KnowledgeRead)?;
    let ValidJson(req) = body?;
    let started = Instant::now();
    let filters = req.filters.unwrap_or_default();
    let filter = VectorFilter {
        tags: filters.tags,
        source: filters.source,
        tool_id: filters.tool_id,
        visible_to: viewer(&principal),
    };
    let min_score = req
        .min_score
        .unwrap_or(state.settings.knowledge.search_min_score);
    let hits: Vec<_> = state
        .knowledge
        .search(DOCUMENTS, &req.query, &filter, usize::MAX)
        .await?
        .into_iter()
        .filter(|h| h.score >= min_score)
        .collect();
    let total = hits.len();
    let limit = usize::try_from(req.limit.unwrap_or(10)).unwrap_or(10);
    let results = hits
        .into_iter()
        .take(limit)
        .map(|h| SearchResult {
            document_id: h.document_id,
            title: h.title,
            content_snippet: h.snippet,
            similarity_score: h.score,
            metadata: serde_json::json!({
                "source": h.payload.source,
                "tags": h.payload.tags,
                "tool_id": h.payload.tool_id,
                "public": h.payload.public,
                "chunk_index": h.payload.chunk_index,
                "created_at": h.payload.created_at,
            }),
        })
        .collect();
    Ok(Json(SearchResponse {
        results,
        total,
        query_time_ms: started.elapsed().as_secs_f64() * 1000.0,
    }))
}
