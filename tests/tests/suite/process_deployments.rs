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
