//! What the Terraform root module needs of the spec: names that do not
//! clash inside it, and VM ids Proxmox accepts.
//!
//! Other provider settings need no rule here: both targets put every VM on
//! one Linux bridge, which carries VRRP's link-local multicast and unicast
//! alike, and every string that lands in HCL is written as an escaped
//! literal (and already restricted by the target and charset rules).

use std::collections::BTreeMap;

use super::charset::show;
use super::Sink;
use crate::diagnostic::Code;
use crate::plan::names::{
    TERRAFORM_OWN_VARIABLES as OWN_VARIABLES, TERRAFORM_RESERVED_VARIABLES as RESERVED_VARIABLES,
};
use crate::plan::target::VM_ID_SPAN;
use crate::plan::Plan;
use crate::spec::{Provider, SecretSource, Spec};

/// Proxmox VE guest ids.
const VM_IDS: std::ops::RangeInclusive<u64> = 100..=999_999_999;

pub(super) fn check(spec: &Spec, plan: &Plan, d: &mut Sink) {
    // The cookie, the users' passwords and the statistics password.
    for source in plan.secrets.iter().map(|s| &s.source) {
        let SecretSource::Variable { name } = &**source else {
            continue;
        };
        let why = if OWN_VARIABLES.contains(&name.as_str()) {
            "a variable rmqgen declares itself"
        } else if RESERVED_VARIABLES.contains(&name.as_str()) {
            "reserved by Terraform"
        } else {
            continue;
        };
        d.error(
            Code::TerraformName,
            source.child("name"),
            format!("Terraform variable name {} is {why}", show(name)),
            format!("choose another name, e.g. \"{name}_secret\""),
        );
    }

    // Each user's password becomes a template variable (and, when generated,
    // a random_password) named after the user; Terraform names keep only
    // lower-case letters, digits and '_'.
    let mut names: BTreeMap<String, &str> = BTreeMap::new();
    for u in &plan.rabbitmq.users {
        let Some(tf_name) = plan.secret(&u.password_secret).map(|s| s.tf_name.clone()) else {
            continue;
        };
        match names.get(&tf_name) {
            // An exact duplicate is the users rule's to report.
            Some(other) if *other != u.name.as_str() => d.error(
                Code::TerraformName,
                u.name.pointer(),
                format!(
                    "users {} and {} both become the Terraform name {tf_name}",
                    show(other),
                    show(&u.name)
                ),
                "rename one of them: case and punctuation do not tell Terraform names apart",
            ),
            Some(_) => {}
            None => {
                names.insert(tf_name, &u.name);
            }
        }
    }

    vm_ids(spec, plan, d);
}

/// Proxmox VM ids: each host's own `vm_id` or the id derived from its name
/// (base + hash mod [`VM_ID_SPAN`]), in Proxmox's range and unique. A
/// collision is blamed on a derived id (the host to give a `vm_id`), the
/// later host when both are derived or both written. Only for the Proxmox
/// target: libvirt has no VM ids.
fn vm_ids(spec: &Spec, plan: &Plan, d: &mut Sink) {
    if plan.target.provider != Provider::Proxmox {
        return;
    }
    let base = spec
        .target
        .as_ref()
        .and_then(|t| t.proxmox.as_ref())
        .and_then(|p| p.vm_id_base);
    if let Some(base) = base {
        let first = u64::from(base);
        let last = first + u64::from(VM_ID_SPAN) - 1;
        if !VM_IDS.contains(&first) || !VM_IDS.contains(&last) {
            d.error(
                Code::VmId,
                "/target/proxmox/vm_id_base",
                format!(
                    "derived VM ids {first}..={last} are not all inside Proxmox's {}..={}",
                    VM_IDS.start(),
                    VM_IDS.end()
                ),
                format!(
                    "use a base from {} to {} whose next {VM_ID_SPAN} ids are free on the cluster, e.g. 9100",
                    VM_IDS.start(),
                    VM_IDS.end() + 1 - u64::from(VM_ID_SPAN)
                ),
            );
        }
    }
    let mut seen: BTreeMap<u64, &crate::plan::Host> = BTreeMap::new();
    for h in plan.hosts.iter().map(|h| &**h) {
        let id = *h.vm_id;
        if h.vm_id.written() && !VM_IDS.contains(&id) {
            d.error(
                Code::VmId,
                h.vm_id.pointer(),
                format!(
                    "VM id {id} is outside Proxmox's {}..={}",
                    VM_IDS.start(),
                    VM_IDS.end()
                ),
                "use an id from 100 to 999999999 that is free on the cluster",
            );
        }
        let Some(other) = seen.get(&id) else {
            seen.insert(id, h);
            continue;
        };
        let (blamed, kept) = if !h.vm_id.written() || other.vm_id.written() {
            (h, *other)
        } else {
            // The written id stays; later hosts are compared with it.
            let other = *other;
            seen.insert(id, h);
            (other, h)
        };
        let how = |h: &crate::plan::Host| {
            if h.vm_id.written() {
                "its vm_id"
            } else {
                "derived from its name"
            }
        };
        d.error(
            Code::VmId,
            blamed.vm_id.pointer(),
            format!(
                "host {} gets VM id {id} ({}), which host {} has too ({})",
                show(&blamed.name),
                how(blamed),
                show(&kept.name),
                how(kept)
            ),
            format!(
                "set \"vm_id\" on host {} to an id that is free on the cluster (and keep it: a VM whose id changes is replaced)",
                show(&blamed.name)
            ),
        );
    }
}
