//! HAProxy: frontends, checks, timeouts, the stats page.

use serde::Serialize;

use super::rabbitmq::RabbitPlan;
use super::secrets::Secret;
use super::{defaults, paths, Located, Millis, Role};
use crate::spec::{Balance, SecretSource, Spec};

/// HAProxy settings.
#[derive(Debug, Clone, Serialize)]
pub struct HaProxyPlan {
    /// AMQP frontend port on the VIP (default: the brokers' AMQP port).
    pub amqp_port: Located<u32>,
    /// Management frontend port on the VIP, when the plugin is enabled
    /// (default: the brokers' management port).
    pub management_port: Option<Located<u32>>,
    /// Local health endpoint port.
    pub health_port: Located<u32>,
    /// Health endpoint URI.
    pub health_uri: &'static str,
    /// Stats page.
    pub stats: StatsPlan,
    /// Balance algorithm.
    pub balance: Balance,
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
    pub port: Located<u32>,
    /// URI.
    pub uri: String,
    /// Login.
    pub user: String,
    /// Id of the password secret.
    pub password_secret: String,
    /// The environment file on the load balancers that holds the password
    /// (that secret's installed path).
    pub env_file: String,
    /// Refresh, s.
    pub refresh_s: u32,
}

/// HAProxy check timings, each with the spec field it comes from.
#[derive(Debug, Clone, Serialize)]
pub struct CheckPlan {
    /// inter.
    pub interval_ms: Located<Millis>,
    /// fastinter.
    pub fast_interval_ms: Located<Millis>,
    /// downinter.
    pub down_interval_ms: Located<Millis>,
    /// rise.
    pub rise: Located<u32>,
    /// fall.
    pub fall: Located<u32>,
}

/// HAProxy timeouts.
#[derive(Debug, Clone, Serialize)]
pub struct TimeoutsPlan {
    /// connect.
    pub connect_ms: Millis,
    /// client, s.
    pub client_s: Located<u32>,
    /// server, s.
    pub server_s: Located<u32>,
    /// check (default: the check interval).
    pub check_ms: Millis,
}

/// HAProxy client and server timeouts, s: above the AMQP heartbeat by
/// default, so heartbeats keep idle connections open.
fn idle_timeouts_s(spec: &Spec, heartbeat_s: u32) -> (Located<u32>, Located<u32>) {
    let default = if heartbeat_s == 0 {
        defaults::TIMEOUT_NO_HEARTBEAT_S
    } else {
        heartbeat_s.saturating_mul(defaults::TIMEOUT_HEARTBEATS)
    };
    let t = spec
        .haproxy
        .as_ref()
        .and_then(|h| h.timeouts.clone())
        .unwrap_or_default();
    (
        Located::field("/haproxy/timeouts/client_s", t.client_s, default),
        Located::field("/haproxy/timeouts/server_s", t.server_s, default),
    )
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
    let (client_s, server_s) = idle_timeouts_s(spec, rabbit.heartbeat_s);
    let ms = |v: Option<u32>, default: u32| Millis::new(v.unwrap_or(default));
    let at = |key: &str| format!("/haproxy/check/{key}");
    let located_ms = |key: &str, v: Option<u32>, default: u32| {
        Located::field(at(key), v, default).map(Millis::new)
    };
    let interval_ms = located_ms(
        "interval_ms",
        check.interval_ms,
        defaults::CHECK_INTERVAL_MS,
    );
    let password = Secret {
        id: "haproxy-stats-password".into(),
        tf_name: "haproxy_stats_password".into(),
        source: Located::field(
            "/haproxy/stats/password",
            stats.password.clone(),
            SecretSource::TerraformRandom {},
        ),
        purpose: "password of the HAProxy statistics page".into(),
        role: Role::LoadBalancer,
        host: None,
        path: paths::HAPROXY_ENV,
        file_name: None,
        env_var: Some(paths::STATS_PASSWORD_ENV),
        owner: "root",
        group: "root",
        mode: 0o600,
        length: 24,
        special: false,
    };
    let env_file = password.install_path();
    secrets.push(password);
    HaProxyPlan {
        amqp_port: Located::field("/haproxy/amqp_port", h.amqp_port, *rabbit.ports.amqp),
        management_port: rabbit.management.then(|| {
            Located::field(
                "/haproxy/management_port",
                h.management_port,
                *rabbit.ports.management,
            )
        }),
        health_port: Located::field("/haproxy/health_port", h.health_port, defaults::HEALTH_PORT),
        health_uri: "/rmqgen-health",
        stats: StatsPlan {
            port: Located::field("/haproxy/stats/port", stats.port, defaults::STATS_PORT),
            uri: stats
                .uri
                .clone()
                .unwrap_or_else(|| defaults::STATS_URI.to_string()),
            user: stats
                .user
                .clone()
                .unwrap_or_else(|| defaults::STATS_USER.to_string()),
            password_secret: "haproxy-stats-password".into(),
            env_file,
            refresh_s: stats.refresh_s.unwrap_or(defaults::STATS_REFRESH_S),
        },
        balance: h.balance.unwrap_or(Balance::Leastconn),
        timeouts: TimeoutsPlan {
            connect_ms: ms(t.connect_ms, defaults::CONNECT_MS),
            client_s,
            server_s,
            check_ms: t.check_ms.map_or(*interval_ms, Millis::new),
        },
        check: CheckPlan {
            interval_ms,
            fast_interval_ms: located_ms(
                "fast_interval_ms",
                check.fast_interval_ms,
                defaults::CHECK_FAST_INTERVAL_MS,
            ),
            down_interval_ms: located_ms(
                "down_interval_ms",
                check.down_interval_ms,
                defaults::CHECK_DOWN_INTERVAL_MS,
            ),
            rise: Located::field(at("rise"), check.rise, defaults::CHECK_RISE),
            fall: Located::field(at("fall"), check.fall, defaults::CHECK_FALL),
        },
        maxconn: h.maxconn.unwrap_or(defaults::MAXCONN),
    }
}
