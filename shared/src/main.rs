//! `mcp-platform`: one binary, many roles. Bootstrap only; the product lives
//! in the library.

use std::io::Read;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use mcp_platform::config::{ConfigError, Overrides, Settings, Source};
use mcp_platform::domain::Role;
use mcp_platform::jobs::Registry;
use mcp_platform::scheduler::{standard_schedule, Scheduler};
use mcp_platform::state::{create_user, migration_target, AppState};
use mcp_platform::worker::Worker;
use mcp_platform::{http, migrate, telemetry};

#[derive(Parser)]
#[command(
    name = "mcp-platform",
    version,
    about = "Register, version, search, analyse, deploy and call MCP tools"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone, Default)]
struct Location {
    /// Address to listen on [env: MCP_BIND] [default: 127.0.0.1:8000]
    #[arg(long, value_name = "ADDR:PORT", global = true)]
    bind: Option<SocketAddr>,
    /// Directory of the embedded data (SQLite file, generated secret) [env: MCP_DATA_DIR] [default: ./data]
    #[arg(long, value_name = "DIR", global = true)]
    data_dir: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the whole platform in one process (the embedded default).
    Serve(Location),
    /// Run only the HTTP API.
    Api(Location),
    /// Run jobs from the queue until SIGTERM or Ctrl-C.
    Worker(Location),
    /// Enqueue periodic jobs when they fall due, until SIGTERM or Ctrl-C.
    Scheduler(Location),
    /// Apply, revert or list database migrations.
    Migrate {
        #[command(subcommand)]
        action: MigrateAction,
        #[command(flatten)]
        location: Location,
    },
    /// Administrative tasks.
    Admin {
        #[command(subcommand)]
        action: AdminAction,
        #[command(flatten)]
        location: Location,
    },
    /// Print the OpenAPI document.
    Openapi,
}

#[derive(Subcommand)]
enum MigrateAction {
    /// Apply every pending migration.
    Up,
    /// Revert the newest migration(s).
    Down {
        #[arg(long, default_value_t = 1)]
        steps: usize,
    },
    /// List migrations and whether each is applied.
    Status,
}

#[derive(Subcommand)]
enum AdminAction {
    /// Create a user, e.g. the first admin.
    CreateUser {
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: String,
        /// admin, developer or viewer.
        #[arg(long, default_value = "admin", value_parser = |s: &str| Role::parse(s))]
        role: Role,
        /// The password; prefer --password-stdin or MCP_ADMIN_PASSWORD (a flag shows in `ps`).
        #[arg(long, env = "MCP_ADMIN_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        /// Read the password from standard input.
        #[arg(long, conflicts_with = "password")]
        password_stdin: bool,
    },
}

/// The settings; a configuration error is printed and exits with code 2.
async fn settings(location: &Location) -> Result<Settings, ExitCode> {
    let overrides = Overrides {
        bind: location.bind,
        data_dir: location.data_dir.clone(),
    };
    load_settings(&overrides).await.map_err(|e| {
        eprintln!("{e}");
        ExitCode::from(2)
    })
}

/// The environment and `.env`, with `secretsmanager://` values resolved
/// first (once), parsed into settings.
async fn load_settings(overrides: &Overrides) -> Result<Settings, ConfigError> {
    #[cfg_attr(not(feature = "secretsmanager"), allow(unused_mut))]
    let mut source = Source::from_env_and_dotenv()?;
    #[cfg(feature = "secretsmanager")]
    mcp_platform::adapters::secretsmanager::resolve(&mut source).await?;
    Settings::load(&source, overrides)
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let location = match &cli.command {
        Command::Serve(l) | Command::Api(l) | Command::Worker(l) | Command::Scheduler(l) => {
            l.clone()
        }
        Command::Migrate { location, .. } | Command::Admin { location, .. } => location.clone(),
        Command::Openapi => {
            let doc = mcp_platform::api::openapi()
                .to_pretty_json()
                .unwrap_or_default();
            // `openapi | head` closes the pipe early: that is not an error.
            let _ = writeln!(std::io::stdout().lock(), "{doc}");
            return ExitCode::SUCCESS;
        }
    };
    let settings = match settings(&location).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    telemetry::init(&settings);
    match run(cli.command, settings).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// A failure as one line: its context chain, leaving out a cause whose
/// text the line already holds (sqlx and others repeat their source's
/// message in their own).
fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

/// At the first start (no account yet), says how to make the first admin
/// and where the docs are: what a new operator needs, in the log they read.
async fn first_start_hints(state: &AppState) {
    let one = mcp_platform::ports::PageRequest {
        page: 1,
        page_size: 1,
    };
    if !matches!(state.users.list(one).await, Ok(users) if users.total == 0) {
        return;
    }
    tracing::info!(
        "no admin yet: create one with `mcp-platform admin create-user --username NAME --email EMAIL --password-stdin` \
         (or set ADMIN_USERNAME, ADMIN_EMAIL and ADMIN_PASSWORD); API docs at {}/api/docs",
        state.settings.public_url
    );
}

async fn listen(bind: SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .with_context(|| format!("binding {bind}"))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "listening on http://{addr}");
    Ok(listener)
}

async fn run(command: Command, settings: Settings) -> anyhow::Result<()> {
    match command {
        Command::Api(_) => {
            let bind = settings.bind;
            let state = AppState::build(settings).await?;
            let listener = listen(bind).await?;
            first_start_hints(&state).await;
            mcp_platform::gateway::health::start(state.clone());
            let gateway = state.gateway.clone();
            http::serve(listener, http::app(state), http::shutdown_signal()).await?;
            gateway.stop_all();
            Ok(())
        }
        Command::Serve(_) => {
            let bind = settings.bind;
            let state = AppState::build(settings).await?;
            let listener = listen(bind).await?;
            first_start_hints(&state).await;
            // One signal stops all three; each finishes its in-flight work.
            let stop = Stop::on_signal();
            let worker = Worker::new(state.clone(), Registry::standard());
            let signal = stop.wait();
            let worker = tokio::spawn(async move { worker.run(signal).await });
            let scheduler = Scheduler::new(state.jobs.clone(), standard_schedule());
            let tick = state.settings.jobs.scheduler_tick;
            let signal = stop.wait();
            let scheduler = tokio::spawn(async move { scheduler.run(tick, signal).await });
            mcp_platform::gateway::health::start(state.clone());
            let gateway = state.gateway.clone();
            let served = http::serve(listener, http::app(state), stop.wait()).await;
            gateway.stop_all();
            // Also when the listener failed: the process is going down.
            stop.trigger();
            let _ = tokio::join!(worker, scheduler);
            served?;
            Ok(())
        }
        Command::Worker(_) => {
            let state = AppState::build(settings).await?;
            Worker::new(state, Registry::standard())
                .run(http::shutdown_signal())
                .await;
            Ok(())
        }
        Command::Scheduler(_) => {
            let state = AppState::build(settings).await?;
            Scheduler::new(state.jobs.clone(), standard_schedule())
                .run(state.settings.jobs.scheduler_tick, http::shutdown_signal())
                .await;
            Ok(())
        }
        Command::Migrate { action, .. } => {
            mcp_platform::state::create_data_dir(&settings.data_dir)?;
            let target = migration_target(&settings).await?;
            let (migrator, pool) = (target.migrator(), target.pool());
            match action {
                MigrateAction::Up => {
                    let applied = target.locked(migrate::up(migrator, pool)).await?;
                    println!("applied {} migration(s): {applied:?}", applied.len());
                }
                MigrateAction::Down { steps } => {
                    let reverted = target.locked(migrate::down(migrator, pool, steps)).await?;
                    println!("reverted {} migration(s): {reverted:?}", reverted.len());
                }
                MigrateAction::Status => {
                    for (version, description, applied) in migrate::status(migrator, pool).await? {
                        let mark = if applied { "applied" } else { "pending" };
                        println!("{version} {mark:8} {description}");
                    }
                }
            }
            Ok(())
        }
        Command::Admin {
            action:
                AdminAction::CreateUser {
                    username,
                    email,
                    role,
                    password,
                    password_stdin,
                },
            ..
        } => {
            let password = match (password, password_stdin) {
                (Some(p), _) => p,
                (None, true) => {
                    let mut p = String::new();
                    std::io::stdin().read_to_string(&mut p)?;
                    p.trim_end_matches(['\r', '\n']).to_owned()
                }
                (None, false) => {
                    anyhow::bail!("give the password with --password-stdin or MCP_ADMIN_PASSWORD")
                }
            };
            let state = AppState::build(settings).await?;
            let user = create_user(state.users.as_ref(), &username, &email, &password, role)
                .await
                .map_err(|e| anyhow::anyhow!("{}", describe(&e)))?;
            println!(
                "created {} user {} ({})",
                user.role.as_str(),
                user.username,
                user.id
            );
            Ok(())
        }
        Command::Openapi => Ok(()),
    }
}

/// A shutdown signal that several loops can wait for.
struct Stop(std::sync::Arc<tokio::sync::watch::Sender<bool>>);

impl Stop {
    /// Trips on SIGTERM or Ctrl-C.
    fn on_signal() -> Self {
        let stop = Self(std::sync::Arc::new(tokio::sync::watch::channel(false).0));
        let tx = stop.0.clone();
        tokio::spawn(async move {
            http::shutdown_signal().await;
            tx.send_replace(true);
        });
        stop
    }

    fn trigger(&self) {
        self.0.send_replace(true);
    }

    fn wait(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.0.subscribe();
        async move {
            // An error means the sender is gone, which only happens after it sent.
            let _ = rx.wait_for(|stop| *stop).await;
        }
    }
}

/// A CLI-friendly sentence for an API error (validation errors name fields).
fn describe(e: &mcp_platform::error::Error) -> String {
    match e {
        mcp_platform::error::Error::Validation(fields) => fields
            .iter()
            .map(|f| format!("{}: {}", f.loc.last().map_or("", String::as_str), f.msg))
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}
