//! The resolved model: every default filled, every derived value computed
//! once. Renderers read only the [`Plan`]; they never look at the spec,
//! re-derive a value or touch the disk.

use std::collections::BTreeSet;
use std::fmt;
use std::net::Ipv4Addr;

use serde::Serialize;

use crate::net::{parse_ipv4, Ipv4Net};
use crate::spec::{
    self, Balance, PartitionHandling, Provider, Provisioning, QueueHaMode, Replicas, SecretSource,
    Spec, SyncMode, TrackMode, UserTag, VrrpState, VrrpTransport,
};

/// Defaults, in one place. Validation uses the same values.
pub mod defaults {
    /// Guest interface name.
    pub const INTERFACE: &str = "ens3";
    /// AMQP port.
    pub const AMQP_PORT: u32 = 5672;
    /// Management UI port.
    pub const MANAGEMENT_PORT: u32 = 15672;
    /// Prometheus port.
    pub const PROMETHEUS_PORT: u32 = 15692;
    /// Erlang distribution port.
    pub const DISTRIBUTION_PORT: u32 = 25672;
    /// epmd port (fixed by Erlang).
    pub const EPMD_PORT: u32 = 4369;
    /// AMQP heartbeat, s.
    pub const HEARTBEAT_S: u32 = 60;
    /// HAProxy client/server timeout as a multiple of the heartbeat.
    pub const TIMEOUT_HEARTBEATS: u32 = 3;
    /// HAProxy client/server timeout when the heartbeat is disabled, s.
    pub const TIMEOUT_NO_HEARTBEAT_S: u32 = 3600;
    /// HAProxy connect timeout, ms.
    pub const CONNECT_MS: u32 = 5000;
    /// HAProxy check interval, ms (the original's 5000 left a dead broker in
    /// rotation ~8 s; 1 s with fall 2 masks it in ~1.5 s without flapping).
    pub const CHECK_INTERVAL_MS: u32 = 1000;
    /// HAProxy check interval while a server changes state, ms.
    pub const CHECK_FAST_INTERVAL_MS: u32 = 500;
    /// HAProxy check interval while a server is down, ms.
    pub const CHECK_DOWN_INTERVAL_MS: u32 = 2000;
    /// HAProxy rise.
    pub const CHECK_RISE: u32 = 2;
    /// HAProxy fall.
    pub const CHECK_FALL: u32 = 2;
    /// HAProxy maxconn.
    pub const MAXCONN: u32 = 10000;
    /// Local health endpoint port for keepalived's check.
    pub const HEALTH_PORT: u32 = 8405;
    /// Stats page port (the original's).
    pub const STATS_PORT: u32 = 8100;
    /// Stats page URI (the original's).
    pub const STATS_URI: &str = "/rabbitmq-stats";
    /// Stats login.
    pub const STATS_USER: &str = "admin";
    /// Stats refresh, s.
    pub const STATS_REFRESH_S: u32 = 10;
    /// VRRP version.
    pub const VRRP_VERSION: u32 = 3;
    /// VRRP advert interval, ms.
    pub const ADVERT_INT_MS: u32 = 500;
    /// Priority of the first load balancer.
    pub const FIRST_PRIORITY: u32 = 150;
    /// Priority step between load balancers.
    pub const PRIORITY_STEP: u32 = 10;
    /// keepalived check interval, ms.
    pub const KA_CHECK_INTERVAL_MS: u32 = 1000;
    /// keepalived check fall.
    pub const KA_CHECK_FALL: u32 = 2;
    /// keepalived check rise.
    pub const KA_CHECK_RISE: u32 = 2;
    /// Broker VM: vCPU, MiB, GiB.
    pub const BROKER_SIZE: (u32, u32, u32) = (2, 4096, 40);
    /// Load balancer VM: vCPU, MiB, GiB.
    pub const LOAD_BALANCER_SIZE: (u32, u32, u32) = (1, 1024, 10);
    /// Plugins.
    pub const PLUGINS: &[&str] = &["rabbitmq_management", "rabbitmq_prometheus"];
    /// NixOS release the generated flake follows (`nixos-<release>`), also
    /// the hosts' `system.stateVersion`.
    pub const NIXOS_RELEASE: &str = "26.05";
    /// RabbitMQ series that release ships as `pkgs.rabbitmq-server`.
    pub const NIXOS_RABBITMQ: super::Version = super::Version::new(4, 2);
}

/// Where rmqgen's files live on the hosts. One place, so the renderers, the
/// cloud-init write_files and the lab agree.
pub mod paths {
    /// RabbitMQ configuration.
    pub const RABBITMQ_CONF: &str = "/etc/rabbitmq/rabbitmq.conf";
    /// Enabled plugins.
    pub const ENABLED_PLUGINS: &str = "/etc/rabbitmq/enabled_plugins";
    /// Definitions imported at boot.
    pub const DEFINITIONS: &str = "/etc/rabbitmq/definitions.json";
    /// Erlang cookie (Debian's rabbitmq home).
    pub const ERLANG_COOKIE: &str = "/var/lib/rabbitmq/.erlang.cookie";
    /// Where the Erlang cookie is provided on NixOS hosts (0400 root): the
    /// broker module loads it as a systemd credential and installs it into
    /// the broker's data directory before every start.
    pub const NIXOS_ERLANG_COOKIE: &str = "/var/lib/rmqgen/erlang-cookie";
    /// Directory of per-user password files read by the bootstrap.
    pub const USER_SECRETS_DIR: &str = "/etc/rabbitmq/rmqgen-secrets";
    /// The queue-HA bootstrap script.
    pub const BOOTSTRAP: &str = "/usr/local/sbin/rmqgen-queue-ha-policy";
    /// HAProxy configuration.
    pub const HAPROXY_CFG: &str = "/etc/haproxy/haproxy.cfg";
    /// Environment file holding the stats password (secret).
    pub const HAPROXY_ENV: &str = "/etc/haproxy/rmqgen.env";
    /// systemd drop-in for haproxy.service.
    pub const HAPROXY_DROPIN: &str = "/etc/systemd/system/haproxy.service.d/rmqgen.conf";
    /// keepalived configuration.
    pub const KEEPALIVED_CONF: &str = "/etc/keepalived/keepalived.conf";
    /// keepalived's HAProxy check script.
    pub const CHECK_SCRIPT: &str = "/etc/keepalived/check-haproxy.sh";
    /// sysusers.d entry for the check script's user.
    pub const KEEPALIVED_SYSUSERS: &str = "/etc/sysusers.d/rmqgen-keepalived.conf";
    /// sysctl.d file for the load balancers.
    pub const LB_SYSCTL: &str = "/etc/sysctl.d/60-rmqgen-load-balancer.conf";
    /// systemd drop-in for keepalived.service.
    pub const KEEPALIVED_DROPIN: &str = "/etc/systemd/system/keepalived.service.d/rmqgen.conf";
    /// The hosts file.
    pub const ETC_HOSTS: &str = "/etc/hosts";
    /// Name of the environment variable holding the stats password.
    pub const STATS_PASSWORD_ENV: &str = "RMQGEN_STATS_PASSWORD";
    /// The unprivileged user keepalived runs its check as.
    pub const SCRIPT_USER: &str = "keepalived_script";
}

/// A RabbitMQ `MAJOR.MINOR` series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    /// Major.
    pub major: u32,
    /// Minor.
    pub minor: u32,
}

impl Version {
    /// Oldest supported series.
    pub const OLDEST: Version = Version::new(3, 10);
    /// Newest known series.
    pub const NEWEST: Version = Version::new(4, 3);

    /// A version.
    pub const fn new(major: u32, minor: u32) -> Self {
        Self { major, minor }
    }

    /// Parses `3.10` or `3.10.8` (the patch level is accepted and ignored).
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut parts = s.split('.');
        let num = |p: Option<&str>| p.and_then(|p| p.parse::<u32>().ok());
        let (major, minor) = (num(parts.next()), num(parts.next()));
        let patch_ok = parts.next().is_none_or(|p| p.parse::<u32>().is_ok());
        match (major, minor) {
            (Some(major), Some(minor)) if patch_ok && parts.next().is_none() => {
                Ok(Self { major, minor })
            }
            _ => Err(format!("`{s}` is not a MAJOR.MINOR version such as 3.13")),
        }
    }

    /// Classic queue mirroring exists (removed in 4.0).
    pub fn has_classic_mirroring(self) -> bool {
        self < Version::new(4, 0)
    }

    /// Per-vhost default queue type exists (3.11).
    pub fn has_default_queue_type(self) -> bool {
        self >= Version::new(3, 11)
    }

    /// Quorum membership reconciliation with `target-group-size` (3.13).
    pub fn has_target_group_size(self) -> bool {
        self >= Version::new(3, 13)
    }

    /// Mnesia and `cluster_partition_handling` exist (gone in 4.3).
    pub fn has_partition_handling(self) -> bool {
        self < Version::new(4, 3)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

impl Serialize for Version {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

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

/// A host's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// RabbitMQ broker.
    Broker,
    /// HAProxy + keepalived.
    LoadBalancer,
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

/// RabbitMQ settings.
#[derive(Debug, Clone, Serialize)]
pub struct RabbitPlan {
    /// Version series.
    pub version: Version,
    /// Ports.
    pub ports: RabbitPortsPlan,
    /// Heartbeat, s.
    pub heartbeat_s: u32,
    /// `cluster_partition_handling`, when the version has it.
    pub partition_handling: Option<&'static str>,
    /// Plugins, sorted.
    pub plugins: Vec<String>,
    /// Management plugin enabled.
    pub management: bool,
    /// Prometheus plugin enabled.
    pub prometheus: bool,
    /// Vhosts, in spec order.
    pub vhosts: Vec<Vhost>,
    /// Users.
    pub users: Vec<UserPlan>,
    /// The replication policy.
    pub policy: PolicyPlan,
    /// Broker whose first boot applies the bootstrap (the first broker).
    pub bootstrap_host: String,
}

/// Broker ports.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct RabbitPortsPlan {
    /// AMQP.
    pub amqp: u32,
    /// Management.
    pub management: u32,
    /// Prometheus.
    pub prometheus: u32,
    /// Distribution.
    pub distribution: u32,
    /// epmd.
    pub epmd: u32,
}

/// A vhost.
#[derive(Debug, Clone, Serialize)]
pub struct Vhost {
    /// Name.
    pub name: String,
    /// Default queue type, when set (`quorum`).
    pub default_queue_type: Option<&'static str>,
}

/// A user.
#[derive(Debug, Clone, Serialize)]
pub struct UserPlan {
    /// Name.
    pub name: String,
    /// Tags, comma-separated as rabbitmqctl wants them.
    pub tags: Vec<&'static str>,
    /// Id of the password secret.
    pub password_secret: String,
    /// Where the bootstrap reads the password on the broker.
    pub password_file: String,
    /// Permissions.
    pub permissions: Vec<PermissionPlan>,
}

/// Permissions on one vhost.
#[derive(Debug, Clone, Serialize)]
pub struct PermissionPlan {
    /// Vhost.
    pub vhost: String,
    /// Configure regex.
    pub configure: String,
    /// Write regex.
    pub write: String,
    /// Read regex.
    pub read: String,
}

/// The queue-HA policy, applied in every vhost.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyPlan {
    /// Mechanism.
    pub mode: QueueHaMode,
    /// Policy name.
    pub name: String,
    /// Queue name pattern.
    pub pattern: String,
    /// `apply-to`.
    pub apply_to: &'static str,
    /// Priority.
    pub priority: u32,
    /// The policy definition, as RabbitMQ wants it (sorted keys).
    pub definition: serde_json::Map<String, serde_json::Value>,
    /// Quorum queues: grow every queue onto every broker after formation.
    pub grow_quorum_queues: bool,
    /// Enable quorum membership reconciliation in rabbitmq.conf.
    pub membership_reconciliation: bool,
}

/// HAProxy settings.
#[derive(Debug, Clone, Serialize)]
pub struct HaProxyPlan {
    /// AMQP frontend port on the VIP.
    pub amqp_port: u32,
    /// Management frontend port on the VIP, when the plugin is enabled.
    pub management_port: Option<u32>,
    /// Local health endpoint port.
    pub health_port: u32,
    /// Health endpoint URI.
    pub health_uri: &'static str,
    /// Stats page.
    pub stats: StatsPlan,
    /// Balance algorithm keyword.
    pub balance: &'static str,
    /// Check timings.
    pub check: CheckPlan,
    /// Timeouts.
    pub timeouts: TimeoutsPlan,
    /// maxconn.
    pub maxconn: u32,
}

/// Stats page.
#[derive(Debug, Clone, Serialize)]
pub struct StatsPlan {
    /// Port.
    pub port: u32,
    /// URI.
    pub uri: String,
    /// Login.
    pub user: String,
    /// Id of the password secret.
    pub password_secret: String,
    /// Refresh, s.
    pub refresh_s: u32,
}

/// HAProxy check timings.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct CheckPlan {
    /// inter, ms.
    pub interval_ms: u32,
    /// fastinter, ms.
    pub fast_interval_ms: u32,
    /// downinter, ms.
    pub down_interval_ms: u32,
    /// rise.
    pub rise: u32,
    /// fall.
    pub fall: u32,
}

/// HAProxy timeouts.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct TimeoutsPlan {
    /// connect, ms.
    pub connect_ms: u32,
    /// client, s.
    pub client_s: u32,
    /// server, s.
    pub server_s: u32,
    /// check, ms.
    pub check_ms: u32,
}

/// keepalived settings.
#[derive(Debug, Clone, Serialize)]
pub struct KeepalivedPlan {
    /// Virtual router id.
    pub virtual_router_id: u32,
    /// VRRP version.
    pub vrrp_version: u32,
    /// Advert interval, ms.
    pub advert_int_ms: u32,
    /// Advert interval as keepalived writes it (seconds, decimal).
    pub advert_int: String,
    /// Unicast peers.
    pub unicast: bool,
    /// Preemption.
    pub preempt: bool,
    /// Track weight (0 = FAULT on failure).
    pub track_weight: i32,
    /// Check interval as keepalived writes it (seconds, decimal).
    pub check_interval: String,
    /// Check interval, ms (the check timeout equals it).
    pub check_interval_ms: u32,
    /// Check timeout as keepalived writes it (seconds, decimal).
    pub check_timeout: String,
    /// How long the check script waits for HAProxy's answer (seconds,
    /// decimal): inside the script timeout, so keepalived never kills it.
    pub check_read_timeout: String,
    /// Check fall.
    pub check_fall: u32,
    /// Check rise.
    pub check_rise: u32,
    /// auth_pass (not a secret; VRRPv2 only).
    pub auth_pass: Option<String>,
    /// Name of the VRRP instance.
    pub instance: String,
}

/// Virtualisation target.
#[derive(Debug, Clone, Serialize)]
pub struct TargetPlan {
    /// Provider.
    pub provider: Provider,
    /// libvirt settings (defaults filled).
    pub libvirt: LibvirtPlan,
    /// Proxmox settings (defaults filled).
    pub proxmox: ProxmoxPlan,
}

/// libvirt settings.
#[derive(Debug, Clone, Serialize)]
pub struct LibvirtPlan {
    /// Connection URI.
    pub uri: String,
    /// Pool.
    pub pool: String,
    /// Bridge.
    pub bridge: String,
}

/// Proxmox settings.
#[derive(Debug, Clone, Serialize)]
pub struct ProxmoxPlan {
    /// Node.
    pub node: String,
    /// Bridge.
    pub bridge: String,
    /// Disk datastore.
    pub datastore: String,
    /// Snippets datastore.
    pub snippets_datastore: String,
    /// First VM id.
    pub vm_id_base: u32,
}

/// A secret: where its value comes from and where it is installed. The value
/// itself never passes through rmqgen.
#[derive(Debug, Clone, Serialize)]
pub struct Secret {
    /// Stable id, e.g. `erlang-cookie`.
    pub id: String,
    /// Terraform-safe identifier derived from the id, e.g. `erlang_cookie`.
    pub tf_name: String,
    /// Where the value comes from.
    pub source: SecretSource,
    /// What it is for.
    pub purpose: String,
    /// Hosts that need it.
    pub role: Role,
    /// Installed path.
    pub path: &'static str,
    /// File name under `path` when `path` is a directory (per-user secrets).
    pub file_name: Option<String>,
    /// Environment variable the file assigns, when the file is an
    /// environment file rather than the bare value.
    pub env_var: Option<&'static str>,
    /// Owner.
    pub owner: &'static str,
    /// Group.
    pub group: &'static str,
    /// Mode.
    pub mode: u32,
    /// Minimum length when generated, characters.
    pub length: u32,
    /// Whether generated values may contain special characters.
    pub special: bool,
}

impl Secret {
    /// Full installed path.
    pub fn install_path(&self) -> String {
        match &self.file_name {
            Some(f) => format!("{}/{f}", self.path),
            None => self.path.to_string(),
        }
    }
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
    assign_macs(&spec.name, &mut hosts);

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

    let rabbitmq = rabbit_plan(spec, version, &brokers, &mut secrets);
    let haproxy = haproxy_plan(spec, &rabbitmq, &mut secrets);
    let keepalived = keepalived_plan(spec, &ka, preempt);
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

/// The guest interface name.
pub(crate) fn interface(spec: &Spec) -> &str {
    spec.network
        .interface
        .as_deref()
        .unwrap_or(defaults::INTERFACE)
}

/// VRRP priorities in load balancer order, defaults filled.
pub(crate) fn lb_priorities(spec: &Spec) -> Vec<u32> {
    spec.load_balancers
        .iter()
        .enumerate()
        .map(|(i, l)| {
            l.priority.unwrap_or_else(|| {
                let step = defaults::PRIORITY_STEP.saturating_mul(i as u32);
                defaults::FIRST_PRIORITY.saturating_sub(step).max(1)
            })
        })
        .collect()
}

/// The AMQP heartbeat.
pub(crate) fn heartbeat_s(spec: &Spec) -> u32 {
    spec.rabbitmq.heartbeat_s.unwrap_or(defaults::HEARTBEAT_S)
}

/// HAProxy client and server timeouts, s.
pub(crate) fn idle_timeouts_s(spec: &Spec) -> (u32, u32) {
    let hb = heartbeat_s(spec);
    let default = if hb == 0 {
        defaults::TIMEOUT_NO_HEARTBEAT_S
    } else {
        hb.saturating_mul(defaults::TIMEOUT_HEARTBEATS)
    };
    let t = spec
        .haproxy
        .as_ref()
        .and_then(|h| h.timeouts.clone())
        .unwrap_or_default();
    (t.client_s.unwrap_or(default), t.server_s.unwrap_or(default))
}

/// The broker ports, defaults filled.
pub(crate) fn rabbit_ports(spec: &Spec) -> RabbitPortsPlan {
    let p = spec.rabbitmq.ports.clone().unwrap_or_default();
    RabbitPortsPlan {
        amqp: p.amqp.unwrap_or(defaults::AMQP_PORT),
        management: p.management.unwrap_or(defaults::MANAGEMENT_PORT),
        prometheus: p.prometheus.unwrap_or(defaults::PROMETHEUS_PORT),
        distribution: p.distribution.unwrap_or(defaults::DISTRIBUTION_PORT),
        epmd: defaults::EPMD_PORT,
    }
}

/// Plugins, sorted and deduplicated.
pub(crate) fn plugins(spec: &Spec) -> Vec<String> {
    let set: BTreeSet<String> = match &spec.rabbitmq.plugins {
        Some(p) => p.iter().cloned().collect(),
        None => defaults::PLUGINS.iter().map(|s| s.to_string()).collect(),
    };
    set.into_iter().collect()
}

/// Vhost names, defaults filled.
pub(crate) fn vhost_names(spec: &Spec) -> Vec<String> {
    spec.rabbitmq
        .vhosts
        .clone()
        .unwrap_or_else(|| vec!["/".to_string()])
}

/// Replica count: `None` for all brokers.
pub(crate) fn replicas(spec: &Spec) -> Option<u32> {
    match spec.rabbitmq.queue_ha.replicas {
        None | Some(Replicas::All(_)) => None,
        Some(Replicas::Count(n)) => Some(n),
    }
}

/// The VRRP router id: the spec's, or a stable value derived from the
/// cluster name (FNV-1a folded into 1..=255).
pub(crate) fn virtual_router_id(spec: &Spec) -> u32 {
    spec.keepalived
        .as_ref()
        .and_then(|k| k.virtual_router_id)
        .unwrap_or_else(|| {
            let hash = spec.name.bytes().fold(0x811c_9dc5_u32, |h, b| {
                (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
            });
            hash % 255 + 1
        })
}

/// The Terraform name of a RabbitMQ user's password secret. Case and
/// punctuation are lost, so validation rejects users whose names map to the
/// same one.
pub(crate) fn user_password_tf_name(user: &str) -> String {
    tf_ident(&format!("rabbitmq_user_{user}_password"))
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

fn rabbit_plan(
    spec: &Spec,
    version: Version,
    brokers: &[Broker],
    secrets: &mut Vec<Secret>,
) -> RabbitPlan {
    let r = &spec.rabbitmq;
    let plugins = plugins(spec);
    let qha = &r.queue_ha;
    let quorum = qha.mode == QueueHaMode::Quorum;
    let vhosts = vhost_names(spec)
        .into_iter()
        .map(|name| Vhost {
            name,
            default_queue_type: (quorum && version.has_default_queue_type()).then_some("quorum"),
        })
        .collect::<Vec<_>>();
    let mut users = Vec::new();
    for u in &r.users {
        let id = format!("rabbitmq-user-{}", u.name);
        secrets.push(Secret {
            tf_name: user_password_tf_name(&u.name),
            id: id.clone(),
            source: u.password.clone(),
            purpose: format!("password of RabbitMQ user {}", u.name),
            role: Role::Broker,
            path: paths::USER_SECRETS_DIR,
            file_name: Some(u.name.clone()),
            env_var: None,
            owner: "root",
            group: "root",
            mode: 0o400,
            length: 32,
            special: false,
        });
        let regex = |o: &Option<String>| o.clone().unwrap_or_else(|| ".*".to_string());
        let permissions = match &u.permissions {
            Some(ps) => ps
                .iter()
                .map(|p| PermissionPlan {
                    vhost: p.vhost.clone(),
                    configure: regex(&p.configure),
                    write: regex(&p.write),
                    read: regex(&p.read),
                })
                .collect(),
            None => vhosts
                .iter()
                .map(|v| PermissionPlan {
                    vhost: v.name.clone(),
                    configure: ".*".into(),
                    write: ".*".into(),
                    read: ".*".into(),
                })
                .collect(),
        };
        let mut tags: Vec<UserTag> = u.tags.clone();
        tags.sort();
        tags.dedup();
        users.push(UserPlan {
            name: u.name.clone(),
            tags: tags
                .iter()
                .map(|t| match t {
                    UserTag::Administrator => "administrator",
                    UserTag::Monitoring => "monitoring",
                    UserTag::Policymaker => "policymaker",
                    UserTag::Management => "management",
                })
                .collect(),
            password_file: format!("{}/{}", paths::USER_SECRETS_DIR, u.name),
            password_secret: id,
            permissions,
        });
    }

    let replicas = replicas(spec);
    let mut definition = serde_json::Map::new();
    let membership_reconciliation;
    match qha.mode {
        QueueHaMode::ClassicMirrored => {
            membership_reconciliation = false;
            match replicas {
                None => {
                    definition.insert("ha-mode".into(), "all".into());
                }
                Some(n) => {
                    definition.insert("ha-mode".into(), "exactly".into());
                    definition.insert("ha-params".into(), n.into());
                }
            }
            let sync = match qha.sync.unwrap_or(SyncMode::Automatic) {
                SyncMode::Automatic => "automatic",
                SyncMode::Manual => "manual",
            };
            definition.insert("ha-sync-mode".into(), sync.into());
        }
        QueueHaMode::Quorum => {
            // Leaders spread over the brokers instead of piling up on the
            // node a client happened to connect to.
            definition.insert("queue-leader-locator".into(), "balanced".into());
            membership_reconciliation = version.has_target_group_size();
            if membership_reconciliation {
                let target = replicas.unwrap_or(brokers.len() as u32);
                definition.insert("target-group-size".into(), target.into());
            }
        }
    }
    definition.sort_keys();

    let partition_handling = version.has_partition_handling().then(|| {
        match r
            .partition_handling
            .unwrap_or(PartitionHandling::PauseMinority)
        {
            PartitionHandling::PauseMinority => "pause_minority",
            PartitionHandling::Autoheal => "autoheal",
            PartitionHandling::Ignore => "ignore",
        }
    });

    RabbitPlan {
        version,
        ports: rabbit_ports(spec),
        heartbeat_s: heartbeat_s(spec),
        partition_handling,
        management: plugins.iter().any(|p| p == "rabbitmq_management"),
        prometheus: plugins.iter().any(|p| p == "rabbitmq_prometheus"),
        plugins,
        vhosts,
        users,
        policy: PolicyPlan {
            mode: qha.mode,
            name: qha.policy_name.clone().unwrap_or_else(|| {
                match qha.mode {
                    QueueHaMode::ClassicMirrored => "ha-all",
                    QueueHaMode::Quorum => "quorum-all",
                }
                .to_string()
            }),
            pattern: qha.pattern.clone().unwrap_or_else(|| "^".to_string()),
            apply_to: "queues",
            priority: 0,
            definition,
            grow_quorum_queues: quorum && replicas.is_none(),
            membership_reconciliation,
        },
        bootstrap_host: brokers.first().map(|b| b.name.clone()).unwrap_or_default(),
    }
}

fn haproxy_plan(spec: &Spec, rabbit: &RabbitPlan, secrets: &mut Vec<Secret>) -> HaProxyPlan {
    let h = spec.haproxy.clone().unwrap_or_default();
    let stats = h.stats.clone().unwrap_or_default();
    let check = h.check.clone().unwrap_or_default();
    let t = h.timeouts.clone().unwrap_or_default();
    let (client_s, server_s) = idle_timeouts_s(spec);
    let interval_ms = check.interval_ms.unwrap_or(defaults::CHECK_INTERVAL_MS);
    secrets.push(Secret {
        id: "haproxy-stats-password".into(),
        tf_name: "haproxy_stats_password".into(),
        source: stats
            .password
            .clone()
            .unwrap_or(SecretSource::TerraformRandom {}),
        purpose: "password of the HAProxy statistics page".into(),
        role: Role::LoadBalancer,
        path: paths::HAPROXY_ENV,
        file_name: None,
        env_var: Some(paths::STATS_PASSWORD_ENV),
        owner: "root",
        group: "root",
        mode: 0o600,
        length: 24,
        special: false,
    });
    HaProxyPlan {
        amqp_port: h.amqp_port.unwrap_or(rabbit.ports.amqp),
        management_port: rabbit
            .management
            .then(|| h.management_port.unwrap_or(rabbit.ports.management)),
        health_port: h.health_port.unwrap_or(defaults::HEALTH_PORT),
        health_uri: "/rmqgen-health",
        stats: StatsPlan {
            port: stats.port.unwrap_or(defaults::STATS_PORT),
            uri: stats
                .uri
                .clone()
                .unwrap_or_else(|| defaults::STATS_URI.to_string()),
            user: stats
                .user
                .clone()
                .unwrap_or_else(|| defaults::STATS_USER.to_string()),
            password_secret: "haproxy-stats-password".into(),
            refresh_s: stats.refresh_s.unwrap_or(defaults::STATS_REFRESH_S),
        },
        balance: match h.balance.unwrap_or(Balance::Leastconn) {
            Balance::Leastconn => "leastconn",
            Balance::Roundrobin => "roundrobin",
            Balance::Source => "source",
        },
        check: CheckPlan {
            interval_ms,
            fast_interval_ms: check
                .fast_interval_ms
                .unwrap_or(defaults::CHECK_FAST_INTERVAL_MS),
            down_interval_ms: check
                .down_interval_ms
                .unwrap_or(defaults::CHECK_DOWN_INTERVAL_MS),
            rise: check.rise.unwrap_or(defaults::CHECK_RISE),
            fall: check.fall.unwrap_or(defaults::CHECK_FALL),
        },
        timeouts: TimeoutsPlan {
            connect_ms: t.connect_ms.unwrap_or(defaults::CONNECT_MS),
            client_s,
            server_s,
            check_ms: t.check_ms.unwrap_or(interval_ms),
        },
        maxconn: h.maxconn.unwrap_or(defaults::MAXCONN),
    }
}

fn keepalived_plan(spec: &Spec, ka: &spec::Keepalived, preempt: bool) -> KeepalivedPlan {
    let advert_int_ms = ka.advert_int_ms.unwrap_or(defaults::ADVERT_INT_MS);
    let interval_ms = ka
        .check_interval_ms
        .unwrap_or(defaults::KA_CHECK_INTERVAL_MS);
    KeepalivedPlan {
        virtual_router_id: virtual_router_id(spec),
        vrrp_version: ka.vrrp_version.unwrap_or(defaults::VRRP_VERSION),
        advert_int_ms,
        advert_int: seconds(advert_int_ms),
        unicast: ka.transport.unwrap_or(VrrpTransport::Unicast) == VrrpTransport::Unicast,
        preempt,
        track_weight: match ka.track.unwrap_or(TrackMode::Fault {}) {
            TrackMode::Fault {} => 0,
            TrackMode::Weight { weight } => weight,
        },
        check_interval: seconds(interval_ms),
        check_interval_ms: interval_ms,
        // The script must finish within its interval; it gives itself less
        // (see check-haproxy.sh), so keepalived never has to kill it.
        check_timeout: seconds(interval_ms),
        check_read_timeout: seconds(interval_ms.saturating_mul(4) / 5),
        check_fall: ka.check_fall.unwrap_or(defaults::KA_CHECK_FALL),
        check_rise: ka.check_rise.unwrap_or(defaults::KA_CHECK_RISE),
        auth_pass: ka.auth_pass.clone(),
        instance: format!("VI_{}", tf_ident(&spec.name).to_ascii_uppercase()),
    }
}

/// Gives every host a MAC address: QEMU's locally administered prefix
/// `52:54:00` and three bytes of SHA-256 over the cluster and host names, so
/// a host keeps its MAC across renders and clusters sharing a bridge do not
/// collide. A clash inside the cluster (one in ~16.7 million per pair) is
/// resolved by hashing again with a counter, in host order.
fn assign_macs(cluster: &str, hosts: &mut [Host]) {
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
    fn versions() {
        assert_eq!(Version::parse("3.10").unwrap(), Version::new(3, 10));
        assert_eq!(Version::parse("3.10.8").unwrap(), Version::new(3, 10));
        assert!(Version::parse("3").is_err());
        assert!(Version::parse("3.x").is_err());
        assert!(Version::parse("3.10.8.1").is_err());
        assert!(Version::new(3, 10) < Version::new(3, 13));
        assert!(!Version::new(4, 0).has_classic_mirroring());
        assert!(!Version::new(4, 3).has_partition_handling());
    }

    #[test]
    fn seconds_are_written_like_keepalived_expects() {
        assert_eq!(seconds(500), "0.5");
        assert_eq!(seconds(1000), "1");
        assert_eq!(seconds(1250), "1.25");
        assert_eq!(seconds(10), "0.01");
    }

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

    #[test]
    fn tf_identifiers() {
        assert_eq!(tf_ident("app.user-1@x"), "app_user_1_x");
    }
}
