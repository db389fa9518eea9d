//! The network, the hosts and their addresses and MACs.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use serde::Serialize;

use super::{defaults, Role};
use crate::net::Ipv4Net;
use crate::spec::Spec;

/// The network.
#[derive(Debug, Clone, Serialize)]
pub struct NetworkPlan {
    /// Subnet.
    pub cidr: Ipv4Net,
    /// Prefix length.
    pub prefix: u8,
    /// Netmask (dotted).
    pub netmask: Ipv4Addr,
    /// Default gateway.
    pub gateway: Option<Ipv4Addr>,
    /// Resolvers.
    pub dns: Vec<Ipv4Addr>,
    /// Guest interface.
    pub interface: String,
    /// MTU.
    pub mtu: Option<u32>,
}

/// A machine.
#[derive(Debug, Clone, Serialize)]
pub struct Host {
    /// Short host name.
    pub name: String,
    /// Fully qualified name, when a domain is set.
    pub fqdn: Option<String>,
    /// Address.
    pub address: Ipv4Addr,
    /// Role.
    pub role: Role,
    /// VM size.
    pub resources: Size,
    /// MAC address of the host's NIC (`52:54:00:xx:xx:xx`), derived from the
    /// cluster and host names: stable across renders, unique in the cluster.
    /// Terraform pins it on the VM and cloud-init's network config matches
    /// on it.
    pub mac: String,
}

/// A VM size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Size {
    /// vCPUs.
    pub vcpus: u32,
    /// Memory, MiB.
    pub memory_mib: u32,
    /// Disk, GiB.
    pub disk_gib: u32,
}

/// A broker.
#[derive(Debug, Clone, Serialize)]
pub struct Broker {
    /// Host name.
    pub name: String,
    /// Address.
    pub address: Ipv4Addr,
    /// Erlang node name, `rabbit@<name>`.
    pub node_name: String,
}

/// A load balancer with its VRRP role.
#[derive(Debug, Clone, Serialize)]
pub struct LoadBalancer {
    /// Host name.
    pub name: String,
    /// Address.
    pub address: Ipv4Addr,
    /// VRRP priority.
    pub priority: u32,
    /// Initial state keyword (`MASTER` / `BACKUP`).
    pub initial_state: &'static str,
    /// Addresses of the other load balancers (unicast peers).
    pub peers: Vec<Ipv4Addr>,
}

/// The guest interface name.
pub(crate) fn interface(spec: &Spec) -> &str {
    spec.network
        .interface
        .as_deref()
        .unwrap_or(defaults::INTERFACE)
}

/// Gives every host a MAC address: QEMU's locally administered prefix
/// `52:54:00` and three bytes of SHA-256 over the cluster and host names, so
/// a host keeps its MAC across renders and clusters sharing a bridge do not
/// collide. A clash inside the cluster (one in ~16.7 million per pair) is
/// resolved by hashing again with a counter, in host order.
pub(super) fn assign_macs(cluster: &str, hosts: &mut [Host]) {
    use sha2::{Digest, Sha256};
    let mut used = BTreeSet::new();
    for host in hosts.iter_mut() {
        let mut attempt = 0u32;
        let mac = loop {
            let mut hasher = Sha256::new();
            for part in [cluster, host.name.as_str()] {
                hasher.update(part.as_bytes());
                hasher.update([0u8]);
            }
            hasher.update(attempt.to_be_bytes());
            let d = hasher.finalize();
            let mac = format!("52:54:00:{:02x}:{:02x}:{:02x}", d[0], d[1], d[2]);
            if used.insert(mac.clone()) {
                break mac;
            }
            attempt += 1;
        };
        host.mac = mac;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_are_stable_unique_and_locally_administered() {
        let host = |name: &str| Host {
            name: name.into(),
            fqdn: None,
            address: Ipv4Addr::new(10, 0, 0, 1),
            role: Role::Broker,
            resources: Size {
                vcpus: 1,
                memory_mib: 512,
                disk_gib: 4,
            },
            mac: String::new(),
        };
        let names: Vec<String> = (0..2000).map(|i| format!("host-{i}")).collect();
        let mut hosts: Vec<Host> = names.iter().map(|n| host(n)).collect();
        assign_macs("cluster", &mut hosts);
        let macs: BTreeSet<&str> = hosts.iter().map(|h| h.mac.as_str()).collect();
        assert_eq!(macs.len(), hosts.len(), "MACs must be unique");
        for h in &hosts {
            assert!(h.mac.starts_with("52:54:00:"), "{}", h.mac);
            assert_eq!(h.mac.len(), 17);
            assert!(h
                .mac
                .bytes()
                .all(|b| b == b':' || b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        }
        // Stable: the same names give the same MACs; another cluster, others.
        let mut again: Vec<Host> = names.iter().map(|n| host(n)).collect();
        assign_macs("cluster", &mut again);
        assert!(hosts.iter().zip(&again).all(|(a, b)| a.mac == b.mac));
        let mut other: Vec<Host> = names.iter().map(|n| host(n)).collect();
        assign_macs("other", &mut other);
        assert!(hosts.iter().zip(&other).any(|(a, b)| a.mac != b.mac));
        // A clash is resolved, not kept: two hosts of the same name.
        let mut twins = vec![host("a"), host("a")];
        assign_macs("cluster", &mut twins);
        assert_ne!(twins[0].mac, twins[1].mac);
    }
}
