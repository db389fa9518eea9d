//! The host firewall's source ranges: who may reach what.

use serde::Serialize;

use super::{Located, Parser};
use crate::net::Ipv4Net;
use crate::spec::Spec;

/// A list of source ranges, located at the spec's list (the default, the
/// subnet, at the list's pointer too, not written).
pub type Sources = Located<Vec<Located<Ipv4Net>>>;

/// The firewall's source ranges, each list defaulted to the subnet.
#[derive(Debug, Clone, Serialize)]
pub struct FirewallPlan {
    /// AMQP clients: AMQP on the VIP.
    pub client: Sources,
    /// Operators: SSH, management, the brokers' AMQP, the stats page.
    pub admin: Sources,
    /// Prometheus servers: the brokers' Prometheus endpoint.
    pub monitoring: Sources,
}

/// Each list as written (every entry parsed once; one that does not parse
/// is reported and left out, never widened) or the subnet.
pub(super) fn resolve(spec: &Spec, subnet: &Located<Ipv4Net>, parse: &mut Parser) -> FirewallPlan {
    let f = spec.firewall.clone().unwrap_or_default();
    let mut list = |name: &str, written: Option<Vec<String>>| -> Sources {
        let at = format!("/firewall/{name}");
        let parsed = written.map(|texts| {
            texts
                .iter()
                .enumerate()
                .filter_map(|(i, t)| parse.source_range(format!("{at}/{i}"), t))
                .collect()
        });
        let default = vec![Located::fixed(at.clone(), **subnet)];
        Located::field(at, parsed, default)
    };
    FirewallPlan {
        client: list("client_cidrs", f.client_cidrs),
        admin: list("admin_cidrs", f.admin_cidrs),
        monitoring: list("monitoring_cidrs", f.monitoring_cidrs),
    }
}
