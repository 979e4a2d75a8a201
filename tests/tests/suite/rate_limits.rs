//! Request rate limits per caller and route group (SPEC §5 item 13).

use mcp_platform_tests::spawn_app_with;

#[tokio::test]
async fn a_caller_over_the_group_limit_gets_429_with_retry_after_and_others_are_unaffected() {
    // Registration and login (the `auth` group) stay under the default limit.
    let app = spawn_app_with(&[
        ("RATE_LIMIT_GROUPS", "mcps=3"),
        ("RATE_LIMIT_WINDOW_SECONDS", "60"),
    ])
    .await;
    let ada = app.user("ada", "developer").await;
    let bob = app.user("bob", "developer").await;

    for n in 1..=3 {
        let reply = app.get("/api/v1/mcps", Some(&ada.access_token)).await;
        assert_eq!(
            reply.status, 200,
            "request {n} is within the limit: {}",
            reply.text
        );
        assert_eq!(reply.header("x-ratelimit-limit"), Some("3"));
        assert_eq!(
            reply.header("x-ratelimit-remaining"),
            Some((3 - n).to_string().as_str())
        );
    }
    let limited = app.get("/api/v1/mcps", Some(&ada.access_token)).await;
    assert_eq!(limited.status, 429, "{}", limited.text);
    assert_eq!(limited.body["error_code"], "RATE_LIMIT_EXCEEDED");
    let retry_after: u64 = limited
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .expect("a numeric Retry-After header");
    assert!(
        (1..=60).contains(&retry_after),
        "Retry-After {retry_after} within the window"
    );
    assert_eq!(
        limited.body["retry_after"], retry_after,
        "body and header agree"
    );

    let other_user = app.get("/api/v1/mcps", Some(&bob.access_token)).await;
    assert_eq!(
        other_user.status, 200,
        "limits are per caller: {}",
        other_user.text
    );
    let other_group = app.get("/api/v1/auth/me", Some(&ada.access_token)).await;
    assert_eq!(
        other_group.status, 200,
        "limits are per route group: {}",
        other_group.text
    );
    assert_eq!(
        app.get("/health", None).await.status,
        200,
        "operations routes are not limited"
    );
}

#[tokio::test]
async fn a_forged_token_does_not_spend_another_users_quota() {
    let app = spawn_app_with(&[("RATE_LIMIT_GROUPS", "mcps=2")]).await;
    let ada = app.user("ada", "developer").await;
    // Same claims, broken signature: counted by address, not as ada.
    let forged = format!("{}x", ada.access_token);
    for _ in 0..3 {
        app.get("/api/v1/mcps", Some(&forged)).await;
    }
    let reply = app.get("/api/v1/mcps", Some(&ada.access_token)).await;
    assert_eq!(reply.status, 200, "ada keeps her quota: {}", reply.text);
}

#[tokio::test]
async fn group_overrides_apply_to_their_group_only() {
    let app = spawn_app_with(&[
        ("RATE_LIMIT_REQUESTS", "100"),
        ("RATE_LIMIT_GROUPS", "mcps=1"),
    ])
    .await;
    let ada = app.user("ada", "developer").await;
    assert_eq!(
        app.get("/api/v1/mcps", Some(&ada.access_token))
            .await
            .status,
        200
    );
    assert_eq!(
        app.get("/api/v1/mcps", Some(&ada.access_token))
            .await
            .status,
        429
    );
    assert_eq!(
        app.get("/api/v1/auth/me", Some(&ada.access_token))
            .await
            .status,
        200
    );
}
