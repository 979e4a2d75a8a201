//! What to improve in a registered tool: the findings about its registry
//! entry and config grouped into one item per category, then info-level
//! suggestions (annotations, parameter examples).

use serde_json::{Map, Value};

use super::injection::scan_text;
use super::score::{categories_by_severity, recommendation};
use super::tools::weak_description;
use super::{review_into, Findings};
use crate::domain::{Improvement, Risk, RiskCategory, Severity};
use crate::ports::ToolUnderReview;

fn improvement_title(category: RiskCategory) -> &'static str {
    match category {
        RiskCategory::Schema => "Fix the config and input schemas",
        RiskCategory::Documentation => "Document the server, tools and parameters",
        RiskCategory::DuplicateTool => "Rename duplicate tools",
        RiskCategory::ShellExecution => "Remove or sandbox shell execution",
        RiskCategory::FilesystemWrite => "Confine filesystem writes",
        RiskCategory::NetworkAccess => "Restrict network access",
        RiskCategory::Secret => "Move secrets out of the config",
        RiskCategory::InsecureTransport => "Use https for the remote server",
        RiskCategory::PromptInjection => "Remove instructions aimed at the model",
        RiskCategory::BroadPermission => "Narrow the permissions",
        RiskCategory::SupplyChain => "Pin versions",
    }
}

/// Findings listed in one improvement before "and N more".
const LISTED_PER_IMPROVEMENT: usize = 5;

/// What to improve in a registered tool: one item per category of finding
/// (most severe first), then info-level suggestions; never empty.
pub fn suggest(tool: &ToolUnderReview) -> Vec<Improvement> {
    let mut f = Findings::default();
    // The registry's own description first: it is what users see.
    match tool.description.as_deref() {
        None => f.add(
            RiskCategory::Documentation,
            Severity::Low,
            "",
            format!(
                "the tool `{}` has no description in the registry",
                tool.name
            ),
        ),
        Some(d) => {
            if let Some(why) = weak_description(d, &tool.name) {
                f.add(
                    RiskCategory::Documentation,
                    Severity::Low,
                    "",
                    format!("the registry description of `{}` {why}", tool.name),
                );
            }
            scan_text(d, "", &mut f);
        }
    }
    review_into(&tool.config, &mut f);
    let risks = f.into_sorted();

    let mut out = Vec::new();
    for (category, severity) in categories_by_severity(&risks) {
        let items: Vec<&Risk> = risks.iter().filter(|r| r.category == category).collect();
        let mut listed: Vec<String> = items
            .iter()
            .take(LISTED_PER_IMPROVEMENT)
            .map(|r| {
                if r.location.is_empty() {
                    r.detail.clone()
                } else {
                    format!("{} ({})", r.detail, r.location)
                }
            })
            .collect();
        if items.len() > LISTED_PER_IMPROVEMENT {
            listed.push(format!("and {} more", items.len() - LISTED_PER_IMPROVEMENT));
        }
        out.push(Improvement {
            title: improvement_title(category).to_owned(),
            detail: format!("{} Found: {}.", recommendation(category), listed.join("; ")),
            severity,
        });
    }

    let tools: Vec<&Map<String, Value>> = tool
        .config
        .get("tools")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_object).collect())
        .unwrap_or_default();
    let tool_name = |t: &Map<String, Value>| -> String {
        t.get("name")
            .and_then(Value::as_str)
            .unwrap_or("(unnamed)")
            .to_owned()
    };
    let unannotated: Vec<String> = tools
        .iter()
        .filter(|t| !t.get("annotations").is_some_and(Value::is_object))
        .map(|t| tool_name(t))
        .collect();
    if !unannotated.is_empty() {
        out.push(Improvement {
            title: "Add tool annotations".to_owned(),
            detail: format!(
                "Set annotations (readOnlyHint, destructiveHint, idempotentHint, openWorldHint) on {} so clients know which calls need confirmation.",
                unannotated.join(", ")
            ),
            severity: Severity::Info,
        });
    }
    let without_examples: Vec<String> = tools
        .iter()
        .flat_map(|t| {
            let name = tool_name(t);
            t.get("inputSchema")
                .or_else(|| t.get("input_schema"))
                .and_then(|s| s.get("properties"))
                .and_then(Value::as_object)
                .map(|props| {
                    props
                        .iter()
                        .filter(|(_, p)| {
                            p.is_object()
                                && ["examples", "default", "enum", "const"]
                                    .iter()
                                    .all(|k| p.get(*k).is_none())
                        })
                        .map(|(k, _)| format!("{name}.{k}"))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        })
        .collect();
    if !without_examples.is_empty() {
        let mut shown: Vec<String> = without_examples
            .iter()
            .take(LISTED_PER_IMPROVEMENT)
            .cloned()
            .collect();
        if without_examples.len() > LISTED_PER_IMPROVEMENT {
            shown.push(format!(
                "and {} more",
                without_examples.len() - LISTED_PER_IMPROVEMENT
            ));
        }
        out.push(Improvement {
            title: "Add examples to parameters".to_owned(),
            detail: format!(
                "Give parameters `examples` (or a `default`) so the model sends well-formed values: {}.",
                shown.join(", ")
            ),
            severity: Severity::Info,
        });
    }
    if out.is_empty() {
        out.push(Improvement {
            title: "Nothing to fix".to_owned(),
            detail: "No problems found. Keep a changelog with each version and document what each tool returns, so reviewers can follow changes.".to_owned(),
            severity: Severity::Info,
        });
    }
    out
}
