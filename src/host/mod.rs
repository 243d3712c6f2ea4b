//! Facts about this host for the heartbeat: name, addresses, OS, CPUs,
//! memory, and free space under each target root.
//!
//! sysinfo reads /proc and the mount table, so [`collect`] runs on the
//! blocking pool.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use sysinfo::{Disks, Networks, System};

use crate::api::gateway::{HostFacts, TargetRootSpace};

/// A target root whose free space is reported.
#[derive(Debug, Clone)]
pub struct TargetRoot {
    /// `local`, `nas`, …
    pub location: String,
    /// The directory.
    pub root: PathBuf,
}

/// Gathers the host facts (on the blocking pool).
pub async fn collect(internet_ip: Option<String>, roots: Vec<TargetRoot>) -> HostFacts {
    tokio::task::spawn_blocking(move || collect_now(internet_ip, &roots))
        .await
        .unwrap_or_default()
}

fn collect_now(internet_ip: Option<String>, roots: &[TargetRoot]) -> HostFacts {
    let mut system = System::new();
    system.refresh_memory();
    let disks = if roots.is_empty() {
        None
    } else {
        Some(Disks::new_with_refreshed_list())
    };
    HostFacts {
        hostname: System::host_name().unwrap_or_default(),
        intranet_ip: intranet_ipv4().map(|ip| ip.to_string()).unwrap_or_default(),
        internet_ip: internet_ip.unwrap_or_default(),
        os: System::long_os_version().unwrap_or_default(),
        kernel: System::kernel_version().unwrap_or_default(),
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        memory_total_bytes: system.total_memory(),
        memory_available_bytes: system.available_memory(),
        agent_version: env!("CARGO_PKG_VERSION").to_string(),
        target_roots: roots
            .iter()
            .map(|r| TargetRootSpace {
                location: r.location.clone(),
                root: r.root.display().to_string(),
                available_bytes: disks.as_ref().and_then(|d| available_under(d, &r.root)),
            })
            .collect(),
    }
}

/// The first non-loopback, non-link-local IPv4 address of any interface.
pub fn intranet_ipv4() -> Option<IpAddr> {
    let networks = Networks::new_with_refreshed_list();
    let mut addresses: Vec<IpAddr> = networks
        .iter()
        .flat_map(|(_, data)| data.ip_networks().iter().map(|n| n.addr))
        .filter(|ip| match ip {
            IpAddr::V4(v4) => !v4.is_loopback() && !v4.is_link_local() && !v4.is_unspecified(),
            IpAddr::V6(_) => false,
        })
        .collect();
    addresses.sort();
    addresses.into_iter().next()
}

/// Free space of the disk whose mount point is the longest prefix of `path`.
fn available_under(disks: &Disks, path: &Path) -> Option<u64> {
    let path = path.canonicalize().ok()?;
    disks
        .iter()
        .filter(|d| path.starts_with(d.mount_point()))
        .max_by_key(|d| d.mount_point().as_os_str().len())
        .map(|d| d.available_space())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn facts_name_this_host() {
        let facts = collect(
            Some("203.0.113.7".into()),
            vec![TargetRoot {
                location: "local".into(),
                root: std::env::temp_dir(),
            }],
        )
        .await;
        assert_eq!(facts.hostname, System::host_name().unwrap());
        assert_eq!(facts.internet_ip, "203.0.113.7");
        assert!(facts.memory_total_bytes > 0);
        assert!(facts.target_roots[0].available_bytes.unwrap() > 0);
    }
}
