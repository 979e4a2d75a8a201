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

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::LazyLock;

use async_trait::async_trait;
use base64::Engine as _;
use regex::Regex;
use serde_json::{json, Map, Value};

use super::{Feasibility, Improvement, LlmProvider, Risk, RiskCategory, Severity, ToolUnderReview};
use crate::domain::ToolConfig;
use crate::error::Result;

/// The lowest score a feasible config may have.
pub const FEASIBLE_SCORE: f64 = 0.5;

/// Findings of one category that count towards the score.
const COUNTED_PER_CATEGORY: usize = 3;

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

// ---------------------------------------------------------------------------
// Runtime: command, args, env, url
// ---------------------------------------------------------------------------

const SHELLS: &[&str] = &[
    "sh",
    "bash",
    "zsh",
    "dash",
    "ksh",
    "fish",
    "cmd",
    "powershell",
    "pwsh",
];
/// Interpreters and the flag that makes them run code given inline.
const INLINE_CODE: &[(&str, &[&str])] = &[
    ("python", &["-c"]),
    ("python3", &["-c"]),
    ("node", &["-e", "--eval", "-p", "--print"]),
    ("deno", &["eval"]),
    ("bun", &["-e", "--eval"]),
    ("perl", &["-e", "-E"]),
    ("ruby", &["-e"]),
    ("php", &["-r"]),
];
const ROOT_PATHS: &[&str] = &[
    "/",
    "/*",
    "~",
    "~/",
    "$home",
    "${home}",
    "%userprofile%",
    "c:",
    "c:\\",
    "c:/",
    "/home",
    "/users",
    "/root",
    "/etc",
    "/var",
    "/usr",
];

fn program_name(command: &str) -> String {
    let base = command
        .trim()
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or(command)
        .to_ascii_lowercase();
    base.strip_suffix(".exe").map(str::to_owned).unwrap_or(base)
}

fn review_runtime(rt: &Map<String, Value>, f: &mut Findings) {
    match rt.get("transport").and_then(Value::as_str) {
        Some("stdio") => {
            let command = rt.get("command").and_then(Value::as_str).unwrap_or("");
            let args: Vec<&str> = rt
                .get("args")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            review_command(command, &args, f);
            review_args(command, &args, f);
            if let Some(env) = rt.get("env").and_then(Value::as_object) {
                for (name, value) in env {
                    if let Some(value) = value.as_str() {
                        review_env(name, value, &pointer(&["runtime", "env", name]), f);
                    }
                }
            }
        }
        Some("streamable-http") => {
            if let Some(url) = rt.get("url").and_then(Value::as_str) {
                review_url(url, "/runtime/url", f);
            }
        }
        _ => {} // reported by ToolConfig::parse
    }
    if let Some(headers) = rt.get("headers").and_then(Value::as_object) {
        for (name, value) in headers {
            if let Some(value) = value.as_str() {
                review_env(name, value, &pointer(&["runtime", "headers", name]), f);
            }
        }
    }
}

fn review_command(command: &str, args: &[&str], f: &mut Findings) {
    let program = program_name(command);
    let loc = "/runtime/command";
    if matches!(program.as_str(), "sudo" | "doas" | "su" | "runas") {
        f.add(
            RiskCategory::BroadPermission,
            Severity::Critical,
            loc,
            format!("the server is started through `{program}`, i.e. with root privileges"),
        );
    }
    if SHELLS.contains(&program.as_str()) {
        let inline = args
            .iter()
            .any(|a| matches!(a.to_ascii_lowercase().as_str(), "-c" | "/c" | "-command"));
        let how = if inline {
            "with a command string (`-c`)"
        } else {
            "as a script"
        };
        f.add(
            RiskCategory::ShellExecution,
            Severity::High,
            loc,
            format!("the server runs through the `{program}` shell {how}: anything the shell can do, it can do"),
        );
    }
    if matches!(program.as_str(), "eval" | "exec") {
        f.add(
            RiskCategory::ShellExecution,
            Severity::High,
            loc,
            format!("the command is the shell builtin `{program}`"),
        );
    }
    for (interpreter, flags) in INLINE_CODE {
        if program == *interpreter {
            if let Some(i) = args.iter().position(|a| flags.contains(a)) {
                f.add(
                    RiskCategory::ShellExecution,
                    Severity::High,
                    pointer(&["runtime", "args", &i.to_string()]),
                    format!("`{program}` runs code given inline in the arguments instead of a published package"),
                );
            }
        }
    }
    static PIPE_TO_SHELL: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?i)\b(curl|wget|iwr|invoke-webrequest)\b[^|]*\|\s*(sudo\s+)?(sh|bash|zsh|iex|python3?)\b")
            .expect("static regex")
    });
    let line = std::iter::once(command)
        .chain(args.iter().copied())
        .collect::<Vec<_>>()
        .join(" ");
    if PIPE_TO_SHELL.is_match(&line) {
        f.add(
            RiskCategory::ShellExecution,
            Severity::Critical,
            "/runtime",
            "downloads a script and pipes it into an interpreter: whatever the remote serves is run",
        );
    }
    review_pinning(&program, args, f);
}

/// `npx pkg`, `uvx pkg`, `docker run image` without a version run whatever
/// was published last.
fn review_pinning(program: &str, args: &[&str], f: &mut Findings) {
    let first_positional = |skip_values_of: &[&str]| -> Option<(usize, &str)> {
        let mut skip_next = false;
        for (i, a) in args.iter().enumerate() {
            if skip_next {
                skip_next = false;
                continue;
            }
            if a.starts_with('-') {
                skip_next = skip_values_of.contains(a);
                continue;
            }
            return Some((i, a));
        }
        None
    };
    let unpinned = match program {
        "npx" | "bunx" | "pnpx" => first_positional(&["-p", "--package"]).and_then(|(i, pkg)| {
            let name_and_version = pkg.strip_prefix('@').unwrap_or(pkg);
            match name_and_version.split_once('@') {
                Some((_, v)) if v != "latest" && !v.is_empty() => None,
                _ => Some((i, pkg)),
            }
        }),
        "uvx" | "pipx" => {
            first_positional(&["--from", "--python", "--with"]).and_then(|(i, pkg)| {
                let pinned = pkg.contains("==") || (pkg.contains('@') && !pkg.ends_with("@latest"));
                (!pinned && pkg != "run").then_some((i, pkg))
            })
        }
        "docker" | "podman" => {
            if args.first() != Some(&"run") {
                None
            } else {
                let rest = &args[1..];
                let mut image = None;
                let mut skip_next = false;
                for (i, a) in rest.iter().enumerate() {
                    if skip_next {
                        skip_next = false;
                        continue;
                    }
                    if a.starts_with('-') {
                        // Flags whose value is the next argument.
                        skip_next = !a.contains('=')
                            && matches!(
                                *a,
                                "-e" | "--env"
                                    | "-v"
                                    | "--volume"
                                    | "-p"
                                    | "--publish"
                                    | "--name"
                                    | "--network"
                                    | "--net"
                                    | "-w"
                                    | "--workdir"
                                    | "-u"
                                    | "--user"
                                    | "--env-file"
                                    | "--mount"
                                    | "--entrypoint"
                                    | "--platform"
                            );
                        continue;
                    }
                    image = Some((i + 1, *a));
                    break;
                }
                image.and_then(|(i, img)| {
                    let last = img.rsplit('/').next().unwrap_or(img);
                    let pinned = img.contains("@sha256:")
                        || last.split_once(':').is_some_and(|(_, tag)| tag != "latest");
                    (!pinned).then_some((i, img))
                })
            }
        }
        _ => None,
    };
    if let Some((i, pkg)) = unpinned {
        f.add(
            RiskCategory::SupplyChain,
            Severity::Low,
            pointer(&["runtime", "args", &i.to_string()]),
            format!("`{pkg}` is not pinned to a version: every start may run a different release"),
        );
    }
}

fn review_args(command: &str, args: &[&str], f: &mut Findings) {
    let program = program_name(command);
    let mut i = 0;
    while i < args.len() {
        let arg = args[i];
        let loc = pointer(&["runtime", "args", &i.to_string()]);
        let lower = arg.to_ascii_lowercase();
        let (flag, inline_value) = match lower.split_once('=') {
            Some((k, v)) if lower.starts_with('-') => (k.to_owned(), Some(v.to_owned())),
            _ => (lower.clone(), None),
        };

        let broad = match flag.as_str() {
            "--allow-all"
            | "--privileged"
            | "--no-sandbox"
            | "--disable-sandbox"
            | "--unsafe-perm"
            | "--dangerously-skip-permissions" => {
                Some(format!("`{arg}` turns off the runtime's sandbox"))
            }
            "-a" if program == "deno" && arg == "-A" => {
                Some("`-A` grants Deno every permission".to_owned())
            }
            "--allow-run" | "--allow-write" | "--allow-read" | "--allow-env" | "--allow-ffi"
                if program == "deno" && inline_value.is_none() =>
            {
                Some(format!("`{arg}` without a list grants it for everything"))
            }
            "--cap-add" => {
                let v = inline_value
                    .clone()
                    .or_else(|| args.get(i + 1).map(|s| s.to_ascii_lowercase()));
                (v.as_deref() == Some("all"))
                    .then(|| "`--cap-add ALL` gives the container every capability".to_owned())
            }
            "--pid" | "--network" | "--net" | "--ipc" | "--userns" => {
                let v = inline_value
                    .clone()
                    .or_else(|| args.get(i + 1).map(|s| s.to_ascii_lowercase()));
                (v.as_deref() == Some("host")).then(|| {
                    format!("`{flag} host` shares the host's namespace with the container")
                })
            }
            "-v" | "--volume" | "--mount" => {
                let v = inline_value
                    .clone()
                    .or_else(|| args.get(i + 1).map(|s| s.to_ascii_lowercase()))
                    .unwrap_or_default();
                let source = v.split(':').next().unwrap_or("");
                let source = source.strip_prefix("source=").unwrap_or(source);
                (v.starts_with("/:") || ROOT_PATHS.contains(&source) || v.contains("docker.sock"))
                    .then(|| {
                        "mounts the host's root, home or Docker socket into the container"
                            .to_owned()
                    })
            }
            _ => None,
        };
        if let Some(detail) = broad {
            f.add(RiskCategory::BroadPermission, Severity::High, &loc, detail);
        }
        if program == "deno" && flag == "--allow-net" && inline_value.is_none() {
            f.add(
                RiskCategory::NetworkAccess,
                Severity::Medium,
                &loc,
                "`--allow-net` without a host list lets the server reach any host",
            );
        }

        // A bare root path, or `--root=/`-style options pointing at one.
        let path_value = inline_value.as_deref().unwrap_or(lower.as_str());
        if ROOT_PATHS.contains(&path_value.trim_end_matches('/'))
            || ROOT_PATHS.contains(&path_value)
        {
            f.add(
                RiskCategory::BroadPermission,
                Severity::High,
                &loc,
                format!("`{arg}` gives the server the whole filesystem or home directory; allow only the directories it needs"),
            );
        }

        // Secrets: by value shape anywhere, by flag name with its value.
        if let Some(kind) = secret_shape(arg) {
            f.add(
                RiskCategory::Secret,
                Severity::Critical,
                &loc,
                format!("an argument holds what looks like {kind} in plain text"),
            );
        } else if flag.starts_with('-') && is_secret_name(flag.trim_start_matches('-')) {
            let value = match &inline_value {
                Some(_) => arg.split_once('=').map(|(_, v)| v),
                None => args.get(i + 1).copied().filter(|v| !v.starts_with('-')),
            };
            if let Some(v) = value {
                if !is_placeholder(v) && !v.is_empty() {
                    f.add(
                        RiskCategory::Secret,
                        Severity::High,
                        &loc,
                        format!("`{}` is given a literal value; pass it through an environment variable from a secret store", flag),
                    );
                }
            }
        }
        if let Some(url) = arg
            .strip_prefix("--url=")
            .or(Some(arg))
            .filter(|s| s.starts_with("http://") || s.starts_with("https://"))
        {
            review_url_secrets(url, &loc, f);
        }
        i += 1;
    }
}

/// Names that say "this is a credential".
fn is_secret_name(name: &str) -> bool {
    static SECRET_NAME: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r"(?i)(^|[_\-.])(api[_\-]?key|apikey|access[_\-]?key|secret|token|password|passwd|pwd|pass|credentials?|private[_\-]?key|auth|authorization|bearer|client[_\-]?secret|session[_\-]?key|signing[_\-]?key)($|[_\-.])",
        )
        .expect("static regex")
    });
    SECRET_NAME.is_match(name)
}

/// A value that refers to a secret instead of being one: `${VAR}`, `$VAR`,
/// `<your-token>`, `{{ secret }}`, a secret-store reference, or an obvious
/// placeholder text.
fn is_placeholder(value: &str) -> bool {
    static PLACEHOLDER: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r"(?ix)^\s*(
                \$\{[^}]*\}            # ${VAR}
              | \$[A-Za-z_][A-Za-z0-9_]*  # $VAR
              | %[A-Za-z_][A-Za-z0-9_]*%  # %VAR%
              | <[^>]*>                # <your-token>
              | \{\{[^}]*\}\}          # {{ secret }}
              | (secretsmanager|ssm|vault|env|op|arn):\S*   # references to a store
              | (bearer\s+)?(\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*)
              | (your|my)[_\-\s]?\S*
              | x{3,} | \*{3,} | changeme | replace[_\-\s]?me | todo | placeholder | redacted | none | null | true | false | \d{1,5}
            )\s*$",
        )
        .expect("static regex")
    });
    value.trim().is_empty() || PLACEHOLDER.is_match(value)
}

/// What a value looks like if it has the shape of a well-known credential.
fn secret_shape(value: &str) -> Option<&'static str> {
    static SHAPES: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
        [
            (
                r"\bsk-(proj-|ant-)?[A-Za-z0-9_\-]{20,}",
                "an OpenAI/Anthropic API key",
            ),
            (
                r"\b(ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{30,}",
                "a GitHub token",
            ),
            (r"\bgithub_pat_[A-Za-z0-9_]{30,}", "a GitHub token"),
            (r"\bglpat-[A-Za-z0-9_\-]{20,}", "a GitLab token"),
            (r"\b(AKIA|ASIA)[0-9A-Z]{16}\b", "an AWS access key id"),
            (r"\bxox[abposr]-[A-Za-z0-9\-]{10,}", "a Slack token"),
            (r"\bAIza[0-9A-Za-z_\-]{35}", "a Google API key"),
            (r"\b(sk|rk)_live_[0-9A-Za-z]{20,}", "a Stripe secret key"),
            (r"\bnpm_[A-Za-z0-9]{36}", "an npm token"),
            (r"\bhf_[A-Za-z0-9]{30,}", "a Hugging Face token"),
            (
                r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}",
                "a JSON Web Token",
            ),
            (r"-----BEGIN [A-Z ]*PRIVATE KEY-----", "a private key"),
            (
                r"(?i)\b[a-z][a-z0-9+.\-]*://[^/\s:@]+:[^/\s@]+@",
                "a URL with a password",
            ),
        ]
        .into_iter()
        .map(|(re, what)| (Regex::new(re).expect("static regex"), what))
        .collect()
    });
    SHAPES
        .iter()
        .find(|(re, _)| re.is_match(value))
        .map(|(_, what)| *what)
}

fn review_env(name: &str, value: &str, loc: &str, f: &mut Findings) {
    if let Some(kind) = secret_shape(value) {
        f.add(
            RiskCategory::Secret,
            Severity::Critical,
            loc,
            format!("`{name}` holds what looks like {kind} in plain text; reference a secret store instead"),
        );
    } else if is_secret_name(name) && !is_placeholder(value) {
        f.add(
            RiskCategory::Secret,
            Severity::High,
            loc,
            format!("`{name}` is a credential written literally into the config; use a placeholder such as ${{{name}}} filled from a secret store"),
        );
    }
    if is_scope_name(name) && is_broad_grant(value) {
        f.add(
            RiskCategory::BroadPermission,
            Severity::High,
            loc,
            format!("`{name}` grants everything (`{value}`); list the scopes the tools need"),
        );
    } else if value.trim() == "*" {
        f.add(
            RiskCategory::BroadPermission,
            Severity::Medium,
            loc,
            format!("`{name}` is a wildcard"),
        );
    }
}

fn review_url(url: &str, loc: &str, f: &mut Findings) {
    let lower = url.trim().to_ascii_lowercase();
    if let Some(rest) = lower.strip_prefix("http://") {
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let host_port = authority.rsplit('@').next().unwrap_or(authority);
        let host = if host_port.starts_with('[') {
            host_port
                .split(']')
                .next()
                .map(|h| h.trim_start_matches('['))
        } else {
            host_port.split(':').next()
        }
        .unwrap_or("");
        let loopback = host == "localhost"
            || host.ends_with(".localhost")
            || host.starts_with("127.")
            || host == "::1";
        if !loopback {
            f.add(
                RiskCategory::InsecureTransport,
                Severity::High,
                loc,
                "the remote server is reached over plain http: requests, results and credentials travel unencrypted; use https",
            );
        }
    }
    review_url_secrets(url, loc, f);
}

fn review_url_secrets(url: &str, loc: &str, f: &mut Findings) {
    if let Some(kind) = secret_shape(url) {
        f.add(
            RiskCategory::Secret,
            Severity::Critical,
            loc,
            format!("the URL contains {kind}"),
        );
        return;
    }
    if let Some((_, query)) = url.split_once('?') {
        for pair in query.split(['&', '#']) {
            if let Some((k, v)) = pair.split_once('=') {
                if is_secret_name(k) && !is_placeholder(v) {
                    f.add(
                        RiskCategory::Secret,
                        Severity::High,
                        loc,
                        format!("the URL carries the credential `{k}` in its query string, where proxies and logs keep it"),
                    );
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Permissions anywhere in the config
// ---------------------------------------------------------------------------

fn is_scope_name(name: &str) -> bool {
    static SCOPE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?i)(scope|permission|allow|grant|access[_\-]?level|roles?$|capabilit)")
            .expect("static regex")
    });
    SCOPE.is_match(name)
}

fn is_broad_grant(value: &str) -> bool {
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
fn scan_scopes(value: &Value, loc: &str, in_scope: bool, f: &mut Findings) {
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

// ---------------------------------------------------------------------------
// Tools: names, descriptions, input schemas, capabilities
// ---------------------------------------------------------------------------

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
fn weak_description(text: &str, name: &str) -> Option<&'static str> {
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

fn review_tools(tools: &[Value], f: &mut Findings) {
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

// ---------------------------------------------------------------------------
// Prompt injection in text the model reads
// ---------------------------------------------------------------------------

/// Characters that render as nothing (or reorder text) and so can hide
/// instructions from a human reviewer while the model still reads them.
fn is_invisible(c: char) -> bool {
    matches!(c as u32,
        0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x2069
        | 0xFEFF | 0x00AD | 0x180E | 0x034F | 0x115F | 0x1160 | 0x3164)
}

/// Unicode tag characters (U+E0000–U+E007F) mirror ASCII invisibly: the
/// "ASCII smuggling" channel. Returns the hidden text and how many there were.
fn decode_tags(text: &str) -> (String, usize) {
    let mut hidden = String::new();
    let mut count = 0;
    for c in text.chars() {
        let cp = c as u32;
        if (0xE0000..=0xE007F).contains(&cp) {
            count += 1;
            if let Some(a) =
                char::from_u32(cp - 0xE0000).filter(|a| a.is_ascii_graphic() || *a == ' ')
            {
                hidden.push(a);
            }
        }
    }
    (hidden, count)
}

/// Lowercase, invisible characters dropped, typographic quotes made plain,
/// whitespace collapsed: `Ig\u{200b}nore  previous` matches `ignore previous`.
fn normalise(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .filter(|c| !is_invisible(*c) && !(0xE0000..=0xE007F).contains(&(*c as u32)))
        .map(|c| match c {
            '\u{2018}' | '\u{2019}' | '\u{02BC}' => '\'',
            '\u{201C}' | '\u{201D}' => '"',
            c => c,
        })
        .flat_map(char::to_lowercase)
        .collect();
    cleaned.split_whitespace().collect::<Vec<_>>().join(" ")
}

struct InjectionRule {
    re: Regex,
    severity: Severity,
    what: &'static str,
}

/// Phrasings of instructions aimed at the model rather than descriptions for
/// it: each targets something a tool description never needs to say.
/// Matching is on [`normalise`]d text. The benign corpus in the tests
/// (descriptions of real tools, "Deletes a file", "Ignores files matched by
/// .gitignore", "Do not use this tool for large files") keeps them precise.
static INJECTION_RULES: LazyLock<Vec<InjectionRule>> = LazyLock::new(|| {
    let rule = |re: &str, severity, what| InjectionRule {
        re: Regex::new(re).expect("static regex"),
        severity,
        what,
    };
    vec![
        rule(
            r"\b(ignore|disregard|forget|override|bypass)\b[^.!?\n]{0,40}?\b(previous|prior|above|earlier|preceding|all|any|other|your|system|original|safety)\b[^.!?\n]{0,25}?\b(instructions?|prompts?|rules|directions|directives|guidelines|guardrails|polic(y|ies))\b",
            Severity::Critical,
            "tells the model to ignore its instructions",
        ),
        rule(
            r"\b(do not|don't|dont|never|without)\s+(tell|inform|notify|mention|reveal|alert|disclose|let|warn|ask)(ing)?\b[^.!?\n]{0,30}?\buser|\b(hide|conceal|keep)\b[^.!?\n]{0,30}?\bfrom the user\b|\bthe user (must|should|need|needs to) (not|never) (know|see|find out|be told|notice)\b|\b(secretly|covertly)\b",
            Severity::Critical,
            "tells the model to hide what it does from the user",
        ),
        rule(
            r"\bbefore (using|calling|invoking|running|executing) (any|every|all|each|another|other|the other)\b[^.!?\n]{0,12}?\btools?\b|\bbefore any other tools?\b|\bwhen(ever)? (this tool is|you are) (available|loaded|present|connected)\b|\b(all|every|any) (emails?|messages?|requests?|calls?)\b[^.!?\n]{0,20}?\b(must|should|have to) (be sent|go|be forwarded|be redirected|be copied)\b|\binstead of (what|whatever) the user\b",
            Severity::Critical,
            "tries to steer how the model uses other tools",
        ),
        rule(
            r"<\s*/?\s*(important|system|instructions?|secret|hidden|admin|assistant|critical|override|prompt)\s*>|\[\s*/?\s*(system|inst|important)\s*\]|<\|\s*im_start\s*\|>|<<\s*/?sys\s*>>|<!--",
            Severity::Critical,
            "contains a hidden directive tag",
        ),
        rule(
            r"\byou are now\b|\bnew (system )?instructions\s*:|\bfrom now on,? you\b|\bjailbreak|\bdeveloper mode\b|\bact as (an? )?(unrestricted|jailbroken|dan)\b|\b(reveal|print|output|repeat|leak|send|share|include|return)\b[^.!?\n]{0,30}?\b(system prompt|your instructions|previous messages|conversation history|chat history|entire conversation)\b",
            Severity::Critical,
            "tries to change the model's role or extract its context",
        ),
        rule(
            r"\b(note|message|instructions?|directive)s? (to|for) (the |any )?(ai|assistant|model|llm|agent|claude|gpt)\b",
            Severity::High,
            "addresses the model directly",
        ),
        rule(
            r"(~|\$home|%userprofile%)[/\\]\.(ssh|aws|gnupg|kube|docker|cursor|config|netrc)\b|\bid_(rsa|ed25519|ecdsa|dsa)\b|\.aws/credentials\b|/etc/(passwd|shadow)\b|\bmcp\.json\b|\bclaude_desktop_config\.json\b",
            Severity::High,
            "points the model at credential or client configuration files",
        ),
        rule(
            r"\b(send|forward|exfiltrate|leak)\b[^.!?\n]{0,40}?\b(api keys|credentials|passwords|secrets|private keys?|environment variables|env vars)\b",
            Severity::High,
            "asks for credentials to be sent somewhere",
        ),
    ]
});

static BASE64_RUN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[A-Za-z0-9+/]{40,}={0,2}|[A-Za-z0-9_\-]{40,}={0,2}").expect("static regex")
});

/// `run` decoded as base64 (standard or URL-safe, padding optional) when it
/// gives readable text.
fn decode_base64_text(run: &str) -> Option<String> {
    use base64::engine::{
        general_purpose, DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig,
    };
    const LENIENT: GeneralPurposeConfig =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    const STANDARD: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::STANDARD, LENIENT);
    const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::URL_SAFE, LENIENT);
    let _ = general_purpose::STANDARD; // the alphabets above are the standard ones
    let has_upper = run.bytes().any(|b| b.is_ascii_uppercase());
    let has_lower = run.bytes().any(|b| b.is_ascii_lowercase());
    if !(has_upper && has_lower) {
        return None;
    }
    let bytes = STANDARD
        .decode(run)
        .or_else(|_| URL_SAFE.decode(run))
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let total = text.chars().count();
    let readable = text
        .chars()
        .filter(|c| !c.is_control() || c.is_whitespace())
        .count();
    let letters = text
        .chars()
        .filter(|c| c.is_alphabetic() || *c == ' ')
        .count();
    (total >= 20 && readable * 10 >= total * 9 && letters * 10 >= total * 6).then_some(text)
}

fn injection_matches(normal: &str) -> Vec<&'static InjectionRule> {
    INJECTION_RULES
        .iter()
        .filter(|r| r.re.is_match(normal))
        .collect()
}

fn excerpt(s: &str) -> String {
    let cut: String = s.chars().take(80).collect();
    if cut.len() < s.len() {
        format!("{cut}…")
    } else {
        cut
    }
}

/// Looks for prompt injection in one text the model will read.
fn scan_text(text: &str, loc: &str, f: &mut Findings) {
    let (hidden, tag_count) = decode_tags(text);
    if tag_count > 0 {
        f.add(
            RiskCategory::PromptInjection,
            Severity::Critical,
            loc,
            format!(
                "contains {tag_count} invisible Unicode tag characters spelling hidden text: \"{}\"",
                excerpt(&hidden)
            ),
        );
    }
    let invisible = text.chars().filter(|c| is_invisible(*c)).count();
    if invisible > 0 {
        f.add(
            RiskCategory::PromptInjection,
            Severity::High,
            loc,
            format!("contains {invisible} invisible characters (zero-width or bidirectional controls) that hide text from a human reviewer"),
        );
    }
    let mut normal = normalise(text);
    if !hidden.is_empty() {
        normal.push(' ');
        normal.push_str(&normalise(&hidden));
    }
    for rule in injection_matches(&normal) {
        f.add(
            RiskCategory::PromptInjection,
            rule.severity,
            loc,
            format!("text aimed at the model: it {}", rule.what),
        );
    }
    for m in BASE64_RUN.find_iter(text) {
        if let Some(decoded) = decode_base64_text(m.as_str()) {
            let rules = injection_matches(&normalise(&decoded));
            let (severity, what) = match rules.first() {
                Some(rule) => (
                    Severity::Critical,
                    format!("encoded instructions: it {}", rule.what),
                ),
                None => (
                    Severity::Medium,
                    "encoded text a human reviewer does not read".to_owned(),
                ),
            };
            f.add(
                RiskCategory::PromptInjection,
                severity,
                loc,
                format!(
                    "contains base64 that decodes to {what}: \"{}\"",
                    excerpt(&decoded)
                ),
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Feasibility
// ---------------------------------------------------------------------------

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
fn recommendation(category: RiskCategory) -> &'static str {
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
fn categories_by_severity(risks: &[Risk]) -> Vec<(RiskCategory, Severity)> {
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

// ---------------------------------------------------------------------------
// Improvements
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// Config generation
// ---------------------------------------------------------------------------

/// A service the requirements may name: how it is recognised, the secret it
/// needs, the parameters every one of its tools takes, and what it holds by
/// default.
struct Service {
    words: &'static [&'static str],
    id: &'static str,
    label: &'static str,
    env: Option<&'static str>,
    params: &'static [(&'static str, &'static str)],
    object: &'static str,
    /// Reached over the network (MCP `openWorldHint`).
    external: bool,
}

const SERVICES: &[Service] = &[
    Service {
        words: &["github"],
        id: "github",
        label: "GitHub",
        env: Some("GITHUB_TOKEN"),
        params: &[
            (
                "owner",
                "Repository owner (user or organisation), e.g. octocat",
            ),
            ("repo", "Repository name, e.g. hello-world"),
        ],
        object: "issue",
        external: true,
    },
    Service {
        words: &["gitlab"],
        id: "gitlab",
        label: "GitLab",
        env: Some("GITLAB_TOKEN"),
        params: &[("project", "Project path, e.g. group/project")],
        object: "issue",
        external: true,
    },
    Service {
        words: &["slack"],
        id: "slack",
        label: "Slack",
        env: Some("SLACK_BOT_TOKEN"),
        params: &[("channel", "Channel ID or name, e.g. #general")],
        object: "message",
        external: true,
    },
    Service {
        words: &["discord"],
        id: "discord",
        label: "Discord",
        env: Some("DISCORD_BOT_TOKEN"),
        params: &[("channel_id", "Discord channel ID")],
        object: "message",
        external: true,
    },
    Service {
        words: &["jira"],
        id: "jira",
        label: "Jira",
        env: Some("JIRA_API_TOKEN"),
        params: &[("project_key", "Jira project key, e.g. OPS")],
        object: "ticket",
        external: true,
    },
    Service {
        words: &["linear"],
        id: "linear",
        label: "Linear",
        env: Some("LINEAR_API_KEY"),
        params: &[("team", "Linear team key, e.g. ENG")],
        object: "issue",
        external: true,
    },
    Service {
        words: &["notion"],
        id: "notion",
        label: "Notion",
        env: Some("NOTION_TOKEN"),
        params: &[],
        object: "page",
        external: true,
    },
    Service {
        words: &[
            "postgres",
            "postgresql",
            "mysql",
            "mariadb",
            "sqlite",
            "database",
            "databases",
            "sql",
            "db",
        ],
        id: "database",
        label: "the database",
        env: Some("DATABASE_URL"),
        params: &[],
        object: "record",
        external: false,
    },
    Service {
        words: &["email", "emails", "gmail", "smtp", "mailbox", "inbox"],
        id: "email",
        label: "e-mail",
        env: Some("SMTP_PASSWORD"),
        params: &[],
        object: "email",
        external: true,
    },
    Service {
        words: &["calendar", "calendars"],
        id: "calendar",
        label: "the calendar",
        env: Some("CALENDAR_API_TOKEN"),
        params: &[("calendar_id", "Calendar identifier, e.g. primary")],
        object: "event",
        external: true,
    },
    Service {
        words: &["weather", "forecast", "forecasts"],
        id: "weather",
        label: "the weather service",
        env: Some("WEATHER_API_KEY"),
        params: &[(
            "location",
            "City name or latitude,longitude, e.g. Paris or 48.85,2.35",
        )],
        object: "forecast",
        external: true,
    },
    Service {
        words: &["s3", "bucket", "buckets"],
        id: "s3",
        label: "S3",
        env: Some("AWS_PROFILE"),
        params: &[("bucket", "S3 bucket name")],
        object: "object",
        external: true,
    },
    Service {
        words: &["stripe"],
        id: "stripe",
        label: "Stripe",
        env: Some("STRIPE_API_KEY"),
        params: &[],
        object: "payment",
        external: true,
    },
    Service {
        words: &[
            "filesystem",
            "file",
            "files",
            "directory",
            "directories",
            "folder",
            "folders",
            "disk",
        ],
        id: "files",
        label: "the allowed directory",
        env: None,
        params: &[],
        object: "file",
        external: false,
    },
    Service {
        words: &[
            "web", "website", "websites", "webpage", "webpages", "url", "urls", "internet",
        ],
        id: "web",
        label: "the web",
        env: None,
        params: &[],
        object: "webpage",
        external: true,
    },
];

/// Things tools act on: (singular, plural).
const OBJECTS: &[(&str, &str)] = &[
    ("issue", "issues"),
    ("pull_request", "pull_requests"),
    ("comment", "comments"),
    ("message", "messages"),
    ("channel", "channels"),
    ("repository", "repositories"),
    ("file", "files"),
    ("directory", "directories"),
    ("page", "pages"),
    ("webpage", "webpages"),
    ("ticket", "tickets"),
    ("record", "records"),
    ("row", "rows"),
    ("table", "tables"),
    ("email", "emails"),
    ("event", "events"),
    ("forecast", "forecasts"),
    ("commit", "commits"),
    ("user", "users"),
    ("document", "documents"),
    ("branch", "branches"),
    ("invoice", "invoices"),
    ("payment", "payments"),
    ("release", "releases"),
    ("task", "tasks"),
    ("object", "objects"),
];
const OBJECT_ALIASES: &[(&str, &str)] = &[
    ("pr", "pull_request"),
    ("prs", "pull_requests"),
    ("repo", "repository"),
    ("repos", "repositories"),
    ("folder", "directory"),
    ("folders", "directories"),
    ("doc", "document"),
    ("docs", "documents"),
    ("mail", "email"),
    ("mails", "emails"),
    ("todos", "tasks"),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verb {
    Read,
    Search,
    Send,
    Post,
    Create,
    Update,
    Delete,
    Write,
    Query,
    Comment,
}

const VERBS: &[(&[&str], Verb)] = &[
    (
        &[
            "read",
            "reads",
            "get",
            "gets",
            "fetch",
            "fetches",
            "retrieve",
            "retrieves",
            "list",
            "lists",
            "view",
            "views",
            "show",
            "shows",
            "browse",
            "browses",
            "monitor",
            "monitors",
            "watch",
            "watches",
            "check",
            "checks",
            "track",
            "tracks",
            "download",
            "downloads",
            "summarize",
            "summarizes",
            "summarise",
            "summarises",
            "load",
            "loads",
        ],
        Verb::Read,
    ),
    (
        &["search", "searches", "find", "finds", "lookup"],
        Verb::Search,
    ),
    (
        &["send", "sends", "notify", "notifies", "alert", "alerts"],
        Verb::Send,
    ),
    (
        &[
            "post",
            "posts",
            "publish",
            "publishes",
            "announce",
            "announces",
        ],
        Verb::Post,
    ),
    (
        &[
            "create",
            "creates",
            "open",
            "opens",
            "add",
            "adds",
            "make",
            "makes",
            "schedule",
            "schedules",
            "book",
            "books",
            "insert",
            "inserts",
        ],
        Verb::Create,
    ),
    (
        &[
            "update", "updates", "edit", "edits", "modify", "modifies", "change", "changes",
            "close", "closes", "assign", "assigns", "rename", "renames", "move", "moves",
        ],
        Verb::Update,
    ),
    (
        &[
            "delete", "deletes", "remove", "removes", "archive", "archives", "cancel", "cancels",
        ],
        Verb::Delete,
    ),
    (
        &[
            "write", "writes", "save", "saves", "store", "stores", "upload", "uploads",
        ],
        Verb::Write,
    ),
    (
        &["query", "queries", "run", "runs", "execute", "executes"],
        Verb::Query,
    ),
    (&["comment", "comments", "reply", "replies"], Verb::Comment),
];

const PRONOUNS: &[&str] = &["them", "it", "those", "these", "they"];
const LIST_WORDS: &[&str] = &["list", "lists", "browse", "browses"];

const STOPWORDS: &[&str] = &[
    "a", "an", "the", "and", "or", "to", "of", "for", "in", "on", "with", "that", "which", "tool",
    "tools", "server", "mcp", "runs", "run", "using", "use", "uses", "via", "from", "into", "some",
    "my", "our", "it", "is", "be", "can", "should", "want", "need", "needs", "please", "i", "we",
    "me", "also", "then", "all", "any", "by", "as", "at", "its", "this",
];

fn string_param(description: &str) -> Value {
    json!({"type": "string", "description": description})
}

fn limit_param() -> Value {
    json!({"type": "integer", "minimum": 1, "maximum": 100, "default": 20,
           "description": "Maximum number of items to return (1 to 100)"})
}

fn human(object: &str) -> String {
    object.replace('_', " ")
}

/// One generated tool: its name, description, parameters and annotations.
fn build_tool(verb: Verb, service: &Service, object: (&str, &str), plural: bool) -> Value {
    let (singular, plural_name) = object;
    let generic = matches!(service.id, "files" | "web");
    let svc = if generic {
        String::new()
    } else {
        format!("_{}", service.id)
    };
    let is_file = matches!(singular, "file" | "directory");
    let mut props: Vec<(String, Value)> = Vec::new();
    let mut required: Vec<String> = Vec::new();
    let mut req =
        |props: &mut Vec<(String, Value)>, name: &str, schema: Value, is_required: bool| {
            props.push((name.to_owned(), schema));
            if is_required {
                required.push(name.to_owned());
            }
        };
    for (p, d) in service.params {
        req(&mut props, p, string_param(d), true);
    }
    let id_param = |singular: &str| -> (String, Value) {
        if matches!(singular, "issue" | "pull_request") && matches!(service.id, "github" | "gitlab")
        {
            (
                format!("{singular}_number"),
                json!({"type": "integer", "minimum": 1, "description": format!("Number of the {}", human(singular))}),
            )
        } else {
            (
                format!("{singular}_id"),
                string_param(&format!("Identifier of the {}", human(singular))),
            )
        }
    };
    let in_svc = if generic {
        String::new()
    } else {
        format!(" in {}", service.label)
    };
    let (name, description, read_only, destructive) = match verb {
        Verb::Read | Verb::Search if is_file => {
            if plural || singular == "directory" || verb == Verb::Search {
                req(
                    &mut props,
                    "path",
                    string_param("Directory to list, relative to the allowed directory, e.g. docs"),
                    true,
                );
                if verb == Verb::Search {
                    req(
                        &mut props,
                        "pattern",
                        string_param("Glob pattern of file names to match, e.g. *.md"),
                        true,
                    );
                }
                let v = if verb == Verb::Search {
                    "search_files"
                } else {
                    "list_directory"
                };
                (v.to_owned(), "Lists the files and subdirectories of a directory under the allowed directory, with their sizes.".to_owned(), true, false)
            } else {
                req(
                    &mut props,
                    "path",
                    string_param(
                        "File path relative to the allowed directory, e.g. docs/readme.md",
                    ),
                    true,
                );
                (
                    "read_file".to_owned(),
                    "Reads the text content of a file under the allowed directory and returns it."
                        .to_owned(),
                    true,
                    false,
                )
            }
        }
        Verb::Read if singular == "webpage" || singular == "page" && service.id == "web" => {
            req(
                &mut props,
                "url",
                json!({"type": "string", "format": "uri", "pattern": "^https://", "description": "Address of the page, e.g. https://example.com/docs"}),
                true,
            );
            ("fetch_web_page".to_owned(), "Fetches a web page over https and returns its readable text, without scripts or markup.".to_owned(), true, false)
        }
        Verb::Read if service.id == "weather" => {
            req(
                &mut props,
                "days",
                json!({"type": "integer", "minimum": 1, "maximum": 14, "default": 3, "description": "Number of days to forecast (1 to 14)"}),
                false,
            );
            ("get_weather_forecast".to_owned(), "Gets the weather forecast for a location: temperature, precipitation and wind per day.".to_owned(), true, false)
        }
        Verb::Read | Verb::Query | Verb::Search if service.id == "database" => {
            req(
                &mut props,
                "sql",
                string_param(
                    "One read-only SQL SELECT statement, e.g. SELECT id, name FROM users LIMIT 10",
                ),
                true,
            );
            req(&mut props, "limit", limit_param(), false);
            ("query_database".to_owned(), "Runs one read-only SQL SELECT statement against the database and returns the rows as JSON objects.".to_owned(), true, false)
        }
        Verb::Read if plural => {
            if matches!(singular, "issue" | "pull_request" | "ticket" | "task") {
                req(
                    &mut props,
                    "state",
                    json!({"type": "string", "enum": ["open", "closed", "all"], "default": "open", "description": "Which items to list by state"}),
                    false,
                );
            }
            req(&mut props, "limit", limit_param(), false);
            (
                format!("list{svc}_{plural_name}"),
                format!(
                    "Lists {}{in_svc}, newest first, at most `limit` at a time.",
                    human(plural_name)
                ),
                true,
                false,
            )
        }
        Verb::Read | Verb::Query => {
            let (p, s) = id_param(singular);
            req(&mut props, &p, s, true);
            (
                format!("get{svc}_{singular}"),
                format!(
                    "Gets one {}{in_svc} by its identifier, with all its fields.",
                    human(singular)
                ),
                true,
                false,
            )
        }
        Verb::Search => {
            req(
                &mut props,
                "query",
                string_param("Text to search for"),
                true,
            );
            req(&mut props, "limit", limit_param(), false);
            (
                format!("search{svc}_{plural_name}"),
                format!(
                    "Searches {}{in_svc} for the given text and returns the best matches first.",
                    human(plural_name)
                ),
                true,
                false,
            )
        }
        Verb::Send | Verb::Post if singular == "email" => {
            req(
                &mut props,
                "to",
                json!({"type": "string", "format": "email", "description": "Recipient address, e.g. ada@example.com"}),
                true,
            );
            req(&mut props, "subject", string_param("Subject line"), true);
            req(
                &mut props,
                "body",
                string_param("Plain-text message body"),
                true,
            );
            (
                "send_email".to_owned(),
                "Sends a plain-text e-mail to one recipient and returns the message identifier."
                    .to_owned(),
                false,
                false,
            )
        }
        Verb::Send | Verb::Post => {
            req(
                &mut props,
                "text",
                string_param("Text of the message (plain text or the service's markdown)"),
                true,
            );
            let v = if verb == Verb::Send { "send" } else { "post" };
            let cap = if verb == Verb::Send { "Sends" } else { "Posts" };
            (
                format!("{v}{svc}_{singular}"),
                format!(
                    "{cap} a {}{in_svc} and returns its identifier.",
                    human(singular)
                ),
                false,
                false,
            )
        }
        Verb::Write if is_file => {
            req(
                &mut props,
                "path",
                string_param("File path relative to the allowed directory, e.g. notes/todo.md"),
                true,
            );
            req(
                &mut props,
                "content",
                string_param("Text to write; replaces the file's content"),
                true,
            );
            ("write_file".to_owned(), "Writes text to a file under the allowed directory, creating it or replacing its content.".to_owned(), false, true)
        }
        Verb::Comment => {
            let (p, s) = id_param(if singular == "comment" {
                service.object
            } else {
                singular
            });
            req(&mut props, &p, s, true);
            req(
                &mut props,
                "body",
                string_param("Text of the comment"),
                true,
            );
            (
                format!(
                    "comment_on{svc}_{}",
                    if singular == "comment" {
                        service.object
                    } else {
                        singular
                    }
                ),
                format!(
                    "Adds a comment to a {}{in_svc} and returns the comment's identifier.",
                    human(if singular == "comment" {
                        service.object
                    } else {
                        singular
                    })
                ),
                false,
                false,
            )
        }
        Verb::Create | Verb::Write => {
            if matches!(singular, "event") {
                req(
                    &mut props,
                    "title",
                    string_param("Title of the event"),
                    true,
                );
                req(
                    &mut props,
                    "start",
                    json!({"type": "string", "format": "date-time", "description": "Start time, RFC 3339, e.g. 2030-01-31T09:00:00Z"}),
                    true,
                );
                req(
                    &mut props,
                    "end",
                    json!({"type": "string", "format": "date-time", "description": "End time, RFC 3339"}),
                    true,
                );
            } else if is_file {
                req(
                    &mut props,
                    "path",
                    string_param(
                        "Path of the new file or directory, relative to the allowed directory",
                    ),
                    true,
                );
            } else {
                req(
                    &mut props,
                    "title",
                    string_param(&format!("Title of the {}", human(singular))),
                    true,
                );
                req(
                    &mut props,
                    "body",
                    string_param(&format!("Body of the {} (markdown)", human(singular))),
                    false,
                );
            }
            (
                format!("create{svc}_{singular}"),
                format!(
                    "Creates a {}{in_svc} and returns it with its identifier.",
                    human(singular)
                ),
                false,
                false,
            )
        }
        Verb::Update => {
            let (p, s) = if is_file {
                (
                    "path".to_owned(),
                    string_param("Path relative to the allowed directory"),
                )
            } else {
                id_param(singular)
            };
            req(&mut props, &p, s, true);
            if is_file {
                req(
                    &mut props,
                    "new_path",
                    string_param("New path relative to the allowed directory"),
                    true,
                );
            } else {
                req(
                    &mut props,
                    "title",
                    string_param("New title; unchanged when omitted"),
                    false,
                );
                req(
                    &mut props,
                    "body",
                    string_param("New body; unchanged when omitted"),
                    false,
                );
                if matches!(singular, "issue" | "pull_request" | "ticket" | "task") {
                    req(
                        &mut props,
                        "state",
                        json!({"type": "string", "enum": ["open", "closed"], "description": "New state; unchanged when omitted"}),
                        false,
                    );
                }
            }
            (
                format!("update{svc}_{singular}"),
                format!(
                    "Updates an existing {}{in_svc}: only the fields given change.",
                    human(singular)
                ),
                false,
                true,
            )
        }
        Verb::Delete => {
            let (p, s) = if is_file {
                (
                    "path".to_owned(),
                    string_param("Path relative to the allowed directory"),
                )
            } else {
                id_param(singular)
            };
            req(&mut props, &p, s, true);
            (
                format!("delete{svc}_{singular}"),
                format!(
                    "Deletes a {}{in_svc}. This cannot be undone.",
                    human(singular)
                ),
                false,
                true,
            )
        }
    };
    let properties: Map<String, Value> = props.into_iter().collect();
    json!({
        "name": name,
        "description": description,
        "inputSchema": {
            "type": "object",
            "properties": properties,
            "required": required,
            "additionalProperties": false,
        },
        "annotations": {
            "readOnlyHint": read_only,
            "destructiveHint": destructive,
            "idempotentHint": read_only,
            "openWorldHint": service.external,
        },
    })
}

fn find_service(word: &str) -> Option<&'static Service> {
    SERVICES.iter().find(|s| s.words.contains(&word))
}

/// `(singular, plural)` and whether `word` was the plural.
fn find_object(word: &str) -> Option<((&'static str, &'static str), bool)> {
    let canonical = OBJECT_ALIASES
        .iter()
        .find(|(alias, _)| *alias == word)
        .map_or(word, |(_, c)| *c);
    OBJECTS.iter().find_map(|&(s, p)| {
        if s == canonical {
            Some(((s, p), false))
        } else if p == canonical {
            Some(((s, p), true))
        } else {
            None
        }
    })
}

fn object_of(singular: &str) -> (&'static str, &'static str) {
    OBJECTS
        .iter()
        .copied()
        .find(|(s, _)| *s == singular)
        .unwrap_or(("item", "items"))
}

fn find_verb(word: &str) -> Option<Verb> {
    VERBS
        .iter()
        .find(|(words, _)| words.contains(&word))
        .map(|(_, v)| *v)
}

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

#[cfg(test)]
#[path = "offline_tests.rs"]
mod tests;
