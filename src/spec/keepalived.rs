use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::SecretSource;

/// keepalived (VRRP) holding the VIP on one healthy load balancer.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Keepalived {
    /// VRRP virtual router id, 1..=255, unique on the L2 segment. Default:
    /// derived from the cluster name (stable, 1..=255).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtual_router_id: Option<u32>,
    /// VRRP protocol version, 2 or 3. Version 3 allows sub-second adverts.
    /// Default: 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vrrp_version: Option<u32>,
    /// Advertisement interval in milliseconds; the backup takes over about
    /// 3 intervals after the master falls silent. Version 2 needs whole
    /// seconds. Default: 500.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advert_int_ms: Option<u32>,
    /// `unicast` (works everywhere) or `multicast` (needs L2 multicast).
    /// Default: `unicast`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport: Option<VrrpTransport>,
    /// Whether a recovered higher-priority load balancer takes the VIP back.
    /// Taking it back is a second, avoidable client outage. Default: false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preempt: Option<bool>,
    /// What a failed HAProxy health check does. Default: `fault`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub track: Option<TrackMode>,
    /// Health check interval, ms. Sub-second values need keepalived 2.3.2 or
    /// later (`debian-13`, `debian-sid`); elsewhere, and with NixOS, whole
    /// seconds. Default: 500 where keepalived takes fractions, else 1000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_interval_ms: Option<u32>,
    /// Failures before the check counts as failed. Default: 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_fall: Option<u32>,
    /// Successes before the check counts as passed again. Default: 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_rise: Option<u32>,
    /// VRRPv2 authentication (`auth_type PASS`): where the password comes
    /// from, like every other secret (never inline). keepalived uses at most
    /// 8 characters and sends them in clear text in every advert, so this
    /// keeps a misconfigured neighbour out, not an attacker on the segment:
    /// unicast adverts with `check_unicast_src` (the default transport) are
    /// the protection. VRRPv3 has no authentication in keepalived: refused
    /// there. `{"from": "terraform-random"}` generates 8 letters and digits.
    /// Default: none (VRRPv2 without it warns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_pass: Option<SecretSource>,
}

/// VRRP transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum VrrpTransport {
    /// Adverts sent to each peer's address.
    Unicast,
    /// Adverts sent to 224.0.0.18.
    Multicast,
}

/// Initial VRRP state of a load balancer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum VrrpState {
    /// Claims the VIP at start.
    #[serde(rename = "MASTER")]
    Master,
    /// Waits for adverts first.
    #[serde(rename = "BACKUP")]
    Backup,
}

/// What a failed HAProxy health check does to the VRRP instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "mode", rename_all = "lowercase", deny_unknown_fields)]
pub enum TrackMode {
    /// The instance enters FAULT and releases the VIP at once (fastest).
    // A struct variant so that unknown fields beside the tag are rejected.
    Fault {},
    /// The priority drops by `weight` (negative); the highest priority plus
    /// `weight` must be below every other load balancer's priority.
    Weight {
        /// Priority change on failure, -254..=-1.
        weight: i32,
    },
}
