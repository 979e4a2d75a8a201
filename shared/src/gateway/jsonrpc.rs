//! Just enough JSON-RPC for a transparent relay: a message is scanned for
//! its `id` and `method` (everything else is skipped, not built), and an id
//! is replaced by splicing bytes, so fields the gateway does not know — later
//! spec revisions' — pass through byte for byte.

use std::ops::Range;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::value::RawValue;

/// Standard JSON-RPC error codes the gateway answers with.
pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;
pub const METHOD_NOT_FOUND: i64 = -32601;
pub const INTERNAL_ERROR: i64 = -32603;
/// Implementation-defined server error: the MCP server behind the gateway
/// is not reachable (crashed, restarting, stopped).
pub const SERVER_UNAVAILABLE: i64 = -32000;

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    method: Option<std::borrow::Cow<'a, str>>,
}

/// What kind of JSON-RPC message a line or body holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// Has an id and a method.
    Request,
    /// Has a method, no id.
    Notification,
    /// Has an id, no method (`result` or `error`).
    Response,
}

/// One message, scanned: where its id sits in `bytes`, and its method.
#[derive(Debug, Clone)]
pub struct Peek {
    pub kind: Kind,
    /// Byte range of the id's JSON text (`7`, `"abc"`) in the message.
    pub id: Option<Range<usize>>,
    pub method: Option<String>,
}

impl Peek {
    /// The id's JSON text.
    pub fn id_text<'a>(&self, bytes: &'a [u8]) -> Option<&'a [u8]> {
        self.id.clone().map(|r| &bytes[r])
    }
}

/// Scans one JSON-RPC message (an object). `None` for anything else:
/// malformed JSON, a batch array, an object with neither id nor method.
pub fn peek(bytes: &[u8]) -> Option<Peek> {
    // A derived struct would also read a JSON array positionally: only an object is a message.
    if !bytes.trim_ascii_start().starts_with(b"{") {
        return None;
    }
    let text = std::str::from_utf8(bytes).ok()?;
    let envelope: Envelope = serde_json::from_str(text).ok()?;
    // A `null` id is kept as an id: it marks an error answer to an unreadable request.
    let id = envelope.id.map(|raw| {
        let start = raw.get().as_ptr() as usize - text.as_ptr() as usize;
        start..start + raw.get().len()
    });
    let method = envelope.method.map(std::borrow::Cow::into_owned);
    let kind = match (&id, &method) {
        (Some(_), Some(_)) => Kind::Request,
        (None, Some(_)) => Kind::Notification,
        (Some(_), None) => Kind::Response,
        (None, None) => return None,
    };
    Some(Peek { kind, id, method })
}

/// `bytes` with the id at `range` replaced by `new_id` (JSON text).
pub fn replace_id(bytes: &[u8], range: Range<usize>, new_id: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(bytes.len() + new_id.len());
    out.extend_from_slice(&bytes[..range.start]);
    out.extend_from_slice(new_id);
    out.extend_from_slice(&bytes[range.end..]);
    Bytes::from(out)
}

/// A JSON-RPC error response to the request with id `id` (JSON text;
/// `null` when the request could not be read).
pub fn error(id: Option<&[u8]>, code: i64, message: &str) -> Bytes {
    let id = id.map_or("null".to_owned(), |id| {
        String::from_utf8_lossy(id).into_owned()
    });
    let message = serde_json::Value::String(message.to_owned());
    Bytes::from(format!(
        r#"{{"jsonrpc":"2.0","id":{id},"error":{{"code":{code},"message":{message}}}}}"#
    ))
}

/// A JSON-RPC result response with `result` (JSON text).
pub fn result(id: &[u8], result: &str) -> Bytes {
    let id = String::from_utf8_lossy(id);
    Bytes::from(format!(
        r#"{{"jsonrpc":"2.0","id":{id},"result":{result}}}"#
    ))
}

/// Whether a response is an error response, by a cheap scan (usage rows
/// record ok/error without parsing the result).
pub fn is_error_response(bytes: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct HasError<'a> {
        #[serde(borrow, default)]
        error: Option<&'a RawValue>,
    }
    serde_json::from_slice::<HasError>(bytes)
        .map(|e| e.error.is_some())
        .unwrap_or(false)
}

/// Methods whose 2026-07-28 results carry caching directives.
pub fn is_cacheable(method: &str) -> bool {
    matches!(
        method,
        "tools/list"
            | "prompts/list"
            | "resources/list"
            | "resources/templates/list"
            | "resources/read"
            | "server/discover"
    )
}

/// A response of a handshake-era server made valid on the 2026-07-28 wire:
/// `resultType` (and, for cacheable results, `ttlMs`/`cacheScope`) added
/// where missing — spliced in, the rest of the result untouched.
pub fn modernize_result(message: Bytes, cacheable: bool) -> Bytes {
    #[derive(Deserialize)]
    struct Response<'a> {
        #[serde(borrow, default)]
        result: Option<&'a RawValue>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Present<'a> {
        #[serde(borrow, default)]
        result_type: Option<&'a RawValue>,
        #[serde(borrow, default)]
        ttl_ms: Option<&'a RawValue>,
        #[serde(borrow, default)]
        cache_scope: Option<&'a RawValue>,
    }
    let Ok(text) = std::str::from_utf8(&message) else {
        return message;
    };
    let Ok(Response { result: Some(raw) }) = serde_json::from_str::<Response>(text) else {
        return message;
    };
    let body = raw.get();
    if !body.starts_with('{') {
        return message;
    }
    let Ok(present) = serde_json::from_str::<Present>(body) else {
        return message;
    };
    let mut add = Vec::new();
    if present.result_type.is_none() {
        add.push(r#""resultType":"complete""#);
    }
    if cacheable && present.ttl_ms.is_none() {
        add.push(r#""ttlMs":0"#);
    }
    if cacheable && present.cache_scope.is_none() {
        add.push(r#""cacheScope":"private""#);
    }
    if add.is_empty() {
        return message;
    }
    let mut insert = add.join(",");
    let empty = body[1..].trim_start().starts_with('}');
    if !empty {
        insert.push(',');
    }
    let at = body.as_ptr() as usize - text.as_ptr() as usize + 1;
    let mut out = Vec::with_capacity(message.len() + insert.len());
    out.extend_from_slice(&message[..at]);
    out.extend_from_slice(insert.as_bytes());
    out.extend_from_slice(&message[at..]);
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modern_results_gain_their_required_members_once() {
        let plain = Bytes::from_static(br#"{"jsonrpc":"2.0","id":1,"result":{"tools":[]}}"#);
        let v: serde_json::Value =
            serde_json::from_slice(&modernize_result(plain, true)).expect("json");
        assert_eq!(v["result"]["resultType"], "complete");
        assert_eq!(v["result"]["ttlMs"], 0);
        assert_eq!(v["result"]["cacheScope"], "private");
        assert!(v["result"]["tools"].is_array());
        let empty = Bytes::from_static(br#"{"jsonrpc":"2.0","id":1,"result":{ }}"#);
        let v: serde_json::Value =
            serde_json::from_slice(&modernize_result(empty, false)).expect("json");
        assert_eq!(v["result"], serde_json::json!({"resultType": "complete"}));
        let native = Bytes::from_static(br#"{"jsonrpc":"2.0","id":1,"result":{"resultType":"x"}}"#);
        assert_eq!(modernize_result(native.clone(), false), native);
        let error = Bytes::from_static(br#"{"jsonrpc":"2.0","id":1,"error":{"code":1}}"#);
        assert_eq!(modernize_result(error.clone(), true), error);
    }

    #[test]
    fn peek_finds_the_id_and_method_and_splicing_keeps_the_rest() {
        let msg = br#"{"jsonrpc":"2.0", "id" : "abc", "method":"tools/call","params":{"id":5,"x":[1,{"method":"no"}]}}"#;
        let p = peek(msg).expect("a request");
        assert_eq!(p.kind, Kind::Request);
        assert_eq!(p.method.as_deref(), Some("tools/call"));
        assert_eq!(p.id_text(msg), Some(&br#""abc""#[..]));
        let out = replace_id(msg, p.id.clone().expect("id"), b"17");
        let v: serde_json::Value = serde_json::from_slice(&out).expect("json");
        assert_eq!(v["id"], 17);
        assert_eq!(v["params"]["id"], 5);
        assert_eq!(v["params"]["x"][1]["method"], "no");
    }

    #[test]
    fn kinds_are_told_apart() {
        assert_eq!(
            peek(br#"{"jsonrpc":"2.0","method":"notifications/x"}"#).map(|p| p.kind),
            Some(Kind::Notification)
        );
        assert_eq!(
            peek(br#"{"jsonrpc":"2.0","id":3,"result":{}}"#).map(|p| p.kind),
            Some(Kind::Response)
        );
        assert!(peek(br#"[{"jsonrpc":"2.0","id":3,"method":"a"}]"#).is_none());
        assert!(peek(b"not json").is_none());
        assert!(peek(br#"{"jsonrpc":"2.0"}"#).is_none());
    }

    #[test]
    fn escaped_methods_and_error_bodies_are_well_formed() {
        let p = peek(br#"{"id":1,"method":"a\/b"}"#).expect("request");
        assert_eq!(p.method.as_deref(), Some("a/b"));
        let e = error(Some(b"1"), METHOD_NOT_FOUND, "no \"such\" method");
        let v: serde_json::Value = serde_json::from_slice(&e).expect("json");
        assert_eq!(v["error"]["code"], METHOD_NOT_FOUND);
        assert!(is_error_response(&e));
        assert!(!is_error_response(&result(b"1", "{}")));
    }
}
