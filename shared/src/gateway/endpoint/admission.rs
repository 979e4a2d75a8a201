//! Admission to a deployment: the Origin check, the live deployment a slug
//! names, the caller's right to call it (and its `mcp` rate limit), and the
//! session a request continues. The POST routes share it through
//! [`admit_post`], GET and DELETE through [`admit_to_session`].

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::Request;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use super::{json_rpc_reply, SESSION_HEADER};
use crate::api::extract::{body_bytes, declared_json};
use crate::credentials::presented_principal;
use crate::domain::{Principal, Role};
use crate::error::Error;
use crate::gateway::jsonrpc;
use crate::gateway::{Live, SessionFacts};
use crate::ports::RateDecision;
use crate::state::AppState;

/// Sessions older than this are refused (the client initializes again).
pub(super) const SESSION_TTL_SECONDS: i64 = 24 * 3600;

/// Who is calling: a platform user, or anonymous on a public deployment.
pub(super) struct Caller {
    pub(super) user: Option<Principal>,
    /// Rate-limit and routing key: the user, or the client address.
    pub(super) key: Arc<str>,
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
/// the slug names a live deployment (for a caller without credentials, a
/// 401 when it does not, as for a private one), and the caller's right to
/// call it.
pub(super) async fn admit(
    state: &AppState,
    slug: &str,
    ip: Option<IpAddr>,
    parts: &Parts,
) -> Result<(Arc<Live>, Caller), Response> {
    let headers = &parts.headers;
    check_origin(state, headers).map_err(IntoResponse::into_response)?;
    let anonymous =
        !headers.contains_key(header::AUTHORIZATION) && !headers.contains_key("x-api-key");
    let live = match state.gateway.live_for_slug(state, slug).await {
        Ok(live) => live,
        // Without credentials, a slug that names nothing (or nothing that
        // serves) answers like a private deployment: anonymous probing
        // cannot tell which slugs exist.
        Err(Error::NotFound { .. } | Error::NotServing { .. }) if anonymous => {
            return Err(unauthorized(Error::Unauthorized("authentication required")))
        }
        Err(e) => return Err(e.into_response()),
    };
    let caller = authenticate(state, parts, ip, &live).await?;
    Ok((live, caller))
}

/// The caller, if it may call this deployment and is within its `mcp` rate
/// limit; the refusal (401, 403 or 429) otherwise.
async fn authenticate(
    state: &AppState,
    parts: &Parts,
    ip: Option<IpAddr>,
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

/// A 401 that names the scheme to authenticate with.
fn unauthorized(e: Error) -> Response {
    let mut r = e.into_response();
    r.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    r
}

/// The facts of the request's session, checked against the caller and
/// deployment, and not ended. The error is the response to give.
pub(super) async fn session_of(
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

/// The cache key that marks a session ended (DELETE): a hash of the sealed
/// id, so keys have one length and the id itself is not kept in the cache.
pub(super) fn ended_key(session: &str) -> String {
    format!(
        "mcp:session-ended:{}",
        &crate::digest::sha256_hex(session)[..32]
    )
}

/// A POST to `/mcp/{slug}` (a JSON-RPC message or REST arguments), admitted
/// and its body read.
pub(super) struct AdmittedPost<T> {
    pub(super) live: Arc<Live>,
    pub(super) caller: Caller,
    pub(super) headers: HeaderMap,
    /// What the precheck made of the headers (POST: the protocol version).
    pub(super) checked: T,
    pub(super) body: Bytes,
}

/// What both POST routes check, in this order: [`admit`], then `precheck`
/// on the headers, then the body (413 over `MAX_BODY_BYTES`; 415 when one
/// is sent that does not say it is JSON).
pub(super) async fn admit_post<T>(
    state: &AppState,
    slug: &str,
    ip: Option<IpAddr>,
    request: Request,
    precheck: impl FnOnce(&HeaderMap) -> Result<T, Response>,
) -> Result<AdmittedPost<T>, Response> {
    let (parts, body) = request.into_parts();
    let (live, caller) = admit(state, slug, ip, &parts).await?;
    let headers = parts.headers.clone();
    let checked = precheck(&headers)?;
    let body = body_bytes(Request::from_parts(parts, body), state)
        .await
        .map_err(IntoResponse::into_response)?;
    if !body.iter().all(u8::is_ascii_whitespace) {
        declared_json(&headers).map_err(IntoResponse::into_response)?;
    }
    Ok(AdmittedPost {
        live,
        caller,
        headers,
        checked,
        body,
    })
}

/// A GET or DELETE of `/mcp/{slug}`, admitted and inside an open session.
pub(super) struct OpenSession {
    pub(super) live: Arc<Live>,
    pub(super) headers: HeaderMap,
    /// The sealed `Mcp-Session-Id`, as the caller presented it.
    pub(super) session: String,
    pub(super) facts: SessionFacts,
}

/// What GET and DELETE check, in this order: [`admit`], then `precheck` on
/// the headers (GET's protocol version and `Accept`), then the session.
pub(super) async fn admit_to_session(
    state: &AppState,
    slug: &str,
    ip: Option<IpAddr>,
    parts: Parts,
    precheck: impl FnOnce(&HeaderMap) -> Result<(), Response>,
) -> Result<OpenSession, Response> {
    let (live, caller) = admit(state, slug, ip, &parts).await?;
    let headers = parts.headers;
    precheck(&headers)?;
    let (session, facts) = session_of(state, &headers, &caller, &live, None).await?;
    Ok(OpenSession {
        live,
        headers,
        session,
        facts,
    })
}
