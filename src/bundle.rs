//! The rendered bundle: a sorted map of relative paths to artifacts, and the
//! only code that touches the output directory.
//!
//! Writing is guarded by a manifest (`.rmqgen-manifest.json`) that lists
//! every file rmqgen wrote with its SHA-256:
//! - a file that exists but is not in the manifest is never overwritten;
//! - files the previous render wrote and this one does not are removed (only
//!   if unchanged since; a hand-edited one is left and reported);
//! - every file is written to a temporary name and renamed into place, and
//!   the manifest is written last.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::Error;

/// Name of the manifest file at the root of the output directory.
pub const MANIFEST: &str = ".rmqgen-manifest.json";

/// Where and how a file is installed on hosts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Install {
    /// Hosts that get the file.
    pub hosts: Vec<String>,
    /// Absolute path on the host.
    pub path: String,
    /// Owner.
    pub owner: String,
    /// Group.
    pub group: String,
    /// Mode on the host.
    pub mode: u32,
    /// Append to an existing file (e.g. `/etc/hosts`) instead of replacing it.
    pub append: bool,
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
    /// On disk with another mode.
    Mode,
    /// Written by an earlier render, no longer part of the bundle.
    Stale,
}

/// One difference found by [`Bundle::check`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Drift {
    /// Relative path.
    pub path: String,
    /// What differs.
    pub kind: DriftKind,
}

/// What [`Bundle::write`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteReport {
    /// Files written (new or changed).
    pub written: Vec<String>,
    /// Files already up to date.
    pub unchanged: Vec<String>,
    /// Stale files removed.
    pub removed: Vec<String>,
    /// Stale files left in place because they were edited after rmqgen
    /// wrote them.
    pub kept: Vec<String>,
}

/// Options for [`Bundle::write`].
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    /// Relative paths that may be overwritten even though rmqgen did not
    /// write them.
    pub force: Vec<String>,
}

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
                    kind: DriftKind::Changed,
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

    /// Writes the bundle into `dir` (created if missing). See the module
    /// docs for the rules that keep a user's files safe.
    pub fn write(&self, dir: &Path, options: &WriteOptions) -> Result<WriteReport, Error> {
        fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let old = read_manifest(dir)?;

        // Refuse before touching anything.
        for path in self.files.keys().map(String::as_str).chain([MANIFEST]) {
            let full = dir.join(path);
            let ours = path == MANIFEST || old.files.contains_key(path);
            if let Ok(meta) = fs::symlink_metadata(&full) {
                if meta.file_type().is_symlink() || meta.is_dir() {
                    return Err(Error::Unmanaged {
                        path: full,
                        why: "it is a symbolic link or a directory".into(),
                    });
                }
                if !ours && !options.force.iter().any(|f| f == path) {
                    return Err(Error::Unmanaged {
                        path: full,
                        why: "it exists and was not written by rmqgen (pass --force PATH to overwrite it)".into(),
                    });
                }
            }
            if path == MANIFEST && fs::symlink_metadata(&full).is_ok() && old.generator.is_empty() {
                return Err(Error::Unmanaged {
                    path: full,
                    why: "it is not an rmqgen manifest".into(),
                });
            }
        }

        // Stage every changed file next to its target, then rename.
        let mut report = WriteReport::default();
        let mut staged: Vec<(PathBuf, PathBuf, String)> = Vec::new();
        let result = (|| {
            for (path, artifact) in &self.files {
                let full = dir.join(path);
                let current = fs::read(&full).ok();
                if current.as_deref() == Some(artifact.bytes.as_slice())
                    && file_mode(&full).ok() == Some(artifact.mode)
                {
                    report.unchanged.push(path.clone());
                    continue;
                }
                let tmp = stage(&full, &artifact.bytes, artifact.mode)?;
                staged.push((tmp, full, path.clone()));
            }
            Ok::<(), Error>(())
        })();
        if let Err(e) = result {
            for (tmp, _, _) in &staged {
                let _ = fs::remove_file(tmp);
            }
            return Err(e);
        }
        for (tmp, full, path) in staged {
            fs::rename(&tmp, &full).map_err(|e| {
                let _ = fs::remove_file(&tmp);
                Error::io(&full, e)
            })?;
            report.written.push(path);
        }

        // Remove what the previous render wrote and this one does not.
        for (path, entry) in &old.files {
            if self.files.contains_key(path) {
                continue;
            }
            let Some(rel) = safe_relative(path) else {
                continue;
            };
            let full = dir.join(rel);
            match fs::symlink_metadata(&full) {
                Ok(meta) if meta.is_file() => {
                    let unchanged = fs::read(&full)
                        .map(|b| sha256(&b) == entry.sha256)
                        .unwrap_or(false);
                    if unchanged {
                        fs::remove_file(&full).map_err(|e| Error::io(&full, e))?;
                        remove_empty_parents(dir, &full);
                        report.removed.push(path.clone());
                    } else {
                        report.kept.push(path.clone());
                    }
                }
                _ => {}
            }
        }

        let manifest_path = dir.join(MANIFEST);
        let tmp = stage(&manifest_path, &self.manifest(), 0o644)?;
        fs::rename(&tmp, &manifest_path).map_err(|e| Error::io(&manifest_path, e))?;
        Ok(report)
    }
}

/// Writes `bytes` to a temporary file beside `target` and syncs it.
fn stage(target: &Path, bytes: &[u8], mode: u32) -> Result<PathBuf, Error> {
    let parent = target.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = parent.join(format!(".{name}.rmqgen-tmp"));
    let write = || -> std::io::Result<()> {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        set_mode(&f, mode)?;
        f.sync_all()
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        Error::io(&tmp, e)
    })?;
    Ok(tmp)
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
    let p = Path::new(path);
    let ok = !path.is_empty() && p.components().all(|c| matches!(c, Component::Normal(_)));
    ok.then_some(p)
}

fn remove_empty_parents(root: &Path, file: &Path) {
    let mut dir = file.parent();
    while let Some(d) = dir {
        if d == root || fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
}

#[cfg(unix)]
fn set_mode(f: &fs::File, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    f.set_permissions(fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_: &fs::File, _: u32) -> std::io::Result<()> {
    Ok(())
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
        for bad in ["", "/etc/passwd", "../x", "a/../../x", "./a"] {
            assert!(safe_relative(bad).is_none() || bad == "./a", "{bad}");
        }
        assert!(safe_relative("a/../../x").is_none());
    }
}
