//! A scratch directory for the tests that write files, shared by
//! `tests/secrets.rs`, `tests/terraform_tools.rs` and `tests/nix_tools.rs`
//! (each includes this file with `#[path = "common/temp_dir.rs"] mod
//! temp_dir;`).
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// `rmqgen-test-<pid>-<n>-<tag>`: the process id and a counter keep
    /// test binaries and the tests of one binary apart, `tag` says whose
    /// it is. A leftover of an earlier process with the same id is removed
    /// first.
    pub fn new(tag: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "rmqgen-test-{}-{}-{tag}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
