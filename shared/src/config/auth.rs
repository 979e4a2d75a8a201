//! Accounts and tokens: the JWT signing secret and claims, token lifetimes,
//! open registration and the first admin created at start.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{bad, AppEnv, ConfigError, Secret, Source};

/// Where the JWT signing secret comes from.
#[derive(Debug, Clone)]
pub enum JwtSecretSource {
    Given(Secret),
    /// Generated on first start and kept in this file (embedded default).
    File(PathBuf),
}

#[derive(Debug, Clone)]
pub struct AdminBootstrap {
    pub username: String,
    pub email: String,
    pub password: Secret,
}

/// The auth group of [`Settings`](super::Settings).
pub(super) struct Auth {
    pub jwt_secret: JwtSecretSource,
    pub jwt_issuer: String,
    pub jwt_audience: String,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    pub allow_registration: bool,
    pub bootstrap_admin: Option<AdminBootstrap>,
}

impl Auth {
    pub(super) fn load(
        source: &Source,
        app_env: AppEnv,
        data_dir: &Path,
    ) -> Result<Self, ConfigError> {
        Ok(Self {
            jwt_secret: jwt_secret(source, app_env, data_dir)?,
            jwt_issuer: source.text_or(&["JWT_ISSUER"], "mcp-platform"),
            jwt_audience: source.text_or(&["JWT_AUDIENCE"], "mcp-platform-api"),
            access_token_ttl: Duration::from_secs(
                60 * source.positive(&["ACCESS_TOKEN_EXPIRE_MINUTES"], 15u64)?,
            ),
            refresh_token_ttl: Duration::from_secs(
                86_400 * source.positive(&["REFRESH_TOKEN_EXPIRE_DAYS"], 7u64)?,
            ),
            allow_registration: source.bool(&["ALLOW_REGISTRATION"], true)?,
            bootstrap_admin: bootstrap_admin(source)?,
        })
    }
}

/// `SECRET_KEY` (at least 32 bytes); unset, a secret generated into the data
/// directory, except in production, where it is required.
fn jwt_secret(
    source: &Source,
    app_env: AppEnv,
    data_dir: &Path,
) -> Result<JwtSecretSource, ConfigError> {
    match source.first(&["SECRET_KEY", "JWT_SECRET_KEY", "JWT_SECRET"]) {
        Some((name, value)) => {
            if value.len() < 32 {
                return Err(bad(
                    name,
                    "at least 32 bytes of random text (e.g. `openssl rand -hex 32`)",
                ));
            }
            Ok(JwtSecretSource::Given(Secret::new(value)))
        }
        None if app_env == AppEnv::Production => Err(bad(
            "SECRET_KEY",
            "required when APP_ENV=production: at least 32 bytes of random text",
        )),
        None => Ok(JwtSecretSource::File(data_dir.join("jwt-secret"))),
    }
}

/// `ADMIN_USERNAME` and `ADMIN_PASSWORD` (both or neither), `ADMIN_EMAIL`.
fn bootstrap_admin(source: &Source) -> Result<Option<AdminBootstrap>, ConfigError> {
    match (
        source.first(&["ADMIN_USERNAME"]),
        source.first(&["ADMIN_PASSWORD"]),
    ) {
        (None, None) => Ok(None),
        (Some((_, username)), Some((_, password))) => Ok(Some(AdminBootstrap {
            username: username.to_owned(),
            email: source.first(&["ADMIN_EMAIL"]).map_or_else(
                || format!("{username}@localhost.localdomain"),
                |(_, v)| v.to_owned(),
            ),
            password: Secret::new(password),
        })),
        (Some(_), None) => Err(bad("ADMIN_PASSWORD", "set together with ADMIN_USERNAME")),
        (None, Some(_)) => Err(bad("ADMIN_USERNAME", "set together with ADMIN_PASSWORD")),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::load;

    #[test]
    fn production_requires_a_long_secret() {
        let err = load(&[("APP_ENV", "production")]).expect_err("must refuse");
        assert_eq!(err.variable, "SECRET_KEY");
        let err = load(&[("APP_ENV", "production"), ("SECRET_KEY", "short")]).expect_err("short");
        assert_eq!(err.variable, "SECRET_KEY");
        let ok = load(&[("APP_ENV", "production"), ("SECRET_KEY", &"x".repeat(32))]);
        assert!(ok.is_ok());
    }
}
