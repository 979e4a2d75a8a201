//! Which files a sandboxed tool may read, and which it never may.
//!
//! - [`Protected`]: the platform's data directory, JWT secret file, SQLite
//!   database, `.env`, and the sandbox root (other deployments' working
//!   directories). A path a runtime names that lies inside one of them, or
//!   contains one, is refused (granting a parent would grant them too).
//! - The read-execute grants: the system paths a runtime needs
//!   ([`system_read_paths`]), the resolved command (and its `#!`
//!   interpreter), arguments that are existing absolute paths, the package
//!   tree around them (the outermost `node_modules`, a Python venv), and
//!   `runtime.read_paths`.

use std::path::{Component, Path, PathBuf};

/// The child's `PATH` unless its config sets one: where distributions and
/// `npm -g` / `pip` put interpreters and launchers.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Read-execute for every tool: interpreters, libraries, shared data.
const SYSTEM_DIRS: [&str; 12] = [
    "/usr",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/bin",
    "/sbin",
    "/etc/ssl",
    "/etc/ca-certificates",
    "/etc/pki",
    "/etc/alternatives",
    "/etc/ld.so.conf.d",
];

/// Single `/etc` and `/proc` files runtimes read at start (name service,
/// time zone, TLS, memory and CPU counts). None holds a secret; `/proc` of
/// any process, the platform's included, stays out of reach.
const SYSTEM_FILES: [&str; 24] = [
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/host.conf",
    "/etc/nsswitch.conf",
    "/etc/gai.conf",
    "/etc/localtime",
    "/etc/timezone",
    "/etc/passwd",
    "/etc/group",
    "/etc/protocols",
    "/etc/services",
    "/etc/mime.types",
    "/etc/os-release",
    "/proc/meminfo",
    "/proc/cpuinfo",
    "/proc/stat",
    "/proc/loadavg",
    "/proc/uptime",
    "/proc/version",
    "/proc/filesystems",
    "/proc/sys/vm/overcommit_memory",
    "/sys/devices/system/cpu/online",
];

/// Devices every process expects to read and write.
pub const DEVICES_READ_WRITE: [&str; 3] = ["/dev/null", "/dev/zero", "/dev/full"];
/// Devices read only.
const DEVICES_READ: [&str; 2] = ["/dev/urandom", "/dev/random"];

/// The existing system paths every tool may read and execute, plus
/// `/etc/python*` (Debian keeps `sitecustomize.py` there) and the
/// read-only devices.
pub fn system_read_paths() -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = SYSTEM_DIRS
        .iter()
        .chain(&SYSTEM_FILES)
        .chain(&DEVICES_READ)
        .map(PathBuf::from)
        .collect();
    if let Ok(entries) = std::fs::read_dir("/etc") {
        let mut python: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with("python"))
            .map(|e| e.path())
            .collect();
        python.sort();
        paths.extend(python);
    }
    paths.retain(|p| p.exists());
    paths
}

/// A path the platform keeps from every tool, and what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ProtectedPath {
    path: PathBuf,
    what: &'static str,
}

/// The platform's own files, which no runtime may name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Protected(Vec<ProtectedPath>);

impl Protected {
    /// From the platform's settings: the data directory, the JWT secret
    /// file, the SQLite database, `.env` of the working directory, and the
    /// sandbox root.
    pub fn of(settings: &crate::config::Settings) -> Self {
        let jwt_file = match &settings.jwt_secret {
            crate::config::JwtSecretSource::File(path) => Some(path.as_path()),
            crate::config::JwtSecretSource::Given(_) => None,
        };
        Self::new(
            &settings.data_dir,
            jwt_file,
            settings.database_url.expose(),
            &settings.sandbox.root,
        )
    }

    pub fn new(
        data_dir: &Path,
        jwt_file: Option<&Path>,
        database_url: &str,
        sandbox_root: &Path,
    ) -> Self {
        let mut paths = vec![ProtectedPath {
            path: absolute(data_dir),
            what: "the platform's data directory",
        }];
        if let Some(file) = jwt_file {
            paths.push(ProtectedPath {
                path: absolute(file),
                what: "the platform's secret file",
            });
        }
        if let Some(file) = sqlite_file(database_url) {
            paths.push(ProtectedPath {
                path: absolute(&file),
                what: "the platform's database",
            });
        }
        paths.push(ProtectedPath {
            path: absolute(Path::new(".env")),
            what: "the platform's configuration file",
        });
        paths.push(ProtectedPath {
            path: absolute(sandbox_root),
            what: "the deployments' working directories",
        });
        Self(paths)
    }

    /// Why `path` (absolute, symlinks resolved) may not be granted, if it may not.
    pub fn conflict(&self, path: &Path) -> Option<String> {
        self.0.iter().find_map(|p| {
            if path.starts_with(&p.path) {
                Some(format!("{} is inside {}", path.display(), p.what))
            } else if p.path.starts_with(path) {
                Some(format!("{} contains {}", path.display(), p.what))
            } else {
                None
            }
        })
    }
}

/// The file of a `sqlite:` URL (`sqlite://path?mode=rwc`), unless in memory.
fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && !path.starts_with(":memory:")).then(|| PathBuf::from(path))
}

/// `path` made absolute against the working directory, with symlinks
/// resolved as far as it exists (Landlock grants the inode a path leads to).
pub fn absolute(path: &Path) -> PathBuf {
    if let Ok(real) = path.canonicalize() {
        return real;
    }
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(path)
    };
    // The longest existing ancestor, resolved, with the rest appended.
    let mut lexical = PathBuf::new();
    for part in joined.components() {
        match part {
            Component::ParentDir => {
                lexical.pop();
            }
            Component::CurDir => {}
            other => lexical.push(other),
        }
    }
    let mut existing = lexical.clone();
    let mut rest = Vec::new();
    while !existing.exists() {
        match (
            existing.file_name().map(ToOwned::to_owned),
            existing.parent(),
        ) {
            (Some(name), Some(parent)) => {
                rest.push(name);
                existing = parent.to_path_buf();
            }
            _ => return lexical,
        }
    }
    let mut resolved = existing.canonicalize().unwrap_or(existing);
    resolved.extend(rest.iter().rev());
    resolved
}

/// `command` as the child will run it: a path (relative ones against the
/// platform's working directory) or the first executable match on `path_var`.
pub fn resolve_command(command: &str, path_var: &str) -> Option<PathBuf> {
    if command.contains('/') {
        let path = absolute(Path::new(command));
        return is_executable(&path).then_some(path);
    }
    path_var
        .split(':')
        .filter(|dir| dir.starts_with('/'))
        .map(|dir| Path::new(dir).join(command))
        .find(|candidate| is_executable(candidate))
        .map(|found| absolute(&found))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The interpreter a `#!` script names, when it is an existing absolute path.
pub fn shebang_interpreter(script: &Path) -> Option<PathBuf> {
    use std::io::Read;
    let mut head = [0u8; 256];
    let n = std::fs::File::open(script).ok()?.read(&mut head).ok()?;
    let line = head[..n].strip_prefix(b"#!")?;
    let line = line.split(|b| *b == b'\n').next()?;
    let interpreter = std::str::from_utf8(line).ok()?.split_whitespace().next()?;
    let path = Path::new(interpreter);
    (path.is_absolute() && path.exists()).then(|| absolute(path))
}

/// The package tree a runtime file belongs to, which it needs to read whole:
/// the outermost `node_modules` directory above it (Node resolves imports
/// there), and a Python venv (the nearest ancestor with `pyvenv.cfg`).
pub fn package_roots(path: &Path) -> Vec<PathBuf> {
    let mut roots = Vec::new();
    if let Some(outermost) = path
        .ancestors()
        .filter(|a| a.file_name().is_some_and(|n| n == "node_modules"))
        .last()
    {
        roots.push(outermost.to_path_buf());
    }
    if let Some(venv) = path
        .ancestors()
        .skip(1)
        .find(|a| a.join("pyvenv.cfg").is_file())
    {
        roots.push(venv.to_path_buf());
    }
    roots
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("sandbox-paths-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("dir");
        absolute(&dir)
    }

    #[test]
    fn the_platforms_files_and_their_parents_are_protected() {
        let data = temp();
        let root = temp();
        let protected = Protected::new(
            &data,
            Some(&data.join("jwt-secret")),
            "sqlite:///var/lib/elsewhere/platform.db?mode=rwc",
            &root,
        );
        let inside = protected
            .conflict(&data.join("mcp-platform.db"))
            .expect("inside");
        assert!(
            inside.contains("inside the platform's data directory"),
            "{inside}"
        );
        let parent = protected.conflict(Path::new("/")).expect("contains");
        assert!(parent.contains("contains"), "{parent}");
        let db = protected
            .conflict(Path::new("/var/lib/elsewhere/platform.db"))
            .expect("database");
        assert!(db.contains("database"), "{db}");
        let other = protected
            .conflict(&root.join("other-deployment"))
            .expect("root");
        assert!(other.contains("working directories"), "{other}");
        assert_eq!(protected.conflict(Path::new("/usr/bin/node")), None);
    }

    #[test]
    fn sqlite_urls_name_their_file() {
        assert_eq!(
            sqlite_file("sqlite://data/x.db?mode=rwc"),
            Some(PathBuf::from("data/x.db"))
        );
        assert_eq!(sqlite_file("sqlite:x.db"), Some(PathBuf::from("x.db")));
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("mysql://db/x"), None);
    }

    #[test]
    fn commands_resolve_on_path_and_symlinks_and_dots_are_resolved() {
        let sh = resolve_command("sh", DEFAULT_PATH).expect("sh on PATH");
        assert!(sh.is_absolute() && sh.is_file(), "{sh:?}");
        assert_eq!(
            resolve_command("no-such-command-anywhere", DEFAULT_PATH),
            None
        );
        assert_eq!(
            resolve_command("/etc/hostname-not-executable", DEFAULT_PATH),
            None
        );
        let dir = temp();
        assert_eq!(absolute(&dir.join("a/../b")), dir.join("b"));
    }

    #[test]
    fn package_trees_and_interpreters_are_found() {
        let dir = temp();
        let file = dir.join("app/node_modules/@scope/pkg/node_modules/dep/index.js");
        std::fs::create_dir_all(file.parent().expect("parent")).expect("tree");
        std::fs::write(&file, "").expect("file");
        assert_eq!(package_roots(&file), vec![dir.join("app/node_modules")]);

        let venv = dir.join("venv");
        std::fs::create_dir_all(venv.join("bin")).expect("venv");
        std::fs::write(venv.join("pyvenv.cfg"), "home = /usr/bin\n").expect("cfg");
        let script = venv.join("bin/tool");
        std::fs::write(&script, "#!/bin/sh -e\necho hi\n").expect("script");
        assert_eq!(package_roots(&script), vec![venv.clone()]);
        assert_eq!(
            shebang_interpreter(&script),
            Some(absolute(Path::new("/bin/sh")))
        );
        assert_eq!(shebang_interpreter(&file), None);
    }

    #[test]
    fn system_paths_exist_and_hold_no_proc_of_a_process() {
        let paths = system_read_paths();
        assert!(paths.contains(&PathBuf::from("/usr")));
        assert!(paths.iter().all(|p| p.exists()));
        let of_a_process = |p: &PathBuf| {
            p.strip_prefix("/proc").ok().is_some_and(|rest| {
                let first = rest.iter().next().map(|c| c.to_string_lossy().into_owned());
                first.is_some_and(|c| {
                    c == "self" || c == "thread-self" || c.chars().all(|ch| ch.is_ascii_digit())
                })
            })
        };
        assert!(!paths.iter().any(of_a_process), "{paths:?}");
    }
}
