//! The lab's scenarios, in order: formation, broker death, HAProxy death,
//! keepalived SIGTERM and SIGKILL, link cut (each with the killed piece
//! restored afterwards), recovery to full strength, and a quiet steady
//! state. Each prints one `scenario=...` line; the run ends with a summary
//! table and target/lab/<spec>.json.

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::path::Path;
use std::time::{Duration, Instant};

use super::client::{outage, python_with_pika, Running, WorkloadResult};
use super::cluster::{Lab, RABBITMQ_RESTART_SEC, TOOLS};
use super::harness::{compile, read_lossy, require, unavailable, ROOT};
use super::report::{now, Report, ScenarioResult};
use super::vip::{first_held, window};

/// The client's probe: an AMQP handshake through the VIP this often, each
/// allowed this long.
const PROBE_INTERVAL: Duration = Duration::from_millis(100);
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// Upper bound of the probe's life (the whole lab is far shorter).
const PROBE_MAX: Duration = Duration::from_secs(1200);
/// Publisher rate, and the most it publishes per scenario: it stops once
/// the fault is over for the client (see `await_recovery`).
const RATE: u32 = 100;
const WORKLOAD_MAX: Duration = Duration::from_secs(60);
/// Publishing goes on at least this long after the fault, and until the
/// probes have succeeded for `RECOVERED_FOR` since their last failure, at
/// most `AFTER_FAULT_MAX` after the fault.
const AFTER_FAULT_MIN: Duration = Duration::from_secs(4);
const RECOVERED_FOR: Duration = Duration::from_millis(1500);
const AFTER_FAULT_MAX: Duration = Duration::from_secs(30);
/// Time the consumer gets after publishing ends to read everything.
const DRAIN: Duration = Duration::from_secs(30);
/// Quiet time between the workload being ready and the fault.
const PRE_FAULT: Duration = Duration::from_secs(2);
/// How long the VIP is watched for a failback after a restored piece is
/// back in the VRRP group.
const FAILBACK_WATCH: Duration = Duration::from_secs(2);
/// How long an expected failback is waited for.
const FAILBACK_MAX: Duration = Duration::from_secs(20);
/// The steady state.
const STEADY: Duration = Duration::from_secs(60);
const STEADY_SAMPLE: Duration = Duration::from_millis(300);
/// The broker the lab runs the bootstrap on (cloud-init's timer runs it on
/// every broker; it is idempotent).
const BOOTSTRAP_BROKER: usize = 0;
/// Generous bounds asserted in CI (the tight targets are reported).
/// (Both specs' labs boot at once on 2 cores: formation is CPU-bound.)
const MAX_FORMATION: Duration = Duration::from_secs(240);
const MAX_OUTAGE_S: f64 = 20.0;
const MAX_VIP_MOVE_S: f64 = 15.0;

/// The specs the lab boots (examples/<spec>.json). Each runs on the
/// release its `os` names, through rmqgen's platform table: every host is
/// chrooted into that release's root filesystem (scripts/rootfs.sh), so
/// the spec's files meet the RabbitMQ, Erlang, HAProxy and keepalived the
/// release ships.
pub const SPECS: &[&str] = &[
    // Classic mirrored queues, RabbitMQ 3.10 (debian-12: 3.10.8, Erlang 25).
    "five-vm",
    "lab-quorum",
    // Quorum queues, RabbitMQ 4.0 (debian-13: 4.0.5, Erlang 27).
    "lab-trixie",
    // Quorum queues, RabbitMQ 4.3 (debian-sid: 4.3.6, Erlang 29; Khepri).
    "lab-sid",
];

/// Boots `examples/<spec>.json` on its release and runs every scenario.
pub fn run(spec: &str) {
    run_with(spec, |lab, report, _| all(lab, report));
}

/// Boots `examples/<spec>.json` on its release and runs `scenarios` on it
/// (given the spec's source as the lab compiled it).
pub fn run_with(spec: &str, scenarios: fn(&mut Lab, &mut Report, &str)) {
    let Some(bins) = require(TOOLS, true) else {
        return;
    };
    let path = Path::new(ROOT)
        .join("examples")
        .join(format!("{spec}.json"));
    let source =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (source, changes) = super::firewall::narrowed(machine_variant(&source));
    for c in &changes {
        eprintln!("lab: {spec}: spec setting changed for this machine: {c}");
    }
    let out = compile(spec, &source);
    for w in out.warnings.iter() {
        eprintln!("lab: {spec}: {w}");
    }
    let release = super::harness::release_of(&out.plan).codename;
    let plan = out.plan.clone();
    // A spec that installs RabbitMQ from a mirror boots the release as its
    // cloud image has it (no RabbitMQ; tests/lab/apt.rs).
    let from_mirror = super::apt::Mirror::of(&plan).is_some();
    let rootfs = if from_mirror {
        format!("{release}-cloud")
    } else {
        release.to_string()
    };
    let base = match super::harness::rootfs(&rootfs) {
        Ok(b) => b,
        Err(e) => return unavailable(&e),
    };
    // Not a skip: a release whose root filesystem has no broker is a
    // failure with the reason.
    let inst = (!from_mirror).then(|| {
        super::rabbit::installation_at(&base).unwrap_or_else(|e| panic!("release={release}: {e}"))
    });
    let Some(python) = python_with_pika() else {
        return unavailable("no python3 with pika (Debian: apt-get install python3-pika)");
    };
    let mut report = Report {
        spec: spec.to_string(),
        release: release.to_string(),
        cluster: plan.name.clone(),
        haproxy: super::harness::tool_version(&base, "haproxy", "-v"),
        keepalived: super::harness::tool_version(&base, "keepalived", "--version"),
        queue_ha: format!(
            "{:?} policy {}",
            plan.rabbitmq.policy.mode, plan.rabbitmq.policy.name
        ),
        started_unix: now(),
        ..Default::default()
    };
    let h = &plan.haproxy.check;
    let k = &plan.keepalived;
    for (key, v) in [
        (
            "haproxy_check",
            format!(
                "inter {}ms fastinter {}ms downinter {}ms rise {} fall {}",
                h.interval_ms, h.fast_interval_ms, h.down_interval_ms, h.rise, h.fall
            ),
        ),
        (
            "keepalived",
            format!(
                "VRRPv{} advert {} s, check every {} s fall {} rise {}, track weight {} ({}), {}",
                k.vrrp_version,
                k.advert_int,
                k.check_interval,
                k.check_fall,
                k.check_rise,
                k.track_weight,
                if k.track_weight == 0 {
                    "fault"
                } else {
                    "weight"
                },
                if k.preempt { "preempt" } else { "nopreempt" }
            ),
        ),
        (
            "network",
            format!("{} on {}", plan.network.cidr, plan.network.interface),
        ),
    ] {
        report.settings.insert(key.into(), v.into());
    }

    report
        .settings
        .insert("lab_spec_changes".into(), changes.into());

    let started = Instant::now();
    eprintln!("lab: {spec}: booting {} hosts", plan.hosts.len() + 1);
    let mut lab = Lab::boot(spec, release, &base, out, bins, inst, python);
    let broker_root = if from_mirror {
        lab.brokers[0].root_view()
    } else {
        base.clone()
    };
    report.rabbitmq = lab.inst.version.clone();
    report.erlang = erlang_version(&broker_root);
    if !lab.installed.is_empty() {
        report.settings.insert(
            "apt_install".into(),
            lab.installed
                .iter()
                .map(super::apt::Installed::line)
                .collect::<Vec<_>>()
                .into(),
        );
    }
    assert_eq!(
        plan.rabbitmq.version.to_string(),
        lab.inst.series,
        "{spec} is for RabbitMQ {}, Debian {release} has {}: the lab runs a spec as rendered \
         on the release its os names, with that release's own RabbitMQ or its mirror's",
        plan.rabbitmq.version,
        lab.inst.version
    );
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        scenarios(&mut lab, &mut report, &source)
    }));
    if let Some(v) = lab.vip.as_ref() {
        report.vip_events = v
            .events()
            .iter()
            .map(|e| (e.t, lab.lbs[e.lb].name.clone(), e.held))
            .collect();
    }
    let teardown = Instant::now();
    drop(lab);
    eprintln!(
        "lab: {spec}: torn down in {:.1} s",
        teardown.elapsed().as_secs_f64()
    );
    report.total_s = started.elapsed().as_secs_f64();

    let table = report.table();
    let json = report.write_json();
    // Straight to the stderr handle: visible without --nocapture too.
    use std::io::Write as _;
    let _ = writeln!(
        std::io::stderr(),
        "\n{table}\nlab: results in {}",
        json.display()
    );
    if let Err(panic) = outcome {
        resume_unwind(panic);
    }
    let problems: Vec<String> = report
        .scenarios
        .iter()
        .flat_map(|s| {
            s.problems
                .iter()
                .map(move |p| format!("{}: {p}", s.scenario))
        })
        .collect();
    assert!(
        problems.is_empty(),
        "the lab found problems:\n{}",
        problems.join("\n")
    );
}

fn all(lab: &mut Lab, report: &mut Report) {
    let mut failbacks = Vec::new();
    let steps: [fn(&mut Lab, &mut Vec<Failback>) -> ScenarioResult; 7] = [
        |lab, _| formation(lab),
        |lab, _| super::firewall::outsider(lab),
        broker_kill,
        haproxy_kill,
        |lab, fb| keepalived_death(lab, fb, "TERM"),
        |lab, fb| keepalived_death(lab, fb, "KILL"),
        link_cut,
    ];
    for (i, step) in steps.into_iter().enumerate() {
        let start = Instant::now();
        let mut r = step(lab, &mut failbacks);
        r.took_s = start.elapsed().as_secs_f64();
        let broken = i == 0 && !r.problems.is_empty();
        emit(report, r);
        if broken {
            // Nothing to fail over: the rest would only time out.
            return;
        }
    }
    let start = Instant::now();
    let mut r = recovery(lab, &failbacks);
    r.took_s = start.elapsed().as_secs_f64();
    emit(report, r);
    let start = Instant::now();
    let mut r = steady(lab);
    r.took_s = start.elapsed().as_secs_f64();
    emit(report, r);
    for r in super::rogue_vrrp::scenarios(lab) {
        emit(report, r);
    }
    if let Some(p) = lab.probe.as_mut() {
        lab.client.stop_probe(p);
    }
}

pub(super) fn emit(report: &mut Report, r: ScenarioResult) {
    use std::io::Write as _;
    // Two specs' labs run side by side: each line names its spec.
    let _ = writeln!(
        std::io::stderr(),
        "{} release={} spec={}",
        r.line(),
        report.release,
        report.spec
    );
    report.scenarios.push(r);
}

/// What happened when a load balancer's piece came back.
#[derive(Clone, Debug)]
pub struct Failback {
    scenario: String,
    expected: bool,
    happened: bool,
}

// ------------------------------------------------------------- formation

pub(super) fn formation(lab: &mut Lab) -> ScenarioResult {
    let mut r = ScenarioResult::new("formation", "cold start of every host (runcmd order)");
    let plan = lab.plan().clone();
    lab.watch_vip();
    lab.probe = Some(
        lab.client
            .start_probe(PROBE_INTERVAL, PROBE_TIMEOUT, PROBE_MAX),
    );
    for lb in 0..lab.lbs.len() {
        lab.start_syslog(lb);
        let v = lab.apply_sysctl(lb);
        r.require(
            v == "1",
            format!(
                "{}: ip_nonlocal_bind is {v} after the rendered sysctl",
                lab.lbs[lb].name
            ),
        );
    }

    let t0 = now();
    for i in 0..lab.brokers.len() {
        lab.start_broker(i);
    }
    // runcmd on a load balancer: haproxy, then keepalived (After=haproxy).
    for lb in 0..lab.lbs.len() {
        lab.start_haproxy(lb);
        lab.start_keepalived(lb);
    }
    // `systemctl enable --now rabbitmq-server` returns once the broker is
    // up (Type=notify). Every broker's timer runs the bootstrap; the lab
    // runs it on the first broker once that is up.
    let b = BOOTSTRAP_BROKER;
    let booted = lab.wait_broker_booted(b, MAX_FORMATION);
    assert!(
        booted.success(),
        "{} did not boot: {booted}\n{}",
        plan.brokers[b].name,
        broker_log_tail(lab, b)
    );
    r.figure("first_boot_s", round(now() - t0));
    lab.start_bootstrap(b);
    for i in (0..lab.brokers.len()).filter(|i| *i != b) {
        let o = lab.wait_broker_booted(i, MAX_FORMATION);
        assert!(
            o.success(),
            "{} did not boot: {o}\n{}",
            plan.brokers[i].name,
            broker_log_tail(lab, i)
        );
    }
    // Formed once every broker sees every broker running: each node learns
    // of the others on its own, and a classic queue declared on a node
    // that does not see a broker yet gets no mirror there.
    let mut formed = Some(t0);
    for i in std::iter::once(b).chain((0..lab.brokers.len()).filter(|i| *i != b)) {
        formed = match (formed, lab.wait_all_running(i, Duration::from_secs(120))) {
            (Some(a), Some(t)) => Some(a.max(t)),
            _ => {
                r.require(
                    false,
                    format!(
                        "{} does not see {} running brokers",
                        plan.brokers[i].name,
                        plan.brokers.len()
                    ),
                );
                None
            }
        };
    }
    if let Some(t) = formed {
        r.figure("formation_s", round(t - t0));
    }
    let status = lab.brokers[b].wait_service("bootstrap", Duration::from_secs(300));
    let log = read_lossy(&lab.brokers[b].dir.join("bootstrap.err"));
    match status {
        Some(s) if s.success() => r.figure("bootstrap_s", round(now() - t0)),
        other => r.require(false, format!("the bootstrap ended with {other:?}: {log}")),
    }

    // The VIP and the first AMQP handshake through it.
    match lab.vip().wait_single_holder(Duration::from_secs(60)) {
        Some(h) => {
            let t = first_held(&lab.vip().events(), lab.lbs.len(), h, t0).unwrap_or(t0);
            r.vip_to = Some(lab.lbs[h].name.clone());
            r.figure("vip_s", round(t - t0));
        }
        None => r.require(false, "no single VIP holder within 60 s"),
    }
    let first_ok = poll(Duration::from_secs(60), Duration::from_millis(200), || {
        lab.probes().iter().find(|p| p.ok && p.t >= t0).map(|p| p.t)
    });
    match first_ok {
        Some(t) => r.figure("amqp_via_vip_s", round(t - t0)),
        None => r.require(false, "no AMQP handshake through the VIP within 60 s"),
    }
    // Issue 10's target (cold cluster to the first AMQP handshake through
    // the VIP), reported like the others.
    r.target(
        "cold formation to AMQP through the VIP within 15 s",
        first_ok.is_some_and(|t| t - t0 <= 15.0),
    );
    match lab.wait_backends_up(Duration::from_secs(60)) {
        Ok(_) => r.figure(
            "haproxy_backends",
            format!("{n}/{n} UP on each LB", n = plan.brokers.len()),
        ),
        Err(e) => r.require(false, e),
    }

    // The policy is applied to a queue declared now, and it is replicated.
    let q = "lab-policy";
    let d = lab.client.declare(q);
    lab.declared.push(q.to_string());
    r.require(
        d.success(),
        format!("declaring {q} through the VIP failed: {d}"),
    );
    match lab.queues(b) {
        Ok(qs) => {
            let row = qs
                .iter()
                .find(|x| x["name"] == q)
                .cloned()
                .unwrap_or_default();
            let policy = row["policy"].as_str().unwrap_or("").to_string();
            r.require(
                policy == plan.rabbitmq.policy.name,
                format!(
                    "{q} has policy {policy:?}, not {}: {row}",
                    plan.rabbitmq.policy.name
                ),
            );
            r.figure("policy", policy);
            if lab.client.quorum {
                r.require(
                    row["type"] == "quorum",
                    format!("{q} is not a quorum queue: {row}"),
                );
            }
        }
        Err(e) => r.require(false, e),
    }
    match lab.wait_replicated(b, Duration::from_secs(60)) {
        Err(e) => r.require(
            false,
            format!("{e}\n{}", broker_log_mentions(lab, MIRROR_WORDS)),
        ),
        Ok(_) => {
            let n = plan.brokers.len();
            r.figure(
                "replicas",
                if lab.client.quorum {
                    format!("{n}/{n} quorum members")
                } else {
                    format!("{m}/{m} synchronised mirrors", m = n - 1)
                },
            );
        }
    }
    let formation = r.figures.get("formation_s").and_then(|v| v.as_f64());
    r.require(
        formation.is_some_and(|f| f <= MAX_FORMATION.as_secs_f64()),
        format!("formation took {formation:?} s"),
    );
    r
}

// ----------------------------------------------------------- the faults

/// Starts the scenario's publisher + consumer and waits until it is
/// confirming and consuming, then the pre-fault quiet time.
pub(super) fn begin(lab: &mut Lab, scenario: &str) -> (Running, String) {
    let q = format!("lab-{scenario}");
    lab.declared.push(q.clone());
    let (wl, ready) = lab.client.start_workload(&q, RATE, WORKLOAD_MAX, DRAIN);
    let ok = poll(Duration::from_secs(30), Duration::from_millis(50), || {
        ready.exists().then_some(())
    });
    assert!(
        ok.is_some(),
        "{scenario}: the workload never got going:\n{}",
        wl.log()
    );
    std::thread::sleep(PRE_FAULT);
    (wl, q)
}

/// Waits until the fault at `t_fault` is over for the client: at least
/// `AFTER_FAULT_MIN`, then until the probes through the VIP have succeeded
/// for `RECOVERED_FOR` since their last failure (at most `AFTER_FAULT_MAX`).
/// So the workload always spans the fault and its recovery, however long
/// the steps before the fault took on a slow machine.
fn await_recovery(lab: &Lab, t_fault: f64) {
    let deadline = t_fault + AFTER_FAULT_MAX.as_secs_f64();
    let earliest = t_fault + AFTER_FAULT_MIN.as_secs_f64();
    let steps = AFTER_FAULT_MAX.as_millis() / 200 + 1;
    for _ in 0..steps {
        let t = now();
        if t >= deadline {
            return;
        }
        if t >= earliest {
            let probes = lab.probes();
            let last_failure = probes
                .iter()
                .filter(|p| p.t >= t_fault && !p.ok)
                .map(|p| p.t)
                .fold(t_fault, f64::max);
            let since = last_failure + RECOVERED_FOR.as_secs_f64();
            if probes.iter().any(|p| p.ok && p.t >= since) {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Lets the workload publish through the fault's recovery, stops it, waits
/// for it to drain and fills in its figures; returns when it ended.
pub(super) fn finish(lab: &Lab, r: &mut ScenarioResult, mut wl: Running, t_fault: f64) -> f64 {
    await_recovery(lab, t_fault);
    wl.stop();
    let done = wl.wait(DRAIN + Duration::from_secs(30));
    let text = read_lossy(&wl.out);
    match serde_json::from_str::<WorkloadResult>(&text) {
        Ok(w) => {
            r.require(
                w.lost == 0,
                format!("{} confirmed messages lost: {:?}", w.lost, w.lost_ids),
            );
            r.require(w.consumer_finished, "the consumer did not finish draining");
            r.require(w.confirmed > 0, "nothing was confirmed");
            r.target("0 confirmed messages lost", w.lost == 0);
            r.workload = Some(w);
        }
        Err(e) => r.require(
            false,
            format!("no workload result ({e}; exited ok: {done}): {}", wl.log()),
        ),
    }
    now()
}

/// When `lb` (re)gained the VIP after `since`: a failback when it held it
/// at `since` and lost it in between, or when it had lost it before.
fn failback_time(lab: &Lab, lb: usize, since: f64) -> Option<f64> {
    lab.vip()
        .events()
        .iter()
        .find(|e| e.t > since && e.lb == lb && e.held)
        .map(|e| e.t)
}

/// Fills in the client-visible outage of the fault at `t_fault`, from the
/// probes. A failback within the window (the VIP returning to the load
/// balancer `from`, as the spec's preempt decides) is a second, separate
/// outage: the fault's window ends just before it.
pub(super) fn probe_outage(
    lab: &Lab,
    r: &mut ScenarioResult,
    t_fault: f64,
    t_end: f64,
    from: Option<usize>,
) {
    let cut = from
        .and_then(|h| failback_time(lab, h, t_fault))
        .map_or(t_end, |t| (t - 0.2).max(t_fault));
    let o = outage(&lab.probes(), t_fault, cut);
    r.t_fault = Some(t_fault);
    r.probes = o.probes;
    r.failed_probes = o.failed;
    r.probe_errors = o.errors.clone();
    r.outage_s = o.outage_s.map(round);
    r.require(
        o.outage_s.is_some_and(|s| s <= MAX_OUTAGE_S),
        format!("new connections through the VIP not back within {MAX_OUTAGE_S} s: {o:?}"),
    );
}

/// Fills in where the VIP went after a fault on `from`, and whether it was
/// on two load balancers while the fault lasted (`t_fault`..`t_end`).
fn vip_moved(
    lab: &Lab,
    r: &mut ScenarioResult,
    from: usize,
    t_fault: f64,
    t_end: f64,
) -> Option<usize> {
    let events = lab.vip().events();
    let n = lab.lbs.len();
    r.vip_from = Some(lab.lbs[from].name.clone());
    let w = window(&events, n, t_fault, t_end);
    r.vip_both_s = round(w.both_s);
    r.vip_changes = w.changes;
    let moved = (0..n)
        .filter(|&i| i != from)
        .filter_map(|i| first_held(&events, n, i, t_fault).map(|t| (t, i)))
        .min_by(|a, b| a.0.total_cmp(&b.0));
    match moved {
        Some((t, to)) => {
            r.vip_to = Some(lab.lbs[to].name.clone());
            r.vip_move_s = Some(round(t - t_fault));
            r.require(
                t - t_fault <= MAX_VIP_MOVE_S,
                format!("the VIP took {:.1} s to move", t - t_fault),
            );
            Some(to)
        }
        None => {
            r.require(false, format!("the VIP never left {}", lab.lbs[from].name));
            None
        }
    }
}

pub(super) fn holder(lab: &Lab) -> usize {
    lab.vip()
        .wait_single_holder(Duration::from_secs(10))
        .expect("exactly one load balancer holds the VIP before the fault")
}

/// After `lb`'s piece is back: waits for its VRRP instance to leave FAULT
/// (or to take the VIP), then watches for a failback, which the spec's
/// `preempt` decides.
fn rejoin_vrrp(
    lab: &Lab,
    r: &mut ScenarioResult,
    failbacks: &mut Vec<Failback>,
    lb: usize,
    log_offset: usize,
    t_restore: f64,
    measure: bool,
) {
    let plan = lab.plan();
    let back = lab
        .wait_keepalived_log(
            lb,
            log_offset,
            "Entering BACKUP STATE",
            Duration::from_secs(30),
        )
        .or_else(|| {
            lab.wait_keepalived_log(
                lb,
                log_offset,
                "Entering MASTER STATE",
                Duration::from_secs(1),
            )
        });
    match back {
        // Measured only when the lab saw it happen (it polls the log).
        Some(t) if measure => r.figure("vrrp_rejoined_s", round(t - t_restore)),
        Some(_) => {}
        None => r.require(
            false,
            format!(
                "{}: keepalived did not rejoin the VRRP group",
                lab.lbs[lb].name
            ),
        ),
    }
    let n = lab.lbs.len();
    // Who else held the VIP when `lb` came back (a SIGKILLed keepalived
    // leaves `lb` itself holding a stale one).
    let others: Vec<usize> = super::vip::holders_at(&lab.vip().events(), n, t_restore)
        .into_iter()
        .filter(|&h| h != lb)
        .collect();
    let outranks = others
        .iter()
        .all(|&h| plan.load_balancers[lb].priority > plan.load_balancers[h].priority);
    let expected = plan.keepalived.preempt && outranks;
    // A failback the spec expects is waited for (bounded: a loaded machine
    // may take longer than the watch); one it rules out can only be
    // watched for. Either way the VIP is then watched FAILBACK_WATCH more.
    if expected {
        poll(FAILBACK_MAX, Duration::from_millis(100), || {
            failback_time(lab, lb, t_restore)
        });
    }
    std::thread::sleep(FAILBACK_WATCH);
    let events = lab.vip().events();
    let t_back = failback_time(lab, lb, t_restore);
    let happened = t_back.is_some();
    r.figure("failback", if happened { "yes" } else { "no" });
    r.require(
        happened == expected,
        format!(
            "after {} came back the VIP {} back to it; the spec (preempt={}) says it should {}",
            lab.lbs[lb].name,
            if happened { "moved" } else { "did not move" },
            plan.keepalived.preempt,
            if expected { "move" } else { "stay" }
        ),
    );
    if let Some(t) = t_back {
        let o = outage(&lab.probes(), (t - 0.2).max(t_restore), now());
        r.figure("failback_outage_s", o.outage_s.map_or(-1.0, round));
        // A preemptive failback is a VRRP handover: the returning master
        // adds the VIP, the old one drops it on the master's first advert.
        let w = window(&events, n, t_restore, now());
        r.figure("failback_vip_both_s", round(w.both_s));
    }
    failbacks.push(Failback {
        scenario: r.scenario.clone(),
        expected,
        happened,
    });
}

fn broker_kill(lab: &mut Lab, _fb: &mut Vec<Failback>) -> ScenarioResult {
    let mut r = ScenarioResult::new("broker-kill", "");
    // The queue first, to find its leader before the workload starts: the
    // fault then lands right after the pre-fault quiet time.
    let q = "lab-broker-kill";
    let d = lab.client.declare(q);
    assert!(d.success(), "broker-kill: declaring {q} failed: {d}");
    let via = BOOTSTRAP_BROKER;
    let leader = lab
        .queue_leader(via, q)
        .unwrap_or_else(|e| panic!("broker-kill: {e}"));
    let victim = lab
        .plan()
        .brokers
        .iter()
        .position(|b| b.node_name == leader)
        .unwrap_or_else(|| panic!("leader {leader} is not a broker"));
    let (wl, _) = begin(lab, "broker-kill");
    // The Erlang VM must take the signal; a short-lived child of it that
    // exits first is gone, not an error.
    let vm = lab.brokers[victim].tree("beam.smp");
    r.fault = format!("SIGKILL {leader} (leads {q})");
    let t_fault = now();
    lab.brokers[victim].signal(&[vm.main], &vm.helpers(), "KILL");
    r.require(
        lab.brokers[victim].wait_gone("beam.smp", Duration::from_secs(15)),
        format!("{leader}'s Erlang VM did not exit after SIGKILL"),
    );
    let t_end = finish(lab, &mut r, wl, t_fault);
    probe_outage(lab, &mut r, t_fault, t_end, None);
    r.target(
        "broker death masked for new connections within 2 s",
        r.outage_s.is_some_and(|s| s <= 2.0),
    );
    let marked_down = haproxy_event(
        lab,
        &format!("rabbitmq_amqp/{} is DOWN", lab.plan().brokers[victim].name),
        t_fault,
    )
    .map(|t| t - t_fault);
    if let Some(s) = marked_down {
        r.figure("haproxy_marked_down_s", round(s));
    }
    r.target(
        "dead broker out of rotation within 1.5 s",
        marked_down.is_some_and(|s| s <= 1.5),
    );
    let _ = t_end;

    // Debian's unit restarts a failed broker after RestartSec=10 (systemd
    // first waits for the unit's last process to end: wait_gone above).
    sleep_until(t_fault + RABBITMQ_RESTART_SEC.as_secs_f64());
    lab.brokers[victim].reap();
    let t_restart = now();
    lab.start_broker(victim);
    let o = lab.wait_broker_booted(victim, Duration::from_secs(120));
    r.require(o.success(), format!("{leader} did not restart: {o}"));
    let other = (0..lab.brokers.len()).find(|&i| i != victim).unwrap_or(0);
    match lab.wait_all_running(other, Duration::from_secs(60)) {
        Some(t) => r.figure("rejoined_s", round(t - t_restart)),
        None => r.require(false, format!("{leader} did not rejoin the cluster")),
    }
    match lab.wait_replicated(other, Duration::from_secs(90)) {
        Ok(t) => r.figure("replicated_s", round(t - t_restart)),
        Err(e) => r.require(false, e),
    }
    if let Err(e) = lab.wait_backends_up(Duration::from_secs(30)) {
        r.require(false, e);
    }
    r
}

fn haproxy_kill(lab: &mut Lab, failbacks: &mut Vec<Failback>) -> ScenarioResult {
    let mut r = ScenarioResult::new("haproxy-kill", "");
    let (wl, _q) = begin(lab, "haproxy-kill");
    let h = holder(lab);
    // The master must take the signal; a worker that exits as its master
    // dies (or the master as its last worker does) is gone, not an error.
    let haproxy = lab.lbs[h].tree("haproxy");
    r.fault = format!(
        "SIGKILL HAProxy on {} (VIP holder), kept down",
        lab.lbs[h].name
    );
    let t_fault = now();
    lab.lbs[h].signal(&[haproxy.main], &haproxy.helpers(), "KILL");
    r.require(
        lab.lbs[h].wait_gone("haproxy", Duration::from_secs(15)),
        "HAProxy did not exit after SIGKILL",
    );
    let t_end = finish(lab, &mut r, wl, t_fault);
    vip_moved(lab, &mut r, h, t_fault, t_end);
    probe_outage(lab, &mut r, t_fault, t_end, Some(h));
    r.target(
        "VIP failover on HAProxy death within 2.5 s",
        r.outage_s.is_some_and(|s| s <= 2.5),
    );
    r.target(
        "VIP moves on HAProxy death within 1.5 s",
        r.vip_move_s.is_some_and(|s| s <= 1.5),
    );

    // haproxy.service's Restart=always would restart it within 100 ms; the
    // scenario kept it down (a crash loop) and now lets it come back (every
    // old process is gone: wait_gone above, as systemd waits for the unit).
    lab.lbs[h].reap();
    let offset = lab.keepalived_log(h).len();
    let t_restore = now();
    lab.start_haproxy(h);
    rejoin_vrrp(lab, &mut r, failbacks, h, offset, t_restore, true);
    if let Err(e) = lab.wait_backends_up(Duration::from_secs(30)) {
        r.require(false, e);
    }
    r
}

fn keepalived_death(lab: &mut Lab, failbacks: &mut Vec<Failback>, signal: &str) -> ScenarioResult {
    let name = format!("keepalived-{}", signal.to_ascii_lowercase());
    let mut r = ScenarioResult::new(&name, "");
    let (wl, _q) = begin(lab, &name);
    let h = holder(lab);
    // The main process, its VRRP child, and any script run the VRRP child
    // has just forked (short-lived: gone is not an error).
    let tree = lab.lbs[h].tree("keepalived");
    r.fault = format!(
        "SIG{signal} {} keepalived on {} (VIP holder)",
        if signal == "KILL" {
            "every"
        } else {
            "the main"
        },
        lab.lbs[h].name
    );
    let offset = lab.keepalived_log(h).len();
    let t_fault = now();
    if signal == "KILL" {
        // A crash, not a shutdown. The VRRP child gets SIGTERM when its
        // parent dies and would then release the VIP cleanly, depending on
        // the order the signals land in: it is stopped first, so it cannot.
        // (Not the main process: its parent, nsenter, would stop too.)
        // The main process's children must be stopped; a script run
        // that ends meanwhile is gone.
        if !tree.children.is_empty() {
            lab.lbs[h].signal(&tree.children, &tree.rest, "STOP");
        }
        let mut targets = vec![tree.main];
        targets.extend(&tree.children);
        lab.lbs[h].signal(&targets, &tree.rest, "KILL");
    } else {
        lab.lbs[h].signal(&[tree.main], &[], signal);
    }
    let gone = lab.lbs[h].wait_gone("keepalived", Duration::from_secs(15));
    r.require(gone, "keepalived did not exit");
    let t_gone = now();
    // systemd, per rmqgen's drop-in: ExecStopPost, then (Restart=always)
    // a restart RestartSec later.
    for o in lab.keepalived_stopped(h) {
        eprintln!(
            "lab: {}: ExecStopPost `{}`: {}",
            lab.lbs[h].name, o.what, o.status
        );
    }
    let t_restore = match lab.keepalived_unit.restart {
        Some(d) => {
            sleep_until(t_gone + d.as_secs_f64());
            lab.lbs[h].reap();
            let t = now();
            lab.start_keepalived(h);
            r.figure("restarted_after_s", round(t - t_fault));
            Some(t)
        }
        None => None,
    };
    let t_end = finish(lab, &mut r, wl, t_fault);
    // The fault lasts until keepalived is back; what happens then is the
    // failback, measured by rejoin_vrrp.
    vip_moved(lab, &mut r, h, t_fault, t_restore.unwrap_or(t_end));
    probe_outage(lab, &mut r, t_fault, t_end, Some(h));
    let events = lab.vip().events();
    // When the old holder let go of the VIP.
    let released = events
        .iter()
        .find(|e| e.t >= t_fault && e.lb == h && !e.held)
        .map(|e| e.t);
    r.figure(
        "old_holder_released_s",
        released.map_or(-1.0, |t| round(t - t_fault)),
    );
    if signal == "TERM" {
        r.target(
            "VIP failover on keepalived SIGTERM within 1 s",
            r.outage_s.is_some_and(|s| s <= 1.0),
        );
        r.target(
            "VIP moves on keepalived SIGTERM within 0.5 s",
            r.vip_move_s.is_some_and(|s| s <= 0.5),
        );
    } else {
        r.target("VIP never on both load balancers", r.vip_both_s == 0.0);
        r.target(
            "VIP moves on keepalived SIGKILL within 1.5 s",
            r.vip_move_s.is_some_and(|s| s <= 1.5),
        );
    }
    match t_restore {
        Some(t) => rejoin_vrrp(lab, &mut r, failbacks, h, offset, t, false),
        None => {
            // No restart policy: bring it back as an operator would.
            lab.lbs[h].reap();
            let offset = lab.keepalived_log(h).len();
            let t = now();
            lab.start_keepalived(h);
            rejoin_vrrp(lab, &mut r, failbacks, h, offset, t, true);
        }
    }
    r
}

fn link_cut(lab: &mut Lab, failbacks: &mut Vec<Failback>) -> ScenarioResult {
    let mut r = ScenarioResult::new("link-cut", "");
    let (wl, _q) = begin(lab, "link-cut");
    let h = holder(lab);
    let (netns, iface) = (
        lab.lbs[h].net.netns.clone(),
        lab.lbs[h].net.interface.clone(),
    );
    r.fault = format!(
        "ip link set {iface} down on {} (VIP holder)",
        lab.lbs[h].name
    );
    let t_fault = now();
    lab.net.ip_in(&netns, &["link", "set", &iface, "down"]);
    let t_end = finish(lab, &mut r, wl, t_fault);
    vip_moved(lab, &mut r, h, t_fault, t_end);
    probe_outage(lab, &mut r, t_fault, t_end, Some(h));
    r.target(
        "VIP failover on link loss within 2.5 s",
        r.outage_s.is_some_and(|s| s <= 2.5),
    );
    r.target(
        "VIP moves on link loss within 1.5 s",
        r.vip_move_s.is_some_and(|s| s <= 1.5),
    );

    let offset = lab.keepalived_log(h).len();
    let t_restore = now();
    lab.net.ip_in(&netns, &["link", "set", &iface, "up"]);
    rejoin_vrrp(lab, &mut r, failbacks, h, offset, t_restore, true);
    if let Err(e) = lab.wait_backends_up(Duration::from_secs(30)) {
        r.require(false, e);
    }
    r
}

// ------------------------------------------------- recovery, steady state

fn recovery(lab: &mut Lab, failbacks: &[Failback]) -> ScenarioResult {
    let mut r = ScenarioResult::new(
        "recovery",
        "every killed piece restarted, the link restored",
    );
    let plan = lab.plan().clone();
    let n = plan.brokers.len();
    match lab.running_nodes(0) {
        Ok(nodes) => {
            r.require(nodes.len() == n, format!("running nodes: {nodes:?}"));
            r.figure("running_nodes", format!("{}/{n}", nodes.len()));
        }
        Err(e) => r.require(false, e),
    }
    if let Err(e) = lab.wait_backends_up(Duration::from_secs(30)) {
        r.require(false, e);
    }
    for (i, m) in lab.lbs.iter().enumerate() {
        for comm in ["haproxy", "keepalived"] {
            r.require(
                !m.pids(comm).is_empty(),
                format!("{}: {comm} is not running", lab.lbs[i].name),
            );
        }
    }
    match lab.wait_replicated(0, Duration::from_secs(60)) {
        Ok(_) => r.figure("queues", "fully replicated"),
        Err(e) => r.require(false, e),
    }
    match lab.vip().wait_single_holder(Duration::from_secs(5)) {
        Some(h) => r.vip_to = Some(lab.lbs[h].name.clone()),
        None => r.require(false, "not exactly one VIP holder"),
    }
    let happened = failbacks.iter().filter(|f| f.happened).count();
    let expected = failbacks.iter().filter(|f| f.expected).count();
    r.figure(
        "failbacks",
        format!(
            "{happened}/{} (expected {expected}: {})",
            failbacks.len(),
            if plan.keepalived.preempt {
                "preempt"
            } else {
                "nopreempt"
            }
        ),
    );
    let mismatched: Vec<&str> = failbacks
        .iter()
        .filter(|f| f.happened != f.expected)
        .map(|f| f.scenario.as_str())
        .collect();
    r.require(
        mismatched.is_empty(),
        format!("preemption differs from the spec after: {mismatched:?}"),
    );
    r.target("preemption as the spec says", mismatched.is_empty());
    r.target("full strength", r.problems.is_empty());
    r
}

fn steady(lab: &mut Lab) -> ScenarioResult {
    let mut r = ScenarioResult::new("steady", format!("{} s without faults", STEADY.as_secs()));
    let t0 = now();
    let start = Instant::now();
    let (mut samples, mut single) = (0usize, 0usize);
    let mut holders = std::collections::BTreeSet::new();
    for _ in 0..(STEADY.as_millis() / STEADY_SAMPLE.as_millis() + 1) {
        if start.elapsed() >= STEADY {
            break;
        }
        let s = lab.vip().sample();
        samples += 1;
        let held: Vec<usize> = (0..s.len()).filter(|&i| s[i]).collect();
        if held.len() == 1 {
            single += 1;
            holders.insert(held[0]);
        }
        std::thread::sleep(STEADY_SAMPLE);
    }
    let t1 = now();
    let w = window(&lab.vip().events(), lab.lbs.len(), t0, t1);
    let o = outage(&lab.probes(), t0, t1);
    r.probes = o.probes;
    r.failed_probes = o.failed;
    r.outage_s = o.outage_s.map(round);
    r.vip_changes = w.changes;
    r.vip_both_s = round(w.both_s);
    if let Some(&h) = holders.iter().next() {
        r.vip_from = Some(lab.lbs[h].name.clone());
        r.vip_to = r.vip_from.clone();
    }
    r.figure("samples_single_holder", format!("{single}/{samples}"));
    r.require(
        w.changes == 0,
        format!("the VIP changed hands {} times", w.changes),
    );
    r.require(
        w.both_s == 0.0 && single == samples,
        "the VIP was not on exactly one load balancer throughout",
    );
    r.require(o.failed == 0, format!("{} probes failed", o.failed));
    r.target(
        format!("no VIP flapping in {} s", STEADY.as_secs()),
        w.changes == 0 && holders.len() == 1,
    );
    r
}

// ------------------------------------------------------------------ bits

/// The hard limit on open files of this process (and so of every process
/// the lab starts), from /proc/self/limits.
fn nofile_hard_limit() -> Option<u64> {
    read_lossy(Path::new("/proc/self/limits"))
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(4))
        .and_then(|v| v.parse().ok())
}

/// The spec as this machine can run it. The lab never edits a rendered
/// file: where the machine differs from a VM, a spec setting changes and
/// the bundle is rendered from it; every change is logged and reported.
///
/// HAProxy 2.6 needs about 2 x maxconn + 50 file descriptors and refuses
/// to start when it cannot raise its limit that far (strict-limits). A
/// systemd VM allows 524288; a container may allow less and deny
/// CAP_SYS_RESOURCE to raise it.
fn machine_variant(source: &str) -> (String, Vec<String>) {
    let mut v: serde_json::Value = serde_json::from_str(source).expect("a spec is JSON");
    let mut changes = Vec::new();
    if let Some(hard) = nofile_hard_limit() {
        let maxconn = v["haproxy"]["maxconn"]
            .as_u64()
            .unwrap_or(u64::from(rmqgen::plan::defaults::MAXCONN));
        if 2 * maxconn + 100 > hard {
            let fit = (hard.saturating_sub(100) / 2 / 1000 * 1000).max(1000);
            if !v["haproxy"].is_object() {
                v["haproxy"] = serde_json::json!({});
            }
            v["haproxy"]["maxconn"] = fit.into();
            changes.push(format!(
                "haproxy.maxconn {maxconn} -> {fit} (open-files hard limit here is {hard}; HAProxy needs ~2 x maxconn)"
            ));
        }
    }
    if changes.is_empty() {
        return (source.to_string(), changes);
    }
    (serde_json::to_string_pretty(&v).expect("JSON"), changes)
}

/// The Erlang/OTP release of a root filesystem, as its erlang-base package
/// records it (`25.2.3`).
fn erlang_version(base: &Path) -> String {
    let status = read_lossy(&base.join("var/lib/dpkg/status"));
    status
        .split("\n\n")
        .find(|p| p.lines().any(|l| l == "Package: erlang-base"))
        .and_then(|p| p.lines().find_map(|l| l.strip_prefix("Version: ")))
        .map(|v| {
            let v = v.split_once(':').map_or(v, |(_, v)| v);
            v.split(['+', '-']).next().unwrap_or(v).to_string()
        })
        .unwrap_or_else(|| "unknown".into())
}

fn round(s: f64) -> f64 {
    (s * 100.0).round() / 100.0
}

fn sleep_until(t: f64) {
    let d = t - now();
    if d > 0.0 {
        std::thread::sleep(Duration::from_secs_f64(d.min(60.0)));
    }
}

/// Polls `f` every `step` until it returns `Some` or `timeout` passes.
fn poll<T>(timeout: Duration, step: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    for _ in 0..(timeout.as_millis() / step.as_millis().max(1) + 1) {
        if let Some(v) = f() {
            return Some(v);
        }
        if start.elapsed() >= timeout {
            break;
        }
        std::thread::sleep(step);
    }
    None
}

/// When a load balancer's HAProxy first logged `needle` after `since`.
fn haproxy_event(lab: &Lab, needle: &str, since: f64) -> Option<f64> {
    lab.lbs
        .iter()
        .filter_map(|m| {
            read_lossy(&m.dir.join("haproxy-syslog.log"))
                .lines()
                .filter(|l| l.contains(needle))
                .filter_map(|l| l.split_whitespace().next()?.parse::<f64>().ok())
                .find(|t| *t >= since)
        })
        .min_by(|a, b| a.total_cmp(b))
}

/// What the broker logs say about mirrors and members: why a queue may be
/// under-replicated.
const MIRROR_WORDS: &[&str] = &[
    "mirror",
    "Mirrored",
    "partition",
    "Adding",
    "pause",
    "member",
];

/// The broker log lines that mention one of `words` (the last 15 of each
/// broker), for a failure message.
fn broker_log_mentions(lab: &Lab, words: &[&str]) -> String {
    let mut out = String::new();
    for (i, m) in lab.brokers.iter().enumerate() {
        let node = &lab.plan().brokers[i].node_name;
        let text = read_lossy(&m.root.join(format!("var/log/rabbitmq/{node}.log")));
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| words.iter().any(|w| l.contains(w)))
            .collect();
        out.push_str(&format!(
            "--- {node}.log: {} lines mention {words:?}, the last 15:\n",
            lines.len()
        ));
        for l in lines.iter().rev().take(15).rev() {
            out.push_str(l);
            out.push('\n');
        }
    }
    out
}

fn broker_log_tail(lab: &Lab, i: usize) -> String {
    let m = &lab.brokers[i];
    let node = &lab.plan().brokers[i].node_name;
    let logs = m.root.join("var/log/rabbitmq");
    format!(
        "--- {node}.log ---\n{}\n--- rabbitmq-server.log ---\n{}\n--- rabbitmq-server.error.log ---\n{}",
        super::harness::tail(&logs.join(format!("{node}.log")), 30),
        super::harness::tail(&logs.join("rabbitmq-server.log"), 30),
        super::harness::tail(&logs.join("rabbitmq-server.error.log"), 30),
    )
}
