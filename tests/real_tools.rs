//! Real-tool checks of every example's rendered artifacts: `haproxy -c`,
//! `keepalived -t` in a namespace sandbox, `nft -c` of every host's
//! firewall (the machine's nft, in a network namespace), and a real
//! RabbitMQ node that boots the rendered configuration and runs the rendered bootstrap, each
//! with the tools of the Debian release the example targets, inside that
//! release's root filesystem (the release its `os` names, through
//! rmqgen's platform table: `harness::target_of`; scripts/rootfs.sh builds
//! and caches them).
//!
//! Ignored by default: they need root and the root filesystems, and take
//! minutes.
//! Run them with
//!
//! ```text
//! cargo test --test integration real_tools:: -- --ignored --test-threads=1
//! ```
//!
//! (scripts/test-all.sh installs the tools and does). A missing tool skips a
//! test with a notice on stderr, or fails it when `CI` is set.

// The helpers of the real-tool tests, which the lab shares (harness,
// rabbit).
pub mod harness;
mod keepalived;
mod nftables;
pub mod rabbit;
mod tls;
mod variants;

use std::collections::BTreeSet;
use std::time::Duration;

use harness::{artifact, compile, for_each_target, require, run, unavailable, TempDir};
use keepalived::{Host, Sandbox};
use rabbit::{EtcFile, Installation, Node};
use rmqgen::plan::paths;

const HAPROXY_TIMEOUT: Duration = Duration::from_secs(30);
const BOOTSTRAP_TIMEOUT: Duration = Duration::from_secs(300);

// ---------------------------------------------------------------- HAProxy

/// `haproxy -c` of the release whose root filesystem is `base`, on `cfg`.
fn haproxy_check(
    base: &std::path::Path,
    cfg: &std::path::Path,
    password: Option<&str>,
) -> harness::Outcome {
    let dir = cfg.parent().expect("a config file has a directory");
    let name = cfg.file_name().expect("a file name").to_string_lossy();
    let inside = format!("/mnt/{name}");
    // -V: HAProxy 3.x says "Configuration file is valid" only when verbose.
    let mut cmd = harness::in_root(base, dir, "haproxy", &["-c", "-V", "-f", &inside]);
    match password {
        Some(p) => cmd.env(paths::STATS_PASSWORD_ENV, p),
        None => cmd.env_remove(paths::STATS_PASSWORD_ENV),
    };
    run(&mut cmd, HAPROXY_TIMEOUT)
}

/// Root filesystem tools: the real-tool tests run each release's own
/// HAProxy, keepalived and RabbitMQ inside its root filesystem.
const ROOT_TOOLS: &[&str] = &["unshare", "chroot", "mount"];

/// Every release scripts/rootfs.sh builds, with its root filesystem.
fn every_release() -> Vec<(&'static str, std::path::PathBuf)> {
    harness::ROOTFS_RELEASES
        .into_iter()
        .filter_map(|r| match harness::rootfs(r) {
            Ok(b) => Some((r, b)),
            Err(e) => {
                unavailable(&e);
                None
            }
        })
        .collect()
}

#[test]
#[ignore = "needs root and mmdebstrap (or the cached root filesystems); run by scripts/test-all.sh"]
fn haproxy_accepts_every_rendered_config() {
    if require(ROOT_TOOLS, true).is_none() {
        return;
    }
    let dir = TempDir::new("haproxy");
    for_each_target("haproxy -c", |ex, t| {
        // Certificates are tls.rs's: it checks the TLS configs with some.
        let (source, _) = tls::without_tls(&ex.source);
        let out = compile(&ex.name, &source);
        eprintln!(
            "{}: {}",
            t.release,
            harness::tool_version(&t.base, "haproxy", "-v")
        );
        for lb in &out.plan.load_balancers {
            let path = format!("haproxy/{}/haproxy.cfg", lb.name);
            let cfg = dir.write(
                &format!("{}-{}.cfg", ex.name, lb.name),
                artifact(&out, &path).text().as_bytes(),
                0o644,
            );
            // Unset, the stats frontend is left out (`.if defined`); set,
            // it is parsed with the password expanded.
            for password in [None, Some("Rt-stats-Pass-1")] {
                let context = format!(
                    "{}: {path} with {} {}",
                    ex.name,
                    paths::STATS_PASSWORD_ENV,
                    if password.is_some() { "set" } else { "unset" }
                );
                let context = format!("{context} on Debian {}", t.release);
                let o = haproxy_check(&t.base, &cfg, password).expect_success(&context);
                for alarm in ["[WARNING]", "[ALERT]", "[NOTICE]"] {
                    assert!(!o.output().contains(alarm), "{context}: {alarm}: {o}");
                }
                assert!(
                    o.output().contains("Configuration file is valid"),
                    "{context}: {o}"
                );
            }
        }
    });
}

/// The harness can fail: a broken directive is reported.
#[test]
#[ignore = "needs root and mmdebstrap (or the cached root filesystems); run by scripts/test-all.sh"]
fn haproxy_check_rejects_a_broken_config() {
    if require(ROOT_TOOLS, true).is_none() {
        return;
    }
    let out = compile("the reference spec", &rmqgen::reference_spec());
    let lb = &out.plan.load_balancers[0].name;
    let cfg = artifact(&out, &format!("haproxy/{lb}/haproxy.cfg")).text();
    let broken = cfg.replacen(
        "frontend amqp\n",
        "frontend amqp\n    rmqgen_bogus_keyword 1\n",
        1,
    );
    assert_ne!(broken, cfg, "the reference config has no `frontend amqp`");
    let dir = TempDir::new("haproxy-neg");
    let path = dir.write("broken.cfg", broken.as_bytes(), 0o644);
    for (release, base) in every_release() {
        let o = haproxy_check(&base, &path, None);
        assert!(
            !o.success(),
            "{release}: haproxy accepted a bogus keyword: {o}"
        );
        assert!(o.output().contains("[ALERT]"), "{release}: {o}");
    }
}

// ------------------------------------------------------------- keepalived

#[test]
#[ignore = "needs root and mmdebstrap (or the cached root filesystems); run by scripts/test-all.sh"]
fn keepalived_accepts_every_rendered_config() {
    let Some(bins) = require(keepalived::TOOLS, true) else {
        return;
    };
    for_each_target("keepalived -t", |ex, t| {
        let out = compile(&ex.name, &ex.source);
        eprintln!(
            "{}: {}",
            t.release,
            harness::tool_version(&t.base, "keepalived", "--version")
        );
        let script = artifact(&out, "keepalived/check-haproxy.sh");
        let net = &out.plan.network;
        for lb in &out.plan.load_balancers {
            let path = format!("keepalived/{}/keepalived.conf", lb.name);
            let sandbox = Sandbox::new(&bins, &t.base, &net.interface, *lb.address, net.prefix);
            let o = sandbox.check(artifact(&out, &path).text(), script, Host::Faithful);
            let o = o.expect_success(&format!("{}: {path} on Debian {}", ex.name, t.release));
            for alarm in keepalived::ALARMS {
                assert!(
                    !o.output().contains(alarm),
                    "{}: {path} on Debian {}: keepalived says {alarm:?}: {o}",
                    ex.name,
                    t.release
                );
            }
        }
    });
}

/// Negative controls: the sandbox is faithful enough that each broken
/// setup, one difference at a time, makes `keepalived -t` fail.
#[test]
#[ignore = "needs root and mmdebstrap (or the cached root filesystems); run by scripts/test-all.sh"]
fn keepalived_sandbox_rejects_broken_setups() {
    let Some(bins) = require(keepalived::TOOLS, true) else {
        return;
    };
    let out = compile("the reference spec", &rmqgen::reference_spec());
    let lb = &out.plan.load_balancers[0];
    let conf = artifact(&out, &format!("keepalived/{}/keepalived.conf", lb.name)).text();
    let script = artifact(&out, "keepalived/check-haproxy.sh");
    let net = &out.plan.network;
    for (release, base) in every_release() {
        eprintln!("--- negative controls on Debian {release}");
        let sandbox = Sandbox::new(&bins, &base, &net.interface, *lb.address, net.prefix);
        sandbox_controls(&sandbox, conf, script);
    }
}

/// The controls of [`keepalived_sandbox_rejects_broken_setups`] in one
/// sandbox.
fn sandbox_controls(sandbox: &Sandbox, conf: &str, script: &rmqgen::Artifact) {
    let without = |directive: &str| -> String {
        let kept: Vec<&str> = conf
            .lines()
            .filter(|l| l.trim() != directive && !l.trim().starts_with(&format!("{directive} ")))
            .collect();
        assert_ne!(
            kept.len(),
            conf.lines().count(),
            "no `{directive}` line to remove"
        );
        kept.join("\n") + "\n"
    };
    let bogus = conf.replacen(
        "global_defs {\n",
        "global_defs {\n    rmqgen_bogus_directive 1\n",
        1,
    );
    assert_ne!(bogus, conf, "the config has no `global_defs {{` line");

    // The baseline the controls differ from.
    sandbox
        .check(conf, script, Host::Faithful)
        .expect_success("the unmodified reference config");

    let cases: [(&str, String, Host, &str); 5] = [
        (
            "a bogus directive",
            bogus,
            Host::Faithful,
            "Unknown keyword",
        ),
        (
            "script_user removed, on a host without keepalived_script",
            without("script_user"),
            Host::NoScriptUser,
            "Unable to set default user",
        ),
        (
            "the rendered config on a host without keepalived_script",
            conf.to_string(),
            Host::NoScriptUser,
            "Error setting global script uid/gid",
        ),
        (
            "enable_script_security removed",
            without("enable_script_security"),
            Host::Faithful,
            "SECURITY VIOLATION",
        ),
        (
            "the check script not installed",
            conf.to_string(),
            Host::NoCheckScript,
            "not found",
        ),
    ];
    for (what, text, host, says) in cases {
        let o = sandbox.check(&text, script, host);
        eprintln!("negative control, {what}: {}", o.status);
        assert!(!o.success(), "keepalived -t accepted {what}: {o}");
        // keepalived's own words: the failure is not the harness's.
        assert!(
            o.output().contains(says),
            "{what}: expected {says:?} in: {o}"
        );
    }
}

// --------------------------------------------------------------- RabbitMQ

/// The RabbitMQ of a target's release. Not a skip: a release without the
/// series its examples are mapped to is a failure with the reason.
fn installation(ex: &harness::Example, t: &harness::Target) -> Installation {
    let inst =
        rabbit::installation_at(&t.base).unwrap_or_else(|e| panic!("Debian {}: {e}", t.release));
    let want = t.series.clone().unwrap_or_else(|| ex.source_version());
    assert_eq!(
        inst.series, want,
        "{} runs on Debian {} (its os) for RabbitMQ {want}, and the root filesystem has {} \
         (rmqgen's platform table says otherwise: rebuild it with scripts/rootfs.sh)",
        ex.name, t.release, inst.version
    );
    eprintln!(
        "RabbitMQ {} (Debian {}) at {}",
        inst.version,
        t.release,
        inst.sbin.display()
    );
    inst
}

/// Renders the node variant of an example and logs how it differs.
fn node_variant(ex: &harness::Example, inst: &Installation) -> rmqgen::Output {
    let v = variants::for_node(&ex.source, rabbit::PORTS, &inst.series);
    for change in &v.changes {
        eprintln!("{}: variant: {change}", ex.name);
    }
    compile(&format!("the node variant of {}", ex.name), &v.source)
}

/// The rendered broker files at their install paths, plus `extra`.
fn broker_files(out: &rmqgen::Output, extra: Vec<EtcFile>) -> (Vec<EtcFile>, String, String) {
    let mut files = extra;
    let mut path_of = |bundle_path: &str| -> String {
        let a = artifact(out, bundle_path);
        let install = a
            .install
            .as_ref()
            .unwrap_or_else(|| panic!("{bundle_path} is not installed"));
        files.push(EtcFile::at(&install.path, a.bytes.clone(), install.mode));
        install.path.clone()
    };
    let config = path_of("rabbitmq/rabbitmq.conf");
    let plugins = path_of("rabbitmq/enabled_plugins");
    path_of("rabbitmq/definitions.json");
    (files, config, plugins)
}

/// Rows of a `--no-table-headers` listing, split on tabs.
fn rows(node: &Node, tool: &str, args: &[&str]) -> Vec<Vec<String>> {
    let o = node
        .ctl(tool, args)
        .expect_success(&format!("{tool} {}", args.join(" ")));
    o.stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

/// The rendered policy is present in every vhost, exactly.
fn assert_policy(node: &Node, out: &rmqgen::Output) {
    let p = &out.plan.rabbitmq.policy;
    for v in &out.plan.rabbitmq.vhosts {
        let listed = rows(
            node,
            "rabbitmqctl",
            &[
                "-q",
                "list_policies",
                "--vhost",
                &v.name,
                "--no-table-headers",
            ],
        );
        // vhost, name, pattern, apply-to, definition, priority
        let row = listed
            .iter()
            .find(|r| r.get(1) == Some(&p.name))
            .unwrap_or_else(|| {
                panic!(
                    "policy {} missing in vhost {}: {listed:?}\n{}",
                    p.name,
                    v.name,
                    node.diagnostics()
                )
            });
        assert_eq!(
            row.get(2),
            Some(&p.pattern),
            "pattern of {} in {}",
            p.name,
            v.name
        );
        assert_eq!(
            row.get(3).map(String::as_str),
            Some(p.apply_to.to_string().as_str()),
            "apply-to"
        );
        let definition: serde_json::Value =
            serde_json::from_str(row.get(4).map(String::as_str).unwrap_or(""))
                .unwrap_or_else(|e| panic!("policy definition is not JSON ({e}): {row:?}"));
        assert_eq!(
            definition,
            serde_json::Value::Object(p.definition.clone()),
            "definition of {} in {}",
            p.name,
            v.name
        );
        assert_eq!(row.get(5), Some(&p.priority.to_string()), "priority");
    }
}

fn assert_vhosts(node: &Node, out: &rmqgen::Output) {
    let listed: BTreeSet<String> = rows(
        node,
        "rabbitmqctl",
        &["-q", "list_vhosts", "--no-table-headers", "name"],
    )
    .into_iter()
    .filter_map(|r| r.into_iter().next())
    .collect();
    for v in &out.plan.rabbitmq.vhosts {
        assert!(
            listed.contains(&*v.name),
            "vhost {} missing: {listed:?}",
            v.name
        );
    }
}

/// User names with their tags.
fn users(node: &Node) -> Vec<(String, BTreeSet<String>)> {
    rows(
        node,
        "rabbitmqctl",
        &["-q", "list_users", "--no-table-headers"],
    )
    .into_iter()
    .map(|r| {
        let tags = r.get(1).map(String::as_str).unwrap_or("[]");
        let tags = tags.trim_start_matches('[').trim_end_matches(']');
        let tags = tags
            .split(',')
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .collect();
        (r.into_iter().next().unwrap_or_default(), tags)
    })
    .collect()
}

#[test]
#[ignore = "needs root and mmdebstrap (or the cached root filesystems); run by scripts/test-all.sh"]
fn rabbitmq_boots_every_rendered_config() {
    let Some(bins) = require(rabbit::TOOLS, true) else {
        return;
    };
    for_each_target("rabbitmq boot", |ex, t| {
        let inst = installation(ex, t);
        // The one-broker variant: every key the example's rabbitmq.conf
        // writes, with a classic_config list of this node alone. A lone
        // 4.x node whose other peers do not exist retries peer discovery
        // for minutes (3.10 gave up after ~10 s); forming the cluster from
        // the full list is the lab's job, on every release.
        let out = node_variant(ex, &inst);
        let (files, config, plugins) = broker_files(&out, Vec::new());
        let node = Node::start(&inst, &t.base, &bins, &files, &config, &plugins);

        assert_policy(&node, &out);
        assert_vhosts(&node, &out);
        let users = users(&node);
        assert!(
            users.iter().all(|(name, _)| name != "guest"),
            "a guest user exists: {users:?}"
        );

        // The rendered ports and plugins took effect.
        let listeners = node
            .ctl("rabbitmq-diagnostics", &["-q", "listeners"])
            .expect_success("rabbitmq-diagnostics listeners");
        let r = &out.plan.rabbitmq;
        let mut expected = vec![
            ("amqp", *r.ports.amqp),
            ("clustering", *r.ports.distribution),
        ];
        if r.management {
            expected.push(("http", *r.ports.management));
        }
        if r.prometheus {
            expected.push(("http/prometheus", *r.ports.prometheus));
        }
        for (protocol, port) in expected {
            let needle = format!("port: {port}, protocol: {protocol},");
            assert!(
                listeners.stdout.contains(&needle),
                "no {needle:?} listener: {listeners}"
            );
        }
        let enabled: BTreeSet<String> = node
            .ctl(
                "rabbitmq-plugins",
                &["-q", "list", "--enabled", "--minimal"],
            )
            .expect_success("rabbitmq-plugins list")
            .stdout
            .lines()
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect();
        for plugin in &r.plugins {
            assert!(
                enabled.contains(plugin.as_str()),
                "plugin {plugin} not enabled: {enabled:?}"
            );
        }
    });
}

#[test]
#[ignore = "needs root and mmdebstrap (or the cached root filesystems); run by scripts/test-all.sh"]
fn bootstrap_script_applies_every_example_twice() {
    let Some(bins) = require(rabbit::TOOLS, true) else {
        return;
    };
    for_each_target("bootstrap", |ex, t| {
        let inst = installation(ex, t);
        let out = node_variant(ex, &inst);
        let r = &out.plan.rabbitmq;
        assert_eq!(out.plan.brokers.len(), 1);
        assert_eq!(
            out.plan.brokers[0].node_name,
            rabbit::NODE,
            "the node the script waits for"
        );

        // The provisioning layer writes these (0400 root). Whether it ends
        // them with a newline is its business; rabbitmqctl reads a line, so
        // both forms are exercised.
        let passwords: Vec<String> = r
            .users
            .iter()
            .enumerate()
            .map(|(i, u)| format!("Rt-{}-pw{i}", u.name))
            .collect();
        let secrets = r
            .users
            .iter()
            .zip(&passwords)
            .enumerate()
            .map(|(i, (u, pw))| {
                let text = if i % 2 == 0 {
                    format!("{pw}\n")
                } else {
                    pw.clone()
                };
                EtcFile::at(&u.password_file, text, 0o400)
            })
            .collect();
        let (files, config, plugins) = broker_files(&out, secrets);
        let node = Node::start(&inst, &t.base, &bins, &files, &config, &plugins);

        let script = artifact(&out, "bootstrap/queue-ha-policy.sh");
        let script_path =
            harness::write_file(&node.dir().join("queue-ha-policy.sh"), &script.bytes, 0o755);
        for round in ["first", "second"] {
            let o = node.exec(
                &script_path,
                &[],
                &[("RMQGEN_BOOTSTRAP_TIMEOUT_S", "60")],
                BOOTSTRAP_TIMEOUT,
            );
            assert!(
                o.success(),
                "{} run of the bootstrap failed: {o}\n{}",
                round,
                node.diagnostics()
            );
            eprintln!("{}: bootstrap {round} run ok", ex.name);
        }

        assert_policy(&node, &out);
        assert_vhosts(&node, &out);
        let listed = users(&node);
        assert!(
            listed.iter().all(|(name, _)| name != "guest"),
            "a guest user exists: {listed:?}"
        );
        for (u, pw) in r.users.iter().zip(&passwords) {
            let (_, tags) = listed
                .iter()
                .find(|(name, _)| *name == *u.name)
                .unwrap_or_else(|| panic!("user {} missing: {listed:?}", u.name));
            let want: BTreeSet<String> = u.tags.iter().map(|t| t.to_string()).collect();
            assert_eq!(tags, &want, "tags of {}", u.name);

            let perms: BTreeSet<Vec<String>> = rows(
                &node,
                "rabbitmqctl",
                &["-q", "list_user_permissions", "--no-table-headers", &u.name],
            )
            .into_iter()
            .collect();
            let want: BTreeSet<Vec<String>> = u
                .permissions
                .iter()
                .map(|p| {
                    vec![
                        p.vhost.to_string(),
                        p.configure.to_string(),
                        p.write.to_string(),
                        p.read.to_string(),
                    ]
                })
                .collect();
            assert_eq!(perms, want, "permissions of {}", u.name);

            node.ctl("rabbitmqctl", &["authenticate_user", &u.name, pw])
                .expect_success(&format!(
                    "{} authenticates with the password from its file",
                    u.name
                ));
            // Control: the check can fail.
            let wrong = node.ctl(
                "rabbitmqctl",
                &["authenticate_user", &u.name, "not-the-password"],
            );
            assert!(
                !wrong.success(),
                "{} authenticated with a wrong password: {wrong}",
                u.name
            );
        }
    });
}

/// Every example's `os` names a release scripts/rootfs.sh builds, and its
/// one-broker variant for that release's own RabbitMQ (what the broker
/// checks boot) is a valid spec on the same release: os, install source
/// and series agree, as validation checks them against the platform table.
/// (A new example on another release would otherwise fail only in the
/// heavy stage.)
#[test]
fn every_example_runs_on_a_release_rootfs_builds() {
    for ex in harness::examples() {
        let (release, _) = harness::target_of(&ex);
        assert!(
            harness::ROOTFS_RELEASES.contains(&release),
            "{}: its os is Debian {release}, which scripts/rootfs.sh does not build",
            ex.name
        );
        let out = harness::compile(&ex.name, &ex.source);
        let rel = harness::release_of(&out.plan);
        let shipped = rel.rabbitmq.to_string();
        let v = variants::for_node(&ex.source, rabbit::PORTS, &shipped);
        let node = harness::compile(&format!("the node variant of {}", ex.name), &v.source);
        assert_eq!(*node.plan.os, *out.plan.os, "{}", ex.name);
        assert_eq!(node.plan.rabbitmq.version, rel.rabbitmq, "{}", ex.name);
        assert_eq!(
            node.plan.install.source,
            rmqgen::spec::InstallSource::Distro {},
            "{}",
            ex.name
        );
    }
}

/// The releases the tests name are the ones scripts/rootfs.sh builds (each
/// also as RELEASE-cloud, without RabbitMQ, for the lab's apt path).
#[test]
fn rootfs_releases_match_the_script() {
    let o = run(
        std::process::Command::new("bash")
            .arg(std::path::Path::new(harness::ROOT).join("scripts/rootfs.sh"))
            .arg("--list"),
        Duration::from_secs(30),
    )
    .expect_success("scripts/rootfs.sh --list");
    let listed: Vec<&str> = o.stdout.lines().collect();
    let releases: Vec<&str> = listed
        .iter()
        .copied()
        .filter(|r| !r.ends_with("-cloud"))
        .collect();
    assert_eq!(releases, harness::ROOTFS_RELEASES);
    for r in releases {
        assert!(listed.contains(&format!("{r}-cloud").as_str()), "{r}-cloud");
    }
}

/// The rendered HAProxy check passes only while HAProxy's CSV statistics
/// show a broker UP by a passed check, not on HAProxy's start, when a
/// server it has not checked yet counts as UP (check status INI). Served
/// here by a stand-in for HAProxy's statistics page; the real HAProxy of
/// each release serves it in the lab.
#[test]
fn the_check_script_passes_only_on_a_broker_a_check_found_up() {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let port = listener.local_addr().expect("bound").port();
    let mut spec: serde_json::Value =
        serde_json::from_str(&rmqgen::reference_spec()).expect("JSON");
    spec["haproxy"]["health_port"] = port.into();
    let out = compile("the reference spec", &spec.to_string());
    let dir = TempDir::new("check-script");
    let script = dir.write(
        "check-haproxy.sh",
        artifact(&out, "keepalived/check-haproxy.sh")
            .text()
            .as_bytes(),
        0o755,
    );
    let row = |sv: &str, status: &str, check: &str| {
        let mut f = vec![String::new(); 40];
        f[0] = "rabbitmq_amqp".into();
        f[1] = sv.into();
        f[17] = status.into();
        f[36] = check.into();
        f.join(",")
    };
    let cases = [
        ("checked UP", vec![row("rabbitmq-1", "UP", "L4OK")], true),
        (
            "UP, a check running",
            vec![row("rabbitmq-1", "UP", "* L4OK")],
            true,
        ),
        (
            "one of three UP",
            vec![
                row("rabbitmq-1", "DOWN", "L4CON"),
                row("rabbitmq-2", "UP", "L4OK"),
                row("rabbitmq-3", "DOWN", "L4TOUT"),
            ],
            true,
        ),
        (
            "not checked yet",
            vec![row("rabbitmq-1", "UP 1/2", "* INI")],
            false,
        ),
        ("rising", vec![row("rabbitmq-1", "DOWN 1/2", "L4OK")], false),
        ("all DOWN", vec![row("rabbitmq-1", "DOWN", "L4CON")], false),
        ("only the backend", vec![row("BACKEND", "UP", "")], false),
        ("no rows", vec![], false),
    ];
    for (what, rows, healthy) in cases {
        let server = std::thread::spawn({
            let listener = listener.try_clone().expect("a listener clone");
            move || {
                let (conn, _) = listener.accept().expect("the check connects");
                let mut request = String::new();
                BufReader::new(&conn)
                    .read_line(&mut request)
                    .expect("a request line");
                let mut body = String::from("# pxname,svname,qcur\n");
                for r in rows {
                    body.push_str(&r);
                    body.push('\n');
                }
                let mut conn = conn;
                let _ = write!(
                    conn,
                    "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\n{body}"
                );
                request
            }
        });
        let o = run(
            std::process::Command::new("sh").arg(&script),
            Duration::from_secs(10),
        );
        let request = server.join().expect("the stand-in answered");
        assert!(
            request.starts_with("GET /rmqgen-health;csv HTTP/1.0"),
            "{request:?}"
        );
        assert_eq!(o.success(), healthy, "{what}: {o}");
    }

    // `alive` (chk_haproxy_alive, rendered where keepalived checks in whole
    // seconds, as for this Debian 12 spec): a connection HAProxy accepts is
    // enough, whatever its statistics say or send.
    assert!(out.plan.keepalived.alive_check);
    let server = std::thread::spawn({
        let listener = listener.try_clone().expect("a listener clone");
        move || drop(listener.accept().expect("the alive check connects"))
    });
    let o = run(
        std::process::Command::new("sh").arg(&script).arg("alive"),
        Duration::from_secs(10),
    );
    server.join().expect("the stand-in accepted");
    assert!(o.success(), "alive, HAProxy listening: {o}");
    // HAProxy dead: nothing listens on the port; both checks fail.
    drop(listener);
    for args in [&["alive"][..], &[]] {
        let o = run(
            std::process::Command::new("sh").arg(&script).args(args),
            Duration::from_secs(10),
        );
        assert!(!o.success(), "{args:?}, nothing listening: {o}");
    }
}
