//! Credentials: password hashing, access tokens, refresh tokens, API keys,
//! and turning a request's credentials into a [`Principal`].
//!
//! - Passwords: Argon2id at OWASP's minimum (19 MiB, t=2, p=1), on the
//!   blocking pool so hashing never stalls the async workers.
//! - Access tokens: HS256 JWTs with sub, role, exp, iat, iss, aud, jti and
//!   `sid` (the refresh-token family they were issued with). Verification
//!   pins HS256 (so `none` and RS/HS confusion are refused), requires every
//!   claim, and refuses `iat` or `nbf` in the future beyond
//!   [`CLOCK_LEEWAY_SECS`]. Every request then reads the user: a
//!   deactivated account is refused at once and a role change applies to
//!   the next request, not at the next refresh.
//! - Refresh tokens and API keys: 256 random bits, stored only as SHA-256
//!   (a fast hash is right for high-entropy secrets; Argon2 is for passwords).

use std::sync::{Arc, LazyLock};

use argon2::password_hash::Output;
use argon2::password_hash::{PasswordHash, SaltString};
use argon2::{Algorithm as ArgonAlgorithm, Argon2, Block, Params, Version};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use crate::digest::sha256_hex;

use crate::config::{Secret, Settings};
use crate::domain::{Principal, Role};
use crate::error::{Error, Result};
use crate::ports::UserRepo;

pub const API_KEY_PREFIX: &str = "mcp_live_";

/// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
pub const CLOCK_LEEWAY_SECS: u64 = 5;

/// How often an API key's `last_used_at` is rewritten, at most.
const LAST_USED_RESOLUTION_SECS: i64 = 60;

fn argon2() -> Argon2<'static> {
    // OWASP Password Storage Cheat Sheet: m=19456 KiB, t=2, p=1.
    let params = Params::new(19_456, 2, 1, None).unwrap_or_default();
    Argon2::new(ArgonAlgorithm::Argon2id, Version::V0x13, params)
}

/// glibc raises its mmap threshold to the size of a freed mmapped block, up
/// to 32 MiB; after that, same-sized blocks come from per-thread arenas and
/// stay resident when freed — ~20 MB of idle memory per thread that ever
/// hashed a password. Reserving more than 32 MiB keeps the block mmapped, so
/// it returns to the system on free; only the pages Argon2 touches are ever
/// resident.
const ALWAYS_MMAPPED_BYTES: usize = 33 * 1024 * 1024;

/// Runs Argon2 into `out` on memory that is handed back to the system after.
fn argon2_into(argon: &Argon2<'_>, password: &[u8], salt: &[u8], out: &mut [u8]) -> bool {
    let blocks = argon.params().block_count();
    let reserve = blocks.max(ALWAYS_MMAPPED_BYTES / std::mem::size_of::<Block>());
    let mut memory: Vec<Block> = Vec::with_capacity(reserve);
    memory.resize(blocks, Block::default());
    argon
        .hash_password_into_with_memory(password, salt, out, &mut memory)
        .is_ok()
}

fn hash_blocking(password: &str) -> Result<String> {
    let fail = |e: &dyn std::fmt::Display| Error::internal(format!("argon2 hash: {e}"));
    let argon = argon2();
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    let mut salt_buf = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_buf).map_err(|e| fail(&e))?;
    let mut out = [0u8; 32];
    if !argon2_into(&argon, password.as_bytes(), salt_bytes, &mut out) {
        return Err(fail(&"hashing failed"));
    }
    let phc = PasswordHash {
        algorithm: argon2::ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: argon.params().try_into().map_err(|e| fail(&e))?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(|e| fail(&e))?),
    };
    Ok(phc.to_string())
}

/// Checks `password` against a PHC string this module wrote (Argon2id).
fn verify_blocking(password: &str, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    if parsed.algorithm != argon2::ARGON2ID_IDENT {
        return false;
    }
    let (Ok(params), Some(salt), Some(expected)) =
        (Params::try_from(&parsed), parsed.salt, parsed.hash)
    else {
        return false;
    };
    let version = parsed
        .version
        .and_then(|v| Version::try_from(v).ok())
        .unwrap_or(Version::V0x13);
    let mut salt_buf = [0u8; 64];
    let Ok(salt_bytes) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let argon = Argon2::new(ArgonAlgorithm::Argon2id, version, params);
    let mut out = vec![0u8; expected.len()];
    // `Output` compares in constant time.
    argon2_into(&argon, password.as_bytes(), salt_bytes, &mut out)
        && Output::new(&out).is_ok_and(|o| o == expected)
}

pub async fn hash_password(password: &str) -> Result<String> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || hash_blocking(&password))
        .await
        .map_err(|e| Error::internal(format!("hashing task: {e}")))?
}

/// Verifies against `hash`, or against a dummy hash when there is no user,
/// so an unknown username costs the same time as a wrong password.
pub async fn verify_password(password: &str, hash: Option<&str>) -> bool {
    static DUMMY: LazyLock<String> =
        LazyLock::new(|| hash_blocking("not-a-real-password").unwrap_or_default());
    let known = hash.is_some();
    let hash = hash.map_or_else(|| DUMMY.clone(), str::to_owned);
    let password = password.to_owned();
    let matched = tokio::task::spawn_blocking(move || verify_blocking(&password, &hash))
        .await
        .unwrap_or(false);
    known && matched
}

#[cfg(test)]
mod password_tests {
    use super::*;
    use argon2::password_hash::{PasswordHasher, PasswordVerifier};

    #[test]
    fn a_hash_verifies_its_password_only_and_is_standard_phc() {
        let phc = hash_blocking("correct horse").expect("hash");
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify_blocking("correct horse", &phc));
        assert!(!verify_blocking("wrong horse", &phc));
        assert!(!verify_blocking("correct horse", "not a phc string"));
        // The stock verifier agrees, so hashes stay portable.
        let parsed = PasswordHash::new(&phc).expect("parses");
        assert!(argon2().verify_password(b"correct horse", &parsed).is_ok());
        let foreign = argon2()
            .hash_password(b"other", &SaltString::generate(&mut rand::rngs::OsRng))
            .expect("stock hash")
            .to_string();
        assert!(
            verify_blocking("other", &foreign),
            "hashes made elsewhere verify too"
        );
    }
}

/// 256 random bits, URL-safe.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

#[derive(Debug, Serialize, Deserialize)]
pub struct AccessClaims {
    pub sub: String,
    pub role: Role,
    pub exp: i64,
    pub iat: i64,
    pub iss: String,
    pub aud: String,
    pub jti: String,
    /// The refresh-token family (login session) the token belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<Uuid>,
}

/// Signs and verifies access tokens.
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
    pub access_ttl: ChronoDuration,
    pub refresh_ttl: ChronoDuration,
}

impl TokenKeys {
    pub fn new(secret: &Secret, settings: &Settings) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&settings.jwt_issuer]);
        validation.set_audience(&[&settings.jwt_audience]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        validation.leeway = CLOCK_LEEWAY_SECS;
        validation.validate_nbf = true;
        let ttl = |d: std::time::Duration| {
            ChronoDuration::from_std(d).unwrap_or_else(|_| ChronoDuration::minutes(15))
        };
        Self {
            encoding: EncodingKey::from_secret(secret.expose().as_bytes()),
            decoding: DecodingKey::from_secret(secret.expose().as_bytes()),
            validation,
            issuer: settings.jwt_issuer.clone(),
            audience: settings.jwt_audience.clone(),
            access_ttl: ttl(settings.access_token_ttl),
            refresh_ttl: ttl(settings.refresh_token_ttl),
        }
    }

    /// An access token of `user_id` in the login session `session`.
    pub fn issue_access(
        &self,
        user_id: Uuid,
        role: Role,
        session: Uuid,
        now: DateTime<Utc>,
    ) -> Result<String> {
        let claims = AccessClaims {
            sid: Some(session),
            sub: user_id.to_string(),
            role,
            iat: now.timestamp(),
            exp: (now + self.access_ttl).timestamp(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            jti: Uuid::new_v4().to_string(),
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| Error::internal(format!("sign token: {e}")))
    }

    /// The claims of a valid token: signature, issuer, audience, and times
    /// (a token issued in the future is as invalid as an expired one).
    fn claims(&self, token: &str) -> Result<AccessClaims> {
        const REFUSED: Error = Error::Unauthorized("invalid or expired token");
        let claims = decode::<AccessClaims>(token, &self.decoding, &self.validation)
            .map_err(|_| REFUSED)?
            .claims;
        let leeway = i64::try_from(CLOCK_LEEWAY_SECS).unwrap_or(0);
        if claims.iat > Utc::now().timestamp() + leeway {
            return Err(REFUSED);
        }
        Ok(claims)
    }

    /// Who a valid token names, with the role it was issued for (the
    /// account's current state is [`Authenticator::current`]'s to check).
    pub fn verify_access(&self, token: &str) -> Result<Principal> {
        let claims = self.claims(token)?;
        let user_id = Uuid::parse_str(&claims.sub)
            .map_err(|_| Error::Unauthorized("invalid or expired token"))?;
        Ok(Principal {
            user_id,
            role: claims.role,
        })
    }

    /// The login session (refresh-token family) of a valid token, when it
    /// was issued with one.
    pub fn session_of(&self, token: &str) -> Option<Uuid> {
        self.claims(token).ok().and_then(|c| c.sid)
    }
}

/// Establishes who is calling.
pub struct Authenticator {
    pub keys: TokenKeys,
    pub users: Arc<dyn UserRepo>,
}

impl Authenticator {
    /// The account behind a verified token as it is now: refused when it
    /// was deactivated or deleted since the token was issued, and with its
    /// current role.
    pub async fn current(&self, token_principal: Principal) -> Result<Principal> {
        match self.users.find(token_principal.user_id).await? {
            Some(user) if user.is_active => Ok(Principal {
                user_id: user.id,
                role: user.role,
            }),
            Some(_) => Err(Error::Unauthorized("this account is disabled")),
            None => Err(Error::Unauthorized("the account no longer exists")),
        }
    }

    /// Checks an `X-API-Key` value: known hash, not revoked, not expired, owner active.
    pub async fn principal_from_api_key(&self, key: &str) -> Result<Principal> {
        const REFUSED: Error = Error::Unauthorized("invalid, revoked or expired API key");
        if !key.starts_with(API_KEY_PREFIX) {
            return Err(REFUSED);
        }
        let Some(stored) = self.users.find_api_key_by_hash(&sha256_hex(key)).await? else {
            return Err(REFUSED);
        };
        let now = Utc::now();
        if stored.revoked_at.is_some() || stored.expires_at.is_some_and(|at| at <= now) {
            return Err(REFUSED);
        }
        let principal = match self.users.find(stored.user_id).await? {
            Some(user) if user.is_active => Principal {
                user_id: user.id,
                role: user.role,
            },
            _ => return Err(REFUSED),
        };
        // Minute resolution is enough to tell used keys from stale ones, and
        // keeps a busy key from turning every request into a write.
        let stale = stored
            .last_used_at
            .is_none_or(|last| now - last >= chrono::Duration::seconds(LAST_USED_RESOLUTION_SECS));
        if stale {
            if let Err(e) = self
                .users
                .touch_api_key(stored.id, crate::domain::now())
                .await
            {
                tracing::warn!(error = %e, "recording API key use failed");
            }
        }
        Ok(principal)
    }
}
