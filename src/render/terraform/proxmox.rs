//! bpg/proxmox 0.x (below 1.0, which renames every resource). Per node: a
//! VM whose disk is imported from one downloaded image (a cloud image, or
//! the cluster's NixOS image), and three cloud-init snippets (user-data,
//! meta-data, network config) uploaded to the node over SSH. VMs boot with
//! SeaBIOS from `virtio0` (`/dev/vda`, where the NixOS image has GRUB).
//!
//! The network config is a snippet (`network_data_file_id`) rather than
//! `initialization.ip_config`: Proxmox's generated config renames the NIC to
//! `eth0`, while keepalived binds the VIP on the plan's interface name and
//! the MTU has no `ip_config` field. The snippet is the same document the
//! libvirt module uses.

use hcl::expr::Expression;
use hcl::structure::Block;

use super::expr::{
    call, each_key, each_value, ignore_changes, list, path, resource, same_node, template,
    type_keyword, Part,
};
use super::{cloud_image_description, CloudInit, ProviderPin, Target, Variable};
use crate::plan::Plan;
use crate::spec::Provisioning;

pub(crate) use crate::plan::names::terraform_variables::{
    API_TOKEN, BASE_IMAGE_URL, ENDPOINT, INSECURE, NIXOS_IMAGE_URL, SSH_USERNAME,
};

/// The provider version `scripts/tf-providers.sh` builds and the tests
/// validate against (`tests/data/proxmox-0.111.1.schema.json`); `~>` keeps
/// to 0.111.x.
const PIN: ProviderPin = ProviderPin {
    name: "proxmox",
    source: "bpg/proxmox",
    version: "~> 0.111.1",
};

/// The cloud-init snippets: resource name and file name suffix.
const SNIPPETS: [(&str, &str); 3] = [
    ("user_data", "user-data"),
    ("meta_data", "meta-data"),
    ("network_config", "network-config"),
];

/// The image variable for the plan's provisioning, its description and the
/// file name of the downloaded image.
fn image(plan: &Plan) -> (&'static str, String, String) {
    match plan.provisioning {
        Provisioning::CloudInit => (
            BASE_IMAGE_URL,
            cloud_image_description("http(s) URL of the qcow2 cloud image the Proxmox node downloads and every VM's disk is imported from", plan),
            format!("{}-base.qcow2", plan.name),
        ),
        Provisioning::Nixos => (
            NIXOS_IMAGE_URL,
            "http(s) URL of the NixOS qcow2 image the Proxmox node downloads and every VM's disk is imported from: result/nixos.qcow2 of nix build ./nixos#image, served where the node can fetch it (BIOS boot, GRUB on vda, ext4 root labelled nixos, cloud-init for the first-boot seed).".to_string(),
            format!("{}-nixos.qcow2", plan.name),
        ),
    }
}

pub(super) fn target(plan: &Plan, docs: CloudInit) -> Target {
    let px = &plan.target.proxmox;
    let (image_var, image_description, image_file) = image(plan);
    let node_name = || path("local", &["proxmox_node"]);
    let for_each = || path("local", &["nodes"]);

    let provider = Block::builder("provider")
        .add_label("proxmox")
        .add_attribute(("endpoint", path("var", &[ENDPOINT])))
        .add_attribute(("api_token", path("var", &[API_TOKEN])))
        .add_attribute(("insecure", path("var", &[INSECURE])))
        // Snippets are uploaded over SSH: the API cannot write them.
        .add_block(
            Block::builder("ssh")
                .add_attribute(("agent", true))
                .add_attribute(("username", path("var", &[SSH_USERNAME])))
                .build(),
        )
        .build();

    let image = resource("proxmox_download_file", "base_image")
        .add_attribute(("content_type", "import"))
        .add_attribute(("datastore_id", path("local", &["snippets_datastore"])))
        .add_attribute(("node_name", node_name()))
        .add_attribute(("url", path("var", &[image_var])))
        .add_attribute(("file_name", image_file))
        // A newer upstream image must not replace the disks of running
        // brokers; re-import it deliberately (terraform apply -replace).
        .add_attribute(("overwrite", false))
        .build();

    // cloud-init runs once, at a VM's first boot; later changes reach the
    // hosts through a rollout. A snippet's new content would replace the
    // file resource, which leaves its id unknown until apply, and the VM's
    // `initialization` file ids force a new VM: a changed user-data would
    // destroy and recreate the brokers. The snippets keep what the VMs
    // first booted with.
    let mut snippets = Vec::new();
    for ((name, file), data) in
        SNIPPETS
            .iter()
            .zip([docs.user_data, docs.meta_data, docs.network_config])
    {
        snippets.push(
            resource("proxmox_virtual_environment_file", name)
                .add_attribute(("for_each", for_each()))
                .add_attribute(("content_type", "snippets"))
                .add_attribute(("datastore_id", path("local", &["snippets_datastore"])))
                .add_attribute(("node_name", node_name()))
                // The user-data holds the hosts' secrets; uploaded over SSH
                // the snippet would be 0644 (the SSH user's umask), readable
                // by every account on the node. The provider chmods it over
                // SFTP as the SSH user (root by default; a sudo user cannot).
                .add_attribute(("file_mode", "0600"))
                .add_block(
                    Block::builder("source_raw")
                        .add_attribute((
                            "file_name",
                            template(vec![
                                Part::Lit(format!("{}-", plan.name)),
                                Part::Expr(each_key()),
                                Part::Lit(format!("-{file}.yaml")),
                            ]),
                        ))
                        .add_attribute(("data", data))
                        .build(),
                )
                .add_block(ignore_changes(&["source_raw"]))
                .build(),
        );
    }

    let mut nic = Block::builder("network_device")
        .add_attribute(("bridge", path("local", &["bridge"])))
        .add_attribute(("model", "virtio"))
        .add_attribute(("mac_address", each_value("mac")));
    if let Some(mtu) = plan.network.mtu {
        nic = nic.add_attribute(("mtu", mtu));
    }
    let vm = resource("proxmox_virtual_environment_vm", "node")
        .add_attribute(("for_each", for_each()))
        .add_attribute(("name", each_key()))
        .add_attribute(("description", format!("rmqgen cluster {}", plan.name)))
        // Proxmox sorts tags; both roles sort before "rmqgen".
        .add_attribute(("tags", list([each_value("role"), "rmqgen".into()])))
        .add_attribute(("node_name", node_name()))
        .add_attribute(("vm_id", each_value("vm_id")))
        .add_attribute(("started", true))
        .add_attribute(("on_boot", true))
        // The images have no guest agent: stop instead of waiting for an
        // ACPI shutdown on destroy.
        .add_attribute(("stop_on_destroy", true))
        .add_block(
            Block::builder("cpu")
                .add_attribute(("cores", each_value("vcpus")))
                .add_attribute(("type", "x86-64-v2-AES"))
                .build(),
        )
        .add_block(
            Block::builder("memory")
                .add_attribute(("dedicated", each_value("memory_mib")))
                .build(),
        )
        .add_block(
            Block::builder("disk")
                .add_attribute(("datastore_id", path("local", &["datastore"])))
                .add_attribute((
                    "import_from",
                    path("proxmox_download_file", &["base_image", "id"]),
                ))
                .add_attribute(("interface", "virtio0"))
                .add_attribute(("size", each_value("disk_gib")))
                .add_attribute(("discard", "on"))
                .add_attribute(("iothread", true))
                .build(),
        )
        .add_block(nic.build())
        .add_block(
            Block::builder("initialization")
                .add_attribute(("datastore_id", path("local", &["datastore"])))
                .add_attribute((
                    "user_data_file_id",
                    same_node("proxmox_virtual_environment_file", "user_data", "id"),
                ))
                .add_attribute((
                    "meta_data_file_id",
                    same_node("proxmox_virtual_environment_file", "meta_data", "id"),
                ))
                .add_attribute((
                    "network_data_file_id",
                    same_node("proxmox_virtual_environment_file", "network_config", "id"),
                ))
                .build(),
        )
        .add_block(
            Block::builder("operating_system")
                .add_attribute(("type", "l26"))
                .build(),
        )
        // Cloud images log their boot to the first serial port.
        .add_block(Block::builder("serial_device").build())
        .build();

    let https = call(
        "can",
        [call(
            "regex",
            [Expression::from("^https?://"), path("var", &[image_var])],
        )],
    );
    let variables = vec![
        Variable::new(image_var, image_description, type_keyword("string")).validation(
            https,
            format!("{image_var} must be an http:// or https:// URL."),
        ),
        Variable::new(
            API_TOKEN,
            "Proxmox VE API token, USER@REALM!TOKENID=SECRET.",
            type_keyword("string"),
        )
        .sensitive(),
        Variable::new(
            ENDPOINT,
            "Proxmox VE API endpoint, e.g. https://pve.example.internal:8006/.",
            type_keyword("string"),
        ),
        Variable::new(
            INSECURE,
            "Skip TLS verification of the Proxmox VE API (self-signed certificate).",
            type_keyword("bool"),
        )
        .default(false.into()),
        Variable::new(
            SSH_USERNAME,
            "User that uploads the cloud-init snippets to the node over SSH (keys from ssh-agent).",
            type_keyword("string"),
        )
        .default("root".into()),
    ];

    // Each host's id, as the plan resolved it (its own or derived from its
    // name): adding a host moves no other host's id.
    let node_fields = plan
        .hosts
        .iter()
        .map(|h| vec![("vm_id", Expression::from(*h.vm_id))])
        .collect();

    let mut resources = vec![image];
    resources.extend(snippets);
    resources.push(vm);
    Target {
        pin: PIN,
        provider,
        variables,
        locals: vec![
            ("proxmox_node", Expression::String(px.node.clone())),
            ("bridge", Expression::String(px.bridge.clone())),
            ("datastore", Expression::String(px.datastore.clone())),
            (
                "snippets_datastore",
                Expression::String(px.snippets_datastore.clone()),
            ),
        ],
        node_fields,
        resources,
    }
}
