//! Deployments and the gateway (SPEC §3 "Deployments and the gateway", §5.12)
//! with real MCP peers: `@modelcontextprotocol/server-everything` run by the
//! process runner, and the official Python SDK client connecting through
//! `/mcp/{slug}` (see `tests/mcp_peers.rs` for where they are installed).

use std::time::{Duration, Instant};

use mcp_platform_tests::mcp_peers::{everything_tool_body, pids_with_env, run_client};
use mcp_platform_tests::{poll_until, spawn_app, TestApp, TestUser};
use serde_json::{json, Value};

/// A minimal Streamable HTTP client for what the SDK does not let a test
/// control (ids, headers, concurrency).
struct Mcp {
    http: reqwest::Client,
    url: String,
    token: Option<String>,
    session: Option<String>,
}

struct McpReply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    /// The JSON-RPC messages of the body (one for JSON, every event for SSE).
    messages: Vec<Value>,
}

impl McpReply {
    fn last(&self) -> &Value {
        self.messages.last().unwrap_or(&Value::Null)
    }
}

impl Mcp {
    fn new(app: &TestApp, slug: &str, token: Option<&str>) -> Self {
        Self {
            http: reqwest::Client::new(),
            url: app.url(&format!("/mcp/{slug}")),
            token: token.map(str::to_owned),
            session: None,
        }
    }

    async fn post_with(&self, body: &Value, extra: &[(&str, &str)]) -> McpReply {
        let mut req = self
            .http
            .post(&self.url)
            .header("accept", "application/json, text/event-stream")
            .json(body);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(s) = &self.session {
            req = req.header("mcp-session-id", s);
        }
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let sse = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        let text = resp.text().await.unwrap_or_default();
        let messages = if sse {
            text.lines()
                .filter_map(|l| l.strip_prefix("data: "))
                .filter_map(|d| serde_json::from_str(d).ok())
                .collect()
        } else {
            serde_json::from_str(&text)
                .map(|v| vec![v])
                .unwrap_or_default()
        };
        McpReply {
            status,
            headers,
            messages,
        }
    }

    async fn post(&self, body: &Value) -> McpReply {
        self.post_with(body, &[("mcp-protocol-version", "2025-11-25")])
            .await
    }

    async fn initialize(&mut self) -> McpReply {
        let reply = self
            .post(
                &json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
                "protocolVersion": "2025-11-25", "capabilities": {},
                "clientInfo": {"name": "gateway-test", "version": "1"}}}),
            )
            .await;
        assert_eq!(reply.status, 200, "initialize: {:?}", reply.messages);
        self.session = reply
            .headers
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        assert!(self.session.is_some(), "initialize gave no Mcp-Session-Id");
        let ack = self
            .post(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await;
        assert_eq!(ack.status, 202, "notifications/initialized");
        reply
    }

    async fn call(&self, id: Value, tool: &str, arguments: Value) -> McpReply {
        self.post(&json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": tool, "arguments": arguments}}))
            .await
    }
}

fn echo_text(reply: &Value) -> String {
    reply["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

struct Deployed {
    id: String,
    slug: String,
    marker: String,
}

/// Registers server-everything as a tool of `owner` and deploys it; waits
/// until it runs. `marker` is a unique env var of the child, to find it in /proc.
async fn deploy(app: &TestApp, owner: &TestUser, slug: &str, public: bool) -> Deployed {
    let marker = format!("MCP_TEST_MARKER={}", uuid::Uuid::new_v4());
    let (name, value) = marker.split_once('=').expect("marker");
    let id = app
        .deploy_running(
            &owner.access_token,
            everything_tool_body(slug, json!({ name: value, "GREETING": "from the config" })),
            json!({"public": public, "config": {"environment": "test", "replicas": 1}}),
        )
        .await;
    Deployed {
        id,
        slug: slug.to_owned(),
        marker,
    }
}

#[tokio::test]
async fn deployments_are_created_listed_read_and_stopped_once_per_tool() {
    let app = spawn_app().await;
    let dev = app.user("depdev", "developer").await;
    let viewer = app.user("depviewer", "viewer").await;
    let other = app.user("depother", "developer").await;
    let d = deploy(&app, &dev, "everything-api", false).await;

    let one = app
        .get(
            &format!("/api/v1/deployments/{}", d.id),
            Some(&dev.access_token),
        )
        .await;
    assert_eq!(one.status, 200, "{}", one.text);
    assert!(one.body["endpoint_url"]
        .as_str()
        .is_some_and(|u| u.ends_with("/mcp/everything-api")));
    assert_eq!(one.body["tool_version"], "1.0.0");
    assert!(one.body["deployed_at"].is_string());
    for key in ["requests_total", "avg_response_time_ms", "error_rate"] {
        assert!(
            one.body["metrics"][key].is_number(),
            "metrics.{key}: {}",
            one.text
        );
    }
    assert!(one.body.get("health_status").is_some());
    assert!(one.body.get("last_health_check").is_some());

    // One active deployment per tool.
    let again = app
        .post(
            "/api/v1/deployments",
            Some(&dev.access_token),
            json!({"tool_id": one.body["tool_id"]}),
        )
        .await;
    assert_eq!(again.status, 409, "second deployment: {}", again.text);

    // A deployment is private: its owner and admins list and read it;
    // viewers and other developers see nothing of it, and may not stop it.
    let admin = app.admin("depadmin").await;
    for (who, token, sees) in [
        ("the owner", &dev.access_token, true),
        ("an admin", &admin.access_token, true),
        ("a viewer", &viewer.access_token, false),
        ("another developer", &other.access_token, false),
    ] {
        let listed = app
            .get("/api/v1/deployments?status=running", Some(token))
            .await;
        assert_eq!(listed.status, 200, "{}", listed.text);
        let listed = listed.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .any(|i| i["deployment_id"] == d.id.as_str());
        assert_eq!(listed, sees, "{who} lists it: {sees}");
    }
    for token in [&viewer.access_token, &other.access_token] {
        let read = app
            .get(&format!("/api/v1/deployments/{}", d.id), Some(token))
            .await;
        assert_eq!(read.status, 404, "another user's deployment: {}", read.text);
    }
    let none = app
        .get(
            "/api/v1/deployments?status=stopped",
            Some(&dev.access_token),
        )
        .await;
    assert_eq!(none.body["total"], 0, "{}", none.text);
    let bad = app
        .get(
            "/api/v1/deployments?status=sleeping",
            Some(&viewer.access_token),
        )
        .await;
    assert_eq!(bad.status, 422);
    let by_viewer = app
        .post(
            "/api/v1/deployments",
            Some(&viewer.access_token),
            json!({"tool_id": one.body["tool_id"]}),
        )
        .await;
    assert_eq!(by_viewer.status, 403);
    let by_other = app
        .delete(
            &format!("/api/v1/deployments/{}", d.id),
            Some(&other.access_token),
        )
        .await;
    assert_eq!(by_other.status, 404, "{}", by_other.text);
    let invalid = app
        .post(
            "/api/v1/deployments",
            Some(&dev.access_token),
            json!({"tool_id": "nope", "public": "yes", "config": {"replicas": 0}}),
        )
        .await;
    assert_eq!(invalid.status, 422, "{}", invalid.text);
    let locs = mcp_platform_tests::error_locs(&invalid);
    for loc in ["body.tool_id", "body.public", "body.config"] {
        assert!(locs.contains(&loc.to_owned()), "{loc} in {locs:?}");
    }

    assert_eq!(pids_with_env(&d.marker).len(), 1, "one child runs");
    let stopped = app
        .delete(
            &format!("/api/v1/deployments/{}", d.id),
            Some(&dev.access_token),
        )
        .await;
    assert_eq!(stopped.status, 200, "{}", stopped.text);
    assert_eq!(stopped.body["status"], "stopped");
    assert!(stopped.body["stopped_at"].is_string());
    poll_until("the child is gone", Duration::from_secs(10), async || {
        pids_with_env(&d.marker).is_empty()
    })
    .await;
    let gone = Mcp::new(&app, &d.slug, Some(&dev.access_token))
        .post(&json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}))
        .await;
    assert_eq!(
        gone.status, 503,
        "a stopped deployment answers 503, not 404: {:?}",
        gone.messages
    );
    assert_eq!(
        (
            gone.last()["error_code"].as_str(),
            gone.last()["detail"].as_str()
        ),
        (Some("NOT_SERVING"), Some("the deployment is stopped")),
        "the 503 names the status"
    );
    let never = Mcp::new(&app, "never-deployed", Some(&dev.access_token))
        .post(&json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}))
        .await;
    assert_eq!(never.status, 404, "a slug never deployed is a 404");
    // Without credentials the two cannot be told from a private deployment.
    for slug in ["never-deployed", d.slug.as_str()] {
        let anonymous = Mcp::new(&app, slug, None)
            .post(&json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}))
            .await;
        assert_eq!(anonymous.status, 401, "{slug} asked anonymously");
    }
    // The tool is free for a new deployment.
    let redeploy = app
        .post(
            "/api/v1/deployments",
            Some(&dev.access_token),
            json!({"tool_id": one.body["tool_id"]}),
        )
        .await;
    assert_eq!(redeploy.status, 201, "{}", redeploy.text);
}

#[tokio::test]
async fn the_python_sdk_client_initializes_lists_and_calls_through_the_gateway() {
    let app = spawn_app().await;
    let dev = app.user("pydev", "developer").await;
    let d = deploy(&app, &dev, "everything-py", false).await;
    let url = app.url(&format!("/mcp/{}", d.slug));
    let out = run_client("session_client.py", &[&url, &dev.access_token]).await;
    assert_eq!(out["protocol_version"], "2025-11-25", "{out}");
    let tools: Vec<&str> = out["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for tool in [
        "echo",
        "get-sum",
        "get-env",
        "trigger-long-running-operation",
    ] {
        assert!(tools.contains(&tool), "{tool} listed: {tools:?}");
    }
    assert_eq!(out["echo"][0], "Echo: hello through the gateway", "{out}");
    assert!(
        out["sum"][0].as_str().is_some_and(|s| s.contains("42")),
        "{out}"
    );
    assert!(out["prompts"]
        .as_array()
        .is_some_and(|p| p.iter().any(|n| n == "simple-prompt")));
    assert!(out["resource_text_len"].as_u64().unwrap_or(0) > 0, "{out}");

    // The child sees only its configured environment plus PATH, HOME and
    // TMPDIR (its sandbox's private temp directory).
    let env = out["env"][0].as_str().expect("get-env text");
    let env: Value = serde_json::from_str(env).expect("get-env returns JSON");
    let names: Vec<&str> = env
        .as_object()
        .expect("env object")
        .keys()
        .map(String::as_str)
        .collect();
    assert!(names.contains(&"GREETING"), "{names:?}");
    for name in &names {
        assert!(
            ["PATH", "HOME", "TMPDIR", "GREETING", "MCP_TEST_MARKER"].contains(name),
            "the child's environment holds {name}, which the config did not give: {names:?}"
        );
    }

    // Every call is recorded (batched off the call path).
    let path = format!("/api/v1/deployments/{}", d.id);
    poll_until(
        "usage rows are stored",
        Duration::from_secs(10),
        async || {
            app.get(&path, Some(&dev.access_token)).await.body["metrics"]["requests_total"]
                .as_u64()
                .unwrap_or(0)
                >= 7
        },
    )
    .await;
    let read = app.get(&path, Some(&dev.access_token)).await;
    assert!(
        read.body["metrics"]["avg_response_time_ms"]
            .as_f64()
            .unwrap_or(-1.0)
            >= 0.0
    );
    let metrics = app.get("/metrics", None).await.text;
    assert!(metrics.contains("active_deployments 1"), "{metrics}");
    let calls: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("gateway_calls_total{outcome=\"ok\"} "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    assert!(calls >= 7, "gateway_calls_total ok = {calls}");
}

#[tokio::test]
async fn the_high_level_client_discovers_and_speaks_the_stateless_revision() {
    let app = spawn_app().await;
    let dev = app.user("autodev", "developer").await;
    let d = deploy(&app, &dev, "everything-auto", false).await;
    let url = app.url(&format!("/mcp/{}", d.slug));
    let out = run_client("auto_client.py", &[&url, &dev.access_token]).await;
    assert_eq!(out["protocol_version"], "2026-07-28", "{out}");
    assert_eq!(out["echo"][0], "Echo: hello modern", "{out}");
    assert!(out["tools"].as_u64().unwrap_or(0) >= 10, "{out}");

    // Stateless requests need no session; a mismatched Mcp-Method is refused.
    let mcp = Mcp::new(&app, &d.slug, Some(&dev.access_token));
    let modern = [
        ("mcp-protocol-version", "2026-07-28"),
        ("mcp-method", "tools/list"),
    ];
    let listed = mcp
        .post_with(
            &json!({"jsonrpc": "2.0", "id": 5, "method": "tools/list"}),
            &modern,
        )
        .await;
    assert_eq!(listed.status, 200);
    assert!(listed.last()["result"]["tools"].is_array());
    let mismatch = mcp
        .post_with(
            &json!({"jsonrpc": "2.0", "id": 6, "method": "prompts/list"}),
            &modern,
        )
        .await;
    assert_eq!(mismatch.status, 400);
    assert_eq!(mismatch.last()["error"]["code"], -32600);
}

#[tokio::test]
async fn thirty_two_concurrent_clients_on_one_child_each_get_their_own_answers() {
    let app = spawn_app().await;
    let dev = app.user("concdev", "developer").await;
    let d = deploy(&app, &dev, "everything-conc", false).await;
    let mut tasks = Vec::new();
    for client in 0..32 {
        let mut mcp = Mcp::new(&app, &d.slug, Some(&dev.access_token));
        tasks.push(tokio::spawn(async move {
            mcp.initialize().await;
            for call in 0..10 {
                // Every client uses the same ids: the gateway must keep them apart.
                let message = format!("client {client} call {call}");
                let reply = mcp
                    .call(json!(call), "echo", json!({"message": message}))
                    .await;
                assert_eq!(reply.status, 200);
                assert_eq!(
                    reply.last()["id"],
                    call,
                    "the answer carries the client's own id"
                );
                assert_eq!(echo_text(reply.last()), format!("Echo: {message}"));
            }
        }));
    }
    for t in tasks {
        t.await.expect("a client task failed");
    }
    assert_eq!(pids_with_env(&d.marker).len(), 1, "all over one child");
}

#[tokio::test]
async fn a_killed_child_fails_its_call_promptly_and_is_restarted() {
    let app = spawn_app().await;
    let dev = app.user("crashdev", "developer").await;
    let d = deploy(&app, &dev, "everything-crash", false).await;
    let mut mcp = Mcp::new(&app, &d.slug, Some(&dev.access_token));
    mcp.initialize().await;
    let pids = pids_with_env(&d.marker);
    assert_eq!(pids.len(), 1);

    // A slow call with a progress token: the first progress event proves the
    // child is working on it, and carries the client's own token back.
    let started = Instant::now();
    let mut resp = mcp
        .http
        .post(&mcp.url)
        .bearer_auth(&dev.access_token)
        .header("mcp-session-id", mcp.session.clone().expect("session"))
        .header("mcp-protocol-version", "2025-11-25")
        .header("accept", "application/json, text/event-stream")
        .json(
            &json!({"jsonrpc": "2.0", "id": "slow", "method": "tools/call", "params": {
            "name": "trigger-long-running-operation", "arguments": {"duration": 30, "steps": 30},
            "_meta": {"progressToken": "tok-1"}}}),
        )
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), 200);
    let mut text = String::new();
    let mut killed = false;
    let last = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            let chunk = resp.chunk().await.expect("stream read");
            let Some(chunk) = chunk else { break None };
            text.push_str(&String::from_utf8_lossy(&chunk));
            let events: Vec<Value> = text
                .lines()
                .filter_map(|l| l.strip_prefix("data: "))
                .filter_map(|d| serde_json::from_str(d).ok())
                .collect();
            if let Some(progress) = events.first() {
                if !killed {
                    assert_eq!(progress["method"], "notifications/progress");
                    assert_eq!(
                        progress["params"]["progressToken"], "tok-1",
                        "the client's own token"
                    );
                    std::process::Command::new("kill")
                        .args(["-KILL", &pids[0].to_string()])
                        .status()
                        .expect("kill runs");
                    killed = true;
                }
            }
            if let Some(done) = events.iter().find(|e| e.get("id").is_some()) {
                break Some(done.clone());
            }
        }
    })
    .await
    .expect("the killed call ended promptly")
    .expect("an answer to the killed call");
    assert!(killed, "a progress event came before the answer");
    assert!(started.elapsed() < Duration::from_secs(15));
    assert_eq!(last["id"], "slow", "{last}");
    assert!(last["error"]["code"].is_i64(), "a JSON-RPC error: {last}");

    // Restarted: a new child serves the next call.
    let path = format!("/api/v1/deployments/{}", d.id);
    poll_until(
        "the deployment runs again",
        Duration::from_secs(30),
        async || app.get(&path, Some(&dev.access_token)).await.body["status"] == "running",
    )
    .await;
    let after = mcp
        .call(json!(2), "echo", json!({"message": "again"}))
        .await;
    assert_eq!(
        echo_text(after.last()),
        "Echo: again",
        "{:?}",
        after.messages
    );
    let now = pids_with_env(&d.marker);
    assert_eq!(now.len(), 1);
    assert_ne!(now[0], pids[0]);
}

#[tokio::test]
async fn the_gateway_applies_platform_auth_sessions_origins_and_versions() {
    let app = spawn_app().await;
    let owner = app.user("authowner", "developer").await;
    let other = app.user("authother", "developer").await;
    let private = deploy(&app, &owner, "everything-private", false).await;
    let public = deploy(&app, &owner, "everything-public", true).await;
    let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"});

    let anonymous = Mcp::new(&app, &private.slug, None).post(&ping).await;
    assert_eq!(anonymous.status, 401, "no token on a private deployment");
    let mut stranger = Mcp::new(&app, &private.slug, Some(&other.access_token));
    let forbidden = stranger.post(&ping).await;
    assert_eq!(
        forbidden.status, 403,
        "another developer's private deployment"
    );

    // Anonymous callers use a public deployment.
    let mut anon = Mcp::new(&app, &public.slug, None);
    anon.initialize().await;
    let echoed = anon
        .call(json!(1), "echo", json!({"message": "anon"}))
        .await;
    assert_eq!(echo_text(echoed.last()), "Echo: anon");

    // A session belongs to its user.
    let mut own = Mcp::new(&app, &public.slug, Some(&owner.access_token));
    own.initialize().await;
    stranger.url = own.url.clone();
    stranger.session = own.session.clone();
    let stolen = stranger.post(&ping).await;
    assert_eq!(
        stolen.status, 404,
        "a session id used by another user is refused"
    );
    let forged = Mcp {
        session: Some("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into()),
        ..Mcp::new(&app, &public.slug, Some(&owner.access_token))
    };
    assert_eq!(forged.post(&ping).await.status, 404);
    let no_session = Mcp::new(&app, &public.slug, Some(&owner.access_token));
    assert_eq!(no_session.post(&ping).await.status, 400);

    // Foreign origins, unknown versions, unknown methods, garbage.
    let foreign = own
        .post_with(&ping, &[("origin", "http://evil.example")])
        .await;
    assert_eq!(foreign.status, 403, "a foreign Origin");
    let version = own
        .post_with(&ping, &[("mcp-protocol-version", "1999-01-01")])
        .await;
    assert_eq!(version.status, 400);
    assert_eq!(version.last()["error"]["code"], -32022);
    let unknown = own
        .post(&json!({"jsonrpc": "2.0", "id": 9, "method": "no/such-method"}))
        .await;
    assert_eq!(unknown.status, 200);
    assert_eq!(
        unknown.last()["error"]["code"],
        -32601,
        "{:?}",
        unknown.messages
    );
    let garbage = own.post_with(&json!([1, 2]), &[]).await;
    assert_eq!(garbage.status, 400);
    for sent in ["text/plain", "application/x-www-form-urlencoded"] {
        let form = own
            .http
            .post(&own.url)
            .bearer_auth(&owner.access_token)
            .header("content-type", sent)
            .header("accept", "application/json, text/event-stream")
            .body(ping.to_string())
            .send()
            .await
            .expect("sent");
        assert_eq!(form.status(), 415, "a {sent} body at the gateway");
        let rest = app
            .client
            .post(app.url(&format!("/mcp/{}/v1/tools/echo", private.slug)))
            .bearer_auth(&owner.access_token)
            .header("content-type", sent)
            .body(r#"{"message":"x"}"#)
            .send()
            .await
            .expect("sent");
        assert_eq!(rest.status(), 415, "a {sent} body at the REST shortcut");
    }

    // DELETE ends the session.
    let mut end = own.http.delete(&own.url).bearer_auth(&owner.access_token);
    end = end.header("mcp-session-id", own.session.clone().expect("session"));
    assert_eq!(end.send().await.expect("sent").status(), 204);
    assert_eq!(own.post(&ping).await.status, 404, "an ended session");

    // The REST shortcut calls one tool.
    let rest = app
        .post(
            &format!("/mcp/{}/v1/tools/get-sum", private.slug),
            Some(&owner.access_token),
            json!({"a": 2, "b": 3}),
        )
        .await;
    assert_eq!(rest.status, 200, "{}", rest.text);
    assert!(rest.body["content"][0]["text"]
        .as_str()
        .is_some_and(|t| t.contains('5')));
    let rest_anon = app
        .post(
            &format!("/mcp/{}/v1/tools/echo", private.slug),
            None,
            json!({"message": "x"}),
        )
        .await;
    assert_eq!(rest_anon.status, 401);
}

/// server-everything in its Streamable HTTP mode on a free loopback port.
struct HttpEverything {
    url: String,
    _child: tokio::process::Child,
}

async fn start_http_everything() -> HttpEverything {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let child = tokio::process::Command::new("node")
        .arg(mcp_platform_tests::mcp_peers::server_everything())
        .arg("streamableHttp")
        .env("PORT", port.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("node starts");
    poll_until(
        "server-everything listens",
        Duration::from_secs(20),
        async || {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
        },
    )
    .await;
    HttpEverything {
        url: format!("http://127.0.0.1:{port}/mcp"),
        _child: child,
    }
}

#[tokio::test]
async fn a_remote_server_is_served_through_the_remote_runner() {
    let upstream = start_http_everything().await;
    let app =
        mcp_platform_tests::spawn_app_with(&[("GATEWAY_ALLOW_LOOPBACK_UPSTREAMS", "true")]).await;
    let dev = app.user("remotedev", "developer").await;
    let tool = app
        .post(
            "/api/v1/mcps",
            Some(&dev.access_token),
            json!({"name": "Remote everything", "slug": "everything-remote", "version": "1.0.0",
                   "config": {"runtime": {"transport": "streamable-http", "url": upstream.url}}}),
        )
        .await;
    assert_eq!(tool.status, 201, "{}", tool.text);
    let created = app
        .post(
            "/api/v1/deployments",
            Some(&dev.access_token),
            json!({"tool_id": tool.body["id"]}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let path = format!(
        "/api/v1/deployments/{}",
        created.body["deployment_id"].as_str().expect("id")
    );
    poll_until(
        "the remote deployment runs",
        Duration::from_secs(20),
        async || app.get(&path, Some(&dev.access_token)).await.body["status"] == "running",
    )
    .await;

    let url = app.url("/mcp/everything-remote");
    let out = run_client("session_client.py", &[&url, &dev.access_token]).await;
    assert_eq!(out["echo"][0], "Echo: hello through the gateway", "{out}");
    assert!(
        out["sum"][0].as_str().is_some_and(|s| s.contains("42")),
        "{out}"
    );
    assert!(
        out["prompts"].as_array().is_some_and(|p| !p.is_empty()),
        "{out}"
    );
    assert!(out["resource_text_len"].as_u64().unwrap_or(0) > 0, "{out}");
    let auto = run_client("auto_client.py", &[&url, &dev.access_token]).await;
    assert_eq!(auto["echo"][0], "Echo: hello modern", "{auto}");

    // The caller's platform session is not the upstream's, and is theirs only.
    let mut mcp = Mcp::new(&app, "everything-remote", Some(&dev.access_token));
    mcp.initialize().await;
    let echoed = mcp
        .call(json!(1), "echo", json!({"message": "remote"}))
        .await;
    assert_eq!(
        echo_text(echoed.last()),
        "Echo: remote",
        "{:?}",
        echoed.messages
    );
    let other = app.user("remoteother", "developer").await;
    let stranger = Mcp {
        session: mcp.session.clone(),
        ..Mcp::new(&app, "everything-remote", Some(&other.access_token))
    };
    assert_eq!(
        stranger
            .post(&json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}))
            .await
            .status,
        403,
        "a private remote deployment refuses other developers"
    );
    let rest = app
        .post(
            "/mcp/everything-remote/v1/tools/echo",
            Some(&dev.access_token),
            json!({"message": "rest"}),
        )
        .await;
    assert_eq!(rest.status, 200, "{}", rest.text);
    assert_eq!(rest.body["content"][0]["text"], "Echo: rest");
}

#[tokio::test]
async fn a_loopback_upstream_is_refused_unless_configuration_allows_it() {
    let app = spawn_app().await;
    let dev = app.user("ssrfdev", "developer").await;
    for url in [
        "http://127.0.0.1:9/mcp",
        "http://169.254.169.254/latest",
        "http://10.0.0.1/mcp",
        // Names are resolved at deploy time and checked address by address.
        "http://localhost:9/mcp",
        "http://localhost.:9/mcp",
        "http://no-such-host.invalid/mcp",
    ] {
        let slug = format!("ssrf-{}", uuid::Uuid::new_v4().simple());
        let tool = app
            .post(
                "/api/v1/mcps",
                Some(&dev.access_token),
                json!({"name": "SSRF", "slug": slug, "version": "1.0.0",
                       "config": {"runtime": {"transport": "streamable-http", "url": url}}}),
            )
            .await;
        assert_eq!(tool.status, 201, "{}", tool.text);
        let created = app
            .post(
                "/api/v1/deployments",
                Some(&dev.access_token),
                json!({"tool_id": tool.body["id"]}),
            )
            .await;
        assert_eq!(created.status, 422, "{url}: {}", created.text);
        assert_eq!(
            mcp_platform_tests::error_locs(&created),
            ["body.config.runtime.url"],
            "{url}: {}",
            created.text
        );
    }
}
