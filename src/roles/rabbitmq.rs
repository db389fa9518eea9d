//! `rabbitmq.conf`, `enabled_plugins` and `definitions.json`.

use serde::Serialize;
use serde_json::Value;

use super::{hosts_with, RoleFile};
use crate::error::Error;
use crate::plan::{paths, Plan, RabbitPlan, Role};
use crate::render::render_template;

#[derive(Serialize)]
struct Ctx<'a> {
    plan: &'a Plan,
    r: &'a RabbitPlan,
    definitions_path: &'static str,
}

/// A file on every broker, readable by the `rabbitmq` group.
fn broker_file(
    plan: &Plan,
    bundle_path: &str,
    path: &str,
    mode: u32,
    contents: String,
) -> RoleFile {
    let mut file = RoleFile::root(
        bundle_path.into(),
        path,
        hosts_with(plan, Role::Broker),
        mode,
        contents,
    );
    file.placement.group = "rabbitmq".into();
    file
}

/// `rabbitmq.conf`, `enabled_plugins` and `definitions.json`.
pub(super) fn render(plan: &Plan) -> Result<(RoleFile, RoleFile, RoleFile), Error> {
    let r = &plan.rabbitmq;
    let conf = render_template(
        "rabbitmq.conf",
        Ctx {
            plan,
            r,
            definitions_path: paths::DEFINITIONS,
        },
    )?;
    let conf = broker_file(
        plan,
        "rabbitmq/rabbitmq.conf",
        paths::RABBITMQ_CONF,
        0o640,
        conf,
    );

    // Erlang term: a list of atoms, terminated by a full stop.
    let names: Vec<&str> = r.plugins.iter().map(|p| p.as_str()).collect();
    let plugins = format!("[{}].\n", names.join(","));
    let plugins = broker_file(
        plan,
        "rabbitmq/enabled_plugins",
        paths::ENABLED_PLUGINS,
        0o644,
        plugins,
    );

    let mut json = format!("{:#}", definitions(r));
    json.push('\n');
    let definitions = broker_file(
        plan,
        "rabbitmq/definitions.json",
        paths::DEFINITIONS,
        0o640,
        json,
    );
    Ok((conf, plugins, definitions))
}

/// `definitions.json` as RabbitMQ imports it: the vhosts (with their
/// default queue type) and the policy on each. Users are not here: their
/// passwords are secrets, so the bootstrap creates them from files on the
/// broker. Permissions need the users, so they are applied there too.
///
/// Built as a JSON value (keys in insertion order), which prints without
/// a failure path, unlike serialising a struct.
fn definitions(r: &RabbitPlan) -> Value {
    let object = |entries: Vec<(&str, Value)>| {
        Value::Object(
            entries
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        )
    };
    let vhosts = r.vhosts.iter().map(|v| {
        let mut entries = vec![("name", Value::from(v.name.as_str()))];
        if let Some(t) = v.default_queue_type {
            let metadata = object(vec![("default_queue_type", t.to_string().into())]);
            entries.push(("metadata", metadata));
        }
        object(entries)
    });
    let policies = r.vhosts.iter().map(|v| {
        object(vec![
            ("vhost", v.name.as_str().into()),
            ("name", r.policy.name.as_str().into()),
            ("pattern", r.policy.pattern.as_str().into()),
            ("apply-to", r.policy.apply_to.to_string().into()),
            ("priority", r.policy.priority.into()),
            ("definition", Value::Object(r.policy.definition.clone())),
        ])
    });
    object(vec![
        ("vhosts", vhosts.collect()),
        ("policies", policies.collect()),
    ])
}

#[derive(Serialize)]
struct CheckCtx<'a> {
    plan: &'a Plan,
    r: &'a RabbitPlan,
    check_path: &'static str,
}

/// The series check and the rabbitmq-server drop-in that runs it before
/// every start (cloud-init path).
pub(super) fn series_check(plan: &Plan) -> Result<[RoleFile; 2], Error> {
    let ctx = || CheckCtx {
        plan,
        r: &plan.rabbitmq,
        check_path: paths::SERIES_CHECK,
    };
    let script = RoleFile::root(
        "cloud-init/broker/check-rabbitmq-series.sh".into(),
        paths::SERIES_CHECK,
        hosts_with(plan, Role::Broker),
        0o755,
        render_template("rabbitmq-series-check.sh", ctx())?,
    );
    let dropin = RoleFile::root(
        "cloud-init/broker/rabbitmq-server-dropin.conf".into(),
        paths::RABBITMQ_DROPIN,
        hosts_with(plan, Role::Broker),
        0o644,
        render_template("rabbitmq-dropin.conf", ctx())?,
    );
    Ok([script, dropin])
}

#[derive(Serialize)]
struct TlsCtx<'a> {
    plan: &'a Plan,
    files: &'a crate::plan::TlsFiles,
    args: String,
}

/// Erlang distribution over TLS: the optfile and the `rabbitmq-env.conf`
/// that hands it to the broker and to the CLI tools; nothing without
/// `tls.inter_node`.
pub(super) fn inter_node_tls(plan: &Plan) -> Result<Vec<RoleFile>, Error> {
    let (true, Some(files)) = (plan.tls.inter_node, &plan.tls.broker) else {
        return Ok(Vec::new());
    };
    let ctx = || TlsCtx {
        plan,
        files,
        args: format!(
            "-proto_dist inet_tls -ssl_dist_optfile {}",
            paths::INTER_NODE_TLS
        ),
    };
    Ok(vec![
        broker_file(
            plan,
            "rabbitmq/inter_node_tls.config",
            paths::INTER_NODE_TLS,
            0o640,
            render_template("inter-node-tls.config", ctx())?,
        ),
        broker_file(
            plan,
            "rabbitmq/rabbitmq-env.conf",
            paths::RABBITMQ_ENV,
            0o644,
            render_template("rabbitmq-env.conf", ctx())?,
        ),
    ])
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::process::Command;

    /// Runs the rendered series check with a stand-in `dpkg-query` that
    /// reports `installed` (or fails, for "not installed").
    fn run_check(version: &str, installed: Option<&str>) -> (bool, String) {
        let mut spec = crate::parse(&crate::reference_spec()).expect("the reference parses");
        spec.os = Some(crate::spec::OsRelease::Debian13);
        spec.rabbitmq.version = version.to_string();
        spec.rabbitmq.queue_ha = crate::spec::QueueHa::new(crate::spec::QueueHaMode::Quorum);
        spec.rabbitmq.install = Some(crate::spec::InstallSource::TeamRabbitmq {});
        let plan = crate::validate(&spec).expect("valid").plan;
        let [script, _] = super::series_check(&plan).expect("renders");
        // A unique directory per run (its name goes into PATH, so no `:`).
        static RUN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let run = RUN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("rmqgen-series-check-{}-{run}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let fake = match installed {
            Some(v) => format!("#!/bin/sh\nprintf '%s' '{v}'\n"),
            None => "#!/bin/sh\nexit 1\n".to_string(),
        };
        for (name, text) in [("dpkg-query", fake.as_str()), ("logger", "#!/bin/sh\n")] {
            let p: PathBuf = dir.join(name);
            std::fs::write(&p, text).expect("write");
            Command::new("chmod")
                .arg("755")
                .arg(&p)
                .status()
                .expect("chmod");
        }
        let check = dir.join("check");
        std::fs::write(&check, &script.contents).expect("write");
        let out = Command::new("sh")
            .arg(&check)
            .env("PATH", format!("{}:/usr/bin:/bin", dir.display()))
            .output()
            .expect("sh runs");
        let _ = std::fs::remove_dir_all(&dir);
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    #[test]
    fn the_series_check_passes_only_the_rendered_series() {
        assert_eq!(run_check("4.1", Some("4.1.8-1")), (true, String::new()));
        // Epochs and Debian revisions do not matter.
        assert!(run_check("4.1", Some("1:4.1.0-1+deb13u1")).0);
        let (ok, err) = run_check("4.1", Some("4.0.5-6+deb13u1"));
        assert!(!ok);
        assert!(
            err.contains("rabbitmq-server 4.0.5-6+deb13u1 (series 4.0) is installed, but the configuration was rendered for RabbitMQ 4.1"),
            "{err}"
        );
        // 4.10 is not 4.1.
        assert!(!run_check("4.1", Some("4.10.0-1")).0);
        let (ok, err) = run_check("4.1", None);
        assert!(!ok);
        assert!(err.contains("rabbitmq-server is not installed"), "{err}");
    }

    /// Renders the broker files of every series rmqgen knows (through a
    /// mirror, which carries any series) in both replication modes.
    fn every_series() -> Vec<(
        crate::plan::Version,
        crate::spec::QueueHaMode,
        crate::render::Roles,
    )> {
        use crate::spec::{InstallSource, QueueHa, QueueHaMode};
        let mut out = Vec::new();
        for (major, minors) in [(3, 10..=13), (4, 0..=3)] {
            for minor in minors {
                let version = crate::plan::Version::new(major, minor);
                for mode in [QueueHaMode::Quorum, QueueHaMode::ClassicMirrored] {
                    if mode == QueueHaMode::ClassicMirrored && !version.has_classic_mirroring() {
                        continue;
                    }
                    let mut spec = crate::parse(&crate::reference_spec()).expect("parses");
                    spec.rabbitmq.version = version.to_string();
                    spec.rabbitmq.queue_ha = QueueHa::new(mode);
                    spec.rabbitmq.install = Some(InstallSource::Mirror {
                        url: "http://apt.example.internal/rabbitmq".into(),
                        keyring: "/usr/share/keyrings/example.gpg".into(),
                        suite: None,
                        component: None,
                    });
                    let plan = crate::validate(&spec)
                        .unwrap_or_else(|e| panic!("{version} {mode}: {e}"))
                        .plan;
                    out.push((version, mode, crate::roles::render(&plan).expect("renders")));
                }
            }
        }
        out
    }

    #[test]
    fn every_setting_written_exists_in_the_series() {
        use crate::plan::platform::{denied_deprecated_features, Feature};
        let all = every_series();
        // 8 series with quorum queues, 4 (3.10 to 3.13) with classic mirroring.
        assert_eq!(all.len(), 12);
        for (v, mode, roles) in all {
            let at = format!("{v} {mode}");
            let conf = &roles.broker.conf.contents;
            let defs = &roles.broker.definitions.contents;
            let boot = &roles.broker.bootstrap.contents;
            let has = |f: Feature| f.in_series(v);
            assert_eq!(
                conf.contains("cluster_partition_handling"),
                has(Feature::PartitionHandling),
                "{at}"
            );
            assert_eq!(
                conf.contains("quorum_queue.continuous_membership_reconciliation"),
                mode == crate::spec::QueueHaMode::Quorum && has(Feature::MembershipReconciliation),
                "{at}"
            );
            assert!(
                !conf.contains("deprecated_features.permit")
                    || has(Feature::DeprecatedFeaturePermits),
                "{at}"
            );
            // 4.3 removed RAM nodes; rmqgen never writes a node type.
            assert!(!conf.contains("cluster_formation.node_type"), "{at}");
            for text in [defs, boot] {
                assert!(
                    !text.contains("\"ha-") || has(Feature::ClassicMirroring),
                    "{at}"
                );
                assert!(
                    !text.contains("target-group-size") || has(Feature::MembershipReconciliation),
                    "{at}"
                );
                assert!(
                    !text.contains("queue-leader-locator") || has(Feature::QueueLeaderLocator),
                    "{at}"
                );
                assert!(
                    !text.contains("default_queue_type") && !text.contains("--default-queue-type")
                        || has(Feature::VhostDefaultQueueType),
                    "{at}"
                );
                // Nothing rmqgen writes uses a feature the series denies.
                assert!(!text.contains("queue-master-locator"), "{at}");
            }
            assert!(
                !boot.contains("rabbitmq-queues grow") || has(Feature::QueuesGrow),
                "{at}"
            );
            for denied in denied_deprecated_features(v) {
                assert!(!conf.contains(denied), "{at}: {denied}");
            }
        }
    }

    #[test]
    fn tls_settings_follow_the_series() {
        use crate::plan::platform::Feature;
        use crate::spec::{QueueHa, QueueHaMode, Tls, TlsSource};
        for (major, minors) in [(3, 10..=13), (4, 0..=3)] {
            for minor in minors {
                let version = crate::plan::Version::new(major, minor);
                let mut spec = crate::parse(&crate::reference_spec()).expect("parses");
                spec.rabbitmq.version = version.to_string();
                spec.rabbitmq.queue_ha = QueueHa::new(QueueHaMode::Quorum);
                spec.rabbitmq.install = Some(crate::spec::InstallSource::Mirror {
                    url: "http://apt.example.internal/rabbitmq".into(),
                    keyring: "/usr/share/keyrings/example.gpg".into(),
                    suite: None,
                    component: None,
                });
                spec.tls = Some(Tls {
                    enabled: Some(true),
                    ca: Some(TlsSource::File {
                        path: "tls/ca.crt".into(),
                    }),
                    ..Tls::default()
                });
                let plan = crate::validate(&spec)
                    .unwrap_or_else(|e| panic!("{version}: {e}"))
                    .plan;
                let roles = crate::roles::render(&plan).expect("renders");
                let conf = &roles.broker.conf.contents;
                assert!(
                    conf.contains("listeners.tcp = none\nlisteners.ssl.default = 5671\n"),
                    "{version}"
                );
                assert!(conf.contains("management.ssl.port = 15671\n"), "{version}");
                assert!(!conf.contains("management.tcp"), "{version}");
                assert_eq!(
                    conf.contains("prometheus.tcp.listener = none\n"),
                    Feature::PrometheusTcpListenerNone.in_series(version),
                    "{version}"
                );
                let tls: Vec<&str> = roles
                    .broker
                    .inter_node_tls
                    .iter()
                    .map(|f| f.path.as_str())
                    .collect();
                assert_eq!(
                    tls,
                    [
                        crate::plan::paths::INTER_NODE_TLS,
                        crate::plan::paths::RABBITMQ_ENV
                    ],
                    "{version}"
                );
            }
        }
    }
}
