//! Names rmqgen's outputs take for themselves, so a spec may not use them.
//! The renderers write them and validation checks against them; neither
//! imports the other.

/// Stems of the files in `nixos/` that are not host files (`site.nix` is
/// the operator's). A host of one of these names would have no file of its
/// own: validation rejects them.
pub(crate) const NIXOS_OWN_FILES: &[&str] = &["common", "flake", "image", "site"];

/// Terraform input variables rmqgen declares itself.
pub(crate) mod terraform_variables {
    /// The base image (libvirt, cloud-init provisioning).
    pub(crate) const BASE_IMAGE: &str = "base_image";
    /// The NixOS image (libvirt, NixOS provisioning).
    pub(crate) const NIXOS_IMAGE: &str = "nixos_image";
    /// The cloud image URL (Proxmox, cloud-init provisioning).
    pub(crate) const BASE_IMAGE_URL: &str = "base_image_url";
    /// The NixOS image URL (Proxmox, NixOS provisioning).
    pub(crate) const NIXOS_IMAGE_URL: &str = "nixos_image_url";
    /// The Proxmox API endpoint.
    pub(crate) const ENDPOINT: &str = "proxmox_endpoint";
    /// The Proxmox API token (sensitive).
    pub(crate) const API_TOKEN: &str = "proxmox_api_token";
    /// Skips TLS verification of the Proxmox API.
    pub(crate) const INSECURE: &str = "proxmox_insecure";
    /// The SSH user for Proxmox snippet uploads.
    pub(crate) const SSH_USERNAME: &str = "proxmox_ssh_username";
}

/// Variables rmqgen declares itself, for any provider. A secret's
/// `{"from": "variable"}` name must not be one of them (validation checks).
pub(crate) const TERRAFORM_OWN_VARIABLES: &[&str] = {
    use terraform_variables::*;
    &[
        BASE_IMAGE,
        NIXOS_IMAGE,
        BASE_IMAGE_URL,
        NIXOS_IMAGE_URL,
        API_TOKEN,
        ENDPOINT,
        INSECURE,
        SSH_USERNAME,
    ]
};

/// Names Terraform does not allow for input variables.
pub(crate) const TERRAFORM_RESERVED_VARIABLES: &[&str] = &[
    "count",
    "depends_on",
    "for_each",
    "lifecycle",
    "locals",
    "providers",
    "source",
    "version",
];
