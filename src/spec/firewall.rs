use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Who may reach what: the source ranges of the host firewall rmqgen
/// installs on every host (nftables, the same ruleset on the cloud-init and
/// NixOS paths). Brokers always accept Erlang distribution from each other
/// and AMQP/management from the load balancers; everything not listed
/// here is dropped and counted.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Firewall {
    /// IPv4 subnets (CIDR) of the AMQP clients: they reach AMQP on the VIP.
    /// Default: `network.cidr`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cidrs: Option<Vec<String>>,
    /// IPv4 subnets (CIDR) of the operators: SSH on every host, management
    /// on the VIP and on the brokers, AMQP on the brokers, the HAProxy
    /// statistics page. Default: `network.cidr`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_cidrs: Option<Vec<String>>,
    /// IPv4 subnets (CIDR) of the Prometheus servers: the brokers'
    /// Prometheus endpoint (unauthenticated). Default: `network.cidr`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitoring_cidrs: Option<Vec<String>>,
}
