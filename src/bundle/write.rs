//! The journaled writer: the only code that changes the output directory.
//!
//! The rules that keep a user's files safe:
//! - a file that exists but is not in the manifest is never overwritten;
//! - files the previous render wrote and this one does not are removed (only
//!   if unchanged since; a hand-edited one is left and reported);
//! - every file is first staged under a temporary name beside its target;
//!   then a journal listing the renames and removals is written, carried out,
//!   and deleted. A write interrupted before the journal leaves the old tree;
//!   one interrupted after it is rolled forward by the next write
//!   ([`recover`]), so the directory never stays a mix of two renders.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{file_mode, read_manifest, safe_relative, sha256, Bundle, Manifest, MANIFEST};
use crate::error::Error;

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

impl Bundle {
    /// Writes the bundle into `dir` (created if missing). See the module
    /// docs of `bundle::write` for the rules that keep a user's files safe.
    pub fn write(&self, dir: &Path, options: &WriteOptions) -> Result<WriteReport, Error> {
        self.write_until(dir, options, None)
    }

    /// [`Bundle::write`], stopping after `crash_after` renames as if the
    /// process died there (tests of the journal use it).
    fn write_until(
        &self,
        dir: &Path,
        options: &WriteOptions,
        crash_after: Option<usize>,
    ) -> Result<WriteReport, Error> {
        fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        recover(dir)?;
        let old = read_manifest(dir)?;
        self.preflight(dir, &old, options)?;

        // Stage every changed file and the new manifest next to their
        // targets. Until the journal exists, the old tree is untouched.
        let mut report = WriteReport::default();
        let mut journal = Journal::default();
        let mut staged: Vec<PathBuf> = Vec::new();
        let staging = (|| {
            for (path, artifact) in &self.files {
                let full = dir.join(path);
                if fs::read(&full).ok().as_deref() == Some(artifact.bytes.as_slice())
                    && file_mode(&full).ok() == Some(artifact.mode)
                {
                    report.unchanged.push(path.clone());
                    continue;
                }
                staged.push(stage(&full, &artifact.bytes, artifact.mode)?);
                journal.renames.push((tmp_name(path), path.clone()));
                report.written.push(path.clone());
            }
            // Files the previous render wrote and this one does not: removed
            // if unchanged since, kept (and reported) if edited by hand.
            for (path, entry) in &old.files {
                if self.files.contains_key(path) || safe_relative(path).is_none() {
                    continue;
                }
                let full = dir.join(path);
                if !fs::symlink_metadata(&full).is_ok_and(|m| m.is_file()) {
                    continue;
                }
                if fs::read(&full).is_ok_and(|b| sha256(&b) == entry.sha256) {
                    journal.removes.push(path.clone());
                    report.removed.push(path.clone());
                } else {
                    report.kept.push(path.clone());
                }
            }
            staged.push(stage(&dir.join(MANIFEST), &self.manifest(), 0o644)?);
            journal
                .renames
                .push((tmp_name(MANIFEST), MANIFEST.to_string()));
            let bytes =
                serde_json::to_vec_pretty(&journal).map_err(|e| Error::Internal(e.to_string()))?;
            let tmp = stage(&dir.join(JOURNAL), &bytes, 0o644)?;
            rename_durably(&tmp, &dir.join(JOURNAL))
        })();
        if let Err(e) = staging {
            for tmp in &staged {
                let _ = fs::remove_file(tmp);
            }
            return Err(e);
        }

        // From here on the journal makes the change all-or-nothing: if the
        // process dies, the next write (or `recover`) rolls it forward.
        apply(dir, &journal, crash_after)?;
        fs::remove_file(dir.join(JOURNAL)).map_err(|e| Error::io(&dir.join(JOURNAL), e))?;
        Ok(report)
    }

    /// Refuses, before anything is written, every write that could touch a
    /// file rmqgen does not own or leave the output directory.
    fn preflight(&self, dir: &Path, old: &Manifest, options: &WriteOptions) -> Result<(), Error> {
        for path in self.files.keys().map(String::as_str).chain([MANIFEST]) {
            let full = dir.join(path);
            // A symlinked directory inside DIR would redirect writes outside it.
            let mut parent = PathBuf::from(dir);
            for component in Path::new(path)
                .parent()
                .into_iter()
                .flat_map(Path::components)
            {
                parent.push(component);
                if fs::symlink_metadata(&parent).is_ok_and(|m| m.file_type().is_symlink()) {
                    return Err(Error::Unmanaged {
                        path: parent,
                        why:
                            "it is a symbolic link; rmqgen writes only inside the output directory"
                                .into(),
                    });
                }
            }
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
                if path == MANIFEST && old.generator.is_empty() {
                    return Err(Error::Unmanaged {
                        path: full,
                        why: "it is not an rmqgen manifest".into(),
                    });
                }
            }
        }
        Ok(())
    }
}

/// Name of the journal of a write in progress, at the root of the output
/// directory. Its presence means a write was interrupted.
pub const JOURNAL: &str = ".rmqgen-journal.json";

/// What a write does once everything is staged.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Journal {
    /// (temporary file, target), relative to the output directory; the
    /// manifest last.
    renames: Vec<(String, String)>,
    /// Stale files to remove.
    removes: Vec<String>,
}

/// The temporary name a target is staged under (beside it).
fn tmp_name(path: &str) -> String {
    match path.rsplit_once('/') {
        Some((dir, name)) => format!("{dir}/.{name}.rmqgen-tmp"),
        None => format!(".{path}.rmqgen-tmp"),
    }
}

/// Carries out a journal. Idempotent: a rename whose temporary file is gone
/// was done; a removed file is already gone.
fn apply(dir: &Path, journal: &Journal, crash_after: Option<usize>) -> Result<(), Error> {
    for (i, (tmp, target)) in journal.renames.iter().enumerate() {
        if crash_after == Some(i) {
            return Err(Error::Internal("simulated crash".into()));
        }
        let (tmp, target) = (dir.join(tmp), dir.join(target));
        if fs::symlink_metadata(&tmp).is_ok() {
            rename_durably(&tmp, &target)?;
        }
    }
    for path in &journal.removes {
        let full = dir.join(path);
        if fs::symlink_metadata(&full).is_ok_and(|m| m.is_file()) {
            fs::remove_file(&full).map_err(|e| Error::io(&full, e))?;
            remove_empty_parents(dir, &full);
        }
    }
    Ok(())
}

/// Finishes a write that was interrupted after its journal was written.
/// Every path in the journal is checked to stay inside `dir` first: the
/// journal is read from disk and is not trusted.
pub fn recover(dir: &Path) -> Result<bool, Error> {
    let path = dir.join(JOURNAL);
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(Error::io(&path, e)),
    };
    let journal: Journal = serde_json::from_slice(&bytes).map_err(|e| Error::Unmanaged {
        path: path.clone(),
        why: format!("it is not an rmqgen journal ({e})"),
    })?;
    let all = journal
        .renames
        .iter()
        .flat_map(|(a, b)| [a, b])
        .chain(&journal.removes);
    for p in all {
        if safe_relative(p).is_none() {
            return Err(Error::Unmanaged {
                path: path.clone(),
                why: format!("it names {p:?}, outside the output directory"),
            });
        }
    }
    apply(dir, &journal, None)?;
    fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
    Ok(true)
}

/// Renames and syncs the directory, so the rename survives a power loss.
fn rename_durably(from: &Path, to: &Path) -> Result<(), Error> {
    fs::rename(from, to).map_err(|e| Error::io(to, e))?;
    if let Some(parent) = to.parent() {
        if let Ok(d) = fs::File::open(parent) {
            let _ = d.sync_all();
        }
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::bundle::{Artifact, DriftKind};

    fn bundle(files: &[(&str, &str)]) -> Bundle {
        let mut b = Bundle::new();
        for (p, text) in files {
            b.insert(*p, Artifact::file(*text));
        }
        b
    }

    fn tempdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("rmqgen-write-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    /// Every regular file under `dir`, relative path -> contents.
    fn tree(dir: &Path) -> BTreeMap<String, String> {
        fn walk(root: &Path, d: &Path, out: &mut BTreeMap<String, String>) {
            for e in fs::read_dir(d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    walk(root, &p, out);
                } else {
                    let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                    out.insert(rel, fs::read_to_string(&p).unwrap());
                }
            }
        }
        let mut out = BTreeMap::new();
        walk(dir, dir, &mut out);
        out
    }

    #[test]
    fn an_interrupted_write_is_rolled_forward_never_left_mixed() {
        let old = bundle(&[
            ("a/one", "old 1\n"),
            ("b/two", "old 2\n"),
            ("gone", "stale\n"),
        ]);
        let new = bundle(&[
            ("a/one", "new 1\n"),
            ("b/two", "new 2\n"),
            ("c/three", "new 3\n"),
        ]);
        // Crash after every possible number of renames (the journal lists
        // 3 changed files + the manifest).
        for crash_after in 0..4 {
            let dir = tempdir(&format!("crash-{crash_after}"));
            old.write(&dir, &WriteOptions::default()).unwrap();
            let before = tree(&dir);
            let err = new.write_until(&dir, &WriteOptions::default(), Some(crash_after));
            assert!(err.is_err());
            assert!(dir.join(JOURNAL).exists());
            assert_ne!(
                tree(&dir),
                before,
                "crash {crash_after}: something was renamed or staged"
            );
            // --check sees the interruption.
            assert!(new
                .check(&dir)
                .unwrap()
                .iter()
                .any(|d| d.kind == DriftKind::Interrupted));
            // The next write completes the interrupted one, then writes.
            let report = new.write(&dir, &WriteOptions::default()).unwrap();
            assert!(report.written.is_empty(), "crash {crash_after}: {report:?}");
            assert!(new.check(&dir).unwrap().is_empty(), "crash {crash_after}");
            let t = tree(&dir);
            assert_eq!(t.len(), 4, "{t:?}");
            assert_eq!(t["a/one"], "new 1\n");
            assert!(!t.contains_key("gone"));
            fs::remove_dir_all(&dir).unwrap();
        }
    }

    #[test]
    fn recover_alone_rolls_forward() {
        let dir = tempdir("recover");
        bundle(&[("x", "1\n")])
            .write(&dir, &WriteOptions::default())
            .unwrap();
        let new = bundle(&[("x", "2\n")]);
        assert!(new
            .write_until(&dir, &WriteOptions::default(), Some(0))
            .is_err());
        assert!(recover(&dir).unwrap());
        assert!(!recover(&dir).unwrap());
        assert!(new.check(&dir).unwrap().is_empty());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_hostile_journal_is_refused() {
        let dir = tempdir("hostile-journal");
        fs::create_dir_all(&dir).unwrap();
        let outside = tempdir("hostile-outside");
        fs::create_dir_all(&outside).unwrap();
        fs::write(outside.join("victim"), "keep").unwrap();
        let j = format!(
            r#"{{"renames": [], "removes": ["../{}/victim"]}}"#,
            outside.file_name().unwrap().to_string_lossy()
        );
        fs::write(dir.join(JOURNAL), j).unwrap();
        let err = bundle(&[("x", "1")])
            .write(&dir, &WriteOptions::default())
            .unwrap_err();
        assert!(
            err.to_string().contains("outside the output directory"),
            "{err}"
        );
        assert_eq!(fs::read_to_string(outside.join("victim")).unwrap(), "keep");
        fs::remove_dir_all(&dir).unwrap();
        fs::remove_dir_all(&outside).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn writes_never_follow_a_symlinked_directory_out() {
        let dir = tempdir("symlink-dir");
        let outside = tempdir("symlink-outside");
        fs::create_dir_all(&dir).unwrap();
        fs::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, dir.join("a")).unwrap();
        let err = bundle(&[("a/one", "x")])
            .write(&dir, &WriteOptions::default())
            .unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert!(
            fs::read_dir(&outside).unwrap().next().is_none(),
            "nothing written outside"
        );
        assert!(!dir.join(MANIFEST).exists());
        fs::remove_dir_all(&dir).unwrap();
        fs::remove_dir_all(&outside).unwrap();
    }
}
