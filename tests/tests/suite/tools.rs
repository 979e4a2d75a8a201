//! The tool registry over HTTP: create, read, list with filters and
//! pagination, partial updates, soft delete, history, restore and the read
//! cache (SPEC §3 "MCP tools", §5 items 1–4).

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use mcp_platform::domain::{Principal, Role, ToolName};
use mcp_platform::ports::{Cache, Ping};
use mcp_platform::registry::{self, ToolPatch};
use tokio::sync::{oneshot, Mutex};

use mcp_platform_tests::{spawn_app, tool_body, Reply, TestApp};
use serde_json::{json, Value};

fn id_of(tool: &Value) -> String {
    tool["id"]
        .as_str()
        .expect("tool has a string id")
        .to_owned()
}

fn slugs(reply: &Reply) -> BTreeSet<String> {
    reply.body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("list has items: {}", reply.text))
        .iter()
        .map(|t| t["slug"].as_str().expect("item has a slug").to_owned())
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// Lists with `query` and returns the reply, asserting it is a 200.
async fn list(app: &TestApp, token: &str, query: &str) -> Reply {
    let reply = app.get(&format!("/api/v1/mcps?{query}"), Some(token)).await;
    assert_eq!(reply.status, 200, "list ?{query}: {}", reply.text);
    reply
}

async fn create_with(app: &TestApp, token: &str, body: Value) -> Value {
    let reply = app.post("/api/v1/mcps", Some(token), body).await;
    assert_eq!(reply.status, 201, "create: {}", reply.text);
    reply.body
}

async fn history(app: &TestApp, token: &str, id: &str) -> Vec<Value> {
    let reply = app
        .get(&format!("/api/v1/mcps/{id}/history"), Some(token))
        .await;
    assert_eq!(reply.status, 200, "history: {}", reply.text);
    reply.body["versions"]
        .as_array()
        .expect("history has a versions list")
        .clone()
}

// ---------------------------------------------------------------- create/read

#[tokio::test]
async fn a_created_tool_is_a_draft_and_reads_back_equal_by_id_and_by_slug() {
    let app = spawn_app().await;
    let dev = app.user("dev1", "developer").await;
    let body = tool_body("weather");
    let reply = app
        .post("/api/v1/mcps", Some(&dev.access_token), body.clone())
        .await;
    assert_eq!(reply.status, 201, "create answers 201: {}", reply.text);
    let created = reply.body;
    assert_eq!(created["status"], "draft", "a new tool starts as draft");
    for field in ["name", "slug", "description", "version", "config", "tags"] {
        assert_eq!(
            created[field], body[field],
            "created {field} echoes the request"
        );
    }
    assert_eq!(
        created["author_id"],
        dev.id.as_str(),
        "the creator is the author"
    );

    let id = id_of(&created);
    let by_id = app
        .get(&format!("/api/v1/mcps/{id}"), Some(&dev.access_token))
        .await;
    assert_eq!(by_id.status, 200, "{}", by_id.text);
    assert_eq!(by_id.body, created, "GET by id equals the create response");

    let by_slug = app
        .get("/api/v1/mcps/by-slug/weather", Some(&dev.access_token))
        .await;
    assert_eq!(by_slug.status, 200, "{}", by_slug.text);
    assert_eq!(
        by_slug.body, created,
        "GET by slug equals the create response"
    );
}

#[tokio::test]
async fn a_duplicate_slug_of_a_live_tool_is_a_409_conflict() {
    let app = spawn_app().await;
    let dev = app.user("dev1", "developer").await;
    app.create_tool(&dev.access_token, "weather").await;
    let again = app
        .post(
            "/api/v1/mcps",
            Some(&dev.access_token),
            tool_body("weather"),
        )
        .await;
    assert_eq!(again.status, 409, "{}", again.text);
    assert_eq!(again.body["error_code"], "CONFLICT");
    assert_eq!(again.body["resource_type"], "mcp_tool");
}

#[tokio::test]
async fn an_unknown_id_is_404_naming_the_tool() {
    let app = spawn_app().await;
    let dev = app.user("dev1", "developer").await;
    let id = uuid::Uuid::new_v4();
    let reply = app
        .get(&format!("/api/v1/mcps/{id}"), Some(&dev.access_token))
        .await;
    assert_eq!(reply.status, 404, "{}", reply.text);
    assert_eq!(reply.body["error_code"], "NOT_FOUND");
    assert_eq!(reply.body["resource_type"], "mcp_tool");
    assert_eq!(reply.body["resource_id"], id.to_string());
}

#[tokio::test]
async fn a_malformed_id_is_422_naming_the_path_segment() {
    let app = spawn_app().await;
    let dev = app.user("dev1", "developer").await;
    let reply = app
        .get("/api/v1/mcps/not-a-uuid", Some(&dev.access_token))
        .await;
    assert_eq!(reply.status, 422, "{}", reply.text);
    assert_eq!(reply.body["detail"][0]["loc"], json!(["path", "id"]));
}

// ---------------------------------------------------------------- list

#[tokio::test]
async fn the_status_filter_returns_only_tools_in_that_status() {
    let app = spawn_app().await;
    let dev = app.user("dev1", "developer").await;
    let t = &dev.access_token;
    let a = app.create_tool(t, "alpha").await;
    app.create_tool(t, "beta").await;
    let c = app.create_tool(t, "gamma").await;
    for (tool, status) in [(&a, "active"), (&c, "deprecated")] {
        let r = app
            .patch(
                &format!("/api/v1/mcps/{}", id_of(tool)),
                Some(t),
                json!({"status": status}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    assert_eq!(
        slugs(&list(&app, t, "status=active").await),
        set(&["alpha"])
    );
    assert_eq!(slugs(&list(&app, t, "status=draft").await), set(&["beta"]));
    assert_eq!(
        slugs(&list(&app, t, "status=deprecated").await),
        set(&["gamma"])
    );
    let unknown = app.get("/api/v1/mcps?status=retired", Some(t)).await;
    assert_eq!(
        unknown.status, 422,
        "an unknown status is refused: {}",
        unknown.text
    );
    assert_eq!(unknown.body["detail"][0]["loc"], json!(["query", "status"]));
}

#[tokio::test]
async fn the_author_filter_returns_only_that_authors_tools() {
    let app = spawn_app().await;
    let ada = app.user("ada", "developer").await;
    let bob = app.user("bob", "developer").await;
    app.create_tool(&ada.access_token, "ada-one").await;
    app.create_tool(&ada.access_token, "ada-two").await;
    app.create_tool(&bob.access_token, "bob-one").await;
    let t = &ada.access_token;
    assert_eq!(
        slugs(&list(&app, t, &format!("author_id={}", ada.id)).await),
        set(&["ada-one", "ada-two"])
    );
    assert_eq!(
        slugs(&list(&app, t, &format!("author_id={}", bob.id)).await),
        set(&["bob-one"])
    );
    let bad = app.get("/api/v1/mcps?author_id=bob", Some(t)).await;
    assert_eq!(
        bad.status, 422,
        "a non-UUID author is refused: {}",
        bad.text
    );
}

#[tokio::test]
async fn the_tag_filter_returns_only_tools_carrying_that_tag() {
    let app = spawn_app().await;
    let dev = app.user("dev1", "developer").await;
    let t = &dev.access_token;
    for (slug, tags) in [
        ("one", json!(["weather", "api"])),
        ("two", json!(["api"])),
        ("three", json!(["files"])),
    ] {
        let mut body = tool_body(slug);
        body["tags"] = tags;
        create_with(&app, t, body).await;
    }
    assert_eq!(slugs(&list(&app, t, "tag=api").await), set(&["one", "two"]));
    assert_eq!(slugs(&list(&app, t, "tag=weather").await), set(&["one"]));
    assert_eq!(slugs(&list(&app, t, "tag=nothing").await), set(&[]));
}

#[tokio::test]
async fn q_matches_name_or_description_case_insensitively() {
    let app = spawn_app().await;
    let dev = app.user("dev1", "developer").await;
    let t = &dev.access_token;
    for (slug, name, description) in [
        ("by-name", "Weather Forecast", "Numbers"),
        ("by-description", "Reporter", "Reads the WEATHER station"),
        ("neither", "Calculator", "Adds numbers"),
    ] {
        let mut body = tool_body(slug);
        body["name"] = json!(name);
        body["description"] = json!(description);
        create_with(&app, t, body).await;
    }
    assert_eq!(
        slugs(&list(&app, t, "q=weather").await),
        set(&["by-name", "by-description"]),
        "q matches the name or the description, ignoring case"
    );
    assert_eq!(slugs(&list(&app, t, "q=FORECAST").await), set(&["by-name"]));
    assert_eq!(
        slugs(&list(&app, t, "q=numbers").await),
        set(&["by-name", "neither"])
    );
}

/// SQLite's `LOWER()` folds ASCII only; case folding must not stop there.
#[tokio::test]
async fn q_ignores_case_of_non_ascii_letters_too() {
    let app = spawn_app().await;
    let dev = app.user("dev1", "developer").await;
    let t = &dev.access_token;
    let mut body = tool_body("cafe");
    body["name"] = json!("ÉCOLE Helper");
    create_with(&app, t, body).await;
    assert_eq!(
        slugs(&list(&app, t, "q=%C3%A9cole").await),
        set(&["cafe"]),
        "q=école matches the name ÉCOLE Helper"
    );
}

#[tokio::test]
async fn like_wildcards_in_q_are_matched_literally() {
    let app = spawn_app().await;
    let dev = app.user("dev1", "developer").await;
    let t = &dev.access_token;
    for (slug, name) in [
        ("percent", "100% uptime"),
        ("plain", "100 uptime"),
        ("underscore", "snake_case tool"),
        ("backslash", r"dir\path tool"),
        ("bang", "wow! tool"),
    ] {
        let mut body = tool_body(slug);
        body["name"] = json!(name);
        body["description"] = json!("no wildcards here");
        create_with(&app, t, body).await;
    }
    // `%25` is `%` in the query string.
    assert_eq!(
        slugs(&list(&app, t, "q=%25").await),
        set(&["percent"]),
        "% only matches a literal percent sign"
    );
    assert_eq!(slugs(&list(&app, t, "q=0%25%20u").await), set(&["percent"]));
    assert_eq!(
        slugs(&list(&app, t, "q=_").await),
        set(&["underscore"]),
        "_ only matches a literal underscore"
    );
    assert_eq!(
        slugs(&list(&app, t, "q=%5C").await),
        set(&["backslash"]),
        "a backslash is not an escape character for the caller"
    );
    assert_eq!(
        slugs(&list(&app, t, "q=%21").await),
        set(&["bang"]),
        "neither is an exclamation mark"
    );
}

#[tokio::test]
async fn a_list_page_has_items_total_page_page_size_and_pages() {
    let app = spawn_app().await;
    let dev = app.user("dev1", "developer").await;
    let t = &dev.access_token;
    for i in 0..5 {
        app.create_tool(t, &format!("tool-{i}")).await;
    }
    let mut seen = BTreeSet::new();
    for page in 1..=3 {
        let reply = list(&app, t, &format!("page={page}&page_size=2")).await;
        let body = &reply.body;
        assert_eq!(body["total"], 5, "total counts every match");
        assert_eq!(body["page"], page);
        assert_eq!(body["page_size"], 2);
        assert_eq!(body["pages"], 3, "pages = ceil(total / page_size)");
        let expected = if page == 3 { 1 } else { 2 };
        assert_eq!(
            body["items"].as_array().map(Vec::len),
            Some(expected),
            "page {page} holds {expected} items"
        );
        seen.extend(slugs(&reply));
    }
    assert_eq!(seen.len(), 5, "the pages together hold every tool once");

    let past_the_end = list(&app, t, "page=4&page_size=2").await;
    assert_eq!(past_the_end.body["items"], json!([]));
    assert_eq!(past_the_end.body["total"], 5);

    let default = list(&app, t, "").await;
    assert_eq!(default.body["page"], 1, "page defaults to 1");
    assert_eq!(default.body["page_size"], 20, "page_size defaults to 20");
}

#[tokio::test]
async fn a_page_size_over_100_or_a_page_below_1_is_422() {
    let app = spawn_app().await;
    let dev = app.user("dev1", "developer").await;
    let t = &dev.access_token;
    for (query, field) in [
        ("page_size=101", "page_size"),
        ("page_size=0", "page_size"),
        ("page=0", "page"),
        ("page=x", "page"),
    ] {
        let reply = app.get(&format!("/api/v1/mcps?{query}"), Some(t)).await;
        assert_eq!(reply.status, 422, "?{query}: {}", reply.text);
        assert_eq!(
            reply.body["detail"][0]["loc"],
            json!(["query", field]),
            "?{query}"
        );
    }
}

// ---------------------------------------------------------------- update

#[tokio::test]
async fn patch_changes_only_the_given_fields() {
    let app = spawn_app().await;
    let dev = app.user("dev1", "developer").await;
    let t = &dev.access_token;
    let before = app.create_tool(t, "weather").await;
    let id = id_of(&before);
    let reply = app
        .patch(
            &format!("/api/v1/mcps/{id}"),
            Some(t),
            json!({"name": "Weather v2", "version": "1.1.0"}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let after = reply.body;
    assert_eq!(after["name"], "Weather v2");
    assert_eq!(after["version"], "1.1.0");
    for field in [
        "id",
        "slug",
        "description",
        "config",
        "status",
        "tags",
        "author_id",
        "created_at",
    ] {
        assert_eq!(after[field], before[field], "PATCH left {field} alone");
    }
    let read = app.get(&format!("/api/v1/mcps/{id}"), Some(t)).await;
    assert_eq!(read.body, after, "GET shows what PATCH returned");
}

#[tokio::test]
async fn put_is_a_partial_update_too() {
    let app = spawn_app().await;
    let dev = app.user("dev1", "developer").await;
    let t = &dev.access_token;
    let before = app.create_tool(t, "weather").await;
    let id = id_of(&before);
    let config =
        json!({"runtime": {"transport": "streamable-http", "url": "https://mcp.example.com/mcp"}});
    let reply = app
        .send(
            "PUT",
            &format!("/api/v1/mcps/{id}"),
            Some(t),
            Some(json!({"config": config, "description": null})),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["config"], config);
    assert_eq!(
        reply.body["description"],
        Value::Null,
        "description: null clears it"
    );
    for field in ["name", "slug", "version", "status", "tags"] {
        assert_eq!(reply.body[field], before[field], "PUT left {field} alone");
    }
}

#[tokio::test]
async fn a_version_lower_than_the_current_one_is_422_naming_body_version() {
    let app = spawn_app().await;
    let dev = app.user("dev1", "developer").await;
    let t = &dev.access_token;
    let id = id_of(&app.create_tool(t, "weather").await);
    let up = app
        .patch(
            &format!("/api/v1/mcps/{id}"),
            Some(t),
            json!({"version": "2.0.0"}),
        )
        .await;
    assert_eq!(up.status, 200, "{}", up.text);
    for method in ["PATCH", "PUT"] {
        let down = app
            .send(
                method,
                &format!("/api/v1/mcps/{id}"),
                Some(t),
                Some(json!({"version": "1.9.9"})),
            )
            .await;
        assert_eq!(down.status, 422, "{method} backwards: {}", down.text);
        assert_eq!(down.body["error_code"], "VALIDATION_ERROR");
        assert_eq!(down.body["detail"][0]["loc"], json!(["body", "version"]));
    }
    let read = app.get(&format!("/api/v1/mcps/{id}"), Some(t)).await;
    assert_eq!(
        read.body["version"], "2.0.0",
        "a refused update changes nothing"
    );
    assert_eq!(
        history(&app, t, &id).await.len(),
        2,
        "a refused update records nothing"
    );
}

#[tokio::test]
async fn the_same_version_is_allowed_on_update() {
    let app = spawn_app().await;
    let dev = app.user("dev1", "developer").await;
    let t = &dev.access_token;
    let id = id_of(&app.create_tool(t, "weather").await);
    let reply = app
        .patch(
            &format!("/api/v1/mcps/{id}"),
            Some(t),
            json!({"version": "1.0.0", "name": "Renamed"}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["version"], "1.0.0");
    assert_eq!(reply.body["name"], "Renamed");
}

#[tokio::test]
async fn a_patch_that_changes_nothing_returns_200_and_adds_no_history() {
    let app = spawn_app().await;
    let dev = app.user("dev1", "developer").await;
    let t = &dev.access_token;
    let created = app.create_tool(t, "weather").await;
    let id = id_of(&created);
    let same = json!({
        "name": created["name"], "version": created["version"],
        "config": created["config"], "tags": created["tags"], "status": "draft"
    });
    for body in [json!({}), same] {
        let reply = app
            .patch(&format!("/api/v1/mcps/{id}"), Some(t), body.clone())
            .await;
        assert_eq!(reply.status, 200, "no-op {body}: {}", reply.text);
        assert_eq!(reply.body, created, "a no-op returns the tool unchanged");
    }
    assert_eq!(
        history(&app, t, &id).await.len(),
        1,
        "a no-op PATCH appends no history record (registry.rs documents this)"
    );
}

// ---------------------------------------------------------------- delete

#[tokio::test]
async fn delete_is_204_and_the_tool_is_404_afterwards() {
    let app = spawn_app().await;
    let dev = app.user("dev1", "developer").await;
    let t = &dev.access_token;
    let id = id_of(&app.create_tool(t, "weather").await);
    // Warm the cache so a stale entry would show.
    assert_eq!(
        app.get(&format!("/api/v1/mcps/{id}"), Some(t)).await.status,
        200
    );
    let deleted = app.delete(&format!("/api/v1/mcps/{id}"), Some(t)).await;
    assert_eq!(deleted.status, 204, "{}", deleted.text);
    assert_eq!(deleted.text, "", "204 has no body");

    let read = app.get(&format!("/api/v1/mcps/{id}"), Some(t)).await;
    assert_eq!(read.status, 404, "{}", read.text);
    assert_eq!(read.body["error_code"], "NOT_FOUND");
    assert_eq!(read.body["resource_type"], "mcp_tool");
    assert_eq!(read.body["resource_id"], id.as_str());

    let by_slug = app.get("/api/v1/mcps/by-slug/weather", Some(t)).await;
    assert_eq!(by_slug.status, 404, "by slug too: {}", by_slug.text);
    for (method, path) in [
        ("PATCH", format!("/api/v1/mcps/{id}")),
        ("DELETE", format!("/api/v1/mcps/{id}")),
        ("POST", format!("/api/v1/mcps/{id}/history/1.0.0/restore")),
    ] {
        let body = (method == "PATCH").then(|| json!({"name": "Back"}));
        let reply = app.send(method, &path, Some(t), body).await;
        assert_eq!(
            reply.status, 404,
            "{method} {path} on a deleted tool: {}",
            reply.text
        );
    }
}

#[tokio::test]
async fn a_deleted_tool_is_absent_from_lists() {
    let app = spawn_app().await;
    let dev = app.user("dev1", "developer").await;
    let t = &dev.access_token;
    let gone = id_of(&app.create_tool(t, "gone").await);
    app.create_tool(t, "kept").await;
    assert_eq!(
        app.delete(&format!("/api/v1/mcps/{gone}"), Some(t))
            .await
            .status,
        204
    );
    let reply = list(&app, t, "").await;
    assert_eq!(slugs(&reply), set(&["kept"]));
    assert_eq!(reply.body["total"], 1, "total does not count deleted tools");
    assert_eq!(slugs(&list(&app, t, "q=gone").await), set(&[]));
}

#[tokio::test]
async fn a_deleted_tools_history_is_404() {
    let app = spawn_app().await;
    let dev = app.user("dev1", "developer").await;
    let t = &dev.access_token;
    let id = id_of(&app.create_tool(t, "weather").await);
    assert_eq!(
        app.delete(&format!("/api/v1/mcps/{id}"), Some(t))
            .await
            .status,
        204
    );
    let reply = app
        .get(&format!("/api/v1/mcps/{id}/history"), Some(t))
        .await;
    assert_eq!(reply.status, 404, "{}", reply.text);
    assert_eq!(reply.body["resource_type"], "mcp_tool");
}

#[tokio::test]
async fn a_deleted_tools_slug_stays_reserved() {
    let app = spawn_app().await;
    let dev = app.user("dev1", "developer").await;
    let t = &dev.access_token;
    let id = id_of(&app.create_tool(t, "weather").await);
    assert_eq!(
        app.delete(&format!("/api/v1/mcps/{id}"), Some(t))
            .await
            .status,
        204
    );
    let reuse = app
        .post("/api/v1/mcps", Some(t), tool_body("weather"))
        .await;
    assert_eq!(reuse.status, 409, "{}", reuse.text);
    assert_eq!(reuse.body["error_code"], "CONFLICT");
}

#[tokio::test]
async fn delete_appends_one_delete_record_to_the_stored_history() {
    let app = spawn_app().await;
    let dev = app.user("dev1", "developer").await;
    let t = &dev.access_token;
    let id = id_of(&app.create_tool(t, "weather").await);
    assert_eq!(
        app.delete(&format!("/api/v1/mcps/{id}"), Some(t))
            .await
            .status,
        204
    );
    // The API hides a deleted tool's history, so read the store directly.
    let records = app
        .state
        .history
        .list(id.parse().expect("uuid"))
        .await
        .expect("history readable");
    let kinds: Vec<&str> = records.iter().map(|r| r.change_type.as_str()).collect();
    assert_eq!(
        kinds,
        ["delete", "create"],
        "newest first: one delete after the create"
    );
    assert_eq!(records[0].changed_by.to_string(), dev.id);
}

// ---------------------------------------------------------------- history

#[tokio::test]
async fn history_is_newest_first_with_change_type_changed_by_and_diff() {
    let app = spawn_app().await;
    let ada = app.user("ada", "developer").await;
    let root = app.admin("root").await;
    let id = id_of(&app.create_tool(&ada.access_token, "weather").await);
    let r = app
        .patch(
            &format!("/api/v1/mcps/{id}"),
            Some(&ada.access_token),
            json!({"version": "1.1.0"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app
        .patch(
            &format!("/api/v1/mcps/{id}"),
            Some(&root.access_token),
            json!({"name": "Weather by admin"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    let versions = history(&app, &ada.access_token, &id).await;
    let kinds: Vec<&str> = versions
        .iter()
        .map(|v| v["change_type"].as_str().expect("change_type"))
        .collect();
    assert_eq!(kinds, ["update", "update", "create"], "newest first");
    let by: Vec<&str> = versions
        .iter()
        .map(|v| v["changed_by"].as_str().expect("changed_by"))
        .collect();
    assert_eq!(by, [root.id.as_str(), ada.id.as_str(), ada.id.as_str()]);
    let numbers: Vec<&str> = versions
        .iter()
        .map(|v| v["version"].as_str().expect("version"))
        .collect();
    assert_eq!(numbers, ["1.1.0", "1.1.0", "1.0.0"]);
    for v in &versions {
        assert!(v["changed_at"].is_string(), "changed_at present: {v}");
        assert!(v["config"].is_object(), "config present: {v}");
    }
    assert_eq!(
        versions[0]["diff"],
        json!([{"op": "replace", "path": "/name", "value": "Weather by admin"}]),
        "the diff holds exactly the change"
    );
    assert_eq!(
        versions[1]["diff"],
        json!([{"op": "replace", "path": "/version", "value": "1.1.0"}])
    );
    assert!(
        versions[2]["diff"]
            .as_array()
            .is_some_and(|d| !d.is_empty()),
        "the create record diffs from nothing"
    );
}

// ---------------------------------------------------------------- restore

#[tokio::test]
async fn restoring_an_earlier_version_makes_its_name_and_config_current() {
    let app = spawn_app().await;
    let dev = app.user("dev1", "developer").await;
    let t = &dev.access_token;
    let original = app.create_tool(t, "weather").await;
    let id = id_of(&original);
    let r = app
        .patch(
            &format!("/api/v1/mcps/{id}"),
            Some(t),
            json!({
                "name": "Weather 2", "version": "2.0.0", "tags": ["new"],
                "config": {"runtime": {"transport": "streamable-http", "url": "https://example.com/mcp"}}
            }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    let restored = app
        .post(
            &format!("/api/v1/mcps/{id}/history/1.0.0/restore"),
            Some(t),
            json!({}),
        )
        .await;
    assert_eq!(restored.status, 200, "{}", restored.text);
    for field in ["name", "description", "version", "config", "tags"] {
        assert_eq!(
            restored.body[field], original[field],
            "restore brought back {field}"
        );
    }
    let read = app.get(&format!("/api/v1/mcps/{id}"), Some(t)).await;
    assert_eq!(
        read.body, restored.body,
        "the restored state is what GET shows at once"
    );

    let versions = history(&app, t, &id).await;
    let kinds: Vec<&str> = versions
        .iter()
        .map(|v| v["change_type"].as_str().expect("change_type"))
        .collect();
    assert_eq!(
        kinds,
        ["restore", "update", "create"],
        "restore appends one record"
    );
    assert_eq!(versions[0]["version"], "1.0.0");
    assert_eq!(versions[0]["config"], original["config"]);
    assert_eq!(versions[0]["changed_by"], dev.id.as_str());
}

#[tokio::test]
async fn restoring_an_unknown_version_is_404() {
    let app = spawn_app().await;
    let dev = app.user("dev1", "developer").await;
    let t = &dev.access_token;
    let id = id_of(&app.create_tool(t, "weather").await);
    let reply = app
        .post(
            &format!("/api/v1/mcps/{id}/history/9.9.9/restore"),
            Some(t),
            json!({}),
        )
        .await;
    assert_eq!(reply.status, 404, "{}", reply.text);
    assert_eq!(reply.body["error_code"], "NOT_FOUND");
    assert_eq!(
        history(&app, t, &id).await.len(),
        1,
        "a failed restore records nothing"
    );

    let malformed = app
        .post(
            &format!("/api/v1/mcps/{id}/history/latest/restore"),
            Some(t),
            json!({}),
        )
        .await;
    assert_eq!(malformed.status, 422, "{}", malformed.text);
    assert_eq!(
        malformed.body["detail"][0]["loc"],
        json!(["path", "version"])
    );
}

// ---------------------------------------------------------------- cache

#[tokio::test]
async fn a_second_get_of_an_unchanged_tool_is_a_cache_hit() {
    let app = spawn_app().await;
    let dev = app.user("dev1", "developer").await;
    let t = &dev.access_token;
    let id = id_of(&app.create_tool(t, "weather").await);
    let metrics = &app.state.metrics;
    let path = format!("/api/v1/mcps/{id}");

    let misses = metrics.cache_misses.load(Ordering::Relaxed);
    let first = app.get(&path, Some(t)).await;
    assert_eq!(first.status, 200);
    assert_eq!(
        metrics.cache_misses.load(Ordering::Relaxed),
        misses + 1,
        "the first GET misses the cache"
    );

    let hits = metrics.cache_hits.load(Ordering::Relaxed);
    let second = app.get(&path, Some(t)).await;
    assert_eq!(second.status, 200);
    assert_eq!(
        metrics.cache_hits.load(Ordering::Relaxed),
        hits + 1,
        "the second GET of an unchanged tool is a cache hit"
    );
    assert_eq!(
        second.body, first.body,
        "the cached copy equals the stored one"
    );
}

#[tokio::test]
async fn an_update_is_visible_at_once_on_the_next_get() {
    let app = spawn_app().await;
    let dev = app.user("dev1", "developer").await;
    let t = &dev.access_token;
    let id = id_of(&app.create_tool(t, "weather").await);
    let path = format!("/api/v1/mcps/{id}");
    for _ in 0..2 {
        assert_eq!(app.get(&path, Some(t)).await.status, 200, "warm the cache");
    }
    for (body, field, expected) in [
        (json!({"name": "Renamed"}), "name", json!("Renamed")),
        (json!({"status": "active"}), "status", json!("active")),
        (json!({"tags": ["x"]}), "tags", json!(["x"])),
    ] {
        let r = app.patch(&path, Some(t), body).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let read = app.get(&path, Some(t)).await;
        assert_eq!(
            read.body[field], expected,
            "GET after PATCH shows the new {field}"
        );
        assert_eq!(
            read.body, r.body,
            "GET after PATCH equals the PATCH response"
        );
    }
}

/// A cache whose next `set` reports that it started and then waits for a
/// go-ahead: it freezes a reader between its database read and its cache write.
struct GatedCache {
    inner: Arc<dyn Cache>,
    gate: Mutex<Option<(oneshot::Sender<()>, oneshot::Receiver<()>)>>,
}

#[async_trait::async_trait]
impl Ping for GatedCache {
    async fn ping(&self) -> mcp_platform::error::Result<()> {
        self.inner.ping().await
    }
}

#[async_trait::async_trait]
impl Cache for GatedCache {
    async fn get(&self, key: &str) -> mcp_platform::error::Result<Option<Bytes>> {
        self.inner.get(key).await
    }
    async fn set(&self, key: &str, value: Bytes, ttl: Duration) -> mcp_platform::error::Result<()> {
        let gate = self.gate.lock().await.take();
        if let Some((started, go)) = gate {
            let _ = started.send(());
            let _ = go.await;
        }
        self.inner.set(key, value, ttl).await
    }
    async fn delete(&self, key: &str) -> mcp_platform::error::Result<()> {
        self.inner.delete(key).await
    }
}

#[tokio::test]
async fn a_read_racing_an_update_leaves_no_stale_copy_in_the_cache() {
    let app = spawn_app().await;
    let dev = app.user("dev1", "developer").await;
    let id: uuid::Uuid = id_of(&app.create_tool(&dev.access_token, "weather").await)
        .parse()
        .expect("uuid");
    let (started_tx, started_rx) = oneshot::channel();
    let (go_tx, go_rx) = oneshot::channel();
    let mut services = app.state.services();
    services.cache = Arc::new(GatedCache {
        inner: app.state.cache.clone(),
        gate: Mutex::new(Some((started_tx, go_rx))),
    });
    let state = mcp_platform::state::AppState::from(services);

    // The reader misses, reads revision 1 from the database, and stops just
    // before it writes that copy to the cache.
    let reader = tokio::spawn({
        let state = state.clone();
        async move { registry::view_json(&state, id).await }
    });
    started_rx
        .await
        .expect("the reader reached its cache write");

    let principal = Principal {
        user_id: dev.id.parse().expect("uuid"),
        role: Role::Developer,
    };
    let patch = ToolPatch {
        name: Some(ToolName::parse("Renamed").expect("name")),
        ..ToolPatch::default()
    };
    registry::update(&state, &principal, id, patch)
        .await
        .expect("the update succeeds");
    go_tx.send(()).expect("the reader is waiting");
    reader
        .await
        .expect("reader task")
        .expect("the racing read succeeds");

    let after = registry::view_json(&state, id).await.expect("read after");
    let after: Value = serde_json::from_slice(&after).expect("json");
    assert_eq!(
        after["name"], "Renamed",
        "a read that raced the update must not leave its older copy in the cache"
    );
}

// ---------------------------------------------------------------- concurrency

#[tokio::test]
async fn concurrent_updates_each_append_exactly_one_history_record() {
    let app = Arc::new(spawn_app().await);
    let dev = app.user("dev1", "developer").await;
    let id = id_of(&app.create_tool(&dev.access_token, "weather").await);
    let mut writers = tokio::task::JoinSet::new();
    for i in 0..8 {
        let (app, token, id) = (app.clone(), dev.access_token.clone(), id.clone());
        writers.spawn(async move {
            app.patch(
                &format!("/api/v1/mcps/{id}"),
                Some(&token),
                json!({"name": format!("Writer {i}")}),
            )
            .await
        });
    }
    let mut succeeded = 0;
    while let Some(reply) = writers.join_next().await {
        let reply = reply.expect("writer task");
        assert!(
            matches!(reply.status, 200 | 409),
            "a concurrent update either wins or is told to retry: {}",
            reply.text
        );
        succeeded += usize::from(reply.status == 200);
    }
    assert!(succeeded >= 1, "at least one concurrent update succeeds");
    let versions = history(&app, &dev.access_token, &id).await;
    assert_eq!(
        versions.len(),
        succeeded + 1,
        "one record per successful update, plus the create"
    );
    let sequences: Vec<i64> = versions
        .iter()
        .map(|v| v["sequence"].as_i64().expect("sequence"))
        .collect();
    let expected: Vec<i64> = (1..=i64::try_from(succeeded + 1).expect("small"))
        .rev()
        .collect();
    assert_eq!(sequences, expected, "sequences are gapless, newest first");
    let current = app
        .get(&format!("/api/v1/mcps/{id}"), Some(&dev.access_token))
        .await;
    assert_eq!(
        current.body["name"], versions[0]["snapshot"]["name"],
        "the tool is what its newest record says"
    );
}

#[tokio::test]
async fn concurrent_creates_of_one_slug_make_exactly_one_tool() {
    let app = Arc::new(spawn_app().await);
    let dev = app.user("dev1", "developer").await;
    let mut writers = tokio::task::JoinSet::new();
    for _ in 0..6 {
        let (app, token) = (app.clone(), dev.access_token.clone());
        writers.spawn(async move {
            app.post("/api/v1/mcps", Some(&token), tool_body("same"))
                .await
        });
    }
    let mut statuses = Vec::new();
    while let Some(reply) = writers.join_next().await {
        let reply = reply.expect("writer task");
        statuses.push(reply.status);
    }
    statuses.sort_unstable();
    assert_eq!(
        statuses,
        [201, 409, 409, 409, 409, 409],
        "one create wins, the rest are 409, none is 500"
    );
}

#[tokio::test]
async fn reads_by_slug_hit_the_cache_and_a_deleted_tool_stays_gone_by_slug() {
    let app = spawn_app().await;
    let dev = app.user("dev1", "developer").await;
    let t = dev.access_token.as_str();
    let created = app.create_tool(t, "slugged").await;
    let id = created["id"].as_str().expect("id");
    assert_eq!(
        app.get("/api/v1/mcps/by-slug/slugged", Some(t)).await.body,
        created
    );
    let hits = app.state.metrics.cache_hits.load(Ordering::Relaxed);
    assert_eq!(
        app.get("/api/v1/mcps/by-slug/slugged", Some(t)).await.body,
        created
    );
    let after = app.state.metrics.cache_hits.load(Ordering::Relaxed);
    assert!(
        after > hits,
        "the second read by slug is served from the cache"
    );

    assert_eq!(
        app.delete(&format!("/api/v1/mcps/{id}"), Some(t))
            .await
            .status,
        204
    );
    let gone = app.get("/api/v1/mcps/by-slug/slugged", Some(t)).await;
    assert_eq!(
        gone.status, 404,
        "a cached slug does not revive a deleted tool: {}",
        gone.text
    );
    assert_eq!(gone.body["resource_id"], "slugged");
}
