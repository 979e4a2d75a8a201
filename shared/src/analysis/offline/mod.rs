//! The built-in offline analyser: a fixed rule set over a tool's MCP config.
//! No network, no randomness, no clock: the same input always gives the
//! same answer, fast enough to run inline in a job.
//!
//! What it checks (each finding is a [`Risk`] with a JSON Pointer):
//! - structure: the rules of `POST /mcps` ([`ToolConfig::parse`]), each
//!   tool's `inputSchema` against its JSON Schema meta-schema, `type:
//!   object`, required names that exist, duplicate tool names;
//! - documentation: missing or uninformative server, tool and parameter
//!   descriptions;
//! - capabilities: shell/code execution, filesystem writes and deletes,
//!   fetching arbitrary URLs;
//! - secrets written literally into `runtime.env`, `args`, `url`, `headers`
//!   (by name and by value shape), plain-http remotes;
//! - prompt injection in descriptions: instructions aimed at the model,
//!   hidden directive tags, invisible Unicode, base64-encoded text;
//! - overly broad permissions: wildcard scopes, root paths, allow-all flags,
//!   privileged containers, running as root.
//!
//! Scoring (see [`score_of`]): each severity has a weight (info 0, low
//! 0.03, medium 0.1, high 0.25, critical 0.6); the score is the product of
//! `1 − weight` over the three most severe findings of each category, so it
//! stays in `[0, 1]`, 1 means nothing found, and a pile of minor findings of
//! one kind (thirty undocumented parameters) cannot outweigh one serious
//! problem. A config is feasible when no finding is critical and the score
//! is at least [`FEASIBLE_SCORE`].
//!
//! The rules are grouped by what they look at, one module each: `runtime`
//! (command, args, env, url, secrets), `permissions` (scope-like keys
//! anywhere), `tools` (names, descriptions, input schemas, capabilities)
//! and `injection` (text the model reads); `score` turns findings into a
//! verdict, `improvements` into advice, and `generate/` builds a config
//! from requirements.
//!
//! [`FEASIBLE_SCORE`]: crate::domain::FEASIBLE_SCORE

mod generate;
mod improvements;
mod injection;
mod permissions;
mod runtime;
mod score;
mod tools;

use async_trait::async_trait;
use serde_json::Value;

use crate::domain::{Feasibility, Improvement, Risk, RiskCategory, Severity, ToolConfig};
use crate::error::Result;
use crate::ports::{FindingsBaseline, LlmProvider, ToolUnderReview};

pub use generate::generate;
pub use improvements::suggest;
pub use score::{assess, score_of, weight};

use injection::scan_text;
use permissions::scan_scopes;
use runtime::review_runtime;
use tools::review_tools;

/// The always-available [`LlmProvider`].
#[derive(Debug, Clone, Copy, Default)]
pub struct OfflineAnalyser;

impl OfflineAnalyser {
    pub fn new() -> Self {
        Self
    }
}

#[async_trait]
impl LlmProvider for OfflineAnalyser {
    fn name(&self) -> &str {
        "offline"
    }

    async fn feasibility(&self, config: &Value) -> Result<Feasibility> {
        Ok(assess(config))
    }

    async fn improvements(&self, tool: &ToolUnderReview) -> Result<Vec<Improvement>> {
        Ok(suggest(tool))
    }

    async fn generate_config(&self, requirements: &str) -> Result<Value> {
        Ok(generate(requirements))
    }
}

/// The offline analyser grounds and bounds a model-backed provider.
impl FindingsBaseline for OfflineAnalyser {
    fn review(&self, config: &Value) -> Vec<Risk> {
        review(config)
    }

    fn assess(&self, config: &Value) -> Feasibility {
        assess(config)
    }

    fn suggest(&self, tool: &ToolUnderReview) -> Vec<Improvement> {
        suggest(tool)
    }

    fn generate(&self, requirements: &str) -> Value {
        generate(requirements)
    }
}

// ---------------------------------------------------------------------------
// Findings
// ---------------------------------------------------------------------------

/// A JSON Pointer (RFC 6901) from path segments.
fn pointer<S: AsRef<str>>(parts: &[S]) -> String {
    let mut out = String::new();
    for p in parts {
        out.push('/');
        out.push_str(&p.as_ref().replace('~', "~0").replace('/', "~1"));
    }
    out
}

fn child(base: &str, segment: &str) -> String {
    format!("{base}{}", pointer(&[segment]))
}

#[derive(Default)]
struct Findings(Vec<Risk>);

impl Findings {
    fn add(
        &mut self,
        category: RiskCategory,
        severity: Severity,
        location: impl Into<String>,
        detail: impl Into<String>,
    ) {
        self.0.push(Risk {
            category,
            severity,
            location: location.into(),
            detail: detail.into(),
        });
    }

    /// Most severe first; stable for equal severities so the order follows
    /// the config.
    fn into_sorted(mut self) -> Vec<Risk> {
        self.0.sort_by_key(|r| std::cmp::Reverse(r.severity));
        self.0
    }
}

/// Every finding about `config`, most severe first. Never fails: any JSON
/// value is something to judge.
pub fn review(config: &Value) -> Vec<Risk> {
    let mut f = Findings::default();
    review_into(config, &mut f);
    f.into_sorted()
}

fn review_into(config: &Value, f: &mut Findings) {
    let Some(obj) = config.as_object() else {
        f.add(
            RiskCategory::Schema,
            Severity::Critical,
            "",
            "the config must be a JSON object",
        );
        return;
    };
    if let Err(errors) = ToolConfig::parse(config, &[]) {
        for e in errors {
            f.add(
                RiskCategory::Schema,
                Severity::High,
                pointer(&e.loc),
                format!("rejected by POST /mcps validation: {}", e.msg),
            );
        }
    }

    for loc in ["/description", "/server/description"] {
        if let Some(text) = config.pointer(loc).and_then(Value::as_str) {
            scan_text(text, loc, f);
        }
    }

    match obj.get("runtime").and_then(Value::as_object) {
        Some(rt) => review_runtime(rt, f),
        None if !obj.contains_key("runtime") => f.add(
            RiskCategory::Schema,
            Severity::Low,
            "/runtime",
            "no runtime: the platform cannot start or deploy this server \
             (add {\"transport\": \"stdio\", \"command\": …} or {\"transport\": \"streamable-http\", \"url\": …})",
        ),
        None => {}
    }

    match obj.get("tools") {
        None => f.add(
            RiskCategory::Schema,
            Severity::Medium,
            "/tools",
            "no tools declared: clients cannot discover what this server does",
        ),
        Some(Value::Array(tools)) if tools.is_empty() => f.add(
            RiskCategory::Schema,
            Severity::Medium,
            "/tools",
            "the tool list is empty",
        ),
        Some(Value::Array(tools)) => review_tools(tools, f),
        Some(_) => {} // reported by ToolConfig::parse
    }

    for key in ["prompts", "resources"] {
        if let Some(items) = obj.get(key).and_then(Value::as_array) {
            for (i, item) in items.iter().enumerate() {
                if let Some(d) = item.get("description").and_then(Value::as_str) {
                    scan_text(d, &pointer(&[key, &i.to_string(), "description"]), f);
                }
            }
        }
    }

    scan_scopes(config, "", false, f);
}

#[cfg(test)]
mod tests;
