//! The virtualisation target and VM sizes.

use super::charset::{is_printable, show};
use super::Sink;
use crate::diagnostic::Code;
use crate::spec::{Resources, Spec};

pub(super) fn check(spec: &Spec, d: &mut Sink) {
    let target = spec.target.clone().unwrap_or_default();
    let sizes = target.resources.clone().unwrap_or_default();
    let mut each = |p: String, r: &Option<Resources>| {
        let Some(r) = r else { return };
        for (key, v, min) in [
            ("vcpus", r.vcpus, 1),
            ("memory_mib", r.memory_mib, 512),
            ("disk_gib", r.disk_gib, 4),
        ] {
            if let Some(v) = v {
                if v < min {
                    d.error(
                        Code::Resources,
                        format!("{p}/{key}"),
                        format!("{key} = {v} is below the minimum of {min}"),
                        format!("use at least {min}"),
                    );
                }
            }
        }
    };
    each("/target/resources/broker".into(), &sizes.broker);
    each(
        "/target/resources/load_balancer".into(),
        &sizes.load_balancer,
    );
    for (i, b) in spec.brokers.iter().enumerate() {
        each(format!("/brokers/{i}/resources"), &b.resources);
    }
    for (i, l) in spec.load_balancers.iter().enumerate() {
        each(format!("/load_balancers/{i}/resources"), &l.resources);
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
