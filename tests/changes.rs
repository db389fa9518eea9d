//! `rmqgen plan OLD NEW`: one spec pair per change class and per refused
//! change, under `tests/changes/<name>/{old,new}.json` (small edits of
//! `examples/quorum-4x.json` and `examples/five-vm.json`).
//!
//! Each pair's outcome is asserted here ([`EXPECTED`]: the change classes
//! found, or the codes of the refusal), and both renderings are
//! snapshotted: `snapshots/plan@<name>.snap` (the text `rmqgen plan`
//! prints, or the located diagnostics of a refusal) and
//! `snapshots/plan-json@<name>.snap` (`--format json`).

use std::path::{Path, PathBuf};

use rmqgen::{ChangeError, ChangeKind as K, Code, Severity};

/// What a pair must give.
enum Outcome {
    /// Exactly these change classes, in this order; whether any change
    /// is disruptive; the warning codes.
    Plan(&'static [K], bool, &'static [Code]),
    /// Refused, with at least these error codes.
    Refused(&'static [Code]),
    /// NEW is invalid, with at least these error codes.
    InvalidNew(&'static [Code]),
}
use Outcome::*;

const R: K = K::ConfigReload;

const EXPECTED: &[(&str, Outcome)] = &[
    ("no-op", Plan(&[], false, &[])),
    ("haproxy-reload", Plan(&[K::ConfigReload], false, &[])),
    ("keepalived-reload", Plan(&[K::ConfigReload], false, &[])),
    ("rolling-restart", Plan(&[K::RollingRestart], false, &[])),
    (
        "nixos-rolling-restart",
        Plan(&[K::RollingRestart], false, &[]),
    ),
    (
        "definitions",
        Plan(&[K::ConfigReload, K::ConfigReload], false, &[]),
    ),
    (
        "add-broker",
        Plan(&[R, R, R, R, R, R, K::AddBroker], false, &[]),
    ),
    (
        "remove-bootstrap-broker",
        Plan(
            &[K::RemoveBroker, R, R, R, R, R, R],
            false,
            &[Code::ShrinkBrokers],
        ),
    ),
    (
        "remove-three-brokers",
        Plan(
            &[
                K::RemoveBroker,
                K::RemoveBroker,
                K::RemoveBroker,
                R,
                R,
                R,
                R,
                R,
                R,
            ],
            false,
            &[Code::ShrinkBrokers, Code::ShrinkBrokers],
        ),
    ),
    (
        "add-load-balancer",
        Plan(&[R, R, R, K::AddLoadBalancer], false, &[]),
    ),
    (
        "remove-vip-holder",
        Plan(&[K::RemoveLoadBalancer, R, R, R], true, &[]),
    ),
    ("host-address", Plan(&[R, R, R, K::HostIdentity], true, &[])),
    ("vm-id", Plan(&[K::HostIdentity], true, &[])),
    ("resize-brokers", Plan(&[K::Resize], false, &[])),
    ("ssh-keys", Plan(&[K::FirstBootOnly], false, &[])),
    (
        "vip",
        Plan(&[K::Vip, R, R, R, R, R, K::RollingRestart], true, &[]),
    ),
    ("network", Plan(&[K::Network], true, &[])),
    ("os", Plan(&[K::Os], true, &[])),
    ("version-4.1-4.2", Plan(&[K::Version], false, &[])),
    ("version-3.13-4.2", Plan(&[K::Version], false, &[])),
    ("version-skip-4.1-4.3", Refused(&[Code::UpgradeHop])),
    ("version-skip-3.10-4.3", Refused(&[Code::UpgradeHop])),
    ("downgrade", Refused(&[Code::Downgrade])),
    ("blue-green", Plan(&[K::BlueGreen], true, &[])),
    ("blue-green-same-vip", Plan(&[K::BlueGreen], true, &[])),
    ("blue-green-in-place", Refused(&[Code::BlueGreenClash])),
    ("blue-green-vm-id-clash", Refused(&[Code::BlueGreenClash])),
    ("role-change", Refused(&[Code::RoleChange])),
    ("cluster-rename", Refused(&[Code::ClusterRename])),
    ("tls-inter-node", Refused(&[Code::TlsSwitch])),
    (
        "tls-amqp",
        Plan(&[R, R, K::RollingRestart], false, &[Code::TlsSwitch]),
    ),
    ("no-brokers-left", InvalidNew(&[Code::BrokerCount])),
    ("invalid-new", InvalidNew(&[Code::OutsideNetwork])),
];

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/changes")
}

/// The pair's renderings, as `rmqgen plan` prints them: (text, JSON).
fn render(name: &str) -> (Result<rmqgen::ChangePlan, ChangeError>, String, String) {
    let read = |f: &str| std::fs::read_to_string(dir().join(name).join(f)).unwrap();
    let (old_src, new_src) = (read("old.json"), read("new.json"));
    let old = rmqgen::parse(&old_src).unwrap_or_else(|e| panic!("{name}/old.json: {e}"));
    let new = rmqgen::parse(&new_src).unwrap_or_else(|e| panic!("{name}/new.json: {e}"));
    let result = rmqgen::plan_change(&old, &new);
    let (text, json) = match &result {
        Ok(plan) => (
            plan.to_string(),
            serde_json::to_string_pretty(plan).unwrap(),
        ),
        Err(e) => {
            let (status, source) = match e {
                ChangeError::InvalidOld(_) => ("the old spec is invalid", &old_src),
                ChangeError::InvalidNew(_) => ("the new spec is invalid", &new_src),
                ChangeError::Refused(_) => ("the change is refused", &new_src),
                ChangeError::Internal(e) => panic!("{name}: {e}"),
            };
            let mut d = e.diagnostics().unwrap().clone();
            d.locate(source);
            (
                format!("{status}:\n{d}"),
                serde_json::to_string_pretty(&serde_json::json!({
                    "status": status,
                    "diagnostics": d,
                }))
                .unwrap(),
            )
        }
    };
    (result, text, json)
}

#[test]
fn every_pair_is_listed_and_gives_its_outcome() {
    let mut on_disk: Vec<String> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = EXPECTED.iter().map(|(n, _)| n.to_string()).collect();
    listed.sort();
    assert_eq!(on_disk, listed, "tests/changes/ and EXPECTED differ");

    for (name, outcome) in EXPECTED {
        let (result, text, json) = render(name);
        match (outcome, &result) {
            (Plan(kinds, disruptive, warnings), Ok(plan)) => {
                let got: Vec<K> = plan.changes.iter().map(|c| c.kind).collect();
                assert_eq!(&got, kinds, "{name}:\n{text}");
                assert_eq!(plan.is_disruptive(), *disruptive, "{name}:\n{text}");
                let codes: Vec<Code> = plan.warnings.iter().map(|d| d.code).collect();
                assert_eq!(&codes, warnings, "{name}:\n{text}");
                assert!(plan
                    .warnings
                    .iter()
                    .all(|d| d.severity == Severity::Warning));
                assert_eq!(plan.is_noop(), kinds.is_empty());
            }
            (Refused(codes), Err(ChangeError::Refused(d)))
            | (InvalidNew(codes), Err(ChangeError::InvalidNew(d))) => {
                for code in *codes {
                    assert!(
                        d.iter()
                            .any(|x| x.code == *code && x.severity == Severity::Error),
                        "{name}: no error {code}:\n{d}"
                    );
                }
                // Every refusal has a hint and a pointer into NEW.
                for x in d.iter().filter(|x| x.severity == Severity::Error) {
                    assert!(x.hint.is_some(), "{name}: {x}");
                    assert!(x.pointer.starts_with('/'), "{name}: {x}");
                }
            }
            (_, other) => panic!("{name}: unexpected outcome {other:?}\n{text}"),
        }
        let mut settings = insta::Settings::clone_current();
        settings.set_snapshot_path("../snapshots");
        settings.set_prepend_module_to_snapshot(false);
        settings.set_input_file(dir().join(name).join("new.json"));
        settings.bind(|| {
            insta::assert_snapshot!(format!("plan@{name}"), text);
            insta::assert_snapshot!(format!("plan-json@{name}"), json);
        });
    }
}

#[test]
fn a_refused_skip_names_every_hop_and_the_first_to_take() {
    let (result, _, _) = render("version-skip-3.10-4.3");
    let Err(ChangeError::Refused(d)) = result else {
        panic!("not refused: {result:?}")
    };
    let e = d.iter().find(|d| d.code == Code::UpgradeHop).unwrap();
    assert_eq!(e.pointer, "/rabbitmq/version");
    assert!(
        e.message
            .contains("3.10 → 3.11 → 3.12 → 3.13 → 4.2 → 4.3 (5 hops)"),
        "{e}"
    );
    assert!(e.hint.as_deref().unwrap().contains("\"3.11\""), "{e}");
}

#[test]
fn a_hop_says_its_erlang_and_the_feature_flag_step() {
    let (result, text, _) = render("version-3.13-4.2");
    let plan = result.unwrap();
    let hop = plan.changes[0].hop.as_ref().unwrap();
    assert_eq!(
        (hop.from.to_string(), hop.to.to_string()),
        ("3.13".into(), "4.2".into())
    );
    assert!(
        hop.notes.iter().any(|n| n.contains("4.2.0-4.2.8")),
        "{text}"
    );
    assert!(hop.notes.iter().any(|n| n.contains("khepri_db")), "{text}");
    let steps = &plan.changes[0].steps;
    assert!(steps[0].contains("enable_feature_flag all"), "{text}");
    // One step per broker, in the spec's order (each runs the bootstrap).
    let order: Vec<&str> = steps
        .iter()
        .filter_map(|s| s.split(':').next().filter(|h| h.starts_with("mq-")))
        .collect();
    assert_eq!(order, ["mq-1", "mq-2", "mq-3"], "{text}");
}

#[test]
fn adding_a_broker_restarts_nothing_and_reloads_haproxy_on_both_lbs() {
    let (result, text, _) = render("add-broker");
    let plan = result.unwrap();
    assert!(plan
        .changes
        .iter()
        .all(|c| c.kind != K::RollingRestart && !c.disruptive));
    let haproxy = plan
        .changes
        .iter()
        .find(|c| c.summary.starts_with("haproxy.cfg"))
        .unwrap_or_else(|| panic!("{text}"));
    assert_eq!(haproxy.hosts, ["lb-1", "lb-2"]);
    // The peer list grew: pushed, not restarted.
    assert!(
        text.contains("only in the peer-discovery node list"),
        "{text}"
    );
    // The brokers' firewalls admit mq-4's Erlang distribution before it
    // joins; the load balancers' rulesets name no broker.
    let at = |f: &dyn Fn(&rmqgen::Change) -> bool| {
        plan.changes
            .iter()
            .position(f)
            .unwrap_or_else(|| panic!("{text}"))
    };
    let firewall = at(&|c| c.summary.starts_with("the host firewall"));
    assert_eq!(plan.changes[firewall].hosts, ["mq-1", "mq-2", "mq-3"]);
    assert!(firewall < at(&|c| c.kind == K::AddBroker), "{text}");
    assert!(
        plan.changes[firewall]
            .steps
            .iter()
            .any(|s| s.contains("systemctl reload nftables")),
        "{text}"
    );
}
