//! What the NixOS provisioning path needs from a spec.

use super::Sink;
use crate::diagnostic::Code;
use crate::plan::names::NIXOS_OWN_FILES;
use crate::plan::{defaults, Resolved, Version};
use crate::spec::{Provisioning, QueueHaMode, Spec};

pub(super) fn check(spec: &Spec, r: &Resolved, d: &mut Sink) {
    let plan = &r.plan;
    if plan.provisioning != Provisioning::Nixos {
        return;
    }
    for name in plan.hosts.iter().map(|h| &h.name) {
        let pointer = name.pointer();
        if NIXOS_OWN_FILES.contains(&name.as_str()) {
            d.error(
                Code::NixosHostName,
                pointer,
                if name.as_str() == "site" {
                    "host name site is taken: nixos/site.nix holds the operator's own settings"
                        .to_string()
                } else {
                    format!("host name {name} is taken: nixos/{name}.nix is rmqgen's own file")
                },
                format!("rename the host, e.g. \"{name}-1\""),
            );
        }
    }
    // No rule on the keepalived check interval (RMQ100, retired): the
    // generated hosts install the rendered keepalived.conf, which writes a
    // fractional interval as keepalived takes it, not through nixpkgs'
    // whole-second vrrpScripts options.
    // An unparsable or unsupported version is reported by the RabbitMQ
    // rules; only a valid one is compared here.
    let version = &plan.rabbitmq.version;
    if r.usable(version) {
        let v = **version;
        let shipped = defaults::NIXOS_RABBITMQ;
        if v != shipped && (Version::OLDEST..=Version::NEWEST).contains(&v) {
            d.warning(
                Code::NixosRabbitVersion,
                version.pointer(),
                format!(
                    "NixOS {} ships RabbitMQ {shipped}, not {v}: the broker module refuses a package of another series",
                    defaults::NIXOS_RELEASE
                ),
                format!(
                    "use \"{shipped}\"{}, or pin a RabbitMQ {v} package with services.rmqgen.broker.package in nixos/site.nix",
                    if spec.rabbitmq.queue_ha.mode == QueueHaMode::ClassicMirrored
                        && !shipped.has_classic_mirroring()
                    {
                        " with queue_ha.mode = \"quorum\""
                    } else {
                        ""
                    }
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::diagnostic::Code;

    /// RMQ100 is retired: a fractional check interval on the NixOS path is
    /// valid, and the keepalived.conf the hosts install writes it as is.
    #[test]
    fn a_fractional_check_interval_renders_on_nixos() {
        let source = include_str!("../../examples/five-vm-nixos.json");
        let mut spec: serde_json::Value = serde_json::from_str(source).expect("JSON");
        spec["keepalived"]["check_interval_ms"] = 1500.into();
        let out = crate::compile(&spec.to_string()).expect("valid");
        assert!(out
            .warnings
            .iter()
            .all(|d| d.code != Code::NixosCheckInterval));
        let lb = &out.plan.load_balancers[0].name;
        let conf = out.roles.load_balancers[0]
            .keepalived_conf
            .contents
            .as_str();
        assert!(conf.contains("interval 1.5\n"), "{lb}: {conf}");
        let host = out
            .bundle
            .get(&format!("nixos/{lb}.nix"))
            .expect("the host's NixOS file")
            .text();
        assert!(host.contains("interval 1.5\n"), "{host}");
    }
}
