//! The rollout in the lab: `rmqgen render NEW --from OLD`'s script run for
//! real against the booted cluster while a publisher (persistent,
//! confirmed) and a consumer run through the VIP.
//!
//! The script's transport is `RMQGEN_RSH`: here a wrapper that hands each
//! command (its host, its command line, its standard input) to this
//! process, which runs it inside the host with nsenter (the host's
//! namespaces and root, as `Lab` runs everything there) and hands back its
//! output and exit status. The lab's hosts have no systemd: `systemctl`
//! is the one command emulated, as the lab starts services (the broker's
//! stop is Debian's `ExecStop=rabbitmqctl shutdown`, a start is
//! `Lab::start_broker`, which waits for the boot as Type=notify does;
//! `reload haproxy` is the master's SIGUSR2, `reload keepalived` SIGHUP).
//! Everything else (the pushes, the gates, drain and revive, grow) runs as
//! the script says, with the release's own tools.
//!
//! Scenario `rolling-restart`: the spec's AMQP heartbeat goes 60 → 30 s,
//! which changes rabbitmq.conf (a rolling restart of every broker, each
//! drained first) and HAProxy's idle timeouts (a reload of both load
//! balancers, the VIP holder last). 0 confirmed messages may be lost; the
//! longest publisher gap is reported (target ≤ 2 s). The script is run a
//! second time and must do nothing.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::client::WorkloadResult;
use super::cluster::Lab;
use super::harness::{read_lossy, wait_deadline, write_file, TempDir};
use super::report::{now, Report, ScenarioResult};
use super::scenarios::{emit, formation};

/// Publisher rate, msg/s.
const RATE: u32 = 100;
/// Upper bound of the workload's life (the rollout takes minutes).
const WORKLOAD_MAX: Duration = Duration::from_secs(1200);
const DRAIN: Duration = Duration::from_secs(60);
/// Upper bound of one rollout run and of one command in it.
const ROLLOUT_MAX: Duration = Duration::from_secs(1200);
const COMMAND_MAX: Duration = Duration::from_secs(600);
const RABBITMQ_HOME: &str = "/var/lib/rabbitmq";
const RABBITMQ_LOGS: &str = "/var/log/rabbitmq";
/// The broker the add-broker scenario adds (lab-quorum's subnet).
const NEW_BROKER: &str = "mq-4";
const NEW_BROKER_ADDRESS: &str = "10.20.0.14";

/// The wrapper the script calls as `$RMQGEN_RSH HOST COMMAND`: it leaves
/// HOST, COMMAND and its standard input in $RMQLAB_RSH_DIR as a request and
/// waits for the answer (bounded).
const RSH: &str = r#"#!/bin/bash
set -eu
d=$RMQLAB_RSH_DIR
id=$(date +%s%N)-$$-$RANDOM
cat >"$d/$id.in"
printf '%s' "$1" >"$d/$id.host"
printf '%s' "$2" >"$d/$id.tmp"
mv "$d/$id.tmp" "$d/$id.cmd"
for _ in $(seq 1 60000); do
    [ -e "$d/$id.rc" ] && break
    sleep 0.01
done
[ -e "$d/$id.rc" ] || { echo "rmqlab-rsh: no answer for $1: $2" >&2; exit 255; }
cat "$d/$id.out"
cat "$d/$id.err" >&2
rc=$(cat "$d/$id.rc")
rm -f "$d/$id".*
exit "$rc"
"#;

/// The rollout scenarios, after the cluster formed.
pub fn scenarios(lab: &mut Lab, report: &mut Report, source: &str) {
    // Its own report (target/lab/<spec>+rollout.json), not the one the
    // spec's failover run writes: the per-release table reads both.
    report.spec = format!("{}+rollout", report.spec);
    let start = Instant::now();
    let mut r = formation(lab);
    r.took_s = start.elapsed().as_secs_f64();
    let broken = !r.problems.is_empty();
    emit(report, r);
    if broken {
        return;
    }
    let start = Instant::now();
    let (mut r, spec) = rolling_restart(lab, source);
    r.took_s = start.elapsed().as_secs_f64();
    let broken = !r.problems.is_empty();
    emit(report, r);
    if !broken {
        // A fourth broker joins the running cluster, then leaves again.
        let mut grown = spec.clone();
        // The added host's directories live as long as it does.
        let hosts = TempDir::new("lab-added-hosts");
        grown
            .brokers
            .push(rmqgen::spec::Node::new(NEW_BROKER, NEW_BROKER_ADDRESS));
        let start = Instant::now();
        let mut r = add_broker(lab, &spec, &grown, hosts.path());
        r.took_s = start.elapsed().as_secs_f64();
        let broken = !r.problems.is_empty();
        emit(report, r);
        if !broken {
            let start = Instant::now();
            let mut r = remove_broker(lab, &grown, &spec);
            r.took_s = start.elapsed().as_secs_f64();
            emit(report, r);
        }
        // Whatever happened, the added host goes before its directories.
        lab.brokers.retain(|m| m.name != NEW_BROKER);
    }
    if let Some(p) = lab.probe.as_mut() {
        lab.client.stop_probe(p);
    }
}

/// Splits a command line of single-quoted words (`'a' 'b'\''c' `), as the
/// rollout's `q` writes them, into its words.
pub fn words(cmd: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut chars = cmd.chars().peekable();
    loop {
        while chars.peek() == Some(&' ') {
            chars.next();
        }
        if chars.peek().is_none() {
            return Some(out);
        }
        let mut w = String::new();
        while let Some(&c) = chars.peek() {
            match c {
                ' ' => break,
                '\'' => {
                    chars.next();
                    loop {
                        match chars.next()? {
                            '\'' => break,
                            c => w.push(c),
                        }
                    }
                }
                '\\' => {
                    chars.next();
                    w.push(chars.next()?);
                }
                _ => return None,
            }
        }
        out.push(w);
    }
}

/// A run of the rollout script, answering its commands.
struct Rollout<'a> {
    lab: &'a mut Lab,
    dir: PathBuf,
    /// Commands run, per host (for the report).
    counts: BTreeMap<String, usize>,
    /// When each broker restarted (emulated `systemctl restart`).
    restarts: Vec<(String, f64)>,
    /// When each load balancer reloaded what.
    reloads: Vec<(String, String, f64)>,
}

/// The rollout from OLD to NEW, written to a scratch directory: the script,
/// its state file's path, and the directory (removed when dropped).
struct Script {
    tmp: TempDir,
    script: PathBuf,
    state: PathBuf,
}

fn script(old: &rmqgen::Spec, new: &rmqgen::Spec, name: &str) -> Script {
    let rollout = rmqgen::rollout(old, new).expect("a rollout");
    let tmp = TempDir::new(name);
    let script = write_file(
        &tmp.path().join(&rollout.path),
        rollout.script.as_bytes(),
        0o755,
    );
    let state = tmp.path().join("rollout.state");
    Script { tmp, script, state }
}

impl<'a> Rollout<'a> {
    fn new(lab: &'a mut Lab, s: &Script) -> Self {
        Rollout {
            lab,
            dir: s.tmp.path().to_path_buf(),
            counts: BTreeMap::new(),
            restarts: Vec::new(),
            reloads: Vec::new(),
        }
    }
}

impl Rollout<'_> {
    /// Runs `script` to its end (bounded): exit code and its stderr.
    fn run(&mut self, script: &Path, state: &Path) -> (i32, String) {
        let rsh = write_file(&self.dir.join("rsh"), RSH.as_bytes(), 0o755);
        let req = self.dir.join("req");
        fs::create_dir_all(&req).expect("request dir");
        let err = self.dir.join("rollout.err");
        let mut child: Child = Command::new("bash")
            .arg(script)
            .env("RMQGEN_RSH", &rsh)
            .env("RMQGEN_STATE", state)
            .env("RMQLAB_RSH_DIR", &req)
            .stdin(Stdio::null())
            .stdout(fs::File::create(self.dir.join("rollout.out")).expect("out"))
            .stderr(fs::File::create(&err).expect("err"))
            .spawn()
            .expect("bash runs the rollout");
        let deadline = Instant::now() + ROLLOUT_MAX;
        let code = loop {
            let served = self.serve(&req);
            if let Ok(Some(status)) = child.try_wait() {
                break status.code().unwrap_or(-1);
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the rollout did not finish within {ROLLOUT_MAX:?}:\n{}",
                    read_lossy(&err)
                );
            }
            if !served {
                std::thread::sleep(Duration::from_millis(10));
            }
        };
        (code, read_lossy(&err))
    }

    /// Answers the pending requests; whether there was one.
    fn serve(&mut self, req: &Path) -> bool {
        let mut pending: Vec<PathBuf> = fs::read_dir(req)
            .map(|d| {
                d.flatten()
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "cmd"))
                    .collect()
            })
            .unwrap_or_default();
        pending.sort();
        let any = !pending.is_empty();
        for cmd_file in pending {
            let stem = cmd_file.with_extension("");
            let ext = |x: &str| PathBuf::from(format!("{}.{x}", stem.display()));
            let host = read_lossy(&ext("host"));
            let cmd = read_lossy(&cmd_file);
            let _ = fs::remove_file(&cmd_file);
            *self.counts.entry(host.clone()).or_default() += 1;
            let (rc, out, err) = self.answer(&host, &cmd, &ext("in"));
            fs::write(ext("out"), out).expect("answer");
            fs::write(ext("err"), err).expect("answer");
            fs::write(ext("rc.tmp"), rc.to_string()).expect("answer");
            fs::rename(ext("rc.tmp"), ext("rc")).expect("answer");
        }
        any
    }

    fn answer(&mut self, host: &str, cmd: &str, stdin: &Path) -> (i32, String, String) {
        let broker = self.lab.brokers.iter().position(|m| m.name == host);
        let lb = self.lab.lbs.iter().position(|m| m.name == host);
        let w = words(cmd).unwrap_or_default();
        if w.first().map(String::as_str) == Some("systemctl") {
            return self.systemctl(host, broker, lb, &w[1..]);
        }
        if w.first().map(String::as_str) == Some("nft") {
            return self.nft(broker, lb, &w[1..]);
        }
        let env: Vec<(&str, String)> = match (broker, lb) {
            (Some(_), _) => vec![
                (
                    "PATH",
                    format!(
                        "{}:/usr/sbin:/usr/bin:/sbin:/bin",
                        self.lab.inst.sbin.display()
                    ),
                ),
                ("HOME", RABBITMQ_HOME.into()),
                ("LANG", "C.UTF-8".into()),
                ("LC_ALL", "C.UTF-8".into()),
            ],
            (None, Some(_)) => vec![("PATH", "/usr/sbin:/usr/bin:/sbin:/bin".into())],
            // A host the lab has not booted does not answer, as over SSH.
            (None, None) => return (255, String::new(), format!("{host}: no route to host\n")),
        };
        let m = match (broker, lb) {
            (Some(i), _) => &self.lab.brokers[i],
            (_, Some(j)) => &self.lab.lbs[j],
            _ => unreachable!(),
        };
        let (out, err) = (self.dir.join("cmd.out"), self.dir.join("cmd.err"));
        let mut child = m
            .command("/bin/sh", &["-c", cmd], &env, "/")
            .stdin(fs::File::open(stdin).expect("the request's stdin"))
            .stdout(fs::File::create(&out).expect("out"))
            .stderr(fs::File::create(&err).expect("err"))
            .spawn()
            .unwrap_or_else(|e| panic!("{host}: cannot run {cmd}: {e}"));
        let rc = match wait_deadline(&mut child, COMMAND_MAX) {
            Some(s) => s.code().unwrap_or(-1),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                124
            }
        };
        (rc, read_lossy(&out), read_lossy(&err))
    }

    /// `nft ARGS` on the host: the lab's roots have no nft, so the
    /// machine's own runs in the host's network namespace, with the host's
    /// absolute paths read through its root.
    fn nft(
        &mut self,
        broker: Option<usize>,
        lb: Option<usize>,
        args: &[String],
    ) -> (i32, String, String) {
        let m = match (broker, lb) {
            (Some(i), _) => &self.lab.brokers[i],
            (_, Some(j)) => &self.lab.lbs[j],
            _ => return (255, String::new(), "no route to host\n".into()),
        };
        let root = m.root_view();
        let args: Vec<String> = args
            .iter()
            .map(|a| match a.strip_prefix('/') {
                Some(rel) => root.join(rel).to_string_lossy().into_owned(),
                None => a.clone(),
            })
            .collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = super::firewall::nft_in(&m.net.netns, &args);
        (o.status.code().unwrap_or(-1), o.stdout, o.stderr)
    }

    /// What systemd would do for the command.
    fn systemctl(
        &mut self,
        host: &str,
        broker: Option<usize>,
        lb: Option<usize>,
        args: &[String],
    ) -> (i32, String, String) {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let fail = |why: String| (1, String::new(), format!("{host}: systemctl: {why}\n"));
        match (a.as_slice(), broker, lb) {
            (["daemon-reload"], _, _) => (0, String::new(), String::new()),
            (["enable", "--quiet", "nftables"], _, _) => (0, String::new(), String::new()),
            // Debian's nftables.service: ExecReload=nft -f /etc/nftables.conf.
            (["reload-or-restart", "nftables"], _, _) => {
                self.nft(broker, lb, &["-f".into(), "/etc/nftables.conf".into()])
            }
            (["disable", "--now", "rabbitmq-server"], Some(i), _) => match self.stop_broker(i) {
                Ok(()) => (0, String::new(), String::new()),
                Err(e) => fail(e),
            },
            (["restart", "rabbitmq-server"], Some(i), _) => {
                if let Err(e) = self.stop_broker(i) {
                    return fail(e);
                }
                self.lab.start_broker(i);
                let o = self.lab.wait_broker_booted(i, Duration::from_secs(180));
                self.restarts.push((host.to_string(), now()));
                if o.success() {
                    (0, String::new(), String::new())
                } else {
                    fail(format!("rabbitmq-server did not boot: {o}"))
                }
            }
            (["reload", unit @ ("haproxy" | "keepalived")], _, Some(j)) => {
                let m = &self.lab.lbs[j];
                let signal = if *unit == "haproxy" { "USR2" } else { "HUP" };
                let tree = m.tree(unit);
                m.signal(&[tree.main], &[], signal);
                self.reloads
                    .push((host.to_string(), unit.to_string(), now()));
                (0, String::new(), String::new())
            }
            (["start", "rmqgen-queue-ha-policy"], Some(i), _) => {
                self.lab.start_bootstrap(i);
                match self.lab.brokers[i].wait_service("bootstrap", Duration::from_secs(300)) {
                    Some(s) if s.success() => (0, String::new(), String::new()),
                    other => fail(format!("the bootstrap ended {other:?}")),
                }
            }
            _ => fail(format!(
                "the lab does not emulate `systemctl {}`",
                a.join(" ")
            )),
        }
    }

    /// Debian's `ExecStop=rabbitmqctl shutdown`, then until the VM is gone.
    fn stop_broker(&mut self, i: usize) -> Result<(), String> {
        let o = self
            .lab
            .ctl(i, "rabbitmqctl", &["shutdown"], Duration::from_secs(180));
        if !o.success() {
            return Err(format!("rabbitmqctl shutdown: {o}"));
        }
        let m = &mut self.lab.brokers[i];
        if !m.wait_gone("beam.smp", Duration::from_secs(60)) {
            return Err("beam.smp still runs 60 s after shutdown".into());
        }
        m.reap();
        Ok(())
    }
}

/// The spec of `source` with another AMQP heartbeat: rabbitmq.conf (a
/// broker restart) and HAProxy's idle timeouts (a reload) change.
fn heartbeat_change(source: &str) -> (rmqgen::Spec, rmqgen::Spec, String) {
    let old = rmqgen::parse(source).expect("the lab's spec parses");
    let mut new = old.clone();
    let was = old.rabbitmq.heartbeat_s.unwrap_or(60);
    new.rabbitmq.heartbeat_s = Some(if was == 30 { 45 } else { 30 });
    let text = serde_json::to_string_pretty(&new).expect("a spec serialises");
    (old, new, text)
}

fn rolling_restart(lab: &mut Lab, source: &str) -> (ScenarioResult, rmqgen::Spec) {
    let mut r = ScenarioResult::new("rolling-restart", "");
    let (old, new, new_source) = heartbeat_change(source);
    r.fault = format!(
        "rollout of AMQP heartbeat {} -> {} s: every broker restarted, both HAProxy reloaded",
        old.rabbitmq.heartbeat_s.unwrap_or(60),
        new.rabbitmq.heartbeat_s.unwrap_or(60)
    );
    let plan = rmqgen::plan_change(&old, &new).expect("a plan");
    let kinds: Vec<String> = plan.changes.iter().map(|c| c.kind.to_string()).collect();
    r.figure("plan", kinds.join(", "));
    let sc = script(&old, &new, "lab-rollout");
    let new_out = rmqgen::compile(&new_source).expect("the new spec compiles");

    let q = "lab-rolling-restart";
    lab.declared.push(q.to_string());
    let (mut wl, ready) = lab.client.start_workload(q, RATE, WORKLOAD_MAX, DRAIN);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        ready.exists(),
        "rolling-restart: the workload never got going:\n{}",
        wl.log()
    );
    std::thread::sleep(Duration::from_secs(2));
    let vms_before: Vec<u32> = lab
        .brokers
        .iter()
        .map(|m| m.tree("beam.smp").main)
        .collect();

    let t0 = now();
    let mut ro = Rollout::new(lab, &sc);
    let (code, err) = ro.run(&sc.script, &sc.state);
    let t1 = now();
    let (restarts, reloads, counts) = (ro.restarts.clone(), ro.reloads.clone(), ro.counts.clone());
    eprintln!("lab: rolling-restart: the rollout's log:\n{err}");
    r.require(
        code == 0,
        format!("the rollout exited {code}: {}", tail(&err)),
    );
    r.figure("rollout_s", round(t1 - t0));
    r.figure("remote_commands", counts.values().sum::<usize>() as u64);
    r.figure(
        "restarted",
        restarts
            .iter()
            .map(|(h, t)| format!("{h}@{:.1}", t - t0))
            .collect::<Vec<_>>()
            .join(" "),
    );
    r.figure(
        "reloaded",
        reloads
            .iter()
            .map(|(h, u, t)| format!("{h}:{u}@{:.1}", t - t0))
            .collect::<Vec<_>>()
            .join(" "),
    );

    // Publishing goes on a little after the last step.
    std::thread::sleep(Duration::from_secs(3));
    wl.stop();
    let done = wl.wait(DRAIN + Duration::from_secs(30));
    match serde_json::from_str::<WorkloadResult>(&read_lossy(&wl.out)) {
        Ok(w) => {
            r.require(
                w.lost == 0,
                format!("{} confirmed messages lost: {:?}", w.lost, w.lost_ids),
            );
            r.require(w.consumer_finished, "the consumer did not finish draining");
            r.require(w.confirmed > 0, "nothing was confirmed");
            r.target("0 confirmed messages lost", w.lost == 0);
            r.target("longest publisher gap within 2 s", w.pub_max_gap_s <= 2.0);
            r.figure("pub_max_gap_s", round(w.pub_max_gap_s));
            r.workload = Some(w);
        }
        Err(e) => r.require(
            false,
            format!("no workload result ({e}; exited ok: {done}): {}", wl.log()),
        ),
    }

    // Every broker restarted, in the spec's order, and runs the new file;
    // both load balancers reloaded HAProxy, the VIP holder last.
    let order: Vec<&str> = restarts.iter().map(|(h, _)| h.as_str()).collect();
    let brokers: Vec<&str> = lab.plan().brokers.iter().map(|b| b.name.as_str()).collect();
    r.require(
        order == brokers,
        format!("brokers restarted {order:?}, expected {brokers:?}"),
    );
    for (i, m) in lab.brokers.iter().enumerate() {
        let vm = m.tree("beam.smp").main;
        r.require(
            vm != vms_before[i],
            format!("{}: the same Erlang VM as before", m.name),
        );
        let on_host = read_lossy(&m.root.join("etc/rabbitmq/rabbitmq.conf"));
        r.require(
            on_host == new_out.roles.broker.conf.contents,
            format!("{}: rabbitmq.conf is not the new spec's", m.name),
        );
    }
    let reloaded: Vec<&str> = reloads
        .iter()
        .filter(|(_, u, _)| u == "haproxy")
        .map(|(h, _, _)| h.as_str())
        .collect();
    r.require(
        reloaded.len() == lab.lbs.len(),
        format!("HAProxy reloaded on {reloaded:?}"),
    );
    for (j, m) in lab.lbs.iter().enumerate() {
        let on_host = read_lossy(&m.root.join("etc/haproxy/haproxy.cfg"));
        r.require(
            on_host == new_out.roles.load_balancers[j].haproxy_cfg.contents,
            format!("{}: haproxy.cfg is not the new spec's", m.name),
        );
    }
    match lab.wait_replicated(0, Duration::from_secs(90)) {
        Ok(_) => {}
        Err(e) => r.require(false, e),
    }
    if let Err(e) = lab.wait_backends_up(Duration::from_secs(30)) {
        r.require(false, e);
    }

    // Once more: every step is done; nothing runs on a host.
    let mut again = Rollout::new(lab, &sc);
    let (code, err) = again.run(&sc.script, &sc.state);
    r.require(
        code == 0 && again.counts.is_empty() && err.matches("done already").count() >= 2,
        format!(
            "a second run was not a no-op (exit {code}, commands {:?}): {}",
            again.counts,
            tail(&err)
        ),
    );
    lab.out = new_out;
    (r, new)
}
/// Starts a workload on `q` and waits until it publishes and consumes.
fn start_workload(lab: &mut Lab, q: &str) -> super::client::Running {
    lab.declared.push(q.to_string());
    let (wl, ready) = lab.client.start_workload(q, RATE, WORKLOAD_MAX, DRAIN);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        ready.exists(),
        "{q}: the workload never got going:\n{}",
        wl.log()
    );
    std::thread::sleep(Duration::from_secs(2));
    wl
}

/// Stops the workload, drains it and records its figures.
fn finish_workload(r: &mut ScenarioResult, mut wl: super::client::Running) {
    std::thread::sleep(Duration::from_secs(3));
    wl.stop();
    let done = wl.wait(DRAIN + Duration::from_secs(30));
    match serde_json::from_str::<WorkloadResult>(&read_lossy(&wl.out)) {
        Ok(w) => {
            r.require(
                w.lost == 0,
                format!("{} confirmed messages lost: {:?}", w.lost, w.lost_ids),
            );
            r.require(w.consumer_finished, "the consumer did not finish draining");
            r.require(w.confirmed > 0, "nothing was confirmed");
            r.target("0 confirmed messages lost", w.lost == 0);
            r.figure("pub_max_gap_s", round(w.pub_max_gap_s));
            r.workload = Some(w);
        }
        Err(e) => r.require(
            false,
            format!("no workload result ({e}; exited ok: {done}): {}", wl.log()),
        ),
    }
}

/// The quorum members of every queue, as broker `via` lists them.
fn members(lab: &Lab, via: usize) -> Result<Vec<(String, usize)>, String> {
    Ok(lab
        .queues(via)?
        .iter()
        .map(|q| {
            (
                q["name"].as_str().unwrap_or_default().to_string(),
                q["members"].as_array().map_or(0, Vec::len),
            )
        })
        .collect())
}

/// Boots `name` of `out`'s plan as `terraform apply` and its first boot
/// would: its own namespaces, exactly its cloud-init files (with the lab's
/// secrets), RabbitMQ started as the unit starts it. Returns its index.
fn boot_broker(lab: &mut Lab, out: &rmqgen::Output, name: &str, dir: &Path) -> usize {
    use super::host::{hosts_file, make_dirs, place, under, Machine};
    let plan = &out.plan;
    let host = plan
        .hosts
        .iter()
        .find(|h| h.name.as_str() == name)
        .expect("the new broker is in the plan");
    let release = super::harness::release_of(plan).codename;
    let base = super::harness::rootfs(release).expect("the release's root filesystem");
    let files = rmqgen::testing::cloud_init::host_files(plan, &out.roles, host);
    let n = &plan.network;
    let att = lab.net.attach(
        name,
        &n.interface,
        *host.address,
        n.prefix,
        n.mtu,
        &hosts_file(&files),
    );
    let hdir = dir.join("hosts").join(name);
    let root = hdir.join("root");
    fs::create_dir_all(&root).expect("the host's root");
    let mut placed = place(&root, &base, &files, &lab.secrets);
    for d in [RABBITMQ_HOME, RABBITMQ_LOGS] {
        let real = Path::new(d);
        make_dirs(&root, &base, real);
        if !placed.mounts.iter().any(|(_, dst)| dst == real) {
            placed.mounts.push((under(&root, real), real.to_path_buf()));
        }
    }
    let m = Machine::boot(&lab.bins, att, hdir, root, &base, dir, &placed.mounts, &[]);
    // runcmd's first step, as for the lab's other hosts: its firewall.
    super::firewall::load(&[&m]);
    lab.brokers.push(m);
    let i = lab.brokers.len() - 1;
    lab.start_broker(i);
    i
}

fn add_broker(
    lab: &mut Lab,
    old: &rmqgen::Spec,
    new: &rmqgen::Spec,
    hosts: &Path,
) -> ScenarioResult {
    let mut r = ScenarioResult::new(
        "add-broker",
        format!("rollout of a 4th broker {NEW_BROKER} into the running cluster"),
    );
    let new_out = rmqgen::compile(&serde_json::to_string(new).expect("a spec serialises"))
        .expect("the grown spec compiles");
    let sc = script(old, new, "lab-add-broker");
    let wl = start_workload(lab, "lab-add-broker");
    let t0 = now();
    let mut ro = Rollout::new(lab, &sc);
    // First run: the other hosts' files, then it waits for terraform apply.
    let (code, err) = ro.run(&sc.script, &sc.state);
    eprintln!("lab: add-broker: the rollout's first run:\n{err}");
    let reloads = ro.reloads.len();
    r.require(
        code == 3 && err.contains("run `terraform apply` now"),
        format!(
            "the first run did not stop for terraform apply (exit {code}): {}",
            tail(&err)
        ),
    );
    r.require(
        reloads == 2,
        format!("HAProxy reloaded {reloads} times, not on both"),
    );
    r.require(
        ro.restarts.is_empty(),
        "a broker restarted for an added broker",
    );
    // `terraform apply`: the VM boots and RabbitMQ starts.
    let t_apply = now();
    let i = boot_broker(ro.lab, &new_out, NEW_BROKER, hosts);
    let (code, err) = ro.run(&sc.script, &sc.state);
    eprintln!("lab: add-broker: the rollout's second run:\n{err}");
    let t1 = now();
    r.require(
        code == 0,
        format!("the second run exited {code}: {}", tail(&err)),
    );
    r.figure("rollout_s", round(t1 - t0));
    r.figure("joined_after_apply_s", round(t1 - t_apply));
    lab.out = new_out;
    finish_workload(&mut r, wl);

    // The new node runs in the cluster, every queue has a member on it, and
    // it serves through the VIP (HAProxy has it UP).
    match lab.running_nodes(0) {
        Ok(nodes) => r.require(
            nodes.iter().any(|n| n == &format!("rabbit@{NEW_BROKER}")) && nodes.len() == 4,
            format!("running nodes: {nodes:?}"),
        ),
        Err(e) => r.require(false, e),
    }
    if let Err(e) = lab.wait_replicated(i, Duration::from_secs(120)) {
        r.require(false, e);
    }
    match members(lab, i) {
        Ok(m) => {
            r.figure("quorum_members", format!("{m:?}"));
            r.require(m.iter().all(|(_, n)| *n == 4), format!("members: {m:?}"));
        }
        Err(e) => r.require(false, e),
    }
    if let Err(e) = lab.wait_backends_up(Duration::from_secs(30)) {
        r.require(false, e);
    }
    let ok = r.problems.is_empty();
    r.target("the new broker serves, every queue has a member on it", ok);
    r
}

fn remove_broker(lab: &mut Lab, old: &rmqgen::Spec, new: &rmqgen::Spec) -> ScenarioResult {
    let mut r = ScenarioResult::new(
        "remove-broker",
        format!("rollout removing broker {NEW_BROKER}: drain, shrink, stop, forget, configs"),
    );
    let new_out = rmqgen::compile(&serde_json::to_string(new).expect("a spec serialises"))
        .expect("the spec compiles");
    let sc = script(old, new, "lab-remove-broker");
    let wl = start_workload(lab, "lab-remove-broker");
    let t0 = now();
    let mut ro = Rollout::new(lab, &sc);
    let (code, err) = ro.run(&sc.script, &sc.state);
    eprintln!("lab: remove-broker: the rollout's log:\n{err}");
    let reloads = ro.reloads.len();
    let t1 = now();
    r.require(
        code == 0,
        format!("the rollout exited {code}: {}", tail(&err)),
    );
    r.require(
        err.contains(&format!(
            "now run `terraform apply`: it destroys {NEW_BROKER} and nothing else"
        )),
        "no terraform apply at the end",
    );
    r.require(
        reloads == 2,
        format!("HAProxy reloaded {reloads} times, not on both"),
    );
    r.figure("rollout_s", round(t1 - t0));
    // `terraform apply`: the VM is destroyed.
    if let Some(i) = lab.brokers.iter().position(|m| m.name == NEW_BROKER) {
        drop(lab.brokers.remove(i));
    }
    lab.out = new_out;
    finish_workload(&mut r, wl);

    match lab.running_nodes(0) {
        Ok(nodes) => r.require(
            nodes.len() == 3 && !nodes.iter().any(|n| n.ends_with(NEW_BROKER)),
            format!("running nodes: {nodes:?}"),
        ),
        Err(e) => r.require(false, e),
    }
    let o = lab.ctl(
        0,
        "rabbitmqctl",
        &["-q", "cluster_status", "--formatter", "json"],
        Duration::from_secs(120),
    );
    r.require(
        o.success() && !o.stdout.contains(&format!("rabbit@{NEW_BROKER}")),
        format!("{NEW_BROKER} is still a member: {}", o.stdout),
    );
    match members(lab, 0) {
        Ok(m) => {
            r.figure("quorum_members", format!("{m:?}"));
            r.require(m.iter().all(|(_, n)| *n == 3), format!("members: {m:?}"));
        }
        Err(e) => r.require(false, e),
    }
    if let Err(e) = lab.wait_replicated(0, Duration::from_secs(120)) {
        r.require(false, e);
    }
    if let Err(e) = lab.wait_backends_up(Duration::from_secs(30)) {
        r.require(false, e);
    }
    let ok = r.problems.is_empty();
    r.target("membership shrinks; the rest stays at full strength", ok);
    r
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

fn round(s: f64) -> f64 {
    (s * 100.0).round() / 100.0
}

#[test]
fn words_read_the_rollouts_quoting() {
    assert_eq!(
        words("'systemctl' 'restart' 'rabbitmq-server' ").unwrap(),
        ["systemctl", "restart", "rabbitmq-server"]
    );
    assert_eq!(words("'a'\\''b' ''").unwrap(), ["a'b", ""]);
    assert_eq!(words("x"), None);
}
