//! Rules on how the server is started or reached (`runtime`): the command
//! and its arguments (shells, inline code, root privileges, sandbox
//! switches, root paths, unpinned packages), literal secrets in `env`,
//! `args`, `url` and `headers`, and plain-http remotes.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value};

use super::permissions::{is_broad_grant, is_scope_name};
use super::{pointer, Findings};
use crate::domain::{RiskCategory, Severity};

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
pub(super) const ROOT_PATHS: &[&str] = &[
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

pub(super) fn review_runtime(rt: &Map<String, Value>, f: &mut Findings) {
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
