//! HAProxy: frontends, checks, timeouts, the stats page.

use serde::Serialize;

use super::rabbitmq::{heartbeat_s, RabbitPlan};
use super::secrets::Secret;
use super::{defaults, paths, Role};
use crate::spec::{Balance, SecretSource, Spec};

/// HAProxy settings.
#[derive(Debug, Clone, Serialize)]
pub struct HaProxyPlan {
    /// AMQP frontend port on the VIP.
    pub amqp_port: u32,
    /// Management frontend port on the VIP, when the plugin is enabled.
    pub management_port: Option<u32>,
    /// Local health endpoint port.
    pub health_port: u32,
    /// Health endpoint URI.
    pub health_uri: &'static str,
    /// Stats page.
    pub stats: StatsPlan,
    /// Balance algorithm keyword.
    pub balance: &'static str,
    /// Check timings.
    pub check: CheckPlan,
    /// Timeouts.
    pub timeouts: TimeoutsPlan,
    /// maxconn.
    pub maxconn: u32,
}

/// Stats page.
#[derive(Debug, Clone, Serialize)]
pub struct StatsPlan {
    /// Port.
    pub port: u32,
    /// URI.
    pub uri: String,
    /// Login.
    pub user: String,
    /// Id of the password secret.
    pub password_secret: String,
    /// Refresh, s.
    pub refresh_s: u32,
}

/// HAProxy check timings.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct CheckPlan {
    /// inter, ms.
    pub interval_ms: u32,
    /// fastinter, ms.
    pub fast_interval_ms: u32,
    /// downinter, ms.
    pub down_interval_ms: u32,
    /// rise.
    pub rise: u32,
    /// fall.
    pub fall: u32,
}

/// HAProxy timeouts.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct TimeoutsPlan {
    /// connect, ms.
    pub connect_ms: u32,
    /// client, s.
    pub client_s: u32,
    /// server, s.
    pub server_s: u32,
    /// check, ms.
    pub check_ms: u32,
}

/// HAProxy client and server timeouts, s.
pub(crate) fn idle_timeouts_s(spec: &Spec) -> (u32, u32) {
    let hb = heartbeat_s(spec);
    let default = if hb == 0 {
        defaults::TIMEOUT_NO_HEARTBEAT_S
    } else {
        hb.saturating_mul(defaults::TIMEOUT_HEARTBEATS)
    };
    let t = spec
        .haproxy
        .as_ref()
        .and_then(|h| h.timeouts.clone())
        .unwrap_or_default();
    (t.client_s.unwrap_or(default), t.server_s.unwrap_or(default))
}

pub(super) fn haproxy_plan(
    spec: &Spec,
    rabbit: &RabbitPlan,
    secrets: &mut Vec<Secret>,
) -> HaProxyPlan {
    let h = spec.haproxy.clone().unwrap_or_default();
    let stats = h.stats.clone().unwrap_or_default();
    let check = h.check.clone().unwrap_or_default();
    let t = h.timeouts.clone().unwrap_or_default();
    let (client_s, server_s) = idle_timeouts_s(spec);
    let interval_ms = check.interval_ms.unwrap_or(defaults::CHECK_INTERVAL_MS);
    secrets.push(Secret {
        id: "haproxy-stats-password".into(),
        tf_name: "haproxy_stats_password".into(),
        source: stats
            .password
            .clone()
            .unwrap_or(SecretSource::TerraformRandom {}),
        purpose: "password of the HAProxy statistics page".into(),
        role: Role::LoadBalancer,
        path: paths::HAPROXY_ENV,
        file_name: None,
        env_var: Some(paths::STATS_PASSWORD_ENV),
        owner: "root",
        group: "root",
        mode: 0o600,
        length: 24,
        special: false,
    });
    HaProxyPlan {
        amqp_port: h.amqp_port.unwrap_or(rabbit.ports.amqp),
        management_port: rabbit
            .management
            .then(|| h.management_port.unwrap_or(rabbit.ports.management)),
        health_port: h.health_port.unwrap_or(defaults::HEALTH_PORT),
        health_uri: "/rmqgen-health",
        stats: StatsPlan {
            port: stats.port.unwrap_or(defaults::STATS_PORT),
            uri: stats
                .uri
                .clone()
                .unwrap_or_else(|| defaults::STATS_URI.to_string()),
            user: stats
                .user
                .clone()
                .unwrap_or_else(|| defaults::STATS_USER.to_string()),
            password_secret: "haproxy-stats-password".into(),
            refresh_s: stats.refresh_s.unwrap_or(defaults::STATS_REFRESH_S),
        },
        balance: match h.balance.unwrap_or(Balance::Leastconn) {
            Balance::Leastconn => "leastconn",
            Balance::Roundrobin => "roundrobin",
            Balance::Source => "source",
        },
        check: CheckPlan {
            interval_ms,
            fast_interval_ms: check
                .fast_interval_ms
                .unwrap_or(defaults::CHECK_FAST_INTERVAL_MS),
            down_interval_ms: check
                .down_interval_ms
                .unwrap_or(defaults::CHECK_DOWN_INTERVAL_MS),
            rise: check.rise.unwrap_or(defaults::CHECK_RISE),
            fall: check.fall.unwrap_or(defaults::CHECK_FALL),
        },
        timeouts: TimeoutsPlan {
            connect_ms: t.connect_ms.unwrap_or(defaults::CONNECT_MS),
            client_s,
            server_s,
            check_ms: t.check_ms.unwrap_or(interval_ms),
        },
        maxconn: h.maxconn.unwrap_or(defaults::MAXCONN),
    }
}
