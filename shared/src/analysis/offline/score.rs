//! Feasibility: the score of a set of findings (the formula is in the
//! module docs of [`super`]), the verdict, its reasoning and one
//! recommendation per category.

use std::collections::BTreeMap;

use serde_json::Value;

use super::review;
use crate::domain::{Feasibility, Risk, RiskCategory, Severity, FEASIBLE_SCORE};

/// Findings of one category that count towards the score.
const COUNTED_PER_CATEGORY: usize = 3;

/// How much one finding of this severity takes off the score.
pub fn weight(severity: Severity) -> f64 {
    match severity {
        Severity::Info => 0.0,
        Severity::Low => 0.03,
        Severity::Medium => 0.1,
        Severity::High => 0.25,
        Severity::Critical => 0.6,
    }
}

/// `Π (1 − weight)` over the [`COUNTED_PER_CATEGORY`] most severe findings of
/// each category; in `[0, 1]` by construction (every factor is).
pub fn score_of(risks: &[Risk]) -> f64 {
    let mut per_category: BTreeMap<RiskCategory, Vec<Severity>> = BTreeMap::new();
    for r in risks {
        per_category.entry(r.category).or_default().push(r.severity);
    }
    let mut score = 1.0;
    for severities in per_category.values_mut() {
        severities.sort_unstable_by(|a, b| b.cmp(a));
        for s in severities.iter().take(COUNTED_PER_CATEGORY) {
            score *= 1.0 - weight(*s);
        }
    }
    // Three decimals keep results stable to compare and read.
    (score * 1000.0).round() / 1000.0
}

/// What to do about a category of findings.
pub(super) fn recommendation(category: RiskCategory) -> &'static str {
    match category {
        RiskCategory::Schema => "Fix the config's structure: give every tool an inputSchema that is valid JSON Schema with \"type\": \"object\", declare every required parameter, and add a runtime.",
        RiskCategory::Documentation => "Describe the server, every tool (what it does, when to use it, what it returns) and every parameter (format, units, an example).",
        RiskCategory::DuplicateTool => "Give every tool a unique name.",
        RiskCategory::ShellExecution => "Replace shell or code execution with narrow tools, or run the server in a sandbox (container without network, read-only filesystem) with an allow-list of commands.",
        RiskCategory::FilesystemWrite => "Confine file writes and deletes to one allowed directory and mark destructive tools with annotations.destructiveHint so clients ask for confirmation.",
        RiskCategory::NetworkAccess => "Restrict the hosts tools may reach (an allow-list or a URL pattern) and treat fetched content as untrusted input.",
        RiskCategory::Secret => "Remove literal credentials from the config: reference them as ${VAR} placeholders filled from a secret store, and rotate the exposed ones.",
        RiskCategory::InsecureTransport => "Serve the remote MCP endpoint over https.",
        RiskCategory::PromptInjection => "Rewrite descriptions as plain documentation for the user: no instructions to the model, no hidden tags, invisible characters or encoded text. Treat this tool as malicious until its author explains them.",
        RiskCategory::BroadPermission => "Grant least privilege: list the directories, scopes and hosts the tools need instead of wildcards, root paths or allow-all flags, and never run as root.",
        RiskCategory::SupplyChain => "Pin the package or image to an exact version (or digest) so every start runs the code that was reviewed.",
    }
}

fn category_label(category: RiskCategory) -> &'static str {
    match category {
        RiskCategory::Schema => "schema",
        RiskCategory::Documentation => "documentation",
        RiskCategory::DuplicateTool => "duplicate tool names",
        RiskCategory::ShellExecution => "shell or code execution",
        RiskCategory::FilesystemWrite => "filesystem writes",
        RiskCategory::NetworkAccess => "network access",
        RiskCategory::Secret => "secrets in the config",
        RiskCategory::InsecureTransport => "plain-http transport",
        RiskCategory::PromptInjection => "prompt injection",
        RiskCategory::BroadPermission => "broad permissions",
        RiskCategory::SupplyChain => "unpinned versions",
    }
}

/// Categories present, most severe first (ties in category order).
pub(super) fn categories_by_severity(risks: &[Risk]) -> Vec<(RiskCategory, Severity)> {
    let mut worst: BTreeMap<RiskCategory, Severity> = BTreeMap::new();
    for r in risks {
        let e = worst.entry(r.category).or_insert(r.severity);
        *e = (*e).max(r.severity);
    }
    let mut out: Vec<_> = worst.into_iter().collect();
    out.sort_by_key(|c| std::cmp::Reverse(c.1));
    out
}

/// The feasibility of `config` (see the module docs for the formula).
pub fn assess(config: &Value) -> Feasibility {
    let risks = review(config);
    let score = score_of(&risks);
    let critical = risks
        .iter()
        .filter(|r| r.severity == Severity::Critical)
        .count();
    let is_feasible = critical == 0 && score >= FEASIBLE_SCORE;

    let tools = config
        .get("tools")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let mut reasoning = if risks.is_empty() {
        format!(
            "Score {score:.3}. No problems found in {tools} tool(s): valid input schemas, descriptions present, no risky capability, secret or injected instruction."
        )
    } else {
        let mut counts: Vec<String> = Vec::new();
        for s in [
            Severity::Critical,
            Severity::High,
            Severity::Medium,
            Severity::Low,
            Severity::Info,
        ] {
            let n = risks.iter().filter(|r| r.severity == s).count();
            if n > 0 {
                counts.push(format!("{n} {}", s.as_str()));
            }
        }
        let areas: Vec<&str> = categories_by_severity(&risks)
            .into_iter()
            .map(|(c, _)| category_label(c))
            .collect();
        let top = &risks[0];
        let at = if top.location.is_empty() {
            "the config".to_owned()
        } else {
            top.location.clone()
        };
        format!(
            "Score {score:.3} from {} finding(s) in {tools} tool(s) ({}), concerning {}. Most serious at {at}: {}.",
            risks.len(),
            counts.join(", "),
            areas.join(", "),
            top.detail
        )
    };
    reasoning.push(' ');
    reasoning.push_str(&if is_feasible {
        format!("Feasible: no critical finding and a score of at least {FEASIBLE_SCORE}.")
    } else if critical > 0 {
        format!("Not feasible: {critical} critical finding(s) must be fixed first.")
    } else {
        format!("Not feasible: the score is below {FEASIBLE_SCORE}.")
    });

    let recommendations = categories_by_severity(&risks)
        .into_iter()
        .map(|(c, _)| recommendation(c).to_owned())
        .collect();
    Feasibility {
        score,
        is_feasible,
        reasoning,
        risks,
        recommendations,
    }
}
