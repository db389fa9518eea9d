//! The role files of the hosts both specs keep, compared per host by their
//! path on the host (a load balancer's haproxy.cfg is its own). Each
//! changed file says how it takes effect: a reload, a re-read, its next
//! run, or a restart (the brokers' rolling restart, in a stated order).

use std::collections::BTreeMap;

use super::{broker_order, lb_order, Change, ChangeKind, Out, Side};
use crate::plan::{paths, Plan};
use crate::roles::RoleFile;
use crate::spec::{Provisioning, QueueHaMode};

/// How a changed file takes effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Effect {
    /// The host firewall: `systemctl reload nftables`. First, so a host
    /// the other changes bring in is admitted before it is used.
    Firewall,
    /// `/etc/hosts`: read at every lookup.
    Hosts,
    /// `sysctl --system`.
    Sysctl,
    /// `systemd-sysusers`.
    Sysusers,
    /// A script run by a service or timer: used on its next run.
    Script,
    /// The queue-HA bootstrap: run it once more on the bootstrap host.
    Bootstrap,
    /// definitions.json: imported once.
    Definitions,
    /// rabbitmq.conf changed only in the peer-discovery node list, which a
    /// node reads at its first boot only.
    PeerList,
    /// `systemctl reload haproxy`.
    HaproxyReload,
    /// `systemctl reload keepalived`.
    KeepalivedReload,
    /// A systemd unit or drop-in of the bootstrap timer.
    TimerUnit,
    /// The haproxy.service drop-in: daemon-reload and restart.
    HaproxyRestart,
    /// The keepalived.service drop-in: daemon-reload and restart.
    KeepalivedRestart,
    /// rabbitmq.conf, enabled_plugins or the rabbitmq-server drop-in: a
    /// rolling restart of the brokers.
    BrokerRestart,
}

pub(crate) fn effect(old: Option<&RoleFile>, new: Option<&RoleFile>) -> Effect {
    let path = new.or(old).map_or("", |f| f.path.as_str());
    match path {
        paths::NFTABLES_CONF => Effect::Firewall,
        "/etc/hosts" => Effect::Hosts,
        "/etc/haproxy/haproxy.cfg" => Effect::HaproxyReload,
        "/etc/keepalived/keepalived.conf" => Effect::KeepalivedReload,
        "/etc/rabbitmq/definitions.json" => Effect::Definitions,
        "/etc/rabbitmq/rabbitmq.conf" => match (old, new) {
            (Some(o), Some(n)) if only_peer_list(&o.contents, &n.contents) => Effect::PeerList,
            _ => Effect::BrokerRestart,
        },
        "/etc/rabbitmq/enabled_plugins" => Effect::BrokerRestart,
        p if p.starts_with("/etc/systemd/system/rabbitmq-server.service.d/") => {
            Effect::BrokerRestart
        }
        p if p.starts_with("/etc/systemd/system/haproxy.service.d/") => Effect::HaproxyRestart,
        p if p.starts_with("/etc/systemd/system/keepalived.service.d/") => {
            Effect::KeepalivedRestart
        }
        p if p.starts_with("/etc/systemd/system/") => Effect::TimerUnit,
        p if p.starts_with("/etc/sysctl.d/") => Effect::Sysctl,
        p if p.starts_with("/etc/sysusers.d/") => Effect::Sysusers,
        "/usr/local/sbin/rmqgen-queue-ha-policy" => Effect::Bootstrap,
        _ => Effect::Script,
    }
}

/// True when two rabbitmq.conf texts differ only in
/// `cluster_formation.classic_config.nodes.N` lines.
fn only_peer_list(old: &str, new: &str) -> bool {
    let keep = |s: &str| -> Vec<String> {
        s.lines()
            .filter(|l| !l.starts_with("cluster_formation.classic_config.nodes."))
            .map(str::to_string)
            .collect()
    };
    keep(old) == keep(new)
}

/// The role files a host gets, by path on the host.
fn files_of<'a>(side: &'a Side<'_>, host: &'a str) -> BTreeMap<&'a str, &'a RoleFile> {
    side.roles
        .for_host(host)
        .map(|f| (f.path.as_str(), f))
        .collect()
}

/// Adds the changes of the kept hosts' files. While the brokers are
/// upgraded (`upgrading`), their files (but /etc/hosts) are carried by the
/// upgrade instead: returned, by path.
pub(super) fn check(old: &Side<'_>, new: &Side<'_>, upgrading: bool, out: &mut Out) -> Vec<String> {
    let mut carried: Vec<String> = Vec::new();
    // effect -> file name -> hosts
    let mut found: BTreeMap<Effect, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    for h in &new.plan.hosts {
        let Some(was) = old.plan.host(&h.name) else {
            continue;
        };
        if was.role != h.role {
            continue;
        }
        let (a, b) = (files_of(old, &h.name), files_of(new, &h.name));
        let mut paths: Vec<&str> = a.keys().chain(b.keys()).copied().collect();
        paths.sort_unstable();
        paths.dedup();
        for path in paths {
            let (o, n) = (a.get(path).copied(), b.get(path).copied());
            let same = match (o, n) {
                (Some(o), Some(n)) => {
                    o.contents == n.contents
                        && (&o.owner, &o.group, o.mode) == (&n.owner, &n.group, n.mode)
                }
                _ => false,
            };
            if same {
                continue;
            }
            if upgrading && h.role == crate::plan::Role::Broker && path != "/etc/hosts" {
                if !carried.iter().any(|c| c == path) {
                    carried.push(path.to_string());
                }
                continue;
            }
            let what = match (o, n) {
                (None, Some(_)) => format!("{path} (new)"),
                (Some(_), None) => format!("{path} (no longer rendered: remove it)"),
                _ => path.to_string(),
            };
            found
                .entry(effect(o, n))
                .or_default()
                .entry(what)
                .or_default()
                .push(h.name.to_string());
        }
    }
    for (effect, files) in found {
        // In the plan's order: brokers, then load balancers.
        let hosts: Vec<String> = new
            .plan
            .hosts
            .iter()
            .map(|h| h.name.to_string())
            .filter(|n| files.values().flatten().any(|h| h == n))
            .collect();
        if let Some(c) = change(effect, &files, &hosts, new.plan, old.plan) {
            out.change(c);
        }
    }
    carried.sort();
    carried
}

/// `a, b on h1, h2; c on h3`.
fn listing(files: &BTreeMap<String, Vec<String>>) -> String {
    let parts: Vec<String> = files
        .iter()
        .map(|(f, hosts)| format!("{f} on {}", hosts.join(", ")))
        .collect();
    parts.join("; ")
}

fn change(
    effect: Effect,
    files: &BTreeMap<String, Vec<String>>,
    hosts: &[String],
    new: &Plan,
    old: &Plan,
) -> Option<Change> {
    let reload = |summary: String, step: String| {
        Some(
            Change::new(ChangeKind::ConfigReload, summary)
                .hosts(hosts.to_vec())
                .step(format!("push {}", listing(files)))
                .step(step),
        )
    };
    let lbs = lb_order(new, hosts);
    let brokers = broker_order(new, hosts);
    let c = match effect {
        Effect::Firewall => reload(
            "the host firewall (nftables) changes".into(),
            format!(
                "`nft -c -f {0}`, then `systemctl reload nftables` on {1}: table inet rmqgen is replaced in one transaction, established connections stay",
                paths::NFTABLES_CONF,
                hosts.join(", ")
            ),
        ),
        Effect::Hosts => reload(
            "/etc/hosts changes (rmqgen's lines)".into(),
            "replace rmqgen's lines in /etc/hosts; nothing restarts (names are looked up when used)".into(),
        ),
        Effect::Sysctl => reload(
            "kernel settings change".into(),
            format!("`sysctl --system` on {}", hosts.join(", ")),
        ),
        Effect::Sysusers => reload(
            "system users change".into(),
            format!("`systemd-sysusers` on {}", hosts.join(", ")),
        ),
        Effect::Script => reload(
            "scripts change".into(),
            "nothing restarts: each is used on its next run".into(),
        ),
        Effect::Bootstrap => reload(
            "the queue-HA bootstrap script changes".into(),
            "run it once, on any one broker: `systemctl start rmqgen-queue-ha-policy` (it is idempotent; every broker's timer runs it too)".to_string(),
        ),
        Effect::Definitions => reload(
            "definitions.json (vhosts, users, the queue-HA policy) changes".into(),
            "import it once, on any one broker: `rabbitmqctl import_definitions /etc/rabbitmq/definitions.json`; definitions removed from the file are not deleted from the cluster".to_string(),
        ),
        Effect::PeerList => reload(
            "rabbitmq.conf changes only in the peer-discovery node list".into(),
            "no restart: a node reads cluster_formation.classic_config.nodes only at its first boot".into(),
        ),
        Effect::HaproxyReload => reload(
            "haproxy.cfg changes".into(),
            format!(
                "`haproxy -c -f /etc/haproxy/haproxy.cfg`, then `systemctl reload haproxy` (hitless) on {}, the usual VIP holder (highest priority) last",
                lbs.join(", ")
            ),
        ),
        Effect::KeepalivedReload => reload(
            "keepalived.conf changes".into(),
            format!(
                "`keepalived -t`, then `systemctl reload keepalived` on {}, the usual VIP holder (highest priority) last; check the VIP is held once",
                lbs.join(", ")
            ),
        ),
        Effect::TimerUnit => reload(
            "the queue-HA bootstrap's systemd units change".into(),
            format!(
                "`systemctl daemon-reload` and `systemctl restart rmqgen-queue-ha-policy.timer` on {}",
                hosts.join(", ")
            ),
        ),
        Effect::HaproxyRestart | Effect::KeepalivedRestart => {
            let unit = if effect == Effect::HaproxyRestart {
                "haproxy"
            } else {
                "keepalived"
            };
            let mut c = Change::new(
                ChangeKind::RollingRestart,
                format!("{unit}'s systemd drop-in changes: restart {unit} one load balancer at a time"),
            )
            .hosts(lbs.clone())
            .step(format!("push {}", listing(files)));
            for lb in &lbs {
                c = c.step(format!(
                    "{lb}: `systemctl daemon-reload`, `systemctl restart {unit}`; wait until HAProxy reports every broker UP and one load balancer holds the VIP"
                ));
            }
            // Restarting the holder's keepalived moves the VIP.
            if unit == "keepalived" && super::vip_holder(new).is_some_and(|h| lbs.iter().any(|l| l == h)) {
                c = c.disruptive();
            }
            Some(c)
        }
        Effect::BrokerRestart => {
            let gate = if old.rabbitmq.policy.mode == QueueHaMode::ClassicMirrored {
                "`rabbitmq-queues check_if_node_is_mirror_sync_critical` passes"
            } else {
                "`rabbitmq-queues check_if_node_is_quorum_critical` passes"
            };
            let mut c = Change::new(
                ChangeKind::RollingRestart,
                "broker configuration changes: rolling restart of the brokers, one at a time",
            )
            .hosts(brokers.clone())
            .step(format!("push {}", listing(files)));
            for b in &brokers {
                c = c.step(format!(
                    "{b}: {gate}; `rabbitmq-upgrade drain`; `systemctl daemon-reload`; `systemctl restart rabbitmq-server`; `rabbitmq-diagnostics check_running` and `check_port_connectivity`; `rabbitmq-upgrade revive`; HAProxy marks it UP on every load balancer"
                ));
            }
            Some(c)
        }
    };
    // NixOS hosts get their files from their system closure, not a push.
    c.map(|c| {
        if new.provisioning == Provisioning::Nixos {
            c.step("NixOS: the files come with `nixos-rebuild switch --target-host`, which restarts or reloads the units whose files changed: deploy one host at a time, in the order above, with the same checks")
        } else {
            c
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_peer_list_changing_needs_no_restart() {
        let a = "cluster_name = x\ncluster_formation.classic_config.nodes.1 = rabbit@a\nheartbeat = 60\n";
        let b = "cluster_name = x\ncluster_formation.classic_config.nodes.1 = rabbit@a\ncluster_formation.classic_config.nodes.2 = rabbit@b\nheartbeat = 60\n";
        assert!(only_peer_list(a, b));
        assert!(!only_peer_list(a, &b.replace("60", "30")));
    }
}
