//! A scratch directory for the tests that write files, and the one way
//! they write a file with an exact mode. Used by `secrets`,
//! `terraform_tools`, `nix_tools` and `safe_writes`, and re-exported by
//! `real_tools::harness` for the real-tool tests and the lab.
#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A private directory (0700), removed on drop, even when a test panics.
pub struct TempDir(PathBuf);

impl TempDir {
    /// A new, empty directory, `rmqgen-rt-<label>-<pid>-<n>-<nanos>`: the
    /// lab recognises its own (`rmqgen-rt-lab-...`) by the pid when a
    /// killed run left one behind.
    pub fn new(label: &str) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir().join(format!(
            "rmqgen-rt-{label}-{}-{}-{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        Self(path)
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Writes `bytes` to `rel` (parents created 0700) with `mode`.
    pub fn write(&self, rel: &str, bytes: &[u8], mode: u32) -> PathBuf {
        write_file(&self.0.join(rel), bytes, mode)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if let Err(e) = fs::remove_dir_all(&self.0) {
            eprintln!("warning: could not remove {}: {e}", self.0.display());
        }
    }
}

/// Writes a file with an exact mode, creating parent directories 0700.
pub fn write_file(path: &Path, bytes: &[u8], mode: u32) -> PathBuf {
    if let Some(parent) = path.parent() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", parent.display()));
    }
    fs::write(path, bytes).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    // Set explicitly: the umask must not decide what keepalived's script
    // security or RabbitMQ see.
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("cannot chmod {}: {e}", path.display()));
    path.to_path_buf()
}
