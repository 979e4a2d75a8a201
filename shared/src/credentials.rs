//! The credentials a request presents, read in one place for every surface
//! that needs them: the API's [`AuthUser`] extractor, the rate limiter's
//! caller key, and the gateway's admission of a caller to a deployment.
//!
//! It owns how a bearer token and an API key are read from the headers, how
//! a token the rate limiter already verified is handed on ([`VerifiedBearer`]),
//! and which address the client calls from ([`ClientIp`]). What a principal
//! may do is decided by its users, not here.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, Extensions, HeaderMap};

use crate::domain::Principal;
use crate::error::{Error, Result};
use crate::state::AppState;

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

/// The principal of a bearer token the rate limiter already verified, kept
/// in the request's extensions so that it is not verified twice (the
/// account is still read by [`presented_principal`]).
#[derive(Clone)]
pub struct VerifiedBearer(pub Principal);

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
    let verified = if let Some(VerifiedBearer(principal)) = extensions.get() {
        Ok(principal.clone())
    } else if headers.contains_key(header::AUTHORIZATION) {
        bearer_token(headers)
            .ok_or(Error::Unauthorized("authentication required"))
            .and_then(|token| state.auth.keys.verify_access(token))
    } else {
        return None;
    };
    Some(match verified {
        Ok(principal) => state.auth.current(principal).await,
        Err(e) => Err(e),
    })
}

/// The principal of a credential given without its header (a query
/// parameter where headers cannot be set): an API key or an access token.
pub async fn principal_of_token(state: &AppState, token: &str) -> Result<Principal> {
    if token.starts_with(crate::auth::API_KEY_PREFIX) {
        state.auth.principal_from_api_key(token).await
    } else {
        let verified = state.auth.keys.verify_access(token)?;
        state.auth.current(verified).await
    }
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
