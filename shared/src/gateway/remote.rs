//! The remote runner's gateway side: a deployment whose tool runs at a
//! Streamable HTTP URL. Requests are relayed by [`RemoteUpstream::forward`]
//! (SSRF guard, streamed bodies); the gateway swaps session ids (the
//! upstream's own id travels sealed inside the client's) and checks health
//! with an `initialize` exchange.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::response::Response;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method};
use serde_json::Value;

use super::{publish, status_event, DeploymentStatus, HealthStatus, Live};
use crate::config::Settings;
use crate::domain::HttpRuntime;
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::upstream::{RemoteUpstream, SsrfPolicy, UpstreamTimeouts};

/// The upstream of a `streamable-http` runtime, under the configured SSRF policy.
pub fn upstream_for(settings: &Settings, runtime: &HttpRuntime) -> Result<RemoteUpstream> {
    RemoteUpstream::with_options(
        &runtime.url,
        SsrfPolicy::from_settings(settings),
        runtime.headers.clone(),
        UpstreamTimeouts::default(),
    )
    .map_err(|e| match e.into_config_error() {
        Ok(config_error) => config_error,
        Err(other) => Error::Unavailable(other.to_string()),
    })
}

const INITIALIZE: &[u8] = br#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"mcp-platform-gateway","version":"1"}}}"#;

fn mcp_headers(session: Option<&str>) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        http::header::ACCEPT,
        HeaderValue::from_static("application/json, text/event-stream"),
    );
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(s) = session.and_then(|s| HeaderValue::from_str(s).ok()) {
        h.insert("mcp-session-id", s);
    }
    h
}

/// The JSON-RPC answer in a response body: the body itself (JSON) or the
/// SSE event that carries an `id`.
pub async fn read_answer(response: Response) -> Option<Value> {
    let sse = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    let body = axum::body::to_bytes(response.into_body(), 16 * 1024 * 1024)
        .await
        .ok()?;
    if !sse {
        return serde_json::from_slice(&body).ok();
    }
    String::from_utf8_lossy(&body)
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
        .find(|m| m.get("id").is_some() && m.get("method").is_none())
}

/// Opens an upstream session: its id (if the server keeps sessions).
async fn open_session(upstream: &RemoteUpstream) -> std::result::Result<Option<String>, String> {
    let response = upstream
        .forward(
            Method::POST,
            mcp_headers(None),
            Bytes::from_static(INITIALIZE),
        )
        .await
        .map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        return Err(format!("initialize answered {}", response.status()));
    }
    let session = response
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let answer = read_answer(response).await.ok_or("no initialize answer")?;
    if answer.get("result").is_none() {
        return Err(format!("initialize refused: {answer}"));
    }
    let initialized =
        Bytes::from_static(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
    let _ = upstream
        .forward(Method::POST, mcp_headers(session.as_deref()), initialized)
        .await;
    Ok(session)
}

async fn close_session(upstream: &RemoteUpstream, session: Option<String>) {
    if let Some(s) = session {
        let _ = upstream
            .forward(Method::DELETE, mcp_headers(Some(&s)), Bytes::new())
            .await;
    }
}

/// One request/answer exchange in a fresh upstream session (the REST
/// shortcut and health checks).
pub async fn exchange(
    upstream: &RemoteUpstream,
    message: Bytes,
) -> std::result::Result<Value, String> {
    let session = open_session(upstream).await?;
    let answer = async {
        let response = upstream
            .forward(Method::POST, mcp_headers(session.as_deref()), message)
            .await
            .map_err(|e| e.to_string())?;
        read_answer(response)
            .await
            .ok_or_else(|| "no answer".to_owned())
    }
    .await;
    close_session(upstream, session).await;
    answer
}

/// MCP `ping` in a fresh session; its round trip.
pub async fn ping(
    upstream: &RemoteUpstream,
    timeout: Duration,
) -> std::result::Result<Duration, String> {
    let started = Instant::now();
    let message = Bytes::from_static(br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#);
    match tokio::time::timeout(timeout, exchange(upstream, message)).await {
        Ok(Ok(answer)) if answer.get("result").is_some() => Ok(started.elapsed()),
        Ok(Ok(answer)) => Err(format!("ping refused: {answer}")),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(format!("no answer within {timeout:?}")),
    }
}

/// Marks a remote deployment running once its server answers (retrying
/// while it comes up), or failed when it never does.
pub async fn watch(state: AppState, live: Arc<Live>) {
    let super::Runner::Remote(upstream) = &live.runner else {
        return;
    };
    let d = &live.deployment;
    // Addresses can change after the deploy-time check (DNS rebinding): a
    // refusal is final, not a reason to retry.
    if let Err(refused) = upstream.check_resolves().await {
        fail(&state, &live, &refused.to_string()).await;
        return;
    }
    let mut last_error = String::new();
    for attempt in 0..30u32 {
        match ping(upstream, Duration::from_secs(10)).await {
            Ok(_) => {
                if let Ok(true) = state
                    .deployments
                    .set_deployment_status(d.id, DeploymentStatus::Running, None)
                    .await
                {
                    let _ = state
                        .deployments
                        .set_deployment_health(d.id, HealthStatus::Healthy)
                        .await;
                    publish(
                        state.events.as_ref(),
                        status_event(d, DeploymentStatus::Running, HealthStatus::Healthy),
                    )
                    .await;
                }
                return;
            }
            Err(e) => last_error = e,
        }
        tokio::time::sleep(Duration::from_millis(200) * (attempt + 1).min(10)).await;
        if !state.gateway.is_current(&live) {
            return;
        }
    }
    fail(&state, &live, &last_error).await;
}

/// Records a remote deployment as failed with `why` and retires its runner.
async fn fail(state: &AppState, live: &Arc<Live>, why: &str) {
    let d = &live.deployment;
    if let Ok(true) = state
        .deployments
        .set_deployment_status(d.id, DeploymentStatus::Failed, Some(why))
        .await
    {
        publish(
            state.events.as_ref(),
            status_event(d, DeploymentStatus::Failed, HealthStatus::Unhealthy),
        )
        .await;
    }
    state.gateway.retire(live);
}

/// Relays one request (an empty body for GET and DELETE).
pub async fn relay(
    upstream: &RemoteUpstream,
    method: Method,
    headers: &HeaderMap,
    upstream_session: Option<&str>,
    body: Bytes,
) -> Response {
    let mut outgoing = headers.clone();
    outgoing.remove("mcp-session-id");
    if let Some(s) = upstream_session.and_then(|s| HeaderValue::from_str(s).ok()) {
        outgoing.insert("mcp-session-id", s);
    }
    match upstream.forward(method, outgoing, body).await {
        Ok(response) => response,
        Err(e) => axum::response::IntoResponse::into_response(e),
    }
}
