//! `SessionStore` over SQL: refresh tokens grouped in families.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;
use uuid::Uuid;

use super::{parse_ts, parse_uuid, ts, SqlStore};
use crate::error::Result;
use crate::ports::{RefreshUse, SessionStore, TokenOwner};

#[async_trait]
impl SessionStore for SqlStore {
    async fn issue(
        &self,
        token_hash: &str,
        family_id: Uuid,
        user_id: Uuid,
        expires_at: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, family_id, user_id, expires_at) VALUES (?, ?, ?, ?)",
        )
        .bind(token_hash)
        .bind(family_id.to_string())
        .bind(user_id.to_string())
        .bind(ts(expires_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn consume(&self, token_hash: &str) -> Result<RefreshUse> {
        let now = ts(Utc::now());
        // The conditional UPDATE is the atomic step: of two concurrent uses of
        // one token exactly one sees rows_affected = 1.
        let spent = sqlx::query(
            "UPDATE refresh_tokens SET used_at = ? \
             WHERE token_hash = ? AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ?",
        )
        .bind(&now)
        .bind(token_hash)
        .bind(&now)
        .execute(&self.pool)
        .await?;
        let row = sqlx::query(
            "SELECT family_id, user_id, expires_at FROM refresh_tokens WHERE token_hash = ?",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(RefreshUse::Unknown);
        };
        let family_id = parse_uuid(row.try_get("family_id")?)?;
        if spent.rows_affected() == 1 {
            return Ok(RefreshUse::Fresh {
                user_id: parse_uuid(row.try_get("user_id")?)?,
                family_id,
            });
        }
        if parse_ts(row.try_get("expires_at")?)? <= Utc::now() {
            return Ok(RefreshUse::Unknown);
        }
        Ok(RefreshUse::Reused { family_id })
    }

    async fn revoke_family(&self, family_id: Uuid) -> Result<()> {
        sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = ? WHERE family_id = ? AND revoked_at IS NULL",
        )
        .bind(ts(Utc::now()))
        .bind(family_id.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn owner(&self, token_hash: &str) -> Result<Option<TokenOwner>> {
        let row = sqlx::query(
            "SELECT family_id, user_id FROM refresh_tokens WHERE token_hash = ? AND expires_at > ?",
        )
        .bind(token_hash)
        .bind(ts(Utc::now()))
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(TokenOwner {
                user_id: parse_uuid(row.try_get("user_id")?)?,
                family_id: parse_uuid(row.try_get("family_id")?)?,
            })
        })
        .transpose()
    }

    async fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64> {
        let done = sqlx::query("DELETE FROM refresh_tokens WHERE expires_at <= ?")
            .bind(ts(now))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
