//! The virtualisation target.

use serde::Serialize;

use crate::spec::{DomainType, Provider, Spec};

/// Virtualisation target.
#[derive(Debug, Clone, Serialize)]
pub struct TargetPlan {
    /// Provider.
    pub provider: Provider,
    /// libvirt settings (defaults filled).
    pub libvirt: LibvirtPlan,
    /// Proxmox settings (defaults filled).
    pub proxmox: ProxmoxPlan,
}

/// libvirt settings.
#[derive(Debug, Clone, Serialize)]
pub struct LibvirtPlan {
    /// Connection URI.
    pub uri: String,
    /// Pool.
    pub pool: String,
    /// Bridge.
    pub bridge: String,
    /// Domain type (`kvm` unless the spec says `qemu`).
    pub domain_type: DomainType,
}

/// Proxmox settings.
#[derive(Debug, Clone, Serialize)]
pub struct ProxmoxPlan {
    /// Node.
    pub node: String,
    /// Bridge.
    pub bridge: String,
    /// Disk datastore.
    pub datastore: String,
    /// Snippets datastore.
    pub snippets_datastore: String,
    /// First VM id.
    pub vm_id_base: u32,
}

/// The target, defaults filled.
pub(super) fn resolve(spec: &Spec) -> TargetPlan {
    let target = spec.target.clone().unwrap_or_default();
    let text = |o: &Option<String>, d: &str| o.clone().unwrap_or_else(|| d.to_string());
    let lv = target.libvirt.clone().unwrap_or_default();
    let px = target.proxmox.clone().unwrap_or_default();
    TargetPlan {
        provider: target.provider.unwrap_or(Provider::Libvirt),
        libvirt: LibvirtPlan {
            uri: text(&lv.uri, "qemu:///system"),
            pool: text(&lv.pool, "default"),
            bridge: text(&lv.bridge, "br0"),
            domain_type: lv.domain_type.unwrap_or(DomainType::Kvm),
        },
        proxmox: ProxmoxPlan {
            node: text(&px.node, "pve"),
            bridge: text(&px.bridge, "vmbr0"),
            datastore: text(&px.datastore, "local-lvm"),
            snippets_datastore: text(&px.snippets_datastore, "local"),
            vm_id_base: px.vm_id_base.unwrap_or(9100),
        },
    }
}
