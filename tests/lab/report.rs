//! Results: one line per scenario as it ends, a summary table at the end of
//! the run, and a JSON file (target/lab/<spec>.json).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::Value;

use super::client::WorkloadResult;

/// Wall-clock time, s since the epoch: the one clock the lab, the client
/// and the VIP monitors share.
pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// A tight target from the issue, checked and reported (not asserted).
#[derive(Clone, Debug, Serialize)]
pub struct Target {
    /// What it says.
    pub what: String,
    /// Whether this run met it.
    pub met: bool,
}

/// One scenario's outcome.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ScenarioResult {
    /// Scenario name, e.g. `broker-kill`.
    pub scenario: String,
    /// What was done.
    pub fault: String,
    /// Client-visible outage of new AMQP connections through the VIP, s.
    pub outage_s: Option<f64>,
    /// Probes in the window / of which failed.
    pub probes: usize,
    pub failed_probes: usize,
    /// Why probes failed (kinds of error).
    pub probe_errors: Vec<String>,
    /// When the fault was injected, s since the epoch (to read the logs).
    pub t_fault: Option<f64>,
    /// Where the VIP was before and after.
    pub vip_from: Option<String>,
    pub vip_to: Option<String>,
    /// From the fault until the VIP was on its new holder, s.
    pub vip_move_s: Option<f64>,
    /// Time with the VIP on two load balancers at once, s.
    pub vip_both_s: f64,
    /// Changes of the VIP holder set in the window.
    pub vip_changes: usize,
    /// The publisher/consumer run during the fault.
    pub workload: Option<WorkloadResult>,
    /// Scenario-specific figures (formation time, rejoin time, ...).
    pub figures: BTreeMap<String, Value>,
    /// Tight targets.
    pub targets: Vec<Target>,
    /// Violations of the generous CI bounds (the test fails on any).
    pub problems: Vec<String>,
    /// Wall time the scenario took, s.
    pub took_s: f64,
}

impl ScenarioResult {
    /// A named, empty result.
    pub fn new(scenario: &str, fault: impl Into<String>) -> Self {
        Self {
            scenario: scenario.into(),
            fault: fault.into(),
            ..Default::default()
        }
    }

    /// Records a figure.
    pub fn figure(&mut self, key: &str, value: impl Into<Value>) {
        self.figures.insert(key.into(), value.into());
    }

    /// Records a tight target.
    pub fn target(&mut self, what: impl Into<String>, met: bool) {
        self.targets.push(Target {
            what: what.into(),
            met,
        });
    }

    /// Records a violated CI bound unless `ok`.
    pub fn require(&mut self, ok: bool, problem: impl Into<String>) {
        if !ok {
            self.problems.push(problem.into());
        }
    }

    /// The one-line summary printed when the scenario ends.
    pub fn line(&self) -> String {
        let mut s = format!("scenario={}", self.scenario);
        let opt = |v: Option<f64>| v.map_or("none".to_string(), |v| format!("{v:.2}"));
        if self.probes > 0 {
            write!(s, " outage_s={}", opt(self.outage_s)).unwrap();
            write!(s, " failed_probes={}/{}", self.failed_probes, self.probes).unwrap();
            if !self.probe_errors.is_empty() {
                write!(s, " probe_errors={}", self.probe_errors.join("|")).unwrap();
            }
        }
        if let Some(w) = &self.workload {
            write!(
                s,
                " lost={} dup={} confirmed={} consumed={} nacks={} pub_max_gap_s={:.2} cons_max_gap_s={:.2}",
                w.lost,
                w.dup,
                w.confirmed,
                w.consumed_unique,
                w.nacks,
                w.pub_max_gap_s,
                w.cons_max_gap_s
            )
            .unwrap();
        }
        if self.vip_from.is_some() || self.vip_to.is_some() {
            write!(
                s,
                " vip={}->{} vip_move_s={} vip_both_s={:.2} vip_changes={}",
                self.vip_from.as_deref().unwrap_or("none"),
                self.vip_to.as_deref().unwrap_or("none"),
                opt(self.vip_move_s),
                self.vip_both_s,
                self.vip_changes
            )
            .unwrap();
        }
        for (k, v) in &self.figures {
            match v {
                Value::Number(n) if n.is_f64() => {
                    write!(s, " {k}={:.2}", n.as_f64().unwrap_or(0.0)).unwrap()
                }
                Value::String(t) => write!(s, " {k}={t}").unwrap(),
                other => write!(s, " {k}={other}").unwrap(),
            }
        }
        for t in &self.targets {
            write!(
                s,
                " target[{}]={}",
                t.what,
                if t.met { "met" } else { "MISSED" }
            )
            .unwrap();
        }
        write!(s, " took_s={:.1}", self.took_s).unwrap();
        if !self.problems.is_empty() {
            write!(s, " PROBLEMS: {}", self.problems.join("; ")).unwrap();
        }
        s
    }
}

/// The whole run.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub spec: String,
    /// The Debian release the hosts ran (their root filesystem).
    pub release: String,
    pub cluster: String,
    pub rabbitmq: String,
    pub erlang: String,
    pub haproxy: String,
    pub keepalived: String,
    pub queue_ha: String,
    pub settings: BTreeMap<String, Value>,
    pub started_unix: f64,
    pub total_s: f64,
    pub scenarios: Vec<ScenarioResult>,
    /// Every change of every load balancer's VIP state: (time, load
    /// balancer, holds it from then on).
    pub vip_events: Vec<(f64, String, bool)>,
}

impl Report {
    /// A markdown table of every scenario.
    pub fn table(&self) -> String {
        let mut t = format!(
            "lab summary: {} on Debian {} ({}, RabbitMQ {}, Erlang {}, {}, {}), {:.0} s\n\n",
            self.spec,
            self.release,
            self.queue_ha,
            self.rabbitmq,
            self.erlang,
            self.haproxy,
            self.keepalived,
            self.total_s
        );
        t.push_str("| scenario | fault | client outage (s) | failed probes | VIP move (s) | VIP on both (s) | confirmed | lost | dup | longest gap publisher / consumer (s) | other | targets | took (s) |\n");
        t.push_str("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
        let opt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.2}"));
        for s in &self.scenarios {
            let (confirmed, lost, dup, gaps) =
                s.workload
                    .as_ref()
                    .map_or(("-".into(), "-".into(), "-".into(), "-".into()), |w| {
                        (
                            w.confirmed.to_string(),
                            w.lost.to_string(),
                            w.dup.to_string(),
                            format!("{:.2} / {:.2}", w.pub_max_gap_s, w.cons_max_gap_s),
                        )
                    });
            let other: Vec<String> = s
                .figures
                .iter()
                .map(|(k, v)| match v {
                    Value::Number(n) if n.is_f64() => {
                        format!("{k}={:.1}", n.as_f64().unwrap_or(0.0))
                    }
                    Value::String(x) => format!("{k}={x}"),
                    o => format!("{k}={o}"),
                })
                .collect();
            let targets: Vec<String> = s
                .targets
                .iter()
                .map(|t| format!("{}: {}", t.what, if t.met { "met" } else { "MISSED" }))
                .collect();
            let vip_move = match (&s.vip_from, &s.vip_to) {
                (Some(a), Some(b)) if a != b => format!("{} ({a}→{b})", opt(s.vip_move_s)),
                _ => opt(s.vip_move_s),
            };
            writeln!(
                t,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.0} |",
                s.scenario,
                s.fault,
                if s.probes > 0 {
                    opt(s.outage_s)
                } else {
                    "-".into()
                },
                if s.probes > 0 {
                    format!("{}/{}", s.failed_probes, s.probes)
                } else {
                    "-".into()
                },
                vip_move,
                if s.vip_from.is_some() {
                    format!("{:.2}", s.vip_both_s)
                } else {
                    "-".into()
                },
                confirmed,
                lost,
                dup,
                gaps,
                other.join(", "),
                targets.join("; "),
                s.took_s
            )
            .unwrap();
        }
        // The tight targets, in one line: reported, not asserted (a noisy
        // machine must not turn CI red), and checked from here.
        let total: usize = self.scenarios.iter().map(|s| s.targets.len()).sum();
        let missed: Vec<String> = self
            .scenarios
            .iter()
            .flat_map(|s| {
                s.targets
                    .iter()
                    .filter(|t| !t.met)
                    .map(move |t| format!("{}: {}", s.scenario, t.what))
            })
            .collect();
        write!(
            t,
            "\n{}: tight targets met: {}/{total}",
            self.spec,
            total - missed.len()
        )
        .unwrap();
        if !missed.is_empty() {
            write!(t, "; missed: {}", missed.join("; ")).unwrap();
        }
        t.push('\n');
        t
    }

    /// Writes target/lab/<spec>.json; returns its path.
    pub fn write_json(&self) -> PathBuf {
        let dir = target_dir().join("lab");
        std::fs::create_dir_all(&dir).expect("create target/lab");
        let path = dir.join(format!("{}.json", self.spec));
        let text = serde_json::to_string_pretty(self).expect("report serialises");
        std::fs::write(&path, text + "\n").expect("write the lab report");
        path
    }
}

/// Cargo's target directory.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(super::harness::ROOT).join("target"))
}
