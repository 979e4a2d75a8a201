//! Value types parsed once at the edge. Each `parse` returns a message fit for
//! a 422 `msg`; the caller supplies the `loc`.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::FieldError;

macro_rules! string_newtype {
    ($name:ident) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

/// URL-safe tool identifier: `^[a-z0-9-]+$`, 1–100 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Slug(String);
string_newtype!(Slug);

impl Slug {
    pub const MAX_LEN: usize = 100;

    pub fn parse(s: &str) -> Result<Self, String> {
        if s.is_empty() || s.len() > Self::MAX_LEN {
            return Err(format!("must be 1 to {} characters", Self::MAX_LEN));
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err("must match ^[a-z0-9-]+$".into());
        }
        Ok(Self(s.to_owned()))
    }
}

/// A tool's display name: 1–255 characters after trimming, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ToolName(String);
string_newtype!(ToolName);

impl ToolName {
    /// 1 to 255 characters of [`shown_text`] without markup, NFC.
    pub fn parse(s: &str) -> Result<Self, String> {
        let t = shown_text(s.trim())?;
        let chars = t.chars().count();
        if chars == 0 || chars > 255 {
            return Err("must be 1 to 255 characters".into());
        }
        if t.chars().any(char::is_control) {
            return Err("must not contain control characters".into());
        }
        refuse_markup(&t)?;
        Ok(Self(t))
    }
}

/// Characters that change what a reader sees without being seen: zero-width
/// characters, bidirectional embeddings, overrides and isolates, the word
/// joiner family and the byte-order mark. A tool's name or description with
/// one can read as another tool's, or hide text from a reviewer.
fn is_spoofing(c: char) -> bool {
    matches!(c,
        '\u{200B}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{2069}'
        | '\u{FEFF}')
}

/// Text shown to people and to MCP clients (names, descriptions): refused
/// when it holds a [spoofing](is_spoofing) character, else NFC-normalised so
/// that one name has one spelling.
pub fn shown_text(s: &str) -> Result<String, String> {
    if let Some(c) = s.chars().find(|c| is_spoofing(*c)) {
        return Err(format!(
            "must not contain invisible or bidirectional control characters (found U+{:04X})",
            u32::from(c)
        ));
    }
    Ok(unicode_normalization::UnicodeNormalization::nfc(s).collect())
}

/// Names are plain text: `<` and `>` would be markup wherever one is rendered.
fn refuse_markup(name: &str) -> Result<(), String> {
    if name.contains(['<', '>']) {
        return Err("must be plain text (no < or >)".into());
    }
    Ok(())
}

/// `MAJOR.MINOR.PATCH`, each a number without leading zeros (SemVer 2.0 core).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SemVer {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
}

impl SemVer {
    pub fn parse(s: &str) -> Result<Self, String> {
        const MSG: &str = "must be a version MAJOR.MINOR.PATCH such as 1.0.0";
        let mut parts = s.split('.');
        let mut next = || -> Result<u64, String> {
            let p = parts.next().ok_or(MSG)?;
            let valid = !p.is_empty()
                && p.bytes().all(|b| b.is_ascii_digit())
                && (p == "0" || !p.starts_with('0'));
            if !valid {
                return Err(MSG.into());
            }
            p.parse().map_err(|_| MSG.to_owned())
        };
        let v = Self {
            major: next()?,
            minor: next()?,
            patch: next()?,
        };
        if parts.next().is_some() {
            return Err(MSG.into());
        }
        Ok(v)
    }
}

impl Ord for SemVer {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.major, self.minor, self.patch).cmp(&(other.major, other.minor, other.patch))
    }
}
impl PartialOrd for SemVer {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl fmt::Display for SemVer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}
impl FromStr for SemVer {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::parse(s)
    }
}
impl Serialize for SemVer {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}
impl<'de> Deserialize<'de> for SemVer {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// 3–50 characters of letters, digits, `_`, `-`, `.`; starts with a letter or digit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Username(String);
string_newtype!(Username);

impl Username {
    pub fn parse(s: &str) -> Result<Self, String> {
        let ok_len = (3..=50).contains(&s.len());
        let ok_chars = s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        let ok_start = s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric());
        if ok_len && ok_chars && ok_start {
            Ok(Self(s.to_owned()))
        } else {
            Err(
                "must be 3 to 50 letters, digits, '_', '-' or '.', starting with a letter or digit"
                    .into(),
            )
        }
    }
}

/// A plausible e-mail address (one `@`, a dotted domain), stored lowercased.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Email(String);
string_newtype!(Email);

impl Email {
    pub fn parse(s: &str) -> Result<Self, String> {
        const MSG: &str = "must be an e-mail address such as ada@example.com";
        let s = s.trim();
        let (local, domain) = s.split_once('@').ok_or(MSG)?;
        let ok = !local.is_empty()
            && s.len() <= 254
            && !domain.contains('@')
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !s.chars().any(|c| c.is_whitespace() || c.is_control());
        if ok {
            Ok(Self(s.to_lowercase()))
        } else {
            Err(MSG.into())
        }
    }
}

/// A new password: 8–128 characters. Its `Debug` never shows the value.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub fn parse(s: &str) -> Result<Self, String> {
        let n = s.chars().count();
        if !(8..=128).contains(&n) {
            return Err("must be 8 to 128 characters".into());
        }
        Ok(Self(s.to_owned()))
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}
impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// A tool's MCP configuration: a JSON object whose well-known members
/// (`runtime`, `tools`, `prompts`, `resources`) have been checked; everything
/// else is kept as given so later spec revisions pass through.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct ToolConfig(Map<String, Value>);

impl ToolConfig {
    /// Checks `value` as a config found at `loc`; returns every problem found.
    pub fn parse(value: &Value, loc: &[&str]) -> Result<Self, Vec<FieldError>> {
        let Some(obj) = value.as_object() else {
            return Err(vec![FieldError::new(
                loc,
                "object_type",
                "must be a JSON object",
            )]);
        };
        let mut errors = Vec::new();
        let at = |more: &[&str]| -> Vec<String> {
            loc.iter().chain(more).map(|s| (*s).to_owned()).collect()
        };
        let mut push = |path: Vec<String>, kind: &str, msg: &str| {
            errors.push(FieldError {
                loc: path,
                msg: msg.to_owned(),
                kind: kind.to_owned(),
            });
        };

        if let Some(runtime) = obj.get("runtime") {
            match runtime.as_object() {
                None => push(at(&["runtime"]), "object_type", "must be a JSON object"),
                Some(rt) => match rt.get("transport").and_then(Value::as_str) {
                    Some("stdio") => {
                        match rt.get("command").and_then(Value::as_str) {
                            Some(c) if !c.trim().is_empty() => {}
                            _ => push(
                                at(&["runtime", "command"]),
                                "missing",
                                "stdio runtime needs a non-empty command string",
                            ),
                        }
                        if let Some(args) = rt.get("args") {
                            let ok = args
                                .as_array()
                                .is_some_and(|a| a.iter().all(Value::is_string));
                            if !ok {
                                push(
                                    at(&["runtime", "args"]),
                                    "list_type",
                                    "must be a list of strings",
                                );
                            }
                        }
                        if let Some(env) = rt.get("env") {
                            let ok = env
                                .as_object()
                                .is_some_and(|m| m.values().all(Value::is_string));
                            if !ok {
                                push(
                                    at(&["runtime", "env"]),
                                    "dict_type",
                                    "must be an object of string values",
                                );
                            }
                        }
                    }
                    Some("streamable-http") => {
                        let url = rt.get("url").and_then(Value::as_str).unwrap_or("");
                        let scheme_ok = url.starts_with("http://") || url.starts_with("https://");
                        if !scheme_ok || url.len() <= "https://".len() {
                            push(
                                at(&["runtime", "url"]),
                                "url_type",
                                "streamable-http runtime needs an http(s) url",
                            );
                        }
                    }
                    _ => push(
                        at(&["runtime", "transport"]),
                        "enum",
                        "must be one of: stdio, streamable-http",
                    ),
                },
            }
        }

        if let Some(tools) = obj.get("tools") {
            match tools.as_array() {
                None => push(
                    at(&["tools"]),
                    "list_type",
                    "must be a list of tool definitions",
                ),
                Some(list) => {
                    for (i, tool) in list.iter().enumerate() {
                        let idx = i.to_string();
                        let Some(t) = tool.as_object() else {
                            push(at(&["tools", &idx]), "object_type", "must be a JSON object");
                            continue;
                        };
                        match t.get("name").and_then(Value::as_str) {
                            Some(n) if !n.is_empty() && n.len() <= 128 => {
                                if let Err(why) = shown_text(n).and_then(|n| refuse_markup(&n)) {
                                    push(at(&["tools", &idx, "name"]), "value_error", &why);
                                }
                            }
                            _ => push(
                                at(&["tools", &idx, "name"]),
                                "missing",
                                "each tool needs a name of 1 to 128 characters",
                            ),
                        }
                        if let Some(d) = t.get("description") {
                            match d.as_str() {
                                None => push(
                                    at(&["tools", &idx, "description"]),
                                    "string_type",
                                    "must be a string",
                                ),
                                Some(d) => {
                                    if let Err(why) = shown_text(d) {
                                        push(
                                            at(&["tools", &idx, "description"]),
                                            "value_error",
                                            &why,
                                        );
                                    }
                                }
                            }
                        }
                        for key in ["inputSchema", "input_schema"] {
                            if let Some(schema) = t.get(key) {
                                if !schema.is_object() {
                                    push(
                                        at(&["tools", &idx, key]),
                                        "object_type",
                                        "must be a JSON Schema object",
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
        for key in ["prompts", "resources"] {
            if let Some(v) = obj.get(key) {
                if !v.is_array() {
                    push(at(&[key]), "list_type", "must be a list");
                }
            }
        }

        if errors.is_empty() {
            Ok(Self(obj.clone()))
        } else {
            Err(errors)
        }
    }

    /// The runtime this config declares, read into types; `None` when it
    /// has none that can run (a tool may be registered before it has one).
    pub fn runtime(&self) -> Option<super::Runtime> {
        super::Runtime::from_json(self.0.get("runtime")?.as_object()?)
    }

    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }

    pub fn to_value(&self) -> Value {
        Value::Object(self.0.clone())
    }

    /// For values read back from our own storage, which were parsed on the way in.
    pub fn from_stored(value: Value) -> Self {
        match value {
            Value::Object(map) => Self(map),
            _ => Self(Map::new()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn slug_accepts_exactly_the_documented_alphabet(s in "\\PC{0,120}") {
            let expected = !s.is_empty()
                && s.len() <= Slug::MAX_LEN
                && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            prop_assert_eq!(Slug::parse(&s).is_ok(), expected, "slug {:?}", s);
        }

        #[test]
        fn generated_slugs_round_trip(s in "[a-z0-9-]{1,100}") {
            prop_assert_eq!(Slug::parse(&s).map(|v| v.to_string()), Ok(s));
        }

        #[test]
        fn semver_round_trips_and_orders_like_tuples(a in any::<(u32, u32, u32)>(), b in any::<(u32, u32, u32)>()) {
            let va = SemVer::parse(&format!("{}.{}.{}", a.0, a.1, a.2)).expect("valid");
            let vb = SemVer::parse(&format!("{}.{}.{}", b.0, b.1, b.2)).expect("valid");
            prop_assert_eq!(va.to_string(), format!("{}.{}.{}", a.0, a.1, a.2));
            prop_assert_eq!(va.cmp(&vb), a.cmp(&b));
        }

        #[test]
        fn semver_rejects_anything_but_three_plain_numbers(s in "[0-9a-z.+-]{0,12}") {
            let parts: Vec<&str> = s.split('.').collect();
            let expected = parts.len() == 3 && parts.iter().all(|p| {
                !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())
                    && (*p == "0" || !p.starts_with('0')) && p.parse::<u64>().is_ok()
            });
            prop_assert_eq!(SemVer::parse(&s).is_ok(), expected, "version {:?}", s);
        }
    }

    #[test]
    fn semver_rejects_leading_zeros_and_suffixes() {
        for bad in [
            "01.0.0",
            "1.0",
            "1.0.0.0",
            "1.0.0-beta",
            "v1.0.0",
            "",
            "1..0",
            " 1.0.0",
        ] {
            assert!(SemVer::parse(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn config_errors_name_every_bad_field() {
        let cfg = serde_json::json!({
            "runtime": {"transport": "stdio", "args": [1]},
            "tools": [{"description": 5}, "x"]
        });
        let errs = ToolConfig::parse(&cfg, &["body", "config"]).expect_err("invalid");
        let locs: Vec<String> = errs.iter().map(|e| e.loc.join(".")).collect();
        assert_eq!(
            locs,
            [
                "body.config.runtime.command",
                "body.config.runtime.args",
                "body.config.tools.0.name",
                "body.config.tools.0.description",
                "body.config.tools.1",
            ]
        );
    }
}
