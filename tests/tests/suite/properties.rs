//! Properties of the tool registry over HTTP (SPEC §5 items 1–2):
//! pagination never loses, repeats or overfills, and history is complete,
//! ordered, and replayable from its diffs.
//!
//! Each case spawns its own platform on a fresh runtime, so case counts stay
//! small to keep the suite fast.

use std::collections::BTreeSet;

use mcp_platform_tests::{spawn_app, tool_body, TestApp};
use proptest::prelude::*;
use serde_json::{json, Value};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// Walks every page of `GET /mcps?{filter}` and checks the page invariants,
/// returning the ids seen. `expected` is how many tools match the filter.
async fn walk_pages(
    app: &TestApp,
    token: &str,
    filter: &str,
    page_size: u32,
    expected: usize,
) -> Result<(), TestCaseError> {
    let mut ids = BTreeSet::new();
    let mut listed = 0usize;
    let pages = expected.div_ceil(page_size as usize);
    // One page past the end, which must be empty.
    for page in 1..=pages + 1 {
        let reply = app
            .get(
                &format!("/api/v1/mcps?page={page}&page_size={page_size}{filter}"),
                Some(token),
            )
            .await;
        prop_assert_eq!(reply.status, 200, "list page {}: {}", page, reply.text);
        let body = &reply.body;
        prop_assert_eq!(&body["total"], &json!(expected), "total on page {}", page);
        prop_assert_eq!(&body["pages"], &json!(pages), "pages on page {}", page);
        prop_assert_eq!(&body["page"], &json!(page));
        prop_assert_eq!(&body["page_size"], &json!(page_size));
        let items = body["items"].as_array().cloned().unwrap_or_default();
        prop_assert!(
            items.len() <= page_size as usize,
            "page {} holds {} items, more than page_size {}",
            page,
            items.len(),
            page_size
        );
        if page > pages {
            prop_assert!(items.is_empty(), "the page past the end is empty");
        }
        listed += items.len();
        ids.extend(
            items
                .iter()
                .filter_map(|t| t["id"].as_str().map(str::to_owned)),
        );
    }
    prop_assert_eq!(
        listed,
        expected,
        "the pages together list exactly `total` items"
    );
    prop_assert_eq!(ids.len(), expected, "no id appears on two pages");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn pages_never_exceed_page_size_and_together_hold_exactly_total_distinct_tools(
        tagged in proptest::collection::vec(any::<bool>(), 0..45),
        page_size in 1u32..=100,
    ) {
        runtime().block_on(async {
            let app = spawn_app().await;
            let dev = app.user("pager", "developer").await;
            let t = &dev.access_token;
            for (i, marked) in tagged.iter().enumerate() {
                let mut body = tool_body(&format!("tool-{i}"));
                body["tags"] = if *marked { json!(["marked"]) } else { json!(["plain"]) };
                let r = app.post("/api/v1/mcps", Some(t), body).await;
                prop_assert_eq!(r.status, 201, "create tool-{}: {}", i, r.text);
            }
            walk_pages(&app, t, "", page_size, tagged.len()).await?;
            let marked = tagged.iter().filter(|m| **m).count();
            walk_pages(&app, t, "&tag=marked", page_size, marked).await
        })?;
    }
}

/// One update: a non-empty subset of the fields, each set to a value that
/// differs from the current one.
#[derive(Debug, Clone)]
struct Update {
    name: bool,
    description: bool,
    /// 0 = patch, 1 = minor, 2 = major bump.
    version_bump: Option<u8>,
    config: bool,
    tags: Option<Vec<String>>,
}

fn update_strategy() -> impl Strategy<Value = Update> {
    (
        any::<bool>(),
        any::<bool>(),
        proptest::option::of(0u8..3),
        any::<bool>(),
        proptest::option::of(proptest::collection::vec("[a-z]{1,6}", 0..4)),
    )
        .prop_map(|(name, description, version_bump, config, tags)| Update {
            name,
            description,
            version_bump,
            config,
            tags,
        })
        .prop_filter("an update changes at least one field", |u| {
            u.name || u.description || u.version_bump.is_some() || u.config || u.tags.is_some()
        })
}

fn bump(version: &str, kind: u8) -> String {
    let parts: Vec<u64> = version
        .split('.')
        .map(|p| p.parse().expect("stored versions are x.y.z"))
        .collect();
    match kind {
        0 => format!("{}.{}.{}", parts[0], parts[1], parts[2] + 1),
        1 => format!("{}.{}.0", parts[0], parts[1] + 1),
        _ => format!("{}.0.0", parts[0] + 1),
    }
}

/// The PATCH body for update number `i` of a tool currently like `current`.
fn patch_body(i: usize, update: &Update, current: &Value) -> Value {
    let mut body = serde_json::Map::new();
    if update.name {
        body.insert("name".into(), json!(format!("Name {i}")));
    }
    if update.description {
        body.insert("description".into(), json!(format!("Description {i}")));
    }
    if let Some(kind) = update.version_bump {
        let version = current["version"].as_str().expect("version");
        body.insert("version".into(), json!(bump(version, kind)));
    }
    if update.config {
        body.insert(
            "config".into(),
            json!({"runtime": {"transport": "streamable-http", "url": format!("https://mcp{i}.example.com/mcp")}}),
        );
    }
    if let Some(tags) = &update.tags {
        // A tag unique to this update guarantees the list changes.
        let mut tags = tags.clone();
        tags.push(format!("update-{i}"));
        body.insert("tags".into(), json!(tags));
    }
    Value::Object(body)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn n_updates_make_n_plus_one_ordered_records_whose_diffs_replay_the_snapshots(
        updates in proptest::collection::vec(update_strategy(), 1..8),
    ) {
        runtime().block_on(async {
            let app = spawn_app().await;
            let dev = app.user("historian", "developer").await;
            let t = &dev.access_token;
            let mut current = app.create_tool(t, "versioned").await;
            let id = current["id"].as_str().expect("id").to_owned();
            for (i, update) in updates.iter().enumerate() {
                let body = patch_body(i, update, &current);
                let r = app.patch(&format!("/api/v1/mcps/{id}"), Some(t), body.clone()).await;
                prop_assert_eq!(r.status, 200, "update {} {}: {}", i, body, r.text);
                current = r.body;
            }

            let reply = app.get(&format!("/api/v1/mcps/{id}/history"), Some(t)).await;
            prop_assert_eq!(reply.status, 200, "history: {}", reply.text);
            let versions = reply.body["versions"].as_array().cloned().unwrap_or_default();
            prop_assert_eq!(versions.len(), updates.len() + 1, "n updates + the create");

            let sequences: Vec<i64> = versions
                .iter()
                .map(|v| v["sequence"].as_i64().expect("sequence"))
                .collect();
            prop_assert!(
                sequences.windows(2).all(|w| w[0] > w[1]),
                "sequence strictly decreases (newest first): {:?}",
                sequences
            );
            let kinds: Vec<&str> = versions
                .iter()
                .map(|v| v["change_type"].as_str().unwrap_or(""))
                .collect();
            prop_assert_eq!(kinds.last().copied(), Some("create"), "the oldest is the create");
            prop_assert!(kinds[..kinds.len() - 1].iter().all(|k| *k == "update"), "{:?}", kinds);

            // Oldest to newest: each diff turns the previous snapshot into this one.
            let mut previous = json!({});
            for (age, record) in versions.iter().rev().enumerate() {
                let diff: json_patch::Patch = serde_json::from_value(record["diff"].clone())
                    .map_err(|e| TestCaseError::fail(format!("record {age}: diff is not RFC 6902: {e}")))?;
                let mut replayed = previous.clone();
                json_patch::patch(&mut replayed, &diff)
                    .map_err(|e| TestCaseError::fail(format!("record {age}: diff does not apply: {e}")))?;
                prop_assert_eq!(&replayed, &record["snapshot"], "record {} replays to its snapshot", age);
                prop_assert_eq!(&record["config"], &record["snapshot"]["config"]);
                prop_assert_eq!(&record["version"], &record["snapshot"]["version"]);
                previous = record["snapshot"].clone();
            }
            for field in ["name", "description", "version", "config", "tags", "status"] {
                prop_assert_eq!(&previous[field], &current[field], "the newest snapshot is the current {}", field);
            }
            Ok(())
        })?;
    }
}

/// A change in a mixed sequence: an update, or a restore of the version the
/// tool had after change number `index % changes so far` (0 is the create).
#[derive(Debug, Clone)]
enum Change {
    Update(Update),
    Restore(usize),
}

fn change_strategy() -> impl Strategy<Value = Change> {
    prop_oneof![
        3 => update_strategy().prop_map(Change::Update),
        1 => any::<usize>().prop_map(Change::Restore),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(8))]

    #[test]
    fn updates_mixed_with_restores_keep_one_record_each_and_replayable_diffs(
        changes in proptest::collection::vec(change_strategy(), 1..8),
    ) {
        runtime().block_on(async {
            let app = spawn_app().await;
            let dev = app.user("restorer", "developer").await;
            let t = &dev.access_token;
            let mut current = app.create_tool(t, "versioned").await;
            let id = current["id"].as_str().expect("id").to_owned();
            // The version after each change, oldest first.
            let mut versions_seen = vec![current["version"].as_str().expect("version").to_owned()];
            let mut expected_kinds = vec!["create"];
            for (i, change) in changes.iter().enumerate() {
                let reply = match change {
                    Change::Update(update) => {
                        expected_kinds.push("update");
                        let body = patch_body(i, update, &current);
                        app.patch(&format!("/api/v1/mcps/{id}"), Some(t), body).await
                    }
                    Change::Restore(index) => {
                        expected_kinds.push("restore");
                        let version = versions_seen[index % versions_seen.len()].clone();
                        app.post(&format!("/api/v1/mcps/{id}/history/{version}/restore"), Some(t), json!({})).await
                    }
                };
                prop_assert_eq!(reply.status, 200, "change {} {:?}: {}", i, change, reply.text);
                current = reply.body;
                versions_seen.push(current["version"].as_str().expect("version").to_owned());
            }

            let reply = app.get(&format!("/api/v1/mcps/{id}/history"), Some(t)).await;
            prop_assert_eq!(reply.status, 200, "history: {}", reply.text);
            let records = reply.body["versions"].as_array().cloned().unwrap_or_default();
            let kinds: Vec<&str> = records
                .iter()
                .rev()
                .map(|v| v["change_type"].as_str().unwrap_or(""))
                .collect();
            prop_assert_eq!(kinds, expected_kinds, "one record per change, oldest first here");
            let mut previous = json!({});
            for (age, record) in records.iter().rev().enumerate() {
                let diff: json_patch::Patch = serde_json::from_value(record["diff"].clone())
                    .map_err(|e| TestCaseError::fail(format!("record {age}: diff is not RFC 6902: {e}")))?;
                json_patch::patch(&mut previous, &diff)
                    .map_err(|e| TestCaseError::fail(format!("record {age}: diff does not apply: {e}")))?;
                prop_assert_eq!(&previous, &record["snapshot"], "record {} replays to its snapshot", age);
            }
            for field in ["name", "description", "version", "config", "tags", "status"] {
                prop_assert_eq!(&previous[field], &current[field], "the newest snapshot is the current {}", field);
            }
            Ok(())
        })?;
    }
}
