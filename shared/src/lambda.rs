//! Serving one API group as an AWS Lambda function behind API Gateway.
//! The group's router gets exactly the middleware the local host uses
//! ([`crate::http::stack`]), so both behave the same by construction.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request};
use axum::http::Uri;
use axum::Router;
use lambda_http::request::RequestContext;
use lambda_http::RequestExt;
use utoipa_axum::router::OpenApiRouter;

use crate::config::{ConfigError, JwtSecretSource, Overrides, Settings, Source};
use crate::state::AppState;

pub use lambda_http::Error as LambdaError;

/// Built once per cold start: settings from the environment (no `.env`
/// in Lambda), then every adapter.
pub async fn bootstrap() -> Result<AppState, LambdaError> {
    bootstrap_from(&Source::from_env()).await
}

/// [`bootstrap`] from the given variables.
///
/// The embedded default's generated signing secret is refused here: it lives
/// in one instance's `/tmp`, so `api-mcps` would reject every token `api-auth`
/// issued (and each cold start would log everyone out). Every function must
/// be given the same `SECRET_KEY`.
pub async fn bootstrap_from(source: &Source) -> Result<AppState, LambdaError> {
    let settings = Settings::load(source, &Overrides::default())?;
    if matches!(settings.jwt_secret, JwtSecretSource::File(_)) {
        return Err(ConfigError {
            variable: "SECRET_KEY".into(),
            expected: "required in AWS Lambda (at least 32 bytes, the same for every function)"
                .into(),
        }
        .into());
    }
    crate::telemetry::init(&settings);
    Ok(AppState::build(settings).await?)
}

/// `api-auth`: registration, login, tokens, API keys and user management.
pub fn auth_function(state: AppState) -> Router {
    group(
        crate::api::auth::routes().merge(crate::api::admin::routes()),
        state,
    )
}

/// `api-mcps`: the tool registry.
pub fn mcps_function(state: AppState) -> Router {
    group(crate::api::mcps::routes(), state)
}

fn group(routes: OpenApiRouter<AppState>, state: AppState) -> Router {
    let (router, _) = routes.split_for_parts();
    let app = crate::http::stack(router, state);
    // `Router::layer` middleware runs after routing, and the path must be
    // fixed before it: the adaptation wraps the whole stacked router.
    Router::new().fallback_service(tower::ServiceExt::map_request(app, from_api_gateway))
}

/// What a socket gives the local host, taken from the API Gateway event:
/// - the client address (`requestContext.http.sourceIp`), as `ConnectInfo`,
///   so per-address limits do not lump every caller into one bucket;
/// - the application path: on a named stage the path arrives as
///   `/{stage}/api/v1/…` (`lambda_http` adds the stage when the raw path
///   lacks it), and the routes know only `/api/v1/…`.
fn from_api_gateway(mut request: Request) -> Request {
    let (source_ip, stage) = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => (ctx.http.source_ip.clone(), ctx.stage.clone()),
        Some(RequestContext::ApiGatewayV1(ctx)) => {
            (ctx.identity.source_ip.clone(), ctx.stage.clone())
        }
        _ => (None, None),
    };
    if let Some(ip) = source_ip.and_then(|ip| ip.parse::<IpAddr>().ok()) {
        request
            .extensions_mut()
            .insert(ConnectInfo(SocketAddr::new(ip, 0)));
    }
    if let Some(stage) = stage.filter(|s| !s.is_empty() && s != "$default") {
        if let Some(uri) = without_stage(request.uri(), &stage) {
            *request.uri_mut() = uri;
        }
    }
    request
}

/// `uri` with a leading `/{stage}` segment removed, when it has one.
fn without_stage(uri: &Uri, stage: &str) -> Option<Uri> {
    let rest = uri.path().strip_prefix('/')?.strip_prefix(stage)?;
    if !(rest.is_empty() || rest.starts_with('/')) {
        return None;
    }
    let path = if rest.is_empty() { "/" } else { rest };
    let path_and_query = match uri.query() {
        Some(query) => format!("{path}?{query}"),
        None => path.to_owned(),
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(path_and_query.parse().ok()?);
    Uri::from_parts(parts).ok()
}

/// Runs the Lambda HTTP event loop over `app`.
pub async fn serve_http(app: Router) -> Result<(), LambdaError> {
    lambda_http::run(app).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strip(uri: &str, stage: &str) -> Option<String> {
        without_stage(&uri.parse().expect("uri"), stage).map(|u| u.to_string())
    }

    #[test]
    fn the_stage_segment_is_removed_with_the_query_kept() {
        assert_eq!(
            strip("https://h.example/prod/api/v1/mcps?page=2", "prod").as_deref(),
            Some("https://h.example/api/v1/mcps?page=2")
        );
        assert_eq!(strip("/prod", "prod").as_deref(), Some("/"));
    }

    #[test]
    fn a_path_that_only_starts_like_the_stage_is_kept() {
        assert_eq!(strip("/production/api", "prod"), None);
        assert_eq!(strip("/api/v1/mcps", "prod"), None);
    }
}
