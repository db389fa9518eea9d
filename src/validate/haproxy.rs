//! HAProxy: timeouts against the heartbeat, health checks, ports, stats.

use super::charset::{is_safe_token, show};
use super::{Port, Sink};
use crate::diagnostic::Code;
use crate::plan::{defaults, Located, Millis, Plan};
use crate::spec::Spec;

pub(super) fn check(spec: &Spec, plan: &Plan, d: &mut Sink) {
    let h = spec.haproxy.clone().unwrap_or_default();
    let hb = plan.rabbitmq.heartbeat_s;
    let timeouts = &plan.haproxy.timeouts;
    for t in [&timeouts.client_s, &timeouts.server_s] {
        let key = t.pointer().rsplit('/').next().unwrap_or_default();
        if hb > 0 && **t <= hb {
            d.error(
                Code::Timeout,
                t.pointer(),
                format!("timeout {key} = {t} s does not exceed the AMQP heartbeat of {hb} s: HAProxy would cut idle connections"),
                format!(
                    "use at least {} s (rmqgen's default is {} × heartbeat = {} s)",
                    u64::from(hb) + 1,
                    defaults::TIMEOUT_HEARTBEATS,
                    u64::from(hb) * u64::from(defaults::TIMEOUT_HEARTBEATS)
                ),
            );
        } else if **t == 0 {
            d.error(
                Code::Timeout,
                t.pointer(),
                "a zero timeout disables it: dead connections are never cleaned up",
                "set a timeout above the heartbeat",
            );
        }
    }
    let t = h.timeouts.clone().unwrap_or_default();
    if t.connect_ms == Some(0) {
        d.error(
            Code::Timeout,
            "/haproxy/timeouts/connect_ms",
            "connect timeout must be positive",
            "use e.g. 5000",
        );
    }

    let c = &plan.haproxy.check;
    let as_u32 = |m: &Located<Millis>| Located::clone(m).map(Millis::get);
    for v in [
        as_u32(&c.interval_ms),
        as_u32(&c.fast_interval_ms),
        as_u32(&c.down_interval_ms),
        c.rise.clone(),
        c.fall.clone(),
    ] {
        if v.written() && *v == 0 {
            let key = v.pointer().rsplit('/').next().unwrap_or_default();
            d.error(
                Code::HealthCheck,
                v.pointer(),
                format!("check {key} must be at least 1"),
                "leave it unset for rmqgen's tested default",
            );
        }
    }
    let interval = c.interval_ms.get();
    let fall = *c.fall;
    // The original's inter 5000 fall 2 kept a dead broker in rotation ~8 s.
    let masked_ms = u64::from(interval) * u64::from(fall);
    if masked_ms >= 5_000 {
        d.warning(
            Code::HealthCheck,
            "/haproxy/check",
            format!(
                "a dead broker stays in rotation for about {} s (interval × fall = {masked_ms} ms)",
                masked_ms.div_ceil(1000)
            ),
            "the defaults (1000 ms, fall 2) take it out in about 1.5 s without flapping",
        );
    }
    if t.check_ms == Some(0) {
        d.error(
            Code::HealthCheck,
            "/haproxy/timeouts/check_ms",
            "check timeout must be positive",
            "leave it unset to use the check interval",
        );
    }
    if h.maxconn == Some(0) {
        d.error(
            Code::Limit,
            "/haproxy/maxconn",
            "maxconn must be positive",
            "leave it unset for 10000",
        );
    }

    let stats = h.stats.clone().unwrap_or_default();
    if let Some(uri) = &stats.uri {
        let rest = uri.strip_prefix('/');
        if !rest.is_some_and(|r| r.is_empty() || is_safe_token(r, 200, "._~/-")) {
            d.error(
                Code::Charset,
                "/haproxy/stats/uri",
                format!(
                    "stats URI {} must start with '/' and use only [A-Za-z0-9._~/-]",
                    show(uri)
                ),
                "e.g. \"/rabbitmq-stats\"",
            );
        }
    }
    if let Some(user) = &stats.user {
        if !is_safe_token(user, 64, "._-") {
            d.error(
                Code::Charset,
                "/haproxy/stats/user",
                format!(
                    "stats user {} has characters outside [A-Za-z0-9._-]",
                    show(user)
                ),
                "e.g. \"admin\"",
            );
        }
    }
    if stats.refresh_s == Some(0) {
        d.error(
            Code::Limit,
            "/haproxy/stats/refresh_s",
            "refresh must be at least 1 s",
            "leave it unset for 10 s",
        );
    }
    // The AMQP and management frontends default to the brokers' ports; an
    // out-of-range broker port is reported there, not again here.
    let hp = &plan.haproxy;
    let mut ports = vec![
        Port::located("AMQP frontend", &hp.amqp_port),
        Port::located("health endpoint", &hp.health_port),
        Port::located("stats page", &hp.stats.port),
    ];
    if let Some(port) = &hp.management_port {
        ports.push(Port::located("management frontend", port));
    }
    d.ports("load balancer", &ports);
}
