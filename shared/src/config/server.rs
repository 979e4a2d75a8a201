//! The process and its HTTP surface: environment kind, listen address, data
//! directory, public URL, CORS origins and whether proxy headers are trusted.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use super::{bad, ConfigError, Overrides, Source};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppEnv {
    Development,
    Production,
}

/// The server group of [`Settings`](super::Settings).
pub(super) struct Server {
    pub app_env: AppEnv,
    pub bind: SocketAddr,
    pub data_dir: PathBuf,
    pub public_url: String,
    pub cors_origins: Vec<String>,
    pub trust_proxy_headers: bool,
}

impl Server {
    pub(super) fn load(source: &Source, overrides: &Overrides) -> Result<Self, ConfigError> {
        let app_env = source.parsed(
            &["APP_ENV", "ENVIRONMENT"],
            AppEnv::Development,
            "development or production",
            |s| match s.to_ascii_lowercase().as_str() {
                "development" | "dev" | "local" | "test" => Some(AppEnv::Development),
                "production" | "prod" => Some(AppEnv::Production),
                _ => None,
            },
        )?;
        let bind = bind(source, overrides)?;
        let data_dir = match &overrides.data_dir {
            Some(dir) => dir.clone(),
            None => source
                .first(&["MCP_DATA_DIR", "DATA_DIR"])
                .map_or_else(|| PathBuf::from("data"), |(_, v)| PathBuf::from(v)),
        };
        let cors_origins = match source.first(&["CORS_ORIGINS", "ALLOWED_ORIGINS"]) {
            None => Vec::new(),
            Some((name, raw)) => parse_origins(raw).ok_or_else(|| {
                bad(
                    name,
                    "a comma-separated or JSON list of origins such as https://app.example.com",
                )
            })?,
        };
        let public_url = source.first(&["PUBLIC_URL"]).map_or_else(
            || format!("http://{bind}"),
            |(_, v)| v.trim_end_matches('/').to_owned(),
        );
        Ok(Self {
            app_env,
            bind,
            data_dir,
            public_url,
            cors_origins,
            trust_proxy_headers: source.bool(&["TRUST_PROXY_HEADERS"], false)?,
        })
    }
}

/// `--bind`, else `MCP_BIND`, else `HOST` and `PORT`.
fn bind(source: &Source, overrides: &Overrides) -> Result<SocketAddr, ConfigError> {
    if let Some(addr) = overrides.bind {
        return Ok(addr);
    }
    if let Some((name, raw)) = source.first(&["MCP_BIND", "BIND_ADDR"]) {
        return raw.parse().map_err(|_| {
            bad(
                name,
                format!("ADDRESS:PORT such as 127.0.0.1:8000, got {raw:?}"),
            )
        });
    }
    let host = source.parsed(
        &["HOST", "API_HOST"],
        IpAddr::from([127, 0, 0, 1]),
        "an IP address such as 127.0.0.1",
        |s| s.parse().ok(),
    )?;
    let port = source.parsed(
        &["PORT", "API_PORT"],
        8000u16,
        "a port number 0-65535",
        |s| s.parse().ok(),
    )?;
    Ok(SocketAddr::new(host, port))
}

fn parse_origins(raw: &str) -> Option<Vec<String>> {
    let list: Vec<String> = if raw.starts_with('[') {
        serde_json::from_str(raw).ok()?
    } else {
        raw.split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect()
    };
    let valid = list
        .iter()
        .all(|o| o == "*" || o.starts_with("http://") || o.starts_with("https://"));
    valid.then_some(list)
}
