//! Redis: the shared cache, refresh-token families and rate-limit counters,
//! so several replicas see one state.
//!
//! Every key starts with the configured prefix (`REDIS_KEY_PREFIX`, default
//! `mcp:`). Every command has a short response timeout: a Redis that went
//! away fails calls within `REDIS_TIMEOUT_MS` as `Unavailable`, never hangs
//! them, and the connection manager reconnects by itself when it is back.
//! The first connection is also made lazily, so the platform starts (with the
//! cache bypassed) while Redis is down.
//!
//! Multi-key scripts build their second key from the prefix inside Lua, which
//! is right for a standalone or replicated Redis (not Redis Cluster).

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, Script};
use tokio::sync::Mutex;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::ports::{Cache, Ping, RateDecision, RateLimiter, RefreshUse, SessionStore, TokenOwner};

/// One multiplexed, self-healing connection shared by every adapter below.
pub struct RedisConn {
    client: Client,
    config: ConnectionManagerConfig,
    timeout: Duration,
    prefix: String,
    manager: Mutex<Option<ConnectionManager>>,
}

fn unavailable(e: impl std::fmt::Display) -> Error {
    Error::Unavailable(format!("redis: {e}"))
}

impl RedisConn {
    pub fn new(url: &str, prefix: &str, timeout: Duration) -> anyhow::Result<Self> {
        let client = Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(timeout)
            .set_response_timeout(timeout)
            .set_number_of_retries(1)
            .set_max_delay(timeout.as_millis().try_into().unwrap_or(1000));
        Ok(Self {
            client,
            config,
            timeout,
            prefix: prefix.to_owned(),
            manager: Mutex::new(None),
        })
    }

    pub fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The client, for connections the manager cannot multiplex (pub/sub).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// How long one call may take.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The shared connection, made on first use.
    pub async fn conn(&self) -> Result<ConnectionManager> {
        let mut guard = self.manager.lock().await;
        if let Some(manager) = guard.as_ref() {
            return Ok(manager.clone());
        }
        let connect = ConnectionManager::new_with_config(self.client.clone(), self.config.clone());
        let manager = tokio::time::timeout(self.timeout, connect)
            .await
            .map_err(|_| unavailable("connection timed out"))?
            .map_err(unavailable)?;
        *guard = Some(manager.clone());
        Ok(manager)
    }

    /// Awaits one Redis call within the timeout, translating its errors.
    async fn bounded<T>(
        &self,
        call: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Result<T> {
        tokio::time::timeout(self.timeout, call)
            .await
            .map_err(|_| unavailable("response timed out"))?
            .map_err(unavailable)
    }

    pub(crate) async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T> {
        let mut conn = self.conn().await?;
        self.bounded(cmd.query_async(&mut conn)).await
    }

    async fn run_script<T: redis::FromRedisValue>(
        &self,
        invocation: redis::ScriptInvocation<'_>,
    ) -> Result<T> {
        let mut conn = self.conn().await?;
        self.bounded(invocation.invoke_async(&mut conn)).await
    }
}

#[async_trait]
impl Ping for RedisConn {
    async fn ping(&self) -> Result<()> {
        let reply: String = self.query(&redis::cmd("PING")).await?;
        if reply == "PONG" {
            Ok(())
        } else {
            Err(unavailable(format!("unexpected PING reply {reply:?}")))
        }
    }
}

/// `Cache` over Redis strings with a millisecond TTL.
pub struct RedisCache {
    redis: Arc<RedisConn>,
}

impl RedisCache {
    pub fn new(redis: Arc<RedisConn>) -> Self {
        Self { redis }
    }
}

#[async_trait]
impl Ping for RedisCache {
    async fn ping(&self) -> Result<()> {
        self.redis.ping().await
    }
}

#[async_trait]
impl Cache for RedisCache {
    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        let value: Option<Vec<u8>> = self
            .redis
            .query(redis::cmd("GET").arg(self.redis.key(key)))
            .await?;
        Ok(value.map(Bytes::from))
    }

    async fn set(&self, key: &str, value: Bytes, ttl: Duration) -> Result<()> {
        let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let cmd = redis::cmd("SET")
            .arg(self.redis.key(key))
            .arg(value.as_ref())
            .arg("PX")
            .arg(ms)
            .clone();
        self.redis.query::<()>(&cmd).await
    }

    async fn delete(&self, key: &str) -> Result<()> {
        self.redis
            .query::<()>(redis::cmd("DEL").arg(self.redis.key(key)))
            .await
    }
}

/// Refresh tokens: `rt:{hash}` is a hash {user, family, used} expiring with
/// the token; `rtfam:{family}:revoked` marks a revoked family.
pub struct RedisSessionStore {
    redis: Arc<RedisConn>,
    /// How long a revoked-family marker must outlive the family's tokens.
    family_ttl: Duration,
}

impl RedisSessionStore {
    pub fn new(redis: Arc<RedisConn>, family_ttl: Duration) -> Self {
        Self { redis, family_ttl }
    }
}

/// KEYS[1] = token key; ARGV[1] = key prefix.
/// Returns {"unknown"} | {"reused", family} | {"fresh", user, family}.
const CONSUME_LUA: &str = r"
local t = redis.call('HMGET', KEYS[1], 'user', 'family', 'used')
if not t[1] then return {'unknown'} end
if t[3] == '1' or redis.call('EXISTS', ARGV[1] .. 'rtfam:' .. t[2] .. ':revoked') == 1 then
  return {'reused', t[2]}
end
redis.call('HSET', KEYS[1], 'used', '1')
return {'fresh', t[1], t[2]}
";

fn parse_uuid(s: &str) -> Result<Uuid> {
    Uuid::parse_str(s).map_err(|e| Error::internal(format!("stored uuid {s:?}: {e}")))
}

#[async_trait]
impl SessionStore for RedisSessionStore {
    async fn issue(
        &self,
        token_hash: &str,
        family_id: Uuid,
        user_id: Uuid,
        expires_at: DateTime<Utc>,
    ) -> Result<()> {
        let key = self.redis.key(&format!("rt:{token_hash}"));
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("HSET")
            .arg(&key)
            .arg("user")
            .arg(user_id.to_string())
            .arg("family")
            .arg(family_id.to_string())
            .arg("used")
            .arg("0")
            .ignore()
            // Absolute expiry: a time already past deletes the key at once.
            .cmd("PEXPIREAT")
            .arg(&key)
            .arg(expires_at.timestamp_millis())
            .ignore();
        let mut conn = self.redis.conn().await?;
        self.redis.bounded(pipe.query_async::<()>(&mut conn)).await
    }

    async fn consume(&self, token_hash: &str) -> Result<RefreshUse> {
        static SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(CONSUME_LUA));
        let mut invocation = SCRIPT.prepare_invoke();
        invocation
            .key(self.redis.key(&format!("rt:{token_hash}")))
            .arg(self.redis.prefix());
        let reply: Vec<String> = self.redis.run_script(invocation).await?;
        match reply.as_slice() {
            [kind] if kind == "unknown" => Ok(RefreshUse::Unknown),
            [kind, family] if kind == "reused" => Ok(RefreshUse::Reused {
                family_id: parse_uuid(family)?,
            }),
            [kind, user, family] if kind == "fresh" => Ok(RefreshUse::Fresh {
                user_id: parse_uuid(user)?,
                family_id: parse_uuid(family)?,
            }),
            other => Err(Error::internal(format!(
                "unexpected refresh script reply {other:?}"
            ))),
        }
    }

    async fn revoke_family(&self, family_id: Uuid) -> Result<()> {
        let ms = u64::try_from(self.family_ttl.as_millis()).unwrap_or(u64::MAX);
        let cmd = redis::cmd("SET")
            .arg(self.redis.key(&format!("rtfam:{family_id}:revoked")))
            .arg("1")
            .arg("PX")
            .arg(ms)
            .clone();
        self.redis.query::<()>(&cmd).await
    }

    async fn owner(&self, token_hash: &str) -> Result<Option<TokenOwner>> {
        let cmd = redis::cmd("HMGET")
            .arg(self.redis.key(&format!("rt:{token_hash}")))
            .arg("user")
            .arg("family")
            .clone();
        let fields: Vec<Option<String>> = self.redis.query(&cmd).await?;
        match fields.as_slice() {
            [Some(user), Some(family)] => Ok(Some(TokenOwner {
                user_id: parse_uuid(user)?,
                family_id: parse_uuid(family)?,
            })),
            _ => Ok(None),
        }
    }

    /// Every key has a TTL: Redis drops expired tokens by itself.
    async fn purge_expired(&self, _now: DateTime<Utc>) -> Result<u64> {
        Ok(0)
    }
}

/// Fixed-window counters shared by every replica. One Lua call increments
/// and reads the window, so concurrent hits never race.
pub struct RedisRateLimiter {
    redis: Arc<RedisConn>,
}

impl RedisRateLimiter {
    pub fn new(redis: Arc<RedisConn>) -> Self {
        Self { redis }
    }
}

/// KEYS[1] = counter; ARGV[1] = window in ms. Returns {count, ms left}.
const HIT_LUA: &str = r"
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {n, ttl}
";

#[async_trait]
impl RateLimiter for RedisRateLimiter {
    async fn hit(&self, key: &str, limit: u32, window: Duration) -> Result<RateDecision> {
        static SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(HIT_LUA));
        let mut invocation = SCRIPT.prepare_invoke();
        let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX).max(1);
        invocation
            .key(self.redis.key(&format!("rl:{key}")))
            .arg(window_ms);
        let (count, ttl_ms): (u64, i64) = self.redis.run_script(invocation).await?;
        if count > u64::from(limit) {
            let retry_after = Duration::from_millis(u64::try_from(ttl_ms).unwrap_or(0));
            Ok(RateDecision::Limited { retry_after })
        } else {
            let remaining = u32::try_from(u64::from(limit) - count).unwrap_or(0);
            Ok(RateDecision::Allowed { remaining })
        }
    }
}
