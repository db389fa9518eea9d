//! Validation: every rule, all problems at once, each with a JSON pointer,
//! a message and a hint. One concern per file.

mod charset;
mod firewall;
mod haproxy;
mod keepalived;
mod network;
mod nixos;
mod platform;
mod rabbitmq;
mod target;
mod terraform;
pub(crate) mod tls;

use crate::diagnostic::{Code, Diagnostic, Diagnostics};
use crate::plan::{self, Located, Plan};
use crate::spec::Spec;

/// Runs every rule. The result is sorted and free of duplicates.
pub fn check(spec: &Spec) -> Diagnostics {
    resolve(spec).1
}

/// Resolves the spec into its plan, then runs every rule over the resolved
/// values: the plan, and every diagnostic (the resolver's, for values that
/// did not parse, and the rules'), sorted and free of duplicates. The plan
/// may be rendered only when no diagnostic is an error.
pub(crate) fn resolve(spec: &Spec) -> (Plan, Diagnostics) {
    let r = plan::resolve(spec);
    let mut d = Sink(r.diagnostics.clone());
    network::check(spec, &r, &mut d);
    rabbitmq::check(spec, &r, &mut d);
    haproxy::check(spec, &r.plan, &mut d);
    keepalived::check(spec, &r.plan, &mut d);
    firewall::check(spec, &r.plan, &mut d);
    nixos::check(spec, &r, &mut d);
    platform::check(spec, &r, &mut d);
    target::check(spec, &r.plan, &mut d);
    terraform::check(spec, &r.plan, &mut d);
    tls::check(spec, &r.plan, &mut d);
    (r.plan, d.0.finish())
}

/// Collects diagnostics; a thin wrapper so rules read as sentences.
#[derive(Default)]
pub(crate) struct Sink(Diagnostics);

impl Sink {
    pub(crate) fn error(
        &mut self,
        code: Code,
        pointer: impl Into<String>,
        msg: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.0
            .push(Diagnostic::error(code, pointer, msg).hint(hint));
    }

    pub(crate) fn warning(
        &mut self,
        code: Code,
        pointer: impl Into<String>,
        msg: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.0
            .push(Diagnostic::warning(code, pointer, msg).hint(hint));
    }

    /// Checks the listeners of one kind of host: ports the user wrote must
    /// be 1..=65535, and no two listeners may share a port. A clash is
    /// blamed on a value the user wrote, never on a default.
    pub(crate) fn ports(&mut self, host_kind: &str, ports: &[Port]) {
        for p in ports.iter().filter(|p| p.written) {
            if !(1..=65535).contains(&p.port) {
                self.error(
                    Code::PortConflict,
                    p.pointer.as_str(),
                    format!("port {} is not 1..=65535", p.port),
                    "choose a TCP port between 1 and 65535",
                );
            }
        }
        for (i, a) in ports.iter().enumerate() {
            for b in &ports[..i] {
                if a.port != b.port {
                    continue;
                }
                let (blamed, other) = if a.written || !b.written {
                    (a, b)
                } else {
                    (b, a)
                };
                let origin = if other.written { "" } else { " (default)" };
                self.error(
                    Code::PortConflict,
                    blamed.pointer.as_str(),
                    format!(
                        "port {} is also the {host_kind}s' {}{origin} port",
                        blamed.port, other.what
                    ),
                    "give every listener on a host its own port",
                );
            }
        }
    }
}

/// A listener port and where it comes from.
pub(crate) struct Port {
    /// JSON pointer of the setting.
    pub pointer: String,
    /// What listens there, for messages.
    pub what: &'static str,
    /// The effective port, as the plan resolved it.
    pub port: u32,
    /// True when the spec sets it (false: a default or derived value).
    pub written: bool,
}

impl Port {
    /// A resolved port, where the plan says it comes from.
    pub(crate) fn located(what: &'static str, port: &Located<u32>) -> Self {
        Self {
            pointer: port.pointer().to_string(),
            what,
            port: **port,
            written: port.written(),
        }
    }
}
