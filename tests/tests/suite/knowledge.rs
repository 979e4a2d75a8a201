//! The knowledge base through its HTTP API: documents, search, ownership,
//! bad input, large documents embedded by a job, the tool catalog behind
//! `GET /mcps?q=`, and a reindex after the embedding model changed.

use std::collections::BTreeSet;
use std::time::Duration;

use mcp_platform::jobs::Registry;
use mcp_platform::worker::Worker;
use mcp_platform_tests::{error_locs, poll_until, spawn_app, spawn_app_with, tool_body, TestApp};
use serde_json::{json, Value};

async fn add(app: &TestApp, token: &str, body: Value) -> Value {
    let reply = app
        .post("/api/v1/knowledge/documents", Some(token), body)
        .await;
    assert_eq!(reply.status, 201, "create document: {}", reply.text);
    reply.body
}

async fn search(app: &TestApp, token: &str, body: Value) -> Value {
    let reply = app
        .post("/api/v1/knowledge/search", Some(token), body)
        .await;
    assert_eq!(reply.status, 200, "search: {}", reply.text);
    reply.body
}

fn result_ids(body: &Value) -> Vec<String> {
    body["results"]
        .as_array()
        .map(|r| {
            r.iter()
                .map(|x| x["document_id"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn a_document_is_created_read_listed_found_and_deleted() {
    let app = spawn_app().await;
    let dev = app.user("dev1", "developer").await;
    let t = &dev.access_token;
    let created = add(
        &app,
        t,
        json!({"title": "Weather forecasts", "content": "The forecast tool returns temperature and rain for the next seven days.",
               "metadata": {"source": "docs", "tags": ["weather"], "language": "en", "public": true}}),
    )
    .await;
    let id = created["document_id"]
        .as_str()
        .expect("document_id")
        .to_owned();
    assert_eq!(created["title"], "Weather forecasts");
    assert_eq!(created["chunks"], 1);
    assert_eq!(created["status"], "indexed");
    assert!(created["embedding_id"].is_string() && created["created_at"].is_string());
    add(&app, t, json!({"title": "Databases", "content": "Run SQL queries against PostgreSQL.", "metadata": {"source": "other", "tags": ["sql"]}})).await;

    let read = app
        .get(&format!("/api/v1/knowledge/documents/{id}"), Some(t))
        .await;
    assert_eq!(read.status, 200, "{}", read.text);
    assert_eq!(read.body["metadata"]["tags"], json!(["weather"]));
    assert_eq!(read.body["metadata"]["source"], "docs");
    assert!(read.body["content"]
        .as_str()
        .unwrap_or_default()
        .contains("seven days"));

    let list = app
        .get("/api/v1/knowledge/documents?page_size=1", Some(t))
        .await;
    assert_eq!(list.status, 200, "{}", list.text);
    assert_eq!(list.body["total"], 2);
    assert_eq!(list.body["pages"], 2);
    assert_eq!(list.body["items"].as_array().map(Vec::len), Some(1));
    let by_tag = app
        .get("/api/v1/knowledge/documents?tag=weather", Some(t))
        .await;
    assert_eq!(by_tag.body["total"], 1);
    let by_source = app
        .get("/api/v1/knowledge/documents?source=other", Some(t))
        .await;
    assert_eq!(by_source.body["total"], 1);

    let found = search(
        &app,
        t,
        json!({"query": "will it rain tomorrow? forecast", "limit": 5}),
    )
    .await;
    assert_eq!(result_ids(&found).first(), Some(&id), "{found}");
    assert!(found["query_time_ms"].is_number());
    assert!(found["results"][0]["content_snippet"]
        .as_str()
        .unwrap_or_default()
        .contains("forecast"));
    let scores: Vec<f64> = found["results"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| r["similarity_score"].as_f64().unwrap_or(-1.0))
        .collect();
    assert!(
        scores.windows(2).all(|w| w[0] >= w[1]),
        "descending: {scores:?}"
    );
    let filtered = search(
        &app,
        t,
        json!({"query": "forecast", "filters": {"tags": ["sql"]}}),
    )
    .await;
    assert!(
        !result_ids(&filtered).contains(&id),
        "the tag filter excludes it: {filtered}"
    );
    let strict = search(&app, t, json!({"query": "forecast", "min_score": 1.0})).await;
    assert!(strict["results"].as_array().is_some_and(|r| r
        .iter()
        .all(|x| x["similarity_score"].as_f64() >= Some(1.0))));

    let deleted = app
        .delete(&format!("/api/v1/knowledge/documents/{id}"), Some(t))
        .await;
    assert_eq!(deleted.status, 204, "{}", deleted.text);
    let gone = app
        .get(&format!("/api/v1/knowledge/documents/{id}"), Some(t))
        .await;
    assert_eq!(gone.status, 404);
    let after = search(&app, t, json!({"query": "forecast temperature rain"})).await;
    assert!(
        !result_ids(&after).contains(&id),
        "deleted documents are never found"
    );
}

#[tokio::test]
async fn similarity_score_is_a_relevance_in_0_1_and_the_default_threshold_leaves_unrelated_documents_out(
) {
    let app = spawn_app().await;
    let dev = app.user("dev1", "developer").await;
    let t = dev.access_token.as_str();
    let weather = add(
        &app,
        t,
        json!({"title": "Weather forecast", "content": "Hourly temperature, precipitation and wind for the next seven days."}),
    )
    .await["document_id"]
        .clone();
    for (title, content) in [
        (
            "PostgreSQL queries",
            "Runs read-only SQL statements against a database and returns rows.",
        ),
        (
            "Kubernetes pods",
            "Lists, restarts and scales the pods of a cluster namespace.",
        ),
        (
            "Invoices",
            "Creates invoices and records customer payments by card.",
        ),
    ] {
        add(&app, t, json!({"title": title, "content": content})).await;
    }
    let query = "weather forecast for tomorrow";
    let scores = |body: &Value| -> Vec<f64> {
        body["results"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["similarity_score"].as_f64())
            .collect()
    };
    let by_default = search(&app, t, json!({"query": query})).await;
    assert_eq!(
        result_ids(&by_default),
        [weather.as_str().expect("id")],
        "only the related document at the default SEARCH_MIN_SCORE: {by_default}"
    );
    let everything = search(&app, t, json!({"query": query, "min_score": 0})).await;
    let all = scores(&everything);
    assert_eq!(all.len(), 4, "min_score 0 keeps every match: {everything}");
    assert!(
        all.iter().all(|s| (0.0..=1.0).contains(s)) && all.windows(2).all(|w| w[0] >= w[1]),
        "relevance in [0, 1], descending: {all:?}"
    );
    assert!(
        all[0] < 1.0 && all[1] < app.state.settings.knowledge.search_min_score.into(),
        "not scaled to the best result, and the others below the threshold: {all:?}"
    );
    let nothing = search(&app, t, json!({"query": "chocolate cake recipe"})).await;
    assert_eq!(
        nothing["total"], 0,
        "a query nothing answers finds nothing by default: {nothing}"
    );
}

#[tokio::test]
async fn another_users_private_document_never_appears_in_search_get_or_list() {
    let app = spawn_app().await;
    let ada = app.user("ada", "developer").await;
    let bob = app.user("bob", "developer").await;
    let admin = app.admin("boss").await;
    let private = add(&app, &ada.access_token, json!({"title": "Ada's secret plan", "content": "Quarterly kubernetes migration plan with cluster names."})).await;
    let public = add(&app, &ada.access_token, json!({"title": "Kubernetes guide", "content": "How to scale kubernetes deployments.", "metadata": {"public": true}})).await;
    let (private_id, public_id) = (
        private["document_id"].as_str().unwrap_or_default(),
        public["document_id"].as_str().unwrap_or_default(),
    );
    for query in [
        "kubernetes migration plan",
        "Ada's secret plan",
        "cluster names",
    ] {
        let seen = result_ids(&search(&app, &bob.access_token, json!({"query": query})).await);
        assert!(
            !seen.iter().any(|id| id == private_id),
            "bob found ada's private document with {query:?}"
        );
    }
    let bob_sees =
        result_ids(&search(&app, &bob.access_token, json!({"query": "kubernetes"})).await);
    assert!(
        bob_sees.iter().any(|id| id == public_id),
        "public documents are for everyone"
    );
    let own = result_ids(
        &search(
            &app,
            &ada.access_token,
            json!({"query": "kubernetes migration plan"}),
        )
        .await,
    );
    assert_eq!(own.first().map(String::as_str), Some(private_id));
    let admin_sees = result_ids(
        &search(
            &app,
            &admin.access_token,
            json!({"query": "kubernetes migration plan"}),
        )
        .await,
    );
    assert!(
        admin_sees.iter().any(|id| id == private_id),
        "admins see everything"
    );
    let get = app
        .get(
            &format!("/api/v1/knowledge/documents/{private_id}"),
            Some(&bob.access_token),
        )
        .await;
    assert_eq!(get.status, 404, "{}", get.text);
    let delete = app
        .delete(
            &format!("/api/v1/knowledge/documents/{private_id}"),
            Some(&bob.access_token),
        )
        .await;
    assert_eq!(delete.status, 404);
    let list = app
        .get("/api/v1/knowledge/documents", Some(&bob.access_token))
        .await;
    assert_eq!(
        list.body["total"], 1,
        "bob lists only the public one: {}",
        list.text
    );
    let delete_public = app
        .delete(
            &format!("/api/v1/knowledge/documents/{public_id}"),
            Some(&bob.access_token),
        )
        .await;
    assert_eq!(delete_public.status, 403, "{}", delete_public.text);
}

#[tokio::test]
async fn bad_documents_and_searches_are_422_naming_each_field() {
    let app = spawn_app().await;
    let dev = app.user("dev1", "developer").await;
    let t = &dev.access_token;
    let reply = app
        .post("/api/v1/knowledge/documents", Some(t), json!({"title": "", "metadata": {"tags": ["Bad Tag!"], "tool_id": "nope", "public": "yes", "colour": 1}}))
        .await;
    assert_eq!(reply.status, 422, "{}", reply.text);
    let locs: BTreeSet<String> = error_locs(&reply).into_iter().collect();
    for loc in [
        "body.title",
        "body.content",
        "body.metadata.tags",
        "body.metadata.tool_id",
        "body.metadata.public",
        "body.metadata.colour",
    ] {
        assert!(locs.contains(loc), "{loc} missing from {locs:?}");
    }
    let long = "x".repeat(501);
    let reply = app
        .post(
            "/api/v1/knowledge/documents",
            Some(t),
            json!({"title": long, "content": "   "}),
        )
        .await;
    let locs: BTreeSet<String> = error_locs(&reply).into_iter().collect();
    assert!(
        locs.contains("body.title") && locs.contains("body.content"),
        "{locs:?}"
    );
    let reply = app
        .post("/api/v1/knowledge/search", Some(t), json!({"query": "", "limit": 51, "min_score": 2, "filters": {"tool_id": 5, "what": true}}))
        .await;
    assert_eq!(reply.status, 422, "{}", reply.text);
    let locs: BTreeSet<String> = error_locs(&reply).into_iter().collect();
    for loc in [
        "body.query",
        "body.limit",
        "body.min_score",
        "body.filters.tool_id",
        "body.filters.what",
    ] {
        assert!(locs.contains(loc), "{loc} missing from {locs:?}");
    }
    let reply = app
        .get("/api/v1/knowledge/documents/not-a-uuid", Some(t))
        .await;
    assert_eq!(error_locs(&reply), ["path.id"]);
    let reply = app
        .get(
            "/api/v1/knowledge/documents?status=deleting&tool_id=x",
            Some(t),
        )
        .await;
    let locs: BTreeSet<String> = error_locs(&reply).into_iter().collect();
    assert!(
        locs.contains("query.status") && locs.contains("query.tool_id"),
        "{locs:?}"
    );
    let malformed = app
        .send_raw(
            "POST",
            "/api/v1/knowledge/search",
            Some(t),
            b"{not json".to_vec(),
        )
        .await;
    assert_eq!(malformed.status, 400);
    let listed = app.get("/api/v1/knowledge/documents", Some(t)).await;
    assert_eq!(listed.body["total"], 0, "nothing half-written");
}

#[tokio::test]
async fn a_large_document_is_pending_until_the_index_job_embeds_it() {
    let app = spawn_app_with(&[("KNOWLEDGE_INLINE_MAX_CHARS", "200")]).await;
    let dev = app.user("dev1", "developer").await;
    let t = &dev.access_token;
    let content: String = (0..60)
        .map(|i| {
            format!("Paragraph {i} explains how the zebra-stripe scheduler balances work.\n\n")
        })
        .collect();
    let reply = app
        .post(
            "/api/v1/knowledge/documents",
            Some(t),
            json!({"title": "Scheduler manual", "content": content}),
        )
        .await;
    assert_eq!(reply.status, 202, "{}", reply.text);
    assert_eq!(reply.body["status"], "pending");
    let id = reply.body["document_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(reply.body["chunks"].as_u64() > Some(1));
    let vector_only = app
        .state
        .knowledge
        .search_vector(
            "documents",
            "zebra-stripe scheduler",
            &Default::default(),
            5,
        )
        .await
        .expect("search");
    assert!(vector_only.is_empty(), "no vectors before the job ran");
    let worker = Worker::new(app.state.clone(), Registry::standard());
    poll_until("the index job ran", Duration::from_secs(20), async || {
        let _ = worker.run_once().await;
        let read = app
            .get(&format!("/api/v1/knowledge/documents/{id}"), Some(t))
            .await;
        read.body["status"] == "indexed"
    })
    .await;
    let vector_only = app
        .state
        .knowledge
        .search_vector(
            "documents",
            "zebra-stripe scheduler",
            &Default::default(),
            5,
        )
        .await
        .expect("search");
    assert_eq!(vector_only.first().map(ToString::to_string), Some(id));
}

#[tokio::test]
async fn the_tool_catalog_ranks_tools_by_meaning_and_forgets_deleted_ones() {
    let app = spawn_app().await;
    let dev = app.user("dev1", "developer").await;
    let t = &dev.access_token;
    let mut ids = Vec::new();
    for (slug, name, description, tool_desc) in [
        (
            "meteo",
            "Meteo",
            "Daily outlook for any city",
            "Returns temperature and precipitation forecasts",
        ),
        (
            "sql-runner",
            "SQL runner",
            "Runs database queries",
            "Executes SELECT statements",
        ),
        (
            "mailer",
            "Mailer",
            "Sends email",
            "Delivers messages over SMTP",
        ),
    ] {
        let mut body = tool_body(slug);
        body["name"] = json!(name);
        body["description"] = json!(description);
        body["config"]["tools"] =
            json!([{"name": "run", "description": tool_desc, "inputSchema": {"type": "object"}}]);
        let reply = app.post("/api/v1/mcps", Some(t), body).await;
        assert_eq!(reply.status, 201, "{}", reply.text);
        ids.push(reply.body["id"].as_str().unwrap_or_default().to_owned());
    }
    // Neither the name nor the description says "forecast": the config's tool does.
    let found = app
        .get("/api/v1/mcps?q=precipitation%20forecast", Some(t))
        .await;
    assert_eq!(found.status, 200, "{}", found.text);
    assert_eq!(found.body["items"][0]["slug"], "meteo", "{}", found.text);
    assert_eq!(found.body["total"], 1, "{}", found.text);
    // An update is searchable at once.
    let patched = app
        .patch(
            &format!("/api/v1/mcps/{}", ids[2]),
            Some(t),
            json!({"description": "Sends email and weather forecasts"}),
        )
        .await;
    assert_eq!(patched.status, 200);
    let found = app.get("/api/v1/mcps?q=forecasts", Some(t)).await;
    let slugs: BTreeSet<String> = found.body["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| i["slug"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        slugs,
        ["mailer", "meteo"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect()
    );
    // Deleted tools never appear, whatever the query.
    let deleted = app
        .delete(&format!("/api/v1/mcps/{}", ids[0]), Some(t))
        .await;
    assert_eq!(deleted.status, 204);
    for q in ["precipitation%20forecast", "meteo", "daily%20outlook"] {
        let found = app.get(&format!("/api/v1/mcps?q={q}"), Some(t)).await;
        assert!(!found.text.contains(&ids[0]), "{q}: {}", found.text);
    }
    let catalog = app
        .state
        .knowledge
        .search("tools", "meteo daily outlook", &Default::default(), 10)
        .await
        .expect("catalog search");
    assert!(
        catalog.iter().all(|h| h.document_id.to_string() != ids[0]),
        "the catalog forgot it"
    );
}
