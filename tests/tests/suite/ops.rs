//! Operations routes and the behaviour every route shares through the
//! middleware stack (SPEC §3 "Errors" and "Operations").

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt;
use mcp_platform::ports::Ping;
use mcp_platform_tests::backends::expected_health_checks;
use mcp_platform_tests::{spawn_app, spawn_app_with, Reply, TestApp};
use serde_json::{json, Value};

/// Every (method, path template) the platform serves. Adding a route means
/// adding it here; the OpenAPI test then checks it is documented, and the
/// probe test checks it is really served.
const ROUTES: &[(&str, &str)] = &[
    ("GET", "/"),
    ("GET", "/health"),
    ("GET", "/ready"),
    ("GET", "/metrics"),
    ("GET", "/api/openapi.json"),
    ("GET", "/api/docs"),
    ("POST", "/api/v1/auth/register"),
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/refresh"),
    ("POST", "/api/v1/auth/logout"),
    ("GET", "/api/v1/auth/me"),
    ("POST", "/api/v1/auth/api-keys"),
    ("GET", "/api/v1/auth/api-keys"),
    ("DELETE", "/api/v1/auth/api-keys/{id}"),
    ("GET", "/api/v1/admin/users"),
    ("POST", "/api/v1/admin/users"),
    ("PATCH", "/api/v1/admin/users/{id}"),
    ("POST", "/api/v1/mcps"),
    ("GET", "/api/v1/mcps"),
    ("GET", "/api/v1/mcps/{id}"),
    ("PUT", "/api/v1/mcps/{id}"),
    ("PATCH", "/api/v1/mcps/{id}"),
    ("DELETE", "/api/v1/mcps/{id}"),
    ("GET", "/api/v1/mcps/by-slug/{slug}"),
    ("GET", "/api/v1/mcps/{id}/history"),
    ("POST", "/api/v1/mcps/{id}/history/{version}/restore"),
    ("POST", "/api/v1/deployments"),
    ("GET", "/api/v1/deployments"),
    ("GET", "/api/v1/deployments/{id}"),
    ("DELETE", "/api/v1/deployments/{id}"),
    ("POST", "/api/v1/deployments/{id}/restart"),
    ("POST", "/api/v1/deployments/{id}/upgrade"),
    ("GET", "/api/v1/deployments/{id}/logs"),
    ("POST", "/mcp/{slug}"),
    ("GET", "/mcp/{slug}"),
    ("DELETE", "/mcp/{slug}"),
    ("POST", "/mcp/{slug}/v1/tools/{tool_name}"),
    ("POST", "/api/v1/analyze/feasibility"),
    ("POST", "/api/v1/analyze/improvements"),
    ("POST", "/api/v1/analyze/generate-config"),
    ("GET", "/api/v1/tasks"),
    ("POST", "/api/v1/knowledge/documents"),
    ("GET", "/api/v1/knowledge/documents"),
    ("GET", "/api/v1/knowledge/documents/{id}"),
    ("DELETE", "/api/v1/knowledge/documents/{id}"),
    ("POST", "/api/v1/knowledge/search"),
    ("GET", "/api/v1/tasks/{id}"),
    ("DELETE", "/api/v1/tasks/{id}"),
    ("GET", "/ws"),
    ("GET", "/events"),
];

/// A concrete path for a template: path parameters get plausible values.
fn concrete(template: &str) -> String {
    template
        .replace("{id}", &uuid::Uuid::new_v4().to_string())
        .replace("{slug}", "no-such-tool")
        .replace("{version}", "1.0.0")
        .replace("{tool_name}", "echo")
}

/// Whether a reply is the router's fallback for an unknown path.
fn is_route_fallback(reply: &Reply) -> bool {
    reply.status == 404 && reply.body["resource_type"] == "route"
}

fn assert_error_body(reply: &Reply, status: u16, code: &str) {
    assert_eq!(reply.status, status, "{}", reply.text);
    assert_eq!(
        reply.body["error_code"], code,
        "error_code of {}",
        reply.text
    );
    assert!(
        reply.body["detail"].is_string(),
        "detail is a sentence: {}",
        reply.text
    );
    let header = reply.header("x-request-id").unwrap_or_default();
    assert!(!header.is_empty(), "an error carries X-Request-Id");
    assert_eq!(
        reply.body["request_id"], header,
        "the body's request_id is the X-Request-Id header"
    );
}

async fn create_tool(app: &TestApp, token: &str, slug: &str) -> String {
    app.create_tool(token, slug).await["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

// ---------------------------------------------------------------- probes

#[tokio::test]
async fn health_is_200_healthy_with_a_check_per_configured_backend() {
    let app = spawn_app().await;
    let reply = app.get("/health", None).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["status"], "healthy");
    let checks = reply.body["checks"].as_object().expect("checks object");
    let names: Vec<&str> = checks.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        expected_health_checks(),
        "one check per configured backend"
    );
    assert!(
        checks.values().all(|v| v == true),
        "every check passes: {}",
        reply.text
    );
}

/// A backend that never answers its probe.
struct Down;

#[async_trait::async_trait]
impl Ping for Down {
    async fn ping(&self) -> mcp_platform::error::Result<()> {
        Err(mcp_platform::error::Error::Unavailable(
            "down for the test".into(),
        ))
    }
}

#[tokio::test]
async fn health_is_503_unhealthy_naming_the_failed_backend_with_the_same_body_shape() {
    let app = spawn_app().await;
    let mut services = app.state.services();
    let mut checks = services.health_checks.as_ref().clone();
    checks.push(("probe", Arc::new(Down)));
    services.health_checks = Arc::new(checks);
    let state = mcp_platform::state::AppState::from(services);
    let request = http::Request::builder()
        .uri("/health")
        .body(String::new())
        .expect("request");
    let response = tower::ServiceExt::oneshot(mcp_platform::http::app(state), request)
        .await
        .expect("infallible");
    assert_eq!(response.status().as_u16(), 503);
    assert!(response.headers().contains_key("x-request-id"));
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let body: Value = serde_json::from_slice(&bytes).expect("JSON body");
    let mut expected: serde_json::Map<String, Value> = expected_health_checks()
        .into_iter()
        .map(|name| (name.to_owned(), json!(true)))
        .collect();
    expected.insert("probe".into(), json!(false));
    assert_eq!(
        body,
        json!({"status": "unhealthy", "checks": expected, "queue": "sql",
               "queue_oldest_wait_seconds": 0,
               "sandbox": mcp_platform::sandbox::status(&app.state.settings.sandbox)}),
        "503 carries the same report, naming the failed check"
    );
}

#[tokio::test]
async fn health_turns_degraded_when_jobs_wait_past_the_bound_with_no_worker() {
    // `spawn_app` runs the API alone: no worker takes the job.
    let app = spawn_app_with(&[("JOB_MAX_WAIT_SECONDS", "1")]).await;
    let idle = app.get("/health", None).await;
    assert_eq!(idle.body["status"], "healthy", "{}", idle.text);
    if app.state.settings.jobs.queue.name() == "sql" {
        assert_eq!(idle.body["queue_oldest_wait_seconds"], 0, "{}", idle.text);
    }
    let dev = app.user("dev", "developer").await;
    let started = app
        .post(
            "/api/v1/analyze/feasibility",
            Some(&dev.access_token),
            json!({"config": {"runtime": {"transport": "stdio", "command": "node"}}}),
        )
        .await;
    assert_eq!(started.status, 202, "{}", started.text);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let stalled = app.get("/health", None).await;
    if app.state.settings.jobs.queue.name() != "sql" {
        // A broker does not report a message's age: nothing to judge by.
        assert_eq!(stalled.body["status"], "healthy", "{}", stalled.text);
        assert!(stalled.body.get("queue_oldest_wait_seconds").is_none());
        return;
    }
    assert_eq!(
        stalled.status, 200,
        "degraded still serves: {}",
        stalled.text
    );
    assert_eq!(stalled.body["status"], "degraded", "{}", stalled.text);
    let waited = stalled.body["queue_oldest_wait_seconds"]
        .as_u64()
        .expect("a wait in seconds");
    assert!((2..60).contains(&waited), "{}", stalled.text);
    let metrics = app.get("/metrics", None).await;
    assert!(
        metrics
            .text
            .lines()
            .any(|l| l.starts_with("mcp_jobs_oldest_wait_seconds 2")),
        "{}",
        metrics.text
    );
}

#[tokio::test]
async fn ready_is_200_without_credentials() {
    let app = spawn_app().await;
    let reply = app.get("/ready", None).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["status"], "ready");
}

// ---------------------------------------------------------------- metrics

#[tokio::test]
async fn metrics_count_requests_by_route_template_never_by_raw_path() {
    let app = spawn_app().await;
    let dev = app.user("dev1", "developer").await;
    let t = &dev.access_token;
    let id = create_tool(&app, t, "weather").await;
    for _ in 0..2 {
        assert_eq!(
            app.get(&format!("/api/v1/mcps/{id}"), Some(t)).await.status,
            200
        );
    }
    let missing = uuid::Uuid::new_v4();
    assert_eq!(
        app.get(&format!("/api/v1/mcps/{missing}"), Some(t))
            .await
            .status,
        404
    );
    assert_eq!(app.get("/no/such/path/xyzzy", None).await.status, 404);

    let reply = app.get("/metrics", None).await;
    assert_eq!(reply.status, 200);
    assert!(
        reply
            .header("content-type")
            .unwrap_or_default()
            .starts_with("text/plain"),
        "Prometheus text content type, got {:?}",
        reply.header("content-type")
    );
    let text = &reply.text;
    for line in [
        r#"http_requests_total{method="GET",route="/api/v1/mcps/{id}",status="200"} 2"#,
        r#"http_requests_total{method="GET",route="/api/v1/mcps/{id}",status="404"} 1"#,
        r#"http_requests_total{method="POST",route="/api/v1/mcps",status="201"} 1"#,
        r#"http_request_duration_seconds_bucket{method="GET",route="/api/v1/mcps/{id}",le="+Inf"} 3"#,
        r#"http_request_duration_seconds_count{method="GET",route="/api/v1/mcps/{id}"} 3"#,
        "cache_hits_total 1",
        "mcp_tools_total 1",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "metrics has `{line}`:\n{text}"
        );
    }
    for raw in [id.as_str(), &missing.to_string(), "xyzzy"] {
        assert!(
            !text.contains(raw),
            "metrics never carry a raw path segment ({raw}):\n{text}"
        );
    }
}

#[tokio::test]
async fn metrics_do_not_grow_a_series_per_made_up_method() {
    let app = spawn_app().await;
    for method in ["XYZZY1", "XYZZY2", "PLUGH"] {
        let reply = app.send(method, "/health", None, None).await;
        assert_eq!(reply.status, 405, "{method} /health: {}", reply.text);
    }
    let text = app.get("/metrics", None).await.text;
    for method in ["XYZZY1", "XYZZY2", "PLUGH"] {
        assert!(
            !text.contains(method),
            "a client-chosen method ({method}) is not a label value:\n{text}"
        );
    }
    assert!(
        text.lines()
            .any(|l| l == r#"http_requests_total{method="OTHER",route="/health",status="405"} 3"#),
        "unknown methods are counted together as OTHER:\n{text}"
    );
}

#[tokio::test]
async fn metrics_are_valid_prometheus_text() {
    let app = spawn_app().await;
    assert_eq!(app.get("/health", None).await.status, 200);
    let text = app.get("/metrics", None).await.text;
    let mut typed = BTreeSet::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split_whitespace();
            let name = parts.next().expect("a TYPE line names its metric");
            let kind = parts.next().expect("a TYPE line names its kind");
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "known metric type in `{line}`"
            );
            typed.insert(name.to_owned());
            continue;
        }
        if line.starts_with("# HELP ") {
            continue;
        }
        assert!(
            !line.starts_with('#'),
            "only HELP and TYPE comments: `{line}`"
        );
        let (series, value) = line.rsplit_once(' ').expect("`series value`");
        assert!(
            value.parse::<f64>().is_ok() || ["NaN", "+Inf", "-Inf"].contains(&value),
            "a numeric sample value in `{line}`"
        );
        let name = series.split('{').next().unwrap_or(series);
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s).filter(|f| typed.contains(*f)))
            .unwrap_or(name);
        assert!(typed.contains(family), "`{name}` follows a # TYPE line");
        if let Some(labels) = series.split_once('{').map(|(_, l)| l) {
            assert!(labels.ends_with('}'), "closed label set in `{line}`");
        }
    }
    for family in [
        "http_requests_total",
        "http_request_duration_seconds",
        "cache_hits_total",
        "cache_misses_total",
        "mcp_tools_total",
    ] {
        assert!(typed.contains(family), "metrics declare {family}:\n{text}");
    }
}

// ---------------------------------------------------------------- OpenAPI

fn documented_routes(doc: &Value) -> BTreeSet<(String, String)> {
    let paths = doc["paths"].as_object().expect("the document has paths");
    let mut routes = BTreeSet::new();
    for (path, item) in paths {
        for method in [
            "get", "put", "post", "delete", "options", "head", "patch", "trace",
        ] {
            if item.get(method).is_some() {
                routes.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    routes
}

fn served_routes() -> BTreeSet<(String, String)> {
    ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect()
}

#[tokio::test]
async fn the_openapi_document_is_openapi_3_1_and_lists_exactly_the_served_routes() {
    let app = spawn_app().await;
    let reply = app.get("/api/openapi.json", None).await;
    assert_eq!(reply.status, 200);
    assert!(
        reply
            .header("content-type")
            .unwrap_or_default()
            .starts_with("application/json"),
        "JSON content type"
    );
    let doc: Value = serde_json::from_str(&reply.text).expect("the document is valid JSON");
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "OpenAPI 3.1, got {}",
        doc["openapi"]
    );
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    let documented = documented_routes(&doc);
    let served = served_routes();
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let unknown: Vec<_> = documented.difference(&served).collect();
    assert!(
        undocumented.is_empty(),
        "served but not documented: {undocumented:?}"
    );
    assert!(
        unknown.is_empty(),
        "documented but missing from this test's ROUTES (add them): {unknown:?}"
    );
    let mut operation_ids = BTreeSet::new();
    for (method, path) in &documented {
        let op = &doc["paths"][path][method.to_lowercase()];
        assert!(
            op["responses"].as_object().is_some_and(|r| !r.is_empty()),
            "{method} {path} documents its responses"
        );
        if let Some(id) = op["operationId"].as_str() {
            assert!(
                operation_ids.insert(id.to_owned()),
                "operationId {id} is unique"
            );
        }
        let in_path: BTreeSet<&str> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .collect();
        let declared: BTreeSet<&str> = op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == "path")
            .filter_map(|p| p["name"].as_str())
            .collect();
        assert_eq!(
            declared, in_path,
            "{method} {path} declares its path parameters"
        );
    }
}

/// Every `$ref` string anywhere in `value`.
fn refs(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => {
                        out.insert(r.clone());
                    }
                    _ => refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[tokio::test]
async fn every_schema_reference_in_the_openapi_document_resolves() {
    let app = spawn_app().await;
    let doc: Value = serde_json::from_str(&app.get("/api/openapi.json", None).await.text)
        .expect("the document is valid JSON");
    let mut found = BTreeSet::new();
    refs(&doc, &mut found);
    assert!(!found.is_empty(), "the document uses component schemas");
    for r in &found {
        let pointer = r
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("local reference: {r}"));
        assert!(
            doc.pointer(pointer).is_some(),
            "{r} resolves to a component"
        );
    }
}

#[tokio::test]
async fn every_listed_route_is_served_not_the_unknown_path_fallback() {
    let app = spawn_app().await;
    for (method, template) in ROUTES {
        let path = concrete(template);
        let body = matches!(*method, "POST" | "PUT" | "PATCH").then(|| json!({}));
        let reply = app.send(method, &path, None, body).await;
        assert!(
            !is_route_fallback(&reply) && reply.status != 405,
            "{method} {template} is routed (got {}: {})",
            reply.status,
            reply.text
        );
    }
}

#[tokio::test]
async fn docs_is_an_html_page_that_loads_the_openapi_document() {
    let app = spawn_app().await;
    let reply = app.get("/api/docs", None).await;
    assert_eq!(reply.status, 200);
    assert!(
        reply
            .header("content-type")
            .unwrap_or_default()
            .starts_with("text/html"),
        "HTML content type, got {:?}",
        reply.header("content-type")
    );
    assert!(
        reply.text.to_lowercase().contains("<html"),
        "an HTML document"
    );
    let csp = reply.header("content-security-policy").unwrap_or_default();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("default-src 'none'"),
        "a CSP that allows only this origin's scripts: {csp:?}"
    );
    // Everything the page loads is served here (it works offline): every
    // src and href is a path of ours, and each one answers.
    let referenced: Vec<&str> = reply
        .text
        .split(['"', '\''])
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, v)| v)
        .filter(|v| v.starts_with('/') || v.contains("://"))
        .collect();
    assert!(referenced.len() >= 3, "{referenced:?}");
    for url in referenced {
        assert!(url.starts_with('/'), "{url} is on another origin");
        let asset = app.get(url, None).await;
        assert_eq!(asset.status, 200, "{url}");
    }
    let bundle = app.get("/api/docs/swagger-ui-bundle.js", None).await;
    assert!(bundle
        .header("content-type")
        .unwrap_or_default()
        .starts_with("text/javascript"));
    assert!(
        bundle.text.contains("SwaggerUIBundle"),
        "the real Swagger UI"
    );
    assert_eq!(app.get("/api/docs/nope.js", None).await.status, 404);
    let init = app.get("/api/docs/init.js", None).await;
    assert!(
        init.text.contains("/api/openapi.json"),
        "it renders /api/openapi.json"
    );
}

#[tokio::test]
async fn json_answers_carry_a_csp_and_hsts_follows_an_https_public_url() {
    let plain = spawn_app().await;
    let health = plain.get("/health", None).await;
    assert_eq!(
        health.header("content-security-policy"),
        Some("default-src 'none'; frame-ancestors 'none'; base-uri 'none'")
    );
    assert_eq!(
        health.header("strict-transport-security"),
        None,
        "plain http"
    );
    let tls =
        mcp_platform_tests::spawn_app_with(&[("PUBLIC_URL", "https://mcp.example.com")]).await;
    assert!(
        tls.get("/health", None)
            .await
            .header("strict-transport-security")
            .is_some_and(|v| v.starts_with("max-age=")),
        "HSTS behind an https public URL"
    );
}

// ---------------------------------------------------------------- errors

#[tokio::test]
async fn an_unknown_path_is_a_404_json_error_body() {
    let app = spawn_app().await;
    for path in ["/nope", "/api/v1/nope", "/api/v1/mcps/a/b/c/d"] {
        let reply = app.get(path, None).await;
        assert_error_body(&reply, 404, "NOT_FOUND");
        assert!(
            reply
                .header("content-type")
                .unwrap_or_default()
                .starts_with("application/json"),
            "{path}: JSON error body"
        );
    }
}

#[tokio::test]
async fn a_wrong_method_is_a_405_json_error_body_with_allow() {
    let app = spawn_app().await;
    for (method, path, allowed) in [
        ("DELETE", "/health", vec!["GET"]),
        ("POST", "/metrics", vec!["GET"]),
        ("PATCH", "/api/v1/mcps", vec!["GET", "POST"]),
        ("POST", "/api/v1/auth/me", vec!["GET"]),
    ] {
        let reply = app.send(method, path, None, None).await;
        assert_error_body(&reply, 405, "METHOD_NOT_ALLOWED");
        let allow = reply.header("allow").unwrap_or_default().to_owned();
        for m in allowed {
            assert!(
                allow.contains(m),
                "{method} {path}: Allow names {m}, got {allow:?}"
            );
        }
    }
}

#[tokio::test]
async fn every_response_carries_x_request_id_and_echoes_a_sane_client_id() {
    let app = spawn_app_with(&[("MAX_BODY_BYTES", "1024")]).await;
    let dev = app.user("dev1", "developer").await;
    let t = &dev.access_token;
    let replies = [
        ("200", app.get("/health", None).await),
        ("401", app.get("/api/v1/mcps", None).await),
        ("404", app.get("/nope", None).await),
        ("405", app.send("DELETE", "/ready", None, None).await),
        (
            "400",
            app.send_raw("POST", "/api/v1/mcps", Some(t), b"{not json".to_vec())
                .await,
        ),
        ("422", app.post("/api/v1/mcps", Some(t), json!({})).await),
        (
            "413",
            app.send_raw("POST", "/api/v1/mcps", Some(t), vec![b' '; 4096])
                .await,
        ),
    ];
    for (expected, reply) in &replies {
        assert_eq!(reply.status.to_string(), *expected, "{}", reply.text);
        assert!(
            reply.header("x-request-id").is_some_and(|v| !v.is_empty()),
            "{expected} carries X-Request-Id"
        );
    }
    let ids: BTreeSet<_> = replies
        .iter()
        .filter_map(|(_, r)| r.header("x-request-id"))
        .collect();
    assert_eq!(ids.len(), replies.len(), "each request gets its own id");

    let echoed = app
        .client
        .get(app.url("/nope"))
        .header("X-Request-Id", "client-abc.123")
        .send()
        .await
        .expect("sent");
    assert_eq!(
        echoed
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok()),
        Some("client-abc.123"),
        "a sane client id is echoed"
    );
    let body: Value = echoed.json().await.expect("json");
    assert_eq!(
        body["request_id"], "client-abc.123",
        "and used in the error body"
    );

    let replaced = app
        .client
        .get(app.url("/health"))
        .header("X-Request-Id", "has spaces and \"quotes\"")
        .send()
        .await
        .expect("sent");
    let id = replaced
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(
        uuid::Uuid::parse_str(id).is_ok(),
        "an unsafe client id is replaced by a generated one, got {id:?}"
    );
}

#[tokio::test]
async fn security_headers_are_on_success_and_error_responses() {
    let app = spawn_app().await;
    for reply in [
        app.get("/health", None).await,
        app.get("/nope", None).await,
        app.get("/api/v1/mcps", None).await,
        app.get("/api/docs", None).await,
    ] {
        for (name, value) in [
            ("x-content-type-options", "nosniff"),
            ("x-frame-options", "DENY"),
            ("referrer-policy", "no-referrer"),
            ("cache-control", "no-store"),
        ] {
            assert_eq!(
                reply.header(name),
                Some(value),
                "{name} on a {} response",
                reply.status
            );
        }
    }
}

#[tokio::test]
async fn a_large_list_is_gzipped_when_the_client_accepts_gzip() {
    let app = spawn_app().await;
    let dev = app.user("dev1", "developer").await;
    let t = &dev.access_token;
    for i in 0..30 {
        app.create_tool(t, &format!("tool-{i}")).await;
    }
    let url = app.url("/api/v1/mcps?page_size=100");
    let plain = app
        .client
        .get(&url)
        .bearer_auth(t)
        .send()
        .await
        .expect("sent");
    assert_eq!(plain.status(), 200);
    assert!(
        plain.headers().get("content-encoding").is_none(),
        "no compression unless asked"
    );
    let plain_len = plain.bytes().await.expect("body").len();

    let gz = app
        .client
        .get(&url)
        .bearer_auth(t)
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .expect("sent");
    assert_eq!(gz.status(), 200);
    assert_eq!(
        gz.headers()
            .get("content-encoding")
            .and_then(|v| v.to_str().ok()),
        Some("gzip"),
        "gzip when the client accepts it"
    );
    assert!(gz.headers().get("x-request-id").is_some());
    let bytes = gz.bytes().await.expect("body");
    assert_eq!(bytes.get(..2), Some(&[0x1f, 0x8b][..]), "a gzip stream");
    assert!(
        bytes.len() < plain_len / 2,
        "compressed ({} bytes) is much smaller than plain ({plain_len} bytes)",
        bytes.len()
    );
}

/// A handler that panics with something secret in its message.
async fn explode() -> &'static str {
    let secret = String::from("db-password-hunter2");
    panic!("handler exploded near {secret}")
}

#[tokio::test]
async fn a_panicking_handler_is_a_500_json_error_with_the_shared_headers_and_no_internals() {
    let app = spawn_app().await;
    let routes = axum::Router::new().route("/boom", axum::routing::get(explode));
    let router = mcp_platform::http::stack(routes, app.state.clone());
    let request = http::Request::builder()
        .uri("/boom")
        .header("x-request-id", "panic-probe-1")
        .body(String::new())
        .expect("request");
    let response = tower::ServiceExt::oneshot(router, request)
        .await
        .expect("infallible");
    assert_eq!(response.status().as_u16(), 500);
    let headers = response.headers().clone();
    assert_eq!(
        headers.get("x-request-id").and_then(|v| v.to_str().ok()),
        Some("panic-probe-1"),
        "a panic's response carries the request id"
    );
    for (name, value) in [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        ("cache-control", "no-store"),
    ] {
        assert_eq!(
            headers.get(name).and_then(|v| v.to_str().ok()),
            Some(value),
            "{name} on a panic's 500"
        );
    }
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let text = String::from_utf8_lossy(&bytes);
    let body: Value = serde_json::from_str(&text).expect("a JSON error body");
    assert_eq!(body["error_code"], "INTERNAL_ERROR");
    assert_eq!(body["request_id"], "panic-probe-1");
    assert!(
        !text.contains("hunter2") && !text.contains("exploded"),
        "no internals in a 500 body: {text}"
    );
}

#[tokio::test]
async fn a_cors_preflight_carries_the_security_headers_too() {
    let app = spawn_app_with(&[("CORS_ORIGINS", "https://app.example.com")]).await;
    let reply = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/api/v1/mcps"))
        .header("Origin", "https://app.example.com")
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "authorization,content-type",
        )
        .send()
        .await
        .expect("sent");
    assert!(
        reply.status().is_success(),
        "preflight answered: {}",
        reply.status()
    );
    let headers = reply.headers();
    assert_eq!(
        headers
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("https://app.example.com"),
        "the allowed origin is echoed"
    );
    assert!(
        headers.contains_key("x-request-id"),
        "preflight carries X-Request-Id"
    );
    assert_eq!(
        headers
            .get("x-content-type-options")
            .and_then(|v| v.to_str().ok()),
        Some("nosniff"),
        "preflight carries the security headers"
    );
}

#[tokio::test]
async fn the_bare_address_says_what_it_is_and_where_to_look() {
    let app = spawn_app().await;
    let root = app.get("/", None).await;
    assert_eq!(root.status, 200, "{}", root.text);
    assert_eq!(root.body["name"], "mcp-platform");
    assert!(root.body["version"].is_string());
    for (link, path) in [
        ("docs", "/api/docs"),
        ("health", "/health"),
        ("openapi", "/api/openapi.json"),
    ] {
        assert_eq!(root.body["links"][link], path, "{}", root.text);
        assert_eq!(app.get(path, None).await.status, 200, "{path} answers");
    }
}
