//! Request extractors whose failures are our error body, never axum's text:
//! malformed JSON is 400, an oversized body 413, and every bad field of a
//! well-formed body (or query) is listed in one 422.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::error::{Error, FieldError, Result};
use crate::state::AppState;

/// A request body parsed as JSON and then read field by field by `T`.
pub struct ValidJson<T>(pub T);

/// Types that read themselves out of a JSON object, collecting every problem.
pub trait FromJson: Sized {
    fn from_json(reader: &mut FieldReader) -> Option<Self>;
}

impl<T: FromJson> FromRequest<AppState> for ValidJson<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &AppState) -> Result<Self> {
        let declared = declared_json(req.headers());
        let bytes = body_bytes(req, state).await?;
        declared?;
        parse_body(&bytes).map(ValidJson)
    }
}

/// [`ValidJson`] for a body that may be left out: no body (or only
/// whitespace) reads as `{}`.
pub struct ValidJsonOrEmpty<T>(pub T);

impl<T: FromJson> FromRequest<AppState> for ValidJsonOrEmpty<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &AppState) -> Result<Self> {
        let declared = declared_json(req.headers());
        let bytes = body_bytes(req, state).await?;
        let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            declared?;
            &bytes
        };
        parse_body(bytes).map(ValidJsonOrEmpty)
    }
}

/// Whether a body says it is JSON: `application/json` or a `+json` type,
/// any parameters. Anything else (forms, `text/plain`, nothing) is a 415:
/// a cross-site page can send those without a preflight.
pub fn declared_json(headers: &axum::http::HeaderMap) -> Result<()> {
    let sent = headers
        .get(axum::http::header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let essence = sent
        .as_deref()
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    let json = essence.as_deref().is_some_and(|t| {
        t == "application/json" || (t.starts_with("application/") && t.ends_with("+json"))
    });
    if json {
        Ok(())
    } else {
        Err(Error::UnsupportedMediaType(sent.map_or_else(
            || "no Content-Type".to_owned(),
            |s| s.chars().take(100).collect(),
        )))
    }
}

/// A request body, or our 413 when it is over `MAX_BODY_BYTES`.
pub async fn body_bytes(req: Request, state: &AppState) -> Result<Bytes> {
    Bytes::from_request(req, state)
        .await
        .map_err(|rejection| match rejection {
            BytesRejection::FailedToBufferBody(_) => Error::PayloadTooLarge {
                limit_bytes: state.settings.max_body_bytes,
            },
            other => Error::BadRequest(other.body_text()),
        })
}

/// Parses a JSON object body into `T`: 400 when it is not JSON, 422 listing
/// every bad or unknown field otherwise.
pub fn parse_body<T: FromJson>(bytes: &[u8]) -> Result<T> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| Error::BadRequest(format!("malformed JSON body: {e}")))?;
    let Value::Object(map) = value else {
        return Err(Error::invalid(
            &["body"],
            "object_type",
            "the body must be a JSON object",
        ));
    };
    let mut reader = FieldReader::new("body", map);
    let parsed = T::from_json(&mut reader);
    reader.finish()?;
    parsed.ok_or_else(|| Error::internal("a reader returned nothing without recording an error"))
}

/// Reads named fields out of a JSON object (a body, or a query string turned
/// into one), recording one [`FieldError`] per bad field.
pub struct FieldReader {
    section: &'static str,
    fields: Map<String, Value>,
    errors: Vec<FieldError>,
}

impl FieldReader {
    pub fn new(section: &'static str, fields: Map<String, Value>) -> Self {
        Self {
            section,
            fields,
            errors: Vec::new(),
        }
    }

    pub fn error(&mut self, field: &str, kind: &str, msg: impl Into<String>) {
        self.errors
            .push(FieldError::new(&[self.section, field], kind, msg));
    }

    /// Fails with every recorded problem, plus one per field nobody asked for.
    pub fn finish(mut self) -> Result<()> {
        let section = self.section;
        let mut unknown: Vec<FieldError> = self
            .fields
            .keys()
            .map(|k| FieldError::new(&[section, k], "extra_forbidden", "unknown field"))
            .collect();
        // Query strings commonly carry extras (cache busters, tracking); only bodies are strict.
        if section == "body" {
            self.errors.append(&mut unknown);
        }
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(Error::Validation(self.errors))
        }
    }

    pub fn has(&self, field: &str) -> bool {
        self.fields.contains_key(field)
    }

    fn take(&mut self, field: &str) -> Option<Value> {
        self.fields.remove(field)
    }

    /// A field that must be present and not null.
    pub fn required<T>(
        &mut self,
        field: &str,
        parse: impl FnOnce(&Value) -> Result<T, String>,
    ) -> Option<T> {
        match self.take(field) {
            None | Some(Value::Null) => {
                self.error(field, "missing", "field required");
                None
            }
            Some(v) => self.apply(field, &v, parse),
        }
    }

    /// A field that may be absent or null.
    pub fn optional<T>(
        &mut self,
        field: &str,
        parse: impl FnOnce(&Value) -> Result<T, String>,
    ) -> Option<Option<T>> {
        match self.take(field) {
            None | Some(Value::Null) => Some(None),
            Some(v) => self.apply(field, &v, parse).map(Some),
        }
    }

    /// A field whose parser reports nested problems itself (e.g. `config`).
    pub fn nested<T>(
        &mut self,
        field: &str,
        required: bool,
        parse: impl FnOnce(&Value, &[&str]) -> Result<T, Vec<FieldError>>,
    ) -> Option<Option<T>> {
        match self.take(field) {
            None | Some(Value::Null) if required => {
                self.error(field, "missing", "field required");
                None
            }
            None | Some(Value::Null) => Some(None),
            Some(v) => match parse(&v, &[self.section, field]) {
                Ok(t) => Some(Some(t)),
                Err(mut errs) => {
                    self.errors.append(&mut errs);
                    None
                }
            },
        }
    }

    fn apply<T>(
        &mut self,
        field: &str,
        v: &Value,
        parse: impl FnOnce(&Value) -> Result<T, String>,
    ) -> Option<T> {
        match parse(v) {
            Ok(t) => Some(t),
            Err(msg) => {
                let kind = if msg.starts_with("must be a ") && msg.ends_with("value") {
                    "type_error"
                } else {
                    "value_error"
                };
                self.error(field, kind, msg);
                None
            }
        }
    }
}

/// Parsers for [`FieldReader`]: JSON type first, then the domain rule.
pub mod parse {
    use serde_json::Value;

    pub fn string(v: &Value) -> Result<&str, String> {
        v.as_str()
            .ok_or_else(|| "must be a string value".to_owned())
    }

    pub fn bounded_string(max_chars: usize) -> impl Fn(&Value) -> Result<String, String> {
        move |v| {
            let s = string(v)?;
            if s.chars().count() > max_chars {
                return Err(format!("must be at most {max_chars} characters"));
            }
            Ok(s.to_owned())
        }
    }

    pub fn with<T>(
        rule: impl Fn(&str) -> Result<T, String>,
    ) -> impl Fn(&Value) -> Result<T, String> {
        move |v| rule(string(v)?)
    }

    /// A string that passes `rule`, kept as given, for callers that parse it
    /// again further in (e.g. `create_user`, shared with the CLI).
    pub fn checked<T>(
        rule: impl Fn(&str) -> Result<T, String>,
    ) -> impl Fn(&Value) -> Result<String, String> {
        move |v| {
            let s = string(v)?;
            rule(s)?;
            Ok(s.to_owned())
        }
    }

    pub fn boolean(v: &Value) -> Result<bool, String> {
        v.as_bool()
            .ok_or_else(|| "must be a boolean value".to_owned())
    }

    /// Tags: up to 20 distinct strings of 1–64 characters `[a-z0-9-_.]`, lowercased.
    pub fn tags(v: &Value) -> Result<Vec<String>, String> {
        let list = v
            .as_array()
            .ok_or_else(|| "must be a list of strings".to_owned())?;
        if list.len() > 20 {
            return Err("at most 20 tags".into());
        }
        let mut out: Vec<String> = Vec::with_capacity(list.len());
        for item in list {
            let tag = tag(item
                .as_str()
                .ok_or_else(|| "must be a list of strings".to_owned())?)?;
            if !out.contains(&tag) {
                out.push(tag);
            }
        }
        Ok(out)
    }

    pub fn tag(s: &str) -> Result<String, String> {
        let t = s.trim().to_lowercase();
        let ok = (1..=64).contains(&t.len())
            && t.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
            });
        if ok {
            Ok(t)
        } else {
            Err("tags are 1 to 64 characters of a-z, 0-9, '-', '_' or '.'".into())
        }
    }

    pub fn timestamp(v: &Value) -> Result<chrono::DateTime<chrono::Utc>, String> {
        let s = string(v)?;
        chrono::DateTime::parse_from_rfc3339(s)
            .map(|t| chrono::SubsecRound::trunc_subsecs(t.with_timezone(&chrono::Utc), 6))
            .map_err(|_| "must be an RFC 3339 timestamp such as 2030-01-01T00:00:00Z".into())
    }
}

/// The query string as a JSON object of strings, for [`FieldReader`].
pub struct QueryFields(pub FieldReader);

impl<S: Send + Sync> FromRequestParts<S> for QueryFields {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self> {
        let query = parts.uri.query().unwrap_or("");
        let pairs: Vec<(String, String)> = serde_urlencoded_pairs(query)?;
        let mut map = Map::new();
        for (k, v) in pairs {
            map.insert(k, Value::String(v));
        }
        Ok(Self(FieldReader::new("query", map)))
    }
}

fn serde_urlencoded_pairs(query: &str) -> Result<Vec<(String, String)>> {
    use axum::extract::Query;
    let uri: axum::http::Uri = format!("/?{query}")
        .parse()
        .map_err(|_| Error::BadRequest("malformed query string".into()))?;
    Query::<Vec<(String, String)>>::try_from_uri(&uri)
        .map(|Query(pairs)| pairs)
        .map_err(|_| Error::BadRequest("malformed query string".into()))
}

/// Page parameters every list route shares: `page` ≥ 1, 1 ≤ `page_size` ≤ 100.
#[derive(Debug, Clone, Copy)]
pub struct Paging {
    pub page: u32,
    pub page_size: u32,
}

impl Paging {
    pub const MAX_PAGE_SIZE: u32 = 100;

    pub fn read(reader: &mut FieldReader) -> Option<Self> {
        // Both are read before either can end this: a bad `page` must not
        // hide a bad `page_size` from the 422.
        let page = reader.optional("page", |v| query_int(v, 1, 1_000_000));
        let page_size = reader.optional("page_size", |v| query_int(v, 1, Self::MAX_PAGE_SIZE));
        Some(Self {
            page: page?.unwrap_or(1),
            page_size: page_size?.unwrap_or(20),
        })
    }

    pub fn request(self) -> crate::ports::PageRequest {
        crate::ports::PageRequest {
            page: self.page,
            page_size: self.page_size,
        }
    }

    pub fn pages(self, total: u64) -> u64 {
        total.div_ceil(u64::from(self.page_size))
    }
}

fn query_int(v: &Value, min: u32, max: u32) -> Result<u32, String> {
    let msg = || format!("must be a whole number from {min} to {max}");
    let s = v.as_str().ok_or_else(msg)?;
    s.parse::<u32>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(msg)
}

/// Both values, or the error: when both are 422s, one 422 listing the field
/// errors of both (e.g. a bad path id and a bad body). Any other error (a 400
/// or 413 body) wins over a 422, as the request could not even be read.
pub fn both<A, B>(a: Result<A>, b: Result<B>) -> Result<(A, B)> {
    match (a, b) {
        (Ok(a), Ok(b)) => Ok((a, b)),
        (Err(Error::Validation(mut first)), Err(Error::Validation(second))) => {
            first.extend(second);
            Err(Error::Validation(first))
        }
        (Err(Error::Validation(_)), Err(e)) | (Err(e), _) | (_, Err(e)) => Err(e),
    }
}

/// A UUID from a path segment; a malformed one is a 422 naming the segment.
pub fn path_uuid(field: &'static str, raw: &str) -> Result<Uuid> {
    Uuid::parse_str(raw)
        .map_err(|_| Error::invalid(&["path", field], "uuid_parsing", "must be a UUID"))
}
