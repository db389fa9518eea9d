//! Defaults, in one place. Validation uses the same values.

/// Guest interface name.
pub const INTERFACE: &str = "ens3";
/// AMQP port.
pub const AMQP_PORT: u32 = 5672;
/// Management UI port.
pub const MANAGEMENT_PORT: u32 = 15672;
/// Prometheus port.
pub const PROMETHEUS_PORT: u32 = 15692;
/// Erlang distribution port.
pub const DISTRIBUTION_PORT: u32 = 25672;
/// epmd port (fixed by Erlang).
pub const EPMD_PORT: u32 = 4369;
/// SSH (the host firewall opens it to the admin ranges).
pub const SSH_PORT: u32 = 22;
/// The Erlang distribution listeners of rabbitmqctl and the other CLI
/// tools: distribution port + 10000 ..= + 10010 of a stock node, which the
/// CLI computes from its own environment, whatever rabbitmq.conf says.
pub const CLI_DISTRIBUTION_PORTS: (u32, u32) = (35_672, 35_682);
/// AMQP over TLS (AMQPS), when `tls.amqp` is on.
pub const AMQPS_PORT: u32 = 5671;
/// Management over HTTPS, when `tls.management` is on.
pub const MANAGEMENT_TLS_PORT: u32 = 15671;
/// Prometheus over HTTPS, when `tls.prometheus` is on.
pub const PROMETHEUS_TLS_PORT: u32 = 15691;
/// AMQP heartbeat, s.
pub const HEARTBEAT_S: u32 = 60;
/// HAProxy client/server timeout as a multiple of the heartbeat.
pub const TIMEOUT_HEARTBEATS: u32 = 3;
/// HAProxy client/server timeout when the heartbeat is disabled, s.
pub const TIMEOUT_NO_HEARTBEAT_S: u32 = 3600;
/// HAProxy connect timeout, ms.
pub const CONNECT_MS: u32 = 5000;
/// HAProxy check interval, ms (the original's 5000 left a dead broker in
/// rotation ~8 s; 1 s with fall 2 masks it in ~1.5 s without flapping).
pub const CHECK_INTERVAL_MS: u32 = 1000;
/// HAProxy check interval while a server changes state, ms.
pub const CHECK_FAST_INTERVAL_MS: u32 = 500;
/// HAProxy check interval while a server is down, ms. As short as the
/// transition interval: a broker whose listener opens is UP within
/// downinter + fastinter (0.5-1 s; with 2000 it was 0.5-2.5 s, on the path
/// of a cold cluster's first message). A TCP connect to a dead broker every
/// 0.5 s costs nothing.
pub const CHECK_DOWN_INTERVAL_MS: u32 = 500;
/// HAProxy rise.
pub const CHECK_RISE: u32 = 2;
/// HAProxy fall.
pub const CHECK_FALL: u32 = 2;
/// HAProxy maxconn.
pub const MAXCONN: u32 = 10000;
/// Local health endpoint port for keepalived's check.
pub const HEALTH_PORT: u32 = 8405;
/// Stats page port (the original's).
pub const STATS_PORT: u32 = 8100;
/// Stats page URI (the original's).
pub const STATS_URI: &str = "/rabbitmq-stats";
/// Stats login.
pub const STATS_USER: &str = "admin";
/// Stats refresh, s.
pub const STATS_REFRESH_S: u32 = 10;
/// VRRP version.
pub const VRRP_VERSION: u32 = 3;
/// VRRP advert interval, ms.
pub const ADVERT_INT_MS: u32 = 500;
/// Priority of the first load balancer.
pub const FIRST_PRIORITY: u32 = 150;
/// Priority step between load balancers.
pub const PRIORITY_STEP: u32 = 10;
/// keepalived check fall.
pub const KA_CHECK_FALL: u32 = 2;
/// keepalived check rise. One pass: the check passes only while HAProxy
/// has a broker UP, which HAProxy's own `rise` already debounces; a second
/// pass only delayed the first VIP claim (and every return from FAULT) by
/// one check interval.
pub const KA_CHECK_RISE: u32 = 1;
/// RabbitMQ `cluster_formation.discovery_retry_limit` and
/// `discovery_retry_interval` (ms) where the lock holder's join retries
/// exist (`Feature::LockedJoinRetries`): 2 x 500 ms instead of 10 x 500 ms,
/// so a cold cluster's first node starts after 1 s instead of 5 s of
/// waiting for peers that wait for its lock.
pub const DISCOVERY_RETRY: (u32, u32) = (2, 500);
/// Broker VM: vCPU, MiB, GiB.
pub const BROKER_SIZE: (u32, u32, u32) = (2, 4096, 40);
/// Load balancer VM: vCPU, MiB, GiB.
pub const LOAD_BALANCER_SIZE: (u32, u32, u32) = (1, 1024, 10);
/// Plugins.
pub const PLUGINS: &[&str] = &["rabbitmq_management", "rabbitmq_prometheus"];
/// NixOS release the generated flake follows (`nixos-<release>`), also
/// the hosts' `system.stateVersion`.
pub const NIXOS_RELEASE: &str = "26.05";
/// RabbitMQ series that release ships as `pkgs.rabbitmq-server`.
pub const NIXOS_RABBITMQ: super::rabbitmq::Version = super::rabbitmq::Version::new(4, 2);
