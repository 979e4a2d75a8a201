//! `/mcp/{slug}`: the server side of MCP Streamable HTTP, in front of a
//! deployment's runner.
//!
//! - POST one JSON-RPC message. A request is answered with JSON when its
//!   answer is the first thing that comes back, or with an SSE stream when
//!   progress or a server→client request comes first. Notifications and
//!   responses get 202.
//! - 2025-11-25 and older: `initialize` opens a session (a sealed
//!   `Mcp-Session-Id`, see [`super::session`]) that later requests must
//!   carry; GET opens the server's notification stream; DELETE ends it.
//! - 2026-07-28 (`MCP-Protocol-Version: 2026-07-28`): stateless, no session;
//!   `server/discover` is answered by the gateway; `Mcp-Method` must match
//!   the body.
//! - An `Origin` that is not the platform's own or an allowed CORS origin
//!   is refused (403): DNS-rebinding protection.
//! - The platform's auth (Bearer or X-API-Key): a private deployment serves
//!   its owner and admins; a public one anyone, anonymous callers included.
//!
//! This module holds the routes and the wire helpers every method shares
//! (JSON and SSE replies, `Accept`, usage rows). The methods live apart:
//! `admission` (Origin, deployment, caller, session), `handshake`
//! (protocol version, `initialize`, `server/discover`), `post` (POST and
//! its answer), `remote_call` (relaying to a remote runner), `stream`
//! (GET and DELETE) and `rest` (the REST shortcut for `tools/call`).

// The checks here fail with the finished HTTP response to send (a JSON-RPC
// error body, a platform error body), built only on the failing path.
#![allow(clippy::result_large_err)]

mod admission;
mod handshake;
mod post;
mod remote_call;
mod rest;
mod stream;

use std::time::Instant;

use axum::body::Body;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::{Live, UsageRow};
use crate::state::AppState;

const SESSION_HEADER: &str = "mcp-session-id";

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(post::post_mcp, stream::get_mcp, stream::delete_mcp))
        .routes(routes!(rest::call_tool_rest))
}

fn json_rpc_reply(status: StatusCode, body: Bytes) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Whether the client's `Accept` takes JSON, and whether it takes SSE.
fn accepts(headers: &HeaderMap) -> (bool, bool) {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let any = accept.is_empty() || accept.contains("*/*");
    (
        any || accept.contains("application/json"),
        any || accept.contains("text/event-stream"),
    )
}

/// Queues the usage row of one call (written in batches, off the call path).
fn record_usage(
    state: &AppState,
    live: &Live,
    user_id: Option<Uuid>,
    method: &str,
    ok: bool,
    started: Instant,
) {
    state.gateway.usage.record(UsageRow {
        tool_id: live.deployment.tool_id,
        deployment_id: live.deployment.id,
        user_id,
        method: method.chars().take(128).collect(),
        ok,
        latency: started.elapsed(),
        at: crate::domain::now(),
    });
}

/// One JSON-RPC message as an SSE `message` event.
fn sse_event(json: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(json.len() + 24);
    out.extend_from_slice(b"event: message\ndata: ");
    out.extend_from_slice(json);
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

fn sse_response(body: Body) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}
