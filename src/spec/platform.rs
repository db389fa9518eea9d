use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The image family every VM boots (cloud-init provisioning). Decides what
/// the distribution's own packages give: RabbitMQ, Erlang, HAProxy and
/// keepalived versions.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
pub enum OsRelease {
    /// Debian 12 bookworm: RabbitMQ 3.10, Erlang 25, HAProxy 2.6,
    /// keepalived 2.2.
    #[serde(rename = "debian-12")]
    Debian12,
    /// Debian 13 trixie: RabbitMQ 4.0, Erlang 27, HAProxy 3.0,
    /// keepalived 2.3.
    #[serde(rename = "debian-13")]
    Debian13,
    /// Debian unstable (sid): RabbitMQ 4.3, Erlang 29, HAProxy 3.2,
    /// keepalived 2.3. A moving target, for trying the newest series: the
    /// lab proves it, production clusters want a stable release.
    #[serde(rename = "debian-sid")]
    DebianSid,
    /// Ubuntu 22.04 jammy: RabbitMQ 3.9 (too old; use `team-rabbitmq`),
    /// Erlang 24, HAProxy 2.4, keepalived 2.2.
    #[serde(rename = "ubuntu-22.04")]
    Ubuntu2204,
    /// Ubuntu 24.04 noble: RabbitMQ 3.12, Erlang 25, HAProxy 2.8,
    /// keepalived 2.2.
    #[serde(rename = "ubuntu-24.04")]
    Ubuntu2404,
}

/// Where the brokers' `rabbitmq-server` (and its Erlang) comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "from", rename_all = "kebab-case", deny_unknown_fields)]
pub enum InstallSource {
    /// The distribution's own package: only where its series is
    /// `rabbitmq.version` (Debian 12: 3.10, Debian 13: 4.0, Ubuntu 24.04:
    /// 3.12).
    // Struct variants, not unit ones: serde ignores unknown fields next to
    // the tag of a unit variant, and a typo must be an error.
    Distro {},
    /// Team RabbitMQ's apt repositories (deb1/deb2.rabbitmq.com) for
    /// `rabbitmq-server` and, except on Debian 13, a matching Erlang; signed
    /// by Team RabbitMQ's key (shipped with rmqgen), pinned to the series
    /// and held, so no unattended upgrade moves it to another minor.
    TeamRabbitmq {},
    /// An internal apt repository that carries `rabbitmq-server` of the
    /// series (and an Erlang it supports); pinned and held like
    /// `team-rabbitmq`.
    Mirror {
        /// Base URL of the repository, e.g.
        /// `http://apt.example.internal/rabbitmq`.
        url: String,
        /// Absolute path of the repository's signing keyring on the hosts
        /// (the image provides it), e.g.
        /// `/usr/share/keyrings/example-archive.gpg`.
        keyring: String,
        /// Suite (distribution) to use. Default: the release's code name
        /// (`bookworm`, `trixie`, `jammy`, `noble`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        suite: Option<String>,
        /// Component. Default: `main`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        component: Option<String>,
    },
}

/// apt settings of every host.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Apt {
    /// HTTP proxy apt uses for every repository, e.g.
    /// `http://10.0.0.1:3142` (apt-cacher-ng), for hosts without direct
    /// access to the mirrors. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<String>,
}
