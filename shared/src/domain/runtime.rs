//! The typed view of a tool's `config.runtime`: how its MCP server is
//! started or reached. [`ToolConfig::parse`](super::ToolConfig::parse) checks
//! the JSON on the way in; [`ToolConfig::runtime`](super::ToolConfig::runtime)
//! reads it once into these types for the deployments API and both runners.

use serde_json::{Map, Value};

/// How a tool's MCP server runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Runtime {
    /// A child process speaking newline-delimited JSON-RPC on stdio.
    Stdio(StdioRuntime),
    /// A Streamable HTTP server at `url`.
    StreamableHttp(HttpRuntime),
}

/// `{transport: "stdio", command, args, env}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StdioRuntime {
    pub command: String,
    pub args: Vec<String>,
    /// Variables the child gets, in the config's order.
    pub env: Vec<(String, String)>,
}

/// `{transport: "streamable-http", url, headers}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRuntime {
    pub url: String,
    /// Sent on every upstream request (the upstream's own credentials).
    pub headers: Vec<(String, String)>,
}

impl Runtime {
    /// Reads a `runtime` object. `None` when its transport is neither, or a
    /// stdio runtime has no command: a config without a runnable runtime.
    pub(super) fn from_json(runtime: &Map<String, Value>) -> Option<Self> {
        match runtime.get("transport").and_then(Value::as_str)? {
            "stdio" => {
                let command = runtime.get("command")?.as_str()?;
                if command.trim().is_empty() {
                    return None;
                }
                Some(Self::Stdio(StdioRuntime {
                    command: command.to_owned(),
                    args: runtime
                        .get("args")
                        .and_then(Value::as_array)
                        .map(|a| {
                            a.iter()
                                .filter_map(|s| s.as_str().map(str::to_owned))
                                .collect()
                        })
                        .unwrap_or_default(),
                    env: string_pairs(runtime.get("env")),
                }))
            }
            "streamable-http" => Some(Self::StreamableHttp(HttpRuntime {
                url: runtime.get("url")?.as_str()?.to_owned(),
                headers: string_pairs(runtime.get("headers")),
            })),
            _ => None,
        }
    }
}

/// The string-valued members of an object, in order (others are skipped:
/// `ToolConfig::parse` has refused them on the way in).
fn string_pairs(object: Option<&Value>) -> Vec<(String, String)> {
    object
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn read(v: Value) -> Option<Runtime> {
        Runtime::from_json(v.as_object()?)
    }

    #[test]
    fn a_stdio_runtime_keeps_its_command_args_and_env_in_order() {
        let rt = read(
            json!({"transport": "stdio", "command": "npx", "args": ["-y", "x"],
                             "env": {"B": "2", "A": "1"}}),
        );
        assert_eq!(
            rt,
            Some(Runtime::Stdio(StdioRuntime {
                command: "npx".into(),
                args: vec!["-y".into(), "x".into()],
                env: vec![("B".into(), "2".into()), ("A".into(), "1".into())],
            }))
        );
    }

    #[test]
    fn an_http_runtime_keeps_its_url_and_headers() {
        let rt = read(
            json!({"transport": "streamable-http", "url": "https://x.example/mcp",
                             "headers": {"Authorization": "Bearer t"}}),
        );
        assert_eq!(
            rt,
            Some(Runtime::StreamableHttp(HttpRuntime {
                url: "https://x.example/mcp".into(),
                headers: vec![("Authorization".into(), "Bearer t".into())],
            }))
        );
    }

    #[test]
    fn no_transport_or_no_command_is_no_runtime() {
        assert_eq!(read(json!({"command": "x"})), None);
        assert_eq!(read(json!({"transport": "stdio", "command": "  "})), None);
        assert_eq!(read(json!({"transport": "grpc", "url": "x"})), None);
    }
}
