//! `/api/v1/analyze/*`: starts analysis jobs (see `jobs/analyze.rs`). Each
//! answers 202 with the task to watch (`GET /tasks/{id}`, `/ws`, `/events`).

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::extract::{parse, FieldReader, FromJson, ValidJson};
use crate::credentials::AuthUser;
use crate::domain::{Permission, Task, TaskStatus};
use crate::error::{ErrorBody, Result};
use crate::jobs::{AnalyzeFeasibility, AnalyzeImprovements, GenerateConfig};
use crate::registry::require;
use crate::state::AppState;

/// The longest requirements text.
pub const MAX_REQUIREMENTS_CHARS: usize = 10_000;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(feasibility))
        .routes(routes!(improvements))
        .routes(routes!(generate_config))
}

/// The task an analysis request started.
#[derive(Serialize, ToSchema)]
pub struct TaskAccepted {
    task_id: Uuid,
    status: TaskStatus,
    message: String,
}

fn accepted(task: &Task) -> impl IntoResponse {
    (
        StatusCode::ACCEPTED,
        [(header::LOCATION, format!("/api/v1/tasks/{}", task.id))],
        Json(TaskAccepted {
            task_id: task.id,
            status: task.status,
            message: format!(
                "{} queued; follow it at /api/v1/tasks/{} or subscribe to task:{} on /ws or /events",
                task.task_type, task.id, task.id
            ),
        }),
    )
}

#[derive(ToSchema)]
pub struct FeasibilityRequest {
    /// The MCP configuration to judge (any JSON object).
    #[schema(value_type = Object)]
    config: Value,
}

impl FromJson for FeasibilityRequest {
    fn from_json(r: &mut FieldReader) -> Option<Self> {
        let config = r.required("config", |v| {
            v.is_object()
                .then(|| v.clone())
                .ok_or_else(|| "must be a JSON object".to_owned())
        });
        Some(Self { config: config? })
    }
}

#[derive(ToSchema)]
pub struct ImprovementsRequest {
    tool_id: Uuid,
}

impl FromJson for ImprovementsRequest {
    fn from_json(r: &mut FieldReader) -> Option<Self> {
        let tool_id = r.required(
            "tool_id",
            parse::with(|s| Uuid::parse_str(s).map_err(|_| "must be a UUID".to_owned())),
        );
        Some(Self { tool_id: tool_id? })
    }
}

#[derive(ToSchema)]
pub struct GenerateConfigRequest {
    /// What the tool should do, in plain words.
    #[schema(min_length = 1, max_length = 10000)]
    requirements: String,
}

impl FromJson for GenerateConfigRequest {
    fn from_json(r: &mut FieldReader) -> Option<Self> {
        let requirements = r.required("requirements", |v| {
            let s = parse::bounded_string(MAX_REQUIREMENTS_CHARS)(v)?;
            if s.trim().is_empty() {
                return Err("must not be blank".into());
            }
            Ok(s)
        });
        Some(Self {
            requirements: requirements?,
        })
    }
}

/// Judges a configuration: result {score, is_feasible, reasoning, risks, recommendations}.
#[utoipa::path(post, path = "/api/v1/analyze/feasibility", tag = "analyze", request_body = FeasibilityRequest,
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 202, body = TaskAccepted), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn feasibility(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    body: Result<ValidJson<FeasibilityRequest>>,
) -> Result<impl IntoResponse> {
    require(&principal, Permission::AnalysisRun)?;
    let ValidJson(req) = body?;
    let task = crate::tasks::start(&state, principal.user_id, |task_id| AnalyzeFeasibility {
        task_id,
        config: req.config,
    })
    .await?;
    Ok(accepted(&task))
}

/// Reviews a registered tool the caller can read: result {tool_id, improvements: [{title, detail, severity}]}.
#[utoipa::path(post, path = "/api/v1/analyze/improvements", tag = "analyze", request_body = ImprovementsRequest,
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 202, body = TaskAccepted), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn improvements(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    body: Result<ValidJson<ImprovementsRequest>>,
) -> Result<impl IntoResponse> {
    require(&principal, Permission::AnalysisRun)?;
    require(&principal, Permission::ToolsRead)?;
    let ValidJson(req) = body?;
    let tool = crate::registry::find(&state, req.tool_id).await?;
    let redact_secrets = !crate::redact::may_read_secrets(&principal, tool.author_id);
    let task = crate::tasks::start(&state, principal.user_id, |task_id| AnalyzeImprovements {
        task_id,
        tool_id: tool.id,
        redact_secrets,
    })
    .await?;
    Ok(accepted(&task))
}

/// Builds a configuration from requirements: result {config}, valid for `POST /mcps`.
#[utoipa::path(post, path = "/api/v1/analyze/generate-config", tag = "analyze", request_body = GenerateConfigRequest,
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 202, body = TaskAccepted), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn generate_config(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    body: Result<ValidJson<GenerateConfigRequest>>,
) -> Result<impl IntoResponse> {
    require(&principal, Permission::AnalysisRun)?;
    let ValidJson(req) = body?;
    let task = crate::tasks::start(&state, principal.user_id, |task_id| GenerateConfig {
        task_id,
        requirements: req.requirements,
    })
    .await?;
    Ok(accepted(&task))
}
