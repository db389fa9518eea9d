//! TLS: which links use it, where each host finds its CA, certificate and
//! key, and the names each certificate must cover.
//!
//! Certificates and keys come by reference: a file Terraform reads, a
//! Terraform variable (both become per-host [`Secret`]s that cloud-init
//! installs), or a path that already exists on the hosts (nothing is
//! delivered; the configuration points there).

use std::net::Ipv4Addr;

use serde::Serialize;

use super::secrets::Secret;
use super::{paths, tf_ident, Balancer, Broker, Host, Located, Role};
use crate::spec::{SecretSource, Spec, Tls, TlsMode, TlsPair, TlsSource};

/// What stands for the host's name in a source's path or variable name.
pub const HOST_PLACEHOLDER: &str = "{host}";

/// TLS on the cluster's links.
#[derive(Debug, Clone, Serialize)]
pub struct TlsPlan {
    /// AMQPS on the brokers (5671) and on the VIP.
    pub amqp: bool,
    /// The management UI/API over HTTPS only.
    pub management: bool,
    /// Prometheus over HTTPS only.
    pub prometheus: bool,
    /// The HAProxy statistics page over HTTPS.
    pub stats: bool,
    /// Erlang distribution over TLS (`-proto_dist inet_tls`).
    pub inter_node: bool,
    /// HAProxy's handling of AMQPS on the VIP.
    pub mode: TlsMode,
    /// Where the brokers find their CA, certificate and key, when a broker
    /// link uses TLS.
    pub broker: Option<TlsFiles>,
    /// Where the load balancers find theirs, when a load balancer link
    /// uses TLS (the statistics page, AMQPS in `terminate` mode).
    pub load_balancer: Option<TlsFiles>,
    /// The names and addresses each host's certificate must cover, in the
    /// plan's host order (hosts that need no certificate are left out).
    pub certificates: Vec<CertificateNames>,
}

/// Paths of a role's TLS files on its hosts (the same on every host of the
/// role; each host's own certificate is delivered to the same path).
#[derive(Debug, Clone, Serialize)]
pub struct TlsFiles {
    /// CA bundle.
    pub ca: String,
    /// Certificate.
    pub certificate: String,
    /// Private key.
    pub key: String,
}

/// What one host's certificate must cover (subjectAltName).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertificateNames {
    /// The host.
    pub host: String,
    /// Its role.
    pub role: Role,
    /// DNS names: the host name, its FQDN, and for a certificate clients
    /// meet on the VIP, the cluster's name and FQDN.
    pub dns: Vec<String>,
    /// IP addresses: the host's, and the VIP's where clients meet the
    /// certificate on the VIP.
    pub ip: Vec<Ipv4Addr>,
}

impl TlsPlan {
    /// True when any link uses TLS.
    pub fn any(&self) -> bool {
        self.broker.is_some() || self.load_balancer.is_some()
    }
}

/// The default certificate and key of a role: `tls/{host}.crt`, `.key`.
pub fn default_pair() -> TlsPair {
    TlsPair {
        certificate: TlsSource::File {
            path: format!("tls/{HOST_PLACEHOLDER}.crt"),
        },
        key: TlsSource::File {
            path: format!("tls/{HOST_PLACEHOLDER}.key"),
        },
    }
}

/// The secret source a TLS source becomes on one host, `{host}` replaced
/// by its name (in a variable name, with `-` as `_`: HCL would read
/// `var.key_mq-1` as a subtraction); `None` for a file already on the
/// host.
fn secret_source(source: &TlsSource, host: &str) -> Option<SecretSource> {
    match source {
        TlsSource::File { path } => Some(SecretSource::File {
            path: path.replace(HOST_PLACEHOLDER, host),
        }),
        TlsSource::Variable { name } => Some(SecretSource::Variable {
            name: name.replace(HOST_PLACEHOLDER, &tf_ident(host)),
        }),
        TlsSource::Host { .. } => None,
    }
}

/// True when the source names one file per host (`{host}`).
fn per_host(source: &TlsSource) -> bool {
    match source {
        TlsSource::File { path } | TlsSource::Host { path } => path.contains(HOST_PLACEHOLDER),
        TlsSource::Variable { name } => name.contains(HOST_PLACEHOLDER),
    }
}

/// One TLS file of a role: its secrets (one per host with `{host}` in the
/// source, otherwise one for the role) and the path the configuration
/// names.
struct TlsFile<'a> {
    what: &'static str,
    /// Where the spec gives (or would give) the source.
    pointer: String,
    id: &'static str,
    source: &'a TlsSource,
    installed: &'static str,
    /// Owner and group: the one user that reads it (mode 0400).
    reader: &'static str,
}

fn deliver(file: &TlsFile<'_>, role: Role, hosts: &[&Host], secrets: &mut Vec<Secret>) -> String {
    let path = match file.source {
        TlsSource::Host { path } => return path.clone(),
        _ => file.installed.to_string(),
    };
    let role_name = match role {
        Role::Broker => "broker",
        Role::LoadBalancer => "load-balancer",
    };
    let secret = |source: SecretSource, host: Option<&Host>| {
        let source = Located::given(file.pointer.clone(), source);
        let (id, tf_name, purpose) = match host {
            Some(h) => (
                format!("tls-{}-{role_name}-{}", file.id, h.name),
                tf_ident(&format!("tls_{}_{}", file.id, h.name)),
                format!("TLS {} of {}", file.what, h.name),
            ),
            // The CA is the same for both roles: one template variable.
            None if file.id == "ca" => (
                format!("tls-ca-{role_name}"),
                "tls_ca".to_string(),
                "TLS CA bundle".to_string(),
            ),
            None => (
                format!("tls-{}-{role_name}", file.id),
                tf_ident(&format!("tls_{}_{role_name}", file.id)),
                format!("TLS {} of every {role_name}", file.what),
            ),
        };
        Secret {
            tf_name,
            id,
            source,
            purpose,
            role,
            host: host.map(|h| h.name.to_string()),
            path: file.installed,
            file_name: None,
            env_var: None,
            owner: file.reader,
            group: file.reader,
            mode: 0o400,
            length: 0,
            special: false,
        }
    };
    if per_host(file.source) {
        for host in hosts {
            if let Some(source) = secret_source(file.source, &host.name) {
                secrets.push(secret(source, Some(host)));
            }
        }
    } else if let Some(source) = secret_source(file.source, "") {
        secrets.push(secret(source, None));
    }
    path
}

/// The files of one role: the CA, each host's certificate and key.
fn role_files(
    tls: &Tls,
    role: Role,
    hosts: &[&Host],
    secrets: &mut Vec<Secret>,
) -> Option<TlsFiles> {
    let ca = tls.ca.as_ref()?;
    let pair = match role {
        Role::Broker => tls.brokers.clone(),
        Role::LoadBalancer => tls.load_balancers.clone(),
    }
    .unwrap_or_else(default_pair);
    // Every file 0400 for the one user that reads it: rabbitmq on the
    // brokers (the broker and, through runuser, the CLI tools); root on the
    // load balancers, where HAProxy loads its certificates before it drops
    // to the haproxy user.
    let (ca_path, cert_path, key_path, reader) = match role {
        Role::Broker => (
            paths::BROKER_TLS_CA,
            paths::BROKER_TLS_CERT,
            paths::BROKER_TLS_KEY,
            "rabbitmq",
        ),
        Role::LoadBalancer => (
            paths::LB_TLS_CA,
            paths::LB_TLS_CERT,
            paths::LB_TLS_KEY,
            "root",
        ),
    };
    let role_pointer = match role {
        Role::Broker => "/tls/brokers",
        Role::LoadBalancer => "/tls/load_balancers",
    };
    let mut deliver = |what, pointer: String, id, source, installed| {
        let file = TlsFile {
            what,
            pointer,
            id,
            source,
            installed,
            reader,
        };
        deliver(&file, role, hosts, secrets)
    };
    let ca = deliver("CA bundle", "/tls/ca".into(), "ca", ca, ca_path);
    let certificate = deliver(
        "certificate",
        format!("{role_pointer}/certificate"),
        "cert",
        &pair.certificate,
        cert_path,
    );
    let key = deliver(
        "private key",
        format!("{role_pointer}/key"),
        "key",
        &pair.key,
        key_path,
    );
    Some(TlsFiles {
        ca,
        certificate,
        key,
    })
}

/// The names a host's certificate must cover.
fn names(spec: &Spec, host: &Host, vip: Option<Ipv4Addr>) -> CertificateNames {
    let mut dns = vec![host.name.to_string()];
    dns.extend(host.fqdn.clone());
    let mut ip = vec![*host.address];
    if let Some(vip) = vip {
        dns.push(spec.name.clone());
        if let Some(domain) = &spec.domain {
            dns.push(format!("{}.{domain}", spec.name));
        }
        ip.push(vip);
    }
    CertificateNames {
        host: host.name.to_string(),
        role: host.role,
        dns,
        ip,
    }
}

/// Resolves `tls`; pushes the secrets that deliver its files.
pub(super) fn tls_plan(
    spec: &Spec,
    vip: Ipv4Addr,
    brokers: &[Broker],
    load_balancers: &[Balancer],
    secrets: &mut Vec<Secret>,
) -> TlsPlan {
    let tls = spec.tls.clone().unwrap_or_default();
    let all = tls.enabled.unwrap_or(false);
    let link = |v: Option<bool>| v.unwrap_or(all);
    let (amqp, management, prometheus, stats, inter_node) = (
        link(tls.amqp),
        link(tls.management),
        link(tls.prometheus),
        link(tls.stats),
        link(tls.inter_node),
    );
    let mode = tls.haproxy_mode.unwrap_or(TlsMode::Passthrough);
    let terminate = amqp && mode == TlsMode::Terminate;
    let broker_hosts: Vec<&Host> = brokers.iter().map(|b| &*b.host).collect();
    let lb_hosts: Vec<&Host> = load_balancers.iter().map(|l| &*l.host).collect();
    let broker = (amqp || management || prometheus || inter_node)
        .then(|| role_files(&tls, Role::Broker, &broker_hosts, secrets))
        .flatten();
    let load_balancer = (stats || terminate)
        .then(|| role_files(&tls, Role::LoadBalancer, &lb_hosts, secrets))
        .flatten();
    // Clients meet the brokers' certificates on the VIP for AMQPS in
    // passthrough and for management (always passed through); the load
    // balancers' for AMQPS when HAProxy terminates it.
    let broker_vip = (amqp && !terminate) || management;
    let mut certificates = Vec::new();
    if broker.is_some() {
        for h in &broker_hosts {
            certificates.push(names(spec, h, broker_vip.then_some(vip)));
        }
    }
    if load_balancer.is_some() {
        for h in &lb_hosts {
            certificates.push(names(spec, h, terminate.then_some(vip)));
        }
    }
    TlsPlan {
        amqp,
        management,
        prometheus,
        stats,
        inter_node,
        mode,
        broker,
        load_balancer,
        certificates,
    }
}

/// True when a dNSName of `sans` names `name`: the same name, or a
/// wildcard `*.rest` for a name of one more label.
fn covers(sans: &[String], name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    sans.iter().any(|s| {
        *s == name
            || s.strip_prefix("*.")
                .is_some_and(|rest| name.split_once('.').is_some_and(|(_, r)| r == rest))
    })
}

/// The certificates of `plan` that `read` can read (a file source; `read`
/// gets the path as the spec gives it, `{host}` replaced), each checked
/// against the names the plan says it must cover: a warning (RMQ124) per
/// certificate that misses some, or that does not parse. `read` is the
/// caller's: the library touches no disk.
pub fn check_certificates(
    plan: &super::Plan,
    read: &dyn Fn(&str) -> Option<Vec<u8>>,
) -> crate::diagnostic::Diagnostics {
    use crate::diagnostic::{Code, Diagnostic};
    let mut out = crate::diagnostic::Diagnostics::default();
    for names in &plan.tls.certificates {
        let role_name = match names.role {
            Role::Broker => "broker",
            Role::LoadBalancer => "load-balancer",
        };
        let pointer = match names.role {
            Role::Broker => "/tls/brokers/certificate",
            Role::LoadBalancer => "/tls/load_balancers/certificate",
        };
        let own = format!("tls-cert-{role_name}-{}", names.host);
        let shared = format!("tls-cert-{role_name}");
        let Some(SecretSource::File { path }) = plan
            .secret(&own)
            .or_else(|| plan.secret(&shared))
            .map(|s| &*s.source)
        else {
            continue;
        };
        let Some(bytes) = read(path) else {
            continue;
        };
        let alt = match super::x509::alt_names(&bytes) {
            Ok(alt) => alt,
            Err(e) => {
                out.push(
                    Diagnostic::warning(
                        Code::TlsNames,
                        pointer,
                        format!("certificate {path} of {}: {e}", names.host),
                    )
                    .hint("give a PEM certificate (its chain may follow it)"),
                );
                continue;
            }
        };
        let mut missing: Vec<String> = names
            .dns
            .iter()
            .filter(|d| !covers(&alt.dns, d))
            .cloned()
            .collect();
        missing.extend(
            names
                .ip
                .iter()
                .filter(|ip| !alt.ip.contains(&std::net::IpAddr::V4(**ip)))
                .map(|ip| ip.to_string()),
        );
        if !missing.is_empty() {
            out.push(
                Diagnostic::warning(
                    Code::TlsNames,
                    pointer,
                    format!(
                        "certificate {path} of {} does not cover {}",
                        names.host,
                        missing.join(", ")
                    ),
                )
                .hint("reissue it with these subjectAltNames (DNS names and IP addresses)"),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(tls: serde_json::Value) -> crate::plan::Plan {
        let mut v: serde_json::Value =
            serde_json::from_str(&crate::reference_spec()).expect("reference spec is JSON");
        v["domain"] = "mq.example.internal".into();
        v["tls"] = tls;
        crate::plan::resolve(&crate::parse(&v.to_string()).expect("parses")).plan
    }

    #[test]
    fn one_switch_turns_every_link_on_and_moves_the_ports() {
        let off = plan(serde_json::json!({}));
        assert!(!off.tls.any());
        assert_eq!(*off.rabbitmq.ports.amqp, 5672);
        let p =
            plan(serde_json::json!({"enabled": true, "ca": {"from": "file", "path": "ca.pem"}}));
        let t = &p.tls;
        assert!(t.amqp && t.management && t.prometheus && t.stats && t.inter_node);
        let ports = &p.rabbitmq.ports;
        assert_eq!(
            (*ports.amqp, *ports.management, *ports.prometheus),
            (5671, 15671, 15691)
        );
        assert_eq!(*ports.distribution, 25672);
        assert_eq!(*p.haproxy.amqp_port, 5671);
        // A per-link override wins over the switch.
        let p = plan(
            serde_json::json!({"enabled": true, "prometheus": false, "ca": {"from": "file", "path": "ca.pem"}}),
        );
        assert!(!p.tls.prometheus && p.tls.amqp);
        assert_eq!(*p.rabbitmq.ports.prometheus, 15692);
    }

    #[test]
    fn names_each_certificate_must_cover() {
        let p =
            plan(serde_json::json!({"enabled": true, "ca": {"from": "file", "path": "ca.pem"}}));
        let b = &p.tls.certificates[0];
        assert_eq!(b.role, Role::Broker);
        // Passthrough: clients meet the brokers' certificates on the VIP.
        assert_eq!(
            b.dns,
            [
                b.host.clone(),
                format!("{}.mq.example.internal", b.host),
                p.name.clone(),
                format!("{}.mq.example.internal", p.name)
            ]
        );
        assert_eq!(b.ip, [*p.brokers[0].address, *p.vip]);
        let lb = p
            .tls
            .certificates
            .iter()
            .find(|c| c.role == Role::LoadBalancer)
            .expect("lb");
        assert_eq!(lb.ip, [*p.load_balancers[0].address]);
        // Terminated at HAProxy, the load balancers' certificates cover the
        // VIP; the brokers' still do for management, which passes through.
        let p = plan(
            serde_json::json!({"enabled": true, "haproxy_mode": "terminate", "ca": {"from": "file", "path": "ca.pem"}}),
        );
        let lb = p
            .tls
            .certificates
            .iter()
            .find(|c| c.role == Role::LoadBalancer)
            .expect("lb");
        assert_eq!(lb.ip, [*p.load_balancers[0].address, *p.vip]);
        let p = plan(
            serde_json::json!({"amqp": true, "haproxy_mode": "terminate", "ca": {"from": "file", "path": "ca.pem"}}),
        );
        assert_eq!(p.tls.certificates[0].ip, [*p.brokers[0].address]);
    }

    #[test]
    fn host_references_deliver_nothing() {
        let p = plan(serde_json::json!({
            "enabled": true,
            "ca": {"from": "host", "path": "/etc/pki/ca.pem"},
            "brokers": {"certificate": {"from": "host", "path": "/etc/pki/mq.crt"}, "key": {"from": "host", "path": "/etc/pki/mq.key"}},
            "load_balancers": {"certificate": {"from": "file", "path": "tls/{host}.pem"}, "key": {"from": "variable", "name": "lb_key_{host}"}}
        }));
        let files = p.tls.broker.as_ref().expect("broker files");
        assert_eq!(files.key, "/etc/pki/mq.key");
        let tls: Vec<_> = p
            .secrets
            .iter()
            .filter(|s| s.id.starts_with("tls-"))
            .collect();
        // The CA is on the hosts for both roles: only a certificate and a
        // key per load balancer travel.
        assert!(tls.iter().all(|s| s.role == Role::LoadBalancer));
        assert_eq!(tls.len(), 2 * p.load_balancers.len());
        let key = p
            .secrets
            .iter()
            .find(|s| s.id.starts_with("tls-key-"))
            .expect("key");
        assert_eq!(
            key.source,
            SecretSource::Variable {
                name: format!("lb_key_{}", tf_ident(&p.load_balancers[0].name))
            }
        );
    }

    #[test]
    fn readable_certificates_are_checked_against_the_names() {
        let mut v: serde_json::Value =
            serde_json::from_str(&crate::reference_spec()).expect("reference spec is JSON");
        v["domain"] = "mq.example.internal".into();
        v["brokers"][0]["name"] = "mq-1".into();
        v["brokers"][0]["address"] = "192.168.247.150".into();
        v["tls"] = serde_json::json!({
            "inter_node": true,
            "ca": {"from": "file", "path": "tls/ca.crt"}
        });
        let p = crate::plan::resolve(&crate::parse(&v.to_string()).expect("parses")).plan;
        let cert = super::super::x509::tests::CERT.as_bytes().to_vec();
        let read = |path: &str| (path == "tls/mq-1.crt").then(|| cert.clone());
        let d = check_certificates(&p, &read);
        // mq-1 and mq-1.mq.example.internal (the wildcard) are covered;
        // the address is not. Other brokers' files are not readable.
        let messages: Vec<&str> = d.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(
            messages,
            ["certificate tls/mq-1.crt of mq-1 does not cover 192.168.247.150"]
        );
        assert!(d.iter().all(|d| d.code == crate::diagnostic::Code::TlsNames
            && d.severity == crate::diagnostic::Severity::Warning
            && d.pointer == "/tls/brokers/certificate"));
        let garbage = |_: &str| Some(b"not a certificate".to_vec());
        assert_eq!(
            check_certificates(&p, &garbage).iter().count(),
            p.brokers.len()
        );
    }
}
