//! GET and DELETE `/mcp/{slug}` (2025-11-25 and older): the server's
//! notification stream of a session, and the end of a session. Both are
//! admitted and find their session through [`admit_to_session`]; a remote
//! runner's are relayed to it.

use std::convert::Infallible;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use super::admission::{admit_to_session, ended_key, SESSION_TTL_SECONDS};
use super::handshake::protocol_version;
use super::remote_call::relay_in_session;
use super::{accepts, sse_event, sse_response};
use crate::credentials::ClientIp;
use crate::error::{Error, ErrorBody};
use crate::gateway::{Runner, StdioBridge, MODERN_VERSION};
use crate::state::AppState;

/// Open the server's notification stream of a session (SSE).
#[utoipa::path(get, path = "/mcp/{slug}", tag = "gateway", params(("slug" = String, Path)),
    security((), ("bearer" = []), ("api_key" = [])),
    responses((status = 200, description = "SSE stream of server messages"),
        (status = 400, description = "No session"), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 405, description = "Stateless protocol: no GET stream")))]
pub(super) async fn get_mcp(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    ClientIp(ip): ClientIp,
    request: Request,
) -> Response {
    let (parts, _) = request.into_parts();
    let opened = match admit_to_session(&state, &slug, ip, parts, stream_preconditions).await {
        Ok(opened) => opened,
        Err(r) => return r,
    };
    match &opened.live.runner {
        Runner::Stdio(bridge) => notification_stream(bridge),
        Runner::Remote(upstream) => relay_in_session(upstream, Method::GET, &opened).await,
    }
}

/// What a GET must ask for before its session is looked at: a protocol with
/// sessions (the stateless one has no GET stream) and an SSE response.
fn stream_preconditions(headers: &HeaderMap) -> Result<(), Response> {
    if protocol_version(headers)?.as_deref() == Some(MODERN_VERSION) {
        return Err(Error::MethodNotAllowed.into_response());
    }
    if !accepts(headers).1 {
        return Err((
            StatusCode::NOT_ACCEPTABLE,
            "Accept must include text/event-stream",
        )
            .into_response());
    }
    Ok(())
}

/// The stdio child's notifications, as SSE, for as long as it runs.
fn notification_stream(bridge: &StdioBridge) -> Response {
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
pub(super) async fn delete_mcp(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    ClientIp(ip): ClientIp,
    request: Request,
) -> Response {
    let (parts, _) = request.into_parts();
    let opened = match admit_to_session(&state, &slug, ip, parts, |_| Ok(())).await {
        Ok(opened) => opened,
        Err(r) => return r,
    };
    if let Runner::Remote(upstream) = &opened.live.runner {
        let ended = relay_in_session(upstream, Method::DELETE, &opened).await;
        if !ended.status().is_success() {
            tracing::info!(status = %ended.status(), "the upstream did not end its session");
        }
    }
    let ttl = std::time::Duration::from_secs(SESSION_TTL_SECONDS.unsigned_abs());
    if let Err(e) = state
        .cache
        .set(&ended_key(&opened.session), Bytes::from_static(b"1"), ttl)
        .await
    {
        tracing::warn!(error = %e, "ended session not remembered");
        return Error::Unavailable("the session store is unavailable".into()).into_response();
    }
    StatusCode::NO_CONTENT.into_response()
}
