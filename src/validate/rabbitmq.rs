//! RabbitMQ: version, replication, partition handling, users, plugins,
//! secrets.

use std::collections::BTreeSet;

use super::charset::{is_printable, is_safe_token, show};
use super::{Port, Sink};
use crate::diagnostic::Code;
use crate::plan::{Located, Resolved, Version};
use crate::spec::{PartitionHandling, QueueHaMode, SecretSource, Spec};

pub(super) fn check(spec: &Spec, resolved: &Resolved, d: &mut Sink) {
    let plan = &resolved.plan;
    let rp = &plan.rabbitmq;
    let r = &spec.rabbitmq;
    let brokers = spec.brokers.len();
    // A version that did not parse is already reported (by the resolver).
    let version = match *rp.version {
        _ if !resolved.usable(&rp.version) => None,
        v if (Version::OLDEST..=Version::NEWEST).contains(&v) => Some(v),
        v => {
            d.error(
                Code::Version,
                rp.version.pointer(),
                format!("RabbitMQ {v} is not supported"),
                format!(
                    "use a version from {} to {}",
                    Version::OLDEST,
                    Version::NEWEST
                ),
            );
            None
        }
    };

    let qha = &r.queue_ha;
    let mode_p = "/rabbitmq/queue_ha/mode";
    if let Some(v) = version {
        match qha.mode {
            QueueHaMode::ClassicMirrored if !v.has_classic_mirroring() => d.error(
                Code::ClassicMirroringRemoved,
                mode_p,
                format!("classic queue mirroring does not exist in RabbitMQ {v}: queues would not be replicated"),
                "set queue_ha.mode to \"quorum\"",
            ),
            QueueHaMode::ClassicMirrored if v >= Version::new(3, 9) => d.warning(
                Code::ClassicMirroringDeprecated,
                mode_p,
                format!("classic queue mirroring is deprecated in RabbitMQ {v} and removed in 4.0"),
                "plan the move to queue_ha.mode = \"quorum\"",
            ),
            QueueHaMode::Quorum if !v.has_default_queue_type() => d.warning(
                Code::DefaultQueueType,
                mode_p,
                format!("RabbitMQ {v} has no per-vhost default queue type: clients must declare quorum queues themselves"),
                "declare queues with the argument x-queue-type=quorum, or use RabbitMQ 3.11 or later",
            ),
            _ => {}
        }
        if let Some(ph) = r.partition_handling {
            if !v.has_partition_handling() {
                d.warning(
                    Code::PartitionHandlingIgnored,
                    "/rabbitmq/partition_handling",
                    format!("RabbitMQ {v} keeps its metadata in Khepri, where cluster_partition_handling has no effect; the setting is not written"),
                    "remove rabbitmq.partition_handling",
                );
            } else if ph == PartitionHandling::Ignore && brokers >= 3 {
                d.error(
                    Code::PartitionIgnore,
                    "/rabbitmq/partition_handling",
                    format!("partition handling 'ignore' with {brokers} brokers lets both sides of a partition diverge"),
                    "use \"pause_minority\" (the default) or \"autoheal\"",
                );
            }
        }
    }
    if qha.mode == QueueHaMode::Quorum && brokers > 0 && brokers % 2 == 0 {
        d.warning(
            Code::BrokerCount,
            mode_p,
            format!(
                "quorum queues on {brokers} brokers: a majority is {} of {brokers}",
                brokers / 2 + 1
            ),
            "use an odd number of brokers with quorum queues",
        );
    }
    if let Some(n) = rp.policy.replicas {
        let p = "/rabbitmq/queue_ha/replicas";
        if n < 1 || n as usize > brokers {
            d.error(
                Code::Replicas,
                p,
                format!("{n} replicas, but there are {brokers} brokers"),
                format!("use 1..={brokers}, or \"all\""),
            );
        } else if qha.mode == QueueHaMode::Quorum && n < 3 && brokers >= 3 {
            d.warning(
                Code::Replicas,
                p,
                format!(
                    "a quorum queue with {n} replicas stops accepting writes when one broker fails"
                ),
                "use 3 or more replicas",
            );
        } else if qha.mode == QueueHaMode::Quorum
            && version.is_some_and(|v| !v.has_target_group_size())
        {
            d.warning(
                Code::Replicas,
                p,
                "a replica count for quorum queues is applied by policy only from RabbitMQ 3.13",
                "declare queues with x-quorum-initial-group-size, or use \"all\"",
            );
        }
    }
    if qha.sync.is_some() && qha.mode == QueueHaMode::Quorum {
        d.warning(
            Code::Replicas,
            "/rabbitmq/queue_ha/sync",
            "sync applies to classic mirroring only; quorum queues always replicate",
            "remove queue_ha.sync",
        );
    }
    if let Some(name) = &qha.policy_name {
        if !is_safe_token(name, 64, "._-") {
            d.error(
                Code::Charset,
                "/rabbitmq/queue_ha/policy_name",
                format!(
                    "policy name {} has characters outside [A-Za-z0-9._-]",
                    show(name)
                ),
                "use e.g. \"ha-all\"",
            );
        }
    }
    if let Some(pattern) = &qha.pattern {
        if !is_printable(pattern, 255) {
            d.error(
                Code::Charset,
                "/rabbitmq/queue_ha/pattern",
                format!(
                    "pattern {} must be 1-255 printable ASCII characters",
                    show(pattern)
                ),
                "\"^\" matches every queue",
            );
        }
    }

    let hb = rp.heartbeat_s;
    if hb > 65_535 {
        d.error(
            Code::HeartbeatDisabled,
            "/rabbitmq/heartbeat_s",
            format!("heartbeat {hb} s does not fit AMQP's 16-bit heartbeat field"),
            "use the default 60 s",
        );
    } else if hb == 0 {
        d.warning(
            Code::HeartbeatDisabled,
            "/rabbitmq/heartbeat_s",
            "heartbeats are disabled: dead connections linger until HAProxy's idle timeout",
            "use the default 60 s",
        );
    }

    let vhosts: Vec<&Located<String>> = rp.vhosts.iter().map(|v| &v.name).collect();
    let mut seen = BTreeSet::new();
    for v in &vhosts {
        if !is_safe_token(v, 255, "/._-") {
            d.error(
                Code::Users,
                v.pointer(),
                format!(
                    "vhost name {} has characters outside [A-Za-z0-9/._-]",
                    show(v)
                ),
                "use e.g. \"/\" or \"orders\"",
            );
        }
        if !seen.insert(v.as_str()) {
            d.error(
                Code::Users,
                v.pointer(),
                format!("vhost {} is listed twice", show(v)),
                "list each vhost once",
            );
        }
    }
    let mut users = BTreeSet::new();
    for u in &rp.users {
        if *u.name == "guest" {
            d.error(
                Code::Users,
                u.name.pointer(),
                "the guest user is refused",
                "guest's password is public and it is limited to localhost; create a named user",
            );
        } else if !is_safe_token(&u.name, 64, "._@-") {
            d.error(
                Code::Users,
                u.name.pointer(),
                format!(
                    "user name {} has characters outside [A-Za-z0-9._@-]",
                    show(&u.name)
                ),
                "use e.g. \"orders-service\"",
            );
        }
        if !users.insert(u.name.as_str()) {
            d.error(
                Code::Users,
                u.name.pointer(),
                format!("user {} is listed twice", show(&u.name)),
                "list each user once",
            );
        }
        for perm in &u.permissions {
            if !vhosts.contains(&&perm.vhost) {
                d.error(
                    Code::Users,
                    perm.vhost.pointer(),
                    format!("vhost {} is not in rabbitmq.vhosts", show(&perm.vhost)),
                    "add the vhost to rabbitmq.vhosts or fix the name",
                );
            }
            for re in [&perm.configure, &perm.write, &perm.read] {
                if !re.is_empty() && !is_printable(re, 255) {
                    d.error(
                        Code::Charset,
                        re.pointer(),
                        format!("regular expression {} must be printable ASCII", show(re)),
                        "e.g. \".*\" or \"^orders\\\\.\"",
                    );
                }
            }
        }
    }

    for plugin in &rp.plugins {
        if !(plugin.starts_with("rabbitmq_")
            && is_safe_token(plugin, 64, "_")
            && plugin.chars().all(|c| !c.is_ascii_uppercase()))
        {
            d.error(
                Code::Plugin,
                plugin.pointer(),
                format!("{} is not a RabbitMQ plugin name", show(plugin)),
                "plugin names look like \"rabbitmq_management\"",
            );
        }
    }

    let port = &rp.ports;
    // epmd first: it is fixed, so a clash is always blamed on the other.
    let mut ports = vec![
        Port::located("epmd", &port.epmd),
        Port::located("AMQP", &port.amqp),
        Port::located("Erlang distribution", &port.distribution),
    ];
    if rp.management {
        ports.push(Port::located("management", &port.management));
    }
    if rp.prometheus {
        ports.push(Port::located("Prometheus", &port.prometheus));
    }
    d.ports("broker", &ports);
    // rabbitmqctl and the other CLI tools open their own Erlang distribution
    // listener on 35672..=35682 (distribution port + 10000 on stock nodes),
    // whatever rabbitmq.conf says: a broker listener there can lose its port
    // to a CLI call (the bootstrap's) and fail to start.
    for p in ports
        .iter()
        .filter(|p| p.written && (35_672..=35_682).contains(&p.port))
    {
        d.warning(
            Code::PortConflict,
            p.pointer.as_str(),
            format!(
                "port {} is in 35672-35682, where rabbitmqctl listens for Erlang distribution",
                p.port
            ),
            "pick a port outside 35672-35682",
        );
    }

    // The cookie, the users' passwords and the statistics password.
    for s in &plan.secrets {
        // TLS references have their own rules (validate/tls.rs), which
        // never echo what may be key text pasted where a path belongs.
        if s.id.starts_with("tls-") {
            continue;
        }
        secret(&s.source, d);
    }
}

/// Checks a secret source.
fn secret(source: &Located<SecretSource>, d: &mut Sink) {
    match &**source {
        SecretSource::TerraformRandom {} => {}
        SecretSource::File { path } => {
            if !is_printable(path, 4096)
                || path.contains("${")
                || path.contains("%{")
                || path.contains('"')
            {
                d.error(Code::Secret, source.child("path"), format!("secret file path {} must be printable and free of quotes and template sequences", show(path)), "give a plain path, e.g. \"secrets/erlang-cookie\"");
            }
        }
        SecretSource::Variable { name } => {
            let ident = name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && is_safe_token(name, 64, "_");
            if !ident {
                d.error(
                    Code::Secret,
                    source.child("name"),
                    format!("{} is not a Terraform variable name", show(name)),
                    "use letters, digits and '_', e.g. \"erlang_cookie\"",
                );
            }
        }
    }
}
