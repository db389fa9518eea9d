//! What users write: the topology spec.
//!
//! These types mirror the JSON document one to one. They are deliberately
//! permissive about *values* (addresses and versions are strings, numbers are
//! wide) so that [`crate::validate()`] can report every problem at once with a
//! JSON pointer, instead of serde stopping at the first one. They are strict
//! about *shape*: every object denies unknown fields, so a typo is an error.
//!
//! Optional fields are `Option`s; the defaults live in one place, the
//! [`crate::plan`] module, and each field's doc comment names its default.

mod firewall;
mod haproxy;
mod keepalived;
mod platform;
mod rabbitmq;
mod secret;
mod target;
mod tls;

pub use firewall::Firewall;
pub use haproxy::{Balance, HaProxy, HealthCheck, Stats, Timeouts};
pub use keepalived::{Keepalived, TrackMode, VrrpState, VrrpTransport};
pub use platform::{Apt, InstallSource, OsRelease};
pub use rabbitmq::{
    AllReplicas, PartitionHandling, Permission, QueueHa, QueueHaMode, RabbitMq, RabbitPorts,
    Replicas, SyncMode, User, UserTag,
};
pub use secret::SecretSource;
pub use target::{DomainType, Libvirt, Provider, Proxmox, Resources, RoleResources, Target};
pub use tls::{Tls, TlsMode, TlsPair, TlsSource};

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Writes a keyword enum as its serde name, so the text a variant reads as
/// in the spec is the text every artifact writes: one mapping, not one per
/// renderer.
pub(crate) fn keyword<T: Serialize>(value: &T, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => f.write_str(&s),
        _ => Err(fmt::Error),
    }
}

/// `Display` for keyword enums, through [`keyword`].
macro_rules! keyword_display {
    ($($t:ty),*) => {
        $(impl ::std::fmt::Display for $t {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                $crate::spec::keyword(self, f)
            }
        })*
    };
}
pub(crate) use keyword_display;

keyword_display!(
    Balance,
    VrrpState,
    VrrpTransport,
    PartitionHandling,
    QueueHaMode,
    SyncMode,
    UserTag,
    Provisioning,
    Provider,
    OsRelease,
    TlsMode
);

/// A highly available RabbitMQ cluster: brokers, HAProxy load balancers that
/// share a floating virtual IP through keepalived, and the queue replication
/// policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "rmqgen topology")]
pub struct Spec {
    /// JSON Schema reference for editors; ignored by rmqgen.
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// Cluster name: an RFC 1123 label (lower-case letters, digits, `-`).
    /// Becomes the RabbitMQ `cluster_name` and the prefix of Terraform
    /// resource names.
    pub name: String,
    /// DNS domain of the hosts (for example `mq.example.internal`). When set,
    /// every host also gets its FQDN in `/etc/hosts`. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// The one layer-2 segment every host and the virtual IP live on.
    pub network: Network,
    /// The image family the VMs boot (cloud-init provisioning):
    /// `debian-12`, `debian-13`, `ubuntu-22.04` or `ubuntu-24.04`. With
    /// `rabbitmq.install` it decides which RabbitMQ series the brokers can
    /// get. NixOS hosts ignore it. Default: `debian-13`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<OsRelease>,
    /// apt settings of every host (cloud-init provisioning; NixOS hosts
    /// ignore them). Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apt: Option<Apt>,
    /// The floating virtual IP that clients connect to. Must be inside
    /// `network.cidr` and distinct from every host address.
    pub vip: String,
    /// The brokers and the queue replication policy.
    pub rabbitmq: RabbitMq,
    /// The broker hosts. An odd count (3, 5, ...) keeps a majority through a
    /// partition.
    pub brokers: Vec<Node>,
    /// The HAProxy + keepalived hosts; at least two.
    pub load_balancers: Vec<LoadBalancer>,
    /// HAProxy settings shared by every load balancer. Default: all defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub haproxy: Option<HaProxy>,
    /// keepalived (VRRP) settings shared by every load balancer. Default: all
    /// defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keepalived: Option<Keepalived>,
    /// Source ranges of the host firewall (nftables) on every host.
    /// Default: every list is `network.cidr`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firewall: Option<Firewall>,
    /// TLS on the cluster's links: off by default; `{"enabled": true,
    /// "ca": ...}` turns it on everywhere. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<Tls>,
    /// SSH public keys allowed to log in to every host (the image's default
    /// user). Public keys are not secrets. Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ssh_authorized_keys: Vec<String>,
    /// How hosts are configured at first boot. Default: `cloud-init`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioning: Option<Provisioning>,
    /// Where the virtual machines run. Default: libvirt with its defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Target>,
}

/// The network all hosts share.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Network {
    /// IPv4 subnet in CIDR notation, for example `192.168.247.0/24`.
    pub cidr: String,
    /// Default gateway; inside `cidr`. Default: none (no default route).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    /// DNS resolvers for the hosts. Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns: Vec<String>,
    /// Name of the guest network interface that carries the addresses and the
    /// VIP (keepalived binds to it). Default: `ens3`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    /// Interface MTU. Default: leave the OS default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
}

/// A broker host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Node {
    /// Host name: an RFC 1123 label, unique among all hosts. The Erlang node
    /// name is `rabbit@<name>`.
    pub name: String,
    /// IPv4 address inside `network.cidr`.
    pub address: String,
    /// VM size for this host. Default: `target.resources.broker`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    /// Proxmox VE VM id of this host. Default: derived from the cluster
    /// and host names (`target.proxmox.vm_id_base` plus a hash of the
    /// names, below base + 10000), so adding or removing another host never
    /// moves it. Set it when two derived ids collide, or to keep an id a
    /// VM already has. 100..=999999999, unique.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vm_id: Option<u32>,
}

/// A load balancer host (HAProxy + keepalived).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoadBalancer {
    /// Host name: an RFC 1123 label, unique among all hosts.
    pub name: String,
    /// IPv4 address inside `network.cidr`.
    pub address: String,
    /// VRRP priority, 1..=254; the highest healthy load balancer holds the
    /// VIP. Default: 150 for the first load balancer, 10 less for each next
    /// one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u32>,
    /// Initial VRRP state. Default: `BACKUP` everywhere when
    /// `keepalived.preempt` is false (keepalived ignores `nopreempt` on a
    /// `MASTER`), otherwise `MASTER` on the highest priority.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_state: Option<VrrpState>,
    /// VM size for this host. Default: `target.resources.load_balancer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    /// Proxmox VE VM id of this host. Default: derived from the cluster
    /// and host names (`target.proxmox.vm_id_base` plus a hash of the
    /// names, below base + 10000), so adding or removing another host never
    /// moves it. Set it when two derived ids collide, or to keep an id a
    /// VM already has. 100..=999999999, unique.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vm_id: Option<u32>,
}

impl Spec {
    /// A spec with what every spec needs; brokers and load balancers are
    /// still to be added, and every optional section takes its default.
    ///
    /// ```
    /// use rmqgen::spec::{LoadBalancer, Node, QueueHaMode, RabbitMq, Spec};
    ///
    /// let mut spec = Spec::new("mq", "10.0.0.0/24", "10.0.0.100", RabbitMq::new("4.1", QueueHaMode::Quorum));
    /// spec.brokers.push(Node::new("mq-1", "10.0.0.11"));
    /// spec.load_balancers.push(LoadBalancer::new("lb-1", "10.0.0.21"));
    /// assert_eq!(spec.network.cidr, "10.0.0.0/24");
    /// assert!(spec.haproxy.is_none() && spec.target.is_none());
    /// ```
    pub fn new(
        name: impl Into<String>,
        cidr: impl Into<String>,
        vip: impl Into<String>,
        rabbitmq: RabbitMq,
    ) -> Self {
        Self {
            schema: None,
            name: name.into(),
            domain: None,
            network: Network::new(cidr),
            os: None,
            apt: None,
            vip: vip.into(),
            rabbitmq,
            brokers: Vec::new(),
            load_balancers: Vec::new(),
            haproxy: None,
            keepalived: None,
            firewall: None,
            tls: None,
            ssh_authorized_keys: Vec::new(),
            provisioning: None,
            target: None,
        }
    }
}

impl Network {
    /// A network with only its subnet; gateway, DNS, interface and MTU
    /// default.
    pub fn new(cidr: impl Into<String>) -> Self {
        Self {
            cidr: cidr.into(),
            gateway: None,
            dns: Vec::new(),
            interface: None,
            mtu: None,
        }
    }
}

impl Node {
    /// A broker host with the default VM size.
    pub fn new(name: impl Into<String>, address: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            address: address.into(),
            resources: None,
            vm_id: None,
        }
    }
}

impl LoadBalancer {
    /// A load balancer host with the default priority, initial state and
    /// VM size.
    pub fn new(name: impl Into<String>, address: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            address: address.into(),
            priority: None,
            initial_state: None,
            resources: None,
            vm_id: None,
        }
    }
}

/// How hosts are configured at first boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Provisioning {
    /// Debian/Ubuntu images configured by cloud-init user-data.
    CloudInit,
    /// NixOS hosts configured by the flake's modules: the VMs boot the
    /// cluster's NixOS image, whose cloud-init takes only the network
    /// config and the host's secrets; `nixos-rebuild` deploys each host.
    Nixos,
}

#[cfg(test)]
mod keyword_tests {
    use super::*;

    #[test]
    fn keywords_display_as_the_spec_writes_them() {
        assert_eq!(VrrpState::Master.to_string(), "MASTER");
        assert_eq!(VrrpState::Backup.to_string(), "BACKUP");
        assert_eq!(Balance::Leastconn.to_string(), "leastconn");
        assert_eq!(
            PartitionHandling::PauseMinority.to_string(),
            "pause_minority"
        );
        assert_eq!(SyncMode::Automatic.to_string(), "automatic");
        assert_eq!(UserTag::Policymaker.to_string(), "policymaker");
        assert_eq!(QueueHaMode::ClassicMirrored.to_string(), "classic-mirrored");
        assert_eq!(Provisioning::CloudInit.to_string(), "cloud-init");
    }
}
