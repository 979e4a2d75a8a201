//! Tasks and real-time delivery (SPEC §3 "Tasks and real-time"), black-box:
//! tasks are started through `mcp_platform::tasks::start` with a test job
//! kind that reports progress, a real worker runs them, and clients watch
//! over a real WebSocket (tokio-tungstenite) and SSE.
//!
//! - Unauthenticated `/ws` and `/events` are refused with 401, no upgrade.
//! - A subscriber receives every status change of its task, in order,
//!   through `completed` with the result (WebSocket and SSE; query token,
//!   bearer header and API key).
//! - Another user's task cannot be subscribed to and its events never
//!   arrive; an admin may subscribe.
//! - A closed connection releases its subscriptions (`/metrics`).
//! - The tasks API: ownership, filters, cancel (409 once running/finished),
//!   a cancelled task's job doing nothing; expired records swept.
//! - With Redis, two instances: a client on A sees a job finished on B.

use std::time::Duration;

use async_trait::async_trait;
use futures::{SinkExt, StreamExt};
use mcp_platform::domain::Task;
use mcp_platform::jobs::{Job, JobContext, JobError, Registry};
use mcp_platform::tasks::TaskReporter;
use mcp_platform::worker::{Worker, WorkerOptions};
use mcp_platform_tests::{poll_until, spawn_app_with, SseReader, TestApp, TestUser};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use uuid::Uuid;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

const WAIT: Duration = Duration::from_secs(15);

/// A test job kind: `steps` progress reports, then a result naming them.
/// `fail` makes it fail permanently instead of completing.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Steps {
    task_id: Uuid,
    steps: u8,
    fail: bool,
}

#[async_trait]
impl Job for Steps {
    const KIND: &'static str = "test_steps";

    async fn run(self, ctx: &JobContext<'_>) -> Result<(), JobError> {
        let Some(mut task) = TaskReporter::begin(ctx, self.task_id).await? else {
            return Ok(());
        };
        for step in 1..=self.steps {
            let progress =
                u8::try_from(u32::from(step) * 100 / (u32::from(self.steps) + 1)).unwrap_or(99);
            task.progress(progress, format!("step {step} of {}", self.steps))
                .await?;
        }
        let outcome = if self.fail {
            Err(JobError::Permanent("the test job was told to fail".into()))
        } else {
            Ok(json!({"steps": self.steps, "task_id": self.task_id}))
        };
        task.finish(outcome).await
    }
}

fn registry() -> Registry {
    Registry::standard().with::<Steps>()
}

fn fast_worker(app: &TestApp) -> Worker {
    Worker::with_options(
        app.state.clone(),
        registry(),
        WorkerOptions {
            concurrency: 1,
            lease: Duration::from_secs(30),
            poll_interval: Duration::from_millis(10),
            backoff_base: Duration::from_millis(10),
            shutdown_grace: Duration::from_secs(5),
        },
    )
}

/// Runs a worker on `app` until the returned sender is dropped.
fn spawn_worker(app: &TestApp) -> tokio::sync::oneshot::Sender<()> {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = fast_worker(app);
    tokio::spawn(async move {
        worker
            .run(async {
                let _ = stopped.await;
            })
            .await
    });
    stop
}

async fn start_task(app: &TestApp, owner: &TestUser, steps: u8) -> Task {
    let owner_id = Uuid::parse_str(&owner.id).expect("user id");
    mcp_platform::tasks::start(&app.state, owner_id, |task_id| Steps {
        task_id,
        steps,
        fail: false,
    })
    .await
    .expect("task started")
}

async fn app() -> TestApp {
    spawn_app_with(&[("RATE_LIMIT_ENABLED", "false")]).await
}

/// A deployment record of `who`'s (nothing runs), to subscribe to.
async fn deployment_of(app: &TestApp, who: &TestUser, slug: &str) -> Uuid {
    let created = app.create_tool(&who.access_token, slug).await;
    let id = Uuid::parse_str(created["id"].as_str().expect("id")).expect("uuid");
    let tool = app.state.tools.find(id).await.expect("read").expect("tool");
    let owner = Uuid::parse_str(&who.id).expect("user id");
    let d = crate::deployment_contracts::deployment(&tool, owner, 0);
    app.state
        .deployments
        .insert_deployment(&d)
        .await
        .expect("stored");
    d.id
}

fn ws_url(app: &TestApp, query: &str) -> String {
    format!("ws://{}/ws{query}", app.addr)
}

async fn connect_ws(app: &TestApp, token: &str) -> Ws {
    let (ws, response) = tokio_tungstenite::connect_async(ws_url(app, &format!("?token={token}")))
        .await
        .expect("websocket connects");
    assert_eq!(response.status(), 101);
    ws
}

async fn connect_ws_with_header(app: &TestApp, name: &str, value: &str) -> Ws {
    let mut request = ws_url(app, "").into_client_request().expect("request");
    request.headers_mut().insert(
        name.parse::<http::HeaderName>().expect("name"),
        value.parse().expect("value"),
    );
    let (ws, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("websocket connects with a header credential");
    ws
}

async fn send(ws: &mut Ws, message: Value) {
    ws.send(Message::Text(message.to_string().into()))
        .await
        .expect("message sent");
}

/// The next JSON message, failing after [`WAIT`].
async fn next_json(ws: &mut Ws) -> Value {
    loop {
        let message = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("a message within the wait")
            .expect("the socket is open")
            .expect("a frame");
        match message {
            Message::Text(text) => return serde_json::from_str(text.as_str()).expect("JSON"),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

/// Subscribes to a task; the ack (or the error). An accepted subscription's
/// next message is the task's current state, checked and consumed here.
async fn subscribe(ws: &mut Ws, task_id: Uuid) -> Value {
    send(ws, json!({"type": "subscribe", "task_id": task_id})).await;
    let ack = next_json(ws).await;
    if ack["type"] == "subscribed" {
        let current = next_json(ws).await;
        assert_eq!(
            current["type"], "task_update",
            "the current state first: {current}"
        );
        assert_eq!(current["task_id"], task_id.to_string(), "{current}");
    }
    ack
}

/// task_update messages of `task_id` until (and including) a final one.
async fn updates_until_final(ws: &mut Ws, task_id: Uuid) -> Vec<Value> {
    let mut updates = Vec::new();
    loop {
        let message = next_json(ws).await;
        assert_eq!(message["type"], "task_update", "{message}");
        assert_eq!(message["task_id"], task_id.to_string(), "{message}");
        let done = matches!(
            message["status"].as_str(),
            Some("completed" | "failed" | "cancelled")
        );
        updates.push(message);
        if done {
            return updates;
        }
    }
}

/// What a `Steps` task of `steps` steps must send, in order.
fn expected_sequence(steps: u8) -> Vec<(String, u64)> {
    let mut expected = vec![("running".to_owned(), 0)];
    for step in 1..=u64::from(steps) {
        expected.push(("running".into(), step * 100 / (u64::from(steps) + 1)));
    }
    expected.push(("completed".into(), 100));
    expected
}

fn sequence(updates: &[Value]) -> Vec<(String, u64)> {
    updates
        .iter()
        .map(|u| {
            (
                u["status"].as_str().unwrap_or("?").to_owned(),
                u["progress"].as_u64().unwrap_or(999),
            )
        })
        .collect()
}

async fn metric(app: &TestApp, name: &str) -> f64 {
    let text = app.get("/metrics", None).await.text;
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} missing from /metrics"))
}

// ------------------------------------------------------------ authentication

#[tokio::test]
async fn unauthenticated_realtime_connections_are_refused_before_the_upgrade() {
    let app = app().await;
    let user = app.user("alice", "developer").await;
    for query in ["", "?token=not-a-token", "?token=mcp_live_forged"] {
        match tokio_tungstenite::connect_async(ws_url(&app, query)).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), 401, "/ws{query}");
            }
            Err(other) => panic!("/ws{query}: expected an HTTP 401, got {other}"),
            Ok(_) => panic!("/ws{query}: upgraded without credentials"),
        }
        let sse = app.get(&format!("/events{query}"), None).await;
        mcp_platform_tests::assert_error(&sse, 401, "UNAUTHORIZED", &format!("/events{query}"));
    }
    let mut forged = ws_url(&app, "").into_client_request().expect("request");
    forged.headers_mut().insert(
        "authorization",
        "Bearer forged.token.value".parse().expect("header"),
    );
    match tokio_tungstenite::connect_async(forged).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 401);
        }
        other => panic!(
            "a forged bearer token must get 401, got {:?}",
            other.map(|_| ())
        ),
    }
    // A plain GET with valid credentials is not an upgrade: 400, not a socket.
    let plain = app.get("/ws", Some(&user.access_token)).await;
    assert_eq!(plain.status, 400, "{}", plain.text);
    assert_eq!(metric(&app, "realtime_connections").await, 0.0);
}

// ------------------------------------------------------------ delivery

#[tokio::test]
async fn a_websocket_subscriber_receives_every_status_change_in_order() {
    let app = app().await;
    let alice = app.user("alice", "developer").await;
    let task = start_task(&app, &alice, 3).await;
    let mut ws = connect_ws(&app, &alice.access_token).await;
    let ack = subscribe(&mut ws, task.id).await;
    assert_eq!(ack["type"], "subscribed", "{ack}");
    assert_eq!(ack["topic"], format!("task:{}", task.id));

    let _worker = spawn_worker(&app);
    let updates = updates_until_final(&mut ws, task.id).await;
    assert_eq!(sequence(&updates), expected_sequence(3), "{updates:?}");
    let last = updates.last().expect("a final update");
    assert_eq!(
        last["result"],
        json!({"steps": 3, "task_id": task.id}),
        "the completed update carries the result"
    );
    assert_eq!(updates[1]["message"], "step 1 of 3");

    let stored = app
        .get(
            &format!("/api/v1/tasks/{}", task.id),
            Some(&alice.access_token),
        )
        .await;
    assert_eq!(stored.status, 200, "{}", stored.text);
    assert_eq!(stored.body["status"], "completed");
    assert_eq!(stored.body["progress"], 100);
    assert_eq!(stored.body["task_type"], "test_steps");
    assert_eq!(stored.body["result"], last["result"]);
    assert!(stored.body["started_at"].is_string() && stored.body["completed_at"].is_string());
}

#[tokio::test]
async fn header_credentials_and_api_keys_open_websockets_too() {
    let app = app().await;
    let alice = app.user("alice", "developer").await;
    let key = app
        .post(
            "/api/v1/auth/api-keys",
            Some(&alice.access_token),
            json!({"name": "ws"}),
        )
        .await;
    assert_eq!(key.status, 201, "{}", key.text);
    let key = key.body["key"].as_str().expect("key").to_owned();
    let task = start_task(&app, &alice, 1).await;
    let mut by_bearer = connect_ws_with_header(
        &app,
        "authorization",
        &format!("Bearer {}", alice.access_token),
    )
    .await;
    let mut by_key = connect_ws_with_header(&app, "x-api-key", &key).await;
    let mut by_query_key = connect_ws(&app, &key).await;
    for ws in [&mut by_bearer, &mut by_key, &mut by_query_key] {
        assert_eq!(subscribe(ws, task.id).await["type"], "subscribed");
    }
    let _worker = spawn_worker(&app);
    for ws in [&mut by_bearer, &mut by_key, &mut by_query_key] {
        let updates = updates_until_final(ws, task.id).await;
        assert_eq!(sequence(&updates), expected_sequence(1));
    }
}

#[tokio::test]
async fn an_sse_subscriber_receives_every_status_change_in_order() {
    let app = app().await;
    let alice = app.user("alice", "developer").await;
    let task = start_task(&app, &alice, 2).await;
    let response = open_events(&app, &alice, task.id).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("text/event-stream")
    );
    let _worker = spawn_worker(&app);
    let updates = sse_updates_until_final(response).await;
    assert_eq!(
        updates[0]["status"], "pending",
        "the current state first: {updates:?}"
    );
    assert_eq!(sequence(&updates[1..]), expected_sequence(2), "{updates:?}");
    assert_eq!(updates.last().expect("final")["result"]["steps"], 2);
}

/// `GET /events?task_id=…` as `who`, opened.
async fn open_events(app: &TestApp, who: &TestUser, task_id: Uuid) -> reqwest::Response {
    app.client
        .get(app.url(&format!("/events?task_id={task_id}")))
        .bearer_auth(&who.access_token)
        .send()
        .await
        .expect("events stream opens")
}

/// The `task_update` events of an SSE response until a final one.
async fn sse_updates_until_final(response: reqwest::Response) -> Vec<Value> {
    let mut events = SseReader::new(response);
    let mut updates = Vec::new();
    while !updates
        .last()
        .is_some_and(|u: &Value| u["status"] == "completed")
    {
        let (name, data) = events.next(WAIT).await.expect("stream still open");
        assert_eq!(name, "task_update", "{data}");
        updates.push(data);
    }
    updates
}

#[tokio::test]
async fn a_subscriber_that_arrives_after_completion_gets_the_result_first() {
    let app = app().await;
    let alice = app.user("alice", "developer").await;
    let task = start_task(&app, &alice, 1).await;
    let _worker = spawn_worker(&app);
    poll_until("the task completes", WAIT, async || {
        app.get(
            &format!("/api/v1/tasks/{}", task.id),
            Some(&alice.access_token),
        )
        .await
        .body["status"]
            == "completed"
    })
    .await;

    let mut ws = connect_ws(&app, &alice.access_token).await;
    send(&mut ws, json!({"type": "subscribe", "task_id": task.id})).await;
    assert_eq!(next_json(&mut ws).await["type"], "subscribed");
    let first = next_json(&mut ws).await;
    assert_eq!(
        (first["type"].as_str(), first["status"].as_str()),
        (Some("task_update"), Some("completed")),
        "a late WebSocket subscriber is told how the task ended: {first}"
    );
    assert_eq!(first["result"]["steps"], 1, "{first}");

    let sse = open_events(&app, &alice, task.id).await;
    assert_eq!(sse.status(), 200);
    let updates = sse_updates_until_final(sse).await;
    assert_eq!(
        sequence(&updates),
        [("completed".to_owned(), 100)],
        "a late SSE subscriber gets the final state as its first event: {updates:?}"
    );
    assert_eq!(updates[0]["result"]["steps"], 1);
}

#[tokio::test]
async fn an_events_stream_without_anything_to_follow_is_refused_with_what_to_pass() {
    let app = app().await;
    let alice = app.user("alice", "developer").await;
    let reply = app.get("/events", Some(&alice.access_token)).await;
    assert_eq!(reply.status, 422, "{}", reply.text);
    assert!(
        reply.text.contains("task_id") && reply.text.contains("topic"),
        "the error says what to pass: {}",
        reply.text
    );
}

// ------------------------------------------------------------ isolation

#[tokio::test]
async fn another_users_task_cannot_be_subscribed_to_and_its_events_never_arrive() {
    let app = app().await;
    let alice = app.user("alice", "developer").await;
    let bob = app.user("bob", "developer").await;
    let admin = app.admin("root").await;
    let alices = start_task(&app, &alice, 2).await;

    let mut bob_ws = connect_ws(&app, &bob.access_token).await;
    let refused = subscribe(&mut bob_ws, alices.id).await;
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["code"], "NOT_FOUND", "{refused}");
    send(
        &mut bob_ws,
        json!({"type": "subscribe", "topic": format!("task:{}", alices.id)}),
    )
    .await;
    let refused = next_json(&mut bob_ws).await;
    assert_eq!(
        refused["code"], "NOT_FOUND",
        "a task topic is checked like a task id: {refused}"
    );
    let sse = app
        .get(
            &format!("/events?task_id={}", alices.id),
            Some(&bob.access_token),
        )
        .await;
    mcp_platform_tests::assert_error(&sse, 404, "NOT_FOUND", "bob's SSE on alice's task");
    assert_eq!(metric(&app, "realtime_subscriptions").await, 0.0);

    let mut admin_ws = connect_ws(&app, &admin.access_token).await;
    assert_eq!(
        subscribe(&mut admin_ws, alices.id).await["type"],
        "subscribed"
    );

    let _worker = spawn_worker(&app);
    let seen_by_admin = updates_until_final(&mut admin_ws, alices.id).await;
    assert_eq!(sequence(&seen_by_admin), expected_sequence(2));

    // Bob's own task runs after alice's: everything bob receives before its
    // end is his own (the bus keeps order, so alice's events came first).
    let bobs = start_task(&app, &bob, 1).await;
    assert_eq!(subscribe(&mut bob_ws, bobs.id).await["type"], "subscribed");
    let bob_updates = updates_until_final(&mut bob_ws, bobs.id).await;
    assert_eq!(sequence(&bob_updates), expected_sequence(1));
}

#[tokio::test]
async fn closed_connections_release_their_subscriptions() {
    let app = app().await;
    let alice = app.user("alice", "developer").await;
    let one = start_task(&app, &alice, 1).await;
    let two = start_task(&app, &alice, 1).await;
    let mut ws = connect_ws(&app, &alice.access_token).await;
    subscribe(&mut ws, one.id).await;
    subscribe(&mut ws, two.id).await;
    let deployment = deployment_of(&app, &alice, "followed").await;
    send(
        &mut ws,
        json!({"type": "subscribe", "topic": format!("deployment:{deployment}")}),
    )
    .await;
    assert_eq!(next_json(&mut ws).await["type"], "subscribed");
    assert_eq!(
        next_json(&mut ws).await["type"],
        "deployment_status",
        "its state first"
    );
    send(&mut ws, json!({"type": "unsubscribe", "task_id": two.id})).await;
    assert_eq!(next_json(&mut ws).await["was_subscribed"], true);
    let sse = app
        .client
        .get(app.url(&format!("/events?task_id={}&task_id={}", one.id, two.id)))
        .bearer_auth(&alice.access_token)
        .send()
        .await
        .expect("events stream opens");
    assert_eq!(sse.status(), 200);
    assert_eq!(metric(&app, "realtime_connections").await, 2.0);
    assert_eq!(metric(&app, "realtime_subscriptions").await, 4.0);

    ws.close(None).await.expect("close sent");
    drop(ws);
    poll_until(
        "the WebSocket's subscriptions are released",
        WAIT,
        async || {
            metric(&app, "realtime_connections").await == 1.0
                && metric(&app, "realtime_subscriptions").await == 2.0
        },
    )
    .await;
    drop(sse);
    poll_until(
        "the SSE stream's subscriptions are released",
        WAIT,
        async || {
            metric(&app, "realtime_connections").await == 0.0
                && metric(&app, "realtime_subscriptions").await == 0.0
        },
    )
    .await;
}

#[tokio::test]
async fn bad_client_messages_get_error_messages_and_the_socket_stays_open() {
    let app = app().await;
    let alice = app.user("alice", "developer").await;
    let mut ws = connect_ws(&app, &alice.access_token).await;
    for (message, code) in [
        (json!("not an object"), "INVALID_REQUEST"),
        (json!({"type": "dance"}), "VALIDATION_ERROR"),
        (json!({"type": "subscribe"}), "VALIDATION_ERROR"),
        (
            json!({"type": "subscribe", "task_id": "nope"}),
            "VALIDATION_ERROR",
        ),
        (
            json!({"type": "subscribe", "task_id": Uuid::new_v4()}),
            "NOT_FOUND",
        ),
        (
            json!({"type": "subscribe", "topic": ""}),
            "VALIDATION_ERROR",
        ),
    ] {
        send(&mut ws, message.clone()).await;
        let reply = next_json(&mut ws).await;
        assert_eq!(reply["type"], "error", "{message} → {reply}");
        assert_eq!(reply["code"], code, "{message} → {reply}");
    }
    ws.send(Message::Text("{".into())).await.expect("sent");
    assert_eq!(next_json(&mut ws).await["code"], "INVALID_REQUEST");
    let task = start_task(&app, &alice, 1).await;
    assert_eq!(subscribe(&mut ws, task.id).await["type"], "subscribed");
}

#[tokio::test]
async fn topics_are_parsed_and_anything_else_is_refused_like_another_users_task() {
    let app = app().await;
    let alice = app.user("alice", "developer").await;
    let bob = app.user("bob", "developer").await;
    let bobs = deployment_of(&app, &bob, "bobs").await;
    let alices = deployment_of(&app, &alice, "alices").await;
    let bobs_task = start_task(&app, &bob, 1).await;
    let mut ws = connect_ws(&app, &alice.access_token).await;
    let refused = [
        format!("task:{}", bobs_task.id),
        format!("deployment:{bobs}"),
        "*".to_owned(),
        "deployment:*".to_owned(),
        "task:*".to_owned(),
        format!("Deployment:{alices}"),
        format!("DEPLOYMENT:{alices}"),
        format!("deployment:{}", alices.simple()),
        format!("deployment:{alices}:extra"),
        format!(" deployment:{alices}"),
        "deployment:x".to_owned(),
        "tasks".to_owned(),
    ];
    for topic in &refused {
        send(&mut ws, json!({"type": "subscribe", "topic": topic})).await;
        let reply = next_json(&mut ws).await;
        assert_eq!(
            (reply["type"].as_str(), reply["code"].as_str()),
            (Some("error"), Some("NOT_FOUND")),
            "{topic:?} over /ws: {reply}"
        );
        let sse = app
            .client
            .get(app.url("/events"))
            .query(&[("topic", topic)])
            .bearer_auth(&alice.access_token)
            .send()
            .await
            .expect("sent");
        assert_eq!(sse.status(), 404, "{topic:?} over /events");
    }
    let upper = format!(
        "deployment:{}",
        alices.hyphenated().to_string().to_uppercase()
    );
    send(&mut ws, json!({"type": "subscribe", "topic": upper})).await;
    let ack = next_json(&mut ws).await;
    assert_eq!(
        (ack["type"].as_str(), ack["topic"].as_str()),
        (
            Some("subscribed"),
            Some(format!("deployment:{alices}").as_str())
        ),
        "the same id in capitals is that topic: {ack}"
    );
}

// ------------------------------------------------------------ tasks API

#[tokio::test]
async fn tasks_are_visible_to_their_owner_and_to_admins_only() {
    let app = app().await;
    let alice = app.user("alice", "developer").await;
    let bob = app.user("bob", "viewer").await;
    let admin = app.admin("root").await;
    let a1 = start_task(&app, &alice, 1).await;
    let a2 = start_task(&app, &alice, 1).await;
    let b1 = start_task(&app, &bob, 1).await;

    let list = |token: String, query: &'static str| {
        let app = &app;
        async move {
            app.get(&format!("/api/v1/tasks{query}"), Some(&token))
                .await
        }
    };
    let ids = |reply: &mcp_platform_tests::Reply| -> Vec<String> {
        reply.body["items"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .map(|i| i["task_id"].as_str().unwrap_or_default().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    let mine = list(alice.access_token.clone(), "").await;
    assert_eq!(mine.status, 200, "{}", mine.text);
    assert_eq!(mine.body["total"], 2);
    assert_eq!(
        ids(&mine),
        vec![a2.id.to_string(), a1.id.to_string()],
        "newest first"
    );
    let bobs = list(bob.access_token.clone(), "").await;
    assert_eq!(ids(&bobs), vec![b1.id.to_string()]);
    let all = list(admin.access_token.clone(), "?page_size=2").await;
    assert_eq!(all.body["total"], 3);
    assert_eq!(all.body["pages"], 2);
    assert_eq!(ids(&all).len(), 2);

    let other = app
        .get(&format!("/api/v1/tasks/{}", a1.id), Some(&bob.access_token))
        .await;
    mcp_platform_tests::assert_error(&other, 404, "NOT_FOUND", "bob reads alice's task");
    let cancel_other = app
        .delete(&format!("/api/v1/tasks/{}", a1.id), Some(&bob.access_token))
        .await;
    mcp_platform_tests::assert_error(&cancel_other, 404, "NOT_FOUND", "bob cancels alice's task");
    let by_admin = app
        .get(
            &format!("/api/v1/tasks/{}", a1.id),
            Some(&admin.access_token),
        )
        .await;
    assert_eq!(by_admin.status, 200, "{}", by_admin.text);
    assert_eq!(by_admin.body["status"], "pending");
    assert_eq!(by_admin.body["progress"], 0);

    // Filters.
    let _worker = spawn_worker(&app);
    poll_until("alice's tasks complete", WAIT, async || {
        list(alice.access_token.clone(), "?status=completed")
            .await
            .body["total"]
            == 2
    })
    .await;
    let typed = list(alice.access_token.clone(), "?task_type=test_steps").await;
    assert_eq!(typed.body["total"], 2);
    let none = list(
        alice.access_token.clone(),
        "?task_type=other&status=completed",
    )
    .await;
    assert_eq!(none.body["total"], 0);
    let bad = list(alice.access_token.clone(), "?status=done&page=0").await;
    mcp_platform_tests::assert_error(&bad, 422, "VALIDATION_ERROR", "bad filters");
    let locs = mcp_platform_tests::error_locs(&bad);
    assert!(
        locs.contains(&"query.status".to_owned()) && locs.contains(&"query.page".to_owned()),
        "{locs:?}"
    );
    let bad_id = app
        .get("/api/v1/tasks/nope", Some(&alice.access_token))
        .await;
    mcp_platform_tests::assert_error(&bad_id, 422, "VALIDATION_ERROR", "bad id");
    let anonymous = app.get("/api/v1/tasks", None).await;
    mcp_platform_tests::assert_error(&anonymous, 401, "UNAUTHORIZED", "anonymous list");
}

#[tokio::test]
async fn a_cancelled_task_never_runs_and_only_pending_tasks_can_be_cancelled() {
    let app = app().await;
    let alice = app.user("alice", "developer").await;
    let doomed = start_task(&app, &alice, 1).await;
    let kept = start_task(&app, &alice, 1).await;
    let mut ws = connect_ws(&app, &alice.access_token).await;
    subscribe(&mut ws, doomed.id).await;

    let cancelled = app
        .delete(
            &format!("/api/v1/tasks/{}", doomed.id),
            Some(&alice.access_token),
        )
        .await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.text);
    assert_eq!(cancelled.body["status"], "cancelled");
    let update = next_json(&mut ws).await;
    assert_eq!(
        (update["type"].as_str(), update["status"].as_str()),
        (Some("task_update"), Some("cancelled"))
    );
    let again = app
        .delete(
            &format!("/api/v1/tasks/{}", doomed.id),
            Some(&alice.access_token),
        )
        .await;
    mcp_platform_tests::assert_error(&again, 409, "CONFLICT", "cancel twice");

    // Both jobs run; the cancelled one does nothing.
    let worker = fast_worker(&app);
    while worker.run_once().await.expect("worker runs") > 0 {}
    let doomed_now = app
        .get(
            &format!("/api/v1/tasks/{}", doomed.id),
            Some(&alice.access_token),
        )
        .await;
    assert_eq!(doomed_now.body["status"], "cancelled");
    assert!(
        doomed_now.body["started_at"].is_null(),
        "{}",
        doomed_now.text
    );
    assert!(doomed_now.body["result"].is_null());
    let kept_now = app
        .get(
            &format!("/api/v1/tasks/{}", kept.id),
            Some(&alice.access_token),
        )
        .await;
    assert_eq!(kept_now.body["status"], "completed");
    let too_late = app
        .delete(
            &format!("/api/v1/tasks/{}", kept.id),
            Some(&alice.access_token),
        )
        .await;
    mcp_platform_tests::assert_error(&too_late, 409, "CONFLICT", "cancel a completed task");
    assert_eq!(app.state.jobs.counts().await.expect("counts").pending(), 0);
}

#[tokio::test]
async fn a_failing_task_ends_failed_with_its_error() {
    let app = app().await;
    let alice = app.user("alice", "developer").await;
    let owner = Uuid::parse_str(&alice.id).expect("id");
    let task = mcp_platform::tasks::start(&app.state, owner, |task_id| Steps {
        task_id,
        steps: 1,
        fail: true,
    })
    .await
    .expect("started");
    let mut ws = connect_ws(&app, &alice.access_token).await;
    subscribe(&mut ws, task.id).await;
    let _worker = spawn_worker(&app);
    let updates = updates_until_final(&mut ws, task.id).await;
    let last = updates.last().expect("final");
    assert_eq!(last["status"], "failed");
    assert_eq!(last["error"], "the test job was told to fail");
    let stored = app
        .get(
            &format!("/api/v1/tasks/{}", task.id),
            Some(&alice.access_token),
        )
        .await;
    assert_eq!(stored.body["status"], "failed");
    assert_eq!(stored.body["error"], "the test job was told to fail");
}

#[tokio::test]
async fn expired_task_records_are_hidden_and_swept_by_the_periodic_job() {
    let app = app().await;
    let alice = app.user("alice", "developer").await;
    let live = start_task(&app, &alice, 1).await;
    let now = mcp_platform::domain::now();
    let expired = Task {
        id: Uuid::new_v4(),
        expires_at: now - chrono::Duration::seconds(1),
        ..live.clone()
    };
    app.state.tasks.create(&expired).await.expect("stored");
    let hidden = app
        .get(
            &format!("/api/v1/tasks/{}", expired.id),
            Some(&alice.access_token),
        )
        .await;
    assert_eq!(hidden.status, 404, "an expired task is gone at once");
    assert_eq!(
        app.get("/api/v1/tasks", Some(&alice.access_token))
            .await
            .body["total"],
        1
    );
    let swept = app
        .state
        .tasks
        .purge_expired(now)
        .await
        .expect("purge runs");
    assert_eq!(swept, 1, "exactly the expired record is deleted");
    // The scheduled kind runs the same sweep through the queue.
    assert!(mcp_platform::scheduler::standard_schedule()
        .iter()
        .any(|p| p.kind() == "expire_task_results"));
    app.state
        .jobs
        .enqueue(
            mcp_platform::jobs::NewJob::of(&mcp_platform::jobs::ExpireTaskResults::default())
                .expect("job"),
        )
        .await
        .expect("enqueued");
    assert!(fast_worker(&app).run_once().await.expect("ran") >= 1);
    assert_eq!(app.state.jobs.counts().await.expect("counts").dead, 0);
    let still = app
        .get(
            &format!("/api/v1/tasks/{}", live.id),
            Some(&alice.access_token),
        )
        .await;
    assert_eq!(still.status, 200, "a live task survives the sweep");
}

// ------------------------------------------------------------ replicas

#[tokio::test]
async fn with_redis_a_client_on_one_instance_sees_a_job_finished_on_another() {
    let Some(replicas) = mcp_platform_tests::backends::Replicas::prepare().await else {
        eprintln!("MCP_TEST_REDIS_URL not set: the two-instance fan-out test needs Redis");
        return;
    };
    let vars = replicas.vars();
    let a = spawn_app_with(&vars).await;
    let b = spawn_app_with(&vars).await;
    let alice = a.user("alice", "developer").await;
    let task = start_task(&a, &alice, 2).await;
    let mut ws = connect_ws(&a, &alice.access_token).await;
    assert_eq!(subscribe(&mut ws, task.id).await["type"], "subscribed");
    // Only instance B runs a worker.
    let _worker = spawn_worker(&b);
    let updates = updates_until_final(&mut ws, task.id).await;
    assert_eq!(sequence(&updates), expected_sequence(2), "{updates:?}");
    assert_eq!(updates.last().expect("final")["result"]["steps"], 2);
}

// ------------------------------------------------------------ slow clients

#[tokio::test]
async fn a_client_that_does_not_read_loses_the_oldest_events_not_server_memory() {
    // The in-process bus even in services mode: this is about the
    // connection's own bound (over Redis, Redis's output limit for
    // subscribers can cut in first, which is no less bounded).
    let app = spawn_app_with(&[("RATE_LIMIT_ENABLED", "false"), ("REDIS_URL", "")]).await;
    let alice = app.user("alice", "developer").await;
    let slow = deployment_of(&app, &alice, "slow").await;
    let other = deployment_of(&app, &alice, "other").await;
    let mut ws = connect_ws(&app, &alice.access_token).await;
    send(
        &mut ws,
        json!({"type": "subscribe", "topic": format!("deployment:{slow}")}),
    )
    .await;
    assert_eq!(next_json(&mut ws).await["type"], "subscribed");
    assert_eq!(next_json(&mut ws).await["type"], "deployment_status");
    // Far more than the socket buffers and the connection's event buffer
    // hold, published while the client reads nothing.
    let padding = "x".repeat(16 * 1024);
    let published = 3000;
    let owner = Uuid::parse_str(&alice.id).expect("id");
    for seq in 0..published {
        app.state
            .events
            .publish(mcp_platform::ports::Event {
                owner_id: Some(owner),
                topic: format!("deployment:{slow}"),
                message: json!({"type": "deployment_status", "seq": seq, "padding": padding}),
            })
            .await
            .expect("published");
    }
    let mut received = 0;
    let mut lagged = false;
    let mut last_seq = -1i64;
    loop {
        let Ok(Some(Ok(frame))) = tokio::time::timeout(Duration::from_secs(3), ws.next()).await
        else {
            break;
        };
        let Message::Text(text) = frame else { continue };
        let message: Value = serde_json::from_str(text.as_str()).expect("JSON");
        match message["type"].as_str() {
            Some("deployment_status") => {
                let seq = message["seq"].as_i64().expect("seq");
                assert!(
                    seq > last_seq,
                    "events stay in order: {seq} after {last_seq}"
                );
                last_seq = seq;
                received += 1;
            }
            Some("error") => {
                assert_eq!(message["code"], "LAGGED", "{message}");
                lagged = true;
            }
            other => panic!("unexpected message {other:?}"),
        }
    }
    assert!(lagged, "the client is told it fell behind");
    assert!(
        received < published,
        "the server dropped events instead of buffering all {published} ({received} arrived)"
    );
    // The connection itself is still usable.
    send(
        &mut ws,
        json!({"type": "subscribe", "topic": format!("deployment:{other}")}),
    )
    .await;
    assert_eq!(next_json(&mut ws).await["type"], "subscribed");
}
