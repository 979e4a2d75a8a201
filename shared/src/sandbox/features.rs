//! What the running kernel and process can do for the sandbox, detected once
//! per process: the Landlock ABI (probed through the `landlock` crate),
//! user and network namespaces, whether the platform runs as root, and the
//! sandbox user it drops to. [`SandboxStatus`] is what `/health` reports.

use std::sync::OnceLock;

use landlock::{
    Access, AccessFs, AccessNet, CompatLevel, Compatible, RestrictSelf, RestrictSelfAttr, Ruleset,
    RulesetAttr, Scope, ABI,
};
use serde::Serialize;

use super::users::{resolve_identity, Identity};
use crate::config::SandboxSettings;

/// The kernel features the sandbox uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct KernelFeatures {
    /// The highest Landlock ABI the kernel supports (0: no Landlock).
    pub landlock_abi: u8,
    /// `unshare(CLONE_NEWNET)` exists (`runtime.network: none`).
    pub network_namespaces: bool,
    /// Unprivileged user namespaces, which give a platform that is not root
    /// a network namespace of its own.
    pub user_namespaces: bool,
    /// The platform's effective uid is 0: it can drop the child to the
    /// sandbox user.
    pub root: bool,
}

impl KernelFeatures {
    pub fn detect() -> Self {
        Self {
            landlock_abi: landlock_abi(),
            network_namespaces: std::path::Path::new("/proc/self/ns/net").exists()
                && proc_number("/proc/sys/user/max_net_namespaces").is_none_or(|n| n > 0),
            user_namespaces: std::path::Path::new("/proc/self/ns/user").exists()
                && proc_number("/proc/sys/user/max_user_namespaces").is_none_or(|n| n > 0)
                // Debian's switch and Ubuntu's AppArmor restriction.
                && proc_number("/proc/sys/kernel/unprivileged_userns_clone").is_none_or(|n| n != 0)
                && proc_number("/proc/sys/kernel/apparmor_restrict_unprivileged_userns")
                    .is_none_or(|n| n == 0),
            root: rustix::process::geteuid().is_root(),
        }
    }

    /// Landlock TCP port rules (ABI 4): `outbound` limited to allowed ports.
    pub fn network_rules(&self) -> bool {
        self.landlock_abi >= 4
    }

    /// Landlock scopes (ABI 6): no signals to, no abstract UNIX sockets of,
    /// processes outside the sandbox.
    pub fn scopes(&self) -> bool {
        self.landlock_abi >= 6
    }

    /// Whether a child can get an empty network namespace.
    pub fn can_isolate_network(&self) -> bool {
        self.network_namespaces && (self.root || self.user_namespaces)
    }
}

fn proc_number(path: &str) -> Option<i64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// The highest ABI whose features the kernel accepts, each probed without
/// restricting anything (hard-requirement rulesets and flags are refused by
/// the crate on a kernel that lacks them).
fn landlock_abi() -> u8 {
    let ruleset_accepts = |abi: ABI| {
        let hard = Ruleset::default().set_compatibility(CompatLevel::HardRequirement);
        let ruleset = hard.handle_access(AccessFs::from_all(abi));
        let ruleset = if abi >= ABI::V4 {
            ruleset.and_then(|r| r.handle_access(AccessNet::from_all(abi)))
        } else {
            ruleset
        };
        let ruleset = if abi >= ABI::V6 {
            ruleset.and_then(|r| r.scope(Scope::from_all(abi)))
        } else {
            ruleset
        };
        ruleset.and_then(Ruleset::create).is_ok()
    };
    let hard_flags = || RestrictSelf::default().set_compatibility(CompatLevel::HardRequirement);
    let probes: [(u8, &dyn Fn() -> bool); 10] = [
        (10, &|| ruleset_accepts(ABI::V10)),
        (9, &|| ruleset_accepts(ABI::V9)),
        (8, &|| hard_flags().all_threads(true).is_ok()),
        (7, &|| hard_flags().log_subdomains(false).is_ok()),
        (6, &|| ruleset_accepts(ABI::V6)),
        (5, &|| ruleset_accepts(ABI::V5)),
        (4, &|| ruleset_accepts(ABI::V4)),
        (3, &|| ruleset_accepts(ABI::V3)),
        (2, &|| ruleset_accepts(ABI::V2)),
        (1, &|| ruleset_accepts(ABI::V1)),
    ];
    probes
        .iter()
        .find(|(_, supported)| supported())
        .map_or(0, |(abi, _)| *abi)
}

/// The kernel's features, detected on first use.
pub fn kernel() -> &'static KernelFeatures {
    static FEATURES: OnceLock<KernelFeatures> = OnceLock::new();
    FEATURES.get_or_init(KernelFeatures::detect)
}

/// The sandbox as this process will apply it: settings + kernel features.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SandboxStatus {
    /// `PROCESS_SANDBOX` is on.
    pub enabled: bool,
    #[serde(flatten)]
    pub kernel: KernelFeatures,
    /// What keeps children off local services' socket files: `landlock`
    /// (ABI 9), `seccomp` (no `socket(AF_UNIX)`), or `nothing`.
    pub unix_sockets: &'static str,
    /// Whom children run as (only when the platform runs as root).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<Identity>,
    /// Why process deployments are refused (one line), when they are.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
    /// Set when the sandbox is off: tools run with the platform's rights.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

pub const OFF_WARNING: &str = "PROCESS_SANDBOX=off: process deployments run without Landlock, namespaces or a user change, with the platform's own rights";

impl SandboxStatus {
    pub fn new(settings: &SandboxSettings, kernel: KernelFeatures) -> Self {
        let mut status = Self {
            enabled: settings.enabled,
            kernel,
            unix_sockets: if settings.enabled {
                super::seccomp::unix_socket_guard(kernel.landlock_abi)
            } else {
                "nothing"
            },
            identity: None,
            refusal: None,
            warning: None,
        };
        if !settings.enabled {
            status.warning = Some(OFF_WARNING.into());
            return status;
        }
        if kernel.landlock_abi == 0 {
            status.refusal = Some(
                "process sandbox: the kernel has no Landlock (Linux 5.13+ with `landlock` in the LSM list); \
                 process deployments are refused unless PROCESS_SANDBOX=off"
                    .into(),
            );
            return status;
        }
        if kernel.root {
            match resolve_identity(&settings.user, settings.group.as_deref()) {
                Ok(identity) if identity.uid == 0 => {
                    status.refusal = Some(format!(
                        "process sandbox: PROCESS_SANDBOX_USER={} is root; name an unprivileged user",
                        settings.user
                    ));
                }
                Ok(identity) => status.identity = Some(identity),
                Err(e) => status.refusal = Some(format!("process sandbox: {e}")),
            }
        }
        status
    }

    /// This process's status (settings given once, features detected once).
    pub fn current(settings: &SandboxSettings) -> &'static Self {
        static STATUS: OnceLock<SandboxStatus> = OnceLock::new();
        STATUS.get_or_init(|| Self::new(settings, *kernel()))
    }
}

/// Logs what the sandbox will do (called once at start).
pub fn log_at_start(settings: &SandboxSettings) {
    let status = SandboxStatus::current(settings);
    let k = &status.kernel;
    if let Some(warning) = &status.warning {
        tracing::warn!("{warning}");
    } else if let Some(refusal) = &status.refusal {
        tracing::error!("{refusal}");
    } else {
        tracing::info!(
            landlock_abi = k.landlock_abi,
            network_rules = k.network_rules(),
            scopes = k.scopes(),
            network_namespaces = k.network_namespaces,
            user_namespaces = k.user_namespaces,
            root = k.root,
            user = status.identity.as_ref().map(|i| i.user.as_str()),
            "process sandbox on"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn features(abi: u8, root: bool) -> KernelFeatures {
        KernelFeatures {
            landlock_abi: abi,
            network_namespaces: true,
            user_namespaces: false,
            root,
        }
    }

    #[test]
    fn this_kernel_has_landlock_and_namespaces() {
        // The machines this project runs on (ARCHITECTURE.md) have ABI 7.
        let k = KernelFeatures::detect();
        assert!(k.landlock_abi >= 4, "{k:?}");
        assert!(k.network_namespaces, "{k:?}");
        assert!(k.can_isolate_network(), "{k:?}");
    }

    #[test]
    fn without_landlock_processes_are_refused_in_one_line_unless_off() {
        let on = SandboxSettings::default();
        let status = SandboxStatus::new(&on, features(0, true));
        let why = status.refusal.expect("refused");
        assert!(why.contains("Landlock") && !why.contains('\n'), "{why}");

        let off = SandboxSettings {
            enabled: false,
            ..SandboxSettings::default()
        };
        let status = SandboxStatus::new(&off, features(0, true));
        assert_eq!(status.refusal, None);
        assert_eq!(status.warning.as_deref(), Some(OFF_WARNING));
    }

    #[test]
    fn as_root_the_sandbox_user_is_resolved_and_root_is_refused() {
        let status = SandboxStatus::new(&SandboxSettings::default(), features(7, true));
        assert_eq!(status.refusal, None);
        let identity = status.identity.expect("nobody resolved");
        assert_eq!(identity.user, "nobody");
        assert_ne!(identity.uid, 0);

        let root = SandboxSettings {
            user: "root".into(),
            ..SandboxSettings::default()
        };
        assert!(SandboxStatus::new(&root, features(7, true))
            .refusal
            .is_some());
        let missing = SandboxSettings {
            user: "no-such-user-here".into(),
            ..SandboxSettings::default()
        };
        let why = SandboxStatus::new(&missing, features(7, true))
            .refusal
            .expect("refused");
        assert!(why.contains("no-such-user-here"), "{why}");
    }

    #[test]
    fn not_root_means_no_user_change() {
        let status = SandboxStatus::new(&SandboxSettings::default(), features(7, false));
        assert_eq!(status.identity, None);
        assert_eq!(status.refusal, None);
    }
}
