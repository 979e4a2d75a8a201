//! Request rate limits per caller and route group (SPEC §3 "Operations").
//!
//! The caller is the user of a valid bearer token, the API key presented, or
//! else the client IP. The group is the first path segment after `/api/v1/`
//! (`mcps`, `auth`, `admin`, …); operations routes are not limited. Counters
//! live in the configured [`RateLimiter`](crate::ports::RateLimiter): Redis
//! when several replicas run, so the limit holds across all of them.
//!
//! A limiter that cannot be reached lets requests through (logged): rate
//! limiting protects capacity and must not become an outage of its own. The
//! login limits in `api::auth` are the exception — they guard passwords, so
//! they fail closed.

use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::auth::sha256_hex;
use crate::credentials::{bearer_token, client_ip, VerifiedBearer};
use crate::error::Error;
use crate::ports::RateDecision;
use crate::state::AppState;

pub use crate::config::RateLimits;

/// The route group of an API path, or `None` for paths that are not limited.
fn group_of(path: &str) -> Option<&str> {
    // Opening real-time connections counts like any API call.
    if path == "/ws" || path == "/events" {
        return Some("realtime");
    }
    let rest = path.strip_prefix("/api/v1/")?;
    let group = rest.split('/').next().filter(|g| !g.is_empty())?;
    Some(group)
}

/// Who is calling, as cheaply as can be trusted: a token is verified (a
/// forged `sub` must not spend someone else's quota), an API key is keyed by
/// its hash without a database read, anything else by address.
/// A token verified here is kept in the request's extensions, so the
/// handler's [`AuthUser`](crate::credentials::AuthUser) does not verify it again.
fn caller(request: &mut Request, state: &AppState, ip: Option<std::net::IpAddr>) -> String {
    let headers = request.headers();
    if let Some(key) = headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        return format!("key:{}", &sha256_hex(key)[..32]);
    }
    if let Some(principal) =
        bearer_token(headers).and_then(|t| state.auth.keys.verify_access(t).ok())
    {
        let key = format!("user:{}", principal.user_id);
        request.extensions_mut().insert(VerifiedBearer(principal));
        return key;
    }
    ip.map_or_else(|| "ip:unknown".to_owned(), |ip| format!("ip:{ip}"))
}

pub async fn middleware(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let limits = &state.settings.rate_limits;
    let Some(group) = group_of(request.uri().path()).filter(|_| limits.enabled) else {
        return next.run(request).await;
    };
    let limit = limits.limit_for(group);
    let ip = client_ip(
        request.headers(),
        request.extensions(),
        state.settings.trust_proxy_headers,
    );
    let group = group.to_owned();
    let key = format!("api:{group}:{}", caller(&mut request, &state, ip));
    let remaining = match state.limiter.hit(&key, limit, limits.window).await {
        Ok(RateDecision::Allowed { remaining }) => Some(remaining),
        Ok(RateDecision::Limited { retry_after }) => {
            return Error::RateLimited {
                retry_after: retry_after.as_secs().max(1),
            }
            .into_response();
        }
        Err(e) => {
            tracing::warn!(error = %e, "rate limiter unavailable; request let through");
            None
        }
    };
    let mut response = next.run(request).await;
    if let Some(remaining) = remaining {
        let headers = response.headers_mut();
        headers.insert("x-ratelimit-limit", HeaderValue::from(limit));
        headers.insert("x-ratelimit-remaining", HeaderValue::from(remaining));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_are_the_first_segment_under_api_v1() {
        assert_eq!(group_of("/api/v1/mcps/123/history"), Some("mcps"));
        assert_eq!(group_of("/api/v1/auth/login"), Some("auth"));
        assert_eq!(group_of("/health"), None);
        assert_eq!(group_of("/api/openapi.json"), None);
        assert_eq!(group_of("/api/v1/"), None);
        assert_eq!(group_of("/ws"), Some("realtime"));
        assert_eq!(group_of("/events"), Some("realtime"));
    }
}
