//! One lab host ("VM"): a network namespace (from [`super::net`]), and a
//! holder process that owns the host's UTS, mount and PID namespaces and
//! is chrooted into the host's root: an overlay over its Debian release's
//! root filesystem.
//!
//! The files cloud-init would write on the host (exactly
//! `rmqgen::testing::cloud_init::host_files`) are placed into a per-host
//! root directory; in the host's private mount namespace the directories
//! holding them are bind-mounted over their real paths in the host's root
//! (`/etc/rabbitmq`, `/var/lib/rabbitmq`, `/etc/haproxy`,
//! `/etc/keepalived`, ...), beside what the release's packages put there,
//! so every service reads its files where the host would have them. A file whose
//! directory the release lacks and cannot be mapped without hiding a
//! top-level directory (e.g. `/etc/sysusers.d/...`) stays in the root
//! directory, and the lab hands it to the one tool that reads it
//! (`systemd-sysusers --root`).
//!
//! Every process of the host runs in its PID namespace, whose init is
//! killed (by PID) on drop; the kernel then kills everything in it.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use rmqgen::testing::cloud_init::{Content, HostFile, POLICY_RC_D};
use rmqgen::testing::shell_quote;

use super::harness::{read_lossy, run, spawn_logged, wait_deadline, Bins, Outcome};
use super::net::Attachment;
use super::secrets::Secrets;

/// What a host's /etc/hosts holds before cloud-init appends to it (a Debian
/// cloud image's, without a `127.0.1.1 <hostname>` line:
/// `manage_etc_hosts: false`).
pub const BASE_HOSTS: &str = "127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n";

/// Files placed for a host, and where they are visible.
#[derive(Default)]
pub struct Placement {
    /// (per-host directory, real path) pairs to bind-mount.
    pub mounts: Vec<(PathBuf, PathBuf)>,
    /// Real paths of files written (for the log).
    pub written: Vec<String>,
    /// Files that stay in the root directory only.
    pub unmapped: Vec<String>,
    /// Files the lab does not place, with why.
    pub skipped: Vec<(String, &'static str)>,
}

/// The contents of the host's /etc/hosts: the image's, plus every
/// `append: true` file for /etc/hosts, in order.
pub fn hosts_file(files: &[HostFile]) -> String {
    let mut text = BASE_HOSTS.to_string();
    for f in files.iter().filter(|f| f.append) {
        assert_eq!(
            f.path, "/etc/hosts",
            "the lab can only append to /etc/hosts, not {}",
            f.path
        );
        let Content::Text(t) = &f.content else {
            panic!("an appended secret: {}", f.path)
        };
        text.push_str(t);
    }
    text
}

/// Writes every file of `files` under `root` (with its owner and mode, the
/// ids as the release root filesystem `base` has them) and works out the
/// bind mounts (directories `base` has).
pub fn place(root: &Path, base: &Path, files: &[HostFile], secrets: &Secrets) -> Placement {
    let mut p = Placement::default();
    let mut points = BTreeSet::new();
    for f in files {
        if f.path == POLICY_RC_D {
            p.skipped
                .push((f.path.clone(), "only matters while apt installs packages"));
            continue;
        }
        if f.append {
            p.skipped
                .push((f.path.clone(), "appended to the namespace's hosts file"));
            continue;
        }
        let bytes = match &f.content {
            Content::Text(t) => t.clone().into_bytes(),
            Content::Secret { id, env_var, .. } => {
                let value = secrets.get(id);
                match env_var {
                    Some(var) => format!("{var}={value}\n").into_bytes(),
                    None => value.as_bytes().to_vec(),
                }
            }
        };
        let real = Path::new(&f.path);
        assert!(real.is_absolute(), "{} is not absolute", f.path);
        let dest = under(root, real);
        let point = mount_point(base, real);
        make_dirs(root, base, real.parent().expect("a file has a directory"));
        super::harness::write_file(&dest, &bytes, f.mode);
        chown(base, &dest, &f.owner, &f.group);
        p.written.push(f.path.clone());
        match point {
            Some(dir) => {
                points.insert(dir);
            }
            None => p.unmapped.push(f.path.clone()),
        }
    }
    // A mount point inside another is already covered by the outer one.
    let all: Vec<PathBuf> = points.into_iter().collect();
    for dir in &all {
        if !all.iter().any(|o| o != dir && dir.starts_with(o)) {
            p.mounts.push((under(root, dir), dir.clone()));
        }
    }
    p
}

/// Creates `dir` (a real path) under `root`, each level with the owner and
/// mode the release root filesystem `base` has for it (as the packages made
/// it), or root 0755 (as cloud-init creates missing parents).
pub fn make_dirs(root: &Path, base: &Path, dir: &Path) {
    let mut real = PathBuf::from("/");
    for c in dir.components() {
        let Component::Normal(c) = c else { continue };
        real.push(c);
        let copy = under(root, &real);
        if copy.exists() {
            continue;
        }
        fs::DirBuilder::new()
            .mode(0o755)
            .create(&copy)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", copy.display()));
        if let Ok(m) = fs::metadata(under(base, &real)) {
            std::os::unix::fs::chown(&copy, Some(m.uid()), Some(m.gid()))
                .unwrap_or_else(|e| panic!("cannot chown {}: {e}", copy.display()));
            fs::set_permissions(&copy, fs::Permissions::from_mode(m.mode() & 0o7777))
                .unwrap_or_else(|e| panic!("cannot chmod {}: {e}", copy.display()));
        }
    }
}

/// `root` + the absolute path `real`.
pub fn under(root: &Path, real: &Path) -> PathBuf {
    root.join(real.strip_prefix("/").unwrap_or(real))
}

/// The directory to bind-mount for a file at `real`: the nearest directory
/// above it that `base` has, unless that is a top-level one (`/etc`,
/// `/usr`...), which would hide half the system.
fn mount_point(base: &Path, real: &Path) -> Option<PathBuf> {
    let mut dir = real.parent()?;
    loop {
        if under(base, dir).is_dir() {
            return (dir.components().count() > 2).then(|| dir.to_path_buf());
        }
        dir = dir.parent()?;
    }
}

/// Numeric id of a user or group, from a root filesystem's databases
/// (`db`: `/etc/passwd` or `/etc/group`).
pub fn id_of(base: &Path, db: &str, name: &str) -> u32 {
    let text = read_lossy(&under(base, Path::new(db)));
    text.lines()
        .find(|l| l.split(':').next() == Some(name))
        .and_then(|l| l.split(':').nth(2))
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("{name} is not in {db}: is its package installed?"))
}

fn chown(base: &Path, path: &Path, owner: &str, group: &str) {
    let (uid, gid) = (
        id_of(base, "/etc/passwd", owner),
        id_of(base, "/etc/group", group),
    );
    std::os::unix::fs::chown(path, Some(uid), Some(gid))
        .unwrap_or_else(|e| panic!("cannot chown {}: {e}", path.display()));
}

/// A process the lab started in a host, through nsenter.
pub struct Service {
    /// What it is, for logs.
    pub name: String,
    child: Child,
}

/// A running host.
pub struct Machine {
    /// Host name.
    pub name: String,
    /// Its network attachment.
    pub net: Attachment,
    /// The per-host root directory (files at their real paths below it).
    pub root: PathBuf,
    /// The per-host lab directory (holder files, service output).
    pub dir: PathBuf,
    holder: Child,
    /// The PID namespace's init (chrooted into the host's root).
    init: u32,
    pid_ns: String,
    nsenter: PathBuf,
    kill: PathBuf,
    services: Vec<Service>,
}

/// How long the holder may take to set the host up.
const HOLDER_READY: Duration = Duration::from_secs(20);
/// How long a process tree may take to settle to one main process.
const TREE_SETTLE: Duration = Duration::from_secs(10);
/// How long the kernel may take to end a host's processes once its PID
/// namespace's init is gone.
const TEARDOWN: Duration = Duration::from_secs(30);

/// One process, from /proc/PID/stat.
#[derive(Clone, Debug)]
pub struct Proc {
    pub pid: u32,
    /// Command name (at most 15 bytes, as the kernel keeps it).
    pub comm: String,
    /// `R`, `S`, `D`, `T`, `Z` (zombie: exited, not yet reaped)...
    pub state: char,
    pub ppid: u32,
}

impl Proc {
    /// `None` once the process is gone (reaped).
    pub fn read(pid: u32) -> Option<Proc> {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // `pid (comm) S ppid ...`: comm may hold spaces or parentheses.
        let (open, close) = (stat.find('(')?, stat.rfind(')')?);
        let mut rest = stat.get(close + 1..)?.split_whitespace();
        let state = rest.next()?.chars().next()?;
        let ppid = rest.next()?.parse().ok()?;
        Some(Proc {
            pid,
            comm: stat.get(open + 1..close)?.to_string(),
            state,
            ppid,
        })
    }
}

/// A host's processes of one name, as a tree (see [`Machine::tree`]).
#[derive(Clone, Debug)]
pub struct Tree {
    /// The one whose parent has another name.
    pub main: u32,
    /// Its direct children of the same name.
    pub children: Vec<u32>,
    /// Every other process of that name (deeper descendants).
    pub rest: Vec<u32>,
}

impl Tree {
    /// Every process but the main one.
    pub fn helpers(&self) -> Vec<u32> {
        self.children.iter().chain(&self.rest).copied().collect()
    }
}

impl Machine {
    /// Starts the holder: sets the host name, assembles the host's root
    /// (an overlay over the release root filesystem `base`, so every host
    /// writes its own copy; its own /proc, /sys, /run and /tmp; the host's
    /// /etc/hosts; the lab directory `lab` at its own path) and mounts the
    /// per-host directories into it (`mounts`: directories, or single
    /// files such as a private /etc/passwd); then chroots into it as the
    /// PID namespace's init. `setup`: shell lines run inside the root
    /// once it is assembled (e.g. directories in /run).
    #[allow(clippy::too_many_arguments)]
    pub fn boot(
        bins: &Bins,
        net: Attachment,
        dir: PathBuf,
        root: PathBuf,
        base: &Path,
        lab: &Path,
        mounts: &[(PathBuf, PathBuf)],
        setup: &[String],
    ) -> Machine {
        let ready = dir.join("ready");
        let q = |p: &Path| shell_quote(&p.to_string_lossy());
        let merged = dir.join("merged");
        let ovl = dir.join("overlay");
        for d in [&merged, &ovl] {
            fs::create_dir_all(d).unwrap_or_else(|e| panic!("create {}: {e}", d.display()));
        }
        let r = q(&merged);
        let mut script = String::from("set -eu\n");
        script.push_str(&format!("hostname {}\n", shell_quote(&net.name)));
        // The overlay's upper layer lives in a tmpfs of this mount
        // namespace: gone with the host. The data that matters (the
        // broker's, the logs) is in the per-host directories mounted below.
        script.push_str(&format!(
            "mount -t tmpfs -o mode=0755 rmqlab-overlay {o}\n\
             mkdir {o}/upper {o}/work\n\
             mount -t overlay -o lowerdir={b},upperdir={o}/upper,workdir={o}/work rmqlab-root {r}\n\
             mount -t proc -o nosuid,nodev,noexec proc {r}/proc\n\
             mount --rbind /dev {r}/dev\n\
             mount -t sysfs -o nosuid,nodev,noexec sysfs {r}/sys\n\
             mount -t tmpfs -o mode=0755,nosuid,nodev rmqlab-run {r}/run\n\
             mount -t tmpfs -o mode=1777,nosuid,nodev rmqlab-tmp {r}/tmp\n\
             touch {r}/etc/hosts\n\
             mount --bind /etc/hosts {r}/etc/hosts\n\
             mkdir -p {r}{l}\n\
             mount --bind {l} {r}{l}\n",
            o = q(&ovl),
            b = q(base),
            l = q(lab),
        ));
        for (src, dst) in mounts {
            let inside = format!("{r}{}", shell_quote(&dst.to_string_lossy()));
            // cloud-init writes into the directories the packages made:
            // what the release has there (keepalived 2.3's
            // keepalived.config-opts, rabbitmq-env.conf, ...) stays beside
            // the rendered files, which win.
            let packaged = under(base, dst);
            if src.is_dir() && packaged.is_dir() {
                let mut cp = Command::new("cp");
                cp.args(["-a", "-n", "--"]).arg(packaged.join(".")).arg(src);
                run(&mut cp, Duration::from_secs(60))
                    .expect_success(&format!("copy {} into the host", packaged.display()));
            }
            if src.is_dir() {
                script.push_str(&format!("mkdir -p {inside}\n"));
            }
            script.push_str(&format!("mount --bind {} {inside}\n", q(src)));
        }
        for line in setup {
            script.push_str(&format!("chroot {r} /bin/sh -ec {}\n", shell_quote(line)));
        }
        // The namespace's init, in the host's root. Like systemd it reaps
        // orphans: `wait` collects any exited child, adopted ones
        // included. A zombie left unreaped would keep its pid alive, and
        // keepalived, finding its old vrrp pid in a pid file, would refuse
        // to start again. Ready once it runs inside the root.
        script.push_str(&format!(
            "exec chroot {r} /bin/sh -c ': > \"$1\"; while :; do sleep 3600 & wait; done' init {}\n",
            q(&ready)
        ));
        let script_path =
            super::harness::write_file(&dir.join("holder.sh"), script.as_bytes(), 0o700);

        // setpriv --pdeathsig: if the test process dies, unshare dies, and
        // --kill-child takes the namespace's init (and so every process of
        // the host) with it.
        let holder = spawn_logged(
            Command::new(bins.get("setpriv"))
                .args(["--pdeathsig", "KILL"])
                .arg(bins.get("ip"))
                .args(["netns", "exec", &net.netns])
                .arg(bins.get("unshare"))
                .args([
                    "--mount",
                    "--propagation",
                    "private",
                    "--uts",
                    "--pid",
                    "--fork",
                    "--mount-proc",
                    "--kill-child",
                    "/bin/sh",
                ])
                .arg(&script_path)
                .env_clear()
                .env("PATH", super::harness::search_path()),
            &dir.join("holder.out"),
            &dir.join("holder.err"),
        );
        let mut m = Machine {
            name: net.name.clone(),
            net,
            root,
            dir,
            holder,
            init: 0,
            pid_ns: String::new(),
            nsenter: bins.get("nsenter").to_path_buf(),
            kill: bins.get("kill").to_path_buf(),
            services: Vec::new(),
        };
        let start = Instant::now();
        for _ in 0..(HOLDER_READY.as_millis() / 50) {
            if ready.exists() {
                break;
            }
            if let Ok(Some(status)) = m.holder.try_wait() {
                panic!(
                    "{}: the namespace holder exited ({status}): {}",
                    m.name,
                    read_lossy(&m.dir.join("holder.err"))
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(
            ready.exists(),
            "{}: the holder was not ready after {:?}: {}",
            m.name,
            start.elapsed(),
            read_lossy(&m.dir.join("holder.err"))
        );
        let link = format!("/proc/{}/ns/pid_for_children", m.holder.id());
        m.pid_ns = fs::read_link(&link)
            .unwrap_or_else(|e| panic!("cannot read {link}: {e}"))
            .to_string_lossy()
            .into_owned();
        let holder = m.holder.id();
        m.init = m
            .members()
            .into_iter()
            .find(|p| p.ppid == holder)
            .unwrap_or_else(|| panic!("{}: no init process in the host's PID namespace", m.name))
            .pid;
        m
    }

    /// The host's root as this process sees it (`/proc/<init>/root`):
    /// what the host has now, packages it installed included.
    pub fn root_view(&self) -> PathBuf {
        PathBuf::from(format!("/proc/{}/root", self.init))
    }

    /// [`Machine::boot`]'s `mounts`, once the host is up: for a host whose
    /// packages install at first boot, the directories the packages make
    /// exist only then. What the packages put in a directory stays beside
    /// the rendered files, as at boot.
    pub fn mount_late(&self, mounts: &[(PathBuf, PathBuf)]) {
        let view = self.root_view();
        let mut script = String::from("set -eu\n");
        for (src, dst) in mounts {
            let packaged = under(&view, dst);
            if src.is_dir() && packaged.is_dir() {
                let mut cp = Command::new("cp");
                cp.args(["-a", "-n", "--"]).arg(packaged.join(".")).arg(src);
                run(&mut cp, Duration::from_secs(60))
                    .expect_success(&format!("copy {} into the host", packaged.display()));
            }
            let (s, d) = (
                shell_quote(&src.to_string_lossy()),
                shell_quote(&dst.to_string_lossy()),
            );
            if src.is_dir() {
                script.push_str(&format!("mkdir -p {d}\n"));
            }
            // The lab directory is at its own path inside the host's root.
            script.push_str(&format!("mount --bind {s} {d}\n"));
        }
        let env = [("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")];
        self.run("/bin/sh", &["-c", &script], &env, Duration::from_secs(60))
            .expect_success(&format!("{}: bind the host's files", self.name));
    }

    /// A command that runs `program` inside the host (all its namespaces,
    /// its root, working directory `wd`) with exactly the environment
    /// `env`.
    pub fn command<K: AsRef<OsStr>, V: AsRef<OsStr>>(
        &self,
        program: &str,
        args: &[&str],
        env: &[(K, V)],
        wd: &str,
    ) -> Command {
        let pid = self.init;
        let mut cmd = Command::new(&self.nsenter);
        for ns in ["mnt", "uts", "net", "pid"] {
            let flag = if ns == "mnt" { "mount" } else { ns };
            cmd.arg(format!("--{flag}=/proc/{pid}/ns/{ns}"));
        }
        // nsenter opens the root and the working directory (the init's:
        // the top of the root) before it enters the namespaces, then
        // chroots into the one and changes to the other.
        cmd.arg(format!("--root=/proc/{pid}/root"))
            .arg(format!("--wd=/proc/{pid}/cwd"))
            .arg("--");
        if wd != "/" {
            cmd.args(["/usr/bin/env", "-C", wd, "--"]);
        }
        cmd.arg(program)
            .args(args)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)));
        cmd
    }

    /// Runs a program in the host to completion (killed after `timeout`).
    pub fn run<K: AsRef<OsStr>, V: AsRef<OsStr>>(
        &self,
        program: &str,
        args: &[&str],
        env: &[(K, V)],
        timeout: Duration,
    ) -> Outcome {
        run(&mut self.command(program, args, env, "/"), timeout)
    }

    /// Starts a long-running program in the host; its output is appended
    /// to `stdout` and `stderr` (paths outside the host's namespaces).
    #[allow(clippy::too_many_arguments)]
    pub fn spawn<K: AsRef<OsStr>, V: AsRef<OsStr>>(
        &mut self,
        name: &str,
        program: &str,
        args: &[&str],
        env: &[(K, V)],
        wd: &str,
        stdout: &Path,
        stderr: &Path,
    ) {
        let open = |p: &Path| {
            fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .unwrap_or_else(|e| panic!("cannot open {}: {e}", p.display()))
        };
        let child = self
            .command(program, args, env, wd)
            .stdin(Stdio::null())
            .stdout(open(stdout))
            .stderr(open(stderr))
            .spawn()
            .unwrap_or_else(|e| panic!("{}: cannot start {name}: {e}", self.name));
        self.services.push(Service {
            name: name.to_string(),
            child,
        });
    }

    /// Waits (bounded) for the last service named `name` to exit: its exit
    /// status, or `None` on timeout.
    pub fn wait_service(&mut self, name: &str, timeout: Duration) -> Option<ExitStatus> {
        let s = self
            .services
            .iter_mut()
            .rev()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no service {name} was started"));
        wait_deadline(&mut s.child, timeout)
    }

    /// PIDs (in the lab's PID namespace) of this host's live processes whose
    /// command name is `comm`.
    pub fn pids(&self, comm: &str) -> Vec<u32> {
        self.members()
            .into_iter()
            .filter(|p| p.comm == comm)
            .map(|p| p.pid)
            .collect()
    }

    /// Every live (not zombie) process of this host, by PID.
    fn members(&self) -> Vec<Proc> {
        self.members_all()
            .into_iter()
            .filter(|p| p.state != 'Z' && p.state != 'X')
            .collect()
    }

    /// Every process of this host, zombies included, by PID.
    fn members_all(&self) -> Vec<Proc> {
        let mut out = Vec::new();
        let Ok(entries) = fs::read_dir("/proc") else {
            return out;
        };
        for e in entries.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            // A process that exits while this runs is simply not listed.
            if let Some(p) = self.any(pid) {
                out.push(p);
            }
        }
        out.sort_unstable_by_key(|p| p.pid);
        out
    }

    /// `pid` as a live process of this host, or `None` when it has exited
    /// (or is a zombie, which no signal reaches) or is not this host's.
    fn live(&self, pid: u32) -> Option<Proc> {
        self.any(pid).filter(|p| p.state != 'Z' && p.state != 'X')
    }

    /// `pid` as a process of this host in any state.
    fn any(&self, pid: u32) -> Option<Proc> {
        let ns = fs::read_link(format!("/proc/{pid}/ns/pid")).ok()?;
        if ns.to_string_lossy() != self.pid_ns.as_str() {
            return None;
        }
        Proc::read(pid)
    }

    /// The processes named `comm` as a tree: the main one (whose parent is
    /// not named `comm`), its direct children and the rest (grandchildren
    /// such as the short-lived script runs keepalived forks). Polls
    /// (bounded) until there is exactly one main process: a process
    /// that is half forked, or whose parent just exited, is transient.
    pub fn tree(&self, comm: &str) -> Tree {
        let deadline = Instant::now() + TREE_SETTLE;
        let mut last = Vec::new();
        for _ in 0..(TREE_SETTLE.as_millis() / 50 + 1) {
            let all: Vec<Proc> = self
                .members()
                .into_iter()
                .filter(|p| p.comm == comm)
                .collect();
            let pids: Vec<u32> = all.iter().map(|p| p.pid).collect();
            let main: Vec<u32> = all
                .iter()
                .filter(|p| !pids.contains(&p.ppid))
                .map(|p| p.pid)
                .collect();
            if let [main] = main[..] {
                let (children, rest) = all
                    .iter()
                    .filter(|p| p.pid != main)
                    .partition::<Vec<&Proc>, _>(|p| p.ppid == main);
                return Tree {
                    main,
                    children: children.iter().map(|p| p.pid).collect(),
                    rest: rest.iter().map(|p| p.pid).collect(),
                };
            }
            last = all;
            if Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "{}: not exactly one main {comm} process within {TREE_SETTLE:?}: {last:?}",
            self.name
        )
    }

    /// Sends `signal` (e.g. `KILL`) by PID, one process at a time, first to
    /// every process of `targets`, then to every process of `others`.
    ///
    /// `targets` are the processes the scenario is about (a broker's
    /// Erlang VM, HAProxy's master, keepalived): each must be a live
    /// process of this host when it is signalled and must take the signal;
    /// anything else panics. `others` are processes that go with them (a
    /// VM's short-lived children, workers that exit when their master
    /// dies): one that has exited by the time its turn comes (`kill` fails
    /// with "No such process" and /proc confirms it is gone) is gone, not
    /// an error. Returns the `others` that were signalled.
    pub fn signal(&self, targets: &[u32], others: &[u32], signal: &str) -> Vec<u32> {
        assert!(
            !targets.is_empty(),
            "{}: no process to send SIG{signal} to",
            self.name
        );
        for &pid in targets {
            let before = self.live(pid).unwrap_or_else(|| {
                panic!(
                    "{}: pid {pid} is not a live process of this host: it cannot take SIG{signal}",
                    self.name
                )
            });
            let o = self.kill_one(pid, signal);
            assert!(
                o.success(),
                "{}: {} (pid {pid}) did not take SIG{signal} (still alive: {}): {o}",
                self.name,
                before.comm,
                self.live(pid).is_some()
            );
        }
        let mut sent = Vec::new();
        for &pid in others {
            if self.live(pid).is_none() {
                continue;
            }
            let o = self.kill_one(pid, signal);
            if o.success() {
                sent.push(pid);
            } else {
                // It exited between the check and the signal: gone. A
                // failure for any other reason leaves it alive.
                assert!(
                    self.live(pid).is_none(),
                    "{}: kill -s {signal} {pid} failed and the process is still there: {o}",
                    self.name
                );
            }
        }
        sent
    }

    fn kill_one(&self, pid: u32, signal: &str) -> Outcome {
        let mut cmd = Command::new(&self.kill);
        cmd.args(["-s", signal, "--", &pid.to_string()]);
        run(&mut cmd, Duration::from_secs(10))
    }

    /// Waits (bounded) until no process named `comm` is left, not even a
    /// zombie: until it is reaped its PID still answers `kill -0`, and a
    /// daemon restarted meanwhile (keepalived, reading its old pid file)
    /// takes it for a copy of itself still running.
    pub fn wait_gone(&self, comm: &str, timeout: Duration) -> bool {
        let left = || self.members_all().into_iter().any(|p| p.comm == comm);
        let deadline = Instant::now() + timeout;
        for _ in 0..(timeout.as_millis() / 20 + 1) {
            if !left() {
                return true;
            }
            if Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        !left()
    }

    /// Reaps services that have exited (their nsenter parents).
    pub fn reap(&mut self) {
        self.services
            .retain_mut(|s| !matches!(s.child.try_wait(), Ok(Some(_))));
    }
}

impl Drop for Machine {
    fn drop(&mut self) {
        // unshare dies; --kill-child SIGKILLs the namespace's init; the
        // kernel kills every other process of the host.
        let _ = self.holder.kill();
        let _ = self.holder.wait();
        // That kill is asynchronous: the host's processes are gone only
        // once the kernel has ended them (a large Erlang VM takes a while
        // to unmap). Wait for it, so that whatever comes next (deleting
        // the network namespace, the leftover check in test-all.sh, the
        // next lab run) finds none of them.
        let deadline = Instant::now() + TEARDOWN;
        let mut left = self.members();
        for _ in 0..(TEARDOWN.as_millis() / 50 + 1) {
            if left.is_empty() || Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
            left = self.members();
        }
        if !left.is_empty() {
            eprintln!(
                "warning: {}: processes still alive {TEARDOWN:?} after the host was stopped: {left:?}",
                self.name
            );
        }
        for s in &mut self.services {
            if wait_deadline(&mut s.child, Duration::from_secs(10)).is_none() {
                eprintln!(
                    "warning: {} {} (pid {}) still running: killing it",
                    self.name,
                    s.name,
                    s.child.id()
                );
                let _ = s.child.kill();
                let _ = s.child.wait();
            }
        }
    }
}
