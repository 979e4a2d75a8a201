//! The black-box harness: each test spawns the whole platform on port 0 with
//! a fresh data directory (its own SQLite file and secret), and talks to it
//! over real HTTP.

use std::collections::HashMap;
use std::net::SocketAddr;

use mcp_platform::config::{Overrides, Settings, Source};
use mcp_platform::state::AppState;
use serde_json::{json, Value};

pub mod backends;
pub mod brokers;
pub mod mcp_peers;
pub mod moto;
pub mod qdrant;

pub struct TestApp {
    pub addr: SocketAddr,
    pub base: String,
    pub client: reqwest::Client,
    pub state: AppState,
    /// Kept so the data directory lives as long as the app.
    _data_dir: tempdir::TempDir,
    /// Per-test databases and key prefixes on real servers (services mode).
    _backends: backends::ServiceBackends,
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub mod tempdir {
    /// A directory removed on drop.
    pub struct TempDir(pub std::path::PathBuf);
    impl TempDir {
        pub fn new() -> Self {
            let dir =
                std::env::temp_dir().join(format!("mcp-platform-test-{}", uuid::Uuid::new_v4()));
            std::fs::create_dir_all(&dir).expect("create temp dir");
            Self(dir)
        }
    }
    impl Default for TempDir {
        fn default() -> Self {
            Self::new()
        }
    }
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Spawns the platform with the embedded defaults plus `vars`.
pub async fn spawn_app_with(vars: &[(&str, &str)]) -> TestApp {
    spawn_app_in(tempdir::TempDir::new(), vars).await
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// Credentials of a user the harness created.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub id: String,
    pub username: String,
    pub password: String,
    pub access_token: String,
    pub refresh_token: String,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends a request; `auth` is a bearer token, or an API key when it starts with `mcp_live_`.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        auth: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.client.request(method, self.url(path));
        if let Some(token) = auth {
            req = if token.starts_with("mcp_live_") {
                req.header("X-API-Key", token)
            } else {
                req.bearer_auth(token)
            };
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        read(req.send().await.expect("request sent")).await
    }

    /// Sends raw bytes as the body (for malformed-input tests).
    pub async fn send_raw(
        &self,
        method: &str,
        path: &str,
        auth: Option<&str>,
        body: Vec<u8>,
    ) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self
            .client
            .request(method, self.url(path))
            .header("content-type", "application/json")
            .body(body);
        if let Some(token) = auth {
            req = req.bearer_auth(token);
        }
        read(req.send().await.expect("request sent")).await
    }

    pub async fn get(&self, path: &str, auth: Option<&str>) -> Reply {
        self.send("GET", path, auth, None).await
    }

    pub async fn post(&self, path: &str, auth: Option<&str>, body: Value) -> Reply {
        self.send("POST", path, auth, Some(body)).await
    }

    pub async fn patch(&self, path: &str, auth: Option<&str>, body: Value) -> Reply {
        self.send("PATCH", path, auth, Some(body)).await
    }

    pub async fn delete(&self, path: &str, auth: Option<&str>) -> Reply {
        self.send("DELETE", path, auth, None).await
    }

    /// Registers (as developer or viewer) and logs in.
    pub async fn user(&self, username: &str, role: &str) -> TestUser {
        let password = format!("pw-{username}-long-enough");
        let reply = self
            .post(
                "/api/v1/auth/register",
                None,
                json!({"username": username, "email": format!("{username}@example.com"), "password": password, "role": role}),
            )
            .await;
        assert_eq!(reply.status, 201, "register {username}: {}", reply.text);
        self.login(username, &password).await
    }

    /// Creates an admin directly through the shared crate (as the CLI does) and logs in.
    pub async fn admin(&self, username: &str) -> TestUser {
        let password = format!("pw-{username}-long-enough");
        mcp_platform::state::create_user(
            self.state.users.as_ref(),
            username,
            &format!("{username}@example.com"),
            &password,
            mcp_platform::domain::Role::Admin,
        )
        .await
        .expect("admin created");
        self.login(username, &password).await
    }

    pub async fn login(&self, username: &str, password: &str) -> TestUser {
        let reply = self
            .post(
                "/api/v1/auth/login",
                None,
                json!({"username": username, "password": password}),
            )
            .await;
        assert_eq!(reply.status, 200, "login {username}: {}", reply.text);
        let me = self
            .get(
                "/api/v1/auth/me",
                Some(reply.body["access_token"].as_str().expect("token")),
            )
            .await;
        TestUser {
            id: me.body["id"].as_str().expect("id").to_owned(),
            username: username.to_owned(),
            password: password.to_owned(),
            access_token: reply.body["access_token"]
                .as_str()
                .expect("access")
                .to_owned(),
            refresh_token: reply.body["refresh_token"]
                .as_str()
                .expect("refresh")
                .to_owned(),
        }
    }

    /// Registers `tool` (a create body) as `token`'s and asks to deploy it
    /// with `deployment` (a create body without `tool_id`); the reply.
    pub async fn deploy_tool(&self, token: &str, tool: Value, mut deployment: Value) -> Reply {
        let created = self.post("/api/v1/mcps", Some(token), tool).await;
        assert_eq!(created.status, 201, "create tool: {}", created.text);
        deployment["tool_id"] = created.body["id"].clone();
        self.post("/api/v1/deployments", Some(token), deployment)
            .await
    }

    /// [`Self::deploy_tool`], which must answer 201, then
    /// [`Self::wait_running`]; the deployment id.
    pub async fn deploy_running(&self, token: &str, tool: Value, deployment: Value) -> String {
        let created = self.deploy_tool(token, tool, deployment).await;
        assert_eq!(created.status, 201, "deploy: {}", created.text);
        let id = created.body["deployment_id"]
            .as_str()
            .expect("deployment_id")
            .to_owned();
        self.wait_running(token, &id).await;
        id
    }

    /// Waits until deployment `id` is `running` (at most 30 s).
    pub async fn wait_running(&self, token: &str, id: &str) {
        let path = format!("/api/v1/deployments/{id}");
        poll_until(
            "the deployment runs",
            std::time::Duration::from_secs(30),
            async || self.get(&path, Some(token)).await.body["status"] == "running",
        )
        .await;
    }

    /// Creates a tool and returns its JSON.
    pub async fn create_tool(&self, token: &str, slug: &str) -> Value {
        let reply = self
            .post("/api/v1/mcps", Some(token), tool_body(slug))
            .await;
        assert_eq!(reply.status, 201, "create tool {slug}: {}", reply.text);
        reply.body
    }
}

/// A valid create body for a tool with this slug.
pub fn tool_body(slug: &str) -> Value {
    json!({
        "name": format!("Tool {slug}"),
        "slug": slug,
        "description": format!("Test tool {slug}"),
        "version": "1.0.0",
        "config": {
            "runtime": {"transport": "stdio", "command": "node", "args": ["server.js"], "env": {}},
            "tools": [{"name": "echo", "description": "Echoes its input", "inputSchema": {"type": "object"}}]
        },
        "tags": ["test"]
    })
}

async fn read(resp: reqwest::Response) -> Reply {
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        body,
        text,
    }
}

// ---------------------------------------------------------------------------
// Helpers of the auth, tokens, permissions and bad-input suites.
// ---------------------------------------------------------------------------

/// Spawns the platform on an existing data directory (e.g. one the CLI has
/// already written to). The app takes the directory over and removes it on drop.
pub async fn spawn_app_in(data_dir: tempdir::TempDir, vars: &[(&str, &str)]) -> TestApp {
    // Real servers first (services mode), then the test's own settings win.
    let backends = backends::ServiceBackends::for_app().await;
    let mut env: HashMap<String, String> = backends.vars.iter().cloned().collect();
    env.extend(vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    env.entry("LOG_LEVEL".into())
        .or_insert_with(|| "warn".into());
    let overrides = Overrides {
        bind: Some("127.0.0.1:0".parse().expect("addr")),
        data_dir: Some(data_dir.0.clone()),
    };
    let settings = Settings::load(&Source::from_map(env), &overrides).expect("test settings load");
    mcp_platform::telemetry::init(&settings);
    let state = AppState::build(settings).await.expect("app state builds");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind port 0");
    let addr = listener.local_addr().expect("local addr");
    let app = mcp_platform::http::app(state.clone());
    tokio::spawn(mcp_platform::http::serve(
        listener,
        app,
        std::future::pending(),
    ));
    TestApp {
        addr,
        base: format!("http://{addr}"),
        client: reqwest::Client::new(),
        state,
        _data_dir: data_dir,
        _backends: backends,
    }
}

impl TestApp {
    /// The data directory of this app (SQLite file, generated JWT secret).
    pub fn data_dir(&self) -> &std::path::Path {
        &self._data_dir.0
    }

    /// Sends a request with exactly these extra headers and an optional raw
    /// body (sent as `application/json`), for tests about headers themselves.
    pub async fn send_with_headers(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.client.request(method, self.url(path));
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        if let Some(body) = body {
            req = req.header("content-type", "application/json").body(body);
        }
        read(req.send().await.expect("request sent")).await
    }

    /// Registers a user without logging in (login attempts count against rate limits).
    pub async fn register(&self, username: &str, role: &str) -> Reply {
        self.post(
            "/api/v1/auth/register",
            None,
            json!({"username": username, "email": format!("{username}@example.com"),
                   "password": format!("pw-{username}-long-enough"), "role": role}),
        )
        .await
    }
}

/// Checks the SPEC §3 error envelope: the status, `error_code`, a `detail`,
/// and a `request_id` equal to the `X-Request-Id` header. `context` names the
/// request in the failure message.
pub fn assert_error(reply: &Reply, status: u16, code: &str, context: &str) {
    assert_eq!(
        reply.status, status,
        "{context}: expected status {status}, got {}: {}",
        reply.status, reply.text
    );
    assert_eq!(
        reply.body["error_code"], code,
        "{context}: expected error_code {code}: {}",
        reply.text
    );
    assert!(
        reply.body["detail"].is_string() || reply.body["detail"].is_array(),
        "{context}: detail must be a string or a list: {}",
        reply.text
    );
    let id = reply.body["request_id"].as_str().unwrap_or_default();
    assert!(
        !id.is_empty(),
        "{context}: request_id missing: {}",
        reply.text
    );
    assert_eq!(
        reply.header("x-request-id"),
        Some(id),
        "{context}: the X-Request-Id header must equal the body's request_id"
    );
}

/// The `loc`s of a 422 body's field errors, each joined with `.` (`body.name`).
pub fn error_locs(reply: &Reply) -> Vec<String> {
    reply.body["detail"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| {
                    e["loc"]
                        .as_array()
                        .map(|parts| {
                            parts
                                .iter()
                                .map(|p| p.as_str().unwrap_or("?"))
                                .collect::<Vec<_>>()
                                .join(".")
                        })
                        .unwrap_or_default()
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The `type` of the 422 field error at `loc` (`body.name`), if listed.
pub fn error_kind(reply: &Reply, loc: &str) -> Option<String> {
    let locs = error_locs(reply);
    let index = locs.iter().position(|l| l == loc)?;
    reply.body["detail"][index]["type"]
        .as_str()
        .map(str::to_owned)
}

/// The `mcp-platform` binary. `CARGO_BIN_EXE_*` exists only for a package's
/// own binaries, and a path guessed under the target directory may be missing
/// (testing this package does not build it) or stale. So cargo builds it — a
/// no-op when it is up to date, and `cargo test` has released the build lock
/// by the time tests run — and its own artifact message says where the
/// executable is, for any CARGO_TARGET_DIR, profile or target triple.
/// `MCP_PLATFORM_BIN` overrides this, e.g. to test an installed binary.
pub fn platform_binary() -> std::path::PathBuf {
    if let Some(path) = std::env::var_os("MCP_PLATFORM_BIN") {
        return std::path::PathBuf::from(path);
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| env!("CARGO").to_owned());
    let output = std::process::Command::new(cargo)
        .args([
            "build",
            "--quiet",
            "-p",
            "mcp-platform",
            "--bin",
            "mcp-platform",
            "--message-format=json",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stderr(std::process::Stdio::inherit())
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "cargo build -p mcp-platform failed"
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|msg| {
            msg["reason"] == "compiler-artifact" && msg["target"]["name"] == "mcp-platform"
        })
        .find_map(|msg| msg["executable"].as_str().map(std::path::PathBuf::from))
        .expect("cargo reported the mcp-platform executable")
}

/// Polls `check` until it holds, failing the test after `deadline`: the way
/// the suites wait for work they cannot await directly.
pub async fn poll_until(
    what: &str,
    deadline: std::time::Duration,
    mut check: impl AsyncFnMut() -> bool,
) {
    let end = std::time::Instant::now() + deadline;
    while !check().await {
        assert!(
            std::time::Instant::now() < end,
            "timed out after {deadline:?} waiting until {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Reads a `text/event-stream` response one event at a time.
pub struct SseReader {
    response: reqwest::Response,
    buffer: String,
}

impl SseReader {
    pub fn new(response: reqwest::Response) -> Self {
        Self {
            response,
            buffer: String::new(),
        }
    }

    /// The next event's name and JSON data (keep-alive comments skipped);
    /// `None` when the stream ends. Fails the test after `wait` without one.
    pub async fn next(&mut self, wait: std::time::Duration) -> Option<(String, Value)> {
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut name = None;
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(n) = line.strip_prefix("event:") {
                        name = Some(n.trim().to_owned());
                    } else if let Some(d) = line.strip_prefix("data:") {
                        data.push_str(d.trim_start());
                    }
                }
                if name.is_none() && data.is_empty() {
                    continue; // a keep-alive comment
                }
                let data = serde_json::from_str(&data)
                    .unwrap_or_else(|e| panic!("event data is not JSON ({e}): {block}"));
                return Some((name.unwrap_or_else(|| "message".into()), data));
            }
            let chunk = tokio::time::timeout(wait, self.response.chunk())
                .await
                .unwrap_or_else(|_| panic!("no event within {wait:?}"))
                .expect("stream readable")?;
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}
