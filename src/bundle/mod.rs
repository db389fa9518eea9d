//! The rendered bundle: a sorted map of relative paths to artifacts, the
//! manifest that records what rmqgen wrote, and the comparison of a bundle
//! with an output directory ([`Bundle::check`]).
//!
//! Writing lives in the private `write` submodule ([`Bundle::write`],
//! [`recover`]): the only code that changes the output directory. The manifest (`.rmqgen-manifest.json`) lists every file
//! rmqgen wrote with its SHA-256; that hash is what tells a file rmqgen
//! still owns from one edited by hand since, which [`Bundle::write`]
//! refuses to overwrite without `--force PATH`.

mod write;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::Error;
pub use crate::plan::paths::Placement;

/// Name of the manifest file at the root of the output directory.
pub const MANIFEST: &str = ".rmqgen-manifest.json";

pub use write::{recover, Refusal, RefusalReason, WriteOptions, WriteReport, JOURNAL};

/// Where and how a file is installed on hosts: on which, and its
/// [`Placement`] there (whose fields it derefs to).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Install {
    /// Hosts that get the file.
    pub hosts: Vec<String>,
    /// Where it lands on each of them, and how.
    #[serde(flatten)]
    pub placement: Placement,
}

impl std::ops::Deref for Install {
    type Target = Placement;
    fn deref(&self) -> &Placement {
        &self.placement
    }
}

/// One generated file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// Contents.
    pub bytes: Vec<u8>,
    /// Mode in the output directory (0644, or 0755 for scripts).
    pub mode: u32,
    /// Where the file goes on the hosts, when it is installed there.
    pub install: Option<Install>,
}

impl Artifact {
    /// A regular file.
    pub fn file(bytes: impl Into<Vec<u8>>) -> Self {
        Self {
            bytes: bytes.into(),
            mode: 0o644,
            install: None,
        }
    }

    /// Marks the file executable.
    #[must_use]
    pub fn executable(mut self) -> Self {
        self.mode = 0o755;
        self
    }

    /// Sets where the file is installed.
    #[must_use]
    pub fn installed(mut self, install: Install) -> Self {
        self.install = Some(install);
        self
    }

    /// The contents as text (every artifact is UTF-8).
    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.bytes).unwrap_or("")
    }
}

/// Every generated file, keyed by relative path (`/`-separated).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bundle {
    files: BTreeMap<String, Artifact>,
}

/// How a path differs between the bundle and the directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DriftKind {
    /// In the bundle, not on disk.
    Missing,
    /// On disk with other contents.
    Changed,
    /// On disk with contents other than rmqgen last wrote there: edited by
    /// hand. `render` refuses to overwrite it without `--force PATH`.
    Edited,
    /// On disk with another mode.
    Mode,
    /// Written by an earlier render, no longer part of the bundle.
    Stale,
    /// A write was interrupted; the next `render` completes it.
    Interrupted,
}

/// One difference found by [`Bundle::check`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Drift {
    /// Relative path.
    pub path: String,
    /// What differs.
    pub kind: DriftKind,
}

/// What the previous render wrote: `.rmqgen-manifest.json`.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Manifest {
    generator: String,
    files: BTreeMap<String, ManifestEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ManifestEntry {
    sha256: String,
    mode: String,
}

impl Manifest {
    /// True when rmqgen wrote `path` and `on_disk` is no longer what it
    /// wrote: someone edited the file since.
    fn edited(&self, path: &str, on_disk: &[u8]) -> bool {
        self.files
            .get(path)
            .is_some_and(|entry| entry.sha256 != sha256(on_disk))
    }
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Bundle {
    /// An empty bundle.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a file.
    pub fn insert(&mut self, path: impl Into<String>, artifact: Artifact) {
        self.files.insert(path.into(), artifact);
    }

    /// A file by relative path.
    pub fn get(&self, path: &str) -> Option<&Artifact> {
        self.files.get(path)
    }

    /// Every file, sorted by path.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Artifact)> {
        self.files.iter().map(|(p, a)| (p.as_str(), a))
    }

    /// Number of files.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Files installed on `host`, with their bundle paths, sorted by bundle
    /// path.
    pub fn files_for_host<'a>(
        &'a self,
        host: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a Artifact, &'a Install)> + 'a {
        self.files.iter().filter_map(move |(p, a)| {
            let install = a.install.as_ref()?;
            install
                .hosts
                .iter()
                .any(|h| h == host)
                .then_some((p.as_str(), a, install))
        })
    }

    /// The manifest's bytes.
    fn manifest(&self) -> Vec<u8> {
        let m = Manifest {
            generator: "rmqgen".into(),
            files: self
                .files
                .iter()
                .map(|(p, a)| {
                    (
                        p.clone(),
                        ManifestEntry {
                            sha256: sha256(&a.bytes),
                            mode: format!("{:04o}", a.mode),
                        },
                    )
                })
                .collect(),
        };
        let mut out = serde_json::to_vec_pretty(&m).unwrap_or_default();
        out.push(b'\n');
        out
    }

    /// Compares the bundle with `dir` without writing anything. An empty
    /// result means the directory is exactly what this bundle renders to.
    pub fn check(&self, dir: &Path) -> Result<Vec<Drift>, Error> {
        let old = read_manifest(dir)?;
        let mut drift = Vec::new();
        if fs::symlink_metadata(dir.join(JOURNAL)).is_ok() {
            drift.push(Drift {
                path: JOURNAL.to_string(),
                kind: DriftKind::Interrupted,
            });
        }
        let all = self
            .files
            .iter()
            .map(|(p, a)| (p.as_str(), Some(a)))
            .chain(std::iter::once((MANIFEST, None)));
        let manifest = self.manifest();
        for (path, artifact) in all {
            let (bytes, mode) = match artifact {
                Some(a) => (a.bytes.as_slice(), Some(a.mode)),
                None => (manifest.as_slice(), None),
            };
            let full = dir.join(path);
            match fs::read(&full) {
                Ok(on_disk) if on_disk != bytes => drift.push(Drift {
                    path: path.to_string(),
                    kind: if artifact.is_some() && old.edited(path, &on_disk) {
                        DriftKind::Edited
                    } else {
                        DriftKind::Changed
                    },
                }),
                Ok(_) => {
                    if let Some(mode) = mode {
                        if file_mode(&full)? != mode {
                            drift.push(Drift {
                                path: path.to_string(),
                                kind: DriftKind::Mode,
                            });
                        }
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => drift.push(Drift {
                    path: path.to_string(),
                    kind: DriftKind::Missing,
                }),
                Err(e) => return Err(Error::io(&full, e)),
            }
        }
        for path in old.files.keys() {
            if !self.files.contains_key(path)
                && safe_relative(path).is_some()
                && dir.join(path).exists()
            {
                drift.push(Drift {
                    path: path.clone(),
                    kind: DriftKind::Stale,
                });
            }
        }
        drift.sort();
        Ok(drift)
    }
}

/// Reads the manifest; a missing one is an empty manifest.
fn read_manifest(dir: &Path) -> Result<Manifest, Error> {
    let path = dir.join(MANIFEST);
    match fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| Error::Unmanaged {
            path,
            why: format!("it is not a valid rmqgen manifest ({e})"),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Manifest::default()),
        Err(e) => Err(Error::io(&path, e)),
    }
}

/// A manifest path that stays inside the output directory: relative, no
/// `..`, no root or prefix.
fn safe_relative(path: &str) -> Option<&Path> {
    // Textual, segment by segment: `Path::components` would quietly drop a
    // `.` in the middle and accept `a//b`.
    let ok = path
        .split('/')
        .all(|seg| !seg.is_empty() && seg != "." && seg != ".." && !seg.contains('\0'));
    ok.then_some(Path::new(path))
}

#[cfg(unix)]
fn file_mode(path: &Path) -> Result<u32, Error> {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o7777)
        .map_err(|e| Error::io(path, e))
}

#[cfg(not(unix))]
fn file_mode(_: &Path) -> Result<u32, Error> {
    Ok(0o644)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_paths_cannot_escape() {
        assert!(safe_relative("a/b.txt").is_some());
        for bad in ["", "/etc/passwd", "../x", "a/../../x", "./a", "a/./b"] {
            assert!(safe_relative(bad).is_none(), "{bad}");
        }
    }
}
