//! The per-deployment working directory: `{PROCESS_SANDBOX_ROOT}/{deployment
//! id}-{launch nonce}/` with `home/` (the child's cwd and `HOME`) and `tmp/`
//! (its `TMPDIR`), owned by the sandbox user, mode 0700, removed when the
//! runner stops. The root itself is 0711 and must belong to the platform's
//! user: the sandbox user can reach its own directory, not list the others
//! (Landlock keeps it out of them in any case).
//!
//! The nonce keeps a stopping runner's cleanup away from a new launch of the
//! same deployment. Directories of a platform that was killed stay behind
//! until an operator removes them (the root is under the temp dir by default).

use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use uuid::Uuid;

use super::users::Identity;

#[derive(Debug)]
pub struct Workdir {
    dir: PathBuf,
}

impl Workdir {
    /// Creates the deployment's directory (and the root when missing),
    /// owned by `owner` when the platform runs as root.
    pub fn create(root: &Path, deployment_id: Uuid, owner: Option<&Identity>) -> io::Result<Self> {
        prepare_root(root)?;
        let nonce = Uuid::new_v4().simple().to_string();
        let dir = root.join(format!("{deployment_id}-{}", &nonce[..8]));
        let workdir = Self { dir };
        for path in [workdir.dir.clone(), workdir.home(), workdir.tmp()] {
            std::fs::DirBuilder::new().mode(0o700).create(&path)?;
            if let Some(owner) = owner {
                std::os::unix::fs::chown(&path, Some(owner.uid), Some(owner.gid))?;
            }
        }
        Ok(workdir)
    }

    /// The deployment's directory: everything the child may write.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn home(&self) -> PathBuf {
        self.dir.join("home")
    }

    pub fn tmp(&self) -> PathBuf {
        self.dir.join("tmp")
    }
}

impl Drop for Workdir {
    /// Synchronous on purpose: a runner dropped while its runtime shuts
    /// down gets no blocking task, and a directory left behind is a leak
    /// (its size is what the tool wrote, bounded by the filesystem).
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            if e.kind() != io::ErrorKind::NotFound {
                tracing::warn!(dir = %self.dir.display(), error = %e, "deployment working directory not removed");
            }
        }
    }
}

/// Creates the root 0711 when missing; refuses one that another user
/// could have prepared (not ours, a symlink, group/world writable).
fn prepare_root(root: &Path) -> io::Result<()> {
    if !root.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o711)
            .create(root)?;
    }
    let meta = std::fs::symlink_metadata(root)?;
    let ours = meta.uid() == rustix::process::geteuid().as_raw();
    if !meta.is_dir() || !ours || meta.mode() & 0o022 != 0 {
        return Err(io::Error::other(format!(
            "PROCESS_SANDBOX_ROOT {}: must be a directory (not a symlink) owned by the platform's user and writable by it alone",
            root.display()
        )));
    }
    std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o711))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_are_private_and_removed_on_drop() {
        let root = std::env::temp_dir().join(format!("sandbox-root-{}", Uuid::new_v4()));
        let id = Uuid::new_v4();
        let workdir = Workdir::create(&root, id, None).expect("created");
        let dir = workdir.dir().to_path_buf();
        assert!(dir.starts_with(&root));
        assert!(dir
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with(&id.to_string())));
        for path in [dir.clone(), workdir.home(), workdir.tmp()] {
            let mode = std::fs::metadata(&path).expect("exists").mode() & 0o777;
            assert_eq!(mode, 0o700, "{}", path.display());
        }
        assert_eq!(
            std::fs::metadata(&root).expect("root").mode() & 0o777,
            0o711
        );
        let second = Workdir::create(&root, id, None).expect("a second launch");
        assert_ne!(second.dir(), workdir.dir());
        drop(workdir);
        assert!(!dir.exists());
        drop(second);
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn a_world_writable_root_is_refused() {
        let root = std::env::temp_dir().join(format!("sandbox-root-{}", Uuid::new_v4()));
        std::fs::create_dir_all(&root).expect("root");
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        let e = Workdir::create(&root, Uuid::new_v4(), None).expect_err("refused");
        assert!(e.to_string().contains("PROCESS_SANDBOX_ROOT"), "{e}");
        let _ = std::fs::remove_dir_all(&root);
    }
}
