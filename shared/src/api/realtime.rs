//! Real-time delivery of events (task updates, deployment status):
//! `GET /ws` (WebSocket) and `GET /events` (Server-Sent Events).
//!
//! - Both authenticate before anything is established: a bearer token or API
//!   key in the headers, or `?token=` (browsers cannot set headers on a
//!   WebSocket or `EventSource`); otherwise 401 and no upgrade.
//! - A connection receives the events of the topics it subscribed to, and of
//!   those only the ones its user may see (the event's owner, or an admin).
//!   Subscribing to another user's task is refused outright.
//! - Memory per connection is bounded: each reads the bus through its own
//!   bounded receiver, and a client that does not keep up loses the oldest
//!   events (it is told how many); a WebSocket whose writes stall past
//!   [`SEND_TIMEOUT`] is closed. Subscriptions per connection are capped.
//! - A subscription to a task or a deployment starts with its current state
//!   (a `task_update` or `deployment_status` message), so a subscriber that
//!   arrives after a task finished still learns how it ended. A deployment
//!   topic names a deployment the caller may see, like a task's.
//! - `/events` without a `task_id` or `topic` is a 422 that says what to
//!   pass, not a stream that never carries anything.
//! - A connection's subscriptions die with it (`realtime_connections` and
//!   `realtime_subscriptions` in `/metrics` count what is open).

use std::collections::HashSet;
use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, Stream, StreamExt};
use serde_json::{json, Value};
use tokio::sync::broadcast::error::RecvError;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::credentials::AuthUser;
use crate::domain::{Principal, Role};
use crate::error::{Error, ErrorBody, Result};
use crate::metrics::Metrics;
use crate::ports::Event;
use crate::state::AppState;

/// Topics one connection may hold at once.
pub const MAX_SUBSCRIPTIONS: usize = 256;
/// A WebSocket write that takes longer closes the connection.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest client message; subscribe requests are tiny.
const MAX_CLIENT_MESSAGE_BYTES: usize = 16 * 1024;
/// How often an idle SSE stream gets a keep-alive comment.
pub(super) const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// The most of a refused topic an error repeats.
const MAX_TOPIC_CHARS: usize = 200;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(websocket))
        .routes(routes!(events))
}

/// The caller of a real-time endpoint: headers as everywhere else, or the
/// `token` query parameter (an access token or an API key).
struct RealtimeUser(Principal);

fn query_pairs(parts: &Parts) -> Result<Vec<(String, String)>> {
    Query::<Vec<(String, String)>>::try_from_uri(&parts.uri)
        .map(|Query(pairs)| pairs)
        .map_err(|_| Error::BadRequest("malformed query string".into()))
}

impl FromRequestParts<AppState> for RealtimeUser {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let has_header = parts.headers.contains_key("x-api-key")
            || parts
                .headers
                .contains_key(axum::http::header::AUTHORIZATION);
        if has_header {
            return AuthUser::from_request_parts(parts, state)
                .await
                .map(|AuthUser(p)| Self(p));
        }
        let token = query_pairs(parts)?
            .into_iter()
            .find(|(k, _)| k == "token")
            .map(|(_, v)| v)
            .ok_or(Error::Unauthorized("authentication required"))?;
        crate::credentials::principal_of_token(state, &token)
            .await
            .map(Self)
    }
}

/// Counts an open connection for as long as it lives.
struct ConnectionGuard(Arc<Metrics>);

impl ConnectionGuard {
    fn open(metrics: &Arc<Metrics>) -> Self {
        metrics.realtime_connections.fetch_add(1, Ordering::Relaxed);
        Self(metrics.clone())
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.realtime_connections.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Why a subscription was refused, as the client is told.
struct Refusal {
    code: &'static str,
    detail: String,
}

impl Refusal {
    fn new(code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
        }
    }

    fn into_error(self, loc: &str) -> Error {
        match self.code {
            "NOT_FOUND" => Error::NotFound {
                resource_type: "task",
                resource_id: self.detail,
            },
            _ => Error::invalid(&["query", loc], "value_error", self.detail),
        }
    }
}

/// What a client may follow; nothing else is a topic. Parsed, so that a
/// case variant, a wildcard or another spelling of an id never matches a
/// topic by accident: events are published under [`Topic::key`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Topic {
    Task(Uuid),
    Deployment(Uuid),
}

impl Topic {
    /// `task:<uuid>` or `deployment:<uuid>`, ids in the hyphenated form.
    /// Anything else is refused like another user's task: whether a topic
    /// exists is not for a stranger to learn.
    fn parse(raw: &str) -> Result<Self, Refusal> {
        let id = |s: &str| {
            Uuid::try_parse(s)
                .ok()
                .filter(|id| id.hyphenated().to_string() == s.to_ascii_lowercase())
        };
        let parsed = match raw.split_once(':') {
            Some(("task", rest)) => id(rest).map(Self::Task),
            Some(("deployment", rest)) => id(rest).map(Self::Deployment),
            _ => None,
        };
        parsed.ok_or_else(|| {
            let shown: String = raw.chars().take(MAX_TOPIC_CHARS).collect();
            Refusal::new("NOT_FOUND", shown)
        })
    }

    /// The topic of a subscribe or unsubscribe request.
    fn requested(task_id: Option<&str>, topic: Option<&str>) -> Result<Self, Refusal> {
        match (task_id, topic) {
            (Some(raw), _) => Uuid::try_parse(raw)
                .map(Self::Task)
                .map_err(|_| Refusal::new("VALIDATION_ERROR", "task_id must be a UUID")),
            (None, Some("")) => Err(Refusal::new(
                "VALIDATION_ERROR",
                "topic is task:<uuid> or deployment:<uuid>",
            )),
            (None, Some(raw)) => Self::parse(raw),
            (None, None) => Err(Refusal::new("VALIDATION_ERROR", "give task_id or topic")),
        }
    }

    /// The name events are published under.
    fn key(self) -> String {
        match self {
            Self::Task(id) => crate::tasks::topic(id),
            Self::Deployment(id) => crate::gateway::deployment_topic(id),
        }
    }
}

/// One connection's topics.
struct Subscriptions {
    principal: Principal,
    topics: HashSet<String>,
    metrics: Arc<Metrics>,
}

impl Subscriptions {
    fn new(principal: Principal, metrics: &Arc<Metrics>) -> Self {
        Self {
            principal,
            topics: HashSet::new(),
            metrics: metrics.clone(),
        }
    }

    /// The topic a subscribe request names, checked — a task or deployment
    /// must exist and be the caller's (or the caller an admin) — with the
    /// message that tells its current state, when it has one.
    async fn resolve(
        &self,
        state: &AppState,
        task_id: Option<&str>,
        topic: Option<&str>,
    ) -> Result<(String, Option<Value>), Refusal> {
        let topic = Topic::requested(task_id, topic)?;
        match topic {
            Topic::Task(id) => match crate::tasks::find_for(state, &self.principal, id).await {
                Ok(task) => Ok((topic.key(), Some(crate::tasks::update_message(&task)))),
                Err(Error::NotFound { .. }) => Err(Refusal::new("NOT_FOUND", id.to_string())),
                Err(e) => {
                    tracing::warn!(error = %e, "task lookup for a subscription failed");
                    Err(Refusal::new("SERVICE_UNAVAILABLE", "try again later"))
                }
            },
            Topic::Deployment(id) => self
                .deployment_state(state, id)
                .await
                .map(|current| (topic.key(), current)),
        }
    }

    /// The current `deployment_status` of a deployment the caller may see;
    /// another user's is refused like a task that does not exist.
    async fn deployment_state(&self, state: &AppState, id: Uuid) -> Result<Option<Value>, Refusal> {
        match state.deployments.find_deployment(id).await {
            Ok(Some(d))
                if self.principal.role == Role::Admin || d.owner_id == self.principal.user_id =>
            {
                Ok(Some(
                    crate::gateway::status_event(&d, d.status, d.health_status).message,
                ))
            }
            Ok(_) => Err(Refusal::new("NOT_FOUND", id.to_string())),
            Err(e) => {
                tracing::warn!(error = %e, "deployment lookup for a subscription failed");
                Err(Refusal::new("SERVICE_UNAVAILABLE", "try again later"))
            }
        }
    }

    fn add(&mut self, topic: String) -> Result<(), Refusal> {
        if self.topics.contains(&topic) {
            return Ok(());
        }
        if self.topics.len() >= MAX_SUBSCRIPTIONS {
            return Err(Refusal::new(
                "TOO_MANY_SUBSCRIPTIONS",
                format!("at most {MAX_SUBSCRIPTIONS} subscriptions per connection"),
            ));
        }
        self.topics.insert(topic);
        self.metrics
            .realtime_subscriptions
            .fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn remove(&mut self, topic: &str) -> bool {
        let removed = self.topics.remove(topic);
        if removed {
            self.metrics
                .realtime_subscriptions
                .fetch_sub(1, Ordering::Relaxed);
        }
        removed
    }

    /// Whether this connection gets `event`.
    fn wants(&self, event: &Event) -> bool {
        self.topics.contains(&event.topic)
            && (self.principal.role == Role::Admin
                || event
                    .owner_id
                    .is_none_or(|owner| owner == self.principal.user_id))
    }
}

impl Drop for Subscriptions {
    fn drop(&mut self) {
        self.metrics
            .realtime_subscriptions
            .fetch_sub(self.topics.len() as u64, Ordering::Relaxed);
    }
}

fn lagged_message(missed: u64) -> Value {
    json!({"type": "error", "code": "LAGGED",
           "detail": format!("{missed} events were dropped because this connection fell behind")})
}

// ------------------------------------------------------------ WebSocket

/// WebSocket of real-time events. Client messages:
/// `{"type":"subscribe"|"unsubscribe","task_id":…}` or `{…,"topic":…}`.
/// Server messages: `task_update`, `deployment_status`, `subscribed`,
/// `unsubscribed`, `error`.
#[utoipa::path(get, path = "/ws", tag = "realtime",
    params(("token" = Option<String>, Query, description = "An access token or API key, when headers cannot be set")),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 101, description = "Switched to the WebSocket protocol"),
        (status = 400, body = ErrorBody, description = "Not a WebSocket upgrade request"),
        (status = 401, body = ErrorBody)))]
async fn websocket(
    State(state): State<AppState>,
    RealtimeUser(principal): RealtimeUser,
    upgrade: std::result::Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response> {
    let upgrade = upgrade.map_err(|r| Error::BadRequest(r.body_text()))?;
    Ok(upgrade
        .max_message_size(MAX_CLIENT_MESSAGE_BYTES)
        .max_frame_size(MAX_CLIENT_MESSAGE_BYTES)
        .on_upgrade(move |socket| serve_socket(state, principal, socket))
        .into_response())
}

async fn serve_socket(state: AppState, principal: Principal, socket: WebSocket) {
    let _open = ConnectionGuard::open(&state.metrics);
    // Subscribed before any client message is read: nothing published after
    // a `subscribed` ack can be missed.
    let mut events = state.events.subscribe();
    let mut subscriptions = Subscriptions::new(principal, &state.metrics);
    let (mut sink, mut incoming) = socket.split();
    loop {
        let reply = tokio::select! {
            message = incoming.next() => match message {
                Some(Ok(Message::Text(text))) => {
                    client_message(&state, &mut subscriptions, text.as_str()).await
                }
                Some(Ok(Message::Binary(_))) => vec![json!({"type": "error", "code": "VALIDATION_ERROR",
                    "detail": "messages are JSON text frames"})],
                // Pings are answered by the protocol layer.
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => Vec::new(),
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
            },
            event = events.recv() => match event {
                Ok(event) if subscriptions.wants(&event) => vec![event.message],
                Ok(_) => Vec::new(),
                Err(RecvError::Lagged(missed)) => vec![lagged_message(missed)],
                Err(RecvError::Closed) => break,
            },
        };
        for reply in reply {
            let sent = tokio::time::timeout(
                SEND_TIMEOUT,
                sink.send(Message::Text(reply.to_string().into())),
            )
            .await;
            if !matches!(sent, Ok(Ok(()))) {
                tracing::debug!("real-time client too slow or gone; closing");
                return;
            }
        }
    }
}

/// Handles one client message; the messages to send back, in order (a
/// subscription's ack, then the current state of what it follows).
async fn client_message(
    state: &AppState,
    subscriptions: &mut Subscriptions,
    text: &str,
) -> Vec<Value> {
    let error =
        |code: &str, detail: String| json!({"type": "error", "code": code, "detail": detail});
    let Ok(Value::Object(message)) = serde_json::from_str::<Value>(text) else {
        return vec![error("INVALID_REQUEST", "messages are JSON objects".into())];
    };
    let field = |name: &str| message.get(name).and_then(Value::as_str);
    let (task_id, topic) = (field("task_id"), field("topic"));
    let kind = field("type").unwrap_or_default();
    let target = json!({"task_id": task_id, "topic": topic});
    let refused = |r: Refusal| {
        let mut e = error(r.code, r.detail);
        e["request"] = target.clone();
        e
    };
    match kind {
        "subscribe" => {
            let resolved = subscriptions.resolve(state, task_id, topic).await;
            match resolved
                .and_then(|(t, current)| subscriptions.add(t.clone()).map(|()| (t, current)))
            {
                Ok((topic, current)) => {
                    let ack = json!({"type": "subscribed", "topic": topic, "task_id": task_id});
                    std::iter::once(ack).chain(current).collect()
                }
                Err(r) => vec![refused(r)],
            }
        }
        "unsubscribe" => {
            let topic = match Topic::requested(task_id, topic) {
                Ok(topic) => topic.key(),
                Err(r) => return vec![refused(r)],
            };
            let was = subscriptions.remove(&topic);
            vec![json!({"type": "unsubscribed", "topic": topic, "was_subscribed": was})]
        }
        _ => vec![error(
            "VALIDATION_ERROR",
            "type must be subscribe or unsubscribe".into(),
        )],
    }
}

// ------------------------------------------------------------ SSE

/// Server-Sent Events of the subscribed topics (`?task_id=…&topic=…`, each
/// repeatable): `event: task_update`, `event: deployment_status`, with a
/// keep-alive comment when idle.
#[utoipa::path(get, path = "/events", tag = "realtime",
    params(("task_id" = Option<Uuid>, Query, description = "A task to follow; repeatable"),
        ("topic" = Option<String>, Query, description = "A topic to follow, e.g. deployment:{id}; repeatable"),
        ("token" = Option<String>, Query, description = "An access token or API key, when headers cannot be set")),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, description = "An event stream", content_type = "text/event-stream"),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody, description = "No such task of the caller's"),
        (status = 422, body = ErrorBody)))]
async fn events(
    State(state): State<AppState>,
    RealtimeUser(principal): RealtimeUser,
    parts: axum::http::Uri,
) -> Result<Sse<impl Stream<Item = std::result::Result<SseEvent, Infallible>>>> {
    let pairs = Query::<Vec<(String, String)>>::try_from_uri(&parts)
        .map(|Query(p)| p)
        .map_err(|_| Error::BadRequest("malformed query string".into()))?;
    let mut subscriptions = Subscriptions::new(principal, &state.metrics);
    let mut current = Vec::new();
    for (key, value) in &pairs {
        let resolved = match key.as_str() {
            "task_id" => subscriptions.resolve(&state, Some(value), None).await,
            "topic" => subscriptions.resolve(&state, None, Some(value)).await,
            _ => continue,
        };
        let (topic, now) = resolved.map_err(|r| r.into_error(key))?;
        subscriptions.add(topic).map_err(|r| r.into_error(key))?;
        current.extend(now);
    }
    if subscriptions.topics.is_empty() {
        return Err(Error::invalid(
            &["query", "task_id"],
            "missing",
            "give at least one task_id=<uuid> or topic=deployment:<uuid> to follow",
        ));
    }
    // Subscribed before the response starts: nothing published after the
    // 200 can be missed.
    let receiver = state.events.subscribe();
    let open = ConnectionGuard::open(&state.metrics);
    let first = futures::stream::iter(current.into_iter().map(|message| Ok(sse_event(&message))));
    let stream = futures::stream::unfold(
        (receiver, subscriptions, open),
        |(mut receiver, subscriptions, open)| async move {
            loop {
                let message = match receiver.recv().await {
                    Ok(event) if subscriptions.wants(&event) => event.message,
                    Ok(_) => continue,
                    Err(RecvError::Lagged(missed)) => lagged_message(missed),
                    Err(RecvError::Closed) => return None,
                };
                return Some((Ok(sse_event(&message)), (receiver, subscriptions, open)));
            }
        },
    );
    Ok(Sse::new(first.chain(stream)).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}

/// A message as an SSE event named by its `type`.
pub(super) fn sse_event(message: &Value) -> SseEvent {
    let name = message["type"].as_str().unwrap_or("message");
    SseEvent::default().event(name).data(message.to_string())
}
