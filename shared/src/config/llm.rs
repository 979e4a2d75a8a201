//! The chat-completions API behind `/analyze/*`; unset, the offline
//! analyser answers alone.

use std::time::Duration;

use super::{bad, ConfigError, Secret, Source};

/// The chat-completions API behind `/analyze/*` (OpenAI, or anything that
/// speaks its `/v1/chat/completions`: Ollama, vLLM, LiteLLM…). Configured
/// when `LLM_BASE_URL` or `LLM_API_KEY` is set; failures fall back to the
/// offline analyser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LlmSettings {
    /// Up to and including `/v1` (`LLM_BASE_URL`, default OpenAI's).
    pub base_url: String,
    pub model: String,
    /// Sent as `Authorization: Bearer`; local servers may need none.
    pub api_key: Option<Secret>,
    /// Per request (`LLM_TIMEOUT_SECONDS`).
    pub timeout: Duration,
    /// Further attempts after a timeout, 429 or 5xx (`LLM_MAX_RETRIES`).
    pub max_retries: u32,
    /// First retry delay, doubled each attempt (`LLM_RETRY_BASE_MS`).
    pub retry_base: Duration,
}

impl LlmSettings {
    pub(super) fn load(source: &Source) -> Result<Option<Self>, ConfigError> {
        let base_url = source.first(&["LLM_BASE_URL", "OPENAI_BASE_URL"]);
        let api_key = source.first(&["LLM_API_KEY", "OPENAI_API_KEY"]);
        if base_url.is_none() && api_key.is_none() {
            return Ok(None);
        }
        let base_url = match base_url {
            None => "https://api.openai.com/v1".to_owned(),
            Some((name, url)) => {
                if !(url.starts_with("https://") || url.starts_with("http://")) {
                    return Err(bad(
                        name,
                        "an http(s) URL such as https://api.openai.com/v1",
                    ));
                }
                url.trim_end_matches('/').to_owned()
            }
        };
        Ok(Some(Self {
            base_url,
            model: source.text_or(&["LLM_MODEL", "OPENAI_MODEL"], "gpt-4o-mini"),
            api_key: api_key
                .map(|(_, v)| Secret::new(v))
                .filter(|k| !k.expose().is_empty()),
            timeout: Duration::from_secs(source.within(&["LLM_TIMEOUT_SECONDS"], 30, 1, 600)?),
            max_retries: source.within(&["LLM_MAX_RETRIES"], 2, 0, 10)?,
            retry_base: Duration::from_millis(source.within(
                &["LLM_RETRY_BASE_MS"],
                250,
                1,
                60_000,
            )?),
        }))
    }
}
