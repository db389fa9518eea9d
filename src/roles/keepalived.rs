//! `keepalived.conf` per load balancer, the HAProxy check script, the
//! script that resets the connections on the VIP, and the
//! keepalived.service drop-in.

use serde::Serialize;

use super::{hosts_with, Keepalived, RoleFile};
use crate::error::Error;
use crate::plan::{paths, Balancer, HaProxyPlan, KeepalivedPlan, Plan, Role};
use crate::render::render_template;

#[derive(Serialize)]
struct Ctx<'a> {
    plan: &'a Plan,
    k: &'a KeepalivedPlan,
    h: &'a HaProxyPlan,
    lb: Option<&'a Balancer>,
    script_user: &'static str,
    check_script: &'static str,
    reset_script: &'static str,
    script_path: &'static str,
    sysusers_path: &'static str,
}

fn ctx<'a>(plan: &'a Plan, lb: Option<&'a Balancer>) -> Ctx<'a> {
    Ctx {
        plan,
        k: &plan.keepalived,
        h: &plan.haproxy,
        lb,
        script_user: paths::SCRIPT_USER,
        check_script: paths::CHECK_SCRIPT,
        reset_script: paths::RESET_SCRIPT,
        script_path: paths::SCRIPT_PATH,
        sysusers_path: paths::KEEPALIVED_SYSUSERS,
    }
}

/// `keepalived.conf` of one load balancer.
pub(super) fn config(plan: &Plan, lb: &Balancer) -> Result<RoleFile, Error> {
    Ok(RoleFile::root(
        format!("keepalived/{}/keepalived.conf", lb.name),
        paths::KEEPALIVED_CONF,
        vec![lb.name.to_string()],
        0o644,
        render_template("keepalived.conf", ctx(plan, Some(lb)))?,
    ))
}

/// The files every load balancer shares.
pub(super) fn render(plan: &Plan) -> Result<Keepalived, Error> {
    let ctx = |lb| ctx(plan, lb);
    let lbs = hosts_with(plan, Role::LoadBalancer);
    // keepalived's script security wants the script and every directory
    // above it owned by root and not writable by others.
    let check_script = RoleFile::root(
        "keepalived/check-haproxy.sh".into(),
        paths::CHECK_SCRIPT,
        lbs.clone(),
        0o755,
        render_template("check-haproxy.sh", ctx(None))?,
    );
    let reset_script = RoleFile::root(
        "keepalived/rmqgen-reset-vip-connections.sh".into(),
        paths::RESET_SCRIPT,
        lbs.clone(),
        0o755,
        render_template("reset-vip-connections.sh", ctx(None))?,
    );
    let sysusers = RoleFile::root(
        "keepalived/sysusers.conf".into(),
        paths::KEEPALIVED_SYSUSERS,
        lbs.clone(),
        0o644,
        render_template("keepalived-sysusers.conf", ctx(None))?,
    );
    let dropin = RoleFile::root(
        "keepalived/keepalived.service.d/rmqgen.conf".into(),
        paths::KEEPALIVED_DROPIN,
        lbs,
        0o644,
        render_template("keepalived-dropin.conf", ctx(None))?,
    );
    Ok(Keepalived {
        check_script,
        reset_script,
        sysusers,
        dropin,
    })
}
