//! The OS, the RabbitMQ install source and apt: can the hosts get what
//! the spec asks for (the platform table in [`crate::plan::platform`])?

use super::charset::{is_safe_token, show};
use super::Sink;
use crate::diagnostic::Code;
use crate::plan::platform::{self, check_install};
use crate::plan::{Resolved, Version};
use crate::spec::{InstallSource, Provisioning, Spec};

/// An http(s) URL apt can take, free of anything that would break a
/// `deb` line or an apt.conf string.
fn is_apt_url(s: &str) -> bool {
    let rest = s
        .strip_prefix("http://")
        .or_else(|| s.strip_prefix("https://"));
    rest.is_some_and(|r| !r.is_empty()) && is_safe_token(s, 512, ":/._-~%@+=")
}

pub(super) fn check(spec: &Spec, r: &Resolved, d: &mut Sink) {
    let plan = &r.plan;
    // NixOS hosts take RabbitMQ, HAProxy and keepalived from nixpkgs: os,
    // apt and rabbitmq.install do not apply (a spec may carry them for its
    // cloud-init rendering).
    if plan.provisioning == Provisioning::Nixos {
        return;
    }

    let os = *plan.os;
    let release = platform::release(os);
    let source = &plan.install.source;
    let version = *plan.rabbitmq.version;
    let supported = (Version::OLDEST..=Version::NEWEST).contains(&version);
    if r.usable(&plan.rabbitmq.version) && supported {
        if let Err(e) = check_install(os, source, version) {
            let pointer = if source.written() {
                source.pointer()
            } else if plan.os.written() {
                plan.os.pointer()
            } else {
                plan.rabbitmq.version.pointer()
            };
            let os_note = if plan.os.written() {
                String::new()
            } else {
                format!(" (os defaults to \"{os}\")")
            };
            d.error(
                Code::InstallSeries,
                pointer,
                format!(
                    "RabbitMQ {version} cannot be installed: {}{os_note}",
                    e.message
                ),
                e.hint,
            );
        }
    }

    if let InstallSource::Mirror {
        url,
        keyring,
        suite,
        component,
    } = &**source
    {
        let p = source.pointer();
        if !is_apt_url(url) {
            d.error(
                Code::InstallSource,
                format!("{p}/url"),
                format!("{} is not an http(s) URL apt can use", show(url)),
                "e.g. \"http://apt.example.internal/rabbitmq\"",
            );
        }
        if !(keyring.starts_with('/') && is_safe_token(keyring, 255, "/._-")) {
            d.error(
                Code::InstallSource,
                format!("{p}/keyring"),
                format!(
                    "{} is not an absolute path of [A-Za-z0-9/._-]",
                    show(keyring)
                ),
                "e.g. \"/usr/share/keyrings/example-archive.gpg\"",
            );
        }
        for (key, value) in [("suite", suite), ("component", component)] {
            if let Some(v) = value {
                if !is_safe_token(v, 64, "._-") {
                    d.error(
                        Code::InstallSource,
                        format!("{p}/{key}"),
                        format!("{key} {} has characters outside [A-Za-z0-9._-]", show(v)),
                        format!(
                            "e.g. \"{}\"",
                            if key == "suite" {
                                release.codename
                            } else {
                                "main"
                            }
                        ),
                    );
                }
            }
        }
    }
    if let Some(proxy) = spec.apt.as_ref().and_then(|a| a.proxy.as_ref()) {
        if !is_apt_url(proxy) {
            d.error(
                Code::InstallSource,
                "/apt/proxy",
                format!("{} is not an http(s) proxy URL", show(proxy)),
                "e.g. \"http://10.0.0.1:3142\"",
            );
        }
    }

    let interval = plan.keepalived.check_interval.millis();
    if interval.whole_seconds().is_none() && !plan.keepalived.script_timing.fractional {
        let ms = interval.get();
        d.error(
            Code::KeepalivedScriptTiming,
            plan.keepalived.check_interval.pointer(),
            format!(
                "{} has keepalived {}, which takes the check interval in whole seconds, not {}",
                release.title, release.keepalived, plan.keepalived.check_interval
            ),
            {
                let whole = if ms < 1000 {
                    "1000".to_string()
                } else {
                    format!(
                        "{} or {}",
                        ms / 1000 * 1000,
                        (ms / 1000).saturating_add(1).saturating_mul(1000)
                    )
                };
                format!(
                    "use {whole}, or os \"debian-13\" (keepalived {})",
                    platform::release(crate::spec::OsRelease::Debian13).keepalived
                )
            },
        );
    }
}
