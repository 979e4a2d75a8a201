//! The protocol version a request speaks (`MCP-Protocol-Version`), and the
//! gateway's own answers to the handshake of a stdio deployment:
//! `initialize` (which opens a session) and `server/discover` (2026-07-28),
//! both from the child's cached initialize result.

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{json, Value};

use super::admission::Caller;
use super::{json_rpc_reply, SESSION_HEADER};
use crate::error::Error;
use crate::gateway::jsonrpc;
use crate::gateway::{
    Live, Runner, SessionFacts, LATEST_HANDSHAKE_VERSION, MODERN_VERSION, PROTOCOL_VERSIONS,
};
use crate::state::AppState;

const VERSION_HEADER: &str = "mcp-protocol-version";
/// JSON-RPC code of an unsupported protocol version (with `data.supported`).
const UNSUPPORTED_VERSION: i64 = -32022;

/// Checks `MCP-Protocol-Version`; the version in force.
pub(super) fn protocol_version(headers: &HeaderMap) -> Result<Option<String>, Response> {
    let Some(v) = headers.get(VERSION_HEADER) else {
        return Ok(None);
    };
    let v = v.to_str().unwrap_or("");
    if PROTOCOL_VERSIONS.contains(&v) {
        Ok(Some(v.to_owned()))
    } else {
        Err(unsupported_version(None, v))
    }
}

fn unsupported_version(id: Option<&[u8]>, asked: &str) -> Response {
    let id = id.map_or("null".into(), |i| String::from_utf8_lossy(i).into_owned());
    let body = json!({
        "jsonrpc": "2.0", "id": serde_json::from_str::<Value>(&id).unwrap_or(Value::Null),
        "error": {"code": UNSUPPORTED_VERSION,
                  "message": format!("unsupported protocol version {asked:?}"),
                  "data": {"supported": PROTOCOL_VERSIONS, "requested": asked}}
    });
    json_rpc_reply(StatusCode::BAD_REQUEST, Bytes::from(body.to_string()))
}

/// Answers `initialize` from the child's cached result, at the version
/// the client asked for when the gateway speaks it, and opens a session.
pub(super) fn initialize(
    state: &AppState,
    live: &Live,
    caller: &Caller,
    body: &[u8],
    id: &[u8],
) -> Response {
    let cached = match cached_init_result(live, id) {
        Ok(cached) => cached,
        Err(r) => return r,
    };
    let asked = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| {
            v.pointer("/params/protocolVersion")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_default();
    // The handshake reaches handshake-era versions only.
    let version = if PROTOCOL_VERSIONS.contains(&asked.as_str()) && asked != MODERN_VERSION {
        asked
    } else {
        LATEST_HANDSHAKE_VERSION.to_owned()
    };
    let mut result: Value = serde_json::from_slice(&cached).unwrap_or_else(|_| json!({}));
    result["protocolVersion"] = Value::String(version.clone());
    let facts = SessionFacts {
        user_id: caller.user.as_ref().map(|p| p.user_id),
        deployment_id: live.deployment.id,
        protocol_version: version,
        issued_at: crate::domain::now().timestamp(),
        upstream_session: None,
        nonce: rand::random(),
    };
    let Some(session) = state.gateway.sealer.seal(&facts) else {
        return Error::internal("session not sealed").into_response();
    };
    let mut r = json_rpc_reply(StatusCode::OK, jsonrpc::result(id, &result.to_string()));
    if let Ok(v) = HeaderValue::from_str(&session) {
        r.headers_mut().insert(SESSION_HEADER, v);
    }
    r
}

/// `server/discover` (2026-07-28), from the child's cached initialize result.
pub(super) fn discover(live: &Live, id: &[u8]) -> Response {
    let cached = match cached_init_result(live, id) {
        Ok(cached) => cached,
        Err(r) => return r,
    };
    let init: Value = serde_json::from_slice(&cached).unwrap_or_else(|_| json!({}));
    let mut result = json!({
        "supportedVersions": PROTOCOL_VERSIONS,
        "capabilities": init.get("capabilities").cloned().unwrap_or_else(|| json!({})),
        "resultType": "complete",
        "ttlMs": 0,
        "cacheScope": "private",
        "_meta": {"io.modelcontextprotocol/serverInfo": init.get("serverInfo").cloned().unwrap_or(Value::Null)},
    });
    if let Some(instructions) = init.get("instructions") {
        result["instructions"] = instructions.clone();
    }
    json_rpc_reply(StatusCode::OK, jsonrpc::result(id, &result.to_string()))
}

/// The stdio child's initialize result, or the JSON-RPC answer to request
/// `id` while there is none yet: a child still starting (a remote runner
/// answers the handshake itself, so never reaches this).
fn cached_init_result(live: &Live, id: &[u8]) -> Result<Bytes, Response> {
    let cached = match &live.runner {
        Runner::Stdio(bridge) => bridge.init_result(),
        Runner::Remote(_) => None,
    };
    cached.ok_or_else(|| {
        json_rpc_reply(
            StatusCode::OK,
            jsonrpc::error(
                Some(id),
                jsonrpc::SERVER_UNAVAILABLE,
                "the MCP server is starting; retry",
            ),
        )
    })
}
