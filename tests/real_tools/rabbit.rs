//! A single real RabbitMQ node, isolated from the host: its own network,
//! mount and PID namespaces (a tmpfs over /etc/rabbitmq holds the rendered
//! files), its own epmd, cookie, data and log directories.
//!
//! Everything the node starts lives in the PID namespace, whose init is
//! killed (by PID) on drop: the kernel then kills every process left in it,
//! epmd and beam included, and the network namespace goes with it.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use super::harness::{run, spawn_logged, tail, wait_deadline, Bins, Outcome, TempDir};

/// Tools the node needs besides the RabbitMQ scripts (epmd is the
/// release's, in its root filesystem).
pub const TOOLS: &[&str] = &["ip", "unshare", "nsenter", "setpriv", "mount", "chroot"];

/// The release's epmd (erlang-base), inside its root filesystem.
const EPMD: &str = "/usr/bin/epmd";

/// Where the rendered broker files go; a tmpfs is mounted over it.
pub const ETC: &str = "/etc/rabbitmq";

/// The node's listeners. The node has a network namespace of its own, so
/// nothing else can hold these ports; they sit below the kernel's ephemeral
/// range (32768-60999) and away from 35672-35682, which rabbitmqctl itself
/// binds for its distribution by default.
pub const PORTS: Ports = Ports {
    amqp: 21672,
    management: 21673,
    prometheus: 21674,
    distribution: 21675,
};

/// epmd's port (not a spec setting: `ERL_EPMD_PORT`).
const EPMD_PORT: u16 = 21676;

/// The node name: `localhost` resolves without any /etc/hosts entry.
pub const NODE: &str = "rabbit@localhost";

const BOOT_TIMEOUT_S: u64 = 120;
const CLI_TIMEOUT: Duration = Duration::from_secs(120);

/// Broker ports, as the spec's `rabbitmq.ports` holds them.
#[derive(Clone, Copy)]
pub struct Ports {
    pub amqp: u16,
    pub management: u16,
    pub prometheus: u16,
    pub distribution: u16,
}

/// The installed RabbitMQ.
pub struct Installation {
    /// Directory of the real scripts (Debian's /usr/sbin wrappers `su
    /// rabbitmq`, which resets HOME and so the cookie).
    pub sbin: PathBuf,
    /// `MAJOR.MINOR`, e.g. `3.10`.
    pub series: String,
    /// Full version, e.g. `3.10.8`.
    pub version: String,
}

/// Finds /usr/lib/rabbitmq/lib/rabbitmq_server-<version>/sbin in the root
/// filesystem `base`; `sbin` is its path inside that root.
pub fn installation_at(base: &Path) -> Result<Installation, String> {
    let inside = Path::new("/usr/lib/rabbitmq/lib");
    let lib = base.join(inside.strip_prefix("/").expect("absolute"));
    let mut found: Vec<(String, PathBuf)> = fs::read_dir(&lib)
        .map_err(|e| format!("rabbitmq-server is not installed ({}: {e})", lib.display()))?
        .filter_map(|e| {
            let e = e.ok()?;
            let name = e.file_name().to_string_lossy().into_owned();
            let version = name.strip_prefix("rabbitmq_server-")?.to_string();
            let sbin = inside.join(e.file_name()).join("sbin");
            e.path()
                .join("sbin/rabbitmq-server")
                .exists()
                .then_some((version, sbin))
        })
        .collect();
    found.sort();
    let (version, sbin) = found
        .pop()
        .ok_or_else(|| format!("no rabbitmq_server-*/sbin under {}", lib.display()))?;
    let series = version.splitn(3, '.').take(2).collect::<Vec<_>>().join(".");
    Ok(Installation {
        sbin,
        series,
        version,
    })
}

/// A file to place under [`ETC`]: path relative to it, contents, mode.
pub struct EtcFile {
    pub rel: String,
    pub bytes: Vec<u8>,
    pub mode: u32,
}

impl EtcFile {
    /// A file for the absolute host path `path`, which must be under [`ETC`].
    pub fn at(path: &str, bytes: impl Into<Vec<u8>>, mode: u32) -> Self {
        let rel = path
            .strip_prefix(ETC)
            .and_then(|r| r.strip_prefix('/'))
            .unwrap_or_else(|| panic!("{path} is not under {ETC}: the test cannot place it"));
        Self {
            rel: rel.to_string(),
            bytes: bytes.into(),
            mode,
        }
    }
}

/// Holds the namespaces: assembles the node's root (an overlay over the
/// release's root filesystem, its upper layer in a tmpfs of this mount
/// namespace, so the cached tree is never written; /proc, /dev, /run,
/// /tmp; the host's /etc/hosts, as sid's minimal root has none; the node's
/// directory at its own path), copies the files into /etc/rabbitmq, brings
/// up loopback, then sleeps as the PID namespace's init inside the root.
/// $1 staging dir, $2 marker file written when ready, $3 the release's root
/// filesystem, $4 the node's directory.
const HOLDER: &str = r#"set -eu
ip link set lo up
mount -t tmpfs -o mode=0755 rmqgen-overlay "$4/overlay"
mkdir "$4/overlay/upper" "$4/overlay/work" "$4/overlay/root"
R="$4/overlay/root"
mount -t overlay -o lowerdir="$3",upperdir="$4/overlay/upper",workdir="$4/overlay/work" rmqgen-root "$R"
mount -t proc proc "$R/proc"
mount --rbind /dev "$R/dev"
mount -t tmpfs -o mode=0755 rmqgen-run "$R/run"
mount -t tmpfs -o mode=1777 rmqgen-tmp "$R/tmp"
cat /etc/hosts > "$R/etc/hosts"
mkdir -p "$R$4"
mount --bind "$4" "$R$4"
rm -rf "$R/etc/rabbitmq"
mkdir -m 0755 "$R/etc/rabbitmq"
cp -a "$1/." "$R/etc/rabbitmq/"
exec chroot "$R" /bin/sh -c ': > "$1"; exec sleep 2147483647' init "$2"
"#;

/// A running node. Dropping it kills every process it started.
pub struct Node {
    holder: Child,
    /// The PID namespace's init, inside the node's root.
    init: u32,
    background: Vec<(String, Child)>,
    env: Vec<(&'static str, OsString)>,
    nsenter: PathBuf,
    sbin: PathBuf,
    // Declared last: removed after the processes are gone.
    dir: TempDir,
}

impl Node {
    /// Boots a node on `files` and waits until RabbitMQ is running.
    /// `config` and `plugins`: absolute paths of rabbitmq.conf and
    /// enabled_plugins (under [`ETC`]).
    pub fn start(
        inst: &Installation,
        base: &Path,
        bins: &Bins,
        files: &[EtcFile],
        config: &str,
        plugins: &str,
    ) -> Node {
        Self::start_env(inst, base, bins, files, config, plugins, None)
    }

    /// [`Node::start`], with the node and its CLI tools reading
    /// `env_file` (under [`ETC`], one of `files`) as `rabbitmq-env.conf`.
    pub fn start_with_env_file(
        inst: &Installation,
        base: &Path,
        bins: &Bins,
        files: &[EtcFile],
        config: &str,
        plugins: &str,
        env_file: &str,
    ) -> Node {
        Self::start_env(inst, base, bins, files, config, plugins, Some(env_file))
    }

    fn start_env(
        inst: &Installation,
        base: &Path,
        bins: &Bins,
        files: &[EtcFile],
        config: &str,
        plugins: &str,
        env_file: Option<&str>,
    ) -> Node {
        let dir = TempDir::new("rabbitmq");
        let stage = dir.path().join("etc");
        for f in files {
            super::harness::write_file(&stage.join(&f.rel), &f.bytes, f.mode);
        }
        // Any 20 upper-case letters do; 0400 or Erlang refuses it.
        dir.write("home/.erlang.cookie", b"RMQGENREALTOOLSTESTS", 0o400);
        for sub in ["mnesia", "log", "overlay"] {
            fs::create_dir(dir.path().join(sub)).expect("create node directory");
        }
        let p = |rel: &str| dir.path().join(rel).into_os_string();
        let env: Vec<(&'static str, OsString)> = vec![
            ("HOME", p("home")),
            ("RABBITMQ_NODENAME", NODE.into()),
            ("ERL_EPMD_PORT", EPMD_PORT.to_string().into()),
            ("RABBITMQ_CONFIG_FILE", config.into()),
            ("RABBITMQ_ENABLED_PLUGINS_FILE", plugins.into()),
            ("RABBITMQ_MNESIA_BASE", p("mnesia")),
            ("RABBITMQ_LOG_BASE", p("log")),
            ("RABBITMQ_PID_FILE", p("rabbit.pid")),
            // Absent files: nothing from the host's configuration leaks in.
            (
                "RABBITMQ_CONF_ENV_FILE",
                env_file.map_or_else(|| p("rabbitmq-env.conf"), Into::into),
            ),
            ("RABBITMQ_ADVANCED_CONFIG_FILE", p("advanced.config")),
            ("PATH", {
                // Inside the release's root.
                let mut path = inst.sbin.clone().into_os_string();
                path.push(":/usr/sbin:/usr/bin:/sbin:/bin");
                path
            }),
            ("LANG", "C.UTF-8".into()),
            ("LC_ALL", "C.UTF-8".into()),
        ];

        let marker = dir.path().join("ready");
        // setpriv --pdeathsig: if the test process itself dies (SIGKILL,
        // a CI timeout), unshare dies too, and --kill-child takes the
        // namespace's init with it.
        let holder = spawn_logged(
            Command::new(bins.get("setpriv"))
                .args(["--pdeathsig", "KILL"])
                .arg(bins.get("unshare"))
                .args([
                    "--mount",
                    "--propagation",
                    "private",
                    "--net",
                    "--pid",
                    "--fork",
                    "--mount-proc",
                    "--kill-child",
                    "/bin/sh",
                    "-c",
                    HOLDER,
                    "sh",
                ])
                .arg(&stage)
                .arg(&marker)
                .arg(base)
                .arg(dir.path())
                .envs(env.iter().map(|(k, v)| (k, v))),
            &dir.path().join("holder.out"),
            &dir.path().join("holder.err"),
        );
        let mut node = Node {
            holder,
            init: 0,
            background: Vec::new(),
            env,
            nsenter: bins.get("nsenter").to_path_buf(),
            sbin: inst.sbin.clone(),
            dir,
        };
        for attempt in 0.. {
            if marker.exists() {
                break;
            }
            if let Ok(Some(status)) = node.holder.try_wait() {
                panic!(
                    "the namespace holder exited ({status}): {}",
                    super::harness::read_lossy(&node.dir.path().join("holder.err"))
                );
            }
            assert!(attempt < 100, "the namespaces were not ready after 10 s");
            std::thread::sleep(Duration::from_millis(100));
        }
        let holder = node.holder.id();
        let children = format!("/proc/{holder}/task/{holder}/children");
        node.init = fs::read_to_string(&children)
            .ok()
            .and_then(|c| c.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("no init process in {children}"));

        let epmd = Path::new(EPMD);
        let port = EPMD_PORT.to_string();
        node.spawn("epmd", epmd, &["-port", &port]);
        // Started before the broker, so the broker does not start its own.
        for attempt in 0.. {
            let names = run(
                &mut node.command(epmd, &["-port", &port, "-names"]),
                Duration::from_secs(10),
            );
            if names.success() {
                break;
            }
            assert!(attempt < 50, "epmd did not answer after 50 tries: {names}");
            std::thread::sleep(Duration::from_millis(100));
        }

        let server = node.sbin.join("rabbitmq-server");
        node.spawn("rabbitmq-server", &server, &[]);
        // `rabbitmqctl wait` polls for the pid file, then for the rabbit
        // application; `await_startup` would fail at once while the node's
        // distribution is not up yet.
        let pid_file = node.dir.path().join("rabbit.pid");
        let wait = node.ctl_timeout(
            "rabbitmqctl",
            &[
                "wait",
                &pid_file.to_string_lossy(),
                "--timeout",
                &BOOT_TIMEOUT_S.to_string(),
            ],
            Duration::from_secs(BOOT_TIMEOUT_S + 30),
        );
        if !wait.success() {
            panic!(
                "the RabbitMQ node did not start: {wait}\n{}",
                node.diagnostics()
            );
        }
        node
    }

    /// Runs one of RabbitMQ's CLI tools (`rabbitmqctl`, `rabbitmq-diagnostics`,
    /// ...) against the node, inside its namespaces.
    pub fn ctl(&self, tool: &str, args: &[&str]) -> Outcome {
        self.ctl_timeout(tool, args, CLI_TIMEOUT)
    }

    fn ctl_timeout(&self, tool: &str, args: &[&str], timeout: Duration) -> Outcome {
        let program = self.sbin.join(tool);
        run(&mut self.command(&program, args), timeout)
    }

    /// Runs any program inside the node's namespaces, with the node's
    /// environment plus `extra`.
    pub fn exec(
        &self,
        program: &Path,
        args: &[&str],
        extra: &[(&str, &str)],
        timeout: Duration,
    ) -> Outcome {
        let mut cmd = self.command(program, args);
        cmd.envs(extra.iter().copied());
        run(&mut cmd, timeout)
    }

    /// The node's private directory (not visible as /etc/rabbitmq).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Server output and log tails, for failure messages.
    pub fn diagnostics(&self) -> String {
        let d = self.dir.path();
        format!(
            "--- rabbitmq-server output (tail) ---\n{}\n--- {NODE}.log (tail) ---\n{}",
            tail(&d.join("rabbitmq-server.out"), 40),
            tail(&d.join("log").join(format!("{NODE}.log")), 40),
        )
    }

    fn command(&self, program: &Path, args: &[&str]) -> Command {
        let pid = self.init;
        let mut cmd = Command::new(&self.nsenter);
        cmd.arg(format!("--mount=/proc/{pid}/ns/mnt"))
            .arg(format!("--net=/proc/{pid}/ns/net"))
            .arg(format!("--pid=/proc/{pid}/ns/pid"))
            // Opened before entering: the init's root and working directory.
            .arg(format!("--root=/proc/{pid}/root"))
            .arg(format!("--wd=/proc/{pid}/cwd"))
            .arg("--")
            .arg(program)
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd
    }

    fn spawn(&mut self, name: &str, program: &Path, args: &[&str]) {
        let d = self.dir.path().to_path_buf();
        let child = spawn_logged(
            &mut self.command(program, args),
            &d.join(format!("{name}.out")),
            &d.join(format!("{name}.err")),
        );
        self.background.push((name.to_string(), child));
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        // The holder is unshare; --kill-child makes its death SIGKILL the
        // namespace's init, and the kernel then kills everything in it.
        let _ = self.holder.kill();
        let _ = self.holder.wait();
        for (name, child) in &mut self.background {
            // An nsenter parent reaps its namespace child and returns once
            // the namespace is gone; killed only if it does not.
            if wait_deadline(child, Duration::from_secs(10)).is_none() {
                eprintln!(
                    "warning: {name} (pid {}) still running: killing it",
                    child.id()
                );
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}
