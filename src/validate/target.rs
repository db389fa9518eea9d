//! The virtualisation target and VM sizes.

use super::charset::{is_printable, show};
use super::Sink;
use crate::diagnostic::Code;
use crate::plan::Plan;
use crate::spec::Spec;

pub(super) fn check(spec: &Spec, plan: &Plan, d: &mut Sink) {
    let target = spec.target.clone().unwrap_or_default();
    // Each role's size, then each host's (a host that takes a field from
    // its role repeats the role's diagnostic, which the sink drops).
    let sizes = &plan.target.sizes;
    let all = [&sizes.broker, &sizes.load_balancer]
        .into_iter()
        .chain(plan.hosts.iter().map(|h| &h.resources));
    for size in all {
        for (key, v, min) in [
            ("vcpus", &size.vcpus, 1),
            ("memory_mib", &size.memory_mib, 512),
            ("disk_gib", &size.disk_gib, 4),
        ] {
            if v.written() && **v < min {
                d.error(
                    Code::Resources,
                    v.pointer(),
                    format!("{key} = {} is below the minimum of {min}", **v),
                    format!("use at least {min}"),
                );
            }
        }
    }

    let mut text = |p: &str, v: &Option<String>| {
        if let Some(v) = v {
            if !is_printable(v, 255) || v.contains("${") || v.contains("%{") {
                d.error(
                    Code::Charset,
                    p,
                    format!(
                        "{} must be printable ASCII without template sequences",
                        show(v)
                    ),
                    "use the plain name or URI",
                );
            }
        }
    };
    if let Some(lv) = &target.libvirt {
        text("/target/libvirt/uri", &lv.uri);
        text("/target/libvirt/pool", &lv.pool);
        text("/target/libvirt/bridge", &lv.bridge);
    }
    if let Some(px) = &target.proxmox {
        text("/target/proxmox/node", &px.node);
        text("/target/proxmox/bridge", &px.bridge);
        text("/target/proxmox/datastore", &px.datastore);
        text("/target/proxmox/snippets_datastore", &px.snippets_datastore);
    }
}
