//! The `rmqgen` binary, driven as a user would: real processes, real files
//! in throwaway directories under the system temp dir.
//!
//! Exit codes: 0 ok, 1 invalid spec or drift, 2 usage or I/O error.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;
use sha2::{Digest, Sha256};

const FIVE_VM: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/five-vm.json");
const THREE_LBS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/examples/five-brokers-three-lbs.json"
);
const MALFORMED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/invalid/malformed.json");
const MANIFEST: &str = ".rmqgen-manifest.json";

/// A directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "rmqgen-cli-test-{}-{}-{tag}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    fn join(&self, p: &str) -> PathBuf {
        self.0.join(p)
    }

    /// Writes a file (creating parents) and returns its path as a string.
    fn write(&self, rel: &str, contents: impl AsRef<[u8]>) -> String {
        let p = self.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, contents).unwrap();
        p.to_str().unwrap().to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What one run of the binary did.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn rmqgen(args: &[&str]) -> Run {
    rmqgen_with_stdin(args, None)
}

fn rmqgen_with_stdin(args: &[&str], stdin: Option<&[u8]>) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rmqgen"))
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the rmqgen binary runs");
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let run = Run {
        code: out.status.code().expect("rmqgen was killed by a signal"),
        stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
    };
    assert!(
        !run.stderr.contains("panicked"),
        "rmqgen {args:?} panicked:\n{}",
        run.stderr
    );
    run
}

#[track_caller]
fn assert_exit(run: &Run, code: i32) {
    assert_eq!(
        run.code, code,
        "expected exit {code}\n--- stdout\n{}--- stderr\n{}",
        run.stdout, run.stderr
    );
}

/// Every regular file under `dir`, by `/`-separated relative path.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).unwrap();
                let rel = rel
                    .components()
                    .map(|c| c.as_os_str().to_str().unwrap())
                    .collect::<Vec<_>>()
                    .join("/");
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    if dir.exists() {
        walk(dir, dir, &mut out);
    }
    out
}

fn compile(path: &str) -> rmqgen::Output {
    rmqgen::compile(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

/// The three-LB example without its third load balancer.
fn two_lb_variant(tmp: &TempDir) -> String {
    let mut doc: Value =
        serde_json::from_str(&std::fs::read_to_string(THREE_LBS).unwrap()).unwrap();
    let lbs = doc["load_balancers"].as_array_mut().unwrap();
    assert_eq!(lbs.pop().unwrap()["name"], "events-lb-3");
    tmp.write(
        "two-lbs.json",
        serde_json::to_string_pretty(&doc).unwrap() + "\n",
    )
}

/// five-vm.json with six independent mistakes, each giving one error.
fn six_mistakes(tmp: &TempDir) -> String {
    let mut doc: Value = serde_json::from_str(&rmqgen::reference_spec()).unwrap();
    doc["name"] = "RMQ Prod".into(); // RMQ010
    doc["vip"] = "192.168.248.160".into(); // RMQ021
    doc["rabbitmq"]["version"] = "5.0".into(); // RMQ040
    doc["keepalived"]["virtual_router_id"] = 300.into(); // RMQ060
    doc["haproxy"]["timeouts"] = serde_json::json!({ "client_s": 10 }); // RMQ050
    doc["load_balancers"][0]["initial_state"] = "MASTER".into(); // RMQ064

    // A key, so the six errors come alone (no RMQ108 warning).
    doc["ssh_authorized_keys"] = serde_json::json!([
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMvyTg3GlU7Ww6y4YDvvX2QGq5KJf4bL8RdfM+6T5Ie9 ops@example"
    ]);
    tmp.write("six.json", serde_json::to_string_pretty(&doc).unwrap())
}

const SIX_CODES: [(&str, &str); 6] = [
    ("RMQ010", "/name"),
    ("RMQ021", "/vip"),
    ("RMQ040", "/rabbitmq/version"),
    ("RMQ060", "/keepalived/virtual_router_id"),
    ("RMQ050", "/haproxy/timeouts/client_s"),
    ("RMQ064", "/load_balancers/0/initial_state"),
];

// ---------------------------------------------------------------------------
// render
// ---------------------------------------------------------------------------

#[test]
fn render_writes_every_artifact_and_the_manifest() {
    let tmp = TempDir::new("render");
    let out = tmp.join("infra");
    let run = rmqgen(&["render", FIVE_VM, "--out", s(&out)]);
    assert_exit(&run, 0);
    // The deprecation warning of the reference spec goes to stderr.
    assert!(run.stderr.contains("warning[RMQ042]"), "{}", run.stderr);
    assert!(run.stdout.is_empty(), "render prints data only on --check");

    let bundle = compile(FIVE_VM).bundle;
    let on_disk = files(&out);
    let mut expected: Vec<&str> = bundle.iter().map(|(p, _)| p).collect();
    expected.push(MANIFEST);
    expected.sort();
    assert_eq!(
        on_disk.keys().map(String::as_str).collect::<Vec<_>>(),
        expected
    );
    for (path, artifact) in bundle.iter() {
        assert_eq!(on_disk[path], artifact.bytes, "{path}");
        #[cfg(unix)]
        assert_eq!(mode(&out.join(path)), artifact.mode, "{path}");
    }
    assert!(
        run.stderr
            .contains(&format!("{} written, 0 unchanged, 0 removed", bundle.len())),
        "{}",
        run.stderr
    );

    // The manifest lists every file with its hash and mode, and nothing else.
    let manifest: Value = serde_json::from_slice(&on_disk[MANIFEST]).unwrap();
    assert_eq!(manifest["generator"], "rmqgen");
    let entries = manifest["files"].as_object().unwrap();
    assert_eq!(entries.len(), bundle.len());
    for (path, artifact) in bundle.iter() {
        let hash: String = Sha256::digest(&artifact.bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(entries[path]["sha256"], hash.as_str(), "{path}");
        assert_eq!(
            entries[path]["mode"],
            format!("{:04o}", artifact.mode).as_str(),
            "{path}"
        );
    }
    // No temporary file is left behind.
    assert!(
        on_disk.keys().all(|p| !p.contains("rmqgen-tmp")),
        "{:?}",
        on_disk.keys()
    );
}

/// `--out infra`, relative and not there yet: its parent is the working
/// directory, whose new entry is synced as `.` (an empty parent path cannot
/// be opened: this once failed with "No such file or directory").
#[test]
fn render_into_a_new_relative_directory() {
    let tmp = TempDir::new("relative");
    let out = Command::new(env!("CARGO_BIN_EXE_rmqgen"))
        .args(["render", FIVE_VM, "--out", "infra/new"])
        .current_dir(&tmp.0)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let bundle = compile(FIVE_VM).bundle;
    let on_disk = files(&tmp.join("infra/new"));
    assert_eq!(on_disk.len(), bundle.len() + 1, "{:?}", on_disk.keys());
    let check = rmqgen(&[
        "render",
        FIVE_VM,
        "--out",
        s(&tmp.join("infra/new")),
        "--check",
    ]);
    assert_exit(&check, 0);
}

#[test]
fn rendering_twice_gives_identical_bytes_and_reports_everything_unchanged() {
    let tmp = TempDir::new("twice");
    let out = tmp.join("infra");
    assert_exit(&rmqgen(&["render", FIVE_VM, "--out", s(&out)]), 0);
    let first = files(&out);
    let run = rmqgen(&["render", FIVE_VM, "--out", s(&out)]);
    assert_exit(&run, 0);
    assert_eq!(files(&out), first);
    let n = first.len() - 1; // the manifest is not counted
    assert!(
        run.stderr
            .contains(&format!("0 written, {n} unchanged, 0 removed")),
        "{}",
        run.stderr
    );

    // A second output directory gets the same bytes (another process, so
    // another hash seed: catches HashMap iteration order in the output).
    let other = tmp.join("again");
    assert_exit(&rmqgen(&["render", FIVE_VM, "--out", s(&other)]), 0);
    assert_eq!(files(&other), first);
}

#[test]
fn render_reads_the_spec_from_stdin() {
    let tmp = TempDir::new("stdin-render");
    let out = tmp.join("infra");
    let spec = std::fs::read(FIVE_VM).unwrap();
    let run = rmqgen_with_stdin(&["render", "-", "--out", s(&out)], Some(&spec));
    assert_exit(&run, 0);
    assert_eq!(files(&out).len(), compile(FIVE_VM).bundle.len() + 1);
}

#[test]
fn render_of_an_invalid_spec_writes_nothing() {
    let tmp = TempDir::new("invalid-render");
    let spec = six_mistakes(&tmp);
    let out = tmp.join("infra");
    let run = rmqgen(&["render", &spec, "--out", s(&out)]);
    assert_exit(&run, 1);
    assert!(
        run.stderr.contains("6 error(s); nothing written"),
        "{}",
        run.stderr
    );
    assert!(!out.exists(), "the output directory was created");

    let run = rmqgen(&["render", MALFORMED, "--out", s(&out)]);
    assert_exit(&run, 1);
    assert!(!out.exists());
}

// ---------------------------------------------------------------------------
// render --check
// ---------------------------------------------------------------------------

#[test]
fn check_passes_on_a_fresh_render_and_writes_nothing() {
    let tmp = TempDir::new("check-fresh");
    let out = tmp.join("infra");
    assert_exit(&rmqgen(&["render", FIVE_VM, "--out", s(&out)]), 0);
    let before = files(&out);
    let run = rmqgen(&["render", FIVE_VM, "--out", s(&out), "--check"]);
    assert_exit(&run, 0);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert!(run.stderr.contains("is up to date"), "{}", run.stderr);
    assert_eq!(files(&out), before);
}

#[test]
fn check_fails_and_lists_a_hand_edited_file() {
    let tmp = TempDir::new("check-edit");
    let out = tmp.join("infra");
    assert_exit(&rmqgen(&["render", FIVE_VM, "--out", s(&out)]), 0);
    let edited = "haproxy/haproxy-1/haproxy.cfg";
    let mut text = std::fs::read_to_string(out.join(edited)).unwrap();
    text = text.replace("timeout client 180s", "timeout client 10s");
    std::fs::write(out.join(edited), &text).unwrap();

    let run = rmqgen(&["render", FIVE_VM, "--out", s(&out), "--check"]);
    assert_exit(&run, 1);
    // `edited`, not `changed`: the manifest's hash shows the file is not
    // what rmqgen wrote, so `render` will refuse it.
    assert_eq!(run.stdout, format!("edited\t{edited}\n"));
    assert!(run.stderr.contains("1 file(s)"), "{}", run.stderr);
    assert!(run.stderr.contains("--force PATH"), "{}", run.stderr);
    // --check wrote nothing: the edit is still there.
    assert_eq!(std::fs::read_to_string(out.join(edited)).unwrap(), text);
}

/// Appends a line to each of `paths` under `out`, as a user editing the
/// generated files would.
fn append_line(out: &Path, paths: &[&str]) {
    for p in paths {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(out.join(p))
            .unwrap();
        writeln!(f, "# added by hand").unwrap();
    }
}

#[test]
fn render_refuses_to_overwrite_a_hand_edited_file_and_names_it() {
    let tmp = TempDir::new("edit-refused");
    let out = tmp.join("infra");
    assert_exit(&rmqgen(&["render", FIVE_VM, "--out", s(&out)]), 0);
    let edited = "haproxy/haproxy-1/haproxy.cfg";
    append_line(&out, &[edited]);
    let before = files(&out);

    let run = rmqgen(&["render", FIVE_VM, "--out", s(&out)]);
    assert_exit(&run, 2);
    assert!(
        run.stderr.contains(&format!(
            "{}: edited by hand since rmqgen wrote it",
            s(&out.join(edited))
        )),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("nothing was written"), "{}", run.stderr);
    assert!(run.stderr.contains("--force PATH"), "{}", run.stderr);
    assert!(!run.stderr.contains("written,"), "{}", run.stderr);
    // The output directory is untouched, to the byte: the edit, the manifest,
    // and no staged file or journal left behind.
    assert_eq!(files(&out), before);
}

#[test]
fn render_names_every_hand_edited_file_not_just_the_first() {
    let tmp = TempDir::new("edit-all");
    let out = tmp.join("infra");
    assert_exit(&rmqgen(&["render", FIVE_VM, "--out", s(&out)]), 0);
    let edited = [
        "haproxy/haproxy-1/haproxy.cfg",
        "keepalived/haproxy-2/keepalived.conf",
        "rabbitmq/rabbitmq.conf",
    ];
    append_line(&out, &edited);
    // And one file rmqgen never wrote where the bundle has one.
    let foreign = "hosts/etc-hosts";
    assert!(out.join(foreign).exists(), "the bundle has {foreign}");
    let mut manifest: Value =
        serde_json::from_slice(&std::fs::read(out.join(MANIFEST)).unwrap()).unwrap();
    manifest["files"].as_object_mut().unwrap().remove(foreign);
    std::fs::write(out.join(MANIFEST), manifest.to_string()).unwrap();
    let before = files(&out);

    // --check lists each edited file as edited.
    let run = rmqgen(&["render", FIVE_VM, "--out", s(&out), "--check"]);
    assert_exit(&run, 1);
    for p in edited {
        assert!(
            run.stdout.contains(&format!("edited\t{p}\n")),
            "{}",
            run.stdout
        );
    }

    let run = rmqgen(&["render", FIVE_VM, "--out", s(&out)]);
    assert_exit(&run, 2);
    assert!(run.stderr.contains("4 file(s)"), "{}", run.stderr);
    for p in edited {
        assert!(
            run.stderr.contains(&format!(
                "{}: edited by hand since rmqgen wrote it",
                s(&out.join(p))
            )),
            "{p}: {}",
            run.stderr
        );
    }
    assert!(
        run.stderr.contains(&format!(
            "{}: exists and was not written by rmqgen",
            s(&out.join(foreign))
        )),
        "{}",
        run.stderr
    );
    assert_eq!(files(&out), before);
}

#[test]
fn force_replaces_exactly_the_forced_edited_file() {
    let tmp = TempDir::new("edit-force");
    let out = tmp.join("infra");
    assert_exit(&rmqgen(&["render", FIVE_VM, "--out", s(&out)]), 0);
    let fresh = files(&out);
    let (forced, other) = (
        "haproxy/haproxy-1/haproxy.cfg",
        "keepalived/haproxy-2/keepalived.conf",
    );
    append_line(&out, &[forced, other]);
    let edited = files(&out);

    // Forcing one of two edited files is not enough: still refused, still
    // untouched, and only the unforced one is named.
    let run = rmqgen(&["render", FIVE_VM, "--out", s(&out), "--force", forced]);
    assert_exit(&run, 2);
    assert!(run.stderr.contains(s(&out.join(other))), "{}", run.stderr);
    assert!(!run.stderr.contains(s(&out.join(forced))), "{}", run.stderr);
    assert_eq!(files(&out), edited);

    // Forcing both replaces both; nothing else is rewritten.
    let run = rmqgen(&[
        "render",
        FIVE_VM,
        "--out",
        s(&out),
        "--force",
        forced,
        "--force",
        other,
    ]);
    assert_exit(&run, 0);
    let unchanged = fresh.len() - 1 - 2; // all but the manifest and the two
    assert!(
        run.stderr
            .contains(&format!("2 written, {unchanged} unchanged, 0 removed")),
        "{}",
        run.stderr
    );
    assert_eq!(files(&out), fresh);

    // One edited file, forced: exactly that file changes on disk.
    append_line(&out, &[forced]);
    let before = files(&out);
    let run = rmqgen(&["render", FIVE_VM, "--out", s(&out), "--force", forced]);
    assert_exit(&run, 0);
    let after = files(&out);
    let differ: Vec<&String> = after
        .keys()
        .filter(|p| before.get(*p) != after.get(*p))
        .collect();
    assert_eq!(differ, [forced]);
    assert_eq!(after, fresh);
    assert_exit(
        &rmqgen(&["render", FIVE_VM, "--out", s(&out), "--check"]),
        0,
    );
}

#[test]
fn check_fails_and_lists_a_deleted_file() {
    let tmp = TempDir::new("check-delete");
    let out = tmp.join("infra");
    assert_exit(&rmqgen(&["render", FIVE_VM, "--out", s(&out)]), 0);
    let deleted = "keepalived/haproxy-2/keepalived.conf";
    std::fs::remove_file(out.join(deleted)).unwrap();

    let run = rmqgen(&["render", FIVE_VM, "--out", s(&out), "--check"]);
    assert_exit(&run, 1);
    assert_eq!(run.stdout, format!("missing\t{deleted}\n"));
    assert!(!out.join(deleted).exists(), "--check must not write");
}

#[cfg(unix)]
#[test]
fn check_fails_on_a_changed_mode_and_render_repairs_it() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = TempDir::new("check-mode");
    let out = tmp.join("infra");
    assert_exit(&rmqgen(&["render", FIVE_VM, "--out", s(&out)]), 0);
    let script = "keepalived/check-haproxy.sh";
    std::fs::set_permissions(out.join(script), std::fs::Permissions::from_mode(0o644)).unwrap();

    let run = rmqgen(&["render", FIVE_VM, "--out", s(&out), "--check"]);
    assert_exit(&run, 1);
    assert_eq!(run.stdout, format!("mode\t{script}\n"));

    assert_exit(&rmqgen(&["render", FIVE_VM, "--out", s(&out)]), 0);
    assert_eq!(mode(&out.join(script)), 0o755);
}

#[test]
fn check_of_an_empty_directory_lists_every_file_as_missing() {
    let tmp = TempDir::new("check-empty");
    let out = tmp.join("never-rendered");
    let run = rmqgen(&["render", FIVE_VM, "--out", s(&out), "--check"]);
    assert_exit(&run, 1);
    let bundle = compile(FIVE_VM).bundle;
    let listed: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(listed.len(), bundle.len() + 1, "{}", run.stdout);
    assert!(listed.iter().all(|l| l.starts_with("missing\t")));
    assert!(listed.contains(&"missing\t.rmqgen-manifest.json"));
    assert!(!out.exists(), "--check created the directory");
}

// ---------------------------------------------------------------------------
// Files rmqgen did not write
// ---------------------------------------------------------------------------

#[test]
fn render_refuses_to_overwrite_a_file_it_did_not_write() {
    let tmp = TempDir::new("refuse");
    let out = tmp.join("infra");
    let foreign = "haproxy/haproxy-1/haproxy.cfg";
    tmp.write(&format!("infra/{foreign}"), "# my own haproxy.cfg\n");

    let run = rmqgen(&["render", FIVE_VM, "--out", s(&out)]);
    assert_exit(&run, 2);
    assert!(
        run.stderr.contains(s(&out.join(foreign))) && run.stderr.contains("--force"),
        "{}",
        run.stderr
    );
    // Nothing else was written, and the file is untouched.
    let on_disk = files(&out);
    assert_eq!(on_disk.keys().collect::<Vec<_>>(), [foreign]);
    assert_eq!(on_disk[foreign], b"# my own haproxy.cfg\n");

    // --force for another path does not help.
    let run = rmqgen(&[
        "render",
        FIVE_VM,
        "--out",
        s(&out),
        "--force",
        "haproxy/haproxy-2/haproxy.cfg",
    ]);
    assert_exit(&run, 2);
    assert_eq!(files(&out).len(), 1);

    // --force PATH overrides for that file.
    let run = rmqgen(&["render", FIVE_VM, "--out", s(&out), "--force", foreign]);
    assert_exit(&run, 0);
    let bundle = compile(FIVE_VM).bundle;
    assert_eq!(
        std::fs::read(out.join(foreign)).unwrap(),
        bundle.get(foreign).unwrap().bytes
    );
    // From now on rmqgen owns it: no --force needed.
    assert_exit(&rmqgen(&["render", FIVE_VM, "--out", s(&out)]), 0);
    assert_exit(
        &rmqgen(&["render", FIVE_VM, "--out", s(&out), "--check"]),
        0,
    );
}

#[test]
fn render_refuses_a_manifest_it_did_not_write() {
    let tmp = TempDir::new("bad-manifest");
    let out = tmp.join("infra");
    tmp.write(&format!("infra/{MANIFEST}"), "not json\n");
    let run = rmqgen(&["render", FIVE_VM, "--out", s(&out)]);
    assert_exit(&run, 2);
    assert!(run.stderr.contains(MANIFEST), "{}", run.stderr);
    assert_eq!(files(&out).len(), 1);
}

// ---------------------------------------------------------------------------
// Stale files
// ---------------------------------------------------------------------------

#[test]
fn files_the_new_spec_no_longer_produces_are_removed() {
    let tmp = TempDir::new("stale");
    let out = tmp.join("infra");
    let two = two_lb_variant(&tmp);
    assert_exit(&rmqgen(&["render", THREE_LBS, "--out", s(&out)]), 0);
    let gone = [
        "cloud-init/events-lb-3.yaml.tftpl",
        "firewall/events-lb-3/nftables.conf",
        "haproxy/events-lb-3/haproxy.cfg",
        "keepalived/events-lb-3/keepalived.conf",
    ];
    for p in gone {
        assert!(out.join(p).exists(), "{p}");
    }

    // The smaller spec's --check names the stale files.
    let run = rmqgen(&["render", &two, "--out", s(&out), "--check"]);
    assert_exit(&run, 1);
    for p in gone {
        assert!(
            run.stdout.contains(&format!("stale\t{p}\n")),
            "{}",
            run.stdout
        );
    }

    let run = rmqgen(&["render", &two, "--out", s(&out)]);
    assert_exit(&run, 0);
    assert!(run.stderr.contains(", 4 removed"), "{}", run.stderr);
    for p in gone {
        assert!(!out.join(p).exists(), "{p} was not removed");
    }
    // Their now empty directories went with them.
    assert!(!out.join("firewall/events-lb-3").exists());
    assert!(!out.join("haproxy/events-lb-3").exists());
    assert!(!out.join("keepalived/events-lb-3").exists());

    // The directory is exactly the two-LB bundle.
    let bundle = compile(&two).bundle;
    let on_disk = files(&out);
    assert_eq!(on_disk.len(), bundle.len() + 1);
    for (p, a) in bundle.iter() {
        assert_eq!(on_disk[p], a.bytes, "{p}");
    }
    assert_exit(&rmqgen(&["render", &two, "--out", s(&out), "--check"]), 0);
}

#[test]
fn a_hand_edited_stale_file_is_kept_and_reported() {
    let tmp = TempDir::new("stale-edited");
    let out = tmp.join("infra");
    let two = two_lb_variant(&tmp);
    assert_exit(&rmqgen(&["render", THREE_LBS, "--out", s(&out)]), 0);
    let edited = "keepalived/events-lb-3/keepalived.conf";
    let mut text = std::fs::read_to_string(out.join(edited)).unwrap();
    text.push_str("# local change\n");
    std::fs::write(out.join(edited), &text).unwrap();

    // --check lists it as stale, like the unedited stale files.
    let run = rmqgen(&["render", &two, "--out", s(&out), "--check"]);
    assert_exit(&run, 1);
    assert!(
        run.stdout.contains(&format!("stale\t{edited}\n")),
        "{}",
        run.stdout
    );

    let run = rmqgen(&["render", &two, "--out", s(&out)]);
    assert_exit(&run, 0);
    assert!(
        run.stderr.contains(&format!("kept {edited}")),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains(", 3 removed"), "{}", run.stderr);
    assert_eq!(std::fs::read_to_string(out.join(edited)).unwrap(), text);
    assert!(!out.join("haproxy/events-lb-3/haproxy.cfg").exists());
}

#[test]
fn an_edited_stale_file_is_removed_only_with_force() {
    let tmp = TempDir::new("stale-forced");
    let out = tmp.join("infra");
    let two = two_lb_variant(&tmp);
    assert_exit(&rmqgen(&["render", THREE_LBS, "--out", s(&out)]), 0);
    let edited = "keepalived/events-lb-3/keepalived.conf";
    append_line(&out, &[edited]);

    let run = rmqgen(&["render", &two, "--out", s(&out), "--force", edited]);
    assert_exit(&run, 0);
    assert!(run.stderr.contains(", 4 removed"), "{}", run.stderr);
    assert!(!run.stderr.contains("kept"), "{}", run.stderr);
    assert!(!out.join(edited).exists());
    assert!(!out.join("keepalived/events-lb-3").exists());
    assert_exit(&rmqgen(&["render", &two, "--out", s(&out), "--check"]), 0);
}

// ---------------------------------------------------------------------------
// validate
// ---------------------------------------------------------------------------

#[test]
fn validate_reports_every_mistake_with_a_pointer() {
    let tmp = TempDir::new("six");
    let spec = six_mistakes(&tmp);
    let run = rmqgen(&["validate", &spec]);
    assert_exit(&run, 1);
    assert!(run.stdout.is_empty(), "diagnostics go to stderr");
    let errors: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("error["))
        .collect();
    assert_eq!(errors.len(), 6, "{}", run.stderr);
    for (code, pointer) in SIX_CODES {
        let line = errors
            .iter()
            .find(|l| l.starts_with(&format!("error[{code}] {pointer} (line ")))
            .unwrap_or_else(|| panic!("no {code} at {pointer} in:\n{}", run.stderr));
        assert!(line.contains(", column "), "{line}");
    }
    // Every diagnostic is followed by its hint.
    assert_eq!(
        run.stderr
            .lines()
            .filter(|l| l.starts_with("  hint: "))
            .count(),
        run.stderr
            .lines()
            .filter(|l| l.starts_with("error[") || l.starts_with("warning["))
            .count(),
        "{}",
        run.stderr
    );
}

#[test]
fn validate_json_format_is_a_parseable_array() {
    let tmp = TempDir::new("json");
    let spec = six_mistakes(&tmp);
    let run = rmqgen(&["validate", &spec, "--format", "json"]);
    assert_exit(&run, 1);
    let array: Vec<Value> = serde_json::from_str(&run.stdout).expect("stdout is a JSON array");
    assert_eq!(array.len(), 6, "{}", run.stdout);
    for d in &array {
        for key in ["severity", "code", "pointer", "message", "hint"] {
            assert!(d[key].is_string(), "{key} missing in {d}");
        }
        assert_eq!(d["severity"], "error");
        assert!(d["location"]["line"].as_u64().unwrap() >= 1, "{d}");
        assert!(d["location"]["column"].as_u64().unwrap() >= 1, "{d}");
    }
    let mut got: Vec<(&str, &str)> = array
        .iter()
        .map(|d| (d["code"].as_str().unwrap(), d["pointer"].as_str().unwrap()))
        .collect();
    got.sort();
    let mut want = SIX_CODES.to_vec();
    want.sort();
    assert_eq!(got, want);

    // A valid spec: exit 0, its warnings only.
    let run = rmqgen(&["validate", FIVE_VM, "--format", "json"]);
    assert_exit(&run, 0);
    let array: Vec<Value> = serde_json::from_str(&run.stdout).unwrap();
    assert!(
        array.iter().all(|d| d["severity"] == "warning"),
        "{array:?}"
    );
}

#[test]
fn validate_accepts_a_valid_spec() {
    let run = rmqgen(&["validate", THREE_LBS]);
    assert_exit(&run, 0);
    assert!(run.stderr.contains("the spec is valid"), "{}", run.stderr);
}

#[test]
fn malformed_json_gives_a_line_and_column_and_never_a_panic() {
    let run = rmqgen(&["validate", MALFORMED]);
    assert_exit(&run, 1);
    assert!(
        run.stderr
            .starts_with("error[RMQ001] /brokers (line 31, column 5): "),
        "{}",
        run.stderr
    );

    let tmp = TempDir::new("malformed");
    let deep = "[".repeat(100_000);
    let cases: [(&str, &[u8]); 7] = [
        ("empty", b""),
        ("not-json", b"name: rmq-prod\n"),
        ("truncated", br#"{"name": "rmq-prod", "network": {"#),
        ("trailing", b"{}\n}\n"),
        ("deep", deep.as_bytes()),
        ("nul", b"{\"name\": \"a\0b\"}"),
        ("array", b"[1, 2, 3]"),
    ];
    for (name, bytes) in cases {
        let path = tmp.write(&format!("{name}.json"), bytes);
        let run = rmqgen(&["validate", &path]);
        assert_exit(&run, 1);
        assert!(run.stderr.contains("error[RMQ00"), "{name}: {}", run.stderr);
        assert!(run.stderr.contains("(line "), "{name}: {}", run.stderr);
    }

    // Not UTF-8 at all: reading fails, an I/O error, still no panic.
    let path = tmp.write("latin1.json", b"{\"name\": \"caf\xe9\"}");
    let run = rmqgen(&["validate", &path]);
    assert_exit(&run, 2);
    assert!(run.stderr.contains("latin1.json"), "{}", run.stderr);
}

#[test]
fn validate_reads_stdin() {
    let spec = std::fs::read(FIVE_VM).unwrap();
    let run = rmqgen_with_stdin(&["validate", "-"], Some(&spec));
    assert_exit(&run, 0);
    assert!(run.stderr.contains("the spec is valid"), "{}", run.stderr);

    let bad = std::fs::read(MALFORMED).unwrap();
    let run = rmqgen_with_stdin(&["validate", "-"], Some(&bad));
    assert_exit(&run, 1);
    assert!(run.stderr.contains("(line 31, column 5)"), "{}", run.stderr);
}

// ---------------------------------------------------------------------------
// schema, init, explain
// ---------------------------------------------------------------------------

#[test]
fn schema_prints_the_schema() {
    let run = rmqgen(&["schema"]);
    assert_exit(&run, 0);
    assert_eq!(run.stdout, rmqgen::schema());
    let committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/schemas/topology.schema.json"
    ))
    .unwrap();
    assert_eq!(run.stdout, committed);
}

#[test]
fn init_prints_a_spec_that_validates_and_renders() {
    let run = rmqgen(&["init"]);
    assert_exit(&run, 0);
    assert_eq!(run.stdout, rmqgen::reference_spec());

    let validated = rmqgen_with_stdin(&["validate", "-"], Some(run.stdout.as_bytes()));
    assert_exit(&validated, 0);

    let tmp = TempDir::new("init");
    let out = tmp.join("infra");
    let rendered = rmqgen_with_stdin(
        &["render", "-", "--out", s(&out)],
        Some(run.stdout.as_bytes()),
    );
    assert_exit(&rendered, 0);
    assert!(out.join(MANIFEST).exists());
}

#[test]
fn explain_prints_the_explanation() {
    let run = rmqgen(&["explain", "RMQ062"]);
    assert_exit(&run, 0);
    let code = rmqgen::Code::NoFailover;
    assert!(run.stdout.starts_with("RMQ062: "), "{}", run.stdout);
    assert!(run.stdout.contains(code.title()), "{}", run.stdout);
    assert!(run.stdout.contains(code.explanation()), "{}", run.stdout);

    // Codes are case-insensitive.
    let lower = rmqgen(&["explain", "rmq062"]);
    assert_exit(&lower, 0);
    assert_eq!(lower.stdout, run.stdout);

    // Every code can be explained.
    for code in rmqgen::Code::ALL {
        assert_exit(&rmqgen(&["explain", code.as_str()]), 0);
    }
}

#[test]
fn explain_of_an_unknown_code_is_a_usage_error() {
    let run = rmqgen(&["explain", "XYZ"]);
    assert_exit(&run, 2);
    assert!(run.stdout.is_empty());
    assert!(run.stderr.contains("unknown code"), "{}", run.stderr);
}

// ---------------------------------------------------------------------------
// Usage and I/O errors
// ---------------------------------------------------------------------------

#[test]
fn a_missing_spec_file_exits_2() {
    let tmp = TempDir::new("missing");
    let spec = tmp.join("no-such-spec.json");
    let run = rmqgen(&["validate", s(&spec)]);
    assert_exit(&run, 2);
    assert!(run.stderr.contains("no-such-spec.json"), "{}", run.stderr);

    let out = tmp.join("infra");
    let run = rmqgen(&["render", s(&spec), "--out", s(&out)]);
    assert_exit(&run, 2);
    assert!(!out.exists());
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &[][..],
        &["frobnicate"][..],
        &["render", FIVE_VM][..], // no --out
        &["validate", FIVE_VM, "--format", "yaml"][..],
    ] {
        let run = rmqgen(args);
        assert_exit(&run, 2);
        assert!(!run.stderr.is_empty(), "{args:?}");
    }
}

#[test]
fn an_output_path_that_is_a_file_is_an_io_error() {
    let tmp = TempDir::new("out-is-file");
    let out = tmp.write("infra", "a file, not a directory\n");
    let run = rmqgen(&["render", FIVE_VM, "--out", &out]);
    assert_exit(&run, 2);
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "a file, not a directory\n"
    );
}

// ---------------------------------------------------------------------------
// The summary line of validate, and the code list of explain
// ---------------------------------------------------------------------------

/// The counts `validate` printed, from its own diagnostic lines.
fn counted(stderr: &str) -> (usize, usize) {
    let count = |prefix: &str| stderr.lines().filter(|l| l.starts_with(prefix)).count();
    (count("error["), count("warning["))
}

#[test]
fn validate_ends_with_a_summary_of_what_it_printed() {
    let tmp = TempDir::new("summary");
    let six = six_mistakes(&tmp);
    let run = rmqgen(&["validate", &six]);
    assert_exit(&run, 1);
    let (errors, warnings) = counted(&run.stderr);
    assert_eq!(errors, 6, "{}", run.stderr);
    let want = match warnings {
        0 => "rmqgen: the spec is invalid: 6 errors".to_string(),
        1 => "rmqgen: the spec is invalid: 6 errors, 1 warning".to_string(),
        n => format!("rmqgen: the spec is invalid: 6 errors, {n} warnings"),
    };
    assert_eq!(
        run.stderr.lines().last(),
        Some(want.as_str()),
        "{}",
        run.stderr
    );

    // The reference spec: valid, two warnings (classic mirroring is
    // deprecated; no SSH key).
    let run = rmqgen(&["validate", FIVE_VM]);
    assert_exit(&run, 0);
    assert_eq!(counted(&run.stderr), (0, 2), "{}", run.stderr);
    assert!(run.stderr.contains("warning[RMQ042]"), "{}", run.stderr);
    assert!(run.stderr.contains("warning[RMQ108]"), "{}", run.stderr);
    assert_eq!(
        run.stderr.lines().last(),
        Some("rmqgen: the spec is valid: 2 warnings"),
        "{}",
        run.stderr
    );

    // A clean spec: the summary is the only line.
    let mut doc: Value = serde_json::from_str(&rmqgen::reference_spec()).unwrap();
    doc["rabbitmq"]["version"] = "4.0".into();
    doc["os"] = "debian-13".into();
    doc["rabbitmq"]["queue_ha"] = serde_json::json!({ "mode": "quorum" });
    doc["ssh_authorized_keys"] = serde_json::json!([
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMvyTg3GlU7Ww6y4YDvvX2QGq5KJf4bL8RdfM+6T5Ie9 ops@example"
    ]);
    let clean = tmp.write("clean.json", serde_json::to_string_pretty(&doc).unwrap());
    let run = rmqgen(&["validate", &clean]);
    assert_exit(&run, 0);
    assert_eq!(run.stderr, "rmqgen: the spec is valid: no problems\n");
}

#[test]
fn validate_json_keeps_stdout_parseable_and_summarises_on_stderr() {
    let tmp = TempDir::new("summary-json");
    let six = six_mistakes(&tmp);
    let run = rmqgen(&["validate", &six, "--format", "json"]);
    assert_exit(&run, 1);
    let array: Vec<Value> = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(array.len(), 6);
    assert_eq!(run.stderr, "rmqgen: the spec is invalid: 6 errors\n");
}

#[test]
fn explain_list_prints_every_code_by_number_with_its_title() {
    let run = rmqgen(&["explain", "--list"]);
    assert_exit(&run, 0);
    assert!(run.stderr.is_empty(), "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), rmqgen::Code::ALL.len(), "{}", run.stdout);
    let listed: Vec<&str> = lines
        .iter()
        .map(|l| l.split_once("  ").expect("CODE  title").0)
        .collect();
    let mut sorted = listed.clone();
    sorted.sort_unstable();
    assert_eq!(listed, sorted, "listed by number");
    for code in rmqgen::Code::ALL {
        let line = format!("{code}  {}", code.title());
        assert!(lines.contains(&line.as_str()), "{line} missing");
    }
    assert_eq!(listed.first(), Some(&"RMQ001"));
    assert!(listed.contains(&"RMQ103"), "{}", run.stdout);
}

#[test]
fn an_unknown_code_names_the_range_of_the_table() {
    // The range comes from the table, not from a number in the message.
    let highest = rmqgen::Code::ALL.iter().map(|c| c.as_str()).max().unwrap();
    assert!(highest >= "RMQ103", "{highest}");
    let run = rmqgen(&["explain", "RMQ999"]);
    assert_exit(&run, 2);
    assert!(run.stdout.is_empty());
    let range = format!("codes are RMQ001 to {highest}");
    assert!(run.stderr.contains(&range), "{}", run.stderr);
    assert!(
        run.stderr.contains("rmqgen explain --list"),
        "{}",
        run.stderr
    );
}

#[test]
fn explain_needs_a_code_or_list_but_not_both() {
    for args in [&["explain"][..], &["explain", "--list", "RMQ062"][..]] {
        let run = rmqgen(args);
        assert_exit(&run, 2);
        assert!(run.stdout.is_empty(), "{args:?}");
        assert!(!run.stderr.is_empty(), "{args:?}");
    }
}

/// `rmqgen plan OLD NEW`: the plan on stdout and exit 0; a refused change
/// or an invalid spec: exit 1, located diagnostics naming the file (on
/// stderr, or as JSON on stdout with `--format json`).
#[test]
fn plan_prints_the_change_and_exits_1_when_refused() {
    let pair = |name: &str| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/changes")
            .join(name);
        (
            dir.join("old.json").to_str().unwrap().to_string(),
            dir.join("new.json").to_str().unwrap().to_string(),
        )
    };
    let (old, new) = pair("add-broker");
    let run = rmqgen(&["plan", &old, &new]);
    assert_exit(&run, 0);
    assert!(
        run.stdout.contains("[add-broker] add broker mq-4"),
        "{}",
        run.stdout
    );
    let run = rmqgen(&["plan", &old, &new, "--format", "json"]);
    assert_exit(&run, 0);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        v["changes"].as_array().unwrap().last().unwrap()["kind"],
        "add-broker"
    );

    let (old, new) = pair("version-skip-3.10-4.3");
    let run = rmqgen(&["plan", &old, &new]);
    assert_exit(&run, 1);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert!(
        run.stderr
            .contains("error[RMQ110] /rabbitmq/version (line 15, column 16)"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("3.10 → 3.11 → 3.12 → 3.13 → 4.2 → 4.3"),
        "{}",
        run.stderr
    );
    let run = rmqgen(&["plan", &old, &new, "--format", "json"]);
    assert_exit(&run, 1);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["status"], "the change is refused");
    assert_eq!(v["diagnostics"][0]["code"], "RMQ110");

    let (old, new) = pair("invalid-new");
    let run = rmqgen(&["plan", &old, &new]);
    assert_exit(&run, 1);
    assert!(run.stderr.contains(&format!("{new}:")), "{}", run.stderr);
    assert!(run.stderr.contains("error[RMQ021] /vip"), "{}", run.stderr);

    // The same spec twice: nothing to do.
    let run = rmqgen(&["plan", &old, &old]);
    assert_exit(&run, 0);
    assert!(run.stdout.contains("no change"), "{}", run.stdout);
}

/// `render` reads the certificate files Terraform will read (relative to
/// the root module, out/terraform) where they exist, and warns (RMQ124)
/// about each name a certificate misses; a certificate that covers every
/// name the plan computed passes.
#[test]
fn render_checks_the_names_readable_certificates_cover() {
    if Command::new("openssl").arg("version").output().is_err() {
        eprintln!("skipping: openssl is not installed");
        return;
    }
    let tmp = TempDir::new("tls-names");
    let spec = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/tls-4x.json");
    let plan = compile(spec).plan;
    let cert = |host: &str, sans: &str| {
        let path = tmp.join(&format!("out/terraform/tls/{host}.crt"));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let o = Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
            ])
            .args(["-nodes", "-keyout"])
            .arg(tmp.join(&format!("{host}.key")))
            .arg("-out")
            .arg(&path)
            .args(["-days", "1", "-subj", &format!("/CN={host}"), "-addext"])
            .arg(format!("subjectAltName={sans}"))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    cert("mq-1", "DNS:mq-1");
    let full = plan
        .tls
        .certificates
        .iter()
        .find(|c| c.host == "mq-2")
        .unwrap();
    let sans: Vec<String> = full
        .dns
        .iter()
        .map(|d| format!("DNS:{d}"))
        .chain(full.ip.iter().map(|ip| format!("IP:{ip}")))
        .collect();
    cert("mq-2", &sans.join(","));
    let run = rmqgen(&["render", spec, "--out", s(&tmp.join("out"))]);
    assert_exit(&run, 0);
    let warnings: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("warning[RMQ124]"))
        .collect();
    assert_eq!(
        warnings,
        ["warning[RMQ124] /tls/brokers/certificate: certificate tls/mq-1.crt of mq-1 does not cover mq-1.mq.example.internal, secure-mq, secure-mq.mq.example.internal, 10.20.0.11, 10.20.0.100"],
        "{}",
        run.stderr
    );
}
