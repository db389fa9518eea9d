//! dmacvicar/libvirt 0.9 (a rewrite of 0.8: nested settings are attributes,
//! not blocks). Per node: a copy-on-write disk over one base image volume
//! (a cloud image, or the cluster's NixOS image), a cloud-init ISO built
//! locally by `libvirt_cloudinit_disk` and uploaded as a volume, and a
//! domain on the host bridge with the node's MAC. Domains boot with the
//! default BIOS firmware from the first virtio disk (`vda`), where the
//! NixOS image has GRUB (`nixos/common.nix`).

use hcl::expr::{BinaryOperator, Expression};
use hcl::structure::Block;

use super::expr::{each_key, each_value, object, op, path, resource, same_node, template, Part};
use super::{cloud_image_description, CloudInit, ProviderPin, Target, Variable};
use crate::plan::Plan;
use crate::spec::Provisioning;

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

const PIN: ProviderPin = ProviderPin {
    name: "libvirt",
    // 0.9.1 introduced `target.format`; 0.9.7 is the schema rmqgen is
    // checked against (tests/data/libvirt-0.9.7.attributes.json).
    source: "dmacvicar/libvirt",
    version: "~> 0.9.7",
};

fn volume_format(kind: &str) -> Expression {
    object([("format", object([("type", Expression::from(kind))]))])
}

fn volume_source(name: &str) -> Expression {
    object([(
        "volume",
        object([
            ("pool", same_node("libvirt_volume", name, "pool")),
            ("volume", same_node("libvirt_volume", name, "name")),
        ]),
    )])
}

pub(super) fn target(plan: &Plan, docs: CloudInit) -> Target {
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
        .add_attribute(("pool", pool()))
        .add_attribute(("target", volume_format("qcow2")))
        .add_attribute((
            "create",
            object([("content", object([("url", path("var", &[image_var]))]))]),
        ))
        .build();

    let disk = resource("libvirt_volume", "disk")
        .add_attribute(("for_each", for_each()))
        .add_attribute((
            "name",
            template(vec![Part::Expr(each_key()), Part::Lit(".qcow2".into())]),
        ))
        .add_attribute(("pool", pool()))
        .add_attribute((
            "capacity",
            // GiB in bytes: the provider takes bytes.
            [1024, 1024, 1024]
                .into_iter()
                .fold(each_value("disk_gib"), |acc, n| {
                    op(acc, BinaryOperator::Mul, Expression::from(n))
                }),
        ))
        .add_attribute(("target", volume_format("qcow2")))
        .add_attribute((
            "backing_store",
            object([
                ("path", path("libvirt_volume", &["base", "path"])),
                ("format", object([("type", Expression::from("qcow2"))])),
            ]),
        ))
        .build();

    let seed = resource("libvirt_cloudinit_disk", "seed")
        .add_attribute(("for_each", for_each()))
        .add_attribute((
            "name",
            template(vec![Part::Expr(each_key()), Part::Lit("-cloudinit".into())]),
        ))
        .add_attribute(("user_data", docs.user_data))
        .add_attribute(("meta_data", docs.meta_data))
        .add_attribute(("network_config", docs.network_config))
        .build();

    let seed_volume = resource("libvirt_volume", "seed")
        .add_attribute(("for_each", for_each()))
        .add_attribute((
            "name",
            template(vec![
                Part::Expr(each_key()),
                Part::Lit("-cloudinit.iso".into()),
            ]),
        ))
        .add_attribute(("pool", pool()))
        .add_attribute(("target", volume_format("raw")))
        .add_attribute((
            "create",
            object([(
                "content",
                object([("url", same_node("libvirt_cloudinit_disk", "seed", "path"))]),
            )]),
        ))
        .build();

    let mut interface = vec![
        ("model", object([("type", Expression::from("virtio"))])),
        ("mac", object([("address", each_value("mac"))])),
        (
            "source",
            object([("bridge", object([("bridge", path("local", &["bridge"]))]))]),
        ),
    ];
    if let Some(mtu) = plan.network.mtu {
        interface.push(("mtu", object([("size", mtu.into())])));
    }
    let domain = resource("libvirt_domain", "node")
        .add_attribute(("for_each", for_each()))
        .add_attribute(("name", each_key()))
        .add_attribute(("type", "kvm"))
        .add_attribute(("vcpu", each_value("vcpus")))
        .add_attribute(("memory", each_value("memory_mib")))
        .add_attribute(("memory_unit", "MiB"))
        .add_attribute(("running", true))
        .add_attribute(("autostart", true))
        // Guests see the host's CPU: current distributions need x86-64-v2,
        // which QEMU's default model lacks.
        .add_attribute((
            "cpu",
            object([("mode", Expression::from("host-passthrough"))]),
        ))
        .add_attribute((
            "os",
            object([
                ("type", Expression::from("hvm")),
                ("type_arch", Expression::from("x86_64")),
                ("type_machine", Expression::from("q35")),
            ]),
        ))
        .add_attribute((
            "devices",
            object([
                (
                    "disks",
                    Expression::Array(vec![
                        object([
                            ("source", volume_source("disk")),
                            (
                                "target",
                                object([
                                    ("dev", Expression::from("vda")),
                                    ("bus", Expression::from("virtio")),
                                ]),
                            ),
                            ("driver", object([("type", Expression::from("qcow2"))])),
                        ]),
                        object([
                            ("device", Expression::from("cdrom")),
                            ("source", volume_source("seed")),
                            (
                                "target",
                                object([
                                    ("dev", Expression::from("sda")),
                                    ("bus", Expression::from("sata")),
                                ]),
                            ),
                            ("driver", object([("type", Expression::from("raw"))])),
                        ]),
                    ]),
                ),
                ("interfaces", Expression::Array(vec![object(interface)])),
            ]),
        ))
        .build();

    Target {
        pin: PIN,
        provider,
        variables: vec![Variable::new(
            image_var,
            image_description,
            super::expr::type_keyword("string"),
        )],
        locals: vec![
            ("pool", Expression::String(lv.pool.clone())),
            ("bridge", Expression::String(lv.bridge.clone())),
        ],
        node_fields: Vec::new(),
        resources: vec![base, disk, seed, seed_volume, domain],
    }
}
