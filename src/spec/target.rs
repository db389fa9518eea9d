use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Where the virtual machines run.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// Virtualisation provider. Default: `libvirt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<Provider>,
    /// VM sizes per role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<RoleResources>,
    /// libvirt settings (used when `provider` is `libvirt`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub libvirt: Option<Libvirt>,
    /// Proxmox VE settings (used when `provider` is `proxmox`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxmox: Option<Proxmox>,
}

/// Virtualisation provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// KVM through libvirt (dmacvicar/libvirt).
    Libvirt,
    /// Proxmox VE (bpg/proxmox).
    Proxmox,
}

/// VM sizes per role.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleResources {
    /// Brokers. Default: 2 vCPU, 4096 MiB, 40 GiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broker: Option<Resources>,
    /// Load balancers. Default: 1 vCPU, 1024 MiB, 10 GiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_balancer: Option<Resources>,
}

/// A VM size; unset fields take the role's default.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    /// Virtual CPUs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vcpus: Option<u32>,
    /// Memory in MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mib: Option<u32>,
    /// System disk in GiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_gib: Option<u32>,
}

/// libvirt settings.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Libvirt {
    /// libvirt connection URI. Default: `qemu:///system`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// Storage pool for volumes. Default: `default`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<String>,
    /// Host bridge that puts every VM on the same L2 segment (VRRP needs
    /// it). Default: `br0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bridge: Option<String>,
    /// libvirt domain type: `kvm` (hardware virtualisation) or `qemu`
    /// (QEMU's TCG emulator, for hosts without usable KVM, e.g. nested
    /// virtualisation that does not work; much slower). Default: `kvm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain_type: Option<DomainType>,
}

/// libvirt domain type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DomainType {
    /// KVM: hardware virtualisation; the guest sees the host's CPU.
    Kvm,
    /// QEMU's TCG emulator: no hardware virtualisation needed; the guest
    /// sees QEMU's `max` CPU model.
    Qemu,
}

/// Proxmox VE settings.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Proxmox {
    /// Proxmox node that hosts the VMs. Default: `pve`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Bridge on the node. Default: `vmbr0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bridge: Option<String>,
    /// Datastore for disks. Default: `local-lvm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datastore: Option<String>,
    /// Datastore for cloud-init snippets (needs the `snippets` content
    /// type). Default: `local`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snippets_datastore: Option<String>,
    /// First VM id; hosts get consecutive ids. Default: 9100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vm_id_base: Option<u32>,
}
