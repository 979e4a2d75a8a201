//! Who may deploy a process runtime, and deployment configs that are
//! refused rather than silently ignored: `deployments:process` (admins;
//! developers unless `PROCESS_DEPLOYMENTS_FOR_DEVELOPERS=false`), the
//! `PROCESS_ALLOWED_COMMANDS` allow-list, a command that does not exist,
//! and `replicas` above one.

use mcp_platform_tests::{error_locs, spawn_app_with, TestApp, TestUser};
use serde_json::{json, Value};

fn stdio_tool(slug: &str, command: &str) -> Value {
    json!({
        "name": format!("Process {slug}"),
        "slug": slug,
        "version": "1.0.0",
        "config": {"runtime": {"transport": "stdio", "command": command, "args": ["-c", "true"]}},
    })
}

async fn deploy(
    app: &TestApp,
    who: &TestUser,
    slug: &str,
    command: &str,
    config: Value,
) -> mcp_platform_tests::Reply {
    app.deploy_tool(
        &who.access_token,
        stdio_tool(slug, command),
        json!({"config": config}),
    )
    .await
}

#[tokio::test]
async fn a_developer_without_deployments_process_is_refused_naming_it() {
    let app = spawn_app_with(&[("PROCESS_DEPLOYMENTS_FOR_DEVELOPERS", "false")]).await;
    let dev = app.user("procdev", "developer").await;
    let refused = deploy(&app, &dev, "proc-dev", "sh", json!({})).await;
    assert_eq!(refused.status, 403, "{}", refused.text);
    assert_eq!(
        refused.body["required_permission"], "deployments:process",
        "{}",
        refused.text
    );
    let admin = app.admin("procadmin").await;
    let allowed = deploy(&app, &admin, "proc-admin", "sh", json!({})).await;
    assert_eq!(allowed.status, 201, "admins hold it: {}", allowed.text);
}

#[tokio::test]
async fn commands_outside_the_allow_list_and_missing_commands_are_422_naming_the_command() {
    let app = spawn_app_with(&[("PROCESS_ALLOWED_COMMANDS", "true, /bin/sh")]).await;
    let dev = app.user("allowdev", "developer").await;
    let outside = deploy(&app, &dev, "proc-outside", "env", json!({})).await;
    assert_eq!(outside.status, 422, "{}", outside.text);
    assert_eq!(
        error_locs(&outside),
        ["tool.config.runtime.command"],
        "{}",
        outside.text
    );
    assert!(
        outside.text.contains("PROCESS_ALLOWED_COMMANDS"),
        "{}",
        outside.text
    );
    let missing = deploy(
        &app,
        &dev,
        "proc-missing",
        "no-such-command-anywhere",
        json!({}),
    )
    .await;
    assert_eq!(missing.status, 422, "{}", missing.text);
    assert_eq!(error_locs(&missing), ["tool.config.runtime.command"]);
    // `sh` resolves (on PATH) to the listed /bin/sh or its real path.
    let listed = deploy(&app, &dev, "proc-listed", "sh", json!({})).await;
    assert_eq!(listed.status, 201, "a listed command runs: {}", listed.text);
}

#[tokio::test]
async fn more_than_one_replica_is_refused_not_ignored() {
    let app = spawn_app_with(&[]).await;
    let dev = app.user("repdev", "developer").await;
    let refused = deploy(&app, &dev, "proc-replicas", "sh", json!({"replicas": 2})).await;
    assert_eq!(refused.status, 422, "{}", refused.text);
    assert_eq!(error_locs(&refused), ["body.config"], "{}", refused.text);
    assert!(refused.text.contains("replicas"), "{}", refused.text);
}

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
