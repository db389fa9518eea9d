//! TLS with the real tools of Debian 12 (RabbitMQ 3.10, HAProxy 2.6),
//! Debian 13 (RabbitMQ 4.0, HAProxy 3.0) and sid (RabbitMQ 4.3): a
//! throwaway CA and certificates
//! made by `openssl` for the names the plan says each certificate must
//! cover, then `haproxy -c` on the TLS configuration (passthrough and
//! terminate) and a RabbitMQ node booted with AMQPS, HTTPS management and
//! Prometheus and Erlang distribution over TLS.
//!
//! The PEM files are written without their final newline, as Terraform's
//! `trimspace(file(...))` delivers them.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use rmqgen::plan::CertificateNames;
use serde_json::{json, Value};

use super::harness::{self, artifact, compile, require, run, TempDir};
use super::rabbit::{self, EtcFile, Node};
use super::{haproxy_check, variants, ROOT_TOOLS};

const OPENSSL_TIMEOUT: Duration = Duration::from_secs(60);

/// The releases, the `os` that selects each, and its own RabbitMQ series.
const RELEASES: [(&str, &str, &str); 3] = [
    ("bookworm", "debian-12", "3.10"),
    ("trixie", "debian-13", "4.0"),
    ("sid", "debian-sid", "4.3"),
];

/// The example with TLS on every link.
fn example() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/tls-4x.json"))
        .expect("examples/tls-4x.json")
}

/// The spec without `tls`: what the checks of every example run (they
/// have no certificates; this module runs the TLS ones).
pub fn without_tls(source: &str) -> (String, bool) {
    let mut v: Value = serde_json::from_str(source).expect("an example is JSON");
    let had = v.as_object_mut().and_then(|m| m.remove("tls")).is_some();
    (serde_json::to_string_pretty(&v).expect("JSON"), had)
}

fn openssl(dir: &Path, args: &[&str]) {
    let mut cmd = Command::new("openssl");
    cmd.current_dir(dir).args(args);
    run(&mut cmd, OPENSSL_TIMEOUT).expect_success(&format!("openssl {}", args.join(" ")));
}

/// A throwaway PKI in `dir`: `ca.pem`, and per certificate `<name>.pem`
/// and `<name>.key`, each with the subjectAltNames the plan computed (plus
/// `extra_dns`). Every file loses its final newline, as Terraform's
/// `trimspace` takes it.
fn pki(dir: &Path, certs: &[(&str, &CertificateNames)], extra_dns: &[&str]) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut args = vec!["req", "-x509"];
    args.extend(ec);
    args.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=rmqgen test CA",
    ]);
    openssl(dir, &args);
    for (name, names) in certs {
        let mut san: Vec<String> = names.dns.iter().map(|d| format!("DNS:{d}")).collect();
        san.extend(extra_dns.iter().map(|d| format!("DNS:{d}")));
        san.extend(names.ip.iter().map(|ip| format!("IP:{ip}")));
        std::fs::write(
            dir.join(format!("{name}.ext")),
            format!(
                "subjectAltName={}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\n",
                san.join(",")
            ),
        )
        .expect("write extensions");
        let (key, csr, pem, ext) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.pem"),
            format!("{name}.ext"),
        );
        let subj = format!("/CN={}", names.host);
        let mut args = vec!["req"];
        args.extend(ec);
        args.extend(["-keyout", &key, "-out", &csr, "-subj", &subj]);
        openssl(dir, &args);
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-out",
                &pem,
                "-extfile",
                &ext,
            ],
        );
    }
    for e in std::fs::read_dir(dir).expect("list the PKI") {
        let p = e.expect("entry").path();
        if p.extension().is_some_and(|x| x == "pem" || x == "key") {
            let text = std::fs::read_to_string(&p).expect("read PEM");
            std::fs::write(&p, text.trim_end()).expect("trim PEM");
        }
    }
}

/// The release's root filesystem and its RabbitMQ; `None` (with a notice,
/// or a failure under CI) where it is not available.
fn installation_at_release(release: &str) -> Option<(std::path::PathBuf, rabbit::Installation)> {
    let base = harness::rootfs(release)
        .map_err(|e| harness::unavailable(&e))
        .ok()?;
    let inst = rabbit::installation_at(&base).unwrap_or_else(|e| panic!("Debian {release}: {e}"));
    Some((base, inst))
}

/// The TLS example for `os` and the release's own RabbitMQ `series`, with
/// `tls` edited.
fn spec(os: &str, series: &str, edit: impl FnOnce(&mut Value)) -> String {
    let mut v: Value = serde_json::from_str(&example()).expect("JSON");
    v["os"] = json!(os);
    v["rabbitmq"]["version"] = json!(series);
    v["rabbitmq"]["install"] = json!({"from": "distro"});
    edit(&mut v["tls"]);
    serde_json::to_string_pretty(&v).expect("JSON")
}

#[test]
#[ignore = "needs root, openssl and the cached root filesystems; run by scripts/test-all.sh"]
fn haproxy_accepts_the_tls_configs() {
    if require(ROOT_TOOLS, true).is_none() || require(&["openssl"], true).is_none() {
        return;
    }
    for (release, os, series) in RELEASES {
        let base = match harness::rootfs(release) {
            Ok(b) => b,
            Err(e) => return harness::unavailable(&e),
        };
        for mode in ["passthrough", "terminate"] {
            let dir = TempDir::new(&format!("haproxy-tls-{release}-{mode}"));
            // The chroot sees the directory at /mnt: the certificates are
            // "already on the hosts" there.
            let source = spec(os, series, |t| {
                t["haproxy_mode"] = json!(mode);
                t["ca"] = json!({"from": "host", "path": "/mnt/ca.pem"});
                t["load_balancers"] = json!({
                    "certificate": {"from": "host", "path": "/mnt/lb.pem"},
                    "key": {"from": "host", "path": "/mnt/lb.pem.key"},
                });
            });
            let out = compile(&format!("tls-4x ({mode})"), &source);
            let lb = &out.plan.load_balancers[0];
            let names = out
                .plan
                .tls
                .certificates
                .iter()
                .find(|c| c.host == lb.name.as_str())
                .expect("the load balancer has a certificate");
            pki(dir.path(), &[("lb", names)], &[]);
            std::fs::rename(dir.path().join("lb.key"), dir.path().join("lb.pem.key"))
                .expect("rename the key");
            let path = format!("haproxy/{}/haproxy.cfg", lb.name);
            let text = artifact(&out, &path).text().to_string();
            assert!(text.contains("ssl crt /mnt/lb.pem"), "{text}");
            assert_eq!(
                text.contains("verify required ca-file /mnt/ca.pem"),
                mode == "terminate"
            );
            let cfg = dir.write("haproxy.cfg", text.as_bytes(), 0o644);
            let context = format!("{path} ({mode}) on Debian {release}");
            let o = haproxy_check(&base, &cfg, Some("Rt-stats-Pass-1")).expect_success(&context);
            assert!(!o.output().contains("[ALERT]"), "{context}: {o}");
            assert!(
                o.output().contains("Configuration file is valid"),
                "{context}: {o}"
            );
            // The check loads the certificate: without its key it fails.
            std::fs::remove_file(dir.path().join("lb.pem.key")).expect("remove the key");
            let o = haproxy_check(&base, &cfg, Some("Rt-stats-Pass-1"));
            assert!(
                !o.success(),
                "{context}: haproxy -c passed without the key: {o}"
            );
        }
    }
}

#[test]
#[ignore = "needs root, openssl and the cached root filesystems; run by scripts/test-all.sh"]
fn rabbitmq_boots_with_tls_everywhere() {
    let Some(bins) = require(rabbit::TOOLS, true) else {
        return;
    };
    if require(&["openssl"], true).is_none() {
        return;
    }
    for (release, os, series) in RELEASES {
        let Some((base, inst)) = installation_at_release(release) else {
            return;
        };
        eprintln!(
            "--- TLS node: RabbitMQ {} on Debian {release}",
            inst.version
        );
        // The one-broker node variant (loopback, the test ports, the
        // release's own series), with the example's TLS back on and every
        // file delivered where cloud-init writes it.
        let (plain, _) = without_tls(&spec(os, series, |_| {}));
        let v = variants::for_node(&plain, rabbit::PORTS, &inst.series);
        let mut node_spec: Value = serde_json::from_str(&v.source).expect("JSON");
        node_spec["tls"] = json!({
            "enabled": true,
            "ca": {"from": "file", "path": "tls/ca.crt"},
        });
        let out = compile("the TLS node variant", &node_spec.to_string());
        let t = &out.plan.tls;
        assert!(t.amqp && t.management && t.prometheus && t.inter_node);
        let files = t.broker.as_ref().expect("broker TLS files");

        let pki_dir = TempDir::new(&format!("pki-{release}"));
        let names = &t.certificates[0];
        assert_eq!(names.host, "localhost");
        pki(pki_dir.path(), &[("broker", names)], &[]);
        let read = |f: &str| std::fs::read(pki_dir.path().join(f)).expect("read PEM");
        let mut extra = vec![
            EtcFile::at(&files.ca, read("ca.pem"), 0o400),
            EtcFile::at(&files.certificate, read("broker.pem"), 0o400),
            EtcFile::at(&files.key, read("broker.key"), 0o400),
        ];
        for bundle_path in [
            "rabbitmq/inter_node_tls.config",
            "rabbitmq/rabbitmq-env.conf",
        ] {
            let a = artifact(&out, bundle_path);
            let install = a.install.as_ref().expect("installed");
            extra.push(EtcFile::at(&install.path, a.bytes.clone(), install.mode));
        }
        let (etc, config, plugins) = super::broker_files(&out, extra);
        let node = Node::start_with_env_file(
            &inst,
            &base,
            &bins,
            &etc,
            &config,
            &plugins,
            rmqgen::plan::paths::RABBITMQ_ENV,
        );

        // The CLI reaches the node over TLS distribution.
        node.ctl("rabbitmqctl", &["status"])
            .expect_success("rabbitmqctl status over TLS distribution");
        let proto = node
            .ctl("rabbitmqctl", &["eval", "init:get_argument(proto_dist)."])
            .expect_success("rabbitmqctl eval");
        assert!(proto.stdout.contains("inet_tls"), "{proto}");
        // A CLI without the TLS options cannot.
        let plain_cli = node.exec(
            &inst.sbin.join("rabbitmqctl"),
            &["status"],
            &[("RABBITMQ_CONF_ENV_FILE", "/nonexistent")],
            Duration::from_secs(120),
        );
        assert!(
            !plain_cli.success(),
            "a plain-TCP CLI reached the node: {plain_cli}"
        );

        let listeners = node
            .ctl("rabbitmq-diagnostics", &["-q", "listeners"])
            .expect_success("rabbitmq-diagnostics listeners");
        let r = &out.plan.rabbitmq;
        // 4.3 names the distribution listener clustering/ssl; 3.10 and 4.0
        // say clustering whatever it speaks (rabbitmqctl's eval above shows
        // inet_tls).
        let dist = format!("port: {}, protocol: clustering", *r.ports.distribution);
        assert!(listeners.stdout.contains(&dist), "no {dist:?}: {listeners}");
        for (protocol, port) in [
            ("amqp/ssl", *r.ports.amqp),
            ("https", *r.ports.management),
            ("https/prometheus", *r.ports.prometheus),
        ] {
            let needle = format!("port: {port}, protocol: {protocol},");
            assert!(
                listeners.stdout.contains(&needle),
                "no {needle:?}: {listeners}"
            );
        }
        for plain in [
            "protocol: amqp,",
            "protocol: http,",
            "protocol: http/prometheus,",
        ] {
            assert!(
                !listeners.stdout.contains(plain),
                "a plaintext listener: {listeners}"
            );
        }

        // A client verifies the chain and the name on the AMQPS port.
        let s_client = |name: &str| {
            node.exec(
                Path::new("/bin/sh"),
                &[
                    "-c",
                    "openssl s_client -connect 127.0.0.1:\"$1\" -CAfile \"$2\" -verify_hostname \"$3\" -verify_return_error </dev/null",
                    "sh",
                    &r.ports.amqp.to_string(),
                    &files.ca,
                    name,
                ],
                &[],
                Duration::from_secs(60),
            )
        };
        let ok = s_client("localhost");
        assert!(
            ok.success() && ok.stdout.contains("Verify return code: 0 (ok)"),
            "{ok}"
        );
        let wrong = s_client("not-the-broker.example");
        assert!(!wrong.success(), "a wrong name was accepted: {wrong}");
        drop(node);
    }
}
