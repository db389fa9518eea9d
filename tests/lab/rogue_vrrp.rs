//! A rogue VRRP speaker on the load balancers' segment (issue 13): a host
//! that is not one of the spec's load balancers runs keepalived with the
//! cluster's virtual router id and a higher priority than any load
//! balancer, and sends its adverts to the load balancers (unicast) or to
//! every host (multicast, 224.0.0.18). The rendered keepalived.conf has
//! `check_unicast_src`: the load balancers must ignore it, so the VIP stays
//! where it is and AMQP through it goes on without an outage.
//!
//! The rogue announces a decoy address, not the VIP: a host that simply
//! adds the VIP to its interface needs no VRRP at all, and only the network
//! can stop it (docs/security.md). What this proves is that VRRP itself
//! gives a stranger no way in: a higher priority from a non-peer does not
//! make the holder step down. nftables counters in each load balancer's
//! namespace (prerouting, counting only) show the rogue's adverts arrived,
//! so a pass is not a rogue that was never heard.
//!
//! What it found: keepalived rejects the unicast rogue's adverts, yet the
//! backup keeps timing out on the master's and the VIP flaps (lab-quorum,
//! keepalived 2.2.7: 26 changes, a 16.7 s outage; lab-trixie, 2.3.3: 8
//! changes, 13.3 s). Only VRRP dropped before keepalived (the per-role
//! firewall's peers-only rule) makes this pass; see docs/security.md.

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;

use super::cluster::Lab;
use super::harness::{read_lossy, require, run, spawn_logged, Bins, TempDir};
use super::report::{now, ScenarioResult};
use super::scenarios::{begin, finish, holder, probe_outage};
use super::vip::window;

/// How long the rogue advertises while the workload runs: many times the
/// master-down interval (3 adverts + skew), so it has long become MASTER.
const ROGUE_FOR: Duration = Duration::from_secs(10);
/// How long the rogue's keepalived may take to claim MASTER.
const ROGUE_MASTER_MAX: Duration = Duration::from_secs(10);
const NFT_TABLE: &str = "rmqlab_rogue";

/// Both cases, on a healthy cluster: unicast adverts aimed at the load
/// balancers, then multicast ones.
pub fn scenarios(lab: &mut Lab) -> Vec<ScenarioResult> {
    let Some(tools) = require(&["keepalived", "nft"], true) else {
        let mut r = ScenarioResult::new("rogue-vrrp", "");
        r.require(
            false,
            "keepalived and nft are needed on the machine for the rogue",
        );
        return vec![r];
    };
    let plan = lab.plan().clone();
    let used: Vec<Ipv4Addr> = plan
        .hosts
        .iter()
        .map(|h| *h.address)
        .chain([*plan.vip])
        .chain(plan.network.gateway.as_ref().map(|g| **g))
        // The lab client and the firewall's outsider take the highest free
        // addresses too: a rogue on the client's address would cut the
        // client off, which is no VRRP question.
        .chain(<[Ipv4Addr; 2]>::from(super::firewall::lab_addresses(&plan)))
        .collect();
    // Two free addresses from the top of the subnet: the rogue's own and
    // the decoy it announces.
    let net = *plan.network.cidr;
    let (low, high) = (u32::from(net.network()), u32::from(net.broadcast()));
    let mut free = (low + 1..high)
        .rev()
        .map(Ipv4Addr::from)
        .filter(|a| net.contains(*a) && !net.is_reserved(*a) && !used.contains(a));
    let (Some(address), Some(decoy)) = (free.next(), free.next()) else {
        let mut r = ScenarioResult::new("rogue-vrrp", "");
        r.require(false, format!("no free addresses in {net} for the rogue"));
        return vec![r];
    };
    let interface = plan.network.interface.to_string();
    let att = lab.net.attach(
        "rogue",
        &interface,
        address,
        plan.network.prefix,
        plan.network.mtu,
        "127.0.0.1 localhost\n",
    );
    let dir = TempDir::new("rogue-vrrp");
    [true, false]
        .into_iter()
        .map(|unicast| {
            let rogue = Rogue {
                tools: &tools,
                netns: &att.netns,
                dir: dir.path(),
                address,
                decoy,
            };
            case(lab, &rogue, unicast)
        })
        .collect()
}

/// The rogue's keepalived.conf.
fn rogue_conf(
    lab: &Lab,
    interface: &str,
    address: Ipv4Addr,
    decoy: Ipv4Addr,
    unicast: bool,
) -> String {
    let plan = lab.plan();
    let k = &plan.keepalived;
    let mut c = format!(
        "global_defs {{\n    router_id rogue\n    vrrp_version {}\n}}\n\
         vrrp_instance ROGUE {{\n    state MASTER\n    interface {interface}\n    \
         virtual_router_id {}\n    priority 254\n    advert_int {}\n",
        *k.vrrp_version, k.virtual_router_id, *k.advert_int
    );
    if unicast {
        c.push_str(&format!(
            "    unicast_src_ip {address}\n    unicast_peer {{\n"
        ));
        for lb in &plan.load_balancers {
            c.push_str(&format!("        {}\n", lb.address));
        }
        c.push_str("    }\n");
    }
    c.push_str(&format!(
        "    virtual_ipaddress {{\n        {decoy}/{} dev {interface}\n    }}\n}}\n",
        plan.network.prefix
    ));
    c
}

/// The rogue host: its namespace, scratch directory and addresses.
struct Rogue<'a> {
    tools: &'a Bins,
    netns: &'a str,
    dir: &'a Path,
    address: Ipv4Addr,
    decoy: Ipv4Addr,
}

fn case(lab: &mut Lab, rogue: &Rogue, unicast: bool) -> ScenarioResult {
    let (dir, address, decoy) = (rogue.dir, rogue.address, rogue.decoy);
    let kind = if unicast { "unicast" } else { "multicast" };
    let name = format!("rogue-vrrp-{kind}");
    let mut r = ScenarioResult::new(&name, "");
    let interface = lab.plan().network.interface.to_string();
    let conf = dir.join(format!("{kind}.conf"));
    std::fs::write(&conf, rogue_conf(lab, &interface, address, decoy, unicast))
        .expect("write the rogue's keepalived.conf");
    let from = holder(lab);
    for lb in 0..lab.lbs.len() {
        count_adverts(lab, rogue.tools, lb, address);
    }
    let (wl, _) = begin(lab, &name);
    r.fault = format!(
        "keepalived at {address} (not a peer): router id {}, priority 254 (> {}), {kind} adverts, announcing {decoy}",
        lab.plan().keepalived.virtual_router_id,
        lab.plan().keepalived.top_priority
    );
    let t_fault = now();
    let log = dir.join(format!("{kind}.log"));
    let mut child = start_rogue(lab, rogue, &conf, &log, kind);
    let mastered = poll_log(&log, "Entering MASTER STATE", ROGUE_MASTER_MAX);
    r.require(
        mastered,
        format!("the rogue never became MASTER: {}", read_lossy(&log)),
    );
    if let Some(t) = mastered.then(now) {
        r.figure("rogue_master_s", ((t - t_fault) * 100.0).round() / 100.0);
    }
    std::thread::sleep(ROGUE_FOR);
    let heard: Vec<u64> = (0..lab.lbs.len())
        .map(|lb| adverts(lab, rogue.tools, lb))
        .collect();
    stop_rogue(lab, &mut child);
    let t_end = finish(lab, &mut r, wl, t_fault);
    probe_outage(lab, &mut r, t_fault, t_end, None);

    for (lb, n) in heard.iter().enumerate() {
        r.figure(&format!("adverts_at_{}", lab.lbs[lb].name), *n);
    }
    // Unicast adverts go to every load balancer; multicast ones reach them
    // through the bridge.
    r.require(
        heard.iter().all(|n| *n > 0),
        format!("a load balancer never received the rogue's adverts: {heard:?}"),
    );
    let events = lab.vip().events();
    let w = window(&events, lab.lbs.len(), t_fault, t_end);
    r.vip_from = Some(lab.lbs[from].name.clone());
    r.vip_to = lab
        .vip()
        .wait_single_holder(Duration::from_secs(1))
        .map(|h| lab.lbs[h].name.clone());
    r.vip_changes = w.changes;
    r.vip_both_s = w.both_s;
    r.require(
        w.changes == 0 && w.none_s == 0.0,
        format!(
            "the VIP moved while the rogue advertised: {} changes, {:.2} s on no load balancer",
            w.changes, w.none_s
        ),
    );
    r.require(
        r.vip_to == r.vip_from,
        format!("the VIP is on {:?}, not {:?}", r.vip_to, r.vip_from),
    );
    r.require(
        r.outage_s == Some(0.0),
        format!(
            "AMQP through the VIP failed while the rogue advertised: {:?}",
            r.outage_s
        ),
    );
    r.target("a rogue VRRP speaker cannot take the VIP", w.changes == 0);
    for lb in 0..lab.lbs.len() {
        drop_counter(lab, rogue.tools, lb);
    }
    r
}

fn start_rogue(lab: &Lab, rogue: &Rogue, conf: &Path, log: &Path, kind: &str) -> Child {
    let pid = |p: &str| rogue.dir.join(format!("{kind}-{p}.pid"));
    spawn_logged(
        Command::new(lab.bins.get("ip"))
            .args(["netns", "exec", rogue.netns])
            .arg(rogue.tools.get("keepalived"))
            .args(["--dont-fork", "--log-console", "--log-detail", "--vrrp"])
            .arg("--use-file")
            .arg(conf)
            .arg("--pid")
            .arg(pid("main"))
            .arg("--vrrp_pid")
            .arg(pid("vrrp"))
            .arg("--checkers_pid")
            .arg(pid("checkers")),
        &rogue.dir.join(format!("{kind}.stdout")),
        log,
    )
}

/// SIGTERM (keepalived then drops the decoy and stops its child), then
/// reaps it; SIGKILL if it lingers.
fn stop_rogue(lab: &Lab, rogue: &mut Child) {
    let _ = Command::new(lab.bins.get("kill"))
        .args(["-TERM", &rogue.id().to_string()])
        .status();
    for _ in 0..50 {
        if matches!(rogue.try_wait(), Ok(Some(_))) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = rogue.kill();
    let _ = rogue.wait();
}

fn poll_log(log: &Path, needle: &str, timeout: Duration) -> bool {
    let steps = timeout.as_millis() / 100;
    for _ in 0..steps {
        if read_lossy(log).contains(needle) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

fn nft(lab: &Lab, tools: &Bins, lb: usize, script: &str) -> String {
    let o = run(
        Command::new(lab.bins.get("ip"))
            .args(["netns", "exec", &lab.lbs[lb].net.netns])
            .arg(tools.get("nft"))
            .args(script.split(' ')),
        Duration::from_secs(10),
    );
    o.expect_success(&format!("nft {script} in {}", lab.lbs[lb].name))
        .output()
}

/// Counts (never drops) VRRP from `rogue` as it enters `lb`'s namespace,
/// before routing, so multicast to a group keepalived did not join counts
/// too.
fn count_adverts(lab: &Lab, tools: &Bins, lb: usize, rogue: Ipv4Addr) {
    drop_counter(lab, tools, lb);
    nft(lab, tools, lb, &format!("add table ip {NFT_TABLE}"));
    nft(
        lab,
        tools,
        lb,
        &format!("add chain ip {NFT_TABLE} pre {{ type filter hook prerouting priority -400 ; }}"),
    );
    nft(
        lab,
        tools,
        lb,
        &format!("add rule ip {NFT_TABLE} pre ip saddr {rogue} ip protocol vrrp counter"),
    );
}

fn adverts(lab: &Lab, tools: &Bins, lb: usize) -> u64 {
    let listing = nft(lab, tools, lb, &format!("list chain ip {NFT_TABLE} pre"));
    listing
        .split_whitespace()
        .skip_while(|w| *w != "packets")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn drop_counter(lab: &Lab, tools: &Bins, lb: usize) {
    let _ = run(
        Command::new(lab.bins.get("ip"))
            .args(["netns", "exec", &lab.lbs[lb].net.netns])
            .arg(tools.get("nft"))
            .args(["delete", "table", "ip", NFT_TABLE]),
        Duration::from_secs(10),
    );
}
