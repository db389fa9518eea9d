//! RabbitMQ: version, ports, plugins, vhosts, users and the queue-HA policy.

use std::collections::BTreeSet;
use std::fmt;

use serde::Serialize;

use super::platform::Feature;
use super::secrets::{user_password_tf_name, Secret};
use super::{defaults, paths, Broker, Located, Role, TlsPlan};
use crate::spec::{PartitionHandling, QueueHaMode, Replicas, Spec, SyncMode, UserTag};

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
        Feature::ClassicMirroring.in_series(self)
    }

    /// Per-vhost default queue type exists (3.10.8; the whole series from
    /// 3.11).
    pub fn has_default_queue_type(self) -> bool {
        Feature::VhostDefaultQueueType.in_series(self)
    }

    /// Quorum membership reconciliation with `target-group-size` (3.13).
    pub fn has_target_group_size(self) -> bool {
        Feature::MembershipReconciliation.in_series(self)
    }

    /// `cluster_partition_handling` takes effect: Mnesia is the metadata
    /// store (new 4.2 clusters use Khepri; 4.3 removed Mnesia).
    pub fn has_partition_handling(self) -> bool {
        Feature::PartitionHandling.in_series(self)
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

/// RabbitMQ settings.
#[derive(Debug, Clone, Serialize)]
pub struct RabbitPlan {
    /// Version series.
    pub version: Located<Version>,
    /// Ports.
    pub ports: RabbitPortsPlan,
    /// Heartbeat, s.
    pub heartbeat_s: u32,
    /// `cluster_partition_handling`, when the version has it.
    pub partition_handling: Option<PartitionHandling>,
    /// `cluster_formation.discovery_retry_limit` and `_interval` (ms),
    /// where the series' lock holder retries joining (see
    /// `Feature::LockedJoinRetries`).
    pub discovery_retry: Option<(u32, u32)>,
    /// Plugins, sorted.
    pub plugins: Vec<Located<String>>,
    /// Management plugin enabled.
    pub management: bool,
    /// Prometheus plugin enabled.
    pub prometheus: bool,
    /// Prometheus over HTTPS only, and the series needs
    /// `prometheus.tcp.listener = none` to keep its plain listener shut.
    pub prometheus_tcp_none: bool,
    /// Vhosts, in spec order.
    pub vhosts: Vec<Vhost>,
    /// Users.
    pub users: Vec<UserPlan>,
    /// The replication policy.
    pub policy: PolicyPlan,
    /// Where the Erlang cookie is installed on the brokers (the
    /// `erlang-cookie` secret's path).
    pub cookie_path: String,
}

/// Broker ports, each with the spec field it comes from. Each is the one
/// port its link listens on: with the link over TLS (`plan.tls`) it is the
/// TLS listener (default 5671, 15671, 15691) and there is no plain one.
#[derive(Debug, Clone, Serialize)]
pub struct RabbitPortsPlan {
    /// AMQP (AMQPS when `tls.amqp`).
    pub amqp: Located<u32>,
    /// Management (HTTPS when `tls.management`).
    pub management: Located<u32>,
    /// Prometheus (HTTPS when `tls.prometheus`).
    pub prometheus: Located<u32>,
    /// Distribution.
    pub distribution: Located<u32>,
    /// epmd (fixed by Erlang; reported at `/rabbitmq/ports`).
    pub epmd: Located<u32>,
}

/// A vhost.
#[derive(Debug, Clone, Serialize)]
pub struct Vhost {
    /// Name.
    pub name: Located<String>,
    /// Default queue type, when set.
    pub default_queue_type: Option<QueueType>,
}

/// A queue type keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum QueueType {
    /// `quorum`.
    Quorum,
}

crate::spec::keyword_display!(QueueType, ApplyTo);

/// What a policy applies to (`apply-to`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ApplyTo {
    /// `queues`.
    Queues,
}

/// A user.
#[derive(Debug, Clone, Serialize)]
pub struct UserPlan {
    /// Name.
    pub name: Located<String>,
    /// Tags, sorted and deduplicated.
    pub tags: Vec<UserTag>,
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
    pub vhost: Located<String>,
    /// Configure regex.
    pub configure: Located<String>,
    /// Write regex.
    pub write: Located<String>,
    /// Read regex.
    pub read: Located<String>,
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
    pub apply_to: ApplyTo,
    /// Replica count; `None` for every broker.
    pub replicas: Option<u32>,
    /// Priority.
    pub priority: u32,
    /// The policy definition, as RabbitMQ wants it (sorted keys).
    pub definition: serde_json::Map<String, serde_json::Value>,
    /// Quorum queues: grow every queue onto every broker after formation.
    pub grow_quorum_queues: bool,
    /// Enable quorum membership reconciliation in rabbitmq.conf.
    pub membership_reconciliation: bool,
}

/// The AMQP heartbeat.
fn heartbeat_s(spec: &Spec) -> u32 {
    spec.rabbitmq.heartbeat_s.unwrap_or(defaults::HEARTBEAT_S)
}

/// The broker ports, defaults filled. A link over TLS listens only with
/// TLS, on the TLS port by default (5671, 15671, 15691): each port is the
/// one port its link is served on, whatever `tls` says.
fn rabbit_ports(spec: &Spec, tls: &TlsPlan) -> RabbitPortsPlan {
    let p = spec.rabbitmq.ports.clone().unwrap_or_default();
    let at = "/rabbitmq/ports";
    let pick = |on: bool, tls_port: u32, plain: u32| if on { tls_port } else { plain };
    RabbitPortsPlan {
        amqp: Located::field(
            format!("{at}/amqp"),
            p.amqp,
            pick(tls.amqp, defaults::AMQPS_PORT, defaults::AMQP_PORT),
        ),
        management: Located::field(
            format!("{at}/management"),
            p.management,
            pick(
                tls.management,
                defaults::MANAGEMENT_TLS_PORT,
                defaults::MANAGEMENT_PORT,
            ),
        ),
        prometheus: Located::field(
            format!("{at}/prometheus"),
            p.prometheus,
            pick(
                tls.prometheus,
                defaults::PROMETHEUS_TLS_PORT,
                defaults::PROMETHEUS_PORT,
            ),
        ),
        distribution: Located::field(
            format!("{at}/distribution"),
            p.distribution,
            defaults::DISTRIBUTION_PORT,
        ),
        epmd: Located::fixed(at, defaults::EPMD_PORT),
    }
}

/// Plugins, sorted and deduplicated; each located at its first entry in
/// the spec's list (the default list at `/rabbitmq/plugins`).
fn plugins(spec: &Spec) -> Vec<Located<String>> {
    let mut set = BTreeSet::new();
    match &spec.rabbitmq.plugins {
        // `insert` keeps the value already there (collecting into a set
        // would keep the last of equal ones).
        Some(p) => {
            for (i, name) in p.iter().enumerate() {
                set.insert(Located::given(
                    format!("/rabbitmq/plugins/{i}"),
                    name.clone(),
                ));
            }
        }
        None => {
            for name in defaults::PLUGINS {
                set.insert(Located::fixed("/rabbitmq/plugins", name.to_string()));
            }
        }
    }
    set.into_iter().collect()
}

/// Vhost names, defaults filled.
fn vhost_names(spec: &Spec) -> Vec<Located<String>> {
    match &spec.rabbitmq.vhosts {
        Some(names) => names
            .iter()
            .enumerate()
            .map(|(i, name)| Located::given(format!("/rabbitmq/vhosts/{i}"), name.clone()))
            .collect(),
        None => vec![Located::fixed("/rabbitmq/vhosts", "/".to_string())],
    }
}

/// Replica count: `None` for all brokers.
fn replicas(spec: &Spec) -> Option<u32> {
    match spec.rabbitmq.queue_ha.replicas {
        None | Some(Replicas::All(_)) => None,
        Some(Replicas::Count(n)) => Some(n),
    }
}

pub(super) fn rabbit_plan(
    spec: &Spec,
    version: Located<Version>,
    brokers: &[Broker],
    cookie: Secret,
    tls: &TlsPlan,
    secrets: &mut Vec<Secret>,
) -> RabbitPlan {
    let cookie_path = cookie.install_path();
    secrets.push(cookie);
    let r = &spec.rabbitmq;
    let plugins = plugins(spec);
    let qha = &r.queue_ha;
    let quorum = qha.mode == QueueHaMode::Quorum;
    let vhosts = vhost_names(spec)
        .into_iter()
        .map(|name| Vhost {
            name,
            default_queue_type: (quorum && version.has_default_queue_type())
                .then_some(QueueType::Quorum),
        })
        .collect::<Vec<_>>();
    let mut users = Vec::new();
    for (i, u) in r.users.iter().enumerate() {
        let id = format!("rabbitmq-user-{}", u.name);
        secrets.push(Secret {
            tf_name: user_password_tf_name(&u.name),
            id: id.clone(),
            source: Located::given(format!("/rabbitmq/users/{i}/password"), u.password.clone()),
            purpose: format!("password of RabbitMQ user {}", u.name),
            role: Role::Broker,
            host: None,
            path: paths::USER_SECRETS_DIR,
            file_name: Some(u.name.clone()),
            env_var: None,
            owner: "root",
            group: "root",
            mode: 0o400,
            length: 32,
            special: false,
        });
        let at = format!("/rabbitmq/users/{i}/permissions");
        let permissions = match &u.permissions {
            Some(ps) => ps
                .iter()
                .enumerate()
                .map(|(j, p)| {
                    let regex = |key: &str, o: &Option<String>| {
                        Located::field(format!("{at}/{j}/{key}"), o.clone(), ".*".to_string())
                    };
                    PermissionPlan {
                        vhost: Located::given(format!("{at}/{j}/vhost"), p.vhost.clone()),
                        configure: regex("configure", &p.configure),
                        write: regex("write", &p.write),
                        read: regex("read", &p.read),
                    }
                })
                .collect(),
            // Every vhost, with every right.
            None => vhosts
                .iter()
                .map(|v| {
                    let all = || Located::fixed(at.as_str(), ".*".to_string());
                    PermissionPlan {
                        vhost: Located::fixed(at.as_str(), v.name.to_string()),
                        configure: all(),
                        write: all(),
                        read: all(),
                    }
                })
                .collect(),
        };
        let mut tags: Vec<UserTag> = u.tags.clone();
        tags.sort();
        tags.dedup();
        users.push(UserPlan {
            name: Located::given(format!("/rabbitmq/users/{i}/name"), u.name.clone()),
            tags,
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
            let sync = qha.sync.unwrap_or(SyncMode::Automatic);
            definition.insert("ha-sync-mode".into(), sync.to_string().into());
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
        r.partition_handling
            .unwrap_or(PartitionHandling::PauseMinority)
    });

    let prometheus_tcp_none =
        tls.prometheus && Feature::PrometheusTcpListenerNone.in_series(*version);
    RabbitPlan {
        cookie_path,
        discovery_retry: Feature::LockedJoinRetries
            .in_series(*version)
            .then_some(defaults::DISCOVERY_RETRY),
        version,
        ports: rabbit_ports(spec, tls),
        heartbeat_s: heartbeat_s(spec),
        partition_handling,
        management: plugins.iter().any(|p| p.as_str() == "rabbitmq_management"),
        prometheus: plugins.iter().any(|p| p.as_str() == "rabbitmq_prometheus"),
        prometheus_tcp_none,
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
            apply_to: ApplyTo::Queues,
            replicas,
            priority: 0,
            definition,
            grow_quorum_queues: quorum && replicas.is_none(),
            membership_reconciliation,
        },
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
        assert!(!Version::new(4, 2).has_partition_handling());
    }

    #[test]
    fn a_plugin_listed_twice_is_located_at_its_first_entry() {
        let mut spec: Spec =
            serde_json::from_str(&crate::reference_spec()).expect("reference spec is JSON");
        spec.rabbitmq.plugins = Some(
            ["rabbitmq_x", "rabbitmq_a", "rabbitmq_x", "rabbitmq_a"]
                .map(String::from)
                .to_vec(),
        );
        let plugins = plugins(&spec);
        let found: Vec<(&str, &str)> = plugins.iter().map(|p| (p.as_str(), p.pointer())).collect();
        assert_eq!(
            found,
            [
                ("rabbitmq_a", "/rabbitmq/plugins/1"),
                ("rabbitmq_x", "/rabbitmq/plugins/0")
            ]
        );
    }
}
