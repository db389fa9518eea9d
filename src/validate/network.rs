//! Names, addresses, the network and host counts; whether the VMs can
//! reach package mirrors.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use super::charset::{is_label, is_safe_token, show};
use super::Sink;
use crate::diagnostic::Code;
use crate::plan::{Located, Resolved};
use crate::spec::{Provisioning, Spec};

pub(super) fn check(spec: &Spec, r: &Resolved, d: &mut Sink) {
    let plan = &r.plan;
    if !is_label(&spec.name) {
        d.error(
            Code::Name,
            "/name",
            format!("cluster name {} is not an RFC 1123 label", show(&spec.name)),
            "use 1-63 lower-case letters, digits and '-', e.g. \"rmq-prod\"",
        );
    }
    if let Some(domain) = &spec.domain {
        if domain.len() > 253 || !domain.split('.').all(is_label) {
            d.error(
                Code::Domain,
                "/domain",
                format!("domain {} is not a DNS name", show(domain)),
                "use dot-separated lower-case labels, e.g. \"mq.example.internal\"",
            );
        }
    }

    macs(plan, d);

    let iface = &plan.network.interface;
    if !is_safe_token(iface, 15, "_.-") {
        d.error(
            Code::Interface,
            iface.pointer(),
            format!(
                "interface name {} is not a Linux interface name",
                show(iface)
            ),
            "use 1-15 characters of letters, digits, '_', '.', '-', e.g. \"ens3\"",
        );
    }
    if let Some(mtu) = spec.network.mtu {
        if !(576..=9216).contains(&mtu) {
            d.error(
                Code::Mtu,
                "/network/mtu",
                format!("MTU {mtu} is outside 576..=9216"),
                "leave mtu unset for the OS default (1500), or set the segment's jumbo MTU",
            );
        }
    }

    for key in &plan.ssh_authorized_keys {
        let looks_like_key = ["ssh-", "ecdsa-", "sk-"].iter().any(|p| key.starts_with(p));
        if !looks_like_key || !super::charset::is_printable(key, 16_384) {
            // The value is not echoed: what was pasted may be a private key.
            let hint = if key.contains("PRIVATE KEY") {
                "this is a PRIVATE key: remove it from the spec (and rotate it if the spec was shared); give the .pub line instead"
            } else {
                "paste one line of a .pub file, e.g. \"ssh-ed25519 AAAA... user@host\""
            };
            d.error(
                Code::SshKey,
                key.pointer(),
                "this is not an OpenSSH public key line (ssh-..., ecdsa-..., sk-...)",
                hint,
            );
        }
    }
    if spec.ssh_authorized_keys.is_empty() {
        let (message, hint) = match plan.provisioning {
            Provisioning::CloudInit => (
                "no SSH key: nobody can log into the VMs (password login is disabled and the default user's password is locked)",
                "add an OpenSSH public key line, e.g. \"ssh-ed25519 AAAA... you@host\", to debug a failed first boot",
            ),
            Provisioning::Nixos => (
                "no SSH key: root has no authorized key, so `nixos-rebuild --target-host root@ADDR` cannot deploy the configuration and nobody can log in (password login is disabled)",
                "add an OpenSSH public key line, e.g. \"ssh-ed25519 AAAA... you@host\" (the deploying machine's), or set users.users.root.openssh.authorizedKeys.keys in site.nix",
            ),
        };
        d.warning(Code::NoSshKey, "/ssh_authorized_keys", message, hint);
    }
    counts(spec, d);
    names(plan, d);
    mirrors(spec, plan.provisioning, d);

    // Every address in the spec that must be inside the subnet, and whose
    // it is (hosts and the VIP must be unique; the gateway may be anything
    // in the subnet). DNS servers may live outside the subnet (routed): the
    // resolver's syntax check is all they get. A subnet or address that did
    // not parse is already reported (by the resolver); its placeholder is
    // checked against nothing.
    let brokers = plan.brokers.iter().map(|b| (&b.address, "broker"));
    let lbs = plan
        .load_balancers
        .iter()
        .map(|l| (&l.address, "load balancer"));
    let vip = std::iter::once((&plan.vip, "VIP"));
    let owned: Vec<(&Located<Ipv4Addr>, &str)> = brokers
        .chain(lbs)
        .chain(vip)
        .filter(|(a, _)| r.usable(a))
        .collect();
    let gateway = plan.network.gateway.as_ref().filter(|g| r.usable(g));

    let cidr = &plan.network.cidr;
    if r.usable(cidr) {
        let all = owned.iter().map(|(a, _)| *a).chain(gateway);
        for a in all {
            if !cidr.contains(**a) {
                d.error(
                    Code::OutsideNetwork,
                    a.pointer(),
                    format!("{a} is outside the network {cidr}"),
                    format!("pick an address inside {cidr}, or widen network.cidr"),
                );
            } else if cidr.is_reserved(**a) {
                let which = if **a == cidr.network() {
                    "network"
                } else {
                    "broadcast"
                };
                d.error(
                    Code::ReservedAddress,
                    a.pointer(),
                    format!("{a} is the {which} address of {cidr}"),
                    "pick a host address of the subnet",
                );
            }
        }
    }

    let mut seen: BTreeMap<Ipv4Addr, (&str, &str)> = BTreeMap::new();
    for (a, what) in &owned {
        if let Some((first, first_what)) = seen.get(&**a) {
            d.error(
                Code::DuplicateAddress,
                a.pointer(),
                format!("{a} ({what}) is already the address of the {first_what} at {first}"),
                "give every host and the VIP an address of its own",
            );
        } else {
            seen.insert(***a, (a.pointer(), what));
        }
    }
    if let Some(gw) = gateway {
        if let Some((first, what)) = seen.get(&**gw) {
            d.error(
                Code::DuplicateAddress,
                gw.pointer(),
                format!("the gateway {gw} is also the {what} at {first}"),
                "the gateway is the router's address; no host or VIP may take it",
            );
        }
    }
}

/// On the cloud-init path each VM installs its packages with apt at first
/// boot: it needs a default route and a resolver. (NixOS hosts need
/// neither: `nixos-rebuild --target-host` copies every store path from the
/// deploying machine.) One warning per missing setting, whatever the other.
fn mirrors(spec: &Spec, provisioning: Provisioning, d: &mut Sink) {
    if provisioning != Provisioning::CloudInit {
        return;
    }
    const INSTALL: &str =
        "cloud-init cannot apt-get install rabbitmq-server, haproxy and keepalived";
    if spec.network.gateway.is_none() {
        d.warning(
            Code::PackageMirrors,
            "/network",
            format!("without a gateway the VMs have no default route: {INSTALL}"),
            "set network.gateway to the subnet's router (the VMs' default route)",
        );
    }
    if spec.network.dns.is_empty() {
        d.warning(
            Code::PackageMirrors,
            "/network",
            format!("without DNS resolvers the VMs cannot look up the package mirror: {INSTALL}"),
            "list resolvers the VMs can reach in network.dns",
        );
    }
}

fn counts(spec: &Spec, d: &mut Sink) {
    let n = spec.brokers.len();
    if n == 0 {
        d.error(
            Code::BrokerCount,
            "/brokers",
            "there are no brokers",
            "list at least one broker; three for high availability",
        );
    } else if n % 2 == 0 {
        d.warning(
            Code::BrokerCount,
            "/brokers",
            format!(
                "{n} brokers: an even count tolerates no more failures than {}",
                n - 1
            ),
            format!("use {} or {} brokers", n - 1, n + 1),
        );
    }
    if spec.load_balancers.len() < 2 {
        d.error(
            Code::LoadBalancerCount,
            "/load_balancers",
            format!(
                "{} load balancer(s): the VIP cannot fail over",
                spec.load_balancers.len()
            ),
            "list at least two load balancers",
        );
    }
}

fn names(plan: &crate::plan::Plan, d: &mut Sink) {
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    for name in plan.hosts.iter().map(|h| &h.name) {
        let p = name.pointer();
        if !is_label(name) {
            d.error(
                Code::Name,
                p,
                format!("host name {} is not an RFC 1123 label", show(name)),
                "use 1-63 lower-case letters, digits and '-' (no dots: the Erlang node is rabbit@NAME), e.g. \"rabbitmq-1\"",
            );
        }
        if let Some(first) = seen.get(name.as_str()) {
            d.error(
                Code::DuplicateName,
                p,
                format!("host name {} is already used at {first}", show(name)),
                "give every host a unique name",
            );
        } else {
            seen.insert(name, p);
        }
    }
}

/// Each host's MAC derives from the cluster and host names alone (so no
/// host moves another's); two that collide cannot both be pinned.
fn macs(plan: &crate::plan::Plan, d: &mut Sink) {
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    for h in &plan.hosts {
        match seen.get(h.mac.as_str()) {
            // Same name twice: the duplicate-name rule reports it.
            Some(other) if *other != h.name.as_str() => d.error(
                Code::DuplicateAddress,
                h.name.pointer(),
                format!(
                    "host {} gets MAC {}, which host {} has already (both derive from the cluster and host names)",
                    show(&h.name),
                    h.mac,
                    show(other)
                ),
                "rename one of the two hosts: a host's MAC is a hash of the cluster and host names",
            ),
            Some(_) => {}
            None => {
                seen.insert(&h.mac, &h.name);
            }
        }
    }
}
