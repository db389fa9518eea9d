//! `haproxy.cfg` per load balancer and the haproxy.service drop-in.

use serde::Serialize;

use super::{hosts_with, HaProxy, RoleFile};
use crate::error::Error;
use crate::plan::{paths, Balancer, HaProxyPlan, Plan, Role};
use crate::render::render_template;

#[derive(Serialize)]
struct Ctx<'a> {
    plan: &'a Plan,
    h: &'a HaProxyPlan,
    lb: &'a Balancer,
    stats_env: &'static str,
    stats_password_ref: String,
    /// HAProxy terminates AMQPS.
    terminate: bool,
}

#[derive(Serialize)]
struct DropinCtx<'a> {
    plan: &'a Plan,
    stats_env: &'static str,
    env_file: &'static str,
}

/// `haproxy.cfg` of one load balancer.
pub(super) fn config(plan: &Plan, lb: &Balancer) -> Result<RoleFile, Error> {
    let text = render_template(
        "haproxy.cfg",
        Ctx {
            plan,
            h: &plan.haproxy,
            lb,
            stats_env: paths::STATS_PASSWORD_ENV,
            // HAProxy expands environment variables inside double quotes.
            stats_password_ref: format!("${{{}}}", paths::STATS_PASSWORD_ENV),
            terminate: plan.tls.amqp && plan.tls.mode == crate::spec::TlsMode::Terminate,
        },
    )?;
    Ok(RoleFile::root(
        format!("haproxy/{}/haproxy.cfg", lb.name),
        paths::HAPROXY_CFG,
        vec![lb.name.to_string()],
        0o644,
        text,
    ))
}

/// The files every load balancer shares.
pub(super) fn render(plan: &Plan) -> Result<HaProxy, Error> {
    let ctx = || DropinCtx {
        plan,
        stats_env: paths::STATS_PASSWORD_ENV,
        env_file: paths::HAPROXY_ENV,
    };
    let lbs = hosts_with(plan, Role::LoadBalancer);
    let dropin = RoleFile::root(
        "haproxy/haproxy.service.d/rmqgen.conf".into(),
        paths::HAPROXY_DROPIN,
        lbs.clone(),
        0o644,
        render_template("haproxy-dropin.conf", ctx())?,
    );
    let sysctl = RoleFile::root(
        "haproxy/sysctl.conf".into(),
        paths::LB_SYSCTL,
        lbs,
        0o644,
        render_template("sysctl-load-balancer.conf", ctx())?,
    );
    Ok(HaProxy { dropin, sysctl })
}
