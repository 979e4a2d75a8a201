use mcp_platform_tests::spawn_app;

#[tokio::test]
async fn health_reports_every_configured_backend() {
    let app = spawn_app().await;
    let reply = app.get("/health", None).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let checks = reply.body["checks"].as_object().expect("checks");
    for name in mcp_platform_tests::backends::expected_health_checks() {
        assert_eq!(
            checks.get(name),
            Some(&serde_json::json!(true)),
            "{name}: {}",
            reply.text
        );
    }
    assert!(reply.header("x-request-id").is_some());
}

#[tokio::test]
async fn a_created_tool_reads_back_equal() {
    let app = spawn_app().await;
    let dev = app.user("dev1", "developer").await;
    let created = app.create_tool(&dev.access_token, "weather").await;
    let id = created["id"].as_str().expect("id");
    let read = app
        .get(&format!("/api/v1/mcps/{id}"), Some(&dev.access_token))
        .await;
    assert_eq!(read.status, 200);
    assert_eq!(read.body, created);
}
