//! The dependency rule, checked: modules low in the stack must not name
//! modules above them (docs/architecture.md, "Layers"). Each rule lists
//! the crate modules a folder or file may reach; a `crate::x` path in code
//! (not comments) outside that list fails the test with the file and line.

use std::path::{Path, PathBuf};

/// The leaf helpers: they import nothing of the crate, so anything may use them.
const LEAVES: &[&str] = &["text", "digest", "request_id"];

/// The bottom layers with the leaves: all an adapter may reach.
const BELOW_ADAPTERS: &[&str] = &[
    "domain",
    "ports",
    "error",
    "config",
    "text",
    "digest",
    "request_id",
];

/// (path under `src/`, the crate modules it may name besides itself and [`LEAVES`]).
const RULES: &[(&str, &[&str])] = &[
    // Adapters implement ports; they never reach up into services.
    ("adapters", BELOW_ADAPTERS),
    // Entities and the traits that speak in them name only each other.
    ("domain", &["error"]),
    ("ports.rs", &["domain", "error"]),
    ("ports", &["domain", "error"]),
    ("error.rs", &[]),
    // Configuration is read by everything, so it names nothing but errors.
    ("config", &["error"]),
    ("text.rs", &[]),
    ("digest.rs", &[]),
    ("request_id.rs", &[]),
];

fn rust_files(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_file() {
        if path.extension().is_some_and(|e| e == "rs") {
            out.push(path.to_owned());
        }
        return;
    }
    let Ok(entries) = std::fs::read_dir(path) else {
        return;
    };
    for entry in entries.flatten() {
        rust_files(&entry.path(), out);
    }
}

/// The crate modules a line of code names (`crate::x`, `crate::{x, y}`),
/// with comments and string literals' contents ignored only as far as a
/// line-based reader can: lines that are comments are skipped whole.
fn named_modules(line: &str) -> Vec<String> {
    let code = line.trim_start();
    if code.starts_with("//") {
        return Vec::new();
    }
    let code = code.split(" //").next().unwrap_or(code);
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let after = &rest[at + "crate::".len()..];
        if let Some(group) = after.strip_prefix('{') {
            let inner = group.split('}').next().unwrap_or("");
            for part in inner.split(',') {
                let name: String = part
                    .trim()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    found.push(name);
                }
            }
        } else {
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                found.push(name);
            }
        }
        rest = after;
    }
    found
}

/// Every `file:line: names crate::x` that breaks a rule.
fn violations(src: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for (scope, allowed) in RULES {
        let own = scope.trim_end_matches(".rs");
        let mut files = Vec::new();
        rust_files(&src.join(scope), &mut files);
        for file in files {
            let Ok(text) = std::fs::read_to_string(&file) else {
                out.push(format!("{}: unreadable", file.display()));
                continue;
            };
            for (n, line) in text.lines().enumerate() {
                for module in named_modules(line) {
                    let ok = module == own
                        || LEAVES.contains(&module.as_str())
                        || allowed.contains(&module.as_str());
                    if !ok {
                        let shown = file.strip_prefix(src).unwrap_or(&file);
                        out.push(format!(
                            "src/{}:{}: `{own}` may not name crate::{module}",
                            shown.display(),
                            n + 1
                        ));
                    }
                }
            }
        }
    }
    out
}

#[test]
fn low_layers_name_no_module_above_them() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let found = violations(&src);
    assert!(
        found.is_empty(),
        "the dependency rule is broken:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_reader_finds_paths_and_groups_and_skips_comments() {
    assert_eq!(named_modules("use crate::jobs::NewJob;"), ["jobs"]);
    assert_eq!(
        named_modules("use crate::{gateway::X, ports::Y};"),
        ["gateway", "ports"]
    );
    assert_eq!(
        named_modules("    let x = crate::state::AppState::build(s);"),
        ["state"]
    );
    assert!(named_modules("/// see [`X`](crate::jobs::X)").is_empty());
    assert_eq!(named_modules("f(); // crate::jobs"), Vec::<String>::new());
}
