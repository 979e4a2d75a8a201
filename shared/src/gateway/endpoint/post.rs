//! POST `/mcp/{slug}`: one JSON-RPC message. Notifications and responses
//! are handed to the runner (202); a request is answered by the gateway
//! (`initialize`, `server/discover`) or by the runner, and [`answer`] turns
//! the runner's replies into JSON or an SSE stream. A remote runner's
//! messages go through [`RemoteCall`] instead.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use tokio::sync::mpsc;
use uuid::Uuid;

use super::admission::{admit_post, session_of, AdmittedPost};
use super::handshake::{discover, initialize, protocol_version};
use super::remote_call::RemoteCall;
use super::{accepts, json_rpc_reply, record_usage, sse_event, sse_response};
use crate::credentials::ClientIp;
use crate::error::ErrorBody;
use crate::gateway::jsonrpc::{self, Kind};
use crate::gateway::{Live, Outgoing, Runner, MODERN_VERSION};
use crate::state::AppState;

/// 2026-07-28: the method, repeated in a header, must match the body's.
const METHOD_HEADER: &str = "mcp-method";

/// A request to a stdio runner, for recording its usage row once answered.
struct Call<'a> {
    state: &'a AppState,
    live: &'a Arc<Live>,
    user_id: Option<Uuid>,
    method: String,
    started: Instant,
}

impl Call<'_> {
    fn record(&self, ok: bool) {
        record_usage(
            self.state,
            self.live,
            self.user_id,
            &self.method,
            ok,
            self.started,
        );
    }
}

/// Send one JSON-RPC message to the deployment.
#[utoipa::path(post, path = "/mcp/{slug}", tag = "gateway", params(("slug" = String, Path)),
    request_body(content = Object, description = "One JSON-RPC message"),
    security((), ("bearer" = []), ("api_key" = [])),
    responses((status = 200, description = "JSON-RPC response (application/json) or an SSE stream"),
        (status = 202, description = "Notification or response accepted"),
        (status = 400, description = "Malformed message, missing session or unsupported version"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn post_mcp(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    ClientIp(ip): ClientIp,
    request: Request,
) -> Response {
    let started = Instant::now();
    let AdmittedPost {
        live,
        caller,
        headers,
        checked: version,
        body,
    } = match admit_post(&state, &slug, ip, request, protocol_version).await {
        Ok(admitted) => admitted,
        Err(r) => return r,
    };
    let Some(peek) = jsonrpc::peek(&body) else {
        let (code, msg) = if body.trim_ascii_start().starts_with(b"[") {
            (
                jsonrpc::INVALID_REQUEST,
                "JSON-RPC batches are not supported",
            )
        } else {
            (jsonrpc::PARSE_ERROR, "not a JSON-RPC message")
        };
        return json_rpc_reply(StatusCode::BAD_REQUEST, jsonrpc::error(None, code, msg));
    };
    let modern = version.as_deref() == Some(MODERN_VERSION);
    if modern {
        if let (Some(h), Some(m)) = (
            headers.get(METHOD_HEADER).and_then(|v| v.to_str().ok()),
            peek.method.as_deref(),
        ) {
            if h != m {
                return json_rpc_reply(
                    StatusCode::BAD_REQUEST,
                    jsonrpc::error(
                        peek.id_text(&body),
                        jsonrpc::INVALID_REQUEST,
                        "the Mcp-Method header does not match the message's method",
                    ),
                );
            }
        }
    }
    let bridge = match &live.runner {
        Runner::Stdio(bridge) => bridge,
        Runner::Remote(upstream) => {
            let call = RemoteCall {
                state: &state,
                live: &live,
                upstream,
                caller: &caller,
                headers: &headers,
                started,
            };
            return call.post(body, &peek, modern).await;
        }
    };
    let user_id = caller.user.as_ref().map(|p| p.user_id);
    match peek.kind {
        Kind::Notification => {
            bridge.notify(&body, &peek, &caller.key).await;
            return StatusCode::ACCEPTED.into_response();
        }
        Kind::Response => {
            bridge.respond(&body, &peek).await;
            return StatusCode::ACCEPTED.into_response();
        }
        Kind::Request => {}
    }
    let method = peek.method.clone().unwrap_or_default();
    let id = peek.id_text(&body).unwrap_or(b"null");
    let call = Call {
        state: &state,
        live: &live,
        user_id,
        method: method.clone(),
        started,
    };
    match method.as_str() {
        "initialize" => {
            let r = initialize(&state, &live, &caller, &body, id);
            call.record(r.status().is_success());
            return r;
        }
        "server/discover" => {
            let r = discover(&live, id);
            call.record(r.status().is_success());
            return r;
        }
        _ => {}
    }
    let owner = if modern {
        caller.key.clone()
    } else {
        match session_of(&state, &headers, &caller, &live, Some(id)).await {
            Ok((sid, _)) => Arc::from(sid),
            Err(r) => return r,
        }
    };
    let rx = match bridge.request(&body, &peek, owner).await {
        Ok(rx) => rx,
        Err(error) => {
            call.record(false);
            return json_rpc_reply(StatusCode::OK, error);
        }
    };
    answer(
        &state, &live, rx, &headers, id, user_id, method, started, modern,
    )
    .await
}

/// Turns a request's answers into the HTTP response: JSON when the answer
/// comes first, an SSE stream otherwise.
#[allow(clippy::too_many_arguments)]
async fn answer(
    state: &AppState,
    live: &Arc<Live>,
    mut rx: mpsc::Receiver<Outgoing>,
    headers: &HeaderMap,
    id: &[u8],
    user_id: Option<Uuid>,
    method: String,
    started: Instant,
    modern: bool,
) -> Response {
    let cacheable = jsonrpc::is_cacheable(&method);
    let finish = move |bytes: Bytes| {
        if modern {
            jsonrpc::modernize_result(bytes, cacheable)
        } else {
            bytes
        }
    };
    let (json_ok, sse_ok) = accepts(headers);
    let timeout = state.settings.gateway.request_timeout;
    let deadline = tokio::time::Instant::now() + timeout;
    let first = tokio::time::timeout_at(deadline, rx.recv()).await;
    let first = match first {
        Ok(Some(first)) => first,
        Ok(None) | Err(_) => {
            drop(rx);
            if let Runner::Stdio(bridge) = &live.runner {
                bridge.forget_abandoned();
            }
            record_usage(state, live, user_id, &method, false, started);
            return json_rpc_reply(
                StatusCode::OK,
                jsonrpc::error(
                    Some(id),
                    jsonrpc::INTERNAL_ERROR,
                    "the MCP server did not answer in time",
                ),
            );
        }
    };
    if let Outgoing::Final(bytes) = &first {
        if json_ok || !sse_ok {
            record_usage(
                state,
                live,
                user_id,
                &method,
                !jsonrpc::is_error_response(bytes),
                started,
            );
            return json_rpc_reply(StatusCode::OK, finish(bytes.clone()));
        }
    }
    if !sse_ok {
        // The client takes JSON only: interim messages cannot reach it.
        loop {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(Outgoing::Final(bytes))) => {
                    record_usage(
                        state,
                        live,
                        user_id,
                        &method,
                        !jsonrpc::is_error_response(&bytes),
                        started,
                    );
                    return json_rpc_reply(StatusCode::OK, finish(bytes));
                }
                Ok(Some(Outgoing::Interim(_))) => {}
                Ok(None) | Err(_) => {
                    record_usage(state, live, user_id, &method, false, started);
                    return json_rpc_reply(
                        StatusCode::OK,
                        jsonrpc::error(Some(id), jsonrpc::INTERNAL_ERROR, "no answer"),
                    );
                }
            }
        }
    }
    let state = state.clone();
    let live = live.clone();
    let stream =
        futures::stream::unfold((Some(first), rx, false), move |(pending, mut rx, done)| {
            let state = state.clone();
            let live = live.clone();
            let method = method.clone();
            async move {
                if done {
                    return None;
                }
                let next = match pending {
                    Some(m) => Some(m),
                    None => tokio::time::timeout_at(deadline, rx.recv())
                        .await
                        .ok()
                        .flatten(),
                };
                let next = next?;
                let (bytes, last) = match next {
                    Outgoing::Interim(b) => (b, false),
                    Outgoing::Final(b) => {
                        record_usage(
                            &state,
                            &live,
                            user_id,
                            &method,
                            !jsonrpc::is_error_response(&b),
                            started,
                        );
                        (finish(b), true)
                    }
                };
                Some((Ok::<Bytes, Infallible>(sse_event(&bytes)), (None, rx, last)))
            }
        });
    sse_response(Body::from_stream(stream))
}
