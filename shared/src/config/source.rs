//! Where the variables come from (a map, the process environment, `.env`)
//! and the typed readers every settings group parses with. Also the pure
//! half of `secretsmanager://` values: finding the references and marking
//! resolved values secret. Reading the secrets is the bootstrap's job
//! (`adapters::secretsmanager::resolve`), so configuration stays a leaf.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::Path;

use super::{bad, ConfigError};

/// Reads variables from a map (tests, Lambda) or the real environment.
#[derive(Clone)]
pub struct Source {
    vars: HashMap<String, String>,
    /// Variables whose value came from a secret store: errors never echo them.
    secret: HashSet<String>,
}

/// The prefix of a configuration value that names a Secrets Manager secret:
/// `secretsmanager://<name-or-arn>[#json-key]`.
pub const SECRETS_MANAGER_PREFIX: &str = "secretsmanager://";

impl Source {
    /// The process environment, then `.env` in the working directory for names
    /// the environment leaves unset.
    pub fn from_env_and_dotenv() -> Result<Self, ConfigError> {
        let mut vars: HashMap<String, String> = std::env::vars().collect();
        if Path::new(".env").is_file() {
            let iter = dotenvy::from_filename_iter(".env")
                .map_err(|e| bad(".env", format!("a readable KEY=VALUE file ({e})")))?;
            for item in iter {
                let (key, value) =
                    item.map_err(|e| bad(".env", format!("KEY=VALUE lines ({e})")))?;
                vars.entry(key).or_insert(value);
            }
        }
        Ok(Self {
            vars,
            secret: HashSet::new(),
        })
    }

    /// The process environment only (Lambda: there is no `.env`).
    pub fn from_env() -> Self {
        Self {
            vars: std::env::vars().collect(),
            secret: HashSet::new(),
        }
    }

    pub fn from_map<K: Into<String>, V: Into<String>>(
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self {
            vars: vars
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            secret: HashSet::new(),
        }
    }

    /// The value of `name`, when set and not blank (for settings read
    /// outside [`Settings`](super::Settings), such as API keys of external
    /// services).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.first(&[name]).map(|(_, v)| v)
    }

    /// Variables whose value is a `secretsmanager://` reference, sorted by name.
    pub fn secret_references(&self) -> Vec<(String, String)> {
        let mut refs: Vec<_> = self
            .vars
            .iter()
            .filter(|(_, v)| v.trim().starts_with(SECRETS_MANAGER_PREFIX))
            .map(|(k, v)| (k.clone(), v.trim().to_owned()))
            .collect();
        refs.sort();
        refs
    }

    /// Sets `name` to a value read from a secret store; errors about it
    /// will name the variable but never show the value.
    pub fn set_secret(&mut self, name: &str, value: String) {
        self.vars.insert(name.to_owned(), value);
        self.secret.insert(name.to_owned());
    }

    /// Refuses a `secretsmanager://` value still unresolved when the settings
    /// are parsed: the bootstrap resolves them first (with the
    /// `secretsmanager` feature); without it they must not be taken as the
    /// value itself, which would be a secret that is not the secret (a
    /// signing key anyone can guess).
    pub(super) fn refuse_unresolved_references(&self) -> Result<(), ConfigError> {
        match self.secret_references().first() {
            Some((name, _)) => Err(bad(
                name,
                "a secretsmanager:// reference, resolved at start (needs the `secretsmanager` feature)",
            )),
            None => Ok(()),
        }
    }

    /// The first of `names` that is set to a non-empty value, with its name.
    pub(super) fn first<'a>(&self, names: &[&'a str]) -> Option<(&'a str, &str)> {
        names.iter().find_map(|n| {
            self.vars
                .get(*n)
                .map(|v| v.trim())
                .filter(|v| !v.is_empty())
                .map(|v| (*n, v))
        })
    }

    /// The first of `names` that is set, or else `default`, as a string.
    pub(super) fn text_or(&self, names: &[&str], default: &str) -> String {
        self.first(names).map_or(default, |(_, v)| v).to_owned()
    }

    pub(super) fn parsed<T>(
        &self,
        names: &[&str],
        default: T,
        expected: &str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<T, ConfigError> {
        match self.first(names) {
            None => Ok(default),
            Some((name, raw)) if self.secret.contains(name) => {
                parse(raw).ok_or_else(|| bad(name, format!("{expected} (from its secret)")))
            }
            Some((name, raw)) => {
                parse(raw).ok_or_else(|| bad(name, format!("{expected}, got {raw:?}")))
            }
        }
    }

    pub(super) fn bool(&self, names: &[&str], default: bool) -> Result<bool, ConfigError> {
        self.parsed(names, default, "true or false", |s| {
            match s.to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => Some(true),
                "0" | "false" | "no" | "off" => Some(false),
                _ => None,
            }
        })
    }

    pub(super) fn positive<T: std::str::FromStr + PartialOrd + Default>(
        &self,
        names: &[&str],
        default: T,
    ) -> Result<T, ConfigError> {
        self.parsed(names, default, "a positive whole number", |s| {
            s.parse::<T>().ok().filter(|v| *v > T::default())
        })
    }

    /// A whole number in `min..=max`.
    pub(super) fn within<T>(
        &self,
        names: &[&str],
        default: T,
        min: T,
        max: T,
    ) -> Result<T, ConfigError>
    where
        T: std::str::FromStr + PartialOrd + fmt::Display + Copy,
    {
        self.parsed(
            names,
            default,
            &format!("a whole number from {min} to {max}"),
            |s| s.parse::<T>().ok().filter(|v| *v >= min && *v <= max),
        )
    }
}
