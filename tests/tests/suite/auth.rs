//! Accounts, sessions and API keys, black-box (SPEC §3 "Auth and users",
//! §5.6): registration, login, refresh rotation with reuse detection, logout,
//! API keys, login rate limits, admin user management and the
//! `admin create-user` command.

use std::io::Write;
use std::process::{Command, Stdio};

use chrono::{Duration, Utc};
use mcp_platform::auth::sha256_hex;
use mcp_platform::domain::ApiKey;
use mcp_platform_tests::{
    assert_error, error_locs, platform_binary, spawn_app, spawn_app_in, spawn_app_with, tempdir,
    TestApp,
};
use serde_json::{json, Value};
use uuid::Uuid;

const REGISTER: &str = "/api/v1/auth/register";
const LOGIN: &str = "/api/v1/auth/login";
const REFRESH: &str = "/api/v1/auth/refresh";
const LOGOUT: &str = "/api/v1/auth/logout";
const ME: &str = "/api/v1/auth/me";
const KEYS: &str = "/api/v1/auth/api-keys";
const USERS: &str = "/api/v1/admin/users";

fn keys_of(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    keys.sort();
    keys
}

async fn refresh(app: &TestApp, token: &str) -> mcp_platform_tests::Reply {
    app.post(REFRESH, None, json!({ "refresh_token": token }))
        .await
}

// ---- registration -------------------------------------------------------

#[tokio::test]
async fn register_returns_201_with_the_public_user_shape_and_no_password_hash() {
    let app = spawn_app().await;
    let reply = app
        .post(
            REGISTER,
            None,
            json!({"username": "ada", "email": "Ada@Example.com", "password": "correct horse battery"}),
        )
        .await;
    assert_eq!(reply.status, 201, "register: {}", reply.text);
    assert_eq!(
        keys_of(&reply.body),
        ["created_at", "email", "id", "is_active", "role", "username"],
        "the user body has exactly the SPEC fields: {}",
        reply.text
    );
    assert_eq!(reply.body["username"], "ada");
    assert_eq!(
        reply.body["email"], "ada@example.com",
        "e-mail is stored lowercased"
    );
    assert_eq!(
        reply.body["role"], "developer",
        "self-registration gives developer"
    );
    assert_eq!(reply.body["is_active"], true);
    assert!(
        Uuid::parse_str(reply.body["id"].as_str().unwrap_or_default()).is_ok(),
        "id is a UUID: {}",
        reply.text
    );
    assert!(
        !reply.text.contains("argon2") && !reply.text.contains("correct horse"),
        "neither the password nor its hash may appear: {}",
        reply.text
    );
}

#[tokio::test]
async fn register_may_ask_for_the_viewer_role() {
    let app = spawn_app().await;
    let reply = app.register("vera", "viewer").await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    assert_eq!(reply.body["role"], "viewer");
}

#[tokio::test]
async fn register_refuses_a_requested_admin_role_with_403_naming_the_permission() {
    let app = spawn_app().await;
    let reply = app.register("mallory", "admin").await;
    assert_error(&reply, 403, "FORBIDDEN", "register as admin");
    assert_eq!(
        reply.body["required_permission"], "users:manage",
        "{}",
        reply.text
    );
    let login = app
        .post(
            LOGIN,
            None,
            json!({"username": "mallory", "password": "pw-mallory-long-enough"}),
        )
        .await;
    assert_eq!(
        login.status, 401,
        "a refused registration must not create the account: {}",
        login.text
    );
}

#[tokio::test]
async fn register_with_a_taken_username_is_409() {
    let app = spawn_app().await;
    assert_eq!(app.register("ada", "developer").await.status, 201);
    let reply = app
        .post(
            REGISTER,
            None,
            json!({"username": "ada", "email": "other@example.com", "password": "long-enough-pw"}),
        )
        .await;
    assert_error(&reply, 409, "CONFLICT", "duplicate username");
    assert!(
        reply.body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("username"),
        "the conflict names the username: {}",
        reply.text
    );
}

#[tokio::test]
async fn register_with_a_taken_email_in_any_case_is_409() {
    let app = spawn_app().await;
    assert_eq!(app.register("ada", "developer").await.status, 201);
    let reply = app
        .post(
            REGISTER,
            None,
            json!({"username": "ada2", "email": "ADA@example.com", "password": "long-enough-pw"}),
        )
        .await;
    assert_error(&reply, 409, "CONFLICT", "duplicate email");
    assert!(
        reply.body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("email"),
        "the conflict names the email: {}",
        reply.text
    );
}

#[tokio::test]
async fn registration_turned_off_by_config_is_403() {
    let app = spawn_app_with(&[("ALLOW_REGISTRATION", "false")]).await;
    let reply = app.register("ada", "developer").await;
    assert_error(&reply, 403, "FORBIDDEN", "registration disabled");
    assert!(reply.body["required_permission"].is_string());
}

#[tokio::test]
async fn registration_turned_off_is_403_even_for_an_invalid_body() {
    let app = spawn_app_with(&[("ALLOW_REGISTRATION", "false")]).await;
    let reply = app.post(REGISTER, None, json!({"username": 5})).await;
    assert_error(
        &reply,
        403,
        "FORBIDDEN",
        "invalid body, registration disabled",
    );
}

#[tokio::test]
async fn usernames_are_unique_regardless_of_case() {
    let app = spawn_app().await;
    assert_eq!(app.register("ada", "developer").await.status, 201);
    let reply = app
        .post(
            REGISTER,
            None,
            json!({"username": "ADA", "email": "other@example.com", "password": "long-enough-pw"}),
        )
        .await;
    assert_error(&reply, 409, "CONFLICT", "username differing only in case");
}

// ---- login --------------------------------------------------------------

#[tokio::test]
async fn login_returns_a_bearer_token_pair_valid_for_900_seconds() {
    let app = spawn_app().await;
    app.register("ada", "developer").await;
    let reply = app
        .post(
            LOGIN,
            None,
            json!({"username": "ada", "password": "pw-ada-long-enough"}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(
        keys_of(&reply.body),
        ["access_token", "expires_in", "refresh_token", "token_type"]
    );
    assert_eq!(reply.body["token_type"], "bearer");
    assert_eq!(reply.body["expires_in"], 900);
    let access = reply.body["access_token"].as_str().unwrap_or_default();
    let refresh = reply.body["refresh_token"].as_str().unwrap_or_default();
    assert_eq!(access.split('.').count(), 3, "the access token is a JWT");
    assert!(!refresh.is_empty() && refresh != access);
    assert_eq!(app.get(ME, Some(access)).await.status, 200);
}

#[tokio::test]
async fn wrong_password_and_unknown_user_get_the_same_401_body() {
    let app = spawn_app().await;
    app.register("ada", "developer").await;
    let wrong = app
        .post(
            LOGIN,
            None,
            json!({"username": "ada", "password": "not-her-password"}),
        )
        .await;
    let unknown = app
        .post(
            LOGIN,
            None,
            json!({"username": "nobody", "password": "not-her-password"}),
        )
        .await;
    assert_error(&wrong, 401, "UNAUTHORIZED", "wrong password");
    assert_error(&unknown, 401, "UNAUTHORIZED", "unknown user");
    let strip = |v: &Value| {
        let mut v = v.clone();
        v.as_object_mut().map(|o| o.remove("request_id"));
        v
    };
    assert_eq!(
        strip(&wrong.body),
        strip(&unknown.body),
        "a wrong password must be indistinguishable from an unknown user"
    );
}

#[tokio::test]
async fn login_accepts_the_username_in_any_case() {
    let app = spawn_app().await;
    let ada = app.user("ada", "developer").await;
    let reply = app
        .post(
            LOGIN,
            None,
            json!({"username": "AdA", "password": ada.password}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
}

// ---- refresh, reuse, logout ---------------------------------------------

#[tokio::test]
async fn refresh_returns_a_new_pair_that_works() {
    let app = spawn_app().await;
    let ada = app.user("ada", "developer").await;
    let reply = refresh(&app, &ada.refresh_token).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["token_type"], "bearer");
    assert_eq!(reply.body["expires_in"], 900);
    let access = reply.body["access_token"].as_str().unwrap_or_default();
    let rotated = reply.body["refresh_token"].as_str().unwrap_or_default();
    assert_ne!(rotated, ada.refresh_token, "the refresh token is rotated");
    let me = app.get(ME, Some(access)).await;
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(me.body["id"], ada.id.as_str());
    assert_eq!(
        refresh(&app, rotated).await.status,
        200,
        "the rotated refresh token works once"
    );
}

#[tokio::test]
async fn refresh_reuse_revokes_the_whole_family() {
    let app = spawn_app().await;
    let ada = app.user("ada", "developer").await;
    let second = refresh(&app, &ada.refresh_token).await;
    assert_eq!(second.status, 200, "{}", second.text);
    let newest = second.body["refresh_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    let replay = refresh(&app, &ada.refresh_token).await;
    assert_error(&replay, 401, "UNAUTHORIZED", "replayed refresh token");

    let after = refresh(&app, &newest).await;
    assert_error(
        &after,
        401,
        "UNAUTHORIZED",
        "the newest refresh token of a family whose older token was replayed",
    );
}

#[tokio::test]
async fn refresh_reuse_in_one_session_leaves_other_sessions_alone() {
    let app = spawn_app().await;
    let laptop = app.user("ada", "developer").await;
    let phone = app.login("ada", &laptop.password).await;
    assert_eq!(refresh(&app, &laptop.refresh_token).await.status, 200);
    assert_eq!(refresh(&app, &laptop.refresh_token).await.status, 401);
    let other = refresh(&app, &phone.refresh_token).await;
    assert_eq!(
        other.status, 200,
        "another login's family must survive: {}",
        other.text
    );
}

#[tokio::test]
async fn of_two_concurrent_refreshes_with_one_token_exactly_one_succeeds() {
    let app = spawn_app().await;
    let ada = app.user("ada", "developer").await;
    let (a, b) = tokio::join!(
        refresh(&app, &ada.refresh_token),
        refresh(&app, &ada.refresh_token)
    );
    let mut statuses = [a.status, b.status];
    statuses.sort_unstable();
    assert_eq!(
        statuses,
        [200, 401],
        "one use wins, the other is a reuse: {} / {}",
        a.text,
        b.text
    );
}

#[tokio::test]
async fn an_unknown_refresh_token_is_401() {
    let app = spawn_app().await;
    let reply = refresh(&app, "mcp_rt_never-issued").await;
    assert_error(&reply, 401, "UNAUTHORIZED", "unknown refresh token");
}

#[tokio::test]
async fn an_expired_refresh_token_is_401() {
    let app = spawn_app().await;
    let ada = app.user("ada", "developer").await;
    // Refresh tokens live days; an expired one is stored directly.
    let token = format!("mcp_rt_expired{}", Uuid::new_v4().simple());
    app.state
        .sessions
        .issue(
            &sha256_hex(&token),
            Uuid::new_v4(),
            Uuid::parse_str(&ada.id).expect("user id"),
            Utc::now() - Duration::seconds(1),
        )
        .await
        .expect("token stored");
    assert_error(
        &refresh(&app, &token).await,
        401,
        "UNAUTHORIZED",
        "expired refresh token",
    );
}

#[tokio::test]
async fn logout_revokes_the_refresh_family() {
    let app = spawn_app().await;
    let ada = app.user("ada", "developer").await;
    let second = refresh(&app, &ada.refresh_token).await;
    let newest = second.body["refresh_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let reply = app
        .post(
            LOGOUT,
            Some(&ada.access_token),
            json!({ "refresh_token": newest }),
        )
        .await;
    assert_eq!(reply.status, 204, "logout: {}", reply.text);
    let after = refresh(&app, &newest).await;
    assert_error(&after, 401, "UNAUTHORIZED", "refresh after logout");
}

#[tokio::test]
async fn logout_without_a_body_ends_the_session_of_the_access_token() {
    let app = spawn_app().await;
    let ada = app.user("ada", "developer").await;
    let other_session = app.login("ada", &ada.password).await;
    let reply = app
        .send("POST", LOGOUT, Some(&ada.access_token), None)
        .await;
    assert_eq!(reply.status, 204, "{}", reply.text);
    let after = refresh(&app, &ada.refresh_token).await;
    assert_error(
        &after,
        401,
        "UNAUTHORIZED",
        "the session's refresh token after logout",
    );
    let elsewhere = refresh(&app, &other_session.refresh_token).await;
    assert_eq!(
        elsewhere.status, 200,
        "another session of the same user stays: {}",
        elsewhere.text
    );
}

#[tokio::test]
async fn logout_with_another_users_refresh_token_is_401_and_revokes_nothing() {
    let app = spawn_app().await;
    let ada = app.user("ada", "developer").await;
    let bob = app.user("bob", "developer").await;
    let reply = app
        .post(
            LOGOUT,
            Some(&ada.access_token),
            json!({"refresh_token": bob.refresh_token}),
        )
        .await;
    assert_error(&reply, 401, "UNAUTHORIZED", "another user's refresh token");
    let unknown = app
        .post(
            LOGOUT,
            Some(&ada.access_token),
            json!({"refresh_token": "mcp_rt_never-issued"}),
        )
        .await;
    assert_error(&unknown, 401, "UNAUTHORIZED", "a token never issued");
    let bobs = refresh(&app, &bob.refresh_token).await;
    assert_eq!(
        bobs.status, 200,
        "bob's session is untouched: {}",
        bobs.text
    );
    let adas = refresh(&app, &ada.refresh_token).await;
    assert_eq!(adas.status, 200, "and so is ada's: {}", adas.text);
}

#[tokio::test]
async fn logout_with_an_api_key_and_no_body_names_the_refresh_token() {
    let app = spawn_app().await;
    let ada = app.user("ada", "developer").await;
    let key = app
        .post(
            "/api/v1/auth/api-keys",
            Some(&ada.access_token),
            json!({"name": "ci"}),
        )
        .await;
    assert_eq!(key.status, 201, "{}", key.text);
    let reply = app
        .send("POST", LOGOUT, key.body["key"].as_str(), None)
        .await;
    assert_eq!(reply.status, 422, "{}", reply.text);
    assert_eq!(
        mcp_platform_tests::error_locs(&reply),
        ["body.refresh_token"],
        "{}",
        reply.text
    );
}

#[tokio::test]
async fn me_describes_the_caller() {
    let app = spawn_app().await;
    let ada = app.user("ada", "developer").await;
    let me = app.get(ME, Some(&ada.access_token)).await;
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(me.body["id"], ada.id.as_str());
    assert_eq!(me.body["username"], "ada");
    assert_eq!(me.body["role"], "developer");
    assert!(me.body.get("password_hash").is_none());
    assert_error(
        &app.get(ME, None).await,
        401,
        "UNAUTHORIZED",
        "me without credentials",
    );
}

// ---- API keys -----------------------------------------------------------

async fn create_key(app: &TestApp, token: &str, body: Value) -> mcp_platform_tests::Reply {
    app.post(KEYS, Some(token), body).await
}

#[tokio::test]
async fn creating_an_api_key_shows_the_secret_once_with_the_mcp_live_prefix() {
    let app = spawn_app().await;
    let ada = app.user("ada", "developer").await;
    let expires = (Utc::now() + Duration::days(30)).to_rfc3339();
    let reply = create_key(
        &app,
        &ada.access_token,
        json!({"name": "ci", "expires_at": expires}),
    )
    .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    let key = reply.body["key"].as_str().unwrap_or_default().to_owned();
    assert!(key.starts_with("mcp_live_") && key.len() > 30, "key: {key}");
    for field in ["id", "name", "created_at", "expires_at"] {
        assert!(
            !reply.body[field].is_null(),
            "{field} is in the created key: {}",
            reply.text
        );
    }

    let list = app.get(KEYS, Some(&ada.access_token)).await;
    assert_eq!(list.status, 200, "{}", list.text);
    let items = list.body["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 1, "{}", list.text);
    assert_eq!(items[0]["id"], reply.body["id"]);
    for secret_field in ["key", "key_hash", "hash", "user_id"] {
        assert!(
            items[0].get(secret_field).is_none(),
            "the list must not show {secret_field}: {}",
            list.text
        );
    }
    assert!(
        !list.text.contains(&key) && !list.text.contains(&sha256_hex(&key)),
        "neither the key nor its hash may be listed: {}",
        list.text
    );
}

#[tokio::test]
async fn an_api_key_authenticates_via_x_api_key() {
    let app = spawn_app().await;
    let ada = app.user("ada", "developer").await;
    let created = create_key(&app, &ada.access_token, json!({"name": "ci"})).await;
    let key = created.body["key"].as_str().unwrap_or_default();
    let me = app
        .send_with_headers("GET", ME, &[("X-API-Key", key)], None)
        .await;
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(me.body["id"], ada.id.as_str());
    let tool = app
        .post(
            "/api/v1/mcps",
            Some(key),
            mcp_platform_tests::tool_body("keyed"),
        )
        .await;
    assert_eq!(
        tool.status, 201,
        "a developer's key carries the developer role: {}",
        tool.text
    );
    assert_eq!(tool.body["author_id"], ada.id.as_str());
}

#[tokio::test]
async fn a_revoked_api_key_is_401() {
    let app = spawn_app().await;
    let ada = app.user("ada", "developer").await;
    let created = create_key(&app, &ada.access_token, json!({"name": "ci"})).await;
    let key = created.body["key"].as_str().unwrap_or_default();
    let id = created.body["id"].as_str().unwrap_or_default();
    assert_eq!(app.get(ME, Some(key)).await.status, 200);
    let revoke = app
        .delete(&format!("{KEYS}/{id}"), Some(&ada.access_token))
        .await;
    assert_eq!(revoke.status, 204, "{}", revoke.text);
    assert_error(
        &app.get(ME, Some(key)).await,
        401,
        "UNAUTHORIZED",
        "revoked key",
    );
    let again = app
        .delete(&format!("{KEYS}/{id}"), Some(&ada.access_token))
        .await;
    assert_error(&again, 404, "NOT_FOUND", "revoking a revoked key");
    let listed = app.get(KEYS, Some(&ada.access_token)).await;
    assert!(
        !listed.body["items"][0]["revoked_at"].is_null(),
        "the list shows when a key was revoked: {}",
        listed.text
    );
}

#[tokio::test]
async fn an_expired_api_key_is_401() {
    let app = spawn_app().await;
    let ada = app.user("ada", "developer").await;
    // The API refuses past expiry dates, so the expired key is stored directly.
    let key = format!("mcp_live_expired{}", Uuid::new_v4().simple());
    let now = Utc::now();
    app.state
        .users
        .create_api_key(&ApiKey {
            id: Uuid::new_v4(),
            user_id: Uuid::parse_str(&ada.id).expect("user id"),
            name: "old".into(),
            prefix: key.chars().take(15).collect(),
            key_hash: sha256_hex(&key),
            created_at: now - Duration::days(2),
            expires_at: Some(now - Duration::seconds(1)),
            last_used_at: None,
            revoked_at: None,
        })
        .await
        .expect("key stored");
    assert_error(
        &app.get(ME, Some(&key)).await,
        401,
        "UNAUTHORIZED",
        "expired key",
    );
}

#[tokio::test]
async fn an_api_key_with_a_past_expiry_is_refused_with_422() {
    let app = spawn_app().await;
    let ada = app.user("ada", "developer").await;
    let past = (Utc::now() - Duration::minutes(1)).to_rfc3339();
    let reply = create_key(
        &app,
        &ada.access_token,
        json!({"name": "ci", "expires_at": past}),
    )
    .await;
    assert_error(&reply, 422, "VALIDATION_ERROR", "past expires_at");
    assert_eq!(error_locs(&reply), ["body.expires_at"]);
}

#[tokio::test]
async fn deleting_another_users_api_key_is_404_and_the_key_keeps_working() {
    let app = spawn_app().await;
    let ada = app.user("ada", "developer").await;
    let bob = app.user("bob", "developer").await;
    let root = app.admin("root").await;
    let created = create_key(&app, &ada.access_token, json!({"name": "ci"})).await;
    let key = created.body["key"].as_str().unwrap_or_default();
    let id = created.body["id"].as_str().unwrap_or_default();
    for (who, token) in [("bob", &bob.access_token), ("admin", &root.access_token)] {
        let reply = app.delete(&format!("{KEYS}/{id}"), Some(token)).await;
        assert_error(
            &reply,
            404,
            "NOT_FOUND",
            &format!("{who} deleting ada's key"),
        );
    }
    assert_eq!(
        app.get(ME, Some(key)).await.status,
        200,
        "ada's key must survive others' attempts to delete it"
    );
}

#[tokio::test]
async fn an_api_key_of_a_deactivated_user_is_401() {
    let app = spawn_app().await;
    let root = app.admin("root").await;
    let ada = app.user("ada", "developer").await;
    let created = create_key(&app, &ada.access_token, json!({"name": "ci"})).await;
    let key = created.body["key"].as_str().unwrap_or_default();
    let patch = app
        .patch(
            &format!("{USERS}/{}", ada.id),
            Some(&root.access_token),
            json!({"is_active": false}),
        )
        .await;
    assert_eq!(patch.status, 200, "{}", patch.text);
    assert_error(
        &app.get(ME, Some(key)).await,
        401,
        "UNAUTHORIZED",
        "key of a deactivated user",
    );
}

// ---- login rate limits --------------------------------------------------

fn assert_rate_limited(reply: &mcp_platform_tests::Reply, window: u64, context: &str) {
    assert_error(reply, 429, "RATE_LIMIT_EXCEEDED", context);
    let header: u64 = reply
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{context}: a numeric Retry-After header is required"));
    assert!(
        (1..=window).contains(&header),
        "{context}: Retry-After {header} must be within the window"
    );
    assert_eq!(
        reply.body["retry_after"], header,
        "{context}: body retry_after equals the header"
    );
}

#[tokio::test]
async fn login_is_limited_per_account_even_with_the_right_password() {
    let app = spawn_app_with(&[
        ("LOGIN_MAX_ATTEMPTS_PER_ACCOUNT", "3"),
        ("LOGIN_WINDOW_SECONDS", "600"),
    ])
    .await;
    app.register("ada", "developer").await;
    app.register("bob", "developer").await;
    for attempt in 1..=3 {
        let reply = app
            .post(
                LOGIN,
                None,
                json!({"username": "ada", "password": "wrong-guess"}),
            )
            .await;
        assert_eq!(reply.status, 401, "attempt {attempt}: {}", reply.text);
    }
    let fourth = app
        .post(
            LOGIN,
            None,
            json!({"username": "ada", "password": "pw-ada-long-enough"}),
        )
        .await;
    assert_rate_limited(&fourth, 600, "4th login attempt on one account");
    let other = app
        .post(
            LOGIN,
            None,
            json!({"username": "bob", "password": "pw-bob-long-enough"}),
        )
        .await;
    assert_eq!(
        other.status, 200,
        "another account is not limited: {}",
        other.text
    );
}

#[tokio::test]
async fn login_is_limited_per_ip_across_accounts() {
    let app = spawn_app_with(&[
        ("LOGIN_MAX_ATTEMPTS_PER_IP", "3"),
        ("LOGIN_WINDOW_SECONDS", "600"),
    ])
    .await;
    app.register("ada", "developer").await;
    for name in ["user1", "user2", "user3"] {
        let reply = app
            .post(
                LOGIN,
                None,
                json!({"username": name, "password": "spray-password"}),
            )
            .await;
        assert_eq!(reply.status, 401, "{name}: {}", reply.text);
    }
    let fourth = app
        .post(
            LOGIN,
            None,
            json!({"username": "ada", "password": "pw-ada-long-enough"}),
        )
        .await;
    assert_rate_limited(&fourth, 600, "4th login attempt from one address");
}

#[tokio::test]
async fn the_account_limit_ignores_the_case_of_the_username() {
    let app = spawn_app_with(&[("LOGIN_MAX_ATTEMPTS_PER_ACCOUNT", "3")]).await;
    app.register("ada", "developer").await;
    for name in ["ada", "ADA", "Ada"] {
        let reply = app
            .post(
                LOGIN,
                None,
                json!({"username": name, "password": "wrong-guess"}),
            )
            .await;
        assert_eq!(reply.status, 401, "{name}: {}", reply.text);
    }
    let fourth = app
        .post(
            LOGIN,
            None,
            json!({"username": "aDa", "password": "pw-ada-long-enough"}),
        )
        .await;
    assert_rate_limited(&fourth, 300, "4th attempt on one account in another case");
}

#[tokio::test]
async fn a_forged_x_forwarded_for_does_not_escape_the_ip_limit() {
    let app = spawn_app_with(&[("LOGIN_MAX_ATTEMPTS_PER_IP", "3")]).await;
    for n in 1..=4 {
        let forwarded = format!("203.0.113.{n}");
        let reply = app
            .send_with_headers(
                "POST",
                LOGIN,
                &[("X-Forwarded-For", &forwarded)],
                Some(
                    json!({"username": format!("user{n}"), "password": "spray-password"})
                        .to_string()
                        .into_bytes(),
                ),
            )
            .await;
        let expected = if n <= 3 { 401 } else { 429 };
        assert_eq!(
            reply.status, expected,
            "attempt {n} from a spoofed {forwarded} (no trusted proxy): {}",
            reply.text
        );
    }
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_ip_limit_is_per_forwarded_address() {
    let app = spawn_app_with(&[
        ("LOGIN_MAX_ATTEMPTS_PER_IP", "3"),
        ("TRUST_PROXY_HEADERS", "true"),
    ])
    .await;
    let attempt = |forwarded: &'static str, n: usize| {
        let app = &app;
        async move {
            app.send_with_headers(
                "POST",
                LOGIN,
                &[("X-Forwarded-For", forwarded)],
                Some(
                    json!({"username": format!("user{n}"), "password": "spray-password"})
                        .to_string()
                        .into_bytes(),
                ),
            )
            .await
        }
    };
    for n in 1..=3 {
        assert_eq!(attempt("203.0.113.1", n).await.status, 401);
    }
    assert_rate_limited(
        &attempt("203.0.113.1", 4).await,
        300,
        "4th attempt from one forwarded address",
    );
    let other = attempt("198.51.100.7", 5).await;
    assert_eq!(
        other.status, 401,
        "another client behind the proxy has its own budget: {}",
        other.text
    );
}

/// A client behind the proxy controls the start of `X-Forwarded-For`; the
/// proxy appends the address it saw. Only that last hop can be trusted.
#[tokio::test]
async fn behind_a_trusted_proxy_a_prepended_forwarded_address_does_not_escape_the_ip_limit() {
    let app = spawn_app_with(&[
        ("LOGIN_MAX_ATTEMPTS_PER_IP", "3"),
        ("TRUST_PROXY_HEADERS", "true"),
    ])
    .await;
    for n in 1..=4 {
        // What the proxy forwards when the client at 203.0.113.1 sends its own
        // `X-Forwarded-For: 198.51.100.{n}`.
        let forwarded = format!("198.51.100.{n}, 203.0.113.1");
        let reply = app
            .send_with_headers(
                "POST",
                LOGIN,
                &[("X-Forwarded-For", &forwarded)],
                Some(
                    json!({"username": format!("user{n}"), "password": "spray-password"})
                        .to_string()
                        .into_bytes(),
                ),
            )
            .await;
        let expected = if n <= 3 { 401 } else { 429 };
        assert_eq!(
            reply.status, expected,
            "attempt {n} with X-Forwarded-For {forwarded}: the limit must follow the proxy-added hop: {}",
            reply.text
        );
    }
}

// ---- admin user management ----------------------------------------------

#[tokio::test]
async fn admin_lists_users_page_by_page_without_secrets() {
    let app = spawn_app().await;
    let root = app.admin("root").await;
    for name in ["ada", "bob", "cyd"] {
        let reply = app.register(name, "developer").await;
        assert_eq!(reply.status, 201, "register {name}: {}", reply.text);
    }
    let mut seen = Vec::new();
    for page in 1..=2 {
        let reply = app
            .get(
                &format!("{USERS}?page={page}&page_size=3"),
                Some(&root.access_token),
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        assert_eq!(reply.body["total"], 4);
        assert_eq!(reply.body["pages"], 2);
        assert_eq!(reply.body["page"], page);
        assert_eq!(reply.body["page_size"], 3);
        assert!(
            !reply.text.contains("password") && !reply.text.contains("argon2"),
            "{}",
            reply.text
        );
        for item in reply.body["items"].as_array().cloned().unwrap_or_default() {
            seen.push(item["username"].as_str().unwrap_or_default().to_owned());
        }
    }
    seen.sort();
    assert_eq!(
        seen,
        ["ada", "bob", "cyd", "root"],
        "pages together hold every user"
    );
}

#[tokio::test]
async fn admin_creates_a_user_of_any_role_who_can_then_log_in() {
    let app = spawn_app().await;
    let root = app.admin("root").await;
    let reply = app
        .post(
            USERS,
            Some(&root.access_token),
            json!({"username": "second", "email": "second@example.com", "password": "second-admin-pw", "role": "admin"}),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    assert_eq!(reply.body["role"], "admin");
    assert!(reply.body.get("password_hash").is_none());
    let second = app.login("second", "second-admin-pw").await;
    let list = app.get(USERS, Some(&second.access_token)).await;
    assert_eq!(
        list.status, 200,
        "the new admin manages users: {}",
        list.text
    );
    let dup = app
        .post(
            USERS,
            Some(&root.access_token),
            json!({"username": "second", "email": "x@example.com", "password": "second-admin-pw", "role": "viewer"}),
        )
        .await;
    assert_error(&dup, 409, "CONFLICT", "admin creating a taken username");
}

#[tokio::test]
async fn a_role_change_takes_effect_with_the_next_token() {
    let app = spawn_app().await;
    let root = app.admin("root").await;
    let ada = app.user("ada", "developer").await;
    let patch = app
        .patch(
            &format!("{USERS}/{}", ada.id),
            Some(&root.access_token),
            json!({"role": "viewer"}),
        )
        .await;
    assert_eq!(patch.status, 200, "{}", patch.text);
    assert_eq!(patch.body["role"], "viewer");
    let renewed = refresh(&app, &ada.refresh_token).await;
    let access = renewed.body["access_token"].as_str().unwrap_or_default();
    let create = app
        .post(
            "/api/v1/mcps",
            Some(access),
            mcp_platform_tests::tool_body("x"),
        )
        .await;
    assert_error(
        &create,
        403,
        "FORBIDDEN",
        "a demoted developer creating a tool",
    );
    assert_eq!(create.body["required_permission"], "tools:write");
}

#[tokio::test]
async fn a_deactivated_user_can_neither_log_in_nor_refresh() {
    let app = spawn_app().await;
    let root = app.admin("root").await;
    let ada = app.user("ada", "developer").await;
    let patch = app
        .patch(
            &format!("{USERS}/{}", ada.id),
            Some(&root.access_token),
            json!({"is_active": false}),
        )
        .await;
    assert_eq!(patch.status, 200, "{}", patch.text);
    assert_eq!(patch.body["is_active"], false);
    let login = app
        .post(
            LOGIN,
            None,
            json!({"username": "ada", "password": ada.password}),
        )
        .await;
    assert_error(&login, 401, "UNAUTHORIZED", "login of a deactivated user");
    assert_error(
        &refresh(&app, &ada.refresh_token).await,
        401,
        "UNAUTHORIZED",
        "refresh of a deactivated user",
    );
}

#[tokio::test]
async fn an_admin_cannot_demote_or_deactivate_themselves() {
    let app = spawn_app().await;
    let root = app.admin("root").await;
    let path = format!("{USERS}/{}", root.id);
    for body in [json!({"role": "developer"}), json!({"is_active": false})] {
        let reply = app
            .patch(&path, Some(&root.access_token), body.clone())
            .await;
        assert_error(&reply, 409, "CONFLICT", &format!("admin self-patch {body}"));
    }
    let me = app.get(ME, Some(&root.access_token)).await;
    assert_eq!(me.body["role"], "admin");
    assert_eq!(me.body["is_active"], true);
}

#[tokio::test]
async fn patching_an_unknown_user_is_404() {
    let app = spawn_app().await;
    let root = app.admin("root").await;
    let reply = app
        .patch(
            &format!("{USERS}/{}", Uuid::new_v4()),
            Some(&root.access_token),
            json!({"role": "viewer"}),
        )
        .await;
    assert_error(&reply, 404, "NOT_FOUND", "patch unknown user");
    assert_eq!(reply.body["resource_type"], "user");
}

// ---- the command line -----------------------------------------------------

/// Runs `mcp-platform admin create-user … --password-stdin` in a clean
/// environment (no inherited SECRET_KEY/DATABASE_URL, no `.env` in its
/// working directory) against `data_dir`: the embedded SQLite file there.
fn cli_create_user(
    data_dir: &std::path::Path,
    args: &[&str],
    password: &str,
) -> std::process::Output {
    let mut child = Command::new(platform_binary())
        .args(["admin", "create-user"])
        .args(args)
        .arg("--password-stdin")
        .arg("--data-dir")
        .arg(data_dir)
        .current_dir(data_dir)
        .env_clear()
        .env("LOG_LEVEL", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mcp-platform starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{password}\n").as_bytes())
        .expect("password written");
    child.wait_with_output().expect("mcp-platform finishes")
}

#[tokio::test]
async fn the_cli_creates_an_admin_who_can_log_in_to_the_platform() {
    let dir = tempdir::TempDir::new();
    let out = cli_create_user(
        &dir.0,
        &[
            "--username",
            "root",
            "--email",
            "root@example.com",
            "--role",
            "admin",
        ],
        "a-root-password-from-stdin",
    );
    assert!(
        out.status.success(),
        "create-user failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("a-root-password"),
        "the CLI must not print the password"
    );

    // The CLI used the embedded SQLite file of its data directory; the app
    // must read that same file even when the suite runs on real servers.
    let database_url = format!("sqlite://{}", dir.0.join("mcp-platform.db").display());
    let app = spawn_app_in(dir, &[("DATABASE_URL", &database_url)]).await;
    let root = app.login("root", "a-root-password-from-stdin").await;
    let me = app.get(ME, Some(&root.access_token)).await;
    assert_eq!(me.body["role"], "admin", "{}", me.text);
    let users = app.get(USERS, Some(&root.access_token)).await;
    assert_eq!(
        users.status, 200,
        "the CLI admin manages users: {}",
        users.text
    );
}

#[test]
fn the_cli_refuses_a_short_password_naming_the_field() {
    let dir = tempdir::TempDir::new();
    let out = cli_create_user(
        &dir.0,
        &["--username", "root", "--email", "root@example.com"],
        "short",
    );
    assert!(
        !out.status.success(),
        "a 5-character password must be refused"
    );
    // Structured log lines may precede it; the last line is for the operator.
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error: ") && last.contains("password"),
        "the last line names the password: {stderr}"
    );
}
