//! Config generation: a config built from free-text requirements, clause
//! by clause ("verb + object", the service named or carried over), with a
//! runtime chosen from the text. The words it knows are in `vocabulary`,
//! how one tool is built from a verb and an object in `build`.

mod build;
mod vocabulary;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use regex::Regex;
use serde_json::{json, Value};

use build::{build_tool, string_param};
use vocabulary::{
    find_object, find_service, find_verb, object_of, Service, Verb, LIST_WORDS, PRONOUNS, STOPWORDS,
};

static URL_IN_TEXT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"https?://[^\s"'<>),]+"#).expect("static regex"));
static CLAUSE_SPLIT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[,;.!?:\n]+|\b(and|then|also|plus|while)\b").expect("static regex")
});
static WORD: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"[a-z0-9_]+").expect("static regex"));

/// A config for `requirements` that passes `POST /mcps` validation: a
/// runtime chosen from the text (npx by default; uvx, docker or a remote
/// URL when named), one tool per "verb + object" clause with an input
/// schema, descriptions and annotations, and secrets as `${VAR}`
/// placeholders. Deterministic: the same text gives the same config.
pub fn generate(requirements: &str) -> Value {
    let text = requirements.to_lowercase();
    let mut prepared = text.clone();
    for (from, to) in [
        ("pull requests", "pull_requests"),
        ("pull request", "pull_request"),
        ("merge requests", "pull_requests"),
        ("look up", "lookup"),
        ("e-mails", "emails"),
        ("e-mail", "email"),
        ("web pages", "webpages"),
        ("web page", "webpage"),
        ("web sites", "websites"),
        ("file system", "filesystem"),
    ] {
        prepared = prepared.replace(from, to);
    }
    // URLs would be split at their dots; they only matter for the runtime.
    let prepared = URL_IN_TEXT.replace_all(&prepared, " ");

    let mut services: Vec<&'static Service> = Vec::new();
    let mut tools: Vec<Value> = Vec::new();
    let mut names: BTreeSet<String> = BTreeSet::new();
    let mut last_service: Option<&'static Service> = None;
    let mut pending_verb: Option<Verb> = None;
    let mut last_object: Option<((&'static str, &'static str), bool)> = None;
    for clause in CLAUSE_SPLIT.split(&prepared) {
        let words: Vec<&str> = WORD.find_iter(clause).map(|m| m.as_str()).collect();
        let service = words.iter().find_map(|w| find_service(w));
        let mut object = words.iter().find_map(|w| find_object(w));
        let verb_word = words.iter().copied().find(|w| find_verb(w).is_some());
        let verb = verb_word.and_then(find_verb).or(pending_verb);
        // "create Linear issues and update them": a pronoun stands for the
        // last thing named.
        if service.is_none() && object.is_none() && words.iter().any(|w| PRONOUNS.contains(w)) {
            object = last_object;
        }
        if let Some(s) = service {
            if !services.iter().any(|k| k.id == s.id) {
                services.push(s);
            }
        }
        let Some(verb) = verb else { continue };
        if service.is_none() && object.is_none() {
            // "reads and summarises GitHub issues": the verb belongs to
            // the next clause.
            pending_verb = Some(verb);
            continue;
        }
        pending_verb = None;
        // An object names its own service when none is given ("files",
        // "web pages"); otherwise the last service named carries over.
        let service = service
            .or_else(|| {
                object.and_then(|((s, p), _)| {
                    find_service(s)
                        .or_else(|| find_service(p))
                        .filter(|svc| svc.id == "files" || svc.id == "web")
                })
            })
            .or(last_service);
        let Some(service) = service else { continue };
        if !services.iter().any(|k| k.id == service.id) {
            services.push(service);
        }
        last_service = Some(service);
        let (object, plural) = match object {
            Some((o, plural)) => (o, plural),
            None => (
                object_of(service.object),
                verb == Verb::Read || verb == Verb::Search,
            ),
        };
        last_object = Some((object, plural));
        // "read files" means reading them one at a time; listing is asked
        // for as such.
        let plural = plural
            && !(object.0 == "file"
                && verb == Verb::Read
                && !verb_word.is_some_and(|w| LIST_WORDS.contains(&w)));
        let tool = build_tool(verb, service, object, plural);
        if let Some(name) = tool.get("name").and_then(Value::as_str) {
            if names.insert(name.to_owned()) {
                tools.push(tool);
            }
        }
    }
    // Services named without anything to do with them still get a tool.
    for service in &services {
        let has_tool = tools.iter().any(|t| {
            t.get("name")
                .and_then(Value::as_str)
                .is_some_and(|n| n.contains(service.id) || matches!(service.id, "files" | "web"))
        });
        if !has_tool {
            let tool = build_tool(Verb::Read, service, object_of(service.object), true);
            if let Some(name) = tool.get("name").and_then(Value::as_str) {
                if names.insert(name.to_owned()) {
                    tools.push(tool);
                }
            }
        }
    }

    let significant: Vec<&str> = WORD
        .find_iter(&prepared)
        .map(|m| m.as_str())
        .filter(|w| {
            w.len() >= 3
                && !STOPWORDS.contains(w)
                && w.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        .take(3)
        .collect();
    let slug = if !services.is_empty() {
        services.iter().map(|s| s.id).collect::<Vec<_>>().join("-")
    } else if !significant.is_empty() {
        significant.join("-")
    } else {
        "custom-tool".to_owned()
    };
    let slug: String = slug
        .chars()
        .take(60)
        .collect::<String>()
        .trim_end_matches('-')
        .to_owned();

    if tools.is_empty() {
        let name = slug.replace('-', "_");
        tools.push(json!({
            "name": name,
            "description": format!("Performs the requested task ({}) on the given input and returns the result as text.", slug.replace('-', " ")),
            "inputSchema": {
                "type": "object",
                "properties": {"input": string_param("The text the tool works on")},
                "required": ["input"],
                "additionalProperties": false,
            },
            "annotations": {"readOnlyHint": true, "destructiveHint": false, "idempotentHint": true, "openWorldHint": false},
        }));
    }

    let env: BTreeMap<&str, String> = services
        .iter()
        .filter_map(|s| s.env)
        .map(|v| (v, format!("${{{v}}}")))
        .collect();
    let has_word = |ws: &[&str]| WORD.find_iter(&text).any(|m| ws.contains(&m.as_str()));
    let url = URL_IN_TEXT
        .find(requirements)
        .map(|m| m.as_str().trim_end_matches(['.', ';', ':']).to_owned());
    let remote = has_word(&[
        "remote",
        "remotely",
        "hosted",
        "streamable",
        "sse",
        "endpoint",
    ]) || text.contains("over http");
    let package = format!("{slug}-mcp");
    let runtime = if remote {
        let url = url.unwrap_or_else(|| format!("https://{slug}.example.com/mcp"));
        json!({"transport": "streamable-http", "url": url})
    } else if has_word(&["docker", "container", "containers", "podman"]) {
        let mut args = vec!["run".to_owned(), "-i".to_owned(), "--rm".to_owned()];
        for v in env.keys() {
            args.push("-e".to_owned());
            args.push((*v).to_owned());
        }
        args.push(format!("mcp/{package}:0.1.0"));
        json!({"transport": "stdio", "command": "docker", "args": args, "env": env})
    } else if has_word(&["uvx", "python", "pip", "pypi", "uv", "pipx"]) {
        json!({"transport": "stdio", "command": "uvx", "args": [format!("{package}==0.1.0")], "env": env})
    } else {
        json!({"transport": "stdio", "command": "npx", "args": ["-y", format!("{package}@0.1.0")], "env": env})
    };

    let tool_names: Vec<&str> = tools
        .iter()
        .filter_map(|t| t.get("name").and_then(Value::as_str))
        .collect();
    let about = if services.is_empty() {
        String::new()
    } else {
        format!(
            " for {}",
            services
                .iter()
                .map(|s| s.label)
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    json!({
        "name": slug,
        "description": format!("MCP server{about} with {} tool(s): {}.", tool_names.len(), tool_names.join(", ")),
        "runtime": runtime,
        "tools": tools,
    })
}
