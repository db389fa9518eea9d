//! The rollout (`rmqgen render NEW --from OLD`): the script that carries
//! out `rmqgen plan`'s changes on a running cluster.
//!
//! - one snapshot per change pair of tests/changes/ the rollout carries
//!   out (`snapshots/rollout@<pair>.snap`), role file contents shown as
//!   references (each role file has its own snapshot) and the common
//!   functions as a reference to templates/rollout-lib.sh;
//! - the pairs it does not carry out are refused with their classes;
//! - every script parses (`bash -n`);
//! - scripts run against a fake transport (`RMQGEN_RSH`) that records
//!   every remote command as its words (the remote shell's view: the fake
//!   splits the command line as `sh` would): the order of drains and
//!   restarts, a second run that does nothing, a failed run resumed where
//!   it stopped, an added broker waiting for `terraform apply`.

use std::path::{Path, PathBuf};
use std::process::Command;

use rmqgen::{ChangeKind as K, RolloutError};

use crate::common::temp_dir::{write_file, TempDir};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/changes")
}

fn specs(name: &str) -> (rmqgen::Spec, rmqgen::Spec) {
    let read = |f: &str| {
        let text = std::fs::read_to_string(dir().join(name).join(f)).unwrap();
        rmqgen::parse(&text).unwrap_or_else(|e| panic!("{name}/{f}: {e}"))
    };
    (read("old.json"), read("new.json"))
}

/// Pairs the rollout carries out, with the script's file name.
const CARRIED: &[(&str, &str)] = &[
    ("no-op", "rollout.sh"),
    ("haproxy-reload", "rollout.sh"),
    ("keepalived-reload", "rollout.sh"),
    ("rolling-restart", "rollout.sh"),
    ("nixos-rolling-restart", "nixos.sh"),
    ("definitions", "rollout.sh"),
    ("add-broker", "rollout.sh"),
    ("remove-bootstrap-broker", "rollout.sh"),
    ("remove-three-brokers", "rollout.sh"),
    ("add-load-balancer", "rollout.sh"),
    ("remove-vip-holder", "rollout.sh"),
    ("ssh-keys", "rollout.sh"),
];

/// Pairs with a plan the rollout does not carry out, and the classes it
/// names.
const NOT_CARRIED: &[(&str, &[K])] = &[
    ("version-4.1-4.2", &[K::Version]),
    ("version-3.13-4.2", &[K::Version]),
    ("blue-green", &[K::BlueGreen]),
    ("blue-green-same-vip", &[K::BlueGreen]),
    ("tls-amqp", &[K::Other]),
    ("host-address", &[K::HostIdentity]),
    ("vm-id", &[K::HostIdentity]),
    ("resize-brokers", &[K::Resize]),
    ("network", &[K::Network]),
    ("os", &[K::Os]),
    ("vip", &[K::Vip]),
];

fn reference(file: &rmqgen::testing::RoleFile) -> String {
    format!("(role file {}, snapshotted on its own)\n", file.bundle_path)
}

#[test]
fn every_carried_pair_has_its_rollout_snapshot() {
    for (name, script) in CARRIED {
        let (old, new) = specs(name);
        let r = rmqgen::testing::rollout_with(&old, &new, reference)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(r.path, format!("rollout/{script}"), "{name}");
        // The real one differs only in the contents it carries.
        let real = rmqgen::rollout(&old, &new).unwrap();
        assert_eq!(real.path, r.path);
        assert_eq!(real.script.lines().count(), r.script.lines().count());
        let mut settings = insta::Settings::clone_current();
        settings.set_snapshot_path("../snapshots");
        settings.set_prepend_module_to_snapshot(false);
        settings.set_input_file(dir().join(name).join("new.json"));
        // The common functions are templates/rollout-lib.sh, reviewed as
        // the file it is; the snapshot shows what the change made.
        assert_eq!(r.script.matches(rmqgen::testing::ROLLOUT_LIB).count(), 1);
        let shown = r.script.replace(
            rmqgen::testing::ROLLOUT_LIB,
            "# (templates/rollout-lib.sh)\n",
        );
        settings.bind(|| insta::assert_snapshot!(format!("rollout@{name}"), shown));
    }
}

#[test]
fn the_rollout_refuses_what_it_does_not_carry_out() {
    for (name, kinds) in NOT_CARRIED {
        let (old, new) = specs(name);
        match rmqgen::rollout(&old, &new) {
            Err(RolloutError::Unsupported(u)) => {
                let got: Vec<K> = u.iter().map(|u| u.kind).collect();
                assert_eq!(&got, kinds, "{name}");
                let text = RolloutError::Unsupported(u).to_string();
                assert!(
                    text.starts_with("the rollout script does not carry out:"),
                    "{text}"
                );
            }
            other => panic!("{name}: {other:?}"),
        }
    }
    // A refused plan has no rollout either: its diagnostics.
    let (old, new) = specs("version-skip-3.10-4.3");
    let Err(RolloutError::Change(rmqgen::ChangeError::Refused(d))) = rmqgen::rollout(&old, &new)
    else {
        panic!("not refused")
    };
    assert!(d.iter().any(|d| d.code == rmqgen::Code::UpgradeHop));
}

#[test]
fn every_pair_is_either_carried_refused_or_unsupported() {
    let mut on_disk: Vec<String> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    for name in on_disk {
        let (old, new) = specs(&name);
        let r = rmqgen::rollout(&old, &new);
        let carried = CARRIED.iter().any(|(n, _)| *n == name);
        let unsupported = NOT_CARRIED.iter().any(|(n, _)| *n == name);
        match r {
            Ok(_) => assert!(carried, "{name}: rolled out but not in CARRIED"),
            Err(RolloutError::Unsupported(_)) => assert!(unsupported, "{name}"),
            Err(RolloutError::Change(_)) => assert!(!carried && !unsupported, "{name}"),
        }
    }
}

#[test]
fn every_script_parses() {
    let tmp = TempDir::new("rollout-parse");
    for (name, _) in CARRIED {
        let (old, new) = specs(name);
        let r = rmqgen::rollout(&old, &new).unwrap();
        let path = write_file(
            &tmp.path().join(format!("{name}.sh")),
            r.script.as_bytes(),
            0o755,
        );
        let out = Command::new("bash").arg("-n").arg(&path).output().unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A fake transport: `fake HOST COMMAND` appends `HOST|word|word...` to
/// $FAKE_LOG (the words as the host's shell splits COMMAND), reads and
/// drops standard input, and answers like a healthy cluster: `ip` prints
/// the VIP on the first load balancer; a host listed in $FAKE_DOWN does
/// not answer; a command containing $FAKE_FAIL fails.
const FAKE: &str = r#"#!/bin/bash
host=$1
eval "set -- $2"
line=$host
for w in "$@"; do line+="|${w//$'\n'/\\n}"; done
printf '%s\n' "$line" >>"$FAKE_LOG"
cat >/dev/null
if [[ -n ${FAKE_DOWN:-} && " $FAKE_DOWN " == *" $host "* ]]; then exit 255; fi
if [[ -n ${FAKE_FAIL:-} && $line == *"$FAKE_FAIL"* ]]; then exit 1; fi
if [[ $1 == ip && $host == "$FAKE_VIP_HOLDER" ]]; then echo "2: eth0 inet $FAKE_VIP/32 scope global eth0"; fi
exit 0
"#;

struct Run {
    code: i32,
    log: Vec<String>,
    stderr: String,
}

struct Fake {
    tmp: TempDir,
    script: PathBuf,
}

impl Fake {
    fn new(name: &str) -> Self {
        let tmp = TempDir::new(&format!("rollout-{name}"));
        let (old, new) = specs(name);
        let r = rmqgen::rollout(&old, &new).unwrap();
        let script = write_file(&tmp.path().join(&r.path), r.script.as_bytes(), 0o755);
        write_file(&tmp.path().join("fake"), FAKE.as_bytes(), 0o755);
        Fake { tmp, script }
    }

    fn run(&self, vip_holder: &str, vip: &str, down: &str, fail: &str) -> Run {
        let log = self.tmp.path().join("log");
        let _ = std::fs::remove_file(&log);
        let out = Command::new("bash")
            .arg(&self.script)
            .env("RMQGEN_RSH", self.tmp.path().join("fake"))
            .env("FAKE_LOG", &log)
            .env("FAKE_DOWN", down)
            .env("FAKE_FAIL", fail)
            .env("FAKE_VIP_HOLDER", vip_holder)
            .env("FAKE_VIP", vip)
            .output()
            .unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            log: std::fs::read_to_string(&log)
                .unwrap_or_default()
                .lines()
                .map(str::to_string)
                .collect(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

fn index(log: &[String], line: &str) -> usize {
    log.iter()
        .position(|l| l == line)
        .unwrap_or_else(|| panic!("no {line:?} in:\n{}", log.join("\n")))
}

#[test]
fn a_rolling_restart_drains_restarts_and_revives_one_broker_at_a_time_and_resumes() {
    let fake = Fake::new("rolling-restart");
    let run = fake.run("lb-1", "10.20.0.100", "", "");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let log = &run.log;
    let mut last = 0;
    for b in ["mq-1", "mq-2", "mq-3"] {
        let gate = index(
            log,
            &format!("{b}|rabbitmq-upgrade|await_online_quorum_plus_one|-t|30"),
        );
        let drain = index(log, &format!("{b}|rabbitmq-upgrade|drain"));
        let restart = index(log, &format!("{b}|systemctl|restart|rabbitmq-server"));
        let revive = index(log, &format!("{b}|rabbitmq-upgrade|revive"));
        assert!(
            last < gate && gate < drain && drain < restart && restart < revive,
            "{b}:\n{}",
            log.join("\n")
        );
        // The file goes out between the drain and the restart.
        let push = log[drain..restart].iter().any(|l| {
            l.starts_with(&format!("{b}|sh|-c|set -e\\nmkdir"))
                && l.ends_with("|/etc/rabbitmq/enabled_plugins|root|rabbitmq|644")
        });
        assert!(push, "{b}: no push of enabled_plugins:\n{}", log.join("\n"));
        // Every load balancer sees it UP before the next broker stops.
        for lb in ["lb-1", "lb-2"] {
            assert!(
                log[revive..]
                    .iter()
                    .any(|l| l.starts_with(&format!("{lb}|bash|-c|"))
                        && l.ends_with(&format!("|{b}")))
            );
        }
        last = revive;
    }
    assert!(run.stderr.contains("rollout complete"), "{}", run.stderr);

    // Again: every step is done, nothing is restarted.
    let again = fake.run("lb-1", "10.20.0.100", "", "");
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(again.log.is_empty(), "{:?}", again.log);
    assert_eq!(
        again.stderr.matches("done already").count(),
        4,
        "{}",
        again.stderr
    );
}

#[test]
fn a_failed_gate_stops_the_rollout_and_the_next_run_resumes_there() {
    let fake = Fake::new("rolling-restart");
    let run = fake.run("lb-1", "10.20.0.100", "", "mq-2|systemctl|restart");
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("STOPPED"), "{}", run.stderr);
    // mq-3 is not touched beyond the preflight.
    assert!(
        !run.log.iter().any(|l| l == "mq-3|rabbitmq-upgrade|drain"),
        "{}",
        run.log.join("\n")
    );
    let resumed = fake.run("lb-1", "10.20.0.100", "", "");
    assert_eq!(resumed.code, 0, "{}", resumed.stderr);
    assert!(!resumed
        .log
        .iter()
        .any(|l| l == "mq-1|rabbitmq-upgrade|drain"));
    index(&resumed.log, "mq-2|systemctl|restart|rabbitmq-server");
    index(&resumed.log, "mq-3|systemctl|restart|rabbitmq-server");
}

#[test]
fn a_noop_rollout_only_checks_the_cluster() {
    let fake = Fake::new("no-op");
    // The backup holding the VIP is fine: one load balancer holds it.
    let run = fake.run("lb-2", "10.20.0.100", "", "");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.log
            .iter()
            .all(|l| !l.contains("|restart|") && !l.contains("|reload|") && !l.contains("|drain")),
        "{}",
        run.log.join("\n")
    );
    index(&run.log, "lb-2|ip|-o|-4|addr|show|to|10.20.0.100/32");
}

#[test]
fn an_added_broker_waits_for_terraform_then_joins_and_grows_the_quorum_queues() {
    let fake = Fake::new("add-broker");
    let run = fake.run("lb-1", "10.20.0.100", "mq-4", "");
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("mq-4 does not answer yet: run `terraform apply` now"),
        "{}",
        run.stderr
    );
    // Every other host has its files and HAProxy was reloaded first.
    for lb in ["lb-1", "lb-2"] {
        index(&run.log, &format!("{lb}|systemctl|reload|haproxy"));
    }
    assert!(
        !run.log.iter().any(|l| l.contains("|restart")),
        "{}",
        run.log.join("\n")
    );
    // The brokers' firewalls admit mq-4 (checked, then loaded) before the
    // load balancers send it traffic.
    let lb_reload = index(&run.log, "lb-2|systemctl|reload|haproxy");
    for b in ["mq-1", "mq-2", "mq-3"] {
        let check = index(&run.log, &format!("{b}|nft|-c|-f|/etc/nftables.conf"));
        let load = index(
            &run.log,
            &format!("{b}|systemctl|reload-or-restart|nftables"),
        );
        assert!(check < load && load < lb_reload, "{}", run.log.join("\n"));
    }
    let run = fake.run("lb-1", "10.20.0.100", "", "");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        !run.log.iter().any(|l| l.contains("|reload|")),
        "{}",
        run.log.join("\n")
    );
    let grow = index(&run.log, "mq-4|rabbitmq-queues|grow|rabbit@mq-4|all");
    let joined = index(&run.log, "mq-3|sh|-c|rabbitmqctl -q cluster_status --formatter json | grep -o \"\\\"running_nodes\\\":\\[[^]]*\\]\" | grep -qF \"\\\"$1\\\"\"|rmqgen-member|rabbit@mq-4");
    assert!(joined < grow);
}

#[test]
fn a_removed_broker_is_drained_shrunk_stopped_and_forgotten_before_the_configs() {
    let fake = Fake::new("remove-bootstrap-broker");
    let run = fake.run("lb-1", "10.20.0.100", "", "");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let log = &run.log;
    let drain = index(log, "mq-1|rabbitmq-upgrade|drain");
    let shrink = index(log, "mq-1|rabbitmq-queues|shrink|rabbit@mq-1");
    let stop = index(log, "mq-1|systemctl|disable|--now|rabbitmq-server");
    let forget = log
        .iter()
        .position(|l| {
            l.starts_with("mq-2|sh|-c|rabbitmqctl forget_cluster_node")
                && l.ends_with("|rabbit@mq-1")
        })
        .expect("forget_cluster_node on a remaining broker");
    let reload = index(log, "lb-2|systemctl|reload|haproxy");
    assert!(drain < shrink && shrink < stop && stop < forget && forget < reload);
    assert!(run
        .stderr
        .contains("now run `terraform apply`: it destroys mq-1 and nothing else"));
}

/// `rmqgen render NEW --from OLD` writes the rollout (or, for blue-green,
/// the migration) beside the bundle; a refused or uncarried change writes
/// nothing and exits 1.
#[cfg(feature = "cli")]
#[test]
fn render_from_writes_the_rollout_or_nothing() {
    let run = |name: &str, out: &Path| {
        Command::new(env!("CARGO_BIN_EXE_rmqgen"))
            .arg("render")
            .arg(dir().join(name).join("new.json"))
            .arg("--from")
            .arg(dir().join(name).join("old.json"))
            .arg("--out")
            .arg(out)
            .output()
            .unwrap()
    };
    let tmp = TempDir::new("rollout-cli");
    let out = tmp.path().join("add");
    let o = run("add-broker", &out);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let script = out.join("rollout/rollout.sh");
    let (old, new) = specs("add-broker");
    assert_eq!(
        std::fs::read_to_string(&script).unwrap(),
        rmqgen::rollout(&old, &new).unwrap().script
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&script).unwrap().permissions().mode() & 0o111,
        0o111
    );

    // Blue-green is carried by the migration script instead, the library's
    // bytes, executable.
    let out = tmp.path().join("blue-green");
    let o = run("blue-green", &out);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!out.join("rollout").exists());
    let plan = |side: &str| {
        let spec = rmqgen::load(dir().join("blue-green").join(side)).unwrap();
        rmqgen::validate(&spec).unwrap().plan
    };
    let migration = rmqgen::bluegreen::migration(&plan("old.json"), &plan("new.json"))
        .unwrap()
        .unwrap();
    let path = rmqgen::bluegreen::SCRIPT;
    let script = out.join(path);
    assert_eq!(
        std::fs::read(&script).unwrap(),
        migration.get(path).unwrap().bytes
    );
    assert_eq!(
        std::fs::metadata(&script).unwrap().permissions().mode() & 0o111,
        0o111
    );

    for (name, says) in [
        (
            "version-skip-3.10-4.3",
            "3.10 → 3.11 → 3.12 → 3.13 → 4.2 → 4.3",
        ),
        ("version-4.1-4.2", "a version hop is not scripted yet"),
    ] {
        let out = tmp.path().join(name);
        let o = run(name, &out);
        assert_eq!(o.status.code(), Some(1), "{name}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(says), "{name}: {err}");
        assert!(err.contains("nothing written"), "{name}: {err}");
        assert!(!out.exists(), "{name}: wrote {}", out.display());
    }
}
