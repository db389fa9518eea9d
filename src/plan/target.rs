//! The virtualisation target.

use serde::Serialize;

use crate::spec::Provider;

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
