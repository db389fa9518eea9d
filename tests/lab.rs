//! The lab: boots a rendered cluster for real on this machine and fails it
//! over.
//!
//! Every host runs in the root filesystem of the Debian release its spec
//! targets: the one its `os` names, through rmqgen's platform table
//! (tests/lab/scenarios.rs `SPECS`; scripts/rootfs.sh builds and caches
//! them): bookworm's RabbitMQ 3.10, trixie's 4.0 or sid's 4.3,
//! with that release's Erlang, HAProxy and keepalived.
//!
//! One network namespace per host (3 brokers, 2 load balancers, 1 client),
//! each host's interface (named as the spec names it) a veth whose peer is
//! a port of a bridge in a switch namespace; per-host /etc/hosts, host
//! name, mount and PID namespaces. Each host gets exactly the files its
//! cloud-init user-data writes (`rmqgen::testing::cloud_init::host_files`),
//! at their real paths; the services start as runcmd and the systemd units
//! (Debian's and rmqgen's drop-ins) start them: three RabbitMQ nodes that
//! form a cluster through the rendered classic_config, the rendered
//! queue-HA bootstrap, two HAProxy and two keepalived holding the VIP.
//! From the client namespace the lab probes VIP:5672 every 100 ms and runs
//! a publisher (persistent, confirmed) and a consumer while it kills the
//! queue's leader broker, the VIP holder's HAProxy, its keepalived (SIGTERM
//! and SIGKILL) and cuts its link; then it checks recovery and a 60 s
//! steady state. See tests/lab/scenarios.rs.
//!
//! Ignored by default: it needs root, mmdebstrap (or the cached root
//! filesystems) and python3-pika, and takes minutes. Run it with
//!
//! ```text
//! cargo test --test integration lab:: -- --ignored --test-threads=2 --nocapture
//! ```
//!
//! (scripts/test-all.sh installs everything and does). Two threads: two
//! specs' labs run side by side, each in its own namespaces
//! (`rmqlab-<pid>-<lab>-*`). Results: one `scenario=... release=...
//! spec=...` line per scenario, a summary table per spec,
//! target/lab/<spec>.json, and the hosts' logs in target/lab/logs/<spec>/.

// The real-tool tests' helpers: running commands in a root filesystem, a
// RabbitMQ installation.
use crate::real_tools::{harness, rabbit};

mod apt;
mod client;
mod cluster;
mod firewall;
mod host;
mod net;
mod report;
mod rogue_vrrp;
mod rollout;
mod scenarios;
mod secrets;
mod vip;

/// The reference spec: classic mirrored queues, RabbitMQ 3.10.
#[test]
#[ignore = "needs root, rabbitmq-server, haproxy, keepalived, python3-pika; run by scripts/test-all.sh"]
fn lab_five_vm() {
    scenarios::run("five-vm");
}

/// Quorum queues on Debian 12's RabbitMQ 3.10 (quorum-4x's topology).
#[test]
#[ignore = "needs root, rabbitmq-server, haproxy, keepalived, python3-pika; run by scripts/test-all.sh"]
fn lab_quorum() {
    scenarios::run("lab-quorum");
}

/// Quorum queues on Debian 13 (trixie): RabbitMQ 4.0, Erlang 27, HAProxy
/// 3.0, keepalived 2.3. The spec installs RabbitMQ from a mirror: the
/// brokers boot without it and install it at first boot from the lab's
/// signed apt repository through their rendered user-data (tests/lab/apt.rs).
#[test]
#[ignore = "needs root, mmdebstrap (or a cached root filesystem), python3-pika; run by scripts/test-all.sh"]
fn lab_trixie() {
    scenarios::run("lab-trixie");
}

/// Quorum queues on Debian sid: RabbitMQ 4.3 (Khepri, no Mnesia), Erlang
/// 29, HAProxy 3.2, keepalived 2.3.
#[test]
#[ignore = "needs root, mmdebstrap (or a cached root filesystem), python3-pika; run by scripts/test-all.sh"]
fn lab_sid() {
    scenarios::run("lab-sid");
}

/// The rollout (`rmqgen render NEW --from OLD`) run for real on a booted
/// cluster under confirmed publishing: a rolling restart of every broker
/// and a reload of both load balancers (tests/lab/rollout.rs). Quorum
/// queues on Debian 12's RabbitMQ 3.10.
#[test]
#[ignore = "needs root, rabbitmq-server, haproxy, keepalived, python3-pika; run by scripts/test-all.sh"]
fn lab_rollout_quorum() {
    scenarios::run_with("lab-quorum", rollout::scenarios);
}

/// The `team-rabbitmq` rendering (sources, pin, hold) against the lab's
/// local repository, served at Team RabbitMQ's host names and paths (see
/// tests/lab/apt.rs `team_rabbitmq` for what is substituted and why).
#[test]
#[ignore = "needs root, mmdebstrap (or a cached root filesystem), apt-ftparchive, gpg, openssl; run by scripts/test-all.sh"]
fn apt_team_rabbitmq_pins_and_holds() {
    let mut tools = cluster::TOOLS.to_vec();
    tools.extend(["apt-ftparchive", "gpg", "gpgconf", "openssl", "dpkg-deb"]);
    let Some(bins) = harness::require(&tools, true) else {
        return;
    };
    let base = match harness::rootfs("trixie-cloud") {
        Ok(b) => b,
        Err(e) => return harness::unavailable(&e),
    };
    let work = harness::TempDir::new("apt-team");
    apt::team_rabbitmq(&bins, "trixie", &base, work.path());
}

/// Every lab spec's `os` names a release scripts/rootfs.sh builds, whose
/// own RabbitMQ is the spec's series (the hosts run the root filesystem's
/// packages, or a mirror built from them).
#[test]
fn every_lab_spec_runs_on_a_release_that_ships_its_series() {
    for spec in scenarios::SPECS {
        let path = std::path::Path::new(harness::ROOT)
            .join("examples")
            .join(format!("{spec}.json"));
        let source =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let out = harness::compile(spec, &source);
        let rel = harness::release_of(&out.plan);
        assert!(
            harness::ROOTFS_RELEASES.contains(&rel.codename),
            "{spec}: {} is not a release scripts/rootfs.sh builds",
            rel.codename
        );
        assert_eq!(
            out.plan.rabbitmq.version, rel.rabbitmq,
            "{spec}: {} ships RabbitMQ {}",
            rel.title, rel.rabbitmq
        );
    }
}

// The analysis is plain code: checked without the lab.

#[test]
fn outage_is_measured_to_the_last_failure() {
    use client::{outage, ProbeRecord};
    let rec = |t: f64, ok: bool| ProbeRecord {
        t,
        ok,
        err: if ok {
            String::new()
        } else {
            "TimeoutError: timed out".into()
        },
    };
    let probes = vec![
        rec(9.9, true),
        rec(10.0, true),
        rec(10.1, false),
        rec(10.2, true),
        rec(10.3, false),
        rec(10.4, true),
        rec(10.5, true),
    ];
    let o = outage(&probes, 10.05, 11.0);
    assert_eq!((o.probes, o.failed), (5, 2));
    assert!((o.outage_s.unwrap() - 0.35).abs() < 1e-9);
    assert!((o.first_failure_s.unwrap() - 0.05).abs() < 1e-9);
    assert_eq!(o.errors, ["TimeoutError"]);
    // No failure: no outage. Ends failing: not recovered.
    assert_eq!(outage(&probes, 10.35, 11.0).outage_s, Some(0.0));
    assert_eq!(outage(&probes, 10.05, 10.3).outage_s, None);
    assert_eq!(outage(&probes, 20.0, 21.0).outage_s, None);
}

#[test]
fn vip_windows_count_changes_and_double_holders() {
    use vip::{first_held, holders_at, window, VipEvent};
    let e = |t: f64, lb: usize, held: bool| VipEvent { t, lb, held };
    // lb0 holds; lb1 takes over at 12 while lb0 lets go only at 13.
    let events = vec![
        e(0.0, 0, false),
        e(0.0, 1, false),
        e(1.0, 0, true),
        e(12.0, 1, true),
        e(13.0, 0, false),
    ];
    assert_eq!(holders_at(&events, 2, 5.0), vec![0]);
    assert_eq!(holders_at(&events, 2, 12.5), vec![0, 1]);
    assert_eq!(first_held(&events, 2, 1, 10.0), Some(12.0));
    assert_eq!(first_held(&events, 2, 0, 5.0), Some(5.0));
    let w = window(&events, 2, 10.0, 20.0);
    assert_eq!(w.changes, 2);
    assert!((w.both_s - 1.0).abs() < 1e-9);
    assert_eq!(w.none_s, 0.0);
    let quiet = window(&events, 2, 14.0, 20.0);
    assert_eq!((quiet.changes, quiet.both_s), (0, 0.0));
}

#[test]
fn unit_files_are_read_like_systemd() {
    let d = cluster::unit_directives("# c\n[Service]\nRestart=always\nRestartSec=1s\nExecStartPre=/usr/sbin/haproxy -Ws -f $CONFIG -c -q\n");
    assert_eq!(d.len(), 3);
    assert_eq!(
        cluster::systemd_span("1s"),
        std::time::Duration::from_secs(1)
    );
    assert_eq!(
        cluster::systemd_span("500ms"),
        std::time::Duration::from_millis(500)
    );
    assert_eq!(
        cluster::expand(
            "/usr/sbin/haproxy -Ws -f $CONFIG -p ${PIDFILE} $EXTRAOPTS",
            &[
                ("CONFIG", "/etc/haproxy/haproxy.cfg"),
                ("PIDFILE", "/run/haproxy.pid"),
                ("EXTRAOPTS", "-S /run/haproxy-master.sock"),
            ]
        ),
        [
            "/usr/sbin/haproxy",
            "-Ws",
            "-f",
            "/etc/haproxy/haproxy.cfg",
            "-p",
            "/run/haproxy.pid",
            "-S",
            "/run/haproxy-master.sock"
        ]
    );
    assert_eq!(
        cluster::pid_node("<rabbit@rabbitmq-2.1669385512.1234.0>").as_deref(),
        Some("rabbit@rabbitmq-2")
    );
}

#[test]
fn the_summary_counts_the_tight_targets() {
    use report::{Report, ScenarioResult};
    let mut a = ScenarioResult::new("haproxy-kill", "SIGKILL HAProxy");
    a.target("VIP failover on HAProxy death within 2.5 s", true);
    a.target("0 confirmed messages lost", true);
    let mut b = ScenarioResult::new("link-cut", "ip link set eth0 down");
    b.target("VIP failover on link loss within 2.5 s", false);
    let report = Report {
        spec: "x".into(),
        scenarios: vec![a, b],
        ..Default::default()
    };
    let table = report.table();
    assert!(
        table.ends_with(
            "x: tight targets met: 2/3; missed: link-cut: VIP failover on link loss within 2.5 s\n"
        ),
        "{table}"
    );
    assert!(table.contains("| link-cut | ip link set eth0 down |"));
    let none = Report::default().table();
    assert!(none.ends_with(": tight targets met: 0/0\n"), "{none}");
}

#[test]
fn processes_are_read_from_proc_zombies_included() {
    use host::Proc;
    let me = Proc::read(std::process::id()).expect("this process");
    let status = std::fs::read_to_string("/proc/self/status").expect("status");
    let ppid: u32 = status
        .lines()
        .find_map(|l| l.strip_prefix("PPid:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("PPid");
    assert_eq!((me.pid, me.ppid), (std::process::id(), ppid));
    assert_ne!(me.state, 'Z');
    // An exited child not yet waited for is a zombie: still listed (its
    // PID still answers kill -0), and gone once reaped.
    let mut child = std::process::Command::new("/bin/sh")
        .args(["-c", "exit 0"])
        .spawn()
        .expect("sh");
    let pid = child.id();
    let zombie = (0..500).find_map(|_| {
        let p = Proc::read(pid).filter(|p| p.state == 'Z');
        if p.is_none() {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        p
    });
    let zombie = zombie.expect("the exited child shows as a zombie");
    assert_eq!(
        (zombie.comm.as_str(), zombie.ppid),
        ("sh", std::process::id())
    );
    child.wait().expect("reap");
    assert!(Proc::read(pid).is_none(), "a reaped child is gone");
}
