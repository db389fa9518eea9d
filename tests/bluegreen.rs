//! Blue-green off classic mirrored queues: the migration bundle rmqgen
//! renders for a `classic-mirrored` → `quorum` pair of `tests/changes/`,
//! the definitions transform on a real RabbitMQ 3.10.8 export, and the
//! migration script run end to end against fake hosts (its transport,
//! `RMQGEN_SSH`, is a stand-in that answers as `rabbitmqctl` would and
//! records every command and what it was fed).

use std::path::PathBuf;
use std::process::Command;

use rmqgen::bluegreen;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn plan(pair: &str, side: &str) -> rmqgen::Plan {
    let path = root().join("tests/changes").join(pair).join(side);
    let spec = rmqgen::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    rmqgen::validate(&spec)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .plan
}

fn script(pair: &str) -> String {
    let bundle = bluegreen::migration(&plan(pair, "old.json"), &plan(pair, "new.json"))
        .unwrap()
        .unwrap_or_else(|| panic!("{pair}: no migration"));
    let paths: Vec<&str> = bundle.iter().map(|(p, _)| p).collect();
    assert_eq!(paths, [bluegreen::SCRIPT]);
    let artifact = bundle.get(bluegreen::SCRIPT).unwrap();
    assert_eq!(artifact.mode & 0o111, 0o111, "{pair}: not executable");
    artifact.text().to_string()
}

const PAIRS: &[&str] = &["blue-green", "blue-green-same-vip"];

/// The snapshots this module writes (for `snapshots::no_orphaned_or_pending_snapshots`).
pub fn snapshot_names() -> Vec<String> {
    let mut names: Vec<String> = PAIRS
        .iter()
        .map(|p| format!("migration@{p}.snap"))
        .collect();
    names.push("migrate-definitions@rabbitmq-3.10.8.snap".into());
    names
}

#[test]
fn the_migration_script_of_each_blue_green_pair() {
    for pair in PAIRS {
        let text = script(pair);
        // bash parses it.
        let out = Command::new("bash")
            .args(["-n", "-c", &text])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{pair}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut settings = insta::Settings::clone_current();
        settings.set_snapshot_path("../snapshots");
        settings.set_prepend_module_to_snapshot(false);
        settings.set_input_file(root().join("tests/changes").join(pair).join("new.json"));
        settings.bind(|| insta::assert_snapshot!(format!("migration@{pair}"), text));
    }
}

#[test]
fn the_script_takes_its_hosts_from_both_plans() {
    let text = script("blue-green");
    // Blue's brokers (OLD), green's (NEW); the shovels read blue's brokers
    // directly, never a VIP (which may move to green).
    assert!(
        text.contains("blue_brokers=('192.168.247.150' '192.168.247.151' '192.168.247.152')"),
        "{text}"
    );
    assert!(
        text.contains("green_brokers=('192.168.247.170' '192.168.247.171' '192.168.247.172')"),
        "{text}"
    );
    assert!(
        text.contains("--source-broker '192.168.247.150:5672'"),
        "{text}"
    );
    assert!(!text.contains("--source-broker '192.168.247.160"), "{text}");
    // 4.0 on green: predeclared shovels.
    assert!(!text.contains("--declare-queues"), "{text}");
    // Different VIPs: the script does not move one.
    assert!(!text.contains("systemctl stop keepalived"), "{text}");
    let same = script("blue-green-same-vip");
    // One VIP: blue's load balancers stop it, the holder (haproxy-1) last;
    // green's start, the holder first.
    assert!(
        same.contains("blue_lbs=('192.168.247.154' '192.168.247.153')"),
        "{same}"
    );
    assert!(
        same.contains("green_lbs=('192.168.247.180' '192.168.247.181')"),
        "{same}"
    );
    assert!(same.contains("systemctl stop keepalived"), "{same}");
}

#[test]
fn no_migration_for_changes_made_in_place() {
    for pair in ["add-broker", "rolling-restart", "version-3.13-4.2"] {
        let m = bluegreen::migration(&plan(pair, "old.json"), &plan(pair, "new.json")).unwrap();
        assert!(m.is_none(), "{pair}");
    }
}

#[test]
fn a_real_3_10_export_migrated() {
    let text =
        std::fs::read_to_string(root().join("tests/data/definitions/rabbitmq-3.10.8-export.json"))
            .unwrap();
    let m = bluegreen::migrate_definitions_str(&text).unwrap();
    let notes: Vec<String> = m
        .notes
        .iter()
        .map(|n| format!("{:?} {:?} {:?}: {}", n.kind, n.vhost, n.name, n.detail))
        .collect();
    let shown = format!(
        "{}\n\n{}\n",
        serde_json::to_string_pretty(&m.definitions).unwrap(),
        notes.join("\n")
    );
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("../snapshots");
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| insta::assert_snapshot!("migrate-definitions@rabbitmq-3.10.8", shown));
}

/// The fake transport: `$RMQGEN_SSH HOST COMMAND`. It splits COMMAND as the
/// remote shell would, appends `HOST<TAB>word|word|...` to `calls`, saves
/// the standard input of the commands that read it, and answers as the
/// hosts of a healthy blue and green would. `$FAKE/blue-messages` holds
/// the message count blue reports per queue listing.
#[cfg(feature = "cli")]
const FAKE_SSH: &str = r#"#!/bin/bash
set -euo pipefail
host="$1"
eval "set -- $2"
n=$(wc -l < "$FAKE/calls" 2>/dev/null || echo 0)
printf '%s\t%s\n' "$host" "$(IFS='|'; echo "$*")" >> "$FAKE/calls"
case "$host" in 192.168.247.15[0-2]) side=blue ;; 192.168.247.17[0-2]) side=green ;; *) side=lb ;; esac
case "$*" in
  "rabbitmq-diagnostics -q check_running") [ "$host" != 192.168.247.150 ] ;;
  "rabbitmqctl -q --timeout 120 await_online_nodes 3") ;;
  "rabbitmqctl -q eval lists:member(rabbitmq_shovel, rabbit_plugins:active()).") echo true ;;
  "rabbitmqctl -q export_definitions -") cat "$FAKE/export.json" ;;
  "rabbitmqctl -q list_users --no-table-headers") printf 'guest\t[administrator]\n' ;;
  "rabbitmqctl add_user "*|"rabbitmqctl change_password "*) cat > "$FAKE/$side-$3.stdin" ;;
  "rabbitmqctl -q list_vhosts --no-table-headers name") printf '/\nbilling\nit'"'"'s $(x)\n' ;;
  "sh -c "*"rabbitmqctl -q import_definitions"*) cat > "$FAKE/import-$n.json" ;;
  "rabbitmqctl -q list_queues --vhost "*) printf '%s\n0\n' "$(cat "$FAKE/blue-messages")" ;;
  "rabbitmqctl -q list_connections --no-table-headers user") printf 'rmqgen-blue-green\n' ;;
  *) ;;
esac
"#;

#[cfg(feature = "cli")]
#[test]
fn the_script_runs_end_to_end_against_fake_hosts() {
    use std::os::unix::fs::PermissionsExt;

    let dir = std::env::temp_dir().join(format!("rmqgen-bluegreen-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, text: &str, mode: u32| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    };
    let script_path = write("blue-green.sh", &script("blue-green"), 0o755);
    let ssh = write("fake-ssh", FAKE_SSH, 0o755);
    std::fs::copy(
        root().join("tests/data/definitions/rabbitmq-3.10.8-export.json"),
        dir.join("export.json"),
    )
    .unwrap();
    write("blue-messages", "0", 0o644);
    let state = dir.join("state");
    let run_with = |step: &str, timeout_s: &str| {
        let out = Command::new("bash")
            .arg(&script_path)
            .arg(step)
            .env("FAKE", &dir)
            .env("RMQGEN_SSH", &ssh)
            .env("RMQGEN_SUDO", "")
            .env("RMQGEN_BIN", env!("CARGO_BIN_EXE_rmqgen"))
            .env("RMQGEN_MIGRATION_STATE", &state)
            .env("RMQGEN_DRAIN_TIMEOUT_S", timeout_s)
            .env("RMQGEN_DRAIN_INTERVAL_S", "0")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let run = |step: &str| run_with(step, "0");
    let calls = || std::fs::read_to_string(dir.join("calls")).unwrap_or_default();

    // Out of order: refused.
    let (code, err) = run("cutover");
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("prepare first"), "{err}");

    let (code, err) = run("prepare");
    assert_eq!(code, Some(0), "{err}");
    let c = calls();
    // 192.168.247.150 is down: blue's next broker answers.
    assert!(
        c.contains("192.168.247.151\trabbitmqctl|-q|export_definitions|-\n"),
        "{c}"
    );
    // The shovels' user gets the password on stdin, never in argv.
    let password = std::fs::read_to_string(state.join("shovel-password")).unwrap();
    assert_eq!(password.len(), 48, "{password}");
    assert_eq!(
        std::fs::read_to_string(dir.join("blue-rmqgen-blue-green.stdin")).unwrap(),
        password
    );
    assert!(!c.contains(&password), "{c}");
    // A hostile vhost name reaches rabbitmqctl as one word, unexpanded.
    assert!(c.contains("192.168.247.151\trabbitmqctl|-q|set_permissions|--vhost|it's $(x)|rmqgen-blue-green|.*|.*|.*\n"), "{c}");
    // Green got the migrated definitions, then the shovels.
    let imports: Vec<serde_json::Value> = {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("import-")
            })
            .collect();
        files.sort_by_key(|p| {
            p.file_stem().unwrap().to_string_lossy()[7..]
                .parse::<u32>()
                .unwrap()
        });
        files
            .iter()
            .map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap())
            .collect()
    };
    assert_eq!(imports.len(), 2, "{c}");
    let expected = bluegreen::migrate_definitions_str(
        &std::fs::read_to_string(dir.join("export.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(imports[0], expected.definitions);
    let shovels = imports[1]["parameters"].as_array().unwrap();
    assert_eq!(shovels.len(), expected.queues().len());
    assert_eq!(
        shovels[0]["value"]["src-uri"][0],
        format!("amqp://rmqgen-blue-green:{password}@192.168.247.150:5672/billing")
    );
    assert!(err.contains("REVIEW queue-kept-classic"), "{err}");
    let mode = std::fs::metadata(&state).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700);

    // Again: nothing is exported twice, the imports are repeated (no-ops).
    let (code, err) = run("prepare");
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(calls().matches("export_definitions").count(), 1);

    let (code, err) = run("cutover");
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains("point every client at green's VIP 192.168.247.190"),
        "{err}"
    );

    // Blue still holds messages: drain times out and deletes no shovel.
    write("blue-messages", "5", 0o644);
    let (code, err) = run("drain");
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("blue: 15 message(s), 0 client connection(s)"),
        "{err}"
    );
    assert!(!calls().contains("clear_parameter"));
    let (code, err) = run("teardown");
    assert_eq!(code, Some(1), "{err}");

    // Empty: three quiet checks, then every shovel is deleted by name.
    write("blue-messages", "0", 0o644);
    let (code, err) = run_with("drain", "60");
    assert_eq!(code, Some(0), "{err}");
    let c = calls();
    assert!(
        c.contains(
            "\trabbitmqctl|-q|clear_parameter|--vhost|billing|shovel|rmqgen-blue-green invoices\n"
        ),
        "{c}"
    );
    assert_eq!(
        c.matches("clear_parameter").count(),
        expected.queues().len()
    );
    let (code, err) = run("teardown");
    assert_eq!(code, Some(0), "{err}");
    assert!(calls().contains("\trabbitmqctl|-q|delete_user|rmqgen-blue-green\n"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(feature = "cli")]
#[test]
fn migrate_definitions_on_the_command_line() {
    let export = root().join("tests/data/definitions/rabbitmq-3.10.8-export.json");
    let out = Command::new(env!("CARGO_BIN_EXE_rmqgen"))
        .arg("migrate-definitions")
        .arg(&export)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    // stdout: green's definitions, as the library makes them.
    let green: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let text = std::fs::read_to_string(&export).unwrap();
    assert_eq!(
        green,
        bluegreen::migrate_definitions_str(&text)
            .unwrap()
            .definitions
    );
    // stderr: one line per note, the ones to review marked, and a count.
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "rmqgen: REVIEW queue-kept-classic vhost \"/\" \"orders.priority\": x-max-priority"
        ),
        "{err}"
    );
    assert!(
        err.contains("rmqgen: policy-dropped vhost \"/\" \"ha-all\""),
        "{err}"
    );
    assert!(
        err.ends_with("rmqgen: 10 queue(s) to migrate, 3 staying classic (marked REVIEW)\n"),
        "{err}"
    );

    // Not definitions: exit 1, with the pointer.
    let mut child = Command::new(env!("CARGO_BIN_EXE_rmqgen"))
        .args(["migrate-definitions", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin
            .write_all(br#"{"queues": [{"name": "q", "durable": 1}]}"#)
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "rmqgen: -: /queues/0/durable: expected a boolean\n"
    );

    // --shovels without the password file: a usage error.
    let out = Command::new(env!("CARGO_BIN_EXE_rmqgen"))
        .arg("migrate-definitions")
        .arg(&export)
        .args([
            "--shovels",
            "/nonexistent/x",
            "--source-broker",
            "10.0.0.1:5672",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
