//! Cluster-wide changes: the queue type (blue-green), the VIP, the network,
//! the OS image, the provisioning path, the target, and what only a host's
//! first boot applies.

use std::collections::BTreeMap;

use super::{Change, ChangeKind, Out, Side};
use crate::diagnostic::{Code, Diagnostic};
use crate::plan::Plan;

fn all_hosts(plan: &Plan) -> Vec<String> {
    plan.hosts.iter().map(|h| h.name.to_string()).collect()
}

/// A queue-type change cannot be made in place (there is no conversion of
/// a classic queue into a quorum queue, and 4.x has no mirroring): NEW is
/// a green cluster built beside the running blue one. Green must be able to
/// run beside blue: no host of it may take a blue host's name or address.
/// True when this is such a change (nothing else is then planned in place).
pub(super) fn blue_green(old: &Side<'_>, new: &Side<'_>, out: &mut Out) -> bool {
    let (o, n) = (old.plan, new.plan);
    let (from, to) = (o.rabbitmq.policy.mode, n.rabbitmq.policy.mode);
    if from == to {
        return false;
    }
    for (i, h) in n.hosts.iter().enumerate() {
        let at = if i < n.brokers.len() {
            format!("/brokers/{i}")
        } else {
            format!("/load_balancers/{}", i - n.brokers.len())
        };
        if o.host(&h.name).is_some() {
            out.refuse(
                Diagnostic::error(
                    Code::BlueGreenClash,
                    format!("{at}/name"),
                    format!("green host {} has the name of a host of the running (blue) cluster", h.name),
                )
                .hint("green runs beside blue until the cut-over: give every green host a new name (it is its Terraform key and Erlang node name)"),
            );
        }
        // Derived from different names, a green MAC or VM id can still
        // equal a blue one: both run at once. (A reused name is reported
        // above.)
        if let Some(b) = o.hosts.iter().find(|b| b.mac == h.mac && b.name != h.name) {
            out.refuse(
                Diagnostic::error(
                    Code::BlueGreenClash,
                    format!("{at}/name"),
                    format!(
                        "green host {} gets MAC {}, which blue host {} has",
                        h.name, h.mac, b.name
                    ),
                )
                .hint("rename the green host: its MAC is a hash of the cluster and host names"),
            );
        }
        let proxmox = |p: &Plan| p.target.provider == crate::spec::Provider::Proxmox;
        if let Some(b) = o
            .hosts
            .iter()
            .find(|b| proxmox(o) && proxmox(n) && *b.vm_id == *h.vm_id && b.name != h.name)
        {
            out.refuse(
                Diagnostic::error(
                    Code::BlueGreenClash,
                    h.vm_id.pointer(),
                    format!(
                        "green host {} gets Proxmox VM id {}, which blue host {} has",
                        h.name, *h.vm_id, b.name
                    ),
                )
                .hint("set vm_id on the green host to an id that is free on the cluster"),
            );
        }
        if let Some(b) = o.hosts.iter().find(|b| b.address == h.address) {
            out.refuse(
                Diagnostic::error(
                    Code::BlueGreenClash,
                    format!("{at}/address"),
                    format!(
                        "green host {} takes address {}, which blue host {} has",
                        h.name, h.address, b.name
                    ),
                )
                .hint("green runs beside blue until the cut-over: give every green host a free address"),
            );
        }
    }
    let vip = if o.vip == n.vip {
        format!("green's load balancers take the VIP {} at the cut-over: keep keepalived stopped on them until then, stop it on blue's, then start it on green's", n.vip)
    } else {
        format!(
            "clients move from blue's VIP {} to green's {} at the cut-over (DNS or client configuration)",
            o.vip, n.vip
        )
    };
    let (fv, tv) = (*o.rabbitmq.version, *n.rabbitmq.version);
    // Classic mirrored to quorum: rmqgen renders the migration script.
    let migration = crate::bluegreen::applies(o, n);
    let script = crate::bluegreen::SCRIPT;
    out.change(
        Change::new(
            ChangeKind::BlueGreen,
            format!(
                "queue type {from} → {to}: build the new cluster (green, RabbitMQ {tv}) beside the running one (blue, RabbitMQ {fv}) and migrate; no queue changes type in place"
            ),
        )
        .disruptive()
        .at("/rabbitmq/queue_ha/mode")
        .hosts(all_hosts(n))
        .step_if(
            migration && !crate::bluegreen::green_has_shovel(n),
            "add rabbitmq_shovel to rabbitmq.plugins in the new spec: green's shovels drain blue",
        )
        .step("deploy green from the new spec (its own Terraform state): every host is new")
        .step_if(migration, format!("render the migration beside green: `rmqgen render NEW --from OLD` writes {script}"))
        .step_if(migration, format!("{script} prepare: export blue's definitions, strip the mirroring keys (ha-*) and x-ha-* arguments, declare the durable classic queues as quorum queues (`rmqgen migrate-definitions`; queues that cannot be quorum are listed for review), import them on green and start one shovel per queue on green pulling from blue (ack on confirm)"))
        .step_if(!migration, "export blue's definitions, strip the mirroring keys (ha-*) and x-ha-* arguments, import them on green; drain blue's queues into green with shovels")
        .step_if(o.vip != n.vip, "move consumers to green, then producers")
        .step(vip)
        .step_if(migration, format!("{script} cutover, then {script} drain: waits until no client is left on blue and every blue queue is empty, then deletes the shovels"))
        .step_if(migration, format!("{script} teardown, then destroy blue's VMs"))
        .step_if(!migration, "decommission blue: destroy its VMs, then remove the shovels from green"),
    );
    true
}

/// Cluster name, VIP, network, OS, provisioning and target changes.
pub(super) fn check(old: &Side<'_>, new: &Side<'_>, out: &mut Out) {
    let (o, n) = (old.plan, new.plan);
    if o.name != n.name {
        out.refuse(
            Diagnostic::error(
                Code::ClusterRename,
                "/name",
                format!(
                    "renaming cluster {} to {} changes every host's MAC and derived VM id: every VM would be replaced at once",
                    o.name, n.name
                ),
            )
            .hint(format!(
                "keep \"name\": \"{}\"; a cluster under a new name is a new cluster, built beside this one (blue-green)",
                o.name
            )),
        );
        return;
    }
    let holder = super::vip_holder(n);
    if o.vip != n.vip {
        let lbs: Vec<String> = n
            .load_balancers
            .iter()
            .map(|l| l.name.to_string())
            .collect();
        out.change(
            Change::new(
                ChangeKind::Vip,
                format!("the VIP moves from {} to {}: clients connected to the old one are cut off", o.vip, n.vip),
            )
            .disruptive()
            .at("/vip")
            .hosts(super::lb_order(n, &lbs))
            .step("keepalived.conf carries it: the reload below drops the old VIP and raises the new one on the holder")
            .step(format!(
                "reconnect clients to {} (DNS or client configuration); {} holds it when all are healthy",
                n.vip,
                holder.unwrap_or("the highest priority")
            )),
        );
    }

    let (a, b) = (&o.network, &n.network);
    let mut what: Vec<(&str, String)> = Vec::new();
    if a.cidr != b.cidr {
        what.push(("/network/cidr", format!("subnet {} → {}", a.cidr, b.cidr)));
    }
    if a.gateway != b.gateway {
        let show = |g: Option<std::net::Ipv4Addr>| g.map_or("none".to_string(), |g| g.to_string());
        what.push((
            "/network/gateway",
            format!(
                "gateway {} → {}",
                show(a.gateway.as_deref().copied()),
                show(b.gateway.as_deref().copied())
            ),
        ));
    }
    if a.dns != b.dns {
        what.push(("/network/dns", "DNS resolvers".to_string()));
    }
    if a.interface != b.interface {
        what.push((
            "/network/interface",
            format!("interface {} → {}", a.interface, b.interface),
        ));
    }
    if a.mtu != b.mtu {
        what.push(("/network/mtu", "MTU".to_string()));
    }
    if let Some((at, _)) = what.first() {
        let list: Vec<String> = what.iter().map(|(_, w)| w.clone()).collect();
        out.change(
            Change::new(
                ChangeKind::Network,
                format!("the network changes ({})", list.join(", ")),
            )
            .disruptive()
            .at(*at)
            .hosts(all_hosts(n))
            .step("each host's network configuration was written at its first boot: a running host keeps the old one, and Terraform re-renders only the seed it no longer reads")
            .step("change it on every host by hand, one host at a time (brokers with the rolling-restart gates, the VIP holder last), or re-provision the hosts; a new subnet moves every address, and clients must reach the new VIP"),
        );
    }

    if o.provisioning != n.provisioning {
        out.change(
            Change::new(
                ChangeKind::Provisioning,
                format!(
                    "provisioning {} → {}: every host is re-provisioned",
                    o.provisioning, n.provisioning
                ),
            )
            .disruptive()
            .at("/provisioning")
            .hosts(all_hosts(n))
            .step("replace the hosts one at a time, brokers as add-then-remove under new names (each keeps the cluster at strength), load balancers with the VIP holder last"),
        );
    } else if *o.os != *n.os && n.provisioning == crate::spec::Provisioning::CloudInit {
        out.change(
            Change::new(
                ChangeKind::Os,
                format!("OS image {} → {}: every host is re-provisioned", *o.os, *n.os),
            )
            .disruptive()
            .at("/os")
            .hosts(all_hosts(n))
            .step("a VM's image is its boot disk: Terraform replaces every VM, and cloud-init runs afresh")
            .step("replace the hosts one at a time instead of in one apply: brokers as add-then-remove under new names, load balancers with the VIP holder last")
            .step("Debian and Ubuntu archives ship one RabbitMQ series each: check rabbitmq.version and rabbitmq.install for the new image"),
        );
    }

    if o.target.provider != n.target.provider {
        out.change(
            Change::new(
                ChangeKind::Target,
                format!(
                    "target {} → {}: every VM is created anew on the other platform",
                    o.target.provider, n.target.provider
                ),
            )
            .disruptive()
            .at("/target/provider")
            .hosts(all_hosts(n))
            .step("a new Terraform state for the new platform; move the cluster host by host (add-then-remove brokers under new names) or blue-green"),
        );
    } else {
        let settings = |p: &Plan| -> serde_json::Value {
            let mut v = match p.target.provider {
                crate::spec::Provider::Libvirt => {
                    serde_json::to_value(&p.target.libvirt).unwrap_or_default()
                }
                crate::spec::Provider::Proxmox => {
                    serde_json::to_value(&p.target.proxmox).unwrap_or_default()
                }
            };
            // Each host's VM id is compared on its own (host identity).
            if let Some(m) = v.as_object_mut() {
                m.remove("vm_id_base");
            }
            v
        };
        let (sa, sb) = (settings(o), settings(n));
        if sa != sb {
            let keys: Vec<String> = match (sa.as_object(), sb.as_object()) {
                (Some(x), Some(y)) => x
                    .iter()
                    .filter(|(k, v)| y.get(*k) != Some(*v))
                    .map(|(k, _)| k.clone())
                    .collect(),
                _ => Vec::new(),
            };
            out.change(
                Change::new(
                    ChangeKind::Target,
                    format!(
                        "{} settings change ({}): Terraform moves or replaces the VMs",
                        n.target.provider,
                        keys.join(", ")
                    ),
                )
                .disruptive()
                .at(format!("/target/{}", n.target.provider))
                .hosts(all_hosts(n))
                .step("read `terraform plan`: a VM that must be replaced is better replaced one at a time, as add-then-remove under a new name"),
            );
        }
    }
}

/// What cloud-init applies only at a host's first boot (its instance id is
/// the host name, so it never runs again): running hosts keep what they
/// have; hosts created from now on get the new value.
pub(super) fn first_boot(old: &Side<'_>, new: &Side<'_>, out: &mut Out) {
    let (o, n) = (old.plan, new.plan);
    let mut what: Vec<(String, String)> = Vec::new();
    if o.ssh_authorized_keys != n.ssh_authorized_keys {
        what.push((
            "/ssh_authorized_keys".into(),
            "SSH keys: edit ~/.ssh/authorized_keys of the image's user on each host".into(),
        ));
    }
    if o.apt_proxy != n.apt_proxy {
        what.push((
            "/apt/proxy".into(),
            "apt proxy: edit /etc/apt/apt.conf.d on each host".into(),
        ));
    }
    if o.rabbitmq.version == n.rabbitmq.version && o.install.source != n.install.source {
        what.push((
            "/rabbitmq/install".into(),
            "RabbitMQ's apt source: change the brokers' apt sources and pins by hand".into(),
        ));
    }
    let sources: BTreeMap<&str, String> = o
        .secrets
        .iter()
        .map(|s| {
            (
                s.id.as_str(),
                serde_json::to_string(&s.source).unwrap_or_default(),
            )
        })
        .collect();
    for s in &n.secrets {
        let now = serde_json::to_string(&s.source).unwrap_or_default();
        if sources.get(s.id.as_str()).is_some_and(|was| *was != now) {
            let why = if s.id == "erlang-cookie" {
                "running brokers keep the old cookie: a broker created with the new one cannot join them; change the cookie on every broker with a full-cluster restart, or keep the old source"
            } else {
                "running hosts keep the old value; change it by hand where it is used"
            };
            what.push((String::new(), format!("secret {}: {why}", s.id)));
        }
    }
    if what.is_empty() {
        return;
    }
    let mut c = Change::new(
        ChangeKind::FirstBootOnly,
        "settings only a host's first boot applies: running hosts keep the old ones",
    )
    .hosts(all_hosts(n));
    if let Some((at, _)) = what.iter().find(|(at, _)| !at.is_empty()) {
        c = c.at(at.clone());
    }
    for (_, w) in what {
        c = c.step(w);
    }
    out.change(c);
}
