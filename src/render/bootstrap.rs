//! The idempotent queue-HA bootstrap script.

use serde::Serialize;

use super::{hosts_with, render_template, root_file};
use crate::bundle::{Artifact, Bundle};
use crate::error::Error;
use crate::plan::{paths, Plan, RabbitPlan, Role};

#[derive(Serialize)]
struct Ctx<'a> {
    plan: &'a Plan,
    r: &'a RabbitPlan,
    policy_json: String,
    definitions_path: &'static str,
}

pub(super) fn render(plan: &Plan, bundle: &mut Bundle) -> Result<(), Error> {
    let policy_json = serde_json::to_string(&plan.rabbitmq.policy.definition)
        .map_err(|e| Error::Internal(e.to_string()))?;
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
    let brokers = hosts_with(plan, Role::Broker);
    bundle.insert(
        "bootstrap/queue-ha-policy.sh",
        Artifact::file(text)
            .executable()
            .installed(root_file(brokers, paths::BOOTSTRAP, 0o755)),
    );
    Ok(())
}
