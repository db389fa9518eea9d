//! The library's error type.

use std::path::{Path, PathBuf};

use crate::diagnostic::Diagnostics;

/// Everything that can go wrong in rmqgen.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The spec is invalid; the diagnostics say where and why.
    #[error("the spec is invalid ({} error(s))", .0.error_count())]
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
    /// A bug: a template failed or a validated value did not resolve.
    #[error("internal error (please report it): {0}")]
    Internal(String),
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
