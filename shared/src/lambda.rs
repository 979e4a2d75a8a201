//! Serving one API group as an AWS Lambda function behind API Gateway.
//! The group's router gets exactly the middleware the local host uses
//! ([`crate::http::stack`]), so both behave the same by construction.

use axum::Router;
use utoipa_axum::router::OpenApiRouter;

use crate::config::{Overrides, Settings, Source};
use crate::state::AppState;

pub use lambda_http::Error as LambdaError;

/// Built once per cold start: settings from the environment (no `.env`
/// in Lambda), then every adapter.
pub async fn bootstrap() -> Result<AppState, LambdaError> {
    let settings = Settings::load(&Source::from_env(), &Overrides::default())?;
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
    crate::http::stack(router, state)
}

/// Runs the Lambda HTTP event loop over `app`.
pub async fn serve_http(app: Router) -> Result<(), LambdaError> {
    lambda_http::run(app).await
}
