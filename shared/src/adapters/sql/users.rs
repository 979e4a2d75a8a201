//! `UserRepo` over SQL: accounts and API keys.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;
use sqlx::Row;
use uuid::Uuid;

use super::{parse_opt_ts, parse_ts, parse_uuid, ts, unique_violation, SqlStore};
use crate::domain::{ApiKey, Role, User};
use crate::error::{Error, Result};
use crate::ports::{Page, PageRequest, UserRepo};

const USER_COLUMNS: &str =
    "id, username, email, password_hash, role, is_active, created_at, updated_at";
const KEY_COLUMNS: &str =
    "id, user_id, name, prefix, key_hash, created_at, expires_at, last_used_at, revoked_at";

fn user_from_row(row: &AnyRow) -> Result<User> {
    let role: &str = row.try_get("role")?;
    Ok(User {
        id: parse_uuid(row.try_get("id")?)?,
        username: row.try_get("username")?,
        email: row.try_get("email")?,
        password_hash: row.try_get("password_hash")?,
        role: Role::parse(role).map_err(|e| Error::internal(format!("stored role: {e}")))?,
        is_active: row.try_get::<i64, _>("is_active")? != 0,
        created_at: parse_ts(row.try_get("created_at")?)?,
        updated_at: parse_ts(row.try_get("updated_at")?)?,
    })
}

fn key_from_row(row: &AnyRow) -> Result<ApiKey> {
    Ok(ApiKey {
        id: parse_uuid(row.try_get("id")?)?,
        user_id: parse_uuid(row.try_get("user_id")?)?,
        name: row.try_get("name")?,
        prefix: row.try_get("prefix")?,
        key_hash: row.try_get("key_hash")?,
        created_at: parse_ts(row.try_get("created_at")?)?,
        expires_at: parse_opt_ts(row.try_get("expires_at")?)?,
        last_used_at: parse_opt_ts(row.try_get("last_used_at")?)?,
        revoked_at: parse_opt_ts(row.try_get("revoked_at")?)?,
    })
}

#[async_trait]
impl UserRepo for SqlStore {
    async fn create(&self, user: &User) -> Result<()> {
        sqlx::query(&format!(
            "INSERT INTO users ({USER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        ))
        .bind(user.id.to_string())
        .bind(&user.username)
        .bind(&user.email)
        .bind(&user.password_hash)
        .bind(user.role.as_str())
        .bind(i64::from(user.is_active))
        .bind(ts(user.created_at))
        .bind(ts(user.updated_at))
        .execute(&self.pool)
        .await
        .map_err(|e| match unique_violation(&e) {
            Some(msg) => {
                let field = if msg.contains("email") {
                    "email"
                } else {
                    "username"
                };
                Error::Conflict {
                    detail: format!("{field} is already registered"),
                    resource_type: "user",
                    resource_id: None,
                }
            }
            None => e.into(),
        })?;
        Ok(())
    }

    async fn find(&self, id: Uuid) -> Result<Option<User>> {
        let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?"))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn find_by_username(&self, username: &str) -> Result<Option<User>> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE username = ?"
        ))
        .bind(username)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn list(&self, page: PageRequest) -> Result<Page<User>> {
        let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await?;
        let rows = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users ORDER BY created_at, id LIMIT ? OFFSET ?"
        ))
        .bind(i64::from(page.page_size))
        .bind(i64::try_from(page.offset()).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        Ok(Page {
            items: rows.iter().map(user_from_row).collect::<Result<_>>()?,
            total: u64::try_from(total).unwrap_or(0),
        })
    }

    async fn set_role_and_status(&self, id: Uuid, role: Role, is_active: bool) -> Result<()> {
        let done =
            sqlx::query("UPDATE users SET role = ?, is_active = ?, updated_at = ? WHERE id = ?")
                .bind(role.as_str())
                .bind(i64::from(is_active))
                .bind(ts(Utc::now()))
                .bind(id.to_string())
                .execute(&self.pool)
                .await?;
        if done.rows_affected() == 0 {
            return Err(Error::not_found("user", id));
        }
        Ok(())
    }

    async fn create_api_key(&self, key: &ApiKey) -> Result<()> {
        sqlx::query(&format!(
            "INSERT INTO api_keys ({KEY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ))
        .bind(key.id.to_string())
        .bind(key.user_id.to_string())
        .bind(&key.name)
        .bind(&key.prefix)
        .bind(&key.key_hash)
        .bind(ts(key.created_at))
        .bind(key.expires_at.map(ts))
        .bind(key.last_used_at.map(ts))
        .bind(key.revoked_at.map(ts))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn list_api_keys(&self, user_id: Uuid) -> Result<Vec<ApiKey>> {
        let rows = sqlx::query(&format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE user_id = ? ORDER BY created_at DESC, id DESC"
        ))
        .bind(user_id.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(key_from_row).collect()
    }

    async fn find_api_key_by_hash(&self, key_hash: &str) -> Result<Option<ApiKey>> {
        let row = sqlx::query(&format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE key_hash = ?"
        ))
        .bind(key_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(key_from_row).transpose()
    }

    async fn touch_api_key(&self, key_id: Uuid, at: DateTime<Utc>) -> Result<()> {
        sqlx::query("UPDATE api_keys SET last_used_at = ? WHERE id = ?")
            .bind(ts(at))
            .bind(key_id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn revoke_api_key(&self, user_id: Uuid, key_id: Uuid, at: DateTime<Utc>) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND user_id = ? AND revoked_at IS NULL",
        )
        .bind(ts(at))
        .bind(key_id.to_string())
        .bind(user_id.to_string())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
