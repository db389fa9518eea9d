//! The lab's network: one network namespace per host, each host's
//! interface one end of a veth pair whose other end is a port of a bridge
//! in a dedicated switch namespace. Nothing is attached to the root
//! namespace and no namespace has a default route, so lab traffic cannot
//! leave the lab.
//!
//! Namespaces are named `rmqlab-<pid>-<lab>-<n>` after the test process
//! and the lab's number in it (the labs of two specs run side by side), so
//! a run that was killed before it could clean up is recognised (its pid is
//! gone) and removed by the next run.

use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use super::harness::{run, Bins, Outcome};

const PREFIX: &str = "rmqlab-";
const IP_TIMEOUT: Duration = Duration::from_secs(30);
/// `ip netns exec NS` bind-mounts every file of this directory's `NS/`
/// subdirectory over the file of the same name in /etc.
const ETC_NETNS: &str = "/etc/netns";
/// Held while a lab creates a directory in [`ETC_NETNS`] or removes
/// [`ETC_NETNS`] itself: the two labs run side by side in one process, and
/// one finding it empty and removing it just as the other has created it
/// but not yet its own subdirectory would fail the other's attach.
static ETC_NETNS_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// One host's end of the network.
#[derive(Clone, Debug)]
pub struct Attachment {
    /// Host name.
    pub name: String,
    /// Its network namespace.
    pub netns: String,
    /// The interface inside the namespace (the spec's name).
    pub interface: String,
}

/// The switch and every attached host. Dropping it deletes every namespace
/// and hosts file it created.
pub struct Network {
    ip: PathBuf,
    /// `rmqlab-<pid>-<lab>-`: every namespace of this lab starts with it.
    prefix: String,
    switch: String,
    created: Vec<String>,
    etc_dirs: Vec<PathBuf>,
    /// Attached hosts, in attach order.
    pub hosts: Vec<Attachment>,
}

impl Network {
    /// Removes what earlier, killed lab runs left behind, then creates the
    /// switch namespace with its bridge.
    pub fn new(bins: &Bins) -> Network {
        let ip = bins.get("ip").to_path_buf();
        remove_stale(&ip);
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let prefix = format!(
            "{PREFIX}{}-{}-",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut net = Network {
            ip,
            switch: format!("{prefix}switch"),
            prefix,
            created: Vec::new(),
            etc_dirs: Vec::new(),
            hosts: Vec::new(),
        };
        let sw = net.switch.clone();
        net.add_netns(&sw);
        net.ip_in(&sw, &["link", "set", "lo", "up"]);
        net.ip_in(&sw, &["link", "add", "br0", "type", "bridge"]);
        net.ip_in(&sw, &["link", "set", "br0", "up"]);
        net
    }

    /// Creates a namespace for `name` whose interface `interface` carries
    /// `address/prefix`, plugged into the bridge; writes its hosts file.
    pub fn attach(
        &mut self,
        name: &str,
        interface: &str,
        address: Ipv4Addr,
        prefix: u8,
        mtu: Option<u32>,
        hosts_file: &str,
    ) -> Attachment {
        let n = self.hosts.len();
        let netns = format!("{}{n}", self.prefix);
        self.add_netns(&netns);
        let dir = Path::new(ETC_NETNS).join(&netns);
        {
            let _etc = ETC_NETNS_LOCK.lock().unwrap_or_else(|e| e.into_inner());
            fs::create_dir_all(&dir)
                .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        }
        self.etc_dirs.push(dir.clone());
        super::harness::write_file(&dir.join("hosts"), hosts_file.as_bytes(), 0o644);

        let (port, temp) = (format!("p{n}"), format!("lab{n}"));
        let sw = self.switch.clone();
        self.ip_in(
            &sw,
            &["link", "add", &port, "type", "veth", "peer", "name", &temp],
        );
        self.ip_in(&sw, &["link", "set", &temp, "netns", &netns]);
        // The spec's interface name, so keepalived's `interface` is real.
        self.ip_in(&netns, &["link", "set", &temp, "name", interface]);
        if let Some(mtu) = mtu {
            let mtu = mtu.to_string();
            self.ip_in(&sw, &["link", "set", &port, "mtu", &mtu]);
            self.ip_in(&netns, &["link", "set", interface, "mtu", &mtu]);
        }
        self.ip_in(&sw, &["link", "set", &port, "master", "br0"]);
        self.ip_in(&sw, &["link", "set", &port, "up"]);
        self.ip_in(
            &netns,
            &[
                "addr",
                "add",
                &format!("{address}/{prefix}"),
                "dev",
                interface,
            ],
        );
        self.ip_in(&netns, &["link", "set", "lo", "up"]);
        self.ip_in(&netns, &["link", "set", interface, "up"]);
        let a = Attachment {
            name: name.to_string(),
            netns,
            interface: interface.to_string(),
        };
        self.hosts.push(a.clone());
        a
    }

    /// `ip -n NS ARGS`, which must succeed.
    pub fn ip_in(&self, netns: &str, args: &[&str]) -> Outcome {
        run(
            Command::new(&self.ip).args(["-n", netns]).args(args),
            IP_TIMEOUT,
        )
        .expect_success(&format!("ip -n {netns} {}", args.join(" ")))
    }

    fn add_netns(&mut self, name: &str) {
        run(
            Command::new(&self.ip).args(["netns", "add", name]),
            IP_TIMEOUT,
        )
        .expect_success(&format!("ip netns add {name}"));
        self.created.push(name.to_string());
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        for ns in self.created.iter().rev() {
            delete_netns(&self.ip, ns);
        }
        for dir in &self.etc_dirs {
            if let Err(e) = fs::remove_dir_all(dir) {
                eprintln!("warning: could not remove {}: {e}", dir.display());
            }
        }
        // Only if empty, i.e. the lab created it (and the other lab of this
        // process is not creating its directory in it right now).
        let _etc = ETC_NETNS_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let _ = fs::remove_dir(ETC_NETNS);
    }
}

fn delete_netns(ip: &Path, name: &str) {
    match Command::new(ip).args(["netns", "delete", name]).output() {
        Ok(o) if o.status.success() => {}
        Ok(o) => eprintln!(
            "warning: could not delete netns {name}: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => eprintln!("warning: could not delete netns {name}: {e}"),
    }
}

/// Deletes `rmqlab-<pid>-*` namespaces (and their /etc/netns directories)
/// whose creating process no longer exists.
fn remove_stale(ip: &Path) {
    let Ok(entries) = fs::read_dir("/run/netns") else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        eprintln!("lab: removing netns {name} left by an earlier run (pid {pid} is gone)");
        delete_netns(ip, &name);
        let _ = fs::remove_dir_all(Path::new(ETC_NETNS).join(&name));
    }
}
