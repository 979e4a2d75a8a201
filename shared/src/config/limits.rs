//! How much one caller may ask: request rate limits per route group (applied
//! by `ratelimit`), the request body limit and the login attempt limits.

use std::time::Duration;

use super::{bad, ConfigError, Source};

/// Limits per route group: a default and optional per-group overrides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimits {
    pub enabled: bool,
    pub per_window: u32,
    pub window: Duration,
    /// `(group, limit)` pairs, e.g. `("auth", 60)`.
    pub overrides: Vec<(String, u32)>,
}

impl RateLimits {
    pub fn limit_for(&self, group: &str) -> u32 {
        self.overrides
            .iter()
            .find(|(g, _)| g == group)
            .map_or(self.per_window, |(_, n)| *n)
    }

    fn load(source: &Source) -> Result<Self, ConfigError> {
        Ok(Self {
            enabled: source.bool(&["RATE_LIMIT_ENABLED"], true)?,
            per_window: source.positive(&["RATE_LIMIT_REQUESTS"], 1200u32)?,
            window: Duration::from_secs(source.positive(&["RATE_LIMIT_WINDOW_SECONDS"], 60u64)?),
            overrides: match source.first(&["RATE_LIMIT_GROUPS"]) {
                None => Vec::new(),
                Some((name, raw)) => parse_group_limits(raw).ok_or_else(|| {
                    bad(
                        name,
                        "comma-separated GROUP=LIMIT pairs such as auth=60,mcps=1200",
                    )
                })?,
            },
        })
    }
}

/// The limits group of [`Settings`](super::Settings).
pub(super) struct Limits {
    pub max_body_bytes: usize,
    pub login_max_attempts_per_account: u32,
    pub login_max_attempts_per_ip: u32,
    pub login_window: Duration,
    pub rate_limits: RateLimits,
}

impl Limits {
    pub(super) fn load(source: &Source) -> Result<Self, ConfigError> {
        Ok(Self {
            max_body_bytes: source.positive(&["MAX_BODY_BYTES"], 1_048_576usize)?,
            login_max_attempts_per_account: source
                .positive(&["LOGIN_MAX_ATTEMPTS_PER_ACCOUNT"], 10u32)?,
            login_max_attempts_per_ip: source.positive(&["LOGIN_MAX_ATTEMPTS_PER_IP"], 50u32)?,
            login_window: Duration::from_secs(source.positive(&["LOGIN_WINDOW_SECONDS"], 300u64)?),
            rate_limits: RateLimits::load(source)?,
        })
    }
}

fn parse_group_limits(raw: &str) -> Option<Vec<(String, u32)>> {
    raw.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (group, limit) = pair.split_once('=')?;
            let limit = limit.trim().parse::<u32>().ok().filter(|n| *n > 0)?;
            let group = group.trim();
            (!group.is_empty()).then(|| (group.to_owned(), limit))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::RateLimits;

    #[test]
    fn overrides_win_over_the_default() {
        let limits = RateLimits {
            enabled: true,
            per_window: 100,
            window: Duration::from_secs(60),
            overrides: vec![("auth".into(), 5)],
        };
        assert_eq!(limits.limit_for("auth"), 5);
        assert_eq!(limits.limit_for("mcps"), 100);
    }
}
