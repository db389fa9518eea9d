//! The apt path, proven on the lab network: a local signed apt repository
//! and first-boot installation of RabbitMQ through the rendered user-data.
//!
//! - The repository: the .deb files of `rabbitmq-server` and of every
//!   dependency the release's cloud root filesystem lacks (scripts/rootfs.sh
//!   `--debs RELEASE-cloud rabbitmq-server`: downloaded with apt from
//!   Debian's archive, cached under /var/cache/rmqgen keyed by release and
//!   package versions), indexed with `apt-ftparchive` and signed (InRelease,
//!   Release.gpg) with a gpg key generated for this run in the lab's
//!   temporary directory and never kept.
//! - The server: `python3 -m http.server` in a lab network namespace at the
//!   address and port the spec's `mirror` URL names, so the brokers reach it
//!   over the lab bridge exactly as the rendered sources line says.
//! - The install: each broker boots from the `RELEASE-cloud` root filesystem
//!   (cloud-init, no RabbitMQ), the image provides the keyring at the path
//!   the spec names, and the release's own cloud-init runs the modules of
//!   the host's rendered user-data (the bundle's
//!   `cloud-init/<host>.yaml.tftpl`, through `templatefile()` with the lab's
//!   secrets) that install packages, in cloud-init's order: `apt_configure`
//!   (the sources list), `write_files` (the files not deferred: the apt
//!   preferences and the policy-rc.d guard), `package_update_upgrade_install`
//!   (`apt-get update`, `apt-get install rabbitmq-server`). Then the
//!   user-data's `runcmd` entries that need no systemd (`rm -f policy-rc.d`,
//!   `apt-mark hold ...`) and the series check that runcmd runs before it
//!   starts the broker. Everything else (systemctl) is what the lab emulates
//!   anyway.

use std::collections::BTreeMap;
use std::fs;
use std::net::Ipv4Addr;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use rmqgen::spec::InstallSource;
use serde_json::Value;

use super::harness::{find, read_lossy, run, spawn_logged, write_file, Bins, ROOT};
use super::host::{under, Machine};
use super::net::{Attachment, Network};
use super::secrets::Secrets;
use crate::common::readers::{templatefile, yaml};

/// What one cloud-init module or runcmd entry may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(600);
/// How long the server may take to answer.
const SERVER_READY: Duration = Duration::from_secs(30);
/// The cloud-init modules that install packages, in the order cloud-init
/// runs them at first boot (init, config, final stages).
pub const INSTALL_MODULES: [&str; 3] = [
    "apt_configure",
    "write_files",
    "package_update_upgrade_install",
];
const PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";

/// The spec's mirror: where the lab must serve it.
#[derive(Clone, Debug)]
pub struct Mirror {
    /// The URL as the spec gives it.
    pub url: String,
    pub address: Ipv4Addr,
    pub port: u16,
    /// Path part of the URL (no leading or trailing slash).
    pub path: String,
    /// Keyring path on the hosts.
    pub keyring: String,
    /// Suite (the release's code name unless the spec sets one).
    pub suite: String,
}

impl Mirror {
    /// The plan's mirror, when the brokers install from one. The lab serves
    /// it itself, so its URL must be `http://ADDRESS[:PORT]/PATH` with an
    /// address of the lab subnet.
    pub fn of(plan: &rmqgen::Plan) -> Option<Mirror> {
        let InstallSource::Mirror {
            url,
            keyring,
            suite,
            component,
        } = &*plan.install.source
        else {
            return None;
        };
        assert!(
            component.as_deref().unwrap_or("main") == "main",
            "the lab's repository has one component, main"
        );
        let rest = url
            .strip_prefix("http://")
            .unwrap_or_else(|| panic!("the lab serves its mirror over http, not {url}"));
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (addr, port) = host.split_once(':').unwrap_or((host, "80"));
        let address: Ipv4Addr = addr
            .parse()
            .unwrap_or_else(|e| panic!("the lab's mirror URL {url} needs an IPv4 address: {e}"));
        assert!(
            plan.network.cidr.contains(address)
                && address != *plan.vip
                && plan.hosts.iter().all(|h| h.address != address),
            "the mirror {address} must be a free address of the lab subnet {}",
            plan.network.cidr
        );
        let codename = rmqgen::plan::platform::release(*plan.os).codename;
        Some(Mirror {
            url: url.clone(),
            address,
            port: port.parse().expect("a port number"),
            path: path.trim_matches('/').to_string(),
            keyring: keyring.clone(),
            suite: suite.clone().unwrap_or_else(|| codename.to_string()),
        })
    }
}

/// What a broker's user-data installs (cloud-init's `packages`: nftables
/// for the host firewall, and RabbitMQ), which the lab's repositories
/// serve: the cloud root filesystem has neither.
const BROKER_PACKAGES: &[&str] = &["nftables", "rabbitmq-server"];

/// `scripts/rootfs.sh --debs NAME PACKAGE...`: the cached .deb files.
pub fn debs(name: &str, packages: &[&str]) -> Result<PathBuf, String> {
    let o = run(
        Command::new("bash")
            .arg(Path::new(ROOT).join("scripts/rootfs.sh"))
            .arg("--debs")
            .arg(name)
            .args(packages),
        Duration::from_secs(900),
    );
    eprintln!("{}", o.stderr.trim_end());
    if !o.success() {
        return Err(format!("scripts/rootfs.sh --debs {name} failed: {o}"));
    }
    o.stdout
        .lines()
        .find_map(|l| l.strip_prefix("debs="))
        .map(PathBuf::from)
        .ok_or_else(|| format!("scripts/rootfs.sh --debs printed no debs=DIR: {o}"))
}

/// A signed apt repository in a directory.
pub struct Repo {
    /// The directory served (the repository is at `top/<path>`).
    pub top: PathBuf,
    /// The public key, binary (a keyring file for `signed-by`).
    pub keyring: Vec<u8>,
    /// The public key, ASCII-armored.
    pub armored: String,
    /// Its fingerprint.
    pub fingerprint: String,
    /// (package, version) of every package in it.
    pub packages: Vec<(String, String)>,
    gnupg: PathBuf,
}

impl Repo {
    /// Builds `top/<path>/{pool,dists/<suite>}` from every .deb of `debs`
    /// and `extra`, and signs it with a new key.
    pub fn build(work: &Path, path: &str, suite: &str, debs: &Path, extra: &[PathBuf]) -> Repo {
        let started = Instant::now();
        let top = work.join("www");
        let repo = if path.is_empty() {
            top.clone()
        } else {
            top.join(path)
        };
        let pool = repo.join("pool/main");
        let bin = repo.join("dists").join(suite).join("main/binary-amd64");
        for d in [&pool, &bin] {
            fs::create_dir_all(d).unwrap_or_else(|e| panic!("create {}: {e}", d.display()));
        }
        let mut files: Vec<PathBuf> = fs::read_dir(debs)
            .unwrap_or_else(|e| panic!("{}: {e}", debs.display()))
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "deb"))
            .collect();
        files.extend(extra.iter().cloned());
        assert!(!files.is_empty(), "no .deb files in {}", debs.display());
        for f in &files {
            let name = f.file_name().expect("a file name");
            // A hard link, or a copy where the cache is on another file
            // system. Not a symlink: apt-ftparchive then listed one package
            // (nftables) under its target's absolute path, which no client
            // can fetch.
            let to = pool.join(name);
            fs::hard_link(f, &to)
                .or_else(|_| fs::copy(f, &to).map(|_| ()))
                .unwrap_or_else(|e| panic!("copy {} to {}: {e}", f.display(), to.display()));
        }
        let ftp = |args: &[&str], cwd: &Path| {
            let o = run(
                Command::new("apt-ftparchive").args(args).current_dir(cwd),
                Duration::from_secs(120),
            )
            .expect_success(&format!("apt-ftparchive {}", args.join(" ")));
            o.stdout
        };
        let packages = ftp(&["packages", "pool"], &repo);
        write_file(&bin.join("Packages"), packages.as_bytes(), 0o644);
        let mut listed = Vec::new();
        for stanza in packages.split("\n\n") {
            let field = |k: &str| {
                stanza
                    .lines()
                    .find_map(|l| l.strip_prefix(k))
                    .map(str::to_string)
            };
            if let (Some(p), Some(v)) = (field("Package: "), field("Version: ")) {
                listed.push((p, v));
            }
        }
        let dists = repo.join("dists").join(suite);
        let release = ftp(
            &[
                "-o",
                "APT::FTPArchive::Release::Origin=rmqgen-lab",
                "-o",
                "APT::FTPArchive::Release::Label=rmqgen lab repository",
                "-o",
                &format!("APT::FTPArchive::Release::Suite={suite}"),
                "-o",
                &format!("APT::FTPArchive::Release::Codename={suite}"),
                "-o",
                "APT::FTPArchive::Release::Components=main",
                "-o",
                "APT::FTPArchive::Release::Architectures=amd64",
                "release",
                ".",
            ],
            &dists,
        );
        write_file(&dists.join("Release"), release.as_bytes(), 0o644);

        // The throwaway key: in the lab's temporary directory, gone with it.
        let gnupg = work.join("gnupg");
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&gnupg)
            .unwrap_or_else(|e| panic!("create {}: {e}", gnupg.display()));
        let gpg = |args: &[&str]| {
            run(
                Command::new("gpg")
                    .arg("--homedir")
                    .arg(&gnupg)
                    .args(["--batch", "--quiet", "--no-tty"])
                    .args(args)
                    .current_dir(&dists),
                Duration::from_secs(120),
            )
            .expect_success(&format!("gpg {}", args.join(" ")))
        };
        gpg(&[
            "--passphrase",
            "",
            "--quick-generate-key",
            "rmqgen lab apt repository (throwaway) <lab@rmqgen.invalid>",
            "ed25519",
            "sign",
            "1d",
        ]);
        let fingerprint = gpg(&["--with-colons", "--list-keys"])
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("fpr:"))
            .map(|l| l.trim_matches(':').to_string())
            .expect("the new key's fingerprint");
        gpg(&["--clearsign", "-o", "InRelease", "Release"]);
        gpg(&["--armor", "--detach-sign", "-o", "Release.gpg", "Release"]);
        let armored = gpg(&["--armor", "--export", &fingerprint]).stdout;
        // Binary: through a file (the harness reads output as text).
        let file = gnupg.join("public.gpg");
        let file_arg = file.to_string_lossy().into_owned();
        gpg(&["--yes", "--output", &file_arg, "--export", &fingerprint]);
        let keyring = fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        eprintln!(
            "lab: apt repository {} (suite {suite}, {} packages) signed by throwaway key {fingerprint} in {:.1} s",
            repo.display(),
            listed.len(),
            started.elapsed().as_secs_f64()
        );
        Repo {
            top,
            keyring,
            armored,
            fingerprint,
            packages: listed,
            gnupg,
        }
    }

    /// True when the repository carries `package` at `version`.
    pub fn has(&self, package: &str, version: &str) -> bool {
        self.packages
            .iter()
            .any(|(p, v)| p == package && v == version)
    }
}

impl Drop for Repo {
    fn drop(&mut self) {
        // The agent gpg started for this home directory (a process of this
        // run): stopped through gpgconf, by its home.
        let _ = Command::new("gpgconf")
            .arg("--homedir")
            .arg(&self.gnupg)
            .args(["--kill", "gpg-agent"])
            .output();
    }
}

/// Python's http.server over TLS: `PORT DIRECTORY CERT KEY`.
///
/// HTTP/1.1 (keep-alive): apt pipelines its requests, and a server that
/// closes the connection after each answer without TLS's close_notify makes
/// apt's OpenSSL fail with "unexpected eof while reading".
const HTTPS_SERVER: &str = "import functools, http.server, ssl, sys
port, top, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
class Handler(http.server.SimpleHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
handler = functools.partial(Handler, directory=top)
httpd = http.server.ThreadingHTTPServer(('', port), handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
httpd.serve_forever()
";

/// A throwaway certificate authority and a server certificate it signed.
pub struct Tls {
    /// The CA certificate (what clients trust).
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Tls {
    /// A new CA in `dir` and a certificate for `names` signed by it.
    pub fn new(dir: &Path, names: &[&str]) -> Tls {
        fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let openssl = |args: &[&str]| {
            run(
                Command::new("openssl").args(args).current_dir(dir),
                Duration::from_secs(60),
            )
            .expect_success(&format!("openssl {}", args.join(" ")))
        };
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        let mut ca = vec!["req", "-x509"];
        ca.extend(ec);
        ca.extend([
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "1",
            "-subj",
            "/CN=rmqgen lab CA (throwaway)",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
        openssl(&ca);
        let mut csr = vec!["req"];
        csr.extend(ec);
        csr.extend(["-keyout", "server.key", "-out", "server.csr", "-subj"]);
        let cn = format!("/CN={}", names[0]);
        csr.push(&cn);
        openssl(&csr);
        let san: Vec<String> = names.iter().map(|n| format!("DNS:{n}")).collect();
        write_file(
            &dir.join("server.ext"),
            format!(
                "subjectAltName={}\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
                san.join(",")
            )
            .as_bytes(),
            0o644,
        );
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "1",
            "-extfile",
            "server.ext",
        ]);
        Tls {
            ca: dir.join("ca.pem"),
            cert: dir.join("server.pem"),
            key: dir.join("server.key"),
        }
    }
}

/// The HTTP server of a repository, in a lab network namespace.
pub struct Server {
    child: Child,
    /// Its namespace.
    pub att: Attachment,
    pub address: Ipv4Addr,
    pub port: u16,
}

impl Server {
    /// Attaches a namespace `name` at `address` and serves `top` on `port`
    /// (every address of the namespace).
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        bins: &Bins,
        net: &mut Network,
        name: &str,
        interface: &str,
        address: Ipv4Addr,
        prefix: u8,
        port: u16,
        top: &Path,
        tls: Option<&Tls>,
        log: &Path,
    ) -> Server {
        let att = net.attach(
            name,
            interface,
            address,
            prefix,
            None,
            super::host::BASE_HOSTS,
        );
        let python = find("python3").expect("python3");
        let mut cmd = Command::new(bins.get("setpriv"));
        cmd.args(["--pdeathsig", "KILL"])
            .arg(bins.get("ip"))
            .args(["netns", "exec", &att.netns])
            .arg(python);
        match tls {
            None => cmd
                .args(["-m", "http.server", &port.to_string(), "--directory"])
                .arg(top),
            Some(t) => cmd
                .args(["-c", HTTPS_SERVER, &port.to_string()])
                .arg(top)
                .arg(&t.cert)
                .arg(&t.key),
        };
        let child = spawn_logged(
            cmd.env_clear().env("PATH", super::harness::search_path()),
            log,
            log,
        );
        let mut s = Server {
            child,
            att,
            address,
            port,
        };
        s.wait_ready(bins, log);
        s
    }

    fn wait_ready(&mut self, bins: &Bins, log: &Path) {
        let step = Duration::from_millis(100);
        for _ in 0..(SERVER_READY.as_millis() / step.as_millis()) {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "the apt repository server exited ({status}): {}",
                    read_lossy(log)
                );
            }
            let o = run(
                Command::new(bins.get("ip"))
                    .args(["netns", "exec", &self.att.netns])
                    .args(["ss", "-Hltn", &format!("sport = :{}", self.port)]),
                Duration::from_secs(10),
            );
            if o.success() && !o.stdout.trim().is_empty() {
                return;
            }
            std::thread::sleep(step);
        }
        panic!(
            "the apt repository server did not listen on {}:{} within {SERVER_READY:?}: {}",
            self.address,
            self.port,
            read_lossy(log)
        );
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The lab's mirror: the repository and its server.
pub struct LabMirror {
    pub mirror: Mirror,
    pub repo: Repo,
    /// Serving until dropped.
    _server: Server,
}

impl LabMirror {
    /// Builds the repository of `release`'s cloud root filesystem and
    /// serves it where `mirror` says.
    pub fn start(
        bins: &Bins,
        net: &mut Network,
        plan: &rmqgen::Plan,
        mirror: Mirror,
        release: &str,
        work: &Path,
    ) -> LabMirror {
        let debs = debs(&format!("{release}-cloud"), BROKER_PACKAGES)
            .unwrap_or_else(|e| panic!("release={release}: {e}"));
        let repo = Repo::build(work, &mirror.path, &mirror.suite, &debs, &[]);
        let server = Server::start(
            bins,
            net,
            "lab-apt",
            &plan.network.interface,
            mirror.address,
            plan.network.prefix,
            mirror.port,
            &repo.top,
            None,
            &work.join("apt-server.log"),
        );
        eprintln!(
            "lab: apt repository served at {} from {} ({})",
            mirror.url,
            server.att.netns,
            debs.display()
        );
        LabMirror {
            mirror,
            repo,
            _server: server,
        }
    }
}

/// What a host's first-boot install did.
#[derive(Clone, Debug)]
pub struct Installed {
    pub host: String,
    /// `rabbitmq-server`'s version.
    pub rabbitmq: String,
    /// `erlang-base`'s version.
    pub erlang: String,
    /// `apt-mark showhold`.
    pub held: Vec<String>,
    /// `apt-cache policy rabbitmq-server`.
    pub policy: String,
    /// Seconds per step.
    pub steps: Vec<(String, f64)>,
}

impl Installed {
    /// One line for the log.
    pub fn line(&self) -> String {
        format!(
            "apt-install host={} rabbitmq-server={} erlang-base={} held=[{}] {}",
            self.host,
            self.rabbitmq,
            self.erlang,
            self.held.join(","),
            self.steps
                .iter()
                .map(|(s, t)| format!("{s}={t:.1}s"))
                .collect::<Vec<_>>()
                .join(" ")
        )
    }
}

/// The host's user-data as cloud-init gets it: the bundle's template
/// through `templatefile()` with the lab's secret values.
pub fn user_data(out: &rmqgen::Output, host: &str, secrets: &Secrets) -> String {
    let path = format!("cloud-init/{host}.yaml.tftpl");
    let template = out
        .bundle
        .get(&path)
        .unwrap_or_else(|| panic!("the bundle has no {path}"))
        .text()
        .to_string();
    let vars: BTreeMap<String, String> = out
        .plan
        .secrets
        .iter()
        .map(|s| (s.tf_name.clone(), secrets.get(&s.id).to_string()))
        .collect();
    templatefile(&template, &vars).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The `runcmd` entries of `user_data` that the lab runs as they are
/// (those that do not talk to systemd, which the lab has not).
pub fn runcmd_without_systemd(user_data: &str) -> Vec<Vec<String>> {
    let doc = yaml(user_data).expect("the user-data is YAML");
    doc["runcmd"]
        .as_array()
        .expect("runcmd")
        .iter()
        .map(|e| {
            e.as_array()
                .expect("rmqgen writes runcmd entries as argument lists")
                .iter()
                .map(|w| w.as_str().expect("a word").to_string())
                .collect::<Vec<String>>()
        })
        .filter(|words| !words.iter().any(|w| w.contains("systemctl")))
        .collect()
}

/// The first half of runcmd's last entry on a broker (`CHECK && systemctl
/// enable --now rabbitmq-server`): the broker starts only if the installed
/// series is the configuration's. Run once the deferred files are placed.
pub fn series_check(m: &Machine) -> String {
    let env = [("PATH", PATH), ("LANG", "C.UTF-8")];
    m.run(rmqgen::plan::paths::SERIES_CHECK, &[], &env, STEP_TIMEOUT)
        .expect_success(&format!(
            "{}: {}",
            m.name,
            rmqgen::plan::paths::SERIES_CHECK
        ))
        .output()
        .trim()
        .to_string()
}

/// Runs the install steps of `user_data` on `m` (see the module docs);
/// `keyring`: the image's keyring at `keyring_path`. Panics with the
/// step's output when one fails.
pub fn install(
    m: &Machine,
    user_data: &str,
    keyring_path: &str,
    keyring: &[u8],
    hold: &[&str],
) -> Installed {
    let view = m.root_view();
    if !keyring_path.is_empty() {
        let dest = under(&view, Path::new(keyring_path));
        fs::create_dir_all(dest.parent().expect("a directory"))
            .unwrap_or_else(|e| panic!("{}: {e}", dest.display()));
        write_file(&dest, keyring, 0o644);
    }
    // In the lab directory, which the host sees at the same path; 0600:
    // the rendered user-data holds the host's secrets.
    let ud = write_file(&m.dir.join("user-data.yaml"), user_data.as_bytes(), 0o600);
    let ud = ud.to_string_lossy().into_owned();
    let env = [("PATH", PATH), ("LANG", "C.UTF-8")];
    let mut steps = Vec::new();
    for module in INSTALL_MODULES {
        let t = Instant::now();
        let o = m.run(
            "/usr/bin/cloud-init",
            &[
                "single",
                "--file",
                &ud,
                "--name",
                module,
                "--frequency",
                "always",
            ],
            &env,
            STEP_TIMEOUT,
        );
        write_file(
            &m.dir.join(format!("cloud-init-{module}.log")),
            o.output().as_bytes(),
            0o644,
        );
        // A failing module: "Ran MODULE but it failed!" and exit 1.
        assert!(
            o.success() && !o.output().contains(&format!("Ran {module} but it failed")),
            "{}: cloud-init single --name {module}: {o}",
            m.name
        );
        steps.push((module.to_string(), t.elapsed().as_secs_f64()));
    }
    let t = Instant::now();
    for words in runcmd_without_systemd(user_data) {
        let args: Vec<&str> = words[1..].iter().map(String::as_str).collect();
        m.run(&words[0], &args, &env, STEP_TIMEOUT)
            .expect_success(&format!("{}: runcmd {}", m.name, words.join(" ")));
    }
    steps.push(("runcmd".to_string(), t.elapsed().as_secs_f64()));
    let q = |args: &[&str]| {
        m.run(args[0], &args[1..], &env, STEP_TIMEOUT)
            .expect_success(&format!("{}: {}", m.name, args.join(" ")))
            .stdout
    };
    let version = |p: &str| q(&["dpkg-query", "-W", "-f", "${Version}", p]);
    let held: Vec<String> = q(&["apt-mark", "showhold"])
        .lines()
        .map(str::to_string)
        .collect();
    for h in hold {
        assert!(
            held.iter().any(|x| x == h),
            "{}: {h} is not held after runcmd: {held:?}",
            m.name
        );
    }
    Installed {
        host: m.name.clone(),
        rabbitmq: version("rabbitmq-server"),
        erlang: version("erlang-base"),
        held,
        policy: q(&["apt-cache", "policy", "rabbitmq-server"]),
        steps,
    }
}

/// Checks what apt made of the pin: the installed version is the
/// candidate, at the pin's priority, from `url`, inside `series`.
pub fn check_policy(i: &Installed, series: &str, url: &str) -> Result<(), String> {
    let p = &i.policy;
    let field = |k: &str| {
        p.lines()
            .find_map(|l| l.trim().strip_prefix(k))
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    let (installed, candidate) = (field("Installed:"), field("Candidate:"));
    if installed != i.rabbitmq || candidate != i.rabbitmq {
        return Err(format!(
            "{}: installed {installed}, candidate {candidate}, dpkg says {}:\n{p}",
            i.host, i.rabbitmq
        ));
    }
    if !i.rabbitmq.starts_with(&format!("{series}.")) {
        return Err(format!(
            "{}: {} is not of series {series}",
            i.host, i.rabbitmq
        ));
    }
    // `*** VERSION 1001`, then the sources that carry it, one a line:
    // `PRIORITY URL SUITE/COMPONENT ...` or `100 /var/lib/dpkg/status`.
    let mut lines = p.lines().skip_while(|l| !l.trim_start().starts_with("***"));
    let head = lines.next().unwrap_or_default();
    if !head.trim_end().ends_with(" 1001") {
        return Err(format!(
            "{}: the installed version is not pinned at 1001:\n{p}",
            i.host
        ));
    }
    let from: Vec<&str> = lines
        .map(str::trim)
        .take_while(|l| {
            l.split_once(' ').is_some_and(|(prio, rest)| {
                prio.parse::<u32>().is_ok() && (rest.starts_with("http") || rest.starts_with('/'))
            })
        })
        .collect();
    if !from.iter().any(|l| l.contains(url)) {
        return Err(format!(
            "{}: {} is not from {url}:\n{p}",
            i.host, i.rabbitmq
        ));
    }
    Ok(())
}

/// A `rabbitmq-server` package of another series than the spec's (no
/// contents, no dependencies): in the repository beside the real one, it is
/// what apt would take without the pin (the higher version).
fn decoy(dir: &Path, version: &str) -> PathBuf {
    let pkg = dir.join("decoy");
    let debian = pkg.join("DEBIAN");
    fs::create_dir_all(&debian).unwrap_or_else(|e| panic!("{}: {e}", debian.display()));
    write_file(
        &debian.join("control"),
        format!(
            "Package: rabbitmq-server\nVersion: {version}\nArchitecture: all\nMaintainer: rmqgen lab <lab@rmqgen.invalid>\nDescription: decoy of another series (rmqgen lab)\n"
        )
        .as_bytes(),
        0o644,
    );
    let deb = dir.join(format!("rabbitmq-server_{version}_all.deb"));
    run(
        Command::new("dpkg-deb")
            .args(["--build", "--root-owner-group"])
            .arg(&pkg)
            .arg(&deb),
        Duration::from_secs(60),
    )
    .expect_success("dpkg-deb --build (the decoy)");
    deb
}

/// The `team-rabbitmq` rendering, pointed at the lab's repository: the
/// broker's rendered user-data on Debian 13 (RabbitMQ 4.0) lists
/// `https://deb1.rabbitmq.com/rabbitmq-server/debian/trixie trixie main`
/// and the same on deb2, `signed-by=$KEY_FILE` with Team RabbitMQ's key id,
/// the apt preferences pinning `rabbitmq-server` to `4.0.*` and `apt-mark
/// hold rabbitmq-server erlang-base` in runcmd. The lab serves a signed
/// repository at exactly those paths (suite and component too) and changes
/// only what these machines cannot have, none of it in the rendered files:
///
/// - the key: cloud-init would fetch Team RabbitMQ's key by its id from
///   keys.openpgp.org. Each source entry gets `key:` (the throwaway key, in
///   the user-data given to cloud-init), which cloud-init's apt module takes
///   instead of fetching by id (its rule: `keyid` is fetched only when there
///   is no `key`). cloud-init then writes it to its keyring file and puts
///   that path where the line says `$KEY_FILE`, as it would Team's key.
/// - name resolution: the host's /etc/hosts maps deb1.rabbitmq.com and
///   deb2.rabbitmq.com to the lab's server;
/// - TLS trust: the server's certificate for those names is signed by a
///   throwaway CA that the host's apt trusts (`Acquire::https::CAInfo` in
///   /etc/apt/apt.conf.d/, as an image with a corporate CA would).
///
/// The repository carries Debian 13's `rabbitmq-server` 4.0.5 with its
/// Erlang 27.3 and a decoy `rabbitmq-server` 4.1.99-1: apt must install
/// 4.0.5 because of the rendered pin (without the preferences it takes the
/// decoy: checked), and after runcmd `apt-mark showhold` lists the held
/// packages and an upgrade keeps them back even without the pin.
pub fn team_rabbitmq(bins: &Bins, release: &str, base: &Path, work: &Path) {
    let source = read_lossy(&Path::new(ROOT).join("examples/lab-trixie.json"));
    let mut spec: Value = serde_json::from_str(&source).expect("lab-trixie.json");
    spec["rabbitmq"]["install"] = serde_json::json!({ "from": "team-rabbitmq" });
    let out = super::harness::compile("lab-trixie (team-rabbitmq)", &spec.to_string());
    let plan = &out.plan;
    let series = plan.rabbitmq.version.to_string();
    let host = plan.brokers[0].name.clone();
    let secrets = Secrets::generate(plan);
    let rendered = user_data(&out, &host, &secrets);
    let mut doc = yaml(&rendered).expect("the user-data is YAML");

    // The rendered repositories: one suite path on two hosts.
    let entries = doc["apt"]["sources"]
        .as_object()
        .expect("apt.sources")
        .clone();
    let mut names = Vec::new();
    let mut path = None;
    for (file, e) in &entries {
        let line = e["source"].as_str().expect("a source line");
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("https://"))
            .unwrap_or_else(|| panic!("{file}: no https URL in {line}"));
        let (name, p) = url["https://".len()..].split_once('/').expect("host/path");
        assert_eq!(
            e["keyid"].as_str(),
            Some(rmqgen::plan::platform::TEAM_KEY_FINGERPRINT),
            "{file}"
        );
        assert!(line.contains("signed-by=$KEY_FILE"), "{line}");
        assert!(path.is_none() || path.as_deref() == Some(p), "{line}");
        path = Some(p.to_string());
        names.push(name.to_string());
    }
    assert!(names.len() >= 2, "both Team RabbitMQ hosts: {names:?}");
    let path = path.expect("a repository path");
    let suite = rmqgen::plan::platform::release(*plan.os).codename;

    let debs = debs(&format!("{release}-cloud"), BROKER_PACKAGES)
        .unwrap_or_else(|e| panic!("release={release}: {e}"));
    let other = "4.1.99-1";
    let extra = decoy(work, other);
    let repo = Repo::build(work, &path, suite, &debs, &[extra]);
    assert!(repo.has("rabbitmq-server", other));

    // The substitution: `key` beside Team's key id, nothing else.
    for (file, _) in &entries {
        doc["apt"]["sources"][file]["key"] = Value::String(repo.armored.clone());
    }
    let given = format!(
        "#cloud-config\n{}",
        serde_norway::to_string(&doc).expect("YAML")
    );

    let names_ref: Vec<&str> = names.iter().map(String::as_str).collect();
    let tls = Tls::new(&work.join("tls"), &names_ref);
    let mut net = Network::new(bins);
    let n = &plan.network;
    let server_at = Ipv4Addr::new(10, 20, 0, 250);
    assert!(n.cidr.contains(server_at));
    let _server = Server::start(
        bins,
        &mut net,
        "team-apt",
        &n.interface,
        server_at,
        n.prefix,
        443,
        &repo.top,
        Some(&tls),
        &work.join("team-server.log"),
    );
    let hosts = format!(
        "{}{server_at} {}\n",
        super::host::BASE_HOSTS,
        names.join(" ")
    );
    let address = *plan.brokers[0].address;
    let att = net.attach(&host, &n.interface, address, n.prefix, None, &hosts);
    let hdir = work.join("hosts").join(host.as_str());
    let root = hdir.join("root");
    fs::create_dir_all(&root).expect("host root");
    let m = Machine::boot(bins, att, hdir, root, base, work, &[], &[]);
    // The image's CA, as an apt setting (not a rendered file). In the
    // host's own root, readable by all: apt's https method runs as _apt.
    let ca = Path::new("/usr/local/share/ca-certificates/rmqgen-lab-ca.crt");
    let ca_in = under(&m.root_view(), ca);
    fs::create_dir_all(ca_in.parent().expect("a directory"))
        .unwrap_or_else(|e| panic!("{}: {e}", ca_in.display()));
    let pem = fs::read(&tls.ca).unwrap_or_else(|e| panic!("{}: {e}", tls.ca.display()));
    write_file(&ca_in, &pem, 0o644);
    write_file(
        &under(
            &m.root_view(),
            Path::new("/etc/apt/apt.conf.d/99rmqgen-lab-ca"),
        ),
        format!("Acquire::https::CAInfo \"{}\";\n", ca.display()).as_bytes(),
        0o644,
    );

    let hold: Vec<&str> = plan.install.hold.clone();
    let i = install(&m, &given, "", &[], &hold);
    eprintln!("lab: team-rabbitmq: {}", i.line());

    // cloud-init wrote the rendered lines, its keyring file for $KEY_FILE.
    let env = [("PATH", PATH)];
    for (file, e) in &entries {
        let list = read_lossy(&under(
            &m.root_view(),
            &Path::new("/etc/apt/sources.list.d").join(file),
        ));
        let line = e["source"].as_str().expect("line");
        let stem = file.trim_end_matches(".list");
        let key_file = format!("/etc/apt/cloud-init.gpg.d/{stem}.gpg");
        assert_eq!(
            list.trim_end(),
            line.replace("$KEY_FILE", &key_file),
            "{file}: what cloud-init wrote"
        );
        assert!(
            under(&m.root_view(), Path::new(&key_file)).is_file(),
            "{key_file} is missing"
        );
    }
    let url = format!("https://{}/{path}", names[0]);
    check_policy(&i, &series, &url).unwrap_or_else(|e| panic!("{e}"));
    assert!(i.rabbitmq.starts_with("4.0.5"), "{}", i.rabbitmq);
    let erlang = i.erlang.split(':').nth(1).unwrap_or(&i.erlang);
    let major: u32 = erlang
        .split('.')
        .next()
        .and_then(|v| v.parse().ok())
        .expect("erlang major");
    let range =
        rmqgen::plan::platform::erlang(*plan.rabbitmq.version).expect("a series rmqgen knows");
    assert!(
        (range.min.0..=range.max_major).contains(&major),
        "erlang-base {} is outside {series}'s {range}",
        i.erlang
    );

    // Without the rendered preferences apt would take the decoy...
    let unpinned = m
        .run(
            "apt-cache",
            &[
                "-o",
                "Dir::Etc::PreferencesParts=/nonexistent",
                "policy",
                "rabbitmq-server",
            ],
            &env,
            STEP_TIMEOUT,
        )
        .expect_success("apt-cache policy without preferences")
        .stdout;
    assert!(
        unpinned.contains(&format!("Candidate: {other}")),
        "without the pin the candidate should be the decoy {other}:\n{unpinned}"
    );
    // ...and the hold still keeps it: an upgrade without the preferences
    // leaves it, and ignoring holds (APT::Ignore-Hold) it would take it.
    let upgrade = |ignore_hold: &str| {
        m.run(
            "apt-get",
            &[
                "-s",
                "-o",
                "Dir::Etc::PreferencesParts=/nonexistent",
                "-o",
                &format!("APT::Ignore-Hold={ignore_hold}"),
                "upgrade",
            ],
            &env,
            STEP_TIMEOUT,
        )
        .expect_success("apt-get -s upgrade")
        .stdout
    };
    let held_back = upgrade("false");
    assert!(
        !held_back.contains("Inst rabbitmq-server"),
        "the hold did not keep rabbitmq-server:\n{held_back}"
    );
    let unheld = upgrade("true");
    assert!(
        unheld.contains(&format!("Inst rabbitmq-server [{}] ({other}", i.rabbitmq)),
        "without the hold (and the pin) apt should upgrade to the decoy:\n{unheld}"
    );
    eprintln!(
        "lab: team-rabbitmq: pin 4.0.* chose {} over {other} (unpinned candidate), held: {}; sources {} signed by {} through cloud-init's keyring",
        i.rabbitmq,
        i.held.join(" "),
        names.join(", "),
        repo.fingerprint
    );
}
