//! TLS: a CA when any link uses it, certificates and keys by reference
//! only, references that are usable where they land.

use super::charset::is_safe_token;
use super::Sink;
use crate::diagnostic::Code;
use crate::plan::tls::HOST_PLACEHOLDER;
use crate::plan::Plan;
use crate::spec::{Provisioning, Spec, TlsSource};

/// PEM armour: text that is a certificate or key, not a reference to one.
pub(crate) fn is_pem(text: &str) -> bool {
    text.contains("-----BEGIN") || text.contains("PRIVATE KEY")
}

pub(super) fn check(spec: &Spec, plan: &Plan, d: &mut Sink) {
    let Some(tls) = &spec.tls else {
        return;
    };
    let t = &plan.tls;
    let on = t.amqp || t.management || t.prometheus || t.stats || t.inter_node;
    if on && tls.ca.is_none() {
        d.error(
            Code::TlsCa,
            "/tls",
            "TLS is on but tls.ca is not given",
            "add \"ca\": {\"from\": \"file\", \"path\": \"tls/ca.crt\"} (or a variable, or a host path)",
        );
    }
    if on && plan.provisioning == Provisioning::Nixos {
        d.error(
            Code::TlsNixos,
            "/tls",
            "TLS is on, but rmqgen renders TLS only for cloud-init hosts",
            "use provisioning \"cloud-init\", or turn tls off and configure it in site.nix",
        );
    }
    if let Some(ca) = &tls.ca {
        source(ca, "/tls/ca", d);
        if let TlsSource::Host { path } = ca {
            host_path_fixed(path, "/tls/ca/path", d);
        }
    }
    for (role, pair) in [
        ("brokers", &tls.brokers),
        ("load_balancers", &tls.load_balancers),
    ] {
        let Some(pair) = pair else {
            continue;
        };
        let at = format!("/tls/{role}");
        source(&pair.certificate, &format!("{at}/certificate"), d);
        source(&pair.key, &format!("{at}/key"), d);
        for (what, s) in [("certificate", &pair.certificate), ("key", &pair.key)] {
            if let TlsSource::Host { path } = s {
                host_path_fixed(path, &format!("{at}/{what}/path"), d);
            }
        }
        if role == "load_balancers" {
            if let TlsSource::Host { path: key } = &pair.key {
                let cert = match &pair.certificate {
                    TlsSource::Host { path } => Some(path.as_str()),
                    _ => None,
                };
                let loadable = cert.is_some_and(|c| key == c || *key == format!("{c}.key"));
                if !loadable {
                    d.error(
                        Code::TlsSource,
                        format!("{at}/key/path"),
                        "HAProxy loads the key from the certificate's file or from its path with .key appended",
                        "give the certificate as a host path too, and the key as the same path or that path plus \".key\"",
                    );
                }
            }
        }
    }
}

/// A host path cannot vary by host: one configuration names it.
fn host_path_fixed(path: &str, pointer: &str, d: &mut Sink) {
    if path.contains(HOST_PLACEHOLDER) {
        d.error(
            Code::TlsSource,
            pointer,
            "a host path is the same on every host of the role and cannot hold {host}",
            "name one path that exists on every host, e.g. \"/etc/pki/tls/private/rabbitmq.key\"",
        );
    }
}

/// A reference that is not PEM text, in the characters every artifact
/// takes as they are.
fn source(s: &TlsSource, pointer: &str, d: &mut Sink) {
    let (field, text) = match s {
        TlsSource::File { path } | TlsSource::Host { path } => ("path", path),
        TlsSource::Variable { name } => ("name", name),
    };
    let pointer = format!("{pointer}/{field}");
    if is_pem(text) {
        // Never repeat the text: it may be a private key.
        d.error(
            Code::TlsInline,
            pointer,
            "PEM text is written where a reference belongs",
            "put the PEM in a file and give its path: {\"from\": \"file\", \"path\": \"tls/{host}.key\"}",
        );
        return;
    }
    let plain = text.replace(HOST_PLACEHOLDER, "h");
    let ok = match s {
        TlsSource::File { path } => is_safe_token(&plain, 4096, "._-/") && !path.is_empty(),
        TlsSource::Host { path } => {
            path.starts_with('/') && is_safe_token(&plain, 4096, "._-/") && !path.contains("/../")
        }
        TlsSource::Variable { .. } => {
            plain.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && is_safe_token(&plain, 64, "_")
        }
    };
    if !ok {
        let (msg, hint) = match s {
            TlsSource::File { .. } => (
                "a certificate file path uses letters, digits, . _ - / and {host} only",
                "e.g. \"tls/{host}.crt\" (relative to the Terraform root module)",
            ),
            TlsSource::Host { .. } => (
                "a host path is absolute and uses letters, digits, . _ - / only",
                "e.g. \"/etc/pki/tls/certs/rabbitmq.crt\"",
            ),
            TlsSource::Variable { .. } => (
                "a Terraform variable name uses letters, digits, _ and {host} (the host's name with - as _) only",
                "e.g. \"tls_key_{host}\"",
            ),
        };
        d.error(Code::TlsSource, pointer, msg, hint);
    }
}
