//! `/api/v1/mcps/*`: the tool registry. Rules live in [`crate::registry`];
//! this module only parses requests and shapes responses.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::extract::{
    both, parse, path_uuid, FieldReader, FromJson, Paging, QueryFields, ValidJson,
};
use crate::credentials::AuthUser;
use crate::domain::{
    HistoryRecord, Permission, Principal, SemVer, Slug, ToolConfig, ToolName, ToolStatus,
};
use crate::error::{Error, ErrorBody, Result};
use crate::ports::ToolFilter;
use crate::registry::{self, require, NewTool, ToolPatch, ToolView};
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_tool, list_tools))
        .routes(routes!(get_tool, put_tool, patch_tool, delete_tool))
        .routes(routes!(get_tool_by_slug))
        .routes(routes!(tool_history))
        .routes(routes!(restore_version))
}

const MAX_DESCRIPTION_CHARS: usize = 10_000;

#[derive(ToSchema)]
pub struct CreateToolRequest {
    #[schema(value_type = String, min_length = 1, max_length = 255)]
    name: ToolName,
    #[schema(value_type = String, pattern = "^[a-z0-9-]+$")]
    slug: Slug,
    description: Option<String>,
    #[schema(value_type = String, example = "1.0.0")]
    version: SemVer,
    /// MCP configuration: servers, tools, prompts, resources, and `runtime`.
    #[schema(value_type = Object)]
    config: ToolConfig,
    tags: Option<Vec<String>>,
}

/// A description as clients will be shown it: bounded, no spoofing
/// characters, NFC.
fn description_text(v: &serde_json::Value) -> Result<String, String> {
    crate::domain::shown_text(&parse::bounded_string(MAX_DESCRIPTION_CHARS)(v)?)
}

impl FromJson for CreateToolRequest {
    fn from_json(r: &mut FieldReader) -> Option<Self> {
        let name = r.required("name", parse::with(ToolName::parse));
        let slug = r.required("slug", parse::with(Slug::parse));
        let description = r.optional("description", description_text);
        let version = r.required("version", parse::with(SemVer::parse));
        let config = r.nested("config", true, ToolConfig::parse);
        let tags = r.optional("tags", parse::tags);
        Some(Self {
            name: name?,
            slug: slug?,
            description: description?,
            version: version?,
            config: config??,
            tags: tags?,
        })
    }
}

impl FromJson for ToolPatch {
    fn from_json(r: &mut FieldReader) -> Option<Self> {
        let name = r.optional("name", parse::with(ToolName::parse));
        // `description: null` clears it, so absence and null differ here.
        let description = if r.has("description") {
            r.optional("description", description_text).map(Some)
        } else {
            Some(None)
        };
        let version = r.optional("version", parse::with(SemVer::parse));
        let config = r.nested("config", false, ToolConfig::parse);
        let status = r.optional("status", parse::with(ToolStatus::parse));
        let tags = r.optional("tags", parse::tags);
        Some(Self {
            name: name?,
            description: description?,
            version: version?,
            config: config?,
            status: status?,
            tags: tags?,
        })
    }
}

fn json_response(status: StatusCode, bytes: bytes::Bytes) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], bytes).into_response()
}

#[utoipa::path(post, path = "/api/v1/mcps", tag = "mcps", request_body = CreateToolRequest,
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 201, body = ToolView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_tool(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    body: Result<ValidJson<CreateToolRequest>>,
) -> Result<impl IntoResponse> {
    // Who may write is answered before what they wrote is judged.
    require(&principal, Permission::ToolsWrite)?;
    let ValidJson(req) = body?;
    let new = NewTool {
        name: req.name,
        slug: req.slug,
        description: req.description,
        version: req.version,
        config: req.config,
        tags: req.tags.unwrap_or_default(),
    };
    let tool = registry::create(&state, &principal, new).await?;
    Ok((
        StatusCode::CREATED,
        Json(registry::view_for(&principal, &tool)),
    ))
}

#[derive(Serialize, ToSchema)]
pub struct ToolPage {
    items: Vec<ToolView>,
    total: u64,
    page: u32,
    page_size: u32,
    pages: u64,
}

#[utoipa::path(get, path = "/api/v1/mcps", tag = "mcps",
    params(("page" = Option<u32>, Query), ("page_size" = Option<u32>, Query, description = "1 to 100, default 20"),
        ("status" = Option<ToolStatus>, Query), ("author_id" = Option<Uuid>, Query), ("tag" = Option<String>, Query),
        ("q" = Option<String>, Query, description = "search: tools whose name or description contains it, or that the hybrid (BM25 + vector) search finds, best match first")),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = ToolPage), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn list_tools(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    QueryFields(mut query): QueryFields,
) -> Result<Json<ToolPage>> {
    require(&principal, Permission::ToolsRead)?;
    let paging = Paging::read(&mut query);
    let status = query.optional("status", parse::with(ToolStatus::parse));
    let author_id = query.optional(
        "author_id",
        parse::with(|s| Uuid::parse_str(s).map_err(|_| "must be a UUID".to_owned())),
    );
    let tag = query.optional("tag", parse::with(parse::tag));
    let q = query.optional("q", |v| {
        let q = parse::bounded_string(200)(v)?;
        // Name and description are searched as one text joined by a newline.
        if q.chars().any(char::is_control) {
            return Err("must not contain control characters".into());
        }
        Ok(q)
    });
    query.finish()?;
    let (Some(paging), Some(status), Some(author_id), Some(tag), Some(q)) =
        (paging, status, author_id, tag, q)
    else {
        return Err(Error::internal(
            "query reader returned nothing without an error",
        ));
    };
    let filter = ToolFilter {
        status,
        author_id,
        tag,
        q: q.filter(|s| !s.trim().is_empty()),
    };
    let page = crate::knowledge::rank_tools(&state, &filter, paging.request()).await?;
    Ok(Json(ToolPage {
        items: page
            .items
            .iter()
            .map(|t| registry::view_for(&principal, t))
            .collect(),
        total: page.total,
        page: paging.page,
        page_size: paging.page_size,
        pages: paging.pages(page.total),
    }))
}

#[utoipa::path(get, path = "/api/v1/mcps/{id}", tag = "mcps", params(("id" = Uuid, Path)),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = ToolView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_tool(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Path(id): Path<String>,
) -> Result<Response> {
    require(&principal, Permission::ToolsRead)?;
    let id = path_uuid("id", &id)?;
    Ok(json_response(
        StatusCode::OK,
        registry::view_json_for(&state, &principal, id).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/mcps/by-slug/{slug}", tag = "mcps", params(("slug" = String, Path)),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = ToolView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_tool_by_slug(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Path(slug): Path<String>,
) -> Result<Response> {
    require(&principal, Permission::ToolsRead)?;
    let id = registry::id_by_slug(&state, &slug).await?;
    // The id's read may 404 too (deleted since the slug was cached): name the slug.
    let view = registry::view_json_for(&state, &principal, id)
        .await
        .map_err(|e| match e {
            Error::NotFound { .. } => Error::not_found("mcp_tool", &slug),
            other => other,
        })?;
    Ok(json_response(StatusCode::OK, view))
}

async fn update_tool(
    state: AppState,
    principal: Principal,
    id: String,
    body: Result<ValidJson<ToolPatch>>,
) -> Result<Json<ToolView>> {
    require(&principal, Permission::ToolsWrite)?;
    // A bad id and a bad body are reported in one 422.
    let (id, ValidJson(patch)) = both(path_uuid("id", &id), body)?;
    let tool = registry::update(&state, &principal, id, patch).await?;
    Ok(Json(registry::view_for(&principal, &tool)))
}

/// Partial update, same as PATCH (SPEC: `PUT|PATCH`).
#[utoipa::path(put, path = "/api/v1/mcps/{id}", tag = "mcps", params(("id" = Uuid, Path)), request_body = ToolPatch,
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = ToolView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn put_tool(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Path(id): Path<String>,
    body: Result<ValidJson<ToolPatch>>,
) -> Result<Json<ToolView>> {
    update_tool(state, principal, id, body).await
}

#[utoipa::path(patch, path = "/api/v1/mcps/{id}", tag = "mcps", params(("id" = Uuid, Path)), request_body = ToolPatch,
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = ToolView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn patch_tool(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Path(id): Path<String>,
    body: Result<ValidJson<ToolPatch>>,
) -> Result<Json<ToolView>> {
    update_tool(state, principal, id, body).await
}

#[utoipa::path(delete, path = "/api/v1/mcps/{id}", tag = "mcps", params(("id" = Uuid, Path)),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// Deletes the tool (its history stays, its slug stays reserved) and stops
/// its deployment: `/mcp/{slug}` then answers 404.
async fn delete_tool(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    let id = path_uuid("id", &id)?;
    let slug = registry::find(&state, id).await?.slug;
    registry::delete(&state, &principal, id).await?;
    // A deleted tool serves nothing: its running deployment stops with it.
    if let Some(d) = state
        .deployments
        .find_active_deployment_by_slug(slug.as_str())
        .await?
    {
        crate::gateway::stop(&state, d.id).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct HistoryView {
    /// Newest first.
    versions: Vec<HistoryEntry>,
}

#[derive(Serialize, ToSchema)]
pub struct HistoryEntry {
    id: Uuid,
    sequence: i64,
    version: String,
    #[schema(value_type = Object)]
    config: serde_json::Value,
    change_type: crate::domain::ChangeType,
    changed_by: Uuid,
    changed_at: chrono::DateTime<chrono::Utc>,
    /// The full tool state after this change.
    snapshot: crate::domain::ToolSnapshot,
    /// RFC 6902 JSON Patch from the previous snapshot to this one.
    #[schema(value_type = Vec<Object>)]
    diff: serde_json::Value,
}

impl From<HistoryRecord> for HistoryEntry {
    fn from(r: HistoryRecord) -> Self {
        Self {
            id: r.id,
            sequence: r.sequence,
            version: r.version,
            config: r.snapshot.config.clone(),
            change_type: r.change_type,
            changed_by: r.changed_by,
            changed_at: r.changed_at,
            snapshot: r.snapshot,
            diff: r.diff,
        }
    }
}

#[utoipa::path(get, path = "/api/v1/mcps/{id}/history", tag = "mcps", params(("id" = Uuid, Path)),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = HistoryView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn tool_history(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Path(id): Path<String>,
) -> Result<Json<HistoryView>> {
    require(&principal, Permission::ToolsRead)?;
    let id = path_uuid("id", &id)?;
    let records = registry::history_for(&state, &principal, id).await?;
    Ok(Json(HistoryView {
        versions: records.into_iter().map(HistoryEntry::from).collect(),
    }))
}

#[utoipa::path(post, path = "/api/v1/mcps/{id}/history/{version}/restore", tag = "mcps",
    params(("id" = Uuid, Path), ("version" = String, Path, example = "1.0.0")),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = ToolView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn restore_version(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Path((id, version)): Path<(String, String)>,
) -> Result<Json<ToolView>> {
    let id = path_uuid("id", &id)?;
    let version = SemVer::parse(&version)
        .map_err(|m| Error::invalid(&["path", "version"], "value_error", m))?;
    let tool = registry::restore(&state, &principal, id, version).await?;
    Ok(Json(registry::view_for(&principal, &tool)))
}
