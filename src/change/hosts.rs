//! Hosts added, removed, changed in identity, or resized. Hosts are matched
//! by name (the Terraform key, the Erlang node name).

use std::collections::BTreeSet;

use super::{broker_order, lb_order, vip_holder, Change, ChangeKind, Out, Side};
use crate::diagnostic::{Code, Diagnostic};
use crate::plan::{Host, Plan, Role};
use crate::roles::hosts_with;
use crate::spec::{Provider, QueueHaMode};

/// A host's JSON pointer in its spec: `/brokers/i` or `/load_balancers/i`.
fn pointer(plan: &Plan, name: &str) -> Option<String> {
    if let Some(i) = plan.brokers.iter().position(|b| b.name.as_str() == name) {
        return Some(format!("/brokers/{i}"));
    }
    plan.load_balancers
        .iter()
        .position(|l| l.name.as_str() == name)
        .map(|i| format!("/load_balancers/{i}"))
}

pub(super) fn check(old: &Side<'_>, new: &Side<'_>, out: &mut Out) {
    let (o, n) = (old.plan, new.plan);
    // A name that changes role would keep its Terraform key and node name
    // for a different machine: refuse.
    for h in &n.hosts {
        if let Some(was) = o.host(&h.name).filter(|was| was.role != h.role) {
            let role = |r: Role| match r {
                Role::Broker => "broker",
                Role::LoadBalancer => "load balancer",
            };
            out.refuse(
                Diagnostic::error(
                    Code::RoleChange,
                    format!("{}/name", pointer(n, &h.name).unwrap_or_default()),
                    format!(
                        "host {} is a {} in the old spec and a {} in the new one",
                        h.name,
                        role(was.role),
                        role(h.role)
                    ),
                )
                .hint("remove the host in one change and add it under a new name in the next: its Terraform key, node name and files belong to its role"),
            );
        }
    }

    let same_role = |p: &Plan, role: Role, other: &Plan| -> Vec<String> {
        hosts_with(p, role)
            .into_iter()
            .filter(|name| other.host(name).is_none_or(|h| h.role == role))
            .collect()
    };
    let (old_b, new_b) = (same_role(o, Role::Broker, n), same_role(n, Role::Broker, o));
    let removed: Vec<&String> = old_b.iter().filter(|b| !new_b.contains(b)).collect();
    let added: Vec<&String> = new_b.iter().filter(|b| !old_b.contains(b)).collect();

    let quorum = n.rabbitmq.policy.mode == QueueHaMode::Quorum;
    for name in &added {
        let at = pointer(n, name).unwrap_or_default();
        let host = n.host(name);
        let grow = if quorum {
            format!("`rabbitmq-queues grow rabbit@{name} all` on {name}, so existing quorum queues get a member on it (new queues place members by themselves)")
        } else {
            "the ha-mode policy adds a mirror on it to every matching queue; with ha-sync-mode manual, sync each queue (`rabbitmqctl sync_queue`)".to_string()
        };
        out.change(
            Change::new(
                ChangeKind::AddBroker,
                format!(
                    "add broker {name} ({}): it joins the running cluster",
                    host.map(|h| h.address.to_string()).unwrap_or_default()
                ),
            )
            .at(at)
            .hosts(vec![name.to_string()])
            .step("after the config changes above: every host's /etc/hosts names the new node before it joins, and HAProxy's backends list it (DOWN until it serves)")
            .step(format!("`terraform apply`: creates {name}'s VM and only its resources (every host's key, VM id and MAC derive from its own name)"))
            .step(format!("at first boot {name} finds the running brokers from cluster_formation.classic_config.nodes and joins them; wait for `rabbitmq-diagnostics check_running` on it and `rabbitmqctl cluster_status` listing it everywhere"))
            .step(grow)
            .step_if(
                o.rabbitmq.version != n.rabbitmq.version,
                format!(
                    "add it after the upgrade to {} is complete: it boots {} and must not join a cluster still running {}",
                    n.rabbitmq.version, n.rabbitmq.version, o.rabbitmq.version
                ),
            ),
        );
    }

    for name in &removed {
        let mut c = Change::new(
            ChangeKind::RemoveBroker,
            format!(
                "remove broker {name}: drain it, take it out of the cluster, then destroy its VM"
            ),
        )
        .at("/brokers")
        .hosts(vec![name.to_string()]);
        if quorum {
            c = c.step(format!("`rabbitmq-queues check_if_node_is_quorum_critical` on {name} passes (every quorum queue keeps a majority without it)"));
        } else {
            c = c.step(format!("`rabbitmq-queues check_if_node_is_mirror_sync_critical` on {name} passes (every mirrored queue has a synchronised mirror elsewhere)"));
        }
        c = c.step(format!(
            "`rabbitmq-upgrade drain` on {name}; HAProxy's backends stop sending to it"
        ));
        if quorum {
            c = c.step(format!(
                "`rabbitmq-queues shrink rabbit@{name}`: its quorum queue members leave"
            ));
        }
        c = c
            .step(format!("stop rabbitmq-server on {name}; on another broker `rabbitmqctl forget_cluster_node rabbit@{name}`"))
            .step("then the config changes below: the other hosts' files no longer name it")
            .step(format!("`terraform apply` destroys {name}'s VM and nothing else"));
        out.change(c);
    }
    if removed.len() > 1 {
        out.warn(
            Diagnostic::warning(
                Code::ShrinkBrokers,
                "/brokers",
                format!(
                    "{} brokers are removed in one change",
                    removed.len()
                ),
            )
            .hint("remove them one at a time, each after the previous one is forgotten, so every queue keeps a majority throughout"),
        );
    }
    if !removed.is_empty() && old_b.len() >= 3 && n.brokers.len() < 3 {
        out.warn(
            Diagnostic::warning(
                Code::ShrinkBrokers,
                "/brokers",
                format!(
                    "{} → {} brokers: the cluster no longer survives the loss of a broker (a majority of {} is {})",
                    old_b.len(),
                    n.brokers.len(),
                    n.brokers.len(),
                    n.brokers.len() / 2 + 1
                ),
            )
            .hint("keep at least 3 brokers; quorum queues and Khepri need a majority online"),
        );
    }

    let (old_l, new_l) = (
        same_role(o, Role::LoadBalancer, n),
        same_role(n, Role::LoadBalancer, o),
    );
    for name in new_l.iter().filter(|l| !old_l.contains(l)) {
        out.change(
            Change::new(
                ChangeKind::AddLoadBalancer,
                format!("add load balancer {name}: a new VRRP peer for the VIP"),
            )
            .at(pointer(n, name).unwrap_or_default())
            .hosts(vec![name.to_string()])
            .step("after the config changes above: the running load balancers list it as a unicast peer")
            .step(format!("`terraform apply`: creates {name}'s VM and only its resources; it starts as BACKUP unless it has the highest priority"))
            .step(format!("check HAProxy on {name} sees every broker UP before relying on it")),
        );
    }
    let holder = vip_holder(o);
    for name in old_l.iter().filter(|l| !new_l.contains(l)) {
        let mut c = Change::new(
            ChangeKind::RemoveLoadBalancer,
            format!("remove load balancer {name}"),
        )
        .at("/load_balancers")
        .hosts(vec![name.to_string()]);
        if holder == Some(name.as_str()) {
            // Its HAProxy carries the clients' connections: they are cut.
            c = c
                .disruptive()
                .step(format!("{name} has the highest priority, so it holds the VIP when all are healthy: stopping its keepalived moves the VIP to a backup and cuts the connections through it; check the new holder"));
        }
        out.change(
            c.step(format!("stop keepalived, then haproxy, on {name}"))
                .step(
                    "then the config changes below: the remaining load balancers drop it as a peer",
                )
                .step(format!(
                    "`terraform apply` destroys {name}'s VM and nothing else"
                )),
        );
    }

    identity(o, n, out);
}

/// Hosts kept by name whose address, MAC or VM id changes.
fn identity(o: &Plan, n: &Plan, out: &mut Out) {
    for h in &n.hosts {
        let Some(was) = o.host(&h.name).filter(|w| w.role == h.role) else {
            continue;
        };
        let mut what = Vec::new();
        if was.address != h.address {
            what.push(format!("address {} → {}", was.address, h.address));
        }
        if was.mac != h.mac {
            what.push(format!("MAC {} → {}", was.mac, h.mac));
        }
        let proxmox =
            o.target.provider == Provider::Proxmox && n.target.provider == Provider::Proxmox;
        if proxmox && *was.vm_id != *h.vm_id {
            what.push(format!("Proxmox VM id {} → {}", *was.vm_id, *h.vm_id));
        }
        if what.is_empty() {
            continue;
        }
        let at = pointer(n, &h.name).unwrap_or_default();
        out.change(
            Change::new(
                ChangeKind::HostIdentity,
                format!("host {} changes identity: {}", h.name, what.join(", ")),
            )
            .disruptive()
            .at(at)
            .hosts(vec![h.name.to_string()])
            .step("the address and MAC were set at first boot (cloud-init network config matched on the MAC) and a Proxmox VM id is the VM itself: Terraform replaces the VM or leaves it unreachable")
            .step(replace_as(h)),
        );
    }
}

fn replace_as(h: &Host) -> String {
    match h.role {
        Role::Broker => format!("do it as two changes: add a broker under a new name, then remove {}", h.name),
        Role::LoadBalancer => format!("do it as two changes: add a load balancer under a new name, then remove {} (the VIP moves if it holds it)", h.name),
    }
}

/// Hosts kept whose VM size changes: Terraform updates the VM, which
/// restarts it; one host at a time.
pub(super) fn resize(old: &Side<'_>, new: &Side<'_>, out: &mut Out) {
    let (o, n) = (old.plan, new.plan);
    let changed: BTreeSet<String> = n
        .hosts
        .iter()
        .filter(|h| {
            o.host(&h.name)
                .is_some_and(|w| w.role == h.role && w.resources != h.resources)
        })
        .map(|h| h.name.to_string())
        .collect();
    if changed.is_empty() {
        return;
    }
    let among: Vec<String> = changed.into_iter().collect();
    let mut order = broker_order(n, &among);
    order.extend(lb_order(n, &among));
    let sizes: Vec<String> = order
        .iter()
        .filter_map(|name| {
            let (w, h) = (o.host(name)?, n.host(name)?);
            Some(format!(
                "{name}: {} vCPU/{} MiB/{} GiB → {} vCPU/{} MiB/{} GiB",
                w.resources.vcpus,
                w.resources.memory_mib,
                w.resources.disk_gib,
                h.resources.vcpus,
                h.resources.memory_mib,
                h.resources.disk_gib
            ))
        })
        .collect();
    let mut c = Change::new(ChangeKind::Resize, format!("resize {}", order.join(", ")))
        .hosts(order.clone());
    for s in sizes {
        c = c.step(s);
    }
    c = c.step("Terraform changes the VM in place, which restarts it: apply one host at a time (`terraform apply -target` on its resources), brokers with the same gates as a rolling restart, load balancers with the VIP holder last; a disk only grows");
    // Restarting the VIP holder moves the VIP: a short interruption.
    if vip_holder(n).is_some_and(|h| order.iter().any(|o| o == h)) {
        c = c.disruptive();
    }
    out.change(c);
}
