//! POST `/mcp/{slug}/v1/tools/{tool_name}`: a REST shortcut for one
//! `tools/call`, sessionless, answered with the tool's `CallToolResult` or
//! a platform error body.

use std::time::Instant;

use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{json, Value};
use uuid::Uuid;

use super::admission::{admit_post, AdmittedPost};
use super::record_usage;
use crate::credentials::ClientIp;
use crate::error::{Error, ErrorBody};
use crate::gateway::{jsonrpc, remote, Live, Outgoing, Runner};
use crate::state::AppState;

/// A 502 in the platform's error body, for an upstream that failed the call.
fn upstream_error(detail: &str) -> Response {
    let body = ErrorBody {
        error_code: "UPSTREAM_ERROR",
        detail: detail.into(),
        request_id: crate::request_id::current().unwrap_or_default(),
        resource_type: None,
        resource_id: None,
        required_permission: None,
        retry_after: None,
    };
    (StatusCode::BAD_GATEWAY, axum::Json(body)).into_response()
}

/// Call one tool with the body as its arguments (a REST shortcut for
/// `tools/call`); the answer is the tool's `CallToolResult`.
#[utoipa::path(post, path = "/mcp/{slug}/v1/tools/{tool_name}", tag = "gateway",
    params(("slug" = String, Path), ("tool_name" = String, Path)),
    request_body(content = Object, description = "The tool's arguments"),
    security((), ("bearer" = []), ("api_key" = [])),
    responses((status = 200, description = "The CallToolResult", body = Object), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 502, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(super) async fn call_tool_rest(
    State(state): State<AppState>,
    Path((slug, tool_name)): Path<(String, String)>,
    ClientIp(ip): ClientIp,
    request: Request,
) -> Response {
    let started = Instant::now();
    let AdmittedPost {
        live, caller, body, ..
    } = match admit_post(&state, &slug, ip, request, |_| Ok(())).await {
        Ok(admitted) => admitted,
        Err(r) => return r,
    };
    let arguments: Value = if body.trim_ascii().is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(&body) {
            Ok(v @ Value::Object(_)) => v,
            Ok(_) => {
                return Error::invalid(
                    &["body"],
                    "object_type",
                    "the arguments must be a JSON object",
                )
                .into_response()
            }
            Err(e) => {
                return Error::BadRequest(format!("malformed JSON body: {e}")).into_response()
            }
        }
    };
    let message = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": tool_name, "arguments": arguments}})
    .to_string();
    let Some(peek) = jsonrpc::peek(message.as_bytes()) else {
        return Error::internal("tools/call message").into_response();
    };
    let user_id = caller.user.as_ref().map(|p| p.user_id);
    let bridge = match &live.runner {
        Runner::Stdio(bridge) => bridge,
        Runner::Remote(upstream) => {
            let answer = remote::exchange(upstream, Bytes::from(message)).await;
            return rest_answer(&state, &live, user_id, started, &tool_name, answer.ok());
        }
    };
    let answer = match bridge
        .request(message.as_bytes(), &peek, caller.key.clone())
        .await
    {
        Ok(mut rx) => {
            let deadline = tokio::time::Instant::now() + state.settings.gateway.request_timeout;
            loop {
                match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Some(Outgoing::Final(b))) => break Some(b),
                    Ok(Some(Outgoing::Interim(_))) => {}
                    Ok(None) | Err(_) => break None,
                }
            }
        }
        Err(e) => Some(e),
    };
    let parsed = answer.and_then(|b| serde_json::from_slice::<Value>(&b).ok());
    rest_answer(&state, &live, user_id, started, &tool_name, parsed)
}

/// The REST answer to a `tools/call` reply (`None`: no reply), recorded as
/// usage: the result on success, the JSON-RPC error as a platform error.
fn rest_answer(
    state: &AppState,
    live: &Live,
    user_id: Option<Uuid>,
    started: Instant,
    tool_name: &str,
    parsed: Option<Value>,
) -> Response {
    let ok = parsed.as_ref().is_some_and(|v| v.get("result").is_some());
    record_usage(state, live, user_id, "tools/call", ok, started);
    match parsed {
        Some(mut v) if ok => axum::Json(v["result"].take()).into_response(),
        Some(v) => {
            let code = v
                .pointer("/error/code")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            let message = v
                .pointer("/error/message")
                .and_then(Value::as_str)
                .unwrap_or("the MCP server refused the call");
            match code {
                jsonrpc::SERVER_UNAVAILABLE => {
                    Error::Unavailable(message.to_owned()).into_response()
                }
                -32602 if message.to_lowercase().contains("tool") => {
                    Error::not_found("mcp_tool_function", tool_name).into_response()
                }
                _ => upstream_error(message),
            }
        }
        None => upstream_error("the MCP server did not answer"),
    }
}
