//! The library's error type.

use std::path::{Path, PathBuf};

use crate::diagnostic::Diagnostics;

/// Everything that can go wrong in rmqgen.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The spec is invalid; the diagnostics say where and why. It holds
    /// every diagnostic, warnings included, and displays all of them, one
    /// per line after a count, so `?` into `anyhow` or `Box<dyn Error>`
    /// keeps every problem:
    ///
    /// ```text
    /// the spec is invalid (1 error, 1 warning):
    /// error[RMQ021] /vip (line 10, column 10): 10.0.0.1 is outside 192.168.247.0/24
    ///   hint: ...
    /// warning[RMQ042] /rabbitmq/queue_ha/mode (line 13, column 15): ...
    /// ```
    #[error("{}", invalid(.0))]
    Invalid(Diagnostics),
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// rmqgen refuses to touch a file it did not write.
    #[error("refusing to write {}: {why}", path.display())]
    Unmanaged {
        /// The file.
        path: PathBuf,
        /// Why.
        why: String,
    },
    /// rmqgen refuses to overwrite files it did not write, or wrote and
    /// that were edited by hand since; every such file is listed, and
    /// nothing was written.
    #[error("{}", crate::bundle::Refusal::describe(.0))]
    Refused(Vec<crate::bundle::Refusal>),
    /// A bug in rmqgen: one of its own templates, compiled into the
    /// binary, failed to render. It is the only source of this variant
    /// (writing a bundle fails only with [`Error::Io`], [`Error::Unmanaged`]
    /// or [`Error::Refused`]). Nothing about a spec leads here: a spec that
    /// passed validation renders. The tests render every template for every
    /// example in both provisionings and on both providers, and the fuzz
    /// targets fail on any input that ends here.
    #[error("internal error (please report it): {0}")]
    Internal(String),
}

/// The display of [`Error::Invalid`]: a count, then each diagnostic (with
/// its hint) on its own lines.
fn invalid(diagnostics: &Diagnostics) -> String {
    let mut s = format!("the spec is invalid ({})", diagnostics.summary());
    if !diagnostics.is_empty() {
        s.push(':');
    }
    for d in diagnostics {
        s.push('\n');
        s.push_str(&d.to_string());
    }
    s
}

impl Error {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

impl From<minijinja::Error> for Error {
    fn from(e: minijinja::Error) -> Self {
        Error::Internal(format!("template: {e:#}"))
    }
}

/// Result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::{Code, Diagnostic};

    #[test]
    fn invalid_displays_every_diagnostic_with_its_hint() {
        let mut d = Diagnostics::new();
        d.push(Diagnostic::error(Code::OutsideNetwork, "/vip", "outside").hint("move it"));
        d.push(Diagnostic::error(Code::Name, "/brokers/0/name", "bad name"));
        d.push(Diagnostic::warning(
            Code::ClassicMirroringDeprecated,
            "/rabbitmq",
            "old",
        ));
        assert_eq!(
            Error::Invalid(d).to_string(),
            "the spec is invalid (2 errors, 1 warning):\n\
             error[RMQ021] /vip: outside\n  hint: move it\n\
             error[RMQ010] /brokers/0/name: bad name\n\
             warning[RMQ042] /rabbitmq: old"
        );
    }
}
