//! `/api/v1/auth/*`: registration, login, token refresh and logout, the
//! caller's profile, and API keys.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::extract::{parse, path_uuid, FieldReader, FromJson, ValidJson, ValidJsonOrEmpty};
use crate::auth::{random_token, sha256_hex, verify_password, API_KEY_PREFIX};
use crate::credentials::{bearer_token, AuthUser, ClientIp};
use crate::domain::{ApiKey, Email, Password, Permission, Role, User, Username};
use crate::error::{Error, ErrorBody, Result};
use crate::ports::{RateDecision, RefreshUse};
use crate::registry::require;
use crate::state::{create_user, AppState};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(me))
        .routes(routes!(create_api_key, list_api_keys))
        .routes(routes!(revoke_api_key))
}

/// A user as the API shows it (never the password hash).
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    pub id: Uuid,
    pub username: String,
    pub email: String,
    pub role: Role,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        Self {
            id: u.id,
            username: u.username.clone(),
            email: u.email.clone(),
            role: u.role,
            is_active: u.is_active,
            created_at: u.created_at,
        }
    }
}

#[derive(ToSchema)]
pub struct RegisterRequest {
    username: String,
    email: String,
    #[schema(format = Password)]
    password: String,
    /// `developer` (default) or `viewer`; `admin` is refused.
    role: Option<Role>,
}

impl FromJson for RegisterRequest {
    fn from_json(r: &mut FieldReader) -> Option<Self> {
        // The value rules are checked here, with the shapes, so that one 422
        // lists every bad field; `create_user` (shared with the CLI) checks them again.
        let username = r.required("username", parse::checked(Username::parse));
        let email = r.required("email", parse::checked(Email::parse));
        let password = r.required("password", parse::checked(Password::parse));
        let role = r.optional("role", parse::with(Role::parse));
        Some(Self {
            username: username?,
            email: email?,
            password: password?,
            role: role?,
        })
    }
}

#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth", request_body = RegisterRequest,
    responses((status = 201, body = UserView), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn register(
    State(state): State<AppState>,
    body: Result<ValidJson<RegisterRequest>>,
) -> Result<impl IntoResponse> {
    // Closed registration is a 403 whatever the body holds.
    if !state.settings.allow_registration {
        return Err(Error::Forbidden {
            required_permission: Permission::UsersManage.as_str(),
        });
    }
    let ValidJson(req) = body?;
    let role = req.role.unwrap_or(Role::Developer);
    if role == Role::Admin {
        return Err(Error::Forbidden {
            required_permission: Permission::UsersManage.as_str(),
        });
    }
    let user = create_user(
        state.users.as_ref(),
        &req.username,
        &req.email,
        &req.password,
        role,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(UserView::from(&user))))
}

#[derive(ToSchema)]
pub struct LoginRequest {
    username: String,
    #[schema(format = Password)]
    password: String,
}

impl FromJson for LoginRequest {
    fn from_json(r: &mut FieldReader) -> Option<Self> {
        let username = r.required("username", parse::bounded_string(254));
        let password = r.required("password", parse::bounded_string(1024));
        Some(Self {
            username: username?,
            password: password?,
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenPair {
    access_token: String,
    refresh_token: String,
    /// Always `bearer`.
    token_type: &'static str,
    /// Seconds until the access token expires.
    expires_in: i64,
}

async fn issue_tokens(state: &AppState, user: &User, family_id: Uuid) -> Result<TokenPair> {
    let now = crate::domain::now();
    let keys = &state.auth.keys;
    let access_token = keys.issue_access(user.id, user.role, family_id, now)?;
    let refresh_token = format!("mcp_rt_{}", random_token());
    state
        .sessions
        .issue(
            &sha256_hex(&refresh_token),
            family_id,
            user.id,
            now + keys.refresh_ttl,
        )
        .await?;
    Ok(TokenPair {
        access_token,
        refresh_token,
        token_type: "bearer",
        expires_in: keys.access_ttl.num_seconds(),
    })
}

async fn limit(state: &AppState, key: &str, max: u32, window: Duration) -> Result<()> {
    match state.limiter.hit(key, max, window).await? {
        RateDecision::Allowed { .. } => Ok(()),
        RateDecision::Limited { retry_after } => Err(Error::RateLimited {
            retry_after: retry_after.as_secs().max(1),
        }),
    }
}

#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = TokenPair), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ValidJson(req): ValidJson<LoginRequest>,
) -> Result<Json<TokenPair>> {
    // Both limits count every attempt: per account against guessing one
    // password from many addresses, per address against spraying many accounts.
    let s = &state.settings;
    let ip = ip.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
    limit(
        &state,
        &format!("login:ip:{ip}"),
        s.login_max_attempts_per_ip,
        s.login_window,
    )
    .await?;
    let account = req.username.to_lowercase();
    limit(
        &state,
        &format!("login:account:{account}"),
        s.login_max_attempts_per_account,
        s.login_window,
    )
    .await?;

    let user = state.users.find_by_username(&req.username).await?;
    let ok = verify_password(
        &req.password,
        user.as_ref().map(|u| u.password_hash.as_str()),
    )
    .await;
    let user = match user {
        Some(user) if ok => user,
        _ => return Err(Error::Unauthorized("invalid username or password")),
    };
    if !user.is_active {
        return Err(Error::Unauthorized("this account is disabled"));
    }
    tracing::info!(user_id = %user.id, "login");
    Ok(Json(issue_tokens(&state, &user, Uuid::new_v4()).await?))
}

#[derive(ToSchema)]
pub struct RefreshRequest {
    refresh_token: String,
}

impl FromJson for RefreshRequest {
    fn from_json(r: &mut FieldReader) -> Option<Self> {
        let refresh_token = r.required("refresh_token", parse::bounded_string(256));
        Some(Self {
            refresh_token: refresh_token?,
        })
    }
}

#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = TokenPair), (status = 401, body = ErrorBody)))]
async fn refresh(
    State(state): State<AppState>,
    ValidJson(req): ValidJson<RefreshRequest>,
) -> Result<Json<TokenPair>> {
    const REFUSED: Error = Error::Unauthorized("invalid or expired refresh token");
    match state
        .sessions
        .consume(&sha256_hex(&req.refresh_token))
        .await?
    {
        RefreshUse::Fresh { user_id, family_id } => {
            let user = state
                .users
                .find(user_id)
                .await?
                .filter(|u| u.is_active)
                .ok_or(REFUSED)?;
            Ok(Json(issue_tokens(&state, &user, family_id).await?))
        }
        RefreshUse::Reused { family_id } => {
            // A spent token came back: someone holds a copy. End the whole session.
            tracing::warn!(%family_id, "refresh token reuse; revoking its family");
            state.sessions.revoke_family(family_id).await?;
            Err(REFUSED)
        }
        RefreshUse::Unknown => Err(REFUSED),
    }
}

#[derive(ToSchema)]
pub struct LogoutRequest {
    /// The refresh token to end; its whole family is revoked.
    refresh_token: Option<String>,
}

impl FromJson for LogoutRequest {
    fn from_json(r: &mut FieldReader) -> Option<Self> {
        let refresh_token = r.optional("refresh_token", parse::bounded_string(256));
        Some(Self {
            refresh_token: refresh_token?,
        })
    }
}

/// Ends a login session: the family of the given refresh token, which must
/// be the caller's (another user's or an unknown token is a 401 and revokes
/// nothing), or without a body the session the caller's access token
/// belongs to. An API-key caller has no session: it names the token (422
/// otherwise). Access tokens of the session stay valid until they expire
/// (`ACCESS_TOKEN_EXPIRE_MINUTES`); its refresh tokens are refused at once.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", request_body(content = LogoutRequest, description = "optional"),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn logout(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    headers: HeaderMap,
    ValidJsonOrEmpty(body): ValidJsonOrEmpty<LogoutRequest>,
) -> Result<StatusCode> {
    let family_id = match body.refresh_token {
        Some(token) => match state.sessions.owner(&sha256_hex(&token)).await? {
            Some(owner) if owner.user_id == principal.user_id => owner.family_id,
            _ => {
                return Err(Error::Unauthorized(
                    "not a live refresh token of the caller's",
                ))
            }
        },
        None => bearer_token(&headers)
            .and_then(|token| state.auth.keys.session_of(token))
            .ok_or_else(|| {
                Error::invalid(
                    &["body", "refresh_token"],
                    "missing",
                    "give the refresh_token of the session to end (this credential belongs to no login session)",
                )
            })?,
    };
    state.sessions.revoke_family(family_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth", security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = UserView), (status = 401, body = ErrorBody)))]
async fn me(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
) -> Result<Json<UserView>> {
    let user = state
        .users
        .find(principal.user_id)
        .await?
        .ok_or(Error::Unauthorized("the account no longer exists"))?;
    Ok(Json(UserView::from(&user)))
}

#[derive(ToSchema)]
pub struct CreateApiKeyRequest {
    name: String,
    /// When the key stops working; must be in the future.
    expires_at: Option<DateTime<Utc>>,
}

impl FromJson for CreateApiKeyRequest {
    fn from_json(r: &mut FieldReader) -> Option<Self> {
        let name = r.required("name", |v| {
            let s = parse::bounded_string(100)(v)?;
            if s.trim().is_empty() {
                return Err("must not be empty".into());
            }
            Ok(s.trim().to_owned())
        });
        let expires_at = r.optional("expires_at", |v| {
            let at = parse::timestamp(v)?;
            if at <= Utc::now() {
                return Err("must be in the future".into());
            }
            Ok(at)
        });
        Some(Self {
            name: name?,
            expires_at: expires_at?,
        })
    }
}

/// The only response that ever contains the key itself.
#[derive(Serialize, ToSchema)]
pub struct CreatedApiKey {
    id: Uuid,
    name: String,
    /// The secret: shown once, stored only as a hash.
    key: String,
    prefix: String,
    created_at: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
}

#[utoipa::path(post, path = "/api/v1/auth/api-keys", tag = "auth", request_body = CreateApiKeyRequest,
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 201, body = CreatedApiKey), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_api_key(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    ValidJson(req): ValidJson<CreateApiKeyRequest>,
) -> Result<impl IntoResponse> {
    require(&principal, Permission::ApiKeysManage)?;
    let key = format!("{API_KEY_PREFIX}{}", random_token());
    let stored = ApiKey {
        id: Uuid::new_v4(),
        user_id: principal.user_id,
        name: req.name,
        prefix: key.chars().take(API_KEY_PREFIX.len() + 6).collect(),
        key_hash: sha256_hex(&key),
        created_at: crate::domain::now(),
        expires_at: req.expires_at,
        last_used_at: None,
        revoked_at: None,
    };
    state.users.create_api_key(&stored).await?;
    // The account was read when the request began; if it was deactivated
    // since, the key must not outlive that (revoked, not merely suspended).
    if let Err(refused) = state.auth.current(principal.clone()).await {
        state
            .users
            .revoke_api_key(principal.user_id, stored.id, crate::domain::now())
            .await?;
        return Err(refused);
    }
    let created = CreatedApiKey {
        id: stored.id,
        name: stored.name,
        key,
        prefix: stored.prefix,
        created_at: stored.created_at,
        expires_at: stored.expires_at,
    };
    Ok((StatusCode::CREATED, Json(created)))
}

#[derive(Serialize, ToSchema)]
pub struct ApiKeyList {
    items: Vec<ApiKey>,
}

#[utoipa::path(get, path = "/api/v1/auth/api-keys", tag = "auth", security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = ApiKeyList), (status = 401, body = ErrorBody)))]
async fn list_api_keys(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
) -> Result<Json<ApiKeyList>> {
    require(&principal, Permission::ApiKeysManage)?;
    let items = state.users.list_api_keys(principal.user_id).await?;
    Ok(Json(ApiKeyList { items }))
}

#[utoipa::path(delete, path = "/api/v1/auth/api-keys/{id}", tag = "auth", params(("id" = Uuid, Path)),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn revoke_api_key(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    require(&principal, Permission::ApiKeysManage)?;
    let id = path_uuid("id", &id)?;
    if state
        .users
        .revoke_api_key(principal.user_id, id, crate::domain::now())
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Error::not_found("api_key", id))
    }
}
