//! The virtualisation target.

use serde::Serialize;

use super::{defaults, Size};
use crate::spec::{DomainType, Provider, Resources, Spec};

/// Virtualisation target.
#[derive(Debug, Clone, Serialize)]
pub struct TargetPlan {
    /// Provider.
    pub provider: Provider,
    /// libvirt settings (defaults filled).
    pub libvirt: LibvirtPlan,
    /// Proxmox settings (defaults filled).
    pub proxmox: ProxmoxPlan,
    /// Each role's VM size (`target.resources`, defaults filled); a
    /// host's own `resources` override it field by field
    /// ([`super::Host::resources`]).
    pub sizes: RoleSizes,
}

/// The VM size of each role.
#[derive(Debug, Clone, Serialize)]
pub struct RoleSizes {
    /// Brokers'.
    pub broker: Size,
    /// Load balancers'.
    pub load_balancer: Size,
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
    /// Base of the derived VM ids (each host's id is in
    /// [`super::Host::vm_id`]).
    pub vm_id_base: u32,
}

/// The target, defaults filled.
pub(super) fn resolve(spec: &Spec) -> TargetPlan {
    let target = spec.target.clone().unwrap_or_default();
    let text = |o: &Option<String>, d: &str| o.clone().unwrap_or_else(|| d.to_string());
    let lv = target.libvirt.clone().unwrap_or_default();
    let px = target.proxmox.clone().unwrap_or_default();
    let sizes = target.resources.clone().unwrap_or_default();
    let role = |role: &str, own: Option<&Resources>, default| {
        let at = format!("/target/resources/{role}");
        Size::resolve(&at, own, &Size::default_at(&at, default))
    };
    TargetPlan {
        sizes: RoleSizes {
            broker: role("broker", sizes.broker.as_ref(), defaults::BROKER_SIZE),
            load_balancer: role(
                "load_balancer",
                sizes.load_balancer.as_ref(),
                defaults::LOAD_BALANCER_SIZE,
            ),
        },
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

/// Derived VM ids lie in `vm_id_base .. vm_id_base + VM_ID_SPAN`.
pub const VM_ID_SPAN: u32 = 10_000;

/// A host's derived Proxmox VM id: the base plus SHA-256 over the cluster
/// and host names, mod [`VM_ID_SPAN`]. It depends on nothing else, so adding,
/// removing or reordering other hosts never moves it (a VM id is the VM's
/// identity: Terraform replaces a VM whose id changes). Two hosts whose
/// derived ids collide are a validation error whose hint is to set one
/// host's `vm_id`; there is no probing, which would make one host's id
/// depend on the others.
pub(crate) fn derived_vm_id(base: u32, cluster: &str, name: &str) -> u64 {
    let d = name_hash(cluster, name, b"vm-id");
    let n = u32::from_be_bytes([d[0], d[1], d[2], d[3]]);
    u64::from(base) + u64::from(n % VM_ID_SPAN)
}

/// SHA-256 over the cluster name, the host name and a purpose tag, each
/// NUL-terminated.
pub(crate) fn name_hash(cluster: &str, name: &str, purpose: &[u8]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    for part in [cluster.as_bytes(), name.as_bytes()] {
        hasher.update(part);
        hasher.update([0u8]);
    }
    hasher.update(purpose);
    hasher.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_vm_ids_depend_only_on_the_cluster_and_host_name() {
        let id = derived_vm_id(9100, "mq", "mq-1");
        assert!((9100..9100 + u64::from(VM_ID_SPAN)).contains(&id), "{id}");
        assert_eq!(derived_vm_id(9100, "mq", "mq-1"), id);
        assert_eq!(derived_vm_id(200, "mq", "mq-1"), id - 9100 + 200);
        assert_ne!(derived_vm_id(9100, "other", "mq-1"), id);
        // Spread over the span: 200 names take many distinct ids.
        let ids: std::collections::BTreeSet<u64> = (0..200)
            .map(|i| derived_vm_id(0, "mq", &format!("h{i}")))
            .collect();
        assert!(ids.len() > 190, "{}", ids.len());
    }
}
