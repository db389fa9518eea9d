//! `rabbitmq.conf`, `enabled_plugins` and `definitions.json`.

use serde::Serialize;
use serde_json::{Map, Value};

use super::{hosts_with, render_template};
use crate::bundle::{Artifact, Bundle, Install};
use crate::error::Error;
use crate::plan::{paths, ApplyTo, Plan, QueueType, RabbitPlan, Role};

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

fn broker_file(plan: &Plan, path: &str, mode: u32) -> Install {
    Install {
        hosts: hosts_with(plan, Role::Broker),
        path: path.to_string(),
        owner: "root".into(),
        group: "rabbitmq".into(),
        mode,
        append: false,
    }
}

pub(super) fn render(plan: &Plan, bundle: &mut Bundle) -> Result<(), Error> {
    let r = &plan.rabbitmq;
    let conf = render_template(
        "rabbitmq.conf",
        Ctx {
            plan,
            r,
            definitions_path: paths::DEFINITIONS,
        },
    )?;
    bundle.insert(
        "rabbitmq/rabbitmq.conf",
        Artifact::file(conf).installed(broker_file(plan, paths::RABBITMQ_CONF, 0o640)),
    );

    // Erlang term: a list of atoms, terminated by a full stop.
    let plugins = format!("[{}].\n", r.plugins.join(","));
    bundle.insert(
        "rabbitmq/enabled_plugins",
        Artifact::file(plugins).installed(broker_file(plan, paths::ENABLED_PLUGINS, 0o644)),
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
    let mut json = serde_json::to_vec_pretty(&defs).map_err(|e| Error::Internal(e.to_string()))?;
    json.push(b'\n');
    bundle.insert(
        "rabbitmq/definitions.json",
        Artifact::file(json).installed(broker_file(plan, paths::DEFINITIONS, 0o640)),
    );
    Ok(())
}
