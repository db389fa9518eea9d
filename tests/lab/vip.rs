//! Who holds the VIP: `ip monitor address` in every load balancer's
//! namespace, timestamped as the events arrive, plus on-demand snapshots
//! (`ip addr show`). The event log answers "when did the VIP move",
//! "was it ever on two load balancers" and "did it flap".

use std::io::{BufRead, BufReader};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::harness::{run, Bins};
use super::report::now;

/// A throwaway address each monitor must report before the watch counts
/// as started (loopback range: never a VIP, never routed).
const MARKER: &str = "127.77.77.77/32";
/// How long a monitor may take to subscribe.
const SUBSCRIBE: Duration = Duration::from_secs(30);

/// One change of one load balancer's VIP state.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VipEvent {
    /// Wall-clock time, s since the epoch.
    pub t: f64,
    /// Index of the load balancer.
    pub lb: usize,
    /// Whether it holds the VIP from `t` on.
    pub held: bool,
}

/// A load balancer to watch: its namespace and interface.
pub struct Watched {
    pub netns: String,
    pub interface: String,
}

/// The watcher. Dropping it stops the monitors (by PID).
pub struct VipWatch {
    /// The watched load balancers, by index.
    pub lbs: Vec<Watched>,
    vip: Ipv4Addr,
    ip: PathBuf,
    events: Arc<Mutex<Vec<VipEvent>>>,
    monitors: Vec<Child>,
    readers: Vec<JoinHandle<()>>,
}

impl VipWatch {
    /// Starts one `ip monitor address` per load balancer, then records each
    /// one's current state.
    pub fn start(bins: &Bins, lbs: Vec<Watched>, vip: Ipv4Addr) -> VipWatch {
        let events = Arc::new(Mutex::new(Vec::new()));
        let mut w = VipWatch {
            lbs,
            vip,
            ip: bins.get("ip").to_path_buf(),
            events: events.clone(),
            monitors: Vec::new(),
            readers: Vec::new(),
        };
        let needle = format!(" inet {vip}/");
        let marker = format!(" inet {MARKER} ");
        let mut subscribed = Vec::new();
        for (i, lb) in w.lbs.iter().enumerate() {
            let mut child = Command::new(bins.get("setpriv"))
                .args(["--pdeathsig", "KILL"])
                .arg(&w.ip)
                .args(["-n", &lb.netns, "-o", "-4", "monitor", "address"])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start ip monitor: {e}"));
            let out = child.stdout.take().expect("piped stdout");
            let (events, needle, marker) = (events.clone(), needle.clone(), marker.clone());
            let seen = Arc::new(AtomicBool::new(false));
            subscribed.push(seen.clone());
            w.readers.push(std::thread::spawn(move || {
                for line in BufReader::new(out).lines() {
                    let Ok(line) = line else { break };
                    if line.contains(&marker) {
                        seen.store(true, Ordering::SeqCst);
                    } else if line.contains(&needle) {
                        let held = !line.starts_with("Deleted");
                        let e = VipEvent {
                            t: now(),
                            lb: i,
                            held,
                        };
                        events.lock().expect("vip events").push(e);
                    }
                }
            }));
            w.monitors.push(child);
        }
        // Each monitor is listening once it reports an address added after
        // it started; then the state as of now.
        for (lb, seen) in w.lbs.iter().zip(&subscribed) {
            w.await_subscribed(lb, seen);
        }
        let t = now();
        let held = w.sample();
        let mut ev = w.events.lock().expect("vip events");
        for (lb, held) in held.into_iter().enumerate() {
            ev.push(VipEvent { t, lb, held });
        }
        drop(ev);
        w
    }

    /// Adds and removes [`MARKER`] on `lb`'s loopback until its monitor
    /// has reported it (bounded).
    fn await_subscribed(&self, lb: &Watched, seen: &AtomicBool) {
        let start = Instant::now();
        let addr = |verb: &str| {
            run(
                Command::new(&self.ip).args(["-n", &lb.netns, "addr", verb, MARKER, "dev", "lo"]),
                Duration::from_secs(10),
            )
        };
        let step = Duration::from_millis(20);
        for _ in 0..(SUBSCRIBE.as_millis() / 500 + 1) {
            addr("add").expect_success(&format!("{}: ip addr add {MARKER} dev lo", lb.netns));
            for _ in 0..25 {
                if seen.load(Ordering::SeqCst) {
                    break;
                }
                std::thread::sleep(step);
            }
            addr("del").expect_success(&format!("{}: ip addr del {MARKER} dev lo", lb.netns));
            if seen.load(Ordering::SeqCst) || start.elapsed() >= SUBSCRIBE {
                break;
            }
        }
        assert!(
            seen.load(Ordering::SeqCst),
            "{}: `ip monitor address` did not report a test address within {SUBSCRIBE:?}",
            lb.netns
        );
    }

    /// Which load balancers hold the VIP right now (`ip addr show`).
    pub fn sample(&self) -> Vec<bool> {
        self.lbs
            .iter()
            .map(|lb| {
                let o = run(
                    Command::new(&self.ip).args([
                        "-n",
                        &lb.netns,
                        "-o",
                        "-4",
                        "addr",
                        "show",
                        "dev",
                        &lb.interface,
                    ]),
                    Duration::from_secs(10),
                );
                o.stdout.contains(&format!(" inet {}/", self.vip))
            })
            .collect()
    }

    /// Every event so far, in time order.
    pub fn events(&self) -> Vec<VipEvent> {
        let mut e = self.events.lock().expect("vip events").clone();
        e.sort_by(|a, b| a.t.total_cmp(&b.t));
        e
    }

    /// Holders at time `t`.
    pub fn holders_at(&self, t: f64) -> Vec<usize> {
        holders_at(&self.events(), self.lbs.len(), t)
    }

    /// Waits (bounded) until exactly one load balancer holds the VIP;
    /// returns it.
    pub fn wait_single_holder(&self, timeout: Duration) -> Option<usize> {
        let step = Duration::from_millis(100);
        for _ in 0..(timeout.as_millis() / step.as_millis() + 1) {
            let h = self.holders_at(now());
            if h.len() == 1 {
                return Some(h[0]);
            }
            std::thread::sleep(step);
        }
        None
    }
}

impl Drop for VipWatch {
    fn drop(&mut self) {
        for m in &mut self.monitors {
            let _ = m.kill();
            let _ = m.wait();
        }
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
    }
}

/// Holders at `t`, replaying `events` (sorted).
pub fn holders_at(events: &[VipEvent], n: usize, t: f64) -> Vec<usize> {
    let mut state = vec![false; n];
    for e in events.iter().filter(|e| e.t <= t) {
        state[e.lb] = e.held;
    }
    (0..n).filter(|&i| state[i]).collect()
}

/// The first time at or after `since` when `lb` holds the VIP.
pub fn first_held(events: &[VipEvent], n: usize, lb: usize, since: f64) -> Option<f64> {
    if holders_at(events, n, since).contains(&lb) {
        return Some(since);
    }
    events
        .iter()
        .find(|e| e.t > since && e.lb == lb && e.held)
        .map(|e| e.t)
}

/// What the VIP did in `[from, to]`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct VipWindow {
    /// Changes of the holder set (a move counts 1 or 2: add and delete).
    pub changes: usize,
    /// Total time with two or more holders, s.
    pub both_s: f64,
    /// Total time with no holder, s.
    pub none_s: f64,
}

/// Replays `events` over `[from, to]`.
pub fn window(events: &[VipEvent], n: usize, from: f64, to: f64) -> VipWindow {
    let mut w = VipWindow::default();
    let mut state = vec![false; n];
    for e in events.iter().filter(|e| e.t <= from) {
        state[e.lb] = e.held;
    }
    let mut t = from;
    let count = |s: &[bool]| s.iter().filter(|h| **h).count();
    for e in events.iter().filter(|e| e.t > from && e.t <= to) {
        let held = count(&state);
        if held >= 2 {
            w.both_s += e.t - t;
        } else if held == 0 {
            w.none_s += e.t - t;
        }
        if state[e.lb] != e.held {
            w.changes += 1;
        }
        state[e.lb] = e.held;
        t = e.t;
    }
    let held = count(&state);
    if held >= 2 {
        w.both_s += to - t;
    } else if held == 0 {
        w.none_s += to - t;
    }
    w
}
