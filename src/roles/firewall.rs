//! The host firewall: one nftables ruleset per host, from the plan's
//! addresses, ports and source ranges. Both delivery paths install this
//! text (cloud-init as `/etc/nftables.conf`, NixOS as
//! `networking.nftables.ruleset`).

use std::net::Ipv4Addr;

use serde::Serialize;

use super::RoleFile;
use crate::error::Error;
use crate::plan::{defaults, paths, Balancer, Broker, Host, Plan, Role, Sources};
use crate::render::render_template;

/// The named counter of what the input chain drops.
const DROP_COUNTER: &str = "dropped";

/// A named set of source addresses.
#[derive(Serialize)]
struct Set {
    name: &'static str,
    comment: String,
    /// Holds subnets (`flags interval`), not single addresses.
    interval: bool,
    elements: Vec<String>,
}

impl Set {
    fn addresses(
        name: &'static str,
        comment: &str,
        addresses: impl Iterator<Item = Ipv4Addr>,
    ) -> Self {
        Self {
            name,
            comment: comment.into(),
            interval: false,
            elements: addresses.map(|a| a.to_string()).collect(),
        }
    }

    fn ranges(name: &'static str, comment: &str, sources: &Sources) -> Self {
        Self {
            name,
            comment: format!("{comment} ({})", sources.pointer()),
            interval: true,
            elements: sources.iter().map(ToString::to_string).collect(),
        }
    }
}

#[derive(Serialize)]
struct Ctx<'a> {
    plan: &'a Plan,
    host: &'a Host,
    role: &'static str,
    broker: bool,
    sets: Vec<Set>,
    counter: &'static str,
    ssh_port: u32,
    cli_ports: String,
    broker_ports: Vec<u32>,
}

/// The ruleset of a broker.
pub(super) fn broker(plan: &Plan, broker: &Broker) -> Result<RoleFile, Error> {
    let f = &plan.firewall;
    let mut sets = vec![
        Set::addresses(
            "brokers",
            "the brokers: Erlang distribution",
            plan.brokers.iter().map(|b| *b.address),
        ),
        Set::addresses(
            "load_balancers",
            "the load balancers: HAProxy's connections and checks",
            plan.load_balancers.iter().map(|l| *l.address),
        ),
        Set::ranges("admin", ADMIN, &f.admin),
    ];
    if plan.rabbitmq.prometheus {
        sets.push(Set::ranges(
            "monitoring",
            "Prometheus servers",
            &f.monitoring,
        ));
    }
    ruleset(plan, &broker.host, "broker", sets)
}

/// The ruleset of a load balancer.
pub(super) fn load_balancer(plan: &Plan, lb: &Balancer) -> Result<RoleFile, Error> {
    let f = &plan.firewall;
    let sets = vec![
        Set::addresses(
            "vrrp_peers",
            "the other load balancers: VRRP",
            lb.peers.iter().copied(),
        ),
        Set::ranges("clients", "AMQP clients", &f.client),
        Set::ranges("admin", ADMIN, &f.admin),
    ];
    ruleset(plan, &lb.host, "load balancer", sets)
}

const ADMIN: &str = "operators: SSH, management, statistics";

fn ruleset(
    plan: &Plan,
    host: &Host,
    role: &'static str,
    sets: Vec<Set>,
) -> Result<RoleFile, Error> {
    let r = &plan.rabbitmq;
    let mut broker_ports = vec![*r.ports.amqp];
    if r.management {
        broker_ports.push(*r.ports.management);
    }
    let (cli_min, cli_max) = defaults::CLI_DISTRIBUTION_PORTS;
    let text = render_template(
        "nftables.conf",
        Ctx {
            plan,
            host,
            role,
            broker: host.role == Role::Broker,
            sets,
            counter: DROP_COUNTER,
            ssh_port: defaults::SSH_PORT,
            cli_ports: format!("{cli_min}-{cli_max}"),
            broker_ports,
        },
    )?;
    Ok(RoleFile::root(
        format!("firewall/{}/nftables.conf", host.name),
        paths::NFTABLES_CONF,
        vec![host.name.to_string()],
        0o644,
        text,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(edit: impl FnOnce(&mut serde_json::Value)) -> Plan {
        let mut v: serde_json::Value =
            serde_json::from_str(&crate::reference_spec()).expect("reference spec is JSON");
        edit(&mut v);
        let spec = crate::parse(&v.to_string()).expect("the edited spec parses");
        crate::plan::resolve(&spec).plan
    }

    #[test]
    fn ports_and_sources_come_from_the_plan() {
        let p = plan(|v| {
            v["rabbitmq"]["ports"] = serde_json::json!({
                "amqp": 5673, "management": 15673, "prometheus": 15693, "distribution": 25673
            });
            v["haproxy"] = serde_json::json!({"amqp_port": 5680, "stats": {"port": 8101}});
            v["firewall"] = serde_json::json!({
                "client_cidrs": ["10.1.0.0/16"],
                "admin_cidrs": ["10.2.0.5/32"],
                "monitoring_cidrs": ["10.3.0.0/24"]
            });
        });
        let b = broker(&p, &p.brokers[0]).expect("renders").contents;
        assert!(
            b.contains("tcp dport { 4369, 25673, 35672-35682 } ip saddr @brokers accept"),
            "{b}"
        );
        assert!(
            b.contains("tcp dport { 5673, 15673 } ip saddr @load_balancers accept"),
            "{b}"
        );
        assert!(
            b.contains("tcp dport { 5673, 15673 } ip saddr @admin accept"),
            "{b}"
        );
        assert!(
            b.contains("tcp dport 15693 ip saddr @monitoring accept"),
            "{b}"
        );
        assert!(b.contains("elements = { 10.2.0.5/32 }"), "{b}");
        assert!(b.contains("elements = { 10.3.0.0/24 }"), "{b}");
        assert!(
            !b.contains("10.1.0.0/16"),
            "clients reach only the VIP: {b}"
        );
        let lb = &p.load_balancers[0];
        let l = load_balancer(&p, lb).expect("renders").contents;
        let vip = p.vip.to_string();
        assert!(
            l.contains(&format!(
                "ip daddr {vip} tcp dport 5680 ip saddr @clients accept"
            )),
            "{l}"
        );
        assert!(
            l.contains(&format!(
                "ip daddr {} tcp dport 8101 ip saddr @admin accept",
                lb.address
            )),
            "{l}"
        );
        assert!(l.contains("elements = { 10.1.0.0/16 }"), "{l}");
        // VRRP from the other load balancers only, not from itself.
        let peers: Vec<String> = lb.peers.iter().map(ToString::to_string).collect();
        assert!(
            l.contains(&format!("elements = {{ {} }}", peers.join(", "))),
            "{l}"
        );
        assert!(!peers.contains(&lb.address.to_string()));
        assert!(
            !l.contains("25673"),
            "no broker port on a load balancer: {l}"
        );
    }

    #[test]
    fn without_the_plugins_their_ports_stay_closed() {
        let p = plan(|v| v["rabbitmq"]["plugins"] = serde_json::json!([]));
        let b = broker(&p, &p.brokers[0]).expect("renders").contents;
        assert!(
            b.contains("tcp dport { 5672 } ip saddr @admin accept"),
            "{b}"
        );
        assert!(!b.contains("15672") && !b.contains("15692"), "{b}");
        assert!(!b.contains("set monitoring"), "{b}");
    }
}
