//! The process runner's sandbox (issue 11, docs/security.md) with real
//! processes and real kernel features: a hostile stdio MCP server
//! (`tests/fixtures/sandbox/hostile_server.py`, Python standard library)
//! whose tools each try one thing the sandbox must stop and report the OS
//! error they got. Every attempt fails inside the child, the platform keeps
//! serving, and the child's `/proc/<pid>/limits` shows the deployment's
//! limits. Its ordinary tools still work, also through the official Python
//! MCP client.
//!
//! The suite runs as root on its machines (ARCHITECTURE.md): the children
//! run as `nobody`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use mcp_platform_tests::mcp_peers::{pids_with_env, run_client};
use mcp_platform_tests::{error_locs, poll_until, spawn_app, spawn_app_with, TestApp, TestUser};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const EACCES: i64 = 13;
const EPERM: i64 = 1;
const EAGAIN: i64 = 11;
const EFBIG: i64 = 27;
const EMFILE: i64 = 24;
const ENETUNREACH: i64 = 101;
/// Redis, MariaDB and RabbitMQ on this machine (ARCHITECTURE.md).
const SERVICE_PORTS: [u16; 3] = [6379, 3306, 5672];

/// The system Python: interpreters under /root are out of `nobody`'s reach.
fn python() -> &'static str {
    if Path::new("/usr/bin/python3.11").exists() {
        "/usr/bin/python3.11"
    } else {
        "/usr/bin/python3"
    }
}

fn server_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sandbox/hostile_server.py")
}

/// A stdio tool running the hostile server; `extra` is merged into its runtime.
pub(crate) fn hostile_tool(slug: &str, marker: &str, extra: Value) -> Value {
    let (name, value) = marker
        .split_once('=')
        .unwrap_or(("MCP_TEST_MARKER", marker));
    let mut runtime = json!({
        "transport": "stdio",
        "command": python(),
        "args": [server_script().to_string_lossy()],
        "env": {name: value, "TOOL_SETTING": "from the tool"},
    });
    if let (Some(runtime), Some(extra)) = (runtime.as_object_mut(), extra.as_object()) {
        runtime.extend(extra.clone());
    }
    json!({
        "name": format!("Hostile {slug}"),
        "slug": slug,
        "description": "Tries to escape its sandbox",
        "version": "1.0.0",
        "config": {"runtime": runtime},
    })
}

struct Hostile<'a> {
    app: &'a TestApp,
    owner: TestUser,
    id: String,
    slug: String,
    marker: String,
}

impl Hostile<'_> {
    /// Calls `tool` through the REST shortcut of `/mcp/{slug}`; its JSON answer.
    async fn call(&self, tool: &str, arguments: Value) -> Value {
        let reply = self
            .app
            .post(
                &format!("/mcp/{}/v1/tools/{tool}", self.slug),
                Some(&self.owner.access_token),
                arguments,
            )
            .await;
        assert_eq!(reply.status, 200, "{tool}: {}", reply.text);
        let text = reply.body["content"][0]["text"].as_str().unwrap_or("null");
        serde_json::from_str(text).unwrap_or_else(|e| panic!("{tool} answered {text:?}: {e}"))
    }

    /// The attempt failed inside the child with `errno`.
    async fn refused(&self, tool: &str, arguments: Value, errno: i64) -> Value {
        let answer = self.call(tool, arguments).await;
        assert_eq!(
            answer["ok"], false,
            "{tool} must fail inside the sandbox: {answer}"
        );
        assert_eq!(answer["errno"], errno, "{tool}: {answer}");
        self.still_serving().await;
        answer
    }

    /// The platform answers and the child is still up.
    async fn still_serving(&self) {
        assert_eq!(self.app.get("/health", None).await.status, 200);
        let echo = self.call("echo", json!({"text": "still here"})).await;
        assert_eq!(echo["text"], "still here", "{echo}");
    }

    async fn whoami(&self) -> Value {
        self.call("whoami", json!({})).await
    }
}

/// Deploys the hostile server for `owner` with the deployment `config`;
/// waits until it runs.
async fn deploy<'a>(
    app: &'a TestApp,
    owner: &TestUser,
    slug: &str,
    runtime: Value,
    config: Value,
) -> Hostile<'a> {
    let marker = format!("MCP_TEST_MARKER={}", uuid::Uuid::new_v4());
    let id = app
        .deploy_running(
            &owner.access_token,
            hostile_tool(slug, &marker, runtime),
            json!({ "config": config }),
        )
        .await;
    Hostile {
        app,
        owner: owner.clone(),
        id,
        slug: slug.to_owned(),
        marker,
    }
}

async fn hostile<'a>(app: &'a TestApp, slug: &str, runtime: Value, config: Value) -> Hostile<'a> {
    let owner = app.user(&format!("{slug}-owner"), "developer").await;
    deploy(app, &owner, slug, runtime, config).await
}

/// A loopback HTTP server answering every request with `body`; its port.
async fn http_server(body: &'static str) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf).await;
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
            });
        }
    });
    port
}

// ------------------------------------------------------------ ordinary tools

#[tokio::test]
async fn ordinary_tools_work_as_the_sandbox_user_in_a_directory_of_their_own() {
    let port = http_server("hello from loopback").await;
    let ports = format!("80,443,{port}");
    let app = spawn_app_with(&[("PROCESS_SANDBOX_ALLOWED_PORTS", ports.as_str())]).await;
    let h = hostile(
        &app,
        "ordinary",
        json!({"network": "outbound", "allowed_ports": [port]}),
        json!({"env": {"DEPLOYMENT_SETTING": "from the deployment"}}),
    )
    .await;

    let me = h.whoami().await;
    assert_eq!(me["uid"], 65534, "runs as nobody: {me}");
    assert_eq!(me["gid"], 65534, "{me}");
    assert_eq!(me["groups"], json!([]), "no supplementary groups: {me}");
    let home = me["home"].as_str().expect("HOME");
    assert_eq!(me["cwd"], home, "{me}");
    assert!(
        !home.starts_with(&*app.data_dir().to_string_lossy()),
        "{me}"
    );
    assert!(me["tmpdir"].as_str().is_some_and(|t| t != "/tmp"), "{me}");

    let echo = h.call("echo", json!({"text": "hi"})).await;
    assert_eq!(echo["text"], "hi");
    let names: Vec<&str> = echo["env"]
        .as_array()
        .expect("env names")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    // Only the tool's and the deployment's env plus PATH, HOME and TMPDIR.
    let mut expected = vec![
        "DEPLOYMENT_SETTING",
        "HOME",
        "MCP_TEST_MARKER",
        "PATH",
        "TMPDIR",
        "TOOL_SETTING",
    ];
    // Python adds LC_CTYPE when it coerces the C locale.
    if names.contains(&"LC_CTYPE") {
        expected.push("LC_CTYPE");
        expected.sort_unstable();
    }
    assert_eq!(names, expected, "{echo}");

    let file = h
        .call(
            "write_and_read",
            json!({"name": "note.txt", "text": "kept"}),
        )
        .await;
    assert_eq!(file["text"], "kept", "{file}");
    assert!(file["path"].as_str().is_some_and(|p| p.starts_with(home)));

    let url = format!("http://127.0.0.1:{port}/");
    let got = h.call("http_get", json!({"url": url})).await;
    assert_eq!(got["ok"], true, "an allowed port is reachable: {got}");
    assert_eq!(got["body"], "hello from loopback");

    // The same through the official Python MCP client.
    let mcp = app.url(&format!("/mcp/{}", h.slug));
    let out = run_client("sandbox_client.py", &[&mcp, &h.owner.access_token, &url]).await;
    assert!(
        out["tools"]
            .as_array()
            .is_some_and(|t| t.contains(&json!("fork_bomb"))),
        "{out}"
    );
    assert_eq!(out["echo"]["text"], "through the SDK", "{out}");
    assert_eq!(out["write_and_read"]["text"], "kept", "{out}");
    assert_eq!(out["http_get"]["body"], "hello from loopback", "{out}");
}

#[tokio::test]
async fn the_working_directory_exists_while_running_and_goes_on_stop() {
    let app = spawn_app().await;
    let h = hostile(&app, "workdir", json!({}), json!({})).await;
    let me = h.whoami().await;
    let home = PathBuf::from(me["home"].as_str().expect("HOME"));
    let dir = home.parent().expect("deployment directory").to_path_buf();
    let meta = std::fs::metadata(&dir).expect("created before start");
    use std::os::unix::fs::MetadataExt;
    assert_eq!((meta.uid(), meta.mode() & 0o777), (65534, 0o700));
    assert!(
        dir.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with(&h.id)),
        "{}",
        dir.display()
    );
    let stopped = app
        .delete(
            &format!("/api/v1/deployments/{}", h.id),
            Some(&h.owner.access_token),
        )
        .await;
    assert_eq!(stopped.status, 200, "{}", stopped.text);
    poll_until(
        "the working directory is removed",
        Duration::from_secs(10),
        async || !dir.exists(),
    )
    .await;
}

// --------------------------------------------------------------- filesystem

#[tokio::test]
async fn the_platforms_secret_file_and_database_cannot_be_read() {
    let app = spawn_app().await;
    let h = hostile(&app, "reader", json!({}), json!({})).await;
    let data = app.data_dir().canonicalize().expect("data dir");
    // The SQLite file exists only on the embedded shape (services mode
    // keeps the data in MariaDB); the secret file exists on both.
    let on_sqlite = app
        .state
        .settings
        .database_url
        .expose()
        .starts_with("sqlite");
    let files: &[&str] = if on_sqlite {
        &["jwt-secret", "mcp-platform.db"]
    } else {
        &["jwt-secret"]
    };
    for file in files {
        let path = data.join(file);
        assert!(path.exists(), "{} exists", path.display());
        h.refused("read_file", json!({"path": path}), EACCES).await;
    }
    h.refused("list_dir", json!({"path": data}), EACCES).await;
}

#[tokio::test]
async fn nothing_outside_its_own_directory_can_be_written() {
    let app = spawn_app().await;
    let h = hostile(&app, "writer", json!({}), json!({})).await;
    let targets = [
        std::env::temp_dir().join(format!("escaped-{}", uuid::Uuid::new_v4())),
        app.data_dir().join("escaped"),
        server_script().with_file_name("escaped"),
    ];
    for target in &targets {
        h.refused("write_file", json!({"path": target}), EACCES)
            .await;
        assert!(!target.exists(), "{} was written", target.display());
    }
}

#[tokio::test]
async fn another_deployments_directory_cannot_be_listed() {
    let app = spawn_app().await;
    let victim = hostile(&app, "victim", json!({}), json!({})).await;
    victim
        .call(
            "write_and_read",
            json!({"name": "private.txt", "text": "mine"}),
        )
        .await;
    let victim_home = victim.whoami().await["home"]
        .as_str()
        .expect("HOME")
        .to_owned();
    let attacker = hostile(&app, "attacker", json!({}), json!({})).await;
    attacker
        .refused("list_dir", json!({"path": victim_home}), EACCES)
        .await;
    attacker
        .refused(
            "read_file",
            json!({"path": format!("{victim_home}/private.txt")}),
            EACCES,
        )
        .await;
    let root = Path::new(&victim_home)
        .parent()
        .and_then(Path::parent)
        .expect("sandbox root");
    attacker
        .refused("list_dir", json!({"path": root}), EACCES)
        .await;
}

// ---------------------------------------------------------------- processes

#[tokio::test]
async fn the_platforms_process_can_be_neither_read_nor_signalled() {
    let app = spawn_app().await;
    let h = hostile(&app, "signaller", json!({}), json!({})).await;
    let platform = std::process::id();
    h.refused(
        "read_file",
        json!({"path": format!("/proc/{platform}/environ")}),
        EACCES,
    )
    .await;
    h.refused("kill", json!({"pid": platform}), EPERM).await;
}

#[tokio::test]
async fn forking_without_bound_stops_at_the_process_limit() {
    let app = spawn_app().await;
    let h = hostile(
        &app,
        "forker",
        json!({}),
        json!({"resources": {"processes": 40}}),
    )
    .await;
    let answer = h.refused("fork_bomb", json!({}), EAGAIN).await;
    // RLIMIT_NPROC counts every process of the sandbox user.
    let forked = answer["forked"].as_u64().unwrap_or(u64::MAX);
    assert!(forked < 40, "{answer}");
}

#[tokio::test]
async fn memory_file_size_and_open_files_stop_at_their_limits() {
    let app = spawn_app().await;
    let h = hostile(
        &app,
        "hog",
        json!({}),
        json!({"resources": {"memory_mb": 256, "file_size_mb": 2, "open_files": 32}}),
    )
    .await;
    let memory = h.call("allocate", json!({"mb": 512})).await;
    assert_eq!(memory["ok"], false, "{memory}");
    assert!(
        memory["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("MemoryError")),
        "{memory}"
    );
    h.still_serving().await;

    let big = h.refused("write_big", json!({"mb": 8}), EFBIG).await;
    assert_eq!(big["written"], 2 * 1024 * 1024, "{big}");

    let files = h.refused("open_files", json!({"count": 100}), EMFILE).await;
    assert!(files["opened"].as_u64().is_some_and(|n| n < 32), "{files}");
}

#[tokio::test]
async fn the_childs_proc_limits_show_the_deployments_resources() {
    let app = spawn_app().await;
    let h = hostile(
        &app,
        "limits",
        json!({}),
        json!({"resources": {"memory_mb": 512, "processes": 100, "open_files": 64,
                             "file_size_mb": 8, "cpu_seconds": 3600}}),
    )
    .await;
    let pids = pids_with_env(&h.marker);
    assert_eq!(pids.len(), 1, "one child: {pids:?}");
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", pids[0])).expect("limits");
    let row = |name: &str| -> Vec<String> {
        limits
            .lines()
            .find(|l| l.starts_with(name))
            .map(|l| {
                l[name.len()..]
                    .split_whitespace()
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    let mib = 1024 * 1024;
    for (name, value) in [
        ("Max address space", 512 * mib),
        ("Max processes", 100),
        ("Max open files", 64),
        ("Max file size", 8 * mib),
        ("Max cpu time", 3600),
    ] {
        let v = value.to_string();
        assert_eq!(row(name)[..2], [v.clone(), v], "{name}:\n{limits}");
    }
    let status = std::fs::read_to_string(format!("/proc/{}/status", pids[0])).expect("status");
    for line in ["Uid:\t65534", "Gid:\t65534", "NoNewPrivs:\t1"] {
        assert!(
            status.lines().any(|l| l.starts_with(line)),
            "{line}:\n{status}"
        );
    }
    assert!(
        status.lines().any(|l| l.trim_end() == "Groups:"),
        "{status}"
    );
    // No descriptor of the platform's was inherited: stdio only.
    let mut fds: Vec<u32> = std::fs::read_dir(format!("/proc/{}/fd", pids[0]))
        .expect("fds")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    fds.sort_unstable();
    assert_eq!(fds, [0, 1, 2]);
}

// ------------------------------------------------------------------ network

#[tokio::test]
async fn the_brokers_and_databases_on_loopback_are_unreachable_in_both_network_modes() {
    let app = spawn_app().await;
    let isolated = hostile(&app, "net-none", json!({"network": "none"}), json!({})).await;
    let outbound = hostile(&app, "net-out", json!({"network": "outbound"}), json!({})).await;
    for port in SERVICE_PORTS {
        // Both: Landlock allows no TCP connect for `none`, only 80 and 443
        // for `outbound`; it answers before any routing.
        isolated
            .refused("connect", json!({"port": port}), EACCES)
            .await;
        outbound
            .refused("connect", json!({"port": port}), EACCES)
            .await;
    }
    // Under it, `none` is an empty network namespace of its own (UDP, which
    // Landlock does not cover on this kernel, has nowhere to go either).
    let namespace = |pid: String| std::fs::read_link(format!("/proc/{pid}/ns/net")).expect("ns");
    let ours = namespace("self".into());
    let isolated_pid = isolated.whoami().await["pid"].to_string();
    let outbound_pid = outbound.whoami().await["pid"].to_string();
    assert_ne!(
        namespace(isolated_pid.clone()),
        ours,
        "none: a namespace of its own"
    );
    assert_eq!(
        namespace(outbound_pid),
        ours,
        "outbound: the host's network"
    );
    let udp = isolated
        .call("udp_send", json!({"host": "127.0.0.1", "port": 53}))
        .await;
    assert_eq!(udp["errno"], ENETUNREACH, "{udp}");
}

#[tokio::test]
async fn local_services_socket_files_are_unreachable_but_socketpairs_work() {
    let app = spawn_app().await;
    let h = hostile(&app, "unix", json!({"network": "outbound"}), json!({})).await;
    // MariaDB's socket is world-writable here: DAC alone would let nobody in.
    let sockets = [
        "/run/mysqld/mysqld.sock",
        "/var/run/postgresql/.s.PGSQL.5432",
    ];
    for socket in sockets.iter().filter(|s| Path::new(s).exists()) {
        h.refused("connect_unix", json!({"path": socket}), EACCES)
            .await;
    }
    let pair = h.call("socket_pair", json!({})).await;
    assert_eq!(pair["data"], "ping", "{pair}");
    let health = app.get("/health", None).await;
    assert!(
        ["landlock", "seccomp"].contains(
            &health.body["sandbox"]["unix_sockets"]
                .as_str()
                .unwrap_or("")
        ),
        "{}",
        health.text
    );
}

// ------------------------------------------------- refusals and the report

#[tokio::test]
async fn a_runtime_naming_the_platforms_files_or_a_missing_command_is_a_422() {
    let app = spawn_app().await;
    let dev = app.user("namer", "developer").await;
    let secret = app.data_dir().join("jwt-secret");
    let script = server_script();
    let cases = [
        (
            json!({"args": [script, "--config", secret]}),
            "tool.config.runtime.args.2",
        ),
        (
            json!({"read_paths": [app.data_dir()]}),
            "tool.config.runtime.read_paths.0",
        ),
        (
            json!({"read_paths": ["/"]}),
            "tool.config.runtime.read_paths.0",
        ),
        (json!({"command": secret}), "tool.config.runtime.command"),
        (
            json!({"command": "no-such-interpreter-anywhere"}),
            "tool.config.runtime.command",
        ),
        (
            json!({"network": "outbound", "allowed_ports": [6379]}),
            "tool.config.runtime.allowed_ports.0",
        ),
    ];
    for (i, (runtime, loc)) in cases.into_iter().enumerate() {
        let deployed = app
            .deploy_tool(
                &dev.access_token,
                hostile_tool(&format!("named-{i}"), "MCP_TEST_MARKER=x", runtime.clone()),
                json!({}),
            )
            .await;
        assert_eq!(deployed.status, 422, "{runtime}: {}", deployed.text);
        assert_eq!(error_locs(&deployed), [loc], "{runtime}: {}", deployed.text);
    }
    let listed = app
        .get("/api/v1/deployments", Some(&dev.access_token))
        .await;
    assert_eq!(
        listed.body["total"], 0,
        "nothing was stored: {}",
        listed.text
    );

    let deployed = app
        .deploy_tool(
            &dev.access_token,
            hostile_tool("named-resources", "MCP_TEST_MARKER=x", json!({})),
            json!({"config": {"resources": {"memory_mb": 1_000_000, "gpus": 1}}}),
        )
        .await;
    assert_eq!(deployed.status, 422, "{}", deployed.text);
    let mut locs = error_locs(&deployed);
    locs.sort();
    assert_eq!(
        locs,
        [
            "body.config.resources.gpus",
            "body.config.resources.memory_mb"
        ]
    );
}

#[tokio::test]
async fn health_reports_the_sandbox_and_off_is_a_loud_warning() {
    let app = spawn_app().await;
    let health = app.get("/health", None).await;
    let sandbox = &health.body["sandbox"];
    assert_eq!(sandbox["enabled"], true, "{}", health.text);
    assert!(
        sandbox["landlock_abi"].as_u64().is_some_and(|abi| abi >= 4),
        "{sandbox}"
    );
    assert_eq!(sandbox["network_namespaces"], true, "{sandbox}");
    assert_eq!(sandbox["root"], true, "{sandbox}");
    assert_eq!(sandbox["identity"]["user"], "nobody", "{sandbox}");
    assert!(sandbox.get("refusal").is_none() && sandbox.get("warning").is_none());

    let off = spawn_app_with(&[("PROCESS_SANDBOX", "off")]).await;
    let health = off.get("/health", None).await;
    assert_eq!(health.status, 200);
    let sandbox = &health.body["sandbox"];
    assert_eq!(sandbox["enabled"], false, "{}", health.text);
    assert!(
        sandbox["warning"]
            .as_str()
            .is_some_and(|w| w.contains("PROCESS_SANDBOX=off")),
        "{sandbox}"
    );
    // Off: the platform's own user, but still the config's env and a directory of its own.
    let h = hostile(&off, "unsandboxed", json!({}), json!({})).await;
    let me = h.whoami().await;
    assert_eq!(me["uid"], 0, "{me}");
    assert!(
        me["home"].as_str().is_some_and(|home| me["cwd"] == home),
        "{me}"
    );
}
