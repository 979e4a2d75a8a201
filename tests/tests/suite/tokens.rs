//! Access tokens, black-box (SPEC §5.6): the claims of a real token, and a
//! table of expired, tampered, wrong-algorithm and malformed credentials that
//! must all be 401. The app runs with a known `SECRET_KEY` so tokens can be
//! forged with the very key it signs with; a forged token that is otherwise
//! valid is accepted (the control case), so each refusal is for its one flaw.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::Utc;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use mcp_platform_tests::{assert_error, spawn_app, spawn_app_with, TestApp, TestUser};
use serde_json::{json, Map, Value};

const SECRET: &str = "test-secret-0123456789abcdef0123456789abcdef";
const ME: &str = "/api/v1/auth/me";

async fn app_with_known_secret() -> TestApp {
    spawn_app_with(&[("SECRET_KEY", SECRET)]).await
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

/// The claims the platform itself would issue for `user`, valid for 10 minutes.
fn valid_claims(user: &TestUser, role: &str) -> Map<String, Value> {
    let now = Utc::now().timestamp();
    json!({
        "sub": user.id,
        "role": role,
        "iat": now,
        "exp": now + 600,
        "iss": "mcp-platform",
        "aud": "mcp-platform-api",
        "jti": uuid::Uuid::new_v4().to_string(),
    })
    .as_object()
    .cloned()
    .unwrap_or_default()
}

fn sign(alg: Algorithm, claims: &Map<String, Value>, secret: &str) -> String {
    encode(
        &Header::new(alg),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("token signs")
}

/// A token whose header says `header` but whose signature is HS256 with the
/// real secret: what an attacker builds for algorithm-confusion attacks.
fn hs256_signed_with_header(header: &Value, claims: &Map<String, Value>) -> String {
    let message = format!("{}.{}", b64(header), b64(&Value::Object(claims.clone())));
    let signature = jsonwebtoken::crypto::sign(
        message.as_bytes(),
        &EncodingKey::from_secret(SECRET.as_bytes()),
        Algorithm::HS256,
    )
    .expect("hmac signs");
    format!("{message}.{signature}")
}

fn without(claims: &Map<String, Value>, name: &str) -> Map<String, Value> {
    let mut c = claims.clone();
    c.remove(name);
    c
}

fn with(claims: &Map<String, Value>, name: &str, value: Value) -> Map<String, Value> {
    let mut c = claims.clone();
    c.insert(name.to_owned(), value);
    c
}

/// The payload of a JWT, decoded without verification.
fn payload(token: &str) -> Value {
    let part = token.split('.').nth(1).expect("a JWT has a payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url payload"))
        .expect("JSON payload")
}

#[tokio::test]
async fn a_real_token_carries_user_id_role_issuer_audience_and_a_900_second_lifetime() {
    let app = spawn_app().await;
    let ada = app.user("ada", "developer").await;
    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(ada.access_token.split('.').next().unwrap_or_default())
            .expect("base64url header"),
    )
    .expect("JSON header");
    assert_eq!(header["alg"], "HS256", "{header}");
    let claims = payload(&ada.access_token);
    assert_eq!(claims["sub"], ada.id.as_str(), "{claims}");
    assert_eq!(claims["role"], "developer");
    assert_eq!(claims["iss"], "mcp-platform");
    assert_eq!(claims["aud"], "mcp-platform-api");
    let iat = claims["iat"].as_i64().expect("iat");
    let exp = claims["exp"].as_i64().expect("exp");
    assert_eq!(exp - iat, 900, "access tokens live 15 minutes");
    assert!(
        (iat - Utc::now().timestamp()).abs() < 60,
        "iat is the time of issue"
    );
    assert!(claims["jti"].is_string(), "{claims}");
    let again = app.login("ada", &ada.password).await;
    assert_ne!(
        payload(&again.access_token)["jti"],
        claims["jti"],
        "every token has its own jti"
    );
}

#[tokio::test]
async fn an_admin_token_says_admin() {
    let app = spawn_app().await;
    let root = app.admin("root").await;
    assert_eq!(payload(&root.access_token)["role"], "admin");
    let vera = app.user("vera", "viewer").await;
    assert_eq!(payload(&vera.access_token)["role"], "viewer");
}

#[tokio::test]
async fn a_token_forged_with_the_right_secret_and_claims_is_accepted() {
    // The control case of the table below: the forging helpers make tokens
    // the platform accepts, so each refusal there is for its one flaw.
    let app = app_with_known_secret().await;
    let ada = app.user("ada", "developer").await;
    let token = sign(Algorithm::HS256, &valid_claims(&ada, "developer"), SECRET);
    let me = app.get(ME, Some(&token)).await;
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(me.body["id"], ada.id.as_str());
    // Clocks differ a little: a few seconds ahead is within the leeway.
    let skewed = with(
        &with(
            &valid_claims(&ada, "developer"),
            "iat",
            json!(Utc::now().timestamp() + 3),
        ),
        "nbf",
        json!(Utc::now().timestamp() + 3),
    );
    let skewed = sign(Algorithm::HS256, &skewed, SECRET);
    assert_eq!(
        app.get(ME, Some(&skewed)).await.status,
        200,
        "within the leeway"
    );
    let lower = app
        .send_with_headers(
            "GET",
            ME,
            &[("Authorization", &format!("bearer {token}"))],
            None,
        )
        .await;
    assert_eq!(
        lower.status, 200,
        "the scheme is case-insensitive: {}",
        lower.text
    );
}

#[tokio::test]
async fn tampered_expired_and_wrong_algorithm_tokens_are_401() {
    let app = app_with_known_secret().await;
    let ada = app.user("ada", "developer").await;
    let good = valid_claims(&ada, "developer");
    let now = Utc::now().timestamp();

    // A real token with its payload swapped for an admin one, signature kept.
    let real = ada.access_token.clone();
    let parts: Vec<&str> = real.split('.').collect();
    let escalated = with(&good, "role", json!("admin"));
    let swapped_payload = format!(
        "{}.{}.{}",
        parts[0],
        b64(&Value::Object(escalated.clone())),
        parts[2]
    );
    let mut flipped_signature = real.clone();
    let last = flipped_signature.pop().unwrap_or('A');
    flipped_signature.push(if last == 'A' { 'B' } else { 'A' });

    let none_header = |alg: &str| json!({"alg": alg, "typ": "JWT"});
    let unsigned = |alg: &str| {
        format!(
            "{}.{}.",
            b64(&none_header(alg)),
            b64(&Value::Object(escalated.clone()))
        )
    };

    let cases: Vec<(&str, String)> = vec![
        (
            "expired an hour ago",
            sign(
                Algorithm::HS256,
                &with(
                    &with(&good, "exp", json!(now - 3600)),
                    "iat",
                    json!(now - 4500),
                ),
                SECRET,
            ),
        ),
        (
            "not valid before two minutes from now (nbf)",
            sign(
                Algorithm::HS256,
                &with(&good, "nbf", json!(now + 120)),
                SECRET,
            ),
        ),
        (
            "issued two minutes in the future (iat)",
            sign(
                Algorithm::HS256,
                &with(&good, "iat", json!(now + 120)),
                SECRET,
            ),
        ),
        (
            "signed with another secret",
            sign(
                Algorithm::HS256,
                &good,
                "another-secret-0123456789abcdef0123456789",
            ),
        ),
        ("payload swapped, signature kept", swapped_payload),
        ("signature altered", flipped_signature),
        ("alg none, empty signature", unsigned("none")),
        ("alg None, empty signature", unsigned("None")),
        ("alg NONE, empty signature", unsigned("NONE")),
        (
            "alg none with a valid HS256 signature",
            hs256_signed_with_header(&none_header("none"), &good),
        ),
        (
            "HS512 with the right secret",
            sign(Algorithm::HS512, &good, SECRET),
        ),
        (
            "HS384 with the right secret",
            sign(Algorithm::HS384, &good, SECRET),
        ),
        (
            "RS256 header, HMAC signature (alg confusion)",
            hs256_signed_with_header(&json!({"alg": "RS256", "typ": "JWT"}), &good),
        ),
        (
            "ES256 header, HMAC signature",
            hs256_signed_with_header(&json!({"alg": "ES256", "typ": "JWT"}), &good),
        ),
        (
            "wrong audience",
            sign(
                Algorithm::HS256,
                &with(&good, "aud", json!("someone-else")),
                SECRET,
            ),
        ),
        (
            "wrong issuer",
            sign(
                Algorithm::HS256,
                &with(&good, "iss", json!("evil-issuer")),
                SECRET,
            ),
        ),
        (
            "missing sub",
            sign(Algorithm::HS256, &without(&good, "sub"), SECRET),
        ),
        (
            "missing role",
            sign(Algorithm::HS256, &without(&good, "role"), SECRET),
        ),
        (
            "missing exp",
            sign(Algorithm::HS256, &without(&good, "exp"), SECRET),
        ),
        (
            "missing iat",
            sign(Algorithm::HS256, &without(&good, "iat"), SECRET),
        ),
        (
            "missing iss",
            sign(Algorithm::HS256, &without(&good, "iss"), SECRET),
        ),
        (
            "missing aud",
            sign(Algorithm::HS256, &without(&good, "aud"), SECRET),
        ),
        (
            "missing jti",
            sign(Algorithm::HS256, &without(&good, "jti"), SECRET),
        ),
        (
            "sub not a UUID",
            sign(Algorithm::HS256, &with(&good, "sub", json!("ada")), SECRET),
        ),
        (
            "unknown role",
            sign(
                Algorithm::HS256,
                &with(&good, "role", json!("superuser")),
                SECRET,
            ),
        ),
        (
            "exp as a string",
            sign(
                Algorithm::HS256,
                &with(&good, "exp", json!("tomorrow")),
                SECRET,
            ),
        ),
        ("the refresh token", ada.refresh_token.clone()),
        ("garbage", "garbage".into()),
        ("three empty parts", "..".into()),
        ("three junk parts", "a.b.c".into()),
        ("header only", parts[0].to_owned()),
        ("two parts", format!("{}.{}", parts[0], parts[1])),
        ("four parts", format!("{real}.{}", parts[2])),
        (
            "non-base64 characters",
            format!("{}.{}!.{}", parts[0], parts[1], parts[2]),
        ),
        ("very long", "x".repeat(8000)),
    ];

    let mut failures = Vec::new();
    for (name, token) in &cases {
        let reply = app
            .send_with_headers(
                "GET",
                ME,
                &[("Authorization", &format!("Bearer {token}"))],
                None,
            )
            .await;
        if reply.status != 401 || reply.body["error_code"] != "UNAUTHORIZED" {
            failures.push(format!("{name}: got {} {}", reply.status, reply.text));
        }
    }
    assert!(
        failures.is_empty(),
        "these tokens must be 401 UNAUTHORIZED:\n{}",
        failures.join("\n")
    );
}

#[tokio::test]
async fn credentials_in_the_wrong_place_or_scheme_are_401() {
    let app = spawn_app().await;
    let ada = app.user("ada", "developer").await;
    let token = ada.access_token.as_str();
    let cases: Vec<(&str, Vec<(&str, String)>)> = vec![
        ("no header at all", vec![]),
        ("empty bearer", vec![("Authorization", "Bearer ".into())]),
        ("bare scheme", vec![("Authorization", "Bearer".into())]),
        ("empty header", vec![("Authorization", String::new())]),
        (
            "Basic scheme",
            vec![("Authorization", format!("Basic {token}"))],
        ),
        (
            "Token scheme",
            vec![("Authorization", format!("Token {token}"))],
        ),
        ("no scheme", vec![("Authorization", token.to_owned())]),
        (
            "scheme glued to token",
            vec![("Authorization", format!("Bearer{token}"))],
        ),
        (
            "access token as an API key",
            vec![("X-API-Key", token.to_owned())],
        ),
        (
            "unknown API key",
            vec![("X-API-Key", "mcp_live_not-a-real-key".into())],
        ),
        ("empty API key", vec![("X-API-Key", String::new())]),
    ];
    let mut failures = Vec::new();
    for (name, headers) in &cases {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let reply = app.send_with_headers("GET", ME, &headers, None).await;
        if reply.status != 401 || reply.body["error_code"] != "UNAUTHORIZED" {
            failures.push(format!("{name}: got {} {}", reply.status, reply.text));
        }
    }
    assert!(
        failures.is_empty(),
        "these credentials must be 401 UNAUTHORIZED:\n{}",
        failures.join("\n")
    );
}

#[tokio::test]
async fn an_api_key_sent_as_a_bearer_token_is_401() {
    let app = spawn_app().await;
    let ada = app.user("ada", "developer").await;
    let created = app
        .post(
            "/api/v1/auth/api-keys",
            Some(&ada.access_token),
            json!({"name": "ci"}),
        )
        .await;
    let key = created.body["key"].as_str().unwrap_or_default();
    let reply = app
        .send_with_headers(
            "GET",
            ME,
            &[("Authorization", &format!("Bearer {key}"))],
            None,
        )
        .await;
    assert_error(
        &reply,
        401,
        "UNAUTHORIZED",
        "API key in the Authorization header",
    );
}

#[tokio::test]
async fn a_401_is_the_error_envelope() {
    let app = spawn_app().await;
    let reply = app
        .send_with_headers("GET", ME, &[("Authorization", "Bearer nope")], None)
        .await;
    assert_error(&reply, 401, "UNAUTHORIZED", "bad token");
    assert!(
        !reply.text.contains("InvalidToken") && !reply.text.contains("Error("),
        "no library internals in the body: {}",
        reply.text
    );
}

#[tokio::test]
async fn a_401_names_the_bearer_scheme_in_www_authenticate() {
    let app = spawn_app().await;
    for (name, headers) in [
        ("no credentials", vec![]),
        ("bad token", vec![("Authorization", "Bearer nope")]),
        ("bad API key", vec![("X-API-Key", "mcp_live_nope")]),
    ] {
        let reply = app.send_with_headers("GET", ME, &headers, None).await;
        assert_error(&reply, 401, "UNAUTHORIZED", name);
        assert_eq!(
            reply.header("www-authenticate"),
            Some("Bearer"),
            "{name}: a 401 carries WWW-Authenticate"
        );
    }
}

#[tokio::test]
async fn a_token_of_one_installation_is_refused_by_another() {
    let first = spawn_app().await;
    let second = spawn_app().await;
    let ada = first.user("ada", "developer").await;
    let reply = second.get(ME, Some(&ada.access_token)).await;
    assert_error(
        &reply,
        401,
        "UNAUTHORIZED",
        "token from another data directory",
    );
}

#[cfg(unix)]
#[tokio::test]
async fn the_generated_secret_is_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let app = spawn_app().await;
    let path = app.data_dir().join("jwt-secret");
    let meta = std::fs::metadata(&path).expect("the embedded secret file exists");
    assert_eq!(
        meta.permissions().mode() & 0o777,
        0o600,
        "{} must be private to its owner",
        path.display()
    );
    let secret = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        secret.trim().len() >= 32,
        "the generated secret has at least 32 bytes"
    );
    let ada = app.user("ada", "developer").await;
    let forged = sign(
        Algorithm::HS256,
        &valid_claims(&ada, "developer"),
        secret.trim(),
    );
    assert_eq!(
        app.get(ME, Some(&forged)).await.status,
        200,
        "the file holds the key the platform signs with"
    );
}
