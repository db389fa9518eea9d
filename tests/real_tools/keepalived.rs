//! `keepalived -t` in a sandbox: a throwaway network namespace with the
//! spec's interface carrying the load balancer's address, and a private
//! mount + PID namespace holding the check script and the script user.

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use super::harness::{run, Bins, Outcome, TempDir};

/// Tools the sandbox needs (keepalived itself is the release's, in its
/// root filesystem).
pub const TOOLS: &[&str] = &["ip", "unshare", "mount", "install", "chroot", "cp"];

const TIMEOUT: Duration = Duration::from_secs(60);

/// A named network namespace, deleted on drop (also while a panic unwinds).
pub struct NetNs {
    name: String,
    ip: std::path::PathBuf,
}

impl NetNs {
    /// Creates `rmqgen-rt-<pid>-<n>`: unique per process and call.
    pub fn new(bins: &Bins) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "rmqgen-rt-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let ip = bins.get("ip").to_path_buf();
        run(Command::new(&ip).args(["netns", "add", &name]), TIMEOUT)
            .expect_success("creating a network namespace");
        Self { name, ip }
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `ip -n NS ARGS...`, which must succeed.
    pub fn ip(&self, args: &[&str]) {
        run(
            Command::new(&self.ip).args(["-n", &self.name]).args(args),
            TIMEOUT,
        )
        .expect_success("configuring the test namespace");
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let out = Command::new(&self.ip)
            .args(["netns", "delete", &self.name])
            .output();
        match out {
            Ok(o) if o.status.success() => {}
            Ok(o) => eprintln!(
                "warning: could not delete netns {}: {}",
                self.name,
                String::from_utf8_lossy(&o.stderr)
            ),
            Err(e) => eprintln!("warning: could not delete netns {}: {e}", self.name),
        }
    }
}

/// One load balancer's world: its interface and address in a namespace,
/// and a release's root filesystem.
pub struct Sandbox<'a> {
    bins: &'a Bins,
    base: std::path::PathBuf,
    ns: NetNs,
    dir: TempDir,
}

/// Runs in the private mount + PID namespace, as its PID 1 once it execs
/// keepalived (keepalived 2.2.7's `-t` otherwise SIGTERMs itself through its
/// parent-death check after running a script as a non-root user), chrooted
/// into the release's root filesystem (never written: every change is a
/// mount of this namespace).
/// $1 staging dir, $2 the check script's directory, $3 its path, $4 the
/// root filesystem, $5 the VRRP password file's path (in $2).
const SETUP: &str = r#"set -eu
B="$4"
mount -t proc proc "$B/proc"
# What the package put in the script's directory (keepalived 2.3 reads its
# keepalived.config-opts there) stays, as on a host cloud-init writes to.
rm -rf "$1/packaged"
mkdir "$1/packaged"
if [ -d "$B$2" ]; then cp -a "$B$2/." "$1/packaged/"; else mkdir -p "$B$2"; fi
mount -t tmpfs -o mode=0755 rmqgen-test "$B$2"
cp -a "$1/packaged/." "$B$2/"
if [ -e "$1/check-script" ]; then
    install -o root -g root -m 0755 "$1/check-script" "$B$3"
fi
# The VRRP password file, root-only, where cloud-init and the NixOS seed
# write it (keepalived.conf includes it).
if [ -e "$1/vrrp-auth" ]; then
    install -o root -g root -m 0600 "$1/vrrp-auth" "$B$5"
fi
mount --bind "$1/passwd" "$B/etc/passwd"
mount --bind "$1/group" "$B/etc/group"
mount --bind "$1" "$B/mnt"
exec chroot "$B" keepalived -t -f /mnt/keepalived.conf
"#;

/// How the sandbox deviates from a faithful host, for negative controls.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Host {
    /// The check script is installed and the script user exists.
    Faithful,
    /// The script user does not exist (as on a stock Debian host).
    NoScriptUser,
    /// The check script is not installed.
    NoCheckScript,
}

impl<'a> Sandbox<'a> {
    /// A namespace whose `interface` (one end of a veth pair) carries
    /// `address/prefix`.
    pub fn new(
        bins: &'a Bins,
        base: &Path,
        interface: &str,
        address: Ipv4Addr,
        prefix: u8,
    ) -> Self {
        let ns = NetNs::new(bins);
        // The kernel has no dummy link type: a veth pair created inside the
        // namespace, so the host's links are never touched.
        let peer = if interface == "rt-peer0" {
            "rt-peer1"
        } else {
            "rt-peer0"
        };
        ns.ip(&[
            "link", "add", interface, "type", "veth", "peer", "name", peer,
        ]);
        ns.ip(&[
            "addr",
            "add",
            &format!("{address}/{prefix}"),
            "dev",
            interface,
        ]);
        for link in ["lo", interface, peer] {
            ns.ip(&["link", "set", link, "up"]);
        }
        Self {
            bins,
            base: base.to_path_buf(),
            ns,
            dir: TempDir::new("keepalived"),
        }
    }

    /// `keepalived -t` on `conf`, with the check `script` installed where
    /// the bundle installs it.
    pub fn check(&self, conf: &str, script: &rmqgen::Artifact, host: Host) -> Outcome {
        let script_path = &script
            .install
            .as_ref()
            .expect("the check script is installed")
            .path;
        let dir = self.dir.path();
        // Fresh files per call: a previous call's variant must not leak in.
        for f in [
            "keepalived.conf",
            "check-script",
            "passwd",
            "group",
            "vrrp-auth",
        ] {
            let _ = std::fs::remove_file(dir.join(f));
        }
        self.dir.write("keepalived.conf", conf.as_bytes(), 0o644);
        let auth = rmqgen::plan::paths::KEEPALIVED_AUTH;
        if conf.contains(&format!("include {auth}\n")) {
            // What the secret file holds: the parameter definition, with a
            // value of the generated kind (8 letters and digits).
            let line = format!("{}=Tq8vXw2k\n", rmqgen::plan::paths::VRRP_AUTH_PARAM);
            self.dir.write("vrrp-auth", line.as_bytes(), 0o600);
        }
        if host != Host::NoCheckScript {
            self.dir
                .write("check-script", script.text().as_bytes(), 0o755);
        }
        write_user_db(
            &self.base,
            dir,
            rmqgen::plan::paths::SCRIPT_USER,
            host != Host::NoScriptUser,
        );
        let script_dir = Path::new(script_path)
            .parent()
            .expect("the check script path has a directory");
        run(
            Command::new(self.bins.get("ip"))
                .args(["netns", "exec", self.ns.name()])
                .arg(self.bins.get("unshare"))
                .args([
                    "--mount",
                    "--propagation",
                    "private",
                    "--pid",
                    "--fork",
                    "--mount-proc",
                    "--kill-child",
                    "/bin/sh",
                    "-c",
                    SETUP,
                    "sh",
                ])
                .arg(dir)
                .arg(script_dir)
                .arg(script_path)
                .arg(&self.base)
                .arg(rmqgen::plan::paths::KEEPALIVED_AUTH)
                .env("PATH", super::harness::search_path()),
            TIMEOUT,
        )
    }
}

/// Private copies of the root filesystem's /etc/passwd and /etc/group with
/// `user` present or absent, whatever it has, to be bind-mounted in the
/// sandbox only.
fn write_user_db(base: &Path, dir: &Path, user: &str, present: bool) {
    let passwd = std::fs::read_to_string(base.join("etc/passwd")).expect("readable /etc/passwd");
    let group = std::fs::read_to_string(base.join("etc/group")).expect("readable /etc/group");
    let named = |l: &str| l.split(':').next() == Some(user);
    let taken = |db: &str, id: u32| {
        db.lines()
            .any(|l| l.split(':').nth(2) == Some(id.to_string().as_str()))
    };
    let id = (60_000..65_000)
        .find(|id| !taken(&passwd, *id) && !taken(&group, *id))
        .expect("a free uid/gid in 60000..65000");
    let without = |db: &str| -> String {
        db.lines()
            .filter(|l| !named(l))
            .map(|l| format!("{l}\n"))
            .collect()
    };
    let (mut passwd, mut group) = (without(&passwd), without(&group));
    if present {
        passwd.push_str(&format!(
            "{user}:x:{id}:{id}:rmqgen test:/nonexistent:/usr/sbin/nologin\n"
        ));
        group.push_str(&format!("{user}:x:{id}:\n"));
    }
    super::harness::write_file(&dir.join("passwd"), passwd.as_bytes(), 0o644);
    super::harness::write_file(&dir.join("group"), group.as_bytes(), 0o644);
}

/// Lines keepalived prints when it accepts a config only in part (it still
/// exits 0 for some of them).
pub const ALARMS: &[&str] = &[
    "WARNING",
    "Unknown keyword",
    // auth_pass longer than 8: the password parameter was not substituted.
    "Truncating",
    "SECURITY VIOLATION",
    "Disabling",
    "not found",
    "removing",
    "ignoring",
    "Error",
];
