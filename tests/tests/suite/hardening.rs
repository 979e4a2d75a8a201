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

/// `POST path` with `body` sent as `content_type` (`None`: no header).
async fn post_as(
    app: &TestApp,
    path: &str,
    token: Option<&str>,
    content_type: Option<&str>,
    body: &str,
) -> (u16, serde_json::Value) {
    let mut req = app.client.post(app.url(path)).body(body.to_owned());
    if let Some(t) = content_type {
        req = req.header("content-type", t);
    }
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let resp = req.send().await.expect("sent");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or_default())
}

#[tokio::test]
async fn bodies_that_do_not_say_they_are_json_are_415_and_change_nothing() {
    let app = spawn_app().await;
    let dev = app.user("typist", "developer").await;
    let register =
        r#"{"username":"formuser","email":"f@example.com","password":"long-enough-password"}"#;
    for sent in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        Some("application/jsonp"),
        None,
    ] {
        let (status, body) = post_as(&app, "/api/v1/auth/register", None, sent, register).await;
        assert_eq!(
            (status, body["error_code"].as_str()),
            (415, Some("UNSUPPORTED_MEDIA_TYPE")),
            "{sent:?}: {body}"
        );
        let tool = mcp_platform_tests::tool_body("typed").to_string();
        let (status, _) = post_as(&app, "/api/v1/mcps", Some(&dev.access_token), sent, &tool).await;
        assert_eq!(status, 415, "{sent:?} on a signed-in route");
    }
    let login = json!({"username": "formuser", "password": "long-enough-password"});
    let refused = app.post("/api/v1/auth/login", None, login).await;
    assert_eq!(
        refused.status, 401,
        "no account came of it: {}",
        refused.text
    );
    for declared in [
        "application/json; charset=utf-8",
        "application/vnd.api+json",
    ] {
        let body = register
            .replace("formuser", &format!("u{}", declared.len()))
            .replace("f@", &format!("f{}@", declared.len()));
        let (status, reply) =
            post_as(&app, "/api/v1/auth/register", None, Some(declared), &body).await;
        assert_eq!(status, 201, "{declared}: {reply}");
    }
}

#[tokio::test]
async fn names_and_descriptions_that_could_spoof_are_refused_and_text_is_nfc() {
    let app = spawn_app().await;
    let dev = app.user("spoofer", "developer").await;
    let with = |field: &str, value: serde_json::Value| {
        let mut body =
            mcp_platform_tests::tool_body(&format!("spoof-{}", uuid::Uuid::new_v4().simple()));
        match field {
            "tool" => body["config"]["tools"][0]["name"] = value,
            "tool_description" => body["config"]["tools"][0]["description"] = value,
            _ => body[field] = value,
        }
        body
    };
    for (field, value, loc) in [
        ("name", "Weather\u{202E}rehtaeW", "body.name"),
        ("name", "Wea\u{200B}ther", "body.name"),
        ("name", "<b>Weather</b>", "body.name"),
        (
            "description",
            "Safe\u{2066} hidden\u{2069}",
            "body.description",
        ),
        ("description", "\u{FEFF}Weather", "body.description"),
        ("tool", "get_\u{200D}weather", "body.config.tools.0.name"),
        ("tool", "<img src=x>", "body.config.tools.0.name"),
        (
            "tool_description",
            "reads \u{202D}files",
            "body.config.tools.0.description",
        ),
    ] {
        let reply = app
            .post(
                "/api/v1/mcps",
                Some(&dev.access_token),
                with(field, json!(value)),
            )
            .await;
        assert_eq!(reply.status, 422, "{value:?}: {}", reply.text);
        assert_eq!(
            mcp_platform_tests::error_locs(&reply),
            [loc],
            "{value:?}: {}",
            reply.text
        );
    }
    let decomposed = app
        .post(
            "/api/v1/mcps",
            Some(&dev.access_token),
            with("name", json!("Cafe\u{0301} forecast")),
        )
        .await;
    assert_eq!(decomposed.status, 201, "{}", decomposed.text);
    assert_eq!(
        decomposed.body["name"], "Caf\u{00E9} forecast",
        "stored composed (NFC)"
    );
    let path = format!(
        "/api/v1/mcps/{}",
        decomposed.body["id"].as_str().expect("id")
    );
    let patched = app
        .patch(
            &path,
            Some(&dev.access_token),
            json!({"description": "a\u{200F}b"}),
        )
        .await;
    assert_eq!(
        mcp_platform_tests::error_locs(&patched),
        ["body.description"],
        "{}",
        patched.text
    );
}

#[tokio::test]
async fn the_data_directory_and_every_file_in_it_are_private() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    // The harness makes the directory 0755, as an operator's mkdir would.
    let dir = mcp_platform_tests::tempdir::TempDir::new();
    std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let app = mcp_platform_tests::spawn_app_in(dir, &[]).await;
    let dev = app.user("filer", "developer").await;
    app.create_tool(&dev.access_token, "written").await;
    let mode = |p: &std::path::Path| std::fs::metadata(p).expect("exists").mode() & 0o777;
    assert_eq!(mode(app.data_dir()), 0o700, "the data directory");
    let files: Vec<_> = std::fs::read_dir(app.data_dir())
        .expect("listed")
        .map(|e| e.expect("entry").path())
        .collect();
    if !mcp_platform_tests::backends::services_mode() {
        for name in [
            "mcp-platform.db",
            "mcp-platform.db-wal",
            "mcp-platform.db-shm",
        ] {
            assert!(
                files.iter().any(|f| f.ends_with(name)),
                "{name} in {files:?}"
            );
        }
    }
    assert!(!files.is_empty(), "the secret at least");
    for file in &files {
        assert_eq!(mode(file), 0o600, "{}", file.display());
    }
}
