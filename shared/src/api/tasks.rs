//! `/api/v1/tasks/*`: the tasks a caller started (admins: everyone's).
//! Rules live in [`crate::tasks`].

use axum::extract::{Path, State};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::extract::{parse, path_uuid, Paging, QueryFields};
use crate::credentials::AuthUser;
use crate::domain::{Role, Task, TaskStatus};
use crate::error::{Error, ErrorBody, Result};
use crate::ports::TaskFilter;
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tasks))
        .routes(routes!(get_task, cancel_task))
}

/// A task as clients see it.
#[derive(Serialize, ToSchema)]
pub struct TaskView {
    task_id: Uuid,
    task_type: String,
    status: TaskStatus,
    /// 0 to 100.
    progress: u8,
    message: Option<String>,
    /// What the job produced, once completed.
    #[schema(value_type = Option<Object>)]
    result: Option<serde_json::Value>,
    error: Option<String>,
    created_at: chrono::DateTime<chrono::Utc>,
    started_at: Option<chrono::DateTime<chrono::Utc>>,
    completed_at: Option<chrono::DateTime<chrono::Utc>>,
    /// When the record and its result are deleted.
    expires_at: chrono::DateTime<chrono::Utc>,
}

impl From<Task> for TaskView {
    fn from(t: Task) -> Self {
        Self {
            task_id: t.id,
            task_type: t.task_type,
            status: t.status,
            progress: t.progress,
            message: t.message,
            result: t.result,
            error: t.error,
            created_at: t.created_at,
            started_at: t.started_at,
            completed_at: t.completed_at,
            expires_at: t.expires_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct TaskPage {
    items: Vec<TaskView>,
    total: u64,
    page: u32,
    page_size: u32,
    pages: u64,
}

#[utoipa::path(get, path = "/api/v1/tasks", tag = "tasks",
    params(("page" = Option<u32>, Query), ("page_size" = Option<u32>, Query, description = "1 to 100, default 20"),
        ("status" = Option<TaskStatus>, Query), ("task_type" = Option<String>, Query)),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = TaskPage), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn list_tasks(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    QueryFields(mut query): QueryFields,
) -> Result<Json<TaskPage>> {
    let paging = Paging::read(&mut query);
    let status = query.optional("status", parse::with(TaskStatus::parse));
    let task_type = query.optional("task_type", parse::bounded_string(100));
    query.finish()?;
    let (Some(paging), Some(status), Some(task_type)) = (paging, status, task_type) else {
        return Err(Error::internal(
            "query reader returned nothing without an error",
        ));
    };
    let filter = TaskFilter {
        owner_id: (principal.role != Role::Admin).then_some(principal.user_id),
        status,
        task_type: task_type.filter(|t| !t.is_empty()),
    };
    let page = state.tasks.list(&filter, paging.request()).await?;
    Ok(Json(TaskPage {
        items: page.items.into_iter().map(TaskView::from).collect(),
        total: page.total,
        page: paging.page,
        page_size: paging.page_size,
        pages: paging.pages(page.total),
    }))
}

#[utoipa::path(get, path = "/api/v1/tasks/{id}", tag = "tasks", params(("id" = Uuid, Path)),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = TaskView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_task(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Path(id): Path<String>,
) -> Result<Json<TaskView>> {
    let id = path_uuid("id", &id)?;
    Ok(Json(
        crate::tasks::find_for(&state, &principal, id).await?.into(),
    ))
}

/// Cancels a pending task; its job then does nothing.
#[utoipa::path(delete, path = "/api/v1/tasks/{id}", tag = "tasks", params(("id" = Uuid, Path)),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = TaskView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "The task already runs or has finished")))]
async fn cancel_task(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Path(id): Path<String>,
) -> Result<Json<TaskView>> {
    let id = path_uuid("id", &id)?;
    Ok(Json(
        crate::tasks::cancel(&state, &principal, id).await?.into(),
    ))
}
