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
    /// Brokers that make a majority.
    majority: usize,
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
            majority: plan.brokers.len() / 2 + 1,
        },
    )?;
    // Installed on every broker: any broker that is up can run it, and on
    // the cloud-init path every broker does (its timer), so a broker that
    // is down at first boot does not leave the cluster without users.
    Ok(RoleFile::root(
        "bootstrap/queue-ha-policy.sh".into(),
        paths::BOOTSTRAP,
        hosts_with(plan, Role::Broker),
        0o755,
        text,
    ))
}

#[derive(Serialize)]
struct UnitCtx<'a> {
    plan: &'a Plan,
    script_path: &'static str,
    lock_path: &'static str,
}

/// The bootstrap's systemd service and timer on every broker (cloud-init
/// path; the NixOS module has its own): started 10 s after boot, retried
/// every 30 s until it succeeds.
pub(super) fn units(plan: &Plan) -> Result<[RoleFile; 2], Error> {
    let ctx = || UnitCtx {
        plan,
        script_path: paths::BOOTSTRAP,
        lock_path: paths::BOOTSTRAP_LOCK,
    };
    let service = RoleFile::root(
        "cloud-init/broker/rmqgen-queue-ha-policy.service".into(),
        paths::BOOTSTRAP_SERVICE,
        hosts_with(plan, Role::Broker),
        0o644,
        render_template("queue-ha-policy.service", ctx())?,
    );
    let timer = RoleFile::root(
        "cloud-init/broker/rmqgen-queue-ha-policy.timer".into(),
        paths::BOOTSTRAP_TIMER,
        hosts_with(plan, Role::Broker),
        0o644,
        render_template("queue-ha-policy.timer", ctx())?,
    );
    Ok([service, timer])
}
