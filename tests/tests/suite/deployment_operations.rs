//! Operating deployments (issue 11 §4): the real start error in
//! `last_error`, 503 for a deployment that failed or was stopped, restart
//! in place, the child's stderr as a tail and as a followed stream, and
//! upgrades to another version of the tool with no failed call while the
//! process is replaced; a deployment stays on its version until upgraded.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mcp_platform_tests::{error_locs, poll_until, spawn_app_with, SseReader, TestApp, TestUser};
use serde_json::{json, Value};

use crate::sandbox::hostile_tool;

/// `POST {path}/restart` as `who`.
async fn restart(app: &TestApp, who: &TestUser, path: &str) -> mcp_platform_tests::Reply {
    app.post(
        &format!("{path}/restart"),
        Some(&who.access_token),
        json!({}),
    )
    .await
}

/// A process that says why on stderr and exits: it crash-loops to `failed`.
fn crashing_tool(slug: &str) -> Value {
    json!({
        "name": format!("Crashing {slug}"),
        "slug": slug,
        "version": "1.0.0",
        "config": {"runtime": {"transport": "stdio", "command": "sh",
                               "args": ["-c", "echo 'cannot open the config' >&2; exit 3"]}},
    })
}

#[tokio::test]
async fn a_failed_deployment_shows_its_stderr_answers_503_and_restarts_in_place() {
    let app = spawn_app_with(&[]).await;
    let dev = app.user("opsdev", "developer").await;
    let stranger = app.user("opsstranger", "developer").await;
    let created = app
        .deploy_tool(&dev.access_token, crashing_tool("crashing"), json!({}))
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.body["id"].as_str().expect("id").to_owned();
    let path = format!("/api/v1/deployments/{id}");
    mcp_platform_tests::poll_until(
        "the crash loop ends in failed",
        std::time::Duration::from_secs(60),
        async || app.get(&path, Some(&dev.access_token)).await.body["status"] == "failed",
    )
    .await;

    let failed = app.get(&path, Some(&dev.access_token)).await;
    let last_error = failed.body["last_error"].as_str().unwrap_or_default();
    assert!(
        last_error.contains("(exit status: 3)") && last_error.contains("cannot open the config"),
        "last_error says how the last start ended and what the child wrote: {}",
        failed.text
    );

    let logs = app
        .get(&format!("{path}/logs?tail=2"), Some(&dev.access_token))
        .await;
    assert_eq!(logs.status, 200, "{}", logs.text);
    let lines = logs.body["lines"].as_array().expect("lines");
    assert!(
        !lines.is_empty() && lines.len() <= 2,
        "tail=2 gives at most two lines: {}",
        logs.text
    );
    assert!(
        lines.iter().all(|l| l == "cannot open the config"),
        "the child's own stderr: {}",
        logs.text
    );
    let theirs = app
        .get(&format!("{path}/logs"), Some(&stranger.access_token))
        .await;
    assert_eq!(theirs.status, 404, "another user's logs: {}", theirs.text);
    let bad_tail = app
        .get(&format!("{path}/logs?tail=0"), Some(&dev.access_token))
        .await;
    assert_eq!(bad_tail.status, 422, "{}", bad_tail.text);
    assert_eq!(error_locs(&bad_tail), ["query.tail"]);

    let call = app
        .post(
            "/mcp/crashing",
            Some(&dev.access_token),
            json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}),
        )
        .await;
    assert_eq!(call.status, 503, "a failed deployment: {}", call.text);

    let restarted = restart(&app, &dev, &path).await;
    assert_eq!(restarted.status, 200, "{}", restarted.text);
    assert_eq!(
        (
            restarted.body["id"].as_str(),
            restarted.body["status"].as_str()
        ),
        (Some(id.as_str()), Some("starting")),
        "the same deployment starts again: {}",
        restarted.text
    );
    assert!(restarted.body["last_error"].is_null(), "{}", restarted.text);
    let by_stranger = restart(&app, &stranger, &path).await;
    assert_eq!(by_stranger.status, 404, "{}", by_stranger.text);
}

#[tokio::test]
async fn a_stopped_deployment_restarts_and_a_running_one_is_a_conflict() {
    let app = spawn_app_with(&[]).await;
    let dev = app.user("restartdev", "developer").await;
    let tool = json!({
        "name": "Sleeper", "slug": "sleeper", "version": "1.0.0",
        "config": {"runtime": {"transport": "stdio", "command": "sleep", "args": ["600"]}},
    });
    let created = app.deploy_tool(&dev.access_token, tool, json!({})).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.body["id"].as_str().expect("id").to_owned();
    let path = format!("/api/v1/deployments/{id}");
    let running = restart(&app, &dev, &path).await;
    assert_eq!(
        running.status, 409,
        "not failed or stopped: {}",
        running.text
    );
    assert_eq!(app.delete(&path, Some(&dev.access_token)).await.status, 200);
    let restarted = restart(&app, &dev, &path).await;
    assert_eq!(restarted.status, 200, "{}", restarted.text);
    assert!(restarted.body["stopped_at"].is_null(), "{}", restarted.text);
    let listed = app
        .get(
            "/api/v1/deployments?status=stopped",
            Some(&dev.access_token),
        )
        .await;
    assert_eq!(
        listed.body["total"], 0,
        "no longer stopped: {}",
        listed.text
    );
}

#[tokio::test]
async fn a_command_the_kernel_cannot_execute_is_named_with_the_os_error() {
    let app = spawn_app_with(&[]).await;
    let dev = app.user("execdev", "developer").await;
    let scripts = mcp_platform_tests::tempdir::TempDir::new();
    let script = scripts.0.join("server.sh");
    std::fs::write(&script, "#!/nonexistent/interpreter\n").expect("script written");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    // The sandbox user must reach the script to try it.
    std::fs::set_permissions(
        &scripts.0,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod dir");
    let command = script.to_string_lossy().into_owned();
    let tool = json!({
        "name": "Unrunnable", "slug": "unrunnable", "version": "1.0.0",
        "config": {"runtime": {"transport": "stdio", "command": command}},
    });
    let created = app.deploy_tool(&dev.access_token, tool, json!({})).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let path = format!(
        "/api/v1/deployments/{}",
        created.body["id"].as_str().expect("id")
    );
    let mut failed = Value::Null;
    poll_until(
        "the deployment fails",
        Duration::from_secs(60),
        async || {
            failed = app.get(&path, Some(&dev.access_token)).await.body;
            failed["status"] == "failed"
        },
    )
    .await;
    let expected = format!("could not start `{command}`: No such file or directory");
    assert!(
        failed["last_error"]
            .as_str()
            .is_some_and(|e| e.contains(&expected)),
        "{expected:?} in {failed}"
    );
}

#[tokio::test]
async fn logs_follow_streams_each_new_line_and_ends_when_the_deployment_stops() {
    let app = spawn_app_with(&[]).await;
    let dev = app.user("followdev", "developer").await;
    let stranger = app.user("followstranger", "developer").await;
    // Never answers initialize: it stays `starting` and keeps writing.
    let tool = json!({
        "name": "Chatty", "slug": "chatty", "version": "1.0.0",
        "config": {"runtime": {"transport": "stdio", "command": "sh", "args": ["-c",
            "i=0; while :; do i=$((i+1)); echo \"line $i\" >&2; sleep 0.1; done"]}},
    });
    let created = app.deploy_tool(&dev.access_token, tool, json!({})).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let path = format!(
        "/api/v1/deployments/{}",
        created.body["id"].as_str().expect("id")
    );
    poll_until(
        "the child has written",
        Duration::from_secs(30),
        async || {
            let logs = app
                .get(&format!("{path}/logs"), Some(&dev.access_token))
                .await;
            logs.body["lines"].as_array().is_some_and(|l| l.len() >= 3)
        },
    )
    .await;

    let open = |who: &TestUser| {
        app.client
            .get(app.url(&format!("{path}/logs?follow=true&tail=1")))
            .bearer_auth(&who.access_token)
            .send()
    };
    assert_eq!(open(&stranger).await.expect("sent").status(), 404);
    let response = open(&dev).await.expect("stream opens");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/event-stream",
        "an event stream"
    );
    let mut events = SseReader::new(response);
    let number = |event: &Value| {
        event["line"]
            .as_str()
            .and_then(|l| l.strip_prefix("line "))
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("a line of the child: {event}"))
    };
    let mut seen = Vec::new();
    while seen.len() < 4 {
        let (name, event) = events.next(Duration::from_secs(10)).await.expect("open");
        assert_eq!(name, "log", "{event}");
        seen.push(number(&event));
    }
    assert!(
        seen.windows(2).all(|w| w[1] == w[0] + 1),
        "the tail line, then each new one, none twice or lost: {seen:?}"
    );

    assert_eq!(app.delete(&path, Some(&dev.access_token)).await.status, 200);
    let end = loop {
        let (name, event) = events.next(Duration::from_secs(10)).await.expect("open");
        if name != "log" {
            break (name, event);
        }
    };
    assert_eq!(end.0, "end", "{:?}", end.1);
    assert_eq!(end.1["status"], "stopped", "{:?}", end.1);
    assert!(
        events.next(Duration::from_secs(10)).await.is_none(),
        "the stream ends after `end`"
    );

    let stopped = app
        .get(&format!("{path}/logs?follow=true"), Some(&dev.access_token))
        .await;
    assert_eq!(stopped.status, 200, "{}", stopped.text);
    assert!(
        stopped.text.contains("event: end"),
        "a stopped deployment's stream ends at once: {}",
        stopped.text
    );
    let bad = app
        .get(&format!("{path}/logs?follow=yes"), Some(&dev.access_token))
        .await;
    assert_eq!(error_locs(&bad), ["query.follow"], "{}", bad.text);
}

/// The hostile fixture server with `MCP_TEST_MARKER` = `marker`, at `version`.
fn versioned_tool(slug: &str, version: &str, marker: &str) -> Value {
    let mut tool = hostile_tool(slug, marker, json!({}));
    tool["version"] = json!(version);
    tool
}

/// Registers the fixture server at 1.0.0 with `marker` and deploys it,
/// running; its tool's path and the deployment's id.
async fn deploy_first_version(
    app: &TestApp,
    who: &TestUser,
    slug: &str,
    marker: &str,
) -> (String, String) {
    let id = app
        .deploy_running(
            &who.access_token,
            versioned_tool(slug, "1.0.0", marker),
            json!({}),
        )
        .await;
    let d = app
        .get(
            &format!("/api/v1/deployments/{id}"),
            Some(&who.access_token),
        )
        .await;
    let tool = d.body["tool_id"].as_str().expect("tool_id");
    (format!("/api/v1/mcps/{tool}"), id)
}

/// Makes `version` of the fixture server (with `marker`) the tool's current one.
async fn publish_version(
    app: &TestApp,
    who: &TestUser,
    tool_path: &str,
    version: &str,
    marker: &str,
) {
    // The slug is not part of a config: any will do.
    let next = versioned_tool("any", version, marker);
    let updated = app
        .patch(
            tool_path,
            Some(&who.access_token),
            json!({"version": version, "config": next["config"]}),
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.text);
}

async fn upgrade(
    app: &TestApp,
    who: &TestUser,
    path: &str,
    body: Value,
) -> mcp_platform_tests::Reply {
    app.post(&format!("{path}/upgrade"), Some(&who.access_token), body)
        .await
}

/// Which version's process answers: the marker its environment holds.
async fn marker(app: &TestApp, who: &TestUser, slug: &str) -> String {
    let reply = app
        .post(
            &format!("/mcp/{slug}/v1/tools/whoami"),
            Some(&who.access_token),
            json!({}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let text = reply.body["content"][0]["text"].as_str().unwrap_or("null");
    let answer: Value = serde_json::from_str(text).expect("JSON answer");
    answer["marker"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn an_upgrade_replaces_the_process_without_a_failed_call_and_a_deployment_keeps_its_version()
{
    let app = Arc::new(spawn_app_with(&[]).await);
    let dev = app.user("upgradedev", "developer").await;
    let stranger = app.user("upgradestranger", "developer").await;
    let slug = "upgraded";
    let (tool_path, id) = deploy_first_version(&app, &dev, slug, "v1").await;
    let path = format!("/api/v1/deployments/{id}");
    publish_version(&app, &dev, &tool_path, "1.1.0", "v2").await;
    assert_eq!(
        marker(&app, &dev, slug).await,
        "v1",
        "a new version of the tool does not change a running deployment"
    );
    let before = app.get(&path, Some(&dev.access_token)).await;
    assert_eq!(before.body["tool_version"], "1.0.0", "{}", before.text);

    // Clients calling in a loop throughout the switch, with calls in
    // flight at the old process when it is replaced.
    let stop = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicU64::new(0));
    let callers: Vec<_> = (0..4)
        .map(|_| {
            let (app, stop, calls, token) = (
                app.clone(),
                stop.clone(),
                calls.clone(),
                dev.access_token.clone(),
            );
            tokio::spawn(async move {
                let mut failures = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let reply = app
                        .post(
                            &format!("/mcp/{slug}/v1/tools/pause"),
                            Some(&token),
                            json!({"seconds": 0.02, "text": "hi"}),
                        )
                        .await;
                    calls.fetch_add(1, Ordering::Relaxed);
                    if reply.status != 200 || !reply.text.contains("hi") {
                        failures.push(format!("{}: {}", reply.status, reply.text));
                    }
                }
                failures
            })
        })
        .collect();
    poll_until(
        "the clients are calling",
        Duration::from_secs(10),
        async || calls.load(Ordering::Relaxed) > 5,
    )
    .await;
    assert_eq!(upgrade(&app, &stranger, &path, json!({})).await.status, 404);
    let upgraded = app
        .send(
            "POST",
            &format!("{path}/upgrade"),
            Some(&dev.access_token),
            None,
        )
        .await;
    assert_eq!(
        upgraded.status, 200,
        "no body: the tool's current version: {}",
        upgraded.text
    );
    assert_eq!(upgraded.body["tool_version"], "1.1.0", "{}", upgraded.text);
    assert_eq!(upgraded.body["status"], "running", "{}", upgraded.text);
    let during = calls.load(Ordering::Relaxed);
    // Calls go on to the new process, and the old one has been retired.
    poll_until(
        "calls after the switch",
        Duration::from_secs(10),
        async || calls.load(Ordering::Relaxed) > during + 20,
    )
    .await;
    stop.store(true, Ordering::Relaxed);
    let mut failures = Vec::new();
    for caller in callers {
        failures.extend(caller.await.expect("caller"));
    }
    assert!(
        failures.is_empty(),
        "calls failed during the upgrade: {failures:?}"
    );
    assert!(
        calls.load(Ordering::Relaxed) > during && during > 5,
        "the client kept calling throughout ({during} before the switch ended)"
    );
    assert_eq!(
        marker(&app, &dev, slug).await,
        "v2",
        "the new version answers"
    );
    let stored = app.get(&path, Some(&dev.access_token)).await;
    assert_eq!(stored.body["tool_version"], "1.1.0", "{}", stored.text);

    let same = upgrade(&app, &dev, &path, json!({})).await;
    assert_eq!(
        (same.status, same.body["tool_version"].as_str()),
        (200, Some("1.1.0")),
        "{}",
        same.text
    );
    let back = upgrade(&app, &dev, &path, json!({"version": "1.0.0"})).await;
    assert_eq!(back.status, 200, "{}", back.text);
    assert_eq!(
        marker(&app, &dev, slug).await,
        "v1",
        "any version of its history"
    );
    let unknown = upgrade(&app, &dev, &path, json!({"version": "9.9.9"})).await;
    assert_eq!(unknown.status, 422, "{}", unknown.text);
    assert_eq!(error_locs(&unknown), ["body.version"], "{}", unknown.text);

    // A version that cannot start leaves the old one serving.
    let broken = json!({"runtime": {"transport": "stdio", "command": "sh",
                                    "args": ["-c", "echo 'missing API key' >&2; exit 7"]}});
    let updated = app
        .patch(
            &tool_path,
            Some(&dev.access_token),
            json!({"version": "1.2.0", "config": broken}),
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.text);
    let refused = upgrade(&app, &dev, &path, json!({})).await;
    assert_eq!(refused.status, 409, "{}", refused.text);
    assert!(
        refused.text.contains("exit status: 7") && refused.text.contains("missing API key"),
        "says why the new version did not start: {}",
        refused.text
    );
    assert_eq!(
        marker(&app, &dev, slug).await,
        "v1",
        "the old version still serves"
    );
    assert_eq!(
        app.get(&path, Some(&dev.access_token)).await.body["tool_version"],
        "1.0.0"
    );

    assert_eq!(app.delete(&path, Some(&dev.access_token)).await.status, 200);
    let stopped = upgrade(&app, &dev, &path, json!({"version": "1.1.0"})).await;
    assert_eq!(
        stopped.status, 409,
        "only a running deployment upgrades: {}",
        stopped.text
    );
}

#[tokio::test]
async fn a_deprecated_tool_is_not_deployed_anew() {
    let app = spawn_app_with(&[]).await;
    let dev = app.user("deprecdev", "developer").await;
    let tool = app
        .post(
            "/api/v1/mcps",
            Some(&dev.access_token),
            hostile_tool("deprecated", "x", json!({})),
        )
        .await;
    assert_eq!(tool.status, 201, "{}", tool.text);
    let path = format!("/api/v1/mcps/{}", tool.body["id"].as_str().expect("id"));
    let deprecated = app
        .patch(
            &path,
            Some(&dev.access_token),
            json!({"status": "deprecated"}),
        )
        .await;
    assert_eq!(deprecated.status, 200, "{}", deprecated.text);
    let refused = app
        .post(
            "/api/v1/deployments",
            Some(&dev.access_token),
            json!({"tool_id": tool.body["id"]}),
        )
        .await;
    assert_eq!(refused.status, 409, "{}", refused.text);
    assert!(refused.text.contains("deprecated"), "{}", refused.text);
}

#[tokio::test]
async fn another_replica_follows_an_upgrade_from_the_event() {
    let Some(replicas) = mcp_platform_tests::backends::Replicas::prepare().await else {
        eprintln!("MCP_TEST_REDIS_URL not set: the two-replica upgrade test needs Redis");
        return;
    };
    let vars = replicas.vars();
    let a = spawn_app_with(&vars).await;
    let b = spawn_app_with(&vars).await;
    for app in [&a, &b] {
        mcp_platform::gateway::health::start(app.state.clone());
    }
    let dev = a.user("replicadev", "developer").await;
    let slug = "replicated";
    let (tool_path, id) = deploy_first_version(&a, &dev, slug, "v1").await;
    assert_eq!(
        marker(&b, &dev, slug).await,
        "v1",
        "B runs a child of its own"
    );

    publish_version(&a, &dev, &tool_path, "1.1.0", "v2").await;
    let path = format!("/api/v1/deployments/{id}");
    let upgraded = upgrade(&a, &dev, &path, json!({})).await;
    assert_eq!(upgraded.status, 200, "{}", upgraded.text);
    let mut seen = String::new();
    poll_until(
        "B's child is the new version",
        Duration::from_secs(30),
        async || {
            seen = marker(&b, &dev, slug).await;
            seen == "v2"
        },
    )
    .await;
}

#[tokio::test]
async fn deleting_a_tool_stops_its_deployment_and_its_endpoint_answers_404() {
    let app = spawn_app_with(&[]).await;
    let dev = app.user("deletedev", "developer").await;
    let slug = "short-lived";
    let (tool_path, id) = deploy_first_version(&app, &dev, slug, "gone").await;
    assert_eq!(marker(&app, &dev, slug).await, "gone");
    let pid = {
        let reply = app
            .post(
                &format!("/mcp/{slug}/v1/tools/whoami"),
                Some(&dev.access_token),
                json!({}),
            )
            .await;
        let text = reply.body["content"][0]["text"].as_str().unwrap_or("null");
        serde_json::from_str::<Value>(text).expect("JSON")["pid"]
            .as_u64()
            .expect("pid")
    };

    assert_eq!(
        app.delete(&tool_path, Some(&dev.access_token)).await.status,
        204
    );
    let d = app
        .get(
            &format!("/api/v1/deployments/{id}"),
            Some(&dev.access_token),
        )
        .await;
    assert_eq!(d.body["status"], "stopped", "{}", d.text);
    poll_until("the child is gone", Duration::from_secs(10), async || {
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
    })
    .await;
    let call = app
        .post(
            &format!("/mcp/{slug}"),
            Some(&dev.access_token),
            json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}),
        )
        .await;
    assert_eq!(call.status, 404, "{}", call.text);
}
