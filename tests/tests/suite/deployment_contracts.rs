//! The `DeploymentStore` contract, on SQLite always and on MySQL/MariaDB
//! when `MCP_TEST_MYSQL_URL` is set (the fixtures are the other SQL
//! contracts'). What the gateway relies on: one deployment per tool that is
//! not stopped, a stop that wins over late status reports, newest-first
//! pages, and usage totals that count what was inserted.

use std::time::Duration;

use mcp_platform::domain::{ChangeType, Deployment, DeploymentStatus, HealthStatus, UsageRow};
use mcp_platform::error::Error;
use mcp_platform::ports::{DeploymentFilter, DeploymentStore, ToolRepo, UserRepo};
use uuid::Uuid;

use super::contracts::{page, record, sql_stores, tool, user};

/// A deployment row of `tool` by `owner`, deployed `minutes_ago`.
pub(crate) fn deployment(
    tool: &mcp_platform::domain::Tool,
    owner: Uuid,
    minutes_ago: i64,
) -> Deployment {
    let at = mcp_platform::domain::now() - chrono::Duration::minutes(minutes_ago);
    Deployment {
        id: Uuid::new_v4(),
        tool_id: tool.id,
        tool_slug: tool.slug.to_string(),
        tool_version: tool.version.to_string(),
        owner_id: owner,
        status: DeploymentStatus::Starting,
        health_status: HealthStatus::Unknown,
        last_health_check: None,
        public: false,
        config: serde_json::json!({"env": {"K": "v"}, "replicas": 1}),
        endpoint_url: format!("http://127.0.0.1:8000/mcp/{}", tool.slug),
        last_error: None,
        deployed_at: at,
        stopped_at: None,
        updated_at: at,
    }
}

fn usage(d: &Deployment, ok: bool, micros: u64) -> UsageRow {
    UsageRow {
        tool_id: d.tool_id,
        deployment_id: d.id,
        user_id: Some(d.owner_id),
        method: "tools/call".into(),
        ok,
        latency: Duration::from_micros(micros),
        at: mcp_platform::domain::now(),
    }
}

async fn deployment_store_contract(
    name: &str,
    store: &dyn DeploymentStore,
    tools: &dyn ToolRepo,
    users: &dyn UserRepo,
) {
    let owner = user(&format!("dep{}", &Uuid::new_v4().simple().to_string()[..6]));
    let other = user(&format!("oth{}", &Uuid::new_v4().simple().to_string()[..6]));
    users.create(&owner).await.expect("owner stored");
    users.create(&other).await.expect("other stored");
    let alpha = tool(owner.id, "dep-alpha", &[]);
    let beta = tool(other.id, "dep-beta", &[]);
    for t in [&alpha, &beta] {
        tools
            .insert(t, &record(t, ChangeType::Create))
            .await
            .expect("tool stored");
    }

    let first = deployment(&alpha, owner.id, 10);
    store.insert_deployment(&first).await.expect("insert");
    assert_eq!(
        store.find_deployment(first.id).await.expect("find"),
        Some(first.clone()),
        "{name}: a deployment reads back equal"
    );
    assert_eq!(
        store
            .find_active_deployment_by_slug("dep-alpha")
            .await
            .expect("by slug")
            .map(|d| d.id),
        Some(first.id),
        "{name}: the active deployment is found by slug"
    );
    assert!(
        matches!(
            store
                .insert_deployment(&deployment(&alpha, owner.id, 5))
                .await,
            Err(Error::Conflict { .. })
        ),
        "{name}: a second active deployment of one tool is a conflict"
    );

    assert!(
        store
            .set_deployment_status(first.id, DeploymentStatus::Failed, Some("exit status 1"))
            .await
            .expect("status"),
        "{name}: a live deployment takes a status"
    );
    store
        .set_deployment_health(first.id, HealthStatus::Unhealthy)
        .await
        .expect("health");
    let failed = store
        .find_deployment(first.id)
        .await
        .expect("find")
        .expect("exists");
    assert_eq!(
        (
            failed.status,
            failed.health_status,
            failed.last_error.as_deref()
        ),
        (
            DeploymentStatus::Failed,
            HealthStatus::Unhealthy,
            Some("exit status 1")
        ),
        "{name}: status, health and error are stored"
    );
    assert!(
        failed.last_health_check.is_some(),
        "{name}: a health check is stamped"
    );

    assert!(
        store.stop_deployment(first.id).await.expect("stop"),
        "{name}: stop"
    );
    assert!(
        !store.stop_deployment(first.id).await.expect("stop again"),
        "{name}: a second stop changes nothing"
    );
    assert!(
        !store
            .set_deployment_status(first.id, DeploymentStatus::Running, None)
            .await
            .expect("late report"),
        "{name}: a stop wins over a late status report"
    );
    let stopped = store
        .find_deployment(first.id)
        .await
        .expect("find")
        .expect("exists");
    assert_eq!(stopped.status, DeploymentStatus::Stopped, "{name}: stopped");
    assert!(stopped.stopped_at.is_some(), "{name}: stop is stamped");
    assert_eq!(
        store
            .find_active_deployment_by_slug("dep-alpha")
            .await
            .expect("by slug"),
        None,
        "{name}: a stopped deployment is not active"
    );

    assert_eq!(
        store
            .latest_deployment_by_slug("dep-alpha")
            .await
            .expect("latest")
            .map(|d| (d.id, d.status)),
        Some((first.id, DeploymentStatus::Stopped)),
        "{name}: the newest deployment of a slug, stopped or not"
    );
    assert_eq!(
        store
            .latest_deployment_by_slug("never")
            .await
            .expect("none"),
        None,
        "{name}: a slug never deployed"
    );

    // The tool is free again; the new deployment is the newest.
    let second = deployment(&alpha, owner.id, 1);
    store
        .insert_deployment(&second)
        .await
        .expect("a stopped deployment frees its tool");
    assert_eq!(
        store
            .latest_deployment_by_slug("dep-alpha")
            .await
            .expect("latest")
            .map(|d| d.id),
        Some(second.id),
        "{name}: a redeployment is the newest"
    );
    let third = deployment(&beta, other.id, 3);
    store.insert_deployment(&third).await.expect("insert beta");

    let all = store
        .list_deployments(DeploymentFilter::default(), page(1, 10))
        .await
        .expect("list");
    assert_eq!(all.total, 3, "{name}: every deployment counts");
    assert_eq!(
        all.items.iter().map(|d| d.id).collect::<Vec<_>>(),
        [second.id, third.id, first.id],
        "{name}: newest first"
    );
    let second_page = store
        .list_deployments(DeploymentFilter::default(), page(2, 2))
        .await
        .expect("page 2");
    assert_eq!(
        (
            second_page.total,
            second_page.items.iter().map(|d| d.id).collect::<Vec<_>>()
        ),
        (3, vec![first.id]),
        "{name}: page 2 of size 2 holds the oldest"
    );
    let stopped_only = store
        .list_deployments(
            DeploymentFilter {
                status: Some(DeploymentStatus::Stopped),
                owner_id: None,
            },
            page(1, 10),
        )
        .await
        .expect("by status");
    assert_eq!(
        stopped_only.items.iter().map(|d| d.id).collect::<Vec<_>>(),
        [first.id],
        "{name}: the status filter"
    );
    let others = store
        .list_deployments(
            DeploymentFilter {
                status: None,
                owner_id: Some(other.id),
            },
            page(1, 10),
        )
        .await
        .expect("by owner");
    assert_eq!(
        (
            others.total,
            others.items.iter().map(|d| d.id).collect::<Vec<_>>()
        ),
        (1, vec![third.id]),
        "{name}: the owner filter"
    );
    let mut active: Vec<Uuid> = store
        .active_deployments()
        .await
        .expect("active")
        .iter()
        .map(|d| d.id)
        .collect();
    active.sort();
    let mut expected = vec![second.id, third.id];
    expected.sort();
    assert_eq!(active, expected, "{name}: the desired state");

    assert!(
        store
            .set_deployment_version(second.id, "2.0.0")
            .await
            .expect("upgrade recorded"),
        "{name}: an active deployment's version moves"
    );
    let upgraded = store.find_deployment(second.id).await.expect("find");
    assert_eq!(
        upgraded.map(|d| d.tool_version),
        Some("2.0.0".to_owned()),
        "{name}: the version an upgrade recorded"
    );
    assert!(
        !store
            .set_deployment_version(first.id, "2.0.0")
            .await
            .expect("stopped"),
        "{name}: a stopped deployment keeps the version it ran"
    );

    store.insert_usage(&[]).await.expect("an empty batch");
    store
        .insert_usage(&[
            usage(&second, true, 100),
            usage(&second, false, 300),
            usage(&second, true, 200),
            usage(&third, true, 5_000),
        ])
        .await
        .expect("usage batch");
    let totals = store.usage_totals(second.id).await.expect("totals");
    assert_eq!(
        (totals.requests, totals.errors),
        (3, 1),
        "{name}: calls and errors of one deployment"
    );
    assert!(
        (totals.avg_latency_us - 200.0).abs() < 1e-9,
        "{name}: mean latency, got {}",
        totals.avg_latency_us
    );
    let none = store.usage_totals(first.id).await.expect("no rows");
    assert_eq!(
        (none.requests, none.errors, none.avg_latency_us),
        (0, 0, 0.0),
        "{name}: no calls, zero totals"
    );
}

#[tokio::test]
async fn deployment_store_contract_holds_for_every_sql_backend() {
    for sql in sql_stores().await {
        deployment_store_contract(
            sql.name,
            sql.store.as_ref(),
            sql.store.as_ref(),
            sql.store.as_ref(),
        )
        .await;
    }
}
