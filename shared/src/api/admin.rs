//! `/api/v1/admin/users`: user management, admin only.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::UserView;
use super::extract::{
    both, parse, path_uuid, FieldReader, FromJson, Paging, QueryFields, ValidJson,
};
use crate::credentials::AuthUser;
use crate::domain::{Email, Password, Permission, Role, Username};
use crate::error::{Error, ErrorBody, Result};
use crate::registry::require;
use crate::state::{create_user, AppState};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users, admin_create_user))
        .routes(routes!(update_user))
}

#[derive(Serialize, ToSchema)]
pub struct UserPage {
    items: Vec<UserView>,
    total: u64,
    page: u32,
    page_size: u32,
    pages: u64,
}

#[utoipa::path(get, path = "/api/v1/admin/users", tag = "admin",
    params(("page" = Option<u32>, Query), ("page_size" = Option<u32>, Query)),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = UserPage), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn list_users(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    QueryFields(mut query): QueryFields,
) -> Result<Json<UserPage>> {
    require(&principal, Permission::UsersManage)?;
    let paging = Paging::read(&mut query);
    query.finish()?;
    let paging = paging.ok_or_else(|| Error::internal("paging not read"))?;
    let page = state.users.list(paging.request()).await?;
    Ok(Json(UserPage {
        items: page.items.iter().map(UserView::from).collect(),
        total: page.total,
        page: paging.page,
        page_size: paging.page_size,
        pages: paging.pages(page.total),
    }))
}

#[derive(ToSchema)]
pub struct AdminCreateUser {
    username: String,
    email: String,
    #[schema(format = Password)]
    password: String,
    role: Role,
}

impl FromJson for AdminCreateUser {
    fn from_json(r: &mut FieldReader) -> Option<Self> {
        // Value rules here too, so one 422 lists every bad field.
        let username = r.required("username", parse::checked(Username::parse));
        let email = r.required("email", parse::checked(Email::parse));
        let password = r.required("password", parse::checked(Password::parse));
        let role = r.required("role", parse::with(Role::parse));
        Some(Self {
            username: username?,
            email: email?,
            password: password?,
            role: role?,
        })
    }
}

#[utoipa::path(post, path = "/api/v1/admin/users", tag = "admin", request_body = AdminCreateUser,
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 201, body = UserView), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn admin_create_user(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    body: Result<ValidJson<AdminCreateUser>>,
) -> Result<impl IntoResponse> {
    // Permission first: a non-admin learns nothing from the body's rules.
    require(&principal, Permission::UsersManage)?;
    let ValidJson(req) = body?;
    let user = create_user(
        state.users.as_ref(),
        &req.username,
        &req.email,
        &req.password,
        req.role,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(UserView::from(&user))))
}

#[derive(ToSchema)]
pub struct UpdateUser {
    role: Option<Role>,
    is_active: Option<bool>,
}

impl FromJson for UpdateUser {
    fn from_json(r: &mut FieldReader) -> Option<Self> {
        let role = r.optional("role", parse::with(Role::parse));
        let is_active = r.optional("is_active", parse::boolean);
        Some(Self {
            role: role?,
            is_active: is_active?,
        })
    }
}

#[utoipa::path(patch, path = "/api/v1/admin/users/{id}", tag = "admin", request_body = UpdateUser,
    params(("id" = uuid::Uuid, Path)), security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = UserView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn update_user(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Path(id): Path<String>,
    body: Result<ValidJson<UpdateUser>>,
) -> Result<Json<UserView>> {
    require(&principal, Permission::UsersManage)?;
    // A bad id and a bad body are reported in one 422.
    let (id, ValidJson(req)) = both(path_uuid("id", &id), body)?;
    let user = state
        .users
        .find(id)
        .await?
        .ok_or_else(|| Error::not_found("user", id))?;
    let role = req.role.unwrap_or(user.role);
    let is_active = req.is_active.unwrap_or(user.is_active);
    // An admin locking themselves out could leave the platform with no admin.
    if id == principal.user_id && (role != Role::Admin || !is_active) {
        return Err(Error::Conflict {
            detail: "an admin cannot demote or deactivate their own account".into(),
            resource_type: "user",
            resource_id: Some(id.to_string()),
        });
    }
    state.users.set_role_and_status(id, role, is_active).await?;
    let updated = state
        .users
        .find(id)
        .await?
        .ok_or_else(|| Error::not_found("user", id))?;
    Ok(Json(UserView::from(&updated)))
}
