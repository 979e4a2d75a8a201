//! The path of a caller's message to a remote deployment: relayed as it is
//! to the upstream MCP server, with the session ids swapped (the upstream's
//! travels sealed inside the caller's `Mcp-Session-Id`).

use std::sync::Arc;
use std::time::Instant;

use axum::http::{HeaderMap, HeaderValue, Method};
use axum::response::Response;
use bytes::Bytes;

use super::admission::{session_of, Caller, OpenSession};
use super::{record_usage, SESSION_HEADER};
use crate::gateway::jsonrpc::{self, Kind};
use crate::gateway::{remote, Live, SessionFacts, LATEST_HANDSHAKE_VERSION};
use crate::state::AppState;
use crate::upstream::RemoteUpstream;

/// One request of a caller to a remote deployment: relayed as it is, with
/// the session ids swapped (the upstream's travels sealed in the caller's).
pub(super) struct RemoteCall<'a> {
    pub(super) state: &'a AppState,
    pub(super) live: &'a Arc<Live>,
    pub(super) upstream: &'a RemoteUpstream,
    pub(super) caller: &'a Caller,
    pub(super) headers: &'a HeaderMap,
    pub(super) started: Instant,
}

impl RemoteCall<'_> {
    pub(super) async fn post(&self, body: Bytes, peek: &jsonrpc::Peek, modern: bool) -> Response {
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
        let mut response = remote::relay(
            self.upstream,
            Method::POST,
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
}

/// A GET or DELETE in an open session, relayed to the upstream in the
/// upstream's own session; its session id is not shown to the caller.
pub(super) async fn relay_in_session(
    upstream: &RemoteUpstream,
    method: Method,
    opened: &OpenSession,
) -> Response {
    let mut response = remote::relay(
        upstream,
        method,
        &opened.headers,
        opened.facts.upstream_session.as_deref(),
        Bytes::new(),
    )
    .await;
    response.headers_mut().remove(SESSION_HEADER);
    response
}
