//! Blue-green off classic mirrored queues: a `classic-mirrored` cluster
//! (blue, RabbitMQ 3.x) replaced by a `quorum` one (green, the NEW spec)
//! built beside it, and the messages moved across.
//!
//! - [`migrate_definitions`]: blue's exported definitions made importable
//!   on green (mirroring stripped, durable classic queues declared as
//!   quorum queues, what cannot convert reported). `rmqgen
//!   migrate-definitions` is the same function on files.
//! - [`shovel_definitions`]: one dynamic shovel per queue, on green,
//!   pulling from blue's queue into green's.
//! - [`migration`]: the files `rmqgen` renders for such a change, under
//!   `migration/`: `blue-green.sh`, the resumable script that runs the
//!   whole migration (export, transform, import, shovels, cut-over, drain,
//!   teardown).
//!
//! The definitions are transformed when the script runs, not when rmqgen
//! renders: blue's queues, policies and users are what applications
//! declared at run time, which no spec knows. The script calls `rmqgen
//! migrate-definitions` on the export it has just taken.
//!
//! Why not the `rabbitmq_http_client` crate's transformer: it comes with
//! an HTTP client stack (reqwest, TLS, tokio) for an operation on one JSON
//! document, and it converts or drops queues without the report this
//! migration needs (which queues stay classic, and why).

mod definitions;
mod shovels;

use serde::Serialize;

pub use definitions::{
    migrate_definitions, migrate_definitions_str, DefinitionsError, Migrated, Note, NoteKind,
};
pub use shovels::{shovel_definitions, shovel_name, ShovelSource};

use crate::bundle::{Artifact, Bundle};
use crate::error::Error;
use crate::plan::Plan;
use crate::spec::QueueHaMode;

/// The user the migration script creates on blue for the shovels (and
/// deletes at teardown).
pub const SHOVEL_USER: &str = "rmqgen-blue-green";

/// The migration script's path in the output directory.
pub const SCRIPT: &str = "migration/blue-green.sh";

/// True when moving from `old` to `new` is the blue-green migration this
/// module renders: classic mirrored queues to quorum queues.
pub fn applies(old: &Plan, new: &Plan) -> bool {
    old.rabbitmq.policy.mode == QueueHaMode::ClassicMirrored
        && new.rabbitmq.policy.mode == QueueHaMode::Quorum
}

/// True when green's plugins include the shovel plugin the migration needs.
pub fn green_has_shovel(new: &Plan) -> bool {
    new.rabbitmq
        .plugins
        .iter()
        .any(|p| p.as_str() == "rabbitmq_shovel")
}

#[derive(Serialize)]
struct HostCtx {
    name: String,
    address: String,
}

#[derive(Serialize)]
struct Ctx {
    cluster: String,
    blue_version: String,
    green_version: String,
    blue_brokers: Vec<HostCtx>,
    blue_lbs: Vec<HostCtx>,
    green_brokers: Vec<HostCtx>,
    green_lbs: Vec<HostCtx>,
    blue_amqp_port: u32,
    blue_vip: String,
    green_vip: String,
    same_vip: bool,
    predeclared: bool,
    shovel_user: &'static str,
}

fn host_ctx(plan: &Plan, names: &[String]) -> Vec<HostCtx> {
    names
        .iter()
        .filter_map(|n| plan.host(n))
        .map(|h| HostCtx {
            name: h.name.to_string(),
            address: h.address.to_string(),
        })
        .collect()
}

/// The migration files for moving a running `old` (blue) cluster to `new`
/// (green), or `None` when the change is not classic mirrored → quorum.
/// Both plans are validated ones; [`crate::plan_change`] is what says the
/// pair can run side by side (no shared name, address, MAC or VM id).
pub fn migration(old: &Plan, new: &Plan) -> Result<Option<Bundle>, Error> {
    if !applies(old, new) {
        return Ok(None);
    }
    let names =
        |p: &Plan| -> Vec<String> { p.brokers.iter().map(|b| b.name.to_string()).collect() };
    let lbs = |p: &Plan| -> Vec<String> {
        p.load_balancers
            .iter()
            .map(|l| l.name.to_string())
            .collect()
    };
    // Blue's load balancers stop with the VIP holder last (the VIP moves
    // once at most); green's start with its holder first.
    let blue_lbs = crate::change::lb_order(old, &lbs(old));
    let mut green_lbs = crate::change::lb_order(new, &lbs(new));
    green_lbs.reverse();
    let version = *new.rabbitmq.version;
    let ctx = Ctx {
        cluster: new.name.clone(),
        blue_version: old.rabbitmq.version.to_string(),
        green_version: new.rabbitmq.version.to_string(),
        blue_brokers: host_ctx(old, &names(old)),
        blue_lbs: host_ctx(old, &blue_lbs),
        green_brokers: host_ctx(new, &names(new)),
        green_lbs: host_ctx(new, &green_lbs),
        blue_amqp_port: *old.rabbitmq.ports.amqp,
        blue_vip: old.vip.to_string(),
        green_vip: new.vip.to_string(),
        same_vip: *old.vip == *new.vip,
        // The shovel's src-/dest-predeclared arrived in 3.13.
        predeclared: version >= crate::plan::Version::new(3, 13),
        shovel_user: SHOVEL_USER,
    };
    let script = crate::render::render_template("blue-green.sh", &ctx)?;
    let mut bundle = Bundle::new();
    bundle.insert(SCRIPT, Artifact::file(script).executable());
    Ok(Some(bundle))
}
