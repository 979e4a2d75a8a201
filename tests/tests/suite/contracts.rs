//! One contract suite per port, run against the embedded adapter always and
//! against each real server whose `MCP_TEST_*_URL` is set (see
//! `tests/backends.rs`). The same assertions hold for every adapter: that is
//! what lets configuration pick any of them.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use mcp_platform::adapters::embedded::{MemoryCache, MemoryRateLimiter};
use mcp_platform::adapters::redis::{RedisCache, RedisRateLimiter, RedisSessionStore};
use mcp_platform::adapters::sql::SqlStore;
use mcp_platform::domain::{
    ApiKey, ChangeType, HistoryRecord, Role, SemVer, Slug, Tool, ToolConfig, ToolName, ToolStatus,
    User,
};
use mcp_platform::error::Error;
use mcp_platform::ports::{
    Cache, HistoryOutbox, HistoryStore, PageRequest, RateDecision, RateLimiter, RefreshUse,
    SessionStore, ToolFilter, ToolRepo, UserRepo,
};
use mcp_platform_tests::backends::{self, MongoDatabase, MysqlDatabase, RedisPrefix};
use mcp_platform_tests::poll_until;
use mcp_platform_tests::tempdir::TempDir;
use uuid::Uuid;

// ------------------------------------------------------------ adapters under test

/// A migrated SQL store, with whatever keeps it alive.
pub(super) struct Sql {
    pub(super) name: &'static str,
    pub(super) store: Arc<SqlStore>,
    _dir: Option<TempDir>,
    _db: Option<MysqlDatabase>,
}

pub(super) async fn sql_stores() -> Vec<Sql> {
    let dir = TempDir::new();
    let sqlite = SqlStore::connect_sqlite_file(&dir.0.join("contract.db"))
        .await
        .expect("sqlite opens");
    sqlite
        .migrator()
        .run(sqlite.pool())
        .await
        .expect("sqlite migrates");
    let mut stores = vec![Sql {
        name: "sqlite",
        store: Arc::new(sqlite),
        _dir: Some(dir),
        _db: None,
    }];
    if let Some(url) = backends::mysql_url() {
        let db = MysqlDatabase::create(&url).await;
        let mysql = SqlStore::connect(&db.url).await.expect("mysql connects");
        mysql
            .migrator()
            .run(mysql.pool())
            .await
            .expect("mysql migrates");
        stores.push(Sql {
            name: "mysql",
            store: Arc::new(mysql),
            _dir: None,
            _db: Some(db),
        });
    }
    stores
}

async fn redis_prefix() -> Option<RedisPrefix> {
    match backends::redis_url() {
        Some(url) => Some(RedisPrefix::create(&url).await),
        None => None,
    }
}

// ------------------------------------------------------------ fixtures

pub(super) fn user(name: &str) -> User {
    let now = mcp_platform::domain::now();
    User {
        id: Uuid::new_v4(),
        username: name.to_owned(),
        email: format!("{name}@example.com"),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA".into(),
        role: Role::Developer,
        is_active: true,
        created_at: now,
        updated_at: now,
    }
}

pub(super) fn tool(author: Uuid, slug: &str, tags: &[&str]) -> Tool {
    let now = mcp_platform::domain::now();
    Tool {
        id: Uuid::new_v4(),
        name: ToolName::parse(&format!("Tool {slug}")).expect("name"),
        slug: Slug::parse(slug).expect("slug"),
        description: Some(format!("About {slug}")),
        version: SemVer::parse("1.0.0").expect("version"),
        config: ToolConfig::from_stored(serde_json::json!({"tools": [{"name": "echo"}]})),
        status: ToolStatus::Draft,
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        author_id: author,
        revision: 1,
        created_at: now,
        updated_at: now,
        deleted_at: None,
    }
}

pub(super) fn record(tool: &Tool, change_type: ChangeType) -> HistoryRecord {
    HistoryRecord {
        id: Uuid::new_v4(),
        tool_id: tool.id,
        sequence: tool.revision,
        version: tool.version.to_string(),
        change_type,
        changed_by: tool.author_id,
        changed_at: mcp_platform::domain::now(),
        snapshot: tool.snapshot(),
        diff: serde_json::json!([{"op": "replace", "path": "/version", "value": tool.version.to_string()}]),
    }
}

pub(super) fn page(page: u32, page_size: u32) -> PageRequest {
    PageRequest { page, page_size }
}

// ------------------------------------------------------------ ToolRepo

async fn tool_repo_contract(name: &str, repo: &dyn ToolRepo, users: &dyn UserRepo) {
    let author = user(&format!(
        "author{}",
        &Uuid::new_v4().simple().to_string()[..6]
    ));
    users.create(&author).await.expect("author stored");
    let a = tool(author.id, "alpha", &["search", "web"]);
    repo.insert(&a, &record(&a, ChangeType::Create))
        .await
        .expect("insert");
    assert_eq!(
        repo.find(a.id).await.expect("find"),
        Some(a.clone()),
        "{name}: reads back equal"
    );
    assert_eq!(
        repo.find_by_slug("alpha").await.expect("by slug"),
        Some(a.clone()),
        "{name}: by slug"
    );

    let dup = tool(author.id, "alpha", &[]);
    assert!(
        matches!(
            repo.insert(&dup, &record(&dup, ChangeType::Create)).await,
            Err(Error::Conflict { .. })
        ),
        "{name}: a taken slug is a conflict"
    );

    let mut b = tool(author.id, "beta", &["web"]);
    b.created_at = a.created_at + chrono::Duration::milliseconds(1);
    b.description = Some("100% pure_web".into());
    repo.insert(&b, &record(&b, ChangeType::Create))
        .await
        .expect("insert b");

    let mut next = a.clone();
    next.revision = 2;
    next.version = SemVer::parse("1.1.0").expect("v");
    next.status = ToolStatus::Active;
    next.tags = vec!["search".into()];
    repo.update(&next, 1, &record(&next, ChangeType::Update))
        .await
        .expect("update");
    assert_eq!(
        repo.find(a.id).await.expect("find").as_ref(),
        Some(&next),
        "{name}: update visible"
    );
    assert!(
        matches!(
            repo.update(&next, 1, &record(&next, ChangeType::Update))
                .await,
            Err(Error::Conflict { .. })
        ),
        "{name}: a stale revision is a conflict"
    );

    let filter = |f: ToolFilter| async move { repo.list(&f, page(1, 50)).await.expect("list") };
    let slugs = |p: mcp_platform::ports::Page<Tool>| {
        p.items
            .into_iter()
            .map(|t| t.slug.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        slugs(filter(ToolFilter::default()).await),
        ["beta", "alpha"],
        "{name}: newest first"
    );
    let web = ToolFilter {
        tag: Some("web".into()),
        ..ToolFilter::default()
    };
    assert_eq!(
        slugs(filter(web).await),
        ["beta"],
        "{name}: tag filter follows tag changes"
    );
    let active = ToolFilter {
        status: Some(ToolStatus::Active),
        ..ToolFilter::default()
    };
    assert_eq!(
        slugs(filter(active).await),
        ["alpha"],
        "{name}: status filter"
    );
    let q = ToolFilter {
        q: Some("100%".into()),
        ..ToolFilter::default()
    };
    assert_eq!(
        slugs(filter(q).await),
        ["beta"],
        "{name}: q matches description, % literal"
    );
    let q = ToolFilter {
        q: Some("TOOL AL".into()),
        ..ToolFilter::default()
    };
    assert_eq!(slugs(filter(q).await), ["alpha"], "{name}: q ignores case");
    let mine = ToolFilter {
        author_id: Some(Uuid::new_v4()),
        ..ToolFilter::default()
    };
    assert_eq!(filter(mine).await.total, 0, "{name}: author filter");

    let one = repo
        .list(&ToolFilter::default(), page(2, 1))
        .await
        .expect("page 2");
    assert_eq!(
        (one.total, slugs(one)),
        (2, vec!["alpha".to_owned()]),
        "{name}: paging"
    );

    let mut gone = next.clone();
    gone.revision = 3;
    gone.deleted_at = Some(mcp_platform::domain::now());
    repo.update(&gone, 2, &record(&gone, ChangeType::Delete))
        .await
        .expect("soft delete");
    assert_eq!(
        repo.find(a.id).await.expect("find"),
        None,
        "{name}: deleted is gone"
    );
    assert_eq!(
        repo.find_by_slug("alpha").await.expect("by slug"),
        None,
        "{name}: by slug too"
    );
    assert_eq!(
        filter(ToolFilter::default()).await.total,
        1,
        "{name}: and from lists"
    );
    let reuse = tool(author.id, "alpha", &[]);
    assert!(
        matches!(
            repo.insert(&reuse, &record(&reuse, ChangeType::Create))
                .await,
            Err(Error::Conflict { .. })
        ),
        "{name}: a deleted tool keeps its slug"
    );
}

#[tokio::test]
async fn tool_repo_contract_holds_for_every_sql_backend() {
    for sql in sql_stores().await {
        tool_repo_contract(sql.name, sql.store.as_ref(), sql.store.as_ref()).await;
    }
}

// ------------------------------------------------------------ HistoryStore

async fn history_contract(name: &str, store: &dyn HistoryStore, tools: &[Tool]) {
    let (t1, t2) = (&tools[0], &tools[1]);
    let mut records = Vec::new();
    let mut current = t1.clone();
    for sequence in 1..=4 {
        current.revision = sequence;
        current.version = SemVer::parse(&format!("1.{sequence}.0")).expect("v");
        records.push(record(
            &current,
            if sequence == 1 {
                ChangeType::Create
            } else {
                ChangeType::Update
            },
        ));
    }
    store.append(&records[..2]).await.expect("append");
    store
        .append(&records)
        .await
        .expect("append again, overlapping");
    store
        .append(&[record(t2, ChangeType::Create)])
        .await
        .expect("other tool");

    let listed = store.list(t1.id).await.expect("list");
    let sequences: Vec<i64> = listed.iter().map(|r| r.sequence).collect();
    assert_eq!(
        sequences,
        [4, 3, 2, 1],
        "{name}: each record once, newest first"
    );
    let mut expected = records.clone();
    expected.reverse();
    assert_eq!(listed, expected, "{name}: records read back equal");
    assert_eq!(
        store.list(t2.id).await.expect("list").len(),
        1,
        "{name}: per tool"
    );
    // records[1] is version 1.2.0; the newest non-delete record of a version wins.
    let found = store
        .find_version(t1.id, "1.2.0")
        .await
        .expect("find version");
    assert_eq!(
        found.as_ref(),
        Some(&records[1]),
        "{name}: a version's record"
    );
    let missing = store.find_version(t1.id, "9.9.9").await.expect("find");
    assert_eq!(missing, None, "{name}: unknown version");
    assert!(
        store.list(Uuid::new_v4()).await.expect("list").is_empty(),
        "{name}: unknown tool is empty"
    );
}

#[tokio::test]
async fn history_store_contract_holds_for_sql_and_mongodb() {
    for sql in sql_stores().await {
        // The SQL history table references tools, so they must exist there.
        let author = user("historian");
        sql.store.create(&author).await.expect("author");
        let tools = [tool(author.id, "h-one", &[]), tool(author.id, "h-two", &[])];
        for t in &tools {
            let mut first = record(t, ChangeType::Create);
            first.sequence = 0;
            sql.store.insert(t, &first).await.expect("tool");
            sql.store
                .forget_history(&[first])
                .await
                .expect("clear the create record");
        }
        history_contract(sql.name, sql.store.as_ref(), &tools).await;
    }
    if let Some(url) = backends::mongodb_url() {
        let db = MongoDatabase::create(&url).await;
        let author = Uuid::new_v4();
        let tools = [tool(author, "h-one", &[]), tool(author, "h-two", &[])];
        history_contract("mongodb", &db.store().await, &tools).await;
    }
}

// ------------------------------------------------------------ UserRepo

async fn user_repo_contract(name: &str, users: &dyn UserRepo) {
    let ada = user("ada");
    users.create(&ada).await.expect("create");
    let found = users.find(ada.id).await.expect("find").expect("exists");
    assert_eq!(
        (found.username.as_str(), found.role, found.is_active),
        ("ada", Role::Developer, true),
        "{name}"
    );
    assert_eq!(
        found.created_at, ada.created_at,
        "{name}: timestamps read back equal"
    );
    assert!(
        users.find_by_username("ADA").await.expect("find").is_some(),
        "{name}: usernames ignore case"
    );
    assert!(
        users.find(Uuid::new_v4()).await.expect("find").is_none(),
        "{name}: unknown id"
    );

    let mut twin = user("ada");
    twin.email = "other@example.com".into();
    match users.create(&twin).await {
        Err(Error::Conflict { detail, .. }) => {
            assert!(detail.contains("username"), "{name}: {detail}")
        }
        other => panic!("{name}: a taken username must conflict, got {other:?}"),
    }
    let mut same_mail = user("bob");
    same_mail.email = ada.email.clone();
    match users.create(&same_mail).await {
        Err(Error::Conflict { detail, .. }) => {
            assert!(detail.contains("email"), "{name}: {detail}")
        }
        other => panic!("{name}: a taken email must conflict, got {other:?}"),
    }

    for n in 0..3 {
        users
            .create(&user(&format!("user{n}")))
            .await
            .expect("create");
    }
    let first = users.list(page(1, 2)).await.expect("list");
    let second = users.list(page(2, 2)).await.expect("list");
    assert_eq!(
        (first.total, first.items.len(), second.items.len()),
        (4, 2, 2),
        "{name}: paging"
    );

    users
        .set_role_and_status(ada.id, Role::Viewer, false)
        .await
        .expect("update");
    let changed = users.find(ada.id).await.expect("find").expect("exists");
    assert_eq!(
        (changed.role, changed.is_active),
        (Role::Viewer, false),
        "{name}: role and status"
    );
    assert!(
        matches!(
            users
                .set_role_and_status(Uuid::new_v4(), Role::Admin, true)
                .await,
            Err(Error::NotFound { .. })
        ),
        "{name}: updating an unknown user is not found"
    );

    let now = mcp_platform::domain::now();
    let key = |n: &str, offset_ms: i64| ApiKey {
        id: Uuid::new_v4(),
        user_id: ada.id,
        name: n.to_owned(),
        prefix: "mcp_live_abc".into(),
        key_hash: format!("{:064x}", Uuid::new_v4().as_u128()),
        created_at: now + chrono::Duration::milliseconds(offset_ms),
        expires_at: None,
        last_used_at: None,
        revoked_at: None,
    };
    let (k1, k2) = (key("first", 0), key("second", 5));
    users.create_api_key(&k1).await.expect("key");
    users.create_api_key(&k2).await.expect("key");
    let names: Vec<String> = users
        .list_api_keys(ada.id)
        .await
        .expect("keys")
        .into_iter()
        .map(|k| k.name)
        .collect();
    assert_eq!(names, ["second", "first"], "{name}: keys newest first");
    assert_eq!(
        users
            .find_api_key_by_hash(&k1.key_hash)
            .await
            .expect("find"),
        Some(k1.clone()),
        "{name}"
    );
    users.touch_api_key(k2.id, now).await.expect("touch");
    let used = users
        .find_api_key_by_hash(&k2.key_hash)
        .await
        .expect("find")
        .expect("kept");
    assert_eq!(used.last_used_at, Some(now), "{name}: last use recorded");
    let stranger = Uuid::new_v4();
    assert!(
        !users
            .revoke_api_key(stranger, k1.id, now)
            .await
            .expect("revoke"),
        "{name}: only the owner revokes"
    );
    assert!(
        users
            .revoke_api_key(ada.id, k1.id, now)
            .await
            .expect("revoke"),
        "{name}: owner revokes"
    );
    assert!(
        !users
            .revoke_api_key(ada.id, k1.id, now)
            .await
            .expect("revoke"),
        "{name}: once"
    );
    let revoked = users
        .find_api_key_by_hash(&k1.key_hash)
        .await
        .expect("find")
        .expect("kept");
    assert_eq!(
        revoked.revoked_at,
        Some(now),
        "{name}: revocation time kept"
    );
}

#[tokio::test]
async fn user_repo_contract_holds_for_every_sql_backend() {
    for sql in sql_stores().await {
        user_repo_contract(sql.name, sql.store.as_ref()).await;
    }
}

// ------------------------------------------------------------ SessionStore

async fn session_contract(name: &str, sessions: &dyn SessionStore, user_id: Uuid) {
    let family = Uuid::new_v4();
    let later = Utc::now() + chrono::Duration::days(1);
    sessions
        .issue("hash-a", family, user_id, later)
        .await
        .expect("issue");
    assert_eq!(
        sessions.consume("hash-a").await.expect("consume"),
        RefreshUse::Fresh {
            user_id,
            family_id: family
        },
        "{name}: first use is fresh"
    );
    assert_eq!(
        sessions.consume("hash-a").await.expect("consume"),
        RefreshUse::Reused { family_id: family },
        "{name}: second use is a replay"
    );
    sessions
        .issue("hash-b", family, user_id, later)
        .await
        .expect("issue");
    sessions.revoke_family(family).await.expect("revoke");
    assert_eq!(
        sessions.consume("hash-b").await.expect("consume"),
        RefreshUse::Reused { family_id: family },
        "{name}: a revoked family refuses its live tokens"
    );
    assert_eq!(
        sessions.consume("never-issued").await.expect("consume"),
        RefreshUse::Unknown,
        "{name}"
    );
    let other = Uuid::new_v4();
    sessions
        .issue("hash-c", other, user_id, later)
        .await
        .expect("issue");
    assert!(
        matches!(
            sessions.consume("hash-c").await.expect("consume"),
            RefreshUse::Fresh { .. }
        ),
        "{name}: revoking one family leaves others alone"
    );
    sessions
        .issue(
            "hash-old",
            Uuid::new_v4(),
            user_id,
            Utc::now() + chrono::Duration::milliseconds(30),
        )
        .await
        .expect("issue");
    poll_until(
        "the short-lived token expires",
        Duration::from_secs(5),
        async || sessions.consume("hash-old").await.expect("consume") == RefreshUse::Unknown,
    )
    .await;

    // Concurrent use of one token: exactly one caller gets it.
    sessions
        .issue("hash-race", Uuid::new_v4(), user_id, later)
        .await
        .expect("issue");
    let uses = futures::future::join_all((0..16).map(|_| sessions.consume("hash-race"))).await;
    let fresh = uses
        .iter()
        .filter(|u| matches!(u, Ok(RefreshUse::Fresh { .. })))
        .count();
    assert_eq!(fresh, 1, "{name}: one of 16 concurrent uses wins");
}

#[tokio::test]
async fn session_store_contract_holds_for_sql_and_redis() {
    for sql in sql_stores().await {
        let owner = user("owner");
        sql.store.create(&owner).await.expect("owner");
        session_contract(sql.name, sql.store.as_ref(), owner.id).await;
    }
    if let Some(prefix) = redis_prefix().await {
        let store = RedisSessionStore::new(prefix.conn(), Duration::from_secs(60));
        session_contract("redis", &store, Uuid::new_v4()).await;
    }
}

// ------------------------------------------------------------ Cache

async fn cache_contract(name: &str, cache: &dyn Cache) {
    let ttl = Duration::from_secs(60);
    assert_eq!(cache.get("k1").await.expect("get"), None, "{name}: empty");
    cache
        .set("k1", bytes::Bytes::from_static(b"{\"v\":1}"), ttl)
        .await
        .expect("set");
    assert_eq!(
        cache.get("k1").await.expect("get").as_deref(),
        Some(&b"{\"v\":1}"[..]),
        "{name}"
    );
    cache
        .set("k1", bytes::Bytes::from_static(b"two"), ttl)
        .await
        .expect("overwrite");
    assert_eq!(
        cache.get("k1").await.expect("get").as_deref(),
        Some(&b"two"[..]),
        "{name}: overwrite"
    );
    cache.delete("k1").await.expect("delete");
    assert_eq!(cache.get("k1").await.expect("get"), None, "{name}: deleted");
    cache
        .delete("never-set")
        .await
        .expect("deleting a missing key is fine");
    cache
        .set(
            "short",
            bytes::Bytes::from_static(b"x"),
            Duration::from_millis(50),
        )
        .await
        .expect("set");
    poll_until(
        "a 50 ms entry expires",
        Duration::from_secs(5),
        async || cache.get("short").await.expect("get").is_none(),
    )
    .await;
    cache.ping().await.expect("ping");
}

#[tokio::test]
async fn cache_contract_holds_for_memory_and_redis() {
    cache_contract("memory", &MemoryCache::new(1 << 20)).await;
    if let Some(prefix) = redis_prefix().await {
        cache_contract("redis", &RedisCache::new(prefix.conn())).await;
    }
}

// ------------------------------------------------------------ RateLimiter

async fn rate_limiter_contract(name: &str, limiter: Arc<dyn RateLimiter>) {
    let window = Duration::from_secs(30);
    for n in (0..3).rev() {
        assert_eq!(
            limiter.hit("a", 3, window).await.expect("hit"),
            RateDecision::Allowed { remaining: n },
            "{name}: within the limit"
        );
    }
    match limiter.hit("a", 3, window).await.expect("hit") {
        RateDecision::Limited { retry_after } => {
            assert!(
                retry_after <= window && retry_after > Duration::ZERO,
                "{name}: {retry_after:?}"
            )
        }
        other => panic!("{name}: the 4th hit must be limited, got {other:?}"),
    }
    assert!(
        matches!(
            limiter.hit("b", 3, window).await.expect("hit"),
            RateDecision::Allowed { .. }
        ),
        "{name}: keys are independent"
    );

    let short = Duration::from_millis(100);
    limiter.hit("c", 1, short).await.expect("hit");
    poll_until(
        "a 100 ms window resets",
        Duration::from_secs(5),
        async || {
            matches!(
                limiter.hit("c", 1, short).await.expect("hit"),
                RateDecision::Allowed { .. }
            )
        },
    )
    .await;

    // Many concurrent callers never get more than the limit through.
    let tasks: Vec<_> = (0..64)
        .map(|_| {
            let limiter = limiter.clone();
            tokio::spawn(async move { limiter.hit("race", 10, Duration::from_secs(30)).await })
        })
        .collect();
    let mut allowed = 0;
    for task in tasks {
        if matches!(
            task.await.expect("task").expect("hit"),
            RateDecision::Allowed { .. }
        ) {
            allowed += 1;
        }
    }
    assert_eq!(allowed, 10, "{name}: 64 concurrent hits, limit 10");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rate_limiter_contract_holds_for_memory_and_redis() {
    rate_limiter_contract("memory", Arc::new(MemoryRateLimiter::default())).await;
    if let Some(prefix) = redis_prefix().await {
        rate_limiter_contract("redis", Arc::new(RedisRateLimiter::new(prefix.conn()))).await;
    }
}
