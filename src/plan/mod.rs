//! The resolved model: every default filled, every derived value computed
//! once. Renderers read only the [`Plan`]; they never look at the spec,
//! re-derive a value or touch the disk.
//!
//! One file per spec section, as in [`crate::spec`].

pub mod defaults;
mod haproxy;
mod keepalived;
mod network;
pub mod paths;
mod rabbitmq;
mod secrets;
mod target;

pub use haproxy::{CheckPlan, HaProxyPlan, StatsPlan, TimeoutsPlan};
pub use keepalived::KeepalivedPlan;
pub use network::{Broker, Host, LoadBalancer, NetworkPlan, Size};
pub use rabbitmq::{
    PermissionPlan, PolicyPlan, RabbitPlan, RabbitPortsPlan, UserPlan, Version, Vhost,
};
pub use secrets::Secret;
pub use target::{LibvirtPlan, ProxmoxPlan, TargetPlan};

pub(crate) use haproxy::idle_timeouts_s;
pub(crate) use keepalived::lb_priorities;
pub(crate) use network::interface;
pub(crate) use rabbitmq::{heartbeat_s, plugins, rabbit_ports, replicas, vhost_names};
pub(crate) use secrets::user_password_tf_name;

use std::net::Ipv4Addr;

use serde::Serialize;

use crate::net::{parse_ipv4, Ipv4Net};
use crate::spec::{self, Provider, Provisioning, SecretSource, Spec, VrrpState};

/// The resolved topology.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// Cluster name.
    pub name: String,
    /// DNS domain.
    pub domain: Option<String>,
    /// The network.
    pub network: NetworkPlan,
    /// The virtual IP.
    pub vip: Ipv4Addr,
    /// Every host: brokers first, then load balancers, in spec order.
    pub hosts: Vec<Host>,
    /// The brokers.
    pub brokers: Vec<Broker>,
    /// The load balancers.
    pub load_balancers: Vec<LoadBalancer>,
    /// RabbitMQ.
    pub rabbitmq: RabbitPlan,
    /// HAProxy.
    pub haproxy: HaProxyPlan,
    /// keepalived.
    pub keepalived: KeepalivedPlan,
    /// SSH public keys for every host.
    pub ssh_authorized_keys: Vec<String>,
    /// Provisioning path.
    pub provisioning: Provisioning,
    /// Virtualisation target.
    pub target: TargetPlan,
    /// Every secret, by id.
    pub secrets: Vec<Secret>,
}

/// A host's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// RabbitMQ broker.
    Broker,
    /// HAProxy + keepalived.
    LoadBalancer,
}

impl Plan {
    /// The secret with this id.
    pub fn secret(&self, id: &str) -> Option<&Secret> {
        self.secrets.iter().find(|s| s.id == id)
    }

    /// A host by name.
    pub fn host(&self, name: &str) -> Option<&Host> {
        self.hosts.iter().find(|h| h.name == name)
    }
}

/// Failure to build a plan from a spec that validation accepted: a bug.
#[derive(Debug)]
pub(crate) struct Unvalidated(pub String);

/// Builds the plan. Call only on a spec that [`crate::validate`] accepted;
/// a value it should have rejected yields `Unvalidated`.
pub(crate) fn build(spec: &Spec) -> Result<Plan, Unvalidated> {
    let bad = |what: &str, e: String| Unvalidated(format!("{what}: {e}"));
    let cidr: Ipv4Net = spec.network.cidr.parse().map_err(|e| bad("cidr", e))?;
    let addr = |s: &str| parse_ipv4(s).map_err(|e| bad("address", e));
    let network = NetworkPlan {
        cidr,
        prefix: cidr.prefix(),
        netmask: cidr.netmask(),
        gateway: spec.network.gateway.as_deref().map(addr).transpose()?,
        dns: spec
            .network
            .dns
            .iter()
            .map(|d| addr(d))
            .collect::<Result<_, _>>()?,
        interface: interface(spec).to_string(),
        mtu: spec.network.mtu,
    };
    let version = Version::parse(&spec.rabbitmq.version).map_err(|e| bad("version", e))?;
    let target = spec.target.clone().unwrap_or_default();
    let sizes = target.resources.clone().unwrap_or_default();
    let size =
        |own: &Option<spec::Resources>, role: &Option<spec::Resources>, d: (u32, u32, u32)| {
            let pick = |f: fn(&spec::Resources) -> Option<u32>, dv: u32| {
                own.as_ref()
                    .and_then(f)
                    .or_else(|| role.as_ref().and_then(f))
                    .unwrap_or(dv)
            };
            Size {
                vcpus: pick(|r| r.vcpus, d.0),
                memory_mib: pick(|r| r.memory_mib, d.1),
                disk_gib: pick(|r| r.disk_gib, d.2),
            }
        };

    let fqdn = |name: &str| spec.domain.as_ref().map(|d| format!("{name}.{d}"));
    let mut hosts = Vec::new();
    let mut brokers = Vec::new();
    for b in &spec.brokers {
        let address = addr(&b.address)?;
        hosts.push(Host {
            name: b.name.clone(),
            fqdn: fqdn(&b.name),
            address,
            role: Role::Broker,
            resources: size(&b.resources, &sizes.broker, defaults::BROKER_SIZE),
            mac: String::new(),
        });
        brokers.push(Broker {
            name: b.name.clone(),
            address,
            node_name: format!("rabbit@{}", b.name),
        });
    }

    let ka = spec.keepalived.clone().unwrap_or_default();
    let preempt = ka.preempt.unwrap_or(false);
    let priorities = lb_priorities(spec);
    let top = priorities.iter().copied().max().unwrap_or(0);
    let lb_addrs = spec
        .load_balancers
        .iter()
        .map(|l| addr(&l.address))
        .collect::<Result<Vec<_>, _>>()?;
    let mut load_balancers = Vec::new();
    for (i, l) in spec.load_balancers.iter().enumerate() {
        let state = l
            .initial_state
            .unwrap_or(if preempt && priorities[i] == top {
                VrrpState::Master
            } else {
                VrrpState::Backup
            });
        hosts.push(Host {
            name: l.name.clone(),
            fqdn: fqdn(&l.name),
            address: lb_addrs[i],
            role: Role::LoadBalancer,
            resources: size(
                &l.resources,
                &sizes.load_balancer,
                defaults::LOAD_BALANCER_SIZE,
            ),
            mac: String::new(),
        });
        load_balancers.push(LoadBalancer {
            name: l.name.clone(),
            address: lb_addrs[i],
            priority: priorities[i],
            initial_state: match state {
                VrrpState::Master => "MASTER",
                VrrpState::Backup => "BACKUP",
            },
            peers: lb_addrs
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, a)| *a)
                .collect(),
        });
    }
    network::assign_macs(&spec.name, &mut hosts);

    let provisioning = spec.provisioning.unwrap_or(Provisioning::CloudInit);
    // cloud-init installs the cookie where RabbitMQ reads it; on NixOS the
    // broker module copies it there from a root-only file at every start.
    let (cookie_path, cookie_owner) = match provisioning {
        Provisioning::CloudInit => (paths::ERLANG_COOKIE, "rabbitmq"),
        Provisioning::Nixos => (paths::NIXOS_ERLANG_COOKIE, "root"),
    };
    let mut secrets = vec![Secret {
        id: "erlang-cookie".into(),
        tf_name: "erlang_cookie".into(),
        source: spec
            .rabbitmq
            .erlang_cookie
            .clone()
            .unwrap_or(SecretSource::TerraformRandom {}),
        purpose: "Erlang distribution cookie shared by every broker".into(),
        role: Role::Broker,
        path: cookie_path,
        file_name: None,
        env_var: None,
        owner: cookie_owner,
        group: cookie_owner,
        mode: 0o400,
        // Erlang cookies are at most 255 characters of printable ASCII;
        // alphanumerics avoid any quoting question.
        length: 48,
        special: false,
    }];

    let rabbitmq = rabbitmq::rabbit_plan(spec, version, &brokers, &mut secrets);
    let haproxy = haproxy::haproxy_plan(spec, &rabbitmq, &mut secrets);
    let keepalived = keepalived::keepalived_plan(spec, &ka, preempt);
    let tp = |o: &Option<String>, d: &str| o.clone().unwrap_or_else(|| d.to_string());
    let lv = target.libvirt.clone().unwrap_or_default();
    let px = target.proxmox.clone().unwrap_or_default();

    Ok(Plan {
        name: spec.name.clone(),
        domain: spec.domain.clone(),
        network,
        vip: addr(&spec.vip)?,
        hosts,
        brokers,
        load_balancers,
        rabbitmq,
        haproxy,
        keepalived,
        ssh_authorized_keys: spec.ssh_authorized_keys.clone(),
        provisioning,
        target: TargetPlan {
            provider: target.provider.unwrap_or(Provider::Libvirt),
            libvirt: LibvirtPlan {
                uri: tp(&lv.uri, "qemu:///system"),
                pool: tp(&lv.pool, "default"),
                bridge: tp(&lv.bridge, "br0"),
            },
            proxmox: ProxmoxPlan {
                node: tp(&px.node, "pve"),
                bridge: tp(&px.bridge, "vmbr0"),
                datastore: tp(&px.datastore, "local-lvm"),
                snippets_datastore: tp(&px.snippets_datastore, "local"),
                vm_id_base: px.vm_id_base.unwrap_or(9100),
            },
        },
        secrets,
    })
}

/// Terraform-safe identifier: lower-case alphanumerics and `_`.
pub(crate) fn tf_ident(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// Milliseconds as a decimal number of seconds without trailing zeros
/// (`500` -> `0.5`, `1000` -> `1`).
pub(crate) fn seconds(ms: u32) -> String {
    let (s, frac) = (ms / 1000, ms % 1000);
    if frac == 0 {
        s.to_string()
    } else {
        let f = format!("{frac:03}");
        format!("{s}.{}", f.trim_end_matches('0'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_are_written_like_keepalived_expects() {
        assert_eq!(seconds(500), "0.5");
        assert_eq!(seconds(1000), "1");
        assert_eq!(seconds(1250), "1.25");
        assert_eq!(seconds(10), "0.01");
    }

    #[test]
    fn tf_identifiers() {
        assert_eq!(tf_ident("app.user-1@x"), "app_user_1_x");
    }
}
