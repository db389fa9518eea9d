//! The client namespace: the Python client (`amqp_client.py`, pika) run
//! with `ip netns exec`, so it reaches the cluster only through the lab's
//! network, and parsing of what it reports.

use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::harness::{read_lossy, run, spawn_logged, wait_deadline, Bins, Outcome};

/// The client script, next to this file.
pub const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/lab/amqp_client.py");

/// A Python 3 with pika: Debian's (python3-pika) first, then PATH's.
pub fn python_with_pika() -> Option<PathBuf> {
    let mut candidates = vec![PathBuf::from("/usr/bin/python3")];
    candidates.extend(super::harness::find("python3"));
    candidates.into_iter().find(|p| {
        p.exists()
            && Command::new(p)
                .args(["-c", "import pika"])
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false)
    })
}

/// How the client reaches the cluster.
pub struct Client {
    pub netns: String,
    pub python: PathBuf,
    pub dir: PathBuf,
    pub vip: Ipv4Addr,
    pub port: u32,
    pub vhost: String,
    pub user: String,
    pub password_file: PathBuf,
    pub quorum: bool,
    ip: PathBuf,
    setpriv: PathBuf,
}

/// One probe attempt.
#[derive(Clone, Debug, Deserialize)]
pub struct ProbeRecord {
    /// Start, s since the epoch.
    pub t: f64,
    pub ok: bool,
    /// Why it failed.
    #[serde(default)]
    pub err: String,
}

/// What a workload run reports.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct WorkloadResult {
    pub queue: String,
    pub attempted: u64,
    pub confirmed: u64,
    pub consumed_unique: u64,
    pub lost: u64,
    pub lost_ids: Vec<u64>,
    pub dup: u64,
    pub unconfirmed_consumed: u64,
    pub nacks: u64,
    pub pub_errors: u64,
    pub pub_connections: u64,
    pub pub_max_gap_s: f64,
    pub cons_connections: u64,
    pub cons_cancels: u64,
    pub cons_errors: u64,
    pub cons_max_gap_s: f64,
    pub consumer_finished: bool,
    pub elapsed_s: f64,
    pub errors: Vec<String>,
}

/// A running background client process.
pub struct Running {
    child: Child,
    pub out: PathBuf,
    log: PathBuf,
    /// Created to ask it to stop.
    stop_file: PathBuf,
}

impl Running {
    /// Waits for it (bounded), killing it on timeout.
    pub fn wait(&mut self, timeout: Duration) -> bool {
        match wait_deadline(&mut self.child, timeout) {
            Some(s) => s.success(),
            None => {
                let _ = self.child.kill();
                let _ = self.child.wait();
                false
            }
        }
    }

    /// Asks it to stop (a workload stops publishing, then drains).
    pub fn stop(&self) {
        let _ = fs::write(&self.stop_file, b"");
    }

    /// Its stderr, for failure messages.
    pub fn log(&self) -> String {
        read_lossy(&self.log)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Client {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        bins: &Bins,
        python: PathBuf,
        netns: String,
        dir: PathBuf,
        vip: Ipv4Addr,
        port: u32,
        vhost: String,
        user: String,
        password_file: PathBuf,
        quorum: bool,
    ) -> Client {
        Client {
            netns,
            python,
            dir,
            vip,
            port,
            vhost,
            user,
            password_file,
            quorum,
            ip: bins.get("ip").to_path_buf(),
            setpriv: bins.get("setpriv").to_path_buf(),
        }
    }

    fn command(&self, args: &[String]) -> Command {
        let mut cmd = Command::new(&self.setpriv);
        cmd.args(["--pdeathsig", "KILL"])
            .arg(&self.ip)
            .args(["netns", "exec", &self.netns])
            .arg(&self.python)
            .arg("-u")
            .arg(SCRIPT)
            .args(args)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("LANG", "C.UTF-8");
        cmd
    }

    /// Starts `args` in the background, writing `out`; `<stem>.stop` asks
    /// it to stop, its stdout and stderr go to `<stem>.stdout` and
    /// `<stem>.log` in the client's directory.
    fn spawn(&self, mut args: Vec<String>, stem: &str, out: PathBuf) -> Running {
        let stop_file = self.dir.join(format!("{stem}.stop"));
        let _ = fs::remove_file(&stop_file);
        args.extend([
            "--stop-file".into(),
            stop_file.to_string_lossy().into_owned(),
            "--out".into(),
            out.to_string_lossy().into_owned(),
        ]);
        let log = self.dir.join(format!("{stem}.log"));
        let child = spawn_logged(
            &mut self.command(&args),
            &self.dir.join(format!("{stem}.stdout")),
            &log,
        );
        Running {
            child,
            out,
            log,
            stop_file,
        }
    }

    fn amqp_args(&self, cmd: &str, queue: &str) -> Vec<String> {
        let mut a = vec![
            cmd.to_string(),
            "--host".into(),
            self.vip.to_string(),
            "--port".into(),
            self.port.to_string(),
            "--vhost".into(),
            self.vhost.clone(),
            "--user".into(),
            self.user.clone(),
            "--password-file".into(),
            self.password_file.to_string_lossy().into_owned(),
            "--queue".into(),
            queue.to_string(),
        ];
        if self.quorum {
            a.push("--quorum".into());
        }
        a
    }

    /// Starts the VIP probe: an AMQP handshake every `interval`, for at
    /// most `duration`, until [`Client::stop_probe`].
    pub fn start_probe(
        &self,
        interval: Duration,
        timeout: Duration,
        duration: Duration,
    ) -> Running {
        let args: Vec<String> = vec![
            "probe".into(),
            "--host".into(),
            self.vip.to_string(),
            "--port".into(),
            self.port.to_string(),
            "--interval".into(),
            format!("{}", interval.as_secs_f64()),
            "--timeout".into(),
            format!("{}", timeout.as_secs_f64()),
            "--duration".into(),
            format!("{}", duration.as_secs_f64()),
            "--max-attempts".into(),
            format!(
                "{}",
                (duration.as_secs_f64() / interval.as_secs_f64()).ceil() as u64 + 1
            ),
        ];
        self.spawn(args, "probe", self.dir.join("probe.jsonl"))
    }

    /// Asks the probe to stop and waits for it.
    pub fn stop_probe(&self, probe: &mut Running) {
        probe.stop();
        probe.wait(Duration::from_secs(10));
    }

    /// Starts a publisher + consumer on `queue`: it publishes until
    /// [`Running::stop`] (at most `duration`), then drains.
    pub fn start_workload(
        &self,
        queue: &str,
        rate: u32,
        duration: Duration,
        drain: Duration,
    ) -> (Running, PathBuf) {
        let stem = format!("workload-{queue}");
        let out = self.dir.join(format!("{stem}.json"));
        let ready = self.dir.join(format!("{stem}.ready"));
        for f in [&out, &ready] {
            let _ = fs::remove_file(f);
        }
        let mut args = self.amqp_args("workload", queue);
        args.extend([
            "--rate".into(),
            rate.to_string(),
            "--duration".into(),
            format!("{}", duration.as_secs_f64()),
            "--drain-timeout".into(),
            format!("{}", drain.as_secs_f64()),
            "--ready".into(),
            ready.to_string_lossy().into_owned(),
        ]);
        (self.spawn(args, &stem, out), ready)
    }

    /// Declares a durable queue through the VIP.
    pub fn declare(&self, queue: &str) -> Outcome {
        let mut args = self.amqp_args("declare", queue);
        args.extend(["--attempts".into(), "20".into()]);
        run(&mut self.command(&args), Duration::from_secs(90))
    }

    /// A load balancer's statistics page: (proxy, server, status) rows.
    pub fn haproxy_stats(
        &self,
        url: &str,
        user: &str,
        password_file: &Path,
    ) -> Result<Vec<(String, String, String)>, String> {
        let args: Vec<String> = vec![
            "haproxy-stats".into(),
            "--url".into(),
            url.into(),
            "--user".into(),
            user.into(),
            "--password-file".into(),
            password_file.to_string_lossy().into_owned(),
        ];
        let o = run(&mut self.command(&args), Duration::from_secs(20));
        if !o.success() {
            return Err(o.to_string());
        }
        #[derive(Deserialize)]
        struct Row {
            proxy: String,
            server: String,
            status: String,
        }
        let rows: Vec<Row> =
            serde_json::from_str(o.stdout.trim()).map_err(|e| format!("{e}: {}", o.stdout))?;
        Ok(rows
            .into_iter()
            .map(|r| (r.proxy, r.server, r.status))
            .collect())
    }
}

/// Every complete record of a probe output file.
pub fn probe_records(path: &Path) -> Vec<ProbeRecord> {
    let text = fs::read_to_string(path).unwrap_or_default();
    let mut v: Vec<ProbeRecord> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    v.sort_by(|a, b| a.t.total_cmp(&b.t));
    v
}

/// Client-visible outage after a fault at `from`, up to `to`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Outage {
    /// Probes started in the window.
    pub probes: usize,
    /// Of which failed.
    pub failed: usize,
    /// From the fault to the first probe of the final run of successes
    /// (0 when no probe failed; `None` when the window ends failing or
    /// holds no probe).
    pub outage_s: Option<f64>,
    /// Start of the first failed probe, relative to the fault.
    pub first_failure_s: Option<f64>,
    /// The distinct reasons probes failed (at most 3).
    pub errors: Vec<String>,
}

/// Computes the [`Outage`] of `records` (sorted) in `[from, to]`.
pub fn outage(records: &[ProbeRecord], from: f64, to: f64) -> Outage {
    let w: Vec<&ProbeRecord> = records
        .iter()
        .filter(|r| r.t >= from && r.t <= to)
        .collect();
    let failed = w.iter().filter(|r| !r.ok).count();
    let first_failure_s = w.iter().find(|r| !r.ok).map(|r| r.t - from);
    let outage_s = match w.iter().rposition(|r| !r.ok) {
        None if w.is_empty() => None,
        None => Some(0.0),
        Some(last) => w.get(last + 1).map(|r| r.t - from),
    };
    let mut errors: Vec<String> = Vec::new();
    for r in w.iter().filter(|r| !r.ok) {
        // The kind of error, not its details (addresses, timings).
        let kind = r.err.split(':').next().unwrap_or("").to_string();
        if errors.len() < 3 && !errors.contains(&kind) {
            errors.push(kind);
        }
    }
    Outage {
        probes: w.len(),
        failed,
        outage_s,
        first_failure_s,
        errors,
    }
}
