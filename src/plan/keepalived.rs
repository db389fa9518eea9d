//! keepalived: the VRRP instance, priorities, the router id, the check.

use serde::Serialize;

use super::platform::ScriptTiming;
use super::{defaults, paths, tf_ident, Balancer, Located, Millis, Seconds};
use crate::spec::{Spec, TrackMode, VrrpTransport};

/// keepalived settings.
#[derive(Debug, Clone, Serialize)]
pub struct KeepalivedPlan {
    /// Virtual router id.
    pub virtual_router_id: u32,
    /// VRRP version.
    pub vrrp_version: Located<u32>,
    /// Advert interval (keepalived writes it in seconds, decimal).
    pub advert_int: Located<Seconds>,
    /// Unicast peers.
    pub unicast: bool,
    /// Preemption.
    pub preempt: bool,
    /// Track weight (0 = FAULT on failure).
    pub track_weight: Located<i32>,
    /// The highest load balancer priority.
    pub top_priority: u32,
    /// The highest priority with the track weight applied: what the VIP
    /// holder drops to when its check fails (weight mode).
    pub tracked_priority: i64,
    /// How the hosts' keepalived reads the check's interval and timeout,
    /// and the default interval (the platform table).
    pub script_timing: ScriptTiming,
    /// Check interval: the spec's, or the default of the hosts' keepalived.
    pub check_interval: Located<Seconds>,
    /// Check timeout (equal to the interval).
    pub check_timeout: Seconds,
    /// How long the check script waits for HAProxy's answer: inside the
    /// script timeout, so keepalived never kills it.
    pub check_read_timeout: Seconds,
    /// Check fall.
    pub check_fall: Located<u32>,
    /// Check rise.
    pub check_rise: Located<u32>,
    /// A second check, `fall 1`, that only connects to HAProxy's local
    /// health port, where the main check needs more than one interval of
    /// a second or more to fail: with `fall 2` at 1 s (keepalived before
    /// 2.3.2 runs scripts at most once a second) the statistics check sees
    /// HAProxy's death 1-2 s after it, and the VIP moved in 1.2-2.1 s on
    /// keepalived 2.2.7. A refused connection is certain enough to act on
    /// at the first failure (within one interval), while the statistics
    /// check keeps its failures for a live HAProxy without a broker (or a
    /// reload's servers that are not checked yet).
    pub alive_check: bool,
    /// VRRPv2 authentication: the file keepalived.conf includes and the
    /// parameter it defines (the password never enters keepalived.conf).
    pub auth: Option<VrrpAuth>,
    /// Name of the VRRP instance.
    pub instance: String,
}

/// Where keepalived finds the VRRPv2 password.
#[derive(Debug, Clone, Serialize)]
pub struct VrrpAuth {
    /// The root-only file that defines the parameter.
    pub include: &'static str,
    /// The keepalived parameter (with its `$`) that `auth_pass` names.
    pub param: &'static str,
}

/// VRRP priorities in load balancer order, defaults filled.
pub(super) fn priorities(spec: &Spec) -> Vec<Located<u32>> {
    spec.load_balancers
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let step = defaults::PRIORITY_STEP.saturating_mul(i as u32);
            let default = defaults::FIRST_PRIORITY.saturating_sub(step).max(1);
            Located::field(format!("/load_balancers/{i}/priority"), l.priority, default)
        })
        .collect()
}

/// Whether a higher-priority load balancer takes the VIP back.
pub(super) fn preempt(spec: &Spec) -> bool {
    spec.keepalived
        .as_ref()
        .and_then(|k| k.preempt)
        .unwrap_or(false)
}

/// The VRRP router id: the spec's, or a stable value derived from the
/// cluster name (FNV-1a folded into 1..=255).
fn virtual_router_id(spec: &Spec) -> u32 {
    spec.keepalived
        .as_ref()
        .and_then(|k| k.virtual_router_id)
        .unwrap_or_else(|| {
            let hash = spec.name.bytes().fold(0x811c_9dc5_u32, |h, b| {
                (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
            });
            hash % 255 + 1
        })
}

pub(super) fn keepalived_plan(
    spec: &Spec,
    preempt: bool,
    load_balancers: &[Balancer],
    script_timing: ScriptTiming,
) -> KeepalivedPlan {
    let ka = spec.keepalived.clone().unwrap_or_default();
    let advert_int = Located::field(
        "/keepalived/advert_int_ms",
        ka.advert_int_ms,
        defaults::ADVERT_INT_MS,
    );
    let interval_ms = ka
        .check_interval_ms
        .unwrap_or(script_timing.default_interval.get());
    let track_weight = match ka.track.unwrap_or(TrackMode::Fault {}) {
        TrackMode::Fault {} => Located::fixed("/keepalived/track", 0),
        TrackMode::Weight { weight } => Located::given("/keepalived/track/weight", weight),
    };
    let check_fall = Located::field(
        "/keepalived/check_fall",
        ka.check_fall,
        defaults::KA_CHECK_FALL,
    );
    let top_priority = load_balancers
        .iter()
        .map(|l| *l.priority)
        .max()
        .unwrap_or(0);
    KeepalivedPlan {
        virtual_router_id: virtual_router_id(spec),
        vrrp_version: Located::field(
            "/keepalived/vrrp_version",
            ka.vrrp_version,
            defaults::VRRP_VERSION,
        ),
        advert_int: advert_int.map(|ms| Millis::new(ms).seconds()),
        unicast: ka.transport.unwrap_or(VrrpTransport::Unicast) == VrrpTransport::Unicast,
        preempt,
        tracked_priority: i64::from(top_priority) + i64::from(*track_weight),
        track_weight,
        top_priority,
        script_timing,
        check_interval: Located::field(
            "/keepalived/check_interval_ms",
            ka.check_interval_ms,
            script_timing.default_interval.get(),
        )
        .map(|ms| Millis::new(ms).seconds()),
        // The script must finish within its interval; it gives itself less
        // (see check-haproxy.sh), so keepalived never has to kill it.
        check_timeout: Millis::new(interval_ms).seconds(),
        check_read_timeout: Millis::new(interval_ms.saturating_mul(4) / 5).seconds(),
        alive_check: *check_fall > 1 && interval_ms >= 1000,
        check_fall,
        check_rise: Located::field(
            "/keepalived/check_rise",
            ka.check_rise,
            defaults::KA_CHECK_RISE,
        ),
        auth: ka.auth_pass.is_some().then_some(VrrpAuth {
            include: paths::KEEPALIVED_AUTH,
            param: paths::VRRP_AUTH_PARAM,
        }),
        instance: format!("VI_{}", tf_ident(&spec.name).to_ascii_uppercase()),
    }
}

#[cfg(test)]
mod tests {
    use crate::spec::OsRelease;

    fn compile(example: &str, edit: impl Fn(&mut serde_json::Value)) -> crate::Output {
        let path = format!("{}/examples/{example}.json", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(path).expect("example");
        let mut spec: serde_json::Value = serde_json::from_str(&text).expect("json");
        edit(&mut spec);
        crate::compile(&spec.to_string()).expect("compiles")
    }

    fn conf(o: &crate::Output) -> &str {
        let lb = &o.plan.load_balancers[0].name;
        o.bundle
            .get(&format!("keepalived/{lb}/keepalived.conf"))
            .expect("keepalived.conf")
            .text()
    }

    #[test]
    fn a_dead_haproxy_fails_the_alive_check_at_once_where_checks_are_whole_seconds() {
        // Debian 12: keepalived 2.2.7, checks every 1 s.
        let o = compile("five-vm", |_| {});
        assert_eq!(*o.plan.os, OsRelease::Debian12);
        assert!(o.plan.keepalived.alive_check);
        let c = conf(&o);
        let alive = c
            .split("vrrp_script chk_haproxy_alive {")
            .nth(1)
            .and_then(|s| s.split('}').next())
            .expect("chk_haproxy_alive");
        assert!(alive.contains("check-haproxy.sh alive\""), "{alive}");
        assert!(
            alive.contains("fall 1") && alive.contains("interval 1\n"),
            "{alive}"
        );
        assert!(alive.contains("weight 0"), "{alive}");
        let track = c.split("track_script {").nth(1).expect("track_script");
        assert!(track.contains("chk_haproxy\n") && track.contains("chk_haproxy_alive"));
        let script = o
            .bundle
            .get("keepalived/check-haproxy.sh")
            .expect("script")
            .text();
        assert!(
            script.contains("[ \"${1:-}\" != alive ] || exit 0"),
            "{script}"
        );

        // Debian 13: 0.5 s checks, fall 2 is within 1 s: one check.
        let o = compile("lab-trixie", |_| {});
        assert!(!o.plan.keepalived.alive_check);
        assert!(!conf(&o).contains("chk_haproxy_alive"));
        let script = o
            .bundle
            .get("keepalived/check-haproxy.sh")
            .expect("script")
            .text();
        assert!(!script.contains("!= alive ]"), "{script}");

        // A spec's 1 s interval on trixie, or fall 1, decides it the same way.
        let o = compile("lab-trixie", |s| {
            s["keepalived"]["check_interval_ms"] = 1000.into()
        });
        assert!(o.plan.keepalived.alive_check);
        let o = compile("five-vm", |s| s["keepalived"]["check_fall"] = 1.into());
        assert!(!o.plan.keepalived.alive_check);
        assert!(!conf(&o).contains("chk_haproxy_alive"));
    }
}
