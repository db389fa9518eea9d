//! Validation: every rule, all problems at once, each with a JSON pointer,
//! a message and a hint. One concern per file.

mod charset;
mod haproxy;
mod keepalived;
mod network;
mod rabbitmq;
mod target;

use crate::diagnostic::{Code, Diagnostic, Diagnostics};
use crate::spec::Spec;

/// Runs every rule. The result is sorted and free of duplicates.
pub fn check(spec: &Spec) -> Diagnostics {
    let mut d = Sink::default();
    network::check(spec, &mut d);
    rabbitmq::check(spec, &mut d);
    haproxy::check(spec, &mut d);
    keepalived::check(spec, &mut d);
    target::check(spec, &mut d);
    d.0.finish()
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

    /// Checks a port number.
    pub(crate) fn port(&mut self, pointer: &str, port: u32) {
        if !(1..=65535).contains(&port) {
            self.error(
                Code::PortConflict,
                pointer,
                format!("port {port} is not 1..=65535"),
                "choose a TCP port between 1 and 65535",
            );
        }
    }

    /// Reports every port that is used twice among `(pointer, port)` pairs.
    pub(crate) fn distinct_ports(&mut self, host_kind: &str, ports: &[(&str, u32)]) {
        for (i, (p, port)) in ports.iter().enumerate() {
            if let Some((q, _)) = ports[..i].iter().find(|(_, other)| other == port) {
                self.error(
                    Code::PortConflict,
                    *p,
                    format!("port {port} is already used on the {host_kind}s by {q}"),
                    "give every listener on a host its own port",
                );
            }
        }
    }
}
