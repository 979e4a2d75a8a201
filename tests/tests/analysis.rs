//! The offline analyser against the running platform: configs it generates
//! from requirements are accepted by `POST /api/v1/mcps` as they are (SPEC
//! §3 "AI analysis": generate-config "passes the same validation as POST
//! /mcps"), and the stored tool reads back for review.

use mcp_platform::analysis::{LlmProvider, OfflineAnalyser, ToolUnderReview};
use mcp_platform_tests::spawn_app;
use serde_json::{json, Value};

const REQUIREMENTS: &[&str] = &[
    "a tool that reads GitHub issues and posts Slack messages, runs with npx",
    "Python server that searches Jira tickets and comments on them",
    "run it in docker: create Linear issues, update them and list pull requests on GitHub",
    "a remote server hosted at https://mcp.acme.example/mcp that gets the weather forecast",
    "read files, write files and delete old files in a folder",
    "query the postgres database and send an e-mail with the results",
    "list calendar events and schedule new events",
    "fetch web pages and summarise them",
    "translate poems into Klingon",
    "",
];

#[tokio::test]
async fn generated_configs_are_accepted_by_post_mcps() {
    let app = spawn_app().await;
    let dev = app.user("generator", "developer").await;
    let analyser = OfflineAnalyser::new();

    for (i, requirements) in REQUIREMENTS.iter().enumerate() {
        let config = analyser
            .generate_config(requirements)
            .await
            .expect("the offline analyser always generates");
        let name = config["name"].as_str().expect("generated name");
        // Slugs are unique platform-wide; two requirements may name the same services.
        let slug = format!("{name}-{i}");
        let body = json!({
            "name": format!("Generated {name}"),
            "slug": slug,
            "description": config["description"],
            "version": "0.1.0",
            "config": config,
        });
        let reply = app
            .post("/api/v1/mcps", Some(&dev.access_token), body)
            .await;
        assert_eq!(
            reply.status, 201,
            "POST /mcps rejected the config generated for {requirements:?}: {}",
            reply.text
        );
        assert_eq!(
            reply.body["config"], config,
            "the config is stored as generated"
        );

        // The stored tool, read back, is what an improvements job reviews.
        let id = reply.body["id"].as_str().expect("tool id");
        let stored = app
            .get(&format!("/api/v1/mcps/{id}"), Some(&dev.access_token))
            .await;
        assert_eq!(stored.status, 200, "{}", stored.text);
        let tool = ToolUnderReview {
            name: stored.body["name"].as_str().unwrap_or_default().to_owned(),
            slug: stored.body["slug"].as_str().unwrap_or_default().to_owned(),
            description: stored.body["description"].as_str().map(str::to_owned),
            version: stored.body["version"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            config: stored.body["config"].clone(),
        };
        let items = analyser.improvements(&tool).await.expect("improvements");
        assert!(!items.is_empty(), "at least one improvement");
        let feasibility = analyser
            .feasibility(&stored.body["config"])
            .await
            .expect("feasibility");
        assert!(
            feasibility.is_feasible,
            "{requirements:?}: {}",
            feasibility.reasoning
        );
    }
}

#[tokio::test]
async fn what_post_mcps_rejects_the_analyser_reports_at_the_same_place() {
    let app = spawn_app().await;
    let dev = app.user("checker", "developer").await;
    let config: Value = json!({
        "runtime": {"transport": "stdio", "args": [1]},
        "tools": [{"name": "ok", "description": "Does the right thing well.", "inputSchema": {"type": "object"}}]
    });
    let reply = app
        .post(
            "/api/v1/mcps",
            Some(&dev.access_token),
            json!({"name": "Bad", "slug": "bad-config", "version": "1.0.0", "config": config}),
        )
        .await;
    assert_eq!(reply.status, 422, "{}", reply.text);
    let rejected: Vec<String> = mcp_platform_tests::error_locs(&reply)
        .into_iter()
        .filter_map(|loc| loc.strip_prefix("body.config.").map(str::to_owned))
        .collect();
    assert!(!rejected.is_empty(), "{}", reply.text);

    let f = OfflineAnalyser::new()
        .feasibility(&config)
        .await
        .expect("feasibility");
    for loc in rejected {
        let pointer = format!("/{}", loc.replace('.', "/"));
        assert!(
            f.risks.iter().any(|r| r.location == pointer),
            "POST /mcps rejects {pointer}, the analyser should report it: {:#?}",
            f.risks
        );
    }
    assert!(f.score < 1.0);
}
