//! The sandbox user and group: names or numbers, resolved through
//! `/etc/passwd` and `/etc/group` (no NSS: the platform has no libc
//! binding, and a dedicated local account is what operators create).

use std::path::Path;

use serde::Serialize;

/// Whom a child runs as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Identity {
    pub user: String,
    pub uid: u32,
    pub gid: u32,
}

/// `user` (name or uid) and `group` (name or gid; `None` = the user's
/// primary group).
pub fn resolve_identity(user: &str, group: Option<&str>) -> Result<Identity, String> {
    resolve_in(
        Path::new("/etc/passwd"),
        Path::new("/etc/group"),
        user,
        group,
    )
}

fn resolve_in(
    passwd: &Path,
    groups: &Path,
    user: &str,
    group: Option<&str>,
) -> Result<Identity, String> {
    let passwd = std::fs::read_to_string(passwd).unwrap_or_default();
    // name:password:uid:gid:...
    let entry = passwd
        .lines()
        .map(|line| line.split(':').collect::<Vec<_>>())
        .find(|f| f.len() > 3 && (f[0] == user || f[2] == user));
    let (uid, primary_gid) = match (entry, user.parse::<u32>()) {
        (Some(f), _) => (
            f[2].parse::<u32>().map_err(|_| bad_entry(user))?,
            f[3].parse::<u32>().map_err(|_| bad_entry(user))?,
        ),
        // A bare number needs no account; its group is the same number.
        (None, Ok(uid)) => (uid, uid),
        (None, Err(_)) => {
            return Err(format!(
                "PROCESS_SANDBOX_USER={user}: no such user in /etc/passwd (create it, or name another such as nobody)"
            ))
        }
    };
    let gid = match group {
        None => primary_gid,
        Some(group) => {
            let groups = std::fs::read_to_string(groups).unwrap_or_default();
            let found = groups
                .lines()
                .map(|line| line.split(':').collect::<Vec<_>>())
                .find(|f| f.len() > 2 && (f[0] == group || f[2] == group))
                .and_then(|f| f[2].parse::<u32>().ok());
            match (found, group.parse::<u32>()) {
                (Some(gid), _) | (None, Ok(gid)) => gid,
                (None, Err(_)) => {
                    return Err(format!(
                        "PROCESS_SANDBOX_GROUP={group}: no such group in /etc/group"
                    ))
                }
            }
        }
    };
    if gid == 0 {
        return Err("PROCESS_SANDBOX_GROUP: the sandbox group may not be root's (gid 0)".into());
    }
    Ok(Identity {
        user: user.to_owned(),
        uid,
        gid,
    })
}

fn bad_entry(user: &str) -> String {
    format!("PROCESS_SANDBOX_USER={user}: its /etc/passwd entry has no numeric uid/gid")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files() -> (std::path::PathBuf, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("sandbox-users-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("dir");
        let passwd = dir.join("passwd");
        let group = dir.join("group");
        std::fs::write(
            &passwd,
            "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\nmcp-tools:x:990:985::/:/usr/sbin/nologin\n",
        )
        .expect("passwd");
        std::fs::write(&group, "root:x:0:\nnogroup:x:65534:\nmcp-tools:x:985:\n").expect("group");
        (passwd, group)
    }

    #[test]
    fn names_and_numbers_resolve() {
        let (passwd, group) = files();
        let nobody = resolve_in(&passwd, &group, "nobody", None).expect("nobody");
        assert_eq!((nobody.uid, nobody.gid), (65534, 65534));
        let tools = resolve_in(&passwd, &group, "mcp-tools", Some("nogroup")).expect("mcp-tools");
        assert_eq!((tools.uid, tools.gid), (990, 65534));
        let numeric = resolve_in(&passwd, &group, "4000", Some("4001")).expect("numbers");
        assert_eq!((numeric.uid, numeric.gid), (4000, 4001));
    }

    #[test]
    fn unknown_names_and_root_group_are_refused() {
        let (passwd, group) = files();
        let e = resolve_in(&passwd, &group, "ghost", None).expect_err("unknown user");
        assert!(e.contains("PROCESS_SANDBOX_USER=ghost"), "{e}");
        let e = resolve_in(&passwd, &group, "nobody", Some("ghosts")).expect_err("unknown group");
        assert!(e.contains("PROCESS_SANDBOX_GROUP=ghosts"), "{e}");
        assert!(resolve_in(&passwd, &group, "nobody", Some("root")).is_err());
    }
}
