//! dmacvicar/libvirt 0.8 (the SDKv2 provider: nested settings are blocks).
//! Per node: a copy-on-write qcow2 disk over one base image volume (a
//! cloud image, or the cluster's NixOS image), a cloud-init ISO
//! (`libvirt_cloudinit_disk`, which the domain's `cloudinit` attaches as an
//! IDE cdrom) and a domain on the host bridge with the node's MAC and a
//! serial console. Domains boot with the default BIOS firmware on the
//! provider's default machine (`pc`: the cloud-init cdrom is on IDE, which
//! q35 lacks) from the first virtio disk (`vda`), where the NixOS image has
//! GRUB (`nixos/common.nix`).
//!
//! Why 0.8 and not 0.9 (a rewrite with another schema): the 0.9 releases
//! declare the module path `github.com/dmacvicar/terraform-provider-libvirt/v2`
//! while tagging v0.9.x, so no Go module proxy serves them and the tests
//! cannot build the provider to prove the module against it;
//! 0.8.3 is built from source and checked by `terraform validate`
//! (`scripts/tf-providers.sh`, `tests/terraform_tools.rs`).
//!
//! The provider's `libvirt_cloudinit_disk` runs `mkisofs` on the machine
//! that runs Terraform (Debian: `genisoimage`).

use hcl::expr::{BinaryOperator, Expression};
use hcl::structure::Block;

use super::expr::{
    each_key, each_value, ignore_changes, op, path, resource, same_node, template, Part,
};
use super::{cloud_image_description, CloudInit, ProviderPin, Target, Variable};
use crate::error::Error;
use crate::plan::Plan;
use crate::spec::{DomainType, Provisioning};

pub(crate) use crate::plan::names::terraform_variables::{BASE_IMAGE, NIXOS_IMAGE};

/// The image variable for the plan's provisioning, its description and the
/// name of the base volume in the pool.
fn image(plan: &Plan) -> (&'static str, String, String) {
    match plan.provisioning {
        Provisioning::CloudInit => (
            BASE_IMAGE,
            cloud_image_description("URL or local path of the qcow2 cloud image every VM boots from", plan),
            format!("{}-base.qcow2", plan.name),
        ),
        Provisioning::Nixos => (
            NIXOS_IMAGE,
            "URL or absolute path of the NixOS qcow2 image every VM boots from, built from the rendered flake: nix build ./nixos#image gives result/nixos.qcow2 (BIOS boot, GRUB on vda, ext4 root labelled nixos, cloud-init for the first-boot seed).".to_string(),
            format!("{}-nixos.qcow2", plan.name),
        ),
    }
}

/// The provider version `scripts/tf-providers.sh` builds and the tests
/// validate against (`tests/data/libvirt-0.8.3.schema.json`); `~>` keeps
/// to 0.8.x.
const PIN: ProviderPin = ProviderPin {
    name: "libvirt",
    source: "dmacvicar/libvirt",
    version: "~> 0.8.3",
};

/// The domain type and the guest CPU mode that works with it: current
/// distributions need x86-64-v2, which QEMU's default model lacks. Under
/// KVM the guest sees the host's CPU; TCG cannot pass the host CPU through
/// and emulates QEMU's `max` model instead (libvirt's `maximum` mode).
fn domain_type(t: DomainType) -> (&'static str, &'static str) {
    match t {
        DomainType::Kvm => ("kvm", "host-passthrough"),
        DomainType::Qemu => ("qemu", "maximum"),
    }
}

pub(super) fn target(plan: &Plan, docs: CloudInit) -> Result<Target, Error> {
    let lv = &plan.target.libvirt;
    let (image_var, image_description, base_name) = image(plan);
    let pool = || path("local", &["pool"]);
    let for_each = || path("local", &["nodes"]);

    let provider = Block::builder("provider")
        .add_label("libvirt")
        .add_attribute(("uri", lv.uri.clone()))
        .build();

    let base = resource("libvirt_volume", "base")
        .add_attribute(("name", base_name))
        .add_attribute(("pool", pool()?))
        .add_attribute(("source", path("var", &[image_var])?))
        .add_attribute(("format", "qcow2"))
        // A new image (another path, or the provider seeing a different
        // file) replaces this volume and with it every disk built on it:
        // the brokers' data. Re-import it deliberately instead
        // (terraform apply -replace=libvirt_volume.base).
        .add_block(ignore_changes(&["source"])?)
        .build();

    let disk = resource("libvirt_volume", "disk")
        .add_attribute(("for_each", for_each()?))
        .add_attribute((
            "name",
            template(vec![Part::Expr(each_key()?), Part::Lit(".qcow2".into())])?,
        ))
        .add_attribute(("pool", pool()?))
        .add_attribute(("base_volume_id", path("libvirt_volume", &["base", "id"])?))
        .add_attribute((
            "size",
            // GiB in bytes: the provider takes bytes.
            [1024, 1024, 1024]
                .into_iter()
                .try_fold(each_value("disk_gib")?, |acc, n| {
                    Ok::<_, Error>(op(acc, BinaryOperator::Mul, Expression::from(n)))
                })?,
        ))
        .add_attribute(("format", "qcow2"))
        .build();

    // cloud-init runs once, at a VM's first boot; later changes reach the
    // hosts through a rollout. Every content attribute forces a new ISO
    // (its id changes, the domain swaps the cdrom), which would only churn
    // the running VMs' seed: the ISO keeps what the VM first booted with.
    let seed = resource("libvirt_cloudinit_disk", "seed")
        .add_attribute(("for_each", for_each()?))
        .add_attribute((
            "name",
            template(vec![
                Part::Expr(each_key()?),
                Part::Lit("-cloudinit.iso".into()),
            ])?,
        ))
        .add_attribute(("pool", pool()?))
        .add_attribute(("user_data", docs.user_data))
        .add_attribute(("meta_data", docs.meta_data))
        .add_attribute(("network_config", docs.network_config))
        .add_block(ignore_changes(&[
            "user_data",
            "meta_data",
            "network_config",
        ])?)
        .build();

    // The NIC follows the bridge's MTU (libvirt sets the tap device's MTU
    // to the bridge's); the guest's comes from the network config.
    let (kind, cpu_mode) = domain_type(lv.domain_type);
    let domain = resource("libvirt_domain", "node")
        .add_attribute(("for_each", for_each()?))
        .add_attribute(("name", each_key()?))
        .add_attribute(("type", kind))
        .add_attribute(("vcpu", each_value("vcpus")?))
        // MiB: the provider's unit.
        .add_attribute(("memory", each_value("memory_mib")?))
        .add_attribute(("running", true))
        .add_attribute(("autostart", true))
        .add_attribute((
            "cloudinit",
            same_node("libvirt_cloudinit_disk", "seed", "id")?,
        ))
        .add_block(
            Block::builder("cpu")
                .add_attribute(("mode", cpu_mode))
                .build(),
        )
        .add_block(
            Block::builder("disk")
                .add_attribute(("volume_id", same_node("libvirt_volume", "disk", "id")?))
                .build(),
        )
        .add_block(
            Block::builder("network_interface")
                .add_attribute(("bridge", path("local", &["bridge"])?))
                .add_attribute(("mac", each_value("mac")?))
                .build(),
        )
        // Cloud images log their boot to the first serial port; `virsh
        // console` reaches the VM without a network.
        .add_block(
            Block::builder("console")
                .add_attribute(("type", "pty"))
                .add_attribute(("target_type", "serial"))
                .add_attribute(("target_port", "0"))
                .build(),
        )
        .build();

    Ok(Target {
        pin: PIN,
        provider,
        variables: vec![Variable::new(
            image_var,
            image_description,
            super::expr::type_keyword("string")?,
        )],
        locals: vec![
            ("pool", Expression::String(lv.pool.clone())),
            ("bridge", Expression::String(lv.bridge.clone())),
        ],
        node_fields: Vec::new(),
        resources: vec![base, disk, seed, domain],
    })
}
