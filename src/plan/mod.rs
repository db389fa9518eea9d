//! The resolved model: every default filled, every derived value computed
//! once. Renderers read only the [`Plan`]; they never look at the spec,
//! re-derive a value or touch the disk.
//!
//! ```text
//! Spec --resolve--> Plan (+ errors for values that did not parse)
//!      --validate (rules over the Plan)--> Diagnostics
//! ```
//!
//! Resolving never fails: every default, derived value (router id,
//! priorities, MACs, paths, timings) and keyword is computed here, once,
//! and text values (addresses, the subnet, the version) are parsed here,
//! once. Validation reads the plan, so a plan that passed it is the plan
//! that is rendered. One file per spec section, as in [`crate::spec`].

pub mod defaults;
mod firewall;
mod haproxy;
mod keepalived;
mod located;
pub(crate) mod names;
mod network;
pub mod paths;
pub mod platform;
mod rabbitmq;
mod secrets;
pub(crate) mod target;
mod time;
pub mod tls;
pub mod x509;

pub use firewall::{FirewallPlan, Sources};
pub use haproxy::{CheckPlan, HaProxyPlan, StatsPlan, TimeoutsPlan};
pub use keepalived::{KeepalivedPlan, VrrpAuth};
pub use located::Located;
pub use network::{Balancer, Broker, Host, NetworkPlan, Size};
pub use rabbitmq::{
    ApplyTo, PermissionPlan, PolicyPlan, QueueType, RabbitPlan, RabbitPortsPlan, UserPlan, Version,
    Vhost,
};
pub use secrets::Secret;
pub use target::{LibvirtPlan, ProxmoxPlan, TargetPlan};
pub use time::{Millis, Seconds};
pub use tls::{CertificateNames, TlsFiles, TlsPlan};

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::sync::Arc;

use serde::Serialize;

use crate::diagnostic::{Code, Diagnostic, Diagnostics};
use crate::net::{parse_ipv4, Ipv4Net};
use crate::spec::{InstallSource, OsRelease, Provisioning, Spec};

/// The resolved topology.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// Cluster name.
    pub name: String,
    /// DNS domain.
    pub domain: Option<String>,
    /// The network.
    pub network: NetworkPlan,
    /// The image family (cloud-init provisioning).
    pub os: Located<OsRelease>,
    /// How the brokers get RabbitMQ.
    pub install: platform::InstallPlan,
    /// apt's HTTP proxy on every host.
    pub apt_proxy: Option<String>,
    /// The virtual IP.
    pub vip: Located<Ipv4Addr>,
    /// Every host: brokers first, then load balancers, in spec order. The
    /// one copy of each host; brokers and load balancers share it.
    #[serde(serialize_with = "network::serialize_hosts")]
    pub hosts: Vec<Arc<Host>>,
    /// The brokers.
    pub brokers: Vec<Broker>,
    /// The load balancers.
    pub load_balancers: Vec<Balancer>,
    /// RabbitMQ.
    pub rabbitmq: RabbitPlan,
    /// HAProxy.
    pub haproxy: HaProxyPlan,
    /// keepalived.
    pub keepalived: KeepalivedPlan,
    /// The host firewall's source ranges.
    pub firewall: FirewallPlan,
    /// TLS on the cluster's links.
    pub tls: TlsPlan,
    /// SSH public keys for every host.
    pub ssh_authorized_keys: Vec<Located<String>>,
    /// Provisioning path.
    pub provisioning: Provisioning,
    /// Virtualisation target.
    pub target: TargetPlan,
    /// Every secret, by id.
    pub secrets: Vec<Secret>,
}

/// A host's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// RabbitMQ broker.
    Broker,
    /// HAProxy + keepalived.
    LoadBalancer,
}

impl Plan {
    /// The secret with this id.
    pub fn secret(&self, id: &str) -> Option<&Secret> {
        self.secrets.iter().find(|s| s.id == id)
    }

    /// A host by name.
    pub fn host(&self, name: &str) -> Option<&Host> {
        self.hosts
            .iter()
            .find(|h| h.name.as_str() == name)
            .map(|h| &**h)
    }
}

/// A resolved spec: the plan, and the written values it could not use.
///
/// Resolving never fails. A value that does not parse (an address, the
/// subnet, the version) becomes an error diagnostic at its JSON pointer and
/// a placeholder in the plan; validation skips the values at
/// `unusable` pointers, so nothing is reported twice, and no
/// plan with such a placeholder is ever rendered (its diagnostics are
/// errors).
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    /// The plan.
    pub plan: Plan,
    /// Errors for the values that did not parse.
    pub diagnostics: Diagnostics,
    /// JSON pointers of those values.
    unusable: BTreeSet<String>,
}

impl Resolved {
    /// True when `value` parsed (or was not written): false for a
    /// placeholder standing in for text that did not parse.
    pub(crate) fn usable<T>(&self, value: &Located<T>) -> bool {
        !self.unusable.contains(value.pointer())
    }
}

/// Parses the values the spec holds as text, once; collects what fails.
#[derive(Default)]
struct Parser {
    diagnostics: Diagnostics,
    unusable: BTreeSet<String>,
}

impl Parser {
    fn fail(&mut self, code: Code, pointer: String, message: String, hint: &str) {
        self.diagnostics
            .push(Diagnostic::error(code, pointer.as_str(), message).hint(hint));
        self.unusable.insert(pointer);
    }

    /// An IPv4 address; `0.0.0.0` stands in for one that does not parse.
    fn address(&mut self, pointer: String, text: &str) -> Located<Ipv4Addr> {
        let address = parse_ipv4(text).unwrap_or_else(|e| {
            self.fail(
                Code::Address,
                pointer.clone(),
                e,
                "write a dotted-quad IPv4 address, e.g. \"192.168.247.150\"",
            );
            Ipv4Addr::UNSPECIFIED
        });
        Located::given(pointer, address)
    }

    /// The subnet; `0.0.0.0/0` stands in for one that does not parse.
    fn subnet(&mut self, pointer: String, text: &str) -> Located<Ipv4Net> {
        let subnet = text.parse().unwrap_or_else(|e| {
            self.fail(
                Code::Address,
                pointer.clone(),
                e,
                "write the subnet as ADDRESS/PREFIX, e.g. \"192.168.247.0/24\"",
            );
            Ipv4Net::ANY
        });
        Located::given(pointer, subnet)
    }

    /// A firewall source range, or `None` (reported) when it does not
    /// parse: a list keeps only what parsed, never a wider stand-in.
    fn source_range(&mut self, pointer: String, text: &str) -> Option<Located<Ipv4Net>> {
        match text.parse::<Ipv4Net>() {
            Ok(net) => Some(Located::given(pointer, net)),
            Err(e) => {
                self.fail(
                    Code::FirewallSource,
                    pointer,
                    e,
                    "write an IPv4 subnet as ADDRESS/PREFIX, e.g. \"10.20.0.0/16\" (one address: \"10.20.0.5/32\")",
                );
                None
            }
        }
    }

    /// The RabbitMQ series; the newest stands in for one that does not parse.
    fn version(&mut self, pointer: String, text: &str) -> Located<Version> {
        let version = Version::parse(text).unwrap_or_else(|e| {
            self.fail(
                Code::Version,
                pointer.clone(),
                e,
                "write the series as MAJOR.MINOR, e.g. \"3.13\"",
            );
            Version::NEWEST
        });
        Located::given(pointer, version)
    }
}

/// Resolves a spec into its plan in one pass: every default filled, every
/// derived value computed, every text value parsed, each exactly once.
/// Never fails; see [`Resolved`].
pub(crate) fn resolve(spec: &Spec) -> Resolved {
    let mut parse = Parser::default();
    let network = network::resolve(spec, &mut parse);
    let firewall = firewall::resolve(spec, &network.cidr, &mut parse);
    let vip = parse.address("/vip".into(), &spec.vip);
    let version = parse.version("/rabbitmq/version".into(), &spec.rabbitmq.version);
    let provisioning = spec.provisioning.unwrap_or(Provisioning::CloudInit);
    let target = target::resolve(spec);
    let preempt = keepalived::preempt(spec);
    let (hosts, brokers, load_balancers) = network::hosts(spec, preempt, &target, &mut parse);

    let mut secrets = Vec::new();
    let cookie = secrets::erlang_cookie(spec, provisioning);
    let mut tls_secrets = Vec::new();
    let tls = tls::tls_plan(spec, *vip, &brokers, &load_balancers, &mut tls_secrets);
    let rabbitmq = rabbitmq::rabbit_plan(spec, version, &brokers, cookie, &tls, &mut secrets);
    let haproxy = haproxy::haproxy_plan(spec, &rabbitmq, &mut secrets);
    // After the others: adding TLS does not move an existing secret.
    secrets.extend(tls_secrets);
    let os = Located::field("/os", spec.os, platform::DEFAULT_OS);
    let keepalived = keepalived::keepalived_plan(
        spec,
        preempt,
        &load_balancers,
        platform::script_timing(*os, provisioning),
    );
    secrets.extend(secrets::vrrp_auth_pass(spec));

    let install = platform::install_plan(
        *os,
        Located::field(
            "/rabbitmq/install",
            spec.rabbitmq.install.clone(),
            InstallSource::Distro {},
        ),
        *rabbitmq.version,
    );
    let plan = Plan {
        name: spec.name.clone(),
        domain: spec.domain.clone(),
        network,
        os,
        install,
        apt_proxy: spec.apt.as_ref().and_then(|a| a.proxy.clone()),
        vip,
        hosts,
        brokers,
        load_balancers,
        rabbitmq,
        haproxy,
        keepalived,
        firewall,
        tls,
        ssh_authorized_keys: spec
            .ssh_authorized_keys
            .iter()
            .enumerate()
            .map(|(i, key)| Located::given(format!("/ssh_authorized_keys/{i}"), key.clone()))
            .collect(),
        provisioning,
        target,
        secrets,
    };
    Resolved {
        plan,
        diagnostics: parse.diagnostics,
        unusable: parse.unusable,
    }
}

/// Terraform-safe identifier: lower-case alphanumerics and `_`.
pub(crate) fn tf_ident(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::Severity;

    fn spec(edit: impl FnOnce(&mut serde_json::Value)) -> Spec {
        let mut v: serde_json::Value =
            serde_json::from_str(&crate::reference_spec()).expect("reference spec is JSON");
        edit(&mut v);
        crate::parse(&v.to_string()).expect("the edited spec parses")
    }

    #[test]
    fn resolving_never_fails_and_reports_each_unparsable_value_once() {
        let r = resolve(&spec(|v| {
            v["vip"] = "192.168.247.999".into();
            v["network"]["cidr"] = "192.168.247.0".into();
            v["brokers"][1]["address"] = "fe80::1".into();
            v["rabbitmq"]["version"] = "three".into();
        }));
        let pointers: Vec<&str> = r.diagnostics.iter().map(|d| d.pointer.as_str()).collect();
        assert_eq!(
            pointers,
            [
                "/network/cidr",
                "/vip",
                "/rabbitmq/version",
                "/brokers/1/address"
            ]
        );
        assert!(r.diagnostics.iter().all(|d| d.severity == Severity::Error));
        for p in pointers {
            assert!(r.unusable.contains(p), "{p}");
        }
        assert!(!r.usable(&r.plan.brokers[1].address));
        assert!(r.usable(&r.plan.brokers[0].address));
        assert_eq!(r.plan.brokers[1].address.pointer(), "/brokers/1/address");
        assert_eq!(r.plan.vip.pointer(), "/vip");
        // Placeholders stand in; everything else is resolved as usual.
        assert_eq!(*r.plan.vip, Ipv4Addr::UNSPECIFIED);
        assert_eq!(*r.plan.brokers[1].address, Ipv4Addr::UNSPECIFIED);
        assert_eq!(
            *r.plan.brokers[0].address,
            Ipv4Addr::new(192, 168, 247, 150)
        );
        assert_eq!(*r.plan.network.cidr, Ipv4Net::ANY);
    }

    #[test]
    fn a_valid_spec_resolves_without_diagnostics() {
        let r = resolve(&spec(|_| {}));
        assert!(r.diagnostics.is_empty(), "{:?}", r.diagnostics);
        assert!(r.unusable.is_empty());
    }

    #[test]
    fn hosts_are_stored_once_and_shared() {
        let plan = resolve(&spec(|_| {})).plan;
        assert_eq!(
            plan.hosts.len(),
            plan.brokers.len() + plan.load_balancers.len()
        );
        let shared = plan.brokers.iter().map(|b| &b.host);
        let shared = shared.chain(plan.load_balancers.iter().map(|l| &l.host));
        for (host, role_host) in plan.hosts.iter().zip(shared) {
            assert!(Arc::ptr_eq(host, role_host), "{}", host.name);
        }
    }

    #[test]
    fn the_check_interval_is_defaulted_once_and_feeds_the_check_timeout() {
        let check = |edit: fn(&mut serde_json::Value)| resolve(&spec(edit)).plan.haproxy;
        let default = check(|_| {});
        assert_eq!(
            *default.check.interval_ms,
            Millis::new(defaults::CHECK_INTERVAL_MS)
        );
        assert!(!default.check.interval_ms.written());
        assert_eq!(
            default.check.interval_ms.pointer(),
            "/haproxy/check/interval_ms"
        );
        assert_eq!(default.timeouts.check_ms, *default.check.interval_ms);
        let written = check(|v| v["haproxy"]["check"] = serde_json::json!({"interval_ms": 1500}));
        assert_eq!(*written.check.interval_ms, Millis::new(1500));
        assert!(written.check.interval_ms.written());
        assert_eq!(written.timeouts.check_ms, Millis::new(1500));
    }

    #[test]
    fn the_keepalived_check_interval_defaults_to_what_the_hosts_keepalived_takes() {
        let interval = |edit: fn(&mut serde_json::Value)| {
            let k = resolve(&spec(edit)).plan.keepalived;
            (k.check_interval.to_string(), k.check_timeout.to_string())
        };
        // The reference spec: Debian 12, keepalived 2.2.7, whole seconds.
        assert_eq!(interval(|_| {}), ("1".into(), "1".into()));
        assert_eq!(
            interval(|v| v["os"] = "debian-13".into()),
            ("0.5".into(), "0.5".into())
        );
        assert_eq!(
            interval(|v| {
                v["os"] = "debian-sid".into();
                v["rabbitmq"]["version"] = "4.3".into();
                v["rabbitmq"]["queue_ha"] = serde_json::json!({"mode": "quorum"});
                v["provisioning"] = "nixos".into();
            }),
            ("1".into(), "1".into())
        );
        // A value the spec sets is taken as it is (validation checks it).
        assert_eq!(
            interval(|v| {
                v["os"] = "debian-13".into();
                v["keepalived"] = serde_json::json!({"check_interval_ms": 700});
            }),
            ("0.7".into(), "0.7".into())
        );
    }

    #[test]
    fn the_top_priority_and_its_tracked_value_are_resolved_once() {
        let plan = resolve(&spec(|v| {
            v["load_balancers"][1]["priority"] = 200.into();
            v["keepalived"] = serde_json::json!({"track": {"mode": "weight", "weight": -60}});
        }))
        .plan;
        let k = &plan.keepalived;
        assert_eq!(k.top_priority, 200);
        assert_eq!(k.tracked_priority, 140);
        assert_eq!(plan.load_balancers[0].priority, 150);
    }

    #[test]
    fn tf_identifiers() {
        assert_eq!(tf_ident("app.user-1@x"), "app_user_1_x");
    }
}
