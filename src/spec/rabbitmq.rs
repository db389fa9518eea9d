use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{InstallSource, SecretSource};

/// The RabbitMQ brokers: version, replication, users and plugins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RabbitMq {
    /// RabbitMQ `MAJOR.MINOR` series the hosts run, for example `3.10`
    /// (Debian 12), `3.13` or `4.1`. Decides which settings exist: classic
    /// queue mirroring is gone from 4.0, Mnesia partition handling from 4.3.
    pub version: String,
    /// Where `rabbitmq-server` comes from (cloud-init provisioning):
    /// `{"from": "distro"}`, `{"from": "team-rabbitmq"}` or `{"from":
    /// "mirror", ...}`. NixOS hosts ignore it (RabbitMQ comes from
    /// nixpkgs). Default: `distro`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub install: Option<InstallSource>,
    /// Where the shared Erlang cookie comes from. It is installed 0400
    /// `rabbitmq:rabbitmq` on every broker and never written to the bundle.
    /// Default: `{"from": "terraform-random"}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub erlang_cookie: Option<SecretSource>,
    /// How queues are replicated across brokers.
    pub queue_ha: QueueHa,
    /// Virtual hosts to create. Default: `["/"]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vhosts: Option<Vec<String>>,
    /// Users to create. There are no default users: with definitions loaded
    /// at boot RabbitMQ creates no `guest` user. Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<User>,
    /// Plugins to enable. Default: `["rabbitmq_management",
    /// "rabbitmq_prometheus"]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugins: Option<Vec<String>>,
    /// What a broker does when it finds itself in a network partition.
    /// Ignored (and not written) from RabbitMQ 4.3, which no longer uses
    /// Mnesia. Default: `pause_minority`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition_handling: Option<PartitionHandling>,
    /// AMQP heartbeat the brokers offer, in seconds. HAProxy's client and
    /// server timeouts must be longer, or idle connections are cut.
    /// Default: 60.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat_s: Option<u32>,
    /// Ports the brokers listen on. Default: the RabbitMQ defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<RabbitPorts>,
}

impl RabbitMq {
    /// A RabbitMQ `MAJOR.MINOR` series and a replication mode; the policy,
    /// vhosts, plugins, ports and the rest default, and there are no users.
    ///
    /// ```
    /// use rmqgen::spec::{QueueHaMode, RabbitMq, SecretSource, User};
    ///
    /// let mut rabbitmq = RabbitMq::new("3.13", QueueHaMode::Quorum);
    /// rabbitmq.users.push(User::new("app", SecretSource::default()));
    /// assert!(rabbitmq.queue_ha.replicas.is_none());
    /// ```
    pub fn new(version: impl Into<String>, mode: QueueHaMode) -> Self {
        Self {
            version: version.into(),
            install: None,
            erlang_cookie: None,
            queue_ha: QueueHa::new(mode),
            vhosts: None,
            users: Vec::new(),
            plugins: None,
            partition_handling: None,
            heartbeat_s: None,
            ports: None,
        }
    }
}

impl QueueHa {
    /// A replication policy of this mode with the default name, pattern,
    /// replica count and synchronisation.
    pub fn new(mode: QueueHaMode) -> Self {
        Self {
            mode,
            policy_name: None,
            pattern: None,
            replicas: None,
            sync: None,
        }
    }
}

impl User {
    /// A user with no tags and full permissions on every vhost.
    pub fn new(name: impl Into<String>, password: SecretSource) -> Self {
        Self {
            name: name.into(),
            password,
            tags: Vec::new(),
            permissions: None,
        }
    }
}

impl Permission {
    /// Full permissions (`.*`) on one vhost.
    pub fn new(vhost: impl Into<String>) -> Self {
        Self {
            vhost: vhost.into(),
            configure: None,
            write: None,
            read: None,
        }
    }
}

/// Broker listener ports.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RabbitPorts {
    /// AMQP 0-9-1 listener. Default: 5672.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amqp: Option<u32>,
    /// Management UI / HTTP API (with the `rabbitmq_management` plugin).
    /// Default: 15672.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub management: Option<u32>,
    /// Prometheus metrics (with the `rabbitmq_prometheus` plugin).
    /// Default: 15692.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<u32>,
    /// Erlang distribution (inter-node) port, pinned so firewalls can allow
    /// it. Default: 25672.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distribution: Option<u32>,
}

/// The queue replication policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QueueHa {
    /// `quorum` (Raft-replicated quorum queues, the only choice from 4.0) or
    /// `classic-mirrored` (the `ha-mode` policy, deprecated since 3.9 and
    /// removed in 4.0).
    pub mode: QueueHaMode,
    /// Name of the policy. Default: `ha-all` for classic mirroring,
    /// `quorum-all` for quorum queues.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_name: Option<String>,
    /// Regular expression of the queue names the policy applies to.
    /// Default: `^` (every queue).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// On how many brokers each queue has a replica: `"all"` or a count.
    /// Default: `"all"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<Replicas>,
    /// Classic mirroring only: whether a new mirror is synchronised
    /// automatically (`automatic`, the safe choice) or by hand. Default:
    /// `automatic`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync: Option<SyncMode>,
}

/// Queue replication mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum QueueHaMode {
    /// Quorum queues: the vhosts' default queue type is `quorum`.
    Quorum,
    /// Classic queue mirroring through an `ha-mode` policy (RabbitMQ < 4.0).
    ClassicMirrored,
}

/// Replica count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Replicas {
    /// `"all"`: one replica on every broker.
    All(AllReplicas),
    /// This many replicas (leader included).
    Count(u32),
}

/// The literal string `"all"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AllReplicas {
    /// Every broker.
    All,
}

/// Classic mirror synchronisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SyncMode {
    /// New mirrors synchronise at once (`ha-sync-mode: automatic`).
    Automatic,
    /// New mirrors stay unsynchronised until an operator syncs them.
    Manual,
}

/// `cluster_partition_handling`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PartitionHandling {
    /// Brokers in a minority pause: safe for 3 or more brokers.
    PauseMinority,
    /// After a partition heals, the losing side restarts and loses its
    /// changes.
    Autoheal,
    /// Do nothing: data diverges. Only for two-node or test clusters.
    Ignore,
}

/// A RabbitMQ user. Its password comes from a secret source, never inline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// User name: letters, digits, `.`, `_`, `-`, `@`. `guest` is refused.
    pub name: String,
    /// Where the password comes from.
    pub password: SecretSource,
    /// Management tags. Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<UserTag>,
    /// Permissions per vhost. Default: full permissions on every vhost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Vec<Permission>>,
}

/// A RabbitMQ user tag.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum UserTag {
    /// Full management access.
    Administrator,
    /// Monitoring access to the management UI.
    Monitoring,
    /// Policy management.
    Policymaker,
    /// Management UI access to own vhosts.
    Management,
}

/// Permissions of one user on one vhost (regular expressions).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Permission {
    /// The vhost; must be listed in `rabbitmq.vhosts`.
    pub vhost: String,
    /// Resources the user may configure. Default: `.*`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configure: Option<String>,
    /// Resources the user may write to. Default: `.*`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write: Option<String>,
    /// Resources the user may read from. Default: `.*`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read: Option<String>,
}

// By hand, so a wrong value says what is expected instead of serde's
// "data did not match any variant of untagged enum".
impl<'de> Deserialize<'de> for Replicas {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Replicas;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("\"all\" or a whole number of replicas")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Replicas, E> {
                match v {
                    "all" => Ok(Replicas::All(AllReplicas::All)),
                    _ => Err(E::invalid_value(serde::de::Unexpected::Str(v), &self)),
                }
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Replicas, E> {
                u32::try_from(v)
                    .map(Replicas::Count)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Unsigned(v), &self))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Replicas, E> {
                Err(E::invalid_value(serde::de::Unexpected::Signed(v), &self))
            }
        }
        d.deserialize_any(V)
    }
}
