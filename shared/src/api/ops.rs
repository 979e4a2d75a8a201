//! Operations routes: `/health`, `/ready`, `/metrics`, `/api/openapi.json`,
//! `/api/docs`. They need no credentials (probes and scrapers have none) and
//! reveal no data beyond backend names and counters.

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::ports::{PageRequest, ToolFilter};
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(root))
        .routes(routes!(health))
        .routes(routes!(ready))
        .routes(routes!(metrics))
        .routes(routes!(openapi_json))
        .routes(routes!(docs))
        // Static files of the docs page: not API operations, not in the document.
        .route("/api/docs/{file}", axum::routing::get(docs_asset))
}

const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Serialize, ToSchema)]
pub struct RootLinks {
    name: &'static str,
    version: &'static str,
    /// Where to go next: the API docs, the OpenAPI document, health, the API.
    links: BTreeMap<&'static str, &'static str>,
}

#[utoipa::path(get, path = "/", tag = "ops",
    responses((status = 200, body = RootLinks)))]
/// What this server is and where to look: a first request to the bare
/// address gets directions, not a 404.
async fn root() -> Json<RootLinks> {
    Json(RootLinks {
        name: "mcp-platform",
        version: env!("CARGO_PKG_VERSION"),
        links: BTreeMap::from([
            ("docs", "/api/docs"),
            ("openapi", "/api/openapi.json"),
            ("health", "/health"),
            ("api", "/api/v1"),
        ]),
    })
}

#[derive(Serialize, ToSchema)]
pub struct HealthReport {
    /// `healthy`; `degraded` (still 200) when a job has waited longer than
    /// `JOB_MAX_WAIT_SECONDS` for a worker; `unhealthy` (503) when a
    /// backend does not answer.
    status: &'static str,
    /// Each configured backend and whether it answered within 2 s.
    checks: BTreeMap<&'static str, bool>,
    /// The job queue's transport: `sql`, `rabbitmq` or `sqs`.
    queue: &'static str,
    /// How long the longest-waiting job has been free to run without a
    /// worker taking it, in seconds; 0 when none waits. Absent when the
    /// transport cannot tell (RabbitMQ, SQS) or did not answer in time.
    #[serde(skip_serializing_if = "Option::is_none")]
    queue_oldest_wait_seconds: Option<u64>,
    /// The process sandbox: on/off, kernel features, refusal or warning.
    #[schema(value_type = Object)]
    sandbox: crate::sandbox::SandboxStatus,
}

#[utoipa::path(get, path = "/health", tag = "ops",
    responses((status = 200, body = HealthReport), (status = 503, body = HealthReport)))]
async fn health(State(state): State<AppState>) -> (StatusCode, Json<HealthReport>) {
    let probes = state.health_checks.iter().map(|(name, target)| async move {
        let ok = matches!(
            tokio::time::timeout(CHECK_TIMEOUT, target.ping()).await,
            Ok(Ok(()))
        );
        (*name, ok)
    });
    let checks: BTreeMap<_, _> = futures::future::join_all(probes)
        .await
        .into_iter()
        .collect();
    let healthy = checks.values().all(|ok| *ok);
    let oldest_wait = oldest_job_wait(&state).await;
    let stalled = oldest_wait.is_some_and(|waited| waited > state.settings.jobs.max_wait);
    let (status, word) = match (healthy, stalled) {
        (false, _) => (StatusCode::SERVICE_UNAVAILABLE, "unhealthy"),
        (true, true) => (StatusCode::OK, "degraded"),
        (true, false) => (StatusCode::OK, "healthy"),
    };
    let report = HealthReport {
        status: word,
        checks,
        queue: state.settings.jobs.queue.name(),
        queue_oldest_wait_seconds: oldest_wait.map(|waited| waited.as_secs()),
        sandbox: crate::sandbox::status(&state.settings.sandbox),
    };
    (status, Json(report))
}

/// How long the longest-waiting job has waited for a worker: zero when
/// none waits; `None` when the queue cannot tell or does not answer in time.
async fn oldest_job_wait(state: &AppState) -> Option<Duration> {
    let counts = tokio::time::timeout(CHECK_TIMEOUT, state.jobs.counts())
        .await
        .ok()?
        .ok()?;
    counts.oldest_waiting.age(crate::domain::now())
}

#[derive(Serialize, ToSchema)]
pub struct ReadyReport {
    status: &'static str,
}

/// Ready once the process has built its state (migrations applied, backends
/// connected): the listener only opens after that.
#[utoipa::path(get, path = "/ready", tag = "ops", responses((status = 200, body = ReadyReport)))]
async fn ready() -> Json<ReadyReport> {
    Json(ReadyReport { status: "ready" })
}

#[utoipa::path(get, path = "/metrics", tag = "ops",
    responses((status = 200, description = "Prometheus text exposition format", content_type = "text/plain")))]
async fn metrics(State(state): State<AppState>) -> Response {
    let one = PageRequest {
        page: 1,
        page_size: 1,
    };
    let tools = match state.tools.list(&ToolFilter::default(), one).await {
        Ok(page) => page.total as f64,
        Err(_) => f64::NAN,
    };
    #[allow(clippy::cast_precision_loss)]
    let deployments = state.gateway.running() as f64;
    let mut body = state.metrics.render(&[
        (
            "mcp_tools_total",
            "Registered, not deleted MCP tools.",
            tools,
        ),
        (
            "active_deployments",
            "Deployments this replica runs.",
            deployments,
        ),
    ]);
    state.gateway.usage.render(&mut body);
    // Left out when the queue does not answer in time: a scrape never hangs on it.
    if let Ok(Ok(counts)) = tokio::time::timeout(CHECK_TIMEOUT, state.jobs.counts()).await {
        use std::fmt::Write;
        body.push_str("# HELP mcp_jobs Jobs by status, as the job queue reports them.\n");
        body.push_str("# TYPE mcp_jobs gauge\n");
        for (status, n) in [
            ("queued", counts.queued),
            ("running", counts.running),
            ("done", counts.done),
            ("dead", counts.dead),
        ] {
            let _ = writeln!(body, "mcp_jobs{{status=\"{status}\"}} {n}");
        }
        if let Some(waited) = counts.oldest_waiting.age(crate::domain::now()) {
            body.push_str(
                "# HELP mcp_jobs_oldest_wait_seconds How long the longest-waiting job has \
                 been free to run without a worker taking it.\n",
            );
            body.push_str("# TYPE mcp_jobs_oldest_wait_seconds gauge\n");
            let _ = writeln!(
                body,
                "mcp_jobs_oldest_wait_seconds {}",
                waited.as_secs_f64()
            );
        }
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

#[utoipa::path(get, path = "/api/openapi.json", tag = "ops",
    responses((status = 200, description = "This OpenAPI 3.1 document", content_type = "application/json")))]
async fn openapi_json() -> Response {
    static DOC: OnceLock<String> = OnceLock::new();
    let doc = DOC.get_or_init(|| crate::api::openapi().to_pretty_json().unwrap_or_default());
    ([(header::CONTENT_TYPE, "application/json")], doc.clone()).into_response()
}

#[utoipa::path(get, path = "/api/docs", tag = "ops",
    responses((status = 200, description = "An HTML page rendering the OpenAPI document", content_type = "text/html")))]
async fn docs() -> Response {
    (
        [(header::CONTENT_SECURITY_POLICY, DOCS_CSP)],
        Html(DOCS_PAGE),
    )
        .into_response()
}

/// Everything the docs page loads comes from this server: no CDN, so it
/// works offline, and no inline script. Swagger UI sets inline styles and
/// uses `data:` images.
const DOCS_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
    img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; \
    form-action 'none'; frame-ancestors 'none'";

const DOCS_PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>MCP Platform API</title>
<link rel="stylesheet" href="/api/docs/swagger-ui.css">
<script src="/api/docs/swagger-ui-bundle.js"></script>
<script src="/api/docs/init.js"></script>
</head><body>
<div id="swagger-ui"></div>
<noscript>The OpenAPI document is at <a href="/api/openapi.json">/api/openapi.json</a>.</noscript>
</body></html>"#;

/// The vendored Swagger UI files (`shared/assets/swagger-ui/`), compiled in.
const DOCS_ASSETS: [(&str, &str, &[u8]); 3] = [
    (
        "swagger-ui-bundle.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/swagger-ui/swagger-ui-bundle.js"),
    ),
    (
        "swagger-ui.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/swagger-ui/swagger-ui.css"),
    ),
    (
        "init.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/swagger-ui/init.js"),
    ),
];

/// One of [`DOCS_ASSETS`]; they change only with the binary, so browsers
/// may keep them a day.
async fn docs_asset(axum::extract::Path(name): axum::extract::Path<String>) -> Response {
    match DOCS_ASSETS.iter().find(|(file, _, _)| *file == name) {
        Some((_, content_type, bytes)) => (
            [
                (header::CONTENT_TYPE, *content_type),
                (header::CACHE_CONTROL, "public, max-age=86400"),
            ],
            *bytes,
        )
            .into_response(),
        None => crate::error::Error::not_found("docs_asset", name).into_response(),
    }
}
