//! The host firewall in the lab: every host's rendered ruleset is loaded
//! into its network namespace at boot (nft rules are per namespace), as
//! runcmd's `systemctl enable --now nftables` loads /etc/nftables.conf
//! before any service starts; then, from an "outsider" namespace on the
//! segment whose address is in none of the allowed ranges, the brokers'
//! Erlang distribution, epmd, management and Prometheus ports, AMQP on the
//! VIP and the stats page must time out (dropped, not refused), while the
//! allowed client, the other brokers and the load balancers keep working.
//!
//! The lab's spec is narrowed for this (`narrowed`): the client, admin and
//! monitoring lists become the lab client's own address, so the client
//! reaches what it needs only by the real rules, and the outsider, another
//! address of the same subnet, by none.

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use super::cluster::Lab;
use super::harness::{find, run, Outcome};
use super::host::Machine;
use super::report::ScenarioResult;

/// How long a connection attempt waits before it counts as dropped.
const CONNECT_TIMEOUT_S: f64 = 2.0;
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// Connects to HOST:PORT and prints `open`, `refused` or `timeout`; with
/// `amqp`, sends the AMQP 0-9-1 header and prints `amqp` when the broker
/// answers with a method frame (Connection.Start).
const PROBE: &str = r#"
import socket, sys
host, port, timeout, mode = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.settimeout(timeout)
try:
    s.connect((host, port))
except socket.timeout:
    print("timeout"); sys.exit(0)
except ConnectionRefusedError:
    print("refused"); sys.exit(0)
except OSError as e:
    print("error:" + type(e).__name__); sys.exit(0)
if mode == "amqp":
    s.sendall(b"AMQP\x00\x00\x09\x01")
    try:
        frame = s.recv(7)
    except socket.timeout:
        print("no-answer"); sys.exit(0)
    print("amqp" if frame[:1] == b"\x01" else "not-amqp:" + frame.hex())
else:
    print("open")
"#;

/// The lab client's address (the highest free one of the subnet) and the
/// outsider's (the next free one below it).
pub(super) fn lab_addresses(plan: &rmqgen::Plan) -> (Ipv4Addr, Ipv4Addr) {
    let cidr = *plan.network.cidr;
    let (lo, hi) = (u32::from(cidr.network()), u32::from(cidr.broadcast()));
    let mut free = (lo + 1..hi).rev().map(Ipv4Addr::from).filter(|a| {
        *a != *plan.vip
            && Some(*a) != plan.network.gateway.as_deref().copied()
            && plan.hosts.iter().all(|h| h.address != *a)
    });
    let client = free.next().expect("a free address for the client");
    let outsider = free.next().expect("a free address for the outsider");
    (client, outsider)
}

/// The lab's spec with every firewall list narrowed to the lab client's
/// address, and the change, for the lab's report.
pub fn narrowed((source, mut changes): (String, Vec<String>)) -> (String, Vec<String>) {
    let plan = super::harness::compile("the lab spec", &source).plan;
    let (client, _) = lab_addresses(&plan);
    let mut v: serde_json::Value = serde_json::from_str(&source).expect("a spec is JSON");
    let only = serde_json::json!([format!("{client}/32")]);
    v["firewall"] = serde_json::json!({
        "client_cidrs": only,
        "admin_cidrs": only,
        "monitoring_cidrs": only,
    });
    changes.push(format!(
        "firewall client/admin/monitoring_cidrs -> [{client}/32] (the lab client only; the outsider is elsewhere in the subnet)"
    ));
    (serde_json::to_string_pretty(&v).expect("JSON"), changes)
}

fn ip() -> std::path::PathBuf {
    find("ip").expect("ip (iproute2)")
}

fn nft() -> std::path::PathBuf {
    find("nft").expect("nft (nftables): scripts/test-all.sh's setup installs it")
}

/// `nft ARGS` in `netns`.
pub(super) fn nft_in(netns: &str, args: &[&str]) -> Outcome {
    let mut cmd = std::process::Command::new(ip());
    cmd.args(["netns", "exec", netns]).arg(nft()).args(args);
    run(&mut cmd, COMMAND_TIMEOUT)
}

/// Loads each host's ruleset, the file placed at /etc/nftables.conf in its
/// root (what cloud-init wrote), into its network namespace.
pub fn load(machines: &[&Machine]) {
    for m in machines {
        let file = m.root.join(
            rmqgen::plan::paths::NFTABLES_CONF
                .strip_prefix('/')
                .expect("an absolute path"),
        );
        assert!(file.exists(), "{}: no {}", m.name, file.display());
        let path = file.to_string_lossy();
        nft_in(&m.net.netns, &["-f", &path]).expect_success(&format!("{}: nft -f {path}", m.name));
        eprintln!(
            "lab: {} ({}): firewall loaded from {}",
            m.name,
            m.net.netns,
            rmqgen::plan::paths::NFTABLES_CONF
        );
    }
}

/// Packets the ruleset of `m` dropped so far (its named counter).
fn dropped(m: &Machine) -> u64 {
    let o = nft_in(
        &m.net.netns,
        &["list", "counter", "inet", "rmqgen", "dropped"],
    )
    .expect_success(&format!("{}: nft list counter", m.name));
    o.stdout
        .split_whitespace()
        .skip_while(|w| *w != "packets")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{}: no packet count in {}", m.name, o.stdout))
}

/// A connection attempt from `netns`: `open`, `amqp`, `refused`, `timeout`.
fn probe(python: &Path, netns: &str, to: Ipv4Addr, port: u32, amqp: bool) -> String {
    let mut cmd = std::process::Command::new(ip());
    cmd.args(["netns", "exec", netns])
        .arg(python)
        .args(["-c", PROBE])
        .arg(to.to_string())
        .arg(port.to_string())
        .arg(CONNECT_TIMEOUT_S.to_string())
        .arg(if amqp { "amqp" } else { "tcp" });
    let o = run(&mut cmd, COMMAND_TIMEOUT);
    assert!(o.success(), "probe {to}:{port} from {netns}: {o}");
    o.stdout.trim().to_string()
}

/// scenario=firewall-outsider.
pub fn outsider(lab: &mut Lab) -> ScenarioResult {
    let mut r = ScenarioResult::new(
        "firewall-outsider",
        "connections from a namespace on the segment outside every allowed range",
    );
    let plan = lab.plan().clone();
    let (client_addr, out_addr) = lab_addresses(&plan);
    let n = &plan.network;
    let att = lab.net.attach(
        "lab-outsider",
        &n.interface,
        out_addr,
        n.prefix,
        n.mtu,
        super::host::BASE_HOSTS,
    );
    eprintln!(
        "lab: outsider {} at {out_addr}/{} (allowed: {client_addr}/32)",
        att.netns, n.prefix
    );
    let python = lab.client.python.clone();
    let client_ns = lab.client.netns.clone();
    let rp = &plan.rabbitmq.ports;
    let broker = &plan.brokers[0];
    let lb = &plan.load_balancers[0];
    let before = dropped(&lab.brokers[0]);

    // What the outsider must not reach: dropped (a timeout), not refused.
    let mut denied = vec![
        ("broker distribution", *broker.address, *rp.distribution),
        ("broker epmd", *broker.address, *rp.epmd),
        ("broker AMQP", *broker.address, *rp.amqp),
        ("VIP AMQP", *plan.vip, *plan.haproxy.amqp_port),
        ("stats page", *lb.address, *plan.haproxy.stats.port),
    ];
    if plan.rabbitmq.management {
        denied.push(("broker management", *broker.address, *rp.management));
    }
    if plan.rabbitmq.prometheus {
        denied.push(("broker Prometheus", *broker.address, *rp.prometheus));
    }
    if let Some(p) = &plan.haproxy.management_port {
        denied.push(("VIP management", *plan.vip, **p));
    }
    let mut blocked = 0;
    for (what, to, port) in &denied {
        let got = probe(&python, &att.netns, *to, *port, false);
        eprintln!("lab: firewall: outsider -> {what} {to}:{port}: {got}");
        r.require(
            got == "timeout",
            format!("outsider {out_addr} -> {what} {to}:{port}: {got}, expected a drop (timeout)"),
        );
        blocked += usize::from(got == "timeout");
    }
    r.figure("outsider_blocked", format!("{blocked}/{}", denied.len()));

    // What the allowed hosts still reach, by the real rules.
    let mut allowed = vec![(
        "client -> VIP AMQP",
        client_ns.clone(),
        *plan.vip,
        *plan.haproxy.amqp_port,
        true,
    )];
    allowed.push((
        "client -> stats page",
        client_ns.clone(),
        *lb.address,
        *plan.haproxy.stats.port,
        false,
    ));
    if plan.rabbitmq.management {
        allowed.push((
            "client (admin) -> broker management",
            client_ns.clone(),
            *broker.address,
            *rp.management,
            false,
        ));
    }
    if plan.rabbitmq.prometheus {
        allowed.push((
            "client (monitoring) -> broker Prometheus",
            client_ns.clone(),
            *broker.address,
            *rp.prometheus,
            false,
        ));
    }
    let peer_ns = lab.brokers[1].net.netns.clone();
    allowed.push((
        "broker -> broker distribution",
        peer_ns.clone(),
        *broker.address,
        *rp.distribution,
        false,
    ));
    allowed.push((
        "broker -> broker epmd",
        peer_ns,
        *broker.address,
        *rp.epmd,
        false,
    ));
    allowed.push((
        "load balancer -> broker AMQP",
        lab.lbs[0].net.netns.clone(),
        *broker.address,
        *rp.amqp,
        false,
    ));
    let mut reached = 0;
    for (what, ns, to, port, amqp) in &allowed {
        let got = probe(&python, ns, *to, *port, *amqp);
        eprintln!("lab: firewall: {what} {to}:{port}: {got}");
        let want = if *amqp { "amqp" } else { "open" };
        r.require(
            got == want,
            format!("{what} {to}:{port}: {got}, expected {want}"),
        );
        reached += usize::from(got == want);
    }
    r.figure("allowed_reached", format!("{reached}/{}", allowed.len()));

    let after = dropped(&lab.brokers[0]);
    let counted = after.saturating_sub(before);
    r.figure("broker_dropped_packets", counted);
    r.require(
        counted > 0,
        format!(
            "{}: the `dropped` counter did not move ({before} -> {after})",
            broker.name
        ),
    );
    r
}
