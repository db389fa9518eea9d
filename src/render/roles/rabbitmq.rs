//! `rabbitmq.conf`, `enabled_plugins` and `definitions.json`.

use serde::Serialize;
use serde_json::{Map, Value};

use super::{hosts_with, RoleFile};
use crate::error::Error;
use crate::plan::{paths, ApplyTo, Plan, QueueType, RabbitPlan, Role};
use crate::render::render_template;

#[derive(Serialize)]
struct Ctx<'a> {
    plan: &'a Plan,
    r: &'a RabbitPlan,
    definitions_path: &'static str,
}

/// `definitions.json` as RabbitMQ imports it. Users are not here: their
/// passwords are secrets, so the bootstrap creates them from files on the
/// broker. Permissions need the users, so they are applied there too.
#[derive(Serialize)]
struct Definitions<'a> {
    vhosts: Vec<DefVhost<'a>>,
    policies: Vec<DefPolicy<'a>>,
}

#[derive(Serialize)]
struct DefVhost<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<VhostMetadata>,
}

#[derive(Serialize)]
struct VhostMetadata {
    default_queue_type: QueueType,
}

#[derive(Serialize)]
struct DefPolicy<'a> {
    vhost: &'a str,
    name: &'a str,
    pattern: &'a str,
    #[serde(rename = "apply-to")]
    apply_to: ApplyTo,
    priority: u32,
    definition: &'a Map<String, Value>,
}

/// A file on every broker, readable by the `rabbitmq` group.
fn broker_file(
    plan: &Plan,
    bundle_path: &str,
    path: &str,
    mode: u32,
    contents: String,
) -> RoleFile {
    RoleFile {
        group: "rabbitmq".into(),
        ..RoleFile::root(
            bundle_path.into(),
            path,
            hosts_with(plan, Role::Broker),
            mode,
            contents,
        )
    }
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
    let plugins = format!("[{}].\n", r.plugins.join(","));
    let plugins = broker_file(
        plan,
        "rabbitmq/enabled_plugins",
        paths::ENABLED_PLUGINS,
        0o644,
        plugins,
    );

    let defs = Definitions {
        vhosts: r
            .vhosts
            .iter()
            .map(|v| DefVhost {
                name: &v.name,
                metadata: v.default_queue_type.map(|t| VhostMetadata {
                    default_queue_type: t,
                }),
            })
            .collect(),
        policies: r
            .vhosts
            .iter()
            .map(|v| DefPolicy {
                vhost: &v.name,
                name: &r.policy.name,
                pattern: &r.policy.pattern,
                apply_to: r.policy.apply_to,
                priority: r.policy.priority,
                definition: &r.policy.definition,
            })
            .collect(),
    };
    let mut json =
        serde_json::to_string_pretty(&defs).map_err(|e| Error::Internal(e.to_string()))?;
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
