//! The NixOS path and the cloud-init path carry the same settings.
//!
//! Every example is rendered twice, as a cloud-init and as a NixOS
//! cluster, and each NixOS host's option values (the tree
//! `rmqgen::testing::nixos::host_module` builds, which `tests/nix_tools.rs`
//! proves is what Nix evaluates the host file to) are compared with the
//! artifacts cloud-init installs: every role file a host file hands the
//! modules (rabbitmq.conf, enabled_plugins, definitions.json, haproxy.cfg,
//! keepalived.conf, the check and bootstrap scripts) is the cloud-init
//! file byte for byte, and the typed wiring around them (node name, the
//! VIP a dead keepalived leaves) matches the plan. `nix_tools`'s
//! `role_files_are_byte_identical_on_both_paths` then shows the modules
//! install those texts at the cloud-init paths.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::{examples, keepalived_conf, one};

fn examples() -> Vec<PathBuf> {
    examples::example_paths()
}

fn compile(path: &Path, provisioning: &str) -> rmqgen::Output {
    let spec = examples::with_provisioning(&std::fs::read_to_string(path).unwrap(), provisioning);
    rmqgen::compile(&spec).unwrap_or_else(|e| panic!("{} as {provisioning}: {e}", path.display()))
}

fn text<'a>(o: &'a rmqgen::Output, path: &str) -> &'a str {
    o.bundle
        .get(path)
        .unwrap_or_else(|| panic!("no {path}"))
        .text()
}

#[test]
fn nixos_hosts_carry_the_cloud_init_settings() {
    for path in examples() {
        let example = path.file_stem().unwrap().to_string_lossy().into_owned();
        let nixos = compile(&path, "nixos");
        // The same spec as the NixOS variant (which leaves `tls` out).
        let source = std::fs::read_to_string(&path).unwrap();
        let same = examples::with_provisioning(&source, "nixos");
        let mut cloud = rmqgen::compile(&examples::with_provisioning(&same, "cloud-init")).unwrap();
        // The role artifacts are the same on both paths, but for the
        // keepalived check's default interval: 0.5 s where the release's
        // keepalived takes it, 1 s on NixOS, where no lab run proves a
        // shorter one (platform::script_timing). Compared at NixOS's.
        let interval = nixos.plan.keepalived.check_interval.millis();
        if cloud.plan.keepalived.check_interval.millis() != interval {
            assert!(cloud.plan.keepalived.script_timing.fractional, "{example}");
            let mut spec: Value = serde_json::from_str(&same).unwrap();
            spec["keepalived"]["check_interval_ms"] = interval.get().into();
            spec["provisioning"] = "cloud-init".into();
            cloud = rmqgen::compile(&spec.to_string()).unwrap();
        }
        for (p, a) in cloud.bundle.iter() {
            if p.starts_with("cloud-init/") || p.starts_with("terraform/") {
                continue;
            }
            assert_eq!(Some(a), nixos.bundle.get(p), "{example}: {p} differs");
        }
        let etc_hosts: Vec<(String, Vec<String>)> = text(&cloud, "hosts/etc-hosts")
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| {
                let mut w = l.split_whitespace().map(str::to_string);
                (w.next().unwrap(), w.collect())
            })
            .collect();
        for host in &nixos.plan.hosts {
            let at = format!("{example}: {}", host.name);
            let m = rmqgen::testing::nixos::host_module(&nixos.plan, &nixos.roles, host)
                .unwrap()
                .to_json();
            // The NIC Terraform creates (with the plan's MAC) gets the name
            // the cloud-init network config gives it on the image's first
            // boot, where the address and the VIP are configured.
            let link = &m["systemd"]["network"]["links"]["10-rmqgen"];
            assert_eq!(
                link["matchConfig"]["PermanentMACAddress"],
                host.mac.as_str(),
                "{at}"
            );
            assert_eq!(
                link["linkConfig"]["Name"],
                nixos.plan.network.interface.as_str(),
                "{at}"
            );
            let net = &m["networking"];
            assert_eq!(net["hostName"], host.name.as_str(), "{at}");
            let iface = &net["interfaces"][nixos.plan.network.interface.as_str()];
            assert_eq!(
                iface["ipv4"]["addresses"][0]["address"],
                host.address.to_string(),
                "{at}"
            );
            for (addr, names) in &etc_hosts {
                let got: Vec<String> = net["hosts"][addr.as_str()]
                    .as_array()
                    .unwrap_or_else(|| panic!("{at}: no hosts entry for {addr}"))
                    .iter()
                    .map(|v| v.as_str().unwrap().to_string())
                    .collect();
                assert_eq!(&got, names, "{at}: /etc/hosts {addr}");
            }
            assert_eq!(net["hosts"]["127.0.0.2"], serde_json::json!([]), "{at}");

            // The host firewall: the very text cloud-init writes to
            // /etc/nftables.conf on the same host, and no second firewall
            // (NixOS's, which openFirewall would open to any source).
            let ruleset = text(&cloud, &format!("firewall/{}/nftables.conf", host.name));
            let cloud_host = cloud.plan.host(&host.name).unwrap();
            let written: Vec<String> =
                rmqgen::testing::cloud_init::host_files(&cloud.plan, &cloud.roles, cloud_host)
                    .into_iter()
                    .filter(|f| f.path == rmqgen::plan::paths::NFTABLES_CONF)
                    .filter_map(|f| match f.content {
                        rmqgen::testing::cloud_init::Content::Text(t) => Some(t),
                        _ => None,
                    })
                    .collect();
            assert_eq!(written, [ruleset], "{at}: cloud-init's /etc/nftables.conf");
            assert_eq!(net["nftables"]["enable"], true, "{at}");
            assert_eq!(
                net["nftables"]["ruleset"], ruleset,
                "{at}: nftables ruleset"
            );
            assert_eq!(net["firewall"]["enable"], false, "{at}");
            for role in ["broker", "loadBalancer", "keepalived"] {
                if let Some(r) = m["services"]["rmqgen"].get(role) {
                    assert_eq!(r["openFirewall"], false, "{at}: {role}");
                }
            }

            if let Some(b) = m["services"]["rmqgen"].get("broker") {
                assert_eq!(
                    b["configText"],
                    text(&cloud, "rabbitmq/rabbitmq.conf"),
                    "{at}: rabbitmq.conf"
                );
                assert_eq!(
                    b["enabledPluginsText"],
                    text(&cloud, "rabbitmq/enabled_plugins"),
                    "{at}: enabled_plugins"
                );
                assert_eq!(b["definitions"], text(&cloud, "rabbitmq/definitions.json"));
                // The plugins list decides which ports the module opens.
                let plugins = text(&cloud, "rabbitmq/enabled_plugins");
                let want: Vec<&str> = plugins
                    .trim()
                    .trim_start_matches('[')
                    .trim_end_matches("].")
                    .split(',')
                    .collect();
                let got: Vec<&str> = b["plugins"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap())
                    .collect();
                assert_eq!(got, want, "{at}: plugins");
                let broker = nixos
                    .plan
                    .brokers
                    .iter()
                    .find(|x| x.name == host.name)
                    .unwrap();
                assert_eq!(b["nodeName"], broker.node_name.as_str());
                // On every broker, as cloud-init's timer is.
                assert_eq!(b["bootstrap"]["enable"], true, "{at}");
                assert_eq!(
                    b["bootstrap"]["script"],
                    text(&cloud, "bootstrap/queue-ha-policy.sh"),
                    "{at}"
                );
                // The cookie: a path, never a value, and never in the store.
                let cookie = b["cookieFile"].as_str().unwrap();
                assert!(cookie.starts_with('/') && !cookie.starts_with("/nix/store"));
                continue;
            }

            let lb = &m["services"]["rmqgen"]["loadBalancer"];
            let ka = &m["services"]["rmqgen"]["keepalived"];
            let cfg_path = format!("haproxy/{}/haproxy.cfg", host.name);
            assert_eq!(lb["config"], text(&cloud, &cfg_path), "{at}: haproxy.cfg");
            assert_eq!(
                ka["check"]["script"],
                text(&cloud, "keepalived/check-haproxy.sh"),
                "{at}"
            );
            assert_eq!(
                ka["resetScript"],
                text(&cloud, "keepalived/rmqgen-reset-vip-connections.sh"),
                "{at}"
            );
            let conf_text = text(&cloud, &format!("keepalived/{}/keepalived.conf", host.name));
            assert_eq!(ka["configText"], conf_text, "{at}: keepalived.conf");
            // The wiring: the check script where keepalived.conf runs it, as
            // the user it names; the VIP the unit removes when keepalived
            // dies is the one the configuration holds.
            let conf = keepalived_conf(conf_text);
            let s = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_string);
            // Every check runs that script: the statistics check as is, the
            // alive check (where keepalived.conf has one) with `alive`.
            let path = s(&ka["check"]["path"]);
            let scripts = &conf["script"];
            assert_eq!(scripts[0], format!("\"{path}\""), "{at}");
            for extra in &scripts[1..] {
                assert_eq!(*extra, format!("\"{path} alive\""), "{at}");
            }
            assert_eq!(
                one(&conf, "script_user").unwrap(),
                s(&ka["check"]["user"]),
                "{at}"
            );
            assert_eq!(
                conf["virtual_ipaddress"],
                vec![format!(
                    "{}/{} dev {}",
                    s(&ka["virtualIp"]),
                    s(&ka["prefixLength"]),
                    s(&ka["interface"])
                )],
                "{at}: VIP"
            );
            // The statistics password: a path to an environment file only.
            let env = lb["environmentFile"].as_str().unwrap();
            assert!(env.starts_with('/') && !env.starts_with("/nix/store"));
        }
    }
}

/// The modules a generated flake imports are rmqgen's, byte for byte.
#[test]
fn vendored_modules_are_the_repository_modules() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = compile(&examples()[0], "nixos");
    let mut names: Vec<String> = std::fs::read_dir(root.join("modules"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut vendored: Vec<String> = rmqgen::testing::nixos::MODULES
        .iter()
        .map(|(n, _)| n.to_string())
        .collect();
    vendored.sort();
    assert_eq!(names, vendored, "modules/ and the embedded list differ");
    for name in names {
        let repo = std::fs::read_to_string(root.join("modules").join(&name)).unwrap();
        assert_eq!(
            output
                .bundle
                .get(&format!("nixos/rmqgen/{name}"))
                .unwrap()
                .text(),
            repo,
            "{name}"
        );
    }
}

/// Secrets reach NixOS hosts as paths, never as values: every option
/// about a password, cookie or secret holds absolute paths outside the
/// store, and the modules never use nixpkgs' store-bound cookie option.
#[test]
fn nixos_files_name_secrets_by_path_only() {
    fn walk(key: &str, v: &Value, at: &str) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    walk(k, v, at);
                }
            }
            Value::Array(items) => {
                for item in items {
                    walk(key, item, at);
                }
            }
            Value::String(s) => {
                let k = key.to_ascii_lowercase();
                if ["password", "cookie", "secret", "environmentfile"]
                    .iter()
                    .any(|w| k.contains(w))
                {
                    assert!(
                        s.starts_with('/') && !s.starts_with("/nix/store/"),
                        "{at}: {key} = {s:?} is not a path outside the store"
                    );
                }
            }
            _ => {}
        }
    }
    for path in examples() {
        let output = compile(&path, "nixos");
        for host in &output.plan.hosts {
            let m = rmqgen::testing::nixos::host_module(&output.plan, &output.roles, host)
                .unwrap()
                .to_json();
            walk("", &m, &format!("{}: {}", path.display(), host.name));
        }
        for (p, a) in output.bundle.iter() {
            if p.starts_with("nixos/") {
                for needle in [
                    "unsafeCookie",
                    "services.rabbitmq.cookie",
                    "erlang_cookie =",
                ] {
                    assert!(!a.text().contains(needle), "{p} contains {needle}");
                }
            }
        }
    }
}

/// The first-boot seed writes what the NixOS modules read: every secret
/// path a host file names (the cookie, the bootstrap's password files, the
/// statistics environment file) is a file the host's user-data writes,
/// root-only, in cloud-init's first stage (the image's cloud-init runs
/// `write-files` and nothing else); the seed writes nothing but secrets.
#[test]
fn nixos_seed_writes_what_the_modules_read() {
    use rmqgen::testing::cloud_init::{host_files, Content};
    let image = rmqgen::testing::nixos::image_module().to_json();
    let ci = &image["services"]["cloud-init"];
    assert_eq!(ci["enable"], true);
    assert_eq!(ci["network"]["enable"], true);
    assert_eq!(
        ci["settings"]["cloud_init_modules"],
        serde_json::json!(["write-files"])
    );
    assert_eq!(
        ci["settings"]["datasource_list"],
        serde_json::json!(["NoCloud"])
    );
    for path in examples() {
        let output = compile(&path, "nixos");
        for host in &output.plan.hosts {
            let at = format!("{}: {}", path.display(), host.name);
            let files = host_files(&output.plan, &output.roles, host);
            let written: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
            for f in &files {
                assert!(
                    matches!(f.content, Content::Secret { .. }),
                    "{at}: {}",
                    f.path
                );
                assert_eq!((f.owner.as_str(), f.group.as_str()), ("root", "root"));
                assert!(f.mode & 0o077 == 0, "{at}: {} is {:o}", f.path, f.mode);
                assert!(!f.defer && !f.append, "{at}: {}", f.path);
            }
            let m = rmqgen::testing::nixos::host_module(&output.plan, &output.roles, host)
                .unwrap()
                .to_json();
            let r = &m["services"]["rmqgen"];
            let mut read: Vec<&str> = Vec::new();
            if let Some(b) = r.get("broker") {
                read.push(b["cookieFile"].as_str().unwrap());
                if let Some(files) = b["bootstrap"]["secretFiles"].as_array() {
                    read.extend(files.iter().map(|f| f.as_str().unwrap()));
                }
            } else {
                read.push(r["loadBalancer"]["environmentFile"].as_str().unwrap());
            }
            for p in read {
                assert!(written.contains(&p), "{at}: the seed does not write {p}");
            }
        }
    }
}
