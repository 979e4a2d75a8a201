//! Configuration values from AWS Secrets Manager (moto): a variable set to
//! `secretsmanager://<name>[#json-key]` is replaced at start by the secret,
//! both by a Lambda cold start (`lambda::bootstrap_from`) and by the
//! `mcp-platform` binary; the values never appear in logs, `/health` or
//! errors; a missing secret or key stops the start with exit code 2 naming
//! the variable and the secret.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use aws_sdk_secretsmanager::Client;
use mcp_platform::adapters::secretsmanager::resolve;
use mcp_platform::config::{JwtSecretSource, Source};
use mcp_platform_tests::moto;
use mcp_platform_tests::tempdir::TempDir;
use mcp_platform_tests::{platform_binary, poll_until};
use serde_json::{json, Value};
use uuid::Uuid;

/// Secrets of one test, with distinctive values to search output for.
struct Secrets {
    endpoint: String,
    /// A JSON secret: `jwt`, `openai`, `port`.
    app: String,
    /// A plain secret: a whole `DATABASE_URL`.
    db: String,
    jwt: String,
    openai: String,
    db_url: String,
}

async fn client(endpoint: &str) -> Client {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(moto::REGION))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_secretsmanager::config::Credentials::new(
            moto::ACCESS_KEY,
            moto::SECRET_KEY,
            None,
            None,
            "test",
        ))
        .load()
        .await;
    Client::new(&config)
}

async fn create(client: &Client, name: &str, value: &str) {
    client
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "create secret {name} in moto: {}",
                aws_sdk_secretsmanager::error::DisplayErrorContext(&e)
            )
        });
}

/// Creates the test's secrets in moto; the SQLite file lives in `dir`.
async fn secrets(dir: &Path) -> Secrets {
    let endpoint = moto::endpoint().await;
    let client = client(&endpoint).await;
    let run = Uuid::new_v4().simple().to_string();
    let jwt = format!("jwt-{run}-{run}");
    let openai = format!("sk-openai-{run}");
    let db_url = format!("sqlite://{}", dir.join(format!("db-{run}.db")).display());
    let app = format!("mcp-platform/{run}/app");
    let db = format!("mcp-platform/{run}/database-url");
    create(
        &client,
        &app,
        &json!({"jwt": jwt, "openai": openai, "port": 5432}).to_string(),
    )
    .await;
    create(&client, &db, &db_url).await;
    Secrets {
        endpoint,
        app,
        db,
        jwt,
        openai,
        db_url,
    }
}

impl Secrets {
    /// The AWS variables a function gets, pointed at moto.
    fn aws(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL", self.endpoint.as_str()),
            ("AWS_REGION", moto::REGION),
            ("AWS_ACCESS_KEY_ID", moto::ACCESS_KEY),
            ("AWS_SECRET_ACCESS_KEY", moto::SECRET_KEY),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    fn references(&self) -> Vec<(String, String)> {
        let mut vars = self.aws();
        vars.extend([
            (
                "SECRET_KEY".to_owned(),
                format!("secretsmanager://{}#jwt", self.app),
            ),
            (
                "DATABASE_URL".to_owned(),
                format!("secretsmanager://{}", self.db),
            ),
            (
                "OPENAI_API_KEY".to_owned(),
                format!("secretsmanager://{}#openai", self.app),
            ),
        ]);
        vars
    }

    fn values(&self) -> [&str; 3] {
        [&self.jwt, &self.openai, &self.db_url]
    }
}

// ------------------------------------------------------------ in process

#[tokio::test]
async fn a_cold_start_resolves_references_once_and_leaves_plain_values_alone() {
    let dir = TempDir::new();
    let s = secrets(&dir.0).await;
    let mut vars = s.references();
    vars.push(("MCP_DATA_DIR".into(), dir.0.display().to_string()));
    vars.push(("LOG_LEVEL".into(), "warn".into()));
    vars.push(("JWT_ISSUER".into(), "plain-issuer".into()));
    vars.push(("PORT".into(), format!("secretsmanager://{}#port", s.app)));
    let source = Source::from_map(vars);

    let mut resolved = source.clone();
    resolve(&mut resolved).await.expect("references resolve");
    assert_eq!(resolved.get("OPENAI_API_KEY"), Some(s.openai.as_str()));
    assert_eq!(resolved.get("PORT"), Some("5432"), "a JSON number as text");
    assert_eq!(resolved.get("JWT_ISSUER"), Some("plain-issuer"));
    assert!(resolved.secret_references().is_empty());

    let state = mcp_platform::lambda::bootstrap_from(&source)
        .await
        .expect("the function bootstraps from Secrets Manager");
    match &state.settings.jwt_secret {
        JwtSecretSource::Given(secret) => assert_eq!(secret.expose(), s.jwt),
        other => panic!("the signing secret comes from the secret: {other:?}"),
    }
    assert_eq!(state.settings.database_url.expose(), s.db_url);
    assert_eq!(state.settings.bind.port(), 5432);
    assert_eq!(state.settings.jwt_issuer, "plain-issuer");
    let debug = format!("{:?}", state.settings);
    assert!(!debug.contains(&s.jwt), "Debug of the settings: {debug}");
}

#[tokio::test]
async fn no_reference_needs_no_aws_configuration() {
    // No endpoint, region or credentials: nothing is asked of AWS.
    let source = Source::from_map([("SECRET_KEY", "p".repeat(40)), ("PORT", "9000".into())]);
    let mut resolved = source.clone();
    resolve(&mut resolved).await.expect("nothing to resolve");
    assert_eq!(resolved.get("SECRET_KEY"), Some("p".repeat(40).as_str()));
    assert_eq!(resolved.get("PORT"), Some("9000"));
}

#[tokio::test]
async fn an_unresolved_reference_is_refused_not_taken_as_the_value() {
    // `Settings::load` without resolving first (or a build without the
    // feature): the reference must not become the signing secret.
    let source = Source::from_map([(
        "SECRET_KEY",
        "secretsmanager://mcp-platform/a-long-enough-name#jwt",
    )]);
    let err =
        mcp_platform::config::Settings::load(&source, &Default::default()).expect_err("refused");
    assert_eq!(err.variable, "SECRET_KEY");
}

#[tokio::test]
async fn a_resolved_value_that_fails_validation_is_named_but_not_shown() {
    let dir = TempDir::new();
    let s = secrets(&dir.0).await;
    let mut vars = s.aws();
    // The JSON secret's `openai` member is no port number.
    vars.push(("PORT".into(), format!("secretsmanager://{}#openai", s.app)));
    vars.push(("MCP_DATA_DIR".into(), dir.0.display().to_string()));
    let err = match mcp_platform::lambda::bootstrap_from(&Source::from_map(vars)).await {
        Ok(_) => panic!("a port that is no number must be refused"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("PORT"), "{err}");
    assert!(
        !err.contains(&s.openai),
        "the error shows the secret: {err}"
    );
}

// ------------------------------------------------------------ the binary

/// `mcp-platform serve` with exactly `vars` (and PATH), output captured.
fn serve(vars: &[(String, String)], dir: &Path) -> tokio::process::Child {
    tokio::process::Command::new(platform_binary())
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("mcp-platform starts")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Waits for the process to exit; its exit code and all of its output.
async fn finish(child: tokio::process::Child) -> (Option<i32>, String) {
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("the process ends within a minute")
        .expect("output is read");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code(), text)
}

#[tokio::test]
async fn the_binary_starts_on_secrets_and_never_shows_them() {
    let dir = TempDir::new();
    let s = secrets(&dir.0).await;
    let port = free_port();
    let mut vars = s.references();
    vars.extend([
        ("MCP_BIND".to_owned(), format!("127.0.0.1:{port}")),
        ("MCP_DATA_DIR".to_owned(), dir.0.display().to_string()),
        // As much logging as there is: none of it may carry a value.
        ("LOG_LEVEL".to_owned(), "debug".to_owned()),
        ("APP_ENV".to_owned(), "production".to_owned()),
    ]);
    let mut child = serve(&vars, &dir.0);
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    poll_until(
        "the platform answers /health",
        Duration::from_secs(60),
        async || {
            http.get(format!("{base}/health"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        },
    )
    .await;

    let mut seen = String::new();
    let health = http
        .get(format!("{base}/health"))
        .send()
        .await
        .expect("health");
    seen.push_str(&health.text().await.expect("health body"));

    // The signing secret is the secret's value: a token it issued verifies
    // with that value.
    let user = json!({"username": "vaulted", "email": "vaulted@example.com",
        "password": "Str0ng-Passw0rd!"});
    let registered = http
        .post(format!("{base}/api/v1/auth/register"))
        .json(&user)
        .send()
        .await
        .expect("register");
    assert!(
        registered.status().is_success(),
        "{:?}",
        registered.text().await
    );
    let login = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"username": "vaulted", "password": "Str0ng-Passw0rd!"}))
        .send()
        .await
        .expect("login");
    assert!(login.status().is_success());
    let tokens: Value = login.json().await.expect("tokens");
    let access = tokens["access_token"].as_str().expect("access_token");
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.validate_aud = false;
    jsonwebtoken::decode::<Value>(
        access,
        &jsonwebtoken::DecodingKey::from_secret(s.jwt.as_bytes()),
        &validation,
    )
    .expect("the token is signed with the secret from Secrets Manager");
    // The database is the one the secret names.
    let db_file = s.db_url.trim_start_matches("sqlite://");
    assert!(Path::new(db_file).is_file(), "{db_file} was created");

    // Errors do not carry values either.
    for (path, body) in [
        (
            "/api/v1/auth/login",
            json!({"username": "vaulted", "password": "wrong"}),
        ),
        ("/api/v1/auth/login", json!({"username": 5})),
    ] {
        let reply = http
            .post(format!("{base}{path}"))
            .json(&body)
            .send()
            .await
            .expect("request");
        seen.push_str(&reply.text().await.expect("body"));
    }
    let metrics = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("metrics");
    seen.push_str(&metrics.text().await.unwrap_or_default());

    child.start_kill().expect("stop the platform");
    let (_, output) = finish(child).await;
    assert!(!output.is_empty(), "the platform logged at debug level");
    seen.push_str(&output);
    for value in [s.jwt.as_str(), s.openai.as_str()] {
        assert!(
            !seen.contains(value),
            "a secret value appeared in the output or a response"
        );
    }
}

#[tokio::test]
async fn a_missing_secret_or_key_stops_the_start_with_exit_code_2_naming_the_variable() {
    let dir = TempDir::new();
    let s = secrets(&dir.0).await;
    let missing = format!("mcp-platform/{}/absent", Uuid::new_v4().simple());
    let cases = [
        (
            "SECRET_KEY",
            format!("secretsmanager://{missing}"),
            missing.clone(),
        ),
        (
            "SECRET_KEY",
            format!("secretsmanager://{}#no_such_key", s.app),
            "no_such_key".to_owned(),
        ),
        (
            "DATABASE_URL",
            format!("secretsmanager://{}#url", s.db),
            s.db.clone(),
        ),
        (
            "OPENAI_API_KEY",
            "secretsmanager://".to_owned(),
            "secretsmanager://".to_owned(),
        ),
    ];
    for (variable, reference, mentioned) in cases {
        let mut vars = s.aws();
        vars.push((variable.to_owned(), reference.clone()));
        vars.push(("MCP_DATA_DIR".to_owned(), dir.0.display().to_string()));
        vars.push(("MCP_BIND".to_owned(), format!("127.0.0.1:{}", free_port())));
        let (code, output) = finish(serve(&vars, &dir.0)).await;
        assert_eq!(code, Some(2), "{variable}={reference}: {output}");
        assert!(output.contains(variable), "names {variable}: {output}");
        assert!(output.contains(&mentioned), "names {mentioned}: {output}");
        for value in s.values() {
            assert!(!output.contains(value), "shows a secret value: {output}");
        }
    }
}
