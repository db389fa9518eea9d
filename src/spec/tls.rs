use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// TLS on the cluster's links: one switch for every link, an override per
/// link, and where the certificates and keys come from. Keys are given by
/// reference only, never inline.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    /// TLS on every link (AMQP, management, Prometheus, the HAProxy
    /// statistics page and Erlang distribution), unless a link's own field
    /// says otherwise. Default: false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// AMQPS: the brokers listen on 5671 (TLS only) and HAProxy forwards
    /// it on the VIP. Default: `enabled`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amqp: Option<bool>,
    /// The management UI and HTTP API over HTTPS only (15671). Default:
    /// `enabled`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub management: Option<bool>,
    /// Prometheus metrics over HTTPS only (15691). Default: `enabled`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<bool>,
    /// The HAProxy statistics page over HTTPS. Default: `enabled`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<bool>,
    /// Erlang distribution (inter-node traffic and the CLI tools) over TLS,
    /// with mutual certificate verification. Default: `enabled`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inter_node: Option<bool>,
    /// What HAProxy does with AMQPS on the VIP: `passthrough` (TCP, the
    /// brokers' certificates reach the clients) or `terminate` (HAProxy
    /// presents the load balancers' certificate and re-encrypts to the
    /// brokers, verifying them). Default: `passthrough`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub haproxy_mode: Option<TlsMode>,
    /// The CA bundle (PEM) every certificate is verified against. Required
    /// when any link uses TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<TlsSource>,
    /// Each broker's certificate and key. Default:
    /// `{"from": "file", "path": "tls/{host}.crt"}` and `tls/{host}.key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brokers: Option<TlsPair>,
    /// Each load balancer's certificate and key (the statistics page, and
    /// AMQPS on the VIP in `terminate` mode). Default: as for brokers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_balancers: Option<TlsPair>,
}

/// A certificate and its private key. In a `path` or `name`, `{host}`
/// stands for the host's name (one certificate per host).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TlsPair {
    /// The certificate (PEM; its chain may follow it in the same file).
    pub certificate: TlsSource,
    /// The private key (PEM, unencrypted).
    pub key: TlsSource,
}

/// Where a certificate or key comes from: never inline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "from", rename_all = "kebab-case", deny_unknown_fields)]
pub enum TlsSource {
    /// Read by Terraform from a file on the machine that runs it, and
    /// installed on the hosts by cloud-init.
    File {
        /// Path, relative to the Terraform root module or absolute.
        path: String,
    },
    /// A `sensitive` Terraform input variable holding the PEM text.
    Variable {
        /// Name of the Terraform variable.
        name: String,
    },
    /// A file that already exists on every host (an existing PKI, e.g.
    /// `/etc/pki/tls/private/rabbitmq.key`): referred to, never delivered.
    Host {
        /// Absolute path on the host; the same on every host of the role.
        path: String,
    },
}

/// How HAProxy handles AMQPS on the VIP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// TCP passthrough: clients talk TLS with the brokers.
    Passthrough,
    /// HAProxy terminates TLS and re-encrypts to the brokers.
    Terminate,
}
