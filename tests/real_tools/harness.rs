//! Plumbing shared by the real-tool tests: finding tools (skip or fail),
//! temporary directories, commands with a deadline, the examples.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The crate root: examples are read from here.
pub const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Directories searched besides `PATH`: cargo is often run with a user's
/// PATH that lacks the sbin directories haproxy and keepalived live in.
const EXTRA_DIRS: &[&str] = &["/usr/sbin", "/sbin", "/usr/bin", "/bin"];

/// Reports a missing prerequisite: a failure under CI (where
/// scripts/test-all.sh has installed everything), a skip notice otherwise.
pub fn unavailable(reason: &str) {
    if std::env::var_os("CI").is_some() {
        panic!(
            "{reason}. CI is set, so this is a failure, not a skip: \
             run scripts/test-all.sh as root, which installs every tool"
        );
    }
    // Straight to the stderr handle: libtest captures eprintln! of passing
    // tests, and a skip must be seen.
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED: {reason} (set CI=1 to make this a failure)"
    );
}

/// `PATH` plus the sbin directories, for the commands the tests start.
pub fn search_path() -> OsString {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend(EXTRA_DIRS.iter().map(PathBuf::from));
    std::env::join_paths(dirs).expect("PATH entries contain no ':'")
}

/// Absolute path of an executable, searched in [`search_path`].
pub fn find(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&search_path())
        .map(|d| d.join(name))
        .find(|p| {
            fs::metadata(p)
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

/// True when running as root (namespaces and mounts need it).
pub fn is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

/// Executables a test needs, by name.
pub struct Bins(BTreeMap<String, PathBuf>);

impl Bins {
    /// The path of a tool that was asked for in [`require`].
    pub fn get(&self, name: &str) -> &Path {
        self.0
            .get(name)
            .unwrap_or_else(|| panic!("test bug: {name} was not listed in require()"))
    }
}

/// Every tool in `names`, or `None` after reporting what is missing (see
/// [`unavailable`]). `root`: the test also needs root.
pub fn require(names: &[&str], root: bool) -> Option<Bins> {
    let mut found = BTreeMap::new();
    let mut missing = Vec::new();
    for name in names {
        match find(name) {
            Some(p) => {
                found.insert((*name).to_string(), p);
            }
            None => missing.push(*name),
        }
    }
    if !missing.is_empty() {
        unavailable(&format!("missing tool(s): {}", missing.join(", ")));
        return None;
    }
    if root && !is_root() {
        unavailable("this test creates namespaces and mounts, which needs root");
        return None;
    }
    Some(Bins(found))
}

// One scratch directory and one file writer for every area.
pub use crate::common::temp_dir::{write_file, TempDir};

/// A finished command.
pub struct Outcome {
    /// The command, for messages.
    pub what: String,
    /// How it ended.
    pub status: ExitStatus,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Outcome {
    /// Exit code 0.
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// Both streams, for searching.
    pub fn output(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    /// Panics with the whole output unless the command exited 0.
    pub fn expect_success(self, context: &str) -> Self {
        assert!(self.success(), "{context}: {self}");
        self
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` ended with {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.what, self.status, self.stdout, self.stderr
        )
    }
}

/// Runs a command to completion, killing it (by PID) after `timeout`.
/// Output goes through files, not pipes, so a stray grandchild holding a
/// pipe open cannot hang the test.
pub fn run(cmd: &mut Command, timeout: Duration) -> Outcome {
    let what = format!("{cmd:?}");
    let out = TempDir::new("out");
    let (stdout, stderr) = (out.path().join("stdout"), out.path().join("stderr"));
    let mut child = spawn_logged(cmd, &stdout, &stderr);
    let status = wait_deadline(&mut child, timeout).unwrap_or_else(|| {
        // Kill and reap before panicking, so nothing is left behind.
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "`{what}` did not finish within {timeout:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            read_lossy(&stdout),
            read_lossy(&stderr)
        )
    });
    Outcome {
        what,
        status,
        stdout: read_lossy(&stdout),
        stderr: read_lossy(&stderr),
    }
}

/// Starts a command with stdin closed and both streams to files.
pub fn spawn_logged(cmd: &mut Command, stdout: &Path, stderr: &Path) -> Child {
    let open = |p: &Path| {
        fs::File::create(p).unwrap_or_else(|e| panic!("cannot create {}: {e}", p.display()))
    };
    cmd.stdin(Stdio::null())
        .stdout(open(stdout))
        .stderr(open(stderr))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"))
}

/// Waits for a child until `timeout`: `None` if it is still running.
pub fn wait_deadline(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    const POLL: Duration = Duration::from_millis(50);
    let deadline = Instant::now() + timeout;
    // Bounded by count as well as by time.
    let polls = timeout.as_millis() / POLL.as_millis() + 1;
    for _ in 0..polls {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() >= deadline => return None,
            Ok(None) => std::thread::sleep(POLL),
            Err(e) => panic!("cannot wait for pid {}: {e}", child.id()),
        }
    }
    None
}

/// A file's contents, or a note why there are none.
pub fn read_lossy(path: &Path) -> String {
    match fs::read(path) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(e) => format!("<{}: {e}>", path.display()),
    }
}

/// The last `n` lines of a file, for failure messages.
pub fn tail(path: &Path, n: usize) -> String {
    let text = read_lossy(path);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// One file of examples/.
pub struct Example {
    /// File stem, e.g. `five-vm`.
    pub name: String,
    /// The JSON text.
    pub source: String,
}

/// Every examples/*.json, sorted by name.
pub fn examples() -> Vec<Example> {
    let dir = Path::new(ROOT).join("examples");
    let mut out: Vec<Example> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .filter_map(|entry| {
            let path = entry.expect("readable examples/ entry").path();
            (path.extension().is_some_and(|e| e == "json")).then(|| Example {
                name: path
                    .file_stem()
                    .expect("a .json file has a stem")
                    .to_string_lossy()
                    .into_owned(),
                source: fs::read_to_string(&path)
                    .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display())),
            })
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    assert!(!out.is_empty(), "no examples/*.json found");
    out
}

/// Compiles a spec through the library, panicking with every diagnostic.
pub fn compile(label: &str, source: &str) -> rmqgen::Output {
    match rmqgen::compile(source) {
        Ok(out) => out,
        Err(rmqgen::Error::Invalid(d)) => panic!("{label} does not validate:\n{d}"),
        Err(e) => panic!("{label} does not render: {e}"),
    }
}

/// A rendered artifact's text, by bundle path.
pub fn artifact<'a>(out: &'a rmqgen::Output, path: &str) -> &'a rmqgen::Artifact {
    out.bundle
        .get(path)
        .unwrap_or_else(|| panic!("the bundle has no {path}"))
}

/// Runs `check` on every example. A failing example does not stop the
/// others; the test fails at the end, naming every failed example.
pub fn for_each_example(check: &str, f: impl Fn(&Example)) {
    let mut failed = Vec::new();
    for ex in examples() {
        eprintln!("=== {check}: {}", ex.name);
        let start = Instant::now();
        // Guards inside `f` (namespaces, nodes, temp dirs) drop while the
        // panic unwinds, before the next example starts.
        match catch_unwind(AssertUnwindSafe(|| f(&ex))) {
            Ok(()) => eprintln!(
                "=== {check}: {} ok in {:.1} s",
                ex.name,
                start.elapsed().as_secs_f64()
            ),
            Err(_) => {
                eprintln!("=== {check}: {} FAILED (see the panic above)", ex.name);
                failed.push(ex.name);
            }
        }
    }
    assert!(
        failed.is_empty(),
        "{check} failed for {} example(s): {}",
        failed.len(),
        failed.join(", ")
    );
}

/// The root filesystem of a Debian release (`bookworm`, `trixie`, `sid`),
/// built or taken from the machine's cache by scripts/rootfs.sh (mmdebstrap
/// from Debian's archive; keyed by the release's package versions).
/// `RMQGEN_ROOTFS_<RELEASE>` (e.g. `RMQGEN_ROOTFS_TRIXIE`) names a ready
/// directory instead.
pub fn rootfs(release: &str) -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os(format!(
        "RMQGEN_ROOTFS_{}",
        release.to_uppercase().replace('-', "_")
    )) {
        return Ok(PathBuf::from(dir));
    }
    let script = Path::new(ROOT).join("scripts/rootfs.sh");
    let o = run(
        Command::new("bash").arg(&script).arg(release),
        Duration::from_secs(900),
    );
    let _ = writeln!(std::io::stderr(), "{}", o.stderr.trim_end());
    if !o.success() {
        return Err(format!(
            "no {release} root filesystem (scripts/rootfs.sh {release}): {o}"
        ));
    }
    o.stdout
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{release}=")))
        .map(PathBuf::from)
        .ok_or_else(|| format!("scripts/rootfs.sh {release} printed no {release}=DIR: {o}"))
}

/// The first line of `program ARG`'s output run inside the root `base`
/// (`HAProxy version 2.6.12-1+deb12u4 ...`, `Keepalived v2.2.7 ...`),
/// shortened to its name and version.
pub fn tool_version(base: &Path, program: &str, arg: &str) -> String {
    let o = run(
        Command::new("chroot")
            .arg(base)
            .args([program, arg])
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
        Duration::from_secs(30),
    );
    let text = o.output();
    let line = text.lines().next().unwrap_or("");
    let words: Vec<&str> = line
        .split_whitespace()
        .filter(|w| *w != "version")
        .collect();
    words.iter().take(2).copied().collect::<Vec<_>>().join(" ")
}

/// The releases scripts/rootfs.sh builds (`scripts/rootfs.sh --list`,
/// checked by a test).
pub const ROOTFS_RELEASES: [&str; 3] = ["bookworm", "trixie", "sid"];

/// The release a spec's hosts run: its `os` (default included), through
/// rmqgen's platform table. The lab and the real-tool checks run the spec
/// in that release's root filesystem (scripts/rootfs.sh, named by the
/// release's code name).
pub fn release_of(plan: &rmqgen::Plan) -> &'static rmqgen::plan::platform::Release {
    rmqgen::plan::platform::release(*plan.os)
}

/// Where an example's files are run for real: the root filesystem of the
/// release its `os` names, and the RabbitMQ series the example is rendered
/// for there.
pub struct Target {
    /// The release's code name (`bookworm`, `trixie`, `sid`).
    pub release: &'static str,
    /// The root filesystem.
    pub base: PathBuf,
    /// `Some(series)`: the release's own RabbitMQ is another series than
    /// the example's (which comes from Team RabbitMQ's or a mirror's
    /// repository, not in the root filesystem); its broker files are
    /// rendered for the release's own series instead (a spec change, see
    /// `variants::for_node`).
    pub series: Option<String>,
}

/// Where example `ex` runs: its release's code name and, when that
/// release's own RabbitMQ is another series, that series.
pub fn target_of(ex: &Example) -> (&'static str, Option<String>) {
    let out = compile(&ex.name, &ex.source);
    let rel = release_of(&out.plan);
    let series = (out.plan.rabbitmq.version != rel.rabbitmq).then(|| rel.rabbitmq.to_string());
    (rel.codename, series)
}

/// Runs `check` on every example on the release its `os` names; like
/// [`for_each_example`], a failure does not stop the others. `None` (after
/// the skip notice, or a CI failure) when a root filesystem is missing.
pub fn for_each_target(check: &str, f: impl Fn(&Example, &Target)) {
    let mut bases: BTreeMap<&str, PathBuf> = BTreeMap::new();
    for ex in examples() {
        let (release, _) = target_of(&ex);
        if bases.contains_key(release) {
            continue;
        }
        match rootfs(release) {
            Ok(b) => {
                bases.insert(release, b);
            }
            Err(e) => return unavailable(&e),
        }
    }
    for_each_example(check, |ex| {
        let (release, series) = target_of(ex);
        eprintln!(
            "--- {check}: {} on Debian {release}{}",
            ex.name,
            series.as_ref().map_or(String::new(), |s| format!(
                " rendered for RabbitMQ {s} (Debian {release} ships {s}, not {})",
                ex.source_version()
            ))
        );
        let t = Target {
            release,
            base: bases[release].clone(),
            series,
        };
        f(ex, &t);
    });
}

impl Example {
    /// The spec's `rabbitmq.version`.
    pub fn source_version(&self) -> String {
        serde_json::from_str::<serde_json::Value>(&self.source)
            .ok()
            .and_then(|v| v["rabbitmq"]["version"].as_str().map(str::to_string))
            .unwrap_or_default()
    }
}

/// `cmd` run with `dir` visible at /mnt inside the root filesystem `base`
/// (a private mount namespace: the cached tree is never written).
pub fn in_root(base: &Path, dir: &Path, program: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "/bin/sh", "-c"])
        .arg("mount --bind \"$1\" \"$0/mnt\" && shift && exec chroot \"$0\" \"$@\"")
        .arg(base)
        .arg(dir)
        .arg(program)
        .args(args)
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
    cmd
}
