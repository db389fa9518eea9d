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
