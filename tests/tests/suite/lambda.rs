//! The Lambda functions answer exactly as the local host does.
//!
//! Fixtures in `tests/fixtures/apigw-v2/` are API Gateway HTTP API events,
//! payload format 2.0, written from AWS's documented event shape. Each is
//! deserialised the way `lambda_http::run` does (`lambda_http::request`) and
//! sent through the function's router (`auth_function` / `mcps_function`);
//! the same request (method, raw path and query, headers, decoded body) goes
//! to the host over HTTP. `{{name}}` placeholders (tokens, ids) are filled in
//! at load time.
//!
//! Requests with effects (register, create) cannot be sent twice to one
//! database, so each side has its own fresh platform and both see the same
//! sequence of requests; responses are compared after blanking what
//! necessarily differs: request ids, timestamps, generated ids and tokens.

use std::path::PathBuf;

use base64::Engine;
use http_body_util::BodyExt;
use lambda_http::request::RequestContext;
use lambda_http::RequestExt;
use mcp_platform::state::AppState;
use mcp_platform_tests::{spawn_app, spawn_app_with, TestApp};
use serde_json::Value;
use tower::ServiceExt;

/// Members whose values are generated per request or per database.
const VARYING: &[&str] = &[
    "id",
    "author_id",
    "request_id",
    "created_at",
    "updated_at",
    "access_token",
    "refresh_token",
];

fn fixture(name: &str, vars: &[(&str, &str)]) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/apigw-v2")
        .join(name);
    let mut text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("read fixture {}: {e}", path.display()));
    for (key, value) in vars {
        text = text.replace(&format!("{{{{{key}}}}}"), value);
    }
    assert!(
        !text.contains("{{"),
        "fixture {name} has an unfilled placeholder"
    );
    text
}

/// One answer, from either side.
#[derive(Debug)]
struct Answer {
    status: u16,
    content_type: Option<String>,
    request_id: Option<String>,
    body: Value,
    text: String,
}

/// Sends an event through the function that serves its path.
async fn via_lambda(state: &AppState, event: &str) -> Answer {
    let request = lambda_http::request::from_str(event).expect("the fixture is a Lambda event");
    assert!(
        matches!(
            request.request_context_ref(),
            Some(RequestContext::ApiGatewayV2(_))
        ),
        "the fixture is read as an API Gateway HTTP API (v2) event"
    );
    let raw = request.raw_http_path().to_owned();
    let function = if raw.contains("/api/v1/auth/") || raw.contains("/api/v1/admin/") {
        mcp_platform::lambda::auth_function(state.clone())
    } else {
        mcp_platform::lambda::mcps_function(state.clone())
    };
    let response = function
        .oneshot(request)
        .await
        .expect("routers are infallible");
    let status = response.status().as_u16();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let content_type = header("content-type");
    let request_id = header("x-request-id");
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body reads")
        .to_bytes();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    Answer {
        status,
        content_type,
        request_id,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
        text,
    }
}

/// Sends the request an event describes to the host over HTTP.
async fn via_host(app: &TestApp, event: &str) -> Answer {
    let event: Value = serde_json::from_str(event).expect("fixture JSON");
    let method = event["requestContext"]["http"]["method"]
        .as_str()
        .expect("requestContext.http.method");
    let mut url = app.url(event["rawPath"].as_str().expect("rawPath"));
    if let Some(query) = event["rawQueryString"].as_str().filter(|q| !q.is_empty()) {
        url = format!("{url}?{query}");
    }
    let mut request = app.client.request(
        reqwest::Method::from_bytes(method.as_bytes()).expect("method"),
        url,
    );
    for (name, value) in event["headers"].as_object().expect("headers") {
        // The client sets these for its own connection.
        if !matches!(name.as_str(), "host" | "content-length") {
            request = request.header(name, value.as_str().expect("header value"));
        }
    }
    if let Some(body) = event["body"].as_str() {
        let bytes = if event["isBase64Encoded"] == true {
            base64::engine::general_purpose::STANDARD
                .decode(body)
                .expect("base64 body")
        } else {
            body.as_bytes().to_vec()
        };
        request = request.body(bytes);
    }
    let response = request.send().await.expect("host answers");
    let status = response.status().as_u16();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let content_type = header("content-type");
    let request_id = header("x-request-id");
    let text = response.text().await.expect("body reads");
    Answer {
        status,
        content_type,
        request_id,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
        text,
    }
}

/// Blanks what necessarily differs between two databases and two requests.
fn normalised(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = if VARYING.contains(&k.as_str()) && v.is_string() {
                        Value::String("<varies>".into())
                    } else {
                        normalised(v)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(normalised).collect()),
        other => other.clone(),
    }
}

fn assert_same(what: &str, lambda: &Answer, host: &Answer) {
    assert_eq!(
        lambda.status, host.status,
        "{what}: same status (lambda {}, host {})",
        lambda.text, host.text
    );
    assert_eq!(
        lambda.content_type, host.content_type,
        "{what}: same content type"
    );
    assert!(
        lambda.request_id.is_some() && host.request_id.is_some(),
        "{what}: both carry X-Request-Id"
    );
    assert_eq!(
        normalised(&lambda.body),
        normalised(&host.body),
        "{what}: same body apart from ids, timestamps and tokens"
    );
    if lambda.body.is_null() {
        assert_eq!(lambda.text, host.text, "{what}: same non-JSON body");
    }
}

/// A host and a Lambda deployment, each over its own fresh platform.
struct Pair {
    host: TestApp,
    lambda: TestApp,
}

/// What one side needs to fill in placeholders.
#[derive(Default, Clone)]
struct Side {
    access_token: String,
    tool_id: String,
}

impl Pair {
    async fn new() -> Self {
        Self {
            host: spawn_app().await,
            lambda: spawn_app().await,
        }
    }

    /// Sends `name` to both sides, filling placeholders from each side's values.
    async fn both(&self, name: &str, lambda: &Side, host: &Side) -> (Answer, Answer) {
        let vars = |s: &Side| {
            vec![
                ("access_token", s.access_token.clone()),
                ("tool_id", s.tool_id.clone()),
            ]
        };
        let fill = |s: &Side| {
            let owned = vars(s);
            let borrowed: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
            fixture(name, &borrowed)
        };
        let l = via_lambda(&self.lambda.state, &fill(lambda)).await;
        let h = via_host(&self.host, &fill(host)).await;
        (l, h)
    }

    /// Registers and logs in on both sides (through the fixtures), asserting
    /// each step agrees; returns each side's values.
    async fn signed_in(&self) -> (Side, Side) {
        let empty = Side::default();
        let (l, h) = self.both("register.json", &empty, &empty).await;
        assert_same("register", &l, &h);
        let (l, h) = self.both("login.json", &empty, &empty).await;
        assert_same("login", &l, &h);
        let token = |a: &Answer| Side {
            access_token: a.body["access_token"]
                .as_str()
                .expect("login gives an access token")
                .to_owned(),
            tool_id: String::new(),
        };
        (token(&l), token(&h))
    }

    /// Signs in and creates the fixture tool on both sides.
    async fn with_tool(&self) -> (Side, Side) {
        let (mut l_side, mut h_side) = self.signed_in().await;
        let (l, h) = self.both("create-tool.json", &l_side, &h_side).await;
        assert_same("create tool", &l, &h);
        l_side.tool_id = l.body["id"].as_str().expect("tool id").to_owned();
        h_side.tool_id = h.body["id"].as_str().expect("tool id").to_owned();
        (l_side, h_side)
    }
}

#[tokio::test]
async fn register_answers_the_same_through_api_auth_and_the_host() {
    let pair = Pair::new().await;
    let empty = Side::default();
    let (l, h) = pair.both("register.json", &empty, &empty).await;
    assert_eq!(l.status, 201, "register through Lambda: {}", l.text);
    assert_same("register", &l, &h);
    assert_eq!(l.body["username"], "lambda-dev");
    assert_eq!(l.body["role"], "developer");
}

#[tokio::test]
async fn login_with_a_base64_body_answers_the_same_through_api_auth_and_the_host() {
    let pair = Pair::new().await;
    let empty = Side::default();
    let (l, h) = pair.both("register.json", &empty, &empty).await;
    assert_same("register", &l, &h);
    let (l, h) = pair.both("login.json", &empty, &empty).await;
    assert_eq!(l.status, 200, "login through Lambda: {}", l.text);
    assert_same("login", &l, &h);
    assert_eq!(l.body["token_type"], "bearer");
}

#[tokio::test]
async fn create_tool_with_a_bearer_token_answers_the_same_through_api_mcps_and_the_host() {
    let pair = Pair::new().await;
    let (l_side, h_side) = pair.signed_in().await;
    let (l, h) = pair.both("create-tool.json", &l_side, &h_side).await;
    assert_eq!(l.status, 201, "create through Lambda: {}", l.text);
    assert_same("create tool", &l, &h);
    assert_eq!(l.body["slug"], "weather-lookup");
}

#[tokio::test]
async fn get_tool_answers_the_same_through_api_mcps_and_the_host() {
    let pair = Pair::new().await;
    let (l_side, h_side) = pair.with_tool().await;
    let (l, h) = pair.both("get-tool.json", &l_side, &h_side).await;
    assert_eq!(l.status, 200, "get through Lambda: {}", l.text);
    assert_same("get tool", &l, &h);
    assert_eq!(l.body["id"], l_side.tool_id.as_str());
}

#[tokio::test]
async fn list_with_a_query_string_answers_the_same_through_api_mcps_and_the_host() {
    let pair = Pair::new().await;
    let (l_side, h_side) = pair.with_tool().await;
    let (l, h) = pair.both("list-tools.json", &l_side, &h_side).await;
    assert_eq!(l.status, 200, "list through Lambda: {}", l.text);
    assert_same("list tools", &l, &h);
    assert_eq!(
        l.body["page_size"], 5,
        "the query string reached the handler"
    );
    assert_eq!(l.body["total"], 1, "the filters matched the tool");
}

#[tokio::test]
async fn an_invalid_tool_is_the_same_422_through_api_mcps_and_the_host() {
    let pair = Pair::new().await;
    let (l_side, h_side) = pair.signed_in().await;
    let (l, h) = pair
        .both("create-tool-invalid.json", &l_side, &h_side)
        .await;
    assert_eq!(l.status, 422, "invalid create through Lambda: {}", l.text);
    assert_same("invalid create", &l, &h);
    let locs: Vec<&Value> = l.body["detail"]
        .as_array()
        .expect("a list of field errors")
        .iter()
        .map(|e| &e["loc"])
        .collect();
    assert!(locs.len() >= 4, "every bad field is named: {}", l.text);
}

#[tokio::test]
async fn a_request_without_credentials_is_the_same_401_through_api_mcps_and_the_host() {
    let pair = Pair::new().await;
    let empty = Side::default();
    let (l, h) = pair
        .both("list-tools-unauthenticated.json", &empty, &empty)
        .await;
    assert_eq!(l.status, 401, "anonymous list through Lambda: {}", l.text);
    assert_same("anonymous list", &l, &h);
    assert_eq!(l.body["error_code"], "UNAUTHORIZED");
}

#[tokio::test]
async fn each_function_serves_only_its_own_group() {
    let app = spawn_app().await;
    let login = fixture("login.json", &[]);
    let request = lambda_http::request::from_str(&login).expect("event");
    let response = mcp_platform::lambda::mcps_function(app.state.clone())
        .oneshot(request)
        .await
        .expect("infallible");
    assert_eq!(
        response.status().as_u16(),
        404,
        "api-mcps does not serve /auth/login"
    );
    let get = fixture(
        "get-tool.json",
        &[
            ("access_token", "x"),
            ("tool_id", &uuid::Uuid::new_v4().to_string()),
        ],
    );
    let request = lambda_http::request::from_str(&get).expect("event");
    let response = mcp_platform::lambda::auth_function(app.state.clone())
        .oneshot(request)
        .await
        .expect("infallible");
    assert_eq!(
        response.status().as_u16(),
        404,
        "api-auth does not serve /mcps/{{id}}"
    );
}

/// Behind API Gateway there is no socket peer: the client address is the
/// event's `requestContext.http.sourceIp`. Without it every caller shares one
/// per-address login budget, and a handful of failed logins locks out everyone.
#[tokio::test]
async fn lambda_login_limits_count_each_source_ip_apart() {
    let app = spawn_app_with(&[
        ("LOGIN_MAX_ATTEMPTS_PER_IP", "1"),
        ("LOGIN_MAX_ATTEMPTS_PER_ACCOUNT", "100"),
    ])
    .await;
    let register = via_lambda(&app.state, &fixture("register.json", &[])).await;
    assert_eq!(register.status, 201, "{}", register.text);
    let first = via_lambda(&app.state, &fixture("login.json", &[])).await;
    assert_eq!(
        first.status, 200,
        "first login from 198.51.100.7: {}",
        first.text
    );
    let other = via_lambda(&app.state, &fixture("login-from-other-ip.json", &[])).await;
    assert_eq!(
        other.status, 200,
        "a login from another source IP (203.0.113.44) has its own budget: {}",
        other.text
    );
    let again = via_lambda(&app.state, &fixture("login.json", &[])).await;
    assert_eq!(
        again.status, 429,
        "a second login from 198.51.100.7 is over its budget of 1: {}",
        again.text
    );
}

/// On the execute-api domain with a named stage, API Gateway puts the stage
/// in `rawPath` (`/prod/api/v1/…`); the routes are the application's paths.
#[tokio::test]
async fn a_named_stage_is_not_part_of_the_route() {
    let pair = Pair::new().await;
    let (l_side, _) = pair.with_tool().await;
    let staged = via_lambda(
        &pair.lambda.state,
        &fixture(
            "get-tool-named-stage.json",
            &[
                ("access_token", &l_side.access_token),
                ("tool_id", &l_side.tool_id),
            ],
        ),
    )
    .await;
    assert_eq!(
        staged.status, 200,
        "GET /prod/api/v1/mcps/{{id}} on stage prod reaches the tool: {}",
        staged.text
    );
    assert_eq!(staged.body["id"], l_side.tool_id.as_str());
}

/// Functions are separate processes: a secret each generated for itself
/// would make one function reject the tokens another issued.
#[tokio::test]
async fn a_function_refuses_to_start_without_a_shared_signing_secret() {
    let dir = mcp_platform_tests::tempdir::TempDir::new();
    let data_dir = dir.0.to_string_lossy().into_owned();
    let source = mcp_platform::config::Source::from_map([("MCP_DATA_DIR", data_dir.as_str())]);
    let refused = mcp_platform::lambda::bootstrap_from(&source).await;
    let message = refused.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        message.contains("SECRET_KEY"),
        "the cold start stops naming SECRET_KEY, got {message:?}"
    );

    let secret = "a-shared-secret-of-at-least-32-bytes!";
    let source = mcp_platform::config::Source::from_map([
        ("MCP_DATA_DIR", data_dir.as_str()),
        ("SECRET_KEY", secret),
    ]);
    let auth = mcp_platform::lambda::bootstrap_from(&source)
        .await
        .expect("api-auth starts with SECRET_KEY");
    let mcps = mcp_platform::lambda::bootstrap_from(&source)
        .await
        .expect("api-mcps starts with SECRET_KEY");

    // A token api-auth issues is accepted by api-mcps.
    let register = via_lambda(&auth, &fixture("register.json", &[])).await;
    assert_eq!(register.status, 201, "{}", register.text);
    let login = via_lambda(&auth, &fixture("login.json", &[])).await;
    assert_eq!(login.status, 200, "{}", login.text);
    let token = login.body["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let list = via_lambda(
        &mcps,
        &fixture("list-tools.json", &[("access_token", &token)]),
    )
    .await;
    assert_eq!(
        list.status, 200,
        "api-mcps accepts api-auth's token: {}",
        list.text
    );
}
