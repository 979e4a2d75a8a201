//! Config generation from requirements.

use proptest::prelude::*;

use super::*;
use crate::domain::{Slug, ToolConfig};

// ---------------------------------------------------------------------------
// Generation
// ---------------------------------------------------------------------------

fn tool_names(cfg: &Value) -> Vec<&str> {
    cfg["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .map(|t| t["name"].as_str().expect("name"))
        .collect()
}

#[test]
fn the_issue_example_gives_github_and_slack_tools_run_with_npx() {
    let cfg = generate("a tool that reads GitHub issues and posts Slack messages, runs with npx");
    assert_eq!(
        tool_names(&cfg),
        ["list_github_issues", "post_slack_message"]
    );
    assert_eq!(cfg["name"], "github-slack");
    assert_eq!(cfg["runtime"]["transport"], "stdio");
    assert_eq!(cfg["runtime"]["command"], "npx");
    assert_eq!(
        cfg["runtime"]["env"],
        json!({"GITHUB_TOKEN": "${GITHUB_TOKEN}", "SLACK_BOT_TOKEN": "${SLACK_BOT_TOKEN}"})
    );
    let list = &cfg["tools"][0]["inputSchema"];
    assert_eq!(list["required"], json!(["owner", "repo"]));
    assert_eq!(
        list["properties"]["state"]["enum"],
        json!(["open", "closed", "all"])
    );
    let post = &cfg["tools"][1]["inputSchema"];
    assert_eq!(post["required"], json!(["channel", "text"]));
    assert_eq!(cfg["tools"][0]["annotations"]["readOnlyHint"], true);
    assert_eq!(cfg["tools"][1]["annotations"]["readOnlyHint"], false);
}

#[test]
fn the_runtime_follows_the_requirements() {
    let cfg = generate("Python server that searches Jira tickets");
    assert_eq!(cfg["runtime"]["command"], "uvx");
    assert_eq!(tool_names(&cfg), ["search_jira_tickets"]);
    let cfg = generate("run it in docker: create Linear issues and update them");
    assert_eq!(cfg["runtime"]["command"], "docker");
    assert_eq!(
        tool_names(&cfg),
        ["create_linear_issue", "update_linear_issue"]
    );
    let args = cfg["runtime"]["args"].as_array().expect("args");
    assert!(args.contains(&json!("LINEAR_API_KEY")), "{args:?}");
    let cfg = generate(
        "a remote server hosted at https://mcp.acme.example/mcp that gets the weather forecast",
    );
    assert_eq!(
        cfg["runtime"],
        json!({"transport": "streamable-http", "url": "https://mcp.acme.example/mcp"})
    );
    assert_eq!(tool_names(&cfg), ["get_weather_forecast"]);
}

#[test]
fn files_databases_and_unknown_requests_get_sensible_tools() {
    let cfg = generate("read files, write files and delete old files in a folder");
    assert_eq!(tool_names(&cfg), ["read_file", "write_file", "delete_file"]);
    let cfg = generate("query the postgres database");
    assert_eq!(tool_names(&cfg), ["query_database"]);
    assert_eq!(
        cfg["runtime"]["env"],
        json!({"DATABASE_URL": "${DATABASE_URL}"})
    );
    let cfg = generate("translate poems into Klingon");
    assert_eq!(cfg["name"], "translate-poems-klingon");
    assert_eq!(tool_names(&cfg), ["translate_poems_klingon"]);
    let cfg = generate("");
    assert_eq!(cfg["name"], "custom-tool");
    assert_eq!(tool_names(&cfg).len(), 1);
    let cfg = generate("GitHub integration");
    assert_eq!(tool_names(&cfg), ["list_github_issues"]);
}

const REQUIREMENTS: &[&str] = &[
    "a tool that reads GitHub issues and posts Slack messages, runs with npx",
    "Python server that searches Jira tickets and comments on them",
    "run it in docker: create Linear issues, update them and list pull requests on GitHub",
    "a remote server hosted at https://mcp.acme.example/mcp that gets the weather forecast",
    "read files and write files in a folder",
    "query the postgres database and send an e-mail with the results",
    "list calendar events and schedule new events",
    "fetch web pages and summarise them",
    "translate poems into Klingon",
    "upload files to an S3 bucket and list objects",
    "Notion: search pages, create pages",
    "check Stripe payments",
];

#[test]
fn generated_configs_are_valid_schemas_without_serious_findings() {
    for req in REQUIREMENTS {
        let cfg = generate(req);
        assert!(ToolConfig::parse(&cfg, &["config"]).is_ok(), "{req}: {cfg}");
        for t in cfg["tools"].as_array().expect("tools") {
            assert!(
                jsonschema::meta::validate(&t["inputSchema"]).is_ok(),
                "{req}: {t}"
            );
        }
        let names = tool_names(&cfg);
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(
            unique.len(),
            names.len(),
            "{req}: duplicate names {names:?}"
        );
        let f = assess(&cfg);
        assert!(f.is_feasible, "{req}: {}", f.reasoning);
        let serious: Vec<&Risk> = f
            .risks
            .iter()
            .filter(|r| r.severity >= S::High && r.category != C::FilesystemWrite)
            .collect();
        assert!(serious.is_empty(), "{req}: {serious:#?}");
        assert!(
            found(&cfg, C::Documentation).is_empty(),
            "{req}: {:#?}",
            found(&cfg, C::Documentation)
        );
        assert!(
            found(&cfg, C::Schema).is_empty(),
            "{req}: {:#?}",
            found(&cfg, C::Schema)
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn generated_configs_pass_post_mcps_validation(requirements in "\\PC{0,200}") {
        let cfg = generate(&requirements);
        prop_assert!(ToolConfig::parse(&cfg, &["config"]).is_ok(), "{}", cfg);
        let name = cfg["name"].as_str().unwrap_or_default();
        prop_assert!(Slug::parse(name).is_ok(), "slug {:?}", name);
        prop_assert_eq!(&generate(&requirements), &cfg, "deterministic");
    }
}
