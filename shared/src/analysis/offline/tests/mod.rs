//! The offline analyser's rules over good and bad configs, one file per
//! family of rules (as the analyser itself is split), scoring,
//! improvements and config generation. Here: the fixtures every family
//! uses, and the checks of the whole config and of the provider port.

mod generate;
mod improvements;
mod injection;
mod permissions;
mod runtime;
mod score;
mod tools;

use serde_json::{json, Value};

use super::*;
use crate::domain::{RiskCategory as C, Severity as S};
use crate::ports::LlmProvider;

/// A config a careful author would register: pinned package, secrets as
/// placeholders, documented tools and parameters, read-only capabilities.
fn clean_config() -> Value {
    json!({
        "description": "Reads issues of GitHub repositories for triage dashboards.",
        "runtime": {
            "transport": "stdio",
            "command": "npx",
            "args": ["-y", "@acme/github-issues-mcp@1.4.2"],
            "env": {"GITHUB_TOKEN": "${GITHUB_TOKEN}"}
        },
        "tools": [
            {
                "name": "list_issues",
                "description": "Lists open issues of a repository, newest first.",
                "inputSchema": {
                    "type": "object",
                    "properties": {
                        "owner": {"type": "string", "description": "Repository owner, e.g. octocat"},
                        "repo": {"type": "string", "description": "Repository name, e.g. hello-world"},
                        "limit": {"type": "integer", "minimum": 1, "maximum": 100, "description": "How many issues to return"}
                    },
                    "required": ["owner", "repo"]
                }
            },
            {
                "name": "get_issue",
                "description": "Gets one issue with its comments by number.",
                "inputSchema": {
                    "type": "object",
                    "properties": {
                        "owner": {"type": "string", "description": "Repository owner"},
                        "repo": {"type": "string", "description": "Repository name"},
                        "number": {"type": "integer", "description": "Issue number"}
                    },
                    "required": ["owner", "repo", "number"]
                }
            }
        ]
    })
}

/// `clean_config` with one tool replaced.
fn with_tool(tool: Value) -> Value {
    let mut c = clean_config();
    c["tools"] = json!([tool]);
    c
}

fn tool(name: &str, description: &str, properties: Value) -> Value {
    json!({
        "name": name,
        "description": description,
        "inputSchema": {"type": "object", "properties": properties}
    })
}

fn with_runtime(runtime: Value) -> Value {
    let mut c = clean_config();
    c["runtime"] = runtime;
    c
}

fn stdio(command: &str, args: &[&str], env: Value) -> Value {
    json!({"transport": "stdio", "command": command, "args": args, "env": env})
}

/// The findings of `category`, as (location, severity).
fn found(config: &Value, category: RiskCategory) -> Vec<(String, Severity)> {
    review(config)
        .into_iter()
        .filter(|r| r.category == category)
        .map(|r| (r.location, r.severity))
        .collect()
}

#[track_caller]
fn assert_finding(config: &Value, category: RiskCategory, location: &str, severity: Severity) {
    let all = review(config);
    assert!(
        all.iter()
            .any(|r| r.category == category && r.location == location && r.severity == severity),
        "expected {category:?}/{severity:?} at {location:?}, got {all:#?}"
    );
}

#[track_caller]
fn assert_none(config: &Value, category: RiskCategory) {
    let hits = found(config, category);
    assert!(hits.is_empty(), "expected no {category:?}, got {hits:?}");
}

const FAKE_OPENAI: &str = "sk-proj-4f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c";
const FAKE_GITHUB: &str = "ghp_aB3dE5gH7jK9mN1pQ3sT5vX7zA9cE1gI3kM5";
const FAKE_AWS: &str = "AKIAIOSFODNN7EXAMPLE";

fn under_review(config: Value, description: Option<&str>) -> ToolUnderReview {
    ToolUnderReview {
        name: "GitHub issues".into(),
        slug: "github-issues".into(),
        description: description.map(str::to_owned),
        version: "1.0.0".into(),
        config,
    }
}

// ---------------------------------------------------------------------------
// A clean config
// ---------------------------------------------------------------------------

#[test]
fn a_clean_config_has_no_findings_and_scores_one() {
    let risks = review(&clean_config());
    assert!(risks.is_empty(), "unexpected findings: {risks:#?}");
    let f = assess(&clean_config());
    assert_eq!(f.score, 1.0);
    assert!(f.is_feasible, "{}", f.reasoning);
    assert!(f.recommendations.is_empty());
    assert!(f.reasoning.contains("No problems found"), "{}", f.reasoning);
}

// ---------------------------------------------------------------------------
// Structure
// ---------------------------------------------------------------------------

#[test]
fn a_config_that_is_not_an_object_is_critical() {
    for bad in [json!([]), json!("x"), json!(null), json!(3)] {
        let f = assess(&bad);
        assert!(!f.is_feasible);
        assert_eq!(f.risks.len(), 1, "{:?}", f.risks);
        assert_eq!(f.risks[0].location, "");
        assert_eq!(f.risks[0].severity, S::Critical);
    }
}

#[test]
fn post_mcps_validation_errors_become_schema_findings() {
    let cfg = with_runtime(json!({"transport": "ftp"}));
    assert_finding(&cfg, C::Schema, "/runtime/transport", S::High);
    let cfg = json!({"runtime": {"transport": "stdio"}, "tools": [{"description": 5}]});
    assert_finding(&cfg, C::Schema, "/runtime/command", S::High);
    assert_finding(&cfg, C::Schema, "/tools/0/name", S::High);
}

#[test]
fn missing_runtime_and_missing_tools_are_reported() {
    let mut cfg = clean_config();
    cfg.as_object_mut().expect("object").remove("runtime");
    assert_finding(&cfg, C::Schema, "/runtime", S::Low);
    let mut cfg = clean_config();
    cfg.as_object_mut().expect("object").remove("tools");
    assert_finding(&cfg, C::Schema, "/tools", S::Medium);
    let mut cfg = clean_config();
    cfg["tools"] = json!([]);
    assert_finding(&cfg, C::Schema, "/tools", S::Medium);
}

#[tokio::test]
async fn the_provider_answers_through_the_port() {
    let provider: Box<dyn LlmProvider> = Box::new(OfflineAnalyser::new());
    assert_eq!(provider.name(), "offline");
    let f = provider
        .feasibility(&clean_config())
        .await
        .expect("feasibility");
    assert_eq!(f, assess(&clean_config()));
    let cfg = provider
        .generate_config("reads GitHub issues")
        .await
        .expect("config");
    assert_eq!(cfg, generate("reads GitHub issues"));
    let items = provider
        .improvements(&under_review(cfg, None))
        .await
        .expect("improvements");
    assert!(!items.is_empty());
    let json = serde_json::to_value(&f).expect("serialises");
    assert!(
        json["score"].is_number() && json["is_feasible"].is_boolean() && json["risks"].is_array()
    );
    let risky = provider
        .feasibility(&with_runtime(stdio("sh", &["-c", "x"], json!({}))))
        .await
        .expect("feasibility");
    let r = serde_json::to_value(&risky.risks[0]).expect("serialises");
    assert_eq!(r["category"], "shell_execution");
    assert_eq!(r["severity"], "high");
    assert_eq!(r["location"], "/runtime/command");
}
