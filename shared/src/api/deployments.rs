//! `/api/v1/deployments/*`: deploy a tool behind `/mcp/{slug}`, list,
//! inspect (health and usage metrics) and stop deployments. The runners
//! themselves live in [`crate::gateway`].
//!
//! Choices where SPEC is silent: a deployment is private to its owner and
//! admins — anyone else gets the 404 of a deployment that does not exist
//! (its env values, `last_error` and stderr can hold the tool's secrets);
//! developers deploy and stop their own tools' deployments, admins any;
//! `public: true` lets anonymous callers use the endpoint.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::extract::{
    parse, path_uuid, FieldReader, FromJson, Paging, QueryFields, ValidJson, ValidJsonOrEmpty,
};
use crate::credentials::AuthUser;
use crate::domain::{
    Deployment, DeploymentStatus, HealthStatus, Runtime, SemVer, ToolConfig, ToolStatus,
};
use crate::domain::{Permission, Principal};
use crate::error::{ErrorBody, Result};
use crate::gateway::{publish, status_event};
use crate::ports::{DeploymentFilter, Page};
use crate::registry::require;
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_deployment, list_deployments))
        .routes(routes!(get_deployment, stop_deployment))
        .routes(routes!(restart_deployment))
        .routes(routes!(upgrade_deployment))
        .merge(super::deployment_logs::routes())
}

#[derive(ToSchema)]
pub struct CreateDeploymentRequest {
    tool_id: Uuid,
    /// `{environment, replicas, resources, env}`.
    #[schema(value_type = Option<Object>)]
    config: Option<Map<String, Value>>,
    /// Anonymous callers allowed at the endpoint (still rate-limited).
    public: Option<bool>,
}

fn deployment_config(v: &Value) -> Result<Map<String, Value>, String> {
    let obj = v.as_object().ok_or("must be a JSON object")?;
    for (key, value) in obj {
        let ok = match key.as_str() {
            "environment" => value.as_str().is_some_and(|s| s.len() <= 64),
            // One child per deployment until requests are spread over
            // several: a larger count is refused rather than ignored.
            "replicas" => value.as_u64() == Some(1),
            "resources" => value.is_object(),
            "env" => value
                .as_object()
                .is_some_and(|m| m.values().all(Value::is_string)),
            _ => {
                return Err(format!(
                    "unknown member {key:?} (environment, replicas, resources, env)"
                ))
            }
        };
        if !ok {
            return Err(format!(
                "{key}: environment is a string, replicas 1 (more are not supported yet), resources an object, env an object of strings"
            ));
        }
    }
    Ok(obj.clone())
}

impl FromJson for CreateDeploymentRequest {
    fn from_json(r: &mut FieldReader) -> Option<Self> {
        let tool_id = r.required(
            "tool_id",
            parse::with(|s| Uuid::parse_str(s).map_err(|_| "must be a UUID".to_owned())),
        );
        let config = r.optional("config", deployment_config);
        let public = r.optional("public", parse::boolean);
        Some(Self {
            tool_id: tool_id?,
            config: config?,
            public: public?,
        })
    }
}

#[derive(Serialize, ToSchema)]
pub struct DeploymentMetrics {
    requests_total: u64,
    avg_response_time_ms: f64,
    /// Share of calls that ended in an error, 0 to 1.
    error_rate: f64,
}

#[derive(Serialize, ToSchema)]
pub struct DeploymentView {
    deployment_id: Uuid,
    id: Uuid,
    tool_id: Uuid,
    tool_slug: String,
    tool_version: String,
    owner_id: Uuid,
    status: DeploymentStatus,
    health_status: HealthStatus,
    last_health_check: Option<DateTime<Utc>>,
    public: bool,
    #[schema(value_type = Object)]
    config: Value,
    endpoint_url: String,
    last_error: Option<String>,
    deployed_at: DateTime<Utc>,
    stopped_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metrics: Option<DeploymentMetrics>,
}

fn view(
    principal: &Principal,
    d: Deployment,
    metrics: Option<DeploymentMetrics>,
) -> DeploymentView {
    let mut config = d.config;
    if !crate::redact::may_read_secrets(principal, d.owner_id) {
        crate::redact::config(&mut config);
    }
    DeploymentView {
        deployment_id: d.id,
        id: d.id,
        tool_id: d.tool_id,
        tool_slug: d.tool_slug,
        tool_version: d.tool_version,
        owner_id: d.owner_id,
        status: d.status,
        health_status: d.health_status,
        last_health_check: d.last_health_check,
        public: d.public,
        config,
        endpoint_url: d.endpoint_url,
        last_error: d.last_error,
        deployed_at: d.deployed_at,
        stopped_at: d.stopped_at,
        metrics,
    }
}

/// Process runtimes run a command on this host (inside the sandbox): admins,
/// and developers unless the operator withholds it from them.
fn require_process(state: &AppState, principal: &Principal) -> Result<()> {
    let developer_may = principal.role == crate::domain::Role::Developer
        && state.settings.gateway.process_for_developers;
    if developer_may {
        Ok(())
    } else {
        require(principal, Permission::DeploymentsProcess)
    }
}

/// Whether `principal` may run `tool_config` with this deployment config,
/// before anything starts: a process runtime needs `deployments:process`
/// and must pass the sandbox's checks; a remote URL must pass the SSRF
/// policy now (a 422, not a failed deployment). `field` is the body member
/// a missing runtime is reported at.
async fn check_runnable(
    state: &AppState,
    principal: &Principal,
    tool_config: &ToolConfig,
    deployment_config: &Value,
    field: &str,
) -> Result<()> {
    match tool_config.runtime() {
        Some(Runtime::Stdio(_)) => {
            require_process(state, principal)?;
            crate::sandbox::check_runtime(&state.settings, tool_config, deployment_config)
        }
        Some(Runtime::StreamableHttp(http)) => {
            let upstream = crate::gateway::remote::upstream_for(&state.settings, &http)?;
            upstream.check_resolves().await.map_err(|e| {
                e.into_config_error()
                    .unwrap_or_else(|other| crate::error::Error::Unavailable(other.to_string()))
            })
        }
        None => Err(crate::error::Error::invalid(
            &["body", field],
            "value_error",
            "the tool's config needs a runtime to deploy: {transport: \"stdio\", command, args, env} \
             or {transport: \"streamable-http\", url}",
        )),
    }
}

/// The deployment at path `id` if the caller may change it: its owner or an
/// admin (others: 403 without `deployments:write`, else the 404 of reads).
async fn changeable_deployment(
    state: &AppState,
    principal: &Principal,
    raw_id: &str,
) -> Result<(Uuid, Deployment)> {
    require(principal, Permission::DeploymentsWrite)?;
    let id = path_uuid("id", raw_id)?;
    let d = visible_deployment(state, principal, id).await?;
    require_owner(principal, d.owner_id)?;
    Ok((id, d))
}

/// A 409 about deployment `id`.
fn conflict(id: Uuid, detail: impl Into<String>) -> crate::error::Error {
    crate::error::Error::Conflict {
        detail: detail.into(),
        resource_type: "deployment",
        resource_id: Some(id.to_string()),
    }
}

/// Developers deploy and stop their own; admins anyone's.
fn require_owner(principal: &Principal, owner: Uuid) -> Result<()> {
    require(principal, Permission::DeploymentsWrite)?;
    if principal.user_id == owner {
        Ok(())
    } else {
        require(principal, Permission::DeploymentsWriteAny)
    }
}

#[utoipa::path(post, path = "/api/v1/deployments", tag = "deployments", request_body = CreateDeploymentRequest,
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 201, body = DeploymentView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_deployment(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    body: Result<ValidJson<CreateDeploymentRequest>>,
) -> Result<impl IntoResponse> {
    require(&principal, Permission::DeploymentsWrite)?;
    let ValidJson(req) = body?;
    let tool = crate::registry::find(&state, req.tool_id).await?;
    require_owner(&principal, tool.author_id)?;
    if tool.status == ToolStatus::Deprecated {
        return Err(crate::error::Error::Conflict {
            detail: "the tool is deprecated: it is not deployed anew (its running deployments \
                     keep running, restart and upgrade); set its status to active or draft first"
                .into(),
            resource_type: "mcp_tool",
            resource_id: Some(tool.id.to_string()),
        });
    }
    let config = Value::Object(req.config.unwrap_or_default());
    check_runnable(&state, &principal, &tool.config, &config, "tool_id").await?;
    let now = crate::domain::now();
    let deployment = Deployment {
        id: Uuid::new_v4(),
        tool_id: tool.id,
        tool_slug: tool.slug.to_string(),
        tool_version: tool.version.to_string(),
        owner_id: principal.user_id,
        status: DeploymentStatus::Starting,
        health_status: HealthStatus::Unknown,
        last_health_check: None,
        public: req.public.unwrap_or(false),
        config,
        endpoint_url: format!("{}/mcp/{}", state.settings.public_url, tool.slug),
        last_error: None,
        deployed_at: now,
        stopped_at: None,
        updated_at: now,
    };
    state.deployments.insert_deployment(&deployment).await?;
    publish(
        state.events.as_ref(),
        status_event(
            &deployment,
            DeploymentStatus::Starting,
            HealthStatus::Unknown,
        ),
    )
    .await;
    if let Err(e) = state.gateway.launch(&state, deployment.clone()).await {
        // The row stays as the record of the attempt; it must not block the tool.
        let _ = state.deployments.stop_deployment(deployment.id).await;
        return Err(e);
    }
    Ok((
        StatusCode::CREATED,
        Json(view(&principal, deployment, None)),
    ))
}

#[derive(Serialize, ToSchema)]
pub struct DeploymentPage {
    items: Vec<DeploymentView>,
    total: u64,
    page: u32,
    page_size: u32,
    pages: u64,
}

#[utoipa::path(get, path = "/api/v1/deployments", tag = "deployments",
    params(("status" = Option<DeploymentStatus>, Query), ("page" = Option<u32>, Query), ("page_size" = Option<u32>, Query)),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = DeploymentPage), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn list_deployments(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    QueryFields(mut query): QueryFields,
) -> Result<Json<DeploymentPage>> {
    require(&principal, Permission::DeploymentsRead)?;
    let paging = Paging::read(&mut query);
    let status = query.optional("status", parse::with(DeploymentStatus::parse));
    query.finish()?;
    let (Some(paging), Some(status)) = (paging, status) else {
        return Err(crate::error::Error::internal(
            "query reader returned nothing",
        ));
    };
    let request = paging.request();
    let filter = DeploymentFilter {
        status,
        owner_id: (!principal.role.grants(Permission::DeploymentsReadAny))
            .then_some(principal.user_id),
    };
    let Page { items, total } = state.deployments.list_deployments(filter, request).await?;
    Ok(Json(DeploymentPage {
        items: items
            .into_iter()
            .map(|d| view(&principal, d, None))
            .collect(),
        total,
        page: paging.page,
        page_size: paging.page_size,
        pages: paging.pages(total),
    }))
}

/// The deployment `id` if the caller may see it (its owner, or an admin),
/// else the same 404 as for one that does not exist.
pub(super) async fn visible_deployment(
    state: &AppState,
    principal: &Principal,
    id: Uuid,
) -> Result<Deployment> {
    state
        .deployments
        .find_deployment(id)
        .await?
        .filter(|d| {
            d.owner_id == principal.user_id || principal.role.grants(Permission::DeploymentsReadAny)
        })
        .ok_or_else(|| crate::error::Error::not_found("deployment", id))
}

#[utoipa::path(get, path = "/api/v1/deployments/{id}", tag = "deployments", params(("id" = Uuid, Path)),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = DeploymentView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn get_deployment(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Path(id): Path<String>,
) -> Result<Json<DeploymentView>> {
    require(&principal, Permission::DeploymentsRead)?;
    let id = path_uuid("id", &id)?;
    let d = visible_deployment(&state, &principal, id).await?;
    let totals = state.deployments.usage_totals(id).await?;
    #[allow(clippy::cast_precision_loss)]
    let metrics = DeploymentMetrics {
        requests_total: totals.requests,
        avg_response_time_ms: totals.avg_latency_us / 1000.0,
        error_rate: if totals.requests == 0 {
            0.0
        } else {
            totals.errors as f64 / totals.requests as f64
        },
    };
    Ok(Json(view(&principal, d, Some(metrics))))
}

#[utoipa::path(delete, path = "/api/v1/deployments/{id}", tag = "deployments", params(("id" = Uuid, Path)),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = DeploymentView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn stop_deployment(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Path(id): Path<String>,
) -> Result<Json<DeploymentView>> {
    let (id, _) = changeable_deployment(&state, &principal, &id).await?;
    crate::gateway::stop(&state, id).await?;
    let d = visible_deployment(&state, &principal, id).await?;
    Ok(Json(view(&principal, d, None)))
}

#[utoipa::path(post, path = "/api/v1/deployments/{id}/restart", tag = "deployments", params(("id" = Uuid, Path)),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = DeploymentView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "Not failed or stopped, or the tool has another active deployment"),
        (status = 422, body = ErrorBody)))]
/// Starts a failed or stopped deployment again, keeping its id, config and
/// usage history.
async fn restart_deployment(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Path(id): Path<String>,
) -> Result<Json<DeploymentView>> {
    let (id, d) = changeable_deployment(&state, &principal, &id).await?;
    if !state.deployments.restart_deployment(id).await? {
        return Err(conflict(
            id,
            format!(
                "only a failed or stopped deployment restarts; this one is {}",
                d.status.as_str()
            ),
        ));
    }
    // A failed runner may still be held here; the new one replaces it.
    state.gateway.stop_local(id);
    let d = visible_deployment(&state, &principal, id).await?;
    publish(
        state.events.as_ref(),
        status_event(&d, DeploymentStatus::Starting, HealthStatus::Unknown),
    )
    .await;
    if let Err(e) = state.gateway.launch(&state, d.clone()).await {
        let _ = state
            .deployments
            .set_deployment_status(id, DeploymentStatus::Failed, Some(&e.to_string()))
            .await;
        return Err(e);
    }
    Ok(Json(view(&principal, d, None)))
}

#[derive(ToSchema)]
pub struct UpgradeDeploymentRequest {
    /// A version in the tool's history; the tool's current version when absent.
    version: Option<String>,
}

impl FromJson for UpgradeDeploymentRequest {
    fn from_json(r: &mut FieldReader) -> Option<Self> {
        let version = r.optional("version", parse::with(SemVer::parse));
        Some(Self {
            version: version?.map(|v| v.to_string()),
        })
    }
}

#[utoipa::path(post, path = "/api/v1/deployments/{id}/upgrade", tag = "deployments", params(("id" = Uuid, Path)),
    request_body(content = UpgradeDeploymentRequest, description = "Optional: an empty body upgrades to the tool's current version"),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = DeploymentView, description = "Runs the version now (unchanged when it already did)"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "Not running, or the new version did not start (the old one keeps serving)"),
        (status = 422, body = ErrorBody)))]
/// Moves a running deployment to the tool's current version, or to
/// `version` from its history. The new process starts next to the old one,
/// which serves every call until the new one answers a ping and is stopped
/// once its calls in flight are answered: no call fails during the switch.
async fn upgrade_deployment(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Path(id): Path<String>,
    body: Result<ValidJsonOrEmpty<UpgradeDeploymentRequest>>,
) -> Result<Json<DeploymentView>> {
    let (id, d) = changeable_deployment(&state, &principal, &id).await?;
    let ValidJsonOrEmpty(req) = body?;
    if matches!(
        d.status,
        DeploymentStatus::Failed | DeploymentStatus::Stopped
    ) {
        return Err(conflict(
            id,
            format!(
                "only a running (or starting) deployment upgrades; this one is {} (restart it first)",
                d.status.as_str()
            ),
        ));
    }
    let tool = crate::registry::find(&state, d.tool_id).await?;
    let version = req.version.unwrap_or_else(|| tool.version.to_string());
    if version == d.tool_version {
        return Ok(Json(view(&principal, d, None)));
    }
    let config = crate::registry::config_at(&state, &tool, &version)
        .await
        .map_err(|e| match e {
            crate::error::Error::NotFound { .. } => crate::error::Error::invalid(
                &["body", "version"],
                "value_error",
                format!("the tool has no version {version} in its history"),
            ),
            other => other,
        })?;
    check_runnable(&state, &principal, &config, &d.config, "version").await?;
    let mut next = d.clone();
    next.tool_version.clone_from(&version);
    let candidate = state.gateway.start_candidate(&state, next, &config).await?;
    if !state
        .deployments
        .set_deployment_version(id, &version)
        .await?
    {
        candidate.runner.stop();
        return Err(conflict(
            id,
            "the deployment was stopped during the upgrade",
        ));
    }
    state.gateway.switch_to(&state, candidate).await;
    let d = visible_deployment(&state, &principal, id).await?;
    publish(
        state.events.as_ref(),
        status_event(&d, d.status, d.health_status),
    )
    .await;
    Ok(Json(view(&principal, d, None)))
}
