//! Backends that go away: requests fail fast with 503 (or carry on without
//! the cache), nothing hangs or panics, and the platform heals by itself when
//! the backend returns. The servers here belong to the test — a
//! `redis-server` it starts and kills, a TCP proxy in front of MariaDB it
//! cuts — never the machine's shared services.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use mcp_platform_tests::backends::{self, MysqlDatabase};
use mcp_platform_tests::{poll_until, spawn_app_with, Reply, TestApp};
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

/// How long a request may take while a backend is down.
const FAIL_FAST: Duration = Duration::from_secs(5);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Sends a request and checks it came back within [`FAIL_FAST`].
async fn timed(what: &str, request: impl std::future::Future<Output = Reply>) -> Reply {
    let started = Instant::now();
    let reply = tokio::time::timeout(FAIL_FAST * 2, request)
        .await
        .unwrap_or_else(|_| panic!("{what}: hung for over {:?}", FAIL_FAST * 2));
    assert!(
        started.elapsed() < FAIL_FAST,
        "{what}: took {:?}",
        started.elapsed()
    );
    reply
}

// ------------------------------------------------------------ Redis

struct RedisServer {
    port: u16,
    child: Child,
}

impl RedisServer {
    fn start(port: u16) -> Self {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed (Debian package redis-server)");
        Self { port, child }
    }

    async fn wait_ready(&self) {
        let addr = format!("127.0.0.1:{}", self.port);
        poll_until(
            "redis-server accepts connections",
            Duration::from_secs(10),
            async || TcpStream::connect(&addr).await.is_ok(),
        )
        .await;
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn get_tool(app: &TestApp, token: &str, id: &str) -> Reply {
    app.get(&format!("/api/v1/mcps/{id}"), Some(token)).await
}

#[tokio::test]
async fn with_redis_gone_tools_still_work_health_says_so_and_caching_resumes_when_it_returns() {
    let port = free_port();
    let mut redis = RedisServer::start(port);
    redis.wait_ready().await;
    let url = format!("redis://127.0.0.1:{port}");
    let app = spawn_app_with(&[("REDIS_URL", url.as_str()), ("REDIS_TIMEOUT_MS", "500")]).await;
    let dev = app.user("dev1", "developer").await;
    let token = dev.access_token.as_str();
    let tool = app.create_tool(token, "weather").await;
    let id = tool["id"].as_str().expect("id");
    let hits = || app.state.metrics.cache_hits.load(Ordering::Relaxed);

    get_tool(&app, token, id).await;
    let before = hits();
    assert_eq!(get_tool(&app, token, id).await.status, 200);
    assert_eq!(hits(), before + 1, "the second read is a Redis cache hit");

    redis.kill();

    let read = timed("read with Redis down", get_tool(&app, token, id)).await;
    assert_eq!(
        read.status, 200,
        "reads come from the database: {}",
        read.text
    );
    let update = timed(
        "update with Redis down",
        app.patch(
            &format!("/api/v1/mcps/{id}"),
            Some(token),
            json!({"version": "1.1.0"}),
        ),
    )
    .await;
    assert_eq!(
        update.status, 200,
        "writes succeed without the cache: {}",
        update.text
    );
    let read = timed("read after the update", get_tool(&app, token, id)).await;
    assert_eq!(
        read.body["version"], "1.1.0",
        "the update is visible at once"
    );

    let health = timed("health with Redis down", app.get("/health", None)).await;
    assert_eq!(health.status, 503, "{}", health.text);
    assert_eq!(health.body["checks"]["redis"], false, "{}", health.text);
    assert_eq!(health.body["status"], "unhealthy");

    // Refresh tokens live in Redis: no store, no refresh — a fast 503, not a hang.
    let refresh = timed(
        "refresh with Redis down",
        app.post(
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": dev.refresh_token}),
        ),
    )
    .await;
    assert_eq!(refresh.status, 503, "{}", refresh.text);
    assert_eq!(refresh.body["error_code"], "SERVICE_UNAVAILABLE");
    assert!(
        !refresh.text.to_lowercase().contains("redis://"),
        "no internals in the body"
    );

    let _redis = {
        let again = RedisServer::start(port);
        again.wait_ready().await;
        again
    };
    poll_until(
        "health is green again",
        Duration::from_secs(15),
        async || app.get("/health", None).await.status == 200,
    )
    .await;
    get_tool(&app, token, id).await;
    let before = hits();
    poll_until(
        "reads hit the cache again",
        Duration::from_secs(10),
        async || {
            get_tool(&app, token, id).await;
            hits() > before
        },
    )
    .await;
    let refresh = app
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": dev.refresh_token}),
        )
        .await;
    assert_eq!(
        refresh.status, 401,
        "the restarted Redis is empty, so the old token is unknown: {}",
        refresh.text
    );
}

// ------------------------------------------------------------ MySQL

/// A TCP proxy the test can cut and restore: the database "goes away" for
/// the platform while the machine's MariaDB keeps running.
struct Proxy {
    port: u16,
    upstream: SocketAddr,
    tasks: Option<JoinSet<()>>,
}

impl Proxy {
    async fn start(port: u16, upstream: SocketAddr) -> Self {
        let mut proxy = Self {
            port,
            upstream,
            tasks: None,
        };
        proxy.resume().await;
        proxy
    }

    async fn resume(&mut self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port))
            .await
            .expect("proxy binds");
        let upstream = self.upstream;
        let mut tasks = JoinSet::new();
        tasks.spawn(async move {
            let mut connections = JoinSet::new();
            while let Ok((mut client, _)) = listener.accept().await {
                connections.spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        self.tasks = Some(tasks);
    }

    /// Closes the listener and every proxied connection.
    async fn cut(&mut self) {
        if let Some(mut tasks) = self.tasks.take() {
            tasks.shutdown().await;
        }
    }
}

fn mysql_upstream(url: &str) -> SocketAddr {
    let after_at = url.rsplit('@').next().unwrap_or(url);
    let host_port = after_at
        .trim_start_matches("mysql://")
        .split('/')
        .next()
        .unwrap_or("127.0.0.1:3306");
    let with_port = if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:3306")
    };
    with_port
        .parse()
        .unwrap_or_else(|_| "127.0.0.1:3306".parse().expect("addr"))
}

#[tokio::test]
async fn with_mysql_gone_requests_fail_fast_with_503_and_recover_when_it_returns() {
    let Some(server_url) = backends::mysql_url() else {
        eprintln!("MCP_TEST_MYSQL_URL is not set: the MySQL outage test needs a MySQL server");
        return;
    };
    let db = MysqlDatabase::create(&server_url).await;
    let port = free_port();
    let mut proxy = Proxy::start(port, mysql_upstream(&server_url)).await;
    let db_name = db.url.rsplit('/').next().expect("db name").to_owned();
    let credentials = server_url
        .trim_start_matches("mysql://")
        .split('@')
        .next()
        .unwrap_or("root");
    let via_proxy = format!("mysql://{credentials}@127.0.0.1:{port}/{db_name}");
    let app = spawn_app_with(&[("DATABASE_URL", via_proxy.as_str())]).await;
    let dev = app.user("dev1", "developer").await;
    let token = dev.access_token.as_str();
    app.create_tool(token, "weather").await;
    assert_eq!(app.get("/api/v1/mcps", Some(token)).await.status, 200);

    proxy.cut().await;

    let list = timed("list with MySQL down", app.get("/api/v1/mcps", Some(token))).await;
    assert_eq!(list.status, 503, "{}", list.text);
    assert_eq!(list.body["error_code"], "SERVICE_UNAVAILABLE");
    assert!(
        !list.text.contains("127.0.0.1"),
        "no internals in the body: {}",
        list.text
    );
    let create = timed(
        "create with MySQL down",
        app.post(
            "/api/v1/mcps",
            Some(token),
            mcp_platform_tests::tool_body("other"),
        ),
    )
    .await;
    assert_eq!(create.status, 503, "{}", create.text);
    let health = timed("health with MySQL down", app.get("/health", None)).await;
    assert_eq!(
        (health.status, &health.body["checks"]["mysql"]),
        (503, &json!(false)),
        "{}",
        health.text
    );

    proxy.resume().await;
    poll_until(
        "requests succeed again",
        Duration::from_secs(20),
        async || app.get("/api/v1/mcps", Some(token)).await.status == 200,
    )
    .await;
    let list = app.get("/api/v1/mcps", Some(token)).await;
    assert_eq!(
        list.body["total"], 1,
        "nothing was half-written while it was down: {}",
        list.text
    );
    assert_eq!(app.get("/health", None).await.status, 200);
}

// ------------------------------------------------------------ MongoDB

#[tokio::test]
async fn with_mongodb_gone_changes_still_commit_and_history_is_complete_once_it_returns() {
    let Some(server_url) = backends::mongodb_url() else {
        eprintln!(
            "MCP_TEST_MONGODB_URL is not set: the MongoDB outage test needs a MongoDB server"
        );
        return;
    };
    let host_port = server_url
        .trim_start_matches("mongodb://")
        .split(['/', '?'])
        .next()
        .unwrap_or("");
    let upstream: SocketAddr = host_port
        .parse()
        .expect("MCP_TEST_MONGODB_URL names host:port");
    let db = backends::MongoDatabase::create(&server_url).await;
    let port = free_port();
    let mut proxy = Proxy::start(port, upstream).await;
    let via_proxy = format!("mongodb://127.0.0.1:{port}/?directConnection=true");
    let app = spawn_app_with(&[
        ("MONGODB_URL", via_proxy.as_str()),
        ("MONGODB_DATABASE", db.name.as_str()),
        ("MONGODB_TIMEOUT_MS", "1000"),
    ])
    .await;
    let dev = app.user("dev1", "developer").await;
    let token = dev.access_token.as_str();
    let tool = app.create_tool(token, "weather").await;
    let id = tool["id"].as_str().expect("id");
    let history = format!("/api/v1/mcps/{id}/history");
    assert_eq!(
        app.get(&history, Some(token)).await.body["versions"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );

    proxy.cut().await;

    let update = timed(
        "update with MongoDB down",
        app.patch(
            &format!("/api/v1/mcps/{id}"),
            Some(token),
            json!({"version": "2.0.0"}),
        ),
    )
    .await;
    assert_eq!(
        update.status, 200,
        "the change commits; its history waits in the outbox: {}",
        update.text
    );
    let read = timed("history with MongoDB down", app.get(&history, Some(token))).await;
    assert_eq!(
        read.status, 503,
        "history is complete or not served: {}",
        read.text
    );
    let health = timed("health with MongoDB down", app.get("/health", None)).await;
    assert_eq!(
        (health.status, &health.body["checks"]["mongodb"]),
        (503, &json!(false)),
        "{}",
        health.text
    );

    proxy.resume().await;
    poll_until(
        "history is served again",
        Duration::from_secs(20),
        async || app.get(&history, Some(token)).await.status == 200,
    )
    .await;
    let versions = app.get(&history, Some(token)).await.body["versions"].clone();
    let kinds: Vec<&str> = versions
        .as_array()
        .expect("versions")
        .iter()
        .map(|v| v["change_type"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        kinds,
        ["update", "create"],
        "each change recorded exactly once: {versions}"
    );
}
