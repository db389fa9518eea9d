//! The idempotent queue-HA bootstrap script.

use serde::Serialize;

use super::{hosts_with, RoleFile};
use crate::error::Error;
use crate::plan::{paths, Plan, RabbitPlan, Role};
use crate::render::render_template;

#[derive(Serialize)]
struct Ctx<'a> {
    plan: &'a Plan,
    r: &'a RabbitPlan,
    policy_json: String,
    definitions_path: &'static str,
}

pub(super) fn render(plan: &Plan) -> Result<RoleFile, Error> {
    // A JSON value's Display is its compact text, and cannot fail.
    let policy_json =
        serde_json::Value::Object(plan.rabbitmq.policy.definition.clone()).to_string();
    let text = render_template(
        "queue-ha-policy.sh",
        Ctx {
            plan,
            r: &plan.rabbitmq,
            policy_json,
            definitions_path: paths::DEFINITIONS,
        },
    )?;
    // Installed on every broker (any of them can re-run it); first boot runs
    // it on `rabbitmq.bootstrap_host` only.
    Ok(RoleFile::root(
        "bootstrap/queue-ha-policy.sh".into(),
        paths::BOOTSTRAP,
        hosts_with(plan, Role::Broker),
        0o755,
        text,
    ))
}
