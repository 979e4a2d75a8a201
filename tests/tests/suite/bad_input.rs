//! Invalid input, black-box (SPEC §3 "Errors", §5.8): on every route with a
//! body, malformed JSON is 400, a well-formed body with problems is one 422
//! naming each bad field by `loc`, an oversized body is 413; bad query and
//! path parameters are 422 too; nothing is ever a 500, and every error is the
//! SPEC envelope with a request id.

use std::collections::BTreeSet;

use mcp_platform_tests::{
    assert_error, error_kind, error_locs, spawn_app_with, tool_body, Reply, TestApp,
};
use proptest::prelude::*;
use serde_json::{json, Map, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;

/// One route that takes a JSON body, and what its body must hold.
struct BodyRoute {
    method: &'static str,
    path: String,
    /// An admin's token (admins may call every route), or none.
    auth: Option<String>,
    /// A body the route accepts.
    valid: Value,
    /// Fields whose absence is a 422 `missing`.
    required: &'static [&'static str],
    /// A body in which every field has the wrong JSON type …
    wrong_types: Value,
    /// … and the `loc`s the 422 must name for it.
    wrong_type_locs: &'static [&'static str],
}

impl BodyRoute {
    fn name(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// The platform, an admin, a tool and a user to aim the `{id}` routes at.
struct Setup {
    app: TestApp,
    admin_token: String,
    tool_id: String,
    user_id: String,
}

/// Request limits would only add 429s to the hundreds of requests these tests send.
const NO_LIMITS: [(&str, &str); 3] = [
    ("RATE_LIMIT_ENABLED", "false"),
    ("LOGIN_MAX_ATTEMPTS_PER_IP", "100000"),
    ("LOGIN_MAX_ATTEMPTS_PER_ACCOUNT", "100000"),
];

async fn setup_with(vars: &[(&str, &str)]) -> Setup {
    let mut all: Vec<(&str, &str)> = NO_LIMITS.to_vec();
    all.extend_from_slice(vars);
    let app = spawn_app_with(&all).await;
    let admin = app.admin("root").await;
    let tool = app.create_tool(&admin.access_token, "target-tool").await;
    let user = app.register("someone", "developer").await;
    assert_eq!(user.status, 201, "{}", user.text);
    Setup {
        admin_token: admin.access_token,
        tool_id: tool["id"].as_str().unwrap_or_default().to_owned(),
        user_id: user.body["id"].as_str().unwrap_or_default().to_owned(),
        app,
    }
}

async fn setup() -> Setup {
    setup_with(&[]).await
}

fn body_routes(s: &Setup) -> Vec<BodyRoute> {
    let admin = Some(s.admin_token.clone());
    vec![
        BodyRoute {
            method: "POST",
            path: "/api/v1/auth/register".into(),
            auth: None,
            valid: json!({"username": "valid-user", "email": "valid@example.com", "password": "a-long-password"}),
            required: &["username", "email", "password"],
            wrong_types: json!({"username": 1, "email": [], "password": {}, "role": 5}),
            wrong_type_locs: &["body.username", "body.email", "body.password", "body.role"],
        },
        BodyRoute {
            method: "POST",
            path: "/api/v1/auth/login".into(),
            auth: None,
            valid: json!({"username": "nobody", "password": "whatever-password"}),
            required: &["username", "password"],
            wrong_types: json!({"username": 1, "password": true}),
            wrong_type_locs: &["body.username", "body.password"],
        },
        BodyRoute {
            method: "POST",
            path: "/api/v1/auth/refresh".into(),
            auth: None,
            valid: json!({"refresh_token": "mcp_rt_unknown"}),
            required: &["refresh_token"],
            wrong_types: json!({"refresh_token": 5}),
            wrong_type_locs: &["body.refresh_token"],
        },
        BodyRoute {
            method: "POST",
            path: "/api/v1/auth/logout".into(),
            auth: admin.clone(),
            // Ends the session of the admin's access token (which stays
            // valid until it expires).
            valid: json!({}),
            required: &[],
            wrong_types: json!({"refresh_token": 5}),
            wrong_type_locs: &["body.refresh_token"],
        },
        BodyRoute {
            method: "POST",
            path: "/api/v1/auth/api-keys".into(),
            auth: admin.clone(),
            valid: json!({"name": "ci"}),
            required: &["name"],
            wrong_types: json!({"name": 5, "expires_at": 7}),
            wrong_type_locs: &["body.name", "body.expires_at"],
        },
        BodyRoute {
            method: "POST",
            path: "/api/v1/admin/users".into(),
            auth: admin.clone(),
            valid: json!({"username": "made-user", "email": "made@example.com", "password": "a-long-password", "role": "viewer"}),
            required: &["username", "email", "password", "role"],
            wrong_types: json!({"username": 1, "email": 2, "password": 3, "role": 4}),
            wrong_type_locs: &["body.username", "body.email", "body.password", "body.role"],
        },
        BodyRoute {
            method: "PATCH",
            path: format!("/api/v1/admin/users/{}", s.user_id),
            auth: admin.clone(),
            valid: json!({"role": "viewer"}),
            required: &[],
            wrong_types: json!({"role": 1, "is_active": "yes"}),
            wrong_type_locs: &["body.role", "body.is_active"],
        },
        BodyRoute {
            method: "POST",
            path: "/api/v1/mcps".into(),
            auth: admin.clone(),
            valid: tool_body("valid-tool"),
            required: &["name", "slug", "version", "config"],
            wrong_types: json!({"name": 1, "slug": 2, "description": 3, "version": 4, "config": "x", "tags": "y"}),
            wrong_type_locs: &[
                "body.name",
                "body.slug",
                "body.description",
                "body.version",
                "body.config",
                "body.tags",
            ],
        },
        BodyRoute {
            method: "PUT",
            path: format!("/api/v1/mcps/{}", s.tool_id),
            auth: admin.clone(),
            valid: json!({"description": "put"}),
            required: &[],
            wrong_types: json!({"name": 1, "description": 2, "version": 3, "config": [], "status": 4, "tags": 5}),
            wrong_type_locs: &[
                "body.name",
                "body.description",
                "body.version",
                "body.config",
                "body.status",
                "body.tags",
            ],
        },
        BodyRoute {
            method: "PATCH",
            path: format!("/api/v1/mcps/{}", s.tool_id),
            auth: admin,
            valid: json!({"description": "patch"}),
            required: &[],
            wrong_types: json!({"name": 1, "description": 2, "version": 3, "config": [], "status": 4, "tags": 5}),
            wrong_type_locs: &[
                "body.name",
                "body.description",
                "body.version",
                "body.config",
                "body.status",
                "body.tags",
            ],
        },
    ]
}

async fn send_bytes(app: &TestApp, route: &BodyRoute, body: Vec<u8>) -> Reply {
    app.send_raw(route.method, &route.path, route.auth.as_deref(), body)
        .await
}

async fn send_json(app: &TestApp, route: &BodyRoute, body: &Value) -> Reply {
    send_bytes(app, route, body.to_string().into_bytes()).await
}

fn locs(reply: &Reply) -> BTreeSet<String> {
    error_locs(reply).into_iter().collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn merged(base: &Value, extra: Value) -> Value {
    let mut out: Map<String, Value> = base.as_object().cloned().unwrap_or_default();
    out.extend(extra.as_object().cloned().unwrap_or_default());
    Value::Object(out)
}

// ---- bodies ---------------------------------------------------------------

#[tokio::test]
async fn malformed_json_is_400_invalid_request_on_every_body_route() {
    let s = setup().await;
    let malformed: [(&str, &[u8]); 7] = [
        ("truncated", b"{\"name\":"),
        ("single quotes", b"{'name': 'x'}"),
        ("trailing garbage", b"{\"name\": \"x\"} trailing"),
        ("trailing comma", b"{\"name\": \"x\",}"),
        ("invalid UTF-8", b"{\"name\": \"\xff\xfe\"}"),
        ("lone surrogate", b"{\"name\": \"\\ud800\"}"),
        ("not JSON at all", b"name=x&slug=y"),
    ];
    for route in body_routes(&s) {
        for (what, bytes) in malformed {
            let reply = send_bytes(&s.app, &route, bytes.to_vec()).await;
            let context = format!("{} with {what} JSON", route.name());
            assert_error(&reply, 400, "INVALID_REQUEST", &context);
            assert!(
                reply.body["detail"].is_string(),
                "{context}: a 400 detail is a sentence"
            );
        }
    }
}

#[tokio::test]
async fn an_empty_body_is_400_where_a_body_is_required() {
    let s = setup().await;
    for route in body_routes(&s) {
        let reply = send_bytes(&s.app, &route, Vec::new()).await;
        if route.path.ends_with("/logout") {
            assert_eq!(
                reply.status, 204,
                "logout's body is optional: {}",
                reply.text
            );
        } else {
            assert_error(
                &reply,
                400,
                "INVALID_REQUEST",
                &format!("{} empty", route.name()),
            );
        }
    }
}

#[tokio::test]
async fn a_json_body_that_is_not_an_object_is_422_at_body() {
    let s = setup().await;
    for route in body_routes(&s) {
        for body in [
            "[]",
            "[{\"name\": \"x\"}]",
            "\"text\"",
            "42",
            "null",
            "true",
        ] {
            let reply = send_bytes(&s.app, &route, body.as_bytes().to_vec()).await;
            let context = format!("{} with {body}", route.name());
            assert_error(&reply, 422, "VALIDATION_ERROR", &context);
            assert_eq!(error_locs(&reply), ["body"], "{context}: {}", reply.text);
        }
    }
}

#[tokio::test]
async fn missing_required_fields_are_each_listed() {
    let s = setup().await;
    for route in body_routes(&s) {
        let context = format!("{} with {{}}", route.name());
        let reply = send_json(&s.app, &route, &json!({})).await;
        if route.required.is_empty() {
            assert!(
                reply.status < 300,
                "{context}: nothing is required here: {}",
                reply.text
            );
            continue;
        }
        assert_error(&reply, 422, "VALIDATION_ERROR", &context);
        let expected: BTreeSet<String> =
            route.required.iter().map(|f| format!("body.{f}")).collect();
        assert_eq!(locs(&reply), expected, "{context}: {}", reply.text);
        for loc in &expected {
            assert_eq!(
                error_kind(&reply, loc).as_deref(),
                Some("missing"),
                "{context}: {loc}"
            );
        }
        // null is as good as absent for a required field.
        let nulls: Map<String, Value> = route
            .required
            .iter()
            .map(|f| ((*f).to_owned(), Value::Null))
            .collect();
        let reply = send_json(&s.app, &route, &Value::Object(nulls)).await;
        assert_eq!(
            locs(&reply),
            expected,
            "{} with nulls: {}",
            route.name(),
            reply.text
        );
    }
}

#[tokio::test]
async fn fields_of_the_wrong_type_are_each_listed() {
    let s = setup().await;
    for route in body_routes(&s) {
        let context = format!("{} with {}", route.name(), route.wrong_types);
        let reply = send_json(&s.app, &route, &route.wrong_types).await;
        assert_error(&reply, 422, "VALIDATION_ERROR", &context);
        assert_eq!(
            locs(&reply),
            set(route.wrong_type_locs),
            "{context}: {}",
            reply.text
        );
        for error in reply.body["detail"].as_array().cloned().unwrap_or_default() {
            assert!(
                error["msg"].as_str().is_some_and(|m| !m.is_empty())
                    && error["type"].as_str().is_some_and(|t| !t.is_empty()),
                "{context}: each field error has a msg and a type: {error}"
            );
        }
    }
}

#[tokio::test]
async fn unknown_fields_are_422_extra_forbidden() {
    let s = setup().await;
    for route in body_routes(&s) {
        let body = merged(&route.valid, json!({"bogus": 1, "is_admin": true}));
        let context = format!("{} with unknown fields", route.name());
        let reply = send_json(&s.app, &route, &body).await;
        assert_error(&reply, 422, "VALIDATION_ERROR", &context);
        assert_eq!(
            locs(&reply),
            set(&["body.bogus", "body.is_admin"]),
            "{context}: {}",
            reply.text
        );
        assert_eq!(
            error_kind(&reply, "body.bogus").as_deref(),
            Some("extra_forbidden"),
            "{context}"
        );
    }
}

#[tokio::test]
async fn the_valid_bodies_of_this_suite_are_accepted() {
    // The control case of the tests above: their base bodies are valid, so
    // each 422 there is for the one flaw the test adds.
    let s = setup().await;
    for route in body_routes(&s) {
        let reply = send_json(&s.app, &route, &route.valid).await;
        let ok = reply.status < 300
            || (route.path.ends_with("/login") || route.path.ends_with("/refresh"))
                && reply.status == 401;
        assert!(
            ok,
            "{} with its valid body: {} {}",
            route.name(),
            reply.status,
            reply.text
        );
    }
}

#[tokio::test]
async fn unknown_enum_values_are_422() {
    let s = setup().await;
    let routes = body_routes(&s);
    let find = |method: &str, prefix: &str| {
        routes
            .iter()
            .find(|r| r.method == method && r.path.starts_with(prefix))
            .expect("route in table")
    };
    let cases = [
        (
            find("POST", "/api/v1/auth/register"),
            json!({"role": "superuser"}),
            "body.role",
        ),
        (
            find("POST", "/api/v1/auth/register"),
            json!({"role": "Developer"}),
            "body.role",
        ),
        (
            find("POST", "/api/v1/admin/users"),
            json!({"role": "root"}),
            "body.role",
        ),
        (
            find("PATCH", "/api/v1/admin/users/"),
            json!({"role": "owner"}),
            "body.role",
        ),
        (
            find("PATCH", "/api/v1/mcps/"),
            json!({"status": "retired"}),
            "body.status",
        ),
        (
            find("PUT", "/api/v1/mcps/"),
            json!({"status": "ACTIVE"}),
            "body.status",
        ),
        (
            find("PATCH", "/api/v1/mcps/"),
            json!({"config": {"runtime": {"transport": "carrier-pigeon"}}}),
            "body.config.runtime.transport",
        ),
    ];
    for (route, extra, loc) in cases {
        let body = merged(&route.valid, extra.clone());
        let context = format!("{} with {extra}", route.name());
        let reply = send_json(&s.app, route, &body).await;
        assert_error(&reply, 422, "VALIDATION_ERROR", &context);
        assert_eq!(error_locs(&reply), [loc], "{context}: {}", reply.text);
        let msg = reply.body["detail"][0]["msg"].as_str().unwrap_or_default();
        assert!(
            msg.contains("one of") || msg.contains("transport"),
            "{context}: the message says what is allowed: {msg}"
        );
    }
}

#[tokio::test]
async fn every_bad_field_of_a_registration_is_listed_at_once() {
    let s = setup().await;
    let reply = s
        .app
        .post(
            "/api/v1/auth/register",
            None,
            json!({"username": "x", "email": "not-an-email", "password": 5}),
        )
        .await;
    assert_error(
        &reply,
        422,
        "VALIDATION_ERROR",
        "register with three bad fields",
    );
    assert_eq!(
        locs(&reply),
        set(&["body.username", "body.email", "body.password"]),
        "a bad shape must not hide bad values: {}",
        reply.text
    );
}

#[tokio::test]
async fn every_bad_field_of_an_admin_created_user_is_listed_at_once() {
    let s = setup().await;
    let reply = s
        .app
        .post(
            "/api/v1/admin/users",
            Some(&s.admin_token),
            json!({"username": "x", "email": "nope", "password": "short", "role": "root"}),
        )
        .await;
    assert_error(
        &reply,
        422,
        "VALIDATION_ERROR",
        "admin create with four bad fields",
    );
    assert_eq!(
        locs(&reply),
        set(&["body.username", "body.email", "body.password", "body.role"]),
        "{}",
        reply.text
    );
}

#[tokio::test]
async fn every_bad_value_of_a_new_tool_is_listed_at_once() {
    let s = setup().await;
    let reply = s
        .app
        .post(
            "/api/v1/mcps",
            Some(&s.admin_token),
            json!({"name": "  ", "slug": "Bad Slug", "version": "1.0", "description": "x".repeat(10_001),
                   "config": {"runtime": {"transport": "stdio"}}, "tags": ["BAD TAG!"]}),
        )
        .await;
    assert_error(&reply, 422, "VALIDATION_ERROR", "tool with six bad values");
    assert_eq!(
        locs(&reply),
        set(&[
            "body.name",
            "body.slug",
            "body.version",
            "body.description",
            "body.config.runtime.command",
            "body.tags",
        ]),
        "{}",
        reply.text
    );
}

#[tokio::test]
async fn value_rules_of_accounts_are_422_naming_the_field() {
    let s = setup().await;
    let cases = [
        (
            json!({"username": "ab", "email": "ok@example.com", "password": "long-enough"}),
            "body.username",
        ),
        (
            json!({"username": "-dash-first", "email": "ok@example.com", "password": "long-enough"}),
            "body.username",
        ),
        (
            json!({"username": "has space", "email": "ok@example.com", "password": "long-enough"}),
            "body.username",
        ),
        (
            json!({"username": "nul\u{0}byte", "email": "ok@example.com", "password": "long-enough"}),
            "body.username",
        ),
        (
            json!({"username": "x".repeat(51), "email": "ok@example.com", "password": "long-enough"}),
            "body.username",
        ),
        (
            json!({"username": "okname", "email": "no-at-sign", "password": "long-enough"}),
            "body.email",
        ),
        (
            json!({"username": "okname", "email": "a@b", "password": "long-enough"}),
            "body.email",
        ),
        (
            json!({"username": "okname", "email": "ok@example.com", "password": "7chars!"}),
            "body.password",
        ),
        (
            json!({"username": "okname", "email": "ok@example.com", "password": "p".repeat(129)}),
            "body.password",
        ),
    ];
    for (body, loc) in cases {
        let reply = s
            .app
            .post("/api/v1/auth/register", None, body.clone())
            .await;
        let context = format!("register {body}");
        assert_error(&reply, 422, "VALIDATION_ERROR", &context);
        assert_eq!(error_locs(&reply), [loc], "{context}: {}", reply.text);
    }
    let key = s
        .app
        .post(
            "/api/v1/auth/api-keys",
            Some(&s.admin_token),
            json!({"name": "   ", "expires_at": "next tuesday"}),
        )
        .await;
    assert_error(
        &key,
        422,
        "VALIDATION_ERROR",
        "api key with blank name and bad date",
    );
    assert_eq!(
        locs(&key),
        set(&["body.name", "body.expires_at"]),
        "{}",
        key.text
    );
}

#[tokio::test]
async fn bodies_over_max_body_bytes_are_413_on_every_body_route() {
    let s = setup_with(&[("MAX_BODY_BYTES", "1024")]).await;
    for route in body_routes(&s) {
        let big = merged(&route.valid, json!({"padding": "x".repeat(2000)}));
        let reply = send_json(&s.app, &route, &big).await;
        assert_error(
            &reply,
            413,
            "PAYLOAD_TOO_LARGE",
            &format!("{} with 2 KB", route.name()),
        );
    }
    let mut body = tool_body("just-under");
    body["description"] = json!("d".repeat(500));
    let size = body.to_string().len();
    assert!(size < 1024, "the control body is {size} bytes");
    let under = s.app.post("/api/v1/mcps", Some(&s.admin_token), body).await;
    assert_eq!(
        under.status, 201,
        "a body under the limit is accepted: {}",
        under.text
    );
}

#[tokio::test]
async fn a_chunked_body_over_max_body_bytes_is_413_too() {
    // Without Content-Length the limit must hold while the body streams in.
    let s = setup_with(&[("MAX_BODY_BYTES", "1024")]).await;
    let mut stream = tokio::net::TcpStream::connect(s.app.addr)
        .await
        .expect("connect");
    let head = "POST /api/v1/auth/register HTTP/1.1\r\nHost: localhost\r\n\
                Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\
                Connection: close\r\n\r\n";
    let mut request = head.as_bytes().to_vec();
    let chunk = format!("{{\"username\": \"{}", "x".repeat(500));
    request.extend(format!("{:x}\r\n{chunk}\r\n", chunk.len()).as_bytes());
    for _ in 0..4 {
        let more = "y".repeat(500);
        request.extend(format!("{:x}\r\n{more}\r\n", more.len()).as_bytes());
    }
    request.extend(b"2\r\n\"}\r\n0\r\n\r\n");
    // The server may answer and close before reading everything: a failed
    // write is expected then, the answer is what counts.
    let _ = stream.write_all(&request).await;
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    let text = String::from_utf8_lossy(&response);
    assert!(
        text.starts_with("HTTP/1.1 413"),
        "a 2.5 KB chunked body must be 413: {text}"
    );
    assert!(text.contains("PAYLOAD_TOO_LARGE"), "{text}");
}

// ---- query and path parameters -------------------------------------------

#[tokio::test]
async fn bad_list_query_parameters_are_422_at_query() {
    let s = setup().await;
    let long_q = "q".repeat(201);
    let cases: Vec<(String, &[&str])> = vec![
        ("page=0".into(), &["query.page"]),
        ("page=-1".into(), &["query.page"]),
        ("page=abc".into(), &["query.page"]),
        ("page=1.5".into(), &["query.page"]),
        ("page_size=0".into(), &["query.page_size"]),
        ("page_size=101".into(), &["query.page_size"]),
        (
            "page_size=99999999999999999999".into(),
            &["query.page_size"],
        ),
        ("status=bogus".into(), &["query.status"]),
        ("author_id=notauuid".into(), &["query.author_id"]),
        ("tag=bad%20tag!".into(), &["query.tag"]),
        (format!("q={long_q}"), &["query.q"]),
        (
            "page=0&page_size=101&status=bogus&author_id=notauuid".into(),
            &[
                "query.page",
                "query.page_size",
                "query.status",
                "query.author_id",
            ],
        ),
    ];
    for (query, expected) in cases {
        let path = format!("/api/v1/mcps?{query}");
        let reply = s.app.get(&path, Some(&s.admin_token)).await;
        assert_error(&reply, 422, "VALIDATION_ERROR", &path);
        assert_eq!(locs(&reply), set(expected), "{path}: {}", reply.text);
    }
    for query in ["page=0&page_size=101", "page=x&page_size=-3"] {
        let path = format!("/api/v1/admin/users?{query}");
        let reply = s.app.get(&path, Some(&s.admin_token)).await;
        assert_error(&reply, 422, "VALIDATION_ERROR", &path);
        assert_eq!(
            locs(&reply),
            set(&["query.page", "query.page_size"]),
            "{path}: {}",
            reply.text
        );
    }
}

#[tokio::test]
async fn the_largest_page_size_and_unknown_query_parameters_are_accepted() {
    let s = setup().await;
    for path in [
        "/api/v1/mcps?page_size=100",
        "/api/v1/mcps?page=1000000",
        "/api/v1/mcps?utm_source=newsletter&_=123",
        "/api/v1/admin/users?page_size=100",
    ] {
        let reply = s.app.get(path, Some(&s.admin_token)).await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.text);
    }
}

#[tokio::test]
async fn a_malformed_path_uuid_is_422_at_path() {
    let s = setup().await;
    let cases: Vec<(&str, String, Option<Value>, &str)> = vec![
        ("GET", "/api/v1/mcps/not-a-uuid".into(), None, "path.id"),
        (
            "PUT",
            "/api/v1/mcps/not-a-uuid".into(),
            Some(json!({})),
            "path.id",
        ),
        (
            "PATCH",
            "/api/v1/mcps/not-a-uuid".into(),
            Some(json!({})),
            "path.id",
        ),
        ("DELETE", "/api/v1/mcps/not-a-uuid".into(), None, "path.id"),
        ("GET", "/api/v1/mcps/123/history".into(), None, "path.id"),
        (
            "POST",
            "/api/v1/mcps/zzz/history/1.0.0/restore".into(),
            None,
            "path.id",
        ),
        (
            "POST",
            format!("/api/v1/mcps/{}/history/1.0/restore", s.tool_id),
            None,
            "path.version",
        ),
        (
            "DELETE",
            "/api/v1/auth/api-keys/not-a-uuid".into(),
            None,
            "path.id",
        ),
        (
            "PATCH",
            "/api/v1/admin/users/not-a-uuid".into(),
            Some(json!({})),
            "path.id",
        ),
    ];
    for (method, path, body, loc) in cases {
        let context = format!("{method} {path}");
        let reply = s.app.send(method, &path, Some(&s.admin_token), body).await;
        assert_error(&reply, 422, "VALIDATION_ERROR", &context);
        assert_eq!(error_locs(&reply), [loc], "{context}: {}", reply.text);
    }
}

#[tokio::test]
async fn a_bad_path_and_a_bad_body_are_listed_together() {
    let s = setup().await;
    let reply = s
        .app
        .patch(
            "/api/v1/admin/users/not-a-uuid",
            Some(&s.admin_token),
            json!({"role": "owner"}),
        )
        .await;
    assert_error(&reply, 422, "VALIDATION_ERROR", "bad path and body");
    assert_eq!(
        locs(&reply),
        set(&["path.id", "body.role"]),
        "{}",
        reply.text
    );
}

// ---- never a 500 ------------------------------------------------------------

#[tokio::test]
async fn hostile_bodies_are_client_errors_never_500() {
    let s = setup().await;
    let deep_array = format!("{{\"name\": {}{}}}", "[".repeat(5000), "]".repeat(5000));
    let deep_object = format!("{}1{}", "{\"a\":".repeat(5000), "}".repeat(5000));
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        ("5000-deep array", deep_array.into_bytes()),
        ("5000-deep object", deep_object.into_bytes()),
        ("huge number", b"{\"name\": 1e999999}".to_vec()),
        (
            "huge integer",
            format!("{{\"name\": {}}}", "9".repeat(400)).into_bytes(),
        ),
        (
            "NUL bytes",
            b"{\"name\": \"a\\u0000b\", \"\\u0000\": 1}".to_vec(),
        ),
        (
            "emoji and RTL",
            "{\"name\": \"\u{1F600}\u{202E}abc\"}".as_bytes().to_vec(),
        ),
        ("byte order mark", b"\xef\xbb\xbf{}".to_vec()),
        ("duplicate keys", b"{\"name\": \"a\", \"name\": 5}".to_vec()),
        ("empty key", b"{\"\": \"x\"}".to_vec()),
    ];
    for route in body_routes(&s) {
        for (what, bytes) in &bodies {
            let reply = send_bytes(&s.app, &route, bytes.clone()).await;
            let context = format!("{} with {what}", route.name());
            assert!(
                reply.status < 500,
                "{context}: got {}: {}",
                reply.status,
                reply.text
            );
            if reply.status >= 400 {
                let code = reply.body["error_code"].as_str().unwrap_or("?");
                assert_error(&reply, reply.status, code, &context);
            }
        }
    }
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,40}".prop_map(Value::String),
        prop_oneof![
            Just("admin"),
            Just("viewer"),
            Just("1.0.0"),
            Just("draft"),
            Just("stdio"),
            Just("2030-01-01T00:00:00Z")
        ]
        .prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(".{0,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Objects over the real field names, with arbitrary values.
fn arb_body() -> impl Strategy<Value = Value> {
    let field = prop_oneof![
        Just("username"),
        Just("email"),
        Just("password"),
        Just("role"),
        Just("refresh_token"),
        Just("name"),
        Just("expires_at"),
        Just("is_active"),
        Just("slug"),
        Just("version"),
        Just("description"),
        Just("config"),
        Just("status"),
        Just("tags"),
    ];
    prop::collection::btree_map(field, arb_json(), 0..8)
        .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()))
}

#[test]
fn arbitrary_bodies_on_every_body_route_are_never_a_500() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let s = runtime.block_on(setup());
    let routes = body_routes(&s);
    let config = ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(index in 0..routes.len(), body in arb_body())| {
        let route = &routes[index];
        let reply = runtime.block_on(send_json(&s.app, route, &body));
        prop_assert!(
            reply.status < 500,
            "{} with {body}: {} {}", route.name(), reply.status, reply.text
        );
        if reply.status >= 400 {
            prop_assert!(reply.body["error_code"].is_string(), "{}", reply.text);
            prop_assert!(reply.body["request_id"].is_string(), "{}", reply.text);
        }
    });
}

// ---- the envelope and request ids ----------------------------------------

#[tokio::test]
async fn a_client_request_id_is_echoed_on_errors_and_successes() {
    let s = setup().await;
    let id = "client-req-42.a_b:c";
    let error = s
        .app
        .send_with_headers(
            "POST",
            "/api/v1/auth/login",
            &[("X-Request-Id", id)],
            Some(b"{".to_vec()),
        )
        .await;
    assert_error(
        &error,
        400,
        "INVALID_REQUEST",
        "malformed login with a request id",
    );
    assert_eq!(error.header("x-request-id"), Some(id));
    assert_eq!(error.body["request_id"], id);
    let ok = s
        .app
        .send_with_headers("GET", "/health", &[("X-Request-Id", id)], None)
        .await;
    assert_eq!(ok.header("x-request-id"), Some(id), "echoed on a 200 too");
}

#[tokio::test]
async fn an_unusable_client_request_id_is_replaced_by_a_generated_one() {
    let s = setup().await;
    let too_long = "r".repeat(200);
    for bad in ["has spaces in it", "semi;colon", too_long.as_str()] {
        let reply = s
            .app
            .send_with_headers("GET", "/api/v1/auth/me", &[("X-Request-Id", bad)], None)
            .await;
        assert_error(&reply, 401, "UNAUTHORIZED", &format!("request id {bad:?}"));
        let id = reply.header("x-request-id").unwrap_or_default();
        assert!(
            !id.is_empty() && id != bad,
            "{bad:?} must be replaced, got {id:?}"
        );
    }
}

#[tokio::test]
async fn two_requests_get_different_generated_request_ids() {
    let s = setup().await;
    let a = s.app.get("/api/v1/auth/me", None).await;
    let b = s.app.get("/api/v1/auth/me", None).await;
    assert_error(&a, 401, "UNAUTHORIZED", "first");
    assert_error(&b, 401, "UNAUTHORIZED", "second");
    assert_ne!(a.body["request_id"], b.body["request_id"]);
    assert!(Uuid::parse_str(a.body["request_id"].as_str().unwrap_or_default()).is_ok());
}
