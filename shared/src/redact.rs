//! Secrets inside tool configurations: `runtime.env` values (API keys handed
//! to a stdio server) and `runtime.headers` values (credentials for a remote
//! one). Only a tool's author and admins read them; everyone else who may
//! read the tool sees the names with masked values — in the tool, in every
//! history snapshot and in every history diff.

use serde_json::Value;

use crate::domain::{Principal, Role};

pub const MASK: &str = "********";

/// Members of `runtime` whose values are secrets.
const SECRET_MAPS: [&str; 2] = ["env", "headers"];

/// Whether `principal` reads the secrets of a tool written by `author_id`.
pub fn may_read_secrets(principal: &Principal, author_id: uuid::Uuid) -> bool {
    principal.role == Role::Admin || principal.user_id == author_id
}

fn mask_values(map: &mut Value) {
    if let Value::Object(entries) = map {
        for value in entries.values_mut() {
            *value = Value::String(MASK.into());
        }
    }
}

fn runtime(runtime: &mut Value) {
    for key in SECRET_MAPS {
        if let Some(map) = runtime.get_mut(key) {
            mask_values(map);
        }
    }
}

/// Masks the secrets of a tool configuration in place.
pub fn config(config: &mut Value) {
    if let Some(rt) = config.get_mut("runtime") {
        runtime(rt);
    }
}

/// Masks the secrets of a tool snapshot (`{name, …, config}`) in place.
pub fn snapshot(snapshot: &mut Value) {
    if let Some(cfg) = snapshot.get_mut("config") {
        config(cfg);
    }
}

/// Masks the secrets an RFC 6902 patch over snapshots carries: a value
/// added or replaced at, or above, `/config/runtime/{env,headers}`.
pub fn patch(patch: &mut Value) {
    let Some(ops) = patch.as_array_mut() else {
        return;
    };
    for op in ops {
        let path = op
            .get("path")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let Some(value) = op.get_mut("value") else {
            continue;
        };
        let segments: Vec<&str> = path.split('/').skip(1).collect();
        match segments.as_slice() {
            [] => snapshot(value),
            ["config"] => config(value),
            ["config", "runtime"] => runtime(value),
            ["config", "runtime", map] if SECRET_MAPS.contains(map) => mask_values(value),
            ["config", "runtime", map, ..] if SECRET_MAPS.contains(map) => {
                *value = Value::String(MASK.into())
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn env_and_header_values_are_masked_and_names_kept() {
        let mut cfg = json!({"runtime": {"transport": "stdio", "command": "node",
            "env": {"API_KEY": "sk-live-123"}, "headers": {"Authorization": "Bearer x"}}, "tools": []});
        config(&mut cfg);
        assert_eq!(cfg["runtime"]["env"], json!({"API_KEY": MASK}));
        assert_eq!(cfg["runtime"]["headers"], json!({"Authorization": MASK}));
        assert_eq!(cfg["runtime"]["command"], "node");
    }

    #[test]
    fn every_patch_shape_that_can_carry_a_secret_is_masked() {
        let secret = "sk-live-123";
        let mut ops = json!([
            {"op": "add", "path": "/config", "value": {"runtime": {"env": {"K": secret}}}},
            {"op": "add", "path": "/config/runtime", "value": {"env": {"K": secret}}},
            {"op": "add", "path": "/config/runtime/env", "value": {"K": secret}},
            {"op": "replace", "path": "/config/runtime/env/K", "value": secret},
            {"op": "add", "path": "/config/runtime/headers/Authorization", "value": secret},
            {"op": "replace", "path": "/version", "value": "1.1.0"},
            {"op": "remove", "path": "/config/runtime/env/OLD"}
        ]);
        patch(&mut ops);
        assert!(!ops.to_string().contains(secret), "{ops}");
        assert_eq!(ops[5]["value"], "1.1.0", "other values stay");
    }
}
