//! keepalived: router id, priorities and the failover arithmetic, adverts,
//! authentication, preemption.

use super::Sink;
use crate::diagnostic::Code;
use crate::plan::Plan;
use crate::spec::{Spec, VrrpState};

pub(super) fn check(spec: &Spec, plan: &Plan, d: &mut Sink) {
    let ka = spec.keepalived.clone().unwrap_or_default();
    let k = &plan.keepalived;
    if let Some(id) = ka.virtual_router_id {
        if !(1..=255).contains(&id) {
            d.error(Code::RouterId, "/keepalived/virtual_router_id", format!("virtual_router_id {id} is not 1..=255"), "pick a byte value unique on the segment, or leave it unset to derive one from the cluster name");
        }
    }

    let version = *k.vrrp_version;
    if !(2..=3).contains(&version) {
        d.error(
            Code::VrrpVersion,
            k.vrrp_version.pointer(),
            format!("VRRP version {version} does not exist"),
            "use 3 (or 2 for old peers)",
        );
    }
    let advert = k.advert_int.millis().get();
    let advert_p = k.advert_int.pointer();
    if version == 2 && (advert % 1000 != 0 || !(1000..=255_000).contains(&advert)) {
        d.error(
            Code::AdvertInterval,
            advert_p,
            format!("VRRPv2 adverts are whole seconds (1000..=255000 ms), not {advert} ms"),
            "use vrrp_version 3 for sub-second adverts, or a multiple of 1000",
        );
    } else if version == 3 && (advert % 10 != 0 || !(10..=40_950).contains(&advert)) {
        d.error(
            Code::AdvertInterval,
            advert_p,
            format!("VRRPv3 adverts are 10..=40950 ms in steps of 10, not {advert} ms"),
            "e.g. 500",
        );
    }

    let p = "/keepalived/auth_pass";
    match (&ka.auth_pass, version) {
        (Some(_), 3) => d.error(
            Code::AuthPass,
            p,
            "VRRPv3 has no authentication in keepalived: it would drop the authentication block and send unauthenticated adverts",
            "remove auth_pass (unicast adverts with check_unicast_src, the default transport, are the protection), or use vrrp_version 2",
        ),
        // Its source is checked with every other secret (plan.secrets).
        (Some(_), _) => {}
        (None, 2) => d.warning(
            Code::VrrpNoAuth,
            "/keepalived/vrrp_version",
            "VRRPv2 without authentication: any VRRP speaker with this router id that the load balancers hear counts",
            "add \"auth_pass\": {\"from\": \"terraform-random\"} (8 characters, clear text on the wire: it keeps a misconfigured neighbour out), and keep transport \"unicast\" (check_unicast_src keeps strangers out); or use vrrp_version 3",
        ),
        (None, _) => {}
    }

    if !k.unicast {
        // Unicast with check_unicast_src (the default) is the only setting
        // in which keepalived ignores a VRRP speaker that is not a peer.
        let message = if version == 2 && ka.auth_pass.is_some() {
            "multicast VRRP: every host on the segment hears the adverts, auth_pass included (it travels in clear text), and can take the VIP with it"
        } else {
            "multicast VRRP without authentication: any host on the segment that sends adverts can take the VIP"
        };
        d.warning(
            Code::VrrpUnprotected,
            "/keepalived/transport",
            message,
            "use transport \"unicast\" (the default): the load balancers then accept adverts only from each other's addresses (check_unicast_src); keep multicast only on a segment that holds nothing but the load balancers",
        );
    }

    let priorities: Vec<u32> = plan.load_balancers.iter().map(|l| *l.priority).collect();
    for (i, (lb, prio)) in plan.load_balancers.iter().zip(&priorities).enumerate() {
        let at = lb.priority.pointer();
        if !(1..=254).contains(prio) {
            d.error(
                Code::Priority,
                at,
                format!("priority {prio} is not 1..=254"),
                "255 is reserved for the address owner; use e.g. 150 and 140",
            );
        }
        if let Some(j) = priorities[..i].iter().position(|p| p == prio) {
            d.warning(
                Code::Priority,
                at,
                format!(
                    "priority {prio} equals {}'s: keepalived breaks the tie by IP address",
                    spec.load_balancers[j].name
                ),
                "give every load balancer a distinct priority",
            );
        }
        let state = &lb.initial_state;
        if !k.preempt && state.written() && **state == VrrpState::Master {
            d.error(
                Code::NoPreemptMaster,
                state.pointer(),
                "nopreempt (keepalived.preempt = false) is ignored on an instance that starts as MASTER",
                "remove initial_state (every load balancer then starts as BACKUP), or set keepalived.preempt = true",
            );
        }
    }

    // Written only in track mode "weight" (mode "fault" has no weight).
    if k.track_weight.written() {
        let weight = *k.track_weight;
        let p = k.track_weight.pointer();
        if !(-253..=-1).contains(&weight) {
            d.error(
                Code::NoFailover,
                p,
                format!(
                    "weight {weight} is not -253..=-1: a failed check would not lower the priority"
                ),
                "use a negative weight, or track mode \"fault\"",
            );
        } else if priorities.len() >= 2 {
            // The last load balancer of the top priority holds the VIP.
            let hi = k.top_priority;
            let hi_i = priorities.iter().rposition(|p| *p == hi).unwrap_or(0);
            let lo = priorities
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != hi_i)
                .map(|(_, p)| *p)
                .min()
                .unwrap_or(0);
            let lowered = k.tracked_priority;
            if lowered >= i64::from(lo) {
                d.error(
                    Code::NoFailover,
                    p,
                    format!(
                        "{}'s priority {hi} {weight} = {lowered} is not below the lowest backup priority {lo}: a failed HAProxy check cannot move the VIP",
                        spec.load_balancers[hi_i].name
                    ),
                    format!("use a weight of at most {} (or track mode \"fault\")", i64::from(lo) - i64::from(hi) - 1),
                );
            }
        }
    }

    let interval = &k.check_interval;
    let interval_ms = interval.millis().get();
    for (key, at, written, v) in [
        (
            "check_interval_ms",
            interval.pointer(),
            interval.written(),
            interval_ms,
        ),
        (
            "check_fall",
            k.check_fall.pointer(),
            k.check_fall.written(),
            *k.check_fall,
        ),
        (
            "check_rise",
            k.check_rise.pointer(),
            k.check_rise.written(),
            *k.check_rise,
        ),
    ] {
        if written && v == 0 {
            d.error(
                Code::HealthCheck,
                at,
                format!("{key} must be at least 1"),
                "leave it unset for the default",
            );
        }
    }
    if interval.written() {
        let ms = interval_ms;
        if ms != 0 && ms < 200 {
            d.error(
                Code::HealthCheck,
                interval.pointer(),
                format!("a {ms} ms check interval is shorter than the check itself may take"),
                "use at least 200 ms",
            );
        }
    }
}
