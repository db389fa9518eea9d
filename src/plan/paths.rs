//! Where rmqgen's files live on the hosts. One place, so the renderers, the
//! cloud-init write_files and the lab agree.

use serde::Serialize;

/// Where a file lands on a host and how: the one description of a file's
/// installation that every delivery path reads (the bundle's install
/// record, a role file, cloud-init's `write_files`, the NixOS modules'
/// `environment.etc`, the lab).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Placement {
    /// Absolute path on the host.
    pub path: String,
    /// Owner.
    pub owner: String,
    /// Group.
    pub group: String,
    /// Mode on the host.
    pub mode: u32,
    /// Appended to an existing file (e.g. `/etc/hosts`) instead of
    /// replacing it.
    pub append: bool,
}

impl Placement {
    /// `path`, owned by root:root, replacing what is there.
    pub(crate) fn root(path: &str, mode: u32) -> Self {
        Self {
            path: path.to_string(),
            owner: "root".into(),
            group: "root".into(),
            mode,
            append: false,
        }
    }
}

/// RabbitMQ configuration.
pub const RABBITMQ_CONF: &str = "/etc/rabbitmq/rabbitmq.conf";
/// Enabled plugins.
pub const ENABLED_PLUGINS: &str = "/etc/rabbitmq/enabled_plugins";
/// Definitions imported at boot.
pub const DEFINITIONS: &str = "/etc/rabbitmq/definitions.json";
/// Erlang cookie (Debian's rabbitmq home).
pub const ERLANG_COOKIE: &str = "/var/lib/rabbitmq/.erlang.cookie";
/// Where the Erlang cookie is provided on NixOS hosts (0400 root): the
/// broker module loads it as a systemd credential and installs it into
/// the broker's data directory before every start.
pub const NIXOS_ERLANG_COOKIE: &str = "/var/lib/rmqgen/erlang-cookie";
/// Directory of per-user password files read by the bootstrap.
pub const USER_SECRETS_DIR: &str = "/etc/rabbitmq/rmqgen-secrets";
/// The queue-HA bootstrap script.
pub const BOOTSTRAP: &str = "/usr/local/sbin/rmqgen-queue-ha-policy";
/// Refuses to start a broker of another series than the configuration's
/// (cloud-init path).
pub const SERIES_CHECK: &str = "/usr/local/sbin/rmqgen-check-rabbitmq-series";
/// systemd drop-in for rabbitmq-server.service (cloud-init path).
pub const RABBITMQ_DROPIN: &str = "/etc/systemd/system/rabbitmq-server.service.d/rmqgen.conf";
/// The bootstrap's systemd unit name (both paths).
pub const BOOTSTRAP_UNIT: &str = "rmqgen-queue-ha-policy";
/// The bootstrap service (cloud-init path).
pub const BOOTSTRAP_SERVICE: &str = "/etc/systemd/system/rmqgen-queue-ha-policy.service";
/// The bootstrap timer (cloud-init path).
pub const BOOTSTRAP_TIMER: &str = "/etc/systemd/system/rmqgen-queue-ha-policy.timer";
/// Lock file that keeps bootstrap runs on one host apart.
pub const BOOTSTRAP_LOCK: &str = "/run/lock/rmqgen-queue-ha-policy.lock";
/// HAProxy configuration.
pub const HAPROXY_CFG: &str = "/etc/haproxy/haproxy.cfg";
/// Environment file holding the stats password (secret).
pub const HAPROXY_ENV: &str = "/etc/haproxy/rmqgen.env";
/// systemd drop-in for haproxy.service.
pub const HAPROXY_DROPIN: &str = "/etc/systemd/system/haproxy.service.d/rmqgen.conf";
/// keepalived configuration.
pub const KEEPALIVED_CONF: &str = "/etc/keepalived/keepalived.conf";
/// The file keepalived.conf includes for the VRRPv2 password (secret): the
/// single line `$RMQGEN_VRRP_AUTH_PASS=<password>`, a keepalived parameter
/// definition, root-only, outside the Nix store.
pub const KEEPALIVED_AUTH: &str = "/etc/keepalived/rmqgen-vrrp-auth.conf";
/// The keepalived parameter the included file defines (with its `$`).
pub const VRRP_AUTH_PARAM: &str = "$RMQGEN_VRRP_AUTH_PASS";
/// keepalived's HAProxy check script.
pub const CHECK_SCRIPT: &str = "/etc/keepalived/check-haproxy.sh";
/// The script that resets the client connections on the VIP when this load
/// balancer stops holding it (keepalived's notify hooks, and after a
/// keepalived crash).
pub const RESET_SCRIPT: &str = "/etc/keepalived/rmqgen-reset-vip-connections.sh";
/// The `PATH` the rendered scripts set: Debian's tool directories and
/// NixOS's system profile, so one script runs unchanged on both.
pub const SCRIPT_PATH: &str =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/run/current-system/sw/bin";
/// sysusers.d entry for the check script's user.
pub const KEEPALIVED_SYSUSERS: &str = "/etc/sysusers.d/rmqgen-keepalived.conf";
/// sysctl.d file for the load balancers.
pub const LB_SYSCTL: &str = "/etc/sysctl.d/60-rmqgen-load-balancer.conf";
/// systemd drop-in for keepalived.service.
pub const KEEPALIVED_DROPIN: &str = "/etc/systemd/system/keepalived.service.d/rmqgen.conf";
/// The host firewall's ruleset on Debian and Ubuntu: the file
/// nftables.service loads.
pub const NFTABLES_CONF: &str = "/etc/nftables.conf";
/// The hosts file.
pub const ETC_HOSTS: &str = "/etc/hosts";
/// Name of the environment variable holding the stats password.
pub const STATS_PASSWORD_ENV: &str = "RMQGEN_STATS_PASSWORD";
/// The unprivileged user keepalived runs its check as.
pub const SCRIPT_USER: &str = "keepalived_script";
/// The CA bundle on the brokers (TLS, delivered by cloud-init).
pub const BROKER_TLS_CA: &str = "/etc/rabbitmq/tls/ca.pem";
/// The broker's own certificate (TLS, delivered by cloud-init).
pub const BROKER_TLS_CERT: &str = "/etc/rabbitmq/tls/cert.pem";
/// The broker's private key (TLS, delivered by cloud-init).
pub const BROKER_TLS_KEY: &str = "/etc/rabbitmq/tls/key.pem";
/// Erlang distribution's TLS options (`-ssl_dist_optfile`).
pub const INTER_NODE_TLS: &str = "/etc/rabbitmq/inter_node_tls.config";
/// RabbitMQ's environment file (the distribution's `-proto_dist` flags).
pub const RABBITMQ_ENV: &str = "/etc/rabbitmq/rabbitmq-env.conf";
/// The CA bundle on the load balancers.
pub const LB_TLS_CA: &str = "/etc/haproxy/tls/ca.pem";
/// The load balancer's certificate; HAProxy loads the key from the same
/// path with `.key` appended (`ssl-load-extra-files`, the default).
pub const LB_TLS_CERT: &str = "/etc/haproxy/tls/cert.pem";
/// The load balancer's private key.
pub const LB_TLS_KEY: &str = "/etc/haproxy/tls/cert.pem.key";
