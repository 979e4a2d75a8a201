//! Secrets in tool configurations (`runtime.env`, `runtime.headers`) are
//! read only by the tool's author and admins; every other reader sees the
//! names with masked values, in every route that returns a configuration.

use mcp_platform_tests::{spawn_app, tool_body};
use serde_json::json;

const SECRET: &str = "sk-live-very-secret-123";
const ROTATED: &str = "sk-live-rotated-456";

#[tokio::test]
async fn only_the_author_and_admins_read_configuration_secrets() {
    let app = spawn_app().await;
    let author = app.user("author", "developer").await;
    let other = app.user("other", "developer").await;
    let viewer = app.user("viewer", "viewer").await;
    let admin = app.admin("admin").await;

    let mut body = tool_body("vault");
    body["config"]["runtime"]["env"] = json!({"API_KEY": SECRET});
    let created = app
        .post("/api/v1/mcps", Some(&author.access_token), body)
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.body["id"].as_str().expect("id").to_owned();
    let update = app
        .patch(
            &format!("/api/v1/mcps/{id}"),
            Some(&author.access_token),
            json!({"config": {"runtime": {"transport": "streamable-http", "url": "https://mcp.example.com/mcp",
                "headers": {"Authorization": format!("Bearer {ROTATED}")}}}}),
        )
        .await;
    assert_eq!(update.status, 200, "{}", update.text);

    let routes = [
        format!("/api/v1/mcps/{id}"),
        "/api/v1/mcps/by-slug/vault".to_owned(),
        "/api/v1/mcps?q=vault".to_owned(),
        format!("/api/v1/mcps/{id}/history"),
    ];
    for (who, token) in [
        ("another developer", &other.access_token),
        ("a viewer", &viewer.access_token),
    ] {
        for route in &routes {
            // Twice: the second read of a tool comes from the cache.
            for _ in 0..2 {
                let reply = app.get(route, Some(token)).await;
                assert_eq!(reply.status, 200, "{who} reads {route}: {}", reply.text);
                assert!(
                    !reply.text.contains(SECRET) && !reply.text.contains(ROTATED),
                    "{who} must not read the secrets at {route}: {}",
                    reply.text
                );
            }
        }
        let history = app
            .get(&format!("/api/v1/mcps/{id}/history"), Some(token))
            .await;
        let oldest = &history.body["versions"][1];
        assert_eq!(
            oldest["config"]["runtime"]["env"]["API_KEY"], "********",
            "names stay, values are masked"
        );
    }
    for (who, token) in [
        ("the author", &author.access_token),
        ("an admin", &admin.access_token),
    ] {
        let tool = app.get(&format!("/api/v1/mcps/{id}"), Some(token)).await;
        assert!(
            tool.text.contains(ROTATED),
            "{who} reads the current secret: {}",
            tool.text
        );
        let history = app
            .get(&format!("/api/v1/mcps/{id}/history"), Some(token))
            .await;
        assert!(
            history.text.contains(SECRET),
            "{who} reads secrets in history: {}",
            history.text
        );
    }
}
