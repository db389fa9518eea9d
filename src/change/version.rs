//! RabbitMQ version changes: the supported in-place upgrade hops, the
//! Erlang/OTP to run during each, and the feature-flag step before it.
//!
//! The hops are RabbitMQ's "Version Upgradability" table (rabbitmq-website,
//! `upgrade.md` of 4.2 and 4.3): 3.10→3.11→3.12 (from 3.11.18)→3.13, then
//! 3.13→4.0, 4.1 or 4.2 (only without Khepri on 3.13), 4.0→4.1 or 4.2,
//! 4.1→4.2, and 4.3 only from 4.2. A NEW version that is not one hop from
//! OLD is refused with the shortest path; a lower one is a downgrade, which
//! RabbitMQ does not support in place.

use serde::Serialize;

use super::{broker_order, Change, ChangeKind, Out};
use crate::diagnostic::{Code, Diagnostic};
use crate::plan::platform::{erlang, Feature};
use crate::plan::{Plan, Version};
use crate::spec::{Provisioning, QueueHaMode};

const fn v(major: u32, minor: u32) -> Version {
    Version::new(major, minor)
}

/// Every supported in-place hop, from → to.
const HOPS: &[(Version, Version)] = &[
    (v(3, 10), v(3, 11)),
    (v(3, 11), v(3, 12)),
    (v(3, 12), v(3, 13)),
    (v(3, 13), v(4, 0)),
    (v(3, 13), v(4, 1)),
    (v(3, 13), v(4, 2)),
    (v(4, 0), v(4, 1)),
    (v(4, 0), v(4, 2)),
    (v(4, 1), v(4, 2)),
    (v(4, 2), v(4, 3)),
];

/// One supported upgrade hop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hop {
    /// The series the cluster runs.
    pub from: Version,
    /// The series it moves to.
    pub to: Version,
    /// The Erlang/OTP to run during the hop.
    pub erlang: String,
    /// Conditions and caveats of this hop.
    pub notes: Vec<String>,
}

/// The shortest chain of supported hops from `from` to `to` (each series
/// after `from`, ending with `to`); `None` when there is none (a
/// downgrade, or a series rmqgen does not know).
///
/// ```
/// use rmqgen::plan::Version;
/// let path = rmqgen::change::upgrade_path(Version::new(3, 10), Version::new(4, 3)).unwrap();
/// let shown: Vec<String> = path.iter().map(|v| v.to_string()).collect();
/// assert_eq!(shown, ["3.11", "3.12", "3.13", "4.2", "4.3"]);
/// assert!(rmqgen::change::upgrade_path(Version::new(4, 0), Version::new(3, 13)).is_none());
/// ```
pub fn upgrade_path(from: Version, to: Version) -> Option<Vec<Version>> {
    // Breadth-first over the hop table; the series are few.
    let mut frontier = vec![vec![from]];
    while !frontier.is_empty() {
        let mut next = Vec::new();
        for path in frontier {
            let last = *path.last()?;
            if last == to {
                return Some(path[1..].to_vec());
            }
            for (_, t) in HOPS.iter().filter(|(f, _)| *f == last) {
                let mut p = path.clone();
                p.push(*t);
                next.push(p);
            }
        }
        frontier = next;
    }
    None
}

/// The hop `from` → `to`, if it is one.
fn hop(from: Version, to: Version, old: &Plan) -> Option<Hop> {
    HOPS.contains(&(from, to)).then(|| {
        let mut notes = Vec::new();
        let erlang = erlang_during(from, to, &mut notes);
        if (from, to) == (v(3, 11), v(3, 12)) {
            notes.push("3.12 upgrades only from 3.11.18 or later: take the latest 3.11 patch first".into());
        }
        if from == v(3, 13) && to.major == 4 {
            notes.push("only if feature flag khepri_db is not enabled on 3.13 (it is experimental there, and rmqgen never enables it; check `rabbitmqctl list_feature_flags`): a 3.13 cluster on Khepri upgrades to 4.x only blue-green".into());
        }
        if old.rabbitmq.policy.mode == QueueHaMode::ClassicMirrored
            && Feature::ClassicMirroring.in_series(from)
            && !Feature::ClassicMirroring.in_series(to)
        {
            notes.push("4.x has no classic mirroring: move to quorum queues first (blue-green)".into());
        }
        if to == v(4, 2) {
            notes.push("`enable_feature_flag all` on 4.2 also enables khepri_db (stable there) and migrates the metadata store from Mnesia to Khepri, which then needs a majority of brokers online".into());
        }
        if to == v(4, 3) {
            notes.push("4.3 requires every feature flag of 4.2 enabled first, khepri_db included (Mnesia is gone), and no more than a few hours of mixed 4.2/4.3 nodes".into());
            notes.push("4.3 denies by default the deprecated features transient_nonexcl_queues, global_qos, queue_master_locator, amqp_address_v1 and amqp_filter_set_bug: if clients use one, permit it with deprecated_features.permit.<name> = true on every node before the hop".into());
        }
        Hop {
            from,
            to,
            erlang,
            notes,
        }
    })
}

/// The Erlang/OTP both series run, from rmqgen's table of each series'
/// range.
fn erlang_during(from: Version, to: Version, notes: &mut Vec<String>) -> String {
    let (Some(a), Some(b)) = (erlang(from), erlang(to)) else {
        return "see RabbitMQ's Erlang version table".into();
    };
    let min = a.min.max(b.min);
    let max = a.max_major.min(b.max_major);
    if min.0 <= max {
        return format!(
            "{}.{} to {max}.x ({from}: {a}; {to}: {b}); move Erlang inside that range before the hop",
            min.0, min.1
        );
    }
    // 3.13 stops at 26.2.x; 4.2.9+ needs 27.
    notes.push(format!(
        "{from} runs Erlang {a} and the latest {to} needs {b}: land on {to}.0-{to}.8 (which still run on Erlang 26.2: pin that patch and Erlang 26.2 for the hop), move Erlang to 27 inside {to}, then take the latest {to} patch"
    ));
    format!("26.2.x during the hop ({from}: {a}; {to}.0-{to}.8 also 26.2), then 27.x")
}

/// Checks a version change; adds its change or refuses it. True when the
/// brokers are upgraded (their restart carries the other broker changes).
pub(super) fn check(old: &Plan, new: &Plan, out: &mut Out) -> bool {
    let (from, to) = (*old.rabbitmq.version, *new.rabbitmq.version);
    if from == to {
        return false;
    }
    const AT: &str = "/rabbitmq/version";
    if to < from {
        out.refuse(
            Diagnostic::error(
                Code::Downgrade,
                AT,
                format!("RabbitMQ {from} cannot be downgraded to {to} in place"),
            )
            .hint(format!(
                "keep rabbitmq.version \"{from}\", or build a {to} cluster beside this one and move the definitions and messages to it (blue-green)"
            )),
        );
        return false;
    }
    let Some(hop) = hop(from, to, old) else {
        let path = upgrade_path(from, to).unwrap_or_default();
        let chain: Vec<String> = std::iter::once(from)
            .chain(path.iter().copied())
            .map(|v| v.to_string())
            .collect();
        let first = path.first().map_or(String::new(), |v| v.to_string());
        out.refuse(
            Diagnostic::error(
                Code::UpgradeHop,
                AT,
                format!(
                    "RabbitMQ {from} cannot be upgraded to {to} in one step: the supported path is {} ({} hops)",
                    chain.join(" → "),
                    path.len()
                ),
            )
            .hint(format!(
                "set rabbitmq.version to \"{first}\", plan and roll that out, enable all feature flags, then take the next hop"
            )),
        );
        return false;
    };

    let brokers: Vec<String> = new.brokers.iter().map(|b| b.name.to_string()).collect();
    let order = broker_order(new, &brokers);
    let mut c = Change::new(
        ChangeKind::Version,
        format!("rolling upgrade of RabbitMQ {from} → {to}, one broker at a time"),
    )
    .at(AT)
    .hosts(order.clone())
    .step(format!(
        "before: on {from}, with every broker running, `rabbitmqctl enable_feature_flag all` and check `rabbitmqctl list_feature_flags` shows every stable flag enabled (an upgrade with a stable flag disabled fails)"
    ))
    .step(format!("Erlang/OTP during the hop: {}", hop.erlang));
    let install = match new.provisioning {
        Provisioning::Nixos => format!(
            "`nixos-rebuild switch --target-host` with the new configuration (RabbitMQ {to})"
        ),
        Provisioning::CloudInit => {
            let pins: Vec<String> = new
                .install
                .pins
                .iter()
                .map(|p| format!("{} {}", p.package, p.version))
                .collect();
            if pins.is_empty() {
                format!("push the new role files and install rabbitmq-server {to}")
            } else {
                format!(
                    "push the new role files, move apt's pins to {} and `apt-get install rabbitmq-server` (unhold, upgrade, hold again)",
                    pins.join(", ")
                )
            }
        }
    };
    let gate = if old.rabbitmq.policy.mode == QueueHaMode::ClassicMirrored {
        "`rabbitmq-queues check_if_node_is_mirror_sync_critical` and `rabbitmq-upgrade await_online_synchronized_mirror`"
    } else {
        "`rabbitmq-queues check_if_node_is_quorum_critical` and `rabbitmq-upgrade await_online_quorum_plus_one`"
    };
    for host in &order {
        c = c.step(format!(
            "{host}: {gate} pass; `rabbitmq-upgrade drain`; stop rabbitmq-server; {install}; start it; `rabbitmq-diagnostics check_running` and `check_port_connectivity`; `rabbitmq-upgrade revive`"
        ));
    }
    c = c.step(format!(
        "after: with every broker on {to}, `rabbitmqctl enable_feature_flag all` (the next hop needs it)"
    ));
    c.hop = Some(hop);
    out.change(c);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(a: (u32, u32), b: (u32, u32)) -> Option<Vec<String>> {
        upgrade_path(v(a.0, a.1), v(b.0, b.1))
            .map(|p| p.into_iter().map(|v| v.to_string()).collect())
    }

    #[test]
    fn the_shortest_supported_path_takes_the_documented_jumps() {
        assert_eq!(path((3, 10), (3, 11)).unwrap(), ["3.11"]);
        assert_eq!(
            path((3, 10), (4, 3)).unwrap(),
            ["3.11", "3.12", "3.13", "4.2", "4.3"]
        );
        assert_eq!(path((3, 13), (4, 2)).unwrap(), ["4.2"]);
        assert_eq!(path((4, 0), (4, 3)).unwrap(), ["4.2", "4.3"]);
        assert_eq!(path((4, 1), (4, 1)).unwrap(), Vec::<String>::new());
        assert!(path((4, 1), (4, 0)).is_none());
        assert!(path((3, 9), (3, 10)).is_none());
    }

    #[test]
    fn every_hop_goes_up_and_names_an_erlang() {
        for (from, to) in HOPS {
            assert!(from < to);
            let mut notes = Vec::new();
            let e = erlang_during(*from, *to, &mut notes);
            assert!(e.contains('.'), "{from}->{to}: {e}");
        }
        // 3.13 and the latest 4.2 share no Erlang: the hop says how.
        let mut notes = Vec::new();
        erlang_during(v(3, 13), v(4, 2), &mut notes);
        assert!(notes[0].contains("4.2.0-4.2.8"), "{notes:?}");
    }
}
