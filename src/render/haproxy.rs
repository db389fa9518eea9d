//! `haproxy.cfg` per load balancer and the haproxy.service drop-in.

use serde::Serialize;

use super::{render_template, root_file};
use crate::bundle::{Artifact, Bundle};
use crate::error::Error;
use crate::plan::{paths, HaProxyPlan, LoadBalancer, Plan};

#[derive(Serialize)]
struct Ctx<'a> {
    plan: &'a Plan,
    h: &'a HaProxyPlan,
    lb: &'a LoadBalancer,
    stats_env: &'static str,
    stats_password_ref: String,
}

#[derive(Serialize)]
struct DropinCtx<'a> {
    plan: &'a Plan,
    stats_env: &'static str,
    env_file: &'static str,
}

pub(super) fn render(plan: &Plan, bundle: &mut Bundle) -> Result<(), Error> {
    for lb in &plan.load_balancers {
        let text = render_template(
            "haproxy.cfg",
            Ctx {
                plan,
                h: &plan.haproxy,
                lb,
                stats_env: paths::STATS_PASSWORD_ENV,
                // HAProxy expands environment variables inside double quotes.
                stats_password_ref: format!("${{{}}}", paths::STATS_PASSWORD_ENV),
            },
        )?;
        let install = root_file(vec![lb.name.clone()], paths::HAPROXY_CFG, 0o644);
        bundle.insert(
            format!("haproxy/{}/haproxy.cfg", lb.name),
            Artifact::file(text).installed(install),
        );
    }
    let dropin = render_template(
        "haproxy-dropin.conf",
        DropinCtx {
            plan,
            stats_env: paths::STATS_PASSWORD_ENV,
            env_file: paths::HAPROXY_ENV,
        },
    )?;
    let lbs = super::hosts_with(plan, crate::plan::Role::LoadBalancer);
    bundle.insert(
        "haproxy/haproxy.service.d/rmqgen.conf",
        Artifact::file(dropin).installed(root_file(lbs.clone(), paths::HAPROXY_DROPIN, 0o644)),
    );
    let sysctl = render_template(
        "sysctl-load-balancer.conf",
        DropinCtx {
            plan,
            stats_env: paths::STATS_PASSWORD_ENV,
            env_file: paths::HAPROXY_ENV,
        },
    )?;
    bundle.insert(
        "haproxy/sysctl.conf",
        Artifact::file(sysctl).installed(root_file(lbs, paths::LB_SYSCTL, 0o644)),
    );
    Ok(())
}
