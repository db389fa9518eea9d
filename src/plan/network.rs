//! The network, the hosts and their addresses and MACs.

use std::net::Ipv4Addr;
use std::ops::Deref;
use std::sync::Arc;

use serde::{Serialize, Serializer};

use super::target::TargetPlan;
use super::{defaults, Located, Parser, Role};
use crate::net::Ipv4Net;
use crate::spec::{Resources, Spec, VrrpState};

/// The network.
#[derive(Debug, Clone, Serialize)]
pub struct NetworkPlan {
    /// Subnet.
    pub cidr: Located<Ipv4Net>,
    /// Prefix length.
    pub prefix: u8,
    /// Netmask (dotted).
    pub netmask: Ipv4Addr,
    /// Default gateway.
    pub gateway: Option<Located<Ipv4Addr>>,
    /// Resolvers.
    pub dns: Vec<Located<Ipv4Addr>>,
    /// Guest interface.
    pub interface: Located<String>,
    /// MTU.
    pub mtu: Option<u32>,
}

/// A machine.
#[derive(Debug, Clone, Serialize)]
pub struct Host {
    /// Short host name.
    pub name: Located<String>,
    /// Fully qualified name, when a domain is set.
    pub fqdn: Option<String>,
    /// Address.
    pub address: Located<Ipv4Addr>,
    /// Role.
    pub role: Role,
    /// VM size.
    pub resources: Size,
    /// MAC address of the host's NIC (`52:54:00:xx:xx:xx`), derived from the
    /// cluster and host names only: stable across renders, and no other
    /// host moves it (two hosts whose MACs collide are a validation error).
    /// Terraform pins it on the VM and cloud-init's network config matches
    /// on it.
    pub mac: String,
    /// Proxmox VE VM id: the host's `vm_id`, or derived from the cluster
    /// and host names (`plan::target::derived_vm_id`); never from
    /// another host.
    pub vm_id: Located<u64>,
}

/// A VM size. Each field remembers the spec field it comes from: the
/// host's own `resources`, its role's `target.resources`, or neither (the
/// role's default).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Size {
    /// vCPUs.
    pub vcpus: Located<u32>,
    /// Memory, MiB.
    pub memory_mib: Located<u32>,
    /// Disk, GiB.
    pub disk_gib: Located<u32>,
}

impl Size {
    /// rmqgen's default size of a role whose `target.resources` entry is
    /// at `pointer`.
    pub(super) fn default_at(
        pointer: &str,
        (vcpus, memory_mib, disk_gib): (u32, u32, u32),
    ) -> Self {
        let at = |key: &str, v: u32| Located::fixed(format!("{pointer}/{key}"), v);
        Self {
            vcpus: at("vcpus", vcpus),
            memory_mib: at("memory_mib", memory_mib),
            disk_gib: at("disk_gib", disk_gib),
        }
    }

    /// The `resources` at `pointer`, with the fields it leaves out taken
    /// from `fallback`.
    pub(super) fn resolve(pointer: &str, resources: Option<&Resources>, fallback: &Self) -> Self {
        let r = resources.cloned().unwrap_or_default();
        let pick = |key: &str, v: Option<u32>, fallback: &Located<u32>| match v {
            Some(v) => Located::given(format!("{pointer}/{key}"), v),
            None => fallback.clone(),
        };
        Self {
            vcpus: pick("vcpus", r.vcpus, &fallback.vcpus),
            memory_mib: pick("memory_mib", r.memory_mib, &fallback.memory_mib),
            disk_gib: pick("disk_gib", r.disk_gib, &fallback.disk_gib),
        }
    }
}

/// A broker: its host and its Erlang node.
#[derive(Debug, Clone)]
pub struct Broker {
    /// The host (shared with [`super::Plan::hosts`]).
    pub host: Arc<Host>,
    /// Erlang node name, `rabbit@<name>`.
    pub node_name: String,
}

/// A load balancer: its host and its VRRP role. (Named apart from
/// [`crate::spec::LoadBalancer`], what the spec writes about it.)
#[derive(Debug, Clone)]
pub struct Balancer {
    /// The host (shared with [`super::Plan::hosts`]).
    pub host: Arc<Host>,
    /// VRRP priority.
    pub priority: Located<u32>,
    /// Initial VRRP state.
    pub initial_state: Located<VrrpState>,
    /// Addresses of the other load balancers (unicast peers).
    pub peers: Vec<Ipv4Addr>,
}

impl Deref for Broker {
    type Target = Host;
    fn deref(&self) -> &Host {
        &self.host
    }
}

impl Deref for Balancer {
    type Target = Host;
    fn deref(&self) -> &Host {
        &self.host
    }
}

/// Templates see a broker as its host's fields plus its own.
impl Serialize for Broker {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct View<'a> {
            #[serde(flatten)]
            host: &'a Host,
            node_name: &'a str,
        }
        View {
            host: &self.host,
            node_name: &self.node_name,
        }
        .serialize(s)
    }
}

/// Templates see a load balancer as its host's fields plus its own.
impl Serialize for Balancer {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct View<'a> {
            #[serde(flatten)]
            host: &'a Host,
            priority: u32,
            initial_state: VrrpState,
            peers: &'a [Ipv4Addr],
        }
        View {
            host: &self.host,
            priority: *self.priority,
            initial_state: *self.initial_state,
            peers: &self.peers,
        }
        .serialize(s)
    }
}

/// Serialises shared hosts as the hosts themselves.
pub(super) fn serialize_hosts<S: Serializer>(hosts: &[Arc<Host>], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(hosts.iter().map(|h| &**h))
}

/// The network: the subnet (parsed once), gateway, resolvers, interface.
pub(super) fn resolve(spec: &Spec, parse: &mut Parser) -> NetworkPlan {
    let n = &spec.network;
    let cidr = parse.subnet("/network/cidr".into(), &n.cidr);
    NetworkPlan {
        prefix: cidr.prefix(),
        netmask: cidr.netmask(),
        cidr,
        gateway: n
            .gateway
            .as_deref()
            .map(|g| parse.address("/network/gateway".into(), g)),
        dns: n
            .dns
            .iter()
            .enumerate()
            .map(|(i, d)| parse.address(format!("/network/dns/{i}"), d))
            .collect(),
        interface: Located::field(
            "/network/interface",
            n.interface.clone(),
            defaults::INTERFACE.to_string(),
        ),
        mtu: n.mtu,
    }
}

/// Every host (brokers, then load balancers, in spec order), each address
/// parsed once, and the brokers and load balancers sharing those hosts.
pub(super) fn hosts(
    spec: &Spec,
    preempt: bool,
    target: &TargetPlan,
    parse: &mut Parser,
) -> (Vec<Arc<Host>>, Vec<Broker>, Vec<Balancer>) {
    let vm_id_base = target.proxmox.vm_id_base;
    let sizes = &target.sizes;
    let host = |name: Located<String>,
                address: Located<Ipv4Addr>,
                role: Role,
                resources: Size,
                vm_id: Located<u64>| {
        Arc::new(Host {
            fqdn: spec.domain.as_ref().map(|d| format!("{name}.{d}")),
            mac: mac(&spec.name, &name),
            name,
            address,
            role,
            resources,
            vm_id,
        })
    };
    let vm_id = |pointer: String, name: &str, written: Option<u32>| {
        Located::field(
            pointer,
            written.map(u64::from),
            super::target::derived_vm_id(vm_id_base, &spec.name, name),
        )
    };

    let mut hosts = Vec::new();
    let mut brokers = Vec::new();
    for (i, b) in spec.brokers.iter().enumerate() {
        let address = parse.address(format!("/brokers/{i}/address"), &b.address);
        let h = host(
            Located::given(format!("/brokers/{i}/name"), b.name.clone()),
            address,
            Role::Broker,
            Size::resolve(
                &format!("/brokers/{i}/resources"),
                b.resources.as_ref(),
                &sizes.broker,
            ),
            vm_id(format!("/brokers/{i}/vm_id"), &b.name, b.vm_id),
        );
        hosts.push(Arc::clone(&h));
        brokers.push(Broker {
            host: h,
            node_name: format!("rabbit@{}", b.name),
        });
    }

    let priorities = super::keepalived::priorities(spec);
    let top = priorities.iter().map(|p| **p).max().unwrap_or(0);
    let lb_hosts: Vec<Arc<Host>> = spec
        .load_balancers
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let address = parse.address(format!("/load_balancers/{i}/address"), &l.address);
            host(
                Located::given(format!("/load_balancers/{i}/name"), l.name.clone()),
                address,
                Role::LoadBalancer,
                Size::resolve(
                    &format!("/load_balancers/{i}/resources"),
                    l.resources.as_ref(),
                    &sizes.load_balancer,
                ),
                vm_id(format!("/load_balancers/{i}/vm_id"), &l.name, l.vm_id),
            )
        })
        .collect();
    let mut load_balancers = Vec::new();
    for (i, (l, h)) in spec.load_balancers.iter().zip(&lb_hosts).enumerate() {
        let initial_state = Located::field(
            format!("/load_balancers/{i}/initial_state"),
            l.initial_state,
            if preempt && *priorities[i] == top {
                VrrpState::Master
            } else {
                VrrpState::Backup
            },
        );
        load_balancers.push(Balancer {
            host: Arc::clone(h),
            priority: priorities[i].clone(),
            initial_state,
            peers: lb_hosts
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, p)| *p.address)
                .collect(),
        });
    }
    hosts.extend(lb_hosts);
    (hosts, brokers, load_balancers)
}

/// A host's MAC address: QEMU's locally administered prefix `52:54:00` and
/// three bytes of SHA-256 over the cluster and host names, so a host keeps
/// its MAC across renders and clusters sharing a bridge do not collide.
/// It depends on no other host, so adding one never moves an existing
/// host's MAC (the NIC's identity, and what the host's network config
/// matches on). A clash inside the cluster (one in ~16.7 million per pair)
/// is a validation error: rename one of the two hosts.
pub(crate) fn mac(cluster: &str, name: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    for part in [cluster, name] {
        hasher.update(part.as_bytes());
        hasher.update([0u8]);
    }
    // A counter used to follow; 0 keeps every MAC rendered before.
    hasher.update(0u32.to_be_bytes());
    let d = hasher.finalize();
    format!("52:54:00:{:02x}:{:02x}:{:02x}", d[0], d[1], d[2])
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn macs_are_stable_spread_and_locally_administered() {
        let names: Vec<String> = (0..2000).map(|i| format!("host-{i}")).collect();
        let first: Vec<String> = names.iter().map(|n| mac("cluster", n)).collect();
        let unique: BTreeSet<&str> = first.iter().map(String::as_str).collect();
        // 2000 names in 2^24 MACs: a clash is possible but unlikely here.
        assert!(unique.len() >= names.len() - 1, "{}", unique.len());
        for m in &first {
            assert!(m.starts_with("52:54:00:"), "{m}");
            assert_eq!(m.len(), 17);
            assert!(m
                .bytes()
                .all(|b| b == b':' || b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        }
        // Stable: the same names give the same MACs; another cluster, others.
        assert_eq!(mac("cluster", "host-1"), first[1]);
        assert_ne!(mac("other", "host-1"), first[1]);
        // The value every render so far has pinned (examples/five-vm.json).
        assert_eq!(mac("rmq-prod", "rabbitmq-1"), "52:54:00:2c:97:41");
    }
}
