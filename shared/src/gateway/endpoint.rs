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

// The checks here fail with the finished HTTP response to send (a JSON-RPC
// error body, a platform error body), built only on the failing path.
#![allow(clippy::result_large_err)]

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::jsonrpc::{self, Kind};
use super::{
    Live, Outgoing, Runner, SessionFacts, UsageRow, LATEST_HANDSHAKE_VERSION, MODERN_VERSION,
    PROTOCOL_VERSIONS,
};
use crate::credentials::{presented_principal, ClientIp};
use crate::domain::{Principal, Role};
use crate::error::{Error, ErrorBody};
use crate::ports::RateDecision;
use crate::state::AppState;

const SESSION_HEADER: &str = "mcp-session-id";
const VERSION_HEADER: &str = "mcp-protocol-version";
const METHOD_HEADER: &str = "mcp-method";
/// Sessions older than this are refused (the client initializes again).
const SESSION_TTL_SECONDS: i64 = 24 * 3600;
/// JSON-RPC code of an unsupported protocol version (with `data.supported`).
const UNSUPPORTED_VERSION: i64 = -32022;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(post_mcp, get_mcp, delete_mcp))
        .routes(routes!(call_tool_rest))
}

/// Who is calling: a platform user, or anonymous on a public deployment.
struct Caller {
    user: Option<Principal>,
    /// Rate-limit and routing key: the user, or the client address.
    key: Arc<str>,
}

fn json_rpc_reply(status: StatusCode, body: Bytes) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

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

/// 403 for a browser page of a foreign site (DNS rebinding); requests
/// without `Origin` (non-browser clients) pass.
fn check_origin(state: &AppState, headers: &HeaderMap) -> Result<(), Error> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin.to_str().unwrap_or("").trim_end_matches('/');
    let own = origin_of(&state.settings.public_url);
    let allowed = own.as_deref() == Some(origin)
        || state
            .settings
            .cors_origins
            .iter()
            .any(|o| o != "*" && o.trim_end_matches('/') == origin);
    if allowed {
        Ok(())
    } else {
        Err(Error::Forbidden {
            required_permission: "origin:allowed",
        })
    }
}

fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split('/').next()?;
    Some(format!("{scheme}://{host}"))
}

/// What every `/mcp/{slug}` method checks first, in order: the Origin, that
/// the slug names a live deployment, and the caller's right to call it.
async fn admit(
    state: &AppState,
    slug: &str,
    ip: Option<std::net::IpAddr>,
    parts: &http::request::Parts,
) -> Result<(Arc<Live>, Caller), Response> {
    let headers = &parts.headers;
    check_origin(state, headers).map_err(IntoResponse::into_response)?;
    let live = state
        .gateway
        .live_for_slug(state, slug)
        .await
        .map_err(IntoResponse::into_response)?;
    let caller = authenticate(state, parts, ip, &live).await?;
    Ok((live, caller))
}

async fn authenticate(
    state: &AppState,
    parts: &http::request::Parts,
    ip: Option<std::net::IpAddr>,
    live: &Live,
) -> Result<Caller, Response> {
    let user = match presented_principal(state, &parts.headers, &parts.extensions).await {
        None => None,
        Some(principal) => Some(principal.map_err(unauthorized)?),
    };
    let d = &live.deployment;
    match &user {
        None if !d.public => {
            return Err(unauthorized(Error::Unauthorized("authentication required")));
        }
        Some(p) if !d.public && p.user_id != d.owner_id && p.role != Role::Admin => {
            return Err(Error::Forbidden {
                required_permission: "deployments:call",
            }
            .into_response());
        }
        _ => {}
    }
    let key: Arc<str> = match &user {
        Some(p) => Arc::from(format!("user:{}", p.user_id)),
        None => Arc::from(format!(
            "ip:{}",
            ip.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string())
        )),
    };
    let limits = &state.settings.rate_limits;
    if limits.enabled {
        let limit = limits.limit_for("mcp");
        let bucket = format!("mcp:{}:{key}", d.tool_slug);
        match state.limiter.hit(&bucket, limit, limits.window).await {
            Ok(RateDecision::Limited { retry_after }) => {
                return Err(Error::RateLimited {
                    retry_after: retry_after.as_secs().max(1),
                }
                .into_response())
            }
            Ok(RateDecision::Allowed { .. }) => {}
            Err(e) => tracing::warn!(error = %e, "rate limiter unavailable; call let through"),
        }
    }
    Ok(Caller { user, key })
}

fn unauthorized(e: Error) -> Response {
    let mut r = e.into_response();
    r.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    r
}

/// Checks `MCP-Protocol-Version`; the version in force.
fn protocol_version(headers: &HeaderMap) -> Result<Option<String>, Response> {
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

/// The facts of the request's session, checked against the caller and
/// deployment, and not ended. The error is the response to give.
async fn session_of(
    state: &AppState,
    headers: &HeaderMap,
    caller: &Caller,
    live: &Live,
    id: Option<&[u8]>,
) -> Result<(String, SessionFacts), Response> {
    let Some(raw) = headers.get(SESSION_HEADER).and_then(|v| v.to_str().ok()) else {
        return Err(json_rpc_reply(
            StatusCode::BAD_REQUEST,
            jsonrpc::error(
                id,
                jsonrpc::INVALID_REQUEST,
                "Bad Request: Mcp-Session-Id header is required (initialize first)",
            ),
        ));
    };
    let not_found = || {
        json_rpc_reply(
            StatusCode::NOT_FOUND,
            jsonrpc::error(id, jsonrpc::INVALID_REQUEST, "Session not found"),
        )
    };
    let facts = state.gateway.sealer.open(raw).ok_or_else(not_found)?;
    let fresh = crate::domain::now().timestamp() - facts.issued_at < SESSION_TTL_SECONDS;
    let same_user = facts.user_id == caller.user.as_ref().map(|p| p.user_id);
    if !fresh || !same_user || facts.deployment_id != live.deployment.id {
        return Err(not_found());
    }
    if let Ok(Some(_)) = state.cache.get(&ended_key(raw)).await {
        return Err(not_found());
    }
    Ok((raw.to_owned(), facts))
}

fn ended_key(session: &str) -> String {
    format!(
        "mcp:session-ended:{}",
        &crate::auth::sha256_hex(session)[..32]
    )
}

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

/// Send one JSON-RPC message to the deployment.
#[utoipa::path(post, path = "/mcp/{slug}", tag = "gateway", params(("slug" = String, Path)),
    request_body(content = Object, description = "One JSON-RPC message"),
    security((), ("bearer" = []), ("api_key" = [])),
    responses((status = 200, description = "JSON-RPC response (application/json) or an SSE stream"),
        (status = 202, description = "Notification or response accepted"),
        (status = 400, description = "Malformed message, missing session or unsupported version"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn post_mcp(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    ClientIp(ip): ClientIp,
    request: Request,
) -> Response {
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    let (live, caller) = match admit(&state, &slug, ip, &parts).await {
        Ok(admitted) => admitted,
        Err(r) => return r,
    };
    let headers = parts.headers.clone();
    let request = Request::from_parts(parts, body);
    let version = match protocol_version(&headers) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let body = match crate::api::extract::body_bytes(request, &state).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
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

/// Answers `initialize` from the child's cached result, at the version
/// the client asked for when the gateway speaks it, and opens a session.
fn initialize(state: &AppState, live: &Live, caller: &Caller, body: &[u8], id: &[u8]) -> Response {
    let Some(cached) = stdio_init_result(live) else {
        return json_rpc_reply(
            StatusCode::OK,
            jsonrpc::error(
                Some(id),
                jsonrpc::SERVER_UNAVAILABLE,
                "the MCP server is starting; retry",
            ),
        );
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
fn discover(live: &Live, id: &[u8]) -> Response {
    let Some(cached) = stdio_init_result(live) else {
        return json_rpc_reply(
            StatusCode::OK,
            jsonrpc::error(
                Some(id),
                jsonrpc::SERVER_UNAVAILABLE,
                "the MCP server is starting; retry",
            ),
        );
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

fn stdio_init_result(live: &Live) -> Option<Bytes> {
    match &live.runner {
        Runner::Stdio(bridge) => bridge.init_result(),
        Runner::Remote(_) => None,
    }
}

/// One request of a caller to a remote deployment: relayed as it is, with
/// the session ids swapped (the upstream's travels sealed in the caller's).
struct RemoteCall<'a> {
    state: &'a AppState,
    live: &'a Arc<Live>,
    upstream: &'a crate::upstream::RemoteUpstream,
    caller: &'a Caller,
    headers: &'a HeaderMap,
    started: Instant,
}

impl RemoteCall<'_> {
    async fn post(&self, body: Bytes, peek: &jsonrpc::Peek, modern: bool) -> Response {
        let method = peek.method.clone().unwrap_or_default();
        let id = peek.id_text(&body).map(<[u8]>::to_vec);
        let initialize = method == "initialize";
        let upstream_session = if modern || initialize {
            None
        } else {
            match session_of(
                self.state,
                self.headers,
                self.caller,
                self.live,
                id.as_deref(),
            )
            .await
            {
                Ok((_, facts)) => facts.upstream_session,
                Err(r) => return r,
            }
        };
        let mut response = super::remote::relay(
            self.upstream,
            axum::http::Method::POST,
            self.headers,
            upstream_session.as_deref(),
            body,
        )
        .await;
        let upstream_session = response
            .headers_mut()
            .remove(SESSION_HEADER)
            .and_then(|v| v.to_str().ok().map(str::to_owned));
        if initialize && response.status().is_success() {
            let facts = SessionFacts {
                user_id: self.caller.user.as_ref().map(|p| p.user_id),
                deployment_id: self.live.deployment.id,
                protocol_version: LATEST_HANDSHAKE_VERSION.to_owned(),
                issued_at: crate::domain::now().timestamp(),
                upstream_session,
                nonce: rand::random(),
            };
            if let Some(v) = self
                .state
                .gateway
                .sealer
                .seal(&facts)
                .and_then(|s| HeaderValue::from_str(&s).ok())
            {
                response.headers_mut().insert(SESSION_HEADER, v);
            }
        }
        if peek.kind == Kind::Request {
            record_usage(
                self.state,
                self.live,
                self.caller.user.as_ref().map(|p| p.user_id),
                &method,
                response.status().is_success(),
                self.started,
            );
        }
        response
    }

    async fn get_or_delete(&self, method: axum::http::Method) -> Response {
        let facts = match session_of(self.state, self.headers, self.caller, self.live, None).await {
            Ok((_, facts)) => facts,
            Err(r) => return r,
        };
        let mut response = super::remote::relay(
            self.upstream,
            method,
            self.headers,
            facts.upstream_session.as_deref(),
            Bytes::new(),
        )
        .await;
        response.headers_mut().remove(SESSION_HEADER);
        response
    }
}

/// Open the server's notification stream of a session (SSE).
#[utoipa::path(get, path = "/mcp/{slug}", tag = "gateway", params(("slug" = String, Path)),
    security((), ("bearer" = []), ("api_key" = [])),
    responses((status = 200, description = "SSE stream of server messages"),
        (status = 400, description = "No session"), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 405, description = "Stateless protocol: no GET stream")))]
async fn get_mcp(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    ClientIp(ip): ClientIp,
    request: Request,
) -> Response {
    let (parts, _) = request.into_parts();
    let (live, caller) = match admit(&state, &slug, ip, &parts).await {
        Ok(admitted) => admitted,
        Err(r) => return r,
    };
    let headers = parts.headers;
    match protocol_version(&headers) {
        Ok(Some(v)) if v == MODERN_VERSION => return Error::MethodNotAllowed.into_response(),
        Ok(_) => {}
        Err(r) => return r,
    }
    if !accepts(&headers).1 {
        return (
            StatusCode::NOT_ACCEPTABLE,
            "Accept must include text/event-stream",
        )
            .into_response();
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
                started: Instant::now(),
            };
            return call.get_or_delete(axum::http::Method::GET).await;
        }
    };
    if let Err(r) = session_of(&state, &headers, &caller, &live, None).await {
        return r;
    }
    let rx = bridge.subscribe();
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(msg) => return Some((Ok::<Bytes, Infallible>(sse_event(&msg)), rx)),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    // A comment first, so the client sees the stream open at once.
    let opening = futures::stream::once(async {
        Ok::<Bytes, Infallible>(Bytes::from_static(b": stream open\n\n"))
    });
    sse_response(Body::from_stream(futures::StreamExt::chain(
        opening, stream,
    )))
}

/// End a session.
#[utoipa::path(delete, path = "/mcp/{slug}", tag = "gateway", params(("slug" = String, Path)),
    security((), ("bearer" = []), ("api_key" = [])),
    responses((status = 204, description = "Session ended"), (status = 400, description = "No session"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete_mcp(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    ClientIp(ip): ClientIp,
    request: Request,
) -> Response {
    let (parts, _) = request.into_parts();
    let (live, caller) = match admit(&state, &slug, ip, &parts).await {
        Ok(admitted) => admitted,
        Err(r) => return r,
    };
    let headers = parts.headers;
    let (session, _) = match session_of(&state, &headers, &caller, &live, None).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    if let Runner::Remote(upstream) = &live.runner {
        let call = RemoteCall {
            state: &state,
            live: &live,
            upstream,
            caller: &caller,
            headers: &headers,
            started: Instant::now(),
        };
        let ended = call.get_or_delete(axum::http::Method::DELETE).await;
        if !ended.status().is_success() {
            tracing::info!(status = %ended.status(), "the upstream did not end its session");
        }
    }
    let ttl = std::time::Duration::from_secs(SESSION_TTL_SECONDS.unsigned_abs());
    if let Err(e) = state
        .cache
        .set(&ended_key(&session), Bytes::from_static(b"1"), ttl)
        .await
    {
        tracing::warn!(error = %e, "ended session not remembered");
        return Error::Unavailable("the session store is unavailable".into()).into_response();
    }
    StatusCode::NO_CONTENT.into_response()
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
async fn call_tool_rest(
    State(state): State<AppState>,
    Path((slug, tool_name)): Path<(String, String)>,
    ClientIp(ip): ClientIp,
    request: Request,
) -> Response {
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    let (live, caller) = match admit(&state, &slug, ip, &parts).await {
        Ok(admitted) => admitted,
        Err(r) => return r,
    };
    let request = Request::from_parts(parts, body);
    let body = match crate::api::extract::body_bytes(request, &state).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
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
            let answer = super::remote::exchange(upstream, Bytes::from(message)).await;
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
