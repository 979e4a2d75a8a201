//! HTTP API groups. Each exposes `routes()` with full paths, documented for
//! OpenAPI as they are registered (`utoipa_axum::routes!`), so the spec covers
//! every route by construction. The host merges all groups; a Lambda
//! function serves one group. Both wrap them in [`crate::http::stack`].

pub mod admin;
pub mod analyze;
pub mod auth;
pub mod deployment_logs;
pub mod deployments;
pub mod extract;
pub mod knowledge;
pub mod mcps;
pub mod ops;
pub mod realtime;
pub mod tasks;

use utoipa::openapi::security::{
    ApiKey as ApiKeyScheme, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme,
};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

/// Every API group, merged: what the local host serves.
pub fn all_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(auth::routes())
        .merge(admin::routes())
        .merge(mcps::routes())
        .merge(knowledge::routes())
        .merge(deployments::routes())
        .merge(crate::gateway::endpoint::routes())
        .merge(ops::routes())
        .merge(tasks::routes())
        .merge(analyze::routes())
        .merge(realtime::routes())
}

/// The OpenAPI document of the whole platform.
pub fn openapi() -> utoipa::openapi::OpenApi {
    all_routes().split_for_parts().1
}

#[derive(OpenApi)]
#[openapi(
    info(title = "MCP Platform API", description = "Register, version, search, analyse, deploy and call MCP tools."),
    modifiers(&SecuritySchemes),
    components(schemas(crate::error::ErrorBody, crate::error::FieldError)),
    tags(
        (name = "auth", description = "Accounts, tokens and API keys"),
        (name = "admin", description = "User management (admin)"),
        (name = "mcps", description = "The MCP tool registry and its version history"),
        (name = "knowledge", description = "Documents and hybrid search"),
        (name = "deployments", description = "Deploy tools behind /mcp/{slug}; health and usage"),
        (name = "gateway", description = "MCP Streamable HTTP endpoints of deployed tools"),
        (name = "ops", description = "Health, readiness, metrics and this document"),
        (name = "analyze", description = "Feasibility, improvements and config generation, run as tasks"),
        (name = "tasks", description = "Long operations started by the caller, and their results"),
        (name = "realtime", description = "WebSocket and Server-Sent Events of task updates and deployment status"),
    )
)]
struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKeyScheme::Header(ApiKeyValue::new("X-API-Key"))),
        );
    }
}
