//! The journaled writer: the only code that changes the output directory.
//!
//! The rules that keep a user's files safe:
//! - a file that exists but is not in the manifest is never overwritten,
//!   and neither is a file rmqgen wrote that was edited by hand since (its
//!   SHA-256 no longer matches the manifest). The write is refused before
//!   anything is written, naming every such file; `--force PATH` (one per
//!   path) overrides it for that path alone;
//! - files the previous render wrote and this one does not are removed,
//!   only if unchanged since; an edited one is kept and reported (removed
//!   only with `--force PATH`);
//! - every file is first staged under a temporary name beside its target;
//!   then a journal listing the renames and removals is written, carried
//!   out, and deleted. A write interrupted before the journal exists leaves
//!   the old tree; one interrupted after it is rolled forward by the next
//!   write ([`recover`]), so the directory never stays a mix of two renders.
//!
//! Durability is paid in three rounds of fsyncs, not two per file: each
//! round syncs every file and directory it needs from a few threads at once
//! (the filesystem commits concurrent syncs together), and each round
//! completes before the next step starts:
//! 1. the staged files, the staged journal and every directory that gained
//!    an entry: the staged data is durable before the journal exists under
//!    its name, so recovery never finds a journal whose files are missing.
//!    Every temporary file is created (empty) first, so its directory entry
//!    exists, and then the threads write and sync the files and sync the
//!    directories in one round;
//! 2. the journal's rename (the output directory): the journal is durable
//!    before the first rename;
//! 3. every directory a rename or removal changed: the new tree is durable
//!    before the journal is deleted, so a journal can never vanish while a
//!    rename it lists is undone. The deletion itself is not synced: a
//!    journal that reappears after a power cut lists only finished steps,
//!    and the next write clears it.

use std::collections::BTreeSet;
use std::fmt;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::{Deserialize, Serialize};

use super::{file_mode, read_manifest, safe_relative, sha256, Bundle, Manifest, MANIFEST};
use crate::error::Error;

/// Name of the journal of a write in progress, at the root of the output
/// directory. Its presence means a write was interrupted.
pub const JOURNAL: &str = ".rmqgen-journal.json";

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
    /// Relative paths that may be overwritten although rmqgen did not write
    /// them or they were edited by hand since (and stale files that may be
    /// removed although they were edited).
    pub force: Vec<String>,
}

/// A file [`Bundle::write`] refuses to overwrite without `--force PATH`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The file.
    pub path: PathBuf,
    /// Relative to the output directory: what `--force` takes.
    pub relative: String,
    /// Why it is refused.
    pub reason: RefusalReason,
}

/// Why a file is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalReason {
    /// It exists and rmqgen did not write it.
    Unmanaged,
    /// rmqgen wrote it, and it was edited by hand since.
    Edited,
}

impl Refusal {
    /// Every refusal, one a line, and how to override them.
    pub(crate) fn describe(refusals: &[Refusal]) -> String {
        Listed(refusals).to_string()
    }
}

struct Listed<'a>(&'a [Refusal]);

impl fmt::Display for Listed<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "refusing to overwrite {} file(s); nothing was written:",
            self.0.len()
        )?;
        for r in self.0 {
            let why = match r.reason {
                RefusalReason::Unmanaged => "exists and was not written by rmqgen",
                RefusalReason::Edited => "edited by hand since rmqgen wrote it",
            };
            writeln!(f, "  {}: {why}", r.path.display())?;
        }
        write!(
            f,
            "keep a copy of what you need, then pass --force PATH (relative to the output directory) for each file to overwrite"
        )
    }
}

/// What a write does once everything is staged.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Journal {
    /// (temporary file, target), relative to the output directory; the
    /// manifest last.
    renames: Vec<(String, String)>,
    /// Stale files to remove.
    removes: Vec<String>,
}

impl Journal {
    /// The journal as [`recover`] reads it: what `serde_json::to_vec_pretty`
    /// writes, built without its (here impossible) error path.
    fn to_bytes(&self) -> Vec<u8> {
        use serde_json::Value;
        let strings =
            |v: &[&String]| Value::Array(v.iter().map(|s| Value::from(s.as_str())).collect());
        let renames = self.renames.iter().map(|(a, b)| strings(&[a, b])).collect();
        let removes: Vec<&String> = self.removes.iter().collect();
        let mut doc = serde_json::Map::new();
        doc.insert("renames".into(), Value::Array(renames));
        doc.insert("removes".into(), strings(&removes));
        format!("{:#}", Value::Object(doc)).into_bytes()
    }
}

/// What preflight decided for each file.
#[derive(Default)]
struct Plan<'a> {
    /// Bundle files to (re)write, with their contents and mode.
    write: Vec<(&'a str, &'a [u8], u32)>,
    /// Stale files to remove.
    remove: Vec<String>,
    report: WriteReport,
}

impl Bundle {
    /// Writes the bundle into `dir` (created if missing), durably and all or
    /// nothing.
    ///
    /// A file that exists and that rmqgen did not write, or wrote and that
    /// was edited since (its hash no longer matches the manifest), is not
    /// overwritten unless `options.force` lists it: the write is refused
    /// with [`Error::Refused`], which names every such file, and nothing is
    /// written. Stale files (written by an earlier render, not part of this
    /// bundle) are removed if unchanged, kept and reported otherwise. Files
    /// are staged beside their targets and renamed into place under a
    /// journal; a write interrupted after the journal is rolled forward by
    /// the next one ([`recover`]).
    pub fn write(&self, dir: &Path, options: &WriteOptions) -> Result<WriteReport, Error> {
        self.write_until(dir, options, None)
    }

    /// [`Bundle::write`], stopping after `crash_after` renames as if the
    /// process died there (tests of the journal use it; as many renames as
    /// the journal lists stops before the removals).
    fn write_until(
        &self,
        dir: &Path,
        options: &WriteOptions,
        crash_after: Option<usize>,
    ) -> Result<WriteReport, Error> {
        let mut created = Vec::new();
        create_dirs(dir, &mut created)?;
        recover(dir)?;
        let old = read_manifest(dir)?;
        let Plan {
            write,
            remove,
            report,
        } = self.preflight(dir, &old, options)?;

        // Stage every changed file, the new manifest and the journal next to
        // their targets. Until the journal is renamed into place, the old
        // tree is untouched.
        let manifest = self.manifest();
        let mut journal = Journal {
            renames: Vec::new(),
            removes: remove,
        };
        let mut staged: Vec<PathBuf> = Vec::new();
        let journal_path = dir.join(JOURNAL);
        let staging = (|| {
            let all = write
                .iter()
                .copied()
                .chain([(MANIFEST, &manifest[..], 0o644)]);
            let mut items: Vec<Durable<'_>> = Vec::new();
            for (path, bytes, mode) in all {
                let target = dir.join(path);
                if let Some(parent) = target.parent() {
                    create_dirs(parent, &mut created)?;
                }
                items.push(Durable::Staged(
                    create_tmp(&target, &mut staged)?,
                    bytes,
                    mode,
                ));
                journal.renames.push((tmp_name(path), path.to_string()));
            }
            let bytes = journal.to_bytes();
            let journal_tmp = create_tmp(&journal_path, &mut staged)?;
            items.push(Durable::Staged(journal_tmp.clone(), &bytes, 0o644));
            // Round 1: every staged file written and synced, and every
            // directory entry naming one (all created above).
            let mut entries: BTreeSet<&Path> = staged.iter().map(|p| parent(p)).collect();
            entries.extend(created.iter().map(|p| parent(p)));
            items.extend(entries.into_iter().map(Durable::Dir));
            parallel(&items, Durable::run)?;
            // Round 2: the journal under its name.
            fs::rename(&journal_tmp, &journal_path).map_err(|e| Error::io(&journal_path, e))?;
            sync_all(&BTreeSet::from([dir.to_path_buf()])).inspect_err(|_| {
                let _ = fs::remove_file(&journal_path);
            })
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
        fs::remove_file(&journal_path).map_err(|e| Error::io(&journal_path, e))?;
        Ok(report)
    }

    /// Decides what to write, keep and remove, and refuses, before anything
    /// is written, every write that could touch a file rmqgen does not own
    /// (or no longer owns: edited by hand) or leave the output directory.
    /// Every refused file is named, not just the first.
    fn preflight<'a>(
        &'a self,
        dir: &Path,
        old: &Manifest,
        options: &WriteOptions,
    ) -> Result<Plan<'a>, Error> {
        let forced = |path: &str| options.force.iter().any(|f| f == path);
        let mut plan = Plan::default();
        let mut refused = Vec::new();
        let all = self
            .files
            .iter()
            .map(|(p, a)| (p.as_str(), Some(a)))
            .chain([(MANIFEST, None)]);
        for (path, artifact) in all {
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
            let meta = match fs::symlink_metadata(&full) {
                Ok(meta) => Some(meta),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(Error::io(&full, e)),
            };
            if let Some(meta) = &meta {
                if meta.file_type().is_symlink() || meta.is_dir() {
                    return Err(Error::Unmanaged {
                        path: full,
                        why: "it is a symbolic link or a directory".into(),
                    });
                }
            }
            let Some(artifact) = artifact else {
                // The manifest: ours unless it is not a manifest at all.
                if meta.is_some() && old.generator.is_empty() {
                    return Err(Error::Unmanaged {
                        path: full,
                        why: "it is not an rmqgen manifest".into(),
                    });
                }
                continue;
            };
            let on_disk = match meta {
                Some(_) => Some(fs::read(&full).map_err(|e| Error::io(&full, e))?),
                None => None,
            };
            let Some(on_disk) = on_disk else {
                plan.write.push((path, &artifact.bytes, artifact.mode));
                plan.report.written.push(path.to_string());
                continue;
            };
            // A file rmqgen did not write is refused even when it holds the
            // very bytes rmqgen would write: rmqgen never takes over a file
            // silently. One it wrote is refused only when overwriting it
            // would lose an edit.
            let refusal = if !old.files.contains_key(path) {
                Some(RefusalReason::Unmanaged)
            } else if on_disk != artifact.bytes && old.edited(path, &on_disk) {
                Some(RefusalReason::Edited)
            } else {
                None
            };
            match refusal {
                Some(reason) if !forced(path) => refused.push(Refusal {
                    path: full,
                    relative: path.to_string(),
                    reason,
                }),
                _ if on_disk == artifact.bytes && file_mode(&full)? == artifact.mode => {
                    plan.report.unchanged.push(path.to_string());
                }
                _ => {
                    plan.write.push((path, &artifact.bytes, artifact.mode));
                    plan.report.written.push(path.to_string());
                }
            }
        }
        if !refused.is_empty() {
            return Err(Error::Refused(refused));
        }

        // Files the previous render wrote and this one does not: removed if
        // unchanged since (or forced), kept and reported if edited by hand.
        for (path, entry) in &old.files {
            if self.files.contains_key(path) || safe_relative(path).is_none() {
                continue;
            }
            let full = dir.join(path);
            if !fs::symlink_metadata(&full).is_ok_and(|m| m.is_file()) {
                continue;
            }
            if forced(path) || fs::read(&full).is_ok_and(|b| sha256(&b) == entry.sha256) {
                plan.remove.push(path.clone());
                plan.report.removed.push(path.clone());
            } else {
                plan.report.kept.push(path.clone());
            }
        }
        Ok(plan)
    }
}

/// The temporary name a target is staged under (beside it).
fn tmp_name(path: &str) -> String {
    match path.rsplit_once('/') {
        Some((dir, name)) => format!("{dir}/.{name}.rmqgen-tmp"),
        None => format!(".{path}.rmqgen-tmp"),
    }
}

/// Carries out a journal, then syncs every directory it changed (round 3).
/// Idempotent: a rename whose temporary file is gone was done; a removed
/// file is already gone.
fn apply(dir: &Path, journal: &Journal, crash_after: Option<usize>) -> Result<(), Error> {
    // What the writer sees of a process that dies mid-write: the write
    // stops there, as on an I/O error.
    let simulated_crash = |dir: &Path| {
        Error::io(
            dir,
            std::io::Error::new(std::io::ErrorKind::Interrupted, "simulated crash"),
        )
    };
    let mut changed = BTreeSet::new();
    for (i, (tmp, target)) in journal.renames.iter().enumerate() {
        if crash_after == Some(i) {
            return Err(simulated_crash(dir));
        }
        let (tmp, target) = (dir.join(tmp), dir.join(target));
        if fs::symlink_metadata(&tmp).is_ok() {
            fs::rename(&tmp, &target).map_err(|e| Error::io(&target, e))?;
        }
        changed.extend(target.parent().map(Path::to_path_buf));
    }
    if crash_after == Some(journal.renames.len()) {
        return Err(simulated_crash(dir));
    }
    for path in &journal.removes {
        let full = dir.join(path);
        if fs::symlink_metadata(&full).is_ok_and(|m| m.is_file()) {
            fs::remove_file(&full).map_err(|e| Error::io(&full, e))?;
            remove_empty_parents(dir, &full, &mut changed);
        }
    }
    // A directory removed above is gone; its parent, also listed, records it.
    changed.retain(|d| d.is_dir());
    sync_all(&changed)
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

/// Threads that sync at once. fsync mostly waits on the device, so this is
/// not bounded by cores: it is how many syncs the filesystem can fold into
/// one journal commit. Measured on ext4 (2 cores, scripts/bench.sh): 2 and
/// 4 threads are clearly slower, 8 close, 16 best, 32 no better.
const SYNC_THREADS: usize = 16;

/// Syncs every path (files and directories) to stable storage, from up to
/// [`SYNC_THREADS`] threads at once, and returns once all are durable. The
/// first error wins; the others are dropped (the write fails either way).
fn sync_all(paths: &BTreeSet<PathBuf>) -> Result<(), Error> {
    let paths: Vec<&PathBuf> = paths.iter().collect();
    parallel(&paths, |p| sync_path(p))
}

/// Runs `task` on every item from up to [`SYNC_THREADS`] threads and
/// returns once all are done. The first error wins; the others are dropped
/// (the write fails either way).
fn parallel<T: Sync>(
    items: &[T],
    task: impl Fn(&T) -> Result<(), Error> + Sync,
) -> Result<(), Error> {
    let threads = items.len().min(SYNC_THREADS);
    if threads <= 1 {
        return items.iter().try_for_each(task);
    }
    let next = AtomicUsize::new(0);
    let worker = || -> Result<(), Error> {
        while let Some(item) = items.get(next.fetch_add(1, Ordering::Relaxed)) {
            task(item)?;
        }
        Ok(())
    };
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads).map(|_| s.spawn(worker)).collect();
        handles.into_iter().try_for_each(|h| {
            // A panic in a sync thread is a panic of this write (as
            // std::thread::scope would propagate it), not an error value.
            h.join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    })
}

/// fsync(2) of one file or directory.
fn sync_path(path: &Path) -> Result<(), Error> {
    let sync = fs::File::open(path).and_then(|f| f.sync_all());
    match sync {
        // Some filesystems cannot sync a directory; their renames are as
        // durable as they get.
        Err(e)
            if path.is_dir()
                && matches!(
                    e.kind(),
                    std::io::ErrorKind::InvalidInput | std::io::ErrorKind::Unsupported
                ) =>
        {
            Ok(())
        }
        r => r.map_err(|e| Error::io(path, e)),
    }
}

/// `fs::create_dir_all`, recording every directory it creates (their
/// parents gain an entry that must be synced).
fn create_dirs(dir: &Path, created: &mut Vec<PathBuf>) -> Result<(), Error> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        create_dirs(parent, created)?;
    }
    match fs::create_dir(dir) {
        Ok(()) => {
            created.push(dir.to_path_buf());
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(e) => Err(Error::io(dir, e)),
    }
}

/// The temporary name `target` is staged under (beside it).
fn tmp_path(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    target
        .parent()
        .unwrap_or(Path::new("."))
        .join(format!(".{name}.rmqgen-tmp"))
}

/// The directory that holds `path`'s entry: `.` for a bare relative name,
/// where `Path::parent` gives an empty path, which cannot be opened (a
/// fresh `--out infra` failed on syncing it).
fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Creates the (empty) temporary file `target` is staged under, so its
/// directory entry exists before the round that syncs it, and records it.
fn create_tmp(target: &Path, staged: &mut Vec<PathBuf>) -> Result<PathBuf, Error> {
    let tmp = tmp_path(target);
    staged.push(tmp.clone());
    fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
    Ok(tmp)
}

/// One durable step of round 1.
enum Durable<'a> {
    /// Write the contents of a created temporary file, set its mode and
    /// sync it.
    Staged(PathBuf, &'a [u8], u32),
    /// Sync a directory's entries.
    Dir(&'a Path),
}

impl Durable<'_> {
    fn run(&self) -> Result<(), Error> {
        match self {
            Durable::Staged(tmp, bytes, mode) => {
                let write = || -> std::io::Result<()> {
                    let mut f = fs::OpenOptions::new().write(true).open(tmp)?;
                    f.write_all(bytes)?;
                    set_mode(&f, *mode)?;
                    f.sync_all()
                };
                write().map_err(|e| Error::io(tmp, e))
            }
            Durable::Dir(dir) => sync_path(dir),
        }
    }
}

/// Removes the directories `file`'s removal left empty, up to `root`, and
/// records every directory whose entries changed.
fn remove_empty_parents(root: &Path, file: &Path, changed: &mut BTreeSet<PathBuf>) {
    let mut dir = file.parent();
    while let Some(d) = dir {
        changed.insert(d.to_path_buf());
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
    #[test]
    fn journal_bytes_are_what_serde_json_writes() {
        for journal in [
            Journal::default(),
            Journal {
                renames: vec![
                    ("a/.x.rmqgen-tmp".into(), "a/x".into()),
                    (
                        ".rmqgen-manifest.json.rmqgen-tmp".into(),
                        "m \"q\" \\ é".into(),
                    ),
                ],
                removes: vec!["old/file".into(), "tab\there".into()],
            },
        ] {
            let bytes = journal.to_bytes();
            assert_eq!(bytes, serde_json::to_vec_pretty(&journal).unwrap());
            let back: Journal = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(
                (back.renames, back.removes),
                (journal.renames, journal.removes)
            );
        }
    }

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
        // 3 changed files + the manifest; after all 4, before the removal).
        for crash_after in 0..=4 {
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

    /// A bundle of 2 files written to a fresh directory, plus a hand edit
    /// of each file named in `edit`.
    fn written_then_edited(name: &str, edit: &[&str]) -> (PathBuf, Bundle) {
        let dir = tempdir(name);
        let b = bundle(&[("a/one", "1\n"), ("b/two", "2\n"), ("three", "3\n")]);
        b.write(&dir, &WriteOptions::default()).unwrap();
        for p in edit {
            let mut f = fs::OpenOptions::new()
                .append(true)
                .open(dir.join(p))
                .unwrap();
            f.write_all(b"# mine\n").unwrap();
        }
        (dir, b)
    }

    #[test]
    fn every_hand_edited_file_is_refused_and_nothing_is_written() {
        let (dir, _) = written_then_edited("edited", &["a/one", "three"]);
        fs::write(dir.join("b/new"), "not rmqgen's\n").unwrap();
        let before = tree(&dir);
        // The new render changes every file and adds b/new: each edited file
        // and the unmanaged one are refused, all of them named.
        let new = bundle(&[
            ("a/one", "one\n"),
            ("b/two", "two\n"),
            ("b/new", "new\n"),
            ("three", "three\n"),
        ]);
        assert_eq!(
            new.check(&dir)
                .unwrap()
                .iter()
                .map(|d| (d.path.as_str(), d.kind))
                .collect::<Vec<_>>(),
            [
                (MANIFEST, DriftKind::Changed),
                ("a/one", DriftKind::Edited),
                ("b/new", DriftKind::Changed),
                ("b/two", DriftKind::Changed),
                ("three", DriftKind::Edited),
            ]
        );
        let err = new.write(&dir, &WriteOptions::default()).unwrap_err();
        let Error::Refused(refused) = &err else {
            panic!("{err}")
        };
        let named: Vec<_> = refused
            .iter()
            .map(|r| (r.relative.as_str(), r.reason, r.path.clone()))
            .collect();
        assert_eq!(
            named,
            [
                ("a/one", RefusalReason::Edited, dir.join("a/one")),
                ("b/new", RefusalReason::Unmanaged, dir.join("b/new")),
                ("three", RefusalReason::Edited, dir.join("three")),
            ]
        );
        let message = err.to_string();
        for p in ["a/one", "b/new", "three"] {
            assert!(
                message.contains(&dir.join(p).display().to_string()),
                "{message}"
            );
        }
        assert!(message.contains("--force PATH"), "{message}");
        assert_eq!(tree(&dir), before, "a refused write changes nothing");

        // --force for one path is not enough while others are refused.
        let force = |paths: &[&str]| WriteOptions {
            force: paths.iter().map(|p| p.to_string()).collect(),
        };
        let err = new.write(&dir, &force(&["a/one"])).unwrap_err();
        assert!(matches!(&err, Error::Refused(r) if r.len() == 2), "{err}");
        assert_eq!(tree(&dir), before);

        // Forcing all of them overwrites exactly those.
        let report = new
            .write(&dir, &force(&["a/one", "b/new", "three"]))
            .unwrap();
        assert_eq!(report.written, ["a/one", "b/new", "b/two", "three"]);
        assert!(new.check(&dir).unwrap().is_empty());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_edit_is_refused_even_when_the_spec_did_not_change() {
        let (dir, b) = written_then_edited("edited-same", &["b/two"]);
        let edited = fs::read_to_string(dir.join("b/two")).unwrap();
        let err = b.write(&dir, &WriteOptions::default()).unwrap_err();
        assert!(matches!(&err, Error::Refused(r) if r.len() == 1), "{err}");
        assert_eq!(fs::read_to_string(dir.join("b/two")).unwrap(), edited);
        // An edit that undoes itself is no edit: nothing to refuse.
        fs::write(dir.join("b/two"), "2\n").unwrap();
        let report = b.write(&dir, &WriteOptions::default()).unwrap();
        assert_eq!(report.unchanged.len(), 3, "{report:?}");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_edited_stale_file_is_kept_unless_forced() {
        let (dir, _) = written_then_edited("stale-edited", &["three"]);
        let smaller = bundle(&[("a/one", "1\n")]);
        assert_eq!(
            smaller
                .check(&dir)
                .unwrap()
                .iter()
                .map(|d| (d.path.as_str(), d.kind))
                .collect::<Vec<_>>(),
            [
                (MANIFEST, DriftKind::Changed),
                ("b/two", DriftKind::Stale),
                ("three", DriftKind::Stale),
            ]
        );
        let report = smaller.write(&dir, &WriteOptions::default()).unwrap();
        assert_eq!(report.removed, ["b/two"]);
        assert_eq!(report.kept, ["three"]);
        assert_eq!(
            fs::read_to_string(dir.join("three")).unwrap(),
            "3\n# mine\n"
        );
        assert!(!dir.join("b").exists(), "its empty directory went too");

        // Forced, an edited stale file goes (the write before has already
        // dropped it from the manifest, so write over a fresh manifest).
        let (dir2, _) = written_then_edited("stale-forced", &["three"]);
        let forced = WriteOptions {
            force: vec!["three".into()],
        };
        let report = smaller.write(&dir2, &forced).unwrap();
        assert_eq!(report.removed, ["b/two", "three"]);
        assert!(report.kept.is_empty());
        assert!(smaller.check(&dir2).unwrap().is_empty());
        fs::remove_dir_all(&dir).unwrap();
        fs::remove_dir_all(&dir2).unwrap();
    }

    #[test]
    fn sync_all_reports_the_failing_path() {
        let dir = tempdir("sync");
        fs::create_dir_all(&dir).unwrap();
        let mut paths: BTreeSet<PathBuf> = (0..40)
            .map(|i| {
                let p = dir.join(format!("f{i}"));
                fs::write(&p, "x").unwrap();
                p
            })
            .collect();
        paths.insert(dir.clone());
        sync_all(&paths).unwrap();
        paths.insert(dir.join("missing"));
        let err = sync_all(&paths).unwrap_err();
        assert!(err.to_string().contains("missing"), "{err}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
