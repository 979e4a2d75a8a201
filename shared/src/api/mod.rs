//! HTTP API groups. Each exposes `routes()` with full paths, documented for
//! OpenAPI as they are registered (`utoipa_axum::routes!`), so the spec covers
//! every route by construction. The host merges all groups; a Lambda
//! function serves one group. Both wrap them in [`crate::http::stack`].

pub mod admin;
pub mod analyze;
pub mod auth;
pub mod deployments;
pub mod extract;
pub mod knowledge;
pub mod mcps;
pub mod ops;
pub mod realtime;
pub mod tasks;

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, Extensions, HeaderMap};
use utoipa::openapi::security::{
    ApiKey as ApiKeyScheme, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme,
};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use crate::domain::Principal;
use crate::error::{Error, Result};
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

/// The authenticated caller: `Authorization: Bearer <access token>` or
/// `X-API-Key: mcp_live_…`. Anything else is 401.
pub struct AuthUser(pub Principal);

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        presented_principal(state, &parts.headers, &parts.extensions)
            .await
            .unwrap_or(Err(Error::Unauthorized("authentication required")))
            .map(AuthUser)
    }
}

/// The principal of the credentials a request presents: an API key (looked
/// up), or a bearer token (verified here, or already by the rate limiter,
/// which leaves it in the extensions). `None` when it presents neither.
pub async fn presented_principal(
    state: &AppState,
    headers: &HeaderMap,
    extensions: &Extensions,
) -> Option<Result<Principal>> {
    if let Some(key) = headers.get("x-api-key") {
        return Some(match key.to_str() {
            Ok(key) => state.auth.principal_from_api_key(key).await,
            Err(_) => Err(Error::Unauthorized("invalid, revoked or expired API key")),
        });
    }
    if let Some(crate::ratelimit::VerifiedBearer(principal)) = extensions.get() {
        return Some(Ok(principal.clone()));
    }
    if !headers.contains_key(header::AUTHORIZATION) {
        return None;
    }
    Some(
        bearer_token(headers)
            .ok_or(Error::Unauthorized("authentication required"))
            .and_then(|token| state.auth.keys.verify_access(token)),
    )
}

/// The token of an `Authorization: Bearer …` header.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The client's address: the socket peer, or the last `X-Forwarded-For`
/// hop when `TRUST_PROXY_HEADERS` says a proxy in front sets it.
pub struct ClientIp(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        Ok(Self(client_ip(
            &parts.headers,
            &parts.extensions,
            state.settings.trust_proxy_headers,
        )))
    }
}

/// See [`ClientIp`]; usable where there is no extractor (middleware).
pub fn client_ip(
    headers: &HeaderMap,
    extensions: &Extensions,
    trust_proxy_headers: bool,
) -> Option<IpAddr> {
    if trust_proxy_headers {
        // The trusted proxy appends the address it saw; everything before
        // that hop was written by the client and proves nothing.
        let forwarded = headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .and_then(|ip| ip.trim().parse().ok());
        if forwarded.is_some() {
            return forwarded;
        }
    }
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
}
