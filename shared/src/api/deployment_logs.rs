//! `GET /api/v1/deployments/{id}/logs`: a process deployment's recent
//! stderr, as JSON or (`follow=true`) as an SSE stream of each new line.
//! Owner and admins only: stderr can hold the tool's secrets.
//!
//! Lines are this replica's: the child it runs, or the last lines of one
//! that failed here. Behind a load balancer with several replicas, a
//! follower sees the replica that answered (every replica runs its own
//! child of a deployment that receives calls there).

use std::convert::Infallible;

use axum::extract::{Path, State};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::{Stream, StreamExt};
use serde::Serialize;
use serde_json::{json, Value};
use tokio::sync::broadcast::error::RecvError;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::deployments::visible_deployment;
use super::extract::{parse, path_uuid, QueryFields};
use super::realtime::{sse_event, KEEP_ALIVE};
use crate::credentials::AuthUser;
use crate::domain::{Deployment, Permission};
use crate::error::{ErrorBody, Result};
use crate::gateway::{RunnerState, StderrFollow};
use crate::registry::require;
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(deployment_logs))
}

#[derive(Serialize, ToSchema)]
pub struct DeploymentLogs {
    deployment_id: Uuid,
    /// The child's most recent stderr lines on this replica, oldest first.
    lines: Vec<String>,
}

/// The most stderr lines one request returns (the runner keeps this many).
const MAX_LOG_LINES: usize = 50;

#[utoipa::path(get, path = "/api/v1/deployments/{id}/logs", tag = "deployments",
    params(("id" = Uuid, Path),
        ("tail" = Option<u32>, Query, description = "At most this many of the newest lines (1 to 50, default 50)"),
        ("follow" = Option<bool>, Query, description = "Stream: the tail, then each new line (`log` events), then an `end` event with the status when the child stops")),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = DeploymentLogs, description = "The lines; with `follow=true`, an event stream (text/event-stream)"),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
/// The process child's recent stderr, for its owner and admins only: the
/// running child's, or the last lines of one that failed on this replica.
/// Empty for a remote deployment.
async fn deployment_logs(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Path(id): Path<String>,
    QueryFields(mut query): QueryFields,
) -> Result<Response> {
    require(&principal, Permission::DeploymentsRead)?;
    let id = path_uuid("id", &id)?;
    let tail = query.optional(
        "tail",
        parse::with(|s| match s.parse::<usize>() {
            Ok(n) if (1..=MAX_LOG_LINES).contains(&n) => Ok(n),
            _ => Err(format!("must be a whole number from 1 to {MAX_LOG_LINES}")),
        }),
    );
    let follow = query.optional(
        "follow",
        parse::with(|s| match s {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err("must be true or false".to_owned()),
        }),
    );
    query.finish()?;
    let tail = tail.flatten().unwrap_or(MAX_LOG_LINES);
    let d = visible_deployment(&state, &principal, id).await?;
    if follow.flatten() == Some(true) {
        return Ok(follow_stream(&state, &d, tail).into_response());
    }
    let mut lines = state.gateway.stderr_of(&d);
    newest(&mut lines, tail);
    Ok(Json(DeploymentLogs {
        deployment_id: id,
        lines,
    })
    .into_response())
}

/// Keeps the `tail` newest lines.
fn newest(lines: &mut Vec<String>, tail: usize) {
    let skip = lines.len().saturating_sub(tail);
    lines.drain(..skip);
}

fn log_message(line: &str) -> Value {
    json!({"type": "log", "line": line})
}

/// The tail, then every new line until the child stops (an `end` event
/// naming its state). A deployment without a child here gets its last
/// lines and `end` with its stored status at once.
fn follow_stream(
    state: &AppState,
    d: &Deployment,
    tail: usize,
) -> Sse<impl Stream<Item = std::result::Result<SseEvent, Infallible>>> {
    let follow = state.gateway.follow_stderr(d);
    let (backlog, live) = match follow {
        Some(StderrFollow {
            mut backlog,
            lines,
            state,
        }) => {
            newest(&mut backlog, tail);
            (backlog, Some((lines, state)))
        }
        None => {
            let mut lines = state.gateway.stderr_of(d);
            newest(&mut lines, tail);
            (lines, None)
        }
    };
    let stored_status = d.status.as_str();
    let first = futures::stream::iter(
        backlog
            .iter()
            .map(|l| Ok(sse_event(&log_message(l))))
            .collect::<Vec<_>>(),
    );
    let rest = futures::stream::unfold(Some(live), move |next| async move {
        let live = next?;
        let Some((mut lines, mut runner)) = live else {
            let end = json!({"type": "end", "status": stored_status});
            return Some((Ok(sse_event(&end)), None));
        };
        let message: Value = tokio::select! {
            // Lines the child wrote before it ended come before the end.
            biased;
            line = lines.recv() => match line {
                Ok(line) => log_message(&line),
                Err(RecvError::Lagged(missed)) => json!({"type": "lagged", "missed": missed}),
                // The runner is gone with its sender.
                Err(RecvError::Closed) => end_message(RunnerState::Stopped),
            },
            ended = runner.wait_for(|s| matches!(s, RunnerState::Stopped | RunnerState::Failed)) => {
                end_message(ended.map_or(RunnerState::Stopped, |s| *s))
            }
        };
        let done = message["type"] == "end";
        let event = Ok(sse_event(&message));
        Some((event, (!done).then_some(Some((lines, runner)))))
    });
    Sse::new(first.chain(rest)).keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
}

fn end_message(state: RunnerState) -> Value {
    let status = match state {
        RunnerState::Failed => "failed",
        RunnerState::Stopped => "stopped",
        RunnerState::Starting => "starting",
        RunnerState::Running => "running",
    };
    json!({"type": "end", "status": status})
}
