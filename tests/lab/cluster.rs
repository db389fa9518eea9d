//! The lab cluster: every host of a spec booted from the files its
//! cloud-init user-data writes, and the services started the way the
//! user-data's `runcmd` and the systemd units (Debian's, plus rmqgen's
//! drop-ins) start them.

use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rmqgen::plan::{paths, Role};
use rmqgen::testing::cloud_init::{host_files, HostFile};
use serde_json::Value;

use super::apt::{Installed, LabMirror, Mirror};
use super::client::{Client, Running};
use super::harness::{read_lossy, run, Bins, Outcome, TempDir};
use super::host::{hosts_file, make_dirs, place, under, Machine};
use super::net::Network;
use super::rabbit::{installation_at, Installation};
use super::report::now;
use super::secrets::Secrets;
use super::vip::{VipWatch, Watched};

/// Tools the lab runs.
pub const TOOLS: &[&str] = &[
    "ip",
    "unshare",
    "nsenter",
    "setpriv",
    "mount",
    "kill",
    "hostname",
    "chroot",
    "systemd-sysusers",
    "nft",
];

/// Debian's haproxy.service: `ExecStart=/usr/sbin/haproxy -Ws -f $CONFIG
/// -p $PIDFILE $EXTRAOPTS` with these values.
const HAPROXY_UNIT_ENV: &[(&str, &str)] = &[
    ("CONFIG", "/etc/haproxy/haproxy.cfg"),
    ("PIDFILE", "/run/haproxy.pid"),
    ("EXTRAOPTS", "-S /run/haproxy-master.sock"),
];
/// Debian's rabbitmq-server.service: `Restart=on-failure`, `RestartSec=10`.
pub const RABBITMQ_RESTART_SEC: Duration = Duration::from_secs(10);
/// The broker's data and log directories (Debian's; the rabbitmq user's
/// home is the first).
const RABBITMQ_HOME: &str = "/var/lib/rabbitmq";
const RABBITMQ_LOGS: &str = "/var/log/rabbitmq";
/// HAProxy's chroot holds its /dev/log here (Debian's unit bind-mounts the
/// host's /dev/log to it).
const HAPROXY_DEVLOG_DIR: &str = "/var/lib/haproxy/dev";
const CLI_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the syslog sink may take to bind its socket.
const SYSLOG_READY: Duration = Duration::from_secs(30);
const SYSLOG_SINK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/lab/syslog_sink.py");
/// Inside a host's root (the release's own).
const SETPRIV: &str = "/usr/bin/setpriv";
const PYTHON: &str = "/usr/bin/python3";

/// Copies the lab's logs to target/lab/logs/<spec>/ when dropped (after
/// the processes are gone, before the directory is removed). Secrets are
/// not copied.
struct LogKeeper {
    from: PathBuf,
    to: PathBuf,
}

impl Drop for LogKeeper {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.to);
        copy_logs(&self.from, &self.to, 0);
        eprintln!("lab: logs kept in {}", self.to.display());
    }
}

fn copy_logs(from: &Path, to: &Path, depth: usize) {
    let Ok(entries) = fs::read_dir(from) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_dir() && depth < 8 {
            // Of a host's root directory only its logs.
            if name == "root" {
                copy_logs(&p.join("var/log"), &to.join("var-log"), depth + 1);
            } else {
                copy_logs(&p, &to.join(&name), depth + 1);
            }
        } else if ft.is_file()
            && !name.ends_with(".secret")
            && [".log", ".out", ".err", ".jsonl", ".json", ".sh"]
                .iter()
                .any(|x| name.ends_with(x))
        {
            let _ = fs::create_dir_all(to);
            let _ = fs::copy(&p, to.join(&name));
        }
    }
}

/// The booted cluster. Fields drop in order: client processes, VIP
/// monitors, hosts (their PID namespaces), the log copy, the network, the
/// directory.
pub struct Lab {
    pub probe: Option<Running>,
    pub vip: Option<VipWatch>,
    pub brokers: Vec<Machine>,
    pub lbs: Vec<Machine>,
    /// The local apt repository the brokers installed RabbitMQ from, when
    /// the spec's install source is a mirror (see [`super::apt`]).
    _apt: Option<LabMirror>,
    /// What each broker's first-boot install did (empty without a mirror).
    pub installed: Vec<Installed>,
    _logs: LogKeeper,
    pub net: Network,
    _dir: TempDir,
    pub out: rmqgen::Output,
    pub bins: Bins,
    pub inst: Installation,
    pub client: Client,
    /// What rmqgen's keepalived drop-in tells systemd to do when keepalived
    /// stops: `ExecStopPost` commands, and the restart delay when it sets
    /// `Restart=always`.
    pub keepalived_unit: KeepalivedUnit,
    /// The stats page password, for the client (a file in the client dir).
    pub stats_password_file: PathBuf,
    /// Queues the client declared (they must exist, fully replicated).
    pub declared: Vec<String>,
    /// The values of the plan's secrets (a host booted later gets the same).
    pub secrets: Secrets,
}

/// Directives of a systemd unit (drop-in) file, in order.
pub fn unit_directives(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty() && !l.starts_with('#') && !l.starts_with(';') && !l.starts_with('[')
        })
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// `1s`, `500ms`, `2` (seconds) as systemd reads a time span.
pub fn systemd_span(v: &str) -> Duration {
    if let Some(ms) = v.strip_suffix("ms") {
        Duration::from_millis(ms.trim().parse().expect("a systemd ms span"))
    } else {
        let s = v.strip_suffix('s').unwrap_or(v);
        Duration::from_secs_f64(s.trim().parse().expect("a systemd s span"))
    }
}

/// An address in the subnet for the client: the highest one no host and
/// not the VIP uses.
fn client_address(plan: &rmqgen::Plan) -> Ipv4Addr {
    let cidr = *plan.network.cidr;
    let (lo, hi) = (u32::from(cidr.network()), u32::from(cidr.broadcast()));
    (lo + 1..hi)
        .rev()
        .map(Ipv4Addr::from)
        .find(|a| {
            *a != *plan.vip
                && Some(*a) != plan.network.gateway.as_deref().copied()
                && plan.hosts.iter().all(|h| h.address != *a)
        })
        .expect("a free address for the client")
}

impl Lab {
    /// Builds the network, places every host's files and starts the
    /// hosts' namespaces (no services yet). `inst`: the broker installation
    /// of `base`; `None` when the spec installs RabbitMQ from a mirror, which
    /// the lab then serves: each broker boots without RabbitMQ and installs
    /// it through its rendered user-data before its files are placed (as
    /// cloud-init writes the deferred files after the packages).
    #[allow(clippy::too_many_arguments)]
    pub fn boot(
        spec: &str,
        release: &str,
        base: &Path,
        out: rmqgen::Output,
        bins: Bins,
        inst: Option<Installation>,
        python: PathBuf,
    ) -> Lab {
        let plan = &out.plan;
        assert_eq!(
            plan.provisioning,
            rmqgen::spec::Provisioning::CloudInit,
            "the lab runs what cloud-init writes: {spec} is not a cloud-init spec"
        );
        remove_stale_dirs();
        eprintln!(
            "lab: {spec}: every host runs in Debian {release}'s root filesystem {}",
            base.display()
        );
        let dir = TempDir::new(&format!("lab-{spec}"));
        let secrets = Secrets::generate(plan);
        let mut net = Network::new(&bins);
        let n = &plan.network;
        let mut brokers = Vec::new();
        let mut lbs = Vec::new();
        let mut keepalived_unit = KeepalivedUnit::default();
        let mirror = Mirror::of(plan).map(|m| {
            assert!(
                inst.is_none(),
                "{spec} installs RabbitMQ from a mirror: its hosts boot a root filesystem without it"
            );
            LabMirror::start(&bins, &mut net, plan, m, release, dir.path())
        });
        // Brokers booted without RabbitMQ, waiting for their install.
        let mut first_boot = Vec::new();
        for host in &plan.hosts {
            let files: Vec<HostFile> = host_files(plan, &out.roles, host);
            let att = net.attach(
                &host.name,
                &n.interface,
                *host.address,
                n.prefix,
                n.mtu,
                &hosts_file(&files),
            );
            let hdir = dir.path().join("hosts").join(host.name.as_str());
            let root = hdir.join("root");
            fs::create_dir_all(&root).expect("create the host's root");
            if mirror.is_some() && host.role == Role::Broker {
                let m = Machine::boot(&bins, att, hdir, root, base, dir.path(), &[], &[]);
                first_boot.push((m, files));
                continue;
            }
            let mut placed = place(&root, base, &files, &secrets);
            eprintln!(
                "lab: {} ({:?}) {} at {}/{}: {} files from host_files ({}); only in its root: [{}]; skipped: [{}]",
                host.name,
                host.role,
                att.netns,
                host.address,
                n.prefix,
                placed.written.len(),
                placed.written.join(", "),
                placed.unmapped.join(", "),
                placed
                    .skipped
                    .iter()
                    .map(|(p, why)| format!("{p} ({why})"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            let mut setup = Vec::new();
            match host.role {
                Role::Broker => {
                    // Made by the rabbitmq-server package; the broker's own.
                    for d in [RABBITMQ_HOME, RABBITMQ_LOGS] {
                        let real = Path::new(d);
                        make_dirs(&root, base, real);
                        if !placed.mounts.iter().any(|(_, dst)| dst == real) {
                            placed.mounts.push((under(&root, real), real.to_path_buf()));
                        }
                    }
                }
                Role::LoadBalancer => {
                    // Made by the haproxy package / systemd's RuntimeDirectory.
                    setup.push("install -d -o haproxy -g haproxy -m 2775 /run/haproxy".to_string());
                    let devlog = Path::new(HAPROXY_DEVLOG_DIR);
                    make_dirs(&root, base, devlog);
                    placed
                        .mounts
                        .push((under(&root, devlog), devlog.to_path_buf()));
                    keepalived_unit =
                        prepare_script_user(&bins, &root, base, &files, &mut placed.mounts);
                }
            }
            fs::create_dir_all(&hdir).expect("host dir");
            let m = Machine::boot(
                &bins,
                att,
                hdir,
                root,
                base,
                dir.path(),
                &placed.mounts,
                &setup,
            );
            match host.role {
                Role::Broker => brokers.push(m),
                Role::LoadBalancer => lbs.push(m),
            }
        }
        let mut installed = Vec::new();
        if let Some(lm) = &mirror {
            installed = install_brokers(&out, &secrets, lm, &first_boot);
            for (m, files) in first_boot {
                brokers.push(place_after_install(m, &files, &secrets));
            }
        }
        let inst = inst.unwrap_or_else(|| {
            let i = installation_at(&brokers[0].root_view())
                .unwrap_or_else(|e| panic!("{}: after the install: {e}", brokers[0].name));
            for b in &brokers[1..] {
                let other = installation_at(&b.root_view()).map(|o| o.version);
                assert_eq!(
                    other.as_deref(),
                    Ok(i.version.as_str()),
                    "{} installed another RabbitMQ than {}",
                    b.name,
                    brokers[0].name
                );
            }
            i
        });

        // The client: not a spec host; the cluster's hosts file.
        let hosts_fragment = out
            .bundle
            .get("hosts/etc-hosts")
            .map(|a| a.text().to_string())
            .unwrap_or_default();
        let cdir = dir.path().join("client");
        fs::create_dir_all(&cdir).expect("client dir");
        let caddr = client_address(plan);
        let catt = net.attach(
            "lab-client",
            &n.interface,
            caddr,
            n.prefix,
            n.mtu,
            &format!("{}{hosts_fragment}", super::host::BASE_HOSTS),
        );
        eprintln!("lab: client {} at {caddr}/{}", catt.netns, n.prefix);

        let r = &plan.rabbitmq;
        let user = r
            .users
            .iter()
            .find(|u| {
                u.permissions
                    .iter()
                    .any(|p| p.configure == ".*" && p.write == ".*" && p.read == ".*")
            })
            .expect("the lab needs a spec user with full permissions on a vhost");
        let vhost = user
            .permissions
            .iter()
            .find(|p| p.configure == ".*" && p.write == ".*" && p.read == ".*")
            .map(|p| p.vhost.to_string())
            .expect("a vhost");
        let password_file = super::harness::write_file(
            &cdir.join("user.secret"),
            secrets.get(&user.password_secret).as_bytes(),
            0o600,
        );
        let stats_password_file = super::harness::write_file(
            &cdir.join("stats.secret"),
            secrets.get(&plan.haproxy.stats.password_secret).as_bytes(),
            0o600,
        );
        let quorum = r.policy.mode == rmqgen::spec::QueueHaMode::Quorum;
        let client = Client::new(
            &bins,
            python,
            catt.netns.clone(),
            cdir,
            *plan.vip,
            *plan.haproxy.amqp_port,
            vhost,
            user.name.to_string(),
            password_file,
            quorum,
        );
        // runcmd's first step: the host firewall, before any service.
        super::firewall::load(&brokers.iter().chain(&lbs).collect::<Vec<_>>());
        let logs = LogKeeper {
            from: dir.path().to_path_buf(),
            to: super::report::target_dir()
                .join("lab")
                .join("logs")
                .join(spec),
        };
        Lab {
            probe: None,
            vip: None,
            brokers,
            lbs,
            _apt: mirror,
            installed,
            _logs: logs,
            net,
            _dir: dir,
            out,
            bins,
            inst,
            client,
            keepalived_unit,
            stats_password_file,
            declared: Vec::new(),
            secrets,
        }
    }

    /// The plan.
    pub fn plan(&self) -> &rmqgen::Plan {
        &self.out.plan
    }

    // ------------------------------------------------------------ brokers

    fn broker_env(&self) -> Vec<(&'static str, String)> {
        vec![
            (
                "PATH",
                format!("{}:/usr/sbin:/usr/bin:/sbin:/bin", self.inst.sbin.display()),
            ),
            // The rabbitmq user's home: where the cookie is.
            ("HOME", RABBITMQ_HOME.to_string()),
            ("LANG", "C.UTF-8".into()),
            ("LC_ALL", "C.UTF-8".into()),
        ]
    }

    /// Starts rabbitmq-server on broker `i` as Debian's unit does: as the
    /// rabbitmq user, umask 0027, in /var/lib/rabbitmq, output appended
    /// to /var/log/rabbitmq/rabbitmq-server{,.error}.log.
    pub fn start_broker(&mut self, i: usize) {
        let mut env = self.broker_env();
        // The package's paths, named explicitly so nothing else is used.
        env.extend([
            ("RABBITMQ_CONFIG_FILE", paths::RABBITMQ_CONF.to_string()),
            (
                "RABBITMQ_ENABLED_PLUGINS_FILE",
                paths::ENABLED_PLUGINS.to_string(),
            ),
            ("RABBITMQ_MNESIA_BASE", format!("{RABBITMQ_HOME}/mnesia")),
            ("RABBITMQ_LOG_BASE", RABBITMQ_LOGS.to_string()),
        ]);
        let server = self.inst.sbin.join("rabbitmq-server");
        let server = server.to_string_lossy().into_owned();
        let m = &mut self.brokers[i];
        let logs = under(&m.root, Path::new(RABBITMQ_LOGS));
        m.spawn(
            "rabbitmq-server",
            SETPRIV,
            &[
                "--reuid=rabbitmq",
                "--regid=rabbitmq",
                "--init-groups",
                "/bin/sh",
                "-c",
                "umask 0027; exec \"$0\" \"$@\"",
                &server,
            ],
            &env,
            RABBITMQ_HOME,
            &logs.join("rabbitmq-server.log"),
            &logs.join("rabbitmq-server.error.log"),
        );
    }

    /// One of RabbitMQ's CLI tools on broker `i`, as root with the rabbitmq
    /// user's HOME (what Debian's wrappers arrange with `su rabbitmq`).
    pub fn ctl(&self, i: usize, tool: &str, args: &[&str], timeout: Duration) -> Outcome {
        let program = self.inst.sbin.join(tool);
        self.brokers[i].run(
            &program.to_string_lossy(),
            args,
            &self.broker_env(),
            timeout,
        )
    }

    /// Waits for broker `i`'s boot to complete (what `systemctl start`
    /// waits for with the unit's Type=notify).
    pub fn wait_broker_booted(&self, i: usize, timeout: Duration) -> Outcome {
        let node = &self.plan().brokers[i].node_name;
        let pid_file = format!("{RABBITMQ_HOME}/mnesia/{node}.pid");
        let secs = timeout.as_secs().to_string();
        self.ctl(
            i,
            "rabbitmqctl",
            &["wait", &pid_file, "--timeout", &secs],
            timeout + Duration::from_secs(30),
        )
    }

    /// Running nodes as broker `i` sees them.
    pub fn running_nodes(&self, i: usize) -> Result<Vec<String>, String> {
        let o = self.ctl(
            i,
            "rabbitmqctl",
            &["-q", "cluster_status", "--formatter", "json"],
            CLI_TIMEOUT,
        );
        if !o.success() {
            return Err(o.to_string());
        }
        let v: Value =
            serde_json::from_str(o.stdout.trim()).map_err(|e| format!("{e}: {}", o.stdout))?;
        Ok(v["running_nodes"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|n| n.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Polls (every ~1 s, bounded) until broker `i` sees every broker
    /// running; the time it did.
    pub fn wait_all_running(&self, i: usize, timeout: Duration) -> Option<f64> {
        let want = self.plan().brokers.len();
        let deadline = Instant::now() + timeout;
        for _ in 0..(timeout.as_secs() + 1) {
            if let Ok(nodes) = self.running_nodes(i) {
                if nodes.len() == want {
                    return Some(now());
                }
            }
            if Instant::now() >= deadline {
                break;
            }
            // Each rabbitmqctl call is an Erlang VM start (~1 s of CPU):
            // polling faster would slow the very boot it waits for.
            std::thread::sleep(Duration::from_millis(1500));
        }
        None
    }

    /// `list_queues` on broker `i` as JSON objects.
    pub fn queues(&self, i: usize) -> Result<Vec<Value>, String> {
        let quorum = self.client.quorum;
        let mut args = vec!["-q", "list_queues", "--vhost", &self.client.vhost];
        if quorum {
            args.extend(["name", "policy", "type", "leader", "members", "online"]);
        } else {
            args.extend([
                "name",
                "policy",
                "pid",
                "slave_pids",
                "synchronised_slave_pids",
            ]);
        }
        args.extend(["--formatter", "json"]);
        let o = self.ctl(i, "rabbitmqctl", &args, CLI_TIMEOUT);
        if !o.success() {
            return Err(o.to_string());
        }
        serde_json::from_str(o.stdout.trim()).map_err(|e| format!("{e}: {}", o.stdout))
    }

    /// The node that leads `queue` (classic: its master; quorum: its leader).
    pub fn queue_leader(&self, via: usize, queue: &str) -> Result<String, String> {
        // The JSON formatter prints pids without their node: the table.
        let column = if self.client.quorum { "leader" } else { "pid" };
        let args = [
            "-q",
            "list_queues",
            "--vhost",
            &self.client.vhost,
            "--no-table-headers",
            "name",
            column,
        ];
        let o = self.ctl(via, "rabbitmqctl", &args, CLI_TIMEOUT);
        if !o.success() {
            return Err(o.to_string());
        }
        o.stdout
            .lines()
            .filter_map(|l| l.split_once('\t'))
            .find(|(name, _)| *name == queue)
            .and_then(|(_, v)| {
                if self.client.quorum {
                    Some(v.trim().to_string())
                } else {
                    pid_node(v.trim())
                }
            })
            .ok_or_else(|| format!("no leader of {queue} in: {}", o.stdout))
    }

    /// Every queue that is not fully replicated, and every queue of
    /// `self.declared` that is missing (none: full strength).
    pub fn under_replicated(&self, via: usize) -> Result<Vec<String>, String> {
        let n = self.plan().brokers.len();
        let qs = self.queues(via)?;
        let len = |v: &Value| v.as_array().map_or(0, Vec::len);
        let mut missing: Vec<String> = self
            .declared
            .iter()
            .filter(|d| !qs.iter().any(|q| q["name"] == d.as_str()))
            .map(|d| format!("{d} missing"))
            .collect();
        missing.extend(
            qs.iter()
                .filter(|q| {
                    if self.client.quorum {
                        len(&q["members"]) != n || len(&q["online"]) != n
                    } else {
                        len(&q["synchronised_slave_pids"]) != n - 1
                    }
                })
                .map(|q| q.to_string()),
        );
        Ok(missing)
    }

    /// Polls until every queue is fully replicated (bounded); when it was.
    pub fn wait_replicated(&self, via: usize, timeout: Duration) -> Result<f64, String> {
        let deadline = Instant::now() + timeout;
        let mut last = String::new();
        for _ in 0..(timeout.as_secs() + 1) {
            match self.under_replicated(via) {
                Ok(v) if v.is_empty() => return Ok(now()),
                Ok(v) => last = v.join(" "),
                Err(e) => last = e,
            }
            if Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(2000));
        }
        Err(format!("not fully replicated after {timeout:?}: {last}"))
    }

    /// Starts the rendered queue-HA bootstrap in the background on broker
    /// `i`, as its timer does there. (cloud-init enables the timer on
    /// every broker; the script is idempotent, so a run on one broker is
    /// what the cluster needs.)
    pub fn start_bootstrap(&mut self, i: usize) -> usize {
        let env = self.broker_env();
        let m = &mut self.brokers[i];
        let log = m.dir.join("bootstrap.log");
        m.spawn(
            "bootstrap",
            paths::BOOTSTRAP,
            &[],
            &env,
            "/",
            &log,
            &log.with_extension("err"),
        );
        i
    }

    // ------------------------------------------------------ load balancers

    /// The rendered drop-in of a load balancer, as systemd would read it.
    fn dropin(&self, lb: usize, path: &str) -> Vec<(String, String)> {
        let f = under(&self.lbs[lb].root, Path::new(path));
        unit_directives(&read_lossy(&f))
    }

    /// Applies the rendered sysctl file in the load balancer's network
    /// namespace (net.ipv4 sysctls are per namespace). runcmd runs `sysctl
    /// --system`, which would also apply the test machine's own files.
    pub fn apply_sysctl(&self, lb: usize) -> String {
        let env = [("PATH", "/usr/sbin:/usr/bin:/sbin:/bin".to_string())];
        let m = &self.lbs[lb];
        m.run(
            "/usr/sbin/sysctl",
            &["-p", paths::LB_SYSCTL],
            &env,
            CLI_TIMEOUT,
        )
        .expect_success(&format!("{}: sysctl -p {}", m.name, paths::LB_SYSCTL));
        m.run(
            "/usr/sbin/sysctl",
            &["-n", "net.ipv4.ip_nonlocal_bind"],
            &env,
            CLI_TIMEOUT,
        )
        .expect_success("sysctl -n")
        .stdout
        .trim()
        .to_string()
    }

    /// Starts HAProxy's syslog sink for load balancer `lb`.
    pub fn start_syslog(&mut self, lb: usize) {
        let m = &mut self.lbs[lb];
        // The sink runs inside the host (its release's python3), from the
        // lab directory, which every host sees at its own path.
        let sink = m.dir.join("syslog_sink.py");
        fs::copy(SYSLOG_SINK, &sink).expect("copy the syslog sink");
        let sink = sink.to_string_lossy().into_owned();
        let out = m.dir.join("haproxy-syslog.log");
        let sock = format!("{HAPROXY_DEVLOG_DIR}/log");
        let out_s = out.to_string_lossy().into_owned();
        m.spawn(
            "syslog",
            PYTHON,
            &[&sink, &sock, &out_s, "1800"],
            &[("PATH", "/usr/bin:/bin".to_string())],
            "/",
            &m.dir.join("syslog.out"),
            &m.dir.join("syslog.err"),
        );
        // Ready once its socket is there and writable by the haproxy user:
        // HAProxy, started next, drops what it logs before that (and the
        // lab times DOWN/UP events from that log).
        let socket = under(&m.root, Path::new(&sock));
        let step = Duration::from_millis(50);
        let ready = (0..SYSLOG_READY.as_millis() / step.as_millis() + 1).any(|_| {
            let ok = fs::metadata(&socket).is_ok_and(|md| {
                std::os::unix::fs::FileTypeExt::is_socket(&md.file_type())
                    && std::os::unix::fs::PermissionsExt::mode(&md.permissions()) & 0o666 == 0o666
            });
            if !ok {
                std::thread::sleep(step);
            }
            ok
        });
        assert!(
            ready,
            "{}: the syslog sink did not bind {} within {SYSLOG_READY:?}: {}",
            m.name,
            socket.display(),
            read_lossy(&m.dir.join("syslog.err"))
        );
    }

    /// Starts HAProxy as haproxy.service with rmqgen's drop-in: the
    /// drop-in's EnvironmentFile and ExecStartPre, then Debian's ExecStart.
    pub fn start_haproxy(&mut self, lb: usize) {
        let mut env: Vec<(String, String)> =
            vec![("PATH".into(), "/usr/sbin:/usr/bin:/sbin:/bin".into())];
        let mut pre = Vec::new();
        for (k, v) in self.dropin(lb, paths::HAPROXY_DROPIN) {
            match k.as_str() {
                "EnvironmentFile" => {
                    let optional = v.starts_with('-');
                    let path = v.trim_start_matches('-');
                    let text = read_lossy(&under(&self.lbs[lb].root, Path::new(path)));
                    assert!(
                        optional || !text.starts_with('<'),
                        "haproxy drop-in: EnvironmentFile {path} is missing on {}",
                        self.lbs[lb].name
                    );
                    for line in text
                        .lines()
                        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
                    {
                        let (key, value) = line
                            .split_once('=')
                            .expect("KEY=VALUE in an environment file");
                        env.push((key.trim().to_string(), value.trim().to_string()));
                    }
                }
                "ExecStartPre" => pre.push(v),
                other => panic!("haproxy drop-in: the lab cannot emulate {other}={v}"),
            }
        }
        let m = &self.lbs[lb];
        for cmd in pre {
            let words = expand(&cmd, HAPROXY_UNIT_ENV);
            let args: Vec<&str> = words[1..].iter().map(String::as_str).collect();
            m.run(&words[0], &args, &env, CLI_TIMEOUT)
                .expect_success(&format!("{}: haproxy ExecStartPre {cmd}", m.name));
        }
        let words = expand(
            "/usr/sbin/haproxy -Ws -f $CONFIG -p $PIDFILE $EXTRAOPTS",
            HAPROXY_UNIT_ENV,
        );
        let args: Vec<&str> = words[1..].iter().map(String::as_str).collect();
        let m = &mut self.lbs[lb];
        let (o, e) = (m.dir.join("haproxy.log"), m.dir.join("haproxy.log"));
        m.spawn("haproxy", &words[0], &args, &env, "/", &o, &e);
    }

    /// Starts keepalived as Debian's keepalived.service does
    /// (`--dont-fork`; logging to the console so the lab keeps it).
    pub fn start_keepalived(&mut self, lb: usize) {
        let env = [("PATH", "/usr/sbin:/usr/bin:/sbin:/bin".to_string())];
        let m = &mut self.lbs[lb];
        let log = m.dir.join("keepalived.log");
        m.spawn(
            "keepalived",
            "/usr/sbin/keepalived",
            &["--dont-fork", "--log-console", "--log-detail"],
            &env,
            "/",
            &log,
            &log,
        );
    }

    /// What systemd does once keepalived on `lb` has exited: the drop-in's
    /// `ExecStopPost=` commands (a leading `-` ignores a failure).
    pub fn keepalived_stopped(&self, lb: usize) -> Vec<Outcome> {
        let env = [("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")];
        let mut out = Vec::new();
        for cmd in &self.keepalived_unit.stop_post {
            let ignore = cmd.starts_with('-');
            let words: Vec<&str> = cmd.trim_start_matches('-').split_whitespace().collect();
            let o = self.lbs[lb].run(words[0], &words[1..], &env, CLI_TIMEOUT);
            assert!(
                ignore || o.success(),
                "{}: keepalived ExecStopPost failed: {o}",
                self.lbs[lb].name
            );
            out.push(o);
        }
        out
    }

    /// keepalived's log so far (length, for "what came after").
    pub fn keepalived_log(&self, lb: usize) -> String {
        read_lossy(&self.lbs[lb].dir.join("keepalived.log"))
    }

    /// Waits (bounded) until keepalived on `lb` logs `needle` after byte
    /// `offset` of its log.
    pub fn wait_keepalived_log(
        &self,
        lb: usize,
        offset: usize,
        needle: &str,
        timeout: Duration,
    ) -> Option<f64> {
        let step = Duration::from_millis(100);
        for _ in 0..(timeout.as_millis() / step.as_millis() + 1) {
            let log = self.keepalived_log(lb);
            if log.get(offset..).is_some_and(|l| l.contains(needle)) {
                return Some(now());
            }
            std::thread::sleep(step);
        }
        None
    }

    /// HAProxy's view of the AMQP backend on `lb`, from its stats page
    /// (through the client namespace): (server, status).
    pub fn backend_status(&self, lb: usize) -> Result<Vec<(String, String)>, String> {
        let s = &self.plan().haproxy.stats;
        let url = format!(
            "http://{}:{}{};csv",
            self.plan().load_balancers[lb].address,
            s.port,
            s.uri
        );
        let rows = self
            .client
            .haproxy_stats(&url, &s.user, &self.stats_password_file)?;
        Ok(rows
            .into_iter()
            .filter(|(p, srv, _)| p == "rabbitmq_amqp" && srv != "BACKEND" && srv != "FRONTEND")
            .map(|(_, srv, st)| (srv, st))
            .collect())
    }

    /// Polls (bounded) until every load balancer's HAProxy has every broker
    /// UP; when it did.
    pub fn wait_backends_up(&self, timeout: Duration) -> Result<f64, String> {
        let n = self.plan().brokers.len();
        let step = Duration::from_millis(250);
        let mut last = String::new();
        for _ in 0..(timeout.as_millis() / step.as_millis() + 1) {
            let mut all = true;
            for lb in 0..self.lbs.len() {
                match self.backend_status(lb) {
                    Ok(rows) if rows.len() == n && rows.iter().all(|(_, s)| s == "UP") => {}
                    Ok(rows) => {
                        all = false;
                        last = format!("{}: {rows:?}", self.lbs[lb].name);
                    }
                    Err(e) => {
                        all = false;
                        last = e;
                    }
                }
            }
            if all {
                return Ok(now());
            }
            std::thread::sleep(step);
        }
        Err(format!("backends not all UP after {timeout:?}: {last}"))
    }

    /// Starts the VIP monitors.
    pub fn watch_vip(&mut self) {
        let lbs = self
            .lbs
            .iter()
            .map(|m| Watched {
                netns: m.net.netns.clone(),
                interface: m.net.interface.clone(),
            })
            .collect();
        self.vip = Some(VipWatch::start(&self.bins, lbs, *self.plan().vip));
    }

    /// The VIP watcher.
    pub fn vip(&self) -> &VipWatch {
        self.vip.as_ref().expect("watch_vip() first")
    }

    /// The probe's records so far.
    pub fn probes(&self) -> Vec<super::client::ProbeRecord> {
        let p = self.probe.as_ref().expect("the probe runs");
        super::client::probe_records(&p.out)
    }
}

/// Runs every first-boot broker's install at once (each in its own host);
/// checks each against the pin and the mirror.
fn install_brokers(
    out: &rmqgen::Output,
    secrets: &Secrets,
    lm: &LabMirror,
    first_boot: &[(Machine, Vec<HostFile>)],
) -> Vec<Installed> {
    let plan = &out.plan;
    let started = Instant::now();
    let user_data: Vec<String> = first_boot
        .iter()
        .map(|(m, _)| super::apt::user_data(out, &m.name, secrets))
        .collect();
    let hold: Vec<&str> = plan.install.hold.clone();
    let results: Vec<Installed> = std::thread::scope(|s| {
        let handles: Vec<_> = first_boot
            .iter()
            .zip(&user_data)
            .map(|((m, _), ud)| {
                let hold = &hold;
                s.spawn(move || {
                    super::apt::install(m, ud, &lm.mirror.keyring, &lm.repo.keyring, hold)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    let series = plan.rabbitmq.version.to_string();
    for i in &results {
        eprintln!("lab: {} from {}", i.line(), lm.mirror.url);
        if let Err(e) = super::apt::check_policy(i, &series, &lm.mirror.url) {
            panic!("the rendered pin did not select the series: {e}");
        }
        assert!(
            lm.repo.has("rabbitmq-server", &i.rabbitmq),
            "{}: rabbitmq-server {} is not the lab repository's",
            i.host,
            i.rabbitmq
        );
    }
    eprintln!(
        "lab: {} brokers installed RabbitMQ at first boot in {:.1} s",
        results.len(),
        started.elapsed().as_secs_f64()
    );
    results
}

/// Places a first-boot broker's files once its packages are installed:
/// what cloud-init's deferred `write_files` writes (the others it wrote
/// itself during the install), with the owners the packages created, and
/// the broker's data and log directories.
fn place_after_install(m: Machine, files: &[HostFile], secrets: &Secrets) -> Machine {
    let view = m.root_view();
    let deferred: Vec<HostFile> = files.iter().filter(|f| f.defer).cloned().collect();
    let mut placed = place(&m.root, &view, &deferred, secrets);
    for d in [RABBITMQ_HOME, RABBITMQ_LOGS] {
        let real = Path::new(d);
        make_dirs(&m.root, &view, real);
        if !placed.mounts.iter().any(|(_, dst)| dst == real) {
            placed
                .mounts
                .push((under(&m.root, real), real.to_path_buf()));
        }
    }
    eprintln!(
        "lab: {} (first boot) {} files from host_files after the install ({}); only in its root: [{}]",
        m.name,
        placed.written.len(),
        placed.written.join(", "),
        placed.unmapped.join(", ")
    );
    m.mount_late(&placed.mounts);
    let check = super::apt::series_check(&m);
    eprintln!(
        "lab: {}: {} passed (the installed series is the configuration's){}",
        m.name,
        paths::SERIES_CHECK,
        if check.is_empty() {
            String::new()
        } else {
            format!(": {check}")
        }
    );
    m
}

/// Removes the directories of lab runs that were killed before they could
/// (`rmqgen-rt-lab-<spec>-<pid>-<n>-<nanos>` whose pid is gone): they hold
/// the secrets the run generated.
fn remove_stale_dirs() {
    let Ok(entries) = fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.starts_with("rmqgen-rt-lab-") {
            continue;
        }
        let parts: Vec<&str> = name.rsplitn(4, '-').collect();
        let Some(pid) = parts.get(2).and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            eprintln!("lab: removing {name}, left by an earlier run (pid {pid} is gone)");
            let _ = fs::remove_dir_all(e.path());
        }
    }
}

/// The node of an Erlang pid as rabbitmqctl prints it
/// (`<rabbit@host.1669.123.0>` -> `rabbit@host`).
pub fn pid_node(pid: &str) -> Option<String> {
    let s = pid.trim_start_matches('<');
    let at = s.find('@')?;
    let end = s[at..].find('.').map_or(s.len(), |d| at + d);
    Some(s[..end].to_string())
}

/// Splits a unit command line into words, expanding `$VAR` / `${VAR}` from
/// `env` (an unquoted `$VAR` splits into words, as systemd does).
pub fn expand(cmd: &str, env: &[(&str, &str)]) -> Vec<String> {
    let mut out = Vec::new();
    for word in cmd.split_whitespace() {
        let name = word
            .strip_prefix("${")
            .and_then(|w| w.strip_suffix('}'))
            .or_else(|| word.strip_prefix('$'));
        match name.and_then(|n| env.iter().find(|(k, _)| *k == n)) {
            Some((_, v)) => out.extend(v.split_whitespace().map(str::to_string)),
            None => out.push(word.to_string()),
        }
    }
    out
}

/// Runs the keepalived drop-in's `ExecStartPre` (expected: `systemd-sysusers
/// FILE`, which runcmd also runs) against private copies of the user
/// databases in the host's root, which are then bind-mounted over
/// /etc/passwd and /etc/group in the host. Returns the drop-in's restart
/// delay when it sets `Restart=always`.
/// What systemd does when keepalived stops, per rmqgen's drop-in.
#[derive(Clone, Debug, Default)]
pub struct KeepalivedUnit {
    /// `ExecStopPost=` command lines, in order.
    pub stop_post: Vec<String>,
    /// `RestartSec=` when `Restart=always`.
    pub restart: Option<Duration>,
}

fn prepare_script_user(
    bins: &Bins,
    root: &Path,
    base: &Path,
    files: &[HostFile],
    mounts: &mut Vec<(PathBuf, PathBuf)>,
) -> KeepalivedUnit {
    let dropin = files
        .iter()
        .find(|f| f.path == paths::KEEPALIVED_DROPIN)
        .expect("load balancers get the keepalived drop-in");
    let rmqgen::testing::cloud_init::Content::Text(text) = &dropin.content else {
        panic!("the keepalived drop-in is text")
    };
    for db in ["passwd", "group", "shadow", "gshadow"] {
        let from = base.join("etc").join(db);
        if from.exists() {
            fs::copy(&from, root.join("etc").join(db))
                .unwrap_or_else(|e| panic!("copy {}: {e}", from.display()));
        }
    }
    let (mut restart, mut restart_sec) = (None, Duration::from_millis(100));
    let mut stop_post = Vec::new();
    for (k, v) in unit_directives(text) {
        match k.as_str() {
            "ExecStartPre" => {
                let words: Vec<&str> = v.split_whitespace().collect();
                assert!(
                    words.len() == 2 && words[0].ends_with("systemd-sysusers"),
                    "keepalived drop-in: the lab cannot emulate ExecStartPre={v}"
                );
                let conf = under(root, Path::new(words[1]));
                let root_arg = format!("--root={}", root.display());
                run(
                    std::process::Command::new(bins.get("systemd-sysusers"))
                        .arg(&root_arg)
                        .arg(&conf),
                    CLI_TIMEOUT,
                )
                .expect_success("systemd-sysusers --root (the keepalived drop-in's ExecStartPre)");
            }
            "ExecStopPost" => stop_post.push(v),
            "Restart" => restart = Some(v),
            "RestartSec" => restart_sec = systemd_span(&v),
            "After" => {}
            other => panic!("keepalived drop-in: the lab cannot emulate {other}={v}"),
        }
    }
    let passwd = read_lossy(&root.join("etc/passwd"));
    assert!(
        passwd
            .lines()
            .any(|l| l.starts_with(&format!("{}:", paths::SCRIPT_USER))),
        "systemd-sysusers did not create {}",
        paths::SCRIPT_USER
    );
    for db in ["passwd", "group"] {
        mounts.push((root.join("etc").join(db), Path::new("/etc").join(db)));
    }
    KeepalivedUnit {
        stop_post,
        restart: (restart.as_deref() == Some("always")).then_some(restart_sec),
    }
}
