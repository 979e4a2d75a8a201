//! AWS Secrets Manager as a source of configuration values.
//!
//! In the cloud shape a variable holds a reference instead of the secret:
//! `SECRET_KEY=secretsmanager://mcp-platform/app#jwt_secret`. At start (a
//! Lambda cold start, or `mcp-platform serve`) every such value is replaced
//! by the secret it names, before the settings are validated:
//!
//! - `secretsmanager://<name-or-arn>` is the whole secret string;
//! - `secretsmanager://<name-or-arn>#<key>` is the member `key` of a secret
//!   string holding a JSON object (the shape the console's "key/value"
//!   secrets have). String members are taken as they are; numbers and
//!   booleans as their JSON text.
//!
//! Each secret is read once, however many variables name it. A problem is a
//! [`ConfigError`] naming the variable and the secret id, never the value
//! (the process exits with code 2 as for any configuration error). Values
//! are not logged: resolution runs before logging is set up, and the
//! resolved variables are marked so that validation errors do not echo them.
//!
//! The client is configured from the same variables, the standard SDK ones:
//! `AWS_REGION` (or `AWS_DEFAULT_REGION`), `AWS_ENDPOINT_URL_SECRETS_MANAGER`
//! or `AWS_ENDPOINT_URL` (moto in tests), and `AWS_ACCESS_KEY_ID` /
//! `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN` (what Lambda gives a
//! function from its role); what they leave unset comes from the SDK's
//! default chain. No reference, no client: the local shape needs no AWS
//! configuration at all.

use std::collections::HashMap;
use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_secretsmanager::Client;

use crate::config::{ConfigError, Source, SECRETS_MANAGER_PREFIX};

/// A start that waits on an unreachable endpoint fails within this.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(10);

/// A parsed `secretsmanager://` reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRef {
    /// The secret's name or ARN.
    pub id: String,
    /// The member of a JSON secret, when one is asked for.
    pub key: Option<String>,
}

impl SecretRef {
    /// Parses `secretsmanager://<name-or-arn>[#key]`; `None` when the value
    /// is not a reference or names no secret (or an empty key).
    pub fn parse(value: &str) -> Option<Self> {
        let rest = value.trim().strip_prefix(SECRETS_MANAGER_PREFIX)?;
        // `#` is not allowed in secret names (nor in ARNs), so the first one
        // starts the key.
        let (id, key) = match rest.split_once('#') {
            Some((id, key)) => (id, Some(key)),
            None => (rest, None),
        };
        if id.is_empty() || key.is_some_and(str::is_empty) {
            return None;
        }
        Some(Self {
            id: id.to_owned(),
            key: key.map(str::to_owned),
        })
    }
}

/// Replaces every `secretsmanager://` value of `source` by its secret.
pub async fn resolve(source: &mut Source) -> Result<(), ConfigError> {
    let references = source.secret_references();
    if references.is_empty() {
        return Ok(());
    }
    let mut wanted = Vec::with_capacity(references.len());
    for (name, value) in references {
        let reference = SecretRef::parse(&value).ok_or_else(|| ConfigError {
            variable: name.clone(),
            expected: "secretsmanager://<name-or-arn> or secretsmanager://<name-or-arn>#<json-key>"
                .into(),
        })?;
        wanted.push((name, reference));
    }

    let client = client(source).await;
    let mut ids: Vec<&str> = wanted.iter().map(|(_, r)| r.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    let fetched = futures::future::join_all(ids.iter().map(|id| fetch(&client, id))).await;
    let secrets: HashMap<&str, Result<String, String>> = ids.into_iter().zip(fetched).collect();

    for (name, reference) in &wanted {
        let secret = match &secrets[reference.id.as_str()] {
            Ok(secret) => secret,
            Err(why) => {
                return Err(ConfigError {
                    variable: name.clone(),
                    expected: format!(
                        "the Secrets Manager secret {:?} to be readable ({why})",
                        reference.id
                    ),
                })
            }
        };
        let value = pick(secret, reference).map_err(|expected| ConfigError {
            variable: name.clone(),
            expected,
        })?;
        source.set_secret(name, value);
    }
    Ok(())
}

/// The value `reference` names inside `secret`, or what was expected.
/// The messages never contain any part of the secret.
fn pick(secret: &str, reference: &SecretRef) -> Result<String, String> {
    let Some(key) = &reference.key else {
        return Ok(secret.to_owned());
    };
    let object = match serde_json::from_str::<serde_json::Value>(secret) {
        Ok(serde_json::Value::Object(object)) => object,
        _ => {
            let id = &reference.id;
            return Err(format!(
                "the Secrets Manager secret {id:?} to hold a JSON object (the key {key:?} was asked for)"
            ));
        }
    };
    match object.get(key) {
        Some(serde_json::Value::String(s)) => Ok(s.clone()),
        Some(v @ (serde_json::Value::Number(_) | serde_json::Value::Bool(_))) => Ok(v.to_string()),
        Some(_) => Err(format!(
            "the key {key:?} of the Secrets Manager secret {:?} to be a string, number or boolean",
            reference.id
        )),
        None => Err(format!(
            "the Secrets Manager secret {:?} to have the JSON key {key:?}",
            reference.id
        )),
    }
}

/// A client configured from `source` (see the module docs).
async fn client(source: &Source) -> Client {
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).timeout_config(
        TimeoutConfig::builder()
            .operation_timeout(OPERATION_TIMEOUT)
            .build(),
    );
    if let Some(region) = source
        .get("AWS_REGION")
        .or_else(|| source.get("AWS_DEFAULT_REGION"))
    {
        loader = loader.region(Region::new(region.to_owned()));
    }
    if let Some(url) = source
        .get("AWS_ENDPOINT_URL_SECRETS_MANAGER")
        .or_else(|| source.get("AWS_ENDPOINT_URL"))
    {
        loader = loader.endpoint_url(url);
    }
    if let (Some(id), Some(key)) = (
        source.get("AWS_ACCESS_KEY_ID"),
        source.get("AWS_SECRET_ACCESS_KEY"),
    ) {
        loader = loader.credentials_provider(aws_sdk_secretsmanager::config::Credentials::new(
            id,
            key,
            source.get("AWS_SESSION_TOKEN").map(str::to_owned),
            None,
            "configuration",
        ));
    }
    Client::new(&loader.load().await)
}

/// The secret string of `id`, or why it could not be read (one line, with
/// no part of any secret: errors of GetSecretValue carry none).
async fn fetch(client: &Client, id: &str) -> Result<String, String> {
    let output = client
        .get_secret_value()
        .secret_id(id)
        .send()
        .await
        .map_err(|e| describe(&e))?;
    output
        .secret_string()
        .map(str::to_owned)
        .ok_or_else(|| "it holds binary data; a text secret is needed".to_owned())
}

fn describe<E, R>(error: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let text = match error {
        SdkError::ServiceError(service) => {
            let e = service.err();
            format!(
                "{}: {}",
                e.code().unwrap_or("error"),
                e.message().unwrap_or("no message")
            )
        }
        // The causes' messages only (their Debug forms are long and add nothing).
        other => {
            let mut text = other.to_string();
            let mut cause = std::error::Error::source(other);
            while let Some(e) = cause {
                text.push_str(": ");
                text.push_str(&e.to_string());
                cause = e.source();
            }
            text
        }
    };
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(s: &str) -> Option<SecretRef> {
        SecretRef::parse(s)
    }

    #[test]
    fn references_name_a_secret_and_optionally_a_key() {
        assert_eq!(
            reference("secretsmanager://app/prod"),
            Some(SecretRef {
                id: "app/prod".into(),
                key: None
            })
        );
        let arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:app-AbCdEf";
        assert_eq!(
            reference(&format!("secretsmanager://{arn}#jwt")),
            Some(SecretRef {
                id: arn.into(),
                key: Some("jwt".into())
            })
        );
        for bad in [
            "secretsmanager://",
            "secretsmanager://#key",
            "secretsmanager://name#",
            "sqlite://x",
        ] {
            assert_eq!(reference(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_key_picks_a_json_member_and_errors_never_show_the_secret() {
        let secret = r#"{"jwt":"s3cr3t-value","port":5432,"nested":{"a":1}}"#;
        let with = |key: &str| SecretRef {
            id: "app".into(),
            key: Some(key.into()),
        };
        assert_eq!(pick(secret, &with("jwt")).as_deref(), Ok("s3cr3t-value"));
        assert_eq!(pick(secret, &with("port")).as_deref(), Ok("5432"));
        let whole = SecretRef {
            id: "app".into(),
            key: None,
        };
        assert_eq!(pick(secret, &whole).as_deref(), Ok(secret));
        for (text, key) in [
            (secret, "missing"),
            (secret, "nested"),
            ("s3cr3t-value", "jwt"),
        ] {
            let err = pick(text, &with(key)).expect_err(key);
            assert!(!err.contains("s3cr3t"), "{err}");
            assert!(err.contains("\"app\""), "{err}");
        }
    }
}
