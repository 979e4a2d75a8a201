//! Migrations apply in order, `down` reverts one step at a time, and a
//! failing migration leaves the schema as it was (SPEC §5 item 14).

use std::path::{Path, PathBuf};
use std::process::Command;

use mcp_platform::adapters::sql::{SqlStore, SQLITE_MIGRATOR};
use mcp_platform::migrate::{down, status, up};
use mcp_platform_tests::platform_binary;
use mcp_platform_tests::tempdir::TempDir;
use sqlx::Row;

/// `(type, name, sql)` of every schema object, by name.
async fn schema(store: &SqlStore) -> Vec<(String, String, Option<String>)> {
    sqlx::query("SELECT type, name, sql FROM sqlite_master ORDER BY name")
        .fetch_all(store.pool())
        .await
        .expect("read sqlite_master")
        .iter()
        .map(|row| {
            (
                row.try_get("type").expect("type"),
                row.try_get("name").expect("name"),
                row.try_get("sql").expect("sql"),
            )
        })
        .collect()
}

fn tables(schema: &[(String, String, Option<String>)]) -> Vec<&str> {
    schema
        .iter()
        .filter(|(kind, _, _)| kind == "table")
        .map(|(_, name, _)| name.as_str())
        .collect()
}

fn versions(migrator: &sqlx::migrate::Migrator) -> Vec<i64> {
    let mut v: Vec<i64> = migrator
        .iter()
        .filter(|m| m.migration_type.is_up_migration())
        .map(|m| m.version)
        .collect();
    v.sort_unstable();
    v
}

async fn open(dir: &TempDir) -> SqlStore {
    SqlStore::connect_sqlite_file(&dir.0.join("migrations.db"))
        .await
        .expect("open a SQLite file")
}

async fn applied(migrator: &sqlx::migrate::Migrator, store: &SqlStore) -> Vec<i64> {
    status(migrator, store.pool())
        .await
        .expect("status")
        .into_iter()
        .filter(|(_, _, applied)| *applied)
        .map(|(v, _, _)| v)
        .collect()
}

#[tokio::test]
async fn up_applies_all_down_reverts_one_step_at_a_time_and_up_rebuilds_the_same_schema() {
    let dir = TempDir::new();
    let store = open(&dir).await;
    let all = versions(&SQLITE_MIGRATOR);
    assert!(all.len() >= 2, "at least two migrations to step through");

    let listed = status(&SQLITE_MIGRATOR, store.pool())
        .await
        .expect("status");
    assert!(
        listed.iter().all(|(_, _, applied)| !applied),
        "a fresh database has nothing applied: {listed:?}"
    );

    let first = up(&SQLITE_MIGRATOR, store.pool()).await.expect("up");
    assert_eq!(first, all, "up applies every migration, in order");
    assert_eq!(
        applied(&SQLITE_MIGRATOR, &store).await,
        all,
        "status shows all applied"
    );
    let full = schema(&store).await;
    assert!(
        tables(&full).contains(&"mcp_tools"),
        "the tools table exists: {full:?}"
    );

    let again = up(&SQLITE_MIGRATOR, store.pool()).await.expect("up again");
    assert!(again.is_empty(), "up with nothing pending applies nothing");

    let newest = *all.last().expect("a newest");
    let reverted = down(&SQLITE_MIGRATOR, store.pool(), 1).await.expect("down");
    assert_eq!(reverted, [newest], "down reverts only the newest");
    assert_eq!(
        applied(&SQLITE_MIGRATOR, &store).await,
        all[..all.len() - 1],
        "status shows the newest pending"
    );
    let after_down = schema(&store).await;
    let gone: Vec<&str> = tables(&full)
        .into_iter()
        .filter(|t| !tables(&after_down).contains(t))
        .collect();
    assert!(
        !gone.is_empty()
            && tables(&after_down)
                .iter()
                .all(|t| tables(&full).contains(t)),
        "the newest migration's tables are gone, the others stay: {gone:?}"
    );

    let second = all[all.len() - 2];
    let reverted = down(&SQLITE_MIGRATOR, store.pool(), 1).await.expect("down");
    assert_eq!(reverted, [second], "down again reverts the next newest");
    assert_eq!(
        applied(&SQLITE_MIGRATOR, &store).await,
        all[..all.len() - 2]
    );

    let rebuilt = up(&SQLITE_MIGRATOR, store.pool()).await.expect("up");
    assert_eq!(
        rebuilt,
        all[all.len() - 2..],
        "up applies what down reverted"
    );
    assert_eq!(
        schema(&store).await,
        full,
        "the rebuilt schema equals the first one"
    );
}

#[tokio::test]
async fn down_with_nothing_applied_reverts_nothing() {
    let dir = TempDir::new();
    let store = open(&dir).await;
    let reverted = down(&SQLITE_MIGRATOR, store.pool(), 1).await.expect("down");
    assert!(reverted.is_empty(), "nothing to revert: {reverted:?}");
}

/// A directory holding copies of the real migrations plus one whose SQL
/// creates a table and then fails.
fn migrations_with_a_broken_one(dir: &TempDir) -> (PathBuf, i64) {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/migrations/sqlite");
    let target = dir.0.join("migrations");
    std::fs::create_dir_all(&target).expect("create migrations dir");
    for entry in std::fs::read_dir(&source).expect("read shared/migrations/sqlite") {
        let path = entry.expect("entry").path();
        let name = path.file_name().expect("file name");
        std::fs::copy(&path, target.join(name)).expect("copy migration");
    }
    let broken = 29_991_231_000_000;
    std::fs::write(
        target.join(format!("{broken}_broken.up.sql")),
        "CREATE TABLE half_done (id INTEGER PRIMARY KEY);\n\
         CREATE INDEX ix_half_done ON half_done (id);\n\
         INSERT INTO no_such_table (id) VALUES (1);\n",
    )
    .expect("write broken up");
    std::fs::write(
        target.join(format!("{broken}_broken.down.sql")),
        "DROP TABLE half_done;\n",
    )
    .expect("write broken down");
    (target, broken)
}

#[tokio::test]
async fn a_failing_migration_leaves_the_schema_as_it_was_and_is_not_recorded() {
    let dir = TempDir::new();
    let store = open(&dir).await;
    up(&SQLITE_MIGRATOR, store.pool())
        .await
        .expect("real migrations apply");
    let before = schema(&store).await;

    let (path, broken) = migrations_with_a_broken_one(&dir);
    let migrator = sqlx::migrate::Migrator::new(path)
        .await
        .expect("the directory is a migration source");
    assert_eq!(
        versions(&migrator).last(),
        Some(&broken),
        "the broken migration is the newest"
    );

    let result = up(&migrator, store.pool()).await;
    assert!(result.is_err(), "the broken migration fails: {result:?}");
    assert_eq!(
        schema(&store).await,
        before,
        "the half-created table and index were rolled back"
    );
    let listed = status(&migrator, store.pool()).await.expect("status");
    let failed = listed
        .iter()
        .find(|(v, _, _)| *v == broken)
        .expect("status lists the broken migration");
    assert!(!failed.2, "the failed migration is not recorded as applied");
    assert_eq!(
        applied(&migrator, &store).await,
        versions(&SQLITE_MIGRATOR),
        "the earlier migrations stay applied"
    );

    // Still usable afterwards: the real set reports nothing pending.
    let again = up(&SQLITE_MIGRATOR, store.pool())
        .await
        .expect("up after failure");
    assert!(again.is_empty());
}

fn migrate(binary: &Path, data_dir: &Path, args: &[&str]) -> String {
    let output = Command::new(binary)
        .arg("migrate")
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        // No `.env` from the repository, no database chosen by the caller's shell.
        .current_dir(data_dir)
        .env_remove("DATABASE_URL")
        .env("LOG_LEVEL", "warn")
        .output()
        .expect("run mcp-platform");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "mcp-platform migrate {args:?} failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// `(version, applied)` from the `migrate status` lines `VERSION applied|pending DESCRIPTION`.
fn parse_status(text: &str) -> Vec<(i64, bool)> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let version = words.next()?.parse().ok()?;
            let applied = match words.next()? {
                "applied" => true,
                "pending" => false,
                _ => return None,
            };
            Some((version, applied))
        })
        .collect()
}

#[test]
fn the_migrate_commands_of_the_binary_report_apply_and_revert() {
    let binary = platform_binary();
    let dir = TempDir::new();
    let data = &dir.0;
    let all = versions(&SQLITE_MIGRATOR);
    let newest = *all.last().expect("a newest");

    let fresh = parse_status(&migrate(&binary, data, &["status"]));
    assert_eq!(
        fresh,
        all.iter().map(|v| (*v, false)).collect::<Vec<_>>(),
        "status on a fresh data dir lists every migration as pending"
    );

    let out = migrate(&binary, data, &["up"]);
    assert!(out.contains(&format!("applied {}", all.len())), "up: {out}");
    let status = parse_status(&migrate(&binary, data, &["status"]));
    assert!(
        status.iter().all(|(_, a)| *a),
        "all applied after up: {status:?}"
    );

    let out = migrate(&binary, data, &["down"]);
    assert!(
        out.contains("reverted 1") && out.contains(&newest.to_string()),
        "down reverts the newest: {out}"
    );
    let status = parse_status(&migrate(&binary, data, &["status"]));
    assert_eq!(
        status.last(),
        Some(&(newest, false)),
        "newest pending after down"
    );
    assert!(status[..status.len() - 1].iter().all(|(_, a)| *a));

    let out = migrate(&binary, data, &["up"]);
    assert!(
        out.contains("applied 1"),
        "up applies the reverted one: {out}"
    );
}

// ------------------------------------------------------------ MySQL

/// Tables, columns and indexes of the current MySQL database, in order.
async fn mysql_schema(store: &SqlStore) -> Vec<String> {
    let columns = sqlx::query(
        "SELECT CONCAT(table_name, '.', column_name, ' ', column_type, ' ', is_nullable) AS d \
         FROM information_schema.columns WHERE table_schema = DATABASE() \
         AND table_name <> '_sqlx_migrations' ORDER BY table_name, ordinal_position",
    );
    let indexes = sqlx::query(
        "SELECT CONCAT(table_name, ' index ', index_name, ' ', non_unique, ' ', seq_in_index, ' ', column_name) AS d \
         FROM information_schema.statistics WHERE table_schema = DATABASE() \
         AND table_name <> '_sqlx_migrations' ORDER BY table_name, index_name, seq_in_index",
    );
    let mut out = Vec::new();
    for query in [columns, indexes] {
        for row in query
            .fetch_all(store.pool())
            .await
            .expect("read information_schema")
        {
            out.push(mcp_platform_tests::backends::text_column(&row, "d"));
        }
    }
    out
}

#[tokio::test]
async fn on_mysql_up_down_up_leaves_the_same_schema() {
    let Some(server) = mcp_platform_tests::backends::mysql_url() else {
        eprintln!(
            "MCP_TEST_MYSQL_URL is not set: the MySQL migration round trip needs a MySQL server"
        );
        return;
    };
    let db = mcp_platform_tests::backends::MysqlDatabase::create(&server).await;
    let store = SqlStore::connect(&db.url).await.expect("mysql connects");
    let migrator = store.migrator();
    let all = versions(migrator);

    assert_eq!(
        up(migrator, store.pool()).await.expect("up"),
        all,
        "up applies every migration"
    );
    let first = mysql_schema(&store).await;
    assert!(
        first.iter().any(|d| d.starts_with("mcp_tools.slug")),
        "the tools table exists: {first:?}"
    );

    let reverted = down(migrator, store.pool(), all.len())
        .await
        .expect("down all");
    assert_eq!(reverted.len(), all.len(), "down reverts every migration");
    assert!(
        mysql_schema(&store).await.is_empty(),
        "nothing is left after reverting everything"
    );
    assert!(
        applied(migrator, &store).await.is_empty(),
        "status shows nothing applied"
    );

    up(migrator, store.pool()).await.expect("up again");
    assert_eq!(
        mysql_schema(&store).await,
        first,
        "up, down, up leaves the same schema"
    );
}

// ------------------------------------------------------------ concurrent starts

/// Four `migrate up` processes at once on one fresh database (as worker,
/// scheduler and api replicas starting together do): every one succeeds and
/// every migration is recorded once.
fn four_at_once(binary: &Path, data_dir: &Path, database_url: Option<&str>) -> Vec<String> {
    let children: Vec<_> = (0..4)
        .map(|_| {
            let mut command = Command::new(binary);
            command
                .args(["migrate", "up", "--data-dir"])
                .arg(data_dir)
                .current_dir(data_dir)
                .env_remove("DATABASE_URL")
                .env("LOG_LEVEL", "warn")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            if let Some(url) = database_url {
                command.env("DATABASE_URL", url);
            }
            command.spawn().expect("start mcp-platform")
        })
        .collect();
    children
        .into_iter()
        .map(|child| {
            let out = child.wait_with_output().expect("wait");
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(
                out.status.success(),
                "a concurrent migrate up failed: {text}"
            );
            text
        })
        .collect()
}

/// How many versions the outputs say were applied, in all.
fn applied_in_total(outputs: &[String]) -> usize {
    outputs
        .iter()
        .filter_map(|o| {
            o.split("applied ")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse::<usize>()
                .ok()
        })
        .sum()
}

#[test]
fn four_processes_migrating_one_fresh_sqlite_database_at_once_all_succeed() {
    let binary = platform_binary();
    for _ in 0..3 {
        let dir = TempDir::new();
        let outputs = four_at_once(&binary, &dir.0, None);
        assert_eq!(
            applied_in_total(&outputs),
            versions(&SQLITE_MIGRATOR).len(),
            "each migration applied once: {outputs:?}"
        );
    }
}

#[tokio::test]
async fn four_processes_migrating_one_fresh_mysql_database_at_once_all_succeed() {
    let Some(server) = mcp_platform_tests::backends::mysql_url() else {
        eprintln!("MCP_TEST_MYSQL_URL is not set: the MySQL migration race needs a MySQL server");
        return;
    };
    let binary = platform_binary();
    for _ in 0..2 {
        let db = mcp_platform_tests::backends::MysqlDatabase::create(&server).await;
        let dir = TempDir::new();
        let (binary, data, url) = (binary.clone(), dir.0.clone(), db.url.clone());
        let outputs = tokio::task::spawn_blocking(move || four_at_once(&binary, &data, Some(&url)))
            .await
            .expect("joined");
        let store = SqlStore::connect(&db.url).await.expect("mysql connects");
        assert_eq!(
            applied_in_total(&outputs),
            versions(store.migrator()).len(),
            "each migration applied once: {outputs:?}"
        );
    }
}

// ------------------------------------------------------------ the CLI's failures

#[test]
fn a_failing_command_says_why_in_one_line_and_openapi_into_a_closed_pipe_is_quiet() {
    let binary = platform_binary();
    let dir = TempDir::new();
    let out = Command::new(&binary)
        .args(["migrate", "up", "--data-dir"])
        .arg(&dir.0)
        .current_dir(&dir.0)
        .env("DATABASE_URL", "mysql://root@127.0.0.1:1/nowhere")
        .output()
        .expect("run mcp-platform");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    assert!(
        lines[0].starts_with("error: opening the database"),
        "{stderr}"
    );

    let mut child = Command::new(&binary)
        .arg("openapi")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run mcp-platform openapi");
    // Read one line and hang up, as `| head -1` does.
    let mut stdout = child.stdout.take().expect("stdout");
    let mut first = [0u8; 16];
    std::io::Read::read_exact(&mut stdout, &mut first).expect("some output");
    drop(stdout);
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("panicked") && out.status.success(),
        "a closed pipe is not a failure: {:?} {stderr}",
        out.status
    );
}

#[test]
fn a_first_start_without_an_admin_says_how_to_make_one_and_where_the_docs_are() {
    use std::io::BufRead;
    let binary = platform_binary();
    let dir = TempDir::new();
    let mut child = Command::new(&binary)
        .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(dir.0.join("data"))
        .current_dir(&dir.0)
        .env_remove("DATABASE_URL")
        .env("LOG_LEVEL", "info")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start mcp-platform serve");
    // The log goes to stdout or stderr, by configuration: read both.
    let (tx, rx) = std::sync::mpsc::channel();
    let out: Box<dyn std::io::Read + Send> = Box::new(child.stdout.take().expect("stdout"));
    let err: Box<dyn std::io::Read + Send> = Box::new(child.stderr.take().expect("stderr"));
    for stream in [out, err] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stream)
                .lines()
                .map_while(Result::ok)
            {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
    }
    let hint = std::iter::from_fn(|| rx.recv_timeout(std::time::Duration::from_secs(30)).ok())
        .find(|line| line.contains("no admin yet"));
    let _ = child.kill();
    let _ = child.wait();
    let hint = hint.expect("the hint is logged at start");
    assert!(
        hint.contains("admin create-user") && hint.contains("/api/docs"),
        "{hint}"
    );
}
