//! NixOS provisioning (`provisioning: "nixos"`): a flake that deploys every
//! host with `nixos-rebuild switch --flake .#HOST --target-host root@ADDR`.
//!
//! ```text
//! nixos/flake.nix        nixosConfigurations.<host>, packages.x86_64-linux.image,
//!                        nixpkgs pinned to a release
//! nixos/common.nix       what every host shares: VM disk and boot, SSH, stateVersion
//! nixos/image.nix        what only the first-boot image adds: cloud-init for
//!                        Terraform's seed (network config, secrets)
//! nixos/<host>.nix       host name, NIC name, static address, /etc/hosts, the role's options
//! nixos/rmqgen/*.nix     rmqgen's NixOS modules, byte for byte as in modules/
//! ```
//!
//! Terraform boots every VM from one image, `nix build .#image` (common.nix
//! and image.nix, no role). Its cloud-init reads the seed Terraform attaches:
//! the network config (the host's address, the NIC renamed by MAC) and a
//! user-data that writes only the host's secrets, straight to disk, at the
//! paths the modules read. `nixos-rebuild switch --flake .#HOST` then
//! replaces the image's configuration with the host's, which owns the
//! network from there on (and no longer runs cloud-init).
//!
//! The modules travel with the hosts (rather than as a flake input) so the
//! options a host file sets are always the ones that rmqgen version defines.
//!
//! One source per role file: a host file hands the modules the very role
//! files the cloud-init path installs ([`Roles`]): rabbitmq.conf,
//! enabled_plugins, definitions.json, haproxy.cfg, keepalived.conf and the
//! check, connection-reset and bootstrap scripts, as text. The modules
//! install them unchanged and wire the services around them; the few typed options a host file still sets
//! are that wiring (node name, ports to open, the VIP a dead keepalived
//! leaves behind, where the secrets are), from the same [`Plan`] fields the
//! templates read. No secret is in any of these files: they name the paths
//! where the secrets are provided on the hosts.

use serde::Serialize;

use super::nix::{self, AttrPath, Entry, Value};
use super::{render_template, Roles};
use crate::error::Error;
use crate::plan::{defaults, paths, Broker, Host, Plan};
use crate::roles::{LoadBalancerFiles, RoleFile};

/// rmqgen's NixOS modules (`modules/` in the repository), embedded at
/// compile time and written to `nixos/rmqgen/`.
pub const MODULES: &[(&str, &str)] = &[
    ("default.nix", include_str!("../../modules/default.nix")),
    ("broker.nix", include_str!("../../modules/broker.nix")),
    (
        "load-balancer.nix",
        include_str!("../../modules/load-balancer.nix"),
    ),
    (
        "keepalived.nix",
        include_str!("../../modules/keepalived.nix"),
    ),
    (
        "installed-file.nix",
        include_str!("../../modules/installed-file.nix"),
    ),
];

/// The disk of the VM image (nixpkgs' `make-disk-image`, as
/// nixos-generators' qcow format builds it): an ext4 root labelled `nixos`,
/// GRUB on the first virtio disk.
const ROOT_DEVICE: &str = "/dev/disk/by-label/nixos";
const GRUB_DEVICE: &str = "/dev/vda";

fn attrs(entries: Vec<Entry>) -> Value {
    Value::Attrs(entries)
}

/// A role module's `files.<name>` entry: the mode and owner of a role file
/// as its placement gives them, the ones cloud-init installs it with.
fn installed(name: &str, file: &RoleFile) -> Entry {
    Entry::new(
        name,
        attrs(vec![
            Entry::new("mode", format!("{:04o}", file.mode)),
            Entry::new("user", file.owner.as_str()),
            Entry::new("group", file.group.as_str()),
        ]),
    )
}

/// The NIC with the host's MAC (the one Terraform gives the VM) gets the
/// plan's interface name, as cloud-init names it on the image's first
/// boot: the name the address and the VIP are configured on. udev applies
/// link units with or without networkd.
fn nic_name(plan: &Plan, host: &Host) -> Entry {
    Entry::segments(
        AttrPath::new(
            "systemd",
            ["network".into(), "links".into(), "10-rmqgen".into()],
        ),
        attrs(vec![
            Entry::new("matchConfig.PermanentMACAddress", host.mac.as_str()),
            Entry::new("linkConfig.Name", plan.network.interface.as_str()),
        ]),
    )
    .comment("The NIC Terraform created with this MAC, named as the network settings\nbelow expect (predictable names depend on the virtual hardware).")
}

/// `networking` of one host: name, static address, resolvers and every
/// host of the cluster in /etc/hosts.
fn networking(plan: &Plan, host: &Host) -> Value {
    let net = &plan.network;
    let mut entries = vec![Entry::new("hostName", host.name.as_str())];
    if let Some(domain) = &plan.domain {
        entries.push(Entry::new("domain", domain.as_str()));
    }
    entries.push(Entry::new("useDHCP", false));
    let mut iface = vec![Entry::new(
        "ipv4.addresses",
        Value::List(vec![attrs(vec![
            Entry::new("address", host.address.to_string()),
            Entry::new("prefixLength", u32::from(net.prefix)),
        ])]),
    )];
    if let Some(mtu) = net.mtu {
        iface.push(Entry::new("mtu", mtu));
    }
    entries.push(Entry::segments(
        AttrPath::new("interfaces", [net.interface.to_string()]),
        attrs(iface),
    ));
    if let Some(gw) = &net.gateway {
        entries.push(Entry::new(
            "defaultGateway",
            attrs(vec![
                Entry::new("address", gw.to_string()),
                Entry::new("interface", net.interface.as_str()),
            ]),
        ));
    }
    if !net.dns.is_empty() {
        entries.push(Entry::new("nameservers", nix::strings(&net.dns)));
    }
    let mut hosts = vec![Entry::segments(
        AttrPath::new("127.0.0.2", []),
        Value::Apply("lib.mkForce", Box::new(Value::List(vec![]))),
    )
    .comment(
        "NixOS maps the host name to 127.0.0.2; Erlang distribution and\nthe cluster need it to resolve to the cluster address.",
    )];
    for h in &plan.hosts {
        let names: Vec<&str> = h
            .fqdn
            .iter()
            .map(String::as_str)
            .chain([h.name.as_str()])
            .collect();
        hosts.push(Entry::segments(
            AttrPath::new(h.address.to_string(), []),
            nix::strings(names),
        ));
    }
    entries.push(Entry::new("hosts", attrs(hosts)));
    attrs(entries)
}

fn broker(plan: &Plan, roles: &Roles, node: &Broker) -> Value {
    let r = &plan.rabbitmq;
    let mut entries = vec![
        Entry::new("enable", true),
        Entry::new("version", r.version.to_string()),
        Entry::new("nodeName", node.node_name.as_str()),
        Entry::new("configText", roles.broker.conf.contents.as_str()),
        Entry::new("enabledPluginsText", roles.broker.plugins.contents.as_str()),
        Entry::new(
            "ports",
            attrs(vec![
                Entry::new("amqp", *r.ports.amqp),
                Entry::new("management", *r.ports.management),
                Entry::new("prometheus", *r.ports.prometheus),
                Entry::new("distribution", *r.ports.distribution),
            ]),
        ),
        Entry::new("plugins", nix::strings(&r.plugins)),
        Entry::new("openFirewall", false),
        Entry::new("definitions", roles.broker.definitions.contents.as_str()),
        Entry::new("definitionsPath", roles.broker.definitions.path.as_str()),
        Entry::new(
            "files",
            attrs(vec![
                installed("config", &roles.broker.conf),
                installed("enabledPlugins", &roles.broker.plugins),
                installed("definitions", &roles.broker.definitions),
            ]),
        ),
        Entry::new(
            "cookieFile",
            Value::from(r.cookie_path.as_str()).default_priority(),
        )
        .comment("Provide the cookie here (0400 root), or point this at an agenix/sops-nix path."),
    ];
    // On every broker, as cloud-init's timer is: the bootstrap is
    // idempotent and retried, so it runs from any broker that is up, and a
    // broker that is down at first boot does not leave the cluster without
    // its users.
    entries.push(Entry::new(
        "bootstrap",
        attrs(vec![
            Entry::new("enable", true),
            Entry::new("script", roles.broker.bootstrap.contents.as_str()),
            Entry::new(
                "secretFiles",
                nix::strings(r.users.iter().map(|u| &u.password_file)),
            ),
        ]),
    ));
    attrs(entries)
}

fn load_balancer(plan: &Plan, roles: &Roles, lb: &LoadBalancerFiles) -> Vec<Entry> {
    let h = &plan.haproxy;
    let mut ports = vec![*h.amqp_port];
    ports.extend(h.management_port.as_deref());
    ports.push(*h.stats.port);
    let haproxy = attrs(vec![
        Entry::new("enable", true),
        Entry::new("config", lb.haproxy_cfg.contents.as_str()),
        Entry::new("files", attrs(vec![installed("config", &lb.haproxy_cfg)])),
        Entry::new(
            "environmentFile",
            Value::from(h.stats.env_file.as_str()).default_priority(),
        )
        .comment("Holds RMQGEN_STATS_PASSWORD=... (0600 root), outside the store."),
        Entry::new(
            "frontendPorts",
            Value::List(ports.into_iter().map(Value::from).collect()),
        ),
        Entry::new("openFirewall", false),
    ]);
    // keepalived.conf holds the instance; the VIP, prefix and interface are
    // what the unit removes when keepalived dies without doing so.
    let mut keepalived = vec![
        Entry::new("enable", true),
        Entry::new("configText", lb.keepalived_conf.contents.as_str()),
        Entry::new("interface", plan.network.interface.as_str()),
        Entry::new("virtualIp", plan.vip.to_string()),
        Entry::new("prefixLength", u32::from(plan.network.prefix)),
        Entry::new(
            "resetScript",
            roles.keepalived.reset_script.contents.as_str(),
        ),
        Entry::new(
            "check",
            attrs(vec![
                Entry::new("script", roles.keepalived.check_script.contents.as_str()),
                Entry::new("path", roles.keepalived.check_script.path.as_str()),
                Entry::new("user", paths::SCRIPT_USER),
            ]),
        ),
        Entry::new(
            "files",
            attrs(vec![
                installed("config", &lb.keepalived_conf),
                installed("check", &roles.keepalived.check_script),
                installed("resetScript", &roles.keepalived.reset_script),
            ]),
        ),
        Entry::new("openFirewall", false),
    ];
    if let Some(auth) = &plan.keepalived.auth {
        keepalived.push(Entry::new("secretFiles", nix::strings([auth.include])));
    }
    vec![
        Entry::new("services.rmqgen.loadBalancer", haproxy),
        Entry::new("services.rmqgen.keepalived", attrs(keepalived)),
    ]
}

/// `networking` entries of the host firewall: the ruleset cloud-init installs as
/// `/etc/nftables.conf`, as the same text. It is the host's only firewall:
/// NixOS's own (`networking.firewall`) would be a second input chain that
/// must accept too, and the modules' `openFirewall` opens ports to every
/// source there, so both are off (re-enabling NixOS's firewall closes,
/// never widens, what the ruleset admits).
fn firewall(roles: &Roles, host: &Host) -> Vec<Entry> {
    let Some(ruleset) = roles.firewall(&host.name) else {
        return Vec::new();
    };
    vec![
        Entry::new(
            "nftables",
            attrs(vec![
                Entry::new("enable", true),
                Entry::new("ruleset", ruleset.contents.as_str()),
            ]),
        )
        .comment(
            "The host firewall (table inet rmqgen), byte for byte cloud-init's /etc/nftables.conf.",
        ),
        Entry::new("firewall.enable", false),
    ]
}

/// The module of a host: its NIC, its networking, its firewall and its
/// role's options.
fn module(plan: &Plan, roles: &Roles, host: &Host, role: Vec<Entry>) -> Value {
    let mut net = networking(plan, host);
    if let Value::Attrs(entries) = &mut net {
        entries.extend(firewall(roles, host));
    }
    let mut entries = vec![nic_name(plan, host), Entry::new("networking", net)];
    entries.extend(role);
    attrs(entries)
}

/// The NixOS module of every host, as values, with the host: what each
/// `nixos/<host>.nix` holds after its `{ lib, ... }:` header, brokers
/// first, then load balancers, each in the plan's order. Built from the
/// plan's brokers and the roles' load balancers, so every host has its
/// role's files. Tests compare them with the cloud-init artifacts and with
/// what Nix evaluates the files to.
pub fn host_modules<'a>(plan: &'a Plan, roles: &'a Roles) -> Vec<(&'a Host, Value)> {
    let brokers = plan.brokers.iter().map(|b| {
        let role = vec![Entry::new("services.rmqgen.broker", broker(plan, roles, b))];
        (&*b.host, module(plan, roles, &b.host, role))
    });
    let lbs = roles.load_balancers.iter().map(|lb| {
        (
            &*lb.host,
            module(plan, roles, &lb.host, load_balancer(plan, roles, lb)),
        )
    });
    brokers.chain(lbs).collect()
}

/// The NixOS module of one host of the plan ([`host_modules`]), or `None`
/// for a host that is not in it. For the tests only.
#[cfg(feature = "testing")]
pub fn host_module(plan: &Plan, roles: &Roles, host: &Host) -> Option<Value> {
    host_modules(plan, roles)
        .into_iter()
        .find(|(h, _)| h.name == host.name)
        .map(|(_, module)| module)
}

fn host_file(plan: &Plan, host: &Host, module: &Value) -> String {
    let role = match host.role {
        crate::plan::Role::Broker => "broker",
        crate::plan::Role::LoadBalancer => "load balancer",
    };
    // Names are RFC 1123 labels (validated): safe in a comment.
    format!(
        "# Generated by rmqgen for {role} {} of cluster {}.\n\
         # Do not edit: change the spec and render again; site settings go in site.nix.\n\
         {{ lib, ... }}:\n{}\n",
        host.name,
        plan.name,
        module.print(0)
    )
}

/// `nixos/common.nix`: what every host shares.
fn common_file(plan: &Plan) -> String {
    let value = attrs(vec![
        Entry::new(
            "imports",
            Value::List(vec![Value::Expr(
                "(modulesPath + \"/profiles/qemu-guest.nix\")",
            )]),
        ),
        Entry::new(
            "nixpkgs.hostPlatform",
            Value::from("x86_64-linux").default_priority(),
        ),
        Entry::segments(
            AttrPath::new("fileSystems", ["/".into()]),
            attrs(vec![
                Entry::new("device", ROOT_DEVICE),
                Entry::new("fsType", "ext4"),
                Entry::new("autoResize", true),
            ])
            .default_priority(),
        )
        .comment("The disk of the NixOS image the VMs boot (nixpkgs' make-disk-image):\nan ext4 root labelled nixos, GRUB on the first virtio disk."),
        Entry::new("boot.growPartition", Value::from(true).default_priority()),
        Entry::new(
            "boot.loader.grub.device",
            Value::from(GRUB_DEVICE).default_priority(),
        ),
        Entry::new(
            "services.openssh",
            attrs(vec![
                Entry::new("enable", true),
                Entry::new("settings.PermitRootLogin", "prohibit-password"),
                Entry::new("settings.PasswordAuthentication", false),
                Entry::new("settings.KbdInteractiveAuthentication", false),
            ]),
        )
        .comment("nixos-rebuild --target-host root@ADDR deploys over SSH; keys only."),
        Entry::new(
            "boot.kernelParams",
            nix::strings(["console=tty0", "console=ttyS0,115200"]),
        )
        .comment("The boot on the VM's serial console too (virsh console, Proxmox's serial terminal)."),
        Entry::new(
            "users.users.root.openssh.authorizedKeys.keys",
            nix::strings(&plan.ssh_authorized_keys),
        ),
        Entry::new("system.stateVersion", defaults::NIXOS_RELEASE),
    ]);
    format!(
        "# Generated by rmqgen for cluster {}: what every host shares.\n\
         # Do not edit: change the spec and render again; site settings go in site.nix.\n\
         {{ lib, modulesPath, ... }}:\n{}\n",
        plan.name,
        value.print(0)
    )
}

/// What the first-boot image adds to `common.nix`, as a value: what
/// `nixos/image.nix` holds after its `{ ... }:` header.
///
/// cloud-init runs the one module the seed needs (`write-files`, for the
/// secrets) and applies the seed's network config through networkd; it
/// finds the seed only as a NoCloud drive. No secret is in the image: the
/// image is the same for every host and holds none of their files.
pub fn image_module() -> Value {
    attrs(vec![
        Entry::new(
            "services.cloud-init",
            attrs(vec![
                Entry::new("enable", true),
                Entry::new("network.enable", true).comment(
                    "The seed's network config: the NIC matched by MAC and renamed, its\nstatic address, gateway and MTU (systemd-networkd applies it).",
                ),
                Entry::new(
                    "settings",
                    attrs(vec![
                        Entry::new("datasource_list", nix::strings(["NoCloud"])),
                        Entry::new("cloud_init_modules", nix::strings(["write-files"]))
                            .comment("Only the host's secrets, written straight to disk (never the store)."),
                        Entry::new("cloud_config_modules", Value::List(vec![])),
                        Entry::new("cloud_final_modules", Value::List(vec![])),
                    ]),
                ),
            ]),
        )
        .comment("Terraform's seed (a NoCloud drive): the host's network config and a\nuser-data that writes only its secrets. The host's own configuration\n(nixos-rebuild switch --flake .#HOST) replaces all of this."),
        Entry::new("networking.useDHCP", false),
    ])
}

/// `nixos/image.nix`.
fn image_file(plan: &Plan) -> String {
    format!(
        "# Generated by rmqgen for cluster {}: the image every VM boots first\n\
         # (nix build .#image; Terraform's nixos_image or nixos_image_url).\n\
         # Do not edit: change the spec and render again; site settings go in site.nix.\n\
         {{ ... }}:\n{}\n",
        plan.name,
        image_module().print(0)
    )
}

#[derive(Serialize)]
struct FlakeHost<'a> {
    name: &'a str,
    address: String,
}

#[derive(Serialize)]
struct FlakeCtx<'a> {
    plan: &'a Plan,
    release: &'static str,
    hosts: Vec<FlakeHost<'a>>,
    description: String,
}

/// The files of `nixos/` (bundle path, text), for a plan whose
/// provisioning is NixOS.
pub(super) fn render(plan: &Plan, roles: &Roles) -> Result<Vec<(String, String)>, Error> {
    let mut files = Vec::new();
    for (host, module) in host_modules(plan, roles) {
        files.push((
            format!("nixos/{}.nix", host.name),
            host_file(plan, host, &module),
        ));
    }
    files.push(("nixos/common.nix".into(), common_file(plan)));
    files.push(("nixos/image.nix".into(), image_file(plan)));
    let flake = render_template(
        "nixos-flake.nix",
        FlakeCtx {
            plan,
            release: defaults::NIXOS_RELEASE,
            hosts: plan
                .hosts
                .iter()
                .map(|h| FlakeHost {
                    name: &h.name,
                    address: h.address.to_string(),
                })
                .collect(),
            description: format!(
                "NixOS hosts of RabbitMQ cluster {} (generated by rmqgen)",
                plan.name
            ),
        },
    )?;
    files.push(("nixos/flake.nix".into(), flake));
    for (name, source) in MODULES {
        files.push((format!("nixos/rmqgen/{name}"), (*source).to_string()));
    }
    Ok(files)
}
