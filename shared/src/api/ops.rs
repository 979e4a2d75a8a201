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
        .routes(routes!(health))
        .routes(routes!(ready))
        .routes(routes!(metrics))
        .routes(routes!(openapi_json))
        .routes(routes!(docs))
}

const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Serialize, ToSchema)]
pub struct HealthReport {
    /// `healthy` or `unhealthy`.
    status: &'static str,
    /// Each configured backend and whether it answered within 2 s.
    checks: BTreeMap<&'static str, bool>,
    /// The job queue's transport: `sql`, `rabbitmq` or `sqs`.
    queue: &'static str,
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
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let report = HealthReport {
        status: if healthy { "healthy" } else { "unhealthy" },
        checks,
        queue: state.settings.jobs.queue.name(),
        sandbox: crate::sandbox::status(&state.settings.sandbox),
    };
    (status, Json(report))
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
async fn docs() -> Html<&'static str> {
    Html(DOCS_PAGE)
}

/// Swagger UI from a CDN when the browser can reach one; otherwise a plain
/// list of every operation rendered from `/api/openapi.json` by a few lines of JS.
const DOCS_PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>MCP Platform API</title>
<link rel="stylesheet" href="https://unpkg.com/swagger-ui-dist@5/swagger-ui.css">
<style>body{font-family:system-ui,sans-serif;margin:0}#plain{padding:1rem 2rem}code{background:#f3f3f3;padding:0 .3em}</style>
</head><body>
<div id="swagger-ui"></div><div id="plain"></div>
<script>
function plain(spec){
  var out=['<h1>'+spec.info.title+' '+spec.info.version+'</h1>'];
  Object.keys(spec.paths).sort().forEach(function(p){
    Object.keys(spec.paths[p]).forEach(function(m){
      var op=spec.paths[p][m];
      out.push('<p><code>'+m.toUpperCase()+' '+p+'</code> '+(op.summary||op.description||'')+'</p>');
    });
  });
  document.getElementById('plain').innerHTML=out.join('');
}
var s=document.createElement('script');
s.src='https://unpkg.com/swagger-ui-dist@5/swagger-ui-bundle.js';
s.onload=function(){SwaggerUIBundle({url:'/api/openapi.json',dom_id:'#swagger-ui'});};
s.onerror=function(){fetch('/api/openapi.json').then(function(r){return r.json()}).then(plain);};
document.head.appendChild(s);
</script>
<noscript>The OpenAPI document is at <a href="/api/openapi.json">/api/openapi.json</a>.</noscript>
</body></html>"#;
