use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::SecretSource;

/// HAProxy on the load balancers (TCP mode in front of the brokers).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HaProxy {
    /// Port clients use for AMQP on the VIP. Default: the brokers' AMQP port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amqp_port: Option<u32>,
    /// Port of the management UI on the VIP (only with the
    /// `rabbitmq_management` plugin). Default: the brokers' management port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub management_port: Option<u32>,
    /// Local port (on 127.0.0.1) where HAProxy answers the keepalived health
    /// check: 200 while at least one broker is up. Default: 8405.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_port: Option<u32>,
    /// The password-protected statistics page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<Stats>,
    /// How connections are spread over brokers. Default: `leastconn` (AMQP
    /// connections are long-lived).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balance: Option<Balance>,
    /// Broker health checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<HealthCheck>,
    /// Connection timeouts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeouts: Option<Timeouts>,
    /// Maximum concurrent connections per load balancer. Default: 10000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maxconn: Option<u32>,
}

/// The statistics page, bound to each load balancer's own address.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Stats {
    /// Port. Default: 8100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u32>,
    /// URI path. Default: `/rabbitmq-stats`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// Login name. Default: `admin`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Where the password comes from. Default: `{"from": "terraform-random"}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<SecretSource>,
    /// Page auto-refresh in seconds. Default: 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_s: Option<u32>,
}

/// Load-balancing algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Balance {
    /// Broker with the fewest connections.
    Leastconn,
    /// Each broker in turn.
    Roundrobin,
    /// Hash of the client address (sticky).
    Source,
}

/// HAProxy's active health check of each broker's AMQP port.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HealthCheck {
    /// Interval between checks of a healthy broker, ms. Default: 1000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_ms: Option<u32>,
    /// Interval while a broker is changing state, ms. Default: 500.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fast_interval_ms: Option<u32>,
    /// Interval while a broker is down, ms. Default: 500.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub down_interval_ms: Option<u32>,
    /// Consecutive successes that bring a broker back. Default: 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rise: Option<u32>,
    /// Consecutive failures that take a broker out. Default: 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fall: Option<u32>,
}

/// HAProxy timeouts.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Timeouts {
    /// Time to establish a TCP connection to a broker, ms. Default: 5000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_ms: Option<u32>,
    /// Client-side inactivity timeout, s. Must exceed
    /// `rabbitmq.heartbeat_s`. Default: 3 × heartbeat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_s: Option<u32>,
    /// Server-side inactivity timeout, s. Must exceed
    /// `rabbitmq.heartbeat_s`. Default: 3 × heartbeat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_s: Option<u32>,
    /// Health-check timeout, ms. Default: the check interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_ms: Option<u32>,
}
