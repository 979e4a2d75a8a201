//! Grants anywhere in the config: wildcard scopes, root paths and
//! allow-all switches under scope-like keys (`scopes`, `permissions`,
//! `allowed_directories`…), and the name/value tests the runtime rules
//! share for `env`.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

use super::runtime::ROOT_PATHS;
use super::{child, Findings};
use crate::domain::{RiskCategory, Severity};

pub(super) fn is_scope_name(name: &str) -> bool {
    static SCOPE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?i)(scope|permission|allow|grant|access[_\-]?level|roles?$|capabilit)")
            .expect("static regex")
    });
    SCOPE.is_match(name)
}

pub(super) fn is_broad_grant(value: &str) -> bool {
    let v = value.trim().to_ascii_lowercase();
    v.contains('*')
        || matches!(
            v.as_str(),
            "all"
                | "admin"
                | "root"
                | "full"
                | "full_access"
                | "full-access"
                | "superuser"
                | "owner"
                | "any"
        )
}

/// Wildcard grants under scope-like keys (`scopes: ["repo:*"]`,
/// `permissions: {filesystem: "*"}`). Tool input schemas are skipped: their
/// keys are parameter names, not grants; runtime env/args have their own
/// rules.
pub(super) fn scan_scopes(value: &Value, loc: &str, in_scope: bool, f: &mut Findings) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let here = child(loc, k);
                let skip = k == "inputSchema"
                    || k == "input_schema"
                    || here == "/runtime/env"
                    || here == "/runtime/args"
                    || here == "/runtime/headers";
                if !skip {
                    scan_scopes(v, &here, in_scope || is_scope_name(k), f);
                }
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                scan_scopes(v, &child(loc, &i.to_string()), in_scope, f);
            }
        }
        Value::String(s) if in_scope && is_broad_grant(s) => f.add(
            RiskCategory::BroadPermission,
            Severity::High,
            loc,
            format!("grants everything (`{s}`); list only what the tools need"),
        ),
        // `allowed_directories: ["/"]` and the like.
        Value::String(s)
            if in_scope && ROOT_PATHS.contains(&s.trim().to_ascii_lowercase().as_str()) =>
        {
            f.add(
                RiskCategory::BroadPermission,
                Severity::High,
                loc,
                format!("`{s}` opens the whole filesystem or home directory; list only the directories the tools need"),
            )
        }
        Value::Bool(true) if in_scope && loc.to_ascii_lowercase().contains("all") => f.add(
            RiskCategory::BroadPermission,
            Severity::High,
            loc,
            "an allow-all switch is on",
        ),
        _ => {}
    }
}
