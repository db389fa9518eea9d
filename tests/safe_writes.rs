//! `rmqgen render` on hostile filesystems (run with
//! `cargo test --test integration safe_writes:: -- --ignored`; needs root for mounts):
//! a full disk and a read-only directory must fail cleanly — exit 2, a
//! message naming the problem, and the previous tree intact and consistent
//! (`--check` still passes against the old spec) — never a half-written mix.
//!
//! Each case runs the real binary inside a private mount namespace
//! (`unshare -m`) on a small tmpfs, so the host's filesystems are untouched.

use std::path::Path;
use std::process::Command;

use crate::common::temp_dir::TempDir;

const BIN: &str = env!("CARGO_BIN_EXE_rmqgen");

fn root_with_unshare() -> bool {
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let has_unshare = Command::new("sh")
        .args(["-c", "command -v unshare"])
        .output()
        .is_ok_and(|o| o.status.success());
    if is_root && has_unshare {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("these tests need root and unshare in CI");
    }
    eprintln!("skipping: needs root and unshare (util-linux)");
    false
}

fn example(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

/// Runs `script` with `sh` in a private mount namespace; returns
/// (exit code, stdout, stderr).
fn in_mount_ns(script: &str) -> (i32, String, String) {
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-eu", "-c", script])
        .output()
        .expect("unshare");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
#[ignore = "needs root: mounts a tiny tmpfs"]
fn a_full_disk_fails_cleanly_and_keeps_the_old_tree() {
    if !root_with_unshare() {
        return;
    }
    // The mount point; the tmpfs is mounted in a private mount namespace.
    let tmp = TempDir::new("fulldisk");
    let dir = tmp.path();
    let (small, big) = (
        example("five-vm.json"),
        example("five-brokers-three-lbs.json"),
    );
    // Fill the tmpfs after the first render so the bigger bundle cannot fit.
    let script = format!(
        r#"
        mount -t tmpfs -o size=512k tmpfs {d}
        {bin} render {small} --out {d}/infra 2>/dev/null
        dd if=/dev/zero of={d}/filler bs=4k 2>/dev/null || true
        set +e
        {bin} render {big} --out {d}/infra
        echo "render-exit=$?"
        rm -f {d}/filler
        {bin} render {small} --out {d}/infra --check
        echo "check-exit=$?"
        ls -A {d}/infra
        "#,
        d = dir.display(),
        bin = BIN,
    );
    let (code, stdout, stderr) = in_mount_ns(&script);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("render-exit=2"), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("No space left on device"),
        "the error names the cause: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    // The old tree is whole: the old spec still checks clean, and no
    // journal or staged file is left behind.
    assert!(stdout.contains("check-exit=0"), "{stdout}\n{stderr}");
    assert!(
        !stdout.contains("rmqgen-tmp"),
        "staged files left: {stdout}"
    );
    assert!(!stdout.contains(".rmqgen-journal.json"), "{stdout}");
}

#[test]
#[ignore = "needs root: mounts a read-only tmpfs"]
fn a_read_only_directory_fails_cleanly() {
    if !root_with_unshare() {
        return;
    }
    // The mount point; the tmpfs is mounted in a private mount namespace.
    let tmp = TempDir::new("readonly");
    let dir = tmp.path();
    let (old, new) = (example("five-vm.json"), example("quorum-4x.json"));
    let script = format!(
        r#"
        mount -t tmpfs -o size=4m tmpfs {d}
        {bin} render {old} --out {d}/infra 2>/dev/null
        mount -o remount,ro {d}
        set +e
        {bin} render {new} --out {d}/infra
        echo "render-exit=$?"
        {bin} render {old} --out {d}/infra --check
        echo "check-exit=$?"
        "#,
        d = dir.display(),
        bin = BIN,
    );
    let (code, stdout, stderr) = in_mount_ns(&script);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("render-exit=2"), "{stdout}\n{stderr}");
    assert!(stderr.contains("Read-only file system"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stdout.contains("check-exit=0"), "{stdout}\n{stderr}");
}
