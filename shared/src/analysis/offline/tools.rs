//! Rules on the declared tools: names (duplicates, MCP naming),
//! descriptions, input schemas (meta-schema, `type: object`, declared
//! required names, typed and described parameters) and the capabilities a
//! tool's name, description and parameters reveal (shell or code
//! execution, filesystem writes and deletes, arbitrary URLs).

use std::collections::HashMap;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

use super::injection::scan_text;
use super::{child, pointer, Findings};
use crate::domain::{RiskCategory, Severity};

/// Lowercase words of an identifier: `runShellCommand`, `run_shell-command`
/// and `run.shell.command` all give `run shell command`.
fn name_words(name: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        if !c.is_alphanumeric() {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            prev_lower = false;
            continue;
        }
        if c.is_uppercase() && prev_lower && !current.is_empty() {
            words.push(std::mem::take(&mut current));
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
        current.extend(c.to_lowercase());
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

fn any_word(words: &[String], set: &[&str]) -> bool {
    words.iter().any(|w| set.contains(&w.as_str()))
}

/// Why `text` does not say enough, if it does not.
pub(super) fn weak_description(text: &str, name: &str) -> Option<&'static str> {
    let t = text.trim();
    if t.is_empty() {
        return Some("is empty");
    }
    let squash = |s: &str| -> String {
        s.chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect()
    };
    if !name.is_empty() && squash(t) == squash(name) {
        return Some("only repeats the name");
    }
    if t.chars().count() < 20 || t.split_whitespace().count() < 3 {
        return Some("is too short to say what it does and when to use it");
    }
    None
}

pub(super) fn review_tools(tools: &[Value], f: &mut Findings) {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, tool) in tools.iter().enumerate() {
        let Some(t) = tool.as_object() else { continue };
        let base = pointer(&["tools", &i.to_string()]);
        let name = t.get("name").and_then(Value::as_str).unwrap_or("");
        if !name.is_empty() {
            if let Some(first) = seen.get(name) {
                f.add(
                    RiskCategory::DuplicateTool,
                    Severity::High,
                    child(&base, "name"),
                    format!("tool name `{name}` is also used by /tools/{first}: a client can call only one of them"),
                );
            } else {
                seen.insert(name, i);
            }
            let plain = name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
            if !plain {
                f.add(
                    RiskCategory::Schema,
                    Severity::Low,
                    child(&base, "name"),
                    format!("tool name `{name}` should use only letters, digits, '_', '-' and '.' (MCP tool naming)"),
                );
            }
        }
        let label = if name.is_empty() { "this tool" } else { name };
        let description = t.get("description").and_then(Value::as_str);
        match description {
            None => f.add(
                RiskCategory::Documentation,
                Severity::Medium,
                child(&base, "description"),
                format!("`{label}` has no description: the model cannot tell what it does or when to use it"),
            ),
            Some(d) => {
                if let Some(why) = weak_description(d, name) {
                    f.add(
                        RiskCategory::Documentation,
                        Severity::Low,
                        child(&base, "description"),
                        format!("the description of `{label}` {why}"),
                    );
                }
                scan_text(d, &child(&base, "description"), f);
            }
        }
        if let Some(title) = t.get("title").and_then(Value::as_str) {
            scan_text(title, &child(&base, "title"), f);
        }
        let schema_key = ["inputSchema", "input_schema"]
            .into_iter()
            .find(|k| t.contains_key(*k));
        let schema = schema_key.and_then(|k| t.get(k));
        match (schema_key, schema) {
            (Some(key), Some(s)) if s.is_object() => review_schema(s, &child(&base, key), f),
            (Some(_), _) => {} // not an object: reported by ToolConfig::parse
            (None, _) => f.add(
                RiskCategory::Schema,
                Severity::Medium,
                child(&base, "inputSchema"),
                format!("`{label}` has no inputSchema; MCP requires one ({{\"type\": \"object\"}} for a tool without arguments)"),
            ),
        }
        let schema_loc = child(&base, schema_key.unwrap_or("inputSchema"));
        review_capabilities(
            name,
            description.unwrap_or(""),
            schema,
            &base,
            &schema_loc,
            f,
        );
    }
}

fn meta_validate(schema: &Value) -> std::result::Result<(), (String, String)> {
    // The validator is third-party code run on user input: a panic there must
    // not take the job down with it.
    let outcome = std::panic::catch_unwind(|| {
        jsonschema::meta::validate(schema)
            .map_err(|e| (e.instance_path().as_str().to_owned(), e.to_string()))
    });
    match outcome {
        Ok(result) => result,
        Err(_) => Err((String::new(), "the schema could not be checked".to_owned())),
    }
}

fn review_schema(schema: &Value, loc: &str, f: &mut Findings) {
    if let Err((at, why)) = meta_validate(schema) {
        let why: String = why.chars().take(200).collect();
        f.add(
            RiskCategory::Schema,
            Severity::High,
            format!("{loc}{at}"),
            format!("not a valid JSON Schema: {why}"),
        );
    }
    match schema.get("type") {
        Some(Value::String(t)) if t == "object" => {}
        None => f.add(
            RiskCategory::Schema,
            Severity::Medium,
            child(loc, "type"),
            "the input schema has no type; MCP requires \"type\": \"object\"",
        ),
        Some(_) => f.add(
            RiskCategory::Schema,
            Severity::Medium,
            child(loc, "type"),
            "the input schema must have \"type\": \"object\" (tool arguments are a JSON object)",
        ),
    }
    let properties = schema.get("properties").and_then(Value::as_object);
    if let Some(props) = properties {
        let ploc = child(loc, "properties");
        for (pname, p) in props {
            let here = child(&ploc, pname);
            match p {
                Value::Object(po) => {
                    if po.get("description").and_then(Value::as_str).is_none() {
                        f.add(
                            RiskCategory::Documentation,
                            Severity::Low,
                            child(&here, "description"),
                            format!("parameter `{pname}` has no description"),
                        );
                    }
                    let typed = ["type", "enum", "const", "$ref", "anyOf", "oneOf", "allOf"]
                        .iter()
                        .any(|k| po.contains_key(*k));
                    if !typed {
                        f.add(
                            RiskCategory::Schema,
                            Severity::Low,
                            here.clone(),
                            format!("parameter `{pname}` has no type: the model has to guess what to send"),
                        );
                    }
                }
                Value::Bool(true) => f.add(
                    RiskCategory::Schema,
                    Severity::Low,
                    here.clone(),
                    format!("parameter `{pname}` accepts any value"),
                ),
                _ => {}
            }
        }
    }
    if let Some(required) = schema.get("required").and_then(Value::as_array) {
        for (k, r) in required.iter().enumerate() {
            if let Some(rname) = r.as_str() {
                if !properties.is_some_and(|p| p.contains_key(rname)) {
                    f.add(
                        RiskCategory::Schema,
                        Severity::Medium,
                        format!("{loc}/required/{k}"),
                        format!("required parameter `{rname}` is not declared in properties"),
                    );
                }
            }
        }
    }
    scan_schema_texts(schema, loc, f);
}

/// Scans every `description` and `title` in a schema, at any depth, for
/// injected instructions: the model reads them all.
fn scan_schema_texts(value: &Value, loc: &str, f: &mut Findings) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let here = child(loc, k);
                match v {
                    Value::String(s) if k == "description" || k == "title" => {
                        scan_text(s, &here, f);
                    }
                    _ => scan_schema_texts(v, &here, f),
                }
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                scan_schema_texts(v, &child(loc, &i.to_string()), f);
            }
        }
        _ => {}
    }
}

const FILE_WORDS: &[&str] = &[
    "file",
    "files",
    "dir",
    "directory",
    "directories",
    "folder",
    "folders",
    "path",
    "paths",
    "fs",
    "filesystem",
];
const FILE_PARAMS: &[&str] = &[
    "path",
    "paths",
    "file",
    "file_path",
    "filepath",
    "filename",
    "file_name",
    "directory",
    "dir",
    "dest",
    "destination",
    "source_path",
    "target_path",
];
const WRITE_WORDS: &[&str] = &[
    "write",
    "create",
    "edit",
    "update",
    "save",
    "put",
    "append",
    "overwrite",
    "move",
    "rename",
    "mkdir",
    "copy",
    "upload",
    "patch",
    "modify",
    "touch",
    "chmod",
    "chown",
];
const DELETE_WORDS: &[&str] = &[
    "delete", "remove", "rm", "unlink", "rmdir", "erase", "purge", "trash", "wipe",
];
const SHELL_WORDS: &[&str] = &[
    "shell",
    "bash",
    "sh",
    "zsh",
    "powershell",
    "pwsh",
    "terminal",
    "eval",
    "subprocess",
    "cmd",
];
const URL_PARAMS: &[&str] = &["url", "uri", "href", "link", "endpoint", "address"];

static SHELL_DESC: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\b(execut\w*|runs?|running|evaluat\w*|invok\w*|spawn\w*)\b[^.!?\n]{0,30}?\b(commands?|scripts?|(arbitrary|python|javascript|js|shell|bash|system|ruby|perl|node)\s+code)\b|\b(shell|terminal|bash)\b",
    )
    .expect("static regex")
});
static FILE_DESC: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\b(writes?|creates?|edits?|overwrites?|saves?|moves?|renames?|appends?|modif(y|ies)|deletes?|removes?|erases?|unlinks?)\b\s+(to\s+)?(a|an|the|one or more|multiple|any)?\s*(new\s+|existing\s+|local\s+)?(files?|director(y|ies)|folders?)\b",
    )
    .expect("static regex")
});
static WRITE_DESC: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(writes?|writing|creates?|edits?|overwrites?|saves?|moves?|renames?|appends?|modif(y|ies)|uploads?|copies)\b")
        .expect("static regex")
});
static DELETE_DESC: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(deletes?|deleting|removes?|removing|erases?|unlinks?|wipes?|purges?)\b")
        .expect("static regex")
});
static WEB_DESC: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(urls?|web ?pages?|websites?|internet|https?)\b").expect("static regex")
});

fn review_capabilities(
    name: &str,
    description: &str,
    schema: Option<&Value>,
    base: &str,
    schema_loc: &str,
    f: &mut Findings,
) {
    let words = name_words(name);
    let label = if name.is_empty() { "this tool" } else { name };
    let params: Vec<(String, &Value)> = schema
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object)
        .map(|p| p.iter().map(|(k, v)| (k.to_ascii_lowercase(), v)).collect())
        .unwrap_or_default();
    let is_free_string = |p: &Value| {
        let t = p.get("type");
        let stringy = t.is_none_or(|t| {
            t == "string"
                || t.as_array()
                    .is_some_and(|a| a.iter().any(|x| x == "string"))
        });
        // A pattern restricts only if it rejects arbitrary values: `^https://`
        // or `.*` still let anything through.
        let pattern_restricts = p.get("pattern").and_then(Value::as_str).is_some_and(|pat| {
            Regex::new(pat).is_ok_and(|re| {
                !["https://attacker.invalid/x", "rm -rf /tmp/x", "x"]
                    .iter()
                    .any(|probe| re.is_match(probe))
            })
        });
        stringy && !pattern_restricts && p.get("enum").is_none() && p.get("const").is_none()
    };

    // Shell / code execution.
    let runs = any_word(
        &words,
        &["run", "exec", "execute", "invoke", "eval", "spawn"],
    );
    let code = any_word(
        &words,
        &[
            "command", "commands", "script", "scripts", "code", "program", "process",
        ],
    );
    let shell_param = params.iter().find(|(k, p)| {
        matches!(
            k.as_str(),
            "command" | "cmd" | "script" | "code" | "shell_command"
        ) && is_free_string(p)
    });
    let mut evidence = Vec::new();
    if any_word(&words, SHELL_WORDS) || (runs && code) {
        evidence.push("its name".to_owned());
    }
    if SHELL_DESC.is_match(description) {
        evidence.push("its description".to_owned());
    }
    if let Some((k, _)) = shell_param {
        evidence.push(format!("its free-text `{k}` parameter"));
    }
    if !evidence.is_empty() {
        f.add(
            RiskCategory::ShellExecution,
            Severity::High,
            base,
            format!(
                "`{label}` runs shell commands or arbitrary code (by {}); run it only in a sandbox, with an allow-list of commands",
                evidence.join(", ")
            ),
        );
    }

    // Filesystem writes and deletes.
    let file_context = any_word(&words, FILE_WORDS)
        || params
            .iter()
            .any(|(k, _)| FILE_PARAMS.contains(&k.as_str()))
        || FILE_DESC.is_match(description);
    if file_context {
        if any_word(&words, DELETE_WORDS) || DELETE_DESC.is_match(description) {
            f.add(
                RiskCategory::FilesystemWrite,
                Severity::High,
                base,
                format!("`{label}` deletes files: confine it to an allowed directory and mark it destructive (annotations.destructiveHint)"),
            );
        } else if any_word(&words, WRITE_WORDS) || WRITE_DESC.is_match(description) {
            f.add(
                RiskCategory::FilesystemWrite,
                Severity::Medium,
                base,
                format!("`{label}` writes to the filesystem: confine it to an allowed directory"),
            );
        }
    }

    // Network: arbitrary URLs.
    let url_param = params.iter().find(|(k, p)| {
        (URL_PARAMS.contains(&k.as_str()) || k.ends_with("_url") || k.ends_with("_uri"))
            && is_free_string(p)
    });
    let fetches = any_word(
        &words,
        &[
            "fetch", "curl", "wget", "http", "download", "scrape", "crawl", "browse", "request",
        ],
    ) && (any_word(
        &words,
        &["url", "urls", "web", "page", "http", "website", "internet"],
    ) || WEB_DESC.is_match(description));
    if let Some((k, _)) = url_param {
        f.add(
            RiskCategory::NetworkAccess,
            Severity::Medium,
            child(&child(schema_loc, "properties"), k),
            format!("`{label}` reaches any URL given in `{k}` (server-side request forgery, data exfiltration); restrict it with a pattern or an allow-list of hosts"),
        );
    } else if fetches {
        f.add(
            RiskCategory::NetworkAccess,
            Severity::Medium,
            base,
            format!("`{label}` fetches arbitrary web content, which can carry instructions aimed at the model; restrict the hosts it may reach"),
        );
    }
}
