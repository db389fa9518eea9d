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
    let hosts = super::host_names(spec);
    for (pointer, name) in hosts {
        if NIXOS_OWN_FILES.contains(&name.as_str()) {
            d.error(
                Code::NixosHostName,
                pointer,
                if name == "site" {
                    "host name site is taken: nixos/site.nix holds the operator's own settings"
                        .to_string()
                } else {
                    format!("host name {name} is taken: nixos/{name}.nix is rmqgen's own file")
                },
                format!("rename the host, e.g. \"{name}-1\""),
            );
        }
    }
    let interval = plan.keepalived.check_interval.millis();
    if interval.whole_seconds().is_none() && !plan.keepalived.script_timing.fractional {
        let ms = interval.get();
        d.error(
            Code::NixosCheckInterval,
            "/keepalived/check_interval_ms",
            format!("{ms} ms is not whole seconds; nixpkgs' keepalived module takes the check interval in seconds"),
            format!("use {} or {}", ms / 1000 * 1000, (ms / 1000 + 1) * 1000),
        );
    }
    // An unparsable or unsupported version is reported by the RabbitMQ
    // rules; only a valid one is compared here.
    if r.usable("/rabbitmq/version") {
        let v = plan.rabbitmq.version;
        let shipped = defaults::NIXOS_RABBITMQ;
        if v != shipped && (Version::OLDEST..=Version::NEWEST).contains(&v) {
            d.warning(
                Code::NixosRabbitVersion,
                "/rabbitmq/version",
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
